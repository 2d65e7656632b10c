#include "mlc_plaid_error.h"
#include "mlc_err.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

size_t mlc_plaid_utf8_seq(const unsigned char *s, size_t len)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (len < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t k = 2; k < n; k++)
        if (s[k] < 0x80 || s[k] > 0xBF)
            return 0;
    return n;
}

int mlc_plaid_utf8_copy(char *dst, size_t cap, const char *src, size_t len)
{
    static const char repl[] = "\xEF\xBF\xBD";
    if (!dst || cap == 0)
        return len != 0;
    size_t o = 0, i = 0;
    int cut = 0;
    while (i < len) {
        const unsigned char *s = (const unsigned char *)src + i;
        size_t n = mlc_plaid_utf8_seq(s, len - i);
        const char *piece = n ? (const char *)s : repl;
        size_t plen = n ? n : 3;
        if (n == 1 && s[0] == 0) { /* an embedded NUL would silently cut the C string */
            piece = repl;
            plen = 3;
        }
        if (o + plen + 1 > cap) {
            cut = 1;
            break;
        }
        memcpy(dst + o, piece, plen);
        o += plen;
        i += n ? n : 1;
    }
    dst[o] = '\0';
    return cut;
}

/* String member into dst. Absent or null: "". must_fit: an over-long value is MLC_ERR_DATA
 * instead of being truncated. */
static int take(const cJSON *obj, const char *name, char *dst, size_t cap, int must_fit)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
    dst[0] = '\0';
    if (!it || cJSON_IsNull(it))
        return MLC_OK;
    if (!cJSON_IsString(it) || !it->valuestring)
        return MLC_ERR_DATA;
    size_t n = strlen(it->valuestring);
    if (must_fit && n >= cap)
        return MLC_ERR_DATA;
    mlc_plaid_utf8_copy(dst, cap, it->valuestring, n);
    return MLC_OK;
}

int mlc_plaid_error_from_json(const cJSON *obj, struct mlc_plaid_error *out)
{
    if (!out)
        return MLC_ERR_DATA;
    memset(out, 0, sizeof(*out));
    if (!cJSON_IsObject(obj))
        return MLC_ERR_DATA;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(obj, "error_type");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(obj, "error_code");
    if (!cJSON_IsString(type) || !cJSON_IsString(code))
        return MLC_ERR_DATA;
    if (take(obj, "error_type", out->error_type, sizeof(out->error_type), 1) ||
        take(obj, "error_code", out->error_code, sizeof(out->error_code), 1) ||
        take(obj, "request_id", out->request_id, sizeof(out->request_id), 1) ||
        take(obj, "error_code_reason", out->error_code_reason, sizeof(out->error_code_reason), 1) ||
        take(obj, "error_message", out->error_message, sizeof(out->error_message), 0) ||
        take(obj, "display_message", out->display_message, sizeof(out->display_message), 0)) {
        memset(out, 0, sizeof(*out));
        return MLC_ERR_DATA;
    }
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(obj, "status");
    if (cJSON_IsNumber(st) && st->valuedouble >= 100 && st->valuedouble < 600)
        out->status = (int)st->valuedouble;
    return MLC_OK;
}

int mlc_plaid_error_parse(const char *json, size_t len, struct mlc_plaid_error *out)
{
    if (out)
        memset(out, 0, sizeof(*out));
    if (!json || !out)
        return MLC_ERR_DATA;
    if (len > MLC_PLAID_ERR_BODY_MAX)
        return MLC_ERR_TOO_BIG;
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root)
        return MLC_ERR_DATA;
    int rc = mlc_plaid_error_from_json(root, out);
    cJSON_Delete(root);
    return rc;
}

struct code_rule {
    const char *code;
    enum mlc_plaid_class cls;
};

/* Codes whose class differs from their type's default (plaid.md section 7, Plaid error docs). */
static const struct code_rule code_rules[] = {
    /* the one error that means "your buffered pages are void" (D-err-tx) */
    { "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION", MLC_PLAID_RESTART_PAGINATION },
    /* "try the request again later" (D-err-item, D-ver) */
    { "PRODUCT_NOT_READY", MLC_PLAID_RETRY },
    /* Limited Production allocation used up: only a plan change helps */
    { "CREDITS_EXHAUSTED", MLC_PLAID_NEEDS_PERSON },
    { "INSTITUTION_NO_LONGER_SUPPORTED", MLC_PLAID_NEEDS_PERSON },
    { "INSTITUTION_NOT_ENABLED_IN_ENVIRONMENT", MLC_PLAID_NEEDS_PERSON },
    /* credentials and access: the installer has to fix the configuration or re-link */
    { "INVALID_API_KEYS", MLC_PLAID_NEEDS_PERSON },
    { "INVALID_SECRET", MLC_PLAID_NEEDS_PERSON },
    { "INVALID_CLIENT_ID", MLC_PLAID_NEEDS_PERSON },
    { "UNAUTHORIZED_ENVIRONMENT", MLC_PLAID_NEEDS_PERSON },
    { "UNAUTHORIZED_ROUTE_ACCESS", MLC_PLAID_NEEDS_PERSON },
    { "INVALID_ACCESS_TOKEN", MLC_PLAID_NEEDS_PERSON },
    { "ITEM_NOT_FOUND", MLC_PLAID_NEEDS_PERSON },
    { "INVALID_PRODUCT", MLC_PLAID_NEEDS_PERSON },
    { "PRODUCTS_NOT_SUPPORTED", MLC_PLAID_NEEDS_PERSON },
    { "ADDITION_LIMIT", MLC_PLAID_NEEDS_PERSON },
    { "USER_PERMISSION_REVOKED", MLC_PLAID_NEEDS_PERSON },
    { "ACCESS_NOT_GRANTED", MLC_PLAID_NEEDS_PERSON },
};

struct type_rule {
    const char *type;
    enum mlc_plaid_class cls;
};

static const struct type_rule type_rules[] = {
    { "RATE_LIMIT_EXCEEDED", MLC_PLAID_RETRY },   /* "use an exponential backoff" (D-rl) */
    { "API_ERROR", MLC_PLAID_RETRY },             /* INTERNAL_SERVER_ERROR, PLANNED_MAINTENANCE */
    { "INSTITUTION_ERROR", MLC_PLAID_RETRY },     /* INSTITUTION_DOWN, _NOT_RESPONDING */
    { "ITEM_ERROR", MLC_PLAID_NEEDS_PERSON },     /* ITEM_LOGIN_REQUIRED, ITEM_LOCKED, ... */
    { "OAUTH_ERROR", MLC_PLAID_NEEDS_PERSON },    /* consent expired or revoked */
};

enum mlc_plaid_class mlc_plaid_error_classify(const struct mlc_plaid_error *err, int http_status)
{
    if (err && err->error_code[0]) {
        for (size_t k = 0; k < sizeof(code_rules) / sizeof(code_rules[0]); k++)
            if (strcmp(err->error_code, code_rules[k].code) == 0)
                return code_rules[k].cls;
        if (strncmp(err->error_code_reason, "OAUTH_", 6) == 0)
            return MLC_PLAID_NEEDS_PERSON;
        for (size_t k = 0; k < sizeof(type_rules) / sizeof(type_rules[0]); k++)
            if (strcmp(err->error_type, type_rules[k].type) == 0)
                return type_rules[k].cls;
    }
    /* No known code: fall back on the transport. 5xx are Plaid's side (D-api), 429 is a rate
     * limit, 0 means no answer at all (network). */
    if (http_status == 0 || http_status == 429 || http_status >= 500)
        return MLC_PLAID_RETRY;
    if (http_status == 401 || http_status == 403)
        return MLC_PLAID_NEEDS_PERSON;
    return MLC_PLAID_BUG;
}

int mlc_plaid_class_err(enum mlc_plaid_class c)
{
    switch (c) {
    case MLC_PLAID_RETRY:
    case MLC_PLAID_RESTART_PAGINATION:
        return MLC_ERR_RETRY;
    case MLC_PLAID_NEEDS_PERSON:
        return MLC_ERR_NEEDS_PERSON;
    case MLC_PLAID_BUG:
        break;
    }
    return MLC_ERR_INTERNAL;
}

const char *mlc_plaid_class_name(enum mlc_plaid_class c)
{
    switch (c) {
    case MLC_PLAID_RETRY: return "retry";
    case MLC_PLAID_NEEDS_PERSON: return "needs_person";
    case MLC_PLAID_RESTART_PAGINATION: return "restart_pagination";
    case MLC_PLAID_BUG: return "bug";
    }
    return "bug";
}

static const char *advice(const struct mlc_plaid_error *err, enum mlc_plaid_class c)
{
    const char *code = err ? err->error_code : "";
    if (strcmp(code, "ITEM_LOGIN_REQUIRED") == 0 || strncmp(err ? err->error_code_reason : "",
                                                            "OAUTH_", 6) == 0)
        return "the bank connection needs the account holder to log in again: open the "
               "connector's bank link page and reconnect this bank";
    if (strcmp(code, "INVALID_API_KEYS") == 0 || strcmp(code, "INVALID_SECRET") == 0 ||
        strcmp(code, "INVALID_CLIENT_ID") == 0 || strcmp(code, "UNAUTHORIZED_ENVIRONMENT") == 0)
        return "Plaid refused the connector's client id or secret: check plaid client_id, "
               "secret and environment in the configuration";
    if (strcmp(code, "INVALID_ACCESS_TOKEN") == 0 || strcmp(code, "ITEM_NOT_FOUND") == 0)
        return "Plaid no longer knows this bank connection: link the bank again";
    if (strcmp(code, "CREDITS_EXHAUSTED") == 0)
        return "the Plaid account's free allowance is used up: upgrade the plan in the Plaid "
               "Dashboard";
    switch (c) {
    case MLC_PLAID_RETRY:
        return "Plaid or the bank is busy or unavailable; the connector will retry on its own";
    case MLC_PLAID_RESTART_PAGINATION:
        return "the bank's data changed while it was being read; the connector restarts the "
               "download on its own";
    case MLC_PLAID_NEEDS_PERSON:
        return "the bank connection needs attention: reconnect the bank from the connector's "
               "bank link page";
    case MLC_PLAID_BUG:
        break;
    }
    return "Plaid rejected the connector's request; please report this with the request id";
}

size_t mlc_plaid_error_describe(const struct mlc_plaid_error *err, int http_status,
                                char *buf, size_t cap)
{
    if (!buf || cap == 0)
        return 0;
    enum mlc_plaid_class c = mlc_plaid_error_classify(err, http_status);
    /* Formatted in full first, then cut at a UTF-8 boundary: display_message is the bank's text. */
    char line[1536];
    int n;
    if (err && err->error_code[0])
        n = snprintf(line, sizeof(line), "Plaid: %s (%s/%s, HTTP %d, request %s)%s%s", advice(err, c),
                     err->error_type, err->error_code, http_status,
                     err->request_id[0] ? err->request_id : "-",
                     err->display_message[0] ? "; bank says: " : "", err->display_message);
    else if (http_status == 0)
        n = snprintf(line, sizeof(line), "Plaid: could not reach Plaid (network); the connector will "
                               "retry on its own; check the internet connection if this persists");
    else
        n = snprintf(line, sizeof(line), "Plaid: %s (HTTP %d, no error details)", advice(NULL, c),
                     http_status);
    if (n < 0) {
        buf[0] = '\0';
        return 0;
    }
    size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
    mlc_plaid_utf8_copy(buf, cap, line, len);
    return strlen(buf);
}
