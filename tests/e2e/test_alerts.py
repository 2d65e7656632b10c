"""Alerts leave the box as a bookkeeper needs them: e-mail only over TLS (STARTTLS for real, with a
test CA), a JSON POST to a URL, one notice per problem, and a failed delivery kept for later.

The SMTP and HTTP sinks run in this process on free loopback ports and are stopped through their
objects. The SMTP sink speaks just enough ESMTP: EHLO, STARTTLS (a certificate from a throw-away
CA made with python3-cryptography), AUTH PLAIN, MAIL, RCPT, DATA, QUIT."""
import base64
import datetime
import ipaddress
import json
import socket
import socketserver
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

SMTP_USER = "mlc-agent"
SMTP_PASSWORD = "s3cret-mail-pass"


# ---- a throw-away CA and server certificate for 127.0.0.1 ---------------------------------------

def make_certs(dirpath):
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mlc test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                         critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           False)
            .sign(ca_key, hashes.SHA256()))
    ca_path, cert_path, key_path = dirpath / "ca.pem", dirpath / "server.pem", dirpath / "server.key"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return ca_path, cert_path, key_path


# ---- SMTP sink --------------------------------------------------------------------------------

class SmtpSink:
    """Records each message with whether it came over TLS and who logged in. starttls=False is a
    server that never offers STARTTLS (the agent must then send nothing)."""

    def __init__(self, cert=None, key=None, starttls=True):
        self.messages = []
        self.commands = []
        self.lock = threading.Lock()
        self.tls_ctx = None
        if starttls:
            self.tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls_ctx.load_cert_chain(str(cert), str(key))
        sink = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                sink._session(self.request)

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def _session(self, sock):
        sock.settimeout(10)
        f = sock.makefile("rb")
        tls, user, mail_from, rcpts = False, None, None, []

        def say(line):
            sock.sendall(line.encode() + b"\r\n")

        say("220 sink ESMTP")
        try:
            while True:
                raw = f.readline(4096)
                if not raw:
                    return
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                verb = line.split(" ", 1)[0].upper()
                with self.lock:
                    self.commands.append((tls, verb))
                if verb in ("EHLO", "HELO"):
                    ext = []
                    if self.tls_ctx and not tls:
                        ext.append("STARTTLS")
                    if tls:
                        ext.append("AUTH PLAIN")
                    ext.append("8BITMIME")
                    say("250-sink")
                    for i, e in enumerate(ext):
                        say(("250 " if i == len(ext) - 1 else "250-") + e)
                elif verb == "STARTTLS" and self.tls_ctx and not tls:
                    say("220 go ahead")
                    sock = self.tls_ctx.wrap_socket(sock, server_side=True)
                    f = sock.makefile("rb")
                    tls = True
                elif verb == "AUTH":
                    parts = line.split(" ")
                    if len(parts) == 2:
                        say("334 ")
                        parts.append(f.readline(4096).decode().strip())
                    blob = base64.b64decode(parts[2]).split(b"\0")
                    if tls and blob[1:] == [SMTP_USER.encode(), SMTP_PASSWORD.encode()]:
                        user = SMTP_USER
                        say("235 ok")
                    else:
                        say("535 no")
                elif verb == "MAIL":
                    mail_from = line[10:].strip()
                    say("250 ok")
                elif verb == "RCPT":
                    rcpts.append(line[8:].strip())
                    say("250 ok")
                elif verb == "DATA":
                    say("354 go")
                    data = b""
                    while not data.endswith(b"\r\n.\r\n"):
                        chunk = f.readline(65536)
                        if not chunk:
                            return
                        data += chunk
                    with self.lock:
                        self.messages.append({"tls": tls, "user": user, "from": mail_from,
                                              "rcpt": list(rcpts), "data": data[:-5].decode()})
                    rcpts = []
                    say("250 queued")
                elif verb == "QUIT":
                    say("221 bye")
                    return
                elif verb in ("RSET", "NOOP"):
                    say("250 ok")
                else:
                    say("502 not here")
        except (OSError, ssl.SSLError):
            return


# ---- HTTP sink --------------------------------------------------------------------------------

class HttpSink:
    """Records POSTed JSON; status is what it answers (500 = a receiver that is down)."""

    def __init__(self, status=200):
        self.status = status
        self.posts = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                sink.posts.append({"type": self.headers.get("Content-Type"),
                                   "json": json.loads(body), "status": sink.status})
                self.send_response(sink.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def delivered(self):
        return [p["json"] for p in self.posts if p["status"] < 300]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def certs(tmp_path):
    return make_certs(tmp_path)


@pytest.fixture
def sinks(certs):
    made = []

    def start(kind, **kw):
        s = SmtpSink(certs[1], certs[2], **kw) if kind == "smtp" else HttpSink(**kw)
        made.append(s)
        return s

    yield start
    for s in made:
        s.stop()


def configure(mlc, ca, smtp=None, hook=None, user=True):
    r = mlc("init")
    assert r.returncode == 0, r.stderr
    text = "[agent]\ndata_dir = %s\nca_bundle = %s\n\n[alerts]\n" % (mlc.data, ca)
    if smtp:
        text += ("email_to = office@example.com, it@example.com\nemail_from = mlc@example.com\n"
                 "smtp_url = smtp://127.0.0.1:%d\n" % smtp.port)
        if user:
            text += "smtp_user = %s\n" % SMTP_USER
    if hook:
        text += "webhook_url = %s\n" % hook.url
    mlc.config.write_text(text)
    if smtp and user:
        r = mlc("secret", "set", "smtp.password", stdin=SMTP_PASSWORD + "\n")
        assert r.returncode == 0, r.stderr


def test_test_alert_goes_out_by_starttls_mail_and_webhook(mlc, certs, sinks):
    smtp, hook = sinks("smtp"), sinks("http")
    configure(mlc, certs[0], smtp, hook)
    r = mlc("alerts", "test")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ok    e-mail to" in r.stdout and "ok    POST to" in r.stdout
    # the test alert and its all-clear, each once, each over TLS after a login
    assert len(smtp.messages) == 2
    for m in smtp.messages:
        assert m["tls"] and m["user"] == SMTP_USER
        assert m["from"] == "<mlc@example.com>"
        assert m["rcpt"] == ["<office@example.com>", "<it@example.com>"]
        head = m["data"].split("\r\n\r\n", 1)[0]
        assert "\r\nSubject: [mlc] " in head and "\r\nMessage-ID: <" in head
    assert "test alert" in smtp.messages[0]["data"]
    assert "Resolved" in smtp.messages[1]["data"]
    # no command but EHLO/STARTTLS before the TLS layer was up: nothing leaked in plain text
    assert {v for tls, v in smtp.commands if not tls} <= {"EHLO", "STARTTLS"}
    assert [p["json"]["event"] for p in hook.posts] == ["alert.raised", "alert.resolved"]
    assert hook.posts[0]["type"] == "application/json"
    assert hook.posts[0]["json"]["kind"] == "test"
    assert SMTP_PASSWORD not in r.stdout + r.stderr


def test_a_server_without_starttls_gets_no_mail(mlc, certs, sinks):
    smtp, hook = sinks("smtp", starttls=False), sinks("http")
    configure(mlc, certs[0], smtp, hook, user=False)
    r = mlc("alerts", "test")
    assert r.returncode == 69, r.stdout + r.stderr
    assert "FAIL  e-mail to" in r.stdout and "STARTTLS" in r.stdout
    assert smtp.messages == []
    assert not any(v in ("MAIL", "RCPT", "DATA", "AUTH") for _, v in smtp.commands)
    # the other channel is not held back by the broken one
    assert "ok    POST to" in r.stdout
    assert [p["json"]["event"] for p in hook.posts] == ["alert.raised", "alert.resolved"]


def test_an_untrusted_certificate_is_refused(mlc, tmp_path, certs, sinks):
    smtp = sinks("smtp")
    (tmp_path / "other").mkdir()
    other_ca = make_certs(tmp_path / "other")[0]  # a CA that did not sign the sink's certificate
    configure(mlc, other_ca, smtp)
    r = mlc("alerts", "test")
    assert r.returncode == 69
    assert "not trusted" in r.stdout
    assert smtp.messages == []


def test_open_alert_is_sent_once_kept_while_failing_and_listed(mlc, certs, sinks):
    hook = sinks("http", status=500)
    configure(mlc, certs[0], hook=hook)
    # a fresh agent is not connected to Exact: that is an alert needing a person
    r = mlc("alerts", "send")
    assert r.returncode == 69, r.stdout + r.stderr
    assert "1 failed" in r.stdout
    r = mlc("alerts")
    assert r.returncode == 69
    assert "exact_consent" in r.stdout and "fix: mlc exact connect" in r.stdout
    assert "delivery failed 1 time" in r.stdout and "HTTP 500" in r.stdout
    assert len(hook.posts) == 1
    # the receiver is back, but the retry waits for its backoff: nothing is hammered
    hook.status = 200
    r = mlc("alerts", "send")
    assert r.returncode == 0 and "sent 0" in r.stdout
    assert len(hook.posts) == 1


def test_alert_is_not_repeated_by_later_runs(mlc, certs, sinks):
    hook = sinks("http")
    configure(mlc, certs[0], hook=hook)
    for _ in range(3):
        r = mlc("alerts", "send")
        assert r.returncode == 0, r.stdout + r.stderr
    assert [d["kind"] for d in hook.delivered] == ["exact_consent"]
    doc = hook.delivered[0]
    assert doc["event"] == "alert.raised" and doc["severity"] == "needs-person"
    assert doc["action"] == "mlc exact connect"
    assert doc["resolved_at"] is None


def test_half_configured_mail_is_refused_with_the_fix(mlc, certs):
    configure(mlc, certs[0])
    mlc.config.write_text(mlc.config.read_text() + "email_to = office@example.com\n")
    r = mlc("alerts", "test")
    assert r.returncode == 78
    assert r.stderr.count("\n") == 1 and "email_from" in r.stderr
    mlc.config.write_text(mlc.config.read_text().replace("email_to", "smtp_url = https://x.example\n#"))
    r = mlc("alerts", "test")
    assert r.returncode == 78 and "smtp:// or smtps://" in r.stderr


def test_no_channel_is_a_config_error_for_the_test(mlc, certs):
    configure(mlc, certs[0])
    r = mlc("alerts", "test")
    assert r.returncode == 78 and "webhook_url" in r.stderr
    r = mlc("alerts")
    assert r.returncode == 0 and "no open alerts" in r.stdout


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_mail_server_fails_quickly_with_a_reason(mlc, certs):
    r = mlc("init")
    assert r.returncode == 0
    mlc.config.write_text("[agent]\ndata_dir = %s\n[alerts]\nemail_to = a@example.com\n"
                          "email_from = m@example.com\nsmtp_url = smtp://127.0.0.1:%d\n"
                          % (mlc.data, _free_port()))
    r = mlc("alerts", "test", timeout=40)
    assert r.returncode == 69
    assert "could not be reached" in r.stdout
