#include "mlc_exact_post.h"
#include "mlc_alloc.h"
#include "mlc_crashpoint.h"
#include "mlc_decimal.h"
#include "mlc_err.h"
#include "mlc_exact.h"
#include "mlc_exact_ref.h"
#include "mlc_log.h"
#include "mlc_odata.h"
#include "mlc_platform.h"
#include "mlc_store.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOD "exact_post"
#define INFLIGHT "exact.inflight/"
#define POSTED "exact.posted/"
#define TL_CURSOR "exact.tlts."         /* + division: TransactionLines sync Timestamp known */
#define TL_CURSOR_AT "exact.tlts_at."   /* + division: when it was last brought forward */
#define TL_NO_SYNCTS "exact.tlts_none." /* + division: Exact has no SyncTimestamp function */
#define TL_FRESH_MS (24LL * 3600 * 1000)
#define TL_BACK_MS (2LL * 24 * 3600 * 1000)
#define KEY_MAX 256
#define INFLIGHT_MAX (MLC_POST_LINES_MAX * (MLC_POST_NOTES_MAX + 8) + 512)

const char *mlc_post_outcome_name(enum mlc_post_outcome o)
{
    switch (o) {
    case MLC_POST_POSTED: return "posted";
    case MLC_POST_NOT_LANDED: return "not landed";
    case MLC_POST_HELD: return "held";
    case MLC_POST_RETRY_LATER: return "retry later";
    }
    return "?";
}

static void held(struct mlc_post_result *r, long line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void held(struct mlc_post_result *r, long line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
    va_end(ap);
    r->outcome = MLC_POST_HELD;
    r->held_line = line;
}

static int key_of(char *out, size_t cap, const char *prefix, const char *id)
{
    int n = snprintf(out, cap, "%s%s", prefix, id);
    return n < 0 || (size_t)n >= cap ? MLC_ERR_TOO_BIG : n;
}

static int notes_of(const struct mlc_bank_line *l, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s:%s", l->reversal ? "plaid-reversal" : "plaid", l->transaction_id);
    return n < 0 || (size_t)n >= cap ? MLC_ERR_TOO_BIG : MLC_OK;
}

static int date_ok(const char *d)
{
    char iso[32];
    if (!d || strlen(d) != 10)
        return 0;
    snprintf(iso, sizeof(iso), "%sT00:00:00", d);
    return mlc_odata_datetime_valid(iso);
}

/* ---- local checks ---- */

static int parse_amount(const char *s, struct mlc_amount *a)
{
    return s ? mlc_amount_parse(s, strlen(s), a) : MLC_ERR_DATA;
}

int mlc_exact_post_check(struct mlc_store *st, const struct mlc_bank_statement *s, int *year,
                         int *period, struct mlc_post_result *r)
{
    r->held_line = -1;
    if (!s->n_lines || s->n_lines > MLC_POST_LINES_MAX) {
        held(r, -1, "a statement needs 1 to %d lines, not %zu", MLC_POST_LINES_MAX, s->n_lines);
        return MLC_ERR_NEEDS_PERSON;
    }
    struct mlc_ref_journal j;
    int rc = mlc_exact_ref_journal(st, s->division, s->journal, &j);
    if (rc == MLC_ERR_NOTFOUND) {
        held(r, -1, "bank journal %s does not exist in division %u (or is not a bank journal); "
                    "check the account's mapping", s->journal, s->division);
        return MLC_ERR_NEEDS_PERSON;
    }
    if (rc != MLC_OK)
        return rc;
    if (j.blocked) {
        held(r, -1, "bank journal %s is blocked in Exact; unblock it or map the account to "
                    "another journal", j.code);
        return MLC_ERR_NEEDS_PERSON;
    }
    if (s->currency && j.currency[0] && strcmp(s->currency, j.currency) != 0) {
        held(r, -1, "bank journal %s keeps %s, but the lines are in %s; map the account to a %s "
                    "bank journal", j.code, j.currency, s->currency, s->currency);
        return MLC_ERR_NEEDS_PERSON;
    }
    struct mlc_amount sum = { 0, 0 };
    for (size_t i = 0; i < s->n_lines; i++) {
        const struct mlc_bank_line *l = &s->lines[i];
        long n = (long)i;
        char notes[MLC_POST_NOTES_MAX + 1];
        if (!l->transaction_id || !l->transaction_id[0] ||
            notes_of(l, notes, sizeof(notes)) != MLC_OK) {
            held(r, n, "line %ld has no transaction id, or one too long for Exact's Notes", n + 1);
            return MLC_ERR_NEEDS_PERSON;
        }
        struct mlc_amount a;
        if (parse_amount(l->amount, &a) != MLC_OK || mlc_amount_add(sum, a, &sum) != MLC_OK) {
            held(r, n, "line %ld (%s) has an unreadable amount", n + 1, l->transaction_id);
            return MLC_ERR_NEEDS_PERSON;
        }
        int y = 0, p = 0;
        if (!date_ok(l->date)) {
            held(r, n, "line %ld (%s) has no valid date", n + 1, l->transaction_id);
            return MLC_ERR_NEEDS_PERSON;
        }
        rc = mlc_exact_ref_period_of(st, s->division, l->date, &y, &p);
        if (rc == MLC_ERR_NOTFOUND) {
            held(r, n, "Exact has no financial period for %s (line %ld, %s); add the financial "
                       "year in Exact", l->date, n + 1, l->transaction_id);
            return MLC_ERR_NEEDS_PERSON;
        }
        if (rc != MLC_OK)
            return rc;
        if (i == 0) {
            *year = y;
            *period = p;
        } else if (y != *year || p != *period) {
            held(r, n, "line %ld (%s) falls in period %d/%d, the first line in %d/%d; one bank "
                       "entry holds one period: split the statement", n + 1, l->transaction_id,
                 p, y, *period, *year);
            return MLC_ERR_NEEDS_PERSON;
        }
        rc = mlc_exact_ref_period_closed(st, s->division, s->journal, y, p);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            held(r, n, "period %d/%d is closed for journal %s in Exact (line %ld, %s, dated %s); "
                       "reopen the period or book it by hand", p, y, s->journal, n + 1,
                 l->transaction_id, l->date);
            return MLC_ERR_NEEDS_PERSON;
        }
        struct mlc_ref_glaccount g;
        rc = mlc_exact_ref_glaccount(st, s->division, l->glaccount, &g);
        if (rc == MLC_ERR_NOTFOUND) {
            held(r, n, "G/L account %s of line %ld (%s) does not exist in division %u; fix the "
                       "mapping", l->glaccount ? l->glaccount : "(none)", n + 1,
                 l->transaction_id, s->division);
            return MLC_ERR_NEEDS_PERSON;
        }
        if (rc != MLC_OK)
            return rc;
        if (g.blocked) {
            held(r, n, "G/L account %s (%s) of line %ld (%s) is blocked in Exact; unblock it or "
                       "change the mapping", g.code, g.description, n + 1, l->transaction_id);
            return MLC_ERR_NEEDS_PERSON;
        }
        int has_cc = l->costcenter && l->costcenter[0];
        if (g.use_costcenter == 1 && !has_cc) {
            held(r, n, "G/L account %s needs a cost center, line %ld (%s) has none; add one to "
                       "the mapping", g.code, n + 1, l->transaction_id);
            return MLC_ERR_NEEDS_PERSON;
        }
        if (has_cc) {
            rc = mlc_exact_ref_costcenter(st, s->division, l->costcenter);
            if (rc == MLC_ERR_NOTFOUND) {
                held(r, n, "cost center %s of line %ld (%s) does not exist in division %u",
                     l->costcenter, n + 1, l->transaction_id, s->division);
                return MLC_ERR_NEEDS_PERSON;
            }
            if (rc != MLC_OK)
                return rc;
        }
    }
    if (s->opening && s->closing) {
        struct mlc_amount o, c, want;
        if (parse_amount(s->opening, &o) != MLC_OK || parse_amount(s->closing, &c) != MLC_OK ||
            mlc_amount_add(o, sum, &want) != MLC_OK) {
            held(r, -1, "the statement's balances are unreadable");
            return MLC_ERR_NEEDS_PERSON;
        }
        if (mlc_amount_cmp(want, c) != 0) {
            char a[MLC_AMOUNT_STRMAX], b[MLC_AMOUNT_STRMAX];
            mlc_amount_format(want, 2, a, sizeof(a));
            mlc_amount_format(c, 2, b, sizeof(b));
            held(r, -1, "opening balance plus the lines is %s, but the closing balance is %s; "
                        "the statement is incomplete", a, b);
            return MLC_ERR_NEEDS_PERSON;
        }
    }
    return MLC_OK;
}

/* ---- records ---- */

static int get_json(struct mlc_store *st, enum mlc_db db, const char *key, cJSON **out)
{
    struct mlc_txn *txn = NULL;
    *out = NULL;
    int rc = mlc_store_begin(st, 1, &txn);
    if (rc != MLC_OK)
        return rc;
    const void *v = NULL;
    size_t vl = 0;
    rc = mlc_store_get(txn, db, key, strlen(key), &v, &vl);
    if (rc == MLC_OK) {
        *out = mlc_json_parse_bounded(v, vl, INFLIGHT_MAX, 8, &rc);
        if (*out)
            rc = MLC_OK;
    }
    mlc_store_abort(txn);
    return rc;
}

static int put_json_txn(struct mlc_txn *txn, enum mlc_db db, const char *key, const cJSON *j)
{
    char *text = cJSON_PrintUnformatted(j);
    if (!text)
        return MLC_ERR_NOMEM;
    int rc = mlc_store_put(txn, db, key, strlen(key), text, strlen(text));
    cJSON_free(text);
    return rc;
}

static uint64_t tl_cursor(struct mlc_store *st, uint32_t division)
{
    char key[64];
    snprintf(key, sizeof(key), "%s%u", TL_CURSOR, division);
    struct mlc_txn *txn = NULL;
    uint64_t v = 1; /* Exact's sync: the first call is "Timestamp gt 1" */
    if (mlc_store_begin(st, 1, &txn) == MLC_OK) {
        if (mlc_store_get_u64(txn, MLC_DB_STATE, key, strlen(key), &v) != MLC_OK)
            v = 1;
        mlc_store_abort(txn);
    }
    return v;
}

static uint64_t state_u64(struct mlc_store *st, const char *prefix, uint32_t division)
{
    char key[64];
    snprintf(key, sizeof(key), "%s%u", prefix, division);
    struct mlc_txn *txn = NULL;
    uint64_t v = 0;
    if (mlc_store_begin(st, 1, &txn) == MLC_OK) {
        if (mlc_store_get_u64(txn, MLC_DB_STATE, key, strlen(key), &v) != MLC_OK)
            v = 0;
        mlc_store_abort(txn);
    }
    return v;
}

static void state_put2(struct mlc_store *st, const char *p1, uint64_t v1, const char *p2,
                       uint64_t v2, uint32_t division)
{
    char k1[64], k2[64];
    snprintf(k1, sizeof(k1), "%s%u", p1, division);
    snprintf(k2, sizeof(k2), "%s%u", p2 ? p2 : "", division);
    struct mlc_txn *txn = NULL;
    if (mlc_store_begin(st, 0, &txn) != MLC_OK)
        return;
    int rc = mlc_store_put_u64(txn, MLC_DB_STATE, k1, strlen(k1), v1);
    if (rc == MLC_OK && p2)
        rc = mlc_store_put_u64(txn, MLC_DB_STATE, k2, strlen(k2), v2);
    if (rc == MLC_OK)
        rc = mlc_store_commit(txn);
    else
        mlc_store_abort(txn);
    if (rc != MLC_OK)
        MLC_LOG_WRN(MOD, "cursor_not_saved division=%u", division);
}

struct syncts {
    uint64_t ts;
};

static int syncts_row(void *ctx, const cJSON *row)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, "SyncTimestamp");
    if (cJSON_IsNumber(v) && v->valuedouble > 0)
        ((struct syncts *)ctx)->ts = (uint64_t)v->valuedouble;
    return 1;
}

/* A read-back reads every TransactionLines row after the cursor, so an old cursor costs many
 * pages. Once a day it is brought forward with Exact's SyncTimestamp function (the row version
 * of two days ago: our POST's lines come after it). One call a day per division; where the
 * function is missing (404) that is remembered and the stored cursor is used. */
static uint64_t fresh_cursor(struct mlc_exact *x, struct mlc_store *st, uint32_t division)
{
    uint64_t cur = tl_cursor(st, division);
    int64_t now = mlc_exact_now(x);
    uint64_t at = state_u64(st, TL_CURSOR_AT, division);
    if ((at && now >= (int64_t)at && now - (int64_t)at < TL_FRESH_MS) ||
        state_u64(st, TL_NO_SYNCTS, division))
        return cur;
    char iso[40], base[1024], url[1200];
    mlc_time_format_iso(now - TL_BACK_MS, iso, sizeof(iso));
    iso[19] = '\0'; /* Exact's datetime'...' literal has no zone: drop the Z */
    if (mlc_exact_url(x, division, "read/sync/Sync", "SyncTimestamp", base, sizeof(base)) != MLC_OK)
        return cur;
    snprintf(url, sizeof(url), "%s?modified=datetime%%27%s%%27&endPoint=%%27TransactionLines%%27",
             base, iso);
    struct mlc_exact_call c = { .method = MLC_EXACT_GET, .division = division, .url = url,
                                .endpoint = "read/sync/Sync/SyncTimestamp" };
    struct mlc_exact_answer a;
    int rc = mlc_exact_request(x, &c, &a);
    struct syncts st_ts = { 0 };
    if (rc == MLC_OK) {
        struct mlc_odata_page p;
        memset(&p, 0, sizeof(p));
        if (mlc_odata_page_parse(&p, a.body.data, a.body.len) == MLC_OK) {
            const cJSON *row = mlc_odata_page_next(&p);
            if (row)
                syncts_row(&st_ts, row);
        }
        mlc_odata_page_free(&p);
        if (st_ts.ts > cur) {
            cur = st_ts.ts;
            state_put2(st, TL_CURSOR, cur, TL_CURSOR_AT, (uint64_t)now, division);
        } else {
            state_put2(st, TL_CURSOR_AT, (uint64_t)now, NULL, 0, division);
        }
    } else if (a.status == 404) {
        MLC_LOG_INF(MOD, "no_sync_timestamp division=%u", division);
        state_put2(st, TL_NO_SYNCTS, 1, NULL, 0, division);
    }
    mlc_exact_answer_free(&a);
    return cur;
}

/* Replaces the in-flight record by the outcome, and advances the read-back cursor, in one txn. */
static int finish(struct mlc_store *st, const char *statement_id, uint32_t division,
                  const struct mlc_post_result *r, uint64_t cursor)
{
    char ik[KEY_MAX], pk[KEY_MAX];
    if (key_of(ik, sizeof(ik), INFLIGHT, statement_id) < 0 ||
        key_of(pk, sizeof(pk), POSTED, statement_id) < 0)
        return MLC_ERR_TOO_BIG;
    struct mlc_txn *txn = NULL;
    int rc = mlc_store_begin(st, 0, &txn);
    if (rc != MLC_OK)
        return rc;
    rc = mlc_store_del(txn, MLC_DB_POSTINGS, ik, strlen(ik));
    if (rc == MLC_ERR_NOTFOUND)
        rc = MLC_OK;
    if (rc == MLC_OK && r && r->outcome == MLC_POST_POSTED) {
        cJSON *j = cJSON_CreateObject();
        if (!j || !cJSON_AddStringToObject(j, "entry_id", r->entry_id) ||
            !cJSON_AddNumberToObject(j, "entry_number", (double)r->entry_number) ||
            !cJSON_AddNumberToObject(j, "division", division))
            rc = MLC_ERR_NOMEM;
        else
            rc = put_json_txn(txn, MLC_DB_POSTINGS, pk, j);
        cJSON_Delete(j);
    }
    if (rc == MLC_OK && cursor > 1) {
        char key[64];
        snprintf(key, sizeof(key), "%s%u", TL_CURSOR, division);
        rc = mlc_store_put_u64(txn, MLC_DB_STATE, key, strlen(key), cursor);
    }
    if (rc != MLC_OK) {
        mlc_store_abort(txn);
        return rc;
    }
    return mlc_store_commit(txn);
}

/* ---- read-back ---- */

struct readback {
    char **notes;       /* sorted markers of the statement */
    size_t n;
    unsigned char *seen;
    size_t matched;
    char entry_id[40];
    long entry_number;
    uint64_t max_ts;
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int readback_row(void *ctx, const cJSON *row)
{
    struct readback *rb = ctx;
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(row, "Timestamp");
    if (cJSON_IsNumber(ts) && ts->valuedouble > (double)rb->max_ts)
        rb->max_ts = (uint64_t)ts->valuedouble;
    const cJSON *notes = cJSON_GetObjectItemCaseSensitive(row, "Notes");
    if (!cJSON_IsString(notes))
        return 0;
    const char *key = notes->valuestring;
    char **hit = bsearch(&key, rb->notes, rb->n, sizeof(char *), cmp_str);
    if (!hit)
        return 0;
    size_t idx = (size_t)(hit - rb->notes);
    if (!rb->seen[idx]) {
        rb->seen[idx] = 1;
        rb->matched++;
    }
    if (!rb->entry_id[0]) {
        mlc_odata_row_string(row, "EntryID", rb->entry_id, sizeof(rb->entry_id));
        const cJSON *en = cJSON_GetObjectItemCaseSensitive(row, "EntryNumber");
        if (cJSON_IsNumber(en))
            rb->entry_number = (long)en->valuedouble;
    }
    return 0;
}

int mlc_exact_post_settle(struct mlc_exact *x, struct mlc_store *st, const char *statement_id,
                          struct mlc_post_result *r)
{
    memset(r, 0, sizeof(*r));
    r->held_line = -1;
    char ik[KEY_MAX];
    if (!statement_id || key_of(ik, sizeof(ik), INFLIGHT, statement_id) < 0)
        return MLC_ERR_TOO_BIG;
    cJSON *rec = NULL;
    int rc = get_json(st, MLC_DB_POSTINGS, ik, &rec);
    if (rc != MLC_OK)
        return rc;
    struct readback rb;
    memset(&rb, 0, sizeof(rb));
    const cJSON *div = cJSON_GetObjectItemCaseSensitive(rec, "division");
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(rec, "ts");
    const cJSON *notes = cJSON_GetObjectItemCaseSensitive(rec, "notes");
    int n = cJSON_GetArraySize(notes);
    if (!cJSON_IsNumber(div) || !cJSON_IsNumber(ts) || !cJSON_IsArray(notes) || n <= 0 ||
        n > MLC_POST_LINES_MAX) {
        rc = MLC_ERR_DATA;
        goto out;
    }
    uint32_t division = (uint32_t)div->valuedouble;
    rb.notes = mlc_calloc((size_t)n, sizeof(char *));
    rb.seen = mlc_calloc((size_t)n, 1);
    if (!rb.notes || !rb.seen) {
        rc = MLC_ERR_NOMEM;
        goto out;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, notes) {
        if (cJSON_IsString(it))
            rb.notes[rb.n++] = it->valuestring;
    }
    qsort(rb.notes, rb.n, sizeof(char *), cmp_str);
    rb.max_ts = (uint64_t)ts->valuedouble;
    /* Sync: "only the timestamp field is allowed as parameter"; from the Timestamp recorded
     * before the POST, so every line the POST could have made is in range. */
    struct mlc_odata_filter f;
    mlc_odata_filter_init(&f);
    mlc_odata_filter_int(&f, MLC_ODATA_AND, "Timestamp", MLC_ODATA_GT, (int64_t)ts->valuedouble);
    const char *ft = mlc_odata_filter_text(&f);
    struct mlc_odata_query q = { .division = division, .service = "sync/Financial",
                                 .entity = "TransactionLines",
                                 .select = "Timestamp,EntryID,EntryNumber,Notes", .filter = ft };
    rc = ft ? mlc_exact_get_all(x, &q, readback_row, &rb, NULL) : MLC_ERR_NOMEM;
    mlc_odata_filter_free(&f);
    r->settled_by_readback = 1;
    if (rc != MLC_OK) {
        r->outcome = MLC_POST_RETRY_LATER;
        snprintf(r->reason, sizeof(r->reason), "could not read back whether the entry landed: %s",
                 mlc_exact_last_error(x));
        rc = MLC_OK;
        goto out;
    }
    if (rb.matched == rb.n) {
        r->outcome = MLC_POST_POSTED;
        snprintf(r->entry_id, sizeof(r->entry_id), "%s", rb.entry_id);
        r->entry_number = rb.entry_number;
        snprintf(r->reason, sizeof(r->reason), "the answer was lost, but the entry landed");
    } else if (rb.matched == 0) {
        r->outcome = MLC_POST_NOT_LANDED;
        snprintf(r->reason, sizeof(r->reason), "the answer was lost and the entry did not land");
    } else {
        /* A BankEntry is all or nothing; part of it found means someone edited it in Exact. */
        held(r, -1, "only %zu of %zu lines of the statement were found in Exact (entry %ld); a "
                    "person must check it", rb.matched, rb.n, rb.entry_number);
        rc = MLC_OK;
        goto out; /* keep the in-flight record for the person */
    }
    MLC_LOG_INF(MOD, "settled statement=%s outcome=\"%s\" entry=%ld", statement_id,
                mlc_post_outcome_name(r->outcome), r->entry_number);
    rc = finish(st, statement_id, division, r, rb.max_ts);
out:
    mlc_free(rb.notes);
    mlc_free(rb.seen);
    cJSON_Delete(rec);
    return rc;
}

/* ---- the POST ---- */

/* Cuts s to max characters (UTF-8 aware) into out. */
static void cut_utf8(const char *s, size_t max_chars, char *out, size_t cap)
{
    size_t o = 0, chars = 0;
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p;) {
        size_t len = *p < 0x80 ? 1 : (*p >> 5) == 6 ? 2 : (*p >> 4) == 14 ? 3 : (*p >> 3) == 30 ? 4 : 1;
        if (chars >= max_chars || o + len >= cap)
            break;
        for (size_t k = 0; k < len && p[k]; k++)
            out[o++] = (char)p[k];
        p += len;
        chars++;
    }
    out[o] = '\0';
}

static cJSON *raw_amount(const char *text)
{
    struct mlc_amount a;
    char buf[MLC_AMOUNT_STRMAX];
    if (parse_amount(text, &a) != MLC_OK || mlc_amount_format(a, 2, buf, sizeof(buf)) < 0)
        return NULL;
    return cJSON_CreateRaw(buf); /* exact decimal text, never through a double */
}

static int add_item(cJSON *o, const char *name, cJSON *item)
{
    if (!item)
        return MLC_ERR_NOMEM;
    if (!cJSON_AddItemToObject(o, name, item)) {
        cJSON_Delete(item);
        return MLC_ERR_NOMEM;
    }
    return MLC_OK;
}

static int build_body(const struct mlc_bank_statement *s, int year, int period, char **out,
                      cJSON *notes_list)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *lines = cJSON_CreateArray();
    int rc = (!o || !lines) ? MLC_ERR_NOMEM : MLC_OK;
    if (rc == MLC_OK)
        rc = add_item(o, "JournalCode", cJSON_CreateString(s->journal));
    if (rc == MLC_OK && s->currency)
        rc = add_item(o, "Currency", cJSON_CreateString(s->currency));
    if (rc == MLC_OK)
        rc = add_item(o, "FinancialYear", cJSON_CreateNumber(year));
    if (rc == MLC_OK)
        rc = add_item(o, "FinancialPeriod", cJSON_CreateNumber(period));
    if (rc == MLC_OK && s->opening)
        rc = add_item(o, "OpeningBalanceFC", raw_amount(s->opening));
    if (rc == MLC_OK && s->closing)
        rc = add_item(o, "ClosingBalanceFC", raw_amount(s->closing));
    for (size_t i = 0; rc == MLC_OK && i < s->n_lines; i++) {
        const struct mlc_bank_line *l = &s->lines[i];
        cJSON *ln = cJSON_CreateObject();
        if (!ln || !cJSON_AddItemToArray(lines, ln)) {
            cJSON_Delete(ln);
            rc = MLC_ERR_NOMEM;
            break;
        }
        char notes[MLC_POST_NOTES_MAX + 1], desc[MLC_POST_DESCRIPTION_MAX * 4 + 1], date[32];
        notes_of(l, notes, sizeof(notes));
        cut_utf8(l->description, MLC_POST_DESCRIPTION_MAX, desc, sizeof(desc));
        snprintf(date, sizeof(date), "%sT00:00:00", l->date);
        rc = add_item(ln, "Date", cJSON_CreateString(date));
        if (rc == MLC_OK)
            rc = add_item(ln, "AmountFC", raw_amount(l->amount));
        if (rc == MLC_OK)
            rc = add_item(ln, "GLAccount", cJSON_CreateString(l->glaccount));
        if (rc == MLC_OK && desc[0])
            rc = add_item(ln, "Description", cJSON_CreateString(desc));
        if (rc == MLC_OK)
            rc = add_item(ln, "Notes", cJSON_CreateString(notes));
        if (rc == MLC_OK && l->costcenter && l->costcenter[0])
            rc = add_item(ln, "CostCenter", cJSON_CreateString(l->costcenter));
        if (rc == MLC_OK) {
            cJSON *n = cJSON_CreateString(notes);
            if (!n || !cJSON_AddItemToArray(notes_list, n)) {
                cJSON_Delete(n);
                rc = MLC_ERR_NOMEM;
            }
        }
    }
    if (rc == MLC_OK) {
        rc = add_item(o, "BankEntryLines", lines);
        lines = NULL;
    }
    if (rc == MLC_OK) {
        *out = cJSON_PrintUnformatted(o);
        if (!*out)
            rc = MLC_ERR_NOMEM;
    }
    cJSON_Delete(lines);
    cJSON_Delete(o);
    return rc;
}

static int parse_created(const struct mlc_exact_answer *a, struct mlc_post_result *r)
{
    struct mlc_odata_page p;
    memset(&p, 0, sizeof(p));
    int rc = mlc_odata_page_parse(&p, a->body.data, a->body.len);
    const cJSON *row = rc == MLC_OK ? mlc_odata_page_next(&p) : NULL;
    if (!row || mlc_odata_row_string(row, "EntryID", r->entry_id, sizeof(r->entry_id)) != MLC_OK ||
        !mlc_odata_guid_valid(r->entry_id)) {
        rc = MLC_ERR_DATA;
    } else {
        const cJSON *en = cJSON_GetObjectItemCaseSensitive(row, "EntryNumber");
        r->entry_number = cJSON_IsNumber(en) ? (long)en->valuedouble : 0;
    }
    mlc_odata_page_free(&p);
    return rc;
}

static int refresh_refs(struct mlc_exact *x, struct mlc_store *st, uint32_t division)
{
    static const enum mlc_ref_kind kinds[] = { MLC_REF_JOURNALS, MLC_REF_GLACCOUNTS,
                                               MLC_REF_COSTCENTERS, MLC_REF_PERIODS,
                                               MLC_REF_JOURNAL_STATUS };
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        int rc = mlc_exact_ref_refresh(x, st, division, kinds[i], 0, 0, NULL);
        if (rc != MLC_OK)
            return rc;
    }
    return MLC_OK;
}

int mlc_exact_post_statement(struct mlc_exact *x, struct mlc_store *st,
                             const struct mlc_bank_statement *s, struct mlc_post_result *r)
{
    memset(r, 0, sizeof(*r));
    r->held_line = -1;
    if (!s || !s->statement_id || !s->statement_id[0] ||
        strlen(s->statement_id) > MLC_POST_ID_MAX || !s->journal || !s->division || !s->lines)
        return MLC_ERR_INTERNAL;
    char ik[KEY_MAX], pk[KEY_MAX];
    key_of(ik, sizeof(ik), INFLIGHT, s->statement_id);
    key_of(pk, sizeof(pk), POSTED, s->statement_id);
    cJSON *rec = NULL, *notes = NULL, *inflight = NULL;
    char *body = NULL;
    struct mlc_exact_answer a;
    memset(&a, 0, sizeof(a));
    int rc = get_json(st, MLC_DB_POSTINGS, pk, &rec);
    if (rc == MLC_OK) {
        /* Posted before: report it again, never post twice. */
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(rec, "entry_id");
        const cJSON *en = cJSON_GetObjectItemCaseSensitive(rec, "entry_number");
        r->outcome = MLC_POST_POSTED;
        snprintf(r->entry_id, sizeof(r->entry_id), "%s", cJSON_IsString(id) ? id->valuestring : "");
        r->entry_number = cJSON_IsNumber(en) ? (long)en->valuedouble : 0;
        goto out;
    }
    if (rc != MLC_ERR_NOTFOUND)
        goto out;
    /* Left in flight by an earlier run: settle it before anything else. */
    rc = mlc_exact_post_settle(x, st, s->statement_id, r);
    if (rc == MLC_OK && r->outcome != MLC_POST_NOT_LANDED)
        goto out;
    if (rc != MLC_OK && rc != MLC_ERR_NOTFOUND)
        goto out;
    memset(r, 0, sizeof(*r));
    r->held_line = -1;
    rc = refresh_refs(x, st, s->division);
    if (rc != MLC_OK) {
        r->outcome = rc == MLC_ERR_NEEDS_PERSON ? MLC_POST_HELD : MLC_POST_RETRY_LATER;
        snprintf(r->reason, sizeof(r->reason), "reference data could not be fetched: %s",
                 mlc_exact_last_error(x));
        rc = MLC_OK;
        goto out;
    }
    int year = 0, period = 0;
    rc = mlc_exact_post_check(st, s, &year, &period, r);
    if (rc == MLC_ERR_NEEDS_PERSON) {
        MLC_LOG_WRN(MOD, "held statement=%s line=%ld", s->statement_id, r->held_line);
        rc = MLC_OK;
        goto out;
    }
    if (rc != MLC_OK)
        goto out;
    notes = cJSON_CreateArray();
    inflight = cJSON_CreateObject();
    if (!notes || !inflight) {
        rc = MLC_ERR_NOMEM;
        goto out;
    }
    if ((rc = build_body(s, year, period, &body, notes)) != MLC_OK)
        goto out;
    /* The Timestamp recorded BEFORE the POST: a read-back from it sees whatever the POST made. */
    uint64_t cursor = fresh_cursor(x, st, s->division);
    if (!cJSON_AddNumberToObject(inflight, "division", s->division) ||
        !cJSON_AddNumberToObject(inflight, "ts", (double)cursor) ||
        !cJSON_AddNumberToObject(inflight, "at", (double)mlc_exact_now(x))) {
        rc = MLC_ERR_NOMEM;
        goto out;
    }
    cJSON_AddItemToObject(inflight, "notes", notes);
    notes = NULL;
    struct mlc_txn *txn = NULL;
    if ((rc = mlc_store_begin(st, 0, &txn)) != MLC_OK)
        goto out;
    rc = put_json_txn(txn, MLC_DB_POSTINGS, ik, inflight);
    if (rc != MLC_OK) {
        mlc_store_abort(txn);
        goto out;
    }
    if ((rc = mlc_store_commit(txn)) != MLC_OK)
        goto out;
    mlc_crashpoint("exact.post.inflight");
    char url[1024];
    if ((rc = mlc_exact_url(x, s->division, "financialtransaction", "BankEntries", url,
                            sizeof(url))) != MLC_OK)
        goto out;
    struct mlc_exact_call c = { .method = MLC_EXACT_POST, .division = s->division, .url = url,
                                .endpoint = "financialtransaction/BankEntries", .body = body,
                                .body_len = strlen(body) };
    int prc = mlc_exact_request(x, &c, &a);
    mlc_crashpoint("exact.post.answered");
    if (prc == MLC_OK) {
        if (parse_created(&a, r) != MLC_OK) {
            /* 2xx without a readable entry: it landed; find its ids by reading back. */
            rc = mlc_exact_post_settle(x, st, s->statement_id, r);
            goto out;
        }
        r->outcome = MLC_POST_POSTED;
        MLC_LOG_INF(MOD, "posted statement=%s entry=%ld lines=%zu", s->statement_id,
                    r->entry_number, s->n_lines);
        rc = finish(st, s->statement_id, s->division, r, 0);
        goto out;
    }
    if (a.maybe_landed) {
        MLC_LOG_WRN(MOD, "answer_lost statement=%s; reading back", s->statement_id);
        rc = mlc_exact_post_settle(x, st, s->statement_id, r);
        goto out;
    }
    /* Refused or never sent: nothing landed. */
    rc = finish(st, s->statement_id, s->division, NULL, 0);
    if (prc == MLC_ERR_NEEDS_PERSON || prc == MLC_ERR_INTERNAL) {
        held(r, -1, "Exact refused the bank entry: %s", mlc_exact_last_error(x));
    } else {
        r->outcome = MLC_POST_RETRY_LATER;
        snprintf(r->reason, sizeof(r->reason), "%s", mlc_exact_last_error(x));
    }
out:
    mlc_exact_answer_free(&a);
    cJSON_free(body);
    cJSON_Delete(notes);
    cJSON_Delete(inflight);
    cJSON_Delete(rec);
    return rc;
}
