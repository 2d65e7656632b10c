/* Exact Online webhook notifications without I/O: verifies HashCode (uppercase-hex HMAC-SHA256 of
 * the raw "Content" text, keyed with the app's webhook secret), recognises the empty validation
 * POST, and reads the notification's fields once verified. Owns no socket and no secret storage. */
#ifndef MLC_EXACT_WEBHOOK_H
#define MLC_EXACT_WEBHOOK_H
#include <stddef.h>
#include <stdint.h>

#define MLC_WEBHOOK_BODY_MAX (64u * 1024u)
#define MLC_WEBHOOK_DEPTH_MAX 16

enum mlc_webhook_result {
    MLC_WEBHOOK_OK = 0,         /* verified; event filled */
    MLC_WEBHOOK_PING,           /* empty validation POST after subscribing: answer 200 */
    MLC_WEBHOOK_BAD_SIGNATURE,  /* HashCode missing, malformed, lowercase or wrong: answer 401 */
    MLC_WEBHOOK_MALFORMED,      /* not a notification we can read: answer 400 */
    MLC_WEBHOOK_TOO_BIG,        /* over MLC_WEBHOOK_BODY_MAX or too deeply nested: answer 413 */
    MLC_WEBHOOK_NO_SECRET       /* no webhook secret configured: answer 500, fix the configuration */
};

struct mlc_webhook_event {
    char topic[64];            /* "BankEntries" */
    int64_t division;
    char action[16];           /* "Create", "Update", "Delete" as sent */
    char key[37];              /* GUID of the changed record */
    char endpoint[512];        /* "/api/v1/<division>/..."; "" if not sent */
    char client_id[64];        /* "" if not sent */
};

/* Finds, in the raw body, the text of the top-level "Content" object exactly as received (braces
 * included) and the raw text of the "HashCode" string, with a JSON-aware scanner (strings and
 * escapes respected; duplicate keys, trailing bytes and nesting over the cap refused). MLC_OK,
 * MLC_ERR_DATA, MLC_ERR_TOO_BIG, MLC_ERR_NOTFOUND (a member is missing). */
int mlc_exact_webhook_split(const char *body, size_t len, const char **content, size_t *content_len,
                            const char **hash, size_t *hash_len);
/* Verifies a received body and, if genuine, reads its Content into ev (may be NULL). Only an
 * exact match of the 64 uppercase hex characters, compared in constant time, is accepted. */
enum mlc_webhook_result mlc_exact_webhook_verify(const char *body, size_t len,
                                                 const unsigned char *secret, size_t secret_len,
                                                 struct mlc_webhook_event *ev);
/* The HTTP status to answer with for a result (200, 400, 401, 413, 500). */
int mlc_exact_webhook_http_status(enum mlc_webhook_result r);
/* A short name for logs: "ok", "validation ping", "bad signature", "malformed", "too big",
 * "no secret". */
const char *mlc_exact_webhook_result_name(enum mlc_webhook_result r);
#endif
