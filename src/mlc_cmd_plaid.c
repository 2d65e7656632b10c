#include "mlc_cmd_plaid.h"
#include "mlc_alloc.h"
#include "mlc_app.h"
#include "mlc_err.h"
#include "mlc_journal.h"
#include "mlc_log.h"
#include "mlc_platform.h"
#include "mlc_plaid.h"
#include "mlc_http_parse.h"
#include "mlc_httpd.h"
#include "mlc_loop.h"
#include "mlc_plaid_pull.h"
#include "mlc_plaid_webhook.h"
#include "mlc_store.h"
#include "mlc_vault.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLIENT_NAME "ml-connector"  /* Link shows it; at most 30 characters (plaid.md 2.1) */
#define MAX_ITEMS 256                /* bank links per agent: a command's own bound */

const char mlc_cmd_plaid_link_usage[] =
    "Usage: mlc plaid link [--sandbox [--institution ID]] [--timeout SECONDS]\n\n"
    "Connects a bank through Plaid. Without --sandbox: creates a Link token and serves a page at\n"
    "the status address ([status] bind) where the account holder picks the bank and consents;\n"
    "the connector then exchanges the public token, seals the access token in the vault and\n"
    "records the bank link and its accounts. With --sandbox (Plaid sandbox only): links a test\n"
    "bank without a browser (default institution ins_109508, First Platypus Bank).\n"
    "Run 'mlc plaid sync' afterwards to download the transactions.\n";
const char mlc_cmd_plaid_relink_usage[] =
    "Usage: mlc plaid relink ITEM [--timeout SECONDS]\n\n"
    "Reconnects a bank link that needs the account holder to log in again (Plaid's update mode):\n"
    "serves the Link page for that bank; the access token stays the same.\n";
const char mlc_cmd_plaid_items_usage[] =
    "Usage: mlc plaid items\n\n"
    "Lists the bank links with their state, and checks the Plaid credentials and every link\n"
    "with Plaid (the installer's check). Exits 69 when a link needs a person.\n";
const char mlc_cmd_plaid_accounts_usage[] =
    "Usage: mlc plaid accounts [--offline]\n\n"
    "Reads the accounts and their numbers (IBAN/BIC, ACH, BACS, EFT) from Plaid, stores them\n"
    "and lists them; numbers are shown masked. --offline lists what is stored.\n";
const char mlc_cmd_plaid_balances_usage[] =
    "Usage: mlc plaid balances [--offline]\n\n"
    "Reads the balances (live or cached, per [plaid] balance_source), stores them with the time\n"
    "read and lists them. --offline lists what is stored.\n";
const char mlc_cmd_plaid_sync_usage[] =
    "Usage: mlc plaid sync [ITEM]\n\n"
    "Downloads new, changed and removed transactions of every bank link (or one) into the local\n"
    "journal. A link that needs re-authentication is skipped and reported; the others go on.\n"
    "Exits 0 when all links synced, 69 when one needs a person, 75 when Plaid was unavailable.\n";
const char mlc_cmd_plaid_rotate_usage[] =
    "Usage: mlc plaid rotate ITEM\n\n"
    "Replaces the bank link's access token with a new one (Plaid retires the old one at once).\n";
const char mlc_cmd_plaid_journal_usage[] =
    "Usage: mlc plaid journal [--account ACCOUNT_ID] [--alerts]\n\n"
    "Prints the local transaction journal, one transaction a line, tab-separated:\n"
    "state, account, transaction, date, amount (positive = money out), currency, pending\n"
    "transaction it replaces, name. --alerts prints the open Plaid alerts instead.\n";

struct session {
    struct mlc_app app;
    int app_open;
    struct mlc_plaid *p;
};

static void session_close(struct session *s)
{
    mlc_plaid_free(s->p);
    s->p = NULL;
    if (s->app_open)
        mlc_app_close(&s->app);
    s->app_open = 0;
}

/* Opens config, store and vault, and (when connect) the Plaid connection. Returns an exit code. */
static int session_open(struct session *s, const struct mlc_cli *cli, int connect)
{
    memset(s, 0, sizeof(*s));
    /* Reading the journal needs no secret: only the store. */
    int ec = mlc_app_open(&s->app, cli, connect ? MLC_APP_VAULT : MLC_APP_STORE);
    if (ec)
        return ec;
    s->app_open = 1;
    if (!connect)
        return 0;
    char *cid = NULL, *sec = NULL;
    size_t cl = 0, sl = 0;
    int rc = mlc_vault_get(s->app.vault, "plaid.client_id", &cid, &cl);
    if (rc == MLC_OK)
        rc = mlc_vault_get(s->app.vault, "plaid.secret", &sec, &sl);
    if (rc != MLC_OK) {
        mlc_cli_error("the Plaid credentials are not in the vault (%s); store them with "
                      "'mlc secret set plaid.client_id' and 'mlc secret set plaid.secret'",
                      mlc_err_str(rc));
        ec = rc == MLC_ERR_NOTFOUND ? MLC_EXIT_CONFIG : mlc_err_exit_code(rc);
        goto out;
    }
    struct mlc_plaid_opts po = { 0 };
    if (s->app.cfg.agent.ca_bundle[0])
        po.ca_bundle = s->app.cfg.agent.ca_bundle;
    if (s->app.cfg.http.connect_timeout > 0)
        po.connect_timeout_ms = (long)s->app.cfg.http.connect_timeout * 1000;
    if (s->app.cfg.http.total_timeout > 0)
        po.total_timeout_ms = (long)s->app.cfg.http.total_timeout * 1000;
    po.base_url = mlc_config_plaid_base_url(&s->app.cfg);
    po.client_id = cid;
    po.secret = sec;
    rc = mlc_plaid_new(&po, &s->p);
    if (rc != MLC_OK) {
        mlc_cli_error("could not set up the Plaid connection to %s: %s", po.base_url,
                      mlc_err_str(rc));
        ec = mlc_err_exit_code(rc);
    }
out:
    mlc_vault_free_secret(cid, cl);
    mlc_vault_free_secret(sec, sl);
    if (ec)
        session_close(s);
    return ec;
}

static int fail(struct session *s, int rc, const char *what)
{
    const struct mlc_plaid_result *r = s->p ? mlc_plaid_last(s->p) : NULL;
    if (r && r->rc != MLC_OK && r->message[0])
        mlc_cli_error("%s: %s", what, r->message);
    else
        mlc_cli_error("%s: %s", what, mlc_err_str(rc));
    return mlc_err_exit_code(rc);
}

/* ---- item ids ---- */

struct id_list {
    char (*ids)[MLC_PLAID_ID_MAX + 1];
    size_t n, cap;
};

static int collect_id(void *ctx, const struct mlc_journal_item *it)
{
    struct id_list *l = ctx;
    if (l->n >= l->cap)
        return 1;
    snprintf(l->ids[l->n++], MLC_PLAID_ID_MAX + 1, "%s", it->item_id);
    return 0;
}

static int list_items(struct mlc_store *st, struct id_list *l)
{
    struct mlc_txn *txn = NULL;
    l->cap = MAX_ITEMS;
    l->n = 0;
    l->ids = mlc_calloc(l->cap, sizeof(*l->ids));
    if (!l->ids)
        return MLC_ERR_NOMEM;
    int rc = mlc_store_begin(st, 1, &txn);
    if (rc == MLC_OK)
        rc = mlc_journal_item_each(txn, collect_id, l);
    mlc_store_abort(txn);
    return rc;
}

static int get_item(struct mlc_store *st, const char *id, struct mlc_journal_item *it)
{
    struct mlc_txn *txn = NULL;
    int rc = mlc_store_begin(st, 1, &txn);
    if (rc == MLC_OK)
        rc = mlc_journal_item_get(txn, id, it);
    mlc_store_abort(txn);
    return rc;
}

/* ---- JSON helpers ---- */

static const char *jstr(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    mlc_plaid_utf8_copy(dst, cap, src ? src : "", src ? strlen(src) : 0);
}

/* A balance from cJSON's double: Plaid's balances have at most a few decimals, and 15
 * significant digits print any such value back exactly. */
static int jamount(const cJSON *o, const char *name, struct mlc_amount *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsNumber(v))
        return 0;
    char t[64];
    int n = snprintf(t, sizeof(t), "%.15g", v->valuedouble);
    if (n <= 0 || (size_t)n >= sizeof(t) || strchr(t, 'n') || strchr(t, 'i'))
        return 0;
    return mlc_amount_parse(t, (size_t)n, out) == MLC_OK;
}

static int account_from_json(const cJSON *a, struct mlc_plaid_account *pa)
{
    memset(pa, 0, sizeof(*pa));
    const char *id = jstr(a, "account_id");
    if (!id || !id[0] || strlen(id) > MLC_PLAID_ID_MAX)
        return MLC_ERR_DATA;
    copy_str(pa->account_id, sizeof(pa->account_id), id);
    copy_str(pa->name, sizeof(pa->name), jstr(a, "name"));
    copy_str(pa->mask, sizeof(pa->mask), jstr(a, "mask"));
    copy_str(pa->type, sizeof(pa->type), jstr(a, "type"));
    copy_str(pa->subtype, sizeof(pa->subtype), jstr(a, "subtype"));
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(a, "balances");
    if (cJSON_IsObject(b)) {
        pa->has_current = jamount(b, "current", &pa->current);
        pa->has_available = jamount(b, "available", &pa->available);
        const char *iso = jstr(b, "iso_currency_code");
        const char *uno = jstr(b, "unofficial_currency_code");
        copy_str(pa->currency, sizeof(pa->currency), iso ? iso : uno);
        pa->currency_is_iso = iso != NULL;
    }
    return MLC_OK;
}

static cJSON *token_request(const char *tok)
{
    cJSON *req = cJSON_CreateObject();
    if (req && !cJSON_AddStringToObject(req, "access_token", tok)) {
        cJSON_Delete(req);
        req = NULL;
    }
    return req;
}

/* Calls path with the item's access token. On an item-level error the item is marked. */
static int item_call(struct session *s, const char *item_id, const char *path, cJSON **ans)
{
    char *tok = NULL;
    size_t tl = 0;
    *ans = NULL;
    int rc = mlc_plaid_item_token(s->app.vault, item_id, &tok, &tl);
    if (rc != MLC_OK)
        return rc;
    cJSON *req = token_request(tok);
    mlc_vault_free_secret(tok, tl);
    if (!req)
        return MLC_ERR_NOMEM;
    rc = mlc_plaid_call(s->p, path, req, ans);
    cJSON_Delete(req);
    if (rc != MLC_OK &&
        mlc_plaid_item_mark_error(s->app.store, item_id, mlc_plaid_last(s->p), mlc_time_now_ms()) == 1)
        rc = MLC_ERR_NEEDS_PERSON;
    return rc;
}

/* Stores the accounts of an answer (/accounts/get, /accounts/balance/get, /auth/get). */
static int store_accounts(struct session *s, const char *item_id, const cJSON *ans, int live,
                          int flag_new, size_t *n)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(ans, "accounts");
    struct mlc_txn *txn = NULL;
    struct mlc_plaid_account *pa = mlc_malloc(sizeof(*pa));
    int rc = MLC_ERR_NOMEM;
    int64_t now = mlc_time_now_ms();
    if (n)
        *n = 0;
    if (!pa)
        goto out;
    if (!cJSON_IsArray(arr)) {
        rc = MLC_ERR_DATA;
        goto out;
    }
    if ((rc = mlc_store_begin(s->app.store, 0, &txn)) != MLC_OK)
        goto out;
    const cJSON *a;
    cJSON_ArrayForEach(a, arr) {
        if (account_from_json(a, pa) != MLC_OK)
            continue;
        if ((rc = mlc_journal_account_upsert(txn, item_id, pa, now, live, flag_new)) != MLC_OK)
            goto out;
        if (n)
            (*n)++;
    }
    rc = mlc_store_commit(txn);
    txn = NULL;
out:
    mlc_store_abort(txn);
    mlc_free(pa);
    return rc;
}

/* Updates the item from an /item/get or /accounts/get "item" object: institution, consent expiry
 * and its error (item.error set -> needs re-authentication; cleared -> ok again). */
static int apply_item_object(struct session *s, const char *item_id, const cJSON *item)
{
    struct mlc_journal_item *it = mlc_malloc(sizeof(*it));
    struct mlc_txn *txn = NULL;
    int rc = MLC_ERR_NOMEM, was_reauth = 0;
    struct mlc_plaid_result r;
    int64_t now = mlc_time_now_ms();
    if (!it)
        goto out;
    if ((rc = mlc_store_begin(s->app.store, 0, &txn)) != MLC_OK)
        goto out;
    if ((rc = mlc_journal_item_get(txn, item_id, it)) != MLC_OK)
        goto out;
    const char *ins = jstr(item, "institution_id");
    const char *insn = jstr(item, "institution_name");
    if (ins)
        copy_str(it->institution_id, sizeof(it->institution_id), ins);
    if (insn)
        copy_str(it->institution_name, sizeof(it->institution_name), insn);
    int64_t exp = 0;
    const char *ce = jstr(item, "consent_expiration_time");
    if (ce && mlc_plaid_parse_time(ce, &exp) != MLC_OK)
        exp = 0;
    if ((rc = mlc_journal_item_put(txn, it)) != MLC_OK)
        goto out;
    if ((rc = mlc_plaid_item_consent(txn, it, exp, now, 0)) != MLC_OK)
        goto out;
    was_reauth = it->state == MLC_ITEM_NEEDS_REAUTH;
    rc = mlc_store_commit(txn);
    txn = NULL;
    if (rc != MLC_OK)
        goto out;
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(item, "error");
    memset(&r, 0, sizeof(r));
    if (cJSON_IsObject(err) && mlc_plaid_error_from_json(err, &r.err) == MLC_OK &&
        r.err.error_code[0]) {
        r.has_error = 1;
        r.status = 400;
        rc = mlc_plaid_item_mark_error(s->app.store, item_id, &r, now);
        rc = rc < 0 ? rc : MLC_OK;
    } else if (was_reauth) {
        rc = mlc_plaid_item_mark_ok(s->app.store, item_id, now);
    }
out:
    mlc_store_abort(txn);
    mlc_free(it);
    return rc;
}

/* ---- link ---- */

static int add_str_array(cJSON *o, const char *name, const char *csv)
{
    cJSON *arr = cJSON_AddArrayToObject(o, name);
    if (!arr)
        return MLC_ERR_NOMEM;
    const char *p = csv;
    while (*p) {
        while (*p == ',' || *p == ' ')
            p++;
        size_t n = strcspn(p, ", ");
        if (n) {
            char w[16];
            snprintf(w, sizeof(w), "%.*s", (int)(n < 15 ? n : 15), p);
            cJSON *sv = cJSON_CreateString(w);
            if (!sv || !cJSON_AddItemToArray(arr, sv))
                return MLC_ERR_NOMEM;
        }
        p += n;
    }
    return MLC_OK;
}

/* Builds /link/token/create (plaid.md 2.1). access_token set = update mode: no products. */
static cJSON *link_token_request(const struct mlc_config *cfg, const char *access_token)
{
    cJSON *req = cJSON_CreateObject();
    cJSON *user = NULL;
    if (!req)
        return NULL;
    if (!cJSON_AddStringToObject(req, "client_name", CLIENT_NAME) ||
        !cJSON_AddStringToObject(req, "language", cfg->plaid.language) ||
        add_str_array(req, "country_codes", cfg->plaid.country_codes) != MLC_OK ||
        !(user = cJSON_AddObjectToObject(req, "user")) ||
        /* one end user per agent; no personal data in it (plaid.md 2.1) */
        !cJSON_AddStringToObject(user, "client_user_id", "mlc-agent"))
        goto fail;
    if (access_token) {
        if (!cJSON_AddStringToObject(req, "access_token", access_token))
            goto fail;
    } else {
        cJSON *tx = NULL;
        if (add_str_array(req, "products", "transactions,auth") != MLC_OK ||
            !(tx = cJSON_AddObjectToObject(req, "transactions")) ||
            !cJSON_AddNumberToObject(tx, "days_requested", 730))
            goto fail;
        if (cfg->plaid.webhook_url[0] &&
            !cJSON_AddStringToObject(req, "webhook", cfg->plaid.webhook_url))
            goto fail;
    }
    return req;
fail:
    cJSON_Delete(req);
    return NULL;
}

/* After the exchange: records the item, then its institution and accounts. */
static int finish_link(struct session *s, const char *public_token)
{
    cJSON *req = cJSON_CreateObject(), *ans = NULL, *acc = NULL;
    int rc = MLC_ERR_NOMEM;
    char item_id[MLC_PLAID_ID_MAX + 1] = "";
    size_t n = 0;
    if (!req || !cJSON_AddStringToObject(req, "public_token", public_token))
        goto out;
    if ((rc = mlc_plaid_call(s->p, "/item/public_token/exchange", req, &ans)) != MLC_OK) {
        rc = fail(s, rc, "Plaid refused the bank link");
        goto out_ec;
    }
    const char *tok = jstr(ans, "access_token"), *iid = jstr(ans, "item_id");
    if (!tok || !iid || !iid[0] || strlen(iid) > MLC_PLAID_ID_MAX) {
        mlc_cli_error("Plaid's answer to the token exchange lacks the access token or item id");
        rc = MLC_EXIT_DATAERR;
        goto out_ec;
    }
    mlc_log_secret_add(tok);
    snprintf(item_id, sizeof(item_id), "%s", iid);
    rc = mlc_plaid_item_record(s->app.store, s->app.vault, item_id, tok, NULL, NULL,
                               mlc_time_now_ms());
    mlc_wipe(cJSON_GetObjectItemCaseSensitive(ans, "access_token")->valuestring, strlen(tok));
    if (rc != MLC_OK) {
        mlc_cli_error("could not store the bank link: %s", mlc_err_str(rc));
        rc = mlc_err_exit_code(rc);
        goto out_ec;
    }
    if ((rc = item_call(s, item_id, "/accounts/get", &acc)) != MLC_OK) {
        rc = fail(s, rc, "the bank is linked but its accounts could not be read");
        goto out_ec;
    }
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(acc, "item");
    if (cJSON_IsObject(item))
        apply_item_object(s, item_id, item);
    if ((rc = store_accounts(s, item_id, acc, 0, 0, &n)) != MLC_OK) {
        mlc_cli_error("could not store the accounts: %s", mlc_err_str(rc));
        rc = mlc_err_exit_code(rc);
        goto out_ec;
    }
    struct mlc_journal_item it;
    const char *insn = "the bank";
    if (get_item(s->app.store, item_id, &it) == MLC_OK && it.institution_name[0])
        insn = it.institution_name;
    printf("linked %s: item %s with %zu account%s\n", insn, item_id, n, n == 1 ? "" : "s");
    printf("next: download the transactions with 'mlc plaid sync'\n");
    rc = MLC_EXIT_OK;
    goto out_ec;
out:
    if (rc != MLC_OK) {
        mlc_cli_error("could not link the bank: %s", mlc_err_str(rc));
        rc = mlc_err_exit_code(rc);
    }
out_ec:
    cJSON_Delete(acc);
    cJSON_Delete(ans);
    cJSON_Delete(req);
    return rc;
}

static int link_sandbox(struct session *s, const char *institution)
{
    cJSON *req = cJSON_CreateObject(), *ans = NULL, *opt = NULL, *tx = NULL;
    int ec;
    if (!req || !cJSON_AddStringToObject(req, "institution_id", institution) ||
        add_str_array(req, "initial_products", "transactions,auth") != MLC_OK ||
        !(opt = cJSON_AddObjectToObject(req, "options")) ||
        !(tx = cJSON_AddObjectToObject(opt, "transactions")) ||
        !cJSON_AddNumberToObject(tx, "days_requested", 730) ||
        (s->app.cfg.plaid.webhook_url[0] &&
         !cJSON_AddStringToObject(opt, "webhook", s->app.cfg.plaid.webhook_url))) {
        ec = fail(s, MLC_ERR_NOMEM, "could not link the sandbox bank");
        goto out;
    }
    int rc = mlc_plaid_call(s->p, "/sandbox/public_token/create", req, &ans);
    if (rc != MLC_OK) {
        ec = fail(s, rc, "Plaid's sandbox did not create the test bank link");
        goto out;
    }
    const char *pt = jstr(ans, "public_token");
    if (!pt) {
        mlc_cli_error("Plaid's sandbox answer has no public_token");
        ec = MLC_EXIT_DATAERR;
        goto out;
    }
    ec = finish_link(s, pt);
out:
    cJSON_Delete(ans);
    cJSON_Delete(req);
    return ec;
}

static int parse_timeout(const char *v, int64_t *secs)
{
    char *end = NULL;
    long long n = strtoll(v, &end, 10);
    if (!end || *end || n < 1 || n > 86400)
        return MLC_ERR_USAGE;
    *secs = n;
    return MLC_OK;
}

/* ---- the Link page (plaid.md 2.2) ----
 * A small page on the status address that loads Plaid's link-initialize.js (from cdn.plaid.com,
 * or from the base-URL override, where the sandbox emulator serves a stand-in), opens Link with
 * the link token and posts the public token back. The handlers take any mlc_httpd, so the
 * agent's status server can mount the same routes. */

#define LINK_CDN_JS "https://cdn.plaid.com/link/v2/stable/link-initialize.js"
#define LINK_PAGE_MAX 8192

struct link_srv {
    struct mlc_loop *loop;
    char page[LINK_PAGE_MAX];
    char public_token[512];
    int done;
    int update_mode;
};

/* Only characters Plaid uses in tokens and URLs go into the page: nothing needs escaping then. */
static int page_safe(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr("-_.:/?=&%+~", *s)))
            return 0;
    return 1;
}

static int link_get(const struct mlc_httpd_request *req, struct mlc_httpd_response *resp,
                    void *ud)
{
    (void)req;
    struct link_srv *ls = ud;
    int rc = mlc_httpd_resp_text(resp, 200, "text/html; charset=utf-8", ls->page);
    if (rc == MLC_OK)
        rc = mlc_httpd_resp_header(resp, "Cache-Control", "no-store");
    return rc;
}

static int link_post(const struct mlc_httpd_request *req, struct mlc_httpd_response *resp,
                     void *ud)
{
    struct link_srv *ls = ud;
    cJSON *body = cJSON_ParseWithLength(req->body ? req->body : "", req->body_len);
    const char *pt = body ? jstr(body, "public_token") : NULL;
    int ok = 0;
    if (ls->update_mode && body && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(body, "done"))) {
        ok = 1;
    } else if (pt && pt[0] && strlen(pt) < sizeof(ls->public_token) && page_safe(pt)) {
        snprintf(ls->public_token, sizeof(ls->public_token), "%s", pt);
        mlc_log_secret_add(pt);
        ok = 1;
    }
    cJSON_Delete(body);
    if (!ok)
        return mlc_httpd_resp_text(resp, 400, "application/json",
                                   "{\"error\":\"expected {\\\"public_token\\\": ...}\"}");
    ls->done = 1;
    mlc_loop_stop(ls->loop);
    return mlc_httpd_resp_text(resp, 200, "application/json", "{\"ok\":true}");
}

static void link_timeout(struct mlc_loop *loop, uint64_t id, void *ud)
{
    (void)id;
    (void)ud;
    mlc_loop_stop(loop);
}

static int serve_link_page(const struct mlc_config *cfg, const char *link_token,
                           const char *js_base, int update_mode, int64_t timeout_ms,
                           char *public_token, size_t ptcap)
{
    struct link_srv *ls = mlc_calloc(1, sizeof(*ls));
    struct mlc_httpd *srv = NULL;
    struct mlc_loop *loop = NULL;
    uint8_t rnd[16];
    char access[40], js[600];
    int rc = MLC_ERR_NOMEM;
    if (!ls)
        goto out;
    if (js_base)
        snprintf(js, sizeof(js), "%.*s/link-initialize.js",
                 (int)(strlen(js_base) && js_base[strlen(js_base) - 1] == '/'
                           ? strlen(js_base) - 1 : strlen(js_base)), js_base);
    else
        snprintf(js, sizeof(js), "%s", LINK_CDN_JS);
    if (!page_safe(link_token) || !page_safe(js)) {
        mlc_cli_error("the Link token or the Plaid URL has unexpected characters; check "
                      "[plaid] base_url");
        rc = MLC_ERR_DATA;
        goto out;
    }
    /* A one-time access token for this page, needed when [status] bind is not loopback. */
    if ((rc = mlc_random_bytes(rnd, sizeof(rnd))) != MLC_OK)
        goto out;
    for (size_t i = 0; i < sizeof(rnd); i++)
        snprintf(access + 2 * i, 3, "%02x", rnd[i]);
    ls->update_mode = update_mode;
    int n = snprintf(ls->page, sizeof(ls->page),
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Connect your bank</title>\n"
        "<script src=\"%s\"></script></head>\n<body><h1>Connect your bank to ml-connector</h1>\n"
        "<p id=\"s\">Opening Plaid Link&hellip;</p>\n<script>\n"
        "function say(t){document.getElementById('s').textContent=t;}\n"
        "function back(b){fetch('/link/done?access_token=%s',{method:'POST',"
        "headers:{'Content-Type':'application/json'},body:JSON.stringify(b)})"
        ".then(function(r){say(r.ok?'Done: the bank is connected. You can close this page.'"
        ":'The connector did not accept the answer; run the command again.');});}\n"
        "Plaid.create({token:'%s',onSuccess:function(pt,md){back(%s);},"
        "onExit:function(e){say('Link closed without connecting a bank'+"
        "(e&&e.display_message?': '+e.display_message:'.'));}}).open();\n"
        "</script></body></html>\n",
        js, access, link_token, update_mode ? "{done:true}" : "{public_token:pt}");
    if (n < 0 || (size_t)n >= sizeof(ls->page)) {
        rc = MLC_ERR_TOO_BIG;
        goto out;
    }
    if ((rc = mlc_loop_new(NULL, &loop)) != MLC_OK)
        goto out;
    ls->loop = loop;
    struct mlc_httpd_config hc = { 0 };
    hc.host = cfg->status.bind.host;
    hc.port = cfg->status.bind.port;
    hc.access_token = access;
    if ((rc = mlc_httpd_new(loop, &hc, &srv)) != MLC_OK) {
        mlc_cli_error("could not serve the Link page on %s:%d (%s); is the port in use? Change "
                      "[status] bind or stop what uses it", hc.host, hc.port, mlc_err_str(rc));
        goto out;
    }
    if ((rc = mlc_httpd_route(srv, "GET", "/link", link_get, ls)) != MLC_OK ||
        (rc = mlc_httpd_route_ex(srv, "POST", "/link/done", 0, 4096, link_post, ls)) != MLC_OK)
        goto out;
    uint64_t tid = 0;
    if ((rc = mlc_loop_timer_add(loop, timeout_ms, 0, 0, link_timeout, ls, &tid)) != MLC_OK)
        goto out;
    char host[MLC_CONFIG_HOST_MAX + 2];
    snprintf(host, sizeof(host), strchr(hc.host, ':') ? "[%s]" : "%s", hc.host);
    if (cfg->status.public_url[0])
        printf("open %s/link?access_token=%s in a browser to connect the bank\n",
               cfg->status.public_url, access);
    else
        printf("open http://%s:%d/link?access_token=%s in a browser to connect the bank\n", host,
               mlc_httpd_port(srv), access);
    fflush(stdout);
    rc = mlc_loop_run(loop);
    /* Let the browser receive its answer before the server closes. */
    for (int i = 0; i < 50 && ls->done && mlc_httpd_conn_count(srv) > 0; i++)
        mlc_loop_run_once(loop, 20);
    if (!ls->done) {
        mlc_cli_error("no bank was connected within %lld seconds; run the command again",
                      (long long)(timeout_ms / 1000));
        rc = MLC_ERR_TIMEOUT;
        goto out;
    }
    rc = MLC_OK;
    snprintf(public_token, ptcap, "%s", ls->public_token);
out:
    mlc_httpd_free(srv);
    mlc_loop_free(loop);
    mlc_free(ls);
    return rc;
}

/* Serves the Link page until the public token arrives (or, in update mode, Link finishes). */
static int link_page(struct session *s, const char *access_token, int64_t timeout_s,
                     char *public_token, size_t ptcap)
{
    cJSON *req = link_token_request(&s->app.cfg, access_token), *ans = NULL;
    int ec = 0;
    if (!req) {
        mlc_cli_error("out of memory while preparing the Link token");
        return MLC_EXIT_SOFTWARE;
    }
    int rc = mlc_plaid_call(s->p, "/link/token/create", req, &ans);
    cJSON_Delete(req);
    if (rc != MLC_OK)
        return fail(s, rc, "Plaid did not create a Link token");
    const char *lt = jstr(ans, "link_token");
    if (!lt) {
        cJSON_Delete(ans);
        mlc_cli_error("Plaid's answer has no link_token");
        return MLC_EXIT_DATAERR;
    }
    const char *js_base = s->app.cfg.plaid.base_url[0] ? s->app.cfg.plaid.base_url : NULL;
    rc = serve_link_page(&s->app.cfg, lt, js_base, access_token != NULL, timeout_s * 1000,
                         public_token, ptcap);
    cJSON_Delete(ans);
    if (rc != MLC_OK)
        ec = mlc_err_exit_code(rc);
    return ec;
}

int mlc_cmd_plaid_link(const struct mlc_cli *cli, int argc, char **argv)
{
    int sandbox = 0;
    const char *institution = "ins_109508";
    int64_t timeout_s = 1800;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--sandbox") == 0) {
            sandbox = 1;
        } else if (strcmp(argv[i], "--institution") == 0 && i + 1 < argc) {
            institution = argv[++i];
        } else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc &&
                   parse_timeout(argv[i + 1], &timeout_s) == MLC_OK) {
            i++;
        } else {
            mlc_cli_error("'plaid link' does not understand '%s'; run 'mlc plaid link --help'",
                          argv[i]);
            return MLC_EXIT_USAGE;
        }
    }
    struct session s;
    int ec = session_open(&s, cli, 1);
    if (ec)
        return ec;
    if (sandbox) {
        if (s.app.cfg.plaid.environment == MLC_PLAID_PRODUCTION) {
            mlc_cli_error("--sandbox links a test bank and works only with [plaid] environment = "
                          "sandbox");
            ec = MLC_EXIT_USAGE;
        } else {
            ec = link_sandbox(&s, institution);
        }
    } else {
        char pt[512];
        ec = link_page(&s, NULL, timeout_s, pt, sizeof(pt));
        if (!ec)
            ec = finish_link(&s, pt);
    }
    session_close(&s);
    return ec;
}

int mlc_cmd_plaid_relink(const struct mlc_cli *cli, int argc, char **argv)
{
    const char *item_id = NULL;
    int64_t timeout_s = 1800;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc &&
            parse_timeout(argv[i + 1], &timeout_s) == MLC_OK)
            i++;
        else if (!item_id && argv[i][0] != '-')
            item_id = argv[i];
        else {
            mlc_cli_error("'plaid relink' does not understand '%s'; run 'mlc plaid relink --help'",
                          argv[i]);
            return MLC_EXIT_USAGE;
        }
    }
    if (!item_id) {
        mlc_cli_error("'plaid relink' needs the item id; 'mlc plaid items' lists them");
        return MLC_EXIT_USAGE;
    }
    struct session s;
    int ec = session_open(&s, cli, 1);
    if (ec)
        return ec;
    struct mlc_journal_item it;
    char *tok = NULL;
    size_t tl = 0;
    cJSON *ans = NULL;
    if (get_item(s.app.store, item_id, &it) != MLC_OK) {
        mlc_cli_error("no bank link with item id %s; 'mlc plaid items' lists them", item_id);
        ec = MLC_EXIT_USAGE;
        goto out;
    }
    int rc = mlc_plaid_item_token(s.app.vault, item_id, &tok, &tl);
    if (rc != MLC_OK) {
        mlc_cli_error("the access token of %s is missing; link the bank again with "
                      "'mlc plaid link'", item_id);
        ec = mlc_err_exit_code(rc);
        goto out;
    }
    char pt[512];
    ec = link_page(&s, tok, timeout_s, pt, sizeof(pt));
    if (ec)
        goto out;
    /* Update mode keeps the access token; ask Plaid whether the item is healthy now. */
    if ((rc = item_call(&s, item_id, "/item/get", &ans)) != MLC_OK) {
        ec = fail(&s, rc, "could not check the bank link after reconnecting");
        goto out;
    }
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(ans, "item");
    if (cJSON_IsObject(item))
        apply_item_object(&s, item_id, item);
    if (get_item(s.app.store, item_id, &it) == MLC_OK && it.state == MLC_ITEM_OK) {
        printf("reconnected %s (item %s)\n", it.institution_name, item_id);
    } else {
        mlc_cli_error("the bank link %s still needs attention: %s", item_id, it.state_message);
        ec = MLC_EXIT_UNAVAILABLE;
    }
out:
    cJSON_Delete(ans);
    mlc_vault_free_secret(tok, tl);
    session_close(&s);
    return ec;
}

/* ---- items ---- */

static void fmt_time(int64_t ms, char *buf, size_t cap)
{
    if (ms <= 0)
        snprintf(buf, cap, "-");
    else
        mlc_time_format_iso(ms, buf, cap);
}

int mlc_cmd_plaid_items(const struct mlc_cli *cli, int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        mlc_cli_error("'plaid items' takes no arguments; run 'mlc plaid items --help'");
        return MLC_EXIT_USAGE;
    }
    struct session s;
    int ec = session_open(&s, cli, 1);
    if (ec)
        return ec;
    struct id_list l = { 0 };
    int rc = list_items(s.app.store, &l);
    int needs_person = 0, retry = 0;
    char msg[640];
    if (rc != MLC_OK) {
        mlc_cli_error("could not read the bank links: %s", mlc_err_str(rc));
        ec = mlc_err_exit_code(rc);
        goto out;
    }
    if (l.n == 0) {
        /* No item to ask about: a Link token proves the credentials and the environment. */
        cJSON *req = link_token_request(&s.app.cfg, NULL), *ans = NULL;
        rc = req ? mlc_plaid_call(s.p, "/link/token/create", req, &ans) : MLC_ERR_NOMEM;
        cJSON_Delete(req);
        cJSON_Delete(ans);
        if (rc != MLC_OK) {
            ec = fail(&s, rc, "the Plaid credentials do not work");
            goto out;
        }
        printf("Plaid credentials: ok (%s)\n", mlc_config_plaid_base_url(&s.app.cfg));
        printf("no bank links yet; add one with 'mlc plaid link'\n");
        goto out;
    }
    int creds_ok = 0;
    for (size_t i = 0; i < l.n; i++) {
        const char *id = l.ids[i];
        struct mlc_journal_item it;
        cJSON *ans = NULL;
        if (get_item(s.app.store, id, &it) != MLC_OK)
            continue;
        if (it.rotating)
            mlc_plaid_rotate_recover(s.p, s.app.store, s.app.vault, id, mlc_time_now_ms(), msg,
                                     sizeof(msg));
        if (get_item(s.app.store, id, &it) == MLC_OK && it.state != MLC_ITEM_TOKEN_LOST &&
            it.state != MLC_ITEM_REMOVED) {
            rc = item_call(&s, id, "/item/get", &ans);
            if (rc == MLC_OK) {
                creds_ok = 1;
                const cJSON *item = cJSON_GetObjectItemCaseSensitive(ans, "item");
                if (cJSON_IsObject(item))
                    apply_item_object(&s, id, item);
            } else if (rc != MLC_ERR_NEEDS_PERSON) {
                const struct mlc_plaid_result *r = mlc_plaid_last(s.p);
                mlc_cli_error("checking %s: %s", id, r->message[0] ? r->message : mlc_err_str(rc));
                if (rc == MLC_ERR_RETRY)
                    retry = 1;
                else
                    needs_person = 1;
            } else {
                creds_ok = 1;
            }
            cJSON_Delete(ans);
        }
        if (get_item(s.app.store, id, &it) != MLC_OK)
            continue;
        char synced[32], consent[32];
        fmt_time(it.last_sync_ms, synced, sizeof(synced));
        fmt_time(it.consent_expires_ms, consent, sizeof(consent));
        printf("%s  %-24s  %-24s  last sync %s  consent until %s\n", it.item_id,
               it.institution_name[0] ? it.institution_name : it.institution_id,
               mlc_journal_item_state_name(it.state), synced, consent);
        if (it.state != MLC_ITEM_OK) {
            printf("    %s\n", it.state_message);
            needs_person = 1;
        }
    }
    if (creds_ok)
        printf("Plaid credentials: ok (%s)\n", mlc_config_plaid_base_url(&s.app.cfg));
    ec = needs_person ? MLC_EXIT_UNAVAILABLE : retry ? MLC_EXIT_TEMPFAIL : MLC_EXIT_OK;
out:
    mlc_free(l.ids);
    session_close(&s);
    return ec;
}

/* ---- accounts and balances ---- */

static void masked(const char *num, char *out, size_t cap)
{
    size_t n = strlen(num);
    if (n == 0)
        snprintf(out, cap, "-");
    else if (n <= 4)
        snprintf(out, cap, "…%s", num);
    else
        snprintf(out, cap, "…%s", num + n - 4);
}

static int print_account(void *ctx, const struct mlc_journal_account *a)
{
    int balances = *(int *)ctx;
    if (balances) {
        char when[32];
        fmt_time(a->balance_ms, when, sizeof(when));
        printf("%s  %-28s …%-4s  current %s  available %s  %s  (%s, read %s)\n", a->account_id,
               a->name, a->mask, a->current[0] ? a->current : "-",
               a->available[0] ? a->available : "-", a->currency,
               a->balance_live ? "live" : "cached", when);
        return 0;
    }
    char m1[48], m2[48];
    printf("%s  %-28s …%-4s  %s/%s  %s  item %s%s\n", a->account_id, a->name, a->mask, a->type,
           a->subtype, a->currency, a->item_id, a->unmapped_new ? "  NEW: needs a mapping" : "");
    if (a->iban[0]) {
        masked(a->iban, m1, sizeof(m1));
        printf("    IBAN %s  BIC %s\n", m1, a->bic[0] ? a->bic : "-");
    }
    if (a->ach_account[0]) {
        masked(a->ach_account, m1, sizeof(m1));
        printf("    ACH account %s  routing %s%s\n", m1, a->ach_routing,
               a->ach_tokenized ? "  (tokenized by the bank)" : "");
    }
    if (a->bacs_account[0]) {
        masked(a->bacs_account, m1, sizeof(m1));
        printf("    BACS account %s  sort code %s\n", m1, a->sort_code);
    }
    if (a->eft_account[0]) {
        masked(a->eft_account, m1, sizeof(m1));
        snprintf(m2, sizeof(m2), "%s-%s", a->eft_institution, a->eft_branch);
        printf("    EFT account %s  institution-branch %s\n", m1, m2);
    }
    return 0;
}

/* Stores /auth/get numbers (plaid.md 4): ach, eft, international, bacs; unknown kinds ignored. */
static int store_numbers(struct session *s, const cJSON *ans)
{
    const cJSON *nums = cJSON_GetObjectItemCaseSensitive(ans, "numbers");
    static const char *kinds[] = { "ach", "eft", "international", "bacs" };
    struct mlc_journal_account *a = mlc_malloc(sizeof(*a));
    struct mlc_txn *txn = NULL;
    int rc = MLC_ERR_NOMEM;
    int64_t now = mlc_time_now_ms();
    if (!a)
        goto out;
    if (!cJSON_IsObject(nums)) {
        rc = MLC_ERR_DATA;
        goto out;
    }
    if ((rc = mlc_store_begin(s->app.store, 0, &txn)) != MLC_OK)
        goto out;
    for (size_t k = 0; k < 4; k++) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(nums, kinds[k]), *e;
        if (!cJSON_IsArray(arr))
            continue;
        cJSON_ArrayForEach(e, arr) {
            const char *id = jstr(e, "account_id");
            if (!id || mlc_journal_account_get(txn, id, a) != MLC_OK)
                continue;
            if (k == 0) {
                copy_str(a->ach_account, sizeof(a->ach_account), jstr(e, "account"));
                copy_str(a->ach_routing, sizeof(a->ach_routing), jstr(e, "routing"));
                copy_str(a->wire_routing, sizeof(a->wire_routing), jstr(e, "wire_routing"));
                a->ach_tokenized = cJSON_IsTrue(
                    cJSON_GetObjectItemCaseSensitive(e, "is_tokenized_account_number"));
            } else if (k == 1) {
                copy_str(a->eft_account, sizeof(a->eft_account), jstr(e, "account"));
                copy_str(a->eft_institution, sizeof(a->eft_institution), jstr(e, "institution"));
                copy_str(a->eft_branch, sizeof(a->eft_branch), jstr(e, "branch"));
            } else if (k == 2) {
                copy_str(a->iban, sizeof(a->iban), jstr(e, "iban"));
                copy_str(a->bic, sizeof(a->bic), jstr(e, "bic"));
            } else {
                copy_str(a->bacs_account, sizeof(a->bacs_account), jstr(e, "account"));
                copy_str(a->sort_code, sizeof(a->sort_code), jstr(e, "sort_code"));
            }
            a->numbers_ms = now;
            if ((rc = mlc_journal_account_put(txn, a)) != MLC_OK)
                goto out;
        }
    }
    rc = mlc_store_commit(txn);
    txn = NULL;
out:
    mlc_store_abort(txn);
    mlc_free(a);
    return rc;
}

static int accounts_or_balances(const struct mlc_cli *cli, int argc, char **argv, int balances)
{
    int offline = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--offline") == 0) {
            offline = 1;
        } else {
            mlc_cli_error("'plaid %s' does not understand '%s'; run 'mlc plaid %s --help'",
                          balances ? "balances" : "accounts", argv[i],
                          balances ? "balances" : "accounts");
            return MLC_EXIT_USAGE;
        }
    }
    struct session s;
    int ec = session_open(&s, cli, !offline);
    if (ec)
        return ec;
    struct id_list l = { 0 };
    int rc = list_items(s.app.store, &l);
    int trouble = 0;
    if (rc != MLC_OK) {
        ec = fail(&s, rc, "could not read the bank links");
        goto out;
    }
    for (size_t i = 0; !offline && i < l.n; i++) {
        struct mlc_journal_item it;
        cJSON *ans = NULL;
        if (get_item(s.app.store, l.ids[i], &it) != MLC_OK || it.state != MLC_ITEM_OK) {
            if (it.state != MLC_ITEM_OK)
                mlc_cli_error("skipped %s: %s", l.ids[i], mlc_journal_item_state_name(it.state));
            trouble = MLC_EXIT_UNAVAILABLE;
            continue;
        }
        int live = balances && s.app.cfg.plaid.balance_source == MLC_BALANCE_LIVE;
        const char *path = live ? "/accounts/balance/get" : "/accounts/get";
        rc = item_call(&s, l.ids[i], path, &ans);
        if (rc == MLC_OK) {
            const cJSON *item = cJSON_GetObjectItemCaseSensitive(ans, "item");
            if (cJSON_IsObject(item))
                apply_item_object(&s, l.ids[i], item);
            rc = store_accounts(&s, l.ids[i], ans, live, it.updates_done > 0, NULL);
        }
        cJSON_Delete(ans);
        ans = NULL;
        if (rc == MLC_OK && !balances) {
            rc = item_call(&s, l.ids[i], "/auth/get", &ans);
            if (rc == MLC_OK)
                rc = store_numbers(&s, ans);
            else if (rc != MLC_ERR_NEEDS_PERSON && rc != MLC_ERR_RETRY)
                rc = MLC_OK; /* the item may lack Auth: numbers stay unknown */
            cJSON_Delete(ans);
        }
        if (rc != MLC_OK) {
            const struct mlc_plaid_result *r = mlc_plaid_last(s.p);
            mlc_cli_error("%s: %s", l.ids[i], r->message[0] ? r->message : mlc_err_str(rc));
            trouble = mlc_err_exit_code(rc);
        }
    }
    struct mlc_txn *txn = NULL;
    rc = mlc_store_begin(s.app.store, 1, &txn);
    if (rc == MLC_OK)
        rc = mlc_journal_account_each(txn, NULL, print_account, &balances);
    mlc_store_abort(txn);
    if (rc != MLC_OK)
        ec = fail(&s, rc, "could not read the accounts");
    else
        ec = trouble;
out:
    mlc_free(l.ids);
    session_close(&s);
    return ec;
}

int mlc_cmd_plaid_accounts(const struct mlc_cli *cli, int argc, char **argv)
{
    return accounts_or_balances(cli, argc, argv, 0);
}

int mlc_cmd_plaid_balances(const struct mlc_cli *cli, int argc, char **argv)
{
    return accounts_or_balances(cli, argc, argv, 1);
}

/* ---- sync ---- */

int mlc_cmd_plaid_sync(const struct mlc_cli *cli, int argc, char **argv)
{
    if (argc > 2) {
        mlc_cli_error("'plaid sync' takes at most one item id; run 'mlc plaid sync --help'");
        return MLC_EXIT_USAGE;
    }
    struct session s;
    int ec = session_open(&s, cli, 1);
    if (ec)
        return ec;
    struct id_list l = { 0 };
    int rc = MLC_OK, worst = MLC_EXIT_OK;
    if (argc == 2) {
        l.ids = mlc_calloc(1, sizeof(*l.ids));
        if (!l.ids) {
            rc = MLC_ERR_NOMEM;
        } else {
            snprintf(l.ids[0], sizeof(l.ids[0]), "%s", argv[1]);
            l.n = 1;
        }
    } else {
        rc = list_items(s.app.store, &l);
    }
    if (rc != MLC_OK) {
        ec = fail(&s, rc, "could not read the bank links");
        goto out;
    }
    if (l.n == 0)
        printf("no bank links yet; add one with 'mlc plaid link'\n");
    for (size_t i = 0; i < l.n; i++) {
        struct mlc_plaid_pull_opts o = { 0 };
        struct mlc_plaid_pull_stats st;
        char msg[640];
        o.count = s.app.cfg.plaid.sync_count;
        rc = mlc_plaid_pull_item(s.p, s.app.store, s.app.vault, l.ids[i], &o, &st, msg,
                                 sizeof(msg));
        if (rc == MLC_OK) {
            printf("%s: %u page%s, %zu added, %zu modified, %zu removed%s\n", l.ids[i], st.pages,
                   st.pages == 1 ? "" : "s", st.added, st.modified, st.removed,
                   st.restarts || st.resumed_after_crash ? " (restarted from the update's start)"
                                                         : "");
            continue;
        }
        mlc_cli_error("%s: %s", l.ids[i], msg[0] ? msg : mlc_err_str(rc));
        int e = mlc_err_exit_code(rc);
        /* A person's action outranks "try later", which outranks success. */
        if (rc == MLC_ERR_NEEDS_PERSON || worst == MLC_EXIT_OK || worst == MLC_EXIT_TEMPFAIL)
            worst = e;
    }
    ec = worst;
out:
    mlc_free(l.ids);
    session_close(&s);
    return ec;
}

/* ---- rotate ---- */

int mlc_cmd_plaid_rotate(const struct mlc_cli *cli, int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        mlc_cli_error("'plaid rotate' needs exactly one item id; 'mlc plaid items' lists them");
        return MLC_EXIT_USAGE;
    }
    struct session s;
    int ec = session_open(&s, cli, 1);
    if (ec)
        return ec;
    struct mlc_journal_item it;
    char msg[640];
    if (get_item(s.app.store, argv[1], &it) != MLC_OK) {
        mlc_cli_error("no bank link with item id %s; 'mlc plaid items' lists them", argv[1]);
        ec = MLC_EXIT_USAGE;
        goto out;
    }
    int rc = mlc_plaid_rotate(s.p, s.app.store, s.app.vault, argv[1], mlc_time_now_ms(), msg,
                              sizeof(msg));
    if (rc != MLC_OK) {
        mlc_cli_error("the access token of %s was not rotated: %s", argv[1],
                      msg[0] ? msg : mlc_err_str(rc));
        ec = mlc_err_exit_code(rc);
    } else {
        printf("rotated the access token of %s\n", argv[1]);
    }
out:
    session_close(&s);
    return ec;
}

/* ---- journal ---- */

static int print_txn(void *ctx, const struct mlc_journal_txn *t)
{
    (void)ctx;
    char name[MLC_SYNC_TEXT_MAX];
    size_t j = 0;
    for (size_t i = 0; t->name[i] && j + 1 < sizeof(name); i++)
        name[j++] = (t->name[i] == '\t' || t->name[i] == '\n' || t->name[i] == '\r') ? ' '
                                                                                    : t->name[i];
    name[j] = '\0';
    printf("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", mlc_journal_txn_state_name(t->state), t->account_id,
           t->transaction_id, t->date, t->amount_err ? "?" : t->amount, t->currency,
           t->pending_transaction_id[0] ? t->pending_transaction_id : "-", name);
    return 0;
}

static int print_alert(void *ctx, const struct mlc_journal_alert *a)
{
    (void)ctx;
    char when[32];
    fmt_time(a->raised_ms, when, sizeof(when));
    printf("%s\t%s\t%s\t%s\n", a->kind, a->item_id, when, a->message);
    return 0;
}

int mlc_cmd_plaid_journal(const struct mlc_cli *cli, int argc, char **argv)
{
    const char *account = NULL;
    int alerts = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--account") == 0 && i + 1 < argc) {
            account = argv[++i];
        } else if (strcmp(argv[i], "--alerts") == 0) {
            alerts = 1;
        } else {
            mlc_cli_error("'plaid journal' does not understand '%s'; run 'mlc plaid journal "
                          "--help'", argv[i]);
            return MLC_EXIT_USAGE;
        }
    }
    struct session s;
    int ec = session_open(&s, cli, 0);
    if (ec)
        return ec;
    struct mlc_txn *txn = NULL;
    int rc = mlc_store_begin(s.app.store, 1, &txn);
    if (rc == MLC_OK)
        rc = alerts ? mlc_journal_alert_each(txn, print_alert, NULL)
                    : mlc_journal_txn_each(txn, account, print_txn, NULL);
    mlc_store_abort(txn);
    if (rc != MLC_OK)
        ec = fail(&s, rc, "could not read the journal");
    session_close(&s);
    return ec;
}

/* ---- webhooks on the status address (plaid.md 5) ---- */

#define WH_KEY_TTL_MS (3600 * 1000LL) /* re-fetch hourly: a key Plaid retires gets expired_at */
#define WH_SYNC_DELAY_MS 2000         /* coalesce bursts of SYNC_UPDATES_AVAILABLE */
#define WH_PENDING_MAX 32

struct mlc_plaid_webhooks {
    struct mlc_plaid *p;
    struct mlc_store *st;
    struct mlc_vault *v;
    int sync_count;
    struct mlc_loop *loop;
    struct mlc_wh_key_cache keys;
    char pending[WH_PENDING_MAX][MLC_PLAID_ID_MAX + 1];
    size_t n_pending;
    uint64_t sync_timer;
    unsigned accepted, rejected, syncs;
    void (*on_sync)(void *ud, const char *item_id); /* after each webhook-driven pull (mlc run) */
    void *on_sync_ud;
};

/* Key lookup for mlc_plaid_webhook_verify: the cache, else /webhook_verification_key/get. */
static int wh_lookup(void *ctx, const char *kid, struct mlc_jwk *out)
{
    struct mlc_plaid_webhooks *sv = ctx;
    int64_t now = mlc_time_now_ms();
    if (mlc_wh_key_cache_get(&sv->keys, kid, now, out) == MLC_OK)
        return MLC_OK;
    cJSON *req = cJSON_CreateObject(), *ans = NULL;
    int rc = MLC_ERR_NOMEM;
    if (req && cJSON_AddStringToObject(req, "key_id", kid)) {
        rc = mlc_plaid_call(sv->p, "/webhook_verification_key/get", req, &ans);
        const struct mlc_plaid_result *r = mlc_plaid_last(sv->p);
        if (rc == MLC_OK) {
            rc = mlc_jwk_from_json(cJSON_GetObjectItemCaseSensitive(ans, "key"), out);
            if (rc == MLC_OK)
                mlc_wh_key_cache_put(&sv->keys, out, now);
        } else if (r->has_error && r->cls != MLC_PLAID_RETRY) {
            rc = MLC_ERR_NOTFOUND;   /* Plaid does not know the kid: a forgery or a stale key */
        }
    }
    cJSON_Delete(ans);
    cJSON_Delete(req);
    return rc;
}

static void run_pending_syncs(struct mlc_loop *loop, uint64_t id, void *ud)
{
    (void)loop;
    (void)id;
    struct mlc_plaid_webhooks *sv = ud;
    sv->sync_timer = 0;
    /* One pull per item however many webhooks asked for it. The pull blocks this loop for its
     * duration; Plaid's deliveries wait in the kernel's backlog meanwhile (10 s budget each). */
    while (sv->n_pending) {
        char item_id[MLC_PLAID_ID_MAX + 1];
        snprintf(item_id, sizeof(item_id), "%s", sv->pending[--sv->n_pending]);
        struct mlc_plaid_pull_opts o = { 0 };
        struct mlc_plaid_pull_stats st;
        char msg[640];
        o.count = sv->sync_count;
        int rc = mlc_plaid_pull_item(sv->p, sv->st, sv->v, item_id, &o,
                                     &st, msg, sizeof(msg));
        sv->syncs++;
        if (rc != MLC_OK)
            MLC_LOG_WRN("plaid", "webhook_sync_failed item=%s reason=\"%s\"", item_id, msg);
        else if (sv->on_sync)
            sv->on_sync(sv->on_sync_ud, item_id);
    }
}

void mlc_plaid_webhooks_on_sync(struct mlc_plaid_webhooks *wh,
                                void (*fn)(void *ud, const char *item_id), void *ud)
{
    if (!wh)
        return;
    wh->on_sync = fn;
    wh->on_sync_ud = ud;
}

static int wh_post(const struct mlc_httpd_request *req, struct mlc_httpd_response *resp,
                   void *ud)
{
    struct mlc_plaid_webhooks *sv = ud;
    const struct mlc_http_infield *h = mlc_http_header_find(req->http, "Plaid-Verification");
    enum mlc_wh_verdict v = MLC_WH_MALFORMED;
    if (h)
        v = mlc_plaid_webhook_verify(h->value, h->value_len, req->body, req->body_len,
                                     mlc_time_now_ms(), wh_lookup, sv);
    if (v != MLC_WH_OK) {
        sv->rejected++;
        MLC_LOG_WRN("plaid", "webhook_rejected peer=%s reason=\"%s\"", req->peer,
                    mlc_wh_verdict_str(v));
        /* A lookup that failed on our side is worth Plaid's retry; a bad signature is not. */
        return mlc_httpd_resp_text(resp, v == MLC_WH_LOOKUP_FAILED ? 503 : 401,
                                   "application/json", "{\"error\":\"not verified\"}");
    }
    struct mlc_plaid_webhook *wh = mlc_malloc(sizeof(*wh));
    if (!wh)
        return MLC_ERR_NOMEM;
    int rc = mlc_plaid_webhook_parse(req->body, req->body_len, wh);
    if (rc == MLC_OK)
        rc = mlc_plaid_webhook_apply(sv->st, wh, mlc_time_now_ms());
    if (rc == 1) {
        size_t i = 0;
        while (i < sv->n_pending && strcmp(sv->pending[i], wh->item_id) != 0)
            i++;
        if (i == sv->n_pending && sv->n_pending < WH_PENDING_MAX)
            snprintf(sv->pending[sv->n_pending++], MLC_PLAID_ID_MAX + 1, "%s", wh->item_id);
        if (!sv->sync_timer)
            mlc_loop_timer_add(sv->loop, WH_SYNC_DELAY_MS, 0, 0, run_pending_syncs, sv,
                               &sv->sync_timer);
        rc = MLC_OK;
    }
    mlc_free(wh);
    if (rc == MLC_ERR_DATA || rc == MLC_ERR_TOO_BIG) {
        sv->rejected++;
        return mlc_httpd_resp_text(resp, 400, "application/json", "{\"error\":\"malformed\"}");
    }
    if (rc != MLC_OK)
        return rc;  /* the store failed: 500, and Plaid retries later */
    sv->accepted++;
    return mlc_httpd_resp_text(resp, 200, "application/json", "{\"ok\":true}");
}

int mlc_plaid_webhooks_mount(struct mlc_loop *loop, struct mlc_httpd *srv, struct mlc_plaid *p,
                             struct mlc_store *st, struct mlc_vault *v, int sync_count,
                             struct mlc_plaid_webhooks **out)
{
    *out = NULL;
    struct mlc_plaid_webhooks *sv = mlc_calloc(1, sizeof(*sv));
    if (!sv)
        return MLC_ERR_NOMEM;
    sv->p = p;
    sv->st = st;
    sv->v = v;
    sv->sync_count = sync_count;
    sv->loop = loop;
    mlc_wh_key_cache_init(&sv->keys, WH_KEY_TTL_MS);
    int rc = mlc_httpd_route_ex(srv, "POST", "/webhooks/plaid", MLC_HTTPD_PUBLIC, MLC_WH_BODY_MAX,
                                wh_post, sv);
    if (rc != MLC_OK) {
        mlc_free(sv);
        return rc;
    }
    *out = sv;
    return MLC_OK;
}

void mlc_plaid_webhooks_free(struct mlc_plaid_webhooks *sv)
{
    if (!sv)
        return;
    if (sv->sync_timer)
        mlc_loop_timer_cancel(sv->loop, sv->sync_timer);
    mlc_free(sv);
}

static void serve_stop(struct mlc_loop *loop, uint64_t id, void *ud)
{
    (void)id;
    (void)ud;
    mlc_loop_stop(loop);
}

const char mlc_cmd_plaid_serve_usage[] =
    "Usage: mlc plaid serve [--for SECONDS]\n\n"
    "Serves Plaid's webhooks at /webhooks/plaid on the status address ([status] bind; set\n"
    "[plaid] webhook_url to where Plaid reaches it) until stopped (SIGTERM, Ctrl-C) or for\n"
    "SECONDS. Webhooks are verified (ES256, key by kid, 5-minute window, body hash); new\n"
    "transactions are pulled at once, bank-link problems are recorded as alerts.\n";

int mlc_cmd_plaid_serve(const struct mlc_cli *cli, int argc, char **argv)
{
    int64_t for_s = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--for") == 0 && i + 1 < argc &&
            parse_timeout(argv[i + 1], &for_s) == MLC_OK) {
            i++;
        } else {
            mlc_cli_error("'plaid serve' does not understand '%s'; run 'mlc plaid serve --help'",
                          argv[i]);
            return MLC_EXIT_USAGE;
        }
    }
    struct session s;
    int ec = session_open(&s, cli, 1);
    if (ec)
        return ec;
    struct mlc_plaid_webhooks *sv = NULL;
    struct mlc_loop *loop = NULL;
    struct mlc_httpd *srv = NULL;
    int rc;
    if ((rc = mlc_loop_new(NULL, &loop)) != MLC_OK)
        goto out;
    if ((rc = mlc_loop_handle_signals(loop, NULL, NULL)) != MLC_OK)
        goto out;
    struct mlc_httpd_config hc = { 0 };
    hc.host = s.app.cfg.status.bind.host;
    hc.port = s.app.cfg.status.bind.port;
    if ((rc = mlc_httpd_new(loop, &hc, &srv)) != MLC_OK) {
        mlc_cli_error("could not listen on %s:%d (%s); is the port in use? Change [status] bind",
                      hc.host, hc.port, mlc_err_str(rc));
        ec = mlc_err_exit_code(rc);
        goto out;
    }
    if ((rc = mlc_plaid_webhooks_mount(loop, srv, s.p, s.app.store, s.app.vault,
                                       s.app.cfg.plaid.sync_count, &sv)) != MLC_OK)
        goto out;
    uint64_t tid;
    if (for_s && (rc = mlc_loop_timer_add(loop, for_s * 1000, 0, 0, serve_stop, sv, &tid)) !=
                     MLC_OK)
        goto out;
    printf("listening on %s:%d: Plaid webhooks at /webhooks/plaid\n", hc.host,
           mlc_httpd_port(srv));
    if (!s.app.cfg.plaid.webhook_url[0])
        printf("note: [plaid] webhook_url is not set, so Plaid sends no webhooks to new links\n");
    fflush(stdout);
    rc = mlc_loop_run(loop);
    if (rc == MLC_ERR_CANCELLED)
        rc = MLC_OK;  /* stopped by a signal: a normal end */
    printf("stopped: %u webhooks accepted, %u rejected, %u syncs\n", sv->accepted, sv->rejected,
           sv->syncs);
out:
    if (rc != MLC_OK && !ec) {
        mlc_cli_error("the webhook server stopped: %s", mlc_err_str(rc));
        ec = mlc_err_exit_code(rc);
    }
    mlc_plaid_webhooks_free(sv);
    mlc_httpd_free(srv);
    mlc_loop_free(loop);
    session_close(&s);
    return ec;
}
