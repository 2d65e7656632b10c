/* One sync cycle: pull (Plaid into the journal) -> settle statements left in flight -> plan
 * (code, group, balance) -> post -> audit, per mapped account, or a dry run that prints the plan
 * and writes nothing. Owns the order of these steps and the transactions around them; the
 * records are the posting module's, the wire is the poster's. */
#ifndef MLC_ENGINE_H
#define MLC_ENGINE_H
#include <stddef.h>
#include <stdint.h>

#include "mlc_buf.h"
#include "mlc_exact_post.h"

struct mlc_store;
struct mlc_exact;

/* The narrow posting interface (so the engine is testable with a fake). Same contract as
 * mlc_exact_post_statement: exactly once per statement_id - a statement posted before is reported
 * POSTED again, one left in flight is settled by read-back before anything is sent. */
struct mlc_poster {
    void *ctx;
    int (*post)(void *ctx, struct mlc_store *st, const struct mlc_bank_statement *s,
                struct mlc_post_result *r);
};
/* The real poster: mlc_exact_post_statement over connection x. */
void mlc_engine_exact_poster(struct mlc_poster *p, struct mlc_exact *x);

struct mlc_engine_opts {
    int64_t now_ms;                   /* 0 = the clock */
    int dry_run;                      /* plan and print; nothing written, nothing sent */
    const char *account_id;           /* only this Plaid account (NULL = all) */
    const char *since;                /* YYYY-MM-DD: leave new transactions dated before alone */
    int closed_policy;                /* enum mlc_closed_policy */
    size_t lines_max, bytes_max;      /* statement caps (0 = defaults) */
    const struct mlc_poster *poster;  /* required unless dry_run */
    /* Optional first step, also in a dry run (it fills the journal and the reference cache,
     * never posts): bring the journal up to date. A failure is reported and the cycle goes on
     * with what the journal holds. */
    int (*pull)(void *ctx, struct mlc_store *st, struct mlc_buf *msg);
    void *pull_ctx;
};

#define MLC_ENGINE_REPORT_MAX (4u << 20)  /* text of one run's report */
#define MLC_ENGINE_ACCOUNTS_MAX 1000

struct mlc_engine_report {
    size_t accounts, needs_person_accounts;
    size_t statements_posted, lines_posted, reversals_posted;
    size_t held, pending;
    size_t not_landed, retry_later, settled_inflight;
    size_t balance_differences;
    struct mlc_buf text;              /* for people: the plan (dry run) or what happened */
};
void mlc_engine_report_init(struct mlc_engine_report *r);
void mlc_engine_report_free(struct mlc_engine_report *r);

/* Runs one cycle. MLC_OK when it ran (the report tells what happened, including items that
 * need a person), or a negative mlc_err when it could not run (store failure, memory). */
int mlc_engine_run(struct mlc_store *st, const struct mlc_engine_opts *o,
                   struct mlc_engine_report *rep);
#endif
