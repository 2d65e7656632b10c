#!/usr/bin/env bash
# The main job against the bundled sandbox, no accounts needed: installs what it needs, builds
# mlc, starts the Plaid and Exact Online emulators on loopback ports, sets up an agent in a
# temporary directory and runs it as far as it goes today.
# Usage: tools/demo.sh [--no-install] [--keep]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
install=1 keep=0
for a in "$@"; do
    case "$a" in
        --no-install) install=0 ;;
        --keep) keep=1 ;;
        *) echo "demo: unknown option '$a' (use --no-install or --keep)" >&2; exit 64 ;;
    esac
done
[ "$install" -eq 1 ] && bash tools/install-deps.sh

echo "== building mlc"
cmake -S . -B build/demo -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMLC_TESTS=OFF >/dev/null
cmake --build build/demo -j"$(nproc)" >/dev/null
mlc="$root/build/demo/mlc"

work=$(mktemp -d /tmp/mlc-demo.XXXXXX)
sandbox_pid=""
cleanup() {
    if [ -n "$sandbox_pid" ]; then kill "$sandbox_pid" 2>/dev/null || true; wait "$sandbox_pid" 2>/dev/null || true; fi
    if [ "$keep" -eq 0 ]; then rm -rf "$work"; else echo "demo: kept $work"; fi
}
trap cleanup EXIT

echo "== starting the sandbox (Plaid and Exact Online emulators)"
/usr/bin/python3 tools/sandbox/sandbox.py --seed 42 --months 24 --port-file "$work/ports.json" \
    >"$work/sandbox.log" 2>&1 &
sandbox_pid=$!
for _ in $(seq 1 100); do [ -s "$work/ports.json" ] && break; sleep 0.1; done
if [ ! -s "$work/ports.json" ]; then
    echo "demo: the sandbox did not start; its log:" >&2
    cat "$work/sandbox.log" >&2
    exit 69
fi
plaid_url=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["plaid"])' "$work/ports.json")
exact_url=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["exact"])' "$work/ports.json")
echo "   Plaid sandbox:        $plaid_url"
echo "   Exact Online sandbox: $exact_url"

conf="$work/mlc.conf"
data="$work/data"
echo "== mlc init"
"$mlc" --config "$conf" --data-dir "$data" init
# Point the agent at the emulators.
/usr/bin/python3 - "$conf" "$plaid_url" "$exact_url" <<'PY'
import sys, re
path, plaid, exact = sys.argv[1:]
text = open(path).read()
def setkey(text, section, key, value):
    pat = re.compile(r"(^\[%s\]\s*$)" % re.escape(section), re.M)
    return pat.sub(lambda m: "%s\n%s = %s" % (m.group(1), key, value), text, count=1)
text = setkey(text, "plaid", "base_url", plaid)
text = setkey(text, "exact", "base_url", exact)
open(path, "w").write(text)
PY

echo "== storing the sandbox credentials in the vault"
printf 'sandbox-client-id\n' | "$mlc" --config "$conf" --data-dir "$data" secret set plaid.client_id
printf 'sandbox-secret\n' | "$mlc" --config "$conf" --data-dir "$data" secret set plaid.secret
printf 'exact-demo-client\n' | "$mlc" --config "$conf" --data-dir "$data" secret set exact.client_id
printf 'exact-demo-secret\n' | "$mlc" --config "$conf" --data-dir "$data" secret set exact.client_secret
"$mlc" --config "$conf" --data-dir "$data" secret list

echo "== store check"
"$mlc" --config "$conf" --data-dir "$data" store check

cat <<MSG

The agent is set up against the sandbox. What it does next, enrolling the sandbox bank,
consenting to the Exact emulator, mapping accounts and syncing 24 months, arrives with the
Plaid client, the Exact client and the sync engine; this demo grows with them.
Config: $conf   Data: $data
MSG
