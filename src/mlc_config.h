/* The configuration file: one INI-style file, parsed and validated completely against one table of
 * key specs (section, key, type, default, range or allowed words, help). The table drives parsing,
 * defaults, the reference (`--help`) and the example file. This module reads text only: it opens no
 * connection and checks no path on disk, and it refuses secrets (those live in the vault).
 *
 * To add a key: add a field to the struct below and one row to the table in mlc_config.c, then
 * regenerate etc/mlc.conf.example with MLC_UPDATE_EXAMPLE=1 ctest -R '^test_config$' (the unit test
 * fails while the shipped file and the table differ). */
#ifndef MLC_CONFIG_H
#define MLC_CONFIG_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define MLC_CONFIG_FILE_MAX (1024 * 1024) /* bytes in the file */
#define MLC_CONFIG_LINE_MAX 4096          /* bytes in one line, without the line end */
#define MLC_CONFIG_DIVISIONS_MAX 64       /* [division N] sections, and entries in a list of ints */
#define MLC_CONFIG_PATH_MAX 256
#define MLC_CONFIG_URL_MAX 512
#define MLC_CONFIG_NAME_MAX 128
#define MLC_CONFIG_HOST_MAX 256

/* Value types a key can have. */
enum mlc_config_type {
    MLC_CFG_STRING,   /* text (UTF-8, no control characters) */
    MLC_CFG_PATH,     /* absolute path: the agent runs from / as a service, so relative paths mislead */
    MLC_CFG_BOOL,     /* true/false, yes/no, on/off */
    MLC_CFG_INT,      /* whole number in min..max, stored as int */
    MLC_CFG_SIZE,     /* bytes, optional K/M/G/T suffix (powers of 1024), stored as uint64_t */
    MLC_CFG_DURATION, /* seconds, optional s/m/h/d suffixes ("90s", "1h30m"), stored as int64_t */
    MLC_CFG_ENUM,     /* one of the allowed words, stored as int (index in the word list) */
    MLC_CFG_WORDS,    /* min..max comma-separated allowed words, stored as normalised text "NL,GB" */
    MLC_CFG_URL,      /* http:// or https:// URL */
    MLC_CFG_TIME,     /* time of day HH:MM, stored as int minutes after midnight; -1 = not set */
    MLC_CFG_INT_LIST, /* comma-separated whole numbers each in min..max, stored as mlc_config_int_list */
    MLC_CFG_HOSTPORT  /* host:port or [v6addr]:port, stored as mlc_config_hostport */
};

/* Row flags. */
#define MLC_CFG_ZERO_OK 0x1      /* 0 is allowed besides min..max (0 = off / none) */
#define MLC_CFG_PER_DIVISION 0x2 /* the key lives in a [division N] section */
#define MLC_CFG_RESTART 0x4      /* a change takes effect only when the agent restarts */

/* One row of the key table. */
struct mlc_config_key {
    const char *section;  /* "agent", ...; "division" for [division N] keys */
    const char *name;
    enum mlc_config_type type;
    const char *def;      /* default, written as in the file; NULL = not set unless given */
    int64_t min, max;     /* range (INT, SIZE, DURATION, INT_LIST items; item count for WORDS) */
    const char *words;    /* ENUM and WORDS: allowed words separated by '|' */
    unsigned flags;
    size_t offset, size;  /* where the value lives in struct mlc_config (or mlc_config_division) */
    const char *example;  /* example value for the example file when there is no default */
    const char *help;     /* one line for an installer */
};

struct mlc_config_int_list {
    int v[MLC_CONFIG_DIVISIONS_MAX];
    size_t n;
};

struct mlc_config_hostport {
    char host[MLC_CONFIG_HOST_MAX]; /* without the [] of an IPv6 address */
    int port;
};

/* Word orders below follow the table's word lists (a unit test checks them). */
enum mlc_plaid_env { MLC_PLAID_SANDBOX = 0, MLC_PLAID_PRODUCTION = 1 };
enum mlc_balance_source { MLC_BALANCE_LIVE = 0, MLC_BALANCE_CACHED = 1 };
enum mlc_exact_region {
    MLC_EXACT_NL = 0, MLC_EXACT_BE, MLC_EXACT_DE, MLC_EXACT_FR, MLC_EXACT_ES, MLC_EXACT_UK, MLC_EXACT_US
};
enum mlc_schedule_mode { MLC_SCHEDULE_DAILY = 0, MLC_SCHEDULE_WEEKLY, MLC_SCHEDULE_INTERVAL };
/* schedule.day: 0 = Monday .. 6 = Sunday, -1 = not set. log_level uses enum mlc_log_level. */

/* One [division N] section. */
struct mlc_config_division {
    int id;                             /* N, the Exact division number */
    char name[MLC_CONFIG_NAME_MAX];     /* "" = not set */
    int schedule_at;                    /* minutes after midnight; -1 = use [schedule] at */
};

struct mlc_config {
    struct {
        char data_dir[MLC_CONFIG_PATH_MAX];
        int log_level;                  /* enum mlc_log_level */
        uint64_t memory_budget;         /* bytes; 0 = no budget */
        char ca_bundle[MLC_CONFIG_PATH_MAX]; /* "" = the system's CA certificates */
        int64_t clock_skew_max;         /* seconds the clock may differ from the APIs' Date */
    } agent;
    struct {
        uint64_t map_size, map_size_max;
    } store;
    struct {
        int environment;                /* enum mlc_plaid_env */
        char base_url[MLC_CONFIG_URL_MAX];   /* "" = the environment's host */
        char country_codes[64];         /* "NL,GB,US" */
        char language[8];
        char webhook_url[MLC_CONFIG_URL_MAX];
        int sync_count;
        int balance_source;             /* enum mlc_balance_source */
    } plaid;
    struct {
        int region;                     /* enum mlc_exact_region */
        char base_url[MLC_CONFIG_URL_MAX];   /* "" = the region's host */
        char redirect_uri[MLC_CONFIG_URL_MAX];
        struct mlc_config_int_list divisions;
        int keepalive_days;
        int closed_periods;             /* enum mlc_closed_policy (mlc_posting.h) */
    } exact;
    struct {
        int mode;                       /* enum mlc_schedule_mode */
        int at;                         /* minutes after midnight */
        int day;                        /* 0 = Monday; -1 = not set */
        int64_t interval;               /* seconds */
    } schedule;
    struct {
        struct mlc_config_hostport bind;
        char public_url[MLC_CONFIG_URL_MAX];
    } status;
    struct {
        int64_t connect_timeout, total_timeout, low_speed_time; /* seconds */
        uint64_t max_response;          /* bytes */
    } http;
    struct {
        char email_to[MLC_CONFIG_URL_MAX];   /* comma-separated addresses; "" = no e-mail */
        char email_from[MLC_CONFIG_NAME_MAX * 2];
        char smtp_url[MLC_CONFIG_URL_MAX];   /* smtp:// (STARTTLS required) or smtps:// */
        char smtp_user[MLC_CONFIG_NAME_MAX]; /* password: vault secret smtp.password */
        char webhook_url[MLC_CONFIG_URL_MAX];/* "" = no JSON POST */
        int64_t resend_interval;        /* seconds between reminders of an open alert */
        int failed_runs_threshold;      /* failed runs in a row that raise an alert */
    } alerts;
    struct {
        int profile;                    /* enum mlc_board_kind (board/mlc_board.h) */
        char led_status[MLC_CONFIG_PATH_MAX];    /* sysfs LED directory; "" = the profile's */
        char led_attention[MLC_CONFIG_PATH_MAX]; /* second LED for "a person is needed" */
        int led_active_low;             /* brightness 0 lights the LEDs */
    } board;
    struct mlc_config_division division[MLC_CONFIG_DIVISIONS_MAX];
    size_t n_division;
};

/* Fills c with the table's defaults. Cannot fail. */
void mlc_config_defaults(struct mlc_config *c);

/* Parses and validates text (len bytes; need not be NUL-terminated). name is the file name used in
 * messages. On success fills *out and returns MLC_OK. On failure returns MLC_ERR_CONFIG (or
 * MLC_ERR_NOMEM), leaves *out unchanged, and writes into err one line per problem (at most 20),
 * each "<name>:<line>: [<section>] <key>: <what is wrong>; allowed: <what is allowed>". */
int mlc_config_parse(struct mlc_config *out, const char *text, size_t len, const char *name,
                     char *err, size_t errcap);
/* Reads path (at most MLC_CONFIG_FILE_MAX bytes) and parses it. A missing or unreadable file is
 * MLC_ERR_CONFIG with a line saying what to do. */
int mlc_config_load(struct mlc_config *out, const char *path, char *err, size_t errcap);
/* Loads path into a new config; on success replaces *cur, on failure keeps *cur untouched. */
int mlc_config_reload(struct mlc_config *cur, const char *path, char *err, size_t errcap);
/* Counts the restart-only keys (data directory, store map, status address) whose value differs
 * between cur and next, and lists them in names ("[agent] data_dir, [status] bind"; may be NULL).
 * A reload caller uses it to tell the installer a restart is needed. */
size_t mlc_config_restart_needed(const struct mlc_config *cur, const struct mlc_config *next,
                                 char *names, size_t cap);
/* Releases what the config holds (the struct keeps fixed arrays; this resets it). NULL is fine. */
void mlc_config_free(struct mlc_config *c);

/* The [division N] section of a division, or NULL. */
const struct mlc_config_division *mlc_config_division_find(const struct mlc_config *c, int id);
/* The Exact host root for the config (base_url override, else the region's start host). */
const char *mlc_config_exact_base_url(const struct mlc_config *c);
/* The Plaid host root for the config (base_url override, else the environment's host). */
const char *mlc_config_plaid_base_url(const struct mlc_config *c);

/* The key table (for tests and docs). */
const struct mlc_config_key *mlc_config_keys(size_t *count);

/* Writes the reference of every key (section, key, type, allowed values, default, help).
 * Returns 0 or MLC_ERR_IO. */
int mlc_config_print_reference(FILE *out);
/* The commented example config, generated from the table: a NUL-terminated mlc_malloc'd text.
 * It is the text shipped as etc/mlc.conf.example. Returns 0 or MLC_ERR_NOMEM. */
int mlc_config_example_text(char **text, size_t *len);
/* Writes the example config to path (mode 0644, atomically) for `mlc init`.
 * MLC_ERR_EXISTS if path exists already: an installer's config is never overwritten. */
int mlc_config_write_example(const char *path);

/* Value parsers used by the table, for other modules (command-line options) and tests.
 * Each returns MLC_OK or MLC_ERR_CONFIG; s is NUL-terminated, without surrounding spaces. */
int mlc_config_parse_bool(const char *s, int *out);
int mlc_config_parse_int(const char *s, int64_t *out);
int mlc_config_parse_size(const char *s, uint64_t *out);
int mlc_config_parse_duration(const char *s, int64_t *seconds);
int mlc_config_parse_time(const char *s, int *minutes);
int mlc_config_parse_hostport(const char *s, struct mlc_config_hostport *out);
int mlc_config_check_url(const char *s);
#endif
