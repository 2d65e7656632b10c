#include "mlc_test_util.h"
#include "mlc_err.h"
#include "mlc_http_parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct mlc_http_limits LIM = { 8192, 32, 65536 };

static int parse(const char *s, size_t n, struct mlc_http_inreq *req)
{
    return mlc_http_parse_request(s, n, &LIM, req);
}
#define PARSE(lit, req) parse(lit, sizeof(lit) - 1, req)

static int refused_with(const char *s, size_t n)
{
    struct mlc_http_inreq req;
    if (parse(s, n, &req) != MLC_HTTP_INVALID)
        return 0;
    assert_non_null(req.reason);
    return req.status;
}
#define REFUSED(lit) refused_with(lit, sizeof(lit) - 1)

static int span_eq(const char *p, size_t n, const char *lit)
{
    return n == strlen(lit) && memcmp(p, lit, n) == 0;
}

static void valid_get(void **state)
{
    (void)state;
    struct mlc_http_inreq r;
    static const char req[] = "GET /api/v1/status?x=1&access_token=abc HTTP/1.1\r\n"
                              "Host: 127.0.0.1:8080\r\nUser-Agent:  curl/7.88 \r\nAccept: */*\r\n\r\n";
    assert_int_equal(PARSE(req, &r), MLC_HTTP_COMPLETE);
    assert_string_equal(r.method, "GET");
    assert_true(span_eq(r.path, r.path_len, "/api/v1/status"));
    assert_true(span_eq(r.query, r.query_len, "x=1&access_token=abc"));
    assert_int_equal(r.version_minor, 1);
    assert_int_equal(r.n_headers, 3);
    const struct mlc_http_infield *h = mlc_http_header_find(&r, "user-agent");
    assert_non_null(h);
    assert_true(span_eq(h->value, h->value_len, "curl/7.88")); /* blanks trimmed both sides */
    assert_int_equal(r.head_len, sizeof(req) - 1);
    assert_int_equal(r.total_len, sizeof(req) - 1);
    assert_int_equal(r.body_len, 0);
    assert_int_equal(r.close, 0);

    char tok[16];
    assert_int_equal(mlc_http_query_get(r.query, r.query_len, "access_token", tok, sizeof(tok)),
                     MLC_OK);
    assert_string_equal(tok, "abc");
}

static void post_with_body_waits_for_every_byte(void **state)
{
    (void)state;
    struct mlc_http_inreq r;
    static const char req[] = "POST /webhooks/plaid HTTP/1.1\r\nHost: x\r\n"
                              "Content-Type: application/json\r\nContent-Length: 13\r\n\r\n"
                              "{\"a\":\"b\\u0000\"}";
    size_t full = strlen(req);
    size_t head = strstr(req, "\r\n\r\n") + 4 - req;
    assert_int_equal(full - head, 15);
    /* the first 13 bytes after the head are the body; the rest belongs to a next request */
    for (size_t n = 0; n < head + 13; n++)
        assert_int_equal(parse(req, n, &r), MLC_HTTP_NEED_MORE);
    assert_int_equal(parse(req, full, &r), MLC_HTTP_COMPLETE);
    assert_int_equal(r.content_length, 13);
    assert_int_equal(r.body_len, 13);
    assert_ptr_equal(r.body, req + head);
    assert_memory_equal(r.body, "{\"a\":\"b\\u0000", 13);
    assert_int_equal(r.total_len, head + 13);
}

static void every_prefix_of_a_valid_request_needs_more(void **state)
{
    (void)state;
    static const char req[] = "PUT /x/y HTTP/1.0\r\nA: 1\r\nB:\r\nContent-Length: 2\r\n\r\nhi";
    struct mlc_http_inreq r;
    for (size_t n = 0; n < sizeof(req) - 1; n++)
        assert_int_equal(parse(req, n, &r), MLC_HTTP_NEED_MORE);
    assert_int_equal(PARSE(req, &r), MLC_HTTP_COMPLETE);
    assert_int_equal(r.version_minor, 0);
    assert_int_equal(r.close, 1); /* HTTP/1.0 closes unless asked otherwise */
    const struct mlc_http_infield *b = mlc_http_header_find(&r, "B");
    assert_non_null(b);
    assert_int_equal(b->value_len, 0);
}

static void chunked_bodies_are_refused_with_length_required(void **state)
{
    (void)state;
    assert_int_equal(REFUSED("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "5\r\nhello\r\n0\r\n\r\n"), 411);
    assert_int_equal(REFUSED("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"), 501);
    /* both framings: the classic smuggling shape */
    assert_int_equal(REFUSED("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                             "Transfer-Encoding: chunked\r\n\r\nabc"), 400);
}

static void oversized_head_is_431(void **state)
{
    (void)state;
    size_t n = 9000;
    char *big = malloc(n);
    memcpy(big, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: ", 32);
    memset(big + 32, 'a', n - 32);
    struct mlc_http_inreq r;
    assert_int_equal(parse(big, 8191, &r), MLC_HTTP_NEED_MORE); /* still within 8 KiB */
    assert_int_equal(parse(big, 8192, &r), MLC_HTTP_INVALID);
    assert_int_equal(r.status, 431);
    assert_int_equal(parse(big, n, &r), MLC_HTTP_INVALID);
    assert_int_equal(r.status, 431);
    free(big);

    /* too many header lines, each small */
    char many[4096];
    size_t o = (size_t)snprintf(many, sizeof(many), "GET / HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 40; i++)
        o += (size_t)snprintf(many + o, sizeof(many) - o, "X-%d: y\r\n", i);
    o += (size_t)snprintf(many + o, sizeof(many) - o, "\r\n");
    assert_int_equal(refused_with(many, o), 431);
}

static void oversized_body_is_413_before_it_arrives(void **state)
{
    (void)state;
    /* the head alone is enough to refuse: the client need not upload 1 MB first */
    assert_int_equal(REFUSED("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 65537\r\n\r\n"), 413);
    assert_int_equal(REFUSED("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: "
                             "99999999999999999999999\r\n\r\n"), 413);
    struct mlc_http_inreq r;
    assert_int_equal(PARSE("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 65536\r\n\r\n", &r),
                     MLC_HTTP_NEED_MORE);
}

static void bad_request_lines_are_400(void **state)
{
    (void)state;
    assert_int_equal(REFUSED("GET\r\n\r\n"), 400);
    assert_int_equal(REFUSED("GET /x\r\n\r\n"), 400);
    assert_int_equal(REFUSED("GET x HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
    assert_int_equal(REFUSED("GET http://evil/ HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
    assert_int_equal(REFUSED("GET  /x HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
    assert_int_equal(REFUSED("GET /x HTTP/1.1 more\r\nHost: x\r\n\r\n"), 400);
    assert_int_equal(REFUSED("GET /x FTP/1.1\r\n\r\n"), 400);
    assert_int_equal(REFUSED("GET /x HTTP/1.1\n\n"), 400);       /* bare LF */
    assert_int_equal(REFUSED("GET /x HTTP/2.0\r\nHost: x\r\n\r\n"), 505);
    assert_int_equal(REFUSED("ABCDEFGHIJKLMNOPQRSTUVWXYZ / HTTP/1.1\r\n\r\n"), 501);
    assert_int_equal(REFUSED("GET /x HTTP/1.1\r\n\r\n"), 400);   /* no Host in 1.1 */
    assert_int_equal(REFUSED("GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
    /* garbage is refused as soon as it cannot be HTTP, without waiting for a line end */
    assert_int_equal(REFUSED("\x16\x03\x01\x02\x00"), 400);
    assert_int_equal(REFUSED("GET /\x01"), 400);
    assert_int_equal(REFUSED("GET / HTTX"), 400);

    char longt[MLC_HTTP_TARGET_MAX + 40] = "GET /";
    memset(longt + 5, 'a', MLC_HTTP_TARGET_MAX);
    longt[5 + MLC_HTTP_TARGET_MAX] = '\0';
    assert_int_equal(refused_with(longt, strlen(longt)), 414);
}

static void header_injection_and_framing_tricks_are_400(void **state)
{
    (void)state;
    assert_int_equal(REFUSED("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rSet-Cookie: b\r\n\r\n"), 400);
    assert_int_equal(REFUSED("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\nSet-Cookie: b\r\n\r\n"), 400);
    assert_int_equal(REFUSED("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n folded\r\n\r\n"), 400);
    assert_int_equal(REFUSED("GET / HTTP/1.1\r\nHost: x\r\nX-A : a\r\n\r\n"), 400);
    assert_int_equal(REFUSED("GET / HTTP/1.1\r\nHost: x\r\n: a\r\n\r\n"), 400);
    assert_int_equal(REFUSED("GET / HTTP/1.1\r\nHost: x\r\nX-A\r\n\r\n"), 400);
    assert_int_equal(REFUSED("GET / HTTP/1.1\r\nHost: x\r\nX-A: \x1b[31m\r\n\r\n"), 400);
    assert_int_equal(REFUSED("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                             "Content-Length: 6\r\n\r\nhello!"), 400);
    assert_int_equal(REFUSED("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"), 400);
    assert_int_equal(REFUSED("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n"), 400);
    assert_int_equal(REFUSED("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\n"), 400);
    assert_int_equal(REFUSED("POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n"), 400);
    assert_int_equal(REFUSED("POST / HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n\r\n"), 417);

    struct mlc_http_inreq r;
    assert_int_equal(PARSE("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                           "Content-Length: 2\r\nExpect: 100-Continue\r\n\r\nok", &r),
                     MLC_HTTP_COMPLETE);
    assert_int_equal(r.expect_continue, 1);
    /* obs-text (UTF-8) in a value is allowed */
    assert_int_equal(PARSE("GET / HTTP/1.1\r\nHost: x\r\nX-Name: caf\xc3\xa9\r\n\r\n", &r),
                     MLC_HTTP_COMPLETE);
}

static void nul_bytes_are_refused_everywhere(void **state)
{
    (void)state;
    assert_int_equal(REFUSED("GET /a\0b HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
    assert_int_equal(REFUSED("GE\0T / HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
    assert_int_equal(REFUSED("GET / HTTP/1.1\r\nHost: x\0y\r\n\r\n"), 400);
    assert_int_equal(REFUSED("GET / HTTP/1.1\r\nHo\0st: x\r\n\r\n"), 400);
    assert_int_equal(REFUSED("\0"), 400);
    /* NUL in a body is just data */
    struct mlc_http_inreq r;
    assert_int_equal(PARSE("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\na\0b", &r),
                     MLC_HTTP_COMPLETE);
    assert_memory_equal(r.body, "a\0b", 3);
}

static void pipelined_bytes_are_not_part_of_the_request(void **state)
{
    (void)state;
    static const char first[] = "GET /one HTTP/1.1\r\nHost: x\r\n\r\n";
    static const char both[] = "GET /one HTTP/1.1\r\nHost: x\r\n\r\n\x01\x02garbage\r\n\r\n";
    struct mlc_http_inreq r;
    assert_int_equal(PARSE(both, &r), MLC_HTTP_COMPLETE);
    assert_int_equal(r.total_len, sizeof(first) - 1);
    assert_true(span_eq(r.path, r.path_len, "/one"));
    /* what follows, on its own, is refused */
    assert_int_equal(refused_with(both + r.total_len, sizeof(both) - 1 - r.total_len), 400);
}

static void query_and_cookie_values(void **state)
{
    (void)state;
    char v[16];
    const char *q = "a=1&token=x%2By+z&bad=%4&nul=a%00b&empty=&flag";
    size_t ql = strlen(q);
    assert_int_equal(mlc_http_query_get(q, ql, "token", v, sizeof(v)), MLC_OK);
    assert_string_equal(v, "x+y z");
    assert_int_equal(mlc_http_query_get(q, ql, "empty", v, sizeof(v)), MLC_OK);
    assert_string_equal(v, "");
    assert_int_equal(mlc_http_query_get(q, ql, "flag", v, sizeof(v)), MLC_OK);
    assert_int_equal(mlc_http_query_get(q, ql, "bad", v, sizeof(v)), MLC_ERR_DATA);
    assert_int_equal(mlc_http_query_get(q, ql, "nul", v, sizeof(v)), MLC_ERR_DATA);
    assert_int_equal(mlc_http_query_get(q, ql, "tok", v, sizeof(v)), MLC_ERR_NOTFOUND);
    assert_int_equal(mlc_http_query_get(q, ql, "token", v, 4), MLC_ERR_TOO_BIG);
    assert_int_equal(mlc_http_query_get(NULL, 0, "a", v, sizeof(v)), MLC_ERR_NOTFOUND);

    struct mlc_http_inreq r;
    assert_int_equal(PARSE("GET / HTTP/1.1\r\nHost: x\r\nCookie: a=1; mlc_token=\"s3cr3t\" ;b=2\r\n"
                           "\r\n", &r), MLC_HTTP_COMPLETE);
    assert_int_equal(mlc_http_cookie_get(&r, "mlc_token", v, sizeof(v)), MLC_OK);
    assert_string_equal(v, "s3cr3t");
    assert_int_equal(mlc_http_cookie_get(&r, "b", v, sizeof(v)), MLC_OK);
    assert_string_equal(v, "2");
    assert_int_equal(mlc_http_cookie_get(&r, "mlc", v, sizeof(v)), MLC_ERR_NOTFOUND);
    assert_int_equal(mlc_http_cookie_get(&r, "mlc_token", v, 3), MLC_ERR_TOO_BIG);
}

static void connection_close_and_status_words(void **state)
{
    (void)state;
    struct mlc_http_inreq r;
    assert_int_equal(PARSE("GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Close\r\n\r\n", &r),
                     MLC_HTTP_COMPLETE);
    assert_int_equal(r.close, 1);
    assert_string_equal(mlc_http_status_text(431), "Request Header Fields Too Large");
    assert_string_equal(mlc_http_status_text(799), "Unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_get),
        cmocka_unit_test(post_with_body_waits_for_every_byte),
        cmocka_unit_test(every_prefix_of_a_valid_request_needs_more),
        cmocka_unit_test(chunked_bodies_are_refused_with_length_required),
        cmocka_unit_test(oversized_head_is_431),
        cmocka_unit_test(oversized_body_is_413_before_it_arrives),
        cmocka_unit_test(bad_request_lines_are_400),
        cmocka_unit_test(header_injection_and_framing_tricks_are_400),
        cmocka_unit_test(nul_bytes_are_refused_everywhere),
        cmocka_unit_test(pipelined_bytes_are_not_part_of_the_request),
        cmocka_unit_test(query_and_cookie_values),
        cmocka_unit_test(connection_close_and_status_words),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
