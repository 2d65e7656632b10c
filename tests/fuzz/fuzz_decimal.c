/* libFuzzer target: mlc_amount_parse on arbitrary text, checking that what parses survives the
 * format -> parse round trip unchanged and that rounding and arithmetic stay exact. */
#include "mlc_decimal.h"
#include "mlc_err.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mlc_amount a, b, r, s;
    if (mlc_amount_parse((const char *)data, size, &a) != MLC_OK)
        return 0;
    if (a.scale > MLC_AMOUNT_MAX_SCALE || a.units == INT64_MIN)
        abort();
    char text[MLC_AMOUNT_STRMAX];
    int n = mlc_amount_format(a, 0, text, sizeof(text));
    if (n <= 0 || mlc_amount_parse(text, (size_t)n, &b) != MLC_OK || mlc_amount_cmp(a, b) != 0 ||
        a.units != b.units || a.scale != b.scale)
        abort();
    int inexact = 0;
    if (mlc_amount_round(a, 2, MLC_ROUND_HALF_EVEN, &r, &inexact) == MLC_OK) {
        /* rounding moves the value by at most half a cent, and only when flagged inexact */
        struct mlc_amount diff, half = { 5, 3 };
        if (mlc_amount_add(r, mlc_amount_neg(a), &diff) == MLC_OK) {
            if (!inexact && mlc_amount_cmp(diff, (struct mlc_amount){ 0, 0 }) != 0)
                abort();
            if (mlc_amount_cmp(diff, half) > 0 || mlc_amount_cmp(diff, mlc_amount_neg(half)) < 0)
                abort();
        }
    }
    if (mlc_amount_add(a, mlc_amount_neg(a), &s) == MLC_OK && !mlc_amount_is_zero(s))
        abort();
    if (mlc_amount_cmp(mlc_amount_neg(a), a) != -mlc_amount_cmp(a, mlc_amount_neg(a)))
        abort();
    return 0;
}
