"""The scheduler core (issue 3): real redis-server, real spotify-sim, real workers."""
import json
import time

from harness import *  # noqa: F401,F403

# The poll (GET /me/player) needs user-read-playback-state.
SCOPE = "user-read-currently-playing user-read-playback-state"
FAST = ["--poll-interval-ms", "300", "--smart-polling", "no", "--lease-ms", "2000",
        "--http-timeout-ms", "1000", "--backoff-base-ms", "200", "--backoff-max-ms", "1000"]


def world(users, app="app1", sim_args=None, mode="extended"):
    r = RedisServer(appendonly=True)
    sim = Sim(sim_args or [])
    setup_app(r, sim, app=app, users=users, mode=mode)
    toks = {u: add_user(r, sim, u, app=app, extra=FAST) for u in users}
    return r, sim, toks


def user_hash(r, user, app="app1"):
    return r.hgetall("sw:{%s}:user:%s" % (app, user))


def test_tokens_isolated_and_never_shown():
    """Seed question 1: each user's calls carry only their own token."""
    r, sim, toks = world(["u1", "u2"])
    play(sim, "u1", ["trackA"])
    play(sim, "u2", ["trackB"])
    w = Worker(r, sim, FAST)
    c = r.client()
    wait_for(lambda: int(user_hash(c, "u1").get("polls", 0)) >= 3 and
             int(user_hash(c, "u2").get("polls", 0)) >= 3, 15, "both users polled")
    st = sim.stats()
    by_user = st["requests"]["by_user"]
    check(by_user.get("u1", 0) >= 3 and by_user.get("u2", 0) >= 3, "sim saw both users: %r" % by_user)
    check(st["requests"]["by_status"].get("401", 0) == 0, "no call carried a wrong token: %r" % st)
    for u, tok in toks.items():
        out = spotwatch(r, "user", "show", u, sim=sim).stdout + spotwatch(r, "user", "show", u, "--json", sim=sim).stdout
        for t in (tok["access_token"], tok["refresh_token"]):
            check(t not in out, "user show printed a token")
        h = user_hash(c, u)
        check(h["access_token"].startswith("plain.") and h["access_token"] == "plain." + tok["access_token"],
              "user hash holds the user's own token")
    check(user_hash(c, "u1")["access_token"] != user_hash(c, "u2")["access_token"], "tokens differ")
    status = spotwatch(r, "status", sim=sim).stdout + spotwatch(r, "status", "--json", sim=sim).stdout
    for tok in toks.values():
        check(tok["access_token"] not in status and tok["refresh_token"] not in status, "status printed a token")
    out = w.output()
    for tok in toks.values():
        check(tok["access_token"] not in out and tok["refresh_token"] not in out, "a token reached the log")


def _two_watchers(r, sim, workers):
    play(sim, "1", ["trackA", "trackA2"])
    play(sim, "2", ["trackB", "trackB2"])
    s1 = Subscriber(r, "sw:playback:1")
    s2 = Subscriber(r, "sw:playback:2")
    ws = [Worker(r, sim, FAST) for _ in range(workers)]
    s1.wait(lambda e: e["type"] == "playback_started", 15, "user 1 started")
    s2.wait(lambda e: e["type"] == "playback_started", 15, "user 2 started")
    sim.ok("POST", "/sim/users/1/next")
    sim.ok("POST", "/sim/users/2/next")
    s1.wait(lambda e: e["type"] == "track_changed", 15, "user 1 track change")
    s2.wait(lambda e: e["type"] == "track_changed", 15, "user 2 track change")
    time.sleep(1.0)   # let any duplicate arrive before we count
    e1, e2 = s1.drain(), s2.drain()
    check([e["type"] for e in e1] == ["playback_started", "track_changed"], "user 1 events: %r" % e1)
    check([e["type"] for e in e2] == ["playback_started", "track_changed"], "user 2 events: %r" % e2)
    check([e["track"]["id"] for e in e1] == ["trackA", "trackA2"], "user 1 saw only its tracks: %r" % e1)
    check([e["track"]["id"] for e in e2] == ["trackB", "trackB2"], "user 2 saw only its tracks: %r" % e2)
    check(all(e["user"] == "1" for e in e1) and all(e["user"] == "2" for e in e2), "no cross-talk")
    check(e1[1]["previous_track_id"] == "trackA" and e2[1]["previous_track_id"] == "trackB", "previous ids")
    return ws


def test_two_watchers_one_worker():
    """Seed question 3: two users, one worker: each subscriber sees only its user."""
    r, sim, _ = world(["1", "2"])
    _two_watchers(r, sim, 1)
    st = sim.stats()
    check(st["max_concurrent_per_user"] <= 1, "never two calls in flight for one user")


def test_two_watchers_two_workers():
    r, sim, _ = world(["1", "2"])
    _two_watchers(r, sim, 2)
    check(sim.stats()["max_concurrent_per_user"] <= 1, "never two calls in flight for one user")


def test_stream_holds_the_same_events():
    r, sim, _ = world(["1", "2"])
    _two_watchers(r, sim, 1)
    c = r.client()
    evs = stream_events(c)
    for u, tracks in (("1", ["trackA", "trackA2"]), ("2", ["trackB", "trackB2"])):
        mine = [e for e in evs if e["user"] == u]
        check([e["track"]["id"] for e in mine] == tracks, "stream for %s: %r" % (u, mine))


def test_kill9_worker_leases_expire():
    """A worker killed with -9 holding leases: others take over, nothing announced twice."""
    users = ["k%d" % i for i in range(20)]
    r, sim, _ = world(users)
    for u in users:
        play(sim, u, ["t-%s-1" % u, "t-%s-2" % u])
    # Hang every API call so the victim dies holding leases.
    sub = Subscriber(r, "sw:playback:*", pattern=True)
    victim = Worker(r, sim, FAST)
    c = r.client()
    wait_for(lambda: sum(1 for u in users if user_hash(c, u).get("state")) == len(users), 20, "first polls")
    sim.ok("POST", "/sim/config", {"latency_ms": 1500})
    wait_for(lambda: c.cmd("ZCARD", "sw:{app1}:leases") > 0, 10, "victim holds leases")
    victim.kill9()
    held = c.cmd("ZRANGE", "sw:{app1}:leases", 0, -1)
    check(len(held) > 0, "leases held at the kill")
    sim.ok("POST", "/sim/config", {"latency_ms": 0})
    for u in users:
        sim.ok("POST", "/sim/users/%s/next" % u)
    Worker(r, sim, FAST)
    wait_for(lambda: len([e for e in sub.drain() if e["type"] == "track_changed"]) >= len(users), 30,
             "every user's change seen by the survivor")
    time.sleep(1.0)
    changes = [e for e in sub.drain() if e["type"] == "track_changed"]
    per_user = {}
    for e in changes:
        per_user[e["user"]] = per_user.get(e["user"], 0) + 1
    check(all(per_user.get(u) == 1 for u in users), "exactly one track_changed per user: %r" % per_user)
    due = set(c.cmd("ZRANGE", "sw:{app1}:due", 0, -1)) | set(c.cmd("ZRANGE", "sw:{app1}:leases", 0, -1))
    check(due == set(users), "every user still scheduled")


def _poll_intervals(workers, nusers=500, seconds=8, interval=1000):
    r = RedisServer()
    sim = Sim()
    users = ["s%d" % i for i in range(nusers)]
    setup_app(r, sim, users=users)
    rows = []
    for u in users:
        sim.ok("POST", "/sim/users", {"id": u, "display_name": u})
        tok = sim.ok("POST", "/sim/users/%s/tokens" % u, {"client_id": "cid-app1", "scope": SCOPE})
        rows.append(json.dumps({"user": u, "app": "app1", "access_token": tok["access_token"],
                                "refresh_token": tok["refresh_token"], "expires_in": tok["expires_in"],
                                "scope": SCOPE}))
        play(sim, u, ["x-" + u])
    spotwatch(r, "user", "import", "-", "--watch", "--interval", interval, sim=sim, extra=FAST,
              stdin="\n".join(rows) + "\n")
    ws = [Worker(r, sim, FAST + ["--claim-batch", "64"]) for _ in range(workers)]
    c = r.client()
    wait_for(lambda: sim.stats()["requests"]["total"] >= nusers, 30, "every user polled once")
    sim.ok("POST", "/sim/stats/reset")
    t0 = time.time()
    time.sleep(seconds)
    st = sim.stats()
    elapsed = time.time() - t0
    counts = [st["requests"]["by_user"].get(u, 0) for u in users]
    expect = elapsed * 1000.0 / interval
    # Tolerance: each user is polled within +-30% of its nominal count.
    lo, hi = min(counts), max(counts)
    check(lo >= expect * 0.7 and hi <= expect * 1.3 + 1, "per-user polls %d..%d, expected ~%.1f" % (lo, hi, expect))
    check(st["max_concurrent_per_user"] <= 1, "no user polled by two workers at once")
    for w in ws:
        check(w.alive(), "worker alive")
    return c


def test_two_workers_500_users():
    _poll_intervals(2)


def test_five_workers_500_users():
    _poll_intervals(5)


def test_redis_restart_under_workers():
    users = ["r1", "r2", "r3"]
    r, sim, _ = world(users)
    for u in users:
        play(sim, u, ["a-" + u, "b-" + u])
    w = Worker(r, sim, FAST)
    c = r.client()
    wait_for(lambda: all(user_hash(c, u).get("state") for u in users), 15, "first polls")
    c.close()
    r.restart()
    c = r.client()
    check(set(c.cmd("ZRANGE", "sw:{app1}:due", 0, -1)) | set(c.cmd("ZRANGE", "sw:{app1}:leases", 0, -1)) == set(users),
          "the schedule survived the restart")
    sub = Subscriber(r, "sw:playback:*", pattern=True)
    for u in users:
        sim.ok("POST", "/sim/users/%s/next" % u)
    got = sub.wait(lambda e: e["type"] == "track_changed", 20, "changes after restart")
    wait_for(lambda: {e["user"] for e in sub.drain() if e["type"] == "track_changed"} == set(users), 20,
             "every user's change after the restart")
    check(w.alive(), "worker survived the restart")
    check(len(got) >= 1, "events flow")


def test_graceful_sigterm_exits_zero():
    r, sim, _ = world(["g1"])
    play(sim, "g1", ["a"])
    w = Worker(r, sim, FAST)
    c = r.client()
    wait_for(lambda: int(user_hash(c, "g1").get("polls", 0)) >= 2, 10, "polls")
    rc = w.stop()
    check(rc == 0, "worker exit code %r" % rc)
    check(c.cmd("ZCARD", "sw:{app1}:leases") == 0, "no lease left behind")
    check(c.cmd("ZSCORE", "sw:{app1}:due", "g1") is not None, "user still scheduled")
    check(c.cmd("ZCARD", "sw:workers") == 0, "a worker that exited cleanly is no longer listed")


def test_watch_stop_and_user_rm():
    r, sim, toks = world(["w1", "w2"])
    play(sim, "w1", ["a"])
    play(sim, "w2", ["b"])
    Worker(r, sim, FAST)
    c = r.client()
    wait_for(lambda: int(user_hash(c, "w1").get("polls", 0)) >= 2, 10, "polls")
    spotwatch(r, "watch", "stop", "w1", sim=sim)
    time.sleep(1.0)
    n = int(user_hash(c, "w1").get("polls", 0))
    time.sleep(1.5)
    check(int(user_hash(c, "w1").get("polls", 0)) == n, "a stopped user is not polled")
    check(user_hash(c, "w1")["status"] == "stopped", "status stopped")
    spotwatch(r, "user", "rm", "w2", sim=sim)
    time.sleep(1.0)
    check(c.cmd("EXISTS", "sw:{app1}:user:w2") == 0, "user rm deleted the hash")
    check(c.cmd("HGET", "sw:users", "w2") is None, "user rm removed the directory entry")
    check(c.cmd("ZSCORE", "sw:{app1}:due", "w2") is None, "user rm unscheduled")
    r2 = spotwatch(r, "user", "show", "w2", sim=sim, check_rc=False)
    check(r2.returncode != 0 and "no such user" in r2.stderr, "user show of a removed user fails clearly")


def test_status_lists_workers_and_users():
    r, sim, _ = world(["a1", "a2"])
    # Redis' own default (the tests' Redis uses the advised 512): status points it out.
    r.client().cmd("CONFIG", "SET", "hash-max-listpack-value", "64")
    play(sim, "a1", ["a"])
    Worker(r, sim, FAST)
    Worker(r, sim, FAST)
    wait_for(lambda: len(json.loads(spotwatch(r, "status", "--json", sim=sim).stdout)["workers"]) == 2, 10,
             "two live workers")
    s = json.loads(spotwatch(r, "status", "--json", sim=sim).stdout)
    check(s["users"].get("active") == 2, "users by status: %r" % s["users"])
    app = s["apps"][0]
    check(app["app"] == "app1" and app["scheduled"] + app["in_flight"] == 2, "app counts: %r" % app)
    text = spotwatch(r, "status", sim=sim).stdout
    check("workers: 2 live" in text and "app app1" in text, text)
    check(s["redis"].get("hash_max_listpack_value") == 64 and s["redis"].get("used_memory", 0) > 0,
          "the Redis settings that bear on memory: %r" % s["redis"])
    check("hash-max-listpack-value=64 (below 512" in text, "a Redis default that doubles memory is pointed out: " + text)
    r2 = RedisServer(extra=["hash-max-listpack-value 512"])
    text2 = spotwatch(r2, "status").stdout
    check("hash-max-listpack-value=512\n" in text2, "no advice when set as advised: " + text2)


def test_worker_without_config_file_and_redis_down_at_start():
    """Redis down at worker start: the worker waits and retries with a clear log line."""
    r = RedisServer(appendonly=True)
    sim = Sim()
    setup_app(r, sim, users=["d1"])
    add_user(r, sim, "d1", extra=FAST)
    play(sim, "d1", ["a"])
    r.stop()
    w = Worker(r, sim, FAST)
    wait_for(lambda: "unreachable" in w.output() or "retry" in w.output().lower(), 10, "a clear log line")
    check(w.alive(), "the worker waits instead of exiting")
    r.start()
    c = r.client()
    wait_for(lambda: int(c.hgetall("sw:{app1}:user:d1").get("polls", 0)) >= 1, 15, "polling after Redis came up")


def test_complete_batch_fences_each_job():
    """One complete.lua call carries the polls a worker finished in one loop
    turn; each is applied or dropped on its own fence, and the shared writes
    (leases, schedule, counters) cover exactly the applied ones."""
    r, sim, _ = world(["b1", "b2", "b3"])
    c = r.client()
    sha = c.cmd("SCRIPT", "LOAD", lua_source("complete"))
    now = int(c.cmd("TIME")[0]) * 1000
    for u in ("b1", "b2", "b3"):
        c.cmd("HSET", "sw:{app1}:user:%s" % u, "fence", "7")
        c.cmd("ZADD", "sw:{app1}:leases", now + 60000, u)
        c.cmd("ZREM", "sw:{app1}:due", u)
    ev = json.dumps({"type": "track_changed", "user": "b3"})
    jobs = [complete_job("b1", "7", "5000", "S1"), complete_job("b2", "6", "5000", "S2"),
            complete_job("b3", "7", "5000", "S3", events=[("track_changed", ev)])]
    sub = Subscriber(r, "sw:playback:b3")
    got = complete_call(c, sha, ["b1", "b2", "b3"], jobs)
    check(got == [1, 0, 1], "per-job results %r" % (got,))
    h1, h2, h3 = (user_hash(c, u) for u in ("b1", "b2", "b3"))
    check(h1.get("state") == "S1" and h3.get("state") == "S3" and "state" not in h2,
          "only fenced jobs stored: %r %r %r" % (h1.get("state"), h2.get("state"), h3.get("state")))
    check(h1.get("polls") == "1" and h3.get("polls") == "1" and "polls" not in h2, "polls counted per user")
    check(h3.get("changes") == "1" and "changes" not in h1, "changes counted where announced")
    leases = c.cmd("ZRANGE", "sw:{app1}:leases", 0, -1)
    check(leases == ["b2"], "the stale job keeps its lease for its holder: %r" % leases)
    due = dict(zip(*[iter(c.cmd("ZRANGE", "sw:{app1}:due", 0, -1, "WITHSCORES"))] * 2))
    check(set(due) == {"b1", "b3"} and all(int(float(v)) >= now + 5000 for v in due.values()),
          "applied jobs re-armed 5 s ahead: %r" % due)
    stats = c.hgetall("sw:{app1}:stats")
    check(stats.get("polls") == "2" and stats.get("outcome_ok") == "2" and stats.get("events_track_changed") == "1",
          "app counters add up the batch: %r" % stats)
    evs = stream_events(c)
    check([e["user"] for e in evs] == ["b3"], "one event, in the stream: %r" % evs)
    sub.wait(lambda e: e.get("user") == "b3", 5, "the event published on the user's channel")


def test_user_hash_keeps_defaults_absent_and_reads_old_hashes():
    """A polled user's hash leaves out what holds its default (README "Redis
    key schema": fails and idle 0, the base scope, the last_status its
    last_outcome implies, the app of its key); user show prints them as
    before. A hash written by an earlier release (every field stored, with
    app, done_fence and lease_owner) still polls, and loses what is no
    longer read."""
    r, sim, _ = world(["n1", "old"])
    add_user(r, sim, "wide", scope=SCOPE + " user-read-recently-played", extra=FAST)
    add_user(r, sim, "turned", scope="user-read-playback-state user-read-currently-playing", extra=FAST)
    c = r.client()
    key = "sw:{app1}:user:old"
    fence = user_hash(c, "old")["fence"]
    c.cmd("HSET", key, "app", "app1", "done_fence", fence, "lease_owner", "", "fails", "0", "idle", "0",
          "last_status", "200", "last_outcome", "ok", "scope", SCOPE, "polls", "5")
    for u in ("n1", "old", "wide", "turned"):
        play(sim, u, ["t-" + u])
    sub = Subscriber(r, "sw:playback:n1", "sw:playback:old")
    Worker(r, sim, FAST)
    wait_for(lambda: all(int(user_hash(c, u).get("polls", 0)) >= 8 for u in ("n1", "old")), 15, "both polled")
    started = {e["user"] for e in sub.drain() if e["type"] == "playback_started"}
    check(started == {"n1", "old"}, "each announced its playback: %r" % started)
    defaulted = ("app", "fails", "idle", "scope", "last_status", "done_fence", "lease_owner")
    n1 = user_hash(c, "n1")
    check(n1.get("last_outcome") == "ok" and not [f for f in defaulted if f in n1],
          "a polled user stores no default: %r" % sorted(n1))
    old = user_hash(c, "old")
    check(not [f for f in ("app", "done_fence", "lease_owner", "last_status") if f in old],
          "the old hash lost what nothing reads: %r" % sorted(old))
    check(user_hash(c, "wide").get("scope") == SCOPE + " user-read-recently-played", "a wider grant is stored")
    check("scope" not in user_hash(c, "turned"), "the base scopes in another order: absent")
    u = json.loads(spotwatch(r, "user", "show", "n1", "--json", sim=sim).stdout)
    shown = {f: u.get(f) for f in ("app", "fails", "idle", "scope", "last_status", "last_outcome")}
    check(shown == {"app": "app1", "fails": 0, "idle": 0, "scope": SCOPE, "last_status": 200, "last_outcome": "ok"},
          "user show prints the defaults: %r" % shown)
