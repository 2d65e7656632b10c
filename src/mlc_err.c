#include "mlc_err.h"

static const char *const messages[] = {
    [0] = "ok",
    [1] = "out of memory or memory budget reached",
    [2] = "file or disk operation failed",
    [3] = "wrong command-line usage",
    [4] = "configuration error",
    [5] = "malformed data",
    [6] = "not found",
    [7] = "already exists",
    [8] = "permission problem",
    [9] = "sealed data was tampered with, or the wrong key was used",
    [10] = "the store is full",
    [11] = "the store failed",
    [12] = "the store has an unknown schema version",
    [13] = "input too large",
    [14] = "cryptographic operation failed",
    [15] = "temporary failure, will try again later",
    [16] = "service unavailable",
    [17] = "a person needs to act",
    [18] = "API call budget exhausted",
    [19] = "timed out",
    [20] = "authentication failed",
    [21] = "internal error",
    [22] = "cancelled",
};

const char *mlc_err_str(int err)
{
    int i = -err;
    if (i < 0 || i >= (int)(sizeof(messages) / sizeof(messages[0])) || !messages[i])
        return "unknown error";
    return messages[i];
}

int mlc_err_exit_code(int err)
{
    switch (err) {
    case MLC_OK: return MLC_EXIT_OK;
    case MLC_ERR_USAGE: return MLC_EXIT_USAGE;
    case MLC_ERR_CONFIG: return MLC_EXIT_CONFIG;
    case MLC_ERR_DATA: case MLC_ERR_TAMPER: case MLC_ERR_TOO_BIG: case MLC_ERR_NOTFOUND:
    case MLC_ERR_EXISTS:
        return MLC_EXIT_DATAERR;
    case MLC_ERR_PERM: return MLC_EXIT_NOPERM;
    case MLC_ERR_RETRY: case MLC_ERR_TIMEOUT: case MLC_ERR_BUDGET: case MLC_ERR_MAP_FULL:
        return MLC_EXIT_TEMPFAIL;
    case MLC_ERR_UNAVAILABLE: case MLC_ERR_NEEDS_PERSON: case MLC_ERR_AUTH:
        return MLC_EXIT_UNAVAILABLE;
    case MLC_ERR_IO: case MLC_ERR_STORE: return MLC_EXIT_IOERR;
    default: return MLC_EXIT_SOFTWARE;
    }
}
