"""sandbox.py: one command starts the emulators, prints URLs, writes the port file, stops on SIGTERM."""

import json

from conftest import http


def test_launcher_serves_until_sigterm(sandbox_process):
    proc, info, port_file = sandbox_process
    assert info["pid"] == proc.pid
    assert info["plaid"].startswith("http://127.0.0.1:")
    status, out, _ = http("POST", info["plaid"] + "/sandbox/public_token/create",
                          {"client_id": info["plaid_client_id"], "secret": info["plaid_secret"],
                           "institution_id": "ins_120001", "initial_products": ["transactions"]})
    assert status == 200 and out["public_token"]
    assert {a["plaid_account_id"] for a in info["bank_accounts"]}
    if info.get("exact"):
        status, _, _ = http("GET", info["exact"] + "/__admin/health")
        assert status == 200
    line = proc.stdout.readline()
    assert line.startswith("plaid=" + info["plaid"]) and "exact=" in line
    proc.terminate()
    assert proc.wait(timeout=10) == 0
    assert not port_file.exists()


def test_in_process_sandbox_shares_the_world(sandbox):
    info = sandbox.info()
    assert json.dumps(info)    # the port file content is plain JSON
    ids = {a["plaid_account_id"] for a in info["bank_accounts"]}
    assert ids == {a.account_id for a in sandbox.plaid.world.accounts}
