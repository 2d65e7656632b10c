/* See http_test_server.h. Test code: blocking writes and simple parsing are fine here; every read
 * is still bounded so a confused client cannot overrun the server. */
#include "http_test_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#define HTS_MAX_CONNS 32
#define HTS_HEAD_MAX 16384

static int64_t hts_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void copy_field(char *dst, size_t cap, const char *src, size_t n)
{
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Finds "Name:" in the header block (case-insensitive); copies its trimmed value. */
static int header_value(const char *head, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    const char *p = strstr(head, "\r\n");
    while (p && p[2] != '\r') {
        p += 2;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            const char *e = strstr(v, "\r\n");
            copy_field(out, cap, v, e ? (size_t)(e - v) : strlen(v));
            return 1;
        }
        p = strstr(p, "\r\n");
    }
    if (cap)
        out[0] = '\0';
    return 0;
}

static void parse_head(const char *head, struct hts_request *rq)
{
    memset(rq, 0, sizeof(*rq));
    size_t m = strcspn(head, " ");
    copy_field(rq->method, sizeof(rq->method), head, m);
    const char *path = head + m + (head[m] ? 1 : 0);
    copy_field(rq->path, sizeof(rq->path), path, strcspn(path, " \r\n"));
    header_value(head, "User-Agent", rq->user_agent, sizeof(rq->user_agent));
    header_value(head, "Accept", rq->accept, sizeof(rq->accept));
    header_value(head, "Content-Type", rq->content_type, sizeof(rq->content_type));
    header_value(head, "X-Test", rq->x_test, sizeof(rq->x_test));
    char tmp[64];
    rq->has_expect = header_value(head, "Expect", tmp, sizeof(tmp));
}

static void record(struct hts_shared *sh, const struct hts_request *rq)
{
    int i = atomic_load(&sh->n_requests);
    if (i < HTS_MAX_REQUESTS)
        sh->req[i] = *rq;
    atomic_fetch_add(&sh->n_requests, 1); /* publishes the record to the parent */
}

static int send_all(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void send_simple(int fd, int status, const char *extra, const char *body)
{
    char head[HTS_HEAD_MAX];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n", status,
                     strlen(body), extra);
    if (n < 0 || (size_t)n >= sizeof(head))
        return;
    if (send_all(fd, head, (size_t)n) == 0)
        send_all(fd, body, strlen(body));
}

static void send_sized(int fd, size_t total, int chunked)
{
    static char block[65536];
    char head[256];
    memset(block, 'x', sizeof(block));
    int n = chunked ? snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                                                   "Connection: close\r\n\r\n")
                    : snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n"
                                                   "Connection: close\r\n\r\n", total);
    if (send_all(fd, head, (size_t)n) != 0)
        return;
    while (total > 0) {
        size_t k = total < 16384 ? total : 16384;
        if (chunked) {
            char sz[32];
            int m = snprintf(sz, sizeof(sz), "%zx\r\n", k);
            if (send_all(fd, sz, (size_t)m) != 0 || send_all(fd, block, k) != 0 ||
                send_all(fd, "\r\n", 2) != 0)
                return;
        } else if (send_all(fd, block, k) != 0) {
            return;
        }
        total -= k;
    }
    if (chunked)
        send_all(fd, "0\r\n\r\n", 5);
}

enum conn_state { C_FREE, C_HEAD, C_BODY, C_WAIT, C_NEVER };

struct conn {
    enum conn_state st;
    int fd;
    char head[HTS_HEAD_MAX + 1];
    size_t len;
    size_t body_need, body_got;
    int64_t answer_at;
    struct hts_request rq;
};

static void conn_close(struct hts_shared *sh, struct conn *c)
{
    if (c->st == C_WAIT || c->st == C_NEVER)
        atomic_fetch_sub(&sh->in_flight, 1);
    close(c->fd);
    c->st = C_FREE;
}

static void answer(struct hts_shared *sh, struct conn *c)
{
    const char *p = c->rq.path;
    char body[128];
    if (strcmp(p, "/hello") == 0) {
        send_simple(c->fd, 200, "Content-Type: application/json\r\nX-Request-Id: abc-123\r\n"
                                "X-Mixed-CASE: Value With Spaces  \r\n", "{\"hello\":\"world\"}");
    } else if (strcmp(p, "/echo") == 0) {
        snprintf(body, sizeof(body), "got %zu", c->rq.body_len);
        send_simple(c->fd, 201, "", body);
    } else if (strncmp(p, "/size/", 6) == 0) {
        send_sized(c->fd, strtoul(p + 6, NULL, 10), 0);
    } else if (strncmp(p, "/chunked/", 9) == 0) {
        send_sized(c->fd, strtoul(p + 9, NULL, 10), 1);
    } else if (strncmp(p, "/slow/", 6) == 0) {
        send_simple(c->fd, 200, "", "slow");
    } else if (strncmp(p, "/headers/", 9) == 0) {
        char extra[8192] = "";
        size_t used = 0;
        for (int i = 0; i < atoi(p + 9) && used + 32 < sizeof(extra); i++)
            used += (size_t)snprintf(extra + used, sizeof(extra) - used, "X-H-%d: v%d\r\n", i, i);
        send_simple(c->fd, 200, extra, "headers");
    } else if (strncmp(p, "/status/", 8) == 0) {
        send_simple(c->fd, atoi(p + 8), "Retry-After: 7\r\n", "{\"error\":\"test\"}");
    } else {
        send_simple(c->fd, 404, "", "not found");
    }
    conn_close(sh, c);
}

static void request_complete(struct hts_shared *sh, struct conn *c)
{
    record(sh, &c->rq);
    int now = atomic_fetch_add(&sh->in_flight, 1) + 1;
    int max = atomic_load(&sh->max_in_flight);
    while (now > max && !atomic_compare_exchange_weak(&sh->max_in_flight, &max, now))
        ;
    c->st = C_WAIT;
    c->answer_at = hts_now_ms();
    if (strcmp(c->rq.path, "/never") == 0)
        c->st = C_NEVER;
    else if (strncmp(c->rq.path, "/slow/", 6) == 0)
        c->answer_at += atoi(c->rq.path + 6);
}

static void conn_read(struct hts_shared *sh, struct conn *c)
{
    char scratch[65536];
    if (c->st == C_HEAD) {
        ssize_t r = recv(c->fd, c->head + c->len, HTS_HEAD_MAX - c->len, 0);
        if (r <= 0) {
            conn_close(sh, c);
            return;
        }
        c->len += (size_t)r;
        c->head[c->len] = '\0';
        char *end = strstr(c->head, "\r\n\r\n");
        if (!end) {
            if (c->len >= HTS_HEAD_MAX)
                conn_close(sh, c);
            return;
        }
        parse_head(c->head, &c->rq);
        char cl[32];
        c->body_need = header_value(c->head, "Content-Length", cl, sizeof(cl)) ? strtoul(cl, NULL, 10) : 0;
        c->body_got = c->len - (size_t)(end + 4 - c->head);
        c->st = C_BODY;
    } else if (c->st == C_BODY) {
        ssize_t r = recv(c->fd, scratch, sizeof(scratch), 0);
        if (r <= 0) {
            conn_close(sh, c);
            return;
        }
        c->body_got += (size_t)r;
    } else {
        /* Waiting to answer: a read of 0 means the client gave up. */
        ssize_t r = recv(c->fd, scratch, sizeof(scratch), 0);
        if (r <= 0)
            conn_close(sh, c);
        return;
    }
    if (c->st == C_BODY && c->body_got >= c->body_need) {
        c->rq.body_len = c->body_got;
        request_complete(sh, c);
    }
}

static void serve_plain(int lfd, struct hts_shared *sh)
{
    static struct conn conns[HTS_MAX_CONNS];
    for (;;) {
        struct pollfd pfd[HTS_MAX_CONNS + 1];
        int idx[HTS_MAX_CONNS + 1];
        nfds_t n = 0;
        int64_t now = hts_now_ms();
        int timeout = -1;
        pfd[n].fd = lfd;
        pfd[n].events = POLLIN;
        idx[n++] = -1;
        for (int i = 0; i < HTS_MAX_CONNS; i++) {
            struct conn *c = &conns[i];
            if (c->st == C_FREE)
                continue;
            if (c->st == C_WAIT) {
                int64_t d = c->answer_at > now ? c->answer_at - now : 0;
                if (timeout < 0 || d < timeout)
                    timeout = (int)d;
            }
            pfd[n].fd = c->fd;
            pfd[n].events = POLLIN;
            idx[n++] = i;
        }
        int ready = poll(pfd, n, timeout);
        if (ready < 0 && errno != EINTR)
            _exit(2);
        for (nfds_t k = 0; ready > 0 && k < n; k++) {
            if (!pfd[k].revents)
                continue;
            if (idx[k] < 0) {
                int fd = accept(lfd, NULL, NULL);
                if (fd < 0)
                    continue;
                int slot = -1;
                for (int i = 0; i < HTS_MAX_CONNS && slot < 0; i++)
                    if (conns[i].st == C_FREE)
                        slot = i;
                if (slot < 0) {
                    close(fd);
                    continue;
                }
                memset(&conns[slot].rq, 0, sizeof(conns[slot].rq));
                conns[slot].st = C_HEAD;
                conns[slot].fd = fd;
                conns[slot].len = 0;
                continue;
            }
            conn_read(sh, &conns[idx[k]]);
        }
        now = hts_now_ms();
        for (int i = 0; i < HTS_MAX_CONNS; i++)
            if (conns[i].st == C_WAIT && conns[i].answer_at <= now)
                answer(sh, &conns[i]);
    }
}

/* ---- TLS (mbedTLS), one connection at a time ---- */

static int tls_send(void *ctx, const unsigned char *buf, size_t len)
{
    ssize_t w = send(*(int *)ctx, buf, len, MSG_NOSIGNAL);
    return w < 0 ? MBEDTLS_ERR_SSL_INTERNAL_ERROR : (int)w;
}

static int tls_recv(void *ctx, unsigned char *buf, size_t len)
{
    ssize_t r = recv(*(int *)ctx, buf, len, 0);
    if (r == 0)
        return MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY;
    return r < 0 ? MBEDTLS_ERR_SSL_INTERNAL_ERROR : (int)r;
}

static void serve_tls(int lfd, struct hts_shared *sh, const char *cert, const char *key)
{
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_x509_crt crt;
    mbedtls_pk_context pk;
    mbedtls_ssl_config conf;
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    mbedtls_x509_crt_init(&crt);
    mbedtls_pk_init(&pk);
    mbedtls_ssl_config_init(&conf);
    if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, NULL, 0) != 0 ||
        mbedtls_x509_crt_parse_file(&crt, cert) != 0 ||
        mbedtls_pk_parse_keyfile(&pk, key, NULL) != 0 ||
        mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
                                    MBEDTLS_SSL_PRESET_DEFAULT) != 0)
        _exit(3);
    mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &drbg);
    if (mbedtls_ssl_conf_own_cert(&conf, &crt, &pk) != 0)
        _exit(3);
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            continue;
        struct timeval tv = { 5, 0 };
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        mbedtls_ssl_context ssl;
        mbedtls_ssl_init(&ssl);
        if (mbedtls_ssl_setup(&ssl, &conf) == 0) {
            mbedtls_ssl_set_bio(&ssl, &fd, tls_send, tls_recv, NULL);
            if (mbedtls_ssl_handshake(&ssl) == 0) {
                char head[HTS_HEAD_MAX + 1];
                size_t len = 0;
                head[0] = '\0';
                while (len < HTS_HEAD_MAX && !strstr(head, "\r\n\r\n")) {
                    int r = mbedtls_ssl_read(&ssl, (unsigned char *)head + len, HTS_HEAD_MAX - len);
                    if (r <= 0)
                        break;
                    len += (size_t)r;
                    head[len] = '\0';
                }
                if (strstr(head, "\r\n\r\n")) {
                    struct hts_request rq;
                    parse_head(head, &rq);
                    record(sh, &rq);
                    const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n"
                                       "Connection: close\r\n\r\ntls ok";
                    mbedtls_ssl_write(&ssl, (const unsigned char *)resp, strlen(resp));
                    mbedtls_ssl_close_notify(&ssl);
                }
            }
        }
        mbedtls_ssl_free(&ssl);
        close(fd);
    }
}

static int start(struct hts *s, const char *cert, const char *key)
{
    memset(s, 0, sizeof(*s));
    s->sh = mmap(NULL, sizeof(*s->sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s->sh == MAP_FAILED) {
        s->sh = NULL;
        return -1;
    }
    memset(s->sh, 0, sizeof(*s->sh));
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0; /* ephemeral: tests may run in parallel */
    socklen_t al = sizeof(a);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(lfd, 64) != 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &al) != 0) {
        if (lfd >= 0)
            close(lfd);
        return -1;
    }
    s->port = ntohs(a.sin_port);
    fflush(NULL);
    s->pid = fork();
    if (s->pid < 0) {
        close(lfd);
        return -1;
    }
    if (s->pid == 0) {
        /* A failed assertion skips hts_stop: die with the test rather than linger (and hold
         * ctest's output pipe open). */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        signal(SIGPIPE, SIG_IGN);
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        if (cert)
            serve_tls(lfd, s->sh, cert, key);
        else
            serve_plain(lfd, s->sh);
        _exit(0);
    }
    close(lfd); /* the listen queue already exists: connections wait for the child */
    return 0;
}

int hts_start(struct hts *s) { return start(s, NULL, NULL); }
int hts_start_tls(struct hts *s, const char *cert_file, const char *key_file)
{
    return start(s, cert_file, key_file);
}

void hts_stop(struct hts *s)
{
    if (s->pid > 0) {
        /* SIGKILL: the child never runs exit handlers (no leak report from a forked copy). */
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
    if (s->sh)
        munmap(s->sh, sizeof(*s->sh));
    s->sh = NULL;
}

int hts_count(const struct hts *s)
{
    return atomic_load(&s->sh->n_requests);
}

int hts_wait_count(const struct hts *s, int n, int timeout_ms)
{
    int64_t end = hts_now_ms() + timeout_ms;
    while (hts_count(s) < n) {
        if (hts_now_ms() >= end)
            return -1;
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    return 0;
}
