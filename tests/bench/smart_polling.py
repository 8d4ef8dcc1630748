#!/usr/bin/env python3
"""smart_polling.py: smart polling against fixed 2 s polling on the same
simulated listening sessions (issue 5, "Must show" 6). python3 stdlib only.

Two deployments run side by side against one spotify-sim, each with its own
redis-server and worker: "fixed" (`smart-polling no`, every 2 s: the seed's
behaviour) and "smart" (the defaults: a poll at each track's predicted end,
otherwise every playing-max-ms; backoff while paused or idle). Every session
is played twice at the same moments, once for user f<i> (fixed) and once for
s<i> (smart), so both modes see exactly the same listening.

A session (seeded): starts within the first 15 s with a queue of tracks of
60-150 s (real songs are longer: shorter tracks mean more track ends per hour,
which is smart polling's worst case, so the calls figure is conservative),
1-3 skips, one pause of 20-60 s, and it stops (nothing playing) somewhere in
its last 30 %, idle until the end. Real time, clock scale 1: the worker
predicts track ends from the simulator's progress, so the simulator's clock
must run at the worker's pace.

Figures:
  calls per user-hour   the simulator's count of every Web API call per user
                        over the whole run, per hour
  natural end delay     a track_changed event not caused by a skip: the new
                        track's progress_ms when the poll saw it (the time
                        since the change, as Spotify reports it)
  skip delay            event `at` minus the change's timestamp, as the
                        simulator returned it for POST .../next
  pause delay           event `at` minus the pause's timestamp

usage: tests/bench/smart_polling.py [--sessions N] [--seconds S] [--seed N]
exit:  0 when smart polling makes >= 5x fewer calls and its median natural-end
       delay is < 1.5 s, else 1
"""
import argparse
import json
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402
from harness import Redis, RedisServer, Sim, Worker  # noqa: E402

SCOPE = "user-read-currently-playing user-read-playback-state"
MODES = {
    "fixed": ["--smart-polling", "no", "--poll-interval-ms", "2000"],
    "smart": ["--smart-polling", "yes"],      # every other smart directive at its default
}
COMMON = ["--log-level", "warn", "--claim-batch", "64"]


def pct(xs, q):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def make_sessions(n, seconds, seed):
    """[(t_s, index, action, arg)] for n sessions, sorted by time."""
    rng = random.Random(seed)
    acts = []
    for i in range(n):
        start = rng.uniform(2, 15)
        end = rng.uniform(0.7, 1.0) * seconds
        tracks = [{"id": "tr%d-%d" % (i, k), "name": "Track %d-%d" % (i, k), "artists": ["Artist %d" % i],
                   "album": "Album %d" % i, "duration_ms": rng.randint(60, 150) * 1000} for k in range(20)]
        acts.append((start, i, "play", tracks))
        p0 = rng.uniform(start + 20, max(start + 21, end - 70))
        p1 = p0 + rng.uniform(20, 60)
        if p1 + 5 < end:
            acts.append((p0, i, "pause", None))
            acts.append((p1, i, "resume", None))
        for _ in range(rng.randint(1, 3)):
            t = rng.uniform(start + 10, end - 5)
            if t > start + 10 and not (p0 - 2 < t < p1 + 2):
                acts.append((t, i, "next", None))
        if end < seconds - 5:
            acts.append((end, i, "stop", None))
    acts.sort(key=lambda a: a[0])
    return acts


def bulk_users(r, sim, app, users):
    """Users as `user add` + `watch start` store them (README key schema)."""
    cid = "cid-" + app
    c = r.client()
    t = c.cmd("TIME")
    now = int(t[0]) * 1000 + int(t[1]) // 1000
    for i, u in enumerate(users):
        tok = sim.ok("POST", "/sim/users/%s/tokens" % u, {"client_id": cid, "scope": SCOPE})
        key = "sw:{%s}:user:%s" % (app, u)
        c.cmd("HSET", key, "app", app, "access_token", "plain." + tok["access_token"],
              "refresh_token", "plain." + tok["refresh_token"], "expires_at", now + tok["expires_in"] * 1000,
              "scope", SCOPE, "authorized_at", now, "status", "active", "reason", "", "fails", 0, "idle", 0)
        c.cmd("HSET", "sw:users", u, app)
        c.cmd("ZADD", "sw:{%s}:due" % app, now + (i * 500) // len(users), u)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=240)
    ap.add_argument("--seed", type=int, default=5)
    a = ap.parse_args(argv)
    try:
        return run(a)
    finally:
        harness.cleanup()


def run(a):
    sim = Sim(["--seed", str(a.seed)])
    dep = {}
    for mode in MODES:
        r = RedisServer()
        cid = "cid-" + mode
        sim.ok("POST", "/sim/apps", {"client_id": cid, "client_secret": "s-" + cid, "mode": "extended",
                                     "redirect_uris": ["http://127.0.0.1/callback"]})
        harness.spotwatch(r, "app", "add", mode, "--client-id", cid, "--client-secret", "s-" + cid,
                          "--mode", "extended")
        users = ["%s%d" % (mode[0], i) for i in range(a.sessions)]
        bulk_users(r, sim, mode, users)
        sub = Redis(r.port)
        sub.send("PSUBSCRIBE", "sw:playback:*")
        sub.read_message(5)
        dep[mode] = {"redis": r, "users": users, "sub": sub, "events": []}
    print("smart_polling: %d sessions x 2 modes, %.0f s, seed %d" % (a.sessions, a.seconds, a.seed), flush=True)
    acts = make_sessions(a.sessions, a.seconds, a.seed)
    truth = {"skip": {}, "pause": {}}      # (user, key) -> sim timestamp
    for mode in MODES:
        Worker(dep[mode]["redis"], sim, COMMON + MODES[mode])
    sim.ok("POST", "/sim/stats/reset")
    t0 = time.time()
    k = 0
    while True:
        now = time.time() - t0
        while k < len(acts) and acts[k][0] <= now:
            _, i, act, arg = acts[k]
            k += 1
            for mode in MODES:
                u = "%s%d" % (mode[0], i)
                if act == "play":
                    sim.ok("PUT", "/sim/users/%s/playback" % u,
                           {"queue": arg, "index": 0, "progress_ms": 0, "is_playing": True,
                            "device": {"id": "d-" + u, "name": "Phone", "type": "Smartphone"}})
                elif act == "stop":
                    sim.ok("DELETE", "/sim/users/%s/playback" % u)
                else:
                    st, v = sim.ctl("POST", "/sim/users/%s/%s" % (u, act))
                    if st != 200:
                        continue          # e.g. the queue ran out before a skip
                    if act == "next" and v.get("item"):
                        truth["skip"][(u, v["item"]["id"])] = v["timestamp"]
                    elif act == "pause":
                        truth["pause"][(u, v["timestamp"])] = v["timestamp"]
        for mode in MODES:
            d = dep[mode]
            while True:
                m = d["sub"].read_message(0.001)
                if m is None:
                    break
                d["events"].append(json.loads(m[-1]))
        if now >= a.seconds:
            break
        time.sleep(0.02)
    elapsed = time.time() - t0
    st = sim.stats()["requests"]["by_user"]

    rows = {}
    for mode in MODES:
        d = dep[mode]
        calls = sum(st.get(u, 0) for u in d["users"])
        per_hour = calls / float(len(d["users"])) / (elapsed / 3600.0)
        nat, skip, pause = [], [], []
        pauses = {}
        for (u, ts) in truth["pause"]:
            pauses.setdefault(u, []).append(ts)
        for e in d["events"]:
            u = e["user"]
            if e["type"] == "track_changed" and e.get("track"):
                ts = truth["skip"].get((u, e["track"]["id"]))
                if ts is not None:
                    skip.append(e["at"] - ts)
                else:
                    nat.append(e.get("progress_ms") or 0)
            elif e["type"] == "playback_paused":
                before = [ts for ts in pauses.get(u, []) if ts <= e["at"]]
                if before:
                    pause.append(e["at"] - max(before))
        rows[mode] = (per_hour, nat, skip, pause)

    print("%-6s %16s %22s %22s %22s" % ("mode", "calls/user-hour", "natural end p50/p95", "skip p50/p95",
                                         "pause p50/p95"))
    for mode in MODES:
        per_hour, nat, skip, pause = rows[mode]
        f = lambda xs: "%5.2f / %5.2f s (%d)" % (pct(xs, 0.5) / 1000.0, pct(xs, 0.95) / 1000.0, len(xs))  # noqa
        print("%-6s %16.0f %22s %22s %22s" % (mode, per_hour, f(nat), f(skip), f(pause)))
    ratio = rows["fixed"][0] / max(1e-9, rows["smart"][0])
    med = pct(rows["smart"][1], 0.5)
    print("smart polling: %.1fx fewer calls per user-hour; median natural-end delay %.2f s" % (ratio, med / 1000.0))
    ok = ratio >= 5 and med < 1500
    print("issue 5 must-show 6 (>= 5x fewer calls, median natural end < 1.5 s): %s" % ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
