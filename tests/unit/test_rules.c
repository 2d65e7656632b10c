/* Coding rules: every matcher on its own (merchant, name contains, category primary/detailed,
 * sign, amount range with exact decimals, account scope), first match in order wins, the
 * mapping's default otherwise, replace by name, order clash refused, and changes audited. */
#include "engine_fixture.h"

static struct mlc_amount amt(const char *s)
{
    struct mlc_amount a;
    assert_int_equal(mlc_amount_parse(s, strlen(s), &a), MLC_OK);
    return a;
}

static struct mlc_rule_input in_of(const char *name, const char *merchant, const char *cat,
                                   const char *amount)
{
    struct mlc_rule_input in = { "acc1", name, merchant, cat, "FOOD_AND_DRINK_COFFEE",
                                 amt(amount) };
    return in;
}

static void each_matcher(void **state)
{
    (void)state;
    struct mlc_rule r;
    memset(&r, 0, sizeof(r));
    struct mlc_rule_input in = in_of("CARD 1234 Starbucks Amsterdam", "Starbucks",
                                     "FOOD_AND_DRINK", "4.50");
    assert_true(mlc_rule_matches(&r, &in)); /* no matcher: matches all */
    snprintf(r.merchant, sizeof(r.merchant), "starbucks");
    assert_true(mlc_rule_matches(&r, &in));
    snprintf(r.merchant, sizeof(r.merchant), "Starbuck");
    assert_false(mlc_rule_matches(&r, &in)); /* merchant is equality, not part */
    memset(&r, 0, sizeof(r));
    snprintf(r.name_contains, sizeof(r.name_contains), "AMSTERDAM");
    assert_true(mlc_rule_matches(&r, &in));
    snprintf(r.name_contains, sizeof(r.name_contains), "Utrecht");
    assert_false(mlc_rule_matches(&r, &in));
    memset(&r, 0, sizeof(r));
    snprintf(r.category, sizeof(r.category), "food_and_drink");
    assert_true(mlc_rule_matches(&r, &in));
    snprintf(r.category, sizeof(r.category), "FOOD_AND_DRINK_COFFEE");
    assert_true(mlc_rule_matches(&r, &in)); /* detailed */
    snprintf(r.category, sizeof(r.category), "TRAVEL");
    assert_false(mlc_rule_matches(&r, &in));
    memset(&r, 0, sizeof(r));
    r.sign = MLC_SIGN_OUT;
    assert_true(mlc_rule_matches(&r, &in));
    r.sign = MLC_SIGN_IN;
    assert_false(mlc_rule_matches(&r, &in));
    struct mlc_rule_input refund = in_of("Refund", "Starbucks", "FOOD_AND_DRINK", "-4.50");
    assert_true(mlc_rule_matches(&r, &refund));
    /* Range on the size, inclusive, exact: 4.50 == 4.5, 4.501 is above. */
    memset(&r, 0, sizeof(r));
    r.has_min = 1;
    r.min = amt("4.5");
    r.has_max = 1;
    r.max = amt("4.50");
    assert_true(mlc_rule_matches(&r, &in));
    assert_true(mlc_rule_matches(&r, &refund));
    struct mlc_rule_input above = in_of("x", "", "", "4.501");
    assert_false(mlc_rule_matches(&r, &above));
    struct mlc_rule_input below = in_of("x", "", "", "4.499999999");
    assert_false(mlc_rule_matches(&r, &below));
    memset(&r, 0, sizeof(r));
    snprintf(r.account_id, sizeof(r.account_id), "acc2");
    assert_false(mlc_rule_matches(&r, &in));
}

static void put_rule(struct mlc_txn *txn, unsigned order, const char *name, const char *contains,
                     const char *gl, const char *cc)
{
    struct mlc_rule r;
    memset(&r, 0, sizeof(r));
    r.order = order;
    snprintf(r.name, sizeof(r.name), "%s", name);
    snprintf(r.name_contains, sizeof(r.name_contains), "%s", contains);
    snprintf(r.gl, sizeof(r.gl), "%s", gl);
    snprintf(r.cost_center, sizeof(r.cost_center), "%s", cc ? cc : "");
    assert_int_equal(mlc_rules_put(txn, &r, NOW_MS), MLC_OK);
}

static void first_match_in_order_then_default(void **state)
{
    struct efx *f = *state;
    struct mlc_txn *txn = NULL;
    assert_int_equal(mlc_store_begin(f->st, 0, &txn), MLC_OK);
    /* Inserted out of order on purpose: order decides, not insertion. */
    put_rule(txn, 20, "coffee", "coffee", GL_FOOD, NULL);
    put_rule(txn, 10, "coffee-shop-cc", "coffee shop", GL_CCREQ, "CC1");
    struct mlc_mapping m;
    memset(&m, 0, sizeof(m));
    snprintf(m.offset_gl, sizeof(m.offset_gl), GL_SUSP);
    snprintf(m.cost_center, sizeof(m.cost_center), "CCM");
    struct mlc_coding c;
    struct mlc_rule_input a = in_of("Coffee shop Bean", "", "", "3.00");
    assert_int_equal(mlc_rules_code(txn, &m, &a, &c), MLC_OK);
    assert_string_equal(c.rule, "coffee-shop-cc");
    assert_string_equal(c.gl, GL_CCREQ);
    assert_string_equal(c.cost_center, "CC1");
    struct mlc_rule_input b = in_of("Coffee beans", "", "", "3.00");
    assert_int_equal(mlc_rules_code(txn, &m, &b, &c), MLC_OK);
    assert_string_equal(c.rule, "coffee");
    assert_string_equal(c.cost_center, "CCM"); /* the rule gives none: the mapping's */
    struct mlc_rule_input d = in_of("Rent", "", "", "800.00");
    assert_int_equal(mlc_rules_code(txn, &m, &d, &c), MLC_OK);
    assert_string_equal(c.rule, "default");
    assert_string_equal(c.gl, GL_SUSP);
    m.offset_gl[0] = '\0';
    assert_int_equal(mlc_rules_code(txn, &m, &d, &c), MLC_ERR_NOTFOUND);
    /* Same name replaces (and may move); another rule's order is refused. */
    put_rule(txn, 5, "coffee", "coffee", GL_SUSP, NULL);
    assert_int_equal(mlc_rules_code(txn, &m, &a, &c), MLC_OK);
    assert_string_equal(c.rule, "coffee");
    struct mlc_rule clash;
    memset(&clash, 0, sizeof(clash));
    clash.order = 5;
    snprintf(clash.name, sizeof(clash.name), "other");
    snprintf(clash.gl, sizeof(clash.gl), GL_SUSP);
    assert_int_equal(mlc_rules_put(txn, &clash, NOW_MS), MLC_ERR_EXISTS);
    assert_int_equal(mlc_rules_del(txn, "coffee", NOW_MS), MLC_OK);
    assert_int_equal(mlc_rules_del(txn, "coffee", NOW_MS), MLC_ERR_NOTFOUND);
    assert_int_equal(mlc_rules_code(txn, &m, &b, &c), MLC_ERR_NOTFOUND);
    assert_int_equal(mlc_store_commit(txn), MLC_OK);
    struct mlc_buf out;
    mlc_buf_init(&out, 1 << 20);
    uint64_t n = 0;
    assert_int_equal(mlc_audit_export(f->st, 0, INT64_MAX, MLC_AUDIT_CSV, &out, &n), MLC_OK);
    assert_int_equal(n, 4); /* added, added, changed, removed */
    assert_non_null(strstr(out.data, "coding rule removed"));
    mlc_buf_free(&out);
}

static void rule_coding_reaches_the_ledger(void **state)
{
    struct efx *f = *state;
    struct fake fk;
    struct mlc_engine_report rep;
    fake_init(&fk);
    add_account(f, "acc1", "10.00", "depository", "EUR");
    map_account(f, "acc1", "BNK", GL_SUSP, NULL);
    struct mlc_txn *txn = NULL;
    assert_int_equal(mlc_store_begin(f->st, 0, &txn), MLC_OK);
    put_rule(txn, 1, "lunch", "lunch", GL_FOOD, NULL);
    assert_int_equal(mlc_store_commit(txn), MLC_OK);
    put_txn_full(f, "acc1", "t1", "2026-03-01", "8.00", 0, NULL, "Lunch place", NULL, NULL,
                 MLC_SYNC_ADDED);
    put_txn_full(f, "acc1", "t2", "2026-03-02", "8.00", 0, NULL, "Hardware", NULL, NULL,
                 MLC_SYNC_ADDED);
    assert_int_equal(run_engine(f, &fk, 0, &rep), MLC_OK);
    assert_non_null(strstr(fk.ledger.data, "plaid:t1 -8.00 gl=" GL_FOOD));
    assert_non_null(strstr(fk.ledger.data, "plaid:t2 -8.00 gl=" GL_SUSP));
    /* The audit names the rule that coded each line. */
    struct mlc_buf out;
    mlc_buf_init(&out, 1 << 20);
    assert_int_equal(mlc_audit_export(f->st, 0, INT64_MAX, MLC_AUDIT_JSON, &out, NULL), MLC_OK);
    assert_non_null(strstr(out.data, "\"rule\":\"lunch\""));
    assert_non_null(strstr(out.data, "\"rule\":\"default\""));
    mlc_buf_free(&out);
    mlc_engine_report_free(&rep);
    fake_free(&fk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(each_matcher),
        cmocka_unit_test_setup_teardown(first_match_in_order_then_default, efx_setup,
                                        efx_teardown),
        cmocka_unit_test_setup_teardown(rule_coding_reaches_the_ledger, efx_setup, efx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
