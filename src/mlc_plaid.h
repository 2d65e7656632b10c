/* The Plaid connection: one JSON POST per call to the configured environment, with the client id,
 * secret and `Plaid-Version: 2020-09-14` headers on every request (reference/plaid.md section 1),
 * retries with full-jitter backoff for what mlc_plaid_error classifies as transient, and one
 * classified result per call. Owns the HTTP client and its loop; knows nothing of the store. */
#ifndef MLC_PLAID_H
#define MLC_PLAID_H
#include <stddef.h>
#include <stdint.h>

#include "mlc_buf.h"
#include "mlc_plaid_error.h"

struct cJSON;
struct mlc_plaid;
struct mlc_http_opts;

#define MLC_PLAID_VERSION "2020-09-14"
#define MLC_PLAID_ANSWER_MAX (8u * 1024 * 1024) /* a 500-transaction sync page is about 1 MiB */
#define MLC_PLAID_REQUEST_MAX (64u * 1024)      /* our requests are small */
#define MLC_PLAID_ATTEMPTS_DEFAULT 6
#define MLC_PLAID_BACKOFF_BASE_MS 500
#define MLC_PLAID_BACKOFF_CAP_MS 30000
/* Rate limits are per item per minute (plaid.md 7: sync 50/min): waiting them out takes longer
 * than a transient error, so a 429 gets more attempts and a one-minute ceiling. */
#define MLC_PLAID_RATE_ATTEMPTS 9
#define MLC_PLAID_RATE_CAP_MS 60000

/* Test seam: how a request travels. post fills *status (0 = no answer) and resp (bounded by its
 * max), and returns 0 or a transport mlc_err (MLC_ERR_RETRY for network trouble, ...), with one
 * line for people in errline. headers are "Name: value" lines. */
struct mlc_plaid_transport {
    int (*post)(void *ud, const char *url, const char *const *headers, size_t n_headers,
                const char *body, size_t len, long *status, struct mlc_buf *resp, char *errline,
                size_t errcap);
    void *ud;
};

struct mlc_plaid_opts {
    const char *base_url;    /* e.g. https://sandbox.plaid.com, no trailing slash needed */
    const char *client_id;   /* from the vault (plaid.client_id) */
    const char *secret;      /* from the vault (plaid.secret); registered with the log redactor */
    const struct mlc_http_opts *http;             /* NULL = defaults, answers up to ANSWER_MAX */
    const char *ca_bundle;                        /* overrides http's; NULL = keep */
    long connect_timeout_ms, total_timeout_ms;    /* override http's when > 0 */
    unsigned max_attempts;                        /* 0 = MLC_PLAID_ATTEMPTS_DEFAULT; 1 = no retry */
    uint32_t backoff_base_ms, backoff_cap_ms;     /* 0 = defaults */
    const struct mlc_plaid_transport *transport;  /* NULL = libcurl on an own loop */
    /* Waits between retries; NULL = a timer on the connection's loop. Tests record instead. */
    void (*sleep_ms)(void *ud, uint32_t ms);
    void *sleep_ud;
};

/* The outcome of the last call. */
struct mlc_plaid_result {
    int rc;                      /* 0 or the mlc_err returned */
    enum mlc_plaid_class cls;    /* meaningful when rc != 0 */
    long status;                 /* HTTP status, 0 when no answer arrived */
    int has_error;               /* err holds Plaid's error object */
    struct mlc_plaid_error err;
    unsigned attempts;
    char message[640];           /* one line for an installer or bookkeeper when rc != 0 */
};

int mlc_plaid_new(const struct mlc_plaid_opts *o, struct mlc_plaid **out);
void mlc_plaid_free(struct mlc_plaid *p);   /* NULL and half-built are fine */

/* POSTs req (a JSON object; not modified) to base_url + path and leaves the raw answer in resp
 * (reset first; at most MLC_PLAID_ANSWER_MAX). Transient failures (network, 429, 5xx, Plaid's
 * RATE_LIMIT_EXCEEDED, API_ERROR...) are retried with backoff up to max_attempts. Returns 0, or
 * MLC_ERR_RETRY (still transient after the retries, or the sync pagination must restart: see
 * mlc_plaid_last()->cls), MLC_ERR_NEEDS_PERSON, MLC_ERR_INTERNAL (a bug), MLC_ERR_DATA (the
 * answer is not JSON), MLC_ERR_NOMEM, MLC_ERR_TOO_BIG. */
int mlc_plaid_post(struct mlc_plaid *p, const char *path, const struct cJSON *req,
                   struct mlc_buf *resp);
/* Same, parsing the answer into *out (cJSON_Delete it). */
int mlc_plaid_call(struct mlc_plaid *p, const char *path, const struct cJSON *req,
                   struct cJSON **out);
const struct mlc_plaid_result *mlc_plaid_last(const struct mlc_plaid *p);

/* Classifies an answer (status + body) the way mlc_plaid_post does, filling r. Pure; for tests. */
void mlc_plaid_classify_answer(long status, const char *body, size_t len, int transport_rc,
                               const char *errline, struct mlc_plaid_result *r);

/* The vault name of an item's access token: "plaid.item.<32 hex of SHA-256(item_id)>.token".
 * Plaid's item ids are mixed case and the vault takes [a-z0-9_.-] only, so the id is hashed. */
#define MLC_PLAID_TOKEN_NAME_MAX 64
int mlc_plaid_token_name(const char *item_id, char out[MLC_PLAID_TOKEN_NAME_MAX + 1]);
#endif
