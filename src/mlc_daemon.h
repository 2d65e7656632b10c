/* The agent as a service (`mlc run`): one loop that runs the sync cycle on the [schedule], serves
 * the status page and the Plaid/Exact webhooks, reloads the config on SIGHUP, keeps the Exact
 * connection alive, drives the LEDs and talks to systemd. Owns those objects; the app context
 * (config, store, vault) stays the caller's. The cycle itself is the shared mlc_cycle_run. */
#ifndef MLC_DAEMON_H
#define MLC_DAEMON_H
#include <stdint.h>

struct mlc_app;
struct mlc_daemon;

struct mlc_daemon_opts {
    int once;               /* run one cycle, no server, and return its exit code */
    const char *led_root;   /* NULL = the real /; tests pass a fake sysfs tree */
};

/* Sets up everything (status server bound, timers armed, signals taken). app must stay open
 * until mlc_daemon_free. On failure logs one line and returns a negative mlc_err. */
int mlc_daemon_open(struct mlc_daemon **out, struct mlc_app *app, const struct mlc_daemon_opts *o);
/* Runs until SIGTERM/SIGINT (drained: returns 0) or a fatal loop error (negative mlc_err). With
 * opts.once, runs one cycle and returns its exit code (as `mlc sync`). */
int mlc_daemon_run(struct mlc_daemon *d);
/* Restores the LEDs, tells systemd STOPPING=1, closes the server. Safe on NULL / half-built. */
void mlc_daemon_free(struct mlc_daemon *d);

/* Last completed run (wall ms, 0 = never) as persisted in MLC_DB_STATE. */
#define MLC_DAEMON_LAST_RUN_KEY "daemon.last_run_ms"
#endif
