#include "mlc_plaid_pull.h"
#include "mlc_date.h"
#include "mlc_plaid_webhook.h"
#include "mlc_alloc.h"
#include "mlc_crashpoint.h"
#include "mlc_err.h"
#include "mlc_journal.h"
#include "mlc_log.h"
#include "mlc_platform.h"
#include "mlc_store.h"
#include "mlc_vault.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define DAY_MS 86400000LL

/* snprintf for sentences that may be cut: ids and names are long in theory, short in practice. */
static void say(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *dst, size_t cap, const char *fmt, ...)
{
    va_list ap;
    if (!cap)
        return;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}

static int64_t now_of(const struct mlc_plaid_pull_opts *o)
{
    return o && o->now_ms ? o->now_ms() : mlc_time_now_ms();
}

/* Commits, growing the map once when it is full (the caller redoes the work on MAP_FULL). */
static int commit_or_grow(struct mlc_store *st, struct mlc_txn *txn, int *grew)
{
    int rc = mlc_store_commit(txn);
    if (rc == MLC_ERR_MAP_FULL && !*grew) {
        *grew = 1;
        if (mlc_store_grow(st) == MLC_OK)
            return MLC_ERR_MAP_FULL; /* redo */
    }
    return rc;
}

/* ---- time ---- */

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int mlc_plaid_parse_time(const char *s, int64_t *ms)
{
    int y, mo, d, h, mi, se;
    if (!s || strlen(s) < 20 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) ||
        s[7] != '-' || digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
        digits(s + 17, 2, &se))
        return MLC_ERR_DATA;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return MLC_ERR_DATA;
    const char *p = s + 19;
    int64_t frac = 0;
    if (*p == '.') {
        int n = 0;
        p++;
        while (*p >= '0' && *p <= '9') {
            if (n < 3)
                frac = frac * 10 + (*p - '0');
            n++;
            p++;
        }
        if (n == 0)
            return MLC_ERR_DATA;
        for (; n < 3; n++)
            frac *= 10;
    }
    int64_t off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om))
            return MLC_ERR_DATA;
        off = (oh * 60 + om) * 60 * (*p == '+' ? 1 : -1);
        p += 6;
    } else {
        return MLC_ERR_DATA;
    }
    if (*p)
        return MLC_ERR_DATA;
    int64_t secs = mlc_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 +
                   se - off;
    *ms = secs * 1000 + frac;
    return MLC_OK;
}

/* ---- item health ---- */

/* Which failures are about the item (a person must act on that bank link) rather than the agent
 * (credentials, our request) or the moment (rate limits). Decided on codes only (plaid.md 7). */
static int item_level(const struct mlc_plaid_result *r, int *token_lost)
{
    *token_lost = 0;
    if (!r->has_error)
        return 0;
    const char *c = r->err.error_code, *t = r->err.error_type;
    if (strcmp(c, "INVALID_ACCESS_TOKEN") == 0 || strcmp(c, "ITEM_NOT_FOUND") == 0) {
        *token_lost = 1;
        return 1;
    }
    if (strcmp(c, "PRODUCT_NOT_READY") == 0)
        return 0;
    if (strcmp(t, "ITEM_ERROR") == 0 || strcmp(t, "OAUTH_ERROR") == 0 ||
        strcmp(c, "USER_PERMISSION_REVOKED") == 0 || strcmp(c, "ITEM_LOGIN_REQUIRED") == 0 ||
        strncmp(r->err.error_code_reason, "OAUTH_", 6) == 0)
        return 1;
    return 0;
}

int mlc_plaid_item_mark_error(struct mlc_store *st, const char *item_id,
                              const struct mlc_plaid_result *r, int64_t now_ms)
{
    int lost = 0;
    if (!item_level(r, &lost))
        return 0;
    struct mlc_journal_item *it = mlc_malloc(sizeof(*it));
    struct mlc_txn *txn = NULL;
    int rc = MLC_ERR_NOMEM;
    if (!it)
        goto out;
    if ((rc = mlc_store_begin(st, 0, &txn)) != MLC_OK)
        goto out;
    if ((rc = mlc_journal_item_get(txn, item_id, it)) != MLC_OK)
        goto out;
    int state = lost ? MLC_ITEM_TOKEN_LOST : MLC_ITEM_NEEDS_REAUTH;
    if (it->state != state)
        it->state_since_ms = now_ms;
    it->state = state;
    snprintf(it->state_code, sizeof(it->state_code), "%s", r->err.error_code);
    char msg[512];
    if (lost)
        say(msg, sizeof(msg), "Plaid no longer accepts the connector's access to %s (%s): "
                 "link this bank again with 'mlc plaid link'",
                 it->institution_name[0] ? it->institution_name : it->item_id, r->err.error_code);
    else
        say(msg, sizeof(msg), "%s needs the account holder to log in again (%s): reconnect it "
            "with 'mlc plaid relink %s'",
            it->institution_name[0] ? it->institution_name : "the bank", r->err.error_code,
            it->item_id);
    if (r->err.display_message[0])
        snprintf(it->state_message, sizeof(it->state_message), "%s", r->err.display_message);
    else
        snprintf(it->state_message, sizeof(it->state_message), "%s", msg);
    if ((rc = mlc_journal_item_put(txn, it)) != MLC_OK)
        goto out;
    if ((rc = mlc_journal_alert_raise(txn, lost ? "token_lost" : "needs_reauth", item_id, msg,
                                      now_ms)) != MLC_OK)
        goto out;
    rc = mlc_store_commit(txn);
    txn = NULL;
    if (rc == MLC_OK) {
        MLC_LOG_WRN("plaid", "item_needs_person item=%s plaid_error=%s", item_id, r->err.error_code);
        rc = 1;
    }
out:
    mlc_store_abort(txn);
    mlc_free(it);
    return rc;
}

int mlc_plaid_item_mark_ok(struct mlc_store *st, const char *item_id, int64_t now_ms)
{
    struct mlc_journal_item *it = mlc_malloc(sizeof(*it));
    struct mlc_txn *txn = NULL;
    int rc = MLC_ERR_NOMEM;
    if (!it)
        goto out;
    if ((rc = mlc_store_begin(st, 0, &txn)) != MLC_OK)
        goto out;
    if ((rc = mlc_journal_item_get(txn, item_id, it)) != MLC_OK)
        goto out;
    if (it->state == MLC_ITEM_NEEDS_REAUTH) {
        it->state = MLC_ITEM_OK;
        it->state_code[0] = it->state_message[0] = '\0';
        it->state_since_ms = now_ms;
        if ((rc = mlc_journal_item_put(txn, it)) != MLC_OK)
            goto out;
    }
    if ((rc = mlc_journal_alert_clear(txn, "needs_reauth", item_id)) != MLC_OK)
        goto out;
    rc = mlc_store_commit(txn);
    txn = NULL;
out:
    mlc_store_abort(txn);
    mlc_free(it);
    return rc;
}

int mlc_plaid_item_consent(struct mlc_txn *txn, struct mlc_journal_item *it, int64_t exp_ms,
                           int64_t now_ms, int days)
{
    int changed = it->consent_expires_ms != exp_ms;
    it->consent_expires_ms = exp_ms;
    if (days <= 0)
        days = MLC_CONSENT_ALERT_DAYS;
    int rc = MLC_OK;
    if (changed && (rc = mlc_journal_item_put(txn, it)) != MLC_OK)
        return rc;
    if (exp_ms > 0 && now_ms >= exp_ms - days * DAY_MS) {
        char when[32], msg[512];
        mlc_time_format_iso(exp_ms, when, sizeof(when));
        say(msg, sizeof(msg), "the bank's consent for %s ends on %s: have the account holder "
                 "renew it with 'mlc plaid relink %s' before then",
                 it->institution_name[0] ? it->institution_name : it->item_id, when, it->item_id);
        return mlc_journal_alert_raise(txn, "consent_expiring", it->item_id, msg, now_ms);
    }
    return mlc_journal_alert_clear(txn, "consent_expiring", it->item_id);
}

/* ---- the sync loop ---- */

struct page_ctx {
    struct mlc_txn *txn;
    const char *item_id;
    int64_t now;
    const struct mlc_plaid_sync_page *page; /* filled by the parser before the first callback */
    int flag_new;
    struct mlc_plaid_pull_stats *stats;
};

static int on_txn(void *ctx, enum mlc_sync_kind kind, const struct mlc_plaid_txn *t)
{
    struct page_ctx *c = ctx;
    int changed = 0;
    int rc = mlc_journal_txn_apply(c->txn, c->item_id, kind, t, c->now, c->page->has_more,
                                   &changed);
    if (rc != MLC_OK)
        return rc;
    if (!changed)
        c->stats->unchanged++;
    else if (kind == MLC_SYNC_ADDED)
        c->stats->added++;
    else
        c->stats->modified++;
    return 0;
}

static int on_removed(void *ctx, const struct mlc_plaid_removed *r)
{
    struct page_ctx *c = ctx;
    int changed = 0;
    int rc = mlc_journal_txn_remove(c->txn, c->item_id, r, c->now, c->page->has_more, &changed);
    if (rc == MLC_OK && changed)
        c->stats->removed++;
    return rc;
}

static int on_account(void *ctx, const struct mlc_plaid_account *a)
{
    struct page_ctx *c = ctx;
    struct mlc_journal_account *old = mlc_malloc(sizeof(*old));
    if (!old)
        return MLC_ERR_NOMEM;
    int rc = mlc_journal_account_get(c->txn, a->account_id, old);
    int is_new = rc == MLC_ERR_NOTFOUND;
    mlc_free(old);
    if (rc != MLC_OK && !is_new)
        return rc;
    /* Sync pages carry cached balances (plaid.md 3.2). An account first seen after the item's
     * first complete update is a new one at the bank: it has no mapping yet. */
    rc = mlc_journal_account_upsert(c->txn, c->item_id, a, c->now, 0, c->flag_new);
    if (rc == MLC_OK && is_new) {
        c->stats->accounts++;
        if (c->flag_new) {
            char msg[512];
            say(msg, sizeof(msg), "a new bank account '%s' (…%s) appeared: map it to an Exact "
                     "journal before its transactions can be posted", a->name, a->mask);
            rc = mlc_journal_alert_raise(c->txn, "new_accounts", c->item_id, msg, c->now);
        }
    }
    return rc;
}

/* Rolls an unfinished update back to its start and closes it. */
static int abandon_update(struct mlc_store *st, const char *item_id, struct mlc_journal_item *it,
                          size_t *restored)
{
    struct mlc_txn *txn = NULL;
    int grew = 0, rc;
redo:
    if ((rc = mlc_store_begin(st, 0, &txn)) != MLC_OK)
        return rc;
    if ((rc = mlc_journal_item_get(txn, item_id, it)) != MLC_OK)
        goto out;
    if ((rc = mlc_journal_undo_rollback(txn, item_id, restored)) != MLC_OK)
        goto out;
    it->update_open = 0;
    it->start_cursor[0] = it->progress_cursor[0] = '\0';
    if ((rc = mlc_journal_item_put(txn, it)) != MLC_OK)
        goto out;
    rc = commit_or_grow(st, txn, &grew);
    txn = NULL;
    if (rc == MLC_ERR_MAP_FULL && grew == 1) {
        grew = 2;
        goto redo;
    }
out:
    mlc_store_abort(txn);
    return rc;
}

static cJSON *sync_request(const char *token, const char *cursor, int count)
{
    cJSON *req = cJSON_CreateObject();
    if (!req)
        return NULL;
    if (!cJSON_AddStringToObject(req, "access_token", token) ||
        (cursor[0] && !cJSON_AddStringToObject(req, "cursor", cursor)) ||
        !cJSON_AddNumberToObject(req, "count", count)) {
        cJSON_Delete(req);
        return NULL;
    }
    return req;
}

/* Applies one page and moves the item's cursors, all in one transaction. */
static int store_page(struct mlc_store *st, const char *item_id, const struct mlc_buf *page_text,
                      const char *start, struct mlc_plaid_sync_page *page, int64_t now,
                      struct mlc_plaid_pull_stats *stats, struct mlc_journal_item *it)
{
    struct mlc_txn *txn = NULL;
    int grew = 0, rc;
    struct mlc_plaid_pull_stats saved = *stats;
redo:
    *stats = saved;
    if ((rc = mlc_store_begin(st, 0, &txn)) != MLC_OK)
        return rc;
    if ((rc = mlc_journal_item_get(txn, item_id, it)) != MLC_OK)
        goto out;
    /* The parser validates the whole page and fills *page before the first callback, so the
     * callbacks know has_more: a page with more to come writes the undo log, the last page of
     * an update needs none (it commits with the cursor). */
    struct page_ctx c = { txn, item_id, now, page, it->updates_done > 0, stats };
    struct mlc_plaid_sync_cb cb = { on_txn, on_removed, on_account, &c };
    memset(page, 0, sizeof(*page));
    rc = mlc_plaid_sync_parse(page_text->data ? page_text->data : "", page_text->len, &cb, page);
    if (rc != MLC_OK)
        goto out;
    if (page->has_more) {
        it->update_open = 1;
        snprintf(it->start_cursor, sizeof(it->start_cursor), "%s", start);
        snprintf(it->progress_cursor, sizeof(it->progress_cursor), "%s", page->next_cursor);
    } else {
        /* Plaid answers an empty cursor while the item is not ready (plaid.md 3.2): keep ours. */
        if (page->next_cursor[0] || !it->cursor[0])
            snprintf(it->cursor, sizeof(it->cursor), "%s", page->next_cursor);
        it->update_open = 0;
        it->start_cursor[0] = it->progress_cursor[0] = '\0';
        it->last_sync_ms = now;
        if (page->next_cursor[0])
            it->updates_done++;
        if ((rc = mlc_journal_undo_clear(txn, item_id)) != MLC_OK)
            goto out;
    }
    if ((rc = mlc_journal_item_put(txn, it)) != MLC_OK)
        goto out;
    rc = commit_or_grow(st, txn, &grew);
    txn = NULL;
    if (rc == MLC_ERR_MAP_FULL && grew == 1) {
        grew = 2;
        goto redo;
    }
out:
    mlc_store_abort(txn);
    return rc;
}

int mlc_plaid_item_token(struct mlc_vault *v, const char *item_id, char **tok, size_t *len)
{
    char name[MLC_PLAID_TOKEN_NAME_MAX + 1];
    int rc = mlc_plaid_token_name(item_id, name);
    if (rc != MLC_OK)
        return rc;
    return mlc_vault_get(v, name, tok, len);
}

int mlc_plaid_pull_item(struct mlc_plaid *p, struct mlc_store *st, struct mlc_vault *v,
                        const char *item_id, const struct mlc_plaid_pull_opts *o,
                        struct mlc_plaid_pull_stats *stats, char *msg, size_t msgcap)
{
    struct mlc_journal_item *it = mlc_malloc(sizeof(*it));
    char *start = mlc_malloc(MLC_SYNC_CURSOR_MAX + 1);
    char *cursor = mlc_malloc(MLC_SYNC_CURSOR_MAX + 1);
    char *tok = NULL;
    size_t toklen = 0;
    struct mlc_txn *txn = NULL;
    struct mlc_buf page_text;
    struct mlc_plaid_sync_page page;
    int rc = MLC_ERR_NOMEM;
    int count = o && o->count > 0 && o->count <= 500 ? o->count : 500;
    mlc_buf_init(&page_text, MLC_PLAID_ANSWER_MAX);
    memset(stats, 0, sizeof(*stats));
    if (msgcap)
        msg[0] = '\0';
    if (!it || !start || !cursor)
        goto out;
    if ((rc = mlc_store_begin(st, 1, &txn)) != MLC_OK)
        goto out;
    rc = mlc_journal_item_get(txn, item_id, it);
    mlc_store_abort(txn);
    txn = NULL;
    if (rc != MLC_OK) {
        say(msg, msgcap, "no bank link with item id %s; 'mlc plaid items' lists them",
                 item_id);
        goto out;
    }
    if (it->state != MLC_ITEM_OK) {
        say(msg, msgcap, "skipped %s: %s (%s)", item_id,
                 mlc_journal_item_state_name(it->state),
                 it->state_message[0] ? it->state_message : it->state_code);
        rc = MLC_ERR_NEEDS_PERSON;
        goto out;
    }
    if (it->rotating) {
        rc = mlc_plaid_rotate_recover(p, st, v, item_id, now_of(o), msg, msgcap);
        if (rc != MLC_OK)
            goto out;
    }
    if (it->update_open) {
        /* A crash (or a failure) in the middle of an update: plaid.md 3.3 says restart from the
         * update's first cursor; the undo log removes what the interrupted attempt wrote. */
        rc = abandon_update(st, item_id, it, &stats->rolled_back);
        if (rc != MLC_OK)
            goto out;
        stats->resumed_after_crash = 1;
        MLC_LOG_INF("plaid", "sync_resume item=%s rolled_back=%zu", item_id, stats->rolled_back);
    }
    if ((rc = mlc_plaid_item_token(v, item_id, &tok, &toklen)) != MLC_OK) {
        say(msg, msgcap, "the access token of bank link %s is missing from the vault (%s); "
                 "link the bank again", item_id, mlc_err_str(rc));
        goto out;
    }
    snprintf(start, MLC_SYNC_CURSOR_MAX + 1, "%s", it->cursor);
    snprintf(cursor, MLC_SYNC_CURSOR_MAX + 1, "%s", it->cursor);
    for (;;) {
        cJSON *req = sync_request(tok, cursor, count);
        if (!req) {
            rc = MLC_ERR_NOMEM;
            goto out;
        }
        rc = mlc_plaid_post(p, "/transactions/sync", req, &page_text);
        cJSON_Delete(req);
        const struct mlc_plaid_result *r = mlc_plaid_last(p);
        if (rc != MLC_OK && r->cls == MLC_PLAID_RESTART_PAGINATION &&
            stats->restarts < MLC_PULL_RESTARTS_MAX) {
            stats->restarts++;
            MLC_LOG_INF("plaid", "sync_restart item=%s reason=mutation restarts=%u", item_id,
                        stats->restarts);
            size_t rb = 0;
            if ((rc = abandon_update(st, item_id, it, &rb)) != MLC_OK)
                goto out;
            stats->rolled_back += rb;
            snprintf(cursor, MLC_SYNC_CURSOR_MAX + 1, "%s", start);
            continue;
        }
        if (rc != MLC_OK) {
            say(msg, msgcap, "%s", r->message);
            int mrc = mlc_plaid_item_mark_error(st, item_id, r, now_of(o));
            if (mrc == 1)
                rc = MLC_ERR_NEEDS_PERSON;
            goto out;
        }
        rc = store_page(st, item_id, &page_text, start, &page, now_of(o), stats, it);
        if (rc != MLC_OK) {
            say(msg, msgcap, "could not store a page of transactions for %s: %s", item_id,
                     mlc_err_str(rc));
            goto out;
        }
        stats->pages++;
        stats->update_status = page.update_status;
        mlc_crashpoint("plaid.page.stored");
        if (o && o->after_page)
            o->after_page(o->after_page_ud, stats->pages);
        if (!page.has_more)
            break;
        snprintf(cursor, MLC_SYNC_CURSOR_MAX + 1, "%s", page.next_cursor);
        mlc_buf_reset(&page_text);
    }
    MLC_LOG_INF("plaid", "sync_done item=%s pages=%u added=%zu modified=%zu removed=%zu "
                "restarts=%u", item_id, stats->pages, stats->added, stats->modified,
                stats->removed, stats->restarts);
    rc = MLC_OK;
out:
    mlc_store_abort(txn);
    mlc_vault_free_secret(tok, toklen);
    mlc_buf_free(&page_text);
    mlc_free(cursor);
    mlc_free(start);
    mlc_free(it);
    return rc;
}

/* ---- linking and rotation ---- */

int mlc_plaid_item_record(struct mlc_store *st, struct mlc_vault *v, const char *item_id,
                          const char *access_token, const char *institution_id,
                          const char *institution_name, int64_t now_ms)
{
    char name[MLC_PLAID_TOKEN_NAME_MAX + 1];
    struct mlc_journal_item *it = mlc_malloc(sizeof(*it));
    struct mlc_txn *txn = NULL;
    int rc = MLC_ERR_NOMEM;
    if (!it)
        goto out;
    if (!item_id || !item_id[0] || strlen(item_id) > MLC_PLAID_ID_MAX) {
        rc = MLC_ERR_DATA;
        goto out;
    }
    if ((rc = mlc_plaid_token_name(item_id, name)) != MLC_OK)
        goto out;
    if ((rc = mlc_store_begin(st, 0, &txn)) != MLC_OK)
        goto out;
    rc = mlc_journal_item_get(txn, item_id, it);
    if (rc == MLC_ERR_NOTFOUND) {
        memset(it, 0, sizeof(*it));
        snprintf(it->item_id, sizeof(it->item_id), "%s", item_id);
        it->created_ms = now_ms;
    } else if (rc != MLC_OK) {
        goto out;
    }
    if (institution_id)
        snprintf(it->institution_id, sizeof(it->institution_id), "%s", institution_id);
    if (institution_name)
        snprintf(it->institution_name, sizeof(it->institution_name), "%s", institution_name);
    it->state = MLC_ITEM_OK;
    it->state_code[0] = it->state_message[0] = '\0';
    it->state_since_ms = now_ms;
    it->rotating = 0;
    /* The token and the item that needs it are written together. */
    if ((rc = mlc_vault_set_txn(v, txn, name, access_token, strlen(access_token))) != MLC_OK)
        goto out;
    if ((rc = mlc_journal_item_put(txn, it)) != MLC_OK)
        goto out;
    if ((rc = mlc_journal_alert_clear(txn, "needs_reauth", item_id)) != MLC_OK ||
        (rc = mlc_journal_alert_clear(txn, "token_lost", item_id)) != MLC_OK)
        goto out;
    rc = mlc_store_commit(txn);
    txn = NULL;
out:
    mlc_store_abort(txn);
    mlc_free(it);
    return rc;
}

static int set_rotating(struct mlc_store *st, const char *item_id, int on, int64_t now_ms,
                        struct mlc_vault *v, const char *new_token, int state)
{
    struct mlc_journal_item *it = mlc_malloc(sizeof(*it));
    struct mlc_txn *txn = NULL;
    int rc = MLC_ERR_NOMEM;
    if (!it)
        goto out;
    if ((rc = mlc_store_begin(st, 0, &txn)) != MLC_OK)
        goto out;
    if ((rc = mlc_journal_item_get(txn, item_id, it)) != MLC_OK)
        goto out;
    it->rotating = on;
    it->rotating_since_ms = on ? now_ms : 0;
    if (new_token) {
        char name[MLC_PLAID_TOKEN_NAME_MAX + 1];
        if ((rc = mlc_plaid_token_name(item_id, name)) != MLC_OK)
            goto out;
        /* The new token replaces the old one in the transaction that ends the intent. */
        if ((rc = mlc_vault_set_txn(v, txn, name, new_token, strlen(new_token))) != MLC_OK)
            goto out;
    }
    if (state >= 0) {
        it->state = state;
        it->state_since_ms = now_ms;
        snprintf(it->state_code, sizeof(it->state_code), "ROTATION_INTERRUPTED");
        snprintf(it->state_message, sizeof(it->state_message),
                 "an access token rotation was interrupted and Plaid has retired the old token: "
                 "link this bank again with 'mlc plaid link'");
        if ((rc = mlc_journal_alert_raise(txn, "token_lost", item_id, it->state_message,
                                          now_ms)) != MLC_OK)
            goto out;
    }
    if ((rc = mlc_journal_item_put(txn, it)) != MLC_OK)
        goto out;
    rc = mlc_store_commit(txn);
    txn = NULL;
out:
    mlc_store_abort(txn);
    mlc_free(it);
    return rc;
}

int mlc_plaid_rotate(struct mlc_plaid *p, struct mlc_store *st, struct mlc_vault *v,
                     const char *item_id, int64_t now_ms, char *msg, size_t msgcap)
{
    char *tok = NULL;
    size_t toklen = 0;
    cJSON *req = NULL, *ans = NULL;
    int rc;
    msg[0] = '\0';
    /* An earlier interrupted rotation is settled first. */
    if ((rc = mlc_plaid_rotate_recover(p, st, v, item_id, now_ms, msg, msgcap)) != MLC_OK)
        return rc;
    if ((rc = mlc_plaid_item_token(v, item_id, &tok, &toklen)) != MLC_OK) {
        say(msg, msgcap, "no access token for bank link %s (%s)", item_id, mlc_err_str(rc));
        return rc;
    }
    if ((rc = set_rotating(st, item_id, 1, now_ms, NULL, NULL, -1)) != MLC_OK) {
        say(msg, msgcap, "could not record the rotation: %s", mlc_err_str(rc));
        goto out;
    }
    req = cJSON_CreateObject();
    if (!req || !cJSON_AddStringToObject(req, "access_token", tok)) {
        rc = MLC_ERR_NOMEM;
        goto out;
    }
    rc = mlc_plaid_call(p, "/item/access_token/invalidate", req, &ans);
    if (rc != MLC_OK) {
        /* Plaid refused or never answered. Whether it rotated is unknown for a lost answer:
         * the intent stays and recovery tests the old token. */
        say(msg, msgcap, "%s", mlc_plaid_last(p)->message);
        if (mlc_plaid_last(p)->status != 0)
            set_rotating(st, item_id, 0, now_ms, NULL, NULL, -1);
        goto out;
    }
    const cJSON *nt = cJSON_GetObjectItemCaseSensitive(ans, "new_access_token");
    if (!cJSON_IsString(nt) || !nt->valuestring[0] ||
        strlen(nt->valuestring) > MLC_VAULT_VALUE_MAX) {
        rc = MLC_ERR_DATA;
        say(msg, msgcap, "Plaid's rotation answer has no new access token");
        goto out;
    }
    mlc_log_secret_add(nt->valuestring);
    mlc_crashpoint("plaid.rotate.answered");
    rc = set_rotating(st, item_id, 0, now_ms, v, nt->valuestring, -1);
    if (rc != MLC_OK)
        say(msg, msgcap, "could not store the new access token: %s", mlc_err_str(rc));
    else
        MLC_LOG_INF("plaid", "token_rotated item=%s", item_id);
out:
    if (ans) {
        cJSON *nt2 = cJSON_GetObjectItemCaseSensitive(ans, "new_access_token");
        if (cJSON_IsString(nt2))
            mlc_wipe(nt2->valuestring, strlen(nt2->valuestring));
    }
    cJSON_Delete(ans);
    cJSON_Delete(req);
    mlc_vault_free_secret(tok, toklen);
    return rc;
}

int mlc_plaid_rotate_recover(struct mlc_plaid *p, struct mlc_store *st, struct mlc_vault *v,
                             const char *item_id, int64_t now_ms, char *msg, size_t msgcap)
{
    struct mlc_journal_item *it = mlc_malloc(sizeof(*it));
    struct mlc_txn *txn = NULL;
    char *tok = NULL;
    size_t toklen = 0;
    cJSON *req = NULL, *ans = NULL;
    int rc = MLC_ERR_NOMEM;
    if (!it)
        goto out;
    if ((rc = mlc_store_begin(st, 1, &txn)) != MLC_OK)
        goto out;
    rc = mlc_journal_item_get(txn, item_id, it);
    mlc_store_abort(txn);
    txn = NULL;
    if (rc != MLC_OK || !it->rotating)
        goto out;
    if ((rc = mlc_plaid_item_token(v, item_id, &tok, &toklen)) != MLC_OK)
        goto out;
    req = cJSON_CreateObject();
    if (!req || !cJSON_AddStringToObject(req, "access_token", tok)) {
        rc = MLC_ERR_NOMEM;
        goto out;
    }
    rc = mlc_plaid_call(p, "/item/get", req, &ans);
    const struct mlc_plaid_result *r = mlc_plaid_last(p);
    if (rc == MLC_OK || (r->has_error && strcmp(r->err.error_type, "ITEM_ERROR") == 0)) {
        /* The old token still works: Plaid never rotated. */
        rc = set_rotating(st, item_id, 0, now_ms, NULL, NULL, -1);
        MLC_LOG_INF("plaid", "rotation_recovered item=%s token=old", item_id);
    } else if (r->has_error && strcmp(r->err.error_code, "INVALID_ACCESS_TOKEN") == 0) {
        rc = set_rotating(st, item_id, 0, now_ms, NULL, NULL, MLC_ITEM_TOKEN_LOST);
        if (rc == MLC_OK)
            rc = MLC_ERR_NEEDS_PERSON;
        say(msg, msgcap, "the access token rotation of %s was interrupted after Plaid retired "
                 "the old token; the new one is lost: link this bank again with 'mlc plaid link'",
                 item_id);
        MLC_LOG_ERR("plaid", "rotation_lost item=%s", item_id);
    } else {
        say(msg, msgcap, "%s", r->message);
    }
out:
    cJSON_Delete(ans);
    cJSON_Delete(req);
    mlc_vault_free_secret(tok, toklen);
    mlc_free(it);
    return rc;
}

/* ---- webhooks ---- */

/* One small change to a known item and an alert, in one transaction. */
static int item_event(struct mlc_store *st, const char *item_id, const char *alert_kind,
                      const char *message, int new_accounts, int64_t consent_ms, int64_t now_ms)
{
    struct mlc_journal_item *it = mlc_malloc(sizeof(*it));
    struct mlc_txn *txn = NULL;
    int rc = MLC_ERR_NOMEM;
    if (!it)
        goto out;
    if ((rc = mlc_store_begin(st, 0, &txn)) != MLC_OK)
        goto out;
    if ((rc = mlc_journal_item_get(txn, item_id, it)) != MLC_OK)
        goto out;
    if (new_accounts && !it->new_accounts) {
        it->new_accounts = 1;
        if ((rc = mlc_journal_item_put(txn, it)) != MLC_OK)
            goto out;
    }
    if (consent_ms > 0 && (rc = mlc_plaid_item_consent(txn, it, consent_ms, now_ms, 0)) != MLC_OK)
        goto out;
    if (alert_kind &&
        (rc = mlc_journal_alert_raise(txn, alert_kind, item_id, message, now_ms)) != MLC_OK)
        goto out;
    rc = mlc_store_commit(txn);
    txn = NULL;
out:
    mlc_store_abort(txn);
    mlc_free(it);
    return rc;
}

int mlc_plaid_webhook_apply(struct mlc_store *st, const struct mlc_plaid_webhook *wh,
                            int64_t now_ms)
{
    struct mlc_journal_item *it = mlc_malloc(sizeof(*it));
    struct mlc_txn *txn = NULL;
    char msg[512];
    int rc;
    if (!it)
        return MLC_ERR_NOMEM;
    if ((rc = mlc_store_begin(st, 1, &txn)) == MLC_OK)
        rc = mlc_journal_item_get(txn, wh->item_id, it);
    mlc_store_abort(txn);
    if (rc == MLC_ERR_NOTFOUND) {
        MLC_LOG_WRN("plaid", "webhook_ignored reason=unknown_item item=%s type=%s code=%s",
                    wh->item_id, wh->webhook_type, wh->webhook_code);
        rc = 0;
        goto out;
    }
    if (rc != MLC_OK)
        goto out;
    const char *who = it->institution_name[0] ? it->institution_name : it->item_id;
    MLC_LOG_INF("plaid", "webhook item=%s type=%s code=%s", wh->item_id, wh->webhook_type,
                wh->webhook_code);
    switch (wh->code) {
    case MLC_WH_CODE_SYNC_UPDATES_AVAILABLE:
        rc = it->state == MLC_ITEM_OK ? 1 : 0;
        break;
    case MLC_WH_CODE_ERROR:
    case MLC_WH_CODE_USER_PERMISSION_REVOKED: {
        struct mlc_plaid_result r;
        memset(&r, 0, sizeof(r));
        if (wh->has_error && wh->error.error_code[0]) {
            r.err = wh->error;
        } else {
            snprintf(r.err.error_type, sizeof(r.err.error_type), "ITEM_ERROR");
            snprintf(r.err.error_code, sizeof(r.err.error_code), "%s",
                     wh->code == MLC_WH_CODE_ERROR ? "ITEM_LOGIN_REQUIRED"
                                                   : "USER_PERMISSION_REVOKED");
        }
        r.has_error = 1;
        r.status = wh->error.status ? wh->error.status : 400;
        rc = mlc_plaid_item_mark_error(st, wh->item_id, &r, now_ms);
        if (rc == 0)  /* an error the item can live with (e.g. PRODUCT_NOT_READY) */
            MLC_LOG_INF("plaid", "webhook_error_not_item_level item=%s plaid_error=%s",
                        wh->item_id, r.err.error_code);
        rc = rc < 0 ? rc : 0;
        break;
    }
    case MLC_WH_CODE_PENDING_EXPIRATION: {
        int64_t exp = 0;
        if (mlc_plaid_parse_time(wh->consent_expiration_time, &exp) != MLC_OK)
            exp = now_ms + 7 * DAY_MS; /* "expiring in 7 days" (plaid.md 5.3) */
        rc = item_event(st, wh->item_id, NULL, NULL, 0, exp, now_ms);
        break;
    }
    case MLC_WH_CODE_PENDING_DISCONNECT:
        say(msg, sizeof(msg), "Plaid will disconnect %s on %s (%s): have the account holder "
            "reconnect it with 'mlc plaid relink %s' before then", who,
            wh->disconnect_time[0] ? wh->disconnect_time : "a date within 7 days",
            wh->reason[0] ? wh->reason : "no reason given", wh->item_id);
        rc = item_event(st, wh->item_id, "pending_disconnect", msg, 0, 0, now_ms);
        break;
    case MLC_WH_CODE_NEW_ACCOUNTS_AVAILABLE:
        say(msg, sizeof(msg), "%s has a new account: share it with 'mlc plaid relink %s', then "
            "map it to an Exact journal", who, wh->item_id);
        rc = item_event(st, wh->item_id, "new_accounts", msg, 1, 0, now_ms);
        break;
    case MLC_WH_CODE_LOGIN_REPAIRED:
        rc = mlc_plaid_item_mark_ok(st, wh->item_id, now_ms);
        break;
    default:
        /* Plaid adds codes without a new version (plaid.md 1): never fail on them. */
        MLC_LOG_INF("plaid", "webhook_ignored reason=unhandled type=%s code=%s",
                    wh->webhook_type, wh->webhook_code);
        rc = 0;
        break;
    }
out:
    mlc_free(it);
    return rc;
}
