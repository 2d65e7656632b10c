#include "mlc_test_util.h"
#include "mlc_alloc.h"
#include "mlc_err.h"
#include "mlc_plaid_error.h"

#include <stdio.h>
#include <string.h>

static enum mlc_plaid_class cls(const char *type, const char *code, int http)
{
    char json[512];
    struct mlc_plaid_error e;
    snprintf(json, sizeof(json), "{\"error_type\":\"%s\",\"error_code\":\"%s\",\"error_message\":"
             "\"m\",\"display_message\":null,\"request_id\":\"req\"}", type, code);
    assert_int_equal(mlc_plaid_error_parse(json, strlen(json), &e), MLC_OK);
    return mlc_plaid_error_classify(&e, http);
}

static void parses_the_documented_error_object(void **state)
{
    (void)state;
    const char *json =
        "{\"display_message\":\"Your bank needs you to log in again.\",\"documentation_url\":"
        "\"https://plaid.com/docs/errors/item/\",\"error_code\":\"ITEM_LOGIN_REQUIRED\","
        "\"error_code_reason\":null,\"error_message\":\"the login details of this item have changed "
        "(credentials, MFA, or required user action) and a user login is required to update this "
        "information. use Link's update mode to restore the item to a good state\",\"error_type\":"
        "\"ITEM_ERROR\",\"request_id\":\"HNTDNrA8F1shFEW\",\"causes\":[],\"status\":400,"
        "\"suggested_action\":null,\"some_future_field\":{\"a\":1}}";
    struct mlc_plaid_error e;
    assert_int_equal(mlc_plaid_error_parse(json, strlen(json), &e), MLC_OK);
    assert_string_equal(e.error_type, "ITEM_ERROR");
    assert_string_equal(e.error_code, "ITEM_LOGIN_REQUIRED");
    assert_string_equal(e.request_id, "HNTDNrA8F1shFEW");
    assert_string_equal(e.display_message, "Your bank needs you to log in again.");
    assert_string_equal(e.error_code_reason, "");
    assert_int_equal(e.status, 400);
    assert_true(strncmp(e.error_message, "the login details", 17) == 0);
    assert_int_equal(mlc_plaid_error_classify(&e, 400), MLC_PLAID_NEEDS_PERSON);
    assert_int_equal(mlc_plaid_class_err(MLC_PLAID_NEEDS_PERSON), MLC_ERR_NEEDS_PERSON);

    /* what the bookkeeper reads: one line, what to do, the code, the request id, the bank's text */
    char line[600];
    size_t n = mlc_plaid_error_describe(&e, 400, line, sizeof(line));
    assert_int_equal(n, strlen(line));
    assert_null(strchr(line, '\n'));
    assert_non_null(strstr(line, "reconnect"));
    assert_non_null(strstr(line, "ITEM_LOGIN_REQUIRED"));
    assert_non_null(strstr(line, "HNTDNrA8F1shFEW"));
    assert_non_null(strstr(line, "Your bank needs you to log in again."));
    /* a tiny buffer is cut, never overrun */
    char tiny[8];
    assert_int_equal(mlc_plaid_error_describe(&e, 400, tiny, sizeof(tiny)), 7);
}

static void classifies_what_the_engine_must_do(void **state)
{
    (void)state;
    /* retry with backoff */
    assert_int_equal(cls("RATE_LIMIT_EXCEEDED", "TRANSACTIONS_SYNC_LIMIT", 429), MLC_PLAID_RETRY);
    assert_int_equal(cls("RATE_LIMIT_EXCEEDED", "RATE_LIMIT", 429), MLC_PLAID_RETRY);
    assert_int_equal(cls("API_ERROR", "INTERNAL_SERVER_ERROR", 500), MLC_PLAID_RETRY);
    assert_int_equal(cls("API_ERROR", "PLANNED_MAINTENANCE", 503), MLC_PLAID_RETRY);
    assert_int_equal(cls("INSTITUTION_ERROR", "INSTITUTION_DOWN", 400), MLC_PLAID_RETRY);
    assert_int_equal(cls("ITEM_ERROR", "PRODUCT_NOT_READY", 400), MLC_PLAID_RETRY);
    /* a person must act */
    assert_int_equal(cls("ITEM_ERROR", "ITEM_LOGIN_REQUIRED", 400), MLC_PLAID_NEEDS_PERSON);
    assert_int_equal(cls("ITEM_ERROR", "ITEM_LOCKED", 400), MLC_PLAID_NEEDS_PERSON);
    assert_int_equal(cls("ITEM_ERROR", "SOME_NEW_ITEM_CODE", 400), MLC_PLAID_NEEDS_PERSON);
    assert_int_equal(cls("INVALID_INPUT", "INVALID_API_KEYS", 400), MLC_PLAID_NEEDS_PERSON);
    assert_int_equal(cls("INVALID_INPUT", "INVALID_ACCESS_TOKEN", 400), MLC_PLAID_NEEDS_PERSON);
    assert_int_equal(cls("INVALID_INPUT", "UNAUTHORIZED_ENVIRONMENT", 400), MLC_PLAID_NEEDS_PERSON);
    assert_int_equal(cls("OAUTH_ERROR", "OAUTH_STATE_ID_NOT_FOUND", 400), MLC_PLAID_NEEDS_PERSON);
    assert_int_equal(cls("ITEM_ERROR", "USER_PERMISSION_REVOKED", 400), MLC_PLAID_NEEDS_PERSON);
    assert_int_equal(cls("RATE_LIMIT_EXCEEDED", "CREDITS_EXHAUSTED", 429), MLC_PLAID_NEEDS_PERSON);
    /* the sync mutation error, and only it, restarts pagination */
    assert_int_equal(cls("TRANSACTIONS_ERROR", "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION", 400),
                     MLC_PLAID_RESTART_PAGINATION);
    assert_int_equal(mlc_plaid_class_err(MLC_PLAID_RESTART_PAGINATION), MLC_ERR_RETRY);
    /* our bug */
    assert_int_equal(cls("INVALID_REQUEST", "INVALID_FIELD", 400), MLC_PLAID_BUG);
    assert_int_equal(cls("INVALID_REQUEST", "MISSING_FIELDS", 400), MLC_PLAID_BUG);
    assert_int_equal(cls("TRANSACTIONS_ERROR", "SOMETHING_ELSE", 400), MLC_PLAID_BUG);
    assert_int_equal(mlc_plaid_class_err(MLC_PLAID_BUG), MLC_ERR_INTERNAL);
    /* an unknown type from a 5xx is still Plaid's side */
    assert_int_equal(cls("BRAND_NEW_ERROR", "BRAND_NEW_CODE", 502), MLC_PLAID_RETRY);
    /* OAuth consent reasons on any code need a person */
    const char *oauth = "{\"error_type\":\"INVALID_INPUT\",\"error_code\":\"X\",\"error_message\":\"\","
                        "\"display_message\":null,\"error_code_reason\":\"OAUTH_CONSENT_EXPIRED\"}";
    struct mlc_plaid_error e;
    assert_int_equal(mlc_plaid_error_parse(oauth, strlen(oauth), &e), MLC_OK);
    assert_int_equal(mlc_plaid_error_classify(&e, 400), MLC_PLAID_NEEDS_PERSON);
    /* no error body at all: decided by the transport */
    assert_int_equal(mlc_plaid_error_classify(NULL, 0), MLC_PLAID_RETRY);   /* network */
    assert_int_equal(mlc_plaid_error_classify(NULL, 429), MLC_PLAID_RETRY);
    assert_int_equal(mlc_plaid_error_classify(NULL, 503), MLC_PLAID_RETRY);
    assert_int_equal(mlc_plaid_error_classify(NULL, 401), MLC_PLAID_NEEDS_PERSON);
    assert_int_equal(mlc_plaid_error_classify(NULL, 400), MLC_PLAID_BUG);
    char line[300];
    assert_true(mlc_plaid_error_describe(NULL, 0, line, sizeof(line)) > 0);
    assert_non_null(strstr(line, "network"));
    assert_string_equal(mlc_plaid_class_name(MLC_PLAID_RESTART_PAGINATION), "restart_pagination");
}

static void bounded_and_strict_on_codes(void **state)
{
    (void)state;
    struct mlc_plaid_error e;
    static const char *const bad[] = {
        "", "[]", "{}", "{\"error_type\":\"ITEM_ERROR\"}", "{\"error_code\":\"X\"}",
        "{\"error_type\":1,\"error_code\":\"X\"}", "{\"error_type\":\"A\",\"error_code\":null}",
        "{\"error_type\":\"A\",\"error_code\":\"B\",\"display_message\":5}", "{\"error_type\":",
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        if (mlc_plaid_error_parse(bad[k], strlen(bad[k]), &e) != MLC_ERR_DATA)
            fail_msg("accepted %s", bad[k]);
        assert_string_equal(e.error_code, "");
    }
    /* a code too long to hold is refused (a cut code could match another one) */
    char json[2048], code[200];
    memset(code, 'C', sizeof(code) - 1);
    code[sizeof(code) - 1] = '\0';
    snprintf(json, sizeof(json), "{\"error_type\":\"ITEM_ERROR\",\"error_code\":\"%s\"}", code);
    assert_int_equal(mlc_plaid_error_parse(json, strlen(json), &e), MLC_ERR_DATA);
    /* a long display message is cut at a character boundary, invalid UTF-8 repaired */
    char msg[2000];
    size_t o = 0;
    for (int k = 0; k < 400; k++) {
        memcpy(msg + o, "\xE2\x82\xAC", 3); /* euro sign */
        o += 3;
    }
    msg[o] = '\0';
    snprintf(json, sizeof(json), "{\"error_type\":\"A\",\"error_code\":\"B\",\"display_message\":\"%.1200s\","
             "\"error_message\":\"bad \\u00ff\xFF\"}", msg);
    assert_int_equal(mlc_plaid_error_parse(json, strlen(json), &e), MLC_OK);
    assert_int_equal(strlen(e.display_message), 510); /* 170 whole euro signs */
    assert_string_equal(e.error_message, "bad \xC3\xBF\xEF\xBF\xBD");
    assert_int_equal(mlc_plaid_error_parse("{}", MLC_PLAID_ERR_BODY_MAX + 1, &e), MLC_ERR_TOO_BIG);
}

static void leaks_nothing_when_memory_runs_out(void **state)
{
    (void)state;
    assert_int_equal(mlc_alloc_install_hooks(), MLC_OK);
    const char *json = "{\"error_type\":\"API_ERROR\",\"error_code\":\"INTERNAL_SERVER_ERROR\","
                       "\"error_message\":\"an unexpected error occurred\",\"display_message\":null,"
                       "\"request_id\":\"abc\"}";
    size_t base = mlc_alloc_current();
    struct mlc_plaid_error e;
    for (long k = 1; k < 20; k++) {
        mlc_alloc_fail_after(k);
        int rc = mlc_plaid_error_parse(json, strlen(json), &e);
        assert_true(rc == MLC_OK || rc == MLC_ERR_DATA);
        assert_int_equal(mlc_alloc_current(), base);
    }
    mlc_alloc_fail_after(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_the_documented_error_object),
        cmocka_unit_test(classifies_what_the_engine_must_do),
        cmocka_unit_test(bounded_and_strict_on_codes),
        cmocka_unit_test(leaks_nothing_when_memory_runs_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
