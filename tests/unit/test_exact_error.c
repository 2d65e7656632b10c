#include "mlc_test_util.h"
#include "mlc_alloc.h"
#include "mlc_err.h"
#include "mlc_exact_error.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static const char FUNCTIONAL_500[] =
    "{\"error\":{\"code\":\"\",\"message\":{\"lang\":\"\",\"value\":\"Error 500: The financial year cannot be changed.\"}}}";

/* The bookkeeper sees Exact's own words from error.message.value. */
static void message_value_is_extracted(void **state)
{
    (void)state;
    char msg[256];
    assert_int_equal(mlc_exact_error_parse(FUNCTIONAL_500, strlen(FUNCTIONAL_500), msg, sizeof(msg)), MLC_OK);
    assert_string_equal(msg, "Error 500: The financial year cannot be changed.");
    const char *plain = "{\"error\":{\"code\":\"x\",\"message\":\"Ongeldig: Dagboek\"}}";
    assert_int_equal(mlc_exact_error_parse(plain, strlen(plain), msg, sizeof(msg)), MLC_OK);
    assert_string_equal(msg, "Ongeldig: Dagboek");
    const char *none[] = { "", "<html>Service Unavailable</html>", "{\"error\":{}}",
                           "{\"error\":{\"message\":{\"value\":5}}}", "{\"error\":{\"message\":{\"value\":\"  \"}}}",
                           "{\"d\":{}}" };
    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++)
        assert_int_equal(mlc_exact_error_parse(none[i], strlen(none[i]), msg, sizeof(msg)), MLC_ERR_DATA);
}

/* Exact's text is outside input: shown as one clean line, never with terminal controls. */
static void messages_are_sanitised_for_display(void **state)
{
    (void)state;
    char out[64];
    const char in1[] = "Line one\r\nline\ttwo\x1b[31m red \xe2\x80\xae evil";
    mlc_exact_error_sanitize(in1, strlen(in1), out, sizeof(out));
    assert_string_equal(out, "Line one line two [31m red evil");
    /* valid UTF-8 is kept, invalid bytes and overlongs become '?' */
    const char in2[] = "Grootboekrekening \xc3\xa9 \xff \xc0\xaf \xed\xa0\x80 ok";
    mlc_exact_error_sanitize(in2, strlen(in2), out, sizeof(out));
    assert_string_equal(out, "Grootboekrekening \xc3\xa9 ? ?? ??? ok");
    /* a long text is cut on a character boundary and marked */
    char longin[200];
    memset(longin, 'a', sizeof(longin));
    memcpy(longin + 58, "\xe2\x82\xac\xe2\x82\xac", 6); /* two euro signs across the cut */
    size_t n = mlc_exact_error_sanitize(longin, sizeof(longin), out, 64);
    assert_true(n <= 63);
    assert_int_equal(n, strlen(out));
    assert_string_equal(out + n - 3, "...");
    assert_int_equal(memcmp(out, "aaaaaaaaaa", 10), 0);
    /* the byte before "..." ends a whole character */
    unsigned char last = (unsigned char)out[n - 4];
    assert_true(last == 'a' || last == 0xAC);
    char tiny[1];
    assert_int_equal(mlc_exact_error_sanitize("abc", 3, tiny, 1), 0);
    assert_string_equal(tiny, "");
}

struct case_ {
    int status;
    const char *reason;
    const char *body;
    enum mlc_exact_class cls;
    int counts;
};

/* One classification at the boundary decides retry, wait, refresh, person or bug. */
static void statuses_are_classified(void **state)
{
    (void)state;
    const struct case_ cases[] = {
        { 200, NULL, "{\"d\":{}}", MLC_EXACT_OK, 0 },
        { 201, NULL, NULL, MLC_EXACT_OK, 0 },
        { 0, NULL, NULL, MLC_EXACT_RETRY, 0 },
        { 500, NULL, FUNCTIONAL_500, MLC_EXACT_FUNCTIONAL, 0 },
        { 500, NULL, "<html>Runtime Error</html>", MLC_EXACT_RETRY, 0 },
        { 500, NULL, "", MLC_EXACT_RETRY, 0 },
        { 502, NULL, FUNCTIONAL_500, MLC_EXACT_RETRY, 0 },
        { 503, NULL, NULL, MLC_EXACT_RETRY, 0 },
        { 504, NULL, NULL, MLC_EXACT_RETRY, 0 },
        { 408, NULL, NULL, MLC_EXACT_RETRY, 0 },
        { 429, NULL, NULL, MLC_EXACT_RATE_LIMITED, 0 },
        { 401, NULL, NULL, MLC_EXACT_AUTH, 1 },
        { 403, "BlockedUser", NULL, MLC_EXACT_NEEDS_PERSON, 1 },
        { 403, "DivisionBlocked", NULL, MLC_EXACT_NEEDS_PERSON, 1 },
        { 403, "NoDivisionAccess", NULL, MLC_EXACT_NEEDS_PERSON, 1 },
        { 403, NULL, NULL, MLC_EXACT_NEEDS_PERSON, 1 },
        { 400, NULL, "{\"error\":{\"message\":{\"value\":\"Please add a $select or a $top=1 statement to the query string.\"}}}", MLC_EXACT_BUG, 1 },
        { 404, NULL, NULL, MLC_EXACT_BUG, 1 },
        { 405, NULL, NULL, MLC_EXACT_BUG, 0 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct mlc_exact_failure f;
        const char *b = cases[i].body;
        enum mlc_exact_class c = mlc_exact_error_classify(cases[i].status, cases[i].reason, b,
                                                          b ? strlen(b) : 0, &f);
        if (c != cases[i].cls)
            fail_msg("case %zu: status %d classified %s", i, cases[i].status, mlc_exact_class_name(c));
        assert_int_equal(f.cls, c);
        assert_int_equal(f.counts_as_error, cases[i].counts);
        assert_int_equal(f.http_status, cases[i].status);
        if (c != MLC_EXACT_OK) {
            assert_true(strlen(f.message) > 20);
            assert_null(strchr(f.message, '\n'));
        }
    }
    assert_int_equal(mlc_exact_class_err(MLC_EXACT_FUNCTIONAL), MLC_ERR_NEEDS_PERSON);
    assert_int_equal(mlc_exact_class_err(MLC_EXACT_RATE_LIMITED), MLC_ERR_RETRY);
    assert_int_equal(mlc_exact_class_err(MLC_EXACT_RETRY), MLC_ERR_RETRY);
    assert_int_equal(mlc_exact_class_err(MLC_EXACT_AUTH), MLC_ERR_AUTH);
    assert_int_equal(mlc_exact_class_err(MLC_EXACT_BUG), MLC_ERR_INTERNAL);
    assert_int_equal(mlc_exact_class_err(MLC_EXACT_OK), MLC_OK);
}

/* The messages tell the reader what happened and what to do, with Exact's reason. */
static void messages_say_what_and_what_to_do(void **state)
{
    (void)state;
    struct mlc_exact_failure f;
    mlc_exact_error_classify(500, NULL, FUNCTIONAL_500, strlen(FUNCTIONAL_500), &f);
    assert_non_null(strstr(f.message, "The financial year cannot be changed."));
    assert_non_null(strstr(f.message, "not be retried"));
    mlc_exact_error_classify(403, "Blocked\r\nUser: x", NULL, 0, &f);
    assert_string_equal(f.reason, "BlockedUserx"); /* letters only from the header */
    mlc_exact_error_classify(403, "BlockedUser", NULL, 0, &f);
    assert_string_equal(f.reason, "BlockedUser");
    assert_non_null(strstr(f.message, "user is blocked"));
    assert_non_null(strstr(f.message, "(Reason: BlockedUser)"));
    assert_non_null(strstr(f.message, "administrator"));
    mlc_exact_error_classify(503, NULL, NULL, 0, &f);
    assert_non_null(strstr(f.message, "HTTP 503"));
    assert_non_null(strstr(f.message, "try again later"));
    /* a hostile 500 text cannot break the log line or overflow */
    char big[5000];
    memset(big, 'x', sizeof(big));
    static const char head[] = "{\"error\":{\"message\":{\"value\":\"\\n\\u001b";
    memcpy(big, head, sizeof(head) - 1);
    memcpy(big + sizeof(big) - 5, "\"}}}", 4);
    big[sizeof(big) - 1] = ' ';
    mlc_exact_error_classify(500, NULL, big, sizeof(big), &f);
    assert_int_equal(f.cls, MLC_EXACT_FUNCTIONAL);
    assert_true(strlen(f.message) < sizeof(f.message));
    assert_null(strchr(f.message, '\n'));
    assert_null(strchr(f.message, 0x1b));
}

static void no_leak_on_any_body(void **state)
{
    (void)state;
    size_t base = mlc_alloc_current();
    struct mlc_exact_failure f;
    for (long n = 1; n < 40; n++) {
        mlc_alloc_fail_after(n);
        mlc_exact_error_classify(500, NULL, FUNCTIONAL_500, strlen(FUNCTIONAL_500), &f);
        mlc_alloc_fail_after(0);
        /* without memory the body cannot be read: a transient failure, never a functional one */
        assert_true(f.cls == MLC_EXACT_FUNCTIONAL || f.cls == MLC_EXACT_RETRY);
        assert_int_equal(mlc_alloc_current(), base);
    }
}

int main(void)
{
    cJSON_Hooks hooks = { .malloc_fn = mlc_malloc, .free_fn = mlc_free };
    cJSON_InitHooks(&hooks);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(message_value_is_extracted),
        cmocka_unit_test(messages_are_sanitised_for_display),
        cmocka_unit_test(statuses_are_classified),
        cmocka_unit_test(messages_say_what_and_what_to_do),
        cmocka_unit_test(no_leak_on_any_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
