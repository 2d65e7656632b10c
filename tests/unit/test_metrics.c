#include "mlc_test_util.h"
#include "mlc_alloc.h"
#include "mlc_buf.h"
#include "mlc_err.h"
#include "mlc_metrics.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static char *render(struct mlc_metrics *m, struct mlc_buf *b)
{
    mlc_buf_init(b, 1 << 20);
    assert_int_equal(mlc_metrics_render(m, b), MLC_OK);
    return b->data ? b->data : "";
}

static void counters_and_gauges_render_in_prometheus_format(void **state)
{
    (void)state;
    struct mlc_metrics *m;
    struct mlc_buf b;
    assert_int_equal(mlc_metrics_new(&m), MLC_OK);
    assert_int_equal(mlc_metrics_define(m, "mlc_runs_total", MLC_METRIC_COUNTER, "Runs started."),
                     MLC_OK);
    assert_int_equal(mlc_metrics_define(m, "mlc_api_calls_total", MLC_METRIC_COUNTER,
                                        "API calls."), MLC_OK);
    assert_int_equal(mlc_metrics_define(m, "mlc_budget_left", MLC_METRIC_GAUGE, "Budget."), MLC_OK);
    assert_int_equal(mlc_metrics_inc(m, "mlc_runs_total"), MLC_OK);
    assert_int_equal(mlc_metrics_inc(m, "mlc_runs_total"), MLC_OK);
    const char *exact[] = { "service", "exact", "division", "123", NULL };
    const char *exact_swapped[] = { "division", "123", "service", "exact", NULL };
    assert_int_equal(mlc_metrics_add(m, "mlc_api_calls_total", exact, 5), MLC_OK);
    assert_int_equal(mlc_metrics_add(m, "mlc_api_calls_total", exact_swapped, 2), MLC_OK);
    assert_int_equal(mlc_metrics_set(m, "mlc_budget_left", (const char *[]){ "division", "123", NULL },
                                     4993.5), MLC_OK);

    assert_true(mlc_metrics_get(m, "mlc_api_calls_total", exact_swapped) == 7);
    char *t = render(m, &b);
    assert_string_equal(t,
        "# HELP mlc_runs_total Runs started.\n"
        "# TYPE mlc_runs_total counter\n"
        "mlc_runs_total 2\n"
        "# HELP mlc_api_calls_total API calls.\n"
        "# TYPE mlc_api_calls_total counter\n"
        "mlc_api_calls_total{division=\"123\",service=\"exact\"} 7\n"
        "# HELP mlc_budget_left Budget.\n"
        "# TYPE mlc_budget_left gauge\n"
        "mlc_budget_left{division=\"123\"} 4993.5\n");
    mlc_buf_free(&b);
    mlc_metrics_free(m);
}

static void label_values_and_help_are_escaped(void **state)
{
    (void)state;
    struct mlc_metrics *m;
    struct mlc_buf b;
    assert_int_equal(mlc_metrics_new(&m), MLC_OK);
    assert_int_equal(mlc_metrics_define(m, "mlc_token_expiry_seconds", MLC_METRIC_GAUGE,
                                        "Back\\slash and\nnewline."), MLC_OK);
    const char *l[] = { "connection", "ING \"Zakelijk\"\\NL\nx} 1", NULL };
    assert_int_equal(mlc_metrics_set(m, "mlc_token_expiry_seconds", l, -30), MLC_OK);
    char *t = render(m, &b);
    assert_string_equal(t,
        "# HELP mlc_token_expiry_seconds Back\\\\slash and\\nnewline.\n"
        "# TYPE mlc_token_expiry_seconds gauge\n"
        "mlc_token_expiry_seconds{connection=\"ING \\\"Zakelijk\\\"\\\\NL\\nx} 1\"} -30\n");
    mlc_buf_free(&b);

    /* special values per the format */
    mlc_metrics_set(m, "mlc_token_expiry_seconds", l, NAN);
    t = render(m, &b);
    assert_non_null(strstr(t, "} NaN\n"));
    mlc_buf_free(&b);
    mlc_metrics_set(m, "mlc_token_expiry_seconds", l, -INFINITY);
    t = render(m, &b);
    assert_non_null(strstr(t, "} -Inf\n"));
    mlc_buf_free(&b);
    mlc_metrics_free(m);
}

static void bad_names_labels_and_misuse_are_refused(void **state)
{
    (void)state;
    struct mlc_metrics *m;
    assert_int_equal(mlc_metrics_new(&m), MLC_OK);
    assert_int_equal(mlc_metrics_define(m, "9lives", MLC_METRIC_GAUGE, ""), MLC_ERR_DATA);
    assert_int_equal(mlc_metrics_define(m, "has space", MLC_METRIC_GAUGE, ""), MLC_ERR_DATA);
    assert_int_equal(mlc_metrics_define(m, "a\nb", MLC_METRIC_GAUGE, ""), MLC_ERR_DATA);
    assert_int_equal(mlc_metrics_define(m, "mlc_x", MLC_METRIC_GAUGE, ""), MLC_OK);
    assert_int_equal(mlc_metrics_define(m, "mlc_x", MLC_METRIC_GAUGE, ""), MLC_OK);
    assert_int_equal(mlc_metrics_define(m, "mlc_x", MLC_METRIC_COUNTER, ""), MLC_ERR_EXISTS);
    assert_int_equal(mlc_metrics_define(m, "mlc_c_total", MLC_METRIC_COUNTER, ""), MLC_OK);

    assert_int_equal(mlc_metrics_set(m, "mlc_nope", NULL, 1), MLC_ERR_NOTFOUND);
    assert_int_equal(mlc_metrics_add(m, "mlc_c_total", NULL, -1), MLC_ERR_DATA); /* counters go up */
    assert_int_equal(mlc_metrics_add(m, "mlc_c_total", NULL, NAN), MLC_ERR_DATA);
    assert_int_equal(mlc_metrics_set(m, "mlc_x", (const char *[]){ "bad-name", "v", NULL }, 1),
                     MLC_ERR_DATA);
    assert_int_equal(mlc_metrics_set(m, "mlc_x", (const char *[]){ "__reserved", "v", NULL }, 1),
                     MLC_ERR_DATA);
    assert_int_equal(mlc_metrics_set(m, "mlc_x", (const char *[]){ "a", "1", "a", "2", NULL }, 1),
                     MLC_ERR_DATA);
    assert_int_equal(mlc_metrics_set(m, "mlc_x", (const char *[]){ "a", NULL }, 1), MLC_ERR_DATA);
    assert_int_equal(mlc_metrics_set(m, "mlc_x",
                                     (const char *[]){ "a", "1", "b", "2", "c", "3", "d", "4", "e",
                                                       "5", NULL }, 1), MLC_ERR_DATA);
    char longv[MLC_METRICS_LABEL_VALUE_MAX + 2];
    memset(longv, 'v', sizeof(longv) - 1);
    longv[sizeof(longv) - 1] = '\0';
    assert_int_equal(mlc_metrics_set(m, "mlc_x", (const char *[]){ "a", longv, NULL }, 1),
                     MLC_ERR_DATA);
    mlc_metrics_free(m);
}

static void series_and_families_are_capped_and_clear_frees(void **state)
{
    (void)state;
    struct mlc_metrics *m;
    char v[16], name[32];
    size_t before = mlc_alloc_current();
    assert_int_equal(mlc_metrics_new(&m), MLC_OK);
    assert_int_equal(mlc_metrics_define(m, "mlc_budget_left", MLC_METRIC_GAUGE, ""), MLC_OK);
    for (int i = 0; i < MLC_METRICS_SERIES_MAX; i++) {
        snprintf(v, sizeof(v), "%d", i);
        assert_int_equal(mlc_metrics_set(m, "mlc_budget_left",
                                         (const char *[]){ "division", v, NULL }, i), MLC_OK);
    }
    assert_int_equal(mlc_metrics_set(m, "mlc_budget_left",
                                     (const char *[]){ "division", "new", NULL }, 1), MLC_ERR_TOO_BIG);
    /* an existing series can still be updated at the cap */
    assert_int_equal(mlc_metrics_set(m, "mlc_budget_left",
                                     (const char *[]){ "division", "7", NULL }, 70), MLC_OK);
    assert_true(mlc_metrics_get(m, "mlc_budget_left", (const char *[]){ "division", "7", NULL }) == 70);
    mlc_metrics_clear(m, "mlc_budget_left");
    assert_true(mlc_metrics_get(m, "mlc_budget_left", (const char *[]){ "division", "7", NULL }) == 0);
    assert_int_equal(mlc_metrics_set(m, "mlc_budget_left",
                                     (const char *[]){ "division", "new", NULL }, 1), MLC_OK);
    for (int i = 1; i < MLC_METRICS_FAMILIES_MAX; i++) {
        snprintf(name, sizeof(name), "mlc_f%d", i);
        assert_int_equal(mlc_metrics_define(m, name, MLC_METRIC_GAUGE, ""), MLC_OK);
    }
    assert_int_equal(mlc_metrics_define(m, "mlc_one_too_many", MLC_METRIC_GAUGE, ""),
                     MLC_ERR_TOO_BIG);
    mlc_metrics_free(m);
    assert_int_equal(mlc_alloc_current(), before);
    mlc_metrics_free(NULL);
}

static void allocation_failures_are_reported_not_crashed(void **state)
{
    (void)state;
    struct mlc_metrics *m;
    assert_int_equal(mlc_metrics_new(&m), MLC_OK);
    assert_int_equal(mlc_metrics_define(m, "mlc_g", MLC_METRIC_GAUGE, ""), MLC_OK);
    for (long n = 1; n <= 3; n++) {
        mlc_alloc_fail_after(n);
        int rc = mlc_metrics_set(m, "mlc_g", (const char *[]){ "k", "v", NULL }, 1);
        mlc_alloc_fail_after(0);
        assert_true(rc == MLC_OK || rc == MLC_ERR_NOMEM);
    }
    mlc_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counters_and_gauges_render_in_prometheus_format),
        cmocka_unit_test(label_values_and_help_are_escaped),
        cmocka_unit_test(bad_names_labels_and_misuse_are_refused),
        cmocka_unit_test(series_and_families_are_capped_and_clear_frees),
        cmocka_unit_test(allocation_failures_are_reported_not_crashed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
