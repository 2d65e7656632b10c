#include "mlc_exact_token.h"
#include "mlc_alloc.h"
#include "mlc_err.h"
#include "mlc_exact_error.h"
#include "mlc_log.h"
#include "mlc_odata.h"
#include "mlc_platform.h"

#include <stdio.h>
#include <string.h>

/* ---- answer parser ---- */

static int contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i]) {
            char a = hay[i], b = needle[i];
            if (a >= 'A' && a <= 'Z')
                a = (char)(a - 'A' + 'a');
            if (a != b)
                break;
            i++;
        }
        if (i == n)
            return 1;
    }
    return 0;
}

/* A token goes into an Authorization header or a form: visible ASCII only, so no CR/LF can
 * inject a header and no space can split it. */
static char *token_copy(const cJSON *j)
{
    if (!cJSON_IsString(j))
        return NULL;
    size_t n = strlen(j->valuestring);
    if (n == 0 || n > MLC_TOKEN_MAX)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)j->valuestring[i];
        if (c <= 0x20 || c >= 0x7f)
            return NULL;
    }
    return mlc_strndup(j->valuestring, n);
}

static void token_wipe_free(char **t)
{
    if (*t) {
        mlc_wipe(*t, strlen(*t));
        mlc_free(*t);
        *t = NULL;
    }
}

/* expires_in arrives as a string ("600", Exact KB step 3); a number is accepted too. */
static int read_expires(const cJSON *j, int64_t *out)
{
    int64_t v = 0;
    if (cJSON_IsString(j)) {
        const char *s = j->valuestring;
        size_t n = strlen(s);
        if (n == 0 || n > 6)
            return 0;
        for (size_t i = 0; i < n; i++) {
            if (s[i] < '0' || s[i] > '9')
                return 0;
            v = v * 10 + (s[i] - '0');
        }
    } else if (cJSON_IsNumber(j)) {
        if (j->valuedouble < 1 || j->valuedouble > 86400 || j->valuedouble != (double)(int64_t)j->valuedouble)
            return 0;
        v = (int64_t)j->valuedouble;
    } else {
        return 0;
    }
    if (v < 1 || v > 86400)
        return 0;
    *out = v;
    return 1;
}

static void set_msg(struct mlc_token_answer *a, const char *lead, const char *detail)
{
    char line[sizeof(a->message) * 2];
    snprintf(line, sizeof(line), "%s%s%s", lead, detail && detail[0] ? ": " : "",
             detail ? detail : "");
    mlc_exact_error_sanitize(line, strlen(line), a->message, sizeof(a->message));
}

static int outcome_err(enum mlc_token_outcome o)
{
    switch (o) {
    case MLC_TOKEN_NEW_PAIR: return MLC_OK;
    case MLC_TOKEN_NEEDS_CONSENT: return MLC_ERR_NEEDS_PERSON;
    case MLC_TOKEN_KEEP_CURRENT:
    case MLC_TOKEN_RETRY: return MLC_ERR_RETRY;
    case MLC_TOKEN_BAD_CLIENT: return MLC_ERR_CONFIG;
    case MLC_TOKEN_BAD_ANSWER: return MLC_ERR_DATA;
    }
    return MLC_ERR_INTERNAL;
}

static int parse_pair(const cJSON *root, struct mlc_token_answer *a)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "token_type");
    a->refresh_token = token_copy(cJSON_GetObjectItemCaseSensitive(root, "refresh_token"));
    a->access_token = token_copy(cJSON_GetObjectItemCaseSensitive(root, "access_token"));
    if (!read_expires(cJSON_GetObjectItemCaseSensitive(root, "expires_in"), &a->expires_in_s)) {
        /* The pair in this answer has already replaced the old one at Exact: refusing it over a
         * missing lifetime would lose the connection. Assume Exact's documented 600 s. */
        a->expires_in_s = MLC_TOKEN_DEFAULT_EXPIRES_S;
        a->expires_defaulted = 1;
    }
    int type_ok = !type || (cJSON_IsString(type) && strlen(type->valuestring) == 6 &&
                            contains_ci(type->valuestring, "bearer"));
    if (!a->access_token || !type_ok) {
        token_wipe_free(&a->access_token);
        a->outcome = MLC_TOKEN_BAD_ANSWER;
        set_msg(a, "Exact Online's token answer could not be used (missing or malformed access "
                   "token); the connection may need to be authorised again", NULL);
        if (a->refresh_token)
            (void)mlc_log_secret_add(a->refresh_token);
        return MLC_ERR_DATA;
    }
    if (!a->refresh_token) {
        token_wipe_free(&a->access_token);
        a->outcome = MLC_TOKEN_BAD_ANSWER;
        set_msg(a, "Exact Online's token answer has no usable refresh token; authorise the "
                   "connection again", NULL);
        return MLC_ERR_DATA;
    }
    /* Register before anything could log them. A full secret list drops its oldest entry, so a
     * failure here is only NOMEM; the pair is still returned because the old one is spent. */
    (void)mlc_log_secret_add(a->access_token);
    (void)mlc_log_secret_add(a->refresh_token);
    a->outcome = MLC_TOKEN_NEW_PAIR;
    return MLC_OK;
}

int mlc_exact_token_parse(int st, const char *body, size_t len, struct mlc_token_answer *a)
{
    memset(a, 0, sizeof(*a));
    int rc = MLC_OK;
    cJSON *root = NULL;
    char num[64];
    if (st == 0 || st >= 500 || st == 429) {
        a->outcome = MLC_TOKEN_RETRY;
        snprintf(num, sizeof(num), "(HTTP %d)", st);
        set_msg(a, st ? "Exact Online's token service is busy or unavailable; the agent will try "
                        "again later" : "Exact Online's token service could not be reached; the "
                        "agent will try again later", st ? num : NULL);
        rc = outcome_err(a->outcome);
        goto out;
    }
    root = mlc_json_parse_bounded(body, len, MLC_TOKEN_BODY_MAX, 8, &rc);
    if (!root && rc == MLC_ERR_NOMEM)
        goto out;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "error_description");
    const char *err = cJSON_IsString(e) ? e->valuestring : "";
    const char *desc = cJSON_IsString(d) ? d->valuestring : "";
    if (st >= 200 && st < 300 && root && cJSON_IsObject(root) && !e) {
        rc = parse_pair(root, a);
        goto out;
    }
    if (st >= 200 && st < 300 && !e) {
        a->outcome = MLC_TOKEN_BAD_ANSWER;
        set_msg(a, "Exact Online's token answer was not readable; the connection may need to be "
                   "authorised again", NULL);
    } else if (contains_ci(desc, "not expired")) {
        /* "Rate limit exceeded: access_token not expired": refreshed before 570 s; the current
         * access token stays valid (tap-exact treats it the same way). */
        a->outcome = MLC_TOKEN_KEEP_CURRENT;
        set_msg(a, "Exact Online refused an early token refresh; the current token is kept", NULL);
    } else if (contains_ci(desc, "old refresh token") || strcmp(err, "invalid_grant") == 0 ||
               contains_ci(desc, "refresh token expired") || contains_ci(desc, "revoked") ||
               strcmp(err, "unauthorized_client") == 0) {
        a->outcome = MLC_TOKEN_NEEDS_CONSENT;
        set_msg(a, "Exact Online no longer accepts this connection's authorisation; sign in to "
                   "Exact Online again with 'mlc exact connect'", desc);
    } else if (strcmp(err, "invalid_client") == 0) {
        a->outcome = MLC_TOKEN_BAD_CLIENT;
        set_msg(a, "Exact Online does not accept the configured client id or client secret; "
                   "check them in the App Center and the configuration", desc);
    } else if (contains_ci(desc, "rate limit")) {
        a->outcome = MLC_TOKEN_RETRY;
        set_msg(a, "Exact Online's token limit was reached; the agent will try again later", desc);
    } else {
        /* An unknown refusal cannot be repaired by repeating it, and repeats spend the 200
         * token calls a day: stop and show Exact's words to a person. */
        a->outcome = MLC_TOKEN_NEEDS_CONSENT;
        snprintf(num, sizeof(num), "Exact Online refused the token refresh (HTTP %d%s%.20s)", st,
                 err[0] ? ", " : "", err);
        set_msg(a, num, desc[0] ? desc : "authorise the connection again with 'mlc exact connect'");
    }
    rc = outcome_err(a->outcome);
out:
    cJSON_Delete(root);
    return rc;
}

void mlc_token_answer_free(struct mlc_token_answer *a)
{
    if (!a)
        return;
    token_wipe_free(&a->access_token);
    token_wipe_free(&a->refresh_token);
}

/* ---- timing ---- */

/* Earliest moment a refresh is allowed: 570 s after the newest access token was received. If the
 * clock stepped back past issued_ms, wait at most 570 s from now instead of the whole step. */
static int64_t earliest_refresh(const struct mlc_token_times *t, int64_t now)
{
    if (t->issued_ms <= 0)
        return now;
    int64_t e = t->issued_ms + MLC_TOKEN_MIN_REFRESH_MS;
    if (t->issued_ms > now && e > now + MLC_TOKEN_MIN_REFRESH_MS)
        e = now + MLC_TOKEN_MIN_REFRESH_MS;
    return e;
}

static struct mlc_token_decision make(enum mlc_token_action a, int64_t until)
{
    struct mlc_token_decision d = { a, until };
    return d;
}

struct mlc_token_decision mlc_exact_token_decide(const struct mlc_token_times *t, int64_t now,
                                                 int64_t keepalive_ms)
{
    if (!t->have_refresh || t->consent_needed)
        return make(MLC_TOKEN_CONSENT, 0);
    if (keepalive_ms <= 0)
        keepalive_ms = MLC_TOKEN_KEEPALIVE_DEFAULT_MS;
    int64_t e = earliest_refresh(t, now);
    int expired = !t->have_access || now >= t->expires_ms;
    int in_window = expired || now >= t->expires_ms - MLC_TOKEN_REFRESH_WINDOW_MS;
    int keepalive_due = t->last_refresh_ms <= 0 || now - t->last_refresh_ms >= keepalive_ms;
    if (in_window || keepalive_due) {
        if (now >= e)
            return make(MLC_TOKEN_REFRESH_NOW, 0);
        if (expired)
            return make(MLC_TOKEN_WAIT_UNTIL, e);
    }
    return make(MLC_TOKEN_USE_CURRENT, 0);
}

struct mlc_token_decision mlc_exact_token_decide_idle(const struct mlc_token_times *t,
                                                      int64_t now, int64_t keepalive_ms)
{
    if (!t->have_refresh || t->consent_needed)
        return make(MLC_TOKEN_CONSENT, 0);
    if (keepalive_ms <= 0)
        keepalive_ms = MLC_TOKEN_KEEPALIVE_DEFAULT_MS;
    int64_t due = t->last_refresh_ms <= 0 ? now : t->last_refresh_ms + keepalive_ms;
    int64_t e = earliest_refresh(t, now);
    int64_t at = due > e ? due : e;
    if (now >= at)
        return make(MLC_TOKEN_REFRESH_NOW, 0);
    return make(MLC_TOKEN_USE_CURRENT, at);
}

struct mlc_token_decision mlc_exact_token_after_401(const struct mlc_token_times *t, int64_t now,
                                                    int refreshed_for_call)
{
    if (!t->have_refresh || t->consent_needed)
        return make(MLC_TOKEN_CONSENT, 0);
    int64_t e = earliest_refresh(t, now);
    if (refreshed_for_call) /* at most one refresh per 401'd call */
        return make(MLC_TOKEN_WAIT_UNTIL, e > now ? e : now + MLC_TOKEN_MIN_REFRESH_MS);
    if (now >= e)
        return make(MLC_TOKEN_REFRESH_NOW, 0);
    return make(MLC_TOKEN_WAIT_UNTIL, e);
}

void mlc_exact_token_times_refreshed(struct mlc_token_times *t, int64_t now, int64_t expires_in_s)
{
    if (expires_in_s <= 0 || expires_in_s > 86400)
        expires_in_s = MLC_TOKEN_DEFAULT_EXPIRES_S;
    t->have_refresh = 1;
    t->consent_needed = 0;
    t->have_access = 1;
    t->issued_ms = now;
    t->expires_ms = now + expires_in_s * 1000;
    t->last_refresh_ms = now;
}

/* ---- single flight ---- */

int mlc_token_flight_begin(struct mlc_token_flight *f)
{
    if (f->in_flight) {
        f->waiters++;
        return 0;
    }
    f->in_flight = 1;
    return 1;
}

unsigned mlc_token_flight_end(struct mlc_token_flight *f)
{
    unsigned n = f->waiters;
    f->waiters = 0;
    f->in_flight = 0;
    f->generation++;
    return n;
}
