/* The `mlc secret set|list|delete` and `mlc key rotate` commands: thin wrappers that open the
 * store and the vault, talk to the installer, and map errors to exit codes. The sealing itself
 * lives in mlc_vault.c; the CLI table that dispatches here lives in mlc_cli.c. */
#ifndef MLC_CMD_SECRET_H
#define MLC_CMD_SECRET_H

/* Each takes the data directory (NULL = the default) and the command's words from its last name
 * word on (argv[0] = "set", argv[1] = NAME), and returns a sysexits code (MLC_EXIT_*). */
int mlc_cmd_secret_set(const char *data_dir, int argc, char **argv);
int mlc_cmd_secret_list(const char *data_dir, int argc, char **argv);
int mlc_cmd_secret_delete(const char *data_dir, int argc, char **argv);
int mlc_cmd_key_rotate(const char *data_dir, int argc, char **argv);

/* One-line summaries for `mlc --help` and full texts for `mlc COMMAND --help`. */
extern const char mlc_cmd_secret_set_summary[];
extern const char mlc_cmd_secret_list_summary[];
extern const char mlc_cmd_secret_delete_summary[];
extern const char mlc_cmd_key_rotate_summary[];
extern const char mlc_cmd_secret_set_usage[];
extern const char mlc_cmd_secret_list_usage[];
extern const char mlc_cmd_secret_delete_usage[];
extern const char mlc_cmd_key_rotate_usage[];
#endif
