"""Redis faults (issue 8, part 3): Redis down when a worker starts, killed
with -9 mid-run, slow (DEBUG SLEEP, below and above redis_async's 10 s watchdog),
and full (maxmemory with noeviction). In each case the workers stay up, say
clearly what is wrong, and once Redis is back every change is announced
exactly once: none lost, none doubled, and every user is still scheduled.

Each test plays a small script on USERS (each on [x-a, x-b, x-c, ...]): the
first poll announces playback_started, then each `next` must give exactly one
track_changed, including changes made while Redis was unavailable.
"""
import json
import signal
import time

from harness import *  # noqa: F401,F403

FAST = ["--poll-interval-ms", "300", "--smart-polling", "no", "--lease-ms", "2000",
        "--http-timeout-ms", "1000", "--backoff-base-ms", "200", "--backoff-max-ms", "1000"]
USERS = ["r%d" % i for i in range(10)]
TRACKS = ["a", "b", "c", "d", "e"]


class World:
    def __init__(self, workers=2, start_workers=True):
        self.r = RedisServer(appendonly=True)
        self.sim = Sim()
        setup_app(self.r, self.sim, users=USERS)
        for u in USERS:
            add_user(self.r, self.sim, u, extra=FAST)
            play(self.sim, u, ["%s-%s" % (u, t) for t in TRACKS])
        self.pos = {u: 0 for u in USERS}
        self.ws = [Worker(self.r, self.sim, FAST) for _ in range(workers)] if start_workers else []
        self.c = None

    def client(self):
        if self.c is None:
            self.c = self.r.client()
        return self.c

    def expected(self, u):
        out = [("playback_started", "%s-a" % u, None)]
        for i in range(self.pos[u]):
            out.append(("track_changed", "%s-%s" % (u, TRACKS[i + 1]), "%s-%s" % (u, TRACKS[i])))
        return out

    def seen(self):
        per = {u: [] for u in USERS}
        for e in stream_events(self.client()):
            check(e["user"] in per, "an event of an unknown user: %r" % e)
            per[e["user"]].append((e["type"], (e.get("track") or {}).get("id"), e.get("previous_track_id")))
        return per

    def next_all(self):
        for u in USERS:
            self.sim.ok("POST", "/sim/users/%s/next" % u)
            self.pos[u] += 1

    def settled(self, timeout=30, msg="every change announced"):
        """Wait until the stream holds every expected event, then check that it
        holds exactly those (a little later, so a duplicate would show)."""
        def done():
            per = self.seen()
            return all(len(per[u]) >= len(self.expected(u)) for u in USERS)
        wait_for(done, timeout, msg, interval=0.2)
        time.sleep(1.0)
        per = self.seen()
        for u in USERS:
            check(per[u] == self.expected(u), "user %s: expected %r, got %r" % (u, self.expected(u), per[u]))
        c = self.client()
        # One atomic read: between two separate ZRANGEs a poll may move a user
        # from the leases back to the schedule and be missed by both.
        due, leased = c.cmd("EVAL", "return {redis.call('ZRANGE', KEYS[1], 0, -1), "
                            "redis.call('ZRANGE', KEYS[2], 0, -1)}", 2, "sw:{app1}:due", "sw:{app1}:leases")
        sched = set(due) | set(leased)
        check(sched == set(USERS), "every user scheduled: missing %r" % sorted(set(USERS) - sched))
        for w in self.ws:
            check(w.alive(), "worker alive")
            out = w.output()
            check("Sanitizer" not in out and "runtime error" not in out, "a sanitizer report:\n" + out[-3000:])

    def logs(self):
        return "".join(w.output() for w in self.ws)


def test_redis_down_at_worker_start():
    """The worker waits and retries with a clear log line (naming the address
    and the reason) instead of exiting; SIGTERM while waiting exits 0."""
    w = World(workers=0)
    port = w.r.port
    w.r.stop()
    w.ws = [Worker(w.r, w.sim, FAST)]
    line = "redis 127.0.0.1:%d unreachable" % port
    wait_for(lambda: line in w.logs(), 10, "the log line %r" % line)
    check("retrying" in w.logs(), "the line says it retries:\n" + w.logs())
    check(w.logs().count("unreachable") == 1, "logged once per outage, not per attempt:\n" + w.logs())
    time.sleep(1.5)
    check(w.ws[0].alive(), "the worker waits instead of exiting")
    # A second worker told to stop while Redis is still down exits cleanly.
    quitter = Worker(w.r, w.sim, FAST)
    wait_for(lambda: "unreachable" in quitter.output(), 10, "second worker waiting")
    rc = quitter.stop()
    check(rc == 0, "SIGTERM while Redis is down exits 0, not %r:\n%s" % (rc, quitter.output()))
    w.r.start()
    wait_for(lambda: "redis 127.0.0.1:%d reachable again" % port in w.logs(), 15, "the recovery line")
    w.settled(msg="first polls after Redis came up")
    w.next_all()
    w.settled()


def test_redis_killed_mid_run():
    """kill -9 and restart (appendonly, appendfsync always): nothing the workers
    were told was stored is lost; changes made while Redis was down are
    announced once it is back."""
    w = World()
    w.settled(msg="first polls")
    w.next_all()
    w.settled()
    before = stream_events(w.client())
    w.c.close()
    w.c = None
    w.r.kill9()
    time.sleep(0.5)
    w.next_all()              # while Redis is down
    time.sleep(1.0)
    w.r.start()
    after = stream_events(w.client())
    check(after[:len(before)] == before, "every event acknowledged before the kill survived it")
    w.settled(msg="the changes made during the outage")
    check("unreachable" in w.logs() and "reachable again" in w.logs(), "outage and recovery logged:\n" + w.logs())
    def reconnected():
        c = w.client()
        hs = [c.hgetall(k) for k in c.cmd("KEYS", "sw:worker:*")]
        return len(hs) == len(w.ws) and all(int(h.get("redis_reconnects", 0)) >= 1 for h in hs)
    wait_for(reconnected, 10, "the workers count the reconnect")
    w.next_all()
    w.settled()


def _debug_sleep(r, seconds):
    """DEBUG SLEEP on its own connection; returns it (read the reply to wait)."""
    d = Redis(r.port, timeout=seconds + 30)
    d.send("DEBUG", "SLEEP", str(seconds))
    return d


def test_redis_slow_below_and_above_the_watchdog():
    """DEBUG SLEEP 2: replies are late, nothing is dropped or doubled, the link
    stays up. DEBUG SLEEP 12 (> redis_async's 10 s command timeout): the workers drop
    the link, say so, reconnect, and still nothing is lost or doubled."""
    w = World()
    w.settled(msg="first polls")
    d = _debug_sleep(w.r, 2)
    w.next_all()
    check(d._read() == "OK", "DEBUG SLEEP 2 answered")
    d.close()
    w.settled(msg="changes made while Redis slept 2 s")
    check("unreachable" not in w.logs(), "a 2 s stall does not drop the link:\n" + w.logs())

    t0 = time.time()
    d = _debug_sleep(w.r, 12)
    time.sleep(0.5)
    w.next_all()
    d._read()
    d.close()
    check(time.time() - t0 >= 11, "Redis slept")
    wait_for(lambda: w.logs().count("no reply in 10.0 s") >= 1, 10, "the watchdog's log line")
    wait_for(lambda: "reachable again" in w.logs(), 15, "reconnected")
    w.settled(msg="changes made while Redis slept 12 s")
    w.next_all()
    w.settled()


def test_sigterm_while_a_claim_waits_for_a_slow_redis():
    """SIGTERM while a claim is waiting for Redis (held in DEBUG SLEEP): the
    claim's answer leases users; the worker polls and completes them before it
    exits 0, instead of leaving their leases to expire."""
    w = World(workers=1)
    w.settled(msg="first polls")
    d = _debug_sleep(w.r, 1)
    time.sleep(0.4)                      # the worker's next claim now waits for Redis
    w.ws[0].proc.signal(signal.SIGTERM)
    check(d._read() == "OK", "DEBUG SLEEP answered")
    d.close()
    rc = w.ws[0].proc.p.wait(30)
    out = w.ws[0].output()
    check(rc == 0, "exit 0 after SIGTERM, not %r:\n%s" % (rc, out))
    check("1 claims) in flight" in out, "the claim in flight was waited for:\n" + out)
    c = w.client()
    check(c.cmd("ZCARD", "sw:{app1}:leases") == 0,
          "no lease left behind: %r" % c.cmd("ZRANGE", "sw:{app1}:leases", 0, -1))
    check(set(c.cmd("ZRANGE", "sw:{app1}:due", 0, -1)) == set(USERS), "every user back on the schedule")


def test_redis_maxmemory_noeviction():
    """Redis full with noeviction: writes are refused (OOM). The scripts are
    refused as a whole (Redis 7 flags), so nothing is half written; the workers
    log it clearly (once), announce nothing twice, lose nothing, and carry on by
    themselves once maxmemory is raised. A CLI write fails with the reason."""
    w = World()
    w.settled(msg="first polls")
    c = w.client()
    check(c.cmd("CONFIG", "GET", "maxmemory-policy")[1] == "noeviction", "noeviction")
    users_before = {u: c.hgetall("sw:{app1}:user:" + u) for u in USERS}
    used = int([ln for ln in c.cmd("INFO", "memory").split("\r\n") if ln.startswith("used_memory:")][0].split(":")[1])
    c.cmd("CONFIG", "SET", "maxmemory", str(used + 64 * 1024))   # just above what is used
    # Push usage over it (DEBUG POPULATE is not refused by maxmemory).
    c.cmd("DEBUG", "POPULATE", "5000", "sw-test-filler", "200")
    stream_len = c.cmd("XLEN", "sw:{app1}:events")
    w.next_all()
    wait_for(lambda: w.logs().count("claim failed: OOM") >= len(w.ws), 15, "OOM errors in the worker logs")
    r = spotwatch(w.r, "user", "add", "late", "--app", "app1", "--access-token", "x", "--refresh-token", "y",
                  sim=w.sim, check_rc=False)
    check(r.returncode > 0 and "OOM" in r.stderr, "a CLI write fails clearly: %d %r" % (r.returncode, r.stderr))
    time.sleep(2.0)
    oom = [ln for ln in w.logs().splitlines() if "OOM" in ln]
    print("while full: %d OOM log lines in %d workers, e.g. %s" % (len(oom), len(w.ws), oom[0][:200]))
    check(w.logs().count("claim failed") == len(w.ws), "the claim error is logged once per worker:\n%s" % w.logs())
    check(c.cmd("XLEN", "sw:{app1}:events") == stream_len, "nothing announced while writes fail")
    for u in USERS:
        h = c.hgetall("sw:{app1}:user:" + u)
        for f in ("access_token", "refresh_token", "status", "state", "app", "fence"):
            check(h.get(f) == users_before[u].get(f) or f == "fence",
                  "user %s field %s unchanged while full" % (u, f))
    for wk in w.ws:
        check(wk.alive(), "workers stay up while Redis is full")
    c.cmd("CONFIG", "SET", "maxmemory", "0")
    c.cmd("DEL", *c.cmd("KEYS", "sw-test-filler:*"))
    w.settled(msg="the changes made while Redis was full")
    check(w.logs().count("claims work again") >= len(w.ws), "recovery logged")
    w.next_all()
    w.settled()
    # The user hashes are whole: tokens and status as before, state advanced;
    # the refused CLI write left nothing behind.
    for u in USERS:
        h = c.hgetall("sw:{app1}:user:" + u)
        for f in ("access_token", "refresh_token", "status", "app"):
            check(h.get(f) == users_before[u].get(f), "user %s field %s intact" % (u, f))
        check(json.loads(h["state"])["k"] == "%s-%s" % (u, TRACKS[w.pos[u]]), "state of %s advanced" % u)
    check(c.cmd("EXISTS", "sw:{app1}:user:late") == 0 and c.cmd("HGET", "sw:users", "late") is None,
          "the refused user add wrote nothing")
