#include "mlc_rules.h"
#include "mlc_alloc.h"
#include "mlc_audit.h"
#include "mlc_err.h"
#include "mlc_store.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define PREFIX "rule/"
#define KEY_MAX 32
#define REC_MAX 4096

static int ci_contains(const char *hay, const char *needle)
{
    size_t nl = strlen(needle);
    if (!nl)
        return 1;
    for (; hay && *hay; hay++)
        if (strncasecmp(hay, needle, nl) == 0)
            return 1;
    return 0;
}

static int ci_eq(const char *a, const char *b)
{
    return a && strcasecmp(a, b) == 0;
}

int mlc_rule_matches(const struct mlc_rule *r, const struct mlc_rule_input *in)
{
    if (r->account_id[0] && (!in->account_id || strcmp(r->account_id, in->account_id) != 0))
        return 0;
    if (r->merchant[0] && !ci_eq(in->merchant, r->merchant))
        return 0;
    if (r->name_contains[0] && !ci_contains(in->name, r->name_contains))
        return 0;
    if (r->category[0] && !ci_eq(in->category, r->category) &&
        !ci_eq(in->category_detailed, r->category))
        return 0;
    struct mlc_amount zero = { 0, 0 };
    int s = mlc_amount_cmp(in->amount, zero);
    if ((r->sign == MLC_SIGN_OUT && s <= 0) || (r->sign == MLC_SIGN_IN && s >= 0))
        return 0;
    struct mlc_amount mag = s < 0 ? mlc_amount_neg(in->amount) : in->amount;
    if (r->has_min && mlc_amount_cmp(mag, r->min) < 0)
        return 0;
    if (r->has_max && mlc_amount_cmp(mag, r->max) > 0)
        return 0;
    return 1;
}

static void jcopy(const cJSON *o, const char *name, char *out, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    snprintf(out, cap, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

static int jamount(const cJSON *o, const char *name, int *has, struct mlc_amount *a)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    *has = 0;
    if (!cJSON_IsString(v))
        return MLC_OK;
    *has = 1;
    return mlc_amount_parse(v->valuestring, strlen(v->valuestring), a);
}

static int decode(const void *val, size_t len, struct mlc_rule *r)
{
    if (len > REC_MAX)
        return MLC_ERR_DATA;
    cJSON *o = cJSON_ParseWithLength(val, len);
    if (!o)
        return MLC_ERR_DATA;
    memset(r, 0, sizeof(*r));
    const cJSON *ord = cJSON_GetObjectItemCaseSensitive(o, "order");
    const cJSON *sign = cJSON_GetObjectItemCaseSensitive(o, "sign");
    /* A damaged record may hold any number: a double that does not fit the target type is
     * undefined behaviour to convert (found by fuzz_store_records); cJSON's valueint saturates. */
    r->order = cJSON_IsNumber(ord) && ord->valuedouble >= 0 && ord->valuedouble <= 4294967295.0
                   ? (unsigned)ord->valuedouble
                   : 0;
    r->sign = cJSON_IsNumber(sign) ? sign->valueint : 0;
    jcopy(o, "name", r->name, sizeof(r->name));
    jcopy(o, "account", r->account_id, sizeof(r->account_id));
    jcopy(o, "merchant", r->merchant, sizeof(r->merchant));
    jcopy(o, "name_contains", r->name_contains, sizeof(r->name_contains));
    jcopy(o, "category", r->category, sizeof(r->category));
    jcopy(o, "gl", r->gl, sizeof(r->gl));
    jcopy(o, "gl_code", r->gl_code, sizeof(r->gl_code));
    jcopy(o, "cc", r->cost_center, sizeof(r->cost_center));
    int rc = jamount(o, "min", &r->has_min, &r->min);
    if (rc == MLC_OK)
        rc = jamount(o, "max", &r->has_max, &r->max);
    if (rc == MLC_OK && (!r->name[0] || !r->gl[0] || r->sign < 0 || r->sign > 2))
        rc = MLC_ERR_DATA;
    cJSON_Delete(o);
    return rc;
}

static int add_amount(cJSON *o, const char *name, int has, struct mlc_amount a)
{
    if (!has)
        return 1;
    char t[MLC_AMOUNT_STRMAX];
    return mlc_amount_format(a, 0, t, sizeof(t)) > 0 && cJSON_AddStringToObject(o, name, t);
}

struct find {
    const char *name;
    unsigned order;
    int by_order;
    struct mlc_rule found;
    int hit;
};

static int find_rec(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    (void)key;
    (void)klen;
    struct find *f = ctx;
    struct mlc_rule r;
    if (decode(val, vlen, &r) != MLC_OK)
        return 0;
    if ((f->by_order && r.order == f->order) || (!f->by_order && strcmp(r.name, f->name) == 0)) {
        f->found = r;
        f->hit = 1;
        return 1;
    }
    return 0;
}

static int key_of(char *key, size_t cap, unsigned order)
{
    return snprintf(key, cap, PREFIX "%08u", order);
}

static int audit(struct mlc_txn *txn, const char *what, const struct mlc_rule *r, int64_t now_ms)
{
    char d[MLC_AUDIT_DETAIL_MAX], desc[700];
    mlc_rule_describe(r, desc, sizeof(desc));
    snprintf(d, sizeof(d), "coding rule %s: %s", what, desc);
    struct mlc_audit_event ev = { .type = MLC_AUDIT_CONFIG, .time_ms = now_ms, .rule = r->name,
                                  .account_id = r->account_id, .detail = d };
    return mlc_audit_append_txn(txn, &ev, NULL);
}

int mlc_rules_put(struct mlc_txn *txn, const struct mlc_rule *r, int64_t now_ms)
{
    if (!r->name[0] || !r->gl[0] || r->order > 99999999u || r->sign < 0 || r->sign > 2)
        return MLC_ERR_USAGE;
    struct find f = { .order = r->order, .by_order = 1 };
    int rc = mlc_store_each(txn, MLC_DB_MAPPINGS, PREFIX, strlen(PREFIX), find_rec, &f);
    if (rc != MLC_OK)
        return rc;
    if (f.hit && strcmp(f.found.name, r->name) != 0)
        return MLC_ERR_EXISTS;
    struct find g = { .name = r->name };
    if ((rc = mlc_store_each(txn, MLC_DB_MAPPINGS, PREFIX, strlen(PREFIX), find_rec, &g)) != MLC_OK)
        return rc;
    char key[KEY_MAX];
    if (g.hit) {
        key_of(key, sizeof(key), g.found.order);
        if ((rc = mlc_store_del(txn, MLC_DB_MAPPINGS, key, strlen(key))) != MLC_OK)
            return rc;
    }
    char *text = NULL;
    cJSON *o = cJSON_CreateObject();
    rc = MLC_ERR_NOMEM;
    if (!o || !cJSON_AddNumberToObject(o, "order", r->order) ||
        !cJSON_AddStringToObject(o, "name", r->name) ||
        !cJSON_AddStringToObject(o, "account", r->account_id) ||
        !cJSON_AddStringToObject(o, "merchant", r->merchant) ||
        !cJSON_AddStringToObject(o, "name_contains", r->name_contains) ||
        !cJSON_AddStringToObject(o, "category", r->category) ||
        !cJSON_AddNumberToObject(o, "sign", r->sign) || !add_amount(o, "min", r->has_min, r->min) ||
        !add_amount(o, "max", r->has_max, r->max) || !cJSON_AddStringToObject(o, "gl", r->gl) ||
        !cJSON_AddStringToObject(o, "gl_code", r->gl_code) ||
        !cJSON_AddStringToObject(o, "cc", r->cost_center) || !(text = cJSON_PrintUnformatted(o)))
        goto out;
    if (strlen(text) > REC_MAX) {
        rc = MLC_ERR_TOO_BIG;
        goto out;
    }
    key_of(key, sizeof(key), r->order);
    rc = mlc_store_put(txn, MLC_DB_MAPPINGS, key, strlen(key), text, strlen(text));
    if (rc == MLC_OK)
        rc = audit(txn, g.hit ? "changed" : "added", r, now_ms);
out:
    cJSON_free(text);
    cJSON_Delete(o);
    return rc;
}

int mlc_rules_del(struct mlc_txn *txn, const char *name, int64_t now_ms)
{
    struct find g = { .name = name };
    int rc = mlc_store_each(txn, MLC_DB_MAPPINGS, PREFIX, strlen(PREFIX), find_rec, &g);
    if (rc != MLC_OK)
        return rc;
    if (!g.hit)
        return MLC_ERR_NOTFOUND;
    char key[KEY_MAX];
    key_of(key, sizeof(key), g.found.order);
    rc = mlc_store_del(txn, MLC_DB_MAPPINGS, key, strlen(key));
    return rc != MLC_OK ? rc : audit(txn, "removed", &g.found, now_ms);
}

struct each_ctx {
    mlc_rule_fn fn;
    void *ctx;
    unsigned n;
};

static int each_rec(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    (void)key;
    (void)klen;
    struct each_ctx *e = ctx;
    struct mlc_rule r;
    if (++e->n > MLC_RULES_MAX)
        return MLC_ERR_TOO_BIG;
    if (decode(val, vlen, &r) != MLC_OK)
        return MLC_ERR_DATA; /* a damaged rule must not let a later one code the line silently */
    return e->fn(e->ctx, &r);
}

int mlc_rules_each(struct mlc_txn *txn, mlc_rule_fn fn, void *ctx)
{
    struct each_ctx e = { fn, ctx, 0 };
    return mlc_store_each(txn, MLC_DB_MAPPINGS, PREFIX, strlen(PREFIX), each_rec, &e);
}

struct code_ctx {
    const struct mlc_rule_input *in;
    struct mlc_coding *out;
    int hit;
};

static int code_rule(void *ctx, const struct mlc_rule *r)
{
    struct code_ctx *c = ctx;
    if (!mlc_rule_matches(r, c->in))
        return 0;
    snprintf(c->out->gl, sizeof(c->out->gl), "%s", r->gl);
    snprintf(c->out->gl_code, sizeof(c->out->gl_code), "%s", r->gl_code);
    if (r->cost_center[0])
        snprintf(c->out->cost_center, sizeof(c->out->cost_center), "%s", r->cost_center);
    snprintf(c->out->rule, sizeof(c->out->rule), "%s", r->name);
    c->hit = 1;
    return 1;
}

int mlc_rules_code(struct mlc_txn *txn, const struct mlc_mapping *m,
                   const struct mlc_rule_input *in, struct mlc_coding *out)
{
    memset(out, 0, sizeof(*out));
    if (m)
        snprintf(out->cost_center, sizeof(out->cost_center), "%s", m->cost_center);
    struct code_ctx c = { in, out, 0 };
    int rc = mlc_rules_each(txn, code_rule, &c);
    if (rc != MLC_OK)
        return rc;
    if (c.hit)
        return MLC_OK;
    if (!m || !m->offset_gl[0])
        return MLC_ERR_NOTFOUND;
    snprintf(out->gl, sizeof(out->gl), "%s", m->offset_gl);
    snprintf(out->gl_code, sizeof(out->gl_code), "%s", m->offset_gl_code);
    snprintf(out->rule, sizeof(out->rule), "default");
    return MLC_OK;
}

void mlc_rule_describe(const struct mlc_rule *r, char *buf, size_t cap)
{
    char mn[MLC_AMOUNT_STRMAX] = "", mx[MLC_AMOUNT_STRMAX] = "";
    if (r->has_min)
        mlc_amount_format(r->min, 2, mn, sizeof(mn));
    if (r->has_max)
        mlc_amount_format(r->max, 2, mx, sizeof(mx));
    snprintf(buf, cap, "#%u %s: account=%s merchant=%s name~%s category=%s sign=%s amount=%s..%s"
             " -> G/L %s cost center %s", r->order, r->name,
             r->account_id[0] ? r->account_id : "*", r->merchant[0] ? r->merchant : "*",
             r->name_contains[0] ? r->name_contains : "*", r->category[0] ? r->category : "*",
             r->sign == MLC_SIGN_OUT ? "out" : r->sign == MLC_SIGN_IN ? "in" : "any",
             r->has_min ? mn : "", r->has_max ? mx : "",
             r->gl_code[0] ? r->gl_code : r->gl,
             r->cost_center[0] ? r->cost_center : "(mapping's)");
}
