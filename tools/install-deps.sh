#!/usr/bin/env bash
# Installs every Debian 12 package that building, testing and the demo need. Run as root.
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: run as root (it calls apt-get)" >&2
    exit 77
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends \
    build-essential cmake pkg-config clang libclang-rt-14-dev \
    libmbedtls-dev libcurl4-openssl-dev libcjson-dev liblmdb-dev lmdb-utils libcmocka-dev \
    valgrind ca-certificates curl \
    python3 python3-cryptography python3-yaml python3-jsonschema python3-pytest
