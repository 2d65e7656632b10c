/* The `mlc plaid ...` commands: link (headless sandbox enrollment or the Link page), relink, items,
 * accounts, balances, sync, rotate, journal (and alerts) and serve (webhooks). Thin: they open the
 * app context, make one Plaid connection from the vault's credentials, call mlc_plaid_pull / mlc_journal, print for an
 * installer and map errors to exit codes. */
#ifndef MLC_CMD_PLAID_H
#define MLC_CMD_PLAID_H
#include "mlc_cli.h"

int mlc_cmd_plaid_link(const struct mlc_cli *cli, int argc, char **argv);
int mlc_cmd_plaid_relink(const struct mlc_cli *cli, int argc, char **argv);
int mlc_cmd_plaid_items(const struct mlc_cli *cli, int argc, char **argv);
int mlc_cmd_plaid_accounts(const struct mlc_cli *cli, int argc, char **argv);
int mlc_cmd_plaid_balances(const struct mlc_cli *cli, int argc, char **argv);
int mlc_cmd_plaid_sync(const struct mlc_cli *cli, int argc, char **argv);
int mlc_cmd_plaid_rotate(const struct mlc_cli *cli, int argc, char **argv);
int mlc_cmd_plaid_journal(const struct mlc_cli *cli, int argc, char **argv);
int mlc_cmd_plaid_serve(const struct mlc_cli *cli, int argc, char **argv);

/* Plaid's webhooks on any status server (the agent's, or `mlc plaid serve`'s): mounts
 * POST /webhooks/plaid (public: signed) on srv. Verified webhooks update item health and alerts;
 * SYNC_UPDATES_AVAILABLE queues a pull of that item, coalesced, run from a timer on loop. p, st
 * and v must outlive the returned object; free it before the server and the loop. */
struct mlc_loop;
struct mlc_httpd;
struct mlc_plaid;
struct mlc_store;
struct mlc_vault;
struct mlc_plaid_webhooks;
int mlc_plaid_webhooks_mount(struct mlc_loop *loop, struct mlc_httpd *srv, struct mlc_plaid *p,
                             struct mlc_store *st, struct mlc_vault *v, int sync_count,
                             struct mlc_plaid_webhooks **out);
void mlc_plaid_webhooks_free(struct mlc_plaid_webhooks *wh);
/* Calls fn after each successful webhook-driven pull of an item (`mlc run` brings its next
 * posting run forward). NULL fn = none. */
void mlc_plaid_webhooks_on_sync(struct mlc_plaid_webhooks *wh,
                                void (*fn)(void *ud, const char *item_id), void *ud);

extern const char mlc_cmd_plaid_link_usage[];
extern const char mlc_cmd_plaid_relink_usage[];
extern const char mlc_cmd_plaid_items_usage[];
extern const char mlc_cmd_plaid_accounts_usage[];
extern const char mlc_cmd_plaid_balances_usage[];
extern const char mlc_cmd_plaid_sync_usage[];
extern const char mlc_cmd_plaid_rotate_usage[];
extern const char mlc_cmd_plaid_journal_usage[];
extern const char mlc_cmd_plaid_serve_usage[];
#endif
