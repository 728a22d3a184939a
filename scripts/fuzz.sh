#!/usr/bin/env bash
# Builds hills' libFuzzer targets with clang (in build-fuzz, with ASan and
# UBSan) and runs each for a while, starting from its seed corpus in
# tests/fuzz/corpus/<target>. New inputs the fuzzer finds go to
# build-fuzz/corpus/<target> (not committed); a finding is kept as
# build-fuzz/findings/<target>/crash-* and ends the script with status 1.
#
#   scripts/fuzz.sh                        # every target, 60 s each
#   scripts/fuzz.sh --seconds 3600 value   # one target for an hour
#   JOBS=4 scripts/fuzz.sh                 # build with 4 jobs
#
# Targets: value change rpc json config. Needs clang++ and libclang-rt-14-dev.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
jobs=${JOBS:-$(nproc)}
seconds=60
all_targets=(value change rpc json config cell)
targets=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --seconds=*) seconds=${1#*=}; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[[ ${#targets[@]} -eq 0 ]] && targets=("${all_targets[@]}")

command -v clang++ >/dev/null || { echo "fuzz: clang++ is not installed (scripts/install-deps.sh)" >&2; exit 2; }
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang \
  -DHILLS_BUILD_FUZZERS=ON -DHILLS_BUILD_TESTS=OFF -DHILLS_BUILD_BENCH=OFF \
  -DHILLS_BUILD_EXAMPLES=OFF -DHILLS_BUILD_VIEWER=OFF ${CMAKE_ARGS:-} >/dev/null
# Code generators run during the build are instrumented too: their leaks
# are not findings.
ASAN_OPTIONS=detect_leaks=0 cmake --build "$build" -j "$jobs" \
  --target "${targets[@]/%/_fuzzer}"

# Databases of the targets go under the build tree, removed after each run
# (a crash leaves its directory behind).
export TMPDIR="$build/tmp"
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t"
  findings="$build/findings/$t"
  mkdir -p "$corpus" "$findings" "$TMPDIR"
  echo "fuzz: $t for ${seconds} s"
  if ! "$build/tests/fuzz/${t}_fuzzer" "$corpus" "$root/tests/fuzz/corpus/$t" \
      -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 \
      -artifact_prefix="$findings/" >"$build/fuzz-$t.log" 2>&1; then
    echo "fuzz: $t found something: $build/fuzz-$t.log, input in $findings/" >&2
    grep -m1 -A3 "FUZZ FINDING\|ERROR: \|SUMMARY" "$build/fuzz-$t.log" >&2 || true
    status=1
  fi
  grep -E "^stat::number_of_executed_units|^Done [0-9]+ runs" "$build/fuzz-$t.log" \
    | sed "s/^/fuzz: $t: /" || true
  rm -rf "${TMPDIR:?}"/hills-test-*
done
exit $status
