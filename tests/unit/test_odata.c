#include "mlc_test_util.h"
#include "mlc_alloc.h"
#include "mlc_err.h"
#include "mlc_odata.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *BASE = "https://start.exactonline.nl";

static void query_defaults(struct mlc_odata_query *q)
{
    memset(q, 0, sizeof(*q));
    q->base = BASE;
    q->division = 123456;
    q->service = "financialtransaction";
    q->entity = "BankEntryLines";
    q->select = "EntryID,Date,AmountFC";
}

/* The URL the client sends: pinned division, $select always, filter percent-encoded. */
static void url_carries_select_filter_and_top(void **state)
{
    (void)state;
    struct mlc_odata_filter f;
    mlc_odata_filter_init(&f);
    assert_int_equal(mlc_odata_filter_string(&f, MLC_ODATA_AND, "Notes", MLC_ODATA_EQ, "mlc:abc"), MLC_OK);
    assert_int_equal(mlc_odata_filter_datetime(&f, MLC_ODATA_AND, "Date", MLC_ODATA_GE,
                                               "2025-03-01T00:00:00"), MLC_OK);
    struct mlc_odata_query q;
    query_defaults(&q);
    q.filter = mlc_odata_filter_text(&f);
    q.top = 60;
    char url[MLC_ODATA_URL_MAX + 1];
    assert_int_equal(mlc_odata_build_url(&q, url, sizeof(url)), MLC_OK);
    assert_string_equal(url, "https://start.exactonline.nl/api/v1/123456/financialtransaction/"
                             "BankEntryLines?$select=EntryID,Date,AmountFC&$filter=Notes%20eq%20"
                             "'mlc:abc'%20and%20Date%20ge%20datetime'2025-03-01T00:00:00'&$top=60");
    q.base = "https://start.exactonline.nl/"; /* a trailing slash does not double */
    q.filter = NULL;
    q.top = 0;
    q.orderby = "Date desc";
    q.expand = "BankEntryLines";
    q.service = "sync/Financial";
    q.entity = "TransactionLines";
    assert_int_equal(mlc_odata_build_url(&q, url, sizeof(url)), MLC_OK);
    assert_string_equal(url, "https://start.exactonline.nl/api/v1/123456/sync/Financial/"
                             "TransactionLines?$select=EntryID,Date,AmountFC&$expand="
                             "BankEntryLines&$orderby=Date%20desc");
    mlc_odata_filter_free(&f);
}

/* Exact demands $select; the builder refuses a query without one (and never sends '*'). */
static void builder_refuses_without_select(void **state)
{
    (void)state;
    struct mlc_odata_query q;
    char url[512];
    query_defaults(&q);
    q.select = NULL;
    assert_int_equal(mlc_odata_build_url(&q, url, sizeof(url)), MLC_ERR_DATA);
    assert_string_equal(url, "");
    q.select = "";
    assert_int_equal(mlc_odata_build_url(&q, url, sizeof(url)), MLC_ERR_DATA);
    q.select = "*";
    assert_int_equal(mlc_odata_build_url(&q, url, sizeof(url)), MLC_ERR_DATA);
    q.select = "ID&$top=1";
    assert_int_equal(mlc_odata_build_url(&q, url, sizeof(url)), MLC_ERR_DATA);
}

static void bad_bases_and_segments_are_refused(void **state)
{
    (void)state;
    const char *bad_bases[] = { "ftp://start.exactonline.nl", "start.exactonline.nl",
                                "https://", "https://x.nl?a=b", "https://user@x.nl",
                                "https://x .nl", "https://x.nl#frag" };
    struct mlc_odata_query q;
    char url[512];
    for (size_t i = 0; i < sizeof(bad_bases) / sizeof(bad_bases[0]); i++) {
        query_defaults(&q);
        q.base = bad_bases[i];
        assert_int_equal(mlc_odata_build_url(&q, url, sizeof(url)), MLC_ERR_DATA);
    }
    query_defaults(&q);
    q.service = "../financial";
    assert_int_equal(mlc_odata_build_url(&q, url, sizeof(url)), MLC_ERR_DATA);
    q.service = "financial//x";
    assert_int_equal(mlc_odata_build_url(&q, url, sizeof(url)), MLC_ERR_DATA);
    query_defaults(&q);
    q.entity = "BankEntries(guid'x')";
    assert_int_equal(mlc_odata_build_url(&q, url, sizeof(url)), MLC_ERR_DATA);
    /* division 0 is the current/Me pseudo-division */
    query_defaults(&q);
    q.division = 0;
    q.service = "";
    q.entity = "Me";
    q.select = "CurrentDivision";
    assert_int_equal(mlc_odata_build_url(&q, url, sizeof(url)), MLC_OK);
    assert_string_equal(url, "https://start.exactonline.nl/api/v1/current/Me?$select=CurrentDivision");
}

/* A quote in a value is doubled, and query metacharacters are encoded, so a description can
 * never end the literal or add query options. */
static void string_literals_are_escaped_and_encoded(void **state)
{
    (void)state;
    struct mlc_odata_filter f;
    mlc_odata_filter_init(&f);
    assert_int_equal(mlc_odata_filter_string(&f, MLC_ODATA_AND, "Name", MLC_ODATA_EQ,
                                             "O'Brien & Co #1+2=3 caf\xc3\xa9"), MLC_OK);
    assert_string_equal(mlc_odata_filter_text(&f), "Name eq 'O''Brien & Co #1+2=3 caf\xc3\xa9'");
    struct mlc_odata_query q;
    query_defaults(&q);
    q.filter = mlc_odata_filter_text(&f);
    char url[1024];
    assert_int_equal(mlc_odata_build_url(&q, url, sizeof(url)), MLC_OK);
    const char *qs = strstr(url, "$filter=");
    assert_non_null(qs);
    assert_string_equal(qs, "$filter=Name%20eq%20'O''Brien%20%26%20Co%20%231%2B2%3D3%20caf%C3%A9'");
    assert_null(strchr(qs + 1, '&'));
    /* control characters are refused outright, and the error sticks */
    assert_int_equal(mlc_odata_filter_string(&f, MLC_ODATA_AND, "Name", MLC_ODATA_EQ, "a\nb"), MLC_ERR_DATA);
    assert_int_equal(mlc_odata_filter_int(&f, MLC_ODATA_AND, "X", MLC_ODATA_EQ, 1), MLC_ERR_DATA);
    assert_null(mlc_odata_filter_text(&f));
    mlc_odata_filter_free(&f);
}

static void guid_and_datetime_literals_are_validated(void **state)
{
    (void)state;
    struct mlc_odata_filter f;
    mlc_odata_filter_init(&f);
    assert_int_equal(mlc_odata_filter_guid(&f, MLC_ODATA_AND, "EntryID", MLC_ODATA_EQ,
                                           "0a1b2c3d-4e5f-6789-ABCD-ef0123456789"), MLC_OK);
    assert_string_equal(mlc_odata_filter_text(&f),
                        "EntryID eq guid'0a1b2c3d-4e5f-6789-ABCD-ef0123456789'");
    mlc_odata_filter_free(&f);

    const char *bad_guids[] = { "0a1b2c3d-4e5f-6789-abcd-ef012345678", "{0a1b2c3d-4e5f-6789-abcd-ef0123456789}",
                                "0a1b2c3d4e5f-6789-abcd-ef0123456789-", "0a1b2c3g-4e5f-6789-abcd-ef0123456789",
                                "x' or 1 eq 1 or 'x", "" };
    for (size_t i = 0; i < sizeof(bad_guids) / sizeof(bad_guids[0]); i++) {
        mlc_odata_filter_init(&f);
        assert_int_equal(mlc_odata_filter_guid(&f, MLC_ODATA_AND, "EntryID", MLC_ODATA_EQ, bad_guids[i]),
                         MLC_ERR_DATA);
        assert_null(mlc_odata_filter_text(&f));
        mlc_odata_filter_free(&f);
    }
    const char *good_dt[] = { "2024-02-29T23:59:59", "2025-12-31T00:00:00", "2000-02-29T12:00:00" };
    const char *bad_dt[] = { "2023-02-29T00:00:00", "1900-02-29T00:00:00", "2025-13-01T00:00:00",
                             "2025-04-31T00:00:00", "2025-03-01T24:00:00", "2025-03-01 00:00:00",
                             "2025-03-01T00:00", "2025-03-01T00:00:00Z", "2025-3-01T00:00:00" };
    for (size_t i = 0; i < sizeof(good_dt) / sizeof(good_dt[0]); i++)
        assert_true(mlc_odata_datetime_valid(good_dt[i]));
    for (size_t i = 0; i < sizeof(bad_dt) / sizeof(bad_dt[0]); i++) {
        assert_false(mlc_odata_datetime_valid(bad_dt[i]));
        mlc_odata_filter_init(&f);
        assert_int_equal(mlc_odata_filter_datetime(&f, MLC_ODATA_AND, "Modified", MLC_ODATA_GE, bad_dt[i]),
                         MLC_ERR_DATA);
        mlc_odata_filter_free(&f);
    }
    mlc_odata_filter_init(&f);
    assert_int_equal(mlc_odata_filter_int(&f, MLC_ODATA_AND, "Bad Field", MLC_ODATA_EQ, 1), MLC_ERR_DATA);
    mlc_odata_filter_free(&f);
}

/* Mixed and/or reads left to right, never by OData's hidden precedence. */
static void and_or_compose_left_to_right(void **state)
{
    (void)state;
    struct mlc_odata_filter f, sub;
    mlc_odata_filter_init(&f);
    mlc_odata_filter_int(&f, MLC_ODATA_AND, "A", MLC_ODATA_EQ, 1);
    mlc_odata_filter_int(&f, MLC_ODATA_AND, "B", MLC_ODATA_NE, -2);
    assert_int_equal(mlc_odata_filter_int(&f, MLC_ODATA_OR, "C", MLC_ODATA_GT, 3), MLC_OK);
    assert_string_equal(mlc_odata_filter_text(&f), "(A eq 1 and B ne -2) or C gt 3");
    mlc_odata_filter_free(&f);

    mlc_odata_filter_init(&f);
    mlc_odata_filter_init(&sub);
    mlc_odata_filter_int(&sub, MLC_ODATA_OR, "Type", MLC_ODATA_EQ, 40);
    mlc_odata_filter_int(&sub, MLC_ODATA_OR, "Type", MLC_ODATA_EQ, 41);
    mlc_odata_filter_string(&f, MLC_ODATA_AND, "JournalCode", MLC_ODATA_EQ, "20");
    assert_int_equal(mlc_odata_filter_group(&f, MLC_ODATA_AND, &sub), MLC_OK);
    mlc_odata_filter_int(&f, MLC_ODATA_AND, "Timestamp", MLC_ODATA_GT, 1);
    assert_string_equal(mlc_odata_filter_text(&f),
                        "JournalCode eq '20' and (Type eq 40 or Type eq 41) and Timestamp gt 1");
    mlc_odata_filter_free(&sub);
    mlc_odata_filter_init(&sub);
    assert_int_equal(mlc_odata_filter_group(&f, MLC_ODATA_AND, &sub), MLC_ERR_DATA); /* empty group */
    mlc_odata_filter_free(&sub);
    mlc_odata_filter_free(&f);
}

/* Exact refuses URLs over 6000 characters: the builder says TOO_BIG instead of sending one. */
static void url_length_is_capped_at_6000(void **state)
{
    (void)state;
    struct mlc_odata_query q;
    query_defaults(&q);
    char *url = malloc(8000);
    char *sel = malloc(7000);
    assert_non_null(url);
    assert_non_null(sel);
    strcpy(sel, "A");
    q.select = sel;
    assert_int_equal(mlc_odata_build_url(&q, url, 8000), MLC_OK);
    size_t fixed = strlen(url) - 1;
    memset(sel, 'A', MLC_ODATA_URL_MAX - fixed);
    sel[MLC_ODATA_URL_MAX - fixed] = '\0';
    assert_int_equal(mlc_odata_build_url(&q, url, 8000), MLC_OK);
    assert_int_equal(strlen(url), MLC_ODATA_URL_MAX);
    strcat(sel, "A");
    assert_int_equal(mlc_odata_build_url(&q, url, 8000), MLC_ERR_TOO_BIG);
    assert_string_equal(url, "");
    /* a caller buffer that is too small is TOO_BIG too, never a truncated URL */
    strcpy(sel, "EntryID");
    assert_int_equal(mlc_odata_build_url(&q, url, 40), MLC_ERR_TOO_BIG);
    assert_string_equal(url, "");
    /* the filter builder has its own cap */
    struct mlc_odata_filter f;
    mlc_odata_filter_init(&f);
    int rc = MLC_OK;
    for (int i = 0; i < 1000 && rc == MLC_OK; i++)
        rc = mlc_odata_filter_int(&f, MLC_ODATA_OR, "Timestamp", MLC_ODATA_EQ, i);
    assert_int_equal(rc, MLC_ERR_TOO_BIG);
    mlc_odata_filter_free(&f);
    free(sel);
    free(url);
}

/* __next comes from outside: following it must not leave Exact's host or its API. */
static void next_link_must_stay_on_our_host(void **state)
{
    (void)state;
    const char *ok[] = {
        "https://start.exactonline.nl/api/v1/123/financialtransaction/BankEntries?$skiptoken=guid'0a1b2c3d-4e5f-6789-abcd-ef0123456789'",
        "https://START.ExactOnline.NL/api/v1/123/x?$skiptoken=1",
        "https://start.exactonline.nl/api/v1/123/x.json/.hidden?$skiptoken=a/..b",
        "https://start.exactonline.nl:443/api/v1/123/x",
    };
    const char *bad[] = {
        "https://evil.example/api/v1/123/x",
        "https://start.exactonline.nl.evil.example/api/v1/123/x",
        "https://start.exactonline.nl@evil.example/api/v1/123/x",
        "http://start.exactonline.nl/api/v1/123/x",
        "https://start.exactonline.nl:8443/api/v1/123/x",
        "https://start.exactonline.nl/oauth2/token",
        "https://start.exactonline.nl/api/v1/../../admin",
        "https://start.exactonline.nl/api/v1/..",
        "https://start.exactonline.nl/api/v1/./x/..?a=1",
        "https://start.exactonline.nl/api/v1/123/x y",
        "https://start.exactonline.nl\\@evil.example/api/v1/1",
        "/api/v1/123/x",
        "",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        assert_int_equal(mlc_odata_next_check(BASE, ok[i]), MLC_OK);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(mlc_odata_next_check(BASE, bad[i]), MLC_ERR_DATA);
    assert_int_equal(mlc_odata_next_check("http://127.0.0.1:18080", "http://127.0.0.1:18080/api/v1/1/a"), MLC_OK);
    assert_int_equal(mlc_odata_next_check("http://127.0.0.1:18080", "http://127.0.0.1:18081/api/v1/1/a"), MLC_ERR_DATA);
}

static const char PAGE[] =
    "{\"d\":{\"results\":["
    "{\"__metadata\":{\"uri\":\"x\",\"type\":\"Exact.Web.Api.Models.BankEntryLine\"},"
    "\"ID\":\"0a1b2c3d-4e5f-6789-abcd-ef0123456789\",\"Date\":\"\\/Date(1740787200000)\\/\","
    "\"AmountFC\":-42.5,\"Notes\":\"mlc:tx1\"},"
    "{\"ID\":\"1a1b2c3d-4e5f-6789-abcd-ef0123456789\",\"Date\":\"\\/Date(1740873600000+0100)\\/\","
    "\"AmountFC\":10,\"Notes\":null}],"
    "\"__count\":\"2\","
    "\"__next\":\"https://start.exactonline.nl/api/v1/123456/financialtransaction/BankEntryLines?$skiptoken=guid'1a1b2c3d-4e5f-6789-abcd-ef0123456789'\"}}";

/* A page yields its rows in order, its __next link as given and its count. */
static void page_with_results_next_and_count(void **state)
{
    (void)state;
    size_t base = mlc_alloc_current();
    struct mlc_odata_page p;
    assert_int_equal(mlc_odata_page_parse(&p, PAGE, strlen(PAGE)), MLC_OK);
    assert_int_equal(p.n_rows, 2);
    assert_int_equal(p.count, 2);
    assert_false(p.single);
    assert_string_equal(p.next, "https://start.exactonline.nl/api/v1/123456/financialtransaction/"
                                "BankEntryLines?$skiptoken=guid'1a1b2c3d-4e5f-6789-abcd-ef0123456789'");
    assert_int_equal(mlc_odata_next_check(BASE, p.next), MLC_OK);
    char buf[64];
    const cJSON *r = mlc_odata_page_next(&p);
    assert_non_null(r);
    assert_int_equal(mlc_odata_row_string(r, "Notes", buf, sizeof(buf)), MLC_OK);
    assert_string_equal(buf, "mlc:tx1");
    assert_int_equal(mlc_odata_row_string(r, "Date", buf, sizeof(buf)), MLC_OK);
    int64_t ms;
    int off;
    assert_int_equal(mlc_odata_parse_date(buf, &ms, &off), MLC_OK);
    assert_true(ms == 1740787200000LL);
    assert_int_equal(off, 0);
    assert_int_equal(mlc_odata_row_string(r, "AmountFC", buf, sizeof(buf)), MLC_ERR_DATA);
    assert_int_equal(mlc_odata_row_string(r, "ID", buf, 10), MLC_ERR_TOO_BIG);
    r = mlc_odata_page_next(&p);
    assert_non_null(r);
    assert_int_equal(mlc_odata_row_string(r, "Notes", buf, sizeof(buf)), MLC_ERR_NOTFOUND);
    assert_int_equal(mlc_odata_row_string(r, "Date", buf, sizeof(buf)), MLC_OK);
    assert_int_equal(mlc_odata_parse_date(buf, &ms, &off), MLC_OK);
    assert_true(ms == 1740873600000LL);
    assert_int_equal(off, 60);
    assert_null(mlc_odata_page_next(&p));
    assert_null(mlc_odata_page_next(&p));
    mlc_odata_page_free(&p);
    mlc_odata_page_free(&p); /* twice is harmless */
    assert_int_equal(mlc_alloc_current(), base);
}

static void page_shapes_array_and_single(void **state)
{
    (void)state;
    struct mlc_odata_page p;
    const char *arr = "{\"d\":[{\"Code\":\"20\"},{\"Code\":\"21\"},{\"Code\":\"22\"}]}";
    assert_int_equal(mlc_odata_page_parse(&p, arr, strlen(arr)), MLC_OK);
    assert_int_equal(p.n_rows, 3);
    assert_null(p.next);
    assert_int_equal(p.count, -1);
    int n = 0;
    char code[8];
    for (const cJSON *r; (r = mlc_odata_page_next(&p)) != NULL; n++) {
        assert_int_equal(mlc_odata_row_string(r, "Code", code, sizeof(code)), MLC_OK);
        assert_int_equal(atoi(code), 20 + n);
    }
    assert_int_equal(n, 3);
    mlc_odata_page_free(&p);

    const char *one = " {\"d\":{\"__metadata\":{},\"EntryID\":\"x\",\"Status\":20}}\n";
    assert_int_equal(mlc_odata_page_parse(&p, one, strlen(one)), MLC_OK);
    assert_true(p.single);
    assert_int_equal(p.n_rows, 1);
    const cJSON *r = mlc_odata_page_next(&p);
    assert_non_null(r);
    assert_int_equal(cJSON_GetObjectItem(r, "Status")->valueint, 20);
    assert_null(mlc_odata_page_next(&p));
    mlc_odata_page_free(&p);

    const char *empty = "{\"d\":{\"results\":[]}}";
    assert_int_equal(mlc_odata_page_parse(&p, empty, strlen(empty)), MLC_OK);
    assert_int_equal(p.n_rows, 0);
    assert_null(mlc_odata_page_next(&p));
    mlc_odata_page_free(&p);
}

static void bad_pages_are_refused_without_leaks(void **state)
{
    (void)state;
    size_t base = mlc_alloc_current();
    const char *bad[] = {
        "", "null", "[]", "{}", "{\"d\":5}", "{\"d\":{\"results\":{}}}", "{\"d\":[1,2]}",
        "{\"d\":{\"results\":[],\"__count\":\"x1\"}}", "{\"d\":{\"results\":[],\"__next\":5}}",
        "{\"d\":[]} trailing", "{\"d\":[{\"a\":1}]", "{\"d\":[{\"a\":\"\\ud800\"}]}x",
        "{\"d\":[{\"a\":\"x\\u0000y\"}]}",
    };
    struct mlc_odata_page p;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(mlc_odata_page_parse(&p, bad[i], strlen(bad[i])), MLC_ERR_DATA);
        assert_null(p.root);
        assert_null(mlc_odata_page_next(&p));
        mlc_odata_page_free(&p);
    }
    const char nul[] = "{\"d\":[{\"a\":\"x\0y\"}]}";
    assert_int_equal(mlc_odata_page_parse(&p, nul, sizeof(nul) - 1), MLC_ERR_DATA);
    assert_int_equal(mlc_alloc_current(), base);
}

/* Nesting beyond 32 is refused before cJSON sees it, though cJSON itself would take 1000. */
static void deep_nesting_is_refused_before_parsing(void **state)
{
    (void)state;
    char body[256];
    size_t o = 0;
    o += (size_t)sprintf(body, "{\"d\":[{\"x\":");
    for (int i = 0; i < 30; i++)
        body[o++] = '[';
    for (int i = 0; i < 30; i++)
        body[o++] = ']';
    o += (size_t)sprintf(body + o, "}]}");
    struct mlc_odata_page p;
    assert_int_equal(mlc_odata_page_parse(&p, body, o), MLC_ERR_TOO_BIG); /* 33 deep */
    mlc_odata_page_free(&p);
    assert_int_equal(mlc_json_check_bounds(body, o, 1000, 33), MLC_OK);
    /* brackets inside strings do not count */
    const char *s = "{\"d\":[{\"x\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"[[[[[\"}]}";
    assert_int_equal(mlc_odata_page_parse(&p, s, strlen(s)), MLC_OK);
    mlc_odata_page_free(&p);
    assert_int_equal(mlc_json_check_bounds("{}", 2, 1, 32), MLC_ERR_TOO_BIG);
}

static void dates_parse_strictly(void **state)
{
    (void)state;
    int64_t ms = 7;
    int off = 7;
    assert_int_equal(mlc_odata_parse_date("/Date(-86400000)/", &ms, NULL), MLC_OK);
    assert_true(ms == -86400000LL);
    assert_int_equal(mlc_odata_parse_date("/Date(0-0130)/", &ms, &off), MLC_OK);
    assert_int_equal(off, -90);
    ms = 7;
    const char *bad[] = { "/Date()/", "/Date(12a)/", "Date(1)", "/Date(1)/x", "/Date(1)",
                          "/Date(12345678901234567)/", "/Date(1+01)/", "/Date(1+1599)/",
                          "/Date(--1)/", "/Date(1+01000)/", "" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(mlc_odata_parse_date(bad[i], &ms, &off), MLC_ERR_DATA);
    assert_true(ms == 7);
}

/* Every allocation failure inside the parser is reported and leaves nothing behind. */
static void allocation_failures_leave_nothing_behind(void **state)
{
    (void)state;
    size_t base = mlc_alloc_current();
    int ok = 0;
    for (long n = 1; n < 200 && !ok; n++) {
        struct mlc_odata_page p;
        mlc_alloc_fail_after(n);
        int rc = mlc_odata_page_parse(&p, PAGE, strlen(PAGE));
        mlc_alloc_fail_after(0);
        assert_true(rc == MLC_OK || rc == MLC_ERR_DATA || rc == MLC_ERR_NOMEM);
        ok = rc == MLC_OK;
        mlc_odata_page_free(&p);
        assert_int_equal(mlc_alloc_current(), base);
    }
    assert_true(ok);
}

int main(void)
{
    cJSON_Hooks hooks = { .malloc_fn = mlc_malloc, .free_fn = mlc_free };
    cJSON_InitHooks(&hooks);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(url_carries_select_filter_and_top),
        cmocka_unit_test(builder_refuses_without_select),
        cmocka_unit_test(bad_bases_and_segments_are_refused),
        cmocka_unit_test(string_literals_are_escaped_and_encoded),
        cmocka_unit_test(guid_and_datetime_literals_are_validated),
        cmocka_unit_test(and_or_compose_left_to_right),
        cmocka_unit_test(url_length_is_capped_at_6000),
        cmocka_unit_test(next_link_must_stay_on_our_host),
        cmocka_unit_test(page_with_results_next_and_count),
        cmocka_unit_test(page_shapes_array_and_single),
        cmocka_unit_test(bad_pages_are_refused_without_leaks),
        cmocka_unit_test(deep_nesting_is_refused_before_parsing),
        cmocka_unit_test(dates_parse_strictly),
        cmocka_unit_test(allocation_failures_leave_nothing_behind),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
