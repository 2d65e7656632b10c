/* Posting state and statement building. Owns, in MLC_DB_POSTINGS, the per-transaction posting
 * records ("tx/<account>/<transaction>": the dedup key is Plaid's transaction_id scoped to its
 * account), the statements ("st/<id>") and the per-account chain ("acct/<account>": statement
 * sequence and last posted closing balance). Never writes the journal or Exact's "exact." records.
 *
 * A plan is what one account should post now: settled, not yet posted transactions coded by the
 * rules, grouped per financial period into statements (capped, split, in date order) with chained
 * balances, plus reversals of posted lines Plaid changed or removed, held items with reasons and
 * the pending ones that wait. Building a plan only reads; the engine writes it.
 *
 * Balance signs: Exact's AmountFC is -(Plaid amount) (money in > 0) and Exact's bank balance is
 * the money in the account. Plaid's `current` is that for depository accounts and the amount
 * owed for credit and loan accounts, so those are negated. The first statement of an account
 * opens with that balance minus the (Exact-signed) settled transactions dated on or after its
 * first line (Plaid's current includes them, and excludes pending ones); each later statement
 * opens with the previous closing; closing = opening + lines. With no Plaid balance the
 * statement carries none: balances are never invented.
 *
 * Exact chains a journal's balances in (year, period, entry number) order, so statements never
 * go back in time: a line dated before the period of the last posted statement (a late
 * correction, the reversal of an old line) is booked on the first day of that period, its real
 * date kept in moved_from and the audit trail. Lines in a closed period are held, or with
 * MLC_CLOSED_FIRST_OPEN booked on the first day of the first open period after it. */
#ifndef MLC_POSTING_H
#define MLC_POSTING_H
#include <stddef.h>
#include <stdint.h>

#include "mlc_buf.h"
#include "mlc_decimal.h"
#include "mlc_exact_post.h"
#include "mlc_mapping.h"
#include "mlc_rules.h"

struct mlc_txn;
struct mlc_store;
struct mlc_journal_account;

enum mlc_posting_state {
    MLC_PS_SEEN = 0,      /* known (pending, or not yet planned) */
    MLC_PS_READY = 1,     /* settled and mapped: goes into the next statement */
    MLC_PS_INFLIGHT = 2,  /* in statement `statement`, recorded before its POST */
    MLC_PS_POSTED = 3,    /* in Exact: entry_id, line */
    MLC_PS_HELD = 4,      /* waits for a person: reason */
    MLC_PS_REVERSED = 5,  /* its posted line was reversed (Plaid removed it) */
    MLC_PS_DROPPED = 6    /* removed by Plaid before it was ever posted */
};

#define MLC_POSTING_REASON_MAX 255
#define MLC_PLAN_TEXT_MAX 255          /* name/merchant/category kept for coding */

struct mlc_posting {
    char account_id[MLC_PLAID_ID_MAX + 1];
    char transaction_id[MLC_PLAID_ID_MAX + 1];
    int state;                                   /* enum mlc_posting_state */
    char statement[MLC_POST_ID_MAX + 1];
    char entry_id[40];
    uint32_t line;                               /* 1-based line in the Exact entry */
    char reason[MLC_POSTING_REASON_MAX + 1];
    /* What stands in Exact for this transaction now (in_ledger = 1). */
    int in_ledger;
    char led_amount[MLC_AMOUNT_STRMAX];          /* AmountFC (Exact's sign) */
    char led_date[11];
    char led_gl[MLC_MAPPING_GUID_MAX + 1];
    char led_cc[MLC_MAPPING_CODE_MAX + 1];
    char led_name[MLC_PLAN_TEXT_MAX + 1];
    int64_t updated_ms;
};

const char *mlc_posting_state_name(int state);
int mlc_posting_get(struct mlc_txn *txn, const char *account_id, const char *transaction_id,
                    struct mlc_posting *out);   /* MLC_ERR_NOTFOUND if none */
int mlc_posting_put(struct mlc_txn *txn, const struct mlc_posting *p);

/* The per-account chain. */
struct mlc_posting_chain {
    uint64_t next_seq;                 /* next statement number (from 1) */
    int has_closing;
    char closing[MLC_AMOUNT_STRMAX];   /* closing of the last posted statement (Exact's sign) */
    char closing_statement[MLC_POST_ID_MAX + 1];
    int head_year, head_period;        /* period of the last posted statement (0 = none) */
};
int mlc_posting_chain_get(struct mlc_txn *txn, const char *account_id,
                          struct mlc_posting_chain *out);  /* absent = fresh chain, MLC_OK */
int mlc_posting_chain_put(struct mlc_txn *txn, const char *account_id,
                          const struct mlc_posting_chain *c);

/* ---- plans ---- */

struct mlc_plan_line {
    char transaction_id[MLC_PLAID_ID_MAX + 1];
    int reversal;                               /* Notes plaid-reversal:<id> */
    char date[11];                              /* the date posted (see moved_from) */
    char moved_from[11];                        /* "" or the real date in a closed period */
    char amount[MLC_AMOUNT_STRMAX];             /* AmountFC, Exact's sign */
    char gl[MLC_MAPPING_GUID_MAX + 1];
    char gl_code[MLC_MAPPING_CODE_MAX + 1];
    char cost_center[MLC_MAPPING_CODE_MAX + 1];
    char description[MLC_PLAN_TEXT_MAX + 1];
    char rule[MLC_RULE_NAME_MAX + 1];           /* what coded it ("default", a rule, "reversal") */
    int year, period;
};

struct mlc_plan_statement {
    char id[MLC_POST_ID_MAX + 1];
    char account_id[MLC_PLAID_ID_MAX + 1];
    uint32_t division;
    char journal[MLC_MAPPING_CODE_MAX + 1];
    char currency[16];
    int year, period;
    int has_balance;
    char opening[MLC_AMOUNT_STRMAX], closing[MLC_AMOUNT_STRMAX];
    struct mlc_plan_line *lines;
    size_t n_lines;
};

struct mlc_plan_item {                          /* held, pending, dropped or changed */
    char transaction_id[MLC_PLAID_ID_MAX + 1];
    char date[11];
    char amount[MLC_AMOUNT_STRMAX];             /* Plaid's sign, as in the bank app */
    char text[MLC_POSTING_REASON_MAX + 1];      /* the reason, or the name */
};

struct mlc_plan_items {
    struct mlc_plan_item *v;
    size_t n, cap;
};

struct mlc_plan_account {
    char account_id[MLC_PLAID_ID_MAX + 1];
    char name[64];
    char currency[16];
    int mapped;
    struct mlc_mapping map;
    char problem[MLC_POSTING_REASON_MAX + 1];   /* account-level: unmapped, mapping fails check */
    struct mlc_plan_statement *statements;
    size_t n_statements;
    struct mlc_plan_items held, pending, dropped, described, inflight;
    size_t lines, reversals;
    size_t waiting;                             /* settled, not posted: account needs a person */
    struct mlc_amount effect;                   /* sum of all lines (Exact's sign) */
    int has_bank_balance;
    char bank_balance[MLC_AMOUNT_STRMAX];       /* Plaid's current, in Exact's sign */
    int truncated;                              /* more than MLC_PLAN_LINES_MAX: rest next run */
};

#define MLC_PLAN_LINES_MAX 5000      /* transactions planned per account per run */
#define MLC_PLAN_ITEMS_MAX 20000     /* held/pending/... items listed per account */
#define MLC_STATEMENT_BYTES_MAX (1u << 20) /* estimated request size of one statement */

enum mlc_closed_policy {
    MLC_CLOSED_HOLD = 0,             /* hold lines dated in a closed period */
    MLC_CLOSED_FIRST_OPEN = 1        /* date them on the first day of the first open period */
};

struct mlc_plan_opts {
    size_t lines_max;                /* lines per statement; 0 = MLC_POST_LINES_MAX */
    size_t bytes_max;                /* estimated bytes per statement; 0 = default */
    int closed_policy;               /* enum mlc_closed_policy */
    const char *since;               /* YYYY-MM-DD: new lines dated before are left alone */
};

/* Plans one Plaid account inside a read (or write) transaction txn; reference data is read
 * through the Exact cache of st. out must be freed with mlc_plan_account_free (also on error). */
int mlc_posting_plan(struct mlc_store *st, struct mlc_txn *txn,
                     const struct mlc_journal_account *acct, const struct mlc_plan_opts *o,
                     struct mlc_plan_account *out);
void mlc_plan_account_free(struct mlc_plan_account *p);   /* half-built and zeroed are fine */

/* A view of a planned statement for the Exact client: lines[] must hold s->n_lines entries and
 * the strings point into s. */
void mlc_plan_statement_view(const struct mlc_plan_statement *s, struct mlc_bank_line *lines,
                             struct mlc_bank_statement *out);
/* Statement records: written in flight (with its lines and balances) before the POST. */
int mlc_posting_statement_put(struct mlc_txn *txn, const struct mlc_plan_statement *s);
int mlc_posting_statement_get(struct mlc_txn *txn, const char *id, struct mlc_plan_statement *out);
void mlc_plan_statement_free(struct mlc_plan_statement *s);
int mlc_posting_statement_del(struct mlc_txn *txn, const char *id);
typedef int (*mlc_statement_id_fn)(void *ctx, const char *id);
/* The ids of statements still in flight. */
int mlc_posting_inflight_each(struct mlc_txn *txn, mlc_statement_id_fn fn, void *ctx);

/* Canonical text of a statement (one line per bank line), to print a plan and compare runs. */
int mlc_statement_format(const struct mlc_bank_statement *s, struct mlc_buf *out);
/* The dry-run report of one account. */
int mlc_plan_print(const struct mlc_plan_account *p, struct mlc_buf *out);
/* Plaid's current balance in Exact's sign (see above); MLC_ERR_NOTFOUND when unknown. */
int mlc_posting_bank_balance(const struct mlc_journal_account *a, struct mlc_amount *out);
#endif
