/* The credential vault: every secret (API client ids and secrets, OAuth tokens, SMTP password,
 * webhook secrets) is sealed with AES-256-GCM under the 256-bit device key in
 * <data-dir>/device.key and stored in MLC_DB_VAULT. This module owns device.key, the sealed blob
 * format and key rotation; it never logs a secret value and never hands out the key. */
#ifndef MLC_VAULT_H
#define MLC_VAULT_H
#include <stddef.h>
#include <stdint.h>

struct mlc_store;
struct mlc_txn;
struct mlc_vault;

#define MLC_VAULT_KEY_FILE "device.key"
#define MLC_VAULT_KEY_LEN 32u
#define MLC_VAULT_NAME_MAX 64u         /* secret names: [a-z0-9_.-]{1,64} */
#define MLC_VAULT_VALUE_MAX 8192u      /* a secret value is at most 8 KiB */

/* Sealed blob, format version 1:
 *   [1 version][8 set-time ms, big-endian][12 nonce][ciphertext][16 GCM tag]
 * The associated data is the 9 header bytes followed by the secret's name, so a blob moved to
 * another name, or with its set time altered, does not open. */
#define MLC_VAULT_BLOB_VERSION 1u
#define MLC_VAULT_HDR_LEN 9u
#define MLC_VAULT_NONCE_LEN 12u
#define MLC_VAULT_TAG_LEN 16u
#define MLC_VAULT_OVERHEAD (MLC_VAULT_HDR_LEN + MLC_VAULT_NONCE_LEN + MLC_VAULT_TAG_LEN)

/* The meta record (MLC_DB_META) holding the first 8 bytes of SHA-256(device key): it tells which
 * key the stored secrets are sealed under, so a crash in the middle of a rotation can be resolved. */
#define MLC_VAULT_META_FP "vault.key_fingerprint"
#define MLC_VAULT_FP_LEN 8u

/* Functions without a txn argument that write (open, set, delete, rotate) run their own short
 * write transaction: do not call them while this process holds one (LMDB has one writer). */

/* The sentence for people describing the last failure of a vault call on this thread
 * (what is wrong and what to do), e.g. for `mlc: <sentence>`. "" if none. */
const char *mlc_vault_last_error(void);

/* 0 if name matches [a-z0-9_.-]{1,64}, else MLC_ERR_USAGE (with last_error set). */
int mlc_vault_name_check(const char *name);

/* For `mlc init`: creates <data_dir> (0700) if needed and a new random device.key (0600, written
 * atomically). MLC_ERR_EXISTS if a device key is already there (never overwritten). */
int mlc_vault_create_key(const char *data_dir);

/* Loads device.key and checks it against the store. Refuses a key file that group or others may
 * read or write (MLC_ERR_PERM), reports a missing key (MLC_ERR_NOTFOUND: run 'mlc init' first),
 * and finishes or rolls back a key rotation interrupted by a crash. MLC_ERR_TAMPER if device.key
 * is not the key the stored secrets were sealed with. The store must outlive the vault. */
int mlc_vault_open(struct mlc_vault **out, struct mlc_store *st, const char *data_dir);
/* Wipes the key and frees the vault. NULL is fine. */
void mlc_vault_close(struct mlc_vault *v);

/* Tests: the wall clock used for set times (default mlc_time_now_ms). NULL restores it. */
void mlc_vault_set_clock(struct mlc_vault *v, int64_t (*now_ms)(void));

/* Seals and stores a secret (len <= MLC_VAULT_VALUE_MAX), replacing any earlier value. The _txn form
 * works inside the caller's write transaction, so e.g. a token rotation can seal the new token in
 * the transaction that retires the old one; the plain form uses its own transaction. */
int mlc_vault_set(struct mlc_vault *v, const char *name, const void *val, size_t len);
int mlc_vault_set_txn(struct mlc_vault *v, struct mlc_txn *txn, const char *name,
                      const void *val, size_t len);

/* Opens a secret. *val is mlc_malloc'd and NUL-terminated (binary values may hold NULs; use *len);
 * release it with mlc_vault_free_secret(). The value is registered with the log redactor, so it can
 * never reach the log. MLC_ERR_NOTFOUND if no such secret, MLC_ERR_TAMPER if it does not open. */
int mlc_vault_get(struct mlc_vault *v, const char *name, char **val, size_t *len);
int mlc_vault_get_txn(struct mlc_vault *v, struct mlc_txn *txn, const char *name, char **val,
                      size_t *len);
/* Wipes and frees a value from mlc_vault_get. NULL is fine. */
void mlc_vault_free_secret(char *val, size_t len);

/* MLC_ERR_NOTFOUND if there is no such secret. */
int mlc_vault_delete(struct mlc_vault *v, const char *name);
int mlc_vault_delete_txn(struct mlc_vault *v, struct mlc_txn *txn, const char *name);

/* Calls fn for every stored secret in name order with its set time (ms since the epoch, as written
 * in the blob header; -1 if the header is unreadable). No value is opened. fn returns 0 to go on,
 * 1 to stop, or a negative mlc_err to stop with that error. */
typedef int (*mlc_vault_list_fn)(void *ctx, const char *name, int64_t set_ms);
int mlc_vault_list(struct mlc_vault *v, mlc_vault_list_fn fn, void *ctx);

/* `mlc key rotate`: a new device key; every secret is resealed under it in one store transaction.
 * Crash-safe: inside that transaction device.key.new is written (0600, synced) first, then every
 * secret is resealed and the new key's fingerprint recorded; after the commit device.key is
 * replaced and device.key.new removed. mlc_vault_open resolves a crash at any point. Key files
 * only change under the store's write lock, so concurrent mlc processes cannot mix them up; a
 * vault opened before another process rotated picks up the new key by itself.
 * *resealed (may be NULL) gets the number of secrets resealed. */
int mlc_vault_rotate_key(struct mlc_vault *v, size_t *resealed);

/* The blob layer, without the store (for tests, fuzzing and tools). seal: *blob is mlc_malloc'd,
 * *blen = len + MLC_VAULT_OVERHEAD. open: MLC_ERR_TAMPER if the blob does not authenticate under
 * key and name; *val as for mlc_vault_get (not registered with the redactor). set_ms may be NULL. */
int mlc_vault_seal(const uint8_t key[MLC_VAULT_KEY_LEN], const char *name, int64_t set_ms,
                   const void *val, size_t len, uint8_t **blob, size_t *blen);
int mlc_vault_unseal(const uint8_t key[MLC_VAULT_KEY_LEN], const char *name, const uint8_t *blob,
                     size_t blen, char **val, size_t *len, int64_t *set_ms);
#endif
