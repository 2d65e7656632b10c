#include "mlc_test_util.h"
#include "mlc_alloc.h"
#include "mlc_err.h"
#include "mlc_http.h"
#include "mlc_log.h"
#include "mlc_loop.h"
#include "mlc_platform.h"
#include "mlc_version.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The test build compiles only test_<name>.c per program, so the helper server is included. */
#include "http_test_server.c"

static struct hts srv;
static char base[64];

static int group_setup(void **state)
{
    (void)state;
    if (mlc_alloc_install_hooks() != MLC_OK || hts_start(&srv) != 0)
        return -1;
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", srv.port);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    hts_stop(&srv);
    curl_global_cleanup();
    return 0;
}

/* What a completion callback saw, copied out because the response dies with the callback. */
struct outcome {
    int calls;
    int result;
    long status;
    char body[256];
    size_t body_len;
    char content_type[64];
    char request_id[64];
    char mixed[64];
    int has_missing;
    char error[384];
    int64_t elapsed_ms;
};

static void on_done(struct mlc_http_response *r, void *ud)
{
    struct outcome *o = ud;
    const char *v;
    o->calls++;
    o->result = r->result;
    o->status = r->status;
    o->body_len = r->body.len;
    snprintf(o->body, sizeof(o->body), "%s", r->body.data ? r->body.data : "");
    snprintf(o->content_type, sizeof(o->content_type), "%s",
             (v = mlc_http_header_get(r, "content-type")) ? v : "");
    snprintf(o->request_id, sizeof(o->request_id), "%s",
             (v = mlc_http_header_get(r, "X-REQUEST-ID")) ? v : "");
    snprintf(o->mixed, sizeof(o->mixed), "%s", (v = mlc_http_header_get(r, "x-mixed-case")) ? v : "");
    o->has_missing = mlc_http_header_get(r, "X-Not-There") != NULL;
    snprintf(o->error, sizeof(o->error), "%s", r->error);
    o->elapsed_ms = r->elapsed_ms;
}

static void wait_done(struct mlc_loop *loop, struct outcome *o, int n)
{
    int64_t end = mlc_time_mono_ms() + 20000;
    for (;;) {
        int all = 1;
        for (int i = 0; i < n; i++)
            if (o[i].calls == 0)
                all = 0;
        if (all)
            return;
        if (mlc_time_mono_ms() > end)
            fail_msg("requests did not complete in 20 s");
        mlc_loop_run_once(loop, 100);
    }
}

static struct mlc_http_opts test_opts(void)
{
    struct mlc_http_opts o;
    mlc_http_opts_default(&o);
    o.connect_timeout_ms = 5000;
    o.total_timeout_ms = 15000;
    if (getenv("MLC_UNDER_VALGRIND")) {
        /* valgrind slows OpenSSL's handshake (part of the connect phase) by an order of
         * magnitude: give the happy paths room, the timeout tests set their own values. */
        o.connect_timeout_ms *= 8;
        o.total_timeout_ms *= 8;
    }
    return o;
}

static void client(struct mlc_loop **loop, struct mlc_http **c, const struct mlc_http_opts *o)
{
    assert_int_equal(mlc_loop_new(NULL, loop), MLC_OK);
    assert_int_equal(mlc_http_new(*loop, o, c), MLC_OK);
}

static void done_client(struct mlc_loop *loop, struct mlc_http *c)
{
    mlc_http_free(c);
    mlc_loop_free(loop);
}

static void url(char *out, size_t cap, const char *path)
{
    snprintf(out, cap, "%s%s", base, path);
}

static const struct hts_request *seen(int idx)
{
    assert_true(idx < HTS_MAX_REQUESTS);
    return &srv.sh->req[idx];
}

/* ---- tests ---- */

static void get_gives_status_headers_and_body(void **state)
{
    (void)state;
    struct mlc_loop *loop;
    struct mlc_http *c;
    struct mlc_http_opts o = test_opts();
    struct outcome out = { 0 };
    char u[128];
    url(u, sizeof(u), "/hello");
    int before = hts_count(&srv);
    client(&loop, &c, &o);
    struct mlc_http_request rq = { .method = MLC_HTTP_GET, .url = u };
    uint64_t id = 0;
    assert_int_equal(mlc_http_request_start(c, &rq, on_done, &out, &id), MLC_OK);
    assert_true(id > 0);
    assert_int_equal(out.calls, 0); /* never called back from inside the start call */
    wait_done(loop, &out, 1);
    assert_int_equal(out.calls, 1);
    assert_int_equal(out.result, MLC_OK);
    assert_int_equal(out.status, 200);
    assert_string_equal(out.body, "{\"hello\":\"world\"}");
    assert_string_equal(out.content_type, "application/json");
    assert_string_equal(out.request_id, "abc-123");
    assert_string_equal(out.mixed, "Value With Spaces");
    assert_false(out.has_missing);

    /* What the server saw: our User-Agent, JSON by default, no Expect. */
    assert_int_equal(hts_count(&srv), before + 1);
    const struct hts_request *s = seen(before);
    assert_string_equal(s->method, "GET");
    assert_string_equal(s->path, "/hello");
    assert_string_equal(s->user_agent, MLC_USER_AGENT);
    assert_non_null(strstr(s->user_agent, "ml-connector/"));
    assert_string_equal(s->accept, "application/json");
    assert_int_equal(s->has_expect, 0);
    done_client(loop, c);
}

static void post_2mb_body_without_expect(void **state)
{
    (void)state;
    struct mlc_loop *loop;
    struct mlc_http *c;
    struct mlc_http_opts o = test_opts();
    struct outcome out[3] = { { 0 } };
    char u[128];
    size_t n = 2u << 20;
    char *body = malloc(n);
    assert_non_null(body);
    memset(body, 'b', n);
    url(u, sizeof(u), "/echo");
    int before = hts_count(&srv);
    client(&loop, &c, &o);
    const char *hdrs[] = { "X-Test: big-post" };
    struct mlc_http_request rq = { .method = MLC_HTTP_POST, .url = u, .headers = hdrs,
                                   .n_headers = 1, .body = body, .body_len = n,
                                   .content_type = "application/json" };
    assert_int_equal(mlc_http_request_start(c, &rq, on_done, &out[0], NULL), MLC_OK);
    free(body); /* the client copied it */
    wait_done(loop, out, 1);
    assert_int_equal(out[0].result, MLC_OK);
    assert_int_equal(out[0].status, 201);
    assert_string_equal(out[0].body, "got 2097152");
    const struct hts_request *s = seen(before);
    assert_string_equal(s->method, "POST");
    assert_int_equal(s->has_expect, 0); /* Exact answers 500 to Expect: 100-continue */
    assert_int_equal(s->body_len, n);
    assert_string_equal(s->content_type, "application/json");
    assert_string_equal(s->x_test, "big-post");

    /* PUT and DELETE; a caller's Accept replaces the default rather than doubling it. */
    const char *accept[] = { "Accept: text/csv" };
    struct mlc_http_request put = { .method = MLC_HTTP_PUT, .url = u, .headers = accept,
                                    .n_headers = 1, .body = "{}", .body_len = 2 };
    struct mlc_http_request del = { .method = MLC_HTTP_DELETE, .url = u };
    assert_int_equal(mlc_http_request_start(c, &put, on_done, &out[1], NULL), MLC_OK);
    assert_int_equal(mlc_http_request_start(c, &del, on_done, &out[2], NULL), MLC_OK);
    wait_done(loop, out, 3);
    assert_int_equal(out[1].status, 201);
    assert_int_equal(out[2].status, 201);
    assert_int_equal(hts_count(&srv), before + 3);
    int put_i = strcmp(seen(before + 1)->method, "PUT") == 0 ? before + 1 : before + 2;
    int del_i = put_i == before + 1 ? before + 2 : before + 1;
    assert_string_equal(seen(put_i)->method, "PUT");
    assert_string_equal(seen(put_i)->accept, "text/csv");
    assert_int_equal(seen(put_i)->body_len, 2);
    assert_string_equal(seen(del_i)->method, "DELETE");
    done_client(loop, c);
}

static void one(struct mlc_http *c, struct mlc_loop *loop, enum mlc_http_method m, const char *path,
                struct outcome *out)
{
    char u[128];
    url(u, sizeof(u), path);
    struct mlc_http_request rq = { .method = m, .url = u };
    memset(out, 0, sizeof(*out));
    assert_int_equal(mlc_http_request_start(c, &rq, on_done, out, NULL), MLC_OK);
    wait_done(loop, out, 1);
    assert_int_equal(out->calls, 1);
}

static void response_size_is_capped(void **state)
{
    (void)state;
    struct mlc_loop *loop;
    struct mlc_http *c;
    struct mlc_http_opts o = test_opts();
    struct outcome out;
    o.max_response = 1024;
    client(&loop, &c, &o);
    one(c, loop, MLC_HTTP_GET, "/size/1024", &out);
    assert_int_equal(out.result, MLC_OK);
    assert_int_equal(out.body_len, 1024);
    /* Content-Length announces more than allowed. */
    one(c, loop, MLC_HTTP_GET, "/size/1025", &out);
    assert_int_equal(out.result, MLC_ERR_TOO_BIG);
    assert_int_equal(out.body_len, 0);
    assert_non_null(strstr(out.error, "1024-byte limit"));
    one(c, loop, MLC_HTTP_GET, "/size/100000000", &out);
    assert_int_equal(out.result, MLC_ERR_TOO_BIG);
    /* Chunked: no announcement, the cap bites while reading. */
    one(c, loop, MLC_HTTP_GET, "/chunked/1000", &out);
    assert_int_equal(out.result, MLC_OK);
    assert_int_equal(out.body_len, 1000);
    one(c, loop, MLC_HTTP_GET, "/chunked/200000", &out);
    assert_int_equal(out.result, MLC_ERR_TOO_BIG);
    assert_true(out.body_len <= 1024);
    /* Response headers are bounded too: a flood of them is refused, not stored. */
    one(c, loop, MLC_HTTP_GET, "/headers/40", &out);
    assert_int_equal(out.result, MLC_OK);
    one(c, loop, MLC_HTTP_GET, "/headers/100", &out);
    assert_int_equal(out.result, MLC_ERR_TOO_BIG);
    done_client(loop, c);
}

static void http_error_status_goes_to_the_caller(void **state)
{
    (void)state;
    struct mlc_loop *loop;
    struct mlc_http *c;
    struct mlc_http_opts o = test_opts();
    struct outcome out;
    client(&loop, &c, &o);
    one(c, loop, MLC_HTTP_GET, "/status/503", &out);
    assert_int_equal(out.result, MLC_OK); /* transport fine; the API client classifies 503 */
    assert_int_equal(out.status, 503);
    assert_string_equal(out.body, "{\"error\":\"test\"}");
    done_client(loop, c);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    close(fd); /* nothing listens there now */
    return ntohs(a.sin_port);
}

static void connect_refused_is_retry(void **state)
{
    (void)state;
    struct mlc_loop *loop;
    struct mlc_http *c;
    struct mlc_http_opts o = test_opts();
    struct outcome out = { 0 };
    char u[128];
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/x?code=secret", free_port());
    client(&loop, &c, &o);
    struct mlc_http_request rq = { .method = MLC_HTTP_GET, .url = u };
    assert_int_equal(mlc_http_request_start(c, &rq, on_done, &out, NULL), MLC_OK);
    wait_done(loop, &out, 1);
    assert_int_equal(out.result, MLC_ERR_RETRY);
    assert_int_equal(out.status, 0);
    assert_non_null(strstr(out.error, "127.0.0.1"));
    assert_null(strstr(out.error, "secret")); /* only the host is named */
    done_client(loop, c);
}

static void no_answer_is_timeout(void **state)
{
    (void)state;
    struct mlc_loop *loop;
    struct mlc_http *c;
    struct mlc_http_opts o = test_opts();
    struct outcome out;
    o.total_timeout_ms = 300;
    client(&loop, &c, &o);
    int64_t t0 = mlc_time_mono_ms();
    one(c, loop, MLC_HTTP_GET, "/never", &out);
    int64_t took = mlc_time_mono_ms() - t0;
    assert_int_equal(out.result, MLC_ERR_TIMEOUT);
    assert_int_equal(out.status, 0);
    assert_true(took >= 280 && took < 5000);
    done_client(loop, c);
}

static void stalled_transfer_hits_low_speed_limit(void **state)
{
    (void)state;
    struct mlc_loop *loop;
    struct mlc_http *c;
    struct mlc_http_opts o = test_opts();
    struct outcome out;
    o.low_speed_limit = 1;
    o.low_speed_time_s = 1; /* curl's unit is seconds: the shortest stall it can detect */
    client(&loop, &c, &o);
    int64_t t0 = mlc_time_mono_ms();
    one(c, loop, MLC_HTTP_GET, "/never", &out);
    int64_t took = mlc_time_mono_ms() - t0;
    assert_int_equal(out.result, MLC_ERR_TIMEOUT);
    assert_true(took >= 900 && took < 10000); /* well before the 15 s total timeout */
    done_client(loop, c);
}

/* ---- fault hook ---- */

struct fault_plan {
    const char *match;
    struct mlc_http_fault fault;
    int consulted;
};

static struct mlc_http_fault plan_before(void *ud, enum mlc_http_method m, const char *u)
{
    struct fault_plan *p = ud;
    struct mlc_http_fault none = { MLC_HTTP_FAULT_NONE, 0, 0 };
    (void)m;
    p->consulted++;
    return strstr(u, p->match) ? p->fault : none;
}

static void fault_hook_fail_delay_drop(void **state)
{
    (void)state;
    struct mlc_loop *loop;
    struct mlc_http *c;
    struct mlc_http_opts o = test_opts();
    struct outcome out;
    struct fault_plan plan = { "/hello", { MLC_HTTP_FAULT_FAIL, 0, 0 }, 0 };
    struct mlc_http_fault_hook hook = { plan_before, &plan };
    client(&loop, &c, &o);
    mlc_http_set_fault_hook(c, &hook);

    /* fail: never sent, the server sees nothing */
    int before = hts_count(&srv);
    one(c, loop, MLC_HTTP_GET, "/hello", &out);
    assert_int_equal(out.result, MLC_ERR_RETRY);
    assert_int_equal(out.status, 0);
    plan.fault.err = MLC_ERR_AUTH;
    one(c, loop, MLC_HTTP_GET, "/hello", &out);
    assert_int_equal(out.result, MLC_ERR_AUTH);
    one(c, loop, MLC_HTTP_GET, "/status/200", &out); /* not matched: goes through */
    assert_int_equal(out.status, 200);
    assert_int_equal(hts_wait_count(&srv, before + 1, 2000), 0);
    assert_int_equal(hts_count(&srv), before + 1);
    assert_string_equal(seen(before)->path, "/status/200");

    /* delay: sent later, answered normally */
    plan.fault = (struct mlc_http_fault){ MLC_HTTP_FAULT_DELAY, 0, 200 };
    one(c, loop, MLC_HTTP_GET, "/hello", &out);
    assert_int_equal(out.result, MLC_OK);
    assert_int_equal(out.status, 200);
    assert_true(out.elapsed_ms >= 200);

    /* drop the answer: the POST reached the server, the client only sees a network error */
    plan.match = "/echo";
    plan.fault = (struct mlc_http_fault){ MLC_HTTP_FAULT_DROP_ANSWER, 0, 0 };
    before = hts_count(&srv);
    char u[128];
    url(u, sizeof(u), "/echo");
    struct mlc_http_request rq = { .method = MLC_HTTP_POST, .url = u, .body = "entry=1",
                                   .body_len = 7 };
    memset(&out, 0, sizeof(out));
    assert_int_equal(mlc_http_request_start(c, &rq, on_done, &out, NULL), MLC_OK);
    wait_done(loop, &out, 1);
    assert_int_equal(out.result, MLC_ERR_RETRY);
    assert_int_equal(out.status, 0);
    assert_int_equal(out.body_len, 0);
    assert_int_equal(hts_wait_count(&srv, before + 1, 5000), 0);
    assert_string_equal(seen(before)->method, "POST");
    assert_string_equal(seen(before)->path, "/echo");
    assert_int_equal(seen(before)->body_len, 7);
    assert_int_equal(plan.consulted, 5); /* once per request sent or refused */
    done_client(loop, c);
}

/* ---- concurrency cap and queue ---- */

static void wait_server_idle(void)
{
    int64_t end = mlc_time_mono_ms() + 5000;
    while (atomic_load(&srv.sh->in_flight) != 0 && mlc_time_mono_ms() < end)
        usleep(1000);
    assert_int_equal(atomic_load(&srv.sh->in_flight), 0);
    atomic_store(&srv.sh->max_in_flight, 0);
}

static void concurrency_is_capped_and_queued(void **state)
{
    (void)state;
    struct mlc_loop *loop;
    struct mlc_http *c;
    struct mlc_http_opts o = test_opts();
    struct outcome out[12];
    char u[128];
    unsigned active, queued, max_active = 0;
    memset(out, 0, sizeof(out));
    o.max_concurrent = 4;
    o.max_queued = 8;
    wait_server_idle();
    client(&loop, &c, &o);
    url(u, sizeof(u), "/slow/150");
    struct mlc_http_request rq = { .method = MLC_HTTP_GET, .url = u };
    for (int i = 0; i < 12; i++)
        assert_int_equal(mlc_http_request_start(c, &rq, on_done, &out[i], NULL), MLC_OK);
    struct outcome refused = { 0 };
    assert_int_equal(mlc_http_request_start(c, &rq, on_done, &refused, NULL), MLC_ERR_TOO_BIG);
    mlc_http_counts(c, &active, &queued);
    assert_int_equal(active + queued, 12); /* 4 slots + 8 waiting */
    int64_t end = mlc_time_mono_ms() + 20000;
    for (;;) {
        int done = 0;
        for (int i = 0; i < 12; i++)
            done += out[i].calls;
        if (done == 12 || mlc_time_mono_ms() > end)
            break;
        mlc_loop_run_once(loop, 100);
        mlc_http_counts(c, &active, &queued);
        if (active > max_active)
            max_active = active;
    }
    for (int i = 0; i < 12; i++) {
        assert_int_equal(out[i].calls, 1);
        assert_int_equal(out[i].status, 200);
    }
    assert_int_equal(max_active, 4);
    assert_int_equal(atomic_load(&srv.sh->max_in_flight), 4); /* as seen by the server */
    mlc_http_counts(c, &active, &queued);
    assert_int_equal(active, 0);
    assert_int_equal(queued, 0);
    assert_int_equal(refused.calls, 0);
    done_client(loop, c);
}

static void bad_requests_are_refused_up_front(void **state)
{
    (void)state;
    struct mlc_loop *loop;
    struct mlc_http *c;
    struct mlc_http_opts o = test_opts();
    struct outcome out = { 0 };
    char u[128];
    o.max_request_body = 16;
    url(u, sizeof(u), "/hello");
    client(&loop, &c, &o);
    const char *smuggle[] = { "X-A: 1\r\nX-Injected: 2" };
    struct mlc_http_request rq = { .method = MLC_HTTP_GET, .url = u, .headers = smuggle,
                                   .n_headers = 1 };
    assert_int_equal(mlc_http_request_start(c, &rq, on_done, &out, NULL), MLC_ERR_DATA);
    const char *noname[] = { "no colon here" };
    rq.headers = noname;
    assert_int_equal(mlc_http_request_start(c, &rq, on_done, &out, NULL), MLC_ERR_DATA);
    struct mlc_http_request big = { .method = MLC_HTTP_POST, .url = u, .body = "01234567890123456",
                                    .body_len = 17 };
    assert_int_equal(mlc_http_request_start(c, &big, on_done, &out, NULL), MLC_ERR_TOO_BIG);
    assert_int_equal(out.calls, 0);
    /* Turning verification off is not possible: there is no option; a bad URL is a config error. */
    struct mlc_http_request bad = { .method = MLC_HTTP_GET, .url = "ftp://127.0.0.1/x" };
    assert_int_equal(mlc_http_request_start(c, &bad, on_done, &out, NULL), MLC_OK);
    wait_done(loop, &out, 1);
    assert_int_equal(out.result, MLC_ERR_CONFIG);
    done_client(loop, c);

    struct mlc_http_opts zero = test_opts();
    zero.max_concurrent = 0;
    assert_int_equal(mlc_loop_new(NULL, &loop), MLC_OK);
    assert_int_equal(mlc_http_new(loop, &zero, &c), MLC_ERR_CONFIG);
    assert_null(c);
    mlc_loop_free(loop);
}

static void free_completes_every_request_once(void **state)
{
    (void)state;
    struct mlc_loop *loop;
    struct mlc_http *c;
    struct mlc_http_opts o = test_opts();
    struct outcome out[3];
    char u[128];
    memset(out, 0, sizeof(out));
    o.max_concurrent = 1;
    url(u, sizeof(u), "/never");
    client(&loop, &c, &o);
    struct mlc_http_request rq = { .method = MLC_HTTP_GET, .url = u };
    for (int i = 0; i < 3; i++)
        assert_int_equal(mlc_http_request_start(c, &rq, on_done, &out[i], NULL), MLC_OK);
    for (int i = 0; i < 5; i++)
        mlc_loop_run_once(loop, 20); /* one goes in flight, two wait */
    uint64_t id;
    struct outcome extra = { 0 };
    assert_int_equal(mlc_http_request_start(c, &rq, on_done, &extra, &id), MLC_OK);
    assert_int_equal(mlc_http_cancel(c, id), MLC_OK);
    assert_int_equal(extra.calls, 1);
    assert_int_equal(extra.result, MLC_ERR_CANCELLED);
    assert_int_equal(mlc_http_cancel(c, id), MLC_ERR_NOTFOUND);
    mlc_http_free(c);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(out[i].calls, 1);
        assert_int_equal(out[i].result, MLC_ERR_CANCELLED);
    }
    mlc_loop_free(loop);
}

static void sync_helper_returns_the_answer(void **state)
{
    (void)state;
    struct mlc_loop *loop;
    struct mlc_http *c;
    struct mlc_http_opts o = test_opts();
    struct mlc_http_response resp;
    char u[128];
    url(u, sizeof(u), "/hello");
    client(&loop, &c, &o);
    struct mlc_http_request rq = { .method = MLC_HTTP_GET, .url = u };
    assert_int_equal(mlc_http_perform_sync(c, &rq, &resp), MLC_OK);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.body.data, "{\"hello\":\"world\"}");
    assert_string_equal(mlc_http_header_get(&resp, "X-Request-Id"), "abc-123");
    mlc_http_response_free(&resp);
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/", free_port());
    assert_int_equal(mlc_http_perform_sync(c, &rq, &resp), MLC_ERR_RETRY);
    assert_true(resp.error[0] != '\0');
    mlc_http_response_free(&resp);
    done_client(loop, c);
}

/* ---- shutdown: in-flight work gets its grace time, the rest is cancelled ---- */

struct term_when {
    int target;
    int raised;
};
static void term_when_seen(struct mlc_loop *loop, uint64_t id, void *ud)
{
    struct term_when *t = ud;
    if (!t->raised && hts_count(&srv) >= t->target) {
        t->raised = 1;
        mlc_loop_timer_cancel(loop, id);
        raise(SIGTERM);
    }
}

static void sigterm_drains_then_cancels(void **state)
{
    (void)state;
    struct mlc_loop *loop;
    struct mlc_http *c;
    struct mlc_http_opts o = test_opts();
    struct outcome out[3];
    char slow[128], never[128];
    memset(out, 0, sizeof(out));
    o.max_concurrent = 2;
    url(slow, sizeof(slow), "/slow/200");
    url(never, sizeof(never), "/never");
    client(&loop, &c, &o);
    mlc_loop_set_drain_ms(loop, 800);
    assert_int_equal(mlc_loop_handle_signals(loop, NULL, NULL), MLC_OK);
    struct mlc_http_request a = { .method = MLC_HTTP_GET, .url = slow };
    struct mlc_http_request b = { .method = MLC_HTTP_GET, .url = never };
    assert_int_equal(mlc_http_request_start(c, &a, on_done, &out[0], NULL), MLC_OK);
    assert_int_equal(mlc_http_request_start(c, &b, on_done, &out[1], NULL), MLC_OK);
    assert_int_equal(mlc_http_request_start(c, &a, on_done, &out[2], NULL), MLC_OK); /* queued */
    struct term_when tw = { hts_count(&srv) + 2, 0 };
    assert_int_equal(mlc_loop_timer_add(loop, 1, 1, 0, term_when_seen, &tw, NULL), MLC_OK);
    assert_int_equal(mlc_loop_run(loop), MLC_ERR_CANCELLED);
    assert_int_equal(tw.raised, 1);
    /* in flight and quick: completed during the drain */
    assert_int_equal(out[0].result, MLC_OK);
    assert_int_equal(out[0].status, 200);
    /* in flight and stuck: cancelled at the drain deadline */
    assert_int_equal(out[1].result, MLC_ERR_CANCELLED);
    /* not started yet: cancelled at once, never sent */
    assert_int_equal(out[2].result, MLC_ERR_CANCELLED);
    assert_true(out[2].elapsed_ms < out[1].elapsed_ms);
    for (int i = 0; i < 3; i++)
        assert_int_equal(out[i].calls, 1);
    struct outcome late = { 0 };
    assert_int_equal(mlc_http_request_start(c, &a, on_done, &late, NULL), MLC_ERR_CANCELLED);
    done_client(loop, c);
}

/* ---- nothing secret in the log ---- */

static void log_never_has_headers_or_bodies(void **state)
{
    (void)state;
    struct mlc_loop *loop;
    struct mlc_http *c;
    struct mlc_http_opts o = test_opts();
    struct outcome out[2];
    char u[128], path[600], refused[128];
    memset(out, 0, sizeof(out));
    snprintf(path, sizeof(path), "%s/http-log.txt", mlc_test_tmpdir("http"));
    FILE *f = fopen(path, "w+");
    assert_non_null(f);
    mlc_log_set_sink(f);
    mlc_log_set_level(MLC_LOG_DEBUG);
    url(u, sizeof(u), "/echo?q=pathmarker42");
    snprintf(refused, sizeof(refused), "http://127.0.0.1:%d/p?q=pathmarker42", free_port());
    client(&loop, &c, &o);
    const char *hdrs[] = { "X-Api-Key: keymarker42" };
    struct mlc_http_request rq = { .method = MLC_HTTP_POST, .url = u, .headers = hdrs,
                                   .n_headers = 1, .body = "bodymarker42", .body_len = 12 };
    assert_int_equal(mlc_http_request_start(c, &rq, on_done, &out[0], NULL), MLC_OK);
    rq.url = refused;
    assert_int_equal(mlc_http_request_start(c, &rq, on_done, &out[1], NULL), MLC_OK);
    wait_done(loop, out, 2);
    done_client(loop, c);
    mlc_log_set_sink(NULL);
    mlc_log_set_level(MLC_LOG_INFO);
    fclose(f);
    char *text = mlc_test_slurp(path, NULL);
    assert_non_null(text);
    assert_non_null(strstr(text, "mod=http")); /* it did log */
    assert_null(strstr(text, "marker42"));
    free(text);
}

/* ---- HTTPS with a CA made at test time ---- */

static void https_trusts_only_the_configured_ca(void **state)
{
    (void)state;
    if (system("command -v openssl >/dev/null 2>&1") != 0) {
        print_message("openssl not installed: HTTPS test skipped\n");
        skip();
    }
    char dir[512], cmd[4096], ca[600], other[600], crt[600], key[600], u[128];
    snprintf(dir, sizeof(dir), "%s", mlc_test_tmpdir("tls"));
    snprintf(cmd, sizeof(cmd),
             "(cd '%s' && "
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout ca.key -out ca.crt -subj /CN=mlc-test-ca -days 2 && "
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout other.key -out other.crt -subj /CN=mlc-other-ca -days 2 && "
             "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout srv.key -out srv.csr -subj /CN=127.0.0.1 && "
             "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nbasicConstraints=CA:FALSE\\n'"
             " > ext.cnf && "
             "openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
             "-out srv.crt -days 2 -extfile ext.cnf && "
             "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout wrong.key -out wrong.csr -subj /CN=wrong.example && "
             "printf 'subjectAltName=DNS:wrong.example\\n' > wrong.cnf && "
             "openssl x509 -req -in wrong.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
             "-out wrong.crt -days 2 -extfile wrong.cnf)",
             dir);
    snprintf(cmd + strlen(cmd), sizeof(cmd) - strlen(cmd), " >/dev/null 2>&1");
    assert_int_equal(system(cmd), 0);
    snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
    snprintf(other, sizeof(other), "%s/other.crt", dir);
    snprintf(crt, sizeof(crt), "%s/srv.crt", dir);
    snprintf(key, sizeof(key), "%s/srv.key", dir);

    struct hts tls;
    assert_int_equal(hts_start_tls(&tls, crt, key), 0);
    snprintf(u, sizeof(u), "https://127.0.0.1:%d/secure", tls.port);
    struct mlc_http_request rq = { .method = MLC_HTTP_GET, .url = u };
    struct mlc_loop *loop;
    struct mlc_http *c;
    struct outcome out;

    struct mlc_http_opts o = test_opts();
    o.ca_bundle = other; /* a CA that did not sign the server's certificate */
    client(&loop, &c, &o);
    memset(&out, 0, sizeof(out));
    assert_int_equal(mlc_http_request_start(c, &rq, on_done, &out, NULL), MLC_OK);
    wait_done(loop, &out, 1);
    assert_int_equal(out.result, MLC_ERR_CRYPTO);
    assert_int_equal(out.status, 0);
    assert_non_null(strstr(out.error, "not trusted"));
    assert_int_equal(hts_count(&tls), 0); /* no request left the client */
    done_client(loop, c);

    o.ca_bundle = ca;
    client(&loop, &c, &o);
    memset(&out, 0, sizeof(out));
    assert_int_equal(mlc_http_request_start(c, &rq, on_done, &out, NULL), MLC_OK);
    wait_done(loop, &out, 1);
    assert_int_equal(out.result, MLC_OK);
    assert_int_equal(out.status, 200);
    assert_string_equal(out.body, "tls ok");
    assert_int_equal(hts_count(&tls), 1);
    assert_string_equal(tls.sh->req[0].path, "/secure");
    assert_string_equal(tls.sh->req[0].user_agent, MLC_USER_AGENT);
    done_client(loop, c);
    hts_stop(&tls);

    /* Signed by the trusted CA but for another name: host verification refuses it. */
    snprintf(crt, sizeof(crt), "%s/wrong.crt", dir);
    snprintf(key, sizeof(key), "%s/wrong.key", dir);
    assert_int_equal(hts_start_tls(&tls, crt, key), 0);
    snprintf(u, sizeof(u), "https://127.0.0.1:%d/secure", tls.port);
    client(&loop, &c, &o);
    memset(&out, 0, sizeof(out));
    assert_int_equal(mlc_http_request_start(c, &rq, on_done, &out, NULL), MLC_OK);
    wait_done(loop, &out, 1);
    assert_int_equal(out.result, MLC_ERR_CRYPTO);
    assert_int_equal(hts_count(&tls), 0);
    done_client(loop, c);
    hts_stop(&tls);
    mlc_test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(get_gives_status_headers_and_body),
        cmocka_unit_test(post_2mb_body_without_expect),
        cmocka_unit_test(response_size_is_capped),
        cmocka_unit_test(http_error_status_goes_to_the_caller),
        cmocka_unit_test(connect_refused_is_retry),
        cmocka_unit_test(no_answer_is_timeout),
        cmocka_unit_test(stalled_transfer_hits_low_speed_limit),
        cmocka_unit_test(fault_hook_fail_delay_drop),
        cmocka_unit_test(concurrency_is_capped_and_queued),
        cmocka_unit_test(bad_requests_are_refused_up_front),
        cmocka_unit_test(free_completes_every_request_once),
        cmocka_unit_test(sync_helper_returns_the_answer),
        cmocka_unit_test(sigterm_drains_then_cancels),
        cmocka_unit_test(log_never_has_headers_or_bodies),
        cmocka_unit_test(https_trusts_only_the_configured_ca),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
