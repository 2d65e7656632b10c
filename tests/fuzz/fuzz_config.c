/* libFuzzer target for the configuration parser: any bytes must give either a config that keeps
 * every documented range, or MLC_ERR_CONFIG with one or more complete message lines; never a
 * crash, a read past the input, or a leak. Seeds: tests/fuzz/corpus/config/. */
#include "mlc_alloc.h"
#include "mlc_config.h"
#include "mlc_err.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check(int ok)
{
    if (!ok)
        abort();
}

static void check_ranges(const struct mlc_config *c)
{
    size_t n;
    const struct mlc_config_key *k = mlc_config_keys(&n);
    (void)k;
    check(n > 0);
    check(c->agent.data_dir[0] == '/');
    check(c->agent.log_level >= 0 && c->agent.log_level <= 3);
    check(c->agent.memory_budget == 0 ||
          (c->agent.memory_budget >= (1u << 20) && c->agent.memory_budget <= (1u << 30)));
    check(c->store.map_size <= c->store.map_size_max);
    check(c->plaid.sync_count >= 1 && c->plaid.sync_count <= 500);
    check(c->exact.keepalive_days >= 1 && c->exact.keepalive_days <= 29);
    check(c->exact.divisions.n <= MLC_CONFIG_DIVISIONS_MAX);
    for (size_t i = 0; i < c->exact.divisions.n; i++)
        check(c->exact.divisions.v[i] >= 1);
    check(c->schedule.at >= 0 && c->schedule.at < 24 * 60);
    check(c->schedule.day >= -1 && c->schedule.day <= 6);
    check(c->schedule.mode != MLC_SCHEDULE_WEEKLY || c->schedule.day >= 0);
    check(c->schedule.interval >= 300 && c->schedule.interval <= 7 * 86400);
    check(c->status.bind.port >= 1 && c->status.bind.port <= 65535);
    check(c->http.connect_timeout >= 1 && c->http.connect_timeout <= c->http.total_timeout);
    check(c->n_division <= MLC_CONFIG_DIVISIONS_MAX);
    for (size_t i = 0; i < c->n_division; i++)
        check(mlc_config_division_find(c, c->division[i].id) == &c->division[i]);
    check(memchr(c->plaid.country_codes, '\0', sizeof(c->plaid.country_codes)) != NULL);
    check(memchr(c->exact.redirect_uri, '\0', sizeof(c->exact.redirect_uri)) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char err[4096];
    struct mlc_config *c = malloc(sizeof(*c));
    if (!c)
        return 0;
    size_t before = mlc_alloc_current();
    memset(err, 'x', sizeof(err));
    int rc = mlc_config_parse(c, (const char *)data, size, "fuzz.conf", err, sizeof(err));
    check(memchr(err, '\0', sizeof(err)) != NULL);
    if (rc == MLC_OK) {
        check(err[0] == '\0');
        check_ranges(c);
    } else {
        check(rc == MLC_ERR_CONFIG || rc == MLC_ERR_NOMEM);
        /* Every line is a complete message about this file. */
        for (const char *line = err; line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
            check(strncmp(line, "fuzz.conf", 9) == 0);
    }
    check(mlc_alloc_current() == before);
    free(c);
    return 0;
}
