#include "mlc_watchdog.h"
#include "mlc_alloc.h"
#include "mlc_err.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* A watchdog longer than a day is a typo; it also keeps the ms arithmetic far from overflow. */
#define USEC_MAX (86400ULL * 1000000ULL)

struct mlc_watchdog {
    int fd;                      /* -1 = disabled */
    struct sockaddr_un addr;
    socklen_t addr_len;
    uint64_t usec;               /* 0 = no watchdog */
    int64_t last_ping_ms;
    int pinged;
};

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (!s || !*s)
        return MLC_ERR_DATA;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return MLC_ERR_DATA;
        unsigned d = (unsigned)(*s - '0');
        if (v > (max - d) / 10)
            return MLC_ERR_DATA;
        v = v * 10 + d;
    }
    *out = v;
    return MLC_OK;
}

static void set_err(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    if (!err || !cap)
        return;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

int mlc_watchdog_open(struct mlc_watchdog **out, const char *notify_socket, const char *watchdog_usec,
                      const char *watchdog_pid, long self_pid, char *err, size_t errcap)
{
    int rc;
    struct mlc_watchdog *w = mlc_calloc(1, sizeof(*w));
    *out = NULL;
    if (err && errcap)
        err[0] = '\0';
    if (!w) {
        set_err(err, errcap, "%s", "out of memory while setting up the systemd notification");
        return MLC_ERR_NOMEM;
    }
    w->fd = -1;
    if (!notify_socket || !*notify_socket) {
        *out = w; /* not run by systemd's Type=notify: nothing to tell */
        return MLC_OK;
    }

    size_t n = strlen(notify_socket);
    w->addr.sun_family = AF_UNIX;
    if (notify_socket[0] == '/' && n < sizeof(w->addr.sun_path)) {
        memcpy(w->addr.sun_path, notify_socket, n + 1);
        w->addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    } else if (notify_socket[0] == '@' && n >= 2 && n <= sizeof(w->addr.sun_path)) {
        /* abstract name: a leading NUL, and the length counts exactly the name's bytes */
        w->addr.sun_path[0] = '\0';
        memcpy(w->addr.sun_path + 1, notify_socket + 1, n - 1);
        w->addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        set_err(err, errcap, "NOTIFY_SOCKET='%.100s' is not a socket path or @name; start mlc "
                "through its systemd unit or unset NOTIFY_SOCKET", notify_socket);
        rc = MLC_ERR_CONFIG;
        goto out;
    }

    uint64_t usec = 0, pid = 0;
    if (watchdog_usec && *watchdog_usec) {
        if (parse_u64(watchdog_usec, USEC_MAX, &usec) != MLC_OK) {
            set_err(err, errcap, "WATCHDOG_USEC='%.40s' is not a number of microseconds up to a "
                    "day; fix WatchdogSec= in the mlc.service unit", watchdog_usec);
            rc = MLC_ERR_CONFIG;
            goto out;
        }
    }
    if (usec && watchdog_pid && *watchdog_pid) {
        if (parse_u64(watchdog_pid, (uint64_t)0x7fffffff, &pid) != MLC_OK || pid == 0) {
            set_err(err, errcap, "WATCHDOG_PID='%.40s' is not a process id; start mlc through its "
                    "systemd unit", watchdog_pid);
            rc = MLC_ERR_CONFIG;
            goto out;
        }
        if ((long)pid != self_pid)
            usec = 0; /* the watchdog is meant for another process (our parent or a child) */
    }
    w->usec = usec;

    w->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (w->fd < 0) {
        set_err(err, errcap, "could not open a socket for systemd notifications: %s", strerror(errno));
        rc = MLC_ERR_IO;
        goto out;
    }
    *out = w;
    w = NULL;
    rc = MLC_OK;
out:
    mlc_watchdog_free(w);
    return rc;
}

int mlc_watchdog_from_env(struct mlc_watchdog **out, char *err, size_t errcap)
{
    return mlc_watchdog_open(out, getenv("NOTIFY_SOCKET"), getenv("WATCHDOG_USEC"),
                             getenv("WATCHDOG_PID"), (long)getpid(), err, errcap);
}

void mlc_watchdog_free(struct mlc_watchdog *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    mlc_free(w);
}

int mlc_watchdog_enabled(const struct mlc_watchdog *w)
{
    return w && w->fd >= 0;
}

uint64_t mlc_watchdog_usec(const struct mlc_watchdog *w)
{
    return mlc_watchdog_enabled(w) ? w->usec : 0;
}

int64_t mlc_watchdog_interval_ms(const struct mlc_watchdog *w)
{
    uint64_t usec = mlc_watchdog_usec(w);
    if (!usec)
        return 0;
    int64_t ms = (int64_t)(usec / 2000);
    return ms > 0 ? ms : 1;
}

static int send_msg(struct mlc_watchdog *w, const char *msg, size_t len)
{
    if (!mlc_watchdog_enabled(w))
        return MLC_OK;
    ssize_t r;
    do {
        /* MSG_NOSIGNAL: no SIGPIPE; the socket is non-blocking: a busy systemd never stalls the loop */
        r = sendto(w->fd, msg, len, MSG_NOSIGNAL, (const struct sockaddr *)&w->addr, w->addr_len);
    } while (r < 0 && errno == EINTR);
    if (r < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? MLC_ERR_RETRY : MLC_ERR_IO;
    return (size_t)r == len ? MLC_OK : MLC_ERR_IO;
}

int mlc_watchdog_ready(struct mlc_watchdog *w)
{
    return send_msg(w, "READY=1", 7);
}

int mlc_watchdog_reloading(struct mlc_watchdog *w)
{
    return send_msg(w, "RELOADING=1", 11);
}

int mlc_watchdog_stopping(struct mlc_watchdog *w)
{
    return send_msg(w, "STOPPING=1", 10);
}

int mlc_watchdog_status(struct mlc_watchdog *w, const char *text)
{
    char msg[sizeof("STATUS=") + MLC_WATCHDOG_STATUS_MAX];
    size_t o = 7;
    memcpy(msg, "STATUS=", 7);
    for (const char *p = text ? text : ""; *p && o < sizeof(msg) - 1; p++) {
        unsigned char ch = (unsigned char)*p;
        msg[o++] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
    }
    msg[o] = '\0';
    return send_msg(w, msg, o);
}

int mlc_watchdog_ping(struct mlc_watchdog *w, int64_t now_ms)
{
    int rc = send_msg(w, "WATCHDOG=1", 10);
    if (w && rc == MLC_OK) {
        w->last_ping_ms = now_ms;
        w->pinged = 1;
    }
    return rc;
}

int mlc_watchdog_tick(struct mlc_watchdog *w, int64_t now_ms)
{
    int64_t every = mlc_watchdog_interval_ms(w);
    if (!every)
        return 0;
    if (w->pinged && now_ms - w->last_ping_ms < every && now_ms >= w->last_ping_ms)
        return 0; /* a clock that went backwards pings rather than waits */
    int rc = mlc_watchdog_ping(w, now_ms);
    return rc == MLC_OK ? 1 : rc;
}
