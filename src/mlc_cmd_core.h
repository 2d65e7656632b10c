/* The foundation's own commands: `mlc init` and `mlc store check`. */
#ifndef MLC_CMD_CORE_H
#define MLC_CMD_CORE_H
#include "mlc_cli.h"

int mlc_cmd_init(const struct mlc_cli *cli, int argc, char **argv);
int mlc_cmd_store_check(const struct mlc_cli *cli, int argc, char **argv);

extern const char mlc_cmd_init_usage[];
extern const char mlc_cmd_store_check_usage[];
#endif
