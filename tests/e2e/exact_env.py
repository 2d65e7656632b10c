"""Shared set-up for the Exact client end-to-end tests: an in-process Exact emulator on a free
loopback port and an initialised agent (config, secrets) pointed at it. Stops the emulator through
its own object, never by process name."""
import json
import os
import sys
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools", "sandbox"))

from exact_emulator import CLIENT_ID, CLIENT_SECRET, ExactEmulator  # noqa: E402
from exact_seed import default_seed  # noqa: E402

REDIRECT = "https://agent.example.invalid/exact-redirect"   # not this agent: --code flow
DIV = 100001
ACCOUNTS = [{"iban": "NL91ABNA0417164300", "account_number": "0417164300", "currency": "EUR",
             "name": "Checking", "plaid_account_id": "acc-1"}]


def http(method, url, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            raw, status, hdrs = r.read(), r.status, r.headers
    except urllib.error.HTTPError as e:
        raw, status, hdrs = e.read(), e.code, e.headers
    try:
        return status, json.loads(raw), hdrs
    except ValueError:
        return status, raw, hdrs


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **kw):
        return None


class ExactEnv:
    """The emulator plus an agent configured for it. clock_offset: seconds the agent's clock runs
    ahead (MLC_TEST_CLOCK_OFFSET), kept equal to the emulator's clock offset by advance()."""

    def __init__(self, mlc, divisions=(DIV,), **emu_opts):
        self.mlc = mlc
        emu_opts.setdefault("webhook_async", False)
        self.emu = ExactEmulator(default_seed(ACCOUNTS), **emu_opts)
        self.port = self.emu.serve("127.0.0.1", 0)
        self.url = "http://127.0.0.1:%d" % self.port
        self.offset = 0.0
        self.divisions = list(divisions)
        # our own config first: init keeps an existing config and creates key and store
        self.write_config()
        r = mlc("init")
        assert r.returncode == 0, r.stderr
        for name, value in (("exact.client_id", CLIENT_ID), ("exact.client_secret", CLIENT_SECRET)):
            r = mlc("secret", "set", name, stdin=value + "\n")
            assert r.returncode == 0, r.stderr

    def write_config(self, divisions=None, extra="", redirect=None):
        if divisions is not None:
            self.divisions = list(divisions)
        if redirect is not None:
            self.redirect = redirect
        text = ("[agent]\ndata_dir = %s\n\n[exact]\nbase_url = %s\nredirect_uri = %s\n"
                % (self.mlc.data, self.url, getattr(self, "redirect", REDIRECT)))
        if self.divisions:
            text += "divisions = %s\n" % ", ".join(str(d) for d in self.divisions)
        text += extra
        self.mlc.config.write_text(text)

    def run(self, *args, env=None, **kw):
        e = {"MLC_TEST_CLOCK_OFFSET": str(self.offset)}
        e.update(env or {})
        return self.mlc(*args, env=e, **kw)

    def advance(self, seconds):
        """Moves both clocks (emulator and agent) forward without sleeping."""
        self.offset += seconds
        self.admin("POST", "/__admin/clock", {"advance": seconds})

    def admin(self, method, path, body=None):
        status, out, _ = http(method, self.url + path, body)
        assert status == 200, (path, status, out)
        return out

    def calls(self):
        return self.admin("GET", "/__admin/exact/calls")["counts"]

    def token_calls(self):
        return self.admin("GET", "/__admin/calls")["counts"].get("POST /api/oauth2/token", 0)

    def chains(self):
        return self.admin("GET", "/__admin/exact/tokens")["chains"]

    def consent_redirect(self, auth_url):
        """What the browser does: open the auth URL, the emulator consents and redirects."""
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            opener.open(auth_url.replace("https://", "http://"), timeout=10)
        except urllib.error.HTTPError as e:
            assert e.code == 302, e.read()
            return e.headers["Location"]
        raise AssertionError("no redirect from the authorization URL")

    def connect(self, *extra):
        r = self.run("exact", "connect")
        assert r.returncode == 0, r.stderr
        auth = [w for w in r.stdout.split() if "/api/oauth2/auth?" in w][0]
        location = self.consent_redirect(auth)
        r = self.run("exact", "connect", "--code", location, *extra)
        assert r.returncode == 0, r.stderr + r.stdout
        return r

    def close(self):
        self.emu.shutdown()
