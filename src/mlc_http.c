#include "mlc_http.h"
#include "mlc_alloc.h"
#include "mlc_err.h"
#include "mlc_log.h"
#include "mlc_platform.h"
#include "mlc_version.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Sockets curl may have open at once: two per transfer while happy-eyeballs connects, plus
 * connections kept alive in curl's cache. Bounded by the loop's own fd cap anyway. */
#define HTTP_MAX_SOCKETS 40

enum req_state { REQ_QUEUED, REQ_DELAYED, REQ_ACTIVE };

struct http_req {
    struct http_req *prev, *next;
    struct mlc_http *c;
    uint64_t id;
    enum req_state state;
    enum mlc_http_method method;
    char *url;
    char *body;
    size_t body_len;
    struct curl_slist *hdrs;
    CURL *easy;
    mlc_http_done_fn done;
    void *ud;
    uint64_t delay_timer;
    int drop_answer;   /* fault: abort as soon as the answer starts arriving */
    int dropped;
    int too_big;
    int nomem;
    int64_t start_ms;
    uint32_t hdr_off[MLC_HTTP_MAX_RESP_HEADERS][2]; /* name/value offsets into header_mem */
    struct mlc_http_response resp;
    char errbuf[CURL_ERROR_SIZE];
};

struct http_sock {
    int fd;            /* -1 = free */
    uint64_t watch;
};

struct mlc_http {
    struct mlc_loop *loop;
    CURLM *multi;
    struct mlc_http_opts opts;
    char *ca_bundle;
    struct http_req *head, *tail;   /* every unfinished request, queue order */
    unsigned n_active;              /* ACTIVE + DELAYED: they hold a slot */
    unsigned n_queued;
    uint64_t next_id;
    uint64_t curl_timer;            /* loop timer standing in for curl's single timeout */
    uint64_t kick_timer;            /* deferred queue pump */
    struct mlc_http_fault_hook fault;
    struct http_sock socks[HTTP_MAX_SOCKETS];
    int drainer_added;
};

static const struct mlc_loop_drainer http_drainer;

const char *mlc_http_method_name(enum mlc_http_method m)
{
    switch (m) {
    case MLC_HTTP_GET: return "GET";
    case MLC_HTTP_POST: return "POST";
    case MLC_HTTP_PUT: return "PUT";
    case MLC_HTTP_DELETE: return "DELETE";
    }
    return "?";
}

void mlc_http_opts_default(struct mlc_http_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->connect_timeout_ms = 10000;
    o->total_timeout_ms = 60000;
    o->low_speed_limit = 1;
    o->low_speed_time_s = 30;
    o->max_response = 8u << 20;
    o->max_request_body = 8u << 20;
    o->max_concurrent = 4;
    o->max_queued = 32;
}

/* Only the host goes into logs and messages: paths and queries may carry identifiers or codes. */
static void url_host(const char *url, char *out, size_t cap)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t n = strcspn(p, "/?#");
    const char *at = memchr(p, '@', n);
    if (at) {
        n -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    if (n >= cap)
        n = cap - 1;
    memcpy(out, p, n);
    out[n] = '\0';
}

static void list_unlink(struct mlc_http *c, struct http_req *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        c->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        c->tail = r->prev;
    r->prev = r->next = NULL;
}

static void req_free(struct http_req *r)
{
    if (!r)
        return;
    if (r->easy)
        curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->hdrs);
    mlc_free(r->url);
    if (r->body) {
        /* Bodies carry credentials (token requests): do not leave them in freed memory. */
        mlc_wipe(r->body, r->body_len);
        mlc_free(r->body);
    }
    mlc_buf_free(&r->resp.body);
    mlc_buf_free(&r->resp.header_mem);
    mlc_free(r);
}

static void kick_cb(struct mlc_loop *loop, uint64_t id, void *ud);

static void kick(struct mlc_http *c)
{
    if (c->kick_timer == 0 &&
        mlc_loop_timer_add(c->loop, 0, 0, MLC_LOOP_F_DRAIN, kick_cb, c, &c->kick_timer) != MLC_OK)
        MLC_LOG_ERR("http", "queue_stalled reason=timer_table_full"); /* next kick retries */
}

/* Ends a request: detaches it, runs its callback exactly once, frees it. Never called from inside
 * a curl callback (curl forbids removing handles there). */
static void finish(struct http_req *r, int result, const char *msg)
{
    struct mlc_http *c = r->c;
    char host[128];
    url_host(r->url, host, sizeof(host));

    if (r->state == REQ_QUEUED)
        c->n_queued--;
    else
        c->n_active--;
    if (r->delay_timer)
        mlc_loop_timer_cancel(c->loop, r->delay_timer);
    list_unlink(c, r);
    if (r->easy) {
        if (r->state == REQ_ACTIVE)
            curl_multi_remove_handle(c->multi, r->easy);
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->resp.status);
        curl_easy_cleanup(r->easy);
        r->easy = NULL;
    }
    struct mlc_http_response *resp = &r->resp;
    resp->result = result;
    if (result != MLC_OK) {
        snprintf(resp->error, sizeof(resp->error), "%s", msg ? msg : mlc_err_str(result));
        mlc_buf_free(&resp->body); /* a partial answer must not be mistaken for a whole one */
    }
    if (r->dropped)
        resp->status = 0; /* the answer was lost: the caller must not see it */
    for (size_t i = 0; i < resp->n_headers; i++) {
        resp->headers[i].name = resp->header_mem.data + r->hdr_off[i][0];
        resp->headers[i].value = resp->header_mem.data + r->hdr_off[i][1];
    }
    resp->elapsed_ms = mlc_loop_now(c->loop) - r->start_ms;
    if (result == MLC_OK)
        MLC_LOG_DBG("http", "done id=%llu host=%s status=%ld ms=%lld", (unsigned long long)r->id,
                    host, resp->status, (long long)resp->elapsed_ms);
    else
        MLC_LOG_INF("http", "failed id=%llu host=%s result=%d error=\"%s\"",
                    (unsigned long long)r->id, host, result, resp->error);
    r->done(resp, r->ud);
    req_free(r);
    kick(c); /* a slot is free: start the next queued request from the loop */
}

/* ---- curl callbacks: they only record, never remove handles ---- */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct http_req *r = ud;
    size_t n = size * nmemb;
    int rc = mlc_buf_append(&r->resp.body, ptr, n);
    if (rc == MLC_ERR_TOO_BIG) {
        r->too_big = 1;
        return 0;
    }
    if (rc != MLC_OK) {
        r->nomem = 1;
        return 0;
    }
    return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct http_req *r = ud;
    size_t n = size * nmemb;
    struct mlc_http_response *resp = &r->resp;
    if (r->drop_answer) {
        r->dropped = 1; /* the request went out; pretend the connection died before the answer */
        return 0;
    }
    if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
        /* A new status line (after a 1xx or a proxy CONNECT): keep only the final answer's. */
        resp->n_headers = 0;
        mlc_buf_reset(&resp->header_mem);
        return n;
    }
    size_t len = n;
    while (len > 0 && (ptr[len - 1] == '\r' || ptr[len - 1] == '\n'))
        len--;
    const char *colon = memchr(ptr, ':', len);
    if (len == 0 || !colon)
        return n; /* end of headers, or a folded/malformed line we do not keep */
    if (resp->n_headers >= MLC_HTTP_MAX_RESP_HEADERS) {
        r->too_big = 1;
        return 0;
    }
    size_t name_len = (size_t)(colon - ptr);
    const char *v = colon + 1;
    const char *end = ptr + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    struct mlc_buf *m = &resp->header_mem;
    uint32_t name_off = (uint32_t)m->len;
    int rc = mlc_buf_append(m, ptr, name_len);
    if (rc == MLC_OK)
        rc = mlc_buf_append(m, "", 1);
    uint32_t val_off = (uint32_t)m->len;
    if (rc == MLC_OK)
        rc = mlc_buf_append(m, v, (size_t)(end - v));
    if (rc == MLC_OK)
        rc = mlc_buf_append(m, "", 1);
    if (rc != MLC_OK) {
        if (rc == MLC_ERR_TOO_BIG)
            r->too_big = 1;
        else
            r->nomem = 1;
        return 0;
    }
    r->hdr_off[resp->n_headers][0] = name_off;
    r->hdr_off[resp->n_headers][1] = val_off;
    resp->n_headers++;
    return n;
}

static void check_done(struct mlc_http *c);

/* curl gave up on the whole multi handle (a socket or timer could not be registered): fail what
 * is in flight rather than leave it waiting for completions that will never come. */
static void after_action(struct mlc_http *c, CURLMcode mc)
{
    check_done(c);
    if (mc == CURLM_OK)
        return;
    MLC_LOG_ERR("http", "multi_failed code=%d error=\"%s\"", (int)mc, curl_multi_strerror(mc));
    struct http_req *r = c->head;
    while (r) {
        struct http_req *next = r->next;
        if (r->state == REQ_ACTIVE) {
            finish(r, MLC_ERR_RETRY, "the HTTP layer ran out of sockets or timers; will retry");
            next = c->head;
        }
        r = next;
    }
}

static void sock_event(struct mlc_loop *loop, uint64_t id, int fd, unsigned revents, void *ud)
{
    struct mlc_http *c = ud;
    int mask = 0, running = 0;
    if (revents & MLC_LOOP_READ)
        mask |= CURL_CSELECT_IN;
    if (revents & MLC_LOOP_WRITE)
        mask |= CURL_CSELECT_OUT;
    if (revents & MLC_LOOP_ERROR)
        mask |= CURL_CSELECT_ERR;
    after_action(c, curl_multi_socket_action(c->multi, fd, mask, &running));
}

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct mlc_http *c = userp;
    struct http_sock *hs = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (hs) {
            mlc_loop_fd_remove(c->loop, hs->watch);
            hs->fd = -1;
            hs->watch = 0;
            curl_multi_assign(c->multi, s, NULL);
        }
        return 0;
    }
    unsigned ev = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        ev |= MLC_LOOP_READ;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        ev |= MLC_LOOP_WRITE;
    if (hs)
        return mlc_loop_fd_modify(c->loop, hs->watch, ev) == MLC_OK ? 0 : -1;
    for (int i = 0; i < HTTP_MAX_SOCKETS; i++) {
        if (c->socks[i].fd >= 0)
            continue;
        hs = &c->socks[i];
        if (mlc_loop_fd_add(c->loop, s, ev, MLC_LOOP_F_DRAIN, sock_event, c, &hs->watch) != MLC_OK)
            return -1;
        hs->fd = s;
        curl_multi_assign(c->multi, s, hs);
        return 0;
    }
    MLC_LOG_ERR("http", "socket_table_full max=%d", HTTP_MAX_SOCKETS);
    return -1;
}

static void curl_timer_cb(struct mlc_loop *loop, uint64_t id, void *ud)
{
    struct mlc_http *c = ud;
    int running = 0;
    c->curl_timer = 0; /* one-shot: already gone from the loop */
    after_action(c, curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running));
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct mlc_http *c = userp;
    if (timeout_ms < 0) {
        if (c->curl_timer)
            mlc_loop_timer_cancel(c->loop, c->curl_timer);
        c->curl_timer = 0;
        return 0;
    }
    if (c->curl_timer && mlc_loop_timer_reset(c->loop, c->curl_timer, timeout_ms) == MLC_OK)
        return 0;
    return mlc_loop_timer_add(c->loop, timeout_ms, 0, MLC_LOOP_F_DRAIN, curl_timer_cb, c,
                              &c->curl_timer) == MLC_OK ? 0 : -1;
}

/* ---- results ---- */

static int classify(struct http_req *r, CURLcode cc, char *msg, size_t cap)
{
    const struct mlc_http_opts *o = &r->c->opts;
    char host[128];
    url_host(r->url, host, sizeof(host));
    const char *detail = r->errbuf[0] ? r->errbuf : curl_easy_strerror(cc);

    if (r->too_big || cc == CURLE_FILESIZE_EXCEEDED) {
        snprintf(msg, cap, "the answer from %.100s is larger than the %zu-byte limit; this is "
                 "unexpected, report it", host, o->max_response);
        return MLC_ERR_TOO_BIG;
    }
    if (r->nomem || cc == CURLE_OUT_OF_MEMORY) {
        snprintf(msg, cap, "out of memory while talking to %.100s; check the memory budget", host);
        return MLC_ERR_NOMEM;
    }
    if (r->dropped) {
        snprintf(msg, cap, "the connection to %.100s was lost after the request was sent "
                 "(test fault); will retry", host);
        return MLC_ERR_RETRY;
    }
    switch (cc) {
    case CURLE_OK:
        return MLC_OK;
    case CURLE_OPERATION_TIMEDOUT:
        snprintf(msg, cap, "%.100s did not answer in time (%.120s); will retry", host, detail);
        return MLC_ERR_TIMEOUT;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        snprintf(msg, cap, "the certificate of %.100s is not trusted (%.120s); check the CA "
                 "bundle setting or whether a proxy intercepts HTTPS", host, detail);
        return MLC_ERR_CRYPTO;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        snprintf(msg, cap, "the address for %.100s is not a valid http(s) URL; check the "
                 "configuration", host);
        return MLC_ERR_CONFIG;
    default:
        snprintf(msg, cap, "could not talk to %.100s (%.120s); check the network or proxy; "
                 "will retry", host, detail);
        return MLC_ERR_RETRY;
    }
}

static void check_done(struct mlc_http *c)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(c->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURLcode cc = m->data.result;
        char *priv = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
        struct http_req *r = (struct http_req *)(void *)priv;
        if (!r)
            continue;
        char msg[sizeof(((struct mlc_http_response *)0)->error)] = "";
        int result = classify(r, cc, msg, sizeof(msg));
        finish(r, result, msg); /* invalidates m: read nothing from it afterwards */
    }
}

/* ---- starting transfers ---- */

static int setup_easy(struct http_req *r)
{
    struct mlc_http *c = r->c;
    const struct mlc_http_opts *o = &c->opts;
    CURL *e = curl_easy_init();
    if (!e)
        return MLC_ERR_NOMEM;
    r->easy = e;
    CURLcode cc = CURLE_OK;
#define SET(opt, val) do { if (cc == CURLE_OK) cc = curl_easy_setopt(e, opt, val); } while (0)
    SET(CURLOPT_URL, r->url);
    SET(CURLOPT_PRIVATE, (void *)r);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_FOLLOWLOCATION, 0L); /* a redirect must not carry our Authorization elsewhere */
    /* Verification is always on; there is deliberately no option to turn it off. */
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    if (c->ca_bundle)
        SET(CURLOPT_CAINFO, c->ca_bundle);
    SET(CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
    SET(CURLOPT_TIMEOUT_MS, o->total_timeout_ms);
    SET(CURLOPT_LOW_SPEED_LIMIT, o->low_speed_limit);
    SET(CURLOPT_LOW_SPEED_TIME, o->low_speed_time_s);
    /* curl refuses a body whose Content-Length announces more; on_body catches chunked ones. */
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_response);
    SET(CURLOPT_USERAGENT, MLC_USER_AGENT);
    SET(CURLOPT_HTTPHEADER, r->hdrs);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, (void *)r);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, (void *)r);
    SET(CURLOPT_ERRORBUFFER, r->errbuf);
    switch (r->method) {
    case MLC_HTTP_GET:
        SET(CURLOPT_HTTPGET, 1L);
        break;
    case MLC_HTTP_POST:
    case MLC_HTTP_PUT:
    case MLC_HTTP_DELETE:
        if (r->method != MLC_HTTP_POST)
            SET(CURLOPT_CUSTOMREQUEST, mlc_http_method_name(r->method));
        /* Not idempotent: on a reused connection that dies without an answer, curl silently
         * sends the request again, and a POST whose answer was lost would land twice. A fresh
         * connection is never retried by curl; the caller settles a lost answer itself. */
        if (r->method == MLC_HTTP_POST)
            SET(CURLOPT_FRESH_CONNECT, 1L);
        if (r->method != MLC_HTTP_DELETE || r->body_len) {
            SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
            SET(CURLOPT_POSTFIELDS, r->body ? r->body : "");
        }
        break;
    }
#undef SET
    if (cc != CURLE_OK)
        return cc == CURLE_OUT_OF_MEMORY ? MLC_ERR_NOMEM : MLC_ERR_INTERNAL;
    return MLC_OK;
}

static void start_transfer(struct http_req *r)
{
    struct mlc_http *c = r->c;
    int rc = setup_easy(r);
    if (rc == MLC_OK && curl_multi_add_handle(c->multi, r->easy) != CURLM_OK)
        rc = MLC_ERR_NOMEM;
    if (rc != MLC_OK) {
        finish(r, rc, "could not start an HTTP request (out of memory?); will retry");
        return;
    }
    r->state = REQ_ACTIVE;
}

static void delay_cb(struct mlc_loop *loop, uint64_t id, void *ud)
{
    struct http_req *r = ud;
    r->delay_timer = 0;
    start_transfer(r);
}

/* Moves queued requests into free slots. Runs from a loop timer, so a callback it triggers is
 * never nested inside mlc_http_request_start. */
static void pump(struct mlc_http *c)
{
    while (c->n_active < c->opts.max_concurrent && !mlc_loop_stopping(c->loop)) {
        struct http_req *r = c->head;
        while (r && r->state != REQ_QUEUED)
            r = r->next;
        if (!r)
            break;
        c->n_queued--;
        c->n_active++;
        r->state = REQ_DELAYED; /* holds a slot; becomes ACTIVE in start_transfer */
        r->start_ms = mlc_loop_now(c->loop);

        struct mlc_http_fault f = { MLC_HTTP_FAULT_NONE, 0, 0 };
        if (c->fault.before)
            f = c->fault.before(c->fault.ud, r->method, r->url);
        switch (f.action) {
        case MLC_HTTP_FAULT_FAIL:
            finish(r, f.err ? f.err : MLC_ERR_RETRY, "request not sent (test fault); will retry");
            continue;
        case MLC_HTTP_FAULT_DELAY:
            if (mlc_loop_timer_add(c->loop, f.delay_ms, 0, MLC_LOOP_F_DRAIN, delay_cb, r,
                                   &r->delay_timer) != MLC_OK)
                finish(r, MLC_ERR_TOO_BIG, "too many timers for a delayed request");
            continue;
        case MLC_HTTP_FAULT_DROP_ANSWER:
            r->drop_answer = 1;
            break;
        case MLC_HTTP_FAULT_NONE:
            break;
        }
        start_transfer(r);
    }
}

static void kick_cb(struct mlc_loop *loop, uint64_t id, void *ud)
{
    struct mlc_http *c = ud;
    c->kick_timer = 0;
    pump(c);
}

static int header_ok(const char *h)
{
    size_t n = strnlen(h, MLC_HTTP_MAX_HEADER_LINE);
    if (n >= MLC_HTTP_MAX_HEADER_LINE)
        return MLC_ERR_TOO_BIG;
    /* A line break would let a value smuggle in a header or a second request. */
    if (strpbrk(h, "\r\n") || !strchr(h, ':'))
        return MLC_ERR_DATA;
    return MLC_OK;
}

static int add_header(struct curl_slist **list, const char *line)
{
    struct curl_slist *n = curl_slist_append(*list, line);
    if (!n)
        return MLC_ERR_NOMEM;
    *list = n;
    return MLC_OK;
}

int mlc_http_request_start(struct mlc_http *c, const struct mlc_http_request *req,
                           mlc_http_done_fn done, void *ud, uint64_t *id)
{
    int rc = MLC_OK;
    struct http_req *r = NULL;
    int has_accept = 0;
    if (id)
        *id = 0;
    if (!req || !req->url || !done)
        return MLC_ERR_INTERNAL;
    if (mlc_loop_stopping(c->loop))
        return MLC_ERR_CANCELLED;
    /* Requests wait for the next loop step even when a slot is free, so free slots count too. */
    unsigned free_slots =
        c->opts.max_concurrent > c->n_active ? c->opts.max_concurrent - c->n_active : 0;
    if (c->n_queued >= c->opts.max_queued + free_slots) {
        MLC_LOG_WRN("http", "queue_full max=%u", c->opts.max_queued);
        return MLC_ERR_TOO_BIG;
    }
    if (req->body_len > c->opts.max_request_body || req->n_headers > MLC_HTTP_MAX_REQ_HEADERS)
        return MLC_ERR_TOO_BIG;
    for (size_t i = 0; i < req->n_headers; i++) {
        if ((rc = header_ok(req->headers[i])) != MLC_OK)
            return rc;
        if (strncasecmp(req->headers[i], "Accept:", 7) == 0)
            has_accept = 1;
    }
    if (req->content_type && (strpbrk(req->content_type, "\r\n") ||
                              strlen(req->content_type) > 200))
        return MLC_ERR_DATA;

    r = mlc_calloc(1, sizeof(*r));
    if (!r)
        return MLC_ERR_NOMEM;
    r->c = c;
    r->method = req->method;
    r->done = done;
    r->ud = ud;
    mlc_buf_init(&r->resp.body, c->opts.max_response);
    mlc_buf_init(&r->resp.header_mem, MLC_HTTP_MAX_RESP_HEADER_BYTES);
    rc = MLC_ERR_NOMEM;
    if (!(r->url = mlc_strdup(req->url)))
        goto out;
    if (req->body_len) {
        if (!(r->body = mlc_malloc(req->body_len)))
            goto out;
        memcpy(r->body, req->body, req->body_len);
        r->body_len = req->body_len;
    }
    /* Exact answers 500 to "Expect: 100-continue"; an empty Expect: stops curl sending it. */
    if ((rc = add_header(&r->hdrs, "Expect:")) != MLC_OK)
        goto out;
    if (!has_accept && (rc = add_header(&r->hdrs, "Accept: application/json")) != MLC_OK)
        goto out;
    if (req->content_type) {
        char line[256];
        snprintf(line, sizeof(line), "Content-Type: %s", req->content_type);
        if ((rc = add_header(&r->hdrs, line)) != MLC_OK)
            goto out;
    }
    for (size_t i = 0; i < req->n_headers; i++)
        if ((rc = add_header(&r->hdrs, req->headers[i])) != MLC_OK)
            goto out;

    r->id = r->resp.id = c->next_id++;
    r->state = REQ_QUEUED;
    r->start_ms = mlc_loop_now(c->loop);
    r->prev = c->tail;
    if (c->tail)
        c->tail->next = r;
    else
        c->head = r;
    c->tail = r;
    c->n_queued++;
    if (id)
        *id = r->id;
    {
        char host[128];
        url_host(r->url, host, sizeof(host));
        MLC_LOG_DBG("http", "queued id=%llu method=%s host=%s", (unsigned long long)r->id,
                    mlc_http_method_name(r->method), host);
    }
    kick(c);
    return MLC_OK;
out:
    req_free(r);
    return rc;
}

int mlc_http_cancel(struct mlc_http *c, uint64_t id)
{
    for (struct http_req *r = c->head; r; r = r->next) {
        if (r->id == id) {
            finish(r, MLC_ERR_CANCELLED, "request cancelled");
            return MLC_OK;
        }
    }
    return MLC_ERR_NOTFOUND;
}

static void cancel_where(struct mlc_http *c, int only_unsent, const char *why)
{
    struct http_req *r = c->head;
    while (r) {
        struct http_req *next = r->next;
        if (!only_unsent || r->state != REQ_ACTIVE) {
            finish(r, MLC_ERR_CANCELLED, why);
            next = c->head; /* a callback may have changed the list: start over */
        }
        r = next;
    }
}

/* ---- draining on shutdown ---- */

static int drain_busy(void *ud)
{
    struct mlc_http *c = ud;
    return c->n_active > 0;
}

static void drain_begin(void *ud)
{
    /* What has not been sent yet is simply not sent. */
    cancel_where(ud, 1, "request not sent: the agent is stopping");
}

static void drain_cancel(void *ud)
{
    cancel_where(ud, 0, "request abandoned: the agent is stopping and the answer took too long");
}

static const struct mlc_loop_drainer http_drainer = { drain_busy, drain_begin, drain_cancel };

/* ---- lifecycle ---- */

int mlc_http_new(struct mlc_loop *loop, const struct mlc_http_opts *opts, struct mlc_http **out)
{
    int rc;
    struct mlc_http *c = NULL;
    *out = NULL;
    if ((rc = mlc_alloc_install_hooks()) != MLC_OK)
        return rc;
    c = mlc_calloc(1, sizeof(*c));
    if (!c)
        return MLC_ERR_NOMEM;
    c->loop = loop;
    c->next_id = 1;
    for (int i = 0; i < HTTP_MAX_SOCKETS; i++)
        c->socks[i].fd = -1;
    if (opts)
        c->opts = *opts;
    else
        mlc_http_opts_default(&c->opts);
    c->opts.ca_bundle = NULL; /* the copy below is what is used */
    rc = MLC_ERR_CONFIG;
    if (c->opts.max_concurrent == 0 || c->opts.max_concurrent > MLC_HTTP_MAX_CONCURRENT ||
        c->opts.max_queued > MLC_HTTP_MAX_QUEUED || c->opts.max_response == 0) {
        MLC_LOG_ERR("http", "bad_options max_concurrent=%u max_queued=%u", c->opts.max_concurrent,
                    c->opts.max_queued);
        goto out;
    }
    rc = MLC_ERR_NOMEM;
    if (opts && opts->ca_bundle && !(c->ca_bundle = mlc_strdup(opts->ca_bundle)))
        goto out;
    if (!(c->multi = curl_multi_init()))
        goto out;
    if (curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket) != CURLM_OK ||
        curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, (void *)c) != CURLM_OK ||
        curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer) != CURLM_OK ||
        curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, (void *)c) != CURLM_OK) {
        rc = MLC_ERR_INTERNAL;
        goto out;
    }
    if ((rc = mlc_loop_drainer_add(loop, &http_drainer, c)) != MLC_OK)
        goto out;
    c->drainer_added = 1;
    *out = c;
    return MLC_OK;
out:
    mlc_http_free(c);
    return rc;
}

void mlc_http_free(struct mlc_http *c)
{
    if (!c)
        return;
    cancel_where(c, 0, "request cancelled: the HTTP client was closed");
    if (c->drainer_added)
        mlc_loop_drainer_remove(c->loop, c);
    if (c->multi)
        curl_multi_cleanup(c->multi); /* may report its cached sockets as removed */
    for (int i = 0; i < HTTP_MAX_SOCKETS; i++)
        if (c->socks[i].fd >= 0)
            mlc_loop_fd_remove(c->loop, c->socks[i].watch);
    if (c->curl_timer)
        mlc_loop_timer_cancel(c->loop, c->curl_timer);
    if (c->kick_timer)
        mlc_loop_timer_cancel(c->loop, c->kick_timer);
    mlc_free(c->ca_bundle);
    mlc_free(c);
}

void mlc_http_set_fault_hook(struct mlc_http *c, const struct mlc_http_fault_hook *hook)
{
    if (hook)
        c->fault = *hook;
    else
        memset(&c->fault, 0, sizeof(c->fault));
}

void mlc_http_counts(const struct mlc_http *c, unsigned *active, unsigned *queued)
{
    if (active)
        *active = c->n_active;
    if (queued)
        *queued = c->n_queued;
}

const char *mlc_http_header_get(const struct mlc_http_response *resp, const char *name)
{
    for (size_t i = 0; i < resp->n_headers; i++)
        if (resp->headers[i].name && strcasecmp(resp->headers[i].name, name) == 0)
            return resp->headers[i].value;
    return NULL;
}

/* ---- synchronous helper ---- */

struct sync_wait {
    int done;
    struct mlc_http_response *out;
};

static void sync_done(struct mlc_http_response *resp, void *ud)
{
    struct sync_wait *w = ud;
    *w->out = *resp;
    /* The caller's copy now owns the buffers (header pointers point into header_mem's heap
     * block, which moves with it); leave the original empty so finish() frees nothing twice. */
    mlc_buf_init(&resp->body, resp->body.max);
    mlc_buf_init(&resp->header_mem, resp->header_mem.max);
    w->done = 1;
}

int mlc_http_perform_sync(struct mlc_http *c, const struct mlc_http_request *req,
                          struct mlc_http_response *resp)
{
    struct sync_wait w = { 0, resp };
    uint64_t id = 0;
    memset(resp, 0, sizeof(*resp));
    int rc = mlc_http_request_start(c, req, sync_done, &w, &id);
    if (rc != MLC_OK) {
        resp->result = rc;
        snprintf(resp->error, sizeof(resp->error), "could not send the request: %s",
                 mlc_err_str(rc));
        return rc;
    }
    while (!w.done) {
        rc = mlc_loop_run_once(c->loop, -1);
        if (rc < 0 && !w.done)
            mlc_http_cancel(c, id); /* the loop failed or stopped: do not wait forever */
    }
    return resp->result;
}

void mlc_http_response_free(struct mlc_http_response *resp)
{
    if (!resp)
        return;
    mlc_buf_free(&resp->body);
    mlc_buf_free(&resp->header_mem);
    resp->n_headers = 0;
}
