/* The sync engine's cycle with a fake poster: the posting state machine (ready -> in flight ->
 * posted; not landed -> ready again; held), exactly once across lost answers and a crash between
 * "in flight" and the POST, pending never posted and the pending->settled link, changes after
 * posting (reversal + corrected line; removal; description only), dry run == real run, balance
 * chaining across runs, and the audit trail of it all. */
#include "engine_fixture.h"

static int count_audit(struct efx *f, enum mlc_audit_type type, const char *tx)
{
    struct mlc_buf out;
    mlc_buf_init(&out, 1 << 22);
    assert_int_equal(mlc_audit_export(f->st, 0, INT64_MAX, MLC_AUDIT_JSON, &out, NULL), MLC_OK);
    char pat[300];
    snprintf(pat, sizeof(pat), "\"event\":\"%s\"", mlc_audit_type_name(type));
    int n = 0;
    /* Records are objects in one array: count those holding both the event and the id. */
    for (char *p = out.data; p && (p = strstr(p, pat)) != NULL; p += strlen(pat)) {
        char *start = p, *end = strchr(p, '}');
        while (start > out.data && *start != '{')
            start--;
        if (!tx) {
            n++;
            continue;
        }
        char idpat[300];
        snprintf(idpat, sizeof(idpat), "\"%s\"", tx);
        char *hit = strstr(start, idpat);
        if (hit && end && hit < end)
            n++;
    }
    mlc_buf_free(&out);
    return n;
}

static void two_settled(struct efx *f)
{
    add_account(f, "acc1", "1000.00", "depository", "EUR");
    map_account(f, "acc1", "BNK", GL_SUSP, NULL);
    put_txn(f, "tx1", "2026-03-05", "12.50");
    put_txn(f, "tx2", "2026-03-02", "-100.00");
}

static void posts_once_and_marks_posted(void **state)
{
    struct efx *f = *state;
    struct fake fk;
    struct mlc_engine_report rep;
    fake_init(&fk);
    two_settled(f);
    assert_int_equal(run_engine(f, &fk, 0, &rep), MLC_OK);
    assert_int_equal(rep.statements_posted, 1);
    assert_int_equal(rep.lines_posted, 2);
    assert_int_equal(ledger_count(&fk, "plaid:tx1 "), 1);
    assert_int_equal(ledger_count(&fk, "plaid:tx2 "), 1);
    /* Date order inside the statement: tx2 (03-02) before tx1 (03-05). */
    assert_true(strstr(fk.ledger.data, "plaid:tx2") < strstr(fk.ledger.data, "plaid:tx1"));
    /* Exact's sign: Plaid 12.50 out -> -12.50. */
    assert_non_null(strstr(fk.ledger.data, "plaid:tx1 -12.50"));
    struct mlc_posting p = get_posting(f, "acc1", "tx1");
    assert_int_equal(p.state, MLC_PS_POSTED);
    assert_string_equal(p.entry_id, "E1");
    assert_int_equal(p.line, 2);
    assert_int_equal(count_audit(f, MLC_AUDIT_POSTED, "tx1"), 1);
    assert_int_equal(count_audit(f, MLC_AUDIT_CODED, "tx1"), 1);
    mlc_engine_report_free(&rep);
    /* A second run posts nothing again. */
    assert_int_equal(run_engine(f, &fk, 0, &rep), MLC_OK);
    assert_int_equal(rep.statements_posted, 0);
    assert_int_equal(fk.calls, 1);
    mlc_engine_report_free(&rep);
    fake_free(&fk);
}

static void not_landed_goes_ready_then_posts(void **state)
{
    struct efx *f = *state;
    struct fake fk;
    struct mlc_engine_report rep;
    fake_init(&fk);
    fk.script[0] = FAKE_NOT_LANDED;
    two_settled(f);
    assert_int_equal(run_engine(f, &fk, 0, &rep), MLC_OK);
    assert_int_equal(rep.not_landed, 1);
    assert_int_equal(get_posting(f, "acc1", "tx1").state, MLC_PS_READY);
    assert_int_equal(ledger_count(&fk, "plaid:tx1 "), 0);
    mlc_engine_report_free(&rep);
    assert_int_equal(run_engine(f, &fk, 0, &rep), MLC_OK);
    assert_int_equal(rep.statements_posted, 1);
    assert_int_equal(get_posting(f, "acc1", "tx1").state, MLC_PS_POSTED);
    assert_int_equal(ledger_count(&fk, "plaid:tx1 "), 1);
    mlc_engine_report_free(&rep);
    fake_free(&fk);
}

static void lost_answer_settled_by_readback_never_twice(void **state)
{
    struct efx *f = *state;
    struct fake fk;
    struct mlc_engine_report rep;
    fake_init(&fk);
    fk.script[0] = FAKE_LOST_LANDED;
    two_settled(f);
    assert_int_equal(run_engine(f, &fk, 0, &rep), MLC_OK);
    assert_int_equal(rep.retry_later, 1);
    struct mlc_posting p = get_posting(f, "acc1", "tx1");
    assert_int_equal(p.state, MLC_PS_INFLIGHT);
    assert_true(p.statement[0] != '\0');
    mlc_engine_report_free(&rep);
    /* Dry run in between: reports the statement in flight, touches nothing. */
    assert_int_equal(run_engine(f, &fk, 1, &rep), MLC_OK);
    assert_non_null(strstr(rep.text.data, "in flight"));
    assert_int_equal(fk.calls, 1);
    mlc_engine_report_free(&rep);
    assert_int_equal(run_engine(f, &fk, 0, &rep), MLC_OK);
    assert_int_equal(rep.settled_inflight, 1);
    assert_int_equal(rep.statements_posted, 1);
    assert_int_equal(ledger_count(&fk, "plaid:tx1 "), 1);
    assert_int_equal(ledger_count(&fk, "plaid:tx2 "), 1);
    p = get_posting(f, "acc1", "tx1");
    assert_int_equal(p.state, MLC_PS_POSTED);
    assert_string_equal(p.entry_id, "E1");
    mlc_engine_report_free(&rep);
    fake_free(&fk);
}

static void crash_before_post_then_posts_once(void **state)
{
    struct efx *f = *state;
    struct fake fk;
    struct mlc_engine_report rep;
    fake_init(&fk);
    fk.script[0] = FAKE_CRASH;
    two_settled(f);
    assert_int_equal(run_engine(f, &fk, 0, &rep), MLC_OK);
    assert_int_equal(get_posting(f, "acc1", "tx2").state, MLC_PS_INFLIGHT);
    assert_int_equal(ledger_count(&fk, "plaid:tx2 "), 0);
    mlc_engine_report_free(&rep);
    assert_int_equal(run_engine(f, &fk, 0, &rep), MLC_OK);
    assert_int_equal(rep.settled_inflight, 1);
    assert_int_equal(ledger_count(&fk, "plaid:tx2 "), 1);
    assert_int_equal(get_posting(f, "acc1", "tx2").state, MLC_PS_POSTED);
    mlc_engine_report_free(&rep);
    /* And nothing more afterwards. */
    assert_int_equal(run_engine(f, &fk, 0, &rep), MLC_OK);
    assert_int_equal(ledger_count(&fk, "plaid:tx2 "), 1);
    mlc_engine_report_free(&rep);
    fake_free(&fk);
}

static void held_line_waits_others_ready(void **state)
{
    struct efx *f = *state;
    struct fake fk;
    struct mlc_engine_report rep;
    fake_init(&fk);
    fk.script[0] = FAKE_HELD_LINE2;
    two_settled(f);
    assert_int_equal(run_engine(f, &fk, 0, &rep), MLC_OK);
    /* Line 2 is tx1 (date order). */
    struct mlc_posting p = get_posting(f, "acc1", "tx1");
    assert_int_equal(p.state, MLC_PS_HELD);
    assert_string_equal(p.reason, "line 2 refused by a check");
    assert_int_equal(get_posting(f, "acc1", "tx2").state, MLC_PS_READY);
    assert_int_equal(count_audit(f, MLC_AUDIT_HELD, "tx1"), 1);
    mlc_engine_report_free(&rep);
    fake_free(&fk);
}

static void pending_never_posted_and_link(void **state)
{
    struct efx *f = *state;
    struct fake fk;
    struct mlc_engine_report rep;
    fake_init(&fk);
    add_account(f, "acc1", "500.00", "depository", "EUR");
    map_account(f, "acc1", "BNK", GL_SUSP, NULL);
    put_txn_full(f, "acc1", "pend1", "2026-03-03", "20.00", 1, NULL, "Cafe", NULL, NULL,
                 MLC_SYNC_ADDED);
    assert_int_equal(run_engine(f, &fk, 0, &rep), MLC_OK);
    assert_int_equal(rep.pending, 1);
    assert_int_equal(fk.calls, 0);
    assert_int_equal(get_posting(f, "acc1", "pend1").state, MLC_PS_SEEN);
    mlc_engine_report_free(&rep);
    /* It settles: Plaid removes the pending id and adds the posted one linked to it. */
    remove_txn(f, "acc1", "pend1");
    put_txn_full(f, "acc1", "post1", "2026-03-04", "22.00", 0, "pend1", "Cafe", NULL, NULL,
                 MLC_SYNC_ADDED);
    assert_int_equal(run_engine(f, &fk, 0, &rep), MLC_OK);
    assert_int_equal(rep.pending, 0);
    assert_int_equal(ledger_count(&fk, "plaid:post1 "), 1);
    assert_int_equal(ledger_count(&fk, "plaid:pend1 "), 0);
    assert_int_equal(ledger_count(&fk, "plaid-reversal:pend1 "), 0);
    assert_int_equal(rep.reversals_posted, 0);
    mlc_engine_report_free(&rep);
    fake_free(&fk);
}

static void modified_after_posting_reversal_and_correction(void **state)
{
    struct efx *f = *state;
    struct fake fk;
    struct mlc_engine_report rep;
    fake_init(&fk);
    two_settled(f);
    assert_int_equal(run_engine(f, &fk, 0, &rep), MLC_OK);
    mlc_engine_report_free(&rep);
    /* Plaid changes tx1's amount. */
    put_txn_full(f, "acc1", "tx1", "2026-03-05", "13.75", 0, NULL, NULL, NULL, NULL,
                 MLC_SYNC_MODIFIED);
    assert_int_equal(run_engine(f, &fk, 0, &rep), MLC_OK);
    assert_int_equal(rep.reversals_posted, 1);
    assert_int_equal(rep.lines_posted, 1);
    assert_int_equal(ledger_count(&fk, "plaid-reversal:tx1 "), 1);
    assert_non_null(strstr(fk.ledger.data, "plaid-reversal:tx1 12.50"));
    assert_non_null(strstr(fk.ledger.data, "plaid:tx1 -13.75"));
    assert_int_equal(ledger_count(&fk, "plaid:tx2 "), 1);
    struct mlc_posting p = get_posting(f, "acc1", "tx1");
    assert_int_equal(p.state, MLC_PS_POSTED);
    assert_string_equal(p.led_amount, "-13.75");
    assert_int_equal(count_audit(f, MLC_AUDIT_REVERSED, "tx1"), 1);
    mlc_engine_report_free(&rep);
    /* Stable afterwards. */
    assert_int_equal(run_engine(f, &fk, 0, &rep), MLC_OK);
    assert_int_equal(rep.statements_posted, 0);
    mlc_engine_report_free(&rep);
    /* Removed after posting: one reversal, nothing else. */
    remove_txn(f, "acc1", "tx2");
    assert_int_equal(run_engine(f, &fk, 0, &rep), MLC_OK);
    assert_int_equal(rep.reversals_posted, 1);
    assert_int_equal(rep.lines_posted, 0);
    assert_non_null(strstr(fk.ledger.data, "plaid-reversal:tx2 -100.00"));
    assert_int_equal(get_posting(f, "acc1", "tx2").state, MLC_PS_REVERSED);
    mlc_engine_report_free(&rep);
    assert_int_equal(run_engine(f, &fk, 0, &rep), MLC_OK);
    assert_int_equal(rep.statements_posted, 0);
    assert_int_equal(ledger_count(&fk, "plaid-reversal:tx2 "), 1);
    mlc_engine_report_free(&rep);
    fake_free(&fk);
}

static void description_change_audited_only(void **state)
{
    struct efx *f = *state;
    struct fake fk;
    struct mlc_engine_report rep;
    fake_init(&fk);
    two_settled(f);
    assert_int_equal(run_engine(f, &fk, 0, &rep), MLC_OK);
    mlc_engine_report_free(&rep);
    put_txn_full(f, "acc1", "tx1", "2026-03-05", "12.50", 0, NULL, "Better name", NULL, NULL,
                 MLC_SYNC_MODIFIED);
    size_t calls = fk.calls;
    assert_int_equal(run_engine(f, &fk, 0, &rep), MLC_OK);
    assert_int_equal(fk.calls, calls);
    assert_int_equal(count_audit(f, MLC_AUDIT_NOTE, "tx1"), 1);
    mlc_engine_report_free(&rep);
    assert_int_equal(run_engine(f, &fk, 0, &rep), MLC_OK);
    assert_int_equal(count_audit(f, MLC_AUDIT_NOTE, "tx1"), 1); /* once, not every run */
    mlc_engine_report_free(&rep);
    fake_free(&fk);
}

static void dry_run_equals_real_run(void **state)
{
    struct efx *f = *state;
    struct fake fk;
    struct mlc_engine_report dry, real;
    fake_init(&fk);
    add_account(f, "acc1", "1000.00", "depository", "EUR");
    map_account(f, "acc1", "BNK", GL_SUSP, NULL);
    put_txn(f, "a", "2026-02-27", "1.00");
    put_txn(f, "b", "2026-03-01", "2.00");
    put_txn(f, "c", "2026-02-03", "-3.00");
    put_txn_full(f, "acc1", "p", "2026-03-02", "9.00", 1, NULL, NULL, NULL, NULL, MLC_SYNC_ADDED);
    assert_int_equal(run_engine(f, &fk, 1, &dry), MLC_OK);
    assert_int_equal(fk.calls, 0);
    assert_int_equal(get_posting(f, "acc1", "a").state, -1); /* nothing written */
    assert_int_equal(run_engine(f, &fk, 0, &real), MLC_OK);
    assert_int_equal(real.statements_posted, 2); /* February and March */
    /* Every statement the real run sent is, byte for byte, in the dry run's plan. */
    char *line = fk.ledger.data;
    int statements = 0;
    while (line && *line) {
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        *nl = '\0';
        assert_non_null(strstr(dry.text.data, line));
        statements += strncmp(line, "statement ", 10) == 0;
        *nl = '\n';
        line = nl + 1;
    }
    assert_int_equal(statements, 2);
    assert_non_null(strstr(dry.text.data, "pending (wait until they settle): 1"));
    mlc_engine_report_free(&dry);
    mlc_engine_report_free(&real);
    fake_free(&fk);
}

static void balance_chains_across_runs(void **state)
{
    struct efx *f = *state;
    struct fake fk;
    struct mlc_engine_report rep;
    fake_init(&fk);
    /* Bank now 1000.00; since 03-02 came -12.50 and +100.00: opening 912.50. */
    two_settled(f);
    assert_int_equal(run_engine(f, &fk, 0, &rep), MLC_OK);
    assert_non_null(strstr(fk.ledger.data, "opening 912.50 closing 1000.00"));
    assert_non_null(strstr(rep.text.data, "equals the bank's"));
    mlc_engine_report_free(&rep);
    /* Next statement opens with the previous closing, whatever Plaid says now. */
    add_account(f, "acc1", "990.00", "depository", "EUR");
    put_txn(f, "tx3", "2026-03-09", "5.00");
    assert_int_equal(run_engine(f, &fk, 0, &rep), MLC_OK);
    assert_non_null(strstr(fk.ledger.data, "opening 1000.00 closing 995.00"));
    assert_int_equal(rep.balance_differences, 1);
    assert_non_null(strstr(rep.text.data, "DIFFERS by -5.00"));
    mlc_engine_report_free(&rep);
    fake_free(&fk);
}

static void no_balance_never_invented(void **state)
{
    struct efx *f = *state;
    struct fake fk;
    struct mlc_engine_report rep;
    fake_init(&fk);
    add_account(f, "acc1", NULL, "depository", "EUR");
    map_account(f, "acc1", "BNK", GL_SUSP, NULL);
    put_txn(f, "tx1", "2026-03-05", "12.50");
    assert_int_equal(run_engine(f, &fk, 0, &rep), MLC_OK);
    assert_non_null(strstr(fk.ledger.data, "opening - closing -"));
    mlc_engine_report_free(&rep);
    fake_free(&fk);
}

static void unmapped_account_needs_person(void **state)
{
    struct efx *f = *state;
    struct fake fk;
    struct mlc_engine_report rep;
    fake_init(&fk);
    add_account(f, "acc9", "10.00", "depository", "EUR");
    put_txn_full(f, "acc9", "t9", "2026-03-05", "1.00", 0, NULL, NULL, NULL, NULL, MLC_SYNC_ADDED);
    assert_int_equal(run_engine(f, &fk, 0, &rep), MLC_OK);
    assert_int_equal(fk.calls, 0);
    assert_int_equal(rep.needs_person_accounts, 1);
    assert_non_null(strstr(rep.text.data, "not mapped"));
    assert_non_null(strstr(rep.text.data, "1 settled transaction waits for this"));
    assert_int_equal(get_posting(f, "acc9", "t9").state, -1);
    mlc_engine_report_free(&rep);
    fake_free(&fk);
}

static void unsettled_statement_blocks_the_account(void **state)
{
    struct efx *f = *state;
    struct fake fk;
    struct mlc_engine_report rep;
    fake_init(&fk);
    fk.script[0] = FAKE_CRASH;
    fk.script[1] = FAKE_CRASH; /* settling fails too: still undecided */
    two_settled(f);
    assert_int_equal(run_engine(f, &fk, 0, &rep), MLC_OK);
    mlc_engine_report_free(&rep);
    put_txn(f, "tx3", "2026-03-09", "5.00");
    assert_int_equal(run_engine(f, &fk, 0, &rep), MLC_OK);
    assert_int_equal(fk.calls, 2);                 /* only the settle attempt */
    assert_int_equal(get_posting(f, "acc1", "tx3").state, -1);
    assert_non_null(strstr(rep.text.data, "still in flight"));
    mlc_engine_report_free(&rep);
    assert_int_equal(run_engine(f, &fk, 0, &rep), MLC_OK);
    assert_int_equal(rep.statements_posted, 2);
    assert_non_null(strstr(fk.ledger.data, "opening 912.50 closing 1000.00"));
    assert_non_null(strstr(fk.ledger.data, "opening 1000.00 closing 995.00"));
    assert_int_equal(ledger_count(&fk, "plaid:tx1 "), 1);
    assert_int_equal(ledger_count(&fk, "plaid:tx3 "), 1);
    mlc_engine_report_free(&rep);
    fake_free(&fk);
}

static void late_line_goes_into_the_latest_period(void **state)
{
    struct efx *f = *state;
    struct fake fk;
    struct mlc_engine_report rep;
    fake_init(&fk);
    two_settled(f); /* March */
    assert_int_equal(run_engine(f, &fk, 0, &rep), MLC_OK);
    mlc_engine_report_free(&rep);
    /* The bank delivers a February transaction late, and corrects a March one's date into
     * February: Exact chains balances by period, so both are booked in March. */
    put_txn(f, "late", "2026-02-20", "7.00");
    put_txn_full(f, "acc1", "tx1", "2026-02-27", "12.50", 0, NULL, NULL, NULL, NULL,
                 MLC_SYNC_MODIFIED);
    assert_int_equal(run_engine(f, &fk, 0, &rep), MLC_OK);
    assert_int_equal(rep.statements_posted, 1);
    assert_non_null(strstr(fk.ledger.data, "2026-03-01 plaid:late -7.00"));
    assert_non_null(strstr(fk.ledger.data, "2026-03-01 plaid-reversal:tx1 12.50"));
    assert_non_null(strstr(fk.ledger.data, "2026-03-01 plaid:tx1 -12.50"));
    assert_non_null(strstr(fk.ledger.data, "opening 1000.00 closing 993.00"));
    /* The real date stays on record: a later run does not see a change. */
    assert_string_equal(get_posting(f, "acc1", "late").led_date, "2026-02-20");
    mlc_engine_report_free(&rep);
    assert_int_equal(run_engine(f, &fk, 0, &rep), MLC_OK);
    assert_int_equal(rep.statements_posted, 0);
    mlc_engine_report_free(&rep);
    fake_free(&fk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(posts_once_and_marks_posted, efx_setup, efx_teardown),
        cmocka_unit_test_setup_teardown(not_landed_goes_ready_then_posts, efx_setup, efx_teardown),
        cmocka_unit_test_setup_teardown(lost_answer_settled_by_readback_never_twice, efx_setup,
                                        efx_teardown),
        cmocka_unit_test_setup_teardown(crash_before_post_then_posts_once, efx_setup,
                                        efx_teardown),
        cmocka_unit_test_setup_teardown(held_line_waits_others_ready, efx_setup, efx_teardown),
        cmocka_unit_test_setup_teardown(unsettled_statement_blocks_the_account, efx_setup,
                                        efx_teardown),
        cmocka_unit_test_setup_teardown(pending_never_posted_and_link, efx_setup, efx_teardown),
        cmocka_unit_test_setup_teardown(modified_after_posting_reversal_and_correction, efx_setup,
                                        efx_teardown),
        cmocka_unit_test_setup_teardown(description_change_audited_only, efx_setup, efx_teardown),
        cmocka_unit_test_setup_teardown(dry_run_equals_real_run, efx_setup, efx_teardown),
        cmocka_unit_test_setup_teardown(balance_chains_across_runs, efx_setup, efx_teardown),
        cmocka_unit_test_setup_teardown(late_line_goes_into_the_latest_period, efx_setup,
                                        efx_teardown),
        cmocka_unit_test_setup_teardown(no_balance_never_invented, efx_setup, efx_teardown),
        cmocka_unit_test_setup_teardown(unmapped_account_needs_person, efx_setup, efx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
