#include "mlc_app.h"
#include "mlc_alloc.h"
#include "mlc_err.h"
#include "mlc_log.h"
#include "mlc_platform.h"
#include "mlc_store.h"
#include "mlc_vault.h"

#include <stdio.h>
#include <string.h>

#define ERR_TEXT_MAX 4096

static int copy_path(char *dst, const char *src, const char *what)
{
    size_t n = strlen(src);
    if (n == 0 || n >= MLC_CONFIG_PATH_MAX) {
        mlc_cli_error("the %s path is empty or longer than %d characters: '%.60s...'", what,
                      MLC_CONFIG_PATH_MAX - 1, src);
        return MLC_EXIT_USAGE;
    }
    memcpy(dst, src, n + 1);
    return 0;
}

void mlc_app_store_opts(const struct mlc_app *app, struct mlc_store_opts *opts)
{
    opts->map_size = app->cfg.store.map_size;
    opts->map_size_max = app->cfg.store.map_size_max;
}

int mlc_app_open(struct mlc_app *app, const struct mlc_cli *cli, unsigned need)
{
    memset(app, 0, sizeof(*app));
    mlc_config_defaults(&app->cfg);
    int rc = copy_path(app->config_path, cli->config_path ? cli->config_path : MLC_DEFAULT_CONFIG,
                       "config");
    if (rc)
        return rc;
    if (!(need & MLC_APP_NO_CONFIG) && (cli->config_path || mlc_fs_exists(app->config_path))) {
        char *err = mlc_malloc(ERR_TEXT_MAX);
        if (!err) {
            mlc_cli_error("out of memory while reading the config");
            return MLC_EXIT_SOFTWARE;
        }
        err[0] = '\0';
        int lrc = mlc_config_load(&app->cfg, app->config_path, err, ERR_TEXT_MAX);
        if (lrc != MLC_OK) {
            /* Each line names file, line and key already. */
            size_t n = strlen(err);
            while (n && err[n - 1] == '\n')
                err[--n] = '\0';
            fprintf(stderr, "%s\n", err[0] ? err : "mlc: the config could not be read");
            mlc_free(err);
            return mlc_err_exit_code(lrc == MLC_ERR_NOMEM ? lrc : MLC_ERR_CONFIG);
        }
        mlc_free(err);
        app->config_found = 1;
    }
    rc = copy_path(app->data_dir, cli->data_dir ? cli->data_dir : app->cfg.agent.data_dir,
                   "data directory");
    if (rc)
        return rc;
    if (app->data_dir[0] != '/') {
        /* The config holds absolute paths only (the service runs from /): anchor a relative
         * --data-dir to the current directory once, here. */
        char joined[MLC_CONFIG_PATH_MAX];
        if (mlc_fs_absolute(app->data_dir, joined, sizeof(joined)) != MLC_OK) {
            mlc_cli_error("the data directory path '%s' is too long; use a shorter absolute path",
                          app->data_dir);
            return MLC_EXIT_USAGE;
        }
        memcpy(app->data_dir, joined, sizeof(joined));
    }
    mlc_log_set_level(app->cfg.agent.log_level);
    mlc_alloc_set_budget((size_t)app->cfg.agent.memory_budget);

    if (need & (MLC_APP_STORE | MLC_APP_VAULT)) {
        if (!mlc_fs_exists(app->data_dir)) {
            mlc_cli_error("the data directory %s does not exist; run 'mlc init' first", app->data_dir);
            return MLC_EXIT_CONFIG;
        }
        struct mlc_store_opts opts;
        mlc_app_store_opts(app, &opts);
        int src = mlc_store_open(&app->store, app->data_dir, &opts);
        if (src != MLC_OK) {
            mlc_cli_error("could not open the store in %s: %s", app->data_dir, mlc_err_str(src));
            return mlc_err_exit_code(src);
        }
    }
    if (need & MLC_APP_VAULT) {
        int vrc = mlc_vault_open(&app->vault, app->store, app->data_dir);
        if (vrc != MLC_OK) {
            const char *why = mlc_vault_last_error();
            mlc_cli_error("%s", why[0] ? why : mlc_err_str(vrc));
            mlc_app_close(app);
            return mlc_err_exit_code(vrc);
        }
    }
    return 0;
}

void mlc_app_close(struct mlc_app *app)
{
    mlc_vault_close(app->vault);
    app->vault = NULL;
    mlc_store_close(app->store);
    app->store = NULL;
    mlc_config_free(&app->cfg);
}
