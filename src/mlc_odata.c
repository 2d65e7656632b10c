#include "mlc_odata.h"
#include "mlc_alloc.h"
#include "mlc_err.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ---- JSON guards ---- */

int mlc_json_check_bounds(const char *body, size_t len, size_t max_len, unsigned max_depth)
{
    if (len > max_len)
        return MLC_ERR_TOO_BIG;
    if (!body)
        return len ? MLC_ERR_DATA : MLC_OK;
    unsigned depth = 0;
    int in_str = 0, esc = 0;
    for (size_t i = 0; i < len; i++) {
        char c = body[i];
        if (c == '\0')
            return MLC_ERR_DATA; /* cJSON works on C strings: a NUL would cut a value short */
        if (in_str) {
            if (esc) {
                esc = 0;
                /* cJSON would decode \u0000 and silently cut the string there. */
                if (c == 'u' && len - i > 4 && memcmp(body + i + 1, "0000", 4) == 0)
                    return MLC_ERR_DATA;
            }
            else if (c == '\\')
                esc = 1;
            else if (c == '"')
                in_str = 0;
            continue;
        }
        if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > max_depth)
                return MLC_ERR_TOO_BIG;
        } else if (c == '}' || c == ']') {
            if (depth)
                depth--;
        }
    }
    return MLC_OK;
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

cJSON *mlc_json_parse_bounded(const char *body, size_t len, size_t max_len, unsigned max_depth,
                              int *err)
{
    int rc = mlc_json_check_bounds(body, len, max_len, max_depth);
    cJSON *root = NULL;
    if (rc != MLC_OK)
        goto out;
    if (len == 0) {
        rc = MLC_ERR_DATA;
        goto out;
    }
    const char *end = NULL;
    root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!root) {
        /* cJSON does not say why; an allocation failure stops it at the very position where
         * the text is fine, so telling NOMEM from DATA reliably is not possible here. */
        rc = MLC_ERR_DATA;
        goto out;
    }
    for (size_t i = (size_t)(end - body); i < len; i++) {
        if (!is_ws(body[i])) { /* trailing garbage after the value */
            cJSON_Delete(root);
            root = NULL;
            rc = MLC_ERR_DATA;
            goto out;
        }
    }
out:
    if (err)
        *err = root ? MLC_OK : rc;
    return root;
}

/* ---- literals ---- */

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

int mlc_odata_guid_valid(const char *s)
{
    if (!s || strlen(s) != 36)
        return 0;
    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!is_hex(s[i])) {
            return 0;
        }
    }
    return 1;
}

static int num(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int days_in_month(int y, int m)
{
    static const int d[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return d[m - 1];
}

int mlc_odata_datetime_valid(const char *s)
{
    if (!s || strlen(s) != 19 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
        s[16] != ':')
        return 0;
    int y = num(s, 4), mo = num(s + 5, 2), d = num(s + 8, 2);
    int h = num(s + 11, 2), mi = num(s + 14, 2), se = num(s + 17, 2);
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 ||
        se > 59)
        return 0;
    return d <= days_in_month(y, mo);
}

int mlc_odata_parse_date(const char *s, int64_t *ms, int *offset_min)
{
    static const char pre[] = "/Date(";
    if (!s || strncmp(s, pre, sizeof(pre) - 1) != 0)
        return MLC_ERR_DATA;
    const char *p = s + sizeof(pre) - 1;
    int neg = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    int64_t v = 0;
    size_t nd = 0;
    /* 16 digits reach year 318857 in ms: enough, and no int64 overflow is possible. */
    while (is_digit(*p) && nd < 16) {
        v = v * 10 + (*p - '0');
        p++;
        nd++;
    }
    if (nd == 0 || is_digit(*p))
        return MLC_ERR_DATA;
    int off = 0;
    if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        int hh = num(p + 1, 2), mm = hh < 0 ? -1 : num(p + 3, 2);
        if (hh < 0 || mm < 0 || hh > 14 || mm > 59)
            return MLC_ERR_DATA;
        off = sign * (hh * 60 + mm);
        p += 5;
    }
    if (strcmp(p, ")/") != 0)
        return MLC_ERR_DATA;
    *ms = neg ? -v : v;
    if (offset_min)
        *offset_min = off;
    return MLC_OK;
}

/* ---- filter builder ---- */

void mlc_odata_filter_init(struct mlc_odata_filter *f)
{
    mlc_buf_init(&f->text, MLC_ODATA_FILTER_MAX);
    f->err = MLC_OK;
    f->terms = 0;
    f->last = MLC_ODATA_AND;
}

void mlc_odata_filter_free(struct mlc_odata_filter *f)
{
    if (!f)
        return;
    mlc_buf_free(&f->text);
    f->terms = 0;
}

const char *mlc_odata_filter_text(const struct mlc_odata_filter *f)
{
    if (f->err != MLC_OK)
        return NULL;
    return f->text.data ? f->text.data : "";
}

static int field_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 128 || !(is_alpha(s[0]) || s[0] == '_') || s[n - 1] == '/')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '/' && s[i + 1] == '/')
            return 0;
        if (!(is_alpha(c) || is_digit(c) || c == '_' || c == '/'))
            return 0;
    }
    return 1;
}

static const char *const cmp_names[] = { "eq", "ne", "gt", "ge", "lt", "le" };

/* Starts a new term: validates, adds the connective and wraps on an and/or change. */
static int term_begin(struct mlc_odata_filter *f, enum mlc_odata_conj conj)
{
    if (f->err != MLC_OK)
        return f->err;
    if ((unsigned)conj > MLC_ODATA_OR)
        return f->err = MLC_ERR_DATA;
    if (f->terms == 0)
        return MLC_OK;
    int rc = MLC_OK;
    if (f->terms >= 2 && conj != f->last) {
        struct mlc_buf w;
        mlc_buf_init(&w, MLC_ODATA_FILTER_MAX);
        rc = mlc_buf_append(&w, "(", 1);
        if (rc == MLC_OK)
            rc = mlc_buf_append(&w, f->text.data, f->text.len);
        if (rc == MLC_OK)
            rc = mlc_buf_append(&w, ")", 1);
        if (rc != MLC_OK) {
            mlc_buf_free(&w);
            return f->err = rc;
        }
        mlc_buf_free(&f->text);
        f->text = w;
    }
    rc = mlc_buf_append_str(&f->text, conj == MLC_ODATA_AND ? " and " : " or ");
    if (rc != MLC_OK)
        return f->err = rc;
    f->last = conj;
    return MLC_OK;
}

static int term_head(struct mlc_odata_filter *f, enum mlc_odata_conj conj, const char *field,
                     enum mlc_odata_cmp cmp)
{
    if (f->err != MLC_OK)
        return f->err;
    if (!field_valid(field) || (unsigned)cmp > MLC_ODATA_LE)
        return f->err = MLC_ERR_DATA;
    int rc = term_begin(f, conj);
    if (rc == MLC_OK)
        rc = mlc_buf_printf(&f->text, "%s %s ", field, cmp_names[cmp]);
    return f->err = rc;
}

static int term_end(struct mlc_odata_filter *f, int rc)
{
    if (rc == MLC_OK)
        f->terms++;
    return f->err = rc;
}

int mlc_odata_filter_string(struct mlc_odata_filter *f, enum mlc_odata_conj conj, const char *field,
                            enum mlc_odata_cmp cmp, const char *value)
{
    if (f->err != MLC_OK)
        return f->err;
    if (!value)
        return f->err = MLC_ERR_DATA;
    for (const unsigned char *p = (const unsigned char *)value; *p; p++)
        if (*p < 0x20 || *p == 0x7f) /* no control characters in a query */
            return f->err = MLC_ERR_DATA;
    int rc = term_head(f, conj, field, cmp);
    if (rc == MLC_OK)
        rc = mlc_buf_append(&f->text, "'", 1);
    for (const char *p = value; rc == MLC_OK && *p; p++) {
        /* OData string literals escape a quote by doubling it. */
        rc = *p == '\'' ? mlc_buf_append(&f->text, "''", 2) : mlc_buf_append(&f->text, p, 1);
    }
    if (rc == MLC_OK)
        rc = mlc_buf_append(&f->text, "'", 1);
    return term_end(f, rc);
}

int mlc_odata_filter_guid(struct mlc_odata_filter *f, enum mlc_odata_conj conj, const char *field,
                          enum mlc_odata_cmp cmp, const char *guid)
{
    if (f->err != MLC_OK)
        return f->err;
    if (!mlc_odata_guid_valid(guid))
        return f->err = MLC_ERR_DATA;
    int rc = term_head(f, conj, field, cmp);
    if (rc == MLC_OK)
        rc = mlc_buf_printf(&f->text, "guid'%s'", guid);
    return term_end(f, rc);
}

int mlc_odata_filter_datetime(struct mlc_odata_filter *f, enum mlc_odata_conj conj,
                              const char *field, enum mlc_odata_cmp cmp, const char *iso)
{
    if (f->err != MLC_OK)
        return f->err;
    if (!mlc_odata_datetime_valid(iso))
        return f->err = MLC_ERR_DATA;
    int rc = term_head(f, conj, field, cmp);
    if (rc == MLC_OK)
        rc = mlc_buf_printf(&f->text, "datetime'%s'", iso);
    return term_end(f, rc);
}

int mlc_odata_filter_int(struct mlc_odata_filter *f, enum mlc_odata_conj conj, const char *field,
                         enum mlc_odata_cmp cmp, int64_t value)
{
    int rc = term_head(f, conj, field, cmp);
    if (rc == MLC_OK)
        rc = mlc_buf_printf(&f->text, "%" PRId64, value);
    return term_end(f, rc);
}

int mlc_odata_filter_group(struct mlc_odata_filter *f, enum mlc_odata_conj conj,
                           const struct mlc_odata_filter *sub)
{
    if (f->err != MLC_OK)
        return f->err;
    if (!sub || sub->err != MLC_OK || sub->terms == 0 || sub == f)
        return f->err = sub && sub->err != MLC_OK ? sub->err : MLC_ERR_DATA;
    int rc = term_begin(f, conj);
    if (rc == MLC_OK)
        rc = mlc_buf_printf(&f->text, "(%s)", sub->text.data);
    return term_end(f, rc);
}

/* ---- URL builder ---- */

/* A writer into the caller's buffer that stops at a limit instead of truncating silently. */
struct writer {
    char *out;
    size_t len;
    size_t limit;
    int err;
};

static void w_put(struct writer *w, const char *s, size_t n)
{
    if (w->err)
        return;
    if (n > w->limit - w->len) {
        w->err = MLC_ERR_TOO_BIG;
        return;
    }
    memcpy(w->out + w->len, s, n);
    w->len += n;
}

static void w_str(struct writer *w, const char *s)
{
    w_put(w, s, strlen(s));
}

/* Query values: RFC 3986 unreserved characters and the OData punctuation that is legal in a
 * query stay; everything else (space, &, =, +, #, %, non-ASCII) is %XX. Space is %20, never '+',
 * which OData servers do not read as a space. */
static void w_encode(struct writer *w, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p && !w->err; p++) {
        unsigned char c = *p;
        if (is_alpha((char)c) || is_digit((char)c) || strchr("-._~,/:'()$", c)) {
            w_put(w, (const char *)p, 1);
        } else {
            char e[3] = { '%', hex[c >> 4], hex[c & 15] };
            w_put(w, e, 3);
        }
    }
}

static int chars_in(const char *s, const char *extra)
{
    for (; *s; s++)
        if (!(is_alpha(*s) || is_digit(*s) || strchr(extra, *s)))
            return 0;
    return 1;
}

/* A path made of segments of letters and digits, separated by single slashes. */
static int path_valid(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max || s[0] == '/' || s[n - 1] == '/' || strstr(s, "//"))
        return 0;
    return chars_in(s, "/_");
}

/* Length of "scheme://" for http/https, 0 otherwise. */
static size_t scheme_len(const char *u)
{
    if (strncmp(u, "https://", 8) == 0)
        return 8;
    if (strncmp(u, "http://", 7) == 0)
        return 7;
    return 0;
}

static int url_text_ok(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f || *p == '\\')
            return 0;
    return 1;
}

/* The base without trailing slashes; 0 if it is not a bare http(s)://host[:port][/path]. */
static size_t base_len(const char *base)
{
    if (!base || strlen(base) > 512)
        return 0;
    size_t sl = scheme_len(base);
    if (!sl || !url_text_ok(base) || strpbrk(base, "?#@"))
        return 0;
    size_t n = strlen(base);
    while (n > sl && base[n - 1] == '/')
        n--;
    return n > sl ? n : 0;
}

int mlc_odata_build_url(const struct mlc_odata_query *q, char *out, size_t cap)
{
    if (!q || !out || cap == 0)
        return MLC_ERR_DATA;
    out[0] = '\0';
    size_t bl = base_len(q->base);
    int cur = q->division == 0;
    const char *svc = q->service ? q->service : "";
    if (!bl || !q->entity || !chars_in(q->entity, "_") || !q->entity[0] || strlen(q->entity) > 64)
        return MLC_ERR_DATA;
    if (!(svc[0] == '\0' && cur) && !path_valid(svc, 128))
        return MLC_ERR_DATA;
    /* Exact: always $select, never '*' (KB "Query string options"; bulk refuses without). */
    if (!q->select || !q->select[0] || !chars_in(q->select, "_,/"))
        return MLC_ERR_DATA;
    if (q->expand && q->expand[0] && !chars_in(q->expand, "_,/"))
        return MLC_ERR_DATA;
    if (q->orderby && q->orderby[0] && !chars_in(q->orderby, "_,/ "))
        return MLC_ERR_DATA;

    struct writer w = { out, 0, (cap - 1 < MLC_ODATA_URL_MAX ? cap - 1 : MLC_ODATA_URL_MAX), 0 };
    char num[32];
    w_put(&w, q->base, bl);
    w_str(&w, "/api/v1/");
    if (cur) {
        w_str(&w, "current");
    } else {
        snprintf(num, sizeof(num), "%" PRIu32, q->division);
        w_str(&w, num);
    }
    if (svc[0]) {
        w_str(&w, "/");
        w_str(&w, svc);
    }
    w_str(&w, "/");
    w_str(&w, q->entity);
    w_str(&w, "?$select=");
    w_encode(&w, q->select);
    if (q->filter && q->filter[0]) {
        w_str(&w, "&$filter=");
        w_encode(&w, q->filter);
    }
    if (q->expand && q->expand[0]) {
        w_str(&w, "&$expand=");
        w_encode(&w, q->expand);
    }
    if (q->top) {
        snprintf(num, sizeof(num), "&$top=%u", q->top);
        w_str(&w, num);
    }
    if (q->orderby && q->orderby[0]) {
        w_str(&w, "&$orderby=");
        w_encode(&w, q->orderby);
    }
    if (w.err) {
        out[0] = '\0';
        return w.err;
    }
    out[w.len] = '\0';
    return MLC_OK;
}

/* Splits off the authority (host[:port]) of an absolute URL; default ports are dropped. */
static int authority(const char *u, size_t sl, const char **host, size_t *n)
{
    const char *a = u + sl;
    size_t len = strcspn(a, "/?#");
    if (len == 0 || memchr(a, '@', len)) /* userinfo can hide the real host */
        return 0;
    const char *dflt = sl == 8 ? ":443" : ":80";
    size_t dl = strlen(dflt);
    if (len > dl && strncmp(a + len - dl, dflt, dl) == 0)
        len -= dl;
    *host = a;
    *n = len;
    return 1;
}

static int same_ci(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z')
            x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (char)(y - 'A' + 'a');
        if (x != y)
            return 0;
    }
    return 1;
}

int mlc_odata_next_check(const char *base, const char *next)
{
    if (!base || !next || strlen(next) > MLC_ODATA_NEXT_MAX || !url_text_ok(next))
        return MLC_ERR_DATA;
    size_t bs = scheme_len(base), ns = scheme_len(next);
    if (!bs || bs != ns)
        return MLC_ERR_DATA;
    const char *bh, *nh;
    size_t bn, nn;
    if (!authority(base, bs, &bh, &bn) || !authority(next, ns, &nh, &nn))
        return MLC_ERR_DATA;
    if (bn != nn || !same_ci(bh, nh, bn))
        return MLC_ERR_DATA;
    const char *path = next + ns + strcspn(next + ns, "/?#");
    if (strncmp(path, "/api/v1/", 8) != 0)
        return MLC_ERR_DATA;
    /* No dot segments: the link must not climb out of /api/v1/ once a server normalises it. */
    for (const char *d = path; (d = strstr(d, "/.")) != NULL; d++) {
        size_t k = d[2] == '.' ? 3 : 2;
        if (d[k] == '/' || d[k] == '?' || d[k] == '#' || d[k] == '\0')
            return MLC_ERR_DATA;
    }
    return MLC_OK;
}

/* ---- answer parser ---- */

static int parse_count(const cJSON *c, int64_t *out)
{
    if (cJSON_IsNumber(c)) {
        if (c->valuedouble < 0 || c->valuedouble > 9e15)
            return MLC_ERR_DATA;
        *out = (int64_t)c->valuedouble;
        return MLC_OK;
    }
    if (!cJSON_IsString(c))
        return MLC_ERR_DATA;
    const char *s = c->valuestring;
    size_t n = strlen(s);
    if (n == 0 || n > 15)
        return MLC_ERR_DATA;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return MLC_ERR_DATA;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return MLC_OK;
}

int mlc_odata_page_parse(struct mlc_odata_page *p, const char *body, size_t len)
{
    memset(p, 0, sizeof(*p));
    p->count = -1;
    int rc = MLC_OK;
    cJSON *root = mlc_json_parse_bounded(body, len, MLC_ODATA_BODY_MAX, MLC_ODATA_DEPTH_MAX, &rc);
    if (!root)
        goto out;
    rc = MLC_ERR_DATA;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "d");
    const cJSON *rows = NULL;
    if (cJSON_IsArray(d)) {
        rows = d;
    } else if (cJSON_IsObject(d)) {
        const cJSON *res = cJSON_GetObjectItemCaseSensitive(d, "results");
        if (res) {
            if (!cJSON_IsArray(res))
                goto out;
            rows = res;
            const cJSON *nx = cJSON_GetObjectItemCaseSensitive(d, "__next");
            if (nx && !cJSON_IsNull(nx)) {
                if (!cJSON_IsString(nx) || strlen(nx->valuestring) > MLC_ODATA_NEXT_MAX)
                    goto out;
                p->next = nx->valuestring;
            }
            const cJSON *cnt = cJSON_GetObjectItemCaseSensitive(d, "__count");
            if (cnt && parse_count(cnt, &p->count) != MLC_OK)
                goto out;
        } else {
            rows = d;
            p->single = 1;
        }
    } else {
        goto out;
    }
    size_t n = 0;
    if (p->single) {
        n = 1;
    } else {
        for (const cJSON *r = rows->child; r; r = r->next, n++)
            if (!cJSON_IsObject(r))
                goto out;
    }
    p->root = root;
    p->rows = rows;
    p->n_rows = n;
    root = NULL;
    rc = MLC_OK;
out:
    if (root) {
        cJSON_Delete(root);
        memset(p, 0, sizeof(*p));
        p->count = -1;
    }
    return rc;
}

const cJSON *mlc_odata_page_next(struct mlc_odata_page *p)
{
    if (!p || !p->rows)
        return NULL;
    if (p->single) {
        if (p->pos++ == 0)
            return p->rows;
        return NULL;
    }
    p->cur = p->pos == 0 ? p->rows->child : (p->cur ? p->cur->next : NULL);
    if (p->cur)
        p->pos++;
    return p->cur;
}

void mlc_odata_page_free(struct mlc_odata_page *p)
{
    if (!p)
        return;
    cJSON_Delete(p->root);
    memset(p, 0, sizeof(*p));
    p->count = -1;
}

int mlc_odata_row_string(const cJSON *row, const char *name, char *out, size_t cap)
{
    if (cap)
        out[0] = '\0';
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(row, name);
    if (!it || cJSON_IsNull(it))
        return MLC_ERR_NOTFOUND;
    if (!cJSON_IsString(it))
        return MLC_ERR_DATA;
    size_t n = strlen(it->valuestring);
    if (n >= cap)
        return MLC_ERR_TOO_BIG;
    memcpy(out, it->valuestring, n + 1);
    return MLC_OK;
}
