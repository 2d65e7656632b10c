/* libFuzzer target for the Exact token-answer parser. The first byte picks the HTTP status, the
 * rest is the body. Checks: no crash or leak; tokens only with NEW_PAIR (or a lone refresh token
 * with BAD_ANSWER), bounded and free of spaces and control characters. Seeds:
 * tests/fuzz/corpus/fuzz_exact_token/. */
#include "mlc_alloc.h"
#include "mlc_err.h"
#include "mlc_exact_token.h"
#include "mlc_log.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check(int ok)
{
    if (!ok)
        abort();
}

static void check_token(const char *t)
{
    size_t n = strlen(t);
    check(n >= 1 && n <= MLC_TOKEN_MAX);
    for (size_t i = 0; i < n; i++)
        check((unsigned char)t[i] > 0x20 && (unsigned char)t[i] < 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int statuses[] = { 200, 400, 401, 500, 429, 0, 503, 200 };
    static int hooked;
    if (!hooked) {
        cJSON_Hooks h = { .malloc_fn = mlc_malloc, .free_fn = mlc_free };
        cJSON_InitHooks(&h);
        hooked = 1;
    }
    if (size < 1)
        return 0;
    size_t base = mlc_alloc_current();
    struct mlc_token_answer a;
    int rc = mlc_exact_token_parse(statuses[data[0] & 7], (const char *)data + 1, size - 1, &a);
    check(strlen(a.message) < sizeof(a.message));
    for (const char *m = a.message; *m; m++)
        check((unsigned char)*m >= 0x20 && *m != 0x7f);
    if (rc == MLC_OK) {
        check(a.outcome == MLC_TOKEN_NEW_PAIR);
        check_token(a.access_token);
        check_token(a.refresh_token);
        check(a.expires_in_s >= 1 && a.expires_in_s <= 86400);
    } else {
        check(a.access_token == NULL);
        check(a.outcome != MLC_TOKEN_NEW_PAIR);
        if (a.refresh_token) {
            check(a.outcome == MLC_TOKEN_BAD_ANSWER);
            check_token(a.refresh_token);
        }
    }
    mlc_token_answer_free(&a);
    mlc_log_secret_clear();
    check(mlc_alloc_current() == base);
    return 0;
}
