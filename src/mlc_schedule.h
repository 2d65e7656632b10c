/* When the next sync run is due: daily at a time, weekly on a day at a time, or every interval,
 * in the box's local time zone, with runs missed while the box was off caught up at once and
 * webhook bursts coalesced. Pure functions of (schedule, last run, now): no clock, no I/O. */
#ifndef MLC_SCHEDULE_H
#define MLC_SCHEDULE_H
#include <stdint.h>

#include "mlc_config.h" /* enum mlc_schedule_mode */

struct mlc_schedule {
    int mode;              /* enum mlc_schedule_mode */
    int at_minutes;        /* daily/weekly: minutes after local midnight */
    int weekday;           /* weekly: 0 = Monday .. 6 = Sunday */
    int64_t interval_ms;   /* interval mode */
};

/* The most recent time at or before now_ms when a run was due (epoch ms), or INT64_MIN if none
 * (interval mode before any run). */
int64_t mlc_schedule_prev_due(const struct mlc_schedule *s, int64_t now_ms);
/* The first due time strictly after after_ms. */
int64_t mlc_schedule_next_due(const struct mlc_schedule *s, int64_t after_ms);
/* When the next run should start, given the last completed run (0 = never):
 *  - never ran, or a due time passed since the last run (the box was off): now (catch-up);
 *  - otherwise the next due time after now. */
int64_t mlc_schedule_next_run(const struct mlc_schedule *s, int64_t last_run_ms, int64_t now_ms);

/* Webhooks bring a run forward, coalesced: a burst of notifications inside `window_ms` yields one
 * run at first_ms + window_ms; a run already due earlier wins. Returns the new run time. */
int64_t mlc_schedule_bring_forward(int64_t scheduled_ms, int64_t notify_ms, int64_t pending_ms,
                                   int64_t window_ms);
#endif
