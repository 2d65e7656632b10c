#include "mlc_engine.h"
#include "mlc_alloc.h"
#include "mlc_audit.h"
#include "mlc_crashpoint.h"
#include "mlc_err.h"
#include "mlc_journal.h"
#include "mlc_log.h"
#include "mlc_platform.h"
#include "mlc_posting.h"
#include "mlc_store.h"

#include <stdio.h>
#include <string.h>

#define MOD "engine"

static int exact_post(void *ctx, struct mlc_store *st, const struct mlc_bank_statement *s,
                      struct mlc_post_result *r)
{
    return mlc_exact_post_statement(ctx, st, s, r);
}

void mlc_engine_exact_poster(struct mlc_poster *p, struct mlc_exact *x)
{
    p->ctx = x;
    p->post = exact_post;
}

void mlc_engine_report_init(struct mlc_engine_report *r)
{
    memset(r, 0, sizeof(*r));
    mlc_buf_init(&r->text, MLC_ENGINE_REPORT_MAX);
}

void mlc_engine_report_free(struct mlc_engine_report *r)
{
    if (r)
        mlc_buf_free(&r->text);
}

static int audit(struct mlc_txn *txn, int64_t now, enum mlc_audit_type type,
                 const struct mlc_plan_statement *s, const struct mlc_plan_line *l,
                 const char *entry_id, uint32_t line, const char *detail)
{
    struct mlc_audit_event ev = { .type = type, .time_ms = now, .account_id = s->account_id,
                                  .transaction_id = l ? l->transaction_id : NULL,
                                  .division = s->division, .journal = s->journal,
                                  .statement = s->id, .entry_id = entry_id, .line = line,
                                  .rule = l ? l->rule : NULL, .currency = s->currency,
                                  .detail = detail };
    if (l && mlc_amount_parse(l->amount, strlen(l->amount), &ev.amount) == MLC_OK)
        ev.has_amount = 1;
    return mlc_audit_append_txn(txn, &ev, NULL);
}

/* Gets the posting record of a transaction, or a fresh one (*fresh = 1). */
static int posting_load(struct mlc_txn *txn, const char *account, const char *tx,
                        struct mlc_posting *p, int *fresh)
{
    int rc = mlc_posting_get(txn, account, tx, p);
    *fresh = 0;
    if (rc == MLC_ERR_NOTFOUND) {
        memset(p, 0, sizeof(*p));
        snprintf(p->account_id, sizeof(p->account_id), "%s", account);
        snprintf(p->transaction_id, sizeof(p->transaction_id), "%s", tx);
        p->state = MLC_PS_SEEN;
        *fresh = 1;
        rc = MLC_OK;
    }
    return rc;
}

static int commit_or_abort(struct mlc_txn *txn, int rc)
{
    if (rc != MLC_OK) {
        mlc_store_abort(txn);
        return rc;
    }
    return mlc_store_commit(txn);
}

/* Records the statement and marks its transactions in flight, in one transaction, BEFORE the
 * POST: a crash after this leaves a statement the next run settles by read-back. */
static int record_inflight(struct mlc_store *st, struct mlc_plan_statement *s, int64_t now)
{
    struct mlc_txn *txn = NULL;
    int rc = mlc_store_begin(st, 0, &txn);
    if (rc != MLC_OK)
        return rc;
    struct mlc_posting_chain chain;
    if ((rc = mlc_posting_chain_get(txn, s->account_id, &chain)) != MLC_OK)
        goto out;
    /* The id comes from the chain, so it is never reused, even after a statement was dropped. */
    snprintf(s->id, sizeof(s->id), "%llu.%.100s", (unsigned long long)chain.next_seq,
             s->account_id);
    chain.next_seq++;
    if ((rc = mlc_posting_chain_put(txn, s->account_id, &chain)) != MLC_OK ||
        (rc = mlc_posting_statement_put(txn, s)) != MLC_OK)
        goto out;
    for (size_t i = 0; i < s->n_lines && rc == MLC_OK; i++) {
        const struct mlc_plan_line *l = &s->lines[i];
        struct mlc_posting p;
        int fresh;
        if ((rc = posting_load(txn, s->account_id, l->transaction_id, &p, &fresh)) != MLC_OK)
            break;
        if (fresh)
            rc = audit(txn, now, MLC_AUDIT_PULLED, s, l, NULL, 0, "settled at the bank");
        if (rc == MLC_OK && !l->reversal) {
            char d[512];
            snprintf(d, sizeof(d), "coded to G/L %s%s%s%s%s%s", l->gl_code[0] ? l->gl_code : l->gl,
                     l->cost_center[0] ? " cost center " : "", l->cost_center,
                     l->moved_from[0] ? "; booked on " : "", l->moved_from[0] ? l->date : "",
                     l->moved_from[0] ? " (its own period is closed or already followed by a "
                                        "later statement)" : "");
            rc = audit(txn, now, MLC_AUDIT_CODED, s, l, NULL, 0, d);
        }
        p.state = MLC_PS_INFLIGHT;
        snprintf(p.statement, sizeof(p.statement), "%s", s->id);
        p.reason[0] = '\0';
        p.updated_ms = now;
        if (rc == MLC_OK)
            rc = mlc_posting_put(txn, &p);
    }
out:
    return commit_or_abort(txn, rc);
}

/* Applies what the poster decided about statement s, in one transaction. *go_on = 0 when the
 * account must stop for this run (anything but POSTED). */
static int apply_outcome(struct mlc_store *st, const struct mlc_plan_statement *s,
                         const struct mlc_post_result *r, int64_t now,
                         struct mlc_engine_report *rep, int *go_on)
{
    *go_on = 0;
    if (r->outcome == MLC_POST_RETRY_LATER) {
        rep->retry_later++;
        return mlc_buf_printf(&rep->text, "  statement %s: not decided yet (%s); it is settled "
                              "first on the next run\n", s->id, r->reason);
    }
    struct mlc_txn *txn = NULL;
    int rc = mlc_store_begin(st, 0, &txn);
    if (rc != MLC_OK)
        return rc;
    for (size_t i = 0; i < s->n_lines && rc == MLC_OK; i++) {
        const struct mlc_plan_line *l = &s->lines[i];
        struct mlc_posting p;
        int fresh;
        if ((rc = posting_load(txn, s->account_id, l->transaction_id, &p, &fresh)) != MLC_OK)
            break;
        p.updated_ms = now;
        if (r->outcome == MLC_POST_POSTED) {
            uint32_t line = (uint32_t)i + 1;
            snprintf(p.entry_id, sizeof(p.entry_id), "%s", r->entry_id);
            snprintf(p.statement, sizeof(p.statement), "%s", s->id);
            p.line = line;
            if (l->reversal) {
                p.in_ledger = 0;
                p.state = MLC_PS_REVERSED;
                rc = audit(txn, now, MLC_AUDIT_REVERSED, s, l, r->entry_id, line,
                           "the bank changed or removed it after posting: reversal line");
            } else {
                p.in_ledger = 1;
                p.state = MLC_PS_POSTED;
                snprintf(p.led_amount, sizeof(p.led_amount), "%s", l->amount);
                snprintf(p.led_date, sizeof(p.led_date), "%s", l->moved_from[0] ? l->moved_from
                                                                                : l->date);
                snprintf(p.led_gl, sizeof(p.led_gl), "%s", l->gl);
                snprintf(p.led_cc, sizeof(p.led_cc), "%s", l->cost_center);
                snprintf(p.led_name, sizeof(p.led_name), "%s", l->description);
                rc = audit(txn, now, MLC_AUDIT_POSTED, s, l, r->entry_id, line,
                           r->settled_by_readback ? "posted (confirmed by read-back)" : "posted");
            }
        } else {
            int this_line = r->outcome == MLC_POST_HELD &&
                            (r->held_line < 0 || (size_t)r->held_line == i);
            p.statement[0] = '\0';
            if (this_line) {
                p.state = MLC_PS_HELD;
                snprintf(p.reason, sizeof(p.reason), "%.250s", r->reason);
                rc = audit(txn, now, MLC_AUDIT_HELD, s, l, NULL, 0, r->reason);
                rep->held++;
            } else {
                /* Nothing landed: ready again (a reversed line's original still stands). */
                p.state = p.in_ledger ? MLC_PS_POSTED : MLC_PS_READY;
            }
        }
        if (rc == MLC_OK)
            rc = mlc_posting_put(txn, &p);
    }
    if (rc == MLC_OK && r->outcome == MLC_POST_POSTED) {
        struct mlc_posting_chain chain;
        rc = mlc_posting_chain_get(txn, s->account_id, &chain);
        if (rc == MLC_OK && s->has_balance) {
            chain.has_closing = 1;
            snprintf(chain.closing, sizeof(chain.closing), "%s", s->closing);
            snprintf(chain.closing_statement, sizeof(chain.closing_statement), "%s", s->id);
        }
        if (rc == MLC_OK && (s->year > chain.head_year ||
                             (s->year == chain.head_year && s->period > chain.head_period))) {
            chain.head_year = s->year;
            chain.head_period = s->period;
        }
        if (rc == MLC_OK)
            rc = mlc_posting_chain_put(txn, s->account_id, &chain);
    }
    if (rc == MLC_OK && r->outcome == MLC_POST_NOT_LANDED)
        rc = audit(txn, now, MLC_AUDIT_NOTE, s, NULL, NULL, 0,
                   "the statement did not land in Exact (read-back); its lines post again");
    if (rc == MLC_OK) {
        rc = mlc_posting_statement_del(txn, s->id);
        if (rc == MLC_ERR_NOTFOUND)
            rc = MLC_OK;
    }
    if ((rc = commit_or_abort(txn, rc)) != MLC_OK)
        return rc;
    switch (r->outcome) {
    case MLC_POST_POSTED: {
        size_t rev = 0;
        for (size_t i = 0; i < s->n_lines; i++)
            rev += s->lines[i].reversal ? 1 : 0;
        rep->statements_posted++;
        rep->lines_posted += s->n_lines - rev;
        rep->reversals_posted += rev;
        *go_on = 1;
        return mlc_buf_printf(&rep->text, "  statement %s: posted as entry %ld (%zu lines%s)\n",
                              s->id, r->entry_number, s->n_lines,
                              r->settled_by_readback ? ", confirmed by read-back" : "");
    }
    case MLC_POST_NOT_LANDED:
        rep->not_landed++;
        return mlc_buf_printf(&rep->text, "  statement %s: did not land in Exact; its lines "
                              "post again next run\n", s->id);
    default:
        return mlc_buf_printf(&rep->text, "  statement %s: HELD: %s\n", s->id, r->reason);
    }
}

static int post_one(struct mlc_store *st, const struct mlc_poster *poster,
                    const struct mlc_plan_statement *s, int64_t now,
                    struct mlc_engine_report *rep, int *go_on)
{
    struct mlc_bank_line *lines = mlc_calloc(s->n_lines ? s->n_lines : 1, sizeof(*lines));
    if (!lines)
        return MLC_ERR_NOMEM;
    struct mlc_bank_statement bs;
    struct mlc_post_result r;
    memset(&r, 0, sizeof(r));
    mlc_plan_statement_view(s, lines, &bs);
    int rc = poster->post(poster->ctx, st, &bs, &r);
    mlc_free(lines);
    if (rc != MLC_OK) {
        /* A local failure of the client: nothing is decided; the record stays in flight. */
        MLC_LOG_WRN(MOD, "post_failed statement=%s err=%d", s->id, rc);
        r.outcome = MLC_POST_RETRY_LATER;
        snprintf(r.reason, sizeof(r.reason), "%s", mlc_err_str(rc));
    }
    return apply_outcome(st, s, &r, now, rep, go_on);
}

/* ---- statements left in flight ---- */

struct ids {
    char (*v)[MLC_POST_ID_MAX + 1];
    size_t n, cap;
};

static int collect_id(void *ctx, const char *id)
{
    struct ids *l = ctx;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 8;
        if (nc > MLC_ENGINE_ACCOUNTS_MAX * 4)
            return MLC_ERR_TOO_BIG;
        void *p = mlc_realloc(l->v, nc * sizeof(*l->v));
        if (!p)
            return MLC_ERR_NOMEM;
        l->v = p;
        l->cap = nc;
    }
    snprintf(l->v[l->n++], MLC_POST_ID_MAX + 1, "%s", id);
    return 0;
}

static int settle_inflight(struct mlc_store *st, const struct mlc_engine_opts *o, int64_t now,
                           struct mlc_engine_report *rep)
{
    struct ids ids = { 0 };
    struct mlc_txn *txn = NULL;
    int rc = mlc_store_begin(st, 1, &txn);
    if (rc == MLC_OK)
        rc = mlc_posting_inflight_each(txn, collect_id, &ids);
    mlc_store_abort(txn);
    txn = NULL;
    for (size_t i = 0; rc == MLC_OK && i < ids.n; i++) {
        struct mlc_plan_statement s;
        if ((rc = mlc_store_begin(st, 1, &txn)) != MLC_OK)
            break;
        rc = mlc_posting_statement_get(txn, ids.v[i], &s);
        mlc_store_abort(txn);
        txn = NULL;
        if (rc != MLC_OK)
            break;
        if (o->account_id && strcmp(o->account_id, s.account_id) != 0) {
            mlc_plan_statement_free(&s);
            continue;
        }
        if (o->dry_run) {
            rc = mlc_buf_printf(&rep->text, "statement %s (account %s) is in flight: the next "
                                "run settles it by read-back before posting anything\n", s.id,
                                s.account_id);
        } else {
            int go_on;
            rep->settled_inflight++;
            rc = mlc_buf_printf(&rep->text, "account %s: settling statement %s left in flight\n",
                                s.account_id, s.id);
            if (rc == MLC_OK)
                rc = post_one(st, o->poster, &s, now, rep, &go_on);
        }
        mlc_plan_statement_free(&s);
    }
    mlc_free(ids.v);
    return rc;
}

/* ---- per account ---- */

struct accounts {
    struct mlc_journal_account *v;
    size_t n, cap;
};

static int collect_account(void *ctx, const struct mlc_journal_account *a)
{
    struct accounts *l = ctx;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 8;
        if (nc > MLC_ENGINE_ACCOUNTS_MAX)
            return MLC_ERR_TOO_BIG;
        void *p = mlc_realloc(l->v, nc * sizeof(*l->v));
        if (!p)
            return MLC_ERR_NOMEM;
        l->v = p;
        l->cap = nc;
    }
    l->v[l->n++] = *a;
    return 0;
}

/* Held, dropped and changed-description items, recorded before any statement of the account. */
static int record_items(struct mlc_store *st, const struct mlc_plan_account *p, int64_t now)
{
    if (!p->held.n && !p->dropped.n && !p->described.n && !p->pending.n)
        return MLC_OK;
    struct mlc_txn *txn = NULL;
    int rc = mlc_store_begin(st, 0, &txn);
    if (rc != MLC_OK)
        return rc;
    struct mlc_plan_statement ctx = { 0 };
    snprintf(ctx.account_id, sizeof(ctx.account_id), "%s", p->account_id);
    ctx.division = p->map.division;
    snprintf(ctx.journal, sizeof(ctx.journal), "%s", p->map.journal);
    snprintf(ctx.currency, sizeof(ctx.currency), "%s", p->currency);
    const struct mlc_plan_items *lists[] = { &p->held, &p->dropped, &p->described, &p->pending };
    for (size_t k = 0; k < 4 && rc == MLC_OK; k++) {
        for (size_t i = 0; i < lists[k]->n && rc == MLC_OK; i++) {
            const struct mlc_plan_item *it = &lists[k]->v[i];
            struct mlc_plan_line l = { 0 };
            snprintf(l.transaction_id, sizeof(l.transaction_id), "%s", it->transaction_id);
            struct mlc_posting ps;
            int fresh;
            if ((rc = posting_load(txn, p->account_id, it->transaction_id, &ps,
                                   &fresh)) != MLC_OK)
                break;
            int write = 1;
            if (fresh && k != 1)
                rc = audit(txn, now, MLC_AUDIT_PULLED, &ctx, &l, NULL, 0,
                           k == 3 ? "pending at the bank" : "settled at the bank");
            if (rc != MLC_OK)
                break;
            if (k == 0) {
                /* Audited once per reason, not on every run it stays held. */
                if (ps.state != MLC_PS_HELD || strcmp(ps.reason, it->text) != 0)
                    rc = audit(txn, now, MLC_AUDIT_HELD, &ctx, &l, NULL, 0, it->text);
                ps.state = MLC_PS_HELD;
                snprintf(ps.reason, sizeof(ps.reason), "%s", it->text);
            } else if (k == 1) {
                char d[MLC_POSTING_REASON_MAX + 64];
                snprintf(d, sizeof(d), "%s: nothing to reverse", it->text);
                rc = audit(txn, now, MLC_AUDIT_NOTE, &ctx, &l, NULL, 0, d);
                ps.state = MLC_PS_DROPPED;
            } else if (k == 2) {
                char d[MLC_AUDIT_DETAIL_MAX];
                snprintf(d, sizeof(d), "description changed at the bank from \"%.400s\" to "
                         "\"%.400s\"; amount and date unchanged, the ledger is left as it is",
                         ps.led_name, it->text);
                rc = audit(txn, now, MLC_AUDIT_NOTE, &ctx, &l, NULL, 0, d);
                snprintf(ps.led_name, sizeof(ps.led_name), "%s", it->text);
            } else {
                write = fresh; /* pending: seen once; never posted */
            }
            ps.updated_ms = now;
            if (rc == MLC_OK && write)
                rc = mlc_posting_put(txn, &ps);
        }
    }
    return commit_or_abort(txn, rc);
}

static int balance_check(struct mlc_store *st, const struct mlc_plan_account *p,
                         struct mlc_engine_report *rep)
{
    if (!p->has_bank_balance)
        return mlc_buf_printf(&rep->text, "  balance: Plaid gave no current balance; none is "
                              "sent to Exact and none compared\n");
    struct mlc_txn *txn = NULL;
    struct mlc_posting_chain chain;
    int rc = mlc_store_begin(st, 1, &txn);
    if (rc == MLC_OK)
        rc = mlc_posting_chain_get(txn, p->account_id, &chain);
    mlc_store_abort(txn);
    if (rc != MLC_OK || !chain.has_closing)
        return rc;
    struct mlc_amount bank, closing, diff;
    if (mlc_amount_parse(p->bank_balance, strlen(p->bank_balance), &bank) != MLC_OK ||
        mlc_amount_parse(chain.closing, strlen(chain.closing), &closing) != MLC_OK ||
        mlc_amount_add(bank, mlc_amount_neg(closing), &diff) != MLC_OK)
        return MLC_ERR_DATA;
    if (mlc_amount_is_zero(diff))
        return mlc_buf_printf(&rep->text, "  balance: Exact closing %s equals the bank's %s\n",
                              chain.closing, p->bank_balance);
    char d[MLC_AMOUNT_STRMAX];
    mlc_amount_format(diff, 2, d, sizeof(d));
    rep->balance_differences++;
    return mlc_buf_printf(&rep->text, "  balance DIFFERS by %s %s: Exact closing %s, bank %s "
                          "(held, pending or unposted lines explain part; check them)\n", d,
                          p->currency, chain.closing, p->bank_balance);
}

static int run_account(struct mlc_store *st, const struct mlc_engine_opts *o,
                       const struct mlc_journal_account *a, int64_t now,
                       struct mlc_engine_report *rep)
{
    struct mlc_plan_account p;
    struct mlc_plan_opts po = { o->lines_max, o->bytes_max, o->closed_policy, o->since };
    struct mlc_txn *txn = NULL;
    int rc = mlc_store_begin(st, 1, &txn);
    if (rc != MLC_OK)
        return rc;
    rc = mlc_posting_plan(st, txn, a, &po, &p);
    mlc_store_abort(txn);
    if (rc != MLC_OK)
        goto out;
    rep->accounts++;
    rep->pending += p.pending.n;
    if (p.problem[0])
        rep->needs_person_accounts++;
    if (o->dry_run) {
        rep->held += p.held.n;
        if ((rc = mlc_plan_print(&p, &rep->text)) == MLC_OK && p.mapped && !p.problem[0])
            rc = balance_check(st, &p, rep);
        goto out;
    }
    rc = mlc_buf_printf(&rep->text, "account %s (%s)%s%s\n", p.account_id, p.name,
                        p.problem[0] ? ": NEEDS A PERSON: " : "", p.problem);
    if (rc == MLC_OK && p.waiting)
        rc = mlc_buf_printf(&rep->text, "  %zu settled transaction%s wait%s for this\n",
                            p.waiting, p.waiting == 1 ? "" : "s", p.waiting == 1 ? "s" : "");
    if (rc != MLC_OK || !p.mapped || p.problem[0])
        goto out;
    if ((rc = record_items(st, &p, now)) != MLC_OK)
        goto out;
    if (p.inflight.n) {
        /* Its statement was not settled at the start of this run: the next opening balance
         * depends on it, so nothing more is posted for the account until it is. */
        rc = mlc_buf_printf(&rep->text, "  %zu line%s still in flight (statement %s): nothing "
                            "more is posted for this account until Exact confirms it\n",
                            p.inflight.n, p.inflight.n == 1 ? "" : "s", p.inflight.v[0].text);
        goto out;
    }
    rep->held += p.held.n;
    for (size_t i = 0; i < p.held.n && rc == MLC_OK; i++)
        rc = mlc_buf_printf(&rep->text, "  held %s: %s\n", p.held.v[i].transaction_id,
                            p.held.v[i].text);
    for (size_t i = 0; i < p.n_statements && rc == MLC_OK; i++) {
        int go_on = 0;
        if ((rc = record_inflight(st, &p.statements[i], now)) != MLC_OK)
            break;
        mlc_crashpoint("engine.inflight");
        if ((rc = post_one(st, o->poster, &p.statements[i], now, rep, &go_on)) != MLC_OK ||
            !go_on)
            break; /* the chain's next opening depends on this one: stop the account */
    }
    if (rc == MLC_OK)
        rc = balance_check(st, &p, rep);
out:
    mlc_plan_account_free(&p);
    return rc;
}

int mlc_engine_run(struct mlc_store *st, const struct mlc_engine_opts *o,
                   struct mlc_engine_report *rep)
{
    if (!o || (!o->dry_run && (!o->poster || !o->poster->post)))
        return MLC_ERR_INTERNAL;
    int64_t now = o->now_ms ? o->now_ms : mlc_time_now_ms();
    struct accounts accs = { 0 };
    struct mlc_txn *txn = NULL;
    int rc = MLC_OK;
    if (o->pull) {
        struct mlc_buf msg;
        mlc_buf_init(&msg, 64 * 1024);
        int prc = o->pull(o->pull_ctx, st, &msg);
        if (prc != MLC_OK)
            rc = mlc_buf_printf(&rep->text, "pull from Plaid incomplete (%s): %s; posting what "
                                "the journal holds\n", mlc_err_str(prc),
                                msg.data ? msg.data : "");
        mlc_buf_free(&msg);
        if (rc != MLC_OK)
            return rc;
    }
    if ((rc = settle_inflight(st, o, now, rep)) != MLC_OK)
        goto out;
    if ((rc = mlc_store_begin(st, 1, &txn)) != MLC_OK)
        goto out;
    rc = mlc_journal_account_each(txn, NULL, collect_account, &accs);
    mlc_store_abort(txn);
    if (rc != MLC_OK)
        goto out;
    int found = 0;
    for (size_t i = 0; i < accs.n && rc == MLC_OK; i++) {
        if (o->account_id && strcmp(o->account_id, accs.v[i].account_id) != 0)
            continue;
        found = 1;
        rc = run_account(st, o, &accs.v[i], now, rep);
    }
    if (rc == MLC_OK && o->account_id && !found)
        rc = MLC_ERR_NOTFOUND;
out:
    mlc_free(accs.v);
    return rc;
}
