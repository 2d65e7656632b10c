/* The local transaction journal: Plaid items (MLC_DB_ITEMS), accounts (MLC_DB_ACCOUNTS),
 * transactions (MLC_DB_TXNS), the undo log of an unfinished sync update (MLC_DB_STATE) and Plaid
 * alerts (MLC_DB_ALERTS). Owns the record encodings and the upsert rules; every function works
 * inside the caller's store transaction and does no I/O beyond it. Secrets never go here. */
#ifndef MLC_JOURNAL_H
#define MLC_JOURNAL_H
#include <stddef.h>
#include <stdint.h>

#include "mlc_plaid_sync.h"

struct mlc_txn;

/* Record encoding: [1 version][fields: 2-byte big-endian length + bytes]..., fields in a fixed
 * order. Readers ignore fields they do not know (newer agent wrote them) and default fields that
 * are missing (older agent), so the format can grow without a migration. */
#define MLC_JOURNAL_REC_VERSION 1u
#define MLC_JOURNAL_FIELD_MAX 4096u

enum mlc_item_state {
    MLC_ITEM_OK = 0,
    MLC_ITEM_NEEDS_REAUTH = 1,   /* ITEM_LOGIN_REQUIRED, consent expired, revoked: update mode */
    MLC_ITEM_TOKEN_LOST = 2,     /* a rotation's answer was lost in a crash: link the bank again */
    MLC_ITEM_REMOVED = 3
};

struct mlc_journal_item {
    char item_id[MLC_PLAID_ID_MAX + 1];
    char institution_id[64];
    char institution_name[128];
    int state;                                   /* enum mlc_item_state */
    char state_code[96];                         /* Plaid error_code that set the state */
    char state_message[512];                     /* display_message or our sentence */
    int64_t state_since_ms;
    char cursor[MLC_SYNC_CURSOR_MAX + 1];        /* committed: moves only when has_more is false */
    int update_open;                             /* pages of an update are in the journal */
    char start_cursor[MLC_SYNC_CURSOR_MAX + 1];  /* the cursor that update began with */
    char progress_cursor[MLC_SYNC_CURSOR_MAX + 1]; /* next page of that update (informational) */
    int64_t created_ms, last_sync_ms;
    int64_t consent_expires_ms;                  /* 0 = none */
    int rotating;                                /* an access token rotation was started */
    int64_t rotating_since_ms;
    int new_accounts;                            /* NEW_ACCOUNTS_AVAILABLE seen, not yet relinked */
    uint64_t updates_done;
};

enum mlc_txn_state {
    MLC_TXN_PENDING = 0,
    MLC_TXN_SETTLED = 1,
    MLC_TXN_MODIFIED = 2,   /* changed by Plaid after it settled: the ledger needs a correction */
    MLC_TXN_REMOVED = 3     /* kept, never deleted: a posted one removed needs a reversal */
};

struct mlc_journal_txn {
    char transaction_id[MLC_PLAID_ID_MAX + 1];
    char account_id[MLC_PLAID_ID_MAX + 1];
    char item_id[MLC_PLAID_ID_MAX + 1];
    char pending_transaction_id[MLC_PLAID_ID_MAX + 1]; /* settled -> the pending it replaces */
    int state;                          /* enum mlc_txn_state */
    int pending;                        /* Plaid's flag on the last version seen */
    char date[11], authorized_date[11];
    char amount[MLC_AMOUNT_STRMAX];     /* exact, Plaid's sign (positive = money out) */
    int amount_err;                     /* the amount could not be held exactly */
    char currency[32];
    int currency_is_iso;
    char name[MLC_SYNC_TEXT_MAX];
    char merchant[MLC_SYNC_TEXT_MAX];
    char category[256];
    char category_detailed[128];
    int payment_channel;                /* enum mlc_payment_channel */
    char digest[65];                    /* hex SHA-256 of the raw record as Plaid sent it */
    int64_t first_seen_ms, updated_ms;
    unsigned revision;                  /* versions seen (1 = as first added) */
};

struct mlc_journal_account {
    char account_id[MLC_PLAID_ID_MAX + 1];
    char item_id[MLC_PLAID_ID_MAX + 1];
    char name[256];
    char mask[16];
    char type[32], subtype[48];
    char currency[32];
    char current[MLC_AMOUNT_STRMAX], available[MLC_AMOUNT_STRMAX]; /* "" = unknown */
    int64_t balance_ms;                 /* when the balance was read; 0 = never */
    int balance_live;                   /* from /accounts/balance/get (1) or cached (0) */
    /* /auth/get numbers; the full numbers let the engine match Exact's bank accounts, the
     * commands show masks only. */
    char iban[48], bic[16];
    char ach_account[40], ach_routing[16], wire_routing[16];
    int ach_tokenized;
    char bacs_account[16], sort_code[12];
    char eft_account[40], eft_institution[8], eft_branch[12];
    int64_t numbers_ms;
    int unmapped_new;                   /* arrived after the item was linked: needs a mapping */
    int64_t first_seen_ms;
};

/* ---- items ---- */
int mlc_journal_item_get(struct mlc_txn *txn, const char *item_id, struct mlc_journal_item *out);
int mlc_journal_item_put(struct mlc_txn *txn, const struct mlc_journal_item *it);
typedef int (*mlc_journal_item_fn)(void *ctx, const struct mlc_journal_item *it);
/* fn must not write to MLC_DB_ITEMS; returns 0 to go on, 1 to stop, < 0 to fail. */
int mlc_journal_item_each(struct mlc_txn *txn, mlc_journal_item_fn fn, void *ctx);
const char *mlc_journal_item_state_name(int state);

/* ---- transactions ---- */
/* Applies one added/modified record of an update. Idempotent: the same record twice leaves the
 * journal as after once (same digest = no write). Last write wins, so replaying an update from
 * its start cursor yields the same journal. State: pending if Plaid says so; a settled record
 * changed later becomes MODIFIED. When undo is set, the record's previous bytes (or its absence)
 * go to the item's undo log first, once per update. *changed (may be NULL) = 1 if written. */
int mlc_journal_txn_apply(struct mlc_txn *txn, const char *item_id, enum mlc_sync_kind kind,
                          const struct mlc_plaid_txn *t, int64_t now_ms, int undo, int *changed);
/* Marks a transaction REMOVED (kept for the ledger's reversal). Unknown ids are ignored. */
int mlc_journal_txn_remove(struct mlc_txn *txn, const char *item_id,
                           const struct mlc_plaid_removed *r, int64_t now_ms, int undo,
                           int *changed);
int mlc_journal_txn_get(struct mlc_txn *txn, const char *account_id, const char *transaction_id,
                        struct mlc_journal_txn *out);
typedef int (*mlc_journal_txn_fn)(void *ctx, const struct mlc_journal_txn *t);
/* All transactions (account_id NULL) or one account's, in key order. */
int mlc_journal_txn_each(struct mlc_txn *txn, const char *account_id, mlc_journal_txn_fn fn,
                         void *ctx);
const char *mlc_journal_txn_state_name(int state);

/* ---- the undo log of an unfinished update ---- */
/* Puts every transaction the unfinished update touched back as it was and empties the log:
 * used before restarting from the update's start cursor (mutation error, crash), so what the
 * aborted attempt wrote cannot linger when the restarted update no longer carries it.
 * *restored (may be NULL) gets the number of records put back. */
int mlc_journal_undo_rollback(struct mlc_txn *txn, const char *item_id, size_t *restored);
/* Forgets the log: the update is complete and committed with its cursor. */
int mlc_journal_undo_clear(struct mlc_txn *txn, const char *item_id);

/* ---- accounts ---- */
int mlc_journal_account_get(struct mlc_txn *txn, const char *account_id,
                            struct mlc_journal_account *out);
int mlc_journal_account_put(struct mlc_txn *txn, const struct mlc_journal_account *a);
typedef int (*mlc_journal_account_fn)(void *ctx, const struct mlc_journal_account *a);
/* All accounts, or those of item_id (NULL = all). */
int mlc_journal_account_each(struct mlc_txn *txn, const char *item_id, mlc_journal_account_fn fn,
                             void *ctx);
/* Upserts the account from a sync page or /accounts/get entry (name, mask, type, balances).
 * is_new_after_link: a not yet known account of an existing item is flagged unmapped_new. */
int mlc_journal_account_upsert(struct mlc_txn *txn, const char *item_id,
                               const struct mlc_plaid_account *a, int64_t now_ms, int balance_live,
                               int flag_new);

/* ---- alerts (MLC_DB_ALERTS, key "plaid.<kind>.<item_id>") ---- */
struct mlc_journal_alert {
    char key[MLC_PLAID_ID_MAX + 64];
    char kind[48];                   /* "needs_reauth", "consent_expiring", "new_accounts", ... */
    char item_id[MLC_PLAID_ID_MAX + 1];
    char message[512];               /* for the bookkeeper */
    int64_t raised_ms;
};
/* Raising the same kind for the same item again keeps the first raise time (duplicates harmless). */
int mlc_journal_alert_raise(struct mlc_txn *txn, const char *kind, const char *item_id,
                            const char *message, int64_t now_ms);
int mlc_journal_alert_clear(struct mlc_txn *txn, const char *kind, const char *item_id);
typedef int (*mlc_journal_alert_fn)(void *ctx, const struct mlc_journal_alert *a);
int mlc_journal_alert_each(struct mlc_txn *txn, mlc_journal_alert_fn fn, void *ctx);
#endif
