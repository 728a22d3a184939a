#!/usr/bin/env bash
# Installs the Debian 12 packages hills builds and tests with, when missing.
# Idempotent and quiet when there is nothing to do; runs `apt-get update` only
# when something has to be installed.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  liblmdb-dev lmdb-utils
  capnproto libcapnp-dev
  libssl-dev openssl         # kj-tls and certificates (the demo, the TLS tests)
  libboost1.81-dev
  catch2
  libsqlite3-dev
  libbenchmark-dev
  qt6-base-dev xvfb
  clang libclang-rt-14-dev   # the fuzz targets (libFuzzer), scripts/fuzz.sh
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

sudo=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
