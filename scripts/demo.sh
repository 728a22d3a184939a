#!/usr/bin/env bash
# Installs what is missing, builds hills and shows it at work:
#  1. the PLM example: parts and a bill of materials created, read zero-copy,
#     released and revised, in one local database;
#  2. sync: a hills-server (TLS, with a certificate made here) and two
#     clients on 127.0.0.1, records created offline, a check-out refused and
#     granted, a check-in the other client sees, a release;
#  3. where the demo's databases are kept to open in hills-viewer.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$root/build}

"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)" --target plm-demo sync-demo hills-server >/dev/null
if grep -q "^HILLS_BUILD_VIEWER:BOOL=ON" "$build/CMakeCache.txt"; then
  cmake --build "$build" -j "$(nproc)" --target hills-viewer >/dev/null
fi

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
# The server speaks TLS with a self-signed certificate made here; it prints
# the certificate's fingerprint, which the clients are given to check.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365 \
  -keyout "$data/server.key" -out "$data/server.crt" -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
cat > "$data/server.json" <<'JSON'
{"clients": [
  {"name": "A", "token": "A-secret", "write": true},
  {"name": "B", "token": "B-secret", "write": true}
],
 "tls": {"certificateFile": "server.crt", "keyFile": "server.key"}}
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
fingerprint=$(sed -n 's/.*TLS certificate \(sha256:[0-9a-f]*\).*/\1/p' "$data/server.out")

"$build/examples/sync-demo" "$data/clients" "$address" "$fingerprint"
sleep 0.2  # let the server's last log lines through

echo
echo "### 3. Looking inside with hills-viewer (Qt 6; needs a display)"
echo "    hills-viewer <database directory>        e.g. a copy of the demo's databases:"
if [[ -x "$build/viewer/hills-viewer" ]]; then
  # Copied once the server has stopped: the files are then at rest.
  kill -TERM "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=
  keep=${TMPDIR:-/tmp}/hills-demo-databases
  rm -rf "$keep" && mkdir -p "$keep" && cp -r "$data/plm" "$data/server" "$keep/"
  echo "    $build/viewer/hills-viewer $keep/plm"
  echo "    $build/viewer/hills-viewer $keep/server     (the server's database, read-only)"
else
  echo "    (hills-viewer was not built here: Qt 6 Widgets was not found)"
fi
