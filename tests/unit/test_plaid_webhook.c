#include "mlc_test_util.h"
#include "mlc_alloc.h"
#include "mlc_b64.h"
#include "mlc_err.h"
#include "mlc_plaid_webhook.h"

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/md.h>
#include <mbedtls/sha256.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- an independent vector, signed once with python3-cryptography (see the report) -------- */
static const char py_token[] =
    "eyJhbGciOiJFUzI1NiIsImtpZCI6IjZjNTUxNmUxLTkyZGMtNDc5ZS1hOGZmLTVhNTE5OTJlMDAwMSIsInR5cCI6IkpXVCJ9."
    "eyJpYXQiOjE3NjQwNzkyMDAsInJlcXVlc3RfYm9keV9zaGEyNTYiOiJhYjU1MDgzMDIyY2UxOWE5NWVhYmNiM2NmZjljZTMx"
    "NDMyZGVjMTMwNGQxODU5ZmM0ODFiYzVmYjUzY2M1ZDcyIn0."
    "1_-2wW1ecv74PVhKqf4SKKW3o0FVHKazsDIXONA3du_BZ8hqwsRkFjgCy7QBdYFJ9oDmPjV_LR3CNLTDLqSxvg";
/* as /webhook_verification_key/get answers */
static const char py_key_answer[] =
    "{\"key\": {\"alg\": \"ES256\", \"created_at\": 1560466150, \"crv\": \"P-256\", \"expired_at\": null,"
    " \"kid\": \"6c5516e1-92dc-479e-a8ff-5a51992e0001\", \"kty\": \"EC\", \"use\": \"sig\","
    " \"x\": \"-KkAYrmPLaltv0vzeCMQJEU577A9I4r6f5TuAELUUFc\","
    " \"y\": \"BKq2R4_42sku00IsYWc_CtrgmvC7q2oFeSFKq29Ijk4\"}, \"request_id\": \"Ay0yN1a8RJPdQIG\"}";
/* Plaid indents bodies by 2; the hash covers these exact bytes */
static const char py_body[] =
    "{\n  \"environment\": \"sandbox\",\n  \"historical_update_complete\": false,\n"
    "  \"initial_update_complete\": true,\n  \"item_id\": \"wz666MBjYWTp2PDzzggYhM6oWWmBb\",\n"
    "  \"webhook_code\": \"SYNC_UPDATES_AVAILABLE\",\n  \"webhook_type\": \"TRANSACTIONS\"\n}";
static const int64_t py_iat = 1764079200;

/* ---- keys and tokens made at test time with mbedTLS --------------------------------------- */
#define KID_A "kid-a-0001"
#define KID_B "kid-b-0002"
#define NOW_S 1764079200LL

struct fixture {
    mbedtls_ctr_drbg_context drbg;
    mbedtls_ecdsa_context key_a, key_b;
    struct mlc_jwk jwk_a, jwk_b;
    int lookups;
    int lookup_rc;         /* forced answer when not MLC_OK */
    int expire_a;
};

static int fixed_entropy(void *ctx, unsigned char *out, size_t n)
{
    (void)ctx;
    for (size_t k = 0; k < n; k++)
        out[k] = (unsigned char)(k * 31 + 7); /* deterministic: same keys every run */
    return 0;
}

static void to_jwk(const mbedtls_ecdsa_context *k, const char *kid, struct mlc_jwk *j)
{
    uint8_t x[32], y[32];
    memset(j, 0, sizeof(*j));
    assert_int_equal(mbedtls_mpi_write_binary(&k->Q.X, x, 32), 0);
    assert_int_equal(mbedtls_mpi_write_binary(&k->Q.Y, y, 32), 0);
    strcpy(j->kid, kid);
    strcpy(j->kty, "EC");
    strcpy(j->crv, "P-256");
    strcpy(j->alg, "ES256");
    strcpy(j->use, "sig");
    assert_int_equal(mlc_b64url_encode(x, 32, j->x, sizeof(j->x)), 43);
    assert_int_equal(mlc_b64url_encode(y, 32, j->y, sizeof(j->y)), 43);
    j->created_at = 1560466150;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    mbedtls_ctr_drbg_init(&f->drbg);
    mbedtls_ecdsa_init(&f->key_a);
    mbedtls_ecdsa_init(&f->key_b);
    if (mbedtls_ctr_drbg_seed(&f->drbg, fixed_entropy, NULL, (const unsigned char *)"mlc", 3) ||
        mbedtls_ecdsa_genkey(&f->key_a, MBEDTLS_ECP_DP_SECP256R1, mbedtls_ctr_drbg_random, &f->drbg) ||
        mbedtls_ecdsa_genkey(&f->key_b, MBEDTLS_ECP_DP_SECP256R1, mbedtls_ctr_drbg_random, &f->drbg))
        return -1;
    to_jwk(&f->key_a, KID_A, &f->jwk_a);
    to_jwk(&f->key_b, KID_B, &f->jwk_b);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    mbedtls_ecdsa_free(&f->key_a);
    mbedtls_ecdsa_free(&f->key_b);
    mbedtls_ctr_drbg_free(&f->drbg);
    free(f);
    return 0;
}

/* The client's lookup: knows kid A and kid B, nothing else. Counts calls. */
static int lookup(void *ctx, const char *kid, struct mlc_jwk *out)
{
    struct fixture *f = ctx;
    f->lookups++;
    if (f->lookup_rc != MLC_OK)
        return f->lookup_rc;
    if (strcmp(kid, KID_A) == 0) {
        *out = f->jwk_a;
        if (f->expire_a) {
            out->has_expired_at = 1;
            out->expired_at = NOW_S - 10;
        }
        return MLC_OK;
    }
    if (strcmp(kid, KID_B) == 0) {
        *out = f->jwk_b;
        return MLC_OK;
    }
    return MLC_ERR_NOTFOUND;
}

static int py_lookup(void *ctx, const char *kid, struct mlc_jwk *out)
{
    (void)ctx;
    assert_int_equal(mlc_jwk_parse(py_key_answer, strlen(py_key_answer), out), MLC_OK);
    return strcmp(kid, out->kid) == 0 ? MLC_OK : MLC_ERR_NOTFOUND;
}

static void sha256_hex(const void *data, size_t n, char hex[65])
{
    uint8_t h[32];
    assert_int_equal(mbedtls_sha256_ret(data, n, h, 0), 0);
    for (int k = 0; k < 32; k++)
        sprintf(hex + 2 * k, "%02x", h[k]);
}

enum signer { SIGN_ES256, SIGN_NONE, SIGN_HS256_PUBKEY, SIGN_GARBAGE };

/* header.payload.signature with header {"alg":alg,"kid":kid,"typ":"JWT"}. */
static char *make_token(struct fixture *f, const char *alg, const char *kid, int64_t iat,
                        const char *body, mbedtls_ecdsa_context *key, enum signer how)
{
    char hdr[256], pl[256], hex[65], h64[512], p64[512], s64[200] = "";
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"JWT\"}", alg, kid);
    sha256_hex(body, strlen(body), hex);
    snprintf(pl, sizeof(pl), "{\"iat\":%lld,\"request_body_sha256\":\"%s\"}", (long long)iat, hex);
    assert_true(mlc_b64url_encode((const uint8_t *)hdr, strlen(hdr), h64, sizeof(h64)) > 0);
    assert_true(mlc_b64url_encode((const uint8_t *)pl, strlen(pl), p64, sizeof(p64)) > 0);
    char si[1100];
    snprintf(si, sizeof(si), "%s.%s", h64, p64);
    uint8_t sig[64];
    if (how == SIGN_ES256) {
        uint8_t hash[32];
        mbedtls_mpi r, s;
        mbedtls_mpi_init(&r);
        mbedtls_mpi_init(&s);
        assert_int_equal(mbedtls_sha256_ret((const uint8_t *)si, strlen(si), hash, 0), 0);
        assert_int_equal(mbedtls_ecdsa_sign(&key->grp, &r, &s, &key->d, hash, 32,
                                            mbedtls_ctr_drbg_random, &f->drbg), 0);
        assert_int_equal(mbedtls_mpi_write_binary(&r, sig, 32), 0);
        assert_int_equal(mbedtls_mpi_write_binary(&s, sig + 32, 32), 0);
        mbedtls_mpi_free(&r);
        mbedtls_mpi_free(&s);
        assert_int_equal(mlc_b64url_encode(sig, 64, s64, sizeof(s64)), 86);
    } else if (how == SIGN_HS256_PUBKEY) {
        /* the classic confusion attack: HMAC keyed with the (public) verification key */
        uint8_t mac[32];
        const char *secret = f->jwk_a.x;
        assert_int_equal(mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
                                         (const uint8_t *)secret, strlen(secret),
                                         (const uint8_t *)si, strlen(si), mac), 0);
        assert_int_equal(mlc_b64url_encode(mac, 32, s64, sizeof(s64)), 43);
    } else if (how == SIGN_GARBAGE) {
        memset(sig, 0x5a, sizeof(sig));
        assert_int_equal(mlc_b64url_encode(sig, 63, s64, sizeof(s64)), 84);
    }
    size_t n = strlen(si) + strlen(s64) + 2;
    char *t = malloc(n);
    assert_non_null(t);
    snprintf(t, n, "%s.%s", si, s64);
    return t;
}

static const char body[] = "{\n  \"webhook_type\": \"TRANSACTIONS\",\n  \"webhook_code\": "
                           "\"SYNC_UPDATES_AVAILABLE\",\n  \"item_id\": \"item-1\"\n}";

static enum mlc_wh_verdict run(struct fixture *f, const char *tok, const char *b, int64_t now_s)
{
    return mlc_plaid_webhook_verify(tok, strlen(tok), b, strlen(b), now_s * 1000, lookup, f);
}

static void accepts_a_valid_plaid_webhook(void **state)
{
    struct fixture *f = *state;
    char *t = make_token(f, "ES256", KID_A, NOW_S, body, &f->key_a, SIGN_ES256);
    assert_int_equal(run(f, t, body, NOW_S), MLC_WH_OK);
    assert_int_equal(f->lookups, 1);
    /* within the window at both ends */
    assert_int_equal(run(f, t, body, NOW_S + MLC_WH_MAX_AGE_S), MLC_WH_OK);
    assert_int_equal(run(f, t, body, NOW_S - MLC_WH_MAX_SKEW_S), MLC_WH_OK);
    free(t);
    t = make_token(f, "ES256", KID_B, NOW_S, body, &f->key_b, SIGN_ES256);
    assert_int_equal(run(f, t, body, NOW_S), MLC_WH_OK);
    free(t);
}

static void independent_python_vector_verifies(void **state)
{
    (void)state;
    int64_t now_ms = (py_iat + 30) * 1000;
    assert_int_equal(mlc_plaid_webhook_verify(py_token, strlen(py_token), py_body, strlen(py_body),
                                              now_ms, py_lookup, NULL), MLC_WH_OK);
    /* re-indented with 4 spaces, the same JSON is a different body (D-whv) */
    char reindented[sizeof(py_body) + 64];
    size_t o = 0;
    for (const char *p = py_body; *p; p++) {
        reindented[o++] = *p;
        if (*p == '\n' && p[1] == ' ') {
            reindented[o++] = ' ';
            reindented[o++] = ' ';
        }
    }
    reindented[o] = '\0';
    assert_int_equal(mlc_plaid_webhook_verify(py_token, strlen(py_token), reindented, o, now_ms,
                                              py_lookup, NULL), MLC_WH_BODY_MISMATCH);
    /* one flipped bit in the signature */
    char tok[sizeof(py_token)];
    memcpy(tok, py_token, sizeof(py_token));
    tok[sizeof(py_token) - 10] = tok[sizeof(py_token) - 10] == 'A' ? 'B' : 'A';
    assert_int_equal(mlc_plaid_webhook_verify(tok, strlen(tok), py_body, strlen(py_body), now_ms,
                                              py_lookup, NULL), MLC_WH_BAD_SIG);
    /* and the body parses into what the engine needs */
    struct mlc_plaid_webhook wh;
    assert_int_equal(mlc_plaid_webhook_parse(py_body, strlen(py_body), &wh), MLC_OK);
    assert_int_equal(wh.type, MLC_WH_TYPE_TRANSACTIONS);
    assert_int_equal(wh.code, MLC_WH_CODE_SYNC_UPDATES_AVAILABLE);
    assert_string_equal(wh.item_id, "wz666MBjYWTp2PDzzggYhM6oWWmBb");
    assert_string_equal(wh.environment, "sandbox");
    assert_int_equal(wh.initial_update_complete, 1);
    assert_int_equal(wh.historical_update_complete, 0);
}

static void rejects_wrong_key_and_unknown_kid(void **state)
{
    struct fixture *f = *state;
    /* signed by B but claims to be A */
    char *t = make_token(f, "ES256", KID_A, NOW_S, body, &f->key_b, SIGN_ES256);
    assert_int_equal(run(f, t, body, NOW_S), MLC_WH_BAD_SIG);
    free(t);
    t = make_token(f, "ES256", "kid-nobody-knows", NOW_S, body, &f->key_a, SIGN_ES256);
    assert_int_equal(run(f, t, body, NOW_S), MLC_WH_UNKNOWN_KID);
    /* the lookup could not answer (network): not a forgery, Plaid should retry */
    f->lookup_rc = MLC_ERR_RETRY;
    assert_int_equal(run(f, t, body, NOW_S), MLC_WH_LOOKUP_FAILED);
    f->lookup_rc = MLC_OK;
    free(t);
    /* a retired key is refused even though the signature is good */
    f->expire_a = 1;
    t = make_token(f, "ES256", KID_A, NOW_S, body, &f->key_a, SIGN_ES256);
    assert_int_equal(run(f, t, body, NOW_S), MLC_WH_KEY_EXPIRED);
    f->expire_a = 0;
    /* a key that is not P-256 / not on the curve */
    struct mlc_jwk saved = f->jwk_a;
    strcpy(f->jwk_a.crv, "P-384");
    assert_int_equal(run(f, t, body, NOW_S), MLC_WH_BAD_KEY);
    f->jwk_a = saved;
    f->jwk_a.y[5] = f->jwk_a.y[5] == 'A' ? 'B' : 'A';
    assert_int_equal(run(f, t, body, NOW_S), MLC_WH_BAD_KEY);
    f->jwk_a = saved;
    assert_int_equal(run(f, t, body, NOW_S), MLC_WH_OK);
    free(t);
}

static void rejects_stale_future_and_changed_body(void **state)
{
    struct fixture *f = *state;
    char *t = make_token(f, "ES256", KID_A, NOW_S, body, &f->key_a, SIGN_ES256);
    assert_int_equal(run(f, t, body, NOW_S + MLC_WH_MAX_AGE_S + 1), MLC_WH_STALE);
    assert_int_equal(run(f, t, body, NOW_S - MLC_WH_MAX_SKEW_S - 1), MLC_WH_FUTURE);
    char changed[sizeof(body)];
    memcpy(changed, body, sizeof(body));
    changed[sizeof(body) - 5] ^= 0x01; /* one byte of the item id */
    assert_int_equal(run(f, t, changed, NOW_S), MLC_WH_BODY_MISMATCH);
    assert_int_equal(mlc_plaid_webhook_verify(t, strlen(t), body, strlen(body) - 1, NOW_S * 1000,
                                              lookup, f), MLC_WH_BODY_MISMATCH);
    free(t);
}

static void refuses_other_algorithms_before_any_key_use(void **state)
{
    struct fixture *f = *state;
    static const char *const algs[] = { "none", "HS256", "RS256", "ES384", "es256", "" };
    for (size_t k = 0; k < sizeof(algs) / sizeof(algs[0]); k++) {
        char *t = make_token(f, algs[k], KID_A, NOW_S, body, &f->key_a,
                             strcmp(algs[k], "HS256") == 0 ? SIGN_HS256_PUBKEY
                             : strcmp(algs[k], "none") == 0 ? SIGN_NONE : SIGN_ES256);
        f->lookups = 0;
        if (run(f, t, body, NOW_S) != MLC_WH_BAD_ALG)
            fail_msg("alg \"%s\" not refused as BAD_ALG", algs[k]);
        assert_int_equal(f->lookups, 0); /* no key was even fetched */
        free(t);
    }
}

static void refuses_malformed_headers(void **state)
{
    struct fixture *f = *state;
    char *t = make_token(f, "ES256", KID_A, NOW_S, body, &f->key_a, SIGN_ES256);
    /* two parts */
    *strrchr(t, '.') = '\0';
    assert_int_equal(run(f, t, body, NOW_S), MLC_WH_MALFORMED);
    free(t);
    /* bad base64 in the header */
    t = make_token(f, "ES256", KID_A, NOW_S, body, &f->key_a, SIGN_ES256);
    t[3] = '+';
    assert_int_equal(run(f, t, body, NOW_S), MLC_WH_MALFORMED);
    free(t);
    /* no kid */
    t = make_token(f, "ES256", "", NOW_S, body, &f->key_a, SIGN_ES256);
    assert_int_equal(run(f, t, body, NOW_S), MLC_WH_MALFORMED);
    free(t);
    /* a 63-byte signature */
    t = make_token(f, "ES256", KID_A, NOW_S, body, &f->key_a, SIGN_GARBAGE);
    assert_int_equal(run(f, t, body, NOW_S), MLC_WH_BAD_SIG);
    free(t);
    /* huge header value */
    size_t n = 64 * 1024;
    char *huge = malloc(n + 1);
    assert_non_null(huge);
    memset(huge, 'A', n);
    huge[100] = huge[200] = '.';
    huge[n] = '\0';
    f->lookups = 0;
    assert_int_equal(run(f, huge, body, NOW_S), MLC_WH_MALFORMED);
    assert_int_equal(f->lookups, 0);
    free(huge);
    assert_int_equal(mlc_plaid_webhook_verify(NULL, 0, body, strlen(body), NOW_S * 1000, lookup, f),
                     MLC_WH_MALFORMED);
    /* every verdict has a sentence for the log */
    for (int v = MLC_WH_OK; v <= MLC_WH_LOOKUP_FAILED; v++)
        assert_true(strlen(mlc_wh_verdict_str((enum mlc_wh_verdict)v)) > 10);
}

static void key_cache_expires_and_stays_bounded(void **state)
{
    struct fixture *f = *state;
    struct mlc_wh_key_cache c;
    struct mlc_jwk k;
    mlc_wh_key_cache_init(&c, 60000);
    assert_int_equal(mlc_wh_key_cache_get(&c, KID_A, 1000, &k), MLC_ERR_NOTFOUND);
    mlc_wh_key_cache_put(&c, &f->jwk_a, 1000);
    assert_int_equal(mlc_wh_key_cache_get(&c, KID_A, 60999, &k), MLC_OK);
    assert_string_equal(k.x, f->jwk_a.x);
    assert_int_equal(mlc_wh_key_cache_get(&c, KID_A, 61000, &k), MLC_ERR_NOTFOUND);
    assert_int_equal(mlc_wh_key_cache_get(&c, KID_A, 999, &k), MLC_ERR_NOTFOUND); /* clock back */
    /* more kids than slots: the oldest goes, the newest stay */
    for (int i = 0; i < MLC_WH_KEY_CACHE_SLOTS + 3; i++) {
        struct mlc_jwk j = f->jwk_b;
        snprintf(j.kid, sizeof(j.kid), "kid-%d", i);
        mlc_wh_key_cache_put(&c, &j, 2000 + i);
    }
    assert_int_equal(mlc_wh_key_cache_get(&c, KID_A, 3000, &k), MLC_ERR_NOTFOUND);
    assert_int_equal(mlc_wh_key_cache_get(&c, "kid-0", 3000, &k), MLC_ERR_NOTFOUND);
    char last[32];
    snprintf(last, sizeof(last), "kid-%d", MLC_WH_KEY_CACHE_SLOTS + 2);
    assert_int_equal(mlc_wh_key_cache_get(&c, last, 3000, &k), MLC_OK);
    /* JWK answers with missing fields are refused */
    assert_int_equal(mlc_jwk_parse("{\"key\":{\"kid\":\"a\",\"kty\":\"EC\"}}", 33, &k), MLC_ERR_DATA);
    assert_int_equal(mlc_jwk_parse("[]", 2, &k), MLC_ERR_DATA);
}

static void parses_item_and_unknown_webhooks(void **state)
{
    (void)state;
    struct mlc_plaid_webhook wh;
    const char *err_body =
        "{\"webhook_type\":\"ITEM\",\"webhook_code\":\"ERROR\",\"item_id\":\"it-9\",\"environment\":"
        "\"production\",\"error\":{\"error_type\":\"ITEM_ERROR\",\"error_code\":\"ITEM_LOGIN_REQUIRED\","
        "\"error_message\":\"the login details of this item have changed\",\"display_message\":null,"
        "\"status\":400}}";
    assert_int_equal(mlc_plaid_webhook_parse(err_body, strlen(err_body), &wh), MLC_OK);
    assert_int_equal(wh.type, MLC_WH_TYPE_ITEM);
    assert_int_equal(wh.code, MLC_WH_CODE_ERROR);
    assert_true(wh.has_error);
    assert_string_equal(wh.error.error_code, "ITEM_LOGIN_REQUIRED");
    assert_int_equal(wh.error.status, 400);
    assert_int_equal(mlc_plaid_error_classify(&wh.error, wh.error.status), MLC_PLAID_NEEDS_PERSON);

    const char *exp = "{\"webhook_type\":\"ITEM\",\"webhook_code\":\"PENDING_EXPIRATION\",\"item_id\":"
                      "\"it-9\",\"consent_expiration_time\":\"2026-12-02T10:00:00Z\",\"future_field\":[1,2]}";
    assert_int_equal(mlc_plaid_webhook_parse(exp, strlen(exp), &wh), MLC_OK);
    assert_int_equal(wh.code, MLC_WH_CODE_PENDING_EXPIRATION);
    assert_string_equal(wh.consent_expiration_time, "2026-12-02T10:00:00Z");
    assert_int_equal(wh.has_error, 0);

    const char *dflt = "{\"webhook_type\":\"TRANSACTIONS\",\"webhook_code\":\"DEFAULT_UPDATE\",\"item_id\":"
                       "\"it-9\",\"new_transactions\":3,\"error\":null}";
    assert_int_equal(mlc_plaid_webhook_parse(dflt, strlen(dflt), &wh), MLC_OK);
    assert_int_equal(wh.code, MLC_WH_CODE_DEFAULT_UPDATE);
    assert_int_equal(wh.new_transactions, 3);

    /* new codes and types are not errors: they are "unknown", with the raw names kept */
    const char *newcode = "{\"webhook_type\":\"TRANSACTIONS\",\"webhook_code\":\"RECURRING_TRANSACTIONS_UPDATE\","
                          "\"item_id\":\"it-9\"}";
    assert_int_equal(mlc_plaid_webhook_parse(newcode, strlen(newcode), &wh), MLC_OK);
    assert_int_equal(wh.type, MLC_WH_TYPE_TRANSACTIONS);
    assert_int_equal(wh.code, MLC_WH_CODE_UNKNOWN);
    assert_string_equal(wh.webhook_code, "RECURRING_TRANSACTIONS_UPDATE");
    const char *newtype = "{\"webhook_type\":\"HOLDINGS\",\"webhook_code\":\"ERROR\"}";
    assert_int_equal(mlc_plaid_webhook_parse(newtype, strlen(newtype), &wh), MLC_OK);
    assert_int_equal(wh.type, MLC_WH_TYPE_UNKNOWN);
    assert_int_equal(wh.code, MLC_WH_CODE_UNKNOWN); /* ERROR of an unknown type is not ITEM ERROR */

    static const char *const bad[] = {
        "{\"webhook_code\":\"ERROR\"}", "{\"webhook_type\":\"ITEM\"}", "[]", "{", "",
        "{\"webhook_type\":1,\"webhook_code\":\"ERROR\"}",
        "{\"webhook_type\":\"ITEM\",\"webhook_code\":\"ERROR\",\"error\":{\"error_type\":3}}",
        "{\"webhook_type\":\"ITEM\",\"webhook_code\":\"X\",\"initial_update_complete\":\"yes\"}",
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
        if (mlc_plaid_webhook_parse(bad[k], strlen(bad[k]), &wh) != MLC_ERR_DATA)
            fail_msg("accepted body %s", bad[k]);
}

static void verification_uses_no_heap_beyond_cjson_and_leaks_nothing(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(mlc_alloc_install_hooks(), MLC_OK);
    char *t = make_token(f, "ES256", KID_A, NOW_S, body, &f->key_a, SIGN_ES256);
    size_t base = mlc_alloc_current();
    for (long fail = 1; fail < 30; fail++) {
        mlc_alloc_fail_after(fail);
        enum mlc_wh_verdict v = run(f, t, body, NOW_S);
        /* a refused allocation may only ever turn into a refusal, never into acceptance of junk */
        assert_true(v == MLC_WH_OK || v == MLC_WH_MALFORMED);
        assert_int_equal(mlc_alloc_current(), base);
    }
    mlc_alloc_fail_after(0);
    free(t);
}

/* Every webhook example in Plaid's spec (kept as fuzz seeds: header line, then body) parses,
 * to a known type and code. */
static void parses_every_spec_webhook_example(void **state)
{
    (void)state;
    static const char *const names[] = {
        "SyncUpdatesAvailableWebhook", "ItemErrorWebhook", "PendingExpirationWebhook",
        "PendingDisconnectWebhook", "UserPermissionRevokedWebhook", "DefaultUpdateWebhook",
        "TransactionsRemovedWebhook", "WebhookUpdateAcknowledgedWebhook",
        "NewAccountsAvailableWebhook",
    };
    const char *root = getenv("MLC_SOURCE_DIR");
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/fuzz_plaid_webhook/%s",
                 root ? root : ".", names[k]);
        size_t len = 0;
        char *text = mlc_test_slurp(path, &len);
        assert_non_null(text);
        const char *b = strchr(text, '\n');
        assert_non_null(b);
        b++;
        struct mlc_plaid_webhook wh;
        if (mlc_plaid_webhook_parse(b, len - (size_t)(b - text), &wh) != MLC_OK)
            fail_msg("%s does not parse", names[k]);
        if (wh.type == MLC_WH_TYPE_UNKNOWN || wh.code == MLC_WH_CODE_UNKNOWN || !wh.item_id[0])
            fail_msg("%s: type/code/item not recognised", names[k]);
        if (wh.code == MLC_WH_CODE_ERROR)
            assert_int_equal(mlc_plaid_error_classify(&wh.error, wh.error.status),
                             MLC_PLAID_NEEDS_PERSON);
        free(text);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accepts_a_valid_plaid_webhook),
        cmocka_unit_test(independent_python_vector_verifies),
        cmocka_unit_test(rejects_wrong_key_and_unknown_kid),
        cmocka_unit_test(rejects_stale_future_and_changed_body),
        cmocka_unit_test(refuses_other_algorithms_before_any_key_use),
        cmocka_unit_test(refuses_malformed_headers),
        cmocka_unit_test(key_cache_expires_and_stays_bounded),
        cmocka_unit_test(parses_item_and_unknown_webhooks),
        cmocka_unit_test(parses_every_spec_webhook_example),
        cmocka_unit_test(verification_uses_no_heap_beyond_cjson_and_leaks_nothing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
