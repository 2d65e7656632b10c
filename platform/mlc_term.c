#include "mlc_term.h"
#include "mlc_err.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

/* The terminal state to restore if a signal arrives while echo is off. One reader at a time. */
static volatile sig_atomic_t saved_fd = -1;
static struct termios saved_tio;

static void restore_and_reraise(int sig)
{
    if (saved_fd >= 0)
        tcsetattr((int)saved_fd, TCSAFLUSH, &saved_tio);
    signal(sig, SIG_DFL);
    raise(sig);
}

int mlc_term_is_tty(int fd)
{
    return isatty(fd) == 1;
}

/* Reads until a newline (stop_at_nl) or the end of input, at most cap - 1 bytes; one more byte
 * of input than that means the value is too big. */
static int read_bounded(int fd, char *buf, size_t cap, size_t *len, int stop_at_nl)
{
    size_t n = 0;
    while (!(stop_at_nl && n > 0 && buf[n - 1] == '\n')) {
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return MLC_ERR_IO;
        if (r == 0)
            break;
        if (n + 1 >= cap)
            return MLC_ERR_TOO_BIG;
        buf[n++] = c;
    }
    buf[n] = '\0';
    *len = n;
    return MLC_OK;
}

int mlc_term_read_secret(int fd, const char *prompt, char *buf, size_t cap, size_t *len)
{
    struct termios tio;
    struct sigaction sa, old_int, old_term, old_hup, old_quit;
    int tty = mlc_term_is_tty(fd), echo_off = 0;
    int rc;

    *len = 0;
    if (cap == 0)
        return MLC_ERR_TOO_BIG;
    buf[0] = '\0';
    if (tty && tcgetattr(fd, &saved_tio) == 0) {
        saved_fd = fd;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = restore_and_reraise;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, &old_int);
        sigaction(SIGTERM, &sa, &old_term);
        sigaction(SIGHUP, &sa, &old_hup);
        sigaction(SIGQUIT, &sa, &old_quit);
        tio = saved_tio;
        tio.c_lflag &= (tcflag_t)~(ECHO | ECHOE | ECHOK | ECHONL);
        if (tcsetattr(fd, TCSAFLUSH, &tio) == 0)
            echo_off = 1;
    }
    if (tty && prompt) {
        fputs(prompt, stderr);
        fflush(stderr);
    }
    rc = read_bounded(fd, buf, cap, len, tty);
    if (tty) {
        if (echo_off)
            tcsetattr(fd, TCSAFLUSH, &saved_tio);
        if (saved_fd >= 0) {
            sigaction(SIGINT, &old_int, NULL);
            sigaction(SIGTERM, &old_term, NULL);
            sigaction(SIGHUP, &old_hup, NULL);
            sigaction(SIGQUIT, &old_quit, NULL);
            saved_fd = -1;
        }
        if (prompt)
            fputc('\n', stderr);   /* the Enter the user typed was not echoed */
    }
    if (rc != MLC_OK) {
        memset(buf, 0, cap);
        *len = 0;
        return rc;
    }
    if (*len > 0 && buf[*len - 1] == '\n') {
        buf[--*len] = '\0';
        if (*len > 0 && buf[*len - 1] == '\r')
            buf[--*len] = '\0';
    }
    return MLC_OK;
}
