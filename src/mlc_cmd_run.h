/* `mlc run [--once]`: the agent as a service (see mlc_daemon), or one cycle and exit. */
#ifndef MLC_CMD_RUN_H
#define MLC_CMD_RUN_H
#include "mlc_cli.h"

extern const char mlc_cmd_run_usage[];
int mlc_cmd_run(const struct mlc_cli *cli, int argc, char **argv);
#endif
