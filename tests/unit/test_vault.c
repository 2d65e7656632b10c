/* The credential vault: sealed secrets open only under the right key and name, damage is caught,
 * device.key is guarded, key rotation survives a crash at any point, and values never reach the log. */
#include "mlc_test_util.h"
#include "mlc_alloc.h"
#include "mlc_cmd_secret.h"
#include "mlc_err.h"
#include "mlc_log.h"
#include "mlc_platform.h"
#include "mlc_store.h"
#include "mlc_term.h"
#include "mlc_vault.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

struct fx {
    char dir[512];
    char key_path[600];
    char new_path[600];
    struct mlc_store *st;
    struct mlc_vault *v;
};

static int64_t fake_now = 1764079200000; /* 2025-11-25T14:00:00Z */
static int64_t test_clock(void) { return fake_now; }

static void fx_reopen(struct fx *f)
{
    mlc_vault_close(f->v);
    f->v = NULL;
    assert_int_equal(mlc_vault_open(&f->v, f->st, f->dir), MLC_OK);
    mlc_vault_set_clock(f->v, test_clock);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "%s", mlc_test_tmpdir("vault"));
    snprintf(f->key_path, sizeof(f->key_path), "%s/device.key", f->dir);
    snprintf(f->new_path, sizeof(f->new_path), "%s/device.key.new", f->dir);
    assert_int_equal(mlc_vault_create_key(f->dir), MLC_OK);
    assert_int_equal(mlc_store_open(&f->st, f->dir, NULL), MLC_OK);
    fx_reopen(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    mlc_vault_close(f->v);
    mlc_store_close(f->st);
    mlc_test_rmtree(f->dir);
    free(f);
    mlc_log_secret_clear();
    return 0;
}

static void random_key(uint8_t key[MLC_VAULT_KEY_LEN])
{
    assert_int_equal(mlc_random_bytes(key, MLC_VAULT_KEY_LEN), MLC_OK);
}

static void write_key_file(const char *path, const uint8_t *key, size_t len, unsigned mode)
{
    assert_int_equal(mlc_fs_write_atomic(path, key, len, mode), MLC_OK);
}

static void read_key_file(const char *path, uint8_t key[MLC_VAULT_KEY_LEN])
{
    size_t len = 0;
    char *text = mlc_test_slurp(path, &len);
    assert_non_null(text);
    assert_int_equal(len, MLC_VAULT_KEY_LEN);
    memcpy(key, text, MLC_VAULT_KEY_LEN);
    free(text);
}

static void expect_secret(struct mlc_vault *v, const char *name, const void *want, size_t wlen)
{
    char *val = NULL;
    size_t len = 0;
    int rc = mlc_vault_get(v, name, &val, &len);
    if (rc != MLC_OK)
        fail_msg("get %s: %d %s", name, rc, mlc_vault_last_error());
    assert_int_equal(len, wlen);
    assert_memory_equal(val, want, wlen);
    assert_int_equal(val[len], '\0');
    mlc_vault_free_secret(val, len);
}

/* The sealed blob of a secret as stored (copied out of the transaction). */
static uint8_t *raw_get(struct mlc_store *st, const char *name, size_t *len)
{
    struct mlc_txn *txn = NULL;
    const void *val = NULL;
    assert_int_equal(mlc_store_begin(st, 1, &txn), MLC_OK);
    assert_int_equal(mlc_store_get(txn, MLC_DB_VAULT, name, strlen(name), &val, len), MLC_OK);
    uint8_t *copy = malloc(*len);
    assert_non_null(copy);
    memcpy(copy, val, *len);
    mlc_store_abort(txn);
    return copy;
}

static void raw_put(struct mlc_store *st, const char *name, const uint8_t *blob, size_t len)
{
    struct mlc_txn *txn = NULL;
    assert_int_equal(mlc_store_begin(st, 0, &txn), MLC_OK);
    assert_int_equal(mlc_store_put(txn, MLC_DB_VAULT, name, strlen(name), blob, len), MLC_OK);
    assert_int_equal(mlc_store_commit(txn), MLC_OK);
}

static int contains(const uint8_t *hay, size_t hlen, const void *needle, size_t nlen)
{
    for (size_t i = 0; i + nlen <= hlen; i++)
        if (memcmp(hay + i, needle, nlen) == 0)
            return 1;
    return 0;
}

/* ---- the blob layer ---- */

static void seal_round_trip_text_binary_and_8k(void **state)
{
    (void)state;
    uint8_t key[MLC_VAULT_KEY_LEN];
    random_key(key);
    uint8_t binary[256];
    for (int i = 0; i < 256; i++)
        binary[i] = (uint8_t)i;   /* NULs and high bytes included */
    uint8_t *big = malloc(MLC_VAULT_VALUE_MAX);
    assert_non_null(big);
    for (size_t i = 0; i < MLC_VAULT_VALUE_MAX; i++)
        big[i] = (uint8_t)(i * 31 + 7);
    struct { const void *p; size_t n; } cases[] = {
        { "hunter22-plaid-secret", 21 }, { binary, sizeof(binary) }, { big, MLC_VAULT_VALUE_MAX },
        { "", 0 },
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        uint8_t *blob = NULL;
        size_t blen = 0, len = 0;
        char *val = NULL;
        int64_t set_ms = 0;
        assert_int_equal(mlc_vault_seal(key, "plaid.secret", 1234567890123, cases[c].p, cases[c].n,
                                        &blob, &blen), MLC_OK);
        assert_int_equal(blen, cases[c].n + MLC_VAULT_OVERHEAD);
        if (cases[c].n >= 16)   /* the plaintext is not in the blob */
            assert_false(contains(blob, blen, cases[c].p, 16));
        assert_int_equal(mlc_vault_unseal(key, "plaid.secret", blob, blen, &val, &len, &set_ms),
                         MLC_OK);
        assert_int_equal(len, cases[c].n);
        if (len)
            assert_memory_equal(val, cases[c].p, len);
        assert_int_equal(val[len], '\0');
        assert_int_equal(set_ms, 1234567890123);
        mlc_vault_free_secret(val, len);
        mlc_free(blob);
    }
    free(big);
}

static void seal_uses_a_fresh_nonce_each_time(void **state)
{
    (void)state;
    uint8_t key[MLC_VAULT_KEY_LEN];
    uint8_t *a = NULL, *b = NULL;
    size_t alen = 0, blen = 0;
    random_key(key);
    assert_int_equal(mlc_vault_seal(key, "smtp.password", 1, "same", 4, &a, &alen), MLC_OK);
    assert_int_equal(mlc_vault_seal(key, "smtp.password", 1, "same", 4, &b, &blen), MLC_OK);
    assert_memory_not_equal(a + MLC_VAULT_HDR_LEN, b + MLC_VAULT_HDR_LEN, MLC_VAULT_NONCE_LEN);
    assert_memory_not_equal(a, b, alen);
    mlc_free(a);
    mlc_free(b);
}

static void seal_refuses_too_big_and_bad_names(void **state)
{
    (void)state;
    uint8_t key[MLC_VAULT_KEY_LEN];
    uint8_t *blob = NULL;
    size_t blen = 0;
    random_key(key);
    char *big = calloc(1, MLC_VAULT_VALUE_MAX + 1);
    assert_non_null(big);
    assert_int_equal(mlc_vault_seal(key, "x", 0, big, MLC_VAULT_VALUE_MAX + 1, &blob, &blen),
                     MLC_ERR_TOO_BIG);
    assert_null(blob);
    assert_non_null(strstr(mlc_vault_last_error(), "8192"));
    free(big);
    assert_int_equal(mlc_vault_seal(key, "Plaid.Secret", 0, "v", 1, &blob, &blen), MLC_ERR_USAGE);
    assert_null(blob);
}

/* Every byte of the blob is covered: version, set time, nonce, ciphertext and tag. */
static void seal_detects_a_flipped_byte_anywhere(void **state)
{
    (void)state;
    uint8_t key[MLC_VAULT_KEY_LEN];
    uint8_t *blob = NULL;
    size_t blen = 0;
    random_key(key);
    const char *secret = "exact-client-secret-0123456789";
    assert_int_equal(mlc_vault_seal(key, "exact.client_secret", 42, secret, strlen(secret), &blob,
                                    &blen), MLC_OK);
    for (size_t i = 0; i < blen; i++) {
        for (int bit = 0; bit < 8; bit += 7) {
            char *val = (char *)1;
            size_t len = 99;
            blob[i] ^= (uint8_t)(1u << bit);
            int rc = mlc_vault_unseal(key, "exact.client_secret", blob, blen, &val, &len, NULL);
            if (rc != MLC_ERR_TAMPER)
                fail_msg("flipping bit %d of byte %zu gave %d, not TAMPER", bit, i, rc);
            assert_null(val);
            assert_int_equal(len, 0);
            assert_non_null(strstr(mlc_vault_last_error(), "exact.client_secret"));
            blob[i] ^= (uint8_t)(1u << bit);
        }
    }
    /* Truncated or extended blobs are damage too. */
    char *val = NULL;
    size_t len = 0;
    assert_int_equal(mlc_vault_unseal(key, "exact.client_secret", blob, blen - 1, &val, &len, NULL),
                     MLC_ERR_TAMPER);
    assert_int_equal(mlc_vault_unseal(key, "exact.client_secret", blob, 10, &val, &len, NULL),
                     MLC_ERR_TAMPER);
    /* The untouched blob still opens: the loop above restored every byte. */
    assert_int_equal(mlc_vault_unseal(key, "exact.client_secret", blob, blen, &val, &len, NULL),
                     MLC_OK);
    mlc_vault_free_secret(val, len);
    mlc_free(blob);
}

static void seal_binds_name_and_key(void **state)
{
    (void)state;
    uint8_t key[MLC_VAULT_KEY_LEN], other[MLC_VAULT_KEY_LEN];
    uint8_t *blob = NULL;
    size_t blen = 0, len = 0;
    char *val = NULL;
    random_key(key);
    random_key(other);
    assert_int_equal(mlc_vault_seal(key, "plaid.secret", 7, "sk-123456", 9, &blob, &blen), MLC_OK);
    assert_int_equal(mlc_vault_unseal(key, "plaid.client_id", blob, blen, &val, &len, NULL),
                     MLC_ERR_TAMPER);
    assert_int_equal(mlc_vault_unseal(other, "plaid.secret", blob, blen, &val, &len, NULL),
                     MLC_ERR_TAMPER);
    assert_non_null(strstr(mlc_vault_last_error(), "device.key is not the key"));
    assert_null(val);
    mlc_free(blob);
}

static void names_follow_the_rule(void **state)
{
    (void)state;
    char max[MLC_VAULT_NAME_MAX + 2];
    memset(max, 'a', sizeof(max));
    max[MLC_VAULT_NAME_MAX] = '\0';
    const char *good[] = { "plaid.secret", "exact.client_id", "a", "status.access_token",
                           "plaid.access_token.item-01_x", max };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_int_equal(mlc_vault_name_check(good[i]), MLC_OK);
    max[MLC_VAULT_NAME_MAX] = 'a';
    max[MLC_VAULT_NAME_MAX + 1] = '\0';
    const char *bad[] = { "", "Plaid.secret", "has space", "../device.key", "a/b", "x\n", "é",
                          max };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(mlc_vault_name_check(bad[i]), MLC_ERR_USAGE);
        assert_non_null(strstr(mlc_vault_last_error(), "a-z, 0-9"));
    }
    assert_int_equal(mlc_vault_name_check(NULL), MLC_ERR_USAGE);
}

/* ---- device.key ---- */

static void create_key_makes_a_private_32_byte_key_once(void **state)
{
    struct fx *f = *state;
    struct stat sb;
    uint8_t before[MLC_VAULT_KEY_LEN], after[MLC_VAULT_KEY_LEN];
    assert_int_equal(stat(f->key_path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    read_key_file(f->key_path, before);
    assert_int_equal(mlc_vault_create_key(f->dir), MLC_ERR_EXISTS);
    assert_non_null(strstr(mlc_vault_last_error(), "mlc key rotate"));
    read_key_file(f->key_path, after);
    assert_memory_equal(before, after, MLC_VAULT_KEY_LEN);

    /* A second device gets a different key. */
    char other[600];
    snprintf(other, sizeof(other), "%s/other/dir", f->dir);
    assert_int_equal(mlc_vault_create_key(other), MLC_OK);
    char okp[700];
    snprintf(okp, sizeof(okp), "%s/device.key", other);
    read_key_file(okp, after);
    assert_memory_not_equal(before, after, MLC_VAULT_KEY_LEN);
}

static void open_refuses_a_key_others_can_read_or_write(void **state)
{
    struct fx *f = *state;
    struct mlc_vault *v = NULL;
    const unsigned modes[] = { 0644, 0640, 0604, 0620, 0602, 0660 };
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        assert_int_equal(chmod(f->key_path, modes[i]), 0);
        assert_int_equal(mlc_vault_open(&v, f->st, f->dir), MLC_ERR_PERM);
        assert_null(v);
        char want[700];
        snprintf(want, sizeof(want), "chmod 600 %s", f->key_path);
        assert_non_null(strstr(mlc_vault_last_error(), want));
    }
    assert_int_equal(chmod(f->key_path, 0400), 0);
    assert_int_equal(mlc_vault_open(&v, f->st, f->dir), MLC_OK);
    mlc_vault_close(v);
}

static void open_without_key_says_run_init(void **state)
{
    struct fx *f = *state;
    struct mlc_vault *v = NULL;
    assert_int_equal(unlink(f->key_path), 0);
    assert_int_equal(mlc_vault_open(&v, f->st, f->dir), MLC_ERR_NOTFOUND);
    assert_null(v);
    assert_non_null(strstr(mlc_vault_last_error(), "run 'mlc init' first"));
    assert_non_null(strstr(mlc_vault_last_error(), f->key_path));
}

static void open_refuses_a_damaged_key(void **state)
{
    struct fx *f = *state;
    struct mlc_vault *v = NULL;
    write_key_file(f->key_path, (const uint8_t *)"short", 5, 0600);
    assert_int_equal(mlc_vault_open(&v, f->st, f->dir), MLC_ERR_DATA);
    assert_non_null(strstr(mlc_vault_last_error(), "damaged"));
}

static void open_with_another_key_is_tamper(void **state)
{
    struct fx *f = *state;
    struct mlc_vault *v = NULL;
    uint8_t other[MLC_VAULT_KEY_LEN];
    assert_int_equal(mlc_vault_set(f->v, "plaid.secret", "sk-abc-123", 10), MLC_OK);
    random_key(other);
    write_key_file(f->key_path, other, sizeof(other), 0600);
    assert_int_equal(mlc_vault_open(&v, f->st, f->dir), MLC_ERR_TAMPER);
    assert_null(v);
    assert_non_null(strstr(mlc_vault_last_error(), "not the key the stored secrets were sealed"));
}

/* ---- secrets in the store ---- */

static void set_get_round_trip_in_store(void **state)
{
    struct fx *f = *state;
    uint8_t binary[300];
    for (size_t i = 0; i < sizeof(binary); i++)
        binary[i] = (uint8_t)(255 - i);
    char *big = malloc(MLC_VAULT_VALUE_MAX);
    assert_non_null(big);
    memset(big, 'k', MLC_VAULT_VALUE_MAX);
    assert_int_equal(mlc_vault_set(f->v, "plaid.secret", "sk-sandbox-1", 12), MLC_OK);
    assert_int_equal(mlc_vault_set(f->v, "smtp.password", binary, sizeof(binary)), MLC_OK);
    assert_int_equal(mlc_vault_set(f->v, "exact.client_secret", big, MLC_VAULT_VALUE_MAX), MLC_OK);
    assert_int_equal(mlc_vault_set(f->v, "too.big", big, 0), MLC_OK);
    free(big);
    big = calloc(1, MLC_VAULT_VALUE_MAX + 1);
    assert_non_null(big);
    assert_int_equal(mlc_vault_set(f->v, "too.big", big, MLC_VAULT_VALUE_MAX + 1), MLC_ERR_TOO_BIG);
    assert_int_equal(mlc_vault_set(f->v, "Bad Name", "x", 1), MLC_ERR_USAGE);
    /* Survives closing and reopening everything. */
    mlc_vault_close(f->v);
    f->v = NULL;
    mlc_store_close(f->st);
    assert_int_equal(mlc_store_open(&f->st, f->dir, NULL), MLC_OK);
    fx_reopen(f);
    expect_secret(f->v, "plaid.secret", "sk-sandbox-1", 12);
    expect_secret(f->v, "smtp.password", binary, sizeof(binary));
    memset(big, 'k', MLC_VAULT_VALUE_MAX);
    expect_secret(f->v, "exact.client_secret", big, MLC_VAULT_VALUE_MAX);
    expect_secret(f->v, "too.big", "", 0);   /* the refused 8193-byte value did not replace it */
    free(big);
    /* Setting again replaces the value. */
    assert_int_equal(mlc_vault_set(f->v, "plaid.secret", "sk-production-2", 15), MLC_OK);
    expect_secret(f->v, "plaid.secret", "sk-production-2", 15);

    char *val = (char *)1;
    size_t len = 1;
    assert_int_equal(mlc_vault_get(f->v, "plaid.client_id", &val, &len), MLC_ERR_NOTFOUND);
    assert_null(val);
    assert_non_null(strstr(mlc_vault_last_error(), "mlc secret set plaid.client_id"));
}

static void flipped_byte_in_store_is_tamper(void **state)
{
    struct fx *f = *state;
    const char *regions[] = { "version", "set time", "nonce", "ciphertext", "tag" };
    const size_t offsets[] = { 0, 5, MLC_VAULT_HDR_LEN + 3, MLC_VAULT_HDR_LEN + MLC_VAULT_NONCE_LEN + 2,
                               0 /* tag: set below */ };
    assert_int_equal(mlc_vault_set(f->v, "exact.webhook_secret", "whsec-0123456789", 16), MLC_OK);
    size_t blen = 0;
    uint8_t *orig = raw_get(f->st, "exact.webhook_secret", &blen);
    for (size_t r = 0; r < 5; r++) {
        size_t off = r == 4 ? blen - 1 : offsets[r];
        uint8_t *b = malloc(blen);
        assert_non_null(b);
        memcpy(b, orig, blen);
        b[off] ^= 0x01;
        raw_put(f->st, "exact.webhook_secret", b, blen);
        free(b);
        char *val = NULL;
        size_t len = 0;
        int rc = mlc_vault_get(f->v, "exact.webhook_secret", &val, &len);
        if (rc != MLC_ERR_TAMPER)
            fail_msg("flipped %s byte gave %d", regions[r], rc);
        assert_null(val);
        assert_non_null(strstr(mlc_vault_last_error(), "secret exact.webhook_secret could not be opened"));
    }
    raw_put(f->st, "exact.webhook_secret", orig, blen);
    expect_secret(f->v, "exact.webhook_secret", "whsec-0123456789", 16);
    free(orig);
}

static void blob_moved_to_another_name_does_not_open(void **state)
{
    struct fx *f = *state;
    size_t blen = 0;
    assert_int_equal(mlc_vault_set(f->v, "smtp.password", "mail-pass-1", 11), MLC_OK);
    uint8_t *b = raw_get(f->st, "smtp.password", &blen);
    raw_put(f->st, "status.access_token", b, blen);
    free(b);
    char *val = NULL;
    size_t len = 0;
    assert_int_equal(mlc_vault_get(f->v, "status.access_token", &val, &len), MLC_ERR_TAMPER);
    assert_null(val);
    expect_secret(f->v, "smtp.password", "mail-pass-1", 11);
}

static void set_txn_commits_or_aborts_with_the_callers_transaction(void **state)
{
    struct fx *f = *state;
    struct mlc_txn *txn = NULL;
    char *val = NULL;
    size_t len = 0;
    assert_int_equal(mlc_vault_set(f->v, "exact.refresh_token", "rt-old-000", 10), MLC_OK);
    /* Aborted: the old token stays. */
    assert_int_equal(mlc_store_begin(f->st, 0, &txn), MLC_OK);
    assert_int_equal(mlc_vault_set_txn(f->v, txn, "exact.refresh_token", "rt-new-111", 10), MLC_OK);
    assert_int_equal(mlc_vault_get_txn(f->v, txn, "exact.refresh_token", &val, &len), MLC_OK);
    assert_memory_equal(val, "rt-new-111", 10);   /* the transaction sees its own write */
    mlc_vault_free_secret(val, len);
    mlc_store_abort(txn);
    expect_secret(f->v, "exact.refresh_token", "rt-old-000", 10);
    /* Committed together with a state change: both are there. */
    assert_int_equal(mlc_store_begin(f->st, 0, &txn), MLC_OK);
    assert_int_equal(mlc_vault_set_txn(f->v, txn, "exact.refresh_token", "rt-new-111", 10), MLC_OK);
    assert_int_equal(mlc_store_put(txn, MLC_DB_STATE, "exact.token_gen", 15, "2", 1), MLC_OK);
    assert_int_equal(mlc_vault_delete_txn(f->v, txn, "exact.access_token"), MLC_ERR_NOTFOUND);
    assert_int_equal(mlc_store_commit(txn), MLC_OK);
    expect_secret(f->v, "exact.refresh_token", "rt-new-111", 10);
}

struct seen {
    char names[8][MLC_VAULT_NAME_MAX + 1];
    int64_t times[8];
    int n;
    int stop_after;
};

static int collect(void *ctx, const char *name, int64_t set_ms)
{
    struct seen *s = ctx;
    snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
    s->times[s->n++] = set_ms;
    return s->n == s->stop_after ? 1 : 0;
}

static void list_shows_names_and_set_times_in_order(void **state)
{
    struct fx *f = *state;
    struct seen s = { .stop_after = 0 };
    fake_now = 1764079200000;
    assert_int_equal(mlc_vault_set(f->v, "smtp.password", "p-one-1", 7), MLC_OK);
    fake_now += 60000;
    assert_int_equal(mlc_vault_set(f->v, "exact.client_id", "cid-1234", 8), MLC_OK);
    fake_now += 60000;
    assert_int_equal(mlc_vault_set(f->v, "plaid.secret", "sk-5678", 7), MLC_OK);
    assert_int_equal(mlc_vault_list(f->v, collect, &s), MLC_OK);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.names[0], "exact.client_id");
    assert_int_equal(s.times[0], 1764079260000);
    assert_string_equal(s.names[1], "plaid.secret");
    assert_int_equal(s.times[1], 1764079320000);
    assert_string_equal(s.names[2], "smtp.password");
    assert_int_equal(s.times[2], 1764079200000);

    /* Stopping early, and deleting. */
    struct seen s2 = { .stop_after = 1 };
    assert_int_equal(mlc_vault_list(f->v, collect, &s2), MLC_OK);
    assert_int_equal(s2.n, 1);
    assert_int_equal(mlc_vault_delete(f->v, "plaid.secret"), MLC_OK);
    assert_int_equal(mlc_vault_delete(f->v, "plaid.secret"), MLC_ERR_NOTFOUND);
    assert_non_null(strstr(mlc_vault_last_error(), "no secret named plaid.secret"));
    struct seen s3 = { .stop_after = 0 };
    assert_int_equal(mlc_vault_list(f->v, collect, &s3), MLC_OK);
    assert_int_equal(s3.n, 2);
    assert_string_equal(s3.names[1], "smtp.password");
}

/* ---- log redaction ---- */

static char *log_path_for(const struct fx *f, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/log.txt", f->dir);
    return buf;
}

static void a_value_read_from_the_vault_never_reaches_the_log(void **state)
{
    struct fx *f = *state;
    const char *secret = "zq9-TOPSECRET-4471";
    char path[700];
    mlc_log_secret_clear();
    assert_int_equal(mlc_vault_set(f->v, "plaid.secret", secret, strlen(secret)), MLC_OK);
    FILE *sink = fopen(log_path_for(f, path, sizeof(path)), "w+");
    assert_non_null(sink);
    mlc_log_set_sink(sink);
    /* Not yet read from the vault: nothing knows it is secret (shows the test can fail). */
    MLC_LOG_INF("test", "before get value=%s", secret);
    char *val = NULL;
    size_t len = 0;
    assert_int_equal(mlc_vault_get(f->v, "plaid.secret", &val, &len), MLC_OK);
    MLC_LOG_INF("test", "after get value=%s tail", val);
    MLC_LOG_ERR("test", "an answer body {\"x\":\"%s\"}", val);
    mlc_vault_free_secret(val, len);
    mlc_log_set_sink(NULL);
    fclose(sink);
    char *text = mlc_test_slurp(path, NULL);
    assert_non_null(text);
    char *after = strstr(text, "after get");
    assert_non_null(after);
    assert_non_null(strstr(text, "before get value=zq9-TOPSECRET-4471"));
    assert_null(strstr(after, "TOPSECRET"));
    assert_non_null(strstr(after, "value=[REDACTED] tail"));
    assert_non_null(strstr(after, "{\"x\":\"[REDACTED]\"}"));
    free(text);
}

/* ---- key rotation ---- */

struct three {
    const char *name;
    const char *val;
};
static const struct three secrets3[] = {
    { "plaid.secret", "sk-plaid-aaaa-1111" },
    { "exact.client_secret", "exact-cs-bbbb-2222" },
    { "smtp.password", "smtp-cccc-3333" },
};

static void set_three(struct fx *f)
{
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(mlc_vault_set(f->v, secrets3[i].name, secrets3[i].val,
                                       strlen(secrets3[i].val)), MLC_OK);
}

static void expect_three(struct fx *f)
{
    for (size_t i = 0; i < 3; i++)
        expect_secret(f->v, secrets3[i].name, secrets3[i].val, strlen(secrets3[i].val));
}

static void rotate_reseals_everything_under_a_new_key(void **state)
{
    struct fx *f = *state;
    uint8_t k0[MLC_VAULT_KEY_LEN], k1[MLC_VAULT_KEY_LEN];
    struct seen before = { 0 }, after = { 0 };
    size_t n = 0, blen = 0, len = 0;
    char *val = NULL;

    set_three(f);
    assert_int_equal(mlc_vault_list(f->v, collect, &before), MLC_OK);
    read_key_file(f->key_path, k0);
    fake_now += 3600000;   /* rotation must not change when a secret was set */
    assert_int_equal(mlc_vault_rotate_key(f->v, &n), MLC_OK);
    assert_int_equal(n, 3);
    read_key_file(f->key_path, k1);
    assert_memory_not_equal(k0, k1, MLC_VAULT_KEY_LEN);
    assert_int_equal(mlc_fs_exists(f->new_path), 0);
    struct stat sb;
    assert_int_equal(stat(f->key_path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);

    expect_three(f);            /* the open vault uses the new key */
    fx_reopen(f);               /* and so does a fresh start */
    expect_three(f);
    assert_int_equal(mlc_vault_list(f->v, collect, &after), MLC_OK);
    assert_int_equal(after.n, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(before.times[i], after.times[i]);

    /* The old key opens none of them any more. */
    for (size_t i = 0; i < 3; i++) {
        uint8_t *b = raw_get(f->st, secrets3[i].name, &blen);
        assert_int_equal(mlc_vault_unseal(k0, secrets3[i].name, b, blen, &val, &len, NULL),
                         MLC_ERR_TAMPER);
        assert_int_equal(mlc_vault_unseal(k1, secrets3[i].name, b, blen, &val, &len, NULL), MLC_OK);
        mlc_vault_free_secret(val, len);
        free(b);
    }
    /* An old backup of device.key is refused at start. */
    struct mlc_vault *v = NULL;
    write_key_file(f->key_path, k0, sizeof(k0), 0600);
    assert_int_equal(mlc_vault_open(&v, f->st, f->dir), MLC_ERR_TAMPER);
}

static void rotate_stops_on_a_damaged_secret_and_keeps_the_old_key(void **state)
{
    struct fx *f = *state;
    uint8_t k0[MLC_VAULT_KEY_LEN], k_now[MLC_VAULT_KEY_LEN];
    size_t blen = 0, n = 99;
    set_three(f);
    read_key_file(f->key_path, k0);
    uint8_t *b = raw_get(f->st, "smtp.password", &blen);
    b[blen - 1] ^= 0x80;
    raw_put(f->st, "smtp.password", b, blen);
    free(b);
    assert_int_equal(mlc_vault_rotate_key(f->v, &n), MLC_ERR_TAMPER);
    assert_int_equal(n, 0);
    assert_non_null(strstr(mlc_vault_last_error(), "smtp.password"));
    assert_non_null(strstr(mlc_vault_last_error(), "not rotated"));
    read_key_file(f->key_path, k_now);
    assert_memory_equal(k0, k_now, MLC_VAULT_KEY_LEN);
    assert_int_equal(mlc_fs_exists(f->new_path), 0);
    fx_reopen(f);
    expect_secret(f->v, "plaid.secret", secrets3[0].val, strlen(secrets3[0].val));
}

/* Crash after device.key.new was written, before the transaction committed: roll back. */
static void crash_before_commit_keeps_the_old_key(void **state)
{
    struct fx *f = *state;
    uint8_t k0[MLC_VAULT_KEY_LEN], k_new[MLC_VAULT_KEY_LEN], k_now[MLC_VAULT_KEY_LEN];
    set_three(f);
    read_key_file(f->key_path, k0);
    random_key(k_new);
    write_key_file(f->new_path, k_new, sizeof(k_new), 0600);
    fx_reopen(f);
    expect_three(f);
    read_key_file(f->key_path, k_now);
    assert_memory_equal(k0, k_now, MLC_VAULT_KEY_LEN);
    assert_int_equal(mlc_fs_exists(f->new_path), 0);
    /* A half-made (short) device.key.new is rolled back the same way. */
    write_key_file(f->new_path, (const uint8_t *)"xx", 2, 0600);
    fx_reopen(f);
    expect_three(f);
    assert_int_equal(mlc_fs_exists(f->new_path), 0);
}

/* Crash after the commit, before device.key was replaced: finish the rotation. */
static void crash_after_commit_finishes_the_rotation(void **state)
{
    struct fx *f = *state;
    uint8_t k0[MLC_VAULT_KEY_LEN], k1[MLC_VAULT_KEY_LEN], k_now[MLC_VAULT_KEY_LEN];
    set_three(f);
    read_key_file(f->key_path, k0);
    assert_int_equal(mlc_vault_rotate_key(f->v, NULL), MLC_OK);
    read_key_file(f->key_path, k1);
    /* The files as they were between the commit and the replace of device.key. */
    write_key_file(f->key_path, k0, sizeof(k0), 0600);
    write_key_file(f->new_path, k1, sizeof(k1), 0600);
    fx_reopen(f);
    expect_three(f);
    read_key_file(f->key_path, k_now);
    assert_memory_equal(k1, k_now, MLC_VAULT_KEY_LEN);
    assert_int_equal(mlc_fs_exists(f->new_path), 0);
    /* Same, with device.key already gone (only device.key.new left). */
    assert_int_equal(unlink(f->key_path), 0);
    write_key_file(f->new_path, k1, sizeof(k1), 0600);
    fx_reopen(f);
    expect_three(f);
    read_key_file(f->key_path, k_now);
    assert_memory_equal(k1, k_now, MLC_VAULT_KEY_LEN);
    assert_int_equal(mlc_fs_exists(f->new_path), 0);
}

/* Crash after device.key was replaced, before device.key.new was removed: just tidy up. */
static void crash_after_replace_removes_the_leftover(void **state)
{
    struct fx *f = *state;
    uint8_t k1[MLC_VAULT_KEY_LEN];
    set_three(f);
    assert_int_equal(mlc_vault_rotate_key(f->v, NULL), MLC_OK);
    read_key_file(f->key_path, k1);
    write_key_file(f->new_path, k1, sizeof(k1), 0600);
    fx_reopen(f);
    expect_three(f);
    assert_int_equal(mlc_fs_exists(f->new_path), 0);
}

/* The running agent keeps working when `mlc key rotate` runs beside it: it picks up the new key
 * instead of sealing with one the store no longer uses. */
static void a_vault_opened_before_a_rotation_follows_it(void **state)
{
    struct fx *f = *state;
    struct mlc_vault *agent = NULL;
    size_t n = 0;
    set_three(f);
    assert_int_equal(mlc_vault_open(&agent, f->st, f->dir), MLC_OK);
    assert_int_equal(mlc_vault_rotate_key(f->v, &n), MLC_OK);
    assert_int_equal(n, 3);
    expect_secret(agent, "plaid.secret", secrets3[0].val, strlen(secrets3[0].val));
    assert_int_equal(mlc_vault_set(agent, "exact.refresh_token", "rt-after-rotate", 15), MLC_OK);
    expect_secret(f->v, "exact.refresh_token", "rt-after-rotate", 15);
    /* A rotation from the stale side works too, and everyone follows again. */
    assert_int_equal(mlc_vault_rotate_key(f->v, NULL), MLC_OK);
    assert_int_equal(mlc_vault_rotate_key(agent, &n), MLC_OK);
    assert_int_equal(n, 4);
    expect_secret(f->v, "exact.refresh_token", "rt-after-rotate", 15);
    mlc_vault_close(agent);
    fx_reopen(f);
    expect_three(f);
    expect_secret(f->v, "exact.refresh_token", "rt-after-rotate", 15);
    assert_int_equal(mlc_fs_exists(f->new_path), 0);
}

/* A device.key.new that matches nothing, next to a wrong device.key, is not guessed at. */
static void crash_state_with_unknown_keys_is_refused(void **state)
{
    struct fx *f = *state;
    struct mlc_vault *v = NULL;
    uint8_t a[MLC_VAULT_KEY_LEN], b[MLC_VAULT_KEY_LEN];
    set_three(f);
    random_key(a);
    random_key(b);
    write_key_file(f->key_path, a, sizeof(a), 0600);
    write_key_file(f->new_path, b, sizeof(b), 0600);
    assert_int_equal(mlc_vault_open(&v, f->st, f->dir), MLC_ERR_TAMPER);
    assert_int_equal(mlc_fs_exists(f->new_path), 1);   /* evidence kept */
    /* And an unsafe device.key.new is refused like device.key. */
    assert_int_equal(chmod(f->new_path, 0644), 0);
    assert_int_equal(mlc_vault_open(&v, f->st, f->dir), MLC_ERR_PERM);
    assert_non_null(strstr(mlc_vault_last_error(), "device.key.new"));
}

/* ---- reading a secret from stdin ---- */

static int pipe_with(const char *data, size_t len)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(write(fds[1], data, len), (ssize_t)len);
    close(fds[1]);
    return fds[0];
}

static void term_reads_piped_value_and_strips_one_line_end(void **state)
{
    (void)state;
    struct { const char *in; const char *out; } cases[] = {
        { "s3cret\n", "s3cret" }, { "s3cret\r\n", "s3cret" }, { "s3cret", "s3cret" },
        { "two\nlines\n\n", "two\nlines\n" }, { "\n", "" }, { "", "" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[32];
        size_t len = 99;
        int fd = pipe_with(cases[i].in, strlen(cases[i].in));
        assert_int_equal(mlc_term_read_secret(fd, "prompt: ", buf, sizeof(buf), &len), MLC_OK);
        close(fd);
        assert_int_equal(len, strlen(cases[i].out));
        assert_string_equal(buf, cases[i].out);
    }
    /* Bounded: 7 bytes fit a buffer of 8; 8 do not. */
    char buf[8];
    size_t len = 0;
    int fd = pipe_with("1234567", 7);
    assert_int_equal(mlc_term_read_secret(fd, NULL, buf, sizeof(buf), &len), MLC_OK);
    close(fd);
    assert_int_equal(len, 7);
    fd = pipe_with("12345678", 8);
    assert_int_equal(mlc_term_read_secret(fd, NULL, buf, sizeof(buf), &len), MLC_ERR_TOO_BIG);
    close(fd);
    assert_int_equal(len, 0);
}

struct pty {
    int master, slave;
};

/* Types a line at the terminal once the reader has turned echo off, as a person would. */
static void *typist(void *arg)
{
    struct pty *p = arg;
    for (int i = 0; i < 5000; i++) {
        struct termios t;
        if (tcgetattr(p->slave, &t) == 0 && !(t.c_lflag & ECHO))
            break;
        usleep(1000);   /* synchronisation with the reader thread, not a time rule */
    }
    if (write(p->master, "typed-secret\n", 13) != 13)
        return (void *)1;
    return NULL;
}

static void term_does_not_echo_a_typed_secret(void **state)
{
    (void)state;
    struct pty p;
    struct termios t;
    pthread_t th;
    char buf[64], echoed[256];
    size_t len = 0;
    void *res = (void *)1;

    p.master = posix_openpt(O_RDWR | O_NOCTTY);
    if (p.master < 0)
        skip();   /* no pseudo-terminals in this sandbox */
    assert_int_equal(grantpt(p.master), 0);
    assert_int_equal(unlockpt(p.master), 0);
    p.slave = open(ptsname(p.master), O_RDWR | O_NOCTTY);
    assert_true(p.slave >= 0);
    assert_true(mlc_term_is_tty(p.slave));
    assert_int_equal(pthread_create(&th, NULL, typist, &p), 0);
    assert_int_equal(mlc_term_read_secret(p.slave, NULL, buf, sizeof(buf), &len), MLC_OK);
    assert_int_equal(pthread_join(th, &res), 0);
    assert_null(res);
    assert_string_equal(buf, "typed-secret");
    /* Echo is back on afterwards ... */
    assert_int_equal(tcgetattr(p.slave, &t), 0);
    assert_true(t.c_lflag & ECHO);
    /* ... and the terminal never showed what was typed. */
    assert_int_equal(fcntl(p.master, F_SETFL, O_NONBLOCK), 0);
    ssize_t n = read(p.master, echoed, sizeof(echoed) - 1);
    echoed[n > 0 ? n : 0] = '\0';
    assert_null(strstr(echoed, "typed-secret"));
    close(p.slave);
    close(p.master);
}

/* ---- the commands ---- */

/* Runs a command with stdin from text and stdout captured; returns its exit code. */
static int run_cmd(int (*cmd)(const char *, int, char **), const char *dir, const char *input,
                   char **out, int argc, ...)
{
    char *argv[4] = { 0 };
    va_list ap;
    va_start(ap, argc);
    for (int i = 0; i < argc && i < 4; i++)
        argv[i] = va_arg(ap, char *);
    va_end(ap);
    char in_path[700], out_path[700];
    snprintf(in_path, sizeof(in_path), "%s/stdin.txt", dir);
    snprintf(out_path, sizeof(out_path), "%s/stdout.txt", dir);
    mlc_test_write(in_path, input ? input : "");
    fflush(stdout);
    int saved_in = dup(0), saved_out = dup(1);
    int in = open(in_path, O_RDONLY), o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(in >= 0 && o >= 0 && saved_in >= 0 && saved_out >= 0);
    dup2(in, 0);
    dup2(o, 1);
    close(in);
    close(o);
    int rc = cmd(dir, argc, argv);
    fflush(stdout);
    dup2(saved_in, 0);
    dup2(saved_out, 1);
    close(saved_in);
    close(saved_out);
    *out = mlc_test_slurp(out_path, NULL);
    assert_non_null(*out);
    return rc;
}

static void commands_set_list_delete_rotate(void **state)
{
    struct fx *f = *state;
    char *out = NULL;
    /* The commands open their own store: release the fixture's. */
    mlc_vault_close(f->v);
    f->v = NULL;
    mlc_store_close(f->st);
    f->st = NULL;

    assert_int_equal(run_cmd(mlc_cmd_secret_set, f->dir, "sk-cmd-value-9\n", &out, 2, "set",
                             "plaid.secret"), MLC_EXIT_OK);
    assert_null(strstr(out, "sk-cmd-value-9"));
    free(out);
    assert_int_equal(run_cmd(mlc_cmd_secret_set, f->dir, "\n", &out, 2, "set", "smtp.password"),
                     MLC_EXIT_DATAERR);
    free(out);
    assert_int_equal(run_cmd(mlc_cmd_secret_set, f->dir, "x\n", &out, 3, "set", "smtp.password",
                             "value-on-cmdline"), MLC_EXIT_USAGE);
    free(out);
    assert_int_equal(run_cmd(mlc_cmd_secret_set, f->dir, "x\n", &out, 2, "set", "Bad/Name"),
                     MLC_EXIT_USAGE);
    free(out);
    assert_int_equal(run_cmd(mlc_cmd_secret_set, f->dir, "x\n", &out, 1, "set"), MLC_EXIT_USAGE);
    free(out);

    assert_int_equal(run_cmd(mlc_cmd_secret_list, f->dir, NULL, &out, 1, "list"), MLC_EXIT_OK);
    assert_non_null(strstr(out, "plaid.secret"));
    assert_null(strstr(out, "smtp.password"));   /* the empty value was refused */
    assert_null(strstr(out, "sk-cmd-value"));
    free(out);

    assert_int_equal(run_cmd(mlc_cmd_key_rotate, f->dir, NULL, &out, 1, "rotate"), MLC_EXIT_OK);
    assert_non_null(strstr(out, "1 secret resealed"));
    free(out);

    assert_int_equal(mlc_store_open(&f->st, f->dir, NULL), MLC_OK);
    fx_reopen(f);
    expect_secret(f->v, "plaid.secret", "sk-cmd-value-9", 14);   /* newline stripped */
    mlc_vault_close(f->v);
    f->v = NULL;
    mlc_store_close(f->st);
    f->st = NULL;

    assert_int_equal(run_cmd(mlc_cmd_secret_delete, f->dir, NULL, &out, 2, "delete",
                             "plaid.secret"), MLC_EXIT_OK);
    free(out);
    assert_int_equal(run_cmd(mlc_cmd_secret_delete, f->dir, NULL, &out, 2, "delete",
                             "plaid.secret"), MLC_EXIT_DATAERR);
    free(out);
    assert_int_equal(run_cmd(mlc_cmd_secret_list, f->dir, NULL, &out, 1, "list"), MLC_EXIT_OK);
    assert_non_null(strstr(out, "no secrets stored yet"));
    free(out);

    /* Unsafe key permissions stop every command with "no permission". */
    assert_int_equal(chmod(f->key_path, 0644), 0);
    assert_int_equal(run_cmd(mlc_cmd_secret_list, f->dir, NULL, &out, 1, "list"), MLC_EXIT_NOPERM);
    free(out);

    /* No key: nothing is created in the wrong directory. */
    char empty[700];
    snprintf(empty, sizeof(empty), "%s/not-initialised", f->dir);
    assert_int_equal(mkdir(empty, 0700), 0);
    assert_int_equal(run_cmd(mlc_cmd_secret_list, empty, NULL, &out, 1, "list"), MLC_EXIT_DATAERR);
    free(out);
    char store_path[800];
    snprintf(store_path, sizeof(store_path), "%s/store", empty);
    assert_int_equal(mlc_fs_exists(store_path), 0);

    /* The help names the well-known secrets. */
    assert_non_null(strstr(mlc_cmd_secret_set_usage, "exact.webhook_secret"));
    assert_non_null(strstr(mlc_cmd_secret_set_usage, "status.access_token"));
}

/* ---- allocation failures (curl's torture idea): every failure is clean, nothing leaks ---- */

static void every_allocation_failure_is_clean(void **state)
{
    struct fx *f = *state;
    set_three(f);
    size_t base = mlc_alloc_current();
    int all_ok = 0;
    for (long n = 1; n < 1000 && !all_ok; n++) {
        char *val = NULL;
        size_t len = 0;
        mlc_alloc_fail_after(n);
        int rc = mlc_vault_get(f->v, "plaid.secret", &val, &len);
        all_ok = rc == MLC_OK;
        if (rc == MLC_OK) {
            mlc_vault_free_secret(val, len);
            mlc_log_secret_clear();
        } else {
            assert_int_equal(rc, MLC_ERR_NOMEM);
            assert_null(val);
        }
        mlc_alloc_fail_after(n);
        rc = mlc_vault_set(f->v, "smtp.password", "smtp-cccc-3333", 14);
        assert_true(rc == MLC_OK || rc == MLC_ERR_NOMEM || rc == MLC_ERR_STORE);
        all_ok = all_ok && rc == MLC_OK;
        mlc_alloc_fail_after(n);
        rc = mlc_vault_rotate_key(f->v, NULL);
        assert_true(rc == MLC_OK || rc == MLC_ERR_NOMEM || rc == MLC_ERR_STORE);
        all_ok = all_ok && rc == MLC_OK;
        mlc_alloc_fail_after(0);
        mlc_log_secret_clear();
        assert_int_equal(mlc_alloc_current(), base);
    }
    mlc_alloc_fail_after(0);
    assert_true(all_ok);
    assert_int_equal(mlc_fs_exists(f->new_path), 0);
    fx_reopen(f);
    expect_three(f);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(seal_round_trip_text_binary_and_8k),
        cmocka_unit_test(seal_uses_a_fresh_nonce_each_time),
        cmocka_unit_test(seal_refuses_too_big_and_bad_names),
        cmocka_unit_test(seal_detects_a_flipped_byte_anywhere),
        cmocka_unit_test(seal_binds_name_and_key),
        cmocka_unit_test(names_follow_the_rule),
        cmocka_unit_test(term_reads_piped_value_and_strips_one_line_end),
        cmocka_unit_test(term_does_not_echo_a_typed_secret),
        T(create_key_makes_a_private_32_byte_key_once),
        T(open_refuses_a_key_others_can_read_or_write),
        T(open_without_key_says_run_init),
        T(open_refuses_a_damaged_key),
        T(open_with_another_key_is_tamper),
        T(set_get_round_trip_in_store),
        T(flipped_byte_in_store_is_tamper),
        T(blob_moved_to_another_name_does_not_open),
        T(set_txn_commits_or_aborts_with_the_callers_transaction),
        T(list_shows_names_and_set_times_in_order),
        T(a_value_read_from_the_vault_never_reaches_the_log),
        T(rotate_reseals_everything_under_a_new_key),
        T(rotate_stops_on_a_damaged_secret_and_keeps_the_old_key),
        T(crash_before_commit_keeps_the_old_key),
        T(crash_after_commit_finishes_the_rotation),
        T(crash_after_replace_removes_the_leftover),
        T(crash_state_with_unknown_keys_is_refused),
        T(a_vault_opened_before_a_rotation_follows_it),
        T(commands_set_list_delete_rotate),
        T(every_allocation_failure_is_clean),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
