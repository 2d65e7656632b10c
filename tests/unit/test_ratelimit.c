#include "mlc_test_util.h"
#include "mlc_err.h"
#include "mlc_ratelimit.h"

#include <stdio.h>
#include <string.h>

#define S 1000LL
#define MIN (60 * S)
#define DAY (86400 * S)
/* 2026-11-25 00:00:00 UTC plus a bit: not on a minute boundary */
#define T0 (1795564800000LL + 12345)

/* A fixed-window Exact: 60 calls per whole minute, a daily budget, UTC midnight resets. Its
 * clock runs skew ms ahead of ours. Once the minute is used up it answers 429 with only the
 * minutely headers, as Exact does. */
struct server {
    int64_t skew;
    int64_t window;
    int count;
    int64_t day;
    int day_count, day_limit;
    int served, refused;
};

static int serve(struct server *sv, int64_t our_now, struct mlc_ratelimit_headers *h)
{
    int64_t now = our_now + sv->skew;
    memset(h, 0, sizeof(*h));
    if (now / MIN != sv->window) {
        sv->window = now / MIN;
        sv->count = 0;
    }
    if (now / DAY != sv->day) {
        sv->day = now / DAY;
        sv->day_count = 0;
    }
    h->present = MLC_RLH_MIN_LIMIT | MLC_RLH_MIN_REMAINING | MLC_RLH_MIN_RESET;
    h->min_limit = 60;
    h->min_reset_ms = (sv->window + 1) * MIN;
    if (sv->count >= 60 || sv->day_count >= sv->day_limit) {
        h->min_remaining = 0;
        sv->refused++;
        if (sv->day_count >= sv->day_limit) {
            h->present |= MLC_RLH_DAY_LIMIT | MLC_RLH_DAY_REMAINING | MLC_RLH_DAY_RESET;
            h->day_limit = sv->day_limit;
            h->day_remaining = 0;
            h->day_reset_ms = (sv->day + 1) * DAY;
        }
        return 429;
    }
    sv->count++;
    sv->day_count++;
    sv->served++;
    h->min_remaining = 60 - sv->count;
    if (h->min_remaining > 0) { /* Exact drops the daily headers when the minute is used up */
        h->present |= MLC_RLH_DAY_LIMIT | MLC_RLH_DAY_REMAINING | MLC_RLH_DAY_RESET;
        h->day_limit = sv->day_limit;
        h->day_remaining = sv->day_limit - sv->day_count;
        h->day_reset_ms = (sv->day + 1) * DAY;
    }
    return 200;
}

/* Drives the governor against the server for `span` ms with a given answer latency. */
static void run(struct server *sv, struct mlc_ratelimit *rl, int64_t start, int64_t span, int64_t latency)
{
    int64_t now = start;
    while (now < start + span) {
        int64_t wait = mlc_ratelimit_check(rl, now);
        if (wait) {
            assert_true(wait > now);
            now = wait;
            continue;
        }
        struct mlc_ratelimit_headers h;
        mlc_ratelimit_on_send(rl, now);
        int st = serve(sv, now, &h);
        now += latency;
        mlc_ratelimit_on_response(rl, st, &h, now);
    }
}

/* Ten minutes flat out: no call is refused, and at least 90% of the allowed calls are used,
 * whatever the latency and with our clock a little ahead of or behind Exact's. */
static void ten_minutes_without_a_429(void **state)
{
    (void)state;
    const int64_t skews[] = { 0, 400, -400, 900, -900, 5000 };
    const int64_t lats[] = { 0, 150, 900 }; /* one call at a time: 60/min needs < 1 s each */
    for (size_t i = 0; i < sizeof(skews) / sizeof(skews[0]); i++) {
        for (size_t j = 0; j < sizeof(lats) / sizeof(lats[0]); j++) {
            struct server sv = { .skew = skews[i], .day_limit = 5000 };
            struct mlc_ratelimit rl;
            mlc_ratelimit_init(&rl);
            run(&sv, &rl, T0, 10 * MIN, lats[j]);
            if (sv.refused || sv.served < 540)
                fail_msg("skew %lld latency %lld: served %d refused %d", (long long)skews[i],
                         (long long)lats[j], sv.served, sv.refused);
        }
    }
}

/* Our clock seconds ahead of Exact's: at most a couple of 429s while the governor learns the
 * lead, then none, and the budget is still used. */
static void a_clock_ahead_of_exact_is_learned(void **state)
{
    (void)state;
    const int64_t skews[] = { -3000, -10000, -25000 };
    for (size_t i = 0; i < sizeof(skews) / sizeof(skews[0]); i++) {
        struct server sv = { .skew = skews[i], .day_limit = 5000 };
        struct mlc_ratelimit rl;
        mlc_ratelimit_init(&rl);
        run(&sv, &rl, T0, 3 * MIN, 150);
        int early = sv.refused;
        assert_true(early <= 2);
        run(&sv, &rl, T0 + 3 * MIN, 10 * MIN, 150);
        if (sv.refused != early || sv.served < 540 + 120)
            fail_msg("skew %lld: served %d refused %d (early %d)", (long long)skews[i], sv.served,
                     sv.refused, early);
    }
}

/* Calls are spread over the minute, not fired in one burst at its start. */
static void calls_are_spread_over_the_minute(void **state)
{
    (void)state;
    struct server sv = { .day_limit = 5000 };
    struct mlc_ratelimit rl;
    mlc_ratelimit_init(&rl);
    int64_t start = (T0 / MIN + 1) * MIN; /* a window start */
    run(&sv, &rl, start, 20 * S, 0);
    /* 20 s into the window: the burst plus about one call a second, far from all 60 */
    assert_true(sv.served >= 20 && sv.served <= 20 + MLC_RL_BURST + 2);
    int64_t t = start + 20 * S, w = mlc_ratelimit_check(&rl, t);
    if (w)
        t = w;
    mlc_ratelimit_on_send(&rl, t);
    assert_int_equal(mlc_ratelimit_state(&rl, t + 1), MLC_RL_PACING);
    assert_true(mlc_ratelimit_check(&rl, t + 1) <= t + 2 * S);
}

/* Before any header the governor assumes 60/min and 5,000/day and lets the first call go. */
static void first_call_without_headers(void **state)
{
    (void)state;
    struct mlc_ratelimit rl;
    mlc_ratelimit_init(&rl);
    int64_t on_minute = (T0 / MIN + 1) * MIN + 5;
    assert_int_equal(mlc_ratelimit_check(&rl, on_minute), 0);
    assert_int_equal(mlc_ratelimit_check(&rl, T0), 0);
    assert_int_equal(mlc_ratelimit_state(&rl, T0), MLC_RL_READY);
    /* answers without headers (current/Me): local counting keeps within 60 per minute */
    int64_t now = on_minute;
    int sent = 0;
    while (now < on_minute + MIN - 10) {
        int64_t w = mlc_ratelimit_check(&rl, now);
        if (w) {
            now = w;
            continue;
        }
        mlc_ratelimit_on_send(&rl, now);
        mlc_ratelimit_on_response(&rl, 200, NULL, now);
        sent++;
    }
    assert_true(sent <= 60);
    assert_true(sent >= 55);
    assert_true(rl.day_remaining == 5000 - sent);
}

/* When the minute is used up Exact sends only the minutely headers: the daily count stays. */
static void daily_values_survive_minutely_only_headers(void **state)
{
    (void)state;
    struct mlc_ratelimit rl;
    mlc_ratelimit_init(&rl);
    struct mlc_ratelimit_headers h = { 0 };
    h.present = MLC_RLH_MIN_LIMIT | MLC_RLH_MIN_REMAINING | MLC_RLH_MIN_RESET | MLC_RLH_DAY_LIMIT |
                MLC_RLH_DAY_REMAINING | MLC_RLH_DAY_RESET;
    h.min_limit = 60, h.min_remaining = 1, h.min_reset_ms = T0 + 30 * S;
    h.day_limit = 5000, h.day_remaining = 4000, h.day_reset_ms = (T0 / DAY + 1) * DAY;
    mlc_ratelimit_on_send(&rl, T0);
    mlc_ratelimit_on_response(&rl, 200, &h, T0);
    mlc_ratelimit_on_send(&rl, T0 + S);
    h.present = MLC_RLH_MIN_LIMIT | MLC_RLH_MIN_REMAINING | MLC_RLH_MIN_RESET;
    h.min_remaining = 0;
    mlc_ratelimit_on_response(&rl, 200, &h, T0 + S);
    assert_true(rl.day_remaining == 3999);
    assert_true(rl.day_limit == 5000);
    assert_int_equal(mlc_ratelimit_state(&rl, T0 + 2 * S), MLC_RL_MINUTE_WAIT);
    assert_true(mlc_ratelimit_check(&rl, T0 + 2 * S) == T0 + 30 * S + MLC_RL_MARGIN_MS);
}

/* Daily budget used up: nothing is sent until the next UTC day, and the state says so. */
static void daily_exhaustion_defers_to_next_day(void **state)
{
    (void)state;
    struct server sv = { .day_limit = 7 };
    struct mlc_ratelimit rl;
    mlc_ratelimit_init(&rl);
    int64_t midnight = (T0 / DAY + 1) * DAY;
    run(&sv, &rl, T0, 30 * MIN, 100);
    assert_int_equal(sv.served, 7);
    assert_int_equal(sv.refused, 0);
    assert_int_equal(mlc_ratelimit_state(&rl, T0 + 31 * MIN), MLC_RL_DEFERRED_DAY);
    assert_string_equal(mlc_ratelimit_state_name(MLC_RL_DEFERRED_DAY), "deferred to next day");
    int64_t w = mlc_ratelimit_check(&rl, T0 + 31 * MIN);
    assert_true(w >= midnight && w <= midnight + 5 * S);
    /* after midnight calls flow again */
    run(&sv, &rl, midnight, 2 * MIN, 100);
    assert_int_equal(sv.served, 14);
    assert_int_equal(sv.refused, 0);
}

/* A 429 waits for the minutely reset, or the daily one when the day is used up. */
static void a_429_waits_for_the_reset(void **state)
{
    (void)state;
    struct mlc_ratelimit rl;
    mlc_ratelimit_init(&rl);
    struct mlc_ratelimit_headers h = { 0 };
    h.present = MLC_RLH_MIN_REMAINING | MLC_RLH_MIN_RESET;
    h.min_remaining = 0;
    h.min_reset_ms = T0 + 20 * S;
    mlc_ratelimit_on_send(&rl, T0);
    mlc_ratelimit_on_response(&rl, 429, &h, T0);
    assert_int_equal(mlc_ratelimit_state(&rl, T0 + S), MLC_RL_BLOCKED);
    assert_true(mlc_ratelimit_check(&rl, T0 + S) == T0 + 20 * S + MLC_RL_MARGIN_MS);
    assert_int_equal(mlc_ratelimit_check(&rl, T0 + 21 * S + 1), 0);

    /* a 429 without headers: a whole window */
    mlc_ratelimit_init(&rl);
    mlc_ratelimit_on_send(&rl, T0);
    mlc_ratelimit_on_response(&rl, 429, NULL, T0);
    assert_true(mlc_ratelimit_check(&rl, T0) >= T0 + MIN);

    /* Retry-After longer than the window wins */
    mlc_ratelimit_init(&rl);
    memset(&h, 0, sizeof(h));
    h.present = MLC_RLH_RETRY_AFTER;
    h.retry_after_s = 120;
    mlc_ratelimit_on_response(&rl, 429, &h, T0);
    assert_true(mlc_ratelimit_check(&rl, T0) >= T0 + 120 * S);

    /* daily exhausted: wait for the day */
    mlc_ratelimit_init(&rl);
    memset(&h, 0, sizeof(h));
    h.present = MLC_RLH_MIN_REMAINING | MLC_RLH_MIN_RESET | MLC_RLH_DAY_REMAINING | MLC_RLH_DAY_RESET;
    h.min_reset_ms = T0 + 20 * S;
    h.day_reset_ms = (T0 / DAY + 1) * DAY;
    mlc_ratelimit_on_response(&rl, 429, &h, T0);
    assert_true(mlc_ratelimit_check(&rl, T0 + MIN) >= h.day_reset_ms);
    assert_int_equal(mlc_ratelimit_state(&rl, T0 + MIN), MLC_RL_DEFERRED_DAY);
}

/* An answer that arrives just after a reset, without headers, does not cancel the pause after
 * the reset that covers a clock running slightly ahead of Exact's. */
static void pause_after_reset_survives_a_late_answer(void **state)
{
    (void)state;
    struct mlc_ratelimit rl;
    mlc_ratelimit_init(&rl);
    int64_t reset = (T0 / MIN + 1) * MIN;
    struct mlc_ratelimit_headers h = { 0 };
    h.present = MLC_RLH_MIN_REMAINING | MLC_RLH_MIN_RESET;
    h.min_remaining = 0;
    h.min_reset_ms = reset;
    mlc_ratelimit_on_send(&rl, reset - 2 * S);
    mlc_ratelimit_on_response(&rl, 200, &h, reset - 2 * S);
    mlc_ratelimit_on_send(&rl, reset - S); /* (a call the caller sent anyway) */
    mlc_ratelimit_on_response(&rl, 200, NULL, reset + 100);
    int64_t w = mlc_ratelimit_check(&rl, reset + 200);
    assert_true(w >= reset + MLC_RL_MARGIN_MS);
    assert_int_equal(mlc_ratelimit_check(&rl, w), 0);
}

/* A reset far in the future is outside input that would stall the agent: ignored. */
static void implausible_resets_are_ignored(void **state)
{
    (void)state;
    struct mlc_ratelimit rl;
    mlc_ratelimit_init(&rl);
    struct mlc_ratelimit_headers h = { 0 };
    h.present = MLC_RLH_MIN_REMAINING | MLC_RLH_MIN_RESET | MLC_RLH_DAY_RESET;
    h.min_remaining = 0;
    h.min_reset_ms = T0 + 365 * DAY;
    h.day_reset_ms = T0 + 365 * DAY;
    mlc_ratelimit_on_response(&rl, 200, &h, T0);
    int64_t w = mlc_ratelimit_check(&rl, T0);
    assert_true(w > T0 && w <= T0 + MIN + MLC_RL_MARGIN_MS);
}

static void header_lines_are_read(void **state)
{
    (void)state;
    struct mlc_ratelimit_headers h = { 0 };
    const char *l1 = "X-RateLimit-Minutely-Remaining: 59\r\n";
    const char *l2 = "x-ratelimit-reset:1795651200000\r\n";
    const char *l3 = "X-RateLimit-Minutely-Reset: 1795564860\r\n"; /* seconds */
    const char *l4 = "X-RateLimit-Limit: 5000";
    const char *l5 = "Content-Type: application/json\r\n";
    const char *l6 = "X-RateLimit-Remaining: -1\r\n";
    const char *l7 = "X-RateLimit-Remaining: 12abc\r\n";
    const char *l8 = "Retry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n";
    const char *l9 = "X-RateLimit-Remaining: 99999999999999999999\r\n";
    assert_int_equal(mlc_ratelimit_header_line(&h, l1, strlen(l1)), 1);
    assert_int_equal(mlc_ratelimit_header_line(&h, l2, strlen(l2)), 1);
    assert_int_equal(mlc_ratelimit_header_line(&h, l3, strlen(l3)), 1);
    assert_int_equal(mlc_ratelimit_header_line(&h, l4, strlen(l4)), 1);
    assert_int_equal(mlc_ratelimit_header_line(&h, l5, strlen(l5)), 0);
    assert_int_equal(mlc_ratelimit_header_line(&h, l6, strlen(l6)), MLC_ERR_DATA);
    assert_int_equal(mlc_ratelimit_header_line(&h, l7, strlen(l7)), MLC_ERR_DATA);
    assert_int_equal(mlc_ratelimit_header_line(&h, l8, strlen(l8)), MLC_ERR_DATA);
    assert_int_equal(mlc_ratelimit_header_line(&h, l9, strlen(l9)), MLC_ERR_DATA);
    assert_int_equal(h.present, MLC_RLH_MIN_REMAINING | MLC_RLH_DAY_RESET | MLC_RLH_MIN_RESET | MLC_RLH_DAY_LIMIT);
    assert_true(h.min_remaining == 59);
    assert_true(h.day_reset_ms == 1795651200000LL);
    assert_true(h.min_reset_ms == 1795564860000LL);
    assert_true(h.day_limit == 5000);
    assert_int_equal(mlc_ratelimit_header_line(&h, "X-RateLimit-Limit", 17), 0);
}

/* Five errors on an endpoint within an hour stop calls to it until the oldest is an hour old;
 * other endpoints carry on. */
static void error_guard_stops_an_endpoint_at_five(void **state)
{
    (void)state;
    struct mlc_ratelimit rl;
    mlc_ratelimit_init(&rl);
    const char *ep = "financialtransaction/BankEntries";
    for (int i = 0; i < 4; i++) {
        mlc_ratelimit_on_error(&rl, ep, T0 + i * MIN);
        assert_int_equal(mlc_ratelimit_check_endpoint(&rl, ep, T0 + i * MIN + 1), 0);
    }
    mlc_ratelimit_on_error(&rl, "FinancialTransaction/BANKENTRIES", T0 + 10 * MIN); /* same, any case */
    int64_t w = mlc_ratelimit_check_endpoint(&rl, ep, T0 + 10 * MIN + 1);
    assert_true(w == T0 + 60 * MIN);
    assert_int_equal(mlc_ratelimit_check_endpoint(&rl, "financial/Journals", T0 + 10 * MIN + 1), 0);
    assert_int_equal(mlc_errguard_check(&rl.guard, ep, T0 + 60 * MIN - 1), T0 + 60 * MIN);
    /* the oldest error leaves the hour: four remain, calls may go again */
    assert_int_equal(mlc_ratelimit_check_endpoint(&rl, ep, T0 + 60 * MIN), 0);
    /* errors keep coming: the 5 newest decide (T0+1..T0+30 min) */
    mlc_ratelimit_on_error(&rl, ep, T0 + 30 * MIN);
    assert_true(mlc_ratelimit_check_endpoint(&rl, ep, T0 + 60 * MIN) == T0 + 61 * MIN);
    assert_int_equal(mlc_ratelimit_check_endpoint(&rl, ep, T0 + 61 * MIN), 0);
}

/* The table is bounded: many endpoints do not grow it, and the busiest stay tracked. */
static void error_guard_table_is_bounded(void **state)
{
    (void)state;
    struct mlc_errguard g;
    memset(&g, 0, sizeof(g));
    char ep[200];
    for (int i = 0; i < 3 * MLC_RL_GUARD_ENDPOINTS; i++) {
        snprintf(ep, sizeof(ep), "service/Entity%d", i);
        mlc_errguard_record(&g, ep, T0 + i);
    }
    for (int k = 0; k < 5; k++)
        mlc_errguard_record(&g, "hot/Endpoint", T0 + 1000 + k);
    assert_true(mlc_errguard_check(&g, "hot/Endpoint", T0 + 2000) > 0);
    /* a key longer than the table's field is truncated, never overflows */
    memset(ep, 'x', sizeof(ep) - 1);
    ep[sizeof(ep) - 1] = '\0';
    for (int k = 0; k < 5; k++)
        mlc_errguard_record(&g, ep, T0 + 3000 + k);
    assert_true(mlc_errguard_check(&g, ep, T0 + 4000) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ten_minutes_without_a_429),
        cmocka_unit_test(a_clock_ahead_of_exact_is_learned),
        cmocka_unit_test(calls_are_spread_over_the_minute),
        cmocka_unit_test(first_call_without_headers),
        cmocka_unit_test(daily_values_survive_minutely_only_headers),
        cmocka_unit_test(daily_exhaustion_defers_to_next_day),
        cmocka_unit_test(a_429_waits_for_the_reset),
        cmocka_unit_test(pause_after_reset_survives_a_late_answer),
        cmocka_unit_test(implausible_resets_are_ignored),
        cmocka_unit_test(header_lines_are_read),
        cmocka_unit_test(error_guard_stops_an_endpoint_at_five),
        cmocka_unit_test(error_guard_table_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
