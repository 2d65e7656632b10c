#!/usr/bin/env bash
# Installs every Debian 12 package that building, testing and the demo need. Run as root.
# Usage: tools/install-deps.sh [--cross]
#   --cross  also install what the ARM cross builds and the static builds need (see
#            docs/static-build.md): arm64/armhf multiarch -dev packages, the cross compilers,
#            qemu-user-static, musl, and a deb-src line so `apt-get source` works.
set -euo pipefail
cross=0
for arg in "$@"; do
    case "$arg" in
        --cross) cross=1 ;;
        *) echo "install-deps: unknown option '$arg' (the only option is --cross)" >&2; exit 64 ;;
    esac
done
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: run as root (it calls apt-get)" >&2
    exit 77
fi
export DEBIAN_FRONTEND=noninteractive
# A mirror in the middle of a sync, or the index of an extra architecture that fails to download,
# makes `apt-get update` exit non-zero although the lists we need are fine: retry once, then go on
# with what we have; the install that follows fails clearly if a package really cannot be found.
apt_update() {
    apt-get update -q && return 0
    sleep 5
    apt-get update -q ||
        echo "install-deps: warning: apt-get update reported errors; continuing with the package lists it could read" >&2
}
apt_update
apt-get install -y -q --no-install-recommends \
    build-essential cmake pkg-config clang libclang-rt-14-dev \
    libmbedtls-dev libcurl4-openssl-dev libcjson-dev liblmdb-dev lmdb-utils libcmocka-dev \
    valgrind ca-certificates curl openssl tzdata time \
    python3 python3-cryptography python3-yaml python3-jsonschema python3-pytest

if [ "$cross" -eq 1 ]; then
    # Source packages for tools/build-static-deps.sh: add a deb-src line for bookworm if none exists.
    if ! grep -rqsE '^(deb-src|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        cat >/etc/apt/sources.list.d/mlc-deb-src.sources <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    fi
    dpkg --add-architecture arm64
    dpkg --add-architecture armhf
    apt_update
    # The libraries named per architecture at the end are pulled in anyway; naming them lets apt
    # settle on one version for all architectures when the mirror is mid-sync for one of them.
    # If apt still reports unmet dependencies, see "Known limits" in docs/static-build.md.
    apt-get install -y -q --no-install-recommends \
        crossbuild-essential-arm64 crossbuild-essential-armhf qemu-user-static \
        dpkg-dev file musl-tools musl-dev musl-dev:arm64 musl-dev:armhf \
        libmbedtls-dev:arm64 libcurl4-openssl-dev:arm64 libcjson-dev:arm64 liblmdb-dev:arm64 \
        libcmocka-dev:arm64 \
        libmbedtls-dev:armhf libcurl4-openssl-dev:armhf libcjson-dev:armhf liblmdb-dev:armhf \
        libcmocka-dev:armhf \
        libbrotli1:arm64 libssh2-1:arm64 libsasl2-2:arm64 libsasl2-modules-db:arm64 \
        libbrotli1:armhf libssh2-1:armhf libsasl2-2:armhf libsasl2-modules-db:armhf
fi
