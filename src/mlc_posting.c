#include "mlc_posting.h"
#include "mlc_alloc.h"
#include "mlc_err.h"
#include "mlc_exact_ref.h"
#include "mlc_journal.h"
#include "mlc_store.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TX_PREFIX "tx/"
#define ST_PREFIX "st/"
#define ACCT_PREFIX "acct/"
#define KEY_MAX 512
#define REC_MAX 8192
/* A statement record holds its lines: bounded by the line cap times a generous line size. */
#define ST_REC_MAX ((size_t)MLC_POST_LINES_MAX * 1024u + 4096u)

static const char *const state_names[] = { "seen", "ready", "in flight", "posted", "held",
                                           "reversed", "dropped" };

const char *mlc_posting_state_name(int s)
{
    return s >= 0 && s <= MLC_PS_DROPPED ? state_names[s] : "unknown";
}

/* Copies s into out, cut to fit (texts for people; ids are checked for length elsewhere). */
static void cut(char *out, size_t cap, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(out, s, n);
    out[n] = '\0';
}

static void describe(char *out, size_t cap, const char *name);

/* ---- small JSON helpers ---- */

static void jcopy(const cJSON *o, const char *name, char *out, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    snprintf(out, cap, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

static double jnum(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static int put_json(struct mlc_txn *txn, const char *key, const cJSON *o, size_t max)
{
    char *text = cJSON_PrintUnformatted(o);
    if (!text)
        return MLC_ERR_NOMEM;
    size_t n = strlen(text);
    int rc = n > max ? MLC_ERR_TOO_BIG : mlc_store_put(txn, MLC_DB_POSTINGS, key, strlen(key),
                                                      text, n);
    cJSON_free(text);
    return rc;
}

static int get_json(struct mlc_txn *txn, const char *key, size_t max, cJSON **out)
{
    const void *v = NULL;
    size_t vl = 0;
    *out = NULL;
    int rc = mlc_store_get(txn, MLC_DB_POSTINGS, key, strlen(key), &v, &vl);
    if (rc != MLC_OK)
        return rc;
    if (vl > max || !(*out = cJSON_ParseWithLength(v, vl)))
        return MLC_ERR_DATA;
    return MLC_OK;
}

static int add_strs(cJSON *o, const char *const *kv)
{
    for (; kv[0]; kv += 2)
        if (!cJSON_AddStringToObject(o, kv[0], kv[1]))
            return MLC_ERR_NOMEM;
    return MLC_OK;
}

/* ---- posting records ---- */

static int tx_key(char *key, size_t cap, const char *account_id, const char *tx)
{
    int n = snprintf(key, cap, TX_PREFIX "%s/%s", account_id ? account_id : "", tx ? tx : "");
    return n < 0 || (size_t)n >= cap || !account_id || !account_id[0] || !tx || !tx[0]
               ? MLC_ERR_TOO_BIG : MLC_OK;
}

int mlc_posting_get(struct mlc_txn *txn, const char *account_id, const char *transaction_id,
                    struct mlc_posting *out)
{
    char key[KEY_MAX];
    if (tx_key(key, sizeof(key), account_id, transaction_id) != MLC_OK)
        return MLC_ERR_TOO_BIG;
    cJSON *o = NULL;
    int rc = get_json(txn, key, REC_MAX, &o);
    if (rc != MLC_OK)
        return rc;
    memset(out, 0, sizeof(*out));
    snprintf(out->account_id, sizeof(out->account_id), "%s", account_id);
    snprintf(out->transaction_id, sizeof(out->transaction_id), "%s", transaction_id);
    out->state = (int)jnum(o, "state");
    out->line = (uint32_t)jnum(o, "line");
    out->in_ledger = (int)jnum(o, "in_ledger");
    out->updated_ms = (int64_t)jnum(o, "updated");
    jcopy(o, "statement", out->statement, sizeof(out->statement));
    jcopy(o, "entry_id", out->entry_id, sizeof(out->entry_id));
    jcopy(o, "reason", out->reason, sizeof(out->reason));
    jcopy(o, "led_amount", out->led_amount, sizeof(out->led_amount));
    jcopy(o, "led_date", out->led_date, sizeof(out->led_date));
    jcopy(o, "led_gl", out->led_gl, sizeof(out->led_gl));
    jcopy(o, "led_cc", out->led_cc, sizeof(out->led_cc));
    jcopy(o, "led_name", out->led_name, sizeof(out->led_name));
    cJSON_Delete(o);
    return out->state < 0 || out->state > MLC_PS_DROPPED ? MLC_ERR_DATA : MLC_OK;
}

int mlc_posting_put(struct mlc_txn *txn, const struct mlc_posting *p)
{
    char key[KEY_MAX];
    if (tx_key(key, sizeof(key), p->account_id, p->transaction_id) != MLC_OK)
        return MLC_ERR_TOO_BIG;
    cJSON *o = cJSON_CreateObject();
    const char *kv[] = { "statement", p->statement, "entry_id", p->entry_id, "reason", p->reason,
                         "led_amount", p->led_amount, "led_date", p->led_date, "led_gl", p->led_gl,
                         "led_cc", p->led_cc, "led_name", p->led_name, NULL };
    int rc = MLC_ERR_NOMEM;
    if (o && cJSON_AddNumberToObject(o, "state", p->state) &&
        cJSON_AddNumberToObject(o, "line", p->line) &&
        cJSON_AddNumberToObject(o, "in_ledger", p->in_ledger) &&
        cJSON_AddNumberToObject(o, "updated", (double)p->updated_ms) && add_strs(o, kv) == MLC_OK)
        rc = put_json(txn, key, o, REC_MAX);
    cJSON_Delete(o);
    return rc;
}

/* ---- the per-account chain ---- */

int mlc_posting_chain_get(struct mlc_txn *txn, const char *account_id,
                          struct mlc_posting_chain *out)
{
    char key[KEY_MAX];
    memset(out, 0, sizeof(*out));
    out->next_seq = 1;
    int n = snprintf(key, sizeof(key), ACCT_PREFIX "%s", account_id);
    if (n < 0 || (size_t)n >= sizeof(key))
        return MLC_ERR_TOO_BIG;
    cJSON *o = NULL;
    int rc = get_json(txn, key, REC_MAX, &o);
    if (rc == MLC_ERR_NOTFOUND)
        return MLC_OK;
    if (rc != MLC_OK)
        return rc;
    double s = jnum(o, "next_seq");
    out->next_seq = s >= 1 ? (uint64_t)s : 1;
    jcopy(o, "closing", out->closing, sizeof(out->closing));
    jcopy(o, "closing_statement", out->closing_statement, sizeof(out->closing_statement));
    out->has_closing = out->closing[0] != '\0';
    out->head_year = (int)jnum(o, "head_year");
    out->head_period = (int)jnum(o, "head_period");
    cJSON_Delete(o);
    return MLC_OK;
}

int mlc_posting_chain_put(struct mlc_txn *txn, const char *account_id,
                          const struct mlc_posting_chain *c)
{
    char key[KEY_MAX];
    int n = snprintf(key, sizeof(key), ACCT_PREFIX "%s", account_id);
    if (n < 0 || (size_t)n >= sizeof(key))
        return MLC_ERR_TOO_BIG;
    cJSON *o = cJSON_CreateObject();
    const char *kv[] = { "closing", c->has_closing ? c->closing : "", "closing_statement",
                         c->closing_statement, NULL };
    int rc = MLC_ERR_NOMEM;
    if (o && cJSON_AddNumberToObject(o, "next_seq", (double)c->next_seq) &&
        cJSON_AddNumberToObject(o, "head_year", c->head_year) &&
        cJSON_AddNumberToObject(o, "head_period", c->head_period) && add_strs(o, kv) == MLC_OK)
        rc = put_json(txn, key, o, REC_MAX);
    cJSON_Delete(o);
    return rc;
}

/* ---- statement records ---- */

static int st_key(char *key, size_t cap, const char *id)
{
    int n = snprintf(key, cap, ST_PREFIX "%s", id ? id : "");
    return n < 0 || (size_t)n >= cap || !id || !id[0] ? MLC_ERR_TOO_BIG : MLC_OK;
}

int mlc_posting_statement_put(struct mlc_txn *txn, const struct mlc_plan_statement *s)
{
    char key[KEY_MAX];
    if (st_key(key, sizeof(key), s->id) != MLC_OK || s->n_lines > MLC_POST_LINES_MAX)
        return MLC_ERR_TOO_BIG;
    int rc = MLC_ERR_NOMEM;
    cJSON *o = cJSON_CreateObject(), *lines = cJSON_CreateArray();
    const char *kv[] = { "id", s->id, "account", s->account_id, "journal", s->journal,
                         "currency", s->currency, "opening", s->has_balance ? s->opening : "",
                         "closing", s->has_balance ? s->closing : "", NULL };
    if (!o || !lines || add_strs(o, kv) != MLC_OK ||
        !cJSON_AddNumberToObject(o, "division", s->division) ||
        !cJSON_AddNumberToObject(o, "year", s->year) ||
        !cJSON_AddNumberToObject(o, "period", s->period))
        goto out;
    for (size_t i = 0; i < s->n_lines; i++) {
        const struct mlc_plan_line *l = &s->lines[i];
        cJSON *lo = cJSON_CreateObject();
        const char *lkv[] = { "tx", l->transaction_id, "date", l->date, "moved_from",
                              l->moved_from, "amount", l->amount, "gl", l->gl, "gl_code",
                              l->gl_code, "cc", l->cost_center, "desc", l->description, "rule",
                              l->rule, NULL };
        if (!lo || !cJSON_AddItemToArray(lines, lo) || add_strs(lo, lkv) != MLC_OK ||
            !cJSON_AddNumberToObject(lo, "rev", l->reversal))
            goto out;
    }
    cJSON_AddItemToObject(o, "lines", lines);
    lines = NULL;
    rc = put_json(txn, key, o, ST_REC_MAX);
out:
    cJSON_Delete(lines);
    cJSON_Delete(o);
    return rc;
}

void mlc_plan_statement_free(struct mlc_plan_statement *s)
{
    if (!s)
        return;
    mlc_free(s->lines);
    s->lines = NULL;
    s->n_lines = 0;
}

int mlc_posting_statement_get(struct mlc_txn *txn, const char *id, struct mlc_plan_statement *out)
{
    char key[KEY_MAX];
    memset(out, 0, sizeof(*out));
    if (st_key(key, sizeof(key), id) != MLC_OK)
        return MLC_ERR_TOO_BIG;
    cJSON *o = NULL;
    int rc = get_json(txn, key, ST_REC_MAX, &o);
    if (rc != MLC_OK)
        return rc;
    jcopy(o, "id", out->id, sizeof(out->id));
    jcopy(o, "account", out->account_id, sizeof(out->account_id));
    jcopy(o, "journal", out->journal, sizeof(out->journal));
    jcopy(o, "currency", out->currency, sizeof(out->currency));
    jcopy(o, "opening", out->opening, sizeof(out->opening));
    jcopy(o, "closing", out->closing, sizeof(out->closing));
    out->has_balance = out->opening[0] && out->closing[0];
    out->division = (uint32_t)jnum(o, "division");
    out->year = (int)jnum(o, "year");
    out->period = (int)jnum(o, "period");
    const cJSON *lines = cJSON_GetObjectItemCaseSensitive(o, "lines");
    int n = cJSON_GetArraySize(lines);
    if (!cJSON_IsArray(lines) || n <= 0 || n > MLC_POST_LINES_MAX || !out->account_id[0]) {
        rc = MLC_ERR_DATA;
        goto out;
    }
    if (!(out->lines = mlc_calloc((size_t)n, sizeof(*out->lines)))) {
        rc = MLC_ERR_NOMEM;
        goto out;
    }
    const cJSON *lo;
    cJSON_ArrayForEach(lo, lines) {
        struct mlc_plan_line *l = &out->lines[out->n_lines++];
        jcopy(lo, "tx", l->transaction_id, sizeof(l->transaction_id));
        jcopy(lo, "date", l->date, sizeof(l->date));
        jcopy(lo, "moved_from", l->moved_from, sizeof(l->moved_from));
        jcopy(lo, "amount", l->amount, sizeof(l->amount));
        jcopy(lo, "gl", l->gl, sizeof(l->gl));
        jcopy(lo, "gl_code", l->gl_code, sizeof(l->gl_code));
        jcopy(lo, "cc", l->cost_center, sizeof(l->cost_center));
        jcopy(lo, "desc", l->description, sizeof(l->description));
        jcopy(lo, "rule", l->rule, sizeof(l->rule));
        l->reversal = (int)jnum(lo, "rev");
        l->year = out->year;
        l->period = out->period;
    }
out:
    cJSON_Delete(o);
    if (rc != MLC_OK)
        mlc_plan_statement_free(out);
    return rc;
}

int mlc_posting_statement_del(struct mlc_txn *txn, const char *id)
{
    char key[KEY_MAX];
    if (st_key(key, sizeof(key), id) != MLC_OK)
        return MLC_ERR_TOO_BIG;
    return mlc_store_del(txn, MLC_DB_POSTINGS, key, strlen(key));
}

struct id_each {
    mlc_statement_id_fn fn;
    void *ctx;
};

static int st_each(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    (void)val;
    (void)vlen;
    struct id_each *e = ctx;
    char id[MLC_POST_ID_MAX + 1];
    size_t pl = strlen(ST_PREFIX);
    if (klen <= pl || klen - pl > MLC_POST_ID_MAX)
        return 0;
    memcpy(id, (const char *)key + pl, klen - pl);
    id[klen - pl] = '\0';
    return e->fn(e->ctx, id);
}

int mlc_posting_inflight_each(struct mlc_txn *txn, mlc_statement_id_fn fn, void *ctx)
{
    /* A statement record exists only while in flight: it is deleted when settled. */
    struct id_each e = { fn, ctx };
    return mlc_store_each(txn, MLC_DB_POSTINGS, ST_PREFIX, strlen(ST_PREFIX), st_each, &e);
}

void mlc_plan_statement_view(const struct mlc_plan_statement *s, struct mlc_bank_line *lines,
                             struct mlc_bank_statement *out)
{
    for (size_t i = 0; i < s->n_lines; i++) {
        const struct mlc_plan_line *l = &s->lines[i];
        lines[i] = (struct mlc_bank_line){ .transaction_id = l->transaction_id,
                                           .reversal = l->reversal, .date = l->date,
                                           .amount = l->amount, .glaccount = l->gl,
                                           .description = l->description,
                                           .costcenter = l->cost_center[0] ? l->cost_center
                                                                           : NULL };
    }
    *out = (struct mlc_bank_statement){ .statement_id = s->id, .division = s->division,
                                        .journal = s->journal, .currency = s->currency,
                                        .opening = s->has_balance ? s->opening : NULL,
                                        .closing = s->has_balance ? s->closing : NULL,
                                        .lines = lines, .n_lines = s->n_lines };
}

/* ---- planning ---- */

static int items_add(struct mlc_plan_items *it, const char *tx, const char *date,
                     const char *amount, const char *text)
{
    if (it->n >= MLC_PLAN_ITEMS_MAX)
        return MLC_OK; /* listed up to the cap; the counts elsewhere stay right */
    if (it->n == it->cap) {
        size_t nc = it->cap ? it->cap * 2 : 16;
        void *p = mlc_realloc(it->v, nc * sizeof(*it->v));
        if (!p)
            return MLC_ERR_NOMEM;
        it->v = p;
        it->cap = nc;
    }
    struct mlc_plan_item *x = &it->v[it->n++];
    snprintf(x->transaction_id, sizeof(x->transaction_id), "%s", tx);
    snprintf(x->date, sizeof(x->date), "%s", date ? date : "");
    snprintf(x->amount, sizeof(x->amount), "%s", amount ? amount : "");
    cut(x->text, sizeof(x->text), text);
    return MLC_OK;
}

void mlc_plan_account_free(struct mlc_plan_account *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_statements; i++)
        mlc_plan_statement_free(&p->statements[i]);
    mlc_free(p->statements);
    mlc_free(p->held.v);
    mlc_free(p->pending.v);
    mlc_free(p->dropped.v);
    mlc_free(p->described.v);
    mlc_free(p->inflight.v);
    memset(p, 0, sizeof(*p));
}

int mlc_posting_bank_balance(const struct mlc_journal_account *a, struct mlc_amount *out)
{
    if (!a->current[0] || mlc_amount_parse(a->current, strlen(a->current), out) != MLC_OK)
        return MLC_ERR_NOTFOUND;
    if (strcmp(a->type, "credit") == 0 || strcmp(a->type, "loan") == 0)
        *out = mlc_amount_neg(*out); /* Plaid: positive = owed; Exact: money in the account */
    return MLC_OK;
}

/* What planning keeps of a journal transaction: texts cut to MLC_PLAN_TEXT_MAX bytes (rules
 * match within them; Exact keeps 60 characters of a description), so a large first import
 * holds about 1.5 KB per transaction instead of the journal record's 3.6 KB. */
struct cand {
    char transaction_id[MLC_PLAID_ID_MAX + 1];
    char account_id[MLC_PLAID_ID_MAX + 1];
    int state, amount_err;
    char date[11];
    char amount[MLC_AMOUNT_STRMAX];
    char currency[32];
    char name[MLC_PLAN_TEXT_MAX + 1];
    char merchant[MLC_PLAN_TEXT_MAX + 1];
    char category[MLC_PLAN_TEXT_MAX + 1];
    char category_detailed[128];
};

static void cand_of(struct cand *c, const struct mlc_journal_txn *t)
{
    cut(c->transaction_id, sizeof(c->transaction_id), t->transaction_id);
    cut(c->account_id, sizeof(c->account_id), t->account_id);
    c->state = t->state;
    c->amount_err = t->amount_err;
    cut(c->date, sizeof(c->date), t->date);
    cut(c->amount, sizeof(c->amount), t->amount);
    cut(c->currency, sizeof(c->currency), t->currency);
    describe(c->name, sizeof(c->name), t->name);
    describe(c->merchant, sizeof(c->merchant), t->merchant);
    describe(c->category, sizeof(c->category), t->category);
    describe(c->category_detailed, sizeof(c->category_detailed), t->category_detailed);
}

/* A settled amount dated `date`, for the first opening balance. */
struct dated {
    char date[11];
    struct mlc_amount exact;
};

struct collect {
    struct mlc_txn *txn;
    struct mlc_plan_account *p;
    struct cand *c;              /* candidates */
    struct mlc_posting *post;    /* their posting records (state -1 = none) */
    size_t n, cap;
    struct dated *settled;
    size_t ns, scap;
    int count_only;
    int rc;
};

static int grow(void **v, size_t *cap, size_t n, size_t size, size_t max)
{
    if (n < *cap)
        return MLC_OK;
    size_t nc = *cap ? *cap * 2 : 64;
    if (nc > max)
        nc = max;
    if (n >= nc)
        return MLC_ERR_TOO_BIG;
    void *p = mlc_realloc(*v, nc * size);
    if (!p)
        return MLC_ERR_NOMEM;
    *v = p;
    *cap = nc;
    return MLC_OK;
}

static int collect_txn(void *ctx, const struct mlc_journal_txn *t)
{
    struct collect *c = ctx;
    struct mlc_plan_account *p = c->p;
    struct mlc_amount a;
    if (t->state != MLC_TXN_PENDING && t->state != MLC_TXN_REMOVED && !t->amount_err &&
        mlc_amount_parse(t->amount, strlen(t->amount), &a) == MLC_OK) {
        int rc = grow((void **)&c->settled, &c->scap, c->ns, sizeof(*c->settled),
                      (size_t)MLC_PLAN_LINES_MAX * 50);
        if (rc == MLC_OK) {
            snprintf(c->settled[c->ns].date, 11, "%s", t->date);
            c->settled[c->ns++].exact = mlc_amount_neg(a);
        }
    }
    if (t->state == MLC_TXN_PENDING)
        return items_add(&p->pending, t->transaction_id, t->date, t->amount, t->name);
    struct mlc_posting ps;
    int rc = mlc_posting_get(c->txn, t->account_id, t->transaction_id, &ps);
    if (rc == MLC_ERR_NOTFOUND)
        ps.state = -1;
    else if (rc != MLC_OK)
        return rc;
    if (ps.state == MLC_PS_INFLIGHT)
        return items_add(&p->inflight, t->transaction_id, t->date, t->amount, ps.statement);
    int in_ledger = ps.state >= 0 && ps.in_ledger;
    if (t->state == MLC_TXN_REMOVED && !in_ledger) {
        if (ps.state >= 0 && ps.state != MLC_PS_DROPPED && ps.state != MLC_PS_REVERSED)
            return items_add(&p->dropped, t->transaction_id, t->date, t->amount,
                             t->pending ? "was pending: settled under a new id, or gone"
                                        : "removed by the bank before it was posted");
        return 0; /* a pending one that settled, or nothing of it was ever posted */
    }
    if (in_ledger && t->state != MLC_TXN_REMOVED) {
        char exact[MLC_AMOUNT_STRMAX] = "";
        struct mlc_amount la;
        int same_amount = !t->amount_err &&
                          mlc_amount_parse(t->amount, strlen(t->amount), &a) == MLC_OK &&
                          mlc_amount_parse(ps.led_amount, strlen(ps.led_amount), &la) == MLC_OK &&
                          mlc_amount_cmp(mlc_amount_neg(a), la) == 0;
        (void)exact;
        if (same_amount && strcmp(t->date, ps.led_date) == 0) {
            char nm[MLC_PLAN_TEXT_MAX + 1];
            describe(nm, sizeof(nm), t->name);
            if (strcmp(nm, ps.led_name) != 0)
                return items_add(&p->described, t->transaction_id, t->date, t->amount, nm);
            return 0; /* posted and unchanged */
        }
    }
    if (c->count_only) {
        p->waiting++; /* unmapped or mapping refused: counted for the report, never planned */
        return 0;
    }
    if (c->n >= MLC_PLAN_LINES_MAX) {
        p->truncated = 1;
        return 0;
    }
    rc = grow((void **)&c->c, &c->cap, c->n, sizeof(*c->c), MLC_PLAN_LINES_MAX);
    if (rc == MLC_OK) {
        void *np = mlc_realloc(c->post, c->cap * sizeof(*c->post));
        if (!np)
            return MLC_ERR_NOMEM;
        c->post = np;
        cand_of(&c->c[c->n], t);
        c->post[c->n] = ps;
        c->n++;
    }
    return rc;
}

static int date_ok(const char *d)
{
    if (!d || strlen(d) != 10 || d[4] != '-' || d[7] != '-')
        return 0;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (d[i] < '0' || d[i] > '9'))
            return 0;
    return 1;
}

struct open_find {
    struct mlc_store *st;
    uint32_t division;
    const char *journal;
    int year, period;
    char start[16];
    int ny, np, found, rc;
};

static int open_row(void *ctx, const cJSON *row)
{
    struct open_find *f = ctx;
    int y = (int)jnum(row, "FinYear"), p = (int)jnum(row, "FinPeriod");
    if (y < f->year || (y == f->year && p <= f->period))
        return 0;
    int closed = mlc_exact_ref_period_closed(f->st, f->division, f->journal, y, p);
    if (closed < 0) {
        f->rc = closed;
        return 1;
    }
    if (closed)
        return 0;
    jcopy(row, "StartDate", f->start, sizeof(f->start));
    f->ny = y;
    f->np = p;
    f->found = f->start[0] != '\0';
    return f->found;
}

/* Where a line dated `date` goes: its own period, or (policy) the first open one after a closed
 * one. Returns MLC_OK, or MLC_ERR_NEEDS_PERSON with why set; other errors are store failures. */
struct start_find {
    int year, period;
    char start[16];
};

static int start_row(void *ctx, const cJSON *row)
{
    struct start_find *f = ctx;
    if ((int)jnum(row, "FinYear") != f->year || (int)jnum(row, "FinPeriod") != f->period)
        return 0;
    jcopy(row, "StartDate", f->start, sizeof(f->start));
    return 1;
}

static int place(struct mlc_store *st, const struct mlc_mapping *m, int policy,
                 const struct mlc_posting_chain *head, struct mlc_plan_line *l, char *why,
                 size_t whycap)
{
    int rc = mlc_exact_ref_period_of(st, m->division, l->date, &l->year, &l->period);
    if (rc == MLC_ERR_NOTFOUND) {
        snprintf(why, whycap, "Exact has no financial period for %s; add the financial year in "
                 "Exact (or refresh the reference data)", l->date);
        return MLC_ERR_NEEDS_PERSON;
    }
    if (rc != MLC_OK)
        return rc;
    /* Exact chains a journal's balances in (year, period, entry number) order: a line for a
     * period before the last posted statement's goes into that statement's period, on its first
     * day (a late correction or reversal), so every opening stays the previous closing. */
    if (head && head->head_year &&
        (l->year < head->head_year ||
         (l->year == head->head_year && l->period < head->head_period))) {
        struct start_find f = { head->head_year, head->head_period, "" };
        rc = mlc_exact_ref_each(st, m->division, MLC_REF_PERIODS, start_row, &f);
        if (rc != MLC_OK)
            return rc;
        if (strlen(f.start) < 10) {
            snprintf(why, whycap, "Exact no longer lists period %d/%d of the last statement; "
                     "refresh the reference data or check the financial years in Exact",
                     head->head_period, head->head_year);
            return MLC_ERR_NEEDS_PERSON;
        }
        if (!l->moved_from[0])
            snprintf(l->moved_from, sizeof(l->moved_from), "%s", l->date);
        snprintf(l->date, sizeof(l->date), "%.10s", f.start);
        l->year = head->head_year;
        l->period = head->head_period;
    }
    rc = mlc_exact_ref_period_closed(st, m->division, m->journal, l->year, l->period);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return MLC_OK;
    if (policy == MLC_CLOSED_FIRST_OPEN) {
        struct open_find f = { st, m->division, m->journal, l->year, l->period, "", 0, 0, 0, 0 };
        rc = mlc_exact_ref_each(st, m->division, MLC_REF_PERIODS, open_row, &f);
        if (rc == MLC_OK)
            rc = f.rc;
        if (rc != MLC_OK)
            return rc;
        if (f.found) {
            if (!l->moved_from[0])
                snprintf(l->moved_from, sizeof(l->moved_from), "%s", l->date);
            snprintf(l->date, sizeof(l->date), "%.10s", f.start);
            l->year = f.ny;
            l->period = f.np;
            return MLC_OK;
        }
    }
    snprintf(why, whycap, "dated %s in period %d/%d, which is closed for journal %s in Exact; "
             "reopen the period, book it by hand, or set [exact] closed_periods = first_open",
             l->moved_from[0] ? l->moved_from : l->date, l->period, l->year, m->journal);
    return MLC_ERR_NEEDS_PERSON;
}

/* The G/L a line is coded to must exist, be open, and take the cost center it gets. */
static int check_gl(struct mlc_store *st, uint32_t division, const struct mlc_plan_line *l,
                    char *why, size_t whycap)
{
    struct mlc_ref_glaccount g;
    int rc = mlc_exact_ref_glaccount(st, division, l->gl, &g);
    if (rc == MLC_ERR_NOTFOUND) {
        snprintf(why, whycap, "G/L account %s (rule %s) does not exist in division %u; fix the "
                 "rule or the mapping", l->gl_code[0] ? l->gl_code : l->gl, l->rule, division);
        return MLC_ERR_NEEDS_PERSON;
    }
    if (rc != MLC_OK)
        return rc;
    if (g.blocked) {
        snprintf(why, whycap, "G/L account %s (rule %s) is blocked in Exact; unblock it or fix "
                 "the rule", g.code, l->rule);
        return MLC_ERR_NEEDS_PERSON;
    }
    if (g.use_costcenter == 1 && !l->cost_center[0]) {
        snprintf(why, whycap, "G/L account %s (rule %s) needs a cost center; give the rule or "
                 "the mapping one", g.code, l->rule);
        return MLC_ERR_NEEDS_PERSON;
    }
    if (g.use_costcenter == 2 && l->cost_center[0]) {
        snprintf(why, whycap, "G/L account %s (rule %s) takes no cost center, but the line has "
                 "%s", g.code, l->rule, l->cost_center);
        return MLC_ERR_NEEDS_PERSON;
    }
    return MLC_OK;
}

/* The line's description: the bank's name, cut at a UTF-8 boundary to fit out (the Exact client
 * cuts it to what Exact keeps; the longer text here lets a later name change be noticed). */
static void describe(char *out, size_t cap, const char *name)
{
    size_t n = strlen(name);
    if (n >= cap) {
        n = cap - 1;
        while (n && ((unsigned char)name[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(out, name, n);
    out[n] = '\0';
}

struct lines {
    struct mlc_plan_line *v;
    size_t n, cap;
};

static struct mlc_plan_line *line_new(struct lines *ls)
{
    if (grow((void **)&ls->v, &ls->cap, ls->n, sizeof(*ls->v), (size_t)MLC_PLAN_LINES_MAX * 2) !=
        MLC_OK)
        return NULL;
    struct mlc_plan_line *l = &ls->v[ls->n];
    memset(l, 0, sizeof(*l));
    return l;
}

static int line_cmp(const void *a, const void *b)
{
    const struct mlc_plan_line *x = a, *y = b;
    if (x->year != y->year)
        return x->year < y->year ? -1 : 1;
    if (x->period != y->period)
        return x->period < y->period ? -1 : 1;
    int c = strcmp(x->date, y->date);
    if (c)
        return c;
    c = strcmp(x->transaction_id, y->transaction_id);
    if (c)
        return c;
    return y->reversal - x->reversal; /* a reversal before its corrected line */
}

/* Rough size of one line in the POST body: field names, quotes, GUIDs, texts. */
static size_t line_bytes(const struct mlc_plan_line *l)
{
    return 200 + strlen(l->transaction_id) + strlen(l->description) * 6 + strlen(l->gl) +
           strlen(l->cost_center) + strlen(l->amount);
}

static int fmt_amount(struct mlc_amount a, char *out, size_t cap)
{
    return mlc_amount_format(a, 2, out, cap) > 0 ? MLC_OK : MLC_ERR_DATA;
}

/* Codes one candidate into line l (not reversal). MLC_ERR_NEEDS_PERSON with why. */
static int code_line(struct mlc_store *st, struct mlc_txn *txn, const struct mlc_mapping *m,
                     const struct cand *t, int policy,
                     const struct mlc_posting_chain *head, struct mlc_plan_line *l, char *why,
                     size_t whycap)
{
    struct mlc_amount a;
    if (t->amount_err || mlc_amount_parse(t->amount, strlen(t->amount), &a) != MLC_OK) {
        snprintf(why, whycap, "the amount Plaid sent cannot be held exactly; book it by hand");
        return MLC_ERR_NEEDS_PERSON;
    }
    if (!date_ok(t->date)) {
        snprintf(why, whycap, "the transaction has no valid date");
        return MLC_ERR_NEEDS_PERSON;
    }
    struct mlc_amount exact_units;
    if (mlc_amount_round(a, mlc_currency_decimals(t->currency), MLC_ROUND_REFUSE, &exact_units,
                         NULL) != MLC_OK) {
        /* Rounding would book a different amount than the bank's: never silently. */
        snprintf(why, whycap, "the amount %s has more decimals than %s allows; book it by hand",
                 t->amount, t->currency[0] ? t->currency : "the currency");
        return MLC_ERR_NEEDS_PERSON;
    }
    struct mlc_rule_input in = { t->account_id, t->name, t->merchant, t->category,
                                 t->category_detailed, a };
    struct mlc_coding cd;
    int rc = mlc_rules_code(txn, m, &in, &cd);
    if (rc == MLC_ERR_NOTFOUND) {
        snprintf(why, whycap, "no coding rule matches and the mapping has no offset G/L; add a "
                 "rule ('mlc rules add') or map with --offset-gl");
        return MLC_ERR_NEEDS_PERSON;
    }
    if (rc != MLC_OK)
        return rc;
    snprintf(l->transaction_id, sizeof(l->transaction_id), "%s", t->transaction_id);
    snprintf(l->date, sizeof(l->date), "%s", t->date);
    if ((rc = fmt_amount(mlc_amount_neg(a), l->amount, sizeof(l->amount))) != MLC_OK)
        return rc;
    snprintf(l->gl, sizeof(l->gl), "%s", cd.gl);
    snprintf(l->gl_code, sizeof(l->gl_code), "%s", cd.gl_code);
    snprintf(l->cost_center, sizeof(l->cost_center), "%s", cd.cost_center);
    snprintf(l->rule, sizeof(l->rule), "%s", cd.rule);
    describe(l->description, sizeof(l->description), t->name);
    if ((rc = check_gl(st, m->division, l, why, whycap)) != MLC_OK)
        return rc;
    return place(st, m, policy, head, l, why, whycap);
}

/* The reversal of what stands in Exact for p. */
static int reversal_line(struct mlc_store *st, const struct mlc_mapping *m,
                         const struct mlc_posting *p, const char *date, int policy,
                         const struct mlc_posting_chain *head, struct mlc_plan_line *l, char *why,
                         size_t whycap)
{
    struct mlc_amount la;
    if (mlc_amount_parse(p->led_amount, strlen(p->led_amount), &la) != MLC_OK) {
        snprintf(why, whycap, "the posted amount on record is unreadable; reverse it by hand");
        return MLC_ERR_NEEDS_PERSON;
    }
    snprintf(l->transaction_id, sizeof(l->transaction_id), "%s", p->transaction_id);
    l->reversal = 1;
    snprintf(l->date, sizeof(l->date), "%s", date_ok(date) ? date : p->led_date);
    int rc = fmt_amount(mlc_amount_neg(la), l->amount, sizeof(l->amount));
    if (rc != MLC_OK)
        return rc;
    snprintf(l->gl, sizeof(l->gl), "%s", p->led_gl);
    snprintf(l->cost_center, sizeof(l->cost_center), "%s", p->led_cc);
    snprintf(l->rule, sizeof(l->rule), "reversal");
    char d[MLC_PLAN_TEXT_MAX + 1];
    snprintf(d, sizeof(d), "Reversal: %.200s", p->led_name);
    describe(l->description, sizeof(l->description), d);
    return place(st, m, policy, head, l, why, whycap);
}

static int make_statements(struct mlc_plan_account *p, struct lines *ls,
                           const struct mlc_posting_chain *chain, const struct collect *c,
                           const struct mlc_plan_opts *o, int have_bank, struct mlc_amount bank)
{
    size_t lines_max = o->lines_max && o->lines_max < MLC_POST_LINES_MAX ? o->lines_max
                                                                         : MLC_POST_LINES_MAX;
    size_t bytes_max = o->bytes_max ? o->bytes_max : MLC_STATEMENT_BYTES_MAX;
    if (!ls->n)
        return MLC_OK;
    qsort(ls->v, ls->n, sizeof(*ls->v), line_cmp);
    /* Opening of the first statement: the chain, else the bank balance minus what came since. */
    int has_bal = 0;
    struct mlc_amount bal = { 0, 0 };
    if (chain->has_closing) {
        has_bal = mlc_amount_parse(chain->closing, strlen(chain->closing), &bal) == MLC_OK;
    } else if (have_bank && ls->n) {
        bal = bank;
        has_bal = 1;
        const char *first = ls->v[0].moved_from[0] ? ls->v[0].moved_from : ls->v[0].date;
        for (size_t i = 0; i < c->ns && has_bal; i++)
            if (strcmp(c->settled[i].date, first) >= 0 &&
                mlc_amount_add(bal, mlc_amount_neg(c->settled[i].exact), &bal) != MLC_OK)
                has_bal = 0;
    }
    size_t i = 0;
    uint64_t seq = chain->next_seq;
    while (i < ls->n) {
        size_t j = i, bytes = 0;
        while (j < ls->n && j - i < lines_max && ls->v[j].year == ls->v[i].year &&
               ls->v[j].period == ls->v[i].period &&
               (j == i || bytes + line_bytes(&ls->v[j]) <= bytes_max))
            bytes += line_bytes(&ls->v[j++]);
        void *np = mlc_realloc(p->statements, (p->n_statements + 1) * sizeof(*p->statements));
        if (!np)
            return MLC_ERR_NOMEM;
        p->statements = np;
        struct mlc_plan_statement *s = &p->statements[p->n_statements++];
        memset(s, 0, sizeof(*s));
        /* Stable and short: the chain's sequence number and the account (cut to fit). */
        snprintf(s->id, sizeof(s->id), "%llu.%.100s", (unsigned long long)seq++, p->account_id);
        snprintf(s->account_id, sizeof(s->account_id), "%s", p->account_id);
        s->division = p->map.division;
        snprintf(s->journal, sizeof(s->journal), "%s", p->map.journal);
        snprintf(s->currency, sizeof(s->currency), "%s", p->currency);
        s->year = ls->v[i].year;
        s->period = ls->v[i].period;
        if (!(s->lines = mlc_calloc(j - i, sizeof(*s->lines))))
            return MLC_ERR_NOMEM;
        memcpy(s->lines, &ls->v[i], (j - i) * sizeof(*s->lines));
        s->n_lines = j - i;
        struct mlc_amount sum = { 0, 0 };
        for (size_t k = 0; k < s->n_lines; k++) {
            struct mlc_amount a;
            if (mlc_amount_parse(s->lines[k].amount, strlen(s->lines[k].amount), &a) != MLC_OK ||
                mlc_amount_add(sum, a, &sum) != MLC_OK)
                return MLC_ERR_DATA;
        }
        if (mlc_amount_add(p->effect, sum, &p->effect) != MLC_OK)
            return MLC_ERR_DATA;
        if (has_bal) {
            struct mlc_amount close;
            if (mlc_amount_add(bal, sum, &close) != MLC_OK ||
                fmt_amount(bal, s->opening, sizeof(s->opening)) != MLC_OK ||
                fmt_amount(close, s->closing, sizeof(s->closing)) != MLC_OK)
                return MLC_ERR_DATA;
            s->has_balance = 1;
            bal = close;
        }
        i = j;
    }
    return MLC_OK;
}

int mlc_posting_plan(struct mlc_store *st, struct mlc_txn *txn,
                     const struct mlc_journal_account *acct, const struct mlc_plan_opts *o,
                     struct mlc_plan_account *p)
{
    static const struct mlc_plan_opts none = { 0 };
    if (!o)
        o = &none;
    memset(p, 0, sizeof(*p));
    struct collect c = { .txn = txn, .p = p };
    struct lines ls = { 0 };
    char why[MLC_POSTING_REASON_MAX + 1];
    snprintf(p->account_id, sizeof(p->account_id), "%s", acct->account_id);
    cut(p->name, sizeof(p->name), acct->name);
    cut(p->currency, sizeof(p->currency), acct->currency);
    struct mlc_amount bank = { 0, 0 };
    int have_bank = mlc_posting_bank_balance(acct, &bank) == MLC_OK;
    if (have_bank) {
        p->has_bank_balance = 1;
        fmt_amount(bank, p->bank_balance, sizeof(p->bank_balance));
    }
    int rc = mlc_mapping_get(txn, acct->account_id, &p->map);
    if (rc == MLC_ERR_NOTFOUND || rc == MLC_ERR_DATA) {
        snprintf(p->problem, sizeof(p->problem), "not mapped%s: nothing is posted until a person "
                 "maps it with 'mlc map %.128s --division N --journal CODE'",
                 acct->unmapped_new ? " (a new account at the bank)" : "", acct->account_id);
        rc = MLC_OK;
    } else if (rc == MLC_OK) {
        p->mapped = 1;
        rc = mlc_mapping_check(st, &p->map, acct->currency, why, sizeof(why));
        if (rc == MLC_ERR_NEEDS_PERSON) {
            snprintf(p->problem, sizeof(p->problem), "%s", why);
            rc = MLC_OK;
        }
    }
    if (rc != MLC_OK)
        goto out;
    c.count_only = !p->mapped || p->problem[0];
    if ((rc = mlc_journal_txn_each(txn, acct->account_id, collect_txn, &c)) != MLC_OK)
        goto out;
    if (!p->mapped || p->problem[0])
        goto out; /* the counts and pending list are reported; nothing is coded or held */
    struct mlc_posting_chain chain;
    if ((rc = mlc_posting_chain_get(txn, acct->account_id, &chain)) != MLC_OK)
        goto out;
    for (size_t i = 0; i < c.n; i++) {
        const struct cand *t = &c.c[i];
        const struct mlc_posting *ps = &c.post[i];
        int in_ledger = ps->state >= 0 && ps->in_ledger;
        struct mlc_plan_line *rev = NULL, *l = NULL;
        why[0] = '\0';
        if (!in_ledger && o->since && o->since[0] && strcmp(t->date, o->since) < 0)
            continue;
        if (t->currency[0] && p->currency[0] && strcmp(t->currency, p->currency) != 0) {
            rc = items_add(&p->held, t->transaction_id, t->date, t->amount,
                           "its currency differs from the account's; book it by hand");
            if (rc != MLC_OK)
                goto out;
            continue;
        }
        if (in_ledger) {
            if (!(rev = line_new(&ls))) {
                rc = MLC_ERR_NOMEM;
                goto out;
            }
            const char *d = t->state == MLC_TXN_REMOVED ? ps->led_date : t->date;
            rc = reversal_line(st, &p->map, ps, d, o->closed_policy, &chain, rev, why,
                               sizeof(why));
            if (rc == MLC_OK)
                ls.n++;
        }
        if (rc == MLC_OK && t->state != MLC_TXN_REMOVED) {
            if (!(l = line_new(&ls))) {
                rc = MLC_ERR_NOMEM;
                goto out;
            }
            rc = code_line(st, txn, &p->map, t, o->closed_policy, &chain, l, why, sizeof(why));
            if (rc == MLC_OK)
                ls.n++;
            else if (rev)
                ls.n--; /* a reversal waits for its corrected line: they post together */
        }
        if (rc == MLC_ERR_NEEDS_PERSON) {
            rc = items_add(&p->held, t->transaction_id, t->date, t->amount, why);
        } else if (rc == MLC_OK) {
            p->reversals += rev ? 1 : 0;
            p->lines += l ? 1 : 0;
        }
        if (rc != MLC_OK)
            goto out;
    }
    rc = make_statements(p, &ls, &chain, &c, o, have_bank, bank);
out:
    mlc_free(ls.v);
    mlc_free(c.c);
    mlc_free(c.post);
    mlc_free(c.settled);
    return rc;
}

/* ---- text ---- */

int mlc_statement_format(const struct mlc_bank_statement *s, struct mlc_buf *out)
{
    int rc = mlc_buf_printf(out, "statement %s division %u journal %s %s opening %s closing %s\n",
                            s->statement_id, s->division, s->journal, s->currency,
                            s->opening ? s->opening : "-", s->closing ? s->closing : "-");
    for (size_t i = 0; rc == MLC_OK && i < s->n_lines; i++) {
        const struct mlc_bank_line *l = &s->lines[i];
        rc = mlc_buf_printf(out, "  %s %s%s %s gl=%s cc=%s \"%s\"\n", l->date,
                            l->reversal ? "plaid-reversal:" : "plaid:", l->transaction_id,
                            l->amount, l->glaccount, l->costcenter ? l->costcenter : "",
                            l->description ? l->description : "");
    }
    return rc;
}

static int print_items(struct mlc_buf *out, const char *title, const struct mlc_plan_items *it)
{
    int rc = MLC_OK;
    if (it->n)
        rc = mlc_buf_printf(out, "  %s: %zu\n", title, it->n);
    for (size_t i = 0; rc == MLC_OK && i < it->n; i++)
        rc = mlc_buf_printf(out, "    %s %s %s: %s\n", it->v[i].date, it->v[i].transaction_id,
                            it->v[i].amount, it->v[i].text);
    return rc;
}

int mlc_plan_print(const struct mlc_plan_account *p, struct mlc_buf *out)
{
    int rc = mlc_buf_printf(out, "account %s (%s, %s)\n", p->account_id, p->name, p->currency);
    if (rc == MLC_OK && p->problem[0])
        rc = mlc_buf_printf(out, "  NEEDS A PERSON: %s\n", p->problem);
    if (rc == MLC_OK && p->waiting)
        rc = mlc_buf_printf(out, "  %zu settled transaction%s wait%s for this\n", p->waiting,
                            p->waiting == 1 ? "" : "s", p->waiting == 1 ? "s" : "");
    for (size_t i = 0; rc == MLC_OK && i < p->n_statements; i++) {
        const struct mlc_plan_statement *s = &p->statements[i];
        struct mlc_bank_line *lines = mlc_calloc(s->n_lines, sizeof(*lines));
        struct mlc_bank_statement bs;
        if (!lines)
            return MLC_ERR_NOMEM;
        mlc_plan_statement_view(s, lines, &bs);
        rc = mlc_buf_printf(out, "  period %d/%d: ", s->period, s->year);
        if (rc == MLC_OK)
            rc = mlc_statement_format(&bs, out);
        mlc_free(lines);
    }
    char eff[MLC_AMOUNT_STRMAX];
    mlc_amount_format(p->effect, 2, eff, sizeof(eff));
    if (rc == MLC_OK && p->mapped && !p->problem[0])
        rc = mlc_buf_printf(out, "  lines to post: %zu, reversals: %zu, balance effect: %s %s\n",
                            p->lines, p->reversals, eff, p->currency);
    if (rc == MLC_OK)
        rc = print_items(out, "held (a person must act)", &p->held);
    if (rc == MLC_OK)
        rc = print_items(out, "pending (wait until they settle)", &p->pending);
    if (rc == MLC_OK)
        rc = print_items(out, "in flight (settled by read-back first)", &p->inflight);
    if (rc == MLC_OK)
        rc = print_items(out, "removed by the bank before posting (dropped)", &p->dropped);
    if (rc == MLC_OK)
        rc = print_items(out, "description changed (audited only)", &p->described);
    if (rc == MLC_OK && p->truncated)
        rc = mlc_buf_printf(out, "  more transactions than one run takes: the rest next run\n");
    return rc;
}
