#include "mlc_cmd_core.h"
#include "mlc_alloc.h"
#include "mlc_app.h"
#include "mlc_config.h"
#include "mlc_err.h"
#include "mlc_platform.h"
#include "mlc_store.h"
#include "mlc_vault.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

const char mlc_cmd_init_usage[] =
    "Usage: mlc [--config FILE] [--data-dir DIR] init\n\n"
    "Sets up a new agent:\n"
    "  - creates the data directory (mode 0700),\n"
    "  - creates the device key DIR/device.key (mode 0600) that seals every secret,\n"
    "  - creates the store,\n"
    "  - writes a commented example config to FILE, with DIR as its data_dir.\n"
    "Whatever exists already (key, store, config) is kept, never overwritten, so running\n"
    "init twice is safe. Next: store the API credentials with 'mlc secret set'.\n";

const char mlc_cmd_store_check_usage[] =
    "Usage: mlc [--config FILE] [--data-dir DIR] store check\n\n"
    "Checks the store: schema version, number of records per kind, how full the store is,\n"
    "and its integrity. Exits 0 when everything is in order, 65 when a problem is found.\n";

/* Writes the example config with data_dir set to the chosen directory. */
static int write_config(const char *path, const char *data_dir)
{
    char *text = NULL, *out = NULL;
    size_t len = 0;
    int rc = mlc_config_example_text(&text, &len);
    if (rc != MLC_OK)
        return rc;
    /* Replace the data_dir line of the example (commented out or not) by the chosen directory. */
    const char *line = NULL;
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        const char *q = p;
        while (*q == '#')
            q++;
        if (strncmp(q, "data_dir", 8) == 0 && (q[8] == ' ' || q[8] == '=')) {
            line = p;
            break;
        }
    }
    size_t cap = len + strlen(data_dir) + 64;
    out = mlc_malloc(cap);
    if (!out) {
        rc = MLC_ERR_NOMEM;
        goto out;
    }
    if (line) {
        const char *eol = strchr(line, '\n');
        if (!eol)
            eol = text + len;
        int n = snprintf(out, cap, "%.*sdata_dir = %s%s", (int)(line - text), text, data_dir, eol);
        if (n < 0 || (size_t)n >= cap) {
            rc = MLC_ERR_TOO_BIG;
            goto out;
        }
        len = (size_t)n;
    } else {
        memcpy(out, text, len + 1);
    }
    char dir[MLC_CONFIG_PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        rc = mlc_fs_mkdir_p(dir, 0755);
        if (rc != MLC_OK)
            goto out;
    }
    rc = mlc_fs_write_atomic(path, out, len, 0644);
out:
    mlc_free(text);
    mlc_free(out);
    return rc;
}

int mlc_cmd_init(const struct mlc_cli *cli, int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        mlc_cli_error("'init' takes no arguments; run 'mlc init --help'");
        return MLC_EXIT_USAGE;
    }
    struct mlc_app app;
    const char *cfg_path = cli->config_path ? cli->config_path : MLC_DEFAULT_CONFIG;
    int have_config = mlc_fs_exists(cfg_path);
    /* An existing config is validated and kept; a missing one is written below from defaults
     * (and no other config file, such as the default one, is read instead). */
    int ec = mlc_app_open(&app, cli, have_config ? MLC_APP_CONFIG : MLC_APP_NO_CONFIG);
    if (ec)
        return ec;

    int rc = mlc_fs_mkdir_p(app.data_dir, 0700);
    if (rc != MLC_OK) {
        mlc_cli_error("could not create the data directory %s (%s); check the path and that "
                      "this user may write there", app.data_dir, mlc_err_str(rc));
        ec = mlc_err_exit_code(rc);
        goto out;
    }
    chmod(app.data_dir, 0700);
    rc = mlc_vault_create_key(app.data_dir);
    if (rc == MLC_OK) {
        printf("created device key %s/%s\n", app.data_dir, MLC_VAULT_KEY_FILE);
    } else if (rc == MLC_ERR_EXISTS) {
        printf("kept the existing device key %s/%s\n", app.data_dir, MLC_VAULT_KEY_FILE);
    } else {
        const char *why = mlc_vault_last_error();
        mlc_cli_error("%s", why[0] ? why : mlc_err_str(rc));
        ec = mlc_err_exit_code(rc);
        goto out;
    }
    struct mlc_store_opts opts;
    mlc_app_store_opts(&app, &opts);
    rc = mlc_store_open(&app.store, app.data_dir, &opts);
    if (rc != MLC_OK) {
        mlc_cli_error("could not create the store in %s: %s", app.data_dir, mlc_err_str(rc));
        ec = mlc_err_exit_code(rc);
        goto out;
    }
    rc = mlc_vault_open(&app.vault, app.store, app.data_dir);
    if (rc != MLC_OK) {
        const char *why = mlc_vault_last_error();
        mlc_cli_error("%s", why[0] ? why : mlc_err_str(rc));
        ec = mlc_err_exit_code(rc);
        goto out;
    }
    printf("store ready in %s\n", app.data_dir);
    if (have_config) {
        printf("kept the existing config %s\n", app.config_path);
    } else {
        rc = write_config(app.config_path, app.data_dir);
        if (rc != MLC_OK) {
            mlc_cli_error("could not write the example config %s (%s); check the path, or give "
                          "another with --config", app.config_path, mlc_err_str(rc));
            ec = mlc_err_exit_code(rc);
            goto out;
        }
        printf("wrote an example config to %s: edit it for your banks and offices\n",
               app.config_path);
    }
    printf("next: store the API credentials, e.g. 'mlc secret set plaid.secret'\n");
out:
    mlc_app_close(&app);
    return ec;
}

int mlc_cmd_store_check(const struct mlc_cli *cli, int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        mlc_cli_error("'store check' takes no arguments; run 'mlc store check --help'");
        return MLC_EXIT_USAGE;
    }
    struct mlc_app app;
    int ec = mlc_app_open(&app, cli, MLC_APP_STORE);
    if (ec)
        return ec;
    struct mlc_store_report rep;
    int rc = mlc_store_check(app.store, &rep);
    if (rc != MLC_OK && rc != MLC_ERR_STORE) {
        mlc_cli_error("the store check could not run: %s", mlc_err_str(rc));
        ec = mlc_err_exit_code(rc);
    } else {
        mlc_store_report_print(&rep, stdout);
        ec = rep.ok ? MLC_EXIT_OK : MLC_EXIT_DATAERR;
    }
    mlc_app_close(&app);
    return ec;
}
