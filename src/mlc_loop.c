#include "mlc_loop.h"
#include "mlc_alloc.h"
#include "mlc_err.h"
#include "mlc_log.h"
#include "mlc_platform.h"
#include "mlc_signal.h"

#include <errno.h>
#include <limits.h>
/* poll() is POSIX and this module is the one place that waits on the OS; a platform wrapper
 * would only rename it. */
#include <poll.h>
#include <string.h>

struct loop_timer {
    uint64_t id;        /* 0 = free slot */
    int64_t due;
    int64_t interval;   /* 0 = one-shot */
    uint64_t ran_step;  /* step in which it last ran: a repeating timer runs at most once a step */
    unsigned flags;
    mlc_timer_fn cb;
    void *ud;
};

struct loop_watch {
    uint64_t id;        /* 0 = free slot */
    int fd;
    unsigned events;
    unsigned flags;
    mlc_fd_fn cb;
    void *ud;
};

enum loop_state { LOOP_RUNNING, LOOP_DRAINING, LOOP_STOPPED };

struct mlc_loop {
    struct mlc_clock clock;
    struct loop_timer timers[MLC_LOOP_MAX_TIMERS];
    struct loop_watch watches[MLC_LOOP_MAX_FDS];
    struct {
        const struct mlc_loop_drainer *ops;
        void *ud;
    } drainers[MLC_LOOP_MAX_DRAINERS];
    uint64_t next_id;
    uint64_t step;
    int stop;               /* mlc_loop_stop: leave mlc_loop_run after the callback in hand */
    int shutdown_req;       /* mlc_loop_shutdown: same as a stop signal */
    enum loop_state state;
    int64_t drain_ms;
    int64_t drain_deadline;
    int sig_fd;             /* self-pipe when this loop owns the signals, else -1 */
    mlc_reload_fn reload;
    void *reload_ud;
    /* Per-step scratch for poll(), kept here so a step allocates nothing. */
    struct pollfd pfd[MLC_LOOP_MAX_FDS + 1];
    uint64_t pfd_id[MLC_LOOP_MAX_FDS + 1];
};

static int64_t mono_now(void *ud)
{
    (void)ud;
    return mlc_time_mono_ms();
}

int mlc_loop_new(const struct mlc_clock *clock, struct mlc_loop **out)
{
    *out = NULL;
    struct mlc_loop *loop = mlc_calloc(1, sizeof(*loop));
    if (!loop)
        return MLC_ERR_NOMEM;
    if (clock && clock->now_ms)
        loop->clock = *clock;
    else
        loop->clock.now_ms = mono_now;
    loop->next_id = 1;
    loop->drain_ms = MLC_LOOP_DRAIN_MS_DEFAULT;
    loop->sig_fd = -1;
    loop->state = LOOP_RUNNING;
    *out = loop;
    return MLC_OK;
}

void mlc_loop_free(struct mlc_loop *loop)
{
    if (!loop)
        return;
    if (loop->sig_fd >= 0)
        mlc_signal_uninstall();
    mlc_free(loop);
}

int64_t mlc_loop_now(struct mlc_loop *loop)
{
    return loop->clock.now_ms(loop->clock.ud);
}

void mlc_loop_stop(struct mlc_loop *loop) { loop->stop = 1; }
void mlc_loop_shutdown(struct mlc_loop *loop) { loop->shutdown_req = 1; }
int mlc_loop_stopping(const struct mlc_loop *loop)
{
    return loop->state != LOOP_RUNNING || loop->shutdown_req;
}
void mlc_loop_set_drain_ms(struct mlc_loop *loop, int64_t ms) { loop->drain_ms = ms < 0 ? 0 : ms; }

/* ---- timers ---- */

static struct loop_timer *timer_find(struct mlc_loop *loop, uint64_t id)
{
    if (id == 0)
        return NULL;
    for (int i = 0; i < MLC_LOOP_MAX_TIMERS; i++)
        if (loop->timers[i].id == id)
            return &loop->timers[i];
    return NULL;
}

int mlc_loop_timer_add(struct mlc_loop *loop, int64_t delay_ms, int64_t interval_ms, unsigned flags,
                       mlc_timer_fn cb, void *ud, uint64_t *id)
{
    if (id)
        *id = 0;
    if (!cb)
        return MLC_ERR_INTERNAL;
    for (int i = 0; i < MLC_LOOP_MAX_TIMERS; i++) {
        struct loop_timer *t = &loop->timers[i];
        if (t->id)
            continue;
        t->id = loop->next_id++;
        t->due = mlc_loop_now(loop) + (delay_ms > 0 ? delay_ms : 0);
        t->interval = interval_ms > 0 ? interval_ms : 0;
        t->ran_step = 0;
        t->flags = flags;
        t->cb = cb;
        t->ud = ud;
        if (id)
            *id = t->id;
        return MLC_OK;
    }
    MLC_LOG_ERR("loop", "timer_table_full max=%d", MLC_LOOP_MAX_TIMERS);
    return MLC_ERR_TOO_BIG;
}

int mlc_loop_timer_reset(struct mlc_loop *loop, uint64_t id, int64_t delay_ms)
{
    struct loop_timer *t = timer_find(loop, id);
    if (!t)
        return MLC_ERR_NOTFOUND;
    t->due = mlc_loop_now(loop) + (delay_ms > 0 ? delay_ms : 0);
    return MLC_OK;
}

int mlc_loop_timer_cancel(struct mlc_loop *loop, uint64_t id)
{
    struct loop_timer *t = timer_find(loop, id);
    if (!t)
        return MLC_ERR_NOTFOUND;
    memset(t, 0, sizeof(*t));
    return MLC_OK;
}

/* ---- fd watchers ---- */

static struct loop_watch *watch_find(struct mlc_loop *loop, uint64_t id)
{
    if (id == 0)
        return NULL;
    for (int i = 0; i < MLC_LOOP_MAX_FDS; i++)
        if (loop->watches[i].id == id)
            return &loop->watches[i];
    return NULL;
}

int mlc_loop_fd_add(struct mlc_loop *loop, int fd, unsigned events, unsigned flags, mlc_fd_fn cb,
                    void *ud, uint64_t *id)
{
    if (id)
        *id = 0;
    if (fd < 0 || !cb)
        return MLC_ERR_INTERNAL;
    for (int i = 0; i < MLC_LOOP_MAX_FDS; i++) {
        struct loop_watch *w = &loop->watches[i];
        if (w->id)
            continue;
        w->id = loop->next_id++;
        w->fd = fd;
        w->events = events & (MLC_LOOP_READ | MLC_LOOP_WRITE);
        w->flags = flags;
        w->cb = cb;
        w->ud = ud;
        if (id)
            *id = w->id;
        return MLC_OK;
    }
    MLC_LOG_ERR("loop", "fd_table_full max=%d", MLC_LOOP_MAX_FDS);
    return MLC_ERR_TOO_BIG;
}

int mlc_loop_fd_modify(struct mlc_loop *loop, uint64_t id, unsigned events)
{
    struct loop_watch *w = watch_find(loop, id);
    if (!w)
        return MLC_ERR_NOTFOUND;
    w->events = events & (MLC_LOOP_READ | MLC_LOOP_WRITE);
    return MLC_OK;
}

int mlc_loop_fd_remove(struct mlc_loop *loop, uint64_t id)
{
    struct loop_watch *w = watch_find(loop, id);
    if (!w)
        return MLC_ERR_NOTFOUND;
    memset(w, 0, sizeof(*w));
    return MLC_OK;
}

/* ---- signals and draining ---- */

int mlc_loop_handle_signals(struct mlc_loop *loop, mlc_reload_fn reload, void *ud)
{
    if (loop->sig_fd < 0) {
        int rc = mlc_signal_install(&loop->sig_fd);
        if (rc != MLC_OK) {
            loop->sig_fd = -1;
            return rc;
        }
    }
    loop->reload = reload;
    loop->reload_ud = ud;
    return MLC_OK;
}

int mlc_loop_drainer_add(struct mlc_loop *loop, const struct mlc_loop_drainer *ops, void *ud)
{
    for (int i = 0; i < MLC_LOOP_MAX_DRAINERS; i++) {
        if (loop->drainers[i].ops)
            continue;
        loop->drainers[i].ops = ops;
        loop->drainers[i].ud = ud;
        return MLC_OK;
    }
    return MLC_ERR_TOO_BIG;
}

void mlc_loop_drainer_remove(struct mlc_loop *loop, void *ud)
{
    for (int i = 0; i < MLC_LOOP_MAX_DRAINERS; i++) {
        if (loop->drainers[i].ops && loop->drainers[i].ud == ud) {
            loop->drainers[i].ops = NULL;
            loop->drainers[i].ud = NULL;
        }
    }
}

static int drain_busy(struct mlc_loop *loop)
{
    for (int i = 0; i < MLC_LOOP_MAX_DRAINERS; i++)
        if (loop->drainers[i].ops && loop->drainers[i].ops->busy(loop->drainers[i].ud))
            return 1;
    return 0;
}

static void begin_drain(struct mlc_loop *loop)
{
    loop->state = LOOP_DRAINING;
    loop->drain_deadline = mlc_loop_now(loop) + loop->drain_ms;
    MLC_LOG_INF("loop", "stopping drain_ms=%lld", (long long)loop->drain_ms);
    for (int i = 0; i < MLC_LOOP_MAX_DRAINERS; i++)
        if (loop->drainers[i].ops && loop->drainers[i].ops->begin)
            loop->drainers[i].ops->begin(loop->drainers[i].ud);
}

/* Ends a drain when nothing is in flight any more or the deadline passed. */
static void maybe_finish_drain(struct mlc_loop *loop)
{
    if (loop->state != LOOP_DRAINING)
        return;
    int busy = drain_busy(loop);
    if (busy && mlc_loop_now(loop) < loop->drain_deadline)
        return;
    if (busy)
        MLC_LOG_WRN("loop", "drain_deadline_passed cancelling=in-flight");
    for (int i = 0; i < MLC_LOOP_MAX_DRAINERS; i++)
        if (loop->drainers[i].ops && loop->drainers[i].ops->cancel)
            loop->drainers[i].ops->cancel(loop->drainers[i].ud);
    loop->state = LOOP_STOPPED;
}

/* Takes pending signals (and mlc_loop_shutdown requests) and acts on them.
 * Returns how many callbacks ran. */
static int handle_signals(struct mlc_loop *loop)
{
    unsigned bits = loop->sig_fd >= 0 ? mlc_signal_take() : 0;
    int ran = 0;
    if (loop->shutdown_req) {
        loop->shutdown_req = 0;
        bits |= MLC_SIG_STOP;
    }
    if (bits & MLC_SIG_STOP) {
        if (loop->state == LOOP_RUNNING)
            begin_drain(loop);
        else if (loop->state == LOOP_DRAINING)
            loop->drain_deadline = mlc_loop_now(loop); /* asked twice: do not wait any longer */
    }
    if ((bits & MLC_SIG_RELOAD) && loop->state == LOOP_RUNNING) {
        MLC_LOG_INF("loop", "reload_requested");
        if (loop->reload) {
            loop->reload(loop, loop->reload_ud);
            ran++;
        }
    }
    return ran;
}

/* After each callback: should the step end here (the callback in hand has completed)? */
static int must_break(struct mlc_loop *loop)
{
    if (loop->stop || loop->shutdown_req)
        return 1;
    return loop->state == LOOP_RUNNING && loop->sig_fd >= 0 &&
           (mlc_signal_pending() & MLC_SIG_STOP);
}

static int eligible(const struct mlc_loop *loop, unsigned flags)
{
    return loop->state == LOOP_RUNNING || (flags & MLC_LOOP_F_DRAIN);
}

/* The next due timer: earliest due time, then lowest id (creation order). */
static struct loop_timer *next_timer(struct mlc_loop *loop, int64_t now, uint64_t max_id,
                                     int due_only)
{
    struct loop_timer *best = NULL;
    for (int i = 0; i < MLC_LOOP_MAX_TIMERS; i++) {
        struct loop_timer *t = &loop->timers[i];
        if (!t->id || t->id > max_id || !eligible(loop, t->flags) || t->ran_step == loop->step)
            continue;
        if (due_only && t->due > now)
            continue;
        if (!best || t->due < best->due || (t->due == best->due && t->id < best->id))
            best = t;
    }
    return best;
}

static int step(struct mlc_loop *loop, int timeout_ms)
{
    int ran = 0;
    if (loop->state == LOOP_STOPPED)
        return MLC_ERR_CANCELLED;
    loop->step++;
    ran += handle_signals(loop);
    maybe_finish_drain(loop);
    if (loop->state == LOOP_STOPPED)
        return ran;

    int64_t now = mlc_loop_now(loop);
    int64_t wait = timeout_ms < 0 ? -1 : timeout_ms;
    struct loop_timer *t = next_timer(loop, now, UINT64_MAX, 0);
    if (t) {
        int64_t d = t->due > now ? t->due - now : 0;
        if (wait < 0 || d < wait)
            wait = d;
    }
    if (loop->state == LOOP_DRAINING) {
        int64_t d = loop->drain_deadline > now ? loop->drain_deadline - now : 0;
        if (wait < 0 || d < wait)
            wait = d;
    }
    if (ran > 0)
        wait = 0; /* a reload already ran: report it now, do not sleep first */
    if (wait > INT_MAX)
        wait = INT_MAX;

    nfds_t n = 0;
    if (loop->sig_fd >= 0) {
        loop->pfd[n].fd = loop->sig_fd;
        loop->pfd[n].events = POLLIN;
        loop->pfd_id[n] = 0;
        n++;
    }
    for (int i = 0; i < MLC_LOOP_MAX_FDS; i++) {
        struct loop_watch *w = &loop->watches[i];
        if (!w->id || !eligible(loop, w->flags))
            continue;
        loop->pfd[n].fd = w->fd;
        loop->pfd[n].events = (short)(((w->events & MLC_LOOP_READ) ? POLLIN : 0) |
                                      ((w->events & MLC_LOOP_WRITE) ? POLLOUT : 0));
        loop->pfd_id[n] = w->id;
        n++;
    }
    if (n == 0 && wait < 0)
        return ran; /* nothing could ever wake us */

    int ready = poll(loop->pfd, n, (int)wait);
    if (ready < 0) {
        if (errno != EINTR) {
            MLC_LOG_ERR("loop", "poll_failed errno=%d", errno);
            return MLC_ERR_IO;
        }
        ready = 0;
    }
    ran += handle_signals(loop);

    for (nfds_t i = 0; ready > 0 && i < n && !must_break(loop); i++) {
        if (!loop->pfd[i].revents || loop->pfd_id[i] == 0)
            continue;
        /* The watcher may have been removed or changed by an earlier callback of this step. */
        struct loop_watch *w = watch_find(loop, loop->pfd_id[i]);
        if (!w || !eligible(loop, w->flags))
            continue;
        short re = loop->pfd[i].revents;
        unsigned ev = 0;
        if (re & POLLIN)
            ev |= MLC_LOOP_READ;
        if (re & POLLOUT)
            ev |= MLC_LOOP_WRITE;
        ev &= w->events;
        if (re & (POLLERR | POLLHUP | POLLNVAL))
            ev |= MLC_LOOP_ERROR;
        if (!ev)
            continue;
        w->cb(loop, w->id, w->fd, ev, w->ud);
        ran++;
    }

    /* Timers added by this step's callbacks wait for the next step, so a zero-delay timer that
     * re-arms itself cannot starve the poll. */
    uint64_t max_id = loop->next_id - 1;
    while (!must_break(loop)) {
        now = mlc_loop_now(loop);
        t = next_timer(loop, now, max_id, 1);
        if (!t)
            break;
        uint64_t id = t->id;
        mlc_timer_fn cb = t->cb;
        void *ud = t->ud;
        if (t->interval) {
            t->ran_step = loop->step;
            t->due += t->interval;
            if (t->due <= now)
                t->due = now + t->interval; /* fell behind: skip missed beats, no burst */
        } else {
            memset(t, 0, sizeof(*t)); /* gone before its callback runs: cancel is a no-op */
        }
        cb(loop, id, ud);
        ran++;
    }

    ran += handle_signals(loop);
    maybe_finish_drain(loop);
    return ran;
}

int mlc_loop_run_once(struct mlc_loop *loop, int timeout_ms)
{
    int rc = step(loop, timeout_ms);
    if (rc >= 0 && loop->state == LOOP_STOPPED && rc == 0)
        return MLC_ERR_CANCELLED;
    return rc;
}

static int has_work(struct mlc_loop *loop)
{
    if (loop->sig_fd >= 0 || loop->state == LOOP_DRAINING || loop->shutdown_req)
        return 1;
    for (int i = 0; i < MLC_LOOP_MAX_TIMERS; i++)
        if (loop->timers[i].id)
            return 1;
    for (int i = 0; i < MLC_LOOP_MAX_FDS; i++)
        if (loop->watches[i].id)
            return 1;
    return 0;
}

int mlc_loop_run(struct mlc_loop *loop)
{
    loop->stop = 0;
    while (!loop->stop) {
        if (loop->state == LOOP_STOPPED)
            return MLC_ERR_CANCELLED;
        if (!has_work(loop))
            return MLC_OK;
        int rc = step(loop, -1);
        if (rc < 0 && rc != MLC_ERR_CANCELLED)
            return rc;
    }
    loop->stop = 0;
    return loop->state == LOOP_STOPPED ? MLC_ERR_CANCELLED : MLC_OK;
}
