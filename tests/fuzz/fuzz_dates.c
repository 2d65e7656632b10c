/* libFuzzer target for the date parsers fed outside text: the HTTP Date header of Plaid's and
 * Exact's answers (mlc_clock_parse_http_date, which decides whether the clock is trusted), Plaid's
 * RFC 3339 timestamps (mlc_plaid_parse_time: consent expiry, last update) and the YYYY-MM-DD the
 * accountant types for an audit export (mlc_audit_parse_date). The whole input, cut at its first
 * NUL, goes to each. Promises checked: no crash or read past the text; what the strict parsers
 * accept formats back to the very same text (one spelling per instant; a leap second aside);
 * a Plaid timestamp means the instant our own formatter writes and reads back; an audit date is
 * midnight UTC of a real calendar day. Seeds: tests/fuzz/corpus/fuzz_dates/. */
#include "mlc_audit.h"
#include "mlc_clock.h"
#include "mlc_err.h"
#include "mlc_plaid_pull.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MS_PER_DAY 86400000LL
#define YEAR_10000_MS 253402300800000LL /* 10000-01-01T00:00:00Z */

static void check(int ok)
{
    if (!ok)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char s[128];
    size_t n = size < sizeof(s) - 1 ? size : sizeof(s) - 1;
    memcpy(s, data, n);
    s[n] = '\0';
    n = strlen(s);
    char out[64];
    int64_t ms = 0;

    if (mlc_clock_parse_http_date(s, &ms) == MLC_OK) {
        check(n == 29);
        check(mlc_clock_format_http_date(ms, out, sizeof(out)) == MLC_OK);
        /* a leap second (":60") is accepted and reads as the next minute's ":00" */
        if (memcmp(s + 23, "60", 2) != 0)
            check(strcmp(out, s) == 0);
        int64_t again = -1;
        check(mlc_clock_parse_http_date(out, &again) == MLC_OK && again == ms);
    }

    ms = 0;
    if (mlc_plaid_parse_time(s, &ms) == MLC_OK && ms >= 0 && ms < YEAR_10000_MS) {
        int64_t again = -1;
        mlc_audit_format_time(ms, out, sizeof(out));
        check(mlc_plaid_parse_time(out, &again) == MLC_OK && again == ms);
    }

    ms = -1;
    if (mlc_audit_parse_date(s, &ms) == MLC_OK) {
        check(n == 10 && ms >= 0 && ms < YEAR_10000_MS && ms % MS_PER_DAY == 0);
        mlc_audit_format_time(ms, out, sizeof(out));
        check(strncmp(out, s, 10) == 0 && strcmp(out + 10, "T00:00:00.000Z") == 0);
    }
    return 0;
}
