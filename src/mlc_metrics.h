/* A tiny registry of named counters and gauges with labels, rendered in the Prometheus text
 * exposition format (version 0.0.4) for /metrics. Owns its families and series; knows nothing of
 * what the numbers mean (mlc_status defines the agent's metric names). Every table has a cap. */
#ifndef MLC_METRICS_H
#define MLC_METRICS_H
#include <stddef.h>

struct mlc_buf;
struct mlc_metrics;

#define MLC_METRICS_FAMILIES_MAX 48
#define MLC_METRICS_SERIES_MAX 256     /* label combinations per family (divisions x services) */
#define MLC_METRICS_LABELS_MAX 4       /* label pairs per series */
#define MLC_METRICS_NAME_MAX 64
#define MLC_METRICS_HELP_MAX 200
#define MLC_METRICS_LABEL_VALUE_MAX 128
#define MLC_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

enum mlc_metric_type { MLC_METRIC_COUNTER = 0, MLC_METRIC_GAUGE = 1 };

int mlc_metrics_new(struct mlc_metrics **out);
void mlc_metrics_free(struct mlc_metrics *m);

/* Declares a family. name must match [a-zA-Z_:][a-zA-Z0-9_:]*; counters should end in _total.
 * Declaring the same name with the same type again is fine (MLC_OK); another type is
 * MLC_ERR_EXISTS. MLC_ERR_DATA for a bad name, MLC_ERR_TOO_BIG past the family cap. */
int mlc_metrics_define(struct mlc_metrics *m, const char *name, enum mlc_metric_type type,
                       const char *help);

/* labels: NULL, or NULL-terminated name/value pairs {"division", "123", NULL}. The order of the
 * pairs does not matter. Label names must match [a-zA-Z_][a-zA-Z0-9_]* and not start with "__";
 * values are any text up to MLC_METRICS_LABEL_VALUE_MAX bytes (escaped when rendered).
 * MLC_ERR_NOTFOUND for an undeclared family, MLC_ERR_DATA for bad labels (or a negative delta on a
 * counter: counters only go up), MLC_ERR_TOO_BIG past the series cap. */
int mlc_metrics_add(struct mlc_metrics *m, const char *name, const char *const *labels, double delta);
int mlc_metrics_set(struct mlc_metrics *m, const char *name, const char *const *labels, double value);
/* Label-less shorthands. */
int mlc_metrics_inc(struct mlc_metrics *m, const char *name);

/* The current value (0 when the series does not exist yet). */
double mlc_metrics_get(const struct mlc_metrics *m, const char *name, const char *const *labels);
/* Drops every series of a family (a gauge rebuilt from scratch, e.g. per connection). */
void mlc_metrics_clear(struct mlc_metrics *m, const char *name);

/* Appends the whole registry: per family "# HELP", "# TYPE", then one line per series. */
int mlc_metrics_render(const struct mlc_metrics *m, struct mlc_buf *out);
#endif
