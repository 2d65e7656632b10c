#include "mlc_test_util.h"
#include "mlc_alloc.h"
#include "mlc_buf.h"
#include "mlc_err.h"

#include <cjson/cJSON.h>
#include <string.h>

static void counts_current_and_peak(void **state)
{
    (void)state;
    size_t base = mlc_alloc_current();
    mlc_alloc_reset_peak();
    char *a = mlc_malloc(1000);
    char *b = mlc_calloc(10, 100);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(mlc_alloc_current(), base + 2000);
    a = mlc_realloc(a, 3000);
    assert_non_null(a);
    assert_int_equal(mlc_alloc_current(), base + 4000);
    mlc_free(a);
    mlc_free(b);
    assert_int_equal(mlc_alloc_current(), base);
    assert_true(mlc_alloc_peak() >= base + 4000);
}

static void budget_refuses_cleanly(void **state)
{
    (void)state;
    size_t base = mlc_alloc_current();
    unsigned long refused = mlc_alloc_failures();
    mlc_alloc_set_budget(base + 4096);
    void *ok = mlc_malloc(2048);
    assert_non_null(ok);
    assert_null(mlc_malloc(4096));
    assert_int_equal(mlc_alloc_failures(), refused + 1);
    /* realloc over the budget keeps the old block intact */
    assert_null(mlc_realloc(ok, 8192));
    mlc_free(ok);
    assert_int_equal(mlc_alloc_current(), base);
    mlc_alloc_set_budget(0);
    void *big = mlc_malloc(1 << 20);
    assert_non_null(big);
    mlc_free(big);
}

static void cjson_goes_through_the_counter(void **state)
{
    (void)state;
    assert_int_equal(mlc_alloc_install_hooks(), MLC_OK);
    size_t base = mlc_alloc_current();
    cJSON *j = cJSON_Parse("{\"a\":[1,2,3],\"b\":\"text\"}");
    assert_non_null(j);
    assert_true(mlc_alloc_current() > base);
    cJSON_Delete(j);
    assert_int_equal(mlc_alloc_current(), base);
    /* a budget makes cJSON fail cleanly instead of crashing */
    mlc_alloc_set_budget(base + 16);
    assert_null(cJSON_Parse("{\"a\":[1,2,3],\"b\":\"text\"}"));
    mlc_alloc_set_budget(0);
    assert_int_equal(mlc_alloc_current(), base);
}

static void fail_after_injects_one_failure(void **state)
{
    (void)state;
    mlc_alloc_fail_after(2);
    void *a = mlc_malloc(8);
    void *b = mlc_malloc(8);
    void *c = mlc_malloc(8);
    assert_non_null(a);
    assert_null(b);
    assert_non_null(c);
    mlc_free(a);
    mlc_free(c);
}

static void buf_has_a_maximum(void **state)
{
    (void)state;
    struct mlc_buf b;
    mlc_buf_init(&b, 10);
    assert_int_equal(mlc_buf_append_str(&b, "hello"), MLC_OK);
    assert_int_equal(mlc_buf_printf(&b, "%d", 1234), MLC_OK);
    assert_string_equal(b.data, "hello1234");
    assert_int_equal(mlc_buf_append_str(&b, "xy"), MLC_ERR_TOO_BIG);
    assert_string_equal(b.data, "hello1234");
    assert_int_equal(mlc_buf_append_str(&b, "x"), MLC_OK);
    assert_int_equal(b.len, 10);
    mlc_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counts_current_and_peak),
        cmocka_unit_test(budget_refuses_cleanly),
        cmocka_unit_test(cjson_goes_through_the_counter),
        cmocka_unit_test(fail_after_injects_one_failure),
        cmocka_unit_test(buf_has_a_maximum),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    return rc;
}
