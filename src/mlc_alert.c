#include "mlc_alert.h"
#include "mlc_alloc.h"
#include "mlc_backoff.h"
#include "mlc_buf.h"
#include "mlc_err.h"
#include "mlc_exact.h"
#include "mlc_journal.h"
#include "mlc_log.h"
#include "mlc_platform.h"
#include "mlc_store.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#define REC_PREFIX "alert."
#define RUN_PREFIX "alertrun."   /* consecutive failures of a job: u64 */
#define REC_MAX 4096             /* a record's JSON; fields are capped well below */
#define DAY_MS (24LL * 3600 * 1000)

static const char *const kind_names[MLC_ALERT__COUNT] = {
    [MLC_ALERT_EXACT_CONSENT] = "exact_consent",
    [MLC_ALERT_EXACT_EXPIRING] = "exact_expiring",
    [MLC_ALERT_PLAID_REAUTH] = "plaid_reauth",
    [MLC_ALERT_PLAID_CONSENT] = "plaid_consent",
    [MLC_ALERT_HELD] = "held_transactions",
    [MLC_ALERT_RECONCILE] = "reconciliation",
    [MLC_ALERT_BUDGET] = "budget_exhausted",
    [MLC_ALERT_RUN_FAILING] = "run_failing",
    [MLC_ALERT_CLOCK_SKEW] = "clock_skew",
    [MLC_ALERT_TEST] = "test",
};

const char *mlc_alert_kind_name(enum mlc_alert_kind kind)
{
    if ((unsigned)kind >= MLC_ALERT__COUNT)
        return "unknown";
    return kind_names[kind];
}

int mlc_alert_kind_parse(const char *name)
{
    for (int i = 0; name && i < MLC_ALERT__COUNT; i++)
        if (strcmp(name, kind_names[i]) == 0)
            return i;
    return -1;
}

const char *mlc_alert_severity_name(int severity)
{
    switch (severity) {
    case MLC_ALERT_INFO: return "info";
    case MLC_ALERT_WARNING: return "warning";
    case MLC_ALERT_NEEDS_PERSON: return "needs-person";
    default: return "unknown";
    }
}

/* Copies text for a one-line display: control characters (line breaks too) become spaces, so a
 * message can never inject a mail header or break the listing; cut at cap - 1 bytes on a UTF-8
 * boundary. */
static void flatten(char *out, size_t cap, const char *in)
{
    size_t n = 0;
    const char *p = in ? in : "";
    for (; *p && n + 1 < cap; p++) {
        unsigned char c = (unsigned char)*p;
        out[n++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
    if (*p) { /* cut: do not leave half a UTF-8 character at the end */
        while (n > 0 && ((unsigned char)out[n - 1] & 0xC0) == 0x80)
            n--;
        if (n > 0 && ((unsigned char)out[n - 1] & 0xC0) == 0xC0)
            n--;
    }
    out[n] = '\0';
}

static int make_key(char *out, size_t cap, enum mlc_alert_kind kind, const char *key)
{
    if ((unsigned)kind >= MLC_ALERT__COUNT || !key || !key[0] || strlen(key) > MLC_ALERT_KEY_MAX)
        return MLC_ERR_USAGE;
    int n = snprintf(out, cap, REC_PREFIX "%s.%s", kind_names[kind], key);
    return n < 0 || (size_t)n >= cap ? MLC_ERR_TOO_BIG : n;
}

/* ---- record encoding (JSON: readable in a store dump, fields can be added freely) ---- */

static int encode(const struct mlc_alert *a, char **out, size_t *len)
{
    int rc = MLC_ERR_NOMEM;
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return rc;
    if (!cJSON_AddStringToObject(o, "kind", kind_names[a->kind]) ||
        !cJSON_AddStringToObject(o, "key", a->key) ||
        !cJSON_AddNumberToObject(o, "severity", a->severity) ||
        !cJSON_AddStringToObject(o, "message", a->message) ||
        !cJSON_AddStringToObject(o, "action", a->action) ||
        !cJSON_AddNumberToObject(o, "raised_ms", (double)a->raised_ms) ||
        !cJSON_AddNumberToObject(o, "updated_ms", (double)a->updated_ms) ||
        !cJSON_AddNumberToObject(o, "resolved", a->resolved) ||
        !cJSON_AddNumberToObject(o, "resolved_ms", (double)a->resolved_ms) ||
        !cJSON_AddNumberToObject(o, "gen", (double)a->gen) ||
        !cJSON_AddNumberToObject(o, "notice", a->notice) ||
        !cJSON_AddNumberToObject(o, "pending", a->pending) ||
        !cJSON_AddNumberToObject(o, "delivered", a->delivered) ||
        !cJSON_AddNumberToObject(o, "last_sent_ms", (double)a->last_sent_ms) ||
        !cJSON_AddNumberToObject(o, "next_try_ms", (double)a->next_try_ms) ||
        !cJSON_AddNumberToObject(o, "attempts", a->attempts) ||
        !cJSON_AddNumberToObject(o, "sent", a->sent) ||
        !cJSON_AddStringToObject(o, "last_error", a->last_error))
        goto out;
    *out = cJSON_PrintUnformatted(o);
    if (!*out)
        goto out;
    *len = strlen(*out);
    rc = *len > REC_MAX ? MLC_ERR_TOO_BIG : MLC_OK;
    if (rc != MLC_OK) {
        cJSON_free(*out);
        *out = NULL;
    }
out:
    cJSON_Delete(o);
    return rc;
}

static int64_t num(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    /* A damaged record may hold any number (1e999 parses as inf): converting one that does not
     * fit int64_t is undefined behaviour, so only what fits is taken (found by fuzz_store_records). */
    return cJSON_IsNumber(v) && v->valuedouble > -9e18 && v->valuedouble < 9e18
               ? (int64_t)v->valuedouble
               : 0;
}

static void str(const cJSON *o, const char *name, char *out, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    flatten(out, cap, cJSON_IsString(v) ? v->valuestring : "");
}

static int decode(const void *val, size_t vlen, struct mlc_alert *a)
{
    memset(a, 0, sizeof(*a));
    if (vlen == 0 || vlen > REC_MAX)
        return MLC_ERR_DATA;
    cJSON *o = cJSON_ParseWithLength(val, vlen);
    if (!o)
        return MLC_ERR_DATA;
    int rc = MLC_ERR_DATA;
    char kind[48];
    str(o, "kind", kind, sizeof(kind));
    int k = mlc_alert_kind_parse(kind);
    if (k < 0 || !cJSON_IsObject(o))
        goto out;
    a->kind = (enum mlc_alert_kind)k;
    str(o, "key", a->key, sizeof(a->key));
    a->severity = (int)num(o, "severity");
    str(o, "message", a->message, sizeof(a->message));
    str(o, "action", a->action, sizeof(a->action));
    a->raised_ms = num(o, "raised_ms");
    a->updated_ms = num(o, "updated_ms");
    a->resolved = num(o, "resolved") != 0;
    a->resolved_ms = num(o, "resolved_ms");
    a->gen = (uint64_t)num(o, "gen");
    a->notice = (int)num(o, "notice");
    a->pending = (unsigned)num(o, "pending") & MLC_ALERT_CH_ALL;
    a->delivered = (unsigned)num(o, "delivered") & MLC_ALERT_CH_ALL;
    a->last_sent_ms = num(o, "last_sent_ms");
    a->next_try_ms = num(o, "next_try_ms");
    a->attempts = (unsigned)num(o, "attempts");
    a->sent = (unsigned)num(o, "sent");
    str(o, "last_error", a->last_error, sizeof(a->last_error));
    rc = a->key[0] ? MLC_OK : MLC_ERR_DATA;
out:
    cJSON_Delete(o);
    return rc;
}

static int put(struct mlc_txn *txn, const struct mlc_alert *a)
{
    char key[MLC_ALERT_KEY_MAX + 64];
    int kl = make_key(key, sizeof(key), a->kind, a->key);
    if (kl < 0)
        return kl;
    char *val = NULL;
    size_t vlen = 0;
    int rc = encode(a, &val, &vlen);
    if (rc == MLC_OK)
        rc = mlc_store_put(txn, MLC_DB_ALERTS, key, (size_t)kl, val, vlen);
    cJSON_free(val);
    return rc;
}

int mlc_alert_get(struct mlc_txn *txn, enum mlc_alert_kind kind, const char *key,
                  struct mlc_alert *out)
{
    char k[MLC_ALERT_KEY_MAX + 64];
    int kl = make_key(k, sizeof(k), kind, key);
    if (kl < 0)
        return kl;
    const void *v;
    size_t vl;
    int rc = mlc_store_get(txn, MLC_DB_ALERTS, k, (size_t)kl, &v, &vl);
    if (rc != MLC_OK)
        return rc;
    return decode(v, vl, out);
}

static int count_cb(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    (void)key, (void)klen, (void)val, (void)vlen;
    (*(size_t *)ctx)++;
    return 0;
}

int mlc_alert_raise(struct mlc_txn *txn, enum mlc_alert_kind kind, const char *key, int severity,
                    const char *message, const char *action, int64_t now_ms, int *created)
{
    if (created)
        *created = 0;
    struct mlc_alert *a = mlc_calloc(1, sizeof(*a));
    if (!a)
        return MLC_ERR_NOMEM;
    char msg[MLC_ALERT_MESSAGE_MAX + 1], act[MLC_ALERT_ACTION_MAX + 1];
    flatten(msg, sizeof(msg), message);
    flatten(act, sizeof(act), action);
    if (severity < MLC_ALERT_INFO || severity > MLC_ALERT_NEEDS_PERSON)
        severity = MLC_ALERT_NEEDS_PERSON;
    int rc = mlc_alert_get(txn, kind, key, a);
    if (rc == MLC_ERR_DATA) { /* an unreadable record must not block the alert: start afresh */
        MLC_LOG_WRN("alert", "alert_record_unreadable kind=%s replaced=1",
                    mlc_alert_kind_name(kind));
        rc = MLC_ERR_NOTFOUND;
    }
    if (rc == MLC_OK && !a->resolved) {
        /* Already open: the same problem again. New words are kept for the next reminder and the
         * status page, but nobody is told twice. */
        if (strcmp(a->message, msg) == 0 && strcmp(a->action, act) == 0 && a->severity == severity)
            goto out;
        snprintf(a->message, sizeof(a->message), "%s", msg);
        snprintf(a->action, sizeof(a->action), "%s", act);
        a->severity = severity;
        a->updated_ms = now_ms;
        rc = put(txn, a);
        goto out;
    }
    if (rc == MLC_ERR_NOTFOUND) {
        size_t n = 0;
        rc = mlc_store_each(txn, MLC_DB_ALERTS, REC_PREFIX, strlen(REC_PREFIX), count_cb, &n);
        if (rc < 0)
            goto out;
        if (n >= MLC_ALERT_OPEN_MAX) {
            MLC_LOG_ERR("alert", "alert_dropped kind=%s reason=too_many_open",
                        mlc_alert_kind_name(kind));
            rc = MLC_ERR_TOO_BIG;
            goto out;
        }
        memset(a, 0, sizeof(*a));
        a->kind = kind;
        snprintf(a->key, sizeof(a->key), "%s", key);
        a->raised_ms = now_ms;
    } else if (rc != MLC_OK) {
        goto out; /* a store error, or an unreadable record: MLC_ERR_DATA */
    }
    /* New, or reopened before its all-clear went out: a fresh notice to every channel. */
    a->resolved = 0;
    a->resolved_ms = 0;
    a->severity = severity;
    snprintf(a->message, sizeof(a->message), "%s", msg);
    snprintf(a->action, sizeof(a->action), "%s", act);
    a->updated_ms = now_ms;
    a->gen++;
    a->notice = MLC_ALERT_NOTICE_RAISED;
    a->pending = MLC_ALERT_CH_ALL;
    a->next_try_ms = 0;
    a->attempts = 0;
    a->last_error[0] = '\0';
    rc = put(txn, a);
    if (rc == MLC_OK) {
        if (created)
            *created = 1;
        MLC_LOG_WRN("alert", "alert_raised kind=%s key=%s severity=%s", mlc_alert_kind_name(kind),
                    key, mlc_alert_severity_name(severity));
    }
out:
    mlc_free(a);
    return rc;
}

static int del(struct mlc_txn *txn, enum mlc_alert_kind kind, const char *key)
{
    char k[MLC_ALERT_KEY_MAX + 64];
    int kl = make_key(k, sizeof(k), kind, key);
    if (kl < 0)
        return kl;
    int rc = mlc_store_del(txn, MLC_DB_ALERTS, k, (size_t)kl);
    return rc == MLC_ERR_NOTFOUND ? MLC_OK : rc;
}

int mlc_alert_forget(struct mlc_txn *txn, enum mlc_alert_kind kind, const char *key)
{
    return del(txn, kind, key);
}

int mlc_alert_resolve(struct mlc_txn *txn, enum mlc_alert_kind kind, const char *key,
                      int64_t now_ms)
{
    struct mlc_alert *a = mlc_calloc(1, sizeof(*a));
    if (!a)
        return MLC_ERR_NOMEM;
    int rc = mlc_alert_get(txn, kind, key, a);
    if (rc == MLC_ERR_NOTFOUND || (rc == MLC_OK && a->resolved)) {
        rc = MLC_OK;
        goto out;
    }
    if (rc == MLC_ERR_DATA) { /* unreadable: nothing could ever announce it; drop it */
        rc = del(txn, kind, key);
        goto out;
    }
    if (rc != MLC_OK)
        goto out;
    MLC_LOG_INF("alert", "alert_resolved kind=%s key=%s", mlc_alert_kind_name(kind), key);
    if (a->delivered == 0) {
        /* Nobody was told (no channel, or not delivered yet): no all-clear to send either. */
        rc = del(txn, kind, key);
        goto out;
    }
    a->resolved = 1;
    a->resolved_ms = now_ms;
    a->updated_ms = now_ms;
    a->gen++;
    a->notice = MLC_ALERT_NOTICE_ALL_CLEAR;
    a->pending = a->delivered;
    a->next_try_ms = 0;
    a->attempts = 0;
    a->last_error[0] = '\0';
    rc = put(txn, a);
out:
    mlc_free(a);
    return rc;
}

struct each_ctx {
    mlc_alert_fn fn;
    void *ctx;
    struct mlc_alert *a;
    int open_only;
};

static int each_cb(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct each_ctx *e = ctx;
    (void)key, (void)klen;
    if (decode(val, vlen, e->a) != MLC_OK) {
        MLC_LOG_WRN("alert", "alert_record_unreadable skipped=1");
        return 0; /* one bad record must not hide the others */
    }
    if (e->open_only && e->a->resolved)
        return 0;
    return e->fn(e->ctx, e->a);
}

static int each(struct mlc_txn *txn, mlc_alert_fn fn, void *ctx, int open_only)
{
    struct each_ctx e = { fn, ctx, mlc_malloc(sizeof(struct mlc_alert)), open_only };
    if (!e.a)
        return MLC_ERR_NOMEM;
    int rc = mlc_store_each(txn, MLC_DB_ALERTS, REC_PREFIX, strlen(REC_PREFIX), each_cb, &e);
    mlc_free(e.a);
    return rc < 0 ? rc : MLC_OK;
}

int mlc_alert_each(struct mlc_txn *txn, mlc_alert_fn fn, void *ctx)
{
    return each(txn, fn, ctx, 1);
}

static int needs_cb(void *ctx, const struct mlc_alert *a)
{
    if (a->severity >= MLC_ALERT_NEEDS_PERSON) {
        *(int *)ctx = 1;
        return 1;
    }
    return 0;
}

int mlc_alert_needs_person(struct mlc_txn *txn)
{
    int found = 0;
    int rc = mlc_alert_each(txn, needs_cb, &found);
    return rc < 0 ? rc : found;
}

/* ---- sources other modules feed ---- */

int mlc_alert_run_result(struct mlc_txn *txn, const char *job, int ok, const char *error,
                         int threshold, int64_t now_ms)
{
    char k[MLC_ALERT_KEY_MAX + 32];
    if (!job || !job[0] || strlen(job) > MLC_ALERT_KEY_MAX)
        return MLC_ERR_USAGE;
    int kl = snprintf(k, sizeof(k), RUN_PREFIX "%s", job);
    if (ok) {
        int rc = mlc_store_del(txn, MLC_DB_ALERTS, k, (size_t)kl);
        if (rc != MLC_OK && rc != MLC_ERR_NOTFOUND)
            return rc;
        return mlc_alert_resolve(txn, MLC_ALERT_RUN_FAILING, job, now_ms);
    }
    uint64_t n = 0;
    int rc = mlc_store_get_u64(txn, MLC_DB_ALERTS, k, (size_t)kl, &n);
    if (rc != MLC_OK && rc != MLC_ERR_NOTFOUND && rc != MLC_ERR_DATA)
        return rc;
    n++;
    if ((rc = mlc_store_put_u64(txn, MLC_DB_ALERTS, k, (size_t)kl, n)) != MLC_OK)
        return rc;
    if (threshold < 1)
        threshold = 1;
    if (n < (uint64_t)threshold)
        return MLC_OK;
    char msg[MLC_ALERT_MESSAGE_MAX + 1];
    snprintf(msg, sizeof(msg), "The run for %s failed %llu times in a row; last error: %s", job,
             (unsigned long long)n, error && error[0] ? error : "(none recorded)");
    return mlc_alert_raise(txn, MLC_ALERT_RUN_FAILING, job, MLC_ALERT_NEEDS_PERSON, msg,
                           "journalctl -u mlc  (read the log, fix the cause; the agent retries "
                           "by itself)", now_ms, NULL);
}

static void fmt_days(int64_t ms, char *out, size_t cap)
{
    int64_t d = ms / DAY_MS;
    if (ms <= 0)
        snprintf(out, cap, "now");
    else if (d < 1)
        snprintf(out, cap, "in less than a day");
    else
        snprintf(out, cap, "in %lld day%s", (long long)d, d == 1 ? "" : "s");
}

int mlc_alert_sync_exact(struct mlc_txn *txn, const struct mlc_exact_token_info *ti,
                         int64_t now_ms)
{
    int rc;
    if (ti->consent_needed || !ti->connected) {
        char msg[MLC_ALERT_MESSAGE_MAX + 1];
        if (!ti->connected)
            snprintf(msg, sizeof(msg), "The agent is not connected to Exact Online; nothing is "
                     "posted until someone with Exact rights connects it");
        else
            snprintf(msg, sizeof(msg), "The connection to Exact Online is lost%s%s; nothing is "
                     "posted until someone with Exact rights connects the agent again",
                     ti->consent_reason[0] ? ": " : "", ti->consent_reason);
        rc = mlc_alert_raise(txn, MLC_ALERT_EXACT_CONSENT, "exact", MLC_ALERT_NEEDS_PERSON, msg,
                             "mlc exact connect", now_ms, NULL);
        if (rc == MLC_OK)
            rc = mlc_alert_resolve(txn, MLC_ALERT_EXACT_EXPIRING, "exact", now_ms);
        return rc;
    }
    if ((rc = mlc_alert_resolve(txn, MLC_ALERT_EXACT_CONSENT, "exact", now_ms)) != MLC_OK)
        return rc;
    int64_t end = ti->refresh_expiry_estimate_ms;
    if (end > 0 && end - now_ms <= MLC_ALERT_EXPIRY_WINDOW_MS) {
        char when[32], msg[MLC_ALERT_MESSAGE_MAX + 1];
        fmt_days(end - now_ms, when, sizeof(when));
        snprintf(msg, sizeof(msg), "The Exact Online connection ends %s because the agent could "
                 "not renew it; check its network, or connect it again", when);
        return mlc_alert_raise(txn, MLC_ALERT_EXACT_EXPIRING, "exact", MLC_ALERT_WARNING, msg,
                               "mlc exact status", now_ms, NULL);
    }
    return mlc_alert_resolve(txn, MLC_ALERT_EXACT_EXPIRING, "exact", now_ms);
}

#define ITEMS_MAX 1024 /* bank links looked at per sync; far more than one office has */

struct item_row {
    char id[MLC_PLAID_ID_MAX + 1];
    char name[128];
    char why[MLC_ALERT_MESSAGE_MAX / 2];
    int state;
    int64_t consent_ms;
    int disconnecting;  /* a journal alert about consent ending or a disconnect */
};

struct item_list {
    struct item_row *v;
    size_t n, cap;
};

static int item_cb(void *ctx, const struct mlc_journal_item *it)
{
    struct item_list *l = ctx;
    if (l->n == l->cap) {
        if (l->cap >= ITEMS_MAX)
            return 1;
        size_t nc = l->cap ? l->cap * 2 : 8;
        struct item_row *nv = mlc_realloc(l->v, nc * sizeof(*nv));
        if (!nv)
            return MLC_ERR_NOMEM;
        l->v = nv;
        l->cap = nc;
    }
    struct item_row *r = &l->v[l->n++];
    memset(r, 0, sizeof(*r));
    snprintf(r->id, sizeof(r->id), "%s", it->item_id);
    flatten(r->name, sizeof(r->name), it->institution_name[0] ? it->institution_name : it->item_id);
    flatten(r->why, sizeof(r->why), it->state_message);
    r->state = it->state;
    r->consent_ms = it->consent_expires_ms;
    return 0;
}

static int jalert_cb(void *ctx, const struct mlc_journal_alert *ja)
{
    struct item_list *l = ctx;
    if (!strstr(ja->kind, "expir") && !strstr(ja->kind, "disconnect"))
        return 0;
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].id, ja->item_id) == 0)
            l->v[i].disconnecting = 1;
    return 0;
}

int mlc_alert_sync_plaid(struct mlc_txn *txn, int64_t now_ms)
{
    struct item_list l = { 0 };
    int rc = mlc_journal_item_each(txn, item_cb, &l);
    if (rc == MLC_OK)
        rc = mlc_journal_alert_each(txn, jalert_cb, &l);
    for (size_t i = 0; i < l.n && rc == MLC_OK; i++) {
        const struct item_row *r = &l.v[i];
        /* Roomy: mlc_alert_raise cuts to its limits. */
        char msg[MLC_ALERT_MESSAGE_MAX * 2], act[MLC_ALERT_ACTION_MAX + MLC_PLAID_ID_MAX + 32];
        if (r->state == MLC_ITEM_NEEDS_REAUTH || r->state == MLC_ITEM_TOKEN_LOST) {
            int lost = r->state == MLC_ITEM_TOKEN_LOST;
            snprintf(msg, sizeof(msg), "The bank connection to %s needs %s%s%s", r->name,
                     lost ? "to be linked again" : "the account holder to log in again",
                     r->why[0] ? ": " : "", r->why);
            if (lost)
                snprintf(act, sizeof(act), "mlc plaid link");
            else
                snprintf(act, sizeof(act), "mlc plaid relink %s", r->id);
            rc = mlc_alert_raise(txn, MLC_ALERT_PLAID_REAUTH, r->id, MLC_ALERT_NEEDS_PERSON, msg,
                                 act, now_ms, NULL);
        } else {
            rc = mlc_alert_resolve(txn, MLC_ALERT_PLAID_REAUTH, r->id, now_ms);
        }
        if (rc != MLC_OK)
            break;
        int soon = r->consent_ms > 0 && r->consent_ms - now_ms <= MLC_ALERT_EXPIRY_WINDOW_MS;
        if (r->state != MLC_ITEM_REMOVED && (soon || r->disconnecting)) {
            char when[32] = "soon";
            if (r->consent_ms > 0)
                fmt_days(r->consent_ms - now_ms, when, sizeof(when));
            snprintf(msg, sizeof(msg), "The bank's consent for %s ends %s; have the account "
                     "holder renew it before then", r->name, when);
            snprintf(act, sizeof(act), "mlc plaid relink %s", r->id);
            rc = mlc_alert_raise(txn, MLC_ALERT_PLAID_CONSENT, r->id,
                                 r->consent_ms > 0 && r->consent_ms <= now_ms
                                     ? MLC_ALERT_NEEDS_PERSON : MLC_ALERT_WARNING,
                                 msg, act, now_ms, NULL);
        } else {
            rc = mlc_alert_resolve(txn, MLC_ALERT_PLAID_CONSENT, r->id, now_ms);
        }
    }
    mlc_free(l.v);
    return rc;
}

/* ---- texts ---- */

static const char *notice_word(int notice, int severity)
{
    if (notice == MLC_ALERT_NOTICE_ALL_CLEAR)
        return "Resolved";
    if (notice == MLC_ALERT_NOTICE_REMINDER)
        return "Reminder";
    return severity >= MLC_ALERT_NEEDS_PERSON ? "Action needed" : "Notice";
}

int mlc_alert_compose_mail(const struct mlc_alert *a, int notice, const char *agent,
                           char *subject, size_t subject_cap, struct mlc_buf *body)
{
    char since[32];
    mlc_time_format_iso(a->raised_ms, since, sizeof(since));
    /* The subject stays short for phones: the start of the message. */
    snprintf(subject, subject_cap, "[mlc] %s: %.90s%s", notice_word(notice, a->severity),
             a->message, strlen(a->message) > 90 ? "..." : "");
    int rc;
    if (notice == MLC_ALERT_NOTICE_ALL_CLEAR) {
        char when[32];
        mlc_time_format_iso(a->resolved_ms, when, sizeof(when));
        rc = mlc_buf_printf(body, "Resolved: %s\n\nThis problem was solved on %s; nothing more to "
                            "do.\n", a->message, when);
    } else {
        rc = mlc_buf_printf(body, "%s\n\n", a->message);
        if (rc == MLC_OK && a->action[0])
            rc = mlc_buf_printf(body, "What to do: %s\n\n", a->action);
        if (rc == MLC_OK && notice == MLC_ALERT_NOTICE_REMINDER)
            rc = mlc_buf_printf(body, "This is a reminder: the problem is still open.\n\n");
    }
    if (rc == MLC_OK)
        rc = mlc_buf_printf(body, "Alert: %s %s (%s), open since %s\nAgent: %s\n",
                            mlc_alert_kind_name(a->kind), a->key,
                            mlc_alert_severity_name(a->severity), since,
                            agent && agent[0] ? agent : "ml-connector");
    return rc;
}

int mlc_alert_compose_json(const struct mlc_alert *a, int notice, const char *agent,
                           struct mlc_buf *out)
{
    static const char *const events[] = { "alert.raised", "alert.reminder", "alert.resolved" };
    char raised[32], resolved[32];
    mlc_time_format_iso(a->raised_ms, raised, sizeof(raised));
    mlc_time_format_iso(a->resolved_ms, resolved, sizeof(resolved));
    int rc = MLC_ERR_NOMEM;
    char *text = NULL;
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return rc;
    if (!cJSON_AddStringToObject(o, "event", events[notice >= 0 && notice <= 2 ? notice : 0]) ||
        !cJSON_AddStringToObject(o, "kind", mlc_alert_kind_name(a->kind)) ||
        !cJSON_AddStringToObject(o, "key", a->key) ||
        !cJSON_AddStringToObject(o, "severity", mlc_alert_severity_name(a->severity)) ||
        !cJSON_AddStringToObject(o, "message", a->message) ||
        !cJSON_AddStringToObject(o, "action", a->action) ||
        !cJSON_AddStringToObject(o, "raised_at", raised) ||
        !(notice == MLC_ALERT_NOTICE_ALL_CLEAR ? cJSON_AddStringToObject(o, "resolved_at", resolved)
                                               : cJSON_AddNullToObject(o, "resolved_at")) ||
        !cJSON_AddStringToObject(o, "agent", agent && agent[0] ? agent : "ml-connector"))
        goto out;
    text = cJSON_PrintUnformatted(o);
    if (!text)
        goto out;
    rc = mlc_buf_append_str(out, text);
out:
    cJSON_free(text);
    cJSON_Delete(o);
    return rc;
}

/* ---- delivery ---- */

struct due {
    struct mlc_alert a;   /* as read, with notice/pending set for this delivery */
    unsigned ok;          /* channels that took it */
    char err[256];
};

struct scan {
    struct due *v;
    size_t n;
    unsigned channels;
    int64_t now, resend, next_due;
    unsigned waiting;
};

static void consider(struct scan *s, int64_t when)
{
    if (when > 0 && (s->next_due == 0 || when < s->next_due))
        s->next_due = when;
}

static int scan_cb(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct scan *s = ctx;
    (void)key, (void)klen;
    struct mlc_alert a;
    if (decode(val, vlen, &a) != MLC_OK)
        return 0;
    int due = 0;
    if (a.pending) {
        if (a.next_try_ms <= s->now)
            due = 1;
        else
            consider(s, a.next_try_ms);
    } else if (!a.resolved && s->channels) {
        int64_t at = a.last_sent_ms + s->resend;
        if (a.last_sent_ms == 0) { /* raised while no channel was configured: announce it now */
            a.notice = MLC_ALERT_NOTICE_RAISED;
            a.pending = MLC_ALERT_CH_ALL;
            due = 1;
        } else if (at <= s->now) {
            a.notice = MLC_ALERT_NOTICE_REMINDER;
            a.pending = MLC_ALERT_CH_ALL;
            due = 1;
        } else {
            consider(s, at);
        }
    }
    if (!due)
        return 0;
    if (s->n == MLC_ALERT_DISPATCH_MAX) {
        s->waiting++;
        consider(s, s->now); /* more is due now: call again soon */
        return 0;
    }
    struct due *d = &s->v[s->n++];
    memset(d, 0, sizeof(*d));
    d->a = a;
    return 0;
}

/* Writes one delivery's outcome back, unless the alert changed meanwhile (another raise or a
 * resolve bumped gen: its own pending notice supersedes this one). */
static int record(struct mlc_store *st, const struct due *d, unsigned channels, int64_t now,
                  uint32_t rnd, struct mlc_alert_dispatch_stats *stats)
{
    struct mlc_txn *txn = NULL;
    struct mlc_alert *cur = mlc_malloc(sizeof(*cur));
    if (!cur)
        return MLC_ERR_NOMEM;
    int rc = mlc_store_begin(st, 0, &txn);
    if (rc != MLC_OK)
        goto out;
    rc = mlc_alert_get(txn, d->a.kind, d->a.key, cur);
    if (rc == MLC_OK && cur->gen != d->a.gen && cur->resolved && (d->ok & ~cur->delivered) &&
        d->a.notice != MLC_ALERT_NOTICE_ALL_CLEAR) {
        /* Resolved while this notice was on its way: whoever just heard of it gets the all-clear
         * too. */
        cur->delivered |= d->ok;
        cur->pending |= d->ok;
        rc = put(txn, cur);
        if (rc == MLC_OK) {
            rc = mlc_store_commit(txn);
            txn = NULL;
        }
        goto out;
    }
    if (rc == MLC_ERR_NOTFOUND || (rc == MLC_OK && cur->gen != d->a.gen)) {
        mlc_store_abort(txn);
        txn = NULL;
        rc = MLC_OK;
        goto out;
    }
    if (rc != MLC_OK)
        goto out;
    unsigned want = d->a.pending & channels;
    unsigned left = want & ~d->ok;
    cur->notice = d->a.notice;
    cur->delivered |= d->ok;
    if (left == 0) {
        if (cur->notice == MLC_ALERT_NOTICE_ALL_CLEAR) {
            rc = del(txn, cur->kind, cur->key);
            if (stats && want)
                stats->all_clear++;
        } else {
            cur->pending = 0;
            cur->attempts = 0;
            cur->next_try_ms = 0;
            cur->last_error[0] = '\0';
            if (want) { /* no channel at all: the status page and LEDs are the delivery */
                cur->last_sent_ms = now;
                cur->sent++;
                if (stats) {
                    stats->sent++;
                    stats->reminders += cur->notice == MLC_ALERT_NOTICE_REMINDER;
                }
            }
            rc = put(txn, cur);
        }
    } else {
        cur->pending = left;
        cur->attempts++;
        uint32_t delay = mlc_backoff_delay_ms(cur->attempts - 1, MLC_ALERT_RETRY_BASE_MS,
                                              MLC_ALERT_RETRY_CAP_MS, rnd);
        if (delay < MLC_ALERT_RETRY_BASE_MS / 4)
            delay = MLC_ALERT_RETRY_BASE_MS / 4; /* full jitter may draw 0: no hammering */
        cur->next_try_ms = now + delay;
        snprintf(cur->last_error, sizeof(cur->last_error), "%s", d->err);
        if (stats)
            stats->failed++;
        rc = put(txn, cur);
    }
    if (rc == MLC_OK) {
        rc = mlc_store_commit(txn);
        txn = NULL;
    }
out:
    mlc_store_abort(txn);
    mlc_free(cur);
    return rc;
}

int mlc_alert_dispatch(struct mlc_store *st, const struct mlc_alert_sender *sender,
                       int64_t resend_ms, int64_t now_ms, uint32_t rnd,
                       struct mlc_alert_dispatch_stats *stats, int64_t *next_due_ms)
{
    struct scan s = { 0 };
    struct mlc_txn *txn = NULL;
    unsigned channels = sender ? sender->channels & MLC_ALERT_CH_ALL : 0;
    if (stats)
        memset(stats, 0, sizeof(*stats));
    if (next_due_ms)
        *next_due_ms = 0;
    s.v = mlc_calloc(MLC_ALERT_DISPATCH_MAX, sizeof(*s.v));
    if (!s.v)
        return MLC_ERR_NOMEM;
    s.channels = channels;
    s.now = now_ms;
    s.resend = resend_ms > 0 ? resend_ms : DAY_MS;
    int rc = mlc_store_begin(st, 1, &txn);
    if (rc == MLC_OK)
        rc = mlc_store_each(txn, MLC_DB_ALERTS, REC_PREFIX, strlen(REC_PREFIX), scan_cb, &s);
    mlc_store_abort(txn); /* read-only: sending happens with no transaction open */
    if (rc < 0)
        goto out;
    rc = MLC_OK;
    for (size_t i = 0; i < s.n; i++) {
        struct due *d = &s.v[i];
        unsigned want = d->a.pending & channels;
        for (unsigned ch = 1; ch <= MLC_ALERT_CH_ALL; ch <<= 1) {
            if (!(want & ch))
                continue;
            char err[256] = "";
            int src = sender->send(sender->ud, ch, &d->a, d->a.notice, now_ms, err, sizeof(err));
            if (src == MLC_OK) {
                d->ok |= ch;
            } else {
                snprintf(d->err, sizeof(d->err), "%s: %s",
                         ch == MLC_ALERT_CH_EMAIL ? "e-mail" : "webhook",
                         err[0] ? err : mlc_err_str(src));
                MLC_LOG_WRN("alert", "alert_delivery_failed kind=%s key=%s channel=%s error=\"%s\"",
                            mlc_alert_kind_name(d->a.kind), d->a.key,
                            ch == MLC_ALERT_CH_EMAIL ? "email" : "webhook", d->err);
            }
        }
        int wrc = record(st, d, channels, now_ms, rnd, stats);
        if (wrc != MLC_OK && rc == MLC_OK)
            rc = wrc;
        if (d->ok != want)
            consider(&s, now_ms + MLC_ALERT_RETRY_BASE_MS / 4);
        else if (d->a.notice != MLC_ALERT_NOTICE_ALL_CLEAR && channels)
            consider(&s, now_ms + s.resend);
    }
    if (stats)
        stats->waiting = s.waiting;
    if (next_due_ms)
        *next_due_ms = s.next_due;
out:
    mlc_free(s.v);
    return rc;
}
