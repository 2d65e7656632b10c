#include "mlc_exact_error.h"
#include "mlc_err.h"
#include "mlc_odata.h"

#include <stdio.h>
#include <string.h>

/* Decodes one UTF-8 character at s (n bytes left). Returns its length, or 0 if invalid
 * (overlong forms, surrogates and values above U+10FFFF are invalid). */
static size_t utf8_char(const unsigned char *s, size_t n, unsigned long *cp)
{
    unsigned char c = s[0];
    size_t len;
    unsigned long v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        len = 2, v = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, v = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

size_t mlc_exact_error_sanitize(const char *in, size_t len, char *out, size_t cap)
{
    if (!out || cap == 0)
        return 0;
    size_t o = 0;
    int cut = 0;
    const unsigned char *s = (const unsigned char *)(in ? in : "");
    if (!in)
        len = 0;
    for (size_t i = 0; i < len && !cut;) {
        unsigned long cp = 0;
        size_t n = utf8_char(s + i, len - i, &cp);
        const char *emit;
        size_t elen;
        char one = '?';
        if (n == 0) {
            n = 1;
            emit = &one;
            elen = 1;
        } else if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 ||
                   cp == 0x2029) {
            one = ' ';
            emit = &one;
            elen = 1;
        } else if (cp == 0x200E || cp == 0x200F || (cp >= 0x202A && cp <= 0x202E) ||
                   (cp >= 0x2066 && cp <= 0x2069)) {
            i += n; /* bidi controls can make a message read differently from what it says */
            continue;
        } else {
            emit = (const char *)s + i;
            elen = n;
        }
        i += n;
        if (elen == 1 && emit[0] == ' ' && (o == 0 || out[o - 1] == ' '))
            continue; /* collapse runs of spaces, no leading space */
        if (elen > cap - 1 - o) {
            cut = 1;
            break;
        }
        memcpy(out + o, emit, elen);
        o += elen;
    }
    if (cut && cap > 4) {
        /* Make room for "..." on a character boundary (the output is valid UTF-8). */
        if (o > cap - 4)
            o = cap - 4;
        while (o > 0 && ((unsigned char)out[o] & 0xC0) == 0x80)
            o--;
        memcpy(out + o, "...", 3);
        o += 3;
    }
    while (o > 0 && out[o - 1] == ' ')
        o--;
    out[o] = '\0';
    return o;
}

int mlc_exact_error_parse(const char *body, size_t len, char *out, size_t cap)
{
    if (cap)
        out[0] = '\0';
    int rc = MLC_OK;
    cJSON *root = mlc_json_parse_bounded(body, len, MLC_EXACT_ERROR_BODY_MAX, MLC_ODATA_DEPTH_MAX,
                                         &rc);
    if (!root)
        return rc;
    rc = MLC_ERR_DATA;
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(root, "error");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(err, "message");
    const char *text = NULL;
    if (cJSON_IsString(msg))
        text = msg->valuestring;
    else if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(msg, "value")))
        text = cJSON_GetObjectItemCaseSensitive(msg, "value")->valuestring;
    if (text && cap && mlc_exact_error_sanitize(text, strlen(text), out, cap) > 0)
        rc = MLC_OK;
    cJSON_Delete(root);
    return rc;
}

static const struct {
    const char *reason;
    const char *text;
} reasons[] = {
    { "BlockedUser", "The Exact Online user is blocked" },
    { "InactiveUser", "The Exact Online user is inactive" },
    { "BlockedCustomer", "The Exact Online customer account is blocked" },
    { "LicenseExpired", "The Exact Online licence has expired" },
    { "DivisionBlocked", "This Exact Online company (division) is blocked" },
    { "NoDivisionAccess", "The connected user has no access to this Exact Online company (division)" },
};

static const char *reason_text(const char *reason)
{
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (strcmp(reason, reasons[i].reason) == 0)
            return reasons[i].text;
    return "Exact Online refused access";
}

enum mlc_exact_class mlc_exact_error_classify(int st, const char *reason, const char *body,
                                              size_t len, struct mlc_exact_failure *f)
{
    char text[MLC_EXACT_ERROR_MSG_MAX];
    char line[2 * MLC_EXACT_ERROR_MSG_MAX];
    memset(f, 0, sizeof(*f));
    f->http_status = st;
    f->counts_as_error = st == 400 || st == 401 || st == 403 || st == 404;
    /* The Reason header is outside input: keep letters only, bounded. */
    size_t r = 0;
    for (const char *p = reason ? reason : ""; *p && r < sizeof(f->reason) - 1; p++)
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
            f->reason[r++] = *p;
    f->reason[r] = '\0';
    int have_text = body && len && mlc_exact_error_parse(body, len, text, sizeof(text)) == MLC_OK;
    if (!have_text)
        text[0] = '\0';

    if (st >= 200 && st < 300) {
        f->cls = MLC_EXACT_OK;
        line[0] = '\0';
    } else if (st == 0) {
        f->cls = MLC_EXACT_RETRY;
        snprintf(line, sizeof(line), "Exact Online could not be reached; the agent will try again "
                                     "later (check the internet connection if this persists).");
    } else if (st == 429) {
        f->cls = MLC_EXACT_RATE_LIMITED;
        snprintf(line, sizeof(line), "Exact Online's limit on API calls for this company was "
                                     "reached; the agent waits for the limit to reset.");
    } else if (st == 401) {
        f->cls = MLC_EXACT_AUTH;
        snprintf(line, sizeof(line), "Exact Online did not accept the access token (HTTP 401); "
                                     "the agent refreshes it once and tries again.");
    } else if (st == 403) {
        f->cls = MLC_EXACT_NEEDS_PERSON;
        snprintf(line, sizeof(line), "%s%s%s%s%s%s: ask the Exact Online administrator to restore "
                 "access, then resume the connection.", reason_text(f->reason),
                 r ? " (Reason: " : "", f->reason, r ? ")" : "", have_text ? " - " : "", text);
    } else if (st == 500 && have_text) {
        /* Exact sends validation and setup errors as 500 with a text (KB-restr: do not retry). */
        f->cls = MLC_EXACT_FUNCTIONAL;
        snprintf(line, sizeof(line), "Exact Online rejected the entry: %s - correct this in Exact "
                 "Online or in the account mapping; it will not be retried on its own.", text);
    } else if (st >= 500 || st == 408) {
        f->cls = MLC_EXACT_RETRY;
        snprintf(line, sizeof(line), "Exact Online is temporarily unavailable (HTTP %d); the agent "
                 "will try again later.", st);
    } else {
        f->cls = MLC_EXACT_BUG;
        snprintf(line, sizeof(line), "Exact Online refused the request as invalid (HTTP %d%s%s); "
                 "this is a fault in the agent, please report it.", st, have_text ? ": " : "", text);
    }
    mlc_exact_error_sanitize(line, strlen(line), f->message, sizeof(f->message));
    return f->cls;
}

int mlc_exact_class_err(enum mlc_exact_class cls)
{
    switch (cls) {
    case MLC_EXACT_OK: return MLC_OK;
    case MLC_EXACT_RETRY:
    case MLC_EXACT_RATE_LIMITED: return MLC_ERR_RETRY;
    case MLC_EXACT_AUTH: return MLC_ERR_AUTH;
    case MLC_EXACT_NEEDS_PERSON:
    case MLC_EXACT_FUNCTIONAL: return MLC_ERR_NEEDS_PERSON;
    case MLC_EXACT_BUG: return MLC_ERR_INTERNAL;
    }
    return MLC_ERR_INTERNAL;
}

const char *mlc_exact_class_name(enum mlc_exact_class cls)
{
    static const char *const names[] = { "ok", "retry", "rate_limited", "auth", "needs_person",
                                         "functional", "bug" };
    if ((unsigned)cls < sizeof(names) / sizeof(names[0]))
        return names[cls];
    return "unknown";
}
