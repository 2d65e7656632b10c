/* Plaid webhook verification (plaid.md 5.1, D-whv) and body parsing. Pure: the JWK comes from a
 * caller's lookup callback (which may call /webhook_verification_key/get), time comes in as now_ms.
 * Owns the verification policy (ES256 only, key expiry, 5-minute iat window, constant-time body
 * hash compare); must not do HTTP or touch the store. */
#ifndef MLC_PLAID_WEBHOOK_H
#define MLC_PLAID_WEBHOOK_H
#include <stddef.h>
#include <stdint.h>

#include "mlc_jwt.h"
#include "mlc_plaid_error.h"

struct cJSON;

#define MLC_WH_BODY_MAX (256 * 1024) /* Plaid webhook bodies are a few hundred bytes */
#define MLC_WH_MAX_AGE_S 300         /* Plaid: reject webhooks "more than 5 minutes old" */
/* iat ahead of our clock by up to this much is accepted: Plaid gives no figure, and an on-premises
 * box whose NTP drifts a little should not drop every webhook. More is refused (replay window). */
#define MLC_WH_MAX_SKEW_S 60

/* A JWK as /webhook_verification_key/get returns it (SPEC JWKPublicKey). */
struct mlc_jwk {
    char kid[MLC_JWT_KID_MAX + 1];
    char kty[8];
    char crv[16];
    char alg[16];
    char use[8];
    char x[64];              /* base64url, 43 characters for P-256 */
    char y[64];
    int64_t created_at;      /* unix seconds, 0 if absent */
    int has_expired_at;      /* expired_at not null */
    int64_t expired_at;      /* unix seconds */
};

/* Parses a JWK from either the key object itself or the whole /webhook_verification_key/get
 * answer ({"key": {...}, "request_id": ...}). MLC_ERR_DATA if a field is missing or too long. */
int mlc_jwk_parse(const char *json, size_t len, struct mlc_jwk *out);
int mlc_jwk_from_json(const struct cJSON *obj, struct mlc_jwk *out);

/* Finds the key for kid. Returns MLC_OK and fills *out, MLC_ERR_NOTFOUND when Plaid does not know
 * the kid (after the client fetched it once), or another negative mlc_err (network...) when the
 * answer is not known yet. */
typedef int (*mlc_wh_key_lookup_fn)(void *ctx, const char *kid, struct mlc_jwk *out);

enum mlc_wh_verdict {
    MLC_WH_OK = 0,
    MLC_WH_MALFORMED,      /* header/JWT/claims unreadable or missing */
    MLC_WH_BAD_ALG,        /* alg other than ES256 (none, HS256, RS256, ...) */
    MLC_WH_UNKNOWN_KID,    /* Plaid does not know the key id */
    MLC_WH_KEY_EXPIRED,    /* the key has expired_at set: Plaid retired it */
    MLC_WH_BAD_KEY,        /* the JWK is not an EC P-256 signing key or not on the curve */
    MLC_WH_BAD_SIG,        /* signature does not verify */
    MLC_WH_STALE,          /* iat more than 5 minutes ago */
    MLC_WH_FUTURE,         /* iat more than MLC_WH_MAX_SKEW_S ahead of our clock */
    MLC_WH_BODY_MISMATCH,  /* body SHA-256 differs from request_body_sha256 */
    MLC_WH_LOOKUP_FAILED   /* key lookup failed for another reason: answer 5xx so Plaid retries */
};

/* Verifies the Plaid-Verification header value against the raw body bytes as received. alg is
 * checked before any key is looked up; the payload is only read after the signature verified. */
enum mlc_wh_verdict mlc_plaid_webhook_verify(const char *jwt, size_t jwt_len,
                                             const void *body, size_t body_len, int64_t now_ms,
                                             mlc_wh_key_lookup_fn lookup, void *lookup_ctx);
const char *mlc_wh_verdict_str(enum mlc_wh_verdict v);

/* A small bounded cache of verification keys, for the client's lookup callback. An entry older
 * than ttl_ms is a miss, so the client re-fetches and learns when Plaid retires a key (Plaid's
 * own example re-fetches keys on every miss for the same reason). */
#define MLC_WH_KEY_CACHE_SLOTS 8
struct mlc_wh_key_cache {
    struct {
        struct mlc_jwk key;
        int64_t fetched_ms;
        int used;
    } slot[MLC_WH_KEY_CACHE_SLOTS];
    int64_t ttl_ms;
};
void mlc_wh_key_cache_init(struct mlc_wh_key_cache *c, int64_t ttl_ms);
/* MLC_OK with *out filled, or MLC_ERR_NOTFOUND (absent or older than ttl). */
int mlc_wh_key_cache_get(const struct mlc_wh_key_cache *c, const char *kid, int64_t now_ms,
                         struct mlc_jwk *out);
/* Stores key (replacing the same kid, else a free slot, else the oldest entry). */
void mlc_wh_key_cache_put(struct mlc_wh_key_cache *c, const struct mlc_jwk *key, int64_t now_ms);

enum mlc_wh_type { MLC_WH_TYPE_UNKNOWN = 0, MLC_WH_TYPE_TRANSACTIONS, MLC_WH_TYPE_ITEM };

/* Plaid adds codes without a new API version (D-ver): anything else is MLC_WH_CODE_UNKNOWN. */
enum mlc_wh_code {
    MLC_WH_CODE_UNKNOWN = 0,
    MLC_WH_CODE_SYNC_UPDATES_AVAILABLE,
    MLC_WH_CODE_DEFAULT_UPDATE,
    MLC_WH_CODE_INITIAL_UPDATE,
    MLC_WH_CODE_HISTORICAL_UPDATE,
    MLC_WH_CODE_TRANSACTIONS_REMOVED,
    MLC_WH_CODE_ERROR,
    MLC_WH_CODE_PENDING_EXPIRATION,
    MLC_WH_CODE_PENDING_DISCONNECT,
    MLC_WH_CODE_USER_PERMISSION_REVOKED,
    MLC_WH_CODE_USER_ACCOUNT_REVOKED,
    MLC_WH_CODE_NEW_ACCOUNTS_AVAILABLE,
    MLC_WH_CODE_LOGIN_REPAIRED,
    MLC_WH_CODE_WEBHOOK_UPDATE_ACKNOWLEDGED
};

struct mlc_plaid_webhook {
    enum mlc_wh_type type;
    enum mlc_wh_code code;
    char webhook_type[48];          /* as sent, for logs when unknown */
    char webhook_code[64];
    char item_id[128];
    char environment[16];           /* sandbox | production */
    int initial_update_complete;    /* -1 absent, 0, 1 */
    int historical_update_complete; /* -1 absent, 0, 1 */
    int64_t new_transactions;       /* -1 absent */
    size_t removed_count;           /* entries of removed_transactions */
    int has_error;
    struct mlc_plaid_error error;
    char consent_expiration_time[40];
    char disconnect_time[40];
    char reason[48];
    char account_id[128];
    char new_webhook_url[512];
};

/* Parses a (verified) webhook body. webhook_type and webhook_code are required strings
 * (MLC_ERR_DATA otherwise); item_id is "" when absent (user-level webhooks); unknown types, codes
 * and fields are fine. An over-long id is MLC_ERR_DATA, never cut. MLC_ERR_TOO_BIG past
 * MLC_WH_BODY_MAX. */
int mlc_plaid_webhook_parse(const char *body, size_t len, struct mlc_plaid_webhook *out);
#endif
