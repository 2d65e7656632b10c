#include "mlc_buf.h"
#include "mlc_alloc.h"
#include "mlc_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void mlc_buf_init(struct mlc_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void mlc_buf_free(struct mlc_buf *b)
{
    mlc_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void mlc_buf_reset(struct mlc_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static int grow(struct mlc_buf *b, size_t need)
{
    if (need > b->max)
        return MLC_ERR_TOO_BIG;
    if (need + 1 <= b->cap)
        return MLC_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need + 1)
        cap = cap > (b->max + 1) / 2 ? b->max + 1 : cap * 2;
    char *d = mlc_realloc(b->data, cap);
    if (!d)
        return MLC_ERR_NOMEM;
    b->data = d;
    b->cap = cap;
    return MLC_OK;
}

int mlc_buf_append(struct mlc_buf *b, const void *data, size_t n)
{
    if (n > b->max - b->len)
        return MLC_ERR_TOO_BIG;
    int rc = grow(b, b->len + n);
    if (rc != MLC_OK)
        return rc;
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return MLC_OK;
}

int mlc_buf_append_str(struct mlc_buf *b, const char *s)
{
    return mlc_buf_append(b, s, strlen(s));
}

int mlc_buf_printf(struct mlc_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return MLC_ERR_INTERNAL;
    if ((size_t)n > b->max - b->len)
        return MLC_ERR_TOO_BIG;
    int rc = grow(b, b->len + (size_t)n);
    if (rc != MLC_OK)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return MLC_OK;
}

char *mlc_buf_take(struct mlc_buf *b, size_t *len)
{
    char *d = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}
