/* Exact Online error answers without I/O: reads the message out of an OData error body, makes it
 * safe to show, and classifies a failed call once, at the client boundary, into what the engine
 * should do (retry later, wait for the rate limit, refresh the token, ask a person, or report a bug). */
#ifndef MLC_EXACT_ERROR_H
#define MLC_EXACT_ERROR_H
#include <stddef.h>

/* Largest error body parsed; anything longer is treated as "no parseable body". */
#define MLC_EXACT_ERROR_BODY_MAX (64u * 1024u)
/* Room for the message kept for display (bytes, including the NUL). */
#define MLC_EXACT_ERROR_MSG_MAX 512

enum mlc_exact_class {
    MLC_EXACT_OK = 0,           /* 2xx: not an error */
    MLC_EXACT_RETRY,            /* transient (network, 502/503/504, 500 without an error body) */
    MLC_EXACT_RATE_LIMITED,     /* 429: wait for the rate-limit reset, then retry */
    MLC_EXACT_AUTH,             /* 401: refresh the access token once, then retry once */
    MLC_EXACT_NEEDS_PERSON,     /* 403 (blocked user/division, no access, licence) */
    MLC_EXACT_FUNCTIONAL,       /* 500 with an error text: the data or setup is wrong; never retry */
    MLC_EXACT_BUG               /* 400/404 and other 4xx: our request is wrong; never retry */
};

struct mlc_exact_failure {
    enum mlc_exact_class cls;
    int http_status;
    int counts_as_error;                   /* 1 for 400/401/403/404: Exact's 10-per-hour budget */
    char reason[32];                       /* Reason header (403), "" if none */
    char message[MLC_EXACT_ERROR_MSG_MAX]; /* one line for a bookkeeper or installer */
};

/* Reads error.message.value (or error.message as a string) from an Exact error body into out,
 * sanitised for display. MLC_OK, MLC_ERR_DATA if the body has no such text, MLC_ERR_TOO_BIG. */
int mlc_exact_error_parse(const char *body, size_t len, char *out, size_t cap);
/* Copies in[0..len) to out (cap bytes, NUL-terminated) keeping valid, printable UTF-8: control
 * characters become spaces, invalid bytes '?', bidi controls are dropped, runs of spaces collapse,
 * and a cut is made on a character boundary with "..." appended. Returns the output length. */
size_t mlc_exact_error_sanitize(const char *in, size_t len, char *out, size_t cap);
/* Classifies a finished call. http_status 0 = no answer (network). reason may be NULL, body may be
 * NULL/empty. Fills f and returns f->cls. */
enum mlc_exact_class mlc_exact_error_classify(int http_status, const char *reason, const char *body,
                                              size_t len, struct mlc_exact_failure *f);
/* The project error code for a class (MLC_OK, MLC_ERR_RETRY, MLC_ERR_AUTH, MLC_ERR_NEEDS_PERSON,
 * MLC_ERR_INTERNAL). */
int mlc_exact_class_err(enum mlc_exact_class cls);
/* A short name for logs: "ok", "retry", "rate_limited", "auth", "needs_person", "functional", "bug". */
const char *mlc_exact_class_name(enum mlc_exact_class cls);
#endif
