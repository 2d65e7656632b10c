/* Shared by test_posting.c and test_engine.c: a store with synthetic Exact reference data
 * (division 1), a Plaid journal written through the journal module, and a fake poster that
 * keeps a ledger of what "landed in Exact" with scripted outcomes (lost answers, not landed,
 * held). Header-only on purpose: each test program includes it once. */
#ifndef ENGINE_FIXTURE_H
#define ENGINE_FIXTURE_H
#include "mlc_test_util.h"
#include "mlc_alloc.h"
#include "mlc_audit.h"
#include "mlc_buf.h"
#include "mlc_engine.h"
#include "mlc_err.h"
#include "mlc_journal.h"
#include "mlc_mapping.h"
#include "mlc_posting.h"
#include "mlc_rules.h"
#include "mlc_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FX static __attribute__((unused))

#define GL_SUSP "11111111-1111-1111-1111-111111111111"
#define GL_FOOD "22222222-2222-2222-2222-222222222222"
#define GL_CCREQ "33333333-3333-3333-3333-333333333333"
#define GL_BLOCKED "44444444-4444-4444-4444-444444444444"
#define GL_NOCC "55555555-5555-5555-5555-555555555555"
#define NOW_MS 1790000000000LL

struct efx {
    size_t heap_at_start;
    char dir[512];
    struct mlc_store *st;
};

FX void ref_put(struct mlc_store *st, const char *key, const char *json)
{
    struct mlc_txn *txn = NULL;
    assert_int_equal(mlc_store_begin(st, 0, &txn), MLC_OK);
    assert_int_equal(mlc_store_put(txn, MLC_DB_REFDATA, key, strlen(key), json, strlen(json)),
                     MLC_OK);
    assert_int_equal(mlc_store_commit(txn), MLC_OK);
}

FX void gl_put(struct mlc_store *st, const char *id, const char *code, int blocked, int use_cc)
{
    char k[128], j[512];
    snprintf(k, sizeof(k), "1/glaccounts/%s", id);
    snprintf(j, sizeof(j), "{\"ID\":\"%s\",\"Code\":\"%s\",\"Description\":\"G/L %s\",\"Type\":"
             "110,\"IsBlocked\":%s,\"UseCostcenter\":%d}", id, code, code,
             blocked ? "true" : "false", use_cc);
    ref_put(st, k, j);
}

FX void journal_put(struct mlc_store *st, const char *code, const char *iban,
                        const char *currency, int blocked)
{
    char k[128], j[512];
    snprintf(k, sizeof(k), "1/journals/%s", code);
    snprintf(j, sizeof(j), "{\"Code\":\"%s\",\"Description\":\"Bank %s\",\"Type\":12,"
             "\"BankAccountIBAN\":\"%s\",\"Currency\":\"%s\",\"GLAccount\":\"%s\","
             "\"IsBlocked\":%s}", code, code, iban, currency, GL_SUSP, blocked ? "true" : "false");
    ref_put(st, k, j);
}

FX void period_close(struct mlc_store *st, const char *journal, int year, int period)
{
    char k[128], j[256];
    snprintf(k, sizeof(k), "1/journal_status/%s/%09d/%09d", journal, year, period);
    snprintf(j, sizeof(j), "{\"Journal\":\"%s\",\"Year\":%d,\"Period\":%d,\"Status\":1}", journal,
             year, period);
    ref_put(st, k, j);
}

FX void seed_ref(struct mlc_store *st)
{
    journal_put(st, "BNK", "NL91ABNA0417164300", "EUR", 0);
    journal_put(st, "BLK", "NL02RABO0123456789", "EUR", 1);
    journal_put(st, "USD1", "", "USD", 0);
    gl_put(st, GL_SUSP, "2990", 0, 0);
    gl_put(st, GL_FOOD, "4500", 0, 0);
    gl_put(st, GL_CCREQ, "4600", 0, 1);
    gl_put(st, GL_BLOCKED, "4700", 1, 0);
    gl_put(st, GL_NOCC, "4800", 0, 2);
    ref_put(st, "1/costcenters/CC1", "{\"Code\":\"CC1\",\"Description\":\"Shop\"}");
    static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    for (int m = 1; m <= 12; m++) {
        char k[128], j[256];
        snprintf(k, sizeof(k), "1/periods/%09d/%09d", 2026, m);
        snprintf(j, sizeof(j), "{\"FinYear\":2026,\"FinPeriod\":%d,\"StartDate\":\"2026-%02d-01\","
                 "\"EndDate\":\"2026-%02d-%02d\"}", m, m, m, days[m - 1]);
        ref_put(st, k, j);
    }
}

FX int efx_setup(void **state)
{
    struct efx *f = calloc(1, sizeof(*f));
    f->heap_at_start = mlc_alloc_current();
    snprintf(f->dir, sizeof(f->dir), "%s", mlc_test_tmpdir("engine"));
    assert_int_equal(mlc_store_open(&f->st, f->dir, NULL), MLC_OK);
    seed_ref(f->st);
    *state = f;
    return 0;
}

FX int efx_teardown(void **state)
{
    struct efx *f = *state;
    size_t start = f->heap_at_start;
    mlc_store_close(f->st);
    mlc_test_rmtree(f->dir);
    free(f);
    assert_int_equal(mlc_alloc_current(), start);
    return 0;
}

FX void add_account(struct efx *f, const char *id, const char *current, const char *type,
                        const char *currency)
{
    struct mlc_journal_account a;
    memset(&a, 0, sizeof(a));
    snprintf(a.account_id, sizeof(a.account_id), "%s", id);
    snprintf(a.item_id, sizeof(a.item_id), "item1");
    snprintf(a.name, sizeof(a.name), "Checking %s", id);
    snprintf(a.type, sizeof(a.type), "%s", type);
    snprintf(a.currency, sizeof(a.currency), "%s", currency);
    snprintf(a.current, sizeof(a.current), "%s", current ? current : "");
    struct mlc_txn *txn = NULL;
    assert_int_equal(mlc_store_begin(f->st, 0, &txn), MLC_OK);
    assert_int_equal(mlc_journal_account_put(txn, &a), MLC_OK);
    assert_int_equal(mlc_store_commit(txn), MLC_OK);
}

/* A Plaid transaction (Plaid's sign: positive = money out). kind ADDED or MODIFIED. */
FX void put_txn_full(struct efx *f, const char *account, const char *id, const char *date,
                         const char *amount, int pending, const char *pending_id,
                         const char *name, const char *merchant, const char *category,
                         enum mlc_sync_kind kind)
{
    struct mlc_plaid_txn t;
    memset(&t, 0, sizeof(t));
    snprintf(t.transaction_id, sizeof(t.transaction_id), "%s", id);
    snprintf(t.account_id, sizeof(t.account_id), "%s", account);
    snprintf(t.pending_transaction_id, sizeof(t.pending_transaction_id), "%s",
             pending_id ? pending_id : "");
    t.pending = pending;
    assert_int_equal(mlc_amount_parse(amount, strlen(amount), &t.amount), MLC_OK);
    snprintf(t.amount_text, sizeof(t.amount_text), "%s", amount);
    snprintf(t.currency, sizeof(t.currency), "EUR");
    t.currency_is_iso = 1;
    snprintf(t.date, sizeof(t.date), "%s", date);
    snprintf(t.name, sizeof(t.name), "%s", name ? name : id);
    snprintf(t.merchant_name, sizeof(t.merchant_name), "%s", merchant ? merchant : "");
    snprintf(t.category, sizeof(t.category), "%s", category ? category : "");
    /* The digest makes a changed record a change (FNV-1a over what the tests vary). */
    uint32_t h = 2166136261u;
    const char *parts[] = { id, amount, date, t.name, t.merchant_name, t.category,
                            pending ? "p" : "s" };
    for (size_t k = 0; k < sizeof(parts) / sizeof(parts[0]); k++)
        for (const char *c = parts[k]; *c; c++)
            h = (h ^ (unsigned char)*c) * 16777619u;
    for (size_t k = 0; k < sizeof(t.raw_sha256); k++)
        t.raw_sha256[k] = (uint8_t)(h >> (8 * (k % 4)));
    struct mlc_txn *txn = NULL;
    assert_int_equal(mlc_store_begin(f->st, 0, &txn), MLC_OK);
    assert_int_equal(mlc_journal_txn_apply(txn, "item1", kind, &t, NOW_MS, 0, NULL), MLC_OK);
    assert_int_equal(mlc_store_commit(txn), MLC_OK);
}

FX void put_txn(struct efx *f, const char *id, const char *date, const char *amount)
{
    put_txn_full(f, "acc1", id, date, amount, 0, NULL, NULL, NULL, NULL, MLC_SYNC_ADDED);
}

FX void remove_txn(struct efx *f, const char *account, const char *id)
{
    struct mlc_plaid_removed r;
    memset(&r, 0, sizeof(r));
    snprintf(r.transaction_id, sizeof(r.transaction_id), "%s", id);
    snprintf(r.account_id, sizeof(r.account_id), "%s", account);
    struct mlc_txn *txn = NULL;
    assert_int_equal(mlc_store_begin(f->st, 0, &txn), MLC_OK);
    assert_int_equal(mlc_journal_txn_remove(txn, "item1", &r, NOW_MS, 0, NULL), MLC_OK);
    assert_int_equal(mlc_store_commit(txn), MLC_OK);
}

FX void map_account(struct efx *f, const char *account, const char *journal, const char *gl,
                        const char *cc)
{
    struct mlc_mapping m;
    memset(&m, 0, sizeof(m));
    snprintf(m.account_id, sizeof(m.account_id), "%s", account);
    m.division = 1;
    snprintf(m.journal, sizeof(m.journal), "%s", journal);
    snprintf(m.offset_gl, sizeof(m.offset_gl), "%s", gl ? gl : "");
    snprintf(m.offset_gl_code, sizeof(m.offset_gl_code), "%s", gl ? "2990" : "");
    snprintf(m.cost_center, sizeof(m.cost_center), "%s", cc ? cc : "");
    struct mlc_txn *txn = NULL;
    assert_int_equal(mlc_store_begin(f->st, 0, &txn), MLC_OK);
    assert_int_equal(mlc_mapping_put(txn, &m, NOW_MS), MLC_OK);
    assert_int_equal(mlc_store_commit(txn), MLC_OK);
}

FX struct mlc_posting get_posting(struct efx *f, const char *account, const char *tx)
{
    struct mlc_posting p;
    memset(&p, 0, sizeof(p));
    struct mlc_txn *txn = NULL;
    assert_int_equal(mlc_store_begin(f->st, 1, &txn), MLC_OK);
    if (mlc_posting_get(txn, account, tx, &p) != MLC_OK)
        p.state = -1;
    mlc_store_abort(txn);
    return p;
}

/* ---- the fake poster ---- */

enum fake_outcome {
    FAKE_POST = 0,        /* lands, answer arrives */
    FAKE_LOST_LANDED,     /* lands, answer lost, read-back not possible now: RETRY_LATER */
    FAKE_NOT_LANDED,      /* read-back says nothing landed */
    FAKE_HELD_LINE2,      /* Exact-side check holds line 2 */
    FAKE_CRASH            /* the process "died" before sending: nothing landed, error */
};

#define FAKE_MAX 32
struct fake {
    enum fake_outcome script[FAKE_MAX];  /* outcome per call; FAKE_POST after the script */
    size_t calls;
    char landed[FAKE_MAX][MLC_POST_ID_MAX + 1];
    size_t n_landed;
    struct mlc_buf ledger;               /* formatted statements that landed, in order */
    struct mlc_buf sent;                 /* every statement offered, formatted */
};

FX int fake_post(void *ctx, struct mlc_store *st, const struct mlc_bank_statement *s,
                     struct mlc_post_result *r)
{
    (void)st;
    struct fake *f = ctx;
    memset(r, 0, sizeof(*r));
    r->held_line = -1;
    enum fake_outcome o = f->calls < FAKE_MAX ? f->script[f->calls] : FAKE_POST;
    f->calls++;
    for (size_t i = 0; i < f->n_landed; i++) {
        if (strcmp(f->landed[i], s->statement_id) == 0) {
            /* The real client's rule: posted before (or found by read-back) = POSTED again. */
            r->outcome = MLC_POST_POSTED;
            r->settled_by_readback = 1;
            snprintf(r->entry_id, sizeof(r->entry_id), "E%zu", i + 1);
            r->entry_number = (long)i + 1;
            return MLC_OK;
        }
    }
    assert_int_equal(mlc_statement_format(s, &f->sent), MLC_OK);
    switch (o) {
    case FAKE_POST:
    case FAKE_LOST_LANDED:
        assert_true(f->n_landed < FAKE_MAX);
        snprintf(f->landed[f->n_landed++], MLC_POST_ID_MAX + 1, "%s", s->statement_id);
        assert_int_equal(mlc_statement_format(s, &f->ledger), MLC_OK);
        if (o == FAKE_LOST_LANDED) {
            r->outcome = MLC_POST_RETRY_LATER;
            snprintf(r->reason, sizeof(r->reason), "the answer was lost");
        } else {
            r->outcome = MLC_POST_POSTED;
            snprintf(r->entry_id, sizeof(r->entry_id), "E%zu", f->n_landed);
            r->entry_number = (long)f->n_landed;
        }
        return MLC_OK;
    case FAKE_NOT_LANDED:
        r->outcome = MLC_POST_NOT_LANDED;
        r->settled_by_readback = 1;
        return MLC_OK;
    case FAKE_HELD_LINE2:
        r->outcome = MLC_POST_HELD;
        r->held_line = 1;
        snprintf(r->reason, sizeof(r->reason), "line 2 refused by a check");
        return MLC_OK;
    case FAKE_CRASH:
        return MLC_ERR_CANCELLED;
    }
    return MLC_ERR_INTERNAL;
}

FX void fake_init(struct fake *f)
{
    memset(f, 0, sizeof(*f));
    mlc_buf_init(&f->ledger, 1 << 20);
    mlc_buf_init(&f->sent, 1 << 20);
}

FX void fake_free(struct fake *f)
{
    mlc_buf_free(&f->ledger);
    mlc_buf_free(&f->sent);
}

/* How many times a Notes marker ("plaid:tx1 " / "plaid-reversal:tx1 ") is in the ledger. */
FX int ledger_count(const struct fake *f, const char *marker)
{
    int n = 0;
    const char *p = f->ledger.data;
    size_t ml = strlen(marker);
    while (p && (p = strstr(p, marker)) != NULL) {
        if (p == f->ledger.data || p[-1] == ' ')
            n++;
        p += ml;
    }
    return n;
}

FX int run_engine(struct efx *f, struct fake *fk, int dry, struct mlc_engine_report *rep)
{
    struct mlc_poster poster = { fk, fake_post };
    struct mlc_engine_opts o = { .now_ms = NOW_MS, .dry_run = dry, .poster = &poster };
    mlc_engine_report_init(rep);
    return mlc_engine_run(f->st, &o, rep);
}
#endif
