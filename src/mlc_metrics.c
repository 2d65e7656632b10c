#include "mlc_metrics.h"
#include "mlc_alloc.h"
#include "mlc_buf.h"
#include "mlc_err.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Longest rendered label set: every pair at its cap, every value byte escaped to two bytes. */
#define KEY_MAX (MLC_METRICS_LABELS_MAX * (MLC_METRICS_NAME_MAX + 2 * MLC_METRICS_LABEL_VALUE_MAX + 4))

struct series {
    char *key;   /* rendered, escaped label set `a="x",b="y"` with names sorted; "" = no labels */
    double value;
};

struct family {
    char name[MLC_METRICS_NAME_MAX];
    char help[MLC_METRICS_HELP_MAX];
    enum mlc_metric_type type;
    struct series *s;
    size_t n, cap;
};

struct mlc_metrics {
    struct family fam[MLC_METRICS_FAMILIES_MAX];
    size_t n_fam;
};

int mlc_metrics_new(struct mlc_metrics **out)
{
    *out = mlc_calloc(1, sizeof(**out));
    return *out ? MLC_OK : MLC_ERR_NOMEM;
}

static void family_clear(struct family *f)
{
    for (size_t i = 0; i < f->n; i++)
        mlc_free(f->s[i].key);
    mlc_free(f->s);
    f->s = NULL;
    f->n = f->cap = 0;
}

void mlc_metrics_free(struct mlc_metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_fam; i++)
        family_clear(&m->fam[i]);
    mlc_free(m);
}

static int name_ok(const char *s, int colon_ok)
{
    size_t n = strlen(s);
    if (n == 0 || n >= MLC_METRICS_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (colon_ok && c == ':') || (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

static struct family *family_find(const struct mlc_metrics *m, const char *name)
{
    for (size_t i = 0; i < m->n_fam; i++)
        if (strcmp(m->fam[i].name, name) == 0)
            return (struct family *)&m->fam[i];
    return NULL;
}

int mlc_metrics_define(struct mlc_metrics *m, const char *name, enum mlc_metric_type type,
                       const char *help)
{
    if (!name_ok(name, 1))
        return MLC_ERR_DATA;
    struct family *f = family_find(m, name);
    if (f)
        return f->type == type ? MLC_OK : MLC_ERR_EXISTS;
    if (m->n_fam == MLC_METRICS_FAMILIES_MAX)
        return MLC_ERR_TOO_BIG;
    f = &m->fam[m->n_fam++];
    strcpy(f->name, name);
    snprintf(f->help, sizeof(f->help), "%s", help ? help : "");
    f->type = type;
    return MLC_OK;
}

/* Escapes a label value per the exposition format: backslash, double quote and line feed. */
static size_t escape(char *o, const char *v, int quote_too)
{
    size_t n = 0;
    for (; *v; v++) {
        if (*v == '\\' || (quote_too && *v == '"')) {
            o[n++] = '\\';
            o[n++] = *v;
        } else if (*v == '\n') {
            o[n++] = '\\';
            o[n++] = 'n';
        } else {
            o[n++] = *v;
        }
    }
    return n;
}

/* Builds the canonical key: pairs sorted by label name, so call sites need not agree on order. */
static int make_key(const char *const *labels, char *key)
{
    const char *const *pair[MLC_METRICS_LABELS_MAX];
    size_t np = 0, n = 0;
    for (size_t i = 0; labels && labels[i]; i += 2) {
        if (!labels[i + 1] || np == MLC_METRICS_LABELS_MAX || !name_ok(labels[i], 0) ||
            strncmp(labels[i], "__", 2) == 0 || strlen(labels[i + 1]) > MLC_METRICS_LABEL_VALUE_MAX)
            return MLC_ERR_DATA;
        size_t j = np++;
        while (j > 0 && strcmp(*pair[j - 1], labels[i]) > 0) {
            pair[j] = pair[j - 1];
            j--;
        }
        pair[j] = &labels[i];
    }
    for (size_t i = 0; i < np; i++) {
        if (i > 0 && strcmp(*pair[i - 1], *pair[i]) == 0)
            return MLC_ERR_DATA; /* the same label twice */
        if (i)
            key[n++] = ',';
        size_t l = strlen(pair[i][0]);
        memcpy(key + n, pair[i][0], l);
        n += l;
        key[n++] = '=';
        key[n++] = '"';
        n += escape(key + n, pair[i][1], 1);
        key[n++] = '"';
    }
    key[n] = '\0';
    return MLC_OK;
}

static int series_get(struct mlc_metrics *m, const char *name, const char *const *labels,
                      struct family **fo, struct series **so)
{
    char key[KEY_MAX + 1];
    struct family *f = family_find(m, name);
    if (!f)
        return MLC_ERR_NOTFOUND;
    int rc = make_key(labels, key);
    if (rc != MLC_OK)
        return rc;
    *fo = f;
    for (size_t i = 0; i < f->n; i++) {
        if (strcmp(f->s[i].key, key) == 0) {
            *so = &f->s[i];
            return MLC_OK;
        }
    }
    if (f->n == MLC_METRICS_SERIES_MAX)
        return MLC_ERR_TOO_BIG;
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 4;
        struct series *s = mlc_realloc(f->s, cap * sizeof(*s));
        if (!s)
            return MLC_ERR_NOMEM;
        f->s = s;
        f->cap = cap;
    }
    char *k = mlc_strdup(key);
    if (!k)
        return MLC_ERR_NOMEM;
    f->s[f->n].key = k;
    f->s[f->n].value = 0;
    *so = &f->s[f->n++];
    return MLC_OK;
}

int mlc_metrics_add(struct mlc_metrics *m, const char *name, const char *const *labels, double delta)
{
    struct family *f = family_find(m, name);
    struct series *s;
    if (f && f->type == MLC_METRIC_COUNTER && !(delta >= 0))
        return MLC_ERR_DATA;
    int rc = series_get(m, name, labels, &f, &s);
    if (rc == MLC_OK)
        s->value += delta;
    return rc;
}

int mlc_metrics_set(struct mlc_metrics *m, const char *name, const char *const *labels, double value)
{
    struct family *f;
    struct series *s;
    int rc = series_get(m, name, labels, &f, &s);
    if (rc == MLC_OK)
        s->value = value;
    return rc;
}

int mlc_metrics_inc(struct mlc_metrics *m, const char *name)
{
    return mlc_metrics_add(m, name, NULL, 1);
}

double mlc_metrics_get(const struct mlc_metrics *m, const char *name, const char *const *labels)
{
    char key[KEY_MAX + 1];
    const struct family *f = family_find(m, name);
    if (!f || make_key(labels, key) != MLC_OK)
        return 0;
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->s[i].key, key) == 0)
            return f->s[i].value;
    return 0;
}

void mlc_metrics_clear(struct mlc_metrics *m, const char *name)
{
    struct family *f = family_find(m, name);
    if (f)
        family_clear(f);
}

static void fmt_value(double v, char *b, size_t cap)
{
    if (isnan(v))
        snprintf(b, cap, "NaN");
    else if (isinf(v))
        snprintf(b, cap, v > 0 ? "+Inf" : "-Inf");
    else if (v > -1e15 && v < 1e15 && v == (double)(long long)v)
        snprintf(b, cap, "%lld", (long long)v);
    else
        snprintf(b, cap, "%.17g", v);
}

int mlc_metrics_render(const struct mlc_metrics *m, struct mlc_buf *out)
{
    char help[2 * MLC_METRICS_HELP_MAX + 1], val[40];
    int rc = MLC_OK;
    for (size_t i = 0; i < m->n_fam && rc == MLC_OK; i++) {
        const struct family *f = &m->fam[i];
        help[escape(help, f->help, 0)] = '\0';
        rc = mlc_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, help, f->name,
                            f->type == MLC_METRIC_COUNTER ? "counter" : "gauge");
        for (size_t j = 0; j < f->n && rc == MLC_OK; j++) {
            fmt_value(f->s[j].value, val, sizeof(val));
            rc = f->s[j].key[0] ? mlc_buf_printf(out, "%s{%s} %s\n", f->name, f->s[j].key, val)
                                : mlc_buf_printf(out, "%s %s\n", f->name, val);
        }
    }
    return rc;
}
