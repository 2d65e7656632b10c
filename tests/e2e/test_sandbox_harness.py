"""The end-to-end fixtures work: the emulators start on free ports, answer, take options, stop by
their own PID (and only theirs), report their log when a test fails, and mlc runs against them."""
import json
import os
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request

import pytest

import harness

HERE = os.path.dirname(os.path.abspath(__file__))


def health(url):
    try:
        with urllib.request.urlopen(url + "/__admin/health", timeout=3) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def test_two_sandboxes_on_free_ports_stop_by_pid(sandbox_factory):
    a = sandbox_factory(seed=1, months=1)
    b = sandbox_factory(seed=2, months=1)
    urls = {a.plaid_url, a.exact_url, b.plaid_url, b.exact_url}
    assert len(urls) == 4, urls
    assert all(u.startswith("http://127.0.0.1:") for u in urls)
    assert a.info["pid"] == a.pid != b.pid
    # the admin API wants the token the harness made up
    assert health(a.plaid_url) == 401
    assert a.admin("plaid", "GET", "health") and a.admin("exact", "GET", "health")
    assert a.truth()["seed"] == 1 and b.truth()["seed"] == 2

    assert a.stop() == 0                      # SIGTERM: a clean exit, not a kill
    assert not a.running and a.stop() == 0    # a second stop is harmless
    assert not a.port_file.exists()           # the launcher removed it on the way out
    assert health(a.plaid_url) is None and health(a.exact_url) is None
    # the other sandbox was not touched
    assert b.running and b.admin("plaid", "GET", "health")


@pytest.mark.sandbox(seed=5, months=1, exact_opts={"minutely_limit": 3, "time_scale": 0.01},
                     plaid_opts={"not_ready_syncs": 1})
def test_options_reach_both_emulators(sandbox):
    assert sandbox.truth()["seed"] == 5
    assert "--minutely-limit" in sandbox.argv and "--plaid-not-ready-syncs" in sandbox.argv
    # Exact: the limit set on the command line is in force
    limits = sandbox.admin("exact", "POST", "exact/limits", {})
    assert limits["minutely"] == 3
    # Plaid: the first sync of a new Item answers NOT_READY (an empty page with an empty cursor)
    item = sandbox.admin("plaid", "POST", "link", {"institution_id": "ins_109508"})
    status, out, _ = harness.http("POST", sandbox.plaid_url + "/transactions/sync", {
        "client_id": sandbox.info["plaid_client_id"], "secret": sandbox.info["plaid_secret"],
        "access_token": item["access_token"]})
    assert status == 200 and out["transactions_update_status"] == "NOT_READY", out
    assert out["next_cursor"] == "" and out["added"] == []


def test_months_bound_the_history(sandbox_factory):
    sb = sandbox_factory(seed=3, months=1)
    dates = sorted(t["date"] for t in sb.truth()["transactions"])
    today = sb.info["today"]
    assert dates[-1] <= today
    y, m = int(today[:4]), int(today[5:7])
    # one month of history: nothing from two months back
    two_back = "%04d-%02d" % (y - (m <= 2), (m - 3) % 12 + 1)
    assert dates[0][:7] > two_back, (dates[0], today)


def test_txns_sets_the_size_of_the_world(sandbox_factory):
    small = sandbox_factory(seed=3, months=2, txns=400)
    live = small.admin("plaid", "GET", "truth?txns=0")["live_count"]
    assert 400 <= live <= 480, live          # the settled history, plus today's pendings


def test_a_sandbox_that_cannot_start_reports_its_log(sandbox_factory):
    with pytest.raises(harness.HarnessError) as e:
        sandbox_factory(exact_opts={"no_such_option": 1})
    assert "no-such-option" in str(e.value)          # the launcher's own words, from its log
    assert not sandbox_factory.sandboxes[-1].running


def test_module_sandbox_is_shared_a(sandbox_module):
    type(sandbox_module).shared_pid = sandbox_module.pid
    assert sandbox_module.running


def test_module_sandbox_is_shared_b(sandbox_module):
    assert getattr(type(sandbox_module), "shared_pid", None) == sandbox_module.pid


def test_failed_test_report_carries_the_sandbox_log(tmp_path):
    """A failing test that used the sandbox shows the sandbox's log in pytest's output."""
    test = tmp_path / "test_fails.py"
    test.write_text(textwrap.dedent("""
        def test_fails(sandbox):
            assert sandbox.running
            assert False, "deliberate"
    """))
    env = dict(os.environ, PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "conftest",
                        "--rootdir", str(tmp_path), str(test)], capture_output=True, text=True,
                       cwd=str(tmp_path), env=env, timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "deliberate" in r.stdout
    assert "sandbox log (pid" in r.stdout and "plaid=http://127.0.0.1:" in r.stdout


def test_mlc_is_set_up_against_the_sandbox(mlc_sandbox):
    sb = mlc_sandbox.sandbox
    conf = mlc_sandbox.config.read_text()
    assert "base_url = %s" % sb.plaid_url in conf
    assert "base_url = %s" % sb.exact_url in conf
    assert "divisions = 100001, 100002, 100003" in conf
    r = mlc_sandbox("store", "check")
    assert r.returncode == 0, r.stderr          # mlc accepts the config the harness wrote
    r = mlc_sandbox("secret", "list")
    assert r.returncode == 0, r.stderr
    for name, key in harness.VAULT_SECRETS:
        assert name in r.stdout
        assert str(sb.info[key]) not in r.stdout + r.stderr
    # configuring twice does not duplicate keys (mlc would refuse the config)
    harness.configure_mlc(mlc_sandbox, sb)
    assert mlc_sandbox("store", "check").returncode == 0


def test_set_ini_keys_replaces_instead_of_duplicating():
    text = "# head\n[plaid]\n#base_url = x\nsync_count = 5\n[exact]\nbase_url = old\n"
    once = harness.set_ini_keys(text, "exact", {"base_url": "new"})
    twice = harness.set_ini_keys(once, "exact", {"base_url": "new"})
    assert once == twice
    assert "base_url = old" not in once and once.count("base_url = new") == 1
    assert "#base_url = x" in once and "sync_count = 5" in once
    added = harness.set_ini_keys(text, "status", {"bind": "127.0.0.1:1"})
    assert added.rstrip().endswith("[status]\nbind = 127.0.0.1:1")


def test_exact_oauth_client_gets_a_token(sandbox_module):
    exact = harness.ExactClient.for_sandbox(sandbox_module).connect()
    assert exact.access_token and exact.refresh_token
    status, out, _ = exact.get(100001, "system/Divisions", **{"$select": "Code"})
    assert status == 200, out
    assert {d["Code"] for d in out["d"]["results"]} >= {100001}
    assert json.dumps(sandbox_module.mapping())
