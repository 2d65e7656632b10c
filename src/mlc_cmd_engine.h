/* Commands of the sync engine: `accounts` (Plaid accounts beside Exact bank journals, with
 * suggested matches), `map`, `unmap`, `rules add/list/remove/test` and `sync [--dry-run]`.
 * They parse arguments, open what they need and print for a bookkeeper; the work is done by
 * mlc_mapping, mlc_rules and mlc_engine. */
#ifndef MLC_CMD_ENGINE_H
#define MLC_CMD_ENGINE_H
#include "mlc_cli.h"

extern const char mlc_cmd_accounts_usage[];
extern const char mlc_cmd_map_usage[];
extern const char mlc_cmd_unmap_usage[];
extern const char mlc_cmd_rules_add_usage[];
extern const char mlc_cmd_rules_list_usage[];
extern const char mlc_cmd_rules_remove_usage[];
extern const char mlc_cmd_rules_test_usage[];
extern const char mlc_cmd_sync_usage[];

int mlc_cmd_accounts(const struct mlc_cli *cli, int argc, char **argv);
int mlc_cmd_map(const struct mlc_cli *cli, int argc, char **argv);
int mlc_cmd_unmap(const struct mlc_cli *cli, int argc, char **argv);
int mlc_cmd_rules_add(const struct mlc_cli *cli, int argc, char **argv);
int mlc_cmd_rules_list(const struct mlc_cli *cli, int argc, char **argv);
int mlc_cmd_rules_remove(const struct mlc_cli *cli, int argc, char **argv);
int mlc_cmd_rules_test(const struct mlc_cli *cli, int argc, char **argv);
int mlc_cmd_sync(const struct mlc_cli *cli, int argc, char **argv);
#endif
