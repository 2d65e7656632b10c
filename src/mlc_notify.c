#include "mlc_notify.h"
#include "mlc_alert.h"
#include "mlc_alloc.h"
#include "mlc_buf.h"
#include "mlc_clock.h"
#include "mlc_config.h"
#include "mlc_err.h"
#include "mlc_log.h"
#include "mlc_platform.h"
#include "mlc_vault.h"

#include <curl/curl.h>
#include <mbedtls/base64.h>
#include <stdio.h>
#include <string.h>

struct mlc_notify {
    char to[MLC_NOTIFY_RCPT_MAX][MLC_NOTIFY_ADDR_MAX + 1];
    size_t n_to;
    char from[MLC_NOTIFY_ADDR_MAX + 1];
    char smtp_url[MLC_CONFIG_URL_MAX];
    char smtp_user[MLC_CONFIG_NAME_MAX];
    char *password;          /* from the vault; wiped on free */
    size_t password_len;
    char webhook_url[MLC_CONFIG_URL_MAX];
    char ca_bundle[MLC_CONFIG_PATH_MAX];
    char agent[MLC_CONFIG_URL_MAX];
};

/* ---- addresses and the message ---- */

static int addr_ok(const char *a, size_t n)
{
    if (n == 0 || n > MLC_NOTIFY_ADDR_MAX)
        return 0;
    size_t at = 0, ats = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)a[i];
        if (c <= 0x20 || c >= 0x7f || strchr("<>\"(),;:\\[]", c))
            return 0;
        if (c == '@') {
            at = i;
            ats++;
        }
    }
    return ats == 1 && at > 0 && at + 1 < n;
}

int mlc_notify_parse_addresses(const char *list, char out[][MLC_NOTIFY_ADDR_MAX + 1], size_t max)
{
    size_t count = 0;
    const char *p = list;
    while (p && *p) {
        while (*p == ' ' || *p == '\t')
            p++;
        size_t n = strcspn(p, ",");
        size_t m = n;
        while (m > 0 && (p[m - 1] == ' ' || p[m - 1] == '\t'))
            m--;
        if (m > 0) {
            if (count == max || !addr_ok(p, m))
                return MLC_ERR_CONFIG;
            memcpy(out[count], p, m);
            out[count][m] = '\0';
            count++;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    return (int)count;
}

/* A header value: line breaks and other control characters become spaces (no header injection).
 * Non-ASCII text is sent as an RFC 2047 encoded word so mail programs show it right. */
static int header_value(struct mlc_buf *out, const char *v)
{
    char flat[1024];
    size_t n = 0;
    int ascii = 1;
    for (const char *p = v; *p && n + 1 < sizeof(flat); p++) {
        unsigned char c = (unsigned char)*p;
        flat[n++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
        if (c >= 0x80)
            ascii = 0;
    }
    flat[n] = '\0';
    if (ascii)
        return mlc_buf_append_str(out, flat);
    unsigned char b64[1400];
    size_t olen = 0;
    if (mbedtls_base64_encode(b64, sizeof(b64), &olen, (const unsigned char *)flat, n) != 0)
        return MLC_ERR_TOO_BIG;
    return mlc_buf_printf(out, "=?UTF-8?B?%.*s?=", (int)olen, (const char *)b64);
}

int mlc_notify_build_mail(const char *from, const char *const *to, size_t n_to,
                          const char *subject, const char *body, long long date_ms,
                          const char *message_id, struct mlc_buf *out)
{
    char date[40];
    int rc = mlc_clock_format_mail_date(date_ms, date, sizeof(date));
    if (rc != MLC_OK)
        return rc;
    rc = mlc_buf_printf(out, "Date: %s\r\nFrom: ml-connector <%s>\r\nTo: ", date, from);
    for (size_t i = 0; i < n_to && rc == MLC_OK; i++)
        rc = mlc_buf_printf(out, "%s<%s>", i ? ", " : "", to[i]);
    if (rc == MLC_OK)
        rc = mlc_buf_printf(out, "\r\nMessage-ID: <%s>\r\nSubject: ", message_id);
    if (rc == MLC_OK)
        rc = header_value(out, subject);
    if (rc == MLC_OK)
        rc = mlc_buf_append_str(out, "\r\nMIME-Version: 1.0\r\n"
                                     "Content-Type: text/plain; charset=utf-8\r\n"
                                     "Content-Transfer-Encoding: 8bit\r\n"
                                     "Auto-Submitted: auto-generated\r\n\r\n");
    /* SMTP wants CRLF line ends; a lone CR or LF in the body becomes one. */
    for (const char *p = body; *p && rc == MLC_OK; p++) {
        if (*p == '\r')
            continue;
        rc = *p == '\n' ? mlc_buf_append(out, "\r\n", 2) : mlc_buf_append(out, p, 1);
    }
    if (rc == MLC_OK && (out->len < 2 || memcmp(out->data + out->len - 2, "\r\n", 2) != 0))
        rc = mlc_buf_append(out, "\r\n", 2);
    return rc;
}

/* ---- set-up ---- */

int mlc_notify_new(const struct mlc_config *cfg, struct mlc_vault *vault, struct mlc_notify **out,
                   char *err, size_t errcap)
{
    *out = NULL;
    err[0] = '\0';
    struct mlc_notify *n = mlc_calloc(1, sizeof(*n));
    if (!n)
        return MLC_ERR_NOMEM;
    int rc = MLC_ERR_CONFIG;
    snprintf(n->webhook_url, sizeof(n->webhook_url), "%s", cfg->alerts.webhook_url);
    snprintf(n->ca_bundle, sizeof(n->ca_bundle), "%s", cfg->agent.ca_bundle);
    snprintf(n->agent, sizeof(n->agent), "%s", cfg->status.public_url[0] ? cfg->status.public_url
                                                                          : "ml-connector");
    if (cfg->alerts.email_to[0]) {
        int cnt = mlc_notify_parse_addresses(cfg->alerts.email_to, n->to, MLC_NOTIFY_RCPT_MAX);
        if (cnt <= 0) {
            snprintf(err, errcap, "[alerts] email_to is not a list of up to %d e-mail addresses "
                     "separated by commas; correct it in the config", MLC_NOTIFY_RCPT_MAX);
            goto out;
        }
        n->n_to = (size_t)cnt;
        char one[1][MLC_NOTIFY_ADDR_MAX + 1];
        if (mlc_notify_parse_addresses(cfg->alerts.email_from, one, 1) != 1) {
            snprintf(err, errcap, "[alerts] email_from must be one e-mail address (the sender of "
                     "alert mails); set it in the config");
            goto out;
        }
        memcpy(n->from, one[0], sizeof(n->from));
        if (!cfg->alerts.smtp_url[0]) {
            snprintf(err, errcap, "[alerts] email_to is set but smtp_url is not; set the mail "
                     "server, e.g. smtp_url = smtp://mail.example.com:587");
            goto out;
        }
        snprintf(n->smtp_url, sizeof(n->smtp_url), "%s", cfg->alerts.smtp_url);
        snprintf(n->smtp_user, sizeof(n->smtp_user), "%s", cfg->alerts.smtp_user);
        if (n->smtp_user[0]) {
            int vr = vault ? mlc_vault_get(vault, MLC_NOTIFY_SECRET_SMTP, &n->password,
                                           &n->password_len)
                           : MLC_ERR_NOTFOUND;
            if (vr == MLC_ERR_NOTFOUND) {
                snprintf(err, errcap, "[alerts] smtp_user is set but the mail password is not "
                         "stored; run 'mlc secret set %s'", MLC_NOTIFY_SECRET_SMTP);
                goto out;
            }
            if (vr != MLC_OK) {
                snprintf(err, errcap, "the mail password could not be read from the vault: %s",
                         mlc_vault_last_error()[0] ? mlc_vault_last_error() : mlc_err_str(vr));
                rc = vr;
                goto out;
            }
        }
    } else if (cfg->alerts.smtp_url[0] || cfg->alerts.email_from[0]) {
        snprintf(err, errcap, "[alerts] smtp_url or email_from is set but email_to is not; set "
                 "who gets alert e-mails, or remove those lines");
        goto out;
    }
    rc = mlc_alloc_install_hooks();
    if (rc != MLC_OK) {
        snprintf(err, errcap, "could not initialise the mail library (out of memory?)");
        goto out;
    }
    *out = n;
    return MLC_OK;
out:
    mlc_notify_free(n);
    return rc;
}

void mlc_notify_free(struct mlc_notify *n)
{
    if (!n)
        return;
    mlc_vault_free_secret(n->password, n->password_len);
    mlc_wipe(n, sizeof(*n));
    mlc_free(n);
}

unsigned mlc_notify_channels(const struct mlc_notify *n)
{
    if (!n)
        return 0;
    return (n->n_to ? MLC_ALERT_CH_EMAIL : 0u) | (n->webhook_url[0] ? MLC_ALERT_CH_WEBHOOK : 0u);
}

/* ---- transport ---- */

/* One curl code -> mlc_err and a sentence for the person reading the alert's last error. */
static int curl_err(CURLcode c, const char *what, const char *detail, char *err, size_t errcap)
{
    int rc;
    const char *hint;
    switch (c) {
    case CURLE_USE_SSL_FAILED:
        rc = MLC_ERR_CRYPTO;
        hint = "the server does not offer STARTTLS, and mail is never sent unencrypted; use a "
               "server that does, or smtps://";
        break;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
        rc = MLC_ERR_CRYPTO;
        hint = "its TLS certificate is not trusted; check the address, or [agent] ca_bundle";
        break;
    case CURLE_LOGIN_DENIED:
        rc = MLC_ERR_AUTH;
        hint = "the login was refused; check [alerts] smtp_user and 'mlc secret set smtp.password'";
        break;
    case CURLE_OPERATION_TIMEDOUT:
        rc = MLC_ERR_TIMEOUT;
        hint = "no answer in time; it is tried again later";
        break;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
        rc = MLC_ERR_RETRY;
        hint = "it could not be reached; check the address and the network (tried again later)";
        break;
    case CURLE_OUT_OF_MEMORY:
        rc = MLC_ERR_NOMEM;
        hint = "out of memory";
        break;
    default:
        rc = MLC_ERR_RETRY;
        hint = "it is tried again later";
        break;
    }
    snprintf(err, errcap, "%s failed (%s): %s", what, detail && detail[0] ? detail
                                                                         : curl_easy_strerror(c),
             hint);
    return rc;
}

/* Settings every transfer shares: verification on (never switched off), CA bundle, timeouts,
 * no signals (we may run beside the loop's timers), allowed protocols only. */
static CURLcode common_opts(CURL *h, const struct mlc_notify *n, const char *url,
                            const char *protocols, char *ebuf)
{
    CURLcode c = CURLE_OK;
#define SET(opt, val) do { if (c == CURLE_OK) c = curl_easy_setopt(h, opt, val); } while (0)
    SET(CURLOPT_URL, url);
    SET(CURLOPT_PROTOCOLS_STR, protocols);
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    if (n->ca_bundle[0])
        SET(CURLOPT_CAINFO, n->ca_bundle);
    SET(CURLOPT_CONNECTTIMEOUT_MS, MLC_NOTIFY_CONNECT_TIMEOUT_MS);
    SET(CURLOPT_TIMEOUT_MS, MLC_NOTIFY_TOTAL_TIMEOUT_MS);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_ERRORBUFFER, ebuf);
#undef SET
    return c;
}

struct reader {
    const char *data;
    size_t len, pos;
};

static size_t read_cb(char *buf, size_t size, size_t nitems, void *ud)
{
    struct reader *r = ud;
    size_t room = size * nitems, left = r->len - r->pos;
    size_t n = left < room ? left : room;
    memcpy(buf, r->data + r->pos, n);
    r->pos += n;
    return n;
}

static size_t discard_cb(char *p, size_t size, size_t nmemb, void *ud)
{
    size_t *got = ud;
    (void)p;
    *got += size * nmemb;
    /* An answer larger than this is not a webhook receiver's: stop reading (the transfer fails). */
    return *got > MLC_NOTIFY_BODY_MAX ? 0 : size * nmemb;
}

int mlc_notify_email(struct mlc_notify *n, const char *subject, const char *body, char *err,
                     size_t errcap)
{
    if (!n || !n->n_to) {
        snprintf(err, errcap, "e-mail is not configured ([alerts] email_to)");
        return MLC_ERR_UNAVAILABLE;
    }
    struct mlc_buf msg;
    mlc_buf_init(&msg, MLC_NOTIFY_BODY_MAX);
    struct curl_slist *rcpt = NULL;
    CURL *h = NULL;
    char ebuf[CURL_ERROR_SIZE] = "";
    int rc;
    uint8_t rnd[12];
    char mid[96];
    if ((rc = mlc_random_bytes(rnd, sizeof(rnd))) != MLC_OK)
        goto out;
    int off = 0;
    for (size_t i = 0; i < sizeof(rnd); i++)
        off += snprintf(mid + off, sizeof(mid) - (size_t)off, "%02x", rnd[i]);
    snprintf(mid + off, sizeof(mid) - (size_t)off, ".mlc@%s", strchr(n->from, '@') + 1);
    const char *to[MLC_NOTIFY_RCPT_MAX];
    for (size_t i = 0; i < n->n_to; i++)
        to[i] = n->to[i];
    rc = mlc_notify_build_mail(n->from, to, n->n_to, subject, body, mlc_time_now_ms(), mid, &msg);
    if (rc != MLC_OK) {
        snprintf(err, errcap, "the alert mail could not be built: %s", mlc_err_str(rc));
        goto out;
    }
    for (size_t i = 0; i < n->n_to; i++) {
        char addr[MLC_NOTIFY_ADDR_MAX + 3];
        snprintf(addr, sizeof(addr), "<%s>", n->to[i]);
        struct curl_slist *nl = curl_slist_append(rcpt, addr);
        if (!nl) {
            rc = MLC_ERR_NOMEM;
            goto out;
        }
        rcpt = nl;
    }
    char from[MLC_NOTIFY_ADDR_MAX + 3];
    snprintf(from, sizeof(from), "<%s>", n->from);
    h = curl_easy_init();
    if (!h) {
        rc = MLC_ERR_NOMEM;
        goto out;
    }
    struct reader r = { msg.data, msg.len, 0 };
    CURLcode c = common_opts(h, n, n->smtp_url, "smtp,smtps", ebuf);
#define SET(opt, val) do { if (c == CURLE_OK) c = curl_easy_setopt(h, opt, val); } while (0)
    /* smtp:// must upgrade: CURLUSESSL_ALL fails the transfer when STARTTLS is not offered. */
    SET(CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    SET(CURLOPT_MAIL_FROM, from);
    SET(CURLOPT_MAIL_RCPT, rcpt);
    SET(CURLOPT_READFUNCTION, read_cb);
    SET(CURLOPT_READDATA, &r);
    SET(CURLOPT_UPLOAD, 1L);
    SET(CURLOPT_INFILESIZE_LARGE, (curl_off_t)msg.len);
    if (n->smtp_user[0]) {
        SET(CURLOPT_USERNAME, n->smtp_user);
        SET(CURLOPT_PASSWORD, n->password ? n->password : "");
    }
#undef SET
    if (c == CURLE_OK)
        c = curl_easy_perform(h);
    if (c != CURLE_OK) {
        rc = curl_err(c, "sending the alert mail", ebuf, err, errcap);
        goto out;
    }
    MLC_LOG_INF("notify", "mail_sent recipients=%zu", n->n_to);
    rc = MLC_OK;
out:
    curl_easy_cleanup(h);
    curl_slist_free_all(rcpt);
    mlc_buf_free(&msg);
    return rc;
}

int mlc_notify_webhook(struct mlc_notify *n, const char *json, size_t len, char *err,
                       size_t errcap)
{
    if (!n || !n->webhook_url[0]) {
        snprintf(err, errcap, "the alert webhook is not configured ([alerts] webhook_url)");
        return MLC_ERR_UNAVAILABLE;
    }
    int rc;
    char ebuf[CURL_ERROR_SIZE] = "";
    size_t got = 0;
    struct curl_slist *hdr = NULL, *nl;
    CURL *h = curl_easy_init();
    if (!h)
        return MLC_ERR_NOMEM;
    if (!(nl = curl_slist_append(hdr, "Content-Type: application/json"))) {
        rc = MLC_ERR_NOMEM;
        goto out;
    }
    hdr = nl;
    if (!(nl = curl_slist_append(hdr, "User-Agent: ml-connector"))) {
        rc = MLC_ERR_NOMEM;
        goto out;
    }
    hdr = nl;
    CURLcode c = common_opts(h, n, n->webhook_url, "http,https", ebuf);
#define SET(opt, val) do { if (c == CURLE_OK) c = curl_easy_setopt(h, opt, val); } while (0)
    SET(CURLOPT_HTTPHEADER, hdr);
    SET(CURLOPT_POSTFIELDS, json);
    SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_WRITEFUNCTION, discard_cb);
    SET(CURLOPT_WRITEDATA, &got);
#undef SET
    if (c == CURLE_OK)
        c = curl_easy_perform(h);
    if (c != CURLE_OK) {
        rc = curl_err(c, "posting the alert", ebuf, err, errcap);
        goto out;
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
        snprintf(err, errcap, "posting the alert failed: %s answered HTTP %ld; it is tried again "
                 "later", n->webhook_url, status);
        rc = status == 429 || status >= 500 ? MLC_ERR_RETRY : MLC_ERR_UNAVAILABLE;
        goto out;
    }
    MLC_LOG_INF("notify", "webhook_sent status=%ld", status);
    rc = MLC_OK;
out:
    curl_easy_cleanup(h);
    curl_slist_free_all(hdr);
    return rc;
}

static int send_alert(void *ud, unsigned channel, const struct mlc_alert *a, int notice,
                      int64_t now_ms, char *err, size_t errcap)
{
    struct mlc_notify *n = ud;
    struct mlc_buf text;
    (void)now_ms;
    mlc_buf_init(&text, MLC_NOTIFY_BODY_MAX);
    int rc;
    if (channel == MLC_ALERT_CH_EMAIL) {
        char subject[160];
        rc = mlc_alert_compose_mail(a, notice, n->agent, subject, sizeof(subject), &text);
        if (rc == MLC_OK)
            rc = mlc_notify_email(n, subject, text.data, err, errcap);
    } else {
        rc = mlc_alert_compose_json(a, notice, n->agent, &text);
        if (rc == MLC_OK)
            rc = mlc_notify_webhook(n, text.data, text.len, err, errcap);
    }
    mlc_buf_free(&text);
    return rc;
}

void mlc_notify_sender(struct mlc_notify *n, struct mlc_alert_sender *s)
{
    s->send = send_alert;
    s->ud = n;
    s->channels = mlc_notify_channels(n);
}
