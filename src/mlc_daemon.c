#include "mlc_daemon.h"
#include "mlc_alloc.h"
#include "mlc_alert.h"
#include "mlc_app.h"
#include "mlc_board.h"
#include "mlc_cmd_exact.h"
#include "mlc_cmd_plaid.h"
#include "mlc_config.h"
#include "mlc_cycle.h"
#include "mlc_err.h"
#include "mlc_exact.h"
#include "mlc_httpd.h"
#include "mlc_journal.h"
#include "mlc_led.h"
#include "mlc_log.h"
#include "mlc_loop.h"
#include "mlc_metrics.h"
#include "mlc_platform.h"
#include "mlc_plaid.h"
#include "mlc_schedule.h"
#include "mlc_status.h"
#include "mlc_store.h"
#include "mlc_vault.h"
#include "mlc_version.h"
#include "mlc_watchdog.h"

#include <stdio.h>
#include <string.h>

#define MOD "daemon"
#define KEEPALIVE_MS (24LL * 3600 * 1000)  /* Exact keep-alive check: daily */
#define RETRY_MS (5LL * 60 * 1000)          /* a failed run is tried again after this */
#define WEBHOOK_WINDOW_MS (2LL * 1000)      /* webhook bursts coalesce into one run */

struct mlc_daemon {
    struct mlc_app *app;
    struct mlc_daemon_opts opts;
    struct mlc_loop *loop;
    struct mlc_httpd *srv;
    struct mlc_metrics *metrics;
    struct mlc_status_model *model;
    struct mlc_status_ctx sctx;
    struct mlc_plaid *wh_plaid;           /* the webhook route's Plaid client */
    struct mlc_plaid_webhooks *wh;
    struct mlc_cmd_exact_hook *xhook;
    struct mlc_watchdog *wd;
    struct mlc_led *led;
    uint64_t run_timer, wd_timer, keepalive_timer;
    int64_t last_run_ms, next_run_ms, pending_ms; /* wall clock; pending = brought forward */
    int last_ok, attention;
    size_t posted, held, pending;
    int exit_code;                        /* of the last cycle */
};

static void schedule_of(const struct mlc_config *c, struct mlc_schedule *s)
{
    memset(s, 0, sizeof(*s));
    s->mode = c->schedule.mode;
    s->at_minutes = c->schedule.at;
    s->weekday = c->schedule.day < 0 ? 0 : c->schedule.day;
    s->interval_ms = c->schedule.interval * 1000;
}

static void schedule_text(const struct mlc_config *c, char *out, size_t cap)
{
    static const char *const days[] = { "mon", "tue", "wed", "thu", "fri", "sat", "sun" };
    if (c->schedule.mode == MLC_SCHEDULE_INTERVAL)
        snprintf(out, cap, "every-%llds", (long long)c->schedule.interval);
    else if (c->schedule.mode == MLC_SCHEDULE_WEEKLY)
        snprintf(out, cap, "weekly-%s-%02d:%02d",
                 days[c->schedule.day >= 0 && c->schedule.day < 7 ? c->schedule.day : 0],
                 c->schedule.at / 60, c->schedule.at % 60);
    else
        snprintf(out, cap, "daily-%02d:%02d", c->schedule.at / 60, c->schedule.at % 60);
}

/* ---- persisted last run ---- */

static int64_t last_run_load(struct mlc_store *st)
{
    struct mlc_txn *txn = NULL;
    uint64_t v = 0;
    if (mlc_store_begin(st, 1, &txn) == MLC_OK) {
        if (mlc_store_get_u64(txn, MLC_DB_STATE, MLC_DAEMON_LAST_RUN_KEY,
                              strlen(MLC_DAEMON_LAST_RUN_KEY), &v) != MLC_OK)
            v = 0;
        mlc_store_abort(txn);
    }
    return (int64_t)v;
}

static int last_run_save(struct mlc_store *st, int64_t ms)
{
    struct mlc_txn *txn = NULL;
    int rc = mlc_store_begin(st, 0, &txn);
    if (rc != MLC_OK)
        return rc;
    rc = mlc_store_put_u64(txn, MLC_DB_STATE, MLC_DAEMON_LAST_RUN_KEY,
                           strlen(MLC_DAEMON_LAST_RUN_KEY), (uint64_t)ms);
    return rc == MLC_OK ? mlc_store_commit(txn) : (mlc_store_abort(txn), rc);
}

/* ---- status model ---- */

static int add_item(void *ctx, const struct mlc_journal_item *it)
{
    struct mlc_daemon *d = ctx;
    struct mlc_status_model *m = d->model;
    if (m->n_conn >= MLC_STATUS_CONN_MAX)
        return 1;
    struct mlc_status_connection *c = &m->conn[m->n_conn++];
    memset(c, 0, sizeof(*c));
    c->kind = MLC_STATUS_PLAID_ITEM;
    snprintf(c->id, sizeof(c->id), "%.127s", it->item_id);
    snprintf(c->name, sizeof(c->name), "%.127s",
             it->institution_name[0] ? it->institution_name : "bank");
    c->expiry_ms = it->consent_expires_ms;
    c->last_run_ms = d->last_run_ms;
    c->last_run_ok = d->last_ok;
    c->next_run_ms = d->next_run_ms;
    if (it->state == MLC_ITEM_OK) {
        c->state = it->cursor[0] ? MLC_STATUS_OK : MLC_STATUS_SETTING_UP;
    } else if (it->state == MLC_ITEM_REMOVED) {
        c->state = MLC_STATUS_PAUSED;
    } else {
        c->state = MLC_STATUS_NEEDS_PERSON;
        snprintf(c->detail, sizeof(c->detail), "%.255s", it->state_message);
        snprintf(c->actions[0].text, sizeof(c->actions[0].text),
                 "The bank connection to %.127s needs you to log in again",
                 it->institution_name[0] ? it->institution_name : "the bank");
        snprintf(c->actions[0].command, sizeof(c->actions[0].command), "mlc plaid %s %.100s",
                 it->state == MLC_ITEM_TOKEN_LOST ? "link" : "relink", it->item_id);
        c->n_actions = 1;
    }
    return 0;
}

static void add_problem(struct mlc_status_model *m, const char *text)
{
    if (m->n_problems < MLC_STATUS_PROBLEMS_MAX)
        snprintf(m->problems[m->n_problems++], MLC_STATUS_TEXT_MAX, "%.255s", text);
}

/* Open alerts are what a person must act on: shown as the agent's problems on the page. */
static int add_journal_alert(void *ctx, const struct mlc_journal_alert *a)
{
    add_problem(ctx, a->message[0] ? a->message : a->kind);
    return 0;
}

static int add_alert(void *ctx, const struct mlc_alert *a)
{
    add_problem(ctx, a->message);
    return 0;
}

/* Rebuilt after start and after each run (not per request: it reads the store). */
static void model_fill(struct mlc_daemon *d)
{
    struct mlc_status_model *m = d->model;
    m->n_conn = 0;
    m->n_problems = 0;
    struct mlc_txn *txn = NULL;
    if (mlc_store_begin(d->app->store, 1, &txn) == MLC_OK) {
        (void)mlc_journal_item_each(txn, add_item, d);
        (void)mlc_journal_alert_each(txn, add_journal_alert, m);
        (void)mlc_alert_each(txn, add_alert, m);
        mlc_store_abort(txn);
    } else {
        add_problem(m, "The agent's store could not be read; run 'mlc store check'");
    }
    struct mlc_exact *x = NULL;
    if (m->n_conn < MLC_STATUS_CONN_MAX && mlc_cycle_exact_open(d->app, &x) == MLC_OK) {
        struct mlc_exact_token_info ti;
        mlc_exact_token_info(x, &ti);
        struct mlc_status_connection *c = &m->conn[m->n_conn++];
        memset(c, 0, sizeof(*c));
        c->kind = MLC_STATUS_EXACT_DIVISION;
        snprintf(c->id, sizeof(c->id), "%lld",
                 d->app->cfg.exact.divisions.n ? (long long)d->app->cfg.exact.divisions.v[0] : 0LL);
        snprintf(c->name, sizeof(c->name), "Exact Online");
        c->expiry_ms = ti.refresh_expiry_estimate_ms;
        c->last_run_ms = d->last_run_ms;
        c->last_run_ok = d->last_ok;
        c->next_run_ms = d->next_run_ms;
        c->posted = (long)d->posted;
        c->held = (long)d->held;
        c->pending = (long)d->pending;
        if (!ti.connected || ti.consent_needed) {
            c->state = MLC_STATUS_NEEDS_PERSON;
            snprintf(c->detail, sizeof(c->detail), "%.255s",
                     ti.consent_reason[0] ? ti.consent_reason : "not connected");
            mlc_exact_consent_alert(x, c->actions[0].text, sizeof(c->actions[0].text));
            snprintf(c->actions[0].command, sizeof(c->actions[0].command), "mlc exact connect");
            c->n_actions = 1;
        } else if (d->held) {
            c->state = MLC_STATUS_NEEDS_PERSON;
            snprintf(c->detail, sizeof(c->detail),
                     "%zu transactions are held back; 'mlc sync --dry-run' shows why", d->held);
        } else {
            c->state = d->last_run_ms && !d->last_ok ? MLC_STATUS_RETRYING : MLC_STATUS_OK;
        }
    }
    mlc_exact_close(x);
    d->attention = !mlc_status_healthy(m, mlc_time_now_ms());
    if (d->led)
        (void)mlc_led_set(d->led, d->attention ? MLC_LED_ATTENTION : MLC_LED_HEALTHY);
}

/* ---- the run ---- */

static void arm_run(struct mlc_daemon *d, int64_t at_wall_ms)
{
    int64_t now = mlc_time_now_ms();
    int64_t delay = at_wall_ms > now ? at_wall_ms - now : 0;
    d->next_run_ms = at_wall_ms;
    if (mlc_loop_timer_reset(d->loop, d->run_timer, delay) != MLC_OK)
        MLC_LOG_ERR(MOD, "event=schedule_failed: the next run could not be armed");
}

/* One cycle. Synchronous: it blocks the loop (status page, webhooks) while it runs; acceptable
 * for now since a cycle is short and the HTTP clients have their own timeouts. */
static void run_cycle(struct mlc_daemon *d)
{
    struct mlc_engine_report rep;
    struct mlc_cycle_result res;
    mlc_engine_report_init(&rep);
    if (d->led)
        (void)mlc_led_set(d->led, MLC_LED_SYNCING);
    (void)mlc_watchdog_status(d->wd, "syncing");
    int64_t t0 = mlc_time_now_ms();
    mlc_cycle_run(d->app, &rep, &res);
    int64_t t1 = mlc_time_now_ms();
    d->exit_code = res.exit_code;
    d->last_ok = res.rc == MLC_OK && !res.retry;
    if (res.rc == MLC_OK) {
        d->posted = rep.lines_posted;
        d->held = rep.held;
        d->pending = rep.pending;
        d->last_run_ms = t1;
        if (last_run_save(d->app->store, t1) != MLC_OK)
            MLC_LOG_WRN(MOD, "event=state_not_saved: the time of this run was not stored; "
                             "the next start may run again at once");
    }
    if (rep.text.data && rep.text.len)
        MLC_LOG_INF(MOD, "event=run_report %s", rep.text.data);
    if (res.rc != MLC_OK)
        MLC_LOG_ERR(MOD, "event=run result=failed error=\"%s\"", res.error);
    else
        MLC_LOG_INF(MOD, "event=run result=%s statements=%zu lines=%zu reversals=%zu held=%zu "
                         "pending=%zu ms=%lld",
                    res.exit_code == 0 ? "ok" : res.person ? "needs_person" : "retry_later",
                    rep.statements_posted, rep.lines_posted, rep.reversals_posted, rep.held,
                    rep.pending, (long long)(t1 - t0));
    if (d->metrics) {
        (void)mlc_metrics_inc(d->metrics, "mlc_runs_total");
        (void)mlc_metrics_add(d->metrics, "mlc_posts_total", NULL, (double)rep.lines_posted);
    }
    mlc_engine_report_free(&rep);
    (void)mlc_watchdog_status(d->wd, d->last_ok ? "idle" : "last run failed");
}

static void on_run_timer(struct mlc_loop *loop, uint64_t id, void *ud)
{
    (void)id;
    struct mlc_daemon *d = ud;
    if (mlc_loop_stopping(loop))
        return;
    d->pending_ms = 0;
    run_cycle(d);
    struct mlc_schedule s;
    schedule_of(&d->app->cfg, &s);
    int64_t now = mlc_time_now_ms();
    int64_t next = mlc_schedule_next_run(&s, d->last_run_ms, now);
    if (!d->last_ok && next > now + RETRY_MS)
        next = now + RETRY_MS;   /* a failed run is retried soon, not at the next slot */
    if (next <= now)
        next = now + 1000;      /* never spin on a run that keeps being "due" */
    arm_run(d, next);
    model_fill(d);       /* after arm_run: the page shows the new next run */
}

static void on_watchdog(struct mlc_loop *loop, uint64_t id, void *ud)
{
    (void)id;
    struct mlc_daemon *d = ud;
    (void)mlc_watchdog_ping(d->wd, mlc_loop_now(loop));
}

static void on_keepalive(struct mlc_loop *loop, uint64_t id, void *ud)
{
    (void)loop;
    (void)id;
    struct mlc_daemon *d = ud;
    struct mlc_exact *x = NULL;
    int rc = mlc_cycle_exact_open(d->app, &x);
    if (rc == MLC_OK)
        rc = mlc_exact_keepalive(x, NULL);
    if (rc == MLC_ERR_NEEDS_PERSON)
        MLC_LOG_WRN(MOD, "event=exact_keepalive result=needs_consent: run 'mlc exact connect'");
    else if (rc != MLC_OK)
        MLC_LOG_WRN(MOD, "event=exact_keepalive result=failed error=\"%s\"", mlc_err_str(rc));
    mlc_exact_close(x);
}

/* A webhook says there is something new: the next run comes forward, bursts coalesced. */
static void bring_forward(struct mlc_daemon *d, const char *source)
{
    int64_t now = mlc_time_now_ms();
    /* pending_ms: the brought-forward run already set (0 = none), which a burst joins. */
    int64_t at = mlc_schedule_bring_forward(d->next_run_ms, now, d->pending_ms,
                                            WEBHOOK_WINDOW_MS);
    if (at < d->next_run_ms) {
        d->pending_ms = at;
        MLC_LOG_INF(MOD, "event=run_brought_forward source=%s in_ms=%lld", source,
                    (long long)(at > now ? at - now : 0));
        arm_run(d, at);
    }
}

/* A verified Exact notification: something changed on Exact's side; a run soon picks it up. */
static void on_exact_event(void *ud, const struct mlc_webhook_event *ev)
{
    (void)ev;
    bring_forward(ud, "exact");
}

/* Plaid's SYNC_UPDATES_AVAILABLE, already pulled by the webhook module: post it soon. */
static void on_plaid_sync(void *ud, const char *item_id)
{
    (void)item_id;
    bring_forward(ud, "plaid");
}

static void on_reload(struct mlc_loop *loop, void *ud)
{
    (void)loop;
    struct mlc_daemon *d = ud;
    char err[2048] = "", names[256] = "";
    struct mlc_config *old = mlc_malloc(sizeof(*old));
    (void)mlc_watchdog_reloading(d->wd);
    if (old)
        memcpy(old, &d->app->cfg, sizeof(*old));
    int rc = mlc_config_reload(&d->app->cfg, d->app->config_path, err, sizeof(err));
    if (rc != MLC_OK) {
        for (char *p = err; *p; p++)
            if (*p == '\n')
                *p = (p[1] ? ';' : '\0');
        MLC_LOG_ERR(MOD, "event=reload result=failed: the config was not changed; fix it and "
                         "send SIGHUP again: %s", err[0] ? err : mlc_err_str(rc));
    } else {
        mlc_log_set_level(d->app->cfg.agent.log_level);
        if (old && mlc_config_restart_needed(old, &d->app->cfg, names, sizeof(names)))
            MLC_LOG_WRN(MOD, "event=reload restart_needed=\"%s\": these keys take effect only "
                             "after 'systemctl restart mlc'", names);
        char sched[48];
        schedule_text(&d->app->cfg, sched, sizeof(sched));
        MLC_LOG_INF(MOD, "event=reloaded config=%s schedule=%s", d->app->config_path, sched);
        struct mlc_schedule s;
        schedule_of(&d->app->cfg, &s);
        arm_run(d, mlc_schedule_next_run(&s, d->last_run_ms, mlc_time_now_ms()));
    }
    mlc_free(old);
    (void)mlc_watchdog_ready(d->wd);
}

/* ---- open / run / free ---- */

static int open_server(struct mlc_daemon *d)
{
    struct mlc_app *app = d->app;
    char *token = NULL;
    size_t tl = 0;
    int rc = mlc_vault_get(app->vault, "status.access_token", &token, &tl);
    if (rc != MLC_OK && rc != MLC_ERR_NOTFOUND)
        return rc;
    struct mlc_httpd_config hc = { 0 };
    hc.host = app->cfg.status.bind.host;
    hc.port = app->cfg.status.bind.port;
    hc.access_token = token;
    rc = mlc_httpd_new(d->loop, &hc, &d->srv);
    mlc_vault_free_secret(token, tl);
    if (rc != MLC_OK) {
        MLC_LOG_ERR(MOD, "event=start_failed: the status server could not listen on %s:%d (%s); "
                         "check [status] bind", hc.host, hc.port, mlc_err_str(rc));
        return rc;
    }
    if ((rc = mlc_metrics_new(&d->metrics)) != MLC_OK ||
        (rc = mlc_status_metrics_define(d->metrics)) != MLC_OK)
        return rc;
    d->sctx.model = d->model;
    d->sctx.metrics = d->metrics;
    if ((rc = mlc_status_register(d->srv, &d->sctx)) != MLC_OK)
        return rc;
    /* Webhooks are optional: without Plaid credentials or an Exact webhook secret the agent still
     * runs on its schedule. */
    if (mlc_cycle_plaid_open(app, &d->wh_plaid) == MLC_OK) {
        rc = mlc_plaid_webhooks_mount(d->loop, d->srv, d->wh_plaid, app->store, app->vault,
                                      app->cfg.plaid.sync_count, &d->wh);
        if (rc != MLC_OK)
            MLC_LOG_WRN(MOD, "event=webhooks_off source=plaid error=\"%s\"", mlc_err_str(rc));
        else
            mlc_plaid_webhooks_on_sync(d->wh, on_plaid_sync, d);
    } else {
        MLC_LOG_WRN(MOD, "event=webhooks_off source=plaid: no Plaid credentials stored yet "
                         "('mlc secret set plaid.client_id')");
    }
    if (!(d->xhook = mlc_calloc(1, sizeof(*d->xhook))))
        return MLC_ERR_NOMEM;
    char *sec = NULL;
    size_t sl = 0;
    if (mlc_vault_get(app->vault, MLC_EXACT_SECRET_WEBHOOK, &sec, &sl) == MLC_OK &&
        sl <= sizeof(d->xhook->secret)) {
        memcpy(d->xhook->secret, sec, sl);
        d->xhook->secret_len = sl;
    }
    mlc_vault_free_secret(sec, sl);
    d->xhook->on_event = on_exact_event;
    d->xhook->ud = d;
    if ((rc = mlc_cmd_exact_webhook_route(d->srv, d->xhook)) != MLC_OK)
        MLC_LOG_WRN(MOD, "event=webhooks_off source=exact error=\"%s\"", mlc_err_str(rc));
    return MLC_OK;
}

static void open_leds(struct mlc_daemon *d)
{
    const struct mlc_config *cfg = &d->app->cfg;
    if (cfg->board.profile == MLC_BOARD_NONE)
        return;
    struct mlc_board b;
    char err[512] = "";
    int rc = mlc_board_resolve(&b, (enum mlc_board_kind)cfg->board.profile, cfg->board.led_status,
                               cfg->board.led_attention, cfg->board.led_active_low ? 1 : -1, err,
                               sizeof(err));
    if (rc == MLC_OK)
        rc = mlc_led_open(&d->led, &b, d->opts.led_root, err, sizeof(err));
    if (rc != MLC_OK)
        MLC_LOG_WRN(MOD, "event=leds_off: %s; the agent runs without its status light",
                    err[0] ? err : mlc_err_str(rc));
}

int mlc_daemon_open(struct mlc_daemon **out, struct mlc_app *app, const struct mlc_daemon_opts *o)
{
    *out = NULL;
    struct mlc_daemon *d = mlc_calloc(1, sizeof(*d));
    if (!d)
        return MLC_ERR_NOMEM;
    d->app = app;
    if (o)
        d->opts = *o;
    d->last_run_ms = last_run_load(app->store);
    int rc = MLC_OK;
    if (d->opts.once)
        goto out;
    char err[256] = "";
    if (mlc_watchdog_from_env(&d->wd, err, sizeof(err)) != MLC_OK)
        MLC_LOG_WRN(MOD, "event=watchdog_off: %s", err[0] ? err : "NOTIFY_SOCKET unusable");
    if (!(d->model = mlc_calloc(1, sizeof(*d->model)))) {
        rc = MLC_ERR_NOMEM;
        goto out;
    }
    snprintf(d->model->version, sizeof(d->model->version), "%s", MLC_VERSION);
    d->model->started_ms = mlc_time_now_ms();
    if ((rc = mlc_loop_new(NULL, &d->loop)) != MLC_OK ||
        (rc = mlc_loop_handle_signals(d->loop, on_reload, d)) != MLC_OK)
        goto out;
    if ((rc = open_server(d)) != MLC_OK)
        goto out;
    open_leds(d);
    struct mlc_schedule s;
    schedule_of(&app->cfg, &s);
    int64_t now = mlc_time_now_ms();
    int64_t next = mlc_schedule_next_run(&s, d->last_run_ms, now);
    /* Repeating (with a long interval) so the timer outlives each firing: on_run_timer and
     * webhooks move it with mlc_loop_timer_reset. */
    if ((rc = mlc_loop_timer_add(d->loop, next > now ? next - now : 0, KEEPALIVE_MS, 0,
                                 on_run_timer, d, &d->run_timer)) != MLC_OK)
        goto out;
    d->next_run_ms = next;
    if ((rc = mlc_loop_timer_add(d->loop, KEEPALIVE_MS, KEEPALIVE_MS, 0, on_keepalive, d,
                                 &d->keepalive_timer)) != MLC_OK)
        goto out;
    if (mlc_watchdog_interval_ms(d->wd) > 0 &&
        (rc = mlc_loop_timer_add(d->loop, 0, mlc_watchdog_interval_ms(d->wd), 0, on_watchdog, d,
                                 &d->wd_timer)) != MLC_OK)
        goto out;
    model_fill(d);
    char sched[48];
    schedule_text(&app->cfg, sched, sizeof(sched));
    MLC_LOG_INF(MOD, "event=started version=%s bind=%s:%d schedule=%s next_run_in_s=%lld",
                MLC_VERSION, app->cfg.status.bind.host, mlc_httpd_port(d->srv), sched,
                (long long)((next > now ? next - now : 0) / 1000));
    (void)mlc_watchdog_ready(d->wd);
out:
    if (rc != MLC_OK) {
        mlc_daemon_free(d);
        return rc;
    }
    *out = d;
    return MLC_OK;
}

int mlc_daemon_run(struct mlc_daemon *d)
{
    if (d->opts.once) {
        run_cycle(d);
        return d->exit_code;
    }
    int rc = mlc_loop_run(d->loop);
    (void)mlc_watchdog_stopping(d->wd);
    if (rc == MLC_ERR_CANCELLED || rc == MLC_OK) {
        MLC_LOG_INF(MOD, "event=stopped reason=signal");
        return MLC_OK;
    }
    MLC_LOG_ERR(MOD, "event=stopped reason=\"%s\"", mlc_err_str(rc));
    return rc;
}

void mlc_daemon_free(struct mlc_daemon *d)
{
    if (!d)
        return;
    mlc_led_close(d->led); /* puts back what the LEDs showed before the agent */
    mlc_plaid_webhooks_free(d->wh);
    mlc_httpd_free(d->srv);
    mlc_plaid_free(d->wh_plaid);
    mlc_metrics_free(d->metrics);
    if (d->xhook) {
        mlc_wipe(d->xhook->secret, sizeof(d->xhook->secret));
        mlc_free(d->xhook);
    }
    mlc_loop_free(d->loop);
    mlc_watchdog_free(d->wd);
    mlc_free(d->model);
    mlc_free(d);
}
