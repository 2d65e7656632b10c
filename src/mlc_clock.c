#include "mlc_clock.h"
#include "mlc_date.h"
#include "mlc_alert.h"
#include "mlc_err.h"
#include "mlc_log.h"
#include "mlc_platform.h"

#include <stdio.h>
#include <string.h>

static const char *const day_names[7] = { "Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed" };
/* indexed by (days since 1970-01-01) mod 7: the epoch was a Thursday */
static const char *const month_names[12] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* n decimal digits at s into *v; -1 if any is not a digit. */
static int digits(const char *s, int n, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return 0;
}

int mlc_clock_parse_http_date(const char *s, int64_t *epoch_ms)
{
    /* "Sun, 06 Nov 1994 08:49:37 GMT": fixed positions, 29 characters. */
    if (!s || strlen(s) != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' ||
        s[16] != ' ' || s[19] != ':' || s[22] != ':' || s[25] != ' ' || strcmp(s + 26, "GMT") != 0)
        return MLC_ERR_DATA;
    int day, year, hh, mm, ss;
    if (digits(s + 5, 2, &day) || digits(s + 12, 4, &year) || digits(s + 17, 2, &hh) ||
        digits(s + 20, 2, &mm) || digits(s + 23, 2, &ss))
        return MLC_ERR_DATA;
    int month = -1;
    for (int i = 0; i < 12; i++)
        if (memcmp(s + 8, month_names[i], 3) == 0)
            month = i + 1;
    static const unsigned mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    /* 60 seconds is a leap second, which the header may carry; POSIX time folds it into :59. */
    if (month < 0 || day < 1 || hh > 23 || mm > 59 || ss > 60 || year < 1970)
        return MLC_ERR_DATA;
    unsigned dim = mdays[month - 1] + (month == 2 && is_leap(year));
    if ((unsigned)day > dim)
        return MLC_ERR_DATA;
    int64_t days = mlc_days_from_civil(year, (unsigned)month, (unsigned)day);
    if (memcmp(s, day_names[days % 7], 3) != 0)
        return MLC_ERR_DATA;
    if (ss == 60)
        ss = 59;
    *epoch_ms = ((days * 24 + hh) * 60 + mm) * 60000LL + ss * 1000LL;
    return MLC_OK;
}

/* Splits epoch ms (>= 0) into calendar parts. */
static int split(int64_t ms, int64_t *days, int64_t *y, unsigned *mo, unsigned *d, int *h,
                 int *mi, int *s)
{
    if (ms < 0)
        return MLC_ERR_DATA;
    int64_t secs = ms / 1000;
    *days = secs / 86400;
    int64_t rem = secs % 86400;
    mlc_civil_from_days(*days, y, mo, d);
    *h = (int)(rem / 3600);
    *mi = (int)(rem % 3600 / 60);
    *s = (int)(rem % 60);
    return *y > 9999 ? MLC_ERR_DATA : MLC_OK;
}

int mlc_clock_format_http_date(int64_t epoch_ms, char *out, size_t cap)
{
    int64_t days, y;
    unsigned mo, d;
    int h, mi, s;
    if (split(epoch_ms, &days, &y, &mo, &d, &h, &mi, &s) != MLC_OK)
        return MLC_ERR_DATA;
    int n = snprintf(out, cap, "%s, %02u %s %04lld %02d:%02d:%02d GMT", day_names[days % 7], d,
                     month_names[mo - 1], (long long)y, h, mi, s);
    return n < 0 || (size_t)n >= cap ? MLC_ERR_TOO_BIG : MLC_OK;
}

int mlc_clock_format_mail_date(int64_t epoch_ms, char *out, size_t cap)
{
    int64_t days, y;
    unsigned mo, d;
    int h, mi, s;
    if (split(epoch_ms, &days, &y, &mo, &d, &h, &mi, &s) != MLC_OK)
        return MLC_ERR_DATA;
    int n = snprintf(out, cap, "%s, %02u %s %04lld %02d:%02d:%02d +0000", day_names[days % 7], d,
                     month_names[mo - 1], (long long)y, h, mi, s);
    return n < 0 || (size_t)n >= cap ? MLC_ERR_TOO_BIG : MLC_OK;
}

int64_t mlc_clock_offset_ms(int64_t date_ms, int64_t now_ms, int64_t elapsed_ms)
{
    if (elapsed_ms < 0)
        elapsed_ms = 0;
    if (now_ms < date_ms)
        return now_ms - date_ms;                  /* behind: negative */
    int64_t latest = date_ms + 1000 + elapsed_ms; /* second truncation + time on the wire */
    return now_ms > latest ? now_ms - latest : 0;
}

void mlc_clock_init(struct mlc_clock_sanity *c, int64_t skew_max_ms)
{
    memset(c, 0, sizeof(*c));
    c->skew_max_ms = skew_max_ms > 0 ? skew_max_ms : MLC_CLOCK_SKEW_DEFAULT_MS;
}

static int64_t abs64(int64_t v)
{
    return v < 0 ? -v : v;
}

int mlc_clock_state_trustworthy(const struct mlc_clock_sanity *c, int64_t now_ms)
{
    if (now_ms < MLC_CLOCK_FLOOR_MS)
        return 0;
    return !c->skewed;
}

int mlc_clock_observe(struct mlc_clock_sanity *c, const char *date_header, int64_t now_ms,
                      int64_t elapsed_ms, const char *source, int *changed)
{
    if (changed)
        *changed = 0;
    int64_t date_ms;
    if (mlc_clock_parse_http_date(date_header, &date_ms) != MLC_OK)
        return MLC_ERR_DATA;
    int before = mlc_clock_state_trustworthy(c, now_ms);
    int64_t off = mlc_clock_offset_ms(date_ms, now_ms, elapsed_ms);
    c->observed = 1;
    c->offset_ms = off;
    c->checked_ms = now_ms;
    snprintf(c->source, sizeof(c->source), "%s", source ? source : "an API");
    if (abs64(off) > c->skew_max_ms) {
        c->skewed = 1;
        c->good_streak = 0;
    } else if (c->skewed && ++c->good_streak >= MLC_CLOCK_SETTLE_SAMPLES) {
        c->skewed = 0;
    }
    int after = mlc_clock_state_trustworthy(c, now_ms);
    if (changed)
        *changed = before != after;
    if (before != after || (!after && c->good_streak == 0))
        mlc_log(after ? MLC_LOG_INFO : MLC_LOG_WARN, "clock",
                "clock_%s offset_ms=%lld source=%s", after ? "trusted" : "skewed",
                (long long)off, c->source);
    return MLC_OK;
}

/* "7 minutes", "3 hours", "12 seconds". */
static void fmt_amount(int64_t ms, char *out, size_t cap)
{
    /* Rounded, not cut: a measured 9 min 59.7 s is "10 minutes" to a person. */
    int64_t s = (abs64(ms) + 500) / 1000;
    if (s >= 2 * 86400)
        snprintf(out, cap, "%lld days", (long long)((s + 43200) / 86400));
    else if (s >= 2 * 3600)
        snprintf(out, cap, "%lld hours", (long long)((s + 1800) / 3600));
    else if (s >= 120)
        snprintf(out, cap, "%lld minutes", (long long)((s + 30) / 60));
    else
        snprintf(out, cap, "%lld seconds", (long long)s);
}

void mlc_clock_describe(const struct mlc_clock_sanity *c, int64_t now_ms, char *out, size_t cap)
{
    char amt[32], lim[32];
    if (now_ms < MLC_CLOCK_FLOOR_MS) {
        snprintf(out, cap, "The clock of this device is wrong (it says the year is before 2025); "
                           "time-sensitive work waits until NTP sets it");
        return;
    }
    if (!c->observed) {
        snprintf(out, cap, "The clock has not been compared with Plaid or Exact yet");
        return;
    }
    fmt_amount(c->offset_ms, amt, sizeof(amt));
    fmt_amount(c->skew_max_ms, lim, sizeof(lim));
    if (c->skewed)
        snprintf(out, cap, "The clock of this device is %s %s %s's clock (more than the %s "
                           "allowed); time-sensitive work waits until NTP corrects it",
                 amt, c->offset_ms > 0 ? "ahead of" : "behind", c->source, lim);
    else
        snprintf(out, cap, "The clock agrees with %s's clock (within %s)", c->source, lim);
}

int mlc_clock_sync_alert(struct mlc_txn *txn, const struct mlc_clock_sanity *c, int64_t now_ms)
{
    if (mlc_clock_state_trustworthy(c, now_ms))
        return mlc_alert_resolve(txn, MLC_ALERT_CLOCK_SKEW, "clock", now_ms);
    char msg[MLC_ALERT_MESSAGE_MAX + 1];
    mlc_clock_describe(c, now_ms, msg, sizeof(msg));
    return mlc_alert_raise(txn, MLC_ALERT_CLOCK_SKEW, "clock", MLC_ALERT_NEEDS_PERSON, msg,
                           "timedatectl status  (check that NTP is on and reaches a server)",
                           now_ms, NULL);
}

static struct mlc_clock_sanity global_clock = { MLC_CLOCK_SKEW_DEFAULT_MS, 0, 0, 0, 0, 0, "" };

struct mlc_clock_sanity *mlc_clock_global(void)
{
    return &global_clock;
}

int mlc_clock_observe_answer(const char *date_header, int64_t elapsed_ms, const char *source)
{
    return mlc_clock_observe(&global_clock, date_header, mlc_time_now_ms(), elapsed_ms, source,
                             NULL);
}

int mlc_clock_trustworthy(void)
{
    return mlc_clock_state_trustworthy(&global_clock, mlc_time_now_ms());
}
