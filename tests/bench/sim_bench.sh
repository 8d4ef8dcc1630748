#!/bin/sh
# sim_bench.sh: keep-alive load on one spotify-sim process (one epoll thread)
# against GET /v1/me/player/currently-playing; prints requests/s.
#
# usage: tests/bench/sim_bench.sh [SECONDS] [CONNECTIONS]
# env:   SIM=bin/spotify-sim  MIN_RPS=5000 (exit 1 if below)
set -eu
cd "$(dirname "$0")/../.."
SECS=${1:-5}
CONNS=${2:-32}
SIM=${SIM:-bin/spotify-sim}
MIN_RPS=${MIN_RPS:-5000}
command -v wrk >/dev/null || { echo "sim_bench: wrk is not installed" >&2; exit 2; }
[ -x "$SIM" ] || { echo "sim_bench: $SIM not built (make bin/spotify-sim)" >&2; exit 2; }

tmp=$(mktemp -d)
out="$tmp/sim.out"
# pin the simulator to one core when taskset exists, wrk to another
pin=""
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then pin="taskset -c 0"; fi
$pin "$SIM" --port 0 >"$out" 2>"$tmp/sim.err" &
sim_pid=$!
trap 'kill $sim_pid 2>/dev/null; wait $sim_pid 2>/dev/null; rm -rf "$tmp"' EXIT INT TERM
i=0
while ! grep -q "listening on" "$out"; do
    i=$((i + 1)); [ $i -lt 100 ] || { echo "sim_bench: simulator did not start" >&2; exit 2; }
    sleep 0.05
done
port=$(sed -n 's/.*listening on [0-9.]*:\([0-9]*\).*/\1/p' "$out")
base="http://127.0.0.1:$port"

curl -sf -XPOST "$base/sim/apps" -d '{"client_id":"bench","client_secret":"s","mode":"extended"}' >/dev/null
tok=$(curl -sf -XPOST "$base/sim/users/bench-user/tokens" \
      -d '{"client_id":"bench","scope":"user-read-currently-playing user-read-playback-state"}' |
      sed 's/.*"access_token":"\([^"]*\)".*/\1/')
curl -sf -XPUT "$base/sim/users/bench-user/playback" \
     -d '{"queue":[{"id":"t1","name":"Bench Song","artists":["Bench Artist"],"album":"Bench Album","duration_ms":180000}],"is_playing":true,"device":{"id":"d1","name":"Phone","type":"Smartphone"}}' >/dev/null

wpin=""
if [ -n "$pin" ]; then wpin="taskset -c 1"; fi
$wpin wrk -t1 -c"$CONNS" -d"${SECS}s" -H "Authorization: Bearer $tok" \
    "$base/v1/me/player/currently-playing" >"$tmp/wrk.txt"
cat "$tmp/wrk.txt"
rps=$(awk '/Requests\/sec/ {print $2}' "$tmp/wrk.txt")
non2xx=$(awk '/Non-2xx/ {print $5}' "$tmp/wrk.txt")
stats=$(curl -sf "$base/sim/stats")
echo "spotify-sim currently-playing: ${rps} requests/s (1 sim thread, ${CONNS} keep-alive connections, ${SECS}s)"
[ -z "$non2xx" ] || { echo "sim_bench: non-2xx responses: $non2xx" >&2; exit 1; }
echo "$stats" | grep -q '"200"' || { echo "sim_bench: no 200s counted" >&2; exit 1; }
awk -v r="$rps" -v m="$MIN_RPS" 'BEGIN { exit (r + 0 >= m + 0) ? 0 : 1 }' ||
    { echo "sim_bench: below target ${MIN_RPS} requests/s" >&2; exit 1; }
