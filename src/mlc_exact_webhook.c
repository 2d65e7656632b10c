#include "mlc_exact_webhook.h"
#include "mlc_err.h"
#include "mlc_odata.h"
#include "mlc_platform.h"

#include <mbedtls/md.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ---- a small JSON scanner over the raw bytes ---- */

struct scan {
    const char *s;
    size_t n, i;
    unsigned depth;
};

static void skip_ws(struct scan *sc)
{
    while (sc->i < sc->n && (sc->s[sc->i] == ' ' || sc->s[sc->i] == '\t' || sc->s[sc->i] == '\n' ||
                             sc->s[sc->i] == '\r'))
        sc->i++;
}

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* At a '"': moves past the closing quote; [*b, *e) is the raw text between the quotes. */
static int scan_string(struct scan *sc, size_t *b, size_t *e)
{
    if (sc->i >= sc->n || sc->s[sc->i] != '"')
        return MLC_ERR_DATA;
    *b = ++sc->i;
    while (sc->i < sc->n) {
        unsigned char c = (unsigned char)sc->s[sc->i];
        if (c == '"') {
            *e = sc->i++;
            return MLC_OK;
        }
        if (c < 0x20)
            return MLC_ERR_DATA;
        if (c == '\\') {
            if (sc->i + 1 >= sc->n)
                return MLC_ERR_DATA;
            char x = sc->s[sc->i + 1];
            if (x == 'u') {
                if (sc->i + 5 >= sc->n)
                    return MLC_ERR_DATA;
                for (size_t k = 2; k < 6; k++)
                    if (!is_hex(sc->s[sc->i + k]))
                        return MLC_ERR_DATA;
                sc->i += 6;
                continue;
            }
            if (!strchr("\"\\/bfnrt", x) || x == '\0')
                return MLC_ERR_DATA;
            sc->i += 2;
            continue;
        }
        sc->i++;
    }
    return MLC_ERR_DATA;
}

static int scan_value(struct scan *sc);

/* At '{' or '[': skips the container, counting depth against the cap. */
static int scan_container(struct scan *sc)
{
    char open = sc->s[sc->i], close = open == '{' ? '}' : ']';
    if (++sc->depth > MLC_WEBHOOK_DEPTH_MAX)
        return MLC_ERR_TOO_BIG;
    sc->i++;
    skip_ws(sc);
    if (sc->i < sc->n && sc->s[sc->i] == close) {
        sc->i++;
        sc->depth--;
        return MLC_OK;
    }
    for (;;) {
        int rc;
        skip_ws(sc);
        if (open == '{') {
            size_t b, e;
            if ((rc = scan_string(sc, &b, &e)) != MLC_OK)
                return rc;
            skip_ws(sc);
            if (sc->i >= sc->n || sc->s[sc->i] != ':')
                return MLC_ERR_DATA;
            sc->i++;
        }
        if ((rc = scan_value(sc)) != MLC_OK)
            return rc;
        skip_ws(sc);
        if (sc->i >= sc->n)
            return MLC_ERR_DATA;
        if (sc->s[sc->i] == ',') {
            sc->i++;
            continue;
        }
        if (sc->s[sc->i] != close)
            return MLC_ERR_DATA;
        sc->i++;
        sc->depth--;
        return MLC_OK;
    }
}

static int scan_value(struct scan *sc)
{
    skip_ws(sc);
    if (sc->i >= sc->n)
        return MLC_ERR_DATA;
    char c = sc->s[sc->i];
    if (c == '"') {
        size_t b, e;
        return scan_string(sc, &b, &e);
    }
    if (c == '{' || c == '[')
        return scan_container(sc);
    /* true, false, null or a number: a run of literal characters, checked loosely here; the
     * Content object itself is parsed strictly by cJSON after verification. */
    size_t start = sc->i;
    while (sc->i < sc->n && (strchr("+-.eE", sc->s[sc->i]) || (sc->s[sc->i] >= '0' && sc->s[sc->i] <= '9') ||
                             (sc->s[sc->i] >= 'a' && sc->s[sc->i] <= 'z')) && sc->s[sc->i] != '\0')
        sc->i++;
    size_t len = sc->i - start;
    const char *t = sc->s + start;
    if (len == 0)
        return MLC_ERR_DATA;
    if ((len == 4 && memcmp(t, "true", 4) == 0) || (len == 5 && memcmp(t, "false", 5) == 0) ||
        (len == 4 && memcmp(t, "null", 4) == 0))
        return MLC_OK;
    if (t[0] == '-' || (t[0] >= '0' && t[0] <= '9')) {
        for (size_t k = 0; k < len; k++)
            if (t[k] >= 'a' && t[k] <= 'z' && t[k] != 'e')
                return MLC_ERR_DATA;
        return MLC_OK;
    }
    return MLC_ERR_DATA;
}

static int key_is(const struct scan *sc, size_t b, size_t e, const char *name)
{
    return e - b == strlen(name) && memcmp(sc->s + b, name, e - b) == 0;
}

int mlc_exact_webhook_split(const char *body, size_t len, const char **content, size_t *content_len,
                            const char **hash, size_t *hash_len)
{
    *content = *hash = NULL;
    *content_len = *hash_len = 0;
    if (!body)
        return MLC_ERR_DATA;
    if (len > MLC_WEBHOOK_BODY_MAX)
        return MLC_ERR_TOO_BIG;
    struct scan sc = { body, len, 0, 1 };
    skip_ws(&sc);
    if (sc.i >= sc.n || body[sc.i] != '{')
        return MLC_ERR_DATA;
    sc.i++;
    skip_ws(&sc);
    int rc = MLC_OK;
    if (sc.i < sc.n && body[sc.i] == '}') {
        sc.i++;
    } else {
        for (;;) {
            size_t kb, ke;
            skip_ws(&sc);
            if ((rc = scan_string(&sc, &kb, &ke)) != MLC_OK)
                return rc;
            skip_ws(&sc);
            if (sc.i >= sc.n || body[sc.i] != ':')
                return MLC_ERR_DATA;
            sc.i++;
            skip_ws(&sc);
            size_t vb = sc.i;
            if (key_is(&sc, kb, ke, "Content")) {
                /* A second Content could smuggle unsigned data past a verified first one. */
                if (*content || vb >= sc.n || body[vb] != '{')
                    return MLC_ERR_DATA;
                if ((rc = scan_value(&sc)) != MLC_OK)
                    return rc;
                *content = body + vb;
                *content_len = sc.i - vb;
            } else if (key_is(&sc, kb, ke, "HashCode")) {
                size_t hb, he;
                if (*hash || (rc = scan_string(&sc, &hb, &he)) != MLC_OK)
                    return rc != MLC_OK ? rc : MLC_ERR_DATA;
                *hash = body + hb;
                *hash_len = he - hb;
            } else if ((rc = scan_value(&sc)) != MLC_OK) {
                return rc;
            }
            skip_ws(&sc);
            if (sc.i >= sc.n)
                return MLC_ERR_DATA;
            if (body[sc.i] == ',') {
                sc.i++;
                continue;
            }
            if (body[sc.i] != '}')
                return MLC_ERR_DATA;
            sc.i++;
            break;
        }
    }
    skip_ws(&sc);
    if (sc.i != sc.n)
        return MLC_ERR_DATA;
    if (!*content || !*hash)
        return MLC_ERR_NOTFOUND;
    return MLC_OK;
}

/* ---- verification ---- */

static int copy_str(const cJSON *o, const char *name, char *out, size_t cap, int required)
{
    out[0] = '\0';
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!it || cJSON_IsNull(it))
        return required ? MLC_ERR_DATA : MLC_OK;
    if (!cJSON_IsString(it) || strlen(it->valuestring) >= cap)
        return MLC_ERR_DATA;
    for (const unsigned char *p = (const unsigned char *)it->valuestring; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f || *p == '\\') /* ids and paths: visible ASCII only */
            return MLC_ERR_DATA;
    memcpy(out, it->valuestring, strlen(it->valuestring) + 1);
    return required && !out[0] ? MLC_ERR_DATA : MLC_OK;
}

static int read_event(const char *content, size_t len, struct mlc_webhook_event *ev)
{
    int rc = MLC_OK;
    cJSON *c = mlc_json_parse_bounded(content, len, MLC_WEBHOOK_BODY_MAX, MLC_WEBHOOK_DEPTH_MAX, &rc);
    if (!c)
        return rc;
    memset(ev, 0, sizeof(*ev));
    const cJSON *div = cJSON_GetObjectItemCaseSensitive(c, "Division");
    rc = MLC_ERR_DATA;
    if (!cJSON_IsObject(c) || !cJSON_IsNumber(div) || div->valuedouble < 1 ||
        div->valuedouble > 2147483647.0 || div->valuedouble != (double)(int64_t)div->valuedouble)
        goto out;
    ev->division = (int64_t)div->valuedouble;
    if (copy_str(c, "Topic", ev->topic, sizeof(ev->topic), 1) != MLC_OK ||
        copy_str(c, "Action", ev->action, sizeof(ev->action), 1) != MLC_OK ||
        copy_str(c, "Key", ev->key, sizeof(ev->key), 1) != MLC_OK ||
        copy_str(c, "ExactOnlineEndpoint", ev->endpoint, sizeof(ev->endpoint), 0) != MLC_OK ||
        copy_str(c, "ClientId", ev->client_id, sizeof(ev->client_id), 0) != MLC_OK)
        goto out;
    if (!mlc_odata_guid_valid(ev->key))
        goto out;
    if (ev->endpoint[0]) {
        /* The agent fetches this path with the division's token: it must stay in that division. */
        char prefix[40];
        snprintf(prefix, sizeof(prefix), "/api/v1/%" PRId64 "/", ev->division);
        if (strncmp(ev->endpoint, prefix, strlen(prefix)) != 0 || strstr(ev->endpoint, ".."))
            goto out;
    }
    rc = MLC_OK;
out:
    if (rc != MLC_OK)
        memset(ev, 0, sizeof(*ev));
    cJSON_Delete(c);
    return rc;
}

enum mlc_webhook_result mlc_exact_webhook_verify(const char *body, size_t len,
                                                 const unsigned char *secret, size_t secret_len,
                                                 struct mlc_webhook_event *ev)
{
    static const char hexd[] = "0123456789ABCDEF";
    unsigned char mac[32];
    char hex[64];
    enum mlc_webhook_result r = MLC_WEBHOOK_BAD_SIGNATURE;
    if (ev)
        memset(ev, 0, sizeof(*ev));
    if (len > MLC_WEBHOOK_BODY_MAX)
        return MLC_WEBHOOK_TOO_BIG;
    size_t i = 0;
    while (body && i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
        i++;
    if (!body || i == len) /* Exact's POST right after subscribing has an empty body */
        return MLC_WEBHOOK_PING;
    if (!secret || secret_len == 0)
        return MLC_WEBHOOK_NO_SECRET;
    const char *content, *hash;
    size_t clen, hlen;
    int rc = mlc_exact_webhook_split(body, len, &content, &clen, &hash, &hlen);
    if (rc == MLC_ERR_TOO_BIG)
        return MLC_WEBHOOK_TOO_BIG;
    if (rc == MLC_ERR_NOTFOUND && !hash)
        return MLC_WEBHOOK_BAD_SIGNATURE;
    if (rc != MLC_OK)
        return MLC_WEBHOOK_MALFORMED;
    if (hlen != sizeof(hex)) /* the length is public; only the value needs constant time */
        return MLC_WEBHOOK_BAD_SIGNATURE;
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    if (!md || mbedtls_md_hmac(md, secret, secret_len, (const unsigned char *)content, clen, mac) != 0)
        goto out;
    for (size_t k = 0; k < sizeof(mac); k++) {
        hex[2 * k] = hexd[mac[k] >> 4];
        hex[2 * k + 1] = hexd[mac[k] & 15];
    }
    /* Uppercase only (Exact sends uppercase; the project rule is strict): lowercase differs. */
    if (mlc_ct_memcmp(hex, hash, sizeof(hex)) != 0)
        goto out;
    struct mlc_webhook_event tmp;
    if (read_event(content, clen, ev ? ev : &tmp) != MLC_OK) {
        r = MLC_WEBHOOK_MALFORMED;
        goto out;
    }
    r = MLC_WEBHOOK_OK;
out:
    mlc_wipe(mac, sizeof(mac));
    mlc_wipe(hex, sizeof(hex));
    return r;
}

int mlc_exact_webhook_http_status(enum mlc_webhook_result r)
{
    switch (r) {
    case MLC_WEBHOOK_OK:
    case MLC_WEBHOOK_PING: return 200;
    case MLC_WEBHOOK_BAD_SIGNATURE: return 401;
    case MLC_WEBHOOK_MALFORMED: return 400;
    case MLC_WEBHOOK_TOO_BIG: return 413;
    case MLC_WEBHOOK_NO_SECRET: return 500;
    }
    return 500;
}

const char *mlc_exact_webhook_result_name(enum mlc_webhook_result r)
{
    static const char *const names[] = { "ok", "validation ping", "bad signature", "malformed",
                                         "too big", "no secret" };
    if ((unsigned)r < sizeof(names) / sizeof(names[0]))
        return names[r];
    return "unknown";
}
