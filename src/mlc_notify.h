/* Alert delivery to people outside the box: e-mail through an SMTP server (libcurl; smtp:// must
 * upgrade with STARTTLS, smtps:// is TLS from the start; never plain text) and an optional JSON
 * POST to a URL. TLS verification is always on, with [agent] ca_bundle as extra trust. The mail
 * password comes from the vault (secret smtp.password) and is wiped on free. Synchronous with
 * short timeouts (10 s connect, 30 s per message): mlc_alert_dispatch calls it between runs.
 * Owns nothing in the store. */
#ifndef MLC_NOTIFY_H
#define MLC_NOTIFY_H
#include <stddef.h>

struct mlc_config;
struct mlc_vault;
struct mlc_buf;
struct mlc_alert_sender;

#define MLC_NOTIFY_SECRET_SMTP "smtp.password"
#define MLC_NOTIFY_RCPT_MAX 8            /* addresses in email_to */
#define MLC_NOTIFY_ADDR_MAX 254          /* RFC 5321 path limit */
#define MLC_NOTIFY_CONNECT_TIMEOUT_MS 10000L
#define MLC_NOTIFY_TOTAL_TIMEOUT_MS 30000L
#define MLC_NOTIFY_BODY_MAX (64u * 1024) /* a notice's mail or JSON */

struct mlc_notify;

/* Builds the notifier from [alerts] (and [agent] ca_bundle, [status] public_url for the agent's
 * name). The vault may be NULL when no smtp_user is set. A half-configured channel (email_to
 * without smtp_url or email_from, an address that is not one, a missing smtp.password) is
 * MLC_ERR_CONFIG with one line in err saying what to set. No channel at all is fine: channels()
 * is then 0. */
int mlc_notify_new(const struct mlc_config *cfg, struct mlc_vault *vault, struct mlc_notify **out,
                   char *err, size_t errcap);
void mlc_notify_free(struct mlc_notify *n);   /* NULL is fine; wipes the password */

/* MLC_ALERT_CH_EMAIL | MLC_ALERT_CH_WEBHOOK as configured. */
unsigned mlc_notify_channels(const struct mlc_notify *n);
/* The sender for mlc_alert_dispatch (n must outlive it). */
void mlc_notify_sender(struct mlc_notify *n, struct mlc_alert_sender *s);

/* Sends one mail to every email_to address. 0, MLC_ERR_RETRY (server unreachable, busy),
 * MLC_ERR_CRYPTO (TLS failed or the server offers no STARTTLS), MLC_ERR_AUTH (login refused),
 * MLC_ERR_TIMEOUT, MLC_ERR_UNAVAILABLE (e-mail not configured); err gets one line. */
int mlc_notify_email(struct mlc_notify *n, const char *subject, const char *body, char *err,
                     size_t errcap);
/* POSTs json to webhook_url; any 2xx answer is success, redirects are not followed. */
int mlc_notify_webhook(struct mlc_notify *n, const char *json, size_t len, char *err,
                       size_t errcap);

/* The RFC 5322 message (headers + CRLF body, dot-stuffing is curl's job), pure for tests.
 * Header values have line breaks removed; the body's lines end in CRLF. */
int mlc_notify_build_mail(const char *from, const char *const *to, size_t n_to,
                          const char *subject, const char *body, long long date_ms,
                          const char *message_id, struct mlc_buf *out);
/* Splits "a@x.nl, b@y.nl" into up to max addresses (each checked: one @, no spaces, quotes,
 * angle brackets or control characters). Returns the count, or MLC_ERR_CONFIG. */
int mlc_notify_parse_addresses(const char *list, char out[][MLC_NOTIFY_ADDR_MAX + 1], size_t max);
#endif
