/* The LMDB store: environment, named databases, schema migrations, transactions, map growth and
 * the integrity check. This is the only file that includes <lmdb.h>; every MDB_* code is turned
 * into an mlc_err by mlc_store_lmdb_err() and logged once, with advice, by store_fail(). */
#include "mlc_store.h"
#include "mlc_alloc.h"
#include "mlc_err.h"
#include "mlc_log.h"
#include "mlc_platform.h"

#include <errno.h>
#include <lmdb.h>
#include <stdarg.h>
#include <string.h>

#define MOD "store"
#define STORE_MAXDBS 32       /* room for databases that later migrations add */
#define STORE_DIR_MAX 1024
#define MIB (1024ull * 1024ull)
/* LMDB writes two meta pages (0 and 1) when it creates a file; any commit allocates more. */
#define LMDB_LAST_META_PGNO 1

static const char *const db_names[MLC_DB__COUNT] = {
    [MLC_DB_META] = "meta",         [MLC_DB_VAULT] = "vault",
    [MLC_DB_STATE] = "state",       [MLC_DB_ITEMS] = "items",
    [MLC_DB_ACCOUNTS] = "accounts", [MLC_DB_TXNS] = "txns",
    [MLC_DB_MAPPINGS] = "mappings", [MLC_DB_REFDATA] = "refdata",
    [MLC_DB_POSTINGS] = "postings", [MLC_DB_AUDIT] = "audit",
    [MLC_DB_ALERTS] = "alerts",
};

struct mlc_store {
    MDB_env *env;
    MDB_dbi dbi[MLC_DB__COUNT];
    uint64_t map_size_max;
    unsigned schema_version;
    int stale_readers;        /* cleared since open (at open, on READERS_FULL, by check) */
    unsigned open_txns;       /* grow and close need this to be 0 */
    int writer_open;          /* a second write begin would deadlock on LMDB's writer lock */
    size_t maxkey;
    char dir[STORE_DIR_MAX];
};

struct mlc_txn {
    struct mlc_store *st;
    MDB_txn *txn;
    int read_only;
    int err;                  /* first failure that spoiled the txn; commit aborts and returns it */
};

/* ---- sizes ---------------------------------------------------------------------------------- */

uint64_t mlc_store_clamp_map_size_for(uint64_t wanted, unsigned ptr_bits)
{
    if (wanted < MLC_STORE_MAP_MIN)
        wanted = MLC_STORE_MAP_MIN;
    /* A 32-bit process has 2-3 GiB of address space for everything; a bigger map fails in
     * mmap at open time, far from the config value that caused it. */
    if (ptr_bits <= 32 && wanted > MLC_STORE_MAP_MAX_32BIT)
        wanted = MLC_STORE_MAP_MAX_32BIT;
    return wanted;
}

uint64_t mlc_store_clamp_map_size(uint64_t wanted)
{
    return mlc_store_clamp_map_size_for(wanted, (unsigned)(sizeof(size_t) * 8));
}

static const char *fmt_mib(char *buf, size_t cap, uint64_t bytes)
{
    if (bytes % MIB == 0)
        snprintf(buf, cap, "%llu MiB", (unsigned long long)(bytes / MIB));
    else
        snprintf(buf, cap, "%.2f MiB", (double)bytes / (double)MIB);
    return buf;
}

static uint64_t env_map_size(const struct mlc_store *st)
{
    MDB_envinfo info;
    if (mdb_env_info(st->env, &info) != 0)
        return 0;
    return (uint64_t)info.me_mapsize;
}

/* Bytes of the map in use: pages 0..last, as of the last committed transaction. */
static uint64_t env_map_used(const struct mlc_store *st)
{
    MDB_envinfo info;
    MDB_stat est;
    if (mdb_env_info(st->env, &info) != 0 || mdb_env_stat(st->env, &est) != 0)
        return 0;
    return ((uint64_t)info.me_last_pgno + 1) * est.ms_psize;
}

/* ---- errors --------------------------------------------------------------------------------- */

int mlc_store_lmdb_err(int rc)
{
    switch (rc) {
    case MDB_SUCCESS: return MLC_OK;
    case MDB_NOTFOUND: return MLC_ERR_NOTFOUND;
    case MDB_KEYEXIST: return MLC_ERR_EXISTS;
    case MDB_MAP_FULL: return MLC_ERR_MAP_FULL;
    case MDB_TXN_FULL: case MDB_CURSOR_FULL: case MDB_BAD_VALSIZE: return MLC_ERR_TOO_BIG;
    case MDB_READERS_FULL: case MDB_MAP_RESIZED: return MLC_ERR_RETRY;
    case MDB_VERSION_MISMATCH: case MDB_INVALID: case MDB_CORRUPTED: case MDB_PAGE_NOTFOUND:
    case MDB_PANIC: case MDB_INCOMPATIBLE: case MDB_DBS_FULL: case MDB_PAGE_FULL:
    case MDB_TLS_FULL:
        return MLC_ERR_STORE;
    case MDB_BAD_RSLOT: case MDB_BAD_TXN: case MDB_BAD_DBI: case EINVAL: return MLC_ERR_INTERNAL;
    case EACCES: case EPERM: case EROFS: return MLC_ERR_PERM;
    case ENOMEM: return MLC_ERR_NOMEM;
    default: return MLC_ERR_IO; /* ENOSPC, EDQUOT, EIO and other errno values */
    }
}

/* What an installer should do about it, one line. */
static const char *lmdb_advice(int rc)
{
    switch (rc) {
    case MDB_MAP_FULL:
        return "the store's map is full; it grows up to store.map_size_max";
    case MDB_TXN_FULL: case MDB_CURSOR_FULL: case MDB_BAD_VALSIZE:
        return "a single store update was too large; this is a bug, please report it";
    case MDB_READERS_FULL:
        return "too many processes are reading the store; stop stray mlc processes and retry";
    case MDB_MAP_RESIZED:
        return "another mlc process resized the store; retry";
    case MDB_VERSION_MISMATCH:
        return "the store's lock file is from another LMDB version; stop every mlc process "
               "and delete lock.mdb in the store directory";
    case MDB_INVALID:
        return "data.mdb in the store directory is not an mlc store; restore it from a backup";
    case MDB_CORRUPTED: case MDB_PAGE_NOTFOUND: case MDB_PANIC: case MDB_INCOMPATIBLE:
    case MDB_PAGE_FULL:
        return "the store is damaged; stop mlc and restore the store directory from a backup";
    case EACCES: case EPERM:
        return "mlc may not access the store; run mlc as the user that owns the data directory";
    case EROFS:
        return "the store is on a read-only file system; mount it read-write";
    case ENOSPC:
#ifdef EDQUOT
    case EDQUOT:
#endif
        return "the disk holding the store is full; free disk space and retry";
    case ENOMEM:
        return "not enough memory to map the store; lower store.map_size or add memory";
    default:
        return "check the disk and the store directory, then retry";
    }
}

/* Translates and logs one LMDB failure. NOTFOUND and KEYEXIST are answers, not failures, and
 * MAP_FULL is expected (the caller aborts, grows and redoes), so those are not logged as errors. */
static int store_fail(const struct mlc_store *st, int rc, const char *op)
{
    int err = mlc_store_lmdb_err(rc);
    if (rc == MDB_NOTFOUND || rc == MDB_KEYEXIST)
        return err;
    if (rc == MDB_MAP_FULL) {
        MLC_LOG_DBG(MOD, "map_full op=%s path=\"%s\"", op, st->dir);
        return err;
    }
    MLC_LOG_ERR(MOD, "%s_failed path=\"%s\" detail=\"%s\" what_to_do=\"%s\"", op, st->dir,
                mdb_strerror(rc), lmdb_advice(rc));
    return err;
}

/* After these LMDB itself marks the transaction unusable (MDB_TXN_ERROR); remembering the
 * failure lets commit abort cleanly instead of reporting LMDB's vaguer follow-up error. */
static int spoil(struct mlc_txn *t, int rc, const char *op)
{
    int err = store_fail(t->st, rc, op);
    if (rc != MDB_NOTFOUND && rc != MDB_KEYEXIST && rc != MDB_BAD_VALSIZE && !t->err)
        t->err = err;
    return err;
}

/* ---- schema and migrations ------------------------------------------------------------------ */

static void be32_put(unsigned char *b, uint32_t v)
{
    b[0] = (unsigned char)(v >> 24); b[1] = (unsigned char)(v >> 16);
    b[2] = (unsigned char)(v >> 8);  b[3] = (unsigned char)v;
}

static uint32_t be32_get(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static MDB_val version_key(void)
{
    MDB_val k = { .mv_size = sizeof(MLC_STORE_META_VERSION_KEY) - 1,
                  .mv_data = (void *)MLC_STORE_META_VERSION_KEY };
    return k;
}

/* MLC_ERR_NOTFOUND when there is no version record (a version-0 store). */
static int read_version(struct mlc_store *st, MDB_txn *t, MDB_dbi meta, unsigned *version)
{
    MDB_val k = version_key(), v;
    int rc = mdb_get(t, meta, &k, &v);
    if (rc)
        return store_fail(st, rc, "read_schema_version");
    if (v.mv_size != 4) {
        MLC_LOG_ERR(MOD, "schema_version_damaged path=\"%s\" what_to_do=\"the store's schema "
                    "version record is damaged; restore the store directory from a backup\"",
                    st->dir);
        return MLC_ERR_STORE;
    }
    *version = be32_get(v.mv_data);
    return MLC_OK;
}

/* Named databases live as keys of LMDB's main database. */
static int has_dbs_besides_meta(struct mlc_store *st, MDB_txn *t, int *yes)
{
    MDB_cursor *c = NULL;
    MDB_dbi main_db;
    MDB_val k, v;
    *yes = 0;
    int rc = mdb_dbi_open(t, NULL, 0, &main_db);
    if (!rc)
        rc = mdb_cursor_open(t, main_db, &c);
    if (rc)
        return store_fail(st, rc, "open");
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (!(k.mv_size == 4 && memcmp(k.mv_data, "meta", 4) == 0)) {
            *yes = 1;
            break;
        }
    }
    mdb_cursor_close(c);
    return rc && rc != MDB_NOTFOUND ? store_fail(st, rc, "open") : MLC_OK;
}

typedef int (*migration_fn)(struct mlc_store *st, MDB_txn *t);

/* 0 -> 1: the first layout, one database per enum mlc_db. */
static int migrate_0_to_1(struct mlc_store *st, MDB_txn *t)
{
    for (int i = 0; i < MLC_DB__COUNT; i++) {
        MDB_dbi d;
        int rc = mdb_dbi_open(t, db_names[i], MDB_CREATE, &d);
        if (rc)
            return store_fail(st, rc, "migrate");
    }
    return MLC_OK;
}

/* migrations[N] takes a store from version N to N+1, inside the write transaction that also
 * writes N+1, so a crash leaves either the old or the new layout. Adding a database or changing
 * a record layout = a new entry here and MLC_STORE_SCHEMA_VERSION + 1. */
static const migration_fn migrations[MLC_STORE_SCHEMA_VERSION] = {
    migrate_0_to_1,
};

/* One step: *done = 1 when the store is at the current version. */
static int migrate_step(struct mlc_store *st, int *done)
{
    MDB_txn *t = NULL;
    MDB_dbi meta;
    unsigned version = 0;
    unsigned char vb[4];
    *done = 0;
    int rc = mdb_txn_begin(st->env, NULL, 0, &t);
    if (rc)
        return store_fail(st, rc, "open");
    int err = MLC_OK;
    rc = mdb_dbi_open(t, db_names[MLC_DB_META], MDB_CREATE, &meta);
    if (rc) {
        err = store_fail(st, rc, "open");
        goto out;
    }
    err = read_version(st, t, meta, &version);
    if (err == MLC_ERR_NOTFOUND) {
        /* Version 0 is a store with nothing but META. Data without a version means the record
         * was lost; running every migration again over real data could mangle it. */
        int other = 0;
        version = 0;
        err = has_dbs_besides_meta(st, t, &other);
        if (!err && other) {
            MLC_LOG_ERR(MOD, "schema_version_missing path=\"%s\" what_to_do=\"the store holds "
                        "data but no schema version record; restore the store directory from "
                        "a backup\"", st->dir);
            err = MLC_ERR_STORE;
        }
    }
    if (err)
        goto out;
    if (version > MLC_STORE_SCHEMA_VERSION) {
        MLC_LOG_ERR(MOD, "schema_too_new path=\"%s\" store_version=%u agent_version=%u "
                    "what_to_do=\"store was written by a newer agent; upgrade mlc\"",
                    st->dir, version, MLC_STORE_SCHEMA_VERSION);
        err = MLC_ERR_SCHEMA;
        goto out;
    }
    if (version == MLC_STORE_SCHEMA_VERSION) {
        st->schema_version = version;
        *done = 1;
        goto out;
    }
    if (!migrations[version]) {
        err = MLC_ERR_INTERNAL;
        goto out;
    }
    err = migrations[version](st, t);
    if (err)
        goto out;
    be32_put(vb, version + 1);
    MDB_val k = version_key(), v = { .mv_size = sizeof(vb), .mv_data = vb };
    rc = mdb_put(t, meta, &k, &v, 0);
    if (rc) {
        err = store_fail(st, rc, "migrate");
        goto out;
    }
    rc = mdb_txn_commit(t);
    t = NULL; /* LMDB frees it whether or not the commit worked */
    if (rc) {
        err = store_fail(st, rc, "migrate");
        goto out;
    }
    MLC_LOG_INF(MOD, "schema_migrated path=\"%s\" from=%u to=%u", st->dir, version, version + 1);
out:
    if (t)
        mdb_txn_abort(t);
    return err;
}

static int run_migrations(struct mlc_store *st)
{
    /* Bounded: each step raises the version by one or fails. */
    for (unsigned i = 0; i <= MLC_STORE_SCHEMA_VERSION; i++) {
        int done = 0;
        int err = migrate_step(st, &done);
        if (err == MLC_ERR_MAP_FULL) {
            err = mlc_store_grow(st);
            if (!err)
                continue;
        }
        if (err || done)
            return err;
    }
    return MLC_ERR_INTERNAL;
}

static int open_dbis(struct mlc_store *st)
{
    MDB_txn *t = NULL;
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &t);
    if (rc)
        return store_fail(st, rc, "open");
    for (int i = 0; i < MLC_DB__COUNT; i++) {
        rc = mdb_dbi_open(t, db_names[i], 0, &st->dbi[i]);
        if (rc == MDB_NOTFOUND) {
            MLC_LOG_ERR(MOD, "database_missing path=\"%s\" db=%s what_to_do=\"the store has no "
                        "'%s' database; restore the store directory from a backup\"",
                        st->dir, db_names[i], db_names[i]);
            mdb_txn_abort(t);
            return MLC_ERR_STORE;
        }
        if (rc) {
            mdb_txn_abort(t);
            return store_fail(st, rc, "open");
        }
    }
    /* Committing makes the handles usable by every later transaction. */
    rc = mdb_txn_commit(t);
    return rc ? store_fail(st, rc, "open") : MLC_OK;
}

/* ---- open / close --------------------------------------------------------------------------- */

/* LMDB keeps the map size in the file, so a store that grew keeps its size across restarts (up
 * to map_size_max); a new store starts at the configured size. The env was opened without a
 * size so LMDB adopted the file's; a fresh file has only its two meta pages. */
static int set_initial_map(struct mlc_store *st, uint64_t want)
{
    MDB_envinfo info;
    int rc = mdb_env_info(st->env, &info);
    if (rc)
        return store_fail(st, rc, "open");
    uint64_t size = want;
    if (info.me_last_pgno > LMDB_LAST_META_PGNO && (uint64_t)info.me_mapsize > size)
        size = (uint64_t)info.me_mapsize;
    if (size > st->map_size_max)
        size = st->map_size_max;
    rc = mdb_env_set_mapsize(st->env, (size_t)size);
    return rc ? store_fail(st, rc, "open") : MLC_OK;
}

int mlc_store_open(struct mlc_store **out, const char *data_dir, const struct mlc_store_opts *opts)
{
    if (!out || !data_dir)
        return MLC_ERR_INTERNAL;
    *out = NULL;
    struct mlc_store *st = mlc_calloc(1, sizeof(*st));
    if (!st)
        return MLC_ERR_NOMEM;
    int err = mlc_fs_join(st->dir, sizeof(st->dir), data_dir, "store");
    if (err) {
        MLC_LOG_ERR(MOD, "open_failed what_to_do=\"the data directory path is too long; choose "
                    "a shorter --data-dir\"");
        goto out;
    }
    uint64_t want = opts && opts->map_size ? opts->map_size : MLC_STORE_MAP_DEFAULT;
    uint64_t max = opts && opts->map_size_max ? opts->map_size_max : want;
    want = mlc_store_clamp_map_size(want);
    max = mlc_store_clamp_map_size(max);
    st->map_size_max = max < want ? want : max;

    err = mlc_fs_mkdir_p(st->dir, 0700);
    if (err) {
        MLC_LOG_ERR(MOD, "open_failed path=\"%s\" what_to_do=\"cannot create the store directory; "
                    "check that the data directory exists and belongs to the user running mlc\"",
                    st->dir);
        goto out;
    }
    /* The vault's sealed secrets live here: refuse a directory others can read. */
    err = mlc_fs_check_private(st->dir);
    if (err == MLC_ERR_PERM) {
        MLC_LOG_ERR(MOD, "open_failed path=\"%s\" what_to_do=\"the store directory is open to "
                    "other users; run: chmod 700 %s\"", st->dir, st->dir);
        goto out;
    } else if (err) {
        MLC_LOG_ERR(MOD, "open_failed path=\"%s\" what_to_do=\"cannot read the store "
                    "directory's permissions; check the data directory\"", st->dir);
        goto out;
    }
    MDB_env *env = NULL;
    int rc = mdb_env_create(&env);
    if (rc) {
        err = store_fail(st, rc, "open");
        goto out;
    }
    st->env = env;
    rc = mdb_env_set_maxdbs(st->env, STORE_MAXDBS);
    /* MDB_NOTLS: read transactions belong to the mlc_txn, not the thread. No NOSYNC,
     * NOMETASYNC or MAPASYNC: every commit is on disk when it returns. */
    if (!rc)
        rc = mdb_env_open(st->env, st->dir, MDB_NOTLS, 0600);
    if (rc) {
        err = store_fail(st, rc, "open");
        mdb_env_close(st->env); /* LMDB: a failed open still needs the handle closed */
        st->env = NULL;
        goto out;
    }
    err = set_initial_map(st, want);
    if (err)
        goto out;
    int dead = 0;
    rc = mdb_reader_check(st->env, &dead);
    if (rc == 0 && dead > 0) {
        st->stale_readers = dead;
        MLC_LOG_WRN(MOD, "stale_readers_cleared path=\"%s\" count=%d", st->dir, dead);
    }
    st->maxkey = (size_t)mdb_env_get_maxkeysize(st->env);
    err = run_migrations(st);
    if (err)
        goto out;
    err = open_dbis(st);
    if (err)
        goto out;
    *out = st;
    st = NULL;
out:
    mlc_store_close(st);
    return err;
}

void mlc_store_close(struct mlc_store *st)
{
    if (!st)
        return;
    if (st->env && st->open_txns) {
        /* LMDB forbids closing under live transactions; leaking beats a crash. */
        MLC_LOG_ERR(MOD, "close_refused path=\"%s\" open_transactions=%u what_to_do=\"a bug; "
                    "please report it\"", st->dir, st->open_txns);
        return;
    }
    if (st->env)
        mdb_env_close(st->env);
    mlc_free(st);
}

unsigned mlc_store_schema_version(const struct mlc_store *st)
{
    return st ? st->schema_version : 0;
}

const char *mlc_store_db_name(enum mlc_db db)
{
    return (unsigned)db < MLC_DB__COUNT ? db_names[db] : "unknown";
}

/* ---- transactions --------------------------------------------------------------------------- */

int mlc_store_begin(struct mlc_store *st, int read_only, struct mlc_txn **out)
{
    if (!out)
        return MLC_ERR_INTERNAL;
    *out = NULL;
    if (!st)
        return MLC_ERR_INTERNAL;
    if (!read_only && st->writer_open) {
        MLC_LOG_ERR(MOD, "write_txn_nested path=\"%s\" what_to_do=\"a second write transaction "
                    "was begun while one is open; this is a bug, please report it\"", st->dir);
        return MLC_ERR_INTERNAL;
    }
    /* Grow before the map is full rather than after: a write that hits MDB_MAP_FULL is lost
     * work for the caller, so keep a quarter of the map free while it may still grow. Growing
     * needs no transaction open in this process; otherwise the next begin will do it. */
    if (!read_only && st->open_txns == 0) {
        uint64_t size = env_map_size(st);
        if (size < st->map_size_max && env_map_used(st) > size / 4 * 3) {
            int grc = mlc_store_grow(st);
            if (grc != MLC_OK && grc != MLC_ERR_MAP_FULL)
                return grc;
        }
    }
    struct mlc_txn *t = mlc_calloc(1, sizeof(*t));
    if (!t)
        return MLC_ERR_NOMEM;
    unsigned flags = read_only ? MDB_RDONLY : 0;
    int rc = mdb_txn_begin(st->env, NULL, flags, &t->txn);
    if (rc == MDB_MAP_RESIZED && st->open_txns == 0) {
        /* Another process grew the map; LMDB's answer is to adopt the new size. */
        rc = mdb_env_set_mapsize(st->env, 0);
        if (!rc)
            rc = mdb_txn_begin(st->env, NULL, flags, &t->txn);
    } else if (rc == MDB_READERS_FULL) {
        /* Slots of crashed processes are only freed by a reader check. */
        int dead = 0;
        if (mdb_reader_check(st->env, &dead) == 0 && dead > 0) {
            st->stale_readers += dead;
            rc = mdb_txn_begin(st->env, NULL, flags, &t->txn);
        }
    }
    if (rc) {
        mlc_free(t);
        return store_fail(st, rc, "begin");
    }
    t->st = st;
    t->read_only = read_only ? 1 : 0;
    st->open_txns++;
    if (!read_only)
        st->writer_open = 1;
    *out = t;
    return MLC_OK;
}

static void txn_release(struct mlc_txn *t)
{
    t->st->open_txns--;
    if (!t->read_only)
        t->st->writer_open = 0;
    mlc_free(t);
}

int mlc_store_commit(struct mlc_txn *t)
{
    if (!t)
        return MLC_ERR_INTERNAL;
    int err = t->err;
    if (err) {
        mdb_txn_abort(t->txn);
        MLC_LOG_DBG(MOD, "commit_refused path=\"%s\" reason=\"%s\"", t->st->dir, mlc_err_str(err));
    } else {
        /* On failure (MAP_FULL while saving the free list, ENOSPC, EIO) LMDB aborts the txn. */
        int rc = mdb_txn_commit(t->txn);
        if (rc)
            err = store_fail(t->st, rc, "commit");
    }
    txn_release(t);
    return err;
}

void mlc_store_abort(struct mlc_txn *t)
{
    if (!t)
        return;
    mdb_txn_abort(t->txn);
    txn_release(t);
}

/* Common checks of every record operation. */
static int txn_ready(struct mlc_txn *t, enum mlc_db db)
{
    if (!t || (unsigned)db >= MLC_DB__COUNT)
        return MLC_ERR_INTERNAL;
    return t->err;
}

static int key_ok(struct mlc_txn *t, const void *key, size_t klen)
{
    if (!key || klen == 0) {
        MLC_LOG_ERR(MOD, "empty_key what_to_do=\"a bug; please report it\"");
        return MLC_ERR_INTERNAL;
    }
    if (klen > t->st->maxkey)
        return MLC_ERR_TOO_BIG;
    return MLC_OK;
}

static int writable(struct mlc_txn *t)
{
    if (!t->read_only)
        return MLC_OK;
    MLC_LOG_ERR(MOD, "write_in_read_txn what_to_do=\"a write in a read-only transaction; this "
                "is a bug, please report it\"");
    return MLC_ERR_INTERNAL;
}

int mlc_store_get(struct mlc_txn *t, enum mlc_db db, const void *key, size_t klen,
                  const void **val, size_t *vlen)
{
    int err = txn_ready(t, db);
    if (!err)
        err = key_ok(t, key, klen);
    if (err)
        return err;
    MDB_val k = { .mv_size = klen, .mv_data = (void *)key }, v;
    int rc = mdb_get(t->txn, t->st->dbi[db], &k, &v);
    if (rc)
        return spoil(t, rc, "get");
    if (val)
        *val = v.mv_data;
    if (vlen)
        *vlen = v.mv_size;
    return MLC_OK;
}

int mlc_store_put(struct mlc_txn *t, enum mlc_db db, const void *key, size_t klen,
                  const void *val, size_t vlen)
{
    int err = txn_ready(t, db);
    if (!err)
        err = writable(t);
    if (!err)
        err = key_ok(t, key, klen);
    if (!err && !val && vlen)
        err = MLC_ERR_INTERNAL;
    if (err)
        return err;
    MDB_val k = { .mv_size = klen, .mv_data = (void *)key };
    MDB_val v = { .mv_size = vlen, .mv_data = (void *)val };
    int rc = mdb_put(t->txn, t->st->dbi[db], &k, &v, 0);
    return rc ? spoil(t, rc, "put") : MLC_OK;
}

int mlc_store_del(struct mlc_txn *t, enum mlc_db db, const void *key, size_t klen)
{
    int err = txn_ready(t, db);
    if (!err)
        err = writable(t);
    if (!err)
        err = key_ok(t, key, klen);
    if (err)
        return err;
    MDB_val k = { .mv_size = klen, .mv_data = (void *)key };
    int rc = mdb_del(t->txn, t->st->dbi[db], &k, NULL);
    return rc ? spoil(t, rc, "del") : MLC_OK;
}

int mlc_store_each(struct mlc_txn *t, enum mlc_db db, const void *prefix, size_t plen,
                   mlc_store_each_fn fn, void *ctx)
{
    int err = txn_ready(t, db);
    if (err)
        return err;
    if (!fn || (plen && !prefix))
        return MLC_ERR_INTERNAL;
    if (plen > t->st->maxkey)
        return MLC_OK; /* no key is that long */
    MDB_cursor *c = NULL;
    int rc = mdb_cursor_open(t->txn, t->st->dbi[db], &c);
    if (rc)
        return spoil(t, rc, "read");
    MDB_val k = { .mv_size = plen, .mv_data = (void *)prefix }, v;
    rc = mdb_cursor_get(c, &k, &v, plen ? MDB_SET_RANGE : MDB_FIRST);
    for (; rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (plen && (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0))
            break; /* keys are sorted: past the prefix, nothing more matches */
        int r = fn(ctx, k.mv_data, k.mv_size, v.mv_data, v.mv_size);
        if (r < 0)
            err = r;
        if (r != 0)
            goto out;
    }
    if (rc && rc != MDB_NOTFOUND)
        err = spoil(t, rc, "read");
out:
    mdb_cursor_close(c);
    return err;
}

int mlc_store_last(struct mlc_txn *t, enum mlc_db db, const void **key, size_t *klen,
                   const void **val, size_t *vlen)
{
    int err = txn_ready(t, db);
    if (err)
        return err;
    MDB_cursor *c = NULL;
    int rc = mdb_cursor_open(t->txn, t->st->dbi[db], &c);
    if (rc)
        return spoil(t, rc, "read");
    MDB_val k, v;
    rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
    mdb_cursor_close(c);
    if (rc)
        return spoil(t, rc, "read");
    if (key)
        *key = k.mv_data;
    if (klen)
        *klen = k.mv_size;
    if (val)
        *val = v.mv_data;
    if (vlen)
        *vlen = v.mv_size;
    return MLC_OK;
}

int mlc_store_put_u64(struct mlc_txn *t, enum mlc_db db, const void *key, size_t klen, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (56 - 8 * i));
    return mlc_store_put(t, db, key, klen, b, sizeof(b));
}

int mlc_store_get_u64(struct mlc_txn *t, enum mlc_db db, const void *key, size_t klen,
                      uint64_t *v)
{
    const void *p;
    size_t n;
    int err = mlc_store_get(t, db, key, klen, &p, &n);
    if (err)
        return err;
    if (n != 8)
        return MLC_ERR_DATA;
    const unsigned char *b = p;
    uint64_t x = 0;
    for (int i = 0; i < 8; i++)
        x = x << 8 | b[i];
    if (v)
        *v = x;
    return MLC_OK;
}

/* ---- growth --------------------------------------------------------------------------------- */

int mlc_store_grow(struct mlc_store *st)
{
    if (!st)
        return MLC_ERR_INTERNAL;
    if (st->open_txns) {
        /* LMDB: the map may only be resized with no transaction active in this process. */
        MLC_LOG_ERR(MOD, "grow_refused path=\"%s\" what_to_do=\"the store was grown inside a "
                    "transaction; this is a bug, please report it\"", st->dir);
        return MLC_ERR_INTERNAL;
    }
    char a[32], b[32];
    uint64_t cur = env_map_size(st);
    if (cur >= st->map_size_max) {
        MLC_LOG_ERR(MOD, "store_full path=\"%s\" what_to_do=\"the store is full (%s); raise "
                    "store.map_size_max in the config or free disk space\"", st->dir,
                    fmt_mib(a, sizeof(a), cur));
        return MLC_ERR_MAP_FULL;
    }
    uint64_t next = cur > st->map_size_max / 2 ? st->map_size_max : cur * 2;
    int rc = mdb_env_set_mapsize(st->env, (size_t)next);
    if (rc)
        return store_fail(st, rc, "grow");
    MLC_LOG_INF(MOD, "store_grown path=\"%s\" from=\"%s\" to=\"%s\"", st->dir,
                fmt_mib(a, sizeof(a), cur), fmt_mib(b, sizeof(b), env_map_size(st)));
    return MLC_OK;
}

/* ---- check ---------------------------------------------------------------------------------- */

static void report_problem(struct mlc_store_report *rep, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void report_problem(struct mlc_store_report *rep, const char *fmt, ...)
{
    if (!rep->ok)
        return; /* keep the first: later ones are often its consequences */
    rep->ok = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rep->problem, sizeof(rep->problem), fmt, ap);
    va_end(ap);
}

/* LMDB's default order: bytewise, then shorter first. */
static int key_cmp(const MDB_val *a, const MDB_val *b)
{
    size_t n = a->mv_size < b->mv_size ? a->mv_size : b->mv_size;
    int c = n ? memcmp(a->mv_data, b->mv_data, n) : 0;
    if (c)
        return c;
    return a->mv_size < b->mv_size ? -1 : a->mv_size > b->mv_size;
}

static void walk_db(struct mlc_txn *t, enum mlc_db db, struct mlc_store_report *rep)
{
    const char *name = db_names[db];
    MDB_cursor *c = NULL;
    MDB_val k, v, prev = { 0, NULL };
    uint64_t n = 0;
    int rc = mdb_cursor_open(t->txn, t->st->dbi[db], &c);
    if (rc) {
        report_problem(rep, "database '%s' cannot be read (%s); restore the store from a backup",
                       name, mdb_strerror(rc));
        return;
    }
    /* Read-only txn: keys stay valid in the map until it ends, so prev needs no copy. */
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (n > 0 && key_cmp(&prev, &k) >= 0)
            report_problem(rep, "database '%s' has keys out of order at record %llu; restore "
                           "the store from a backup", name, (unsigned long long)n + 1);
        prev = k;
        n++;
    }
    mdb_cursor_close(c);
    if (rc != MDB_NOTFOUND)
        report_problem(rep, "database '%s' is damaged after record %llu (%s); restore the store "
                       "from a backup", name, (unsigned long long)n, mdb_strerror(rc));
    rep->records[db] = n;
    MDB_stat s;
    if (mdb_stat(t->txn, t->st->dbi[db], &s) == 0 && (uint64_t)s.ms_entries != n)
        report_problem(rep, "database '%s' says it holds %llu records but %llu were found; "
                       "restore the store from a backup", name,
                       (unsigned long long)s.ms_entries, (unsigned long long)n);
}

static void check_meta(struct mlc_txn *t, struct mlc_store_report *rep)
{
    const void *p;
    size_t n;
    int err = mlc_store_get(t, MLC_DB_META, MLC_STORE_META_VERSION_KEY,
                            sizeof(MLC_STORE_META_VERSION_KEY) - 1, &p, &n);
    if (err == MLC_ERR_NOTFOUND) {
        report_problem(rep, "the schema version record is missing; restore the store from a "
                       "backup");
    } else if (err) {
        report_problem(rep, "the schema version record cannot be read (%s)", mlc_err_str(err));
    } else if (n != 4) {
        report_problem(rep, "the schema version record is damaged (%zu bytes instead of 4); "
                       "restore the store from a backup", n);
    } else {
        rep->schema_version = be32_get(p);
        if (rep->schema_version != t->st->schema_version)
            report_problem(rep, "the schema version changed from %u to %u while mlc ran; "
                           "restore the store from a backup", t->st->schema_version,
                           rep->schema_version);
    }
}

int mlc_store_check(struct mlc_store *st, struct mlc_store_report *rep)
{
    if (!st || !rep)
        return MLC_ERR_INTERNAL;
    memset(rep, 0, sizeof(*rep));
    rep->ok = 1;
    rep->map_size_max = st->map_size_max;
    int dead = 0;
    if (mdb_reader_check(st->env, &dead) == 0 && dead > 0)
        st->stale_readers += dead;
    rep->stale_readers_cleared = st->stale_readers;

    struct mlc_txn *t = NULL;
    int err = mlc_store_begin(st, 1, &t);
    if (err)
        return err;
    /* After begin, so the numbers describe the snapshot being walked. */
    MDB_envinfo info;
    MDB_stat est;
    if (mdb_env_info(st->env, &info) == 0 && mdb_env_stat(st->env, &est) == 0) {
        rep->map_size = (uint64_t)info.me_mapsize;
        rep->map_used = ((uint64_t)info.me_last_pgno + 1) * est.ms_psize; /* pages 0..last */
    }
    check_meta(t, rep);
    for (int i = 0; i < MLC_DB__COUNT; i++)
        walk_db(t, (enum mlc_db)i, rep);
    mlc_store_abort(t);
    return MLC_OK;
}

int mlc_store_report_print(const struct mlc_store_report *r, FILE *out)
{
    if (!r || !out)
        return MLC_ERR_INTERNAL;
    char a[32], b[32], c[32];
    unsigned pct = r->map_size ? (unsigned)(r->map_used * 100 / r->map_size) : 0;
    fprintf(out, "Store check\n");
    if (r->schema_version)
        fprintf(out, "  schema version   %u (this mlc understands up to %u)\n", r->schema_version,
                MLC_STORE_SCHEMA_VERSION);
    else
        fprintf(out, "  schema version   unknown (this mlc understands up to %u)\n",
                MLC_STORE_SCHEMA_VERSION);
    fprintf(out, "  space            %s used of %s (%u%%); may grow to %s\n",
            fmt_mib(a, sizeof(a), r->map_used), fmt_mib(b, sizeof(b), r->map_size), pct,
            fmt_mib(c, sizeof(c), r->map_size_max));
    fprintf(out, "  stale readers    %d cleared\n", r->stale_readers_cleared);
    fprintf(out, "  records\n");
    for (int i = 0; i < MLC_DB__COUNT; i++)
        fprintf(out, "    %-12s %llu\n", db_names[i], (unsigned long long)r->records[i]);
    if (r->ok)
        fprintf(out, "  result           OK\n");
    else
        fprintf(out, "  result           PROBLEM: %s\n", r->problem);
    if (pct >= 90 && r->map_size >= r->map_size_max)
        fprintf(out, "  warning          the store is nearly full; raise store.map_size_max in "
                "the config\n");
    fflush(out);
    return ferror(out) ? MLC_ERR_IO : MLC_OK;
}
