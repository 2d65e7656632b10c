/* Exact Online OAuth tokens without I/O: parses the token endpoint's answer (new pair or OAuth
 * error) and decides, from injected times, when a refresh is allowed and needed. Owns no HTTP,
 * no storage and no lock: the client performs the refresh and persists the pair. */
#ifndef MLC_EXACT_TOKEN_H
#define MLC_EXACT_TOKEN_H
#include <stddef.h>
#include <stdint.h>

#define MLC_TOKEN_MAX 4096               /* longest access or refresh token accepted */
#define MLC_TOKEN_BODY_MAX (32u * 1024u) /* largest token answer parsed */
/* Exact: a new access token only 570 s or more after the previous one was received (KB-limits). */
#define MLC_TOKEN_MIN_REFRESH_MS 570000
/* Refresh only within the access token's last 30 s (Exact step 3; OSSO, Nango use 30 s). */
#define MLC_TOKEN_REFRESH_WINDOW_MS 30000
/* Refresh tokens die after 30 days unused; refresh at least every 20 days by default. */
#define MLC_TOKEN_KEEPALIVE_DEFAULT_MS (20LL * 24 * 3600 * 1000)
#define MLC_TOKEN_DEFAULT_EXPIRES_S 600

enum mlc_token_outcome {
    MLC_TOKEN_NEW_PAIR = 0,   /* a new access + refresh token: persist the refresh token first */
    MLC_TOKEN_NEEDS_CONSENT,  /* refresh token dead (old, expired, revoked, invalid_grant) */
    MLC_TOKEN_KEEP_CURRENT,   /* "access_token not expired": refreshed too early, keep the old one */
    MLC_TOKEN_RETRY,          /* 5xx, 429 or no answer: try again later with the same token */
    MLC_TOKEN_BAD_CLIENT,     /* invalid_client: client id or secret in the configuration is wrong */
    MLC_TOKEN_BAD_ANSWER      /* 200 that is not a usable token answer (refresh_token is still
                               * set when it alone was valid: the old one is spent, persist it) */
};

struct mlc_token_answer {
    enum mlc_token_outcome outcome;
    char *access_token;       /* mlc_malloc'd, NEW_PAIR only; wiped by _free */
    char *refresh_token;      /* mlc_malloc'd, NEW_PAIR only; wiped by _free */
    int64_t expires_in_s;     /* from the answer, or 600 if missing/unreadable (expires_defaulted) */
    int expires_defaulted;
    char message[256];        /* one line for people; never contains a token */
};

/* Parses the token endpoint's answer. http_status 0 = no answer. Returns MLC_OK for NEW_PAIR
 * (tokens are registered with the log redactor), else MLC_ERR_NEEDS_PERSON (NEEDS_CONSENT),
 * MLC_ERR_CONFIG (BAD_CLIENT), MLC_ERR_RETRY (RETRY, KEEP_CURRENT), MLC_ERR_DATA (BAD_ANSWER),
 * MLC_ERR_NOMEM. a->outcome says which. */
int mlc_exact_token_parse(int http_status, const char *body, size_t len, struct mlc_token_answer *a);
/* Wipes and frees the tokens; safe on a zeroed or half-filled answer. */
void mlc_token_answer_free(struct mlc_token_answer *a);

/* What the agent knows about its tokens (all epoch ms, 0 = unknown/never). */
struct mlc_token_times {
    int have_refresh;         /* a refresh token is stored */
    int consent_needed;       /* a refresh was refused for good: wait for a person */
    int have_access;          /* an access token is in memory */
    int64_t issued_ms;        /* when the newest access token was received (persist it) */
    int64_t expires_ms;       /* issued_ms + expires_in */
    int64_t last_refresh_ms;  /* last successful refresh or code exchange (persist it) */
};

enum mlc_token_action {
    MLC_TOKEN_USE_CURRENT = 0, /* go ahead with the access token in memory (or: nothing to do) */
    MLC_TOKEN_REFRESH_NOW,
    MLC_TOKEN_WAIT_UNTIL,      /* retry the decision at until_ms */
    MLC_TOKEN_CONSENT          /* stop calling Exact for this connection; tell the operator */
};

struct mlc_token_decision {
    enum mlc_token_action action;
    int64_t until_ms;          /* WAIT_UNTIL: when; USE_CURRENT from _idle: next keep-alive */
};

/* A call needs a token now. Uses the current one unless it is in its last 30 s or expired; never
 * refreshes before issued+570 s (waits instead); refreshes anyway when the last refresh is older
 * than keepalive_ms (<= 0: 20 days) and 570 s allow it. */
struct mlc_token_decision mlc_exact_token_decide(const struct mlc_token_times *t, int64_t now_ms,
                                                 int64_t keepalive_ms);
/* No call is waiting (scheduler tick): REFRESH_NOW only when the keep-alive is due and allowed,
 * else USE_CURRENT with until_ms = when to ask again. */
struct mlc_token_decision mlc_exact_token_decide_idle(const struct mlc_token_times *t,
                                                      int64_t now_ms, int64_t keepalive_ms);
/* A call got an unexpected 401. refreshed_for_call: this call already caused a refresh. Refresh at
 * most once per call and only 570 s after issue, else WAIT_UNTIL. A second 401 for the same call
 * also gives WAIT_UNTIL (the next allowed refresh): fail that call, never loop on refreshes. */
struct mlc_token_decision mlc_exact_token_after_401(const struct mlc_token_times *t, int64_t now_ms,
                                                    int refreshed_for_call);
/* Records a successful refresh (NEW_PAIR received at now_ms) in t. */
void mlc_exact_token_times_refreshed(struct mlc_token_times *t, int64_t now_ms, int64_t expires_in_s);

/* Single flight: Exact kills the connection when two refreshes use the same refresh token
 * ("Old refresh token used"), so only one caller refreshes; the others wait for its result. */
struct mlc_token_flight {
    int in_flight;
    unsigned waiters;
    unsigned long generation;  /* bumps when a refresh ends: waiters see the new pair */
};
/* A caller whose decision is REFRESH_NOW: returns 1 if it must do the refresh (leader), 0 if one
 * is already running and it must wait for the generation to change (waiters is counted). */
int mlc_token_flight_begin(struct mlc_token_flight *f);
/* The leader finished (success or not): returns how many waiters to wake and resets them. */
unsigned mlc_token_flight_end(struct mlc_token_flight *f);
#endif
