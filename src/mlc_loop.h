/* The agent's one cooperative event loop: timers, watched file descriptors (libcurl sockets, the
 * status server) and process signals, all in one poll() on one thread. Callbacks must not block.
 * Owns only its fixed tables of timers and watchers; never closes a descriptor it watches. */
#ifndef MLC_LOOP_H
#define MLC_LOOP_H
#include <stdint.h>

/* Fixed caps: a runaway caller gets MLC_ERR_TOO_BIG instead of an ever-growing table. Sized for
 * the agent: a handful of timers per module, 4 HTTP transfers (up to 2 sockets each while
 * connecting), the status server's listening socket and its clients. */
#define MLC_LOOP_MAX_TIMERS 64
#define MLC_LOOP_MAX_FDS 64
/* Default grace time for in-flight work (HTTP transfers) after SIGTERM/SIGINT. */
#define MLC_LOOP_DRAIN_MS_DEFAULT 10000

struct mlc_loop;

/* Time source, so tests can drive timers without sleeping. NULL means the monotonic clock. */
struct mlc_clock {
    int64_t (*now_ms)(void *ud);
    void *ud;
};

/* Events for fd watchers; revents may also carry MLC_LOOP_ERROR (error or hang-up). */
enum mlc_loop_events { MLC_LOOP_READ = 1, MLC_LOOP_WRITE = 2, MLC_LOOP_ERROR = 4 };

/* Flag for timers and watchers that belong to in-flight work which keeps running while the loop
 * drains after a stop signal (the HTTP layer's sockets and timer). Everything else pauses. */
#define MLC_LOOP_F_DRAIN 1u

/* Ids are never reused, so cancelling a timer that already fired is a harmless no-op. 0 = none. */
typedef void (*mlc_timer_fn)(struct mlc_loop *loop, uint64_t id, void *ud);
typedef void (*mlc_fd_fn)(struct mlc_loop *loop, uint64_t id, int fd, unsigned revents, void *ud);
typedef void (*mlc_reload_fn)(struct mlc_loop *loop, void *ud);

/* Work that a stop signal must let finish within the drain deadline (see mlc_loop_drainer_add). */
struct mlc_loop_drainer {
    int (*busy)(void *ud);    /* nonzero while work is still in flight */
    void (*begin)(void *ud);  /* the loop is stopping: refuse new work, drop what has not started */
    void (*cancel)(void *ud); /* deadline passed: abort what is still in flight */
};
#define MLC_LOOP_MAX_DRAINERS 8

/* clock may be NULL (monotonic). Returns 0 or a negative mlc_err. */
int mlc_loop_new(const struct mlc_clock *clock, struct mlc_loop **out);
/* Releases signal handling if this loop owns it. Safe on NULL. Watched fds stay open. */
void mlc_loop_free(struct mlc_loop *loop);
/* The loop's clock, in ms. */
int64_t mlc_loop_now(struct mlc_loop *loop);

/* Runs until mlc_loop_stop (returns 0), until a stop signal or mlc_loop_shutdown has drained
 * (returns MLC_ERR_CANCELLED), or until nothing is left to wait for (returns 0). */
int mlc_loop_run(struct mlc_loop *loop);
/* One poll (waiting at most timeout_ms; -1 = until the next timer or event) and the callbacks
 * that are due. Returns how many callbacks ran, or MLC_ERR_CANCELLED once a stop has drained. */
int mlc_loop_run_once(struct mlc_loop *loop, int timeout_ms);
/* Makes mlc_loop_run return after the callback in hand. Nothing is cancelled. */
void mlc_loop_stop(struct mlc_loop *loop);
/* What SIGTERM does: finish the callback in hand, let draining work finish within the drain
 * deadline, cancel the rest, then mlc_loop_run returns MLC_ERR_CANCELLED. */
void mlc_loop_shutdown(struct mlc_loop *loop);
/* 1 once a shutdown has begun (new work should be refused). */
int mlc_loop_stopping(const struct mlc_loop *loop);
void mlc_loop_set_drain_ms(struct mlc_loop *loop, int64_t ms);

/* Timers: first run after delay_ms; repeating when interval_ms > 0. Due timers run in order of
 * due time, then of creation. Returns 0 or MLC_ERR_TOO_BIG when MLC_LOOP_MAX_TIMERS are in use. */
int mlc_loop_timer_add(struct mlc_loop *loop, int64_t delay_ms, int64_t interval_ms, unsigned flags,
                       mlc_timer_fn cb, void *ud, uint64_t *id);
/* Moves an existing timer to now + delay_ms. MLC_ERR_NOTFOUND if it is gone. */
int mlc_loop_timer_reset(struct mlc_loop *loop, uint64_t id, int64_t delay_ms);
/* Returns 0, or MLC_ERR_NOTFOUND if the timer already fired (one-shot) or was cancelled. */
int mlc_loop_timer_cancel(struct mlc_loop *loop, uint64_t id);

/* Watches fd for events (MLC_LOOP_READ|MLC_LOOP_WRITE). MLC_ERR_TOO_BIG past MLC_LOOP_MAX_FDS. */
int mlc_loop_fd_add(struct mlc_loop *loop, int fd, unsigned events, unsigned flags, mlc_fd_fn cb,
                    void *ud, uint64_t *id);
int mlc_loop_fd_modify(struct mlc_loop *loop, uint64_t id, unsigned events);
int mlc_loop_fd_remove(struct mlc_loop *loop, uint64_t id);

/* Takes over SIGTERM/SIGINT (shutdown) and SIGHUP (reload is called from the loop, never from the
 * signal handler; reload may be NULL). One loop per process: MLC_ERR_EXISTS otherwise. */
int mlc_loop_handle_signals(struct mlc_loop *loop, mlc_reload_fn reload, void *ud);

/* Registers work the loop drains on shutdown (see struct mlc_loop_drainer). ops must outlive the
 * registration. MLC_ERR_TOO_BIG past MLC_LOOP_MAX_DRAINERS. */
int mlc_loop_drainer_add(struct mlc_loop *loop, const struct mlc_loop_drainer *ops, void *ud);
void mlc_loop_drainer_remove(struct mlc_loop *loop, void *ud);
#endif
