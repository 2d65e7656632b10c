/* libFuzzer target for the parsers between Plaid's webhook bytes and the signature check: the JWK
 * from /webhook_verification_key/get (mlc_jwk_parse), the JWS token of the Plaid-Verification
 * header (mlc_jwt_split, mlc_jwt_parse_payload) and the base64url decoder under both. The whole
 * input goes to each. Promises checked: no crash, no read past the input, no leak; every string
 * handed out is NUL-terminated inside its field; a split token's parts point into the token and
 * the signature decodes canonically (one accepted spelling per byte string, so a signature cannot
 * be re-spelled to dodge a replay check); a parsed key goes through the key cache unchanged; a
 * refused key leaves nothing half-filled. Seeds: tests/fuzz/corpus/fuzz_jwk/. */
#include "mlc_alloc.h"
#include "mlc_b64.h"
#include "mlc_err.h"
#include "mlc_jwt.h"
#include "mlc_plaid_webhook.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check(int ok)
{
    if (!ok)
        abort();
}

#define TERMINATED(field) check(strnlen((field), sizeof(field)) < sizeof(field))

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    mlc_alloc_install_hooks();
    return 0;
}

static void fuzz_jwt(const char *s, size_t size)
{
    struct mlc_jwt jwt;
    int rc = mlc_jwt_split(s, size, &jwt);
    if (rc != MLC_OK) {
        check(rc == MLC_ERR_DATA || rc == MLC_ERR_TOO_BIG || rc == MLC_ERR_NOMEM);
        return;
    }
    TERMINATED(jwt.alg);
    TERMINATED(jwt.kid);
    TERMINATED(jwt.typ);
    /* alg may be "" here: the verifier refuses it as a wrong algorithm (MLC_WH_BAD_ALG) */
    check(jwt.sig_len <= sizeof(jwt.sig));
    /* header.payload is a prefix of the token, followed by ".signature" */
    check(jwt.signing_input == s && jwt.signing_input_len < size && s[jwt.signing_input_len] == '.');
    check(jwt.payload_b64 > s && jwt.payload_b64[-1] == '.' &&
          jwt.payload_b64 + jwt.payload_b64_len == s + jwt.signing_input_len);
    /* the signature part is the one canonical spelling of the decoded bytes */
    const char *sig_b64 = s + jwt.signing_input_len + 1;
    size_t sig_b64_len = size - jwt.signing_input_len - 1;
    char again[MLC_B64URL_ENCODED_LEN(MLC_JWT_SIG_MAX) + 1];
    int n = mlc_b64url_encode(jwt.sig, jwt.sig_len, again, sizeof(again));
    check(n >= 0 && (size_t)n == sig_b64_len && memcmp(again, sig_b64, sig_b64_len) == 0);

    rc = mlc_jwt_parse_payload(&jwt);
    if (rc == MLC_OK) {
        TERMINATED(jwt.body_sha256);
        size_t h = strlen(jwt.body_sha256);
        check(h == 0 || h == 64);
        for (size_t i = 0; i < h; i++)
            check(strchr("0123456789abcdefABCDEF", jwt.body_sha256[i]) != NULL);
        check(!jwt.has_iat || (jwt.iat >= 0 && jwt.iat < (1LL << 40)));
    } else {
        check(rc == MLC_ERR_DATA || rc == MLC_ERR_TOO_BIG || rc == MLC_ERR_NOMEM);
    }
}

static void fuzz_key(const char *s, size_t size)
{
    struct mlc_jwk key;
    int rc = mlc_jwk_parse(s, size, &key);
    if (rc != MLC_OK) {
        check(rc == MLC_ERR_DATA || rc == MLC_ERR_TOO_BIG || rc == MLC_ERR_NOMEM);
        check(key.kid[0] == '\0' && key.x[0] == '\0' && key.y[0] == '\0');
        return;
    }
    TERMINATED(key.kid);
    TERMINATED(key.kty);
    TERMINATED(key.crv);
    TERMINATED(key.alg);
    TERMINATED(key.use);
    TERMINATED(key.x);
    TERMINATED(key.y);
    check(key.kid[0] && key.kty[0] && key.crv[0] && key.x[0] && key.y[0]);
    check(key.has_expired_at == 0 || key.has_expired_at == 1);
    /* what the cache hands back for that kid is the very key stored */
    static struct mlc_wh_key_cache cache;
    struct mlc_jwk back;
    mlc_wh_key_cache_init(&cache, 60000);
    mlc_wh_key_cache_put(&cache, &key, 1000);
    check(mlc_wh_key_cache_get(&cache, key.kid, 2000, &back) == MLC_OK);
    check(strcmp(back.kid, key.kid) == 0 && strcmp(back.x, key.x) == 0 &&
          strcmp(back.y, key.y) == 0 && back.expired_at == key.expired_at &&
          back.has_expired_at == key.has_expired_at);
    /* and nothing once its time is up */
    check(mlc_wh_key_cache_get(&cache, key.kid, 1000 + 60000, &back) == MLC_ERR_NOTFOUND);
}

static void fuzz_b64(const char *s, size_t size)
{
    static uint8_t bytes[MLC_B64URL_DECODED_MAX(4096)];
    static char text[MLC_B64URL_ENCODED_LEN(sizeof(bytes)) + 1];
    if (size > 4096)
        return;
    size_t n = 0;
    if (mlc_b64url_decode(s, size, bytes, sizeof(bytes), &n) == MLC_OK) {
        int m = mlc_b64url_encode(bytes, n, text, sizeof(text));
        check(m >= 0 && (size_t)m == size && memcmp(text, s, size) == 0);
    }
    /* any bytes: encode, then decode gives them back */
    if (size > sizeof(bytes))
        return;
    int m = mlc_b64url_encode((const uint8_t *)s, size, text, sizeof(text));
    check(m >= 0 && (size_t)m == MLC_B64URL_ENCODED_LEN(size) && text[m] == '\0');
    check(mlc_b64url_decode(text, (size_t)m, bytes, sizeof(bytes), &n) == MLC_OK);
    check(n == size && memcmp(bytes, s, size) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    size_t base = mlc_alloc_current();
    fuzz_jwt(s, size);
    fuzz_key(s, size);
    fuzz_b64(s, size);
    check(mlc_alloc_current() == base);
    return 0;
}
