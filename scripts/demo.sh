#!/usr/bin/env bash
# Installs what is missing, builds hills and runs the PLM example: parts and
# a bill of materials created, read zero-copy, released and revised.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$root/build}

"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)" --target plm-demo >/dev/null

data=$(mktemp -d "${TMPDIR:-/tmp}/hills-demo-XXXXXX")
trap 'rm -rf "$data"' EXIT
"$build/examples/plm-demo" "$data/plm"
