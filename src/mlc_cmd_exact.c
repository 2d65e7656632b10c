#include "mlc_cmd_exact.h"
#include "mlc_cycle.h"
#include "mlc_alloc.h"
#include "mlc_app.h"
#include "mlc_err.h"
#include "mlc_exact.h"
#include "mlc_exact_post.h"
#include "mlc_exact_ref.h"
#include "mlc_exact_webhook.h"
#include "mlc_httpd.h"
#include "mlc_loop.h"
#include "mlc_vault.h"
#include "mlc_log.h"
#include "mlc_mapping.h"
#include "mlc_odata.h"
#include "mlc_platform.h"
#include "mlc_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char mlc_cmd_exact_connect_usage[] =
    "Usage: mlc exact connect [--division N] [--code CODE]\n\n"
    "Connects the agent to Exact Online (OAuth consent).\n"
    "Without --code: prints the link to open in a browser. Log in to Exact, tick the\n"
    "administrations (divisions) the agent may use and allow access; Exact then sends the\n"
    "browser to the redirect URI. Copy the full address from the browser's address bar and run\n"
    "  mlc exact connect --code '<that address>'\n"
    "within 3 minutes (Exact's codes expire quickly and work once).\n"
    "--code takes the full redirect address or the bare code. The tokens are sealed in the\n"
    "vault. Needs the secrets exact.client_id and exact.client_secret ('mlc secret set') and\n"
    "[exact] redirect_uri in the config. --division N also checks that N is allowed.\n\n"
    "When redirect_uri points at this agent (its path is " MLC_EXACT_CALLBACK_PATH "), the\n"
    "command also listens on the status address ([status] bind) and finishes by itself when\n"
    "Exact sends the browser back (at most --timeout seconds, default 600); --no-wait only\n"
    "prints the link.\n";

const char mlc_cmd_exact_status_usage[] =
    "Usage: mlc exact status [--division N]\n\n"
    "Shows the Exact connection: token age and expiry, when the refresh token runs out if the\n"
    "agent stays idle, the rate budget left per division, and checks that the token works,\n"
    "the division is allowed, the user may post bank entries, and bank journals exist.\n"
    "Exits 0 when every check passes, 69 when consent is needed or a check fails.\n";

const char mlc_cmd_exact_divisions_usage[] =
    "Usage: mlc exact divisions\n\n"
    "Lists the Exact administrations (divisions) the consent allows, marking those configured\n"
    "in [exact] divisions.\n";

const char mlc_cmd_exact_journals_usage[] =
    "Usage: mlc exact journals [--division N] [--refresh]\n\n"
    "Lists the bank journals (type 12) of a division: code, IBAN, currency, blocked.\n"
    "Uses the cached list when it is less than a day old; --refresh fetches it again.\n";

const char mlc_cmd_exact_glaccounts_usage[] =
    "Usage: mlc exact glaccounts [--division N] [--refresh]\n\n"
    "Lists the G/L accounts of a division: code, type, blocked, cost center rule.\n"
    "Uses the cached list when it is less than a day old; --refresh fetches it again.\n";

const char mlc_cmd_exact_costcenters_usage[] =
    "Usage: mlc exact costcenters [--division N] [--refresh]\n\n"
    "Lists the cost centers of a division.\n"
    "Uses the cached list when it is less than a day old; --refresh fetches it again.\n";

struct opts {
    long division;       /* 0 = from the config */
    const char *code;
    int refresh;
    long timeout_s;      /* 0 = default */
    int no_wait;
    const char *topic, *url, *id;
};

static int parse_opts(const char *cmd, int argc, char **argv, unsigned allowed, struct opts *o)
{
    memset(o, 0, sizeof(*o));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((allowed & 1) && strcmp(a, "--division") == 0 && i + 1 < argc) {
            char *end = NULL;
            o->division = strtol(argv[++i], &end, 10);
            if (!end || *end || o->division <= 0 || o->division > 2147483647L) {
                mlc_cli_error("--division needs a division number, e.g. --division 100001");
                return MLC_EXIT_USAGE;
            }
        } else if ((allowed & 2) && strcmp(a, "--code") == 0 && i + 1 < argc) {
            o->code = argv[++i];
        } else if ((allowed & 4) && strcmp(a, "--refresh") == 0) {
            o->refresh = 1;
        } else if ((allowed & 8) && strcmp(a, "--timeout") == 0 && i + 1 < argc) {
            char *end = NULL;
            o->timeout_s = strtol(argv[++i], &end, 10);
            if (!end || *end || o->timeout_s <= 0 || o->timeout_s > 86400) {
                mlc_cli_error("--timeout needs seconds between 1 and 86400");
                return MLC_EXIT_USAGE;
            }
        } else if ((allowed & 16) && strcmp(a, "--no-wait") == 0) {
            o->no_wait = 1;
        } else if ((allowed & 32) && strcmp(a, "--topic") == 0 && i + 1 < argc) {
            o->topic = argv[++i];
        } else if ((allowed & 32) && strcmp(a, "--url") == 0 && i + 1 < argc) {
            o->url = argv[++i];
        } else if ((allowed & 64) && !o->id && a[0] != '-') {
            o->id = a;
        } else {
            mlc_cli_error("'exact %s' does not take '%s'; run 'mlc exact %s --help'", cmd, a, cmd);
            return MLC_EXIT_USAGE;
        }
    }
    return 0;
}

/* Test seam for the end-to-end suite (like MLC_CRASH_AT): shifts the agent's wall clock by N
 * seconds so time rules (570 s, 10-minute tokens) are tested without sleeping. Never set on a
 * customer's box. */
static int64_t cli_now(void *ud)
{
    (void)ud;
    const char *off = getenv("MLC_TEST_CLOCK_OFFSET");
    int64_t now = mlc_time_now_ms();
    if (off && *off)
        now += (int64_t)(strtod(off, NULL) * 1000.0);
    return now;
}

struct ctx {
    struct mlc_app app;
    struct mlc_exact *x;
    uint32_t division;
};

static void ctx_close(struct ctx *c)
{
    mlc_exact_close(c->x);
    c->x = NULL;
    mlc_app_close(&c->app);
}

static int ctx_open_on(struct ctx *c, const struct mlc_cli *cli, const struct opts *o, int need_div,
                       struct mlc_loop *loop)
{
    memset(c, 0, sizeof(*c));
    int ec = mlc_app_open(&c->app, cli, MLC_APP_VAULT);
    if (ec)
        return ec;
    const struct mlc_config *cfg = &c->app.cfg;
    if (o->division)
        c->division = (uint32_t)o->division;
    else if (cfg->exact.divisions.n)
        c->division = (uint32_t)cfg->exact.divisions.v[0];
    if (need_div && !c->division) {
        mlc_cli_error("no Exact division is configured; set [exact] divisions in %s or give "
                      "--division N ('mlc exact divisions' lists them)", c->app.config_path);
        mlc_app_close(&c->app);
        return MLC_EXIT_CONFIG;
    }
    struct mlc_exact_opts eo;
    mlc_cycle_exact_opts(cfg, &eo);
    eo.loop = loop;
    struct mlc_exact_env env = { .now_ms = cli_now };
    int rc = mlc_exact_open(&c->x, c->app.store, c->app.vault, &eo, &env);
    if (rc != MLC_OK) {
        mlc_cli_error("could not set up the Exact connection: %s", mlc_err_str(rc));
        mlc_app_close(&c->app);
        return mlc_err_exit_code(rc);
    }
    return 0;
}

static int ctx_open(struct ctx *c, const struct mlc_cli *cli, const struct opts *o, int need_div)
{
    return ctx_open_on(c, cli, o, need_div, NULL);
}

/* One line for the failure, and the exit code. Needs-consent always names the command to run. */
static int fail(struct ctx *c, int rc, const char *what)
{
    const char *why = mlc_exact_last_error(c->x);
    if (rc == MLC_ERR_NEEDS_PERSON && strstr(why, "consent")) {
        mlc_cli_error("%s", why);
    } else {
        mlc_cli_error("%s: %s", what, why[0] ? why : mlc_err_str(rc));
    }
    return mlc_err_exit_code(rc);
}

static void fmt_time(int64_t ms, char *buf, size_t cap)
{
    if (ms <= 0)
        snprintf(buf, cap, "never");
    else
        mlc_time_format_iso(ms, buf, cap);
}

/* ---- connect ---- */

struct me {
    int64_t current_division;
    char user[128];
};

static int me_row(void *ctx, const cJSON *row)
{
    struct me *m = ctx;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(row, "CurrentDivision");
    if (cJSON_IsNumber(d))
        m->current_division = (int64_t)d->valuedouble;
    if (mlc_odata_row_string(row, "FullName", m->user, sizeof(m->user)) != MLC_OK)
        mlc_odata_row_string(row, "UserName", m->user, sizeof(m->user));
    return 1;
}

static int get_me(struct mlc_exact *x, struct me *m)
{
    memset(m, 0, sizeof(*m));
    struct mlc_odata_query q = { .division = 0, .service = "", .entity = "Me",
                                 .select = "CurrentDivision,FullName,UserName" };
    return mlc_exact_get_all(x, &q, me_row, m, NULL);
}

struct div_list {
    int print;
    const struct mlc_config *cfg;
    long want;
    int found;
    unsigned n;
};

static int div_row(void *ctx, const cJSON *row)
{
    struct div_list *d = ctx;
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(row, "Code");
    if (!cJSON_IsNumber(code))
        return 0;
    long c = (long)code->valuedouble;
    d->n++;
    if (c == d->want)
        d->found = 1;
    if (d->print) {
        char desc[128] = "", cur[8] = "", country[8] = "";
        mlc_odata_row_string(row, "Description", desc, sizeof(desc));
        mlc_odata_row_string(row, "Currency", cur, sizeof(cur));
        mlc_odata_row_string(row, "Country", country, sizeof(country));
        int configured = 0;
        for (size_t i = 0; d->cfg && i < d->cfg->exact.divisions.n; i++)
            configured |= d->cfg->exact.divisions.v[i] == c;
        printf("%-10ld %-3s %-4s %s%s\n", c, country, cur, desc, configured ? "  [configured]" : "");
    }
    return 0;
}

static int list_divisions(struct mlc_exact *x, uint32_t via, struct div_list *d)
{
    struct mlc_odata_query q = { .division = via, .service = "system", .entity = "Divisions",
                                 .select = "Code,Description,Country,Currency" };
    return mlc_exact_get_all(x, &q, div_row, d, NULL);
}

/* ---- the OAuth callback on the status address ---- */

struct callback {
    struct mlc_loop *loop;
    char query[MLC_EXACT_CODE_MAX + 256];
    int done;
};

static int on_callback(const struct mlc_httpd_request *req, struct mlc_httpd_response *resp,
                       void *ud)
{
    struct callback *cb = ud;
    const struct mlc_http_inreq *h = req->http;
    if (cb->done || !h->query || h->query_len + 2 > sizeof(cb->query)) {
        return mlc_httpd_resp_text(resp, 400, NULL,
                                   "This is not the answer the agent is waiting for.\n");
    }
    cb->query[0] = '?';
    memcpy(cb->query + 1, h->query, h->query_len);
    cb->query[h->query_len + 1] = '\0';
    cb->done = 1;
    mlc_loop_stop(cb->loop);
    /* The state is checked, and the code exchanged, by the command; the page only says so. */
    return mlc_httpd_resp_text(resp, 200, "text/html; charset=utf-8",
                               "<!doctype html><html><head><meta charset=\"utf-8\"><title>Exact "
                               "Online</title></head><body><h1>Exact Online answered</h1><p>The "
                               "agent is finishing the connection; the terminal shows the result. "
                               "You can close this page.</p></body></html>\n");
}

static void callback_timeout(struct mlc_loop *loop, uint64_t id, void *ud)
{
    (void)id;
    (void)ud;
    mlc_loop_stop(loop);
}

/* Listens on [status] bind for Exact's redirect to MLC_EXACT_CALLBACK_PATH; *answer gets "?<query>"
 * (mlc_malloc'd). The route is public: the browser brings no access token, the OAuth state (checked
 * by the exchange) ties the answer to this run. */
static int wait_callback(const struct mlc_config *cfg, const char *auth_url, long timeout_s,
                         char **answer)
{
    struct callback *cb = mlc_calloc(1, sizeof(*cb));
    struct mlc_loop *loop = NULL;
    struct mlc_httpd *srv = NULL;
    uint8_t rnd[16];
    char access[40];
    int rc = MLC_ERR_NOMEM;
    *answer = NULL;
    if (!cb)
        goto out;
    if ((rc = mlc_random_bytes(rnd, sizeof(rnd))) != MLC_OK)
        goto out;
    for (size_t i = 0; i < sizeof(rnd); i++)
        snprintf(access + 2 * i, 3, "%02x", rnd[i]);
    if ((rc = mlc_loop_new(NULL, &loop)) != MLC_OK)
        goto out;
    cb->loop = loop;
    struct mlc_httpd_config hc = { 0 };
    hc.host = cfg->status.bind.host;
    hc.port = cfg->status.bind.port;
    hc.access_token = access; /* nothing else is served; needed for a non-loopback bind */
    if ((rc = mlc_httpd_new(loop, &hc, &srv)) != MLC_OK) {
        mlc_cli_error("could not listen for Exact's answer on %s:%d (%s); is the agent running "
                      "there? Use 'mlc exact connect --no-wait' and then --code", hc.host, hc.port,
                      mlc_err_str(rc));
        goto out;
    }
    if ((rc = mlc_httpd_route_ex(srv, "GET", MLC_EXACT_CALLBACK_PATH, MLC_HTTPD_PUBLIC, 0,
                                 on_callback, cb)) != MLC_OK)
        goto out;
    uint64_t tid = 0;
    if ((rc = mlc_loop_timer_add(loop, (int64_t)timeout_s * 1000, 0, 0, callback_timeout, cb,
                                 &tid)) != MLC_OK)
        goto out;
    /* Listening already: only now send the person to Exact. */
    printf("Open this link in a browser, log in to Exact Online and allow access:\n\n  %s\n\n"
           "waiting for Exact to send the browser back to %s ...\n", auth_url,
           cfg->exact.redirect_uri);
    fflush(stdout);
    mlc_loop_run(loop);
    /* Let the browser receive its page before the server closes. */
    for (int i = 0; i < 50 && cb->done && mlc_httpd_conn_count(srv) > 0; i++)
        mlc_loop_run_once(loop, 20);
    if (!cb->done) {
        mlc_cli_error("Exact did not send the browser back within %ld seconds; run 'mlc exact "
                      "connect' again", timeout_s);
        rc = MLC_ERR_TIMEOUT;
        goto out;
    }
    *answer = mlc_strdup(cb->query);
    rc = *answer ? MLC_OK : MLC_ERR_NOMEM;
out:
    mlc_httpd_free(srv);
    mlc_loop_free(loop);
    if (cb)
        mlc_wipe(cb, sizeof(*cb));
    mlc_free(cb);
    return rc;
}

int mlc_cmd_exact_connect(const struct mlc_cli *cli, int argc, char **argv)
{
    struct opts o;
    int ec = parse_opts("connect", argc, argv, 1 | 2 | 8 | 16, &o);
    if (ec)
        return ec;
    struct ctx c;
    if ((ec = ctx_open(&c, cli, &o, 0)) != 0)
        return ec;
    int rc;
    char *answer = NULL;
    const char *given = o.code;
    if (!o.code) {
        char url[2048];
        rc = mlc_exact_auth_url(c.x, url, sizeof(url));
        if (rc != MLC_OK) {
            ec = fail(&c, rc, "could not start the Exact authorisation");
            goto out;
        }
        const char *cb = strstr(c.app.cfg.exact.redirect_uri, MLC_EXACT_CALLBACK_PATH);
        int ours = cb && strcmp(cb, MLC_EXACT_CALLBACK_PATH) == 0 && !o.no_wait;
        if (!ours) {
            printf("Open this link in a browser, log in to Exact Online and allow access:\n\n"
                   "  %s\n\nExact then sends the browser to %s. Copy that full address from the "
                   "address bar\nand, within 3 minutes, run:\n\n  mlc exact connect --code "
                   "'<the address>'\n", url, c.app.cfg.exact.redirect_uri);
            ec = 0;
            goto out;
        }
        rc = wait_callback(&c.app.cfg, url, o.timeout_s ? o.timeout_s : 600, &answer);
        if (rc != MLC_OK) {
            ec = mlc_err_exit_code(rc);
            goto out;
        }
        given = answer;
    }
    char code[MLC_EXACT_CODE_MAX], state[128];
    rc = mlc_exact_code_parse(given, code, sizeof(code), state, sizeof(state));
    if (rc != MLC_OK) {
        mlc_cli_error("no authorization code found in what was given to --code; paste the full "
                      "address Exact sent the browser to (it contains 'code='), or the code itself");
        ec = MLC_EXIT_USAGE;
        goto out;
    }
    rc = mlc_exact_connect_code(c.x, code, state);
    mlc_wipe(code, sizeof(code));
    if (rc != MLC_OK) {
        ec = fail(&c, rc, "could not connect to Exact Online");
        goto out;
    }
    struct me me;
    rc = get_me(c.x, &me);
    if (rc != MLC_OK) {
        ec = fail(&c, rc, "connected, but Exact did not answer who the user is");
        goto out;
    }
    printf("connected to Exact Online as %s (current division %lld)\n",
           me.user[0] ? me.user : "(unknown user)", (long long)me.current_division);
    long want = o.division ? o.division
                           : (c.app.cfg.exact.divisions.n ? c.app.cfg.exact.divisions.v[0] : 0);
    if (want) {
        struct div_list d = { .want = want };
        uint32_t via = (uint32_t)(me.current_division > 0 ? me.current_division : want);
        rc = list_divisions(c.x, via, &d);
        if (rc != MLC_OK) {
            ec = fail(&c, rc, "could not list the divisions the consent allows");
            goto out;
        }
        if (!d.found) {
            mlc_cli_error("division %ld is not among the divisions this consent allows; run "
                          "'mlc exact connect' again and tick it on Exact's consent page", want);
            ec = MLC_EXIT_UNAVAILABLE;
            goto out;
        }
        printf("division %ld is allowed\n", want);
    }
    ec = 0;
out:
    if (answer) {
        mlc_wipe(answer, strlen(answer));
        mlc_free(answer);
    }
    ctx_close(&c);
    return ec;
}

/* ---- status ---- */

struct journal_names {
    char text[512];
    unsigned n;
};

static int journal_name(void *ctx, const cJSON *row)
{
    struct journal_names *j = ctx;
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(row, "Code");
    if (cJSON_IsString(code)) {
        size_t used = strlen(j->text);
        snprintf(j->text + used, sizeof(j->text) - used, "%s%s", j->n ? ", " : "",
                 code->valuestring);
        j->n++;
    }
    return 0;
}

/* The journals the account mappings of a division post to: each must be a cached bank journal
 * that is not blocked. */
struct mapped {
    struct mlc_store *st;
    uint32_t division;
    unsigned n, bad;
    char text[384];
};

static int mapped_journal(void *ctx, const struct mlc_mapping *m)
{
    struct mapped *mp = ctx;
    if (m->division != mp->division)
        return 0;
    mp->n++;
    struct mlc_ref_journal j;
    int rc = mlc_exact_ref_journal(mp->st, mp->division, m->journal, &j);
    if (rc == MLC_OK && !j.blocked)
        return 0;
    if (rc != MLC_OK && rc != MLC_ERR_NOTFOUND)
        return rc;
    mp->bad++;
    size_t used = strlen(mp->text);
    snprintf(mp->text + used, sizeof(mp->text) - used, "%sjournal %s (account %.40s) %s",
             used ? "; " : "", m->journal, m->account_id,
             rc == MLC_OK ? "is blocked" : "is not a bank journal of this division");
    return 0;
}

static int check_mapped(struct mlc_store *st, uint32_t division, struct mapped *mp)
{
    memset(mp, 0, sizeof(*mp));
    mp->st = st;
    mp->division = division;
    struct mlc_txn *txn = NULL;
    int rc = mlc_store_begin(st, 1, &txn);
    if (rc != MLC_OK)
        return rc;
    rc = mlc_mapping_each(txn, mapped_journal, mp);
    mlc_store_abort(txn);
    return rc;
}

int mlc_cmd_exact_status(const struct mlc_cli *cli, int argc, char **argv)
{
    struct opts o;
    int ec = parse_opts("status", argc, argv, 1, &o);
    if (ec)
        return ec;
    struct ctx c;
    if ((ec = ctx_open(&c, cli, &o, 0)) != 0)
        return ec;
    struct mlc_exact_token_info ti;
    mlc_exact_token_info(c.x, &ti);
    int64_t now = mlc_exact_now(c.x);
    char t1[40], t2[40];
    printf("Exact Online at %s\n", mlc_exact_base_url(c.x));
    if (!ti.connected) {
        printf("  not connected\n");
        mlc_cli_error("the agent is not connected to Exact Online yet; run 'mlc exact connect'");
        ec = MLC_EXIT_UNAVAILABLE;
        goto out;
    }
    fmt_time(ti.issued_ms, t1, sizeof(t1));
    printf("  access token: issued %s (age %lld s), %s\n", t1,
           (long long)((now - ti.issued_ms) / 1000),
           now < ti.expires_ms ? "valid" : "expired (renewed on the next call)");
    fmt_time(ti.last_refresh_ms, t1, sizeof(t1));
    fmt_time(ti.refresh_expiry_estimate_ms, t2, sizeof(t2));
    printf("  last refresh: %s; refresh token runs out about %s if the agent stays idle\n", t1, t2);
    if (ti.consent_needed) {
        char alert[512];
        mlc_exact_consent_alert(c.x, alert, sizeof(alert));
        printf("  consent: NEEDED\n");
        mlc_cli_error("%s", alert);
        ec = MLC_EXIT_UNAVAILABLE;
        goto out;
    }
    printf("  consent: ok\n");
    const struct mlc_config *cfg = &c.app.cfg;
    int failed = 0, first_rc = MLC_OK;
    struct me me;
    int rc = get_me(c.x, &me);
    if (rc != MLC_OK) {
        printf("  FAIL token works: %s\n", mlc_exact_last_error(c.x));
        ec = fail(&c, rc, "the Exact token does not work");
        goto out;
    }
    printf("  ok   token works (user %s)\n", me.user[0] ? me.user : "?");
    size_t nd = o.division ? 1 : cfg->exact.divisions.n;
    if (nd == 0)
        printf("  --   no division configured: set [exact] divisions\n");
    for (size_t i = 0; i < nd; i++) {
        uint32_t div = o.division ? (uint32_t)o.division : (uint32_t)cfg->exact.divisions.v[i];
        struct div_list d = { .want = div };
        rc = list_divisions(c.x, div, &d);
        if (rc != MLC_OK || !d.found) {
            printf("  FAIL division %u allowed: %s\n", div,
                   rc != MLC_OK ? mlc_exact_last_error(c.x)
                                : "not allowed by the consent; run 'mlc exact connect' and tick it");
            failed++;
            first_rc = first_rc ? first_rc : (rc ? rc : MLC_ERR_NEEDS_PERSON);
            continue;
        }
        printf("  ok   division %u allowed\n", div);
        int allowed = 0;
        rc = mlc_exact_can_post_bank_entries(c.x, div, &allowed);
        if (rc != MLC_OK || !allowed) {
            printf("  FAIL rights to post bank entries in %u: %s\n", div,
                   rc != MLC_OK ? mlc_exact_last_error(c.x)
                                : "the Exact user may not create bank entries; give the user "
                                  "the financial entry rights in Exact");
            failed++;
            first_rc = first_rc ? first_rc : (rc ? rc : MLC_ERR_NEEDS_PERSON);
        } else {
            printf("  ok   rights to post bank entries in %u\n", div);
        }
        rc = mlc_exact_ref_refresh(c.x, c.app.store, div, MLC_REF_JOURNALS, 0, 0, NULL);
        struct journal_names j = { "", 0 };
        if (rc == MLC_OK)
            rc = mlc_exact_ref_each(c.app.store, div, MLC_REF_JOURNALS, journal_name, &j);
        if (rc != MLC_OK || j.n == 0) {
            printf("  FAIL bank journals in %u: %s\n", div,
                   rc != MLC_OK ? mlc_exact_last_error(c.x)
                                : "none found; create a bank journal (type Bank) in Exact");
            failed++;
            first_rc = first_rc ? first_rc : (rc ? rc : MLC_ERR_NEEDS_PERSON);
        } else {
            printf("  ok   bank journals in %u: %s\n", div, j.text);
        }
        struct mapped mp;
        rc = check_mapped(c.app.store, div, &mp);
        if (rc != MLC_OK || mp.bad) {
            printf("  FAIL mapped journals in %u: %s\n", div,
                   rc != MLC_OK ? mlc_err_str(rc) : mp.text);
            failed++;
            first_rc = first_rc ? first_rc : (rc ? rc : MLC_ERR_NEEDS_PERSON);
        } else if (mp.n) {
            printf("  ok   mapped journals in %u exist (%u account(s))\n", div, mp.n);
        } else {
            printf("  --   no bank account is mapped to division %u yet\n", div);
        }
        const struct mlc_ratelimit *rl = mlc_exact_governor(c.x, div);
        now = mlc_exact_now(c.x);
        printf("  rate budget %u: %lld of %lld calls left this minute, %lld of %lld today (%s)\n",
               div, (long long)rl->min_remaining, (long long)rl->min_limit,
               (long long)rl->day_remaining, (long long)rl->day_limit,
               mlc_ratelimit_state_name(mlc_ratelimit_state(rl, now)));
    }
    if (failed) {
        mlc_cli_error("%d Exact check(s) failed; see the FAIL lines above", failed);
        ec = mlc_err_exit_code(first_rc);
        if (ec == MLC_EXIT_OK || ec == MLC_EXIT_SOFTWARE)
            ec = MLC_EXIT_UNAVAILABLE;
        goto out;
    }
    ec = 0;
out:
    ctx_close(&c);
    return ec;
}

/* ---- divisions ---- */

int mlc_cmd_exact_divisions(const struct mlc_cli *cli, int argc, char **argv)
{
    struct opts o;
    int ec = parse_opts("divisions", argc, argv, 0, &o);
    if (ec)
        return ec;
    struct ctx c;
    if ((ec = ctx_open(&c, cli, &o, 0)) != 0)
        return ec;
    struct me me;
    int rc = get_me(c.x, &me);
    if (rc != MLC_OK) {
        ec = fail(&c, rc, "could not ask Exact who the user is");
        goto out;
    }
    uint32_t via = me.current_division > 0 ? (uint32_t)me.current_division : c.division;
    if (!via) {
        mlc_cli_error("Exact named no current division for this user; give one in [exact] "
                      "divisions");
        ec = MLC_EXIT_CONFIG;
        goto out;
    }
    struct div_list d = { .print = 1, .cfg = &c.app.cfg };
    printf("%-10s %-3s %-4s %s\n", "DIVISION", "CTY", "CUR", "NAME");
    rc = list_divisions(c.x, via, &d);
    if (rc != MLC_OK) {
        ec = fail(&c, rc, "could not list the divisions");
        goto out;
    }
    ec = 0;
out:
    ctx_close(&c);
    return ec;
}

/* ---- reference data listings ---- */

static int print_journal(void *ctx, const cJSON *row)
{
    (void)ctx;
    char code[32] = "", iban[48] = "", cur[8] = "", desc[128] = "";
    mlc_odata_row_string(row, "Code", code, sizeof(code));
    mlc_odata_row_string(row, "BankAccountIBAN", iban, sizeof(iban));
    mlc_odata_row_string(row, "Currency", cur, sizeof(cur));
    mlc_odata_row_string(row, "Description", desc, sizeof(desc));
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(row, "IsBlocked");
    printf("%-6s %-34s %-4s %-8s %s\n", code, iban[0] ? iban : "-", cur,
           cJSON_IsTrue(b) ? "blocked" : "ok", desc);
    return 0;
}

static int print_gl(void *ctx, const cJSON *row)
{
    (void)ctx;
    static const char *const cc[] = { "optional", "mandatory", "no" };
    char code[32] = "", desc[128] = "", id[40] = "";
    mlc_odata_row_string(row, "Code", code, sizeof(code));
    mlc_odata_row_string(row, "Description", desc, sizeof(desc));
    mlc_odata_row_string(row, "ID", id, sizeof(id));
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(row, "Type");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(row, "IsBlocked");
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(row, "UseCostcenter");
    int ui = cJSON_IsNumber(u) ? (int)u->valuedouble : 0;
    printf("%-8s %-4d %-8s %-10s %s  %s\n", code, cJSON_IsNumber(t) ? (int)t->valuedouble : 0,
           cJSON_IsTrue(b) ? "blocked" : "ok", ui >= 0 && ui <= 2 ? cc[ui] : "?", id, desc);
    return 0;
}

static int print_cc(void *ctx, const cJSON *row)
{
    (void)ctx;
    char code[32] = "", desc[128] = "";
    mlc_odata_row_string(row, "Code", code, sizeof(code));
    mlc_odata_row_string(row, "Description", desc, sizeof(desc));
    printf("%-8s %s\n", code, desc);
    return 0;
}

static int ref_list(const struct mlc_cli *cli, int argc, char **argv, const char *cmd,
                    enum mlc_ref_kind kind, const char *header, mlc_ref_row_fn fn)
{
    struct opts o;
    int ec = parse_opts(cmd, argc, argv, 1 | 4, &o);
    if (ec)
        return ec;
    struct ctx c;
    if ((ec = ctx_open(&c, cli, &o, 1)) != 0)
        return ec;
    unsigned calls = 0;
    int rc = mlc_exact_ref_refresh(c.x, c.app.store, c.division, kind, 0, o.refresh, &calls);
    if (rc != MLC_OK) {
        char what[96];
        snprintf(what, sizeof(what), "could not fetch the %s of division %u",
                 mlc_exact_ref_kind_name(kind), c.division);
        ec = fail(&c, rc, what);
        goto out;
    }
    char at[40];
    fmt_time(mlc_exact_ref_fetched_at(c.app.store, c.division, kind), at, sizeof(at));
    printf("# division %u, %s fetched %s%s\n", c.division, mlc_exact_ref_kind_name(kind), at,
           calls ? "" : " (cached)");
    printf("%s\n", header);
    rc = mlc_exact_ref_each(c.app.store, c.division, kind, fn, NULL);
    ec = rc == MLC_OK ? 0 : mlc_err_exit_code(rc);
out:
    ctx_close(&c);
    return ec;
}

int mlc_cmd_exact_journals(const struct mlc_cli *cli, int argc, char **argv)
{
    return ref_list(cli, argc, argv, "journals", MLC_REF_JOURNALS,
                    "CODE   IBAN                               CUR  STATE    NAME", print_journal);
}

int mlc_cmd_exact_glaccounts(const struct mlc_cli *cli, int argc, char **argv)
{
    return ref_list(cli, argc, argv, "glaccounts", MLC_REF_GLACCOUNTS,
                    "CODE     TYPE STATE    COSTCENTER ID                                    NAME",
                    print_gl);
}

int mlc_cmd_exact_costcenters(const struct mlc_cli *cli, int argc, char **argv)
{
    return ref_list(cli, argc, argv, "costcenters", MLC_REF_COSTCENTERS, "CODE     NAME", print_cc);
}

/* ---- post (a statement file) ---- */

const char mlc_cmd_exact_post_usage[] =
    "Usage: mlc exact post FILE\n\n"
    "Posts one bank statement from a JSON file as one Exact bank entry, exactly once, with the\n"
    "same checks and crash safety as the agent (for installers testing a journal mapping):\n"
    "  {\"statement_id\": \"test-1\", \"division\": 100001, \"journal\": \"20\",\n"
    "   \"currency\": \"EUR\", \"opening\": \"0.00\", \"closing\": \"-42.50\",\n"
    "   \"lines\": [{\"transaction_id\": \"tx1\", \"date\": \"2026-06-15\", \"amount\": \"-42.50\",\n"
    "              \"glaccount\": \"<GUID>\", \"description\": \"Coffee\", \"costcenter\": \"100\"}]}\n"
    "Amounts are in Exact's sign (money received is positive). Running it again with the same\n"
    "statement_id reports the entry posted the first time. Prints: posted, held (and why), not\n"
    "landed, or retry later. Exits 0 when posted, 69 when held, 75 to retry later.\n";

#define POST_FILE_MAX (8u * 1024u * 1024u)

static const char *jstr(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int mlc_cmd_exact_post(const struct mlc_cli *cli, int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        mlc_cli_error("'exact post' needs one statement file; run 'mlc exact post --help'");
        return MLC_EXIT_USAGE;
    }
    char *text = NULL;
    size_t len = 0;
    int rc = mlc_fs_read_file(argv[1], POST_FILE_MAX, &text, &len);
    if (rc != MLC_OK) {
        mlc_cli_error("could not read %s (%s)", argv[1], mlc_err_str(rc));
        return mlc_err_exit_code(rc);
    }
    cJSON *root = mlc_json_parse_bounded(text, len, POST_FILE_MAX, 8, &rc);
    mlc_free(text);
    struct mlc_bank_line *lines = NULL;
    struct ctx c;
    memset(&c, 0, sizeof(c));
    int ec = MLC_EXIT_DATAERR;
    const cJSON *jl = root ? cJSON_GetObjectItemCaseSensitive(root, "lines") : NULL;
    const cJSON *jd = root ? cJSON_GetObjectItemCaseSensitive(root, "division") : NULL;
    int n = cJSON_GetArraySize(jl);
    if (!root || !cJSON_IsArray(jl) || n <= 0 || n > MLC_POST_LINES_MAX || !jstr(root, "journal") ||
        !jstr(root, "statement_id")) {
        mlc_cli_error("%s is not a statement file (statement_id, journal and 1 to %d lines are "
                      "needed); see 'mlc exact post --help'", argv[1], MLC_POST_LINES_MAX);
        goto out;
    }
    lines = mlc_calloc((size_t)n, sizeof(*lines));
    if (!lines) {
        ec = MLC_EXIT_SOFTWARE;
        goto out;
    }
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, jl) {
        struct mlc_bank_line *l = &lines[i++];
        l->transaction_id = jstr(it, "transaction_id");
        l->date = jstr(it, "date");
        l->amount = jstr(it, "amount");
        l->glaccount = jstr(it, "glaccount");
        l->description = jstr(it, "description");
        l->costcenter = jstr(it, "costcenter");
        l->reversal = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "reversal"));
    }
    struct opts o = { 0 };
    if (cJSON_IsNumber(jd))
        o.division = (long)jd->valuedouble;
    if ((ec = ctx_open(&c, cli, &o, 1)) != 0)
        goto out;
    struct mlc_bank_statement s = { .statement_id = jstr(root, "statement_id"),
                                    .division = c.division, .journal = jstr(root, "journal"),
                                    .currency = jstr(root, "currency"),
                                    .opening = jstr(root, "opening"),
                                    .closing = jstr(root, "closing"), .lines = lines,
                                    .n_lines = (size_t)n };
    struct mlc_post_result r;
    rc = mlc_exact_post_statement(c.x, c.app.store, &s, &r);
    if (rc != MLC_OK) {
        ec = fail(&c, rc, "the statement could not be posted");
        goto out;
    }
    switch (r.outcome) {
    case MLC_POST_POSTED:
        printf("posted: entry %ld (%s)%s\n", r.entry_number, r.entry_id,
               r.settled_by_readback ? " - confirmed by reading back after a lost answer" : "");
        ec = 0;
        break;
    case MLC_POST_NOT_LANDED:
        printf("not landed: %s; run the command again to post it\n", r.reason);
        ec = MLC_EXIT_TEMPFAIL;
        break;
    case MLC_POST_HELD:
        printf("held: %s\n", r.reason);
        mlc_cli_error("the statement is held for a person: %s", r.reason);
        ec = MLC_EXIT_UNAVAILABLE;
        break;
    case MLC_POST_RETRY_LATER:
        printf("retry later: %s\n", r.reason);
        ec = MLC_EXIT_TEMPFAIL;
        break;
    }
out:
    if (c.x || c.app.store)
        ctx_close(&c);
    mlc_free(lines);
    cJSON_Delete(root);
    return ec;
}

/* ---- webhooks ---- */

const char mlc_cmd_exact_webhooks_subscribe_usage[] =
    "Usage: mlc exact webhooks subscribe [--division N] [--topic TOPIC] [--url URL]\n\n"
    "Asks Exact to send notifications (default topic BankEntries: entries created, processed or\n"
    "deleted in Exact) to URL, by default [status] public_url + " MLC_EXACT_WEBHOOK_PATH ".\n"
    "Exact checks the URL at once with an empty POST, so the agent (or this command, when the\n"
    "status address is free) must answer there; Exact only calls https URLs on the domain of\n"
    "the redirect URI. Notifications are verified with the secret exact.webhook_secret.\n";
const char mlc_cmd_exact_webhooks_list_usage[] =
    "Usage: mlc exact webhooks list [--division N]\n\nLists the division's webhook "
    "subscriptions: ID, topic and URL.\n";
const char mlc_cmd_exact_webhooks_unsubscribe_usage[] =
    "Usage: mlc exact webhooks unsubscribe ID [--division N]\n\nDeletes the subscription ID "
    "(as shown by 'mlc exact webhooks list').\n";
const char mlc_cmd_exact_webhooks_listen_usage[] =
    "Usage: mlc exact webhooks listen [--timeout SECONDS]\n\n"
    "Serves the webhook route on the status address and prints each verified notification,\n"
    "to check that Exact's notifications reach this agent (default 300 seconds).\n";

static int on_webhook(const struct mlc_httpd_request *req, struct mlc_httpd_response *resp,
                      void *ud)
{
    struct mlc_cmd_exact_hook *h = ud;
    struct mlc_webhook_event ev;
    enum mlc_webhook_result r = mlc_exact_webhook_verify(req->body, req->body_len,
                                                         h->secret_len ? h->secret : NULL,
                                                         h->secret_len, &ev);
    if (r == MLC_WEBHOOK_OK) {
        h->received++;
        MLC_LOG_INF("exact_webhook", "notification topic=%s action=%s division=%lld", ev.topic,
                    ev.action, (long long)ev.division);
        if (h->on_event)
            h->on_event(h->ud, &ev);
    } else if (r == MLC_WEBHOOK_PING) {
        h->pings++;
    } else {
        h->refused++;
        MLC_LOG_WRN("exact_webhook", "refused reason=\"%s\" peer=%s",
                    mlc_exact_webhook_result_name(r), req->peer);
    }
    char text[64];
    snprintf(text, sizeof(text), "%s\n", mlc_exact_webhook_result_name(r));
    return mlc_httpd_resp_text(resp, mlc_exact_webhook_http_status(r), NULL, text);
}

int mlc_cmd_exact_webhook_route(struct mlc_httpd *srv, struct mlc_cmd_exact_hook *h)
{
    return mlc_httpd_route_ex(srv, "POST", MLC_EXACT_WEBHOOK_PATH, MLC_HTTPD_PUBLIC,
                              MLC_WEBHOOK_BODY_MAX, on_webhook, h);
}

/* Reads the webhook secret; a missing one leaves the hook refusing notifications. */
static void hook_secret(struct mlc_vault *v, struct mlc_cmd_exact_hook *h)
{
    char *val = NULL;
    size_t len = 0;
    h->secret_len = 0;
    if (mlc_vault_get(v, MLC_EXACT_SECRET_WEBHOOK, &val, &len) == MLC_OK && len &&
        len <= sizeof(h->secret)) {
        memcpy(h->secret, val, len);
        h->secret_len = len;
    } else {
        fprintf(stderr, "mlc: note: the secret %s is not set, so notifications are refused; "
                        "set it with 'mlc secret set %s' (Exact's App Center shows it)\n",
                MLC_EXACT_SECRET_WEBHOOK, MLC_EXACT_SECRET_WEBHOOK);
    }
    mlc_vault_free_secret(val, len);
}

static struct mlc_httpd *hook_server(const struct mlc_config *cfg, struct mlc_loop *loop,
                                     struct mlc_cmd_exact_hook *h, int quiet)
{
    struct mlc_httpd *srv = NULL;
    uint8_t rnd[16];
    char access[40];
    if (mlc_random_bytes(rnd, sizeof(rnd)) != MLC_OK)
        return NULL;
    for (size_t i = 0; i < sizeof(rnd); i++)
        snprintf(access + 2 * i, 3, "%02x", rnd[i]);
    struct mlc_httpd_config hc = { 0 };
    hc.host = cfg->status.bind.host;
    hc.port = cfg->status.bind.port;
    hc.access_token = access;
    int rc = mlc_httpd_new(loop, &hc, &srv);
    if (rc != MLC_OK) {
        if (!quiet)
            mlc_cli_error("could not listen on %s:%d (%s); is the agent running there?", hc.host,
                          hc.port, mlc_err_str(rc));
        return NULL;
    }
    if (mlc_cmd_exact_webhook_route(srv, h) != MLC_OK) {
        mlc_httpd_free(srv);
        return NULL;
    }
    return srv;
}

int mlc_cmd_exact_webhooks_subscribe(const struct mlc_cli *cli, int argc, char **argv)
{
    struct opts o;
    int ec = parse_opts("webhooks subscribe", argc, argv, 1 | 32, &o);
    if (ec)
        return ec;
    struct mlc_loop *loop = NULL;
    struct mlc_httpd *srv = NULL;
    struct mlc_cmd_exact_hook *h = mlc_calloc(1, sizeof(*h));
    struct ctx c;
    memset(&c, 0, sizeof(c));
    cJSON *body = NULL;
    char *text = NULL;
    struct mlc_exact_answer a;
    memset(&a, 0, sizeof(a));
    if (!h || mlc_loop_new(NULL, &loop) != MLC_OK) {
        ec = MLC_EXIT_SOFTWARE;
        goto out;
    }
    /* The HTTP client runs on the loop that serves the route: Exact's validation POST arrives
     * while our subscription POST waits for its answer. */
    if ((ec = ctx_open_on(&c, cli, &o, 1, loop)) != 0)
        goto out;
    char url[MLC_CONFIG_URL_MAX + 64];
    if (o.url) {
        snprintf(url, sizeof(url), "%s", o.url);
    } else if (c.app.cfg.status.public_url[0]) {
        const char *pu = c.app.cfg.status.public_url;
        size_t pl = strlen(pu);
        snprintf(url, sizeof(url), "%.*s%s", (int)(pl && pu[pl - 1] == '/' ? pl - 1 : pl), pu,
                 MLC_EXACT_WEBHOOK_PATH);
    } else {
        mlc_cli_error("no callback URL: set [status] public_url (the https address Exact can "
                      "reach) or give --url");
        ec = MLC_EXIT_CONFIG;
        goto out;
    }
    hook_secret(c.app.vault, h);
    srv = hook_server(&c.app.cfg, loop, h, 1); /* busy: the running agent answers instead */
    body = cJSON_CreateObject();
    if (!body || !cJSON_AddStringToObject(body, "CallbackURL", url) ||
        !cJSON_AddStringToObject(body, "Topic", o.topic ? o.topic : "BankEntries") ||
        !cJSON_AddStringToObject(body, "Description", "ml-connector") ||
        !(text = cJSON_PrintUnformatted(body))) {
        ec = MLC_EXIT_SOFTWARE;
        goto out;
    }
    char eurl[1024];
    mlc_exact_url(c.x, c.division, "webhooks", "WebhookSubscriptions", eurl, sizeof(eurl));
    struct mlc_exact_call call = { .method = MLC_EXACT_POST, .division = c.division, .url = eurl,
                                   .endpoint = "webhooks/WebhookSubscriptions", .body = text,
                                   .body_len = strlen(text) };
    int rc = mlc_exact_request(c.x, &call, &a);
    if (rc != MLC_OK) {
        ec = fail(&c, rc, "Exact did not create the subscription");
        goto out;
    }
    struct mlc_odata_page p;
    memset(&p, 0, sizeof(p));
    char id[64] = "?";
    if (mlc_odata_page_parse(&p, a.body.data, a.body.len) == MLC_OK) {
        const cJSON *row = mlc_odata_page_next(&p);
        if (row)
            mlc_odata_row_string(row, "ID", id, sizeof(id));
    }
    mlc_odata_page_free(&p);
    printf("subscribed %s in division %u to %s (subscription %s)\n",
           o.topic ? o.topic : "BankEntries", c.division, url, id);
    ec = 0;
out:
    mlc_exact_answer_free(&a);
    cJSON_free(text);
    cJSON_Delete(body);
    if (c.x || c.app.store)
        ctx_close(&c);
    mlc_httpd_free(srv);
    mlc_loop_free(loop);
    if (h)
        mlc_wipe(h, sizeof(*h));
    mlc_free(h);
    return ec;
}

static int print_sub(void *ctx, const cJSON *row)
{
    (void)ctx;
    char id[64] = "", topic[64] = "", url[512] = "";
    mlc_odata_row_string(row, "ID", id, sizeof(id));
    mlc_odata_row_string(row, "Topic", topic, sizeof(topic));
    mlc_odata_row_string(row, "CallbackURL", url, sizeof(url));
    printf("%-36s  %-16s %s\n", id, topic, url);
    return 0;
}

int mlc_cmd_exact_webhooks_list(const struct mlc_cli *cli, int argc, char **argv)
{
    struct opts o;
    int ec = parse_opts("webhooks list", argc, argv, 1, &o);
    if (ec)
        return ec;
    struct ctx c;
    if ((ec = ctx_open(&c, cli, &o, 1)) != 0)
        return ec;
    struct mlc_odata_query q = { .division = c.division, .service = "webhooks",
                                 .entity = "WebhookSubscriptions",
                                 .select = "ID,Topic,CallbackURL" };
    printf("%-36s  %-16s %s\n", "ID", "TOPIC", "URL");
    int rc = mlc_exact_get_all(c.x, &q, print_sub, NULL, NULL);
    ec = rc == MLC_OK ? 0 : fail(&c, rc, "could not list the webhook subscriptions");
    ctx_close(&c);
    return ec;
}

int mlc_cmd_exact_webhooks_unsubscribe(const struct mlc_cli *cli, int argc, char **argv)
{
    struct opts o;
    int ec = parse_opts("webhooks unsubscribe", argc, argv, 1 | 64, &o);
    if (ec)
        return ec;
    if (!o.id || !mlc_odata_guid_valid(o.id)) {
        mlc_cli_error("'exact webhooks unsubscribe' needs the subscription ID (a GUID) shown by "
                      "'mlc exact webhooks list'");
        return MLC_EXIT_USAGE;
    }
    struct ctx c;
    if ((ec = ctx_open(&c, cli, &o, 1)) != 0)
        return ec;
    char entity[96], url[1024];
    snprintf(entity, sizeof(entity), "WebhookSubscriptions(guid'%s')", o.id);
    mlc_exact_url(c.x, c.division, "webhooks", entity, url, sizeof(url));
    struct mlc_exact_call call = { .method = MLC_EXACT_DELETE, .division = c.division, .url = url,
                                   .endpoint = "webhooks/WebhookSubscriptions" };
    struct mlc_exact_answer a;
    int rc = mlc_exact_request(c.x, &call, &a);
    mlc_exact_answer_free(&a);
    if (rc == MLC_OK) {
        printf("deleted subscription %s\n", o.id);
        ec = 0;
    } else {
        ec = fail(&c, rc, "could not delete the subscription");
    }
    ctx_close(&c);
    return ec;
}

static void print_event(void *ud, const struct mlc_webhook_event *ev)
{
    (void)ud;
    printf("%s %s division=%lld key=%s\n", ev->topic, ev->action, (long long)ev->division,
           ev->key);
    fflush(stdout);
}

int mlc_cmd_exact_webhooks_listen(const struct mlc_cli *cli, int argc, char **argv)
{
    struct opts o;
    int ec = parse_opts("webhooks listen", argc, argv, 8, &o);
    if (ec)
        return ec;
    struct mlc_app app;
    if ((ec = mlc_app_open(&app, cli, MLC_APP_VAULT)) != 0)
        return ec;
    struct mlc_loop *loop = NULL;
    struct mlc_httpd *srv = NULL;
    struct mlc_cmd_exact_hook *h = mlc_calloc(1, sizeof(*h));
    ec = MLC_EXIT_SOFTWARE;
    if (!h || mlc_loop_new(NULL, &loop) != MLC_OK)
        goto out;
    hook_secret(app.vault, h);
    h->on_event = print_event;
    if (!(srv = hook_server(&app.cfg, loop, h, 0))) {
        ec = MLC_EXIT_UNAVAILABLE;
        goto out;
    }
    uint64_t tid = 0;
    mlc_loop_timer_add(loop, (o.timeout_s ? o.timeout_s : 300) * 1000LL, 0, 0, callback_timeout,
                       NULL, &tid);
    mlc_loop_handle_signals(loop, NULL, NULL);
    printf("listening on %s:%d%s\n", app.cfg.status.bind.host, mlc_httpd_port(srv),
           MLC_EXACT_WEBHOOK_PATH);
    fflush(stdout);
    mlc_loop_run(loop);
    printf("%u notification(s) verified, %u refused\n", h->received, h->refused);
    ec = 0;
out:
    mlc_httpd_free(srv);
    mlc_loop_free(loop);
    if (h)
        mlc_wipe(h, sizeof(*h));
    mlc_free(h);
    mlc_app_close(&app);
    return ec;
}
