#include "mlc_log.h"
#include "mlc_alloc.h"
#include "mlc_err.h"
#include "mlc_platform.h"

#include <ctype.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#define LINE_MAX_BYTES 2048
#define MAX_SECRETS 256 /* every Plaid item token of a large office, with room to spare */
#define MASK "[REDACTED]"

static int log_level = MLC_LOG_INFO;
static FILE *log_sink;
static char *secrets[MAX_SECRETS];
static size_t n_secrets;

/* Names whose value is masked when written as name=value, name: value or "name":"value".
 * `code` is the OAuth authorization code in a redirect URL. */
static const char *const secret_keys[] = {
    "authorization", "access_token", "refresh_token", "public_token", "client_secret",
    "secret", "password", "code", "token", "plaid-secret", "hashcode", "link_token",
};

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void mlc_log_set_level(int level) { log_level = level; }
int mlc_log_get_level(void) { return log_level; }
void mlc_log_set_sink(FILE *sink) { log_sink = sink; }

int mlc_log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

int mlc_log_secret_add(const char *value)
{
    if (!value || strlen(value) < 4)
        return MLC_OK;
    for (size_t i = 0; i < n_secrets; i++)
        if (strcmp(secrets[i], value) == 0)
            return MLC_OK;
    if (n_secrets == MAX_SECRETS) { /* keep the newest: drop the oldest */
        mlc_free(secrets[0]);
        memmove(secrets, secrets + 1, (MAX_SECRETS - 1) * sizeof(secrets[0]));
        n_secrets--;
    }
    char *copy = mlc_strdup(value);
    if (!copy)
        return MLC_ERR_NOMEM;
    secrets[n_secrets++] = copy;
    return MLC_OK;
}

void mlc_log_secret_clear(void)
{
    for (size_t i = 0; i < n_secrets; i++) {
        memset(secrets[i], 0, strlen(secrets[i]));
        mlc_free(secrets[i]);
    }
    n_secrets = 0;
}

/* Replaces buf[start, end) by MASK, keeping the buffer NUL-terminated within cap. */
static size_t splice_mask(char *buf, size_t len, size_t cap, size_t start, size_t end)
{
    size_t mlen = strlen(MASK);
    size_t tail = len - end;
    if (start + mlen + tail >= cap)
        tail = cap - 1 - start - mlen;
    memmove(buf + start + mlen, buf + end, tail);
    memcpy(buf + start, MASK, mlen);
    buf[start + mlen + tail] = '\0';
    return start + mlen + tail;
}

static int is_key_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-';
}

/* Masks the value after "key" when followed by =, :, ": or " " (Bearer). */
static size_t mask_keyed(char *buf, size_t len, size_t cap)
{
    for (size_t i = 0; i < len; i++) {
        if (i > 0 && is_key_char(buf[i - 1]))
            continue;
        for (size_t k = 0; k < sizeof(secret_keys) / sizeof(secret_keys[0]); k++) {
            size_t kl = strlen(secret_keys[k]);
            if (i + kl > len || strncasecmp(buf + i, secret_keys[k], kl) != 0)
                continue;
            size_t j = i + kl;
            if (j < len && is_key_char(buf[j]))
                continue;
            /* "code" is a secret only as the OAuth code of a redirect or form (?code=, &code=,
             * =code=): a log field such as `code=ITEM_LOGIN_REQUIRED` stays readable. */
            if (strcmp(secret_keys[k], "code") == 0 && i > 0 && buf[i - 1] != '?' &&
                buf[i - 1] != '&' && buf[i - 1] != '=' && buf[i - 1] != '"')
                continue;
            if (j < len && buf[j] == '"')
                j++;
            if (j >= len || (buf[j] != '=' && buf[j] != ':'))
                continue;
            j++;
            while (j < len && (buf[j] == ' ' || buf[j] == '"'))
                j++;
            /* "Authorization: Bearer xyz": keep the scheme word, mask the credential. */
            if (j + 7 <= len && strncasecmp(buf + j, "Bearer ", 7) == 0)
                j += 7;
            else if (j + 6 <= len && strncasecmp(buf + j, "Basic ", 6) == 0)
                j += 6;
            size_t e = j;
            while (e < len && buf[e] != '"' && buf[e] != '&' && buf[e] != ' ' && buf[e] != ','
                   && buf[e] != '\n' && buf[e] != '\r' && buf[e] != '}')
                e++;
            if (e > j && !(e - j == strlen(MASK) && strncmp(buf + j, MASK, e - j) == 0)) {
                len = splice_mask(buf, len, cap, j, e);
                i = j + strlen(MASK) - 1;
            }
            break;
        }
    }
    return len;
}

size_t mlc_log_redact(char *buf, size_t cap)
{
    size_t len = strlen(buf);
    for (size_t s = 0; s < n_secrets; s++) {
        size_t sl = strlen(secrets[s]);
        char *hit;
        size_t from = 0;
        while (from < len && (hit = strstr(buf + from, secrets[s])) != NULL) {
            size_t start = (size_t)(hit - buf);
            len = splice_mask(buf, len, cap, start, start + sl);
            from = start + strlen(MASK);
        }
    }
    return mask_keyed(buf, len, cap);
}

void mlc_log(int level, const char *module, const char *fmt, ...)
{
    if (level > log_level)
        return;
    char line[LINE_MAX_BYTES];
    char ts[32];
    mlc_time_format_iso(mlc_time_now_ms(), ts, sizeof(ts));
    int n = snprintf(line, sizeof(line), "ts=%s level=%s mod=%s ", ts,
                     level_names[level < 0 ? 0 : level > 3 ? 3 : level], module);
    if (n < 0 || (size_t)n >= sizeof(line))
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    /* One line per event: fold embedded newlines. */
    for (char *p = line; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    mlc_log_redact(line, sizeof(line));
    FILE *out = log_sink ? log_sink : stderr;
    fprintf(out, "%s\n", line);
    fflush(out);
}
