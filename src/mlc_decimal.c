#include "mlc_decimal.h"
#include "mlc_err.h"

#include <string.h>

/* Longer number text than this is not an amount anyone sends; refusing it keeps every exponent
 * and position computation far from overflow. */
#define NUM_TEXT_MAX 4096
/* An explicit exponent beyond this either underflows/overflows 18 decimals or is zero. */
#define EXP_CLAMP 100000

static const uint64_t pow10_u64[20] = {
    1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL, 100000000ULL,
    1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL, 10000000000000ULL,
    100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL, 100000000000000000ULL,
    1000000000000000000ULL, 10000000000000000000ULL
};

/* *v * 10^k, refusing anything above limit. */
static int mul_pow10(uint64_t *v, int64_t k, uint64_t limit)
{
    if (*v == 0)
        return MLC_OK;
    if (k < 0 || k > 19)
        return MLC_ERR_DATA;
    uint64_t m = pow10_u64[k];
    if (*v > limit / m)
        return MLC_ERR_DATA;
    *v *= m;
    return MLC_OK;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

int mlc_amount_parse(const char *s, size_t len, struct mlc_amount *out)
{
    if (!s || !out || len == 0 || len > NUM_TEXT_MAX)
        return MLC_ERR_DATA;
    size_t i = 0;
    int neg = 0;
    if (s[i] == '-') {
        neg = 1;
        i++;
    }
    /* Syntax first, exactly as RFC 8259 section 6 has it. */
    size_t int_start = i;
    if (i >= len || !is_digit(s[i]))
        return MLC_ERR_DATA;
    if (s[i] == '0')
        i++;
    else
        while (i < len && is_digit(s[i]))
            i++;
    size_t int_end = i, frac_start = i, frac_end = i;
    if (i < len && s[i] == '.') {
        frac_start = ++i;
        while (i < len && is_digit(s[i]))
            i++;
        frac_end = i;
        if (frac_end == frac_start)
            return MLC_ERR_DATA;
    }
    int64_t exp = 0;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        int eneg = 0;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            eneg = s[i++] == '-';
        if (i >= len || !is_digit(s[i]))
            return MLC_ERR_DATA;
        while (i < len && is_digit(s[i])) {
            if (exp < EXP_CLAMP)
                exp = exp * 10 + (s[i] - '0');
            i++;
        }
        if (eneg)
            exp = -exp;
    }
    if (i != len)
        return MLC_ERR_DATA;

    /* value = acc * 10^e10. Each non-zero digit at power p folds in the zeros between it and the
     * previous one, so trailing zeros never enter acc (the result comes out normalised) and only
     * significant digits can overflow. */
    uint64_t acc = 0;
    int64_t e10 = 0;
    int64_t n_int = (int64_t)(int_end - int_start);
    for (size_t k = int_start; k < frac_end; k++) {
        if (k == int_end)
            continue; /* the '.' */
        int64_t p = k < int_end ? n_int - 1 - (int64_t)(k - int_start)
                                : -(int64_t)(k - frac_start) - 1;
        int d = s[k] - '0';
        if (d == 0)
            continue;
        if (acc != 0 && mul_pow10(&acc, e10 - p, UINT64_MAX - 9) != MLC_OK)
            return MLC_ERR_DATA;
        acc += (uint64_t)d;
        e10 = p;
    }
    if (acc == 0) {
        *out = (struct mlc_amount){ 0, 0 };
        return MLC_OK;
    }
    int64_t e = e10 + exp;
    struct mlc_amount r;
    if (e >= 0) {
        if (mul_pow10(&acc, e, (uint64_t)INT64_MAX) != MLC_OK)
            return MLC_ERR_DATA;
        r.scale = 0;
    } else {
        if (-e > MLC_AMOUNT_MAX_SCALE || acc > (uint64_t)INT64_MAX)
            return MLC_ERR_DATA;
        r.scale = (uint8_t)-e;
    }
    r.units = neg ? -(int64_t)acc : (int64_t)acc;
    *out = r;
    return MLC_OK;
}

static uint64_t mag(int64_t u) { return u < 0 ? (uint64_t)0 - (uint64_t)u : (uint64_t)u; }

int mlc_amount_round(struct mlc_amount a, unsigned decimals, enum mlc_round mode,
                     struct mlc_amount *out, int *inexact)
{
    if (!out || decimals > MLC_AMOUNT_MAX_SCALE || a.scale > MLC_AMOUNT_MAX_SCALE ||
        a.units == INT64_MIN)
        return MLC_ERR_DATA;
    uint64_t m = mag(a.units);
    int lost = 0;
    if (decimals >= a.scale) {
        if (mul_pow10(&m, (int64_t)(decimals - a.scale), (uint64_t)INT64_MAX) != MLC_OK)
            return MLC_ERR_DATA;
    } else {
        uint64_t div = pow10_u64[a.scale - decimals];
        uint64_t q = m / div, rem = m % div;
        lost = rem != 0;
        if (lost && mode == MLC_ROUND_REFUSE)
            return MLC_ERR_DATA;
        /* div is a power of ten >= 10, so half is exact; q <= INT64_MAX / 10 cannot overflow. */
        if (rem > div / 2 || (rem == div / 2 && (q & 1)))
            q++;
        m = q;
    }
    out->units = a.units < 0 ? -(int64_t)m : (int64_t)m;
    out->scale = (uint8_t)decimals;
    if (inexact)
        *inexact = lost;
    return MLC_OK;
}

struct mlc_amount mlc_amount_neg(struct mlc_amount a)
{
    a.units = -a.units;
    return a;
}

int mlc_amount_add(struct mlc_amount a, struct mlc_amount b, struct mlc_amount *out)
{
    unsigned s = a.scale > b.scale ? a.scale : b.scale;
    struct mlc_amount x, y;
    int64_t sum;
    if (mlc_amount_round(a, s, MLC_ROUND_REFUSE, &x, NULL) != MLC_OK ||
        mlc_amount_round(b, s, MLC_ROUND_REFUSE, &y, NULL) != MLC_OK ||
        __builtin_add_overflow(x.units, y.units, &sum) || sum == INT64_MIN)
        return MLC_ERR_DATA;
    out->units = sum;
    out->scale = (uint8_t)s;
    return MLC_OK;
}

int mlc_amount_cmp(struct mlc_amount a, struct mlc_amount b)
{
    int sa = (a.units > 0) - (a.units < 0), sb = (b.units > 0) - (b.units < 0);
    if (sa != sb)
        return sa < sb ? -1 : 1;
    if (sa == 0)
        return 0;
    /* Same sign: compare magnitudes at the larger scale. If scaling up overflows, that side's
     * magnitude exceeds anything representable, so it is the larger one. */
    uint64_t ma = mag(a.units), mb = mag(b.units);
    int mc;
    if (a.scale < b.scale)
        mc = mul_pow10(&ma, b.scale - a.scale, (uint64_t)INT64_MAX) != MLC_OK ? 1
             : (ma > mb) - (ma < mb);
    else if (b.scale < a.scale)
        mc = mul_pow10(&mb, a.scale - b.scale, (uint64_t)INT64_MAX) != MLC_OK ? -1
             : (ma > mb) - (ma < mb);
    else
        mc = (ma > mb) - (ma < mb);
    return sa > 0 ? mc : -mc;
}

int mlc_amount_is_zero(struct mlc_amount a) { return a.units == 0; }

int mlc_amount_format(struct mlc_amount a, unsigned min_decimals, char *buf, size_t cap)
{
    if (!buf || a.scale > MLC_AMOUNT_MAX_SCALE || a.units == INT64_MIN)
        return MLC_ERR_DATA;
    if (min_decimals > MLC_AMOUNT_MAX_SCALE)
        min_decimals = MLC_AMOUNT_MAX_SCALE;
    char digits[24];
    size_t nd = 0;
    uint64_t m = mag(a.units);
    do {
        digits[nd++] = (char)('0' + m % 10);
        m /= 10;
    } while (m);
    /* at least one integer digit before the point */
    while (nd < (size_t)a.scale + 1)
        digits[nd++] = '0';
    unsigned dec = a.scale > min_decimals ? a.scale : min_decimals;
    size_t need = (a.units < 0) + (nd - a.scale) + (dec ? 1 + dec : 0) + 1;
    if (need > cap)
        return MLC_ERR_TOO_BIG;
    size_t o = 0;
    if (a.units < 0)
        buf[o++] = '-';
    for (size_t k = nd; k > a.scale; k--)
        buf[o++] = digits[k - 1];
    if (dec) {
        buf[o++] = '.';
        for (size_t k = a.scale; k > 0; k--)
            buf[o++] = digits[k - 1];
        for (unsigned k = a.scale; k < dec; k++)
            buf[o++] = '0';
    }
    buf[o] = '\0';
    return (int)o;
}

unsigned mlc_currency_decimals(const char *iso_code)
{
    /* ISO 4217 minor units for the codes that are not 2. */
    static const char *const zero[] = { "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW",
                                        "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF",
                                        "XPF" };
    static const char *const three[] = { "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND" };
    static const char *const four[] = { "CLF", "UYW" };
    if (!iso_code)
        return 2;
    for (size_t k = 0; k < sizeof(zero) / sizeof(zero[0]); k++)
        if (strcmp(iso_code, zero[k]) == 0)
            return 0;
    for (size_t k = 0; k < sizeof(three) / sizeof(three[0]); k++)
        if (strcmp(iso_code, three[k]) == 0)
            return 3;
    for (size_t k = 0; k < sizeof(four) / sizeof(four[0]); k++)
        if (strcmp(iso_code, four[k]) == 0)
            return 4;
    return 2;
}
