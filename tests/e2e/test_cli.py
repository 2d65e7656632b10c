"""The command line as an installer meets it: help, exit codes, init, config errors, secrets."""
import os
import stat
import subprocess


def test_help_lists_commands_and_exit_codes(mlc):
    r = mlc("--help", global_opts=False)
    assert r.returncode == 0
    for word in ("init", "version", "secret set", "secret list", "key rotate", "store check"):
        assert word in r.stdout
    assert "78" in r.stdout and "64" in r.stdout


def test_command_help_and_usage_errors(mlc):
    r = mlc("secret", "set", "--help", global_opts=False)
    assert r.returncode == 0
    assert "stdin" in r.stdout.lower() or "standard input" in r.stdout.lower()
    r = mlc("frobnicate", global_opts=False)
    assert r.returncode == 64
    assert "frobnicate" in r.stderr and "--help" in r.stderr
    assert r.stderr.count("\n") == 1
    r = mlc("--config", global_opts=False)
    assert r.returncode == 64
    r = mlc(global_opts=False)
    assert r.returncode == 64


def test_version_names_dependencies(mlc):
    r = mlc("version", global_opts=False)
    assert r.returncode == 0
    for lib in ("ml-connector", "libcurl", "mbedTLS", "cJSON", "LMDB", "build options"):
        assert lib in r.stdout


def test_init_creates_data_dir_key_and_config(mlc):
    r = mlc("init")
    assert r.returncode == 0, r.stderr
    key = mlc.data / "device.key"
    assert key.exists()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(mlc.data.stat().st_mode) & 0o077 == 0
    text = mlc.config.read_text()
    assert text.lstrip().startswith("#")
    assert "[plaid]" in text and "[exact]" in text
    before = key.read_bytes()
    # a second init keeps the key and the config
    r = mlc("init")
    assert r.returncode == 0, r.stderr
    assert key.read_bytes() == before
    # and the store check is clean
    r = mlc("store", "check")
    assert r.returncode == 0, r.stderr + r.stdout
    assert "schema" in r.stdout.lower()


def test_bad_config_names_file_line_and_key(mlc):
    assert mlc("init").returncode == 0
    mlc.config.write_text("[plaid]\nsync_count = 900\n")
    r = mlc("store", "check")
    assert r.returncode == 78
    assert f"{mlc.config}:2:" in r.stderr
    assert "sync_count" in r.stderr
    mlc.config.write_text("[plaid]\nsynccount = 5\n")
    r = mlc("store", "check")
    assert r.returncode == 78
    assert "synccount" in r.stderr


def test_secret_in_config_is_refused_without_echo(mlc):
    assert mlc("init").returncode == 0
    mlc.config.write_text("[exact]\nclient_secret = hunter2-very-secret\n")
    r = mlc("store", "check")
    assert r.returncode == 78
    assert "mlc secret set" in r.stderr
    assert "hunter2" not in r.stderr + r.stdout


def test_secrets_are_sealed_listed_without_values(mlc):
    assert mlc("init").returncode == 0
    value = "plaid-secret-ABCDEF0123456789"
    r = mlc("secret", "set", "plaid.secret", stdin=value + "\n")
    assert r.returncode == 0, r.stderr
    r = mlc("secret", "list")
    assert r.returncode == 0, r.stderr
    assert "plaid.secret" in r.stdout
    assert value not in r.stdout + r.stderr
    # the value is nowhere in the data dir in plaintext
    for dirpath, _, files in os.walk(mlc.data):
        for name in files:
            data = open(os.path.join(dirpath, name), "rb").read()
            assert value.encode() not in data, name
    r = mlc("key", "rotate")
    assert r.returncode == 0, r.stderr
    r = mlc("secret", "list")
    assert "plaid.secret" in r.stdout


def test_unsafe_key_permissions_stop_the_agent(mlc):
    assert mlc("init").returncode == 0
    os.chmod(mlc.data / "device.key", 0o644)
    r = mlc("secret", "list")
    assert r.returncode == 77
    assert "device.key" in r.stderr and "chmod" in r.stderr


def test_empty_secret_refused(mlc):
    assert mlc("init").returncode == 0
    r = mlc("secret", "set", "plaid.secret", stdin="\n")
    assert r.returncode != 0
    assert r.stderr.strip()


def test_relative_data_dir_is_anchored(mlc, tmp_path):
    import subprocess
    r = subprocess.run([mlc.bin, "--config", "conf/mlc.conf", "--data-dir", "rel-data", "init"],
                       cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert f"data_dir = {tmp_path}/rel-data" in (tmp_path / "conf" / "mlc.conf").read_text()
    r = subprocess.run([mlc.bin, "--config", "conf/mlc.conf", "store", "check"],
                       cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
