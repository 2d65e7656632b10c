"""Plaid API emulator for ml-connector's sandbox and end-to-end tests.

Owns: Plaid's request rules (credentials, error objects, rate limits), items and tokens, the
/transactions/sync cursor protocol, Link stand-ins (/link, /link-initialize.js) and signed webhooks.
The bank data itself comes from world.World; HTTP plumbing, faults and /__admin/ from emu_http.

Facts follow /work/shared/reference/plaid.md (section numbers in comments). Simplifications, on
purpose: an account keeps the same account_id in every Item that links it; only per-Item rate
limits are enforced (no per-client ones); `removed` entries count towards `count`.

Run alone:  /usr/bin/python3 tools/sandbox/plaid_emulator.py --seed 42 --port 0
"""

import argparse
import base64
import datetime as _dt
import hashlib
import hmac
import json
import queue
import random
import signal
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from html import escape as _html_escape

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from emu_http import EmuApp, HttpError, Response, json_dumps, json_response, text_response
from world import World, CONSENT_DAYS

API_VERSION = "2020-09-14"
DEFAULT_CLIENT_ID = "mlc-sandbox-client"
DEFAULT_SECRET = "mlc-sandbox-secret"

# Sandbox per-Item limits per minute (plaid.md 7, D-rl) and their error codes.
RATE_LIMITS = {
    "/transactions/sync": (50, "TRANSACTIONS_SYNC_LIMIT"),
    "/accounts/get": (100, "ACCOUNTS_LIMIT"),
    "/accounts/balance/get": (25, "BALANCE_LIMIT"),
    "/auth/get": (100, "AUTH_LIMIT"),
    "/item/get": (40, "ITEM_GET_LIMIT"),
    "/item/remove": (100, "RATE_LIMIT"),
    "/sandbox/transactions/create": (2, "RATE_LIMIT"),
}

LINK_TOKEN_TTL_S = 4 * 3600          # new Item (plaid.md 2.1)
LINK_TOKEN_UPDATE_TTL_S = 30 * 60    # update mode
PUBLIC_TOKEN_TTL_S = 30 * 60         # plaid.md 2.3
PAGE_MAX = 500                       # /transactions/sync count bounds (plaid.md 3.1)
PAGE_DEFAULT = 100

FIRABLE_CODES = {   # /sandbox/item/fire_webhook (plaid.md 6); PENDING_EXPIRATION is not firable there
    "SYNC_UPDATES_AVAILABLE": "TRANSACTIONS", "DEFAULT_UPDATE": "TRANSACTIONS",
    "NEW_ACCOUNTS_AVAILABLE": "ITEM", "PENDING_DISCONNECT": "ITEM", "LOGIN_REPAIRED": "ITEM",
    "USER_PERMISSION_REVOKED": "ITEM", "ERROR": "ITEM",
}

COUNTRY_DEFAULT_INSTITUTION = {"US": "ins_109508", "NL": "ins_120001", "GB": "ins_120002", "DE": "ins_120003"}

LOGIN_REQUIRED_MSG = ("the login details of this item have changed (credentials, MFA, or required user "
                      "action) and a user login is required to update this information. use Link's "
                      "update mode to restore the item to a good state")


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def iso(ts):
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def plaid_error(error_type, code, message, display=None, status=None, request_id=None, reason=None):
    err = {"error_type": error_type, "error_code": code, "error_code_reason": reason,
           "error_message": message, "display_message": display, "causes": [],
           "documentation_url": "https://plaid.com/docs/errors/", "suggested_action": None}
    if request_id is not None:
        err["request_id"] = request_id
    if status is not None:
        err["status"] = status
    return err


class PlaidApiError(HttpError):
    def __init__(self, status, error_type, code, message, display=None, reason=None):
        super().__init__(status, None)
        self.error_type, self.code, self.message, self.display, self.reason = error_type, code, message, display, reason


class Item:
    def __init__(self, item_id, institution_id, account_idxs, webhook, created_at, consent_exp, dynamic):
        self.item_id = item_id
        self.institution_id = institution_id
        self.account_idxs = account_idxs
        self.webhook = webhook
        self.created_at = created_at
        self.consent_expiration = consent_exp     # unix seconds or None
        self.error = None                          # PlaidError dict (without request_id) or None
        self.sync_activated = False
        self.dynamic = dynamic                     # user_transactions_dynamic: /sandbox/transactions/create
        self.removed = False
        self.pending_expiration_sent = False
        self.last_webhook = None                   # (sent_at, code)
        self.not_ready_left = 0


class WebhookSigner:
    """ES256 JWT exactly as Plaid sends it (plaid.md 5.1); keys rotate via rotate()."""

    def __init__(self, clock):
        self.clock = clock
        self.keys = {}       # kid -> (private key, created_at, expired_at)
        self.current = None
        self.rotate()

    def rotate(self):
        now = int(self.clock.now())
        if self.current is not None:
            priv, created, _ = self.keys[self.current]
            self.keys[self.current] = (priv, created, now)
        kid = "%032x" % random.SystemRandom().getrandbits(128)
        kid = "%s-%s-%s-%s-%s" % (kid[:8], kid[8:12], kid[12:16], kid[16:20], kid[20:])
        self.keys[kid] = (ec.generate_private_key(ec.SECP256R1()), now, None)
        self.current = kid
        return kid

    def jwk(self, kid):
        entry = self.keys.get(kid)
        if entry is None:
            return None
        priv, created, expired = entry
        nums = priv.public_key().public_numbers()
        return {"alg": "ES256", "crv": "P-256", "kid": kid, "kty": "EC", "use": "sig",
                "x": b64url(nums.x.to_bytes(32, "big")), "y": b64url(nums.y.to_bytes(32, "big")),
                "created_at": created, "expired_at": expired}

    def sign(self, body_bytes, iat=None):
        header = {"alg": "ES256", "kid": self.current, "typ": "JWT"}
        payload = {"iat": int(self.clock.now()) if iat is None else int(iat),
                   "request_body_sha256": hashlib.sha256(body_bytes).hexdigest()}
        signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                         b64url(json.dumps(payload, separators=(",", ":")).encode()))
        der = self.keys[self.current][0].sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return signing_input + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


class WebhookSender:
    """Background delivery: POST the exact body bytes; retry with x4 backoff (plaid.md 5.2)."""

    def __init__(self, signer, timeout_s=10.0, retry_base_s=30.0, max_attempts=6):
        self.signer = signer
        self.timeout_s = timeout_s
        self.retry_base_s = retry_base_s
        self.max_attempts = max_attempts
        self.q = queue.Queue(maxsize=10_000)
        self.deliveries = deque(maxlen=1000)   # what was sent, for /__admin/webhooks and tests
        self.lock = threading.Lock()
        self.cv = threading.Condition(self.lock)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="plaid-webhooks", daemon=True)
        self._thread.start()

    def send(self, url, payload):
        body = json.dumps(payload, indent=2).encode("utf-8")   # Plaid indents by 2; the hash is over these bytes
        rec = {"url": url, "body": body.decode("utf-8"), "payload": payload, "attempts": 0,
               "status": None, "error": None, "jwt": None, "done": False}
        with self.lock:
            self.deliveries.append(rec)
        try:
            self.q.put_nowait((time.monotonic(), rec, body))
        except queue.Full:
            rec["error"] = "webhook queue full"
            rec["done"] = True
        return rec

    def _run(self):
        retry = []
        while not self._stop.is_set():
            now = time.monotonic()
            due = [r for r in retry if r[0] <= now]
            retry = [r for r in retry if r[0] > now]
            if not due:
                try:
                    got = self.q.get(timeout=0.05 if retry else 1.0)
                except queue.Empty:
                    continue
                if got is None:      # stop() wakes us with None
                    break
                due = [got]
            for when, rec, body in due:
                if when > time.monotonic():
                    retry.append((when, rec, body))
                    continue
                ok = self._deliver(rec, body)
                if not ok and rec["attempts"] < self.max_attempts and not self._stop.is_set():
                    delay = self.retry_base_s * (4 ** (rec["attempts"] - 1))
                    retry.append((time.monotonic() + delay, rec, body))
                else:
                    with self.cv:
                        rec["done"] = True
                        self.cv.notify_all()

    def _deliver(self, rec, body):
        jwt = self.signer.sign(body)
        req = urllib.request.Request(rec["url"], data=body, method="POST",
                                     headers={"Content-Type": "application/json", "Plaid-Verification": jwt})
        rec["attempts"] += 1
        rec["jwt"] = jwt
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                rec["status"] = resp.status
                return resp.status == 200
        except urllib.error.HTTPError as e:
            rec["status"] = e.code
            return False
        except Exception as e:   # connection refused, timeout: the receiver is down, retry later
            rec["error"] = str(e)
            return False
        finally:
            with self.cv:
                self.cv.notify_all()

    def wait(self, n, timeout=5.0):
        """Test helper: wait until at least n deliveries finished (all attempts done)."""
        end = time.monotonic() + timeout
        with self.cv:
            while sum(1 for r in self.deliveries if r["done"]) < n:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self.cv.wait(left)
        return True

    def stop(self):
        self._stop.set()
        try:
            self.q.put_nowait(None)
        except queue.Full:
            pass
        self._thread.join(timeout=5)


class PlaidEmulator:
    def __init__(self, seed=42, months=24, txn_count=None, today=None, client_id=DEFAULT_CLIENT_ID,
                 secret=DEFAULT_SECRET, rate_window_s=60.0, rate_limits=None, webhook_retry_base_s=30.0,
                 webhook_timeout_s=10.0, not_ready_syncs=0, admin_token=None, verbose=False, world=None):
        self.world = world or World(seed, months, txn_count, today)
        self.client_id = client_id
        self.secret = secret
        self.rate_window_s = float(rate_window_s)
        self.rate_limits = dict(RATE_LIMITS)
        if rate_limits:
            self.rate_limits.update(rate_limits)
        self.not_ready_syncs = int(not_ready_syncs)
        self.app = EmuApp("plaid", admin_token=admin_token, verbose=verbose)
        self.app.fault_body = self._fault_body
        self.app.bad_json_body = lambda req: self._err_body(req, "INVALID_REQUEST", "INVALID_BODY",
                                                            "body could not be parsed as JSON")
        self.app.not_found_body = lambda req: self._err_body(req, "INVALID_REQUEST", "NOT_FOUND",
                                                             "not found: %s %s" % (req.method, req.path))
        self.app.internal_error_body = lambda req, exc: self._err_body(req, "API_ERROR", "INTERNAL_SERVER_ERROR",
                                                                       "an unexpected error occurred")
        self.clock = self.app.clock
        self.rng = random.Random("plaid:%d" % self.world.seed)   # ids and tokens: reproducible per seed
        self.secret_key = hashlib.sha256(b"cursor:%d" % self.world.seed).digest()
        self.signer = WebhookSigner(self.clock)
        self.webhooks = WebhookSender(self.signer, webhook_timeout_s, webhook_retry_base_s)
        self.items = {}
        self.access_tokens = {}    # token -> item_id
        self.public_tokens = {}    # token -> (item_id, expires)
        self.link_tokens = {}      # token -> dict
        self.rate = {}             # (item_id, path) -> deque of call times
        self._snap_cache = {}
        self._install_routes()

    # ---- lifecycle -----------------------------------------------------------------------------
    def start(self, host="127.0.0.1", port=0):
        return self.app.start(host, port)

    serve = start

    @property
    def url(self):
        return self.app.url

    def shutdown(self):
        self.app.shutdown()
        self.webhooks.stop()

    # ---- helpers -------------------------------------------------------------------------------
    def _rid(self):
        return "".join(random.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") for _ in range(15))

    def _err_body(self, req, error_type, code, message, display=None, reason=None):
        return plaid_error(error_type, code, message, display, request_id=self._rid(), reason=reason)

    def _fault_body(self, status, req):
        if status == 429:
            code = self.rate_limits.get(req.path, (0, "RATE_LIMIT"))[1]
            return self._err_body(req, "RATE_LIMIT_EXCEEDED", code,
                                  "rate limit exceeded for attempts to access this item. please try again later")
        if status == 503:
            return self._err_body(req, "API_ERROR", "PLANNED_MAINTENANCE",
                                  "the Plaid API is temporarily unavailable due to planned maintenance")
        return self._err_body(req, "API_ERROR", "INTERNAL_SERVER_ERROR", "an unexpected error occurred")

    def _token(self, prefix):
        h = "%032x" % self.rng.getrandbits(128)
        return "%s-sandbox-%s-%s-%s-%s-%s" % (prefix, h[:8], h[8:12], h[12:16], h[16:20], h[20:])

    def _item_id(self):
        return "".join(self.rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
                       for _ in range(37))

    def api(self, path, needs_item=True, rate_limited=True, item_error_ok=False):
        """Register a Plaid endpoint: POST, credentials, JSON body, request_id, Plaid errors."""
        def deco(fn):
            def handler(req):
                rid = self._rid()
                try:
                    body = req.json()
                    self._check_credentials(req, body)
                    item = None
                    if needs_item:
                        item = self._item_for(body)
                        if rate_limited:
                            self._rate_check(item, path)
                        if item.error is not None and not item_error_ok:
                            e = item.error
                            raise PlaidApiError(400, e["error_type"], e["error_code"], e["error_message"],
                                                e["display_message"], e.get("error_code_reason"))
                    out = fn(req, body, item)
                except PlaidApiError as e:
                    return json_response(plaid_error(e.error_type, e.code, e.message, e.display,
                                                     request_id=rid, reason=e.reason), e.status, indent=2)
                except HttpError as e:
                    if isinstance(e.body, dict) and "request_id" in e.body:
                        e.body["request_id"] = rid
                    raise
                out["request_id"] = rid
                return json_response(out, indent=2)
            self.app.add_route("POST", path, handler)
            return fn
        return deco

    def _check_credentials(self, req, body):
        cid = body.get("client_id") or req.headers.get("PLAID-CLIENT-ID")
        sec = body.get("secret") or req.headers.get("PLAID-SECRET")
        missing = [n for n, v in (("client_id", cid), ("secret", sec)) if not v]
        if missing:
            raise PlaidApiError(400, "INVALID_REQUEST", "MISSING_FIELDS",
                                "the following required fields are missing: %s" % ", ".join(missing))
        ok = hmac.compare_digest(str(cid).encode(), self.client_id.encode()) & \
            hmac.compare_digest(str(sec).encode(), self.secret.encode())
        if not ok:
            raise PlaidApiError(400, "INVALID_INPUT", "INVALID_API_KEYS",
                                "invalid client_id or secret provided")
        ver = req.headers.get("Plaid-Version")
        if ver is not None and ver != API_VERSION:
            raise PlaidApiError(400, "INVALID_REQUEST", "INVALID_HEADERS",
                                "Plaid-Version header must be %s" % API_VERSION)

    def _require(self, body, *fields):
        missing = [f for f in fields if body.get(f) in (None, "")]
        if missing:
            raise PlaidApiError(400, "INVALID_REQUEST", "MISSING_FIELDS",
                                "the following required fields are missing: %s" % ", ".join(missing))

    def _item_for(self, body):
        self._require(body, "access_token")
        tok = body["access_token"]
        if not isinstance(tok, str) or not tok.startswith("access-"):
            raise PlaidApiError(400, "INVALID_INPUT", "INVALID_ACCESS_TOKEN",
                                "provided access token is in an invalid format. expected format: access-<environment>-<identifier>")
        item_id = self.access_tokens.get(tok)
        item = self.items.get(item_id) if item_id else None
        if item is None or item.removed:
            raise PlaidApiError(400, "INVALID_INPUT", "INVALID_ACCESS_TOKEN",
                                "could not find matching access token. the access token may have been rotated or the item removed")
        self._check_consent(item)
        return item

    def _rate_check(self, item, path):
        limit = self.rate_limits.get(path)
        if limit is None:
            return
        n, code = limit
        now = self.clock.now()
        dq = self.rate.setdefault((item.item_id, path), deque())
        while dq and dq[0] <= now - self.rate_window_s:
            dq.popleft()
        if len(dq) >= n:
            raise PlaidApiError(429, "RATE_LIMIT_EXCEEDED", code,
                                "rate limit exceeded for attempts to access this item. please try again later")
        dq.append(now)

    def _check_consent(self, item):
        """UK/EU consent: PENDING_EXPIRATION a week before, ITEM_LOGIN_REQUIRED after (plaid.md 2.5)."""
        if item.consent_expiration is None or item.removed:
            return
        now = self.clock.now()
        if not item.pending_expiration_sent and now >= item.consent_expiration - 7 * 86400 and now < item.consent_expiration:
            item.pending_expiration_sent = True
            self.fire(item, "ITEM", "PENDING_EXPIRATION",
                      {"consent_expiration_time": iso(item.consent_expiration)})
        if now >= item.consent_expiration and item.error is None:
            self._set_login_required(item, reason="OAUTH_CONSENT_EXPIRED")

    def _set_login_required(self, item, reason=None):
        item.error = plaid_error("ITEM_ERROR", "ITEM_LOGIN_REQUIRED", LOGIN_REQUIRED_MSG,
                                 "Your bank needs you to log in again before we can continue.", reason=reason)
        err = dict(item.error)
        err["status"] = 400
        self.fire(item, "ITEM", "ERROR", {"error": err})

    def fire(self, item, wtype, code, extra=None):
        """Queue a signed webhook to the item's URL (if it has one). Returns the delivery record."""
        payload = {"webhook_type": wtype, "webhook_code": code, "item_id": item.item_id}
        if extra:
            payload.update(extra)
        payload["environment"] = "sandbox"
        item.last_webhook = (self.clock.now(), code)
        if not item.webhook:
            return None
        return self.webhooks.send(item.webhook, payload)

    def _sync_updates(self, item):
        if item.sync_activated:   # fires only after a first /transactions/sync (plaid.md 5.3)
            self.fire(item, "TRANSACTIONS", "SYNC_UPDATES_AVAILABLE",
                      {"initial_update_complete": True, "historical_update_complete": True})

    def create_item(self, institution_id, webhook=None, dynamic=False):
        ins = self.world.institution(institution_id)
        if ins is None:
            raise PlaidApiError(400, "INVALID_INPUT", "INVALID_INSTITUTION",
                                "invalid institution_id provided; the sandbox knows: %s" %
                                ", ".join(i[0] for i in self._institutions()))
        now = self.clock.now()
        days = CONSENT_DAYS.get(ins[2])
        item = Item(self._item_id(), institution_id, [a.idx for a in self.world.accounts_of(institution_id)],
                    webhook, now, now + days * 86400 if days else None, dynamic)
        item.not_ready_left = self.not_ready_syncs
        self.items[item.item_id] = item
        return item

    def _institutions(self):
        from world import INSTITUTIONS
        return INSTITUTIONS

    def _public_token(self, item):
        pt = self._token("public")
        self.public_tokens[pt] = (item.item_id, self.clock.now() + PUBLIC_TOKEN_TTL_S)
        return pt

    def _access_token(self, item):
        at = self._token("access")
        self.access_tokens[at] = item.item_id
        return at

    # ---- rendering -----------------------------------------------------------------------------
    def render_account(self, a):
        av, cur, lim = self.world.balances(a)
        return {"account_id": a.account_id,
                "balances": {"available": av / 100.0, "current": cur / 100.0,
                             "limit": None if lim is None else lim / 100.0,
                             "iso_currency_code": a.currency, "unofficial_currency_code": None},
                "holder_category": "business", "mask": a.mask, "name": a.name,
                "official_name": a.official_name, "subtype": a.subtype, "type": a.type}

    def render_txn(self, t):
        w = self.world
        a = w.accounts[t.acct]
        tmpl = w.template(t)
        channel = tmpl[3]
        date = _dt.date.fromordinal(t.date).isoformat()
        return {
            "account_id": a.account_id, "account_owner": None, "amount": t.amount / 100.0,
            "authorized_date": _dt.date.fromordinal(t.auth_date).isoformat(), "authorized_datetime": None,
            "category": None, "category_id": None, "check_number": None, "counterparties": [],
            "date": date, "datetime": None, "iso_currency_code": a.currency,
            "location": {"address": None, "city": None, "country": None, "lat": None, "lon": None,
                         "postal_code": None, "region": None, "store_number": None},
            "logo_url": None, "merchant_entity_id": None, "merchant_name": tmpl[1], "name": w.describe(t),
            "original_description": None,
            "payment_channel": channel,
            "payment_meta": {"by_order_of": None, "payee": None, "payer": None, "payment_method": None,
                             "payment_processor": None, "ppd_id": None, "reason": None,
                             "reference_number": None},
            "pending": t.pending, "pending_transaction_id": t.pending_txn_id,
            "personal_finance_category": {"primary": tmpl[5][0], "detailed": tmpl[5][1],
                                          "confidence_level": "HIGH"},
            "transaction_code": tmpl[4] if a.country != "US" else None,
            "transaction_id": t.txn_id,
            "transaction_type": {"online": "digital", "in store": "place"}.get(channel, "special"),
            "unofficial_currency_code": None, "website": None,
        }

    def render_item(self, item):
        ins = self.world.institution(item.institution_id)
        return {"item_id": item.item_id, "institution_id": item.institution_id, "institution_name": ins[1],
                "webhook": item.webhook or None, "auth_method": "INSTANT_AUTH", "error": item.error,
                "available_products": ["balance"], "billed_products": ["auth", "transactions"],
                "products": ["auth", "transactions"], "consented_products": ["auth", "transactions"],
                "consent_expiration_time": iso(item.consent_expiration) if item.consent_expiration else None,
                "update_type": "background", "created_at": iso(item.created_at)}

    def _accounts(self, item, body):
        ids = (body.get("options") or {}).get("account_ids")
        accts = [self.world.accounts[i] for i in item.account_idxs]
        if ids is not None:
            accts = [a for a in accts if a.account_id in ids]
        return [self.render_account(a) for a in accts]

    # ---- cursors (plaid.md 3.3) ------------------------------------------------------------------
    # A cursor names the Item, the account filter, the log position delivered so far (`pos`), the
    # log head when this update's pagination started (`snap`) and, while the first full download is
    # still paging, the offset into that snapshot. Signed so a client cannot forge one.
    def _cursor(self, item_id, filt, mode, pos, snap, off):
        raw = ("%s|%s|%s|%d|%d|%d" % (item_id, filt, mode, pos, snap, off)).encode()
        sig = hmac.new(self.secret_key, raw, hashlib.sha256).digest()[:9]
        return b64url(raw + b"|" + sig)

    def _parse_cursor(self, item, filt, cursor):
        bad = PlaidApiError(400, "INVALID_REQUEST", "INVALID_FIELD", "cursor not associated with access_token")
        try:
            data = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            raw, sig = data[:-10], data[-9:]
            if data[-10:-9] != b"|" or not hmac.compare_digest(
                    sig, hmac.new(self.secret_key, raw, hashlib.sha256).digest()[:9]):
                raise bad
            item_id, cfilt, mode, pos, snap, off = raw.decode().split("|")
            pos, snap, off = int(pos), int(snap), int(off)
        except (ValueError, UnicodeDecodeError):
            raise bad
        if item_id != item.item_id:
            raise bad
        if cfilt != filt:
            raise PlaidApiError(400, "INVALID_REQUEST", "INVALID_FIELD",
                                "cursor was issued for a different options.account_id; start again with no cursor")
        return mode, pos, snap, off

    def _mutated_since(self, accts, snap):
        for seq, kind, tid, acct in self.world.log[snap:]:
            if acct in accts:
                return True
        return False

    def sync(self, item, body):
        w = self.world
        count = body.get("count", PAGE_DEFAULT)
        if not isinstance(count, int) or isinstance(count, bool) or count < 1 or count > PAGE_MAX:
            raise PlaidApiError(400, "INVALID_REQUEST", "INVALID_FIELD",
                                "count must be an integer between 1 and %d" % PAGE_MAX)
        if "options" in body and body["options"] is None:
            raise PlaidApiError(400, "INVALID_REQUEST", "INVALID_FIELD", "options must not be null")
        opts = body.get("options") or {}
        accts = set(item.account_idxs)
        filt = "*"
        if opts.get("account_id"):
            match = [i for i in item.account_idxs if w.accounts[i].account_id == opts["account_id"]]
            if not match:
                raise PlaidApiError(400, "INVALID_INPUT", "INVALID_ACCOUNT_ID",
                                    "options.account_id is not an account of this item")
            accts = set(match)
            filt = str(match[0])
        item.sync_activated = True
        accounts = [self.render_account(w.accounts[i]) for i in sorted(accts)]
        cursor = body.get("cursor")
        if item.not_ready_left > 0:
            # The historical pull is still running: empty page and an empty cursor (plaid.md 3.2).
            item.not_ready_left -= 1
            if item.not_ready_left == 0:
                self._sync_updates(item)
            return {"accounts": accounts, "added": [], "modified": [], "removed": [], "next_cursor": "",
                    "has_more": False, "transactions_update_status": "NOT_READY"}
        done = {"accounts": accounts, "transactions_update_status": "HISTORICAL_UPDATE_COMPLETE"}
        if cursor == "now":
            done.update(added=[], modified=[], removed=[], has_more=False,
                        next_cursor=self._cursor(item.item_id, filt, "d", w.head, w.head, 0))
            return done
        if cursor in (None, ""):
            mode, pos, snap, off = "i", 0, w.head, 0
        else:
            mode, pos, snap, off = self._parse_cursor(item, filt, cursor)
            if mode == "d" and pos >= snap:
                snap = w.head                   # a finished cursor: this call starts a new update
            elif self._mutated_since(accts, snap):
                raise PlaidApiError(400, "TRANSACTIONS_ERROR", "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION",
                                    "Underlying transaction data changed since last page was fetched. "
                                    "Please restart pagination from last update.")
        if mode == "i":
            key = (item.item_id, filt, snap)
            live = self._snap_cache.get(key)
            if live is None:
                live = [t.txn_id for t in w.live_txns(accts)]
                if len(self._snap_cache) > 16:
                    self._snap_cache.clear()
                self._snap_cache[key] = live
            page = live[off:off + count]
            more = off + count < len(live)
            done.update(added=[self.render_txn(w.txns[i]) for i in page], modified=[], removed=[], has_more=more,
                        next_cursor=self._cursor(item.item_id, filt, "i", 0, snap, off + count) if more
                        else self._cursor(item.item_id, filt, "d", snap, snap, 0))
            return done
        # Delta: walk the change log from pos to snap, netting changes to the same transaction.
        changes = {}   # txn_id -> "add" | "modify" | "remove" (insertion order = change order)
        last = pos
        for seq, kind, tid, acct in w.log[pos:snap]:
            if acct not in accts:
                last = seq
                continue
            prev = changes.get(tid)
            if prev is None and len(changes) >= count:
                break
            last = seq
            if prev is None:
                changes[tid] = kind
            elif kind == "remove":
                if prev == "add":
                    del changes[tid]     # appeared and went within one page: the client never sees it
                else:
                    changes.pop(tid)
                    changes[tid] = "remove"
            elif prev == "modify":
                changes.pop(tid)
                changes[tid] = "modify"
        added = [self.render_txn(w.txns[t]) for t, k in changes.items() if k == "add"]
        modified = [self.render_txn(w.txns[t]) for t, k in changes.items() if k == "modify"]
        removed = [{"transaction_id": t, "account_id": w.accounts[w.txns[t].acct].account_id}
                   for t, k in changes.items() if k == "remove"]
        more = last < snap and any(e[3] in accts for e in w.log[last:snap])
        if not more:
            last = snap
        done.update(added=added, modified=modified, removed=removed, has_more=more,
                    next_cursor=self._cursor(item.item_id, filt, "d", last, snap, 0))
        return done

    # ---- world moves -----------------------------------------------------------------------------
    def advance_days(self, n, move_clock=False):
        """Move the bank world n days on; fire SYNC_UPDATES_AVAILABLE where it changed.

        The emulator clock stays put unless move_clock: webhook `iat` and token lifetimes follow
        that clock, and an agent under test checks `iat` against its own (real) clock."""
        with self.app.lock:
            changed = self.world.advance_days(n)
            if move_clock:
                self.clock.advance(int(n) * 86400)
            touched = []
            for item in self.items.values():
                if item.removed:
                    continue
                self._check_consent(item)
                if changed & set(item.account_idxs):
                    touched.append(item.item_id)
                    self._sync_updates(item)
            return {"today": self.world.today.isoformat(), "log_head": self.world.head, "items_changed": touched}

    # ---- routes ----------------------------------------------------------------------------------
    def _install_routes(self):
        api = self.api

        @api("/link/token/create", needs_item=False)
        def link_token_create(req, body, _):
            self._require(body, "client_name", "language", "country_codes")
            user = body.get("user") or {}
            if not user.get("client_user_id") and not body.get("user_id"):
                raise PlaidApiError(400, "INVALID_REQUEST", "MISSING_FIELDS",
                                    "the following required fields are missing: user.client_user_id")
            update_item = None
            if body.get("access_token"):
                update_item = self._item_for(body)
            elif not body.get("products"):
                raise PlaidApiError(400, "INVALID_REQUEST", "MISSING_FIELDS",
                                    "the following required fields are missing: products")
            days = ((body.get("transactions") or {}).get("days_requested"))
            if days is not None and (not isinstance(days, int) or days < 1 or days > 730):
                raise PlaidApiError(400, "INVALID_REQUEST", "INVALID_FIELD",
                                    "transactions.days_requested must be between 1 and 730")
            ttl = LINK_TOKEN_UPDATE_TTL_S if update_item else LINK_TOKEN_TTL_S
            tok = self._token("link")
            exp = self.clock.now() + ttl
            ins = None
            for cc in body.get("country_codes") or []:
                ins = ins or COUNTRY_DEFAULT_INSTITUTION.get(cc)
            self.link_tokens[tok] = {"expires": exp, "webhook": body.get("webhook"),
                                     "redirect_uri": body.get("redirect_uri"),
                                     "update_item": update_item.item_id if update_item else None,
                                     "institution_id": ins or "ins_109508", "client_name": body["client_name"]}
            return {"link_token": tok, "expiration": iso(exp)}

        @api("/item/public_token/exchange", needs_item=False)
        def exchange(req, body, _):
            self._require(body, "public_token")
            ent = self.public_tokens.pop(body["public_token"], None)
            if ent is None or ent[1] < self.clock.now():
                raise PlaidApiError(400, "INVALID_INPUT", "INVALID_PUBLIC_TOKEN",
                                    "provided public token is expired or was already exchanged. public tokens live 30 minutes and can be exchanged once")
            item = self.items[ent[0]]
            existing = [t for t, i in self.access_tokens.items() if i == item.item_id]
            at = existing[0] if existing else self._access_token(item)
            return {"access_token": at, "item_id": item.item_id}

        @api("/item/get", item_error_ok=True)
        def item_get(req, body, item):
            lw = item.last_webhook
            return {"item": self.render_item(item),
                    "status": {"transactions": {"last_successful_update": iso(self.clock.now()),
                                                "last_failed_update": None},
                               "last_webhook": {"sent_at": iso(lw[0]), "code_sent": lw[1]} if lw else None}}

        @api("/item/remove", item_error_ok=True)
        def item_remove(req, body, item):
            item.removed = True
            for t in [t for t, i in self.access_tokens.items() if i == item.item_id]:
                del self.access_tokens[t]
            return {}

        @api("/accounts/get")
        def accounts_get(req, body, item):
            return {"accounts": self._accounts(item, body), "item": self.render_item(item)}

        @api("/accounts/balance/get")
        def balance_get(req, body, item):
            return {"accounts": self._accounts(item, body), "item": self.render_item(item)}

        @api("/auth/get")
        def auth_get(req, body, item):
            numbers = {"ach": [], "bacs": [], "eft": [], "international": []}
            accts = []
            for i in item.account_idxs:
                a = self.world.accounts[i]
                if a.type != "depository":
                    continue
                accts.append(self.render_account(a))
                if a.routing:
                    numbers["ach"].append({"account_id": a.account_id, "account": a.account_number,
                                           "routing": a.routing, "wire_routing": a.wire_routing,
                                           "is_tokenized_account_number": False,
                                           "can_transfer_in": True, "can_transfer_out": True})
                if a.sort_code:
                    numbers["bacs"].append({"account_id": a.account_id, "account": a.account_number,
                                            "sort_code": a.sort_code})
                if a.iban:
                    numbers["international"].append({"account_id": a.account_id, "iban": a.iban, "bic": a.bic})
            return {"accounts": accts, "numbers": numbers, "item": self.render_item(item)}

        @api("/transactions/sync")
        def transactions_sync(req, body, item):
            return self.sync(item, body)

        @api("/webhook_verification_key/get", needs_item=False)
        def wh_key(req, body, _):
            self._require(body, "key_id")
            jwk = self.signer.jwk(body["key_id"])
            if jwk is None:
                raise PlaidApiError(400, "INVALID_INPUT", "INVALID_WEBHOOK_VERIFICATION_KEY_ID",
                                    "invalid key_id provided; take the kid from the Plaid-Verification JWT header")
            return {"key": jwk}

        @api("/item/access_token/invalidate", item_error_ok=True)
        def invalidate(req, body, item):
            del self.access_tokens[body["access_token"]]
            return {"new_access_token": self._access_token(item)}

        @api("/sandbox/public_token/create", needs_item=False)
        def sandbox_public_token(req, body, _):
            self._require(body, "institution_id", "initial_products")
            opts = body.get("options") or {}
            dynamic = opts.get("override_username") == "user_transactions_dynamic"
            item = self.create_item(body["institution_id"], opts.get("webhook"), dynamic)
            return {"public_token": self._public_token(item)}

        @api("/sandbox/item/fire_webhook", item_error_ok=True, rate_limited=False)
        def sandbox_fire(req, body, item):
            self._require(body, "webhook_code")
            code = body["webhook_code"]
            wtype = FIRABLE_CODES.get(code)
            if wtype is None or (body.get("webhook_type") and body["webhook_type"] != wtype):
                raise PlaidApiError(400, "INVALID_INPUT", "INVALID_FIELD",
                                    "webhook_code %s cannot be fired for webhook_type %s" % (code, body.get("webhook_type") or wtype))
            self.fire_code(item, code)
            return {"webhook_fired": True}

        @api("/sandbox/item/reset_login", item_error_ok=True, rate_limited=False)
        def sandbox_reset_login(req, body, item):
            self._set_login_required(item)
            return {"reset_login": True}

        @api("/sandbox/transactions/create")
        def sandbox_txn_create(req, body, item):
            self._require(body, "transactions")
            txns = body["transactions"]
            if not item.dynamic:
                raise PlaidApiError(400, "INVALID_REQUEST", "INVALID_FIELD",
                                    "only Items created with override_username user_transactions_dynamic accept custom transactions")
            if not isinstance(txns, list) or not 1 <= len(txns) <= 10:
                raise PlaidApiError(400, "INVALID_REQUEST", "INVALID_FIELD", "transactions must hold 1 to 10 entries")
            today = self.world.today
            for t in txns:
                try:
                    posted = _dt.date.fromisoformat(t["date_posted"])
                    _dt.date.fromisoformat(t["date_transacted"])
                    float(t["amount"])
                    str(t["description"])
                except (KeyError, TypeError, ValueError):
                    raise PlaidApiError(400, "INVALID_REQUEST", "INVALID_FIELD",
                                        "each transaction needs date_transacted, date_posted (YYYY-MM-DD), amount and description")
                if posted > today or (today - posted).days > 14:
                    raise PlaidApiError(400, "INVALID_REQUEST", "INVALID_FIELD",
                                        "date_posted must be today or up to 14 days back")
            dep = [i for i in item.account_idxs if self.world.accounts[i].type == "depository"]
            self.world.add_custom(dep[0], txns)
            self._sync_updates(item)
            return {}

        # -- Link stand-ins (plaid.md 2.2) --
        @self.app.route("GET", "/link")
        def link_page(req):
            return self._link_page(req)

        @self.app.route("GET", "/link-initialize.js")
        def link_js(req):
            return Response(200, LINK_JS, "application/javascript; charset=utf-8",
                            {"Access-Control-Allow-Origin": "*", "Cache-Control": "no-store"})

        @self.app.route("OPTIONS", "/link")
        def link_preflight(req):
            return Response(204, b"", "text/plain", {"Access-Control-Allow-Origin": "*",
                                                     "Access-Control-Allow-Methods": "GET"})

        # -- admin --
        adm = self.app.admin

        @adm("POST", "advance_days")
        def _advance(req):
            body = req.json()
            n = body.get("days", 1)
            if not isinstance(n, int) or isinstance(n, bool) or n < 0 or n > 3660:
                raise HttpError(400, {"error": "days must be an integer 0..3660"})
            return self.advance_days(n, bool(body.get("move_clock")))

        @adm("GET", "truth")
        def _truth(req):
            t = self.world.truth(include_txns=req.query.get("txns", "1") != "0")
            t["items"] = self._items_dump()
            return t

        @adm("GET", "items")
        def _items(req):
            return {"items": self._items_dump()}

        @adm("POST", "link")
        def _link(req):
            body = req.json()
            try:
                item = self.create_item(body.get("institution_id", "ins_109508"), body.get("webhook"),
                                        bool(body.get("dynamic")))
            except PlaidApiError as e:
                raise HttpError(400, {"error": e.message})
            return {"item_id": item.item_id, "access_token": self._access_token(item),
                    "public_token": self._public_token(item)}

        @adm("POST", "fire_webhook")
        def _fire(req):
            body = req.json()
            item = self._admin_item(body)
            self.fire_code(item, body.get("webhook_code", "SYNC_UPDATES_AVAILABLE"))
            return {"ok": True}

        @adm("POST", "item")
        def _item(req):
            body = req.json()
            item = self._admin_item(body)
            if "error" in body:
                if body["error"] is None:
                    item.error = None
                else:
                    self._set_login_required(item)
            if "consent_expiration_time" in body:
                v = body["consent_expiration_time"]
                item.consent_expiration = None if v is None else float(v)
                item.pending_expiration_sent = False
                self._check_consent(item)
            if "webhook" in body:
                item.webhook = body["webhook"]
            return {"item": self.render_item(item)}

        @adm("POST", "rotate_webhook_key")
        def _rotate(req):
            return {"kid": self.signer.rotate()}

        @adm("GET", "webhooks")
        def _webhooks(req):
            with self.webhooks.lock:
                return {"deliveries": [{k: v for k, v in r.items() if k != "payload"}
                                       for r in self.webhooks.deliveries]}

        @adm("POST", "rate_window")
        def _rate_window(req):
            self.rate_window_s = float(req.json().get("seconds", 60))
            self.rate.clear()
            return {"seconds": self.rate_window_s}

    def fire_code(self, item, code):
        if code == "SYNC_UPDATES_AVAILABLE":
            self.fire(item, "TRANSACTIONS", code, {"initial_update_complete": True, "historical_update_complete": True})
        elif code == "DEFAULT_UPDATE":
            self.fire(item, "TRANSACTIONS", code, {"new_transactions": 0, "error": None})
        elif code == "ERROR":
            self._set_login_required(item)
        elif code == "LOGIN_REPAIRED":
            item.error = None
            self.fire(item, "ITEM", code)
        elif code == "PENDING_DISCONNECT":
            self.fire(item, "ITEM", code, {"reason": "INSTITUTION_TOKEN_EXPIRATION",
                                           "disconnect_time": iso(self.clock.now() + 7 * 86400)})
        elif code == "PENDING_EXPIRATION":
            exp = item.consent_expiration or self.clock.now() + 7 * 86400
            self.fire(item, "ITEM", code, {"consent_expiration_time": iso(exp)})
        elif code == "USER_PERMISSION_REVOKED":
            item.error = plaid_error("ITEM_ERROR", "USER_PERMISSION_REVOKED",
                                     "the user has revoked access to this item",
                                     "The user revoked access to this account.")
            err = dict(item.error)
            err["status"] = 400
            self.fire(item, "ITEM", code, {"error": err})
        elif code == "NEW_ACCOUNTS_AVAILABLE":
            self.fire(item, "ITEM", code, {"error": None})
        else:
            raise HttpError(400, {"error": "unknown webhook_code %s" % code})

    def _admin_item(self, body):
        item = self.items.get(body.get("item_id")) or self.items.get(self.access_tokens.get(body.get("access_token")))
        if item is None:
            raise HttpError(404, {"error": "no such item; pass item_id or access_token"})
        return item

    def _items_dump(self):
        out = []
        for it in self.items.values():
            out.append({"item_id": it.item_id, "institution_id": it.institution_id,
                        "access_tokens": [t for t, i in self.access_tokens.items() if i == it.item_id],
                        "webhook": it.webhook, "error": it.error["error_code"] if it.error else None,
                        "removed": it.removed, "sync_activated": it.sync_activated,
                        "consent_expiration_time": iso(it.consent_expiration) if it.consent_expiration else None,
                        "account_ids": [self.world.accounts[i].account_id for i in it.account_idxs]})
        return out

    def _link_page(self, req):
        """Plays Link: auto-consents, creates the Item and hands the public token back."""
        tok = req.query.get("token", "")
        ent = self.link_tokens.get(tok)
        fmt = req.query.get("format", "html")
        cors = {"Access-Control-Allow-Origin": "*"}
        if ent is None or ent["expires"] < self.clock.now():
            err = plaid_error("INVALID_INPUT", "INVALID_LINK_TOKEN",
                              "link token is unknown or expired; create a new one with /link/token/create",
                              request_id=self._rid())
            if fmt == "json":
                return json_response(err, 400, cors)
            return text_response("Link failed: %s\n" % err["error_message"], 400, "text/plain; charset=utf-8")
        if ent["update_item"]:
            item = self.items[ent["update_item"]]
            item.error = None    # update mode repaired the login and renewed consent (plaid.md 2.4)
            days = CONSENT_DAYS.get(self.world.institution(item.institution_id)[2])
            if days:
                item.consent_expiration = self.clock.now() + days * 86400
                item.pending_expiration_sent = False
        else:
            ins_id = req.query.get("institution_id") or ent["institution_id"]
            try:
                item = self.create_item(ins_id, ent["webhook"])
            except PlaidApiError as e:
                return json_response({"error": e.message}, 400, cors)
        pt = self._public_token(item)
        ins = self.world.institution(item.institution_id)
        meta = {"institution": {"name": ins[1], "institution_id": ins[0]},
                "accounts": [{"id": self.world.accounts[i].account_id, "name": self.world.accounts[i].name,
                              "mask": self.world.accounts[i].mask, "type": self.world.accounts[i].type,
                              "subtype": self.world.accounts[i].subtype, "verification_status": None,
                              "class_type": None} for i in item.account_idxs],
                "link_session_id": self._token("session")[len("session-sandbox-"):]}
        redirect = req.query.get("redirect_uri")
        if fmt == "json":
            return json_response({"public_token": pt, "metadata": meta}, 200, cors)
        if redirect:
            sep = "&" if "?" in redirect else "?"
            return Response(302, b"", "text/plain", {"Location": "%s%spublic_token=%s" % (redirect, sep, pt)})
        page = LINK_HTML.replace("__PT__", _html_escape(pt)).replace("__META__", json_dumps(meta).replace("</", "<\\/"))
        return text_response(page, 200, "text/html; charset=utf-8")


LINK_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>Plaid Link (sandbox stand-in)</title></head>
<body>
<p>Sandbox bank login: consent given automatically.</p>
<p>public_token: <code id="pt">__PT__</code></p>
<script>
(function () {
  var msg = {type: "mlc-plaid-link", public_token: document.getElementById("pt").textContent,
             metadata: __META__};
  if (window.opener) { window.opener.postMessage(msg, "*"); window.close(); }
  else if (window.parent && window.parent !== window) { window.parent.postMessage(msg, "*"); }
})();
</script>
</body></html>
"""

LINK_JS = """/* Stand-in for https://cdn.plaid.com/link/v2/stable/link-initialize.js (sandbox emulator).
   Plaid.create({token, onSuccess, onExit, onEvent, onLoad}).open() "consents" at once and calls
   onSuccess(public_token, metadata), as Plaid's widget does after the user logs in. */
(function () {
  var script = document.currentScript;
  var origin = script ? new URL(script.src).origin : window.location.origin;
  function create(config) {
    var done = false;
    if (config.onLoad) { setTimeout(config.onLoad, 0); }
    function ev(name, meta) { if (config.onEvent) { config.onEvent(name, meta || {}); } }
    return {
      open: function () {
        ev("OPEN", {});
        fetch(origin + "/link?format=json&token=" + encodeURIComponent(config.token))
          .then(function (r) { return r.json().then(function (b) { return {ok: r.ok, body: b}; }); })
          .then(function (res) {
            if (done) { return; }
            done = true;
            if (res.ok) {
              ev("HANDOFF", {});
              config.onSuccess(res.body.public_token, res.body.metadata);
            } else if (config.onExit) {
              config.onExit(res.body, {status: "requires_credentials"});
            }
          })
          .catch(function (e) {
            if (config.onExit) { config.onExit({error_type: "API_ERROR", error_code: "INTERNAL_SERVER_ERROR",
                                                error_message: String(e), display_message: null}, {}); }
          });
      },
      exit: function () { if (!done && config.onExit) { done = true; config.onExit(null, {}); } },
      destroy: function () { done = true; }
    };
  }
  window.Plaid = {create: create};
})();
"""


def main(argv=None):
    ap = argparse.ArgumentParser(description="Plaid API emulator (sandbox)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--months", type=int, default=24)
    ap.add_argument("--txns", type=int, default=None)
    args = ap.parse_args(argv)
    emu = PlaidEmulator(seed=args.seed, months=args.months, txn_count=args.txns)
    emu.start(args.host, args.port)
    print("plaid=%s client_id=%s secret=%s" % (emu.url, emu.client_id, emu.secret), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    stop.wait()
    emu.shutdown()


if __name__ == "__main__":
    main()
