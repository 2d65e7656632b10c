"""The .deb package end to end: build it with CPack, check what is inside, verify the systemd
unit, then install, upgrade and purge it on this machine with dpkg.

What an installer relies on:
  - the package holds the program, the unit, the udev rule, the man page and the example config,
    and nothing in /etc or /var (the config is copied by postinst only when absent);
  - install creates the mlc user and a private /var/lib/mlc, and writes /etc/mlc/mlc.conf once;
  - an upgrade keeps the data dir and an edited config;
  - purge asks nothing and removes only what the package added: a data dir holding the agent's
    store is financial data and stays (postrm says so), and so does the user that owns it.

The package is built in MLC_PKG_BUILD_DIR if set (a configured build dir), else next to MLC_BIN
if that is a CMake build dir, else in build/pkg-test. Installing needs root and a machine where
no mlc package, user or directory exists yet (a sandbox or CI container): otherwise those tests
skip with the reason.
"""
import os
import pathlib
import pwd
import shutil
import stat
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    not (shutil.which("dpkg") and shutil.which("dpkg-deb") and shutil.which("cpack")),
    reason="dpkg, dpkg-deb or cpack is missing: not a Debian build machine")


def run(argv, check=True, **kw):
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        pytest.fail(f"{' '.join(map(str, argv))} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


def build_dir():
    if os.environ.get("MLC_PKG_BUILD_DIR"):
        return pathlib.Path(os.environ["MLC_PKG_BUILD_DIR"]).resolve()
    if os.environ.get("MLC_BIN"):
        d = pathlib.Path(os.environ["MLC_BIN"]).resolve().parent
        if (d / "CMakeCache.txt").exists():
            return d
    d = ROOT / "build" / "pkg-test"
    run(["cmake", "-S", ROOT, "-B", d, "-DCMAKE_BUILD_TYPE=RelWithDebInfo", "-DMLC_TESTS=OFF"])
    run(["cmake", "--build", d, "-j", str(os.cpu_count() or 2), "--target", "mlc"])
    return d


@pytest.fixture(scope="module")
def deb(tmp_path_factory):
    d = build_dir()
    run(["cmake", d])  # pick up packaging changes
    out = tmp_path_factory.mktemp("deb")
    run(["cpack", "-G", "DEB", "-B", out], cwd=d, timeout=600)
    debs = sorted(out.glob("mlc_*.deb"))
    assert len(debs) == 1, f"expected one mlc_*.deb in {out}, got {debs}"
    return debs[0]


def contents(deb_path):
    r = run(["dpkg-deb", "-c", deb_path])
    # "drwxr-xr-x root/root 0 2026-11-25 15:09 ./usr/bin/" -> "/usr/bin"
    return {line.split(None, 5)[5].lstrip(".").rstrip("/") for line in r.stdout.splitlines()}


def field(deb_path, name):
    return run(["dpkg-deb", "-f", deb_path, name]).stdout.strip()


def test_package_holds_what_an_installer_needs(deb, tmp_path):
    files = contents(deb)
    for f in ["/usr/bin/mlc", "/usr/lib/systemd/system/mlc.service",
              "/usr/lib/udev/rules.d/60-mlc-leds.rules", "/usr/share/man/man8/mlc.8.gz",
              "/usr/share/mlc/mlc.conf.example"]:
        assert f in files, f"{f} missing from the package: {sorted(files)}"
    # nothing dpkg would treat as a conffile or own in the data dir
    assert not [f for f in files if f.startswith(("/etc", "/var"))], sorted(files)
    # no test programs or build leftovers
    assert [f for f in files if f.startswith("/usr/bin/")] == ["/usr/bin/mlc"]

    assert field(deb, "Package") == "mlc"
    arch = run(["dpkg", "--print-architecture"]).stdout.strip()
    assert field(deb, "Architecture") == arch, "a native build must make a native package"
    depends = field(deb, "Depends")
    for lib in ["libcurl4", "libmbedtls14", "libmbedcrypto7", "libmbedx509-1", "libcjson1",
                "liblmdb0"]:
        assert lib in depends, f"{lib} missing from Depends: {depends}"
    assert deb.name == f"mlc_{field(deb, 'Version')}_{arch}.deb"

    ctl = tmp_path / "ctl"
    run(["dpkg-deb", "-e", deb, ctl])
    for script in ["postinst", "prerm", "postrm"]:
        mode = (ctl / script).stat().st_mode
        assert mode & stat.S_IXUSR, f"{script} is not executable"
    assert not (ctl / "conffiles").exists() or not (ctl / "conffiles").read_text().strip()


def test_unit_is_hardened_and_notify_typed(deb, tmp_path):
    x = tmp_path / "x"
    run(["dpkg-deb", "-x", deb, x])
    unit = (x / "usr/lib/systemd/system/mlc.service").read_text()
    lines = {ln.split("=", 1)[0]: ln.split("=", 1)[1] for ln in unit.splitlines()
             if "=" in ln and not ln.startswith("#")}
    assert lines["Type"] == "notify"
    assert lines["ExecStart"] == "/usr/bin/mlc --config /etc/mlc/mlc.conf run"
    assert lines["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert lines["User"] == "mlc"
    assert lines["ProtectSystem"] == "strict"
    assert lines["ReadWritePaths"] == "/var/lib/mlc"
    assert lines["NoNewPrivileges"] == "yes"
    assert lines["PrivateTmp"] == "yes"
    assert lines["Restart"] == "on-failure"
    assert "RestartSec" in lines and "WatchdogSec" in lines
    assert "78" in lines["RestartPreventExitStatus"].split()


@pytest.fixture
def clean_machine():
    if os.geteuid() != 0:
        pytest.skip("installing the package needs root (run in a sandbox or CI container)")
    if run(["dpkg-query", "-W", "mlc"], check=False).returncode == 0:
        pytest.skip("an mlc package is installed on this machine; not touching it")
    for p in ["/var/lib/mlc", "/etc/mlc"]:
        if os.path.exists(p):
            pytest.skip(f"{p} exists on this machine; not touching it")
    try:
        pwd.getpwnam("mlc")
        pytest.skip("a user mlc exists on this machine; not touching it")
    except KeyError:
        pass
    yield
    # leave the machine as found, whatever the test did
    run(["dpkg", "--purge", "mlc"], check=False)
    shutil.rmtree("/var/lib/mlc", ignore_errors=True)
    shutil.rmtree("/etc/mlc", ignore_errors=True)
    run(["userdel", "mlc"], check=False)
    run(["groupdel", "mlc"], check=False)


def bumped(deb_path, tmp_path):
    """The same package with a higher version, to drive dpkg's upgrade path."""
    tree = tmp_path / "tree"
    run(["dpkg-deb", "-R", deb_path, tree])
    control = tree / "DEBIAN" / "control"
    text = control.read_text()
    version = field(deb_path, "Version")
    control.write_text(text.replace(f"Version: {version}\n", f"Version: {version}+1\n"))
    out = tmp_path / "mlc_upgrade.deb"
    run(["dpkg-deb", "--root-owner-group", "-b", tree, out])
    return out


def test_install_upgrade_purge_keeps_financial_data(deb, tmp_path, clean_machine):
    # something of the installer's own in /etc/mlc before the package arrives
    os.makedirs("/etc/mlc")
    pathlib.Path("/etc/mlc/site-notes.txt").write_text("ours\n")

    r = run(["dpkg", "-i", deb])
    user = pwd.getpwnam("mlc")
    st = os.stat("/var/lib/mlc")
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == user.pw_uid
    conf = pathlib.Path("/etc/mlc/mlc.conf")
    assert conf.read_text() == pathlib.Path("/usr/share/mlc/mlc.conf.example").read_text()
    assert stat.S_IMODE(conf.stat().st_mode) == 0o640
    assert "/etc/mlc/mlc.conf" in r.stdout
    # the dynamic build's libraries are all there
    v = run(["/usr/bin/mlc", "version"])
    assert v.stdout.strip()
    # the installed program parses the installed config
    cfg_check = run(["/usr/bin/mlc", "--config", conf, "--data-dir", tmp_path / "d", "version"])
    assert cfg_check.returncode == 0

    # the agent has made its store; the installer has tuned the config
    store = pathlib.Path("/var/lib/mlc/data.mdb")
    store.write_bytes(b"ledger state")
    os.chown(store, user.pw_uid, user.pw_gid)
    with conf.open("a") as f:
        f.write("\n[board]\nprofile = raspberry-pi\n")
    edited = conf.read_text()

    run(["dpkg", "-i", bumped(deb, tmp_path)])
    assert store.read_bytes() == b"ledger state", "an upgrade must keep the data dir"
    assert conf.read_text() == edited, "an upgrade must keep the installer's config"
    assert pwd.getpwnam("mlc").pw_uid == user.pw_uid
    assert stat.S_IMODE(os.stat("/var/lib/mlc").st_mode) == 0o700

    r = run(["dpkg", "--purge", "mlc"])
    out = r.stdout + r.stderr
    assert not os.path.exists("/usr/bin/mlc")
    assert store.read_bytes() == b"ledger state", "purge must never delete financial records"
    assert "kept /var/lib/mlc" in out, out
    assert pwd.getpwnam("mlc").pw_uid == user.pw_uid, "kept data keeps its owner"
    assert conf.read_text() == edited and "kept /etc/mlc/mlc.conf" in out, out
    assert pathlib.Path("/etc/mlc/site-notes.txt").read_text() == "ours\n"


def test_installed_unit_passes_systemd_analyze(deb, clean_machine):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is missing (no systemd on this machine)")
    run(["dpkg", "-i", deb])  # verify checks that ExecStart's program exists
    va = run(["systemd-analyze", "verify", "/usr/lib/systemd/system/mlc.service"], check=False)
    # Documentation=man:mlc(8) resolves only where man-db is installed; every other finding counts
    problems = [ln for ln in (va.stdout + va.stderr).splitlines()
                if "mlc.service" in ln and "man mlc(8)" not in ln]
    assert va.returncode == 0 or not problems, va.stdout + va.stderr
    assert not problems, "\n".join(problems)


def test_purge_of_an_unused_install_leaves_nothing_behind(deb, clean_machine):
    run(["dpkg", "-i", deb])
    assert os.path.isdir("/var/lib/mlc")
    run(["dpkg", "-r", "mlc"])
    # remove (not purge) keeps config and data dir
    assert os.path.exists("/etc/mlc/mlc.conf") and os.path.isdir("/var/lib/mlc")
    r = run(["dpkg", "--purge", "mlc"])
    assert not os.path.exists("/var/lib/mlc")
    assert not os.path.exists("/etc/mlc")
    with pytest.raises(KeyError):
        pwd.getpwnam("mlc")
    assert "kept" not in r.stdout
    # and it can come back cleanly
    run(["dpkg", "-i", deb])
    assert os.path.exists("/etc/mlc/mlc.conf")
