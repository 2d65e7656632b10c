/* The hash-chained audit log: encoding, append, verify, export (see mlc_audit.h).
 *
 * Record format, version 1 (all integers big-endian; the LMDB key is the 8-byte sequence number):
 *   0  u8  format version (1)          1  u8  event type        2  u8 flags (bit 0: has amount)
 *   3  u8  amount scale (0..18)        4  u64 sequence number  12  i64 time, epoch ms (>= 0)
 *  20  i64 amount units               28  u32 Exact division  32  u32 Exact line
 *  36  nine texts, each u16 length + bytes (valid UTF-8, no NUL, within its cap), in this order:
 *      item, account, transaction, journal, statement, entry id, rule, currency, detail
 *   .. prev_hash (32)  hash (32) = SHA-256(prev_hash || bytes 0 .. end of the texts)
 * The encoding is canonical: a record without an amount stores units 0 and scale 0, so every
 * decodable byte string re-encodes to itself (the fuzz target checks this). */
#include "mlc_audit.h"
#include "mlc_date.h"
#include "mlc_alloc.h"
#include "mlc_err.h"
#include "mlc_log.h"
#include "mlc_platform.h"

#include <cjson/cJSON.h>
#include <mbedtls/sha256.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MOD "audit"
#define FORMAT_V1 1
#define FIXED_LEN 36
#define NTEXT 9
#define FLAG_AMOUNT 0x01
#define HEAD_LEN (8 + MLC_AUDIT_HASH_LEN)
#define MS_PER_DAY 86400000LL

/* ---- small helpers -------------------------------------------------------------------------- */

static void be_put(uint8_t *b, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static uint64_t be_get(const uint8_t *b, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | b[i];
    return v;
}

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlongs, no surrogates, <= U+10FFFF),
 * or 0 when it is invalid, cut short, or a NUL. */
static size_t utf8_seq(const uint8_t *s, size_t n)
{
    uint8_t c = s[0];
    if (c == 0)
        return 0;
    if (c < 0x80)
        return 1;
    size_t len;
    uint8_t lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return len;
}

static int utf8_valid(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t l = utf8_seq(s + i, n - i);
        if (!l)
            return 0;
        i += l;
    }
    return 1;
}

/* Copies free text into out (cap > MLC_AUDIT_DETAIL_MAX): invalid bytes become '?', and text
 * past the cap is cut at a character boundary with "..." so the reader sees it was cut. A detail
 * with a stray byte (a bank's merchant name) must not stop the posting it describes. */
static size_t detail_repair(const char *in, char *out)
{
    const uint8_t *s = (const uint8_t *)in;
    size_t n = in ? strlen(in) : 0, o = 0;
    /* Repair keeps the length (one '?' per bad byte), so only the input length decides a cut. */
    size_t room = n > MLC_AUDIT_DETAIL_MAX ? MLC_AUDIT_DETAIL_MAX - 3 : n;
    while (o < n) {
        size_t l = utf8_seq(s + o, n - o);
        size_t w = l ? l : 1;
        if (o + w > room)
            break;
        if (l)
            memcpy(out + o, s + o, l);
        else
            out[o] = '?';
        o += w;
    }
    if (n > MLC_AUDIT_DETAIL_MAX) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return o;
}

const char *mlc_audit_type_name(enum mlc_audit_type t)
{
    static const char *const names[] = {
        [MLC_AUDIT_NOTE] = "note", [MLC_AUDIT_PULLED] = "pulled", [MLC_AUDIT_CODED] = "coded",
        [MLC_AUDIT_POSTED] = "posted", [MLC_AUDIT_HELD] = "held",
        [MLC_AUDIT_REVERSED] = "reversed", [MLC_AUDIT_BALANCE] = "balance_written",
        [MLC_AUDIT_RECONCILED] = "reconciliation", [MLC_AUDIT_TOKEN_REFRESH] = "token_refresh",
        [MLC_AUDIT_CONSENT] = "consent", [MLC_AUDIT_MAPPING] = "mapping_change",
        [MLC_AUDIT_CONFIG] = "config_change",
    };
    if ((int)t < MLC_AUDIT_NOTE || (int)t > MLC_AUDIT__LAST)
        return "unknown";
    return names[t];
}

/* ---- encoding ------------------------------------------------------------------------------- */

static const size_t text_cap[NTEXT] = {
    MLC_AUDIT_ID_MAX, MLC_AUDIT_ID_MAX, MLC_AUDIT_ID_MAX, MLC_AUDIT_JOURNAL_MAX,
    MLC_AUDIT_ID_MAX, MLC_AUDIT_ENTRY_MAX, MLC_AUDIT_ID_MAX, MLC_AUDIT_CURRENCY_MAX,
    MLC_AUDIT_DETAIL_MAX,
};
static const char *const text_name[NTEXT] = {
    "item id", "account id", "transaction id", "journal", "statement", "entry id", "rule",
    "currency", "detail",
};

static int chain_hash(const uint8_t prev[MLC_AUDIT_HASH_LEN], const uint8_t *body, size_t len,
                      uint8_t out[MLC_AUDIT_HASH_LEN])
{
    mbedtls_sha256_context c;
    int rc;
    mbedtls_sha256_init(&c);
    rc = mbedtls_sha256_starts_ret(&c, 0);
    if (!rc)
        rc = mbedtls_sha256_update_ret(&c, prev, MLC_AUDIT_HASH_LEN);
    if (!rc)
        rc = mbedtls_sha256_update_ret(&c, body, len);
    if (!rc)
        rc = mbedtls_sha256_finish_ret(&c, out);
    mbedtls_sha256_free(&c);
    return rc ? MLC_ERR_CRYPTO : MLC_OK;
}

int mlc_audit_encode(uint64_t seq, const struct mlc_audit_event *ev,
                     const uint8_t prev_hash[MLC_AUDIT_HASH_LEN], uint8_t *buf, size_t cap)
{
    char detail[MLC_AUDIT_DETAIL_MAX + 1];
    const char *text[NTEXT];
    size_t tlen[NTEXT];
    size_t total = FIXED_LEN + 2 * MLC_AUDIT_HASH_LEN;

    if (!ev || !prev_hash || !buf || seq == 0)
        return MLC_ERR_INTERNAL;
    if ((int)ev->type < MLC_AUDIT_NOTE || (int)ev->type > MLC_AUDIT__LAST || ev->time_ms < 0)
        return MLC_ERR_DATA;
    if (ev->has_amount &&
        (ev->amount.scale > MLC_AMOUNT_MAX_SCALE || ev->amount.units == INT64_MIN))
        return MLC_ERR_DATA;
    text[0] = ev->item_id; text[1] = ev->account_id; text[2] = ev->transaction_id;
    text[3] = ev->journal; text[4] = ev->statement; text[5] = ev->entry_id;
    text[6] = ev->rule; text[7] = ev->currency; text[8] = detail;
    detail_repair(ev->detail, detail);
    for (int i = 0; i < NTEXT; i++) {
        if (!text[i])
            text[i] = "";
        tlen[i] = strlen(text[i]);
        if (tlen[i] > text_cap[i]) {
            MLC_LOG_ERR(MOD, "field_too_long field=\"%s\" len=%zu max=%zu", text_name[i], tlen[i],
                        text_cap[i]);
            return MLC_ERR_TOO_BIG;
        }
        if (!utf8_valid((const uint8_t *)text[i], tlen[i])) {
            MLC_LOG_ERR(MOD, "field_not_utf8 field=\"%s\"", text_name[i]);
            return MLC_ERR_DATA;
        }
        total += 2 + tlen[i];
    }
    if (total > cap)
        return MLC_ERR_TOO_BIG;

    buf[0] = FORMAT_V1;
    buf[1] = (uint8_t)ev->type;
    buf[2] = ev->has_amount ? FLAG_AMOUNT : 0;
    buf[3] = ev->has_amount ? ev->amount.scale : 0;
    be_put(buf + 4, seq, 8);
    be_put(buf + 12, (uint64_t)ev->time_ms, 8);
    be_put(buf + 20, ev->has_amount ? (uint64_t)ev->amount.units : 0, 8);
    be_put(buf + 28, ev->division, 4);
    be_put(buf + 32, ev->line, 4);
    size_t o = FIXED_LEN;
    for (int i = 0; i < NTEXT; i++) {
        be_put(buf + o, tlen[i], 2);
        memcpy(buf + o + 2, text[i], tlen[i]);
        o += 2 + tlen[i];
    }
    memcpy(buf + o, prev_hash, MLC_AUDIT_HASH_LEN);
    int err = chain_hash(prev_hash, buf, o, buf + o + MLC_AUDIT_HASH_LEN);
    if (err)
        return err;
    return (int)total;
}

/* Parses the structure, strictly; the hash is checked elsewhere. */
static int decode(const uint8_t *b, size_t len, struct mlc_audit_record *r)
{
    char *dst[NTEXT];
    if (len < FIXED_LEN + 2 * NTEXT + 2 * MLC_AUDIT_HASH_LEN || len > MLC_AUDIT_RECORD_MAX)
        return MLC_ERR_DATA;
    if (b[0] != FORMAT_V1 || b[1] < MLC_AUDIT_NOTE || b[1] > MLC_AUDIT__LAST ||
        (b[2] & ~FLAG_AMOUNT) != 0)
        return MLC_ERR_DATA;
    memset(r, 0, sizeof(*r));
    r->type = (enum mlc_audit_type)b[1];
    r->has_amount = b[2] & FLAG_AMOUNT;
    r->seq = be_get(b + 4, 8);
    uint64_t t = be_get(b + 12, 8), units = be_get(b + 20, 8);
    if (r->seq == 0 || t > (uint64_t)INT64_MAX)
        return MLC_ERR_DATA;
    r->time_ms = (int64_t)t;
    if (r->has_amount) {
        if (b[3] > MLC_AMOUNT_MAX_SCALE || units == (uint64_t)1 << 63)
            return MLC_ERR_DATA;
        r->amount.units = (int64_t)units;
        r->amount.scale = b[3];
    } else if (b[3] != 0 || units != 0) {
        return MLC_ERR_DATA;  /* not canonical */
    }
    r->division = (uint32_t)be_get(b + 28, 4);
    r->line = (uint32_t)be_get(b + 32, 4);
    dst[0] = r->item_id; dst[1] = r->account_id; dst[2] = r->transaction_id;
    dst[3] = r->journal; dst[4] = r->statement; dst[5] = r->entry_id;
    dst[6] = r->rule; dst[7] = r->currency; dst[8] = r->detail;
    size_t o = FIXED_LEN;
    for (int i = 0; i < NTEXT; i++) {
        if (len - o < 2)
            return MLC_ERR_DATA;
        size_t n = (size_t)be_get(b + o, 2);
        o += 2;
        if (n > text_cap[i] || len - o < n || !utf8_valid(b + o, n))
            return MLC_ERR_DATA;
        memcpy(dst[i], b + o, n);
        dst[i][n] = '\0';
        o += n;
    }
    if (len - o != 2 * MLC_AUDIT_HASH_LEN)
        return MLC_ERR_DATA;
    memcpy(r->prev_hash, b + o, MLC_AUDIT_HASH_LEN);
    memcpy(r->hash, b + o + MLC_AUDIT_HASH_LEN, MLC_AUDIT_HASH_LEN);
    return MLC_OK;
}

int mlc_audit_decode(const void *val, size_t len, struct mlc_audit_record *out)
{
    if (!val || !out)
        return MLC_ERR_INTERNAL;
    return decode(val, len, out);
}

int mlc_audit_hash_ok(const void *val, size_t len)
{
    const uint8_t *b = val;
    uint8_t h[MLC_AUDIT_HASH_LEN];
    if (!b || len < FIXED_LEN + 2 * MLC_AUDIT_HASH_LEN)
        return 0;
    size_t body = len - 2 * MLC_AUDIT_HASH_LEN;
    if (chain_hash(b + body, b, body, h) != MLC_OK)
        return 0;
    return memcmp(h, b + body + MLC_AUDIT_HASH_LEN, MLC_AUDIT_HASH_LEN) == 0;
}

/* ---- append --------------------------------------------------------------------------------- */

int mlc_audit_head(struct mlc_txn *txn, uint64_t *seq, uint8_t hash[MLC_AUDIT_HASH_LEN])
{
    const void *v;
    size_t n;
    int err = mlc_store_get(txn, MLC_DB_META, MLC_AUDIT_HEAD_KEY, sizeof(MLC_AUDIT_HEAD_KEY) - 1,
                            &v, &n);
    if (err)
        return err;
    if (n != HEAD_LEN || be_get(v, 8) == 0)
        return MLC_ERR_DATA;
    if (seq)
        *seq = be_get(v, 8);
    if (hash)
        memcpy(hash, (const uint8_t *)v + 8, MLC_AUDIT_HASH_LEN);
    return MLC_OK;
}

/* The newest record's sequence number and hash (0 and zeros on an empty log), checked against
 * the anchor so that an append never papers over deleted or changed newest records. */
static int chain_tip(struct mlc_txn *txn, uint64_t *seq, uint8_t hash[MLC_AUDIT_HASH_LEN])
{
    const void *k, *v;
    size_t kl, vl;
    uint64_t hseq = 0;
    uint8_t hhash[MLC_AUDIT_HASH_LEN];
    struct mlc_audit_record rec;

    int herr = mlc_audit_head(txn, &hseq, hhash);
    if (herr && herr != MLC_ERR_NOTFOUND) {
        if (herr == MLC_ERR_DATA)
            MLC_LOG_ERR(MOD, "anchor_damaged what_to_do=\"run 'mlc audit verify'\"");
        return herr == MLC_ERR_DATA ? MLC_ERR_TAMPER : herr;
    }
    int err = mlc_store_last(txn, MLC_DB_AUDIT, &k, &kl, &v, &vl);
    if (err == MLC_ERR_NOTFOUND) {
        if (herr == MLC_OK) {
            MLC_LOG_ERR(MOD, "records_missing head_seq=%llu found=0 what_to_do=\"run 'mlc audit "
                        "verify'\"", (unsigned long long)hseq);
            return MLC_ERR_TAMPER;
        }
        *seq = 0;
        memset(hash, 0, MLC_AUDIT_HASH_LEN);
        return MLC_OK;
    }
    if (err)
        return err;
    if (kl != 8 || decode(v, vl, &rec) != MLC_OK || rec.seq != be_get(k, 8) ||
        !mlc_audit_hash_ok(v, vl)) {
        MLC_LOG_ERR(MOD, "newest_record_damaged what_to_do=\"run 'mlc audit verify'\"");
        return MLC_ERR_DATA;
    }
    if (herr == MLC_ERR_NOTFOUND || hseq != rec.seq ||
        memcmp(hhash, rec.hash, MLC_AUDIT_HASH_LEN) != 0) {
        MLC_LOG_ERR(MOD, "head_mismatch newest=%llu head_seq=%llu what_to_do=\"run 'mlc audit "
                    "verify'\"", (unsigned long long)rec.seq, (unsigned long long)hseq);
        return MLC_ERR_TAMPER;
    }
    *seq = rec.seq;
    memcpy(hash, rec.hash, MLC_AUDIT_HASH_LEN);
    return MLC_OK;
}

int mlc_audit_append_txn(struct mlc_txn *txn, const struct mlc_audit_event *ev, uint64_t *seq_out)
{
    uint8_t rec[MLC_AUDIT_RECORD_MAX], key[8], head[HEAD_LEN];
    uint8_t prev[MLC_AUDIT_HASH_LEN];
    uint64_t seq;
    struct mlc_audit_event e;
    int err, n;

    if (!txn || !ev)
        return MLC_ERR_INTERNAL;
    e = *ev;
    if (e.time_ms == 0)
        e.time_ms = mlc_time_now_ms();
    if ((err = chain_tip(txn, &seq, prev)) != MLC_OK)
        return err;
    if (seq == UINT64_MAX)
        return MLC_ERR_INTERNAL;
    seq++;
    if ((n = mlc_audit_encode(seq, &e, prev, rec, sizeof(rec))) < 0)
        return n;
    be_put(key, seq, 8);
    be_put(head, seq, 8);
    memcpy(head + 8, rec + n - MLC_AUDIT_HASH_LEN, MLC_AUDIT_HASH_LEN);
    if ((err = mlc_store_put(txn, MLC_DB_AUDIT, key, 8, rec, (size_t)n)) != MLC_OK)
        return err;
    if ((err = mlc_store_put(txn, MLC_DB_META, MLC_AUDIT_HEAD_KEY, sizeof(MLC_AUDIT_HEAD_KEY) - 1,
                             head, sizeof(head))) != MLC_OK)
        return err;
    if (seq_out)
        *seq_out = seq;
    return MLC_OK;
}

int mlc_audit_append(struct mlc_store *st, const struct mlc_audit_event *ev, uint64_t *seq_out)
{
    struct mlc_txn *txn = NULL;
    int err = MLC_OK;
    for (int attempt = 0; attempt < 2; attempt++) {
        if ((err = mlc_store_begin(st, 0, &txn)) != MLC_OK)
            return err;
        err = mlc_audit_append_txn(txn, ev, seq_out);
        if (err) {
            mlc_store_abort(txn);
            if (err != MLC_ERR_MAP_FULL)
                return err;
        } else if ((err = mlc_store_commit(txn)) != MLC_ERR_MAP_FULL) {
            return err;
        }
        txn = NULL;
        if (attempt == 0 && mlc_store_grow(st) != MLC_OK)
            return MLC_ERR_MAP_FULL;
    }
    return err;
}

/* ---- verify --------------------------------------------------------------------------------- */

struct verify_ctx {
    struct mlc_audit_report *rep;
    uint64_t expect;                  /* the next sequence number */
    uint8_t prev[MLC_AUDIT_HASH_LEN];
};

static int bad(struct mlc_audit_report *rep, uint64_t seq, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad(struct mlc_audit_report *rep, uint64_t seq, const char *fmt, ...)
{
    va_list ap;
    rep->ok = 0;
    rep->first_bad_seq = seq;
    va_start(ap, fmt);
    vsnprintf(rep->problem, sizeof(rep->problem), fmt, ap);
    va_end(ap);
    return 1;  /* stop the walk */
}

static int verify_one(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct verify_ctx *c = ctx;
    struct mlc_audit_report *rep = c->rep;
    struct mlc_audit_record r;
    unsigned long long e = (unsigned long long)c->expect;

    if (klen != 8)
        return bad(rep, c->expect, "a record with a key that is not a sequence number follows "
                   "record #%llu (something other than mlc wrote to the log)", e - 1);
    uint64_t k = be_get(key, 8);
    if (k != c->expect) {
        if (k < c->expect)  /* only #0 sorts before #1 */
            return bad(rep, k, "record #0 must not exist (something other than mlc wrote it)");
        if (c->expect == 1)
            return bad(rep, 1, "records #1 to #%llu are missing (removed from the start of the "
                       "log)", (unsigned long long)k - 1);
        return bad(rep, c->expect, "record #%llu is missing: the log jumps from #%llu to #%llu "
                   "(a record was removed)", e, e - 1, (unsigned long long)k);
    }
    if (decode(val, vlen, &r) != MLC_OK)
        return bad(rep, k, "record #%llu is damaged: its bytes are not a valid audit record", e);
    if (r.seq != k)
        return bad(rep, k, "record #%llu holds the contents of record #%llu (records were moved "
                   "or swapped)", e, (unsigned long long)r.seq);
    if (memcmp(r.prev_hash, c->prev, MLC_AUDIT_HASH_LEN) != 0)
        return bad(rep, k, "record #%llu does not follow record #%llu (one of them was changed, "
                   "or a record was replaced)", e, e - 1);
    if (!mlc_audit_hash_ok(val, vlen))
        return bad(rep, k, "record #%llu was changed after it was written (its hash does not "
                   "match its contents)", e);
    memcpy(c->prev, r.hash, MLC_AUDIT_HASH_LEN);
    rep->records++;
    c->expect++;
    return 0;
}

int mlc_audit_verify(struct mlc_store *st, struct mlc_audit_report *rep)
{
    struct mlc_txn *txn = NULL;
    struct verify_ctx c;
    uint64_t hseq = 0;
    uint8_t hhash[MLC_AUDIT_HASH_LEN];
    int err;

    if (!st || !rep)
        return MLC_ERR_INTERNAL;
    memset(rep, 0, sizeof(*rep));
    rep->ok = 1;
    memset(&c, 0, sizeof(c));
    c.rep = rep;
    c.expect = 1;
    if ((err = mlc_store_begin(st, 1, &txn)) != MLC_OK)
        return err;
    if ((err = mlc_store_each(txn, MLC_DB_AUDIT, NULL, 0, verify_one, &c)) != MLC_OK)
        goto out;
    if (!rep->ok)
        goto out;
    uint64_t last = c.expect - 1;
    rep->head_seq = last;
    memcpy(rep->head_hash, c.prev, MLC_AUDIT_HASH_LEN);
    int herr = mlc_audit_head(txn, &hseq, hhash);
    if (herr == MLC_ERR_NOTFOUND) {
        if (last > 0)
            bad(rep, last, "the log's anchor (%s) is missing, so removed newest records could "
                "not be detected", MLC_AUDIT_HEAD_KEY);
    } else if (herr == MLC_ERR_DATA) {
        bad(rep, last ? last : 1, "the log's anchor (%s) is damaged", MLC_AUDIT_HEAD_KEY);
    } else if (herr) {
        err = herr;
    } else if (hseq == last + 1) {
        bad(rep, hseq, "the newest record #%llu was removed from the end of the log",
            (unsigned long long)hseq);
    } else if (hseq > last) {
        bad(rep, last + 1, "records #%llu to #%llu were removed from the end of the log",
            (unsigned long long)last + 1, (unsigned long long)hseq);
    } else if (hseq < last) {
        bad(rep, hseq + 1, "records after #%llu were added without the anchor (%s) knowing",
            (unsigned long long)hseq, MLC_AUDIT_HEAD_KEY);
    } else if (memcmp(hhash, c.prev, MLC_AUDIT_HASH_LEN) != 0) {
        bad(rep, last, "record #%llu or the log's anchor (%s) was changed",
            (unsigned long long)last, MLC_AUDIT_HEAD_KEY);
    }
out:
    mlc_store_abort(txn);
    return err;
}

/* ---- dates ---------------------------------------------------------------------------------- */

int mlc_audit_parse_date(const char *s, int64_t *ms)
{
    static const unsigned mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (!s || !ms || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return MLC_ERR_DATA;
    unsigned v[3] = { 0, 0, 0 };
    const int start[3] = { 0, 5, 8 }, len[3] = { 4, 2, 2 };
    for (int f = 0; f < 3; f++)
        for (int i = 0; i < len[f]; i++) {
            char ch = s[start[f] + i];
            if (ch < '0' || ch > '9')
                return MLC_ERR_DATA;
            v[f] = v[f] * 10 + (unsigned)(ch - '0');
        }
    unsigned y = v[0], m = v[1], d = v[2];
    if (y < 1970 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
        return MLC_ERR_DATA;
    if (m == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        return MLC_ERR_DATA;
    *ms = mlc_days_from_civil(y, m, d) * MS_PER_DAY;
    return MLC_OK;
}

char *mlc_audit_format_time(int64_t ms, char *buf, size_t cap)
{
    if (!buf || cap == 0)
        return buf;
    if (ms < 0) {
        snprintf(buf, cap, "?");
        return buf;
    }
    int64_t days = ms / MS_PER_DAY, rem = ms % MS_PER_DAY, y;
    unsigned m, d;
    mlc_civil_from_days(days, &y, &m, &d);
    snprintf(buf, cap, "%04lld-%02u-%02uT%02u:%02u:%02u.%03uZ", (long long)y, m, d,
             (unsigned)(rem / 3600000), (unsigned)(rem / 60000 % 60), (unsigned)(rem / 1000 % 60),
             (unsigned)(rem % 1000));
    return buf;
}

/* ---- export --------------------------------------------------------------------------------- */

struct export_ctx {
    int64_t from, to;
    enum mlc_audit_format fmt;
    struct mlc_buf *out;
    uint64_t count;
    uint64_t bad_seq;
};

static void hex(const uint8_t *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

/* One CSV cell from text that came from outside (a bank, a person). Cells a spreadsheet would
 * read as a formula (= + - @, and tab or CR which some strip first) get a leading ' (OWASP
 * "CSV injection"); then RFC 4180 quoting when the cell holds , " CR or LF. */
static int csv_text(struct mlc_buf *b, const char *s, int last)
{
    int err = MLC_OK;
    int guard = s[0] && strchr("=+-@\t\r", s[0]) != NULL;
    int quote = strpbrk(s, ",\"\r\n") != NULL;
    if (quote)
        err = mlc_buf_append(b, "\"", 1);
    if (!err && guard)
        err = mlc_buf_append(b, "'", 1);
    for (const char *p = s; !err && *p; p++) {
        const char *q = strchr(p, '"');
        size_t n = q ? (size_t)(q - p) + 1 : strlen(p);
        err = mlc_buf_append(b, p, n);
        if (!err && q)
            err = mlc_buf_append(b, "\"", 1);  /* a quote inside a quoted cell is doubled */
        p += n - 1;
    }
    if (!err && quote)
        err = mlc_buf_append(b, "\"", 1);
    if (!err)
        err = mlc_buf_append(b, last ? "\r\n" : ",", last ? 2 : 1);
    return err;
}

/* Numbers we format ourselves: never quoted, never guarded (a '-' here is a sign). */
static int csv_number(struct mlc_buf *b, const char *s)
{
    int err = mlc_buf_append_str(b, s);
    return err ? err : mlc_buf_append(b, ",", 1);
}

static const char csv_header[] =
    "seq,time_utc,event,plaid_item_id,plaid_account_id,plaid_transaction_id,exact_division,"
    "exact_journal,statement,exact_entry_id,exact_line,rule,amount,currency,detail,hash\r\n";

static void u32_text(uint32_t v, char *buf, size_t cap)
{
    if (v)
        snprintf(buf, cap, "%lu", (unsigned long)v);
    else
        buf[0] = '\0';
}

static int export_csv(struct mlc_buf *b, const struct mlc_audit_record *r, const char *time,
                      const char *amount, const char *hash)
{
    char seq[24], div[16], line[16];
    int err;
    snprintf(seq, sizeof(seq), "%llu", (unsigned long long)r->seq);
    u32_text(r->division, div, sizeof(div));
    u32_text(r->line, line, sizeof(line));
    if ((err = csv_number(b, seq)) || (err = csv_number(b, time)) ||
        (err = csv_text(b, mlc_audit_type_name(r->type), 0)) ||
        (err = csv_text(b, r->item_id, 0)) || (err = csv_text(b, r->account_id, 0)) ||
        (err = csv_text(b, r->transaction_id, 0)) || (err = csv_number(b, div)) ||
        (err = csv_text(b, r->journal, 0)) || (err = csv_text(b, r->statement, 0)) ||
        (err = csv_text(b, r->entry_id, 0)) || (err = csv_number(b, line)) ||
        (err = csv_text(b, r->rule, 0)) || (err = csv_number(b, amount)) ||
        (err = csv_text(b, r->currency, 0)) || (err = csv_text(b, r->detail, 0)) ||
        (err = csv_text(b, hash, 1)))
        return err;
    return MLC_OK;
}

/* cJSON copies the name, which can fail too: then the item is not added and must be freed here,
 * or the export would silently lack a field. */
static int json_add(cJSON *o, const char *name, cJSON *item)
{
    if (!item)
        return MLC_ERR_NOMEM;
    if (!cJSON_AddItemToObject(o, name, item)) {
        cJSON_Delete(item);
        return MLC_ERR_NOMEM;
    }
    return MLC_OK;
}

static int json_str(cJSON *o, const char *name, const char *v)
{
    return json_add(o, name, v[0] ? cJSON_CreateString(v) : cJSON_CreateNull());
}

static int json_num(cJSON *o, const char *name, double v, int present)
{
    return json_add(o, name, present ? cJSON_CreateNumber(v) : cJSON_CreateNull());
}

static int export_json(struct mlc_buf *b, const struct mlc_audit_record *r, const char *time,
                       const char *amount, const char *hash, int first)
{
    cJSON *o = cJSON_CreateObject();
    char *text = NULL;
    int err = MLC_ERR_NOMEM;
    if (!o)
        goto out;
    /* seq stays exact as a JSON number up to 2^53 records, far beyond any device's life. */
    if ((err = json_num(o, "seq", (double)r->seq, 1)) || (err = json_str(o, "time_utc", time)) ||
        (err = json_str(o, "event", mlc_audit_type_name(r->type))) ||
        (err = json_str(o, "plaid_item_id", r->item_id)) ||
        (err = json_str(o, "plaid_account_id", r->account_id)) ||
        (err = json_str(o, "plaid_transaction_id", r->transaction_id)) ||
        (err = json_num(o, "exact_division", r->division, r->division != 0)) ||
        (err = json_str(o, "exact_journal", r->journal)) ||
        (err = json_str(o, "statement", r->statement)) ||
        (err = json_str(o, "exact_entry_id", r->entry_id)) ||
        (err = json_num(o, "exact_line", r->line, r->line != 0)) ||
        (err = json_str(o, "rule", r->rule)) || (err = json_str(o, "amount", amount)) ||
        (err = json_str(o, "currency", r->currency)) || (err = json_str(o, "detail", r->detail)) ||
        (err = json_str(o, "hash", hash)))
        goto out;
    err = MLC_ERR_NOMEM;
    if (!(text = cJSON_PrintUnformatted(o)))
        goto out;
    if ((err = mlc_buf_append_str(b, first ? "\n" : ",\n")) == MLC_OK)
        err = mlc_buf_append_str(b, text);
out:
    if (text)
        cJSON_free(text);
    cJSON_Delete(o);
    return err;
}

static int export_one(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct export_ctx *c = ctx;
    struct mlc_audit_record r;
    char time[40], amount[MLC_AMOUNT_STRMAX], hash[2 * MLC_AUDIT_HASH_LEN + 1];

    if (klen != 8 || decode(val, vlen, &r) != MLC_OK) {
        c->bad_seq = klen == 8 ? be_get(key, 8) : 0;
        return MLC_ERR_DATA;
    }
    if (r.time_ms < c->from || r.time_ms > c->to)
        return 0;
    mlc_audit_format_time(r.time_ms, time, sizeof(time));
    amount[0] = '\0';
    if (r.has_amount && mlc_amount_format(r.amount, 0, amount, sizeof(amount)) < 0)
        return MLC_ERR_INTERNAL;
    hex(r.hash, MLC_AUDIT_HASH_LEN, hash);
    int err = c->fmt == MLC_AUDIT_CSV ? export_csv(c->out, &r, time, amount, hash)
                                      : export_json(c->out, &r, time, amount, hash, c->count == 0);
    if (err)
        return err;
    c->count++;
    return 0;
}

int mlc_audit_export(struct mlc_store *st, int64_t from_ms, int64_t to_ms,
                     enum mlc_audit_format fmt, struct mlc_buf *out, uint64_t *count)
{
    struct mlc_txn *txn = NULL;
    struct export_ctx c = { .from = from_ms, .to = to_ms, .fmt = fmt, .out = out };
    int err;

    if (!st || !out || (fmt != MLC_AUDIT_CSV && fmt != MLC_AUDIT_JSON))
        return MLC_ERR_INTERNAL;
    err = mlc_buf_append_str(out, fmt == MLC_AUDIT_CSV ? csv_header : "[");
    if (err)
        return err;
    if ((err = mlc_store_begin(st, 1, &txn)) != MLC_OK)
        return err;
    err = mlc_store_each(txn, MLC_DB_AUDIT, NULL, 0, export_one, &c);
    mlc_store_abort(txn);
    if (err == MLC_ERR_DATA)
        MLC_LOG_ERR(MOD, "record_damaged seq=%llu what_to_do=\"run 'mlc audit verify'\"",
                    (unsigned long long)c.bad_seq);
    if (!err && fmt == MLC_AUDIT_JSON)
        err = mlc_buf_append_str(out, c.count ? "\n]\n" : "]\n");
    if (count)
        *count = c.count;
    return err;
}
