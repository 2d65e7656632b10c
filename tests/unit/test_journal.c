#include "mlc_test_util.h"
#include "mlc_alloc.h"
#include "mlc_err.h"
#include "mlc_journal.h"
#include "mlc_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fx {
    char dir[512];
    struct mlc_store *st;
    struct mlc_txn *txn;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "%s", mlc_test_tmpdir("journal"));
    assert_int_equal(mlc_store_open(&f->st, f->dir, NULL), MLC_OK);
    assert_int_equal(mlc_store_begin(f->st, 0, &f->txn), MLC_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    mlc_store_abort(f->txn);
    mlc_store_close(f->st);
    mlc_test_rmtree(f->dir);
    free(f);
    return 0;
}

static void make_txn(struct mlc_plaid_txn *t, const char *id, const char *amount, int pending,
                     const char *pending_id, uint8_t digest_byte)
{
    memset(t, 0, sizeof(*t));
    snprintf(t->transaction_id, sizeof(t->transaction_id), "%s", id);
    snprintf(t->account_id, sizeof(t->account_id), "acc1");
    snprintf(t->pending_transaction_id, sizeof(t->pending_transaction_id), "%s",
             pending_id ? pending_id : "");
    t->pending = pending;
    assert_int_equal(mlc_amount_parse(amount, strlen(amount), &t->amount), MLC_OK);
    snprintf(t->currency, sizeof(t->currency), "EUR");
    t->currency_is_iso = 1;
    snprintf(t->date, sizeof(t->date), "2026-03-01");
    snprintf(t->name, sizeof(t->name), "Coffee %s", id);
    snprintf(t->merchant_name, sizeof(t->merchant_name), "Bean Bar");
    snprintf(t->category, sizeof(t->category), "FOOD_AND_DRINK");
    t->payment_channel = MLC_CHANNEL_IN_STORE;
    memset(t->raw_sha256, digest_byte, sizeof(t->raw_sha256));
}

static struct mlc_journal_txn get(struct fx *f, const char *id)
{
    struct mlc_journal_txn j;
    assert_int_equal(mlc_journal_txn_get(f->txn, "acc1", id, &j), MLC_OK);
    return j;
}

static int count_cb(void *ctx, const struct mlc_journal_txn *t)
{
    (void)t;
    (*(int *)ctx)++;
    return 0;
}

static int count_txns(struct fx *f)
{
    int n = 0;
    assert_int_equal(mlc_journal_txn_each(f->txn, NULL, count_cb, &n), MLC_OK);
    return n;
}

static int count_undo_cb(void *ctx, const void *k, size_t kl, const void *v, size_t vl)
{
    (void)k, (void)kl, (void)v, (void)vl;
    (*(int *)ctx)++;
    return 0;
}

static int count_undo(struct fx *f)
{
    int n = 0;
    assert_int_equal(mlc_store_each(f->txn, MLC_DB_STATE, "plaid.undo.", 11, count_undo_cb, &n),
                     MLC_OK);
    return n;
}

/* The same record twice leaves one record, unchanged: replayed pages cannot duplicate. */
static void apply_is_idempotent(void **state)
{
    struct fx *f = *state;
    struct mlc_plaid_txn t;
    int changed = -1;
    make_txn(&t, "t1", "4.50", 0, NULL, 1);
    assert_int_equal(mlc_journal_txn_apply(f->txn, "item1", MLC_SYNC_ADDED, &t, 1000, 0, &changed),
                     MLC_OK);
    assert_int_equal(changed, 1);
    assert_int_equal(mlc_journal_txn_apply(f->txn, "item1", MLC_SYNC_ADDED, &t, 2000, 0, &changed),
                     MLC_OK);
    assert_int_equal(changed, 0);
    assert_int_equal(count_txns(f), 1);
    struct mlc_journal_txn j = get(f, "t1");
    assert_int_equal(j.state, MLC_TXN_SETTLED);
    assert_int_equal(j.revision, 1);
    assert_int_equal(j.updated_ms, 1000);
    assert_string_equal(j.amount, "4.5");
    assert_string_equal(j.currency, "EUR");
    assert_string_equal(j.merchant, "Bean Bar");
    assert_string_equal(j.item_id, "item1");
    assert_int_equal(strlen(j.digest), 64);
}

/* Pending -> posted: the pending one is removed (kept), the posted one links back to it. A posted
 * one changed later is MODIFIED (the ledger needs a correction), with the amount exact. */
static void pending_posted_modified_removed(void **state)
{
    struct fx *f = *state;
    struct mlc_plaid_txn t;
    struct mlc_plaid_removed r = { "p1", "acc1" };
    make_txn(&t, "p1", "10.00", 1, NULL, 1);
    assert_int_equal(mlc_journal_txn_apply(f->txn, "i", MLC_SYNC_ADDED, &t, 1, 0, NULL), MLC_OK);
    assert_int_equal(get(f, "p1").state, MLC_TXN_PENDING);
    make_txn(&t, "s1", "12.000000001", 0, "p1", 2);   /* tip added: amount differs, exactly */
    assert_int_equal(mlc_journal_txn_apply(f->txn, "i", MLC_SYNC_ADDED, &t, 2, 0, NULL), MLC_OK);
    int changed = 0;
    assert_int_equal(mlc_journal_txn_remove(f->txn, "i", &r, 3, 0, &changed), MLC_OK);
    assert_int_equal(changed, 1);
    assert_int_equal(get(f, "p1").state, MLC_TXN_REMOVED);
    struct mlc_journal_txn s = get(f, "s1");
    assert_int_equal(s.state, MLC_TXN_SETTLED);
    assert_string_equal(s.pending_transaction_id, "p1");
    assert_string_equal(s.amount, "12.000000001");
    make_txn(&t, "s1", "11.00", 0, "p1", 3);
    assert_int_equal(mlc_journal_txn_apply(f->txn, "i", MLC_SYNC_MODIFIED, &t, 4, 0, NULL), MLC_OK);
    s = get(f, "s1");
    assert_int_equal(s.state, MLC_TXN_MODIFIED);
    assert_int_equal(s.revision, 2);
    assert_string_equal(s.amount, "11");
    /* removing twice is harmless; an unknown id is ignored; a removed one can be restored */
    assert_int_equal(mlc_journal_txn_remove(f->txn, "i", &r, 5, 0, &changed), MLC_OK);
    assert_int_equal(changed, 0);
    struct mlc_plaid_removed unknown = { "nope", "acc1" };
    assert_int_equal(mlc_journal_txn_remove(f->txn, "i", &unknown, 5, 0, &changed), MLC_OK);
    assert_int_equal(changed, 0);
    make_txn(&t, "p1", "10.00", 1, NULL, 1);
    assert_int_equal(mlc_journal_txn_apply(f->txn, "i", MLC_SYNC_ADDED, &t, 6, 0, &changed), MLC_OK);
    assert_int_equal(changed, 1);
    assert_int_equal(get(f, "p1").state, MLC_TXN_PENDING);
    assert_int_equal(count_txns(f), 2);
}

/* A removal without account_id finds the transaction by its id. */
static void remove_without_account_finds_the_record(void **state)
{
    struct fx *f = *state;
    struct mlc_plaid_txn t;
    make_txn(&t, "x9", "1", 0, NULL, 1);
    assert_int_equal(mlc_journal_txn_apply(f->txn, "i", MLC_SYNC_ADDED, &t, 1, 0, NULL), MLC_OK);
    struct mlc_plaid_removed r = { "x9", "" };
    int changed = 0;
    assert_int_equal(mlc_journal_txn_remove(f->txn, "i", &r, 2, 0, &changed), MLC_OK);
    assert_int_equal(changed, 1);
    assert_int_equal(get(f, "x9").state, MLC_TXN_REMOVED);
}

/* The undo log puts back exactly what was there before the update: new records vanish, changed
 * and removed ones return to their old version, and the log empties. */
static void undo_rollback_restores_the_state_before_the_update(void **state)
{
    struct fx *f = *state;
    struct mlc_plaid_txn t;
    make_txn(&t, "a", "1.00", 0, NULL, 1);
    assert_int_equal(mlc_journal_txn_apply(f->txn, "i", MLC_SYNC_ADDED, &t, 1, 0, NULL), MLC_OK);
    make_txn(&t, "b", "2.00", 1, NULL, 1);
    assert_int_equal(mlc_journal_txn_apply(f->txn, "i", MLC_SYNC_ADDED, &t, 1, 0, NULL), MLC_OK);
    struct mlc_journal_txn a0 = get(f, "a"), b0 = get(f, "b");
    /* an unfinished update: modify a twice, remove b, add c */
    make_txn(&t, "a", "3.00", 0, NULL, 2);
    assert_int_equal(mlc_journal_txn_apply(f->txn, "i", MLC_SYNC_MODIFIED, &t, 2, 1, NULL), MLC_OK);
    make_txn(&t, "a", "4.00", 0, NULL, 3);
    assert_int_equal(mlc_journal_txn_apply(f->txn, "i", MLC_SYNC_MODIFIED, &t, 3, 1, NULL), MLC_OK);
    struct mlc_plaid_removed r = { "b", "acc1" };
    assert_int_equal(mlc_journal_txn_remove(f->txn, "i", &r, 3, 1, NULL), MLC_OK);
    make_txn(&t, "c", "5.00", 0, NULL, 1);
    assert_int_equal(mlc_journal_txn_apply(f->txn, "i", MLC_SYNC_ADDED, &t, 3, 1, NULL), MLC_OK);
    assert_int_equal(count_undo(f), 3);  /* one entry per record, the oldest version */
    size_t restored = 0;
    assert_int_equal(mlc_journal_undo_rollback(f->txn, "i", &restored), MLC_OK);
    assert_int_equal(restored, 3);
    assert_int_equal(count_undo(f), 0);
    assert_int_equal(count_txns(f), 2);
    struct mlc_journal_txn a1 = get(f, "a"), b1 = get(f, "b"), c;
    assert_string_equal(a1.amount, a0.amount);
    assert_int_equal(a1.state, a0.state);
    assert_int_equal(a1.revision, a0.revision);
    assert_int_equal(b1.state, b0.state);
    assert_int_equal(mlc_journal_txn_get(f->txn, "acc1", "c", &c), MLC_ERR_NOTFOUND);
    /* clear forgets without restoring; another item's log is left alone */
    make_txn(&t, "d", "6.00", 0, NULL, 1);
    assert_int_equal(mlc_journal_txn_apply(f->txn, "i", MLC_SYNC_ADDED, &t, 4, 1, NULL), MLC_OK);
    make_txn(&t, "e", "7.00", 0, NULL, 1);
    assert_int_equal(mlc_journal_txn_apply(f->txn, "other", MLC_SYNC_ADDED, &t, 4, 1, NULL),
                     MLC_OK);
    assert_int_equal(mlc_journal_undo_clear(f->txn, "i"), MLC_OK);
    assert_int_equal(count_undo(f), 1);
    assert_int_equal(get(f, "d").revision, 1);
}

static void item_round_trip_with_long_cursors(void **state)
{
    struct fx *f = *state;
    struct mlc_journal_item it, back;
    memset(&it, 0, sizeof(it));
    snprintf(it.item_id, sizeof(it.item_id), "ITEMmixedCase123");
    snprintf(it.institution_name, sizeof(it.institution_name), "Tulip Bank");
    it.state = MLC_ITEM_NEEDS_REAUTH;
    memset(it.cursor, 'c', MLC_SYNC_CURSOR_MAX);
    memset(it.start_cursor, 's', 300);
    it.update_open = 1;
    it.consent_expires_ms = 1790000000000LL;
    it.updates_done = 7;
    assert_int_equal(mlc_journal_item_put(f->txn, &it), MLC_OK);
    assert_int_equal(mlc_journal_item_get(f->txn, "ITEMmixedCase123", &back), MLC_OK);
    assert_memory_equal(&it, &back, sizeof(it));
    assert_int_equal(mlc_journal_item_get(f->txn, "nope", &back), MLC_ERR_NOTFOUND);
}

/* Records written by an older agent (fewer fields) read with defaults; by a newer one (more
 * fields) read with the extra ignored; garbage is refused, never read past its end. */
static void record_format_grows_both_ways(void **state)
{
    struct fx *f = *state;
    const unsigned char older[] = { 1, 0, 2, 'i', 'x', 0, 3, 'i', 'n', 's' };
    assert_int_equal(mlc_store_put(f->txn, MLC_DB_ITEMS, "ix", 2, older, sizeof(older)), MLC_OK);
    struct mlc_journal_item it;
    assert_int_equal(mlc_journal_item_get(f->txn, "ix", &it), MLC_OK);
    assert_string_equal(it.institution_id, "ins");
    assert_int_equal(it.state, MLC_ITEM_OK);
    assert_string_equal(it.cursor, "");
    /* newer: a whole record plus an unknown trailing field */
    memset(&it, 0, sizeof(it));
    snprintf(it.item_id, sizeof(it.item_id), "iy");
    it.updates_done = 3;
    assert_int_equal(mlc_journal_item_put(f->txn, &it), MLC_OK);
    const void *v;
    size_t vl;
    assert_int_equal(mlc_store_get(f->txn, MLC_DB_ITEMS, "iy", 2, &v, &vl), MLC_OK);
    unsigned char buf[8192];
    memcpy(buf, v, vl);
    memcpy(buf + vl, "\0\3new", 5);
    assert_int_equal(mlc_store_put(f->txn, MLC_DB_ITEMS, "iy", 2, buf, vl + 5), MLC_OK);
    assert_int_equal(mlc_journal_item_get(f->txn, "iy", &it), MLC_OK);
    assert_int_equal(it.updates_done, 3);
    const unsigned char bad[] = { 1, 0xff, 0xff, 'x' };
    assert_int_equal(mlc_store_put(f->txn, MLC_DB_ITEMS, "iz", 2, bad, sizeof(bad)), MLC_OK);
    assert_int_equal(mlc_journal_item_get(f->txn, "iz", &it), MLC_ERR_DATA);
    const unsigned char wrong_version[] = { 9, 0, 0 };
    assert_int_equal(mlc_store_put(f->txn, MLC_DB_ITEMS, "iw", 2, wrong_version, 3), MLC_OK);
    assert_int_equal(mlc_journal_item_get(f->txn, "iw", &it), MLC_ERR_DATA);
}

static int alert_cb(void *ctx, const struct mlc_journal_alert *a)
{
    struct mlc_journal_alert *out = ctx;
    if (!out[0].key[0])
        out[0] = *a;
    else
        out[1] = *a;
    return 0;
}

/* Alerts: raising again keeps the first time (duplicate webhooks are harmless); clearing works;
 * other modules' alerts in the same database are not listed. */
static void alerts_are_deduplicated(void **state)
{
    struct fx *f = *state;
    assert_int_equal(mlc_journal_alert_raise(f->txn, "needs_reauth", "it1", "log in again", 100),
                     MLC_OK);
    assert_int_equal(mlc_journal_alert_raise(f->txn, "needs_reauth", "it1", "log in again!", 200),
                     MLC_OK);
    assert_int_equal(mlc_store_put(f->txn, MLC_DB_ALERTS, "exact.x", 7, "z", 1), MLC_OK);
    struct mlc_journal_alert got[2];
    memset(got, 0, sizeof(got));
    assert_int_equal(mlc_journal_alert_each(f->txn, alert_cb, got), MLC_OK);
    assert_string_equal(got[0].kind, "needs_reauth");
    assert_string_equal(got[0].item_id, "it1");
    assert_int_equal(got[0].raised_ms, 100);
    assert_string_equal(got[0].message, "log in again!");
    assert_string_equal(got[1].key, "");
    assert_int_equal(mlc_journal_alert_clear(f->txn, "needs_reauth", "it1"), MLC_OK);
    assert_int_equal(mlc_journal_alert_clear(f->txn, "needs_reauth", "it1"), MLC_OK);
    memset(got, 0, sizeof(got));
    assert_int_equal(mlc_journal_alert_each(f->txn, alert_cb, got), MLC_OK);
    assert_string_equal(got[0].key, "");
}

static void account_upsert_keeps_numbers_and_flags_new(void **state)
{
    struct fx *f = *state;
    struct mlc_plaid_account pa;
    memset(&pa, 0, sizeof(pa));
    snprintf(pa.account_id, sizeof(pa.account_id), "acc1");
    snprintf(pa.name, sizeof(pa.name), "Checking");
    snprintf(pa.mask, sizeof(pa.mask), "1234");
    snprintf(pa.currency, sizeof(pa.currency), "USD");
    pa.has_current = 1;
    assert_int_equal(mlc_amount_parse("100.5", 5, &pa.current), MLC_OK);
    assert_int_equal(mlc_journal_account_upsert(f->txn, "i", &pa, 10, 1, 1), MLC_OK);
    struct mlc_journal_account a;
    assert_int_equal(mlc_journal_account_get(f->txn, "acc1", &a), MLC_OK);
    assert_string_equal(a.current, "100.50");
    assert_string_equal(a.available, "");
    assert_int_equal(a.balance_live, 1);
    assert_int_equal(a.unmapped_new, 1);
    snprintf(a.iban, sizeof(a.iban), "NL91ABNA0417164300");
    assert_int_equal(mlc_journal_account_put(f->txn, &a), MLC_OK);
    pa.has_current = 0;
    assert_int_equal(mlc_journal_account_upsert(f->txn, "i", &pa, 20, 0, 0), MLC_OK);
    assert_int_equal(mlc_journal_account_get(f->txn, "acc1", &a), MLC_OK);
    assert_string_equal(a.iban, "NL91ABNA0417164300");  /* numbers survive a balance refresh */
    assert_string_equal(a.current, "");
    assert_int_equal(a.balance_ms, 20);
    assert_int_equal(a.unmapped_new, 1);                /* only a mapping clears it */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(apply_is_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(pending_posted_modified_removed, setup, teardown),
        cmocka_unit_test_setup_teardown(remove_without_account_finds_the_record, setup, teardown),
        cmocka_unit_test_setup_teardown(undo_rollback_restores_the_state_before_the_update, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(item_round_trip_with_long_cursors, setup, teardown),
        cmocka_unit_test_setup_teardown(record_format_grows_both_ways, setup, teardown),
        cmocka_unit_test_setup_teardown(alerts_are_deduplicated, setup, teardown),
        cmocka_unit_test_setup_teardown(account_upsert_keeps_numbers_and_flags_new, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
