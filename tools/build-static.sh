#!/usr/bin/env bash
# Builds the fully static, stripped mlc for one architecture, prints where it is and its size,
# and runs `mlc version` with it (natively on x86-64, under qemu-user for ARM).
#
# Usage: tools/build-static.sh ARCH        ARCH = x86_64 | aarch64 | armhf
# Output: build/static-ARCH/mlc (musl, static, stripped). MLC_STATIC_LIBC=glibc builds against
# glibc instead (build/static-ARCH-glibc/mlc); see docs/static-build.md for why musl is default.
# MLC_LMDB_ROBUST=0 builds build/static-ARCH-qemu/mlc, a variant for qemu-user only (see
# tools/build-static-deps.sh: qemu lacks robust futexes, so the shipping binary cannot open its
# store under qemu; it can on a real ARM board).
# MLC_STATIC_BUILD_TYPE overrides the CMake build type (default MinSizeRel, i.e. -Os).
# The first run also builds the dependencies (tools/build-static-deps.sh, cached afterwards).
set -euo pipefail

die() { echo "build-static: $*" >&2; exit 1; }

arch=${1:-}
libc=${MLC_STATIC_LIBC:-musl}
case "$arch" in
    x86_64)  gnu=x86_64-linux-gnu;    musl=x86_64-linux-musl;    qemu="";               toolchain="" ;;
    aarch64) gnu=aarch64-linux-gnu;   musl=aarch64-linux-musl;   qemu="qemu-aarch64-static"; toolchain=cmake/toolchain-aarch64-linux-gnu.cmake ;;
    armhf)   gnu=arm-linux-gnueabihf; musl=arm-linux-musleabihf; qemu="qemu-arm-static";   toolchain=cmake/toolchain-arm-linux-gnueabihf.cmake ;;
    *) die "usage: $0 x86_64|aarch64|armhf (the architecture to build the static mlc for)" ;;
esac
case "$libc" in
    musl)  cc=$musl-gcc; build=build/static-$arch ;;
    glibc) cc=$gnu-gcc;  build=build/static-$arch-glibc ;;
    *) die "MLC_STATIC_LIBC must be musl or glibc, not '$libc'" ;;
esac

[ "${MLC_LMDB_ROBUST:-1}" = 0 ] && build=$build-qemu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
prefix=$(bash tools/build-static-deps.sh "$arch") || die "building the static libraries failed (see above)"

args=(-S . -B "$build" -DCMAKE_BUILD_TYPE="${MLC_STATIC_BUILD_TYPE:-MinSizeRel}" -DMLC_STATIC=ON -DMLC_STATIC_PREFIX="$prefix"
      -DMLC_TESTS=OFF -DCMAKE_C_COMPILER="$cc")
[ -n "$toolchain" ] && args+=(-DCMAKE_TOOLCHAIN_FILE="$root/$toolchain")
cmake "${args[@]}" >"$build.configure.log" 2>&1 || { mkdir -p "$build"; die "configure failed: see $build.configure.log"; }
cmake --build "$build" --target mlc -j"$(nproc)" >"$build.build.log" 2>&1 \
    || die "build failed: see $build.build.log"
bin=$build/mlc

# The agent's counting allocator only sees mbedTLS's heap when mbedTLS was built with
# MBEDTLS_PLATFORM_MEMORY (src/mlc_alloc.c); check the hook made it into the binary.
# (grep without -q: with pipefail, -q's early exit would fail the pipeline through SIGPIPE)
nm "$bin" 2>/dev/null | grep ' mbedtls_platform_set_calloc_free$' >/dev/null \
    || die "$bin has no mbedTLS allocator hook: the mbedTLS in $prefix lacks MBEDTLS_PLATFORM_MEMORY"
"$gnu-strip" --strip-all "$bin"
if LC_ALL=C readelf -l "$bin" | grep 'INTERP' >/dev/null; then
    die "$bin still asks for a dynamic loader: the link was not static (see $build.build.log)"
fi

size=$(stat -c %s "$bin")
echo "$size" >"$build/mlc.size"
echo "build-static: $bin ($arch, $libc, static, stripped): $size bytes"

run=()
if [ -n "$qemu" ]; then
    command -v "$qemu" >/dev/null || die "$qemu not found: run 'tools/install-deps.sh --cross' as root"
    run=("$qemu")
fi
if out=$("${run[@]}" "$bin" version 2>&1) && grep -q '^ml-connector ' <<<"$out"; then
    echo "build-static: '${run[*]:+${run[*]} }$bin version' runs:"
    sed 's/^/    /' <<<"$out"
else
    echo "$out" >&2
    die "$bin built but '${run[*]:+${run[*]} }mlc version' failed"
fi
