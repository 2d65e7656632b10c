/* The configuration file: what an installer writes is read as meant, and every mistake gets one
 * line naming the file, line, section and key, what is wrong and what is allowed. */
#include "mlc_test_util.h"
#include "mlc_alloc.h"
#include "mlc_config.h"
#include "mlc_err.h"
#include "mlc_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char err[8192];

/* Parses text that must be valid. */
static void parse_ok(struct mlc_config *c, const char *text)
{
    int rc = mlc_config_parse(c, text, strlen(text), "t.conf", err, sizeof(err));
    if (rc != MLC_OK)
        fail_msg("expected a valid config, got rc=%d:\n%s\n--- text:\n%s", rc, err, text);
    assert_string_equal(err, "");
}

/* Parses text that must be refused with exactly the message `want` (all lines). */
static void parse_fails(const char *text, const char *want)
{
    struct mlc_config c;
    mlc_config_defaults(&c);
    c.plaid.sync_count = 123; /* a marker: a failed parse leaves the struct alone */
    int rc = mlc_config_parse(&c, text, strlen(text), "t.conf", err, sizeof(err));
    assert_int_equal(rc, MLC_ERR_CONFIG);
    assert_int_equal(mlc_err_exit_code(rc), MLC_EXIT_CONFIG);
    assert_int_equal(c.plaid.sync_count, 123);
    if (strcmp(err, want) != 0)
        fail_msg("message differs\n got: %s\nwant: %s", err, want);
}

/* Parses text that must be refused with a message containing `part`. */
static void parse_fails_with(const char *text, const char *part)
{
    struct mlc_config c;
    int rc = mlc_config_parse(&c, text, strlen(text), "t.conf", err, sizeof(err));
    assert_int_equal(rc, MLC_ERR_CONFIG);
    if (!strstr(err, part))
        fail_msg("message lacks '%s':\n%s", part, err);
    if (strchr(err, '\n'))
        fail_msg("expected one line:\n%s", err);
}

static void defaults_are_the_documented_ones(void **state)
{
    (void)state;
    struct mlc_config c;
    mlc_config_defaults(&c);
    assert_string_equal(c.agent.data_dir, "/var/lib/mlc");
    assert_int_equal(c.agent.log_level, MLC_LOG_INFO);
    assert_int_equal(c.agent.memory_budget, 0);
    assert_string_equal(c.agent.ca_bundle, "");
    assert_int_equal(c.store.map_size, 64ULL << 20);
    assert_int_equal(c.store.map_size_max, 1ULL << 30);
    assert_int_equal(c.plaid.environment, MLC_PLAID_SANDBOX);
    assert_string_equal(c.plaid.base_url, "");
    assert_string_equal(c.plaid.country_codes, "US");
    assert_string_equal(c.plaid.language, "en");
    assert_string_equal(c.plaid.webhook_url, "");
    assert_int_equal(c.plaid.sync_count, 500);
    assert_int_equal(c.plaid.balance_source, MLC_BALANCE_LIVE);
    assert_int_equal(c.exact.region, MLC_EXACT_NL);
    assert_string_equal(c.exact.redirect_uri, "");
    assert_int_equal(c.exact.divisions.n, 0);
    assert_int_equal(c.exact.keepalive_days, 20);
    assert_int_equal(c.schedule.mode, MLC_SCHEDULE_DAILY);
    assert_int_equal(c.schedule.at, 6 * 60);
    assert_int_equal(c.schedule.day, -1);
    assert_int_equal(c.schedule.interval, 3600);
    assert_string_equal(c.status.bind.host, "127.0.0.1");
    assert_int_equal(c.status.bind.port, 8080);
    assert_string_equal(c.status.public_url, "");
    assert_int_equal(c.http.connect_timeout, 10);
    assert_int_equal(c.http.total_timeout, 60);
    assert_int_equal(c.http.low_speed_time, 30);
    assert_int_equal(c.http.max_response, 16ULL << 20);
    assert_int_equal(c.n_division, 0);
    assert_string_equal(mlc_config_exact_base_url(&c), "https://start.exactonline.nl");
    assert_string_equal(mlc_config_plaid_base_url(&c), "https://sandbox.plaid.com");

    /* An empty file (only comments) means all defaults. */
    struct mlc_config p;
    parse_ok(&p, "# nothing set\n\n; still nothing\n[agent]\n");
    assert_memory_equal(&p, &c, sizeof(c));
}

/* Every row's default and example is a valid value: the example file can be uncommented. */
static void every_default_and_example_is_valid(void **state)
{
    (void)state;
    size_t n;
    const struct mlc_config_key *k = mlc_config_keys(&n);
    assert_true(n >= 29);
    for (size_t i = 0; i < n; i++) {
        for (int pass = 0; pass < 2; pass++) {
            const char *v = pass ? k[i].example : k[i].def;
            if (!v)
                continue;
            char text[1024];
            const char *extra = "";
            if (strcmp(k[i].name, "day") == 0)
                extra = "mode = weekly\n";
            else if (strcmp(k[i].name, "interval") == 0)
                extra = "mode = interval\n";
            if (k[i].flags & MLC_CFG_PER_DIVISION)
                snprintf(text, sizeof(text), "[exact]\ndivisions = 123456\n[division 123456]\n%s = %s\n",
                         k[i].name, v);
            else
                snprintf(text, sizeof(text), "[%s]\n%s%s = %s\n", k[i].section, extra, k[i].name, v);
            struct mlc_config c;
            parse_ok(&c, text);
        }
        assert_true(k[i].def || k[i].example); /* the example file needs something to show */
        /* A section's rows stay together (the example and reference print one header each). */
        for (size_t j = i + 1; j < n; j++)
            if (strcmp(k[j].section, k[i].section) == 0)
                assert_string_equal(k[j - 1].section, k[i].section);
    }
}

/* The C enums follow the table's word lists. */
static void words_match_the_enums(void **state)
{
    (void)state;
    struct mlc_config c;
    static const char *const levels[] = { "error", "warn", "info", "debug" };
    for (size_t i = 0; i < 4; i++) {
        char text[64];
        snprintf(text, sizeof(text), "[agent]\nlog_level = %s\n", levels[i]);
        parse_ok(&c, text);
        assert_int_equal(c.agent.log_level, mlc_log_level_parse(levels[i]));
    }
    static const struct { const char *word; int region; const char *host; } regions[] = {
        { "nl", MLC_EXACT_NL, "https://start.exactonline.nl" },
        { "be", MLC_EXACT_BE, "https://start.exactonline.be" },
        { "de", MLC_EXACT_DE, "https://start.exactonline.de" },
        { "fr", MLC_EXACT_FR, "https://start.exactonline.fr" },
        { "es", MLC_EXACT_ES, "https://start.exactonline.es" },
        { "UK", MLC_EXACT_UK, "https://start.exactonline.co.uk" },
        { "us", MLC_EXACT_US, "https://start.exactonline.com" },
    };
    for (size_t i = 0; i < sizeof(regions) / sizeof(regions[0]); i++) {
        char text[64];
        snprintf(text, sizeof(text), "[exact]\nregion = %s\n", regions[i].word);
        parse_ok(&c, text);
        assert_int_equal(c.exact.region, regions[i].region);
        assert_string_equal(mlc_config_exact_base_url(&c), regions[i].host);
    }
    parse_ok(&c, "[plaid]\nenvironment = production\nbalance_source = cached\n"
                 "[schedule]\nmode = weekly\nday = sun\n");
    assert_int_equal(c.plaid.environment, MLC_PLAID_PRODUCTION);
    assert_string_equal(mlc_config_plaid_base_url(&c), "https://production.plaid.com");
    assert_int_equal(c.plaid.balance_source, MLC_BALANCE_CACHED);
    assert_int_equal(c.schedule.mode, MLC_SCHEDULE_WEEKLY);
    assert_int_equal(c.schedule.day, 6);
    parse_ok(&c, "[schedule]\nmode = interval\ninterval = 15m\n");
    assert_int_equal(c.schedule.mode, MLC_SCHEDULE_INTERVAL);
    assert_int_equal(c.schedule.interval, 900);
}

static void value_parsers(void **state)
{
    (void)state;
    int b = -1;
    static const char *const yes[] = { "true", "yes", "on", "TRUE", "Yes" };
    static const char *const no[] = { "false", "no", "off", "Off" };
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(mlc_config_parse_bool(yes[i], &b), MLC_OK);
        assert_int_equal(b, 1);
    }
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(mlc_config_parse_bool(no[i], &b), MLC_OK);
        assert_int_equal(b, 0);
    }
    assert_int_equal(mlc_config_parse_bool("1", &b), MLC_ERR_CONFIG);
    assert_int_equal(mlc_config_parse_bool("yess", &b), MLC_ERR_CONFIG);

    int64_t i64;
    assert_int_equal(mlc_config_parse_int("-42", &i64), MLC_OK);
    assert_int_equal(i64, -42);
    assert_int_equal(mlc_config_parse_int("9223372036854775807", &i64), MLC_OK);
    assert_int_equal(mlc_config_parse_int("9223372036854775808", &i64), MLC_ERR_CONFIG);
    assert_int_equal(mlc_config_parse_int("99999999999999999999999", &i64), MLC_ERR_CONFIG);
    assert_int_equal(mlc_config_parse_int("12a", &i64), MLC_ERR_CONFIG);
    assert_int_equal(mlc_config_parse_int("", &i64), MLC_ERR_CONFIG);
    assert_int_equal(mlc_config_parse_int("-", &i64), MLC_ERR_CONFIG);

    uint64_t sz;
    static const struct { const char *s; uint64_t v; } sizes[] = {
        { "0", 0 }, { "4096", 4096 }, { "64K", 65536 }, { "64k", 65536 }, { "16M", 16ULL << 20 },
        { "16MB", 16ULL << 20 }, { "16MiB", 16ULL << 20 }, { "16 M", 16ULL << 20 },
        { "64G", 64ULL << 30 }, { "2T", 2ULL << 40 }, { "100B", 100 },
        { "16777215T", 16777215ULL << 40 },
    };
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        assert_int_equal(mlc_config_parse_size(sizes[i].s, &sz), MLC_OK);
        assert_int_equal(sz, sizes[i].v);
    }
    static const char *const bad_sizes[] = { "", "M", "12Q", "1.5G", "-1", "16MX", "16777216T",
                                             "18446744073709551616" };
    for (size_t i = 0; i < sizeof(bad_sizes) / sizeof(bad_sizes[0]); i++)
        assert_int_equal(mlc_config_parse_size(bad_sizes[i], &sz), MLC_ERR_CONFIG);

    int64_t d;
    static const struct { const char *s; int64_t v; } durs[] = {
        { "90", 90 }, { "90s", 90 }, { "5m", 300 }, { "1h", 3600 }, { "7d", 604800 },
        { "1h30m", 5400 }, { "1d2h3m4s", 93784 }, { "2H", 7200 },
    };
    for (size_t i = 0; i < sizeof(durs) / sizeof(durs[0]); i++) {
        assert_int_equal(mlc_config_parse_duration(durs[i].s, &d), MLC_OK);
        assert_int_equal(d, durs[i].v);
    }
    static const char *const bad_durs[] = { "", "h", "5x", "1h30", "1 h", "-5s",
                                            "106751991167301d", "9223372036854775807s1s" };
    for (size_t i = 0; i < sizeof(bad_durs) / sizeof(bad_durs[0]); i++)
        assert_int_equal(mlc_config_parse_duration(bad_durs[i], &d), MLC_ERR_CONFIG);

    int m;
    assert_int_equal(mlc_config_parse_time("06:00", &m), MLC_OK);
    assert_int_equal(m, 360);
    assert_int_equal(mlc_config_parse_time("6:05", &m), MLC_OK);
    assert_int_equal(m, 365);
    assert_int_equal(mlc_config_parse_time("23:59", &m), MLC_OK);
    assert_int_equal(m, 1439);
    assert_int_equal(mlc_config_parse_time("00:00", &m), MLC_OK);
    assert_int_equal(m, 0);
    static const char *const bad_times[] = { "24:00", "12:60", "1200", "12:5", "ab:cd", "123:00", "" };
    for (size_t i = 0; i < sizeof(bad_times) / sizeof(bad_times[0]); i++)
        assert_int_equal(mlc_config_parse_time(bad_times[i], &m), MLC_ERR_CONFIG);

    struct mlc_config_hostport hp;
    assert_int_equal(mlc_config_parse_hostport("0.0.0.0:80", &hp), MLC_OK);
    assert_string_equal(hp.host, "0.0.0.0");
    assert_int_equal(hp.port, 80);
    assert_int_equal(mlc_config_parse_hostport("[::1]:8443", &hp), MLC_OK);
    assert_string_equal(hp.host, "::1");
    assert_int_equal(hp.port, 8443);
    assert_int_equal(mlc_config_parse_hostport("status.lan:65535", &hp), MLC_OK);
    static const char *const bad_hp[] = { "8080", ":8080", "host:", "host:0", "host:65536",
                                          "::1:80", "[::1]", "ho st:80", "[zz]:80", "h:80x" };
    for (size_t i = 0; i < sizeof(bad_hp) / sizeof(bad_hp[0]); i++)
        assert_int_equal(mlc_config_parse_hostport(bad_hp[i], &hp), MLC_ERR_CONFIG);

    static const char *const good_urls[] = { "https://a.example.com", "http://127.0.0.1:9100",
                                             "https://x.nl/cb?x=1#f", "http://[::1]:8080/p" };
    for (size_t i = 0; i < sizeof(good_urls) / sizeof(good_urls[0]); i++)
        assert_int_equal(mlc_config_check_url(good_urls[i]), MLC_OK);
    static const char *const bad_urls[] = { "ftp://x", "https://", "https:///p", "example.com",
                                            "https://a b", "https://u:p@host/", "http://h:0/",
                                            "http://h:/" };
    for (size_t i = 0; i < sizeof(bad_urls) / sizeof(bad_urls[0]); i++)
        assert_int_equal(mlc_config_check_url(bad_urls[i]), MLC_ERR_CONFIG);
}

static void a_full_config_is_read_as_written(void **state)
{
    (void)state;
    struct mlc_config c;
    parse_ok(&c,
             "[agent]\n"
             "data_dir = /srv/mlc   # where the store lives\n"
             "log_level = debug\n"
             "memory_budget = 48M\n"
             "ca_bundle = \"/etc/mlc/test ca.pem\"\n"
             "[store]\n"
             "map_size=128M\n"
             "map_size_max   =   8G\n"
             "[plaid]\n"
             "country_codes = nl, gb ,US\n"
             "language = NL\n"
             "webhook_url = https://hooks.example.com/plaid#frag ; the # without a blank stays\n"
             "sync_count = 1\n"
             "[exact]\n"
             "region = be\n"
             "base_url = http://127.0.0.1:9200\n"
             "redirect_uri = https://mlc.example.com/exact/callback\n"
             "divisions = 123456, 7,2147483647\n"
             "keepalive_days = 29\n"
             "[schedule]\n"
             "mode = weekly\n"
             "day = Fri\n"
             "at = 7:30\n"
             "[status]\n"
             "bind = [::]:9000\n"
             "public_url = https://status.example.com\n"
             "[http]\n"
             "connect_timeout = 5m\n"
             "total_timeout = 1h\n"
             "low_speed_time = 45s\n"
             "max_response = 64K\n"
             "[division 123456]\n"
             "name = \"Bakkerij \\\"De Zon\\\" ; # inside\"   ; comment\n"
             "schedule_at = 05:15\n"
             "[ division   7 ]\n"
             "name = Zweig Köln\n");
    assert_string_equal(c.agent.data_dir, "/srv/mlc");
    assert_int_equal(c.agent.log_level, MLC_LOG_DEBUG);
    assert_int_equal(c.agent.memory_budget, 48ULL << 20);
    assert_string_equal(c.agent.ca_bundle, "/etc/mlc/test ca.pem");
    assert_int_equal(c.store.map_size, 128ULL << 20);
    assert_int_equal(c.store.map_size_max, 8ULL << 30);
    assert_string_equal(c.plaid.country_codes, "NL,GB,US");
    assert_string_equal(c.plaid.language, "nl");
    assert_string_equal(c.plaid.webhook_url, "https://hooks.example.com/plaid#frag");
    assert_int_equal(c.plaid.sync_count, 1);
    assert_int_equal(c.exact.region, MLC_EXACT_BE);
    assert_string_equal(mlc_config_exact_base_url(&c), "http://127.0.0.1:9200");
    assert_string_equal(c.exact.redirect_uri, "https://mlc.example.com/exact/callback");
    assert_int_equal(c.exact.divisions.n, 3);
    assert_int_equal(c.exact.divisions.v[0], 123456);
    assert_int_equal(c.exact.divisions.v[1], 7);
    assert_int_equal(c.exact.divisions.v[2], 2147483647);
    assert_int_equal(c.exact.keepalive_days, 29);
    assert_int_equal(c.schedule.day, 4);
    assert_int_equal(c.schedule.at, 7 * 60 + 30);
    assert_string_equal(c.status.bind.host, "::");
    assert_int_equal(c.status.bind.port, 9000);
    assert_int_equal(c.http.connect_timeout, 300);
    assert_int_equal(c.http.total_timeout, 3600);
    assert_int_equal(c.http.low_speed_time, 45);
    assert_int_equal(c.http.max_response, 65536);
    assert_int_equal(c.n_division, 2);
    const struct mlc_config_division *d = mlc_config_division_find(&c, 123456);
    assert_non_null(d);
    assert_string_equal(d->name, "Bakkerij \"De Zon\" ; # inside");
    assert_int_equal(d->schedule_at, 5 * 60 + 15);
    d = mlc_config_division_find(&c, 7);
    assert_non_null(d);
    assert_string_equal(d->name, "Zweig Köln");
    assert_int_equal(d->schedule_at, -1); /* falls back to [schedule] at */
    assert_null(mlc_config_division_find(&c, 2147483647));
}

/* Files edited on Windows: CRLF line ends and a UTF-8 byte-order mark. */
static void crlf_and_bom_are_fine(void **state)
{
    (void)state;
    struct mlc_config c;
    parse_ok(&c, "\xEF\xBB\xBF[plaid]\r\nsync_count = 42\r\n\r\n# note\r\n[exact]\r\nregion = de\r\n");
    assert_int_equal(c.plaid.sync_count, 42);
    assert_int_equal(c.exact.region, MLC_EXACT_DE);
    /* no final line end */
    parse_ok(&c, "[plaid]\nsync_count = 43");
    assert_int_equal(c.plaid.sync_count, 43);
    /* Line numbers count from the first line, BOM or not. */
    parse_fails("\xEF\xBB\xBF[plaid]\r\n\r\nsync_count = 900\r\n",
                "t.conf:3: [plaid] sync_count: 900 is out of range; allowed: 1..500");
}

static void each_mistake_names_file_line_section_and_key(void **state)
{
    (void)state;
    parse_fails("[plaid]\n# the issue's example\n\nsync_count = 900\n",
                "t.conf:4: [plaid] sync_count: 900 is out of range; allowed: 1..500");
    parse_fails("[plaid]\nsync_cout = 100\n",
                "t.conf:2: [plaid] sync_cout: unknown key (did you mean 'sync_count'?); allowed: "
                "environment, base_url, country_codes, language, webhook_url, sync_count, "
                "balance_source");
    parse_fails("[exact]\nsync_count = 100\n",
                "t.conf:2: [exact] sync_count: unknown key here (it belongs in [plaid]); allowed: "
                "region, base_url, redirect_uri, divisions, keepalive_days, closed_periods");
    parse_fails("[plaid]\nsync_count = 100\n\n[plaid]\n",
                "t.conf:4: [plaid]: this section appears twice (first on line 1); allowed: one "
                "[plaid] section");
    parse_fails("[plaid]\nsync_count = 100\nsync_count = 200\n",
                "t.conf:3: [plaid] sync_count: set twice (first on line 2); allowed: one value per "
                "key");
    parse_fails("[plaid]\nsync_count 100\n",
                "t.conf:2: [plaid]: this line is not 'key = value'; allowed: key = value, "
                "[section], or a comment starting with # or ;");
    parse_fails("sync_count = 100\n",
                "t.conf:1: sync_count: this key is outside any section; allowed: put it below its "
                "section line, [plaid]");
    parse_fails("[plaid]\nsync_count =\n",
                "t.conf:2: [plaid] sync_count: the value is missing; allowed: 1..500 (to use the "
                "default, remove the line or put # in front)");
    parse_fails("[plaid]\nsync_count = many\n",
                "t.conf:2: [plaid] sync_count: 'many' is not a whole number; allowed: 1..500");
    parse_fails("[agent]\nlog_level = loud\n",
                "t.conf:2: [agent] log_level: 'loud' is not allowed; allowed: error, warn, info, "
                "debug");
    parse_fails("[agent]\nmemory_budget = 512K\n",
                "t.conf:2: [agent] memory_budget: 512K is out of range; allowed: 0 or 1M..1G (K, "
                "M, G = 1024, 1024^2, 1024^3 bytes)");
    parse_fails("[schedule]\nmode = interval\ninterval = 1m\n",
                "t.conf:3: [schedule] interval: 1m is out of range; allowed: 5m..7d (s, m, h, d; "
                "e.g. 90s, 1h30m)");
    parse_fails("[schedule]\nat = 24:00\n",
                "t.conf:2: [schedule] at: '24:00' is not a time of day; allowed: HH:MM, "
                "00:00..23:59");
    parse_fails("[agent]\ndata_dir = var/lib/mlc\n",
                "t.conf:2: [agent] data_dir: 'var/lib/mlc' is not an absolute path; allowed: an "
                "absolute path starting with /, up to 255 bytes");
    parse_fails("[pliad]\nsync_count = 1\n",
                "t.conf:1: [pliad]: unknown section (did you mean [plaid]?); allowed: [agent], "
                "[store], [plaid], [exact], [schedule], [status], [http], [alerts], [board], [division N]");
    parse_fails("[plaid\n",
                "t.conf:1: a section line must be [name] alone; allowed: [agent], [store], [plaid], "
                "[exact], [schedule], [status], [http], [alerts], [board], [division N]");
    parse_fails("[division abc]\n",
                "t.conf:1: [division abc]: a division section needs the division number; allowed: "
                "[division N], N in 1..2147483647");
    parse_fails("[plaid]\nlanguage = \"en\n",
                "t.conf:2: [plaid] language: the closing quote is missing; allowed: \"text\"");
    parse_fails("[plaid]\nlanguage = \"en\" x\n",
                "t.conf:2: [plaid] language: there is text after the closing quote; allowed: a "
                "comment after # or ;");

    /* Each type's own complaint. */
    parse_fails_with("[plaid]\ncountry_codes = NL,XX\n", "t.conf:2: [plaid] country_codes: 'XX' is not allowed; allowed: 1 to 20 of US, GB,");
    parse_fails_with("[plaid]\ncountry_codes = NL,nl\n", "'nl' is listed twice");
    parse_fails_with("[plaid]\ncountry_codes = NL,,GB\n", "an item between commas is empty");
    parse_fails_with("[plaid]\nlanguage = en,nl\n", "more than 1 item; allowed: one of da, nl, en");
    parse_fails_with("[exact]\ndivisions = 1, 0\n", "t.conf:2: [exact] divisions: 0 is out of range; allowed: whole numbers 1..2147483647");
    parse_fails_with("[exact]\ndivisions = 5,5\n", "5 is listed twice");
    parse_fails_with("[exact]\ndivisions = 2147483648\n", "2147483648 is out of range");
    parse_fails_with("[exact]\nredirect_uri = ftp://x/cb\n", "'ftp://x/cb' is not an http:// or https:// URL");
    parse_fails_with("[status]\nbind = localhost\n", "t.conf:2: [status] bind: 'localhost' is not host:port; allowed: host:port");
    parse_fails_with("[exact]\nkeepalive_days = 30\n", "30 is out of range; allowed: 1..29");
    parse_fails_with("[http]\nmax_response = 1G\n", "1G is out of range; allowed: 64K..256M");
    parse_fails_with("[http]\nconnect_timeout = 0s\n", "0s is out of range; allowed: 1s..5m");
    parse_fails_with("[store]\nmap_size = 128G\n", "128G is out of range; allowed: 1M..64G");
    parse_fails_with("[division 1]\nname = a\tb\n", "control character");
    parse_fails_with("[division 1]\nname = \xff\xfe\n", "not UTF-8 text");
    parse_fails_with("[agent]\nssl_verify = no\n", "t.conf:2: [agent] ssl_verify: TLS certificate checks cannot be turned off");
    parse_fails_with("[http]\ninsecure = yes\n", "cannot be turned off");
}

/* Relations between keys are checked after the whole file is read. */
static void rules_between_keys(void **state)
{
    (void)state;
    parse_fails("[schedule]\nmode = weekly\n",
                "t.conf:2: [schedule] day: missing; mode = weekly needs a day; allowed: mon, tue, "
                "wed, thu, fri, sat, sun");
    parse_fails("[schedule]\nday = mon\n",
                "t.conf:2: [schedule] day: only used with mode = weekly; allowed: remove this "
                "line, or set mode = weekly");
    parse_fails_with("[schedule]\ninterval = 2h\n", "t.conf:2: [schedule] interval: only used with mode = interval");
    parse_fails_with("[schedule]\nmode = interval\nat = 06:00\n", "t.conf:3: [schedule] at: not used with mode = interval");
    parse_fails("[store]\nmap_size = 2G\nmap_size_max = 1G\n",
                "t.conf:3: [store] map_size_max: 1G is smaller than map_size (2G); allowed: at "
                "least map_size");
    parse_fails_with("[store]\nmap_size = 2G\n", "t.conf:2: [store] map_size: 2G is larger than map_size_max (1G)");
    parse_fails_with("[http]\nconnect_timeout = 2m\ntotal_timeout = 1m\n", "t.conf:3: [http] total_timeout: 1m is shorter than connect_timeout (2m)");
    parse_fails("[exact]\ndivisions = 1\n[division 1]\n[division 2]\nname = x\n",
                "t.conf:4: [division 2]: division 2 is not in [exact] divisions; allowed: add it "
                "to divisions, or remove this section");
    parse_fails("[exact]\ndivisions = 1\n[division 1]\n[division 1]\n",
                "t.conf:4: [division 1]: this section appears twice (first on line 3); allowed: "
                "one section per division");
    parse_fails_with("[division 1]\nregion = nl\n", "t.conf:2: [division 1] region: unknown key here (it belongs in [exact])");

    /* Not more than 64 division sections. */
    char text[8192] = "[exact]\ndivisions = 1";
    for (int i = 2; i <= 64; i++)
        snprintf(text + strlen(text), sizeof(text) - strlen(text), ",%d", i);
    strcat(text, "\n");
    for (int i = 1; i <= 64; i++)
        snprintf(text + strlen(text), sizeof(text) - strlen(text), "[division %d]\n", i);
    struct mlc_config c;
    parse_ok(&c, text);
    assert_int_equal(c.n_division, 64);
    assert_int_equal(c.exact.divisions.n, 64);
    strcat(text, "[division 65]\n");
    parse_fails_with(text, "t.conf:67: [division 65]: too many division sections; allowed: at most 64");
    char list[1024] = "[exact]\ndivisions = 1";
    for (int i = 2; i <= 65; i++)
        snprintf(list + strlen(list), sizeof(list) - strlen(list), ",%d", i);
    parse_fails_with(list, "more than 64 numbers");
}

/* Secrets are refused wherever they appear, and the message never repeats them. */
static void secrets_are_refused_without_echo(void **state)
{
    (void)state;
    parse_fails("[exact]\nregion = nl\nclient_secret = Sup3rS3cretValue\n",
                "t.conf:3: [exact] client_secret: secrets do not belong in the config file; store "
                "it with 'mlc secret set exact.client_secret' and remove this line");
    static const struct { const char *text; const char *secret; } cases[] = {
        { "[plaid]\nsecret = sk-abcdef123456\n", "sk-abcdef123456" },
        { "[plaid]\nSECRET = \"sk-abcdef123456\"\n", "sk-abcdef123456" },
        { "[exact]\naccess_token = AAAA1111BBBB\n", "AAAA1111BBBB" },
        { "[agent]\nproxy_password = hunter2hunter2\n", "hunter2hunter2" },
        { "[plaid]\napi_key = k-998877665544\n", "k-998877665544" },
        { "[unknown]\nrefresh_token = RT-55555555\n", "RT-55555555" },
        { "[exact]\nclient_secret: CS-4242424242\n", "CS-4242424242" },
        { "client_secret = CS-4242424242\n", "CS-4242424242" },
        { "[division 5]\ntoken = TK-31313131\n", "TK-31313131" },
        { "[status]\npublic_url = https://admin:pw-0000000@status.example.com/\n", "pw-0000000" },
        { "[plaid]\nwebhook_url = https://u:pw-1111111@h.example.com/\n", "pw-1111111" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct mlc_config c;
        int rc = mlc_config_parse(&c, cases[i].text, strlen(cases[i].text), "t.conf", err,
                                  sizeof(err));
        assert_int_equal(rc, MLC_ERR_CONFIG);
        if (!strstr(err, "secret") && !strstr(err, "password"))
            fail_msg("case %zu not refused as a secret: %s", i, err);
        if (strstr(err, cases[i].secret))
            fail_msg("case %zu echoes the secret: %s", i, err);
    }
    parse_fails_with("[division 5]\ntoken = TK-31313131\n", "'mlc secret set division.5.token'");
    /* In an unknown section: both the section and the secret are reported. */
    struct mlc_config c;
    const char *t = "[unknown]\nrefresh_token = RT-55555555\n";
    assert_int_equal(mlc_config_parse(&c, t, strlen(t), "t.conf", err, sizeof(err)), MLC_ERR_CONFIG);
    assert_non_null(strstr(err, "\nt.conf:2: [unknown] refresh_token: secrets do not belong in the "
                                "config file; store it with 'mlc secret set refresh_token'"));
}

/* All problems are listed, one self-contained line each, up to a cap. */
static void all_problems_listed_one_per_line(void **state)
{
    (void)state;
    parse_fails("[plaid]\nsync_count = 0\n[nope]\nx = 1\nclient_secret = abcdefgh\n[exact]\nregion = xx\n",
                "t.conf:2: [plaid] sync_count: 0 is out of range; allowed: 1..500\n"
                "t.conf:3: [nope]: unknown section; allowed: [agent], [store], [plaid], [exact], "
                "[schedule], [status], [http], [alerts], [board], [division N]\n"
                "t.conf:5: [nope] client_secret: secrets do not belong in the config file; store it "
                "with 'mlc secret set client_secret' and remove this line\n"
                "t.conf:7: [exact] region: 'xx' is not allowed; allowed: nl, be, de, fr, es, uk, us");

    char text[4096] = "[plaid]\n";
    for (int i = 0; i < 30; i++)
        strcat(text, "bogus = 1\n");
    struct mlc_config c;
    assert_int_equal(mlc_config_parse(&c, text, strlen(text), "t.conf", err, sizeof(err)),
                     MLC_ERR_CONFIG);
    size_t lines = 1;
    for (const char *p = err; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 21);
    assert_non_null(strstr(err, "\nt.conf: 10 more problems not shown; fix these and check again"));

    /* A small error buffer holds whole lines only, never a cut one. */
    char small[100];
    assert_int_equal(mlc_config_parse(&c, text, strlen(text), "t.conf", small, sizeof(small)),
                     MLC_ERR_CONFIG);
    assert_string_equal(small, "t.conf: 30 more problems not shown; fix these and check again");
    char mid[300];
    assert_int_equal(mlc_config_parse(&c, text, strlen(text), "t.conf", mid, sizeof(mid)),
                     MLC_ERR_CONFIG);
    assert_non_null(strstr(mid, "t.conf:2: [plaid] bogus: unknown key"));
    for (const char *line = mid; line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        size_t ll = strcspn(line, "\n");
        assert_memory_equal(line, "t.conf:", 7);
        assert_true(ll > 14);
        assert_memory_equal(line + ll - 14, "balance_source", 14);
    }
    /* NULL error buffer is fine */
    assert_int_equal(mlc_config_parse(&c, text, strlen(text), "t.conf", NULL, 0), MLC_ERR_CONFIG);
}

static void limits_are_enforced(void **state)
{
    (void)state;
    size_t big = MLC_CONFIG_FILE_MAX + 1;
    char *text = malloc(big);
    assert_non_null(text);
    memset(text, '#', big);
    struct mlc_config c;
    assert_int_equal(mlc_config_parse(&c, text, big, "t.conf", err, sizeof(err)), MLC_ERR_CONFIG);
    assert_string_equal(err, "t.conf: the file is larger than 1048576 bytes; allowed: a "
                             "configuration up to 1 MiB");
    /* A 4096-byte line is fine, a 4097-byte one is not. */
    memcpy(text, "[agent]\n", 8);
    memset(text + 8, '#', 4096);
    memcpy(text + 8 + 4096, "\n", 1);
    parse_ok(&c, (text[8 + 4097] = '\0', text));
    memset(text + 8, '#', 4097);
    memcpy(text + 8 + 4097, "\n", 2);
    parse_fails(text, "t.conf:2: [agent]: this line is longer than 4096 bytes; allowed: lines up to "
                      "4096 bytes");
    free(text);
    static const char nul[] = "[agent]\nlog_level = info\0debug\n";
    assert_int_equal(mlc_config_parse(&c, nul, sizeof(nul) - 1, "t.conf", err, sizeof(err)),
                     MLC_ERR_CONFIG);
    assert_string_equal(err, "t.conf:2: [agent]: this line holds a NUL byte; allowed: plain text");
    /* A value too long for its field */
    char url[700] = "[plaid]\nwebhook_url = https://h.example.com/";
    memset(url + strlen(url), 'a', 600);
    url[sizeof(url) - 1] = '\0';
    parse_fails_with(url, "[plaid] webhook_url: the value is");
}

static void reload_keeps_the_old_config_on_error(void **state)
{
    (void)state;
    char path[600];
    snprintf(path, sizeof(path), "%s/mlc.conf", mlc_test_tmpdir("config"));
    mlc_test_write(path, "[plaid]\nsync_count = 250\n");
    struct mlc_config cur;
    assert_int_equal(mlc_config_load(&cur, path, err, sizeof(err)), MLC_OK);
    assert_int_equal(cur.plaid.sync_count, 250);

    mlc_test_write(path, "[plaid]\nsync_count = 100\nlanguage = klingon\n");
    assert_int_equal(mlc_config_reload(&cur, path, err, sizeof(err)), MLC_ERR_CONFIG);
    char want[700];
    snprintf(want, sizeof(want), "%s:3: [plaid] language: 'klingon' is not allowed;", path);
    assert_memory_equal(err, want, strlen(want));
    assert_int_equal(cur.plaid.sync_count, 250);

    mlc_test_write(path, "[plaid]\nsync_count = 100\n");
    assert_int_equal(mlc_config_reload(&cur, path, err, sizeof(err)), MLC_OK);
    assert_int_equal(cur.plaid.sync_count, 100);

    /* A missing file is a config error with a way out, and the old config stays. */
    char missing[700];
    snprintf(missing, sizeof(missing), "%s.gone", path);
    assert_int_equal(mlc_config_reload(&cur, missing, err, sizeof(err)), MLC_ERR_CONFIG);
    assert_non_null(strstr(err, "does not exist; create it with 'mlc init'"));
    assert_int_equal(cur.plaid.sync_count, 100);

    /* Out of memory while reloading: old config kept, no leak. */
    mlc_alloc_fail_after(1);
    assert_int_equal(mlc_config_reload(&cur, path, err, sizeof(err)), MLC_ERR_NOMEM);
    mlc_alloc_fail_after(0);
    assert_int_equal(cur.plaid.sync_count, 100);
    for (long n = 1; n <= 3; n++) {
        mlc_alloc_fail_after(n);
        int rc = mlc_config_reload(&cur, path, err, sizeof(err));
        mlc_alloc_fail_after(0);
        assert_true(rc == MLC_OK || rc == MLC_ERR_NOMEM);
        assert_int_equal(cur.plaid.sync_count, 100);
    }
    mlc_config_free(&cur);
    mlc_config_free(NULL);
}

/* After a reload the caller can tell which changes wait for a restart. */
static void restart_only_keys_are_named(void **state)
{
    (void)state;
    struct mlc_config a, b;
    char names[256];
    parse_ok(&a, "[plaid]\nsync_count = 100\n");
    parse_ok(&b, "[plaid]\nsync_count = 200\n[agent]\nlog_level = debug\n");
    assert_int_equal(mlc_config_restart_needed(&a, &b, names, sizeof(names)), 0);
    assert_string_equal(names, "");
    parse_ok(&b, "[agent]\ndata_dir = /srv/mlc\n[status]\nbind = 0.0.0.0:8080\n[store]\n"
                 "map_size_max = 2G\n");
    assert_int_equal(mlc_config_restart_needed(&a, &b, names, sizeof(names)), 3);
    assert_string_equal(names, "[agent] data_dir, [store] map_size_max, [status] bind");
    char tiny[12];
    assert_int_equal(mlc_config_restart_needed(&a, &b, tiny, sizeof(tiny)), 3);
    assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
    assert_int_equal(mlc_config_restart_needed(&a, &b, NULL, 0), 3);
}

/* The shipped example is exactly what the table generates, and it parses to the defaults. */
static void example_file_matches_the_table(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(mlc_config_example_text(&text, &len), MLC_OK);
    assert_int_equal(strlen(text), len);
    struct mlc_config c, d;
    parse_ok(&c, text);
    mlc_config_defaults(&d);
    assert_memory_equal(&c, &d, sizeof(c));
    size_t n;
    const struct mlc_config_key *k = mlc_config_keys(&n);
    for (size_t i = 0; i < n; i++) {
        char line[200];
        snprintf(line, sizeof(line), "\n#%s = %s\n", k[i].name, k[i].def ? k[i].def : k[i].example);
        if (!strstr(text, line))
            fail_msg("example lacks the line '%s'", line + 1);
        /* Help is wrapped at 80 columns; its start is on the key's first comment line. */
        char help[64];
        snprintf(help, sizeof(help), "\n# %.50s", k[i].help);
        assert_non_null(strstr(text, help));
    }

    const char *src = getenv("MLC_SOURCE_DIR");
    assert_non_null(src);
    char path[600];
    snprintf(path, sizeof(path), "%s/etc/mlc.conf.example", src);
    if (getenv("MLC_UPDATE_EXAMPLE")) { /* regenerate after changing the table */
        remove(path);
        assert_int_equal(mlc_config_write_example(path), MLC_OK);
    }
    size_t flen = 0;
    char *shipped = mlc_test_slurp(path, &flen);
    if (!shipped)
        fail_msg("%s is missing; run MLC_UPDATE_EXAMPLE=1 ctest -R test_config", path);
    if (flen != len || memcmp(shipped, text, len) != 0)
        fail_msg("%s differs from the table; run MLC_UPDATE_EXAMPLE=1 ctest -R test_config", path);
    free(shipped);

    /* mlc init's writer: same bytes, and never over an existing file. */
    char out[600];
    snprintf(out, sizeof(out), "%s/mlc.conf", mlc_test_tmpdir("config-init"));
    assert_int_equal(mlc_config_write_example(out), MLC_OK);
    char *written = mlc_test_slurp(out, &flen);
    assert_non_null(written);
    assert_int_equal(flen, len);
    assert_memory_equal(written, text, len);
    free(written);
    mlc_test_write(out, "[plaid]\nsync_count = 7\n");
    assert_int_equal(mlc_config_write_example(out), MLC_ERR_EXISTS);
    written = mlc_test_slurp(out, NULL);
    assert_string_equal(written, "[plaid]\nsync_count = 7\n");
    free(written);
    assert_int_equal(mlc_config_load(&c, out, err, sizeof(err)), MLC_OK);
    assert_int_equal(c.plaid.sync_count, 7);
    mlc_free(text);
}

static void reference_lists_every_key(void **state)
{
    (void)state;
    char path[600];
    snprintf(path, sizeof(path), "%s/ref.txt", mlc_test_tmpdir("config-ref"));
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(mlc_config_print_reference(f), MLC_OK);
    fclose(f);
    char *ref = mlc_test_slurp(path, NULL);
    assert_non_null(ref);
    size_t n;
    const struct mlc_config_key *k = mlc_config_keys(&n);
    for (size_t i = 0; i < n; i++) {
        char want[128];
        snprintf(want, sizeof(want), "\n  %s (", k[i].name);
        assert_non_null(strstr(ref, want));
        assert_non_null(strstr(ref, k[i].help));
    }
    assert_non_null(strstr(ref, "[plaid]\n"));
    assert_non_null(strstr(ref, "[division N]\n"));
    assert_non_null(strstr(ref, "  sync_count (whole number)\n"
                                "      Transactions asked for per /transactions/sync page (Plaid "
                                "allows 1..500).\n"
                                "      allowed: 1..500\n"
                                "      default: 500\n"));
    assert_non_null(strstr(ref, "  redirect_uri (URL)\n"));
    assert_non_null(strstr(ref, "      default: not set\n"));
    free(ref);
}

static void no_memory_leaves_the_config_alone(void **state)
{
    (void)state;
    struct mlc_config c;
    mlc_config_defaults(&c);
    c.plaid.sync_count = 77;
    const char *text = "[plaid]\nsync_count = 5\n";
    size_t before = mlc_alloc_current();
    mlc_alloc_fail_after(1);
    int rc = mlc_config_parse(&c, text, strlen(text), "t.conf", err, sizeof(err));
    mlc_alloc_fail_after(0);
    assert_int_equal(rc, MLC_ERR_NOMEM);
    assert_int_equal(c.plaid.sync_count, 77);
    assert_non_null(strstr(err, "not enough memory"));
    assert_int_equal(mlc_alloc_current(), before);
}

/* Every test gives back all it allocated through the agent's allocator. */
static size_t heap_before;
static int note_heap(void **state)
{
    (void)state;
    heap_before = mlc_alloc_current();
    return 0;
}
static int check_heap(void **state)
{
    (void)state;
    if (mlc_alloc_current() != heap_before) {
        fprintf(stderr, "heap grew by %zu bytes\n", mlc_alloc_current() - heap_before);
        return -1;
    }
    return 0;
}
#define T(f) cmocka_unit_test_setup_teardown(f, note_heap, check_heap)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(defaults_are_the_documented_ones),
        T(every_default_and_example_is_valid),
        T(words_match_the_enums),
        T(value_parsers),
        T(a_full_config_is_read_as_written),
        T(crlf_and_bom_are_fine),
        T(each_mistake_names_file_line_section_and_key),
        T(rules_between_keys),
        T(secrets_are_refused_without_echo),
        T(all_problems_listed_one_per_line),
        T(limits_are_enforced),
        T(reload_keeps_the_old_config_on_error),
        T(restart_only_keys_are_named),
        T(example_file_matches_the_table),
        T(reference_lists_every_key),
        T(no_memory_leaves_the_config_alone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
