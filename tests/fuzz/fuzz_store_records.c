/* libFuzzer target for the readers of records kept in the LMDB store: Plaid items, accounts and
 * journal transactions, account mappings, posting rules and alerts. The store file is outside
 * input the day a disk, a backup restore or a hand edit damages it, and every run reads these
 * records back. Byte 0 picks the record kind, the rest is stored raw as one record of that kind
 * (inside a write transaction that is never committed), then read through the module's public
 * getter or iterator. Promises checked: no crash, no read past the record, no leak; a damaged
 * record is refused (MLC_ERR_DATA) or read into a struct whose strings all end inside their
 * fields. Seeds: tests/fuzz/corpus/fuzz_store_records/ (records as the modules write them). */
#include "mlc_alert.h"
#include "mlc_alloc.h"
#include "mlc_err.h"
#include "mlc_journal.h"
#include "mlc_mapping.h"
#include "mlc_rules.h"
#include "mlc_store.h"

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct mlc_store *st;
static char dir[256];

static void check(int ok)
{
    if (!ok)
        abort();
}

#define TERMINATED(field) check(strnlen((field), sizeof(field)) < sizeof(field))

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void cleanup(void)
{
    mlc_store_close(st);
    st = NULL;
    if (dir[0])
        nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    mlc_alloc_install_hooks();
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/mlc-fuzz-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir) || mlc_store_open(&st, dir, NULL) != MLC_OK) {
        fprintf(stderr, "fuzz_store_records: cannot open a scratch store under %s\n", dir);
        exit(1);
    }
    atexit(cleanup);
    return 0;
}

static int on_item(void *ctx, const struct mlc_journal_item *it)
{
    (void)ctx;
    TERMINATED(it->item_id);
    TERMINATED(it->institution_id);
    TERMINATED(it->institution_name);
    TERMINATED(it->state_code);
    TERMINATED(it->state_message);
    TERMINATED(it->cursor);
    TERMINATED(it->start_cursor);
    TERMINATED(it->progress_cursor);
    check(mlc_journal_item_state_name(it->state) != NULL);
    return 0;
}

static int on_txn(void *ctx, const struct mlc_journal_txn *t)
{
    (void)ctx;
    TERMINATED(t->transaction_id);
    TERMINATED(t->account_id);
    TERMINATED(t->item_id);
    TERMINATED(t->pending_transaction_id);
    TERMINATED(t->date);
    TERMINATED(t->authorized_date);
    TERMINATED(t->amount);
    check(mlc_journal_txn_state_name(t->state) != NULL);
    return 0;
}

static int on_account(void *ctx, const struct mlc_journal_account *a)
{
    (void)ctx;
    TERMINATED(a->account_id);
    TERMINATED(a->item_id);
    TERMINATED(a->name);
    TERMINATED(a->mask);
    TERMINATED(a->type);
    TERMINATED(a->subtype);
    TERMINATED(a->currency);
    return 0;
}

static int on_mapping(void *ctx, const struct mlc_mapping *m)
{
    (void)ctx;
    TERMINATED(m->account_id);
    TERMINATED(m->journal);
    TERMINATED(m->offset_gl);
    TERMINATED(m->offset_gl_code);
    TERMINATED(m->cost_center);
    return 0;
}

static int on_rule(void *ctx, const struct mlc_rule *r)
{
    (void)ctx;
    char text[1024];
    TERMINATED(r->name);
    TERMINATED(r->account_id);
    TERMINATED(r->merchant);
    TERMINATED(r->name_contains);
    mlc_rule_describe(r, text, sizeof(text));
    TERMINATED(text);
    return 0;
}

static int on_alert(void *ctx, const struct mlc_alert *a)
{
    (void)ctx;
    TERMINATED(a->key);
    TERMINATED(a->message);
    TERMINATED(a->action);
    check(mlc_alert_kind_name(a->kind) != NULL && mlc_alert_severity_name(a->severity) != NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t *val = data + 1;
    size_t vlen = size - 1;
    size_t base = mlc_alloc_current();
    struct mlc_txn *txn = NULL;
    check(mlc_store_begin(st, 0, &txn) == MLC_OK);
    int rc = MLC_OK;
    switch (data[0] % 6) {
    case 0:
        check(mlc_store_put(txn, MLC_DB_ITEMS, "item-1", 6, val, vlen) == MLC_OK);
        rc = mlc_journal_item_each(txn, on_item, NULL);
        break;
    case 1:
        check(mlc_store_put(txn, MLC_DB_ACCOUNTS, "acc-1", 5, val, vlen) == MLC_OK);
        rc = mlc_journal_account_each(txn, NULL, on_account, NULL);
        break;
    case 2:
        check(mlc_store_put(txn, MLC_DB_TXNS, "acc-1/txn-1", 11, val, vlen) == MLC_OK);
        rc = mlc_journal_txn_each(txn, "acc-1", on_txn, NULL);
        break;
    case 3:
        check(mlc_store_put(txn, MLC_DB_MAPPINGS, "map/acc-1", 9, val, vlen) == MLC_OK);
        rc = mlc_mapping_each(txn, on_mapping, NULL);
        break;
    case 4:
        check(mlc_store_put(txn, MLC_DB_MAPPINGS, "rule/00000001", 13, val, vlen) == MLC_OK);
        rc = mlc_rules_each(txn, on_rule, NULL);
        break;
    default:
        check(mlc_store_put(txn, MLC_DB_ALERTS, "alert-1", 7, val, vlen) == MLC_OK);
        rc = mlc_alert_each(txn, on_alert, NULL);
        break;
    }
    check(rc == MLC_OK || rc == MLC_ERR_DATA || rc == MLC_ERR_NOMEM);
    mlc_store_abort(txn);
    check(mlc_alloc_current() == base);
    return 0;
}
