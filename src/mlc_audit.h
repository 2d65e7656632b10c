/* The audit trail: an append-only, hash-chained log of everything the agent did (pulled, coded,
 * posted, held, ...) in MLC_DB_AUDIT, plus its anchor "audit.head" in MLC_DB_META. This module
 * owns the record encoding, the chain, verification and export; it never changes other state.
 *
 * Chain: record n stores prev_hash = hash of record n-1 (32 zero bytes for record 1) and
 * hash = SHA-256(prev_hash || canonical encoding of record n). The anchor holds the newest
 * sequence number and hash, written in the same transaction as the record, so deleting the newest
 * records is detected as well as changing, removing or reordering any record. */
#ifndef MLC_AUDIT_H
#define MLC_AUDIT_H
#include "mlc_buf.h"
#include "mlc_decimal.h"
#include "mlc_store.h"

#include <stddef.h>
#include <stdint.h>

enum mlc_audit_type {
    MLC_AUDIT_NOTE = 1,           /* anything else worth keeping; the text is in detail */
    MLC_AUDIT_PULLED = 2,         /* a transaction came in from Plaid */
    MLC_AUDIT_CODED = 3,          /* a transaction was coded by a rule (rule = which one) */
    MLC_AUDIT_POSTED = 4,         /* a line was posted: statement, Exact EntryID and line */
    MLC_AUDIT_HELD = 5,           /* a transaction was held back; detail = the reason */
    MLC_AUDIT_REVERSED = 6,       /* a posted line was reversed (Plaid removed/changed it) */
    MLC_AUDIT_BALANCE = 7,        /* a bank balance was written to Exact */
    MLC_AUDIT_RECONCILED = 8,     /* a reconciliation ran; detail = the result */
    MLC_AUDIT_TOKEN_REFRESH = 9,  /* an Exact or Plaid token was refreshed (never the token) */
    MLC_AUDIT_CONSENT = 10,       /* consent granted, expiring, revoked, re-granted */
    MLC_AUDIT_MAPPING = 11,       /* an account mapping changed */
    MLC_AUDIT_CONFIG = 12,        /* the configuration changed */
    MLC_AUDIT__LAST = 12
};

/* Caps on each text field, in bytes (without the NUL). IDs longer than their cap are refused;
 * a longer detail is cut at a character boundary and ends in "...". */
#define MLC_AUDIT_ID_MAX 128        /* Plaid item/account/transaction ids, statement, rule */
#define MLC_AUDIT_JOURNAL_MAX 32    /* Exact journal code */
#define MLC_AUDIT_ENTRY_MAX 64      /* Exact EntryID (a GUID) */
#define MLC_AUDIT_CURRENCY_MAX 16   /* ISO 4217 code, or Plaid's unofficial code (crypto) */
#define MLC_AUDIT_DETAIL_MAX 1024
#define MLC_AUDIT_HASH_LEN 32
/* The largest encoded record (fixed part, nine length-prefixed texts, two hashes). */
#define MLC_AUDIT_RECORD_MAX (36 + 9 * 2 + 5 * MLC_AUDIT_ID_MAX + MLC_AUDIT_JOURNAL_MAX + \
                              MLC_AUDIT_ENTRY_MAX + MLC_AUDIT_CURRENCY_MAX + MLC_AUDIT_DETAIL_MAX + \
                              2 * MLC_AUDIT_HASH_LEN)
/* The anchor's key in MLC_DB_META: 8-byte big-endian sequence number + 32-byte hash. */
#define MLC_AUDIT_HEAD_KEY "audit.head"

/* What the caller describes. Texts are NULL or "" when not relevant; they must be valid UTF-8
 * (detail is repaired: invalid bytes become '?'). Numbers are 0 when not relevant. */
struct mlc_audit_event {
    enum mlc_audit_type type;
    int64_t time_ms;              /* when it happened (UTC epoch ms); 0 = now */
    const char *item_id;          /* Plaid */
    const char *account_id;       /* Plaid */
    const char *transaction_id;   /* Plaid */
    uint32_t division;            /* Exact division number */
    const char *journal;          /* Exact journal code */
    const char *statement;        /* our statement (batch) id */
    const char *entry_id;         /* Exact EntryID */
    uint32_t line;                /* line number within the Exact entry (1-based) */
    const char *rule;             /* coding rule that matched */
    int has_amount;
    struct mlc_amount amount;     /* exact: units * 10^-scale */
    const char *currency;
    const char *detail;           /* free text for people: a reason, a result, what changed */
};

/* A decoded record: everything of the event plus its place in the chain. */
struct mlc_audit_record {
    uint64_t seq;
    int64_t time_ms;
    enum mlc_audit_type type;
    char item_id[MLC_AUDIT_ID_MAX + 1];
    char account_id[MLC_AUDIT_ID_MAX + 1];
    char transaction_id[MLC_AUDIT_ID_MAX + 1];
    uint32_t division;
    char journal[MLC_AUDIT_JOURNAL_MAX + 1];
    char statement[MLC_AUDIT_ID_MAX + 1];
    char entry_id[MLC_AUDIT_ENTRY_MAX + 1];
    uint32_t line;
    char rule[MLC_AUDIT_ID_MAX + 1];
    int has_amount;
    struct mlc_amount amount;
    char currency[MLC_AUDIT_CURRENCY_MAX + 1];
    char detail[MLC_AUDIT_DETAIL_MAX + 1];
    uint8_t prev_hash[MLC_AUDIT_HASH_LEN];
    uint8_t hash[MLC_AUDIT_HASH_LEN];  /* as stored; mlc_audit_verify checks it */
};

/* Appends one record inside the caller's write transaction, so it commits (or not) together with
 * the change it describes. Reads the newest record and the anchor to chain on; refuses with
 * MLC_ERR_TAMPER when they disagree (newest records deleted or changed: appending would hide
 * it), MLC_ERR_DATA when the newest record is damaged or altered, or the event is invalid, MLC_ERR_TOO_BIG for
 * an over-long id. A store error (MAP_FULL...) spoils the transaction as usual. *seq_out may be
 * NULL. */
int mlc_audit_append_txn(struct mlc_txn *txn, const struct mlc_audit_event *ev, uint64_t *seq_out);
/* The same in a transaction of its own (growing the map once on MLC_ERR_MAP_FULL). */
int mlc_audit_append(struct mlc_store *st, const struct mlc_audit_event *ev, uint64_t *seq_out);

/* Encodes a record (seq, event, prev_hash; computes hash) into buf of cap bytes
 * (MLC_AUDIT_RECORD_MAX always suffices). Returns the length or a negative mlc_err. */
int mlc_audit_encode(uint64_t seq, const struct mlc_audit_event *ev,
                     const uint8_t prev_hash[MLC_AUDIT_HASH_LEN], uint8_t *buf, size_t cap);
/* Strict, bounded decoding of stored bytes: any deviation from the format is MLC_ERR_DATA.
 * Does not check the hash (mlc_audit_verify does, knowing the previous record). */
int mlc_audit_decode(const void *val, size_t len, struct mlc_audit_record *out);
/* 1 if the stored hash equals SHA-256(prev_hash || canonical part) of these bytes, 0 if not
 * (including bytes too short to hold a record). */
int mlc_audit_hash_ok(const void *val, size_t len);

/* The newest sequence number and hash per the anchor; MLC_ERR_NOTFOUND on an empty log. */
int mlc_audit_head(struct mlc_txn *txn, uint64_t *seq, uint8_t hash[MLC_AUDIT_HASH_LEN]);

struct mlc_audit_report {
    uint64_t records;             /* records walked */
    uint64_t head_seq;            /* newest sequence number (0 when empty) */
    uint8_t head_hash[MLC_AUDIT_HASH_LEN];
    int ok;                       /* 1 when the whole chain and the anchor are intact */
    uint64_t first_bad_seq;       /* when !ok: the first sequence number that fails */
    char problem[256];            /* when !ok: one line for people */
};
/* Walks the whole chain in one read transaction (O(n), one SHA-256 per record). Returns 0 when
 * the check ran (rep->ok tells the outcome) or a negative mlc_err when it could not run. */
int mlc_audit_verify(struct mlc_store *st, struct mlc_audit_report *rep);

enum mlc_audit_format { MLC_AUDIT_CSV = 0, MLC_AUDIT_JSON = 1 };
/* Largest export held in memory; a bigger one asks for a narrower date range. */
#define MLC_AUDIT_EXPORT_MAX (256u << 20)
/* Appends every record with from_ms <= time_ms <= to_ms to out, in sequence order.
 * CSV: header row, RFC 4180 (CRLF, quotes doubled); text cells starting with = + - @ tab or CR
 * get a leading ' so spreadsheets do not run them as formulas. JSON: one array of objects; the
 * amount is a string ("-42.50") so no reader turns it into a binary float. *count may be NULL.
 * MLC_ERR_DATA names the damaged record in the log. */
int mlc_audit_export(struct mlc_store *st, int64_t from_ms, int64_t to_ms,
                     enum mlc_audit_format fmt, struct mlc_buf *out, uint64_t *count);

/* "posted", "held", ... (the export's event column); "unknown" for a bad value. */
const char *mlc_audit_type_name(enum mlc_audit_type t);
/* Parses YYYY-MM-DD (a real calendar date, 1970..9999) to the epoch ms of 00:00:00.000 UTC. */
int mlc_audit_parse_date(const char *s, int64_t *ms);
/* Formats epoch ms as 2026-11-25T14:00:00.123Z into buf (at least 32 bytes). Returns buf. */
char *mlc_audit_format_time(int64_t ms, char *buf, size_t cap);
#endif
