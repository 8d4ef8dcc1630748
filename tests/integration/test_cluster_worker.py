"""Redis Cluster, the worker's side (issue 15, must-show 4, routing and
failover of `spotwatch worker`): a 3-primary, 3-replica cluster on loopback,
three apps whose hash tags fall on the three primaries, their users polled
by one worker that knows only the first node (redis-cluster yes). Shown:
every user polled on every primary; a slot migrated between primaries
(CLUSTER SETSLOT + MIGRATE) is followed (MOVED/ASK counted in /metrics) and
its users polled on the new owner; a primary killed with -9: the apps on
the other primaries keep being polled meanwhile, and its app's users are
polled again soon after its replica is promoted (the delay is printed);
a primary stopped with SIGSTOP (a hang: no connection drops) is replaced
the same way.

The records are written by the CLI into a single scratch Redis and copied
key by key (DUMP/RESTORE) to the node that owns each key's slot: the CLI's
own cluster support is tested elsewhere."""
import re
import signal
import subprocess
import time

from harness import *  # noqa: F401,F403

FAST = ["--poll-interval-ms", "300", "--smart-polling", "no", "--lease-ms", "2000",
        "--http-timeout-ms", "1000", "--backoff-base-ms", "200", "--backoff-max-ms", "1000"]
USERS_PER_APP = 4


keyslot = key_slot   # harness: CRC16 (XMODEM) of the key or its hash tag, modulo 16384


class Cluster:
    """Six redis-server --cluster-enabled processes (3 primaries, 3
    replicas) in one temp dir; .port is the seed the workers are given."""

    def __init__(self):
        self.dir = tmpdir()
        self.ports = []
        while len(self.ports) < 6:
            p = free_port()
            # the cluster bus listens on port + 10000
            if p + 10000 < 65536 and p not in self.ports:
                self.ports.append(p)
        self.procs = {}
        for p in self.ports:
            self.procs[p] = Proc(["redis-server", "--port", str(p), "--bind", "127.0.0.1",
                                  "--cluster-enabled", "yes", "--cluster-config-file", "nodes-%d.conf" % p,
                                  "--cluster-node-timeout", "2000", "--dir", self.dir, "--save", "",
                                  # a replica may take over however long ago it last synced
                                  "--cluster-replica-validity-factor", "0",
                                  "--appendonly", "no", "--daemonize", "no"], "redis-%d" % p)
        for p in self.ports:
            wait_for(lambda p=p: Redis(p, timeout=1).cmd("PING") == "PONG", 10, "node %d" % p)
        r = subprocess.run(["redis-cli", "--cluster", "create"] + ["127.0.0.1:%d" % p for p in self.ports] +
                           ["--cluster-replicas", "1", "--cluster-yes"], capture_output=True, text=True,
                           timeout=60)
        check(r.returncode == 0, "redis-cli --cluster create: %s %s" % (r.stdout, r.stderr))
        wait_for(self.ok, 30, "cluster_state:ok on every node")
        wait_for(self.replicas_synced, 30, "every replica synced with its primary")
        self.port = self.ports[0]
        self.sw_extra = ["--redis-cluster", "yes"]

    def live(self):
        return [p for p in self.ports if self.procs[p].alive()]

    def ok(self):
        for p in self.live():
            c = Redis(p, timeout=1)
            info = c.cmd("CLUSTER", "INFO")
            c.close()
            if "cluster_state:ok" not in info:
                return False
        return True

    def replicas_synced(self):
        n = 0
        for p in self.live():
            c = Redis(p, timeout=1)
            info = c.cmd("INFO", "replication")
            c.close()
            if "role:slave" in info:
                if "master_link_status:up" not in info:
                    return False
                n += 1
        return n == 3

    def slots(self):
        """slot ranges -> primary port, from a live node."""
        c = Redis(self.live()[0], timeout=2)
        out = [(e[0], e[1], int(e[2][1])) for e in c.cmd("CLUSTER", "SLOTS")]
        c.close()
        return out

    def owner(self, key):
        s = keyslot(key)
        for first, last, port in self.slots():
            if first <= s <= last:
                return port
        return None

    def primaries(self):
        return sorted({port for _, _, port in self.slots()})

    def node_id(self, port):
        c = Redis(port, timeout=2)
        nid = c.cmd("CLUSTER", "MYID")
        c.close()
        return nid

    def cmd(self, key, *args):
        c = Redis(self.owner(key), timeout=2)
        try:
            return c.cmd(*args)
        finally:
            c.close()


def copy_into(cluster, scratch):
    """Every key of the scratch Redis restored on the node owning its slot."""
    src = scratch.client()
    cursor, keys = "0", []
    while True:
        cursor, batch = src.cmd("SCAN", cursor, "COUNT", 1000)
        keys += batch
        if cursor == "0":
            break
    owners = {}
    for k in keys:
        dump, ttl = src.cmd("DUMP", k), src.cmd("PTTL", k)
        port = cluster.owner(k)
        if port not in owners:
            owners[port] = Redis(port, timeout=5)
        if isinstance(dump, str):
            dump = dump.encode("latin-1") if False else dump.encode()
        owners[port].cmd("RESTORE", k, max(ttl, 0), dump, "REPLACE")
    for c in owners.values():
        c.close()
    return len(keys)


def pick_apps(cluster):
    """One app id per primary (its hash tag's slot on that primary)."""
    apps, seen = [], set()
    for i in range(200):
        app = "ca%d" % i
        port = cluster.owner("sw:{%s}:due" % app)
        if port not in seen:
            seen.add(port)
            apps.append(app)
        if len(apps) == 3:
            return apps
    raise TestFailure("no app id found for every primary")


def polls(cluster, app, user):
    key = "sw:{%s}:user:%s" % (app, user)
    h = cluster.cmd(key, "HGET", key, "polls")
    return int(h or 0)


def metric(url, name, label=""):
    """One sample of the worker's /metrics (published once a second)."""
    st, _, body = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(http("GET", url + "/metrics")), 10,
                           "/metrics")
    text = body.decode() if isinstance(body, bytes) else body
    m = re.search(r"^%s%s (\S+)$" % (re.escape(name), re.escape(label)), text, re.M)
    check(m is not None, "%s%s missing from /metrics" % (name, label))
    return float(m.group(1))


def world(sim_args=()):
    cluster = Cluster()
    apps = pick_apps(cluster)
    scratch = RedisServer()
    sim = Sim(list(sim_args))
    users = {}
    for app in apps:
        users[app] = ["%s-u%d" % (app, i) for i in range(USERS_PER_APP)]
        setup_app(scratch, sim, app=app, users=users[app])
        for u in users[app]:
            add_user(scratch, sim, u, app=app, extra=FAST)
            play(sim, u, ["t-" + u, "t2-" + u])
    check(copy_into(cluster, scratch) > 0, "records copied into the cluster")
    scratch.stop()
    return cluster, sim, apps, users


def all_polled(cluster, apps, users, base, more=2):
    return all(polls(cluster, a, u) >= base.get(u, 0) + more for a in apps for u in users[a])


def snapshot(cluster, apps, users):
    return {u: polls(cluster, a, u) for a in apps for u in users[a]}


def migrate_slot(cluster, slot, src, dst):
    """Move slot from primary src to primary dst with live traffic: SETSLOT
    IMPORTING/MIGRATING, MIGRATE of its keys, SETSLOT NODE everywhere."""
    sid, did = cluster.node_id(src), cluster.node_id(dst)
    s, d = Redis(src, timeout=5), Redis(dst, timeout=5)
    d.cmd("CLUSTER", "SETSLOT", slot, "IMPORTING", sid)
    s.cmd("CLUSTER", "SETSLOT", slot, "MIGRATING", did)
    moved = 0
    while True:
        keys = s.cmd("CLUSTER", "GETKEYSINSLOT", slot, 100)
        if not keys:
            break
        s.cmd("MIGRATE", "127.0.0.1", dst, "", 0, 5000, "KEYS", *keys)
        moved += len(keys)
        time.sleep(0.2)   # the worker meanwhile meets ASK (or TRYAGAIN) on this slot
    for p in cluster.primaries():
        c = Redis(p, timeout=5)
        c.cmd("CLUSTER", "SETSLOT", slot, "NODE", did)
        c.close()
    s.close()
    d.close()
    return moved


def test_worker_follows_slots_migration_and_failover():
    cluster, sim, apps, users = world()
    mport = free_port()
    url = "http://127.0.0.1:%d" % mport
    w = Worker(cluster, sim, FAST + ["--metrics-listen", "127.0.0.1:%d" % mport])
    # (a) every app, so every primary, is polled
    wait_for(lambda: all_polled(cluster, apps, users, {}, 3), 30, "every user on every primary polled")
    check(len({cluster.owner("sw:{%s}:due" % a) for a in apps}) == 3, "the apps live on three primaries")
    check(metric(url, "spotwatch_redis_cluster_refreshes_total") >= 1, "the map was read")
    # classic PUBLISH crosses the cluster bus: a subscriber on a replica of
    # another primary hears a user of the first app (README, "Playback
    # channels in a cluster")
    user = users[apps[0]][0]
    home = cluster.owner("sw:{%s}:due" % apps[0])
    far = [p for p in cluster.ports if p != home and "role:slave" in Redis(p, timeout=2).cmd("INFO", "replication")
           and "master_port:%d" % home not in Redis(p, timeout=2).cmd("INFO", "replication")][0]
    sub = Subscriber(type("Node", (), {"port": far})(), "sw:playback:" + user)
    sim.ok("POST", "/sim/users/%s/next" % user)
    sub.wait(lambda e: e["type"] == "track_changed" and e["user"] == user, 15,
             "the event of a user on another node, on a replica's SUBSCRIBE")

    # (b) the first app's slot migrated to the second app's primary under load
    app = apps[0]
    slot = keyslot("sw:{%s}:due" % app)
    src, dst = cluster.owner("sw:{%s}:due" % app), cluster.owner("sw:{%s}:due" % apps[1])
    n = migrate_slot(cluster, slot, src, dst)
    check(n > 0, "the app's keys were migrated")
    check(cluster.owner("sw:{%s}:due" % app) == dst, "the slot is served by its new primary")
    base = snapshot(cluster, apps, users)
    wait_for(lambda: all_polled(cluster, [app], users, base, 3), 20, "the migrated app polled on its new node")
    def redirects():
        return [metric(url, "spotwatch_redis_cluster_redirects_total", '{kind="%s"}' % k) for k in ("moved", "ask")]
    # the counters are published once a second
    # the first command to the old owner after SETSLOT NODE meets a MOVED
    moved, ask = wait_for(lambda: (lambda v: v if v[0] >= 1 else None)(redirects()), 5,
                          "a MOVED counted in /metrics")
    print("slot %d migrated (%d keys): %d MOVED, %d ASK followed" % (slot, n, moved, ask))
    check(w.alive(), "worker alive after the migration")

    # (c) the third app's primary killed with -9
    victim_app = apps[2]
    victim = cluster.owner("sw:{%s}:due" % victim_app)
    others = [a for a in apps if cluster.owner("sw:{%s}:due" % a) != victim]
    cluster.procs[victim].kill9()
    base = snapshot(cluster, others, users)
    # the apps on the other primaries do not wait for the failover
    wait_for(lambda: all_polled(cluster, others, users, base, 2), 15, "other primaries' apps polled meanwhile")
    wait_for(lambda: cluster.owner("sw:{%s}:due" % victim_app) not in (None, victim) and cluster.ok(), 30,
             "the replica promoted")
    promoted = time.time()
    base = snapshot(cluster, [victim_app], users)
    wait_for(lambda: all_polled(cluster, [victim_app], users, base, 2), 15,
             "the failed primary's app polled on its promoted replica")
    print("polling of app %s resumed %.1f s after the promotion was seen" % (victim_app, time.time() - promoted))
    check(w.alive(), "worker alive after the failover")

    # (d) a primary that hangs (SIGSTOP) drops no connection: the map read
    # now and then finds its replica promoted, and what waited on it is
    # failed over to the new owner instead of waiting out the link's watchdog
    hung_app = apps[1]
    hung = cluster.owner("sw:{%s}:due" % hung_app)
    cluster.procs[hung].signal(signal.SIGSTOP)
    on_cleanup(lambda: cluster.procs[hung].signal(signal.SIGCONT))
    wait_for(lambda: cluster.owner("sw:{%s}:due" % hung_app) not in (None, hung), 30, "the hung primary replaced")
    promoted = time.time()
    base = snapshot(cluster, [hung_app], users)
    wait_for(lambda: all_polled(cluster, [hung_app], users, base, 2), 15,
             "the hung primary's app polled on its promoted replica")
    print("polling of app %s resumed %.1f s after the hung primary's replica was promoted" %
          (hung_app, time.time() - promoted))
    cluster.procs[hung].signal(signal.SIGCONT)
    out = w.output()
    check("redis cluster map" in out, "the map change was logged")
    check(out.count("redis cluster map") < 50, "map changes logged once each, not per command")
    # a clean exit: it deregisters on the node of <p>workers (and, under the
    # sanitizers, frees everything the router held)
    rc = w.stop()
    check(rc == 0, "worker exit code %r: %s" % (rc, w.output()[-2000:]))
    check(cluster.cmd("sw:workers", "ZCARD", "sw:workers") == 0, "the worker deregistered")


def waits(port):
    """cmdstat_wait's calls on one node (0 when never called)."""
    c = Redis(port, timeout=2)
    try:
        for line in c.cmd("INFO", "commandstats").splitlines():
            if line.startswith("cmdstat_wait:"):
                return int(line.split("calls=")[1].split(",")[0])
        return 0
    finally:
        c.close()


def test_wait_goes_to_each_batch_node():
    """redis-wait-replicas 1 with refresh tokens rotating on every refresh:
    each primary (it runs its apps' batches and token_store.lua) receives
    its own WAITs, and its replica acknowledges them."""
    cluster, sim, apps, users = world(["--refresh-policy", "rotate"])
    w = Worker(cluster, sim, FAST + ["--refresh-margin-ms", "3599000", "--redis-wait-replicas", "1",
                                     "--redis-wait-timeout-ms", "1000"])
    homes = sorted({cluster.owner("sw:{%s}:due" % a) for a in apps})
    check(len(homes) == 3, "the apps live on three primaries")
    wait_for(lambda: all(waits(p) >= 2 for p in homes), 30, "WAITs on every primary")
    check("replicas acknowledged" not in w.output(), "every WAIT acknowledged: %s" % w.output()[-800:])
    print("WAITs per primary: %s" % [waits(p) for p in homes])
