#include "mlc_cmd_run.h"
#include "mlc_app.h"
#include "mlc_daemon.h"
#include "mlc_err.h"

#include <string.h>

const char mlc_cmd_run_usage[] =
    "Usage: mlc run [--once]\n\n"
    "Runs the agent: syncs on the [schedule] (runs missed while the box was off are caught up\n"
    "at once), serves the status page, /metrics and the Plaid and Exact webhooks on [status]\n"
    "bind, keeps the Exact connection alive and shows its state on the board's LEDs.\n"
    "SIGHUP reloads the config (a broken config is reported and the old one kept); SIGTERM\n"
    "stops after in-flight work. --once runs one cycle and exits with the codes of 'mlc sync':\n"
    "0 all went through, 69 something waits for a person, 75 try again later.\n";

int mlc_cmd_run(const struct mlc_cli *cli, int argc, char **argv)
{
    struct mlc_daemon_opts o = { 0 };
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--once") == 0) {
            o.once = 1;
        } else {
            mlc_cli_error("'run' does not take '%s'; run 'mlc run --help'", argv[i]);
            return MLC_EXIT_USAGE;
        }
    }
    struct mlc_app app;
    int ec = mlc_app_open(&app, cli, MLC_APP_VAULT);
    if (ec)
        return ec;
    struct mlc_daemon *d = NULL;
    int rc = mlc_daemon_open(&d, &app, &o);
    if (rc != MLC_OK) {
        mlc_cli_error("the agent could not start: %s (see the log line above)", mlc_err_str(rc));
        ec = mlc_err_exit_code(rc);
        goto out;
    }
    rc = mlc_daemon_run(d);
    if (o.once)
        ec = rc;
    else
        ec = rc == MLC_OK ? 0 : mlc_err_exit_code(rc);
out:
    mlc_daemon_free(d);
    mlc_app_close(&app);
    return ec;
}
