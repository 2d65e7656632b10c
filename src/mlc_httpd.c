#include "mlc_httpd.h"
#include "mlc_alloc.h"
#include "mlc_err.h"
#include "mlc_log.h"
#include "mlc_loop.h"
#include "mlc_net.h"
#include "mlc_platform.h"

#include <string.h>
#include <strings.h>

#define READ_CHUNK 4096
#define READS_PER_WAKE 4        /* 16 KiB per wake-up, so one fast client cannot starve others */
#define ACCEPTS_PER_WAKE 64
#define LINGER_DRAIN_MAX (64 * 1024)
#define SWEEP_MS 250            /* timeouts are enforced within this much of their deadline */
#define EXTRA_HEADERS_MAX 4096

enum conn_state { C_FREE = 0, C_READ, C_DEFER, C_WRITE, C_LINGER };

struct conn {
    struct mlc_httpd *srv;
    uint64_t id;                 /* 0 = free slot; never reused */
    int fd;
    uint64_t watch;
    enum conn_state state;
    int64_t deadline;            /* loop clock; what happens then depends on state */
    int head_done;
    size_t need;                 /* head + body bytes, once the head is known */
    int route;                   /* index into routes, -1 = none */
    int is_head;                 /* HEAD: send headers only */
    int set_cookie;              /* the token came in the query: hand the browser a cookie */
    struct mlc_buf in;
    struct mlc_buf out;
    size_t out_off;
    size_t drained;
    struct mlc_http_inreq req;
    struct mlc_httpd_request hreq;
    struct mlc_httpd_response resp;
    char peer[MLC_NET_ADDR_MAX];
};

struct route {
    char method[MLC_HTTP_METHOD_MAX];
    char path[128];
    unsigned flags;
    size_t body_max;
    mlc_httpd_handler_fn fn;
    void *ud;
};

struct mlc_httpd {
    struct mlc_loop *loop;
    int lfd;
    uint64_t lwatch;
    uint64_t sweep;
    int port;
    int loopback;
    char host[MLC_NET_ADDR_MAX];
    char token[MLC_HTTPD_TOKEN_MAX + 1];
    struct mlc_httpd_config cfg;
    struct route routes[MLC_HTTPD_ROUTES_MAX];
    size_t n_routes;
    struct conn *conns;
    int max_conns;
    int n_conns;
    uint64_t next_conn_id;
};

#define BUSY_BODY "The status server is busy with other visitors. Try again in a moment.\n"
static const char BUSY_RESPONSE[] =
    "HTTP/1.1 503 Service Unavailable\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Length: 70\r\n"
    "Retry-After: 5\r\n"
    "Connection: close\r\n\r\n" BUSY_BODY;
_Static_assert(sizeof(BUSY_BODY) - 1 == 70, "Content-Length of BUSY_RESPONSE");

/* ---- responses ---- */

static void resp_init(struct mlc_httpd_response *r)
{
    r->status = 0;
    r->content_type[0] = '\0';
    mlc_buf_init(&r->headers, EXTRA_HEADERS_MAX);
    mlc_buf_init(&r->body, MLC_HTTPD_RESPONSE_MAX);
}

static void resp_free(struct mlc_httpd_response *r)
{
    mlc_buf_free(&r->headers);
    mlc_buf_free(&r->body);
}

void mlc_httpd_resp_set(struct mlc_httpd_response *r, int status, const char *content_type)
{
    r->status = status;
    if (!content_type)
        content_type = "text/plain; charset=utf-8";
    size_t n = strlen(content_type);
    if (n >= sizeof(r->content_type))
        n = 0; /* never send a cut content type: fall back to none */
    memcpy(r->content_type, content_type, n);
    r->content_type[n] = '\0';
}

static int header_text_ok(const char *s, int token_only)
{
    static const char tspecial[] = "!#$%&'*+-.^_`|~";
    if (!*s && token_only)
        return 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (token_only) {
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  strchr(tspecial, c)))
                return 0;
        } else if (c < 0x20 || c == 0x7f) {
            return 0; /* CR or LF would let a caller's value start a header of its own */
        }
    }
    return 1;
}

int mlc_httpd_resp_header(struct mlc_httpd_response *r, const char *name, const char *value)
{
    if (!header_text_ok(name, 1) || !header_text_ok(value, 0))
        return MLC_ERR_DATA;
    return mlc_buf_printf(&r->headers, "%s: %s\r\n", name, value);
}

int mlc_httpd_resp_text(struct mlc_httpd_response *r, int status, const char *content_type,
                        const char *body)
{
    mlc_httpd_resp_set(r, status, content_type);
    mlc_buf_reset(&r->body);
    return mlc_buf_append_str(&r->body, body);
}

/* ---- access ---- */

enum token_src { TOK_NONE = 0, TOK_HEADER, TOK_QUERY, TOK_COOKIE };

static int token_eq(const char *cand, size_t n, const char *token, size_t tl)
{
    return n == tl && mlc_ct_memcmp(cand, token, tl) == 0;
}

static enum token_src token_source(const char *token, const struct mlc_http_inreq *req)
{
    size_t tl = token ? strlen(token) : 0;
    char v[MLC_HTTPD_TOKEN_MAX + 1];
    enum token_src ok = TOK_NONE;
    if (tl == 0)
        return TOK_NONE;
    const struct mlc_http_infield *h = mlc_http_header_find(req, "authorization");
    if (h && h->value_len > 7 && strncasecmp(h->value, "bearer ", 7) == 0) {
        const char *c = h->value + 7;
        size_t n = h->value_len - 7;
        while (n && *c == ' ') {
            c++;
            n--;
        }
        if (token_eq(c, n, token, tl))
            ok = TOK_HEADER;
    }
    if (!ok && mlc_http_query_get(req->query, req->query_len, MLC_HTTPD_TOKEN_QUERY, v,
                                  sizeof(v)) == MLC_OK && token_eq(v, strlen(v), token, tl))
        ok = TOK_QUERY;
    if (!ok && mlc_http_cookie_get(req, MLC_HTTPD_TOKEN_COOKIE, v, sizeof(v)) == MLC_OK &&
        token_eq(v, strlen(v), token, tl))
        ok = TOK_COOKIE;
    mlc_wipe(v, sizeof(v));
    return ok;
}

int mlc_httpd_auth_ok(int loopback_bind, unsigned route_flags, const char *token,
                      const struct mlc_http_inreq *req)
{
    if (loopback_bind || (route_flags & MLC_HTTPD_PUBLIC))
        return 1;
    return token_source(token, req) != TOK_NONE;
}

/* ---- connections ---- */

static void sweep_cb(struct mlc_loop *loop, uint64_t id, void *ud);
static void conn_cb(struct mlc_loop *loop, uint64_t id, int fd, unsigned revents, void *ud);

static void conn_close(struct mlc_httpd *srv, struct conn *c)
{
    if (!c->id)
        return;
    if (c->watch)
        mlc_loop_fd_remove(srv->loop, c->watch);
    mlc_net_close(c->fd);
    mlc_buf_free(&c->in);
    mlc_buf_free(&c->out);
    resp_free(&c->resp);
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    srv->n_conns--;
    if (srv->n_conns == 0 && srv->sweep) {
        mlc_loop_timer_cancel(srv->loop, srv->sweep);
        srv->sweep = 0;
    }
}

static void log_done(const struct conn *c, int status)
{
    const char *m = c->head_done ? c->req.method : "-";
    int plen = c->head_done && c->req.path_len < 200 ? (int)c->req.path_len : 0;
    /* the path only: the query may carry the access token */
    MLC_LOG_DBG("httpd", "response peer=%s method=%s path=%.*s status=%d", c->peer, m, plen,
                plen ? c->req.path : "", status);
}

static void start_linger(struct mlc_httpd *srv, struct conn *c)
{
    /* Closing with unread request bytes makes the kernel send a reset, which can destroy the
     * response we just sent before the client reads it. So: FIN first, then read and discard
     * for a short while (what Apache calls a lingering close). */
    mlc_net_shutdown_write(c->fd);
    c->state = C_LINGER;
    c->deadline = mlc_loop_now(srv->loop) + MLC_HTTPD_LINGER_MS;
    mlc_loop_fd_modify(srv->loop, c->watch, MLC_LOOP_READ);
}

static void do_write(struct mlc_httpd *srv, struct conn *c)
{
    while (c->out_off < c->out.len) {
        size_t put;
        int rc = mlc_net_write(c->fd, c->out.data + c->out_off, c->out.len - c->out_off, &put);
        if (rc == MLC_ERR_RETRY) {
            mlc_loop_fd_modify(srv->loop, c->watch, MLC_LOOP_WRITE);
            return;
        }
        if (rc != MLC_OK) {
            conn_close(srv, c);
            return;
        }
        c->out_off += put;
    }
    start_linger(srv, c);
}

/* Serialises c->resp and starts writing it. */
static void finish(struct mlc_httpd *srv, struct conn *c)
{
    struct mlc_httpd_response *r = &c->resp;
    if (r->status < 100 || r->status > 599)
        r->status = 500;
    mlc_buf_free(&c->out);
    mlc_buf_init(&c->out, r->body.len + r->headers.len + 1024);
    int rc = mlc_buf_printf(&c->out,
                            "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\nCache-Control: no-store\r\n"
                            "X-Content-Type-Options: nosniff\r\nConnection: close\r\n",
                            r->status, mlc_http_status_text(r->status), r->body.len);
    if (rc == MLC_OK && r->content_type[0])
        rc = mlc_buf_printf(&c->out, "Content-Type: %s\r\n", r->content_type);
    if (rc == MLC_OK && c->set_cookie && r->status < 400 &&
        strcspn(srv->token, " \";,\\") == strlen(srv->token))
        rc = mlc_buf_printf(&c->out, "Set-Cookie: %s=%s; Path=/; HttpOnly; SameSite=Strict\r\n",
                            MLC_HTTPD_TOKEN_COOKIE, srv->token);
    if (rc == MLC_OK && r->headers.len)
        rc = mlc_buf_append(&c->out, r->headers.data, r->headers.len);
    if (rc == MLC_OK)
        rc = mlc_buf_append(&c->out, "\r\n", 2);
    if (rc == MLC_OK && r->body.len && !c->is_head)
        rc = mlc_buf_append(&c->out, r->body.data, r->body.len);
    if (rc != MLC_OK) {
        MLC_LOG_WRN("httpd", "response_build_failed peer=%s error=\"%s\"", c->peer, mlc_err_str(rc));
        conn_close(srv, c);
        return;
    }
    log_done(c, r->status);
    c->out_off = 0;
    c->state = C_WRITE;
    c->deadline = mlc_loop_now(srv->loop) + srv->cfg.write_timeout_ms;
    do_write(srv, c);
}

/* An answer from the server itself (errors, timeouts): one plain sentence. */
static void respond_plain(struct mlc_httpd *srv, struct conn *c, int status, const char *text)
{
    resp_free(&c->resp);
    resp_init(&c->resp);
    mlc_httpd_resp_set(&c->resp, status, NULL);
    mlc_buf_printf(&c->resp.body, "%d %s: %s\n", status, mlc_http_status_text(status), text);
    if (status == 401)
        mlc_httpd_resp_header(&c->resp, "WWW-Authenticate", "Bearer realm=\"mlc\"");
    c->set_cookie = 0;
    mlc_loop_fd_modify(srv->loop, c->watch, 0);
    finish(srv, c);
}

static const struct route *find_route(const struct mlc_httpd *srv, const struct mlc_http_inreq *rq,
                                      int *index, char *allow, size_t allow_cap)
{
    const char *m = strcmp(rq->method, "HEAD") == 0 ? "GET" : rq->method;
    allow[0] = '\0';
    for (size_t i = 0; i < srv->n_routes; i++) {
        const struct route *r = &srv->routes[i];
        if (strlen(r->path) != rq->path_len || memcmp(r->path, rq->path, rq->path_len) != 0)
            continue;
        if (strcmp(r->method, m) == 0) {
            *index = (int)i;
            return r;
        }
        size_t al = strlen(allow);
        if (al + strlen(r->method) + 3 < allow_cap) {
            if (al)
                strcat(allow, ", ");
            strcat(allow, r->method);
        }
    }
    return NULL;
}

static struct mlc_http_limits limits(const struct mlc_httpd *srv, size_t body_max)
{
    struct mlc_http_limits lim = { srv->cfg.head_max, srv->cfg.headers_max, body_max };
    return lim;
}

static void dispatch(struct mlc_httpd *srv, struct conn *c)
{
    const struct route *r = &srv->routes[c->route];
    struct mlc_http_limits lim = limits(srv, c->need);
    /* Parse again: the buffer may have moved since the head was first seen. Same bytes, same
     * result, and the pointers are fresh. */
    if (mlc_http_parse_request(c->in.data, c->in.len, &lim, &c->req) != MLC_HTTP_COMPLETE) {
        respond_plain(srv, c, 500, "internal error");
        return;
    }
    mlc_loop_fd_modify(srv->loop, c->watch, 0);
    c->hreq.http = &c->req;
    c->hreq.body = c->req.body;
    c->hreq.body_len = c->req.body_len;
    c->hreq.peer = c->peer;
    c->hreq.conn_id = c->id;
    c->hreq.now_ms = mlc_loop_now(srv->loop);
    uint64_t id = c->id;
    int rc = r->fn(&c->hreq, &c->resp, r->ud);
    if (c->id != id)
        return; /* the handler freed the server's slot (cannot happen today; be safe) */
    if (rc == MLC_HTTPD_DEFER) {
        c->state = C_DEFER;
        c->deadline = mlc_loop_now(srv->loop) + MLC_HTTPD_DEFER_TIMEOUT_MS;
        return;
    }
    if (rc < 0) {
        MLC_LOG_WRN("httpd", "handler_failed path=%s error=\"%s\"", r->path, mlc_err_str(rc));
        respond_plain(srv, c, 500, "the agent could not produce this page; see its log");
        return;
    }
    finish(srv, c);
}

/* The head is complete: decide everything that does not need the body. */
static void head_done(struct mlc_httpd *srv, struct conn *c)
{
    char allow[128];
    int idx = -1;
    c->head_done = 1;
    const struct route *r = find_route(srv, &c->req, &idx, allow, sizeof(allow));
    c->is_head = strcmp(c->req.method, "HEAD") == 0;
    if (!r) {
        if (allow[0]) {
            resp_free(&c->resp);
            resp_init(&c->resp);
            mlc_httpd_resp_header(&c->resp, "Allow", allow);
            mlc_httpd_resp_set(&c->resp, 405, NULL);
            mlc_buf_append_str(&c->resp.body, "405 Method Not Allowed\n");
            finish(srv, c);
        } else {
            respond_plain(srv, c, 404, "no such page on this agent");
        }
        return;
    }
    if (!srv->loopback && !(r->flags & MLC_HTTPD_PUBLIC)) {
        enum token_src src = token_source(srv->token, &c->req);
        if (src == TOK_NONE) {
            respond_plain(srv, c, 401, "this page needs the status access token "
                                       "(open it with ?access_token=... or send a Bearer token)");
            return;
        }
        c->set_cookie = src == TOK_QUERY;
    }
    size_t body_max = r->body_max ? r->body_max : srv->cfg.body_max;
    if ((uint64_t)c->req.content_length > (uint64_t)body_max) {
        respond_plain(srv, c, 413, "request body too large");
        return;
    }
    c->route = idx;
    c->need = c->req.head_len + (size_t)c->req.content_length;
    if (c->need > c->in.max)
        c->in.max = c->need;
    c->deadline = mlc_loop_now(srv->loop) + srv->cfg.body_timeout_ms;
    if (c->req.expect_continue && c->in.len < c->need) {
        /* curl waits a second for this before sending a body; small, so one try is enough */
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        size_t put;
        mlc_net_write(c->fd, cont, sizeof(cont) - 1, &put);
    }
}

static void do_read(struct mlc_httpd *srv, struct conn *c)
{
    char tmp[READ_CHUNK];
    for (int i = 0; i < READS_PER_WAKE && c->state == C_READ; i++) {
        size_t got;
        int rc = mlc_net_read(c->fd, tmp, sizeof(tmp), &got);
        if (rc == MLC_ERR_RETRY)
            return;
        if (rc != MLC_OK || got == 0) {
            conn_close(srv, c); /* the client went away before finishing its request */
            return;
        }
        size_t take = got;
        if (c->head_done && take > c->need - c->in.len)
            take = c->need - c->in.len; /* bytes past this request are never looked at */
        rc = mlc_buf_append(&c->in, tmp, take);
        if (rc != MLC_OK) {
            respond_plain(srv, c, rc == MLC_ERR_TOO_BIG ? 431 : 503,
                          rc == MLC_ERR_TOO_BIG ? "request headers too large"
                                                : "the agent is short of memory");
            return;
        }
        if (!c->head_done) {
            struct mlc_http_limits lim = limits(srv, 0);
            int prc = mlc_http_parse_head(c->in.data, c->in.len, &lim, &c->req);
            if (prc == MLC_HTTP_INVALID) {
                respond_plain(srv, c, c->req.status, c->req.reason);
                return;
            }
            if (prc == MLC_HTTP_COMPLETE) {
                head_done(srv, c);
                if (c->state != C_READ)
                    return;
            }
        }
        if (c->head_done && c->in.len >= c->need) {
            dispatch(srv, c);
            return;
        }
    }
}

static void do_linger(struct mlc_httpd *srv, struct conn *c)
{
    char tmp[READ_CHUNK];
    for (int i = 0; i < READS_PER_WAKE; i++) {
        size_t got;
        int rc = mlc_net_read(c->fd, tmp, sizeof(tmp), &got);
        if (rc == MLC_ERR_RETRY)
            return;
        c->drained += got;
        if (rc != MLC_OK || got == 0 || c->drained > LINGER_DRAIN_MAX) {
            conn_close(srv, c);
            return;
        }
    }
}

static void conn_cb(struct mlc_loop *loop, uint64_t id, int fd, unsigned revents, void *ud)
{
    struct conn *c = ud;
    struct mlc_httpd *srv = c->srv;
    (void)loop;
    (void)id;
    (void)fd;
    switch (c->state) {
    case C_READ:
        do_read(srv, c);
        break;
    case C_WRITE:
        if (revents & MLC_LOOP_ERROR)
            conn_close(srv, c);
        else
            do_write(srv, c);
        break;
    case C_LINGER:
        do_linger(srv, c);
        break;
    case C_DEFER:
        /* only errors wake us here: the client hung up while the handler works */
        if (revents & MLC_LOOP_ERROR)
            conn_close(srv, c);
        break;
    case C_FREE:
        break;
    }
}

/* Enforces every deadline; runs only while connections are open. */
static void sweep_cb(struct mlc_loop *loop, uint64_t id, void *ud)
{
    struct mlc_httpd *srv = ud;
    int64_t now = mlc_loop_now(loop);
    (void)id;
    for (int i = 0; i < srv->max_conns; i++) {
        struct conn *c = &srv->conns[i];
        if (!c->id || now < c->deadline)
            continue;
        switch (c->state) {
        case C_READ:
            MLC_LOG_DBG("httpd", "request_timeout peer=%s head_done=%d", c->peer, c->head_done);
            respond_plain(srv, c, 408, c->head_done ? "the request body took too long"
                                                    : "the request took too long to arrive");
            break;
        case C_DEFER:
            MLC_LOG_WRN("httpd", "handler_timeout peer=%s", c->peer);
            respond_plain(srv, c, 503, "the agent took too long to answer; try again");
            break;
        default:
            conn_close(srv, c);
            break;
        }
    }
}

/* Accept-and-close with a canned 503: one write attempt, never a wait. */
static void reject_busy(int fd)
{
    size_t put;
    mlc_net_write(fd, BUSY_RESPONSE, sizeof(BUSY_RESPONSE) - 1, &put);
    mlc_net_close(fd);
}

static struct conn *conn_slot(struct mlc_httpd *srv)
{
    for (int i = 0; i < srv->max_conns; i++)
        if (!srv->conns[i].id)
            return &srv->conns[i];
    return NULL;
}

static void listen_cb(struct mlc_loop *loop, uint64_t id, int fd, unsigned revents, void *ud)
{
    struct mlc_httpd *srv = ud;
    (void)id;
    (void)revents;
    for (int i = 0; i < ACCEPTS_PER_WAKE; i++) {
        int cfd;
        char peer[MLC_NET_ADDR_MAX];
        int rc = mlc_net_accept(fd, &cfd, peer, sizeof(peer));
        if (rc != MLC_OK)
            return;
        struct conn *c = srv->n_conns < srv->max_conns ? conn_slot(srv) : NULL;
        if (!c) {
            MLC_LOG_DBG("httpd", "busy peer=%s open=%d", peer, srv->n_conns);
            reject_busy(cfd);
            continue;
        }
        if (!srv->sweep &&
            mlc_loop_timer_add(loop, SWEEP_MS, SWEEP_MS, 0, sweep_cb, srv, &srv->sweep) != MLC_OK) {
            reject_busy(cfd);
            continue;
        }
        memset(c, 0, sizeof(*c));
        c->srv = srv;
        c->fd = cfd;
        c->route = -1;
        c->state = C_READ;
        c->id = srv->next_conn_id++;
        c->deadline = mlc_loop_now(loop) + srv->cfg.head_timeout_ms;
        memcpy(c->peer, peer, sizeof(peer));
        mlc_buf_init(&c->in, srv->cfg.head_max + READ_CHUNK);
        mlc_buf_init(&c->out, 0);
        resp_init(&c->resp);
        srv->n_conns++;
        if (mlc_loop_fd_add(loop, cfd, MLC_LOOP_READ, 0, conn_cb, c, &c->watch) != MLC_OK) {
            c->fd = -1;
            conn_close(srv, c);
            reject_busy(cfd);
        }
    }
}

/* ---- server ---- */

int mlc_httpd_new(struct mlc_loop *loop, const struct mlc_httpd_config *cfg, struct mlc_httpd **out)
{
    int rc;
    *out = NULL;
    struct mlc_httpd *srv = mlc_calloc(1, sizeof(*srv));
    if (!srv)
        return MLC_ERR_NOMEM;
    srv->loop = loop;
    srv->lfd = -1;
    srv->next_conn_id = 1;
    srv->cfg = *cfg;
    const char *host = cfg->host && cfg->host[0] ? cfg->host : "127.0.0.1";
    if (strlen(host) >= sizeof(srv->host)) {
        rc = MLC_ERR_CONFIG;
        goto out;
    }
    strcpy(srv->host, host);
    srv->cfg.host = srv->host;
    srv->cfg.access_token = NULL;
    if (!srv->cfg.head_max)
        srv->cfg.head_max = MLC_HTTP_HEAD_MAX_DEFAULT;
    if (!srv->cfg.headers_max || srv->cfg.headers_max > MLC_HTTP_HEADERS_MAX)
        srv->cfg.headers_max = MLC_HTTP_HEADERS_MAX;
    if (!srv->cfg.body_max)
        srv->cfg.body_max = MLC_HTTP_BODY_MAX_DEFAULT;
    if (srv->cfg.head_timeout_ms <= 0)
        srv->cfg.head_timeout_ms = MLC_HTTPD_HEAD_TIMEOUT_MS;
    if (srv->cfg.body_timeout_ms <= 0)
        srv->cfg.body_timeout_ms = MLC_HTTPD_BODY_TIMEOUT_MS;
    if (srv->cfg.write_timeout_ms <= 0)
        srv->cfg.write_timeout_ms = MLC_HTTPD_WRITE_TIMEOUT_MS;
    srv->max_conns = cfg->max_conns > 0 ? cfg->max_conns : MLC_HTTPD_MAX_CONNS_DEFAULT;
    if (srv->max_conns > MLC_HTTPD_MAX_CONNS_LIMIT)
        srv->max_conns = MLC_HTTPD_MAX_CONNS_LIMIT;
    srv->loopback = mlc_net_is_loopback(host);
    if (!mlc_net_addr_ok(host)) {
        MLC_LOG_ERR("httpd", "config_error msg=\"[status] bind %s is not an IP address; use "
                    "127.0.0.1 (this machine only) or the address of a network card\"", host);
        rc = MLC_ERR_CONFIG;
        goto out;
    }

    const char *tok = cfg->access_token ? cfg->access_token : "";
    if (strlen(tok) > MLC_HTTPD_TOKEN_MAX) {
        MLC_LOG_ERR("httpd", "config_error msg=\"the status access token is longer than %d "
                    "characters; set a shorter one\"", MLC_HTTPD_TOKEN_MAX);
        rc = MLC_ERR_CONFIG;
        goto out;
    }
    if (!srv->loopback && !tok[0]) {
        MLC_LOG_ERR("httpd", "config_error msg=\"[status] bind %s is reachable from the network but "
                    "no status access token is set; run mlc secret set status.access_token, or bind "
                    "127.0.0.1\"", host);
        rc = MLC_ERR_CONFIG;
        goto out;
    }
    strcpy(srv->token, tok);
    if (tok[0] && (rc = mlc_log_secret_add(tok)) != MLC_OK)
        goto out;

    srv->conns = mlc_calloc((size_t)srv->max_conns, sizeof(*srv->conns));
    if (!srv->conns) {
        rc = MLC_ERR_NOMEM;
        goto out;
    }
    for (int i = 0; i < srv->max_conns; i++)
        srv->conns[i].fd = -1;
    rc = mlc_net_listen(host, cfg->port, 16, &srv->lfd, &srv->port);
    if (rc != MLC_OK) {
        MLC_LOG_ERR("httpd", "listen_failed msg=\"cannot open the status server on %s port %d: %s; "
                    "check [status] bind\"", host, cfg->port,
                    rc == MLC_ERR_EXISTS ? "another program already uses that port"
                    : rc == MLC_ERR_PERM ? "the address is not on this machine, or the port is "
                                           "below 1024"
                    : mlc_err_str(rc));
        goto out;
    }
    rc = mlc_loop_fd_add(loop, srv->lfd, MLC_LOOP_READ, 0, listen_cb, srv, &srv->lwatch);
    if (rc != MLC_OK)
        goto out;
    MLC_LOG_INF("httpd", "listening host=%s port=%d access=%s", host, srv->port,
                srv->loopback ? "local-only" : "needs-token");
    *out = srv;
    srv = NULL;
out:
    mlc_httpd_free(srv);
    return rc;
}

void mlc_httpd_free(struct mlc_httpd *srv)
{
    if (!srv)
        return;
    if (srv->conns)
        for (int i = 0; i < srv->max_conns; i++)
            conn_close(srv, &srv->conns[i]);
    if (srv->sweep)
        mlc_loop_timer_cancel(srv->loop, srv->sweep);
    if (srv->lwatch)
        mlc_loop_fd_remove(srv->loop, srv->lwatch);
    mlc_net_close(srv->lfd);
    mlc_free(srv->conns);
    mlc_wipe(srv->token, sizeof(srv->token));
    mlc_free(srv);
}

int mlc_httpd_port(const struct mlc_httpd *srv) { return srv->port; }
int mlc_httpd_conn_count(const struct mlc_httpd *srv) { return srv->n_conns; }

int mlc_httpd_route_ex(struct mlc_httpd *srv, const char *method, const char *path, unsigned flags,
                       size_t body_max, mlc_httpd_handler_fn fn, void *ud)
{
    if (!fn || !method || !path || path[0] != '/' || strlen(method) >= MLC_HTTP_METHOD_MAX ||
        strlen(path) >= sizeof(srv->routes[0].path))
        return MLC_ERR_INTERNAL;
    for (size_t i = 0; i < srv->n_routes; i++)
        if (strcmp(srv->routes[i].method, method) == 0 && strcmp(srv->routes[i].path, path) == 0)
            return MLC_ERR_EXISTS;
    if (srv->n_routes == MLC_HTTPD_ROUTES_MAX)
        return MLC_ERR_TOO_BIG;
    struct route *r = &srv->routes[srv->n_routes++];
    strcpy(r->method, method);
    strcpy(r->path, path);
    r->flags = flags;
    r->body_max = body_max;
    r->fn = fn;
    r->ud = ud;
    return MLC_OK;
}

int mlc_httpd_route(struct mlc_httpd *srv, const char *method, const char *path,
                    mlc_httpd_handler_fn fn, void *ud)
{
    return mlc_httpd_route_ex(srv, method, path, 0, 0, fn, ud);
}

static struct conn *find_conn(struct mlc_httpd *srv, uint64_t conn_id)
{
    for (int i = 0; conn_id && i < srv->max_conns; i++)
        if (srv->conns[i].id == conn_id)
            return &srv->conns[i];
    return NULL;
}

struct mlc_httpd_response *mlc_httpd_pending(struct mlc_httpd *srv, uint64_t conn_id)
{
    struct conn *c = find_conn(srv, conn_id);
    return c && c->state == C_DEFER ? &c->resp : NULL;
}

int mlc_httpd_send(struct mlc_httpd *srv, uint64_t conn_id)
{
    struct conn *c = find_conn(srv, conn_id);
    if (!c || c->state != C_DEFER)
        return MLC_ERR_NOTFOUND;
    finish(srv, c);
    return MLC_OK;
}
