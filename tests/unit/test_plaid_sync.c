#include "mlc_test_util.h"
#include "mlc_alloc.h"
#include "mlc_buf.h"
#include "mlc_err.h"
#include "mlc_plaid_error.h"
#include "mlc_plaid_sync.h"

#include <mbedtls/sha256.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a caller would keep: counts and copies of the first few records. */
struct seen {
    int txns, removed, accounts;
    struct mlc_plaid_txn t[4];
    enum mlc_sync_kind kind[4];
    struct mlc_plaid_removed r[2];
    struct mlc_plaid_account a[2];
    int stop_after; /* >0: the txn callback fails at that record */
};

static int on_txn(void *ctx, enum mlc_sync_kind kind, const struct mlc_plaid_txn *t)
{
    struct seen *s = ctx;
    if (s->txns < 4) {
        s->t[s->txns] = *t;
        s->kind[s->txns] = kind;
    }
    s->txns++;
    return s->stop_after && s->txns == s->stop_after ? MLC_ERR_STORE : 0;
}

static int on_removed(void *ctx, const struct mlc_plaid_removed *r)
{
    struct seen *s = ctx;
    if (s->removed < 2)
        s->r[s->removed] = *r;
    s->removed++;
    return 0;
}

static int on_account(void *ctx, const struct mlc_plaid_account *a)
{
    struct seen *s = ctx;
    if (s->accounts < 2)
        s->a[s->accounts] = *a;
    s->accounts++;
    return 0;
}

static int parse(const char *json, struct seen *s, struct mlc_plaid_sync_page *page)
{
    struct mlc_plaid_sync_cb cb = { on_txn, on_removed, on_account, s };
    memset(s, 0, sizeof(*s) - sizeof(s->stop_after));
    return mlc_plaid_sync_parse(json, strlen(json), &cb, page);
}

static char *spec_example(void)
{
    const char *root = getenv("MLC_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/fuzz_plaid_sync/spec_example.json",
             root ? root : ".");
    char *text = mlc_test_slurp(path, NULL);
    assert_non_null(text);
    return text;
}

static void parses_the_spec_example_page(void **state)
{
    (void)state;
    char *json = spec_example();
    struct seen s = { 0 };
    struct mlc_plaid_sync_page page;
    assert_int_equal(parse(json, &s, &page), MLC_OK);
    assert_int_equal(page.has_more, 0);
    assert_string_equal(page.next_cursor, "tVUUL15lYQN5rBnfDIc1I8xudpGdIlw9nsgeXWvhOfkECvUeR663i3Dt1uf/"
                                          "94S8ASkitgLcIiOSqNwzzp+bh89kirazha5vuZHBb2ZA5NtCDkkV");
    assert_int_equal(page.update_status, MLC_SYNC_STATUS_HISTORICAL_UPDATE_COMPLETE);
    assert_string_equal(page.request_id, "Wvhy9PZHQLV8njG");
    assert_int_equal(page.n_added, 1);
    assert_int_equal(page.n_modified, 1);
    assert_int_equal(page.n_removed, 1);
    assert_int_equal(page.n_accounts, 1);
    assert_int_equal(s.txns, 2);

    const struct mlc_plaid_txn *a = &s.t[0];
    assert_int_equal(s.kind[0], MLC_SYNC_ADDED);
    assert_string_equal(a->transaction_id, "lPNjeW1nR6CDn5okmGQ6hEpMo4lLNoSrzqDje");
    assert_string_equal(a->account_id, "BxBXxLj1m4HMXBm9WZZmCWVbPjX16EHwv99vp");
    assert_string_equal(a->pending_transaction_id, "no86Eox18VHMvaOVL7gPUM9ap3aR1LsAVZ5nc");
    assert_int_equal(a->pending, 0);
    assert_int_equal(a->amount.units, 721); /* 72.1, exactly */
    assert_int_equal(a->amount.scale, 1);
    assert_int_equal(a->amount_err, MLC_OK);
    assert_string_equal(a->currency, "USD");
    assert_true(a->currency_is_iso);
    assert_string_equal(a->date, "2023-09-24");
    assert_string_equal(a->authorized_date, "2023-09-22");
    assert_string_equal(a->name, "PURCHASE WM SUPERCENTER #1700");
    assert_string_equal(a->merchant_name, "Walmart");
    assert_string_equal(a->category, "GENERAL_MERCHANDISE");
    assert_string_equal(a->category_detailed, "GENERAL_MERCHANDISE_SUPERSTORES");
    assert_int_equal(a->payment_channel, MLC_CHANNEL_IN_STORE);

    const struct mlc_plaid_txn *m = &s.t[1];
    assert_int_equal(s.kind[1], MLC_SYNC_MODIFIED);
    assert_int_equal(m->pending, 1);
    assert_string_equal(m->pending_transaction_id, "");
    assert_int_equal(m->amount.units, 2834);
    assert_int_equal(m->payment_channel, MLC_CHANNEL_ONLINE);
    assert_string_equal(m->category, "FOOD_AND_DRINK");

    assert_string_equal(s.r[0].transaction_id, "CmdQTNgems8BT1B7ibkoUXVPyAeehT3Tmzk0l");
    assert_string_equal(s.r[0].account_id, "BxBXxLj1m4HMXBm9WZZmCWVbPjX16EHwv99vp");
    assert_string_equal(s.a[0].account_id, "BxBXxLj1m4HMXBm9WZZmCWVbPjX16EHwv99vp");
    assert_true(s.a[0].has_current && s.a[0].has_available);
    assert_int_equal(s.a[0].current.units, 11094);
    assert_int_equal(s.a[0].current.scale, 2);
    assert_string_equal(s.a[0].currency, "USD");
    assert_string_equal(s.a[0].name, "Plaid Checking");
    assert_string_equal(s.a[0].type, "depository");

    /* the audit digest covers the record's bytes exactly as received */
    const char *start = strstr(json, "\"added\": [") + strlen("\"added\": [");
    while (*start != '{')
        start++;
    const char *end = strstr(start, "\n    }") + strlen("\n    }");
    uint8_t want[32];
    assert_int_equal(mbedtls_sha256_ret((const uint8_t *)start, (size_t)(end - start), want, 0), 0);
    assert_memory_equal(a->raw_sha256, want, 32);
    free(json);
}

#define TX(id, amount, extra)                                                                     \
    "{\"transaction_id\":\"" id "\",\"account_id\":\"acc-1\",\"amount\":" amount                   \
    ",\"iso_currency_code\":\"EUR\",\"unofficial_currency_code\":null,\"date\":\"2026-11-20\","    \
    "\"pending\":false" extra "}"
#define PAGE(added) "{\"added\":[" added "],\"modified\":[],\"removed\":[],\"accounts\":[],"        \
                    "\"next_cursor\":\"c2\",\"has_more\":true,\"request_id\":\"r1\","             \
                    "\"transactions_update_status\":\"SOMETHING_NEW\"}"

static void amounts_come_from_the_text_not_a_double(void **state)
{
    (void)state;
    struct seen s;
    struct mlc_plaid_sync_page page;
    assert_int_equal(parse(PAGE(TX("t1", "0.1", "") "," TX("t2", "1E+2", "") ","
                                TX("t3", "-1234.56789012345678", "") ","
                                TX("t4", "0.0000000000000000001", "")), &s, &page), MLC_OK);
    assert_int_equal(s.t[0].amount.units, 1);
    assert_int_equal(s.t[0].amount.scale, 1);
    assert_int_equal(s.t[1].amount.units, 100);
    assert_int_equal(s.t[2].amount.units, -123456789012345678LL);
    assert_int_equal(s.t[2].amount.scale, 14);
    assert_string_equal(s.t[2].amount_text, "-1234.56789012345678");
    /* 19 decimals cannot be exact: the record still arrives, flagged, with the text kept */
    assert_int_equal(s.t[3].amount_err, MLC_ERR_DATA);
    assert_int_equal(s.t[3].amount.units, 0);
    assert_string_equal(s.t[3].amount_text, "0.0000000000000000001");
    assert_int_equal(s.t[0].amount_err, MLC_OK);
    /* new enum values are tolerated */
    assert_int_equal(page.update_status, MLC_SYNC_STATUS_UNKNOWN);
    assert_string_equal(page.update_status_raw, "SOMETHING_NEW");
    assert_int_equal(page.has_more, 1);
    /* currency: unofficial when there is no ISO code */
    assert_int_equal(parse(PAGE("{\"transaction_id\":\"t\",\"account_id\":\"a\",\"amount\":1,"
                                "\"iso_currency_code\":null,\"unofficial_currency_code\":\"USDC\","
                                "\"date\":\"2026-11-20\",\"pending\":true,"
                                "\"payment_channel\":\"teleport\",\"category\":[\"Food and Drink\","
                                "\"Restaurants\"],\"brand_new_field\":{\"x\":[1,{\"y\":null}]}}"),
                           &s, &page), MLC_OK);
    assert_string_equal(s.t[0].currency, "USDC");
    assert_false(s.t[0].currency_is_iso);
    assert_int_equal(s.t[0].payment_channel, MLC_CHANNEL_UNKNOWN);
    assert_string_equal(s.t[0].category, "Food and Drink > Restaurants");
    /* 29 February exists in leap years */
    assert_int_equal(parse(PAGE(TX("t1", "1", ",\"authorized_date\":\"2024-02-29\"")), &s, &page),
                     MLC_OK);
    assert_string_equal(s.t[0].authorized_date, "2024-02-29");
}

static int utf8_valid(const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t k = mlc_plaid_utf8_seq((const unsigned char *)s + i, n - i);
        if (!k)
            return 0;
        i += k;
    }
    return 1;
}

static void text_is_bounded_valid_utf8(void **state)
{
    (void)state;
    struct seen s;
    struct mlc_plaid_sync_page page;
    /* invalid bytes, a lone surrogate, an escaped NUL, a surrogate pair */
    const char *json = PAGE(TX("t1", "1", ",\"name\":\"caf\xE9 \xC3\x28 \\ud800x \\u0000 \\ud83d\\ude00 \\u00e9\""));
    assert_int_equal(parse(json, &s, &page), MLC_OK);
    assert_string_equal(s.t[0].name,
                        "caf\xEF\xBF\xBD \xEF\xBF\xBD( \xEF\xBF\xBDx \xEF\xBF\xBD \xF0\x9F\x98\x80 \xC3\xA9");
    assert_false(s.t[0].text_truncated);

    /* a 3000-byte name of 2-byte characters is cut below the cap, on a character boundary */
    struct mlc_buf b;
    mlc_buf_init(&b, 1 << 20);
    assert_int_equal(mlc_buf_append_str(&b, "{\"added\":[{\"transaction_id\":\"t\",\"account_id\":\"a\","
                                            "\"amount\":1,\"date\":\"2026-11-20\",\"pending\":false,"
                                            "\"name\":\"x"), MLC_OK);
    for (int k = 0; k < 1500; k++)
        assert_int_equal(mlc_buf_append_str(&b, "\xC3\xA9"), MLC_OK);
    assert_int_equal(mlc_buf_append_str(&b, "\"}],\"next_cursor\":\"\",\"has_more\":false}"), MLC_OK);
    assert_int_equal(parse(b.data, &s, &page), MLC_OK);
    assert_true(s.t[0].text_truncated);
    assert_int_equal(strlen(s.t[0].name), MLC_SYNC_TEXT_MAX - 1); /* "x" + 511 * 2 bytes */
    assert_true(utf8_valid(s.t[0].name));
    mlc_buf_free(&b);
}

static void malformed_pages_reach_no_callback(void **state)
{
    (void)state;
    struct seen s;
    struct mlc_plaid_sync_page page;
    /* the error is in the LAST record: no earlier record may have been handed out */
    static const char *const bad[] = {
        PAGE(TX("t1", "1", "") "," TX("t2", "01", "")),                 /* bad number */
        PAGE(TX("t1", "1", "") ",{\"transaction_id\":\"t2\"}"),          /* required fields */
        PAGE(TX("t1", "1", "") "," TX("t2", "1", ",\"date\":\"2026-13-01\"")),
        PAGE(TX("t1", "1", "") "," TX("t2", "1", ",\"authorized_date\":\"2025-02-29\"")),
        PAGE(TX("t1", "1", "") "," TX("t2", "1", ",\"authorized_date\":\"2026-04-31\"")),
        PAGE(TX("t1", "1", "") "," TX("t2", "1", ",\"amount\":-1")),  /* a second amount */
        "{\"added\":[],\"has_more\":false,\"next_cursor\":\"c\",\"has_more\":true}",
        PAGE(TX("t1", "1", "") "," TX("t2", "\"1.00\"", "")),            /* amount as string */
        PAGE(TX("t1", "1", "") "," TX("t2", "null", "")),
        PAGE(TX("t1", "1", "") "," TX("t2", "1", ",\"pending\":\"no\"")),
        PAGE(TX("t1", "1", "") "," TX("t2", "1", "") ","),               /* trailing comma */
        "{\"added\":[],\"next_cursor\":\"c\"}",                          /* no has_more */
        "{\"added\":[],\"has_more\":false}",                             /* no next_cursor */
        "{\"added\":[],\"has_more\":false,\"next_cursor\":\"c\"} x",     /* trailing garbage */
        "{\"added\":[],\"has_more\":false,\"next_cursor\":\"c\"",        /* truncated */
        "{\"added\":[],\"has_more\":false,\"next_cursor\":\"c\",\"removed\":[{\"account_id\":\"a\"}]}",
        "{\"added\":[],\"has_more\":false,\"next_cursor\":\"c\",\"x\":\"a\nb\"}", /* raw control */
        "{\"added\":[],\"has_more\":false,\"next_cursor\":\"c\",\"x\":\"\\q\"}",
        "[]", "", "nul",
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        page.has_more = 7;
        int rc = parse(bad[k], &s, &page);
        if (rc != MLC_ERR_DATA || s.txns || s.removed || s.accounts)
            fail_msg("case %zu: rc %d, %d callbacks", k, rc, s.txns + s.removed + s.accounts);
        assert_int_equal(page.has_more, 0); /* page cleared on failure */
    }
    /* an id longer than the cap is refused, never cut (a cut id could merge two transactions) */
    char id[MLC_PLAID_ID_MAX + 2];
    memset(id, 'i', sizeof(id) - 1);
    id[sizeof(id) - 1] = '\0';
    char json[2048];
    snprintf(json, sizeof(json), "{\"removed\":[{\"transaction_id\":\"%s\"}],\"has_more\":false,"
                                 "\"next_cursor\":\"\"}", id);
    assert_int_equal(parse(json, &s, &page), MLC_ERR_DATA);
    id[MLC_PLAID_ID_MAX] = '\0'; /* exactly at the cap is fine */
    snprintf(json, sizeof(json), "{\"removed\":[{\"transaction_id\":\"%s\"}],\"has_more\":false,"
                                 "\"next_cursor\":null}", id);
    assert_int_equal(parse(json, &s, &page), MLC_OK);
    assert_int_equal(s.removed, 1);
    assert_string_equal(s.r[0].account_id, "");
}

static void caps_on_size_depth_and_count(void **state)
{
    (void)state;
    struct seen s;
    struct mlc_plaid_sync_page page;
    struct mlc_buf b;
    /* nesting deeper than the cap inside an unknown field */
    mlc_buf_init(&b, 1 << 20);
    assert_int_equal(mlc_buf_append_str(&b, "{\"has_more\":false,\"next_cursor\":\"\",\"deep\":"), MLC_OK);
    for (int k = 0; k < MLC_SYNC_DEPTH_MAX + 1; k++)
        assert_int_equal(mlc_buf_append_str(&b, "["), MLC_OK);
    for (int k = 0; k < MLC_SYNC_DEPTH_MAX + 1; k++)
        assert_int_equal(mlc_buf_append_str(&b, "]"), MLC_OK);
    assert_int_equal(mlc_buf_append_str(&b, "}"), MLC_OK);
    assert_int_equal(parse(b.data, &s, &page), MLC_ERR_TOO_BIG);
    mlc_buf_reset(&b);
    /* one transaction more than Plaid's maximum count */
    assert_int_equal(mlc_buf_append_str(&b, "{\"has_more\":false,\"next_cursor\":\"\",\"added\":["), MLC_OK);
    for (int k = 0; k <= MLC_SYNC_ARRAY_MAX; k++)
        assert_int_equal(mlc_buf_printf(&b, "%s" TX("t%d", "1", ""), k ? "," : "", k), MLC_OK);
    assert_int_equal(mlc_buf_append_str(&b, "]}"), MLC_OK);
    assert_int_equal(parse(b.data, &s, &page), MLC_ERR_TOO_BIG);
    assert_int_equal(s.txns, 0);
    /* removals are capped more widely: 501 are a legitimate page, 5001 are not */
    for (int n = 501; n <= MLC_SYNC_REMOVED_MAX + 1; n += MLC_SYNC_REMOVED_MAX - 500) {
        mlc_buf_reset(&b);
        assert_int_equal(mlc_buf_append_str(&b, "{\"has_more\":false,\"next_cursor\":\"\",\"removed\":["), MLC_OK);
        for (int k = 0; k < n; k++)
            assert_int_equal(mlc_buf_printf(&b, "%s{\"transaction_id\":\"r%d\"}", k ? "," : "", k), MLC_OK);
        assert_int_equal(mlc_buf_append_str(&b, "]}"), MLC_OK);
        assert_int_equal(parse(b.data, &s, &page), n == 501 ? MLC_OK : MLC_ERR_TOO_BIG);
        assert_int_equal(s.removed, n == 501 ? 501 : 0);
    }
    mlc_buf_free(&b);
    /* bigger than the page cap: refused before reading a byte */
    assert_int_equal(mlc_plaid_sync_parse("{", (size_t)MLC_SYNC_PAGE_MAX + 1, NULL, &page),
                     MLC_ERR_TOO_BIG);
    /* a callback's failure stops the parse and comes back unchanged */
    struct mlc_plaid_sync_cb cb = { on_txn, on_removed, on_account, &s };
    memset(&s, 0, sizeof(s));
    s.stop_after = 1;
    const char *two = PAGE(TX("t1", "1", "") "," TX("t2", "2", ""));
    assert_int_equal(mlc_plaid_sync_parse(two, strlen(two), &cb, &page), MLC_ERR_STORE);
    assert_int_equal(s.txns, 1);
}

/* A realistic record, about 1.3 KB like Plaid's. */
static void add_record(struct mlc_buf *b, int k)
{
    assert_int_equal(mlc_buf_printf(b,
        "%s{\"account_id\":\"BxBXxLj1m4HMXBm9WZZmCWVbPjX16EHwv99vp\",\"account_owner\":null,"
        "\"amount\":%d.%02d,\"iso_currency_code\":\"EUR\",\"unofficial_currency_code\":null,"
        "\"check_number\":null,\"counterparties\":[{\"name\":\"Albert Heijn\",\"type\":\"merchant\","
        "\"logo_url\":\"https://plaid-merchant-logos.plaid.com/ah_1.png\",\"website\":\"ah.nl\","
        "\"entity_id\":\"O5W5j4dN9OR3E6ypQmjdkWZZRoXEzVMz2ByWM\",\"confidence_level\":\"VERY_HIGH\"}],"
        "\"date\":\"2026-11-%02d\",\"datetime\":null,\"authorized_date\":\"2026-11-%02d\","
        "\"authorized_datetime\":null,\"location\":{\"address\":\"Damrak 1\",\"city\":\"Amsterdam\","
        "\"region\":null,\"postal_code\":\"1012 LG\",\"country\":\"NL\",\"lat\":52.3765,\"lon\":4.8979,"
        "\"store_number\":\"1700\"},\"name\":\"AH TO GO DAMRAK %d AMSTERDAM\",\"merchant_name\":"
        "\"Albert Heijn\",\"merchant_entity_id\":\"O5W5j4dN9OR3E6ypQmjdkWZZRoXEzVMz2ByWM\","
        "\"logo_url\":\"https://plaid-merchant-logos.plaid.com/ah_1.png\",\"website\":\"ah.nl\","
        "\"payment_meta\":{\"by_order_of\":null,\"payee\":null,\"payer\":null,\"payment_method\":null,"
        "\"payment_processor\":null,\"ppd_id\":null,\"reason\":null,\"reference_number\":null},"
        "\"payment_channel\":\"in store\",\"pending\":false,\"pending_transaction_id\":null,"
        "\"personal_finance_category\":{\"primary\":\"FOOD_AND_DRINK\",\"detailed\":"
        "\"FOOD_AND_DRINK_GROCERIES\",\"confidence_level\":\"VERY_HIGH\"},"
        "\"personal_finance_category_icon_url\":\"https://plaid-category-icons.plaid.com/PFC_FOOD.png\","
        "\"transaction_id\":\"tx-%06d-lPNjeW1nR6CDn5okmGQ6hEpMo4lLNoSrz\",\"transaction_code\":null,"
        "\"transaction_type\":\"place\"}",
        k ? "," : "", k + 1, k % 100, k % 28 + 1, k % 28 + 1, k, k), MLC_OK);
}

static int count_and_sum(void *ctx, enum mlc_sync_kind kind, const struct mlc_plaid_txn *t)
{
    struct mlc_amount *sum = ctx;
    (void)kind;
    return mlc_amount_add(*sum, t->amount, sum);
}

static void heap_stays_small_for_a_full_page(void **state)
{
    (void)state;
    struct mlc_buf b;
    mlc_buf_init(&b, MLC_SYNC_PAGE_MAX);
    assert_int_equal(mlc_buf_append_str(&b, "{\"accounts\":[],\"added\":["), MLC_OK);
    for (int k = 0; k < 500; k++)
        add_record(&b, k);
    assert_int_equal(mlc_buf_append_str(&b, "],\"modified\":[],\"removed\":[],\"next_cursor\":\"c\","
                                            "\"has_more\":false,\"request_id\":\"r\","
                                            "\"transactions_update_status\":\"NOT_READY\"}"), MLC_OK);
    size_t page_size = b.len;
    assert_true(page_size > 500 * 1000);

    struct mlc_amount sum = { 0, 0 };
    struct mlc_plaid_sync_cb cb = { count_and_sum, NULL, NULL, &sum };
    struct mlc_plaid_sync_page page;
    size_t base = mlc_alloc_current();
    mlc_alloc_reset_peak();
    assert_int_equal(mlc_plaid_sync_parse(b.data, b.len, &cb, &page), MLC_OK);
    size_t used = mlc_alloc_peak() - base;
    /* The stated bound: one record's scratch (about 3.5 KiB), whatever the page size; far below
     * the brief's 4x page size (here about 2.5 MiB). */
    assert_true(used <= sizeof(struct mlc_plaid_txn) + 256);
    assert_true(used < 16 * 1024);
    assert_int_equal(mlc_alloc_current(), base);
    assert_int_equal(page.n_added, 500);
    assert_int_equal(page.update_status, MLC_SYNC_STATUS_NOT_READY);
    /* sum of k+1 + (k%100)/100 for k < 500, computed exactly: 125250 + 5 * 49.50 */
    struct mlc_amount want;
    assert_int_equal(mlc_amount_parse("125497.5", 8, &want), MLC_OK);
    assert_int_equal(mlc_amount_cmp(sum, want), 0);

    /* no memory: a clean MLC_ERR_NOMEM, nothing leaked */
    mlc_alloc_fail_after(1);
    assert_int_equal(mlc_plaid_sync_parse(b.data, b.len, &cb, &page), MLC_ERR_NOMEM);
    mlc_alloc_fail_after(0);
    assert_int_equal(mlc_alloc_current(), base);
    mlc_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_the_spec_example_page),
        cmocka_unit_test(amounts_come_from_the_text_not_a_double),
        cmocka_unit_test(text_is_bounded_valid_utf8),
        cmocka_unit_test(malformed_pages_reach_no_callback),
        cmocka_unit_test(caps_on_size_depth_and_count),
        cmocka_unit_test(heap_stays_small_for_a_full_page),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
