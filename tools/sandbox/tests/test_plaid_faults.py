"""Fault injection through /__admin/ (emu_http), call counting, and Plaid's per-Item rate limits."""

import http.client as httpc
import json
import time
import urllib.parse

import pytest

from conftest import PlaidClient, http, make_plaid


def admin(plaid, method, name, body=None, headers=None):
    return http(method, plaid.url + "/__admin/" + name, body, headers)


def add_fault(plaid, **spec):
    status, out, _ = admin(plaid, "POST", "fault", spec)
    assert status == 200, out
    return out["id"]


def raw_post(plaid, path, body, timeout=5):
    """One request on its own connection: (status, body bytes) or the exception raised."""
    u = urllib.parse.urlsplit(plaid.url)
    conn = httpc.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        data = json.dumps(dict(body, client_id=plaid.client_id, secret=plaid.secret))
        conn.request("POST", path, data, {"Content-Type": "application/json"})
        r = conn.getresponse()
        return r.status, r.read()
    except Exception as e:   # noqa: BLE001 - the test inspects which one
        return None, e
    finally:
        conn.close()


def items_count(plaid):
    return len(admin(plaid, "GET", "items")[1]["items"])


PT_BODY = {"institution_id": "ins_109508", "initial_products": ["transactions"]}


def test_status_burst_hits_next_n_calls_then_clears(plaid, client):
    at, _ = client.link()
    add_fault(plaid, kind="status", path="/accounts/*", status=503, count=2)
    for _ in range(2):
        status, body = client.post("/accounts/get", {"access_token": at})
        assert status == 503 and body["error_code"] == "PLANNED_MAINTENANCE" and body["request_id"]
    assert client.post("/accounts/get", {"access_token": at})[0] == 200
    add_fault(plaid, kind="status", path="/item/get")
    status, body = client.post("/item/get", {"access_token": at})
    assert (status, body["error_type"], body["error_code"]) == (500, "API_ERROR", "INTERNAL_SERVER_ERROR")


def test_skip_lets_first_calls_through(plaid, client):
    at, _ = client.link()
    add_fault(plaid, kind="status", path="/transactions/sync", skip=1, status=502)
    assert client.post("/transactions/sync", {"access_token": at, "count": 1})[0] == 200
    assert client.post("/transactions/sync", {"access_token": at, "count": 1})[0] == 502
    assert client.post("/transactions/sync", {"access_token": at, "count": 1})[0] == 200


def test_injected_429_looks_like_plaid(plaid, client):
    at, _ = client.link()
    add_fault(plaid, kind="rate_limit", path="/transactions/sync", headers={"Retry-After": "2"})
    status, body, headers = http("POST", plaid.url + "/transactions/sync",
                                 {"client_id": plaid.client_id, "secret": plaid.secret, "access_token": at})
    assert status == 429 and headers["Retry-After"] == "2"
    assert (body["error_type"], body["error_code"]) == ("RATE_LIMIT_EXCEEDED", "TRANSACTIONS_SYNC_LIMIT")


def test_latency(plaid, client):
    add_fault(plaid, kind="latency", path="/sandbox/public_token/create", delay_ms=300)
    t = time.monotonic()
    assert client.post("/sandbox/public_token/create", PT_BODY)[0] == 200
    assert time.monotonic() - t >= 0.3


def test_drop_closes_before_processing(plaid):
    before = items_count(plaid)
    add_fault(plaid, kind="drop", path="/sandbox/public_token/create")
    status, err = raw_post(plaid, "/sandbox/public_token/create", PT_BODY)
    assert status is None and isinstance(err, httpc.RemoteDisconnected)   # clean FIN, no answer
    assert items_count(plaid) == before                      # nothing happened
    assert raw_post(plaid, "/sandbox/public_token/create", PT_BODY)[0] == 200


def test_lose_answer_commits_then_closes(plaid):
    before = items_count(plaid)
    add_fault(plaid, kind="lose_answer", path="/sandbox/public_token/create", reset=True)
    status, err = raw_post(plaid, "/sandbox/public_token/create", PT_BODY)
    assert status is None and isinstance(err, ConnectionResetError)       # reset: true sends a RST
    assert items_count(plaid) == before + 1                  # the change was made all the same


def test_truncated_body(plaid, client):
    at, _ = client.link()
    add_fault(plaid, kind="truncate", path="/accounts/get")
    status, err = raw_post(plaid, "/accounts/get", {"access_token": at})
    assert status is None and isinstance(err, httpc.IncompleteRead)


def test_malformed_json(plaid, client):
    at, _ = client.link()
    add_fault(plaid, kind="malformed", path="/accounts/get")
    status, body = raw_post(plaid, "/accounts/get", {"access_token": at})
    assert status == 200
    with pytest.raises(ValueError):
        json.loads(body)


def test_slow_body_trickles_but_arrives_whole(plaid, client):
    at, _ = client.link()
    add_fault(plaid, kind="slow_body", path="/item/get", chunk_bytes=200, chunk_delay_ms=20)
    t = time.monotonic()
    status, body = raw_post(plaid, "/item/get", {"access_token": at})
    took = time.monotonic() - t
    assert status == 200 and json.loads(body)["item"]["item_id"]
    assert took >= 0.02 * (len(body) // 200)


def test_faults_list_and_clear(plaid):
    add_fault(plaid, kind="status", path="/x", count=0)   # until cleared
    assert len(admin(plaid, "GET", "faults")[1]["faults"]) == 1
    admin(plaid, "POST", "faults/clear", {})
    assert admin(plaid, "GET", "faults")[1]["faults"] == []
    status, body, _ = admin(plaid, "POST", "fault", {"kind": "explode"})
    assert status == 400 and "kind" in body["error"]


def test_calls_are_counted_per_endpoint_and_reset(plaid, client):
    at, _ = client.link()
    for _ in range(3):
        client.post("/accounts/get", {"access_token": at})
    counts = admin(plaid, "GET", "calls")[1]["counts"]
    assert counts["POST /accounts/get"] == 3 and counts["POST /item/public_token/exchange"] == 1
    admin(plaid, "POST", "reset_calls", {})
    assert admin(plaid, "GET", "calls")[1]["counts"] == {}


def test_rate_limit_per_item_and_endpoint_with_scaled_window():
    emu = make_plaid(rate_window_s=60.0)
    try:
        c = PlaidClient(emu)
        at1, _ = c.link()
        at2, _ = c.link()
        for _ in range(50):
            assert c.post("/transactions/sync", {"access_token": at1, "count": 1})[0] == 200
        status, body = c.post("/transactions/sync", {"access_token": at1, "count": 1})
        assert status == 429 and (body["error_type"], body["error_code"]) == ("RATE_LIMIT_EXCEEDED", "TRANSACTIONS_SYNC_LIMIT")
        assert c.post("/transactions/sync", {"access_token": at2, "count": 1})[0] == 200   # other Item
        assert c.post("/accounts/get", {"access_token": at1})[0] == 200                  # other endpoint
        emu.clock.advance(61)                                                            # window passed
        assert c.post("/transactions/sync", {"access_token": at1, "count": 1})[0] == 200
    finally:
        emu.shutdown()


def test_admin_token_protects_admin_api():
    emu = make_plaid(admin_token="s3cret")
    try:
        assert admin(emu, "GET", "calls")[0] == 401
        assert admin(emu, "GET", "calls", headers={"X-Admin-Token": "s3cret"})[0] == 200
    finally:
        emu.shutdown()


def test_admin_advance_days_and_truth(plaid, client):
    status, t0, _ = admin(plaid, "GET", "truth?txns=0")
    assert status == 200 and "transactions" not in t0
    status, out, _ = admin(plaid, "POST", "advance_days", {"days": 3})
    assert status == 200 and out["today"] == "2026-06-18"
    t1 = admin(plaid, "GET", "truth")[1]
    assert t1["log_head"] > t0["log_head"] and len(t1["transactions"]) == t1["live_count"]
