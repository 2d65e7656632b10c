/* libFuzzer target for the vault's sealed-blob reader, mlc_vault_unseal. Blobs come from the store
 * file on disk, which a damaged disk or anyone with access to the data dir can alter. Promises
 * checked: no crash, no read past the blob, no leak; a blob not sealed under this key and name
 * never opens (forging the GCM tag is a 2^-128 guess); a real seal opens to exactly the sealed
 * value and set time, and a change to any one of its bits, its length, its name or the key makes
 * it fail with MLC_ERR_TAMPER and a one-line reason. (The seeds hold real seals under the fuzz key,
 * so the fuzzer's mutations start from blobs that open; only such an unchanged seed may open.)
 * Input, by the low bits of byte 0:
 *   x0  the rest is a stored blob, opened under the name "plaid.secret"
 *   01  the rest is "<name>\n<blob>": the name is outside input too (mlc secret get NAME)
 *   11  the rest is a value to seal; bytes 1-2 pick the blob bit that is then flipped
 * Seeds: tests/fuzz/corpus/fuzz_vault_unseal/. */
#include "mlc_alloc.h"
#include "mlc_err.h"
#include "mlc_vault.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t KEY[MLC_VAULT_KEY_LEN] = "0123456789abcdef0123456789abcde";
static const uint8_t OTHER_KEY[MLC_VAULT_KEY_LEN] = "0123456789abcdef0123456789abcdX";
#define NAME "plaid.secret"

static void check(int ok)
{
    if (!ok)
        abort();
}

/* A refusal leaves nothing behind and says why on one line. */
static void check_refused(int rc, int want, const char *val, size_t len)
{
    check(rc == want || rc == MLC_ERR_NOMEM);
    check(val == NULL && len == 0);
    const char *why = mlc_vault_last_error();
    check(why[0] != '\0' && strchr(why, '\n') == NULL);
}

static int open_blob(const uint8_t *key, const char *name, const uint8_t *blob, size_t blen,
                     int want)
{
    char *val = NULL;
    size_t len = 7;
    int64_t ms = 0;
    int rc = mlc_vault_unseal(key, name, blob, blen, &val, &len, &ms);
    if (rc == MLC_OK) {
        check(val != NULL && blen >= MLC_VAULT_OVERHEAD && len == blen - MLC_VAULT_OVERHEAD &&
              val[len] == '\0');
        mlc_vault_free_secret(val, len);
    } else if (want != MLC_OK) {
        check_refused(rc, want, val, len);
    }
    return rc;
}

/* A blob that opened: the same blob with one tag bit flipped must not. */
static int opens_changed(const char *name, const uint8_t *blob, size_t blen)
{
    uint8_t *copy = mlc_malloc(blen);
    if (!copy)
        return 0;
    memcpy(copy, blob, blen);
    copy[blen - 1 - blen % MLC_VAULT_TAG_LEN] ^= 0x80;
    int rc = open_blob(KEY, name, copy, blen, MLC_ERR_TAMPER);
    mlc_free(copy);
    return rc == MLC_OK;
}

static void round_trip(const uint8_t *data, size_t size)
{
    const uint8_t *value = data + 1;
    size_t vlen = size - 1;
    if (vlen > MLC_VAULT_VALUE_MAX)
        return;
    int64_t set_ms = 1764079200000LL + (int64_t)vlen;
    uint8_t *blob = NULL;
    size_t blen = 0;
    int rc = mlc_vault_seal(KEY, NAME, set_ms, value, vlen, &blob, &blen);
    if (rc == MLC_ERR_NOMEM)
        return;
    check(rc == MLC_OK && blob != NULL && blen == vlen + MLC_VAULT_OVERHEAD);

    char *val = NULL;
    size_t len = 0;
    int64_t ms = 0;
    check(mlc_vault_unseal(KEY, NAME, blob, blen, &val, &len, &ms) == MLC_OK);
    check(len == vlen && memcmp(val, value, vlen) == 0 && val[len] == '\0' && ms == set_ms);
    mlc_vault_free_secret(val, len);

    /* any single bit flipped anywhere: header, nonce, ciphertext or tag */
    size_t pick = size >= 3 ? ((size_t)data[1] << 8 | data[2]) : 0;
    size_t pos = pick % blen;
    uint8_t bit = (uint8_t)(1u << ((data[0] >> 2) & 7));
    blob[pos] ^= bit;
    check(open_blob(KEY, NAME, blob, blen, MLC_ERR_TAMPER) == MLC_ERR_TAMPER);
    blob[pos] ^= bit;
    /* cut short, moved to another name, or opened with another key */
    check(open_blob(KEY, NAME, blob, blen - 1, MLC_ERR_TAMPER) == MLC_ERR_TAMPER);
    check(open_blob(KEY, "plaid.secreu", blob, blen, MLC_ERR_TAMPER) == MLC_ERR_TAMPER);
    check(open_blob(OTHER_KEY, NAME, blob, blen, MLC_ERR_TAMPER) == MLC_ERR_TAMPER);
    /* and untouched it still opens */
    check(open_blob(KEY, NAME, blob, blen, MLC_OK) == MLC_OK);
    mlc_free(blob);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t base = mlc_alloc_current();
    if ((data[0] & 3) == 3) {
        round_trip(data, size);
    } else if ((data[0] & 3) == 1) {
        char name[MLC_VAULT_NAME_MAX + 8];
        const uint8_t *nl = memchr(data + 1, '\n', size - 1);
        size_t nlen = nl ? (size_t)(nl - (data + 1)) : size - 1;
        if (nlen >= sizeof(name))
            nlen = sizeof(name) - 1;
        memcpy(name, data + 1, nlen);
        name[nlen] = '\0';
        const uint8_t *blob = nl ? nl + 1 : data + size;
        size_t blen = (size_t)(data + size - blob);
        int want = mlc_vault_name_check(name) == MLC_OK ? MLC_ERR_TAMPER : MLC_ERR_USAGE;
        if (open_blob(KEY, name, blob, blen, want) == MLC_OK)
            check(want == MLC_ERR_TAMPER && !opens_changed(name, blob, blen));
    } else {
        if (open_blob(KEY, NAME, data + 1, size - 1, MLC_ERR_TAMPER) == MLC_OK)
            check(!opens_changed(NAME, data + 1, size - 1));
    }
    check(mlc_alloc_current() == base);
    return 0;
}
