"""Late history (issue 14): recently-played lists plays hours late and out of
order, with played_at older than plays already announced. The backfill looks
back over history-window-ms and announces each play exactly once, whatever
order it turns up in, across repeated backfills and worker restarts. Real
redis-server, real spotify-sim (its POST /sim/users/<id>/history injects plays
with chosen played_at and visibility delays), real workers.
"""
import os
import random
import time

from harness import *  # noqa: F401,F403

SCOPE = "user-read-currently-playing user-read-playback-state user-read-recently-played"
RECENT = "/v1/me/player/recently-played"
BASE = ["--smart-polling", "no", "--poll-interval-ms", "200", "--lease-ms", "3000",
        "--http-timeout-ms", "2000", "--backoff-base-ms", "200", "--backoff-max-ms", "1000"]
EXTRA = BASE + ["--backfill-interval-ms", "300"]   # a backfill every other job


def uhash(c, user, app="app1"):
    return c.hgetall("sw:{%s}:user:%s" % (app, user))


def redis_ms(c):
    s, us = c.cmd("TIME")
    return int(s) * 1000 + int(us) // 1000


def played(c, user):
    return [e for e in stream_events(c) if e["type"] == "track_played" and e["user"] == user]


def counts(events):
    out = {}
    for e in events:
        k = (e["played_at"], e["track"]["id"])
        out[k] = out.get(k, 0) + 1
    return out


def backfills(c, user):
    return int(uhash(c, user).get("backfills", 0) or 0)


def more_backfills(c, user, n, timeout=30):
    start = backfills(c, user)
    wait_for(lambda: backfills(c, user) >= start + n, timeout, "%d more backfills of %s" % (n, user), interval=0.1)


def start(user, sim_args=None, wait_ms=1000):
    """Redis, the simulator and a worker backfilling user every 0.3 s; once
    the user's history has started and wait_ms have passed, returns them
    with the history's start (ms)."""
    r = RedisServer()
    sim = Sim(sim_args)
    setup_app(r, sim, users=[user])
    add_user(r, sim, user, scope=SCOPE, extra=EXTRA)
    c = r.client()
    w = Worker(r, sim, EXTRA)
    wait_for(lambda: uhash(c, user).get("backfill_cursor"), 15, "history started")
    t0 = int(uhash(c, user)["backfill_cursor"])
    wait_for(lambda: redis_ms(c) > t0 + wait_ms, 10, "time passes")
    return r, sim, c, w, t0


def check_late_flags(events):
    """late is true exactly when the play is older than the newest one
    announced before it (stream order)."""
    newest = None
    for e in events:
        want = newest is not None and e["played_at"] < newest
        check(bool(e.get("late", False)) == want, "late flag of %r (newest before: %r)" % (e, newest))
        check("late" not in e or e["late"] is True, "late is true or absent: %r" % e)
        newest = e["played_at"] if newest is None else max(newest, e["played_at"])


def test_200_late_plays_each_once():
    """200 plays injected in random order, each becoming visible 0-6 s after
    injection, with played_at spread over the time since the user's history
    started: every one is announced exactly once, also after more backfills
    and after the worker is killed and another starts; late plays carry
    late:true; the memory holds them within its bound."""
    r, sim, c, w, t0 = start("late", wait_ms=2500)
    now = redis_ms(c)
    rng = random.Random(14)
    stamps = rng.sample(range(t0 + 1, now - 1), 200)   # distinct played_at, all after the start
    plays = [(ms, "late%03d" % i) for i, ms in enumerate(stamps)]
    rng.shuffle(plays)
    # Three batches, each play visible 0-6 s after it is injected.
    for b in range(3):
        items = [dict(track(tid, duration_ms=180000), played_at_ms=ms, delay_ms=rng.randint(0, 6000))
                 for ms, tid in plays[b::3]]
        sim.ok("POST", "/sim/users/late/history", {"items": items})
        time.sleep(1)   # pacing: the batches arrive while backfills run, not a wait for a condition
    want = {(ms, tid) for ms, tid in plays}
    wait_for(lambda: len(played(c, "late")) >= 200, 60, "200 track_played", interval=0.2)
    more_backfills(c, "late", 3)
    # A worker killed and another one: the memory is in Redis, not in the worker.
    w.kill9()
    w = Worker(r, sim, EXTRA)
    more_backfills(c, "late", 1)
    # Steady state: nothing new, 200 plays in the window.
    calls0, n0 = sim.stats()["requests"]["by_path"].get(RECENT, 0), backfills(c, "late")
    more_backfills(c, "late", 12)
    steady = (sim.stats()["requests"]["by_path"].get(RECENT, 0) - calls0) / max(backfills(c, "late") - n0, 1)
    ev = played(c, "late")
    got = counts(ev)
    twice = {k: n for k, n in got.items() if n > 1}
    check(not twice, "announced more than once: %r" % twice)
    check(set(got) == want, "every play announced: missing %r, extra %r"
          % (sorted(want - set(got))[:5], sorted(set(got) - want)[:5]))
    check_late_flags(ev)
    nlate = sum(1 for e in ev if e.get("late"))
    check(nlate > 0, "some plays turned up after newer ones: %d late" % nlate)
    seen = uhash(c, "late").get("backfill_seen", "")
    check(len(seen.split(",")) == 201, "memory: since + 200 plays: %d entries" % (len(seen.split(",")) - 1))
    calls = sim.stats()["requests"]["by_path"].get(RECENT, 0)
    n = backfills(c, "late")
    print("  200 late plays: %d announced late; %d backfills, %d recently-played calls (%.1f per backfill); "
          "memory %d bytes; steady state %.1f calls per backfill" % (nlate, n, calls, calls / max(n, 1),
                                                                       len(seen), steady))
    check(w.alive(), "worker alive")


def test_window_and_hostile_memory():
    """Plays older than history-window-ms are not announced, however late
    they turn up. A malformed memory does not stop the user (the app goes on,
    counted as repaired) and announces nothing twice: it reads as "nothing
    after the cursor was announced". A user with backfill on and no play has
    no memory at all."""
    extra = BASE + ["--backfill-interval-ms", "300", "--history-window-ms", "60000"]
    r = RedisServer()
    sim = Sim()
    setup_app(r, sim, users=["win", "idle"])
    add_user(r, sim, "win", scope=SCOPE, extra=extra, watch=False)
    add_user(r, sim, "idle", scope=SCOPE, extra=extra)
    c = r.client()
    now = redis_ms(c)
    # The history of "win" started 10 minutes ago (as if watched since then).
    c.cmd("HSET", "sw:{app1}:user:win", "backfill_cursor", str(now - 600000), "backfill_at", "1")
    spotwatch(r, "watch", "start", "win", sim=sim, extra=extra)
    old = [dict(track("old%d" % i), played_at_ms=now - 120000 - i * 1000) for i in range(3)]
    new = [dict(track("new%d" % i), played_at_ms=now - 30000 + i * 1000) for i in range(3)]
    sim.ok("POST", "/sim/users/win/history", {"items": old + new})
    w = Worker(r, sim, extra)
    wait_for(lambda: len(played(c, "win")) >= 3, 20, "the plays within the window")
    more_backfills(c, "win", 2)
    ids = sorted(e["track"]["id"] for e in played(c, "win"))
    check(ids == ["new0", "new1", "new2"], "only the plays within the window: %r" % ids)

    # Hostile memory: the next backfill must neither fail nor repeat a play.
    for bad in ["garbage", "12,notakey", "1" * 40, str(now) + ",1.zzzzzzzz"]:
        c.cmd("HSET", "sw:{app1}:user:win", "backfill_seen", bad)
        more_backfills(c, "win", 2)
        h = uhash(c, "win")
        check(h["status"] == "active", "still active with backfill_seen %r: %r" % (bad, h.get("status")))
        check(h.get("backfill_seen", "") != bad, "the malformed memory %r was rewritten" % bad)
    ids = sorted(e["track"]["id"] for e in played(c, "win"))
    check(ids == ["new0", "new1", "new2"], "nothing announced twice after a malformed memory: %r" % ids)
    stats = c.hgetall("sw:{app1}:stats")
    check(int(stats.get("repaired_backfill_seen", 0)) >= 4, "repairs counted: %r" % stats)
    # A play after the cursor still comes through.
    sim.ok("POST", "/sim/users/win/history", {"items": [dict(track("after"), played_at_ms=redis_ms(c))]})
    wait_for(lambda: "after" in [e["track"]["id"] for e in played(c, "win")], 20, "a new play after the repair")

    more_backfills(c, "idle", 2)
    h = uhash(c, "idle")
    check("backfill_seen" not in h and h.get("backfill_cursor"), "no memory for a user with no play: %r" % h)
    check(w.alive(), "worker alive")


def iso_ms(s):
    import datetime
    d = datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    return int(round(d.timestamp() * 1000))


def test_real_plays_offline_and_jittered():
    """The simulator's own late history: 20 one-second tracks played to their
    end, half of them offline plays (played_at = their start), each listed
    0-4 s late: the plays announced are exactly what recently-played lists in
    the end, each once."""
    r, sim, c, w, t0 = start("real", ["--recent-requires-end", "true", "--recent-offline-fraction", "0.5",
                                      "--recent-delay-jitter-ms", "4000", "--seed", "14"], wait_ms=50)
    play(sim, "real", [track("r%02d" % i, duration_ms=1000) for i in range(20)])

    def all_listed():
        pv = sim.ok("GET", "/sim/users/real/playback")
        return pv["history_length"] == 20 and pv["history_visible"] == 20
    wait_for(all_listed, 60, "the 20 plays listed, the jittered ones too", interval=0.3)
    tok = sim.ok("POST", "/sim/users/real/tokens", {"client_id": "cid-app1", "scope": SCOPE})["access_token"]
    st, rp = http_json("GET", sim.api + "/me/player/recently-played?limit=50",
                       headers={"Authorization": "Bearer " + tok})
    check(st == 200, "recently-played %d" % st)
    want = {(iso_ms(i["played_at"]), i["track"]["id"]) for i in rp["items"]}
    check(len(want) == 20, "the simulator listed the plays: %d" % len(want))
    wait_for(lambda: set(counts(played(c, "real"))) >= want, 30, "every listed play announced", interval=0.2)
    more_backfills(c, "real", 3)
    ev = played(c, "real")
    got = counts(ev)
    check(set(got) == want, "announced = listed: missing %r, extra %r" % (want - set(got), set(got) - want))
    check(all(n == 1 for n in got.values()), "each once: %r" % {k: n for k, n in got.items() if n > 1})
    check_late_flags(ev)
    print("  %d real plays, %d announced late" % (len(ev), sum(1 for e in ev if e.get("late"))))
    check(w.alive(), "worker alive")


def test_memory_rules_in_lua():
    """lua/lib/history_seen.lua, run by a real Redis: it reads the memory's
    text as history_seen_parse does (tests/unit/test_history_scan.c has the
    same cases), takes a play once and above the floor only, trims to the
    window and to 400 entries (since rises to the newest dropped)."""
    r = RedisServer()
    c = r.client()
    with open(os.path.join(ROOT, "lua", "lib", "history_seen.lua")) as f:
        lib = f.read()
    read = lib + """
local m, bad = history_seen_read(ARGV[1], tonumber(ARGV[2]))
local n = 0
for _ in pairs(m.has) do n = n + 1 end
return {bad and 1 or 0, string.format('%d', m.since), n}"""
    good = {"": (7, 0), "100": (100, 0), "100,200.0000000a,300.deadbeef": (100, 2)}
    for text, (since, n) in good.items():
        check(c.cmd("EVAL", read, 0, text, "7") == [0, str(since), n], "read %r" % text)
    for text in ["x", "100,", "100,200", "100,200.", "100,200.DEADBEEF", "100,200.123", "100,200.0000000a0",
                 "100;200.0000000a", "100,200.0000000a,", " 100", "-1", "12345678901234567", "9007199254740992",
                 "100,9007199254740992.00000000"]:
        check(c.cmd("EVAL", read, 0, text, "7") == [1, "7", 0], "malformed %r reads as absent" % text)
    take = lib + """
local m = history_seen_read(ARGV[1], 0)
local out = {}
for i = 3, #ARGV do out[#out + 1] = history_seen_take(m, ARGV[i], tonumber(ARGV[2])) and 1 or 0 end
local text = history_seen_text(m, tonumber(ARGV[2]))
out[#out + 1] = text
return out"""
    got = c.cmd("EVAL", take, 0, "5,20.0000000a", "10", "20.0000000a", "30.0000000a", "30.0000000a", "9.0000000b",
                "31.xyz", "40.0000000b")
    check(got == [0, 1, 0, 0, 0, 1, "5,20.0000000a,30.0000000a,40.0000000b"], "take: %r" % got)
    got = c.cmd("EVAL", take, 0, "5,20.0000000a,25.0000000a", "22", "30.0000000a")
    check(got == [1, "5,25.0000000a,30.0000000a"], "trimmed to the window: %r" % got)
    full = "1," + ",".join("%d.00000001" % (1000 + i) for i in range(400))
    got = c.cmd("EVAL", take, 0, full, "0", "5000.00000001", "5001.00000001")
    parts = got[-1].split(",")
    check(got[:2] == [1, 1] and len(parts) == 401 and parts[0] == "1001" and parts[1] == "1002.00000001"
          and parts[-1] == "5001.00000001", "capped at 400, since raised: %r" % parts[:3])


def test_failed_pages_lose_nothing():
    """A burst of 150 plays (4 calls, whatever the depth) while a third of the
    recently-played calls fail (503, or 429 with Retry-After 1; which ones is
    drawn at random, so a failure lands on a later page of a backfill about
    every other run): a backfill with a failed page announces nothing and the
    next finds its plays again; in the end each is announced once."""
    r, sim, c, w, t0 = start("flaky", ["--seed", "14"])
    sim.ok("POST", "/sim/faults", {"kind": "status", "status": 503, "fraction": 0.2, "path": RECENT})
    sim.ok("POST", "/sim/faults", {"kind": "status", "status": 429, "retry_after": 1, "fraction": 0.15,
                                   "path": RECENT})
    stamps = random.Random(3).sample(range(t0 + 1, redis_ms(c) - 1), 150)
    want = {(ms, "f%03d" % i) for i, ms in enumerate(stamps)}
    sim.ok("POST", "/sim/users/flaky/history",
           {"items": [dict(track(tid), played_at_ms=ms) for ms, tid in sorted(want)]})
    more_backfills(c, "flaky", 10, timeout=60)
    failed = sim.stats()["requests"]["by_path"].get(RECENT, 0)
    sim.ok("DELETE", "/sim/faults")
    wait_for(lambda: len(played(c, "flaky")) >= 150, 60, "150 track_played", interval=0.2)
    more_backfills(c, "flaky", 3)
    got = counts(played(c, "flaky"))
    check(set(got) == want and all(n == 1 for n in got.values()),
          "each play once: %d distinct, %d twice, %d missing"
          % (len(got), sum(1 for n in got.values() if n > 1), len(want - set(got))))
    st = sim.stats()
    print("  %d recently-played calls during the faults; 503s %d, 429s %d"
          % (failed, st["requests"]["by_status"].get("503", 0), st["requests"]["by_status"].get("429", 0)))
    check(st["requests"]["by_status"].get("503", 0) > 0, "some pages failed")
    check(w.alive(), "worker alive")
