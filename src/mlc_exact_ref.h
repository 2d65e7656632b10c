/* Exact Online reference data cache: bank journals, G/L accounts, cost centers, financial periods
 * and journal period status, fetched through the connection and kept in MLC_DB_REFDATA under keys
 * "<division>/<kind>/<id>", so a division change never reuses another division's data. A fetch
 * within the TTL costs no call. Owns only MLC_DB_REFDATA; never posts. */
#ifndef MLC_EXACT_REF_H
#define MLC_EXACT_REF_H
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

struct mlc_exact;
struct mlc_store;

enum mlc_ref_kind {
    MLC_REF_JOURNALS = 0,   /* financial/Journals, Type 12 (bank) only, key Code */
    MLC_REF_GLACCOUNTS,     /* financial/GLAccounts, key ID */
    MLC_REF_COSTCENTERS,    /* hrm/Costcenters, key Code */
    MLC_REF_PERIODS,        /* financial/FinancialPeriods, key "YYYY/PPP" */
    MLC_REF_JOURNAL_STATUS, /* read/financial/JournalStatusList, key "journal/YYYY/PPP" */
    MLC_REF__COUNT
};

/* A day: reference data changes rarely; a daily run spends at most one call per kind on it. */
#define MLC_REF_TTL_MS (24LL * 3600 * 1000)
#define MLC_REF_ROW_MAX 2048      /* bytes of one cached row */
#define MLC_REF_ROWS_MAX 20000    /* rows of one kind per division */

const char *mlc_exact_ref_kind_name(enum mlc_ref_kind k); /* "journals", ... */

/* Brings one kind up to date: nothing when fetched within ttl_ms (<= 0: MLC_REF_TTL_MS) unless
 * force; else a fetch (incremental for G/L accounts, see below) stored in one write transaction. *calls (may be
 * NULL) gets the number of listing pages fetched (0 when the cache was fresh). */
int mlc_exact_ref_refresh(struct mlc_exact *x, struct mlc_store *st, uint32_t division,
                          enum mlc_ref_kind kind, int64_t ttl_ms, int force, unsigned *calls);
/* G/L accounts are kept current through sync/Financial/GLAccounts (only what changed since the
 * stored Timestamp); where Exact has no such endpoint (404, remembered) they are listed in full. */
#define MLC_REF_NO_SYNC UINT64_MAX
uint64_t mlc_exact_ref_sync_ts(struct mlc_store *st, uint32_t division, enum mlc_ref_kind kind);

/* When the kind was last fetched for division (epoch ms), or 0. */
int64_t mlc_exact_ref_fetched_at(struct mlc_store *st, uint32_t division, enum mlc_ref_kind kind);

/* Calls fn for each cached row (parsed JSON object) in key order. */
typedef int (*mlc_ref_row_fn)(void *ctx, const cJSON *row);
int mlc_exact_ref_each(struct mlc_store *st, uint32_t division, enum mlc_ref_kind kind,
                       mlc_ref_row_fn fn, void *ctx);

struct mlc_ref_journal {
    char code[32];
    char description[128];
    int type;
    char iban[48];
    char currency[8];
    char glaccount[40];
    int blocked;
};
struct mlc_ref_glaccount {
    char id[40];
    char code[32];
    char description[128];
    int type;
    int blocked;
    int use_costcenter;    /* 0 optional, 1 mandatory, 2 not allowed */
};
/* Lookups in the cache. MLC_ERR_NOTFOUND when absent. */
int mlc_exact_ref_journal(struct mlc_store *st, uint32_t division, const char *code,
                          struct mlc_ref_journal *out);
int mlc_exact_ref_glaccount(struct mlc_store *st, uint32_t division, const char *id,
                            struct mlc_ref_glaccount *out);
int mlc_exact_ref_costcenter(struct mlc_store *st, uint32_t division, const char *code);
/* The financial year and period holding date ("YYYY-MM-DD"). */
int mlc_exact_ref_period_of(struct mlc_store *st, uint32_t division, const char *date, int *year,
                            int *period);
/* 1 if the period is closed for journal, 0 if open or unknown, negative mlc_err on failure. */
int mlc_exact_ref_period_closed(struct mlc_store *st, uint32_t division, const char *journal,
                                int year, int period);
#endif
