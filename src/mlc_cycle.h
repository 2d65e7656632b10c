/* One sync cycle as `mlc sync` and `mlc run` do it: the Exact and Plaid connections made from the
 * config and vault, a pull of every Plaid item plus Exact's reference data, then mlc_engine_run
 * with the real poster. Owns nothing beyond one call; the app context stays the caller's. */
#ifndef MLC_CYCLE_H
#define MLC_CYCLE_H
#include "mlc_engine.h"

#include <stdint.h>

struct mlc_app;
struct mlc_config;
struct mlc_exact;
struct mlc_exact_opts;
struct mlc_plaid;

/* The Exact connection options from the config ([exact], [http], agent.ca_bundle). */
void mlc_cycle_exact_opts(const struct mlc_config *cfg, struct mlc_exact_opts *eo);
/* Connections from the app's config and vault. 0 or a negative mlc_err. */
int mlc_cycle_exact_open(struct mlc_app *app, struct mlc_exact **x);
int mlc_cycle_plaid_open(struct mlc_app *app, struct mlc_plaid **p);

/* Exact's reference data of one division (journals, G/L accounts, cost centers, periods, journal
 * status), each within its TTL unless force. msg (may be NULL) gets one line on failure. */
struct mlc_buf;
struct mlc_store;
int mlc_cycle_refresh_division(struct mlc_exact *x, struct mlc_store *st, uint32_t division,
                               int force, struct mlc_buf *msg);

/* The engine's pull step (struct mlc_engine_opts.pull, ctx = struct mlc_cycle_pull): every Plaid
 * item into the journal (when p is set), then the reference data of every mapped division (when
 * x is set). retry/person are raised for failures that wait for later / for a person. */
struct mlc_cycle_pull {
    struct mlc_app *app;
    struct mlc_exact *x;
    struct mlc_plaid *p;
    int retry, person;
};
int mlc_cycle_pull_all(void *ctx, struct mlc_store *st, struct mlc_buf *msg);

struct mlc_cycle_result {
    int rc;            /* mlc_engine_run's result, or the connection error */
    int retry, person; /* a pull or post must be retried later / waits for a person */
    int exit_code;     /* as `mlc sync`: 0, MLC_EXIT_TEMPFAIL or MLC_EXIT_UNAVAILABLE, ... */
    char error[512];   /* one sentence when rc != MLC_OK */
};

/* Runs one whole cycle (pull + post) and fills rep (init'ed by the caller) and res. */
void mlc_cycle_run(struct mlc_app *app, struct mlc_engine_report *rep,
                   struct mlc_cycle_result *res);
#endif
