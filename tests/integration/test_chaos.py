"""Chaos (issue 8, part 1): nothing lost, nothing doubled, no cross-talk, under
worker kills, API faults and a Redis restart, all at once.

300 users each follow a scripted playback (next / pause / resume / a new queue
via PUT playback). While the script runs, a random worker is killed with -9 and
replaced every 3 s, the simulator answers 5% of API calls with a 503, hangs 2%
past the HTTP timeout and closes 1% mid-response, and Redis (appendonly,
appendfsync always) is killed with -9 and restarted once. On top of that a
worker is frozen (SIGSTOP) every 7 s, while a claim of its is in flight, for
longer than its leases, and then thawed: its late results must be refused by
the fencing token (without the fence check in complete.lua they are announced
twice, and this test fails). Afterwards every user's events in the app's stream must
equal the script exactly.

"Expected" per user: playback_started (first track) on the first poll, then one
event per scripted change: `next` -> track_changed (new track, previous id),
`pause` -> playback_paused, `resume` -> playback_resumed, `load` (PUT playback
with a fresh queue, playing) -> track_changed. Changes of one user are at least
CHANGE_GAP_S apart (more than lease-ms + poll-interval-ms), and a user's next
change waits until its previous one is in the stream (up to OBSERVE_TIMEOUT_S):
a poll delayed by the faults then only slows the script down instead of
hiding a pause+resume pair, which no poller could see and which would make
the expectation ambiguous. A change that never shows up is still caught: the
script carries on after the timeout and the comparison at the end fails.

Knobs (environment): SW_CHAOS_USERS (300), SW_CHAOS_SECONDS (90), SW_CHAOS_SEED.
"""
import json
import os
import random
import signal
import time

from harness import *  # noqa: F401,F403

LEASE_MS = 2000
POLL_MS = 500
HTTP_TIMEOUT_MS = 1000
CHAOS_ARGS = ["--poll-interval-ms", str(POLL_MS), "--smart-polling", "no", "--lease-ms", str(LEASE_MS),
              "--http-timeout-ms", str(HTTP_TIMEOUT_MS), "--backoff-base-ms", "200",
              "--backoff-max-ms", "1000", "--claim-batch", "64", "--events-maxlen", "1000000"]
NUSERS = int(os.environ.get("SW_CHAOS_USERS", "300"))
SECONDS = float(os.environ.get("SW_CHAOS_SECONDS", "90"))
NWORKERS = 4
KILL_EVERY_S = 3.0
FREEZE_EVERY_S = 7.0            # SIGSTOP a worker past its leases, then SIGCONT
FREEZE_S = LEASE_MS / 1000.0 + 1.5
CHANGE_GAP_S = 4.0              # > (lease-ms + poll-interval-ms) = 2.5 s
CHANGE_JITTER_S = 1.0
OBSERVE_TIMEOUT_S = 30.0
TRACK_MS = 3600000              # no track ends by itself during the run
QUEUE_LEN = 40
STREAM = "sw:{app1}:events"


class Script:
    """One user's scripted playback and the events it must produce."""

    def __init__(self, user, rng):
        self.user = user
        self.rng = rng
        self.queue_no = 0
        self.queue = self._queue()
        self.index = 0
        self.playing = True
        self.expected = [("playback_started", self.queue[0], None, True)]
        self.observed = []
        self.applied_at = None
        self.next_at = None

    def _queue(self):
        q = ["%s-q%d-t%02d" % (self.user, self.queue_no, i) for i in range(QUEUE_LEN)]
        self.queue_no += 1
        return q

    def play_body(self):
        return {"queue": [track(t, duration_ms=TRACK_MS) for t in self.queue], "index": 0,
                "progress_ms": 0, "is_playing": True,
                "device": {"id": "dev-" + self.user, "name": "Phone", "type": "Smartphone"}}

    def current(self):
        return self.queue[self.index]

    def pending(self):
        """True while the last applied change is not yet in the stream."""
        return len(self.observed) < len(self.expected)

    def step(self, sim):
        """Apply one unambiguous change; return its name."""
        cur = self.current()
        if not self.playing:
            action = "resume"
        elif self.index + 1 >= QUEUE_LEN:
            action = "load"
        else:
            action = self.rng.choice(["next", "next", "pause", "load"])
        if action == "resume":
            sim.ok("POST", "/sim/users/%s/resume" % self.user)
            self.playing = True
            self.expected.append(("playback_resumed", cur, None, True))
        elif action == "pause":
            sim.ok("POST", "/sim/users/%s/pause" % self.user)
            self.playing = False
            self.expected.append(("playback_paused", cur, None, False))
        elif action == "next":
            sim.ok("POST", "/sim/users/%s/next" % self.user)
            self.index += 1
            self.expected.append(("track_changed", self.current(), cur, True))
        else:
            self.queue = self._queue()
            self.index = 0
            self.playing = True
            sim.ok("PUT", "/sim/users/%s/playback" % self.user, self.play_body())
            self.expected.append(("track_changed", self.current(), cur, True))
        return action


def _event_key(e):
    t = e.get("track") or {}
    return (e.get("type"), t.get("id"), e.get("previous_track_id"), e.get("is_playing"))


class StreamReader:
    """Reads the app's event stream incrementally, surviving Redis restarts."""

    def __init__(self, redis):
        self.redis = redis
        self.c = None
        self.last = "-"
        self.bad = []          # events that belong to nobody, or mismatch their entry

    def poll(self, scripts):
        try:
            if self.c is None:
                self.c = Redis(self.redis.port, timeout=5)
            start = self.last if self.last == "-" else "(" + self.last
            n = 0
            while True:
                batch = self.c.cmd("XRANGE", STREAM, start, "+", "COUNT", 2000)
                for eid, fields in batch:
                    f = dict(zip(fields[0::2], fields[1::2]))
                    ev = json.loads(f["event"])
                    s = scripts.get(f.get("user"))
                    if s is None or ev.get("user") != f.get("user") or ev.get("type") != f.get("type"):
                        self.bad.append((eid, f))
                    else:
                        s.observed.append(ev)
                    self.last = eid
                    n += 1
                if len(batch) < 2000:
                    return n
                start = "(" + self.last
        except (OSError, ConnectionError, RedisError):
            if self.c is not None:
                self.c.close()
            self.c = None
            return 0


def _freeze_mid_claim(r, w):
    """SIGSTOP w while it waits for a claim's reply: Redis is held in a short
    DEBUG SLEEP so that every worker has a claim outstanding. The claim is
    granted while w is frozen; its leases expire, other workers poll those
    users and announce what changed; when w wakes up it polls with the old
    state and tries to complete with a stale fence. An idle worker frozen at a
    random moment almost never holds such a claim."""
    try:
        dbg = Redis(r.port, timeout=5)
        dbg.send("DEBUG", "SLEEP", "0.3")
        time.sleep(0.15)
        w.proc.signal(signal.SIGSTOP)
        dbg._read()
        dbg.close()
    except (OSError, ConnectionError, RedisError):
        w.proc.signal(signal.SIGSTOP)


def _setup_users(r, sim, users):
    """Register users through the real CLI, a few processes at a time."""
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(4) as ex:
        list(ex.map(lambda u: add_user(r, sim, u, extra=CHAOS_ARGS), users))


def test_chaos_nothing_lost_nothing_doubled():
    seed = int(os.environ.get("SW_CHAOS_SEED", str(random.randrange(1 << 30))))
    print("chaos: seed %d (SW_CHAOS_SEED to replay the script), %d users, %.0f s" % (seed, NUSERS, SECONDS))
    rng = random.Random(seed)
    r = RedisServer(appendonly=True)
    sim = Sim(["--seed", str(seed)])
    users = ["c%03d" % i for i in range(NUSERS)]
    setup_app(r, sim, users=users)
    scripts = {u: Script(u, random.Random(rng.random())) for u in users}
    for u in users:
        sim.ok("PUT", "/sim/users/%s/playback" % u, scripts[u].play_body())
    _setup_users(r, sim, users)
    c = r.client()
    check(c.cmd("CONFIG", "GET", "appendfsync")[1] == "always", "redis runs with appendfsync always")

    workers = [Worker(r, sim, CHAOS_ARGS) for _ in range(NWORKERS)]
    started = list(workers)
    reader = StreamReader(r)

    def all_started():
        reader.poll(scripts)
        return all(not s.pending() for s in scripts.values())
    wait_for(all_started, 120, "every user's playback_started", interval=0.2)

    # The faults, on the Web API only (control calls never see faults).
    faults = [
        {"kind": "status", "status": 503, "fraction": 0.05, "path": "/v1/"},
        {"kind": "hang", "ms": 3 * HTTP_TIMEOUT_MS, "fraction": 0.02, "path": "/v1/"},
        {"kind": "close", "fraction": 0.01, "path": "/v1/"},
    ]
    for f in faults:
        sim.ok("POST", "/sim/faults", f)

    t0 = time.time()
    for i, s in enumerate(users):
        scripts[s].next_at = t0 + (i % 50) * (CHANGE_GAP_S / 50.0)   # staggered
    next_kill = t0 + KILL_EVERY_S
    next_freeze = t0 + FREEZE_EVERY_S / 2
    frozen = None          # (worker, thaw time)
    redis_restart_at = t0 + SECONDS * 0.4
    redis_restarted = False
    kills = freezes = changes = stalls = 0
    counts = {}
    while time.time() < t0 + SECONDS:
        now = time.time()
        if now >= next_kill:
            k = rng.randrange(NWORKERS)
            workers[k].kill9()
            workers[k] = Worker(r, sim, CHAOS_ARGS)
            started.append(workers[k])
            kills += 1
            next_kill = now + KILL_EVERY_S
        if frozen and now >= frozen[1]:
            frozen[0].proc.signal(signal.SIGCONT)
            frozen = None
        if frozen is None and now >= next_freeze:
            w = workers[rng.randrange(NWORKERS)]
            _freeze_mid_claim(r, w)
            frozen = (w, now + FREEZE_S)
            freezes += 1
            next_freeze = now + FREEZE_EVERY_S
        if not redis_restarted and now >= redis_restart_at:
            c.close()
            r.restart(kill=True)
            redis_restarted = True
        reader.poll(scripts)
        now = time.time()
        for s in scripts.values():
            if s.next_at > now:
                continue
            if s.pending() and now - s.applied_at < OBSERVE_TIMEOUT_S:
                continue
            if s.pending():
                stalls += 1      # reported below; the comparison fails for it
            a = s.step(sim)
            counts[a] = counts.get(a, 0) + 1
            changes += 1
            s.applied_at = time.time()
            s.next_at = s.applied_at + CHANGE_GAP_S + rng.random() * CHANGE_JITTER_S
        time.sleep(0.05)

    # Calm: no more faults, kills or freezes; wait for the last changes to be seen.
    if frozen:
        frozen[0].proc.signal(signal.SIGCONT)
    fault_hits = {f["kind"]: f["hits"] for f in sim.ok("GET", "/sim/faults")}
    sim.ok("DELETE", "/sim/faults")
    c = r.client()

    def settled():
        reader.poll(scripts)
        return all(not s.pending() for s in scripts.values())
    try:
        wait_for(settled, 60, "the last changes in the stream", interval=0.2)
    except TestFailure:
        pass   # the comparison below says which user misses what
    # Stragglers (a duplicate announced late) would show up now: wait more
    # than a lease, so every lease of a killed worker has expired and been
    # taken back by a survivor.
    time.sleep(LEASE_MS / 1000.0 + 1.5)
    reader.poll(scripts)
    rcs = [w.stop() for w in workers]

    # Every user's events are exactly the script.
    wrong = []
    for u in users:
        s = scripts[u]
        got = [_event_key(e) for e in s.observed]
        if got != s.expected or any(e.get("user") != u for e in s.observed):
            wrong.append((u, s.expected, got))
    for u, exp, got in wrong[:5]:
        print("user %s\n  expected %r\n  got      %r" % (u, exp, got))
    check(not reader.bad, "events of no scripted user or inconsistent entries: %r" % reader.bad[:5])
    check(not wrong, "%d users' events differ from their script (first: %r)" % (len(wrong), wrong[:1]))
    check(stalls == 0, "%d changes were not seen within %.0f s" % (stalls, OBSERVE_TIMEOUT_S))

    # Everyone is back on the schedule, no lease is left, the workers exited cleanly.
    check(all(rc == 0 for rc in rcs), "graceful stops exit 0: %r" % rcs)
    check(c.cmd("ZCARD", "sw:{app1}:leases") == 0,
          "leases left behind: %r" % c.cmd("ZRANGE", "sw:{app1}:leases", 0, -1))
    due = set(c.cmd("ZRANGE", "sw:{app1}:due", 0, -1))
    check(due == set(users), "users off the schedule: %r" % sorted(set(users) - due)[:10])
    statuses = {c.cmd("HGET", "sw:{app1}:user:" + u, "status") for u in users}
    check(statuses == {"active"}, "user statuses: %r" % statuses)
    stats = c.hgetall("sw:{app1}:stats")
    nev = sum(len(s.observed) for s in scripts.values())
    check(nev == sum(len(s.expected) for s in scripts.values()), "event count")
    st = sim.stats()
    fenced = sum(w.output().count("lease lost before completion") for w in started)
    reports = [w.output() for w in started if "Sanitizer" in w.output() or "runtime error" in w.output()]
    check(not reports, "a sanitizer report in a worker's log:\n%s" % (reports[:1] or [""])[0][-3000:])
    print("chaos: %.0f s, %d users, %d scripted changes %r, %d worker kills, %d freezes, 1 redis kill -9 + restart, "
          "%d events, %d stale results refused by the fence; sim: %d requests, faults hit %r; "
          "app stats: polls %s, errors %s"
          % (SECONDS, NUSERS, changes, counts, kills, freezes, nev, fenced, st["requests"]["total"], fault_hits,
             stats.get("polls"), stats.get("errors")))
    check(all(fault_hits.get(k, 0) > 0 for k in ("status", "hang", "close")),
          "every kind of fault was injected: %r" % fault_hits)
    # (the driver loop may run late on a loaded machine; the faults still come often)
    check(kills >= SECONDS / KILL_EVERY_S / 2 and freezes >= SECONDS / FREEZE_EVERY_S / 2,
          "workers were killed and frozen: %d kills, %d freezes" % (kills, freezes))
    check(fenced > 0, "the freezes produced late results, and the fence refused them")
