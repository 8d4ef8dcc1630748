"""Event ids a consumer can deduplicate with (issue 15): every event carries
"id":"<user>:<seq>", the user's event_seq, minted by the script that
announces it; a completion sent twice is announced once; and, with
redis-wait-replicas, a worker waits for a replica after a batch that stored
a token."""
import json
import time

from harness import *  # noqa: F401,F403

FAST = ["--poll-interval-ms", "300", "--smart-polling", "no", "--lease-ms", "2000",
        "--http-timeout-ms", "1000", "--backoff-base-ms", "200", "--backoff-max-ms", "1000"]


def world(users, redis=None, sim_args=None):
    r = redis or RedisServer()
    sim = Sim(sim_args or [])
    setup_app(r, sim, users=users)
    for u in users:
        add_user(r, sim, u, extra=FAST)
    return r, sim


def seq_of(e):
    """The seq of an event's id, checked to name the event's user."""
    user, _, seq = e["id"].rpartition(":")
    check(user == e["user"] and seq.isdigit(), "id %r names its user %r" % (e["id"], e["user"]))
    return int(seq)


def stream_entries(c, app="app1"):
    out = []
    for _id, fields in c.cmd("XRANGE", "sw:{%s}:events" % app, "-", "+"):
        out.append(dict(zip(fields[0::2], fields[1::2])))
    return out


def check_ids(events, users, c):
    """Per user: ids strictly increasing, 1, 2, ... with no gap and no
    repeat (a healthy Redis: every id minted was committed), the last one
    the user's event_seq. Returns {user: seqs}."""
    seqs = {}
    for e in events:
        check(list(e)[0] == "id", "id is the event's first member: %r" % e)
        seqs.setdefault(e["user"], []).append(seq_of(e))
    for u in users:
        got = seqs.get(u, [])
        check(got == list(range(1, len(got) + 1)), "user %s ids 1..n, no gap, no repeat: %r" % (u, got))
        stored = c.hgetall("sw:{app1}:user:%s" % u).get("event_seq")
        check(got and stored == str(got[-1]), "user %s event_seq %r is its last id %r" % (u, stored, got))
    return seqs


def test_ids_increase_per_user_two_workers():
    """Many changes of several users under two workers: every event has an
    id, per user strictly increasing without gaps, on the channel and in the
    stream alike (the stream entry's id field too)."""
    users = ["e%d" % i for i in range(6)]
    rounds = 5
    r, sim = world(users)
    for u in users:
        play(sim, u, ["t-%s-%d" % (u, k) for k in range(rounds + 1)])
    sub = Subscriber(r, "sw:playback:*", pattern=True)
    ws = [Worker(r, sim, FAST) for _ in range(2)]
    c = r.client()

    def count(u):
        return len([e for e in sub.events if e["user"] == u])
    wait_for(lambda: sub.drain() is not None and all(count(u) >= 1 for u in users), 20, "playback_started")
    for k in range(rounds):
        for u in users:
            sim.ok("POST", "/sim/users/%s/next" % u)
        wait_for(lambda: sub.drain() is not None and all(count(u) >= k + 2 for u in users), 20,
                 "round %d announced" % k)
    time.sleep(1.0)   # let any duplicate arrive before we count
    evs = sub.drain()
    seqs = check_ids(evs, users, c)
    check(all(len(seqs[u]) == rounds + 1 for u in users), "one event per change: %r" % seqs)
    entries = stream_entries(c)
    check([json.loads(f["event"])["id"] for f in entries] == [f["id"] for f in entries],
          "each stream entry's id field is its event's id")
    check(sorted(f["id"] for f in entries) == sorted(e["id"] for e in evs), "the stream holds the same ids")
    check(all(w.alive() for w in ws), "workers still running")


def test_replayed_completion_not_announced_twice():
    """complete.lua called twice with the same job (same fence), as a worker
    retrying a completion whose reply was lost would: applied once, one
    event; the next job (a new fence) gets the next id. A malformed
    event_seq sets the user aside (its user_broken has seq 0)."""
    r, sim = world(["d1", "d2"])
    c = r.client()
    sha = c.cmd("SCRIPT", "LOAD", lua_source("complete"))
    now = int(c.cmd("TIME")[0]) * 1000
    for u in ("d1", "d2"):
        c.cmd("HSET", "sw:{app1}:user:%s" % u, "fence", "7", "status", "active")
        c.cmd("ZADD", "sw:{app1}:leases", now + 60000, u)
    c.cmd("HSET", "sw:{app1}:user:d2", "event_seq", "x1")

    def call(user, fence, ev_user=None):
        ev = json.dumps({"type": "track_changed", "user": ev_user or user})
        return complete_call(c, sha, [user], [complete_job(user, fence, "5000", "S", events=[("track_changed", ev)])])

    sub = Subscriber(r, "sw:playback:d1", "sw:playback:d2")
    check(call("d1", "7") == [1], "first completion applied")
    check(call("d1", "7") == [0], "the same completion again: not applied")
    check(c.cmd("HGET", "sw:{app1}:user:d1", "fence") == "8", "the job applied moved the fence on")
    c.cmd("HSET", "sw:{app1}:user:d1", "fence", "9")   # the next claim
    check(call("d1", "9") == [1], "the next job applied")
    check(call("d2", "7") == [0], "a malformed event_seq: the job is not applied")
    time.sleep(0.3)
    evs = sub.drain()
    d1 = [e for e in evs if e["user"] == "d1"]
    check([e["id"] for e in d1] == ["d1:1", "d1:2"], "one event per job, ids 1 and 2: %r" % d1)
    h1 = c.hgetall("sw:{app1}:user:d1")
    check(h1.get("changes") == "2" and h1.get("event_seq") == "2" and h1.get("fence") == "10",
          "counted once per job: %r" % {k: h1.get(k) for k in ("changes", "event_seq", "fence")})
    d2 = [e for e in evs if e["user"] == "d2"]
    check([(e["type"], e["id"]) for e in d2] == [("user_broken", "d2:0")], "d2 set aside: %r" % d2)
    h2 = c.hgetall("sw:{app1}:user:d2")
    check(h2.get("status") == "broken" and "event_seq" in h2.get("reason", ""), "reason names event_seq: %r" % h2)
    check(len(stream_entries(c)) == 3, "the stream holds the three events")


def test_kill9_worker_no_duplicate_ids():
    """A worker killed with -9 holding leases mid-run, another started: no
    id announced twice and no gap in any user's ids (a healthy Redis loses
    nothing a script committed)."""
    users = ["k%d" % i for i in range(12)]
    r, sim = world(users)
    for u in users:
        play(sim, u, ["t-%s-%d" % (u, k) for k in range(4)])
    sub = Subscriber(r, "sw:playback:*", pattern=True)
    victim = Worker(r, sim, FAST)
    c = r.client()
    wait_for(lambda: sub.drain() is not None and len({e["user"] for e in sub.events}) == len(users), 20,
             "first events")
    sim.ok("POST", "/sim/config", {"latency_ms": 1500})
    for u in users:
        sim.ok("POST", "/sim/users/%s/next" % u)
    wait_for(lambda: c.cmd("ZCARD", "sw:{app1}:leases") > 0, 10, "victim holds leases")
    victim.kill9()
    check(len(c.cmd("ZRANGE", "sw:{app1}:leases", 0, -1)) > 0, "leases held at the kill")
    sim.ok("POST", "/sim/config", {"latency_ms": 0})
    Worker(r, sim, FAST)
    wait_for(lambda: sub.drain() is not None and
             len([e for e in sub.events if e["type"] == "track_changed"]) >= len(users), 30, "changes announced")
    for u in users:
        sim.ok("POST", "/sim/users/%s/next" % u)
    wait_for(lambda: sub.drain() is not None and
             len([e for e in sub.events if e["type"] == "track_changed"]) >= 2 * len(users), 30,
             "second changes announced")
    time.sleep(1.0)
    evs = sub.drain()
    ids = [e["id"] for e in evs]
    check(len(ids) == len(set(ids)), "no id announced twice: %r" % ids)
    seqs = check_ids(evs, users, c)
    check(all(len(seqs[u]) == 3 for u in users), "started + two changes per user: %r" % seqs)


# --- WAIT (redis-wait-replicas) -----------------------------------------------

# Spotify rotates the refresh token on every refresh, and the worker refreshes
# about once a second (the sim's 3600 s tokens are always within the margin).
ROTATE = ["--refresh-policy", "rotate"]
REFRESH_OFTEN = FAST + ["--refresh-margin-ms", "3599000"]


def waits(c):
    """cmdstat_wait's calls in INFO commandstats (0 when never called)."""
    for line in c.cmd("INFO", "commandstats").splitlines():
        if line.startswith("cmdstat_wait:"):
            return int(line.split("calls=")[1].split(",")[0])
    return 0


def rotations(c, users):
    return min(int(c.hgetall("sw:{app1}:user:%s" % u).get("rotations", 0)) for u in users)


def test_wait_sent_with_a_replica():
    """redis-wait-replicas 1 with a replica attached: WAIT is sent after the
    batches that follow a rotated refresh token (fewer WAITs than refreshes:
    batched), and the replica holds each user's latest refresh token."""
    primary = RedisServer()
    replica = RedisServer(extra=["replicaof 127.0.0.1 %d" % primary.port])
    c, rc = primary.client(), replica.client()
    wait_for(lambda: "master_link_status:up" in rc.cmd("INFO", "replication"), 20, "replica linked")
    users = ["w1", "w2", "w3"]
    r, sim = world(users, redis=primary, sim_args=ROTATE)
    for u in users:
        play(sim, u, ["t-" + u])
    w = Worker(r, sim, REFRESH_OFTEN + ["--redis-wait-replicas", "1", "--redis-wait-timeout-ms", "1000"])
    wait_for(lambda: rotations(c, users) >= 3, 30, "refresh tokens rotated")
    n = waits(c)
    refreshes = sum(int(c.hgetall("sw:{app1}:user:%s" % u).get("refreshes", 0)) for u in users)
    check(n > 0, "WAIT sent: cmdstat_wait calls=%d" % n)
    check(n <= refreshes, "at most one WAIT per refresh (%d WAITs, %d refreshes)" % (n, refreshes))
    polls = sum(int(c.hgetall("sw:{app1}:user:%s" % u).get("polls", 0)) for u in users)
    check(n < polls, "never one per poll (%d WAITs, %d polls)" % (n, polls))
    out = spotwatch(r, "status", sim=sim).stdout
    check("topology: primary, 1 replica\n  replica 127.0.0.1:%d online" % replica.port in out,
          "status shows the replica: %s" % out)
    topo = json.loads(spotwatch(r, "status", "--json", sim=sim).stdout)["redis"]["replication"]
    check(topo["role"] == "primary" and [x["addr"] for x in topo["replicas"]] == ["127.0.0.1:%d" % replica.port],
          "status --json: %r" % topo)
    check(all(x["offset_lag"] >= 0 and x["lag_s"] >= 0 for x in topo["replicas"]), "offsets: %r" % topo)
    w.stop()
    for u in users:
        key = "sw:{app1}:user:%s" % u
        wait_for(lambda: rc.cmd("HGET", key, "refresh_token") == c.cmd("HGET", key, "refresh_token"), 10,
                 "the replica holds %s's refresh token" % u)
    check("replicas acknowledged" not in w.output(), "every WAIT acknowledged: %s" % w.output()[-500:])


def test_wait_off_by_default_and_unacknowledged_logged():
    """Off (the default): no WAIT, however many tokens rotate. On with no
    replica: every WAIT times out, is logged, and polling goes on."""
    users = ["x1", "x2"]
    r, sim = world(users, sim_args=ROTATE)
    for u in users:
        play(sim, u, ["t-" + u])
    c = r.client()
    w = Worker(r, sim, REFRESH_OFTEN)
    wait_for(lambda: rotations(c, users) >= 2, 30, "refresh tokens rotated")
    check(waits(c) == 0, "no WAIT when off: %d" % waits(c))
    w.stop()
    before = rotations(c, users)
    port = free_port()
    w = Worker(r, sim, REFRESH_OFTEN + ["--redis-wait-replicas", "1", "--redis-wait-timeout-ms", "50",
                                        "--metrics-listen", "127.0.0.1:%d" % port])
    wait_for(lambda: rotations(c, users) >= before + 2, 30, "rotations go on while WAIT times out")
    check(waits(c) > 0, "WAIT sent when on")
    wait_for(lambda: "0 of 1 replicas acknowledged" in w.output(), 10, "the unacknowledged WAIT logged")

    def short():
        body = http("GET", "http://127.0.0.1:%d/metrics" % port)[2].decode()
        return [ln for ln in body.splitlines() if ln.startswith('spotwatch_redis_waits_total{result="short"} ')
                and float(ln.split()[-1]) > 0]
    wait_for(short, 10, "spotwatch_redis_waits_total{result=\"short\"} counted")


def test_lost_write_reannounced_under_the_same_id():
    """What a failover does, made deterministic: the replica promoted lacks
    the last completion (its state and event_seq), here restored by hand to
    what they were before it. The next poll announces the change again,
    under the same id: a duplicate the consumer can detect."""
    r, sim = world(["f1"])
    play(sim, "f1", ["fa", "fb"])
    c = r.client()
    key = "sw:{app1}:user:f1"
    sub = Subscriber(r, "sw:playback:f1")
    w = Worker(r, sim, FAST)
    sub.wait(lambda e: e["type"] == "playback_started", 15, "started")
    check(w.stop() == 0, "worker stopped")
    before = c.hgetall(key)
    w = Worker(r, sim, FAST)
    sim.ok("POST", "/sim/users/f1/next")
    first = sub.wait(lambda e: e["type"] == "track_changed", 15, "the change")[0]
    check(w.stop() == 0, "worker stopped")
    # The replica's copy: the change never stored.
    c.cmd("HSET", key, "state", before["state"], "event_seq", before["event_seq"], "changes", before["changes"])
    Worker(r, sim, FAST)
    wait_for(lambda: len([e for e in sub.drain() if e["type"] == "track_changed"]) >= 2, 15, "announced again")
    again = [e for e in sub.events if e["type"] == "track_changed"][1]
    check(first["id"] == again["id"] == "f1:2" and first["track"]["id"] == again["track"]["id"] == "fb",
          "the same change, the same id: %r %r" % (first, again))
