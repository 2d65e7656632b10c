#include "mlc_plaid_sync.h"
#include "mlc_alloc.h"
#include "mlc_err.h"
#include "mlc_plaid_error.h"

#include <mbedtls/sha256.h>
#include <string.h>

/* A small pull parser over the page text instead of cJSON, for three reasons: cJSON turns numbers
 * into doubles (amounts must stay exact), it cannot say where a record's text starts and ends (the
 * audit digest needs the raw bytes), and a DOM of a whole page would cost several times the page in
 * heap. Here nothing is allocated but one record. */

struct jp {
    const char *s;
    size_t len;
    size_t pos;
    int depth;
};

#define KEY_MAX 48 /* longer keys are none of ours: skipped */

static void ws(struct jp *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

static int peek(struct jp *p)
{
    ws(p);
    return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1;
}

static int eat(struct jp *p, char c)
{
    if (peek(p) != (unsigned char)c)
        return MLC_ERR_DATA;
    p->pos++;
    return MLC_OK;
}

static int lit(struct jp *p, const char *word)
{
    size_t n = strlen(word);
    ws(p);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
        return MLC_ERR_DATA;
    p->pos += n;
    return MLC_OK;
}

static int hex4(const char *s, unsigned *v)
{
    *v = 0;
    for (int k = 0; k < 4; k++) {
        char c = s[k];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return MLC_ERR_DATA;
        *v = *v << 4 | d;
    }
    return MLC_OK;
}

/* Output of a decoded string: bounded, stops for good at the first piece that does not fit so a
 * later, shorter character cannot land after a gap. */
struct sink {
    char *dst;
    size_t cap, o;
    int full;
};

static void put(struct sink *k, const char *b, size_t n)
{
    if (!k->dst || k->full)
        return;
    if (k->o + n + 1 > k->cap) {
        k->full = 1;
        return;
    }
    memcpy(k->dst + k->o, b, n);
    k->o += n;
    k->dst[k->o] = '\0';
}

static void put_cp(struct sink *k, unsigned cp)
{
    char b[4];
    size_t n;
    if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
        cp = 0xFFFD; /* NUL would cut the C string; lone surrogates are not UTF-8 */
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | cp >> 6);
        b[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | cp >> 12);
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (char)(0xF0 | cp >> 18);
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    put(k, b, n);
}

/* Reads a JSON string at the cursor, decoding into k (which may have no dst: validate only).
 * Invalid UTF-8 and lone surrogates become U+FFFD (Exact must receive valid UTF-8); raw control
 * characters are a syntax error as RFC 8259 says. */
static int str(struct jp *p, struct sink *k)
{
    if (eat(p, '"') != MLC_OK)
        return MLC_ERR_DATA;
    while (p->pos < p->len) {
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '"') {
            p->pos++;
            return MLC_OK;
        }
        if (c < 0x20)
            return MLC_ERR_DATA;
        if (c != '\\') {
            size_t n = mlc_plaid_utf8_seq((const unsigned char *)p->s + p->pos, p->len - p->pos);
            if (n)
                put(k, p->s + p->pos, n);
            else
                put_cp(k, 0xFFFD);
            p->pos += n ? n : 1;
            continue;
        }
        if (p->len - p->pos < 2)
            return MLC_ERR_DATA;
        char e = p->s[p->pos + 1];
        p->pos += 2;
        static const char esc_in[] = "\"\\/bfnrt", esc_out[] = "\"\\/\b\f\n\r\t";
        const char *hit = e ? strchr(esc_in, e) : NULL;
        if (hit) {
            put(k, &esc_out[hit - esc_in], 1);
            continue;
        }
        unsigned cp, lo;
        if (e != 'u' || p->len - p->pos < 4 || hex4(p->s + p->pos, &cp) != MLC_OK)
            return MLC_ERR_DATA;
        p->pos += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF && p->len - p->pos >= 6 && p->s[p->pos] == '\\' &&
            p->s[p->pos + 1] == 'u' && hex4(p->s + p->pos + 2, &lo) == MLC_OK && lo >= 0xDC00 &&
            lo <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            p->pos += 6;
        }
        put_cp(k, cp);
    }
    return MLC_ERR_DATA;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* Validates a JSON number at the cursor and returns its text span. */
static int num(struct jp *p, size_t *start, size_t *end)
{
    ws(p);
    size_t i = p->pos;
    *start = i;
    if (i < p->len && p->s[i] == '-')
        i++;
    if (i >= p->len || !is_digit(p->s[i]))
        return MLC_ERR_DATA;
    if (p->s[i] == '0')
        i++;
    else
        while (i < p->len && is_digit(p->s[i]))
            i++;
    if (i < p->len && p->s[i] == '.') {
        i++;
        if (i >= p->len || !is_digit(p->s[i]))
            return MLC_ERR_DATA;
        while (i < p->len && is_digit(p->s[i]))
            i++;
    }
    if (i < p->len && (p->s[i] == 'e' || p->s[i] == 'E')) {
        i++;
        if (i < p->len && (p->s[i] == '+' || p->s[i] == '-'))
            i++;
        if (i >= p->len || !is_digit(p->s[i]))
            return MLC_ERR_DATA;
        while (i < p->len && is_digit(p->s[i]))
            i++;
    }
    p->pos = *end = i;
    return MLC_OK;
}

/* Container iteration. *first starts at 1. Returns 1 for another member, 0 at the end, <0 error. */
static int open_(struct jp *p, char c)
{
    if (eat(p, c) != MLC_OK)
        return MLC_ERR_DATA;
    if (++p->depth > MLC_SYNC_DEPTH_MAX)
        return MLC_ERR_TOO_BIG;
    return MLC_OK;
}

static int next(struct jp *p, char close, int *first)
{
    int c = peek(p);
    if (c == (unsigned char)close) {
        /* a trailing comma cannot get here: after a ',' the member/value parser meets the close
         * bracket and fails */
        p->pos++;
        p->depth--;
        return 0;
    }
    if (!*first && eat(p, ',') != MLC_OK)
        return MLC_ERR_DATA;
    *first = 0;
    return 1;
}

/* Next object member: decodes the key into key[KEY_MAX] ("" if longer) and eats the ':'. */
static int member(struct jp *p, int *first, char key[KEY_MAX])
{
    int r = next(p, '}', first);
    if (r <= 0)
        return r;
    struct sink k = { key, KEY_MAX, 0, 0 };
    key[0] = '\0';
    if (str(p, &k) != MLC_OK || eat(p, ':') != MLC_OK)
        return MLC_ERR_DATA;
    if (k.full)
        key[0] = '\0';
    return 1;
}

static int skip(struct jp *p)
{
    int c = peek(p), r, first = 1;
    char key[KEY_MAX];
    size_t a, b;
    switch (c) {
    case '{':
        if ((r = open_(p, '{')) != MLC_OK)
            return r;
        while ((r = member(p, &first, key)) == 1)
            if ((r = skip(p)) != MLC_OK)
                return r;
        return r;
    case '[':
        if ((r = open_(p, '[')) != MLC_OK)
            return r;
        while ((r = next(p, ']', &first)) == 1)
            if ((r = skip(p)) != MLC_OK)
                return r;
        return r;
    case '"': {
        struct sink none = { NULL, 0, 0, 0 };
        return str(p, &none);
    }
    case 't':
        return lit(p, "true");
    case 'f':
        return lit(p, "false");
    case 'n':
        return lit(p, "null");
    default:
        return num(p, &a, &b);
    }
}

static int is_null(struct jp *p)
{
    if (peek(p) == 'n')
        return lit(p, "null") == MLC_OK ? 1 : MLC_ERR_DATA;
    return 0;
}

/* String or null into dst. cut_ok: free text, cut at a UTF-8 boundary (sets *cut); otherwise an
 * identifier or code, refused when it does not fit. */
static int text(struct jp *p, char *dst, size_t cap, int cut_ok, int *cut)
{
    dst[0] = '\0';
    int n = is_null(p);
    if (n != 0)
        return n < 0 ? n : MLC_OK;
    struct sink k = { dst, cap, 0, 0 };
    if (str(p, &k) != MLC_OK)
        return MLC_ERR_DATA;
    if (k.full) {
        if (!cut_ok)
            return MLC_ERR_DATA;
        if (cut)
            *cut = 1;
    }
    return MLC_OK;
}

static int boolean(struct jp *p, int *v)
{
    int c = peek(p);
    if (c == 't' && lit(p, "true") == MLC_OK)
        *v = 1;
    else if (c == 'f' && lit(p, "false") == MLC_OK)
        *v = 0;
    else
        return MLC_ERR_DATA;
    return MLC_OK;
}

/* Number or null. *has = 0 for null or for a number that cannot be held exactly (*exact_err). */
static int amount(struct jp *p, struct mlc_amount *a, int *has, int *exact_err, char *textbuf,
                  size_t textcap)
{
    size_t s, e;
    *has = 0;
    *a = (struct mlc_amount){ 0, 0 };
    int n = is_null(p);
    if (n != 0)
        return n < 0 ? n : MLC_OK;
    if (num(p, &s, &e) != MLC_OK)
        return MLC_ERR_DATA;
    if (textbuf)
        mlc_plaid_utf8_copy(textbuf, textcap, p->s + s, e - s);
    if (mlc_amount_parse(p->s + s, e - s, a) != MLC_OK) {
        *a = (struct mlc_amount){ 0, 0 };
        if (exact_err)
            *exact_err = MLC_ERR_DATA;
        return MLC_OK;
    }
    *has = 1;
    return MLC_OK;
}

static int date(struct jp *p, char dst[11])
{
    if (text(p, dst, 11, 0, NULL) != MLC_OK)
        return MLC_ERR_DATA;
    if (!dst[0])
        return MLC_OK;
    for (int k = 0; k < 10; k++)
        if (k == 4 || k == 7 ? dst[k] != '-' : !is_digit(dst[k]))
            return MLC_ERR_DATA;
    static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int year = ((dst[0] - '0') * 10 + dst[1] - '0') * 100 + (dst[2] - '0') * 10 + dst[3] - '0';
    int mon = (dst[5] - '0') * 10 + dst[6] - '0', day = (dst[8] - '0') * 10 + dst[9] - '0';
    if (dst[10] != '\0' || mon < 1 || mon > 12 || day < 1 || day > mdays[mon - 1])
        return MLC_ERR_DATA;
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (mon == 2 && day == 29 && !leap)
        return MLC_ERR_DATA; /* a booking date Exact would refuse anyway */
    return MLC_OK;
}

static void cat(char *dst, size_t cap, const char *add)
{
    size_t o = strlen(dst);
    mlc_plaid_utf8_copy(dst + o, cap - o, add, strlen(add));
}

/* Legacy "category": ["Food and Drink", "Restaurants"] -> "Food and Drink > Restaurants". */
static int legacy_category(struct jp *p, char *dst, size_t cap)
{
    int first = 1, r, nn = is_null(p);
    if (nn != 0)
        return nn < 0 ? nn : MLC_OK;
    if ((r = open_(p, '[')) != MLC_OK)
        return r;
    while ((r = next(p, ']', &first)) == 1) {
        char part[128];
        if (text(p, part, sizeof(part), 1, NULL) != MLC_OK)
            return MLC_ERR_DATA;
        if (dst[0] && part[0])
            cat(dst, cap, " > ");
        cat(dst, cap, part);
    }
    return r;
}

static int currency(struct jp *p, const char *key, char dst[32], int *is_iso, int *seen_iso)
{
    char v[32];
    if (text(p, v, sizeof(v), 0, NULL) != MLC_OK)
        return MLC_ERR_DATA;
    /* exactly one of the two is set (SPEC); prefer the ISO code whichever comes first */
    if (strcmp(key, "iso_currency_code") == 0) {
        if (v[0]) {
            strcpy(dst, v);
            *is_iso = *seen_iso = 1;
        }
    } else if (v[0] && !*seen_iso) {
        strcpy(dst, v);
        *is_iso = 0;
    }
    return MLC_OK;
}

/* A field we read may appear once. With two "amount" members, this parser and whatever else
 * reads the audited raw text could disagree on the value, so such a record is refused. */
static int once(unsigned *seen, const char *key, const char *const *names, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (strcmp(key, names[k]) == 0) {
            if (*seen & (1u << k))
                return MLC_ERR_DATA;
            *seen |= 1u << k;
        }
    return MLC_OK;
}

static const char *const txn_fields[] = {
    "transaction_id", "account_id", "pending_transaction_id", "pending", "amount",
    "iso_currency_code", "unofficial_currency_code", "date", "authorized_date", "name",
    "merchant_name", "category", "personal_finance_category", "payment_channel",
};
static const char *const page_fields[] = {
    "added", "modified", "removed", "accounts", "has_more", "next_cursor",
    "transactions_update_status",
};
#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

static int parse_txn(struct jp *p, struct mlc_plaid_txn *t, int digest)
{
    unsigned seen = 0;
    char key[KEY_MAX], pfc[128] = "";
    int first = 1, r, has_amount = 0, has_pending = 0, seen_iso = 0, has_amt;
    memset(t, 0, sizeof(*t));
    peek(p);
    size_t start = p->pos;
    if ((r = open_(p, '{')) != MLC_OK)
        return r;
    while ((r = member(p, &first, key)) == 1) {
        if (once(&seen, key, txn_fields, NFIELDS(txn_fields)) != MLC_OK)
            return MLC_ERR_DATA;
        if (strcmp(key, "transaction_id") == 0)
            r = text(p, t->transaction_id, sizeof(t->transaction_id), 0, NULL);
        else if (strcmp(key, "account_id") == 0)
            r = text(p, t->account_id, sizeof(t->account_id), 0, NULL);
        else if (strcmp(key, "pending_transaction_id") == 0)
            r = text(p, t->pending_transaction_id, sizeof(t->pending_transaction_id), 0, NULL);
        else if (strcmp(key, "pending") == 0) {
            r = boolean(p, &t->pending);
            has_pending = 1;
        } else if (strcmp(key, "amount") == 0) {
            t->amount_err = MLC_OK;
            r = amount(p, &t->amount, &has_amt, &t->amount_err, t->amount_text,
                       sizeof(t->amount_text));
            has_amount = has_amt || t->amount_err != MLC_OK;
        } else if (strcmp(key, "iso_currency_code") == 0 ||
                   strcmp(key, "unofficial_currency_code") == 0)
            r = currency(p, key, t->currency, &t->currency_is_iso, &seen_iso);
        else if (strcmp(key, "date") == 0)
            r = date(p, t->date);
        else if (strcmp(key, "authorized_date") == 0)
            r = date(p, t->authorized_date);
        else if (strcmp(key, "name") == 0)
            r = text(p, t->name, sizeof(t->name), 1, &t->text_truncated);
        else if (strcmp(key, "merchant_name") == 0)
            r = text(p, t->merchant_name, sizeof(t->merchant_name), 1, &t->text_truncated);
        else if (strcmp(key, "category") == 0 && !pfc[0])
            r = legacy_category(p, t->category, sizeof(t->category));
        else if (strcmp(key, "personal_finance_category") == 0) {
            int nn = is_null(p), f2 = 1;
            if (nn < 0)
                return nn;
            if (nn)
                continue;
            if ((r = open_(p, '{')) != MLC_OK)
                return r;
            char k2[KEY_MAX];
            while ((r = member(p, &f2, k2)) == 1) {
                if (strcmp(k2, "primary") == 0)
                    r = text(p, pfc, sizeof(pfc), 1, NULL);
                else if (strcmp(k2, "detailed") == 0)
                    r = text(p, t->category_detailed, sizeof(t->category_detailed), 1, NULL);
                else
                    r = skip(p);
                if (r != MLC_OK)
                    return r;
            }
            if (r < 0)
                return r;
            r = MLC_OK;
        } else if (strcmp(key, "payment_channel") == 0) {
            char ch[16];
            r = text(p, ch, sizeof(ch), 1, NULL);
            t->payment_channel = strcmp(ch, "online") == 0     ? MLC_CHANNEL_ONLINE
                                 : strcmp(ch, "in store") == 0 ? MLC_CHANNEL_IN_STORE
                                 : strcmp(ch, "other") == 0    ? MLC_CHANNEL_OTHER
                                                               : MLC_CHANNEL_UNKNOWN;
        } else
            r = skip(p);
        if (r != MLC_OK)
            return r;
    }
    if (r < 0)
        return r;
    if (pfc[0]) /* the current taxonomy wins over the deprecated one */
        mlc_plaid_utf8_copy(t->category, sizeof(t->category), pfc, strlen(pfc));
    if (!t->transaction_id[0] || !t->account_id[0] || !has_amount || !has_pending || !t->date[0])
        return MLC_ERR_DATA;
    if (digest && mbedtls_sha256_ret((const unsigned char *)p->s + start, p->pos - start,
                                     t->raw_sha256, 0) != 0)
        return MLC_ERR_INTERNAL;
    return MLC_OK;
}

static int parse_removed(struct jp *p, struct mlc_plaid_removed *rm)
{
    char key[KEY_MAX];
    int first = 1, r;
    memset(rm, 0, sizeof(*rm));
    if ((r = open_(p, '{')) != MLC_OK)
        return r;
    while ((r = member(p, &first, key)) == 1) {
        if (strcmp(key, "transaction_id") == 0)
            r = text(p, rm->transaction_id, sizeof(rm->transaction_id), 0, NULL);
        else if (strcmp(key, "account_id") == 0)
            r = text(p, rm->account_id, sizeof(rm->account_id), 0, NULL);
        else
            r = skip(p);
        if (r != MLC_OK)
            return r;
    }
    if (r < 0)
        return r;
    return rm->transaction_id[0] ? MLC_OK : MLC_ERR_DATA;
}

static int parse_balances(struct jp *p, struct mlc_plaid_account *a)
{
    char key[KEY_MAX];
    int first = 1, r, seen_iso = 0, nn = is_null(p);
    if (nn != 0)
        return nn < 0 ? nn : MLC_OK;
    if ((r = open_(p, '{')) != MLC_OK)
        return r;
    while ((r = member(p, &first, key)) == 1) {
        if (strcmp(key, "current") == 0)
            r = amount(p, &a->current, &a->has_current, NULL, NULL, 0);
        else if (strcmp(key, "available") == 0)
            r = amount(p, &a->available, &a->has_available, NULL, NULL, 0);
        else if (strcmp(key, "iso_currency_code") == 0 ||
                 strcmp(key, "unofficial_currency_code") == 0)
            r = currency(p, key, a->currency, &a->currency_is_iso, &seen_iso);
        else
            r = skip(p);
        if (r != MLC_OK)
            return r;
    }
    return r < 0 ? r : MLC_OK;
}

static int parse_account(struct jp *p, struct mlc_plaid_account *a)
{
    char key[KEY_MAX];
    int first = 1, r;
    memset(a, 0, sizeof(*a));
    if ((r = open_(p, '{')) != MLC_OK)
        return r;
    while ((r = member(p, &first, key)) == 1) {
        if (strcmp(key, "account_id") == 0)
            r = text(p, a->account_id, sizeof(a->account_id), 0, NULL);
        else if (strcmp(key, "name") == 0)
            r = text(p, a->name, sizeof(a->name), 1, NULL);
        else if (strcmp(key, "mask") == 0)
            r = text(p, a->mask, sizeof(a->mask), 1, NULL);
        else if (strcmp(key, "type") == 0)
            r = text(p, a->type, sizeof(a->type), 1, NULL);
        else if (strcmp(key, "subtype") == 0)
            r = text(p, a->subtype, sizeof(a->subtype), 1, NULL);
        else if (strcmp(key, "balances") == 0)
            r = parse_balances(p, a);
        else
            r = skip(p);
        if (r != MLC_OK)
            return r;
    }
    if (r < 0)
        return r;
    return a->account_id[0] ? MLC_OK : MLC_ERR_DATA;
}

/* Scratch for one record of any kind: the only heap the parser uses. */
union record {
    struct mlc_plaid_txn txn;
    struct mlc_plaid_removed removed;
    struct mlc_plaid_account account;
};

enum arr { ARR_ADDED, ARR_MODIFIED, ARR_REMOVED, ARR_ACCOUNTS };

static int parse_array(struct jp *p, enum arr which, union record *rec,
                       const struct mlc_plaid_sync_cb *cb, size_t *count)
{
    int first = 1, r, nn = is_null(p);
    if (nn != 0)
        return nn < 0 ? nn : MLC_OK;
    if ((r = open_(p, '[')) != MLC_OK)
        return r;
    size_t cap = which == ARR_ACCOUNTS ? MLC_SYNC_ACCOUNTS_MAX
                 : which == ARR_REMOVED  ? MLC_SYNC_REMOVED_MAX
                                         : MLC_SYNC_ARRAY_MAX;
    while ((r = next(p, ']', &first)) == 1) {
        if (++*count > cap)
            return MLC_ERR_TOO_BIG;
        switch (which) {
        case ARR_ADDED:
        case ARR_MODIFIED:
            if ((r = parse_txn(p, &rec->txn, cb != NULL)) != MLC_OK)
                return r;
            if (cb && cb->txn &&
                (r = cb->txn(cb->ctx, which == ARR_ADDED ? MLC_SYNC_ADDED : MLC_SYNC_MODIFIED,
                             &rec->txn)) != 0)
                return r;
            break;
        case ARR_REMOVED:
            if ((r = parse_removed(p, &rec->removed)) != MLC_OK)
                return r;
            if (cb && cb->removed && (r = cb->removed(cb->ctx, &rec->removed)) != 0)
                return r;
            break;
        case ARR_ACCOUNTS:
            if ((r = parse_account(p, &rec->account)) != MLC_OK)
                return r;
            if (cb && cb->account && (r = cb->account(cb->ctx, &rec->account)) != 0)
                return r;
            break;
        }
    }
    return r < 0 ? r : MLC_OK;
}

/* One pass over the page. cb == NULL: validation only (no digests, no callbacks). */
static int parse_page(const char *json, size_t len, union record *rec,
                      const struct mlc_plaid_sync_cb *cb, struct mlc_plaid_sync_page *page)
{
    struct jp p = { json, len, 0, 0 };
    char key[KEY_MAX];
    int first = 1, r, has_more_seen = 0, cursor_seen = 0;
    unsigned seen = 0;
    memset(page, 0, sizeof(*page));
    if ((r = open_(&p, '{')) != MLC_OK)
        return r;
    while ((r = member(&p, &first, key)) == 1) {
        if (once(&seen, key, page_fields, NFIELDS(page_fields)) != MLC_OK)
            return MLC_ERR_DATA;
        if (strcmp(key, "added") == 0)
            r = parse_array(&p, ARR_ADDED, rec, cb, &page->n_added);
        else if (strcmp(key, "modified") == 0)
            r = parse_array(&p, ARR_MODIFIED, rec, cb, &page->n_modified);
        else if (strcmp(key, "removed") == 0)
            r = parse_array(&p, ARR_REMOVED, rec, cb, &page->n_removed);
        else if (strcmp(key, "accounts") == 0)
            r = parse_array(&p, ARR_ACCOUNTS, rec, cb, &page->n_accounts);
        else if (strcmp(key, "has_more") == 0) {
            r = boolean(&p, &page->has_more);
            has_more_seen = 1;
        } else if (strcmp(key, "next_cursor") == 0) {
            r = text(&p, page->next_cursor, sizeof(page->next_cursor), 0, NULL);
            cursor_seen = 1; /* null reads as "": Plaid's "no transactions yet" */
        } else if (strcmp(key, "request_id") == 0)
            r = text(&p, page->request_id, sizeof(page->request_id), 1, NULL);
        else if (strcmp(key, "transactions_update_status") == 0)
            r = text(&p, page->update_status_raw, sizeof(page->update_status_raw), 1, NULL);
        else
            r = skip(&p);
        if (r != MLC_OK)
            return r;
    }
    if (r < 0)
        return r;
    ws(&p);
    if (p.pos != p.len || !has_more_seen || !cursor_seen)
        return MLC_ERR_DATA;
    const char *st = page->update_status_raw;
    page->update_status = strcmp(st, "NOT_READY") == 0 ? MLC_SYNC_STATUS_NOT_READY
                          : strcmp(st, "INITIAL_UPDATE_COMPLETE") == 0
                              ? MLC_SYNC_STATUS_INITIAL_UPDATE_COMPLETE
                          : strcmp(st, "HISTORICAL_UPDATE_COMPLETE") == 0
                              ? MLC_SYNC_STATUS_HISTORICAL_UPDATE_COMPLETE
                              : MLC_SYNC_STATUS_UNKNOWN;
    return MLC_OK;
}

int mlc_plaid_sync_parse(const char *json, size_t len, const struct mlc_plaid_sync_cb *cb,
                         struct mlc_plaid_sync_page *page)
{
    static const struct mlc_plaid_sync_cb none = { NULL, NULL, NULL, NULL };
    if (!page)
        return MLC_ERR_DATA;
    memset(page, 0, sizeof(*page));
    if (!json)
        return MLC_ERR_DATA;
    if (len > MLC_SYNC_PAGE_MAX)
        return MLC_ERR_TOO_BIG;
    union record *rec = mlc_malloc(sizeof(*rec));
    if (!rec)
        return MLC_ERR_NOMEM;
    /* Pass 1 validates everything, so no callback ever sees part of a page that turns out to be
     * malformed further down; pass 2 (cheap: no allocation, linear) delivers the records. */
    int r = parse_page(json, len, rec, NULL, page);
    if (r == MLC_OK) {
        /* Pass 2 fills a scratch copy: *page keeps pass 1's result while the callbacks run, as
         * the header promises (the journal reads has_more there to decide on its undo log). */
        struct mlc_plaid_sync_page again; /* ~2 KiB of stack, no heap: the page cap stays */
        r = parse_page(json, len, rec, cb ? cb : &none, &again);
    }
    mlc_free(rec);
    if (r != MLC_OK)
        memset(page, 0, sizeof(*page));
    return r;
}
