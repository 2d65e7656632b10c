/* libFuzzer target for Exact error bodies: classification never crashes or leaks, the message is
 * one line of valid printable UTF-8 within its buffer, and the sanitiser keeps those promises for
 * any bytes. The first two bytes pick the HTTP status. Seeds: tests/fuzz/corpus/fuzz_exact_error/. */
#include "mlc_alloc.h"
#include "mlc_err.h"
#include "mlc_exact_error.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check(int ok)
{
    if (!ok)
        abort();
}

/* Valid UTF-8, no C0/C1 controls, no DEL. */
static void check_display(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned char c = *p;
        size_t n = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        check(c >= 0x20 && c != 0x7f && !(c >= 0x80 && c < 0xC2) && c <= 0xF4);
        for (size_t i = 1; i < n; i++)
            check((p[i] & 0xC0) == 0x80);
        if (n == 2)
            check(!(c == 0xC2 && p[1] < 0xA0)); /* U+0080..U+009F */
        p += n;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int hooked;
    if (!hooked) {
        cJSON_Hooks h = { .malloc_fn = mlc_malloc, .free_fn = mlc_free };
        cJSON_InitHooks(&h);
        hooked = 1;
    }
    if (size < 2)
        return 0;
    size_t base = mlc_alloc_current();
    int status = ((data[0] << 8) | data[1]) % 600;
    const char *body = (const char *)data + 2;
    size_t len = size - 2;

    struct mlc_exact_failure f;
    char reason[40];
    size_t rl = len < sizeof(reason) - 1 ? len : sizeof(reason) - 1;
    memcpy(reason, body, rl);
    reason[rl] = '\0';
    enum mlc_exact_class c = mlc_exact_error_classify(status, reason, body, len, &f);
    check(c == f.cls && (unsigned)c <= MLC_EXACT_BUG);
    check(strlen(f.message) < sizeof(f.message));
    check_display(f.message);
    check(strlen(f.reason) < sizeof(f.reason));
    if (status == 500 && c == MLC_EXACT_RETRY) {
        char m[64];
        check(mlc_exact_error_parse(body, len, m, sizeof(m)) != MLC_OK);
    }

    char out[97];
    size_t n = mlc_exact_error_sanitize(body, len, out, sizeof(out));
    check(n == strlen(out) && n < sizeof(out));
    check_display(out);
    check(mlc_alloc_current() == base);
    return 0;
}
