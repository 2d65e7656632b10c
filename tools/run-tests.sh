#!/usr/bin/env bash
# Builds and runs every test: unit tests (normal build, under valgrind, and under ASan/UBSan),
# the sandbox emulators' own tests and the end-to-end tests against the real mlc binary.
# Usage: tools/run-tests.sh [--no-install]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if [ "${1:-}" != "--no-install" ]; then
    bash tools/install-deps.sh
fi
jobs=$(nproc)
status=0

echo "== normal build (gcc, -Werror) with valgrind memcheck"
cmake -S . -B build/ci -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMLC_MEMCHECK=ON >/dev/null
cmake --build build/ci -j"$jobs"
(cd build/ci && ctest --output-on-failure -j"$jobs") || status=1

echo "== ASan + UBSan build (clang)"
CC=clang cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DMLC_SANITIZE=ON >/dev/null
cmake --build build/asan -j"$jobs"
(cd build/asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j"$jobs" -L unit) || status=1

# Two pytest runs: the emulators' own rule tests, then the end-to-end tests of the real mlc binary
# (each directory has its own conftest.py, so they are not collected together).
echo "== sandbox emulators: rule and contract tests (pytest)"
/usr/bin/python3 -m pytest -q -p no:cacheprovider tools/sandbox/tests || status=1

echo "== end-to-end tests against the emulators (pytest, real mlc binary)"
MLC_BIN="$root/build/ci/mlc" /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/e2e || status=1

echo "== fuzzing, short run (every libFuzzer target 10 s from its seeds, plus saved regressions)"
bash tools/fuzz.sh --seconds 10 || status=1

echo "== benchmarks, smoke run (each benchmark runs on tiny data; no timing is asserted)"
/usr/bin/python3 tools/bench/run_all.py --smoke --mlc "$root/build/ci/mlc" || status=1

if [ "$status" -ne 0 ]; then
    echo "run-tests: FAILED (see above)"
else
    echo "run-tests: all suites passed"
fi
exit "$status"
