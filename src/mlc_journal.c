#include "mlc_journal.h"
#include "mlc_alloc.h"
#include "mlc_buf.h"
#include "mlc_err.h"
#include "mlc_plaid_error.h"
#include "mlc_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REC_MAX (64u * 1024)
#define KEY_MAX 511
#define UNDO_PREFIX "plaid.undo."

/* ---- record encoding ---- */

struct rec_w {
    struct mlc_buf b;
    int err;
};

static void w_init(struct rec_w *w)
{
    mlc_buf_init(&w->b, REC_MAX);
    w->err = 0;
    unsigned char v = MLC_JOURNAL_REC_VERSION;
    if (mlc_buf_append(&w->b, &v, 1) != MLC_OK)
        w->err = MLC_ERR_NOMEM;
}

static void w_bytes(struct rec_w *w, const char *s, size_t n)
{
    if (w->err)
        return;
    if (n > MLC_JOURNAL_FIELD_MAX) {
        w->err = MLC_ERR_TOO_BIG;
        return;
    }
    unsigned char hdr[2] = { (unsigned char)(n >> 8), (unsigned char)n };
    int rc = mlc_buf_append(&w->b, hdr, 2);
    if (rc == MLC_OK && n)
        rc = mlc_buf_append(&w->b, s, n);
    if (rc != MLC_OK)
        w->err = rc;
}

static void w_str(struct rec_w *w, const char *s)
{
    w_bytes(w, s, strlen(s));
}

static void w_i64(struct rec_w *w, int64_t v)
{
    char t[24];
    snprintf(t, sizeof(t), "%lld", (long long)v);
    w_str(w, t);
}

struct rec_r {
    const unsigned char *p;
    size_t left;
    int err;
};

static int r_init(struct rec_r *r, const void *val, size_t len)
{
    r->p = val;
    r->left = len;
    r->err = 0;
    if (len < 1 || r->p[0] != MLC_JOURNAL_REC_VERSION)
        return MLC_ERR_DATA;
    r->p++;
    r->left--;
    return MLC_OK;
}

/* Next field into dst (cap bytes, NUL-terminated); a missing trailing field reads as "". A field
 * longer than dst is an error rather than a silent cut: ids and cursors must be whole. */
static void r_str(struct rec_r *r, char *dst, size_t cap)
{
    dst[0] = '\0';
    if (r->err || r->left == 0)
        return;
    if (r->left < 2) {
        r->err = MLC_ERR_DATA;
        return;
    }
    size_t n = ((size_t)r->p[0] << 8) | r->p[1];
    if (n > r->left - 2 || n >= cap) {
        r->err = MLC_ERR_DATA;
        return;
    }
    memcpy(dst, r->p + 2, n);
    dst[n] = '\0';
    r->p += 2 + n;
    r->left -= 2 + n;
}

static int64_t r_i64(struct rec_r *r)
{
    char t[24];
    r_str(r, t, sizeof(t));
    return t[0] ? strtoll(t, NULL, 10) : 0;
}

static int w_finish(struct rec_w *w, struct mlc_txn *txn, enum mlc_db db, const char *key,
                    size_t klen)
{
    int rc = w->err;
    if (rc == MLC_OK)
        rc = mlc_store_put(txn, db, key, klen, w->b.data, w->b.len);
    mlc_buf_free(&w->b);
    return rc;
}

static int checked_id(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    return n > 0 && n <= MLC_PLAID_ID_MAX ? MLC_OK : MLC_ERR_DATA;
}

/* ---- items ---- */

static int item_decode(const void *val, size_t len, struct mlc_journal_item *it)
{
    struct rec_r r;
    memset(it, 0, sizeof(*it));
    if (r_init(&r, val, len) != MLC_OK)
        return MLC_ERR_DATA;
    r_str(&r, it->item_id, sizeof(it->item_id));
    r_str(&r, it->institution_id, sizeof(it->institution_id));
    r_str(&r, it->institution_name, sizeof(it->institution_name));
    it->state = (int)r_i64(&r);
    r_str(&r, it->state_code, sizeof(it->state_code));
    r_str(&r, it->state_message, sizeof(it->state_message));
    it->state_since_ms = r_i64(&r);
    r_str(&r, it->cursor, sizeof(it->cursor));
    it->update_open = (int)r_i64(&r);
    r_str(&r, it->start_cursor, sizeof(it->start_cursor));
    r_str(&r, it->progress_cursor, sizeof(it->progress_cursor));
    it->created_ms = r_i64(&r);
    it->last_sync_ms = r_i64(&r);
    it->consent_expires_ms = r_i64(&r);
    it->rotating = (int)r_i64(&r);
    it->rotating_since_ms = r_i64(&r);
    it->new_accounts = (int)r_i64(&r);
    it->updates_done = (uint64_t)r_i64(&r);
    return r.err ? MLC_ERR_DATA : MLC_OK;
}

int mlc_journal_item_get(struct mlc_txn *txn, const char *item_id, struct mlc_journal_item *out)
{
    const void *v;
    size_t vl;
    if (checked_id(item_id) != MLC_OK)
        return MLC_ERR_NOTFOUND;
    int rc = mlc_store_get(txn, MLC_DB_ITEMS, item_id, strlen(item_id), &v, &vl);
    if (rc != MLC_OK)
        return rc;
    return item_decode(v, vl, out);
}

int mlc_journal_item_put(struct mlc_txn *txn, const struct mlc_journal_item *it)
{
    if (checked_id(it->item_id) != MLC_OK)
        return MLC_ERR_DATA;
    struct rec_w w;
    w_init(&w);
    w_str(&w, it->item_id);
    w_str(&w, it->institution_id);
    w_str(&w, it->institution_name);
    w_i64(&w, it->state);
    w_str(&w, it->state_code);
    w_str(&w, it->state_message);
    w_i64(&w, it->state_since_ms);
    w_str(&w, it->cursor);
    w_i64(&w, it->update_open);
    w_str(&w, it->start_cursor);
    w_str(&w, it->progress_cursor);
    w_i64(&w, it->created_ms);
    w_i64(&w, it->last_sync_ms);
    w_i64(&w, it->consent_expires_ms);
    w_i64(&w, it->rotating);
    w_i64(&w, it->rotating_since_ms);
    w_i64(&w, it->new_accounts);
    w_i64(&w, (int64_t)it->updates_done);
    return w_finish(&w, txn, MLC_DB_ITEMS, it->item_id, strlen(it->item_id));
}

struct item_each {
    mlc_journal_item_fn fn;
    void *ctx;
    struct mlc_journal_item *it;
};

static int item_each_cb(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    (void)key;
    (void)klen;
    struct item_each *e = ctx;
    if (item_decode(val, vlen, e->it) != MLC_OK)
        return MLC_ERR_DATA;
    return e->fn(e->ctx, e->it);
}

int mlc_journal_item_each(struct mlc_txn *txn, mlc_journal_item_fn fn, void *ctx)
{
    struct item_each e = { fn, ctx, mlc_malloc(sizeof(struct mlc_journal_item)) };
    if (!e.it)
        return MLC_ERR_NOMEM;
    int rc = mlc_store_each(txn, MLC_DB_ITEMS, NULL, 0, item_each_cb, &e);
    mlc_free(e.it);
    return rc < 0 ? rc : MLC_OK;
}

const char *mlc_journal_item_state_name(int state)
{
    switch (state) {
    case MLC_ITEM_OK: return "ok";
    case MLC_ITEM_NEEDS_REAUTH: return "needs re-authentication";
    case MLC_ITEM_TOKEN_LOST: return "needs a new link";
    case MLC_ITEM_REMOVED: return "removed";
    }
    return "unknown";
}

/* ---- transactions ---- */

static int txn_key(char *key, size_t cap, const char *account_id, const char *txn_id, size_t *klen)
{
    if (checked_id(account_id) != MLC_OK || checked_id(txn_id) != MLC_OK)
        return MLC_ERR_DATA;
    int n = snprintf(key, cap, "%s/%s", account_id, txn_id);
    if (n < 0 || (size_t)n >= cap || (size_t)n > KEY_MAX)
        return MLC_ERR_TOO_BIG;
    *klen = (size_t)n;
    return MLC_OK;
}

static int txn_decode(const void *val, size_t len, struct mlc_journal_txn *t)
{
    struct rec_r r;
    memset(t, 0, sizeof(*t));
    if (r_init(&r, val, len) != MLC_OK)
        return MLC_ERR_DATA;
    r_str(&r, t->transaction_id, sizeof(t->transaction_id));
    r_str(&r, t->account_id, sizeof(t->account_id));
    r_str(&r, t->item_id, sizeof(t->item_id));
    r_str(&r, t->pending_transaction_id, sizeof(t->pending_transaction_id));
    t->state = (int)r_i64(&r);
    t->pending = (int)r_i64(&r);
    r_str(&r, t->date, sizeof(t->date));
    r_str(&r, t->authorized_date, sizeof(t->authorized_date));
    r_str(&r, t->amount, sizeof(t->amount));
    t->amount_err = (int)r_i64(&r);
    r_str(&r, t->currency, sizeof(t->currency));
    t->currency_is_iso = (int)r_i64(&r);
    r_str(&r, t->name, sizeof(t->name));
    r_str(&r, t->merchant, sizeof(t->merchant));
    r_str(&r, t->category, sizeof(t->category));
    r_str(&r, t->category_detailed, sizeof(t->category_detailed));
    t->payment_channel = (int)r_i64(&r);
    r_str(&r, t->digest, sizeof(t->digest));
    t->first_seen_ms = r_i64(&r);
    t->updated_ms = r_i64(&r);
    t->revision = (unsigned)r_i64(&r);
    return r.err ? MLC_ERR_DATA : MLC_OK;
}

static int txn_encode(struct rec_w *w, const struct mlc_journal_txn *t)
{
    w_init(w);
    w_str(w, t->transaction_id);
    w_str(w, t->account_id);
    w_str(w, t->item_id);
    w_str(w, t->pending_transaction_id);
    w_i64(w, t->state);
    w_i64(w, t->pending);
    w_str(w, t->date);
    w_str(w, t->authorized_date);
    w_str(w, t->amount);
    w_i64(w, t->amount_err);
    w_str(w, t->currency);
    w_i64(w, t->currency_is_iso);
    w_str(w, t->name);
    w_str(w, t->merchant);
    w_str(w, t->category);
    w_str(w, t->category_detailed);
    w_i64(w, t->payment_channel);
    w_str(w, t->digest);
    w_i64(w, t->first_seen_ms);
    w_i64(w, t->updated_ms);
    w_i64(w, t->revision);
    return w->err;
}

/* Saves what key holds now (or that it is absent) in the item's undo log, unless this update
 * saved it already: the log must hold the state from before the update, not an in-between one. */
static int undo_save(struct mlc_txn *txn, const char *item_id, const char *key, size_t klen)
{
    char ukey[KEY_MAX + 1];
    int n = snprintf(ukey, sizeof(ukey), UNDO_PREFIX "%s/%.*s", item_id, (int)klen, key);
    if (n < 0 || (size_t)n > KEY_MAX)
        return MLC_ERR_TOO_BIG;
    const void *v;
    size_t vl;
    int rc = mlc_store_get(txn, MLC_DB_STATE, ukey, (size_t)n, &v, &vl);
    if (rc == MLC_OK)
        return MLC_OK;
    if (rc != MLC_ERR_NOTFOUND)
        return rc;
    rc = mlc_store_get(txn, MLC_DB_TXNS, key, klen, &v, &vl);
    if (rc == MLC_ERR_NOTFOUND)
        return mlc_store_put(txn, MLC_DB_STATE, ukey, (size_t)n, "", 0); /* "" = was absent */
    if (rc != MLC_OK)
        return rc;
    /* v points into the map; copy before the put invalidates it. */
    void *copy = mlc_malloc(vl);
    if (!copy)
        return MLC_ERR_NOMEM;
    memcpy(copy, v, vl);
    rc = mlc_store_put(txn, MLC_DB_STATE, ukey, (size_t)n, copy, vl);
    mlc_free(copy);
    return rc;
}

static void hex32(const uint8_t in[32], char out[65])
{
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hx[in[i] >> 4];
        out[2 * i + 1] = hx[in[i] & 15];
    }
    out[64] = '\0';
}

int mlc_journal_txn_apply(struct mlc_txn *txn, const char *item_id, enum mlc_sync_kind kind,
                          const struct mlc_plaid_txn *t, int64_t now_ms, int undo, int *changed)
{
    char key[KEY_MAX + 1];
    size_t klen;
    struct mlc_journal_txn *rec = NULL;
    struct rec_w w = { { 0 }, 0 };
    int rc, existed = 0, old_state = MLC_TXN_PENDING;
    unsigned old_rev = 0;
    int64_t first_seen = now_ms;
    char digest[65];
    if (changed)
        *changed = 0;
    if ((rc = txn_key(key, sizeof(key), t->account_id, t->transaction_id, &klen)) != MLC_OK)
        return rc;
    hex32(t->raw_sha256, digest);
    rec = mlc_malloc(sizeof(*rec));
    if (!rec)
        return MLC_ERR_NOMEM;
    const void *v;
    size_t vl;
    rc = mlc_store_get(txn, MLC_DB_TXNS, key, klen, &v, &vl);
    if (rc == MLC_OK) {
        if ((rc = txn_decode(v, vl, rec)) != MLC_OK)
            goto out;
        existed = 1;
        old_state = rec->state;
        old_rev = rec->revision;
        first_seen = rec->first_seen_ms;
        /* The same bytes again (a replayed page): nothing to do. A removed record coming back is
         * a restore (Plaid: a removed transaction "may be restored", plaid.md 10), so it is
         * applied even with the same digest. */
        if (strcmp(rec->digest, digest) == 0 && rec->state != MLC_TXN_REMOVED) {
            rc = MLC_OK;
            goto out;
        }
    } else if (rc != MLC_ERR_NOTFOUND) {
        goto out;
    }
    if (undo && (rc = undo_save(txn, item_id, key, klen)) != MLC_OK)
        goto out;
    memset(rec, 0, sizeof(*rec));
    snprintf(rec->transaction_id, sizeof(rec->transaction_id), "%s", t->transaction_id);
    snprintf(rec->account_id, sizeof(rec->account_id), "%s", t->account_id);
    snprintf(rec->item_id, sizeof(rec->item_id), "%s", item_id);
    snprintf(rec->pending_transaction_id, sizeof(rec->pending_transaction_id), "%s",
             t->pending_transaction_id);
    rec->pending = t->pending ? 1 : 0;
    if (t->pending)
        rec->state = MLC_TXN_PENDING;
    else if (existed && (old_state == MLC_TXN_SETTLED || old_state == MLC_TXN_MODIFIED))
        rec->state = MLC_TXN_MODIFIED;  /* a settled one changed: the ledger needs a correction */
    else if (kind == MLC_SYNC_MODIFIED && existed && old_state != MLC_TXN_PENDING)
        rec->state = MLC_TXN_MODIFIED;
    else
        rec->state = MLC_TXN_SETTLED;
    memcpy(rec->date, t->date, sizeof(rec->date));
    memcpy(rec->authorized_date, t->authorized_date, sizeof(rec->authorized_date));
    rec->amount_err = t->amount_err ? 1 : 0;
    if (!t->amount_err && mlc_amount_format(t->amount, 0, rec->amount, sizeof(rec->amount)) < 0)
        rec->amount_err = 1;
    if (rec->amount_err)
        rec->amount[0] = '\0';
    snprintf(rec->currency, sizeof(rec->currency), "%s", t->currency);
    rec->currency_is_iso = t->currency_is_iso;
    snprintf(rec->name, sizeof(rec->name), "%s", t->name);
    snprintf(rec->merchant, sizeof(rec->merchant), "%s", t->merchant_name);
    snprintf(rec->category, sizeof(rec->category), "%s", t->category);
    snprintf(rec->category_detailed, sizeof(rec->category_detailed), "%s", t->category_detailed);
    rec->payment_channel = (int)t->payment_channel;
    memcpy(rec->digest, digest, sizeof(digest));
    rec->first_seen_ms = first_seen;
    rec->updated_ms = now_ms;
    rec->revision = old_rev + 1;
    if ((rc = txn_encode(&w, rec)) != MLC_OK) {
        mlc_buf_free(&w.b);
        goto out;
    }
    rc = w_finish(&w, txn, MLC_DB_TXNS, key, klen);
    if (rc == MLC_OK && changed)
        *changed = 1;
out:
    mlc_free(rec);
    return rc;
}

struct find_txn {
    const char *suffix;
    size_t slen;
    char key[KEY_MAX + 1];
    size_t klen;
};

static int find_txn_cb(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    (void)val;
    (void)vlen;
    struct find_txn *f = ctx;
    if (klen > f->slen && klen <= KEY_MAX &&
        memcmp((const char *)key + klen - f->slen, f->suffix, f->slen) == 0) {
        memcpy(f->key, key, klen);
        f->klen = klen;
        return 1;
    }
    return 0;
}

int mlc_journal_txn_remove(struct mlc_txn *txn, const char *item_id,
                           const struct mlc_plaid_removed *r, int64_t now_ms, int undo,
                           int *changed)
{
    char key[KEY_MAX + 1];
    size_t klen = 0;
    struct mlc_journal_txn *rec = NULL;
    struct rec_w w = { { 0 }, 0 };
    int rc;
    if (changed)
        *changed = 0;
    if (checked_id(r->transaction_id) != MLC_OK)
        return MLC_ERR_DATA;
    if (r->account_id[0]) {
        if ((rc = txn_key(key, sizeof(key), r->account_id, r->transaction_id, &klen)) != MLC_OK)
            return rc;
    } else {
        /* Plaid left the account out: find the transaction by id (rare, so a scan is fine). */
        struct find_txn f;
        char suffix[MLC_PLAID_ID_MAX + 2];
        snprintf(suffix, sizeof(suffix), "/%s", r->transaction_id);
        f.suffix = suffix;
        f.slen = strlen(suffix);
        f.klen = 0;
        rc = mlc_store_each(txn, MLC_DB_TXNS, NULL, 0, find_txn_cb, &f);
        if (rc < 0)
            return rc;
        if (!f.klen)
            return MLC_OK;
        memcpy(key, f.key, f.klen);
        klen = f.klen;
        key[klen] = '\0';
    }
    const void *v;
    size_t vl;
    rc = mlc_store_get(txn, MLC_DB_TXNS, key, klen, &v, &vl);
    if (rc == MLC_ERR_NOTFOUND)
        return MLC_OK; /* never seen (added and removed before we looked): nothing to undo */
    if (rc != MLC_OK)
        return rc;
    rec = mlc_malloc(sizeof(*rec));
    if (!rec)
        return MLC_ERR_NOMEM;
    if ((rc = txn_decode(v, vl, rec)) != MLC_OK || rec->state == MLC_TXN_REMOVED)
        goto out;
    if (undo && (rc = undo_save(txn, item_id, key, klen)) != MLC_OK)
        goto out;
    rec->state = MLC_TXN_REMOVED;
    rec->updated_ms = now_ms;
    rec->revision++;
    if ((rc = txn_encode(&w, rec)) != MLC_OK) {
        mlc_buf_free(&w.b);
        goto out;
    }
    rc = w_finish(&w, txn, MLC_DB_TXNS, key, klen);
    if (rc == MLC_OK && changed)
        *changed = 1;
out:
    mlc_free(rec);
    return rc;
}

int mlc_journal_txn_get(struct mlc_txn *txn, const char *account_id, const char *transaction_id,
                        struct mlc_journal_txn *out)
{
    char key[KEY_MAX + 1];
    size_t klen;
    const void *v;
    size_t vl;
    int rc = txn_key(key, sizeof(key), account_id, transaction_id, &klen);
    if (rc != MLC_OK)
        return MLC_ERR_NOTFOUND;
    if ((rc = mlc_store_get(txn, MLC_DB_TXNS, key, klen, &v, &vl)) != MLC_OK)
        return rc;
    return txn_decode(v, vl, out);
}

struct txn_each {
    mlc_journal_txn_fn fn;
    void *ctx;
    struct mlc_journal_txn *t;
};

static int txn_each_cb(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    (void)key;
    (void)klen;
    struct txn_each *e = ctx;
    if (txn_decode(val, vlen, e->t) != MLC_OK)
        return MLC_ERR_DATA;
    return e->fn(e->ctx, e->t);
}

int mlc_journal_txn_each(struct mlc_txn *txn, const char *account_id, mlc_journal_txn_fn fn,
                         void *ctx)
{
    char prefix[MLC_PLAID_ID_MAX + 2];
    size_t plen = 0;
    if (account_id) {
        if (checked_id(account_id) != MLC_OK)
            return MLC_ERR_DATA;
        plen = (size_t)snprintf(prefix, sizeof(prefix), "%s/", account_id);
    }
    struct txn_each e = { fn, ctx, mlc_malloc(sizeof(struct mlc_journal_txn)) };
    if (!e.t)
        return MLC_ERR_NOMEM;
    int rc = mlc_store_each(txn, MLC_DB_TXNS, prefix, plen, txn_each_cb, &e);
    mlc_free(e.t);
    return rc < 0 ? rc : MLC_OK;
}

const char *mlc_journal_txn_state_name(int state)
{
    switch (state) {
    case MLC_TXN_PENDING: return "pending";
    case MLC_TXN_SETTLED: return "settled";
    case MLC_TXN_MODIFIED: return "modified";
    case MLC_TXN_REMOVED: return "removed";
    }
    return "unknown";
}

/* ---- undo log ---- */

struct first_rec {
    char key[KEY_MAX + 1];
    size_t klen;
    void *val;
    size_t vlen;
    int found;
    int err;
};

static int first_cb(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct first_rec *f = ctx;
    if (klen > KEY_MAX)
        return MLC_ERR_DATA;
    memcpy(f->key, key, klen);
    f->klen = klen;
    f->vlen = vlen;
    f->val = NULL;
    if (vlen) {
        f->val = mlc_malloc(vlen);
        if (!f->val)
            return MLC_ERR_NOMEM;
        memcpy(f->val, val, vlen);
    }
    f->found = 1;
    return 1;
}

/* Walks the item's undo log one record at a time (store_each forbids writing while it walks):
 * restore = 1 puts each saved record back, 0 only drops the log. */
static int undo_drain(struct mlc_txn *txn, const char *item_id, int restore, size_t *count)
{
    char prefix[KEY_MAX + 1];
    if (checked_id(item_id) != MLC_OK)
        return MLC_ERR_DATA;
    int pl = snprintf(prefix, sizeof(prefix), UNDO_PREFIX "%s/", item_id);
    size_t n = 0;
    int rc = MLC_OK;
    for (;;) {
        struct first_rec f = { .found = 0 };
        rc = mlc_store_each(txn, MLC_DB_STATE, prefix, (size_t)pl, first_cb, &f);
        if (rc < 0) {
            mlc_free(f.val);
            break;
        }
        rc = MLC_OK;
        if (!f.found)
            break;
        const char *tkey = f.key + pl;
        size_t tklen = f.klen - (size_t)pl;
        if (restore) {
            if (f.vlen == 0) {
                rc = mlc_store_del(txn, MLC_DB_TXNS, tkey, tklen);
                if (rc == MLC_ERR_NOTFOUND)
                    rc = MLC_OK;
            } else {
                rc = mlc_store_put(txn, MLC_DB_TXNS, tkey, tklen, f.val, f.vlen);
            }
        }
        if (rc == MLC_OK)
            rc = mlc_store_del(txn, MLC_DB_STATE, f.key, f.klen);
        mlc_free(f.val);
        if (rc != MLC_OK)
            break;
        n++;
    }
    if (count)
        *count = n;
    return rc;
}

int mlc_journal_undo_rollback(struct mlc_txn *txn, const char *item_id, size_t *restored)
{
    return undo_drain(txn, item_id, 1, restored);
}

int mlc_journal_undo_clear(struct mlc_txn *txn, const char *item_id)
{
    return undo_drain(txn, item_id, 0, NULL);
}

/* ---- accounts ---- */

static int account_decode(const void *val, size_t len, struct mlc_journal_account *a)
{
    struct rec_r r;
    memset(a, 0, sizeof(*a));
    if (r_init(&r, val, len) != MLC_OK)
        return MLC_ERR_DATA;
    r_str(&r, a->account_id, sizeof(a->account_id));
    r_str(&r, a->item_id, sizeof(a->item_id));
    r_str(&r, a->name, sizeof(a->name));
    r_str(&r, a->mask, sizeof(a->mask));
    r_str(&r, a->type, sizeof(a->type));
    r_str(&r, a->subtype, sizeof(a->subtype));
    r_str(&r, a->currency, sizeof(a->currency));
    r_str(&r, a->current, sizeof(a->current));
    r_str(&r, a->available, sizeof(a->available));
    a->balance_ms = r_i64(&r);
    a->balance_live = (int)r_i64(&r);
    r_str(&r, a->iban, sizeof(a->iban));
    r_str(&r, a->bic, sizeof(a->bic));
    r_str(&r, a->ach_account, sizeof(a->ach_account));
    r_str(&r, a->ach_routing, sizeof(a->ach_routing));
    r_str(&r, a->wire_routing, sizeof(a->wire_routing));
    a->ach_tokenized = (int)r_i64(&r);
    r_str(&r, a->bacs_account, sizeof(a->bacs_account));
    r_str(&r, a->sort_code, sizeof(a->sort_code));
    r_str(&r, a->eft_account, sizeof(a->eft_account));
    r_str(&r, a->eft_institution, sizeof(a->eft_institution));
    r_str(&r, a->eft_branch, sizeof(a->eft_branch));
    a->numbers_ms = r_i64(&r);
    a->unmapped_new = (int)r_i64(&r);
    a->first_seen_ms = r_i64(&r);
    return r.err ? MLC_ERR_DATA : MLC_OK;
}

int mlc_journal_account_get(struct mlc_txn *txn, const char *account_id,
                            struct mlc_journal_account *out)
{
    const void *v;
    size_t vl;
    if (checked_id(account_id) != MLC_OK)
        return MLC_ERR_NOTFOUND;
    int rc = mlc_store_get(txn, MLC_DB_ACCOUNTS, account_id, strlen(account_id), &v, &vl);
    if (rc != MLC_OK)
        return rc;
    return account_decode(v, vl, out);
}

int mlc_journal_account_put(struct mlc_txn *txn, const struct mlc_journal_account *a)
{
    if (checked_id(a->account_id) != MLC_OK)
        return MLC_ERR_DATA;
    struct rec_w w;
    w_init(&w);
    w_str(&w, a->account_id);
    w_str(&w, a->item_id);
    w_str(&w, a->name);
    w_str(&w, a->mask);
    w_str(&w, a->type);
    w_str(&w, a->subtype);
    w_str(&w, a->currency);
    w_str(&w, a->current);
    w_str(&w, a->available);
    w_i64(&w, a->balance_ms);
    w_i64(&w, a->balance_live);
    w_str(&w, a->iban);
    w_str(&w, a->bic);
    w_str(&w, a->ach_account);
    w_str(&w, a->ach_routing);
    w_str(&w, a->wire_routing);
    w_i64(&w, a->ach_tokenized);
    w_str(&w, a->bacs_account);
    w_str(&w, a->sort_code);
    w_str(&w, a->eft_account);
    w_str(&w, a->eft_institution);
    w_str(&w, a->eft_branch);
    w_i64(&w, a->numbers_ms);
    w_i64(&w, a->unmapped_new);
    w_i64(&w, a->first_seen_ms);
    return w_finish(&w, txn, MLC_DB_ACCOUNTS, a->account_id, strlen(a->account_id));
}

struct acct_each {
    const char *item_id;
    mlc_journal_account_fn fn;
    void *ctx;
    struct mlc_journal_account *a;
};

static int acct_each_cb(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    (void)key;
    (void)klen;
    struct acct_each *e = ctx;
    if (account_decode(val, vlen, e->a) != MLC_OK)
        return MLC_ERR_DATA;
    if (e->item_id && strcmp(e->item_id, e->a->item_id) != 0)
        return 0;
    return e->fn(e->ctx, e->a);
}

int mlc_journal_account_each(struct mlc_txn *txn, const char *item_id, mlc_journal_account_fn fn,
                             void *ctx)
{
    struct acct_each e = { item_id, fn, ctx, mlc_malloc(sizeof(struct mlc_journal_account)) };
    if (!e.a)
        return MLC_ERR_NOMEM;
    int rc = mlc_store_each(txn, MLC_DB_ACCOUNTS, NULL, 0, acct_each_cb, &e);
    mlc_free(e.a);
    return rc < 0 ? rc : MLC_OK;
}

int mlc_journal_account_upsert(struct mlc_txn *txn, const char *item_id,
                               const struct mlc_plaid_account *pa, int64_t now_ms, int balance_live,
                               int flag_new)
{
    struct mlc_journal_account *a = mlc_malloc(sizeof(*a));
    if (!a)
        return MLC_ERR_NOMEM;
    int rc = mlc_journal_account_get(txn, pa->account_id, a);
    if (rc == MLC_ERR_NOTFOUND) {
        memset(a, 0, sizeof(*a));
        snprintf(a->account_id, sizeof(a->account_id), "%s", pa->account_id);
        a->first_seen_ms = now_ms;
        a->unmapped_new = flag_new ? 1 : 0;
    } else if (rc != MLC_OK) {
        goto out;
    }
    snprintf(a->item_id, sizeof(a->item_id), "%s", item_id);
    snprintf(a->name, sizeof(a->name), "%s", pa->name);
    snprintf(a->mask, sizeof(a->mask), "%s", pa->mask);
    snprintf(a->type, sizeof(a->type), "%s", pa->type);
    snprintf(a->subtype, sizeof(a->subtype), "%s", pa->subtype);
    snprintf(a->currency, sizeof(a->currency), "%s", pa->currency);
    a->current[0] = a->available[0] = '\0';
    if (pa->has_current && mlc_amount_format(pa->current, 2, a->current, sizeof(a->current)) < 0)
        a->current[0] = '\0';
    if (pa->has_available &&
        mlc_amount_format(pa->available, 2, a->available, sizeof(a->available)) < 0)
        a->available[0] = '\0';
    a->balance_ms = now_ms;
    a->balance_live = balance_live;
    rc = mlc_journal_account_put(txn, a);
out:
    mlc_free(a);
    return rc;
}

/* ---- alerts ---- */

static int alert_key(char *key, size_t cap, const char *kind, const char *item_id)
{
    if (checked_id(item_id) != MLC_OK || !kind[0] || strlen(kind) >= 48)
        return MLC_ERR_DATA;
    int n = snprintf(key, cap, "plaid.%s.%s", kind, item_id);
    return n < 0 || (size_t)n >= cap ? MLC_ERR_TOO_BIG : n;
}

int mlc_journal_alert_raise(struct mlc_txn *txn, const char *kind, const char *item_id,
                            const char *message, int64_t now_ms)
{
    char key[MLC_PLAID_ID_MAX + 64];
    int kl = alert_key(key, sizeof(key), kind, item_id);
    if (kl < 0)
        return kl;
    const void *v;
    size_t vl;
    int64_t raised = now_ms;
    int rc = mlc_store_get(txn, MLC_DB_ALERTS, key, (size_t)kl, &v, &vl);
    /* Encode: kind, item_id, raised_ms, message. Keep the first raise time. */
    if (rc == MLC_OK) {
        struct rec_r r;
        char t[MLC_PLAID_ID_MAX + 64];
        if (r_init(&r, v, vl) == MLC_OK) {
            r_str(&r, t, sizeof(t));
            r_str(&r, t, sizeof(t));
            int64_t first = r_i64(&r);
            if (!r.err && first > 0)
                raised = first;
        }
    } else if (rc != MLC_ERR_NOTFOUND) {
        return rc;
    }
    /* Cut to what a reader holds (struct mlc_journal_alert), at a UTF-8 boundary. */
    char text[sizeof(((struct mlc_journal_alert *)0)->message)];
    mlc_plaid_utf8_copy(text, sizeof(text), message ? message : "", message ? strlen(message) : 0);
    struct rec_w w;
    w_init(&w);
    w_str(&w, kind);
    w_str(&w, item_id);
    w_i64(&w, raised);
    w_str(&w, text);
    return w_finish(&w, txn, MLC_DB_ALERTS, key, (size_t)kl);
}

int mlc_journal_alert_clear(struct mlc_txn *txn, const char *kind, const char *item_id)
{
    char key[MLC_PLAID_ID_MAX + 64];
    int kl = alert_key(key, sizeof(key), kind, item_id);
    if (kl < 0)
        return kl;
    int rc = mlc_store_del(txn, MLC_DB_ALERTS, key, (size_t)kl);
    return rc == MLC_ERR_NOTFOUND ? MLC_OK : rc;
}

struct alert_each {
    mlc_journal_alert_fn fn;
    void *ctx;
    struct mlc_journal_alert *a;
};

static int alert_each_cb(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct alert_each *e = ctx;
    struct rec_r r;
    memset(e->a, 0, sizeof(*e->a));
    if (klen >= sizeof(e->a->key) || r_init(&r, val, vlen) != MLC_OK)
        return MLC_ERR_DATA;
    memcpy(e->a->key, key, klen);
    r_str(&r, e->a->kind, sizeof(e->a->kind));
    r_str(&r, e->a->item_id, sizeof(e->a->item_id));
    e->a->raised_ms = r_i64(&r);
    r_str(&r, e->a->message, sizeof(e->a->message));
    if (r.err)
        return MLC_ERR_DATA;
    return e->fn(e->ctx, e->a);
}

int mlc_journal_alert_each(struct mlc_txn *txn, mlc_journal_alert_fn fn, void *ctx)
{
    struct alert_each e = { fn, ctx, mlc_malloc(sizeof(struct mlc_journal_alert)) };
    if (!e.a)
        return MLC_ERR_NOMEM;
    /* Only the Plaid alerts: other modules may keep theirs in the same database. */
    int rc = mlc_store_each(txn, MLC_DB_ALERTS, "plaid.", 6, alert_each_cb, &e);
    mlc_free(e.a);
    return rc < 0 ? rc : MLC_OK;
}
