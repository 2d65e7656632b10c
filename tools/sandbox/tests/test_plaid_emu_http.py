"""emu_http.py, the server base both emulators stand on: routing, bodies, errors, keep-alive, clock."""

import http.client as httpc
import json

import pytest

import emu_http
from emu_http import EmuApp, HttpError, json_response
from conftest import http


@pytest.fixture
def app():
    a = EmuApp("unit")

    @a.route("GET", "/api/v1/{division}/items({key})")
    def item(req):
        return {"division": req.params["division"], "key": req.params["key"], "q": req.query, "route": req.route}

    @a.route("POST", "/echo")
    def echo(req):
        return json_response({"got": req.json()}, 201)

    @a.route("POST", "/refuse")
    def refuse(req):
        raise HttpError(409, {"error": "duplicate"}, {"X-Why": "dup"})

    @a.route("POST", "/bug")
    def bug(req):
        raise KeyError("boom")

    a.start("127.0.0.1", 0)
    yield a
    a.shutdown()


def test_placeholders_query_and_route_name(app):
    status, body, _ = http("GET", app.url + "/api/v1/123/items(abc)?$top=5&x=")
    assert status == 200
    assert body == {"division": "123", "key": "abc", "q": {"$top": "5", "x": ""},
                    "route": "GET /api/v1/{division}/items({key})"}


def test_404_405_and_handler_errors(app):
    assert http("GET", app.url + "/nope")[0] == 404
    assert http("GET", app.url + "/echo")[0] == 405
    status, body, headers = http("POST", app.url + "/refuse", {})
    assert (status, body, headers["X-Why"]) == (409, {"error": "duplicate"}, "dup")
    status, body, _ = http("POST", app.url + "/bug", {})
    assert status == 500 and "KeyError" in body["error"]
    status, body, _ = http("POST", app.url + "/echo", b"[1,2]")      # JSON, but not an object
    assert status == 400


def test_keep_alive_chunked_body_and_head(app):
    conn = httpc.HTTPConnection("127.0.0.1", app.port, timeout=5)
    try:
        for i in range(3):   # one connection, several requests
            conn.request("POST", "/echo", json.dumps({"i": i}), {"Content-Type": "application/json"})
            r = conn.getresponse()
            assert (r.status, json.loads(r.read())) == (201, {"got": {"i": i}})
        conn.request("POST", "/echo", iter([b'{"a":', b' 1}']), {"Content-Type": "application/json"},
                     encode_chunked=True)
        r = conn.getresponse()
        assert json.loads(r.read()) == {"got": {"a": 1}}
    finally:
        conn.close()


def test_oversized_body_is_refused(app, monkeypatch):
    monkeypatch.setattr(emu_http, "MAX_BODY_BYTES", 64)
    status, body, _ = http("POST", app.url + "/echo", {"x": "y" * 100})
    assert status == 413


def test_fault_method_filter_and_latency_with_status(app):
    app.faults.add(kind="status", path="/echo", method="GET", status=503)
    assert http("POST", app.url + "/echo", {})[0] == 201      # method does not match
    app.faults.clear()
    app.faults.add(kind="latency", path="/echo", delay_ms=1)
    app.faults.add(kind="status", path="/echo", status=502)
    assert http("POST", app.url + "/echo", {})[0] == 502     # both rules fire on one call
    assert app.faults.list() == []


def test_clock_moves_by_admin_only(app):
    t0 = app.clock.now()
    status, body, _ = http("POST", app.url + "/__admin/clock", {"advance": 3600})
    assert status == 200 and body["offset"] == 3600 and app.clock.now() - t0 >= 3600
    http("POST", app.url + "/__admin/clock", {"offset": 0})
    assert app.clock.now() - t0 < 60
    assert http("POST", app.url + "/__admin/clock", {"advance": "soon"})[0] == 400
    status, body, _ = http("GET", app.url + "/__admin/nothing")
    assert status == 404 and "GET /__admin/calls" in body["known"]
