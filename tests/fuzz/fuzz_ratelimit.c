/* libFuzzer target for Exact's rate-limit headers (X-RateLimit-*, Retry-After) as curl's header
 * callback hands them over, and the governor they feed. Input: header lines; an empty line ends
 * one answer, a line "429" makes that answer a refusal. Promises checked: a header line is ours
 * (1), not ours (0) or refused (MLC_ERR_DATA, leaving what was read before untouched); what is read
 * is a non-negative number; and whatever the headers say, the governor never asks the agent to
 * wait more than about two days (a far-off reset must not stall a division for good) nor hands
 * out a wait that is already over. Seeds: tests/fuzz/corpus/fuzz_ratelimit/. */
#include "mlc_err.h"
#include "mlc_ratelimit.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define START_MS 1764079200000LL
/* day reset up to 2 days ahead, plus the margin and the largest learned clock lead */
#define WAIT_MAX_MS (2 * 86400000LL + MLC_RL_MARGIN_MS + MLC_RL_AHEAD_MAX_MS + MLC_RL_WINDOW_MS)

static void check(int ok)
{
    if (!ok)
        abort();
}

static void check_governor(const struct mlc_ratelimit *rl, int64_t now)
{
    int64_t at = mlc_ratelimit_check(rl, now);
    check(at == 0 || (at > now && at <= now + WAIT_MAX_MS));
    int64_t at2 = mlc_ratelimit_check_endpoint(rl, "financialtransaction/BankEntries", now);
    check(at2 == 0 || (at2 > now && at2 <= now + MLC_RL_GUARD_WINDOW_MS + WAIT_MAX_MS));
    check(mlc_ratelimit_state_name(mlc_ratelimit_state(rl, now)) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct mlc_ratelimit rl;
    struct mlc_ratelimit_headers h;
    int64_t now = START_MS;
    int status = 200;
    mlc_ratelimit_init(&rl);
    memset(&h, 0, sizeof(h));

    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
        size_t text = len - (nl ? 1 : 0);
        if (text && p[text - 1] == '\r')
            text--;
        if (text == 0) {
            /* end of one answer: it was sent a little earlier, and arrives now */
            mlc_ratelimit_on_send(&rl, now - 150);
            mlc_ratelimit_on_response(&rl, status, &h, now);
            if (status == 429 || (h.present & MLC_RLH_RETRY_AFTER))
                mlc_ratelimit_on_error(&rl, "financialtransaction/BankEntries", now);
            check_governor(&rl, now);
            memset(&h, 0, sizeof(h));
            status = 200;
            now += 1000 + (int64_t)(size % 7) * 13000;
        } else if (text == 3 && memcmp(p, "429", 3) == 0) {
            status = 429;
        } else {
            struct mlc_ratelimit_headers before = h;
            int rc = mlc_ratelimit_header_line(&h, p, len);
            check(rc == 0 || rc == 1 || rc == MLC_ERR_DATA);
            if (rc != 1)
                check(memcmp(&before, &h, sizeof(h)) == 0);
            check(h.min_limit >= 0 && h.min_remaining >= 0 && h.min_reset_ms >= 0 &&
                  h.day_limit >= 0 && h.day_remaining >= 0 && h.day_reset_ms >= 0 &&
                  h.retry_after_s >= 0);
        }
        p += len;
    }
    mlc_ratelimit_on_response(&rl, status, &h, now);
    check_governor(&rl, now);
    return 0;
}
