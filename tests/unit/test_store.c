#include "mlc_test_util.h"
#include "mlc_err.h"
#include "mlc_log.h"
#include "mlc_store.h"

#include <errno.h>
#include <lmdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define VKEY MLC_STORE_META_VERSION_KEY
#define VKEY_LEN (sizeof(MLC_STORE_META_VERSION_KEY) - 1)

static char *dup_tmpdir(const char *tag)
{
    char *d = strdup(mlc_test_tmpdir(tag));
    assert_non_null(d);
    return d;
}

/* Log capture: lines go to a file that the test reads back. */
static char log_path[700];
static FILE *log_file;

static void log_capture_start(const char *dir)
{
    snprintf(log_path, sizeof(log_path), "%s/log.txt", dir);
    log_file = fopen(log_path, "w+");
    assert_non_null(log_file);
    mlc_log_set_sink(log_file);
}

static char *log_capture_end(void)
{
    mlc_log_set_sink(NULL);
    fclose(log_file);
    log_file = NULL;
    char *text = mlc_test_slurp(log_path, NULL);
    assert_non_null(text);
    return text;
}

static void put_str(struct mlc_store *st, enum mlc_db db, const char *k, const char *v)
{
    struct mlc_txn *t;
    assert_int_equal(mlc_store_begin(st, 0, &t), MLC_OK);
    assert_int_equal(mlc_store_put(t, db, k, strlen(k), v, strlen(v)), MLC_OK);
    assert_int_equal(mlc_store_commit(t), MLC_OK);
}

/* 1 if db holds k with value v, 0 if k is absent; fails the test on anything else. */
static int has_str(struct mlc_store *st, enum mlc_db db, const char *k, const char *v)
{
    struct mlc_txn *t;
    const void *p;
    size_t n;
    assert_int_equal(mlc_store_begin(st, 1, &t), MLC_OK);
    int err = mlc_store_get(t, db, k, strlen(k), &p, &n);
    int found = 0;
    if (err == MLC_OK) {
        assert_int_equal(n, strlen(v));
        assert_memory_equal(p, v, n);
        found = 1;
    } else {
        assert_int_equal(err, MLC_ERR_NOTFOUND);
    }
    mlc_store_abort(t);
    return found;
}

static void open_close_reopen_persists(void **state)
{
    (void)state;
    char *dir = dup_tmpdir("store-persist");
    struct mlc_store *st = NULL;
    assert_int_equal(mlc_store_open(&st, dir, NULL), MLC_OK);
    assert_int_equal(mlc_store_schema_version(st), MLC_STORE_SCHEMA_VERSION);
    put_str(st, MLC_DB_VAULT, "plaid.secret", "sealed-blob-1");
    put_str(st, MLC_DB_AUDIT, "seq1", "first");
    mlc_store_close(st);

    /* The store directory is private: the vault's sealed secrets live in it. */
    char sdir[800];
    struct stat sb;
    snprintf(sdir, sizeof(sdir), "%s/store", dir);
    assert_int_equal(stat(sdir, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);

    st = NULL;
    assert_int_equal(mlc_store_open(&st, dir, NULL), MLC_OK);
    assert_true(has_str(st, MLC_DB_VAULT, "plaid.secret", "sealed-blob-1"));
    assert_true(has_str(st, MLC_DB_AUDIT, "seq1", "first"));
    /* Databases are separate namespaces. */
    assert_false(has_str(st, MLC_DB_STATE, "plaid.secret", ""));
    mlc_store_close(st);
    mlc_store_close(NULL);
    mlc_test_rmtree(dir);
    free(dir);
}

static void put_get_del_and_abort(void **state)
{
    (void)state;
    char *dir = dup_tmpdir("store-pgd");
    struct mlc_store *st;
    struct mlc_txn *t;
    assert_int_equal(mlc_store_open(&st, dir, NULL), MLC_OK);
    assert_false(has_str(st, MLC_DB_STATE, "cursor", ""));
    put_str(st, MLC_DB_STATE, "cursor", "abc");
    put_str(st, MLC_DB_STATE, "cursor", "abcdef"); /* overwrite */
    assert_true(has_str(st, MLC_DB_STATE, "cursor", "abcdef"));

    /* An aborted transaction leaves nothing behind. */
    assert_int_equal(mlc_store_begin(st, 0, &t), MLC_OK);
    assert_int_equal(mlc_store_put(t, MLC_DB_STATE, "tmp", 3, "x", 1), MLC_OK);
    assert_int_equal(mlc_store_del(t, MLC_DB_STATE, "cursor", 6), MLC_OK);
    mlc_store_abort(t);
    assert_false(has_str(st, MLC_DB_STATE, "tmp", ""));
    assert_true(has_str(st, MLC_DB_STATE, "cursor", "abcdef"));

    /* Deleting a missing key says so and does not spoil the transaction. */
    assert_int_equal(mlc_store_begin(st, 0, &t), MLC_OK);
    assert_int_equal(mlc_store_del(t, MLC_DB_STATE, "nope", 4), MLC_ERR_NOTFOUND);
    assert_int_equal(mlc_store_del(t, MLC_DB_STATE, "cursor", 6), MLC_OK);
    assert_int_equal(mlc_store_commit(t), MLC_OK);
    assert_false(has_str(st, MLC_DB_STATE, "cursor", ""));

    /* Key limits are checked, not passed to LMDB. */
    char big[600];
    memset(big, 'k', sizeof(big));
    assert_int_equal(mlc_store_begin(st, 0, &t), MLC_OK);
    assert_int_equal(mlc_store_put(t, MLC_DB_STATE, big, sizeof(big), "v", 1), MLC_ERR_TOO_BIG);
    assert_int_equal(mlc_store_put(t, MLC_DB_STATE, big, 0, "v", 1), MLC_ERR_INTERNAL);
    assert_int_equal(mlc_store_put(t, MLC_DB_STATE, "empty", 5, NULL, 0), MLC_OK);
    assert_int_equal(mlc_store_commit(t), MLC_OK);
    assert_true(has_str(st, MLC_DB_STATE, "empty", ""));

    /* u64 helpers: big-endian, length-checked. */
    uint64_t v = 0;
    assert_int_equal(mlc_store_begin(st, 0, &t), MLC_OK);
    assert_int_equal(mlc_store_put_u64(t, MLC_DB_STATE, "budget", 6, 0x0102030405060708ull),
                     MLC_OK);
    assert_int_equal(mlc_store_get_u64(t, MLC_DB_STATE, "budget", 6, &v), MLC_OK);
    assert_true(v == 0x0102030405060708ull);
    const void *p;
    size_t n;
    assert_int_equal(mlc_store_get(t, MLC_DB_STATE, "budget", 6, &p, &n), MLC_OK);
    assert_int_equal(n, 8);
    assert_int_equal(((const unsigned char *)p)[0], 1);
    assert_int_equal(mlc_store_get_u64(t, MLC_DB_STATE, "empty", 5, &v), MLC_ERR_DATA);
    assert_int_equal(mlc_store_get_u64(t, MLC_DB_STATE, "nope", 4, &v), MLC_ERR_NOTFOUND);
    assert_int_equal(mlc_store_commit(t), MLC_OK);

    mlc_store_close(st);
    mlc_test_rmtree(dir);
    free(dir);
}

struct seen {
    char keys[16][32];
    int n;
    int stop_after; /* 0 = never */
    int fail_with;  /* returned on the first call when nonzero */
};

static int collect(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    (void)val; (void)vlen;
    struct seen *s = ctx;
    if (s->fail_with)
        return s->fail_with;
    assert_true(s->n < 16 && klen < 32);
    memcpy(s->keys[s->n], key, klen);
    s->keys[s->n][klen] = '\0';
    s->n++;
    return s->stop_after && s->n >= s->stop_after ? 1 : 0;
}

static void each_prefix_order_and_stop(void **state)
{
    (void)state;
    char *dir = dup_tmpdir("store-each");
    struct mlc_store *st;
    struct mlc_txn *t;
    assert_int_equal(mlc_store_open(&st, dir, NULL), MLC_OK);
    const char *keys[] = { "acc1/t3", "acc1/t1", "acc2/t1", "acc1/t2", "acc10/x", "acc0", "acc1" };
    assert_int_equal(mlc_store_begin(st, 0, &t), MLC_OK);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        assert_int_equal(mlc_store_put(t, MLC_DB_TXNS, keys[i], strlen(keys[i]), "v", 1), MLC_OK);
    assert_int_equal(mlc_store_commit(t), MLC_OK);

    assert_int_equal(mlc_store_begin(st, 1, &t), MLC_OK);
    struct seen s = { .n = 0 };
    assert_int_equal(mlc_store_each(t, MLC_DB_TXNS, "acc1/", 5, collect, &s), MLC_OK);
    assert_int_equal(s.n, 3); /* not acc10/x, acc1 or acc2/... */
    assert_string_equal(s.keys[0], "acc1/t1");
    assert_string_equal(s.keys[1], "acc1/t2");
    assert_string_equal(s.keys[2], "acc1/t3");

    memset(&s, 0, sizeof(s));
    assert_int_equal(mlc_store_each(t, MLC_DB_TXNS, NULL, 0, collect, &s), MLC_OK);
    assert_int_equal(s.n, 7);
    assert_string_equal(s.keys[0], "acc0");
    assert_string_equal(s.keys[1], "acc1");
    assert_string_equal(s.keys[5], "acc10/x");
    assert_string_equal(s.keys[6], "acc2/t1");

    memset(&s, 0, sizeof(s));
    s.stop_after = 2;
    assert_int_equal(mlc_store_each(t, MLC_DB_TXNS, "acc1", 4, collect, &s), MLC_OK);
    assert_int_equal(s.n, 2);

    memset(&s, 0, sizeof(s));
    s.fail_with = MLC_ERR_DATA;
    assert_int_equal(mlc_store_each(t, MLC_DB_TXNS, "acc", 3, collect, &s), MLC_ERR_DATA);

    memset(&s, 0, sizeof(s));
    assert_int_equal(mlc_store_each(t, MLC_DB_TXNS, "zzz", 3, collect, &s), MLC_OK);
    assert_int_equal(mlc_store_each(t, MLC_DB_ITEMS, NULL, 0, collect, &s), MLC_OK);
    assert_int_equal(s.n, 0);
    /* A callback error is the caller's: the transaction is still usable. */
    assert_int_equal(mlc_store_get(t, MLC_DB_TXNS, "acc0", 4, NULL, NULL), MLC_OK);
    mlc_store_abort(t);
    mlc_store_close(st);
    mlc_test_rmtree(dir);
    free(dir);
}

static void last_is_highest_key(void **state)
{
    (void)state;
    char *dir = dup_tmpdir("store-last");
    struct mlc_store *st;
    struct mlc_txn *t;
    const void *k, *v;
    size_t kl, vl;
    assert_int_equal(mlc_store_open(&st, dir, NULL), MLC_OK);
    assert_int_equal(mlc_store_begin(st, 0, &t), MLC_OK);
    assert_int_equal(mlc_store_last(t, MLC_DB_AUDIT, &k, &kl, &v, &vl), MLC_ERR_NOTFOUND);
    /* Audit keys are big-endian sequence numbers: 300 sorts after 2 and 1. */
    const uint64_t seqs[] = { 2, 300, 1 };
    for (int i = 0; i < 3; i++) {
        unsigned char key[8];
        for (int b = 0; b < 8; b++)
            key[b] = (unsigned char)(seqs[i] >> (56 - 8 * b));
        char val[16];
        snprintf(val, sizeof(val), "rec%llu", (unsigned long long)seqs[i]);
        assert_int_equal(mlc_store_put(t, MLC_DB_AUDIT, key, 8, val, strlen(val)), MLC_OK);
    }
    assert_int_equal(mlc_store_commit(t), MLC_OK);
    assert_int_equal(mlc_store_begin(st, 1, &t), MLC_OK);
    assert_int_equal(mlc_store_last(t, MLC_DB_AUDIT, &k, &kl, &v, &vl), MLC_OK);
    assert_int_equal(kl, 8);
    assert_int_equal(((const unsigned char *)k)[6], 1);   /* 300 = 0x012c */
    assert_int_equal(((const unsigned char *)k)[7], 0x2c);
    assert_int_equal(vl, 6);
    assert_memory_equal(v, "rec300", 6);
    mlc_store_abort(t);
    mlc_store_close(st);
    mlc_test_rmtree(dir);
    free(dir);
}

/* A version-0 store as an older agent left it: the environment with only META, no version. */
static void make_version0_store(const char *dir)
{
    char sdir[800];
    snprintf(sdir, sizeof(sdir), "%s/store", dir);
    assert_int_equal(mkdir(sdir, 0700), 0);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 4), 0);
    assert_int_equal(mdb_env_open(env, sdir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", MDB_CREATE, &dbi), 0);
    MDB_val k = { 5, (void *)"other" }, v = { 2, (void *)"ok" };
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

static void migration_from_version_0(void **state)
{
    (void)state;
    char *dir = dup_tmpdir("store-mig");
    make_version0_store(dir);
    struct mlc_store *st;
    struct mlc_txn *t;
    const void *p;
    size_t n;
    assert_int_equal(mlc_store_open(&st, dir, NULL), MLC_OK);
    assert_int_equal(mlc_store_schema_version(st), MLC_STORE_SCHEMA_VERSION);
    /* The version record is on disk, 4 bytes big-endian, and META's own data survived. */
    assert_int_equal(mlc_store_begin(st, 0, &t), MLC_OK);
    assert_int_equal(mlc_store_get(t, MLC_DB_META, VKEY, VKEY_LEN, &p, &n), MLC_OK);
    assert_int_equal(n, 4);
    assert_memory_equal(p, "\0\0\0\1", 4);
    assert_int_equal(mlc_store_get(t, MLC_DB_META, "other", 5, &p, &n), MLC_OK);
    assert_memory_equal(p, "ok", 2);
    /* Every database the current schema names exists and takes writes. */
    for (int db = 0; db < MLC_DB__COUNT; db++)
        assert_int_equal(mlc_store_put(t, (enum mlc_db)db, "probe", 5, "1", 1), MLC_OK);
    assert_int_equal(mlc_store_commit(t), MLC_OK);
    struct mlc_store_report rep;
    assert_int_equal(mlc_store_check(st, &rep), MLC_OK);
    assert_true(rep.ok);
    assert_int_equal(rep.schema_version, MLC_STORE_SCHEMA_VERSION);
    mlc_store_close(st);

    /* Reopening does not migrate again or lose anything. */
    assert_int_equal(mlc_store_open(&st, dir, NULL), MLC_OK);
    assert_true(has_str(st, MLC_DB_ALERTS, "probe", "1"));
    assert_true(has_str(st, MLC_DB_META, "other", "ok"));
    mlc_store_close(st);
    mlc_test_rmtree(dir);
    free(dir);
}

/* A version-0 store with no free page at all: META holds data, the file is a compacted copy
 * (no free list) and opening it with map_size_max below its size leaves LMDB's minimum, the
 * used pages exactly. Any write then needs a page that does not exist. */
static void make_full_version0_store(const char *dir)
{
    char src[800], sdir[800];
    snprintf(src, sizeof(src), "%s/src", dir);
    snprintf(sdir, sizeof(sdir), "%s/store", dir);
    assert_int_equal(mkdir(src, 0700), 0);
    assert_int_equal(mkdir(sdir, 0700), 0);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 4), 0);
    assert_int_equal(mdb_env_set_mapsize(env, 1 << 20), 0);
    assert_int_equal(mdb_env_open(env, src, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", MDB_CREATE, &dbi), 0);
    char val[1500];
    memset(val, 'f', sizeof(val));
    for (int i = 0; i < 24; i++) {
        char key[16];
        snprintf(key, sizeof(key), "fill%05d", i);
        MDB_val k = { strlen(key), key }, v = { sizeof(val), val };
        assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    }
    assert_int_equal(mdb_txn_commit(txn), 0);
    assert_int_equal(mdb_env_copy2(env, sdir, MDB_CP_COMPACT), 0);
    mdb_env_close(env);
}

/* What the raw file holds: whether META has a version record and whether "vault" exists. */
static void peek_raw(const char *dir, int *has_version, int *has_vault)
{
    char sdir[800];
    snprintf(sdir, sizeof(sdir), "%s/store", dir);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k = { VKEY_LEN, (void *)VKEY }, v;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
    assert_int_equal(mdb_env_open(env, sdir, MDB_RDONLY, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
    *has_version = mdb_get(txn, dbi, &k, &v) == 0;
    *has_vault = mdb_dbi_open(txn, "vault", 0, &dbi) == 0;
    mdb_txn_abort(txn);
    mdb_env_close(env);
}

static void migration_is_all_or_nothing(void **state)
{
    (void)state;
    char *dir = dup_tmpdir("store-migfull");
    make_full_version0_store(dir);
    struct mlc_store *st = NULL;
    int has_version = -1, has_vault = -1;
    /* No room and no growth allowed (64 KiB is below the 24 records' size): the migration fails
     * and leaves nothing of itself. */
    struct mlc_store_opts tight = { .map_size = 64 << 10, .map_size_max = 64 << 10 };
    log_capture_start(dir);
    assert_int_equal(mlc_store_open(&st, dir, &tight), MLC_ERR_MAP_FULL);
    char *text = log_capture_end();
    assert_non_null(strstr(text, "raise store.map_size_max"));
    free(text);
    assert_null(st);
    peek_raw(dir, &has_version, &has_vault);
    assert_false(has_version);
    assert_false(has_vault);

    /* Allowed to grow, the same store migrates and keeps its data. */
    struct mlc_store_opts roomy = { .map_size = 64 << 10, .map_size_max = 1 << 20 };
    assert_int_equal(mlc_store_open(&st, dir, &roomy), MLC_OK);
    assert_int_equal(mlc_store_schema_version(st), MLC_STORE_SCHEMA_VERSION);
    struct mlc_txn *t;
    const void *p;
    size_t n;
    assert_int_equal(mlc_store_begin(st, 1, &t), MLC_OK);
    assert_int_equal(mlc_store_get(t, MLC_DB_META, "fill00023", 9, &p, &n), MLC_OK);
    assert_int_equal(n, 1500);
    mlc_store_abort(t);
    mlc_store_close(st);
    peek_raw(dir, &has_version, &has_vault);
    assert_true(has_version);
    assert_true(has_vault);
    mlc_test_rmtree(dir);
    free(dir);
}

static void newer_schema_refused(void **state)
{
    (void)state;
    char *dir = dup_tmpdir("store-newer");
    struct mlc_store *st;
    struct mlc_txn *t;
    assert_int_equal(mlc_store_open(&st, dir, NULL), MLC_OK);
    put_str(st, MLC_DB_VAULT, "s", "keep");
    const unsigned char newer[4] = { 0, 0, 0, MLC_STORE_SCHEMA_VERSION + 1 };
    assert_int_equal(mlc_store_begin(st, 0, &t), MLC_OK);
    assert_int_equal(mlc_store_put(t, MLC_DB_META, VKEY, VKEY_LEN, newer, 4), MLC_OK);
    assert_int_equal(mlc_store_commit(t), MLC_OK);
    mlc_store_close(st);

    log_capture_start(dir);
    st = (struct mlc_store *)1;
    assert_int_equal(mlc_store_open(&st, dir, NULL), MLC_ERR_SCHEMA);
    assert_null(st);
    char *text = log_capture_end();
    assert_non_null(strstr(text, "store was written by a newer agent; upgrade mlc"));
    assert_ptr_equal(strchr(text, '\n'), text + strlen(text) - 1); /* one line */
    free(text);

    /* Refusing did not touch it: the newer version is still recorded. */
    char sdir[800];
    snprintf(sdir, sizeof(sdir), "%s/store", dir);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k = { VKEY_LEN, (void *)VKEY }, v;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
    assert_int_equal(mdb_env_open(env, sdir, MDB_RDONLY, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
    assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
    assert_memory_equal(v.mv_data, newer, 4);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    mlc_test_rmtree(dir);
    free(dir);
}

static void data_without_version_refused(void **state)
{
    (void)state;
    char *dir = dup_tmpdir("store-nover");
    struct mlc_store *st;
    struct mlc_txn *t;
    assert_int_equal(mlc_store_open(&st, dir, NULL), MLC_OK);
    put_str(st, MLC_DB_VAULT, "s", "keep");
    assert_int_equal(mlc_store_begin(st, 0, &t), MLC_OK);
    assert_int_equal(mlc_store_del(t, MLC_DB_META, VKEY, VKEY_LEN), MLC_OK);
    assert_int_equal(mlc_store_commit(t), MLC_OK);
    mlc_store_close(st);
    /* Rerunning migrations over real data could mangle it: refuse instead. */
    log_capture_start(dir);
    assert_int_equal(mlc_store_open(&st, dir, NULL), MLC_ERR_STORE);
    char *text = log_capture_end();
    assert_non_null(strstr(text, "no schema version record"));
    free(text);
    mlc_test_rmtree(dir);
    free(dir);
}

static void map_full_aborts_grows_and_stops_at_max(void **state)
{
    (void)state;
    char *dir = dup_tmpdir("store-full");
    struct mlc_store *st;
    struct mlc_txn *t;
    struct mlc_store_opts opts = { .map_size = 64 << 10, .map_size_max = 256 << 10 };
    assert_int_equal(mlc_store_open(&st, dir, &opts), MLC_OK);
    put_str(st, MLC_DB_POSTINGS, "committed", "before");

    char val[1500];
    memset(val, 'x', sizeof(val));
    int n = 0, err = MLC_OK;
    assert_int_equal(mlc_store_begin(st, 0, &t), MLC_OK);
    for (n = 0; n < 1000; n++) {
        char key[16];
        snprintf(key, sizeof(key), "k%04d", n);
        err = mlc_store_put(t, MLC_DB_TXNS, key, strlen(key), val, sizeof(val));
        if (err)
            break;
    }
    assert_int_equal(err, MLC_ERR_MAP_FULL);
    assert_true(n > 0 && n < 1000);
    /* The transaction remembers it: nothing more goes in, and commit aborts. */
    assert_int_equal(mlc_store_put(t, MLC_DB_TXNS, "small", 5, "v", 1), MLC_ERR_MAP_FULL);
    assert_int_equal(mlc_store_get(t, MLC_DB_POSTINGS, "committed", 9, NULL, NULL),
                     MLC_ERR_MAP_FULL);
    /* Growing under an open transaction is refused (LMDB forbids it). */
    assert_int_equal(mlc_store_grow(st), MLC_ERR_INTERNAL);
    assert_int_equal(mlc_store_commit(t), MLC_ERR_MAP_FULL);

    /* Earlier data intact; nothing of the failed transaction. */
    assert_true(has_str(st, MLC_DB_POSTINGS, "committed", "before"));
    assert_false(has_str(st, MLC_DB_TXNS, "k0000", ""));
    struct mlc_store_report rep;
    assert_int_equal(mlc_store_check(st, &rep), MLC_OK);
    assert_true(rep.ok);
    assert_int_equal(rep.records[MLC_DB_TXNS], 0);
    assert_true(rep.map_size == 64 << 10);

    /* Grow (64 -> 128 KiB) and the same write succeeds. */
    assert_int_equal(mlc_store_grow(st), MLC_OK);
    assert_int_equal(mlc_store_begin(st, 0, &t), MLC_OK);
    for (int i = 0; i <= n; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%04d", i);
        assert_int_equal(mlc_store_put(t, MLC_DB_TXNS, key, strlen(key), val, sizeof(val)),
                         MLC_OK);
    }
    assert_int_equal(mlc_store_commit(t), MLC_OK);
    assert_int_equal(mlc_store_check(st, &rep), MLC_OK);
    assert_true(rep.ok);
    assert_int_equal(rep.records[MLC_DB_TXNS], n + 1);
    assert_true(rep.map_size == 128 << 10);
    assert_true(rep.map_used > 64 << 10 && rep.map_used <= rep.map_size);

    /* 128 -> 256 KiB, then the maximum is reached and said so. */
    assert_int_equal(mlc_store_grow(st), MLC_OK);
    log_capture_start(dir);
    assert_int_equal(mlc_store_grow(st), MLC_ERR_MAP_FULL);
    char *text = log_capture_end();
    assert_non_null(strstr(text, "the store is full (0.25 MiB); raise store.map_size_max in the "
                            "config or free disk space"));
    free(text);
    mlc_store_close(st);

    /* Growth survives a restart (within the maximum); the data too. */
    assert_int_equal(mlc_store_open(&st, dir, &opts), MLC_OK);
    assert_int_equal(mlc_store_check(st, &rep), MLC_OK);
    assert_true(rep.ok);
    assert_true(rep.map_size == 256 << 10);
    assert_int_equal(rep.records[MLC_DB_TXNS], n + 1);
    mlc_store_close(st);
    mlc_test_rmtree(dir);
    free(dir);
}

/* Many small writes in a row, as a long sync makes them: the store grows before it is full,
 * so no write is ever refused while the map may still grow. */
static void grows_ahead_of_many_small_writes(void **state)
{
    (void)state;
    const char *dir = mlc_test_tmpdir("store-ahead");
    struct mlc_store_opts opts = { .map_size = 64 << 10, .map_size_max = 4 << 20 };
    struct mlc_store *st = NULL;
    assert_int_equal(mlc_store_open(&st, dir, &opts), MLC_OK);
    char key[32], val[512];
    memset(val, 'x', sizeof(val));
    for (int i = 0; i < 2000; i++) {
        struct mlc_txn *txn = NULL;
        assert_int_equal(mlc_store_begin(st, 0, &txn), MLC_OK);
        snprintf(key, sizeof(key), "k%06d", i);
        assert_int_equal(mlc_store_put(txn, MLC_DB_TXNS, key, strlen(key), val, sizeof(val)), MLC_OK);
        assert_int_equal(mlc_store_commit(txn), MLC_OK);
    }
    struct mlc_store_report rep;
    assert_int_equal(mlc_store_check(st, &rep), MLC_OK);
    assert_int_equal(rep.records[MLC_DB_TXNS], 2000);
    assert_true(rep.map_size > (uint64_t)(64 << 10));
    assert_true(rep.map_used <= rep.map_size);
    mlc_store_close(st);
    mlc_test_rmtree(dir);
}

static void no_growth_without_max(void **state)
{
    (void)state;
    char *dir = dup_tmpdir("store-nogrow");
    struct mlc_store *st;
    struct mlc_store_opts opts = { .map_size = 64 << 10 };
    assert_int_equal(mlc_store_open(&st, dir, &opts), MLC_OK);
    log_capture_start(dir);
    assert_int_equal(mlc_store_grow(st), MLC_ERR_MAP_FULL);
    char *text = log_capture_end();
    assert_non_null(strstr(text, "the store is full (0.06 MiB)"));
    free(text);
    mlc_store_close(st);
    mlc_test_rmtree(dir);
    free(dir);
}

static void read_only_and_single_writer(void **state)
{
    (void)state;
    char *dir = dup_tmpdir("store-ro");
    struct mlc_store *st;
    struct mlc_txn *r, *w, *w2;
    assert_int_equal(mlc_store_open(&st, dir, NULL), MLC_OK);
    put_str(st, MLC_DB_STATE, "a", "1");
    assert_int_equal(mlc_store_begin(st, 1, &r), MLC_OK);
    assert_int_equal(mlc_store_put(r, MLC_DB_STATE, "b", 1, "2", 1), MLC_ERR_INTERNAL);
    assert_int_equal(mlc_store_del(r, MLC_DB_STATE, "a", 1), MLC_ERR_INTERNAL);
    assert_int_equal(mlc_store_get(r, MLC_DB_STATE, "a", 1, NULL, NULL), MLC_OK);

    /* A reader and one writer side by side; the reader keeps its snapshot. */
    assert_int_equal(mlc_store_begin(st, 0, &w), MLC_OK);
    w2 = (struct mlc_txn *)1;
    assert_int_equal(mlc_store_begin(st, 0, &w2), MLC_ERR_INTERNAL);
    assert_null(w2);
    assert_int_equal(mlc_store_put(w, MLC_DB_STATE, "b", 1, "2", 1), MLC_OK);
    assert_int_equal(mlc_store_commit(w), MLC_OK);
    assert_int_equal(mlc_store_get(r, MLC_DB_STATE, "b", 1, NULL, NULL), MLC_ERR_NOTFOUND);
    assert_int_equal(mlc_store_commit(r), MLC_OK);
    assert_true(has_str(st, MLC_DB_STATE, "a", "1"));
    assert_true(has_str(st, MLC_DB_STATE, "b", "2"));
    /* The writer slot is free again. */
    assert_int_equal(mlc_store_begin(st, 0, &w), MLC_OK);
    mlc_store_abort(w);
    mlc_store_close(st);
    mlc_test_rmtree(dir);
    free(dir);
}

static char *print_report(const char *dir, const struct mlc_store_report *rep)
{
    char path[800];
    snprintf(path, sizeof(path), "%s/report.txt", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(mlc_store_report_print(rep, f), MLC_OK);
    fclose(f);
    char *text = mlc_test_slurp(path, NULL);
    assert_non_null(text);
    return text;
}

static void check_counts_and_detects_damage(void **state)
{
    (void)state;
    char *dir = dup_tmpdir("store-check");
    struct mlc_store *st;
    struct mlc_txn *t;
    struct mlc_store_report rep;
    struct mlc_store_opts opts = { .map_size = 1 << 20, .map_size_max = 4 << 20 };
    assert_int_equal(mlc_store_open(&st, dir, &opts), MLC_OK);
    put_str(st, MLC_DB_VAULT, "a", "1");
    put_str(st, MLC_DB_VAULT, "b", "2");
    put_str(st, MLC_DB_ACCOUNTS, "x", "3");

    assert_int_equal(mlc_store_check(st, &rep), MLC_OK);
    assert_true(rep.ok);
    assert_string_equal(rep.problem, "");
    assert_int_equal(rep.schema_version, 1);
    assert_int_equal(rep.records[MLC_DB_META], 1);
    assert_int_equal(rep.records[MLC_DB_VAULT], 2);
    assert_int_equal(rep.records[MLC_DB_ACCOUNTS], 1);
    assert_int_equal(rep.records[MLC_DB_AUDIT], 0);
    assert_true(rep.map_size == 1 << 20);
    assert_true(rep.map_size_max == 4 << 20);
    assert_true(rep.map_used > 0 && rep.map_used < rep.map_size);
    assert_int_equal(rep.stale_readers_cleared, 0);
    char *text = print_report(dir, &rep);
    assert_non_null(strstr(text, "result           OK"));
    assert_non_null(strstr(text, "    vault        2\n"));
    assert_non_null(strstr(text, "of 1 MiB"));
    assert_non_null(strstr(text, "may grow to 4 MiB"));
    free(text);

    /* Garbage in the version record, written through the API. */
    assert_int_equal(mlc_store_begin(st, 0, &t), MLC_OK);
    assert_int_equal(mlc_store_put(t, MLC_DB_META, VKEY, VKEY_LEN, "xx", 2), MLC_OK);
    assert_int_equal(mlc_store_commit(t), MLC_OK);
    assert_int_equal(mlc_store_check(st, &rep), MLC_OK);
    assert_false(rep.ok);
    assert_non_null(strstr(rep.problem, "schema version record is damaged"));
    text = print_report(dir, &rep);
    assert_non_null(strstr(text, "PROBLEM: the schema version record is damaged"));
    free(text);

    /* A different version than the one opened. */
    assert_int_equal(mlc_store_begin(st, 0, &t), MLC_OK);
    assert_int_equal(mlc_store_put(t, MLC_DB_META, VKEY, VKEY_LEN, "\0\0\0\7", 4), MLC_OK);
    assert_int_equal(mlc_store_commit(t), MLC_OK);
    assert_int_equal(mlc_store_check(st, &rep), MLC_OK);
    assert_false(rep.ok);
    assert_int_equal(rep.schema_version, 7);

    /* Deleted. */
    assert_int_equal(mlc_store_begin(st, 0, &t), MLC_OK);
    assert_int_equal(mlc_store_del(t, MLC_DB_META, VKEY, VKEY_LEN), MLC_OK);
    assert_int_equal(mlc_store_commit(t), MLC_OK);
    assert_int_equal(mlc_store_check(st, &rep), MLC_OK);
    assert_false(rep.ok);
    assert_non_null(strstr(rep.problem, "schema version record is missing"));
    assert_int_equal(rep.records[MLC_DB_META], 0);
    assert_int_equal(rep.records[MLC_DB_VAULT], 2);
    mlc_store_close(st);
    mlc_test_rmtree(dir);
    free(dir);
}

/* Forks a process that opens the store (and begins a read transaction when with_reader), then
 * waits to be killed. Returns its pid once it is in place. */
static pid_t spawn_store_user(const char *dir, int with_reader)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct mlc_store *cst;
        struct mlc_txn *ct;
        if (mlc_store_open(&cst, dir, NULL) != MLC_OK)
            _exit(1);
        if (with_reader && mlc_store_begin(cst, 1, &ct) != MLC_OK)
            _exit(1);
        if (write(fds[1], "r", 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    char c = 0;
    assert_int_equal(read(fds[0], &c, 1), 1);
    assert_int_equal(c, 'r');
    close(fds[0]);
    close(fds[1]);
    return pid;
}

static void kill_store_user(pid_t pid)
{
    int status = 0;
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
}

/* A process killed inside a read transaction leaves its reader slot taken while other processes
 * keep the store open (when none do, LMDB resets the table itself). The next open clears it and
 * the check report says how many. */
static void stale_reader_cleared_at_open(void **state)
{
    (void)state;
    char *dir = dup_tmpdir("store-stale");
    struct mlc_store *st;
    assert_int_equal(mlc_store_open(&st, dir, NULL), MLC_OK);
    mlc_store_close(st);

    pid_t holder = spawn_store_user(dir, 0);   /* e.g. the running agent */
    pid_t reader = spawn_store_user(dir, 1);   /* e.g. a `mlc store check` that crashed */
    kill_store_user(reader);

    assert_int_equal(mlc_store_open(&st, dir, NULL), MLC_OK);
    struct mlc_store_report rep;
    assert_int_equal(mlc_store_check(st, &rep), MLC_OK);
    assert_int_equal(rep.stale_readers_cleared, 1);
    assert_true(rep.ok);
    char *text = print_report(dir, &rep);
    assert_non_null(strstr(text, "stale readers    1 cleared"));
    free(text);
    mlc_store_close(st);
    kill_store_user(holder);
    mlc_test_rmtree(dir);
    free(dir);
}

static void unsafe_or_damaged_store_refused(void **state)
{
    (void)state;
    char *dir = dup_tmpdir("store-bad");
    char sdir[800], data[900];
    struct mlc_store *st;
    snprintf(sdir, sizeof(sdir), "%s/store", dir);
    assert_int_equal(mkdir(sdir, 0700), 0);
    assert_int_equal(chmod(sdir, 0755), 0);
    assert_int_equal(mlc_store_open(&st, dir, NULL), MLC_ERR_PERM);
    assert_int_equal(chmod(sdir, 0700), 0);

    /* Not an LMDB file at all. */
    snprintf(data, sizeof(data), "%s/data.mdb", sdir);
    char junk[8192];
    memset(junk, 'J', sizeof(junk));
    junk[sizeof(junk) - 1] = '\0';
    mlc_test_write(data, junk);
    log_capture_start(dir);
    assert_int_equal(mlc_store_open(&st, dir, NULL), MLC_ERR_STORE);
    char *text = log_capture_end();
    assert_non_null(strstr(text, "restore it from a backup"));
    free(text);
    mlc_test_rmtree(dir);
    free(dir);
}

static void lmdb_errors_translated(void **state)
{
    (void)state;
    assert_int_equal(mlc_store_lmdb_err(0), MLC_OK);
    assert_int_equal(mlc_store_lmdb_err(MDB_NOTFOUND), MLC_ERR_NOTFOUND);
    assert_int_equal(mlc_store_lmdb_err(MDB_MAP_FULL), MLC_ERR_MAP_FULL);
    assert_int_equal(mlc_store_lmdb_err(MDB_TXN_FULL), MLC_ERR_TOO_BIG);
    assert_int_equal(mlc_store_lmdb_err(MDB_READERS_FULL), MLC_ERR_RETRY);
    assert_int_equal(mlc_store_lmdb_err(MDB_VERSION_MISMATCH), MLC_ERR_STORE);
    assert_int_equal(mlc_store_lmdb_err(MDB_INVALID), MLC_ERR_STORE);
    assert_int_equal(mlc_store_lmdb_err(MDB_CORRUPTED), MLC_ERR_STORE);
    assert_int_equal(mlc_store_lmdb_err(EACCES), MLC_ERR_PERM);
    assert_int_equal(mlc_store_lmdb_err(ENOSPC), MLC_ERR_IO);
    assert_int_equal(mlc_store_lmdb_err(EIO), MLC_ERR_IO);
    assert_int_equal(mlc_store_lmdb_err(ENOMEM), MLC_ERR_NOMEM);
}

static void clamp_map_size(void **state)
{
    (void)state;
    const uint64_t gib = 1ull << 30;
    assert_true(mlc_store_clamp_map_size_for(5 * gib, 32) == gib);
    assert_true(mlc_store_clamp_map_size_for(5 * gib, 64) == 5 * gib);
    assert_true(mlc_store_clamp_map_size_for(512ull << 20, 32) == 512ull << 20);
    assert_true(mlc_store_clamp_map_size_for(gib, 32) == gib);
    assert_true(mlc_store_clamp_map_size_for(0, 64) == MLC_STORE_MAP_MIN);
    assert_true(mlc_store_clamp_map_size_for(4096, 32) == MLC_STORE_MAP_MIN);
    uint64_t here = mlc_store_clamp_map_size(5 * gib);
    assert_true(here == (sizeof(size_t) == 4 ? gib : 5 * gib));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(open_close_reopen_persists),
        cmocka_unit_test(put_get_del_and_abort),
        cmocka_unit_test(each_prefix_order_and_stop),
        cmocka_unit_test(last_is_highest_key),
        cmocka_unit_test(migration_from_version_0),
        cmocka_unit_test(migration_is_all_or_nothing),
        cmocka_unit_test(newer_schema_refused),
        cmocka_unit_test(data_without_version_refused),
        cmocka_unit_test(map_full_aborts_grows_and_stops_at_max),
        cmocka_unit_test(grows_ahead_of_many_small_writes),
        cmocka_unit_test(no_growth_without_max),
        cmocka_unit_test(read_only_and_single_writer),
        cmocka_unit_test(check_counts_and_detects_damage),
        cmocka_unit_test(stale_reader_cleared_at_open),
        cmocka_unit_test(unsafe_or_damaged_store_refused),
        cmocka_unit_test(lmdb_errors_translated),
        cmocka_unit_test(clamp_map_size),
    };
    mlc_log_set_level(MLC_LOG_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
