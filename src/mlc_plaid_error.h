/* Plaid's error object (SPEC PlaidError): parsed into bounded fields and classified ONCE, here at
 * the client boundary, into what the engine should do: retry later, ask a person, restart the
 * sync pagination, or treat as a bug. Decisions use error_type/error_code only (Plaid: the
 * messages "may change"); display_message is kept to show the user. Pure: no I/O. */
#ifndef MLC_PLAID_ERROR_H
#define MLC_PLAID_ERROR_H
#include <stddef.h>

struct cJSON;

#define MLC_PLAID_ERR_BODY_MAX (64 * 1024) /* an error answer bigger than this is not one */

struct mlc_plaid_error {
    char error_type[64];
    char error_code[96];
    char error_code_reason[64];  /* OAuth only: OAUTH_CONSENT_EXPIRED, OAUTH_USER_REVOKED, ... */
    char error_message[512];     /* for logs; truncated at a UTF-8 boundary */
    char display_message[512];   /* for the user; "" when Plaid sent null */
    char request_id[64];         /* give this to Plaid support */
    int status;                  /* "status" (webhooks only), else 0 */
};

enum mlc_plaid_class {
    MLC_PLAID_RETRY = 0,               /* transient: back off and try again */
    MLC_PLAID_NEEDS_PERSON = 1,        /* credentials, consent, re-link: a person must act */
    MLC_PLAID_RESTART_PAGINATION = 2,  /* drop the buffered pages, restart from the first cursor */
    MLC_PLAID_BUG = 3                  /* our request is wrong or the answer is unexpected */
};

/* Parses a JSON error body. Unknown fields are ignored; error_type and error_code must be strings.
 * Over-long strings are truncated (error_type/error_code/request_id are refused instead, since a
 * cut code would be misclassified). MLC_ERR_TOO_BIG past MLC_PLAID_ERR_BODY_MAX. */
int mlc_plaid_error_parse(const char *json, size_t len, struct mlc_plaid_error *out);
/* Same, from an already parsed object (the "error" member of a webhook). */
int mlc_plaid_error_from_json(const struct cJSON *obj, struct mlc_plaid_error *out);

/* The class for an answer: err may be NULL when there was no parsable error body; http_status is
 * the HTTP status, or 0 when the request never got an answer (network failure -> retry). */
enum mlc_plaid_class mlc_plaid_error_classify(const struct mlc_plaid_error *err, int http_status);

/* The mlc_err the engine sees for a class: RETRY -> MLC_ERR_RETRY, NEEDS_PERSON ->
 * MLC_ERR_NEEDS_PERSON, RESTART_PAGINATION -> MLC_ERR_RETRY, BUG -> MLC_ERR_INTERNAL. */
int mlc_plaid_class_err(enum mlc_plaid_class c);
const char *mlc_plaid_class_name(enum mlc_plaid_class c);

/* One line for an installer or bookkeeper: what is wrong and what to do, with the code and
 * request id for support. Returns the length written (truncated to cap - 1). */
size_t mlc_plaid_error_describe(const struct mlc_plaid_error *err, int http_status,
                                char *buf, size_t cap);

/* Copies src into dst (cap bytes) cutting at a UTF-8 character boundary and replacing invalid
 * UTF-8 by U+FFFD, so the result is always valid UTF-8. Returns 1 if truncated. Shared by the
 * Plaid parsers. */
int mlc_plaid_utf8_copy(char *dst, size_t cap, const char *src, size_t len);
/* Length (1..4) of the valid UTF-8 sequence starting at s[0..len), 0 if invalid (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF). len must be >= 1. */
size_t mlc_plaid_utf8_seq(const unsigned char *s, size_t len);
#endif
