#include "mlc_cli.h"
#include "mlc_alloc.h"
#include "mlc_app.h"
#include "mlc_cmd_audit.h"
#include "mlc_cmd_core.h"
#include "mlc_cmd_engine.h"
#include "mlc_cmd_doctor.h"
#include "mlc_cmd_exact.h"
#include "mlc_cmd_plaid.h"
#include "mlc_cmd_run.h"
#include "mlc_cmd_secret.h"
#include "mlc_err.h"
#include "mlc_version.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <lmdb.h>
#include <mbedtls/version.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define EXIT_CODES_HELP \
    "Exit codes:\n" \
    "  0   done\n" \
    "  64  the command line is wrong (see --help)\n" \
    "  65  bad data (a file, an answer, a sealed secret)\n" \
    "  69  a service is unavailable, or a person must act (consent, mapping)\n" \
    "  70  internal error (please report it)\n" \
    "  74  a file or disk operation failed\n" \
    "  75  temporary failure: try again later\n" \
    "  77  a file has unsafe permissions\n" \
    "  78  the configuration is wrong\n"

static int cmd_version(const struct mlc_cli *cli, int argc, char **argv);

/* The vault's commands take the data directory: validate the config and resolve it first. */
#define WITH_DATA_DIR(fn)                                                     \
    static int wrap_##fn(const struct mlc_cli *cli, int argc, char **argv)   \
    {                                                                         \
        struct mlc_app app;                                                   \
        int ec = mlc_app_open(&app, cli, MLC_APP_CONFIG);                     \
        if (ec)                                                               \
            return ec;                                                        \
        ec = fn(app.data_dir, argc, argv);                                    \
        mlc_app_close(&app);                                                  \
        return ec;                                                            \
    }
WITH_DATA_DIR(mlc_cmd_secret_set)
WITH_DATA_DIR(mlc_cmd_secret_list)
WITH_DATA_DIR(mlc_cmd_secret_delete)
WITH_DATA_DIR(mlc_cmd_key_rotate)
WITH_DATA_DIR(mlc_cmd_audit_verify)
WITH_DATA_DIR(mlc_cmd_audit_export)

static const char version_usage[] =
    "Usage: mlc version\n\nShows the agent version, the versions of the libraries it was\n"
    "built with, and the build options.\n";

static const struct mlc_cmd commands[] = {
    { "init", "set up the data directory, device key, store and an example config",
      mlc_cmd_init_usage, mlc_cmd_init },
    { "secret set", mlc_cmd_secret_set_summary, mlc_cmd_secret_set_usage, wrap_mlc_cmd_secret_set },
    { "secret list", mlc_cmd_secret_list_summary, mlc_cmd_secret_list_usage,
      wrap_mlc_cmd_secret_list },
    { "secret delete", mlc_cmd_secret_delete_summary, mlc_cmd_secret_delete_usage,
      wrap_mlc_cmd_secret_delete },
    { "key rotate", mlc_cmd_key_rotate_summary, mlc_cmd_key_rotate_usage, wrap_mlc_cmd_key_rotate },
    { "store check", "check the store's schema, record counts and integrity",
      mlc_cmd_store_check_usage, mlc_cmd_store_check },
    { "exact connect", "connect the agent to Exact Online (OAuth consent)",
      mlc_cmd_exact_connect_usage, mlc_cmd_exact_connect },
    { "exact status", "show the Exact connection, token times, rate budget and checks",
      mlc_cmd_exact_status_usage, mlc_cmd_exact_status },
    { "exact divisions", "list the Exact divisions the consent allows",
      mlc_cmd_exact_divisions_usage, mlc_cmd_exact_divisions },
    { "exact journals", "list a division's bank journals", mlc_cmd_exact_journals_usage,
      mlc_cmd_exact_journals },
    { "exact glaccounts", "list a division's G/L accounts", mlc_cmd_exact_glaccounts_usage,
      mlc_cmd_exact_glaccounts },
    { "exact costcenters", "list a division's cost centers", mlc_cmd_exact_costcenters_usage,
      mlc_cmd_exact_costcenters },
    { "exact post", "post one statement file as an Exact bank entry (installer test)",
      mlc_cmd_exact_post_usage, mlc_cmd_exact_post },
    { "exact webhooks subscribe", "ask Exact to notify this agent of changes",
      mlc_cmd_exact_webhooks_subscribe_usage, mlc_cmd_exact_webhooks_subscribe },
    { "exact webhooks list", "list the Exact webhook subscriptions",
      mlc_cmd_exact_webhooks_list_usage, mlc_cmd_exact_webhooks_list },
    { "exact webhooks unsubscribe", "delete an Exact webhook subscription",
      mlc_cmd_exact_webhooks_unsubscribe_usage, mlc_cmd_exact_webhooks_unsubscribe },
    { "exact webhooks listen", "serve the webhook route and print verified notifications",
      mlc_cmd_exact_webhooks_listen_usage, mlc_cmd_exact_webhooks_listen },
    { "plaid link", "connect a bank through Plaid (Link page, or --sandbox)",
      mlc_cmd_plaid_link_usage, mlc_cmd_plaid_link },
    { "plaid relink", "reconnect a bank that needs a new login (update mode)",
      mlc_cmd_plaid_relink_usage, mlc_cmd_plaid_relink },
    { "plaid items", "list the bank links and check them with Plaid", mlc_cmd_plaid_items_usage,
      mlc_cmd_plaid_items },
    { "plaid accounts", "read and list the bank accounts and their numbers",
      mlc_cmd_plaid_accounts_usage, mlc_cmd_plaid_accounts },
    { "plaid balances", "read and list the account balances", mlc_cmd_plaid_balances_usage,
      mlc_cmd_plaid_balances },
    { "plaid sync", "download new transactions into the local journal", mlc_cmd_plaid_sync_usage,
      mlc_cmd_plaid_sync },
    { "plaid rotate", "replace a bank link's access token", mlc_cmd_plaid_rotate_usage,
      mlc_cmd_plaid_rotate },
    { "plaid journal", "print the local transaction journal or the Plaid alerts",
      mlc_cmd_plaid_journal_usage, mlc_cmd_plaid_journal },
    { "plaid serve", "receive Plaid's webhooks on the status address",
      mlc_cmd_plaid_serve_usage, mlc_cmd_plaid_serve },
    { "audit verify", mlc_cmd_audit_verify_summary, mlc_cmd_audit_verify_usage,
      wrap_mlc_cmd_audit_verify },
    { "audit export", mlc_cmd_audit_export_summary, mlc_cmd_audit_export_usage,
      wrap_mlc_cmd_audit_export },
    { "doctor", "check that the installation fits: config, store, LEDs, Plaid, Exact, clock",
      mlc_cmd_doctor_usage, mlc_cmd_doctor },
    { "alerts", "list the open alerts and what fixes each", mlc_cmd_alerts_usage, mlc_cmd_alerts },
    { "alerts send", "deliver the alerts that are due (e-mail, webhook)", mlc_cmd_alerts_send_usage,
      mlc_cmd_alerts_send },
    { "alerts test", "send a test alert through every configured channel",
      mlc_cmd_alerts_test_usage, mlc_cmd_alerts_test },
    { "accounts", "list Plaid accounts beside Exact bank journals, with suggested mappings",
      mlc_cmd_accounts_usage, mlc_cmd_accounts },
    { "map", "post a Plaid account into an Exact bank journal", mlc_cmd_map_usage, mlc_cmd_map },
    { "unmap", "stop posting a Plaid account", mlc_cmd_unmap_usage, mlc_cmd_unmap },
    { "rules add", "add or change a coding rule (G/L account, cost center)",
      mlc_cmd_rules_add_usage, mlc_cmd_rules_add },
    { "rules list", "list the coding rules in the order they are tried", mlc_cmd_rules_list_usage,
      mlc_cmd_rules_list },
    { "rules remove", "remove a coding rule", mlc_cmd_rules_remove_usage, mlc_cmd_rules_remove },
    { "rules test", "show which rule codes a transaction", mlc_cmd_rules_test_usage,
      mlc_cmd_rules_test },
    { "sync", "run one cycle now: pull, code, post to Exact (--dry-run: print the plan)",
      mlc_cmd_sync_usage, mlc_cmd_sync },
    { "run", "run the agent: scheduled syncs, status page, webhooks (--once: one cycle)",
      mlc_cmd_run_usage, mlc_cmd_run },
    { "version", "show the agent version, library versions and build options", version_usage,
      cmd_version },
};

void mlc_cli_error(const char *fmt, ...)
{
    va_list ap;
    fputs("mlc: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void print_main_help(FILE *out)
{
    fprintf(out,
            "ml-connector %s: posts bank transactions from Plaid into Exact Online.\n\n"
            "Usage: mlc [--config FILE] [--data-dir DIR] COMMAND [ARGS...]\n\n"
            "Options:\n"
            "  --config FILE    configuration file (default %s)\n"
            "  --data-dir DIR   where the agent keeps its store and device key\n"
            "                   (default: data_dir from the config, else %s)\n"
            "  -h, --help       this help; `mlc COMMAND --help` explains one command\n\n"
            "Commands:\n",
            MLC_VERSION, MLC_DEFAULT_CONFIG, MLC_DEFAULT_DATA_DIR);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-26s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n" EXIT_CODES_HELP);
}

static int cmd_version(const struct mlc_cli *cli, int argc, char **argv)
{
    (void)cli;
    if (argc > 1) {
        mlc_cli_error("'version' takes no arguments; run 'mlc version --help'");
        return MLC_EXIT_USAGE;
    }
    (void)argv;
    char tls[32];
    mbedtls_version_get_string(tls);
    curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
    printf("ml-connector %s\n", MLC_VERSION);
    printf("libcurl %s (%s)\n", cv->version, cv->ssl_version ? cv->ssl_version : "no TLS");
    printf("mbedTLS %s\n", tls);
    printf("cJSON %s\n", cJSON_Version());
    printf("LMDB %s\n", MDB_VERSION_STRING);
    printf("build options: %s\n", MLC_BUILD_OPTIONS);
    return MLC_EXIT_OK;
}

/* Finds the longest command name made of the leading words of argv. */
static const struct mlc_cmd *find_command(int argc, char **argv, int *words)
{
    const struct mlc_cmd *best = NULL;
    int best_words = 0;
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        const char *name = commands[i].name;
        int w = 0;
        const char *p = name;
        int ok = 1;
        while (*p && ok) {
            const char *sp = strchr(p, ' ');
            size_t len = sp ? (size_t)(sp - p) : strlen(p);
            if (w >= argc || strlen(argv[w]) != len || strncmp(argv[w], p, len) != 0)
                ok = 0;
            w++;
            p = sp ? sp + 1 : p + len;
        }
        if (ok && w > best_words) {
            best = &commands[i];
            best_words = w;
        }
    }
    *words = best_words;
    return best;
}

int mlc_cli_main(int argc, char **argv)
{
    struct mlc_cli cli = { 0 };
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            print_main_help(stdout);
            return MLC_EXIT_OK;
        } else if (strcmp(a, "--config") == 0 || strcmp(a, "--data-dir") == 0) {
            if (i + 1 >= argc || argv[i + 1][0] == '\0') {
                mlc_cli_error("%s needs a value; run 'mlc --help'", a);
                return MLC_EXIT_USAGE;
            }
            if (a[2] == 'c')
                cli.config_path = argv[++i];
            else
                cli.data_dir = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            cli.config_path = a + 9;
        } else if (strncmp(a, "--data-dir=", 11) == 0) {
            cli.data_dir = a + 11;
        } else if (a[0] == '-') {
            mlc_cli_error("unknown option '%s'; run 'mlc --help'", a);
            return MLC_EXIT_USAGE;
        } else {
            break;
        }
    }
    if (i >= argc) {
        print_main_help(stderr);
        return MLC_EXIT_USAGE;
    }
    int words = 0;
    const struct mlc_cmd *cmd = find_command(argc - i, argv + i, &words);
    if (!cmd) {
        /* A group word alone ("secret"): name its subcommands. */
        char subs[256] = "";
        size_t wl = strlen(argv[i]);
        for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++) {
            const char *name = commands[k].name;
            if (strncmp(name, argv[i], wl) == 0 && name[wl] == ' ') {
                size_t used = strlen(subs);
                snprintf(subs + used, sizeof(subs) - used, "%s%s", used ? ", " : "", name + wl + 1);
            }
        }
        if (subs[0])
            mlc_cli_error("'%s' needs one of: %s; run 'mlc --help'", argv[i], subs);
        else
            mlc_cli_error("unknown command '%s'; run 'mlc --help' for the list", argv[i]);
        return MLC_EXIT_USAGE;
    }
    int sub_argc = argc - i - words + 1;
    char **sub_argv = argv + i + words - 1;
    for (int k = 1; k < sub_argc; k++) {
        if (strcmp(sub_argv[k], "--help") == 0 || strcmp(sub_argv[k], "-h") == 0) {
            fputs(cmd->usage, stdout);
            fputs("\n" EXIT_CODES_HELP, stdout);
            return MLC_EXIT_OK;
        }
    }
    if (mlc_alloc_install_hooks() != MLC_OK) {
        mlc_cli_error("could not initialise the HTTP library (out of memory?)");
        return MLC_EXIT_SOFTWARE;
    }
    int rc = cmd->run(&cli, sub_argc, sub_argv);
    curl_global_cleanup();
    return rc;
}
