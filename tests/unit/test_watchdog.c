#include "mlc_test_util.h"
#include "mlc_err.h"
#include "mlc_watchdog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* A stand-in for systemd: a datagram socket bound to a path or an abstract name. */
struct listener {
    int fd;
    char name[200]; /* as written in NOTIFY_SOCKET */
};

static void listen_at(struct listener *l, int abstract)
{
    struct sockaddr_un a;
    memset(&a, 0, sizeof(a));
    a.sun_family = AF_UNIX;
    socklen_t len;
    if (abstract) {
        snprintf(l->name, sizeof(l->name), "@mlc-test-notify-%ld-%d", (long)getpid(), rand());
        memcpy(a.sun_path + 1, l->name + 1, strlen(l->name) - 1);
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(l->name));
    } else {
        snprintf(l->name, sizeof(l->name), "%s/notify", mlc_test_tmpdir("wd"));
        assert_true(strlen(l->name) < sizeof(a.sun_path));
        strcpy(a.sun_path, l->name);
        len = sizeof(a);
    }
    l->fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    assert_true(l->fd >= 0);
    assert_int_equal(bind(l->fd, (struct sockaddr *)&a, len), 0);
}

/* The next datagram, or "" if none is queued (delivery on AF_UNIX is synchronous). */
static const char *next_msg(struct listener *l)
{
    static char buf[512];
    ssize_t n = recv(l->fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static void stop(struct listener *l)
{
    close(l->fd);
    if (l->name[0] == '/')
        unlink(l->name);
}

static void notifies_a_path_socket_like_systemd_expects(void **state)
{
    (void)state;
    struct listener l;
    listen_at(&l, 0);
    setenv("NOTIFY_SOCKET", l.name, 1);
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    struct mlc_watchdog *w = NULL;
    char err[256];
    assert_int_equal(mlc_watchdog_from_env(&w, err, sizeof(err)), MLC_OK);
    assert_true(mlc_watchdog_enabled(w));
    assert_int_equal(mlc_watchdog_interval_ms(w), 0); /* no WatchdogSec: no timer to arm */

    assert_int_equal(mlc_watchdog_ready(w), MLC_OK);
    assert_string_equal(next_msg(&l), "READY=1");
    /* a newline would let status text inject "READY=1" or "MAINPID=" lines */
    assert_int_equal(mlc_watchdog_status(w, "syncing\nREADY=1\tnow"), MLC_OK);
    assert_string_equal(next_msg(&l), "STATUS=syncing READY=1 now");
    assert_int_equal(mlc_watchdog_reloading(w), MLC_OK);
    assert_string_equal(next_msg(&l), "RELOADING=1");
    assert_int_equal(mlc_watchdog_stopping(w), MLC_OK);
    assert_string_equal(next_msg(&l), "STOPPING=1");
    assert_string_equal(next_msg(&l), "");

    /* systemd gone (socket removed): an error, not a hang or a crash */
    stop(&l);
    assert_int_equal(mlc_watchdog_ready(w), MLC_ERR_IO);
    mlc_watchdog_free(w);
    unsetenv("NOTIFY_SOCKET");
}

static void notifies_an_abstract_socket(void **state)
{
    (void)state;
    struct listener l;
    listen_at(&l, 1);
    struct mlc_watchdog *w = NULL;
    assert_int_equal(mlc_watchdog_open(&w, l.name, NULL, NULL, 1, NULL, 0), MLC_OK);
    assert_int_equal(mlc_watchdog_ready(w), MLC_OK);
    assert_string_equal(next_msg(&l), "READY=1");
    mlc_watchdog_free(w);
    stop(&l);
}

static void pings_at_half_the_watchdog_timeout(void **state)
{
    (void)state;
    struct listener l;
    listen_at(&l, 0);
    char pid[32];
    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    setenv("NOTIFY_SOCKET", l.name, 1);
    setenv("WATCHDOG_USEC", "30000000", 1); /* WatchdogSec=30 */
    setenv("WATCHDOG_PID", pid, 1);
    struct mlc_watchdog *w = NULL;
    assert_int_equal(mlc_watchdog_from_env(&w, NULL, 0), MLC_OK);
    assert_int_equal(mlc_watchdog_usec(w), 30000000);
    assert_int_equal(mlc_watchdog_interval_ms(w), 15000);

    int64_t t0 = 1000000;
    assert_int_equal(mlc_watchdog_tick(w, t0), 1); /* the first tick pings at once */
    assert_string_equal(next_msg(&l), "WATCHDOG=1");
    assert_int_equal(mlc_watchdog_tick(w, t0 + 14999), 0);
    assert_string_equal(next_msg(&l), "");
    assert_int_equal(mlc_watchdog_tick(w, t0 + 15000), 1);
    assert_string_equal(next_msg(&l), "WATCHDOG=1");
    /* a clock stepped backwards must not silence the pings until it catches up */
    assert_int_equal(mlc_watchdog_tick(w, t0 - 60000), 1);
    assert_string_equal(next_msg(&l), "WATCHDOG=1");
    mlc_watchdog_free(w);

    /* the watchdog belongs to another process: notifications yes, pings no */
    assert_int_equal(mlc_watchdog_open(&w, l.name, "30000000", "1", (long)getpid(), NULL, 0), MLC_OK);
    assert_true(mlc_watchdog_enabled(w));
    assert_int_equal(mlc_watchdog_interval_ms(w), 0);
    assert_int_equal(mlc_watchdog_tick(w, t0), 0);
    assert_string_equal(next_msg(&l), "");
    mlc_watchdog_free(w);

    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    stop(&l);
}

static void without_systemd_every_call_is_a_quiet_no_op(void **state)
{
    (void)state;
    unsetenv("NOTIFY_SOCKET");
    struct mlc_watchdog *w = NULL;
    assert_int_equal(mlc_watchdog_from_env(&w, NULL, 0), MLC_OK);
    assert_non_null(w);
    assert_false(mlc_watchdog_enabled(w));
    assert_int_equal(mlc_watchdog_ready(w), MLC_OK);
    assert_int_equal(mlc_watchdog_status(w, "x"), MLC_OK);
    assert_int_equal(mlc_watchdog_tick(w, 5), 0);
    mlc_watchdog_free(w);
    /* and a NULL handle (setup failed, the agent carries on) */
    assert_int_equal(mlc_watchdog_ready(NULL), MLC_OK);
    assert_int_equal(mlc_watchdog_ping(NULL, 0), MLC_OK);
    assert_int_equal(mlc_watchdog_interval_ms(NULL), 0);
    mlc_watchdog_free(NULL);
}

static void refuses_malformed_environment_with_one_clear_line(void **state)
{
    (void)state;
    static const struct { const char *sock, *usec, *pid, *says; } bad[] = {
        { "relative/notify", NULL, NULL, "NOTIFY_SOCKET" },
        { "vsock:2:1234", NULL, NULL, "NOTIFY_SOCKET" },
        { "@", NULL, NULL, "NOTIFY_SOCKET" },
        { "/run/systemd/notify", "12x", NULL, "WATCHDOG_USEC" },
        { "/run/systemd/notify", "-1", NULL, "WATCHDOG_USEC" },
        { "/run/systemd/notify", "99999999999999999999999", NULL, "WATCHDOG_USEC" },
        { "/run/systemd/notify", "86400000001", NULL, "WATCHDOG_USEC" }, /* over a day */
        { "/run/systemd/notify", "30000000", "abc", "WATCHDOG_PID" },
    };
    char longpath[200];
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[0] = '/';
    longpath[sizeof(longpath) - 1] = '\0';
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]) + 1; i++) {
        const char *sock = i < sizeof(bad) / sizeof(bad[0]) ? bad[i].sock : longpath;
        const char *says = i < sizeof(bad) / sizeof(bad[0]) ? bad[i].says : "NOTIFY_SOCKET";
        struct mlc_watchdog *w = (struct mlc_watchdog *)1;
        char err[256] = "";
        int rc = mlc_watchdog_open(&w, sock, i < sizeof(bad) / sizeof(bad[0]) ? bad[i].usec : NULL,
                                   i < sizeof(bad) / sizeof(bad[0]) ? bad[i].pid : NULL, 1, err,
                                   sizeof(err));
        if (rc != MLC_ERR_CONFIG)
            fail_msg("case %zu (%s) gave %d", i, sock, rc);
        assert_null(w);
        assert_non_null(strstr(err, says));
        assert_null(strchr(err, '\n'));
    }
    /* WATCHDOG_USEC=0 is systemd's "no watchdog", not an error */
    struct mlc_watchdog *w = NULL;
    assert_int_equal(mlc_watchdog_open(&w, "/run/x", "0", NULL, 1, NULL, 0), MLC_OK);
    assert_int_equal(mlc_watchdog_interval_ms(w), 0);
    mlc_watchdog_free(w);
}

static void long_status_is_cut_not_overflowed(void **state)
{
    (void)state;
    struct listener l;
    listen_at(&l, 1);
    struct mlc_watchdog *w = NULL;
    assert_int_equal(mlc_watchdog_open(&w, l.name, NULL, NULL, 1, NULL, 0), MLC_OK);
    char text[1000];
    memset(text, 'x', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    assert_int_equal(mlc_watchdog_status(w, text), MLC_OK);
    const char *m = next_msg(&l);
    assert_int_equal(strlen(m), 7 + MLC_WATCHDOG_STATUS_MAX);
    assert_memory_equal(m, "STATUS=xxx", 10);
    mlc_watchdog_free(w);
    stop(&l);
}

int main(void)
{
    srand((unsigned)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(notifies_a_path_socket_like_systemd_expects),
        cmocka_unit_test(notifies_an_abstract_socket),
        cmocka_unit_test(pings_at_half_the_watchdog_timeout),
        cmocka_unit_test(without_systemd_every_call_is_a_quiet_no_op),
        cmocka_unit_test(refuses_malformed_environment_with_one_clear_line),
        cmocka_unit_test(long_status_is_cut_not_overflowed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
