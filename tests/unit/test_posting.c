/* Statement building: grouping per financial period, line caps and size caps that split a group,
 * date order, the first opening balance from Plaid's current (depository and credit signs),
 * closed periods (held, or moved to the first open period), lines whose G/L fails a check held,
 * pending never planned, and the records surviving a round trip through the store. */
#include "engine_fixture.h"

static void plan(struct efx *f, const char *account, const struct mlc_plan_opts *o,
                 struct mlc_plan_account *p)
{
    struct mlc_journal_account a;
    struct mlc_txn *txn = NULL;
    assert_int_equal(mlc_store_begin(f->st, 1, &txn), MLC_OK);
    assert_int_equal(mlc_journal_account_get(txn, account, &a), MLC_OK);
    assert_int_equal(mlc_posting_plan(f->st, txn, &a, o, p), MLC_OK);
    mlc_store_abort(txn);
}

static void groups_by_period_in_date_order(void **state)
{
    struct efx *f = *state;
    add_account(f, "acc1", "100.00", "depository", "EUR");
    map_account(f, "acc1", "BNK", GL_SUSP, NULL);
    put_txn(f, "m3", "2026-03-10", "1.00");
    put_txn(f, "f2", "2026-02-20", "2.00");
    put_txn(f, "m1", "2026-03-01", "3.00");
    put_txn(f, "f1", "2026-02-01", "4.00");
    put_txn_full(f, "acc1", "pend", "2026-03-02", "9.00", 1, NULL, NULL, NULL, NULL,
                 MLC_SYNC_ADDED);
    struct mlc_plan_account p;
    plan(f, "acc1", NULL, &p);
    assert_int_equal(p.n_statements, 2);
    assert_int_equal(p.statements[0].period, 2);
    assert_int_equal(p.statements[0].n_lines, 2);
    assert_string_equal(p.statements[0].lines[0].transaction_id, "f1");
    assert_string_equal(p.statements[0].lines[1].transaction_id, "f2");
    assert_int_equal(p.statements[1].period, 3);
    assert_string_equal(p.statements[1].lines[0].transaction_id, "m1");
    assert_string_equal(p.statements[1].lines[1].transaction_id, "m3");
    assert_int_equal(p.pending.n, 1);
    assert_int_equal(p.lines, 4);
    /* Effect: -(1+2+3+4) in Exact's sign. */
    char eff[MLC_AMOUNT_STRMAX];
    mlc_amount_format(p.effect, 2, eff, sizeof(eff));
    assert_string_equal(eff, "-10.00");
    /* Opening = 100.00 - (-10.00) = 110.00; the chain carries into the March statement. */
    assert_string_equal(p.statements[0].opening, "110.00");
    assert_string_equal(p.statements[0].closing, "104.00");
    assert_string_equal(p.statements[1].opening, "104.00");
    assert_string_equal(p.statements[1].closing, "100.00");
    mlc_plan_account_free(&p);
}

static void caps_split_a_period(void **state)
{
    struct efx *f = *state;
    add_account(f, "acc1", "0", "depository", "EUR");
    map_account(f, "acc1", "BNK", GL_SUSP, NULL);
    char id[16], date[16];
    for (int i = 0; i < 7; i++) {
        snprintf(id, sizeof(id), "t%d", i);
        snprintf(date, sizeof(date), "2026-04-%02d", 10 - i);
        put_txn(f, id, date, "1.00");
    }
    struct mlc_plan_opts o = { .lines_max = 3 };
    struct mlc_plan_account p;
    plan(f, "acc1", &o, &p);
    assert_int_equal(p.n_statements, 3);
    assert_int_equal(p.statements[0].n_lines, 3);
    assert_int_equal(p.statements[1].n_lines, 3);
    assert_int_equal(p.statements[2].n_lines, 1);
    assert_string_equal(p.statements[0].lines[0].date, "2026-04-04");
    assert_string_equal(p.statements[2].lines[0].date, "2026-04-10");
    assert_string_not_equal(p.statements[0].id, p.statements[1].id);
    assert_string_equal(p.statements[1].opening, p.statements[0].closing);
    assert_string_equal(p.statements[2].opening, p.statements[1].closing);
    assert_string_equal(p.statements[2].closing, "0.00");
    mlc_plan_account_free(&p);
    /* A byte cap splits too (each line is estimated at well over 200 bytes). */
    struct mlc_plan_opts b = { .bytes_max = 700 };
    plan(f, "acc1", &b, &p);
    assert_true(p.n_statements >= 3);
    size_t total = 0;
    for (size_t i = 0; i < p.n_statements; i++) {
        assert_true(p.statements[i].n_lines >= 1 && p.statements[i].n_lines <= 3);
        total += p.statements[i].n_lines;
    }
    assert_int_equal(total, 7);
    mlc_plan_account_free(&p);
}

static void credit_card_sign(void **state)
{
    struct efx *f = *state;
    /* Plaid: 250.00 owed on a card; Exact's balance is -250.00. A 50.00 purchase since. */
    add_account(f, "card", "250.00", "credit", "EUR");
    map_account(f, "card", "BNK", GL_SUSP, NULL);
    put_txn_full(f, "card", "c1", "2026-05-03", "50.00", 0, NULL, NULL, NULL, NULL,
                 MLC_SYNC_ADDED);
    struct mlc_plan_account p;
    plan(f, "card", NULL, &p);
    assert_int_equal(p.n_statements, 1);
    assert_string_equal(p.statements[0].opening, "-200.00");
    assert_string_equal(p.statements[0].closing, "-250.00");
    mlc_plan_account_free(&p);
}

static void closed_period_held_or_moved(void **state)
{
    struct efx *f = *state;
    add_account(f, "acc1", "10.00", "depository", "EUR");
    map_account(f, "acc1", "BNK", GL_SUSP, NULL);
    period_close(f->st, "BNK", 2026, 1);
    period_close(f->st, "BNK", 2026, 2);
    put_txn(f, "jan", "2026-01-15", "1.00");
    put_txn(f, "mar", "2026-03-15", "1.00");
    struct mlc_plan_account p;
    plan(f, "acc1", NULL, &p);
    assert_int_equal(p.n_statements, 1);
    assert_int_equal(p.statements[0].n_lines, 1);
    assert_string_equal(p.statements[0].lines[0].transaction_id, "mar");
    assert_int_equal(p.held.n, 1);
    assert_string_equal(p.held.v[0].transaction_id, "jan");
    assert_non_null(strstr(p.held.v[0].text, "closed for journal BNK"));
    mlc_plan_account_free(&p);
    struct mlc_plan_opts o = { .closed_policy = MLC_CLOSED_FIRST_OPEN };
    plan(f, "acc1", &o, &p);
    assert_int_equal(p.held.n, 0);
    assert_int_equal(p.n_statements, 1);  /* both in March, the first open period */
    assert_int_equal(p.statements[0].n_lines, 2);
    assert_string_equal(p.statements[0].lines[0].date, "2026-03-01");
    assert_string_equal(p.statements[0].lines[0].moved_from, "2026-01-15");
    mlc_plan_account_free(&p);
}

static void no_period_and_gl_checks_hold(void **state)
{
    struct efx *f = *state;
    add_account(f, "acc1", "10.00", "depository", "EUR");
    map_account(f, "acc1", "BNK", GL_SUSP, NULL);
    put_txn(f, "y27", "2027-01-15", "1.00");  /* no financial year 2027 */
    put_txn(f, "sub", "2026-03-01", "1.005"); /* below EUR's cent: not rounded, held */
    put_txn_full(f, "acc1", "blk", "2026-03-01", "1.00", 0, NULL, "Blocked thing", NULL, NULL,
                 MLC_SYNC_ADDED);
    put_txn_full(f, "acc1", "ccr", "2026-03-01", "1.00", 0, NULL, "Needs cc", NULL, NULL,
                 MLC_SYNC_ADDED);
    struct mlc_rule r;
    struct mlc_txn *txn = NULL;
    assert_int_equal(mlc_store_begin(f->st, 0, &txn), MLC_OK);
    memset(&r, 0, sizeof(r));
    r.order = 1;
    snprintf(r.name, sizeof(r.name), "to-blocked");
    snprintf(r.name_contains, sizeof(r.name_contains), "blocked");
    snprintf(r.gl, sizeof(r.gl), GL_BLOCKED);
    assert_int_equal(mlc_rules_put(txn, &r, NOW_MS), MLC_OK);
    r.order = 2;
    snprintf(r.name, sizeof(r.name), "to-ccreq");
    snprintf(r.name_contains, sizeof(r.name_contains), "needs cc");
    snprintf(r.gl, sizeof(r.gl), GL_CCREQ);
    assert_int_equal(mlc_rules_put(txn, &r, NOW_MS), MLC_OK);
    assert_int_equal(mlc_store_commit(txn), MLC_OK);
    struct mlc_plan_account p;
    plan(f, "acc1", NULL, &p);
    assert_int_equal(p.n_statements, 0);
    assert_int_equal(p.held.n, 4);
    for (size_t i = 0; i < p.held.n; i++) {
        const char *t = p.held.v[i].text;
        if (strcmp(p.held.v[i].transaction_id, "y27") == 0)
            assert_non_null(strstr(t, "no financial period"));
        else if (strcmp(p.held.v[i].transaction_id, "sub") == 0)
            assert_non_null(strstr(t, "more decimals than EUR allows"));
        else if (strcmp(p.held.v[i].transaction_id, "blk") == 0)
            assert_non_null(strstr(t, "is blocked"));
        else
            assert_non_null(strstr(t, "needs a cost center"));
    }
    mlc_plan_account_free(&p);
}

static void no_offset_gl_holds_uncoded(void **state)
{
    struct efx *f = *state;
    add_account(f, "acc1", "10.00", "depository", "EUR");
    map_account(f, "acc1", "BNK", NULL, NULL);
    put_txn(f, "t1", "2026-03-01", "1.00");
    struct mlc_plan_account p;
    plan(f, "acc1", NULL, &p);
    assert_int_equal(p.n_statements, 0);
    assert_int_equal(p.held.n, 1);
    assert_non_null(strstr(p.held.v[0].text, "no coding rule matches"));
    mlc_plan_account_free(&p);
}

static void since_leaves_older_alone(void **state)
{
    struct efx *f = *state;
    add_account(f, "acc1", "10.00", "depository", "EUR");
    map_account(f, "acc1", "BNK", GL_SUSP, NULL);
    put_txn(f, "old", "2026-02-01", "1.00");
    put_txn(f, "new", "2026-03-01", "1.00");
    struct mlc_plan_opts o = { .since = "2026-02-15" };
    struct mlc_plan_account p;
    plan(f, "acc1", &o, &p);
    assert_int_equal(p.n_statements, 1);
    assert_int_equal(p.statements[0].n_lines, 1);
    assert_string_equal(p.statements[0].lines[0].transaction_id, "new");
    mlc_plan_account_free(&p);
}

static void records_round_trip(void **state)
{
    struct efx *f = *state;
    struct mlc_txn *txn = NULL;
    assert_int_equal(mlc_store_begin(f->st, 0, &txn), MLC_OK);
    struct mlc_posting p, q;
    memset(&p, 0, sizeof(p));
    snprintf(p.account_id, sizeof(p.account_id), "acc1");
    snprintf(p.transaction_id, sizeof(p.transaction_id), "tx\"1");
    p.state = MLC_PS_POSTED;
    p.in_ledger = 1;
    p.line = 7;
    snprintf(p.entry_id, sizeof(p.entry_id), "E-1");
    snprintf(p.led_amount, sizeof(p.led_amount), "-1.50");
    snprintf(p.led_name, sizeof(p.led_name), "Caf\xc3\xa9 \"x\"");
    assert_int_equal(mlc_posting_put(txn, &p), MLC_OK);
    assert_int_equal(mlc_posting_get(txn, "acc1", "tx\"1", &q), MLC_OK);
    assert_int_equal(q.state, MLC_PS_POSTED);
    assert_int_equal(q.line, 7);
    assert_string_equal(q.led_name, p.led_name);
    assert_int_equal(mlc_posting_get(txn, "acc2", "tx\"1", &q), MLC_ERR_NOTFOUND);
    struct mlc_plan_line l = { .reversal = 1 };
    snprintf(l.transaction_id, sizeof(l.transaction_id), "tx1");
    snprintf(l.amount, sizeof(l.amount), "3.00");
    snprintf(l.date, sizeof(l.date), "2026-03-01");
    struct mlc_plan_statement s = { .division = 1, .year = 2026, .period = 3, .has_balance = 1,
                                    .lines = &l, .n_lines = 1 };
    snprintf(s.id, sizeof(s.id), "1.acc1");
    snprintf(s.account_id, sizeof(s.account_id), "acc1");
    snprintf(s.journal, sizeof(s.journal), "BNK");
    snprintf(s.opening, sizeof(s.opening), "1.00");
    snprintf(s.closing, sizeof(s.closing), "4.00");
    assert_int_equal(mlc_posting_statement_put(txn, &s), MLC_OK);
    struct mlc_plan_statement t;
    assert_int_equal(mlc_posting_statement_get(txn, "1.acc1", &t), MLC_OK);
    assert_int_equal(t.n_lines, 1);
    assert_int_equal(t.lines[0].reversal, 1);
    assert_string_equal(t.closing, "4.00");
    mlc_plan_statement_free(&t);
    assert_int_equal(mlc_posting_statement_del(txn, "1.acc1"), MLC_OK);
    assert_int_equal(mlc_posting_statement_get(txn, "1.acc1", &t), MLC_ERR_NOTFOUND);
    mlc_store_abort(txn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(groups_by_period_in_date_order, efx_setup, efx_teardown),
        cmocka_unit_test_setup_teardown(caps_split_a_period, efx_setup, efx_teardown),
        cmocka_unit_test_setup_teardown(credit_card_sign, efx_setup, efx_teardown),
        cmocka_unit_test_setup_teardown(closed_period_held_or_moved, efx_setup, efx_teardown),
        cmocka_unit_test_setup_teardown(no_period_and_gl_checks_hold, efx_setup, efx_teardown),
        cmocka_unit_test_setup_teardown(no_offset_gl_holds_uncoded, efx_setup, efx_teardown),
        cmocka_unit_test_setup_teardown(since_leaves_older_alone, efx_setup, efx_teardown),
        cmocka_unit_test_setup_teardown(records_round_trip, efx_setup, efx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
