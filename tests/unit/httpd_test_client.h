/* A test client for the status server, in the same process: non-blocking sockets on 127.0.0.1,
 * with the server's loop stepped (mlc_loop_run_once) between reads and writes, so nothing blocks
 * and nothing sleeps. Header-only because each unit test is built from one .c file. */
#ifndef HTTPD_TEST_CLIENT_H
#define HTTPD_TEST_CLIENT_H
#include "mlc_err.h"
#include "mlc_loop.h"
#include "mlc_net.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct tclient {
    int fd;
    char *buf;      /* everything received so far, NUL-terminated */
    size_t len, cap;
    int eof;        /* the server closed (FIN or reset) */
};

static inline void tc_open(struct tclient *c, const char *host, int port)
{
    memset(c, 0, sizeof(*c));
    c->cap = 1 << 16;
    c->buf = calloc(1, c->cap + 1);
    assert_non_null(c->buf);
    assert_int_equal(mlc_net_connect(host, port, &c->fd), MLC_OK);
    /* the kernel finishes the handshake from the listen backlog; no loop step is needed */
    struct pollfd p = { c->fd, POLLOUT, 0 };
    assert_int_equal(poll(&p, 1, 2000), 1);
}

static inline void tc_close(struct tclient *c)
{
    mlc_net_close(c->fd);
    free(c->buf);
    memset(c, 0, sizeof(*c));
    c->fd = -1;
}

/* Reads whatever is there without waiting. */
static inline void tc_poll(struct tclient *c)
{
    while (!c->eof) {
        char tmp[8192];
        size_t got;
        int rc = mlc_net_read(c->fd, tmp, sizeof(tmp), &got);
        if (rc == MLC_ERR_RETRY)
            return;
        if (rc != MLC_OK || got == 0) {
            c->eof = 1;
            return;
        }
        if (c->len + got > c->cap) {
            c->cap = (c->len + got) * 2;
            c->buf = realloc(c->buf, c->cap + 1);
            assert_non_null(c->buf);
        }
        memcpy(c->buf + c->len, tmp, got);
        c->len += got;
        c->buf[c->len] = '\0';
    }
}

/* Sends all of data, stepping the loop while the socket is busy (connect may still be going). */
static inline void tc_send(struct mlc_loop *loop, struct tclient *c, const void *data, size_t n)
{
    size_t off = 0;
    for (int i = 0; off < n && i < 20000; i++) {
        size_t put = 0;
        int rc = mlc_net_write(c->fd, (const char *)data + off, n - off, &put);
        if (rc == MLC_ERR_IO)
            return; /* the server may refuse early and close: the caller checks the answer */
        off += put;
        if (off < n)
            mlc_loop_run_once(loop, 1);
    }
    assert_int_equal(off, n);
}
#define TC_SEND(loop, c, lit) tc_send(loop, c, lit, sizeof(lit) - 1)

/* Steps the loop up to `steps` times (1 ms poll each) or until the server closes. */
static inline void tc_wait_eof(struct mlc_loop *loop, struct tclient *c, int steps)
{
    for (int i = 0; i < steps && !c->eof; i++) {
        mlc_loop_run_once(loop, 1);
        tc_poll(c);
    }
}

/* Steps the loop until the client received at least `n` bytes, or `steps` ran out. */
static inline void tc_wait_bytes(struct mlc_loop *loop, struct tclient *c, size_t n, int steps)
{
    for (int i = 0; i < steps && !c->eof && c->len < n; i++) {
        mlc_loop_run_once(loop, 1);
        tc_poll(c);
    }
}

static inline void pump(struct mlc_loop *loop, int steps)
{
    for (int i = 0; i < steps; i++)
        mlc_loop_run_once(loop, 1);
}

static inline int tc_status(const struct tclient *c)
{
    if (c->len < 12 || strncmp(c->buf, "HTTP/1.1 ", 9) != 0)
        return -1;
    return atoi(c->buf + 9);
}

/* The value of response header name (copied into a static buffer), or NULL. */
static inline const char *tc_header(const struct tclient *c, const char *name)
{
    static char v[512];
    const char *end = strstr(c->buf, "\r\n\r\n");
    size_t nl = strlen(name);
    for (const char *p = strstr(c->buf, "\r\n"); p && (!end || p < end); p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, nl) == 0 && p[2 + nl] == ':') {
            const char *s = p + 3 + nl, *e = strstr(s, "\r\n");
            while (*s == ' ')
                s++;
            size_t l = (size_t)(e - s) < sizeof(v) - 1 ? (size_t)(e - s) : sizeof(v) - 1;
            memcpy(v, s, l);
            v[l] = '\0';
            return v;
        }
    }
    return NULL;
}

static inline const char *tc_body(const struct tclient *c)
{
    const char *end = strstr(c->buf, "\r\n\r\n");
    return end ? end + 4 : NULL;
}

/* One whole exchange on a fresh connection: send, wait for the close, return the status. */
static inline int tc_exchange(struct mlc_loop *loop, struct tclient *c, int port, const char *req)
{
    tc_open(c, "127.0.0.1", port);
    tc_send(loop, c, req, strlen(req));
    tc_wait_eof(loop, c, 5000);
    return tc_status(c);
}
#endif
