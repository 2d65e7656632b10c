"""Exact connection end to end: consent, token rotation across restarts and crashes, needs-consent
without loops, keep-alive, divisions and region hosts; the real mlc binary against the emulator."""
import pytest

from exact_env import DIV, ExactEnv


@pytest.fixture
def ex(mlc):
    env = ExactEnv(mlc)
    yield env
    env.close()


def test_connect_prints_region_auth_url_and_exchanges_code(ex):
    r = ex.run("exact", "connect")
    assert r.returncode == 0, r.stderr
    auth = [w for w in r.stdout.split() if "/api/oauth2/auth?" in w][0]
    assert auth.startswith(ex.url + "/api/oauth2/auth?")
    assert "client_id=" in auth and "state=" in auth and "response_type=code" in auth
    location = ex.consent_redirect(auth)
    assert "code=" in location and "%21" in location  # the code needs URL-decoding
    r = ex.run("exact", "connect", "--code", location, "--division", str(DIV))
    assert r.returncode == 0, r.stderr
    assert "connected" in r.stdout and "division %d is allowed" % DIV in r.stdout
    # the code is single-use: pasting it again fails with a clear line, not a crash
    r = ex.run("exact", "connect", "--code", location)
    assert r.returncode != 0
    assert len(mlc_lines(r)) == 1 and "mlc exact connect" in mlc_lines(r)[0]


def test_code_with_foreign_state_is_refused(ex):
    ex.run("exact", "connect")
    r = ex.run("exact", "connect", "--code", "https://x.invalid/cb?code=abc%21def&state=" + "0" * 32)
    assert r.returncode == 69
    assert "state" in r.stderr and ex.token_calls() == 0


def test_status_and_divisions(ex):
    ex.connect()
    r = ex.run("exact", "status")
    assert r.returncode == 0, r.stdout + r.stderr
    for word in ("token works", "division %d allowed" % DIV, "rights to post bank entries",
                 "bank journals", "rate budget", "refresh token runs out"):
        assert word in r.stdout
    r = ex.run("exact", "divisions")
    assert r.returncode == 0, r.stderr
    assert "%d" % DIV in r.stdout and "[configured]" in r.stdout and "100002" in r.stdout


def test_tokens_survive_restart_and_refresh_only_after_570s(ex):
    ex.connect()
    before = ex.token_calls()
    # a second process within the access token's life uses the stored token: no token call
    assert ex.run("exact", "divisions").returncode == 0
    ex.advance(300)
    assert ex.run("exact", "divisions").returncode == 0
    assert ex.token_calls() == before
    # in the last 30 s of the token (and past 570 s) one refresh happens, then the new pair works
    ex.advance(280)
    assert ex.run("exact", "divisions").returncode == 0
    assert ex.token_calls() == before + 1
    ex.advance(595)
    assert ex.run("exact", "divisions").returncode == 0
    assert ex.token_calls() == before + 2
    assert not any(c["revoked"] for c in ex.chains())


def mlc_lines(r):
    """The lines meant for the person (log records aside)."""
    return [l for l in r.stderr.splitlines() if l.startswith("mlc:")]


def test_revoked_consent_means_needs_consent_without_loop(ex):
    ex.connect()
    ex.admin("POST", "/__admin/exact/revoke", {})
    ex.advance(600)
    r = ex.run("exact", "divisions")
    assert r.returncode == 69
    assert len(mlc_lines(r)) == 1 and "mlc exact connect" in mlc_lines(r)[0]
    n = ex.token_calls()
    for _ in range(3):
        r = ex.run("exact", "divisions")
        assert r.returncode == 69 and "mlc exact connect" in r.stderr
    r = ex.run("exact", "status")
    assert r.returncode == 69 and "NEEDED" in r.stdout
    assert ex.token_calls() == n  # no token call at all while consent is needed
    ex.connect()                   # consent again: the connection works
    assert ex.run("exact", "divisions").returncode == 0


def test_crash_after_token_stored_keeps_newest_refresh_token(ex):
    ex.connect()
    ex.advance(600)
    r = ex.run("exact", "divisions", env={"MLC_CRASH_AT": "exact.token.stored"})
    assert r.returncode < 0 or r.returncode == 137  # killed right after the commit
    # restart: the stored refresh token is the newest (the emulator revokes the chain if an older
    # one is ever used), and the stored access token from that refresh works
    r = ex.run("exact", "divisions")
    assert r.returncode == 0, r.stderr
    ex.advance(600)
    r = ex.run("exact", "divisions")
    assert r.returncode == 0, r.stderr
    assert not any(c["revoked"] for c in ex.chains())


def test_crash_before_commit_is_not_survivable_and_says_so(ex):
    # Exact rotates strictly: the answer that died with the process held the only valid refresh
    # token. The agent must then ask for consent (exit 69), not loop on the dead token.
    ex.connect()
    ex.advance(600)
    r = ex.run("exact", "divisions", env={"MLC_CRASH_AT": "exact.token.answered"})
    assert r.returncode < 0 or r.returncode == 137
    r = ex.run("exact", "divisions")
    assert r.returncode == 69 and "mlc exact connect" in r.stderr
    assert "Old refresh token used" in r.stderr
    assert any(c["revoked"] for c in ex.chains())
    n = ex.token_calls()
    assert ex.run("exact", "divisions").returncode == 69
    assert ex.token_calls() == n


def test_division_retargeting_uses_new_division(ex):
    ex.connect()
    assert ex.run("exact", "journals").returncode == 0
    ex.write_config(divisions=[100002])
    r = ex.run("exact", "journals")
    assert r.returncode == 0, r.stderr
    assert "division 100002" in r.stdout
    calls = ex.admin("GET", "/__admin/calls")["recent"]
    paths = [c["path"] for c in calls if "Journals" in c["path"]]
    assert paths[-1].startswith("/api/v1/100002/")


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connect_waits_for_the_callback_on_the_status_address(ex):
    import subprocess
    import urllib.request
    port = free_port()
    cb = "http://127.0.0.1:%d/oauth/exact/callback" % port
    ex.write_config(redirect=cb, extra="\n[status]\nbind = 127.0.0.1:%d\n" % port)
    p = subprocess.Popen([ex.mlc.bin, "--config", str(ex.mlc.config), "--data-dir",
                          str(ex.mlc.data), "exact", "connect", "--timeout", "30"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        auth = None
        while auth is None:
            line = p.stdout.readline()
            assert line, p.stderr.read()
            if "/api/oauth2/auth?" in line:
                auth = line.strip()
        location = ex.consent_redirect(auth)   # Exact sends the browser to our callback
        assert location.startswith(cb + "?code=")
        # the agent listens before it prints the link
        with urllib.request.urlopen(location, timeout=10) as r:
            assert r.status == 200 and b"close this page" in r.read()
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err
    assert "connected to Exact Online" in out
    assert ex.run("exact", "divisions").returncode == 0


def test_concurrent_processes_share_one_refresh(ex):
    import subprocess
    ex.connect()
    before = ex.token_calls()
    ex.advance(600)
    # slow the token answer so the processes overlap while one of them refreshes
    ex.admin("POST", "/__admin/fault", {"kind": "latency", "path": "/api/oauth2/token",
                                        "delay_ms": 800, "count": 0})
    env = dict(__import__("os").environ, MLC_TEST_CLOCK_OFFSET=str(ex.offset))
    procs = [subprocess.Popen([ex.mlc.bin, "--config", str(ex.mlc.config), "--data-dir",
                               str(ex.mlc.data), "exact", "divisions"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    results = [p.communicate(timeout=60) + (p.returncode,) for p in procs]
    for out, err, rc in results:
        assert rc == 0, err
    assert ex.token_calls() == before + 1        # one refresh, the others took its pair over
    assert not any(c["revoked"] for c in ex.chains())


@pytest.mark.parametrize("region,host", [
    ("nl", "start.exactonline.nl"), ("be", "start.exactonline.be"), ("de", "start.exactonline.de"),
    ("fr", "start.exactonline.fr"), ("es", "start.exactonline.es"),
    ("uk", "start.exactonline.co.uk"), ("us", "start.exactonline.com")])
def test_region_picks_the_regional_host(ex, region, host):
    ex.mlc.config.write_text("[agent]\ndata_dir = %s\n\n[exact]\nregion = %s\nredirect_uri = %s\n"
                             % (ex.mlc.data, region, "https://agent.example.invalid/exact-redirect"))
    r = ex.run("exact", "connect", "--no-wait")
    assert r.returncode == 0, r.stderr
    assert "https://%s/api/oauth2/auth?" % host in r.stdout


def test_status_names_a_division_the_consent_does_not_allow(mlc):
    env = ExactEnv(mlc, divisions=(100002,), consent_divisions=[100001])
    try:
        r = env.run("exact", "connect")
        auth = [w for w in r.stdout.split() if "/api/oauth2/auth?" in w][0]
        r = env.run("exact", "connect", "--code", env.consent_redirect(auth))
        # the tokens are stored, but the configured division is named as not allowed
        assert r.returncode == 69
        assert "division 100002 is not among the divisions this consent allows" in r.stderr
        r = env.run("exact", "status")
        assert r.returncode == 69
        assert "FAIL division 100002 allowed" in r.stdout
        assert "ok   token works" in r.stdout
    finally:
        env.close()
