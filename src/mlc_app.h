/* What a command runs in: the global options resolved into a validated config, the data
 * directory, and (when asked) the open store and vault. Commands open what they need through
 * mlc_app_open and close it with mlc_app_close; errors are printed once, here, for an installer. */
#ifndef MLC_APP_H
#define MLC_APP_H
#include "mlc_cli.h"
#include "mlc_config.h"

struct mlc_store;
struct mlc_vault;

enum mlc_app_need {
    MLC_APP_CONFIG = 0,      /* config and data dir only */
    MLC_APP_STORE = 1 << 0,  /* also open the store */
    MLC_APP_VAULT = 1 << 1,  /* also open the vault (implies the store) */
    MLC_APP_NO_CONFIG = 1 << 2, /* read no config file: defaults only (`init` before it writes one) */
};

struct mlc_app {
    struct mlc_config cfg;
    char config_path[MLC_CONFIG_PATH_MAX];
    int config_found;                 /* 0 when the default config is absent and defaults apply */
    char data_dir[MLC_CONFIG_PATH_MAX];
    struct mlc_store *store;
    struct mlc_vault *vault;
};

/* Resolves --config/--data-dir, loads and validates the config (a given --config must exist),
 * applies log level and memory budget, and opens what `need` asks for. On failure prints one
 * line on stderr and returns the exit code to use (never 0); on success returns 0. */
int mlc_app_open(struct mlc_app *app, const struct mlc_cli *cli, unsigned need);
void mlc_app_close(struct mlc_app *app);

/* Store options derived from the config. */
struct mlc_store_opts;
void mlc_app_store_opts(const struct mlc_app *app, struct mlc_store_opts *opts);
#endif
