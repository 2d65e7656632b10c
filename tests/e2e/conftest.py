"""Fixtures for end-to-end tests: the real mlc binary with a private data dir and config, and the
sandbox emulators (tools/sandbox/sandbox.py) as a subprocess on free ports, stopped by its PID.

    sandbox          function scope: a fresh world per test
    sandbox_module   module scope: one world shared by a module's tests (faster; tests must not
                     depend on each other's changes to it)
    sandbox_factory  start(**opts) as many sandboxes as a test needs
    mlc_sandbox      `mlc` initialised against `sandbox`: config points at the emulators, the
                     sandbox credentials are in the vault; .sandbox is the SandboxProcess

Options come from a marker on the test or module: @pytest.mark.sandbox(seed=7, months=1,
txns=None, exact_opts={"time_scale": 0.01}, plaid_opts={"rate_window_s": 1}). When a test fails,
the log of every sandbox it used is added to the report.
"""
import os
import pathlib
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]


def mlc_binary():
    # absolute, so tests that run mlc from another working directory find it too
    path = os.path.abspath(os.environ.get("MLC_BIN") or str(ROOT / "build" / "ci" / "mlc"))
    if not os.path.exists(path):
        pytest.skip(f"mlc binary not built at {path}; run tools/run-tests.sh")
    return path


class Mlc:
    """Runs `mlc --config CONF --data-dir DATA ...` and returns the CompletedProcess."""

    def __init__(self, tmp_path):
        self.bin = mlc_binary()
        self.home = tmp_path
        self.config = tmp_path / "mlc.conf"
        self.data = tmp_path / "data"

    def __call__(self, *args, stdin=None, env=None, timeout=60, global_opts=True):
        argv = [self.bin]
        if global_opts:
            argv += ["--config", str(self.config), "--data-dir", str(self.data)]
        argv += [str(a) for a in args]
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        return subprocess.run(argv, input=stdin, capture_output=True, text=True,
                              timeout=timeout, env=full_env)


@pytest.fixture
def mlc(tmp_path):
    return Mlc(tmp_path)


# ---- sandbox fixtures -------------------------------------------------------------------------------

# Small by default: two months of history start in about a second.
SANDBOX_DEFAULTS = {"seed": 42, "months": 2}


def pytest_configure(config):
    config.addinivalue_line("markers", "sandbox(seed, months, txns, exact_opts, plaid_opts): "
                            "options for the sandbox fixtures")


def sandbox_options(node, **override):
    opts = dict(SANDBOX_DEFAULTS)
    marker = node.get_closest_marker("sandbox")
    if marker is not None:
        opts.update(marker.kwargs)
    opts.update(override)
    return opts


class SandboxFactory:
    """Starts sandboxes in numbered directories below `base`; stop_all() stops each by its PID."""

    def __init__(self, base, defaults):
        self.base = pathlib.Path(base)
        self.defaults = defaults
        self.sandboxes = []

    def __call__(self, **opts):
        full = dict(self.defaults)
        full.update(opts)
        sb = harness.SandboxProcess(self.base / ("sandbox-%d" % len(self.sandboxes)), **full)
        self.sandboxes.append(sb)
        return sb.start()

    def stop_all(self):
        for sb in self.sandboxes:
            sb.stop()


@pytest.fixture
def sandbox_factory(request, tmp_path):
    factory = SandboxFactory(tmp_path, sandbox_options(request.node))
    yield factory
    factory.stop_all()


@pytest.fixture
def sandbox(request, tmp_path):
    sb = harness.SandboxProcess(tmp_path / "sandbox", **sandbox_options(request.node))
    sb.start()
    yield sb
    sb.stop()


@pytest.fixture(scope="module")
def sandbox_module(request, tmp_path_factory):
    sb = harness.SandboxProcess(tmp_path_factory.mktemp("sandbox"), **sandbox_options(request.node))
    sb.start()
    yield sb
    sb.stop()


@pytest.fixture
def mlc_sandbox(mlc, sandbox):
    mlc.status_url = harness.configure_mlc(mlc, sandbox)
    mlc.sandbox = sandbox
    return mlc


def _sandboxes_of(value):
    if isinstance(value, harness.SandboxProcess):
        return [value]
    if isinstance(value, SandboxFactory):
        return list(value.sandboxes)
    sb = getattr(value, "sandbox", None)
    return [sb] if isinstance(sb, harness.SandboxProcess) else []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    seen = set()
    for value in getattr(item, "funcargs", {}).values():
        for sb in _sandboxes_of(value):
            if id(sb) in seen:
                continue
            seen.add(id(sb))
            rep.sections.append(("sandbox log (pid %s, %s)" % (sb.pid, sb.log_path), sb.log_tail()))
