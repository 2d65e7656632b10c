#include "mlc_test_util.h"
#include "mlc_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *capture(void (*emit)(void))
{
    char path[600];
    snprintf(path, sizeof(path), "%s/log.txt", mlc_test_tmpdir("log"));
    FILE *f = fopen(path, "w+");
    assert_non_null(f);
    mlc_log_set_sink(f);
    emit();
    mlc_log_set_sink(NULL);
    fclose(f);
    char *text = mlc_test_slurp(path, NULL);
    assert_non_null(text);
    return text;
}

static void emit_secrets(void)
{
    mlc_log_secret_add("sk-plaid-0123456789abcdef");
    MLC_LOG_INF("http", "request url=%s", "https://x/cb?state=abc&code=XyZ%21secretcode&y=1");
    MLC_LOG_INF("http", "header %s", "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig");
    MLC_LOG_INF("plaid", "body=%s", "{\"client_id\":\"cid\",\"secret\":\"sk-plaid-0123456789abcdef\"}");
    MLC_LOG_INF("exact", "answer=%s", "{\"access_token\":\"AAA111\",\"refresh_token\":\"RRR222\"}");
    MLC_LOG_INF("exact", "form=%s", "grant_type=refresh_token&refresh_token=RT-999&client_secret=CS-42");
    MLC_LOG_INF("vault", "value was %s in text", "sk-plaid-0123456789abcdef");
    MLC_LOG_INF("exact", "form=%s", "code=AuthCodeXYZ&grant_type=authorization_code");
    MLC_LOG_INF("plaid", "item_error code=%s", "ITEM_LOGIN_REQUIRED");
    MLC_LOG_DBG("x", "debug line not shown at info");
}

static void no_secret_reaches_the_log(void **state)
{
    (void)state;
    mlc_log_set_level(MLC_LOG_INFO);
    char *text = capture(emit_secrets);
    const char *forbidden[] = { "XyZ", "secretcode", "eyJhbGci", "payload.sig", "sk-plaid",
                                "AAA111", "RRR222", "RT-999", "CS-42", "AuthCodeXYZ" };
    for (size_t i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++) {
        if (strstr(text, forbidden[i]))
            fail_msg("secret '%s' leaked into: %s", forbidden[i], text);
    }
    assert_non_null(strstr(text, "grant_type=refresh_token"));
    assert_non_null(strstr(text, "state=abc"));
    assert_non_null(strstr(text, "code=ITEM_LOGIN_REQUIRED"));
    assert_non_null(strstr(text, "Bearer [REDACTED]"));
    assert_null(strstr(text, "debug line"));
    assert_non_null(strstr(text, "level=info mod=http"));
    free(text);
    mlc_log_secret_clear();
}

static void emit_multiline(void)
{
    MLC_LOG_WRN("t", "line one\nline two");
}

static void one_event_one_line(void **state)
{
    (void)state;
    char *text = capture(emit_multiline);
    assert_int_equal(strchr(text, '\n') - text, (long)strlen(text) - 1);
    free(text);
}

static void level_names_parse(void **state)
{
    (void)state;
    assert_int_equal(mlc_log_level_parse("debug"), MLC_LOG_DEBUG);
    assert_int_equal(mlc_log_level_parse("error"), MLC_LOG_ERROR);
    assert_int_equal(mlc_log_level_parse("loud"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_secret_reaches_the_log),
        cmocka_unit_test(one_event_one_line),
        cmocka_unit_test(level_names_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
