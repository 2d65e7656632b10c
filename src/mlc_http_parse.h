/* The status server's HTTP/1.1 request parser: a pure function over the bytes received so far, so
 * it can be fuzzed and unit-tested without sockets. Owns the request grammar and its caps (head
 * size, header count, target length, Content-Length); must not allocate, do I/O or look at time. */
#ifndef MLC_HTTP_PARSE_H
#define MLC_HTTP_PARSE_H
#include <stddef.h>
#include <stdint.h>

#define MLC_HTTP_HEAD_MAX_DEFAULT 8192      /* request line + headers + blank line */
#define MLC_HTTP_HEADERS_MAX 32             /* hard cap; limits may ask for fewer */
#define MLC_HTTP_TARGET_MAX 2048            /* request-target bytes, else 414 */
#define MLC_HTTP_METHOD_MAX 16              /* longer methods are refused with 501 */
#define MLC_HTTP_BODY_MAX_DEFAULT (64 * 1024)

struct mlc_http_limits {
    size_t head_max;     /* 0 = MLC_HTTP_HEAD_MAX_DEFAULT */
    size_t headers_max;  /* 0 or above MLC_HTTP_HEADERS_MAX = MLC_HTTP_HEADERS_MAX */
    size_t body_max;     /* used by mlc_http_parse_request only; 0 = no body allowed */
};

/* Pointers into the caller's buffer: valid while the buffer is unchanged. Not NUL-terminated. */
struct mlc_http_infield {
    const char *name;
    size_t name_len;
    const char *value;   /* leading and trailing blanks removed */
    size_t value_len;
};

struct mlc_http_inreq {
    char method[MLC_HTTP_METHOD_MAX];  /* NUL-terminated copy */
    const char *target;                /* as sent: path and query */
    size_t target_len;
    const char *path;                  /* target up to '?' */
    size_t path_len;
    const char *query;                 /* after '?', without it; NULL when there is none */
    size_t query_len;
    int version_minor;                 /* HTTP/1.<minor>: 0 or 1 */
    struct mlc_http_infield headers[MLC_HTTP_HEADERS_MAX];
    size_t n_headers;
    size_t head_len;                   /* bytes of request line + headers + blank line */
    int64_t content_length;            /* 0 when absent */
    int expect_continue;               /* Expect: 100-continue */
    int close;                         /* Connection: close, or HTTP/1.0 without keep-alive */
    const char *body;                  /* mlc_http_parse_request: the body bytes */
    size_t body_len;
    size_t total_len;                  /* head_len + body_len; bytes after it are the next request */
    int status;                        /* on MLC_HTTP_INVALID: the HTTP status to answer */
    const char *reason;                /* on MLC_HTTP_INVALID: why, for the client and the log */
};

enum mlc_http_parse_rc {
    MLC_HTTP_INVALID = -1,   /* refuse: req->status (400, 411, 413, 414, 417, 431, 501, 505) */
    MLC_HTTP_NEED_MORE = 0,  /* nothing wrong so far; wait for more bytes */
    MLC_HTTP_COMPLETE = 1    /* head (or, for parse_request, the whole request) is here */
};

/* Parses the request head in buf[0..len). Rejects as early as the bytes allow: a bad method or
 * target fails before the head is complete, and a head that has not ended within head_max bytes is
 * 431. Strict framing so nothing can be smuggled: CRLF line ends only, no NUL or other control
 * bytes, no obs-fold, no blank before the colon, one Content-Length (digits only, repeats must
 * agree), no Transfer-Encoding (chunked bodies get 411 so the client resends with a length),
 * HTTP/1.1 needs exactly one Host. */
int mlc_http_parse_head(const char *buf, size_t len, const struct mlc_http_limits *lim,
                        struct mlc_http_inreq *req);

/* parse_head, then the body: 413 when Content-Length exceeds lim->body_max, NEED_MORE until all
 * the body bytes are in buf, then COMPLETE with body/body_len/total_len set. */
int mlc_http_parse_request(const char *buf, size_t len, const struct mlc_http_limits *lim,
                           struct mlc_http_inreq *req);

/* The first header named name (case-insensitive), or NULL. */
const struct mlc_http_infield *mlc_http_header_find(const struct mlc_http_inreq *req,
                                                   const char *name);

/* Copies the percent-decoded value of query parameter name ('+' is a space) into out (NUL-ended).
 * MLC_OK, MLC_ERR_NOTFOUND, MLC_ERR_TOO_BIG (does not fit) or MLC_ERR_DATA (bad escape or a
 * decoded NUL byte). */
int mlc_http_query_get(const char *query, size_t query_len, const char *name, char *out, size_t cap);

/* Copies the value of cookie name from the Cookie header(s) into out. Same results as above. */
int mlc_http_cookie_get(const struct mlc_http_inreq *req, const char *name, char *out, size_t cap);

/* The reason phrase for a status code ("Not Found"); "Unknown" for codes this server never sends. */
const char *mlc_http_status_text(int status);
#endif
