#include "mlc_test_util.h"
#include "mlc_decimal.h"
#include "mlc_err.h"

#include <stdint.h>
#include <string.h>

static struct mlc_amount P(const char *s)
{
    struct mlc_amount a = { 77, 7 };
    assert_int_equal(mlc_amount_parse(s, strlen(s), &a), MLC_OK);
    return a;
}

static void expect_text(const char *in, unsigned min_dec, const char *want)
{
    char buf[MLC_AMOUNT_STRMAX];
    int n = mlc_amount_format(P(in), min_dec, buf, sizeof(buf));
    assert_true(n > 0);
    assert_string_equal(buf, want);
    assert_int_equal((size_t)n, strlen(want));
}

static void parses_plaid_amounts_exactly(void **state)
{
    (void)state;
    struct mlc_amount a = P("12.5");
    assert_int_equal(a.units, 125);
    assert_int_equal(a.scale, 1);
    a = P("-3");
    assert_int_equal(a.units, -3);
    assert_int_equal(a.scale, 0);
    a = P("1234.567");
    assert_int_equal(a.units, 1234567);
    assert_int_equal(a.scale, 3);
    /* the case a double gets wrong: 0.1 + 0.2 is exactly 0.3 here */
    struct mlc_amount sum;
    assert_int_equal(mlc_amount_add(P("0.1"), P("0.2"), &sum), MLC_OK);
    assert_int_equal(mlc_amount_cmp(sum, P("0.3")), 0);
    /* crypto-style precision survives */
    a = P("0.000000000000000001");
    assert_int_equal(a.units, 1);
    assert_int_equal(a.scale, 18);
    a = P("92233720368547.75807");
    assert_int_equal(a.units, INT64_MAX);
    assert_int_equal(a.scale, 5);
    /* trailing zeros do not cost precision */
    a = P("5.000000000000000000000000000000");
    assert_int_equal(a.units, 5);
    assert_int_equal(a.scale, 0);
    a = P("-0");
    assert_int_equal(a.units, 0);
}

static void exponents_are_exact(void **state)
{
    (void)state;
    struct mlc_amount a = P("1E+2");
    assert_int_equal(a.units, 100);
    assert_int_equal(a.scale, 0);
    a = P("1.5e-3");
    assert_int_equal(a.units, 15);
    assert_int_equal(a.scale, 4);
    a = P("1e2");
    assert_int_equal(a.units, 100);
    a = P("-12345e-2");
    assert_int_equal(a.units, -12345);
    assert_int_equal(a.scale, 2);
    a = P("0e999999999999");
    assert_int_equal(a.units, 0);
    a = P("100e-20"); /* 1e-18 */
    assert_int_equal(a.units, 1);
    assert_int_equal(a.scale, 18);
}

static void rejects_what_is_not_exact_or_not_json(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "-", "+1", "01", "1.", ".5", "1e", "1e+", "0x10", "1,5", " 1", "1 ", "NaN",
        "Infinity", "--1", "1.2.3", "1e5e5",
        "9223372036854775808",           /* INT64_MAX + 1 */
        "-9223372036854775808",          /* INT64_MIN: could not be negated */
        "0.0000000000000000001",         /* 19 decimals */
        "1e19", "1e999999999999999999", "1.0000000000000000001", "12345678901234567890.1",
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        struct mlc_amount a = { 42, 0 };
        int rc = mlc_amount_parse(bad[k], strlen(bad[k]), &a);
        if (rc != MLC_ERR_DATA)
            fail_msg("accepted \"%s\"", bad[k]);
        assert_int_equal(a.units, 42); /* output untouched on error */
    }
    assert_int_equal(mlc_amount_parse(NULL, 1, NULL), MLC_ERR_DATA);
    /* bounded by the length given, not by a NUL */
    struct mlc_amount a;
    assert_int_equal(mlc_amount_parse("12.34xyz", 4, &a), MLC_OK);
    assert_int_equal(a.units, 123);
}

static void rounds_to_minor_units_half_even(void **state)
{
    (void)state;
    struct { const char *in; int64_t want; int inexact; } cases[] = {
        { "1.005", 100, 1 },  { "1.015", 102, 1 }, { "1.025", 102, 1 },
        { "-1.005", -100, 1 }, { "-1.015", -102, 1 }, { "2.675", 268, 1 },
        { "1.0051", 101, 1 }, { "42.5", 4250, 0 }, { "7", 700, 0 }, { "0.004", 0, 1 },
        { "0.125", 12, 1 }, { "0.135", 14, 1 }, { "-0.0049", 0, 1 },
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        struct mlc_amount r;
        int inexact = -1;
        assert_int_equal(mlc_amount_round(P(cases[k].in), 2, MLC_ROUND_HALF_EVEN, &r, &inexact),
                         MLC_OK);
        if (r.units != cases[k].want || inexact != cases[k].inexact)
            fail_msg("%s -> %lld (inexact %d)", cases[k].in, (long long)r.units, inexact);
        assert_int_equal(r.scale, 2);
    }
    /* refuse mode never silently loses a cent fraction */
    struct mlc_amount r = { 9, 9 };
    assert_int_equal(mlc_amount_round(P("1.005"), 2, MLC_ROUND_REFUSE, &r, NULL), MLC_ERR_DATA);
    assert_int_equal(r.units, 9);
    assert_int_equal(mlc_amount_round(P("1.5"), 2, MLC_ROUND_REFUSE, &r, NULL), MLC_OK);
    assert_int_equal(r.units, 150);
    /* scaling up can overflow and says so */
    assert_int_equal(mlc_amount_round(P("9223372036854775807"), 2, MLC_ROUND_HALF_EVEN, &r, NULL),
                     MLC_ERR_DATA);
    assert_int_equal(mlc_amount_round(P("1"), 19, MLC_ROUND_HALF_EVEN, &r, NULL), MLC_ERR_DATA);
    assert_int_equal(mlc_currency_decimals("EUR"), 2);
    assert_int_equal(mlc_currency_decimals("JPY"), 0);
    assert_int_equal(mlc_currency_decimals("KWD"), 3);
    assert_int_equal(mlc_currency_decimals(NULL), 2);
}

static void formats_for_exact_with_plaid_sign_flipped(void **state)
{
    (void)state;
    char buf[MLC_AMOUNT_STRMAX];
    /* Plaid 42.5 (money out) is AmountFC -42.50 */
    assert_int_equal(mlc_amount_format(mlc_amount_neg(P("42.5")), 2, buf, sizeof(buf)), 6);
    assert_string_equal(buf, "-42.50");
    assert_int_equal(mlc_amount_format(mlc_amount_neg(P("-3")), 2, buf, sizeof(buf)), 4);
    assert_string_equal(buf, "3.00");
    expect_text("0.000000000000000001", 2, "0.000000000000000001");
    expect_text("-0.05", 0, "-0.05");
    expect_text("1E+2", 0, "100");
    expect_text("-0", 2, "0.00");
    expect_text("1.5e-3", 2, "0.0015");
    expect_text("-9223372036854775807", 18, "-9223372036854775807.000000000000000000");
    expect_text("-9.223372036854775807", 0, "-9.223372036854775807");
    /* too small a buffer is refused, never overrun */
    char small[5];
    assert_int_equal(mlc_amount_format(P("-42.5"), 2, small, sizeof(small)), MLC_ERR_TOO_BIG);
    /* text -> amount -> text is the identity for canonical text */
    static const char *const canon[] = { "0.01", "-1234.567", "100", "-0.000001" };
    for (size_t k = 0; k < 4; k++) {
        assert_true(mlc_amount_format(P(canon[k]), 0, buf, sizeof(buf)) > 0);
        assert_string_equal(buf, canon[k]);
    }
}

static void adds_and_compares_across_scales(void **state)
{
    (void)state;
    assert_int_equal(mlc_amount_cmp(P("1.50"), P("1.5")), 0);
    assert_int_equal(mlc_amount_cmp(P("1.5"), P("1.49")), 1);
    assert_int_equal(mlc_amount_cmp(P("-1.5"), P("-1.49")), -1);
    assert_int_equal(mlc_amount_cmp(P("-1"), P("0")), -1);
    assert_int_equal(mlc_amount_cmp(P("0"), P("0.000")), 0);
    /* scaling the left side would overflow: it is still correctly the larger */
    assert_int_equal(mlc_amount_cmp(P("9223372036854775807"), P("0.000000000000000001")), 1);
    assert_int_equal(mlc_amount_cmp(P("-9223372036854775807"), P("-0.5")), -1);
    struct mlc_amount s;
    assert_int_equal(mlc_amount_add(P("12.5"), P("-0.125"), &s), MLC_OK);
    assert_int_equal(s.units, 12375);
    assert_int_equal(s.scale, 3);
    assert_int_equal(mlc_amount_add(P("9223372036854775807"), P("1"), &s), MLC_ERR_DATA);
    assert_int_equal(mlc_amount_add(P("-9223372036854775807"), P("-1"), &s), MLC_ERR_DATA);
    assert_int_equal(mlc_amount_add(P("9223372036854775807"), P("0.1"), &s), MLC_ERR_DATA);
    assert_true(mlc_amount_is_zero(mlc_amount_neg(P("0"))));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_plaid_amounts_exactly),
        cmocka_unit_test(exponents_are_exact),
        cmocka_unit_test(rejects_what_is_not_exact_or_not_json),
        cmocka_unit_test(rounds_to_minor_units_half_even),
        cmocka_unit_test(formats_for_exact_with_plaid_sign_flipped),
        cmocka_unit_test(adds_and_compares_across_scales),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
