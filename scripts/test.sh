#!/usr/bin/env bash
# Installs what is missing, builds hills and runs every test through ctest,
# then a short run of the fuzz targets (about a minute in all; skipped when
# clang++ or its fuzzer runtime, libclang-rt-14-dev, is missing).
# Exits non-zero on any failure.
#
#   scripts/test.sh              # build in ./build
#   BUILD_DIR=/tmp/b scripts/test.sh
#   HILLS_FUZZ_SECONDS=0 scripts/test.sh   # no fuzzing (N: seconds per target)
#
#   scripts/test.sh --sanitize   # or HILLS_SANITIZE=1: the sanitizer job
#
# The sanitizer job builds in ./build-asan with ASan and UBSan (every UBSan
# report fails) and runs every test but the benchmarks and the packaging
# tests, then in ./build-tsan with ThreadSanitizer and runs the sync tests
# (client, server, integration) with tests/tsan.supp.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=${JOBS:-$(nproc)}
sanitize=${HILLS_SANITIZE:-0}
for arg in "$@"; do
  case "$arg" in
    --sanitize) sanitize=1 ;;
    *) echo "test.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done

"$root/scripts/install-deps.sh"

if [[ "$sanitize" == 0 ]]; then
  build=${BUILD_DIR:-$root/build}
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHILLS_BUILD_TESTS=ON ${CMAKE_ARGS:-}
  cmake --build "$build" -j "$jobs"
  (cd "$build" && ctest --output-on-failure -j "$jobs" --timeout 900)
  seconds=${HILLS_FUZZ_SECONDS:-12}
  if [[ "$seconds" != 0 ]]; then
    if command -v clang++ >/dev/null && dpkg-query -W -f='${Status}' libclang-rt-14-dev 2>/dev/null \
        | grep -q "install ok installed"; then
      "$root/scripts/fuzz.sh" --seconds "$seconds"
    else
      echo "test.sh: no clang++ with libFuzzer: the fuzz targets only replayed their corpora"
    fi
  fi
  exit 0
fi

# ASan + UBSan over every test but the benchmarks and the packaging tests
# ("cmake: ..."), which build, install or package hills as another project
# takes it, without the sanitizers: the plain run (no --sanitize) has them.
# Leaks are findings too (tests/lsan.supp names the few that uninstrumented
# system libraries keep for the life of the process).
asan=$root/build-asan
cmake -S "$root" -B "$asan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHILLS_BUILD_TESTS=ON \
  -DHILLS_BUILD_BENCH=OFF -DHILLS_SANITIZE=ON ${CMAKE_ARGS:-}
# Code generators run during the build are instrumented too: their leaks
# are not the tests' findings.
ASAN_OPTIONS=detect_leaks=0 cmake --build "$asan" -j "$jobs"
(cd "$asan" &&
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  LSAN_OPTIONS="suppressions=$root/tests/lsan.supp" \
    ctest --output-on-failure -j "$jobs" --timeout 1800 -E '^cmake: ')

# ThreadSanitizer over the sync tests: threads meet in the client and the
# server. tests/tsan.supp hides the handoffs of Debian's libkj, which is
# not built with TSan. A report fails the test (exit code 66).
tsan=$root/build-tsan
cmake -S "$root" -B "$tsan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHILLS_BUILD_TESTS=ON \
  -DHILLS_BUILD_BENCH=OFF -DHILLS_BUILD_EXAMPLES=OFF -DHILLS_BUILD_VIEWER=OFF \
  -DHILLS_TSAN=ON ${CMAKE_ARGS:-}
cmake --build "$tsan" -j "$jobs" \
  --target hills-client-tests hills-server-tests hills-integration-tests hills-server
(cd "$tsan" &&
  TSAN_OPTIONS="suppressions=$root/tests/tsan.supp:exitcode=66" \
    ctest --output-on-failure -j "$jobs" --timeout 1800 --no-tests=error \
      -R '^(client|server|integration):')
