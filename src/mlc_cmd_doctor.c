#include "mlc_cmd_doctor.h"
#include "mlc_cycle.h"
#include "mlc_alert.h"
#include "mlc_alloc.h"
#include "mlc_app.h"
#include "mlc_board.h"
#include "mlc_clock.h"
#include "mlc_config.h"
#include "mlc_err.h"
#include "mlc_exact.h"
#include "mlc_http.h"
#include "mlc_journal.h"
#include "mlc_led.h"
#include "mlc_loop.h"
#include "mlc_mapping.h"
#include "mlc_net.h"
#include "mlc_notify.h"
#include "mlc_odata.h"
#include "mlc_plaid.h"
#include "mlc_plaid_pull.h"
#include "mlc_platform.h"
#include "mlc_store.h"
#include "mlc_vault.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

const char mlc_cmd_doctor_usage[] =
    "Usage: mlc [--config FILE] [--data-dir DIR] doctor\n\n"
    "Checks that this installation fits, in one screen: the config is valid; the data\n"
    "directory, store and vault open; the status page can listen on its address; the LEDs are\n"
    "found; the alert channels are set up; Plaid's credentials and every bank link work; the\n"
    "Exact connection, its divisions and the right to post bank entries work; every account\n"
    "mapping is valid; the clock agrees with Plaid's and Exact's; no alert waits for a person.\n"
    "Each failing check names what to do. It talks to Plaid and Exact but changes nothing\n"
    "there. Exits 0 when every check passes, 69 otherwise.\n";

const char mlc_cmd_alerts_usage[] =
    "Usage: mlc [--config FILE] [--data-dir DIR] alerts\n\n"
    "Lists the open alerts: what is wrong, since when, and the command that fixes it, with\n"
    "the state of their e-mail/webhook delivery. Exits 0 when none needs a person, 69 when\n"
    "one does.\n";

const char mlc_cmd_alerts_send_usage[] =
    "Usage: mlc [--config FILE] [--data-dir DIR] alerts send\n\n"
    "Brings the alerts up to date with the stored state of the bank links and the Exact\n"
    "connection, then delivers what is due now: new alerts, reminders of alerts still open after\n"
    "[alerts] resend_interval, all-clear messages, and earlier failed deliveries whose retry\n"
    "time has come. The running agent does this by itself; this is for a check by hand.\n";

const char mlc_cmd_alerts_test_usage[] =
    "Usage: mlc [--config FILE] [--data-dir DIR] alerts test\n\n"
    "Sends a test alert through every configured channel (e-mail to [alerts] email_to, JSON\n"
    "POST to [alerts] webhook_url), then its all-clear, and says for each channel whether it\n"
    "arrived. Exits 0 when every channel took both, 69 when one failed, 78 when no channel\n"
    "is configured.\n";

/* ---- the report ---- */

enum verdict { V_OK = 0, V_FAIL = 1, V_SKIP = 2 };

#define SAME_LINES_MAX 4 /* lines of one check shown before "... and N more": one screen */

struct doctor {
    struct mlc_app app;
    int app_open;
    int have_vault;             /* store and vault are open in app */
    struct mlc_clock_sanity clock;
    unsigned failed;
    const char *last_what;      /* check of the previous line */
    unsigned same, hidden;      /* lines of that check shown, and left out */
};

static void flush_hidden(struct doctor *d)
{
    if (d->hidden)
        printf("      ... and %u more like this\n", d->hidden);
    d->hidden = 0;
}

static void report(struct doctor *d, enum verdict v, const char *what, const char *detail,
                   const char *fix)
{
    static const char *const word[] = { "ok", "FAIL", "--" };
    if (v == V_FAIL)
        d->failed++;
    if (!d->last_what || strcmp(d->last_what, what) != 0) {
        flush_hidden(d);
        d->last_what = what;
        d->same = 0;
    }
    if (++d->same > SAME_LINES_MAX) {
        d->hidden++;
        return;
    }
    printf("%-5s %-13s %s\n", word[v], what, detail);
    if (v == V_FAIL && fix && fix[0])
        printf("      fix: %s\n", fix);
}

/* ---- checks: each reports one or more lines ---- */

static void check_store(struct doctor *d)
{
    struct mlc_store_opts opts;
    mlc_app_store_opts(&d->app, &opts);
    char detail[512], fix[512];
    int rc = mlc_store_open(&d->app.store, d->app.data_dir, &opts);
    if (rc != MLC_OK) {
        snprintf(detail, sizeof(detail), "the store in %s does not open: %s", d->app.data_dir,
                 mlc_err_str(rc));
        snprintf(fix, sizeof(fix), rc == MLC_ERR_PERM
                     ? "chmod 700 %s (only the agent's user may read it)"
                     : "run 'mlc init' if this is a new installation, else 'mlc store check'",
                 d->app.data_dir);
        report(d, V_FAIL, "data dir", detail, fix);
        return;
    }
    rc = mlc_vault_open(&d->app.vault, d->app.store, d->app.data_dir);
    if (rc != MLC_OK) {
        snprintf(detail, sizeof(detail), "the vault does not open: %s",
                 mlc_vault_last_error()[0] ? mlc_vault_last_error() : mlc_err_str(rc));
        report(d, V_FAIL, "vault", detail,
               rc == MLC_ERR_NOTFOUND ? "mlc init" : "see the message above");
        return;
    }
    d->have_vault = 1;
    snprintf(detail, sizeof(detail), "%s: store (schema %u) and vault open", d->app.data_dir,
             mlc_store_schema_version(d->app.store));
    report(d, V_OK, "data dir", detail, NULL);
}

static void check_bind(struct doctor *d)
{
    const struct mlc_config_hostport *b = &d->app.cfg.status.bind;
    char detail[512], fix[512];
    int fd = -1;
    int rc = mlc_net_listen(b->host, b->port, 1, &fd, NULL);
    mlc_net_close(fd);
    if (rc == MLC_OK) {
        snprintf(detail, sizeof(detail), "can listen on %s:%d", b->host, b->port);
        report(d, V_OK, "status page", detail, NULL);
        return;
    }
    snprintf(detail, sizeof(detail), "cannot listen on %s:%d: %s", b->host, b->port,
             rc == MLC_ERR_EXISTS ? "the port is in use"
             : rc == MLC_ERR_PERM ? "not allowed (a port below 1024, or not this machine's address)"
                                  : mlc_err_str(rc));
    snprintf(fix, sizeof(fix), rc == MLC_ERR_EXISTS
                 ? "if the mlc service is running, stop it for this check; else set a free port "
                   "in [status] bind"
                 : "set [status] bind to an address of this machine and a port above 1023");
    report(d, V_FAIL, "status page", detail, fix);
}

static void check_leds(struct doctor *d)
{
    const struct mlc_config *cfg = &d->app.cfg;
    char err[512], detail[640];
    if (cfg->board.profile == MLC_BOARD_NONE) {
        report(d, V_SKIP, "LEDs", "no board profile set ([board] profile = none): no LEDs", NULL);
        return;
    }
    struct mlc_board b;
    struct mlc_led *led = NULL;
    int rc = mlc_board_resolve(&b, (enum mlc_board_kind)cfg->board.profile, cfg->board.led_status,
                               cfg->board.led_attention, cfg->board.led_active_low ? 1 : -1, err,
                               sizeof(err));
    if (rc == MLC_OK)
        rc = mlc_led_open(&led, &b, NULL, err, sizeof(err));
    if (rc != MLC_OK) {
        snprintf(detail, sizeof(detail), "%s", err[0] ? err : mlc_err_str(rc));
        report(d, V_FAIL, "LEDs", detail,
               rc == MLC_ERR_PERM ? "install the udev rule from packaging/ and restart"
                                  : "check [board] profile and led_status in the config");
        return;
    }
    snprintf(detail, sizeof(detail), "status LED %s%s%s", mlc_led_path(led, MLC_BOARD_LED_STATUS),
             mlc_led_path(led, MLC_BOARD_LED_ATTENTION)[0] ? ", attention LED " : "",
             mlc_led_path(led, MLC_BOARD_LED_ATTENTION));
    mlc_led_close(led); /* puts back what the LEDs showed */
    report(d, V_OK, "LEDs", detail, NULL);
}

static void check_alerts(struct doctor *d)
{
    char err[512], detail[1200];
    struct mlc_notify *n = NULL;
    int rc = mlc_notify_new(&d->app.cfg, d->have_vault ? d->app.vault : NULL, &n, err,
                            sizeof(err));
    if (rc != MLC_OK) {
        report(d, V_FAIL, "alerts", err, "correct [alerts] in the config, then 'mlc alerts test'");
        return;
    }
    unsigned ch = mlc_notify_channels(n);
    mlc_notify_free(n);
    const struct mlc_config *cfg = &d->app.cfg;
    if (!ch) {
        report(d, V_SKIP, "alerts", "status page and LEDs only (no [alerts] email_to or "
                                    "webhook_url)", NULL);
        return;
    }
    snprintf(detail, sizeof(detail), "%s%s%s%s%s; 'mlc alerts test' sends a test",
             ch & MLC_ALERT_CH_EMAIL ? "e-mail to " : "",
             ch & MLC_ALERT_CH_EMAIL ? cfg->alerts.email_to : "",
             ch == MLC_ALERT_CH_ALL ? " and " : "",
             ch & MLC_ALERT_CH_WEBHOOK ? "POST to " : "",
             ch & MLC_ALERT_CH_WEBHOOK ? cfg->alerts.webhook_url : "");
    report(d, V_OK, "alerts", detail, NULL);
}

/* ---- Plaid ---- */

struct id_list {
    char (*ids)[MLC_PLAID_ID_MAX + 1];
    int *state;
    size_t n, cap;
};

#define DOCTOR_ITEMS_MAX 64 /* bank links checked live; more are listed as not checked */

static int collect_item(void *ctx, const struct mlc_journal_item *it)
{
    struct id_list *l = ctx;
    if (it->state == MLC_ITEM_REMOVED)
        return 0;
    if (l->n == l->cap)
        return 1;
    snprintf(l->ids[l->n], sizeof(l->ids[0]), "%s", it->item_id);
    l->state[l->n] = it->state;
    l->n++;
    return 0;
}

static void check_plaid(struct doctor *d)
{
    char detail[900], fix[512];
    if (!d->have_vault) {
        report(d, V_SKIP, "Plaid", "not checked: the vault did not open", NULL);
        return;
    }
    char *cid = NULL, *sec = NULL;
    size_t cl = 0, sl = 0;
    struct mlc_plaid *p = NULL;
    struct mlc_txn *txn = NULL;
    struct id_list l = { 0 };
    int rc = mlc_vault_get(d->app.vault, "plaid.client_id", &cid, &cl);
    if (rc == MLC_OK)
        rc = mlc_vault_get(d->app.vault, "plaid.secret", &sec, &sl);
    if (rc != MLC_OK) {
        report(d, V_FAIL, "Plaid", "the Plaid credentials are not in the vault",
               "mlc secret set plaid.client_id; mlc secret set plaid.secret");
        goto out;
    }
    const struct mlc_config *cfg = &d->app.cfg;
    struct mlc_plaid_opts po = { 0 };
    po.base_url = mlc_config_plaid_base_url(cfg);
    po.client_id = cid;
    po.secret = sec;
    if (cfg->agent.ca_bundle[0])
        po.ca_bundle = cfg->agent.ca_bundle;
    po.connect_timeout_ms = (long)cfg->http.connect_timeout * 1000;
    po.total_timeout_ms = (long)cfg->http.total_timeout * 1000;
    po.max_attempts = 2; /* a doctor answers quickly; the agent itself retries longer */
    if ((rc = mlc_plaid_new(&po, &p)) != MLC_OK) {
        snprintf(detail, sizeof(detail), "could not set up the connection to %s: %s",
                 po.base_url, mlc_err_str(rc));
        report(d, V_FAIL, "Plaid", detail, "check [plaid] in the config");
        goto out;
    }
    l.cap = DOCTOR_ITEMS_MAX;
    l.ids = mlc_calloc(l.cap, sizeof(*l.ids));
    l.state = mlc_calloc(l.cap, sizeof(*l.state));
    if (!l.ids || !l.state) {
        report(d, V_FAIL, "Plaid", "out of memory", NULL);
        goto out;
    }
    rc = mlc_store_begin(d->app.store, 1, &txn);
    if (rc == MLC_OK)
        rc = mlc_journal_item_each(txn, collect_item, &l);
    mlc_store_abort(txn);
    txn = NULL;
    if (rc != MLC_OK) {
        snprintf(detail, sizeof(detail), "the bank links could not be read: %s", mlc_err_str(rc));
        report(d, V_FAIL, "Plaid", detail, "mlc store check");
        goto out;
    }
    if (l.n == 0) {
        report(d, V_FAIL, "Plaid", "credentials stored, but no bank is linked yet",
               "mlc plaid link");
        goto out;
    }
    for (size_t i = 0; i < l.n; i++) {
        char *tok = NULL;
        size_t tl = 0;
        cJSON *req = NULL, *ans = NULL;
        if (l.state[i] == MLC_ITEM_TOKEN_LOST ||
            mlc_plaid_item_token(d->app.vault, l.ids[i], &tok, &tl) != MLC_OK) {
            snprintf(detail, sizeof(detail), "bank link %s: its access token is lost", l.ids[i]);
            report(d, V_FAIL, "Plaid", detail, "mlc plaid link  (link the bank again)");
            continue;
        }
        req = cJSON_CreateObject();
        if (req && cJSON_AddStringToObject(req, "access_token", tok))
            rc = mlc_plaid_call(p, "/item/get", req, &ans);
        else
            rc = MLC_ERR_NOMEM;
        mlc_vault_free_secret(tok, tl);
        cJSON_Delete(req);
        const cJSON *item = ans ? cJSON_GetObjectItemCaseSensitive(ans, "item") : NULL;
        const cJSON *ierr = item ? cJSON_GetObjectItemCaseSensitive(item, "error") : NULL;
        const cJSON *inst = item ? cJSON_GetObjectItemCaseSensitive(item, "institution_id") : NULL;
        const char *name = cJSON_IsString(inst) ? inst->valuestring : l.ids[i];
        if (rc == MLC_OK && cJSON_IsObject(ierr)) {
            const cJSON *code = cJSON_GetObjectItemCaseSensitive(ierr, "error_code");
            snprintf(detail, sizeof(detail), "bank link %s (%s): Plaid reports %s", l.ids[i], name,
                     cJSON_IsString(code) ? code->valuestring : "an error");
            snprintf(fix, sizeof(fix), "mlc plaid relink %s", l.ids[i]);
            report(d, V_FAIL, "Plaid", detail, fix);
        } else if (rc != MLC_OK) {
            const struct mlc_plaid_result *r = mlc_plaid_last(p);
            snprintf(detail, sizeof(detail), "bank link %s: %s", l.ids[i],
                     r && r->message[0] ? r->message : mlc_err_str(rc));
            if (rc == MLC_ERR_NEEDS_PERSON)
                snprintf(fix, sizeof(fix), "mlc plaid relink %s", l.ids[i]);
            else
                snprintf(fix, sizeof(fix), "check the network and [plaid] environment, and the "
                         "credentials ('mlc secret set plaid.secret')");
            report(d, V_FAIL, "Plaid", detail, fix);
        } else if (l.state[i] == MLC_ITEM_NEEDS_REAUTH) {
            snprintf(detail, sizeof(detail), "bank link %s (%s) waits for a new login", l.ids[i],
                     name);
            snprintf(fix, sizeof(fix), "mlc plaid relink %s", l.ids[i]);
            report(d, V_FAIL, "Plaid", detail, fix);
        } else {
            snprintf(detail, sizeof(detail), "bank link %s (%s) works", l.ids[i], name);
            report(d, V_OK, "Plaid", detail, NULL);
        }
        cJSON_Delete(ans);
    }
out:
    mlc_free(l.ids);
    mlc_free(l.state);
    mlc_plaid_free(p);
    mlc_vault_free_secret(cid, cl);
    mlc_vault_free_secret(sec, sl);
}

/* ---- Exact ---- */

struct me_row {
    char user[128];
    int rows;
};

static int me_cb(void *ctx, const cJSON *row)
{
    struct me_row *m = ctx;
    m->rows++;
    if (mlc_odata_row_string(row, "FullName", m->user, sizeof(m->user)) != MLC_OK)
        mlc_odata_row_string(row, "UserName", m->user, sizeof(m->user));
    return 1;
}

struct div_find {
    long want;
    int found;
};

static int div_cb(void *ctx, const cJSON *row)
{
    struct div_find *f = ctx;
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(row, "Code");
    if (cJSON_IsNumber(code) && (long)code->valuedouble == f->want) {
        f->found = 1;
        return 1;
    }
    return 0;
}

static void check_exact(struct doctor *d)
{
    char detail[900], fix[300];
    if (!d->have_vault) {
        report(d, V_SKIP, "Exact", "not checked: the vault did not open", NULL);
        return;
    }
    const struct mlc_config *cfg = &d->app.cfg;
    struct mlc_exact *x = NULL;
    struct mlc_exact_opts eo;
    mlc_cycle_exact_opts(cfg, &eo);
    eo.max_attempts = 2;
    int rc = mlc_exact_open(&x, d->app.store, d->app.vault, &eo, NULL);
    if (rc != MLC_OK) {
        snprintf(detail, sizeof(detail), "could not set up the Exact connection: %s",
                 mlc_err_str(rc));
        report(d, V_FAIL, "Exact", detail, "check [exact] in the config");
        goto out;
    }
    struct mlc_exact_token_info ti;
    mlc_exact_token_info(x, &ti);
    if (!ti.connected || ti.consent_needed) {
        snprintf(detail, sizeof(detail), "%s%s%s",
                 !ti.connected ? "not connected to Exact Online" : "the Exact consent is lost",
                 ti.consent_reason[0] ? ": " : "", ti.consent_reason);
        report(d, V_FAIL, "Exact", detail, "mlc exact connect");
        goto out;
    }
    struct me_row me = { "", 0 };
    struct mlc_odata_query q = { .division = 0, .service = "", .entity = "Me",
                                 .select = "CurrentDivision,FullName,UserName" };
    rc = mlc_exact_get_all(x, &q, me_cb, &me, NULL);
    if (rc != MLC_OK) {
        snprintf(detail, sizeof(detail), "the Exact token does not work: %s",
                 mlc_exact_last_error(x)[0] ? mlc_exact_last_error(x) : mlc_err_str(rc));
        report(d, V_FAIL, "Exact", detail,
               rc == MLC_ERR_NEEDS_PERSON ? "mlc exact connect"
                                          : "check the network; then 'mlc exact status'");
        goto out;
    }
    int64_t left = ti.refresh_expiry_estimate_ms - mlc_time_now_ms();
    if (ti.refresh_expiry_estimate_ms > 0 && left <= MLC_ALERT_EXPIRY_WINDOW_MS) {
        snprintf(detail, sizeof(detail), "the Exact connection runs out in %lld days unless the "
                 "agent renews it", (long long)(left > 0 ? left / (24 * 3600 * 1000LL) : 0));
        report(d, V_FAIL, "Exact", detail, "mlc exact status  (renews it), or mlc exact connect");
    } else {
        snprintf(detail, sizeof(detail), "token works (user %s)", me.user[0] ? me.user : "?");
        report(d, V_OK, "Exact", detail, NULL);
    }
    if (cfg->exact.divisions.n == 0) {
        report(d, V_FAIL, "Exact", "no division configured",
               "set [exact] divisions ('mlc exact divisions' lists them)");
        goto out;
    }
    for (size_t i = 0; i < cfg->exact.divisions.n; i++) {
        uint32_t div = (uint32_t)cfg->exact.divisions.v[i];
        struct div_find f = { (long)div, 0 };
        struct mlc_odata_query dq = { .division = div, .service = "system",
                                      .entity = "Divisions", .select = "Code" };
        rc = mlc_exact_get_all(x, &dq, div_cb, &f, NULL);
        if (rc != MLC_OK || !f.found) {
            snprintf(detail, sizeof(detail), "division %u: %s", div,
                     rc != MLC_OK ? mlc_exact_last_error(x) : "not allowed by the consent");
            snprintf(fix, sizeof(fix), "mlc exact connect  (and tick division %u), or correct "
                     "[exact] divisions", div);
            report(d, V_FAIL, "Exact", detail, fix);
            continue;
        }
        int allowed = 0;
        rc = mlc_exact_can_post_bank_entries(x, div, &allowed);
        if (rc != MLC_OK || !allowed) {
            snprintf(detail, sizeof(detail), "division %u: %s", div,
                     rc != MLC_OK ? mlc_exact_last_error(x)
                                  : "the Exact user may not create bank entries");
            report(d, V_FAIL, "Exact", detail,
                   "give the Exact user the rights for financial entries in Exact");
            continue;
        }
        snprintf(detail, sizeof(detail), "division %u allowed, may post bank entries", div);
        report(d, V_OK, "Exact", detail, NULL);
    }
out:
    mlc_exact_close(x);
}

/* ---- mappings ---- */

struct acct_list {
    struct mlc_journal_account *v;
    size_t n, cap;
};

#define DOCTOR_ACCOUNTS_MAX 256

static int collect_account(void *ctx, const struct mlc_journal_account *a)
{
    struct acct_list *l = ctx;
    if (l->n == l->cap)
        return 1;
    l->v[l->n++] = *a;
    return 0;
}

static void check_mappings(struct doctor *d)
{
    char detail[1200], why[512], fix[MLC_PLAID_ID_MAX + 128];
    if (!d->have_vault) {
        report(d, V_SKIP, "mappings", "not checked: the store did not open", NULL);
        return;
    }
    struct acct_list l = { mlc_calloc(DOCTOR_ACCOUNTS_MAX, sizeof(struct mlc_journal_account)), 0,
                           DOCTOR_ACCOUNTS_MAX };
    struct mlc_mapping *m = mlc_malloc(sizeof(*m));
    struct mlc_txn *txn = NULL;
    if (!l.v || !m) {
        report(d, V_FAIL, "mappings", "out of memory", NULL);
        goto out;
    }
    int rc = mlc_store_begin(d->app.store, 1, &txn);
    if (rc == MLC_OK)
        rc = mlc_journal_account_each(txn, NULL, collect_account, &l);
    if (rc != MLC_OK) {
        snprintf(detail, sizeof(detail), "the accounts could not be read: %s", mlc_err_str(rc));
        report(d, V_FAIL, "mappings", detail, "mlc store check");
        goto out;
    }
    if (l.n == 0) {
        report(d, V_SKIP, "mappings", "no bank account known yet ('mlc plaid accounts' reads them)",
               NULL);
        goto out;
    }
    unsigned good = 0;
    for (size_t i = 0; i < l.n; i++) {
        const struct mlc_journal_account *a = &l.v[i];
        rc = mlc_mapping_get(txn, a->account_id, m);
        if (rc == MLC_ERR_NOTFOUND) {
            snprintf(detail, sizeof(detail), "account %s (%s, ...%s) is not mapped to an Exact "
                     "bank journal", a->account_id, a->name, a->mask);
            snprintf(fix, sizeof(fix), "mlc map %s --division N --journal CODE  ('mlc accounts' "
                     "suggests them)", a->account_id);
            report(d, V_FAIL, "mappings", detail, fix);
            continue;
        }
        if (rc == MLC_OK)
            rc = mlc_mapping_check(d->app.store, m, a->currency, why, sizeof(why));
        if (rc != MLC_OK) {
            snprintf(detail, sizeof(detail), "account %s (%s): %s", a->account_id, a->name,
                     rc == MLC_ERR_NEEDS_PERSON ? why : mlc_err_str(rc));
            snprintf(fix, sizeof(fix), "mlc map %s ... again with a valid journal, G/L account "
                     "and cost center", a->account_id);
            report(d, V_FAIL, "mappings", detail, fix);
            continue;
        }
        good++;
    }
    if (good) {
        snprintf(detail, sizeof(detail), "%u of %zu accounts mapped and valid", good, l.n);
        report(d, good == l.n ? V_OK : V_SKIP, "mappings", detail, NULL);
    }
out:
    mlc_store_abort(txn);
    mlc_free(m);
    mlc_free(l.v);
}

/* ---- clock ---- */

/* GETs the host root once and feeds its Date header to the clock check. Any answer carries a
 * Date (RFC 7231 7.1.1.2), even a 404. 0 when a Date was compared. */
static int sample_clock(struct doctor *d, struct mlc_http *h, const char *base, const char *source)
{
    struct mlc_http_request req = { .method = MLC_HTTP_GET, .url = base };
    struct mlc_http_response resp;
    int64_t t0 = mlc_time_mono_ms();
    int rc = mlc_http_perform_sync(h, &req, &resp);
    int64_t elapsed = mlc_time_mono_ms() - t0;
    if (rc == MLC_OK)
        rc = mlc_clock_observe(&d->clock, mlc_http_header_get(&resp, "Date"), mlc_time_now_ms(),
                               elapsed, source, NULL);
    mlc_http_response_free(&resp);
    return rc;
}

static void check_clock(struct doctor *d)
{
    const struct mlc_config *cfg = &d->app.cfg;
    char detail[512];
    mlc_clock_init(&d->clock, cfg->agent.clock_skew_max * 1000);
    struct mlc_loop *loop = NULL;
    struct mlc_http *h = NULL;
    struct mlc_http_opts ho;
    mlc_http_opts_default(&ho);
    ho.connect_timeout_ms = 5000;
    ho.total_timeout_ms = 10000;
    ho.max_response = 64 * 1024;
    if (cfg->agent.ca_bundle[0])
        ho.ca_bundle = cfg->agent.ca_bundle;
    int rc = mlc_loop_new(NULL, &loop);
    if (rc == MLC_OK)
        rc = mlc_http_new(loop, &ho, &h);
    int got = 0;
    if (rc == MLC_OK) {
        got += sample_clock(d, h, mlc_config_exact_base_url(cfg), "Exact") == MLC_OK;
        got += sample_clock(d, h, mlc_config_plaid_base_url(cfg), "Plaid") == MLC_OK;
    }
    mlc_http_free(h);
    mlc_loop_free(loop);
    int64_t now = mlc_time_now_ms();
    mlc_clock_describe(&d->clock, now, detail, sizeof(detail));
    if (now < MLC_CLOCK_FLOOR_MS || (got && !mlc_clock_state_trustworthy(&d->clock, now)))
        report(d, V_FAIL, "clock", detail,
               "turn NTP on and let it reach a server: timedatectl set-ntp true; "
               "timedatectl status");
    else if (!got)
        report(d, V_FAIL, "clock", "could not compare the clock: neither Exact nor Plaid answered",
               "check the network, and the base_url settings in the config");
    else
        report(d, V_OK, "clock", detail, NULL);
}

/* ---- open alerts ---- */

static int alert_line(void *ctx, const struct mlc_alert *a)
{
    struct doctor *d = ctx;
    if (a->severity < MLC_ALERT_NEEDS_PERSON)
        return 0;
    char detail[700];
    snprintf(detail, sizeof(detail), "%s", a->message);
    report(d, V_FAIL, "open alert", detail, a->action[0] ? a->action : "see 'mlc alerts'");
    return 0;
}

static void check_open_alerts(struct doctor *d)
{
    if (!d->have_vault)
        return;
    struct mlc_txn *txn = NULL;
    unsigned before = d->failed;
    int rc = mlc_store_begin(d->app.store, 1, &txn);
    if (rc == MLC_OK)
        rc = mlc_alert_each(txn, alert_line, d);
    mlc_store_abort(txn);
    if (rc != MLC_OK)
        report(d, V_FAIL, "open alert", "the alerts could not be read", "mlc store check");
    else if (d->failed == before)
        report(d, V_OK, "open alerts", "none needs a person", NULL);
}

typedef void (*check_fn)(struct doctor *d);

/* In the order an installer fixes things: what later checks need comes first. */
static const check_fn checks[] = {
    check_store, check_bind, check_leds, check_alerts, check_plaid, check_exact,
    check_mappings, check_clock, check_open_alerts,
};

int mlc_cmd_doctor(const struct mlc_cli *cli, int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        mlc_cli_error("'doctor' takes no arguments; run 'mlc doctor --help'");
        return MLC_EXIT_USAGE;
    }
    struct doctor *d = mlc_calloc(1, sizeof(*d));
    if (!d) {
        mlc_cli_error("out of memory");
        return MLC_EXIT_SOFTWARE;
    }
    int ec = mlc_app_open(&d->app, cli, MLC_APP_CONFIG);
    if (ec) {
        /* mlc_app_open said what is wrong with the config on stderr. */
        report(d, V_FAIL, "config", "the configuration is not valid (see the message above)",
               "correct the config file at the line named, then run 'mlc doctor' again");
        ec = MLC_EXIT_UNAVAILABLE;
        goto out;
    }
    d->app_open = 1;
    char detail[MLC_CONFIG_PATH_MAX + 64];
    if (d->app.config_found)
        snprintf(detail, sizeof(detail), "%s is valid", d->app.config_path);
    else
        snprintf(detail, sizeof(detail), "%s not found: running on the defaults",
                 d->app.config_path);
    report(d, d->app.config_found ? V_OK : V_FAIL, "config", detail, "mlc init");
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++)
        checks[i](d);
    flush_hidden(d);
    printf("\n%s\n", d->failed ? "Some checks failed: do what each 'fix:' line says, then run "
                                 "'mlc doctor' again."
                               : "Everything fits.");
    ec = d->failed ? MLC_EXIT_UNAVAILABLE : MLC_EXIT_OK;
out:
    if (d->app_open)
        mlc_app_close(&d->app);
    mlc_free(d);
    return ec;
}

/* ---- mlc alerts ---- */

static int print_alert(void *ctx, const struct mlc_alert *a)
{
    int *needs = ctx;
    needs[1]++;
    char since[32];
    mlc_time_format_iso(a->raised_ms, since, sizeof(since));
    printf("%-12s %-18s %s  since %s\n", mlc_alert_severity_name(a->severity),
           mlc_alert_kind_name(a->kind), a->key, since);
    printf("    %s\n", a->message);
    if (a->action[0])
        printf("    fix: %s\n", a->action);
    if (a->pending && a->last_error[0])
        printf("    delivery failed %u time%s (retried by itself): %s\n", a->attempts,
               a->attempts == 1 ? "" : "s", a->last_error);
    needs[0] |= a->severity >= MLC_ALERT_NEEDS_PERSON;
    return 0;
}

int mlc_cmd_alerts(const struct mlc_cli *cli, int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        mlc_cli_error("unknown argument '%s'; run 'mlc alerts --help'", argv[1]);
        return MLC_EXIT_USAGE;
    }
    struct mlc_app app;
    int ec = mlc_app_open(&app, cli, MLC_APP_STORE);
    if (ec)
        return ec;
    struct mlc_txn *txn = NULL;
    int counts[2] = { 0, 0 }; /* needs a person, alerts listed */
    int rc = mlc_store_begin(app.store, 1, &txn);
    if (rc == MLC_OK)
        rc = mlc_alert_each(txn, print_alert, counts);
    mlc_store_abort(txn);
    if (rc != MLC_OK) {
        mlc_cli_error("the alerts could not be read: %s; run 'mlc store check'", mlc_err_str(rc));
        ec = mlc_err_exit_code(rc);
        goto out;
    }
    if (counts[1] == 0)
        printf("no open alerts\n");
    ec = counts[0] ? MLC_EXIT_UNAVAILABLE : MLC_EXIT_OK;
out:
    mlc_app_close(&app);
    return ec;
}

/* Opens store, vault and notifier for sending. Returns an exit code. */
static int sender_open(struct mlc_app *app, const struct mlc_cli *cli, struct mlc_notify **n)
{
    char err[512];
    *n = NULL;
    int ec = mlc_app_open(app, cli, MLC_APP_VAULT);
    if (ec)
        return ec;
    int rc = mlc_notify_new(&app->cfg, app->vault, n, err, sizeof(err));
    if (rc != MLC_OK) {
        mlc_cli_error("%s", err[0] ? err : mlc_err_str(rc));
        mlc_app_close(app);
        return rc == MLC_ERR_CONFIG ? MLC_EXIT_CONFIG : mlc_err_exit_code(rc);
    }
    return 0;
}

static uint32_t rnd32(void)
{
    uint32_t r = 0;
    mlc_random_bytes(&r, sizeof(r));
    return r;
}

/* Brings the alerts in line with what the store knows (bank links' states, the Exact token),
 * in one short write transaction, so `alerts send` works without the agent running. */
static int sync_sources(struct mlc_app *app)
{
    struct mlc_exact *x = NULL;
    struct mlc_exact_opts eo;
    struct mlc_exact_token_info ti;
    mlc_exact_opts_default(&eo);
    eo.base_url = mlc_config_exact_base_url(&app->cfg);
    int rc = mlc_exact_open(&x, app->store, app->vault, &eo, NULL);
    if (rc != MLC_OK)
        return rc;
    mlc_exact_token_info(x, &ti);
    mlc_exact_close(x); /* before the write transaction: it may hold its own */
    struct mlc_txn *txn = NULL;
    int64_t now = mlc_time_now_ms();
    rc = mlc_store_begin(app->store, 0, &txn);
    if (rc == MLC_OK)
        rc = mlc_alert_sync_exact(txn, &ti, now);
    if (rc == MLC_OK)
        rc = mlc_alert_sync_plaid(txn, now);
    if (rc == MLC_OK)
        return mlc_store_commit(txn);
    mlc_store_abort(txn);
    return rc;
}

int mlc_cmd_alerts_send(const struct mlc_cli *cli, int argc, char **argv)
{
    if (argc > 1) {
        mlc_cli_error("unknown argument '%s'; run 'mlc alerts send --help'", argv[1]);
        return MLC_EXIT_USAGE;
    }
    struct mlc_app app;
    struct mlc_notify *n = NULL;
    int ec = sender_open(&app, cli, &n);
    if (ec)
        return ec;
    int rc = sync_sources(&app);
    if (rc != MLC_OK) {
        mlc_cli_error("the alerts could not be brought up to date: %s; run 'mlc store check'",
                      mlc_err_str(rc));
        ec = mlc_err_exit_code(rc);
        goto out;
    }
    struct mlc_alert_sender s;
    mlc_notify_sender(n, &s);
    struct mlc_alert_dispatch_stats st;
    rc = mlc_alert_dispatch(app.store, &s, app.cfg.alerts.resend_interval * 1000,
                            mlc_time_now_ms(), rnd32(), &st, NULL);
    if (rc != MLC_OK) {
        mlc_cli_error("sending the alerts failed: %s", mlc_err_str(rc));
        ec = mlc_err_exit_code(rc);
    } else {
        printf("sent %u notice%s (%u reminder%s), %u all-clear, %u failed (tried again later)\n",
               st.sent, st.sent == 1 ? "" : "s", st.reminders, st.reminders == 1 ? "" : "s",
               st.all_clear, st.failed);
        ec = st.failed ? MLC_EXIT_UNAVAILABLE : MLC_EXIT_OK;
    }
out:
    mlc_notify_free(n);
    mlc_app_close(&app);
    return ec;
}

/* Wraps the real sender to tell, per channel, what happened to the test alert. */
struct test_probe {
    struct mlc_alert_sender real;
    int result[2];     /* per channel: 0 not tried, 1 ok, -1 failed */
    char err[2][512];
};

static int probe_send(void *ud, unsigned channel, const struct mlc_alert *a, int notice,
                      int64_t now_ms, char *err, size_t errcap)
{
    struct test_probe *p = ud;
    int rc = p->real.send(p->real.ud, channel, a, notice, now_ms, err, errcap);
    if (a->kind == MLC_ALERT_TEST) {
        int i = channel == MLC_ALERT_CH_EMAIL ? 0 : 1;
        if (rc != MLC_OK) {
            p->result[i] = -1;
            snprintf(p->err[i], sizeof(p->err[i]), "%s", err);
        } else if (p->result[i] == 0) {
            p->result[i] = 1;
        }
    }
    return rc;
}

static int test_step(struct mlc_store *st, int resolve)
{
    struct mlc_txn *txn = NULL;
    int64_t now = mlc_time_now_ms();
    int rc = mlc_store_begin(st, 0, &txn);
    if (rc != MLC_OK)
        return rc;
    if (resolve) {
        rc = mlc_alert_resolve(txn, MLC_ALERT_TEST, "test", now);
    } else {
        /* A fresh test each time: an earlier one that failed must not swallow this one. */
        rc = mlc_alert_forget(txn, MLC_ALERT_TEST, "test");
        if (rc == MLC_OK)
            rc = mlc_alert_raise(txn, MLC_ALERT_TEST, "test", MLC_ALERT_INFO,
                                 "This is a test alert from ml-connector: alerts reach you.",
                                 "", now, NULL);
    }
    if (rc == MLC_OK)
        return mlc_store_commit(txn);
    mlc_store_abort(txn);
    return rc;
}

int mlc_cmd_alerts_test(const struct mlc_cli *cli, int argc, char **argv)
{
    if (argc > 1) {
        mlc_cli_error("unknown argument '%s'; run 'mlc alerts test --help'", argv[1]);
        return MLC_EXIT_USAGE;
    }
    struct mlc_app app;
    struct mlc_notify *n = NULL;
    int ec = sender_open(&app, cli, &n);
    if (ec)
        return ec;
    struct test_probe p;
    memset(&p, 0, sizeof(p));
    mlc_notify_sender(n, &p.real);
    struct mlc_alert_sender s = { probe_send, &p, p.real.channels };
    if (!s.channels) {
        mlc_cli_error("no alert channel is configured: set [alerts] email_to (with smtp_url and "
                      "email_from) or webhook_url in %s", app.config_path);
        ec = MLC_EXIT_CONFIG;
        goto out;
    }
    int rc = test_step(app.store, 0);
    if (rc == MLC_OK)
        rc = mlc_alert_dispatch(app.store, &s, app.cfg.alerts.resend_interval * 1000,
                                mlc_time_now_ms(), rnd32(), NULL, NULL);
    if (rc == MLC_OK)
        rc = test_step(app.store, 1);
    if (rc == MLC_OK)
        rc = mlc_alert_dispatch(app.store, &s, app.cfg.alerts.resend_interval * 1000,
                                mlc_time_now_ms(), rnd32(), NULL, NULL);
    if (rc != MLC_OK) {
        mlc_cli_error("the test alert could not be sent: %s", mlc_err_str(rc));
        ec = mlc_err_exit_code(rc);
        goto out;
    }
    ec = MLC_EXIT_OK;
    for (int i = 0; i < 2; i++) {
        unsigned ch = i == 0 ? MLC_ALERT_CH_EMAIL : MLC_ALERT_CH_WEBHOOK;
        if (!(s.channels & ch))
            continue;
        const char *what = i == 0 ? "e-mail to" : "POST to";
        const char *where = i == 0 ? app.cfg.alerts.email_to : app.cfg.alerts.webhook_url;
        if (p.result[i] == 1) {
            printf("ok    %s %s: test alert and all-clear sent\n", what, where);
        } else {
            printf("FAIL  %s %s: %s\n", what, where, p.err[i][0] ? p.err[i] : "not sent");
            ec = MLC_EXIT_UNAVAILABLE;
        }
    }
    if (ec)
        printf("The failed channel is tried again by the agent; fix the cause and run "
               "'mlc alerts test' again.\n");
out:
    mlc_notify_free(n);
    mlc_app_close(&app);
    return ec;
}
