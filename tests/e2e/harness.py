"""End-to-end harness: the sandbox launcher as a subprocess, HTTP helpers, an Exact OAuth client,
and the real mlc binary configured against the emulators.

Owns: starting tools/sandbox/sandbox.py on free loopback ports (--port-file, admin token), waiting
for it, stopping it by its own PID (never by process name: other engineers run sandboxes too), its
log for failure output, and writing an mlc config + vault that point at it. It does not own the
emulators (tools/sandbox/) or the checks (ledger_check.py). Standard library only, so the demo
script and the fixtures in conftest.py can both use it.
"""

import json
import os
import pathlib
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal

ROOT = pathlib.Path(__file__).resolve().parents[2]
SANDBOX_DIR = ROOT / "tools" / "sandbox"
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

START_TIMEOUT_S = 30.0     # a 24-month world with 100k transactions takes a few seconds to build
STOP_TIMEOUT_S = 10.0
LOG_TAIL_BYTES = 8000

# Names the vault knows (mlc secret set --help) -> key in the sandbox port file.
VAULT_SECRETS = (
    ("plaid.client_id", "plaid_client_id"),
    ("plaid.secret", "plaid_secret"),
    ("exact.client_id", "exact_client_id"),
    ("exact.client_secret", "exact_client_secret"),
    ("exact.webhook_secret", "exact_webhook_secret"),
)


class HarnessError(Exception):
    """The harness could not do its job (sandbox did not start, an admin call failed)."""


def free_port(host="127.0.0.1"):
    """A port free right now (for addresses the agent binds itself, e.g. its status page)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _die_with_parent():
    """In the child before exec: SIGTERM when the process that started us dies (Linux
    PR_SET_PDEATHSIG), so a killed test run leaves no sandbox behind. Elsewhere a no-op."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)   # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def http(method, url, body=None, headers=None, form=None, timeout=15):
    """(status, body, headers); body is JSON (floats as Decimal) when it parses, else bytes.
    Never raises on an HTTP status and never follows redirects (OAuth tests read Location)."""
    hdrs = dict(headers or {})
    data = None
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded")
    elif body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body, default=_json_default).encode()
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with _OPENER.open(req, timeout=timeout) as r:
            raw, status, rh = r.read(), r.status, r.headers
    except urllib.error.HTTPError as e:
        raw, status, rh = e.read(), e.code, e.headers
    try:
        return status, json.loads(raw, parse_float=Decimal), rh
    except ValueError:
        return status, raw, rh


def _json_default(o):
    if isinstance(o, Decimal):
        # JSON has only numbers; the float of a 2-decimal Decimal prints back as the same text
        return float(o)
    raise TypeError("not JSON serialisable: %r" % (o,))


# ---- the sandbox process ---------------------------------------------------------------------------

class SandboxProcess:
    """tools/sandbox/sandbox.py in its own process. start() waits for the port file; stop() signals
    that PID only. Options: seed, months, txns; exact_opts {"time_scale": 0.01, "minutely_limit": 5}
    become --time-scale 0.01 ...; plaid_opts {"rate_window_s": 1} become --plaid-rate-window-s 1."""

    def __init__(self, workdir, seed=42, months=3, txns=None, admin_token=None, exact_opts=None,
                 plaid_opts=None, no_exact=False):
        self.workdir = pathlib.Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port_file = self.workdir / "sandbox-ports.json"
        self.log_path = self.workdir / "sandbox.log"
        self.admin_token = admin_token or secrets.token_hex(16)
        self.argv = [PYTHON, str(SANDBOX_DIR / "sandbox.py"), "--seed", str(int(seed)),
                     "--months", str(int(months)), "--port-file", str(self.port_file),
                     "--admin-token", self.admin_token]
        if txns is not None:
            self.argv += ["--txns", str(int(txns))]
        if no_exact:
            self.argv.append("--no-exact")
        for prefix, opts in (("--", exact_opts), ("--plaid-", plaid_opts)):
            for key, value in (opts or {}).items():
                self.argv += [prefix + key.replace("_", "-"), json.dumps(value)]
        self.no_exact = no_exact
        self.proc = None
        self.info = None

    # -- lifecycle --
    def start(self, timeout=START_TIMEOUT_S):
        if self.port_file.exists():
            self.port_file.unlink()
        log = open(self.log_path, "wb")
        try:
            # own session: a Ctrl-C in the terminal reaches pytest, which then stops us by PID;
            # and if pytest itself is killed (a CI timeout), the kernel sends us SIGTERM
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, cwd=str(self.workdir),
                                         start_new_session=True, preexec_fn=_die_with_parent)
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.port_file.exists():
                try:
                    self.info = json.loads(self.port_file.read_text())
                    break
                except ValueError:
                    pass            # written by rename, so this is not expected; read again
            if self.proc.poll() is not None:
                raise HarnessError("the sandbox exited with status %s before listening; its log:\n%s"
                                   % (self.proc.returncode, self.log_tail()))
            time.sleep(0.05)
        else:
            self.stop()
            raise HarnessError("the sandbox did not write %s within %.0f s; its log:\n%s"
                               % (self.port_file, timeout, self.log_tail()))
        if self.info.get("pid") != self.proc.pid:
            self.stop()
            raise HarnessError("the port file names pid %s, not the sandbox we started (%d)"
                               % (self.info.get("pid"), self.proc.pid))
        if not self.no_exact and not self.info.get("exact"):
            err = self.info.get("exact_error", "unknown reason")
            self.stop()
            raise HarnessError("the sandbox started without the Exact emulator: %s" % err)
        return self

    def stop(self, timeout=STOP_TIMEOUT_S):
        """SIGTERM to our PID, then SIGKILL if it does not go. Safe to call twice."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        try:
            os.kill(self.proc.pid, signal.SIGTERM)
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(timeout=timeout)
        except ProcessLookupError:
            return self.proc.wait(timeout=timeout)

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, limit=LOG_TAIL_BYTES):
        try:
            data = self.log_path.read_bytes()
        except OSError:
            return "(no log)"
        if len(data) > limit:
            data = b"...\n" + data[-limit:]
        return data.decode("utf-8", "replace")

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- facts --
    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    @property
    def plaid_url(self):
        return self.info["plaid"]

    @property
    def exact_url(self):
        return self.info["exact"]

    @property
    def bank_accounts(self):
        return self.info["bank_accounts"]

    def account_map(self):
        """{plaid_account_id: {"division", "journal", "gl_account_code"}}: the journal the Exact
        emulator made for each Plaid account (same function the launcher used, same answer)."""
        sys.path.insert(0, str(SANDBOX_DIR))
        try:
            import exact_seed
        finally:
            sys.path.remove(str(SANDBOX_DIR))
        return exact_seed.default_seed(self.bank_accounts)["account_map"]

    def mapping(self, accounts=None, cost_center=None):
        """A ledger_check mapping for the given Plaid account ids (default: all)."""
        amap = self.account_map()
        ids = list(amap) if accounts is None else list(accounts)
        return {"accounts": {a: {"division": amap[a]["division"], "journal": amap[a]["journal"],
                                 "cost_center": cost_center} for a in ids}}

    # -- admin API --
    def admin(self, side, method, path, body=None):
        """JSON answer of an admin call; side is "plaid" or "exact"; path below /__admin/."""
        base = self.plaid_url if side == "plaid" else self.exact_url
        status, out, _ = http(method, "%s/__admin/%s" % (base, path.lstrip("/")), body,
                              {"X-Admin-Token": self.admin_token})
        if status != 200:
            raise HarnessError("%s admin %s %s answered %d: %r" % (side, method, path, status, out))
        return out

    def truth(self):
        return self.admin("plaid", "GET", "truth")

    def ledger(self, division=None):
        return self.admin("exact", "GET", "exact/ledger" + ("?division=%d" % division if division else ""))

    def calls(self, side):
        return self.admin(side, "GET", "calls")

    def fault(self, side, rule):
        return self.admin(side, "POST", "fault", rule)

    def clear_faults(self, side):
        return self.admin(side, "POST", "faults/clear", {})

    def advance_days(self, days, move_clock=False):
        return self.admin("plaid", "POST", "advance_days", {"days": days, "move_clock": move_clock})


# ---- Exact Online, as a client would talk to it ------------------------------------------------------

class ExactClient:
    """Just enough of an Exact client for tests: the authorization-code flow against the emulator's
    auto-consent page, GETs with the bearer token, and bank entry POSTs."""

    def __init__(self, base_url, client_id, client_secret, redirect_uri="http://127.0.0.1/exact/callback"):
        self.base = base_url.rstrip("/")
        self.client_id, self.client_secret, self.redirect_uri = client_id, client_secret, redirect_uri
        self.access_token = None
        self.refresh_token = None

    @classmethod
    def for_sandbox(cls, sb):
        return cls(sb.exact_url, sb.info["exact_client_id"], sb.info["exact_client_secret"],
                   sb.info.get("exact_redirect_uri") or "http://127.0.0.1/exact/callback")

    def connect(self):
        state = secrets.token_hex(8)
        q = urllib.parse.urlencode({"client_id": self.client_id, "redirect_uri": self.redirect_uri,
                                    "response_type": "code", "state": state})
        status, out, headers = http("GET", "%s/api/oauth2/auth?%s" % (self.base, q))
        if status != 302:
            raise HarnessError("Exact consent answered %d, not a redirect: %r" % (status, out))
        back = urllib.parse.parse_qs(urllib.parse.urlsplit(headers["Location"]).query)
        if back.get("state") != [state]:
            raise HarnessError("Exact consent redirect lost the state parameter")
        status, out, _ = http("POST", self.base + "/api/oauth2/token", form={
            "grant_type": "authorization_code", "code": back["code"][0], "redirect_uri": self.redirect_uri,
            "client_id": self.client_id, "client_secret": self.client_secret})
        if status != 200:
            raise HarnessError("Exact token endpoint answered %d: %r" % (status, out))
        self.access_token, self.refresh_token = out["access_token"], out["refresh_token"]
        return self

    def _headers(self):
        return {"Authorization": "Bearer " + self.access_token, "Accept": "application/json"}

    def get(self, division, path, **query):
        url = "%s/api/v1/%s/%s" % (self.base, division, path)
        if query:
            url += "?" + urllib.parse.urlencode(query)
        return http("GET", url, headers=self._headers())

    def gl_account_id(self, division, code):
        status, out, _ = self.get(division, "financial/GLAccounts", **{
            "$filter": "Code eq '%s'" % code, "$select": "ID,Code"})
        rows = out["d"]["results"] if status == 200 else None
        if not rows:
            raise HarnessError("no G/L account %s in division %s (HTTP %d: %r)" % (code, division, status, out))
        return rows[0]["ID"]

    def post_bank_entry(self, division, entry):
        """POST financialtransaction/BankEntries; returns (status, answer)."""
        hdrs = self._headers()
        hdrs["Prefer"] = "return=representation"
        status, out, _ = http("POST", "%s/api/v1/%s/financialtransaction/BankEntries" % (self.base, division),
                              entry, hdrs)
        return status, out


def statement_entries(txns, journal, gl_account, opening=Decimal("0.00"), cost_center=None,
                      reverse_ids=()):
    """Bank entries the way the agent books them: one per financial month (calendar periods),
    lines keyed "plaid:<id>" with AmountFC = -amount, balances chained from `opening`.
    reverse_ids: transactions that get a reversal line ("plaid-reversal:<id>") after their line."""
    months = {}
    for t in sorted(txns, key=lambda t: (t["date"], t["transaction_id"])):
        months.setdefault(t["date"][:7], []).append(t)
    entries = []
    balance = Decimal(opening)
    for month, rows in sorted(months.items()):
        lines = []
        for t in rows:
            amount = -(Decimal(int(t["amount_cents"])) / 100)
            line = {"Date": t["date"] + "T00:00:00", "AmountFC": amount, "GLAccount": gl_account,
                    "Description": (t.get("name") or "")[:60], "Notes": "plaid:" + t["transaction_id"]}
            if cost_center:
                line["CostCenter"] = cost_center
            lines.append(line)
            if t["transaction_id"] in reverse_ids:
                rev = dict(line, AmountFC=-amount, Notes="plaid-reversal:" + t["transaction_id"])
                lines.append(rev)
        total = sum((ln["AmountFC"] for ln in lines), Decimal(0))
        year, period = int(month[:4]), int(month[5:7])
        entries.append({"JournalCode": journal, "FinancialYear": year, "FinancialPeriod": period,
                        "OpeningBalanceFC": balance, "ClosingBalanceFC": balance + total,
                        "BankEntryLines": lines})
        balance += total
    return entries


# ---- the agent -------------------------------------------------------------------------------------

def set_ini_keys(text, section, values):
    """The config text with `key = value` for each item put at the top of [section] (appending the
    section if it is missing). Commented-out defaults stay as they are; a key set earlier by this
    function is replaced, so calling it twice does not make a duplicate (mlc refuses those)."""
    lines = text.splitlines()
    header = "[%s]" % section
    out, done = [], False
    keys = set(values)
    # drop earlier uncommented settings of these keys in this section
    current = None
    for line in lines:
        s = line.strip()
        if s.startswith("[") and s.endswith("]"):
            current = s
        elif current == header and "=" in s and not s.startswith(("#", ";")) and \
                s.split("=", 1)[0].strip() in keys:
            continue
        out.append(line)
    lines, out = out, []
    for line in lines:
        out.append(line)
        if not done and line.strip() == header:
            out += ["%s = %s" % (k, v) for k, v in values.items()]
            done = True
    if not done:
        out += ["", header] + ["%s = %s" % (k, v) for k, v in values.items()]
    return "\n".join(out) + "\n"


def configure_mlc(mlc, sb, divisions=None, status_port=None):
    """`mlc init`, then point the config at the sandbox and store its credentials in the vault.
    mlc: a conftest.Mlc (callable runner with .config). Returns the status page URL it configured."""
    r = mlc("init")
    if r.returncode != 0:
        raise HarnessError("mlc init failed (%d): %s" % (r.returncode, r.stderr.strip()))
    if divisions is None:
        divisions = sorted({m["division"] for m in sb.account_map().values()})
    status_port = status_port or free_port()
    text = mlc.config.read_text()
    text = set_ini_keys(text, "plaid", {"base_url": sb.plaid_url})
    text = set_ini_keys(text, "exact", {
        "base_url": sb.exact_url,
        "redirect_uri": sb.info.get("exact_redirect_uri") or
        "http://127.0.0.1:%d/exact/callback" % status_port,
        "divisions": ", ".join(str(d) for d in divisions)})
    text = set_ini_keys(text, "status", {"bind": "127.0.0.1:%d" % status_port})
    mlc.config.write_text(text)
    for name, key in VAULT_SECRETS:
        value = sb.info.get(key)
        if not value:
            continue
        r = mlc("secret", "set", name, stdin=str(value) + "\n")
        if r.returncode != 0:
            raise HarnessError("mlc secret set %s failed (%d): %s" % (name, r.returncode, r.stderr.strip()))
    return "http://127.0.0.1:%d/" % status_port


class MlcRunner:
    """Runs `mlc --config C --data-dir D ARGS...` (the same call shape as conftest's Mlc fixture)."""

    def __init__(self, binary, config, data_dir):
        self.bin = str(binary)
        self.config = pathlib.Path(config)
        self.data = pathlib.Path(data_dir)

    def __call__(self, *args, stdin=None, timeout=60):
        argv = [self.bin, "--config", str(self.config), "--data-dir", str(self.data)] + [str(a) for a in args]
        return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout)


class _PortFileSandbox:
    """The facts of an already running sandbox, read from its port file (for the demo script)."""

    def __init__(self, port_file):
        self.info = json.loads(pathlib.Path(port_file).read_text())
        self.plaid_url, self.exact_url = self.info["plaid"], self.info["exact"]
        self.bank_accounts = self.info["bank_accounts"]
        self.admin_token = self.info.get("admin_token")

    account_map = SandboxProcess.account_map
    mapping = SandboxProcess.mapping
    admin = SandboxProcess.admin


def main(argv=None):
    """Helpers for tools/demo.sh, so the shell script and the fixtures share one implementation."""
    import argparse
    ap = argparse.ArgumentParser(description="End-to-end harness helpers for the demo.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("configure", help="mlc init, point the config at the sandbox, fill the vault")
    c.add_argument("--mlc", required=True)
    c.add_argument("--config", required=True)
    c.add_argument("--data-dir", required=True)
    c.add_argument("--port-file", required=True)
    m = sub.add_parser("mapping", help="write a ledger_check mapping of every sandbox account")
    m.add_argument("--port-file", required=True)
    m.add_argument("--out", required=True)
    f = sub.add_parser("consent", help="open an Exact consent link; print where it redirects")
    f.add_argument("url")
    a = sub.add_parser("admin", help="call a sandbox admin route, print the JSON answer")
    a.add_argument("--port-file", required=True)
    a.add_argument("side", choices=("plaid", "exact"))
    a.add_argument("method", choices=("GET", "POST"))
    a.add_argument("path", help="below /__admin/, e.g. advance_days")
    a.add_argument("body", nargs="?", help="JSON body for POST")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "configure":
            sb = _PortFileSandbox(args.port_file)
            url = configure_mlc(MlcRunner(args.mlc, args.config, args.data_dir), sb)
            print(url)
        elif args.cmd == "mapping":
            sb = _PortFileSandbox(args.port_file)
            pathlib.Path(args.out).write_text(json.dumps(sb.mapping(), indent=2) + "\n")
        elif args.cmd == "consent":
            status, out, headers = http("GET", args.url)
            if status != 302 or not headers.get("Location"):
                raise HarnessError("the consent link answered %d instead of a redirect: %r" % (status, out))
            print(headers["Location"])
        elif args.cmd == "admin":
            sb = _PortFileSandbox(args.port_file)
            body = json.loads(args.body) if args.body else ({} if args.method == "POST" else None)
            print(json.dumps(sb.admin(args.side, args.method, args.path, body), default=_json_default))
    except (HarnessError, OSError, ValueError, KeyError) as e:
        print("harness: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
