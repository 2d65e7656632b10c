/* HTTP client on the event loop: asynchronous requests over libcurl's multi socket API, bounded
 * answers, a concurrency cap with a bounded queue, and a fault hook for tests. Classifies only
 * transport failures (network, timeout, size); the HTTP status goes to the caller, whose API client
 * classifies it. Never logs headers or bodies. TLS verification is always on; there is no
 * switch. */
#ifndef MLC_HTTP_H
#define MLC_HTTP_H
#include "mlc_buf.h"
#include "mlc_loop.h"

#include <stddef.h>
#include <stdint.h>

/* Caps (bounded everything): */
#define MLC_HTTP_MAX_CONCURRENT 16     /* hard ceiling for opts.max_concurrent */
#define MLC_HTTP_MAX_QUEUED 256        /* hard ceiling for opts.max_queued */
#define MLC_HTTP_MAX_REQ_HEADERS 32    /* caller headers per request */
#define MLC_HTTP_MAX_HEADER_LINE 8192  /* one request header line */
#define MLC_HTTP_MAX_RESP_HEADERS 64   /* response headers kept; more aborts with MLC_ERR_TOO_BIG */
#define MLC_HTTP_MAX_RESP_HEADER_BYTES 16384

enum mlc_http_method { MLC_HTTP_GET, MLC_HTTP_POST, MLC_HTTP_PUT, MLC_HTTP_DELETE };

struct mlc_http_opts {
    long connect_timeout_ms;  /* default 10 s */
    long total_timeout_ms;    /* whole transfer, default 60 s */
    long low_speed_limit;     /* bytes/s; slower than this for low_speed_time_s aborts (timeout) */
    long low_speed_time_s;    /* default 1 byte/s over 30 s */
    size_t max_response;      /* body bytes, default 8 MiB; more -> MLC_ERR_TOO_BIG */
    size_t max_request_body;  /* default 8 MiB */
    const char *ca_bundle;    /* PEM file of trusted CAs; NULL = the system store. Copied. */
    unsigned max_concurrent;  /* transfers at once, default 4 */
    unsigned max_queued;      /* waiting beyond that, default 32; more -> MLC_ERR_TOO_BIG */
};

struct mlc_http_header {
    const char *name;
    const char *value;
};

struct mlc_http_request {
    enum mlc_http_method method;
    const char *url;
    const char *const *headers;  /* "Name: value" lines; Accept: application/json unless given */
    size_t n_headers;
    const void *body;            /* copied; may be NULL */
    size_t body_len;
    const char *content_type;    /* NULL = none */
};

struct mlc_http_response {
    uint64_t id;        /* as returned by mlc_http_request_start */
    /* 0, MLC_ERR_RETRY (network), MLC_ERR_TIMEOUT, MLC_ERR_TOO_BIG, MLC_ERR_CRYPTO (server
     * certificate not trusted), MLC_ERR_CONFIG (bad URL), MLC_ERR_CANCELLED (shutdown or
     * mlc_http_cancel), MLC_ERR_NOMEM, or what a fault hook chose. On error body is empty. */
    int result;
    long status;        /* HTTP status, 0 when no answer arrived */
    struct mlc_buf body;   /* bounded by max_response; mlc_buf_take() it to keep it */
    struct mlc_http_header headers[MLC_HTTP_MAX_RESP_HEADERS]; /* of the final answer */
    size_t n_headers;
    int64_t elapsed_ms;
    char error[384];    /* one line for people when result != 0, e.g. what to check */
    struct mlc_buf header_mem; /* owns the header text; freed with the response */
};

/* Called exactly once for every accepted request: on completion, failure, or cancellation
 * (shutdown, mlc_http_free). resp is valid only during the call. */
typedef void (*mlc_http_done_fn)(struct mlc_http_response *resp, void *ud);

/* Test seam: consulted before each request is sent. */
enum mlc_http_fault_action {
    MLC_HTTP_FAULT_NONE = 0,
    MLC_HTTP_FAULT_FAIL,        /* not sent; completes with .err (default MLC_ERR_RETRY) */
    MLC_HTTP_FAULT_DELAY,       /* sent after .delay_ms */
    MLC_HTTP_FAULT_DROP_ANSWER  /* sent and answered, but the answer is lost: MLC_ERR_RETRY */
};
struct mlc_http_fault {
    enum mlc_http_fault_action action;
    int err;
    int64_t delay_ms;
};
struct mlc_http_fault_hook {
    struct mlc_http_fault (*before)(void *ud, enum mlc_http_method method, const char *url);
    void *ud;
};

struct mlc_http;

void mlc_http_opts_default(struct mlc_http_opts *o);
/* Creates a client on loop (installs the allocator hooks for curl if not done yet). opts may be
 * NULL for the defaults. Returns 0 or a negative mlc_err. */
int mlc_http_new(struct mlc_loop *loop, const struct mlc_http_opts *opts, struct mlc_http **out);
/* Cancels everything unfinished (their callbacks run with MLC_ERR_CANCELLED) and frees. Safe on
 * NULL; must not be called from one of this client's callbacks. */
void mlc_http_free(struct mlc_http *c);

/* Queues a request; done runs later from the loop, never from inside this call. Returns 0 and *id,
 * or MLC_ERR_TOO_BIG (queue full, body or header too large), MLC_ERR_DATA (header with a line
 * break), MLC_ERR_CANCELLED (the loop is shutting down), MLC_ERR_NOMEM. */
int mlc_http_request_start(struct mlc_http *c, const struct mlc_http_request *req,
                           mlc_http_done_fn done, void *ud, uint64_t *id);
/* Aborts a request; its callback runs now with MLC_ERR_CANCELLED. MLC_ERR_NOTFOUND if done. */
int mlc_http_cancel(struct mlc_http *c, uint64_t id);

/* For one-shot CLI use: starts the request and runs the loop until it completes. On return resp
 * holds the answer (free it with mlc_http_response_free). Returns resp->result. */
int mlc_http_perform_sync(struct mlc_http *c, const struct mlc_http_request *req,
                          struct mlc_http_response *resp);
void mlc_http_response_free(struct mlc_http_response *resp);

/* Case-insensitive lookup of a response header; NULL if absent. The first one when repeated. */
const char *mlc_http_header_get(const struct mlc_http_response *resp, const char *name);

void mlc_http_set_fault_hook(struct mlc_http *c, const struct mlc_http_fault_hook *hook);
/* Transfers in flight and requests waiting for a slot. */
void mlc_http_counts(const struct mlc_http *c, unsigned *active, unsigned *queued);
const char *mlc_http_method_name(enum mlc_http_method m);
#endif
