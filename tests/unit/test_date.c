#include "mlc_test_util.h"
#include "mlc_date.h"

#include <time.h>

/* Every day from 1900 to 2200 round-trips, and agrees with the C library's timegm. */
static void round_trip_and_agree_with_libc(void **state)
{
    (void)state;
    for (int64_t z = mlc_days_from_civil(1900, 1, 1); z <= mlc_days_from_civil(2200, 12, 31); z++) {
        int64_t y;
        unsigned m, d;
        mlc_civil_from_days(z, &y, &m, &d);
        assert_int_equal(mlc_days_from_civil(y, m, d), z);
        struct tm tm = { .tm_year = (int)y - 1900, .tm_mon = (int)m - 1, .tm_mday = (int)d };
        assert_int_equal((int64_t)timegm(&tm), z * 86400);
    }
}

static void known_dates(void **state)
{
    (void)state;
    assert_int_equal(mlc_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(mlc_days_from_civil(1969, 12, 31), -1);
    assert_int_equal(mlc_days_from_civil(2000, 3, 1) - mlc_days_from_civil(2000, 2, 28), 2);
    assert_int_equal(mlc_days_from_civil(2100, 3, 1) - mlc_days_from_civil(2100, 2, 28), 1);
    assert_int_equal(mlc_days_from_civil(2026, 11, 25), 20782);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_and_agree_with_libc),
        cmocka_unit_test(known_dates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
