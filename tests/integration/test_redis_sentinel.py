"""Redis Sentinel (issue 15, must-show 3): one primary, one replica, three
redis-sentinel processes, all on loopback; 200 users polled by 2 workers
that know only the Sentinels. The primary is killed with -9: the Sentinels
promote the replica, the workers find it, and polling resumes there; no user
is lost from the schedule and no refresh token is lost. The CLI (`status`)
reaches the new primary through the Sentinels too. The time from the
promotion (+switch-master, seen on the test's own Sentinel subscription) to
the first resumed poll is printed; the issue's bound (10 s) is asserted."""
import json
import os
import time

from harness import *  # noqa: F401,F403

MASTER = "swmaster"
N_USERS = 200


def sentinel(primary_port):
    """A redis-server --sentinel on a free port monitoring primary_port."""
    d, port = tmpdir(), free_port()
    conf = os.path.join(d, "sentinel.conf")
    with open(conf, "w") as f:
        f.write("\n".join(["port %d" % port, "bind 127.0.0.1", "daemonize no", "dir %s" % d,
                           "sentinel monitor %s 127.0.0.1 %d 2" % (MASTER, primary_port),
                           "sentinel down-after-milliseconds %s 1000" % MASTER,
                           "sentinel failover-timeout %s 5000" % MASTER,
                           "sentinel parallel-syncs %s 1" % MASTER]) + "\n")
    Proc(["redis-server", conf, "--sentinel"], "sentinel")
    return port


def sentinels_ready(ports):
    """Every Sentinel knows the replica and the two other Sentinels (a
    failover needs a majority to elect a leader)."""
    try:
        for p in ports:
            c = Redis(p, timeout=1)
            ok = len(c.cmd("SENTINEL", "replicas", MASTER)) >= 1 and len(c.cmd("SENTINEL", "sentinels", MASTER)) >= 2
            c.close()
            if not ok:
                return False
        return True
    except (OSError, RedisError):
        return False


def import_users(r, sim, users, extra):
    rows = []
    for u in users:
        sim.ok("POST", "/sim/users", {"id": u, "display_name": "User " + u})
        tok = sim.ok("POST", "/sim/users/%s/tokens" % u, {"client_id": "cid-app1",
                                                         "scope": "user-read-currently-playing user-read-playback-state"})
        rows.append({"user": u, "app": "app1", "access_token": tok["access_token"],
                     "refresh_token": tok["refresh_token"], "expires_in": tok["expires_in"],
                     "scope": "user-read-currently-playing user-read-playback-state"})
    path = os.path.join(tmpdir(), "users.jsonl")
    with open(path, "w") as f:
        f.write("".join(json.dumps(row) + "\n" for row in rows))
    out = spotwatch(r, "user", "import", path, "--watch", extra=extra)
    check("imported %d users" % len(users) in out.stdout, out.stdout + out.stderr)


def user_fields(c, users, field):
    """field of every user's hash, pipelined: {user: value or None}."""
    for u in users:
        c.send("HGET", "sw:{app1}:user:" + u, field)
    return {u: c._read() for u in users}


def polls_resume(c, users):
    """Waits until every user's polls counter on c has grown; returns when
    the first one did."""
    base = user_fields(c, users, "polls")
    first = None

    def resumed():
        nonlocal first
        now = user_fields(c, users, "polls")
        grew = [u for u in users if int(now[u] or 0) > int(base[u] or 0)]
        if grew and first is None:
            first = time.time()
        return len(grew) == len(users)

    try:
        wait_for(resumed, 30, "every user polled again on port %d" % c.port, 0.05)
    except TestFailure:
        print("diag: role %r due %r leases %r stats %r" % (
            c.cmd("ROLE")[0], c.cmd("ZCARD", "sw:{app1}:due"), c.cmd("ZCARD", "sw:{app1}:leases"),
            c.hgetall("sw:{app1}:stats")))
        raise
    return first


def test_failover_resumes_polling_on_the_promoted_replica():
    # Redis 7 delays a diskless full sync by 5 s by default: a primary
    # killed before it ends leaves an empty replica to be promoted (every
    # user lost; this test then fails, as it should). Start the sync at once.
    primary = RedisServer(extra=["repl-diskless-sync-delay 0"])
    replica = RedisServer(extra=["replicaof 127.0.0.1 %d" % primary.port])
    rc = replica.client()
    wait_for(lambda: "master_link_status:up" in rc.cmd("INFO", "replication"), 20, "the replica in sync", 0.1)
    ports = [sentinel(primary.port) for _ in range(3)]
    wait_for(lambda: sentinels_ready(ports), 20, "the Sentinels to find the replica and each other", 0.2)
    extra = ["--redis-sentinel", ",".join("127.0.0.1:%d" % p for p in ports), "--redis-sentinel-master", MASTER,
             "--poll-interval-ms", "1000", "--smart-polling", "no"]
    sim = Sim()
    setup_app(primary, sim, extra=extra)
    users = ["s%03d" % i for i in range(N_USERS)]
    import_users(primary, sim, users, extra)
    for u in users[:20]:
        play(sim, u, ["t-" + u])
    workers = [Worker(primary, sim, extra), Worker(primary, sim, extra)]
    serve = Serve(primary, sim, extra)
    old = primary.client()
    wait_for(lambda: all(int(v or 0) >= 2 for v in user_fields(old, users, "polls").values()), 30,
             "every user polled on the first primary", 0.2)
    # the users' records and tokens are on the replica (what the workers
    # wrote since is not waited for: that part may be lost, see README)
    check(old.cmd("WAIT", 1, 5000) == 1, "the replica acknowledged the writes so far")

    sub = Redis(ports[0], timeout=5)
    sub.cmd("SUBSCRIBE", "+switch-master")
    t_kill = time.time()
    primary.kill9()
    msg = None
    while time.time() - t_kill < 30 and not (msg and msg[0] == "message"):
        msg = sub.read_message(1)
    check(msg and msg[0] == "message", "no +switch-master within 30 s of the kill")
    t_promo = time.time()
    parts = msg[2].split()   # <master> <old ip> <old port> <new ip> <new port>
    check(parts[0] == MASTER and int(parts[4]) == replica.port, "promoted: %r" % msg[2])

    new = Redis(replica.port, timeout=5)
    on_cleanup(new.close)
    first = polls_resume(new, users)
    print("sentinel: promotion %.2f s after the kill; first resumed poll %.2f s after the promotion; "
          "all %d users polled again %.2f s after it" % (t_promo - t_kill, first - t_promo, N_USERS,
                                                         time.time() - t_promo))
    check(first - t_promo < 10, "polling resumed %.1f s after the promotion (bound: 10 s)" % (first - t_promo))

    due = set(new.cmd("ZRANGE", "sw:{app1}:due", 0, -1)) | set(new.cmd("ZRANGE", "sw:{app1}:leases", 0, -1))
    check(due >= set(users), "users lost from the schedule: %r" % sorted(set(users) - due)[:5])
    tokens = user_fields(new, users, "refresh_token")
    check(all(tokens[u] for u in users), "refresh tokens lost: %r" % [u for u in users if not tokens[u]][:5])

    # the CLI knows only the Sentinels (and the dead primary's port)
    out = spotwatch(primary, "status", extra=extra)
    check("app1" in out.stdout, "status through the Sentinels: %s" % out.stdout[:300])
    wait_for(lambda: serve.get("/healthz")[0] == 200, 15, "serve's /healthz through the Sentinels")

    # A primary demoted alive (a manual failover back to the restarted old
    # one): the Sentinels make the workers' links drop (CLIENT KILL), and the
    # workers follow to the new primary.
    primary.start()
    oldc = Redis(primary.port, timeout=5)
    on_cleanup(oldc.close)
    wait_for(lambda: "master_link_status:up" in oldc.cmd("INFO", "replication"), 20,
             "the old primary back as a replica, in sync", 0.1)
    check(new.cmd("WAIT", 1, 5000) == 1, "the old primary acknowledged the writes so far")
    wait_for(lambda: sentinels_ready(ports), 20, "the Sentinels to see the returned replica", 0.2)
    t_switch = time.time()
    Redis(ports[1], timeout=5).cmd("SENTINEL", "FAILOVER", MASTER)
    msg = None
    while time.time() - t_switch < 30 and not (msg and msg[0] == "message"):
        msg = sub.read_message(1)
    check(msg and msg[0] == "message" and int(msg[2].split()[4]) == primary.port, "switched back: %r" % (msg,))
    t_promo = time.time()
    back = Redis(primary.port, timeout=5)   # the promotion dropped every client, the test's too
    on_cleanup(back.close)
    first = polls_resume(back, users)
    print("sentinel: manual failover: first poll on the new primary %.2f s after +switch-master"
          % (first - t_promo))
    check(first - t_promo < 10, "polling followed the demotion in %.1f s (bound: 10 s)" % (first - t_promo))
    # The demoted primary stays a writable primary until the Sentinels
    # convert it (about 10 s): only the +switch-master subscription moves
    # the workers before that.
    for w in workers:
        check("+switch-master: the primary is now 127.0.0.1:%d" % primary.port in w.output(),
              "a worker did not follow +switch-master: %s" % w.output()[-600:])
