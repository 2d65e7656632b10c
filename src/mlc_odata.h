/* Exact Online OData v2 without I/O: builds bounded request URLs (query options, filter literals,
 * percent-encoding), checks that a server-given __next link stays on our host, and parses the
 * {"d":...} answer shapes into an iterator. Owns no connection, token or clock. */
#ifndef MLC_ODATA_H
#define MLC_ODATA_H
#include "mlc_buf.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

/* Exact refuses URLs longer than 6000 characters (KB "REST API - Restrictions"). */
#define MLC_ODATA_URL_MAX 6000
/* A __next link is outside input: longer ones are refused before they are looked at. */
#define MLC_ODATA_NEXT_MAX 8192
/* Largest answer body we parse. Bulk/sync pages hold up to 1,000 rows; 16 MiB leaves ample room. */
#define MLC_ODATA_BODY_MAX (16u * 1024u * 1024u)
/* Largest nesting accepted before cJSON sees a body. Exact entities nest 4-6 deep (d, results,
 * row, __metadata or an expanded line collection); cJSON's own limit (1000) is far too deep. */
#define MLC_ODATA_DEPTH_MAX 32
/* Longest filter expression text (before encoding) the filter builder keeps. */
#define MLC_ODATA_FILTER_MAX 4096

/* ---- JSON guards shared by every Exact parser ---- */

/* MLC_OK if body is at most max_len bytes and nests at most max_depth arrays/objects (a pre-scan
 * that respects strings and escapes); MLC_ERR_TOO_BIG if not, MLC_ERR_DATA if it holds a NUL byte
 * or a \u0000 escape (cJSON would cut the string there). */
int mlc_json_check_bounds(const char *body, size_t len, size_t max_len, unsigned max_depth);
/* Bounds check, then cJSON parse of exactly len bytes. NULL on failure with *err set
 * (MLC_ERR_TOO_BIG, MLC_ERR_DATA or MLC_ERR_NOMEM). Free with cJSON_Delete. */
cJSON *mlc_json_parse_bounded(const char *body, size_t len, size_t max_len, unsigned max_depth,
                              int *err);

/* ---- literals ---- */

/* 1 if s is a GUID in 8-4-4-4-12 hex form (either case, no braces), else 0. */
int mlc_odata_guid_valid(const char *s);
/* 1 if s is YYYY-MM-DDTHH:MM:SS with a real calendar date and time, else 0. */
int mlc_odata_datetime_valid(const char *s);
/* Parses "/Date(ms)/" or "/Date(ms+hhmm)/" ("/Date(ms-hhmm)/"). *ms gets the number unchanged;
 * *offset_min (may be NULL) the offset in minutes, 0 if none. Exact documents these values as
 * CET wall-clock time, not UTC: we do NOT shift them. Read the calendar fields of *ms with UTC
 * functions to get the date and time Exact shows; a Date field (midnight) stays on its day.
 * MLC_OK or MLC_ERR_DATA. */
int mlc_odata_parse_date(const char *s, int64_t *ms, int *offset_min);

/* ---- filter builder ---- */

enum mlc_odata_cmp { MLC_ODATA_EQ, MLC_ODATA_NE, MLC_ODATA_GT, MLC_ODATA_GE, MLC_ODATA_LT, MLC_ODATA_LE };
enum mlc_odata_conj { MLC_ODATA_AND, MLC_ODATA_OR };

/* A filter expression under construction (unencoded OData text). The first error sticks: later
 * adds are ignored and return it, so a caller may check only the last call. */
struct mlc_odata_filter {
    struct mlc_buf text;
    int err;
    unsigned terms;
    enum mlc_odata_conj last;
};

void mlc_odata_filter_init(struct mlc_odata_filter *f);
/* Safe on a zeroed or half-built filter. */
void mlc_odata_filter_free(struct mlc_odata_filter *f);
/* The expression text ("" if empty), NULL if any add failed; valid until the next add or free. */
const char *mlc_odata_filter_text(const struct mlc_odata_filter *f);

/* Each add joins "<field> <cmp> <literal>" to the expression with conj (ignored for the first
 * term). Mixing and/or wraps what is there in parentheses first, so terms read left to right:
 * a, and b, or c -> "(a and b) or c". Fields: letters, digits, '_' and '/' (navigation).
 * Errors: MLC_ERR_DATA (bad field or literal), MLC_ERR_TOO_BIG, MLC_ERR_NOMEM. */
int mlc_odata_filter_string(struct mlc_odata_filter *f, enum mlc_odata_conj conj, const char *field,
                            enum mlc_odata_cmp cmp, const char *value);   /* 'O''Brien' */
int mlc_odata_filter_guid(struct mlc_odata_filter *f, enum mlc_odata_conj conj, const char *field,
                          enum mlc_odata_cmp cmp, const char *guid);      /* guid'...' */
int mlc_odata_filter_datetime(struct mlc_odata_filter *f, enum mlc_odata_conj conj,
                              const char *field, enum mlc_odata_cmp cmp,
                              const char *iso);                          /* datetime'...' */
int mlc_odata_filter_int(struct mlc_odata_filter *f, enum mlc_odata_conj conj, const char *field,
                         enum mlc_odata_cmp cmp, int64_t value);
/* Joins a whole sub-expression as "(sub)". An empty sub is an error (MLC_ERR_DATA). */
int mlc_odata_filter_group(struct mlc_odata_filter *f, enum mlc_odata_conj conj,
                           const struct mlc_odata_filter *sub);

/* ---- URL builder ---- */

struct mlc_odata_query {
    const char *base;     /* "https://start.exactonline.nl" (http:// allowed for test servers) */
    uint32_t division;    /* 0 = the "current" pseudo-division (current/Me) */
    const char *service;  /* "financialtransaction", "sync/Financial"; "" only with division 0 */
    const char *entity;   /* "BankEntries" */
    const char *select;   /* REQUIRED: "EntryID,Date" (Exact: never without $select) */
    const char *filter;   /* optional expression, e.g. mlc_odata_filter_text() */
    const char *expand;   /* optional */
    const char *orderby;  /* optional; Exact warns it is slow */
    unsigned top;         /* 0 = not sent */
};

/* Writes "<base>/api/v1/<division>/<service>/<entity>?$select=..&$filter=..&$expand=..&$top=..
 * &$orderby=.." into out (cap bytes, NUL-terminated), query values percent-encoded.
 * MLC_ERR_DATA without $select or with a bad base/segment, MLC_ERR_TOO_BIG if the URL is longer
 * than MLC_ODATA_URL_MAX or does not fit cap. */
int mlc_odata_build_url(const struct mlc_odata_query *q, char *out, size_t cap);

/* MLC_OK if next is an absolute URL with the same scheme, host and port as base (no userinfo, no
 * control characters or spaces) and a path under /api/v1/; MLC_ERR_DATA otherwise. The host
 * comparison ignores case. */
int mlc_odata_next_check(const char *base, const char *next);

/* ---- answer parser ---- */

/* One parsed answer page. Rows are borrowed from root; free the page with mlc_odata_page_free. */
struct mlc_odata_page {
    cJSON *root;
    const cJSON *rows;  /* array of rows, or the single entity */
    int single;         /* 1 for {"d":{entity}} */
    const char *next;   /* __next as given (NULL if none); check with mlc_odata_next_check */
    int64_t count;      /* __count, -1 if absent */
    size_t n_rows;
    size_t pos;         /* iterator position */
    const cJSON *cur;   /* iterator cursor */
};

/* Parses {"d":{"results":[..],"__next":"..","__count":"N"}}, {"d":[..]} or {"d":{entity}}.
 * Every row must be an object. MLC_OK, MLC_ERR_TOO_BIG, MLC_ERR_DATA or MLC_ERR_NOMEM; on error
 * the page is left empty (free is still safe). */
int mlc_odata_page_parse(struct mlc_odata_page *p, const char *body, size_t len);
/* The next row object, or NULL after the last. */
const cJSON *mlc_odata_page_next(struct mlc_odata_page *p);
/* Safe on a zeroed or failed page. */
void mlc_odata_page_free(struct mlc_odata_page *p);

/* Copies string member name of row into out (cap bytes). MLC_ERR_NOTFOUND if missing or null,
 * MLC_ERR_DATA if not a string, MLC_ERR_TOO_BIG if it does not fit. */
int mlc_odata_row_string(const cJSON *row, const char *name, char *out, size_t cap);
#endif
