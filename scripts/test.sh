#!/usr/bin/env bash
# Installs what is missing, builds hills and runs every test through ctest.
# Exits non-zero on any failure.
#
#   scripts/test.sh            # build in ./build
#   BUILD_DIR=/tmp/b scripts/test.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$root/build}
jobs=${JOBS:-$(nproc)}

"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHILLS_BUILD_TESTS=ON ${CMAKE_ARGS:-}
cmake --build "$build" -j "$jobs"
cd "$build"
ctest --output-on-failure -j "$jobs" --timeout 900
