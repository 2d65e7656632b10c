"""Exact emulator over real HTTP: OAuth redirect, regional hosts, Expect header, admin API, faults,
and webhook delivery with a verifiable HashCode."""

import hashlib
import hmac
import http.client
import json
import re
import threading
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from emu_http import EmuApp, Response
from exact_emulator import CLIENT_ID, CLIENT_SECRET, ExactEmulator
from exact_seed import default_seed
from test_exact_harness import ACCOUNTS, NL, REDIRECT, YEAR, entry, gl


@pytest.fixture
def exact():
    emu = ExactEmulator(default_seed(ACCOUNTS, base_year=YEAR), time_scale=0.01,
                        webhook_secret="hook-secret", admin_token="adm")
    emu.serve("127.0.0.1", 0)
    yield emu
    emu.shutdown()


class Conn:
    def __init__(self, emu, host="start.exactonline.nl"):
        self.port = emu.port
        self.host = host
        self.access = None

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        hdrs = {"Host": self.host, "Accept": "application/json"}
        if self.access:
            hdrs["Authorization"] = "Bearer " + self.access
        hdrs.update(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
            return resp.status, dict(resp.getheaders()), raw
        finally:
            conn.close()

    def json(self, method, path, body=None, headers=None):
        status, h, raw = self.request(method, path, body, headers)
        return status, h, (json.loads(raw) if raw else None)

    def admin(self, method, name, body=None):
        return self.json(method, "/__admin/" + name, body, {"X-Admin-Token": "adm"})

    def login(self):
        q = urlencode({"client_id": CLIENT_ID, "redirect_uri": REDIRECT, "response_type": "code",
                       "state": "st"})
        status, h, _ = self.request("GET", "/api/oauth2/auth?" + q)
        assert status == 302
        code = parse_qs(urlsplit(h["Location"]).query)["code"][0]
        form = urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                          "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}).encode()
        status, _h, tok = self.json("POST", "/api/oauth2/token", form,
                                    {"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 200 and tok["expires_in"] == "600"
        self.access = tok["access_token"]
        return tok


def q(**kw):
    return "?" + urlencode(kw)


def test_full_flow_on_any_regional_host(exact):
    c = Conn(exact, host="start.exactonline.co.uk")
    c.login()
    status, h, body = c.json("GET", "/api/v1/%d/financial/Journals" % NL + q(**{"$select": "Code"}))
    assert status == 200 and h["X-RateLimit-Minutely-Limit"] == "60"
    assert body["d"]["results"][0]["__metadata"]["uri"].startswith(
        "http://start.exactonline.co.uk/api/v1/%d/financial/Journals(" % NL)
    status, _h, body = c.json("GET", "/api/v1/current/Me" + q(**{"$select": "CurrentDivision"}))
    assert body["d"]["results"][0]["CurrentDivision"] == NL


def test_post_and_read_back_over_http(exact):
    c = Conn(exact)
    c.login()
    status, _h, body = c.json("POST", "/api/v1/%d/financialtransaction/BankEntries" % NL, entry(),
                              {"Prefer": "return=representation"})
    assert status == 201 and len(body["d"]["BankEntryLines"]["results"]) == 2
    status, _h, body = c.json("GET", "/api/v1/%d/financialtransaction/BankEntryLines" % NL + q(**{
        "$select": "Notes", "$filter": "EntryID eq guid'%s'" % body["d"]["EntryID"]}))
    assert sorted(r["Notes"] for r in body["d"]["results"]) == ["mlc:plaid-nl-1:tx1", "mlc:plaid-nl-1:tx2"]


def test_expect_100_continue_gets_500_and_books_nothing(exact):
    c = Conn(exact)
    c.login()
    status, _h, raw = c.request("POST", "/api/v1/%d/financialtransaction/BankEntries" % NL, entry(),
                                {"Expect": "100-continue"})
    assert status == 500 and b"Expect" in raw
    _s, _h, ledger = c.admin("GET", "exact/ledger")
    assert ledger[str(NL)]["entries"] == []


def test_admin_clock_moves_token_lifetimes(exact):
    c = Conn(exact)
    c.login()
    path = "/api/v1/%d/financial/GLAccounts" % NL + q(**{"$select": "Code", "$filter": "Type eq 12"})
    assert c.request("GET", path)[0] == 200
    c.admin("POST", "clock", {"advance": 6.0})           # 600 s at time_scale 0.01
    assert c.request("GET", path)[0] == 401


def test_admin_period_gl_limits_revoke_and_calls(exact):
    c = Conn(exact)
    c.login()
    post = "/api/v1/%d/financialtransaction/BankEntries" % NL
    assert c.admin("POST", "exact/period", {"division": NL, "year": YEAR, "period": 3})[0] == 200
    status, _h, raw = c.request("POST", post, entry())
    assert status == 500 and b"closed" in raw
    c.admin("POST", "exact/period", {"division": NL, "year": YEAR, "period": 3, "status": "open"})
    c.admin("POST", "exact/glaccount", {"division": NL, "code": "8000"})
    status, _h, raw = c.request("POST", post, entry())
    assert status == 500 and b"8000 (Revenue) is blocked" in raw
    _s, _h, calls = c.admin("GET", "exact/calls")
    assert calls["counts"]["POST financialtransaction/BankEntries"] == 2
    _s, _h, calls = c.admin("GET", "calls")              # emu_http's per-route counters
    assert calls["counts"]["POST /api/v1/{division}/financialtransaction/BankEntries"] == 2
    c.admin("POST", "exact/limits", {"minutely": 1})
    c.admin("POST", "exact/reset_limits")
    assert c.request("GET", "/api/v1/%d/financial/Journals" % NL)[0] == 200
    assert c.request("GET", "/api/v1/%d/financial/Journals" % NL)[0] == 429
    assert c.admin("POST", "exact/revoke")[2]["revoked_chains"] == 1
    assert c.request("GET", "/api/v1/current/Me")[0] == 401
    assert c.admin("POST", "exact/period", {"division": NL, "year": 1990, "period": 1})[0] == 404


def test_admin_needs_token(exact):
    status, _h, _b = Conn(exact).json("GET", "/__admin/exact/ledger")
    assert status == 401


def test_lost_answer_after_commit_leaves_the_entry_booked(exact):
    c = Conn(exact)
    c.login()
    c.admin("POST", "fault", {"kind": "lose_answer", "method": "POST",
                              "path": "/api/v1/*/financialtransaction/BankEntries"})
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        c.request("POST", "/api/v1/%d/financialtransaction/BankEntries" % NL, entry())
    _s, _h, ledger = c.admin("GET", "exact/ledger")
    assert len(ledger[str(NL)]["entries"]) == 1            # committed although the answer was lost


def test_injected_status_fault_has_exact_error_body(exact):
    c = Conn(exact)
    c.login()
    c.admin("POST", "fault", {"kind": "status", "status": 503, "path": "/api/v1/*/financial/Journals"})
    status, _h, body = c.json("GET", "/api/v1/%d/financial/Journals" % NL)
    assert status == 503 and "value" in body["error"]["message"]


def test_unknown_endpoint_is_exact_shaped_404(exact):
    c = Conn(exact)
    c.login()
    status, _h, body = c.json("GET", "/api/v1/%d/financial/Nope" % NL)
    assert status == 404 and "does not exist" in body["error"]["message"]["value"]


class Receiver:
    def __init__(self):
        self.app = EmuApp("exact-hook-receiver")
        self.bodies = []
        self.cv = threading.Condition()

        @self.app.route("POST", "/hook")
        def hook(req):
            with self.cv:
                self.bodies.append(req.body)
                self.cv.notify_all()
            return Response(200, b"")

        self.app.start("127.0.0.1", 0)
        self.url = self.app.url + "/hook"

    def wait(self, n, timeout=5.0):
        end = time.monotonic() + timeout
        with self.cv:
            while len(self.bodies) < n:
                assert time.monotonic() < end, "got %d webhooks, expected %d" % (len(self.bodies), n)
                self.cv.wait(0.05)
        return self.bodies


def test_webhook_delivered_with_verifiable_hashcode(exact):
    rec = Receiver()
    try:
        c = Conn(exact)
        c.login()
        status, _h, _b = c.json("POST", "/api/v1/%d/webhooks/WebhookSubscriptions" % NL,
                                {"CallbackURL": rec.url, "Topic": "BankEntries"})
        assert status == 201
        assert rec.wait(1)[0] == b""                          # validation POST, empty body
        status, _h, created = c.json("POST", "/api/v1/%d/financialtransaction/BankEntries" % NL, entry(),
                                     {"Prefer": "return=representation"})
        raw = rec.wait(2)[1]
        m = re.match(rb'^\{"Content":(\{.*\}),"HashCode":"([0-9A-F]{64})"\}$', raw)
        assert m
        want = hmac.new(b"hook-secret", m.group(1), hashlib.sha256).hexdigest().upper().encode()
        assert m.group(2) == want
        content = json.loads(m.group(1))
        assert content["Action"] == "Create" and content["Key"] == created["d"]["EntryID"]
        _s, _h, log = c.admin("GET", "exact/webhooks")
        assert [d["status"] for d in log["deliveries"]] == [200, 200]
    finally:
        rec.app.shutdown()


def test_next_link_is_followable_verbatim():
    emu = ExactEmulator(default_seed(ACCOUNTS, base_year=YEAR), page_size=2)
    emu.serve("127.0.0.1", 0)
    try:
        c = Conn(emu, host="127.0.0.1:%d" % emu.port)
        c.login()
        lines = [{"Date": "2026-03-02", "AmountFC": 1.0 + i, "GLAccount": gl("4000"),
                  "Notes": "it's line %d" % i} for i in range(5)]
        assert c.json("POST", "/api/v1/%d/financialtransaction/BankEntries" % NL, entry(lines))[0] == 201
        url = "/api/v1/%d/financialtransaction/BankEntryLines" % NL + q(**{
            "$select": "Notes", "$filter": "substringof('''s line', Notes) and AmountFC ge 1"})
        notes = []
        while url:
            status, _h, body = c.json("GET", url)
            assert status == 200, body
            notes += [r["Notes"] for r in body["d"]["results"]]
            nxt = body["d"].get("__next")
            if nxt:
                assert nxt.startswith("http://127.0.0.1:%d/" % emu.port) and " " not in nxt
                url = nxt[len("http://127.0.0.1:%d" % emu.port):]
            else:
                url = None
        assert sorted(notes) == ["it's line %d" % i for i in range(5)]
    finally:
        emu.shutdown()


def test_unknown_option_is_named():
    with pytest.raises(ValueError) as exc:
        ExactEmulator(default_seed(ACCOUNTS, base_year=YEAR), time_scael=0.01)
    assert "--time-scael" in str(exc.value) and "--time-scale" in str(exc.value)


def test_fiscal_year_option_rebuilds_periods():
    emu = ExactEmulator(default_seed(ACCOUNTS, base_year=YEAR), fiscal_year_start_month=4, base_year=YEAR)
    periods = emu.core.divisions[NL].periods
    first = [p for p in periods if (p["FinYear"], p["FinPeriod"]) == (YEAR, 1)][0]
    assert first["StartDate"].month == 4 and len(periods) == 48
    assert emu.core.fiscal_start == 4
