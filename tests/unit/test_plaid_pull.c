/* The sync loop, item health and rotation against a fake Plaid behind the transport seam: cursor
 * rules, mutation restarts, resuming an interrupted update, backoff, skipping an item that needs a
 * person, new accounts, and the heap high-water mark while a 500-transaction page is pulled. */
#include "mlc_test_util.h"
#include "mlc_alloc.h"
#include "mlc_err.h"
#include "mlc_journal.h"
#include "mlc_log.h"
#include "mlc_plaid.h"
#include "mlc_plaid_pull.h"
#include "mlc_plaid_webhook.h"
#include "mlc_store.h"
#include "mlc_vault.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SEEN 64

/* ---- a fake Plaid ----
 * Cursor "u<update>:o<offset>:v<version>". Update 0 is the full history of txns [first, ntx);
 * update 1 (when `delta` is set) modifies t0, removes t1 and adds t<ntx>. Changing `version`
 * while an update pages makes the next page answer the mutation error. */
struct fake {
    int ntx, first;
    int version;
    int delta;
    int second_account;        /* from update 1 on, a second account appears */
    int calls;                 /* /transactions/sync calls */
    int other_calls;
    int mutate_before_call;    /* bump version (and drop t<first>) right before this call */
    int rate_limited;          /* answer 429 to this many calls */
    int login_required;
    int bug_on_call;           /* answer 400 INVALID_REQUEST to this call */
    int invalid_token;         /* /item/get answers INVALID_ACCESS_TOKEN */
    int rotations;
    char seen[MAX_SEEN][64];   /* cursors received */
    size_t last_page_len;
};

static char *fmt_txn(char *p, int i, const char *acct, const char *amount, int pending)
{
    return p + sprintf(p,
        "{\"account_id\":\"%s\",\"account_owner\":null,\"amount\":%s,"
        "\"authorized_date\":\"2026-01-%02d\",\"authorized_datetime\":null,\"category\":null,"
        "\"category_id\":null,\"check_number\":null,\"counterparties\":[],"
        "\"date\":\"2026-01-%02d\",\"datetime\":null,\"iso_currency_code\":\"EUR\","
        "\"location\":{\"address\":null,\"city\":null,\"country\":null,\"lat\":null,\"lon\":null,"
        "\"postal_code\":null,\"region\":null,\"store_number\":null},\"logo_url\":null,"
        "\"merchant_entity_id\":null,\"merchant_name\":\"Merchant %d\","
        "\"name\":\"Card payment %d at a shop with a long description\","
        "\"original_description\":null,\"payment_channel\":\"in store\","
        "\"payment_meta\":{\"by_order_of\":null,\"payee\":null,\"payer\":null,"
        "\"payment_method\":null,\"payment_processor\":null,\"ppd_id\":null,\"reason\":null,"
        "\"reference_number\":null},\"pending\":%s,\"pending_transaction_id\":null,"
        "\"personal_finance_category\":{\"primary\":\"GENERAL_MERCHANDISE\","
        "\"detailed\":\"GENERAL_MERCHANDISE_OTHER\",\"confidence_level\":\"HIGH\"},"
        "\"transaction_code\":null,\"transaction_id\":\"t%d\",\"transaction_type\":\"place\","
        "\"unofficial_currency_code\":null,\"website\":null,\"future_field\":{\"x\":[1,2]}}",
        acct, amount, i % 28 + 1, i % 28 + 1, i, i, pending ? "true" : "false", i);
}

static void answer(struct mlc_buf *resp, const char *text)
{
    assert_int_equal(mlc_buf_append_str(resp, text), MLC_OK);
}

static int fake_sync(struct fake *f, const cJSON *req, long *status, struct mlc_buf *resp)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(req, "cursor");
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(req, "count");
    const char *cursor = cJSON_IsString(c) ? c->valuestring : "";
    int count = cJSON_IsNumber(n) ? n->valueint : 100;
    f->calls++;
    if (f->calls <= MAX_SEEN)
        snprintf(f->seen[f->calls - 1], 64, "%s", cursor);
    if (f->mutate_before_call == f->calls) {
        f->version++;
        f->first++;   /* t<first> vanished at the bank */
    }
    if (f->rate_limited > 0) {
        f->rate_limited--;
        *status = 429;
        answer(resp, "{\"error_type\":\"RATE_LIMIT_EXCEEDED\",\"error_code\":"
                     "\"TRANSACTIONS_SYNC_LIMIT\",\"error_message\":\"rate limit\","
                     "\"display_message\":null,\"request_id\":\"r1\"}");
        return MLC_OK;
    }
    if (f->login_required) {
        *status = 400;
        answer(resp, "{\"error_type\":\"ITEM_ERROR\",\"error_code\":\"ITEM_LOGIN_REQUIRED\","
                     "\"error_message\":\"login\",\"display_message\":\"Log in again.\","
                     "\"request_id\":\"r2\"}");
        return MLC_OK;
    }
    if (f->bug_on_call == f->calls) {
        *status = 400;
        answer(resp, "{\"error_type\":\"INVALID_REQUEST\",\"error_code\":\"INVALID_FIELD\","
                     "\"error_message\":\"x\",\"display_message\":null,\"request_id\":\"r3\"}");
        return MLC_OK;
    }
    int upd = 0, off = 0, ver = f->version;
    if (cursor[0])
        assert_int_equal(sscanf(cursor, "u%d:o%d:v%d", &upd, &off, &ver), 3);
    if (off > 0 && ver != f->version) {
        *status = 400;
        answer(resp, "{\"error_type\":\"TRANSACTIONS_ERROR\",\"error_code\":"
                     "\"TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION\",\"error_message\":\"m\","
                     "\"display_message\":null,\"request_id\":\"r4\"}");
        return MLC_OK;
    }
    /* built with plain malloc: the fake's scratch is not the agent's heap */
    char *text = malloc(4096 + (size_t)count * 2048), *p = text;
    p += sprintf(p, "{\"accounts\":[{\"account_id\":\"acc1\",\"balances\":{\"available\":10.5,"
                    "\"current\":11,\"limit\":null,\"iso_currency_code\":\"EUR\","
                    "\"unofficial_currency_code\":null},\"mask\":\"0001\",\"name\":\"Main\","
                    "\"official_name\":null,\"subtype\":\"checking\",\"type\":\"depository\"}");
    if (f->second_account && upd >= 1)
        p += sprintf(p, ",{\"account_id\":\"acc2\",\"balances\":{\"available\":null,"
                        "\"current\":null,\"limit\":null,\"iso_currency_code\":\"EUR\","
                        "\"unofficial_currency_code\":null},\"mask\":\"0002\",\"name\":\"New\","
                        "\"official_name\":null,\"subtype\":\"savings\",\"type\":\"depository\"}");
    p += sprintf(p, "],\"added\":[");
    int more = 0, next_upd = upd, next_off = 0;
    if (upd == 0) {
        int start = f->first + off, end = start + count;
        if (end >= f->ntx)
            end = f->ntx;
        else
            more = 1;
        for (int i = start; i < end; i++) {
            if (i > start)
                *p++ = ',';
            p = fmt_txn(p, i, "acc1", "12.34", i % 10 == 0);
        }
        next_off = more ? off + count : 0;
        next_upd = more ? 0 : 1;
        p += sprintf(p, "],\"modified\":[],\"removed\":[]");
    } else if (upd == 1 && f->delta) {
        p = fmt_txn(p, f->ntx, "acc1", "-99.5", 0);
        p += sprintf(p, "],\"modified\":[");
        p = fmt_txn(p, 2, "acc1", "13.34", 0);  /* t2 had settled */
        p += sprintf(p, "],\"removed\":[{\"transaction_id\":\"t1\",\"account_id\":\"acc1\"}]");
        next_upd = 2;
    } else {
        p += sprintf(p, "],\"modified\":[],\"removed\":[]");
    }
    p += sprintf(p, ",\"next_cursor\":\"u%d:o%d:v%d\",\"has_more\":%s,\"request_id\":\"rq\","
                    "\"transactions_update_status\":\"HISTORICAL_UPDATE_COMPLETE\"}",
                 next_upd, next_off, f->version, more ? "true" : "false");
    *status = 200;
    f->last_page_len = (size_t)(p - text);
    int rc = mlc_buf_append(resp, text, (size_t)(p - text));
    free(text);
    return rc;
}

static int fake_post(void *ud, const char *url, const char *const *headers, size_t nh,
                     const char *body, size_t len, long *status, struct mlc_buf *resp,
                     char *errline, size_t errcap)
{
    struct fake *f = ud;
    (void)errline;
    (void)errcap;
    /* every request carries the credentials and the pinned version */
    int version = 0, id = 0, secret = 0;
    for (size_t i = 0; i < nh; i++) {
        version |= strcmp(headers[i], "Plaid-Version: 2020-09-14") == 0;
        id |= strcmp(headers[i], "PLAID-CLIENT-ID: cid") == 0;
        secret |= strcmp(headers[i], "PLAID-SECRET: sec-ret") == 0;
    }
    assert_true(version && id && secret);
    cJSON *req = cJSON_ParseWithLength(body, len);
    assert_non_null(req);
    const char *path = strstr(url + 8, "/");
    assert_non_null(path);
    int rc = MLC_OK;
    if (strcmp(path, "/transactions/sync") == 0) {
        rc = fake_sync(f, req, status, resp);
    } else if (strcmp(path, "/item/access_token/invalidate") == 0) {
        f->other_calls++;
        f->rotations++;
        *status = 200;
        answer(resp, "{\"new_access_token\":\"access-sandbox-new\",\"request_id\":\"x\"}");
    } else if (strcmp(path, "/item/get") == 0) {
        f->other_calls++;
        if (f->invalid_token) {
            *status = 400;
            answer(resp, "{\"error_type\":\"INVALID_INPUT\",\"error_code\":"
                         "\"INVALID_ACCESS_TOKEN\",\"error_message\":\"x\","
                         "\"display_message\":null,\"request_id\":\"r5\"}");
        } else {
            *status = 200;
            answer(resp, "{\"item\":{\"item_id\":\"item1\",\"error\":null},\"request_id\":\"x\"}");
        }
    } else {
        fail_msg("unexpected path %s", path);
    }
    cJSON_Delete(req);
    return rc;
}

/* ---- fixture ---- */

struct fx {
    char dir[512];
    struct mlc_store *st;
    struct mlc_vault *v;
    struct mlc_plaid *p;
    struct fake fake;
    uint32_t slept[16];
    int n_slept;
};

static void record_sleep(void *ud, uint32_t ms)
{
    struct fx *f = ud;
    if (f->n_slept < 16)
        f->slept[f->n_slept] = ms;
    f->n_slept++;
}

static int64_t fixed_now(void)
{
    return 1790000000000LL;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "%s", mlc_test_tmpdir("pull"));
    assert_int_equal(mlc_alloc_install_hooks(), MLC_OK);
    assert_int_equal(mlc_vault_create_key(f->dir), MLC_OK);
    assert_int_equal(mlc_store_open(&f->st, f->dir, NULL), MLC_OK);
    assert_int_equal(mlc_vault_open(&f->v, f->st, f->dir), MLC_OK);
    struct mlc_plaid_transport tr = { fake_post, &f->fake };
    struct mlc_plaid_opts o = { 0 };
    o.base_url = "https://sandbox.plaid.com/";
    o.client_id = "cid";
    o.secret = "sec-ret";
    o.transport = &tr;
    o.sleep_ms = record_sleep;
    o.sleep_ud = f;
    assert_int_equal(mlc_plaid_new(&o, &f->p), MLC_OK);
    assert_int_equal(mlc_plaid_item_record(f->st, f->v, "item1", "access-sandbox-old", "ins_1",
                                           "Test Bank", fixed_now()),
                     MLC_OK);
    f->fake.ntx = 1234;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    mlc_plaid_free(f->p);
    mlc_vault_close(f->v);
    mlc_store_close(f->st);
    mlc_test_rmtree(f->dir);
    mlc_log_secret_clear(); /* the redactor keeps registered secrets for the process */
    free(f);
    return 0;
}

static int pull(struct fx *f, int count, struct mlc_plaid_pull_stats *s)
{
    struct mlc_plaid_pull_opts o = { 0 };
    char msg[640];
    o.count = count;
    o.now_ms = fixed_now;
    return mlc_plaid_pull_item(f->p, f->st, f->v, "item1", &o, s, msg, sizeof(msg));
}

struct tally {
    int live, removed, pending, modified;
    int has[2000];
};

static int tally_cb(void *ctx, const struct mlc_journal_txn *t)
{
    struct tally *y = ctx;
    int i = atoi(t->transaction_id + 1);
    if (i >= 0 && i < 2000)
        y->has[i]++;
    if (t->state == MLC_TXN_REMOVED)
        y->removed++;
    else
        y->live++;
    y->pending += t->state == MLC_TXN_PENDING;
    y->modified += t->state == MLC_TXN_MODIFIED;
    return 0;
}

static struct tally tally(struct fx *f)
{
    struct tally y;
    struct mlc_txn *txn;
    memset(&y, 0, sizeof(y));
    assert_int_equal(mlc_store_begin(f->st, 1, &txn), MLC_OK);
    assert_int_equal(mlc_journal_txn_each(txn, NULL, tally_cb, &y), MLC_OK);
    mlc_store_abort(txn);
    return y;
}

static struct mlc_journal_item item(struct fx *f)
{
    struct mlc_journal_item it;
    struct mlc_txn *txn;
    assert_int_equal(mlc_store_begin(f->st, 1, &txn), MLC_OK);
    assert_int_equal(mlc_journal_item_get(txn, "item1", &it), MLC_OK);
    mlc_store_abort(txn);
    return it;
}

static int undo_count_cb(void *ctx, const void *k, size_t kl, const void *v, size_t vl)
{
    (void)k, (void)kl, (void)v, (void)vl;
    (*(int *)ctx)++;
    return 0;
}

static int undo_entries(struct fx *f)
{
    int n = 0;
    struct mlc_txn *txn;
    assert_int_equal(mlc_store_begin(f->st, 1, &txn), MLC_OK);
    assert_int_equal(mlc_store_each(txn, MLC_DB_STATE, "plaid.undo.", 11, undo_count_cb, &n),
                     MLC_OK);
    mlc_store_abort(txn);
    return n;
}

/* ---- tests ---- */

/* History over three 500-count pages: each transaction once, the cursor committed only at the
 * end, the undo log empty afterwards; a second pull starts from that cursor and changes nothing. */
static void full_history_over_pages(void **state)
{
    struct fx *f = *state;
    struct mlc_plaid_pull_stats s;
    assert_int_equal(pull(f, 500, &s), MLC_OK);
    assert_int_equal(s.pages, 3);
    assert_int_equal(s.added, 1234);
    assert_int_equal(s.restarts, 0);
    struct tally y = tally(f);
    assert_int_equal(y.live, 1234);
    for (int i = 0; i < 1234; i++)
        assert_int_equal(y.has[i], 1);
    assert_int_equal(y.pending, 124);
    struct mlc_journal_item it = item(f);
    assert_string_equal(it.cursor, "u1:o0:v0");
    assert_int_equal(it.update_open, 0);
    assert_int_equal(it.updates_done, 1);
    assert_int_equal(undo_entries(f), 0);
    assert_string_equal(f->fake.seen[0], "");
    assert_string_equal(f->fake.seen[1], "u0:o500:v0");
    assert_int_equal(pull(f, 500, &s), MLC_OK);
    assert_string_equal(f->fake.seen[3], "u1:o0:v0");
    assert_int_equal(s.added + s.modified + s.removed, 0);
}

/* The bank changes between pages: the loop restarts from the update's first cursor, and what the
 * aborted attempt wrote but the restarted update no longer carries (t0, gone at the bank) is not
 * left in the journal. */
static void mutation_restarts_from_the_start_cursor(void **state)
{
    struct fx *f = *state;
    struct mlc_plaid_pull_stats s;
    f->fake.mutate_before_call = 3;
    assert_int_equal(pull(f, 500, &s), MLC_OK);
    assert_int_equal(s.restarts, 1);
    assert_true(s.rolled_back >= 1000);
    assert_string_equal(f->fake.seen[2], "u0:o1000:v0");  /* refused */
    assert_string_equal(f->fake.seen[3], "");             /* the update's start, not page 3 */
    struct tally y = tally(f);
    assert_int_equal(y.has[0], 0);
    assert_int_equal(y.live, 1233);
    assert_string_equal(item(f).cursor, "u1:o0:v1");
}

/* An update that stops half way (a crash, or an error) leaves the committed cursor where it was
 * and the start cursor recorded; the next pull rolls back and restarts from it. */
static void interrupted_update_resumes_from_its_start(void **state)
{
    struct fx *f = *state;
    struct mlc_plaid_pull_stats s;
    f->fake.bug_on_call = 2;
    assert_int_equal(pull(f, 500, &s), MLC_ERR_INTERNAL);
    struct mlc_journal_item it = item(f);
    assert_int_equal(it.update_open, 1);
    assert_string_equal(it.cursor, "");
    assert_string_equal(it.start_cursor, "");
    assert_string_equal(it.progress_cursor, "u0:o500:v0");
    assert_int_equal(tally(f).live, 500);           /* the page is in, provisionally */
    assert_int_equal(undo_entries(f), 500);
    f->fake.mutate_before_call = 3;                 /* the bank moves while we are down */
    assert_int_equal(pull(f, 500, &s), MLC_OK);
    assert_int_equal(s.resumed_after_crash, 1);
    assert_int_equal(s.rolled_back, 500);
    assert_string_equal(f->fake.seen[2], "");
    struct tally y = tally(f);
    assert_int_equal(y.live, 1233);
    assert_int_equal(y.has[0], 0);
    assert_int_equal(undo_entries(f), 0);
}

/* Rate limits back off (the waits grow within the full-jitter ceilings) and the pull finishes. */
static void rate_limit_backs_off_and_finishes(void **state)
{
    struct fx *f = *state;
    struct mlc_plaid_pull_stats s;
    f->fake.rate_limited = 3;
    assert_int_equal(pull(f, 500, &s), MLC_OK);
    assert_int_equal(f->n_slept, 3);
    assert_true(f->slept[0] <= MLC_PLAID_BACKOFF_BASE_MS);
    assert_true(f->slept[2] <= 4 * MLC_PLAID_BACKOFF_BASE_MS);
    assert_int_equal(tally(f).live, 1234);
    /* beyond the attempts the pull gives up with "try later", nothing half-applied */
    f->fake.rate_limited = 100;
    f->fake.delta = 1;
    assert_int_equal(pull(f, 500, &s), MLC_ERR_RETRY);
    assert_int_equal(f->n_slept, 3 + MLC_PLAID_RATE_ATTEMPTS - 1); /* rate limits wait longer */
    assert_true(f->slept[10] <= MLC_PLAID_RATE_CAP_MS);
    assert_string_equal(item(f).cursor, "u1:o0:v0");
}

static int has_alert(struct fx *f, const char *kind)
{
    struct mlc_txn *txn;
    const void *v;
    size_t vl;
    char key[128];
    snprintf(key, sizeof(key), "plaid.%s.item1", kind);
    assert_int_equal(mlc_store_begin(f->st, 1, &txn), MLC_OK);
    int rc = mlc_store_get(txn, MLC_DB_ALERTS, key, strlen(key), &v, &vl);
    mlc_store_abort(txn);
    return rc == MLC_OK;
}

/* ITEM_LOGIN_REQUIRED: the item is marked, an alert raised, and later pulls skip it without a
 * request; the message tells the user what to do. */
static void login_required_marks_the_item_and_skips_it(void **state)
{
    struct fx *f = *state;
    struct mlc_plaid_pull_stats s;
    struct mlc_plaid_pull_opts o = { 0 };
    char msg[640];
    f->fake.login_required = 1;
    o.now_ms = fixed_now;
    assert_int_equal(mlc_plaid_pull_item(f->p, f->st, f->v, "item1", &o, &s, msg, sizeof(msg)),
                     MLC_ERR_NEEDS_PERSON);
    assert_non_null(strstr(msg, "log in"));
    struct mlc_journal_item it = item(f);
    assert_int_equal(it.state, MLC_ITEM_NEEDS_REAUTH);
    assert_string_equal(it.state_code, "ITEM_LOGIN_REQUIRED");
    assert_string_equal(it.state_message, "Log in again.");
    assert_true(has_alert(f, "needs_reauth"));
    int calls = f->fake.calls;
    assert_int_equal(mlc_plaid_pull_item(f->p, f->st, f->v, "item1", &o, &s, msg, sizeof(msg)),
                     MLC_ERR_NEEDS_PERSON);
    assert_int_equal(f->fake.calls, calls);
    assert_non_null(strstr(msg, "skipped"));
    /* repaired: state and alert clear, pulling works again */
    f->fake.login_required = 0;
    assert_int_equal(mlc_plaid_item_mark_ok(f->st, "item1", fixed_now()), MLC_OK);
    assert_false(has_alert(f, "needs_reauth"));
    assert_int_equal(pull(f, 500, &s), MLC_OK);
}

/* The second update applies modified/removed and flags the account that appeared after linking. */
static void delta_update_and_new_account(void **state)
{
    struct fx *f = *state;
    struct mlc_plaid_pull_stats s;
    f->fake.ntx = 20;
    assert_int_equal(pull(f, 500, &s), MLC_OK);
    f->fake.delta = 1;
    f->fake.second_account = 1;
    assert_int_equal(pull(f, 500, &s), MLC_OK);
    assert_int_equal(s.added, 1);
    assert_int_equal(s.modified, 1);
    assert_int_equal(s.removed, 1);
    struct tally y = tally(f);
    assert_int_equal(y.live, 20);
    assert_int_equal(y.removed, 1);
    assert_int_equal(y.modified, 1);
    struct mlc_journal_account a;
    struct mlc_txn *txn;
    assert_int_equal(mlc_store_begin(f->st, 1, &txn), MLC_OK);
    assert_int_equal(mlc_journal_account_get(txn, "acc2", &a), MLC_OK);
    assert_int_equal(a.unmapped_new, 1);
    assert_int_equal(mlc_journal_account_get(txn, "acc1", &a), MLC_OK);
    assert_int_equal(a.unmapped_new, 0);
    assert_string_equal(a.current, "11.00");
    assert_string_equal(a.available, "10.50");
    mlc_store_abort(txn);
    assert_true(has_alert(f, "new_accounts"));
}

/* Pulling a 500-transaction page keeps the agent's heap below a stated bound: the answer buffer
 * (it doubles while it grows, so up to twice the page) plus one record and small change. */
static void heap_high_water_for_a_500_transaction_page(void **state)
{
    struct fx *f = *state;
    struct mlc_plaid_pull_stats s;
    f->fake.ntx = 500;
    size_t base = mlc_alloc_current();
    mlc_alloc_reset_peak();
    assert_int_equal(pull(f, 500, &s), MLC_OK);
    size_t peak = mlc_alloc_peak() - base;
    size_t page = f->fake.last_page_len;
    assert_int_equal(s.pages, 1);
    assert_true(page > 500 * 1000);                 /* a realistic, rich page (~0.6 MiB) */
    /* Stated bound: 2 x page + 256 KiB. Holding a second page or all records would break it. */
    size_t bound = 2 * page + 256 * 1024;
    print_message("heap peak %zu bytes for a %zu-byte page of 500 (bound %zu)\n", peak, page,
                  bound);
    if (peak > bound)
        fail_msg("heap peak %zu bytes for a %zu-byte page exceeds the bound %zu", peak, page,
                 bound);
    assert_int_equal(tally(f).live, 500);
}

/* Rotation: the new token replaces the old one and the intent is gone. */
static void rotate_seals_the_new_token(void **state)
{
    struct fx *f = *state;
    char msg[640], *tok = NULL;
    size_t tl = 0;
    assert_int_equal(mlc_plaid_rotate(f->p, f->st, f->v, "item1", fixed_now(), msg, sizeof(msg)),
                     MLC_OK);
    assert_int_equal(mlc_plaid_item_token(f->v, "item1", &tok, &tl), MLC_OK);
    assert_string_equal(tok, "access-sandbox-new");
    mlc_vault_free_secret(tok, tl);
    assert_int_equal(item(f).rotating, 0);
    assert_int_equal(f->fake.rotations, 1);
}

static void set_intent(struct fx *f)
{
    struct mlc_txn *txn;
    struct mlc_journal_item it;
    assert_int_equal(mlc_store_begin(f->st, 0, &txn), MLC_OK);
    assert_int_equal(mlc_journal_item_get(txn, "item1", &it), MLC_OK);
    it.rotating = 1;
    assert_int_equal(mlc_journal_item_put(txn, &it), MLC_OK);
    assert_int_equal(mlc_store_commit(txn), MLC_OK);
}

/* A rotation interrupted after the intent: if the old token still works, nothing was lost; if
 * Plaid retired it, the item is marked for a new link with an alert, and pulls skip it. */
static void interrupted_rotation_is_resolved(void **state)
{
    struct fx *f = *state;
    char msg[640];
    struct mlc_plaid_pull_stats s;
    set_intent(f);
    assert_int_equal(mlc_plaid_rotate_recover(f->p, f->st, f->v, "item1", fixed_now(), msg,
                                              sizeof(msg)),
                     MLC_OK);
    assert_int_equal(item(f).rotating, 0);
    assert_int_equal(item(f).state, MLC_ITEM_OK);
    set_intent(f);
    f->fake.invalid_token = 1;
    assert_int_equal(pull(f, 500, &s), MLC_ERR_NEEDS_PERSON);
    struct mlc_journal_item it = item(f);
    assert_int_equal(it.state, MLC_ITEM_TOKEN_LOST);
    assert_int_equal(it.rotating, 0);
    assert_true(has_alert(f, "token_lost"));
    assert_int_equal(f->fake.calls, 0);
}

static void consent_and_time_parsing(void **state)
{
    struct fx *f = *state;
    int64_t ms = 0;
    assert_int_equal(mlc_plaid_parse_time("2026-11-25T14:00:00Z", &ms), MLC_OK);
    assert_int_equal(ms, 1795615200000LL);
    assert_int_equal(mlc_plaid_parse_time("2026-11-25T15:00:00.250+01:00", &ms), MLC_OK);
    assert_int_equal(ms, 1795615200250LL);
    assert_int_equal(mlc_plaid_parse_time("2026-13-25T14:00:00Z", &ms), MLC_ERR_DATA);
    assert_int_equal(mlc_plaid_parse_time("2026-11-25", &ms), MLC_ERR_DATA);
    assert_int_equal(mlc_plaid_parse_time("2026-11-25T14:00:00Zjunk", &ms), MLC_ERR_DATA);
    struct mlc_txn *txn;
    struct mlc_journal_item it;
    int64_t now = fixed_now(), day = 86400000LL;
    assert_int_equal(mlc_store_begin(f->st, 0, &txn), MLC_OK);
    assert_int_equal(mlc_journal_item_get(txn, "item1", &it), MLC_OK);
    assert_int_equal(mlc_plaid_item_consent(txn, &it, now + 8 * day, now, 7), MLC_OK);
    assert_int_equal(mlc_store_commit(txn), MLC_OK);
    assert_false(has_alert(f, "consent_expiring"));
    assert_int_equal(mlc_store_begin(f->st, 0, &txn), MLC_OK);
    assert_int_equal(mlc_plaid_item_consent(txn, &it, now + 6 * day, now, 7), MLC_OK);
    assert_int_equal(mlc_store_commit(txn), MLC_OK);
    assert_true(has_alert(f, "consent_expiring"));
    assert_int_equal(item(f).consent_expires_ms, now + 6 * day);
    /* renewed (update mode): the alert goes */
    assert_int_equal(mlc_store_begin(f->st, 0, &txn), MLC_OK);
    assert_int_equal(mlc_plaid_item_consent(txn, &it, now + 180 * day, now, 7), MLC_OK);
    assert_int_equal(mlc_store_commit(txn), MLC_OK);
    assert_false(has_alert(f, "consent_expiring"));
}

/* Classification at the boundary: what retries, what needs a person, what is a bug. */
static void answers_are_classified_once(void **state)
{
    (void)state;
    struct mlc_plaid_result r;
    const char *maint = "{\"error_type\":\"API_ERROR\",\"error_code\":\"PLANNED_MAINTENANCE\","
                        "\"error_message\":\"m\",\"display_message\":null}";
    mlc_plaid_classify_answer(503, maint, strlen(maint), MLC_OK, NULL, &r);
    assert_int_equal(r.rc, MLC_ERR_RETRY);
    mlc_plaid_classify_answer(0, NULL, 0, MLC_ERR_RETRY, "connection refused", &r);
    assert_int_equal(r.cls, MLC_PLAID_RETRY);
    assert_non_null(strstr(r.message, "connection refused"));
    const char *keys = "{\"error_type\":\"INVALID_INPUT\",\"error_code\":\"INVALID_API_KEYS\","
                       "\"error_message\":\"m\",\"display_message\":null}";
    mlc_plaid_classify_answer(400, keys, strlen(keys), MLC_OK, NULL, &r);
    assert_int_equal(r.rc, MLC_ERR_NEEDS_PERSON);
    mlc_plaid_classify_answer(400, "not json", 8, MLC_OK, NULL, &r);
    assert_int_equal(r.rc, MLC_ERR_INTERNAL);
    mlc_plaid_classify_answer(200, "{}", 2, MLC_OK, NULL, &r);
    assert_int_equal(r.rc, MLC_OK);
    char name[MLC_PLAID_TOKEN_NAME_MAX + 1];
    assert_int_equal(mlc_plaid_token_name("WoNHCGu9VDYyKIqQnuGxMjmmqXkqJnKXeiJtI", name), MLC_OK);
    assert_int_equal(mlc_vault_name_check(name), MLC_OK);
    char other[MLC_PLAID_TOKEN_NAME_MAX + 1];
    assert_int_equal(mlc_plaid_token_name("wONHCGu9VDYyKIqQnuGxMjmmqXkqJnKXeiJtI", other), MLC_OK);
    assert_string_not_equal(name, other);             /* case matters in Plaid's ids */
}

static int apply_wh(struct fx *f, const char *json)
{
    struct mlc_plaid_webhook wh;
    assert_int_equal(mlc_plaid_webhook_parse(json, strlen(json), &wh), MLC_OK);
    return mlc_plaid_webhook_apply(f->st, &wh, fixed_now());
}

/* Verified webhooks change the item and its alerts; duplicates and unknown codes are harmless. */
static void webhooks_update_item_health(void **state)
{
    struct fx *f = *state;
    const char *sync = "{\"webhook_type\":\"TRANSACTIONS\",\"webhook_code\":"
                       "\"SYNC_UPDATES_AVAILABLE\",\"item_id\":\"item1\","
                       "\"initial_update_complete\":true,\"historical_update_complete\":true,"
                       "\"environment\":\"sandbox\"}";
    const char *err = "{\"webhook_type\":\"ITEM\",\"webhook_code\":\"ERROR\",\"item_id\":"
                      "\"item1\",\"error\":{\"error_type\":\"ITEM_ERROR\",\"error_code\":"
                      "\"ITEM_LOGIN_REQUIRED\",\"error_message\":\"m\",\"display_message\":"
                      "\"Log in again.\",\"status\":400},\"environment\":\"sandbox\"}";
    assert_int_equal(apply_wh(f, sync), 1);
    assert_int_equal(apply_wh(f, err), 0);
    assert_int_equal(apply_wh(f, err), 0);
    assert_int_equal(item(f).state, MLC_ITEM_NEEDS_REAUTH);
    assert_true(has_alert(f, "needs_reauth"));
    assert_int_equal(apply_wh(f, sync), 0);   /* no sync for an item that cannot be read */
    assert_int_equal(apply_wh(f, "{\"webhook_type\":\"ITEM\",\"webhook_code\":"
                                 "\"LOGIN_REPAIRED\",\"item_id\":\"item1\"}"), 0);
    assert_int_equal(item(f).state, MLC_ITEM_OK);
    assert_false(has_alert(f, "needs_reauth"));
    assert_int_equal(apply_wh(f, "{\"webhook_type\":\"ITEM\",\"webhook_code\":"
                                 "\"NEW_ACCOUNTS_AVAILABLE\",\"item_id\":\"item1\","
                                 "\"error\":null}"), 0);
    assert_int_equal(item(f).new_accounts, 1);
    assert_true(has_alert(f, "new_accounts"));
    assert_int_equal(apply_wh(f, "{\"webhook_type\":\"ITEM\",\"webhook_code\":"
                                 "\"PENDING_EXPIRATION\",\"item_id\":\"item1\","
                                 "\"consent_expiration_time\":\"2026-09-28T00:00:00Z\"}"), 0);
    assert_true(has_alert(f, "consent_expiring"));
    assert_true(item(f).consent_expires_ms > fixed_now());
    assert_int_equal(apply_wh(f, "{\"webhook_type\":\"ITEM\",\"webhook_code\":"
                                 "\"USER_PERMISSION_REVOKED\",\"item_id\":\"item1\"}"), 0);
    assert_string_equal(item(f).state_code, "USER_PERMISSION_REVOKED");
    /* unknown codes, types and items: logged and ignored */
    assert_int_equal(apply_wh(f, "{\"webhook_type\":\"ITEM\",\"webhook_code\":"
                                 "\"SOMETHING_NEW\",\"item_id\":\"item1\"}"), 0);
    assert_int_equal(apply_wh(f, "{\"webhook_type\":\"NEWTYPE\",\"webhook_code\":\"X\","
                                 "\"item_id\":\"item1\"}"), 0);
    assert_int_equal(apply_wh(f, "{\"webhook_type\":\"TRANSACTIONS\",\"webhook_code\":"
                                 "\"SYNC_UPDATES_AVAILABLE\",\"item_id\":\"other\"}"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(full_history_over_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(mutation_restarts_from_the_start_cursor, setup, teardown),
        cmocka_unit_test_setup_teardown(interrupted_update_resumes_from_its_start, setup, teardown),
        cmocka_unit_test_setup_teardown(rate_limit_backs_off_and_finishes, setup, teardown),
        cmocka_unit_test_setup_teardown(login_required_marks_the_item_and_skips_it, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(delta_update_and_new_account, setup, teardown),
        cmocka_unit_test_setup_teardown(heap_high_water_for_a_500_transaction_page, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(rotate_seals_the_new_token, setup, teardown),
        cmocka_unit_test_setup_teardown(interrupted_rotation_is_resolved, setup, teardown),
        cmocka_unit_test_setup_teardown(consent_and_time_parsing, setup, teardown),
        cmocka_unit_test_setup_teardown(answers_are_classified_once, setup, teardown),
        cmocka_unit_test_setup_teardown(webhooks_update_item_health, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
