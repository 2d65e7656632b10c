/* libFuzzer target: mlc_audit_decode on arbitrary bytes, as a damaged disk could hand them over.
 * Decoding must never crash or read out of bounds; whatever decodes must re-encode to the very
 * same bytes (the encoding is canonical, so the hash chain covers exactly what was decoded), and
 * the stored hash is accepted only when it is the real one. */
#include "mlc_audit.h"
#include "mlc_err.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct mlc_audit_record r;
    static uint8_t again[MLC_AUDIT_RECORD_MAX];
    if (mlc_audit_decode(data, size, &r) != MLC_OK) {
        (void)mlc_audit_hash_ok(data, size);
        return 0;
    }
    if (size > MLC_AUDIT_RECORD_MAX || r.seq == 0 || r.time_ms < 0 ||
        strlen(r.detail) > MLC_AUDIT_DETAIL_MAX)
        abort();
    struct mlc_audit_event ev = {
        .type = r.type, .time_ms = r.time_ms, .item_id = r.item_id, .account_id = r.account_id,
        .transaction_id = r.transaction_id, .division = r.division, .journal = r.journal,
        .statement = r.statement, .entry_id = r.entry_id, .line = r.line, .rule = r.rule,
        .has_amount = r.has_amount, .amount = r.amount, .currency = r.currency,
        .detail = r.detail,
    };
    /* time 0 would mean "now" to append, but encode takes it as given. */
    int n = mlc_audit_encode(r.seq, &ev, r.prev_hash, again, sizeof(again));
    if (n < 0 || (size_t)n != size || memcmp(again, data, size - MLC_AUDIT_HASH_LEN) != 0)
        abort();
    int same_hash = memcmp(again + size - MLC_AUDIT_HASH_LEN, data + size - MLC_AUDIT_HASH_LEN,
                           MLC_AUDIT_HASH_LEN) == 0;
    if (same_hash != mlc_audit_hash_ok(data, size))
        abort();
    return 0;
}
