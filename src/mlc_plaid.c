#include "mlc_plaid.h"
#include "mlc_alloc.h"
#include "mlc_backoff.h"
#include "mlc_err.h"
#include "mlc_http.h"
#include "mlc_log.h"
#include "mlc_loop.h"
#include "mlc_platform.h"

#include <cjson/cJSON.h>
#include <mbedtls/sha256.h>
#include <stdio.h>
#include <string.h>

#define PATH_MAX_LEN 128
#define URL_MAX 1024

struct mlc_plaid {
    char base_url[URL_MAX];
    char *client_id;
    char *secret;
    unsigned max_attempts;
    uint32_t base_ms, cap_ms;
    struct mlc_plaid_transport transport;
    void (*sleep_ms)(void *ud, uint32_t ms);
    void *sleep_ud;
    struct mlc_loop *loop;   /* only for the default transport and sleep */
    struct mlc_http *http;
    struct mlc_plaid_result last;
};

/* ---- default transport: libcurl through mlc_http ---- */

static int curl_post(void *ud, const char *url, const char *const *headers, size_t n_headers,
                     const char *body, size_t len, long *status, struct mlc_buf *resp,
                     char *errline, size_t errcap)
{
    struct mlc_plaid *p = ud;
    struct mlc_http_request req = { MLC_HTTP_POST, url, headers, n_headers, body, len,
                                    "application/json" };
    struct mlc_http_response r;
    int rc = mlc_http_perform_sync(p->http, &req, &r);
    *status = r.status;
    if (rc == MLC_OK) {
        int arc = mlc_buf_append(resp, r.body.data ? r.body.data : "", r.body.len);
        if (arc != MLC_OK)
            rc = arc;
    } else {
        snprintf(errline, errcap, "%s", r.error[0] ? r.error : mlc_err_str(rc));
    }
    mlc_http_response_free(&r);
    return rc;
}

struct nap {
    int done;
};

static void nap_fired(struct mlc_loop *loop, uint64_t id, void *ud)
{
    (void)loop;
    (void)id;
    ((struct nap *)ud)->done = 1;
}

static void loop_sleep(void *ud, uint32_t ms)
{
    struct mlc_plaid *p = ud;
    struct nap n = { 0 };
    uint64_t id = 0;
    if (mlc_loop_timer_add(p->loop, ms, 0, 0, nap_fired, &n, &id) != MLC_OK)
        return;
    while (!n.done) {
        if (mlc_loop_run_once(p->loop, -1) < 0) {
            mlc_loop_timer_cancel(p->loop, id);
            break;
        }
    }
}

int mlc_plaid_new(const struct mlc_plaid_opts *o, struct mlc_plaid **out)
{
    int rc = MLC_ERR_NOMEM;
    *out = NULL;
    if (!o || !o->base_url || !o->client_id || !o->secret || !o->client_id[0] || !o->secret[0])
        return MLC_ERR_CONFIG;
    struct mlc_plaid *p = mlc_calloc(1, sizeof(*p));
    if (!p)
        return MLC_ERR_NOMEM;
    size_t bl = strlen(o->base_url);
    while (bl && o->base_url[bl - 1] == '/')
        bl--;
    if (bl == 0 || bl >= sizeof(p->base_url)) {
        rc = MLC_ERR_CONFIG;
        goto fail;
    }
    memcpy(p->base_url, o->base_url, bl);
    p->client_id = mlc_strdup(o->client_id);
    p->secret = mlc_strdup(o->secret);
    if (!p->client_id || !p->secret)
        goto fail;
    if ((rc = mlc_log_secret_add(p->secret)) != MLC_OK)
        goto fail;
    p->max_attempts = o->max_attempts ? o->max_attempts : MLC_PLAID_ATTEMPTS_DEFAULT;
    p->base_ms = o->backoff_base_ms ? o->backoff_base_ms : MLC_PLAID_BACKOFF_BASE_MS;
    p->cap_ms = o->backoff_cap_ms ? o->backoff_cap_ms : MLC_PLAID_BACKOFF_CAP_MS;
    if (!o->transport || !o->sleep_ms) {
        if ((rc = mlc_loop_new(NULL, &p->loop)) != MLC_OK)
            goto fail;
    }
    if (o->transport) {
        p->transport = *o->transport;
    } else {
        struct mlc_http_opts ho;
        if (o->http)
            ho = *o->http;
        else
            mlc_http_opts_default(&ho);
        if (o->ca_bundle)
            ho.ca_bundle = o->ca_bundle;
        if (o->connect_timeout_ms > 0)
            ho.connect_timeout_ms = o->connect_timeout_ms;
        if (o->total_timeout_ms > 0)
            ho.total_timeout_ms = o->total_timeout_ms;
        if (ho.max_response < MLC_PLAID_ANSWER_MAX)
            ho.max_response = MLC_PLAID_ANSWER_MAX;
        /* /accounts/balance/get may take "30 seconds or more" (plaid.md 4). */
        if (ho.total_timeout_ms < 90000)
            ho.total_timeout_ms = 90000;
        if ((rc = mlc_http_new(p->loop, &ho, &p->http)) != MLC_OK)
            goto fail;
        p->transport.post = curl_post;
        p->transport.ud = p;
    }
    if (o->sleep_ms) {
        p->sleep_ms = o->sleep_ms;
        p->sleep_ud = o->sleep_ud;
    } else {
        p->sleep_ms = loop_sleep;
        p->sleep_ud = p;
    }
    *out = p;
    return MLC_OK;
fail:
    mlc_plaid_free(p);
    return rc;
}

void mlc_plaid_free(struct mlc_plaid *p)
{
    if (!p)
        return;
    mlc_http_free(p->http);
    mlc_loop_free(p->loop);
    if (p->secret) {
        mlc_wipe(p->secret, strlen(p->secret));
        mlc_free(p->secret);
    }
    mlc_free(p->client_id);
    mlc_free(p);
}

const struct mlc_plaid_result *mlc_plaid_last(const struct mlc_plaid *p)
{
    return &p->last;
}

void mlc_plaid_classify_answer(long status, const char *body, size_t len, int transport_rc,
                               const char *errline, struct mlc_plaid_result *r)
{
    memset(r, 0, sizeof(*r));
    r->status = status;
    if (transport_rc == MLC_OK && status == 200) {
        r->rc = MLC_OK;
        return;
    }
    if (transport_rc != MLC_OK && transport_rc != MLC_ERR_RETRY && transport_rc != MLC_ERR_TIMEOUT) {
        /* TLS trust, bad URL, size caps: retrying will not help. */
        r->cls = transport_rc == MLC_ERR_TOO_BIG ? MLC_PLAID_BUG : MLC_PLAID_NEEDS_PERSON;
        r->rc = transport_rc;
        snprintf(r->message, sizeof(r->message), "could not talk to Plaid: %s",
                 errline && errline[0] ? errline : mlc_err_str(transport_rc));
        return;
    }
    if (transport_rc != MLC_OK) {
        r->cls = MLC_PLAID_RETRY;
        r->rc = MLC_ERR_RETRY;
        r->status = 0;
        snprintf(r->message, sizeof(r->message),
                 "Plaid could not be reached (%s); check the internet connection, the connector "
                 "retries on its own", errline && errline[0] ? errline : mlc_err_str(transport_rc));
        return;
    }
    if (body && len && mlc_plaid_error_parse(body, len, &r->err) == MLC_OK && r->err.error_code[0])
        r->has_error = 1;
    r->cls = mlc_plaid_error_classify(r->has_error ? &r->err : NULL, (int)status);
    r->rc = mlc_plaid_class_err(r->cls);
    mlc_plaid_error_describe(r->has_error ? &r->err : NULL, (int)status, r->message,
                             sizeof(r->message));
}

int mlc_plaid_post(struct mlc_plaid *p, const char *path, const struct cJSON *req,
                   struct mlc_buf *resp)
{
    char url[URL_MAX + PATH_MAX_LEN];
    char h_id[320], h_secret[320];
    char *body = NULL;
    int rc;
    memset(&p->last, 0, sizeof(p->last));
    mlc_buf_reset(resp);
    if (strlen(path) >= PATH_MAX_LEN || path[0] != '/') {
        rc = MLC_ERR_INTERNAL;
        goto out;
    }
    snprintf(url, sizeof(url), "%s%s", p->base_url, path);
    body = cJSON_PrintUnformatted(req);
    if (!body) {
        rc = MLC_ERR_NOMEM;
        goto out;
    }
    size_t blen = strlen(body);
    if (blen > MLC_PLAID_REQUEST_MAX) {
        rc = MLC_ERR_TOO_BIG;
        goto out;
    }
    /* Credentials go in headers (SPEC securitySchemes), so request bodies can be logged safely. */
    int n1 = snprintf(h_id, sizeof(h_id), "PLAID-CLIENT-ID: %s", p->client_id);
    int n2 = snprintf(h_secret, sizeof(h_secret), "PLAID-SECRET: %s", p->secret);
    if (n1 < 0 || (size_t)n1 >= sizeof(h_id) || n2 < 0 || (size_t)n2 >= sizeof(h_secret)) {
        rc = MLC_ERR_CONFIG;
        goto out;
    }
    const char *headers[] = { h_id, h_secret, "Plaid-Version: " MLC_PLAID_VERSION,
                              "Accept: application/json" };
    uint32_t rnd = 0;
    for (unsigned attempt = 0;; attempt++) {
        long status = 0;
        char errline[384] = "";
        mlc_buf_reset(resp);
        int trc = p->transport.post(p->transport.ud, url, headers, 4, body, blen, &status, resp,
                                    errline, sizeof(errline));
        mlc_plaid_classify_answer(status, resp->data, resp->len, trc, errline, &p->last);
        p->last.attempts = attempt + 1;
        int rate = p->last.status == 429 ||
                   (p->last.has_error && strcmp(p->last.err.error_type, "RATE_LIMIT_EXCEEDED") == 0);
        unsigned limit = p->max_attempts;
        uint32_t cap = p->cap_ms;
        if (rate && limit > 1) {
            limit = limit > MLC_PLAID_RATE_ATTEMPTS ? limit : MLC_PLAID_RATE_ATTEMPTS;
            cap = cap > MLC_PLAID_RATE_CAP_MS ? cap : MLC_PLAID_RATE_CAP_MS;
        }
        if (p->last.rc == MLC_OK || p->last.cls != MLC_PLAID_RETRY || attempt + 1 >= limit)
            break;
        if (mlc_random_bytes(&rnd, sizeof(rnd)) != MLC_OK)
            rnd = (uint32_t)mlc_time_mono_ms();
        uint32_t d = mlc_backoff_delay_ms(attempt, p->base_ms, cap, rnd);
        MLC_LOG_WRN("plaid", "retry path=%s status=%ld plaid_error=%s attempt=%u delay_ms=%u", path,
                    status, p->last.has_error ? p->last.err.error_code : "-", attempt + 1, d);
        p->sleep_ms(p->sleep_ud, d);
    }
    rc = p->last.rc;
    if (rc != MLC_OK) {
        MLC_LOG_WRN("plaid", "failed path=%s status=%ld plaid_error=%s class=%s request_id=%s", path,
                    p->last.status, p->last.has_error ? p->last.err.error_code : "-",
                    mlc_plaid_class_name(p->last.cls),
                    p->last.err.request_id[0] ? p->last.err.request_id : "-");
        mlc_buf_reset(resp);
    }
out:
    if (rc != MLC_OK && p->last.rc == MLC_OK) {
        p->last.rc = rc;
        p->last.cls = MLC_PLAID_BUG;
        snprintf(p->last.message, sizeof(p->last.message),
                 "could not build the Plaid request for %s: %s", path, mlc_err_str(rc));
    }
    mlc_wipe(h_secret, sizeof(h_secret));
    cJSON_free(body);
    return rc;
}

int mlc_plaid_call(struct mlc_plaid *p, const char *path, const struct cJSON *req,
                   struct cJSON **out)
{
    struct mlc_buf b;
    *out = NULL;
    mlc_buf_init(&b, MLC_PLAID_ANSWER_MAX);
    int rc = mlc_plaid_post(p, path, req, &b);
    if (rc == MLC_OK) {
        *out = cJSON_ParseWithLength(b.data ? b.data : "", b.len);
        if (!*out || !cJSON_IsObject(*out)) {
            cJSON_Delete(*out);
            *out = NULL;
            rc = MLC_ERR_DATA;
            p->last.rc = rc;
            p->last.cls = MLC_PLAID_BUG;
            snprintf(p->last.message, sizeof(p->last.message),
                     "Plaid's answer to %s is not a JSON object; try again later, and report it "
                     "if it persists", path);
        }
    }
    mlc_buf_free(&b);
    return rc;
}

int mlc_plaid_token_name(const char *item_id, char out[MLC_PLAID_TOKEN_NAME_MAX + 1])
{
    unsigned char h[32];
    if (!item_id || !item_id[0])
        return MLC_ERR_USAGE;
    if (mbedtls_sha256_ret((const unsigned char *)item_id, strlen(item_id), h, 0) != 0)
        return MLC_ERR_CRYPTO;
    char *o = out + snprintf(out, MLC_PLAID_TOKEN_NAME_MAX + 1, "plaid.item.");
    for (int i = 0; i < 16; i++)
        o += snprintf(o, 3, "%02x", h[i]);
    snprintf(o, 8, ".token");
    return MLC_OK;
}
