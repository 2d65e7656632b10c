/* Exact decimal money amounts: value = units * 10^-scale, parsed from the TEXT of a JSON number
 * (never through a double), rounded to currency minor units, negated, added, compared, formatted.
 * Pure arithmetic: no I/O, no allocation. Anything that cannot be held exactly is MLC_ERR_DATA. */
#ifndef MLC_DECIMAL_H
#define MLC_DECIMAL_H
#include <stddef.h>
#include <stdint.h>

/* Up to 18 decimals: enough for every amount Plaid sends (crypto included), and 10^18 still fits
 * in int64_t so every scale change is one checked multiplication. */
#define MLC_AMOUNT_MAX_SCALE 18
/* Longest text mlc_amount_format can produce, NUL included ("-0.000000000000000001" or
 * "-9223372036854775807" with 18 decimals). */
#define MLC_AMOUNT_STRMAX 48

struct mlc_amount {
    int64_t units;   /* |units| <= INT64_MAX, never INT64_MIN, so negation is always exact */
    uint8_t scale;   /* 0..MLC_AMOUNT_MAX_SCALE */
};

enum mlc_round {
    /* Banker's rounding (ties to the even digit): no drift when many amounts are rounded. */
    MLC_ROUND_HALF_EVEN = 0,
    /* Refuse (MLC_ERR_DATA) anything that would lose a digit: for postings that must be exact. */
    MLC_ROUND_REFUSE = 1
};

/* Parses the text of a JSON number (RFC 8259 grammar: -?int(.frac)?([eE][+-]?digits)?), the whole
 * of s[0..len). Exponents are applied exactly ("1.5e-3" -> 15 scale 4, "1E+2" -> 100 scale 0).
 * The result is normalised (no trailing fractional zeros). MLC_ERR_DATA for bad syntax, for more
 * than 18 significant decimals after normalising, or for a magnitude beyond int64_t. */
int mlc_amount_parse(const char *s, size_t len, struct mlc_amount *out);

/* Same value at exactly `decimals` places (0..18). More places: exact, or MLC_ERR_DATA on overflow.
 * Fewer: rounded per mode; *inexact (may be NULL) is set to 1 when a non-zero digit was dropped.
 * With MLC_ROUND_REFUSE an inexact result is MLC_ERR_DATA and *out is untouched. */
int mlc_amount_round(struct mlc_amount a, unsigned decimals, enum mlc_round mode,
                     struct mlc_amount *out, int *inexact);

/* -a. Always exact (units is never INT64_MIN). Exact's AmountFC is -(Plaid amount). */
struct mlc_amount mlc_amount_neg(struct mlc_amount a);

/* a + b at the larger of the two scales. MLC_ERR_DATA on overflow. */
int mlc_amount_add(struct mlc_amount a, struct mlc_amount b, struct mlc_amount *out);

/* -1, 0 or 1 as a <, ==, > b by value ("1.50" equals "1.5"). */
int mlc_amount_cmp(struct mlc_amount a, struct mlc_amount b);

/* 1 when the amount is zero. */
int mlc_amount_is_zero(struct mlc_amount a);

/* Writes the value as plain decimal text with at least min_decimals places ("-42.50" for
 * min_decimals 2), never exponent notation. Returns the length, or MLC_ERR_TOO_BIG if cap is too
 * small (MLC_AMOUNT_STRMAX always suffices). */
int mlc_amount_format(struct mlc_amount a, unsigned min_decimals, char *buf, size_t cap);

/* Number of minor-unit decimals for an ISO 4217 code (JPY 0, BHD 3, most 2); 2 when unknown. */
unsigned mlc_currency_decimals(const char *iso_code);
#endif
