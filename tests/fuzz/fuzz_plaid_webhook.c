/* libFuzzer target: a webhook request. Input = Plaid-Verification header value, a newline, then
 * the body. Runs the verifier (with a fixed P-256 key for every kid), the JWT and JWK parsers and
 * the body parser. Nothing forged may verify: the fixed key's private half is not in the corpus,
 * so MLC_WH_OK can only come from a seed that was signed for it (none is). */
#include "mlc_alloc.h"
#include "mlc_err.h"
#include "mlc_jwt.h"
#include "mlc_plaid_webhook.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int lookup(void *ctx, const char *kid, struct mlc_jwk *out)
{
    (void)ctx;
    if (kid[0] == 'x')
        return MLC_ERR_NOTFOUND;
    memset(out, 0, sizeof(*out));
    strncpy(out->kid, kid, sizeof(out->kid) - 1);
    strcpy(out->kty, "EC");
    strcpy(out->crv, "P-256");
    strcpy(out->alg, "ES256");
    /* Plaid's documented example key (SPEC /webhook_verification_key/get) */
    strcpy(out->x, "hKXLGIjWvCBv-cP5euCTxl8g9GLG9zHo_3pO5NN1DwQ");
    strcpy(out->y, "shhexqPB7YffGn6fR6h2UhTSuCtPmfzQJ6ENVIoO4Ys");
    return MLC_OK;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    mlc_alloc_install_hooks();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    const char *nl = memchr(s, '\n', size);
    size_t tlen = nl ? (size_t)(nl - s) : size;
    const char *body = nl ? nl + 1 : s + size;
    size_t blen = size - tlen - (nl ? 1 : 0);
    size_t base = mlc_alloc_current();

    enum mlc_wh_verdict v = mlc_plaid_webhook_verify(s, tlen, body, blen, 1764079200000LL, lookup, NULL);
    if (v == MLC_WH_OK || v > MLC_WH_LOOKUP_FAILED)
        abort();
    struct mlc_jwt jwt;
    if (mlc_jwt_split(s, tlen, &jwt) == MLC_OK) {
        if (jwt.sig_len > sizeof(jwt.sig) || strnlen(jwt.kid, sizeof(jwt.kid)) == sizeof(jwt.kid))
            abort();
        (void)mlc_jwt_parse_payload(&jwt);
    }
    struct mlc_jwk key;
    (void)mlc_jwk_parse(body, blen, &key);
    struct mlc_plaid_webhook wh;
    if (mlc_plaid_webhook_parse(body, blen, &wh) == MLC_OK &&
        strnlen(wh.webhook_code, sizeof(wh.webhook_code)) == sizeof(wh.webhook_code))
        abort();
    if (mlc_alloc_current() != base)
        abort();
    return 0;
}
