/* A growable byte buffer with a hard maximum (curl's dynbuf idea): appending past the
 * maximum fails with MLC_ERR_TOO_BIG instead of growing without bound. Always NUL-terminated. */
#ifndef MLC_BUF_H
#define MLC_BUF_H
#include <stddef.h>

struct mlc_buf {
    char *data;   /* NUL-terminated when len > 0 or after any append */
    size_t len;
    size_t cap;
    size_t max;   /* largest len allowed */
};

void mlc_buf_init(struct mlc_buf *b, size_t max);
void mlc_buf_free(struct mlc_buf *b);
void mlc_buf_reset(struct mlc_buf *b);            /* len = 0, keeps the memory */
int mlc_buf_append(struct mlc_buf *b, const void *data, size_t n);
int mlc_buf_append_str(struct mlc_buf *b, const char *s);
int mlc_buf_printf(struct mlc_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Takes ownership of the data (caller frees with mlc_free); the buffer is left empty. */
char *mlc_buf_take(struct mlc_buf *b, size_t *len);
#endif
