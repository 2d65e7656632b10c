/* systemd's service notification protocol, spoken directly (no libsystemd): one datagram per
 * message ("READY=1", "WATCHDOG=1", "STOPPING=1", "STATUS=...") to the AF_UNIX socket named in
 * $NOTIFY_SOCKET, and the watchdog period from $WATCHDOG_USEC/$WATCHDOG_PID (sd_notify(3),
 * sd_watchdog_enabled(3)). Owns one datagram socket; never blocks. Without NOTIFY_SOCKET (not run
 * by systemd, or Type=simple) every call is a no-op that succeeds. */
#ifndef MLC_WATCHDOG_H
#define MLC_WATCHDOG_H
#include <stddef.h>
#include <stdint.h>

#define MLC_WATCHDOG_STATUS_MAX 200 /* bytes of STATUS= text; longer text is cut */

struct mlc_watchdog;

/* Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from the environment and opens the socket.
 * On success *out is a handle (a disabled one when NOTIFY_SOCKET is unset). A malformed variable
 * is MLC_ERR_CONFIG with one line in err; *out is then NULL. */
int mlc_watchdog_from_env(struct mlc_watchdog **out, char *err, size_t errcap);
/* The same from given values (NULL = unset), for tests and for callers that read them earlier.
 * self_pid is this process's id, compared with watchdog_pid. */
int mlc_watchdog_open(struct mlc_watchdog **out, const char *notify_socket, const char *watchdog_usec,
                      const char *watchdog_pid, long self_pid, char *err, size_t errcap);
void mlc_watchdog_free(struct mlc_watchdog *w);

/* 1 if notifications go anywhere (NOTIFY_SOCKET was set). */
int mlc_watchdog_enabled(const struct mlc_watchdog *w);
/* The watchdog timeout systemd enforces (WatchdogSec=) in microseconds; 0 = no watchdog. */
uint64_t mlc_watchdog_usec(const struct mlc_watchdog *w);
/* How often to ping, in ms: half the timeout, as sd_watchdog_enabled(3) recommends, so one late
 * wake-up does not get the agent killed. 0 = no watchdog, do not arm a timer. */
int64_t mlc_watchdog_interval_ms(const struct mlc_watchdog *w);

/* Each sends one message. 0, MLC_ERR_RETRY if the socket is full (systemd busy; the next ping
 * will do), MLC_ERR_IO otherwise. NULL or a disabled handle: 0. */
int mlc_watchdog_ready(struct mlc_watchdog *w);     /* start-up done: systemd's start succeeds */
int mlc_watchdog_reloading(struct mlc_watchdog *w); /* SIGHUP taken; send ready again after */
int mlc_watchdog_stopping(struct mlc_watchdog *w);  /* shutdown begun */
/* "STATUS=<text>" shown by systemctl status. Control characters (a newline would start another
 * assignment) become spaces; text past MLC_WATCHDOG_STATUS_MAX bytes is cut. */
int mlc_watchdog_status(struct mlc_watchdog *w, const char *text);
/* "WATCHDOG=1" now, and remembers now_ms for mlc_watchdog_tick. */
int mlc_watchdog_ping(struct mlc_watchdog *w, int64_t now_ms);
/* Pings if an interval has passed since the last ping (or none was sent yet). For a loop that
 * calls it on every wake-up: returns 1 when it pinged, 0 when not due, or a negative mlc_err. */
int mlc_watchdog_tick(struct mlc_watchdog *w, int64_t now_ms);
#endif
