"""Sandbox launcher: the Plaid and Exact Online emulators in one process, on two loopback ports.

    /usr/bin/python3 tools/sandbox/sandbox.py --seed 42 --months 24 --port-file /tmp/sandbox.json

Prints one line "plaid=URL exact=URL ..." (flushed) once both listen, optionally writes the same
facts as JSON to --port-file (written to a temp file and renamed, so a reader never sees half of
it), then serves until SIGTERM or SIGINT. Both emulators share one world: the Exact seed gets a bank
journal for every account the Plaid world has (world.bank_accounts()).
"""

import argparse
import json
import os
import secrets
import signal
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from plaid_emulator import PlaidEmulator  # noqa: E402


def _load_exact():
    """(exact_emulator module, exact_seed module), or (None, reason) while Exact is not there."""
    try:
        import exact_emulator
        import exact_seed
    except ImportError as e:
        return None, str(e)
    return exact_emulator, exact_seed


class Sandbox:
    """Both emulators, started and stopped together (also used by the pytest fixtures)."""

    def __init__(self, seed=42, months=24, txn_count=None, today=None, host="127.0.0.1",
                 plaid_port=0, exact_port=0, with_exact=True, admin_token=None, plaid_opts=None,
                 exact_opts=None):
        self.host = host
        self.plaid = PlaidEmulator(seed=seed, months=months, txn_count=txn_count, today=today,
                                   admin_token=admin_token, **(plaid_opts or {}))
        self.exact = None
        self.exact_error = None
        self._ports = (plaid_port, exact_port)
        if with_exact:
            mod, seed_mod = _load_exact()
            if mod is None:
                self.exact_error = seed_mod
            else:
                exact_seed = seed_mod.default_seed(self.plaid.world.bank_accounts())
                opts = dict(exact_opts or {})
                opts.setdefault("admin_token", admin_token)
                self.exact = mod.ExactEmulator(exact_seed, **opts)

    def start(self):
        self.plaid.start(self.host, self._ports[0])
        if self.exact is not None:
            try:
                self.exact.serve(self.host, self._ports[1])
            except Exception:
                self.plaid.shutdown()
                raise
        return self

    @property
    def exact_url(self):
        if self.exact is None:
            return None
        url = getattr(self.exact, "url", None)
        if url:
            return url
        port = getattr(self.exact, "port", None)
        return "http://%s:%d" % (self.host, port) if port else None

    def info(self):
        out = {"pid": os.getpid(), "plaid": self.plaid.url, "plaid_client_id": self.plaid.client_id,
               "plaid_secret": self.plaid.secret, "seed": self.plaid.world.seed,
               "today": self.plaid.world.today.isoformat(), "exact": self.exact_url,
               "admin_token": self.plaid.app.admin_token,
               "bank_accounts": self.plaid.world.bank_accounts()}
        if self.exact is not None:
            for name in ("client_id", "client_secret", "redirect_uri", "webhook_secret"):
                val = getattr(self.exact, name, None)
                if isinstance(val, (str, int)) or val is None and hasattr(self.exact, name):
                    out["exact_" + name] = val
        if self.exact_error:
            out["exact_error"] = self.exact_error
        return out

    def shutdown(self):
        if self.exact is not None:
            self.exact.shutdown()
        self.plaid.shutdown()


def write_port_file(path, info):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(info, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def _extra_options(extra):
    """Unknown --kebab-case flags: '--plaid-x-y V' -> Plaid option x_y, any other '--x-y V' ->
    Exact option x_y. V is parsed as JSON when it can be (0.01, true, [..]); a flag with no value is True."""
    plaid, exact = {}, {}
    i = 0
    while i < len(extra):
        flag = extra[i]
        if not flag.startswith("--") or len(flag) < 3:
            raise SystemExit("sandbox: unexpected argument %r (options look like --time-scale 0.01)" % flag)
        name, _, value = flag[2:].partition("=")
        if not _:
            if i + 1 < len(extra) and not extra[i + 1].startswith("--"):
                value = extra[i + 1]
                i += 1
            else:
                value = "true"
        try:
            value = json.loads(value)
        except ValueError:
            pass
        key = name.replace("-", "_")
        if key.startswith("plaid_"):
            plaid[key[len("plaid_"):]] = value
        else:
            exact[key] = value
        i += 1
    return plaid, exact


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Start the Plaid and Exact Online emulators on loopback.",
        epilog="Other --kebab-case options go to the Exact emulator (e.g. --time-scale 0.01 --minutely-limit 5); "
               "--plaid-<option> goes to the Plaid emulator (e.g. --plaid-rate-window-s 1 --plaid-not-ready-syncs 2).")
    ap.add_argument("--seed", type=int, default=42, help="world seed (same seed, same data)")
    ap.add_argument("--months", type=int, default=24, help="months of transaction history (default 24)")
    ap.add_argument("--txns", type=int, default=None, help="total transactions (e.g. 100000 for benchmarks)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--plaid-port", type=int, default=0, help="0 = any free port")
    ap.add_argument("--exact-port", type=int, default=0, help="0 = any free port")
    ap.add_argument("--port-file", help="write URLs and credentials as JSON to this file")
    ap.add_argument("--admin-token", default=None,
                    help="require this X-Admin-Token on /__admin/ ('random' makes one up)")
    ap.add_argument("--no-exact", action="store_true", help="run the Plaid emulator only")
    ap.add_argument("--verbose", action="store_true")
    args, extra = ap.parse_known_args(argv)
    plaid_opts, exact_opts = _extra_options(extra)
    plaid_opts.setdefault("verbose", args.verbose)

    token = secrets.token_hex(16) if args.admin_token == "random" else args.admin_token
    try:
        sb = Sandbox(seed=args.seed, months=args.months, txn_count=args.txns, host=args.host,
                     plaid_port=args.plaid_port, exact_port=args.exact_port,
                     with_exact=not args.no_exact, admin_token=token,
                     plaid_opts=plaid_opts, exact_opts=exact_opts).start()
    except TypeError as e:
        print("sandbox: unknown emulator option: %s" % e, file=sys.stderr)
        return 2
    except OSError as e:
        print("sandbox: cannot listen on %s: %s (pick other ports or use 0)" % (args.host, e), file=sys.stderr)
        return 2
    info = sb.info()
    line = "plaid=%s  exact=%s  plaid_client_id=%s  plaid_secret=%s" % (
        info["plaid"], info["exact"] or "-", info["plaid_client_id"], info["plaid_secret"])
    if token:
        line += "  admin_token=%s" % token
    for k in ("exact_client_id", "exact_client_secret"):
        if info.get(k):
            line += "  %s=%s" % (k, info[k])
    print(line, flush=True)
    if sb.exact_error:
        print("sandbox: Exact emulator not started: %s" % sb.exact_error, file=sys.stderr, flush=True)
    if args.port_file:
        write_port_file(args.port_file, info)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    while not stop.wait(1.0):
        pass
    sb.shutdown()
    if args.port_file:
        try:
            os.unlink(args.port_file)
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
