"""Sentinel over TLS (issue 15): a primary, a replica and three Sentinels
that all listen with TLS only (`port 0`, `tls-port`, `tls-replication yes`),
the Sentinels with a password of their own. The CLI, a worker and serve
know only the Sentinels (redis-port names a port where nothing listens): they ask them
over TLS for the primary, with redis-sentinel-password, and poll; every
connection to a Sentinel opens with a TLS ClientHello and neither the
password nor a command crosses in clear; a Sentinel whose certificate
chains to another CA is refused; and after the primary is killed the worker
follows the Sentinels (over TLS) to the promoted replica."""
import os
import socket

from harness import *  # noqa: F401,F403
from test_redis_sentinel import MASTER, polls_resume, sentinel, sentinel_topology, sentinels_ready
from test_redis_tls import Recorder, _client_hello, make_ca, make_cert

FAST = ["--poll-interval-ms", "500", "--smart-polling", "no"]


def tls_sentinel_world(password):
    """TLS-only primary, replica (in sync) and three TLS-only Sentinels
    (requirepass password) that know each other. Returns (primary, replica,
    sentinel ports, their processes, dir, ca)."""
    d = tmpdir()
    ca = make_ca(d, "ca")
    crt, key = make_cert(d, "server", ca)
    tls = {"ca": ca[0], "cert": crt, "key": key}
    primary = RedisServer(tls=tls, extra=["tls-replication yes", "repl-diskless-sync-delay 0"])
    replica = RedisServer(tls=tls, extra=["tls-replication yes", "replicaof 127.0.0.1 %d" % primary.port])
    rc = replica.client()
    wait_for(lambda: "master_link_status:up" in rc.cmd("INFO", "replication"), 20, "the replica in sync over TLS",
             0.1)
    procs = []
    ports = [sentinel(primary.port, tls=tls, password=password, procs=procs) for _ in range(3)]
    wait_for(lambda: sentinels_ready(ports, primary.ssl, password), 30,
             "the TLS Sentinels to find the replica and each other", 0.2)
    return primary, replica, ports, procs, d, ca


def sentinel_config(d, password):
    """A config file holding redis-sentinel-password (kept off the command
    line, mode 0600)."""
    path = os.path.join(d, "sentinel-client.conf")
    with open(path, "w") as f:
        f.write('redis-sentinel-password "%s"\n' % password)
    os.chmod(path, 0o600)
    return path


def test_worker_and_cli_find_the_primary_through_tls_sentinels():
    password = "sentinel-" + os.urandom(8).hex()
    record_secret(password)
    primary, replica, ports, procs, d, ca = tls_sentinel_world(password)
    recs = [Recorder(p) for p in ports]

    def via(config):
        class Via:   # spotwatch knows only the Sentinels (through the recorders)
            port = free_port()   # nothing listens here
            sw_extra = primary.sw_extra + ["--config", config,
                                           "--redis-sentinel", ",".join("127.0.0.1:%d" % r.port for r in recs),
                                           "--redis-sentinel-master", MASTER]
        return Via
    Via = via(sentinel_config(d, password))
    sim = Sim([])
    setup_app(Via, sim, app="app1", users=["u1", "u2"])
    for u in ("u1", "u2"):
        add_user(Via, sim, u, extra=FAST)
        play(sim, u, ["t-%s-0" % u, "t-%s-1" % u])
    out = spotwatch(Via, "status")
    check("app1" in out.stdout, "status through the TLS Sentinels: %s" % out.stdout[:300])
    sub = Subscriber(primary, "sw:playback:*", pattern=True)
    w = Worker(Via, sim, FAST)
    for u in ("u1", "u2"):
        sub.wait(lambda e, u=u: e["type"] == "playback_started" and e["user"] == u, 20, "%s polled" % u)
    check("the Sentinels name 127.0.0.1:%d" % primary.port in w.output(), "the worker asked the Sentinels: %s"
          % w.output()[-600:])
    # serve too, its /healthz with what the Sentinels see
    st, _, body = Serve(Via, sim).get("/healthz")
    check(st == 200 and "sentinels: master %s: 3 of 3 Sentinels answer, primary 127.0.0.1:%d" % (MASTER, primary.port)
          in body.decode(), "serve's /healthz through the TLS Sentinels: %d %r" % (st, body))

    # A Sentinel whose certificate another CA signed is refused, and said so.
    other = make_ca(d, "other-ca")
    res = spotwatch(Via, "status", extra=["--redis-tls-ca-cert-file", other[0]], check_rc=False)
    check(res.returncode != 0 and "no Sentinel answered" in res.stderr and "not verified" in res.stderr,
          "a Sentinel with an untrusted certificate: %d %r" % (res.returncode, res.stderr))
    # ... and a wrong Sentinel password too (over TLS, so the refusal is AUTH's).
    res = spotwatch(via(sentinel_config(tmpdir(), "not-" + password)), "status", check_rc=False)
    check(res.returncode != 0 and "AUTH" in res.stderr and password not in res.stderr,
          "a wrong Sentinel password: %d %r" % (res.returncode, res.stderr))

    # The primary dies: the worker finds the promoted replica through the
    # TLS Sentinels and polls there.
    primary.kill9()
    new = replica.client()
    wait_for(lambda: new.cmd("ROLE")[0] == "master", 30, "the replica promoted", 0.2)
    polls_resume(new, ["u1", "u2"])
    # found by asking the Sentinels again, or told by +switch-master (both over TLS)
    moved = ("the Sentinels name 127.0.0.1:%d" % replica.port, "the primary is now 127.0.0.1:%d" % replica.port)
    check(any(m in w.output() for m in moved), "the worker moved to the promoted replica: %s" % w.output()[-600:])
    sim.ok("POST", "/sim/users/u1/next")
    wait_for(lambda: any(e["type"] == "track_changed" and e["user"] == "u1" for e in stream_events(new)), 20,
             "a change announced on the new primary")
    out = spotwatch(Via, "status")
    check("app1" in out.stdout, "status after the failover: %s" % out.stdout[:300])
    # The topology over TLS: one Sentinel stopped, the two others answer.
    # its relay too, so that the address refuses connections (shutdown wakes
    # the relay's accept, which a close from this thread would not)
    recs[2].stopped = True
    recs[2].lsock.shutdown(socket.SHUT_RDWR)
    recs[2].stop()
    procs[2].kill9()
    st = sentinel_topology(Via, [], replica.port, 2)
    check(st["nodes"][2]["addr"] == "127.0.0.1:%d" % recs[2].port and not st["nodes"][2]["up"] and
          st["nodes"][2]["why"], "the stopped Sentinel, and why: %r" % st["nodes"][2])

    conns = [c for r in recs for c in r.snapshot() if c]
    check(len(conns) >= 5, "the CLI and the worker asked the Sentinels: %d connections" % len(conns))
    plain = [c[:16] for c in conns if not _client_hello(c)]
    check(not plain, "Sentinel connections that did not open with a ClientHello: %r" % plain)
    for c in conns:
        check(password.encode() not in c, "the Sentinel password crossed in clear")
        check(b"SENTINEL" not in c.upper() and b"AUTH" not in c, "a command to a Sentinel crossed in clear")
