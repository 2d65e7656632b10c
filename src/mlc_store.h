/* The LMDB store: one environment in <data-dir>/store, named databases, a schema version with
 * migrations, short write transactions and one writer. LMDB errors are translated here into
 * mlc_err codes; nothing above this module sees an MDB_* value.
 * Commits are fully synced (no MDB_NOSYNC): a committed write survives power loss. */
#ifndef MLC_STORE_H
#define MLC_STORE_H
#include <stddef.h>
#include <stdint.h>

/* Named databases. Adding one is a schema migration (see mlc_store.c). */
enum mlc_db {
    MLC_DB_META = 0,   /* schema version and store-wide facts */
    MLC_DB_VAULT,      /* sealed secrets, key = secret name */
    MLC_DB_STATE,      /* small per-connection state: tokens' metadata, cursors, budgets */
    MLC_DB_ITEMS,      /* Plaid items */
    MLC_DB_ACCOUNTS,   /* Plaid accounts */
    MLC_DB_TXNS,       /* local transaction journal, key = account id + transaction id */
    MLC_DB_MAPPINGS,   /* Plaid account -> Exact division/journal mapping */
    MLC_DB_REFDATA,    /* cached Exact reference data, key = division + kind + id */
    MLC_DB_POSTINGS,   /* statements in flight and posted */
    MLC_DB_AUDIT,      /* hash-chained audit log, key = big-endian sequence number */
    MLC_DB_ALERTS,     /* open alerts */
    MLC_DB__COUNT
};

struct mlc_store;
struct mlc_txn;

struct mlc_store_opts {
    uint64_t map_size;      /* initial map size in bytes; 0 = default (64 MiB) */
    uint64_t map_size_max;  /* the map may grow up to this; 0 = same as map_size (no growth) */
};

/* Opens (creating if needed) the store under data_dir/store, clears stale readers and runs
 * pending migrations. MLC_ERR_SCHEMA if the store is newer than this agent. */
int mlc_store_open(struct mlc_store **out, const char *data_dir, const struct mlc_store_opts *opts);
void mlc_store_close(struct mlc_store *st);   /* NULL is fine */

/* A transaction. Only one write transaction exists at a time (LMDB's rule, and ours). */
int mlc_store_begin(struct mlc_store *st, int read_only, struct mlc_txn **out);
/* Commits and frees the transaction. On MLC_ERR_MAP_FULL the transaction was aborted and
 * nothing of it was written; the caller may call mlc_store_grow() and redo it. */
int mlc_store_commit(struct mlc_txn *txn);
void mlc_store_abort(struct mlc_txn *txn);    /* NULL is fine */

/* Values returned by get point into the map and are valid until the transaction ends. */
int mlc_store_get(struct mlc_txn *txn, enum mlc_db db, const void *key, size_t klen,
                  const void **val, size_t *vlen);  /* MLC_ERR_NOTFOUND if absent */
int mlc_store_put(struct mlc_txn *txn, enum mlc_db db, const void *key, size_t klen,
                  const void *val, size_t vlen);    /* MLC_ERR_MAP_FULL possible */
int mlc_store_del(struct mlc_txn *txn, enum mlc_db db, const void *key, size_t klen);
                                                    /* MLC_ERR_NOTFOUND if absent */

/* Calls fn for each record whose key starts with prefix (all if plen == 0), in key order.
 * fn returns 0 to go on, 1 to stop early, or a negative mlc_err to stop with that error. */
typedef int (*mlc_store_each_fn)(void *ctx, const void *key, size_t klen,
                                 const void *val, size_t vlen);
int mlc_store_each(struct mlc_txn *txn, enum mlc_db db, const void *prefix, size_t plen,
                   mlc_store_each_fn fn, void *ctx);
/* The last record of a database (highest key), e.g. the newest audit record. */
int mlc_store_last(struct mlc_txn *txn, enum mlc_db db, const void **key, size_t *klen,
                   const void **val, size_t *vlen);  /* MLC_ERR_NOTFOUND if empty */

/* Grows the map (doubling, up to map_size_max). No transaction may be open.
 * MLC_ERR_MAP_FULL if it is already at the maximum. */
int mlc_store_grow(struct mlc_store *st);

struct mlc_store_report {
    unsigned schema_version;
    uint64_t map_size;
    uint64_t map_used;               /* bytes in use (last page number * page size) */
    uint64_t records[MLC_DB__COUNT];
    int stale_readers_cleared;
    int ok;                          /* 1 when every integrity check passed */
    char problem[256];               /* the first problem found, for people */
};
/* Schema version, record counts, and integrity: every database is walked with a cursor,
 * keys must be in order and the meta records must be present and valid. */
int mlc_store_check(struct mlc_store *st, struct mlc_store_report *rep);

/* Name of a database, for reports ("audit", "vault", ...). */
const char *mlc_store_db_name(enum mlc_db db);
unsigned mlc_store_schema_version(const struct mlc_store *st);
#define MLC_STORE_SCHEMA_VERSION 1u

/* For 32-bit targets: the largest map size this process can address sensibly. */
uint64_t mlc_store_clamp_map_size(uint64_t wanted);
#endif
