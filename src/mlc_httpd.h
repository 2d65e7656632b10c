/* The status server: a small HTTP/1.1 server on the cooperative loop (listening socket, non-blocking
 * connections, bounded requests, a routing table, the response writer, access-token checks).
 * Owns its sockets, connection slots and one sweep timer; page content belongs to the route
 * handlers (mlc_status and later the OAuth callback and webhook modules). One request per
 * connection: the server closes after each response, so pipelined bytes are never read as a
 * second request. */
#ifndef MLC_HTTPD_H
#define MLC_HTTPD_H
#include <stddef.h>
#include <stdint.h>

#include "mlc_buf.h"
#include "mlc_http_parse.h"

struct mlc_loop;
struct mlc_httpd;

#define MLC_HTTPD_MAX_CONNS_DEFAULT 16
#define MLC_HTTPD_MAX_CONNS_LIMIT 48          /* leaves loop slots for HTTP clients and timers */
#define MLC_HTTPD_HEAD_TIMEOUT_MS 10000       /* whole request head, from accept (slowloris) */
#define MLC_HTTPD_BODY_TIMEOUT_MS 30000       /* whole body, from the end of the head */
#define MLC_HTTPD_WRITE_TIMEOUT_MS 10000      /* whole response */
#define MLC_HTTPD_LINGER_MS 2000              /* reading leftovers after our FIN, see docs */
#define MLC_HTTPD_DEFER_TIMEOUT_MS 30000      /* a deferred handler must answer within this */
#define MLC_HTTPD_RESPONSE_MAX (4 * 1024 * 1024) /* body bytes a handler may produce */
#define MLC_HTTPD_ROUTES_MAX 32
#define MLC_HTTPD_TOKEN_MAX 256
#define MLC_HTTPD_TOKEN_COOKIE "mlc_token"
#define MLC_HTTPD_TOKEN_QUERY "access_token"

struct mlc_httpd_config {
    const char *host;          /* address to bind; NULL = "127.0.0.1" */
    int port;                  /* 0 = any free port (tests); see mlc_httpd_port */
    const char *access_token;  /* needed on a non-loopback bind; copied, registered as a secret */
    int max_conns;             /* 0 = MLC_HTTPD_MAX_CONNS_DEFAULT, capped at _LIMIT */
    size_t head_max;           /* 0 = MLC_HTTP_HEAD_MAX_DEFAULT */
    size_t headers_max;        /* 0 = MLC_HTTP_HEADERS_MAX */
    size_t body_max;           /* default per route; 0 = MLC_HTTP_BODY_MAX_DEFAULT */
    int64_t head_timeout_ms;   /* 0 = default */
    int64_t body_timeout_ms;
    int64_t write_timeout_ms;
};

/* What a handler sees. Pointers stay valid until the handler returns (and, for a deferred request,
 * until mlc_httpd_send or the connection is dropped). */
struct mlc_httpd_request {
    const struct mlc_http_inreq *http; /* method, path, query, every header as received */
    const char *body;                    /* raw body bytes, exactly as received (webhook HMACs) */
    size_t body_len;
    const char *peer;                    /* "addr:port" */
    uint64_t conn_id;                    /* for mlc_httpd_pending / mlc_httpd_send */
    int64_t now_ms;                      /* the loop's clock */
};

/* A handler fills this. status 0 means 500. Extra headers go through mlc_httpd_resp_header. */
struct mlc_httpd_response {
    int status;
    char content_type[96];
    struct mlc_buf headers;  /* extra "Name: value\r\n" lines, validated */
    struct mlc_buf body;     /* capped at MLC_HTTPD_RESPONSE_MAX */
};

/* Sets status and content type (NULL = "text/plain; charset=utf-8"). */
void mlc_httpd_resp_set(struct mlc_httpd_response *r, int status, const char *content_type);
/* Adds a header. MLC_ERR_DATA if name is not a token or either has CR, LF or another control
 * byte (header injection), MLC_ERR_TOO_BIG past 4 KiB of extra headers. */
int mlc_httpd_resp_header(struct mlc_httpd_response *r, const char *name, const char *value);
/* Convenience: status, content type and the whole body at once. */
int mlc_httpd_resp_text(struct mlc_httpd_response *r, int status, const char *content_type,
                        const char *body);

/* Handler result: MLC_OK (answer now), MLC_HTTPD_DEFER (answer later with mlc_httpd_pending and
 * mlc_httpd_send, within MLC_HTTPD_DEFER_TIMEOUT_MS or the client gets 503), or a negative
 * mlc_err (the client gets 500 and the handler's body is dropped). */
#define MLC_HTTPD_DEFER 1
typedef int (*mlc_httpd_handler_fn)(const struct mlc_httpd_request *req,
                                    struct mlc_httpd_response *resp, void *ud);

/* Route flags. */
#define MLC_HTTPD_PUBLIC 0x1u   /* no access token even off loopback (health, signed webhooks) */

/* Starts listening and watching on loop. MLC_ERR_CONFIG (logged as one sentence) for a
 * non-loopback bind without an access token; see mlc_net_listen for bind failures. */
int mlc_httpd_new(struct mlc_loop *loop, const struct mlc_httpd_config *cfg, struct mlc_httpd **out);
/* Closes every connection and the listening socket. Safe on NULL and on a half-built server. */
void mlc_httpd_free(struct mlc_httpd *srv);
/* The bound port (useful with port 0). */
int mlc_httpd_port(const struct mlc_httpd *srv);
/* Connections open now (tests, metrics). */
int mlc_httpd_conn_count(const struct mlc_httpd *srv);

/* Adds a route: exact method ("GET" also answers HEAD) and exact path (no query). body_max 0 =
 * the server default. MLC_ERR_EXISTS for a duplicate, MLC_ERR_TOO_BIG past MLC_HTTPD_ROUTES_MAX. */
int mlc_httpd_route(struct mlc_httpd *srv, const char *method, const char *path,
                    mlc_httpd_handler_fn fn, void *ud);
int mlc_httpd_route_ex(struct mlc_httpd *srv, const char *method, const char *path, unsigned flags,
                       size_t body_max, mlc_httpd_handler_fn fn, void *ud);

/* The response of a deferred request, to fill; NULL when that client has gone or timed out. */
struct mlc_httpd_response *mlc_httpd_pending(struct mlc_httpd *srv, uint64_t conn_id);
/* Sends the filled response of a deferred request. MLC_ERR_NOTFOUND when the client is gone. */
int mlc_httpd_send(struct mlc_httpd *srv, uint64_t conn_id);

/* The access decision, pure so it can be tested without a LAN address: 1 = allowed. Loopback
 * binds and public routes need nothing; otherwise the token must come as "Authorization: Bearer",
 * the access_token query parameter or the mlc_token cookie, compared in constant time. */
int mlc_httpd_auth_ok(int loopback_bind, unsigned route_flags, const char *token,
                      const struct mlc_http_inreq *req);
#endif
