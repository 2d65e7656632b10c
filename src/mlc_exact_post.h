/* Posting bank statements into Exact Online as BankEntries, exactly once: local checks first (a bad
 * line is held for a person instead of spending Exact's error budget), an in-flight record with the
 * sync Timestamp written BEFORE the POST, and after a lost answer a read-back through
 * sync/Financial/TransactionLines matching each line's Notes marker - never a blind re-POST.
 * Owns the "exact." records of MLC_DB_POSTINGS and the per-division TransactionLines cursor. */
#ifndef MLC_EXACT_POST_H
#define MLC_EXACT_POST_H
#include <stddef.h>
#include <stdint.h>

struct mlc_exact;
struct mlc_store;

#define MLC_POST_LINES_MAX 5000        /* lines in one statement: far below Exact's 10 MB POST */
#define MLC_POST_ID_MAX 128            /* statement and transaction ids */
#define MLC_POST_DESCRIPTION_MAX 60    /* Exact publishes no limit; the sandbox enforces 60 */
#define MLC_POST_NOTES_MAX 100         /* likewise 100; "plaid:<id>" must fit */

struct mlc_bank_line {
    const char *transaction_id; /* Plaid transaction id: Notes "plaid:<id>" */
    int reversal;               /* Notes "plaid-reversal:<id>" instead */
    const char *date;           /* YYYY-MM-DD */
    const char *amount;         /* AmountFC as decimal text, Exact's sign (received > 0) */
    const char *glaccount;      /* offset G/L account GUID */
    const char *description;    /* cut to MLC_POST_DESCRIPTION_MAX characters */
    const char *costcenter;     /* code, or NULL */
};

struct mlc_bank_statement {
    const char *statement_id;   /* stable id chosen by the sync engine (in-flight key) */
    uint32_t division;
    const char *journal;        /* bank journal code */
    const char *currency;       /* the lines' currency; must be the journal's */
    const char *opening;        /* OpeningBalanceFC text, or NULL */
    const char *closing;        /* ClosingBalanceFC text, or NULL */
    const struct mlc_bank_line *lines;
    size_t n_lines;
};

enum mlc_post_outcome {
    MLC_POST_POSTED = 0,   /* in Exact: entry_id / entry_number set */
    MLC_POST_NOT_LANDED,   /* a lost answer was settled: nothing landed; safe to post again */
    MLC_POST_HELD,         /* a person must act (reason; held_line = the line, or -1) */
    MLC_POST_RETRY_LATER   /* nothing decided (rate limit, network); the in-flight record is kept
                            * when the POST may have landed, so the next call settles it first */
};

struct mlc_post_result {
    enum mlc_post_outcome outcome;
    char entry_id[40];
    long entry_number;
    long held_line;
    int settled_by_readback;   /* POSTED/NOT_LANDED came from a read-back */
    char reason[512];
};

const char *mlc_post_outcome_name(enum mlc_post_outcome o);

/* Posts one statement as one BankEntry (one journal, one financial period; the lines nested).
 * Returns MLC_OK when r->outcome says what happened, or a negative mlc_err for local failures
 * (store, memory, bad arguments). Reference data is refreshed through the cache first. */
int mlc_exact_post_statement(struct mlc_exact *x, struct mlc_store *st,
                             const struct mlc_bank_statement *s, struct mlc_post_result *r);

/* Settles a statement left in flight (answer lost, or a crash after the in-flight record): reads
 * back and reports POSTED or NOT_LANDED; RETRY_LATER if the read-back failed. MLC_ERR_NOTFOUND
 * when nothing is in flight for statement_id. */
int mlc_exact_post_settle(struct mlc_exact *x, struct mlc_store *st, const char *statement_id,
                          struct mlc_post_result *r);

/* Pure local checks of a statement against the cached reference data (no call): MLC_OK, or
 * MLC_ERR_NEEDS_PERSON with r->reason and r->held_line set; year and period get the period. */
int mlc_exact_post_check(struct mlc_store *st, const struct mlc_bank_statement *s, int *year,
                         int *period, struct mlc_post_result *r);
#endif
