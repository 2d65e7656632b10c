/* `mlc doctor` (the installer's "does everything fit?" in one screen: a table of checks, each
 * failing one naming the action that fixes it) and `mlc alerts` (list open alerts, send what is
 * due, send a test alert through every channel). Reads the store; writes only alert records. */
#ifndef MLC_CMD_DOCTOR_H
#define MLC_CMD_DOCTOR_H
#include "mlc_cli.h"

extern const char mlc_cmd_doctor_usage[];
extern const char mlc_cmd_alerts_usage[];
extern const char mlc_cmd_alerts_send_usage[];
extern const char mlc_cmd_alerts_test_usage[];

int mlc_cmd_doctor(const struct mlc_cli *cli, int argc, char **argv);
int mlc_cmd_alerts(const struct mlc_cli *cli, int argc, char **argv);
int mlc_cmd_alerts_send(const struct mlc_cli *cli, int argc, char **argv);
int mlc_cmd_alerts_test(const struct mlc_cli *cli, int argc, char **argv);
#endif
