/* Parser of one /transactions/sync answer (SPEC TransactionsSyncResponse) into compact records,
 * handed to the caller one at a time so memory never holds more than the page text plus one
 * record. Amounts are exact (read from the number's text, never a double); strings are bounded and
 * always valid UTF-8. Owns no I/O and no store: what to do with a record is the caller's job. */
#ifndef MLC_PLAID_SYNC_H
#define MLC_PLAID_SYNC_H
#include <stddef.h>
#include <stdint.h>

#include "mlc_decimal.h"

#define MLC_SYNC_PAGE_MAX (8u * 1024 * 1024) /* 500 rich transactions are about 1 MiB */
#define MLC_SYNC_DEPTH_MAX 32                /* Plaid nests about 5 deep */
#define MLC_SYNC_ARRAY_MAX 500               /* added, modified: count is at most 500 (SPEC) */
/* Whether removed entries count towards `count` is UNCONFIRMED (plaid.md 3.1): a wider cap, so a
 * large legitimate removal cannot block an account for good. Memory does not grow with it. */
#define MLC_SYNC_REMOVED_MAX 5000
#define MLC_SYNC_ACCOUNTS_MAX 1000
#define MLC_PLAID_ID_MAX 256      /* ids are refused, never cut, above this (Plaid's are ~37) */
#define MLC_SYNC_CURSOR_MAX 2048  /* "up to 256 characters" today; room for growth */
/* Descriptions are cut to this many bytes at a UTF-8 boundary. Plaid: 280 characters "will
 * generally be adequate" but is not a maximum, so leave room for multi-byte text. */
#define MLC_SYNC_TEXT_MAX 1024

enum mlc_sync_kind { MLC_SYNC_ADDED = 0, MLC_SYNC_MODIFIED = 1 };

enum mlc_payment_channel {
    MLC_CHANNEL_UNKNOWN = 0, /* absent, null or a value Plaid added later */
    MLC_CHANNEL_ONLINE,
    MLC_CHANNEL_IN_STORE,
    MLC_CHANNEL_OTHER
};

enum mlc_sync_status {
    MLC_SYNC_STATUS_UNKNOWN = 0, /* TRANSACTIONS_UPDATE_STATUS_UNKNOWN, absent, or new */
    MLC_SYNC_STATUS_NOT_READY,
    MLC_SYNC_STATUS_INITIAL_UPDATE_COMPLETE,
    MLC_SYNC_STATUS_HISTORICAL_UPDATE_COMPLETE
};

struct mlc_plaid_txn {
    char transaction_id[MLC_PLAID_ID_MAX + 1];
    char account_id[MLC_PLAID_ID_MAX + 1];
    char pending_transaction_id[MLC_PLAID_ID_MAX + 1]; /* "" when null */
    int pending;
    /* Plaid's sign: positive = money out. amount_err is MLC_ERR_DATA (amount zeroed) when the
     * number cannot be held exactly (> 18 decimals or beyond int64): the record is still
     * delivered so one odd amount cannot block the account, but it must go to a person. */
    struct mlc_amount amount;
    int amount_err;
    char amount_text[64];          /* the number as sent (cut if longer), for the audit trail */
    char currency[32];             /* iso_currency_code, else unofficial_currency_code, else "" */
    int currency_is_iso;
    char date[11];                 /* YYYY-MM-DD (a real calendar date): posted date, or when it
                                      happened if pending */
    char authorized_date[11];      /* "" when null */
    char name[MLC_SYNC_TEXT_MAX];
    char merchant_name[MLC_SYNC_TEXT_MAX];
    int text_truncated;            /* name or merchant_name was cut */
    char category[256];            /* personal_finance_category.primary, else legacy category
                                      joined with " > ", else "" */
    char category_detailed[128];   /* personal_finance_category.detailed */
    enum mlc_payment_channel payment_channel;
    uint8_t raw_sha256[32];        /* SHA-256 of this record's JSON text exactly as received */
};

struct mlc_plaid_removed {
    char transaction_id[MLC_PLAID_ID_MAX + 1];
    char account_id[MLC_PLAID_ID_MAX + 1]; /* "" if Plaid left it out */
};

struct mlc_plaid_account {
    char account_id[MLC_PLAID_ID_MAX + 1];
    char name[256];
    char mask[16];
    char type[32];
    char subtype[48];
    int has_current, has_available;  /* 0 when null or not exactly representable */
    struct mlc_amount current, available;
    char currency[32];
    int currency_is_iso;
};

struct mlc_plaid_sync_page {
    int has_more;
    char next_cursor[MLC_SYNC_CURSOR_MAX + 1];
    enum mlc_sync_status update_status;
    char update_status_raw[64];
    char request_id[64];
    size_t n_added, n_modified, n_removed, n_accounts;
};

/* Called per record in document order. A non-zero return stops the parse and is returned. */
struct mlc_plaid_sync_cb {
    int (*txn)(void *ctx, enum mlc_sync_kind kind, const struct mlc_plaid_txn *t);
    int (*removed)(void *ctx, const struct mlc_plaid_removed *r);
    int (*account)(void *ctx, const struct mlc_plaid_account *a);
    void *ctx;
};

/* Parses json[0..len). The whole page is validated first, so when the first callback runs the
 * page is known to be well formed and *page (has_more, next_cursor, counts) is already filled;
 * a malformed page never reaches a callback. cb and its members may be NULL. Unknown fields and
 * enum values are tolerated; a field this parser reads appearing twice in one object is refused.
 * Required: has_more, next_cursor; per transaction transaction_id,
 * account_id, amount, date, pending; per removed entry transaction_id.
 * MLC_ERR_TOO_BIG beyond the size, depth or count caps; MLC_ERR_DATA for anything malformed;
 * MLC_ERR_NOMEM if the one record buffer cannot be had. */
int mlc_plaid_sync_parse(const char *json, size_t len, const struct mlc_plaid_sync_cb *cb,
                         struct mlc_plaid_sync_page *page);
#endif
