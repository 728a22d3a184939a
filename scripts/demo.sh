#!/usr/bin/env bash
# Installs what is missing, builds hills and shows it at work:
#  1. the PLM example: parts and a bill of materials created, read zero-copy,
#     released and revised, in one local database;
#  2. sync: a hills-server and two clients on 127.0.0.1, records created
#     offline, a check-out refused and granted, a check-in the other client
#     sees, a release.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$root/build}

"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)" --target plm-demo sync-demo hills-server >/dev/null

data=$(mktemp -d "${TMPDIR:-/tmp}/hills-demo-XXXXXX")
server_pid=
cleanup() {
  if [[ -n "$server_pid" ]]; then kill -TERM "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$data"
}
trap cleanup EXIT

echo "### 1. One local database"
"$build/examples/plm-demo" "$data/plm"

echo
echo "### 2. A hills-server and two clients on 127.0.0.1"
cat > "$data/server.json" <<'JSON'
{"clients": [
  {"name": "A", "token": "A-secret", "write": true},
  {"name": "B", "token": "B-secret", "write": true}
]}
JSON
# Port 0: the server picks a free port and prints it.
"$build/server/hills-server" --db "$data/server" --listen 127.0.0.1:0 \
  --config "$data/server.json" > "$data/server.out" 2> >(sed 's/^/    [server log] /' >&2) &
server_pid=$!
for _ in $(seq 100); do
  grep -q "listening on" "$data/server.out" 2>/dev/null && break
  sleep 0.1
done
cat "$data/server.out"
address=$(sed -n 's/.*listening on \([0-9.]*:[0-9]*\).*/\1/p' "$data/server.out")
[[ -n "$address" ]] || { echo "hills-server did not start" >&2; exit 1; }

"$build/examples/sync-demo" "$data/clients" "$address"
sleep 0.2  # let the server's last log lines through
