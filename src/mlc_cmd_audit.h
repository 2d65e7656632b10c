/* The `mlc audit verify` and `mlc audit export` commands: thin wrappers that open the store, call
 * mlc_audit.c and map the outcome to exit codes. The CLI table that dispatches here is in
 * mlc_cli.c; the chain, its checks and the export formats live in mlc_audit.c. */
#ifndef MLC_CMD_AUDIT_H
#define MLC_CMD_AUDIT_H

/* Each takes the data directory (NULL = the default) and the command's words from its last name
 * word on (argv[0] = "verify" / "export"), and returns a sysexits code (MLC_EXIT_*):
 * verify returns 0 when the log is intact and 65 (MLC_EXIT_DATAERR) when it is not. */
int mlc_cmd_audit_verify(const char *data_dir, int argc, char **argv);
int mlc_cmd_audit_export(const char *data_dir, int argc, char **argv);

/* One-line summaries for `mlc --help` and full texts for `mlc COMMAND --help`. */
extern const char mlc_cmd_audit_verify_summary[];
extern const char mlc_cmd_audit_export_summary[];
extern const char mlc_cmd_audit_verify_usage[];
extern const char mlc_cmd_audit_export_usage[];
#endif
