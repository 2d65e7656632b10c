#include "mlc_test_util.h"
#include "mlc_schedule.h"

#include <stdlib.h>
#include <time.h>

/* Local time in Amsterdam (DST changes on 2026-03-29 and 2026-10-25). */
static int64_t ams(int y, int mo, int d, int h, int mi)
{
    struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
                     .tm_min = mi, .tm_isdst = -1 };
    return (int64_t)mktime(&tm) * 1000;
}

static int setup(void **state)
{
    (void)state;
    setenv("TZ", "Europe/Amsterdam", 1);
    tzset();
    return 0;
}

static void daily_next_and_catch_up(void **state)
{
    (void)state;
    struct mlc_schedule s = { .mode = MLC_SCHEDULE_DAILY, .at_minutes = 6 * 60 };
    int64_t now = ams(2026, 11, 25, 5, 0);
    /* ran yesterday at 06:00: next is today 06:00 */
    assert_int_equal(mlc_schedule_next_run(&s, ams(2026, 11, 24, 6, 0), now), ams(2026, 11, 25, 6, 0));
    /* box was off from the 22nd: the 23rd and 24th runs were missed -> run now */
    assert_int_equal(mlc_schedule_next_run(&s, ams(2026, 11, 22, 6, 1), now), now);
    /* never ran -> now */
    assert_int_equal(mlc_schedule_next_run(&s, 0, now), now);
    /* at 07:00 after today's run: tomorrow 06:00 */
    now = ams(2026, 11, 25, 7, 0);
    assert_int_equal(mlc_schedule_next_run(&s, ams(2026, 11, 25, 6, 0), now), ams(2026, 11, 26, 6, 0));
}

static void weekly_on_its_day(void **state)
{
    (void)state;
    /* Fridays at 18:30; 2026-11-25 is a Wednesday */
    struct mlc_schedule s = { .mode = MLC_SCHEDULE_WEEKLY, .at_minutes = 18 * 60 + 30, .weekday = 4 };
    int64_t now = ams(2026, 11, 25, 12, 0);
    assert_int_equal(mlc_schedule_next_due(&s, now), ams(2026, 11, 27, 18, 30));
    assert_int_equal(mlc_schedule_prev_due(&s, now), ams(2026, 11, 20, 18, 30));
    assert_int_equal(mlc_schedule_next_run(&s, ams(2026, 11, 20, 19, 0), now), ams(2026, 11, 27, 18, 30));
    assert_int_equal(mlc_schedule_next_run(&s, ams(2026, 11, 13, 19, 0), now), now);
}

static void daily_across_dst(void **state)
{
    (void)state;
    struct mlc_schedule s = { .mode = MLC_SCHEDULE_DAILY, .at_minutes = 6 * 60 };
    /* 06:00 local on both sides of the spring change is 23 hours apart */
    int64_t a = ams(2026, 3, 28, 6, 0), b = mlc_schedule_next_due(&s, a);
    assert_int_equal(b - a, 23 * 3600000LL);
    /* and 25 hours in autumn */
    a = ams(2026, 10, 24, 6, 0);
    b = mlc_schedule_next_due(&s, a);
    assert_int_equal(b - a, 25 * 3600000LL);
    /* 02:30 does not exist on 2026-03-29: the run still happens that day (at 03:30) */
    struct mlc_schedule gap = { .mode = MLC_SCHEDULE_DAILY, .at_minutes = 2 * 60 + 30 };
    int64_t d = mlc_schedule_next_due(&gap, ams(2026, 3, 29, 0, 0));
    assert_true(d > ams(2026, 3, 29, 0, 0) && d < ams(2026, 3, 29, 4, 0));
}

static void interval_mode(void **state)
{
    (void)state;
    struct mlc_schedule s = { .mode = MLC_SCHEDULE_INTERVAL, .interval_ms = 3600000 };
    assert_int_equal(mlc_schedule_next_run(&s, 1000000, 1000000 + 10), 1000000 + 3600000);
    /* overdue -> now */
    assert_int_equal(mlc_schedule_next_run(&s, 1000000, 1000000 + 7200000), 1000000 + 7200000);
}

static void webhooks_coalesce(void **state)
{
    (void)state;
    int64_t sched = 10000000;
    /* first notification opens a 30 s window */
    int64_t r = mlc_schedule_bring_forward(sched, 1000, 0, 30000);
    assert_int_equal(r, 31000);
    /* more in the burst keep the same time */
    assert_int_equal(mlc_schedule_bring_forward(r, 5000, r, 30000), 31000);
    assert_int_equal(mlc_schedule_bring_forward(r, 20000, r, 30000), 31000);
    /* a scheduled run that is sooner wins */
    assert_int_equal(mlc_schedule_bring_forward(2000, 1000, 0, 30000), 2000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(daily_next_and_catch_up),
        cmocka_unit_test(weekly_on_its_day),
        cmocka_unit_test(daily_across_dst),
        cmocka_unit_test(interval_mode),
        cmocka_unit_test(webhooks_coalesce),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
