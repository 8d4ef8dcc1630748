"""The CLI and serve against a real Redis Cluster (issue 15, "Redis Cluster"):
3 primaries and 3 replicas on loopback, started here. Apps whose slots fall
on each of the three primaries; `app add`, `user add` / `import` / `ls` /
`rm`, `watch now|stop|start`, `status` (text and --json) with the topology,
`tail` reading an app's stream and the channels, `app rm`; serve's /connect -> /callback
storing a user, and /healthz naming the nodes and each app's primary. The
directory (<p>users) and each app's keys live in different slots: nothing
here may be refused with CROSSSLOT or MOVED."""
import json
import os
import random
import select
import socket
import subprocess

from harness import *  # noqa: F401,F403
from test_oauth import keyfiles


def cluster_port():
    """A free port P below 55536 whose cluster bus port P + 10000 is free too."""
    while True:
        p = random.randint(20000, 45000)
        try:
            for q in (p, p + 10000):
                s = socket.socket()
                s.bind(("127.0.0.1", q))
                s.close()
            return p
        except OSError:
            continue


class Cluster:
    """Six redis-servers in cluster mode (3 primaries, 3 replicas) in one temp
    dir; quacks like RedisServer for spotwatch() (port: the first seed,
    sw_extra: --redis-cluster yes)."""

    def __init__(self):
        self.dir = tmpdir()
        self.ports = [cluster_port() for _ in range(6)]
        self.ssl, self.password = None, None
        self.sw_extra = ["--redis-cluster", "yes"]
        self.procs = []
        for p in self.ports:
            self.procs.append(Proc(["redis-server", "--port", str(p), "--bind", "127.0.0.1",
                                    "--cluster-enabled", "yes", "--cluster-config-file", "nodes-%d.conf" % p,
                                    "--cluster-node-timeout", "2000", "--dir", self.dir, "--save", "",
                                    "--appendonly", "no"], "redis-%d" % p))
        for p in self.ports:
            wait_for(lambda p=p: self._ping(p), 10, "redis-server %d to start" % p)
        r = subprocess.run(["redis-cli", "--cluster", "create"] + ["127.0.0.1:%d" % p for p in self.ports] +
                           ["--cluster-replicas", "1", "--cluster-yes"], capture_output=True, text=True, timeout=60)
        check(r.returncode == 0, "redis-cli --cluster create: %s" % (r.stdout + r.stderr)[-500:])
        wait_for(self._ready, 30, "cluster_state:ok on every node, replicas attached")
        self.port = self.ports[0]

    def _ping(self, port):
        try:
            c = Redis(port, timeout=1)
            ok = c.cmd("PING") == "PONG"
            c.close()
            return ok
        except (OSError, RedisError):
            return False

    def _ready(self):
        for p in self.ports:
            c = Redis(p, timeout=2)
            try:
                if "cluster_state:ok" not in c.cmd("CLUSTER", "INFO"):
                    return False
            finally:
                c.close()
        slots = self.slots()
        return len(slots) == 3 and all(len(s["replicas"]) == 1 for s in slots)

    def ask(self, *args):
        """One command on the first node that answers (a node may be killed)."""
        last = None
        for p in self.ports:
            try:
                c = Redis(p, timeout=2)
            except OSError as e:
                last = e
                continue
            try:
                return c.cmd(*args)
            finally:
                c.close()
        raise last

    def slots(self):
        """[{"first", "last", "primary": port, "replicas": [port...]}] from CLUSTER SLOTS."""
        return [{"first": e[0], "last": e[1], "primary": e[2][1], "replicas": [n[1] for n in e[3:]]}
                for e in self.ask("CLUSTER", "SLOTS")]

    def keyslot(self, key):
        return self.ask("CLUSTER", "KEYSLOT", key)

    def primary_of(self, key):
        slot = self.keyslot(key)
        return [s["primary"] for s in self.slots() if s["first"] <= slot <= s["last"]][0]

    def node(self, key):
        """A client on the primary serving key."""
        c = Redis(self.primary_of(key))
        on_cleanup(c.close)
        return c

    def client(self):
        """A client on the first seed (keyless commands: SUBSCRIBE, PUBLISH)."""
        c = Redis(self.ports[0])
        on_cleanup(c.close)
        return c


def apps_on_every_primary(cl, want=1):
    """App ids, want per primary, whose hash tags fall on each primary."""
    by = {}
    for i in range(200):
        app = "capp%d" % i
        by.setdefault(cl.primary_of("sw:{%s}:due" % app), [])
        if len(by[cl.primary_of("sw:{%s}:due" % app)]) < want:
            by[cl.primary_of("sw:{%s}:due" % app)].append(app)
        if len(by) == 3 and all(len(v) == want for v in by.values()):
            break
    check(len(by) == 3, "apps found on every primary: %r" % by)
    return [a for v in by.values() for a in v]


def user_status(cl, app, user):
    return cl.node("sw:{%s}:user:%s" % (app, user)).cmd("HGET", "sw:{%s}:user:%s" % (app, user), "status")


def test_cli_against_a_cluster():
    """Every CLI command against a 3-primary cluster: no MOVED, no CROSSSLOT;
    each app's keys on the primary of its slot; the directory on its own;
    status names the nodes and each app's primary."""
    cl, sim = Cluster(), Sim()
    apps = apps_on_every_primary(cl)
    for app in apps:
        setup_app(cl, sim, app=app)
        check(cl.node("sw:{%s}:app" % app).cmd("HGET", "sw:{%s}:app" % app, "client_id") == "cid-" + app,
              "app %s stored on the primary of its slot" % app)
    users = {}
    for i, app in enumerate(apps):
        user = "cu%d" % i
        add_user(cl, sim, user, app=app)
        users[user] = app
    d = cl.node("sw:users")
    check(d.hgetall("sw:users") == users, "the directory names each user's app: %r" % d.hgetall("sw:users"))
    for user, app in users.items():
        check(user_status(cl, app, user) == "active", "%s watched" % user)
        m = cl.node("sw:{%s}:members" % app).cmd("SMEMBERS", "sw:{%s}:members" % app)
        check(m == [user], "%s is the member of %s: %r" % (user, app, m))

    # One id, one app: another app is refused, nothing written there.
    other = apps[1] if users["cu0"] == apps[0] else apps[0]
    tok = sim.ok("POST", "/sim/users/cu0/tokens", {"client_id": "cid-" + other, "scope": "user-read-playback-state"})
    bad = spotwatch(cl, "user", "add", "cu0", "--app", other, "--access-token", tok["access_token"],
                    "--refresh-token", tok["refresh_token"], check_rc=False)
    check(bad.returncode != 0 and "belongs to app '%s'" % users["cu0"] in bad.stderr, "refused: %r" % bad.stderr)
    check(cl.node("sw:{%s}:user:cu0" % other).cmd("EXISTS", "sw:{%s}:user:cu0" % other) == 0, "nothing written")
    check("MOVED" not in bad.stderr and "CROSSSLOT" not in bad.stderr, "no redirection leaked")

    # user import: one user per app, pipelined over the three primaries.
    lines = []
    for i, app in enumerate(apps):
        user = "ci%d" % i
        sim.ok("POST", "/sim/users", {"id": user, "display_name": user})
        t = sim.ok("POST", "/sim/users/%s/tokens" % user, {"client_id": "cid-" + app, "scope": "s"})
        lines.append(json.dumps({"user": user, "app": app, "access_token": t["access_token"],
                                 "refresh_token": t["refresh_token"], "expires_in": 3600}))
        users[user] = app
    path = os.path.join(tmpdir(), "users.jsonl")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    out = spotwatch(cl, "user", "import", path, "--watch")
    check("imported 3 users" in out.stdout, "import: %r" % out.stdout)
    ls = spotwatch(cl, "user", "ls", "--json")
    listed = {u["user"]: u["app"] for u in json.loads(ls.stdout)}
    check(listed == users, "user ls lists every user with its app: %r" % listed)

    # status: the topology, and no MOVED in its figures.
    st = spotwatch(cl, "status", "--json")
    topo = json.loads(st.stdout)["redis"]["cluster"]
    slots = cl.slots()
    want = sorted(("127.0.0.1:%d" % s["primary"], s["last"] - s["first"] + 1,
                   ["127.0.0.1:%d" % p for p in s["replicas"]]) for s in slots)
    got = sorted((p["addr"], p["slots"], p["replicas"]) for p in topo["primaries"])
    check(got == want, "primaries, slot counts and replicas: %r vs %r" % (got, want))
    for a in topo["apps"]:
        check(a["node"] == "127.0.0.1:%d" % cl.primary_of("sw:{%s}:due" % a["app"]),
              "app %s on its primary: %r" % (a["app"], a))
    check(sorted(a["app"] for a in topo["apps"]) == sorted(apps), "every app placed: %r" % topo["apps"])
    bad = spotwatch(cl, "status", extra=["--redis-db", "1"], check_rc=False)
    check(bad.returncode == 1 and "redis-cluster yes cannot go with redis-db" in bad.stderr, "db 1: %r" % bad.stderr)
    bad = spotwatch(cl, "status", extra=["--redis-sentinel", "127.0.0.1:1"], check_rc=False)
    check(bad.returncode == 1 and "cannot go with redis-sentinel" in bad.stderr, "sentinel: %r" % bad.stderr)
    text = spotwatch(cl, "status").stdout
    check("cluster: 3 primaries, 3 replicas" in text and "MOVED" not in text, "status text: %s" % text)
    for app in apps:
        check("app %s slot=" % app in text, "status names %s's node: %s" % (app, text))

    # watch now / stop / start on a user of each primary.
    for user in ("cu0", "cu1", "cu2"):
        app = users[user]
        spotwatch(cl, "watch", "stop", user)
        check(user_status(cl, app, user) == "stopped", "%s stopped" % user)
        spotwatch(cl, "watch", "start", user)
        check(user_status(cl, app, user) == "active", "%s active again" % user)
        out = spotwatch(cl, "watch", "now", user)
        check(user in out.stdout, "watch now %s: %r" % (user, out.stdout))

    # tail reads an app's stream on that app's node.
    app = apps[2]
    ev = {"id": "ci2:1", "type": "track_changed", "user": "ci2", "at": 1}
    cl.node("sw:{%s}:events" % app).cmd("XADD", "sw:{%s}:events" % app, "*", "user", "ci2", "id", "ci2:1",
                                         "type", "track_changed", "event", json.dumps(ev))
    t = Proc([SPOTWATCH] + sw_args(cl) + ["tail", "--app", app, "--since", "0"], "tail", stdout_pipe=True)
    line = t.p.stdout.readline().decode()
    t.stop()
    check(json.loads(line)["id"] == "ci2:1", "tail printed the stream's event: %r" % line)

    # Users stored before the member set existed: `app add` again fills it
    # from the directory, leaving out an entry with no user (a crash's claim).
    app = users["cu2"]
    mkey = "sw:{%s}:members" % app
    cl.node(mkey).cmd("DEL", mkey)
    cl.node("sw:users").cmd("HSET", "sw:users", "ghost", app)
    spotwatch(cl, "app", "add", app, "--client-id", "cid-" + app, "--client-secret", "s3cret-app", "--mode",
              "extended")
    got = sorted(cl.node(mkey).cmd("SMEMBERS", mkey))
    check(got == sorted(u for u, a in users.items() if a == app), "members rebuilt: %r" % got)
    # The crash's claim heals: the same user added to the same app adopts it.
    tok = sim.ok("POST", "/sim/users", {"id": "ghost", "display_name": "ghost"})
    tok = sim.ok("POST", "/sim/users/ghost/tokens", {"client_id": "cid-" + app, "scope": "s"})
    spotwatch(cl, "user", "add", "ghost", "--app", app, "--access-token", tok["access_token"],
              "--refresh-token", tok["refresh_token"])
    check(cl.node(mkey).cmd("SISMEMBER", mkey, "ghost") == 1, "the entry adopted")
    users["ghost"] = app

    # tail on the channels: subscribed on one node, it hears a PUBLISH made
    # on another (classic PUBLISH is broadcast over the cluster bus).
    t = Proc([SPOTWATCH] + sw_args(cl) + ["tail", "ci1"], "tail-channels", stdout_pipe=True)
    other_node = Redis(cl.ports[2])
    on_cleanup(other_node.close)
    ev = json.dumps({"id": "ci1:9", "type": "track_changed", "user": "ci1"})

    def heard():
        other_node.cmd("PUBLISH", "sw:playback:ci1", ev)
        if select.select([t.p.stdout], [], [], 0.2)[0]:
            return t.p.stdout.readline().decode()
        return None
    line = wait_for(heard, 10, "tail to print a PUBLISH made on another node")
    t.stop()
    check(json.loads(line)["id"] == "ci1:9", "tail printed the event: %r" % line)

    # user rm: the app's keys, the member and the directory entry go.
    app = users["cu1"]
    spotwatch(cl, "user", "rm", "cu1")
    check(cl.node("sw:users").cmd("HGET", "sw:users", "cu1") is None, "directory entry removed")
    check(cl.node("sw:{%s}:user:cu1" % app).cmd("EXISTS", "sw:{%s}:user:cu1" % app) == 0, "user hash removed")
    check(cl.node("sw:{%s}:members" % app).cmd("SISMEMBER", "sw:{%s}:members" % app, "cu1") == 0, "member removed")

    # app rm --force: every key of the app, wherever it lives, and its users.
    app = apps[0]
    spotwatch(cl, "app", "rm", app, "--force")
    n = cl.node("sw:{%s}:due" % app)
    check(n.cmd("KEYS", "sw:{%s}:*" % app) == [], "no key of %s left" % app)
    check(app not in cl.node("sw:users").hgetall("sw:users").values(), "no user of %s left in the directory" % app)


def test_serve_login_and_healthz_in_a_cluster():
    """serve's /connect -> /callback stores a user in a cluster (the directory
    claimed, the app's keys written on its primary); /healthz names the
    nodes and each app's primary."""
    cl, sim = Cluster(), Sim()
    keys = keyfiles()
    app = apps_on_every_primary(cl)[1]
    setup_app(cl, sim, app=app, extra=keys)
    seeds = ",".join("127.0.0.1:%d" % p for p in cl.ports[1:])
    serve = Serve(cl, sim, keys + ["--redis-cluster-nodes", seeds])
    st, _h, body = oauth_login(serve, "lu1", "sp-lu1", app=app)
    check(st == 200 and b"connected" in body.lower(), "login stored: %d %r" % (st, body[:300]))
    check(cl.node("sw:users").cmd("HGET", "sw:users", "lu1") == app, "directory claimed for the app")
    h = cl.node("sw:{%s}:user:lu1" % app).hgetall("sw:{%s}:user:lu1" % app)
    check(h.get("status") == "active" and h.get("spotify_id") == account_of(sim, "sp-lu1"), "user stored: %r" %
          {k: v for k, v in h.items() if k not in ("access_token", "refresh_token")})
    st, _h, body = serve.get("/healthz")
    text = body.decode()
    check(st == 200 and "cluster: 3 primaries, 3 replicas" in text, "/healthz: %s" % text)
    check("app %s slot=%d on 127.0.0.1:%d" % (app, cl.keyslot("sw:{%s}:due" % app), cl.primary_of("sw:{%s}:due" % app))
          in text, "/healthz names the app's primary: %s" % text)

    # The app's primary killed: once its replica is promoted, serve (its
    # pooled links and map now stale) stores the next login on the new
    # primary, and /healthz names it.
    old = cl.primary_of("sw:{%s}:due" % app)
    cl.procs[cl.ports.index(old)].kill9()
    wait_for(lambda: cl.primary_of("sw:{%s}:due" % app) != old, 20, "the replica promoted")
    new = cl.primary_of("sw:{%s}:due" % app)

    def login():
        st, _h, body = oauth_login(serve, "lu2", "sp-lu2", app=app)
        return st == 200 and b"connected" in body.lower()
    wait_for(login, 10, "a login after the failover")
    check(Redis(new).cmd("HGET", "sw:{%s}:user:lu2" % app, "status") == "active", "stored on the promoted primary")
    _st, _h, hz = serve.get("/healthz")
    check(("on 127.0.0.1:%d" % new) in hz.decode() and ("127.0.0.1:%d " % old) not in hz.decode(),
          "/healthz after the failover: %s" % hz.decode())


def node_id(port):
    c = Redis(port, timeout=2)
    try:
        return c.cmd("CLUSTER", "MYID")
    finally:
        c.close()


def asking(port, *args):
    """One command on an importing node (ASKING first, as a client must)."""
    c = Redis(port, timeout=5)
    try:
        c.cmd("ASKING")
        return c.cmd(*args)
    finally:
        c.close()


def migrate(cl, slot, src, dst, keys):
    """Start moving slot from primary src to dst (IMPORTING/MIGRATING) and
    move only keys: the slot is then half migrated, and src answers ASK for
    the keys gone."""
    s, d = Redis(src, timeout=5), Redis(dst, timeout=5)
    on_cleanup(s.close)
    on_cleanup(d.close)
    d.cmd("CLUSTER", "SETSLOT", slot, "IMPORTING", node_id(src))
    s.cmd("CLUSTER", "SETSLOT", slot, "MIGRATING", node_id(dst))
    for k in keys:
        check(s.cmd("MIGRATE", "127.0.0.1", dst, "", 0, 5000, "KEYS", k) == "OK", "MIGRATE %s" % k)


def finish(cl, slot, src, dst):
    """Move the slot's other keys and give the slot to dst on every primary."""
    s = Redis(src, timeout=5)
    on_cleanup(s.close)
    for k in s.cmd("CLUSTER", "GETKEYSINSLOT", slot, 1000):
        s.cmd("MIGRATE", "127.0.0.1", dst, "", 0, 5000, "KEYS", k)
    for p in {x["primary"] for x in cl.slots()} | {dst}:
        c = Redis(p, timeout=5)
        c.cmd("CLUSTER", "SETSLOT", slot, "NODE", node_id(dst))
        c.close()
    wait_for(lambda: all(s["primary"] == dst for s in cl.slots() if s["first"] <= slot <= s["last"]), 10,
             "the slot handed over")


def test_redirections_ask_and_moved():
    """An app's slot half migrated: the CLI follows ASK (the user's hash
    moved, its schedule not yet); the slot handed over: serve's pooled link,
    whose map is stale, follows MOVED for the next login; status and
    /healthz then name the new primary."""
    cl, sim = Cluster(), Sim()
    keys = keyfiles()
    app = apps_on_every_primary(cl)[0]
    setup_app(cl, sim, app=app, extra=keys)
    add_user(cl, sim, "ru1", app=app, extra=keys)
    serve = Serve(cl, sim, keys)
    slot = cl.keyslot("sw:{%s}:due" % app)
    src = cl.primary_of("sw:{%s}:due" % app)
    dst = [s["primary"] for s in cl.slots() if s["primary"] != src][0]
    ukey = "sw:{%s}:user:ru1" % app
    migrate(cl, slot, src, dst, [ukey])

    out = spotwatch(cl, "user", "show", "ru1", extra=keys)
    check("active" in out.stdout and "ASK" not in out.stdout + out.stderr, "user show over ASK: %r" % out.stdout)
    spotwatch(cl, "watch", "stop", "ru1", extra=keys)
    check(asking(dst, "HGET", ukey, "status") == "stopped", "the write followed ASK to the importing node")
    try:   # src answers ASK for a key it no longer holds: the ZREM emptied it
        gone = Redis(src).cmd("ZSCORE", "sw:{%s}:due" % app, "ru1") is None
    except RedisError as e:
        gone = str(e).startswith("ASK")
    check(gone and asking(dst, "ZSCORE", "sw:{%s}:due" % app, "ru1") is None, "the schedule entry removed")
    spotwatch(cl, "watch", "start", "ru1", extra=keys)
    check(asking(dst, "HGET", ukey, "status") == "active", "started again over ASK")

    finish(cl, slot, src, dst)
    st, _h, body = oauth_login(serve, "ru2", "sp-ru2", app=app)
    check(st == 200 and b"connected" in body.lower(), "a login after the slot moved: %d %r" % (st, body[:300]))
    check(Redis(dst).cmd("HGET", "sw:{%s}:user:ru2" % app, "status") == "active", "stored on the new primary")
    topo = json.loads(spotwatch(cl, "status", "--json", extra=keys).stdout)["redis"]["cluster"]
    check([a["node"] for a in topo["apps"] if a["app"] == app] == ["127.0.0.1:%d" % dst],
          "status names the new primary: %r" % topo["apps"])
    _st, _h, hz = serve.get("/healthz")
    check(("app %s slot=%d on 127.0.0.1:%d" % (app, slot, dst)) in hz.decode(), "/healthz: %s" % hz.decode())
