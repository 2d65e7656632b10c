#include "mlc_mapping.h"
#include "mlc_alloc.h"
#include "mlc_audit.h"
#include "mlc_err.h"
#include "mlc_exact_ref.h"
#include "mlc_journal.h"
#include "mlc_store.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define PREFIX "map/"
#define KEY_MAX 300
#define REC_MAX 2048

static int key_of(char *out, size_t cap, const char *account_id)
{
    if (!account_id || !account_id[0] || strlen(account_id) > MLC_PLAID_ID_MAX)
        return MLC_ERR_TOO_BIG;
    int n = snprintf(out, cap, PREFIX "%s", account_id);
    return n < 0 || (size_t)n >= cap ? MLC_ERR_TOO_BIG : n;
}

static void jcopy(const cJSON *o, const char *name, char *out, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    snprintf(out, cap, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

static int decode(const void *val, size_t len, struct mlc_mapping *m)
{
    if (len > REC_MAX)
        return MLC_ERR_DATA;
    cJSON *o = cJSON_ParseWithLength(val, len);
    if (!o)
        return MLC_ERR_DATA;
    memset(m, 0, sizeof(*m));
    jcopy(o, "account", m->account_id, sizeof(m->account_id));
    jcopy(o, "journal", m->journal, sizeof(m->journal));
    jcopy(o, "gl", m->offset_gl, sizeof(m->offset_gl));
    jcopy(o, "gl_code", m->offset_gl_code, sizeof(m->offset_gl_code));
    jcopy(o, "cc", m->cost_center, sizeof(m->cost_center));
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "division");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "changed");
    int ok = cJSON_IsNumber(d) && d->valuedouble >= 1 && d->valuedouble <= 4294967295.0 &&
             m->account_id[0] && m->journal[0];
    if (ok)
        m->division = (uint32_t)d->valuedouble;
    /* A damaged record may hold any number (1e999 parses as inf): converting one that does not
     * fit int64_t is undefined behaviour, so only what fits is taken (found by fuzz_store_records). */
    m->changed_ms = cJSON_IsNumber(t) && t->valuedouble > -9e18 && t->valuedouble < 9e18
                        ? (int64_t)t->valuedouble
                        : 0;
    cJSON_Delete(o);
    return ok ? MLC_OK : MLC_ERR_DATA;
}

int mlc_mapping_get(struct mlc_txn *txn, const char *account_id, struct mlc_mapping *out)
{
    char key[KEY_MAX];
    int kl = key_of(key, sizeof(key), account_id);
    if (kl < 0)
        return kl;
    const void *v = NULL;
    size_t vl = 0;
    int rc = mlc_store_get(txn, MLC_DB_MAPPINGS, key, (size_t)kl, &v, &vl);
    return rc != MLC_OK ? rc : decode(v, vl, out);
}

static int audit(struct mlc_txn *txn, const struct mlc_mapping *m, const char *account_id,
                 int64_t now_ms)
{
    char detail[512];
    if (m)
        snprintf(detail, sizeof(detail), "mapped to division %u journal %s, offset G/L %s, "
                 "cost center %s", m->division, m->journal,
                 m->offset_gl_code[0] ? m->offset_gl_code : (m->offset_gl[0] ? m->offset_gl
                                                                             : "(none)"),
                 m->cost_center[0] ? m->cost_center : "(none)");
    else
        snprintf(detail, sizeof(detail), "mapping removed: the account is no longer posted");
    struct mlc_audit_event ev = { .type = MLC_AUDIT_MAPPING, .time_ms = now_ms,
                                  .account_id = account_id, .division = m ? m->division : 0,
                                  .journal = m ? m->journal : NULL, .detail = detail };
    return mlc_audit_append_txn(txn, &ev, NULL);
}

int mlc_mapping_put(struct mlc_txn *txn, const struct mlc_mapping *m, int64_t now_ms)
{
    char key[KEY_MAX];
    int kl = key_of(key, sizeof(key), m->account_id);
    if (kl < 0)
        return kl;
    if (!m->division || !m->journal[0])
        return MLC_ERR_USAGE;
    char *text = NULL;
    cJSON *o = cJSON_CreateObject();
    int rc = MLC_ERR_NOMEM;
    if (!o || !cJSON_AddStringToObject(o, "account", m->account_id) ||
        !cJSON_AddNumberToObject(o, "division", m->division) ||
        !cJSON_AddStringToObject(o, "journal", m->journal) ||
        !cJSON_AddStringToObject(o, "gl", m->offset_gl) ||
        !cJSON_AddStringToObject(o, "gl_code", m->offset_gl_code) ||
        !cJSON_AddStringToObject(o, "cc", m->cost_center) ||
        !cJSON_AddNumberToObject(o, "changed", (double)now_ms) ||
        !(text = cJSON_PrintUnformatted(o)))
        goto out;
    rc = mlc_store_put(txn, MLC_DB_MAPPINGS, key, (size_t)kl, text, strlen(text));
    if (rc == MLC_OK)
        rc = audit(txn, m, m->account_id, now_ms);
out:
    cJSON_free(text);
    cJSON_Delete(o);
    return rc;
}

int mlc_mapping_del(struct mlc_txn *txn, const char *account_id, int64_t now_ms)
{
    char key[KEY_MAX];
    int kl = key_of(key, sizeof(key), account_id);
    if (kl < 0)
        return kl;
    int rc = mlc_store_del(txn, MLC_DB_MAPPINGS, key, (size_t)kl);
    return rc != MLC_OK ? rc : audit(txn, NULL, account_id, now_ms);
}

struct each_ctx {
    mlc_mapping_fn fn;
    void *ctx;
};

static int each_rec(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    (void)key;
    (void)klen;
    struct each_ctx *e = ctx;
    struct mlc_mapping m;
    if (decode(val, vlen, &m) != MLC_OK)
        return 0; /* a damaged record is not a mapping: the account shows as unmapped */
    return e->fn(e->ctx, &m);
}

int mlc_mapping_each(struct mlc_txn *txn, mlc_mapping_fn fn, void *ctx)
{
    struct each_ctx e = { fn, ctx };
    return mlc_store_each(txn, MLC_DB_MAPPINGS, PREFIX, strlen(PREFIX), each_rec, &e);
}

/* Exact pads some codes with spaces ("    1600"): compare trimmed. */
static int code_eq(const char *a, const char *b)
{
    while (*a == ' ')
        a++;
    while (*b == ' ')
        b++;
    size_t la = strlen(a), lb = strlen(b);
    while (la && a[la - 1] == ' ')
        la--;
    while (lb && b[lb - 1] == ' ')
        lb--;
    return la == lb && la > 0 && strncmp(a, b, la) == 0;
}

struct gl_find {
    const char *want;
    char id[MLC_MAPPING_GUID_MAX + 1];
    char code[MLC_MAPPING_CODE_MAX + 1];
    int found;
};

static int gl_row(void *ctx, const cJSON *row)
{
    struct gl_find *g = ctx;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(row, "ID");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(row, "Code");
    if (!cJSON_IsString(id) || !cJSON_IsString(code))
        return 0;
    if (code_eq(code->valuestring, g->want) || strcasecmp(id->valuestring, g->want) == 0) {
        snprintf(g->id, sizeof(g->id), "%s", id->valuestring);
        const char *c = code->valuestring;
        while (*c == ' ')
            c++;
        snprintf(g->code, sizeof(g->code), "%s", c);
        g->found = 1;
        return 1;
    }
    return 0;
}

int mlc_mapping_resolve_gl(struct mlc_store *st, uint32_t division, const char *code_or_id,
                           char id[MLC_MAPPING_GUID_MAX + 1], char code[MLC_MAPPING_CODE_MAX + 1])
{
    if (!code_or_id || !code_or_id[0])
        return MLC_ERR_NOTFOUND;
    struct gl_find g = { .want = code_or_id };
    int rc = mlc_exact_ref_each(st, division, MLC_REF_GLACCOUNTS, gl_row, &g);
    if (rc != MLC_OK)
        return rc;
    if (!g.found)
        return MLC_ERR_NOTFOUND;
    memcpy(id, g.id, sizeof(g.id));
    memcpy(code, g.code, sizeof(g.code));
    return MLC_OK;
}

#define WHY(...) (snprintf(why, whycap, __VA_ARGS__), MLC_ERR_NEEDS_PERSON)

int mlc_mapping_check(struct mlc_store *st, const struct mlc_mapping *m, const char *currency,
                      char *why, size_t whycap)
{
    struct mlc_ref_journal j;
    int rc = mlc_exact_ref_journal(st, m->division, m->journal, &j);
    if (rc == MLC_ERR_NOTFOUND)
        return WHY("account %s: journal %s is not a bank journal of division %u (or the "
                   "reference data is not fetched yet); map it to one of 'mlc accounts'",
                   m->account_id, m->journal, m->division);
    if (rc != MLC_OK)
        return rc;
    if (j.type != 12)
        return WHY("account %s: journal %s is not a bank journal (type %d); map it to a bank "
                   "journal", m->account_id, j.code, j.type);
    if (j.blocked)
        return WHY("account %s: journal %s is blocked in Exact; unblock it or map the account "
                   "to another journal", m->account_id, j.code);
    if (currency && currency[0] && j.currency[0] && strcmp(currency, j.currency) != 0)
        return WHY("account %s is in %s but journal %s keeps %s; map it to a %s bank journal",
                   m->account_id, currency, j.code, j.currency, currency);
    int use_cc = 0;
    if (m->offset_gl[0]) {
        struct mlc_ref_glaccount g;
        rc = mlc_exact_ref_glaccount(st, m->division, m->offset_gl, &g);
        if (rc == MLC_ERR_NOTFOUND)
            return WHY("account %s: offset G/L account %s does not exist in division %u; "
                       "choose another with --offset-gl", m->account_id,
                       m->offset_gl_code[0] ? m->offset_gl_code : m->offset_gl, m->division);
        if (rc != MLC_OK)
            return rc;
        if (g.blocked)
            return WHY("account %s: offset G/L account %s is blocked in Exact; unblock it or "
                       "choose another with --offset-gl", m->account_id, g.code);
        use_cc = g.use_costcenter;
        if (use_cc == 1 && !m->cost_center[0])
            return WHY("account %s: G/L account %s needs a cost center; add --cost-center",
                       m->account_id, g.code);
        if (use_cc == 2 && m->cost_center[0])
            return WHY("account %s: G/L account %s takes no cost center; map it without "
                       "--cost-center", m->account_id, g.code);
    }
    if (m->cost_center[0]) {
        rc = mlc_exact_ref_costcenter(st, m->division, m->cost_center);
        if (rc == MLC_ERR_NOTFOUND)
            return WHY("account %s: cost center %s does not exist in division %u; check the "
                       "code with 'mlc exact costcenters'", m->account_id, m->cost_center,
                       m->division);
        if (rc != MLC_OK)
            return rc;
    }
    return MLC_OK;
}

/* Upper-case alphanumerics only: "nl91 abna 0417..." and "NL91ABNA0417..." are the same. */
static void norm(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    for (; in && *in && n + 1 < cap; in++)
        if (isalnum((unsigned char)*in))
            out[n++] = (char)toupper((unsigned char)*in);
    out[n] = '\0';
}

enum mlc_mapping_match mlc_mapping_suggest(const struct mlc_journal_account *a,
                                           const struct mlc_ref_journal *j)
{
    if (a->currency[0] && j->currency[0] && strcmp(a->currency, j->currency) != 0)
        return MLC_MATCH_NONE;
    char ji[64], ai[64];
    norm(j->iban, ji, sizeof(ji));
    if (!ji[0])
        return MLC_MATCH_NONE;
    norm(a->iban, ai, sizeof(ai));
    if (ai[0])
        return strcmp(ai, ji) == 0 ? MLC_MATCH_IBAN : MLC_MATCH_NONE;
    const char *nums[] = { a->ach_account, a->bacs_account, a->eft_account };
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        char n[64];
        norm(nums[i], n, sizeof(n));
        const char *p = n;
        while (*p == '0')
            p++; /* IBANs zero-pad the account number */
        size_t pl = strlen(p), jl = strlen(ji);
        if (pl >= 4 && pl < jl && strcmp(ji + jl - pl, p) == 0)
            return MLC_MATCH_NUMBER;
    }
    return MLC_MATCH_NONE;
}
