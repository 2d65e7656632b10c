#include "mlc_plaid_webhook.h"
#include "mlc_b64.h"
#include "mlc_err.h"
#include "mlc_platform.h"

#include <cjson/cJSON.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/sha256.h>
#include <string.h>

/* ---- JWK ---------------------------------------------------------------------------------- */

static int jstr(const cJSON *obj, const char *name, char *dst, size_t cap, int required)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
    dst[0] = '\0';
    if (!it || cJSON_IsNull(it))
        return required ? MLC_ERR_DATA : MLC_OK;
    if (!cJSON_IsString(it) || !it->valuestring || strlen(it->valuestring) >= cap)
        return MLC_ERR_DATA;
    /* A required member must say something: "" (or a string cut short by a raw NUL byte, which
     * cJSON lets through) is no kid or key (found by fuzz_jwk). */
    if (required && !it->valuestring[0])
        return MLC_ERR_DATA;
    strcpy(dst, it->valuestring);
    return MLC_OK;
}

/* Unix seconds as a JSON number; absent/null -> *has = 0. */
static int jtime(const cJSON *obj, const char *name, int64_t *v, int *has)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
    *v = 0;
    if (has)
        *has = 0;
    if (!it || cJSON_IsNull(it))
        return MLC_OK;
    if (!cJSON_IsNumber(it) || !(it->valuedouble >= 0 && it->valuedouble < 1099511627776.0))
        return MLC_ERR_DATA;
    *v = (int64_t)it->valuedouble;
    if (has)
        *has = 1;
    return MLC_OK;
}

int mlc_jwk_from_json(const cJSON *obj, struct mlc_jwk *out)
{
    if (!out)
        return MLC_ERR_DATA;
    memset(out, 0, sizeof(*out));
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(obj, "key");
    if (cJSON_IsObject(key))
        obj = key;
    if (!cJSON_IsObject(obj))
        return MLC_ERR_DATA;
    if (jstr(obj, "kid", out->kid, sizeof(out->kid), 1) || jstr(obj, "kty", out->kty, sizeof(out->kty), 1) ||
        jstr(obj, "crv", out->crv, sizeof(out->crv), 1) || jstr(obj, "x", out->x, sizeof(out->x), 1) ||
        jstr(obj, "y", out->y, sizeof(out->y), 1) || jstr(obj, "alg", out->alg, sizeof(out->alg), 0) ||
        jstr(obj, "use", out->use, sizeof(out->use), 0) ||
        jtime(obj, "created_at", &out->created_at, NULL) ||
        jtime(obj, "expired_at", &out->expired_at, &out->has_expired_at)) {
        memset(out, 0, sizeof(*out));
        return MLC_ERR_DATA;
    }
    return MLC_OK;
}

int mlc_jwk_parse(const char *json, size_t len, struct mlc_jwk *out)
{
    if (out)
        memset(out, 0, sizeof(*out));
    if (!json || !out)
        return MLC_ERR_DATA;
    if (len > 16 * 1024)
        return MLC_ERR_TOO_BIG;
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root)
        return MLC_ERR_DATA;
    int rc = mlc_jwk_from_json(root, out);
    cJSON_Delete(root);
    return rc;
}

/* ---- key cache ---------------------------------------------------------------------------- */

void mlc_wh_key_cache_init(struct mlc_wh_key_cache *c, int64_t ttl_ms)
{
    memset(c, 0, sizeof(*c));
    c->ttl_ms = ttl_ms;
}

int mlc_wh_key_cache_get(const struct mlc_wh_key_cache *c, const char *kid, int64_t now_ms,
                         struct mlc_jwk *out)
{
    for (int k = 0; k < MLC_WH_KEY_CACHE_SLOTS; k++) {
        if (!c->slot[k].used || strcmp(c->slot[k].key.kid, kid) != 0)
            continue;
        /* a clock that went backwards also counts as stale: re-fetch rather than trust */
        int64_t age = now_ms - c->slot[k].fetched_ms;
        if (age < 0 || age >= c->ttl_ms)
            return MLC_ERR_NOTFOUND;
        *out = c->slot[k].key;
        return MLC_OK;
    }
    return MLC_ERR_NOTFOUND;
}

void mlc_wh_key_cache_put(struct mlc_wh_key_cache *c, const struct mlc_jwk *key, int64_t now_ms)
{
    int pick = -1;
    for (int k = 0; k < MLC_WH_KEY_CACHE_SLOTS && pick < 0; k++)
        if (c->slot[k].used && strcmp(c->slot[k].key.kid, key->kid) == 0)
            pick = k;
    for (int k = 0; k < MLC_WH_KEY_CACHE_SLOTS && pick < 0; k++)
        if (!c->slot[k].used)
            pick = k;
    if (pick < 0) {
        pick = 0;
        for (int k = 1; k < MLC_WH_KEY_CACHE_SLOTS; k++)
            if (c->slot[k].fetched_ms < c->slot[pick].fetched_ms)
                pick = k;
    }
    c->slot[pick].key = *key;
    c->slot[pick].fetched_ms = now_ms;
    c->slot[pick].used = 1;
}

/* ---- verification ------------------------------------------------------------------------- */

const char *mlc_wh_verdict_str(enum mlc_wh_verdict v)
{
    switch (v) {
    case MLC_WH_OK: return "webhook verified";
    case MLC_WH_MALFORMED: return "webhook refused: the Plaid-Verification header is missing or unreadable";
    case MLC_WH_BAD_ALG: return "webhook refused: signed with an algorithm other than ES256";
    case MLC_WH_UNKNOWN_KID: return "webhook refused: Plaid does not know the signing key";
    case MLC_WH_KEY_EXPIRED: return "webhook refused: signed with a key Plaid has retired";
    case MLC_WH_BAD_KEY: return "webhook refused: Plaid's key is not a P-256 signing key";
    case MLC_WH_BAD_SIG: return "webhook refused: the signature does not match";
    case MLC_WH_STALE: return "webhook refused: older than 5 minutes (replay, or check the clock)";
    case MLC_WH_FUTURE: return "webhook refused: dated in the future (check this machine's clock)";
    case MLC_WH_BODY_MISMATCH: return "webhook refused: the body was changed after signing";
    case MLC_WH_LOOKUP_FAILED: return "webhook not checked: could not fetch Plaid's key, Plaid will retry";
    }
    return "webhook refused";
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* ES256 (RFC 7518 3.4): SHA-256 over the signing input, signature is r||s, 32 bytes each. */
static enum mlc_wh_verdict check_es256(const struct mlc_jwk *key, const struct mlc_jwt *jwt)
{
    uint8_t x[32], y[32], hash[32];
    size_t xl = 0, yl = 0;
    if (strcmp(key->kty, "EC") != 0 || strcmp(key->crv, "P-256") != 0 ||
        (key->alg[0] && strcmp(key->alg, "ES256") != 0) || (key->use[0] && strcmp(key->use, "sig") != 0) ||
        mlc_b64url_decode(key->x, strlen(key->x), x, sizeof(x), &xl) != MLC_OK || xl != 32 ||
        mlc_b64url_decode(key->y, strlen(key->y), y, sizeof(y), &yl) != MLC_OK || yl != 32)
        return MLC_WH_BAD_KEY;
    if (jwt->sig_len != 64)
        return MLC_WH_BAD_SIG;

    enum mlc_wh_verdict v = MLC_WH_BAD_KEY;
    mbedtls_ecp_group grp;
    mbedtls_ecp_point q;
    mbedtls_mpi r, s;
    mbedtls_ecp_group_init(&grp);
    mbedtls_ecp_point_init(&q);
    mbedtls_mpi_init(&r);
    mbedtls_mpi_init(&s);
    if (mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1) != 0 ||
        mbedtls_mpi_read_binary(&q.X, x, 32) != 0 || mbedtls_mpi_read_binary(&q.Y, y, 32) != 0 ||
        mbedtls_mpi_lset(&q.Z, 1) != 0 || mbedtls_ecp_check_pubkey(&grp, &q) != 0)
        goto out;
    v = MLC_WH_BAD_SIG;
    if (mbedtls_mpi_read_binary(&r, jwt->sig, 32) != 0 ||
        mbedtls_mpi_read_binary(&s, jwt->sig + 32, 32) != 0 ||
        mbedtls_sha256_ret((const unsigned char *)jwt->signing_input, jwt->signing_input_len,
                           hash, 0) != 0)
        goto out;
    /* mbedtls_ecdsa_verify also refuses r or s outside [1, n-1] */
    if (mbedtls_ecdsa_verify(&grp, hash, sizeof(hash), &q, &r, &s) == 0)
        v = MLC_WH_OK;
out:
    mbedtls_mpi_free(&r);
    mbedtls_mpi_free(&s);
    mbedtls_ecp_point_free(&q);
    mbedtls_ecp_group_free(&grp);
    return v;
}

enum mlc_wh_verdict mlc_plaid_webhook_verify(const char *token, size_t token_len,
                                             const void *body, size_t body_len, int64_t now_ms,
                                             mlc_wh_key_lookup_fn lookup, void *lookup_ctx)
{
    struct mlc_jwt jwt;
    struct mlc_jwk key;
    if (!lookup || (!body && body_len) || body_len > MLC_WH_BODY_MAX)
        return MLC_WH_MALFORMED;
    if (mlc_jwt_split(token, token_len, &jwt) != MLC_OK)
        return MLC_WH_MALFORMED;
    /* Step 2 of D-whv: nothing but ES256, decided before any key is touched, so "none" or an
     * HS256 token keyed with the public key can never reach a verifier. */
    if (strcmp(jwt.alg, "ES256") != 0)
        return MLC_WH_BAD_ALG;
    if (!jwt.kid[0])
        return MLC_WH_MALFORMED;

    int rc = lookup(lookup_ctx, jwt.kid, &key);
    if (rc == MLC_ERR_NOTFOUND)
        return MLC_WH_UNKNOWN_KID;
    if (rc != MLC_OK)
        return MLC_WH_LOOKUP_FAILED;
    if (strcmp(key.kid, jwt.kid) != 0)
        return MLC_WH_UNKNOWN_KID;
    /* Plaid's reference verifier rejects every key whose expired_at is set (plaid.md 5.1). */
    if (key.has_expired_at)
        return MLC_WH_KEY_EXPIRED;
    enum mlc_wh_verdict v = check_es256(&key, &jwt);
    if (v != MLC_WH_OK)
        return v;

    /* Claims are read only once the signature vouches for them. */
    if (mlc_jwt_parse_payload(&jwt) != MLC_OK || !jwt.has_iat || !jwt.body_sha256[0])
        return MLC_WH_MALFORMED;
    int64_t now_s = now_ms / 1000;
    if (now_s - jwt.iat > MLC_WH_MAX_AGE_S)
        return MLC_WH_STALE;
    if (jwt.iat - now_s > MLC_WH_MAX_SKEW_S)
        return MLC_WH_FUTURE;

    uint8_t want[32], got[32];
    for (int k = 0; k < 32; k++)
        want[k] = (uint8_t)(hexval(jwt.body_sha256[2 * k]) << 4 | hexval(jwt.body_sha256[2 * k + 1]));
    if (mbedtls_sha256_ret(body, body_len, got, 0) != 0)
        return MLC_WH_MALFORMED;
    /* D-whv: constant-time, so timing does not reveal how much of a forged hash matched */
    if (mlc_ct_memcmp(want, got, sizeof(got)) != 0)
        return MLC_WH_BODY_MISMATCH;
    return MLC_WH_OK;
}

/* ---- body --------------------------------------------------------------------------------- */

struct code_name {
    const char *name;
    enum mlc_wh_code code;
};

static const struct code_name tx_codes[] = {
    { "SYNC_UPDATES_AVAILABLE", MLC_WH_CODE_SYNC_UPDATES_AVAILABLE },
    { "DEFAULT_UPDATE", MLC_WH_CODE_DEFAULT_UPDATE },
    { "INITIAL_UPDATE", MLC_WH_CODE_INITIAL_UPDATE },
    { "HISTORICAL_UPDATE", MLC_WH_CODE_HISTORICAL_UPDATE },
    { "TRANSACTIONS_REMOVED", MLC_WH_CODE_TRANSACTIONS_REMOVED },
};

static const struct code_name item_codes[] = {
    { "ERROR", MLC_WH_CODE_ERROR },
    { "PENDING_EXPIRATION", MLC_WH_CODE_PENDING_EXPIRATION },
    { "PENDING_DISCONNECT", MLC_WH_CODE_PENDING_DISCONNECT },
    { "USER_PERMISSION_REVOKED", MLC_WH_CODE_USER_PERMISSION_REVOKED },
    { "USER_ACCOUNT_REVOKED", MLC_WH_CODE_USER_ACCOUNT_REVOKED },
    { "NEW_ACCOUNTS_AVAILABLE", MLC_WH_CODE_NEW_ACCOUNTS_AVAILABLE },
    { "LOGIN_REPAIRED", MLC_WH_CODE_LOGIN_REPAIRED },
    { "WEBHOOK_UPDATE_ACKNOWLEDGED", MLC_WH_CODE_WEBHOOK_UPDATE_ACKNOWLEDGED },
};

static enum mlc_wh_code find_code(const struct code_name *t, size_t n, const char *code)
{
    for (size_t k = 0; k < n; k++)
        if (strcmp(t[k].name, code) == 0)
            return t[k].code;
    return MLC_WH_CODE_UNKNOWN;
}

static int jbool(const cJSON *obj, const char *name, int *v)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
    *v = -1;
    if (!it || cJSON_IsNull(it))
        return MLC_OK;
    if (!cJSON_IsBool(it))
        return MLC_ERR_DATA;
    *v = cJSON_IsTrue(it);
    return MLC_OK;
}

/* Free text (not an identifier): cut at a UTF-8 boundary rather than refuse. */
static int jtext(const cJSON *obj, const char *name, char *dst, size_t cap)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
    dst[0] = '\0';
    if (!it || cJSON_IsNull(it))
        return MLC_OK;
    if (!cJSON_IsString(it) || !it->valuestring)
        return MLC_ERR_DATA;
    mlc_plaid_utf8_copy(dst, cap, it->valuestring, strlen(it->valuestring));
    return MLC_OK;
}

int mlc_plaid_webhook_parse(const char *body, size_t len, struct mlc_plaid_webhook *out)
{
    if (!out)
        return MLC_ERR_DATA;
    memset(out, 0, sizeof(*out));
    out->initial_update_complete = out->historical_update_complete = -1;
    out->new_transactions = -1;
    if (!body)
        return MLC_ERR_DATA;
    if (len > MLC_WH_BODY_MAX)
        return MLC_ERR_TOO_BIG;
    cJSON *root = cJSON_ParseWithLength(body, len);
    int rc = MLC_ERR_DATA;
    if (!cJSON_IsObject(root))
        goto out;
    /* type and code are required but may be new and long: kept cut rather than refused, a cut
     * name is longer than every known one so it still maps to "unknown" */
    if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(root, "webhook_type")) ||
        !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(root, "webhook_code")) ||
        jtext(root, "webhook_type", out->webhook_type, sizeof(out->webhook_type)) ||
        jtext(root, "webhook_code", out->webhook_code, sizeof(out->webhook_code)) ||
        jstr(root, "item_id", out->item_id, sizeof(out->item_id), 0) ||
        jstr(root, "account_id", out->account_id, sizeof(out->account_id), 0) ||
        jtext(root, "environment", out->environment, sizeof(out->environment)) ||
        jtext(root, "consent_expiration_time", out->consent_expiration_time,
              sizeof(out->consent_expiration_time)) ||
        jtext(root, "disconnect_time", out->disconnect_time, sizeof(out->disconnect_time)) ||
        jtext(root, "reason", out->reason, sizeof(out->reason)) ||
        jtext(root, "new_webhook_url", out->new_webhook_url, sizeof(out->new_webhook_url)) ||
        jbool(root, "initial_update_complete", &out->initial_update_complete) ||
        jbool(root, "historical_update_complete", &out->historical_update_complete))
        goto out;
    const cJSON *nt = cJSON_GetObjectItemCaseSensitive(root, "new_transactions");
    if (nt && !cJSON_IsNull(nt)) {
        if (!cJSON_IsNumber(nt) || !(nt->valuedouble >= 0 && nt->valuedouble < 1e15))
            goto out;
        out->new_transactions = (int64_t)nt->valuedouble;
    }
    const cJSON *rm = cJSON_GetObjectItemCaseSensitive(root, "removed_transactions");
    if (cJSON_IsArray(rm))
        out->removed_count = (size_t)cJSON_GetArraySize(rm);
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(root, "error");
    if (err && !cJSON_IsNull(err)) {
        if (mlc_plaid_error_from_json(err, &out->error) != MLC_OK)
            goto out;
        out->has_error = 1;
    }
    if (strcmp(out->webhook_type, "TRANSACTIONS") == 0) {
        out->type = MLC_WH_TYPE_TRANSACTIONS;
        out->code = find_code(tx_codes, sizeof(tx_codes) / sizeof(tx_codes[0]), out->webhook_code);
    } else if (strcmp(out->webhook_type, "ITEM") == 0) {
        out->type = MLC_WH_TYPE_ITEM;
        out->code = find_code(item_codes, sizeof(item_codes) / sizeof(item_codes[0]),
                              out->webhook_code);
    }
    rc = MLC_OK;
out:
    cJSON_Delete(root);
    if (rc != MLC_OK) {
        memset(out, 0, sizeof(*out));
        out->initial_update_complete = out->historical_update_complete = -1;
        out->new_transactions = -1;
    }
    return rc;
}
