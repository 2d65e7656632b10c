/* libFuzzer target: mlc_plaid_sync_parse on arbitrary bytes. Every record handed out must hold
 * NUL-terminated, valid UTF-8 strings, and the parse must give back all the memory it took. */
#include "mlc_alloc.h"
#include "mlc_err.h"
#include "mlc_plaid_error.h"
#include "mlc_plaid_sync.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_str(const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);
    if (n == cap)
        abort();
    for (size_t i = 0; i < n;) {
        size_t k = mlc_plaid_utf8_seq((const unsigned char *)s + i, n - i);
        if (!k)
            abort();
        i += k;
    }
}
#define CHECK(field) check_str((field), sizeof(field))

static int on_txn(void *ctx, enum mlc_sync_kind kind, const struct mlc_plaid_txn *t)
{
    (void)ctx;
    (void)kind;
    CHECK(t->transaction_id);
    CHECK(t->account_id);
    CHECK(t->pending_transaction_id);
    CHECK(t->name);
    CHECK(t->merchant_name);
    CHECK(t->category);
    CHECK(t->category_detailed);
    CHECK(t->currency);
    CHECK(t->amount_text);
    if (!t->transaction_id[0] || !t->account_id[0] || strlen(t->date) != 10)
        abort();
    if (t->amount.scale > MLC_AMOUNT_MAX_SCALE)
        abort();
    return 0;
}

static int on_removed(void *ctx, const struct mlc_plaid_removed *r)
{
    (void)ctx;
    CHECK(r->transaction_id);
    CHECK(r->account_id);
    return 0;
}

static int on_account(void *ctx, const struct mlc_plaid_account *a)
{
    (void)ctx;
    CHECK(a->account_id);
    CHECK(a->name);
    CHECK(a->currency);
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    mlc_alloc_install_hooks();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mlc_plaid_sync_cb cb = { on_txn, on_removed, on_account, NULL };
    struct mlc_plaid_sync_page page;
    size_t base = mlc_alloc_current();
    int rc = mlc_plaid_sync_parse((const char *)data, size, &cb, &page);
    if (rc == MLC_OK)
        CHECK(page.next_cursor);
    if (mlc_alloc_current() != base)
        abort();
    return 0;
}
