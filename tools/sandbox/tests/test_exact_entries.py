"""Exact emulator: bank entries, validation, sync, reporting balance and webhooks (reference §5, §7)."""

import hashlib
import hmac
import json
import re
import time
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest

from test_exact_harness import NL, UK, YEAR, Api, entry, error_text, gl

CC_GL = "4100"


def post_ok(api, e, division=NL):
    status, _h, body = api.post_entry(e, division)
    assert status == 201, body
    return body["d"]


def ledger_lines(api, division=NL):
    return sum(len(e["BankEntryLines"]) for e in api.core.ledger(division)[str(division)]["entries"])


def test_prefer_return_representation_gives_the_created_entry_with_lines():
    api = Api()
    api.login()
    d = post_ok(api, entry(OpeningBalanceFC=1000.0, ClosingBalanceFC=1057.5))
    assert uuid.UUID(d["EntryID"])
    assert d["EntryNumber"] == 26000001 and d["Status"] == 20
    assert d["FinancialYear"] == YEAR and d["FinancialPeriod"] == 3
    lines = d["BankEntryLines"]["results"]
    assert [l["LineNumber"] for l in lines] == [1, 2]
    assert [l["Notes"] for l in lines] == ["mlc:plaid-nl-1:tx1", "mlc:plaid-nl-1:tx2"]
    assert all(l["EntryID"] == d["EntryID"] for l in lines)
    assert lines[0]["Date"] == "/Date(1772409600000)/"      # 2026-03-02


def test_without_prefer_only_the_id_comes_back():
    api = Api()
    api.login()
    status, h, body = api.call("POST", "/api/v1/%d/financialtransaction/BankEntries" % NL, body=entry())
    assert status == 201 and set(body["d"]) == {"EntryID"}
    assert h["Location"].endswith("(guid'%s')" % body["d"]["EntryID"])


def test_client_entry_id_is_not_honoured():
    api = Api()
    api.login()
    mine = "11111111-2222-3333-4444-555555555555"
    first = post_ok(api, entry(EntryID=mine))
    second = post_ok(api, entry(EntryID=mine))
    assert first["EntryID"] != mine and second["EntryID"] != mine
    assert first["EntryID"] != second["EntryID"]
    assert len(api.core.ledger(NL)[str(NL)]["entries"]) == 2   # a repeat POST is a duplicate


def test_entry_numbers_count_up_and_duplicates_are_refused():
    api = Api()
    api.login()
    assert post_ok(api, entry())["EntryNumber"] == 26000001
    assert post_ok(api, entry())["EntryNumber"] == 26000002
    assert post_ok(api, entry(EntryNumber=777))["EntryNumber"] == 777
    status, _h, body = api.post_entry(entry(EntryNumber=777))
    assert status == 500 and "already exists" in error_text(body)


def test_period_is_derived_from_the_line_date_when_omitted():
    api = Api()
    api.login()
    e = entry()
    del e["FinancialYear"], e["FinancialPeriod"]
    d = post_ok(api, e)
    assert (d["FinancialYear"], d["FinancialPeriod"]) == (YEAR, 3)


def test_balances_computed_when_omitted():
    api = Api()
    api.login()
    d = post_ok(api, entry(ClosingBalanceFC=500.0))
    assert d["OpeningBalanceFC"] == 442.5
    d = post_ok(api, entry())
    assert (d["OpeningBalanceFC"], d["ClosingBalanceFC"]) == (0.0, 57.5)


def _line(**kw):
    line = {"Date": "2026-03-02", "AmountFC": -10.0, "GLAccount": gl("4000"), "Description": "x"}
    line.update(kw)
    return line


@pytest.mark.parametrize("name,e,fragment", [
    ("non-bank journal", entry(journal="90"), "The journal must be a bank journal"),
    ("blocked journal", entry(journal="29"), "Journal 29 is blocked"),
    ("unknown journal", entry(journal="77"), "Invalid: Journal '77'"),
    ("missing journal", entry(journal=None), "Mandatory: Journal"),
    ("unknown G/L", entry([_line(GLAccount=str(uuid.UUID(int=7)))]), "Invalid: G/L account"),
    ("blocked G/L", entry([_line(GLAccount=gl("4900"))]), "4900 (Old expenses (blocked)) is blocked"),
    ("missing G/L", entry([_line(GLAccount=None)]), "Mandatory: G/L account"),
    ("cost center mandatory", entry([_line(GLAccount=gl(CC_GL))]), "Mandatory: Cost center"),
    ("unknown cost center", entry([_line(GLAccount=gl(CC_GL), CostCenter="999")]),
     "Invalid reference: Cost center '999'"),
    ("missing amount", entry([_line(AmountFC=None)]), "Mandatory: Amount"),
    ("closed period", entry([_line(Date="2024-01-10")], FinancialYear=2024, FinancialPeriod=1),
     "Period 2024/1 is closed for journal 20"),
    ("date outside period", entry([_line(Date="2026-04-01")]),
     "Line 1 is dated 2026-04-01, which is not in financial period 2026/3"),
    ("unknown period", entry([_line(Date="2031-01-10")], FinancialYear=2031, FinancialPeriod=1),
     "Financial period 2031/1 does not exist"),
    ("no period for date", entry([_line(Date="2031-01-10")], FinancialYear=None, FinancialPeriod=None),
     "no financial period for date 2031-01-10"),
    ("empty lines", entry([]), "Mandatory: BankEntryLines"),
    ("balance mismatch", entry(OpeningBalanceFC=100.0, ClosingBalanceFC=200.0),
     "opening balance 100.00 plus the lines (57.50) is 157.50, not 200.00"),
    ("description too long", entry([_line(Description="d" * 61)]), "Description is 61 characters"),
    ("notes too long", entry([_line(Notes="n" * 101)]), "Notes is 101 characters long; the maximum is 100"),
    ("wrong currency", entry(Currency="USD"), "Journal 20 only accepts EUR, not USD"),
])
def test_validation_errors_are_500_with_exact_body_and_nothing_is_booked(name, e, fragment):
    api = Api()
    api.login()
    e = {k: v for k, v in e.items() if v is not None}
    status, _h, body = api.post_entry(e)
    assert status == 500, name
    assert fragment in error_text(body), (name, error_text(body))
    assert api.core.ledger(NL)[str(NL)]["entries"] == []


def test_limits_are_inclusive():
    api = Api()
    api.login()
    post_ok(api, entry([_line(Description="d" * 60, Notes="n" * 100)]))
    post_ok(api, entry([_line(GLAccount=gl(CC_GL), CostCenter="100")]))


def test_period_closed_and_reopened_by_admin():
    api = Api()
    api.login()
    api.core.set_period_status(NL, YEAR, 3, closed=True)
    status, _h, body = api.post_entry(entry())
    assert status == 500 and "closed" in error_text(body)
    _s, _h, js = api.get("read/financial/JournalStatusList", **{
        "$filter": "Journal eq '20' and Year eq %d and Period eq 3" % YEAR})
    assert js["d"]["results"][0]["Status"] == 1
    api.core.set_period_status(NL, YEAR, 3, closed=False)
    post_ok(api, entry())


def test_admin_blocked_gl_account_is_refused():
    api = Api()
    api.login()
    api.core.set_gl_blocked(NL, "4000", True)
    status, _h, body = api.post_entry(entry())
    assert status == 500 and "4000 (General expenses) is blocked" in error_text(body)


@pytest.mark.parametrize("bad,fragment", [
    ({"Bogus": 1}, "The property 'Bogus' does not exist"),
    ({"FinancialYear": "twenty"}, "property 'FinancialYear' to type 'System.Int32'"),
])
def test_malformed_payloads_are_400(bad, fragment):
    api = Api()
    api.login()
    status, _h, body = api.post_entry(entry(**bad))
    assert status == 400 and fragment in error_text(body)


def test_bad_guid_in_line_is_400():
    api = Api()
    api.login()
    status, _h, body = api.post_entry(entry([_line(GLAccount="4000")]))
    assert status == 400 and "'GLAccount' to type 'System.Guid'" in error_text(body)


@pytest.mark.parametrize("raw", [b"[1,2]", b"{", b"\xff", b"[" * 100000 + b"]" * 100000],
                         ids=["array", "truncated", "not-utf8", "deeply-nested"])
def test_body_that_is_not_an_object_is_400(raw):
    api = Api()
    api.login()
    resp = api.core.handle("POST", "/api/v1/%d/financialtransaction/BankEntries" % NL, {},
                           {"Authorization": "Bearer " + api.access, "Accept": "application/json"}, raw)
    assert resp.status == 400 and b"valid top-level resource object" in resp.body


def test_expect_100_continue_is_refused():
    api = Api()
    api.login()
    status, _h, body = api.post_entry(entry(), headers={"Expect": "100-continue"})
    assert status == 500 and "Expect" in error_text(body)
    assert api.core.ledger(NL)[str(NL)]["entries"] == []


def test_date_ms_and_iso_dates_accepted():
    api = Api()
    api.login()
    d = post_ok(api, entry([_line(Date="/Date(1772409600000)/"), _line(Date="2026-03-31T23:00:00")]))
    assert [l["Date"] for l in d["BankEntryLines"]["results"]] == [
        "/Date(1772409600000)/", "/Date(1774998000000)/"]


def test_bank_entry_lines_filter_on_notes_for_read_back():
    api = Api()
    api.login()
    post_ok(api, entry())
    _s, _h, body = api.get("financialtransaction/BankEntryLines", **{
        "$select": "EntryID,Notes,AmountFC", "$filter": "Notes eq 'mlc:plaid-nl-1:tx2'"})
    (row,) = body["d"]["results"]
    assert row["AmountFC"] == 100.0


def test_delete_open_entry_removes_lines_and_reports_in_sync_deleted():
    api = Api()
    api.login()
    d = post_ok(api, entry())
    path = "/api/v1/%d/financialtransaction/BankEntries(guid'%s')" % (NL, d["EntryID"])
    assert api.call("DELETE", path)[0] == 204
    assert ledger_lines(api) == 0
    _s, _h, body = api.get("sync/Deleted", **{"$select": "EntityKey,EntityType",
                                              "$filter": "Timestamp gt 1"})
    assert len(body["d"]["results"]) == 3 and {r["EntityType"] for r in body["d"]["results"]} == {1}
    assert api.call("DELETE", path)[0] == 404


def test_processed_entry_cannot_be_deleted_through_the_api():
    api = Api()
    api.login()
    d = post_ok(api, entry())
    api.core.process_entry(NL, d["EntryID"])
    status, _h, body = api.call("DELETE", "/api/v1/%d/financialtransaction/BankEntries(guid'%s')"
                                % (NL, d["EntryID"]))
    assert status == 500 and "processed" in error_text(body)


def test_sync_transaction_lines_page_by_timestamp():
    api = Api()
    api.login()
    lines = [_line(AmountFC=1.0, Notes="n%d" % i) for i in range(1200)]
    post_ok(api, entry(lines))
    query = {"$select": "Timestamp,LineNumber,AmountDC", "$filter": "Timestamp gt 1"}
    _s, _h, body = api.get("sync/Financial/TransactionLines", **query)
    first = body["d"]["results"]
    assert len(first) == 1000
    stamps = [r["Timestamp"] for r in first]
    assert stamps == sorted(stamps)
    nxt = parse_qs(urlsplit(body["d"]["__next"]).query)
    _s, _h, body = api.get("sync/Financial/TransactionLines", **{k: v[0] for k, v in nxt.items()})
    second = body["d"]["results"]
    assert len(second) == 201 and "__next" not in body["d"]
    assert second[0]["Timestamp"] > stamps[-1]
    # the client stores the highest Timestamp and asks for newer rows only
    high = second[-1]["Timestamp"]
    _s, _h, body = api.get("sync/Financial/TransactionLines", **{
        "$select": "Timestamp", "$filter": "Timestamp gt %d" % high})
    assert body["d"]["results"] == []
    d2 = post_ok(api, entry())
    _s, _h, body = api.get("sync/Financial/TransactionLines", **{
        "$select": "Timestamp,EntryID", "$filter": "Timestamp gt %d" % high})
    assert {r["EntryID"] for r in body["d"]["results"]} == {d2["EntryID"]}


def test_sync_filter_allows_only_timestamp():
    api = Api()
    api.login()
    status, _h, body = api.get("sync/Financial/TransactionLines",
                               **{"$select": "Timestamp", "$filter": "GLAccountCode eq '4000'"})
    assert status == 400 and "Only the Timestamp property" in error_text(body)


def test_reporting_balance_sums_per_gl_and_period():
    api = Api()
    api.login()
    post_ok(api, entry())                                            # -42.50 + 100.00
    post_ok(api, entry([_line(AmountFC=-7.5)]))                      # -7.50 on 4000
    apr = entry([_line(Date="2026-04-02", AmountFC=20.0)], FinancialPeriod=4)
    post_ok(api, apr)
    _s, _h, body = api.get("financial/ReportingBalance", **{
        "$select": "GLAccountCode,ReportingPeriod,Amount,AmountDebit,AmountCredit,Count",
        "$filter": "ReportingYear eq %d and GLAccountCode eq '1100'" % YEAR})
    rows = {r["ReportingPeriod"]: r for r in body["d"]["results"]}
    assert rows[3]["Amount"] == 50.0 and rows[3]["Count"] == 2
    assert rows[4]["Amount"] == 20.0
    _s, _h, body = api.get("financial/ReportingBalance", **{
        "$filter": "ReportingYear eq %d and ReportingPeriod eq 3 and GLAccountCode eq '4000'" % YEAR})
    (row,) = body["d"]["results"]
    assert (row["Amount"], row["AmountDebit"], row["AmountCredit"]) == (50.0, 50.0, 0.0)
    _s, _h, body = api.get("financial/ReportingBalance", **{"$filter": "ReportingYear eq %d" % YEAR})
    assert round(sum(r["Amount"] for r in body["d"]["results"]), 2) == 0.0   # double entry


def test_divisions_are_separate_ledgers():
    api = Api()
    api.login()
    e = entry(Currency="GBP", BankEntryLines=[_line(GLAccount=gl("4000", UK))])
    post_ok(api, e, division=UK)
    assert ledger_lines(api, NL) == 0 and ledger_lines(api, UK) == 1
    _s, _h, body = api.get("financialtransaction/BankEntries", division=UK, **{"$select": "Currency"})
    assert body["d"]["results"][0]["Currency"] == "GBP"


def test_unknown_division_is_403():
    api = Api()
    api.login()
    status, h, _b = api.get("financial/Journals", division=999999)
    assert status == 403 and h["Reason"] == "NoDivisionAccess"


def test_user_has_rights():
    api = Api()
    api.login()
    _s, _h, body = api.get("users/UserHasRights", endpoint="'financialtransaction/BankEntries'",
                           action="'POST'")
    assert body == {"d": {"UserHasRights": True}}
    _s, _h, body = api.get("users/UserHasRights", endpoint="'financial/Journals'", action="'DELETE'")
    assert body == {"d": {"UserHasRights": False}}


# ---- webhooks -------------------------------------------------------------------------------------

class Recorder:
    def __init__(self, status=200):
        self.status = status
        self.calls = []

    def __call__(self, url, body, headers):
        self.calls.append((url, body))
        return self.status


def verify(raw, secret):
    """What a client must do (picqer's Authenticatable): HMAC the raw Content text as received."""
    m = re.match(rb'^\{"Content":(\{.*\}),"HashCode":"([0-9A-F]{64})"\}$', raw)
    assert m, raw
    want = hmac.new(secret.encode(), m.group(1), hashlib.sha256).hexdigest().upper()
    return hmac.compare_digest(want.encode(), m.group(2))


def subscribe(api, url="https://agent.example/hook", topic="BankEntries"):
    return api.call("POST", "/api/v1/%d/webhooks/WebhookSubscriptions" % NL,
                    body={"CallbackURL": url, "Topic": topic})


def test_webhook_subscription_validation_post_and_signed_notifications():
    rec = Recorder()
    api = Api(webhook_sender=rec, webhook_secret="w3bh00k")
    api.login()
    status, _h, body = subscribe(api)
    assert status == 201 and body["d"]["Topic"] == "BankEntries"
    assert rec.calls == [("https://agent.example/hook", b"")]          # empty validation POST
    d = post_ok(api, entry())
    api.core.process_entry(NL, d["EntryID"])
    api.core.delete_entry(NL, d["EntryID"])
    notes = rec.calls[1:]
    assert len(notes) == 3
    for _url, raw in notes:
        assert verify(raw, "w3bh00k")
        assert not verify(raw, "other-secret")
    contents = [json.loads(raw)["Content"] for _u, raw in notes]
    assert [c["Action"] for c in contents] == ["Create", "Update", "Delete"]
    c = contents[0]
    assert c["Topic"] == "BankEntries" and c["Division"] == NL and c["Key"] == d["EntryID"]
    assert c["ExactOnlineEndpoint"] == "/api/v1/%d/financialtransaction/BankEntries(guid'%s')" % (
        NL, d["EntryID"])
    assert re.match(r"^/Date\(\d+\)/$", c["EventCreatedOn"])


def test_webhook_subscription_refused_when_validation_fails_or_duplicate():
    api = Api(webhook_sender=Recorder(status=404))
    api.login()
    status, _h, body = subscribe(api)
    assert status == 400 and "did not answer the validation request" in error_text(body)
    api.core.webhook_sender = Recorder()
    assert subscribe(api)[0] == 201
    status, _h, body = subscribe(api)
    assert status == 500 and error_text(body) == "Data already exists"
    status, _h, body = subscribe(api, topic="Nonsense")
    assert status == 400


def test_webhook_subscription_list_and_delete():
    api = Api(webhook_sender=Recorder())
    api.login()
    sid = subscribe(api)[2]["d"]["ID"]
    _s, _h, body = api.get("webhooks/WebhookSubscriptions")
    assert [r["ID"] for r in body["d"]["results"]] == [sid]
    assert api.call("DELETE", "/api/v1/%d/webhooks/WebhookSubscriptions(guid'%s')" % (NL, sid))[0] == 204
    _s, _h, body = api.get("webhooks/WebhookSubscriptions")
    assert body["d"]["results"] == []


def test_without_accept_json_the_answer_is_not_json():
    api = Api()
    api.login()
    resp = api.core.handle("GET", "/api/v1/%d/financial/Journals" % NL, {},
                           {"Authorization": "Bearer " + api.access}, b"")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("application/atom+xml")
    assert b"Accept: application/json" in resp.body
    assert "X-RateLimit-Remaining" in resp.headers


def test_failed_notification_is_retried_on_the_emulator_clock():
    answers = [200, 500, 503, 200]           # validation ok, then two failures, then ok

    def sender(url, body, headers):
        return answers.pop(0) if answers else 200

    api = Api(webhook_async=True, webhook_sender=sender)
    try:
        api.login()
        assert subscribe(api)[0] == 201
        post_ok(api, entry())
        api.core.flush_webhooks()

        def kinds():
            with api.core._wh_lock:
                return [(d["kind"], d["status"]) for d in api.core.deliveries]

        def wait_for(n):
            end = time.monotonic() + 2.0
            while len(kinds()) < n and time.monotonic() < end:
                time.sleep(0.02)
            return kinds()

        assert kinds() == [("validation", 200), ("notification", 500)]
        api.clock.advance(59)                 # first retry is due after 1 minute
        time.sleep(0.2)
        assert len(kinds()) == 2
        api.clock.advance(1)
        assert wait_for(3)[2] == ("retry 1", 503)
        api.clock.advance(120)                # second retry after 2 more minutes
        assert wait_for(4)[3] == ("retry 2", 200)
        api.clock.advance(3600)
        time.sleep(0.2)
        assert len(kinds()) == 4              # delivered: no more retries
    finally:
        api.core.stop()
