/* The Exact Online connection: OAuth token lifecycle (code exchange, refresh, rotation committed
 * before use, needs-consent), and the one request path every Exact call takes (token, per-division
 * governor, error guard, retries with full-jitter backoff, classification at this boundary).
 * Owns the token records in MLC_DB_STATE ("exact.*") and the vault names exact.access_token /
 * exact.refresh_token. It must not touch reference data, postings or other modules' records. */
#ifndef MLC_EXACT_H
#define MLC_EXACT_H
#include "mlc_buf.h"
#include "mlc_exact_error.h"
#include "mlc_odata.h"
#include "mlc_ratelimit.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

struct mlc_store;
struct mlc_vault;
struct mlc_exact;
struct mlc_loop;

/* The methods Exact calls use (kept apart from mlc_http.h, whose names clash with the status
 * server's request parser, so a command may use both). */
enum mlc_exact_method { MLC_EXACT_GET = 0, MLC_EXACT_POST, MLC_EXACT_PUT, MLC_EXACT_DELETE };

/* Vault names (secrets) and MLC_DB_STATE keys (metadata) this module owns. */
#define MLC_EXACT_SECRET_CLIENT_ID "exact.client_id"
#define MLC_EXACT_SECRET_CLIENT_SECRET "exact.client_secret"
#define MLC_EXACT_SECRET_ACCESS "exact.access_token"
#define MLC_EXACT_SECRET_REFRESH "exact.refresh_token"
#define MLC_EXACT_STATE_TOKEN "exact.token"        /* token times + consent flag */
#define MLC_EXACT_STATE_OAUTH "exact.oauth_state"  /* pending authorisation: state + time */
#define MLC_EXACT_STATE_RL "exact.rl."             /* + division: that division's governor */

#define MLC_EXACT_GOVERNORS 16        /* divisions with a governor in memory at once */
#define MLC_EXACT_PAGES_MAX 1000      /* __next links followed in one listing (1000 x 1000 rows) */
#define MLC_EXACT_CODE_MAX 2048       /* an authorization code, decoded */
#define MLC_EXACT_STATE_LEN 32        /* hex characters of the OAuth state */
#define MLC_EXACT_CODE_LIFE_MS 180000 /* Exact: a code is valid 3 minutes (KB-oauth2) */
#define MLC_EXACT_REFRESH_LIFE_MS (30LL * 24 * 3600 * 1000) /* refresh token: 30 days unused */

/* Seams: clock, waiting, randomness and the HTTP exchange, so tests drive time and answers
 * without sleeping or a network. Any member may be NULL for the real one. */
struct mlc_exact_env {
    int64_t (*now_ms)(void *ud);                 /* wall clock, epoch ms */
    void (*sleep_ms)(void *ud, int64_t ms);      /* wait that long (governor, backoff) */
    uint32_t (*random)(void *ud);                /* backoff jitter */
    /* the HTTP exchange: req is a const struct mlc_http_request *, resp a struct
     * mlc_http_response * (mlc_http.h); returns like mlc_http_perform_sync */
    int (*perform)(void *ud, const void *req, void *resp);
    void *ud;
};

struct mlc_exact_opts {
    const char *base_url;         /* region host or override (mlc_config_exact_base_url) */
    const char *redirect_uri;     /* registered redirect URI; "" or NULL = not configured */
    int64_t keepalive_ms;         /* <= 0: 20 days */
    int64_t max_wait_ms;          /* longest single wait before giving up with RETRY; 0 = 90 s */
    unsigned max_attempts;        /* sends of one call for transient failures; 0 = 4 */
    uint32_t backoff_base_ms;     /* 0 = 1000 */
    uint32_t backoff_cap_ms;      /* 0 = 30000 */
    /* HTTP client settings when env->perform is NULL; 0 / NULL = mlc_http's defaults */
    long connect_timeout_ms, total_timeout_ms, low_speed_time_s;
    size_t max_response;
    const char *ca_bundle;
    struct mlc_loop *loop;        /* run HTTP (and waits) on this loop, e.g. the status server's,
                                   * so its routes are served while a call is in flight; NULL =
                                   * a loop of its own */
};
void mlc_exact_opts_default(struct mlc_exact_opts *o);

/* Opens the connection: reads the stored token record and access token. The store and vault must
 * outlive it. env may be NULL (real clock, real HTTP).
 * Calls are synchronous and not re-entrant: one call at a time per connection (Exact advises one
 * call at a time per division anyway), and no store write transaction may be open in this process
 * while calling, because a refresh takes the store's write lock (that lock is what makes a refresh
 * single-flight across processes) and each call persists its division's governor. */
int mlc_exact_open(struct mlc_exact **out, struct mlc_store *st, struct mlc_vault *vault,
                   const struct mlc_exact_opts *opts, const struct mlc_exact_env *env);
void mlc_exact_close(struct mlc_exact *x); /* NULL and half-built are fine */

/* The last failure as one line for a bookkeeper or installer ("" if none). */
const char *mlc_exact_last_error(const struct mlc_exact *x);
/* The HTTP status of the last answer (0 = none), e.g. to tell a missing endpoint (404). */
long mlc_exact_last_status(const struct mlc_exact *x);
int64_t mlc_exact_now(const struct mlc_exact *x);

/* ---- consent ---- */

/* Builds the region's authorization URL with a new random state, which is stored (with its time)
 * for the callback to check. MLC_ERR_CONFIG without redirect_uri or exact.client_id. */
int mlc_exact_auth_url(struct mlc_exact *x, char *out, size_t cap);
/* Pure: takes what the user pasted (the full redirect URL, or the bare code), finds code and state
 * and URL-decodes them (Exact: decode %21 to ! before the exchange). state may be "" if absent.
 * MLC_ERR_DATA if no usable code, MLC_ERR_TOO_BIG if it does not fit. */
int mlc_exact_code_parse(const char *input, char *code, size_t code_cap, char *state,
                         size_t state_cap);
/* Exchanges a decoded code (state: "" = not given; else it must match the stored one) and stores
 * the access and refresh tokens and their times in ONE write transaction. Clears needs-consent. */
int mlc_exact_connect_code(struct mlc_exact *x, const char *code, const char *state);

/* ---- tokens ---- */

struct mlc_exact_token_info {
    int connected;            /* a refresh token is stored */
    int consent_needed;
    char consent_reason[256];
    int64_t issued_ms, expires_ms, last_refresh_ms; /* 0 = never */
    int64_t refresh_expiry_estimate_ms;             /* last_refresh + 30 days */
};
void mlc_exact_token_info(const struct mlc_exact *x, struct mlc_exact_token_info *ti);
/* A usable access token for a call now: refreshes (single flight, across processes too: the
 * refresh runs under the store's write lock and re-reads what another process stored) only when
 * mlc_exact_token_decide says so; waits (bounded) when the 570 s rule forbids it. */
int mlc_exact_token_ensure(struct mlc_exact *x);
/* For the scheduler: refreshes when the keep-alive is due (no call needed); *next_ms (may be
 * NULL) gets when to ask again. MLC_ERR_NEEDS_PERSON while consent is needed. */
int mlc_exact_keepalive(struct mlc_exact *x, int64_t *next_ms);
/* The sentence that tells the operator what to run when consent is needed. */
void mlc_exact_consent_alert(const struct mlc_exact *x, char *out, size_t cap);

/* ---- requests ---- */

struct mlc_exact_call {
    enum mlc_exact_method method;
    uint32_t division;        /* 0 = no division in the URL (current/Me): no governor */
    const char *url;          /* absolute URL */
    const char *endpoint;     /* "financial/Journals": error guard key and logs */
    const char *body;         /* JSON for POST; may be NULL */
    size_t body_len;
};

struct mlc_exact_answer {
    long status;                     /* last HTTP status (0 = no answer) */
    struct mlc_buf body;             /* body of the last answer */
    struct mlc_exact_failure failure;/* classification of the last answer */
    int maybe_landed;                /* POST sent and its answer lost: settle by reading back */
};
void mlc_exact_answer_free(struct mlc_exact_answer *a);

/* One call through the governor, token and error guard. GET is retried on transient failures
 * (network, 502/503/504, 500 without an error body) with full-jitter backoff, and after a 429 when
 * the window resets; a POST is never re-sent once it may have reached Exact (maybe_landed). A 401
 * refreshes once (if 570 s allow) and retries once. A 500 with Exact's error text is functional:
 * never retried, MLC_ERR_NEEDS_PERSON with the message kept. Returns MLC_OK for 2xx, else
 * MLC_ERR_RETRY, MLC_ERR_BUDGET (daily budget gone), MLC_ERR_NEEDS_PERSON, MLC_ERR_INTERNAL
 * (our request was wrong), MLC_ERR_CONFIG, MLC_ERR_NOMEM. */
int mlc_exact_request(struct mlc_exact *x, const struct mlc_exact_call *c,
                      struct mlc_exact_answer *a);

/* Calls fn for each row of an OData listing, following __next as given (same host only, at most
 * MLC_EXACT_PAGES_MAX pages, sequentially). q->base is filled in from the connection when NULL.
 * fn returns 0 to go on, 1 to stop, or a negative mlc_err. *pages (may be NULL) gets the count. */
typedef int (*mlc_exact_row_fn)(void *ctx, const cJSON *row);
int mlc_exact_get_all(struct mlc_exact *x, const struct mlc_odata_query *q, mlc_exact_row_fn fn,
                      void *ctx, unsigned *pages);
/* The URL of an entity set, e.g. for a POST: <base>/api/v1/<division>/<service>/<entity>. */
int mlc_exact_url(const struct mlc_exact *x, uint32_t division, const char *service,
                  const char *entity, char *out, size_t cap);
const char *mlc_exact_base_url(const struct mlc_exact *x);

/* The governor of a division (loaded from the store on first use); NULL on NOMEM. */
const struct mlc_ratelimit *mlc_exact_governor(struct mlc_exact *x, uint32_t division);
/* Whether the consenting user may post bank entries in division (users/UserHasRights).
 * 0 with *allowed set, or a negative mlc_err. */
int mlc_exact_can_post_bank_entries(struct mlc_exact *x, uint32_t division, int *allowed);
#endif
