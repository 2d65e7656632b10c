#include "mlc_test_util.h"
#include "mlc_err.h"
#include "mlc_loop.h"
#include "mlc_platform.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

/* ---- an injected clock: tests move time, nothing sleeps ---- */

static int64_t fake_now;
static int64_t fake_clock(void *ud)
{
    (void)ud;
    return fake_now;
}
static const struct mlc_clock fake = { fake_clock, NULL };

static struct {
    char order[64];
    int n;
} g_trace;

static void record_timer(struct mlc_loop *loop, uint64_t id, void *ud)
{
    (void)loop;
    (void)id;
    g_trace.order[g_trace.n++] = ((const char *)ud)[0];
}

static void timers_fire_in_due_order(void **state)
{
    (void)state;
    struct mlc_loop *loop;
    fake_now = 1000;
    memset(&g_trace, 0, sizeof(g_trace));
    assert_int_equal(mlc_loop_new(&fake, &loop), MLC_OK);
    assert_int_equal(mlc_loop_timer_add(loop, 30, 0, 0, record_timer, (void *)"A", NULL), MLC_OK);
    assert_int_equal(mlc_loop_timer_add(loop, 10, 0, 0, record_timer, (void *)"B", NULL), MLC_OK);
    assert_int_equal(mlc_loop_timer_add(loop, 20, 0, 0, record_timer, (void *)"C", NULL), MLC_OK);
    assert_int_equal(mlc_loop_timer_add(loop, 10, 0, 0, record_timer, (void *)"D", NULL), MLC_OK);

    fake_now = 1009;
    assert_int_equal(mlc_loop_run_once(loop, 0), 0);
    assert_string_equal(g_trace.order, "");
    fake_now = 1020;
    assert_int_equal(mlc_loop_run_once(loop, 0), 3);
    assert_string_equal(g_trace.order, "BDC"); /* same due time: creation order */
    fake_now = 5000;
    assert_int_equal(mlc_loop_run_once(loop, 0), 1);
    assert_string_equal(g_trace.order, "BDCA");
    assert_int_equal(mlc_loop_run_once(loop, 0), 0); /* one-shots are gone */
    mlc_loop_free(loop);
}

static int beats;
static void beat(struct mlc_loop *loop, uint64_t id, void *ud)
{
    (void)loop; (void)id; (void)ud;
    beats++;
}

static void repeating_timer_no_burst_and_cancel(void **state)
{
    (void)state;
    struct mlc_loop *loop;
    uint64_t id, once;
    fake_now = 0;
    beats = 0;
    assert_int_equal(mlc_loop_new(&fake, &loop), MLC_OK);
    assert_int_equal(mlc_loop_timer_add(loop, 10, 10, 0, beat, NULL, &id), MLC_OK);
    fake_now = 10;
    mlc_loop_run_once(loop, 0);
    assert_int_equal(beats, 1);
    fake_now = 19;
    mlc_loop_run_once(loop, 0);
    assert_int_equal(beats, 1);
    fake_now = 20;
    mlc_loop_run_once(loop, 0);
    assert_int_equal(beats, 2);
    /* The machine slept for a long time: one beat, not a burst of the missed ones. */
    fake_now = 1000;
    mlc_loop_run_once(loop, 0);
    mlc_loop_run_once(loop, 0);
    assert_int_equal(beats, 3);
    fake_now = 1010;
    mlc_loop_run_once(loop, 0);
    assert_int_equal(beats, 4);
    assert_int_equal(mlc_loop_timer_cancel(loop, id), MLC_OK);
    fake_now = 5000;
    mlc_loop_run_once(loop, 0);
    assert_int_equal(beats, 4);
    assert_int_equal(mlc_loop_timer_cancel(loop, id), MLC_ERR_NOTFOUND);

    /* A one-shot that fired is gone; reset moves a pending one. */
    assert_int_equal(mlc_loop_timer_add(loop, 5, 0, 0, beat, NULL, &once), MLC_OK);
    assert_int_equal(mlc_loop_timer_reset(loop, once, 50), MLC_OK);
    fake_now = 5010;
    mlc_loop_run_once(loop, 0);
    assert_int_equal(beats, 4);
    fake_now = 5050;
    mlc_loop_run_once(loop, 0);
    assert_int_equal(beats, 5);
    assert_int_equal(mlc_loop_timer_cancel(loop, once), MLC_ERR_NOTFOUND);
    mlc_loop_free(loop);
}

static uint64_t victim;
static int victim_ran;
static void canceller(struct mlc_loop *loop, uint64_t id, void *ud)
{
    (void)id; (void)ud;
    assert_int_equal(mlc_loop_timer_cancel(loop, victim), MLC_OK);
}
static void victim_cb(struct mlc_loop *loop, uint64_t id, void *ud)
{
    (void)loop; (void)id; (void)ud;
    victim_ran = 1;
}

static void timer_cancelled_by_earlier_callback_does_not_run(void **state)
{
    (void)state;
    struct mlc_loop *loop;
    fake_now = 0;
    victim_ran = 0;
    assert_int_equal(mlc_loop_new(&fake, &loop), MLC_OK);
    assert_int_equal(mlc_loop_timer_add(loop, 10, 0, 0, canceller, NULL, NULL), MLC_OK);
    assert_int_equal(mlc_loop_timer_add(loop, 10, 0, 0, victim_cb, NULL, &victim), MLC_OK);
    fake_now = 10;
    assert_int_equal(mlc_loop_run_once(loop, 0), 1);
    assert_int_equal(victim_ran, 0);
    mlc_loop_free(loop);
}

static void fd_cb_noop(struct mlc_loop *loop, uint64_t id, int fd, unsigned revents, void *ud)
{
    (void)loop; (void)id; (void)fd; (void)revents; (void)ud;
}

static void tables_are_capped(void **state)
{
    (void)state;
    struct mlc_loop *loop;
    uint64_t id;
    assert_int_equal(mlc_loop_new(&fake, &loop), MLC_OK);
    for (int i = 0; i < MLC_LOOP_MAX_TIMERS; i++)
        assert_int_equal(mlc_loop_timer_add(loop, 10, 0, 0, beat, NULL, &id), MLC_OK);
    assert_int_equal(mlc_loop_timer_add(loop, 10, 0, 0, beat, NULL, NULL), MLC_ERR_TOO_BIG);
    assert_int_equal(mlc_loop_timer_cancel(loop, id), MLC_OK);
    assert_int_equal(mlc_loop_timer_add(loop, 10, 0, 0, beat, NULL, NULL), MLC_OK);
    for (int i = 0; i < MLC_LOOP_MAX_FDS; i++)
        assert_int_equal(mlc_loop_fd_add(loop, 0, MLC_LOOP_READ, 0, fd_cb_noop, NULL, &id), MLC_OK);
    assert_int_equal(mlc_loop_fd_add(loop, 0, MLC_LOOP_READ, 0, fd_cb_noop, NULL, NULL),
                     MLC_ERR_TOO_BIG);
    assert_int_equal(mlc_loop_fd_remove(loop, id), MLC_OK);
    assert_int_equal(mlc_loop_fd_add(loop, 0, MLC_LOOP_READ, 0, fd_cb_noop, NULL, NULL), MLC_OK);
    mlc_loop_free(loop);
}

struct fd_seen {
    int calls;
    unsigned revents;
    int fd;
};
static void fd_cb(struct mlc_loop *loop, uint64_t id, int fd, unsigned revents, void *ud)
{
    (void)loop; (void)id;
    struct fd_seen *s = ud;
    s->calls++;
    s->revents = revents;
    s->fd = fd;
    char b[16];
    if (revents & MLC_LOOP_READ)
        assert_true(read(fd, b, sizeof(b)) > 0);
}

static void fd_watcher_fires_on_readiness(void **state)
{
    (void)state;
    struct mlc_loop *loop;
    int p[2];
    uint64_t id;
    struct fd_seen seen = { 0, 0, -1 };
    assert_int_equal(pipe(p), 0);
    assert_int_equal(mlc_loop_new(NULL, &loop), MLC_OK);
    assert_int_equal(mlc_loop_fd_add(loop, p[0], MLC_LOOP_READ, 0, fd_cb, &seen, &id), MLC_OK);
    assert_int_equal(mlc_loop_run_once(loop, 0), 0);
    assert_int_equal(seen.calls, 0);
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(mlc_loop_run_once(loop, 1000), 1);
    assert_int_equal(seen.calls, 1);
    assert_int_equal(seen.fd, p[0]);
    assert_true(seen.revents & MLC_LOOP_READ);

    /* Watching no events: readable data does not wake it. */
    assert_int_equal(mlc_loop_fd_modify(loop, id, 0), MLC_OK);
    assert_int_equal(write(p[1], "y", 1), 1);
    assert_int_equal(mlc_loop_run_once(loop, 0), 0);
    assert_int_equal(mlc_loop_fd_modify(loop, id, MLC_LOOP_READ), MLC_OK);
    assert_int_equal(mlc_loop_run_once(loop, 0), 1);
    assert_int_equal(seen.calls, 2);

    /* The write end is writable at once. */
    struct fd_seen wseen = { 0, 0, -1 };
    uint64_t wid;
    assert_int_equal(mlc_loop_fd_add(loop, p[1], MLC_LOOP_WRITE, 0, fd_cb, &wseen, &wid), MLC_OK);
    assert_int_equal(mlc_loop_run_once(loop, 0), 1);
    assert_true(wseen.revents & MLC_LOOP_WRITE);
    assert_int_equal(mlc_loop_fd_remove(loop, wid), MLC_OK);

    assert_int_equal(mlc_loop_fd_remove(loop, id), MLC_OK);
    assert_int_equal(write(p[1], "z", 1), 1);
    assert_int_equal(mlc_loop_run_once(loop, 0), 0);
    assert_int_equal(seen.calls, 2);
    assert_int_equal(mlc_loop_fd_remove(loop, id), MLC_ERR_NOTFOUND);
    mlc_loop_free(loop);
    close(p[0]);
    close(p[1]);
}

/* curl closes and opens sockets inside callbacks: a watcher removed by an earlier callback of the
 * same step must not fire with the stale readiness. */
struct pair {
    uint64_t other;
    int calls;
};
static void removes_other(struct mlc_loop *loop, uint64_t id, int fd, unsigned revents, void *ud)
{
    (void)id; (void)fd; (void)revents;
    struct pair *p = ud;
    p->calls++;
    mlc_loop_fd_remove(loop, p->other);
}

static void watcher_removed_mid_step_does_not_fire(void **state)
{
    (void)state;
    struct mlc_loop *loop;
    int a[2], b[2];
    struct pair pa = { 0, 0 }, pb = { 0, 0 };
    uint64_t ida, idb;
    assert_int_equal(pipe(a), 0);
    assert_int_equal(pipe(b), 0);
    assert_int_equal(write(a[1], "x", 1), 1);
    assert_int_equal(write(b[1], "x", 1), 1);
    assert_int_equal(mlc_loop_new(NULL, &loop), MLC_OK);
    assert_int_equal(mlc_loop_fd_add(loop, a[0], MLC_LOOP_READ, 0, removes_other, &pa, &ida), MLC_OK);
    assert_int_equal(mlc_loop_fd_add(loop, b[0], MLC_LOOP_READ, 0, removes_other, &pb, &idb), MLC_OK);
    pa.other = idb;
    pb.other = ida;
    assert_int_equal(mlc_loop_run_once(loop, 0), 1); /* whichever ran first removed the other */
    assert_int_equal(pa.calls + pb.calls, 1);
    mlc_loop_free(loop);
    close(a[0]); close(a[1]); close(b[0]); close(b[1]);
}

static void stopper(struct mlc_loop *loop, uint64_t id, void *ud)
{
    (void)id; (void)ud;
    mlc_loop_stop(loop);
}

static void run_returns_on_stop_and_when_idle(void **state)
{
    (void)state;
    struct mlc_loop *loop;
    beats = 0;
    assert_int_equal(mlc_loop_new(NULL, &loop), MLC_OK);
    assert_int_equal(mlc_loop_run(loop), MLC_OK); /* nothing to wait for */
    uint64_t rep;
    assert_int_equal(mlc_loop_timer_add(loop, 1, 1, 0, beat, NULL, &rep), MLC_OK);
    assert_int_equal(mlc_loop_timer_add(loop, 5, 0, 0, stopper, NULL, NULL), MLC_OK);
    assert_int_equal(mlc_loop_run(loop), MLC_OK);
    assert_true(beats >= 1);
    mlc_loop_free(loop);
}

/* ---- signals ---- */

struct step_state {
    int first_finished;
    int second_ran;
};
static void raises_term(struct mlc_loop *loop, uint64_t id, void *ud)
{
    (void)loop; (void)id;
    struct step_state *s = ud;
    raise(SIGTERM);
    s->first_finished = 1; /* the step in hand completes after the signal */
}
static void must_not_run(struct mlc_loop *loop, uint64_t id, void *ud)
{
    (void)loop; (void)id;
    ((struct step_state *)ud)->second_ran = 1;
}

static void sigterm_finishes_step_then_stops(void **state)
{
    (void)state;
    struct mlc_loop *loop;
    struct step_state s = { 0, 0 };
    assert_int_equal(mlc_loop_new(NULL, &loop), MLC_OK);
    assert_int_equal(mlc_loop_handle_signals(loop, NULL, NULL), MLC_OK);
    assert_int_equal(mlc_loop_timer_add(loop, 0, 0, 0, raises_term, &s, NULL), MLC_OK);
    assert_int_equal(mlc_loop_timer_add(loop, 0, 0, 0, must_not_run, &s, NULL), MLC_OK);
    assert_int_equal(mlc_loop_timer_add(loop, 60000, 0, 0, must_not_run, &s, NULL), MLC_OK);
    int64_t t0 = mlc_time_mono_ms();
    assert_int_equal(mlc_loop_run(loop), MLC_ERR_CANCELLED);
    assert_true(mlc_time_mono_ms() - t0 < 1000);
    assert_int_equal(s.first_finished, 1);
    assert_int_equal(s.second_ran, 0);
    assert_true(mlc_loop_stopping(loop));
    assert_int_equal(mlc_loop_run(loop), MLC_ERR_CANCELLED); /* stays stopped */
    mlc_loop_free(loop);
}

static void raises_int(struct mlc_loop *loop, uint64_t id, void *ud)
{
    (void)loop; (void)id; (void)ud;
    raise(SIGINT);
}

static void sigint_stops_like_sigterm(void **state)
{
    (void)state;
    struct mlc_loop *loop;
    struct step_state s = { 0, 0 };
    assert_int_equal(mlc_loop_new(NULL, &loop), MLC_OK);
    assert_int_equal(mlc_loop_handle_signals(loop, NULL, NULL), MLC_OK);
    assert_int_equal(mlc_loop_timer_add(loop, 0, 0, 0, raises_int, NULL, NULL), MLC_OK);
    assert_int_equal(mlc_loop_timer_add(loop, 0, 0, 0, must_not_run, &s, NULL), MLC_OK);
    assert_int_equal(mlc_loop_run(loop), MLC_ERR_CANCELLED);
    assert_int_equal(s.second_ran, 0);
    mlc_loop_free(loop);
}

struct drain_state {
    int busy;
    int begun;
    int cancelled;
    int paused_ran;
};
static int d_busy(void *ud) { return ((struct drain_state *)ud)->busy; }
static void d_begin(void *ud) { ((struct drain_state *)ud)->begun++; }
static void d_cancel(void *ud)
{
    struct drain_state *d = ud;
    if (d->busy)
        d->cancelled++;
    d->busy = 0;
}
static const struct mlc_loop_drainer drainer = { d_busy, d_begin, d_cancel };

static void work_done(struct mlc_loop *loop, uint64_t id, void *ud)
{
    (void)loop; (void)id;
    ((struct drain_state *)ud)->busy = 0;
}
static void paused(struct mlc_loop *loop, uint64_t id, void *ud)
{
    (void)loop; (void)id;
    ((struct drain_state *)ud)->paused_ran = 1;
}
static void raise_term_cb(struct mlc_loop *loop, uint64_t id, void *ud)
{
    (void)loop; (void)id; (void)ud;
    raise(SIGTERM);
}

static void sigterm_lets_in_flight_work_finish(void **state)
{
    (void)state;
    struct mlc_loop *loop;
    struct drain_state d = { 1, 0, 0, 0 };
    assert_int_equal(mlc_loop_new(NULL, &loop), MLC_OK);
    mlc_loop_set_drain_ms(loop, 5000);
    assert_int_equal(mlc_loop_handle_signals(loop, NULL, NULL), MLC_OK);
    assert_int_equal(mlc_loop_drainer_add(loop, &drainer, &d), MLC_OK);
    assert_int_equal(mlc_loop_timer_add(loop, 0, 0, 0, raise_term_cb, NULL, NULL), MLC_OK);
    assert_int_equal(mlc_loop_timer_add(loop, 10, 0, 0, paused, &d, NULL), MLC_OK);
    assert_int_equal(mlc_loop_timer_add(loop, 40, 0, MLC_LOOP_F_DRAIN, work_done, &d, NULL), MLC_OK);
    int64_t t0 = mlc_time_mono_ms();
    assert_int_equal(mlc_loop_run(loop), MLC_ERR_CANCELLED);
    int64_t took = mlc_time_mono_ms() - t0;
    assert_int_equal(d.begun, 1);
    assert_int_equal(d.busy, 0);
    assert_int_equal(d.cancelled, 0);   /* it finished on its own */
    assert_int_equal(d.paused_ran, 0);  /* ordinary work does not start while stopping */
    assert_true(took >= 35 && took < 2000);
    mlc_loop_free(loop);
}

static void drain_deadline_bounds_shutdown(void **state)
{
    (void)state;
    struct mlc_loop *loop;
    struct drain_state d = { 1, 0, 0, 0 };
    assert_int_equal(mlc_loop_new(NULL, &loop), MLC_OK);
    mlc_loop_set_drain_ms(loop, 150);
    assert_int_equal(mlc_loop_handle_signals(loop, NULL, NULL), MLC_OK);
    assert_int_equal(mlc_loop_drainer_add(loop, &drainer, &d), MLC_OK);
    assert_int_equal(mlc_loop_timer_add(loop, 0, 0, 0, raise_term_cb, NULL, NULL), MLC_OK);
    int64_t t0 = mlc_time_mono_ms();
    assert_int_equal(mlc_loop_run(loop), MLC_ERR_CANCELLED);
    int64_t took = mlc_time_mono_ms() - t0;
    assert_int_equal(d.cancelled, 1); /* still busy at the deadline: cancelled */
    assert_true(took >= 140 && took < 3000);
    mlc_loop_free(loop);
}

static int reloads;
static void on_reload(struct mlc_loop *loop, void *ud)
{
    (void)loop;
    (void)ud;
    reloads++;
}

static void sighup_calls_reload_from_the_loop(void **state)
{
    (void)state;
    struct mlc_loop *loop, *other;
    reloads = 0;
    assert_int_equal(mlc_loop_new(NULL, &loop), MLC_OK);
    assert_int_equal(mlc_loop_handle_signals(loop, on_reload, NULL), MLC_OK);
    assert_int_equal(mlc_loop_new(NULL, &other), MLC_OK);
    assert_int_equal(mlc_loop_handle_signals(other, NULL, NULL), MLC_ERR_EXISTS);
    raise(SIGHUP);
    assert_int_equal(reloads, 0); /* not from inside the signal handler */
    assert_true(mlc_loop_run_once(loop, 1000) >= 1);
    assert_int_equal(reloads, 1);
    assert_false(mlc_loop_stopping(loop)); /* a reload does not stop the agent */
    raise(SIGHUP);
    raise(SIGHUP);
    mlc_loop_run_once(loop, 1000);
    assert_int_equal(reloads, 2); /* coalesced: one reload per wake-up */
    mlc_loop_free(loop);
    /* The first loop released the signals: another can take them. */
    assert_int_equal(mlc_loop_handle_signals(other, NULL, NULL), MLC_OK);
    mlc_loop_free(other);
    /* After release the default action is back (checked without dying: the disposition). */
    struct sigaction sa;
    sigaction(SIGTERM, NULL, &sa);
    assert_true(sa.sa_handler == SIG_DFL);
}

static void shutdown_without_signal_behaves_like_sigterm(void **state)
{
    (void)state;
    struct mlc_loop *loop;
    struct drain_state d = { 0, 0, 0, 0 };
    assert_int_equal(mlc_loop_new(&fake, &loop), MLC_OK);
    assert_int_equal(mlc_loop_drainer_add(loop, &drainer, &d), MLC_OK);
    assert_int_equal(mlc_loop_timer_add(loop, 0, 0, 0, beat, NULL, NULL), MLC_OK);
    mlc_loop_shutdown(loop);
    assert_true(mlc_loop_stopping(loop));
    assert_int_equal(mlc_loop_run(loop), MLC_ERR_CANCELLED);
    assert_int_equal(d.begun, 1);
    mlc_loop_free(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(timers_fire_in_due_order),
        cmocka_unit_test(repeating_timer_no_burst_and_cancel),
        cmocka_unit_test(timer_cancelled_by_earlier_callback_does_not_run),
        cmocka_unit_test(tables_are_capped),
        cmocka_unit_test(fd_watcher_fires_on_readiness),
        cmocka_unit_test(watcher_removed_mid_step_does_not_fire),
        cmocka_unit_test(run_returns_on_stop_and_when_idle),
        cmocka_unit_test(sigterm_finishes_step_then_stops),
        cmocka_unit_test(sigint_stops_like_sigterm),
        cmocka_unit_test(sigterm_lets_in_flight_work_finish),
        cmocka_unit_test(drain_deadline_bounds_shutdown),
        cmocka_unit_test(sighup_calls_reload_from_the_loop),
        cmocka_unit_test(shutdown_without_signal_behaves_like_sigterm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
