#include "mlc_test_util.h"
#include "mlc_alloc.h"
#include "mlc_err.h"
#include "mlc_exact_webhook.h"

#include <cjson/cJSON.h>
#include <mbedtls/md.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char SECRET[] = "wh-secret-0123456789";
#define SECRET_LEN (sizeof(SECRET) - 1)

static const char CONTENT[] =
    "{\"Topic\":\"BankEntries\",\"ClientId\":\"3f1c2a9e-5b7d-4e2f-9a61-0c8d7e6f5a4b\",\"Division\":4471372,"
    "\"Action\":\"Update\",\"Key\":\"0a1b2c3d-4e5f-6789-abcd-ef0123456789\",\"ExactOnlineEndpoint\":"
    "\"/api/v1/4471372/financialtransaction/BankEntries(guid'0a1b2c3d-4e5f-6789-abcd-ef0123456789')\","
    "\"EventCreatedOn\":\"\\/Date(1764079200000)\\/\"}";
/* computed independently: python3 hmac.new(secret, content, sha256).hexdigest().upper() */
static const char HASH[] = "B05B79876A24321E133914096A56207134A5860057991B2C80810BA8832CE063";

static char *body_of(const char *content, const char *hash)
{
    size_t n = strlen(content) + strlen(hash) + 64;
    char *b = malloc(n);
    assert_non_null(b);
    snprintf(b, n, "{\"Content\":%s,\"HashCode\":\"%s\"}", content, hash);
    return b;
}

/* Signs content with the secret the way Exact does (uppercase hex), for bodies built in tests. */
static void sign(const char *content, const unsigned char *secret, size_t slen, char hex[65])
{
    unsigned char mac[32];
    assert_int_equal(mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), secret, slen,
                                     (const unsigned char *)content, strlen(content), mac), 0);
    for (int i = 0; i < 32; i++)
        sprintf(hex + 2 * i, "%02X", mac[i]);
}

static enum mlc_webhook_result verify(const char *body, struct mlc_webhook_event *ev)
{
    return mlc_exact_webhook_verify(body, strlen(body), SECRET, SECRET_LEN, ev);
}

/* A genuine notification is accepted and tells which record changed where. */
static void genuine_notification_is_accepted(void **state)
{
    (void)state;
    char *b = body_of(CONTENT, HASH);
    struct mlc_webhook_event ev;
    assert_int_equal(verify(b, &ev), MLC_WEBHOOK_OK);
    assert_string_equal(ev.topic, "BankEntries");
    assert_true(ev.division == 4471372);
    assert_string_equal(ev.action, "Update");
    assert_string_equal(ev.key, "0a1b2c3d-4e5f-6789-abcd-ef0123456789");
    assert_string_equal(ev.endpoint, "/api/v1/4471372/financialtransaction/BankEntries(guid'0a1b2c3d-4e5f-6789-abcd-ef0123456789')");
    assert_string_equal(ev.client_id, "3f1c2a9e-5b7d-4e2f-9a61-0c8d7e6f5a4b");
    assert_int_equal(mlc_exact_webhook_http_status(MLC_WEBHOOK_OK), 200);
    /* the Content text is cut out exactly as received */
    const char *c, *h;
    size_t cl, hl;
    assert_int_equal(mlc_exact_webhook_split(b, strlen(b), &c, &cl, &h, &hl), MLC_OK);
    assert_int_equal(cl, strlen(CONTENT));
    assert_memory_equal(c, CONTENT, cl);
    assert_int_equal(hl, 64);
    assert_memory_equal(h, HASH, 64);
    free(b);
}

/* The HMAC covers the raw text: spacing, key order and braces inside strings are kept as sent. */
static void raw_text_is_what_is_signed(void **state)
{
    (void)state;
    const char *content = "{ \"Topic\" : \"BankEntries\",\n  \"Division\": 12,\"Action\":\"Create\","
                          "\"Key\":\"0A1B2C3D-4E5F-6789-ABCD-EF0123456789\",\"Note\":\"a}b\\\"{c\\\\\","
                          "\"Extra\":{\"x\":[1,{\"y\":null}]} }";
    char hex[65], body[1024];
    sign(content, SECRET, SECRET_LEN, hex);
    snprintf(body, sizeof(body), " {\r\n \"HashCode\" : \"%s\" ,\n \"Content\" :%s\n}\n", hex, content);
    struct mlc_webhook_event ev;
    assert_int_equal(verify(body, &ev), MLC_WEBHOOK_OK);
    assert_string_equal(ev.action, "Create");
    assert_string_equal(ev.endpoint, "");
    /* re-serialising the same JSON with other spacing would not verify: the raw text is used */
    char hex2[65];
    sign("{\"Topic\":\"BankEntries\"}", SECRET, SECRET_LEN, hex2);
    snprintf(body, sizeof(body), "{\"Content\":{ \"Topic\":\"BankEntries\"},\"HashCode\":\"%s\"}", hex2);
    assert_int_equal(verify(body, NULL), MLC_WEBHOOK_BAD_SIGNATURE);
}

/* Anything not signed with our secret in uppercase hex is refused. */
static void forged_or_damaged_notifications_are_refused(void **state)
{
    (void)state;
    char lower[65];
    for (int i = 0; i < 65; i++)
        lower[i] = (char)((HASH[i] >= 'A' && HASH[i] <= 'F') ? HASH[i] - 'A' + 'a' : HASH[i]);
    char *b = body_of(CONTENT, lower);
    assert_int_equal(verify(b, NULL), MLC_WEBHOOK_BAD_SIGNATURE); /* lowercase: strict */
    free(b);
    b = body_of(CONTENT, HASH);
    static const unsigned char other[] = "wh-secret-0123456788";
    assert_int_equal(mlc_exact_webhook_verify(b, strlen(b), other, sizeof(other) - 1, NULL),
                     MLC_WEBHOOK_BAD_SIGNATURE);
    /* every single changed byte anywhere in the body is refused */
    size_t n = strlen(b);
    for (size_t i = 0; i < n; i++) {
        char saved = b[i];
        b[i] = (char)(b[i] ^ 0x01);
        enum mlc_webhook_result r = mlc_exact_webhook_verify(b, n, SECRET, SECRET_LEN, NULL);
        if (r == MLC_WEBHOOK_OK)
            fail_msg("byte %zu changed and still accepted", i);
        b[i] = saved;
    }
    assert_int_equal(verify(b, NULL), MLC_WEBHOOK_OK);
    free(b);
    const char *bad_sig[] = {
        "{\"Content\":{\"Topic\":\"BankEntries\"}}",
        "{\"Content\":{\"Topic\":\"BankEntries\"},\"HashCode\":\"\"}",
        "{\"Content\":{\"Topic\":\"BankEntries\"},\"HashCode\":\"B05B79876A24321E133914096A56207134A5860057991B2C80810BA8832CE06\"}",
        "{\"Content\":{\"Topic\":\"BankEntries\"},\"HashCode\":\"sGx5h2okMh4TORQJalYgcTSlhgBXmRssgIELqIMs4GM=\"}",
    };
    for (size_t i = 0; i < sizeof(bad_sig) / sizeof(bad_sig[0]); i++)
        assert_int_equal(verify(bad_sig[i], NULL), MLC_WEBHOOK_BAD_SIGNATURE);
    assert_int_equal(mlc_exact_webhook_http_status(MLC_WEBHOOK_BAD_SIGNATURE), 401);
}

/* Exact's empty POST after subscribing is a validation ping (answered 200), secret or not. */
static void empty_post_is_a_validation_ping(void **state)
{
    (void)state;
    assert_int_equal(mlc_exact_webhook_verify("", 0, SECRET, SECRET_LEN, NULL), MLC_WEBHOOK_PING);
    assert_int_equal(mlc_exact_webhook_verify(NULL, 0, NULL, 0, NULL), MLC_WEBHOOK_PING);
    assert_int_equal(mlc_exact_webhook_verify(" \r\n", 3, SECRET, SECRET_LEN, NULL), MLC_WEBHOOK_PING);
    assert_int_equal(mlc_exact_webhook_http_status(MLC_WEBHOOK_PING), 200);
    assert_string_equal(mlc_exact_webhook_result_name(MLC_WEBHOOK_PING), "validation ping");
    assert_int_equal(mlc_exact_webhook_verify("{}", 2, NULL, 0, NULL), MLC_WEBHOOK_NO_SECRET);
}

static void malformed_bodies_are_refused(void **state)
{
    (void)state;
    char hex[65];
    sign("{\"Topic\":\"BankEntries\"}", SECRET, SECRET_LEN, hex);
    char body[512];
    const char *fmts[] = {
        "{\"Content\":{\"Topic\":\"BankEntries\"},\"HashCode\":\"%s\",\"Content\":{\"Topic\":\"x\"}}",
        "{\"Content\":{\"Topic\":\"BankEntries\"},\"HashCode\":\"%s\",\"HashCode\":\"x\"}",
        "{\"Content\":\"{\\\"Topic\\\":1}\",\"HashCode\":\"%s\"}",
        "{\"Content\":{\"Topic\":\"BankEntries\"},\"HashCode\":\"%s\"} trailing",
        "[{\"Content\":{\"Topic\":\"BankEntries\"},\"HashCode\":\"%s\"}]",
        "{\"Content\":{\"Topic\":\"BankEntries\"},\"HashCode\":\"%s\"",
        "{\"Content\":{\"Topic\":\"BankEntries\",},\"HashCode\":\"%s\"}",
        "{\"HashCode\":\"%s\"}",
        "{\"Content\":{\"Topic\":\"Bank\x01\"},\"HashCode\":\"%s\"}",
        "{\"Content\":{\"Topic\":\"BankEntries\"},\"X\":tru,\"HashCode\":\"%s\"}",
    };
    for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
        const char *at = strstr(fmts[i], "%s");
        assert_non_null(at);
        snprintf(body, sizeof(body), "%.*s%s%s", (int)(at - fmts[i]), fmts[i], hex, at + 2);
        enum mlc_webhook_result r = verify(body, NULL);
        if (r != MLC_WEBHOOK_MALFORMED)
            fail_msg("case %zu gave %s", i, mlc_exact_webhook_result_name(r));
    }
    /* signed, but the notification itself is unusable */
    const char *contents[] = {
        "{\"Topic\":\"BankEntries\"}",
        "{\"Topic\":\"BankEntries\",\"Division\":12,\"Action\":\"Update\",\"Key\":\"not-a-guid\"}",
        "{\"Topic\":\"BankEntries\",\"Division\":12,\"Action\":\"Update\",\"Key\":\"0a1b2c3d-4e5f-6789-abcd-ef0123456789\",\"ExactOnlineEndpoint\":\"/api/v1/13/financialtransaction/BankEntries\"}",
        "{\"Topic\":\"BankEntries\",\"Division\":12,\"Action\":\"Update\",\"Key\":\"0a1b2c3d-4e5f-6789-abcd-ef0123456789\",\"ExactOnlineEndpoint\":\"/api/v1/12/../13/x\"}",
        "{\"Topic\":\"BankEntries\",\"Division\":1.5,\"Action\":\"Update\",\"Key\":\"0a1b2c3d-4e5f-6789-abcd-ef0123456789\"}",
        "{\"Topic\":\"Bank Entries\",\"Division\":12,\"Action\":\"Update\",\"Key\":\"0a1b2c3d-4e5f-6789-abcd-ef0123456789\"}",
    };
    for (size_t i = 0; i < sizeof(contents) / sizeof(contents[0]); i++) {
        sign(contents[i], SECRET, SECRET_LEN, hex);
        char *b = body_of(contents[i], hex);
        struct mlc_webhook_event ev;
        assert_int_equal(verify(b, &ev), MLC_WEBHOOK_MALFORMED);
        assert_string_equal(ev.topic, "");
        free(b);
    }
    assert_int_equal(mlc_exact_webhook_http_status(MLC_WEBHOOK_MALFORMED), 400);
}

static void size_and_depth_are_capped(void **state)
{
    (void)state;
    size_t n = MLC_WEBHOOK_BODY_MAX + 1;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, ' ', n);
    big[0] = '{';
    assert_int_equal(mlc_exact_webhook_verify(big, n, SECRET, SECRET_LEN, NULL), MLC_WEBHOOK_TOO_BIG);
    free(big);
    char deep[256], hex[65];
    size_t o = 0;
    o += (size_t)snprintf(deep, sizeof(deep), "{\"Content\":{\"a\":");
    for (int i = 0; i < 20; i++)
        deep[o++] = '[';
    for (int i = 0; i < 20; i++)
        deep[o++] = ']';
    sign("x", SECRET, SECRET_LEN, hex);
    o += (size_t)snprintf(deep + o, sizeof(deep) - o, "},\"HashCode\":\"%s\"}", hex);
    assert_int_equal(mlc_exact_webhook_verify(deep, o, SECRET, SECRET_LEN, NULL), MLC_WEBHOOK_TOO_BIG);
    assert_int_equal(mlc_exact_webhook_http_status(MLC_WEBHOOK_TOO_BIG), 413);
}

static void verification_leaves_no_memory_behind(void **state)
{
    (void)state;
    size_t base = mlc_alloc_current();
    char *b = body_of(CONTENT, HASH);
    for (long n = 1; n < 30; n++) {
        mlc_alloc_fail_after(n);
        enum mlc_webhook_result r = verify(b, NULL);
        mlc_alloc_fail_after(0);
        assert_true(r == MLC_WEBHOOK_OK || r == MLC_WEBHOOK_MALFORMED);
        assert_int_equal(mlc_alloc_current(), base);
    }
    free(b);
}

int main(void)
{
    cJSON_Hooks hooks = { .malloc_fn = mlc_malloc, .free_fn = mlc_free };
    cJSON_InitHooks(&hooks);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(genuine_notification_is_accepted),
        cmocka_unit_test(raw_text_is_what_is_signed),
        cmocka_unit_test(forged_or_damaged_notifications_are_refused),
        cmocka_unit_test(empty_post_is_a_validation_ping),
        cmocka_unit_test(malformed_bodies_are_refused),
        cmocka_unit_test(size_and_depth_are_capped),
        cmocka_unit_test(verification_leaves_no_memory_behind),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
