/* Account mappings: stored and audited, each check before a first post failing with its own
 * message (journal missing/blocked/not bank, currency, G/L missing/blocked, cost center missing,
 * mandatory, forbidden), G/L resolution by code, and the IBAN-then-number suggestions. */
#include "engine_fixture.h"
#include "mlc_exact_ref.h"

static struct mlc_mapping mk(const char *journal, const char *gl, const char *cc)
{
    struct mlc_mapping m;
    memset(&m, 0, sizeof(m));
    snprintf(m.account_id, sizeof(m.account_id), "acc1");
    m.division = 1;
    snprintf(m.journal, sizeof(m.journal), "%s", journal);
    snprintf(m.offset_gl, sizeof(m.offset_gl), "%s", gl ? gl : "");
    snprintf(m.cost_center, sizeof(m.cost_center), "%s", cc ? cc : "");
    return m;
}

static void check_expect(struct efx *f, struct mlc_mapping m, const char *currency,
                         const char *want)
{
    char why[512] = "";
    int rc = mlc_mapping_check(f->st, &m, currency, why, sizeof(why));
    if (!want) {
        assert_int_equal(rc, MLC_OK);
        return;
    }
    assert_int_equal(rc, MLC_ERR_NEEDS_PERSON);
    if (!strstr(why, want))
        fail_msg("expected \"%s\" in \"%s\"", want, why);
    assert_null(strchr(why, '\n'));
}

static void every_check_fails_on_its_own(void **state)
{
    struct efx *f = *state;
    check_expect(f, mk("BNK", GL_SUSP, NULL), "EUR", NULL);
    check_expect(f, mk("BNK", GL_SUSP, "CC1"), "EUR", NULL);
    check_expect(f, mk("BNK", NULL, NULL), "EUR", NULL); /* rules code every line */
    check_expect(f, mk("NOPE", GL_SUSP, NULL), "EUR", "is not a bank journal of division 1");
    check_expect(f, mk("BLK", GL_SUSP, NULL), "EUR", "is blocked in Exact");
    check_expect(f, mk("USD1", GL_SUSP, NULL), "EUR", "keeps USD");
    check_expect(f, mk("BNK", "99999999-9999-9999-9999-999999999999", NULL), "EUR",
                 "does not exist in division 1");
    check_expect(f, mk("BNK", GL_BLOCKED, NULL), "EUR", "G/L account 4700 is blocked");
    check_expect(f, mk("BNK", GL_CCREQ, NULL), "EUR", "needs a cost center");
    check_expect(f, mk("BNK", GL_CCREQ, "CC1"), "EUR", NULL);
    check_expect(f, mk("BNK", GL_NOCC, "CC1"), "EUR", "takes no cost center");
    check_expect(f, mk("BNK", GL_SUSP, "CC9"), "EUR", "cost center CC9 does not exist");
    /* A journal that is in the cache but not of type 12 (a stale or hand-made row). */
    ref_put(f->st, "1/journals/GEN", "{\"Code\":\"GEN\",\"Type\":10,\"Currency\":\"EUR\"}");
    check_expect(f, mk("GEN", GL_SUSP, NULL), "EUR", "not a bank journal (type 10)");
}

static void stored_and_audited(void **state)
{
    struct efx *f = *state;
    struct mlc_txn *txn = NULL;
    struct mlc_mapping m = mk("BNK", GL_SUSP, "CC1"), g;
    snprintf(m.offset_gl_code, sizeof(m.offset_gl_code), "2990");
    assert_int_equal(mlc_store_begin(f->st, 0, &txn), MLC_OK);
    assert_int_equal(mlc_mapping_put(txn, &m, NOW_MS), MLC_OK);
    assert_int_equal(mlc_mapping_get(txn, "acc1", &g), MLC_OK);
    assert_int_equal(g.division, 1);
    assert_string_equal(g.journal, "BNK");
    assert_string_equal(g.offset_gl, GL_SUSP);
    assert_string_equal(g.cost_center, "CC1");
    assert_int_equal(mlc_mapping_del(txn, "acc1", NOW_MS), MLC_OK);
    assert_int_equal(mlc_mapping_get(txn, "acc1", &g), MLC_ERR_NOTFOUND);
    assert_int_equal(mlc_mapping_del(txn, "acc1", NOW_MS), MLC_ERR_NOTFOUND);
    assert_int_equal(mlc_store_commit(txn), MLC_OK);
    struct mlc_buf out;
    mlc_buf_init(&out, 1 << 20);
    uint64_t n = 0;
    assert_int_equal(mlc_audit_export(f->st, 0, INT64_MAX, MLC_AUDIT_CSV, &out, &n), MLC_OK);
    assert_int_equal(n, 2);
    assert_non_null(strstr(out.data, "mapped to division 1 journal BNK, offset G/L 2990"));
    assert_non_null(strstr(out.data, "mapping removed"));
    mlc_buf_free(&out);
}

static void resolves_gl_by_code_or_id(void **state)
{
    struct efx *f = *state;
    char id[MLC_MAPPING_GUID_MAX + 1], code[MLC_MAPPING_CODE_MAX + 1];
    assert_int_equal(mlc_mapping_resolve_gl(f->st, 1, "4500", id, code), MLC_OK);
    assert_string_equal(id, GL_FOOD);
    assert_string_equal(code, "4500");
    assert_int_equal(mlc_mapping_resolve_gl(f->st, 1, GL_SUSP, id, code), MLC_OK);
    assert_string_equal(code, "2990");
    assert_int_equal(mlc_mapping_resolve_gl(f->st, 1, "1234", id, code), MLC_ERR_NOTFOUND);
    assert_int_equal(mlc_mapping_resolve_gl(f->st, 2, "4500", id, code), MLC_ERR_NOTFOUND);
}

static void suggests_iban_then_number(void **state)
{
    (void)state;
    struct mlc_journal_account a;
    struct mlc_ref_journal j;
    memset(&a, 0, sizeof(a));
    memset(&j, 0, sizeof(j));
    snprintf(j.iban, sizeof(j.iban), "NL91ABNA0417164300");
    snprintf(j.currency, sizeof(j.currency), "EUR");
    snprintf(a.currency, sizeof(a.currency), "EUR");
    snprintf(a.iban, sizeof(a.iban), "nl91 abna 0417 1643 00");
    assert_int_equal(mlc_mapping_suggest(&a, &j), MLC_MATCH_IBAN);
    snprintf(a.iban, sizeof(a.iban), "NL02RABO0123456789");
    assert_int_equal(mlc_mapping_suggest(&a, &j), MLC_MATCH_NONE); /* IBAN known and different */
    a.iban[0] = '\0';
    snprintf(a.ach_account, sizeof(a.ach_account), "417164300");
    assert_int_equal(mlc_mapping_suggest(&a, &j), MLC_MATCH_NUMBER);
    snprintf(a.ach_account, sizeof(a.ach_account), "999");
    assert_int_equal(mlc_mapping_suggest(&a, &j), MLC_MATCH_NONE);
    snprintf(a.iban, sizeof(a.iban), "NL91ABNA0417164300");
    snprintf(a.currency, sizeof(a.currency), "USD"); /* currency must agree */
    assert_int_equal(mlc_mapping_suggest(&a, &j), MLC_MATCH_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(every_check_fails_on_its_own, efx_setup, efx_teardown),
        cmocka_unit_test_setup_teardown(stored_and_audited, efx_setup, efx_teardown),
        cmocka_unit_test_setup_teardown(resolves_gl_by_code_or_id, efx_setup, efx_teardown),
        cmocka_unit_test(suggests_iban_then_number),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
