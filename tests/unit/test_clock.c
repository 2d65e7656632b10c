/* The clock check: Date header parsing, the offset window, the trust verdict with settling, and
 * the clock_skew alert. Time is always injected. */
#include "mlc_test_util.h"

#include "mlc_alert.h"
#include "mlc_clock.h"
#include "mlc_err.h"
#include "mlc_log.h"
#include "mlc_store.h"

#include <stdio.h>
#include <string.h>

#define NOW 1795000000000LL /* 2026-11-18, a plausible "now" well past the floor */
#define MIN (60 * 1000LL)

static void parses_imf_fixdate_exactly(void **state)
{
    (void)state;
    int64_t t = 0;
    /* RFC 7231's own example. */
    assert_int_equal(mlc_clock_parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", &t), MLC_OK);
    assert_true(t == 784111777000LL);
    assert_int_equal(mlc_clock_parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT", &t), MLC_OK);
    assert_true(t == 0);
    assert_int_equal(mlc_clock_parse_http_date("Thu, 29 Feb 2024 23:59:59 GMT", &t), MLC_OK);
    assert_true(t == 1709251199000LL);
    /* a leap second folds into :59 */
    assert_int_equal(mlc_clock_parse_http_date("Sat, 31 Dec 2016 23:59:60 GMT", &t), MLC_OK);
    assert_true(t == 1483228799000LL);
}

static void refuses_what_is_not_an_imf_fixdate(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "Sunday, 06-Nov-94 08:49:37 GMT",   /* RFC 850 */
        "Sun Nov  6 08:49:37 1994",         /* asctime */
        "Mon, 06 Nov 1994 08:49:37 GMT",    /* wrong day name for the date */
        "Tue, 29 Feb 2023 12:00:00 GMT",    /* no 29 February in 2023 */
        "Sun, 31 Nov 1994 08:49:37 GMT",    /* no 31 November */
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:37 GMT",
        "Sun, 06 nov 1994 08:49:37 GMT",    /* month names are case-sensitive */
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 06 Nov 1994 08:49:37 GMT ",   /* trailing junk */
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Wed, 31 Dec 1969 23:59:59 GMT",    /* before the epoch */
        "Sun, 0x Nov 1994 08:49:37 GMT",
        "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t t = 42;
        if (mlc_clock_parse_http_date(bad[i], &t) != MLC_ERR_DATA)
            fail_msg("accepted '%s'", bad[i]);
        assert_true(t == 42);
    }
    int64_t t;
    assert_int_equal(mlc_clock_parse_http_date(NULL, &t), MLC_ERR_DATA);
}

static void format_and_parse_agree_over_two_centuries(void **state)
{
    (void)state;
    char buf[40];
    /* Steps of 37 days + 1 h 1 min 1 s, from 1970 to 2170: every weekday, month and leap rule. */
    for (int64_t ms = 0; ms < 6311433600000LL; ms += 37LL * 86400000 + 3661000) {
        int64_t back = -1;
        assert_int_equal(mlc_clock_format_http_date(ms, buf, sizeof(buf)), MLC_OK);
        assert_int_equal(strlen(buf), 29);
        if (mlc_clock_parse_http_date(buf, &back) != MLC_OK || back != ms)
            fail_msg("%lld -> '%s' -> %lld", (long long)ms, buf, (long long)back);
    }
    assert_int_equal(mlc_clock_format_http_date(784111777000LL, buf, sizeof(buf)), MLC_OK);
    assert_string_equal(buf, "Sun, 06 Nov 1994 08:49:37 GMT");
    assert_int_equal(mlc_clock_format_http_date(784111777000LL, buf, 10), MLC_ERR_TOO_BIG);
    assert_int_equal(mlc_clock_format_mail_date(784111777000LL, buf, sizeof(buf)), MLC_OK);
    assert_string_equal(buf, "Sun, 06 Nov 1994 08:49:37 +0000");
}

static void offset_allows_for_whole_seconds_and_time_on_the_wire(void **state)
{
    (void)state;
    int64_t date = NOW;
    /* The server stamped its second somewhere during a 400 ms request: anything within
     * [date, date + 1 s + 400 ms] is the same time. */
    assert_true(mlc_clock_offset_ms(date, date, 400) == 0);
    assert_true(mlc_clock_offset_ms(date, date + 1400, 400) == 0);
    assert_true(mlc_clock_offset_ms(date, date + 1401, 400) == 1);
    assert_true(mlc_clock_offset_ms(date, date - 1, 400) == -1);
    assert_true(mlc_clock_offset_ms(date, date + 10 * MIN, 0) == 10 * MIN - 1000);
    assert_true(mlc_clock_offset_ms(date, date - 10 * MIN, 0) == -10 * MIN);
    assert_true(mlc_clock_offset_ms(date, date + 1500, -5) == 500); /* negative elapsed = 0 */
}

static void skew_holds_work_until_the_clock_has_settled(void **state)
{
    (void)state;
    struct mlc_clock_sanity c;
    char hdr[40], text[300];
    int changed = -1;
    mlc_clock_init(&c, 2 * MIN);
    assert_true(mlc_clock_state_trustworthy(&c, NOW)); /* nothing known against it yet */

    /* The box booted 7 minutes behind: Exact's Date is 7 minutes ahead of our clock. */
    mlc_clock_format_http_date(NOW + 7 * MIN, hdr, sizeof(hdr));
    assert_int_equal(mlc_clock_observe(&c, hdr, NOW, 200, "Exact", &changed), MLC_OK);
    assert_int_equal(changed, 1);
    assert_false(mlc_clock_state_trustworthy(&c, NOW));
    mlc_clock_describe(&c, NOW, text, sizeof(text));
    assert_non_null(strstr(text, "7 minutes behind Exact"));
    assert_non_null(strstr(text, "NTP"));

    /* A bad header changes nothing. */
    assert_int_equal(mlc_clock_observe(&c, "yesterday", NOW, 0, "Plaid", &changed), MLC_ERR_DATA);
    assert_int_equal(changed, 0);
    assert_false(mlc_clock_state_trustworthy(&c, NOW));

    /* NTP stepped the clock: one good answer is not enough ... */
    int64_t later = NOW + 10 * MIN;
    mlc_clock_format_http_date(later, hdr, sizeof(hdr));
    assert_int_equal(mlc_clock_observe(&c, hdr, later, 100, "Plaid", &changed), MLC_OK);
    assert_int_equal(changed, 0);
    assert_false(mlc_clock_state_trustworthy(&c, later));
    /* ... the second in a row is. */
    assert_int_equal(mlc_clock_observe(&c, hdr, later + 300, 100, "Plaid", &changed), MLC_OK);
    assert_int_equal(changed, 1);
    assert_true(mlc_clock_state_trustworthy(&c, later));

    /* Within the threshold (90 s ahead of a 2 min limit) stays trusted. */
    mlc_clock_format_http_date(later, hdr, sizeof(hdr));
    assert_int_equal(mlc_clock_observe(&c, hdr, later + 90000, 0, "Exact", &changed), MLC_OK);
    assert_int_equal(changed, 0);
    assert_true(mlc_clock_state_trustworthy(&c, later));
    mlc_clock_describe(&c, later, text, sizeof(text));
    assert_non_null(strstr(text, "agrees"));
}

static void a_clock_before_the_floor_is_never_trusted(void **state)
{
    (void)state;
    struct mlc_clock_sanity c;
    char text[300];
    mlc_clock_init(&c, 0);
    assert_true(c.skew_max_ms == MLC_CLOCK_SKEW_DEFAULT_MS);
    int64_t boot = 86400000; /* 2 January 1970: an RTC-less box just after power-on */
    assert_false(mlc_clock_state_trustworthy(&c, boot));
    mlc_clock_describe(&c, boot, text, sizeof(text));
    assert_non_null(strstr(text, "wrong"));
}

static void skew_raises_and_settling_resolves_the_alert(void **state)
{
    (void)state;
    struct mlc_store *st = NULL;
    struct mlc_txn *txn = NULL;
    struct mlc_clock_sanity c;
    struct mlc_alert a;
    char hdr[40];
    mlc_log_set_level(MLC_LOG_ERROR);
    const char *dir = mlc_test_tmpdir("clock");
    assert_int_equal(mlc_store_open(&st, dir, NULL), MLC_OK);
    mlc_clock_init(&c, 2 * MIN);
    mlc_clock_format_http_date(NOW - 30 * MIN, hdr, sizeof(hdr)); /* we are 30 min ahead */
    assert_int_equal(mlc_clock_observe(&c, hdr, NOW, 0, "Plaid", NULL), MLC_OK);

    assert_int_equal(mlc_store_begin(st, 0, &txn), MLC_OK);
    assert_int_equal(mlc_clock_sync_alert(txn, &c, NOW), MLC_OK);
    assert_int_equal(mlc_alert_get(txn, MLC_ALERT_CLOCK_SKEW, "clock", &a), MLC_OK);
    assert_int_equal(a.severity, MLC_ALERT_NEEDS_PERSON);
    assert_non_null(strstr(a.message, "ahead of Plaid"));
    assert_int_equal(mlc_alert_needs_person(txn), 1);
    assert_int_equal(mlc_store_commit(txn), MLC_OK);

    mlc_clock_format_http_date(NOW + MIN, hdr, sizeof(hdr));
    mlc_clock_observe(&c, hdr, NOW + MIN, 0, "Plaid", NULL);
    mlc_clock_observe(&c, hdr, NOW + MIN, 0, "Plaid", NULL);
    assert_int_equal(mlc_store_begin(st, 0, &txn), MLC_OK);
    assert_int_equal(mlc_clock_sync_alert(txn, &c, NOW + MIN), MLC_OK);
    assert_int_equal(mlc_alert_get(txn, MLC_ALERT_CLOCK_SKEW, "clock", &a), MLC_ERR_NOTFOUND);
    assert_int_equal(mlc_alert_needs_person(txn), 0);
    assert_int_equal(mlc_store_commit(txn), MLC_OK);
    mlc_store_close(st);
    mlc_test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_imf_fixdate_exactly),
        cmocka_unit_test(refuses_what_is_not_an_imf_fixdate),
        cmocka_unit_test(format_and_parse_agree_over_two_centuries),
        cmocka_unit_test(offset_allows_for_whole_seconds_and_time_on_the_wire),
        cmocka_unit_test(skew_holds_work_until_the_clock_has_settled),
        cmocka_unit_test(a_clock_before_the_floor_is_never_trusted),
        cmocka_unit_test(skew_raises_and_settling_resolves_the_alert),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
