#!/bin/bash
# demo.sh: a live demo on one machine. A private redis-server and spotify-sim
# in a temp dir, an app and a dozen simulated users with playing queues (the
# simulator's clock runs 30x, so a 3-minute track ends in 6 s), two workers,
# then every event as it arrives for DEMO_SECONDS (30), then `status`.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN=${DEMO_SECONDS:-30}
SW=bin/spotwatch
TMP=$(mktemp -d /tmp/spotwatch-demo.XXXXXX)
PIDS=()

cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$TMP" --save '' --appendonly no \
    --maxmemory-policy noeviction --hash-max-listpack-value 512 >"$TMP/redis.log" 2>&1 &
PIDS+=($!)

bin/spotify-sim --port 0 --clock-scale 30 >"$TMP/sim.out" 2>"$TMP/sim.log" &
PIDS+=($!)
for _ in $(seq 50); do grep -q listening "$TMP/sim.out" 2>/dev/null && break; sleep 0.1; done
SIM_PORT=$(sed -n 's/.*listening on [0-9.]*:\([0-9]*\).*/\1/p' "$TMP/sim.out")
SIM="http://127.0.0.1:$SIM_PORT"
for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done

$SW keygen "$TMP/token.key" >/dev/null
OPTS=(--redis-port "$REDIS_PORT" --api-base "$SIM/v1" --accounts-base "$SIM" --token-key-file "$TMP/token.key")
sim() { curl -sf -X "$1" "$SIM$2" -H 'Content-Type: application/json' ${3:+-d "$3"}; }

echo "== redis on :$REDIS_PORT, spotify-sim on :$SIM_PORT (clock 30x), temp dir $TMP"
USERS=(alice bob carol dave erin frank grace heidi ivan judy mallory niaj)
ALLOW=$(printf '"%s",' "${USERS[@]}")
sim POST /sim/apps "{\"client_id\":\"demo-client\",\"client_secret\":\"demo-secret\",\"redirect_uris\":[\"http://127.0.0.1:8080/callback\"],\"mode\":\"extended\",\"allowlist\":[${ALLOW%,}]}" >/dev/null
$SW "${OPTS[@]}" app add demo --client-id demo-client --client-secret demo-secret --mode extended

SONGS=("Blue in Green" "So What" "Naima" "Footprints" "Maiden Voyage" "Cantaloupe Island" "Take Five" "Round Midnight")
i=0
for u in "${USERS[@]}"; do
    sim POST /sim/users "{\"id\":\"$u\",\"display_name\":\"$u\"}" >/dev/null
    tok=$(sim POST "/sim/users/$u/tokens" '{"client_id":"demo-client","scope":"user-read-currently-playing user-read-playback-state"}')
    at=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])' <<<"$tok")
    rt=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["refresh_token"])' <<<"$tok")
    queue=""
    for k in 0 1 2 3 4 5; do
        n=$(( (i + k) % ${#SONGS[@]} ))
        dur=$(( 60000 + ((i * 7 + k * 13) % 5) * 30000 ))
        queue+="{\"id\":\"t${n}x$k$i\",\"name\":\"${SONGS[$n]}\",\"artists\":[\"Quartet $n\"],\"album\":\"Album $n\",\"duration_ms\":$dur},"
    done
    sim PUT "/sim/users/$u/playback" "{\"queue\":[${queue%,}],\"index\":0,\"progress_ms\":$(( i * 5000 )),\"is_playing\":true,\"device\":{\"id\":\"dev-$u\",\"name\":\"$u's phone\",\"type\":\"Smartphone\"}}" >/dev/null
    $SW "${OPTS[@]}" user add "$u" --app demo --access-token "$at" --refresh-token "$rt" --expires-in 3600 >/dev/null
    $SW "${OPTS[@]}" watch start "$u" >/dev/null
    i=$((i + 1))
done
echo "== ${#USERS[@]} users registered (tokens sealed with AES-256-GCM); starting two workers"

echo "== events (spotwatch tail), for ${SECONDS_TO_RUN}s:"
timeout "$SECONDS_TO_RUN" $SW "${OPTS[@]}" tail | python3 -u -c '
import json, sys
for line in sys.stdin:
    e = json.loads(line)
    t = e.get("track") or {}
    print("%-18s %-8s %-22s %s" % (e["type"], e["user"], (t.get("name") or "-")[:22],
          "playing" if e.get("is_playing") else "paused/stopped"), flush=True)
' &
TAIL=$!
# Subscribe before the workers start, so no first event is missed.
for _ in $(seq 50); do
    [ "$(redis-cli -p "$REDIS_PORT" pubsub numpat 2>/dev/null)" = 1 ] && break
    sleep 0.1
done

# The simulator's clock runs 30x, so smart polling's predicted track ends (in
# simulated ms) would come far too late: poll playing users every 2 s instead.
$SW "${OPTS[@]}" --log-level warn --playing-max-ms 2000 worker 2>"$TMP/worker1.log" &
PIDS+=($!)
$SW "${OPTS[@]}" --log-level warn --playing-max-ms 2000 worker 2>"$TMP/worker2.log" &
PIDS+=($!)

# Some listeners pause, skip and move devices while we watch.
(
    sleep 5; sim POST /sim/users/bob/pause >/dev/null
    sleep 3; sim POST /sim/users/carol/next >/dev/null
    sleep 3; sim POST /sim/users/bob/resume >/dev/null
    sleep 4; sim DELETE /sim/users/dave/playback >/dev/null
    sleep 4; sim POST /sim/users/erin/next >/dev/null
) &
PIDS+=($!)
wait "$TAIL" || true

echo
echo "== spotwatch status"
$SW "${OPTS[@]}" status
