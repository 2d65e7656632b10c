/* The audit trail: what an accountant and an auditor rely on. Every appended event can be read
 * back; any change, removal, reordering or truncation is found and named by its record number;
 * an aborted state change leaves no audit record; exports hold exactly the requested days, in
 * CSV a spreadsheet reads safely and JSON a program can parse. */
#include "mlc_test_util.h"
#include "mlc_alloc.h"
#include "mlc_audit.h"
#include "mlc_buf.h"
#include "mlc_cmd_audit.h"
#include "mlc_err.h"
#include "mlc_log.h"
#include "mlc_platform.h"
#include "mlc_store.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JAN31_LAST_MS 1769903999999LL  /* 2026-01-31T23:59:59.999Z */
#define FEB01_MS 1769904000000LL        /* 2026-02-01T00:00:00.000Z */
#define FEB28_LAST_MS 1772323199999LL   /* 2026-02-28T23:59:59.999Z */
#define MAR01_MS 1772323200000LL        /* 2026-03-01T00:00:00.000Z */
#define HEAD MLC_AUDIT_HEAD_KEY, (sizeof(MLC_AUDIT_HEAD_KEY) - 1)

struct fixture {
    char *dir;
    struct mlc_store *st;
};

static struct fixture *open_fixture(const char *tag)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->dir = strdup(mlc_test_tmpdir(tag));
    assert_non_null(f->dir);
    assert_int_equal(mlc_store_open(&f->st, f->dir, NULL), MLC_OK);
    return f;
}

static void close_fixture(struct fixture *f)
{
    mlc_store_close(f->st);
    mlc_test_rmtree(f->dir);
    free(f->dir);
    free(f);
}

static void seq_key(uint64_t seq, uint8_t key[8])
{
    for (int i = 0; i < 8; i++)
        key[i] = (uint8_t)(seq >> (56 - 8 * i));
}

/* A posted line, as the sync engine would describe it. */
static struct mlc_audit_event posted(int64_t t, const char *detail)
{
    struct mlc_audit_event ev = {
        .type = MLC_AUDIT_POSTED, .time_ms = t, .item_id = "item-9", .account_id = "acc-1",
        .transaction_id = "tx-42", .division = 4471372, .journal = "20", .statement = "st-7",
        .entry_id = "8d6b0a52-6b6f-4f4a-9d2c-0c8f1f3a1b2c", .line = 3, .rule = "rent",
        .has_amount = 1, .amount = { -4250, 2 }, .currency = "EUR", .detail = detail,
    };
    return ev;
}

static void append_n(struct mlc_store *st, uint64_t first, uint64_t n, int64_t t0)
{
    struct mlc_txn *t;
    char detail[64];
    assert_int_equal(mlc_store_begin(st, 0, &t), MLC_OK);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t seq = 0;
        snprintf(detail, sizeof(detail), "event %llu", (unsigned long long)(first + i));
        struct mlc_audit_event ev = posted(t0 + (int64_t)i, detail);
        assert_int_equal(mlc_audit_append_txn(t, &ev, &seq), MLC_OK);
        assert_true(seq == first + i);
    }
    assert_int_equal(mlc_store_commit(t), MLC_OK);
}

static void verify_expect(struct mlc_store *st, int ok, uint64_t bad_seq)
{
    struct mlc_audit_report rep;
    assert_int_equal(mlc_audit_verify(st, &rep), MLC_OK);
    if (rep.ok != ok || (!ok && rep.first_bad_seq != bad_seq))
        fail_msg("verify: ok=%d bad=%llu problem=%s (wanted ok=%d bad=%llu)", rep.ok,
                 (unsigned long long)rep.first_bad_seq, rep.problem, ok,
                 (unsigned long long)bad_seq);
    if (!ok)
        assert_true(rep.problem[0] != '\0');
}

/* Copies record seq's stored bytes into buf; returns the length. */
static size_t get_record(struct mlc_store *st, uint64_t seq, uint8_t *buf)
{
    struct mlc_txn *t;
    uint8_t key[8];
    const void *v;
    size_t n;
    seq_key(seq, key);
    assert_int_equal(mlc_store_begin(st, 1, &t), MLC_OK);
    assert_int_equal(mlc_store_get(t, MLC_DB_AUDIT, key, 8, &v, &n), MLC_OK);
    assert_true(n <= MLC_AUDIT_RECORD_MAX);
    memcpy(buf, v, n);
    mlc_store_abort(t);
    return n;
}

static void put_raw(struct mlc_store *st, enum mlc_db db, const void *key, size_t kl,
                    const void *val, size_t vl)
{
    struct mlc_txn *t;
    assert_int_equal(mlc_store_begin(st, 0, &t), MLC_OK);
    assert_int_equal(mlc_store_put(t, db, key, kl, val, vl), MLC_OK);
    assert_int_equal(mlc_store_commit(t), MLC_OK);
}

static void put_record(struct mlc_store *st, uint64_t seq, const uint8_t *val, size_t n)
{
    uint8_t key[8];
    seq_key(seq, key);
    put_raw(st, MLC_DB_AUDIT, key, 8, val, n);
}

static void del_record(struct mlc_store *st, uint64_t seq)
{
    struct mlc_txn *t;
    uint8_t key[8];
    seq_key(seq, key);
    assert_int_equal(mlc_store_begin(st, 0, &t), MLC_OK);
    assert_int_equal(mlc_store_del(t, MLC_DB_AUDIT, key, 8), MLC_OK);
    assert_int_equal(mlc_store_commit(t), MLC_OK);
}

/* ---- tests ---------------------------------------------------------------------------------- */

static void many_records_round_trip(void **state)
{
    (void)state;
    struct fixture *f = open_fixture("audit-many");
    struct mlc_audit_report rep;
    verify_expect(f->st, 1, 0);  /* an empty log is intact */

    /* 10,000 records: batches inside caller transactions (as the engine does) and single ones. */
    for (uint64_t b = 0; b < 10; b++)
        append_n(f->st, b * 999 + 1, 999, FEB01_MS + (int64_t)(b * 999));
    for (uint64_t i = 9991; i <= 10000; i++) {
        struct mlc_audit_event ev = { .type = MLC_AUDIT_NOTE, .time_ms = MAR01_MS,
                                      .detail = "agent started" };
        uint64_t seq = 0;
        assert_int_equal(mlc_audit_append(f->st, &ev, &seq), MLC_OK);
        assert_true(seq == i);
    }
    assert_int_equal(mlc_audit_verify(f->st, &rep), MLC_OK);
    assert_true(rep.ok);
    assert_true(rep.records == 10000 && rep.head_seq == 10000);

    /* What was appended is what is read back, and the chain links each record to the one
     * before it; the anchor names the newest record. */
    uint8_t buf[MLC_AUDIT_RECORD_MAX], prev_hash[MLC_AUDIT_HASH_LEN];
    struct mlc_audit_record r;
    size_t n = get_record(f->st, 4242, buf);
    assert_int_equal(mlc_audit_decode(buf, n, &r), MLC_OK);
    assert_true(r.seq == 4242 && r.type == MLC_AUDIT_POSTED);
    assert_true(r.time_ms == FEB01_MS + 4241);
    assert_string_equal(r.detail, "event 4242");
    assert_string_equal(r.entry_id, "8d6b0a52-6b6f-4f4a-9d2c-0c8f1f3a1b2c");
    assert_true(r.division == 4471372 && r.line == 3 && r.has_amount);
    assert_true(r.amount.units == -4250 && r.amount.scale == 2);
    assert_string_equal(r.currency, "EUR");
    memcpy(prev_hash, r.hash, sizeof(prev_hash));
    n = get_record(f->st, 4243, buf);
    assert_int_equal(mlc_audit_decode(buf, n, &r), MLC_OK);
    assert_memory_equal(r.prev_hash, prev_hash, MLC_AUDIT_HASH_LEN);

    struct mlc_txn *t;
    uint64_t hseq;
    uint8_t hhash[MLC_AUDIT_HASH_LEN];
    assert_int_equal(mlc_store_begin(f->st, 1, &t), MLC_OK);
    assert_int_equal(mlc_audit_head(t, &hseq, hhash), MLC_OK);
    mlc_store_abort(t);
    assert_true(hseq == 10000);
    assert_memory_equal(hhash, rep.head_hash, MLC_AUDIT_HASH_LEN);

    /* The chain survives closing and reopening the store. */
    mlc_store_close(f->st);
    assert_int_equal(mlc_store_open(&f->st, f->dir, NULL), MLC_OK);
    verify_expect(f->st, 1, 0);
    close_fixture(f);
}

/* A full map is grown and the append redone: logging never silently drops a record. */
static void append_grows_full_map(void **state)
{
    (void)state;
    char *dir = strdup(mlc_test_tmpdir("audit-grow"));
    struct mlc_store_opts opts = { .map_size = MLC_STORE_MAP_MIN, .map_size_max = 8u << 20 };
    struct mlc_store *st = NULL;
    char detail[MLC_AUDIT_DETAIL_MAX + 1];
    assert_non_null(dir);
    memset(detail, 'd', MLC_AUDIT_DETAIL_MAX);
    detail[MLC_AUDIT_DETAIL_MAX] = '\0';
    assert_int_equal(mlc_store_open(&st, dir, &opts), MLC_OK);
    for (int i = 1; i <= 100; i++) {  /* ~190 KiB: three times the map */
        struct mlc_audit_event ev = posted(FEB01_MS + i, detail);
        uint64_t seq = 0;
        assert_int_equal(mlc_audit_append(st, &ev, &seq), MLC_OK);
        assert_true(seq == (uint64_t)i);
    }
    struct mlc_audit_report rep;
    assert_int_equal(mlc_audit_verify(st, &rep), MLC_OK);
    assert_true(rep.ok && rep.records == 100);
    mlc_store_close(st);
    mlc_test_rmtree(dir);
    free(dir);
}

static void first_record_chains_on_zero(void **state)
{
    (void)state;
    struct fixture *f = open_fixture("audit-first");
    struct mlc_audit_event ev = posted(FEB01_MS, "first");
    uint8_t buf[MLC_AUDIT_RECORD_MAX], zero[MLC_AUDIT_HASH_LEN] = { 0 };
    struct mlc_audit_record r;
    assert_int_equal(mlc_audit_append(f->st, &ev, NULL), MLC_OK);
    size_t n = get_record(f->st, 1, buf);
    assert_int_equal(mlc_audit_decode(buf, n, &r), MLC_OK);
    assert_memory_equal(r.prev_hash, zero, MLC_AUDIT_HASH_LEN);
    assert_true(mlc_audit_hash_ok(buf, n));
    /* Encoding the same event at the same place gives the same bytes (canonical form). */
    uint8_t again[MLC_AUDIT_RECORD_MAX];
    assert_int_equal(mlc_audit_encode(1, &ev, zero, again, sizeof(again)), (int)n);
    assert_memory_equal(again, buf, n);
    close_fixture(f);
}

static void changed_record_detected(void **state)
{
    (void)state;
    struct fixture *f = open_fixture("audit-changed");
    append_n(f->st, 1, 20, FEB01_MS);
    uint8_t orig[MLC_AUDIT_RECORD_MAX], buf[MLC_AUDIT_RECORD_MAX];
    size_t n = get_record(f->st, 7, orig);

    /* Someone edits the amount in place: the record's own hash no longer matches. */
    memcpy(buf, orig, n);
    buf[27] ^= 0x01;  /* low byte of the amount */
    put_record(f->st, 7, buf, n);
    verify_expect(f->st, 0, 7);
    put_record(f->st, 7, orig, n);
    verify_expect(f->st, 1, 0);

    /* Someone rewrites record 7 properly hashed but with another detail: record 8 no longer
     * follows it. */
    struct mlc_audit_record r;
    assert_int_equal(mlc_audit_decode(orig, n, &r), MLC_OK);
    struct mlc_audit_event ev = posted(r.time_ms, "event 7, edited");
    int m = mlc_audit_encode(7, &ev, r.prev_hash, buf, sizeof(buf));
    assert_true(m > 0);
    put_record(f->st, 7, buf, (size_t)m);
    verify_expect(f->st, 0, 8);
    put_record(f->st, 7, orig, n);

    /* The newest record rewritten and rehashed: only the anchor catches it. */
    n = get_record(f->st, 20, orig);
    assert_int_equal(mlc_audit_decode(orig, n, &r), MLC_OK);
    ev = posted(r.time_ms, "event 20, edited");
    m = mlc_audit_encode(20, &ev, r.prev_hash, buf, sizeof(buf));
    put_record(f->st, 20, buf, (size_t)m);
    verify_expect(f->st, 0, 20);
    /* ... and the agent refuses to append on top of it, which would hide the change. */
    struct mlc_audit_event note = { .type = MLC_AUDIT_NOTE, .time_ms = FEB01_MS };
    assert_int_equal(mlc_audit_append(f->st, &note, NULL), MLC_ERR_TAMPER);
    /* The same for the newest record edited in place (hash left alone). */
    memcpy(buf, orig, n);
    buf[27] ^= 0x01;
    put_record(f->st, 20, buf, n);
    verify_expect(f->st, 0, 20);
    assert_int_equal(mlc_audit_append(f->st, &note, NULL), MLC_ERR_DATA);
    put_record(f->st, 20, orig, n);
    assert_int_equal(mlc_audit_append(f->st, &note, NULL), MLC_OK);
    verify_expect(f->st, 1, 0);

    /* Bytes that are no record at all. */
    put_record(f->st, 5, (const uint8_t *)"garbage", 7);
    verify_expect(f->st, 0, 5);
    close_fixture(f);
}

static void removed_and_reordered_detected(void **state)
{
    (void)state;
    struct fixture *f = open_fixture("audit-removed");
    append_n(f->st, 1, 10, FEB01_MS);
    uint8_t r3[MLC_AUDIT_RECORD_MAX], r4[MLC_AUDIT_RECORD_MAX], r1[MLC_AUDIT_RECORD_MAX];
    size_t n1 = get_record(f->st, 1, r1);

    /* Removed from the middle. */
    del_record(f->st, 5);
    verify_expect(f->st, 0, 5);
    /* Removed from the start. */
    del_record(f->st, 1);
    verify_expect(f->st, 0, 1);
    put_record(f->st, 1, r1, n1);

    struct fixture *g = open_fixture("audit-swapped");
    append_n(g->st, 1, 10, FEB01_MS);
    size_t n3 = get_record(g->st, 3, r3), n4 = get_record(g->st, 4, r4);
    /* Two records swapped. */
    put_record(g->st, 3, r4, n4);
    put_record(g->st, 4, r3, n3);
    verify_expect(g->st, 0, 3);
    struct mlc_audit_report rep;
    assert_int_equal(mlc_audit_verify(g->st, &rep), MLC_OK);
    assert_non_null(strstr(rep.problem, "swapped"));  /* says what happened */
    put_record(g->st, 3, r3, n3);
    put_record(g->st, 4, r4, n4);
    verify_expect(g->st, 1, 0);
    close_fixture(g);
    close_fixture(f);
}

static void truncated_tail_and_anchor_detected(void **state)
{
    (void)state;
    struct fixture *f = open_fixture("audit-tail");
    append_n(f->st, 1, 10, FEB01_MS);
    /* The newest record deleted: a plain chain would still look fine; the anchor does not. */
    del_record(f->st, 10);
    verify_expect(f->st, 0, 10);
    /* Appending now would overwrite the anchor and hide the loss: refused. */
    struct mlc_audit_event note = { .type = MLC_AUDIT_NOTE, .time_ms = FEB01_MS };
    assert_int_equal(mlc_audit_append(f->st, &note, NULL), MLC_ERR_TAMPER);
    del_record(f->st, 9);
    verify_expect(f->st, 0, 9);

    /* Every record deleted. */
    for (uint64_t s = 1; s <= 8; s++)
        del_record(f->st, s);
    verify_expect(f->st, 0, 1);
    assert_int_equal(mlc_audit_append(f->st, &note, NULL), MLC_ERR_TAMPER);
    close_fixture(f);

    /* The anchor itself changed, bumped, damaged or deleted. */
    f = open_fixture("audit-anchor");
    append_n(f->st, 1, 10, FEB01_MS);
    struct mlc_txn *t;
    const void *v;
    size_t n;
    uint8_t head[40], bad[40];
    assert_int_equal(mlc_store_begin(f->st, 1, &t), MLC_OK);
    assert_int_equal(mlc_store_get(t, MLC_DB_META, HEAD, &v, &n), MLC_OK);
    assert_int_equal(n, sizeof(head));
    memcpy(head, v, n);
    mlc_store_abort(t);

    memcpy(bad, head, sizeof(bad));
    bad[39] ^= 0x80;  /* hash */
    put_raw(f->st, MLC_DB_META, HEAD, bad, sizeof(bad));
    verify_expect(f->st, 0, 10);
    memcpy(bad, head, sizeof(bad));
    bad[7] = 11;      /* claims one more record than there is */
    put_raw(f->st, MLC_DB_META, HEAD, bad, sizeof(bad));
    verify_expect(f->st, 0, 11);
    bad[7] = 9;       /* claims one fewer */
    put_raw(f->st, MLC_DB_META, HEAD, bad, sizeof(bad));
    verify_expect(f->st, 0, 10);
    put_raw(f->st, MLC_DB_META, HEAD, bad, 5);
    verify_expect(f->st, 0, 10);
    assert_int_equal(mlc_audit_append(f->st, &note, NULL), MLC_ERR_TAMPER);
    assert_int_equal(mlc_store_begin(f->st, 0, &t), MLC_OK);
    assert_int_equal(mlc_store_del(t, MLC_DB_META, HEAD), MLC_OK);
    assert_int_equal(mlc_store_commit(t), MLC_OK);
    verify_expect(f->st, 0, 10);
    assert_int_equal(mlc_audit_append(f->st, &note, NULL), MLC_ERR_TAMPER);

    put_raw(f->st, MLC_DB_META, HEAD, head, sizeof(head));
    verify_expect(f->st, 1, 0);
    close_fixture(f);
}

static void aborted_txn_leaves_nothing(void **state)
{
    (void)state;
    struct fixture *f = open_fixture("audit-abort");
    struct mlc_txn *t;
    const void *v;
    size_t n;
    struct mlc_audit_event ev = posted(FEB01_MS, "posted line 3");

    /* The state change and its audit record in one transaction that is abandoned. */
    assert_int_equal(mlc_store_begin(f->st, 0, &t), MLC_OK);
    assert_int_equal(mlc_store_put(t, MLC_DB_POSTINGS, "st-7", 4, "posted", 6), MLC_OK);
    assert_int_equal(mlc_audit_append_txn(t, &ev, NULL), MLC_OK);
    mlc_store_abort(t);

    struct mlc_audit_report rep;
    assert_int_equal(mlc_audit_verify(f->st, &rep), MLC_OK);
    assert_true(rep.ok && rep.records == 0);
    assert_int_equal(mlc_store_begin(f->st, 1, &t), MLC_OK);
    assert_int_equal(mlc_store_last(t, MLC_DB_AUDIT, NULL, NULL, &v, &n), MLC_ERR_NOTFOUND);
    assert_int_equal(mlc_audit_head(t, NULL, NULL), MLC_ERR_NOTFOUND);
    mlc_store_abort(t);

    /* Committed, both are there and the record is #1 (nothing was skipped). */
    uint64_t seq = 0;
    assert_int_equal(mlc_store_begin(f->st, 0, &t), MLC_OK);
    assert_int_equal(mlc_store_put(t, MLC_DB_POSTINGS, "st-7", 4, "posted", 6), MLC_OK);
    assert_int_equal(mlc_audit_append_txn(t, &ev, &seq), MLC_OK);
    assert_int_equal(mlc_store_commit(t), MLC_OK);
    assert_true(seq == 1);
    assert_int_equal(mlc_store_begin(f->st, 1, &t), MLC_OK);
    assert_int_equal(mlc_store_get(t, MLC_DB_POSTINGS, "st-7", 4, &v, &n), MLC_OK);
    mlc_store_abort(t);
    verify_expect(f->st, 1, 0);

    /* A read-only transaction cannot append. */
    assert_int_equal(mlc_store_begin(f->st, 1, &t), MLC_OK);
    assert_int_equal(mlc_audit_append_txn(t, &ev, NULL), MLC_ERR_INTERNAL);
    mlc_store_abort(t);
    close_fixture(f);
}

static void event_fields_checked(void **state)
{
    (void)state;
    uint8_t buf[MLC_AUDIT_RECORD_MAX], zero[MLC_AUDIT_HASH_LEN] = { 0 };
    struct mlc_audit_record r;
    char id[MLC_AUDIT_ID_MAX + 2];
    struct mlc_audit_event ev = posted(FEB01_MS, NULL);

    memset(id, 'a', sizeof(id) - 1);
    id[sizeof(id) - 1] = '\0';
    ev.transaction_id = id;  /* one byte over */
    assert_int_equal(mlc_audit_encode(1, &ev, zero, buf, sizeof(buf)), MLC_ERR_TOO_BIG);
    id[MLC_AUDIT_ID_MAX] = '\0';  /* exactly at the cap */
    assert_true(mlc_audit_encode(1, &ev, zero, buf, sizeof(buf)) > 0);
    ev.transaction_id = "bad\xff";
    assert_int_equal(mlc_audit_encode(1, &ev, zero, buf, sizeof(buf)), MLC_ERR_DATA);
    ev = posted(FEB01_MS, NULL);
    ev.type = (enum mlc_audit_type)0;
    assert_int_equal(mlc_audit_encode(1, &ev, zero, buf, sizeof(buf)), MLC_ERR_DATA);
    ev.type = (enum mlc_audit_type)(MLC_AUDIT__LAST + 1);
    assert_int_equal(mlc_audit_encode(1, &ev, zero, buf, sizeof(buf)), MLC_ERR_DATA);
    ev = posted(FEB01_MS, NULL);
    ev.amount.scale = MLC_AMOUNT_MAX_SCALE + 1;
    assert_int_equal(mlc_audit_encode(1, &ev, zero, buf, sizeof(buf)), MLC_ERR_DATA);
    ev = posted(-1, NULL);
    assert_int_equal(mlc_audit_encode(1, &ev, zero, buf, sizeof(buf)), MLC_ERR_DATA);

    /* A detail with a stray byte is repaired, not refused; a long one is cut visibly. */
    ev = posted(FEB01_MS, "Caf\xe9 \xc3\xa9t\xc3\xa9");
    int n = mlc_audit_encode(1, &ev, zero, buf, sizeof(buf));
    assert_true(n > 0);
    assert_int_equal(mlc_audit_decode(buf, (size_t)n, &r), MLC_OK);
    assert_string_equal(r.detail, "Caf? \xc3\xa9t\xc3\xa9");
    char *longd = malloc(5000);
    assert_non_null(longd);
    for (int i = 0; i < 4999; i++)
        longd[i] = (i % 3 == 2) ? 'x' : (i % 3 == 0 ? '\xc3' : '\xa9');  /* "éx" repeated */
    longd[4999] = '\0';
    ev = posted(FEB01_MS, longd);
    n = mlc_audit_encode(1, &ev, zero, buf, sizeof(buf));
    free(longd);
    assert_true(n > 0);
    assert_int_equal(mlc_audit_decode(buf, (size_t)n, &r), MLC_OK);
    size_t dl = strlen(r.detail);
    assert_true(dl <= MLC_AUDIT_DETAIL_MAX && dl >= MLC_AUDIT_DETAIL_MAX - 5);
    assert_string_equal(r.detail + dl - 3, "...");

    /* Absent amount: stored and read back as absent. */
    struct mlc_audit_event note = { .type = MLC_AUDIT_CONSENT, .time_ms = 1,
                                    .item_id = "item-9", .detail = "consent expires in 7 days" };
    n = mlc_audit_encode(9, &note, zero, buf, sizeof(buf));
    assert_int_equal(mlc_audit_decode(buf, (size_t)n, &r), MLC_OK);
    assert_true(!r.has_amount && r.seq == 9 && r.type == MLC_AUDIT_CONSENT && r.division == 0);
    assert_string_equal(r.entry_id, "");
    assert_string_equal(mlc_audit_type_name(MLC_AUDIT_BALANCE), "balance_written");
    assert_string_equal(mlc_audit_type_name((enum mlc_audit_type)99), "unknown");
}

static void damaged_bytes_refused(void **state)
{
    (void)state;
    uint8_t good[MLC_AUDIT_RECORD_MAX], buf[MLC_AUDIT_RECORD_MAX + 8];
    uint8_t zero[MLC_AUDIT_HASH_LEN] = { 0 };
    struct mlc_audit_record r;
    struct mlc_audit_event ev = posted(FEB01_MS, "rent, February");
    int gn = mlc_audit_encode(5, &ev, zero, good, sizeof(good));
    assert_true(gn > 0);
    size_t n = (size_t)gn;
    assert_int_equal(mlc_audit_decode(good, n, &r), MLC_OK);

    /* Every shorter length, and trailing bytes. */
    for (size_t l = 0; l < n; l++)
        assert_int_equal(mlc_audit_decode(good, l, &r), MLC_ERR_DATA);
    memcpy(buf, good, n);
    buf[n] = 0;
    assert_int_equal(mlc_audit_decode(buf, n + 1, &r), MLC_ERR_DATA);

    /* Every single-byte change is either refused by the decoder or caught by the hash. */
    for (size_t i = 0; i < n; i++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(buf, good, n);
            buf[i] ^= (uint8_t)(1u << bit);
            int dec = mlc_audit_decode(buf, n, &r);
            assert_true(dec == MLC_ERR_DATA || dec == MLC_OK);
            assert_false(dec == MLC_OK && mlc_audit_hash_ok(buf, n));
        }
    }

    /* Specific violations the decoder must refuse. */
    struct { size_t off; uint8_t val; } cases[] = {
        { 0, 2 },      /* unknown format version */
        { 1, 0 },      /* event type 0 */
        { 1, MLC_AUDIT__LAST + 1 },
        { 2, 0x02 },   /* unknown flag */
        { 3, MLC_AMOUNT_MAX_SCALE + 1 },
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        memcpy(buf, good, n);
        buf[cases[c].off] = cases[c].val;
        assert_int_equal(mlc_audit_decode(buf, n, &r), MLC_ERR_DATA);
    }
    memcpy(buf, good, n);
    memset(buf + 4, 0, 8);      /* sequence number 0 */
    assert_int_equal(mlc_audit_decode(buf, n, &r), MLC_ERR_DATA);
    memcpy(buf, good, n);
    buf[12] = 0x80;             /* negative time */
    assert_int_equal(mlc_audit_decode(buf, n, &r), MLC_ERR_DATA);
    memcpy(buf, good, n);
    buf[20] = 0x80;             /* amount INT64_MIN */
    memset(buf + 21, 0, 7);
    assert_int_equal(mlc_audit_decode(buf, n, &r), MLC_ERR_DATA);
    memcpy(buf, good, n);
    buf[2] = 0;                 /* no amount, yet amount bytes set: not canonical */
    assert_int_equal(mlc_audit_decode(buf, n, &r), MLC_ERR_DATA);
    memcpy(buf, good, n);
    buf[36] = 0xff;             /* first text's length runs past the end */
    assert_int_equal(mlc_audit_decode(buf, n, &r), MLC_ERR_DATA);
    memcpy(buf, good, n);
    buf[38] = 0xc0;             /* invalid UTF-8 (overlong) in the item id "item-9" */
    assert_int_equal(mlc_audit_decode(buf, n, &r), MLC_ERR_DATA);
    memcpy(buf, good, n);
    buf[38] = 0;                /* NUL inside a text */
    assert_int_equal(mlc_audit_decode(buf, n, &r), MLC_ERR_DATA);
    memcpy(buf, good, n);
    buf[38] = 0xed;             /* a UTF-16 surrogate (ED A0 80) */
    buf[39] = 0xa0;
    buf[40] = 0x80;
    assert_int_equal(mlc_audit_decode(buf, n, &r), MLC_ERR_DATA);
    assert_int_equal(mlc_audit_decode(good, MLC_AUDIT_RECORD_MAX + 1, &r), MLC_ERR_DATA);
    assert_false(mlc_audit_hash_ok(good, 10));
}

static void dates_and_times(void **state)
{
    (void)state;
    int64_t ms;
    char buf[40];
    assert_int_equal(mlc_audit_parse_date("2026-02-01", &ms), MLC_OK);
    assert_true(ms == FEB01_MS);
    assert_int_equal(mlc_audit_parse_date("1970-01-01", &ms), MLC_OK);
    assert_true(ms == 0);
    assert_int_equal(mlc_audit_parse_date("2024-02-29", &ms), MLC_OK);
    assert_true(ms == 1709164800000LL);
    const char *badd[] = { "2026-02-29", "1900-02-29", "2026-13-01", "2026-00-10", "2026-04-31",
                           "2026-1-01", "2026-01-01x", "26-01-01", "", "1969-12-31",
                           "2026/01/01", "2026-01-0a" };
    for (size_t i = 0; i < sizeof(badd) / sizeof(badd[0]); i++)
        assert_int_equal(mlc_audit_parse_date(badd[i], &ms), MLC_ERR_DATA);
    assert_string_equal(mlc_audit_format_time(0, buf, sizeof(buf)), "1970-01-01T00:00:00.000Z");
    assert_string_equal(mlc_audit_format_time(FEB28_LAST_MS, buf, sizeof(buf)),
                        "2026-02-28T23:59:59.999Z");
    assert_string_equal(mlc_audit_format_time(253402300799999LL, buf, sizeof(buf)),
                        "9999-12-31T23:59:59.999Z");
}

/* A strict RFC 4180 reader for the test: fills cells[row][col] (malloc'd). */
#define MAXROWS 16
#define MAXCOLS 16
struct csv { int rows; int cols[MAXROWS]; char *cell[MAXROWS][MAXCOLS]; };

static void csv_read(const char *s, struct csv *c)
{
    char cell[4096];
    size_t n = 0;
    memset(c, 0, sizeof(*c));
    int col = 0;
    while (*s) {
        n = 0;
        if (*s == '"') {
            s++;
            for (;;) {
                assert_true(*s != '\0');  /* unterminated quote */
                if (*s == '"' && s[1] == '"') { cell[n++] = '"'; s += 2; continue; }
                if (*s == '"') { s++; break; }
                cell[n++] = *s++;
            }
        } else {
            while (*s && *s != ',' && *s != '\r') {
                assert_true(*s != '"' && *s != '\n');  /* must have been quoted */
                cell[n++] = *s++;
            }
        }
        cell[n] = '\0';
        assert_true(c->rows < MAXROWS && col < MAXCOLS);
        c->cell[c->rows][col++] = strdup(cell);
        if (*s == ',') {
            s++;
        } else {
            assert_true(s[0] == '\r' && s[1] == '\n');  /* CRLF row ends */
            s += 2;
            c->cols[c->rows++] = col;
            col = 0;
        }
    }
    assert_int_equal(col, 0);
}

static void csv_free(struct csv *c)
{
    for (int r = 0; r < MAXROWS; r++)
        for (int k = 0; k < MAXCOLS; k++)
            free(c->cell[r][k]);
}

/* Records around the February month boundaries, with hostile text. */
static void fill_export_log(struct mlc_store *st)
{
    struct mlc_audit_event ev;
    ev = posted(JAN31_LAST_MS, "January, last ms");
    assert_int_equal(mlc_audit_append(st, &ev, NULL), MLC_OK);
    ev = posted(FEB01_MS, "He said \"pay\", then left\r\nline two");
    ev.rule = "=HYPERLINK(\"http://x\")";
    assert_int_equal(mlc_audit_append(st, &ev, NULL), MLC_OK);
    ev = (struct mlc_audit_event){ .type = MLC_AUDIT_HELD, .time_ms = FEB01_MS + 5,
                                   .item_id = "+31 20 123", .account_id = "-acc",
                                   .transaction_id = "@tx", .has_amount = 1,
                                   .amount = { 100, 0 }, .currency = "JPY",
                                   .detail = "no mapping for this account" };
    assert_int_equal(mlc_audit_append(st, &ev, NULL), MLC_OK);
    ev = posted(FEB28_LAST_MS, "\tcmd");
    assert_int_equal(mlc_audit_append(st, &ev, NULL), MLC_OK);
    ev = posted(MAR01_MS, "March, first ms");
    assert_int_equal(mlc_audit_append(st, &ev, NULL), MLC_OK);
}

static void export_csv_filters_and_quotes(void **state)
{
    (void)state;
    struct fixture *f = open_fixture("audit-csv");
    struct mlc_buf out;
    struct csv c;
    uint64_t count = 0;
    fill_export_log(f->st);

    mlc_buf_init(&out, 1 << 20);
    assert_int_equal(mlc_audit_export(f->st, FEB01_MS, FEB28_LAST_MS, MLC_AUDIT_CSV, &out,
                                      &count), MLC_OK);
    assert_true(count == 3);
    csv_read(out.data, &c);
    assert_int_equal(c.rows, 4);  /* header + the three February records */
    for (int r = 0; r < c.rows; r++)
        assert_int_equal(c.cols[r], 16);
    assert_string_equal(c.cell[0][0], "seq");
    assert_string_equal(c.cell[0][12], "amount");
    assert_string_equal(c.cell[0][14], "detail");

    /* Row 1: seq 2, quotes, comma and CRLF survive exactly; the formula is defused. */
    assert_string_equal(c.cell[1][0], "2");
    assert_string_equal(c.cell[1][1], "2026-02-01T00:00:00.000Z");
    assert_string_equal(c.cell[1][2], "posted");
    assert_string_equal(c.cell[1][6], "4471372");
    assert_string_equal(c.cell[1][9], "8d6b0a52-6b6f-4f4a-9d2c-0c8f1f3a1b2c");
    assert_string_equal(c.cell[1][10], "3");
    assert_string_equal(c.cell[1][11], "'=HYPERLINK(\"http://x\")");
    assert_string_equal(c.cell[1][12], "-42.50");  /* exact, and a number: not guarded */
    assert_string_equal(c.cell[1][13], "EUR");
    assert_string_equal(c.cell[1][14], "He said \"pay\", then left\r\nline two");
    assert_int_equal(strlen(c.cell[1][15]), 64);

    /* Row 2: + - @ at the start of text cells are defused; absent numbers are empty. */
    assert_string_equal(c.cell[2][2], "held");
    assert_string_equal(c.cell[2][3], "'+31 20 123");
    assert_string_equal(c.cell[2][4], "'-acc");
    assert_string_equal(c.cell[2][5], "'@tx");
    assert_string_equal(c.cell[2][6], "");
    assert_string_equal(c.cell[2][10], "");
    assert_string_equal(c.cell[2][12], "100");
    assert_string_equal(c.cell[2][14], "no mapping for this account");
    /* Row 3: the last millisecond of the last day is included; a tab is defused. */
    assert_string_equal(c.cell[3][0], "4");
    assert_string_equal(c.cell[3][1], "2026-02-28T23:59:59.999Z");
    assert_string_equal(c.cell[3][14], "'\tcmd");
    csv_free(&c);

    /* An empty range gives just the header. */
    mlc_buf_reset(&out);
    assert_int_equal(mlc_audit_export(f->st, 0, 1000, MLC_AUDIT_CSV, &out, &count), MLC_OK);
    assert_true(count == 0);
    assert_true(strchr(out.data, '\n') == out.data + out.len - 1);

    /* The memory cap holds: a too-small buffer is refused, not overrun. */
    mlc_buf_free(&out);
    mlc_buf_init(&out, 300);
    assert_int_equal(mlc_audit_export(f->st, 0, INT64_MAX, MLC_AUDIT_CSV, &out, &count),
                     MLC_ERR_TOO_BIG);
    mlc_buf_free(&out);
    close_fixture(f);
}

static void export_json_parses_back(void **state)
{
    (void)state;
    struct fixture *f = open_fixture("audit-json");
    struct mlc_buf out;
    uint64_t count = 0;
    fill_export_log(f->st);

    mlc_buf_init(&out, 1 << 20);
    assert_int_equal(mlc_audit_export(f->st, FEB01_MS, FEB28_LAST_MS, MLC_AUDIT_JSON, &out,
                                      &count), MLC_OK);
    cJSON *doc = cJSON_ParseWithLength(out.data, out.len);
    assert_non_null(doc);
    assert_true(cJSON_IsArray(doc));
    assert_int_equal(cJSON_GetArraySize(doc), 3);
    cJSON *r1 = cJSON_GetArrayItem(doc, 0);
    assert_int_equal(cJSON_GetObjectItem(r1, "seq")->valueint, 2);
    assert_string_equal(cJSON_GetObjectItem(r1, "event")->valuestring, "posted");
    assert_string_equal(cJSON_GetObjectItem(r1, "amount")->valuestring, "-42.50");
    assert_string_equal(cJSON_GetObjectItem(r1, "detail")->valuestring,
                        "He said \"pay\", then left\r\nline two");
    assert_string_equal(cJSON_GetObjectItem(r1, "rule")->valuestring, "=HYPERLINK(\"http://x\")");
    assert_int_equal(cJSON_GetObjectItem(r1, "exact_division")->valueint, 4471372);
    cJSON *r2 = cJSON_GetArrayItem(doc, 1);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(r2, "exact_entry_id")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(r2, "exact_line")));
    assert_string_equal(cJSON_GetObjectItem(r2, "amount")->valuestring, "100");
    assert_string_equal(cJSON_GetObjectItem(r2, "currency")->valuestring, "JPY");
    cJSON_Delete(doc);

    /* An empty export is still a valid (empty) array. */
    mlc_buf_reset(&out);
    assert_int_equal(mlc_audit_export(f->st, 0, 1000, MLC_AUDIT_JSON, &out, &count), MLC_OK);
    doc = cJSON_Parse(out.data);
    assert_non_null(doc);
    assert_int_equal(cJSON_GetArraySize(doc), 0);
    cJSON_Delete(doc);

    /* A damaged record stops the export instead of skipping it silently. */
    put_record(f->st, 3, (const uint8_t *)"damaged", 7);
    mlc_buf_reset(&out);
    assert_int_equal(mlc_audit_export(f->st, 0, INT64_MAX, MLC_AUDIT_JSON, &out, &count),
                     MLC_ERR_DATA);
    mlc_buf_free(&out);
    close_fixture(f);
}

/* Every allocation of an export failing in turn (curl's torture idea): a clean MLC_ERR_NOMEM
 * each time, nothing leaked (valgrind checks), and the same output once memory is there. */
static void torture_export(struct mlc_store *st, enum mlc_audit_format fmt)
{
    struct mlc_buf ref, out;
    int ok = 0;
    mlc_buf_init(&ref, 1 << 20);
    assert_int_equal(mlc_audit_export(st, 0, INT64_MAX, fmt, &ref, NULL), MLC_OK);
    for (long k = 1; k < 2000 && !ok; k++) {
        mlc_buf_init(&out, 1 << 20);
        mlc_alloc_fail_after(k);
        int rc = mlc_audit_export(st, 0, INT64_MAX, fmt, &out, NULL);
        mlc_alloc_fail_after(0);
        if (rc == MLC_OK) {
            assert_int_equal(out.len, ref.len);
            assert_memory_equal(out.data, ref.data, ref.len);
            ok = 1;
        } else {
            assert_int_equal(rc, MLC_ERR_NOMEM);
        }
        mlc_buf_free(&out);
    }
    assert_true(ok);
    mlc_buf_free(&ref);
}

static void export_survives_allocation_failures(void **state)
{
    (void)state;
    struct fixture *f = open_fixture("audit-torture");
    fill_export_log(f->st);
    torture_export(f->st, MLC_AUDIT_CSV);
    torture_export(f->st, MLC_AUDIT_JSON);
    close_fixture(f);
}

static int run(int (*cmd)(const char *, int, char **), const char *dir, int argc, ...)
{
    char *argv[12];
    va_list ap;
    va_start(ap, argc);
    for (int i = 0; i < argc; i++)
        argv[i] = va_arg(ap, char *);
    va_end(ap);
    argv[argc] = NULL;
    return cmd(dir, argc, argv);
}

static void commands_exit_codes_and_output(void **state)
{
    (void)state;
    struct fixture *f = open_fixture("audit-cmd");
    char path[700], missing[700];
    fill_export_log(f->st);
    mlc_store_close(f->st);
    f->st = NULL;

    assert_int_equal(run(mlc_cmd_audit_verify, f->dir, 1, "verify"), 0);
    assert_int_equal(run(mlc_cmd_audit_verify, f->dir, 2, "verify", "x"), 64);
    /* A mistyped data directory is reported, and no empty store is left there. */
    snprintf(missing, sizeof(missing), "%s/nope", f->dir);
    assert_int_not_equal(run(mlc_cmd_audit_verify, missing, 1, "verify"), 0);
    assert_false(mlc_fs_exists(missing));

    /* Export to a file: only February, inclusive of both days. */
    snprintf(path, sizeof(path), "%s/feb.csv", f->dir);
    assert_int_equal(run(mlc_cmd_audit_export, f->dir, 6, "export", "--from", "2026-02-01",
                         "--to=2026-02-28", "--output", path), 0);
    char *text = mlc_test_slurp(path, NULL);
    assert_non_null(text);
    struct csv c;
    csv_read(text, &c);
    assert_int_equal(c.rows, 4);
    assert_string_equal(c.cell[1][0], "2");
    assert_string_equal(c.cell[3][0], "4");
    csv_free(&c);
    free(text);
    snprintf(path, sizeof(path), "%s/all.json", f->dir);
    assert_int_equal(run(mlc_cmd_audit_export, f->dir, 5, "export", "--format", "json",
                         "--output", path), 0);
    text = mlc_test_slurp(path, NULL);
    cJSON *doc = cJSON_Parse(text);
    assert_int_equal(cJSON_GetArraySize(doc), 5);
    cJSON_Delete(doc);
    free(text);

    /* Usage errors. */
    assert_int_equal(run(mlc_cmd_audit_export, f->dir, 3, "export", "--from", "2026-02-30"), 64);
    assert_int_equal(run(mlc_cmd_audit_export, f->dir, 5, "export", "--from", "2026-03-01",
                         "--to", "2026-02-01"), 64);
    assert_int_equal(run(mlc_cmd_audit_export, f->dir, 3, "export", "--format", "xls"), 64);
    assert_int_equal(run(mlc_cmd_audit_export, f->dir, 2, "export", "--to"), 64);
    assert_int_equal(run(mlc_cmd_audit_export, f->dir, 2, "export", "--bogus"), 64);

    /* Tampered: verify says 65; export still writes but warns with 65. */
    assert_int_equal(mlc_store_open(&f->st, f->dir, NULL), MLC_OK);
    del_record(f->st, 5);
    mlc_store_close(f->st);
    f->st = NULL;
    assert_int_equal(run(mlc_cmd_audit_verify, f->dir, 1, "verify"), 65);
    snprintf(path, sizeof(path), "%s/after.csv", f->dir);
    assert_int_equal(run(mlc_cmd_audit_export, f->dir, 3, "export", "--output", path), 65);
    text = mlc_test_slurp(path, NULL);
    assert_non_null(text);
    free(text);
    close_fixture(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(many_records_round_trip),
        cmocka_unit_test(first_record_chains_on_zero),
        cmocka_unit_test(append_grows_full_map),
        cmocka_unit_test(changed_record_detected),
        cmocka_unit_test(removed_and_reordered_detected),
        cmocka_unit_test(truncated_tail_and_anchor_detected),
        cmocka_unit_test(aborted_txn_leaves_nothing),
        cmocka_unit_test(event_fields_checked),
        cmocka_unit_test(damaged_bytes_refused),
        cmocka_unit_test(dates_and_times),
        cmocka_unit_test(export_csv_filters_and_quotes),
        cmocka_unit_test(export_json_parses_back),
        cmocka_unit_test(export_survives_allocation_failures),
        cmocka_unit_test(commands_exit_codes_and_output),
    };
    /* cJSON allocates through the counting allocator, as in the agent. */
    cJSON_Hooks hooks = { .malloc_fn = mlc_malloc, .free_fn = mlc_free };
    cJSON_InitHooks(&hooks);
    /* The tamper tests log errors on purpose; keep the test output readable. */
    FILE *quiet = fopen("/dev/null", "w");
    mlc_log_set_sink(quiet);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    mlc_log_set_sink(NULL);
    if (quiet)
        fclose(quiet);
    return rc;
}
