#include "mlc_http_parse.h"
#include "mlc_err.h"

#include <string.h>

static int fail(struct mlc_http_inreq *req, int status, const char *reason)
{
    req->status = status;
    req->reason = reason;
    return MLC_HTTP_INVALID;
}

/* RFC 9110 5.6.2 tchar. */
static int is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* RFC 9110 5.5 field-vchar / SP / HTAB; obs-text is allowed, every other control byte is not. */
static int is_value_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int ieq(const char *a, size_t alen, const char *lit)
{
    size_t n = strlen(lit);
    if (alen != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)lit[i];
        if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x + 32);
        if (y >= 'A' && y <= 'Z')
            y = (unsigned char)(y + 32);
        if (x != y)
            return 0;
    }
    return 1;
}

/* Does the comma-separated token list in v contain tok (case-insensitive)? */
static int list_has(const char *v, size_t n, const char *tok)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < n && v[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e > s && ieq(v + s, e - s, tok))
            return 1;
    }
    return 0;
}

/* Ran out of bytes: wait for more, unless the head has already used its whole allowance. */
static int out_of_bytes(struct mlc_http_inreq *req, size_t len, size_t head_max)
{
    if (len >= head_max)
        return fail(req, 431, "request headers too large");
    return MLC_HTTP_NEED_MORE;
}

/* Applies the framing headers once the whole head is known, so their order does not matter. */
static int check_framing(struct mlc_http_inreq *req)
{
    int n_host = 0, n_cl = 0, has_te = 0, te_chunked = 0;
    int64_t cl = 0;
    req->close = req->version_minor == 0;
    for (size_t i = 0; i < req->n_headers; i++) {
        const struct mlc_http_infield *h = &req->headers[i];
        if (ieq(h->name, h->name_len, "host")) {
            n_host++;
        } else if (ieq(h->name, h->name_len, "content-length")) {
            /* 15 digits is far past any body cap yet cannot overflow int64. */
            if (h->value_len == 0)
                return fail(req, 400, "empty Content-Length");
            if (h->value_len > 15)
                return fail(req, 413, "request body too large");
            int64_t v = 0;
            for (size_t k = 0; k < h->value_len; k++) {
                if (h->value[k] < '0' || h->value[k] > '9')
                    return fail(req, 400, "Content-Length is not a number");
                v = v * 10 + (h->value[k] - '0');
            }
            if (n_cl++ && v != cl)
                return fail(req, 400, "conflicting Content-Length headers");
            cl = v;
        } else if (ieq(h->name, h->name_len, "transfer-encoding")) {
            has_te = 1;
            if (list_has(h->value, h->value_len, "chunked"))
                te_chunked = 1;
        } else if (ieq(h->name, h->name_len, "expect")) {
            if (!ieq(h->value, h->value_len, "100-continue"))
                return fail(req, 417, "unsupported Expect");
            req->expect_continue = 1;
        } else if (ieq(h->name, h->name_len, "connection")) {
            if (list_has(h->value, h->value_len, "close"))
                req->close = 1;
            else if (list_has(h->value, h->value_len, "keep-alive"))
                req->close = 0;
        }
    }
    /* Both framings at once is the classic request-smuggling shape: refuse outright. */
    if (has_te && n_cl)
        return fail(req, 400, "both Transfer-Encoding and Content-Length");
    if (has_te)
        return te_chunked ? fail(req, 411, "chunked bodies are not accepted; send Content-Length")
                          : fail(req, 501, "unsupported Transfer-Encoding");
    if (req->version_minor >= 1 && n_host != 1)
        return fail(req, 400, n_host ? "more than one Host header" : "missing Host header");
    req->content_length = cl;
    return MLC_HTTP_COMPLETE;
}

int mlc_http_parse_head(const char *buf, size_t len, const struct mlc_http_limits *lim,
                        struct mlc_http_inreq *req)
{
    memset(req, 0, sizeof(*req));
    size_t head_max = lim && lim->head_max ? lim->head_max : MLC_HTTP_HEAD_MAX_DEFAULT;
    size_t hmax = lim && lim->headers_max && lim->headers_max < MLC_HTTP_HEADERS_MAX
                      ? lim->headers_max : MLC_HTTP_HEADERS_MAX;
    const unsigned char *p = (const unsigned char *)buf;
    size_t scan = len < head_max ? len : head_max; /* never look past the allowance */
    size_t pos = 0;

    /* method SP */
    while (pos < scan && is_tchar(p[pos])) {
        if (++pos >= MLC_HTTP_METHOD_MAX)
            return fail(req, 501, "unknown method");
    }
    if (pos == scan)
        return out_of_bytes(req, len, head_max);
    if (pos == 0 || p[pos] != ' ')
        return fail(req, 400, "malformed request line");
    memcpy(req->method, buf, pos);
    req->method[pos] = '\0';
    pos++;

    /* request-target SP: origin-form only (an absolute path), visible ASCII only */
    size_t t0 = pos;
    while (pos < scan && p[pos] > 0x20 && p[pos] < 0x7f) {
        if (++pos - t0 > MLC_HTTP_TARGET_MAX)
            return fail(req, 414, "request target too long");
    }
    if (t0 < scan && p[t0] != '/')
        return fail(req, 400, "request target must be a path");
    if (pos == scan)
        return out_of_bytes(req, len, head_max);
    if (pos == t0 || p[pos] != ' ')
        return fail(req, 400, "malformed request line");
    req->target = buf + t0;
    req->target_len = pos - t0;
    req->path = req->target;
    req->path_len = req->target_len;
    const char *q = memchr(req->target, '?', req->target_len);
    if (q) {
        req->path_len = (size_t)(q - req->target);
        req->query = q + 1;
        req->query_len = req->target_len - req->path_len - 1;
    }
    pos++;

    /* HTTP/d.d CRLF, checked byte by byte so garbage fails before the line ends */
    static const char ver[] = "HTTP/#.#\r\n";
    for (size_t k = 0; k < sizeof(ver) - 1; k++, pos++) {
        if (pos == scan)
            return out_of_bytes(req, len, head_max);
        if (ver[k] == '#' ? !(p[pos] >= '0' && p[pos] <= '9') : p[pos] != (unsigned char)ver[k])
            return fail(req, 400, "malformed request line");
    }
    if (p[pos - 5] != '1')
        return fail(req, 505, "only HTTP/1.x is supported");
    req->version_minor = p[pos - 3] == '0' ? 0 : 1;

    /* header fields, up to the empty line */
    for (;;) {
        if (pos == scan)
            return out_of_bytes(req, len, head_max);
        if (p[pos] == '\r') {
            if (pos + 1 == scan)
                return out_of_bytes(req, len, head_max);
            if (p[pos + 1] != '\n')
                return fail(req, 400, "bare CR in request head");
            pos += 2;
            break;
        }
        if (p[pos] == ' ' || p[pos] == '\t')
            return fail(req, 400, "folded header line");
        size_t n0 = pos;
        while (pos < scan && is_tchar(p[pos]))
            pos++;
        if (pos == scan)
            return out_of_bytes(req, len, head_max);
        if (p[pos] != ':' || pos == n0)
            return fail(req, 400, "malformed header name");
        if (req->n_headers == hmax)
            return fail(req, 431, "too many request headers");
        size_t n1 = pos++;
        while (pos < scan && (p[pos] == ' ' || p[pos] == '\t'))
            pos++;
        size_t v0 = pos;
        while (pos < scan && p[pos] != '\r') {
            if (!is_value_char(p[pos]))
                return fail(req, 400, "control character in header value");
            pos++;
        }
        if (pos + 1 >= scan)
            return out_of_bytes(req, len, head_max);
        if (p[pos + 1] != '\n')
            return fail(req, 400, "bare CR in request head");
        size_t v1 = pos;
        while (v1 > v0 && (p[v1 - 1] == ' ' || p[v1 - 1] == '\t'))
            v1--;
        struct mlc_http_infield *h = &req->headers[req->n_headers++];
        h->name = buf + n0;
        h->name_len = n1 - n0;
        h->value = buf + v0;
        h->value_len = v1 - v0;
        pos += 2;
    }
    req->head_len = pos;
    req->total_len = pos;
    return check_framing(req);
}

int mlc_http_parse_request(const char *buf, size_t len, const struct mlc_http_limits *lim,
                           struct mlc_http_inreq *req)
{
    int rc = mlc_http_parse_head(buf, len, lim, req);
    if (rc != MLC_HTTP_COMPLETE)
        return rc;
    size_t body_max = lim ? lim->body_max : 0;
    if ((uint64_t)req->content_length > (uint64_t)body_max)
        return fail(req, 413, "request body too large");
    if (len - req->head_len < (size_t)req->content_length)
        return MLC_HTTP_NEED_MORE;
    req->body = buf + req->head_len;
    req->body_len = (size_t)req->content_length;
    req->total_len = req->head_len + req->body_len;
    return MLC_HTTP_COMPLETE;
}

const struct mlc_http_infield *mlc_http_header_find(const struct mlc_http_inreq *req,
                                                   const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (ieq(req->headers[i].name, req->headers[i].name_len, name))
            return &req->headers[i];
    return NULL;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int mlc_http_query_get(const char *query, size_t query_len, const char *name, char *out, size_t cap)
{
    size_t nlen = strlen(name), i = 0;
    if (!query || cap == 0)
        return MLC_ERR_NOTFOUND;
    while (i <= query_len) {
        size_t s = i;
        while (i < query_len && query[i] != '&')
            i++;
        const char *eq = memchr(query + s, '=', i - s);
        size_t klen = eq ? (size_t)(eq - (query + s)) : i - s;
        if (klen == nlen && memcmp(query + s, name, nlen) == 0) {
            const char *v = eq ? eq + 1 : query + i;
            size_t vlen = (size_t)(query + i - v), o = 0;
            for (size_t k = 0; k < vlen; k++) {
                int c = (unsigned char)v[k];
                if (c == '+') {
                    c = ' ';
                } else if (c == '%') {
                    int hi = k + 2 < vlen ? hexval(v[k + 1]) : -1;
                    int lo = hi >= 0 ? hexval(v[k + 2]) : -1;
                    if (lo < 0)
                        return MLC_ERR_DATA;
                    c = hi * 16 + lo;
                    k += 2;
                    if (c == 0)
                        return MLC_ERR_DATA;
                }
                if (o + 1 >= cap)
                    return MLC_ERR_TOO_BIG;
                out[o++] = (char)c;
            }
            out[o] = '\0';
            return MLC_OK;
        }
        i++;
    }
    return MLC_ERR_NOTFOUND;
}

int mlc_http_cookie_get(const struct mlc_http_inreq *req, const char *name, char *out, size_t cap)
{
    size_t nlen = strlen(name);
    for (size_t h = 0; h < req->n_headers; h++) {
        const struct mlc_http_infield *hd = &req->headers[h];
        if (!ieq(hd->name, hd->name_len, "cookie"))
            continue;
        size_t i = 0;
        while (i < hd->value_len) {
            while (i < hd->value_len && (hd->value[i] == ' ' || hd->value[i] == ';'))
                i++;
            size_t s = i;
            while (i < hd->value_len && hd->value[i] != ';')
                i++;
            const char *pair = hd->value + s, *eq = memchr(pair, '=', i - s);
            if (!eq || (size_t)(eq - pair) != nlen || memcmp(pair, name, nlen) != 0)
                continue;
            const char *v = eq + 1;
            size_t vlen = (size_t)(hd->value + i - v);
            while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
                vlen--;
            if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
                v++;
                vlen -= 2;
            }
            if (vlen + 1 > cap)
                return MLC_ERR_TOO_BIG;
            memcpy(out, v, vlen);
            out[vlen] = '\0';
            return MLC_OK;
        }
    }
    return MLC_ERR_NOTFOUND;
}

const char *mlc_http_status_text(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}
