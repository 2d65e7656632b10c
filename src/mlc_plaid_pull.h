/* Pulling from Plaid into the journal: the /transactions/sync loop per item (cursor rules of
 * reference/plaid.md 3.3), item health (needs re-authentication, alerts, consent expiry), the
 * recording of a newly linked item and the access token rotation. Uses mlc_plaid for the wire,
 * mlc_journal for records and the vault for access tokens; holds at most one page in memory. */
#ifndef MLC_PLAID_PULL_H
#define MLC_PLAID_PULL_H
#include <stddef.h>
#include <stdint.h>

#include "mlc_plaid.h"
#include "mlc_plaid_sync.h"

struct mlc_store;
struct mlc_vault;
struct mlc_txn;
struct mlc_journal_item;

#define MLC_PULL_RESTARTS_MAX 5      /* mutation restarts per pull before giving up for now */
#define MLC_CONSENT_ALERT_DAYS 7     /* alert this many days before consent expires */

struct mlc_plaid_pull_opts {
    int count;                       /* page size 1..500; 0 = 500 */
    int64_t (*now_ms)(void);         /* wall clock; NULL = mlc_time_now_ms */
    int consent_alert_days;          /* 0 = MLC_CONSENT_ALERT_DAYS */
    /* Tests: called after each committed page, before the next request (page index from 1). */
    void (*after_page)(void *ud, unsigned page);
    void *after_page_ud;
};

struct mlc_plaid_pull_stats {
    unsigned pages;
    unsigned restarts;               /* from the update's start cursor (mutation or crash) */
    int resumed_after_crash;         /* an unfinished update was rolled back first */
    size_t added, modified, removed, unchanged, accounts;
    size_t rolled_back;              /* records put back by the undo log */
    enum mlc_sync_status update_status;
};

/* One pull of one item: pages from the committed cursor until has_more is false. Each page is
 * applied and committed in one store transaction (crash point "plaid.page.stored" after each);
 * the item's cursor moves only with the last page, and pages of an unfinished update are undone
 * before the update restarts from its start cursor. Returns 0, MLC_ERR_NEEDS_PERSON (the item
 * needs re-authentication: state and alert are recorded, or it was already marked and is
 * skipped), MLC_ERR_RETRY (try later), or another mlc_err. msg gets one line for people. */
int mlc_plaid_pull_item(struct mlc_plaid *p, struct mlc_store *st, struct mlc_vault *v,
                        const char *item_id, const struct mlc_plaid_pull_opts *o,
                        struct mlc_plaid_pull_stats *stats, char *msg, size_t msgcap);

/* Records what a failed Plaid call says about an item: item-level errors (ITEM_ERROR,
 * ITEM_LOGIN_REQUIRED, consent expired or revoked, unknown access token) set its state and raise
 * an alert in the same transaction. Returns 1 if the item was marked, 0 if the error is not about
 * the item, or a negative mlc_err. */
int mlc_plaid_item_mark_error(struct mlc_store *st, const char *item_id,
                              const struct mlc_plaid_result *r, int64_t now_ms);
/* Clears a needs-re-authentication state (update mode done, LOGIN_REPAIRED) and its alert. */
int mlc_plaid_item_mark_ok(struct mlc_store *st, const char *item_id, int64_t now_ms);

/* Consent expiry: records exp_ms (0 = none) on the item and raises "consent_expiring" when now is
 * within days of it (clears it otherwise). Works inside txn. */
int mlc_plaid_item_consent(struct mlc_txn *txn, struct mlc_journal_item *it, int64_t exp_ms,
                           int64_t now_ms, int days);

struct mlc_plaid_webhook;
/* Applies a verified webhook (plaid.md 5.3) to the item it names: ITEM ERROR and
 * USER_PERMISSION_REVOKED -> needs re-authentication + alert; PENDING_EXPIRATION -> consent expiry
 * recorded + alert; PENDING_DISCONNECT -> alert; NEW_ACCOUNTS_AVAILABLE -> flag + alert;
 * LOGIN_REPAIRED -> state and alert cleared. Duplicates change nothing; unknown codes and items are
 * logged and ignored. Returns 1 when the item should be synced soon (SYNC_UPDATES_AVAILABLE),
 * 0 otherwise, or a negative mlc_err when the store failed (answer 5xx so Plaid retries). */
int mlc_plaid_webhook_apply(struct mlc_store *st, const struct mlc_plaid_webhook *wh,
                            int64_t now_ms);

/* Parses an RFC 3339 UTC date-time ("2026-05-24T14:00:00Z", fraction and offset allowed) into
 * epoch ms. MLC_ERR_DATA if malformed. */
int mlc_plaid_parse_time(const char *s, int64_t *ms);

/* After /item/public_token/exchange: seals the access token and records the item in one
 * transaction (a re-link of a known item clears its needs-a-person state and alerts). */
int mlc_plaid_item_record(struct mlc_store *st, struct mlc_vault *v, const char *item_id,
                          const char *access_token, const char *institution_id,
                          const char *institution_name, int64_t now_ms);

/* Opens the access token of an item (mlc_vault_free_secret it). */
int mlc_plaid_item_token(struct mlc_vault *v, const char *item_id, char **tok, size_t *len);

/* `mlc plaid rotate`: rotation via /item/access_token/invalidate. Order: (1) the intent
 * "rotating" is committed; (2) Plaid is called (it retires the old token at once); (3) crash
 * point "plaid.rotate.answered"; (4) the new token is sealed and the intent cleared in one
 * transaction. A crash between (2) and (4) loses the new token and nothing can get it back:
 * mlc_plaid_rotate_recover then finds the intent, tests the old token with /item/get and either
 * clears the intent (Plaid never rotated) or marks the item "needs a new link" with an alert. */
int mlc_plaid_rotate(struct mlc_plaid *p, struct mlc_store *st, struct mlc_vault *v,
                     const char *item_id, int64_t now_ms, char *msg, size_t msgcap);
/* Resolves an interrupted rotation (see above); 0 when there was none or the old token works,
 * MLC_ERR_NEEDS_PERSON when the token was lost. */
int mlc_plaid_rotate_recover(struct mlc_plaid *p, struct mlc_store *st, struct mlc_vault *v,
                             const char *item_id, int64_t now_ms, char *msg, size_t msgcap);
#endif
