#!/usr/bin/env bash
# The main job against the bundled sandbox, no accounts needed: installs what it needs, builds
# mlc, starts the Plaid and Exact Online emulators on free loopback ports, sets up an agent in a
# temporary directory, runs it as far as this build of mlc goes, and ends with the reconciliation
# summary (tests/e2e/ledger_check.py: is every settled bank transaction in Exact exactly once?).
# Steps the agent cannot do yet are printed as TODO and skipped; they start working as soon as
# `mlc --help` lists the command. The sandbox is stopped by its PID on exit, also on Ctrl-C.
# Usage: tools/demo.sh [--no-install] [--keep] [--seed N] [--months N] [--mlc PATH]
#   --mlc PATH uses an mlc binary built already (e.g. build/ci/mlc) instead of building one.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
py=/usr/bin/python3
install=1 keep=0 seed=42 months=24 mlc_bin=""
while [ $# -gt 0 ]; do
    case "$1" in
        --no-install) install=0 ;;
        --keep) keep=1 ;;
        --seed|--months)
            if [ $# -lt 2 ] || ! [[ "$2" =~ ^[0-9]+$ ]]; then
                echo "demo: $1 needs a whole number, e.g. $1 7" >&2; exit 64
            fi
            if [ "$1" = --seed ]; then seed=$2; else months=$2; fi
            shift ;;
        --mlc)
            if [ $# -lt 2 ] || [ ! -x "$2" ]; then
                echo "demo: --mlc needs the path of a built mlc binary" >&2; exit 64
            fi
            mlc_bin=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
            shift ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "demo: unknown option '$1' (see tools/demo.sh --help)" >&2; exit 64 ;;
    esac
    shift
done

step() { printf '\n== %s\n' "$*"; }
say() { printf '   %s\n' "$*"; }
todo() { printf '   TODO (not in this build of mlc yet): %s\n' "$*"; }

if [ "$install" -eq 1 ]; then
    step "installing the Debian packages the build and the sandbox need (tools/install-deps.sh)"
    bash tools/install-deps.sh
fi

if [ -z "$mlc_bin" ]; then
    step "building mlc (build/demo, release build with debug info; log in build/demo/build.log)"
    mkdir -p build/demo
    if ! { cmake -S . -B build/demo -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMLC_TESTS=OFF &&
           cmake --build build/demo -j"$(nproc)" --target mlc; } >build/demo/build.log 2>&1; then
        echo "demo: the build failed; the end of build/demo/build.log:" >&2
        tail -n 30 build/demo/build.log >&2
        exit 70
    fi
    mlc_bin="$root/build/demo/mlc"
fi
say "mlc: $mlc_bin ($("$mlc_bin" version | head -n 1))"

work=$(mktemp -d /tmp/mlc-demo.XXXXXX)
sandbox_pid=""
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    local rc=$?
    if [ -n "$sandbox_pid" ] && kill -0 "$sandbox_pid" 2>/dev/null; then
        kill -TERM "$sandbox_pid" 2>/dev/null || true
        wait "$sandbox_pid" 2>/dev/null || true
    fi
    if [ "$keep" -eq 1 ] || [ "$rc" -ne 0 ]; then
        echo "demo: kept $work (config, data dir, sandbox.log)"
    else
        rm -rf "$work"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "starting the sandbox: Plaid and Exact Online emulators (seed $seed, $months months of history)"
ports="$work/sandbox.json"
"$py" tools/sandbox/sandbox.py --seed "$seed" --months "$months" --port-file "$ports" \
    --admin-token random >"$work/sandbox.log" 2>&1 &
sandbox_pid=$!
for _ in $(seq 1 300); do
    [ -s "$ports" ] && break
    kill -0 "$sandbox_pid" 2>/dev/null || break
    sleep 0.1
done
if [ ! -s "$ports" ]; then
    echo "demo: the sandbox did not start; its log:" >&2
    cat "$work/sandbox.log" >&2
    exit 69
fi
field() { "$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]] or "")' "$ports" "$1"; }
plaid_url=$(field plaid)
exact_url=$(field exact)
admin_token=$(field admin_token)
if [ "$(field pid)" != "$sandbox_pid" ]; then
    echo "demo: $ports was written by another process; remove it and run the demo again" >&2
    exit 70
fi
say "Plaid sandbox:        $plaid_url"
say "Exact Online sandbox: $exact_url"
say "sandbox pid $sandbox_pid, log $work/sandbox.log"

conf="$work/mlc.conf"
data="$work/data"
mlc() { "$mlc_bin" --config "$conf" --data-dir "$data" "$@"; }
has() { "$mlc_bin" --help | grep -q "^  $1 "; }
# show ARGS: run `mlc ARGS`, indented; on failure say so (mlc has printed why) and return its status
show() {
    local rc=0
    mlc "$@" | sed 's/^/   /' || rc=${PIPESTATUS[0]}
    [ "$rc" -eq 0 ] || say "('mlc $*' stopped with exit code $rc; its message is above)"
    return "$rc"
}

step "mlc init, config pointed at the emulators, sandbox credentials sealed in the vault"
say "(mlc init makes the data dir, device key, store and a commented config; the harness then sets"
say " [plaid] base_url, [exact] base_url/redirect_uri/divisions and stores the five secrets with"
say " 'mlc secret set', which reads each from standard input so it never shows in 'ps')"
status_url=$("$py" tests/e2e/harness.py configure --mlc "$mlc_bin" --config "$conf" --data-dir "$data" \
             --port-file "$ports")
grep -E '^(base_url|redirect_uri|divisions|bind) =' "$conf" | sed 's/^/   /'
mlc secret list | sed 's/^/   /'

step "store check: schema, record counts, integrity"
mlc store check | sed 's/^/   /'

step "connecting to Exact Online (OAuth consent)"
if has "exact connect"; then
    say "mlc prints the consent link; the emulator consents at once and redirects with a code,"
    say "which goes back to mlc with --code (a person would copy it from the browser)"
    link=$(mlc exact connect | grep -o 'https\?://[^ ]*/api/oauth2/auth?[^ ]*' | head -n 1) || true
    if [ -z "$link" ]; then
        echo "demo: 'mlc exact connect' printed no consent link" >&2; exit 70
    fi
    redirect=$("$py" tests/e2e/harness.py consent "$link")
    show exact connect --code "$redirect" || exit 69
    if has "exact divisions"; then show exact divisions || true; fi
    if has "exact journals"; then
        for d in $(sed -n 's/^divisions = //p' "$conf" | tr ',' ' '); do
            show exact journals --division "$d" || true
        done
    fi
    if has "exact status"; then show exact status || true; fi
else
    todo "mlc exact connect, then mlc exact divisions / journals"
fi

step "enrolling the sandbox banks with Plaid (US, NL, GB, DE)"
if has "plaid link" && "$mlc_bin" plaid link --help 2>/dev/null | grep -q -- "--sandbox"; then
    say "(--sandbox links a test bank without a browser; a real install opens Plaid Link instead)"
    for ins in ins_109508 ins_120001 ins_120002 ins_120003; do
        show plaid link --sandbox --institution "$ins" || exit 69
    done
    if has "plaid accounts"; then show plaid accounts || true; fi
else
    todo "mlc plaid link --sandbox --institution ID (headless enrollment), mlc plaid accounts"
fi

step "mapping Plaid accounts to Exact bank journals"
"$py" tests/e2e/harness.py mapping --port-file "$ports" --out "$work/mapping.json"
if has "map"; then
    if has "accounts"; then
        say "mlc accounts lists each Plaid account beside the Exact bank journals and suggests a match"
        say "(IBAN first, then account number; the currency must agree):"
        show accounts || true
    fi
    say "mapping every account to the journal suggested for it, with the suspense G/L 2300"
    say "('to be processed') as the default offset account:"
    "$py" -c 'import json,sys
for acct, m in sorted(json.load(open(sys.argv[1]))["accounts"].items()):
    print(acct, m["division"], m["journal"])' "$work/mapping.json" |
    while read -r acct division journal; do
        show map "$acct" --division "$division" --journal "$journal" --offset-gl 2300 || exit 69
    done
else
    todo "mlc map ACCOUNT --division N --journal CODE; the checker below uses the sandbox's mapping"
fi

# the agent's local journal (mlc plaid journal) against the Plaid sandbox's truth
journal_check() {
    mlc plaid journal >"$work/journal.tsv" || return 1
    local rc=0
    "$py" tests/e2e/ledger_check.py --plaid "$plaid_url" --admin-token "$admin_token" \
        --mapping "$work/mapping.json" --journal "$work/journal.tsv" | sed 's/^/   /' || rc=${PIPESTATUS[0]}
    return "$rc"
}

step "pulling transactions and posting them to Exact"
posted=0 verdict=0
if has "plaid sync"; then
    say "downloading $months months of history into the agent's local journal (/transactions/sync)"
    show plaid sync || true
    if has "plaid journal"; then
        say "checking the agent's local journal against the Plaid sandbox's own records:"
        journal_check || verdict=1
        say "a week passes at the bank: new pendings, pendings settle (some with a tip), a few"
        say "transactions change or disappear; the agent syncs again and only fetches the changes"
        changes=$("$py" tests/e2e/harness.py admin --port-file "$ports" plaid POST advance_days '{"days": 7}')
        say "sandbox: $changes"
        show plaid sync || true
        journal_check || verdict=1
    fi
else
    todo "mlc plaid sync ($months months of history from the Plaid sandbox)"
fi
if has "sync"; then
    say "one sync cycle: pull what is new, code each line, post one bank entry per account and"
    say "financial period (balances chained), audit every step; pending transactions wait"
    show sync && posted=1
    say "a second cycle finds nothing new and posts nothing:"
    show sync || true
else
    todo "the sync engine: post settled transactions as bank entries (mlc sync)"
fi
if has "audit verify"; then
    step "audit trail: every pull, coding, posting and mapping change, hash-chained"
    show audit verify || verdict=1
fi

step "reconciliation summary (tests/e2e/ledger_check.py: Plaid truth vs the Exact ledger)"
ledger=0
"$py" tests/e2e/ledger_check.py --plaid "$plaid_url" --exact "$exact_url" --admin-token "$admin_token" \
    --mapping "$work/mapping.json" --balances | sed 's/^/   /' || ledger=${PIPESTATUS[0]}
if [ "$posted" -eq 0 ]; then
    say "nothing was posted yet (no sync engine in this build), so every settled transaction is"
    say "missing; once 'mlc run' exists this summary must say PASS."
elif [ "$ledger" -ne 0 ]; then
    verdict=1
fi

step "status page"
if has "run" && "$mlc_bin" --help | grep -qi "status page"; then
    say "the agent's status page (while mlc runs): $status_url"
else
    todo "status page at $status_url while the agent runs"
fi

cat <<MSG

The agent is set up against the sandbox.
   config: $conf
   data:   $data
   Plaid:  $plaid_url   Exact: $exact_url   (admin token in $ports)
Run again with --keep to keep this directory; the sandbox stops when the demo ends.
MSG
if [ "$verdict" -ne 0 ]; then
    echo "demo: a check above says FAIL: the agent's data does not match the sandbox" >&2
fi
exit "$verdict"
