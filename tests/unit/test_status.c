#include "mlc_test_util.h"
#include "mlc_alloc.h"
#include "mlc_buf.h"
#include "mlc_err.h"
#include "mlc_httpd.h"
#include "mlc_loop.h"
#include "mlc_metrics.h"
#include "mlc_status.h"

#include "httpd_test_client.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#define MIN_MS (60LL * 1000)
#define HOUR_MS (60 * MIN_MS)
#define DAY_MS (24 * HOUR_MS)
static const int64_t NOW = 1795600000000LL; /* 2026-11-25 */

static int64_t fixed_clock(void *ud)
{
    (void)ud;
    return NOW;
}

/* A healthy agent: one bank, one Exact administration, both working. */
static void healthy_model(struct mlc_status_model *m)
{
    memset(m, 0, sizeof(*m));
    snprintf(m->version, sizeof(m->version), "0.1.0");
    m->started_ms = NOW - 3 * DAY_MS - 5 * HOUR_MS;
    m->heap_bytes = 1200000;
    m->heap_peak = 3400000;
    struct mlc_status_connection *b = &m->conn[0], *e = &m->conn[1];
    b->kind = MLC_STATUS_PLAID_ITEM;
    snprintf(b->id, sizeof(b->id), "item-ing-1");
    snprintf(b->name, sizeof(b->name), "ING Zakelijk");
    b->state = MLC_STATUS_OK;
    b->expiry_ms = NOW + 90 * DAY_MS;
    b->last_run_ms = NOW - 2 * HOUR_MS;
    b->last_run_ok = 1;
    b->next_run_ms = NOW + 7 * MIN_MS + 5000;
    b->posted = 120;
    b->held = 2;
    b->pending = 3;
    b->has_difference = 1;
    b->difference = (struct mlc_amount){ -1250, 2 };
    snprintf(b->currency, sizeof(b->currency), "EUR");
    e->kind = MLC_STATUS_EXACT_DIVISION;
    snprintf(e->id, sizeof(e->id), "123456");
    snprintf(e->name, sizeof(e->name), "Bakkerij de Vries BV");
    e->state = MLC_STATUS_OK;
    e->expiry_ms = NOW + 29 * DAY_MS;
    m->n_conn = 2;
}

static void countdowns_read_like_people_talk(void **state)
{
    (void)state;
    char t[64];
    mlc_status_fmt_rel(3 * DAY_MS + 2 * HOUR_MS, t, sizeof(t));
    assert_string_equal(t, "in 3 days");
    mlc_status_fmt_rel(7 * MIN_MS + 30000, t, sizeof(t));
    assert_string_equal(t, "in 7 minutes");
    mlc_status_fmt_rel(MIN_MS, t, sizeof(t));
    assert_string_equal(t, "in 1 minute");
    mlc_status_fmt_rel(59000, t, sizeof(t));
    assert_string_equal(t, "in less than a minute");
    mlc_status_fmt_rel(-2 * HOUR_MS - 10, t, sizeof(t));
    assert_string_equal(t, "2 hours ago");
    mlc_status_fmt_rel(-DAY_MS - HOUR_MS, t, sizeof(t));
    assert_string_equal(t, "1 day ago");
    mlc_status_fmt_bytes(3400000, t, sizeof(t));
    assert_string_equal(t, "3.2 MB");
    mlc_status_fmt_bytes(512, t, sizeof(t));
    assert_string_equal(t, "512 bytes");
}

static char *health(const struct mlc_status_model *m, int *status, struct mlc_buf *b)
{
    mlc_buf_init(b, 1 << 20);
    assert_int_equal(mlc_status_render_health(m, NOW, b, status), MLC_OK);
    return b->data;
}

static void health_says_ok_or_why_not(void **state)
{
    (void)state;
    struct mlc_status_model m;
    struct mlc_buf b;
    int st;
    healthy_model(&m);
    assert_string_equal(health(&m, &st, &b), "{\"status\":\"ok\"}\n");
    assert_int_equal(st, 200);
    mlc_buf_free(&b);

    /* retrying by itself is not a failure */
    m.conn[1].state = MLC_STATUS_RETRYING;
    health(&m, &st, &b);
    assert_int_equal(st, 200);
    mlc_buf_free(&b);

    m.conn[0].state = MLC_STATUS_NEEDS_PERSON;
    m.conn[0].n_actions = 1;
    snprintf(m.conn[0].actions[0].text, sizeof(m.conn[0].actions[0].text),
             "The bank connection to ING needs you to log in again");
    snprintf(m.conn[0].actions[0].command, sizeof(m.conn[0].actions[0].command),
             "mlc plaid relink item-ing-1");
    m.conn[1].expiry_ms = NOW - 1000;
    cJSON *j = cJSON_Parse(health(&m, &st, &b));
    assert_int_equal(st, 503);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "status")->valuestring, "fail");
    cJSON *r = cJSON_GetObjectItem(j, "reasons");
    assert_int_equal(cJSON_GetArraySize(r), 2);
    assert_string_equal(cJSON_GetArrayItem(r, 0)->valuestring,
                        "The bank connection to ING needs you to log in again: run "
                        "mlc plaid relink item-ing-1");
    assert_non_null(strstr(cJSON_GetArrayItem(r, 1)->valuestring,
                           "Exact Online login for Bakkerij de Vries BV has expired"));
    cJSON_Delete(j);
    mlc_buf_free(&b);

    /* a fresh install with nothing connected is not "ok" either */
    memset(&m, 0, sizeof(m));
    snprintf(m.problems[0], sizeof(m.problems[0]), "The disk is almost full");
    m.n_problems = 1;
    assert_non_null(strstr(health(&m, &st, &b), "The disk is almost full"));
    assert_non_null(strstr(b.data, "No bank connection"));
    assert_int_equal(st, 503);
    mlc_buf_free(&b);
}

static void status_json_holds_the_model(void **state)
{
    (void)state;
    struct mlc_status_model m;
    struct mlc_buf b;
    healthy_model(&m);
    snprintf(m.conn[0].detail, sizeof(m.conn[0].detail), "quote \" backslash \\ tab\t");
    mlc_buf_init(&b, 1 << 20);
    assert_int_equal(mlc_status_render_json(&m, NOW, &b), MLC_OK);
    cJSON *j = cJSON_Parse(b.data);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "status")->valuestring, "ok");
    assert_int_equal(cJSON_GetObjectItem(j, "uptime_seconds")->valuedouble, (3 * 24 + 5) * 3600);
    cJSON *heap = cJSON_GetObjectItem(j, "heap");
    assert_int_equal(cJSON_GetObjectItem(heap, "peak_bytes")->valuedouble, 3400000);
    cJSON *conns = cJSON_GetObjectItem(j, "connections");
    assert_int_equal(cJSON_GetArraySize(conns), 2);
    cJSON *c0 = cJSON_GetArrayItem(conns, 0);
    assert_string_equal(cJSON_GetObjectItem(c0, "kind")->valuestring, "plaid_item");
    assert_string_equal(cJSON_GetObjectItem(c0, "name")->valuestring, "ING Zakelijk");
    assert_string_equal(cJSON_GetObjectItem(c0, "state")->valuestring, "ok");
    assert_string_equal(cJSON_GetObjectItem(c0, "detail")->valuestring,
                        "quote \" backslash \\ tab\t");
    assert_int_equal(cJSON_GetObjectItem(c0, "expires_in_seconds")->valuedouble, 90 * 86400);
    assert_string_equal(cJSON_GetObjectItem(c0, "difference")->valuestring, "-12.50");
    assert_int_equal(cJSON_GetObjectItem(c0, "held")->valuedouble, 2);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(c0, "last_run_ok")));
    cJSON *c1 = cJSON_GetArrayItem(conns, 1);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(c1, "last_run")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(c1, "difference")));
    cJSON_Delete(j);
    mlc_buf_free(&b);
}

static char *page(const struct mlc_status_model *m, struct mlc_buf *b)
{
    mlc_buf_init(b, 1 << 20);
    assert_int_equal(mlc_status_render_html(m, NOW, b), MLC_OK);
    return b->data;
}

static void page_speaks_to_a_bookkeeper(void **state)
{
    (void)state;
    struct mlc_status_model m;
    struct mlc_buf b;
    healthy_model(&m);
    m.conn[1].expiry_ms = NOW + 40 * DAY_MS; /* nothing to watch */
    const char *p = page(&m, &b);
    assert_non_null(strstr(p, "Everything is up to date"));
    assert_null(strstr(p, "Needs your attention"));
    assert_non_null(strstr(p, "name=\"viewport\""));            /* phone screens */
    assert_non_null(strstr(p, "Bank connection: ING Zakelijk"));
    assert_non_null(strstr(p, "expires in 90 days"));
    assert_non_null(strstr(p, "<dd>in 7 minutes</dd>"));        /* next run */
    assert_non_null(strstr(p, "<dd>2 hours ago, finished</dd>"));
    assert_non_null(strstr(p, "EUR -12.50"));
    assert_non_null(strstr(p, "Held back for a check</dt><dd>2"));
    assert_non_null(strstr(p, "highest so far 3.2 MB"));
    assert_non_null(strstr(p, "Running for 3 days"));
    assert_null(strstr(p, "<script"));                           /* no JS, no outside assets */
    assert_null(strstr(p, "src="));
    assert_null(strstr(p, "<link"));
    mlc_buf_free(&b);

    /* an expiry within a week is a warning; a needed action is the headline */
    m.conn[1].expiry_ms = NOW + 3 * DAY_MS + HOUR_MS;
    p = page(&m, &b);
    assert_non_null(strstr(p, "Working. Keep an eye on:"));
    assert_non_null(strstr(p, "The Exact Online login for Bakkerij de Vries BV expires in 3 days"));
    assert_null(strstr(p, "Everything is up to date"));
    mlc_buf_free(&b);

    m.conn[0].state = MLC_STATUS_NEEDS_PERSON;
    m.conn[0].n_actions = 1;
    snprintf(m.conn[0].actions[0].text, sizeof(m.conn[0].actions[0].text),
             "The bank connection to ING needs you to log in again");
    snprintf(m.conn[0].actions[0].command, sizeof(m.conn[0].actions[0].command),
             "mlc plaid relink item-ing-1");
    p = page(&m, &b);
    assert_non_null(strstr(p, "Needs your attention:"));
    assert_non_null(strstr(p, "<li>The bank connection to ING needs you to log in again: run "
                              "<code>mlc plaid relink item-ing-1</code></li>"));
    assert_null(strstr(p, "Everything is up to date"));
    mlc_buf_free(&b);
}

static void page_escapes_everything_from_outside(void **state)
{
    (void)state;
    struct mlc_status_model m;
    struct mlc_buf b;
    healthy_model(&m);
    snprintf(m.conn[0].name, sizeof(m.conn[0].name), "<script>alert('x')</script>&\"");
    snprintf(m.conn[0].detail, sizeof(m.conn[0].detail), "<img src=x onerror=alert(1)>");
    m.conn[0].state = MLC_STATUS_NEEDS_PERSON; /* the name also appears in the headline */
    const char *p = page(&m, &b);
    assert_null(strstr(p, "<script"));
    assert_null(strstr(p, "<img"));
    assert_non_null(strstr(p, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"));
    assert_non_null(strstr(p, "&lt;img src=x onerror=alert(1)&gt;"));
    mlc_buf_free(&b);
}

static void rendering_survives_allocation_failures(void **state)
{
    (void)state;
    struct mlc_status_model m;
    struct mlc_buf b;
    healthy_model(&m);
    size_t before = mlc_alloc_current();
    for (long n = 1; n < 40; n++) {
        mlc_buf_init(&b, 1 << 20);
        mlc_alloc_fail_after(n);
        int rc = mlc_status_render_html(&m, NOW, &b);
        mlc_alloc_fail_after(0);
        assert_true(rc == MLC_OK || rc == MLC_ERR_NOMEM);
        mlc_buf_free(&b);
    }
    /* a cap that is too small is an error, never a cut page */
    mlc_buf_init(&b, 1000);
    assert_int_equal(mlc_status_render_html(&m, NOW, &b), MLC_ERR_TOO_BIG);
    mlc_buf_free(&b);
    assert_int_equal(mlc_alloc_current(), before);
}

static void metrics_from_the_model(void **state)
{
    (void)state;
    struct mlc_status_model m;
    struct mlc_metrics *mx;
    healthy_model(&m);
    assert_int_equal(mlc_metrics_new(&mx), MLC_OK);
    assert_int_equal(mlc_status_metrics_define(mx), MLC_OK);
    assert_int_equal(mlc_status_metrics_refresh(mx, &m, NOW), MLC_OK);
    assert_true(mlc_metrics_get(mx, "mlc_token_expiry_seconds",
                                (const char *[]){ "connection", "ING Zakelijk", NULL }) == 90 * 86400);
    assert_true(mlc_metrics_get(mx, "mlc_held", NULL) == 2);
    assert_true(mlc_metrics_get(mx, "mlc_uptime_seconds", NULL) == (3 * 24 + 5) * 3600);
    assert_true(mlc_metrics_get(mx, "mlc_heap_peak_bytes", NULL) == 3400000);
    /* a connection that goes away takes its series with it */
    m.n_conn = 1;
    m.conn[1].expiry_ms = 0;
    snprintf(m.conn[0].name, sizeof(m.conn[0].name), "ING");
    assert_int_equal(mlc_status_metrics_refresh(mx, &m, NOW), MLC_OK);
    assert_true(mlc_metrics_get(mx, "mlc_token_expiry_seconds",
                                (const char *[]){ "connection", "ING Zakelijk", NULL }) == 0);
    mlc_metrics_free(mx);
}

/* ---- the same, over a real socket ---- */

static void routes_over_http(void **state)
{
    (void)state;
    struct mlc_status_model m;
    struct mlc_metrics *mx;
    struct mlc_loop *loop;
    struct mlc_httpd *srv;
    struct tclient c;
    struct mlc_httpd_config cfg = { 0 };
    healthy_model(&m);
    snprintf(m.conn[1].name, sizeof(m.conn[1].name), "<script>x</script>");
    assert_int_equal(mlc_metrics_new(&mx), MLC_OK);
    assert_int_equal(mlc_status_metrics_define(mx), MLC_OK);
    assert_int_equal(mlc_metrics_add(mx, "mlc_api_calls_total",
                                     (const char *[]){ "service", "exact", "division", "123456", NULL },
                                     3), MLC_OK);
    struct mlc_status_ctx ctx = { &m, mx, fixed_clock, NULL };
    assert_int_equal(mlc_loop_new(NULL, &loop), MLC_OK);
    assert_int_equal(mlc_httpd_new(loop, &cfg, &srv), MLC_OK);
    assert_int_equal(mlc_status_register(srv, &ctx), MLC_OK);
    int port = mlc_httpd_port(srv);

    assert_int_equal(tc_exchange(loop, &c, port, "GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n"),
                     200);
    assert_string_equal(tc_body(&c), "{\"status\":\"ok\"}\n");
    assert_string_equal(tc_header(&c, "Content-Type"), "application/json");
    tc_close(&c);

    m.conn[0].state = MLC_STATUS_NEEDS_PERSON;
    assert_int_equal(tc_exchange(loop, &c, port, "GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n"),
                     503);
    assert_non_null(strstr(tc_body(&c), "needs attention"));
    tc_close(&c);

    assert_int_equal(tc_exchange(loop, &c, port, "GET /api/v1/status HTTP/1.1\r\nHost: x\r\n\r\n"),
                     200);
    cJSON *j = cJSON_Parse(tc_body(&c));
    assert_non_null(j);
    /* heap figures are read at request time: the server has surely allocated something */
    assert_true(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "heap"), "peak_bytes")->valuedouble > 0);
    cJSON_Delete(j);
    tc_close(&c);

    assert_int_equal(tc_exchange(loop, &c, port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), 200);
    assert_string_equal(tc_header(&c, "Content-Type"), MLC_METRICS_CONTENT_TYPE);
    const char *mt = tc_body(&c);
    assert_non_null(strstr(mt, "# HELP mlc_runs_total "));
    assert_non_null(strstr(mt, "# TYPE mlc_runs_total counter\n"));
    assert_non_null(strstr(mt, "# TYPE mlc_heap_peak_bytes gauge\nmlc_heap_peak_bytes "));
    assert_non_null(strstr(mt, "mlc_api_calls_total{division=\"123456\",service=\"exact\"} 3\n"));
    assert_non_null(strstr(mt, "mlc_token_expiry_seconds{connection=\"<script>x</script>\"} 2505600\n"));
    /* every line is a comment or `name{labels} value` */
    for (const char *l = mt; *l; l = strchr(l, '\n') + 1) {
        assert_true(l[0] == '#' || strncmp(l, "mlc_", 4) == 0);
        assert_non_null(strchr(l, '\n'));
    }
    tc_close(&c);

    assert_int_equal(tc_exchange(loop, &c, port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 200);
    assert_string_equal(tc_header(&c, "Content-Type"), "text/html; charset=utf-8");
    assert_non_null(strstr(tc_header(&c, "Content-Security-Policy"), "default-src 'none'"));
    assert_non_null(strstr(tc_body(&c), "&lt;script&gt;x&lt;/script&gt;"));
    assert_null(strstr(tc_body(&c), "<script"));
    assert_non_null(strstr(tc_body(&c), "Needs your attention"));
    tc_close(&c);

    mlc_httpd_free(srv);
    mlc_loop_free(loop);
    mlc_metrics_free(mx);
}

int main(void)
{
    mlc_alloc_install_hooks(); /* cJSON through the counting allocator, as in the agent */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(countdowns_read_like_people_talk),
        cmocka_unit_test(health_says_ok_or_why_not),
        cmocka_unit_test(status_json_holds_the_model),
        cmocka_unit_test(page_speaks_to_a_bookkeeper),
        cmocka_unit_test(page_escapes_everything_from_outside),
        cmocka_unit_test(rendering_survives_allocation_failures),
        cmocka_unit_test(metrics_from_the_model),
        cmocka_unit_test(routes_over_http),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
