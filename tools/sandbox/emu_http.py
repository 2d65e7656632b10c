"""Shared HTTP plumbing for the sandbox emulators (Plaid, Exact Online).

Owns: the threaded HTTP/1.1 server, routing, JSON helpers, fault injection, per-endpoint call
counting, an injectable clock and the /__admin/ API that both emulators share. It knows nothing
about Plaid or Exact: product rules live in plaid_emulator.py / exact_emulator.py.

How to build an emulator on it
------------------------------

    from emu_http import EmuApp, HttpError, json_response

    app = EmuApp("exact")                       # name shows up in /__admin/health
    app.fault_body = lambda status, req: {...}  # optional: product-shaped body for injected 5xx/429

    @app.route("GET", "/api/v1/{division}/system/Me")
    def me(req):                                # req: Request (see below)
        if req.headers.get("Authorization") is None:
            raise HttpError(401, {"error": "unauthorized"})
        return json_response({"d": {"results": [{"CurrentDivision": int(req.params["division"])}]}})

    @app.admin("POST", "advance_days")          # becomes POST /__admin/advance_days
    def advance(req):
        return {"ok": True}                     # a dict/list is sent as JSON 200

    port = app.start("127.0.0.1", 0)            # background thread; returns the bound port
    ...; app.shutdown()                         # stops the server and closes open connections

Handlers get a Request: .method .path .query (dict of first values) .headers (case-insensitive)
.body (bytes) .json() (parsed, raises HttpError 400 on bad JSON) .params (from {placeholders})
.route (the template that matched, e.g. "POST /accounts/get") .app. They return a Response
(json_response / text_response / Response(...)), a dict/list (JSON 200), or raise HttpError.
Handlers run one at a time under app.lock (set serialize=False to opt out); injected latency and
slow bodies happen outside the lock so one slow answer does not stall the others.

Time: app.clock.now() is wall time plus an offset that tests move with POST /__admin/clock
{"advance": seconds} (or app.clock.advance(s)); use it for every time rule instead of time.time().

Admin API (JSON; when EmuApp(admin_token=...) is set, send header "X-Admin-Token: <token>"):
  GET  /__admin/health                    {"name", "ok": true}
  GET  /__admin/calls                     {"counts": {"POST /accounts/get": 3, ...}, "recent": [...]}
  POST /__admin/reset_calls               zero the counters and the recent-call log
  POST /__admin/fault  {fault}            add a fault rule, returns {"id": n}
  GET  /__admin/faults                    list the active rules with what is left of them
  POST /__admin/faults/clear              remove all rules (DELETE /__admin/fault does the same)
  GET  /__admin/clock, POST /__admin/clock {"advance": s} | {"offset": s}

A fault rule: {"kind": K, "path": glob (fnmatch, default "*"), "method": "POST" (default any),
"count": n (default 1; 0 or null = until cleared), "skip": n (let the first n matching calls
through), ...}. Kinds:
  latency    sleep "delay_ms" before handling, then answer normally
  status     answer "status" (default 500) without running the handler; body = "body" if given,
             else app.fault_body(status, req); optional "headers" (e.g. {"Retry-After": "1"})
  rate_limit same as status with 429
  drop       read the request, then close the socket without running the handler or answering
  lose_answer run the handler (the change is committed), then close without answering
  truncate   run the handler, send the headers with the full Content-Length but only part of the
             body ("keep_bytes", default half), then close
  malformed  run the handler, answer 200 with a body that is not valid JSON
  slow_body  run the handler, then trickle the body "chunk_bytes" (default 16) at a time every
             "chunk_delay_ms" (default 50)
Set "reset": true on drop/lose_answer/truncate to send a TCP RST instead of a clean FIN.
Several latency rules add up; of the other kinds the first matching rule wins.
"""

import fnmatch
import json
import re
import socket
import struct
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MAX_BODY_BYTES = 16 * 1024 * 1024   # a request bigger than this is a client bug; answer 413
MAX_RECENT_CALLS = 2000             # bounded log of recent calls for /__admin/calls
IDLE_TIMEOUT_S = 30                 # keep-alive connections idle longer than this are closed

FAULT_KINDS = ("latency", "status", "rate_limit", "drop", "lose_answer", "truncate",
               "malformed", "slow_body")


class HttpError(Exception):
    """Raise from a handler to answer `status` with JSON `body` (and extra `headers`)."""

    def __init__(self, status, body, headers=None):
        super().__init__("HTTP %d" % status)
        self.status = status
        self.body = body
        self.headers = headers or {}


class Response:
    def __init__(self, status=200, body=b"", content_type="application/json", headers=None):
        self.status = status
        self.body = body if isinstance(body, bytes) else body.encode("utf-8")
        self.headers = {"Content-Type": content_type}
        if headers:
            self.headers.update(headers)


def json_dumps(obj, indent=None):
    # ensure_ascii=False + utf-8: real APIs send UTF-8, and clients must cope with it
    return json.dumps(obj, indent=indent, ensure_ascii=False, separators=None if indent else (",", ":"))


def json_response(obj, status=200, headers=None, indent=None):
    return Response(status, json_dumps(obj, indent).encode("utf-8"), "application/json", headers)


def text_response(text, status=200, content_type="text/plain; charset=utf-8", headers=None):
    return Response(status, text.encode("utf-8"), content_type, headers)


class EmuClock:
    """Wall clock plus an offset that tests move forward instead of sleeping."""

    def __init__(self):
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self):
        with self._lock:
            return time.time() + self._offset

    def advance(self, seconds):
        with self._lock:
            self._offset += float(seconds)

    def set_offset(self, seconds):
        with self._lock:
            self._offset = float(seconds)

    @property
    def offset(self):
        with self._lock:
            return self._offset


class Request:
    def __init__(self, app, method, raw_path, headers, body, client):
        self.app = app
        self.method = method
        parts = urlsplit(raw_path)
        self.path = parts.path
        self.raw_query = parts.query
        self.query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        self.headers = headers
        self.body = body
        self.client = client
        self.params = {}
        self.route = None
        self._json = None

    def json(self):
        """The body parsed as a JSON object; HttpError 400 (via app.bad_json_body) if it is not."""
        if self._json is None:
            try:
                obj = json.loads(self.body.decode("utf-8") if self.body else "")
            except (ValueError, UnicodeDecodeError):
                raise HttpError(400, self.app.bad_json_body(self))
            if not isinstance(obj, dict):
                raise HttpError(400, self.app.bad_json_body(self))
            self._json = obj
        return self._json


class FaultRule:
    def __init__(self, spec, rule_id):
        kind = spec.get("kind")
        if kind not in FAULT_KINDS:
            raise ValueError("fault kind must be one of %s" % ", ".join(FAULT_KINDS))
        self.id = rule_id
        self.kind = kind
        self.path = spec.get("path") or "*"
        self.method = (spec.get("method") or "").upper() or None
        count = spec.get("count", 1)
        self.remaining = int(count) if count else None   # None = until cleared
        self.skip = int(spec.get("skip") or 0)
        self.status = int(spec.get("status") or (429 if kind == "rate_limit" else 500))
        self.body = spec.get("body")
        self.headers = dict(spec.get("headers") or {})
        self.delay_ms = int(spec.get("delay_ms") or 0)
        self.keep_bytes = spec.get("keep_bytes")
        self.chunk_bytes = max(1, int(spec.get("chunk_bytes") or 16))
        self.chunk_delay_ms = int(spec.get("chunk_delay_ms") if spec.get("chunk_delay_ms") is not None else 50)
        self.reset = bool(spec.get("reset"))
        self.fired = 0

    def matches(self, method, path):
        if self.method and self.method != method:
            return False
        return fnmatch.fnmatchcase(path, self.path)

    def describe(self):
        return {"id": self.id, "kind": self.kind, "path": self.path, "method": self.method,
                "remaining": self.remaining, "skip": self.skip, "status": self.status,
                "delay_ms": self.delay_ms, "fired": self.fired}


class FaultRegistry:
    def __init__(self):
        self._rules = []
        self._next_id = 1
        self._lock = threading.Lock()

    def add(self, **spec):
        with self._lock:
            rule = FaultRule(spec, self._next_id)
            self._next_id += 1
            self._rules.append(rule)
            return rule.id

    def clear(self):
        with self._lock:
            self._rules.clear()

    def list(self):
        with self._lock:
            return [r.describe() for r in self._rules]

    def take(self, method, path):
        """Consume matching rules for one call: (total latency ms, the action rule or None)."""
        latency = 0
        action = None
        with self._lock:
            for rule in list(self._rules):
                if not rule.matches(method, path):
                    continue
                if rule.kind != "latency" and action is not None:
                    continue
                if rule.skip > 0:
                    rule.skip -= 1
                    continue
                rule.fired += 1
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._rules.remove(rule)
                if rule.kind == "latency":
                    latency += rule.delay_ms
                else:
                    action = rule
        return latency, action


class CallLog:
    """Per-endpoint call counters plus a bounded log of recent calls."""

    def __init__(self):
        self._lock = threading.Lock()
        self._counts = {}
        self._recent = deque(maxlen=MAX_RECENT_CALLS)

    def record(self, key, entry):
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + 1
            self._recent.append(entry)

    def count(self, key):
        with self._lock:
            return self._counts.get(key, 0)

    def snapshot(self):
        with self._lock:
            return {"counts": dict(self._counts), "recent": list(self._recent)}

    def reset(self):
        with self._lock:
            self._counts.clear()
            self._recent.clear()


_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _compile_template(template):
    pattern = ""
    pos = 0
    for m in _PLACEHOLDER.finditer(template):
        pattern += re.escape(template[pos:m.start()]) + "(?P<%s>[^/]+)" % m.group(1)
        pos = m.end()
    pattern += re.escape(template[pos:])
    return re.compile("^" + pattern + "$")


class EmuApp:
    def __init__(self, name, admin_token=None, serialize=True, verbose=False):
        self.name = name
        self.admin_token = admin_token
        self.serialize = serialize
        self.verbose = verbose
        self.lock = threading.RLock()
        self.clock = EmuClock()
        self.faults = FaultRegistry()
        self.calls = CallLog()
        self._routes = []          # (method, template, regex, handler)
        self._admin_routes = {}    # (method, path) -> handler
        self._server = None
        self._thread = None
        self._conns = set()
        self._conns_lock = threading.Lock()
        self.host = None
        self.port = None
        self._install_admin()

    # ---- hooks a product emulator may replace -------------------------------------------------
    def fault_body(self, status, req):
        """Body of an injected status/rate_limit fault. Override to match the product's errors."""
        return {"error": "injected fault", "status": status}

    def bad_json_body(self, req):
        return {"error": "request body is not a JSON object"}

    def not_found_body(self, req):
        return {"error": "no such endpoint: %s %s" % (req.method, req.path)}

    def internal_error_body(self, req, exc):
        return {"error": "emulator bug: %s" % exc.__class__.__name__}

    # ---- routing -------------------------------------------------------------------------------
    def route(self, method, template):
        def deco(fn):
            self.add_route(method, template, fn)
            return fn
        return deco

    def add_route(self, method, template, fn):
        self._routes.append((method.upper(), template, _compile_template(template), fn))

    def admin(self, method, name):
        def deco(fn):
            self._admin_routes[(method.upper(), "/__admin/" + name.strip("/"))] = fn
            return fn
        return deco

    def _match(self, method, path):
        allowed = False
        for m, template, rx, fn in self._routes:
            mo = rx.match(path)
            if mo:
                if m == method:
                    return fn, template, mo.groupdict(), True
                allowed = True
        return None, None, None, allowed

    # ---- admin API -----------------------------------------------------------------------------
    def _install_admin(self):
        @self.admin("GET", "health")
        def _health(req):
            return {"name": self.name, "ok": True}

        @self.admin("GET", "calls")
        def _calls(req):
            return self.calls.snapshot()

        @self.admin("POST", "reset_calls")
        def _reset_calls(req):
            self.calls.reset()
            return {"ok": True}

        @self.admin("POST", "fault")
        def _fault(req):
            spec = req.json()
            try:
                rid = self.faults.add(**spec)
            except (ValueError, TypeError) as exc:
                raise HttpError(400, {"error": "bad fault rule: %s" % exc})
            return {"id": rid}

        @self.admin("GET", "faults")
        def _faults(req):
            return {"faults": self.faults.list()}

        @self.admin("POST", "faults/clear")
        def _faults_clear(req):
            self.faults.clear()
            return {"ok": True}

        @self.admin("DELETE", "fault")
        def _fault_delete(req):
            self.faults.clear()
            return {"ok": True}

        @self.admin("GET", "clock")
        def _clock(req):
            return {"now": self.clock.now(), "offset": self.clock.offset}

        @self.admin("POST", "clock")
        def _clock_set(req):
            body = req.json()
            try:
                if "offset" in body:
                    self.clock.set_offset(float(body["offset"]))
                if "advance" in body:
                    self.clock.advance(float(body["advance"]))
            except (TypeError, ValueError):
                raise HttpError(400, {"error": "advance/offset must be numbers of seconds"})
            return {"now": self.clock.now(), "offset": self.clock.offset}

    # ---- lifecycle -----------------------------------------------------------------------------
    def start(self, host="127.0.0.1", port=0):
        """Bind and serve from a background thread; returns the bound port (port 0 = any free)."""
        app = self

        class Handler(_EmuHandler):
            emu = app

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False
            allow_reuse_address = True

        if ":" in host:
            Server.address_family = socket.AF_INET6
        self._server = Server((host, port), Handler)
        self.host = host
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="emu-" + self.name,
                                        kwargs={"poll_interval": 0.5}, daemon=True)
        self._thread.start()
        return self.port

    serve = start

    @property
    def url(self):
        host = "[%s]" % self.host if self.host and ":" in self.host else self.host
        return "http://%s:%d" % (host, self.port)

    def shutdown(self):
        if self._server is None:
            return
        # serve_forever notices the stop request only when select() returns: a throw-away
        # connection wakes it now instead of after the poll interval (keeps test teardown fast).
        stopper = threading.Thread(target=self._server.shutdown, daemon=True)
        stopper.start()
        try:
            with socket.create_connection((self.host, self.port), timeout=1):
                pass
        except OSError:
            pass
        stopper.join(timeout=5)
        self._server.server_close()
        with self._conns_lock:
            conns = list(self._conns)
        for c in conns:   # wake keep-alive handler threads so they exit now
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.shutdown()

    # ---- request dispatch (called by the handler) ----------------------------------------------
    def _dispatch(self, req):
        """Run the handler for req; returns a Response. Never raises."""
        fn, template, params, allowed = self._match(req.method, req.path)
        if fn is None:
            status = 405 if allowed else 404
            return json_response(self.not_found_body(req), status), None
        req.params = params
        req.route = "%s %s" % (req.method, template)
        return None, fn

    def _run(self, fn, req):
        try:
            if self.serialize:
                with self.lock:
                    out = fn(req)
            else:
                out = fn(req)
        except HttpError as e:
            body = e.body
            if isinstance(body, (bytes, str)):
                return Response(e.status, body, "application/json", e.headers)
            return json_response(body, e.status, e.headers)
        except Exception as exc:  # an emulator bug must still answer, and say so
            import traceback
            traceback.print_exc()
            return json_response(self.internal_error_body(req, exc), 500)
        if isinstance(out, Response):
            return out
        return json_response(out)


class _EmuHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mlc-sandbox"
    sys_version = ""
    timeout = IDLE_TIMEOUT_S
    emu = None   # set by EmuApp.start

    def setup(self):
        super().setup()
        with self.emu._conns_lock:
            self.emu._conns.add(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            with self.emu._conns_lock:
                self.emu._conns.discard(self.connection)

    def log_message(self, fmt, *args):
        if self.emu.verbose:
            super().log_message(fmt, *args)

    def do_GET(self):
        self._handle()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET

    # -- helpers --
    def _read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            data = bytearray()
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data)
                if len(data) + size > MAX_BODY_BYTES:
                    return None
                data += self.rfile.read(size)
                self.rfile.readline(16)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES or length < 0:
            return None
        return self.rfile.read(length) if length else b""

    def _abort(self, reset):
        """Close the connection without an answer (FIN, or RST when reset is set)."""
        self.close_connection = True
        try:
            self.wfile.flush()
        except OSError:
            pass
        try:
            if reset:
                # Linger 0 + close = RST. The fd really closes once finish() drops the file
                # objects, before socketserver's own shutdown(SHUT_WR) could send a polite FIN.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
            else:
                self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _send(self, resp, body=None, content_length=None):
        body = resp.body if body is None else body
        self.send_response(resp.status)
        for k, v in resp.headers.items():
            self.send_header(k, str(v))
        self.send_header("Content-Length", str(len(resp.body) if content_length is None else content_length))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self):
        app = self.emu
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        if body is None:
            self._send(json_response({"error": "request body too large"}, 413))
            self.close_connection = True
            return
        req = Request(app, self.command, self.path, self.headers, body, self.client_address)

        if req.path.startswith("/__admin/"):
            self._handle_admin(req)
            return

        early, fn = app._dispatch(req)
        key = req.route or "%s %s" % (req.method, req.path)
        latency, rule = app.faults.take(req.method, req.path)
        entry = {"t": round(app.clock.now(), 3), "method": req.method, "path": req.path,
                 "route": key, "fault": rule.kind if rule else None}
        app.calls.record(key, entry)
        if latency:
            time.sleep(latency / 1000.0)

        if rule is not None and rule.kind in ("status", "rate_limit"):
            fbody = rule.body if rule.body is not None else app.fault_body(rule.status, req)
            resp = json_response(fbody, rule.status, rule.headers) if not isinstance(fbody, (str, bytes)) \
                else Response(rule.status, fbody, "application/json", rule.headers)
            entry["status"] = resp.status
            self._send(resp)
            return
        if rule is not None and rule.kind == "drop":
            entry["status"] = None
            self._abort(rule.reset)
            return

        resp = early if early is not None else app._run(fn, req)
        entry["status"] = resp.status

        if rule is None:
            self._send(resp)
        elif rule.kind == "lose_answer":
            entry["status"] = None
            self._abort(rule.reset)
        elif rule.kind == "truncate":
            keep = rule.keep_bytes if rule.keep_bytes is not None else len(resp.body) // 2
            keep = max(0, min(int(keep), max(0, len(resp.body) - 1)))
            self._send(resp, body=resp.body[:keep])
            self._abort(rule.reset)
        elif rule.kind == "malformed":
            bad = resp.body[: max(1, len(resp.body) // 2)] + b"\x00}{,\"oops"
            self._send(Response(200, bad, "application/json"))
        elif rule.kind == "slow_body":
            self.send_response(resp.status)
            for k, v in resp.headers.items():
                self.send_header(k, str(v))
            self.send_header("Content-Length", str(len(resp.body)))
            self.end_headers()
            try:
                for i in range(0, len(resp.body), rule.chunk_bytes):
                    self.wfile.write(resp.body[i:i + rule.chunk_bytes])
                    self.wfile.flush()
                    time.sleep(rule.chunk_delay_ms / 1000.0)
            except OSError:
                self.close_connection = True
        else:
            self._send(resp)

    def _handle_admin(self, req):
        app = self.emu
        if app.admin_token is not None:
            import hmac
            given = req.headers.get("X-Admin-Token") or ""
            if not hmac.compare_digest(given.encode(), app.admin_token.encode()):
                self._send(json_response({"error": "admin API needs header X-Admin-Token"}, 401))
                return
        fn = app._admin_routes.get((req.method, req.path.rstrip("/")))
        if fn is None:
            known = sorted("%s %s" % k for k in app._admin_routes)
            self._send(json_response({"error": "unknown admin endpoint", "known": known}, 404))
            return
        self._send(app._run(fn, req))
