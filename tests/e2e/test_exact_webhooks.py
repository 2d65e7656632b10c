"""Exact webhooks end to end: subscribe (Exact's empty validation POST answered by the agent's
route), list, unsubscribe, and the /webhooks/exact route verifying HashCode on real notifications
and refusing forged ones; the real mlc binary against the emulator."""
import datetime
import json
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from exact_env import ACCOUNTS, DIV, ExactEnv, default_seed

SECRET = "sandbox-webhook-secret"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ex(mlc):
    env = ExactEnv(mlc, webhook_secret=SECRET)
    env.port_status = free_port()
    env.write_config(extra="\n[status]\nbind = 127.0.0.1:%d\npublic_url = http://127.0.0.1:%d\n"
                     % (env.port_status, env.port_status))
    env.connect()
    r = mlc("secret", "set", "exact.webhook_secret", stdin=SECRET + "\n")
    assert r.returncode == 0, r.stderr
    yield env
    env.close()


def listen(ex, seconds=30):
    p = subprocess.Popen([ex.mlc.bin, "--config", str(ex.mlc.config), "--data-dir",
                          str(ex.mlc.data), "exact", "webhooks", "listen", "--timeout",
                          str(seconds)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    assert "listening" in line, p.stderr.read()
    return p


def post_raw(url, body):
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_subscribe_list_notify_verify_unsubscribe(ex):
    p = listen(ex)
    try:
        r = ex.run("exact", "webhooks", "subscribe")
        assert r.returncode == 0, r.stderr
        assert "subscribed BankEntries in division %d" % DIV in r.stdout
        sub_id = r.stdout.strip().rsplit(" ", 1)[-1].rstrip(")")
        r = ex.run("exact", "webhooks", "list")
        assert r.returncode == 0 and sub_id in r.stdout and "/webhooks/exact" in r.stdout
        # a bank entry created in Exact is announced to the route, which verifies the HashCode
        gl = {g["Code"]: g["ID"] for g in default_seed(ACCOUNTS)["per_division"][str(DIV)]["glaccounts"]}
        today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
        f = ex.mlc.home / "st.json"
        f.write_text(json.dumps({"statement_id": "w1", "division": DIV, "journal": "20",
                                 "currency": "EUR", "lines": [{"transaction_id": "w-1", "date": today,
                                                               "amount": "5.00", "glaccount": gl["8000"]}]}))
        assert ex.run("exact", "post", f).returncode == 0
        deliveries = ex.admin("GET", "/__admin/exact/webhooks")["deliveries"]
        assert [d["status"] for d in deliveries if d["kind"] == "validation"] == [200]
        assert [d["status"] for d in deliveries if d["kind"] == "Create"] == [200]
        # a forged notification (right shape, wrong HashCode) is refused
        url = "http://127.0.0.1:%d/webhooks/exact" % ex.port_status
        forged = b'{"Content":{"Topic":"BankEntries","Division":100001,"Action":"Delete","Key":' \
                 b'"00000000-0000-0000-0000-000000000001"},"HashCode":"' + b"A" * 64 + b'"}'
        assert post_raw(url, forged) == 401
        r = ex.run("exact", "webhooks", "unsubscribe", sub_id)
        assert r.returncode == 0, r.stderr
        r = ex.run("exact", "webhooks", "list")
        assert sub_id not in r.stdout
    finally:
        p.terminate()
        out, err = p.communicate(timeout=10)
    assert "BankEntries Create division=%d" % DIV in out
    assert "1 notification(s) verified, 1 refused" in out


def test_subscribe_fails_clearly_when_nothing_answers(ex):
    # a callback URL nobody answers: Exact's validation POST fails, the subscription is refused
    r = ex.run("exact", "webhooks", "subscribe", "--url", "http://127.0.0.1:%d/nothing" % free_port())
    assert r.returncode != 0
    lines = [l for l in r.stderr.splitlines() if l.startswith("mlc:")]
    assert len(lines) == 1 and "subscription" in lines[0]
