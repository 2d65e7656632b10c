#include "mlc_vault.h"
#include "mlc_alloc.h"
#include "mlc_err.h"
#include "mlc_log.h"
#include "mlc_platform.h"
#include "mlc_store.h"

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/gcm.h>
#include <mbedtls/sha256.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MOD "vault"
#define PATH_CAP 4096
#define NEW_SUFFIX ".new"
/* How often a write transaction is redone after growing a full map before giving up. */
#define MAX_GROW_RETRIES 8
#define TAMPER_WHY "it was tampered with, or device.key is not the key it was sealed with"

struct mlc_vault {
    struct mlc_store *st;
    uint8_t key[MLC_VAULT_KEY_LEN];
    uint8_t fp[MLC_VAULT_FP_LEN];
    char key_path[PATH_CAP];
    char new_path[PATH_CAP];
    int64_t (*now_ms)(void);
};

/* One sentence per thread: the agent is single-threaded, but tests and tools need not be. */
static _Thread_local char last_err[512];

__attribute__((format(printf, 1, 2)))
static void set_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_err, sizeof(last_err), fmt, ap);
    va_end(ap);
}

const char *mlc_vault_last_error(void)
{
    return last_err;
}

int mlc_vault_name_check(const char *name)
{
    size_t n = 0;
    if (!name) {
        set_err("a secret name is needed, e.g. plaid.secret");
        return MLC_ERR_USAGE;
    }
    for (; name[n] && n <= MLC_VAULT_NAME_MAX; n++) {
        char c = name[n];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == '-')) {
            set_err("secret name '%.80s' is not valid: use 1 to %u characters from a-z, 0-9, "
                    "'_', '.' and '-', e.g. plaid.secret", name, MLC_VAULT_NAME_MAX);
            return MLC_ERR_USAGE;
        }
    }
    if (n == 0 || n > MLC_VAULT_NAME_MAX) {
        set_err("secret name '%.80s' is not valid: use 1 to %u characters from a-z, 0-9, "
                "'_', '.' and '-', e.g. plaid.secret", name, MLC_VAULT_NAME_MAX);
        return MLC_ERR_USAGE;
    }
    return MLC_OK;
}

/* ---- blob layer ---- */

static void put_be64(uint8_t *p, int64_t v)
{
    uint64_t u = (uint64_t)v;
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)(u & 0xff);
        u >>= 8;
    }
}

static int64_t get_be64(const uint8_t *p)
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = (u << 8) | p[i];
    return (int64_t)u;
}

/* AAD = the 9 header bytes then the name. The header has a fixed length, so the split between
 * header and name is unambiguous. */
static int build_aad(uint8_t *aad, size_t cap, const uint8_t *hdr, const char *name, size_t *alen)
{
    size_t nl = strlen(name);
    if (MLC_VAULT_HDR_LEN + nl > cap)
        return MLC_ERR_INTERNAL;
    memcpy(aad, hdr, MLC_VAULT_HDR_LEN);
    memcpy(aad + MLC_VAULT_HDR_LEN, name, nl);
    *alen = MLC_VAULT_HDR_LEN + nl;
    return MLC_OK;
}

int mlc_vault_seal(const uint8_t key[MLC_VAULT_KEY_LEN], const char *name, int64_t set_ms,
                   const void *val, size_t len, uint8_t **blob, size_t *blen)
{
    uint8_t aad[MLC_VAULT_HDR_LEN + MLC_VAULT_NAME_MAX];
    size_t alen = 0;
    uint8_t *b = NULL;
    mbedtls_gcm_context gcm;
    int rc;

    mbedtls_gcm_init(&gcm);
    *blob = NULL;
    *blen = 0;
    if ((rc = mlc_vault_name_check(name)) != MLC_OK)
        goto out;
    if (len > MLC_VAULT_VALUE_MAX) {
        set_err("the value for secret %s is %zu bytes; the most a secret can hold is %u bytes",
                name, len, MLC_VAULT_VALUE_MAX);
        rc = MLC_ERR_TOO_BIG;
        goto out;
    }
    b = mlc_malloc(len + MLC_VAULT_OVERHEAD);
    if (!b) {
        set_err("out of memory while sealing secret %s", name);
        rc = MLC_ERR_NOMEM;
        goto out;
    }
    b[0] = MLC_VAULT_BLOB_VERSION;
    put_be64(b + 1, set_ms);
    uint8_t *nonce = b + MLC_VAULT_HDR_LEN;
    uint8_t *ct = nonce + MLC_VAULT_NONCE_LEN;
    /* The nonce comes straight from the OS (getrandom), not from a DRBG held in memory: a
     * DRBG state copied by fork() would hand the same nonce to two processes, which breaks GCM. */
    if ((rc = mlc_random_bytes(nonce, MLC_VAULT_NONCE_LEN)) != MLC_OK) {
        set_err("the system random source failed while sealing secret %s", name);
        goto out;
    }
    if ((rc = build_aad(aad, sizeof(aad), b, name, &alen)) != MLC_OK)
        goto out;
    if (mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, key, MLC_VAULT_KEY_LEN * 8) != 0 ||
        mbedtls_gcm_crypt_and_tag(&gcm, MBEDTLS_GCM_ENCRYPT, len, nonce, MLC_VAULT_NONCE_LEN,
                                  aad, alen, val, ct, MLC_VAULT_TAG_LEN, ct + len) != 0) {
        set_err("sealing secret %s failed in the crypto library", name);
        rc = MLC_ERR_CRYPTO;
        goto out;
    }
    *blob = b;
    *blen = len + MLC_VAULT_OVERHEAD;
    b = NULL;
    rc = MLC_OK;
out:
    mbedtls_gcm_free(&gcm);
    if (b) {
        mlc_wipe(b, len + MLC_VAULT_OVERHEAD);
        mlc_free(b);
    }
    return rc;
}

int mlc_vault_unseal(const uint8_t key[MLC_VAULT_KEY_LEN], const char *name, const uint8_t *blob,
                     size_t blen, char **val, size_t *len, int64_t *set_ms)
{
    uint8_t aad[MLC_VAULT_HDR_LEN + MLC_VAULT_NAME_MAX];
    size_t alen = 0, clen = 0;
    char *out = NULL;
    mbedtls_gcm_context gcm;
    int rc;

    mbedtls_gcm_init(&gcm);
    *val = NULL;
    *len = 0;
    if ((rc = mlc_vault_name_check(name)) != MLC_OK)
        goto out;
    /* A truncated blob or a foreign version byte is indistinguishable from tampering. */
    if (blen < MLC_VAULT_OVERHEAD || blen - MLC_VAULT_OVERHEAD > MLC_VAULT_VALUE_MAX) {
        set_err("secret %s could not be opened: it has a wrong length (%zu bytes); "
                TAMPER_WHY "; set it again with 'mlc secret set %s'", name, blen, name);
        rc = MLC_ERR_TAMPER;
        goto out;
    }
    if (blob[0] != MLC_VAULT_BLOB_VERSION) {
        set_err("secret %s could not be opened: unknown format version %u (it was tampered "
                "with, or written by a newer mlc)", name, (unsigned)blob[0]);
        rc = MLC_ERR_TAMPER;
        goto out;
    }
    clen = blen - MLC_VAULT_OVERHEAD;
    out = mlc_malloc(clen + 1);
    if (!out) {
        set_err("out of memory while opening secret %s", name);
        rc = MLC_ERR_NOMEM;
        goto out;
    }
    if ((rc = build_aad(aad, sizeof(aad), blob, name, &alen)) != MLC_OK)
        goto out;
    const uint8_t *nonce = blob + MLC_VAULT_HDR_LEN;
    const uint8_t *ct = nonce + MLC_VAULT_NONCE_LEN;
    if (mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, key, MLC_VAULT_KEY_LEN * 8) != 0) {
        set_err("opening secret %s failed in the crypto library", name);
        rc = MLC_ERR_CRYPTO;
        goto out;
    }
    int mrc = mbedtls_gcm_auth_decrypt(&gcm, clen, nonce, MLC_VAULT_NONCE_LEN, aad, alen,
                                       ct + clen, MLC_VAULT_TAG_LEN, ct, (uint8_t *)out);
    if (mrc == MBEDTLS_ERR_GCM_AUTH_FAILED) {
        set_err("secret %s could not be opened: " TAMPER_WHY, name);
        rc = MLC_ERR_TAMPER;
        goto out;
    } else if (mrc != 0) {
        set_err("opening secret %s failed in the crypto library", name);
        rc = MLC_ERR_CRYPTO;
        goto out;
    }
    out[clen] = '\0';
    if (set_ms)
        *set_ms = get_be64(blob + 1);
    *val = out;
    *len = clen;
    out = NULL;
    rc = MLC_OK;
out:
    mbedtls_gcm_free(&gcm);
    if (out) {
        mlc_wipe(out, clen + 1);
        mlc_free(out);
    }
    return rc;
}

void mlc_vault_free_secret(char *val, size_t len)
{
    if (!val)
        return;
    mlc_wipe(val, len + 1);
    mlc_free(val);
}

/* ---- device key ---- */

static void key_fingerprint(const uint8_t key[MLC_VAULT_KEY_LEN], uint8_t fp[MLC_VAULT_FP_LEN])
{
    uint8_t h[32];
    mbedtls_sha256_ret(key, MLC_VAULT_KEY_LEN, h, 0);
    memcpy(fp, h, MLC_VAULT_FP_LEN);
    mlc_wipe(h, sizeof(h));
}

static int generate_key(uint8_t key[MLC_VAULT_KEY_LEN])
{
    static const char pers[] = "mlc device key";
    mbedtls_entropy_context ent;
    mbedtls_ctr_drbg_context drbg;
    int rc = MLC_OK;

    mbedtls_entropy_init(&ent);
    mbedtls_ctr_drbg_init(&drbg);
    if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &ent, (const unsigned char *)pers,
                              sizeof(pers) - 1) != 0 ||
        mbedtls_ctr_drbg_random(&drbg, key, MLC_VAULT_KEY_LEN) != 0) {
        set_err("could not generate a device key: the system random source failed");
        rc = MLC_ERR_CRYPTO;
    }
    mbedtls_ctr_drbg_free(&drbg);   /* both free() calls zeroize their state */
    mbedtls_entropy_free(&ent);
    return rc;
}

static int key_paths(const char *data_dir, char *key_path, char *new_path)
{
    if (!data_dir || !*data_dir) {
        set_err("no data directory given; pass --data-dir or set data_dir in the configuration");
        return MLC_ERR_USAGE;
    }
    if (mlc_fs_join(key_path, PATH_CAP, data_dir, MLC_VAULT_KEY_FILE) != MLC_OK ||
        mlc_fs_join(new_path, PATH_CAP, data_dir, MLC_VAULT_KEY_FILE NEW_SUFFIX) != MLC_OK) {
        set_err("the data directory path is too long: %.200s...", data_dir);
        return MLC_ERR_TOO_BIG;
    }
    return MLC_OK;
}

/* Loads a key file. *present: 0 missing, 1 loaded, 2 there but not a 32-byte key (only reported
 * when tolerate_damage, for device.key.new, which a failed rotation may leave behind). */
static int load_key(const char *path, uint8_t key[MLC_VAULT_KEY_LEN], int *present,
                    int tolerate_damage)
{
    char *buf = NULL;
    size_t len = 0;
    int rc = mlc_fs_check_private(path);

    *present = 0;
    if (rc == MLC_ERR_NOTFOUND)
        return MLC_OK;
    if (rc == MLC_ERR_PERM) {
        set_err("%s can be read or changed by other users; run 'chmod 600 %s' (owner only) "
                "and start mlc again", path, path);
        return rc;
    }
    if (rc != MLC_OK) {
        set_err("cannot check the permissions of %s; check that the data directory is "
                "readable by the user mlc runs as", path);
        return rc;
    }
    rc = mlc_fs_read_file(path, 4 * MLC_VAULT_KEY_LEN, &buf, &len);
    if (rc == MLC_ERR_NOTFOUND)
        return MLC_OK;
    if (rc != MLC_OK && rc != MLC_ERR_TOO_BIG) {
        set_err("cannot read %s (%s); check that it belongs to the user mlc runs as",
                path, mlc_err_str(rc));
        return rc;
    }
    if (rc == MLC_ERR_TOO_BIG || len != MLC_VAULT_KEY_LEN) {
        if (buf) {
            mlc_wipe(buf, len);
            mlc_free(buf);
        }
        if (tolerate_damage) {
            *present = 2;
            return MLC_OK;
        }
        set_err("%s is damaged (a device key is exactly %u bytes); restore it from backup",
                path, MLC_VAULT_KEY_LEN);
        return MLC_ERR_DATA;
    }
    memcpy(key, buf, MLC_VAULT_KEY_LEN);
    mlc_wipe(buf, len);
    mlc_free(buf);
    *present = 1;
    return MLC_OK;
}

static int write_key(const char *path, const uint8_t key[MLC_VAULT_KEY_LEN])
{
    int rc = mlc_fs_write_atomic(path, key, MLC_VAULT_KEY_LEN, 0600);
    if (rc != MLC_OK)
        set_err("cannot write %s (%s); check free space and that the data directory belongs "
                "to the user mlc runs as", path, mlc_err_str(rc));
    return rc;
}

int mlc_vault_create_key(const char *data_dir)
{
    char kp[PATH_CAP], np[PATH_CAP];
    uint8_t key[MLC_VAULT_KEY_LEN];
    int rc;

    last_err[0] = '\0';
    if ((rc = key_paths(data_dir, kp, np)) != MLC_OK)
        return rc;
    if (mlc_fs_exists(kp) || mlc_fs_exists(np)) {
        set_err("a device key exists already at %s; it is kept (replacing it would make every "
                "stored secret unreadable); use 'mlc key rotate' to change it", kp);
        return MLC_ERR_EXISTS;
    }
    if ((rc = mlc_fs_mkdir_p(data_dir, 0700)) != MLC_OK) {
        set_err("cannot create the data directory %s (%s)", data_dir, mlc_err_str(rc));
        return rc;
    }
    if ((rc = generate_key(key)) == MLC_OK)
        rc = write_key(kp, key);
    mlc_wipe(key, sizeof(key));
    if (rc == MLC_OK)
        MLC_LOG_INF(MOD, "device_key_created path=%s", kp);
    return rc;
}

/* ---- store helpers ---- */

typedef int (*write_fn)(void *ctx, struct mlc_txn *txn);

/* Runs fn in its own write transaction; a full map is grown and the transaction redone. */
static int with_write_txn(struct mlc_store *st, write_fn fn, void *ctx)
{
    int rc = MLC_OK;
    for (int attempt = 0; attempt <= MAX_GROW_RETRIES; attempt++) {
        struct mlc_txn *txn = NULL;
        if ((rc = mlc_store_begin(st, 0, &txn)) != MLC_OK) {
            set_err("cannot write to the store (%s)", mlc_err_str(rc));
            return rc;
        }
        rc = fn(ctx, txn);
        if (rc != MLC_OK) {
            mlc_store_abort(txn);
            if (rc != MLC_ERR_MAP_FULL)
                return rc;
        } else {
            rc = mlc_store_commit(txn);
            if (rc == MLC_OK)
                return MLC_OK;
            if (rc != MLC_ERR_MAP_FULL) {
                set_err("cannot save to the store (%s)", mlc_err_str(rc));
                return rc;
            }
        }
        if (mlc_store_grow(st) != MLC_OK)
            break;
    }
    set_err("the store is full; raise its maximum map size in the configuration");
    return MLC_ERR_MAP_FULL;
}

/* 1 and the fingerprint if recorded, 0 if not, or a negative mlc_err. */
static int read_fp(struct mlc_txn *txn, uint8_t fp[MLC_VAULT_FP_LEN])
{
    const void *val = NULL;
    size_t vlen = 0;
    int rc = mlc_store_get(txn, MLC_DB_META, MLC_VAULT_META_FP, strlen(MLC_VAULT_META_FP),
                           &val, &vlen);
    if (rc == MLC_ERR_NOTFOUND)
        return 0;
    if (rc != MLC_OK) {
        set_err("cannot read the store (%s)", mlc_err_str(rc));
        return rc;
    }
    if (vlen != MLC_VAULT_FP_LEN) {
        set_err("the store's device key fingerprint record is damaged; run 'mlc store check'");
        return MLC_ERR_DATA;
    }
    memcpy(fp, val, MLC_VAULT_FP_LEN);
    return 1;
}

static int put_fp(struct mlc_txn *txn, const uint8_t fp[MLC_VAULT_FP_LEN])
{
    int rc = mlc_store_put(txn, MLC_DB_META, MLC_VAULT_META_FP, strlen(MLC_VAULT_META_FP), fp,
                           MLC_VAULT_FP_LEN);
    if (rc != MLC_OK && rc != MLC_ERR_MAP_FULL)
        set_err("cannot save the device key fingerprint in the store (%s)", mlc_err_str(rc));
    return rc;
}

/* Removes a leftover device.key.new. Not fsynced: if the removal is lost in a crash the next
 * open sees the same state again and removes it again. */
static void drop_new_key(const char *np)
{
    if (remove(np) != 0 && mlc_fs_exists(np))
        MLC_LOG_WRN(MOD, "cannot_remove path=%s hint=\"remove it by hand\"", np);
}

/* ---- open / close ---- */

void mlc_vault_set_clock(struct mlc_vault *v, int64_t (*now_ms)(void))
{
    if (v)
        v->now_ms = now_ms ? now_ms : mlc_time_now_ms;
}

/* Decides which key the stored secrets are sealed under and puts the key files in order.
 * Runs inside a write transaction: LMDB's single-writer lock is also the lock on device.key and
 * device.key.new, so two mlc processes never rearrange them at the same time. The states a
 * rotation can leave behind (see mlc_vault_rotate_key) and what is done about them:
 *   fingerprint = old key, device.key.new present  -> rotation never committed: remove .new
 *   fingerprint = new key, device.key = old or gone -> rotation committed: device.key := new
 *   fingerprint = new key, device.key = new         -> only .new is left over: remove it
 *   no fingerprint yet (first open of this store)   -> record device.key's fingerprint */
static int settle_keys(void *ctx, struct mlc_txn *txn)
{
    struct mlc_vault *v = ctx;
    uint8_t old_key[MLC_VAULT_KEY_LEN], new_key[MLC_VAULT_KEY_LEN];
    uint8_t fp[MLC_VAULT_FP_LEN], old_fp[MLC_VAULT_FP_LEN], new_fp[MLC_VAULT_FP_LEN];
    int have_old = 0, have_new = 0, have_fp;
    int rc;

    if ((rc = load_key(v->key_path, old_key, &have_old, 0)) != MLC_OK)
        goto out;
    if ((rc = load_key(v->new_path, new_key, &have_new, 1)) != MLC_OK)
        goto out;
    if (!have_old && have_new != 1) {
        set_err("there is no device key at %s; run 'mlc init' first", v->key_path);
        rc = MLC_ERR_NOTFOUND;
        goto out;
    }
    if (have_old)
        key_fingerprint(old_key, old_fp);
    if (have_new == 1)
        key_fingerprint(new_key, new_fp);
    if ((have_fp = read_fp(txn, fp)) < 0) {
        rc = have_fp;
        goto out;
    }

    if (!have_fp) {
        /* No rotation can have committed (it records the fingerprint), so device.key is the
         * key and a device.key.new is a rotation that never got going. */
        if (!have_old) {
            set_err("there is no device key at %s; run 'mlc init' first", v->key_path);
            rc = MLC_ERR_NOTFOUND;
            goto out;
        }
        key_fingerprint(old_key, fp);
        if ((rc = put_fp(txn, fp)) != MLC_OK)
            goto out;
        if (have_new)
            drop_new_key(v->new_path);
        memcpy(v->key, old_key, MLC_VAULT_KEY_LEN);
    } else if (have_new == 1 && mlc_ct_memcmp(new_fp, fp, MLC_VAULT_FP_LEN) == 0) {
        if (!have_old || mlc_ct_memcmp(old_fp, fp, MLC_VAULT_FP_LEN) != 0) {
            if ((rc = write_key(v->key_path, new_key)) != MLC_OK)
                goto out;
            MLC_LOG_INF(MOD, "key_rotation_finished path=%s", v->key_path);
        }
        drop_new_key(v->new_path);
        memcpy(v->key, new_key, MLC_VAULT_KEY_LEN);
    } else if (have_old && mlc_ct_memcmp(old_fp, fp, MLC_VAULT_FP_LEN) == 0) {
        if (have_new) {
            drop_new_key(v->new_path);
            MLC_LOG_INF(MOD, "key_rotation_rolled_back path=%s note=\"an interrupted key "
                        "rotation was undone; the old key stays\"", v->key_path);
        }
        memcpy(v->key, old_key, MLC_VAULT_KEY_LEN);
    } else {
        set_err("%s is not the key the stored secrets were sealed with; put the original "
                "device.key back (from backup) and start mlc again", v->key_path);
        rc = MLC_ERR_TAMPER;
        goto out;
    }
    memcpy(v->fp, fp, MLC_VAULT_FP_LEN);
    rc = MLC_OK;
out:
    mlc_wipe(old_key, sizeof(old_key));
    mlc_wipe(new_key, sizeof(new_key));
    return rc;
}

/* Another process (mlc key rotate) may have changed the key since this vault was opened: the
 * agent then picks up the new key instead of sealing with a key the store no longer uses. */
static int sync_key(struct mlc_vault *v, struct mlc_txn *txn)
{
    uint8_t fp[MLC_VAULT_FP_LEN], key[MLC_VAULT_KEY_LEN], kfp[MLC_VAULT_FP_LEN];
    int rc = read_fp(txn, fp);
    if (rc <= 0)
        return rc;
    if (mlc_ct_memcmp(fp, v->fp, MLC_VAULT_FP_LEN) == 0)
        return MLC_OK;
    /* The new key is in device.key.new until it replaces device.key; a reader outside the
     * write lock can see that switch half-way (device.key still old, .new already gone), so
     * it looks twice. */
    for (int attempt = 0; attempt < 2; attempt++) {
        const char *paths[2] = { v->key_path, v->new_path };
        for (int i = 0; i < 2; i++) {
            int present = 0;
            rc = load_key(paths[i], key, &present, 1);
            if (rc != MLC_OK) {
                mlc_wipe(key, sizeof(key));
                return rc;
            }
            if (present != 1)
                continue;
            key_fingerprint(key, kfp);
            if (mlc_ct_memcmp(kfp, fp, MLC_VAULT_FP_LEN) == 0) {
                memcpy(v->key, key, MLC_VAULT_KEY_LEN);
                memcpy(v->fp, fp, MLC_VAULT_FP_LEN);
                mlc_wipe(key, sizeof(key));
                MLC_LOG_INF(MOD, "device_key_reloaded note=\"the key was rotated by another "
                            "mlc process\"");
                return MLC_OK;
            }
        }
    }
    mlc_wipe(key, sizeof(key));
    set_err("the device key was changed by another mlc process and neither %s nor %s matches "
            "the store; restart mlc", v->key_path, v->new_path);
    return MLC_ERR_TAMPER;
}

int mlc_vault_open(struct mlc_vault **out, struct mlc_store *st, const char *data_dir)
{
    struct mlc_vault *v = NULL;
    int rc;

    last_err[0] = '\0';
    *out = NULL;
    v = mlc_calloc(1, sizeof(*v));
    if (!v) {
        set_err("out of memory while opening the vault");
        rc = MLC_ERR_NOMEM;
        goto out;
    }
    v->st = st;
    v->now_ms = mlc_time_now_ms;
    if ((rc = key_paths(data_dir, v->key_path, v->new_path)) != MLC_OK)
        goto out;
    if ((rc = with_write_txn(st, settle_keys, v)) != MLC_OK)
        goto out;
    *out = v;
    v = NULL;
out:
    mlc_vault_close(v);
    return rc;
}

void mlc_vault_close(struct mlc_vault *v)
{
    if (!v)
        return;
    mlc_wipe(v, sizeof(*v));
    mlc_free(v);
}

/* ---- secrets ---- */

int mlc_vault_set_txn(struct mlc_vault *v, struct mlc_txn *txn, const char *name,
                      const void *val, size_t len)
{
    uint8_t *blob = NULL;
    size_t blen = 0;
    int rc;

    last_err[0] = '\0';
    if ((rc = mlc_vault_name_check(name)) != MLC_OK)
        return rc;
    if ((rc = sync_key(v, txn)) != MLC_OK)
        return rc;
    if ((rc = mlc_vault_seal(v->key, name, v->now_ms(), val, len, &blob, &blen)) != MLC_OK)
        return rc;
    rc = mlc_store_put(txn, MLC_DB_VAULT, name, strlen(name), blob, blen);
    if (rc != MLC_OK && rc != MLC_ERR_MAP_FULL)
        set_err("cannot save secret %s in the store (%s)", name, mlc_err_str(rc));
    else if (rc == MLC_ERR_MAP_FULL)
        set_err("the store is full; raise its maximum map size in the configuration");
    mlc_wipe(blob, blen);
    mlc_free(blob);
    return rc;
}

struct set_args {
    struct mlc_vault *v;
    const char *name;
    const void *val;
    size_t len;
};

static int set_fn(void *ctx, struct mlc_txn *txn)
{
    struct set_args *a = ctx;
    return mlc_vault_set_txn(a->v, txn, a->name, a->val, a->len);
}

int mlc_vault_set(struct mlc_vault *v, const char *name, const void *val, size_t len)
{
    struct set_args a = { v, name, val, len };
    int rc;

    last_err[0] = '\0';
    /* Check before opening a transaction, so a bad name or size is reported as such. */
    if ((rc = mlc_vault_name_check(name)) != MLC_OK)
        return rc;
    if (len > MLC_VAULT_VALUE_MAX) {
        set_err("the value for secret %s is %zu bytes; the most a secret can hold is %u bytes",
                name, len, MLC_VAULT_VALUE_MAX);
        return MLC_ERR_TOO_BIG;
    }
    return with_write_txn(v->st, set_fn, &a);
}

int mlc_vault_get_txn(struct mlc_vault *v, struct mlc_txn *txn, const char *name, char **val,
                      size_t *len)
{
    const void *blob = NULL;
    size_t blen = 0;
    int rc;

    last_err[0] = '\0';
    *val = NULL;
    *len = 0;
    if ((rc = mlc_vault_name_check(name)) != MLC_OK)
        return rc;
    rc = mlc_store_get(txn, MLC_DB_VAULT, name, strlen(name), &blob, &blen);
    if (rc == MLC_ERR_NOTFOUND) {
        set_err("no secret named %s is stored; set it with 'mlc secret set %s'", name, name);
        return rc;
    }
    if (rc != MLC_OK) {
        set_err("cannot read secret %s from the store (%s)", name, mlc_err_str(rc));
        return rc;
    }
    if ((rc = sync_key(v, txn)) != MLC_OK)
        return rc;
    rc = mlc_vault_unseal(v->key, name, blob, blen, val, len, NULL);
    if (rc != MLC_OK)
        return rc;
    if (mlc_log_secret_add(*val) != MLC_OK) {
        /* Refuse to hand out a value the redactor cannot mask. */
        mlc_vault_free_secret(*val, *len);
        *val = NULL;
        *len = 0;
        set_err("out of memory while opening secret %s", name);
        return MLC_ERR_NOMEM;
    }
    return MLC_OK;
}

int mlc_vault_get(struct mlc_vault *v, const char *name, char **val, size_t *len)
{
    struct mlc_txn *txn = NULL;
    int rc;

    last_err[0] = '\0';
    *val = NULL;
    *len = 0;
    if ((rc = mlc_vault_name_check(name)) != MLC_OK)
        return rc;
    if ((rc = mlc_store_begin(v->st, 1, &txn)) != MLC_OK) {
        set_err("cannot read the store (%s)", mlc_err_str(rc));
        return rc;
    }
    rc = mlc_vault_get_txn(v, txn, name, val, len);
    mlc_store_abort(txn);
    return rc;
}

int mlc_vault_delete_txn(struct mlc_vault *v, struct mlc_txn *txn, const char *name)
{
    int rc;

    (void)v;
    last_err[0] = '\0';
    if ((rc = mlc_vault_name_check(name)) != MLC_OK)
        return rc;
    rc = mlc_store_del(txn, MLC_DB_VAULT, name, strlen(name));
    if (rc == MLC_ERR_NOTFOUND)
        set_err("no secret named %s is stored; 'mlc secret list' shows the stored names", name);
    else if (rc != MLC_OK && rc != MLC_ERR_MAP_FULL)
        set_err("cannot delete secret %s from the store (%s)", name, mlc_err_str(rc));
    return rc;
}

struct del_args {
    struct mlc_vault *v;
    const char *name;
};

static int del_fn(void *ctx, struct mlc_txn *txn)
{
    struct del_args *a = ctx;
    return mlc_vault_delete_txn(a->v, txn, a->name);
}

int mlc_vault_delete(struct mlc_vault *v, const char *name)
{
    struct del_args a = { v, name };
    int rc;

    last_err[0] = '\0';
    if ((rc = mlc_vault_name_check(name)) != MLC_OK)
        return rc;
    return with_write_txn(v->st, del_fn, &a);
}

struct list_args {
    mlc_vault_list_fn fn;
    void *ctx;
};

static int list_each(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct list_args *a = ctx;
    char name[MLC_VAULT_NAME_MAX + 1];
    const uint8_t *b = val;

    /* Records this module cannot have written (bad name) are not secrets: skip them. */
    if (klen == 0 || klen > MLC_VAULT_NAME_MAX || memchr(key, '\0', klen))
        return 0;
    memcpy(name, key, klen);
    name[klen] = '\0';
    if (mlc_vault_name_check(name) != MLC_OK) {
        last_err[0] = '\0';
        return 0;
    }
    int64_t set_ms = -1;
    if (vlen >= MLC_VAULT_OVERHEAD && b[0] == MLC_VAULT_BLOB_VERSION)
        set_ms = get_be64(b + 1);
    return a->fn(a->ctx, name, set_ms);
}

int mlc_vault_list(struct mlc_vault *v, mlc_vault_list_fn fn, void *ctx)
{
    struct list_args a = { fn, ctx };
    struct mlc_txn *txn = NULL;
    int rc;

    last_err[0] = '\0';
    if ((rc = mlc_store_begin(v->st, 1, &txn)) != MLC_OK) {
        set_err("cannot read the store (%s)", mlc_err_str(rc));
        return rc;
    }
    rc = mlc_store_each(txn, MLC_DB_VAULT, NULL, 0, list_each, &a);
    mlc_store_abort(txn);
    if (rc == 1)
        rc = MLC_OK;
    if (rc < 0 && last_err[0] == '\0')
        set_err("cannot list the secrets in the store (%s)", mlc_err_str(rc));
    return rc;
}

/* ---- rotation ---- */

struct name_list {
    char (*names)[MLC_VAULT_NAME_MAX + 1];
    size_t n, cap;
};

static int collect_name(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct name_list *l = ctx;
    (void)val;
    (void)vlen;
    /* Every record is resealed, so a record that is not a valid secret stops the rotation
     * rather than being silently left under the old key. */
    if (klen == 0 || klen > MLC_VAULT_NAME_MAX) {
        set_err("the vault holds a record with an invalid name; run 'mlc store check'");
        return MLC_ERR_DATA;
    }
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 16;
        void *p = mlc_realloc(l->names, ncap * sizeof(*l->names));
        if (!p) {
            set_err("out of memory while rotating the device key");
            return MLC_ERR_NOMEM;
        }
        l->names = p;
        l->cap = ncap;
    }
    memcpy(l->names[l->n], key, klen);
    l->names[l->n][klen] = '\0';
    l->n++;
    return 0;
}

struct rotate_args {
    struct mlc_vault *v;
    const uint8_t *new_key;
    const uint8_t *new_fp;
    size_t count;
};

static int reseal_all(struct rotate_args *a, struct mlc_txn *txn)
{
    struct name_list l = { 0 };
    int rc;

    /* Names first, then reseal: the store's iteration is not meant to see its own writes. */
    if ((rc = mlc_store_each(txn, MLC_DB_VAULT, NULL, 0, collect_name, &l)) < 0) {
        if (last_err[0] == '\0')
            set_err("cannot read the secrets in the store (%s)", mlc_err_str(rc));
        goto out;
    }
    for (size_t i = 0; i < l.n; i++) {
        const char *name = l.names[i];
        const void *blob = NULL;
        size_t blen = 0, vlen = 0;
        char *val = NULL;
        uint8_t *nb = NULL;
        size_t nblen = 0;
        int64_t set_ms = 0;

        if ((rc = mlc_store_get(txn, MLC_DB_VAULT, name, strlen(name), &blob, &blen)) != MLC_OK) {
            set_err("cannot read secret %s from the store (%s)", name, mlc_err_str(rc));
            goto out;
        }
        /* The value is copied out before the put below can move the page it points into. */
        if ((rc = mlc_vault_unseal(a->v->key, name, blob, blen, &val, &vlen, &set_ms)) != MLC_OK) {
            if (rc == MLC_ERR_TAMPER)
                set_err("secret %s could not be opened: " TAMPER_WHY "; the key was not "
                        "rotated; delete or set that secret again, then rotate", name);
            goto out;
        }
        /* The set time is kept: it records when a person or the agent set the value. */
        rc = mlc_vault_seal(a->new_key, name, set_ms, val, vlen, &nb, &nblen);
        mlc_vault_free_secret(val, vlen);
        if (rc != MLC_OK)
            goto out;
        rc = mlc_store_put(txn, MLC_DB_VAULT, name, strlen(name), nb, nblen);
        mlc_wipe(nb, nblen);
        mlc_free(nb);
        if (rc != MLC_OK) {
            if (rc != MLC_ERR_MAP_FULL)
                set_err("cannot save secret %s in the store (%s)", name, mlc_err_str(rc));
            goto out;
        }
        a->count++;
    }
    rc = put_fp(txn, a->new_fp);
out:
    mlc_free(l.names);
    return rc;
}

/* Steps 1 and 2 of a rotation, under the store's write lock (see settle_keys). */
static int rotate_fn(void *ctx, struct mlc_txn *txn)
{
    struct rotate_args *a = ctx;
    int rc;

    a->count = 0;
    /* Another process may have rotated since this vault was opened, and may still be about to
     * put its key files in order: do that for it first (it is idempotent), and use its key. */
    if ((rc = settle_keys(a->v, txn)) != MLC_OK)
        return rc;
    /* Step 1: the new key is on disk (synced) before any secret is sealed under it. */
    if ((rc = write_key(a->v->new_path, a->new_key)) != MLC_OK)
        return rc;
    /* Step 2: this transaction reseals everything and records the new fingerprint. */
    rc = reseal_all(a, txn);
    if (rc != MLC_OK)
        drop_new_key(a->v->new_path);   /* still under the lock: it is ours */
    return rc;
}

int mlc_vault_rotate_key(struct mlc_vault *v, size_t *resealed)
{
    uint8_t new_key[MLC_VAULT_KEY_LEN], new_fp[MLC_VAULT_FP_LEN];
    struct rotate_args a = { v, new_key, new_fp, 0 };
    int rc;

    last_err[0] = '\0';
    if (resealed)
        *resealed = 0;
    if ((rc = generate_key(new_key)) != MLC_OK)
        goto out;
    key_fingerprint(new_key, new_fp);
    if ((rc = with_write_txn(v->st, rotate_fn, &a)) != MLC_OK)
        goto out;
    memcpy(v->key, new_key, MLC_VAULT_KEY_LEN);
    memcpy(v->fp, new_fp, MLC_VAULT_FP_LEN);
    if (resealed)
        *resealed = a.count;
    /* Step 3: device.key becomes the new key and device.key.new goes, exactly as
     * mlc_vault_open does after a crash between the commit and this point. */
    if ((rc = with_write_txn(v->st, settle_keys, v)) != MLC_OK) {
        set_err("the secrets are sealed under the new key, but %s could not be replaced; the "
                "new key is kept in %s and the next start of mlc finishes the rotation",
                v->key_path, v->new_path);
        goto out;
    }
    MLC_LOG_INF(MOD, "key_rotated secrets=%zu", a.count);
    rc = MLC_OK;
out:
    mlc_wipe(new_key, sizeof(new_key));
    return rc;
}
