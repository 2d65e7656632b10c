/* A tiny HTTP/1.1 test server in a forked child on 127.0.0.1:<ephemeral>, for test_http.
 * It records what it received in shared memory so a test can assert what the server saw.
 * Routes: /hello, /echo (counts the body), /size/N, /chunked/N, /slow/MS, /never, /status/CODE,
 * /headers/N (N extra response headers).
 * The TLS variant (mbedTLS) answers every request with 200 "tls ok". Stopped by pid (SIGKILL). */
#ifndef HTTP_TEST_SERVER_H
#define HTTP_TEST_SERVER_H
#include <stdatomic.h>
#include <stddef.h>
#include <sys/types.h>

struct hts_request {
    char method[8];
    char path[128];
    char user_agent[96];
    char accept[96];
    char content_type[96];
    char x_test[64];
    int has_expect;
    size_t body_len;
};

#define HTS_MAX_REQUESTS 256
struct hts_shared {
    atomic_int n_requests;     /* complete requests received (headers and body) */
    atomic_int in_flight;      /* received and not answered yet */
    atomic_int max_in_flight;  /* high-water mark of in_flight; a test may reset it to 0 */
    struct hts_request req[HTS_MAX_REQUESTS];
};

struct hts {
    pid_t pid;
    int port;
    struct hts_shared *sh;
};

/* 0 on success. */
int hts_start(struct hts *s);
int hts_start_tls(struct hts *s, const char *cert_file, const char *key_file);
void hts_stop(struct hts *s);
int hts_count(const struct hts *s);
/* Waits (polling, at most timeout_ms) until the server has seen at least n requests. */
int hts_wait_count(const struct hts *s, int n, int timeout_ms);
#endif
