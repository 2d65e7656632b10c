/* Levelled key=value log lines on stderr (journald-friendly). Every line passes through the
 * redactor: registered secret values, Authorization headers, tokens, client secrets and OAuth
 * `code` parameters are replaced by [REDACTED] before anything is written. */
#ifndef MLC_LOG_H
#define MLC_LOG_H
#include <stdio.h>
#include <stddef.h>

enum mlc_log_level { MLC_LOG_ERROR = 0, MLC_LOG_WARN = 1, MLC_LOG_INFO = 2, MLC_LOG_DEBUG = 3 };

void mlc_log_set_level(int level);
int mlc_log_get_level(void);
/* "error", "warn", "info", "debug" -> level; -1 if unknown. */
int mlc_log_level_parse(const char *name);
/* Where lines go (default stderr). Tests point it at a file. */
void mlc_log_set_sink(FILE *sink);

/* Registers a secret value so it is masked wherever it would appear. Values shorter than
 * 4 bytes are ignored (too likely to mask ordinary text). Returns 0 or MLC_ERR_NOMEM. */
int mlc_log_secret_add(const char *value);
void mlc_log_secret_clear(void);

/* Masks secrets in place in a NUL-terminated buffer of capacity cap; returns the new length. */
size_t mlc_log_redact(char *buf, size_t cap);

/* fmt writes the message as `event key=value ...`; quote values with spaces with %s in "". */
void mlc_log(int level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define MLC_LOG_ERR(mod, ...) mlc_log(MLC_LOG_ERROR, mod, __VA_ARGS__)
#define MLC_LOG_WRN(mod, ...) mlc_log(MLC_LOG_WARN, mod, __VA_ARGS__)
#define MLC_LOG_INF(mod, ...) mlc_log(MLC_LOG_INFO, mod, __VA_ARGS__)
#define MLC_LOG_DBG(mod, ...) mlc_log(MLC_LOG_DEBUG, mod, __VA_ARGS__)
#endif
