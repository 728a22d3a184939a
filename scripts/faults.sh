#!/usr/bin/env bash
# The fault suite's long form: the scenarios of tests/faults at large counts
# (ctest runs them with small ones). Prints, and appends to the report
# file, one line of figures per scenario: kills survived, writes
# acknowledged, lost, diverged, duplicate ids. Exits non-zero when a
# scenario fails.
#
#   scripts/faults.sh                  # 100 faults per scenario, build in ./build
#   scripts/faults.sh --kills 200 --seed 7 --report /tmp/faults.txt
#   scripts/faults.sh --only '[proxy]' # one scenario (a Catch2 tag)
#   BUILD_DIR=/tmp/b scripts/faults.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$root/build}
kills=100
seed=20240612
only='[faults]'
report=$build/faults-report.txt

while [[ $# -gt 0 ]]; do
  case $1 in
    --kills) kills=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --report) report=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "faults.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

cmake --build "$build" --target hills-fault-tests -j "${JOBS:-2}"
: > "$report"
echo "fault suite: $kills faults per scenario, seed $seed, report in $report"
status=0
HILLS_FAULT_ROUNDS=$kills HILLS_FAULT_SEED=$seed HILLS_FAULTS_REPORT=$report \
  "$build/tests/faults/hills-fault-tests" "$only" --durations yes || status=$?
echo
cat "$report"
exit $status
