#include "mlc_test_util.h"
#include "mlc_alloc.h"
#include "mlc_err.h"
#include "mlc_exact_token.h"
#include "mlc_log.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1700000000000LL
#define S 1000LL
#define DAY (86400LL * S)

static const char PAIR[] = "{\"access_token\":\"gAAAAEXACTaccess.tok-123\",\"token_type\":\"bearer\","
                           "\"expires_in\":\"600\",\"refresh_token\":\"Gh7!refresh*tok\"}";

static int parse(int st, const char *body, struct mlc_token_answer *a)
{
    return mlc_exact_token_parse(st, body, body ? strlen(body) : 0, a);
}

/* The answer of a refresh gives both tokens; expires_in is a string ("600"). */
static void new_pair_is_read_and_redacted(void **state)
{
    (void)state;
    struct mlc_token_answer a;
    assert_int_equal(parse(200, PAIR, &a), MLC_OK);
    assert_int_equal(a.outcome, MLC_TOKEN_NEW_PAIR);
    assert_string_equal(a.access_token, "gAAAAEXACTaccess.tok-123");
    assert_string_equal(a.refresh_token, "Gh7!refresh*tok");
    assert_int_equal(a.expires_in_s, 600);
    assert_false(a.expires_defaulted);
    /* both are now masked in any log line */
    char line[128];
    snprintf(line, sizeof(line), "got gAAAAEXACTaccess.tok-123 and Gh7!refresh*tok");
    mlc_log_redact(line, sizeof(line));
    assert_null(strstr(line, "EXACTaccess"));
    assert_null(strstr(line, "refresh*tok"));
    mlc_token_answer_free(&a);
    assert_null(a.access_token);
    mlc_token_answer_free(&a);

    const char *num = "{\"access_token\":\"a1\",\"expires_in\":300,\"refresh_token\":\"r1\"}";
    assert_int_equal(parse(200, num, &a), MLC_OK);
    assert_int_equal(a.expires_in_s, 300);
    mlc_token_answer_free(&a);
    /* the pair is already live at Exact: a bad lifetime must not lose it */
    const char *bad_exp[] = { "{\"access_token\":\"a1\",\"refresh_token\":\"r1\"}",
                              "{\"access_token\":\"a1\",\"expires_in\":\"6OO\",\"refresh_token\":\"r1\"}",
                              "{\"access_token\":\"a1\",\"expires_in\":\"0\",\"refresh_token\":\"r1\"}",
                              "{\"access_token\":\"a1\",\"expires_in\":-5,\"refresh_token\":\"r1\"}" };
    for (size_t i = 0; i < sizeof(bad_exp) / sizeof(bad_exp[0]); i++) {
        assert_int_equal(parse(200, bad_exp[i], &a), MLC_OK);
        assert_int_equal(a.expires_in_s, 600);
        assert_true(a.expires_defaulted);
        mlc_token_answer_free(&a);
    }
    mlc_log_secret_clear();
}

/* Tokens go into headers: bounded, visible ASCII, both present. */
static void unusable_pairs_are_refused(void **state)
{
    (void)state;
    struct mlc_token_answer a;
    char *big = malloc(MLC_TOKEN_MAX + 200);
    assert_non_null(big);
    int n = snprintf(big, MLC_TOKEN_MAX + 200, "{\"access_token\":\"");
    memset(big + n, 'A', MLC_TOKEN_MAX + 1);
    strcpy(big + n + MLC_TOKEN_MAX + 1, "\",\"refresh_token\":\"r\"}");
    const char *bad[] = {
        big,
        "{\"access_token\":\"a b\",\"refresh_token\":\"r\"}",
        "{\"access_token\":\"a\\r\\nX-Evil: 1\",\"refresh_token\":\"r\"}",
        "{\"access_token\":\"\",\"refresh_token\":\"r\"}",
        "{\"access_token\":7,\"refresh_token\":\"r\"}",
        "{\"access_token\":\"a\",\"token_type\":\"mac\",\"refresh_token\":\"r\"}",
        "{\"access_token\":\"a\"}",
        "{\"access_token\":\"a\",\"refresh_token\":\"r\\u0000x\"}",
        "<html>ok</html>", "", "[]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse(200, bad[i], &a), MLC_ERR_DATA);
        assert_int_equal(a.outcome, MLC_TOKEN_BAD_ANSWER);
        assert_null(a.access_token);
        assert_true(strlen(a.message) > 10);
        mlc_token_answer_free(&a);
    }
    /* exactly MLC_TOKEN_MAX is fine */
    memset(big + n, 'A', MLC_TOKEN_MAX);
    strcpy(big + n + MLC_TOKEN_MAX, "\",\"refresh_token\":\"r\"}");
    assert_int_equal(parse(200, big, &a), MLC_OK);
    assert_int_equal(strlen(a.access_token), MLC_TOKEN_MAX);
    mlc_token_answer_free(&a);
    /* a usable refresh token in a broken answer is still handed back: the old one is spent */
    assert_int_equal(parse(200, "{\"access_token\":\"a b\",\"refresh_token\":\"newR\"}", &a), MLC_ERR_DATA);
    assert_string_equal(a.refresh_token, "newR");
    mlc_token_answer_free(&a);
    free(big);
    mlc_log_secret_clear();
}

struct err_case {
    int status;
    const char *body;
    enum mlc_token_outcome outcome;
    int rc;
};

/* A dead refresh token stops the connection for a person; an early refresh keeps the current
 * token; only transient failures are retried. */
static void oauth_errors_are_classified(void **state)
{
    (void)state;
    const struct err_case cases[] = {
        { 401, "{\"error\":\"unauthorized_client\",\"error_description\":\"Old refresh token used.\"}",
          MLC_TOKEN_NEEDS_CONSENT, MLC_ERR_NEEDS_PERSON },
        { 400, "{\"error\":\"invalid_grant\",\"error_description\":\"Token is not allowed, because of invalid or empty chainId\"}",
          MLC_TOKEN_NEEDS_CONSENT, MLC_ERR_NEEDS_PERSON },
        { 400, "{\"error\":\"invalid_request\",\"error_description\":\"The refresh token expired at 10/11/2022 9:18:20 PM and it is now 10/28/2022 4:15:50 PM.\"}",
          MLC_TOKEN_NEEDS_CONSENT, MLC_ERR_NEEDS_PERSON },
        { 400, "{\"error\":\"invalid_request\",\"error_description\":\"Refresh token has been revoked\"}",
          MLC_TOKEN_NEEDS_CONSENT, MLC_ERR_NEEDS_PERSON },
        { 400, "{\"error\":\"invalid_request\",\"error_description\":\"Rate limit exceeded: access_token not expired\"}",
          MLC_TOKEN_KEEP_CURRENT, MLC_ERR_RETRY },
        { 401, "{\"error\":\"invalid_client\",\"error_description\":\"Client authentication failed\"}",
          MLC_TOKEN_BAD_CLIENT, MLC_ERR_CONFIG },
        { 400, "{\"error\":\"something_new\"}", MLC_TOKEN_NEEDS_CONSENT, MLC_ERR_NEEDS_PERSON },
        { 401, "", MLC_TOKEN_NEEDS_CONSENT, MLC_ERR_NEEDS_PERSON },
        { 500, "{\"error\":\"invalid_grant\"}", MLC_TOKEN_RETRY, MLC_ERR_RETRY },
        { 503, "<html>down</html>", MLC_TOKEN_RETRY, MLC_ERR_RETRY },
        { 429, NULL, MLC_TOKEN_RETRY, MLC_ERR_RETRY },
        { 0, NULL, MLC_TOKEN_RETRY, MLC_ERR_RETRY },
        { 200, "{\"error\":\"invalid_request\",\"error_description\":\"access_token not expired\"}",
          MLC_TOKEN_KEEP_CURRENT, MLC_ERR_RETRY },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct mlc_token_answer a;
        int rc = parse(cases[i].status, cases[i].body, &a);
        if (rc != cases[i].rc || a.outcome != cases[i].outcome)
            fail_msg("case %zu: rc %d outcome %d", i, rc, (int)a.outcome);
        assert_null(a.access_token);
        assert_null(a.refresh_token);
        assert_true(strlen(a.message) > 10);
        assert_null(strchr(a.message, '\n'));
        mlc_token_answer_free(&a);
    }
    struct mlc_token_answer a;
    parse(401, "{\"error\":\"unauthorized_client\",\"error_description\":\"Old refresh token used.\"}", &a);
    assert_non_null(strstr(a.message, "Old refresh token used."));
    assert_non_null(strstr(a.message, "again"));
}

static struct mlc_token_times fresh(int64_t at, int64_t expires_s)
{
    struct mlc_token_times t;
    memset(&t, 0, sizeof(t));
    mlc_exact_token_times_refreshed(&t, at, expires_s);
    return t;
}

/* Refresh in the last 30 s of the token, and never earlier than 570 s after issue. */
static void refresh_only_in_the_last_30s(void **state)
{
    (void)state;
    struct mlc_token_times t = fresh(T0, 600);
    assert_int_equal(mlc_exact_token_decide(&t, T0 + 1 * S, 0).action, MLC_TOKEN_USE_CURRENT);
    assert_int_equal(mlc_exact_token_decide(&t, T0 + 570 * S - 1, 0).action, MLC_TOKEN_USE_CURRENT);
    assert_int_equal(mlc_exact_token_decide(&t, T0 + 570 * S, 0).action, MLC_TOKEN_REFRESH_NOW);
    assert_int_equal(mlc_exact_token_decide(&t, T0 + 600 * S, 0).action, MLC_TOKEN_REFRESH_NOW);
    assert_int_equal(mlc_exact_token_decide(&t, T0 + 3 * DAY, 0).action, MLC_TOKEN_REFRESH_NOW);

    /* whatever lifetime Exact hands out, no refresh happens before 570 s */
    for (int64_t exp = 1; exp <= 700; exp += 7) {
        struct mlc_token_times u = fresh(T0, exp);
        for (int64_t now = T0; now < T0 + 570 * S; now += 500) {
            struct mlc_token_decision d = mlc_exact_token_decide(&u, now, 0);
            assert_int_not_equal(d.action, MLC_TOKEN_REFRESH_NOW);
            if (d.action == MLC_TOKEN_WAIT_UNTIL)
                assert_true(d.until_ms == T0 + 570 * S && now >= u.expires_ms);
            else
                assert_true(now < u.expires_ms); /* never use an expired token */
        }
        int64_t due = exp - 30 > 570 ? exp - 30 : 570;
        assert_int_equal(mlc_exact_token_decide(&u, T0 + due * S - 1, 0).action, due == 570 && exp <= 570 ?
                         MLC_TOKEN_WAIT_UNTIL : MLC_TOKEN_USE_CURRENT);
        assert_int_equal(mlc_exact_token_decide(&u, T0 + due * S, 0).action, MLC_TOKEN_REFRESH_NOW);
    }
}

static void restart_and_clock_cases(void **state)
{
    (void)state;
    /* after a restart only the issue time is known: wait for 570 s, then refresh */
    struct mlc_token_times t = fresh(T0, 600);
    t.have_access = 0;
    struct mlc_token_decision d = mlc_exact_token_decide(&t, T0 + 100 * S, 0);
    assert_int_equal(d.action, MLC_TOKEN_WAIT_UNTIL);
    assert_true(d.until_ms == T0 + 570 * S);
    assert_int_equal(mlc_exact_token_decide(&t, T0 + 571 * S, 0).action, MLC_TOKEN_REFRESH_NOW);
    /* never had a token: refresh at once */
    struct mlc_token_times n;
    memset(&n, 0, sizeof(n));
    n.have_refresh = 1;
    assert_int_equal(mlc_exact_token_decide(&n, T0, 0).action, MLC_TOKEN_REFRESH_NOW);
    /* no refresh token, or refused for good: a person must consent */
    n.have_refresh = 0;
    assert_int_equal(mlc_exact_token_decide(&n, T0, 0).action, MLC_TOKEN_CONSENT);
    t.consent_needed = 1;
    assert_int_equal(mlc_exact_token_decide(&t, T0 + DAY, 0).action, MLC_TOKEN_CONSENT);
    assert_int_equal(mlc_exact_token_decide_idle(&t, T0 + DAY, 0).action, MLC_TOKEN_CONSENT);
    assert_int_equal(mlc_exact_token_after_401(&t, T0 + DAY, 0).action, MLC_TOKEN_CONSENT);
    /* the clock stepped back a day: wait at most 570 s, not a whole day */
    t = fresh(T0 + DAY, 600);
    t.have_access = 0;
    d = mlc_exact_token_decide(&t, T0, 0);
    assert_int_equal(d.action, MLC_TOKEN_WAIT_UNTIL);
    assert_true(d.until_ms == T0 + 570 * S);
}

/* Idle for weeks: refresh every 20 days so the 30-day refresh token never lapses. */
static void keepalive_refreshes_an_idle_connection(void **state)
{
    (void)state;
    struct mlc_token_times t = fresh(T0, 600);
    struct mlc_token_decision d = mlc_exact_token_decide_idle(&t, T0 + 19 * DAY, 0);
    assert_int_equal(d.action, MLC_TOKEN_USE_CURRENT);
    assert_true(d.until_ms == T0 + 20 * DAY);
    assert_int_equal(mlc_exact_token_decide_idle(&t, T0 + 20 * DAY, 0).action, MLC_TOKEN_REFRESH_NOW);
    assert_int_equal(mlc_exact_token_decide_idle(&t, T0 + 2 * DAY, 2 * DAY).action, MLC_TOKEN_REFRESH_NOW);
    /* even the keep-alive respects 570 s */
    d = mlc_exact_token_decide_idle(&t, T0 + 10 * S, 5 * S);
    assert_int_equal(d.action, MLC_TOKEN_USE_CURRENT);
    assert_true(d.until_ms == T0 + 570 * S);
    /* an access token that lives long still gets a keep-alive refresh once 570 s allow */
    t = fresh(T0, 86400);
    t.last_refresh_ms = T0 - 21 * DAY;
    assert_int_equal(mlc_exact_token_decide(&t, T0 + 100 * S, 0).action, MLC_TOKEN_USE_CURRENT);
    assert_int_equal(mlc_exact_token_decide(&t, T0 + 570 * S, 0).action, MLC_TOKEN_REFRESH_NOW);
}

/* After an unexpected 401: one refresh if 570 s have passed, else wait; never a second one. */
static void unexpected_401_refreshes_at_most_once(void **state)
{
    (void)state;
    struct mlc_token_times t = fresh(T0, 600);
    struct mlc_token_decision d = mlc_exact_token_after_401(&t, T0 + 100 * S, 0);
    assert_int_equal(d.action, MLC_TOKEN_WAIT_UNTIL);
    assert_true(d.until_ms == T0 + 570 * S);
    assert_int_equal(mlc_exact_token_after_401(&t, T0 + 575 * S, 0).action, MLC_TOKEN_REFRESH_NOW);
    mlc_exact_token_times_refreshed(&t, T0 + 576 * S, 600);
    d = mlc_exact_token_after_401(&t, T0 + 577 * S, 1);
    assert_int_equal(d.action, MLC_TOKEN_WAIT_UNTIL);
    assert_true(d.until_ms == T0 + (576 + 570) * S);
}

/* Five calls need a token at once: exactly one refresh reaches Exact, the rest reuse its pair. */
static void concurrent_needs_share_one_refresh(void **state)
{
    (void)state;
    struct mlc_token_times t = fresh(T0, 600);
    struct mlc_token_flight fl = { 0 };
    int64_t now = T0 + 580 * S;
    int leaders = 0, followers = 0;
    for (int caller = 0; caller < 5; caller++) {
        assert_int_equal(mlc_exact_token_decide(&t, now, 0).action, MLC_TOKEN_REFRESH_NOW);
        if (mlc_token_flight_begin(&fl))
            leaders++;
        else
            followers++;
    }
    assert_int_equal(leaders, 1);
    assert_int_equal(followers, 4);
    assert_int_equal(fl.waiters, 4);
    unsigned long gen = fl.generation;
    mlc_exact_token_times_refreshed(&t, now + 300, 600); /* the leader's refresh */
    assert_int_equal(mlc_token_flight_end(&fl), 4);
    assert_true(fl.generation == gen + 1);
    assert_false(fl.in_flight);
    for (int caller = 0; caller < 4; caller++)
        assert_int_equal(mlc_exact_token_decide(&t, now + 301, 0).action, MLC_TOKEN_USE_CURRENT);
    /* a later refresh gets a new leader */
    assert_int_equal(mlc_token_flight_begin(&fl), 1);
    assert_int_equal(mlc_token_flight_end(&fl), 0);
}

/* An hour of calls every 7 s: every call has a valid token, refreshes are >= 570 s apart. */
static void an_hour_of_calls_stays_within_exacts_rules(void **state)
{
    (void)state;
    struct mlc_token_times t = fresh(T0, 600);
    int refreshes = 0;
    int64_t last = T0;
    for (int64_t now = T0; now < T0 + 3600 * S; now += 7 * S) {
        struct mlc_token_decision d = mlc_exact_token_decide(&t, now, 0);
        assert_int_not_equal(d.action, MLC_TOKEN_WAIT_UNTIL);
        if (d.action == MLC_TOKEN_REFRESH_NOW) {
            assert_true(now - last >= 570 * S);
            last = now;
            refreshes++;
            mlc_exact_token_times_refreshed(&t, now, 600);
        }
        assert_true(now < t.expires_ms);
    }
    assert_int_equal(refreshes, 6);
}

static void parse_leaves_no_memory_behind(void **state)
{
    (void)state;
    size_t base = mlc_alloc_current();
    for (long n = 1; n < 40; n++) {
        struct mlc_token_answer a;
        mlc_alloc_fail_after(n);
        int rc = parse(200, PAIR, &a);
        mlc_alloc_fail_after(0);
        assert_true(rc == MLC_OK || rc == MLC_ERR_DATA || rc == MLC_ERR_NOMEM);
        mlc_token_answer_free(&a);
        mlc_log_secret_clear();
        assert_int_equal(mlc_alloc_current(), base);
    }
}

int main(void)
{
    cJSON_Hooks hooks = { .malloc_fn = mlc_malloc, .free_fn = mlc_free };
    cJSON_InitHooks(&hooks);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(new_pair_is_read_and_redacted),
        cmocka_unit_test(unusable_pairs_are_refused),
        cmocka_unit_test(oauth_errors_are_classified),
        cmocka_unit_test(refresh_only_in_the_last_30s),
        cmocka_unit_test(restart_and_clock_cases),
        cmocka_unit_test(keepalive_refreshes_an_idle_connection),
        cmocka_unit_test(unexpected_401_refreshes_at_most_once),
        cmocka_unit_test(concurrent_needs_share_one_refresh),
        cmocka_unit_test(an_hour_of_calls_stays_within_exacts_rules),
        cmocka_unit_test(parse_leaves_no_memory_behind),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    mlc_log_secret_clear();
    return rc;
}
