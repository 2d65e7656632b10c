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

if [ -d tools/sandbox/tests ] || [ -d tests/e2e ]; then
    echo "== sandbox and end-to-end tests (pytest)"
    MLC_BIN="$root/build/ci/mlc" /usr/bin/python3 -m pytest -q -p no:cacheprovider \
        $( [ -d tools/sandbox/tests ] && echo tools/sandbox/tests ) \
        $( [ -n "$(ls tests/e2e/test_*.py 2>/dev/null)" ] && echo tests/e2e ) || status=1
fi

if [ "$status" -ne 0 ]; then
    echo "run-tests: FAILED (see above)"
else
    echo "run-tests: all suites passed"
fi
exit "$status"
