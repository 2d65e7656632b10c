#include "mlc_schedule.h"

#include <time.h>

/* Local midnight of the day holding t, plus `minutes`, via mktime so DST is the C library's job:
 * a time that does not exist on a spring-forward day is moved forward by the gap. */
static int64_t local_at(time_t t, int day_offset, int minutes)
{
    struct tm tm;
    localtime_r(&t, &tm);
    tm.tm_mday += day_offset;
    tm.tm_hour = minutes / 60;
    tm.tm_min = minutes % 60;
    tm.tm_sec = 0;
    tm.tm_isdst = -1;
    return (int64_t)mktime(&tm) * 1000;
}

static int local_weekday(time_t t)
{
    struct tm tm;
    localtime_r(&t, &tm);
    return (tm.tm_wday + 6) % 7; /* Monday = 0 */
}

int64_t mlc_schedule_prev_due(const struct mlc_schedule *s, int64_t now_ms)
{
    time_t now = (time_t)(now_ms / 1000);
    if (s->mode == MLC_SCHEDULE_INTERVAL)
        return INT64_MIN;
    for (int back = 0; back <= 8; back++) {
        int64_t due = local_at(now, -back, s->at_minutes);
        if (due > now_ms)
            continue;
        if (s->mode == MLC_SCHEDULE_WEEKLY && local_weekday((time_t)(due / 1000)) != s->weekday)
            continue;
        return due;
    }
    return INT64_MIN;
}

int64_t mlc_schedule_next_due(const struct mlc_schedule *s, int64_t after_ms)
{
    if (s->mode == MLC_SCHEDULE_INTERVAL)
        return after_ms + (s->interval_ms > 0 ? s->interval_ms : 3600000);
    time_t base = (time_t)(after_ms / 1000);
    for (int fwd = 0; fwd <= 8; fwd++) {
        int64_t due = local_at(base, fwd, s->at_minutes);
        if (due <= after_ms)
            continue;
        if (s->mode == MLC_SCHEDULE_WEEKLY && local_weekday((time_t)(due / 1000)) != s->weekday)
            continue;
        return due;
    }
    return after_ms + 86400000; /* unreachable for valid schedules */
}

int64_t mlc_schedule_next_run(const struct mlc_schedule *s, int64_t last_run_ms, int64_t now_ms)
{
    if (last_run_ms <= 0)
        return now_ms;
    if (s->mode == MLC_SCHEDULE_INTERVAL) {
        int64_t next = last_run_ms + (s->interval_ms > 0 ? s->interval_ms : 3600000);
        return next <= now_ms ? now_ms : next;
    }
    int64_t prev = mlc_schedule_prev_due(s, now_ms);
    if (prev != INT64_MIN && prev > last_run_ms)
        return now_ms; /* missed while the box was off (or never ran since): catch up now */
    return mlc_schedule_next_due(s, now_ms);
}

int64_t mlc_schedule_bring_forward(int64_t scheduled_ms, int64_t notify_ms, int64_t pending_ms,
                                   int64_t window_ms)
{
    /* A coalescing window already open keeps its time: the burst joins it. */
    int64_t want = pending_ms > 0 ? pending_ms : notify_ms + window_ms;
    return scheduled_ms < want ? scheduled_ms : want;
}
