"""pytest fixtures for the sandbox emulators.

Every server here is started on a free loopback port (port 0) and stopped through its own object
(in-process servers) or its own PID (the launcher subprocess) -- never by process name, so runs in
parallel and other engineers' processes are never touched.
"""

import datetime
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SANDBOX_DIR = os.path.dirname(HERE)
REPO_ROOT = os.path.dirname(os.path.dirname(SANDBOX_DIR))
sys.path.insert(0, SANDBOX_DIR)

from emu_http import EmuApp  # noqa: E402
from plaid_emulator import PlaidEmulator  # noqa: E402

# Fixed "today" so dates in assertions do not depend on the day the suite runs.
TODAY = datetime.date(2026, 6, 15)


def http(method, url, body=None, headers=None, timeout=10):
    """(status, parsed JSON or raw bytes, headers). Never raises on HTTP error statuses."""
    data = None
    hdrs = dict(headers or {})
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw, status, rh = r.read(), r.status, r.headers
    except urllib.error.HTTPError as e:
        raw, status, rh = e.read(), e.code, e.headers
    try:
        return status, json.loads(raw), rh
    except ValueError:
        return status, raw, rh


class PlaidClient:
    """Minimal Plaid client for tests; records every (path, request, status, response)."""

    def __init__(self, emu):
        self.emu = emu
        self.url = emu.url
        self.exchanges = []

    def post(self, path, body=None, creds="body", **kw):
        body = dict(body or {})
        headers = {"Plaid-Version": "2020-09-14"}
        if creds == "body":
            body.setdefault("client_id", self.emu.client_id)
            body.setdefault("secret", self.emu.secret)
        elif creds == "headers":
            headers.update({"PLAID-CLIENT-ID": self.emu.client_id, "PLAID-SECRET": self.emu.secret})
        status, out, _ = http("POST", self.url + path, body, headers, **kw)
        self.exchanges.append((path, body, status, out))
        return status, out

    def ok(self, path, body=None):
        status, out = self.post(path, body)
        assert status == 200, (path, out)
        return out

    def link(self, institution_id="ins_109508", webhook=None, dynamic=False):
        """Sandbox shortcut: public token -> exchange. Returns (access_token, item_id)."""
        opts = {}
        if webhook:
            opts["webhook"] = webhook
        if dynamic:
            opts["override_username"] = "user_transactions_dynamic"
        pt = self.ok("/sandbox/public_token/create", {"institution_id": institution_id,
                                                       "initial_products": ["transactions"],
                                                       "options": opts})["public_token"]
        ex = self.ok("/item/public_token/exchange", {"public_token": pt})
        return ex["access_token"], ex["item_id"]

    def sync_all(self, access_token, cursor=None, count=100, max_pages=10_000):
        """Page until has_more is false. Returns (added, modified, removed, next_cursor, pages)."""
        added, modified, removed, pages = [], [], [], 0
        while True:
            body = {"access_token": access_token, "count": count}
            if cursor is not None:
                body["cursor"] = cursor
            out = self.ok("/transactions/sync", body)
            pages += 1
            added += out["added"]
            modified += out["modified"]
            removed += out["removed"]
            cursor = out["next_cursor"]
            if not out["has_more"] or pages >= max_pages:
                return added, modified, removed, cursor, pages


def make_plaid(**kw):
    opts = {"seed": 7, "months": 3, "today": TODAY, "webhook_retry_base_s": 0.05}
    opts.update(kw)
    emu = PlaidEmulator(**opts)
    emu.start("127.0.0.1", 0)
    return emu


@pytest.fixture
def plaid():
    emu = make_plaid()
    yield emu
    emu.shutdown()


@pytest.fixture
def client(plaid):
    return PlaidClient(plaid)


class WebhookReceiver:
    """Collects webhook POSTs with their exact bytes; answers `status` (default 200)."""

    def __init__(self):
        self.app = EmuApp("webhook-receiver")
        self.received = []
        self.status = 200
        self.cv = threading.Condition()

        @self.app.route("POST", "/hook")
        def hook(req):
            with self.cv:
                self.received.append({"headers": {k.lower(): v for k, v in req.headers.items()},
                                      "body": req.body})
                self.cv.notify_all()
            from emu_http import Response
            return Response(self.status, b"{}")

        self.app.start("127.0.0.1", 0)
        self.url = self.app.url + "/hook"

    def wait_for(self, n, timeout=5.0):
        end = time.monotonic() + timeout
        with self.cv:
            while len(self.received) < n:
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError("expected %d webhooks, got %d" % (n, len(self.received)))
                self.cv.wait(left)
        return self.received

    def payloads(self):
        return [json.loads(r["body"]) for r in self.received]


@pytest.fixture
def webhook_receiver():
    r = WebhookReceiver()
    yield r
    r.app.shutdown()


@pytest.fixture
def sandbox():
    """Both emulators in this process (Exact only once exact_emulator.py exists)."""
    from sandbox import Sandbox
    sb = Sandbox(seed=7, months=3, today=TODAY).start()
    yield sb
    sb.shutdown()


@pytest.fixture
def sandbox_process(tmp_path):
    """The launcher as a real subprocess; stopped by its PID with SIGTERM."""
    port_file = tmp_path / "ports.json"
    proc = subprocess.Popen([sys.executable, os.path.join(SANDBOX_DIR, "sandbox.py"), "--seed", "42",
                             "--months", "2", "--port-file", str(port_file)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        end = time.monotonic() + 30
        while not port_file.exists():
            if proc.poll() is not None or time.monotonic() > end:
                raise AssertionError("sandbox did not start: %s" % proc.stderr.read())
            time.sleep(0.05)
        info = json.loads(port_file.read_text())
        yield proc, info, port_file
    finally:
        if proc.poll() is None:
            proc.terminate()   # SIGTERM to this PID only
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        proc.stdout.close()
        proc.stderr.close()
