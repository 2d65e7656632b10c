"""Posting bank entries end to end: exactly once through lost answers and crashes (read back by
the Notes markers, never a blind re-POST), local checks holding bad lines before any call, a
functional 500 never retried; the real mlc binary (`mlc exact post FILE`) against the emulator."""
import datetime
import json

import pytest

from exact_env import ACCOUNTS, DIV, ExactEnv, default_seed

SEED = default_seed(ACCOUNTS)
GL = {g["Code"]: g["ID"] for g in SEED["per_division"][str(DIV)]["glaccounts"]}
TODAY = datetime.datetime.now(datetime.timezone.utc).date().isoformat()


@pytest.fixture
def ex(mlc):
    env = ExactEnv(mlc)
    env.connect()
    yield env
    env.close()


def statement(ex, sid="st-1", lines=None, **kw):
    body = {"statement_id": sid, "division": DIV, "journal": "20", "currency": "EUR",
            "lines": lines or [
                {"transaction_id": "tx-%s-a" % sid, "date": TODAY, "amount": "-42.50",
                 "glaccount": GL["4000"], "description": "Coffee beans"},
                {"transaction_id": "tx-%s-b" % sid, "date": TODAY, "amount": "100.00",
                 "glaccount": GL["8000"], "description": "Customer payment"}]}
    body.update(kw)
    path = ex.mlc.home / ("%s.json" % sid)
    path.write_text(json.dumps(body))
    return path


def ledger_notes(ex):
    led = ex.admin("GET", "/__admin/exact/ledger?division=%d" % DIV)[str(DIV)]
    return [l["Notes"] for e in led["entries"] for l in e["BankEntryLines"]]


def posts(ex):
    """POSTs that reached the emulator's HTTP layer (faulted ones included)."""
    counts = ex.admin("GET", "/__admin/calls")["counts"]
    return sum(v for k, v in counts.items()
               if k.startswith("POST ") and k.endswith("financialtransaction/BankEntries"))


def test_post_creates_one_entry_and_is_idempotent(ex):
    f = statement(ex, opening="0.00", closing="57.50")
    r = ex.run("exact", "post", f)
    assert r.returncode == 0, r.stderr + r.stdout
    assert r.stdout.startswith("posted: entry ")
    assert sorted(ledger_notes(ex)) == ["plaid:tx-st-1-a", "plaid:tx-st-1-b"]
    r = ex.run("exact", "post", f)   # the same statement again: reported, not posted twice
    assert r.returncode == 0 and "posted" in r.stdout
    assert posts(ex) == 1


def test_lost_answer_after_commit_is_settled_as_landed(ex):
    ex.admin("POST", "/__admin/fault", {"kind": "lose_answer", "method": "POST",
                                        "path": "/api/v1/*/financialtransaction/BankEntries"})
    r = ex.run("exact", "post", statement(ex))
    assert r.returncode == 0, r.stderr + r.stdout
    assert "reading back" in r.stdout
    assert posts(ex) == 1                       # never re-POSTed
    assert len(ledger_notes(ex)) == 2           # in Exact once
    assert ex.calls().get("GET sync/Financial/TransactionLines", 0) >= 1


def test_dropped_request_is_settled_as_not_landed_then_posted_once(ex):
    ex.admin("POST", "/__admin/fault", {"kind": "drop", "method": "POST",
                                        "path": "/api/v1/*/financialtransaction/BankEntries"})
    f = statement(ex)
    r = ex.run("exact", "post", f)
    assert r.returncode == 75, r.stderr + r.stdout
    assert r.stdout.startswith("not landed")
    assert ledger_notes(ex) == []
    r = ex.run("exact", "post", f)
    assert r.returncode == 0, r.stderr + r.stdout
    assert len(ledger_notes(ex)) == 2


def test_crash_after_post_is_settled_on_restart(ex):
    f = statement(ex)
    r = ex.run("exact", "post", f, env={"MLC_CRASH_AT": "exact.post.answered"})
    assert r.returncode < 0 or r.returncode == 137
    r = ex.run("exact", "post", f)
    assert r.returncode == 0, r.stderr + r.stdout
    assert posts(ex) == 1 and len(ledger_notes(ex)) == 2


def test_closed_period_line_is_held_without_a_call(ex):
    d = datetime.date.fromisoformat(TODAY)
    ex.admin("POST", "/__admin/exact/period", {"division": DIV, "year": d.year, "period": d.month,
                                               "status": "closed"})
    r = ex.run("exact", "post", statement(ex))
    assert r.returncode == 69
    assert "closed" in r.stdout and "line 1" in r.stdout
    assert posts(ex) == 0


def test_blocked_gl_and_missing_cost_center_are_held_locally(ex):
    lines = [{"transaction_id": "t1", "date": TODAY, "amount": "-1.00", "glaccount": GL["4900"]}]
    r = ex.run("exact", "post", statement(ex, "st-b", lines))
    assert r.returncode == 69 and "blocked" in r.stdout
    lines = [{"transaction_id": "t2", "date": TODAY, "amount": "-1.00", "glaccount": GL["4100"]}]
    r = ex.run("exact", "post", statement(ex, "st-c", lines))
    assert r.returncode == 69 and "cost center" in r.stdout
    r = ex.run("exact", "post", statement(ex, "st-d", lines, journal="90"))
    assert r.returncode == 69 and "journal 90" in r.stdout
    assert posts(ex) == 0


def test_functional_500_is_held_and_never_retried(ex):
    # what the local checks cannot know: Exact's own functional answer (HTTP 500 with its text)
    ex.admin("POST", "/__admin/fault", {"kind": "status", "status": 500, "method": "POST",
                                        "path": "/api/v1/*/financialtransaction/BankEntries",
                                        "body": {"error": {"code": "", "message": {
                                            "lang": "", "value": "Ongeldig: Dagboek"}}}})
    r = ex.run("exact", "post", statement(ex))
    assert r.returncode == 69
    assert "Ongeldig: Dagboek" in r.stdout
    assert posts(ex) == 1


def test_reference_data_costs_no_calls_within_a_day(ex):
    assert ex.run("exact", "post", statement(ex, "s1")).returncode == 0
    before = sum(v for k, v in ex.calls().items() if k.startswith("GET "))
    assert ex.run("exact", "post", statement(ex, "s2")).returncode == 0
    after = sum(v for k, v in ex.calls().items() if k.startswith("GET "))
    assert after == before   # journals, G/L, cost centers, periods all from the cache
    r = ex.run("exact", "glaccounts")
    assert r.returncode == 0 and "(cached)" in r.stdout and "4100" in r.stdout
