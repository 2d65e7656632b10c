#include "mlc_jwt.h"
#include "mlc_b64.h"
#include "mlc_err.h"

#include <cjson/cJSON.h>
#include <string.h>

/* Copies a JSON string member into dst (cap bytes). Absent: "" and MLC_OK unless required.
 * Present but not a string, or too long: MLC_ERR_DATA. */
static int copy_str(const cJSON *obj, const char *name, char *dst, size_t cap, int required)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
    dst[0] = '\0';
    if (!it)
        return required ? MLC_ERR_DATA : MLC_OK;
    if (!cJSON_IsString(it) || !it->valuestring)
        return MLC_ERR_DATA;
    size_t n = strlen(it->valuestring);
    if (n >= cap)
        return MLC_ERR_DATA;
    memcpy(dst, it->valuestring, n + 1);
    return MLC_OK;
}

/* Decodes one base64url part that must hold a JSON object. */
static cJSON *decode_json_part(const char *b64, size_t len, int *rc)
{
    uint8_t json[MLC_JWT_JSON_MAX];
    size_t n = 0;
    *rc = mlc_b64url_decode(b64, len, json, sizeof(json), &n);
    if (*rc != MLC_OK)
        return NULL;
    cJSON *obj = cJSON_ParseWithLength((const char *)json, n);
    if (!cJSON_IsObject(obj)) {
        cJSON_Delete(obj);
        *rc = MLC_ERR_DATA;
        return NULL;
    }
    return obj;
}

int mlc_jwt_split(const char *token, size_t len, struct mlc_jwt *jwt)
{
    if (!jwt)
        return MLC_ERR_DATA;
    memset(jwt, 0, sizeof(*jwt));
    if (!token || len == 0)
        return MLC_ERR_DATA;
    if (len > MLC_JWT_MAX_LEN)
        return MLC_ERR_TOO_BIG;
    const char *d1 = memchr(token, '.', len);
    if (!d1)
        return MLC_ERR_DATA;
    size_t rest = len - (size_t)(d1 + 1 - token);
    const char *d2 = memchr(d1 + 1, '.', rest);
    if (!d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)))
        return MLC_ERR_DATA; /* exactly three parts; JWE (five) is not for us */
    size_t hlen = (size_t)(d1 - token), plen = (size_t)(d2 - d1 - 1);
    size_t slen = len - (size_t)(d2 + 1 - token);
    if (hlen == 0 || plen == 0)
        return MLC_ERR_DATA;

    int rc;
    cJSON *hdr = decode_json_part(token, hlen, &rc);
    if (!hdr)
        goto out;
    rc = MLC_ERR_DATA;
    if (cJSON_GetObjectItemCaseSensitive(hdr, "crit"))
        goto out;
    if (copy_str(hdr, "alg", jwt->alg, sizeof(jwt->alg), 1) != MLC_OK ||
        copy_str(hdr, "kid", jwt->kid, sizeof(jwt->kid), 0) != MLC_OK ||
        copy_str(hdr, "typ", jwt->typ, sizeof(jwt->typ), 0) != MLC_OK)
        goto out;
    rc = mlc_b64url_decode(d2 + 1, slen, jwt->sig, sizeof(jwt->sig), &jwt->sig_len);
    if (rc != MLC_OK)
        goto out;
    jwt->signing_input = token;
    jwt->signing_input_len = (size_t)(d2 - token);
    jwt->payload_b64 = d1 + 1;
    jwt->payload_b64_len = plen;
    rc = MLC_OK;
out:
    cJSON_Delete(hdr);
    return rc;
}

int mlc_jwt_parse_payload(struct mlc_jwt *jwt)
{
    if (!jwt || !jwt->payload_b64)
        return MLC_ERR_DATA;
    jwt->has_iat = 0;
    jwt->iat = 0;
    jwt->body_sha256[0] = '\0';
    int rc;
    cJSON *pl = decode_json_part(jwt->payload_b64, jwt->payload_b64_len, &rc);
    if (!pl)
        return rc;
    rc = MLC_ERR_DATA;
    const cJSON *iat = cJSON_GetObjectItemCaseSensitive(pl, "iat");
    if (iat) {
        /* NumericDate; whole seconds in practice. 2^40 s is far beyond any real date and keeps
         * the double-to-integer conversion exact. */
        if (!cJSON_IsNumber(iat) || !(iat->valuedouble >= 0 && iat->valuedouble < 1099511627776.0) ||
            (double)(int64_t)iat->valuedouble != iat->valuedouble)
            goto out;
        jwt->iat = (int64_t)iat->valuedouble;
        jwt->has_iat = 1;
    }
    if (copy_str(pl, "request_body_sha256", jwt->body_sha256, sizeof(jwt->body_sha256), 0) != MLC_OK)
        goto out;
    if (jwt->body_sha256[0]) {
        if (strlen(jwt->body_sha256) != 64)
            goto out;
        for (size_t k = 0; k < 64; k++) {
            char c = jwt->body_sha256[k];
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
                goto out;
        }
    }
    rc = MLC_OK;
out:
    cJSON_Delete(pl);
    return rc;
}
