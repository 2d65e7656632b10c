#include "mlc_cmd_secret.h"
#include "mlc_cli.h"
#include "mlc_err.h"
#include "mlc_platform.h"
#include "mlc_store.h"
#include "mlc_term.h"
#include "mlc_vault.h"

#include <stdio.h>
#include <string.h>

#define STDIN_FD 0

#define WELL_KNOWN_NAMES \
    "Secrets you set (names are fixed):\n" \
    "  plaid.client_id       Plaid client id (Plaid Dashboard > Developers > Keys)\n" \
    "  plaid.secret          Plaid secret for the environment in use (sandbox or production)\n" \
    "  exact.client_id       Exact Online app client id (Exact App Center)\n" \
    "  exact.client_secret   Exact Online app client secret (Exact App Center)\n" \
    "  exact.webhook_secret  Exact Online webhook secret (App Center; not the client secret)\n" \
    "  smtp.password         password of the mail account that sends alerts\n" \
    "  status.access_token   token a browser must present to see the status page\n" \
    "\n" \
    "Tokens the agent obtains itself (Exact access and refresh tokens, Plaid access\n" \
    "tokens) are stored in the vault by the agent when you connect Exact or a bank.\n" \
    "Do not set or delete them by hand.\n"

const char mlc_cmd_secret_set_summary[] = "store a secret (password, API key), sealed with the device key";
const char mlc_cmd_secret_list_summary[] = "show the names of stored secrets and when they were set";
const char mlc_cmd_secret_delete_summary[] = "remove a stored secret";
const char mlc_cmd_key_rotate_summary[] = "replace the device key and reseal every secret under it";

const char mlc_cmd_secret_set_usage[] =
    "Usage: mlc secret set NAME\n"
    "\n"
    "Stores the secret NAME, encrypted with the device key (device.key in the data\n"
    "directory, created by 'mlc init'). A secret set earlier under the same name is\n"
    "replaced. The value is never taken from the command line, where other users\n"
    "could see it:\n"
    "  - at a terminal, mlc asks for it and does not show what you type;\n"
    "  - otherwise it is read from standard input, e.g.\n"
    "      mlc secret set plaid.secret < /root/plaid-secret.txt\n"
    "One line end at the end of the value is removed. Empty values are refused;\n"
    "values may be up to 8192 bytes.\n"
    "\n"
    "Names use a-z, 0-9, '_', '.' and '-' (at most 64 characters).\n"
    "\n" WELL_KNOWN_NAMES;

const char mlc_cmd_secret_list_usage[] =
    "Usage: mlc secret list\n"
    "\n"
    "Shows the name of every stored secret and when it was set (UTC). Values are\n"
    "never shown; to check a value, set it again.\n"
    "\n" WELL_KNOWN_NAMES;

const char mlc_cmd_secret_delete_usage[] =
    "Usage: mlc secret delete NAME\n"
    "\n"
    "Removes the secret NAME from the vault. The agent stops using it at its next\n"
    "start; a feature that needs it (e.g. mail alerts for smtp.password) stops\n"
    "working until it is set again with 'mlc secret set NAME'.\n"
    "\n" WELL_KNOWN_NAMES;

const char mlc_cmd_key_rotate_usage[] =
    "Usage: mlc key rotate\n"
    "\n"
    "Makes a new device key and reseals every stored secret under it, all at once:\n"
    "if the machine stops halfway, the next start of mlc finishes or undoes the\n"
    "change, and no secret is lost. A running agent picks up the new key by\n"
    "itself.\n"
    "\n"
    "After rotating, back up the new device.key together with the store: an old\n"
    "copy of device.key no longer opens the secrets.\n";

static const char *dir_or_default(const char *data_dir)
{
    return (data_dir && *data_dir) ? data_dir : MLC_DEFAULT_DATA_DIR;
}

static int fail(int err, const char *what)
{
    const char *why = mlc_vault_last_error();
    if (why[0])
        mlc_cli_error("%s", why);
    else
        mlc_cli_error("%s: %s", what, mlc_err_str(err));
    return mlc_err_exit_code(err);
}

/* Opens the store and the vault. Checks for the device key first, so a mistyped --data-dir
 * does not leave an empty store behind. Returns an exit code. */
static int open_vault(const char *data_dir, struct mlc_store **st, struct mlc_vault **v)
{
    char kp[4096], np[4096];
    int rc;

    *st = NULL;
    *v = NULL;
    if (mlc_fs_join(kp, sizeof(kp), data_dir, MLC_VAULT_KEY_FILE) != MLC_OK ||
        mlc_fs_join(np, sizeof(np), data_dir, MLC_VAULT_KEY_FILE ".new") != MLC_OK) {
        mlc_cli_error("the data directory path is too long: %.200s...", data_dir);
        return MLC_EXIT_USAGE;
    }
    if (!mlc_fs_exists(kp) && !mlc_fs_exists(np)) {
        mlc_cli_error("there is no device key at %s; run 'mlc init' first (or pass the right "
                      "--data-dir)", kp);
        return mlc_err_exit_code(MLC_ERR_NOTFOUND);
    }
    if ((rc = mlc_store_open(st, data_dir, NULL)) != MLC_OK) {
        mlc_cli_error("cannot open the store in %s/store: %s; is another mlc command running, "
                      "and does the data directory belong to the user mlc runs as?",
                      data_dir, mlc_err_str(rc));
        return mlc_err_exit_code(rc);
    }
    if ((rc = mlc_vault_open(v, *st, data_dir)) != MLC_OK) {
        mlc_store_close(*st);
        *st = NULL;
        return fail(rc, "cannot open the vault");
    }
    return MLC_EXIT_OK;
}

static void close_vault(struct mlc_store *st, struct mlc_vault *v)
{
    mlc_vault_close(v);
    mlc_store_close(st);
}

int mlc_cmd_secret_set(const char *data_dir, int argc, char **argv)
{
    struct mlc_store *st = NULL;
    struct mlc_vault *v = NULL;
    /* The value, plus room for a "\r\n" line end to strip and the NUL. */
    char value[MLC_VAULT_VALUE_MAX + 3];
    char prompt[128];
    size_t len = 0;
    int rc, ex;

    data_dir = dir_or_default(data_dir);
    if (argc < 2) {
        mlc_cli_error("'secret set' needs the secret's name, e.g. 'mlc secret set plaid.secret'; "
                      "run 'mlc secret set --help' for the names");
        return MLC_EXIT_USAGE;
    }
    if (argc > 2) {
        mlc_cli_error("'secret set' takes only the name; the value is read from standard input "
                      "(never from the command line, where other users could see it)");
        return MLC_EXIT_USAGE;
    }
    const char *name = argv[1];
    if ((rc = mlc_vault_name_check(name)) != MLC_OK)
        return fail(rc, "bad secret name");
    if ((ex = open_vault(data_dir, &st, &v)) != MLC_EXIT_OK)
        return ex;
    snprintf(prompt, sizeof(prompt), "Value for %s (not shown): ", name);
    rc = mlc_term_read_secret(STDIN_FD, prompt, value, sizeof(value), &len);
    if (rc == MLC_ERR_TOO_BIG || (rc == MLC_OK && len > MLC_VAULT_VALUE_MAX)) {
        mlc_cli_error("the value for %s is longer than %u bytes; nothing was stored", name,
                      MLC_VAULT_VALUE_MAX);
        ex = mlc_err_exit_code(MLC_ERR_TOO_BIG);
        goto out;
    }
    if (rc != MLC_OK) {
        mlc_cli_error("cannot read the value for %s from standard input (%s)", name,
                      mlc_err_str(rc));
        ex = mlc_err_exit_code(rc);
        goto out;
    }
    if (len == 0) {
        mlc_cli_error("no value given for %s; nothing was stored (type it at the prompt, or "
                      "pipe it in: mlc secret set %s < FILE)", name, name);
        ex = mlc_err_exit_code(MLC_ERR_DATA);
        goto out;
    }
    if ((rc = mlc_vault_set(v, name, value, len)) != MLC_OK) {
        ex = fail(rc, "cannot store the secret");
        goto out;
    }
    printf("secret %s stored (%zu bytes, sealed with the device key)\n", name, len);
    ex = MLC_EXIT_OK;
out:
    mlc_wipe(value, sizeof(value));
    close_vault(st, v);
    return ex;
}

struct list_ctx {
    size_t n;
};

static int print_entry(void *ctx, const char *name, int64_t set_ms)
{
    struct list_ctx *c = ctx;
    char ts[32];
    if (c->n++ == 0)
        printf("%-32s %s\n", "NAME", "SET (UTC)");
    if (set_ms < 0)
        snprintf(ts, sizeof(ts), "unknown (damaged)");
    else
        mlc_time_format_iso(set_ms, ts, sizeof(ts));
    printf("%-32s %s\n", name, ts);
    return 0;
}

int mlc_cmd_secret_list(const char *data_dir, int argc, char **argv)
{
    struct mlc_store *st = NULL;
    struct mlc_vault *v = NULL;
    struct list_ctx c = { 0 };
    int rc, ex;

    (void)argv;
    data_dir = dir_or_default(data_dir);
    if (argc > 1) {
        mlc_cli_error("'secret list' takes no arguments; run 'mlc secret list --help'");
        return MLC_EXIT_USAGE;
    }
    if ((ex = open_vault(data_dir, &st, &v)) != MLC_EXIT_OK)
        return ex;
    if ((rc = mlc_vault_list(v, print_entry, &c)) != MLC_OK) {
        ex = fail(rc, "cannot list the secrets");
        goto out;
    }
    if (c.n == 0)
        printf("no secrets stored yet; add one with 'mlc secret set NAME' "
               "(see 'mlc secret set --help' for the names)\n");
    ex = MLC_EXIT_OK;
out:
    close_vault(st, v);
    return ex;
}

int mlc_cmd_secret_delete(const char *data_dir, int argc, char **argv)
{
    struct mlc_store *st = NULL;
    struct mlc_vault *v = NULL;
    int rc, ex;

    data_dir = dir_or_default(data_dir);
    if (argc != 2) {
        mlc_cli_error("'secret delete' needs exactly one secret name, e.g. "
                      "'mlc secret delete smtp.password'; 'mlc secret list' shows the names");
        return MLC_EXIT_USAGE;
    }
    if ((rc = mlc_vault_name_check(argv[1])) != MLC_OK)
        return fail(rc, "bad secret name");
    if ((ex = open_vault(data_dir, &st, &v)) != MLC_EXIT_OK)
        return ex;
    if ((rc = mlc_vault_delete(v, argv[1])) != MLC_OK) {
        ex = fail(rc, "cannot delete the secret");
        goto out;
    }
    printf("secret %s deleted\n", argv[1]);
    ex = MLC_EXIT_OK;
out:
    close_vault(st, v);
    return ex;
}

int mlc_cmd_key_rotate(const char *data_dir, int argc, char **argv)
{
    struct mlc_store *st = NULL;
    struct mlc_vault *v = NULL;
    size_t n = 0;
    int rc, ex;

    (void)argv;
    data_dir = dir_or_default(data_dir);
    if (argc > 1) {
        mlc_cli_error("'key rotate' takes no arguments; run 'mlc key rotate --help'");
        return MLC_EXIT_USAGE;
    }
    if ((ex = open_vault(data_dir, &st, &v)) != MLC_EXIT_OK)
        return ex;
    if ((rc = mlc_vault_rotate_key(v, &n)) != MLC_OK) {
        ex = fail(rc, "cannot rotate the device key");
        goto out;
    }
    printf("device key rotated: %zu secret%s resealed under the new %s/%s\n"
           "Back up the new device.key with the store now: the old key no longer opens them.\n",
           n, n == 1 ? "" : "s", data_dir, MLC_VAULT_KEY_FILE);
    ex = MLC_EXIT_OK;
out:
    close_vault(st, v);
    return ex;
}
