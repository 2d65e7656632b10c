"""`mlc doctor` as an installer meets it: one screen, one line per check, a `fix:` under each failure,
exit 0 only when everything fits (69 otherwise). Runs the real binary against the Exact emulator and
small local servers started on free ports and stopped through their objects."""
import email.utils
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import harness
from exact_env import DIV, ExactEnv


def lines(r):
    return r.stdout.splitlines()


def verdict(r, check):
    """The verdict words ("ok", "FAIL", "--") of every line of one check."""
    return [ln.split()[0] for ln in lines(r) if ln[6:19].strip() == check]


def assert_every_failure_has_a_fix(r):
    out = lines(r)
    for i, ln in enumerate(out):
        if ln.startswith("FAIL"):
            assert i + 1 < len(out) and out[i + 1].startswith("      fix: "), ln


def test_fresh_install_names_what_to_do_next(mlc):
    assert mlc("init").returncode == 0
    # a free port, so a program on the default 8080 of this machine cannot fail the test
    mlc.config.write_text(harness.set_ini_keys(mlc.config.read_text(), "status",
                                               {"bind": "127.0.0.1:%d" % harness.free_port()}))
    r = mlc("doctor", timeout=90)
    assert r.returncode == 69, r.stdout + r.stderr
    assert verdict(r, "config") == ["ok"]
    assert verdict(r, "data dir") == ["ok"]
    assert verdict(r, "status page") == ["ok"]
    assert verdict(r, "Plaid") == ["FAIL"]
    assert "fix: mlc secret set plaid.client_id" in r.stdout
    assert verdict(r, "Exact") == ["FAIL"]
    assert "fix: mlc exact connect" in r.stdout
    assert_every_failure_has_a_fix(r)
    assert len(lines(r)) <= 30  # one screen
    assert "run 'mlc doctor' again" in r.stdout


def test_bad_config_fails_the_first_check(mlc):
    assert mlc("init").returncode == 0
    mlc.config.write_text("[alerts]\nresend_interval = soon\n")
    r = mlc("doctor")
    assert r.returncode == 69
    assert verdict(r, "config") == ["FAIL"]
    assert "resend_interval" in r.stderr
    assert_every_failure_has_a_fix(r)


def test_status_port_in_use_is_reported(mlc):
    assert mlc("init").returncode == 0
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        port = held.getsockname()[1]
        mlc.config.write_text("[agent]\ndata_dir = %s\n[status]\nbind = 127.0.0.1:%d\n"
                              % (mlc.data, port))
        r = mlc("doctor", timeout=90)
    assert r.returncode == 69
    assert verdict(r, "status page") == ["FAIL"]
    assert "in use" in r.stdout and "[status] bind" in r.stdout


def test_incomplete_alert_settings_are_caught(mlc):
    assert mlc("init").returncode == 0
    mlc.config.write_text("[agent]\ndata_dir = %s\n[alerts]\nemail_to = office@example.com\n"
                          "email_from = mlc@example.com\nsmtp_url = smtp://127.0.0.1:2525\n"
                          "smtp_user = mlc\n" % mlc.data)
    r = mlc("doctor", timeout=90)
    assert verdict(r, "alerts") == ["FAIL"]
    assert "mlc secret set smtp.password" in r.stdout


@pytest.fixture
def ex(mlc):
    env = ExactEnv(mlc)
    yield env
    env.close()


def test_connected_exact_checks_token_division_and_rights(ex):
    ex.connect()
    r = ex.run("doctor", timeout=120)
    out = r.stdout
    assert "ok    Exact         token works" in out, out + r.stderr
    assert "ok    Exact         division %d allowed, may post bank entries" % DIV in out
    # the emulator answered with a Date header close to ours
    assert verdict(r, "clock") == ["ok"], out
    # Plaid is not set up in this world: still not a fit
    assert r.returncode == 69
    assert_every_failure_has_a_fix(r)


def test_division_outside_the_consent_is_named(ex):
    ex.connect()
    ex.write_config(divisions=[DIV, 999999])
    r = ex.run("doctor", timeout=120)
    assert r.returncode == 69
    assert "division 999999" in r.stdout
    assert "tick division 999999" in r.stdout


class LyingClock:
    """Any GET is answered 404 with a Date header `skew` seconds off the real time."""

    def __init__(self, skew):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response_only(404)
                self.send_header("Date", email.utils.formatdate(time.time() + skew, usegmt=True))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("skew,word,verdict_word", [(600, "behind", "FAIL"), (-600, "ahead of", "FAIL"),
                                                    (20, None, "ok")])
def test_clock_is_compared_with_the_apis(mlc, skew, word, verdict_word):
    srv = LyingClock(skew)
    try:
        assert mlc("init").returncode == 0
        mlc.config.write_text("[agent]\ndata_dir = %s\nclock_skew_max = 2m\n[plaid]\nbase_url = %s\n"
                              "[exact]\nbase_url = %s\n" % (mlc.data, srv.url, srv.url))
        r = mlc("doctor", timeout=120)
    finally:
        srv.stop()
    assert verdict(r, "clock") == [verdict_word], r.stdout
    if word:
        assert word in r.stdout and "10 minutes" in r.stdout
        assert "timedatectl" in r.stdout


def test_linked_bank_is_checked_live_and_unmapped_accounts_are_named(mlc_sandbox):
    mlc = mlc_sandbox
    r = mlc("plaid", "link", "--sandbox", "--institution", "ins_109508")
    assert r.returncode == 0, r.stdout + r.stderr
    item = re.search(r"item (\S+) with", r.stdout).group(1)
    r = mlc("plaid", "accounts")
    assert r.returncode == 0, r.stdout + r.stderr
    r = mlc("doctor", timeout=180)
    assert r.returncode == 69
    plaid = [ln for ln in lines(r) if ln[6:19].strip() == "Plaid"]
    assert plaid == ["ok    Plaid         bank link %s (ins_109508) works" % item], r.stdout
    # the accounts are known but not yet mapped to an Exact bank journal: each one is named
    assert "FAIL" in verdict(r, "mappings")
    assert "is not mapped to an Exact bank journal" in r.stdout
    assert "fix: mlc map " in r.stdout
    assert_every_failure_has_a_fix(r)


def test_leds_are_looked_for_where_the_board_profile_says(mlc, tmp_path):
    assert mlc("init").returncode == 0
    base = "[agent]\ndata_dir = %s\n[board]\n" % mlc.data
    mlc.config.write_text(base + "profile = host\nled_status = %s\n" % (tmp_path / "leds" / "status"))
    (tmp_path / "leds").mkdir()
    r = mlc("doctor", timeout=90)
    assert verdict(r, "LEDs") == ["ok"], r.stdout + r.stderr
    mlc.config.write_text(base + "profile = gateway\nled_status = %s\n" % (tmp_path / "none" / "x"))
    r = mlc("doctor", timeout=90)
    assert verdict(r, "LEDs") == ["FAIL"]
    assert "led_status" in r.stdout
    assert_every_failure_has_a_fix(r)
