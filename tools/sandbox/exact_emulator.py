"""Exact Online emulator for the ml-connector sandbox and tests.

Owns: Exact's OAuth 2.0 (codes, rotating refresh tokens, lifetimes), rate limits and the error
budget, the entities ml-connector reads and writes (divisions, journals, G/L accounts, cost centers,
periods, bank entries and their lines, transaction lines, reporting balances, webhook
subscriptions), the validation Exact does on a bank entry POST, and webhook notifications.
It does not own HTTP plumbing (emu_http.py), the OData query language (exact_odata.py) or the
reference data (exact_seed.py). Facts and their sources: /work/shared/reference/exact-online.md.

Use
---
    from exact_seed import default_seed
    from exact_emulator import ExactEmulator
    emu = ExactEmulator(default_seed(accounts), time_scale=0.01, webhook_secret="s3cret")
    port = emu.serve("127.0.0.1", 0)     # background thread; returns the bound port
    ...                                  # point the agent's Exact base URL at http://127.0.0.1:port
    emu.shutdown()

One host plays all seven regional hosts (start.exactonline.nl/.be/.de/.co.uk/.com/.fr/.es): any
Host header is accepted and echoed back in __next links.

Options (constructor keywords; the launcher maps --kebab-case flags onto them)
-----------------------------------------------------------------------------
  time_scale=1.0        multiplies every lifetime and window: code 180 s, access token 600 s,
                        early-refresh rule 570 s, refresh token 30 days, rate-limit minute and day,
                        error-budget hour and block hour. 0.01 makes 600 s = 6 s.
  client_id, client_secret   the registered app (defaults CLIENT_ID / CLIENT_SECRET below);
  clients={id: secret}  more than one app.
  redirect_uris=None    list of allowed redirect URIs (None = any).
  webhook_secret        the app's webhook secret that signs notifications (HashCode).
  minutely_limit=60, daily_limit=5000, rate_limits=True (False = no limits and no 429, headers
                        are still sent).
  error_budget=10       client errors (400/401/403/404) per key+division+endpoint per hour before
                        that endpoint is blocked for an hour; 0 = off. error_block_status=403.
  token_daily_limit=200 token-endpoint calls per app per day; 0 = off.
  page_size=60, bulk_page_size=1000
  description_max=60, notes_max=100   line text limits (Exact publishes none; we pick and enforce).
  require_balances=False  True = OpeningBalanceFC and ClosingBalanceFC are mandatory on a POST.
  webhook_async=True    deliver notifications from a background thread (False = inline, no retries).
  webhook_retries=10    a notification not answered 200/201 is sent again after 1, 2, 4, ... minutes
                        (scaled, on the emulator clock), like Exact's 10 retries over ~34 hours.
  webhook_sender=None   callable(url, body_bytes, headers) -> HTTP status, replaces urllib.
  webhook_https_only=False  Exact only accepts https callbacks; the sandbox allows http.
  json_needs_accept=True  without "Accept: application/json" the API answers Atom XML (as Exact
                        does); here an empty feed with a comment saying so.
  filter_required=True  $filter is mandatory on endpoints that have a sync twin (financial/
                        GLAccounts, financialtransaction/TransactionLines, bulk/Financial/
                        TransactionLines), as KB-limits says since July 2021.
  consent_divisions=None  divisions the user ticked on the consent screen (None = all); others
                        answer 403 with Reason: NoDivisionAccess.
  base_year, fiscal_year_start_month, years   rebuild the seed's financial periods (see
                        exact_seed.with_periods), e.g. --fiscal-year-start-month 4 for April..March.
  clock=None            callable returning epoch seconds (default: the EmuApp clock, which
                        /__admin/clock moves).
  admin_token=None, verbose=False   passed to EmuApp.

Choices the emulator makes where Exact's behaviour is UNCONFIRMED (reference marks them so)
-----------------------------------------------------------------------------------------
  - A client-supplied EntryID is ignored; every POST creates a new entry with its own GUID, so a
    repeated POST is a duplicate. Read back by BankEntryLines.Notes to stay exactly-once.
  - Line Description max 60 and Notes max 100 characters; longer -> HTTP 500 naming the limit.
  - Opening + sum(lines) must equal Closing when both are sent (HTTP 500 otherwise); one of them
    alone is completed from the other; neither -> opening 0.
  - POST without "Prefer: return=representation" answers 201 with only {"d":{"EntryID":...}}.
  - Rotation is strict (no Invantive-style grace): an old refresh token -> 401 "Old refresh token
    used." and the whole chain (current refresh and access tokens) is revoked. An early refresh
    (< 570 s) does not consume the refresh token.
  - Error budget: the 11th client error within an hour blocks that app+division+endpoint for an
    hour (403 with Reason: TooManyErrors); 429s and 500s do not count.
  - With the minutely budget gone the 429 carries only the X-RateLimit-Minutely-* headers
    (picqer README); with the daily budget gone, all headers.
  - Closed-period, blocked-G/L and balance-mismatch texts are Exact-like but invented.

Admin API (JSON; emu_http adds /__admin/calls, fault, faults, clock, health)
----------------------------------------------------------------------------
  GET  /__admin/exact/ledger[?division=N]   all bank entries with their lines, per division
  GET  /__admin/exact/calls                 calls per "METHOD service/Entity"
  POST /__admin/exact/period {division, year, period, status: "closed"|"open", journal?}
  POST /__admin/exact/glaccount {division, code, blocked: true|false}
  POST /__admin/exact/revoke {client_id?}   the user withdrew consent
  POST /__admin/exact/limits {minutely?, daily?, enabled?, error_budget?}
  POST /__admin/exact/reset_limits          forget counters, error budgets and blocks
  POST /__admin/exact/expire_access_tokens  every access token expires now
  POST /__admin/exact/entry/process {division, entry_id}   bookkeeper processes (Update webhook)
  POST /__admin/exact/entry/delete {division, entry_id}    bookkeeper deletes (Delete webhook)
  GET  /__admin/exact/webhooks              subscriptions and the delivery log
  GET  /__admin/exact/tokens                token chains (no token values)
"POST committed, answer lost": POST /__admin/fault {"kind": "lose_answer", "method": "POST",
"path": "/api/v1/*/financialtransaction/BankEntries"}.

Sign convention (UNCONFIRMED in Exact, reference §5.2/§10.11): BankEntryLines.AmountFC > 0 is money
received. Each line makes a transaction line on its offset G/L with AmountDC = -AmountFC (credit);
the entry makes one line 0 on the bank journal's G/L with the sum (debit). ReportingBalance sums
AmountDC, so the bank G/L's balance moves with the lines.
"""

import base64
import copy
import datetime as _dt
import hashlib
import heapq
import hmac
import inspect
import json
import math
import queue
import re
import secrets
import threading
import urllib.error
import urllib.request
import uuid
from urllib.parse import parse_qs, quote, urlsplit

import exact_odata as od
import exact_seed
from emu_http import EmuApp, HttpError, Response, json_dumps, json_response, text_response
from exact_odata import BOOL, DATETIME, DECIMAL, GUID, INT, STRING, EntitySet, ODataError

CLIENT_ID = "8a2b6f4e-5d1c-4b7a-9e3f-2c6d8e0f1a4b"
CLIENT_SECRET = "sandbox-client-secret"
WEBHOOK_SECRET = "sandbox-webhook-secret"

# Lifetimes in Exact's seconds (reference §1.2, §1.4, §4); multiplied by time_scale.
CODE_TTL = 180                 # authorization code: 3 minutes, one use (KB-oauth2)
ACCESS_TTL = 600               # access token: 10 minutes (KB-oauth3)
REFRESH_MIN_AGE = 570          # no refresh until 570 s after the access token was issued (KB-limits)
REFRESH_TTL = 30 * 86400       # refresh token: 30 days if unused (KB-oauth3)
MINUTE = 60
DAY = 86400
ERROR_WINDOW = 3600            # error budget counts errors per hour (KB-limits)
ERROR_BLOCK = 3600             # ... and blocks the endpoint for an hour

MAX_POST_BYTES = 10 * 1000 * 1000   # "10.0 MB per request" (KB-limits)
MAX_URL_CHARS = 6000                # "URL <= 6000 chars" (KB-restr)
MAX_LINES_PER_ENTRY = 10000    # bounds one POST; Exact's real bound is the 10 MB request size
MAX_SUBSCRIPTIONS = 100
MAX_DELIVERY_LOG = 500
WEBHOOK_TOPICS = ("BankEntries", "CashEntries", "GeneralJournalEntries", "PurchaseEntries",
                  "SalesEntries", "Accounts", "BankAccounts", "Documents", "Items", "StockPositions",
                  "GLAccounts", "JournalStatusList", "FinancialTransactions")

BANK_JOURNAL = 12
STATUS_OPEN, STATUS_PROCESSED = 20, 50

# ---- entity sets ---------------------------------------------------------------------------------

_NS = "Exact.Web.Api.Models."

DIVISION = EntitySet("system/Divisions", _NS + "HRM.Division", {
    "Code": INT, "Description": STRING, "Country": STRING, "Currency": STRING, "HID": INT,
    "Customer": GUID, "Blocked": BOOL, "Main": BOOL}, "Code")
ALL_DIVISIONS = EntitySet("system/AllDivisions", _NS + "System.AllDivision", DIVISION.fields, "Code")
JOURNAL = EntitySet("financial/Journals", _NS + "Financial.Journal", {
    "ID": GUID, "Code": STRING, "Description": STRING, "Type": INT, "Currency": STRING,
    "AllowVariableCurrency": BOOL, "GLAccount": GUID, "GLAccountCode": STRING, "GLAccountType": INT,
    "BankAccountID": GUID, "BankAccountIBAN": STRING, "BankAccountBICCode": STRING,
    "BankAccountIncludingMask": STRING,
    "BankAccountDescription": STRING, "BankName": STRING, "IsBlocked": BOOL, "Division": INT}, "ID")
GLACCOUNT = EntitySet("financial/GLAccounts", _NS + "Financial.GLAccount", {
    "ID": GUID, "Code": STRING, "Description": STRING, "Type": INT, "UseCostcenter": INT,
    "UseCostunit": INT, "IsBlocked": BOOL, "BalanceType": STRING, "BalanceSide": STRING,
    "Division": INT}, "ID", filter_required="sync/Financial/GLAccounts")
COSTCENTER = EntitySet("hrm/Costcenters", _NS + "HRM.Costcenter", {
    "ID": GUID, "Code": STRING, "Description": STRING, "Active": BOOL, "Division": INT}, "ID")
PERIOD = EntitySet("financial/FinancialPeriods", _NS + "Financial.FinancialPeriod", {
    "ID": GUID, "FinYear": INT, "FinPeriod": INT, "StartDate": DATETIME, "EndDate": DATETIME,
    "Division": INT}, "ID")
JOURNAL_STATUS = EntitySet("read/financial/JournalStatusList", _NS + "Financial.JournalStatusList", {
    "ID": GUID, "Journal": STRING, "JournalType": INT, "Year": INT, "Period": INT, "Status": INT,
    "Division": INT}, "ID")
LINE_FIELDS = {
    "ID": GUID, "EntryID": GUID, "EntryNumber": INT, "LineNumber": INT, "Date": DATETIME,
    "AmountFC": DECIMAL, "AmountDC": DECIMAL, "AmountVATFC": DECIMAL, "VATCode": STRING,
    "VATType": STRING, "VATPercentage": DECIMAL, "Quantity": DECIMAL, "ExchangeRate": DECIMAL,
    "GLAccount": GUID, "GLAccountCode": STRING, "GLAccountDescription": STRING,
    "Description": STRING, "Notes": STRING, "OurRef": INT, "Account": GUID, "CostCenter": STRING,
    "CostUnit": STRING, "Project": GUID, "ProjectWBS": GUID, "Asset": GUID, "Document": GUID,
    "OffsetID": GUID, "Division": INT, "Created": DATETIME, "Modified": DATETIME}
BANK_ENTRY_LINE = EntitySet("financialtransaction/BankEntryLines",
                            _NS + "FinancialTransaction.BankEntryLine", LINE_FIELDS, "ID",
                            select_required=True)
BANK_ENTRY = EntitySet("financialtransaction/BankEntries", _NS + "FinancialTransaction.BankEntry", {
    "EntryID": GUID, "EntryNumber": INT, "JournalCode": STRING, "JournalDescription": STRING,
    "FinancialYear": INT, "FinancialPeriod": INT, "Currency": STRING, "OpeningBalanceFC": DECIMAL,
    "ClosingBalanceFC": DECIMAL, "Status": INT, "StatusDescription": STRING,
    "BankStatementDocument": GUID, "Division": INT, "Created": DATETIME, "Modified": DATETIME},
    "EntryID", select_required=True, expand={"BankEntryLines": BANK_ENTRY_LINE})
TX_FIELDS = {
    "ID": GUID, "Timestamp": INT, "EntryID": GUID, "EntryNumber": INT, "JournalCode": STRING,
    "Date": DATETIME, "FinancialYear": INT, "FinancialPeriod": INT, "GLAccount": GUID,
    "GLAccountCode": STRING, "AmountDC": DECIMAL, "AmountFC": DECIMAL, "Currency": STRING,
    "Description": STRING, "Notes": STRING, "YourRef": STRING, "PaymentReference": STRING,
    "ExternalLinkReference": STRING, "Status": INT, "Type": INT, "LineNumber": INT,
    "CostCenter": STRING, "Division": INT, "Created": DATETIME, "Modified": DATETIME}
TX_LINE = EntitySet("financialtransaction/TransactionLines",
                    _NS + "FinancialTransaction.TransactionLine", TX_FIELDS, "ID", select_required=True,
                    filter_required="sync/Financial/TransactionLines")
BULK_TX_LINE = EntitySet("bulk/Financial/TransactionLines", _NS + "Bulk.Financial.TransactionLine",
                         TX_FIELDS, "ID", page_size=1000, select_required=True,
                         filter_required="sync/Financial/TransactionLines")
SYNC_TX_LINE = EntitySet("sync/Financial/TransactionLines", _NS + "Sync.Financial.TransactionLine",
                         TX_FIELDS, "Timestamp", page_size=1000, select_required=True,
                         sync_only_timestamp=True)
SYNC_DELETED = EntitySet("sync/Deleted", _NS + "Sync.Deleted", {
    "Timestamp": INT, "ID": GUID, "EntityKey": GUID, "EntityType": INT, "DeletedDate": DATETIME,
    "DeletedBy": GUID, "Division": INT}, "Timestamp", page_size=1000, select_required=True,
    sync_only_timestamp=True)
REPORTING_BALANCE = EntitySet("financial/ReportingBalance", _NS + "Financial.ReportingBalance", {
    "ID": INT, "Amount": DECIMAL, "AmountDebit": DECIMAL, "AmountCredit": DECIMAL, "Count": INT,
    "BalanceType": STRING, "CostCenterCode": STRING, "Division": INT, "GLAccount": GUID,
    "GLAccountCode": STRING, "GLAccountDescription": STRING, "ReportingYear": INT,
    "ReportingPeriod": INT, "Status": INT, "Type": INT}, "ID")
WEBHOOK_SUB = EntitySet("webhooks/WebhookSubscriptions", _NS + "Webhooks.WebhookSubscription", {
    "ID": GUID, "CallbackURL": STRING, "ClientID": GUID, "Topic": STRING, "Division": INT,
    "UserID": GUID, "Description": STRING, "Created": DATETIME}, "ID")
ME = EntitySet("current/Me", _NS + "System.Me", {
    "UserID": GUID, "CurrentDivision": INT, "FullName": STRING, "UserName": STRING, "Email": STRING,
    "LanguageCode": STRING, "DivisionCustomer": GUID}, "UserID")

ENTITY_SETS = {e.path: e for e in (DIVISION, ALL_DIVISIONS, JOURNAL, GLACCOUNT, COSTCENTER, PERIOD,
                                   JOURNAL_STATUS, BANK_ENTRY, BANK_ENTRY_LINE, TX_LINE, BULK_TX_LINE,
                                   SYNC_TX_LINE, SYNC_DELETED, REPORTING_BALANCE, WEBHOOK_SUB)}
FUNCTIONS = ("users/UserHasRights",)

# Which methods each endpoint allows (reference §5). Others answer 405 like Exact's "not allowed".
ALLOWED = {"financialtransaction/BankEntries": ("GET", "POST", "DELETE"),
           "webhooks/WebhookSubscriptions": ("GET", "POST", "DELETE")}

BANK_ENTRY_POST_FIELDS = ("EntryID", "BankEntryLines", "JournalCode", "FinancialYear",
                          "FinancialPeriod", "OpeningBalanceFC", "ClosingBalanceFC", "Currency",
                          "EntryNumber", "BankStatementDocument")
LINE_POST_FIELDS = ("EntryID", "AmountFC", "GLAccount", "Date", "Description", "Notes", "OurRef",
                    "Account", "CostCenter", "CostUnit", "Project", "ProjectWBS", "Asset",
                    "Document", "VATCode", "VATType", "VATPercentage", "AmountVATFC", "Quantity",
                    "ExchangeRate")


_ATOM_HINT = (b'<?xml version="1.0" encoding="utf-8"?>\n<!-- Exact Online answers XML (Atom) unless the '
              b'request has the header "Accept: application/json". Add it. -->\n'
              b'<feed xmlns="http://www.w3.org/2005/Atom"></feed>\n')


def exact_error(message, code=""):
    """Exact's REST error body (reference §8)."""
    return {"error": {"code": code, "message": {"lang": "", "value": message}}}


class ExactFailure(Exception):
    """A request the emulator answers with an Exact error body."""

    def __init__(self, status, message, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def _utc(epoch):
    return _dt.datetime(1970, 1, 1) + _dt.timedelta(seconds=epoch)


def _us_time(d):
    # the wording of Exact's "refresh token expired at 10/11/2022 9:18:20 PM" (reference §1.2)
    hour = d.hour % 12 or 12
    return "%d/%d/%d %d:%02d:%02d %s" % (d.month, d.day, d.year, hour, d.minute, d.second,
                                         "AM" if d.hour < 12 else "PM")


def _token(prefix):
    # contains '!' like Exact's codes and tokens, so a client that forgets to URL-encode fails
    a = base64.urlsafe_b64encode(secrets.token_bytes(24)).decode().rstrip("=")
    b = base64.urlsafe_b64encode(secrets.token_bytes(48)).decode().rstrip("=")
    return "%s.%s!%s" % (prefix, a, b)


def _money(x):
    return round(float(x) + 0.0, 2)


class _Division:
    def __init__(self, row, data):
        self.row = dict(row)
        self.code = row["Code"]
        self.currency = row["Currency"]
        self.journals = {}      # code -> row
        for j in data["journals"]:
            self.journals[j["Code"]] = dict(j)
        self.gl_by_id = {}
        for g in data["glaccounts"]:
            self.gl_by_id[g["ID"]] = dict(g)
        self.costcenters = {c["Code"]: dict(c) for c in data["costcenters"]}
        self.periods = []
        for p in data["periods"]:
            q = dict(p)
            q["StartDate"] = od.parse_datetime(p["StartDate"])
            q["EndDate"] = od.parse_datetime(p["EndDate"])
            self.periods.append(q)
        self.status = {}        # (journal, year, period) -> row
        for s in data["journal_status"]:
            q = dict(s)
            q["ID"] = str(uuid.uuid5(uuid.NAMESPACE_URL, "jsl/%s/%s/%s/%s" % (
                self.code, s["Journal"], s["Year"], s["Period"])))
            self.status[(s["Journal"], s["Year"], s["Period"])] = q
        self.entries = {}       # EntryID -> header row
        self.lines = {}         # ID -> BankEntryLine row
        self.tx = {}            # ID -> TransactionLine row
        self.deleted = []       # sync/Deleted rows
        self.entry_numbers = {}  # (journal, year) -> last number


class ExactCore:
    """Exact's rules without HTTP: OAuth, limits, entities, validation, webhooks.

    handle(method, path, query, headers, body, host) -> emu_http.Response. Thread-safe only under
    one lock (EmuApp serialises handlers).
    """

    def __init__(self, seed, clock, time_scale=1.0, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                 clients=None, redirect_uris=None, webhook_secret=WEBHOOK_SECRET, minutely_limit=60,
                 daily_limit=5000, rate_limits=True, error_budget=10, error_block_status=403,
                 token_daily_limit=200, page_size=60, bulk_page_size=1000, description_max=60,
                 notes_max=100, require_balances=False, webhook_async=True, webhook_sender=None,
                 webhook_retries=10, json_needs_accept=True, filter_required=True,
                 consent_divisions=None,
                 webhook_https_only=False, scheme="http"):
        if time_scale <= 0 or not math.isfinite(time_scale):
            raise ValueError("time_scale must be a positive number")
        self.clock = clock
        self.scale = float(time_scale)
        self.clients = dict(clients or {})
        self.clients.setdefault(client_id, client_secret)
        self.redirect_uris = list(redirect_uris) if redirect_uris else None
        self.webhook_secret = webhook_secret
        self.minutely_limit = int(minutely_limit)
        self.daily_limit = int(daily_limit)
        self.rate_limits = bool(rate_limits)
        self.error_budget = int(error_budget)
        self.error_block_status = int(error_block_status)
        self.token_daily_limit = int(token_daily_limit)
        self.description_max = int(description_max)
        self.notes_max = int(notes_max)
        self.require_balances = bool(require_balances)
        self.webhook_https_only = bool(webhook_https_only)
        self.scheme = scheme
        # per-emulator copies, so two emulators in one process may page differently
        self.entity_sets = {}
        for path, e in ENTITY_SETS.items():
            mine = copy.copy(e)
            mine.page_size = int(bulk_page_size) if path.startswith(("bulk/", "sync/")) else int(page_size)
            if not filter_required:
                mine.filter_required = None
            self.entity_sets[path] = mine

        self.user = dict(seed["user"])
        self.fiscal_start = seed.get("fiscal_year_start_month", 1)
        self.divisions = {}
        for row in seed["divisions"]:
            self.divisions[row["Code"]] = _Division(row, seed["per_division"][str(row["Code"])])
        self.timestamp = 1000000          # Exact's row version (sync Timestamp); grows forever

        self.codes = {}                   # code -> {client, redirect_uri, issued, used}
        self.chains = {}                  # chain id -> {client, revoked, access_issued, refresh}
        self.refresh_tokens = {}          # token -> {chain, issued, current}
        self.access_tokens = {}           # token -> {chain, issued}
        self.token_calls = {}             # (client, day window) -> count
        self.limits = {}                  # (client, division) -> [minute win, count, day win, count]
        self.errors = {}                  # (client, division, endpoint) -> [error times]
        self.blocks = {}                  # (client, division, endpoint) -> blocked until
        self.calls = {}                   # "METHOD endpoint" -> count (admin view)
        self.subscriptions = {}           # ID -> row
        self.deliveries = []              # webhook delivery log (bounded)
        self.webhook_sender = webhook_sender or _urllib_sender
        self.webhook_async = bool(webhook_async)
        self.webhook_retries = int(webhook_retries)
        self.json_needs_accept = bool(json_needs_accept)
        self.consent_divisions = set(int(d) for d in consent_divisions) if consent_divisions else None
        self._wh_queue = queue.Queue()
        self._wh_thread = None
        self._wh_lock = threading.Lock()

    # ---- time ---------------------------------------------------------------------------------
    def now(self):
        return float(self.clock())

    def span(self, seconds):
        """An Exact duration in emulator (real) seconds."""
        return seconds * self.scale

    def _now_dt(self):
        return _utc(self.now())

    def _next_timestamp(self):
        self.timestamp += 1
        return self.timestamp

    # ---- OAuth --------------------------------------------------------------------------------
    def oauth_authorize(self, query):
        """GET /api/oauth2/auth: consent is automatic; 302 to redirect_uri with code and state."""
        client = query.get("client_id", "")
        redirect = query.get("redirect_uri", "")
        rtype = query.get("response_type", "")
        if client not in self.clients:
            return text_response("Unknown client_id '%s'. Register the app in the sandbox or use the "
                                 "client id it was started with." % client, 400)
        if not redirect or not re.match(r"^https?://", redirect):
            return text_response("redirect_uri is missing or not an http(s) URL.", 400)
        if self.redirect_uris is not None and redirect not in self.redirect_uris:
            return text_response("redirect_uri '%s' is not registered for this app." % redirect, 400)
        if rtype != "code":
            return text_response("response_type must be 'code' (only the authorization code flow "
                                 "is emulated).", 400)
        now = self.now()
        # forget codes and access tokens long past their lifetime, so a long sandbox run stays small
        # (used refresh tokens stay: reuse of one must still be recognised)
        for c in [c for c, r in self.codes.items() if now - r["issued"] > 2 * self.span(CODE_TTL)]:
            del self.codes[c]
        for t in [t for t, r in self.access_tokens.items() if now - r["issued"] > 2 * self.span(ACCESS_TTL)]:
            del self.access_tokens[t]
        code = _token("stampNL001")
        self.codes[code] = {"client": client, "redirect_uri": redirect, "issued": self.now(),
                            "used": False}
        params = [("code", code)]
        if "state" in query:
            params.append(("state", query["state"]))
        sep = "&" if "?" in redirect else "?"
        location = redirect + sep + "&".join("%s=%s" % (k, quote(v, safe="")) for k, v in params)
        return Response(302, b"", "text/plain", {"Location": location})

    def _oauth_error(self, status, error, description):
        return json_response({"error": error, "error_description": description}, status)

    def oauth_token(self, headers, body):
        """POST /api/oauth2/token (form body with client_id and client_secret)."""
        ctype = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            return self._oauth_error(400, "invalid_request", "The token request must be sent as "
                                     "application/x-www-form-urlencoded.")
        try:
            form = {k: v[0] for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True,
                                                 max_num_fields=20).items()}
        except (UnicodeDecodeError, ValueError):
            return self._oauth_error(400, "invalid_request", "The token request body is not valid.")
        client = form.get("client_id", "")
        secret = form.get("client_secret", "")
        if client not in self.clients or not hmac.compare_digest(
                self.clients[client].encode(), secret.encode()):
            return self._oauth_error(400, "invalid_client", "Unknown client_id or wrong client_secret "
                                     "(send both in the form body).")
        now = self.now()
        if self.token_daily_limit:
            win = (client, math.floor(now / self.span(DAY)))
            self.token_calls[win] = self.token_calls.get(win, 0) + 1
            if self.token_calls[win] > self.token_daily_limit:
                return self._oauth_error(429, "invalid_request", "Rate limit exceeded: at most %d token "
                                         "requests per app per day." % self.token_daily_limit)
        grant = form.get("grant_type", "")
        if grant == "authorization_code":
            return self._grant_code(client, form, now)
        if grant == "refresh_token":
            return self._grant_refresh(client, form, now)
        return self._oauth_error(400, "unsupported_grant_type",
                                 "grant_type must be authorization_code or refresh_token.")

    def _issue(self, chain_id, now):
        for t in [t for t, r in self.access_tokens.items() if now - r["issued"] > 2 * self.span(ACCESS_TTL)]:
            del self.access_tokens[t]
        chain = self.chains[chain_id]
        access = _token("gAAAAA")
        refresh = _token("Gcp7")
        self.access_tokens[access] = {"chain": chain_id, "issued": now}
        if chain.get("refresh"):
            self.refresh_tokens[chain["refresh"]]["current"] = False
        self.refresh_tokens[refresh] = {"chain": chain_id, "issued": now, "current": True}
        chain["refresh"] = refresh
        chain["access_issued"] = now
        # expires_in is a string in Exact's answer (reference §1.1): clients must parse it as one
        return json_response({"access_token": access, "token_type": "bearer",
                              "expires_in": str(ACCESS_TTL), "refresh_token": refresh})

    def _grant_code(self, client, form, now):
        code = form.get("code", "")
        rec = self.codes.get(code)
        if rec is None:
            hint = " It still contains URL-encoding ('%'); decode it once." if "%" in code else ""
            return self._oauth_error(400, "invalid_grant", "The authorization code is not valid." + hint)
        if rec["used"]:
            return self._oauth_error(400, "invalid_grant", "The authorization code has already been "
                                     "used; start the authorisation again.")
        if now - rec["issued"] > self.span(CODE_TTL):
            return self._oauth_error(400, "invalid_grant", "The authorization code has expired (codes "
                                     "are valid for 3 minutes); start the authorisation again.")
        if rec["client"] != client or rec["redirect_uri"] != form.get("redirect_uri", ""):
            return self._oauth_error(400, "invalid_grant", "client_id or redirect_uri differ from the "
                                     "authorisation request.")
        rec["used"] = True
        chain_id = str(uuid.uuid4())
        self.chains[chain_id] = {"client": client, "revoked": None, "access_issued": None,
                                 "refresh": None, "created": now}
        return self._issue(chain_id, now)

    def _grant_refresh(self, client, form, now):
        token = form.get("refresh_token", "")
        rec = self.refresh_tokens.get(token)
        if rec is None:
            return self._oauth_error(400, "invalid_grant", "The refresh token is not valid.")
        chain = self.chains[rec["chain"]]
        if chain["client"] != client:
            return self._oauth_error(400, "invalid_grant", "The refresh token belongs to another app.")
        if not rec["current"]:
            # rotation (reference §1.3): reuse of an old token kills the whole chain
            self._revoke_chain(rec["chain"], "an old refresh token was used")
            return self._oauth_error(401, "unauthorized_client", "Old refresh token used.")
        if chain["revoked"]:
            return self._oauth_error(400, "invalid_grant", "The refresh token was revoked because %s; "
                                     "the user must authorise the app again." % chain["revoked"])
        expires = rec["issued"] + self.span(REFRESH_TTL)
        if now > expires:
            return self._oauth_error(400, "invalid_request", "The refresh token expired at %s and it "
                                     "is now %s." % (_us_time(_utc(expires)), _us_time(_utc(now))))
        if chain["access_issued"] is not None and now - chain["access_issued"] < self.span(REFRESH_MIN_AGE):
            # KB-limits: a new access token only 570 s or more after the previous one; the refresh
            # token is not consumed
            return self._oauth_error(401, "invalid_request", "Rate limit exceeded: access_token not expired")
        return self._issue(rec["chain"], now)

    def _revoke_chain(self, chain_id, reason):
        chain = self.chains[chain_id]
        chain["revoked"] = reason
        for tok in [t for t, r in self.access_tokens.items() if r["chain"] == chain_id]:
            del self.access_tokens[tok]

    def revoke_consent(self, client=None):
        """Admin: the user withdrew consent; every token of the app (or all apps) stops working."""
        n = 0
        for cid, chain in self.chains.items():
            if (client is None or chain["client"] == client) and not chain["revoked"]:
                self._revoke_chain(cid, "the user withdrew consent")
                n += 1
        return n

    def expire_access_tokens(self):
        """Admin: make every access token expired now (the refresh rules still apply)."""
        for rec in self.access_tokens.values():
            rec["issued"] = self.now() - self.span(ACCESS_TTL) - 1

    def _authenticate(self, headers):
        """-> client id; raises ExactFailure 401."""
        auth = headers.get("Authorization") or ""
        if not auth.lower().startswith("bearer "):
            raise ExactFailure(401, "Authorization header with a Bearer access token is missing.",
                               {"WWW-Authenticate": "Bearer"})
        rec = self.access_tokens.get(auth[7:].strip())
        if rec is None:
            raise ExactFailure(401, "The access token is not valid.", {"WWW-Authenticate": "Bearer"})
        chain = self.chains[rec["chain"]]
        if self.now() - rec["issued"] >= self.span(ACCESS_TTL):
            # error budget still knows the app: the caller records the 401 against it
            raise ExactFailure(401, "The access token has expired; refresh it.",
                               {"WWW-Authenticate": "Bearer", "X-Mlc-Client": chain["client"]})
        return chain["client"]

    # ---- rate limits and error budget --------------------------------------------------------
    def _rate(self, client, division):
        """Count one call; -> (allowed, headers). Fixed windows: whole minute and UTC midnight."""
        now = self.now()
        minute, day = self.span(MINUTE), self.span(DAY)
        mw, dw = math.floor(now / minute), math.floor(now / day)
        st = self.limits.setdefault((client, division), [mw, 0, dw, 0])
        if st[0] != mw:
            st[0], st[1] = mw, 0
        if st[2] != dw:
            st[2], st[3] = dw, 0
        m_reset = str(int(round((mw + 1) * minute * 1000)))
        d_reset = str(int(round((dw + 1) * day * 1000)))
        allowed = True
        if self.rate_limits and (st[3] >= self.daily_limit or st[1] >= self.minutely_limit):
            allowed = False
        else:
            st[1] += 1
            st[3] += 1
        headers = {"X-RateLimit-Minutely-Limit": str(self.minutely_limit),
                   "X-RateLimit-Minutely-Remaining": str(max(0, self.minutely_limit - st[1])),
                   "X-RateLimit-Minutely-Reset": m_reset}
        if allowed or st[3] >= self.daily_limit:
            # picqer README: with the minutely budget gone Exact sends only the minutely headers
            headers.update({"X-RateLimit-Limit": str(self.daily_limit),
                            "X-RateLimit-Remaining": str(max(0, self.daily_limit - st[3])),
                            "X-RateLimit-Reset": d_reset})
        return allowed, headers, st[3] >= self.daily_limit

    def _record_error(self, key):
        if not self.error_budget:
            return
        now = self.now()
        times = [t for t in self.errors.get(key, []) if now - t < self.span(ERROR_WINDOW)]
        times.append(now)
        self.errors[key] = times
        if len(times) > self.error_budget:
            self.blocks[key] = now + self.span(ERROR_BLOCK)
            self.errors[key] = []

    def _blocked(self, key):
        until = self.blocks.get(key)
        if until is None:
            return None
        if self.now() >= until:
            del self.blocks[key]
            return None
        return until

    # ---- request entry point ------------------------------------------------------------------
    _API_PATH = re.compile(r"^/api/v1/(?P<div>current|\d{1,9})/(?P<ep>[A-Za-z]+(?:/[A-Za-z]+){0,3})"
                           r"(?:\((?P<key>[^)]{1,80})\))?(?P<count>/\$count)?/?$")

    def handle(self, method, path, query, headers, body, host="localhost"):
        """One API request (path under /api/v1). Never raises; returns a Response."""
        ctx = {"client": None, "division": None, "endpoint": "?", "extra": {}}
        try:
            resp = self._route(method, path, query, headers, body, host, ctx)
        except ExactFailure as f:
            hdrs = dict(f.headers)
            hdrs.update(ctx["extra"])
            resp = json_response(exact_error(f.message), f.status, hdrs)
        except ODataError as e:
            resp = json_response(exact_error(e.message), e.status, dict(ctx["extra"]))
        else:
            resp.headers.update(ctx["extra"])
        accept = (headers.get("Accept") or "").lower()
        if self.json_needs_accept and "json" not in accept and \
                resp.headers.get("Content-Type", "").startswith("application/json"):
            # Exact answers OData Atom XML unless the request says Accept: application/json; the
            # emulator does not speak Atom, it only makes the omission impossible to miss.
            resp = Response(resp.status, _ATOM_HINT, "application/atom+xml;type=feed;charset=utf-8",
                            {k: v for k, v in resp.headers.items() if k != "Content-Type"})
        if ctx["client"] is not None and ctx["division"] is not None \
                and resp.status in (400, 401, 403, 404) and resp.headers.get("Reason") != "TooManyErrors":
            self._record_error((ctx["client"], ctx["division"], ctx["endpoint"]))
        return resp

    def _route(self, method, path, query, headers, body, host, ctx):
        m = self._API_PATH.match(path)
        if not m:
            raise ExactFailure(404, "The endpoint %s does not exist." % path)
        div_text, endpoint = m.group("div"), m.group("ep")
        ctx["endpoint"] = endpoint
        name = "%s %s" % (method, endpoint)
        self.calls[name] = self.calls.get(name, 0) + 1
        if len(path) + sum(len(k) + len(v) + 2 for k, v in query.items()) > MAX_URL_CHARS:
            raise ExactFailure(414, "The URL is longer than %d characters; shorten $filter or "
                               "$select." % MAX_URL_CHARS)
        if len(body or b"") > MAX_POST_BYTES:
            raise ExactFailure(413, "The request is larger than 10 MB; send fewer lines per bank entry.")
        if "100-continue" in (headers.get("Expect") or "").lower():
            # KB-known: Exact fails requests sent with Expect: 100-Continue
            raise ExactFailure(500, "Expect: 100-continue is not supported. Send the request "
                               "without the Expect header.")
        try:
            client = self._authenticate(headers)
        except ExactFailure as f:
            # an expired token still names the app, so its 401s count against the error budget
            expired_client = f.headers.pop("X-Mlc-Client", None)
            if expired_client is not None and div_text != "current":
                ctx["client"], ctx["division"] = expired_client, int(div_text)
            raise
        if div_text == "current":
            if endpoint != "Me":
                raise ExactFailure(404, "The endpoint current/%s does not exist." % endpoint)
            return self._me(query, host)       # no division: no rate limit, no headers (KB-limits)
        division = int(div_text)
        ctx["client"], ctx["division"] = client, division
        until = self._blocked((client, division, endpoint))
        if until is not None:
            raise ExactFailure(self.error_block_status, "Too many errors: this app had more than %d "
                               "failed calls to %s in division %d within an hour, so the endpoint is "
                               "blocked until %s UTC. Fix the request before trying again."
                               % (self.error_budget, endpoint, division,
                                  _utc(until).strftime("%Y-%m-%d %H:%M:%S")),
                               {"Reason": "TooManyErrors"})
        allowed, ctx["extra"], daily_gone = self._rate(client, division)
        if not allowed:
            if daily_gone:
                msg = ("API rate limit exceeded: %d calls per day for this app and division. "
                       "Calls are accepted again after X-RateLimit-Reset." % self.daily_limit)
            else:
                msg = ("API rate limit exceeded: %d calls per minute for this app and division. "
                       "Wait until X-RateLimit-Minutely-Reset." % self.minutely_limit)
            raise ExactFailure(429, msg)
        div = self.divisions.get(division)
        if div is None or not self._consented(division):
            raise ExactFailure(403, "You have no access to division %d." % division,
                               {"Reason": "NoDivisionAccess"})
        return self._dispatch(method, div, endpoint, m.group("key"), bool(m.group("count")),
                              query, headers, body, host)

    def _consented(self, division):
        # on the consent screen the user picks the divisions the app may use (KB-oauthovw)
        return self.consent_divisions is None or division in self.consent_divisions

    def _base(self, host):
        return "%s://%s" % (self.scheme, host or "localhost")

    def _me(self, query, host):
        row = dict(self.user)
        row["DivisionCustomer"] = self.divisions[row["CurrentDivision"]].row["Customer"]
        select = od.parse_select(query.get("$select"), ME)
        uri = self._base(host) + "/api/v1/current/Me"
        return json_response({"d": {"results": [od.project(row, ME, select, base_uri=uri)]}})

    def _dispatch(self, method, div, endpoint, key_text, count, query, headers, body, host):
        if endpoint == "users/UserHasRights":
            return self._user_has_rights(query)
        entity = self.entity_sets.get(endpoint)
        if entity is None:
            raise ExactFailure(404, "The endpoint %s does not exist." % endpoint)
        allowed = ALLOWED.get(endpoint, ("GET",))
        if method not in allowed:
            raise ExactFailure(405, "The method %s is not allowed on %s." % (method, endpoint),
                               {"Allow": ", ".join(allowed)})
        set_uri = "%s/api/v1/%d/%s" % (self._base(host), div.code, endpoint)
        key = None
        if key_text is not None:
            ktype = entity.fields[entity.key]
            if ktype == GUID:
                mo = re.match(r"^guid'([^']*)'$", key_text)
                key = od.normalise_guid(mo.group(1)) if mo else None
            elif ktype == INT and re.match(r"^\d{1,18}$", key_text):
                key = int(key_text)
            if key is None:
                raise ExactFailure(400, "Bad Request - Error in query syntax: the key '%s' is not a "
                                   "valid %s." % (key_text, od.EDM_NAMES[ktype]))
        if method == "POST":
            if key is not None:
                raise ExactFailure(405, "POST goes to the collection, not to one entity.")
            if endpoint == "financialtransaction/BankEntries":
                return self._post_bank_entry(div, headers, body, set_uri)
            return self._post_subscription(div, headers, body, set_uri)
        if method == "DELETE":
            if key is None:
                raise ExactFailure(400, "DELETE needs the key of one entity, e.g. %s(guid'...')." % endpoint)
            if endpoint == "financialtransaction/BankEntries":
                self._delete_entry(div, key, by_api=True)
            else:
                if key not in self.subscriptions or self.subscriptions[key]["Division"] != div.code:
                    raise ExactFailure(404, "Resource not found")
                del self.subscriptions[key]
            return Response(204, b"", "text/plain")
        rows = self._rows(div, entity)
        if key is not None:
            found = [r for r in rows if r[entity.key] == key]
            if not found:
                raise ExactFailure(404, "Resource not found")
            select = od.parse_select(query.get("$select"), entity)
            return json_response({"d": self._project(div, entity, found[0], select, query, set_uri)})
        if count:
            pred = od.parse_filter(query.get("$filter", ""), entity)
            return text_response(str(sum(1 for r in rows if pred(r))))
        page, select, next_url, total = od.run_query(rows, entity, query, set_uri, set_uri)
        out = {"results": [self._project(div, entity, r, select, query, set_uri) for r in page]}
        if total is not None:
            out["__count"] = str(total)      # OData v2 sends the count as a string
        if next_url:
            out["__next"] = next_url
        return json_response({"d": out})

    def _project(self, div, entity, row, select, query, set_uri):
        expand_rows = None
        if entity.path == BANK_ENTRY.path and "BankEntryLines" in (query.get("$expand") or ""):
            expand_rows = {"BankEntryLines": self._entry_lines(div, row["EntryID"])}
        return od.project(row, entity, select, expand_rows, set_uri)

    def _entry_lines(self, div, entry_id):
        return sorted((l for l in div.lines.values() if l["EntryID"] == entry_id),
                      key=lambda l: l["LineNumber"])

    def _rows(self, div, entity):
        p = entity.path
        if p == DIVISION.path:         # the divisions this app may use
            return [d.row for d in self.divisions.values() if self._consented(d.code)]
        if p == ALL_DIVISIONS.path:    # every division on the licence
            return [d.row for d in self.divisions.values()]
        if p == JOURNAL.path:
            return list(div.journals.values())
        if p == GLACCOUNT.path:
            return list(div.gl_by_id.values())
        if p == COSTCENTER.path:
            return list(div.costcenters.values())
        if p == PERIOD.path:
            return div.periods
        if p == JOURNAL_STATUS.path:
            return list(div.status.values())
        if p == BANK_ENTRY.path:
            return list(div.entries.values())
        if p == BANK_ENTRY_LINE.path:
            return list(div.lines.values())
        if p in (TX_LINE.path, BULK_TX_LINE.path, SYNC_TX_LINE.path):
            return list(div.tx.values())
        if p == SYNC_DELETED.path:
            return div.deleted
        if p == REPORTING_BALANCE.path:
            return self.reporting_balance(div)
        if p == WEBHOOK_SUB.path:
            return [s for s in self.subscriptions.values() if s["Division"] == div.code]
        return []

    def _user_has_rights(self, query):
        ep = (query.get("endpoint") or "").strip("'")
        action = (query.get("action") or "").strip("'").upper()
        if not ep or action not in ("GET", "POST", "PUT", "DELETE"):
            raise ExactFailure(400, "UserHasRights needs endpoint='service/Entity' and action='GET'"
                               "|'POST'|'PUT'|'DELETE'.")
        allowed = ep in ENTITY_SETS and action in ALLOWED.get(ep, ("GET",))
        return json_response({"d": {"UserHasRights": allowed}})

    # ---- reporting ----------------------------------------------------------------------------
    def reporting_balance(self, div):
        """Totals of transaction lines per year, period, G/L, cost center and status."""
        groups = {}
        for t in div.tx.values():
            k = (t["FinancialYear"], t["FinancialPeriod"], t["GLAccount"], t["CostCenter"] or "",
                 t["Status"])
            g = groups.setdefault(k, [0.0, 0.0, 0.0, 0])
            g[0] += t["AmountDC"]
            if t["AmountDC"] >= 0:
                g[1] += t["AmountDC"]
            else:
                g[2] += -t["AmountDC"]
            g[3] += 1
        rows = []
        for i, (k, g) in enumerate(sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1],
                                                                         kv[0][2], kv[0][3], kv[0][4]))):
            gl = div.gl_by_id.get(k[2], {})
            rows.append({"ID": i + 1, "ReportingYear": k[0], "ReportingPeriod": k[1], "GLAccount": k[2],
                         "GLAccountCode": gl.get("Code"), "GLAccountDescription": gl.get("Description"),
                         "BalanceType": gl.get("BalanceType"), "CostCenterCode": k[3] or None,
                         "Status": k[4], "Amount": _money(g[0]), "AmountDebit": _money(g[1]),
                         "AmountCredit": _money(g[2]), "Count": g[3], "Type": 20,
                         "Division": div.code})
        return rows

    # ---- bank entries -------------------------------------------------------------------------
    def _period_of(self, div, date):
        for p in div.periods:
            if p["StartDate"] <= date <= p["EndDate"] + _dt.timedelta(hours=23, minutes=59, seconds=59):
                return p
        return None

    def _conv(self, obj, name, ftype):
        """Convert one POSTed value; raise 400 with WCF's wording when it does not fit the type."""
        value = obj.get(name)
        if value is None:
            return None
        bad = ExactFailure(400, "Error encountered in converting the value from request payload for "
                           "property '%s' to type '%s', which is the property's expected type. "
                           "See inner error for more details." % (name, od.EDM_NAMES[ftype]))
        if ftype == GUID:
            g = od.normalise_guid(value) if isinstance(value, str) else None
            if g is None:
                raise bad
            return g
        if ftype == STRING:
            if not isinstance(value, str):
                raise bad
            return value
        if ftype == INT:
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                raise bad
            try:
                v = int(value)
            except ValueError:
                raise bad
            if not -2 ** 31 <= v < 2 ** 31:
                raise bad
            return v
        if ftype == DECIMAL:
            if isinstance(value, bool):
                raise bad
            try:
                v = float(value)
            except (TypeError, ValueError):
                raise bad
            if not math.isfinite(v):
                raise bad
            return v
        if ftype == DATETIME:
            d = od.parse_datetime(value)
            if d is None:
                raise bad
            return d
        raise bad

    def _post_bank_entry(self, div, headers, body, set_uri):
        try:
            obj = json.loads(body.decode("utf-8")) if body else None
        except (ValueError, UnicodeDecodeError, RecursionError):
            obj = None
        if not isinstance(obj, dict):
            raise ExactFailure(400, "Error processing request stream. The request should be a valid "
                               "top-level resource object.")
        for name in obj:
            if name == "__metadata":
                continue
            if name not in BANK_ENTRY_POST_FIELDS and name not in BANK_ENTRY.fields:
                raise ExactFailure(400, "The property '%s' does not exist on type '%s'. Make sure to "
                                   "only use property names that are defined by the type."
                                   % (name, BANK_ENTRY.type_name))
        v = {n: self._conv(obj, n, BANK_ENTRY.fields[n]) for n in
             ("JournalCode", "FinancialYear", "FinancialPeriod", "OpeningBalanceFC", "ClosingBalanceFC",
              "Currency", "EntryNumber", "BankStatementDocument", "EntryID")}
        raw_lines = obj.get("BankEntryLines")
        if isinstance(raw_lines, dict) and isinstance(raw_lines.get("results"), list):
            raw_lines = raw_lines["results"]          # OData v2 verbose form of a nested collection
        if raw_lines is not None and not isinstance(raw_lines, list):
            raise ExactFailure(400, "Error processing request stream. BankEntryLines must be an array "
                               "of bank entry lines.")
        if raw_lines is not None and len(raw_lines) > MAX_LINES_PER_ENTRY:
            raise ExactFailure(400, "Too many lines in one bank entry (%d); the maximum is %d."
                               % (len(raw_lines), MAX_LINES_PER_ENTRY))
        lines = []
        for i, raw in enumerate(raw_lines or []):
            if not isinstance(raw, dict):
                raise ExactFailure(400, "Error processing request stream. Bank entry line %d is not an "
                                   "object." % (i + 1))
            for name in raw:
                if name != "__metadata" and name not in LINE_FIELDS:
                    raise ExactFailure(400, "The property '%s' does not exist on type '%s'. Make sure "
                                       "to only use property names that are defined by the type."
                                       % (name, BANK_ENTRY_LINE.type_name))
            lines.append({n: self._conv(raw, n, LINE_FIELDS[n]) for n in LINE_POST_FIELDS})

        # -- functional validation: Exact answers these with HTTP 500 (reference §8) --
        if not v["JournalCode"]:
            raise ExactFailure(500, "Mandatory: Journal")
        journal = div.journals.get(v["JournalCode"])
        if journal is None:
            raise ExactFailure(500, "Invalid: Journal '%s' does not exist." % v["JournalCode"])
        if journal["Type"] != BANK_JOURNAL:
            raise ExactFailure(500, "Invalid journal. The journal must be a bank journal (journal %s "
                               "has type %d)." % (journal["Code"], journal["Type"]))
        if journal["IsBlocked"]:
            raise ExactFailure(500, "Invalid journal. Journal %s is blocked." % journal["Code"])
        if not lines:
            raise ExactFailure(500, "Mandatory: BankEntryLines. A bank entry needs at least one line.")
        currency = v["Currency"] or journal["Currency"]
        if currency != journal["Currency"] and not journal["AllowVariableCurrency"]:
            raise ExactFailure(500, "Invalid: Currency. Journal %s only accepts %s, not %s."
                               % (journal["Code"], journal["Currency"], currency))
        today = self._now_dt().replace(hour=0, minute=0, second=0, microsecond=0)
        for i, ln in enumerate(lines):
            n = i + 1
            if ln["AmountFC"] is None:
                raise ExactFailure(500, "Mandatory: Amount (line %d)." % n)
            if ln["GLAccount"] is None:
                raise ExactFailure(500, "Mandatory: G/L account (line %d)." % n)
            gl = div.gl_by_id.get(ln["GLAccount"])
            if gl is None:
                raise ExactFailure(500, "Invalid: G/L account %s does not exist (line %d)."
                                   % (ln["GLAccount"], n))
            if gl["IsBlocked"]:
                raise ExactFailure(500, "Invalid: G/L account %s (%s) is blocked; it can't be used for "
                                   "new entries (line %d)." % (gl["Code"], gl["Description"], n))
            cc = ln["CostCenter"]
            if gl["UseCostcenter"] == 1 and not cc:
                raise ExactFailure(500, "Mandatory: Cost center. G/L account %s requires a cost center "
                                   "(line %d)." % (gl["Code"], n))
            if cc and cc not in div.costcenters:
                raise ExactFailure(500, "Invalid reference: Cost center '%s' (line %d)." % (cc, n))
            # Exact publishes no maximum length; the emulator picks Description 60 and Notes 100
            # (see the module docstring) so a client that relies on longer text finds out here.
            if ln["Description"] is not None and len(ln["Description"]) > self.description_max:
                raise ExactFailure(500, "Invalid: Description is %d characters long; the maximum is %d "
                                   "(line %d)." % (len(ln["Description"]), self.description_max, n))
            if ln["Notes"] is not None and len(ln["Notes"]) > self.notes_max:
                raise ExactFailure(500, "Invalid: Notes is %d characters long; the maximum is %d "
                                   "(line %d)." % (len(ln["Notes"]), self.notes_max, n))
            if ln["Date"] is None:
                ln["Date"] = today
            ln["_gl"] = gl

        year, period = v["FinancialYear"], v["FinancialPeriod"]
        if (year is None) != (period is None):
            raise ExactFailure(500, "Mandatory: FinancialYear and FinancialPeriod go together; send "
                               "both or neither.")
        if year is None:
            p = self._period_of(div, lines[0]["Date"])
            if p is None:
                raise ExactFailure(500, "The financial year cannot be changed. There is no financial "
                                   "period for date %s." % lines[0]["Date"].strftime("%Y-%m-%d"))
            year, period = p["FinYear"], p["FinPeriod"]
        target = [p for p in div.periods if p["FinYear"] == year and p["FinPeriod"] == period]
        if not target:
            raise ExactFailure(500, "The financial year cannot be changed. Financial period %d/%d does "
                               "not exist." % (year, period))
        tp = target[0]
        for i, ln in enumerate(lines):
            p = self._period_of(div, ln["Date"])
            if p is not tp:
                raise ExactFailure(500, "The financial year cannot be changed. Line %d is dated %s, which "
                                   "is not in financial period %d/%d (%s to %s)."
                                   % (i + 1, ln["Date"].strftime("%Y-%m-%d"), year, period,
                                      tp["StartDate"].strftime("%Y-%m-%d"),
                                      tp["EndDate"].strftime("%Y-%m-%d")))
        st = div.status.get((journal["Code"], year, period))
        if st is not None and st["Status"] == 1:
            raise ExactFailure(500, "The financial year cannot be changed. Period %d/%d is closed for "
                               "journal %s." % (year, period, journal["Code"]))

        total = _money(sum(ln["AmountFC"] for ln in lines))
        opening, closing = v["OpeningBalanceFC"], v["ClosingBalanceFC"]
        if self.require_balances and (opening is None or closing is None):
            raise ExactFailure(500, "Mandatory: OpeningBalanceFC and ClosingBalanceFC.")
        if opening is not None and closing is not None:
            if abs(_money(opening + total) - _money(closing)) > 0.005:
                raise ExactFailure(500, "The closing balance is not correct: opening balance %.2f plus "
                                   "the lines (%.2f) is %.2f, not %.2f." % (opening, total,
                                                                            opening + total, closing))
        elif opening is None and closing is not None:
            opening = _money(closing - total)
        else:
            opening = opening or 0.0
            closing = _money(opening + total)

        number = v["EntryNumber"]
        used = {e["EntryNumber"] for e in div.entries.values() if e["JournalCode"] == journal["Code"]}
        if number is not None and number in used:
            raise ExactFailure(500, "Invalid: Entry number %d already exists in journal %s."
                               % (number, journal["Code"]))
        if number is None:
            nkey = (journal["Code"], year)
            last = div.entry_numbers.get(nkey, (year % 100) * 1000000)
            number = last + 1
            while number in used:
                number += 1
            div.entry_numbers[nkey] = number

        # A client-supplied EntryID is not honoured: Exact assigns its own (the emulator's choice
        # for an UNCONFIRMED rule, reference §5.3), so clients must read the ID from the answer.
        entry_id = str(uuid.uuid4())
        now_dt = self._now_dt()
        rate = 1.0
        entry = {"EntryID": entry_id, "EntryNumber": number, "JournalCode": journal["Code"],
                 "JournalDescription": journal["Description"], "FinancialYear": year,
                 "FinancialPeriod": period, "Currency": currency, "OpeningBalanceFC": _money(opening),
                 "ClosingBalanceFC": _money(closing), "Status": STATUS_OPEN, "StatusDescription": "Open",
                 "BankStatementDocument": v["BankStatementDocument"], "Division": div.code,
                 "Created": now_dt, "Modified": now_dt}
        div.entries[entry_id] = entry
        bank_gl = div.gl_by_id.get(journal["GLAccount"], {})
        for i, ln in enumerate(lines):
            gl = ln.pop("_gl")
            rate = ln["ExchangeRate"] or 1.0
            row = {f: None for f in LINE_FIELDS}
            row.update({k: ln[k] for k in LINE_POST_FIELDS if k in LINE_FIELDS})
            row.update({"ID": str(uuid.uuid4()), "EntryID": entry_id, "EntryNumber": number,
                        "LineNumber": i + 1, "AmountFC": _money(ln["AmountFC"]),
                        "AmountDC": _money(ln["AmountFC"] * rate), "ExchangeRate": rate,
                        "GLAccountCode": gl["Code"], "GLAccountDescription": gl["Description"],
                        "Division": div.code, "Created": now_dt, "Modified": now_dt})
            row["OffsetID"] = str(uuid.uuid4())
            div.lines[row["ID"]] = row
            self._add_tx(div, entry, row["OffsetID"], row["LineNumber"], row["Date"], gl,
                         -row["AmountDC"], -row["AmountFC"], row["Description"], row["Notes"],
                         row["CostCenter"])
        self._add_tx(div, entry, str(uuid.uuid4()), 0, lines[0]["Date"], bank_gl,
                     _money(total * rate), total, "Bank entry %d" % number, None, None)
        self._notify(div, "Create", entry_id)

        prefer = (headers.get("Prefer") or "").lower()
        if "return=representation" in prefer:
            # Exact's answer with the created entity: {"d": {...}} including EntryID and the lines
            payload = od.project(entry, BANK_ENTRY, None,
                                 {"BankEntryLines": self._entry_lines(div, entry_id)}, set_uri)
            return json_response({"d": payload}, 201)
        return Response(201, json_dumps({"d": {"EntryID": entry_id}}).encode(), "application/json",
                        {"Location": "%s(guid'%s')" % (set_uri, entry_id)})

    def _add_tx(self, div, entry, tx_id, line_no, date, gl, amount_dc, amount_fc, desc, notes, cc):
        now_dt = self._now_dt()
        div.tx[tx_id] = {"ID": tx_id, "Timestamp": self._next_timestamp(), "EntryID": entry["EntryID"],
                         "EntryNumber": entry["EntryNumber"], "JournalCode": entry["JournalCode"],
                         "Date": date, "FinancialYear": entry["FinancialYear"],
                         "FinancialPeriod": entry["FinancialPeriod"], "GLAccount": gl.get("ID"),
                         "GLAccountCode": gl.get("Code"), "AmountDC": _money(amount_dc),
                         "AmountFC": _money(amount_fc), "Currency": entry["Currency"],
                         "Description": desc, "Notes": notes, "YourRef": None, "PaymentReference": None,
                         "ExternalLinkReference": None, "Status": entry["Status"], "Type": 40,
                         "LineNumber": line_no, "CostCenter": cc, "Division": div.code,
                         "Created": now_dt, "Modified": now_dt}

    def _delete_entry(self, div, entry_id, by_api):
        entry = div.entries.get(entry_id)
        if entry is None:
            raise ExactFailure(404, "Resource not found")
        if by_api and entry["Status"] != STATUS_OPEN:
            raise ExactFailure(500, "Entry %d is processed and can't be deleted; book a reversing entry "
                               "instead." % entry["EntryNumber"])
        del div.entries[entry_id]
        for lid in [k for k, l in div.lines.items() if l["EntryID"] == entry_id]:
            del div.lines[lid]
        for tid in [k for k, t in div.tx.items() if t["EntryID"] == entry_id]:
            del div.tx[tid]
            div.deleted.append({"Timestamp": self._next_timestamp(), "ID": str(uuid.uuid4()),
                                "EntityKey": tid, "EntityType": 1, "DeletedDate": self._now_dt(),
                                "DeletedBy": self.user["UserID"], "Division": div.code})
        self._notify(div, "Delete", entry_id)

    def process_entry(self, division, entry_id):
        """Admin: the bookkeeper processes an entry (Status 50); sends an Update notification."""
        div = self._div(division)
        entry = div.entries.get(od.normalise_guid(entry_id) or "")
        if entry is None:
            raise ExactFailure(404, "No bank entry %s in division %s." % (entry_id, division))
        entry["Status"], entry["StatusDescription"] = STATUS_PROCESSED, "Processed"
        entry["Modified"] = self._now_dt()
        for t in div.tx.values():
            if t["EntryID"] == entry["EntryID"]:
                # a changed row gets a new row version, so sync clients see the status change
                t["Status"], t["Modified"] = STATUS_PROCESSED, entry["Modified"]
                t["Timestamp"] = self._next_timestamp()
        self._notify(div, "Update", entry["EntryID"])
        return entry

    def delete_entry(self, division, entry_id):
        """Admin: the bookkeeper deletes an entry in Exact (even a processed one)."""
        self._delete_entry(self._div(division), od.normalise_guid(entry_id) or "", by_api=False)

    def _div(self, division):
        div = self.divisions.get(int(division))
        if div is None:
            raise ExactFailure(404, "No division %s in the sandbox." % division)
        return div

    # ---- admin helpers ------------------------------------------------------------------------
    def set_period_status(self, division, year, period, closed, journal=None):
        div = self._div(division)
        n = 0
        for (j, y, p), row in div.status.items():
            if y == int(year) and p == int(period) and (journal is None or j == journal):
                row["Status"] = 1 if closed else 0
                n += 1
        if n == 0:
            raise ExactFailure(404, "No financial period %s/%s in division %s." % (year, period, division))
        return n

    def set_gl_blocked(self, division, code, blocked=True):
        div = self._div(division)
        for gl in div.gl_by_id.values():
            if gl["Code"] == code:
                gl["IsBlocked"] = bool(blocked)
                return gl
        raise ExactFailure(404, "No G/L account %s in division %s." % (code, division))

    def set_limits(self, minutely=None, daily=None, enabled=None, error_budget=None):
        if minutely is not None:
            self.minutely_limit = int(minutely)
        if daily is not None:
            self.daily_limit = int(daily)
        if enabled is not None:
            self.rate_limits = bool(enabled)
        if error_budget is not None:
            self.error_budget = int(error_budget)
        return {"minutely": self.minutely_limit, "daily": self.daily_limit,
                "enabled": self.rate_limits, "error_budget": self.error_budget}

    def reset_limits(self):
        self.limits.clear()
        self.errors.clear()
        self.blocks.clear()
        self.token_calls.clear()

    def ledger(self, division=None):
        """All bank entries with their lines, per division, as plain JSON (dates ISO 8601)."""
        out = {}
        for code, div in self.divisions.items():
            if division is not None and code != int(division):
                continue
            entries = []
            for e in sorted(div.entries.values(), key=lambda e: (e["JournalCode"], e["EntryNumber"])):
                item = _plain(e)
                item["BankEntryLines"] = [_plain(l) for l in self._entry_lines(div, e["EntryID"])]
                entries.append(item)
            out[str(code)] = {"entries": entries,
                              "line_count": sum(len(e["BankEntryLines"]) for e in entries)}
        return out

    # ---- webhooks -----------------------------------------------------------------------------
    def _post_subscription(self, div, headers, body, set_uri):
        try:
            obj = json.loads(body.decode("utf-8")) if body else None
        except (ValueError, UnicodeDecodeError, RecursionError):
            obj = None
        if not isinstance(obj, dict):
            raise ExactFailure(400, "Error processing request stream. The request should be a valid "
                               "top-level resource object.")
        url, topic = obj.get("CallbackURL"), obj.get("Topic")
        if not isinstance(url, str) or not url:
            raise ExactFailure(400, "Mandatory: CallbackURL")
        if not isinstance(topic, str) or not topic:
            raise ExactFailure(400, "Mandatory: Topic")
        if topic not in WEBHOOK_TOPICS:
            raise ExactFailure(400, "Invalid: Topic '%s'." % topic)
        scheme = urlsplit(url).scheme
        if scheme not in ("http", "https") or (self.webhook_https_only and scheme != "https"):
            raise ExactFailure(400, "Invalid: CallbackURL must be an %s URL." %
                               ("https" if self.webhook_https_only else "http(s)"))
        client = self._client_of(headers)
        for s in self.subscriptions.values():
            if s["Division"] == div.code and s["Topic"] == topic and s["ClientID"] == client:
                raise ExactFailure(500, "Data already exists")
        if len(self.subscriptions) >= MAX_SUBSCRIPTIONS:
            raise ExactFailure(500, "Too many webhook subscriptions.")
        # Right after creation Exact POSTs an empty body that must get 200/201 (EMEQ).
        status = self._send_webhook(url, b"")
        self._log_delivery(url, b"", status, "validation")
        if status not in (200, 201):
            raise ExactFailure(400, "The callback URL %s did not answer the validation request with 200 "
                               "(got %s); the subscription was not created." % (url, status))
        sid = str(uuid.uuid4())
        row = {"ID": sid, "CallbackURL": url, "ClientID": client, "Topic": topic, "Division": div.code,
               "UserID": self.user["UserID"], "Description": obj.get("Description"),
               "Created": self._now_dt()}
        self.subscriptions[sid] = row
        return json_response({"d": od.project(row, WEBHOOK_SUB, None, None, set_uri)}, 201)

    def _client_of(self, headers):
        tok = (headers.get("Authorization") or "")[7:].strip()
        rec = self.access_tokens.get(tok)
        return self.chains[rec["chain"]]["client"] if rec else None

    def sign(self, content_text):
        """HashCode: uppercase hex HMAC-SHA256 of the raw Content JSON text (reference §7)."""
        return hmac.new(self.webhook_secret.encode(), content_text.encode("utf-8"),
                        hashlib.sha256).hexdigest().upper()

    def _notify(self, div, action, entry_id):
        for s in list(self.subscriptions.values()):
            if s["Division"] != div.code or s["Topic"] != "BankEntries":
                continue
            content = json_dumps({"Topic": "BankEntries", "ClientId": s["ClientID"], "Division": div.code,
                                  "Action": action, "Key": entry_id,
                                  "ExactOnlineEndpoint": "/api/v1/%d/financialtransaction/BankEntries"
                                                         "(guid'%s')" % (div.code, entry_id),
                                  "EventCreatedOn": od.date_to_json(self._now_dt())})
            body = ('{"Content":%s,"HashCode":"%s"}' % (content, self.sign(content))).encode("utf-8")
            if self.webhook_async:
                self._ensure_worker()
                self._wh_queue.put((s["CallbackURL"], body))
            else:
                self._log_delivery(s["CallbackURL"], body, self._send_webhook(s["CallbackURL"], body),
                                   action)

    def _send_webhook(self, url, body):
        try:
            return self.webhook_sender(url, body, {"Content-Type": "application/json"})
        except Exception as exc:   # a dead callback is the subscriber's problem, not ours
            return "error: %s" % exc.__class__.__name__

    def _log_delivery(self, url, body, status, kind):
        with self._wh_lock:
            self.deliveries.append({"url": url, "kind": kind, "status": status,
                                    "body": body.decode("utf-8"), "t": self.now()})
            del self.deliveries[:-MAX_DELIVERY_LOG]

    def _ensure_worker(self):
        if self._wh_thread is None or not self._wh_thread.is_alive():
            self._wh_thread = threading.Thread(target=self._worker, name="exact-webhooks", daemon=True)
            self._wh_thread.start()

    def _deliver(self, url, body, attempt, retry_heap, seq):
        status = self._send_webhook(url, body)
        self._log_delivery(url, body, status, "notification" if attempt == 0 else "retry %d" % attempt)
        if status not in (200, 201) and attempt < self.webhook_retries:
            # EMEQ: 10 retries with 2^n-minute delays (~34 h); on the emulator clock, scaled
            due = self.now() + self.span(60 * 2 ** attempt)
            heapq.heappush(retry_heap, (due, seq, url, body, attempt + 1))

    def _worker(self):
        retry_heap = []
        seq = 0
        while True:
            try:
                item = self._wh_queue.get(timeout=0.05 if retry_heap else None)
            except queue.Empty:
                item = False
            if item is None:
                self._wh_queue.task_done()
                return
            if item:
                try:
                    seq += 1
                    self._deliver(item[0], item[1], 0, retry_heap, seq)
                finally:
                    self._wh_queue.task_done()
            while retry_heap and retry_heap[0][0] <= self.now():
                _due, _s, url, body, attempt = heapq.heappop(retry_heap)
                seq += 1
                self._deliver(url, body, attempt, retry_heap, seq)

    def flush_webhooks(self):
        """Wait until every queued notification has been delivered (or failed)."""
        self._wh_queue.join()

    def stop(self):
        if self._wh_thread is not None and self._wh_thread.is_alive():
            self._wh_queue.put(None)
            self._wh_thread.join(timeout=5)


def _urllib_sender(url, body, headers):
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code


def _plain(row):
    return {k: (v.strftime("%Y-%m-%dT%H:%M:%S") if isinstance(v, _dt.datetime) else v)
            for k, v in row.items()}


# ---- HTTP ----------------------------------------------------------------------------------------

class _ExactApp(EmuApp):
    """EmuApp with Exact-shaped bodies for 404s, bad JSON, injected faults and emulator bugs."""

    def fault_body(self, status, req):
        if req.path.startswith("/api/oauth2/"):
            return {"error": "temporarily_unavailable", "error_description": "Injected fault %d." % status}
        return exact_error("Injected fault: HTTP %d." % status)

    def bad_json_body(self, req):
        return exact_error("Error processing request stream. The request should be a valid top-level "
                           "resource object.")

    def not_found_body(self, req):
        return exact_error("The endpoint %s %s does not exist in the Exact Online sandbox."
                           % (req.method, req.path))

    def internal_error_body(self, req, exc):
        return exact_error("Emulator bug (%s); please report it." % exc.__class__.__name__)


class ExactEmulator:
    """The Exact Online sandbox server: ExactCore behind an emu_http EmuApp."""

    def __init__(self, seed, admin_token=None, verbose=False, clock=None, **options):
        period_opts = {k: options.pop(k) for k in ("base_year", "fiscal_year_start_month", "years")
                       if k in options}
        if period_opts:
            # periods are reference data: rebuild them in a copy of the seed
            seed = exact_seed.with_periods(copy.deepcopy(seed), **period_opts)
        known = set(inspect.signature(ExactCore.__init__).parameters) - {"self", "seed", "clock"}
        unknown = sorted(set(options) - known)
        if unknown:
            known |= {"base_year", "fiscal_year_start_month", "years"}
            raise ValueError("unknown Exact emulator option(s): %s; known: %s" % (
                ", ".join("--" + u.replace("_", "-") for u in unknown),
                ", ".join("--" + k.replace("_", "-") for k in sorted(known))))
        self.app = _ExactApp("exact", admin_token=admin_token, verbose=verbose)
        self.core = ExactCore(seed, clock or self.app.clock.now, **options)
        # what the launcher prints and writes to its port file
        self.client_id = options.get("client_id", CLIENT_ID)
        self.client_secret = options.get("client_secret", CLIENT_SECRET)
        self.redirect_uri = (options.get("redirect_uris") or [None])[0]
        self.webhook_secret = self.core.webhook_secret
        self.admin_token = admin_token
        self._install_routes()
        self._install_admin()

    @property
    def port(self):
        return self.app.port

    def serve(self, host="127.0.0.1", port=0):
        """Start serving from a background thread; returns the bound port."""
        return self.app.start(host, port)

    def shutdown(self):
        self.app.shutdown()
        self.core.stop()

    @property
    def url(self):
        return self.app.url

    def _api(self, req):
        return self.core.handle(req.method, req.path, req.query, req.headers, req.body,
                                req.headers.get("Host"))

    def _install_routes(self):
        app = self.app
        app.add_route("GET", "/api/oauth2/auth", lambda req: self.core.oauth_authorize(req.query))
        app.add_route("POST", "/api/oauth2/token", lambda req: self.core.oauth_token(req.headers, req.body))
        app.add_route("GET", "/api/v1/current/Me", self._api)
        paths = list(ENTITY_SETS) + list(FUNCTIONS)
        for path in paths:
            for method in ("GET", "POST", "PUT", "DELETE"):
                base = "/api/v1/{division}/" + path
                app.add_route(method, base, self._api)
                app.add_route(method, base + "({key})", self._api)
                if method == "GET":
                    app.add_route(method, base + "/$count", self._api)

    def _install_admin(self):
        app, core = self.app, self.core

        def body(req):
            return req.json() if req.body else {}

        def guard(fn):
            def wrapped(req):
                try:
                    return fn(req)
                except ExactFailure as f:
                    raise HttpError(f.status, {"error": f.message})
                except (KeyError, TypeError, ValueError) as exc:
                    raise HttpError(400, {"error": "bad admin request: %s" % exc})
            return wrapped

        def ledger(req):
            return core.ledger(req.query.get("division"))

        def calls(req):
            return {"counts": dict(core.calls)}

        def period(req):
            b = body(req)
            closed = {"closed": True, "open": False}[b.get("status", "closed")]
            n = core.set_period_status(b["division"], b["year"], b["period"], closed, b.get("journal"))
            return {"ok": True, "changed": n}

        def glaccount(req):
            b = body(req)
            return _plain(core.set_gl_blocked(b["division"], b["code"], b.get("blocked", True)))

        def revoke(req):
            return {"ok": True, "revoked_chains": core.revoke_consent(body(req).get("client_id"))}

        def limits(req):
            b = body(req)
            return core.set_limits(b.get("minutely"), b.get("daily"), b.get("enabled"), b.get("error_budget"))

        def reset_limits(req):
            core.reset_limits()
            return {"ok": True}

        def expire(req):
            core.expire_access_tokens()
            return {"ok": True}

        def process(req):
            b = body(req)
            return _plain(core.process_entry(b["division"], b["entry_id"]))

        def delete(req):
            b = body(req)
            core.delete_entry(b["division"], b["entry_id"])
            return {"ok": True}

        def webhooks(req):
            core.flush_webhooks()
            with core._wh_lock:
                deliveries = list(core.deliveries)
            return {"subscriptions": [_plain(s) for s in core.subscriptions.values()],
                    "deliveries": deliveries}

        def tokens(req):
            return {"chains": [{"client": c["client"], "revoked": c["revoked"],
                                "access_issued": c["access_issued"]} for c in core.chains.values()]}

        for method, name, fn in (("GET", "exact/ledger", ledger), ("GET", "exact/calls", calls),
                                 ("POST", "exact/period", period), ("POST", "exact/glaccount", glaccount),
                                 ("POST", "exact/revoke", revoke), ("POST", "exact/limits", limits),
                                 ("POST", "exact/reset_limits", reset_limits),
                                 ("POST", "exact/expire_access_tokens", expire),
                                 ("POST", "exact/entry/process", process),
                                 ("POST", "exact/entry/delete", delete),
                                 ("GET", "exact/webhooks", webhooks), ("GET", "exact/tokens", tokens)):
            app.admin(method, name)(guard(fn))


def main(argv=None):
    """Run the Exact emulator alone: python3 exact_emulator.py --port 8081 --time-scale 0.01"""
    import argparse
    import time
    from exact_seed import default_seed
    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--time-scale", type=float, default=1.0)
    ap.add_argument("--webhook-secret", default=WEBHOOK_SECRET)
    ap.add_argument("--no-rate-limits", action="store_true")
    args = ap.parse_args(argv)
    emu = ExactEmulator(default_seed([{"iban": "NL91ABNA0417164300", "account_number": "0417164300",
                                       "currency": "EUR", "name": "Checking",
                                       "plaid_account_id": "sandbox-1"}]),
                        time_scale=args.time_scale, webhook_secret=args.webhook_secret,
                        rate_limits=not args.no_rate_limits)
    port = emu.serve(args.host, args.port)
    print("exact emulator on http://%s:%d (client_id %s)" % (args.host, port, CLIENT_ID), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        emu.shutdown()


if __name__ == "__main__":
    main()
