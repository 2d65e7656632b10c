#include "mlc_cmd_audit.h"
#include "mlc_audit.h"
#include "mlc_buf.h"
#include "mlc_cli.h"
#include "mlc_err.h"
#include "mlc_platform.h"
#include "mlc_store.h"

#include <stdio.h>
#include <string.h>

#define DAY_MS 86400000LL

const char mlc_cmd_audit_verify_summary[] =
    "check that the audit log is complete and unchanged since it was written";
const char mlc_cmd_audit_export_summary[] =
    "export the audit log for a date range as CSV or JSON (for the accountant)";

const char mlc_cmd_audit_verify_usage[] =
    "Usage: mlc audit verify\n"
    "\n"
    "Checks the audit log: the record of every transaction pulled from the bank,\n"
    "coded, posted to Exact Online, held or reversed, every balance and\n"
    "reconciliation, token refresh, consent, mapping and configuration change.\n"
    "\n"
    "Each record carries a fingerprint (SHA-256) of itself and of the record before\n"
    "it, and the store keeps the newest fingerprint separately. So verify finds a\n"
    "record that was changed, removed, swapped with another, or cut off the end.\n"
    "\n"
    "Prints 'audit log intact', the number of the newest record and its\n"
    "fingerprint, and exits 0 when all is well. Note the number and fingerprint in\n"
    "your month-end file: the fingerprint of that record never changes, so the\n"
    "hash column of a later export must show the same value for it.\n"
    "\n"
    "Otherwise verify names the first record that fails (by its number, #N) and\n"
    "exits 65. In that case keep a copy of the whole data directory as evidence\n"
    "before anything else, and restore the store from a backup that verifies.\n"
    "When the newest records were changed or removed, mlc also refuses to add to\n"
    "the log (that would hide the damage), so work that must be logged waits\n"
    "until the store is restored.\n";

const char mlc_cmd_audit_export_usage[] =
    "Usage: mlc audit export [--from YYYY-MM-DD] [--to YYYY-MM-DD]\n"
    "                        [--format csv|json] [--output FILE]\n"
    "\n"
    "Writes the audit log records dated from --from to --to (both days included,\n"
    "UTC) for the accountant. Without --from it starts at the first record; without\n"
    "--to it runs to the newest one.\n"
    "\n"
    "  --format csv    (default) one row per record with a header row; fields are\n"
    "                  separated by commas and quoted when they hold a comma,\n"
    "                  quote or line break (RFC 4180). A text cell that starts\n"
    "                  with = + - @ (or a tab or carriage return) gets a\n"
    "                  leading ' so a spreadsheet shows it as text and never\n"
    "                  runs it as a formula; the amount column is a plain\n"
    "                  number and is never changed.\n"
    "  --format json   one JSON array of objects with the same fields; amounts\n"
    "                  are strings (\"-42.50\") so no program rounds them.\n"
    "  --output FILE   write to FILE (replaced in one step, readable only by the\n"
    "                  user mlc runs as) instead of standard output.\n"
    "\n"
    "Columns: seq, time_utc, event (pulled, coded, posted, held, reversed,\n"
    "balance_written, reconciliation, token_refresh, consent, mapping_change,\n"
    "config_change, note), the Plaid item/account/transaction ids, the Exact\n"
    "division, journal, statement, EntryID and line, the coding rule, amount,\n"
    "currency, detail, and the record's fingerprint (hash).\n"
    "\n"
    "The log is verified as well: if it is not intact the export is still written,\n"
    "a warning names the first bad record and the exit code is 65.\n";

static const char *dir_or_default(const char *data_dir)
{
    return (data_dir && *data_dir) ? data_dir : MLC_DEFAULT_DATA_DIR;
}

/* Opens an existing store. Refuses to create one, so a mistyped --data-dir is reported instead
 * of answering "intact, 0 records" from a fresh empty store. Returns an exit code. */
static int open_store(const char *data_dir, struct mlc_store **st)
{
    char sp[4096];
    int rc;

    *st = NULL;
    if (mlc_fs_join(sp, sizeof(sp), data_dir, "store") != MLC_OK) {
        mlc_cli_error("the data directory path is too long: %.200s...", data_dir);
        return MLC_EXIT_USAGE;
    }
    if (!mlc_fs_exists(sp)) {
        mlc_cli_error("there is no store at %s; run 'mlc init' first (or pass the right "
                      "--data-dir)", sp);
        return mlc_err_exit_code(MLC_ERR_NOTFOUND);
    }
    if ((rc = mlc_store_open(st, data_dir, NULL)) != MLC_OK) {
        mlc_cli_error("cannot open the store in %s: %s; does the data directory belong to the "
                      "user mlc runs as?", sp, mlc_err_str(rc));
        return mlc_err_exit_code(rc);
    }
    return MLC_EXIT_OK;
}

int mlc_cmd_audit_verify(const char *data_dir, int argc, char **argv)
{
    struct mlc_store *st = NULL;
    struct mlc_audit_report rep;
    char hash[2 * MLC_AUDIT_HASH_LEN + 1];
    int rc, ex;

    (void)argv;
    data_dir = dir_or_default(data_dir);
    if (argc > 1) {
        mlc_cli_error("'audit verify' takes no arguments; run 'mlc audit verify --help'");
        return MLC_EXIT_USAGE;
    }
    if ((ex = open_store(data_dir, &st)) != MLC_EXIT_OK)
        return ex;
    if ((rc = mlc_audit_verify(st, &rep)) != MLC_OK) {
        mlc_cli_error("cannot read the audit log: %s", mlc_err_str(rc));
        ex = mlc_err_exit_code(rc);
        goto out;
    }
    if (!rep.ok) {
        mlc_cli_error("audit log NOT intact at record #%llu: %s; keep a copy of the data "
                      "directory as evidence and restore the store from a backup that verifies",
                      (unsigned long long)rep.first_bad_seq, rep.problem);
        ex = MLC_EXIT_DATAERR;
        goto out;
    }
    if (rep.records == 0) {
        printf("audit log intact: no records yet\n");
    } else {
        for (int i = 0; i < MLC_AUDIT_HASH_LEN; i++)
            snprintf(hash + 2 * i, 3, "%02x", rep.head_hash[i]);
        printf("audit log intact: %llu record%s, newest #%llu, fingerprint %s\n",
               (unsigned long long)rep.records, rep.records == 1 ? "" : "s",
               (unsigned long long)rep.head_seq, hash);
    }
    ex = MLC_EXIT_OK;
out:
    mlc_store_close(st);
    return ex;
}

/* "--name VALUE" or "--name=VALUE"; advances *i past what it used. 1 when matched, 0 when not,
 * -1 when the value is missing. */
static int opt_value(int argc, char **argv, int *i, const char *name, const char **val)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return 0;
    if (argv[*i][n] == '=') {
        *val = argv[*i] + n + 1;
        return **val ? 1 : -1;
    }
    if (argv[*i][n] != '\0')
        return 0;
    if (*i + 1 >= argc || argv[*i + 1][0] == '\0')
        return -1;
    *val = argv[++*i];
    return 1;
}

static int write_stdout(const char *data, size_t len)
{
    if (len && fwrite(data, 1, len, stdout) != len)
        return MLC_ERR_IO;
    return fflush(stdout) == 0 ? MLC_OK : MLC_ERR_IO;
}

int mlc_cmd_audit_export(const char *data_dir, int argc, char **argv)
{
    static const char *const names[] = { "--from", "--to", "--format", "--output" };
    const char *val[4] = { NULL, NULL, NULL, NULL };
    struct mlc_store *st = NULL;
    struct mlc_buf out;
    struct mlc_audit_report rep;
    enum mlc_audit_format fmt = MLC_AUDIT_CSV;
    int64_t from = 0, to = INT64_MAX;
    uint64_t count = 0;
    int rc, ex;

    mlc_buf_init(&out, MLC_AUDIT_EXPORT_MAX);
    data_dir = dir_or_default(data_dir);
    for (int i = 1; i < argc; i++) {
        int matched = 0;
        for (int k = 0; k < 4 && !matched; k++) {
            int r = opt_value(argc, argv, &i, names[k], &val[k]);
            if (r < 0) {
                mlc_cli_error("%s needs a value; run 'mlc audit export --help'", names[k]);
                return MLC_EXIT_USAGE;
            }
            matched = r;
        }
        if (!matched) {
            mlc_cli_error("unknown option '%s' for 'audit export'; run 'mlc audit export --help'",
                          argv[i]);
            return MLC_EXIT_USAGE;
        }
    }
    if (val[0] && mlc_audit_parse_date(val[0], &from) != MLC_OK) {
        mlc_cli_error("--from '%s' is not a date; write it as YYYY-MM-DD, e.g. 2026-01-31",
                      val[0]);
        return MLC_EXIT_USAGE;
    }
    if (val[1]) {
        if (mlc_audit_parse_date(val[1], &to) != MLC_OK) {
            mlc_cli_error("--to '%s' is not a date; write it as YYYY-MM-DD, e.g. 2026-01-31",
                          val[1]);
            return MLC_EXIT_USAGE;
        }
        to += DAY_MS - 1;  /* the whole --to day is included */
    }
    if (from > to) {
        mlc_cli_error("--from %s is after --to %s; nothing to export", val[0], val[1]);
        return MLC_EXIT_USAGE;
    }
    if (val[2]) {
        if (strcmp(val[2], "json") == 0)
            fmt = MLC_AUDIT_JSON;
        else if (strcmp(val[2], "csv") != 0) {
            mlc_cli_error("--format must be csv or json, not '%s'", val[2]);
            return MLC_EXIT_USAGE;
        }
    }
    if ((ex = open_store(data_dir, &st)) != MLC_EXIT_OK)
        return ex;
    rc = mlc_audit_export(st, from, to, fmt, &out, &count);
    if (rc == MLC_ERR_TOO_BIG) {
        mlc_cli_error("the export is larger than %u MiB; choose a shorter period with --from "
                      "and --to", MLC_AUDIT_EXPORT_MAX >> 20);
        ex = mlc_err_exit_code(rc);
        goto out;
    }
    if (rc == MLC_ERR_DATA) {
        mlc_cli_error("the audit log holds a damaged record, so nothing was exported; run "
                      "'mlc audit verify' to find it");
        ex = MLC_EXIT_DATAERR;
        goto out;
    }
    if (rc != MLC_OK) {
        mlc_cli_error("cannot export the audit log: %s", mlc_err_str(rc));
        ex = mlc_err_exit_code(rc);
        goto out;
    }
    rc = val[3] ? mlc_fs_write_atomic(val[3], out.data, out.len, 0600)
                : write_stdout(out.data, out.len);
    if (rc != MLC_OK) {
        mlc_cli_error("cannot write the export to %s: %s; check the path and free disk space",
                      val[3] ? val[3] : "standard output", mlc_err_str(rc));
        ex = mlc_err_exit_code(rc);
        goto out;
    }
    if (val[3])
        fprintf(stderr, "exported %llu record%s to %s\n", (unsigned long long)count,
                count == 1 ? "" : "s", val[3]);
    ex = MLC_EXIT_OK;
    if (mlc_audit_verify(st, &rep) == MLC_OK && !rep.ok) {
        mlc_cli_error("warning: the audit log is NOT intact at record #%llu (%s); the export was "
                      "written, but run 'mlc audit verify' before relying on it",
                      (unsigned long long)rep.first_bad_seq, rep.problem);
        ex = MLC_EXIT_DATAERR;
    }
out:
    mlc_buf_free(&out);
    mlc_store_close(st);
    return ex;
}
