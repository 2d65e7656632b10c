/* Clock sanity: boxes without a battery-backed clock boot with the wrong time, and token expiry,
 * consent windows and webhook `iat` checks all depend on it. This module compares the local clock
 * with the `Date` header of Plaid's and Exact's answers (RFC 7231 section 7.1.1.1) and says whether
 * the clock can be trusted. Owns the clock verdict and the clock_skew alert; no I/O of its own. */
#ifndef MLC_CLOCK_H
#define MLC_CLOCK_H
#include <stddef.h>
#include <stdint.h>

struct mlc_txn;

/* A wall clock earlier than this cannot be right (2025-01-01T00:00:00Z): an RTC-less box that
 * boots at 1970 is untrusted before any answer arrives. */
#define MLC_CLOCK_FLOOR_MS 1735689600000LL
/* After a skew, this many good observations in a row before the clock counts as settled again
 * (one good answer could be NTP's first, still slewing, step). */
#define MLC_CLOCK_SETTLE_SAMPLES 2
#define MLC_CLOCK_SKEW_DEFAULT_MS (2 * 60 * 1000LL)

/* Parses an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") into epoch ms. Strict: the exact
 * 29-character form, a real calendar date, the day name matching it. The two obsolete forms
 * (RFC 850, asctime) are refused: Plaid and Exact send IMF-fixdate, and refusing costs only one
 * observation. 0, or MLC_ERR_DATA. */
int mlc_clock_parse_http_date(const char *s, int64_t *epoch_ms);
/* Formats epoch ms as an IMF-fixdate (cap >= 30). 0, or MLC_ERR_TOO_BIG. */
int mlc_clock_format_http_date(int64_t epoch_ms, char *out, size_t cap);
/* Formats epoch ms as an RFC 5322 mail date "Wed, 25 Nov 2026 14:54:57 +0000" (cap >= 32). */
int mlc_clock_format_mail_date(int64_t epoch_ms, char *out, size_t cap);

/* How far the local clock is off, in ms (positive = local clock ahead), from a server's Date
 * (whole seconds, stamped while the request was under way). The server's true time when the
 * answer arrived lies in [date, date + 1 s + elapsed]; a local time inside that window is 0 off.
 * Pure. */
int64_t mlc_clock_offset_ms(int64_t date_ms, int64_t now_ms, int64_t elapsed_ms);

struct mlc_clock_sanity {
    int64_t skew_max_ms;      /* [agent] clock_skew_max */
    int observed;             /* at least one Date compared */
    int skewed;               /* the last verdict was "off"; cleared after SETTLE good samples */
    int good_streak;          /* good observations since the last bad one */
    int64_t offset_ms;        /* last measured offset (positive = local ahead) */
    int64_t checked_ms;       /* local wall time of the last observation */
    char source[64];          /* "plaid", "exact", ... of the last observation */
};

/* A clock state with the given threshold (<= 0: the default 2 minutes). */
void mlc_clock_init(struct mlc_clock_sanity *c, int64_t skew_max_ms);
/* Feeds one answer's Date header (may be NULL or bad: then nothing changes and MLC_ERR_DATA is
 * returned). now_ms = local wall clock when the answer arrived; elapsed_ms = request duration.
 * *changed (may be NULL) = 1 when the trust verdict flipped. */
int mlc_clock_observe(struct mlc_clock_sanity *c, const char *date_header, int64_t now_ms,
                      int64_t elapsed_ms, const char *source, int *changed);
/* 1 when time-sensitive work may go ahead at now_ms: the clock is past the floor and not
 * skewed (or skewed but settled since). Pure on the state. */
int mlc_clock_state_trustworthy(const struct mlc_clock_sanity *c, int64_t now_ms);
/* One sentence for people about the state ("The clock is 7 minutes behind Exact's ..."). */
void mlc_clock_describe(const struct mlc_clock_sanity *c, int64_t now_ms, char *out, size_t cap);

/* Raises the clock_skew alert while the clock is untrusted, resolves it once trusted; inside the
 * caller's write transaction. */
int mlc_clock_sync_alert(struct mlc_txn *txn, const struct mlc_clock_sanity *c, int64_t now_ms);

/* The process-wide clock state that API clients feed and other modules consult. */
struct mlc_clock_sanity *mlc_clock_global(void);
/* mlc_clock_observe on the global state, with the real clock for now. */
int mlc_clock_observe_answer(const char *date_header, int64_t elapsed_ms, const char *source);
/* For others (token expiry, webhook iat, schedules): may time-sensitive work run now? */
int mlc_clock_trustworthy(void);
#endif
