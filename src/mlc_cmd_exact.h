/* The `mlc exact ...` commands: connect, status, divisions, journals, glaccounts, costcenters,
 * post (one statement file, for installers testing a mapping).
 * Each opens the app (config, store, vault), the Exact connection, does one thing and prints it
 * for an installer or bookkeeper. Owns no state of its own. */
#ifndef MLC_CMD_EXACT_H
#define MLC_CMD_EXACT_H
#include "mlc_cli.h"

#include <stddef.h>

/* Where Exact sends the browser back when [exact] redirect_uri points at this agent. */
#define MLC_EXACT_CALLBACK_PATH "/oauth/exact/callback"

extern const char mlc_cmd_exact_connect_usage[];
extern const char mlc_cmd_exact_status_usage[];
extern const char mlc_cmd_exact_divisions_usage[];
extern const char mlc_cmd_exact_journals_usage[];
extern const char mlc_cmd_exact_glaccounts_usage[];
extern const char mlc_cmd_exact_costcenters_usage[];
extern const char mlc_cmd_exact_post_usage[];
extern const char mlc_cmd_exact_webhooks_subscribe_usage[];
extern const char mlc_cmd_exact_webhooks_list_usage[];
extern const char mlc_cmd_exact_webhooks_unsubscribe_usage[];
extern const char mlc_cmd_exact_webhooks_listen_usage[];

int mlc_cmd_exact_connect(const struct mlc_cli *cli, int argc, char **argv);
int mlc_cmd_exact_status(const struct mlc_cli *cli, int argc, char **argv);
int mlc_cmd_exact_divisions(const struct mlc_cli *cli, int argc, char **argv);
int mlc_cmd_exact_journals(const struct mlc_cli *cli, int argc, char **argv);
int mlc_cmd_exact_glaccounts(const struct mlc_cli *cli, int argc, char **argv);
int mlc_cmd_exact_costcenters(const struct mlc_cli *cli, int argc, char **argv);
int mlc_cmd_exact_post(const struct mlc_cli *cli, int argc, char **argv);
int mlc_cmd_exact_webhooks_subscribe(const struct mlc_cli *cli, int argc, char **argv);
int mlc_cmd_exact_webhooks_list(const struct mlc_cli *cli, int argc, char **argv);
int mlc_cmd_exact_webhooks_unsubscribe(const struct mlc_cli *cli, int argc, char **argv);
int mlc_cmd_exact_webhooks_listen(const struct mlc_cli *cli, int argc, char **argv);

/* The Exact webhook route (POST MLC_EXACT_WEBHOOK_PATH, public: the HashCode is the check) for
 * the status server: verifies each notification with the webhook secret and hands verified ones
 * to on_event; answers the empty validation POST with 200. The agent's status server registers
 * it too; h must outlive srv. */
#define MLC_EXACT_WEBHOOK_PATH "/webhooks/exact"
#define MLC_EXACT_SECRET_WEBHOOK "exact.webhook_secret"
struct mlc_httpd;
struct mlc_webhook_event;
struct mlc_cmd_exact_hook {
    unsigned char secret[512];
    size_t secret_len;          /* 0 = not configured: notifications are refused with 500 */
    void (*on_event)(void *ud, const struct mlc_webhook_event *ev);
    void *ud;
    unsigned received, pings, refused;
};
int mlc_cmd_exact_webhook_route(struct mlc_httpd *srv, struct mlc_cmd_exact_hook *h);
#endif
