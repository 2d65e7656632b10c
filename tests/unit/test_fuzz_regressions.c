/* Fuzz findings stay fixed: every input saved under tests/fuzz/regressions/<target>/ (a crash,
 * leak or broken promise the fuzzer once found) is run through the same library parsers its fuzz
 * target drives, in the ordinary unit-test builds (so also under valgrind and ASan/UBSan, without
 * clang's libFuzzer). The committed seed corpora of every target are replayed the same way, so
 * each parser also meets its seeds in the memcheck run. Each replay asserts the promises the fuzz
 * target checks that matter most here: no crash, nothing leaked through mlc_alloc, every string
 * handed out terminated inside its buffer, nothing forged accepted. tools/fuzz.sh replays the
 * same files through the fuzz binaries themselves. */
#include "mlc_test_util.h"
#include "mlc_alloc.h"
#include "mlc_audit.h"
#include "mlc_b64.h"
#include "mlc_clock.h"
#include "mlc_config.h"
#include "mlc_decimal.h"
#include "mlc_err.h"
#include "mlc_exact.h"
#include "mlc_exact_error.h"
#include "mlc_exact_token.h"
#include "mlc_exact_webhook.h"
#include "mlc_http_parse.h"
#include "mlc_jwt.h"
#include "mlc_log.h"
#include "mlc_odata.h"
#include "mlc_plaid_error.h"
#include "mlc_plaid_pull.h"
#include "mlc_plaid_sync.h"
#include "mlc_plaid_webhook.h"
#include "mlc_ratelimit.h"
#include "mlc_vault.h"
#include "mlc_alert.h"
#include "mlc_journal.h"
#include "mlc_mapping.h"
#include "mlc_rules.h"
#include "mlc_store.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TERMINATED(field) assert_true(strnlen((field), sizeof(field)) < sizeof(field))

/* ---- one replay per fuzz target: the parsers that target drives, on one input ---- */

static void replay_audit_record(const uint8_t *d, size_t n)
{
    struct mlc_audit_record r;
    if (mlc_audit_decode(d, n, &r) == MLC_OK) {
        assert_true(n <= MLC_AUDIT_RECORD_MAX && r.seq != 0);
        assert_true(strlen(r.detail) <= MLC_AUDIT_DETAIL_MAX);
    }
    (void)mlc_audit_hash_ok(d, n);
}

static void replay_config(const uint8_t *d, size_t n)
{
    char err[4096];
    struct mlc_config *c = malloc(sizeof(*c));
    assert_non_null(c);
    int rc = mlc_config_parse(c, (const char *)d, n, "fuzz.conf", err, sizeof(err));
    assert_true(rc == MLC_OK || rc == MLC_ERR_CONFIG);
    TERMINATED(err);
    if (rc != MLC_OK)
        assert_int_equal(strncmp(err, "fuzz.conf", 9), 0);
    free(c);
}

static void replay_decimal(const uint8_t *d, size_t n)
{
    struct mlc_amount a, b;
    if (mlc_amount_parse((const char *)d, n, &a) != MLC_OK)
        return;
    char text[MLC_AMOUNT_STRMAX];
    int k = mlc_amount_format(a, 0, text, sizeof(text));
    assert_true(k > 0);
    assert_int_equal(mlc_amount_parse(text, (size_t)k, &b), MLC_OK);
    assert_int_equal(mlc_amount_cmp(a, b), 0);
}

static void replay_exact_error(const uint8_t *d, size_t n)
{
    if (n < 2)
        return;
    struct mlc_exact_failure f;
    int status = ((d[0] << 8) | d[1]) % 600;
    enum mlc_exact_class c =
        mlc_exact_error_classify(status, "", (const char *)d + 2, n - 2, &f);
    assert_true((unsigned)c <= MLC_EXACT_BUG);
    TERMINATED(f.message);
    assert_null(strchr(f.message, '\n'));
    char out[97];
    size_t k = mlc_exact_error_sanitize((const char *)d + 2, n - 2, out, sizeof(out));
    assert_true(k == strlen(out) && k < sizeof(out));
}

static void replay_exact_token(const uint8_t *d, size_t n)
{
    static const int statuses[] = { 200, 400, 401, 500, 429, 0, 503, 200 };
    if (n < 1)
        return;
    struct mlc_token_answer a;
    int rc = mlc_exact_token_parse(statuses[d[0] & 7], (const char *)d + 1, n - 1, &a);
    TERMINATED(a.message);
    if (rc != MLC_OK)
        assert_null(a.access_token);
    mlc_token_answer_free(&a);
    mlc_log_secret_clear();
}

static void replay_exact_webhook(const uint8_t *d, size_t n)
{
    static const unsigned char secret[] = "fuzz-webhook-secret";
    struct mlc_webhook_event ev;
    /* without the secret's HMAC nothing may pass */
    assert_int_not_equal(mlc_exact_webhook_verify((const char *)d, n, secret, sizeof(secret) - 1, &ev),
                         MLC_WEBHOOK_OK);
    const char *c, *h;
    size_t cl, hl;
    if (mlc_exact_webhook_split((const char *)d, n, &c, &cl, &h, &hl) == MLC_OK)
        assert_true(c >= (const char *)d && c + cl <= (const char *)d + n);
}

static void replay_http_request(const uint8_t *d, size_t n)
{
    const struct mlc_http_limits lim = { 512, 8, 256 };
    struct mlc_http_inreq a;
    int rc = mlc_http_parse_request((const char *)d, n, &lim, &a);
    if (rc == MLC_HTTP_INVALID)
        assert_true(a.status >= 400 && a.status <= 599 && a.reason);
    else if (rc == MLC_HTTP_COMPLETE)
        assert_true(a.total_len <= n && a.total_len == a.head_len + a.body_len);
}

static void replay_odata(const uint8_t *d, size_t n)
{
    struct mlc_odata_page p;
    int rc = mlc_odata_page_parse(&p, (const char *)d, n);
    assert_true(rc == MLC_OK || rc == MLC_ERR_DATA || rc == MLC_ERR_TOO_BIG);
    if (rc == MLC_OK) {
        size_t rows = 0;
        while (mlc_odata_page_next(&p))
            rows++;
        assert_int_equal(rows, p.n_rows);
    }
    mlc_odata_page_free(&p);
    char *text = mlc_strndup((const char *)d, n);
    assert_non_null(text);
    int64_t ms;
    (void)mlc_odata_parse_date(text, &ms, NULL);
    (void)mlc_odata_next_check("https://start.exactonline.nl", text);
    mlc_free(text);
}

static void replay_plaid_error(const uint8_t *d, size_t n)
{
    struct mlc_plaid_error e;
    int rc = mlc_plaid_error_parse((const char *)d, n, &e);
    int http = n ? 400 + d[0] % 200 : 0;
    assert_true(mlc_plaid_error_classify(rc == MLC_OK ? &e : NULL, http) <= MLC_PLAID_BUG);
    char line[256];
    size_t k = mlc_plaid_error_describe(rc == MLC_OK ? &e : NULL, http, line, sizeof(line));
    assert_true(k == strlen(line) && k < sizeof(line));
}

static int on_txn(void *ctx, enum mlc_sync_kind kind, const struct mlc_plaid_txn *t)
{
    (void)ctx;
    (void)kind;
    TERMINATED(t->transaction_id);
    TERMINATED(t->account_id);
    TERMINATED(t->name);
    assert_true(t->transaction_id[0] && t->account_id[0]);
    return 0;
}

static void replay_plaid_sync(const uint8_t *d, size_t n)
{
    struct mlc_plaid_sync_cb cb = { on_txn, NULL, NULL, NULL };
    struct mlc_plaid_sync_page page;
    if (mlc_plaid_sync_parse((const char *)d, n, &cb, &page) == MLC_OK)
        TERMINATED(page.next_cursor);
}

static int any_key(void *ctx, const char *kid, struct mlc_jwk *out)
{
    (void)ctx;
    memset(out, 0, sizeof(*out));
    snprintf(out->kid, sizeof(out->kid), "%s", kid);
    strcpy(out->kty, "EC");
    strcpy(out->crv, "P-256");
    strcpy(out->alg, "ES256");
    strcpy(out->x, "hKXLGIjWvCBv-cP5euCTxl8g9GLG9zHo_3pO5NN1DwQ");
    strcpy(out->y, "shhexqPB7YffGn6fR6h2UhTSuCtPmfzQJ6ENVIoO4Ys");
    return MLC_OK;
}

static void replay_jwk(const uint8_t *d, size_t n)
{
    const char *s = (const char *)d;
    struct mlc_jwt jwt;
    if (mlc_jwt_split(s, n, &jwt) == MLC_OK) {
        TERMINATED(jwt.kid);
        assert_true(jwt.sig_len <= sizeof(jwt.sig) && jwt.signing_input_len < n);
        if (mlc_jwt_parse_payload(&jwt) == MLC_OK)
            TERMINATED(jwt.body_sha256);
    }
    struct mlc_jwk key;
    if (mlc_jwk_parse(s, n, &key) == MLC_OK) {
        TERMINATED(key.kid);
        TERMINATED(key.x);
        TERMINATED(key.y);
        /* the required members say something */
        assert_true(key.kid[0] && key.kty[0] && key.crv[0] && key.x[0] && key.y[0]);
    }
    uint8_t bytes[MLC_B64URL_DECODED_MAX(4096)];
    size_t k;
    if (n <= 4096)
        (void)mlc_b64url_decode(s, n, bytes, sizeof(bytes), &k);
}

static void replay_plaid_webhook(const uint8_t *d, size_t n)
{
    const char *s = (const char *)d;
    const char *nl = memchr(s, '\n', n);
    size_t tlen = nl ? (size_t)(nl - s) : n;
    const char *body = nl ? nl + 1 : s + n;
    size_t blen = n - tlen - (nl ? 1 : 0);
    /* the fixed key's private half is in no seed: nothing may verify */
    assert_int_not_equal(mlc_plaid_webhook_verify(s, tlen, body, blen, 1764079200000LL, any_key, NULL),
                         MLC_WH_OK);
    replay_jwk((const uint8_t *)s, tlen);
    replay_jwk((const uint8_t *)body, blen);
    struct mlc_plaid_webhook wh;
    if (mlc_plaid_webhook_parse(body, blen, &wh) == MLC_OK)
        TERMINATED(wh.webhook_code);
}

static void replay_vault_unseal(const uint8_t *d, size_t n)
{
    static const uint8_t key[MLC_VAULT_KEY_LEN] = "0123456789abcdef0123456789abcde";
    if (n < 1)
        return;
    const uint8_t *blob = d + 1;
    size_t blen = n - 1;
    char name[MLC_VAULT_NAME_MAX + 8] = "plaid.secret";
    if ((d[0] & 3) == 3)
        return; /* a value to seal: nothing read from outside */
    if ((d[0] & 3) == 1) {
        const uint8_t *nl = memchr(blob, '\n', blen);
        size_t nlen = nl ? (size_t)(nl - blob) : blen;
        if (nlen >= sizeof(name))
            nlen = sizeof(name) - 1;
        memcpy(name, blob, nlen);
        name[nlen] = '\0';
        blob = nl ? nl + 1 : d + n;
        blen = (size_t)(d + n - blob);
    }
    char *val = NULL;
    size_t len = 0;
    int rc = mlc_vault_unseal(key, name, blob, blen, &val, &len, NULL);
    if (rc == MLC_OK) {
        assert_int_equal(len + MLC_VAULT_OVERHEAD, blen);
        mlc_vault_free_secret(val, len);
    } else {
        assert_true(rc == MLC_ERR_TAMPER || rc == MLC_ERR_USAGE);
        assert_null(val);
        assert_null(strchr(mlc_vault_last_error(), '\n'));
    }
}

static void replay_dates(const uint8_t *d, size_t n)
{
    char s[128], out[64];
    size_t k = n < sizeof(s) - 1 ? n : sizeof(s) - 1;
    memcpy(s, d, k);
    s[k] = '\0';
    int64_t ms, again;
    if (mlc_clock_parse_http_date(s, &ms) == MLC_OK) {
        assert_int_equal(mlc_clock_format_http_date(ms, out, sizeof(out)), MLC_OK);
        assert_int_equal(mlc_clock_parse_http_date(out, &again), MLC_OK);
        assert_true(again == ms);
    }
    (void)mlc_plaid_parse_time(s, &ms);
    if (mlc_audit_parse_date(s, &ms) == MLC_OK)
        assert_true(ms >= 0 && ms % 86400000LL == 0);
}

static void replay_ratelimit(const uint8_t *d, size_t n)
{
    struct mlc_ratelimit rl;
    struct mlc_ratelimit_headers h;
    int64_t now = 1764079200000LL;
    mlc_ratelimit_init(&rl);
    memset(&h, 0, sizeof(h));
    const char *p = (const char *)d, *end = p + n;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
        int rc = mlc_ratelimit_header_line(&h, p, len);
        assert_true(rc == 0 || rc == 1 || rc == MLC_ERR_DATA);
        p += len;
    }
    mlc_ratelimit_on_response(&rl, 429, &h, now);
    int64_t at = mlc_ratelimit_check(&rl, now);
    /* whatever the headers say, never a wait of more than about two days */
    assert_true(at == 0 || (at > now && at <= now + 3 * 86400000LL));
}

static void replay_exact_code(const uint8_t *d, size_t n)
{
    char input[9000], code[MLC_EXACT_CODE_MAX + 1], state[MLC_EXACT_STATE_LEN * 2 + 1];
    if (n >= sizeof(input))
        return;
    memcpy(input, d, n);
    input[n] = '\0';
    if (mlc_exact_code_parse(input, code, sizeof(code), state, sizeof(state)) == MLC_OK) {
        assert_true(code[0] && !strchr(code, ' ') && !strchr(code, '&'));
        TERMINATED(state);
        /* an answer carrying an error is never read for a code */
        const char *q = strchr(input, '?');
        assert_false(q && strncmp(q + 1, "error=", 6) == 0);
    }
}

/* Stored records: a scratch store for the whole group (opened in setup, so its own allocations
 * do not count against the replays' leak check). */
static struct mlc_store *scratch;
static char scratch_dir[512];

static int any_item(void *ctx, const struct mlc_journal_item *it)
{
    (void)ctx;
    TERMINATED(it->item_id);
    TERMINATED(it->cursor);
    return 0;
}

static int any_account(void *ctx, const struct mlc_journal_account *a)
{
    (void)ctx;
    TERMINATED(a->account_id);
    TERMINATED(a->name);
    return 0;
}

static int any_txn(void *ctx, const struct mlc_journal_txn *t)
{
    (void)ctx;
    TERMINATED(t->transaction_id);
    TERMINATED(t->amount);
    return 0;
}

static int any_mapping(void *ctx, const struct mlc_mapping *m)
{
    (void)ctx;
    TERMINATED(m->account_id);
    TERMINATED(m->journal);
    return 0;
}

static int any_rule(void *ctx, const struct mlc_rule *r)
{
    (void)ctx;
    char text[1024];
    mlc_rule_describe(r, text, sizeof(text));
    TERMINATED(text);
    return 0;
}

static int any_alert(void *ctx, const struct mlc_alert *a)
{
    (void)ctx;
    TERMINATED(a->key);
    TERMINATED(a->message);
    return 0;
}

static void replay_store_records(const uint8_t *d, size_t n)
{
    if (n < 1)
        return;
    assert_non_null(scratch);
    struct mlc_txn *txn = NULL;
    assert_int_equal(mlc_store_begin(scratch, 0, &txn), MLC_OK);
    int rc;
    switch (d[0] % 6) {
    case 0:
        assert_int_equal(mlc_store_put(txn, MLC_DB_ITEMS, "item-1", 6, d + 1, n - 1), MLC_OK);
        rc = mlc_journal_item_each(txn, any_item, NULL);
        break;
    case 1:
        assert_int_equal(mlc_store_put(txn, MLC_DB_ACCOUNTS, "acc-1", 5, d + 1, n - 1), MLC_OK);
        rc = mlc_journal_account_each(txn, NULL, any_account, NULL);
        break;
    case 2:
        assert_int_equal(mlc_store_put(txn, MLC_DB_TXNS, "acc-1/txn-1", 11, d + 1, n - 1), MLC_OK);
        rc = mlc_journal_txn_each(txn, "acc-1", any_txn, NULL);
        break;
    case 3:
        assert_int_equal(mlc_store_put(txn, MLC_DB_MAPPINGS, "map/acc-1", 9, d + 1, n - 1), MLC_OK);
        rc = mlc_mapping_each(txn, any_mapping, NULL);
        break;
    case 4:
        assert_int_equal(mlc_store_put(txn, MLC_DB_MAPPINGS, "rule/00000001", 13, d + 1, n - 1),
                         MLC_OK);
        rc = mlc_rules_each(txn, any_rule, NULL);
        break;
    default:
        assert_int_equal(mlc_store_put(txn, MLC_DB_ALERTS, "alert-1", 7, d + 1, n - 1), MLC_OK);
        rc = mlc_alert_each(txn, any_alert, NULL);
        break;
    }
    mlc_store_abort(txn);
    assert_true(rc == MLC_OK || rc == MLC_ERR_DATA);
}

struct replay {
    const char *target;
    void (*fn)(const uint8_t *d, size_t n);
};

static const struct replay REPLAYS[] = {
    { "fuzz_audit_record", replay_audit_record },
    { "fuzz_config", replay_config },
    { "fuzz_decimal", replay_decimal },
    { "fuzz_exact_error", replay_exact_error },
    { "fuzz_exact_token", replay_exact_token },
    { "fuzz_exact_webhook", replay_exact_webhook },
    { "fuzz_http_request", replay_http_request },
    { "fuzz_odata", replay_odata },
    { "fuzz_plaid_error", replay_plaid_error },
    { "fuzz_plaid_sync", replay_plaid_sync },
    { "fuzz_plaid_webhook", replay_plaid_webhook },
    { "fuzz_vault_unseal", replay_vault_unseal },
    { "fuzz_jwk", replay_jwk },
    { "fuzz_dates", replay_dates },
    { "fuzz_ratelimit", replay_ratelimit },
    { "fuzz_exact_code", replay_exact_code },
    { "fuzz_store_records", replay_store_records },
};
#define N_REPLAYS (sizeof(REPLAYS) / sizeof(REPLAYS[0]))

static const struct replay *replay_find(const char *target)
{
    for (size_t i = 0; i < N_REPLAYS; i++)
        if (strcmp(REPLAYS[i].target, target) == 0)
            return &REPLAYS[i];
    return NULL;
}

static const char *source_dir(void)
{
    const char *s = getenv("MLC_SOURCE_DIR");
    return s && *s ? s : ".";
}

/* Runs every regular file in dir through fn, each from its own exact-size heap copy (so ASan and
 * valgrind see a read past the input), checking that the parsers give back all they allocate.
 * Returns the number of files, or -1 if dir does not exist. */
static long replay_dir(const char *dir, const struct replay *r)
{
    DIR *dh = opendir(dir);
    if (!dh)
        return -1;
    long count = 0;
    struct dirent *e;
    while ((e = readdir(dh)) != NULL) {
        char path[1024];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (e->d_name[0] == '.' || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        size_t len = 0;
        char *text = mlc_test_slurp(path, &len);
        assert_non_null(text);
        uint8_t *exact = malloc(len ? len : 1);
        assert_non_null(exact);
        memcpy(exact, text, len);
        free(text);
        size_t before = mlc_alloc_current();
        r->fn(exact, len);
        if (mlc_alloc_current() != before)
            fail_msg("%s: %s leaks %zu bytes", r->target, path, mlc_alloc_current() - before);
        free(exact);
        count++;
    }
    closedir(dh);
    return count;
}

static char unknown_target[256];

/* Replays tests/fuzz/regressions/<target>/<file> under root. Returns the files replayed, or -1
 * (naming it in unknown_target) for a directory of a target without a replay here: a saved crash
 * must never be skipped silently. */
static long replay_regressions(const char *root)
{
    DIR *dh = opendir(root);
    if (!dh)
        return 0;
    long total = 0;
    struct dirent *e;
    while ((e = readdir(dh)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        const struct replay *r = replay_find(e->d_name);
        if (!r) {
            snprintf(unknown_target, sizeof(unknown_target), "%s", e->d_name);
            closedir(dh);
            return -1;
        }
        char dir[1024];
        snprintf(dir, sizeof(dir), "%s/%s", root, e->d_name);
        long n = replay_dir(dir, r);
        if (n > 0)
            total += n;
    }
    closedir(dh);
    return total;
}

static int setup(void **state)
{
    (void)state;
    mlc_alloc_install_hooks();
    snprintf(scratch_dir, sizeof(scratch_dir), "%s", mlc_test_tmpdir("fuzzreg-store"));
    return mlc_store_open(&scratch, scratch_dir, NULL) == MLC_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    mlc_store_close(scratch);
    scratch = NULL;
    if (scratch_dir[0])
        mlc_test_rmtree(scratch_dir);
    return 0;
}

/* Every saved fuzz finding still parses without a crash, a leak or a broken promise. */
static void saved_fuzz_findings_stay_fixed(void **state)
{
    (void)state;
    char root[1024];
    snprintf(root, sizeof(root), "%s/tests/fuzz/regressions", source_dir());
    long n = replay_regressions(root);
    if (n < 0)
        fail_msg("%s/%s holds fuzz regressions for a target this test cannot replay: add it to "
                 "REPLAYS in tests/unit/test_fuzz_regressions.c", root, unknown_target);
    print_message("replayed %ld saved fuzz finding(s) from %s\n", n, root);
}

/* Every target's committed seeds go through the same replay, so each parser meets real inputs
 * under valgrind and ASan in the normal test run, and a seed dir never goes missing unnoticed. */
static void every_seed_corpus_replays_clean(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_REPLAYS; i++) {
        const struct replay *r = &REPLAYS[i];
        char src[1024], dir[1024];
        snprintf(src, sizeof(src), "%s/tests/fuzz/%s.c", source_dir(), r->target);
        struct stat st;
        if (stat(src, &st) != 0)
            continue; /* that target is not in this tree */
        /* seed dirs are named fuzz_<name> or, for the older ones, <name> */
        snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/%s", source_dir(), r->target);
        long n = replay_dir(dir, r);
        if (n < 0) {
            snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/%s", source_dir(), r->target + 5);
            n = replay_dir(dir, r);
        }
        if (n <= 0)
            fail_msg("%s has no seed corpus under tests/fuzz/corpus/", r->target);
    }
}

/* The driver itself: a finding for a known target is run, and one for a target it cannot replay
 * fails the test instead of being skipped. */
static void a_saved_finding_is_replayed_and_an_unknown_target_fails(void **state)
{
    (void)state;
    const char *tmp = mlc_test_tmpdir("fuzzreg");
    char path[1024];
    snprintf(path, sizeof(path), "%s/fuzz_decimal", tmp);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/fuzz_decimal/crash-1", tmp);
    mlc_test_write(path, "-0.000000000000000001");
    snprintf(path, sizeof(path), "%s/fuzz_decimal/crash-2", tmp);
    mlc_test_write(path, "9223372036854775808");
    assert_int_equal(replay_regressions(tmp), 2);

    snprintf(path, sizeof(path), "%s/fuzz_nonexistent", tmp);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(replay_regressions(tmp), -1);
    assert_string_equal(unknown_target, "fuzz_nonexistent");
    mlc_test_rmtree(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(saved_fuzz_findings_stay_fixed),
        cmocka_unit_test(every_seed_corpus_replays_clean),
        cmocka_unit_test(a_saved_finding_is_replayed_and_an_unknown_target_fails),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
