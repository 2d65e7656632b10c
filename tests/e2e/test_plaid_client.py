"""The Plaid client end to end: the real mlc binary against the Plaid emulator. Enrollment, the
/transactions/sync loop into the journal (history over many pages, pending -> posted, modified,
removed, mutation during pagination, a crash in the middle), rate limits, item health, consent
expiry, token rotation (with a crash at the worst moment) and the Link page."""
import re
import subprocess
import threading
import time
from decimal import Decimal

import pytest

import harness


# ---- helpers ---------------------------------------------------------------------------------------

def ok(r):
    assert r.returncode == 0, "mlc failed (%d):\n%s\n%s" % (r.returncode, r.stdout, r.stderr)
    return r


def set_plaid(mlc, **values):
    text = harness.set_ini_keys(mlc.config.read_text(), "plaid", {k: str(v) for k, v in values.items()})
    mlc.config.write_text(text)


def link(mlc, institution="ins_109508"):
    out = ok(mlc("plaid", "link", "--sandbox", "--institution", institution)).stdout
    m = re.search(r"item (\S+) with", out)
    assert m, out
    return m.group(1)


def journal(mlc):
    """transaction_id -> row dict; fails on a duplicate id (the ledger must hold each once)."""
    rows = {}
    for line in ok(mlc("plaid", "journal")).stdout.splitlines():
        state, acct, tid, date, amount, cur, pend, name = line.split("\t")
        assert tid not in rows, "transaction %s twice in the journal" % tid
        rows[tid] = {"state": state, "account_id": acct, "date": date, "amount": Decimal(amount),
                     "currency": cur, "pending_transaction_id": None if pend == "-" else pend,
                     "name": name}
    return rows


def alerts(mlc):
    out = ok(mlc("plaid", "journal", "--alerts")).stdout
    return [dict(zip(("kind", "item_id", "raised", "message"), l.split("\t", 3)))
            for l in out.splitlines()]


def truth_of(sb, item_id):
    t = sb.truth()
    item = [i for i in t["items"] if i["item_id"] == item_id][0]
    accts = set(item["account_ids"])
    return {x["transaction_id"]: x for x in t["transactions"] if x["account_id"] in accts}


def assert_journal_equals_truth(mlc, sb, item_ids):
    j = journal(mlc)
    t = sb.truth()
    accts = set()
    for i in t["items"]:
        if i["item_id"] in item_ids:
            accts |= set(i["account_ids"])
    j = {k: v for k, v in j.items() if v["account_id"] in accts}
    live = {k: v for k, v in j.items() if v["state"] != "removed"}
    want = {x["transaction_id"]: x for x in t["transactions"] if x["account_id"] in accts}
    missing = set(want) - set(live)
    extra = set(live) - set(want)
    assert not missing and not extra, "journal differs from the bank: %d missing, %d extra" % (
        len(missing), len(extra))
    for tid, t in want.items():
        row = live[tid]
        assert row["amount"] == Decimal(t["amount_cents"]) / 100, (tid, row, t)
        assert (row["state"] == "pending") == bool(t["pending"]), (tid, row, t)
        assert row["date"] == t["date"]
        assert row["pending_transaction_id"] == t["pending_transaction_id"]
    return j


def pages_of(stdout):
    m = re.search(r"(\d+) pages?", stdout)
    return int(m.group(1)) if m else 0


# ---- enrollment and history -----------------------------------------------------------------------

@pytest.mark.sandbox(months=24)
def test_headless_enrollment_and_24_months_over_many_pages(mlc_sandbox):
    mlc, sb = mlc_sandbox, mlc_sandbox.sandbox
    item = link(mlc)
    # the item and its accounts are recorded, the token is sealed, not in the clear
    r = ok(mlc("plaid", "items"))
    assert item in r.stdout and " ok " in r.stdout and "Plaid credentials: ok" in r.stdout
    assert "access-sandbox" not in (mlc.data / "store" / "data.mdb").read_bytes().decode("latin-1")
    sb.admin("plaid", "POST", "reset_calls", {})
    r = ok(mlc("plaid", "sync"))
    assert pages_of(r.stdout) >= 4, r.stdout       # 24 months do not fit in a few 500-count pages
    j = assert_journal_equals_truth(mlc, sb, [item])
    assert len(j) == len(truth_of(sb, item))
    # one POST per page, no retries and no restarts (the emulator refuses a wrong Plaid-Version)
    calls = sb.calls("plaid")["counts"]
    assert calls.get("POST /transactions/sync") == pages_of(r.stdout), calls
    # a second sync right away is empty and changes nothing
    r2 = ok(mlc("plaid", "sync"))
    assert "0 added, 0 modified, 0 removed" in r2.stdout
    assert journal(mlc) == j


def test_pending_posted_modified_removed_follow_the_bank(mlc_sandbox):
    mlc, sb = mlc_sandbox, mlc_sandbox.sandbox
    item = link(mlc)
    ok(mlc("plaid", "sync"))
    before = journal(mlc)
    pend_before = {k for k, v in before.items() if v["state"] == "pending"}
    assert pend_before, "the world should have pending transactions"
    sb.advance_days(20)
    r = ok(mlc("plaid", "sync"))
    j = assert_journal_equals_truth(mlc, sb, [item])
    # pendings settled: the pending is kept as removed, the posted one links back to it
    settled_links = {v["pending_transaction_id"] for v in j.values()
                     if v["state"] != "pending" and v["pending_transaction_id"]}
    gone = {k for k in pend_before if j[k]["state"] == "removed"}
    assert gone and gone & settled_links, r.stdout
    # some posted ones carry a different amount than their pending (tips)
    changed = [v for v in j.values() if v["pending_transaction_id"] in before
               and v["amount"] != before[v["pending_transaction_id"]]["amount"]]
    assert changed, "expected a pending -> posted amount change in 20 days"


def test_modified_and_removed_after_settling(mlc_sandbox):
    mlc, sb = mlc_sandbox, mlc_sandbox.sandbox
    item = link(mlc)
    ok(mlc("plaid", "sync"))
    before = journal(mlc)
    # enough days for the world to modify or remove a posted transaction now and then
    for _ in range(6):
        sb.advance_days(15)
        ok(mlc("plaid", "sync"))
    j = assert_journal_equals_truth(mlc, sb, [item])
    states = {v["state"] for v in j.values()}
    assert "modified" in states or any(
        j[k]["state"] == "removed" and before[k]["state"] == "settled" for k in before), states


# ---- the cursor rules -----------------------------------------------------------------------------

@pytest.mark.sandbox(months=6)
def test_mutation_during_pagination_restarts_from_the_update_start(mlc_sandbox):
    mlc, sb = mlc_sandbox, mlc_sandbox.sandbox
    set_plaid(mlc, sync_count=100)
    item = link(mlc)
    # hold the second page long enough for the bank to change under it
    sb.fault("plaid", {"kind": "latency", "path": "/transactions/sync", "skip": 1, "count": 1,
                       "delay_ms": 2500})
    proc = subprocess.Popen([mlc.bin, "--config", str(mlc.config), "--data-dir", str(mlc.data),
                             "plaid", "sync"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            n = sum(1 for c in sb.calls("plaid").get("recent", [])
                    if "/transactions/sync" in str(c))
            if n >= 2:
                break
            time.sleep(0.05)
        sb.advance_days(3)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "restarted from the update's start" in out, (out, err)
    assert "sync_restart" in err and "reason=mutation" in err
    assert_journal_equals_truth(mlc, sb, [item])


@pytest.mark.sandbox(months=24)
def test_crash_in_the_middle_of_pagination_then_restart(mlc_sandbox):
    mlc, sb = mlc_sandbox, mlc_sandbox.sandbox
    item = link(mlc)
    r = mlc("plaid", "sync", env={"MLC_CRASH_AT": "plaid.page.stored@3"})
    assert r.returncode == -9, (r.returncode, r.stderr)
    part = journal(mlc)
    assert 0 < len(part) < len(truth_of(sb, item))
    sb.advance_days(2)            # the bank moves on while the agent is down
    r = ok(mlc("plaid", "sync"))
    assert "restarted from the update's start" in r.stdout
    j = assert_journal_equals_truth(mlc, sb, [item])
    assert len(j) >= len(truth_of(sb, item))


def test_rate_limited_sync_backs_off_and_finishes(mlc_sandbox):
    mlc, sb = mlc_sandbox, mlc_sandbox.sandbox
    item = link(mlc)
    sb.fault("plaid", {"kind": "rate_limit", "path": "/transactions/sync", "status": 429,
                       "count": 2})
    r = ok(mlc("plaid", "sync"))
    assert r.stderr.count("mod=plaid retry") == 2, r.stderr
    assert "TRANSACTIONS_SYNC_LIMIT" in r.stderr or "RATE_LIMIT" in r.stderr
    assert_journal_equals_truth(mlc, sb, [item])


@pytest.mark.sandbox(plaid_opts={"rate_window_s": 3})
def test_per_item_rate_limit_of_the_sandbox_is_waited_out(mlc_sandbox):
    # Plaid's per-item limit for /transactions/sync is 50 calls per window (here 3 s): small pages
    # force more calls than that, the agent backs off on TRANSACTIONS_SYNC_LIMIT and finishes.
    mlc, sb = mlc_sandbox, mlc_sandbox.sandbox
    set_plaid(mlc, sync_count=3)
    item = link(mlc)
    r = ok(mlc("plaid", "sync", timeout=300))
    assert pages_of(r.stdout) > 50, r.stdout
    assert "plaid_error=TRANSACTIONS_SYNC_LIMIT" in r.stderr, r.stderr[-2000:]
    assert_journal_equals_truth(mlc, sb, [item])


# ---- item health ----------------------------------------------------------------------------------

def test_login_required_on_one_item_while_the_other_keeps_syncing(mlc_sandbox):
    mlc, sb = mlc_sandbox, mlc_sandbox.sandbox
    a = link(mlc, "ins_109508")
    b = link(mlc, "ins_120001")
    ok(mlc("plaid", "sync"))
    sb.admin("plaid", "POST", "item", {"item_id": a, "error": "ITEM_LOGIN_REQUIRED"})
    sb.advance_days(5)
    r = mlc("plaid", "sync")
    assert r.returncode == 69, (r.returncode, r.stderr)
    assert a in r.stderr and "log in again" in r.stderr
    assert b + ":" in r.stdout                       # the other item synced
    assert_journal_equals_truth(mlc, sb, [b])
    kinds = {(x["kind"], x["item_id"]) for x in alerts(mlc)}
    assert ("needs_reauth", a) in kinds
    r = mlc("plaid", "items")
    assert r.returncode == 69 and "needs re-authentication" in r.stdout
    # the next sync skips it without calling Plaid for it, and still fails only that item
    r = mlc("plaid", "sync")
    assert r.returncode == 69 and "skipped " + a in r.stderr
    # repaired at the bank (LOGIN_REPAIRED): the installer's check sees it and clears the state
    sb.admin("plaid", "POST", "item", {"item_id": a, "error": None})
    ok(mlc("plaid", "items"))
    assert ("needs_reauth", a) not in {(x["kind"], x["item_id"]) for x in alerts(mlc)}
    ok(mlc("plaid", "sync"))
    assert_journal_equals_truth(mlc, sb, [a, b])


def test_consent_expiry_raises_an_alert_a_week_ahead(mlc_sandbox):
    mlc, sb = mlc_sandbox, mlc_sandbox.sandbox
    item = link(mlc, "ins_120001")                  # NL: consent expires after 180 days
    ok(mlc("plaid", "items"))
    assert not [x for x in alerts(mlc) if x["kind"] == "consent_expiring"]
    sb.admin("plaid", "POST", "item", {"item_id": item,
                                       "consent_expiration_time": time.time() + 3 * 86400})
    r = ok(mlc("plaid", "items"))
    assert "consent until" in r.stdout
    al = [x for x in alerts(mlc) if x["kind"] == "consent_expiring"]
    assert al and al[0]["item_id"] == item and "relink" in al[0]["message"]


def test_accounts_numbers_and_balances(mlc_sandbox):
    mlc, sb = mlc_sandbox, mlc_sandbox.sandbox
    link(mlc, "ins_120001")
    r = ok(mlc("plaid", "accounts"))
    assert "IBAN …" in r.stdout
    ibans = [a.get("iban") for a in sb.bank_accounts if a.get("iban")]
    for iban in ibans:
        assert iban not in r.stdout                 # masked for display
    r = ok(mlc("plaid", "balances"))
    assert "(live, read " in r.stdout
    t = sb.truth()
    seen = 0
    for a in t["accounts"]:
        if a["plaid_account_id"] in r.stdout and a.get("current_cents") is not None:
            assert "current %s " % (Decimal(a["current_cents"]) / 100).quantize(Decimal("0.01")) in r.stdout, r.stdout
            seen += 1
    assert seen >= 1


# ---- rotation -------------------------------------------------------------------------------------

def test_rotate_keeps_the_item_working(mlc_sandbox):
    mlc, sb = mlc_sandbox, mlc_sandbox.sandbox
    item = link(mlc)
    old = [i for i in sb.admin("plaid", "GET", "items")["items"] if i["item_id"] == item][0]
    ok(mlc("plaid", "rotate", item))
    new = [i for i in sb.admin("plaid", "GET", "items")["items"] if i["item_id"] == item][0]
    assert new["access_tokens"] and new["access_tokens"] != old["access_tokens"]
    ok(mlc("plaid", "sync"))
    assert_journal_equals_truth(mlc, sb, [item])


def test_rotation_lost_before_plaid_answered_is_recovered(mlc_sandbox):
    mlc, sb = mlc_sandbox, mlc_sandbox.sandbox
    item = link(mlc)
    # the request never reaches Plaid: the old token still works and the intent is cleared
    sb.fault("plaid", {"kind": "drop", "path": "/item/access_token/invalidate", "count": 0})
    r = mlc("plaid", "rotate", item)
    assert r.returncode != 0
    sb.clear_faults("plaid")
    r = ok(mlc("plaid", "items"))
    assert " ok " in r.stdout
    ok(mlc("plaid", "sync"))


def test_crash_after_plaid_rotated_marks_the_item_for_a_new_link(mlc_sandbox):
    mlc, sb = mlc_sandbox, mlc_sandbox.sandbox
    item = link(mlc)
    r = mlc("plaid", "rotate", item, env={"MLC_CRASH_AT": "plaid.rotate.answered"})
    assert r.returncode == -9
    # Plaid retired the old token and the new one died with the process: no silent failure,
    # the item says what to do and the other commands do not pretend it works
    r = mlc("plaid", "items")
    assert r.returncode == 69 and "needs a new link" in r.stdout, r.stdout
    assert ("token_lost", item) in {(x["kind"], x["item_id"]) for x in alerts(mlc)}
    r = mlc("plaid", "sync")
    assert r.returncode == 69
    # linking again gives a working item
    item2 = link(mlc)
    ok(mlc("plaid", "sync", item2))


# ---- the Link page --------------------------------------------------------------------------------

def test_link_page_exchanges_the_public_token(mlc_sandbox):
    mlc, sb = mlc_sandbox, mlc_sandbox.sandbox
    proc = subprocess.Popen([mlc.bin, "--config", str(mlc.config), "--data-dir", str(mlc.data),
                             "plaid", "link", "--timeout", "60"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        m = re.search(r"open (\S+) in a browser", line)
        assert m, line
        url = m.group(1)
        status, page, _ = harness.http("GET", url)
        assert status == 200
        page = page.decode() if isinstance(page, bytes) else str(page)
        assert sb.plaid_url + "/link-initialize.js" in page
        token = re.search(r"token:'([^']+)'", page).group(1)
        done_path = re.search(r"fetch\('([^']+)'", page).group(1)
        # play the browser: Link (the emulator's stand-in) consents and hands back a public token
        status, ans, _ = harness.http("GET", sb.plaid_url + "/link?token=%s&format=json" % token)
        assert status == 200, ans
        base = url.split("/link")[0]
        status, _, _ = harness.http("POST", base + done_path, {"public_token": ans["public_token"]})
        assert status == 200
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "linked " in out
    assert re.search(r"item (\S+) with", out)


# ---- webhooks -------------------------------------------------------------------------------------

def wait_for(pred, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError("timed out waiting for " + what)


def journal_matches(mlc, sb, item_ids):
    try:
        assert_journal_equals_truth(mlc, sb, item_ids)
        return True
    except AssertionError:
        return False


def test_webhooks_drive_syncs_and_item_health(mlc_sandbox):
    mlc, sb = mlc_sandbox, mlc_sandbox.sandbox
    port = int(mlc.status_url.rstrip("/").rsplit(":", 1)[1])
    set_plaid(mlc, webhook_url="http://127.0.0.1:%d/webhooks/plaid" % port)
    item = link(mlc)
    ok(mlc("plaid", "sync"))                # activates SYNC_UPDATES_AVAILABLE (plaid.md 5.3)
    proc = subprocess.Popen([mlc.bin, "--config", str(mlc.config), "--data-dir", str(mlc.data),
                             "plaid", "serve", "--for", "120"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert "listening on" in proc.stdout.readline()
        # new transactions at the bank -> SYNC_UPDATES_AVAILABLE -> the agent pulls by itself
        sb.advance_days(4)
        wait_for(lambda: journal_matches(mlc, sb, [item]), what="the webhook-driven sync")
        # a forged webhook is refused
        status, _, _ = harness.http("POST", "http://127.0.0.1:%d/webhooks/plaid" % port,
                                    {"webhook_type": "ITEM", "webhook_code": "LOGIN_REPAIRED",
                                     "item_id": item},
                                    {"Plaid-Verification": "eyJhbGciOiJub25lIn0.e30."})
        assert status == 401
        # ITEM ERROR (twice: duplicates are harmless) -> needs re-authentication + one alert
        for _ in range(2):
            sb.admin("plaid", "POST", "fire_webhook", {"item_id": item, "webhook_code": "ERROR"})
        wait_for(lambda: ("needs_reauth", item) in {(a["kind"], a["item_id"]) for a in alerts(mlc)},
                 what="the needs_reauth alert")
        assert len([a for a in alerts(mlc) if a["kind"] == "needs_reauth"]) == 1
        # LOGIN_REPAIRED clears it
        sb.admin("plaid", "POST", "fire_webhook", {"item_id": item,
                                                   "webhook_code": "LOGIN_REPAIRED"})
        wait_for(lambda: "needs_reauth" not in {a["kind"] for a in alerts(mlc)},
                 what="the alert to clear")
        # NEW_ACCOUNTS_AVAILABLE, PENDING_EXPIRATION, PENDING_DISCONNECT -> alerts
        for code in ("NEW_ACCOUNTS_AVAILABLE", "PENDING_EXPIRATION", "PENDING_DISCONNECT"):
            sb.admin("plaid", "POST", "fire_webhook", {"item_id": item, "webhook_code": code})
        wait_for(lambda: {"new_accounts", "consent_expiring", "pending_disconnect"} <=
                 {a["kind"] for a in alerts(mlc)}, what="the alerts of three webhooks")
        # an unknown code is logged and ignored (DEFAULT_UPDATE is legacy for sync users)
        sb.admin("plaid", "POST", "fire_webhook", {"item_id": item,
                                                   "webhook_code": "DEFAULT_UPDATE"})
        time.sleep(0.5)
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "webhook_rejected" in err and "rejected" in out
    deliveries = sb.admin("plaid", "GET", "webhooks")["deliveries"]
    # every signed delivery was answered 200 at the first attempt (no retries from Plaid)
    answered = [d for d in deliveries if d.get("done")]
    assert len(answered) >= 8, deliveries
    assert all(d["status"] == 200 and d["attempts"] == 1 for d in answered), deliveries


def test_relink_repairs_a_login_required_item_in_update_mode(mlc_sandbox):
    mlc, sb = mlc_sandbox, mlc_sandbox.sandbox
    item = link(mlc)
    sb.admin("plaid", "POST", "item", {"item_id": item, "error": "ITEM_LOGIN_REQUIRED"})
    assert mlc("plaid", "sync").returncode == 69
    proc = subprocess.Popen([mlc.bin, "--config", str(mlc.config), "--data-dir", str(mlc.data),
                             "plaid", "relink", item, "--timeout", "60"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        url = re.search(r"open (\S+) in a browser", proc.stdout.readline()).group(1)
        status, page, _ = harness.http("GET", url)
        page = page.decode() if isinstance(page, bytes) else str(page)
        token = re.search(r"token:'([^']+)'", page).group(1)
        done_path = re.search(r"fetch\('([^']+)'", page).group(1)
        assert "{done:true}" in page                  # update mode: no public token to exchange
        status, ans, _ = harness.http("GET", sb.plaid_url + "/link?token=%s&format=json" % token)
        assert status == 200, ans
        status, _, _ = harness.http("POST", url.split("/link")[0] + done_path, {"done": True})
        assert status == 200
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "reconnected" in out
    assert "needs_reauth" not in {a["kind"] for a in alerts(mlc)}
    ok(mlc("plaid", "sync"))
    assert_journal_equals_truth(mlc, sb, [item])
