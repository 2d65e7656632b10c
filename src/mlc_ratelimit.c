#include "mlc_ratelimit.h"
#include "mlc_err.h"

#include <string.h>

#define DAY_MS 86400000LL

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* ---- header lines ---- */

static int eq_ci(const char *a, size_t n, const char *b)
{
    if (strlen(b) != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z')
            x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (char)(y - 'A' + 'a');
        if (x != y)
            return 0;
    }
    return 1;
}

static const struct {
    const char *name;
    unsigned bit;
} rl_names[] = {
    { "X-RateLimit-Minutely-Limit", MLC_RLH_MIN_LIMIT },
    { "X-RateLimit-Minutely-Remaining", MLC_RLH_MIN_REMAINING },
    { "X-RateLimit-Minutely-Reset", MLC_RLH_MIN_RESET },
    { "X-RateLimit-Limit", MLC_RLH_DAY_LIMIT },
    { "X-RateLimit-Remaining", MLC_RLH_DAY_REMAINING },
    { "X-RateLimit-Reset", MLC_RLH_DAY_RESET },
    { "Retry-After", MLC_RLH_RETRY_AFTER },
};

static int is_sp(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int mlc_ratelimit_header_line(struct mlc_ratelimit_headers *h, const char *line, size_t len)
{
    if (!h || !line)
        return 0;
    const char *colon = memchr(line, ':', len);
    if (!colon)
        return 0;
    size_t nlen = (size_t)(colon - line);
    while (nlen && is_sp(line[nlen - 1]))
        nlen--;
    unsigned bit = 0;
    for (size_t i = 0; i < sizeof(rl_names) / sizeof(rl_names[0]); i++)
        if (eq_ci(line, nlen, rl_names[i].name))
            bit = rl_names[i].bit;
    if (!bit)
        return 0;
    const char *v = colon + 1, *end = line + len;
    while (v < end && is_sp(*v))
        v++;
    while (end > v && is_sp(end[-1]))
        end--;
    size_t n = (size_t)(end - v);
    if (n == 0 || n > 15) /* 15 digits hold any epoch ms until the year 33658 */
        return MLC_ERR_DATA;
    int64_t val = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return MLC_ERR_DATA;
        val = val * 10 + (v[i] - '0');
    }
    if ((bit == MLC_RLH_MIN_RESET || bit == MLC_RLH_DAY_RESET) && val < 100000000000LL)
        val *= 1000; /* seconds (EXDOTNET's reading); Exact's KB and samples use ms */
    switch (bit) {
    case MLC_RLH_MIN_LIMIT: h->min_limit = val; break;
    case MLC_RLH_MIN_REMAINING: h->min_remaining = val; break;
    case MLC_RLH_MIN_RESET: h->min_reset_ms = val; break;
    case MLC_RLH_DAY_LIMIT: h->day_limit = val; break;
    case MLC_RLH_DAY_REMAINING: h->day_remaining = val; break;
    case MLC_RLH_DAY_RESET: h->day_reset_ms = val; break;
    default: h->retry_after_s = val; break;
    }
    h->present |= bit;
    return 1;
}

/* ---- error guard ---- */

static void key_copy(char *dst, const char *src)
{
    size_t n = strnlen(src, MLC_RL_ENDPOINT_MAX - 1);
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        dst[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c; /* Exact paths ignore case */
    }
    dst[n] = '\0';
}

static struct mlc_errguard_entry *guard_find(const struct mlc_errguard *g, const char *endpoint)
{
    char key[MLC_RL_ENDPOINT_MAX];
    key_copy(key, endpoint);
    for (size_t i = 0; i < MLC_RL_GUARD_ENDPOINTS; i++)
        if (g->e[i].n && strcmp(g->e[i].endpoint, key) == 0)
            return (struct mlc_errguard_entry *)&g->e[i];
    return NULL;
}

static int64_t newest(const struct mlc_errguard_entry *e)
{
    return e->at[(e->head + MLC_RL_GUARD_ERRORS - 1) % MLC_RL_GUARD_ERRORS];
}

void mlc_errguard_record(struct mlc_errguard *g, const char *endpoint, int64_t now)
{
    if (!g || !endpoint)
        return;
    struct mlc_errguard_entry *e = guard_find(g, endpoint);
    if (!e) {
        /* A free slot, else the one whose newest error is oldest (least useful to keep). */
        e = &g->e[0];
        for (size_t i = 0; i < MLC_RL_GUARD_ENDPOINTS; i++) {
            struct mlc_errguard_entry *c = &g->e[i];
            if (c->n == 0 || now - newest(c) >= MLC_RL_GUARD_WINDOW_MS) {
                e = c;
                break;
            }
            if (newest(c) < newest(e))
                e = c;
        }
        memset(e, 0, sizeof(*e));
        key_copy(e->endpoint, endpoint);
    }
    e->at[e->head] = now;
    e->head = (e->head + 1) % MLC_RL_GUARD_ERRORS;
    if (e->n < MLC_RL_GUARD_ERRORS)
        e->n++;
}

int64_t mlc_errguard_check(const struct mlc_errguard *g, const char *endpoint, int64_t now)
{
    if (!g || !endpoint)
        return 0;
    const struct mlc_errguard_entry *e = guard_find(g, endpoint);
    if (!e || e->n < MLC_RL_GUARD_ERRORS)
        return 0;
    /* The ring is full: its oldest entry is the 5th newest error. While that one is less than an
     * hour old, 5 errors lie within the last hour. */
    int64_t oldest = e->at[e->head];
    int64_t clears = oldest + MLC_RL_GUARD_WINDOW_MS;
    return now < clears ? clears : 0;
}

/* ---- governor ---- */

void mlc_ratelimit_init(struct mlc_ratelimit *rl)
{
    memset(rl, 0, sizeof(*rl));
    rl->min_limit = rl->min_remaining = MLC_RL_DEFAULT_MINUTELY;
    rl->day_limit = rl->day_remaining = MLC_RL_DEFAULT_DAILY;
}

/* The budget in effect at now: windows whose reset has passed start again in full. */
struct view {
    int64_t min_rem, min_reset, day_rem, day_reset;
    int64_t not_before; /* just after a reset by our clock: wait MLC_RL_MARGIN_MS */
};

static void view(const struct mlc_ratelimit *rl, int64_t now, struct view *v)
{
    v->not_before = 0;
    if (rl->min_reset_ms > now) {
        v->min_rem = rl->min_remaining;
        v->min_reset = rl->min_reset_ms;
    } else if (rl->min_reset_ms > 0) {
        /* Exact's windows are fixed: the next ones follow every 60 s after a known reset. */
        int64_t k = (now - rl->min_reset_ms) / MLC_RL_WINDOW_MS + 1;
        v->min_rem = rl->min_limit;
        v->min_reset = rl->min_reset_ms + k * MLC_RL_WINDOW_MS;
        if (rl->min_from_server)
            v->not_before = v->min_reset - MLC_RL_WINDOW_MS + MLC_RL_MARGIN_MS + rl->ahead_ms;
    } else {
        /* Never seen a reset: assume windows on the whole minute (Exact's samples are). */
        v->min_rem = rl->min_remaining;
        v->min_reset = (now / MLC_RL_WINDOW_MS + 1) * MLC_RL_WINDOW_MS;
    }
    if (rl->day_reset_ms > now) {
        v->day_rem = rl->day_remaining;
        v->day_reset = rl->day_reset_ms;
    } else {
        /* The daily window starts at UTC midnight (KB-limits; OSSO sample values). */
        v->day_rem = rl->day_reset_ms > 0 ? rl->day_limit : rl->day_remaining;
        v->day_reset = (now / DAY_MS + 1) * DAY_MS;
        if (rl->day_reset_ms > 0)
            v->not_before = max64(v->not_before, rl->day_reset_ms + MLC_RL_MARGIN_MS);
    }
}

int64_t mlc_ratelimit_check(const struct mlc_ratelimit *rl, int64_t now)
{
    struct view v;
    view(rl, now, &v);
    int64_t at = max64(now, max64(v.not_before, rl->not_before_ms));
    at = max64(at, rl->blocked_until_ms);
    if (v.day_rem <= 0)
        at = max64(at, v.day_reset + MLC_RL_MARGIN_MS);
    if (v.min_rem <= 0) {
        at = max64(at, v.min_reset + MLC_RL_MARGIN_MS + rl->ahead_ms);
    } else {
        /* Spread the remaining calls evenly up to the reset, allowing a small burst ahead of
         * that schedule: call k of the rest goes no earlier than reset - (rest + burst) steps. */
        int64_t step = MLC_RL_WINDOW_MS / (rl->min_limit > 0 ? rl->min_limit : 1);
        if (step < 1)
            step = 1;
        at = max64(at, v.min_reset - (v.min_rem + MLC_RL_BURST) * step);
    }
    return at > now ? at : 0;
}

int64_t mlc_ratelimit_check_endpoint(const struct mlc_ratelimit *rl, const char *endpoint,
                                     int64_t now)
{
    int64_t a = mlc_ratelimit_check(rl, now);
    int64_t b = mlc_errguard_check(&rl->guard, endpoint, now);
    return max64(a, b);
}

/* Makes rolled-over windows part of the state, so local counting continues from them. */
static void materialize(struct mlc_ratelimit *rl, int64_t now)
{
    struct view v;
    view(rl, now, &v);
    if (v.not_before > rl->not_before_ms) /* keep the guard after a reset once it is rolled */
        rl->not_before_ms = v.not_before;
    rl->min_remaining = v.min_rem;
    rl->min_reset_ms = v.min_reset;
    rl->day_remaining = v.day_rem;
    rl->day_reset_ms = v.day_reset;
}

void mlc_ratelimit_on_send(struct mlc_ratelimit *rl, int64_t now)
{
    materialize(rl, now);
    rl->last_send_ms = now;
    if (rl->min_remaining > 0)
        rl->min_remaining--;
    if (rl->day_remaining > 0)
        rl->day_remaining--;
}

#define COUNT_MAX 10000000LL

void mlc_ratelimit_on_response(struct mlc_ratelimit *rl, int status,
                               const struct mlc_ratelimit_headers *h, int64_t now)
{
    materialize(rl, now);
    unsigned p = h ? h->present : 0;
    if ((p & MLC_RLH_MIN_LIMIT) && h->min_limit >= 1 && h->min_limit <= COUNT_MAX)
        rl->min_limit = h->min_limit;
    if ((p & MLC_RLH_DAY_LIMIT) && h->day_limit >= 1 && h->day_limit <= COUNT_MAX)
        rl->day_limit = h->day_limit;
    /* Resets are outside input: one far away would stall the agent, so implausible ones are
     * ignored (a minute window ends within minutes, a day window within a day or two). */
    if ((p & MLC_RLH_MIN_RESET) && h->min_reset_ms > now - DAY_MS &&
        h->min_reset_ms <= now + 5 * MLC_RL_WINDOW_MS) {
        /* Exact answered within a window that ends at this reset, yet our clock has passed it:
         * our clock runs ahead of Exact's. Learn (generously) by how much, so later windows are
         * not entered before Exact has really reset them. */
        int64_t sent = rl->last_send_ms > 0 && rl->last_send_ms <= now ? rl->last_send_ms : now;
        if (h->min_reset_ms < sent) {
            /* Judged by the send time, not the answer's arrival: a slow answer that crossed the
             * reset proves nothing about the clocks. */
            int64_t a = 2 * (sent - h->min_reset_ms) + MLC_RL_MARGIN_MS;
            if (a > MLC_RL_AHEAD_MAX_MS)
                a = MLC_RL_AHEAD_MAX_MS;
            if (a > rl->ahead_ms)
                rl->ahead_ms = a;
        }
        rl->min_reset_ms = h->min_reset_ms;
        rl->min_from_server = 1;
    }
    if ((p & MLC_RLH_DAY_RESET) && h->day_reset_ms > now - 2 * DAY_MS &&
        h->day_reset_ms <= now + 2 * DAY_MS)
        rl->day_reset_ms = h->day_reset_ms;
    if ((p & MLC_RLH_MIN_REMAINING) && h->min_remaining >= 0)
        rl->min_remaining = h->min_remaining < rl->min_limit ? h->min_remaining : rl->min_limit;
    if ((p & MLC_RLH_DAY_REMAINING) && h->day_remaining >= 0)
        rl->day_remaining = h->day_remaining < rl->day_limit ? h->day_remaining : rl->day_limit;

    if (status == 429) {
        rl->min_remaining = 0;
        /* Without a reset from Exact our window was only a guess, and it was wrong: wait a
         * whole window from now. */
        if (rl->min_reset_ms <= 0 || !rl->min_from_server)
            rl->min_reset_ms = now + MLC_RL_WINDOW_MS;
        int64_t until = max64(rl->min_reset_ms + MLC_RL_MARGIN_MS + rl->ahead_ms,
                              now + MLC_RL_MARGIN_MS);
        if ((p & MLC_RLH_RETRY_AFTER) && h->retry_after_s <= 86400)
            until = max64(until, now + h->retry_after_s * 1000);
        if (rl->day_remaining <= 0 && rl->day_reset_ms > now)
            until = max64(until, rl->day_reset_ms + MLC_RL_MARGIN_MS);
        rl->blocked_until_ms = until;
    }
}

void mlc_ratelimit_on_error(struct mlc_ratelimit *rl, const char *endpoint, int64_t now)
{
    mlc_errguard_record(&rl->guard, endpoint, now);
}

enum mlc_ratelimit_state mlc_ratelimit_state(const struct mlc_ratelimit *rl, int64_t now)
{
    struct view v;
    view(rl, now, &v);
    if (v.day_rem <= 0)
        return MLC_RL_DEFERRED_DAY;
    if (rl->blocked_until_ms > now)
        return MLC_RL_BLOCKED;
    if (v.min_rem <= 0)
        return MLC_RL_MINUTE_WAIT;
    return mlc_ratelimit_check(rl, now) ? MLC_RL_PACING : MLC_RL_READY;
}

const char *mlc_ratelimit_state_name(enum mlc_ratelimit_state s)
{
    static const char *const names[] = { "ready", "pacing", "minute limit reached",
                                         "rate limited (429)", "deferred to next day" };
    if ((unsigned)s < sizeof(names) / sizeof(names[0]))
        return names[s];
    return "unknown";
}
