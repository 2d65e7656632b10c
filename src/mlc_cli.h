/* The command line: global options, the command table, help texts and exit codes.
 * Commands live in their modules (mlc_cmd_*.c); this file only dispatches. */
#ifndef MLC_CLI_H
#define MLC_CLI_H

/* What every command gets: the global options as given. */
struct mlc_cli {
    const char *config_path;  /* --config, or NULL for the default */
    const char *data_dir;     /* --data-dir, or NULL for the config's / the default */
};

struct mlc_cmd {
    const char *name;      /* "store check" style: words separated by one space */
    const char *summary;   /* one line for `mlc --help` */
    const char *usage;     /* full text for `mlc COMMAND --help` */
    int (*run)(const struct mlc_cli *cli, int argc, char **argv); /* returns an exit code */
};

int mlc_cli_main(int argc, char **argv);

/* Prints "mlc: <message>" on stderr, one line, for an installer. */
void mlc_cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define MLC_DEFAULT_CONFIG "/etc/mlc/mlc.conf"
#define MLC_DEFAULT_DATA_DIR "/var/lib/mlc"
#endif
