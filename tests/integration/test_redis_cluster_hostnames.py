"""Redis Cluster nodes that announce hostnames (Redis 7.0:
`cluster-announce-hostname`, `cluster-preferred-endpoint-type hostname`):
CLUSTER SLOTS then names each node by its hostname (with the node's id and
a map {ip: ...} after the port), a MOVED too. Shown, on 3 primaries that
all announce `localhost`:

(a) plain: two apps whose hash tags fall on two primaries, a user each, two
    workers: each change announced once on its channel and in its app's
    stream, no cross-talk; `status` names the primaries localhost:<port>;
(b) the same over TLS (every node TLS only, tls-cluster yes), each node
    verified by the hostname it announces against a certificate naming
    DNS:localhost and no address;
(c) a node with preferred endpoint type hostname and no hostname is named
    "?": the CLI and a worker say so, and nothing connects to a host "?"."""
import json
import os

from harness import *  # noqa: F401,F403
from test_core import FAST, _two_watchers
from test_redis_tls import make_ca, make_cert

HOSTNAME = ["cluster-announce-hostname localhost", "cluster-preferred-endpoint-type hostname"]


def hostname_cluster(tls=None):
    """3 primaries announcing localhost, once every node names every other
    by it (a hostname travels with the cluster bus's pings: until then a
    node says "?" for a peer)."""
    cl = RedisCluster(primaries=3, replicas=0, extra=HOSTNAME, tls=tls)

    def named():
        return all(n[0] == "localhost" for x in cl.nodes for e in x.cmd("CLUSTER", "SLOTS") for n in e[2:])
    wait_for(named, 15, "every node to name every primary localhost")
    return cl


def two_apps_two_workers(cl):
    """Two apps on two primaries, a user each, two workers: _two_watchers's
    checks (one event per change, no cross-talk), plus the streams; then
    status. Returns (apps, homes, status JSON)."""
    by_primary = cl.apps_per_primary(per=1, prefix="happ")
    homes = sorted(by_primary)[:2]
    apps = [by_primary[p][0] for p in homes]
    sim = Sim([])
    for app, user in zip(apps, ("1", "2")):
        setup_app(cl, sim, app=app, users=[user])
        add_user(cl, sim, user, app=app, extra=FAST)
    for app, home in zip(apps, homes):
        check(cl.node(home).cmd("EXISTS", "sw:{%s}:app" % app) == 1, "app %s on its primary %d" % (app, home))
    ws = _two_watchers(cl, sim, 2)
    c = cl.client()
    for app, u, tracks in ((apps[0], "1", ["trackA", "trackA2"]), (apps[1], "2", ["trackB", "trackB2"])):
        evs = stream_events(c, app=app)
        check([e["track"]["id"] for e in evs] == tracks and {e["user"] for e in evs} == {u},
              "app %s's stream: each change once, user %s only: %r" % (app, u, evs))
    for w in ws:
        out = w.output()
        check(w.alive(), "worker alive")
        check("redis cluster map (from " in out and "localhost:%d 546" % homes[1] in out,
              "the worker's map names the nodes by hostname: %s" % out[-800:])
        check("cannot connect" not in out and "TLS handshake" not in out, "no node refused: %s" % out[-800:])
    st = json.loads(spotwatch(cl, "status", "--json").stdout)
    text = spotwatch(cl, "status").stdout
    topo = st["redis"]["cluster"]
    check(sorted(p["addr"] for p in topo["primaries"]) == sorted("localhost:%d" % p for p in cl.primaries()),
          "status names the primaries by hostname: %r" % topo["primaries"])
    placed = {a["app"]: a["node"] for a in topo["apps"]}
    for app, home in zip(apps, homes):
        check(placed.get(app) == "localhost:%d" % home, "app %s placed on localhost:%d: %r" % (app, home, placed))
        check("primary localhost:%d" % home in text, "status text names localhost:%d: %s" % (home, text))
    return apps, homes, st


def test_plain_cluster_announcing_hostnames():
    cl = hostname_cluster()
    two_apps_two_workers(cl)


def test_tls_cluster_announcing_hostnames():
    """Node certificates name DNS:localhost only: each node is verified by
    the hostname CLUSTER SLOTS gives (no redis-tls-server-name); the seeds
    are given by hostname too."""
    d = tmpdir()
    ca = make_ca(d, "ca")
    crt, key = make_cert(d, "node", ca, sans="DNS:localhost")
    cl = hostname_cluster(tls={"ca": ca[0], "cert": crt, "key": key, "server_name": "localhost"})
    # the harness adds --redis-tls-server-name for its own clients' sake: drop
    # it, so that spotwatch checks each node by the name the cluster gives
    i = cl.sw_extra.index("--redis-tls-server-name")
    del cl.sw_extra[i:i + 2]
    i = cl.sw_extra.index("--redis-cluster-nodes")
    cl.sw_extra[i + 1] = ",".join("localhost:%d" % x.port for x in cl.nodes[1:])
    cl.sw_extra += ["--redis-host", "localhost"]
    two_apps_two_workers(cl)


def test_unknown_hostname_is_an_error_not_a_host():
    """Preferred endpoint type hostname, no hostname announced: CLUSTER SLOTS
    names the node "?". The CLI exits nonzero saying so; a worker logs it
    and never registers."""
    cl = RedisCluster(primaries=1, replicas=0, extra=["cluster-preferred-endpoint-type hostname"])
    slots = cl.nodes[0].cmd("CLUSTER", "SLOTS")
    check(slots[0][2][0] == "?", "the fixture: the node is named \"?\": %r" % slots)
    why = 'names a node by "?" (its hostname is unknown'
    res = spotwatch(cl, "status", check_rc=False)
    check(res.returncode != 0 and why in res.stderr and res.stdout == "",
          "status refuses \"?\": %d %r %r" % (res.returncode, res.stderr, res.stdout))
    w = Worker(cl, None)
    wait_for(lambda: why in w.output(), 15, "the worker says why")
    check(w.output().count(why) == 1, "once, not per retry: %s" % w.output()[-1200:])
    check("redis cluster map" not in w.output(), "no map taken: %s" % w.output()[-800:])
    check(cl.client().cmd("ZCARD", "sw:workers") == 0, "the worker never registered")
    w.stop()
