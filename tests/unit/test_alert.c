/* Alerts as a bookkeeper meets them: told once per problem, reminded while it stays open, told
 * when it is over; a failed delivery is retried later and survives a restart; the texts cannot
 * carry injected mail headers. Delivery goes through a fake sender; time is injected. */
#include "mlc_test_util.h"

#include "mlc_alert.h"
#include "mlc_buf.h"
#include "mlc_config.h"
#include "mlc_err.h"
#include "mlc_exact.h"
#include "mlc_log.h"
#include "mlc_notify.h"
#include "mlc_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1795000000000LL
#define MIN (60 * 1000LL)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)
#define RESEND DAY

struct sent {
    unsigned channel;
    int kind, notice;
    char key[MLC_ALERT_KEY_MAX + 1];
    char message[600];
};

struct fake {
    struct sent log[64];
    size_t n;
    unsigned fail;   /* channels that fail now */
    struct mlc_store *resolve_on_send; /* set: the alert is resolved while its notice is sent */
};

static int fake_send(void *ud, unsigned channel, const struct mlc_alert *a, int notice,
                     int64_t now_ms, char *err, size_t errcap)
{
    struct fake *f = ud;
    if (f->fail & channel) {
        snprintf(err, errcap, "connection refused");
        return MLC_ERR_RETRY;
    }
    if (f->resolve_on_send) { /* the engine fixed it meanwhile (no transaction is open now) */
        struct mlc_txn *txn;
        assert_int_equal(mlc_store_begin(f->resolve_on_send, 0, &txn), MLC_OK);
        assert_int_equal(mlc_alert_resolve(txn, a->kind, a->key, now_ms), MLC_OK);
        assert_int_equal(mlc_store_commit(txn), MLC_OK);
        f->resolve_on_send = NULL;
    }
    assert_true(f->n < sizeof(f->log) / sizeof(f->log[0]));
    struct sent *s = &f->log[f->n++];
    s->channel = channel;
    s->kind = a->kind;
    s->notice = notice;
    snprintf(s->key, sizeof(s->key), "%s", a->key);
    snprintf(s->message, sizeof(s->message), "%s", a->message);
    return MLC_OK;
}

struct fx {
    char dir[512];
    struct mlc_store *st;
    struct fake fake;
    struct mlc_alert_sender sender;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    mlc_log_set_level(MLC_LOG_ERROR);
    snprintf(f->dir, sizeof(f->dir), "%s", mlc_test_tmpdir("alert"));
    assert_int_equal(mlc_store_open(&f->st, f->dir, NULL), MLC_OK);
    f->sender.send = fake_send;
    f->sender.ud = &f->fake;
    f->sender.channels = MLC_ALERT_CH_ALL;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    mlc_store_close(f->st);
    mlc_test_rmtree(f->dir);
    free(f);
    return 0;
}

static int raise_(struct fx *f, enum mlc_alert_kind kind, const char *key, int sev,
                  const char *msg, int64_t now, int *created)
{
    struct mlc_txn *txn;
    assert_int_equal(mlc_store_begin(f->st, 0, &txn), MLC_OK);
    int rc = mlc_alert_raise(txn, kind, key, sev, msg, "mlc plaid relink item-1", now, created);
    if (rc == MLC_OK)
        assert_int_equal(mlc_store_commit(txn), MLC_OK);
    else
        mlc_store_abort(txn);
    return rc;
}

static void resolve_(struct fx *f, enum mlc_alert_kind kind, const char *key, int64_t now)
{
    struct mlc_txn *txn;
    assert_int_equal(mlc_store_begin(f->st, 0, &txn), MLC_OK);
    assert_int_equal(mlc_alert_resolve(txn, kind, key, now), MLC_OK);
    assert_int_equal(mlc_store_commit(txn), MLC_OK);
}

static struct mlc_alert_dispatch_stats dispatch(struct fx *f, int64_t now, int64_t *next)
{
    struct mlc_alert_dispatch_stats s;
    assert_int_equal(mlc_alert_dispatch(f->st, &f->sender, RESEND, now, 12345u, &s, next), MLC_OK);
    return s;
}

static int count_cb(void *ctx, const struct mlc_alert *a)
{
    (void)a;
    (*(int *)ctx)++;
    return 0;
}

static int open_count(struct fx *f)
{
    struct mlc_txn *txn;
    int n = 0;
    assert_int_equal(mlc_store_begin(f->st, 1, &txn), MLC_OK);
    assert_int_equal(mlc_alert_each(txn, count_cb, &n), MLC_OK);
    mlc_store_abort(txn);
    return n;
}

static int get_(struct fx *f, enum mlc_alert_kind kind, const char *key, struct mlc_alert *a)
{
    struct mlc_txn *txn;
    assert_int_equal(mlc_store_begin(f->st, 1, &txn), MLC_OK);
    int rc = mlc_alert_get(txn, kind, key, a);
    mlc_store_abort(txn);
    return rc;
}

static void same_problem_is_told_once_then_reminded_then_cleared(void **state)
{
    struct fx *f = *state;
    int created = -1;
    int64_t next = -1;
    assert_int_equal(raise_(f, MLC_ALERT_PLAID_REAUTH, "item-1", MLC_ALERT_NEEDS_PERSON,
                            "ING needs a new login", T0, &created), MLC_OK);
    assert_int_equal(created, 1);
    /* The same problem reported again by the next run: no second notice. */
    assert_int_equal(raise_(f, MLC_ALERT_PLAID_REAUTH, "item-1", MLC_ALERT_NEEDS_PERSON,
                            "ING needs a new login", T0 + MIN, &created), MLC_OK);
    assert_int_equal(created, 0);
    assert_int_equal(open_count(f), 1);

    struct mlc_alert_dispatch_stats s = dispatch(f, T0 + MIN, &next);
    assert_int_equal(s.sent, 1);
    assert_int_equal(f->fake.n, 2); /* one e-mail, one webhook */
    assert_int_equal(f->fake.log[0].channel, MLC_ALERT_CH_EMAIL);
    assert_int_equal(f->fake.log[1].channel, MLC_ALERT_CH_WEBHOOK);
    assert_int_equal(f->fake.log[0].notice, MLC_ALERT_NOTICE_RAISED);
    assert_true(next == T0 + MIN + RESEND);

    /* Raised again with new words: kept, but still nobody is told twice. */
    assert_int_equal(raise_(f, MLC_ALERT_PLAID_REAUTH, "item-1", MLC_ALERT_NEEDS_PERSON,
                            "ING needs a new login (since Monday)", T0 + 2 * MIN, &created),
                     MLC_OK);
    assert_int_equal(created, 0);
    dispatch(f, T0 + 2 * MIN, NULL);
    dispatch(f, T0 + MIN + RESEND - 1, NULL);
    assert_int_equal(f->fake.n, 2);

    /* Still open a resend interval later: a reminder with the latest words. */
    s = dispatch(f, T0 + MIN + RESEND, NULL);
    assert_int_equal(s.reminders, 1);
    assert_int_equal(f->fake.n, 4);
    assert_int_equal(f->fake.log[2].notice, MLC_ALERT_NOTICE_REMINDER);
    assert_string_equal(f->fake.log[2].message, "ING needs a new login (since Monday)");

    /* Fixed: one all-clear per channel, then the alert is gone. */
    resolve_(f, MLC_ALERT_PLAID_REAUTH, "item-1", T0 + 2 * DAY);
    assert_int_equal(open_count(f), 0);
    s = dispatch(f, T0 + 2 * DAY, &next);
    assert_int_equal(s.all_clear, 1);
    assert_int_equal(f->fake.n, 6);
    assert_int_equal(f->fake.log[4].notice, MLC_ALERT_NOTICE_ALL_CLEAR);
    assert_int_equal(f->fake.log[5].notice, MLC_ALERT_NOTICE_ALL_CLEAR);
    struct mlc_alert a;
    assert_int_equal(get_(f, MLC_ALERT_PLAID_REAUTH, "item-1", &a), MLC_ERR_NOTFOUND);
    dispatch(f, T0 + 10 * DAY, &next);
    assert_int_equal(f->fake.n, 6);
    assert_true(next == 0);
    /* Resolving again is harmless. */
    resolve_(f, MLC_ALERT_PLAID_REAUTH, "item-1", T0 + 10 * DAY);
}

static void kinds_and_keys_are_separate_alerts(void **state)
{
    struct fx *f = *state;
    assert_int_equal(raise_(f, MLC_ALERT_PLAID_REAUTH, "item-1", 2, "a", T0, NULL), MLC_OK);
    assert_int_equal(raise_(f, MLC_ALERT_PLAID_REAUTH, "item-2", 2, "b", T0, NULL), MLC_OK);
    assert_int_equal(raise_(f, MLC_ALERT_PLAID_CONSENT, "item-1", 1, "c", T0, NULL), MLC_OK);
    assert_int_equal(open_count(f), 3);
    struct mlc_alert_dispatch_stats s = dispatch(f, T0, NULL);
    assert_int_equal(s.sent, 3);
    assert_int_equal(f->fake.n, 6);
}

static void resolved_before_anyone_heard_sends_nothing(void **state)
{
    struct fx *f = *state;
    assert_int_equal(raise_(f, MLC_ALERT_BUDGET, "123456", 1, "budget used up", T0, NULL), MLC_OK);
    resolve_(f, MLC_ALERT_BUDGET, "123456", T0 + MIN); /* the budget reset before dispatch ran */
    struct mlc_alert a;
    assert_int_equal(get_(f, MLC_ALERT_BUDGET, "123456", &a), MLC_ERR_NOTFOUND);
    dispatch(f, T0 + 2 * MIN, NULL);
    assert_int_equal(f->fake.n, 0);
}

static void failed_delivery_is_retried_later_and_survives_a_restart(void **state)
{
    struct fx *f = *state;
    int64_t next = 0;
    struct mlc_alert a;
    assert_int_equal(raise_(f, MLC_ALERT_HELD, "123456", 2, "3 transactions held", T0, NULL),
                     MLC_OK);
    f->fake.fail = MLC_ALERT_CH_EMAIL; /* the mail server is down; the webhook works */
    struct mlc_alert_dispatch_stats s = dispatch(f, T0, &next);
    assert_int_equal(s.failed, 1);
    assert_int_equal(f->fake.n, 1);
    assert_int_equal(f->fake.log[0].channel, MLC_ALERT_CH_WEBHOOK);
    assert_int_equal(get_(f, MLC_ALERT_HELD, "123456", &a), MLC_OK);
    assert_int_equal(a.pending, MLC_ALERT_CH_EMAIL);
    assert_int_equal(a.attempts, 1);
    assert_non_null(strstr(a.last_error, "connection refused"));
    assert_true(a.next_try_ms > T0 && a.next_try_ms <= T0 + MLC_ALERT_RETRY_BASE_MS);
    assert_true(next == a.next_try_ms);

    /* Not before its retry time, and not even then while the server is still down. */
    dispatch(f, a.next_try_ms - 1, NULL);
    assert_int_equal(f->fake.n, 1);

    /* The agent restarts: the pending e-mail is still owed. */
    mlc_store_close(f->st);
    assert_int_equal(mlc_store_open(&f->st, f->dir, NULL), MLC_OK);
    f->fake.fail = 0;
    s = dispatch(f, a.next_try_ms, NULL);
    assert_int_equal(s.sent, 1);
    assert_int_equal(f->fake.n, 2); /* only the e-mail: the webhook had it already */
    assert_int_equal(f->fake.log[1].channel, MLC_ALERT_CH_EMAIL);
    assert_int_equal(get_(f, MLC_ALERT_HELD, "123456", &a), MLC_OK);
    assert_int_equal(a.pending, 0);
    assert_string_equal(a.last_error, "");
    assert_int_equal(a.delivered, MLC_ALERT_CH_ALL);
}

static void retries_back_off_but_stay_within_the_cap(void **state)
{
    struct fx *f = *state;
    struct mlc_alert a;
    assert_int_equal(raise_(f, MLC_ALERT_RECONCILE, "123456", 2, "differs by 12.00", T0, NULL),
                     MLC_OK);
    f->fake.fail = MLC_ALERT_CH_ALL;
    int64_t now = T0;
    for (int i = 0; i < 12; i++) {
        dispatch(f, now, NULL);
        assert_int_equal(get_(f, MLC_ALERT_RECONCILE, "123456", &a), MLC_OK);
        assert_true(a.next_try_ms > now);
        assert_true(a.next_try_ms - now <= MLC_ALERT_RETRY_CAP_MS);
        now = a.next_try_ms;
    }
    assert_int_equal(a.attempts, 12);
    assert_int_equal(f->fake.n, 0);
    /* While failing, no reminder piles up on top: the pending raise is still the notice owed. */
    assert_int_equal(a.notice, MLC_ALERT_NOTICE_RAISED);
}

static void reopening_before_the_all_clear_went_out_raises_again(void **state)
{
    struct fx *f = *state;
    struct mlc_alert a;
    int created = 0;
    assert_int_equal(raise_(f, MLC_ALERT_EXACT_CONSENT, "exact", 2, "consent lost", T0, NULL),
                     MLC_OK);
    dispatch(f, T0, NULL);
    resolve_(f, MLC_ALERT_EXACT_CONSENT, "exact", T0 + MIN);
    assert_int_equal(raise_(f, MLC_ALERT_EXACT_CONSENT, "exact", 2, "consent lost", T0 + 2 * MIN,
                            &created), MLC_OK);
    assert_int_equal(created, 1);
    assert_int_equal(get_(f, MLC_ALERT_EXACT_CONSENT, "exact", &a), MLC_OK);
    assert_false(a.resolved);
    assert_int_equal(a.notice, MLC_ALERT_NOTICE_RAISED);
    dispatch(f, T0 + 2 * MIN, NULL);
    assert_int_equal(f->fake.n, 4);
    assert_int_equal(f->fake.log[2].notice, MLC_ALERT_NOTICE_RAISED);
}

static void no_channel_means_status_page_only_until_one_is_set(void **state)
{
    struct fx *f = *state;
    f->sender.channels = 0;
    assert_int_equal(raise_(f, MLC_ALERT_RUN_FAILING, "job", 2, "failing", T0, NULL), MLC_OK);
    struct mlc_alert_dispatch_stats s = dispatch(f, T0, NULL);
    assert_int_equal(s.sent, 0);
    assert_int_equal(open_count(f), 1); /* still on the status page */
    dispatch(f, T0 + 3 * DAY, NULL);
    assert_int_equal(f->fake.n, 0);
    /* The installer adds a webhook: the open alert is announced once. */
    f->sender.channels = MLC_ALERT_CH_WEBHOOK;
    s = dispatch(f, T0 + 3 * DAY, NULL);
    assert_int_equal(s.sent, 1);
    assert_int_equal(f->fake.n, 1);
    assert_int_equal(f->fake.log[0].channel, MLC_ALERT_CH_WEBHOOK);
}

static void resolved_while_its_notice_was_sent_still_gets_an_all_clear(void **state)
{
    struct fx *f = *state;
    struct mlc_alert a;
    f->sender.channels = MLC_ALERT_CH_EMAIL;
    assert_int_equal(raise_(f, MLC_ALERT_HELD, "9", 2, "held", T0, NULL), MLC_OK);
    dispatch(f, T0, NULL);
    /* A webhook is added; the next reminder is the first the webhook hears, and the problem is
     * fixed while that reminder is on its way. */
    f->sender.channels = MLC_ALERT_CH_ALL;
    f->fake.resolve_on_send = f->st;
    dispatch(f, T0 + RESEND, NULL);
    assert_int_equal(f->fake.n, 3);
    assert_int_equal(get_(f, MLC_ALERT_HELD, "9", &a), MLC_OK);
    assert_true(a.resolved);
    assert_int_equal(a.pending, MLC_ALERT_CH_ALL);
    struct mlc_alert_dispatch_stats s = dispatch(f, T0 + RESEND, NULL);
    assert_int_equal(s.all_clear, 1);
    assert_int_equal(f->fake.n, 5);
    assert_int_equal(f->fake.log[3].notice, MLC_ALERT_NOTICE_ALL_CLEAR);
    assert_int_equal(f->fake.log[4].notice, MLC_ALERT_NOTICE_ALL_CLEAR);
    assert_int_equal(f->fake.log[4].channel, MLC_ALERT_CH_WEBHOOK);
    assert_int_equal(get_(f, MLC_ALERT_HELD, "9", &a), MLC_ERR_NOTFOUND);
}

static void forget_removes_without_an_all_clear(void **state)
{
    struct fx *f = *state;
    struct mlc_txn *txn;
    struct mlc_alert a;
    assert_int_equal(raise_(f, MLC_ALERT_TEST, "test", 0, "test", T0, NULL), MLC_OK);
    dispatch(f, T0, NULL);
    assert_int_equal(mlc_store_begin(f->st, 0, &txn), MLC_OK);
    assert_int_equal(mlc_alert_forget(txn, MLC_ALERT_TEST, "test"), MLC_OK);
    assert_int_equal(mlc_alert_forget(txn, MLC_ALERT_TEST, "test"), MLC_OK);
    assert_int_equal(mlc_store_commit(txn), MLC_OK);
    assert_int_equal(get_(f, MLC_ALERT_TEST, "test", &a), MLC_ERR_NOTFOUND);
    dispatch(f, T0 + 2 * RESEND, NULL);
    assert_int_equal(f->fake.n, 2);
}

static void led_follows_alerts_that_need_a_person(void **state)
{
    struct fx *f = *state;
    struct mlc_txn *txn;
    assert_int_equal(raise_(f, MLC_ALERT_PLAID_CONSENT, "item-9", MLC_ALERT_WARNING,
                            "consent ends in 5 days", T0, NULL), MLC_OK);
    assert_int_equal(mlc_store_begin(f->st, 1, &txn), MLC_OK);
    assert_int_equal(mlc_alert_needs_person(txn), 0);
    mlc_store_abort(txn);
    assert_int_equal(raise_(f, MLC_ALERT_EXACT_CONSENT, "exact", MLC_ALERT_NEEDS_PERSON,
                            "consent lost", T0, NULL), MLC_OK);
    assert_int_equal(mlc_store_begin(f->st, 1, &txn), MLC_OK);
    assert_int_equal(mlc_alert_needs_person(txn), 1);
    mlc_store_abort(txn);
    resolve_(f, MLC_ALERT_EXACT_CONSENT, "exact", T0);
    assert_int_equal(mlc_store_begin(f->st, 1, &txn), MLC_OK);
    assert_int_equal(mlc_alert_needs_person(txn), 0);
    mlc_store_abort(txn);
}

static void failing_runs_raise_at_the_threshold_and_a_success_clears(void **state)
{
    struct fx *f = *state;
    struct mlc_txn *txn;
    struct mlc_alert a;
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(mlc_store_begin(f->st, 0, &txn), MLC_OK);
        assert_int_equal(mlc_alert_run_result(txn, "division.123456", 0, "Exact answered 503", 3,
                                              T0 + i * HOUR), MLC_OK);
        assert_int_equal(mlc_store_commit(txn), MLC_OK);
        assert_int_equal(get_(f, MLC_ALERT_RUN_FAILING, "division.123456", &a),
                         i < 3 ? MLC_ERR_NOTFOUND : MLC_OK);
    }
    assert_non_null(strstr(a.message, "3 times in a row"));
    assert_non_null(strstr(a.message, "Exact answered 503"));
    assert_int_equal(mlc_store_begin(f->st, 0, &txn), MLC_OK);
    assert_int_equal(mlc_alert_run_result(txn, "division.123456", 1, NULL, 3, T0 + 4 * HOUR),
                     MLC_OK);
    assert_int_equal(mlc_store_commit(txn), MLC_OK);
    assert_int_equal(open_count(f), 0);
    /* The count started over: two new failures are not yet an alert. */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(mlc_store_begin(f->st, 0, &txn), MLC_OK);
        assert_int_equal(mlc_alert_run_result(txn, "division.123456", 0, "x", 3, T0 + 5 * HOUR),
                         MLC_OK);
        assert_int_equal(mlc_store_commit(txn), MLC_OK);
    }
    assert_int_equal(open_count(f), 0);
}

static void exact_consent_and_expiry_follow_the_token_state(void **state)
{
    struct fx *f = *state;
    struct mlc_txn *txn;
    struct mlc_alert a;
    struct mlc_exact_token_info ti;
    memset(&ti, 0, sizeof(ti));
    ti.connected = 1;
    ti.refresh_expiry_estimate_ms = T0 + 20 * DAY;
    assert_int_equal(mlc_store_begin(f->st, 0, &txn), MLC_OK);
    assert_int_equal(mlc_alert_sync_exact(txn, &ti, T0), MLC_OK);
    assert_int_equal(mlc_store_commit(txn), MLC_OK);
    assert_int_equal(open_count(f), 0);

    ti.refresh_expiry_estimate_ms = T0 + 5 * DAY; /* keep-alive has not worked for 25 days */
    assert_int_equal(mlc_store_begin(f->st, 0, &txn), MLC_OK);
    assert_int_equal(mlc_alert_sync_exact(txn, &ti, T0), MLC_OK);
    assert_int_equal(mlc_store_commit(txn), MLC_OK);
    assert_int_equal(get_(f, MLC_ALERT_EXACT_EXPIRING, "exact", &a), MLC_OK);
    assert_int_equal(a.severity, MLC_ALERT_WARNING);
    assert_non_null(strstr(a.message, "in 5 days"));

    ti.consent_needed = 1;
    snprintf(ti.consent_reason, sizeof(ti.consent_reason), "the refresh token was refused");
    assert_int_equal(mlc_store_begin(f->st, 0, &txn), MLC_OK);
    assert_int_equal(mlc_alert_sync_exact(txn, &ti, T0), MLC_OK);
    assert_int_equal(mlc_store_commit(txn), MLC_OK);
    assert_int_equal(get_(f, MLC_ALERT_EXACT_CONSENT, "exact", &a), MLC_OK);
    assert_string_equal(a.action, "mlc exact connect");
    assert_int_equal(get_(f, MLC_ALERT_EXACT_EXPIRING, "exact", &a), MLC_ERR_NOTFOUND);
    assert_int_equal(open_count(f), 1);
}

static void texts_cannot_inject_lines(void **state)
{
    struct fx *f = *state;
    struct mlc_alert a;
    assert_int_equal(raise_(f, MLC_ALERT_HELD, "1", 2,
                            "held\r\nBcc: everyone@example.com\r\n\r\nfree money", T0, NULL),
                     MLC_OK);
    assert_int_equal(get_(f, MLC_ALERT_HELD, "1", &a), MLC_OK);
    assert_null(strchr(a.message, '\n'));
    assert_null(strchr(a.message, '\r'));

    char subject[160];
    struct mlc_buf body, mail, json;
    mlc_buf_init(&body, 65536);
    mlc_buf_init(&mail, 65536);
    mlc_buf_init(&json, 65536);
    assert_int_equal(mlc_alert_compose_mail(&a, MLC_ALERT_NOTICE_RAISED, "https://mlc.example",
                                            subject, sizeof(subject), &body), MLC_OK);
    assert_non_null(strstr(body.data, "What to do: mlc plaid relink item-1"));
    const char *to[] = { "office@example.com", "it@example.com" };
    assert_int_equal(mlc_notify_build_mail("mlc@example.com", to, 2, subject, body.data, T0,
                                           "abc@example.com", &mail), MLC_OK);
    /* Exactly one header block: the first empty line ends it, and no Bcc got in. */
    char *end = strstr(mail.data, "\r\n\r\n");
    assert_non_null(end);
    *end = '\0';
    assert_null(strstr(mail.data, "\r\nBcc:")); /* no header line of its own */
    assert_non_null(strstr(mail.data, "To: <office@example.com>, <it@example.com>\r\n"));
    assert_non_null(strstr(mail.data, "Subject: [mlc] Action needed: held  Bcc"));
    assert_non_null(strstr(mail.data, "Date: Wed, 18 Nov 2026"));
    /* Every line of the body ends in CRLF. */
    for (const char *p = end + 4; *p; p++)
        if (*p == '\n')
            assert_true(p[-1] == '\r');

    assert_int_equal(mlc_alert_compose_json(&a, MLC_ALERT_NOTICE_ALL_CLEAR, "box", &json), MLC_OK);
    assert_non_null(strstr(json.data, "\"event\":\"alert.resolved\""));
    assert_non_null(strstr(json.data, "\"kind\":\"held_transactions\""));
    assert_null(strstr(json.data, "\\r\\n")); /* flattened before it was stored */
    mlc_buf_free(&body);
    mlc_buf_free(&mail);
    mlc_buf_free(&json);
}

static void non_ascii_subject_is_encoded(void **state)
{
    (void)state;
    struct mlc_buf mail;
    mlc_buf_init(&mail, 65536);
    const char *to[] = { "a@b.nl" };
    assert_int_equal(mlc_notify_build_mail("m@b.nl", to, 1, "Zweig Köln", "Grüße\n", T0,
                                           "x@b.nl", &mail), MLC_OK);
    assert_non_null(strstr(mail.data, "Subject: =?UTF-8?B?WndlaWcgS8O2bG4=?=\r\n"));
    assert_non_null(strstr(mail.data, "charset=utf-8"));
    mlc_buf_free(&mail);
}

static void addresses_are_checked(void **state)
{
    (void)state;
    char out[MLC_NOTIFY_RCPT_MAX][MLC_NOTIFY_ADDR_MAX + 1];
    assert_int_equal(mlc_notify_parse_addresses(" a@b.nl ,c.d@e.com", out, 8), 2);
    assert_string_equal(out[0], "a@b.nl");
    assert_string_equal(out[1], "c.d@e.com");
    assert_int_equal(mlc_notify_parse_addresses("a@b.nl>\r\nRCPT TO:<x@y", out, 8), MLC_ERR_CONFIG);
    assert_int_equal(mlc_notify_parse_addresses("no-at-sign", out, 8), MLC_ERR_CONFIG);
    assert_int_equal(mlc_notify_parse_addresses("a@@b", out, 8), MLC_ERR_CONFIG);
    assert_int_equal(mlc_notify_parse_addresses("Jan <a@b.nl>", out, 8), MLC_ERR_CONFIG);
    assert_int_equal(mlc_notify_parse_addresses("a@b,c@d", out, 1), MLC_ERR_CONFIG);
}

static void half_configured_email_is_refused_with_the_fix(void **state)
{
    (void)state;
    struct mlc_config c;
    struct mlc_notify *n = (struct mlc_notify *)1;
    char err[512];
    mlc_config_defaults(&c);
    assert_int_equal(mlc_notify_new(&c, NULL, &n, err, sizeof(err)), MLC_OK);
    assert_int_equal(mlc_notify_channels(n), 0);
    mlc_notify_free(n);

    snprintf(c.alerts.email_to, sizeof(c.alerts.email_to), "office@example.com");
    snprintf(c.alerts.email_from, sizeof(c.alerts.email_from), "mlc@example.com");
    assert_int_equal(mlc_notify_new(&c, NULL, &n, err, sizeof(err)), MLC_ERR_CONFIG);
    assert_null(n);
    assert_non_null(strstr(err, "smtp_url"));

    snprintf(c.alerts.smtp_url, sizeof(c.alerts.smtp_url), "smtp://127.0.0.1:2525");
    snprintf(c.alerts.smtp_user, sizeof(c.alerts.smtp_user), "mlc");
    assert_int_equal(mlc_notify_new(&c, NULL, &n, err, sizeof(err)), MLC_ERR_CONFIG);
    assert_non_null(strstr(err, "mlc secret set smtp.password"));

    c.alerts.smtp_user[0] = '\0';
    snprintf(c.alerts.webhook_url, sizeof(c.alerts.webhook_url), "http://127.0.0.1:1/hook");
    assert_int_equal(mlc_notify_new(&c, NULL, &n, err, sizeof(err)), MLC_OK);
    assert_int_equal(mlc_notify_channels(n), MLC_ALERT_CH_ALL);
    mlc_notify_free(n);

    /* The config itself accepts only smtp:// and smtps:// for the mail server. */
    struct mlc_config p;
    char perr[1024];
    const char *bad = "[alerts]\nsmtp_url = https://mail.example.com\n";
    assert_int_equal(mlc_config_parse(&p, bad, strlen(bad), "t.conf", perr, sizeof(perr)),
                     MLC_ERR_CONFIG);
    assert_non_null(strstr(perr, "smtp:// or smtps://"));
    const char *good = "[alerts]\nsmtp_url = smtps://mail.example.com:465\nresend_interval = 6h\n"
                       "[agent]\nclock_skew_max = 30s\n";
    assert_int_equal(mlc_config_parse(&p, good, strlen(good), "t.conf", perr, sizeof(perr)),
                     MLC_OK);
    assert_true(p.alerts.resend_interval == 6 * 3600);
    assert_true(p.agent.clock_skew_max == 30);
    assert_int_equal(p.alerts.failed_runs_threshold, 3);
}

static void dispatch_work_is_bounded(void **state)
{
    struct fx *f = *state;
    char key[16];
    int64_t next = 0;
    for (int i = 0; i < MLC_ALERT_DISPATCH_MAX + 4; i++) {
        snprintf(key, sizeof(key), "acct-%02d", i);
        assert_int_equal(raise_(f, MLC_ALERT_HELD, key, 2, "held", T0, NULL), MLC_OK);
    }
    struct mlc_alert_dispatch_stats s = dispatch(f, T0, &next);
    assert_int_equal(s.sent, MLC_ALERT_DISPATCH_MAX);
    assert_int_equal(s.waiting, 4);
    assert_true(next == T0); /* more is due: call again now */
    s = dispatch(f, T0, NULL);
    assert_int_equal(s.sent, 4);
}

static void too_many_alerts_are_refused_not_grown(void **state)
{
    struct fx *f = *state;
    struct mlc_txn *txn;
    char key[16];
    assert_int_equal(mlc_store_begin(f->st, 0, &txn), MLC_OK);
    for (int i = 0; i < MLC_ALERT_OPEN_MAX; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(mlc_alert_raise(txn, MLC_ALERT_HELD, key, 1, "m", "", T0, NULL), MLC_OK);
    }
    assert_int_equal(mlc_alert_raise(txn, MLC_ALERT_HELD, "one-more", 1, "m", "", T0, NULL),
                     MLC_ERR_TOO_BIG);
    /* an open one can still be raised again */
    assert_int_equal(mlc_alert_raise(txn, MLC_ALERT_HELD, "k0", 2, "m2", "", T0, NULL), MLC_OK);
    assert_int_equal(mlc_alert_raise(txn, MLC_ALERT_HELD, "", 1, "m", "", T0, NULL), MLC_ERR_USAGE);
    assert_int_equal(mlc_store_commit(txn), MLC_OK);
}

static void kind_names_round_trip(void **state)
{
    (void)state;
    for (int k = 0; k < MLC_ALERT__COUNT; k++)
        assert_int_equal(mlc_alert_kind_parse(mlc_alert_kind_name((enum mlc_alert_kind)k)), k);
    assert_int_equal(mlc_alert_kind_parse("nope"), -1);
    assert_string_equal(mlc_alert_kind_name(MLC_ALERT__COUNT), "unknown");
}

#define TF(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TF(same_problem_is_told_once_then_reminded_then_cleared),
        TF(kinds_and_keys_are_separate_alerts),
        TF(resolved_before_anyone_heard_sends_nothing),
        TF(failed_delivery_is_retried_later_and_survives_a_restart),
        TF(retries_back_off_but_stay_within_the_cap),
        TF(reopening_before_the_all_clear_went_out_raises_again),
        TF(no_channel_means_status_page_only_until_one_is_set),
        TF(resolved_while_its_notice_was_sent_still_gets_an_all_clear),
        TF(forget_removes_without_an_all_clear),
        TF(led_follows_alerts_that_need_a_person),
        TF(failing_runs_raise_at_the_threshold_and_a_success_clears),
        TF(exact_consent_and_expiry_follow_the_token_state),
        TF(texts_cannot_inject_lines),
        cmocka_unit_test(non_ascii_subject_is_encoded),
        cmocka_unit_test(addresses_are_checked),
        cmocka_unit_test(half_configured_email_is_refused_with_the_fix),
        TF(dispatch_work_is_bounded),
        TF(too_many_alerts_are_refused_not_grown),
        cmocka_unit_test(kind_names_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
