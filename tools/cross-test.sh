#!/usr/bin/env bash
# Cross builds mlc and its unit tests for ARM against Debian's multiarch -dev packages and runs
# the unit tests under qemu-user (the toolchain file sets CMAKE_CROSSCOMPILING_EMULATOR).
#
# Usage: tools/cross-test.sh ARCH [--build-only] [-- CTEST_ARGS...]
#   ARCH = aarch64 | armhf. --build-only skips ctest (armhf needs only to build, see the docs).
#   Anything after -- goes to ctest, e.g. `tools/cross-test.sh aarch64 -- -R test_store`.
# Output: build/cross-ARCH. Needs: tools/install-deps.sh --cross (as root, once).
# Exit: 0 all built (and all tests passed), 1 a build or a test failed, 64 bad usage.
set -euo pipefail

usage() { echo "usage: $0 aarch64|armhf [--build-only] [-- CTEST_ARGS...]" >&2; exit 64; }
arch=${1:-}
[ $# -gt 0 ] && shift
case "$arch" in
    aarch64) triplet=aarch64-linux-gnu;   qemu="qemu-aarch64-static" ;;
    armhf)   triplet=arm-linux-gnueabihf; qemu="qemu-arm-static" ;;
    *) usage ;;
esac
build_only=0
ctest_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --build-only) build_only=1 ;;
        --) shift; ctest_args=("$@"); break ;;
        *) usage ;;
    esac
    shift
done

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
for tool in "$triplet-gcc" "$qemu"; do
    command -v "$tool" >/dev/null \
        || { echo "cross-test: $tool not found: run 'tools/install-deps.sh --cross' as root" >&2; exit 1; }
done
[ -e "/usr/lib/$triplet/pkgconfig/libcurl.pc" ] \
    || { echo "cross-test: no $arch libcurl -dev package: run 'tools/install-deps.sh --cross' as root" >&2; exit 1; }

build=build/cross-$arch
jobs=$(nproc)
start=$(date +%s)
echo "== cross build for $arch ($triplet-gcc, Debian multiarch libraries) in $build"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchain-$triplet.cmake" >/dev/null
# -k: a module another engineer is still writing must not hide whether the rest builds.
build_status=0
cmake --build "$build" -j"$jobs" -- -k || build_status=1
file "$build/mlc" 2>/dev/null | sed 's/^/   /' || true

test_status=0
if [ "$build_only" -eq 0 ]; then
    echo "== unit tests under $qemu"
    (cd "$build" && ctest --output-on-failure -j"$jobs" -L unit "${ctest_args[@]}") \
        || test_status=1
fi
build_word=ok; [ $build_status -eq 0 ] || build_word=FAILED
test_word=ok; [ $test_status -eq 0 ] || test_word=FAILED; [ $build_only -eq 0 ] || test_word=skipped
echo "cross-test: $arch finished in $(( $(date +%s) - start )) s: build $build_word, tests $test_word"
[ $build_status -eq 0 ] && [ $test_status -eq 0 ]
