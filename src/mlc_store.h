/* The LMDB store: one environment in <data-dir>/store, named databases, a schema version with
 * migrations, short write transactions and one writer. LMDB errors are translated here into
 * mlc_err codes; nothing above this module sees an MDB_* value.
 * Commits are fully synced (no MDB_NOSYNC): a committed write survives power loss. */
#ifndef MLC_STORE_H
#define MLC_STORE_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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

/* The META record holding the schema version (4 bytes, big-endian). Written only by migrations;
 * named here so tests and `mlc store check` can refer to it. */
#define MLC_STORE_META_VERSION_KEY "schema_version"

#define MLC_STORE_MAP_DEFAULT (64ull << 20)  /* 64 MiB */
#define MLC_STORE_MAP_MIN (64ull << 10)      /* LMDB needs a handful of pages; smaller is raised */
#define MLC_STORE_MAP_MAX_32BIT (1ull << 30) /* 1 GiB: what a 32-bit process can map beside its heap */

struct mlc_store_opts {
    uint64_t map_size;      /* initial map size in bytes; 0 = default (64 MiB) */
    uint64_t map_size_max;  /* the map may grow up to this; 0 = same as map_size (no growth) */
};

/* Opens (creating if needed) the store under data_dir/store, clears stale readers and runs
 * pending migrations. MLC_ERR_SCHEMA if the store is newer than this agent; MLC_ERR_PERM if the
 * store directory is open to group/others; MLC_ERR_STORE if it is damaged (or holds data but no
 * schema version). A map grown earlier keeps its size across restarts, up to map_size_max.
 * Each failure is logged once as one line saying what to do. */
int mlc_store_open(struct mlc_store **out, const char *data_dir, const struct mlc_store_opts *opts);
void mlc_store_close(struct mlc_store *st);   /* NULL is fine */

/* A transaction. Only one write transaction exists at a time (LMDB's rule, and ours): a second
 * write begin in the same process while one is open is a bug and returns MLC_ERR_INTERNAL instead
 * of deadlocking. A store handle is used from one thread at a time.
 * A put/del on a read-only transaction returns MLC_ERR_INTERNAL. When LMDB fails an operation
 * (MAP_FULL, I/O, damage; not NOTFOUND, nor an argument refused up front such as a key over 511
 * bytes) the transaction is spoiled: further calls return that error and mlc_store_commit aborts
 * it and returns it too. */
int mlc_store_begin(struct mlc_store *st, int read_only, struct mlc_txn **out);
/* Commits and frees the transaction. On MLC_ERR_MAP_FULL the transaction was aborted and
 * nothing of it was written; the caller may call mlc_store_grow() and redo it. */
int mlc_store_commit(struct mlc_txn *txn);
void mlc_store_abort(struct mlc_txn *txn);    /* NULL is fine */

/* Values returned by get/last/each point into the map and are valid until the transaction ends
 * or, in a write transaction, until its next put or del (LMDB's rule). Keys are 1..511 bytes
 * (MLC_ERR_TOO_BIG beyond). */
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
                   mlc_store_each_fn fn, void *ctx);   /* fn must not write to db */
/* The last record of a database (highest key), e.g. the newest audit record. */
int mlc_store_last(struct mlc_txn *txn, enum mlc_db db, const void **key, size_t *klen,
                   const void **val, size_t *vlen);  /* MLC_ERR_NOTFOUND if empty */

/* Counters and cursors: a uint64_t stored as 8 bytes big-endian. get returns MLC_ERR_NOTFOUND if
 * absent and MLC_ERR_DATA if the record is not 8 bytes long. */
int mlc_store_put_u64(struct mlc_txn *txn, enum mlc_db db, const void *key, size_t klen,
                      uint64_t v);
int mlc_store_get_u64(struct mlc_txn *txn, enum mlc_db db, const void *key, size_t klen,
                      uint64_t *v);

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
    uint64_t map_size_max;           /* how far the map may grow */
};
/* Schema version, record counts, and integrity: every database is walked with a cursor,
 * keys must be in order and the meta records must be present and valid. Also clears stale
 * readers again. Returns 0 when the check ran (rep->ok tells the outcome), or a negative
 * mlc_err when it could not run at all. */
int mlc_store_check(struct mlc_store *st, struct mlc_store_report *rep);
/* Prints the report for `mlc store check` (read by an installer). 0 or MLC_ERR_IO. */
int mlc_store_report_print(const struct mlc_store_report *r, FILE *out);

/* Name of a database, for reports ("audit", "vault", ...). */
const char *mlc_store_db_name(enum mlc_db db);
unsigned mlc_store_schema_version(const struct mlc_store *st);
#define MLC_STORE_SCHEMA_VERSION 1u

/* For 32-bit targets: the largest map size this process can address sensibly (1 GiB when
 * size_t is 32 bits). Sizes below MLC_STORE_MAP_MIN are raised to it. */
uint64_t mlc_store_clamp_map_size(uint64_t wanted);
/* The same rule as a pure function of the pointer width in bits (32 or 64), so the 32-bit
 * branch is tested on a 64-bit build host. */
uint64_t mlc_store_clamp_map_size_for(uint64_t wanted, unsigned ptr_bits);

/* The one translation of an LMDB return code (MDB_* or errno) into an mlc_err. Public only so it
 * can be tested; nothing above this module should have an MDB_* value to pass. */
int mlc_store_lmdb_err(int mdb_rc);
#endif
