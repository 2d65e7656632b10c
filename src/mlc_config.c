/* Configuration: the key table, the INI parser and validator, defaults, reference and example.
 * Format rules are written once, in example_header below, which is also the header of
 * etc/mlc.conf.example. */
#include "mlc_config.h"
#include "mlc_alloc.h"
#include "mlc_buf.h"
#include "mlc_err.h"
#include "mlc_platform.h"

#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

#define KIB 1024LL
#define MIB (1024LL * KIB)
#define GIB (1024LL * MIB)
#define MINUTE 60LL
#define HOUR (60LL * MINUTE)
#define DAY (24LL * HOUR)

#define F(field) offsetof(struct mlc_config, field), sizeof(((struct mlc_config *)0)->field)
#define D(field) offsetof(struct mlc_config_division, field), \
                 sizeof(((struct mlc_config_division *)0)->field)

/* Plaid's CountryCode enum and Link languages (specs/plaid-openapi-2020-09-14.yml). */
#define PLAID_COUNTRIES "US|GB|ES|NL|FR|IE|CA|DE|IT|PL|DK|NO|SE|EE|LT|LV|PT|BE|AT|FI"
#define PLAID_LANGUAGES "da|nl|en|et|fr|de|hi|it|lv|lt|no|pl|pt|ro|es|sv|vi"

/* The single source of truth. Rows of one section stay together; the section order is the order
 * of the example file. Columns: section, key, type, default, min, max, words, flags, field, example,
 * help. */
static const struct mlc_config_key keys[] = {
    { "agent", "data_dir", MLC_CFG_PATH, "/var/lib/mlc", 0, 0, NULL, MLC_CFG_RESTART, F(agent.data_dir), NULL,
      "Where the agent keeps its store and device key (the --data-dir option overrides it)." },
    { "agent", "log_level", MLC_CFG_ENUM, "info", 0, 0, "error|warn|info|debug", 0,
      F(agent.log_level), NULL, "How much the agent logs; secrets are never logged at any level." },
    { "agent", "memory_budget", MLC_CFG_SIZE, "0", MIB, GIB, NULL, MLC_CFG_ZERO_OK,
      F(agent.memory_budget), NULL,
      "Most heap memory the agent may use; 0 = no limit. Over it, work fails cleanly and retries." },
    { "agent", "ca_bundle", MLC_CFG_PATH, NULL, 0, 0, NULL, 0, F(agent.ca_bundle), "/etc/mlc/test-ca.pem",
      "Extra CA certificates (PEM) to trust, e.g. for a test server. Certificates are always checked." },
    { "agent", "clock_skew_max", MLC_CFG_DURATION, "2m", 1, DAY, NULL, 0, F(agent.clock_skew_max),
      NULL, "Largest difference from the Plaid/Exact clocks before time-sensitive work waits for NTP." },

    { "store", "map_size", MLC_CFG_SIZE, "64M", MIB, 64 * GIB, NULL, MLC_CFG_RESTART, F(store.map_size), NULL,
      "Starting size of the store file's memory map." },
    { "store", "map_size_max", MLC_CFG_SIZE, "1G", MIB, 64 * GIB, NULL, MLC_CFG_RESTART, F(store.map_size_max), NULL,
      "The store may grow up to this size; at least map_size." },

    { "plaid", "environment", MLC_CFG_ENUM, "sandbox", 0, 0, "sandbox|production", 0,
      F(plaid.environment), NULL, "Plaid environment; bank links made in one do not work in the other." },
    { "plaid", "base_url", MLC_CFG_URL, NULL, 0, 0, NULL, 0, F(plaid.base_url), "http://127.0.0.1:9100",
      "Replaces the environment's Plaid address; only for tests against an emulator." },
    { "plaid", "country_codes", MLC_CFG_WORDS, "US", 1, 20, PLAID_COUNTRIES, 0,
      F(plaid.country_codes), NULL, "Countries whose banks Plaid Link offers, separated by commas." },
    { "plaid", "language", MLC_CFG_WORDS, "en", 1, 1, PLAID_LANGUAGES, 0, F(plaid.language), NULL,
      "Language of the Plaid Link screens." },
    { "plaid", "webhook_url", MLC_CFG_URL, NULL, 0, 0, NULL, 0, F(plaid.webhook_url),
      "https://mlc.example.com/plaid/webhook",
      "Public address where Plaid announces new transactions; not set = the schedule alone." },
    { "plaid", "sync_count", MLC_CFG_INT, "500", 1, 500, NULL, 0, F(plaid.sync_count), NULL,
      "Transactions asked for per /transactions/sync page (Plaid allows 1..500)." },
    { "plaid", "balance_source", MLC_CFG_ENUM, "live", 0, 0, "live|cached", 0,
      F(plaid.balance_source), NULL,
      "live asks the bank for the balance now; cached uses Plaid's last known balance." },

    { "exact", "region", MLC_CFG_ENUM, "nl", 0, 0, "nl|be|de|fr|es|uk|us", 0, F(exact.region), NULL,
      "Country of the Exact Online subscription; it picks the start.exactonline.* address." },
    { "exact", "base_url", MLC_CFG_URL, NULL, 0, 0, NULL, 0, F(exact.base_url), "http://127.0.0.1:9200",
      "Replaces the region's Exact address; only for tests against an emulator." },
    { "exact", "redirect_uri", MLC_CFG_URL, NULL, 0, 0, NULL, 0, F(exact.redirect_uri),
      "https://mlc.example.com/exact/callback",
      "Redirect URI of the app in Exact's App Center, character for character." },
    { "exact", "divisions", MLC_CFG_INT_LIST, NULL, 1, 2147483647, NULL, 0, F(exact.divisions),
      "123456, 234567", "Exact division numbers (administrations) to post into, separated by commas." },
    { "exact", "keepalive_days", MLC_CFG_INT, "20", 1, 29, NULL, 0, F(exact.keepalive_days), NULL,
      "Renew the Exact connection after this many idle days; Exact drops it after 30 unused days." },
    { "exact", "closed_periods", MLC_CFG_ENUM, "hold", 0, 0, "hold|first_open", 0,
      F(exact.closed_periods), NULL,
      "A bank line dated in a period closed in Exact: hold it for a person, or post it on the "
      "first day of the first open period after it." },

    { "schedule", "mode", MLC_CFG_ENUM, "daily", 0, 0, "daily|weekly|interval", 0, F(schedule.mode),
      NULL, "When to fetch and post: once a day, once a week, or every interval." },
    { "schedule", "at", MLC_CFG_TIME, "06:00", 0, 0, NULL, 0, F(schedule.at), NULL,
      "Local time of day of the daily or weekly run." },
    { "schedule", "day", MLC_CFG_ENUM, NULL, 0, 0, "mon|tue|wed|thu|fri|sat|sun", 0, F(schedule.day),
      "mon", "Day of the weekly run; needed with mode = weekly, refused otherwise." },
    { "schedule", "interval", MLC_CFG_DURATION, "1h", 5 * MINUTE, 7 * DAY, NULL, 0,
      F(schedule.interval), NULL, "Time between runs with mode = interval." },

    { "status", "bind", MLC_CFG_HOSTPORT, "127.0.0.1:8080", 1, 65535, NULL, MLC_CFG_RESTART, F(status.bind), NULL,
      "Address and port of the status page; keep 127.0.0.1 unless a proxy guards it." },
    { "status", "public_url", MLC_CFG_URL, NULL, 0, 0, NULL, 0, F(status.public_url),
      "https://mlc.example.com", "Address people use to reach the status page, for links it shows." },

    { "http", "connect_timeout", MLC_CFG_DURATION, "10s", 1, 5 * MINUTE, NULL, 0,
      F(http.connect_timeout), NULL, "Give up connecting to Plaid or Exact after this long." },
    { "http", "total_timeout", MLC_CFG_DURATION, "60s", 1, HOUR, NULL, 0, F(http.total_timeout), NULL,
      "Give up on one request after this long; at least connect_timeout." },
    { "http", "low_speed_time", MLC_CFG_DURATION, "30s", 1, HOUR, NULL, 0, F(http.low_speed_time), NULL,
      "Give up on a request that receives nothing for this long." },
    { "http", "max_response", MLC_CFG_SIZE, "16M", 64 * KIB, 256 * MIB, NULL, 0, F(http.max_response),
      NULL, "Largest answer accepted from Plaid or Exact." },

    { "alerts", "email_to", MLC_CFG_STRING, NULL, 0, 0, NULL, 0, F(alerts.email_to),
      "office@example.com, it@example.com", "Who gets alert e-mails, separated by commas; not set = no e-mail." },
    { "alerts", "email_from", MLC_CFG_STRING, NULL, 0, 0, NULL, 0, F(alerts.email_from),
      "mlc@example.com", "Sender address of alert e-mails; needed with email_to." },
    { "alerts", "smtp_url", MLC_CFG_URL, NULL, 0, 0, "smtp|smtps", 0, F(alerts.smtp_url),
      "smtp://mail.example.com:587",
      "Mail server: smtp:// (STARTTLS is required) or smtps://. Password: mlc secret set smtp.password." },
    { "alerts", "smtp_user", MLC_CFG_STRING, NULL, 0, 0, NULL, 0, F(alerts.smtp_user),
      "mlc@example.com", "User name for the mail server; not set = send without logging in." },
    { "alerts", "webhook_url", MLC_CFG_URL, NULL, 0, 0, NULL, 0, F(alerts.webhook_url),
      "https://hooks.example.com/mlc", "Also POST each alert as JSON to this address; not set = no POST." },
    { "alerts", "resend_interval", MLC_CFG_DURATION, "24h", 5 * MINUTE, 30 * DAY, NULL, 0,
      F(alerts.resend_interval), NULL, "Repeat an alert that is still open after this long." },
    { "alerts", "failed_runs_threshold", MLC_CFG_INT, "3", 1, 100, NULL, 0,
      F(alerts.failed_runs_threshold), NULL, "Raise an alert when this many runs in a row fail." },

    /* Word order of profile = enum mlc_board_kind (tests/unit/test_board.c checks it). */
    { "board", "profile", MLC_CFG_ENUM, "none", 0, 0, "none|raspberry-pi|gateway|host", MLC_CFG_RESTART,
      F(board.profile), NULL,
      "Device type: LEDs to show the state on and the default memory_budget (raspberry-pi: 8M)." },
    { "board", "led_status", MLC_CFG_PATH, NULL, 0, 0, NULL, MLC_CFG_RESTART, F(board.led_status),
      "/sys/class/leds/status",
      "LED that shows the state (on ok, slow blink syncing, fast blink needs a person); needed for gateway and host." },
    { "board", "led_attention", MLC_CFG_PATH, NULL, 0, 0, NULL, MLC_CFG_RESTART,
      F(board.led_attention), "/sys/class/leds/fault",
      "Second LED that blinks only when a person is needed; not set = the profile's, if any." },
    { "board", "led_active_low", MLC_CFG_BOOL, "false", 0, 0, NULL, MLC_CFG_RESTART,
      F(board.led_active_low), NULL, "Set to true if the LEDs light when they should be off." },

    { "division", "name", MLC_CFG_STRING, NULL, 0, 0, NULL, MLC_CFG_PER_DIVISION, D(name),
      "\"Main office\"", "Name of the division in the log and on the status page." },
    { "division", "schedule_at", MLC_CFG_TIME, NULL, 0, 0, NULL, MLC_CFG_PER_DIVISION, D(schedule_at),
      "07:30", "Time of day of this division's run, instead of [schedule] at." },
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))
#define MAX_ERRORS 20
#define SHOW_MAX 48 /* characters of a bad value echoed in a message */

const struct mlc_config_key *mlc_config_keys(size_t *count)
{
    if (count)
        *count = NKEYS;
    return keys;
}

/* ---- small text helpers ---- */

static int lower(int ch)
{
    return ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch;
}

static bool is_digit(int ch)
{
    return ch >= '0' && ch <= '9';
}

static bool eq_nocase(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    if (alen != blen)
        return false;
    for (size_t i = 0; i < alen; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return false;
    return true;
}

static bool contains_nocase(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strlen(hay) >= n && eq_nocase(hay, n, needle))
            return true;
    return false;
}

/* The i-th word of a '|' list into out; false when there is none. */
static bool word_at(const char *words, size_t i, char *out, size_t cap)
{
    const char *p = words;
    for (; i > 0 && p; i--) {
        p = strchr(p, '|');
        if (p)
            p++;
    }
    if (!p)
        return false;
    size_t n = strcspn(p, "|");
    if (n >= cap)
        n = cap - 1;
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}

/* Index of s (case-insensitive) in a '|' list, or -1. */
static int word_index(const char *words, const char *s, size_t slen)
{
    char w[32];
    for (size_t i = 0; word_at(words, i, w, sizeof(w)); i++)
        if (eq_nocase(s, slen, w))
            return (int)i;
    return -1;
}

/* Copies a value from the file for a message: printable ASCII only, cut at SHOW_MAX. */
static const char *show(const char *s, char *buf, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; s[i] && o + 4 < cap; i++) {
        if (i == SHOW_MAX) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        unsigned char ch = (unsigned char)s[i];
        buf[o++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    buf[o] = '\0';
    return buf;
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t row[65];
    if (la > 64 || lb > 64)
        return (size_t)-1;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = lower((unsigned char)a[i - 1]) == lower((unsigned char)b[j - 1]) ? 0 : 1;
            size_t best = diag + cost;
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* A plausible typo: at most 2 edits, and fewer edits than the word is long. */
static bool close_enough(const char *typed, const char *known, size_t *best)
{
    size_t d = edit_distance(typed, known);
    if (d <= 2 && d < strlen(typed) && d < *best) {
        *best = d;
        return true;
    }
    return false;
}

/* ---- value parsers ---- */

int mlc_config_parse_bool(const char *s, int *out)
{
    static const char *const t[] = { "true", "yes", "on" }, *const f[] = { "false", "no", "off" };
    for (size_t i = 0; i < 3; i++) {
        if (eq_nocase(s, strlen(s), t[i])) {
            *out = 1;
            return MLC_OK;
        }
        if (eq_nocase(s, strlen(s), f[i])) {
            *out = 0;
            return MLC_OK;
        }
    }
    return MLC_ERR_CONFIG;
}

/* Unsigned decimal digits at *p (advanced), without overflow. */
static int parse_digits(const char **p, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    if (!is_digit((unsigned char)*s))
        return MLC_ERR_CONFIG;
    for (; is_digit((unsigned char)*s); s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return MLC_ERR_CONFIG;
        v = v * 10 + d;
    }
    *p = s;
    *out = v;
    return MLC_OK;
}

int mlc_config_parse_int(const char *s, int64_t *out)
{
    bool neg = *s == '-';
    uint64_t v;
    if (neg)
        s++;
    if (parse_digits(&s, &v) != MLC_OK || *s)
        return MLC_ERR_CONFIG;
    if (v > (uint64_t)INT64_MAX)
        return MLC_ERR_CONFIG;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return MLC_OK;
}

int mlc_config_parse_size(const char *s, uint64_t *out)
{
    uint64_t v, mul = 1;
    if (parse_digits(&s, &v) != MLC_OK)
        return MLC_ERR_CONFIG;
    while (*s == ' ')
        s++;
    switch (lower((unsigned char)*s)) {
    case 'k': mul = 1ULL << 10; s++; break;
    case 'm': mul = 1ULL << 20; s++; break;
    case 'g': mul = 1ULL << 30; s++; break;
    case 't': mul = 1ULL << 40; s++; break;
    default: break;
    }
    /* "16M", "16MB", "16MiB" and "1024B" all mean what an installer expects. */
    if (mul > 1 && *s == 'i')
        s++;
    if (lower((unsigned char)*s) == 'b')
        s++;
    if (*s)
        return MLC_ERR_CONFIG;
    if (v > UINT64_MAX / mul)
        return MLC_ERR_CONFIG;
    *out = v * mul;
    return MLC_OK;
}

int mlc_config_parse_duration(const char *s, int64_t *seconds)
{
    uint64_t total = 0, v;
    if (parse_digits(&s, &v) != MLC_OK)
        return MLC_ERR_CONFIG;
    if (!*s) { /* a bare number is seconds */
        if (v > (uint64_t)INT64_MAX)
            return MLC_ERR_CONFIG;
        *seconds = (int64_t)v;
        return MLC_OK;
    }
    for (;;) {
        uint64_t unit;
        switch (lower((unsigned char)*s)) {
        case 's': unit = 1; break;
        case 'm': unit = MINUTE; break;
        case 'h': unit = HOUR; break;
        case 'd': unit = DAY; break;
        default: return MLC_ERR_CONFIG;
        }
        s++;
        if (v > (uint64_t)INT64_MAX / unit || total > (uint64_t)INT64_MAX - v * unit)
            return MLC_ERR_CONFIG;
        total += v * unit;
        if (!*s)
            break;
        if (parse_digits(&s, &v) != MLC_OK)
            return MLC_ERR_CONFIG;
    }
    *seconds = (int64_t)total;
    return MLC_OK;
}

int mlc_config_parse_time(const char *s, int *minutes)
{
    size_t n = strlen(s);
    if (n < 4 || n > 5 || s[n - 3] != ':')
        return MLC_ERR_CONFIG;
    for (size_t i = 0; i < n; i++)
        if (i != n - 3 && !is_digit((unsigned char)s[i]))
            return MLC_ERR_CONFIG;
    int h = n == 5 ? (s[0] - '0') * 10 + (s[1] - '0') : s[0] - '0';
    int m = (s[n - 2] - '0') * 10 + (s[n - 1] - '0');
    if (h > 23 || m > 59)
        return MLC_ERR_CONFIG;
    *minutes = h * 60 + m;
    return MLC_OK;
}

static bool host_char(int ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || is_digit(ch) || ch == '.' ||
           ch == '-';
}

static bool v6_char(int ch)
{
    return is_digit(ch) || (lower(ch) >= 'a' && lower(ch) <= 'f') || ch == ':' || ch == '.';
}

/* Checks a host (name, IPv4, or [IPv6]) of n bytes. */
static bool host_ok(const char *h, size_t n)
{
    if (n == 0 || n >= MLC_CONFIG_HOST_MAX)
        return false;
    if (h[0] == '[') {
        if (n < 3 || h[n - 1] != ']')
            return false;
        for (size_t i = 1; i + 1 < n; i++)
            if (!v6_char((unsigned char)h[i]))
                return false;
        return true;
    }
    for (size_t i = 0; i < n; i++)
        if (!host_char((unsigned char)h[i]))
            return false;
    return true;
}

static int parse_port(const char *s, int *port)
{
    uint64_t v;
    if (parse_digits(&s, &v) != MLC_OK || *s || v < 1 || v > 65535)
        return MLC_ERR_CONFIG;
    *port = (int)v;
    return MLC_OK;
}

int mlc_config_parse_hostport(const char *s, struct mlc_config_hostport *out)
{
    const char *colon = s[0] == '[' ? strstr(s, "]:") : strrchr(s, ':');
    if (!colon)
        return MLC_ERR_CONFIG;
    if (s[0] == '[')
        colon++;
    size_t hn = (size_t)(colon - s);
    if (!host_ok(s, hn) || (s[0] != '[' && memchr(s, ':', hn)))
        return MLC_ERR_CONFIG;
    int port;
    if (parse_port(colon + 1, &port) != MLC_OK)
        return MLC_ERR_CONFIG;
    if (s[0] == '[') { /* keep the address without its brackets */
        s++;
        hn -= 2;
    }
    memset(out, 0, sizeof(*out)); /* whole struct defined: configs compare with memcmp */
    memcpy(out->host, s, hn);
    out->port = port;
    return MLC_OK;
}

/* The scheme of s when it is one of schemes ('|'-separated; NULL = http|https) followed by "://":
 * returns the length of "scheme://", else 0. */
static size_t url_scheme_len(const char *s, const char *schemes)
{
    const char *w = schemes ? schemes : "http|https";
    while (*w) {
        size_t n = strcspn(w, "|");
        if (strncmp(s, w, n) == 0 && strncmp(s + n, "://", 3) == 0)
            return n + 3;
        w += n + (w[n] == '|');
    }
    return 0;
}

/* 0 = fine, 1 = not a URL of the allowed schemes, 2 = holds a user name or password. */
static int url_check_schemes(const char *s, const char *schemes)
{
    size_t skip = url_scheme_len(s, schemes);
    if (skip == 0)
        return 1;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return 1;
    const char *auth = s + skip;
    size_t an = strcspn(auth, "/?#");
    if (memchr(auth, '@', an))
        return 2;
    const char *port = auth[0] == '[' ? memchr(auth, ']', an) : memchr(auth, ':', an);
    size_t hn = an;
    if (port) {
        if (auth[0] == '[')
            port++;
        hn = (size_t)(port - auth);
        if (hn < an) {
            char pbuf[8];
            size_t pn = an - hn - 1;
            if (*port != ':' || pn == 0 || pn >= sizeof(pbuf))
                return 1;
            memcpy(pbuf, port + 1, pn);
            pbuf[pn] = '\0';
            int pv;
            if (parse_port(pbuf, &pv) != MLC_OK)
                return 1;
        }
    }
    return host_ok(auth, hn) ? 0 : 1;
}

static int url_check(const char *s)
{
    return url_check_schemes(s, NULL);
}

/* "smtp|smtps" -> "smtp:// or smtps://", for messages. */
static void schemes_text(const char *schemes, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (const char *w = schemes; *w && used < cap;) {
        size_t n = strcspn(w, "|");
        int last = w[n] == '\0';
        int k = snprintf(out + used, cap - used, "%s%.*s://", used ? (last ? " or " : ", ") : "",
                         (int)n, w);
        if (k < 0)
            break;
        used += (size_t)k;
        w += n + !last;
    }
}

int mlc_config_check_url(const char *s)
{
    return url_check(s) == 0 ? MLC_OK : MLC_ERR_CONFIG;
}

/* 0 if s is UTF-8 text without control characters. */
static int text_check(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t extra;
        if (c < 0x20 || c == 0x7f)
            return -1;
        if (c < 0x80)
            extra = 0;
        else if (c >= 0xc2 && c <= 0xdf)
            extra = 1;
        else if (c >= 0xe0 && c <= 0xef)
            extra = 2;
        else if (c >= 0xf0 && c <= 0xf4)
            extra = 3;
        else
            return -1;
        if (n - i <= extra)
            return -1;
        for (size_t k = 1; k <= extra; k++)
            if (((unsigned char)s[i + k] & 0xc0) != 0x80)
                return -1;
        i += extra + 1;
    }
    return 0;
}

/* ---- describing keys ---- */

static void fmt_size(uint64_t v, char *buf, size_t cap)
{
    static const char units[] = "TGMK";
    for (int i = 0; i < 4; i++) {
        uint64_t u = 1ULL << (10 * (4 - i));
        if (v && v % u == 0) {
            snprintf(buf, cap, "%llu%c", (unsigned long long)(v / u), units[i]);
            return;
        }
    }
    snprintf(buf, cap, "%llu", (unsigned long long)v);
}

static void fmt_duration(int64_t v, char *buf, size_t cap)
{
    static const struct { int64_t secs; char unit; } u[] = {
        { DAY, 'd' }, { HOUR, 'h' }, { MINUTE, 'm' }, { 1, 's' }
    };
    size_t o = 0;
    buf[0] = '\0';
    if (v == 0)
        snprintf(buf, cap, "0s");
    for (size_t i = 0; i < 4 && v > 0; i++) {
        if (v >= u[i].secs) {
            int n = snprintf(buf + o, cap - o, "%lld%c", (long long)(v / u[i].secs), u[i].unit);
            if (n < 0 || (size_t)n >= cap - o)
                return;
            o += (size_t)n;
            v %= u[i].secs;
        }
    }
}

static void words_list(const char *words, char *buf, size_t cap)
{
    char w[32];
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; word_at(words, i, w, sizeof(w)); i++) {
        int n = snprintf(buf + o, cap - o, "%s%s", i ? ", " : "", w);
        if (n < 0 || (size_t)n >= cap - o)
            return;
        o += (size_t)n;
    }
}

static const char *type_name(enum mlc_config_type t)
{
    switch (t) {
    case MLC_CFG_STRING: return "text";
    case MLC_CFG_PATH: return "path";
    case MLC_CFG_BOOL: return "yes/no";
    case MLC_CFG_INT: return "whole number";
    case MLC_CFG_SIZE: return "size";
    case MLC_CFG_DURATION: return "duration";
    case MLC_CFG_ENUM: return "word";
    case MLC_CFG_WORDS: return "word list";
    case MLC_CFG_URL: return "URL";
    case MLC_CFG_TIME: return "time of day";
    case MLC_CFG_INT_LIST: return "number list";
    case MLC_CFG_HOSTPORT: return "host:port";
    }
    return "value";
}

/* What the key accepts, for "allowed:" in messages and for the reference. */
static void describe_allowed(const struct mlc_config_key *k, char *buf, size_t cap)
{
    char a[32], b[32], w[400];
    switch (k->type) {
    case MLC_CFG_STRING:
        snprintf(buf, cap, "text up to %zu bytes; quote it to keep # or ; in it", k->size - 1);
        break;
    case MLC_CFG_PATH:
        snprintf(buf, cap, "an absolute path starting with /, up to %zu bytes", k->size - 1);
        break;
    case MLC_CFG_BOOL:
        snprintf(buf, cap, "true, false, yes, no, on, off");
        break;
    case MLC_CFG_INT:
        snprintf(buf, cap, "%lld..%lld", (long long)k->min, (long long)k->max);
        break;
    case MLC_CFG_SIZE:
        fmt_size((uint64_t)k->min, a, sizeof(a));
        fmt_size((uint64_t)k->max, b, sizeof(b));
        snprintf(buf, cap, "%s%s..%s (K, M, G = 1024, 1024^2, 1024^3 bytes)",
                 (k->flags & MLC_CFG_ZERO_OK) ? "0 or " : "", a, b);
        break;
    case MLC_CFG_DURATION:
        fmt_duration(k->min, a, sizeof(a));
        fmt_duration(k->max, b, sizeof(b));
        snprintf(buf, cap, "%s..%s (s, m, h, d; e.g. 90s, 1h30m)", a, b);
        break;
    case MLC_CFG_ENUM:
        words_list(k->words, w, sizeof(w));
        snprintf(buf, cap, "%s", w);
        break;
    case MLC_CFG_WORDS:
        words_list(k->words, w, sizeof(w));
        if (k->max == 1)
            snprintf(buf, cap, "one of %s", w);
        else
            snprintf(buf, cap, "%lld to %lld of %s, separated by commas", (long long)k->min,
                     (long long)k->max, w);
        break;
    case MLC_CFG_URL:
        if (k->words) { /* a URL row's words are its schemes, e.g. smtp|smtps */
            char sch[96];
            schemes_text(k->words, sch, sizeof(sch));
            snprintf(buf, cap, "a URL starting with %s, up to %zu bytes, without user or "
                     "password", sch, k->size - 1);
        } else {
            snprintf(buf, cap, "an http:// or https:// URL up to %zu bytes, without user or password",
                     k->size - 1);
        }
        break;
    case MLC_CFG_TIME:
        snprintf(buf, cap, "HH:MM, 00:00..23:59");
        break;
    case MLC_CFG_INT_LIST:
        snprintf(buf, cap, "whole numbers %lld..%lld separated by commas, at most %d",
                 (long long)k->min, (long long)k->max, MLC_CONFIG_DIVISIONS_MAX);
        break;
    case MLC_CFG_HOSTPORT:
        snprintf(buf, cap, "host:port such as 127.0.0.1:8080 or [::1]:8080, port 1..65535");
        break;
    }
}

/* ---- storing a value ---- */

/* Parses value for key k into the field at base + k->offset. On failure writes what is wrong
 * (never the value of a key that could hold a secret) into why and returns -1. */
static int set_value(const struct mlc_config_key *k, void *base, const char *value, char *why,
                     size_t whycap)
{
    char *field = (char *)base + k->offset;
    char shown[SHOW_MAX + 8];
    size_t vlen = strlen(value);
    show(value, shown, sizeof(shown));

    switch (k->type) {
    case MLC_CFG_STRING:
    case MLC_CFG_PATH:
    case MLC_CFG_URL: {
        if (vlen >= k->size) {
            snprintf(why, whycap, "the value is %zu bytes long, too long", vlen);
            return -1;
        }
        if (k->type == MLC_CFG_PATH && value[0] != '/') {
            snprintf(why, whycap, "'%s' is not an absolute path", shown);
            return -1;
        }
        if (k->type == MLC_CFG_URL) {
            int u = url_check_schemes(value, k->words);
            if (u == 2) {
                snprintf(why, whycap, "a URL must not hold a user name or password (secrets do not "
                                      "belong in the config file)");
                return -1;
            }
            if (u && k->words) {
                char sch[96];
                schemes_text(k->words, sch, sizeof(sch));
                snprintf(why, whycap, "'%s' is not a URL starting with %s", shown, sch);
                return -1;
            }
            if (u) {
                snprintf(why, whycap, "'%s' is not an http:// or https:// URL", shown);
                return -1;
            }
        }
        memcpy(field, value, vlen + 1);
        return 0;
    }
    case MLC_CFG_BOOL: {
        int b;
        if (mlc_config_parse_bool(value, &b) != MLC_OK) {
            snprintf(why, whycap, "'%s' is not yes or no", shown);
            return -1;
        }
        *(int *)(void *)field = b;
        return 0;
    }
    case MLC_CFG_INT: {
        int64_t v;
        if (mlc_config_parse_int(value, &v) != MLC_OK) {
            snprintf(why, whycap, "'%s' is not a whole number", shown);
            return -1;
        }
        if (v < k->min || v > k->max) {
            snprintf(why, whycap, "%s is out of range", shown);
            return -1;
        }
        *(int *)(void *)field = (int)v;
        return 0;
    }
    case MLC_CFG_SIZE: {
        uint64_t v;
        if (mlc_config_parse_size(value, &v) != MLC_OK) {
            snprintf(why, whycap, "'%s' is not a size", shown);
            return -1;
        }
        if (!(v == 0 && (k->flags & MLC_CFG_ZERO_OK)) &&
            (v < (uint64_t)k->min || v > (uint64_t)k->max)) {
            snprintf(why, whycap, "%s is out of range", shown);
            return -1;
        }
        *(uint64_t *)(void *)field = v;
        return 0;
    }
    case MLC_CFG_DURATION: {
        int64_t v;
        if (mlc_config_parse_duration(value, &v) != MLC_OK) {
            snprintf(why, whycap, "'%s' is not a duration", shown);
            return -1;
        }
        if (v < k->min || v > k->max) {
            snprintf(why, whycap, "%s is out of range", shown);
            return -1;
        }
        *(int64_t *)(void *)field = v;
        return 0;
    }
    case MLC_CFG_ENUM: {
        int i = word_index(k->words, value, vlen);
        if (i < 0) {
            snprintf(why, whycap, "'%s' is not allowed", shown);
            return -1;
        }
        *(int *)(void *)field = i;
        return 0;
    }
    case MLC_CFG_TIME: {
        int m;
        if (mlc_config_parse_time(value, &m) != MLC_OK) {
            snprintf(why, whycap, "'%s' is not a time of day", shown);
            return -1;
        }
        *(int *)(void *)field = m;
        return 0;
    }
    case MLC_CFG_HOSTPORT: {
        struct mlc_config_hostport hp;
        if (mlc_config_parse_hostport(value, &hp) != MLC_OK) {
            snprintf(why, whycap, "'%s' is not host:port", shown);
            return -1;
        }
        memcpy(field, &hp, sizeof(hp));
        return 0;
    }
    case MLC_CFG_WORDS:
    case MLC_CFG_INT_LIST:
        break;
    }

    /* Comma-separated lists. */
    struct mlc_config_int_list ints = { .n = 0 };
    char norm[256];
    size_t nlen = 0, count = 0;
    int seen[64] = { 0 };
    const char *p = value;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n && (*p == ' ' || *p == '\t')) {
            p++;
            n--;
        }
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        char item[64];
        if (n == 0) {
            snprintf(why, whycap, "an item between commas is empty");
            return -1;
        }
        if (n >= sizeof(item)) {
            snprintf(why, whycap, "an item is too long");
            return -1;
        }
        memcpy(item, p, n);
        item[n] = '\0';
        show(item, shown, sizeof(shown));
        count++;
        if (k->type == MLC_CFG_WORDS) {
            int i = word_index(k->words, item, n);
            if (i < 0 || i >= 64) {
                snprintf(why, whycap, "'%s' is not allowed", shown);
                return -1;
            }
            if (seen[i]) {
                snprintf(why, whycap, "'%s' is listed twice", shown);
                return -1;
            }
            seen[i] = 1;
            if ((int64_t)count > k->max) {
                snprintf(why, whycap, "more than %lld item%s", (long long)k->max,
                         k->max == 1 ? "" : "s");
                return -1;
            }
            char w[32];
            word_at(k->words, (size_t)i, w, sizeof(w));
            int wn = snprintf(norm + nlen, sizeof(norm) - nlen, "%s%s", nlen ? "," : "", w);
            if (wn < 0 || (size_t)wn >= sizeof(norm) - nlen) {
                snprintf(why, whycap, "the list is too long");
                return -1;
            }
            nlen += (size_t)wn;
        } else {
            int64_t v;
            if (mlc_config_parse_int(item, &v) != MLC_OK) {
                snprintf(why, whycap, "'%s' is not a whole number", shown);
                return -1;
            }
            if (v < k->min || v > k->max) {
                snprintf(why, whycap, "%s is out of range", shown);
                return -1;
            }
            for (size_t j = 0; j < ints.n; j++) {
                if (ints.v[j] == (int)v) {
                    snprintf(why, whycap, "%s is listed twice", shown);
                    return -1;
                }
            }
            if (ints.n == MLC_CONFIG_DIVISIONS_MAX) {
                snprintf(why, whycap, "more than %d numbers", MLC_CONFIG_DIVISIONS_MAX);
                return -1;
            }
            ints.v[ints.n++] = (int)v;
        }
        if (!end)
            break;
        p = end + 1;
    }
    if (k->type == MLC_CFG_WORDS) {
        if ((int64_t)count < k->min) {
            snprintf(why, whycap, "fewer than %lld items", (long long)k->min);
            return -1;
        }
        if (nlen >= k->size) {
            snprintf(why, whycap, "the list is too long");
            return -1;
        }
        memcpy(field, norm, nlen + 1);
    } else {
        memcpy(field, &ints, sizeof(ints));
    }
    return 0;
}

/* The "not set" value of a key without a default. */
static void set_unset(const struct mlc_config_key *k, void *base)
{
    char *field = (char *)base + k->offset;
    memset(field, 0, k->size);
    if (k->type == MLC_CFG_TIME || k->type == MLC_CFG_ENUM)
        *(int *)(void *)field = -1;
}

static void apply_defaults(void *base, unsigned per_division)
{
    char why[160];
    for (size_t i = 0; i < NKEYS; i++) {
        if ((keys[i].flags & MLC_CFG_PER_DIVISION) != per_division)
            continue;
        /* Defaults are text parsed like the file; test_config checks every one is valid. */
        if (!keys[i].def || set_value(&keys[i], base, keys[i].def, why, sizeof(why)) != 0)
            set_unset(&keys[i], base);
    }
}

void mlc_config_defaults(struct mlc_config *c)
{
    memset(c, 0, sizeof(*c));
    apply_defaults(c, 0);
}

void mlc_config_free(struct mlc_config *c)
{
    if (c)
        memset(c, 0, sizeof(*c));
}

/* ---- the parser ---- */

enum sect_kind { SECT_NONE, SECT_KNOWN, SECT_DIVISION, SECT_UNKNOWN };

struct parse {
    const char *name;
    char *err;
    size_t errcap, errlen;
    int nerr, dropped;
    struct mlc_config cfg;
    int key_line[NKEYS];          /* line where a key was set; 0 = not set */
    int sect_line[NKEYS];         /* by the section's first row */
    int div_line[MLC_CONFIG_DIVISIONS_MAX];
    int div_key_line[MLC_CONFIG_DIVISIONS_MAX][NKEYS];
    enum sect_kind kind;
    size_t sect_row;              /* SECT_KNOWN: first row of the section */
    size_t div;                   /* SECT_DIVISION: index in cfg.division */
    char sect[80];                /* section as shown in messages: "plaid", "division 12345" */
    char line[MLC_CONFIG_LINE_MAX + 1];
    char value[MLC_CONFIG_LINE_MAX + 1];
};

/* Adds one message line: "<file>:<line>: [<section>] <key>: <message>". */
static void report(struct parse *p, int line, const char *sect, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void report(struct parse *p, int line, const char *sect, const char *key, const char *fmt, ...)
{
    char msg[1024], where[24] = "";
    p->nerr++;
    if (p->nerr > MAX_ERRORS) {
        p->dropped++;
        return;
    }
    if (line > 0)
        snprintf(where, sizeof(where), ":%d", line);
    bool has_sect = sect && *sect;
    int n = snprintf(msg, sizeof(msg), "%s%s: %s%s%s%s%s%s", p->name, where, has_sect ? "[" : "",
                     has_sect ? sect : "", has_sect ? "]" : "", has_sect && key ? " " : "",
                     key ? key : "", has_sect || key ? ": " : "");
    if (n < 0)
        return;
    size_t o = (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + o, sizeof(msg) - o, fmt, ap);
    va_end(ap);

    size_t len = strlen(msg), sep = p->errlen ? 1 : 0;
    if (!p->err || p->errlen + sep + len + 1 > p->errcap) {
        p->dropped++;
        return;
    }
    if (sep)
        p->err[p->errlen++] = '\n';
    memcpy(p->err + p->errlen, msg, len + 1);
    p->errlen += len;
}

static size_t find_row(const char *section, const char *name, size_t namelen)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].section, section) == 0 && strlen(keys[i].name) == namelen &&
            memcmp(keys[i].name, name, namelen) == 0)
            return i;
    return NKEYS;
}

static size_t find_section(const char *s, size_t n)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (!(keys[i].flags & MLC_CFG_PER_DIVISION) && strlen(keys[i].section) == n &&
            memcmp(keys[i].section, s, n) == 0)
            return i;
    return NKEYS;
}

static const char *section_list(char *buf, size_t cap)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < NKEYS; i++) {
        if (i > 0 && strcmp(keys[i].section, keys[i - 1].section) == 0)
            continue;
        bool div = keys[i].flags & MLC_CFG_PER_DIVISION;
        int n = snprintf(buf + o, cap - o, "%s[%s%s]", o ? ", " : "", keys[i].section,
                         div ? " N" : "");
        if (n < 0 || (size_t)n >= cap - o)
            break;
        o += (size_t)n;
    }
    return buf;
}

/* Does a key name look like it holds a secret? Checked in every section, known or not. */
static bool secret_name(const char *key)
{
    static const char *const words[] = { "secret", "password", "passwd", "token", "api_key",
                                         "apikey", "private_key" };
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (contains_nocase(key, words[i]))
            return true;
    return false;
}

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* Rest of a line after a value or header: only blanks or a comment may follow. */
static bool rest_is_blank(const char *s)
{
    while (is_space(*s))
        s++;
    return *s == '\0' || *s == '#' || *s == ';';
}

static void section_header(struct parse *p, int lineno, char *s)
{
    char shown[SHOW_MAX + 8], allowed[256];
    char *close = strchr(s, ']');
    p->kind = SECT_UNKNOWN; /* keys below a broken header are not checked again */
    snprintf(p->sect, sizeof(p->sect), "%s", show(s, shown, sizeof(shown)));
    if (!close || !rest_is_blank(close + 1)) {
        p->sect[0] = '\0';
        report(p, lineno, NULL, NULL, "a section line must be [name] alone; allowed: %s",
               section_list(allowed, sizeof(allowed)));
        return;
    }
    *close = '\0';
    s++;
    while (is_space(*s))
        s++;
    size_t n = strlen(s);
    while (n && is_space(s[n - 1]))
        s[--n] = '\0';
    size_t wn = strcspn(s, " \t");
    snprintf(p->sect, sizeof(p->sect), "%s", show(s, shown, sizeof(shown)));

    if (wn == 8 && memcmp(s, "division", 8) == 0) {
        const char *num = s + wn;
        while (is_space(*num))
            num++;
        int64_t id;
        size_t r = find_row("exact", "divisions", 9);
        if (mlc_config_parse_int(num, &id) != MLC_OK || id < keys[r].min || id > keys[r].max) {
            report(p, lineno, p->sect, NULL,
                   "a division section needs the division number; allowed: [division N], "
                   "N in %lld..%lld", (long long)keys[r].min, (long long)keys[r].max);
            return;
        }
        snprintf(p->sect, sizeof(p->sect), "division %lld", (long long)id);
        for (size_t i = 0; i < p->cfg.n_division; i++) {
            if (p->cfg.division[i].id == (int)id) {
                report(p, lineno, p->sect, NULL,
                       "this section appears twice (first on line %d); allowed: one section per "
                       "division", p->div_line[i]);
                return;
            }
        }
        if (p->cfg.n_division == MLC_CONFIG_DIVISIONS_MAX) {
            report(p, lineno, p->sect, NULL, "too many division sections; allowed: at most %d",
                   MLC_CONFIG_DIVISIONS_MAX);
            return;
        }
        p->div = p->cfg.n_division++;
        p->div_line[p->div] = lineno;
        struct mlc_config_division *d = &p->cfg.division[p->div];
        apply_defaults(d, MLC_CFG_PER_DIVISION);
        d->id = (int)id;
        p->kind = SECT_DIVISION;
        return;
    }

    size_t row = wn == n ? find_section(s, n) : NKEYS;
    if (row == NKEYS) {
        size_t best = 3;
        const char *guess = NULL;
        for (size_t i = 0; i < NKEYS; i++)
            if (close_enough(s, keys[i].section, &best))
                guess = keys[i].section;
        char hint[64] = "";
        if (guess)
            snprintf(hint, sizeof(hint), " (did you mean [%s]?)", guess);
        report(p, lineno, p->sect, NULL, "unknown section%s; allowed: %s", hint,
               section_list(allowed, sizeof(allowed)));
        return;
    }
    if (p->sect_line[row]) {
        report(p, lineno, p->sect, NULL,
               "this section appears twice (first on line %d); allowed: one [%s] section",
               p->sect_line[row], keys[row].section);
        return;
    }
    p->sect_line[row] = lineno;
    p->sect_row = row;
    p->kind = SECT_KNOWN;
}

/* Reads the value after '=' into p->value; -1 after reporting a problem. */
static int read_value(struct parse *p, int lineno, const char *key, const char *s)
{
    size_t o = 0;
    while (is_space(*s))
        s++;
    if (*s == '"') {
        for (s++; *s && *s != '"'; s++) {
            if (*s == '\\' && (s[1] == '"' || s[1] == '\\'))
                s++;
            p->value[o++] = *s;
        }
        if (*s != '"') {
            report(p, lineno, p->sect, key, "the closing quote is missing; allowed: \"text\"");
            return -1;
        }
        if (!rest_is_blank(s + 1)) {
            report(p, lineno, p->sect, key,
                   "there is text after the closing quote; allowed: a comment after # or ;");
            return -1;
        }
        p->value[o] = '\0';
        return 0;
    }
    /* Unquoted: a # or ; at the start or after a blank begins a comment. */
    for (; *s; s++) {
        if ((*s == '#' || *s == ';') && (o == 0 || is_space(s[-1])))
            break;
        p->value[o++] = *s;
    }
    while (o && is_space(p->value[o - 1]))
        o--;
    p->value[o] = '\0';
    return 0;
}

static void key_line(struct parse *p, int lineno, char *s)
{
    char allowed[512], keyname[SHOW_MAX + 1];
    size_t kn = 0;
    while (s[kn] && (host_char((unsigned char)s[kn]) || s[kn] == '_'))
        kn++;
    const char *after = s + kn;
    while (is_space(*after))
        after++;
    /* The key as shown and matched: its name characters only, cut at SHOW_MAX. */
    size_t kshow = kn < SHOW_MAX ? kn : SHOW_MAX;
    memcpy(keyname, s, kshow);
    keyname[kshow] = '\0';

    /* A secret is refused before anything else, and its value is never repeated. */
    if (kn && secret_name(keyname)) {
        char where[96] = "";
        size_t o = 0;
        for (const char *c = p->kind == SECT_UNKNOWN || p->kind == SECT_NONE ? "" : p->sect;
             *c && o + 1 < sizeof(where); c++)
            where[o++] = *c == ' ' ? '.' : *c;
        where[o] = '\0';
        report(p, lineno, p->sect, keyname,
               "secrets do not belong in the config file; store it with 'mlc secret set %s%s%s' "
               "and remove this line", where, *where ? "." : "", keyname);
        return;
    }
    if (kn == 0 || *after != '=') {
        report(p, lineno, p->sect, NULL,
               "this line is not 'key = value'; allowed: key = value, [section], or a comment "
               "starting with # or ;");
        return;
    }
    if (p->kind == SECT_UNKNOWN)
        return; /* the section line was reported already */

    unsigned per_div = p->kind == SECT_DIVISION ? MLC_CFG_PER_DIVISION : 0;
    const char *section = per_div ? "division" : p->kind == SECT_KNOWN ? keys[p->sect_row].section : "";
    size_t row = find_row(section, s, kn);
    if (p->kind == SECT_NONE || row == NKEYS) {
        /* Help the installer find the right place or spelling. */
        const char *home = NULL, *guess = NULL;
        size_t best = 3;
        for (size_t i = 0; i < NKEYS; i++) {
            if (strcmp(keys[i].name, keyname) == 0 && !home)
                home = keys[i].section;
            if (strcmp(keys[i].section, section) == 0 && close_enough(keyname, keys[i].name, &best))
                guess = keys[i].name;
        }
        if (p->kind == SECT_NONE) {
            report(p, lineno, NULL, keyname, "this key is outside any section; allowed: put it "
                   "below its section line%s%s%s", home ? ", [" : "", home ? home : "",
                   home ? "]" : "");
            return;
        }
        if (!contains_nocase(keyname, "verif") && !contains_nocase(keyname, "insecure")) {
            char hint[128] = "";
            if (home && strcmp(home, "division") == 0)
                snprintf(hint, sizeof(hint), " here (it belongs in a [division N] section)");
            else if (home)
                snprintf(hint, sizeof(hint), " here (it belongs in [%s])", home);
            else if (guess)
                snprintf(hint, sizeof(hint), " (did you mean '%s'?)", guess);
            size_t o = 0;
            allowed[0] = '\0';
            for (size_t i = 0; i < NKEYS; i++) {
                if (strcmp(keys[i].section, section) != 0)
                    continue;
                int n = snprintf(allowed + o, sizeof(allowed) - o, "%s%s", o ? ", " : "",
                                 keys[i].name);
                if (n < 0 || (size_t)n >= sizeof(allowed) - o)
                    break;
                o += (size_t)n;
            }
            report(p, lineno, p->sect, keyname, "unknown key%s; allowed: %s", hint, allowed);
        } else {
            report(p, lineno, p->sect, keyname,
                   "TLS certificate checks cannot be turned off; allowed: remove this line "
                   "(to trust a test CA, set [agent] ca_bundle)");
        }
        return;
    }

    int *seen = per_div ? &p->div_key_line[p->div][row] : &p->key_line[row];
    if (*seen) {
        report(p, lineno, p->sect, keyname,
               "set twice (first on line %d); allowed: one value per key", *seen);
        return;
    }
    *seen = lineno;

    if (read_value(p, lineno, keyname, after + 1) != 0)
        return;
    describe_allowed(&keys[row], allowed, sizeof(allowed));
    if (p->value[0] == '\0') {
        report(p, lineno, p->sect, keyname, "the value is missing; allowed: %s (to use the "
               "default, remove the line or put # in front)", allowed);
        return;
    }
    if (text_check(p->value, strlen(p->value)) != 0) {
        report(p, lineno, p->sect, keyname,
               "the value holds a control character or is not UTF-8 text; allowed: %s", allowed);
        return;
    }
    void *base = per_div ? (void *)&p->cfg.division[p->div] : (void *)&p->cfg;
    char why[256];
    if (set_value(&keys[row], base, p->value, why, sizeof(why)) != 0)
        report(p, lineno, p->sect, keyname, "%s; allowed: %s", why, allowed);
}

static int line_of(const struct parse *p, const char *section, const char *key)
{
    return p->key_line[find_row(section, key, strlen(key))];
}

/* Rules between keys, checked once every line is read. */
static void cross_check(struct parse *p)
{
    const struct mlc_config *c = &p->cfg;
    char a[32], b[32];
    if (c->store.map_size > c->store.map_size_max) {
        fmt_size(c->store.map_size, a, sizeof(a));
        fmt_size(c->store.map_size_max, b, sizeof(b));
        int l = line_of(p, "store", "map_size_max");
        if (l)
            report(p, l, "store", "map_size_max", "%s is smaller than map_size (%s); allowed: "
                   "at least map_size", b, a);
        else
            report(p, line_of(p, "store", "map_size"), "store", "map_size", "%s is larger than "
                   "map_size_max (%s); allowed: at most map_size_max, or raise map_size_max", a, b);
    }
    if (c->http.connect_timeout > c->http.total_timeout) {
        fmt_duration(c->http.connect_timeout, a, sizeof(a));
        fmt_duration(c->http.total_timeout, b, sizeof(b));
        int l = line_of(p, "http", "total_timeout");
        if (l)
            report(p, l, "http", "total_timeout", "%s is shorter than connect_timeout (%s); "
                   "allowed: at least connect_timeout", b, a);
        else
            report(p, line_of(p, "http", "connect_timeout"), "http", "connect_timeout", "%s is "
                   "longer than total_timeout (%s); allowed: at most total_timeout", a, b);
    }
    if (c->schedule.mode == MLC_SCHEDULE_WEEKLY && c->schedule.day < 0)
        report(p, line_of(p, "schedule", "mode"), "schedule", "day",
               "missing; mode = weekly needs a day; allowed: mon, tue, wed, thu, fri, sat, sun");
    if (c->schedule.mode != MLC_SCHEDULE_WEEKLY && line_of(p, "schedule", "day"))
        report(p, line_of(p, "schedule", "day"), "schedule", "day",
               "only used with mode = weekly; allowed: remove this line, or set mode = weekly");
    if (c->schedule.mode != MLC_SCHEDULE_INTERVAL && line_of(p, "schedule", "interval"))
        report(p, line_of(p, "schedule", "interval"), "schedule", "interval",
               "only used with mode = interval; allowed: remove this line, or set mode = interval");
    if (c->schedule.mode == MLC_SCHEDULE_INTERVAL && line_of(p, "schedule", "at"))
        report(p, line_of(p, "schedule", "at"), "schedule", "at",
               "not used with mode = interval; allowed: remove this line, or set mode = daily");
    for (size_t i = 0; i < c->n_division; i++) {
        bool listed = false;
        for (size_t j = 0; j < c->exact.divisions.n; j++)
            listed |= c->exact.divisions.v[j] == c->division[i].id;
        if (!listed) {
            char sect[40];
            snprintf(sect, sizeof(sect), "division %d", c->division[i].id);
            report(p, p->div_line[i], sect, NULL, "division %d is not in [exact] divisions; "
                   "allowed: add it to divisions, or remove this section", c->division[i].id);
        }
    }
}

int mlc_config_parse(struct mlc_config *out, const char *text, size_t len, const char *name,
                     char *err, size_t errcap)
{
    int rc = MLC_ERR_CONFIG;
    struct parse *p = mlc_calloc(1, sizeof(*p));
    if (err && errcap)
        err[0] = '\0';
    if (!p) {
        if (err && errcap)
            snprintf(err, errcap, "%s: not enough memory to read the configuration", name);
        return MLC_ERR_NOMEM;
    }
    p->name = name ? name : "config";
    p->err = errcap ? err : NULL;
    p->errcap = errcap;
    mlc_config_defaults(&p->cfg);

    if (len > MLC_CONFIG_FILE_MAX) {
        report(p, 0, NULL, NULL, "the file is larger than %d bytes; allowed: a configuration "
               "up to 1 MiB", MLC_CONFIG_FILE_MAX);
        goto out;
    }
    size_t pos = 0;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        pos = 3; /* a UTF-8 BOM, as some Windows editors write */
    for (int lineno = 1; pos < len; lineno++) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        const char *ln = text + pos;
        pos += n + (nl ? 1 : 0);
        if (n && ln[n - 1] == '\r')
            n--; /* CRLF line ends */
        if (n > MLC_CONFIG_LINE_MAX) {
            report(p, lineno, p->sect, NULL, "this line is longer than %d bytes; allowed: "
                   "lines up to %d bytes", MLC_CONFIG_LINE_MAX, MLC_CONFIG_LINE_MAX);
            continue;
        }
        if (memchr(ln, '\0', n)) {
            report(p, lineno, p->sect, NULL, "this line holds a NUL byte; allowed: plain text");
            continue;
        }
        memcpy(p->line, ln, n);
        p->line[n] = '\0';
        char *s = p->line;
        while (is_space(*s))
            s++;
        if (*s == '\0' || *s == '#' || *s == ';')
            continue;
        if (*s == '[')
            section_header(p, lineno, s);
        else
            key_line(p, lineno, s);
    }
    if (p->nerr == 0)
        cross_check(p);
out:
    if (p->nerr == 0) {
        memcpy(out, &p->cfg, sizeof(*out)); /* padding too: configs compare with memcmp */
        rc = MLC_OK;
    } else if (p->dropped && p->err) {
        char more[MLC_CONFIG_PATH_MAX + 96];
        int n = snprintf(more, sizeof(more), "%s%s: %d more problems not shown; fix these and "
                         "check again", p->errlen ? "\n" : "", p->name, p->dropped);
        if (n > 0 && (size_t)n < sizeof(more) && p->errlen + (size_t)n + 1 <= p->errcap) {
            memcpy(p->err + p->errlen, more, (size_t)n + 1);
            p->errlen += (size_t)n;
        }
    }
    mlc_free(p);
    return rc;
}

int mlc_config_load(struct mlc_config *out, const char *path, char *err, size_t errcap)
{
    char *text = NULL;
    size_t len = 0;
    int rc = mlc_fs_read_file(path, MLC_CONFIG_FILE_MAX, &text, &len);
    if (rc != MLC_OK) {
        const char *what = rc == MLC_ERR_NOTFOUND ? "the configuration file does not exist; "
                                                    "create it with 'mlc init' or pass --config FILE"
                           : rc == MLC_ERR_TOO_BIG ? "the file is larger than 1 MiB; allowed: a "
                                                     "configuration up to 1 MiB"
                           : rc == MLC_ERR_NOMEM ? "not enough memory to read the configuration"
                                                 : "cannot read the file; check it exists and the "
                                                   "agent's user may read it";
        if (err && errcap)
            snprintf(err, errcap, "%s: %s", path, what);
        return rc == MLC_ERR_NOMEM ? rc : MLC_ERR_CONFIG;
    }
    rc = mlc_config_parse(out, text, len, path, err, errcap);
    mlc_free(text);
    return rc;
}

int mlc_config_reload(struct mlc_config *cur, const char *path, char *err, size_t errcap)
{
    struct mlc_config *next = mlc_malloc(sizeof(*next));
    if (!next) {
        if (err && errcap)
            snprintf(err, errcap, "%s: not enough memory to reload; the old configuration stays",
                     path);
        return MLC_ERR_NOMEM;
    }
    int rc = mlc_config_load(next, path, err, errcap);
    if (rc == MLC_OK) {
        mlc_config_free(cur);
        memcpy(cur, next, sizeof(*cur));
    }
    mlc_free(next);
    return rc;
}

size_t mlc_config_restart_needed(const struct mlc_config *cur, const struct mlc_config *next,
                                 char *names, size_t cap)
{
    size_t count = 0, o = 0;
    if (names && cap)
        names[0] = '\0';
    for (size_t i = 0; i < NKEYS; i++) {
        const struct mlc_config_key *k = &keys[i];
        if (!(k->flags & MLC_CFG_RESTART) || (k->flags & MLC_CFG_PER_DIVISION))
            continue;
        if (memcmp((const char *)cur + k->offset, (const char *)next + k->offset, k->size) == 0)
            continue;
        count++;
        if (names && cap > o) {
            int n = snprintf(names + o, cap - o, "%s[%s] %s", o ? ", " : "", k->section, k->name);
            o = n < 0 ? o : (size_t)n < cap - o ? o + (size_t)n : cap - 1;
        }
    }
    return count;
}

const struct mlc_config_division *mlc_config_division_find(const struct mlc_config *c, int id)
{
    for (size_t i = 0; i < c->n_division; i++)
        if (c->division[i].id == id)
            return &c->division[i];
    return NULL;
}

const char *mlc_config_exact_base_url(const struct mlc_config *c)
{
    /* Regional hosts: reference/exact-online.md section 2; order = enum mlc_exact_region. */
    static const char *const hosts[] = {
        "https://start.exactonline.nl", "https://start.exactonline.be",
        "https://start.exactonline.de", "https://start.exactonline.fr",
        "https://start.exactonline.es", "https://start.exactonline.co.uk",
        "https://start.exactonline.com",
    };
    if (c->exact.base_url[0])
        return c->exact.base_url;
    if (c->exact.region < 0 || (size_t)c->exact.region >= sizeof(hosts) / sizeof(hosts[0]))
        return hosts[0];
    return hosts[c->exact.region];
}

const char *mlc_config_plaid_base_url(const struct mlc_config *c)
{
    /* reference/plaid.md section 1 (the spec's servers:). */
    if (c->plaid.base_url[0])
        return c->plaid.base_url;
    return c->plaid.environment == MLC_PLAID_PRODUCTION ? "https://production.plaid.com"
                                                        : "https://sandbox.plaid.com";
}

/* ---- reference and example ---- */

int mlc_config_print_reference(FILE *out)
{
    char allowed[512];
    for (size_t i = 0; i < NKEYS; i++) {
        const struct mlc_config_key *k = &keys[i];
        bool div = k->flags & MLC_CFG_PER_DIVISION;
        if (i == 0 || strcmp(k->section, keys[i - 1].section) != 0)
            fprintf(out, "%s[%s%s]\n", i ? "\n" : "", k->section, div ? " N" : "");
        describe_allowed(k, allowed, sizeof(allowed));
        fprintf(out, "  %s (%s)\n      %s%s\n      allowed: %s\n      default: %s\n", k->name,
                type_name(k->type), k->help,
                (k->flags & MLC_CFG_RESTART) ? " A change needs a restart." : "", allowed,
                k->def ? k->def : "not set");
    }
    return ferror(out) ? MLC_ERR_IO : MLC_OK;
}

/* The file format, documented once: this is the head of etc/mlc.conf.example. */
static const char example_header[] =
    "# ml-connector configuration (mlc.conf)\n"
    "#\n"
    "# Format\n"
    "#   - One setting per line: key = value. Blanks around '=' do not matter.\n"
    "#   - [name] starts a section; each section may appear once.\n"
    "#     [division N] holds the settings of Exact division N, which must be\n"
    "#     listed in [exact] divisions; up to 64 such sections.\n"
    "#   - A line starting with # or ; is a comment. In a value, # or ; after a\n"
    "#     blank starts a comment too. To keep # or ; in a value, put the value\n"
    "#     in double quotes: \"a ; b\". Inside quotes, write \\\" for a quote and\n"
    "#     \\\\ for a backslash.\n"
    "#   - Section and key names are lower case. Each key may be set once.\n"
    "#     Listed words (info, weekly, NL, ...) may be written in any case.\n"
    "#   - Sizes: bytes, or with K, M, G (1024, 1024^2, 1024^3): 64K, 16M, 1G.\n"
    "#   - Durations: seconds, or with s, m, h, d: 90s, 5m, 1h30m, 7d.\n"
    "#   - Times of day: HH:MM, 24-hour local time. Lists: items separated by\n"
    "#     commas.\n"
    "#   - UTF-8 text; Windows line ends and a byte-order mark are fine.\n"
    "#     At most 1 MiB, and 4096 bytes per line.\n"
    "#\n"
    "# Secrets (the Plaid secret, the Exact client secret, tokens, passwords) are\n"
    "# refused here. Store them in the agent's vault instead, for example:\n"
    "#   mlc secret set exact.client_secret\n"
    "#\n"
    "# Every setting below shows its default, commented out. To change one,\n"
    "# remove the # in front of it and edit the value.\n";

/* Appends text as "# " comment lines of at most 80 columns, so it reads well in nano. */
static int append_comment(struct mlc_buf *b, const char *text)
{
    int rc = MLC_OK;
    const char *indent = "";
    while (*text && rc == MLC_OK) {
        size_t room = 78 - strlen(indent), n = strlen(text);
        if (n > room) {
            n = room;
            while (n > 0 && text[n] != ' ')
                n--;
            if (n == 0)
                n = room;
        }
        rc = mlc_buf_printf(b, "# %s%.*s\n", indent, (int)n, text);
        text += n;
        while (*text == ' ')
            text++;
        indent = "  ";
    }
    return rc;
}

int mlc_config_example_text(char **text, size_t *len)
{
    struct mlc_buf b;
    char allowed[512];
    int rc = MLC_OK;
    mlc_buf_init(&b, 64 * 1024);
    rc = mlc_buf_append_str(&b, example_header);
    for (size_t i = 0; i < NKEYS && rc == MLC_OK; i++) {
        const struct mlc_config_key *k = &keys[i];
        if (i == 0 || strcmp(k->section, keys[i - 1].section) != 0) {
            /* No division exists by default, so its section is commented out too. */
            if (k->flags & MLC_CFG_PER_DIVISION)
                rc = mlc_buf_printf(&b, "\n# The settings of one Exact division; repeat the section "
                                        "for each.\n#[%s 123456]\n", k->section);
            else
                rc = mlc_buf_printf(&b, "\n[%s]\n", k->section);
        } else {
            rc = mlc_buf_append_str(&b, "\n");
        }
        describe_allowed(k, allowed, sizeof(allowed));
        if (rc == MLC_OK)
            rc = append_comment(&b, k->help);
        if (rc == MLC_OK) {
            char line[600];
            snprintf(line, sizeof(line), "Allowed: %s.", allowed);
            rc = append_comment(&b, line);
        }
        if (rc == MLC_OK && k->def)
            rc = mlc_buf_printf(&b, "#%s = %s\n", k->name, k->def);
        else if (rc == MLC_OK)
            rc = mlc_buf_printf(&b, "# Not set by default. For example:\n#%s = %s\n", k->name,
                                k->example ? k->example : "");
    }
    if (rc != MLC_OK) {
        mlc_buf_free(&b);
        return rc == MLC_ERR_TOO_BIG ? MLC_ERR_INTERNAL : rc;
    }
    *text = mlc_buf_take(&b, len);
    return *text ? MLC_OK : MLC_ERR_NOMEM;
}

int mlc_config_write_example(const char *path)
{
    char *text = NULL;
    size_t len = 0;
    if (mlc_fs_exists(path))
        return MLC_ERR_EXISTS;
    int rc = mlc_config_example_text(&text, &len);
    if (rc == MLC_OK)
        rc = mlc_fs_write_atomic(path, text, len, 0644);
    mlc_free(text);
    return rc;
}
