"""Fixtures for end-to-end tests: the real mlc binary with a private data dir and config."""
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def mlc_binary():
    path = os.environ.get("MLC_BIN") or str(ROOT / "build" / "ci" / "mlc")
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
