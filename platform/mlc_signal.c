#include "mlc_signal.h"
#include "mlc_err.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

/* A handler may only touch lock-free atomics and call async-signal-safe functions (write). */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "signal flags need lock-free atomics");

static atomic_uint pending;
static int pipe_rd = -1;
static volatile sig_atomic_t pipe_wr = -1;
static int installed;
static struct sigaction old_term, old_int, old_hup, old_pipe;

static void on_signal(int sig)
{
    int saved = errno;
    atomic_fetch_or(&pending, sig == SIGHUP ? (unsigned)MLC_SIG_RELOAD : (unsigned)MLC_SIG_STOP);
    int fd = pipe_wr;
    if (fd >= 0) {
        char b = (char)sig;
        /* Non-blocking: a full pipe already guarantees a wake-up, so EAGAIN is fine to ignore. */
        ssize_t r = write(fd, &b, 1);
        (void)r;
    }
    errno = saved;
}

static int set_flags(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0)
        return -1;
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
        return -1;
    return 0;
}

int mlc_signal_install(int *fd)
{
    int p[2] = { -1, -1 };
    int rc = MLC_ERR_IO;
    if (installed)
        return MLC_ERR_EXISTS;
    if (pipe(p) != 0)
        goto out;
    if (set_flags(p[0]) != 0 || set_flags(p[1]) != 0)
        goto out;
    pipe_rd = p[0];
    pipe_wr = p[1];
    atomic_store(&pending, 0);

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    /* SA_RESTART keeps blocking file I/O elsewhere going; poll() is never restarted anyway. */
    sa.sa_flags = SA_RESTART;
    struct sigaction ign;
    memset(&ign, 0, sizeof(ign));
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    if (sigaction(SIGTERM, &sa, &old_term) != 0)
        goto out_pipe;
    if (sigaction(SIGINT, &sa, &old_int) != 0)
        goto out_term;
    if (sigaction(SIGHUP, &sa, &old_hup) != 0)
        goto out_int;
    if (sigaction(SIGPIPE, &ign, &old_pipe) != 0)
        goto out_hup;
    installed = 1;
    *fd = pipe_rd;
    return MLC_OK;

out_hup:
    sigaction(SIGHUP, &old_hup, NULL);
out_int:
    sigaction(SIGINT, &old_int, NULL);
out_term:
    sigaction(SIGTERM, &old_term, NULL);
out_pipe:
    pipe_wr = -1;
    pipe_rd = -1;
out:
    if (p[0] >= 0)
        close(p[0]);
    if (p[1] >= 0)
        close(p[1]);
    return rc;
}

void mlc_signal_uninstall(void)
{
    if (!installed)
        return;
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    sigaction(SIGPIPE, &old_pipe, NULL);
    int wr = pipe_wr;
    pipe_wr = -1;
    close(wr);
    close(pipe_rd);
    pipe_rd = -1;
    atomic_store(&pending, 0);
    installed = 0;
}

unsigned mlc_signal_pending(void)
{
    return atomic_load(&pending);
}

unsigned mlc_signal_take(void)
{
    char scratch[64];
    if (pipe_rd >= 0) {
        while (read(pipe_rd, scratch, sizeof(scratch)) > 0)
            ;
    }
    /* Exchange, not load-then-store: a signal landing in between must not be lost. */
    return atomic_exchange(&pending, 0);
}
