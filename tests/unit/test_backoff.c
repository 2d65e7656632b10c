#include "mlc_test_util.h"
#include "mlc_backoff.h"

#include <stdint.h>

/* A retry never waits longer than the ceiling for its attempt: base * 2^attempt, capped. */
static void delays_stay_within_the_attempt_ceiling(void **state)
{
    (void)state;
    const uint32_t rnds[] = { 0, 1, 99, 100, 101, 12345, 0x7fffffffu, UINT32_MAX };
    for (unsigned a = 0; a < 40; a++) {
        uint32_t ceil = mlc_backoff_ceiling_ms(a, 100, 60000);
        for (size_t i = 0; i < sizeof(rnds) / sizeof(rnds[0]); i++)
            assert_true(mlc_backoff_delay_ms(a, 100, 60000, rnds[i]) <= ceil);
    }
    assert_int_equal(mlc_backoff_delay_ms(0, 100, 60000, 100), 100);
    assert_int_equal(mlc_backoff_delay_ms(0, 100, 60000, 101), 0);
    assert_int_equal(mlc_backoff_delay_ms(2, 100, 60000, 400), 400);
    assert_int_equal(mlc_backoff_delay_ms(2, 100, 60000, 401), 0);
}

/* Ceilings double per attempt, never decrease, and stop at the cap. */
static void ceilings_double_then_hold_at_the_cap(void **state)
{
    (void)state;
    assert_int_equal(mlc_backoff_ceiling_ms(0, 100, 60000), 100);
    assert_int_equal(mlc_backoff_ceiling_ms(1, 100, 60000), 200);
    assert_int_equal(mlc_backoff_ceiling_ms(9, 100, 60000), 51200);
    assert_int_equal(mlc_backoff_ceiling_ms(10, 100, 60000), 60000);
    uint32_t prev = 0;
    for (unsigned a = 0; a < 200; a++) {
        uint32_t c = mlc_backoff_ceiling_ms(a, 100, 60000);
        assert_true(c >= prev);
        assert_true(c <= 60000);
        prev = c;
    }
    assert_int_equal(prev, 60000);
}

/* Huge attempts and bases cannot overflow into a short wait. */
static void no_overflow_at_extremes(void **state)
{
    (void)state;
    assert_int_equal(mlc_backoff_ceiling_ms(31, 3, UINT32_MAX), UINT32_MAX);
    assert_int_equal(mlc_backoff_ceiling_ms(32, 1, UINT32_MAX), UINT32_MAX);
    assert_int_equal(mlc_backoff_ceiling_ms(1000000, 1, 5000), 5000);
    assert_int_equal(mlc_backoff_ceiling_ms(0, UINT32_MAX, UINT32_MAX), UINT32_MAX);
    assert_int_equal(mlc_backoff_ceiling_ms(1, UINT32_MAX, 1000), 1000);
    assert_int_equal(mlc_backoff_ceiling_ms(31, 1, UINT32_MAX), 1u << 31);
    /* ceiling + 1 = 2^32: the whole rnd range is a valid delay */
    assert_int_equal(mlc_backoff_delay_ms(40, 1000, UINT32_MAX, UINT32_MAX), UINT32_MAX);
    assert_int_equal(mlc_backoff_delay_ms(5, 0, 60000, 777), 0);
    assert_int_equal(mlc_backoff_delay_ms(5, 100, 0, 777), 0);
}

/* Full jitter: every delay from 0 to the ceiling is reachable and they come out evenly, so many
 * agents retrying at once do not stay in step. */
static void jitter_is_spread_evenly(void **state)
{
    (void)state;
    const uint32_t ceil = mlc_backoff_ceiling_ms(3, 100, 60000); /* 800 */
    assert_int_equal(ceil, 800);
    for (uint32_t r = 0; r <= ceil; r++)
        assert_int_equal(mlc_backoff_delay_ms(3, 100, 60000, r), r);

    enum { N = 200000, BUCKETS = 8 };
    unsigned hist[BUCKETS] = { 0 };
    uint64_t sum = 0;
    uint32_t x = 2463534242u; /* xorshift32: a stand-in for the OS random source */
    for (int i = 0; i < N; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        uint32_t d = mlc_backoff_delay_ms(3, 100, 60000, x);
        assert_true(d <= ceil);
        sum += d;
        hist[d * BUCKETS / (ceil + 1)]++;
    }
    double mean = (double)sum / N;
    assert_true(mean > 390.0 && mean < 410.0);
    for (int b = 0; b < BUCKETS; b++)
        assert_true(hist[b] > N / BUCKETS * 9 / 10 && hist[b] < N / BUCKETS * 11 / 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(delays_stay_within_the_attempt_ceiling),
        cmocka_unit_test(ceilings_double_then_hold_at_the_cap),
        cmocka_unit_test(no_overflow_at_extremes),
        cmocka_unit_test(jitter_is_spread_evenly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
