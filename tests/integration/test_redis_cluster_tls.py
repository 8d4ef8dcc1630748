"""Redis Cluster over TLS (issue 15: managed clusters with in-transit
encryption require TLS on every node): a cluster whose nodes listen with TLS
only (`port 0`, `tls-port`), speak TLS on the cluster bus and for
replication (`tls-cluster yes`, `tls-replication yes`), one throwaway CA for
all (harness.RedisCluster(tls=...)). Shown:

(a) the core scenario: two apps whose hash tags fall on two different
    primaries, a user in each, two workers with `--redis-cluster yes
    --redis-tls yes`: each change announced exactly once on its user's
    `sw:playback:<user>` (a TLS subscriber on the seed node) and in its
    app's stream, no cross-talk;
(b) `spotwatch status` (text and --json) describes the topology read over
    TLS (CLUSTER SLOTS names the TLS ports: `tls-cluster yes`), and its seed
    connection opens with a TLS ClientHello;
(c) with client certificates required: spotwatch trusting another CA, or
    presenting a certificate from another CA, is refused, the CLI exits
    nonzero, a worker never registers, and every connection attempted
    opened with a ClientHello (no plain fallback)."""
import json
import os

from harness import *  # noqa: F401,F403
from test_core import FAST, _two_watchers
from test_redis_tls import Recorder, _client_hello, make_ca, make_cert


def tls_cluster(replicas=1, client=False):
    """A TLS-only cluster of 3 primaries (replicas each) with a fresh CA;
    with client, the nodes require client certificates and the tests'
    clients and spotwatch present one. Returns (cluster, dir, ca)."""
    d = tmpdir()
    ca = make_ca(d, "ca")
    crt, key = make_cert(d, "node", ca)
    tls = {"ca": ca[0], "cert": crt, "key": key}
    if client:
        tls["client"] = make_cert(d, "client", ca, sans="DNS:spotwatch-client")
        os.chmod(tls["client"][1], 0o600)
    return RedisCluster(primaries=3, replicas=replicas, tls=tls), d, ca


def test_core_scenario_and_status_over_a_tls_cluster():
    cl, _, _ = tls_cluster()
    by_primary = cl.apps_per_primary(per=1, prefix="tapp")
    homes = sorted(by_primary)[:2]
    apps = [by_primary[p][0] for p in homes]
    check(cl.owner(cl.keyslot("sw:{%s}:due" % apps[0])) != cl.owner(cl.keyslot("sw:{%s}:due" % apps[1])),
          "the two apps live on two primaries: %r" % by_primary)
    sim = Sim([])
    for app, user in zip(apps, ("1", "2")):
        setup_app(cl, sim, app=app, users=[user])
        add_user(cl, sim, user, app=app, extra=FAST)
    c = cl.client()
    for app, home in zip(apps, homes):
        check(cl.node(home).cmd("EXISTS", "sw:{%s}:app" % app) == 1, "app %s stored on its primary %d"
              % (app, home))

    # (a) two users, two workers, one event per change, no cross-talk
    ws = _two_watchers(cl, sim, 2)
    for app, u, tracks in ((apps[0], "1", ["trackA", "trackA2"]), (apps[1], "2", ["trackB", "trackB2"])):
        evs = stream_events(c, app=app)
        check([e["user"] for e in evs] == [u, u], "app %s's stream holds only user %s's events: %r" % (app, u, evs))
        check([e["track"]["id"] for e in evs] == tracks, "stream of %s over TLS: %r" % (app, evs))
        check(len({e["id"] for e in evs}) == 2, "each event once in the stream: %r" % evs)
    for w in ws:
        check(w.alive(), "worker alive")
        out = w.output()
        check("unreachable" not in out and "not verified" not in out, "a worker lost a node: %s" % out[-800:])
        check("redis cluster map" in out, "the worker read the slot map over TLS: %s" % out[-800:])

    # (b) status: the topology, read over TLS, with the TLS ports. Redis 7.0
    # leaves out of CLUSTER SLOTS a replica whose replication offset (as the
    # cluster bus last told) is 0: that of a primary nothing was written to
    # yet, until its first replication ping (10 s). Write to every primary and
    # wait until the seed lists every replica, so both status calls see them.
    for fx in cl.apps_per_primary(per=1, prefix="fx").values():
        c.cmd("SET", "fixture:{%s}" % fx[0], "1")
    wait_for(lambda: all(len(e) == 4 for e in cl.live()[0].cmd("CLUSTER", "SLOTS")), 15,
             "the seed to list every primary's replica")
    st = json.loads(spotwatch(cl, "status", "--json").stdout)
    check(len(st["workers"]) == 2, "status lists both workers: %r" % st["workers"])
    topo = st["redis"]["cluster"]
    want = sorted(("127.0.0.1:%d" % e[2][1], e[1] - e[0] + 1, ["127.0.0.1:%d" % n[1] for n in e[3:]])
                  for e in cl.live()[0].cmd("CLUSTER", "SLOTS"))
    got = sorted((p["addr"], p["slots"], p["replicas"]) for p in topo["primaries"])
    check(got == want, "primaries, slot counts and replicas over TLS: %r vs %r" % (got, want))
    check({p["addr"] for p in topo["primaries"]} == {"127.0.0.1:%d" % p for p in cl.primaries()},
          "the primaries named by their TLS ports: %r" % topo["primaries"])
    placed = {a["app"]: a["node"] for a in topo["apps"]}
    check(placed == {a: "127.0.0.1:%d" % h for a, h in zip(apps, homes)}, "each app on its primary: %r" % placed)
    text = spotwatch(cl, "status").stdout
    check("cluster: 3 primaries, 3 replicas" in text and "MOVED" not in text, "status text: %s" % text)
    for app in apps:
        check("app %s slot=" % app in text, "status names %s's node: %s" % (app, text))
    rec = Recorder(cl.port)

    class Via:   # the CLI's seed through the recorder; the map then names the nodes
        port = rec.port
        sw_extra = cl.sw_extra
    spotwatch(Via, "status")
    conns = [x for x in rec.snapshot() if x]
    check(conns and all(_client_hello(x) for x in conns), "the seed connection opened with a ClientHello: %r"
          % [x[:16] for x in conns])
    check(not any(b"\r\nCLUSTER\r\n" in x.upper() for x in conns), "no command crossed in clear")


def refused(cl, via, extra, why):
    """status and a worker through via with extra: refused (why in the
    CLI's error), nothing printed, no worker registered."""
    res = spotwatch(via, "status", extra=extra, check_rc=False)
    check(res.returncode != 0, "status exited %d with %r" % (res.returncode, extra))
    check(why in res.stderr, "the CLI says why (%s): %r" % (why, res.stderr))
    check(res.stdout == "", "nothing printed as if connected: %r" % res.stdout)
    w = Worker(via, None, extra)
    wait_for(lambda: why in w.output(), 15, "the worker reports the refusal (%s)" % why)
    check(cl.client().cmd("ZCARD", "sw:workers") == 0, "the worker never reached the cluster")
    w.stop()


def test_other_ca_refused_and_no_plain_connection():
    """Client certificates required on every node. With the right CA and
    client certificate status works; trusting another CA, or presenting a
    client certificate from another CA, is refused; every connection
    spotwatch attempted (each node behind a recording relay) opened with a
    TLS ClientHello."""
    cl, d, ca = tls_cluster(replicas=0, client=True)
    recs = [Recorder(x.port) for x in cl.nodes]
    seeds = ["--redis-cluster-nodes", ",".join("127.0.0.1:%d" % r.port for r in recs[1:])]

    class Via:   # every seed through a recorder
        port = recs[0].port
        sw_extra = cl.sw_extra[:cl.sw_extra.index("--redis-cluster-nodes")] + seeds
    ok = spotwatch(Via, "status")
    check("cluster: 3 primaries" in ok.stdout, "with the right CA and certificate: %s" % ok.stdout)
    other = make_ca(d, "other-ca")
    refused(cl, Via, ["--redis-tls-ca-cert-file", other[0]], "not verified")
    ocrt, okey = make_cert(d, "stranger", other, sans="DNS:spotwatch-client")
    os.chmod(okey, 0o600)
    res = spotwatch(Via, "status", extra=["--redis-tls-cert-file", ocrt, "--redis-tls-key-file", okey],
                    check_rc=False)
    check(res.returncode != 0 and res.stdout == "" and "TLS" in res.stderr,
          "a client certificate from another CA is refused: %d %r" % (res.returncode, res.stderr))
    conns = [x for r in recs for x in r.snapshot() if x]
    check(len(conns) >= 4, "the CLI and the worker connected through the relays: %d" % len(conns))
    bad = [x[:16] for x in conns if not _client_hello(x)]
    check(not bad, "connections that did not open with a ClientHello: %r" % bad)
    check(not any(b"\r\nCLUSTER\r\n" in x.upper() or b"\r\nPING\r\n" in x.upper() for x in conns),
          "a command crossed in clear")


def test_nodes_sharing_one_certificate_name():
    """Every node's certificate names one DNS name and no address (as a
    managed cluster's often do): without redis-tls-server-name the CLI
    refuses the nodes (their address is not in the certificate); with it,
    the CLI and a worker verify every node by that name, an app on a primary
    other than the seed included."""
    d = tmpdir()
    ca = make_ca(d, "ca")
    crt, key = make_cert(d, "node", ca, sans="DNS:redis-cluster.test")
    cl = RedisCluster(primaries=3, replicas=0,
                      tls={"ca": ca[0], "cert": crt, "key": key, "server_name": "redis-cluster.test"})

    class ByAddress:   # the same, without redis-tls-server-name
        port = cl.port
        sw_extra = cl.sw_extra[:cl.sw_extra.index("--redis-tls-server-name")]
    res = spotwatch(ByAddress, "status", check_rc=False)
    check(res.returncode != 0 and "mismatch" in res.stderr and res.stdout == "",
          "a certificate without the node's address is refused: %d %r" % (res.returncode, res.stderr))
    apps = cl.apps_per_primary(per=1, prefix="napp")
    home = next(p for p in apps if p != cl.port)
    app = apps[home][0]
    sim = Sim([])
    setup_app(cl, sim, app=app, users=["n1"])
    add_user(cl, sim, "n1", app=app, extra=FAST)
    check(cl.node(home).cmd("EXISTS", "sw:{%s}:user:n1" % app) == 1, "the user stored on its primary %d" % home)
    play(sim, "n1", ["trackN"])
    sub = Subscriber(cl, "sw:playback:n1")
    w = Worker(cl, sim, FAST)
    sub.wait(lambda e: e["type"] == "playback_started" and e["track"]["id"] == "trackN", 15,
             "the worker polled n1 on primary %d, verified by name" % home)
    check("mismatch" not in w.output(), "no node refused: %s" % w.output()[-800:])


def test_nodes_announcing_their_plain_ports_are_refused_clearly():
    """A node with a plain port and a TLS port and `tls-cluster no` answers
    CLUSTER SLOTS, even over TLS, with its plain port (Redis 7.0). With
    `redis-tls yes` spotwatch asks the node it reached for its id (CLUSTER
    MYID), finds it announced at another port, and refuses at once with a
    message that names the cause, instead of opening TLS to a plain port:
    the CLI exits nonzero, a worker logs it, never registers and never
    polls; every connection spotwatch made was TLS (a recording relay in
    front of the TLS port; the node counts no other connection). And a
    TLS-only node (`port 0`) without tls-cluster yes keeps its own error."""
    d = tmpdir()
    ca = make_ca(d, "ca")
    crt, key = make_cert(d, "node", ca)
    tls_port = free_port()
    cl = RedisCluster(primaries=1, replicas=0, extra=[
        "tls-port %d" % tls_port, "tls-cert-file %s" % crt, "tls-key-file %s" % key,
        "tls-ca-cert-file %s" % ca[0], "tls-auth-clients no", "tls-cluster no"])
    node = cl.nodes[0]
    slots = node.cmd("CLUSTER", "SLOTS")
    check(slots[0][2][1] == cl.port, "the fixture: the node announces its plain port %d: %r" % (cl.port, slots))
    rec = Recorder(tls_port)

    class Via:   # the TLS port, through the recorder
        port = rec.port
        sw_extra = ["--redis-cluster", "yes", "--redis-tls", "yes", "--redis-tls-ca-cert-file", ca[0]]
    why = ("the node reached at 127.0.0.1:%d (TLS) is announced as 127.0.0.1:%d: the nodes announce their "
           "plain ports; set tls-cluster yes on every node" % (rec.port, cl.port))
    conns0 = int(node.info("stats")["total_connections_received"])
    res = spotwatch(Via, "status", check_rc=False)
    check(res.returncode != 0, "status exited %d" % res.returncode)
    check(why in res.stderr, "the CLI says why: %r" % res.stderr)
    check(res.stdout == "", "nothing printed as if connected: %r" % res.stdout)
    w = Worker(Via, None)
    wait_for(lambda: why in w.output(), 15, "the worker reports the plain ports")
    out = w.output()
    check("redis cluster map" not in out and "polled" not in out, "the worker took no map: %s" % out[-800:])
    check(w.alive(), "the worker waits (and retries) rather than exit")
    check(out.count(why) == 1, "said once, not per retry: %s" % out[-1200:])
    w.stop()
    conns = [x for x in rec.snapshot() if x]
    conns1 = int(node.info("stats")["total_connections_received"])
    # conns1 counts the INFO connection that read conns0 and the one that read it
    check(conns1 - conns0 - 1 == len(conns), "every connection spotwatch made came through the TLS relay: "
          "%d on the node, %d relayed" % (conns1 - conns0 - 1, len(conns)))
    check(len(conns) >= 2, "the CLI and the worker connected: %d" % len(conns))
    bad = [x[:16] for x in conns if not _client_hello(x)]
    check(not bad, "connections that did not open with a ClientHello: %r" % bad)
    check(cl.client().cmd("ZCARD", "sw:workers") == 0, "the worker never registered")

    # TLS only (port 0) without tls-cluster yes: CLUSTER SLOTS gives port 0
    only = RedisCluster(primaries=1, replicas=0, tls={"ca": ca[0], "cert": crt, "key": key},
                        extra=["tls-cluster no"])
    res = spotwatch(only, "status", check_rc=False)
    check(res.returncode != 0 and "port 0 (TLS-only nodes need tls-cluster yes)" in res.stderr,
          "a TLS-only node without tls-cluster yes: %d %r" % (res.returncode, res.stderr))
