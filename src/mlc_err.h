/* One error enum for the whole agent (0 = ok, negative = error), its sentence, and its exit code.
 * Remote failures are classified at the client boundary into these codes; the engine sees only them. */
#ifndef MLC_ERR_H
#define MLC_ERR_H

enum mlc_err {
    MLC_OK = 0,
    MLC_ERR_NOMEM = -1,        /* allocation failed or the memory budget is reached */
    MLC_ERR_IO = -2,           /* a file or disk operation failed */
    MLC_ERR_USAGE = -3,        /* bad command line */
    MLC_ERR_CONFIG = -4,       /* bad configuration */
    MLC_ERR_DATA = -5,         /* malformed input data (answer, file, webhook) */
    MLC_ERR_NOTFOUND = -6,     /* the thing asked for does not exist */
    MLC_ERR_EXISTS = -7,       /* the thing to create exists already */
    MLC_ERR_PERM = -8,         /* file permissions unsafe or access refused */
    MLC_ERR_TAMPER = -9,       /* sealed data altered, or the wrong key */
    MLC_ERR_MAP_FULL = -10,    /* the store's map is full */
    MLC_ERR_STORE = -11,       /* other store failure */
    MLC_ERR_SCHEMA = -12,      /* store schema newer than this agent, or migration failed */
    MLC_ERR_TOO_BIG = -13,     /* an input exceeds its size or depth cap */
    MLC_ERR_CRYPTO = -14,      /* a cryptographic operation failed */
    MLC_ERR_RETRY = -15,       /* transient: try again later (network, 429, 5xx) */
    MLC_ERR_UNAVAILABLE = -16, /* a service is unavailable or not configured */
    MLC_ERR_NEEDS_PERSON = -17,/* a person must act (consent, mapping, closed period) */
    MLC_ERR_BUDGET = -18,      /* an API call budget is exhausted */
    MLC_ERR_TIMEOUT = -19,     /* an operation timed out */
    MLC_ERR_AUTH = -20,        /* authentication failed (signature, token) */
    MLC_ERR_INTERNAL = -21,    /* a bug: an impossible state */
    MLC_ERR_CANCELLED = -22,   /* stopped on request (signal) */
    MLC_ERR__LAST = -23
};

/* A short sentence for an error code, for people. Never NULL. */
const char *mlc_err_str(int err);
/* The sysexits-style process exit code for an error code (0 for MLC_OK). */
int mlc_err_exit_code(int err);

/* sysexits(3) values, spelled out so core code need not include <sysexits.h>. */
enum mlc_exit {
    MLC_EXIT_OK = 0,
    MLC_EXIT_USAGE = 64,
    MLC_EXIT_DATAERR = 65,
    MLC_EXIT_UNAVAILABLE = 69,
    MLC_EXIT_SOFTWARE = 70,
    MLC_EXIT_CANTCREAT = 73,
    MLC_EXIT_IOERR = 74,
    MLC_EXIT_TEMPFAIL = 75,
    MLC_EXIT_NOPERM = 77,
    MLC_EXIT_CONFIG = 78
};
#endif
