"""Helpers for the Exact emulator tests (no tests here): a fake clock, a seeded ExactCore and a
small client that talks to it without HTTP, so time rules are tested by moving the clock."""

import calendar
import json
import os
import sys
from urllib.parse import parse_qs, urlencode, urlsplit

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from exact_emulator import CLIENT_ID, CLIENT_SECRET, ExactCore  # noqa: E402
from exact_seed import default_seed, seed_guid  # noqa: E402

REDIRECT = "https://agent.example/callback"
ACCOUNTS = [
    {"iban": "NL91ABNA0417164300", "account_number": "0417164300", "currency": "EUR",
     "name": "Checking", "plaid_account_id": "plaid-nl-1"},
    {"iban": "NL02RABO0123456789", "account_number": "0123456789", "currency": "EUR",
     "name": "Savings", "plaid_account_id": "plaid-nl-2"},
    {"iban": "GB29NWBK60161331926819", "account_number": "31926819", "currency": "GBP",
     "name": "UK Current", "plaid_account_id": "plaid-gb-1"},
    {"iban": None, "account_number": "1111222233330000", "currency": "USD",
     "name": "US Checking", "plaid_account_id": "plaid-us-1"},
]
NL, UK, US = 100001, 100002, 100003
YEAR = 2026
# 2026-03-15 10:00:30 UTC: 30 s into a minute, mid-month, mid-year
START = float(calendar.timegm((2026, 3, 15, 10, 0, 30)))


class FakeClock:
    def __init__(self, t=START):
        self.t = t

    def __call__(self):
        return self.t

    def advance(self, seconds):
        self.t += seconds


def gl(code, division=NL):
    return seed_guid(division, "gl", code)


class Api:
    """Talks to an ExactCore the way the agent would, minus the sockets."""

    def __init__(self, **opts):
        opts.setdefault("webhook_async", False)
        self.clock = FakeClock()
        self.seed = default_seed(ACCOUNTS, base_year=YEAR)
        self.core = ExactCore(self.seed, self.clock, **opts)
        self.access = None
        self.refresh = None

    # -- OAuth --
    def authorize(self, state="xyz"):
        resp = self.core.oauth_authorize({"client_id": CLIENT_ID, "redirect_uri": REDIRECT,
                                          "response_type": "code", "state": state})
        assert resp.status == 302, resp.body
        return resp.headers["Location"]

    def code(self):
        q = parse_qs(urlsplit(self.authorize()).query)
        return q["code"][0]

    def token(self, **form):
        form.setdefault("client_id", CLIENT_ID)
        form.setdefault("client_secret", CLIENT_SECRET)
        resp = self.core.oauth_token({"Content-Type": "application/x-www-form-urlencoded"},
                                     urlencode(form).encode())
        return resp.status, json.loads(resp.body)

    def login(self):
        status, body = self.token(grant_type="authorization_code", code=self.code(),
                                  redirect_uri=REDIRECT)
        assert status == 200, body
        self.access, self.refresh = body["access_token"], body["refresh_token"]
        return body

    def do_refresh(self, token=None):
        status, body = self.token(grant_type="refresh_token", refresh_token=token or self.refresh)
        if status == 200:
            self.access, self.refresh = body["access_token"], body["refresh_token"]
        return status, body

    # -- REST --
    def call(self, method, path, query=None, body=None, headers=None, token=None):
        hdrs = {"Authorization": "Bearer " + (token or self.access or "none"),
                "Accept": "application/json"}
        hdrs.update(headers or {})
        raw = json.dumps(body).encode() if body is not None else b""
        resp = self.core.handle(method, path, dict(query or {}), hdrs, raw, "start.exactonline.nl")
        try:
            data = json.loads(resp.body) if resp.body else None
        except ValueError:
            data = resp.body.decode()
        return resp.status, resp.headers, data

    def get(self, _endpoint, division=NL, **query):
        return self.call("GET", "/api/v1/%d/%s" % (division, _endpoint), query)

    def post_entry(self, entry, division=NL, headers=None):
        hdrs = {"Prefer": "return=representation"}
        hdrs.update(headers or {})
        return self.call("POST", "/api/v1/%d/financialtransaction/BankEntries" % division,
                         body=entry, headers=hdrs)


def error_text(body):
    return body["error"]["message"]["value"]


def entry(lines=None, journal="20", **fields):
    """A valid bank entry for NL journal 20 in 2026/3 unless told otherwise."""
    e = {"JournalCode": journal, "FinancialYear": YEAR, "FinancialPeriod": 3, "Currency": "EUR",
         "BankEntryLines": lines if lines is not None else [
             {"Date": "2026-03-02", "AmountFC": -42.5, "GLAccount": gl("4000"),
              "Description": "Coffee beans", "Notes": "mlc:plaid-nl-1:tx1"},
             {"Date": "2026-03-03", "AmountFC": 100.0, "GLAccount": gl("8000"),
              "Description": "Customer payment", "Notes": "mlc:plaid-nl-1:tx2"}]}
    e.update(fields)
    return e
