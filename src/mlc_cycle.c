#include "mlc_cycle.h"
#include "mlc_alloc.h"
#include "mlc_app.h"
#include "mlc_buf.h"
#include "mlc_err.h"
#include "mlc_exact.h"
#include "mlc_exact_ref.h"
#include "mlc_journal.h"
#include "mlc_mapping.h"
#include "mlc_plaid.h"
#include "mlc_plaid_pull.h"
#include "mlc_store.h"
#include "mlc_vault.h"

#include <stdio.h>
#include <string.h>

#define ITEMS_MAX 256 /* bank links per agent, as `mlc plaid sync` */

void mlc_cycle_exact_opts(const struct mlc_config *cfg, struct mlc_exact_opts *eo)
{
    mlc_exact_opts_default(eo);
    eo->base_url = mlc_config_exact_base_url(cfg);
    eo->redirect_uri = cfg->exact.redirect_uri;
    eo->keepalive_ms = (int64_t)cfg->exact.keepalive_days * 24 * 3600 * 1000;
    eo->connect_timeout_ms = (long)(cfg->http.connect_timeout * 1000);
    eo->total_timeout_ms = (long)(cfg->http.total_timeout * 1000);
    eo->low_speed_time_s = (long)cfg->http.low_speed_time;
    eo->max_response = (size_t)cfg->http.max_response;
    eo->ca_bundle = cfg->agent.ca_bundle[0] ? cfg->agent.ca_bundle : NULL;
}

int mlc_cycle_exact_open(struct mlc_app *app, struct mlc_exact **x)
{
    struct mlc_exact_opts eo;
    mlc_cycle_exact_opts(&app->cfg, &eo);
    return mlc_exact_open(x, app->store, app->vault, &eo, NULL);
}

int mlc_cycle_plaid_open(struct mlc_app *app, struct mlc_plaid **p)
{
    char *cid = NULL, *sec = NULL;
    size_t cl = 0, sl = 0;
    int rc = mlc_vault_get(app->vault, "plaid.client_id", &cid, &cl);
    if (rc == MLC_OK)
        rc = mlc_vault_get(app->vault, "plaid.secret", &sec, &sl);
    if (rc == MLC_OK) {
        struct mlc_plaid_opts po = { 0 };
        po.ca_bundle = app->cfg.agent.ca_bundle[0] ? app->cfg.agent.ca_bundle : NULL;
        if (app->cfg.http.connect_timeout > 0)
            po.connect_timeout_ms = (long)app->cfg.http.connect_timeout * 1000;
        if (app->cfg.http.total_timeout > 0)
            po.total_timeout_ms = (long)app->cfg.http.total_timeout * 1000;
        po.base_url = mlc_config_plaid_base_url(&app->cfg);
        po.client_id = cid;
        po.secret = sec;
        rc = mlc_plaid_new(&po, p);
    }
    mlc_vault_free_secret(cid, cl);
    mlc_vault_free_secret(sec, sl);
    return rc;
}

struct div_list {
    uint32_t v[64];
    size_t n;
};

static int collect_div(void *ctx, const struct mlc_mapping *m)
{
    struct div_list *d = ctx;
    for (size_t i = 0; i < d->n; i++)
        if (d->v[i] == m->division)
            return 0;
    if (d->n < sizeof(d->v) / sizeof(d->v[0]))
        d->v[d->n++] = m->division;
    return 0;
}

struct item_ids {
    char (*v)[MLC_PLAID_ID_MAX + 1];
    size_t n;
};

static int collect_item(void *ctx, const struct mlc_journal_item *it)
{
    struct item_ids *l = ctx;
    if (l->n >= ITEMS_MAX)
        return 1;
    snprintf(l->v[l->n++], MLC_PLAID_ID_MAX + 1, "%s", it->item_id);
    return 0;
}

int mlc_cycle_refresh_division(struct mlc_exact *x, struct mlc_store *st, uint32_t division,
                               int force, struct mlc_buf *msg)
{
    static const enum mlc_ref_kind kinds[] = { MLC_REF_JOURNALS, MLC_REF_GLACCOUNTS,
                                               MLC_REF_COSTCENTERS, MLC_REF_PERIODS,
                                               MLC_REF_JOURNAL_STATUS };
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        int rc = mlc_exact_ref_refresh(x, st, division, kinds[i], 0, force, NULL);
        if (rc != MLC_OK) {
            if (msg)
                mlc_buf_printf(msg, "Exact reference data of division %u (%s) not fetched: %s\n",
                               division, mlc_exact_ref_kind_name(kinds[i]),
                               mlc_exact_last_error(x)[0] ? mlc_exact_last_error(x)
                                                          : mlc_err_str(rc));
            return rc;
        }
    }
    return MLC_OK;
}

/* The engine's first step: Plaid into the journal, then Exact's reference data of every mapped
 * division (within its TTL, no call). */
int mlc_cycle_pull_all(void *ctx, struct mlc_store *st, struct mlc_buf *msg)
{
    struct mlc_cycle_pull *pc = ctx;
    struct item_ids ids = { mlc_calloc(ITEMS_MAX, MLC_PLAID_ID_MAX + 1), 0 };
    struct div_list divs = { .n = 0 };
    struct mlc_txn *txn = NULL;
    int rc = ids.v ? mlc_store_begin(st, 1, &txn) : MLC_ERR_NOMEM;
    if (rc == MLC_OK) {
        rc = mlc_journal_item_each(txn, collect_item, &ids);
        if (rc == MLC_OK)
            rc = mlc_mapping_each(txn, collect_div, &divs);
        mlc_store_abort(txn);
    }
    int worst = rc;
    for (size_t i = 0; rc == MLC_OK && pc->p && i < ids.n; i++) {
        struct mlc_plaid_pull_opts o = { 0 };
        struct mlc_plaid_pull_stats stats;
        char m[640] = "";
        o.count = pc->app->cfg.plaid.sync_count;
        int prc = mlc_plaid_pull_item(pc->p, st, pc->app->vault, ids.v[i], &o, &stats, m,
                                      sizeof(m));
        if (prc != MLC_OK) {
            mlc_buf_printf(msg, "bank link %s: %s\n", ids.v[i], m[0] ? m : mlc_err_str(prc));
            pc->person |= prc == MLC_ERR_NEEDS_PERSON;
            pc->retry |= prc != MLC_ERR_NEEDS_PERSON;
            worst = prc;
        }
    }
    for (size_t i = 0; rc == MLC_OK && pc->x && i < divs.n; i++) {
        int xrc = mlc_cycle_refresh_division(pc->x, st, divs.v[i], 0, msg);
        if (xrc != MLC_OK) {
            pc->retry = 1;
            worst = xrc;
        }
    }
    mlc_free(ids.v);
    return worst;
}

void mlc_cycle_run(struct mlc_app *app, struct mlc_engine_report *rep,
                   struct mlc_cycle_result *res)
{
    struct mlc_cycle_pull pc = { .app = app };
    struct mlc_poster poster;
    memset(res, 0, sizeof(*res));
    int rc = mlc_cycle_exact_open(app, &pc.x);
    if (rc != MLC_OK) {
        snprintf(res->error, sizeof(res->error), "could not set up the Exact connection: %s",
                 mlc_err_str(rc));
        goto out;
    }
    if ((rc = mlc_cycle_plaid_open(app, &pc.p)) != MLC_OK) {
        snprintf(res->error, sizeof(res->error),
                 "could not set up the Plaid connection (%s); are the credentials stored "
                 "('mlc secret set plaid.client_id')?", mlc_err_str(rc));
        goto out;
    }
    mlc_engine_exact_poster(&poster, pc.x);
    struct mlc_engine_opts o = { .poster = &poster,
                                 .closed_policy = app->cfg.exact.closed_periods,
                                 .pull = mlc_cycle_pull_all, .pull_ctx = &pc };
    rc = mlc_engine_run(app->store, &o, rep);
    if (rc != MLC_OK)
        snprintf(res->error, sizeof(res->error), "the sync stopped: %s", mlc_err_str(rc));
out:
    res->rc = rc;
    res->retry = pc.retry || rep->retry_later;
    res->person = pc.person || rep->held;
    if (rc != MLC_OK)
        res->exit_code = mlc_err_exit_code(rc);
    else if (res->person)
        res->exit_code = MLC_EXIT_UNAVAILABLE;
    else if (res->retry)
        res->exit_code = MLC_EXIT_TEMPFAIL;
    mlc_plaid_free(pc.p);
    mlc_exact_close(pc.x);
}
