#!/usr/bin/env python3
"""smart_polling.py: smart polling against fixed 2 s polling on the same
simulated listening sessions (issue 5, "Must show" 6), and the budget-driven
speed-up (issue 14, "Must show" 7) under a light, a medium and a heavy load.
python3 stdlib only.

Three modes, each its own deployment (a redis-server and a worker) against one
spotify-sim, side by side:
  fixed   `smart-polling no`, every 2 s (the seed's behaviour)
  smart   smart polling as it was: a poll at each track's predicted end,
          otherwise every playing-max-ms (15 s); backoff while paused or idle
          (`budget-target-pct 0`)
  timely  smart polling that spends the budget's room (the defaults): playing
          users polled down to poll-interval-ms (2 s) while the app's window
          uses less than budget-target-pct (75 %) of its budget, stretched
          back towards playing-max-ms as it fills (lua/lib/speedup.lua)
and three loads, each mode with its own app whose Spotify limit (the
simulator's rate_limit per app) equals its budget (`app add --budget`):
  light   40 sessions, budget 2000 calls / 30 s: ample for every mode
  medium  60 sessions, budget 300 / 30 s: smart polling uses about half of
          it, fixed polling three times it
  heavy   150 sessions, budget 150 / 30 s: even smart polling's demand is
          above it (users x demand far above the budget)
Every session of a load is played once per mode at the same moments (users
<load><mode><i>), so the modes see exactly the same listening.

A session (seeded): starts within the first 15 s with a queue of tracks of
60-150 s (real songs are longer: shorter tracks mean more track ends per hour,
which is smart polling's worst case, so the calls figure is conservative),
1-3 skips, one pause of 20-60 s, and it stops (nothing playing) somewhere in
its last 30 %, idle until the end. Real time, clock scale 1: the worker
predicts track ends from the simulator's progress, so the simulator's clock
must run at the worker's pace. The timely mode starts from speed 0 (smart
polling's intervals) and, lightly loaded, reaches its top in about 15 s;
that ramp is in its figures.

Figures:
  calls per user-hour   the simulator's count of every Web API call per user
                        over the whole run, per hour
  use                   the app's calls per 30 s over its budget, over the
                        last two thirds of the run (after timely's ramp)
  natural end delay     a track_changed event not caused by a skip: the new
                        track's progress_ms when the poll saw it (the time
                        since the change, as Spotify reports it)
  skip delay            event `at` minus the change's timestamp, as the
                        simulator returned it for POST .../next
  pause delay           event `at` minus the pause's timestamp
  429                   the simulator's 429s to the app (its rate_limited)

usage: tests/bench/smart_polling.py [--sessions-scale X] [--seconds S] [--seed N]
                                     [--loads light,medium,heavy]
exit:  0 when issue 14's timeliness target holds ("a small deployment gets
       fixed-2 s latency and a large one never exceeds its budget"): (light)
       timely's median skip and pause delays are those of fixed 2 s polling
       (within TIMELY_SLACK), (heavy) timely stays within its budget and makes
       no more calls than smart polling, and no app drew a 429; else 1.
       Issue 5's figures (smart polling's calls saved against fixed polling,
       its median natural-end delay) are printed beside, not judged: issue 14
       replaced "fewest calls" by "spend the budget's room on latency".
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
    "smart": ["--smart-polling", "yes", "--budget-target-pct", "0"],   # smart polling as it was
    "timely": ["--smart-polling", "yes"],     # every other smart directive at its default
}
# sessions, and the budget per 30 s (= the simulator's limit for the app)
# "Fixed-2 s latency" (issue 14), as a bound: timely's median delay may exceed
# fixed polling's by this share (run-to-run noise of a median over ~60 events).
TIMELY_SLACK = 0.10
LOADS = {
    "light": (40, 2000),
    "medium": (60, 300),
    "heavy": (150, 150),
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
    ap.add_argument("--sessions-scale", type=float, default=1.0, help="multiplies every load's sessions")
    ap.add_argument("--seconds", type=float, default=240)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--loads", default=",".join(LOADS))
    a = ap.parse_args(argv)
    a.loads = [x for x in a.loads.split(",") if x]
    for x in a.loads:
        if x not in LOADS:
            ap.error("unknown load %r" % x)
    try:
        return run(a)
    finally:
        harness.cleanup()


def deploy(sim, load, mode, n, budget):
    """One app (its own redis-server) for a load and a mode, with n users."""
    r = RedisServer()
    app = load + mode
    cid = "cid-" + app
    sim.ok("POST", "/sim/apps", {"client_id": cid, "client_secret": "s-" + cid, "mode": "extended",
                                 "redirect_uris": ["http://127.0.0.1/callback"], "rate_limit": budget})
    harness.spotwatch(r, "app", "add", app, "--client-id", cid, "--client-secret", "s-" + cid,
                      "--mode", "extended", "--budget", str(budget))
    users = ["%s%s%d" % (load[0], mode[0], i) for i in range(n)]
    bulk_users(r, sim, app, users)
    sub = Redis(r.port)
    sub.send("PSUBSCRIBE", "sw:playback:*")
    sub.read_message(5)
    return {"redis": r, "app": app, "cid": cid, "users": users, "sub": sub, "events": [], "budget": budget}


def act(sim, u, what, arg, truth):
    """One session action for user u; skips and pauses recorded in truth."""
    if what == "play":
        sim.ok("PUT", "/sim/users/%s/playback" % u,
               {"queue": arg, "index": 0, "progress_ms": 0, "is_playing": True,
                "device": {"id": "d-" + u, "name": "Phone", "type": "Smartphone"}})
    elif what == "stop":
        sim.ok("DELETE", "/sim/users/%s/playback" % u)
    else:
        st, v = sim.ctl("POST", "/sim/users/%s/%s" % (u, what))
        if st != 200:
            return                # e.g. the queue ran out before a skip
        if what == "next" and v.get("item"):
            truth["skip"][(u, v["item"]["id"])] = v["timestamp"]
        elif what == "pause":
            truth["pause"][(u, v["timestamp"])] = v["timestamp"]


def figures(d, st, elapsed, truth):
    """(calls per user-hour, natural ends, skips, pauses) of one deployment."""
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
    return per_hour, nat, skip, pause, calls


def run(a):
    sim = Sim(["--seed", str(a.seed)])
    dep, acts = {}, []
    for k, load in enumerate(a.loads):
        n = max(1, int(round(LOADS[load][0] * a.sessions_scale)))
        for mode in MODES:
            dep[(load, mode)] = deploy(sim, load, mode, n, LOADS[load][1])
        acts += [(t, load, i, what, arg) for (t, i, what, arg) in make_sessions(n, a.seconds, a.seed + k)]
    acts.sort(key=lambda x: x[0])
    print("smart_polling: loads %s x modes %s, %.0f s, seed %d" %
          (", ".join("%s (%d sessions, budget %d/30 s)" % (ld, len(dep[(ld, "fixed")]["users"]), LOADS[ld][1])
                     for ld in a.loads), ", ".join(MODES), a.seconds, a.seed), flush=True)
    truth = {"skip": {}, "pause": {}}      # (user, key) -> sim timestamp
    for (load, mode), d in dep.items():
        Worker(d["redis"], sim, COMMON + MODES[mode])
    sim.ok("POST", "/sim/stats/reset")
    t0 = time.time()
    k = 0
    mid = None                             # (by_user, time) at a third of the run
    while True:
        now = time.time() - t0
        while k < len(acts) and acts[k][0] <= now:
            _, load, i, what, arg = acts[k]
            k += 1
            for mode in MODES:
                act(sim, "%s%s%d" % (load[0], mode[0], i), what, arg, truth)
        for d in dep.values():
            while True:
                m = d["sub"].read_message(0.001)
                if m is None:
                    break
                d["events"].append(json.loads(m[-1]))
        if mid is None and now >= a.seconds / 3:
            mid = (sim.stats()["requests"]["by_user"], time.time())
        if now >= a.seconds:
            break
        time.sleep(0.02)
    elapsed = time.time() - t0
    st = sim.stats()["requests"]["by_user"]
    late = ({u: st.get(u, 0) - mid[0].get(u, 0) for u in st}, time.time() - mid[1])
    apps = {x["client_id"]: x for x in sim.ok("GET", "/sim/apps")}
    return report(a, dep, st, late, apps, elapsed, truth)


def report(a, dep, st, late, apps, elapsed, truth):
    rows = {}
    f = lambda xs: "%.2f / %.2f s" % (pct(xs, 0.5) / 1000.0, pct(xs, 0.95) / 1000.0)  # noqa: E731
    print("%-7s %-7s %9s %7s %7s %18s %18s %18s %5s" % ("load", "mode", "calls/u-h", "use", "speed",
                                                      "natural end p50/95", "skip p50/95", "pause p50/95", "429"))
    md = ["| load | mode | calls per user-hour | budget use | skip p50 / p95 | pause p50 / p95 | "
          "natural end p50 / p95 | 429s |", "|---|---|---|---|---|---|---|---|"]
    for (load, mode), d in dep.items():
        per_hour, nat, skip, pause, _ = figures(d, st, elapsed, truth)
        use = sum(late[0].get(u, 0) for u in d["users"]) / (late[1] / 30.0) / d["budget"]
        c = d["redis"].client()
        speed = c.cmd("HGET", "sw:{%s}:rl" % d["app"], "speed")
        n429 = apps.get(d["cid"], {}).get("rate_limited", 0)
        rows[(load, mode)] = {"per_hour": per_hour, "nat": nat, "skip": skip, "pause": pause, "use": use,
                              "r429": n429}
        print("%-7s %-7s %9.0f %6.0f%% %7s %18s %18s %18s %5d" %
              (load, mode, per_hour, 100 * use, "-" if speed is None else "%.2f" % float(speed), f(nat), f(skip),
               f(pause), n429))
        md.append("| %s (%d users, budget %d/30 s) | %s | %.0f | %.0f %% | %s | %s | %s | %d |" %
                  (load, len(d["users"]), d["budget"], mode, per_hour, 100 * use, f(skip), f(pause), f(nat), n429))
    print("\n".join(md))
    save(a, rows)
    return verdict(a, rows)


# Where the figures are kept for `make bench`'s capacity table
# (tests/bench/results_md.py capacity: smart polling's calls per user-hour).
JSON_PATH = os.path.join(HERE, "..", "..", "build", "bench", "smart_polling.json")


def save(a, rows):
    out = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "seed": a.seed, "seconds": a.seconds,
           "rows": {"%s/%s" % k: {"per_hour": r["per_hour"], "use": r["use"], "r429": r["r429"],
                                  "skip_p50_ms": pct(r["skip"], 0.5), "pause_p50_ms": pct(r["pause"], 0.5),
                                  "natural_p50_ms": pct(r["nat"], 0.5)} for k, r in rows.items()}}
    if "light" in a.loads:
        for mode in MODES:
            out[mode + "_per_hour"] = rows[("light", mode)]["per_hour"]
    os.makedirs(os.path.dirname(JSON_PATH), exist_ok=True)
    with open(JSON_PATH, "w") as f:
        json.dump(out, f, indent=1)
    print("figures: %s" % os.path.normpath(JSON_PATH))


def verdict(a, rows):
    ok = all(r["r429"] == 0 for r in rows.values())
    print("no app drew a 429: %s" % ("yes" if ok else "NO"))
    if "light" in a.loads:
        lf, ls, lt = rows[("light", "fixed")], rows[("light", "smart")], rows[("light", "timely")]
        ratio = lf["per_hour"] / max(1e-9, ls["per_hour"])
        fixed_skip, fixed_pause = pct(lf["skip"], 0.5), pct(lf["pause"], 0.5)
        skip, pause = pct(lt["skip"], 0.5), pct(lt["pause"], 0.5)
        print("light (issue 14): timely median skip %.2f s, pause %.2f s; fixed 2 s polling %.2f s, %.2f s "
              "(target: fixed-2 s latency, within %d %%), for %.0f %% of fixed polling's calls" %
              (skip / 1000.0, pause / 1000.0, fixed_skip / 1000.0, fixed_pause / 1000.0, 100 * TIMELY_SLACK,
               100.0 * lt["per_hour"] / max(1e-9, lf["per_hour"])))
        print("light (issue 5, reported): smart polling as it was makes %.1fx fewer calls than fixed, median "
              "natural end %.2f s" % (ratio, pct(ls["nat"], 0.5) / 1000.0))
        ok = ok and skip <= fixed_skip * (1 + TIMELY_SLACK) and pause <= fixed_pause * (1 + TIMELY_SLACK)
    if "heavy" in a.loads:
        hs, ht = rows[("heavy", "smart")], rows[("heavy", "timely")]
        print("heavy: timely %.0f calls per user-hour, smart %.0f (budget use %.0f %% and %.0f %%)" %
              (ht["per_hour"], hs["per_hour"], 100 * ht["use"], 100 * hs["use"]))
        ok = ok and ht["per_hour"] <= hs["per_hour"] * 1.05 and ht["use"] <= 1.0
    print("issue 14 must-show 7 (timeliness within the budget): %s" % ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
