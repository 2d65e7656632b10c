/* Alerts: things a person must know or do, kept in MLC_DB_ALERTS under "alert." keys (the journal's
 * Plaid records use "plaid." there; this module never touches those). One record per kind + key,
 * so raising again changes nothing but the text (de-duplicated); a dispatch step the scheduler
 * calls sends each new alert once per channel, repeats it every resend interval while it stays
 * open, and sends an all-clear when it is resolved. Delivery outcomes are written back to the
 * store, so a failed or interrupted delivery is retried later and never lost (at least once). */
#ifndef MLC_ALERT_H
#define MLC_ALERT_H
#include <stddef.h>
#include <stdint.h>

struct mlc_txn;
struct mlc_store;
struct mlc_buf;
struct mlc_exact_token_info;

#define MLC_ALERT_KEY_MAX 300       /* bytes of a key (item id, division, job name) */
#define MLC_ALERT_MESSAGE_MAX 512   /* bytes of the sentence for a person; longer is cut */
#define MLC_ALERT_ACTION_MAX 256    /* bytes of the command that fixes it; longer is cut */
#define MLC_ALERT_OPEN_MAX 256      /* alert records at most; a new one beyond is MLC_ERR_TOO_BIG */
#define MLC_ALERT_DISPATCH_MAX 16   /* deliveries handled in one dispatch call (bounded work) */
#define MLC_ALERT_EXPIRY_WINDOW_MS (7LL * 24 * 3600 * 1000) /* "expires within 7 days" */
#define MLC_ALERT_RETRY_BASE_MS 60000      /* first retry of a failed delivery within a minute */
#define MLC_ALERT_RETRY_CAP_MS 3600000     /* and never more than an hour apart */

enum mlc_alert_kind {
    MLC_ALERT_EXACT_CONSENT = 0,   /* Exact consent lost: reconnect */
    MLC_ALERT_EXACT_EXPIRING,      /* Exact refresh token expires within 7 days */
    MLC_ALERT_PLAID_REAUTH,        /* a bank link needs a new login */
    MLC_ALERT_PLAID_CONSENT,       /* a bank link's consent expires or disconnects soon */
    MLC_ALERT_HELD,                /* transactions held back (mapping, closed period, ...) */
    MLC_ALERT_RECONCILE,           /* ledger balance differs from the bank balance */
    MLC_ALERT_BUDGET,              /* the daily API budget is used up */
    MLC_ALERT_RUN_FAILING,         /* a run failed N times in a row */
    MLC_ALERT_CLOCK_SKEW,          /* the device clock is wrong */
    MLC_ALERT_TEST,                /* `mlc alerts test` */
    MLC_ALERT__COUNT
};

enum mlc_alert_severity {
    MLC_ALERT_INFO = 0,            /* for information; the LED stays as it is */
    MLC_ALERT_WARNING = 1,         /* something will need a person soon */
    MLC_ALERT_NEEDS_PERSON = 2     /* work is stopped until a person acts (LED blinks) */
};

/* Delivery channels (bits). The status page and LEDs read the store and need no delivery. */
#define MLC_ALERT_CH_EMAIL 0x1u
#define MLC_ALERT_CH_WEBHOOK 0x2u
#define MLC_ALERT_CH_ALL 0x3u

/* What a delivery says. */
enum mlc_alert_notice {
    MLC_ALERT_NOTICE_RAISED = 0,
    MLC_ALERT_NOTICE_REMINDER = 1,
    MLC_ALERT_NOTICE_ALL_CLEAR = 2
};

struct mlc_alert {
    enum mlc_alert_kind kind;
    char key[MLC_ALERT_KEY_MAX + 1];
    int severity;                            /* enum mlc_alert_severity */
    char message[MLC_ALERT_MESSAGE_MAX + 1];
    char action[MLC_ALERT_ACTION_MAX + 1];   /* "" = none */
    int64_t raised_ms, updated_ms;
    int resolved;                            /* waiting only for its all-clear to go out */
    int64_t resolved_ms;
    uint64_t gen;                            /* bumped by every raise/resolve that changes it */
    int notice;                              /* enum mlc_alert_notice of the pending delivery */
    unsigned pending;                        /* channels the pending notice still has to reach */
    unsigned delivered;                      /* channels that ever got a notice of this alert */
    int64_t last_sent_ms;                    /* raise/reminder last reached every channel */
    int64_t next_try_ms;                     /* a failed delivery waits until then */
    unsigned attempts;                       /* failed tries of the pending notice */
    unsigned sent;                           /* notices delivered */
    char last_error[256];                    /* why the last delivery failed; "" = none */
};

/* "exact_consent", ... (stable: stored and shown); "unknown" when out of range. */
const char *mlc_alert_kind_name(enum mlc_alert_kind kind);
/* The kind of a name; -1 if unknown. */
int mlc_alert_kind_parse(const char *name);
const char *mlc_alert_severity_name(int severity);

/* Opens an alert, or (same kind + key already open) updates its text, severity and action without
 * a new notice. A resolved alert whose all-clear has not gone out yet is reopened. Text with line
 * breaks or control characters is flattened to spaces; too long is cut. *created (may be NULL) =
 * 1 when a new notice was queued. Inside the caller's write transaction. */
int mlc_alert_raise(struct mlc_txn *txn, enum mlc_alert_kind kind, const char *key, int severity,
                    const char *message, const char *action, int64_t now_ms, int *created);
/* Resolves an open alert: queues an all-clear for the channels that heard of it, or removes the
 * record at once when none had. Resolving what is not open is fine (0). */
int mlc_alert_resolve(struct mlc_txn *txn, enum mlc_alert_kind kind, const char *key,
                      int64_t now_ms);
/* Removes the record without any all-clear (e.g. `mlc alerts test` starting afresh). Absent is
 * fine (0). */
int mlc_alert_forget(struct mlc_txn *txn, enum mlc_alert_kind kind, const char *key);
/* The alert of kind + key (open or resolved-but-unannounced). MLC_ERR_NOTFOUND if none. */
int mlc_alert_get(struct mlc_txn *txn, enum mlc_alert_kind kind, const char *key,
                  struct mlc_alert *out);

/* Calls fn for every open alert (resolved ones are left out), in kind + key order, for the status
 * model and `mlc alerts`. fn returns 0 to go on, 1 to stop, < 0 to fail; it must not write. */
typedef int (*mlc_alert_fn)(void *ctx, const struct mlc_alert *a);
int mlc_alert_each(struct mlc_txn *txn, mlc_alert_fn fn, void *ctx);
/* For the LED: 1 if any open alert needs a person, 0 if none, < 0 on a store error. */
int mlc_alert_needs_person(struct mlc_txn *txn);

/* Counts a run's outcome for job (e.g. "division.123456"): threshold failures in a row raise
 * run_failing (with the last error), a success resolves it and resets the count. */
int mlc_alert_run_result(struct mlc_txn *txn, const char *job, int ok, const char *error,
                         int threshold, int64_t now_ms);
/* Raises or resolves exact_consent and exact_expiring from the Exact token state: consent lost,
 * or the refresh token's estimated end within 7 days. */
int mlc_alert_sync_exact(struct mlc_txn *txn, const struct mlc_exact_token_info *ti,
                         int64_t now_ms);
/* Raises or resolves plaid_reauth and plaid_consent for every bank link in the journal. */
int mlc_alert_sync_plaid(struct mlc_txn *txn, int64_t now_ms);

/* ---- delivery ---- */

/* How a notice travels: send() delivers one notice to one channel and returns 0, or a negative
 * mlc_err with one line in err. Real one: mlc_notify_sender(); tests pass a fake. */
struct mlc_alert_sender {
    int (*send)(void *ud, unsigned channel, const struct mlc_alert *a, int notice, int64_t now_ms,
                char *err, size_t errcap);
    void *ud;
    unsigned channels;   /* MLC_ALERT_CH_* configured; 0 = only the status page and LEDs */
};

struct mlc_alert_dispatch_stats {
    unsigned sent, failed, all_clear, reminders, waiting;
};

/* The scheduler's delivery step: sends what is due (new alerts, reminders after resend_ms,
 * all-clears, retries whose backoff has passed), at most MLC_ALERT_DISPATCH_MAX per call, and
 * records each outcome in its own short write transaction. Sending happens outside any
 * transaction; an alert raised or resolved meanwhile keeps its newer state (and whoever just got
 * its notice also gets its all-clear). A crash between sending and recording sends again. The sender is synchronous with short timeouts (mlc_notify: 10 s connect, 30 s per
 * notice), so one call blocks at most a few minutes when every server hangs; the scheduler calls
 * it between runs. rnd seeds the retry jitter. *next_due_ms (may be NULL) gets when to call
 * again (0 = nothing waiting). stats may be NULL. */
int mlc_alert_dispatch(struct mlc_store *st, const struct mlc_alert_sender *sender,
                       int64_t resend_ms, int64_t now_ms, uint32_t rnd,
                       struct mlc_alert_dispatch_stats *stats, int64_t *next_due_ms);

/* Texts of a notice, pure: the mail subject and plain-text body, and the JSON document the
 * webhook gets ({"event":"alert.raised"|"alert.reminder"|"alert.resolved", "kind", "key",
 * "severity", "message", "action", "raised_at", "resolved_at", "agent"}). agent names the box. */
int mlc_alert_compose_mail(const struct mlc_alert *a, int notice, const char *agent,
                           char *subject, size_t subject_cap, struct mlc_buf *body);
int mlc_alert_compose_json(const struct mlc_alert *a, int notice, const char *agent,
                           struct mlc_buf *out);
#endif
