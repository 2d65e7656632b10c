/* What the status server shows: a status model (filled by the engine), rendered as
 * /api/v1/health, /api/v1/status (JSON), /metrics (Prometheus) and the HTML page / for a
 * bookkeeper. Owns the wording and the agent's metric names; reads the model, never changes the
 * engine's state. Rendering functions are pure (time comes in as now_ms). */
#ifndef MLC_STATUS_H
#define MLC_STATUS_H
#include <stddef.h>
#include <stdint.h>

#include "mlc_decimal.h"

struct mlc_buf;
struct mlc_httpd;
struct mlc_metrics;

#define MLC_STATUS_CONN_MAX 32       /* connections shown (Plaid items + Exact divisions) */
#define MLC_STATUS_ACTIONS_MAX 4     /* needs-a-person actions per connection */
#define MLC_STATUS_PROBLEMS_MAX 8    /* agent-wide problems (store, disk, clock) */
#define MLC_STATUS_TEXT_MAX 256

enum mlc_status_kind {
    MLC_STATUS_PLAID_ITEM = 0,       /* a bank connection */
    MLC_STATUS_EXACT_DIVISION = 1    /* an Exact Online administration */
};

enum mlc_status_state {
    MLC_STATUS_OK = 0,               /* working */
    MLC_STATUS_SETTING_UP,           /* linked, first history still loading */
    MLC_STATUS_RETRYING,             /* a transient failure; the agent retries by itself */
    MLC_STATUS_NEEDS_PERSON,         /* stopped until someone acts (see actions) */
    MLC_STATUS_PAUSED                /* switched off on purpose */
};

/* Something only a person can do: a plain sentence and, when there is one, the command. */
struct mlc_status_action {
    char text[MLC_STATUS_TEXT_MAX];  /* "The bank connection to ING needs you to log in again" */
    char command[128];               /* "mlc plaid relink ITEM"; "" = none */
};

struct mlc_status_connection {
    enum mlc_status_kind kind;
    char id[128];                    /* Plaid item_id, or the Exact division number as text */
    char name[MLC_STATUS_TEXT_MAX];  /* "ING Zakelijk", "Bakkerij de Vries BV" */
    enum mlc_status_state state;
    char detail[MLC_STATUS_TEXT_MAX];/* last error in plain words; "" = none */
    int64_t expiry_ms;               /* Plaid consent expiry / Exact refresh-token expiry; 0 = none */
    int64_t last_run_ms;             /* wall clock; 0 = never */
    int last_run_ok;
    int64_t next_run_ms;             /* wall clock; 0 = not scheduled */
    long posted, held, pending;      /* transactions posted to Exact, held back, pending at the bank */
    int has_difference;              /* reconciliation ran */
    struct mlc_amount difference;    /* ledger balance minus bank balance */
    char currency[4];                /* ISO 4217 for difference */
    struct mlc_status_action actions[MLC_STATUS_ACTIONS_MAX];
    size_t n_actions;
};

struct mlc_status_model {
    char version[32];
    int64_t started_ms;              /* wall clock when the agent started */
    size_t heap_bytes, heap_peak, heap_budget; /* filled from mlc_alloc at each request */
    struct mlc_status_connection conn[MLC_STATUS_CONN_MAX];
    size_t n_conn;
    char problems[MLC_STATUS_PROBLEMS_MAX][MLC_STATUS_TEXT_MAX]; /* agent-wide, plain sentences */
    size_t n_problems;
};

/* Relative time for people: "in 3 days", "7 minutes ago", "in less than a minute". */
void mlc_status_fmt_rel(int64_t delta_ms, char *out, size_t cap);
/* Byte counts for people: "512 bytes", "3.4 MB". */
void mlc_status_fmt_bytes(size_t n, char *out, size_t cap);

/* Health: 1 when nothing needs attention. Otherwise 0 and the reasons, one sentence each
 * (agent problems, connections needing a person, connections retrying, expired consent). */
int mlc_status_healthy(const struct mlc_status_model *m, int64_t now_ms);

/* The renderers append to out and return 0 or a negative mlc_err. *status gets 200 or 503. */
int mlc_status_render_health(const struct mlc_status_model *m, int64_t now_ms, struct mlc_buf *out,
                             int *status);
int mlc_status_render_json(const struct mlc_status_model *m, int64_t now_ms, struct mlc_buf *out);
int mlc_status_render_html(const struct mlc_status_model *m, int64_t now_ms, struct mlc_buf *out);
/* Appends text with & < > " ' escaped. */
int mlc_status_html_escape(struct mlc_buf *out, const char *text);

/* Declares the agent's metric families (mlc_runs_total, mlc_posts_total, mlc_held,
 * mlc_api_calls_total{service,division}, mlc_api_429_total{division}, mlc_budget_left{division},
 * mlc_token_expiry_seconds{connection}, mlc_heap_bytes, mlc_heap_peak_bytes, mlc_uptime_seconds). */
int mlc_status_metrics_define(struct mlc_metrics *m);
/* Sets the gauges that come from the model (heap, uptime, held, token expiry). */
int mlc_status_metrics_refresh(struct mlc_metrics *metrics, const struct mlc_status_model *m,
                               int64_t now_ms);

/* The routes' context. The model and metrics stay owned by the caller and must outlive the
 * server; now_ms is the wall clock (NULL = mlc_time_now_ms), injectable for tests. */
struct mlc_status_ctx {
    struct mlc_status_model *model;
    struct mlc_metrics *metrics;
    int64_t (*now_ms)(void *ud);
    void *clock_ud;
};

/* Adds GET /api/v1/health (public: no token even off loopback), /api/v1/status, /metrics and /. */
int mlc_status_register(struct mlc_httpd *srv, struct mlc_status_ctx *ctx);
#endif
