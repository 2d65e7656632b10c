/* The Exact connection against a scripted fake transport and an injected clock: token timing
 * (570 s, last 30 s, keep-alive), rotation committed before use, needs-consent without loops, the
 * request path (functional 500 never retried, transient retried with backoff, 429 waits for the
 * reset, governor before every call, lost POST answers), paging and the reference cache. */
#include "mlc_alloc.h"
#include "mlc_backoff.h"
#include "mlc_err.h"
#include "mlc_exact.h"
#include "mlc_exact_post.h"
#include "mlc_exact_ref.h"
#include "mlc_exact_token.h"
#include "mlc_http.h"
#include "mlc_log.h"
#include "mlc_store.h"
#include "mlc_test_util.h"
#include "mlc_vault.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1790000000000LL /* a fixed wall clock, epoch ms */
#define BASE "http://exact.test"
#define DIVN 4711u

/* One scripted answer: for requests whose URL contains match (and method), status + body. */
struct script {
    const char *match;
    int method;           /* -1 = any */
    int status;           /* 0 = network failure (MLC_ERR_RETRY) */
    const char *body;
    const char *hdr_name[6], *hdr_value[6];
    int times;            /* how many requests it answers; 0 = forever */
    int used;
};

struct fake {
    char dir[512];
    struct mlc_store *st;
    struct mlc_vault *v;
    struct mlc_exact *x;
    int64_t now;
    int64_t slept;
    unsigned sleeps;
    struct script s[32];
    int ns;
    int token_calls, api_calls, posts;
    char last_url[2048];
    char last_form[2048];
    char last_auth[512];
    int saw_prefer, saw_accept;
    int token_seq;
};

static int64_t f_now(void *ud) { return ((struct fake *)ud)->now; }
static void f_sleep(void *ud, int64_t ms)
{
    struct fake *f = ud;
    f->now += ms;
    f->slept += ms;
    f->sleeps++;
}
static uint32_t f_rand(void *ud) { (void)ud; return 0xffffffffu; }

static void add(struct fake *f, const char *match, int method, int status, const char *body,
                int times)
{
    struct script *s = &f->s[f->ns++];
    memset(s, 0, sizeof(*s));
    s->match = match;
    s->method = method;
    s->status = status;
    s->body = body;
    s->times = times;
}

static void add_hdr(struct fake *f, const char *name, const char *value)
{
    struct script *s = &f->s[f->ns - 1];
    for (int i = 0; i < 6; i++)
        if (!s->hdr_name[i]) {
            s->hdr_name[i] = name;
            s->hdr_value[i] = value;
            return;
        }
}

static char tokbuf[512];

static int f_perform(void *ud, const void *vreq, void *vresp)
{
    struct fake *f = ud;
    const struct mlc_http_request *req = vreq;
    struct mlc_http_response *resp = vresp;
    memset(resp, 0, sizeof(*resp));
    mlc_buf_init(&resp->body, 1 << 20);
    mlc_buf_init(&resp->header_mem, 1 << 16);
    snprintf(f->last_url, sizeof(f->last_url), "%s", req->url);
    int is_token = strstr(req->url, "/api/oauth2/token") != NULL;
    if (is_token) {
        f->token_calls++;
        snprintf(f->last_form, sizeof(f->last_form), "%.*s", (int)req->body_len,
                 (const char *)req->body);
    } else {
        f->api_calls++;
        if (req->method == MLC_HTTP_POST)
            f->posts++;
        f->saw_prefer = f->saw_accept = 0;
        for (size_t i = 0; i < req->n_headers; i++) {
            if (strncmp(req->headers[i], "Authorization: ", 15) == 0)
                snprintf(f->last_auth, sizeof(f->last_auth), "%s", req->headers[i] + 15);
            if (strcmp(req->headers[i], "Prefer: return=representation") == 0)
                f->saw_prefer = 1;
            if (strcmp(req->headers[i], "Accept: application/json") == 0)
                f->saw_accept = 1;
        }
    }
    for (int i = 0; i < f->ns; i++) {
        struct script *s = &f->s[i];
        if (s->times && s->used >= s->times)
            continue;
        if (!strstr(req->url, s->match) || (s->method >= 0 && s->method != (int)req->method))
            continue;
        s->used++;
        if (s->status == 0) {
            resp->result = MLC_ERR_RETRY;
            snprintf(resp->error, sizeof(resp->error), "connection reset");
            return MLC_ERR_RETRY;
        }
        resp->status = s->status;
        const char *body = s->body;
        if (body && strcmp(body, "@pair") == 0) {
            /* a fresh, distinct token pair each time */
            f->token_seq++;
            snprintf(tokbuf, sizeof(tokbuf),
                     "{\"access_token\":\"access-%d\",\"token_type\":\"bearer\",\"expires_in\":\"600\","
                     "\"refresh_token\":\"refresh-%d\"}", f->token_seq, f->token_seq);
            body = tokbuf;
        }
        if (body)
            mlc_buf_append_str(&resp->body, body);
        for (int h = 0; h < 6 && s->hdr_name[h]; h++) {
            resp->headers[resp->n_headers].name = s->hdr_name[h];
            resp->headers[resp->n_headers].value = s->hdr_value[h];
            resp->n_headers++;
        }
        return MLC_OK;
    }
    resp->status = 404;
    mlc_buf_append_str(&resp->body, "{\"error\":{\"message\":{\"value\":\"not scripted\"}}}");
    return MLC_OK;
}

static void reopen(struct fake *f)
{
    mlc_exact_close(f->x);
    f->x = NULL;
    struct mlc_exact_opts o;
    mlc_exact_opts_default(&o);
    o.base_url = BASE;
    o.redirect_uri = "https://agent.invalid/cb";
    o.max_wait_ms = 700000;
    struct mlc_exact_env env = { f_now, f_sleep, f_rand, f_perform, f };
    assert_int_equal(mlc_exact_open(&f->x, f->st, f->v, &o, &env), MLC_OK);
}

static int setup(void **state)
{
    struct fake *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "%s", mlc_test_tmpdir("exact_client"));
    assert_int_equal(mlc_vault_create_key(f->dir), MLC_OK);
    assert_int_equal(mlc_store_open(&f->st, f->dir, NULL), MLC_OK);
    assert_int_equal(mlc_vault_open(&f->v, f->st, f->dir), MLC_OK);
    assert_int_equal(mlc_vault_set(f->v, "exact.client_id", "cid-123", 7), MLC_OK);
    assert_int_equal(mlc_vault_set(f->v, "exact.client_secret", "csecret-456", 11), MLC_OK);
    f->now = T0;
    reopen(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fake *f = *state;
    mlc_exact_close(f->x);
    mlc_vault_close(f->v);
    mlc_store_close(f->st);
    mlc_test_rmtree(f->dir);
    free(f);
    mlc_log_secret_clear();
    return 0;
}

static char *stored_secret(struct fake *f, const char *name)
{
    char *val = NULL;
    size_t len = 0;
    if (mlc_vault_get(f->v, name, &val, &len) != MLC_OK)
        return NULL;
    char *copy = strdup(val);
    mlc_vault_free_secret(val, len);
    return copy;
}

static void connect(struct fake *f)
{
    add(f, "/api/oauth2/token", -1, 200, "@pair", 0);
    assert_int_equal(mlc_exact_connect_code(f->x, "code!123", ""), MLC_OK);
}

static int me_call(struct fake *f)
{
    char url[256];
    snprintf(url, sizeof(url), "%s/api/v1/%u/system/Divisions?$select=Code", BASE, DIVN);
    struct mlc_exact_call c = { .method = MLC_EXACT_GET, .division = DIVN, .url = url,
                                .endpoint = "system/Divisions" };
    struct mlc_exact_answer a;
    int rc = mlc_exact_request(f->x, &c, &a);
    mlc_exact_answer_free(&a);
    return rc;
}

/* ---- consent ---- */

static void code_parse_takes_url_or_bare_code_and_decodes(void **state)
{
    (void)state;
    char code[256], st[64];
    assert_int_equal(mlc_exact_code_parse("https://a.invalid/cb?code=stamp%21AB%2Bc&state=0123",
                                          code, sizeof(code), st, sizeof(st)), MLC_OK);
    assert_string_equal(code, "stamp!AB+c");
    assert_string_equal(st, "0123");
    assert_int_equal(mlc_exact_code_parse("  stamp%21XY\n", code, sizeof(code), st, sizeof(st)),
                     MLC_OK);
    assert_string_equal(code, "stamp!XY");
    assert_string_equal(st, "");
    assert_int_equal(mlc_exact_code_parse("https://a.invalid/cb?error=access_denied", code,
                                          sizeof(code), st, sizeof(st)), MLC_ERR_DATA);
    assert_int_equal(mlc_exact_code_parse("https://a.invalid/cb?state=1", code, sizeof(code), st,
                                          sizeof(st)), MLC_ERR_DATA);
    assert_int_equal(mlc_exact_code_parse("bad%2", code, sizeof(code), st, sizeof(st)),
                     MLC_ERR_DATA);
    assert_int_equal(mlc_exact_code_parse("", code, sizeof(code), st, sizeof(st)), MLC_ERR_DATA);
}

static void auth_url_has_region_host_client_and_state(void **state)
{
    struct fake *f = *state;
    char url[1024];
    assert_int_equal(mlc_exact_auth_url(f->x, url, sizeof(url)), MLC_OK);
    assert_non_null(strstr(url, BASE "/api/oauth2/auth?client_id=cid-123&redirect_uri="
                                     "https%3A%2F%2Fagent.invalid%2Fcb&response_type=code&state="));
    /* the state comes back on the callback: a different one is refused without a token call */
    assert_int_equal(mlc_exact_connect_code(f->x, "c", "00000000000000000000000000000000"),
                     MLC_ERR_AUTH);
    assert_int_equal(f->token_calls, 0);
    const char *st = strstr(url, "state=") + 6;
    add(f, "/api/oauth2/token", -1, 200, "@pair", 0);
    assert_int_equal(mlc_exact_connect_code(f->x, "c", st), MLC_OK);
}

static void connect_stores_pair_with_secrets_in_the_form_body(void **state)
{
    struct fake *f = *state;
    connect(f);
    assert_non_null(strstr(f->last_form, "code=code%21123"));
    assert_non_null(strstr(f->last_form, "grant_type=authorization_code"));
    assert_non_null(strstr(f->last_form, "client_id=cid-123"));
    assert_non_null(strstr(f->last_form, "client_secret=csecret-456"));
    char *rt = stored_secret(f, "exact.refresh_token");
    assert_string_equal(rt, "refresh-1");
    free(rt);
    struct mlc_exact_token_info ti;
    mlc_exact_token_info(f->x, &ti);
    assert_true(ti.connected);
    assert_int_equal(ti.issued_ms, T0);
    assert_int_equal(ti.expires_ms, T0 + 600000);
    assert_int_equal(ti.refresh_expiry_estimate_ms, T0 + 30LL * 86400000);
}

/* ---- token timing ---- */

static void refresh_only_in_last_30s_and_never_before_570s(void **state)
{
    struct fake *f = *state;
    connect(f);
    add(f, "/system/Divisions", -1, 200, "{\"d\":{\"results\":[]}}", 0);
    f->now = T0 + 569000; /* within the access token's life, not in its last 30 s */
    assert_int_equal(me_call(f), MLC_OK);
    assert_int_equal(f->token_calls, 1);
    assert_string_equal(f->last_auth, "Bearer access-1");
    f->now = T0 + 571000; /* last 30 s and past 570 s: one refresh, then the new token */
    assert_int_equal(me_call(f), MLC_OK);
    assert_int_equal(f->token_calls, 2);
    assert_string_equal(f->last_auth, "Bearer access-2");
    assert_non_null(strstr(f->last_form, "grant_type=refresh_token"));
    assert_non_null(strstr(f->last_form, "refresh_token=refresh-1"));
    /* the rotated refresh token was committed before the new access token was used */
    char *rt = stored_secret(f, "exact.refresh_token");
    assert_string_equal(rt, "refresh-2");
    free(rt);
    /* a new process (reopen) uses the stored pair without a token call */
    reopen(f);
    f->now += 1000;
    assert_int_equal(me_call(f), MLC_OK);
    assert_int_equal(f->token_calls, 2);
    assert_string_equal(f->last_auth, "Bearer access-2");
}

static void early_401_forgets_token_and_refreshes_only_after_570s(void **state)
{
    struct fake *f = *state;
    connect(f);
    /* Exact expired the token early: 401 at t+100 s. A refresh is allowed only from t+570 s. */
    f->now = T0 + 100000;
    add(f, "/system/Divisions", -1, 401, "{\"error\":{\"message\":{\"value\":\"expired\"}}}", 1);
    add(f, "/system/Divisions", -1, 200, "{\"d\":{\"results\":[]}}", 0);
    assert_int_equal(me_call(f), MLC_ERR_RETRY);
    assert_int_equal(f->token_calls, 1);
    assert_int_equal(f->api_calls, 1);
    /* the dead token is forgotten on disk too: a new process sends nothing that would 401; it
     * waits (injected clock) until a refresh is allowed, refreshes once and goes on */
    reopen(f);
    f->now = T0 + 200000;
    assert_int_equal(me_call(f), MLC_OK);
    assert_true(f->now >= T0 + 570000);
    assert_int_equal(f->token_calls, 2);
    assert_int_equal(f->api_calls, 2);
    assert_string_equal(f->last_auth, "Bearer access-2");
}

static void second_401_after_refresh_does_not_loop(void **state)
{
    struct fake *f = *state;
    /* a 20-minute token, so 570 s have passed while it is not in its last 30 s */
    add(f, "/api/oauth2/token", -1, 200,
        "{\"access_token\":\"long-1\",\"expires_in\":\"1200\",\"refresh_token\":\"r-1\"}", 1);
    assert_int_equal(mlc_exact_connect_code(f->x, "c", ""), MLC_OK);
    add(f, "/api/oauth2/token", -1, 200, "@pair", 0);
    f->now = T0 + 600000;
    add(f, "/system/Divisions", -1, 401, "{\"error\":{\"message\":{\"value\":\"no\"}}}", 0);
    assert_int_equal(me_call(f), MLC_ERR_RETRY);
    assert_int_equal(f->token_calls, 2); /* exactly one refresh */
    assert_int_equal(f->api_calls, 2);   /* the call and its one retry */
}

static void single_flight_takes_over_a_pair_rotated_by_another_process(void **state)
{
    struct fake *f = *state;
    connect(f);
    /* A second connection (another process) on the same store rotates first... */
    struct mlc_exact *other = f->x;
    f->x = NULL;
    reopen(f);
    struct mlc_exact *mine = f->x;
    f->x = other;
    f->now = T0 + 580000;
    add(f, "/system/Divisions", -1, 200, "{\"d\":{\"results\":[]}}", 0);
    assert_int_equal(me_call(f), MLC_OK);
    assert_int_equal(f->token_calls, 2);
    /* ...then ours needs a token: it re-reads the store under the lock and uses that pair */
    mlc_exact_close(other);
    f->x = mine;
    assert_int_equal(me_call(f), MLC_OK);
    assert_int_equal(f->token_calls, 2);
    assert_string_equal(f->last_auth, "Bearer access-2");
}

static void early_refresh_refused_keeps_token_without_hammering(void **state)
{
    struct fake *f = *state;
    add(f, "/api/oauth2/token", -1, 200, "@pair", 1);
    assert_int_equal(mlc_exact_connect_code(f->x, "c", ""), MLC_OK);
    /* our clock runs ahead of Exact's: it refuses the refresh as too early */
    add(f, "/api/oauth2/token", -1, 401,
        "{\"error\":\"invalid_request\",\"error_description\":\"Rate limit exceeded: "
        "access_token not expired\"}", 1);
    add(f, "/api/oauth2/token", -1, 200, "@pair", 0);
    add(f, "/system/Divisions", -1, 200, "{\"d\":{\"results\":[]}}", 0);
    f->now = T0 + 575000;
    assert_int_equal(me_call(f), MLC_OK);
    assert_int_equal(f->token_calls, 2);
    assert_string_equal(f->last_auth, "Bearer access-1"); /* kept the current token */
    f->now += 10000;
    assert_int_equal(me_call(f), MLC_OK);
    assert_int_equal(f->token_calls, 2);                  /* no second try within 30 s */
    f->now += 25000;
    assert_int_equal(me_call(f), MLC_OK);
    assert_int_equal(f->token_calls, 3);
    assert_string_equal(f->last_auth, "Bearer access-2");
}

static void old_refresh_token_needs_consent_persisted_no_loop(void **state)
{
    struct fake *f = *state;
    add(f, "/api/oauth2/token", -1, 200, "@pair", 1);
    assert_int_equal(mlc_exact_connect_code(f->x, "c", ""), MLC_OK);
    add(f, "/api/oauth2/token", -1, 401,
        "{\"error\":\"unauthorized_client\",\"error_description\":\"Old refresh token used.\"}", 0);
    f->now = T0 + 600000;
    assert_int_equal(me_call(f), MLC_ERR_NEEDS_PERSON);
    assert_non_null(strstr(mlc_exact_last_error(f->x), "mlc exact connect"));
    assert_int_equal(f->token_calls, 2);
    for (int i = 0; i < 3; i++) {
        reopen(f); /* a restart remembers it */
        assert_int_equal(me_call(f), MLC_ERR_NEEDS_PERSON);
        assert_int_equal(mlc_exact_keepalive(f->x, NULL), MLC_ERR_NEEDS_PERSON);
    }
    assert_int_equal(f->token_calls, 2);
    assert_int_equal(f->api_calls, 0);
    struct mlc_exact_token_info ti;
    mlc_exact_token_info(f->x, &ti);
    assert_true(ti.consent_needed);
    assert_non_null(strstr(ti.consent_reason, "Old refresh token"));
}

static void keepalive_refreshes_after_keepalive_days_only(void **state)
{
    struct fake *f = *state;
    connect(f);
    int64_t next = 0;
    f->now = T0 + 19LL * 86400000;
    assert_int_equal(mlc_exact_keepalive(f->x, &next), MLC_OK);
    assert_int_equal(f->token_calls, 1);
    assert_int_equal(next, T0 + 20LL * 86400000);
    f->now = T0 + 20LL * 86400000;
    assert_int_equal(mlc_exact_keepalive(f->x, &next), MLC_OK);
    assert_int_equal(f->token_calls, 2);
    struct mlc_exact_token_info ti;
    mlc_exact_token_info(f->x, &ti);
    assert_int_equal(ti.last_refresh_ms, f->now);
    assert_int_equal(ti.refresh_expiry_estimate_ms, f->now + 30LL * 86400000);
}

/* ---- request path ---- */

static void functional_500_is_never_retried(void **state)
{
    struct fake *f = *state;
    connect(f);
    add(f, "/system/Divisions", -1, 500,
        "{\"error\":{\"code\":\"\",\"message\":{\"lang\":\"\",\"value\":\"Ongeldig: Dagboek\"}}}", 0);
    assert_int_equal(me_call(f), MLC_ERR_NEEDS_PERSON);
    assert_int_equal(f->api_calls, 1);
    assert_non_null(strstr(mlc_exact_last_error(f->x), "Ongeldig: Dagboek"));
}

static void transient_503_and_network_are_retried_with_backoff(void **state)
{
    struct fake *f = *state;
    connect(f);
    add(f, "/system/Divisions", -1, 503, "", 1);
    add(f, "/system/Divisions", -1, 0, NULL, 1);
    add(f, "/system/Divisions", -1, 200, "{\"d\":{\"results\":[]}}", 0);
    assert_int_equal(me_call(f), MLC_OK);
    assert_int_equal(f->api_calls, 3);
    /* full jitter: the delays are what mlc_backoff gives for attempts 0 and 1 (plus the
     * governor's pacing, which spreads calls over the minute) */
    assert_true(f->slept >= (int64_t)mlc_backoff_delay_ms(0, 1000, 30000, 0xffffffffu) +
                                 mlc_backoff_delay_ms(1, 1000, 30000, 0xffffffffu));
    assert_true(f->sleeps >= 2);
}

static void transient_failures_give_up_after_max_attempts(void **state)
{
    struct fake *f = *state;
    connect(f);
    add(f, "/system/Divisions", -1, 502, "", 0);
    assert_int_equal(me_call(f), MLC_ERR_RETRY);
    assert_int_equal(f->api_calls, 4);
}

static void rate_limited_429_waits_for_reset_then_succeeds(void **state)
{
    struct fake *f = *state;
    connect(f);
    static char reset[32];
    snprintf(reset, sizeof(reset), "%lld", (long long)(T0 + 60000));
    add(f, "/system/Divisions", -1, 429, "{\"error\":{\"message\":{\"value\":\"limit\"}}}", 1);
    add_hdr(f, "X-RateLimit-Minutely-Limit", "60");
    add_hdr(f, "X-RateLimit-Minutely-Remaining", "0");
    add_hdr(f, "X-RateLimit-Minutely-Reset", reset);
    add(f, "/system/Divisions", -1, 200, "{\"d\":{\"results\":[]}}", 0);
    assert_int_equal(me_call(f), MLC_OK);
    assert_int_equal(f->api_calls, 2);
    assert_true(f->now >= T0 + 60000);
}

static void governor_waits_instead_of_sending_a_refused_call(void **state)
{
    struct fake *f = *state;
    connect(f);
    static char reset[32];
    snprintf(reset, sizeof(reset), "%lld", (long long)(T0 + 60000));
    add(f, "/system/Divisions", -1, 200, "{\"d\":{\"results\":[]}}", 1);
    add_hdr(f, "X-RateLimit-Minutely-Limit", "60");
    add_hdr(f, "X-RateLimit-Minutely-Remaining", "0");
    add_hdr(f, "X-RateLimit-Minutely-Reset", reset);
    add(f, "/system/Divisions", -1, 200, "{\"d\":{\"results\":[]}}", 0);
    assert_int_equal(me_call(f), MLC_OK);
    int64_t before = f->now;
    assert_int_equal(me_call(f), MLC_OK);
    /* the second call was held until the minute reset: no 429 was provoked */
    assert_true(f->now >= T0 + 60000);
    assert_true(f->now > before);
    assert_int_equal(f->api_calls, 2);
}

static void daily_budget_exhausted_survives_restart(void **state)
{
    struct fake *f = *state;
    connect(f);
    static char reset[32];
    snprintf(reset, sizeof(reset), "%lld", (long long)(T0 + 3600000));
    add(f, "/system/Divisions", -1, 200, "{\"d\":{\"results\":[]}}", 1);
    add_hdr(f, "X-RateLimit-Limit", "5000");
    add_hdr(f, "X-RateLimit-Remaining", "0");
    add_hdr(f, "X-RateLimit-Reset", reset);
    assert_int_equal(me_call(f), MLC_OK);
    reopen(f);
    assert_int_equal(me_call(f), MLC_ERR_BUDGET);
    assert_int_equal(f->api_calls, 1);
    assert_non_null(strstr(mlc_exact_last_error(f->x), "daily"));
}

static void error_guard_stops_an_endpoint_before_exacts_limit(void **state)
{
    struct fake *f = *state;
    connect(f);
    add(f, "/system/Divisions", -1, 400, "{\"error\":{\"message\":{\"value\":\"bad\"}}}", 0);
    int sent = 0;
    for (int i = 0; i < 12; i++) {
        int before = f->api_calls;
        me_call(f);
        sent += f->api_calls - before;
    }
    assert_true(sent <= MLC_RL_GUARD_ERRORS);
}

static void lost_post_answer_is_not_resent(void **state)
{
    struct fake *f = *state;
    connect(f);
    add(f, "/BankEntries", MLC_HTTP_POST, 0, NULL, 0);
    char url[256];
    snprintf(url, sizeof(url), "%s/api/v1/%u/financialtransaction/BankEntries", BASE, DIVN);
    struct mlc_exact_call c = { .method = MLC_EXACT_POST, .division = DIVN, .url = url,
                                .endpoint = "financialtransaction/BankEntries", .body = "{}",
                                .body_len = 2 };
    struct mlc_exact_answer a;
    assert_int_equal(mlc_exact_request(f->x, &c, &a), MLC_ERR_RETRY);
    assert_true(a.maybe_landed);
    assert_int_equal(f->posts, 1);
    assert_true(f->saw_prefer);
    assert_true(f->saw_accept);
    mlc_exact_answer_free(&a);
}

/* ---- paging ---- */

static int count_rows(void *ctx, const cJSON *row)
{
    (void)row;
    (*(int *)ctx)++;
    return 0;
}

static void next_links_are_followed_on_our_host_only(void **state)
{
    struct fake *f = *state;
    connect(f);
    add(f, "skiptoken=3", -1, 200, "{\"d\":{\"results\":[{\"Code\":5}]}}", 0);
    add(f, "skiptoken=2", -1, 200,
        "{\"d\":{\"results\":[{\"Code\":3},{\"Code\":4}],\"__next\":\"" BASE
        "/api/v1/4711/financial/Journals?$skiptoken=3\"}}", 0);
    add(f, "financial/Journals", -1, 200,
        "{\"d\":{\"results\":[{\"Code\":1},{\"Code\":2}],\"__next\":\"" BASE
        "/api/v1/4711/financial/Journals?$skiptoken=2\"}}", 1);
    add(f, "financial/Journals", -1, 200,
        "{\"d\":{\"results\":[{\"Code\":1}],\"__next\":\"https://evil.invalid/api/v1/4711/x\"}}", 0);
    struct mlc_odata_query q = { .division = DIVN, .service = "financial", .entity = "Journals",
                                 .select = "Code" };
    int rows = 0;
    unsigned pages = 0;
    assert_int_equal(mlc_exact_get_all(f->x, &q, count_rows, &rows, &pages), MLC_OK);
    assert_int_equal(rows, 5);
    assert_int_equal(pages, 3);
    rows = 0;
    assert_int_equal(mlc_exact_get_all(f->x, &q, count_rows, &rows, &pages), MLC_ERR_DATA);
    assert_int_equal(rows, 1);
    assert_int_equal(f->api_calls, 4); /* the foreign link was never called */
}

/* ---- reference cache ---- */

static void reference_cache_is_per_division_and_ttl_bound(void **state)
{
    struct fake *f = *state;
    connect(f);
    add(f, "/4711/financial/Journals", -1, 200,
        "{\"d\":{\"results\":[{\"Code\":\"20\",\"Type\":12,\"Currency\":\"EUR\",\"IsBlocked\":false,"
        "\"BankAccountIBAN\":\"NL91ABNA0417164300\"},{\"Code\":\"90\",\"Type\":90}]}}", 0);
    add(f, "/4712/financial/Journals", -1, 200, "{\"d\":{\"results\":[]}}", 0);
    unsigned calls = 0;
    assert_int_equal(mlc_exact_ref_refresh(f->x, f->st, DIVN, MLC_REF_JOURNALS, 0, 0, &calls),
                     MLC_OK);
    assert_int_equal(calls, 1);
    assert_non_null(strstr(f->last_url, "Type%20eq%2012") ? f->last_url : strstr(f->last_url, "Type+eq+12"));
    struct mlc_ref_journal j;
    assert_int_equal(mlc_exact_ref_journal(f->st, DIVN, "20", &j), MLC_OK);
    assert_string_equal(j.iban, "NL91ABNA0417164300");
    assert_int_equal(mlc_exact_ref_journal(f->st, DIVN, "90", &j), MLC_ERR_NOTFOUND);
    /* within the TTL: no call */
    f->now += 3600000;
    assert_int_equal(mlc_exact_ref_refresh(f->x, f->st, DIVN, MLC_REF_JOURNALS, 0, 0, &calls),
                     MLC_OK);
    assert_int_equal(calls, 0);
    /* another division does not see this one's rows */
    assert_int_equal(mlc_exact_ref_journal(f->st, DIVN + 1, "20", &j), MLC_ERR_NOTFOUND);
    assert_int_equal(mlc_exact_ref_refresh(f->x, f->st, DIVN + 1, MLC_REF_JOURNALS, 0, 0, &calls),
                     MLC_OK);
    assert_int_equal(calls, 1);
    assert_int_equal(mlc_exact_ref_journal(f->st, DIVN + 1, "20", &j), MLC_ERR_NOTFOUND);
    /* after the TTL: fetched again */
    f->now += MLC_REF_TTL_MS;
    assert_int_equal(mlc_exact_ref_refresh(f->x, f->st, DIVN, MLC_REF_JOURNALS, 0, 0, &calls),
                     MLC_OK);
    assert_int_equal(calls, 1);
}


static void glaccounts_sync_incrementally_from_stored_timestamp(void **state)
{
    struct fake *f = *state;
    connect(f);
    add(f, "Timestamp%20gt%20105", -1, 200,
        "{\"d\":{\"results\":[{\"Timestamp\":110,\"ID\":\"11111111-1111-1111-1111-111111111111\","
        "\"Code\":\"4000\",\"Type\":120,\"IsBlocked\":true,\"UseCostcenter\":0}]}}", 0);
    add(f, "sync/Financial/GLAccounts", -1, 200,
        "{\"d\":{\"results\":[{\"Timestamp\":101,\"ID\":\"11111111-1111-1111-1111-111111111111\","
        "\"Code\":\"4000\",\"Type\":120,\"IsBlocked\":false,\"UseCostcenter\":0},"
        "{\"Timestamp\":105,\"ID\":\"22222222-2222-2222-2222-222222222222\",\"Code\":\"4100\","
        "\"Type\":120,\"IsBlocked\":false,\"UseCostcenter\":1}]}}", 1);
    unsigned calls = 0;
    assert_int_equal(mlc_exact_ref_refresh(f->x, f->st, DIVN, MLC_REF_GLACCOUNTS, 0, 0, &calls),
                     MLC_OK);
    assert_int_equal(calls, 1);
    assert_non_null(strstr(f->last_url, "Timestamp%20gt%201"));
    assert_int_equal(mlc_exact_ref_sync_ts(f->st, DIVN, MLC_REF_GLACCOUNTS), 105);
    struct mlc_ref_glaccount g;
    assert_int_equal(mlc_exact_ref_glaccount(f->st, DIVN, "11111111-1111-1111-1111-111111111111", &g),
                     MLC_OK);
    assert_false(g.blocked);
    /* a day later only what changed since Timestamp 105 is fetched, and merged */
    f->now += MLC_REF_TTL_MS;
    assert_int_equal(mlc_exact_ref_refresh(f->x, f->st, DIVN, MLC_REF_GLACCOUNTS, 0, 0, &calls),
                     MLC_OK);
    assert_non_null(strstr(f->last_url, "Timestamp%20gt%20105"));
    assert_int_equal(mlc_exact_ref_sync_ts(f->st, DIVN, MLC_REF_GLACCOUNTS), 110);
    assert_int_equal(mlc_exact_ref_glaccount(f->st, DIVN, "11111111-1111-1111-1111-111111111111", &g),
                     MLC_OK);
    assert_true(g.blocked);
    assert_int_equal(mlc_exact_ref_glaccount(f->st, DIVN, "22222222-2222-2222-2222-222222222222", &g),
                     MLC_OK);
    assert_int_equal(g.use_costcenter, 1);
}

static void glaccounts_without_sync_endpoint_fall_back_once(void **state)
{
    struct fake *f = *state;
    connect(f);
    add(f, "sync/Financial/GLAccounts", -1, 404,
        "{\"error\":{\"message\":{\"value\":\"no such endpoint\"}}}", 0);
    add(f, "financial/GLAccounts", -1, 200,
        "{\"d\":{\"results\":[{\"ID\":\"33333333-3333-3333-3333-333333333333\",\"Code\":\"7000\","
        "\"Type\":120,\"IsBlocked\":false,\"UseCostcenter\":2}]}}", 0);
    assert_int_equal(mlc_exact_ref_refresh(f->x, f->st, DIVN, MLC_REF_GLACCOUNTS, 0, 0, NULL),
                     MLC_OK);
    struct mlc_ref_glaccount g;
    assert_int_equal(mlc_exact_ref_glaccount(f->st, DIVN, "33333333-3333-3333-3333-333333333333", &g),
                     MLC_OK);
    int before = f->api_calls;
    f->now += MLC_REF_TTL_MS;
    assert_int_equal(mlc_exact_ref_refresh(f->x, f->st, DIVN, MLC_REF_GLACCOUNTS, 0, 0, NULL),
                     MLC_OK);
    assert_int_equal(f->api_calls, before + 1);   /* the 404 is remembered: no second try */
    assert_null(strstr(f->last_url, "sync/"));
}

/* ---- posting through the client ---- */

static void script_reference_data(struct fake *f)
{
    add(f, "/financial/Journals", -1, 200,
        "{\"d\":{\"results\":[{\"Code\":\"20\",\"Type\":12,\"Currency\":\"EUR\","
        "\"IsBlocked\":false}]}}", 0);
    add(f, "sync/Financial/GLAccounts", -1, 200,
        "{\"d\":{\"results\":[{\"Timestamp\":7,\"ID\":\"44444444-4444-4444-4444-444444444444\","
        "\"Code\":\"4000\",\"Type\":120,\"IsBlocked\":false,\"UseCostcenter\":0}]}}", 0);
    add(f, "hrm/Costcenters", -1, 200, "{\"d\":{\"results\":[]}}", 0);
    add(f, "FinancialPeriods", -1, 200,
        "{\"d\":{\"results\":[{\"FinYear\":2026,\"FinPeriod\":9,"
        "\"StartDate\":\"/Date(1788220800000)/\",\"EndDate\":\"/Date(1790726400000)/\"}]}}", 0);
    add(f, "JournalStatusList", -1, 200, "{\"d\":{\"results\":[]}}", 0);
}

static int count_url(struct fake *f, const char *match)
{
    int n = 0;
    for (int i = 0; i < f->ns; i++)
        if (strcmp(f->s[i].match, match) == 0)
            n += f->s[i].used;
    return n;
}

static const struct mlc_bank_line one_line[] = { { .transaction_id = "tx1", .date = "2026-09-21",
                                                   .amount = "-42.50",
                                                   .glaccount = "44444444-4444-4444-4444-444444444444",
                                                   .description = "Coffee" } };

static void lost_post_is_read_back_from_a_fresh_sync_timestamp(void **state)
{
    struct fake *f = *state;
    connect(f);
    script_reference_data(f);
    add(f, "SyncTimestamp", -1, 200, "{\"d\":{\"results\":[{\"SyncTimestamp\":5000}]}}", 0);
    add(f, "/BankEntries", MLC_HTTP_POST, 0, NULL, 0); /* committed, answer lost */
    add(f, "sync/Financial/TransactionLines", -1, 200,
        "{\"d\":{\"results\":[{\"Timestamp\":5003,\"EntryID\":"
        "\"55555555-5555-5555-5555-555555555555\",\"EntryNumber\":26000001,\"Notes\":\"plaid:tx1\"},"
        "{\"Timestamp\":5004,\"EntryID\":\"55555555-5555-5555-5555-555555555555\","
        "\"EntryNumber\":26000001,\"Notes\":null}]}}", 0);
    struct mlc_bank_statement st = { .statement_id = "s1", .division = DIVN, .journal = "20",
                                     .currency = "EUR", .lines = one_line, .n_lines = 1 };
    struct mlc_post_result r;
    assert_int_equal(mlc_exact_post_statement(f->x, f->st, &st, &r), MLC_OK);
    assert_int_equal(r.outcome, MLC_POST_POSTED);
    assert_true(r.settled_by_readback);
    assert_int_equal(r.entry_number, 26000001);
    assert_string_equal(r.entry_id, "55555555-5555-5555-5555-555555555555");
    assert_int_equal(f->posts, 1);
    assert_non_null(strstr(f->last_url, "sync/Financial/TransactionLines"));
    assert_non_null(strstr(f->last_url, "Timestamp%20gt%205000"));
    /* asked again: reported from the record, no call at all */
    int calls = f->api_calls;
    assert_int_equal(mlc_exact_post_statement(f->x, f->st, &st, &r), MLC_OK);
    assert_int_equal(r.outcome, MLC_POST_POSTED);
    assert_int_equal(f->api_calls, calls);
}

static void missing_sync_timestamp_is_asked_once(void **state)
{
    struct fake *f = *state;
    connect(f);
    script_reference_data(f);
    add(f, "SyncTimestamp", -1, 404, "{\"error\":{\"message\":{\"value\":\"no\"}}}", 0);
    add(f, "/BankEntries", MLC_HTTP_POST, 201,
        "{\"d\":{\"EntryID\":\"66666666-6666-6666-6666-666666666666\",\"EntryNumber\":7}}", 0);
    struct mlc_bank_statement st = { .statement_id = "s1", .division = DIVN, .journal = "20",
                                     .currency = "EUR", .lines = one_line, .n_lines = 1 };
    struct mlc_post_result r;
    assert_int_equal(mlc_exact_post_statement(f->x, f->st, &st, &r), MLC_OK);
    assert_int_equal(r.outcome, MLC_POST_POSTED);
    assert_int_equal(r.entry_number, 7);
    assert_false(r.settled_by_readback);
    st.statement_id = "s2";
    f->now += 2 * 86400000LL;
    assert_int_equal(mlc_exact_post_statement(f->x, f->st, &st, &r), MLC_OK);
    assert_int_equal(r.outcome, MLC_POST_POSTED);
    assert_int_equal(count_url(f, "SyncTimestamp"), 1);
    assert_int_equal(f->posts, 2);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(code_parse_takes_url_or_bare_code_and_decodes),
        T(auth_url_has_region_host_client_and_state),
        T(connect_stores_pair_with_secrets_in_the_form_body),
        T(refresh_only_in_last_30s_and_never_before_570s),
        T(early_401_forgets_token_and_refreshes_only_after_570s),
        T(second_401_after_refresh_does_not_loop),
        T(single_flight_takes_over_a_pair_rotated_by_another_process),
        T(early_refresh_refused_keeps_token_without_hammering),
        T(old_refresh_token_needs_consent_persisted_no_loop),
        T(keepalive_refreshes_after_keepalive_days_only),
        T(functional_500_is_never_retried),
        T(transient_503_and_network_are_retried_with_backoff),
        T(transient_failures_give_up_after_max_attempts),
        T(rate_limited_429_waits_for_reset_then_succeeds),
        T(governor_waits_instead_of_sending_a_refused_call),
        T(daily_budget_exhausted_survives_restart),
        T(error_guard_stops_an_endpoint_before_exacts_limit),
        T(lost_post_answer_is_not_resent),
        T(next_links_are_followed_on_our_host_only),
        T(reference_cache_is_per_division_and_ttl_bound),
        T(glaccounts_sync_incrementally_from_stored_timestamp),
        T(glaccounts_without_sync_endpoint_fall_back_once),
        T(lost_post_is_read_back_from_a_fresh_sync_timestamp),
        T(missing_sync_timestamp_is_asked_once),
    };
    mlc_log_set_level(MLC_LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
