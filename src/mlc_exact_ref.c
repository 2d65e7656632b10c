#include "mlc_exact_ref.h"
#include "mlc_alloc.h"
#include "mlc_err.h"
#include "mlc_exact.h"
#include "mlc_log.h"
#include "mlc_odata.h"
#include "mlc_platform.h"
#include "mlc_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOD "exact_ref"
#define KEY_MAX 256

struct kind_spec {
    const char *name;
    const char *service;
    const char *entity;
    const char *select;
    const char *key1, *key2, *key3; /* fields making the row key */
};

/* $select always (Exact: never without); only the fields the checks before a POST need. */
static const struct kind_spec specs[MLC_REF__COUNT] = {
    { "journals", "financial", "Journals",
      "Code,Description,Type,BankAccountIBAN,Currency,GLAccount,IsBlocked", "Code", NULL, NULL },
    { "glaccounts", "financial", "GLAccounts", "ID,Code,Description,Type,IsBlocked,UseCostcenter",
      "ID", NULL, NULL },
    { "costcenters", "hrm", "Costcenters", "ID,Code,Description,Active", "Code", NULL, NULL },
    { "periods", "financial", "FinancialPeriods", "FinYear,FinPeriod,StartDate,EndDate", "FinYear",
      "FinPeriod", NULL },
    { "journal_status", "read/financial", "JournalStatusList", "Journal,Year,Period,Status",
      "Journal", "Year", "Period" },
};

const char *mlc_exact_ref_kind_name(enum mlc_ref_kind k)
{
    return (unsigned)k < MLC_REF__COUNT ? specs[k].name : "?";
}

static int prefix_of(char *out, size_t cap, uint32_t division, enum mlc_ref_kind k)
{
    int n = snprintf(out, cap, "%u/%s/", division, specs[k].name);
    return n < 0 || (size_t)n >= cap ? MLC_ERR_TOO_BIG : n;
}

static int meta_key(char *out, size_t cap, uint32_t division, enum mlc_ref_kind k)
{
    int n = snprintf(out, cap, "%u/@%s", division, specs[k].name);
    return n < 0 || (size_t)n >= cap ? MLC_ERR_TOO_BIG : n;
}

/* The sync Timestamp reached for a kind: 0 = never synced, MLC_REF_NO_SYNC = no sync endpoint. */
static int sync_key(char *out, size_t cap, uint32_t division, enum mlc_ref_kind k)
{
    int n = snprintf(out, cap, "%u/@%s.sync", division, specs[k].name);
    return n < 0 || (size_t)n >= cap ? MLC_ERR_TOO_BIG : n;
}

uint64_t mlc_exact_ref_sync_ts(struct mlc_store *st, uint32_t division, enum mlc_ref_kind kind)
{
    char key[KEY_MAX];
    int kl = sync_key(key, sizeof(key), division, kind);
    struct mlc_txn *txn = NULL;
    uint64_t v = 0;
    if (kl < 0 || mlc_store_begin(st, 1, &txn) != MLC_OK)
        return 0;
    if (mlc_store_get_u64(txn, MLC_DB_REFDATA, key, (size_t)kl, &v) != MLC_OK)
        v = 0;
    mlc_store_abort(txn);
    return v;
}

static int set_sync_ts(struct mlc_store *st, uint32_t division, enum mlc_ref_kind kind, uint64_t v)
{
    char key[KEY_MAX];
    int kl = sync_key(key, sizeof(key), division, kind);
    struct mlc_txn *txn = NULL;
    int rc = kl < 0 ? kl : mlc_store_begin(st, 0, &txn);
    if (rc != MLC_OK)
        return rc;
    rc = mlc_store_put_u64(txn, MLC_DB_REFDATA, key, (size_t)kl, v);
    if (rc != MLC_OK) {
        mlc_store_abort(txn);
        return rc;
    }
    return mlc_store_commit(txn);
}

int64_t mlc_exact_ref_fetched_at(struct mlc_store *st, uint32_t division, enum mlc_ref_kind kind)
{
    char key[KEY_MAX];
    int kl = meta_key(key, sizeof(key), division, kind);
    struct mlc_txn *txn = NULL;
    uint64_t v = 0;
    if (kl < 0 || mlc_store_begin(st, 1, &txn) != MLC_OK)
        return 0;
    if (mlc_store_get_u64(txn, MLC_DB_REFDATA, key, (size_t)kl, &v) != MLC_OK)
        v = 0;
    mlc_store_abort(txn);
    return (int64_t)v;
}

/* A key part from a field: strings as they are, numbers zero-padded so keys sort numerically. */
static int key_part(const cJSON *row, const char *field, char *out, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, field);
    if (cJSON_IsString(v) && v->valuestring[0] && strlen(v->valuestring) < cap &&
        !strchr(v->valuestring, '/')) {
        snprintf(out, cap, "%s", v->valuestring);
        return MLC_OK;
    }
    if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e9) {
        snprintf(out, cap, "%09d", (int)v->valuedouble);
        return MLC_OK;
    }
    return MLC_ERR_DATA;
}

/* Dates of a period arrive as /Date(ms)/ in Exact's wall-clock time: kept as YYYY-MM-DD. */
static int date_field(cJSON *obj, const char *name, const cJSON *src)
{
    int64_t ms = 0;
    if (!cJSON_IsString(src) || mlc_odata_parse_date(src->valuestring, &ms, NULL) != MLC_OK)
        return MLC_ERR_DATA;
    char iso[40];
    mlc_time_format_iso(ms, iso, sizeof(iso));
    iso[10] = '\0';
    return cJSON_AddStringToObject(obj, name, iso) ? MLC_OK : MLC_ERR_NOMEM;
}

struct collect {
    enum mlc_ref_kind kind;
    cJSON *rows;     /* array of trimmed rows */
    size_t n;
    uint64_t max_ts; /* highest sync Timestamp seen */
};

static int collect_row(void *ctx, const cJSON *row)
{
    struct collect *c = ctx;
    const struct kind_spec *s = &specs[c->kind];
    if (c->n >= MLC_REF_ROWS_MAX)
        return MLC_ERR_TOO_BIG;
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(row, "Timestamp");
    if (cJSON_IsNumber(ts) && ts->valuedouble > (double)c->max_ts)
        c->max_ts = (uint64_t)ts->valuedouble;
    /* Bank journals only (Type 12): BankEntries are posted into bank journals. */
    if (c->kind == MLC_REF_JOURNALS) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(row, "Type");
        if (!cJSON_IsNumber(t) || t->valuedouble != 12)
            return 0;
    }
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return MLC_ERR_NOMEM;
    char fields[256];
    snprintf(fields, sizeof(fields), "%s", s->select);
    char *save = NULL;
    int rc = MLC_OK;
    for (char *f = strtok_r(fields, ",", &save); f && rc == MLC_OK; f = strtok_r(NULL, ",", &save)) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, f);
        if (!v || cJSON_IsNull(v))
            continue;
        if (strcmp(f, "StartDate") == 0 || strcmp(f, "EndDate") == 0) {
            rc = date_field(o, f, v);
            continue;
        }
        cJSON *dup = cJSON_Duplicate(v, 0);
        if (!dup || !cJSON_AddItemToObject(o, f, dup)) {
            cJSON_Delete(dup);
            rc = MLC_ERR_NOMEM;
        }
    }
    if (rc != MLC_OK) {
        cJSON_Delete(o);
        return rc;
    }
    cJSON_AddItemToArray(c->rows, o);
    c->n++;
    return 0;
}

static int row_key(enum mlc_ref_kind k, uint32_t division, const cJSON *row, char *key, size_t cap)
{
    const struct kind_spec *s = &specs[k];
    char p1[96], p2[16] = "", p3[16] = "";
    int n = prefix_of(key, cap, division, k);
    if (n < 0)
        return n;
    if (key_part(row, s->key1, p1, sizeof(p1)) != MLC_OK)
        return MLC_ERR_DATA;
    if (s->key2 && key_part(row, s->key2, p2, sizeof(p2)) != MLC_OK)
        return MLC_ERR_DATA;
    if (s->key3 && key_part(row, s->key3, p3, sizeof(p3)) != MLC_OK)
        return MLC_ERR_DATA;
    int m = snprintf(key + n, cap - (size_t)n, "%s%s%s%s%s", p1, s->key2 ? "/" : "", p2,
                     s->key3 ? "/" : "", p3);
    if (m < 0 || (size_t)m >= cap - (size_t)n)
        return MLC_ERR_TOO_BIG;
    return n + m;
}

struct keylist {
    char (*keys)[KEY_MAX];
    size_t n, cap;
};

static int list_key(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    (void)val;
    (void)vlen;
    struct keylist *l = ctx;
    if (klen >= KEY_MAX)
        return 0;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        if (nc > MLC_REF_ROWS_MAX * 2)
            return MLC_ERR_TOO_BIG;
        void *p = mlc_realloc(l->keys, nc * KEY_MAX);
        if (!p)
            return MLC_ERR_NOMEM;
        l->keys = p;
        l->cap = nc;
    }
    memcpy(l->keys[l->n], key, klen);
    l->keys[l->n][klen] = '\0';
    l->n++;
    return 0;
}

/* Replaces (replace = 1) or updates the cached rows of a kind with rows, stamps the fetch time
 * and, when sync_ts > 0, the sync Timestamp reached, all in one transaction. */
static int store_rows(struct mlc_store *st, uint32_t division, enum mlc_ref_kind kind,
                      const cJSON *rows, int64_t now, int replace, uint64_t sync_ts)
{
    struct mlc_txn *txn = NULL;
    struct keylist old = { 0 };
    char prefix[KEY_MAX], key[KEY_MAX];
    int pl = prefix_of(prefix, sizeof(prefix), division, kind);
    int rc = pl < 0 ? pl : mlc_store_begin(st, 0, &txn);
    if (rc != MLC_OK)
        goto out;
    if (replace &&
        (rc = mlc_store_each(txn, MLC_DB_REFDATA, prefix, (size_t)pl, list_key, &old)) != MLC_OK)
        goto out;
    for (size_t i = 0; i < old.n; i++) {
        rc = mlc_store_del(txn, MLC_DB_REFDATA, old.keys[i], strlen(old.keys[i]));
        if (rc != MLC_OK && rc != MLC_ERR_NOTFOUND)
            goto out;
    }
    const cJSON *row;
    cJSON_ArrayForEach(row, rows) {
        int kl = row_key(kind, division, row, key, sizeof(key));
        if (kl < 0) {
            MLC_LOG_WRN(MOD, "row_skipped kind=%s reason=no_key", specs[kind].name);
            continue;
        }
        char *text = cJSON_PrintUnformatted(row);
        if (!text) {
            rc = MLC_ERR_NOMEM;
            goto out;
        }
        size_t tl = strlen(text);
        rc = tl > MLC_REF_ROW_MAX ? MLC_ERR_TOO_BIG
                                  : mlc_store_put(txn, MLC_DB_REFDATA, key, (size_t)kl, text, tl);
        cJSON_free(text);
        if (rc != MLC_OK)
            goto out;
    }
    int ml = meta_key(key, sizeof(key), division, kind);
    if ((rc = mlc_store_put_u64(txn, MLC_DB_REFDATA, key, (size_t)ml, (uint64_t)now)) != MLC_OK)
        goto out;
    if (sync_ts > 0) {
        ml = sync_key(key, sizeof(key), division, kind);
        if ((rc = mlc_store_put_u64(txn, MLC_DB_REFDATA, key, (size_t)ml, sync_ts)) != MLC_OK)
            goto out;
    }
    rc = mlc_store_commit(txn);
    txn = NULL;
out:
    mlc_store_abort(txn);
    mlc_free(old.keys);
    return rc;
}

/* Incremental refresh through Exact's sync endpoint (sync/Financial/GLAccounts): rows changed
 * since the stored Timestamp are merged into the cache; the first sync ("Timestamp gt 1", KB-deleted)
 * replaces it. MLC_ERR_NOTFOUND when this Exact has no such endpoint (then remembered, so the 404
 * costs one error once, not one per run). */
static int refresh_sync(struct mlc_exact *x, struct mlc_store *st, uint32_t division,
                        enum mlc_ref_kind kind, int64_t now, int force, unsigned *calls)
{
    uint64_t ts = mlc_exact_ref_sync_ts(st, division, kind);
    if (ts == MLC_REF_NO_SYNC)
        return MLC_ERR_NOTFOUND;
    if (force)
        ts = 0; /* --refresh: a full sync, which also drops rows deleted in Exact */
    struct mlc_odata_filter f;
    mlc_odata_filter_init(&f);
    struct collect c = { .kind = kind, .rows = cJSON_CreateArray(), .n = 0, .max_ts = 0 };
    int rc = c.rows ? mlc_odata_filter_int(&f, MLC_ODATA_AND, "Timestamp", MLC_ODATA_GT,
                                           ts ? (int64_t)ts : 1)
                    : MLC_ERR_NOMEM;
    const char *ft = rc == MLC_OK ? mlc_odata_filter_text(&f) : NULL;
    if (!ft) {
        rc = rc ? rc : MLC_ERR_NOMEM;
        goto out;
    }
    char select[256];
    snprintf(select, sizeof(select), "Timestamp,%s", specs[kind].select);
    struct mlc_odata_query q = { .division = division, .service = "sync/Financial",
                                 .entity = specs[kind].entity, .select = select, .filter = ft };
    unsigned pages = 0;
    rc = mlc_exact_get_all(x, &q, collect_row, &c, &pages);
    if (calls)
        *calls = pages;
    if (rc != MLC_OK) {
        if (mlc_exact_last_status(x) == 404 && pages == 0) {
            MLC_LOG_INF(MOD, "no_sync_endpoint division=%u kind=%s", division, specs[kind].name);
            int src = set_sync_ts(st, division, kind, MLC_REF_NO_SYNC);
            rc = src == MLC_OK ? MLC_ERR_NOTFOUND : src;
        }
        goto out;
    }
    uint64_t reached = c.max_ts > ts ? c.max_ts : (ts ? ts : 1);
    rc = store_rows(st, division, kind, c.rows, now, ts == 0, reached);
    if (rc == MLC_OK)
        MLC_LOG_INF(MOD, "synced division=%u kind=%s changed=%zu from=%llu to=%llu", division,
                    specs[kind].name, c.n, (unsigned long long)ts, (unsigned long long)reached);
out:
    cJSON_Delete(c.rows);
    mlc_odata_filter_free(&f);
    return rc;
}

int mlc_exact_ref_refresh(struct mlc_exact *x, struct mlc_store *st, uint32_t division,
                          enum mlc_ref_kind kind, int64_t ttl_ms, int force, unsigned *calls)
{
    if (calls)
        *calls = 0;
    if ((unsigned)kind >= MLC_REF__COUNT || division == 0)
        return MLC_ERR_INTERNAL;
    if (ttl_ms <= 0)
        ttl_ms = MLC_REF_TTL_MS;
    int64_t now = mlc_exact_now(x);
    int64_t at = mlc_exact_ref_fetched_at(st, division, kind);
    if (!force && at > 0 && now >= at && now - at < ttl_ms)
        return MLC_OK;
    const struct kind_spec *s = &specs[kind];
    if (kind == MLC_REF_GLACCOUNTS) {
        int rc = refresh_sync(x, st, division, kind, now, force, calls);
        if (rc != MLC_ERR_NOTFOUND)
            return rc;
        /* no sync endpoint here: fall back to the full listing below */
    }
    struct mlc_odata_filter f;
    mlc_odata_filter_init(&f);
    struct collect c = { .kind = kind, .rows = cJSON_CreateArray(), .n = 0, .max_ts = 0 };
    int rc = MLC_OK;
    if (!c.rows) {
        rc = MLC_ERR_NOMEM;
        goto out;
    }
    /* Bank journals only; GL accounts need a $filter on the plain endpoint (its sync twin exists,
     * KB-limits), so ask for every type explicitly. */
    if (kind == MLC_REF_JOURNALS)
        rc = mlc_odata_filter_int(&f, MLC_ODATA_AND, "Type", MLC_ODATA_EQ, 12);
    else if (kind == MLC_REF_GLACCOUNTS)
        rc = mlc_odata_filter_int(&f, MLC_ODATA_AND, "Type", MLC_ODATA_GE, 0);
    if (rc != MLC_OK)
        goto out;
    const char *ft = mlc_odata_filter_text(&f);
    struct mlc_odata_query q = { .division = division, .service = s->service, .entity = s->entity,
                                 .select = s->select, .filter = ft && ft[0] ? ft : NULL };
    unsigned pages = 0;
    rc = mlc_exact_get_all(x, &q, collect_row, &c, &pages);
    if (calls)
        *calls = pages;
    if (rc != MLC_OK)
        goto out;
    rc = store_rows(st, division, kind, c.rows, now, 1, 0);
    if (rc == MLC_OK)
        MLC_LOG_INF(MOD, "refreshed division=%u kind=%s rows=%zu pages=%u", division, s->name, c.n,
                    pages);
out:
    cJSON_Delete(c.rows);
    mlc_odata_filter_free(&f);
    return rc;
}

struct each_ctx {
    mlc_ref_row_fn fn;
    void *ctx;
};

static int each_row(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    (void)key;
    (void)klen;
    struct each_ctx *e = ctx;
    cJSON *row = cJSON_ParseWithLength(val, vlen);
    if (!row)
        return 0; /* a damaged row is skipped; the next refresh replaces it */
    int r = e->fn(e->ctx, row);
    cJSON_Delete(row);
    return r;
}

int mlc_exact_ref_each(struct mlc_store *st, uint32_t division, enum mlc_ref_kind kind,
                       mlc_ref_row_fn fn, void *ctx)
{
    char prefix[KEY_MAX];
    int pl = prefix_of(prefix, sizeof(prefix), division, kind);
    if (pl < 0)
        return pl;
    struct mlc_txn *txn = NULL;
    int rc = mlc_store_begin(st, 1, &txn);
    if (rc != MLC_OK)
        return rc;
    struct each_ctx e = { fn, ctx };
    rc = mlc_store_each(txn, MLC_DB_REFDATA, prefix, (size_t)pl, each_row, &e);
    mlc_store_abort(txn);
    return rc;
}

static cJSON *get_row(struct mlc_store *st, uint32_t division, enum mlc_ref_kind kind,
                      const char *id, int *err)
{
    char key[KEY_MAX];
    int pl = prefix_of(key, sizeof(key), division, kind);
    *err = MLC_ERR_NOTFOUND;
    if (pl < 0 || !id || strlen(id) + (size_t)pl >= sizeof(key)) {
        *err = MLC_ERR_TOO_BIG;
        return NULL;
    }
    snprintf(key + pl, sizeof(key) - (size_t)pl, "%s", id);
    struct mlc_txn *txn = NULL;
    if ((*err = mlc_store_begin(st, 1, &txn)) != MLC_OK)
        return NULL;
    const void *v = NULL;
    size_t vl = 0;
    cJSON *row = NULL;
    *err = mlc_store_get(txn, MLC_DB_REFDATA, key, strlen(key), &v, &vl);
    if (*err == MLC_OK) {
        row = cJSON_ParseWithLength(v, vl);
        if (!row)
            *err = MLC_ERR_DATA;
    }
    mlc_store_abort(txn);
    return row;
}

static void copy_str(const cJSON *row, const char *f, char *out, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, f);
    snprintf(out, cap, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

static int get_int(const cJSON *row, const char *f)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, f);
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v);
    return cJSON_IsNumber(v) ? (int)v->valuedouble : 0;
}

int mlc_exact_ref_journal(struct mlc_store *st, uint32_t division, const char *code,
                          struct mlc_ref_journal *out)
{
    int rc;
    cJSON *row = get_row(st, division, MLC_REF_JOURNALS, code, &rc);
    if (!row)
        return rc;
    memset(out, 0, sizeof(*out));
    copy_str(row, "Code", out->code, sizeof(out->code));
    copy_str(row, "Description", out->description, sizeof(out->description));
    copy_str(row, "BankAccountIBAN", out->iban, sizeof(out->iban));
    copy_str(row, "Currency", out->currency, sizeof(out->currency));
    copy_str(row, "GLAccount", out->glaccount, sizeof(out->glaccount));
    out->type = get_int(row, "Type");
    out->blocked = get_int(row, "IsBlocked");
    cJSON_Delete(row);
    return MLC_OK;
}

int mlc_exact_ref_glaccount(struct mlc_store *st, uint32_t division, const char *id,
                            struct mlc_ref_glaccount *out)
{
    int rc;
    if (!id || !mlc_odata_guid_valid(id))
        return MLC_ERR_NOTFOUND;
    cJSON *row = get_row(st, division, MLC_REF_GLACCOUNTS, id, &rc);
    if (!row)
        return rc;
    memset(out, 0, sizeof(*out));
    copy_str(row, "ID", out->id, sizeof(out->id));
    copy_str(row, "Code", out->code, sizeof(out->code));
    copy_str(row, "Description", out->description, sizeof(out->description));
    out->type = get_int(row, "Type");
    out->blocked = get_int(row, "IsBlocked");
    out->use_costcenter = get_int(row, "UseCostcenter");
    cJSON_Delete(row);
    return MLC_OK;
}

int mlc_exact_ref_costcenter(struct mlc_store *st, uint32_t division, const char *code)
{
    int rc;
    cJSON *row = get_row(st, division, MLC_REF_COSTCENTERS, code, &rc);
    cJSON_Delete(row);
    return rc;
}

struct period_find {
    const char *date;
    int year, period, found;
};

static int find_period(void *ctx, const cJSON *row)
{
    struct period_find *p = ctx;
    char s[16], e[16];
    copy_str(row, "StartDate", s, sizeof(s));
    copy_str(row, "EndDate", e, sizeof(e));
    /* ISO dates compare as text. */
    if (s[0] && e[0] && strcmp(p->date, s) >= 0 && strcmp(p->date, e) <= 0) {
        p->year = get_int(row, "FinYear");
        p->period = get_int(row, "FinPeriod");
        p->found = 1;
        return 1;
    }
    return 0;
}

int mlc_exact_ref_period_of(struct mlc_store *st, uint32_t division, const char *date, int *year,
                            int *period)
{
    if (!date || strlen(date) != 10)
        return MLC_ERR_DATA;
    struct period_find p = { date, 0, 0, 0 };
    int rc = mlc_exact_ref_each(st, division, MLC_REF_PERIODS, find_period, &p);
    if (rc != MLC_OK)
        return rc;
    if (!p.found)
        return MLC_ERR_NOTFOUND;
    *year = p.year;
    *period = p.period;
    return MLC_OK;
}

int mlc_exact_ref_period_closed(struct mlc_store *st, uint32_t division, const char *journal,
                                int year, int period)
{
    char id[128];
    int n = snprintf(id, sizeof(id), "%s/%09d/%09d", journal, year, period);
    if (n < 0 || (size_t)n >= sizeof(id))
        return MLC_ERR_TOO_BIG;
    int rc;
    cJSON *row = get_row(st, division, MLC_REF_JOURNAL_STATUS, id, &rc);
    if (!row)
        return rc == MLC_ERR_NOTFOUND ? 0 : rc;
    int closed = get_int(row, "Status") == 1; /* 0 = open, 1 = closed (REF JournalStatusList) */
    cJSON_Delete(row);
    return closed;
}
