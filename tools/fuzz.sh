#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/fuzz_*.c) with clang and runs each one in turn against a
# scratch copy of its seed corpus, then replays the saved crash regressions. One libFuzzer process
# at a time (the build box is shared): a short run for CI, a long run with --runs/--seconds.
#
# Usage: tools/fuzz.sh [--seconds N] [--runs N] [--only NAME] [--build-dir DIR] [--no-build]
#                      [--fresh] [--max-len N]
#   --seconds N   fuzz each target for at most N seconds (default 60; 0 = no time limit)
#   --runs N      stop each target after N executions (default: no count limit; given
#                 alone, no time limit either; with both, whichever comes first)
#   --only NAME   just this target (fuzz_jwk or jwk); may be repeated
#   --build-dir   default build/fuzz
#   --no-build    use the binaries already in the build dir
#   --fresh       start from the committed seeds, dropping corpus-work/ from earlier runs
#   --max-len N   largest input libFuzzer generates (default: libFuzzer's choice)
# Seeds are read from tests/fuzz/corpus/fuzz_<name>/ or tests/fuzz/corpus/<name>/ and never
# written; new inputs go to <build-dir>/corpus-work/<target>/, crash/leak/timeout inputs to
# <build-dir>/artifacts/<target>/, full libFuzzer output to <build-dir>/logs/<target>.log.
# Exit status: 0 if every target ran clean, 1 if any crashed, leaked, timed out or failed to build,
# 2 for a usage error.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2

seconds=60
seconds_set=0
runs=""
only=()
build_dir="build/fuzz"
do_build=1
fresh=0
max_len=""

usage() {
    sed -n '/^# Usage:/,/^# Exit status/p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit "${1:-2}"
}
need_number() {
    case "${2:-}" in
    '' | *[!0-9]*) echo "fuzz.sh: $1 needs a whole number, e.g. $1 60" >&2; exit 2 ;;
    esac
}
while [ $# -gt 0 ]; do
    case "$1" in
    --seconds) need_number "$1" "${2:-}"; seconds=$2; seconds_set=1; shift 2 ;;
    --runs) need_number "$1" "${2:-}"; runs=$2; shift 2 ;;
    --only) [ -n "${2:-}" ] || usage; only+=("fuzz_${2#fuzz_}"); shift 2 ;;
    --build-dir) [ -n "${2:-}" ] || usage; build_dir=$2; shift 2 ;;
    --no-build) do_build=0; shift ;;
    --fresh) fresh=1; shift ;;
    --max-len) need_number "$1" "${2:-}"; max_len=$2; shift 2 ;;
    -h | --help) usage 0 ;;
    *) echo "fuzz.sh: unknown option '$1' (see tools/fuzz.sh --help)" >&2; exit 2 ;;
    esac
done
case "$build_dir" in /*) ;; *) build_dir="$root/$build_dir" ;; esac
# --runs alone means "this many executions", however long they take.
[ -n "$runs" ] && [ $seconds_set -eq 0 ] && seconds=0

# The targets: every tests/fuzz/fuzz_*.c, or the ones named with --only.
targets=()
for src in tests/fuzz/fuzz_*.c; do
    [ -e "$src" ] || continue
    t=$(basename "$src" .c)
    if [ ${#only[@]} -gt 0 ]; then
        keep=0
        for o in "${only[@]}"; do [ "$o" = "$t" ] && keep=1; done
        [ $keep -eq 1 ] || continue
    fi
    targets+=("$t")
done
for o in "${only[@]}"; do
    if [ ! -e "tests/fuzz/$o.c" ]; then
        echo "fuzz.sh: no fuzz target tests/fuzz/$o.c (the targets are: $(cd tests/fuzz && ls fuzz_*.c | sed 's/\.c$//' | tr '\n' ' '))" >&2
        exit 2
    fi
done
if [ ${#targets[@]} -eq 0 ]; then
    echo "fuzz.sh: no fuzz targets found under tests/fuzz/" >&2
    exit 2
fi

command -v clang >/dev/null || { echo "fuzz.sh: clang is not installed; run tools/install-deps.sh" >&2; exit 1; }

declare -A build_ok
if [ $do_build -eq 1 ]; then
    echo "== configuring $build_dir (clang, libFuzzer + ASan + UBSan)"
    mkdir -p "$build_dir/logs"
    if ! CC=clang cmake -S . -B "$build_dir" -DMLC_FUZZ=ON -DMLC_TESTS=ON >"$build_dir/logs/configure.log" 2>&1; then
        tail -20 "$build_dir/logs/configure.log" >&2
        echo "fuzz.sh: cmake configure failed (full log: $build_dir/logs/configure.log)" >&2
        echo "fuzz: 0 passed, ${#targets[@]} failed"
        exit 1
    fi
    # One target at a time, so one target that does not compile does not hide the others.
    for t in "${targets[@]}"; do
        if cmake --build "$build_dir" --target "$t" -j"$(nproc)" >"$build_dir/logs/$t.build.log" 2>&1; then
            build_ok[$t]=1
        else
            build_ok[$t]=0
        fi
    done
fi

mkdir -p "$build_dir/corpus-work" "$build_dir/artifacts" "$build_dir/logs"

# UBSan in the fuzz build recovers by default: make any report fatal so it counts as a crash.
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-}"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:${ASAN_OPTIONS:-}"

passed=0
failed=0
for t in "${targets[@]}"; do
    bin="$build_dir/tests/$t"
    log="$build_dir/logs/$t.log"
    if [ "${build_ok[$t]:-1}" = 0 ] || [ ! -x "$bin" ]; then
        echo "$t: FAILED to build (see $build_dir/logs/$t.build.log)"
        failed=$((failed + 1))
        continue
    fi
    # Seed dirs are named fuzz_<target> or <target> (config, audit_record, http_request).
    seeds=""
    for d in "tests/fuzz/corpus/$t" "tests/fuzz/corpus/${t#fuzz_}"; do
        if [ -d "$d" ]; then seeds=$d; break; fi
    done
    work="$build_dir/corpus-work/$t"
    art="$build_dir/artifacts/$t"
    [ $fresh -eq 1 ] && rm -rf "$work"
    mkdir -p "$work" "$art"
    [ -n "$seeds" ] && cp -n "$seeds"/* "$work"/ 2>/dev/null
    before=$(find "$work" -type f | wc -l)
    arts_before=$(find "$art" -type f | wc -l)

    args=(-print_final_stats=1 -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$art/"
          -max_total_time="$seconds")
    [ -n "$runs" ] && args+=(-runs="$runs")
    [ -n "$max_len" ] && args+=(-max_len="$max_len")
    start=$(date +%s)
    "$bin" "${args[@]}" "$work" >"$log" 2>&1
    rc=$?
    took=$(($(date +%s) - start))

    # Saved crash inputs must stay fixed: replay every one through the same target.
    regress_rc=0
    nreg=0
    if [ -d "tests/fuzz/regressions/$t" ]; then
        files=$(find "tests/fuzz/regressions/$t" -type f | sort)
        if [ -n "$files" ]; then
            nreg=$(echo "$files" | wc -l)
            # shellcheck disable=SC2086
            "$bin" -runs=1 $files >"$build_dir/logs/$t.regressions.log" 2>&1 || regress_rc=$?
        fi
    fi

    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | sed 's/cov: //')
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | sed 's/ft: //')
    after=$(find "$work" -type f | wc -l)
    crashes=$(($(find "$art" -type f | wc -l) - arts_before))
    line="$t: execs=${execs:-?} exec/s=${rate:-?} cov=${cov:-?} ft=${ft:-?} corpus=$before->$after crashes=$crashes time=${took}s"
    [ "$nreg" -gt 0 ] && line="$line regressions=$nreg"
    if [ $rc -eq 0 ] && [ $regress_rc -eq 0 ] && [ $crashes -eq 0 ]; then
        echo "$line ok"
        passed=$((passed + 1))
    else
        why=""
        [ $rc -ne 0 ] && why="exit $rc; $(grep -m1 -o 'ERROR: [A-Za-z]*Sanitizer: [a-z-]*\|ERROR: libFuzzer: [a-z-]*\|runtime error: .*' "$log" | head -1)"
        [ $regress_rc -ne 0 ] && why="$why; a saved regression fails again (see $build_dir/logs/$t.regressions.log)"
        echo "$line FAILED ($why) log: $log artifacts: $art/ (replay one: $bin <artifact>)"
        failed=$((failed + 1))
    fi
done

echo "fuzz: $passed passed, $failed failed"
[ $failed -eq 0 ]
