/* Account mappings: which Exact division, bank journal, offset G/L account and cost center a Plaid
 * account posts to (MLC_DB_MAPPINGS, key "map/<plaid account id>"), the checks a mapping must pass
 * before its first post (against the Exact reference cache), and matching suggestions. Owns the
 * "map/" records only; changes are audited in the caller's write transaction. */
#ifndef MLC_MAPPING_H
#define MLC_MAPPING_H
#include <stddef.h>
#include <stdint.h>

#include "mlc_plaid_sync.h"

struct mlc_txn;
struct mlc_store;
struct mlc_journal_account;
struct mlc_ref_journal;

#define MLC_MAPPING_CODE_MAX 32   /* Exact journal, G/L and cost center codes */
#define MLC_MAPPING_GUID_MAX 39   /* a GUID, as text */

struct mlc_mapping {
    char account_id[MLC_PLAID_ID_MAX + 1];
    uint32_t division;
    char journal[MLC_MAPPING_CODE_MAX + 1];
    char offset_gl[MLC_MAPPING_GUID_MAX + 1];       /* G/L GUID; "" = lines need a rule */
    char offset_gl_code[MLC_MAPPING_CODE_MAX + 1];  /* for people */
    char cost_center[MLC_MAPPING_CODE_MAX + 1];     /* "" = none */
    int64_t changed_ms;
};

/* MLC_ERR_NOTFOUND when the account is not mapped. */
int mlc_mapping_get(struct mlc_txn *txn, const char *account_id, struct mlc_mapping *out);
/* Creates or replaces the mapping and appends a MAPPING audit record in the same transaction. */
int mlc_mapping_put(struct mlc_txn *txn, const struct mlc_mapping *m, int64_t now_ms);
/* Removes it (audited). MLC_ERR_NOTFOUND when it was not mapped. */
int mlc_mapping_del(struct mlc_txn *txn, const char *account_id, int64_t now_ms);
typedef int (*mlc_mapping_fn)(void *ctx, const struct mlc_mapping *m);
int mlc_mapping_each(struct mlc_txn *txn, mlc_mapping_fn fn, void *ctx);

/* Resolves a G/L account given by code ("1600") or GUID in the reference cache of division.
 * MLC_ERR_NOTFOUND when neither matches. */
int mlc_mapping_resolve_gl(struct mlc_store *st, uint32_t division, const char *code_or_id,
                           char id[MLC_MAPPING_GUID_MAX + 1], char code[MLC_MAPPING_CODE_MAX + 1]);

/* The checks before a first post, against the cached reference data: the journal is a bank
 * journal of the division and not blocked; its currency is the account's (currency "" = not
 * checked); the offset G/L exists and is not blocked; the cost center exists, is given where the
 * G/L makes it mandatory and absent where the G/L forbids it. MLC_OK, or MLC_ERR_NEEDS_PERSON
 * with one line in why saying what to fix; other errors are store failures. */
int mlc_mapping_check(struct mlc_store *st, const struct mlc_mapping *m, const char *currency,
                      char *why, size_t whycap);

enum mlc_mapping_match {
    MLC_MATCH_NONE = 0,
    MLC_MATCH_NUMBER = 1,  /* the account number is the tail of the journal's IBAN */
    MLC_MATCH_IBAN = 2     /* same IBAN (spaces and case ignored) */
};
/* How well a Plaid account matches a bank journal: IBAN first, then account number; the
 * currencies must agree (a journal without currency agrees with any). Pure. */
enum mlc_mapping_match mlc_mapping_suggest(const struct mlc_journal_account *a,
                                           const struct mlc_ref_journal *j);
#endif
