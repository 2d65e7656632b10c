/* Coding rules: ordered rules that set the G/L account and cost center of a bank line, matched on
 * merchant, name, Plaid category, amount sign and amount range (exact decimals). Rules live in
 * the store (MLC_DB_MAPPINGS, key "rule/<8-digit order>") and are managed with `mlc rules
 * add/list/remove`, so every change is audited and survives with the ledger state; the first
 * matching rule wins, else the mapping's default offset G/L. Owns the "rule/" records only. */
#ifndef MLC_RULES_H
#define MLC_RULES_H
#include <stddef.h>
#include <stdint.h>

#include "mlc_decimal.h"
#include "mlc_mapping.h"

struct mlc_txn;

#define MLC_RULE_NAME_MAX 64
#define MLC_RULE_TEXT_MAX 128
#define MLC_RULES_MAX 1000          /* rules in the store; each line is checked against each */

enum mlc_rule_sign {
    MLC_SIGN_ANY = 0,
    MLC_SIGN_OUT = 1,   /* money out: Plaid amount > 0 */
    MLC_SIGN_IN = 2     /* money in: Plaid amount < 0 */
};

struct mlc_rule {
    unsigned order;                            /* lower first; unique */
    char name[MLC_RULE_NAME_MAX + 1];          /* unique, recorded in the audit trail */
    char account_id[MLC_PLAID_ID_MAX + 1];     /* "" = every account */
    /* Matchers; an empty one matches anything. Text compares ignore ASCII case. */
    char merchant[MLC_RULE_TEXT_MAX + 1];      /* equals the merchant name */
    char name_contains[MLC_RULE_TEXT_MAX + 1]; /* is part of the transaction name */
    char category[MLC_RULE_TEXT_MAX + 1];      /* equals Plaid's primary or detailed category */
    int sign;                                  /* enum mlc_rule_sign */
    int has_min, has_max;                      /* bounds on the amount's size, inclusive */
    struct mlc_amount min, max;
    /* What a match sets. */
    char gl[MLC_MAPPING_GUID_MAX + 1];
    char gl_code[MLC_MAPPING_CODE_MAX + 1];
    char cost_center[MLC_MAPPING_CODE_MAX + 1];  /* "" = the mapping's */
};

/* What a rule sees of a transaction (amount in Plaid's sign: positive = money out). */
struct mlc_rule_input {
    const char *account_id;
    const char *name;
    const char *merchant;
    const char *category;
    const char *category_detailed;
    struct mlc_amount amount;
};

/* What coded a line. rule = the rule's name, or "default" for the mapping's offset G/L. */
struct mlc_coding {
    char gl[MLC_MAPPING_GUID_MAX + 1];
    char gl_code[MLC_MAPPING_CODE_MAX + 1];
    char cost_center[MLC_MAPPING_CODE_MAX + 1];
    char rule[MLC_RULE_NAME_MAX + 1];
};

/* 1 if every matcher of r accepts in. Pure. */
int mlc_rule_matches(const struct mlc_rule *r, const struct mlc_rule_input *in);

/* Adds or replaces (same name) a rule; MLC_ERR_EXISTS if another rule has the order. Audited. */
int mlc_rules_put(struct mlc_txn *txn, const struct mlc_rule *r, int64_t now_ms);
/* Removes the rule named name (audited); MLC_ERR_NOTFOUND if none. */
int mlc_rules_del(struct mlc_txn *txn, const char *name, int64_t now_ms);
typedef int (*mlc_rule_fn)(void *ctx, const struct mlc_rule *r);
/* In order. */
int mlc_rules_each(struct mlc_txn *txn, mlc_rule_fn fn, void *ctx);

/* Codes one transaction: the first rule (in order) that matches, else the mapping's default
 * offset G/L and cost center ("default"). A rule without a cost center keeps the mapping's.
 * MLC_ERR_NOTFOUND when no rule matches and the mapping has no offset G/L (m may be NULL). */
int mlc_rules_code(struct mlc_txn *txn, const struct mlc_mapping *m,
                   const struct mlc_rule_input *in, struct mlc_coding *out);

/* One line describing the rule's matchers, for `mlc rules list`. */
void mlc_rule_describe(const struct mlc_rule *r, char *buf, size_t cap);
#endif
