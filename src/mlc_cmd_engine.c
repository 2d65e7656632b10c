#include "mlc_cmd_engine.h"
#include "mlc_alloc.h"
#include "mlc_app.h"
#include "mlc_audit.h"
#include "mlc_cycle.h"
#include "mlc_engine.h"
#include "mlc_err.h"
#include "mlc_exact.h"
#include "mlc_exact_ref.h"
#include "mlc_journal.h"
#include "mlc_mapping.h"
#include "mlc_plaid.h"
#include "mlc_plaid_pull.h"
#include "mlc_platform.h"
#include "mlc_posting.h"
#include "mlc_rules.h"
#include "mlc_store.h"
#include "mlc_vault.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_MAX 1000       /* accounts, journals and mappings listed */

const char mlc_cmd_accounts_usage[] =
    "Usage: mlc accounts [--division N] [--refresh]\n\n"
    "Lists the Plaid bank accounts (institution, name, mask, currency, IBAN or account number,\n"
    "shown masked) and, per Exact division, its bank journals (code, IBAN, currency), with the\n"
    "mapping of each account and suggested matches: same IBAN first, then the account number,\n"
    "and the currency must agree. Unmapped accounts are never posted.\n"
    "Divisions: --division N, else [exact] divisions of the config. --refresh fetches the\n"
    "journals from Exact first (otherwise the local copy is used, fetched at most daily).\n";
const char mlc_cmd_map_usage[] =
    "Usage: mlc map PLAID_ACCOUNT --division N --journal CODE [--offset-gl CODE]\n"
    "               [--cost-center CODE]\n\n"
    "Posts PLAID_ACCOUNT's transactions into bank journal CODE of Exact division N. Lines that\n"
    "no coding rule matches go to the offset G/L account (e.g. the suspense account), with the\n"
    "cost center if given. The mapping is checked first: a bank journal, not blocked, same\n"
    "currency; the G/L account exists and is not blocked; the cost center exists and is given\n"
    "where the G/L account requires one. Mapping again replaces the mapping. Audited.\n";
const char mlc_cmd_unmap_usage[] =
    "Usage: mlc unmap PLAID_ACCOUNT\n\n"
    "Stops posting the account. What was posted stays in Exact. Audited.\n";
const char mlc_cmd_rules_add_usage[] =
    "Usage: mlc rules add NAME --gl CODE [--order N] [--account PLAID_ACCOUNT]\n"
    "                     [--merchant TEXT] [--name-contains TEXT] [--category CATEGORY]\n"
    "                     [--sign in|out] [--min AMOUNT] [--max AMOUNT] [--cost-center CODE]\n"
    "                     [--division N]\n\n"
    "Adds (or, for an existing NAME, replaces) a coding rule. Rules are tried in --order\n"
    "(default: after the last); the first whose every given matcher fits codes the line to\n"
    "G/L CODE (and the cost center, else the mapping's). Matchers: merchant name equal, name\n"
    "contains, Plaid category (primary or detailed) equal - all ignoring case; sign out (money\n"
    "out) or in; --min/--max bound the amount's size, exact decimals. The G/L code is looked\n"
    "up in division N (default: the first configured). Rules live in the store; changes are\n"
    "audited. Try a rule with 'mlc rules test'.\n";
const char mlc_cmd_rules_list_usage[] =
    "Usage: mlc rules list\n\nLists the coding rules in the order they are tried.\n";
const char mlc_cmd_rules_remove_usage[] =
    "Usage: mlc rules remove NAME\n\nRemoves a coding rule. Audited.\n";
const char mlc_cmd_rules_test_usage[] =
    "Usage: mlc rules test --amount AMOUNT [--name TEXT] [--merchant TEXT] [--category CAT]\n"
    "                      [--account PLAID_ACCOUNT]\n\n"
    "Shows which rule codes such a transaction (AMOUNT as Plaid gives it: positive = money\n"
    "out) and to which G/L account and cost center. With --account, the account's mapping\n"
    "gives the default when no rule matches.\n";
const char mlc_cmd_sync_usage[] =
    "Usage: mlc sync [--dry-run] [--account PLAID_ACCOUNT] [--since YYYY-MM-DD] [--no-pull]\n\n"
    "Runs one cycle now: pulls new transactions from Plaid, refreshes Exact's reference data,\n"
    "settles statements left in flight, then per mapped account posts the settled transactions\n"
    "not yet posted as bank entries (one per financial period, in date order), reversals of\n"
    "posted ones the bank changed or removed, and compares the closing balance with the bank's.\n"
    "--dry-run prints that plan - lines to post, reversals, held items and why, pending items,\n"
    "the balance effect - and posts nothing. --since leaves transactions dated before it alone.\n"
    "--no-pull works from what the agent already holds (no Plaid or Exact calls when dry).\n"
    "Exit 0 when all went through, 69 when something waits for a person, 75 when Exact or\n"
    "Plaid asked to try again later.\n";

/* ---- arguments ---- */

struct args {
    const char *pos;                 /* one positional word */
    const char *division, *journal, *gl, *cc, *order, *account, *merchant, *name_contains;
    const char *category, *sign, *min, *max, *amount, *name, *since;
    int refresh, dry_run, no_pull;
};

static int parse(const char *cmd, int argc, char **argv, const char *allowed, int want_pos,
                 struct args *a)
{
    static const struct {
        const char *flag;
        size_t off;
    } valued[] = {
        { "--division", offsetof(struct args, division) },
        { "--journal", offsetof(struct args, journal) },
        { "--offset-gl", offsetof(struct args, gl) },
        { "--gl", offsetof(struct args, gl) },
        { "--cost-center", offsetof(struct args, cc) },
        { "--order", offsetof(struct args, order) },
        { "--account", offsetof(struct args, account) },
        { "--merchant", offsetof(struct args, merchant) },
        { "--name-contains", offsetof(struct args, name_contains) },
        { "--category", offsetof(struct args, category) },
        { "--sign", offsetof(struct args, sign) },
        { "--min", offsetof(struct args, min) },
        { "--max", offsetof(struct args, max) },
        { "--amount", offsetof(struct args, amount) },
        { "--name", offsetof(struct args, name) },
        { "--since", offsetof(struct args, since) },
    };
    memset(a, 0, sizeof(*a));
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        int done = 0;
        char probe[40];
        snprintf(probe, sizeof(probe), " %s ", s);
        int ok = s[0] == '-' && strstr(allowed, probe) != NULL;
        for (size_t k = 0; ok && k < sizeof(valued) / sizeof(valued[0]); k++) {
            if (strcmp(s, valued[k].flag) != 0)
                continue;
            if (i + 1 >= argc) {
                mlc_cli_error("%s needs a value; run 'mlc %s --help'", s, cmd);
                return MLC_EXIT_USAGE;
            }
            *(const char **)((char *)a + valued[k].off) = argv[++i];
            done = 1;
        }
        if (ok && !done) {
            if (strcmp(s, "--refresh") == 0)
                a->refresh = done = 1;
            else if (strcmp(s, "--dry-run") == 0)
                a->dry_run = done = 1;
            else if (strcmp(s, "--no-pull") == 0)
                a->no_pull = done = 1;
        }
        if (done)
            continue;
        if (s[0] != '-' && want_pos && !a->pos) {
            a->pos = s;
            continue;
        }
        mlc_cli_error("'%s' does not take '%s'; run 'mlc %s --help'", cmd, s, cmd);
        return MLC_EXIT_USAGE;
    }
    if (want_pos && !a->pos) {
        mlc_cli_error("'%s' needs %s; run 'mlc %s --help'", cmd,
                      want_pos == 2 ? "a rule name" : "a Plaid account id ('mlc accounts')", cmd);
        return MLC_EXIT_USAGE;
    }
    return 0;
}

static int parse_division(const char *s, const struct mlc_config *cfg, uint32_t *out)
{
    if (!s) {
        *out = cfg->exact.divisions.n ? (uint32_t)cfg->exact.divisions.v[0] : 0;
        if (!*out)
            mlc_cli_error("no Exact division given; use --division N or set [exact] divisions");
        return *out ? 0 : MLC_EXIT_USAGE;
    }
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (!end || *end || v <= 0 || v > 2147483647L) {
        mlc_cli_error("--division needs an Exact division number, not '%s' ('mlc exact "
                      "divisions' lists them)", s);
        return MLC_EXIT_USAGE;
    }
    *out = (uint32_t)v;
    return 0;
}

static int parse_amount_arg(const char *flag, const char *s, struct mlc_amount *a)
{
    if (mlc_amount_parse(s, strlen(s), a) != MLC_OK) {
        mlc_cli_error("%s needs an amount like 12.50, not '%s'", flag, s);
        return MLC_EXIT_USAGE;
    }
    return 0;
}

/* ---- connections ---- */

/* The connections and the pull step are shared with `mlc run` (mlc_cycle). */

/* ---- accounts ---- */

struct acc_list {
    struct mlc_journal_account *v;
    size_t n;
};

static int collect_acc(void *ctx, const struct mlc_journal_account *a)
{
    struct acc_list *l = ctx;
    if (l->n >= LIST_MAX)
        return 1;
    l->v[l->n++] = *a;
    return 0;
}

static int load_accounts(struct mlc_store *st, struct acc_list *l)
{
    l->n = 0;
    if (!(l->v = mlc_calloc(LIST_MAX, sizeof(*l->v))))
        return MLC_ERR_NOMEM;
    struct mlc_txn *txn = NULL;
    int rc = mlc_store_begin(st, 1, &txn);
    if (rc == MLC_OK)
        rc = mlc_journal_account_each(txn, NULL, collect_acc, l);
    mlc_store_abort(txn);
    return rc;
}

/* Shows the last four characters only: the full numbers stay in the store. */
static void masked(const char *s, char *out, size_t cap)
{
    size_t n = strlen(s);
    if (!n)
        snprintf(out, cap, "-");
    else
        snprintf(out, cap, "****%s", n > 4 ? s + n - 4 : s);
}

struct journals {
    struct mlc_ref_journal v[64];
    size_t n;
};

static int collect_journal(void *ctx, const cJSON *row)
{
    struct journals *j = ctx;
    if (j->n >= sizeof(j->v) / sizeof(j->v[0]))
        return 1;
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(row, "Code");
    if (!cJSON_IsString(c))
        return 0;
    snprintf(j->v[j->n].code, sizeof(j->v[0].code), "%s", c->valuestring);
    j->n++;
    return 0;
}

int mlc_cmd_accounts(const struct mlc_cli *cli, int argc, char **argv)
{
    struct args a;
    int ec = parse("accounts", argc, argv, " --division --refresh ", 0, &a);
    if (ec)
        return ec;
    struct mlc_app app;
    if ((ec = mlc_app_open(&app, cli, a.refresh ? MLC_APP_VAULT : MLC_APP_STORE)) != 0)
        return ec;
    struct acc_list l = { 0 };
    struct mlc_exact *x = NULL;
    struct journals *js = mlc_calloc(1, sizeof(*js));
    uint32_t divs[64];
    size_t nd = 0;
    if (a.division) {
        if ((ec = parse_division(a.division, &app.cfg, &divs[0])) != 0)
            goto out;
        nd = 1;
    } else {
        for (size_t i = 0; i < app.cfg.exact.divisions.n && nd < 64; i++)
            divs[nd++] = (uint32_t)app.cfg.exact.divisions.v[i];
    }
    int rc = js ? load_accounts(app.store, &l) : MLC_ERR_NOMEM;
    if (rc != MLC_OK) {
        mlc_cli_error("could not read the bank accounts: %s", mlc_err_str(rc));
        ec = mlc_err_exit_code(rc);
        goto out;
    }
    if (a.refresh) {
        if ((rc = mlc_cycle_exact_open(&app, &x)) != MLC_OK) {
            mlc_cli_error("could not set up the Exact connection: %s", mlc_err_str(rc));
            ec = mlc_err_exit_code(rc);
            goto out;
        }
        for (size_t d = 0; d < nd; d++) {
            rc = mlc_exact_ref_refresh(x, app.store, divs[d], MLC_REF_JOURNALS, 0, 1, NULL);
            if (rc != MLC_OK) {
                mlc_cli_error("could not fetch the journals of division %u: %s", divs[d],
                              mlc_exact_last_error(x));
                ec = mlc_err_exit_code(rc);
                goto out;
            }
        }
    }
    printf("Plaid accounts:\n");
    if (!l.n)
        printf("  none yet: link a bank with 'mlc plaid link'\n");
    for (size_t i = 0; i < l.n; i++) {
        const struct mlc_journal_account *acc = &l.v[i];
        struct mlc_journal_item it;
        struct mlc_mapping m;
        struct mlc_txn *txn = NULL;
        int mapped = 0;
        char inst[128] = "?", num[48];
        if (mlc_store_begin(app.store, 1, &txn) == MLC_OK) {
            if (mlc_journal_item_get(txn, acc->item_id, &it) == MLC_OK)
                snprintf(inst, sizeof(inst), "%s", it.institution_name);
            mapped = mlc_mapping_get(txn, acc->account_id, &m) == MLC_OK;
            mlc_store_abort(txn);
        }
        const char *n = acc->iban[0] ? acc->iban
                        : acc->ach_account[0] ? acc->ach_account
                        : acc->bacs_account[0] ? acc->bacs_account : acc->eft_account;
        masked(n, num, sizeof(num));
        printf("  %s  %s | %s | mask %s | %s | %s %s\n", acc->account_id, inst, acc->name,
               acc->mask[0] ? acc->mask : "-", acc->currency, acc->iban[0] ? "IBAN" : "number",
               num);
        if (mapped)
            printf("      mapped: division %u journal %s, offset G/L %s, cost center %s\n",
                   m.division, m.journal, m.offset_gl_code[0] ? m.offset_gl_code : "(none)",
                   m.cost_center[0] ? m.cost_center : "(none)");
        else
            printf("      NOT MAPPED%s: its transactions are not posted\n",
                   acc->unmapped_new ? " (new at the bank)" : "");
        for (size_t d = 0; !mapped && d < nd; d++) {
            js->n = 0;
            if (mlc_exact_ref_each(app.store, divs[d], MLC_REF_JOURNALS, collect_journal, js) !=
                MLC_OK)
                continue;
            for (size_t k = 0; k < js->n; k++) {
                struct mlc_ref_journal j;
                if (mlc_exact_ref_journal(app.store, divs[d], js->v[k].code, &j) != MLC_OK)
                    continue;
                enum mlc_mapping_match mm = mlc_mapping_suggest(acc, &j);
                if (mm != MLC_MATCH_NONE)
                    printf("      suggested (%s match): mlc map %s --division %u --journal %s "
                           "--offset-gl <suspense G/L code>\n",
                           mm == MLC_MATCH_IBAN ? "IBAN" : "account number", acc->account_id,
                           divs[d], j.code);
            }
        }
    }
    for (size_t d = 0; d < nd; d++) {
        printf("\nExact division %u bank journals:\n", divs[d]);
        js->n = 0;
        rc = mlc_exact_ref_each(app.store, divs[d], MLC_REF_JOURNALS, collect_journal, js);
        if (rc != MLC_OK || !js->n)
            printf("  none known yet: run 'mlc accounts --refresh'\n");
        for (size_t k = 0; k < js->n; k++) {
            struct mlc_ref_journal j;
            if (mlc_exact_ref_journal(app.store, divs[d], js->v[k].code, &j) != MLC_OK)
                continue;
            printf("  %-8s %s | IBAN %s | %s%s\n", j.code, j.description,
                   j.iban[0] ? j.iban : "-", j.currency[0] ? j.currency : "-",
                   j.blocked ? " | BLOCKED" : "");
        }
    }
    if (!nd)
        printf("\nno Exact division configured: set [exact] divisions or give --division N\n");
out:
    mlc_exact_close(x);
    mlc_free(js);
    mlc_free(l.v);
    mlc_app_close(&app);
    return ec;
}

/* ---- map / unmap ---- */

int mlc_cmd_map(const struct mlc_cli *cli, int argc, char **argv)
{
    struct args a;
    int ec = parse("map", argc, argv, " --division --journal --offset-gl --cost-center ", 1, &a);
    if (ec)
        return ec;
    if (!a.division || !a.journal) {
        mlc_cli_error("'map' needs --division N and --journal CODE; run 'mlc map --help'");
        return MLC_EXIT_USAGE;
    }
    struct mlc_app app;
    if ((ec = mlc_app_open(&app, cli, MLC_APP_VAULT)) != 0)
        return ec;
    struct mlc_exact *x = NULL;
    struct mlc_txn *txn = NULL;
    struct mlc_mapping m;
    struct mlc_journal_account acc;
    char why[512];
    memset(&m, 0, sizeof(m));
    if ((ec = parse_division(a.division, &app.cfg, &m.division)) != 0)
        goto out;
    int rc = mlc_store_begin(app.store, 1, &txn);
    if (rc == MLC_OK)
        rc = mlc_journal_account_get(txn, a.pos, &acc);
    mlc_store_abort(txn);
    txn = NULL;
    if (rc != MLC_OK) {
        mlc_cli_error("no Plaid account %s is known; 'mlc accounts' lists them", a.pos);
        ec = MLC_EXIT_USAGE;
        goto out;
    }
    /* Reference data for the checks: fetched when this division has none yet. */
    if (!mlc_exact_ref_fetched_at(app.store, m.division, MLC_REF_JOURNALS) ||
        !mlc_exact_ref_fetched_at(app.store, m.division, MLC_REF_GLACCOUNTS)) {
        if (mlc_cycle_exact_open(&app, &x) != MLC_OK ||
            mlc_cycle_refresh_division(x, app.store, m.division, 0, NULL) != MLC_OK) {
            mlc_cli_error("the mapping cannot be checked: Exact's journals and G/L accounts of "
                          "division %u are not available (%s); check 'mlc exact status'",
                          m.division, x ? mlc_exact_last_error(x) : "no connection");
            ec = MLC_EXIT_UNAVAILABLE;
            goto out;
        }
    }
    snprintf(m.account_id, sizeof(m.account_id), "%s", a.pos);
    snprintf(m.journal, sizeof(m.journal), "%s", a.journal);
    if (a.cc)
        snprintf(m.cost_center, sizeof(m.cost_center), "%s", a.cc);
    if (a.gl) {
        rc = mlc_mapping_resolve_gl(app.store, m.division, a.gl, m.offset_gl, m.offset_gl_code);
        if (rc != MLC_OK) {
            mlc_cli_error("G/L account %s does not exist in division %u; 'mlc exact glaccounts' "
                          "lists them", a.gl, m.division);
            ec = MLC_EXIT_USAGE;
            goto out;
        }
    }
    rc = mlc_mapping_check(app.store, &m, acc.currency, why, sizeof(why));
    if (rc == MLC_ERR_NEEDS_PERSON) {
        mlc_cli_error("%s", why);
        ec = MLC_EXIT_UNAVAILABLE;
        goto out;
    }
    if (rc == MLC_OK && (rc = mlc_store_begin(app.store, 0, &txn)) == MLC_OK) {
        rc = mlc_mapping_put(txn, &m, mlc_time_now_ms());
        rc = rc == MLC_OK ? mlc_store_commit(txn) : (mlc_store_abort(txn), rc);
    }
    if (rc != MLC_OK) {
        mlc_cli_error("the mapping was not saved: %s", mlc_err_str(rc));
        ec = mlc_err_exit_code(rc);
        goto out;
    }
    printf("mapped %s to division %u journal %s%s%s%s%s\n", m.account_id, m.division, m.journal,
           m.offset_gl_code[0] ? ", offset G/L " : " (no offset G/L: every line needs a rule)",
           m.offset_gl_code, m.cost_center[0] ? ", cost center " : "", m.cost_center);
out:
    mlc_exact_close(x);
    mlc_app_close(&app);
    return ec;
}

int mlc_cmd_unmap(const struct mlc_cli *cli, int argc, char **argv)
{
    struct args a;
    int ec = parse("unmap", argc, argv, " ", 1, &a);
    if (ec)
        return ec;
    struct mlc_app app;
    if ((ec = mlc_app_open(&app, cli, MLC_APP_STORE)) != 0)
        return ec;
    struct mlc_txn *txn = NULL;
    int rc = mlc_store_begin(app.store, 0, &txn);
    if (rc == MLC_OK) {
        rc = mlc_mapping_del(txn, a.pos, mlc_time_now_ms());
        rc = rc == MLC_OK ? mlc_store_commit(txn) : (mlc_store_abort(txn), rc);
    }
    if (rc == MLC_ERR_NOTFOUND) {
        mlc_cli_error("%s is not mapped; 'mlc accounts' shows the mappings", a.pos);
        ec = MLC_EXIT_USAGE;
    } else if (rc != MLC_OK) {
        mlc_cli_error("the mapping was not removed: %s", mlc_err_str(rc));
        ec = mlc_err_exit_code(rc);
    } else {
        printf("unmapped %s: its transactions are no longer posted\n", a.pos);
    }
    mlc_app_close(&app);
    return ec;
}

/* ---- rules ---- */

struct last_order {
    unsigned max;
};

static int rule_max(void *ctx, const struct mlc_rule *r)
{
    struct last_order *l = ctx;
    if (r->order > l->max)
        l->max = r->order;
    return 0;
}

int mlc_cmd_rules_add(const struct mlc_cli *cli, int argc, char **argv)
{
    struct args a;
    int ec = parse("rules add", argc, argv,
                   " --gl --order --account --merchant --name-contains --category --sign --min "
                   "--max --cost-center --division ", 2, &a);
    if (ec)
        return ec;
    struct mlc_rule r;
    memset(&r, 0, sizeof(r));
    if (!a.gl) {
        mlc_cli_error("'rules add' needs --gl CODE: the G/L account the rule codes to");
        return MLC_EXIT_USAGE;
    }
    if (strlen(a.pos) > MLC_RULE_NAME_MAX) {
        mlc_cli_error("the rule name is longer than %d characters", MLC_RULE_NAME_MAX);
        return MLC_EXIT_USAGE;
    }
    snprintf(r.name, sizeof(r.name), "%s", a.pos);
    const char *texts[][2] = { { a.account, r.account_id }, { a.merchant, r.merchant },
                               { a.name_contains, r.name_contains }, { a.category, r.category },
                               { a.cc, r.cost_center } };
    size_t caps[] = { sizeof(r.account_id), sizeof(r.merchant), sizeof(r.name_contains),
                      sizeof(r.category), sizeof(r.cost_center) };
    for (size_t i = 0; i < 5; i++) {
        if (!texts[i][0])
            continue;
        if (strlen(texts[i][0]) >= caps[i]) {
            mlc_cli_error("'%s' is too long for a rule (at most %zu characters)", texts[i][0],
                          caps[i] - 1);
            return MLC_EXIT_USAGE;
        }
        memcpy((char *)texts[i][1], texts[i][0], strlen(texts[i][0]) + 1);
    }
    if (a.sign) {
        if (strcmp(a.sign, "out") == 0)
            r.sign = MLC_SIGN_OUT;
        else if (strcmp(a.sign, "in") == 0)
            r.sign = MLC_SIGN_IN;
        else {
            mlc_cli_error("--sign takes 'in' (money in) or 'out' (money out), not '%s'", a.sign);
            return MLC_EXIT_USAGE;
        }
    }
    if (a.min && (ec = parse_amount_arg("--min", a.min, &r.min)) != 0)
        return ec;
    if (a.max && (ec = parse_amount_arg("--max", a.max, &r.max)) != 0)
        return ec;
    r.has_min = a.min != NULL;
    r.has_max = a.max != NULL;
    struct mlc_amount zero = { 0, 0 };
    if ((r.has_min && mlc_amount_cmp(r.min, zero) < 0) ||
        (r.has_max && mlc_amount_cmp(r.max, zero) < 0) ||
        (r.has_min && r.has_max && mlc_amount_cmp(r.min, r.max) > 0)) {
        mlc_cli_error("--min and --max bound the amount's size: give 0 <= min <= max (use "
                      "--sign for the direction)");
        return MLC_EXIT_USAGE;
    }
    if (a.order) {
        char *end = NULL;
        long v = strtol(a.order, &end, 10);
        if (!end || *end || v < 0 || v > 99999999L) {
            mlc_cli_error("--order needs a number from 0 to 99999999, not '%s'", a.order);
            return MLC_EXIT_USAGE;
        }
        r.order = (unsigned)v;
    }
    struct mlc_app app;
    if ((ec = mlc_app_open(&app, cli, MLC_APP_STORE)) != 0)
        return ec;
    uint32_t division;
    struct mlc_txn *txn = NULL;
    if ((ec = parse_division(a.division, &app.cfg, &division)) != 0)
        goto out;
    int rc = mlc_mapping_resolve_gl(app.store, division, a.gl, r.gl, r.gl_code);
    if (rc != MLC_OK) {
        mlc_cli_error("G/L account %s is not among division %u's G/L accounts known here; "
                      "'mlc exact glaccounts' lists (and fetches) them", a.gl, division);
        ec = MLC_EXIT_USAGE;
        goto out;
    }
    if ((rc = mlc_store_begin(app.store, 0, &txn)) == MLC_OK) {
        if (!a.order) {
            struct last_order l = { 0 };
            rc = mlc_rules_each(txn, rule_max, &l);
            r.order = l.max + 10;
        }
        if (rc == MLC_OK)
            rc = mlc_rules_put(txn, &r, mlc_time_now_ms());
        rc = rc == MLC_OK ? mlc_store_commit(txn) : (mlc_store_abort(txn), rc);
    }
    if (rc == MLC_ERR_EXISTS) {
        mlc_cli_error("another rule has order %u; choose another --order ('mlc rules list')",
                      r.order);
        ec = MLC_EXIT_USAGE;
    } else if (rc != MLC_OK) {
        mlc_cli_error("the rule was not saved: %s", mlc_err_str(rc));
        ec = mlc_err_exit_code(rc);
    } else {
        char d[1024];
        mlc_rule_describe(&r, d, sizeof(d));
        printf("saved rule %s\n", d);
    }
out:
    mlc_app_close(&app);
    return ec;
}

static int print_rule(void *ctx, const struct mlc_rule *r)
{
    size_t *n = ctx;
    char d[1024];
    mlc_rule_describe(r, d, sizeof(d));
    printf("%s\n", d);
    (*n)++;
    return 0;
}

int mlc_cmd_rules_list(const struct mlc_cli *cli, int argc, char **argv)
{
    struct args a;
    int ec = parse("rules list", argc, argv, " ", 0, &a);
    if (ec)
        return ec;
    struct mlc_app app;
    if ((ec = mlc_app_open(&app, cli, MLC_APP_STORE)) != 0)
        return ec;
    struct mlc_txn *txn = NULL;
    size_t n = 0;
    int rc = mlc_store_begin(app.store, 1, &txn);
    if (rc == MLC_OK)
        rc = mlc_rules_each(txn, print_rule, &n);
    mlc_store_abort(txn);
    if (rc != MLC_OK) {
        mlc_cli_error("the rules could not be read: %s", mlc_err_str(rc));
        ec = mlc_err_exit_code(rc);
    } else if (!n) {
        printf("no coding rules: every line goes to its mapping's offset G/L account\n");
    }
    mlc_app_close(&app);
    return ec;
}

int mlc_cmd_rules_remove(const struct mlc_cli *cli, int argc, char **argv)
{
    struct args a;
    int ec = parse("rules remove", argc, argv, " ", 2, &a);
    if (ec)
        return ec;
    struct mlc_app app;
    if ((ec = mlc_app_open(&app, cli, MLC_APP_STORE)) != 0)
        return ec;
    struct mlc_txn *txn = NULL;
    int rc = mlc_store_begin(app.store, 0, &txn);
    if (rc == MLC_OK) {
        rc = mlc_rules_del(txn, a.pos, mlc_time_now_ms());
        rc = rc == MLC_OK ? mlc_store_commit(txn) : (mlc_store_abort(txn), rc);
    }
    if (rc == MLC_ERR_NOTFOUND) {
        mlc_cli_error("no rule named %s; 'mlc rules list' shows them", a.pos);
        ec = MLC_EXIT_USAGE;
    } else if (rc != MLC_OK) {
        mlc_cli_error("the rule was not removed: %s", mlc_err_str(rc));
        ec = mlc_err_exit_code(rc);
    } else {
        printf("removed rule %s\n", a.pos);
    }
    mlc_app_close(&app);
    return ec;
}

int mlc_cmd_rules_test(const struct mlc_cli *cli, int argc, char **argv)
{
    struct args a;
    int ec = parse("rules test", argc, argv, " --name --merchant --amount --category --account ",
                   0, &a);
    if (ec)
        return ec;
    if (!a.amount) {
        mlc_cli_error("'rules test' needs --amount (as Plaid gives it: positive = money out)");
        return MLC_EXIT_USAGE;
    }
    struct mlc_rule_input in = { a.account, a.name ? a.name : "", a.merchant ? a.merchant : "",
                                 a.category ? a.category : "", "", { 0, 0 } };
    if ((ec = parse_amount_arg("--amount", a.amount, &in.amount)) != 0)
        return ec;
    struct mlc_app app;
    if ((ec = mlc_app_open(&app, cli, MLC_APP_STORE)) != 0)
        return ec;
    struct mlc_txn *txn = NULL;
    struct mlc_mapping m;
    struct mlc_coding c;
    int have_map = 0;
    int rc = mlc_store_begin(app.store, 1, &txn);
    if (rc == MLC_OK && a.account) {
        rc = mlc_mapping_get(txn, a.account, &m);
        have_map = rc == MLC_OK;
        if (rc == MLC_ERR_NOTFOUND)
            rc = MLC_OK;
    }
    if (rc == MLC_OK)
        rc = mlc_rules_code(txn, have_map ? &m : NULL, &in, &c);
    mlc_store_abort(txn);
    if (rc == MLC_ERR_NOTFOUND) {
        printf("no rule matches%s: the line would be held until a rule or an offset G/L "
               "account codes it\n", have_map ? " and the mapping has no offset G/L" : "");
        ec = MLC_EXIT_UNAVAILABLE;
    } else if (rc != MLC_OK) {
        mlc_cli_error("the rules could not be read: %s", mlc_err_str(rc));
        ec = mlc_err_exit_code(rc);
    } else if (strcmp(c.rule, "default") == 0) {
        printf("no rule matches: the mapping's default codes it: G/L %s, cost center %s\n",
               c.gl_code[0] ? c.gl_code : c.gl, c.cost_center[0] ? c.cost_center : "(none)");
    } else {
        printf("rule %s codes it: G/L %s, cost center %s\n", c.rule,
               c.gl_code[0] ? c.gl_code : c.gl, c.cost_center[0] ? c.cost_center : "(none)");
    }
    mlc_app_close(&app);
    return ec;
}

/* ---- sync ---- */

int mlc_cmd_sync(const struct mlc_cli *cli, int argc, char **argv)
{
    struct args a;
    int ec = parse("sync", argc, argv, " --dry-run --account --since --no-pull ", 0, &a);
    if (ec)
        return ec;
    int64_t since_ms;
    if (a.since && mlc_audit_parse_date(a.since, &since_ms) != MLC_OK) {
        mlc_cli_error("--since needs a date as YYYY-MM-DD, not '%s'", a.since);
        return MLC_EXIT_USAGE;
    }
    struct mlc_app app;
    if ((ec = mlc_app_open(&app, cli, MLC_APP_VAULT)) != 0)
        return ec;
    struct mlc_cycle_pull pc = { .app = &app };
    struct mlc_engine_report rep;
    struct mlc_poster poster;
    mlc_engine_report_init(&rep);
    int rc = MLC_OK;
    int need_exact = !a.dry_run || !a.no_pull;
    if (need_exact && (rc = mlc_cycle_exact_open(&app, &pc.x)) != MLC_OK) {
        mlc_cli_error("could not set up the Exact connection: %s", mlc_err_str(rc));
        ec = mlc_err_exit_code(rc);
        goto out;
    }
    if (!a.no_pull && (rc = mlc_cycle_plaid_open(&app, &pc.p)) != MLC_OK) {
        mlc_cli_error("could not set up the Plaid connection (%s); are the credentials stored "
                      "('mlc secret set plaid.client_id')?", mlc_err_str(rc));
        ec = mlc_err_exit_code(rc);
        goto out;
    }
    if (pc.x)
        mlc_engine_exact_poster(&poster, pc.x);
    struct mlc_engine_opts o = { .dry_run = a.dry_run, .account_id = a.account,
                                 .since = a.since, .poster = pc.x ? &poster : NULL,
                                 .closed_policy = app.cfg.exact.closed_periods,
                                 .pull = a.no_pull ? NULL : mlc_cycle_pull_all, .pull_ctx = &pc };
    rc = mlc_engine_run(app.store, &o, &rep);
    if (rep.text.data)
        fputs(rep.text.data, stdout);
    if (rc == MLC_ERR_NOTFOUND && a.account) {
        mlc_cli_error("no Plaid account %s is known; 'mlc accounts' lists them", a.account);
        ec = MLC_EXIT_USAGE;
        goto out;
    }
    if (rc != MLC_OK) {
        mlc_cli_error("the sync stopped: %s", mlc_err_str(rc));
        ec = mlc_err_exit_code(rc);
        goto out;
    }
    printf("%s: %zu statement%s posted (%zu lines, %zu reversals), %zu held, %zu pending%s\n",
           a.dry_run ? "dry run, nothing posted" : "done", rep.statements_posted,
           rep.statements_posted == 1 ? "" : "s", rep.lines_posted, rep.reversals_posted,
           rep.held, rep.pending, rep.retry_later ? ", some to retry later" : "");
    if (rep.retry_later || pc.retry)
        ec = MLC_EXIT_TEMPFAIL;
    if (rep.held || pc.person)
        ec = MLC_EXIT_UNAVAILABLE;
out:
    mlc_engine_report_free(&rep);
    mlc_plaid_free(pc.p);
    mlc_exact_close(pc.x);
    mlc_app_close(&app);
    return ec;
}
