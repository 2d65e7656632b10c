"""`mlc run`, the agent as a service, end to end against the emulators: it starts and serves the
status page on the configured port, survives a broken config on SIGHUP (logging file:line) and
takes a good one, stops cleanly on SIGTERM, and `run --once` posts the mapped accounts' settled
transactions exactly once."""
import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request

import pytest

import harness
import ledger_check
from test_engine_sync import DIV, SUSPENSE, exact_connect, ok
from test_plaid_client import set_plaid, wait_for

pytestmark = pytest.mark.sandbox(seed=42, months=2)

START_S = 30
STOP_S = 10


def get(url, timeout=5):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


class Daemon:
    def __init__(self, mlc):
        self.mlc = mlc
        self.log = mlc.home / "run.log"
        self.logf = open(self.log, "w")
        self.proc = subprocess.Popen(
            [mlc.bin, "--config", str(mlc.config), "--data-dir", str(mlc.data), "run"],
            stdout=self.logf, stderr=subprocess.STDOUT)

    def text(self):
        return self.log.read_text()

    def wait_log(self, needle, timeout=START_S, after=0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            t = self.text()
            if needle in t[after:]:
                return t
            assert self.proc.poll() is None, "mlc run exited (%s):\n%s" % (self.proc.returncode, t)
            time.sleep(0.1)
        raise AssertionError("no %r in the log within %ss:\n%s" % (needle, timeout, self.text()))

    def wait_health(self, base):
        end = time.monotonic() + START_S
        while time.monotonic() < end:
            assert self.proc.poll() is None, "mlc run exited:\n" + self.text()
            try:
                return get(base + "api/v1/health")
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.1)
        raise AssertionError("status server never answered:\n" + self.text())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(STOP_S)
        self.logf.close()


@pytest.fixture
def daemon(mlc_sandbox):
    d = Daemon(mlc_sandbox)
    yield d
    d.stop()


def test_daemon_serves_status_reloads_and_stops(daemon, mlc_sandbox):
    mlc = mlc_sandbox
    base = mlc.status_url
    daemon.wait_health(base)
    log = daemon.wait_log("event=started")
    daemon.wait_log("event=run result=")            # the catch-up run at start (never ran)
    # Nothing is connected yet: health says so, with the command that fixes it.
    status, body = get(base + "api/v1/health")
    assert status == 503 and "mlc exact connect" in body
    st = json.loads(get(base + "api/v1/status")[1])
    assert st["connections"][0]["kind"] == "exact_division"
    assert st["connections"][0]["next_run"] > st["connections"][0]["last_run"]
    assert "bind=127.0.0.1:%s" % base.rsplit(":", 1)[1].strip("/") in log
    assert "schedule=" in log
    status, body = get(base + "metrics")
    assert status == 200 and "mlc_uptime_seconds" in body
    status, body = get(base)
    assert status == 200 and "<html" in body.lower()

    good = mlc.config.read_text()
    # A broken config: the agent keeps running on the old one and says where the mistake is.
    mlc.config.write_text(harness.set_ini_keys(good, "schedule", {"mode": "sometimes"}))
    mark = len(daemon.text())
    daemon.proc.send_signal(signal.SIGHUP)
    log = daemon.wait_log("event=reload result=failed", after=mark)
    line = [l for l in log[mark:].splitlines() if "result=failed" in l][0]
    assert re.search(r"mlc\.conf:\d+: \[schedule\] mode", line), line   # file:line of the error
    assert daemon.proc.poll() is None
    assert daemon.wait_health(base)[0] in (200, 503)

    # A good changed config is taken.
    mlc.config.write_text(harness.set_ini_keys(good, "schedule", {"mode": "interval",
                                                                "interval": "3600"}))
    mark = len(daemon.text())
    daemon.proc.send_signal(signal.SIGHUP)
    log = daemon.wait_log("event=reloaded", after=mark)
    assert "schedule=every-3600s" in log[mark:]

    t0 = time.monotonic()
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.proc.wait(STOP_S) == 0, daemon.text()
    assert time.monotonic() - t0 < STOP_S
    assert "event=stopped" in daemon.text()


def test_run_once_posts_the_mapped_accounts_once(mlc_sandbox):
    mlc, sb = mlc_sandbox, mlc_sandbox.sandbox
    ok(mlc("plaid", "link", "--sandbox", "--institution", "ins_109508"))
    exact_connect(mlc)
    ok(mlc("plaid", "sync"))
    amap = sb.account_map()
    accounts = [a for a, m in amap.items() if m["division"] == DIV]
    for a in accounts:
        ok(mlc("map", a, "--division", DIV, "--journal", amap[a]["journal"],
               "--offset-gl", SUSPENSE))
    r = mlc("run", "--once")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "event=run result=ok" in r.stderr
    report = ledger_check.check(sb.truth(), sb.ledger(), sb.mapping(accounts), balances=True)
    assert report.ok, str(report)
    posted = len([l for e in sb.ledger(DIV)[str(DIV)]["entries"] for l in e["BankEntryLines"]])
    assert posted > 0
    r = mlc("run", "--once")             # nothing new: nothing posted twice
    assert r.returncode == 0, r.stdout + r.stderr
    report = ledger_check.check(sb.truth(), sb.ledger(), sb.mapping(accounts), balances=True)
    assert report.ok, str(report)


def test_plaid_webhook_brings_the_next_run_forward(mlc_sandbox):
    """New transactions at the bank: Plaid's SYNC_UPDATES_AVAILABLE reaches the running agent,
    which pulls and posts them long before its hourly schedule would."""
    mlc, sb = mlc_sandbox, mlc_sandbox.sandbox
    port = int(mlc.status_url.rstrip("/").rsplit(":", 1)[1])
    set_plaid(mlc, webhook_url="http://127.0.0.1:%d/webhooks/plaid" % port)
    mlc.config.write_text(harness.set_ini_keys(mlc.config.read_text(), "schedule",
                                               {"mode": "interval", "interval": "3600"}))
    ok(mlc("plaid", "link", "--sandbox", "--institution", "ins_109508"))
    exact_connect(mlc)
    amap = sb.account_map()
    accounts = [a for a, m in amap.items() if m["division"] == DIV]
    ok(mlc("plaid", "sync"))                 # activates SYNC_UPDATES_AVAILABLE (plaid.md 5.3)
    for a in accounts:
        ok(mlc("map", a, "--division", DIV, "--journal", amap[a]["journal"],
               "--offset-gl", SUSPENSE))
    ok(mlc("run", "--once"))                 # the last run is now: the next is an hour away
    d = Daemon(mlc)
    try:
        log = d.wait_log("event=started")
        assert "next_run_in_s=0" not in log
        before = len(d.text())
        sb.advance_days(4)
        d.wait_log("event=run_brought_forward source=plaid", after=before)
        d.wait_log("event=run result=ok", after=before)
        report = ledger_check.check(sb.truth(), sb.ledger(), sb.mapping(accounts),
                                    balances=True)
        assert report.ok, str(report)
        d.proc.send_signal(signal.SIGTERM)
        assert d.proc.wait(STOP_S) == 0, d.text()
    finally:
        d.stop()


def test_led_shows_attention_while_running_and_is_restored_on_stop(mlc_sandbox):
    mlc = mlc_sandbox
    led = mlc.home / "led"
    mlc.config.write_text(harness.set_ini_keys(mlc.config.read_text(), "board",
                                               {"profile": "host", "led_status": str(led)}))
    d = Daemon(mlc)
    try:
        d.wait_log("event=started")
        d.wait_log("event=run result=")
        d.wait_health(mlc.status_url)
        # Exact is not connected: a person is needed, the LED blinks fast.
        trig = (led / "trigger").read_text().strip()
        assert trig == "timer" or "[timer]" in trig, trig
        assert (led / "delay_on").read_text().strip() == "100"
        d.proc.send_signal(signal.SIGTERM)
        assert d.proc.wait(STOP_S) == 0, d.text()
        trig = (led / "trigger").read_text().strip()
        assert trig != "timer" and "[timer]" not in trig, trig   # what it showed before
    finally:
        d.stop()


def test_run_rejects_unknown_options(mlc):
    r = mlc("run", "--forever")
    assert r.returncode == 64 and "mlc run --help" in r.stderr

