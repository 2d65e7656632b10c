#!/usr/bin/env bash
# Builds static libcurl, mbedTLS, cJSON and LMDB for the fully static mlc, from Debian 12's own
# source packages (`apt-get source`), with musl as C library. Nothing third-party is committed:
# sources, builds and the install prefix live under build/static-deps/ (a cache: each library
# is rebuilt only when its stamp file is missing).
#
# Usage: tools/build-static-deps.sh ARCH        ARCH = x86_64 | aarch64 | armhf
#   prints the prefix to pass as -DMLC_STATIC_PREFIX (tools/build-static.sh does that).
# Environment: MLC_STATIC_LIBC=glibc uses the glibc (cross) gcc instead of musl; see
#   docs/static-build.md for why musl is the default (glibc static needs NSS for DNS).
#   MLC_LMDB_ROBUST=0 builds LMDB without robust mutexes, into a separate prefix
#   (ARCH-musl-norobust), for running the static binary under qemu-user only: qemu does not
#   implement get_robust_list, so musl refuses robust mutexes there and LMDB cannot open a store
#   ("Function not implemented"). Never ship that variant: on a real kernel robust mutexes let
#   the agent recover a lock held by a process that died.
# Needs: tools/install-deps.sh --cross (musl-tools, musl-dev:arm64/armhf, cross gcc, dpkg-dev).
#
# Why from source: Debian has no static libcjson, its static libcurl pulls in OpenSSL, GSSAPI
# and LDAP, and its mbedTLS is built without MBEDTLS_PLATFORM_MEMORY, which the agent needs to
# count mbedTLS's heap use (src/mlc_alloc.c).
set -euo pipefail

die() { echo "build-static-deps: $*" >&2; exit 1; }

arch=${1:-}
libc=${MLC_STATIC_LIBC:-musl}
case "$arch" in
    x86_64)  gnu=x86_64-linux-gnu;      musl=x86_64-linux-musl ;;
    aarch64) gnu=aarch64-linux-gnu;     musl=aarch64-linux-musl ;;
    armhf)   gnu=arm-linux-gnueabihf;   musl=arm-linux-musleabihf ;;
    *) die "usage: $0 x86_64|aarch64|armhf (the architecture to build the static libraries for)" ;;
esac
case "$libc" in
    musl)  cc=$musl-gcc; host=$musl ;;
    glibc) cc=$gnu-gcc;  host=$gnu ;;
    *) die "MLC_STATIC_LIBC must be musl or glibc, not '$libc'" ;;
esac
command -v "$cc" >/dev/null || die "$cc not found: run 'tools/install-deps.sh --cross' as root"
command -v "$gnu-ar" >/dev/null || die "$gnu-ar not found: run 'tools/install-deps.sh --cross' as root"
command -v dpkg-source >/dev/null || die "dpkg-source not found: run 'tools/install-deps.sh --cross' as root"

root=$(cd "$(dirname "$0")/.." && pwd)
top=$root/build/static-deps
dl=$top/downloads
work=$top/$arch-$libc
robust=${MLC_LMDB_ROBUST:-1}
case "$robust" in
    1) ;;
    0) # Same libraries except LMDB: start from the normal build when there is one.
       if [ ! -d "$work-norobust" ] && [ -f "$work/stamp-curl" ]; then
           cp -a "$work" "$work-norobust"
           rm -f "$work-norobust/stamp-lmdb"
           sed -i "s|$work/prefix|$work-norobust/prefix|g" "$work-norobust"/prefix/lib/pkgconfig/*.pc \
               "$work-norobust/prefix/bin/curl-config" 2>/dev/null || true
       fi
       work=$work-norobust ;;
    *) die "MLC_LMDB_ROBUST must be 1 or 0, not '$robust'" ;;
esac
prefix=$work/prefix
jobs=$(nproc)
export CC=$cc AR=$gnu-ar RANLIB=$gnu-ranlib
# Same flags as the measured floor in the reference: small code, and sections the final
# link can garbage-collect (-Wl,--gc-sections in the mlc build).
cflags="-Os -ffunction-sections -fdata-sections"
cflag_list=(-Os -ffunction-sections -fdata-sections)
mkdir -p "$dl" "$work/src" "$prefix/include" "$prefix/lib/pkgconfig"
log() { echo "build-static-deps [$arch/$libc]: $*" >&2; }

# Source packages: Debian 12's versions, fetched once into downloads/ and shared by all arches.
fetch() {
    local pkg=$1
    if ! ls "$dl/${pkg}"_*.dsc >/dev/null 2>&1; then
        log "fetching Debian source package $pkg"
        (cd "$dl" && apt-get source --download-only "$pkg" >/dev/null) \
            || die "apt-get source $pkg failed: add a deb-src line for bookworm ('tools/install-deps.sh --cross' does) and run apt-get update"
    fi
}
# Unpacks with Debian's patches applied into src/<pkg>, fresh each time a library is rebuilt.
unpack() {
    local pkg=$1 dsc
    dsc=$(find "$dl" -maxdepth 1 -name "${pkg}_*.dsc" | sort -V | tail -n1)
    rm -rf "$work/src/$pkg"
    dpkg-source --no-check -x "$dsc" "$work/src/$pkg" >/dev/null
    basename "$dsc" .dsc >>"$work/src/versions.new"
}
done_stamp() { [ -f "$work/stamp-$1" ]; }

for pkg in mbedtls cjson lmdb curl; do fetch "$pkg"; done
: >"$work/src/versions.new"

if ! done_stamp mbedtls; then
    log "mbedTLS (with MBEDTLS_PLATFORM_MEMORY)"
    unpack mbedtls
    s=$work/src/mbedtls
    # Debian's own configuration (debian/rules) plus PLATFORM_MEMORY, so the agent's counting
    # allocator can hook mbedTLS's heap through mbedtls_platform_set_calloc_free().
    # HAVEGE is left out: it is deprecated and not needed by anything here.
    for opt in MBEDTLS_THREADING_C MBEDTLS_THREADING_PTHREAD MBEDTLS_CMAC_C MBEDTLS_PLATFORM_MEMORY; do
        (cd "$s" && python3 scripts/config.py set "$opt")
    done
    make -C "$s/library" -j"$jobs" CC="$CC" AR="$AR" CFLAGS="$cflags" static >"$work/mbedtls.log" 2>&1 \
        || die "mbedTLS build failed: see $work/mbedtls.log"
    rm -rf "$prefix/include/mbedtls" "$prefix/include/psa"
    cp -r "$s/include/mbedtls" "$s/include/psa" "$prefix/include/"
    cp "$s/library/libmbedtls.a" "$s/library/libmbedx509.a" "$s/library/libmbedcrypto.a" "$prefix/lib/"
    touch "$work/stamp-mbedtls"
fi
grep -q '^#define MBEDTLS_PLATFORM_MEMORY' "$prefix/include/mbedtls/config.h" \
    || die "installed mbedTLS config.h lacks MBEDTLS_PLATFORM_MEMORY: delete $work and rebuild"

if ! done_stamp cjson; then
    log "cJSON"
    unpack cjson
    s=$work/src/cjson
    $CC "${cflag_list[@]}" -std=c89 -c "$s/cJSON.c" -o "$work/cJSON.o"
    rm -f "$prefix/lib/libcjson.a"
    $AR rcs "$prefix/lib/libcjson.a" "$work/cJSON.o"
    mkdir -p "$prefix/include/cjson"
    cp "$s/cJSON.h" "$prefix/include/cjson/"
    ver=$(sed -n 's/^#define CJSON_VERSION_\(MAJOR\|MINOR\|PATCH\) *\([0-9]*\).*/\2/p' "$s/cJSON.h" | paste -sd.)
    cat >"$prefix/lib/pkgconfig/libcjson.pc" <<EOF
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: libcjson
Description: cJSON, static, for mlc
Version: $ver
Libs: -L\${libdir} -lcjson
Cflags: -I\${includedir} -I\${includedir}/cjson
EOF
    touch "$work/stamp-cjson"
fi

if ! done_stamp lmdb; then
    log "LMDB"
    unpack lmdb
    s=$work/src/lmdb/libraries/liblmdb
    lmdb_flags=()
    [ "$robust" -eq 0 ] && lmdb_flags=(-DMDB_USE_ROBUST=0)
    for f in mdb midl; do
        $CC "${cflag_list[@]}" "${lmdb_flags[@]}" -pthread -c "$s/$f.c" -o "$work/$f.o"
    done
    rm -f "$prefix/lib/liblmdb.a"
    $AR rcs "$prefix/lib/liblmdb.a" "$work/mdb.o" "$work/midl.o"
    cp "$s/lmdb.h" "$prefix/include/"
    touch "$work/stamp-lmdb"
fi

if ! done_stamp curl; then
    log "libcurl (HTTP, HTTPS, SMTP, SMTPS over mbedTLS; configure takes a few minutes)"
    unpack curl
    s=$work/src/curl
    # Only what the agent uses: HTTP(S) to Plaid and Exact Online, SMTP(S) for alert mail.
    # No compression, IDN, PSL, HTTP/2 or SSH libraries: each would be another static
    # dependency to build and patch. The CA bundle path is Debian's (ca-certificates), the
    # same on Raspberry Pi OS; configure cannot probe the target's files when cross compiling.
    (cd "$s" && ./configure -C --host="$host" --prefix="$prefix" \
        --disable-shared --enable-static --disable-dependency-tracking \
        CFLAGS="$cflags" CPPFLAGS="-I$prefix/include" LDFLAGS="-L$prefix/lib" \
        --with-mbedtls="$prefix" --without-openssl --without-gnutls --without-wolfssl \
        --without-rustls --without-bearssl --without-nss \
        --enable-http --enable-smtp --enable-proxy --enable-threaded-resolver \
        --disable-ftp --disable-file --disable-ldap --disable-ldaps --disable-rtsp --disable-dict \
        --disable-telnet --disable-tftp --disable-pop3 --disable-imap --disable-gopher \
        --disable-mqtt --disable-smb --disable-manual --disable-cookies --disable-alt-svc \
        --disable-ntlm --disable-ntlm-wb --disable-unix-sockets --disable-netrc \
        --disable-libcurl-option --disable-hsts --disable-doh --disable-aws \
        --without-zlib --without-brotli --without-zstd --without-libidn2 --without-libpsl \
        --without-nghttp2 --without-nghttp3 --without-ngtcp2 --without-quiche --without-msh3 \
        --without-librtmp --without-libssh2 --without-libssh --without-wolfssh \
        --without-libgsasl --without-hyper \
        --with-ca-bundle=/etc/ssl/certs/ca-certificates.crt --without-ca-path) \
        >"$work/curl-configure.log" 2>&1 \
        || die "curl configure failed: see $work/curl-configure.log (and $s/config.log)"
    (make -C "$s/lib" -j"$jobs" && make -C "$s/lib" install && make -C "$s/include" install \
        && make -C "$s" install-pkgconfigDATA) >"$work/curl.log" 2>&1 \
        || die "curl build failed: see $work/curl.log"
    touch "$work/stamp-curl"
fi

if [ -s "$work/src/versions.new" ]; then
    cat "$work/src/versions.new" >>"$prefix/SOURCES"
    sort -u -o "$prefix/SOURCES" "$prefix/SOURCES"
fi
rm -f "$work/src/versions.new"
echo "$prefix"
