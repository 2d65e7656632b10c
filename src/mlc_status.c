#include "mlc_status.h"
#include "mlc_alloc.h"
#include "mlc_buf.h"
#include "mlc_err.h"
#include "mlc_httpd.h"
#include "mlc_metrics.h"
#include "mlc_platform.h"

#include <stdio.h>
#include <string.h>

/* A login that expires within this is shown as a warning on the page (not a health failure). */
#define EXPIRY_WARN_MS (7LL * 24 * 3600 * 1000)

/* ---- words ---- */

static void fmt_span(int64_t ms, char *out, size_t cap)
{
    int64_t s = ms < 0 ? -(ms / 1000) : ms / 1000;
    int64_t n;
    const char *unit;
    if (s < 60) {
        snprintf(out, cap, "less than a minute");
        return;
    }
    if (s < 3600) {
        n = s / 60;
        unit = "minute";
    } else if (s < 86400) {
        n = s / 3600;
        unit = "hour";
    } else {
        n = s / 86400;
        unit = "day";
    }
    snprintf(out, cap, "%lld %s%s", (long long)n, unit, n == 1 ? "" : "s");
}

void mlc_status_fmt_rel(int64_t delta_ms, char *out, size_t cap)
{
    char span[48];
    fmt_span(delta_ms, span, sizeof(span));
    if (delta_ms >= 0)
        snprintf(out, cap, "in %s", span);
    else
        snprintf(out, cap, "%s ago", span);
}

void mlc_status_fmt_bytes(size_t n, char *out, size_t cap)
{
    if (n < 1024)
        snprintf(out, cap, "%zu bytes", n);
    else if (n < 1024 * 1024)
        snprintf(out, cap, "%.1f KB", (double)n / 1024);
    else if (n < 1024UL * 1024 * 1024)
        snprintf(out, cap, "%.1f MB", (double)n / (1024 * 1024));
    else
        snprintf(out, cap, "%.1f GB", (double)n / (1024.0 * 1024 * 1024));
}

static const char *kind_word(enum mlc_status_kind k)
{
    return k == MLC_STATUS_PLAID_ITEM ? "plaid_item" : "exact_division";
}

static const char *state_word(enum mlc_status_state s)
{
    switch (s) {
    case MLC_STATUS_OK: return "ok";
    case MLC_STATUS_SETTING_UP: return "setting_up";
    case MLC_STATUS_RETRYING: return "retrying";
    case MLC_STATUS_NEEDS_PERSON: return "needs_person";
    case MLC_STATUS_PAUSED: return "paused";
    }
    return "unknown";
}

static const char *state_sentence(enum mlc_status_state s)
{
    switch (s) {
    case MLC_STATUS_OK: return "Working";
    case MLC_STATUS_SETTING_UP: return "Loading the transaction history";
    case MLC_STATUS_RETRYING: return "Having trouble; the agent keeps trying by itself";
    case MLC_STATUS_NEEDS_PERSON: return "Stopped until someone acts (see above)";
    case MLC_STATUS_PAUSED: return "Paused";
    }
    return "Unknown";
}

/* "the bank connection to ING" / "the Exact Online administration Bakkerij BV" */
static void subject(const struct mlc_status_connection *c, char *out, size_t cap)
{
    if (c->kind == MLC_STATUS_PLAID_ITEM)
        snprintf(out, cap, "the bank connection to %s", c->name[0] ? c->name : c->id);
    else
        snprintf(out, cap, "the Exact Online administration %s", c->name[0] ? c->name : c->id);
}

/* "The bank permission for ING" / "The Exact Online login for Bakkerij BV" */
static void expiry_subject(const struct mlc_status_connection *c, char *out, size_t cap)
{
    snprintf(out, cap, "%s %s", c->kind == MLC_STATUS_PLAID_ITEM ? "The bank permission for"
                                                                : "The Exact Online login for",
             c->name[0] ? c->name : c->id);
}

static int expired(const struct mlc_status_connection *c, int64_t now_ms)
{
    return c->expiry_ms > 0 && c->expiry_ms <= now_ms;
}

/* ---- health ---- */

/* Calls fn for every reason the agent is not healthy; returns how many there were. Each reason is
 * one sentence a bookkeeper can act on, with the command when the model knows it. */
typedef int (*reason_fn)(void *ud, const char *text, const char *command);

static int each_reason(const struct mlc_status_model *m, int64_t now_ms, reason_fn fn, void *ud,
                       int *err)
{
    char s[MLC_STATUS_TEXT_MAX + 64], t[MLC_STATUS_TEXT_MAX * 2 + 128];
    int n = 0;
    *err = MLC_OK;
#define EMIT(text, cmd)                                                                           \
    do {                                                                                          \
        n++;                                                                                      \
        if (fn && *err == MLC_OK)                                                                 \
            *err = fn(ud, text, cmd);                                                             \
    } while (0)
    for (size_t i = 0; i < m->n_problems && i < MLC_STATUS_PROBLEMS_MAX; i++)
        EMIT(m->problems[i], "");
    if (m->n_conn == 0)
        EMIT("No bank connection or Exact Online administration is set up yet", "");
    for (size_t i = 0; i < m->n_conn && i < MLC_STATUS_CONN_MAX; i++) {
        const struct mlc_status_connection *c = &m->conn[i];
        subject(c, s, sizeof(s));
        s[0] = (char)(s[0] - 32); /* "The ..." at the start of a sentence */
        if (c->state == MLC_STATUS_NEEDS_PERSON) {
            for (size_t a = 0; a < c->n_actions && a < MLC_STATUS_ACTIONS_MAX; a++)
                EMIT(c->actions[a].text, c->actions[a].command);
            if (c->n_actions == 0) {
                snprintf(t, sizeof(t), "%s needs attention%s%s", s, c->detail[0] ? ": " : "",
                         c->detail);
                EMIT(t, "");
            }
        } else if (expired(c, now_ms)) {
            expiry_subject(c, s, sizeof(s));
            snprintf(t, sizeof(t), "%s has expired; nothing moves until it is renewed", s);
            EMIT(t, c->n_actions ? c->actions[0].command : "");
        }
    }
#undef EMIT
    return n;
}

int mlc_status_healthy(const struct mlc_status_model *m, int64_t now_ms)
{
    int err;
    return each_reason(m, now_ms, NULL, NULL, &err) == 0;
}

/* ---- JSON ---- */

static int json_str(struct mlc_buf *b, const char *s)
{
    int rc = mlc_buf_append(b, "\"", 1);
    for (; rc == MLC_OK && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            rc = mlc_buf_printf(b, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            rc = mlc_buf_printf(b, "\\u%04x", c);
        else
            rc = mlc_buf_append(b, s, 1);
    }
    return rc == MLC_OK ? mlc_buf_append(b, "\"", 1) : rc;
}

/* "key": "ISO time" or "key": null for 0. */
static int json_time(struct mlc_buf *b, const char *key, int64_t ms)
{
    char iso[40];
    if (ms <= 0)
        return mlc_buf_printf(b, "\"%s\":null", key);
    return mlc_buf_printf(b, "\"%s\":\"%s\"", key, mlc_time_format_iso(ms, iso, sizeof(iso)));
}

struct json_reasons {
    struct mlc_buf *b;
    int n;
};

static int json_reason(void *ud, const char *text, const char *command)
{
    struct json_reasons *j = ud;
    int rc = mlc_buf_append_str(j->b, j->n++ ? "," : "");
    if (rc == MLC_OK && command[0]) {
        char t[MLC_STATUS_TEXT_MAX + 200];
        snprintf(t, sizeof(t), "%s: run %s", text, command);
        return json_str(j->b, t);
    }
    return rc == MLC_OK ? json_str(j->b, text) : rc;
}

static int json_reasons(const struct mlc_status_model *m, int64_t now_ms, struct mlc_buf *out)
{
    struct json_reasons j = { out, 0 };
    int err, rc = mlc_buf_append_str(out, "[");
    if (rc != MLC_OK)
        return rc;
    each_reason(m, now_ms, json_reason, &j, &err);
    return err == MLC_OK ? mlc_buf_append_str(out, "]") : err;
}

int mlc_status_render_health(const struct mlc_status_model *m, int64_t now_ms, struct mlc_buf *out,
                             int *status)
{
    int ok = mlc_status_healthy(m, now_ms), rc;
    *status = ok ? 200 : 503;
    if (ok)
        return mlc_buf_append_str(out, "{\"status\":\"ok\"}\n");
    rc = mlc_buf_append_str(out, "{\"status\":\"fail\",\"reasons\":");
    if (rc == MLC_OK)
        rc = json_reasons(m, now_ms, out);
    return rc == MLC_OK ? mlc_buf_append_str(out, "}\n") : rc;
}

static int json_conn(struct mlc_buf *b, const struct mlc_status_connection *c, int64_t now_ms)
{
    int rc = mlc_buf_printf(b, "{\"kind\":\"%s\",\"id\":", kind_word(c->kind));
    if (rc == MLC_OK) rc = json_str(b, c->id);
    if (rc == MLC_OK) rc = mlc_buf_append_str(b, ",\"name\":");
    if (rc == MLC_OK) rc = json_str(b, c->name);
    if (rc == MLC_OK) rc = mlc_buf_printf(b, ",\"state\":\"%s\",\"detail\":", state_word(c->state));
    if (rc == MLC_OK) rc = json_str(b, c->detail);
    if (rc == MLC_OK) rc = mlc_buf_append_str(b, ",");
    if (rc == MLC_OK) rc = json_time(b, "expires", c->expiry_ms);
    if (rc == MLC_OK)
        rc = c->expiry_ms > 0
                 ? mlc_buf_printf(b, ",\"expires_in_seconds\":%lld",
                                  (long long)((c->expiry_ms - now_ms) / 1000))
                 : mlc_buf_append_str(b, ",\"expires_in_seconds\":null");
    if (rc == MLC_OK) rc = mlc_buf_append_str(b, ",");
    if (rc == MLC_OK) rc = json_time(b, "last_run", c->last_run_ms);
    if (rc == MLC_OK)
        rc = mlc_buf_printf(b, ",\"last_run_ok\":%s,", c->last_run_ms <= 0 ? "null"
                                                        : c->last_run_ok ? "true" : "false");
    if (rc == MLC_OK) rc = json_time(b, "next_run", c->next_run_ms);
    if (rc == MLC_OK)
        rc = mlc_buf_printf(b, ",\"posted\":%ld,\"held\":%ld,\"pending\":%ld,\"difference\":",
                            c->posted, c->held, c->pending);
    if (rc == MLC_OK) {
        char amt[MLC_AMOUNT_STRMAX];
        if (c->has_difference &&
            mlc_amount_format(c->difference, mlc_currency_decimals(c->currency), amt,
                              sizeof(amt)) > 0)
            rc = json_str(b, amt); /* a string: JSON numbers would round money through a double */
        else
            rc = mlc_buf_append_str(b, "null");
    }
    if (rc == MLC_OK) rc = mlc_buf_append_str(b, ",\"currency\":");
    if (rc == MLC_OK) rc = json_str(b, c->currency);
    if (rc == MLC_OK) rc = mlc_buf_append_str(b, ",\"actions\":[");
    for (size_t a = 0; rc == MLC_OK && a < c->n_actions && a < MLC_STATUS_ACTIONS_MAX; a++) {
        rc = mlc_buf_append_str(b, a ? ",{\"text\":" : "{\"text\":");
        if (rc == MLC_OK) rc = json_str(b, c->actions[a].text);
        if (rc == MLC_OK) rc = mlc_buf_append_str(b, ",\"command\":");
        if (rc == MLC_OK) rc = json_str(b, c->actions[a].command);
        if (rc == MLC_OK) rc = mlc_buf_append_str(b, "}");
    }
    return rc == MLC_OK ? mlc_buf_append_str(b, "]}") : rc;
}

int mlc_status_render_json(const struct mlc_status_model *m, int64_t now_ms, struct mlc_buf *out)
{
    int healthy = mlc_status_healthy(m, now_ms);
    int rc = mlc_buf_printf(out, "{\"status\":\"%s\",\"version\":", healthy ? "ok" : "fail");
    if (rc == MLC_OK) rc = json_str(out, m->version);
    if (rc == MLC_OK) rc = mlc_buf_append_str(out, ",");
    if (rc == MLC_OK) rc = json_time(out, "now", now_ms);
    if (rc == MLC_OK) rc = mlc_buf_append_str(out, ",");
    if (rc == MLC_OK) rc = json_time(out, "started", m->started_ms);
    if (rc == MLC_OK)
        rc = mlc_buf_printf(out,
                            ",\"uptime_seconds\":%lld,\"heap\":{\"bytes\":%zu,\"peak_bytes\":%zu,"
                            "\"budget_bytes\":%zu},\"reasons\":",
                            (long long)(m->started_ms > 0 && now_ms > m->started_ms
                                            ? (now_ms - m->started_ms) / 1000 : 0),
                            m->heap_bytes, m->heap_peak, m->heap_budget);
    if (rc == MLC_OK) rc = json_reasons(m, now_ms, out);
    if (rc == MLC_OK) rc = mlc_buf_append_str(out, ",\"connections\":[");
    for (size_t i = 0; rc == MLC_OK && i < m->n_conn && i < MLC_STATUS_CONN_MAX; i++) {
        if (i)
            rc = mlc_buf_append_str(out, ",");
        if (rc == MLC_OK)
            rc = json_conn(out, &m->conn[i], now_ms);
    }
    return rc == MLC_OK ? mlc_buf_append_str(out, "]}\n") : rc;
}

/* ---- HTML ---- */

int mlc_status_html_escape(struct mlc_buf *out, const char *text)
{
    int rc = MLC_OK;
    for (const char *p = text; rc == MLC_OK && *p; p++) {
        switch (*p) {
        case '&': rc = mlc_buf_append_str(out, "&amp;"); break;
        case '<': rc = mlc_buf_append_str(out, "&lt;"); break;
        case '>': rc = mlc_buf_append_str(out, "&gt;"); break;
        case '"': rc = mlc_buf_append_str(out, "&quot;"); break;
        case '\'': rc = mlc_buf_append_str(out, "&#39;"); break;
        default: rc = mlc_buf_append(out, p, 1); break;
        }
    }
    return rc;
}

/* Appends a fixed template in which every "%s" is replaced by the HTML-escaped next argument.
 * Keeps escaping in one place: no caller text reaches the page unescaped. */
static int html(struct mlc_buf *out, const char *tpl, const char *const *args)
{
    int rc = MLC_OK;
    size_t k = 0;
    while (rc == MLC_OK && *tpl) {
        const char *pct = strstr(tpl, "%s");
        size_t lit = pct ? (size_t)(pct - tpl) : strlen(tpl);
        rc = mlc_buf_append(out, tpl, lit);
        tpl += lit;
        if (rc == MLC_OK && pct) {
            rc = mlc_status_html_escape(out, args[k++]);
            tpl += 2;
        }
    }
    return rc;
}
#define HTML(out, tpl, ...) html(out, tpl, (const char *const[]){ __VA_ARGS__, NULL })

static const char PAGE_HEAD[] =
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<meta http-equiv=\"refresh\" content=\"60\">\n"
    "<title>Bank to Exact Online: status</title>\n<style>\n"
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;max-width:46rem;"
    "padding:1rem;color:#202124;line-height:1.45}\n"
    "h1{font-size:1.4rem}h2{font-size:1.15rem;margin-top:1.5rem}h3{font-size:1.05rem;margin:0}\n"
    ".box{padding:.75rem 1rem;margin:1rem 0;border-radius:4px}\n"
    ".ok{background:#e6f4ea;border-left:6px solid #1e8e3e}\n"
    ".warn{background:#fef7e0;border-left:6px solid #f9ab00}\n"
    ".bad{background:#fce8e6;border-left:6px solid #d93025}\n"
    ".card{border:1px solid #dadce0;border-radius:6px;padding:.75rem 1rem;margin:.75rem 0}\n"
    "dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:.5rem 0}\n"
    "dt{color:#5f6368}dd{margin:0}ul{padding-left:1.2rem}\n"
    "code{background:#f1f3f4;padding:.1rem .3rem;border-radius:3px;word-break:break-all}\n"
    "footer{color:#5f6368;font-size:.9rem;margin-top:2rem}\n"
    "@media (max-width:32rem){dl{grid-template-columns:1fr}dd{margin-bottom:.4rem}}\n"
    "</style></head><body>\n<h1>Bank to Exact Online</h1>\n";

struct html_reasons {
    struct mlc_buf *b;
};

static int html_reason(void *ud, const char *text, const char *command)
{
    struct html_reasons *h = ud;
    if (command[0])
        return HTML(h->b, "<li>%s: run <code>%s</code></li>\n", text, command);
    return HTML(h->b, "<li>%s</li>\n", text);
}

/* Things to keep an eye on that are not (yet) failures: retries and logins expiring soon. */
static int watch_items(const struct mlc_status_model *m, int64_t now_ms, struct mlc_buf *out)
{
    char s[MLC_STATUS_TEXT_MAX + 64], when[64];
    int n = 0, rc = MLC_OK;
    for (size_t i = 0; rc == MLC_OK && i < m->n_conn && i < MLC_STATUS_CONN_MAX; i++) {
        const struct mlc_status_connection *c = &m->conn[i];
        if (c->state == MLC_STATUS_NEEDS_PERSON || expired(c, now_ms))
            continue;
        subject(c, s, sizeof(s));
        s[0] = (char)(s[0] - 32);
        if (c->state == MLC_STATUS_RETRYING) {
            n++;
            if (out)
                rc = c->detail[0] ? HTML(out, "<li>%s is having trouble (%s); the agent keeps "
                                              "trying by itself</li>\n", s, c->detail)
                                  : HTML(out, "<li>%s is having trouble; the agent keeps trying "
                                              "by itself</li>\n", s);
        }
        if (rc == MLC_OK && c->expiry_ms > 0 && c->expiry_ms - now_ms < EXPIRY_WARN_MS) {
            n++;
            mlc_status_fmt_rel(c->expiry_ms - now_ms, when, sizeof(when));
            expiry_subject(c, s, sizeof(s));
            if (out)
                rc = c->n_actions && c->actions[0].command[0]
                         ? HTML(out, "<li>%s expires %s: run <code>%s</code> before then</li>\n",
                                s, when, c->actions[0].command)
                         : HTML(out, "<li>%s expires %s</li>\n", s, when);
        }
    }
    return rc == MLC_OK ? n : rc;
}

static int html_conn(struct mlc_buf *b, const struct mlc_status_connection *c, int64_t now_ms)
{
    char rel[64], iso[40], num[3][24], amt[MLC_AMOUNT_STRMAX], line[160];
    int bank = c->kind == MLC_STATUS_PLAID_ITEM;
    int rc = HTML(b, "<div class=\"card\"><h3>%s: %s</h3>\n<p>%s</p>\n<dl>\n",
                  bank ? "Bank connection" : "Exact Online administration",
                  c->name[0] ? c->name : c->id, state_sentence(c->state));
    if (rc == MLC_OK && c->expiry_ms > 0) {
        mlc_status_fmt_rel(c->expiry_ms - now_ms, rel, sizeof(rel));
        mlc_time_format_iso(c->expiry_ms, iso, sizeof(iso));
        rc = HTML(b, "<dt>%s</dt><dd>%s %s (%s)</dd>\n",
                  bank ? "Bank permission" : "Exact Online login",
                  expired(c, now_ms) ? "expired" : "expires", rel, iso);
    }
    if (rc == MLC_OK) {
        if (c->last_run_ms > 0) {
            mlc_status_fmt_rel(c->last_run_ms - now_ms, rel, sizeof(rel));
            snprintf(line, sizeof(line), "%s, %s", rel, c->last_run_ok ? "finished" : "failed");
        } else {
            snprintf(line, sizeof(line), "not yet");
        }
        rc = HTML(b, "<dt>Last run</dt><dd>%s</dd>\n", line);
    }
    if (rc == MLC_OK) {
        if (c->next_run_ms > 0)
            mlc_status_fmt_rel(c->next_run_ms - now_ms, rel, sizeof(rel));
        else
            snprintf(rel, sizeof(rel), "not planned");
        rc = HTML(b, "<dt>Next run</dt><dd>%s</dd>\n", rel);
    }
    snprintf(num[0], sizeof(num[0]), "%ld", c->posted);
    snprintf(num[1], sizeof(num[1]), "%ld", c->held);
    snprintf(num[2], sizeof(num[2]), "%ld", c->pending);
    if (rc == MLC_OK)
        rc = HTML(b, "<dt>Posted to Exact Online</dt><dd>%s</dd>\n"
                     "<dt>Held back for a check</dt><dd>%s</dd>\n"
                     "<dt>Not yet final at the bank</dt><dd>%s</dd>\n", num[0], num[1], num[2]);
    if (rc == MLC_OK && c->has_difference &&
        mlc_amount_format(c->difference, mlc_currency_decimals(c->currency), amt, sizeof(amt)) > 0) {
        snprintf(line, sizeof(line), "%s %s%s", c->currency, amt,
                 mlc_amount_is_zero(c->difference) ? " (books match the bank)" : "");
        rc = HTML(b, "<dt>Difference with the bank balance</dt><dd>%s</dd>\n", line);
    }
    if (rc == MLC_OK)
        rc = mlc_buf_append_str(b, "</dl>\n");
    if (rc == MLC_OK && c->detail[0])
        rc = HTML(b, "<p>%s</p>\n", c->detail);
    return rc == MLC_OK ? mlc_buf_append_str(b, "</div>\n") : rc;
}

int mlc_status_render_html(const struct mlc_status_model *m, int64_t now_ms, struct mlc_buf *out)
{
    char a[64], b[64], c[64], span[48], iso[40];
    int err = MLC_OK, rc = mlc_buf_append_str(out, PAGE_HEAD);
    int healthy = mlc_status_healthy(m, now_ms);
    int watch = watch_items(m, now_ms, NULL);
    if (rc == MLC_OK && !healthy) {
        struct html_reasons h = { out };
        rc = mlc_buf_append_str(out, "<div class=\"box bad\"><strong>Needs your attention:</strong>"
                                     "\n<ul>\n");
        if (rc == MLC_OK)
            each_reason(m, now_ms, html_reason, &h, &err);
        rc = rc == MLC_OK ? err : rc;
        if (rc == MLC_OK)
            rc = mlc_buf_append_str(out, "</ul></div>\n");
    } else if (rc == MLC_OK && watch == 0) {
        rc = mlc_buf_append_str(out, "<div class=\"box ok\"><strong>Everything is up to date."
                                     "</strong></div>\n");
    }
    if (rc == MLC_OK && watch > 0) {
        rc = mlc_buf_printf(out, "<div class=\"box warn\"><strong>%s</strong>\n<ul>\n",
                            healthy ? "Working. Keep an eye on:" : "Also keep an eye on:");
        if (rc == MLC_OK) {
            int w = watch_items(m, now_ms, out);
            rc = w < 0 ? w : MLC_OK;
        }
        if (rc == MLC_OK)
            rc = mlc_buf_append_str(out, "</ul></div>\n");
    }
    if (rc == MLC_OK && m->n_conn)
        rc = mlc_buf_append_str(out, "<h2>Connections</h2>\n");
    for (size_t i = 0; rc == MLC_OK && i < m->n_conn && i < MLC_STATUS_CONN_MAX; i++)
        rc = html_conn(out, &m->conn[i], now_ms);
    mlc_status_fmt_bytes(m->heap_bytes, a, sizeof(a));
    mlc_status_fmt_bytes(m->heap_peak, b, sizeof(b));
    if (m->heap_budget)
        mlc_status_fmt_bytes(m->heap_budget, c, sizeof(c));
    else
        snprintf(c, sizeof(c), "none");
    fmt_span(m->started_ms > 0 ? now_ms - m->started_ms : 0, span, sizeof(span));
    mlc_time_format_iso(now_ms, iso, sizeof(iso));
    if (rc == MLC_OK)
        rc = HTML(out, "<footer><p>Memory in use: %s (highest so far %s, limit %s).<br>\n"
                       "Running for %s. Version %s. Page made %s; it refreshes every minute.</p>"
                       "</footer>\n</body></html>\n", a, b, c, span, m->version, iso);
    return rc;
}

/* ---- metrics ---- */

static const struct {
    const char *name;
    enum mlc_metric_type type;
    const char *help;
} AGENT_METRICS[] = {
    { "mlc_runs_total", MLC_METRIC_COUNTER, "Synchronisation runs started." },
    { "mlc_posts_total", MLC_METRIC_COUNTER, "Bank entries posted to Exact Online." },
    { "mlc_held", MLC_METRIC_GAUGE, "Transactions held back for a person to check." },
    { "mlc_api_calls_total", MLC_METRIC_COUNTER, "Calls made to Plaid and Exact Online." },
    { "mlc_api_429_total", MLC_METRIC_COUNTER, "Exact Online answers that said too many requests." },
    { "mlc_budget_left", MLC_METRIC_GAUGE, "Exact Online API calls left in today's budget." },
    { "mlc_token_expiry_seconds", MLC_METRIC_GAUGE,
      "Seconds until a connection's consent or login expires (negative: expired)." },
    { "mlc_heap_bytes", MLC_METRIC_GAUGE, "Heap bytes in use." },
    { "mlc_heap_peak_bytes", MLC_METRIC_GAUGE, "Highest heap use since start." },
    { "mlc_uptime_seconds", MLC_METRIC_GAUGE, "Seconds since the agent started." },
};

int mlc_status_metrics_define(struct mlc_metrics *m)
{
    for (size_t i = 0; i < sizeof(AGENT_METRICS) / sizeof(AGENT_METRICS[0]); i++) {
        int rc = mlc_metrics_define(m, AGENT_METRICS[i].name, AGENT_METRICS[i].type,
                                    AGENT_METRICS[i].help);
        if (rc != MLC_OK)
            return rc;
    }
    return MLC_OK;
}

int mlc_status_metrics_refresh(struct mlc_metrics *metrics, const struct mlc_status_model *m,
                               int64_t now_ms)
{
    long held = 0;
    int rc = mlc_metrics_set(metrics, "mlc_heap_bytes", NULL, (double)m->heap_bytes);
    if (rc == MLC_OK)
        rc = mlc_metrics_set(metrics, "mlc_heap_peak_bytes", NULL, (double)m->heap_peak);
    if (rc == MLC_OK)
        rc = mlc_metrics_set(metrics, "mlc_uptime_seconds", NULL,
                             m->started_ms > 0 && now_ms > m->started_ms
                                 ? (double)((now_ms - m->started_ms) / 1000) : 0);
    /* rebuilt from the model each time, so a removed connection does not linger as a series */
    mlc_metrics_clear(metrics, "mlc_token_expiry_seconds");
    for (size_t i = 0; rc == MLC_OK && i < m->n_conn && i < MLC_STATUS_CONN_MAX; i++) {
        const struct mlc_status_connection *c = &m->conn[i];
        held += c->held;
        if (c->expiry_ms > 0) {
            const char *labels[] = { "connection", c->name[0] ? c->name : c->id, NULL };
            rc = mlc_metrics_set(metrics, "mlc_token_expiry_seconds", labels,
                                 (double)((c->expiry_ms - now_ms) / 1000));
        }
    }
    if (rc == MLC_OK)
        rc = mlc_metrics_set(metrics, "mlc_held", NULL, (double)held);
    return rc;
}

/* ---- routes ---- */

static int64_t ctx_now(const struct mlc_status_ctx *ctx)
{
    return ctx->now_ms ? ctx->now_ms(ctx->clock_ud) : mlc_time_now_ms();
}

/* The heap figures are read at request time so the page shows the true high-water mark. */
static void snapshot_heap(struct mlc_status_model *m)
{
    m->heap_bytes = mlc_alloc_current();
    m->heap_peak = mlc_alloc_peak();
    m->heap_budget = mlc_alloc_budget();
}

static int on_health(const struct mlc_httpd_request *req, struct mlc_httpd_response *resp, void *ud)
{
    struct mlc_status_ctx *ctx = ud;
    int status;
    (void)req;
    int rc = mlc_status_render_health(ctx->model, ctx_now(ctx), &resp->body, &status);
    mlc_httpd_resp_set(resp, status, "application/json");
    return rc;
}

static int on_status(const struct mlc_httpd_request *req, struct mlc_httpd_response *resp, void *ud)
{
    struct mlc_status_ctx *ctx = ud;
    (void)req;
    snapshot_heap(ctx->model);
    mlc_httpd_resp_set(resp, 200, "application/json");
    return mlc_status_render_json(ctx->model, ctx_now(ctx), &resp->body);
}

static int on_metrics(const struct mlc_httpd_request *req, struct mlc_httpd_response *resp, void *ud)
{
    struct mlc_status_ctx *ctx = ud;
    (void)req;
    snapshot_heap(ctx->model);
    int rc = mlc_status_metrics_refresh(ctx->metrics, ctx->model, ctx_now(ctx));
    if (rc == MLC_OK)
        rc = mlc_metrics_render(ctx->metrics, &resp->body);
    mlc_httpd_resp_set(resp, 200, MLC_METRICS_CONTENT_TYPE);
    return rc;
}

static int on_page(const struct mlc_httpd_request *req, struct mlc_httpd_response *resp, void *ud)
{
    struct mlc_status_ctx *ctx = ud;
    (void)req;
    snapshot_heap(ctx->model);
    mlc_httpd_resp_set(resp, 200, "text/html; charset=utf-8");
    /* No script, no outside assets, no framing; no Referer, since the URL may hold the token. */
    int rc = mlc_httpd_resp_header(resp, "Content-Security-Policy",
                                   "default-src 'none'; style-src 'unsafe-inline'; "
                                   "frame-ancestors 'none'");
    if (rc == MLC_OK)
        rc = mlc_httpd_resp_header(resp, "Referrer-Policy", "no-referrer");
    if (rc == MLC_OK)
        rc = mlc_status_render_html(ctx->model, ctx_now(ctx), &resp->body);
    return rc;
}

int mlc_status_register(struct mlc_httpd *srv, struct mlc_status_ctx *ctx)
{
    int rc = mlc_httpd_route_ex(srv, "GET", "/api/v1/health", MLC_HTTPD_PUBLIC, 0, on_health, ctx);
    if (rc == MLC_OK)
        rc = mlc_httpd_route(srv, "GET", "/api/v1/status", on_status, ctx);
    if (rc == MLC_OK && ctx->metrics)
        rc = mlc_httpd_route(srv, "GET", "/metrics", on_metrics, ctx);
    if (rc == MLC_OK)
        rc = mlc_httpd_route(srv, "GET", "/", on_page, ctx);
    return rc;
}
