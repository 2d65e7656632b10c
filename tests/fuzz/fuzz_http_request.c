/* libFuzzer target: the status server's request parser on arbitrary bytes. Checks the invariants
 * the server relies on: every pointer stays inside the input, a complete request never claims
 * more bytes than it was given, a refusal always carries an HTTP status and a reason, parsing is
 * deterministic, and a complete request parses the same with any bytes appended (so pipelined
 * data can never change the request in hand). */
#include "mlc_http_parse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void inside(const uint8_t *data, size_t size, const char *p, size_t n)
{
    if (n == 0)
        return;
    if (!p || (const uint8_t *)p < data || (const uint8_t *)p + n > data + size)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* small caps so the fuzzer reaches the limits quickly */
    const struct mlc_http_limits lim = { 512, 8, 256 };
    struct mlc_http_inreq a, b;
    const char *buf = (const char *)data;
    int rc = mlc_http_parse_request(buf, size, &lim, &a);
    if (rc != mlc_http_parse_request(buf, size, &lim, &b) || a.status != b.status ||
        a.total_len != b.total_len)
        abort();
    if (rc == MLC_HTTP_INVALID) {
        if (a.status < 400 || a.status > 599 || !a.reason)
            abort();
        return 0;
    }
    if (rc != MLC_HTTP_COMPLETE)
        return 0;
    if (a.head_len > size || a.head_len > lim.head_max || a.total_len > size ||
        a.total_len != a.head_len + a.body_len || a.body_len > lim.body_max ||
        a.n_headers > lim.headers_max || a.method[0] == '\0' || a.path_len == 0 ||
        a.path[0] != '/' || memchr(a.target, ' ', a.target_len) || memchr(a.path, '?', a.path_len))
        abort();
    inside(data, size, a.target, a.target_len);
    inside(data, size, a.body, a.body_len);
    if (a.query)
        inside(data, size, a.query, a.query_len);
    for (size_t i = 0; i < a.n_headers; i++) {
        const struct mlc_http_infield *h = &a.headers[i];
        inside(data, size, h->name, h->name_len);
        inside(data, size, h->value, h->value_len);
        if (h->name_len == 0 || memchr(h->value, '\r', h->value_len) ||
            memchr(h->value, '\n', h->value_len) || memchr(h->value, '\0', h->value_len))
            abort();
    }
    /* the request in hand is the same whatever follows it */
    if (a.total_len < size) {
        if (mlc_http_parse_request(buf, a.total_len, &lim, &b) != MLC_HTTP_COMPLETE ||
            b.total_len != a.total_len || b.n_headers != a.n_headers)
            abort();
    }
    /* the helpers stay within their output */
    char out[64];
    if (a.query)
        mlc_http_query_get(a.query, a.query_len, "access_token", out, sizeof(out));
    mlc_http_cookie_get(&a, "mlc_token", out, sizeof(out));
    return 0;
}
