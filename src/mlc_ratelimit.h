/* Per-division rate-limit governor for Exact Online, as a pure state machine: fed the X-RateLimit
 * headers, 429s and the time, it answers "may I send now?" so the agent never sends a call it
 * knows will be refused. Also the error guard that keeps an endpoint under Exact's error budget.
 * Owns no clock, no I/O and no sleeping: the caller waits until the time it is given. */
#ifndef MLC_RATELIMIT_H
#define MLC_RATELIMIT_H
#include <stddef.h>
#include <stdint.h>

/* Exact's documented limits per app and division, assumed until headers say otherwise (KB-limits). */
#define MLC_RL_DEFAULT_MINUTELY 60
#define MLC_RL_DEFAULT_DAILY 5000
#define MLC_RL_WINDOW_MS 60000
/* Calls that may go ahead of an even spread over the minute. */
#define MLC_RL_BURST 5
/* After a window resets by our clock, wait this long before trusting it: our clock may run ahead
 * of Exact's, and a call just before its real reset is refused. */
#define MLC_RL_MARGIN_MS 1000
/* Largest clock lead over Exact the governor learns and allows for. */
#define MLC_RL_AHEAD_MAX_MS 30000
/* Error guard: Exact blocks a key for an hour after 10 errors (400/401/403/404) per endpoint per
 * hour (KB-limits); we stop at 5 to stay well clear. */
#define MLC_RL_GUARD_ERRORS 5
#define MLC_RL_GUARD_WINDOW_MS 3600000
#define MLC_RL_GUARD_ENDPOINTS 32
#define MLC_RL_ENDPOINT_MAX 96

enum mlc_rl_header_bit {
    MLC_RLH_MIN_LIMIT = 1 << 0,
    MLC_RLH_MIN_REMAINING = 1 << 1,
    MLC_RLH_MIN_RESET = 1 << 2,
    MLC_RLH_DAY_LIMIT = 1 << 3,
    MLC_RLH_DAY_REMAINING = 1 << 4,
    MLC_RLH_DAY_RESET = 1 << 5,
    MLC_RLH_RETRY_AFTER = 1 << 6
};

/* The rate-limit headers of one answer. Resets are epoch ms (Exact KB: "UTC epoch milliseconds"). */
struct mlc_ratelimit_headers {
    unsigned present;          /* MLC_RLH_* bits */
    int64_t min_limit, min_remaining, min_reset_ms;
    int64_t day_limit, day_remaining, day_reset_ms;
    int64_t retry_after_s;
};

/* Reads one raw header line ("X-RateLimit-Remaining: 4999\r\n", as curl's header callback gives
 * it; name case-insensitive) into h. 1 if it was one of ours, 0 if another header, MLC_ERR_DATA if
 * ours but the value is not a plain non-negative integer (then h is unchanged). A reset below
 * 10^11 is taken as seconds (one old SDK says seconds) and converted to ms. */
int mlc_ratelimit_header_line(struct mlc_ratelimit_headers *h, const char *line, size_t len);

struct mlc_errguard_entry {
    char endpoint[MLC_RL_ENDPOINT_MAX];
    int64_t at[MLC_RL_GUARD_ERRORS]; /* ring of the newest errors */
    unsigned n, head;
};

/* Errors per endpoint ("financialtransaction/BankEntries") in a rolling hour; bounded table,
 * the entry with the oldest newest error is reused when full. */
struct mlc_errguard {
    struct mlc_errguard_entry e[MLC_RL_GUARD_ENDPOINTS];
};

/* Records one error (a 400/401/403/404 answer) for endpoint at now_ms. */
void mlc_errguard_record(struct mlc_errguard *g, const char *endpoint, int64_t now_ms);
/* 0 if endpoint may be called, else the epoch ms when its error count drops below the cap. */
int64_t mlc_errguard_check(const struct mlc_errguard *g, const char *endpoint, int64_t now_ms);

/* One division's governor. Zero-initialised state after mlc_ratelimit_init. */
struct mlc_ratelimit {
    int64_t min_limit, min_remaining, min_reset_ms;
    int64_t day_limit, day_remaining, day_reset_ms;
    int min_from_server;       /* the minute window's reset came from Exact */
    int64_t ahead_ms;          /* learned lead of our clock over Exact's (0 = none seen) */
    int64_t last_send_ms;      /* when the last call was sent (one call at a time per division) */
    int64_t not_before_ms;     /* no call before this: just after a window reset by our clock */
    int64_t blocked_until_ms;  /* after a 429 */
    struct mlc_errguard guard;
};

enum mlc_ratelimit_state {
    MLC_RL_READY = 0,      /* may send now */
    MLC_RL_PACING,         /* spreading calls over the minute */
    MLC_RL_MINUTE_WAIT,    /* this minute's calls are used up */
    MLC_RL_BLOCKED,        /* a 429 was received; waiting for the reset */
    MLC_RL_DEFERRED_DAY    /* the daily limit is used up: deferred to the next day */
};

/* Assumes 60 calls a minute and 5,000 a day until headers are seen. */
void mlc_ratelimit_init(struct mlc_ratelimit *rl);
/* 0 if a call may be sent at now_ms, else the epoch ms to wait until (then ask again). */
int64_t mlc_ratelimit_check(const struct mlc_ratelimit *rl, int64_t now_ms);
/* As mlc_ratelimit_check, and also refuses an endpoint the error guard has stopped. */
int64_t mlc_ratelimit_check_endpoint(const struct mlc_ratelimit *rl, const char *endpoint,
                                     int64_t now_ms);
/* Records that a call was sent at now_ms (counts it against the local budget). */
void mlc_ratelimit_on_send(struct mlc_ratelimit *rl, int64_t now_ms);
/* Feeds an answer: its status (429 = refused) and its rate-limit headers (h may be NULL). When the
 * minute is exhausted Exact sends only the minutely headers: the daily values are kept. */
void mlc_ratelimit_on_response(struct mlc_ratelimit *rl, int http_status,
                               const struct mlc_ratelimit_headers *h, int64_t now_ms);
/* Records an error answer for endpoint in the error guard. */
void mlc_ratelimit_on_error(struct mlc_ratelimit *rl, const char *endpoint, int64_t now_ms);
/* What the governor is doing at now_ms, for the status page. */
enum mlc_ratelimit_state mlc_ratelimit_state(const struct mlc_ratelimit *rl, int64_t now_ms);
/* "ready", "pacing", "minute limit reached", "rate limited (429)", "deferred to next day". */
const char *mlc_ratelimit_state_name(enum mlc_ratelimit_state s);
#endif
