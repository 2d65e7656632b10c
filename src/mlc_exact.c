#include "mlc_exact.h"
#include "mlc_alloc.h"
#include "mlc_backoff.h"
#include "mlc_crashpoint.h"
#include "mlc_err.h"
#include "mlc_exact_token.h"
#include "mlc_http.h"
#include "mlc_log.h"
#include "mlc_odata.h"
#include "mlc_loop.h"
#include "mlc_platform.h"
#include "mlc_store.h"
#include "mlc_vault.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MOD "exact"
#define TOKEN_REC_VERSION 1u
#define TOKEN_REC_FIXED 26u      /* version, flags, issued, expires, last refresh (8 bytes each) */
#define RL_REC_MAGIC 0x524c3031u /* "RL01": a governor record written by this layout */
#define FORM_MAX 16384
#define MAX_429_WAITS 3
#define URL_MAX 1024

struct governor {
    uint32_t division;
    int used;
    struct mlc_ratelimit rl;
};

struct mlc_exact {
    struct mlc_store *st;
    struct mlc_vault *vault;
    struct mlc_exact_opts o;
    struct mlc_http_opts http_opts;
    char base_url[URL_MAX];
    char redirect_uri[URL_MAX];
    struct mlc_exact_env env;
    struct mlc_loop *loop;   /* loop + HTTP client when env.perform is NULL */
    int own_loop;
    struct mlc_http *http;
    struct mlc_token_times t;
    char *access;            /* the access token in memory (a vault copy), wiped on free */
    size_t access_len;
    char consent_reason[256];
    struct mlc_token_flight flight;
    struct governor gov[MLC_EXACT_GOVERNORS];
    unsigned gov_next;
    long last_status;
    char err[512];
};

static void set_err(struct mlc_exact *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(struct mlc_exact *x, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->err, sizeof(x->err), fmt, ap);
    va_end(ap);
}

/* ---- default seams ---- */

static uint32_t real_random(void *ud)
{
    (void)ud;
    uint32_t r = 0;
    if (mlc_random_bytes(&r, sizeof(r)) != MLC_OK)
        r = (uint32_t)mlc_time_mono_ms();
    return r;
}

static void timer_fired(struct mlc_loop *loop, uint64_t id, void *ud)
{
    (void)loop;
    (void)id;
    *(int *)ud = 1;
}

/* Waits on the connection's own loop, so no OS sleep header is needed here. */
static void loop_sleep(struct mlc_exact *x, int64_t ms)
{
    if (ms <= 0 || !x->loop)
        return;
    int fired = 0;
    uint64_t id = 0;
    if (mlc_loop_timer_add(x->loop, ms, 0, 0, timer_fired, &fired, &id) != MLC_OK)
        return;
    while (!fired) {
        if (mlc_loop_run_once(x->loop, -1) < 0)
            break;
    }
    if (!fired)
        mlc_loop_timer_cancel(x->loop, id);
}

static int64_t now_ms(const struct mlc_exact *x)
{
    return x->env.now_ms ? x->env.now_ms(x->env.ud) : mlc_time_now_ms();
}

int64_t mlc_exact_now(const struct mlc_exact *x)
{
    return now_ms(x);
}

static void sleep_ms(struct mlc_exact *x, int64_t ms)
{
    if (ms <= 0)
        return;
    if (x->env.sleep_ms)
        x->env.sleep_ms(x->env.ud, ms);
    else
        loop_sleep(x, ms);
}

static int perform(struct mlc_exact *x, const struct mlc_http_request *req,
                   struct mlc_http_response *resp)
{
    if (x->env.perform)
        return x->env.perform(x->env.ud, (const void *)req, (void *)resp);
    return mlc_http_perform_sync(x->http, req, resp);
}

/* ---- big-endian helpers ---- */

static void put_be64(unsigned char *p, int64_t v)
{
    uint64_t u = (uint64_t)v;
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(u & 0xff);
        u >>= 8;
    }
}

static int64_t get_be64(const unsigned char *p)
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = (u << 8) | p[i];
    return (int64_t)u;
}

/* ---- token record (MLC_DB_STATE "exact.token") ---- */

static int token_rec_put(struct mlc_txn *txn, const struct mlc_token_times *t, const char *reason)
{
    unsigned char rec[TOKEN_REC_FIXED + 256];
    size_t rl = reason ? strnlen(reason, 255) : 0;
    rec[0] = TOKEN_REC_VERSION;
    rec[1] = (unsigned char)(t->consent_needed ? 1 : 0);
    put_be64(rec + 2, t->issued_ms);
    put_be64(rec + 10, t->expires_ms);
    put_be64(rec + 18, t->last_refresh_ms);
    if (rl)
        memcpy(rec + TOKEN_REC_FIXED, reason, rl);
    return mlc_store_put(txn, MLC_DB_STATE, MLC_EXACT_STATE_TOKEN, strlen(MLC_EXACT_STATE_TOKEN), rec,
                         TOKEN_REC_FIXED + rl);
}

/* Reads the token record; a missing one leaves t zeroed (not connected). */
static int token_rec_get(struct mlc_txn *txn, struct mlc_token_times *t, char *reason, size_t cap)
{
    const void *v = NULL;
    size_t vl = 0;
    memset(t, 0, sizeof(*t));
    if (reason && cap)
        reason[0] = '\0';
    int rc = mlc_store_get(txn, MLC_DB_STATE, MLC_EXACT_STATE_TOKEN, strlen(MLC_EXACT_STATE_TOKEN),
                           &v, &vl);
    if (rc == MLC_ERR_NOTFOUND)
        return MLC_OK;
    if (rc != MLC_OK)
        return rc;
    const unsigned char *p = v;
    if (vl < TOKEN_REC_FIXED || p[0] != TOKEN_REC_VERSION)
        return MLC_ERR_DATA;
    t->have_refresh = 1;
    t->consent_needed = p[1] & 1;
    t->issued_ms = get_be64(p + 2);
    t->expires_ms = get_be64(p + 10);
    t->last_refresh_ms = get_be64(p + 18);
    if (reason && cap) {
        size_t n = vl - TOKEN_REC_FIXED;
        if (n >= cap)
            n = cap - 1;
        memcpy(reason, p + TOKEN_REC_FIXED, n);
        reason[n] = '\0';
    }
    return MLC_OK;
}

static void drop_access(struct mlc_exact *x)
{
    mlc_vault_free_secret(x->access, x->access_len);
    x->access = NULL;
    x->access_len = 0;
    x->t.have_access = 0;
}

/* Loads times and access token inside txn (read or write). */
static int load_tokens_txn(struct mlc_exact *x, struct mlc_txn *txn)
{
    drop_access(x);
    int rc = token_rec_get(txn, &x->t, x->consent_reason, sizeof(x->consent_reason));
    if (rc != MLC_OK)
        return rc;
    if (!x->t.have_refresh || x->t.consent_needed)
        return MLC_OK;
    char *val = NULL;
    size_t len = 0;
    rc = mlc_vault_get_txn(x->vault, txn, MLC_EXACT_SECRET_ACCESS, &val, &len);
    if (rc == MLC_ERR_NOTFOUND)
        return MLC_OK; /* connected, no access token yet: the first call refreshes */
    if (rc != MLC_OK)
        return rc;
    x->access = val;
    x->access_len = len;
    x->t.have_access = 1;
    return MLC_OK;
}

/* ---- governors ---- */

static int rl_key(char *out, size_t cap, uint32_t division)
{
    int n = snprintf(out, cap, "%s%u", MLC_EXACT_STATE_RL, division);
    return n < 0 || (size_t)n >= cap ? MLC_ERR_TOO_BIG : (int)n;
}

static struct governor *governor(struct mlc_exact *x, uint32_t division)
{
    for (unsigned i = 0; i < MLC_EXACT_GOVERNORS; i++)
        if (x->gov[i].used && x->gov[i].division == division)
            return &x->gov[i];
    /* Reuse slots round-robin: each one is persisted after every call, so nothing is lost. */
    struct governor *g = &x->gov[x->gov_next++ % MLC_EXACT_GOVERNORS];
    memset(g, 0, sizeof(*g));
    g->used = 1;
    g->division = division;
    mlc_ratelimit_init(&g->rl);
    char key[64];
    int kl = rl_key(key, sizeof(key), division);
    struct mlc_txn *txn = NULL;
    if (kl > 0 && mlc_store_begin(x->st, 1, &txn) == MLC_OK) {
        const void *v = NULL;
        size_t vl = 0;
        if (mlc_store_get(txn, MLC_DB_STATE, key, (size_t)kl, &v, &vl) == MLC_OK &&
            vl == 8 + sizeof(struct mlc_ratelimit)) {
            const unsigned char *p = v;
            uint32_t magic = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
            uint32_t size = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
            /* Same build layout only: a record from another layout is dropped (the budget is
             * then re-learned from the next answer's headers). */
            if (magic == RL_REC_MAGIC && size == sizeof(struct mlc_ratelimit))
                memcpy(&g->rl, p + 8, sizeof(g->rl));
        }
        mlc_store_abort(txn);
    }
    return g;
}

const struct mlc_ratelimit *mlc_exact_governor(struct mlc_exact *x, uint32_t division)
{
    return &governor(x, division)->rl;
}

/* Persists a division's governor, so a restart does not forget a used-up daily budget. */
static void governor_save(struct mlc_exact *x, const struct governor *g)
{
    unsigned char rec[8 + sizeof(struct mlc_ratelimit)];
    uint32_t size = (uint32_t)sizeof(struct mlc_ratelimit);
    rec[0] = (unsigned char)(RL_REC_MAGIC >> 24);
    rec[1] = (unsigned char)(RL_REC_MAGIC >> 16);
    rec[2] = (unsigned char)(RL_REC_MAGIC >> 8);
    rec[3] = (unsigned char)RL_REC_MAGIC;
    rec[4] = (unsigned char)(size >> 24);
    rec[5] = (unsigned char)(size >> 16);
    rec[6] = (unsigned char)(size >> 8);
    rec[7] = (unsigned char)size;
    memcpy(rec + 8, &g->rl, sizeof(g->rl));
    char key[64];
    int kl = rl_key(key, sizeof(key), g->division);
    struct mlc_txn *txn = NULL;
    if (kl <= 0 || mlc_store_begin(x->st, 0, &txn) != MLC_OK)
        return;
    if (mlc_store_put(txn, MLC_DB_STATE, key, (size_t)kl, rec, sizeof(rec)) != MLC_OK) {
        mlc_store_abort(txn);
        return;
    }
    if (mlc_store_commit(txn) != MLC_OK)
        MLC_LOG_WRN(MOD, "governor_not_saved division=%u", g->division);
}

/* ---- open / close ---- */

void mlc_exact_opts_default(struct mlc_exact_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->base_url = "https://start.exactonline.nl";
}

int mlc_exact_open(struct mlc_exact **out, struct mlc_store *st, struct mlc_vault *vault,
                   const struct mlc_exact_opts *opts, const struct mlc_exact_env *env)
{
    *out = NULL;
    if (!st || !vault || !opts || !opts->base_url)
        return MLC_ERR_INTERNAL;
    struct mlc_exact *x = mlc_calloc(1, sizeof(*x));
    if (!x)
        return MLC_ERR_NOMEM;
    int rc = MLC_OK;
    struct mlc_txn *txn = NULL;
    x->st = st;
    x->vault = vault;
    x->o = *opts;
    if (env)
        x->env = *env;
    if (x->o.max_wait_ms <= 0)
        x->o.max_wait_ms = 90000;
    if (x->o.max_attempts == 0)
        x->o.max_attempts = 4;
    if (x->o.backoff_base_ms == 0)
        x->o.backoff_base_ms = 1000;
    if (x->o.backoff_cap_ms == 0)
        x->o.backoff_cap_ms = 30000;
    if (x->o.keepalive_ms <= 0)
        x->o.keepalive_ms = MLC_TOKEN_KEEPALIVE_DEFAULT_MS;
    size_t bl = strlen(opts->base_url);
    while (bl && opts->base_url[bl - 1] == '/')
        bl--; /* "https://host/" and "https://host" name the same root */
    if (bl == 0 || bl >= sizeof(x->base_url)) {
        rc = MLC_ERR_CONFIG;
        goto out;
    }
    memcpy(x->base_url, opts->base_url, bl);
    x->base_url[bl] = '\0';
    x->o.base_url = x->base_url;
    snprintf(x->redirect_uri, sizeof(x->redirect_uri), "%s",
             opts->redirect_uri ? opts->redirect_uri : "");
    x->o.redirect_uri = x->redirect_uri;
    if (opts->loop) {
        x->loop = opts->loop;
    } else if (!x->env.perform || !x->env.sleep_ms) {
        if ((rc = mlc_loop_new(NULL, &x->loop)) != MLC_OK)
            goto out;
        x->own_loop = 1;
    }
    mlc_http_opts_default(&x->http_opts);
    if (opts->connect_timeout_ms > 0)
        x->http_opts.connect_timeout_ms = opts->connect_timeout_ms;
    if (opts->total_timeout_ms > 0)
        x->http_opts.total_timeout_ms = opts->total_timeout_ms;
    if (opts->low_speed_time_s > 0)
        x->http_opts.low_speed_time_s = opts->low_speed_time_s;
    if (opts->max_response > 0)
        x->http_opts.max_response = opts->max_response;
    x->http_opts.ca_bundle = opts->ca_bundle && opts->ca_bundle[0] ? opts->ca_bundle : NULL;
    x->o.ca_bundle = NULL; /* copied by mlc_http_new; the caller's string may go */
    if (!x->env.perform) {
        if ((rc = mlc_http_new(x->loop, &x->http_opts, &x->http)) != MLC_OK)
            goto out;
    }
    if ((rc = mlc_store_begin(st, 1, &txn)) != MLC_OK)
        goto out;
    rc = load_tokens_txn(x, txn);
    mlc_store_abort(txn);
    if (rc == MLC_ERR_DATA) {
        set_err(x, "the stored Exact token record is damaged; connect again with 'mlc exact connect'");
        rc = MLC_OK;
        memset(&x->t, 0, sizeof(x->t));
    }
out:
    if (rc != MLC_OK) {
        mlc_exact_close(x);
        return rc;
    }
    *out = x;
    return MLC_OK;
}

void mlc_exact_close(struct mlc_exact *x)
{
    if (!x)
        return;
    drop_access(x);
    mlc_http_free(x->http);
    if (x->own_loop)
        mlc_loop_free(x->loop);
    mlc_wipe(x, sizeof(*x));
    mlc_free(x);
}

const char *mlc_exact_last_error(const struct mlc_exact *x)
{
    return x ? x->err : "";
}

long mlc_exact_last_status(const struct mlc_exact *x)
{
    return x ? x->last_status : 0;
}

const char *mlc_exact_base_url(const struct mlc_exact *x)
{
    return x->base_url;
}

/* ---- percent-encoding ---- */

static int pct_append(struct mlc_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int rc;
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            rc = mlc_buf_append(b, p, 1);
        } else {
            char e[3] = { '%', hex[*p >> 4], hex[*p & 15] };
            rc = mlc_buf_append(b, e, 3);
        }
        if (rc != MLC_OK)
            return rc;
    }
    return MLC_OK;
}

static int form_add(struct mlc_buf *b, const char *k, const char *v)
{
    int rc = MLC_OK;
    if (b->len)
        rc = mlc_buf_append_str(b, "&");
    if (rc == MLC_OK)
        rc = mlc_buf_append_str(b, k);
    if (rc == MLC_OK)
        rc = mlc_buf_append_str(b, "=");
    if (rc == MLC_OK)
        rc = pct_append(b, v);
    return rc;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes n bytes of s (%XX and '+') into out. MLC_ERR_DATA on a bad escape or a control byte. */
static int pct_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= n)
                return MLC_ERR_DATA;
            int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
            if (h < 0 || l < 0)
                return MLC_ERR_DATA;
            c = h * 16 + l;
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (c < 0x20 || c == 0x7f)
            return MLC_ERR_DATA;
        if (o + 1 >= cap)
            return MLC_ERR_TOO_BIG;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return MLC_OK;
}

/* Finds parameter name in a query string (a=b&c=d) and decodes its value. */
static int query_param(const char *q, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    const char *p = q;
    while (p && *p) {
        const char *amp = strpbrk(p, "&#");
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=')
            return pct_decode(p + nl + 1, len - nl - 1, out, cap);
        if (!amp || *amp == '#')
            break;
        p = amp + 1;
    }
    return MLC_ERR_NOTFOUND;
}

int mlc_exact_code_parse(const char *input, char *code, size_t code_cap, char *state,
                         size_t state_cap)
{
    if (!input || !code || code_cap == 0 || !state || state_cap == 0)
        return MLC_ERR_DATA;
    code[0] = '\0';
    state[0] = '\0';
    while (*input == ' ' || *input == '\t')
        input++;
    size_t n = strlen(input);
    while (n && (input[n - 1] == ' ' || input[n - 1] == '\n' || input[n - 1] == '\r'))
        n--;
    if (n == 0 || n > 8192)
        return n ? MLC_ERR_TOO_BIG : MLC_ERR_DATA;
    char tmp[8193];
    memcpy(tmp, input, n);
    tmp[n] = '\0';
    const char *q = strchr(tmp, '?');
    int rc;
    if (q || strncmp(tmp, "http://", 7) == 0 || strncmp(tmp, "https://", 8) == 0 ||
        strncmp(tmp, "code=", 5) == 0) {
        const char *qs = q ? q + 1 : tmp;
        char err[128] = "";
        /* the user refused, or Exact reported an error: whatever its value (even one that does
         * not decode), an answer with an error is never read for a code (fuzz_exact_code) */
        if (query_param(qs, "error", err, sizeof(err)) != MLC_ERR_NOTFOUND)
            return MLC_ERR_DATA;
        rc = query_param(qs, "code", code, code_cap);
        if (rc != MLC_OK)
            return rc == MLC_ERR_TOO_BIG ? rc : MLC_ERR_DATA;
        rc = query_param(qs, "state", state, state_cap);
        if (rc == MLC_ERR_NOTFOUND)
            state[0] = '\0';
        else if (rc != MLC_OK)
            return rc;
    } else {
        /* A bare code: decode it once, as Exact's step 3 says (%21 -> !). */
        rc = pct_decode(tmp, n, code, code_cap);
        if (rc != MLC_OK)
            return rc;
    }
    if (!code[0] || strchr(code, ' ') || strchr(code, '&'))
        return MLC_ERR_DATA;
    return MLC_OK;
}

/* ---- authorization ---- */

static int vault_get_str(struct mlc_exact *x, struct mlc_txn *txn, const char *name, char **val,
                         size_t *len)
{
    int rc = txn ? mlc_vault_get_txn(x->vault, txn, name, val, len)
                 : mlc_vault_get(x->vault, name, val, len);
    if (rc == MLC_ERR_NOTFOUND)
        set_err(x, "the secret %s is not set; store it with 'mlc secret set %s'", name, name);
    else if (rc != MLC_OK)
        set_err(x, "the secret %s could not be read (%s)", name, mlc_err_str(rc));
    return rc;
}

int mlc_exact_auth_url(struct mlc_exact *x, char *out, size_t cap)
{
    char *cid = NULL;
    size_t cidl = 0;
    struct mlc_buf b;
    struct mlc_txn *txn = NULL;
    mlc_buf_init(&b, URL_MAX * 2);
    int rc;
    if (!x->redirect_uri[0]) {
        set_err(x, "[exact] redirect_uri is not set in the config; set it to the redirect URI "
                   "registered for the app in Exact's App Center");
        rc = MLC_ERR_CONFIG;
        goto out;
    }
    if ((rc = vault_get_str(x, NULL, MLC_EXACT_SECRET_CLIENT_ID, &cid, &cidl)) != MLC_OK) {
        if (rc == MLC_ERR_NOTFOUND)
            rc = MLC_ERR_CONFIG;
        goto out;
    }
    unsigned char rnd[MLC_EXACT_STATE_LEN / 2];
    if ((rc = mlc_random_bytes(rnd, sizeof(rnd))) != MLC_OK)
        goto out;
    char state[MLC_EXACT_STATE_LEN + 1];
    for (size_t i = 0; i < sizeof(rnd); i++)
        snprintf(state + 2 * i, 3, "%02x", rnd[i]);
    unsigned char rec[8 + MLC_EXACT_STATE_LEN];
    put_be64(rec, now_ms(x));
    memcpy(rec + 8, state, MLC_EXACT_STATE_LEN);
    if ((rc = mlc_store_begin(x->st, 0, &txn)) != MLC_OK)
        goto out;
    rc = mlc_store_put(txn, MLC_DB_STATE, MLC_EXACT_STATE_OAUTH, strlen(MLC_EXACT_STATE_OAUTH), rec,
                       sizeof(rec));
    if (rc != MLC_OK)
        goto out;
    rc = mlc_store_commit(txn);
    txn = NULL;
    if (rc != MLC_OK)
        goto out;
    if ((rc = mlc_buf_printf(&b, "%s/api/oauth2/auth?", x->base_url)) != MLC_OK)
        goto out;
    struct mlc_buf q;
    mlc_buf_init(&q, URL_MAX * 2);
    rc = form_add(&q, "client_id", cid);
    if (rc == MLC_OK)
        rc = form_add(&q, "redirect_uri", x->redirect_uri);
    if (rc == MLC_OK)
        rc = form_add(&q, "response_type", "code");
    if (rc == MLC_OK)
        rc = form_add(&q, "state", state);
    if (rc == MLC_OK)
        rc = mlc_buf_append(&b, q.data, q.len);
    mlc_buf_free(&q);
    if (rc != MLC_OK)
        goto out;
    if (b.len + 1 > cap) {
        rc = MLC_ERR_TOO_BIG;
        goto out;
    }
    memcpy(out, b.data, b.len + 1);
out:
    mlc_store_abort(txn);
    mlc_vault_free_secret(cid, cidl);
    mlc_buf_free(&b);
    return rc;
}

/* ---- token endpoint ---- */

/* POSTs the form to /api/oauth2/token and parses the answer. Client credentials go in the form
 * body, not an Authorization header (reference 1.1). */
static int token_call(struct mlc_exact *x, struct mlc_txn *txn, const char *grant, const char *k,
                      const char *v, struct mlc_token_answer *ans)
{
    char *cid = NULL, *csec = NULL;
    size_t cidl = 0, csecl = 0;
    struct mlc_buf form;
    struct mlc_http_response resp;
    memset(&resp, 0, sizeof(resp));
    mlc_buf_init(&form, FORM_MAX);
    char url[URL_MAX + 32];
    int rc;
    if ((rc = vault_get_str(x, txn, MLC_EXACT_SECRET_CLIENT_ID, &cid, &cidl)) != MLC_OK ||
        (rc = vault_get_str(x, txn, MLC_EXACT_SECRET_CLIENT_SECRET, &csec, &csecl)) != MLC_OK) {
        if (rc == MLC_ERR_NOTFOUND)
            rc = MLC_ERR_CONFIG;
        goto out;
    }
    rc = form_add(&form, k, v);
    if (rc == MLC_OK && strcmp(grant, "authorization_code") == 0)
        rc = form_add(&form, "redirect_uri", x->redirect_uri);
    if (rc == MLC_OK)
        rc = form_add(&form, "grant_type", grant);
    if (rc == MLC_OK)
        rc = form_add(&form, "client_id", cid);
    if (rc == MLC_OK)
        rc = form_add(&form, "client_secret", csec);
    if (rc != MLC_OK)
        goto out;
    snprintf(url, sizeof(url), "%s/api/oauth2/token", x->base_url);
    struct mlc_http_request req = { .method = MLC_HTTP_POST, .url = url, .body = form.data,
                                    .body_len = form.len,
                                    .content_type = "application/x-www-form-urlencoded" };
    int hr = perform(x, &req, &resp);
    /* The answer is here: from now on a crash loses whatever it holds (strict rotation). */
    mlc_crashpoint("exact.token.answered");
    long status = hr == MLC_OK ? resp.status : 0;
    rc = mlc_exact_token_parse((int)status, status ? resp.body.data : NULL,
                               status ? resp.body.len : 0, ans);
    if (rc != MLC_OK && rc != MLC_ERR_NOMEM)
        set_err(x, "%s", ans->message[0] ? ans->message : mlc_err_str(rc));
out:
    if (form.data)
        mlc_wipe(form.data, form.len);
    mlc_buf_free(&form);
    mlc_http_response_free(&resp);
    mlc_vault_free_secret(cid, cidl);
    mlc_vault_free_secret(csec, csecl);
    return rc;
}

/* Seals the new pair and its times in txn, then commits: the rotated refresh token is durable
 * before the new access token is used for anything. */
static int store_pair_commit(struct mlc_exact *x, struct mlc_txn *txn,
                             const struct mlc_token_answer *ans, int64_t at)
{
    struct mlc_token_times t = x->t;
    mlc_exact_token_times_refreshed(&t, at, ans->expires_in_s);
    int rc = mlc_vault_set_txn(x->vault, txn, MLC_EXACT_SECRET_REFRESH, ans->refresh_token,
                               strlen(ans->refresh_token));
    if (rc == MLC_OK)
        rc = mlc_vault_set_txn(x->vault, txn, MLC_EXACT_SECRET_ACCESS, ans->access_token,
                               strlen(ans->access_token));
    if (rc == MLC_OK)
        rc = token_rec_put(txn, &t, NULL);
    if (rc != MLC_OK) {
        mlc_store_abort(txn);
        return rc;
    }
    rc = mlc_store_commit(txn);
    if (rc != MLC_OK)
        return rc;
    mlc_crashpoint("exact.token.stored");
    drop_access(x);
    size_t al = strlen(ans->access_token);
    x->access = mlc_malloc(al + 1);
    if (!x->access)
        return MLC_ERR_NOMEM;
    memcpy(x->access, ans->access_token, al + 1);
    x->access_len = al;
    x->t = t;
    x->consent_reason[0] = '\0';
    return MLC_OK;
}

/* Marks the connection as needing consent (persisted, so no later run calls the token endpoint). */
static int mark_consent(struct mlc_exact *x, struct mlc_txn *txn, const char *why)
{
    x->t.consent_needed = 1;
    snprintf(x->consent_reason, sizeof(x->consent_reason), "%s", why);
    int rc = token_rec_put(txn, &x->t, x->consent_reason);
    if (rc == MLC_OK)
        rc = mlc_vault_delete_txn(x->vault, txn, MLC_EXACT_SECRET_ACCESS);
    if (rc == MLC_ERR_NOTFOUND)
        rc = MLC_OK;
    if (rc != MLC_OK) {
        mlc_store_abort(txn);
        return rc;
    }
    rc = mlc_store_commit(txn);
    drop_access(x);
    MLC_LOG_ERR(MOD, "needs_consent reason=\"%s\"", x->consent_reason);
    return rc;
}

void mlc_exact_consent_alert(const struct mlc_exact *x, char *out, size_t cap)
{
    snprintf(out, cap,
             "Exact Online needs your consent again (%s); run 'mlc exact connect' and log in to "
             "Exact to authorise the agent",
             x->consent_reason[0] ? x->consent_reason : "the connection was never authorised");
}

int mlc_exact_connect_code(struct mlc_exact *x, const char *code, const char *state)
{
    struct mlc_token_answer ans;
    memset(&ans, 0, sizeof(ans));
    struct mlc_txn *txn = NULL;
    int rc;
    if (!code || !code[0]) {
        set_err(x, "no authorization code given");
        return MLC_ERR_USAGE;
    }
    if (!x->redirect_uri[0]) {
        set_err(x, "[exact] redirect_uri is not set in the config; set it to the redirect URI "
                   "registered for the app in Exact's App Center");
        return MLC_ERR_CONFIG;
    }
    /* The write transaction is also the cross-process lock: no refresh runs meanwhile. */
    if ((rc = mlc_store_begin(x->st, 0, &txn)) != MLC_OK)
        return rc;
    if (state && state[0]) {
        const void *v = NULL;
        size_t vl = 0;
        int g = mlc_store_get(txn, MLC_DB_STATE, MLC_EXACT_STATE_OAUTH, strlen(MLC_EXACT_STATE_OAUTH),
                              &v, &vl);
        if (g != MLC_OK || vl != 8 + MLC_EXACT_STATE_LEN || strlen(state) != MLC_EXACT_STATE_LEN ||
            mlc_ct_memcmp((const unsigned char *)v + 8, state, MLC_EXACT_STATE_LEN) != 0) {
            set_err(x, "the answer from Exact does not belong to the last 'mlc exact connect' "
                       "(state differs); run 'mlc exact connect' again and use its link");
            rc = MLC_ERR_AUTH;
            goto out;
        }
    }
    rc = token_call(x, txn, "authorization_code", "code", code, &ans);
    /* Times count from the answer: Exact's 570 s run from when it issued the token, and taking
     * the later moment never refreshes early ("access_token not expired"). */
    int64_t got = now_ms(x);
    if (rc != MLC_OK) {
        if (ans.outcome == MLC_TOKEN_NEEDS_CONSENT || rc == MLC_ERR_NEEDS_PERSON) {
            set_err(x, "Exact refused the authorization code (%s); codes are valid for 3 minutes "
                       "and only once: run 'mlc exact connect' again", ans.message);
            rc = MLC_ERR_NEEDS_PERSON;
        }
        goto out;
    }
    rc = store_pair_commit(x, txn, &ans, got);
    txn = NULL;
    if (rc == MLC_OK) {
        struct mlc_txn *t2 = NULL;
        if (mlc_store_begin(x->st, 0, &t2) == MLC_OK) {
            mlc_store_del(t2, MLC_DB_STATE, MLC_EXACT_STATE_OAUTH, strlen(MLC_EXACT_STATE_OAUTH));
            if (mlc_store_commit(t2) != MLC_OK)
                MLC_LOG_WRN(MOD, "oauth_state_not_cleared");
        }
        MLC_LOG_INF(MOD, "connected expires_in=%lld", (long long)ans.expires_in_s);
    }
out:
    mlc_store_abort(txn);
    mlc_token_answer_free(&ans);
    return rc;
}

/* The refresh itself, by the one leader. Runs under the store's write lock. */
static int refresh_locked(struct mlc_exact *x)
{
    struct mlc_txn *txn = NULL;
    struct mlc_token_answer ans;
    memset(&ans, 0, sizeof(ans));
    char *rt = NULL;
    size_t rtl = 0;
    int rc = mlc_store_begin(x->st, 0, &txn);
    if (rc != MLC_OK)
        return rc;
    /* Another process may have rotated while we waited for the lock: use its pair. */
    struct mlc_token_times disk;
    char reason[256];
    if ((rc = token_rec_get(txn, &disk, reason, sizeof(reason))) != MLC_OK)
        goto out;
    if (!disk.have_refresh || disk.consent_needed) {
        rc = load_tokens_txn(x, txn);
        if (rc == MLC_OK) {
            mlc_exact_consent_alert(x, x->err, sizeof(x->err));
            rc = MLC_ERR_NEEDS_PERSON;
        }
        goto out;
    }
    if (disk.issued_ms > x->t.issued_ms) {
        rc = load_tokens_txn(x, txn);
        MLC_LOG_INF(MOD, "token_taken_over reason=rotated_by_another_process");
        goto out;
    }
    if ((rc = vault_get_str(x, txn, MLC_EXACT_SECRET_REFRESH, &rt, &rtl)) != MLC_OK) {
        if (rc == MLC_ERR_NOTFOUND) {
            rc = mark_consent(x, txn, "no refresh token is stored");
            txn = NULL;
            if (rc == MLC_OK)
                rc = MLC_ERR_NEEDS_PERSON;
        }
        goto out;
    }
    rc = token_call(x, txn, "refresh_token", "refresh_token", rt, &ans);
    int64_t got = now_ms(x);
    switch (ans.outcome) {
    case MLC_TOKEN_NEW_PAIR:
        if (rc == MLC_OK) {
            rc = store_pair_commit(x, txn, &ans, got);
            txn = NULL;
            if (rc == MLC_OK)
                MLC_LOG_INF(MOD, "token_refreshed");
        }
        break;
    case MLC_TOKEN_NEEDS_CONSENT: {
        char why[256];
        snprintf(why, sizeof(why), "%s", ans.message[0] ? ans.message : "refresh refused");
        rc = mark_consent(x, txn, why);
        txn = NULL;
        if (rc == MLC_OK) {
            mlc_exact_consent_alert(x, x->err, sizeof(x->err));
            rc = MLC_ERR_NEEDS_PERSON;
        }
        break;
    }
    case MLC_TOKEN_BAD_ANSWER:
        if (ans.refresh_token) {
            /* The old refresh token is spent: keep the new one even without a usable access token. */
            rc = mlc_vault_set_txn(x->vault, txn, MLC_EXACT_SECRET_REFRESH, ans.refresh_token,
                                   strlen(ans.refresh_token));
            if (rc == MLC_OK) {
                rc = mlc_store_commit(txn);
                txn = NULL;
            }
        }
        if (rc == MLC_OK)
            rc = MLC_ERR_RETRY;
        break;
    case MLC_TOKEN_KEEP_CURRENT:
        /* Exact says "access_token not expired": its clock puts the issue later than ours. Keep
         * the token and move our idea of its times (in memory) so the next refresh is tried about
         * 30 s from now, not on every call. */
        if (x->t.have_access) {
            x->t.issued_ms = got - MLC_TOKEN_MIN_REFRESH_MS + MLC_TOKEN_REFRESH_WINDOW_MS;
            x->t.expires_ms = x->t.issued_ms + (int64_t)MLC_TOKEN_DEFAULT_EXPIRES_S * 1000;
            rc = MLC_OK;
        }
        break;
    default:
        break;
    }
out:
    mlc_store_abort(txn);
    mlc_vault_free_secret(rt, rtl);
    mlc_token_answer_free(&ans);
    return rc;
}

static int refresh(struct mlc_exact *x)
{
    /* In-process single flight; across processes the store's write lock serialises refreshes. */
    if (!mlc_token_flight_begin(&x->flight)) {
        set_err(x, "a token refresh is already running");
        return MLC_ERR_RETRY;
    }
    int rc = refresh_locked(x);
    mlc_token_flight_end(&x->flight);
    return rc;
}

static int wait_until(struct mlc_exact *x, int64_t until, const char *what)
{
    int64_t d = until - now_ms(x);
    if (d <= 0)
        return MLC_OK;
    if (d > x->o.max_wait_ms) {
        set_err(x, "%s; the agent will try again later (in about %lld s)", what,
                (long long)((d + 999) / 1000));
        return MLC_ERR_RETRY;
    }
    MLC_LOG_DBG(MOD, "waiting ms=%lld for=\"%s\"", (long long)d, what);
    sleep_ms(x, d);
    return MLC_OK;
}

int mlc_exact_token_ensure(struct mlc_exact *x)
{
    for (int round = 0; round < 3; round++) {
        struct mlc_token_decision d = mlc_exact_token_decide(&x->t, now_ms(x), x->o.keepalive_ms);
        switch (d.action) {
        case MLC_TOKEN_USE_CURRENT:
            if (x->t.have_access)
                return MLC_OK;
            break;
        case MLC_TOKEN_CONSENT:
            mlc_exact_consent_alert(x, x->err, sizeof(x->err));
            return MLC_ERR_NEEDS_PERSON;
        case MLC_TOKEN_WAIT_UNTIL: {
            /* Exact rejects a refresh within 570 s of issue (KB-limits). */
            int rc = wait_until(x, d.until_ms, "the access token expired early and Exact allows no "
                                               "new one until 570 s after the last");
            if (rc != MLC_OK)
                return rc;
            continue;
        }
        case MLC_TOKEN_REFRESH_NOW:
            break;
        }
        int rc = refresh(x);
        if (rc != MLC_OK)
            return rc;
        if (x->t.have_access && now_ms(x) < x->t.expires_ms)
            return MLC_OK;
    }
    set_err(x, "could not get a usable access token from Exact; try again later");
    return MLC_ERR_RETRY;
}

int mlc_exact_keepalive(struct mlc_exact *x, int64_t *next_ms)
{
    struct mlc_token_decision d = mlc_exact_token_decide_idle(&x->t, now_ms(x), x->o.keepalive_ms);
    if (next_ms)
        *next_ms = d.until_ms;
    if (d.action == MLC_TOKEN_CONSENT) {
        mlc_exact_consent_alert(x, x->err, sizeof(x->err));
        return MLC_ERR_NEEDS_PERSON;
    }
    if (d.action != MLC_TOKEN_REFRESH_NOW)
        return MLC_OK;
    int rc = refresh(x);
    if (rc == MLC_OK && next_ms) {
        d = mlc_exact_token_decide_idle(&x->t, now_ms(x), x->o.keepalive_ms);
        *next_ms = d.until_ms;
    }
    return rc;
}

void mlc_exact_token_info(const struct mlc_exact *x, struct mlc_exact_token_info *ti)
{
    memset(ti, 0, sizeof(*ti));
    ti->connected = x->t.have_refresh;
    ti->consent_needed = x->t.consent_needed;
    snprintf(ti->consent_reason, sizeof(ti->consent_reason), "%s", x->consent_reason);
    ti->issued_ms = x->t.issued_ms;
    ti->expires_ms = x->t.expires_ms;
    ti->last_refresh_ms = x->t.last_refresh_ms;
    if (x->t.last_refresh_ms > 0)
        ti->refresh_expiry_estimate_ms = x->t.last_refresh_ms + MLC_EXACT_REFRESH_LIFE_MS;
}

static void forget_access(struct mlc_exact *x)
{
    drop_access(x);
    struct mlc_txn *txn = NULL;
    if (mlc_store_begin(x->st, 0, &txn) != MLC_OK)
        return;
    int rc = mlc_vault_delete_txn(x->vault, txn, MLC_EXACT_SECRET_ACCESS);
    if (rc == MLC_OK)
        rc = mlc_store_commit(txn);
    else
        mlc_store_abort(txn);
    if (rc != MLC_OK && rc != MLC_ERR_NOTFOUND)
        MLC_LOG_WRN(MOD, "access_token_not_forgotten err=%d", rc);
}

/* ---- requests ---- */

void mlc_exact_answer_free(struct mlc_exact_answer *a)
{
    if (!a)
        return;
    mlc_buf_free(&a->body);
}

static void feed_governor(struct mlc_ratelimit *rl, const struct mlc_http_response *resp,
                          int64_t now)
{
    struct mlc_ratelimit_headers h;
    memset(&h, 0, sizeof(h));
    char line[256];
    for (size_t i = 0; i < resp->n_headers; i++) {
        const char *n = resp->headers[i].name, *v = resp->headers[i].value;
        if (!n || !v || (strncasecmp(n, "X-RateLimit", 11) != 0 && strcasecmp(n, "Retry-After") != 0))
            continue;
        int k = snprintf(line, sizeof(line), "%s: %s", n, v);
        if (k > 0 && (size_t)k < sizeof(line))
            mlc_ratelimit_header_line(&h, line, (size_t)k);
    }
    mlc_ratelimit_on_response(rl, (int)resp->status, h.present ? &h : NULL, now);
}

/* What the governor says about sending now: waits (bounded), or refuses for the day. */
static int governor_wait(struct mlc_exact *x, struct governor *g, const char *endpoint)
{
    for (int i = 0; i < 8; i++) {
        int64_t now = now_ms(x);
        int64_t until = mlc_ratelimit_check_endpoint(&g->rl, endpoint, now);
        if (until == 0)
            return MLC_OK;
        enum mlc_ratelimit_state s = mlc_ratelimit_state(&g->rl, now);
        if (s == MLC_RL_DEFERRED_DAY) {
            set_err(x, "Exact's daily call limit for division %u is used up; the agent continues "
                       "after the daily reset", g->division);
            return MLC_ERR_BUDGET;
        }
        if (mlc_errguard_check(&g->rl.guard, endpoint, now) != 0) {
            set_err(x, "too many failed calls to %s in division %u within the hour; the agent "
                       "pauses it to stay under Exact's error limit: check the log for the errors",
                    endpoint, g->division);
            return MLC_ERR_RETRY;
        }
        char what[128];
        snprintf(what, sizeof(what), "Exact's rate limit for division %u is reached (%s)",
                 g->division, mlc_ratelimit_state_name(s));
        int rc = wait_until(x, until, what);
        if (rc != MLC_OK)
            return rc;
    }
    return MLC_ERR_RETRY;
}

int mlc_exact_request(struct mlc_exact *x, const struct mlc_exact_call *c,
                      struct mlc_exact_answer *a)
{
    memset(a, 0, sizeof(*a));
    mlc_buf_init(&a->body, MLC_ODATA_BODY_MAX);
    x->err[0] = '\0';
    x->last_status = 0;
    struct governor *g = c->division ? governor(x, c->division) : NULL;
    static const enum mlc_http_method hm[] = { MLC_HTTP_GET, MLC_HTTP_POST, MLC_HTTP_PUT,
                                               MLC_HTTP_DELETE };
    if ((unsigned)c->method > MLC_EXACT_DELETE)
        return MLC_ERR_INTERNAL;
    int is_post = c->method == MLC_EXACT_POST || c->method == MLC_EXACT_PUT;
    int refreshed = 0, waits_429 = 0;
    unsigned attempt = 0;
    int rc = MLC_ERR_RETRY;
    const char *ep = c->endpoint ? c->endpoint : "?";
    for (;;) {
        if ((rc = mlc_exact_token_ensure(x)) != MLC_OK)
            break;
        if (g && (rc = governor_wait(x, g, ep)) != MLC_OK)
            break;
        char auth[MLC_TOKEN_MAX + 32];
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", x->access);
        const char *hdrs[3];
        size_t nh = 0;
        hdrs[nh++] = auth;
        hdrs[nh++] = "Accept: application/json";
        if (is_post)
            hdrs[nh++] = "Prefer: return=representation";
        struct mlc_http_request req = { .method = hm[c->method], .url = c->url, .headers = hdrs,
                                        .n_headers = nh, .body = c->body, .body_len = c->body_len,
                                        .content_type = c->body ? "application/json" : NULL };
        struct mlc_http_response resp;
        memset(&resp, 0, sizeof(resp));
        int64_t sent = now_ms(x);
        if (g)
            mlc_ratelimit_on_send(&g->rl, sent);
        int hr = perform(x, &req, &resp);
        mlc_wipe(auth, sizeof(auth));
        int64_t now = now_ms(x);
        long status = hr == MLC_OK ? resp.status : 0;
        if (hr != MLC_OK && hr != MLC_ERR_RETRY && hr != MLC_ERR_TIMEOUT) {
            /* Not a network failure: bad URL, untrusted certificate, too big, out of memory. */
            set_err(x, "%s", resp.error[0] ? resp.error : mlc_err_str(hr));
            mlc_http_response_free(&resp);
            rc = hr == MLC_ERR_CRYPTO ? MLC_ERR_CONFIG : hr;
            /* An oversized answer, or a stop signal, may come after the POST was sent. */
            if (is_post)
                a->maybe_landed = hr == MLC_ERR_TOO_BIG || hr == MLC_ERR_CANCELLED;
            break;
        }
        if (g && status)
            feed_governor(&g->rl, &resp, now);
        a->status = status;
        x->last_status = status;
        mlc_buf_reset(&a->body);
        if (status && resp.body.len)
            mlc_buf_append(&a->body, resp.body.data, resp.body.len);
        const char *reason = status ? mlc_http_header_get(&resp, "Reason") : NULL;
        enum mlc_exact_class cls = mlc_exact_error_classify((int)status, reason,
                                                            status ? resp.body.data : NULL,
                                                            status ? resp.body.len : 0, &a->failure);
        char neterr[384];
        snprintf(neterr, sizeof(neterr), "%s", resp.error);
        mlc_http_response_free(&resp);
        if (a->failure.counts_as_error && g)
            mlc_ratelimit_on_error(&g->rl, ep, now);
        if (cls == MLC_EXACT_OK) {
            rc = MLC_OK;
            break;
        }
        MLC_LOG_WRN(MOD, "call_failed endpoint=%s status=%ld class=%s", ep, status,
                    mlc_exact_class_name(cls));
        if (cls == MLC_EXACT_RETRY) {
            if (is_post) {
                /* The POST may have been committed before the answer was lost: never re-send
                 * blindly; the caller settles it by reading back. */
                a->maybe_landed = 1;
                set_err(x, "the answer to the %s call was lost (%s); it is settled by reading back",
                        ep, status ? a->failure.message : (neterr[0] ? neterr : "no answer"));
                rc = MLC_ERR_RETRY;
                break;
            }
            if (++attempt >= x->o.max_attempts) {
                set_err(x, "Exact did not answer %s after %u tries (%s); the agent will try again "
                           "later", ep, attempt,
                        status ? a->failure.message : (neterr[0] ? neterr : "no answer"));
                rc = MLC_ERR_RETRY;
                break;
            }
            uint32_t rnd = x->env.random ? x->env.random(x->env.ud) : real_random(NULL);
            uint32_t d = mlc_backoff_delay_ms(attempt - 1, x->o.backoff_base_ms, x->o.backoff_cap_ms,
                                              rnd);
            sleep_ms(x, d);
            continue;
        }
        if (cls == MLC_EXACT_RATE_LIMITED) {
            /* The governor has the reset from the headers; waiting for it is the retry rule. */
            if (++waits_429 > MAX_429_WAITS) {
                set_err(x, "Exact keeps refusing %s with 429 (rate limit); the agent will try "
                           "again later", ep);
                rc = MLC_ERR_RETRY;
                break;
            }
            if (!g) {
                sleep_ms(x, 60000);
            }
            continue;
        }
        if (cls == MLC_EXACT_AUTH) {
            struct mlc_token_decision d = mlc_exact_token_after_401(&x->t, now, refreshed);
            if (d.action == MLC_TOKEN_REFRESH_NOW) {
                refreshed = 1;
                /* Force the refresh: the token we hold is dead whatever its times say. */
                x->t.have_access = 0;
                continue;
            }
            if (d.action == MLC_TOKEN_CONSENT) {
                mlc_exact_consent_alert(x, x->err, sizeof(x->err));
                rc = MLC_ERR_NEEDS_PERSON;
                break;
            }
            /* The token is dead on Exact's side: forget it (here and on disk), so no later call
             * or process spends Exact's error budget on it before a refresh is allowed. */
            forget_access(x);
            set_err(x, "Exact refused the access token for %s; a new one is allowed in %lld s: "
                       "the agent will try again then", ep,
                    (long long)((d.until_ms - now + 999) / 1000));
            rc = MLC_ERR_RETRY;
            break;
        }
        /* Functional (500 with Exact's text), needs a person (403), or our bug (400/404): never
         * retried; Exact's message is kept for the person. */
        set_err(x, "Exact refused %s: %s", ep, a->failure.message[0] ? a->failure.message
                                                                    : "no reason given");
        rc = mlc_exact_class_err(cls);
        if (cls == MLC_EXACT_FUNCTIONAL)
            rc = MLC_ERR_NEEDS_PERSON;
        break;
    }
    if (g)
        governor_save(x, g);
    return rc;
}

/* ---- URLs and listings ---- */

int mlc_exact_url(const struct mlc_exact *x, uint32_t division, const char *service,
                  const char *entity, char *out, size_t cap)
{
    int n;
    if (division)
        n = snprintf(out, cap, "%s/api/v1/%u/%s/%s", x->base_url, division, service, entity);
    else
        n = snprintf(out, cap, "%s/api/v1/current/%s", x->base_url, entity);
    return n < 0 || (size_t)n >= cap ? MLC_ERR_TOO_BIG : MLC_OK;
}

int mlc_exact_get_all(struct mlc_exact *x, const struct mlc_odata_query *q, mlc_exact_row_fn fn,
                      void *ctx, unsigned *pages)
{
    struct mlc_odata_query qq = *q;
    if (!qq.base)
        qq.base = x->base_url;
    char *url = mlc_malloc(MLC_ODATA_NEXT_MAX + 1);
    char endpoint[MLC_RL_ENDPOINT_MAX];
    struct mlc_exact_answer a;
    memset(&a, 0, sizeof(a));
    struct mlc_odata_page page;
    memset(&page, 0, sizeof(page));
    unsigned n = 0;
    int rc;
    if (pages)
        *pages = 0;
    if (!url)
        return MLC_ERR_NOMEM;
    if (qq.service && qq.service[0])
        snprintf(endpoint, sizeof(endpoint), "%s/%s", qq.service, qq.entity);
    else
        snprintf(endpoint, sizeof(endpoint), "current/%s", qq.entity);
    if ((rc = mlc_odata_build_url(&qq, url, MLC_ODATA_NEXT_MAX + 1)) != MLC_OK) {
        set_err(x, "could not build the request for %s (%s)", endpoint, mlc_err_str(rc));
        goto out;
    }
    for (;;) {
        struct mlc_exact_call c = { .method = MLC_EXACT_GET, .division = qq.division, .url = url,
                                    .endpoint = endpoint };
        mlc_exact_answer_free(&a);
        if ((rc = mlc_exact_request(x, &c, &a)) != MLC_OK)
            goto out;
        mlc_odata_page_free(&page);
        if ((rc = mlc_odata_page_parse(&page, a.body.data, a.body.len)) != MLC_OK) {
            set_err(x, "Exact's answer for %s could not be read (%s)", endpoint, mlc_err_str(rc));
            goto out;
        }
        n++;
        const cJSON *row;
        while ((row = mlc_odata_page_next(&page)) != NULL) {
            int r = fn(ctx, row);
            if (r < 0) {
                rc = r;
                goto out;
            }
            if (r > 0) {
                rc = MLC_OK;
                goto out;
            }
        }
        if (!page.next)
            break;
        /* Follow __next exactly as given, but only on our own host (never send the token
         * elsewhere). */
        if (mlc_odata_next_check(x->base_url, page.next) != MLC_OK ||
            strlen(page.next) > MLC_ODATA_NEXT_MAX) {
            set_err(x, "Exact's next-page link for %s points elsewhere; the listing was stopped",
                    endpoint);
            rc = MLC_ERR_DATA;
            goto out;
        }
        if (n >= MLC_EXACT_PAGES_MAX) {
            set_err(x, "the listing of %s has more than %u pages; stopped", endpoint,
                    MLC_EXACT_PAGES_MAX);
            rc = MLC_ERR_TOO_BIG;
            goto out;
        }
        snprintf(url, MLC_ODATA_NEXT_MAX + 1, "%s", page.next);
    }
    rc = MLC_OK;
out:
    if (pages)
        *pages = n;
    mlc_odata_page_free(&page);
    mlc_exact_answer_free(&a);
    mlc_free(url);
    return rc;
}

/* Exact's users/UserHasRights for POST financialtransaction/BankEntries (KB-tips). */
int mlc_exact_can_post_bank_entries(struct mlc_exact *x, uint32_t division, int *allowed)
{
    char url[1024];
    *allowed = 0;
    int n = snprintf(url, sizeof(url),
                     "%s/api/v1/%u/users/UserHasRights?endpoint=%%27financialtransaction%%2F"
                     "BankEntries%%27&action=%%27POST%%27",
                     mlc_exact_base_url(x), division);
    if (n < 0 || (size_t)n >= sizeof(url))
        return MLC_ERR_TOO_BIG;
    struct mlc_exact_call call = { .method = MLC_EXACT_GET, .division = division, .url = url,
                                   .endpoint = "users/UserHasRights" };
    struct mlc_exact_answer a;
    int rc = mlc_exact_request(x, &call, &a);
    if (rc == MLC_OK) {
        struct mlc_odata_page p;
        memset(&p, 0, sizeof(p));
        rc = mlc_odata_page_parse(&p, a.body.data, a.body.len);
        const cJSON *row = rc == MLC_OK ? mlc_odata_page_next(&p) : NULL;
        const cJSON *v = row ? cJSON_GetObjectItemCaseSensitive(row, "UserHasRights") : NULL;
        if (rc == MLC_OK && !cJSON_IsBool(v))
            rc = MLC_ERR_DATA;
        else if (rc == MLC_OK)
            *allowed = cJSON_IsTrue(v);
        mlc_odata_page_free(&p);
    }
    mlc_exact_answer_free(&a);
    return rc;
}
