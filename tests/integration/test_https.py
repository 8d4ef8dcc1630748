"""Two watchers over HTTPS and HTTP/2, as Spotify serves it: nghttpx with a
throwaway CA in front of the simulator. The worker must verify the
certificate through ca-file and multiplex its polls over one connection."""
import os
import subprocess
import time

from harness import *  # noqa: F401,F403

FAST = ["--poll-interval-ms", "200", "--smart-polling", "no", "--lease-ms", "2000",
        "--http-timeout-ms", "2000"]


def make_ca(d):
    """A throwaway CA and a server certificate for 127.0.0.1, via the openssl CLI."""
    def run(*args):
        subprocess.run(["openssl"] + list(args), cwd=d, check=True, capture_output=True)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=spotwatch test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=127.0.0.1")
    with open(os.path.join(d, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "san.ext")
    return os.path.join(d, "ca.pem"), os.path.join(d, "server.pem"), os.path.join(d, "server.key")


class Nghttpx:
    """nghttpx terminating TLS (h2 and http/1.1 by ALPN) in front of the simulator."""

    def __init__(self, sim, cert, key, d, extra=()):
        self.port = free_port()
        self.proc = Proc(["nghttpx", "--frontend=127.0.0.1,%d" % self.port,
                          "--backend=127.0.0.1,%d" % sim.port, "--workers=1"] + list(extra) + [
                          "--no-ocsp", "--errorlog-file=%s" % os.path.join(d, "nghttpx.log"),
                          "--accesslog-file=%s" % os.path.join(d, "access.log"),
                          "--pid-file=%s" % os.path.join(d, "nghttpx.pid"), key, cert], "nghttpx")
        self.base = "https://127.0.0.1:%d" % self.port
        self.access_log = os.path.join(d, "access.log")
        wait_for(self._up, 10, "nghttpx to listen")

    def _up(self):
        try:
            st, _, _ = http("GET", self.base + "/sim/stats", timeout=2)
            return st == 200
        except OSError:
            return False


class TlsSim:
    """Points the harness' spotwatch helpers at the TLS front instead of the plain sim."""

    def __init__(self, sim, front):
        self.sim = sim
        self.base = front.base
        self.api = front.base + "/v1"

    def __getattr__(self, name):
        return getattr(self.sim, name)


def test_two_watchers_over_https_http2():
    d = tmpdir()
    ca, cert, key = make_ca(d)
    sim = Sim()
    front = Nghttpx(sim, cert, key, d)
    tls = TlsSim(sim, front)
    r = RedisServer()
    extra = FAST + ["--ca-file", ca]
    setup_app(r, sim, users=["1", "2"])
    for u in ("1", "2"):
        add_user(r, tls, u, extra=extra)
    play(sim, "1", ["trackA", "trackA2"])
    play(sim, "2", ["trackB", "trackB2"])
    s1 = Subscriber(r, "sw:playback:1")
    s2 = Subscriber(r, "sw:playback:2")
    w = Worker(r, tls, extra)
    s1.wait(lambda e: e["type"] == "playback_started", 20, "user 1 started over TLS")
    s2.wait(lambda e: e["type"] == "playback_started", 20, "user 2 started over TLS")
    sim.ok("POST", "/sim/users/1/next")
    sim.ok("POST", "/sim/users/2/next")
    s1.wait(lambda e: e["type"] == "track_changed", 20, "user 1 change")
    s2.wait(lambda e: e["type"] == "track_changed", 20, "user 2 change")
    time.sleep(0.5)
    e1, e2 = s1.drain(), s2.drain()
    check([e["track"]["id"] for e in e1] == ["trackA", "trackA2"], "user 1 saw only its tracks: %r" % e1)
    check([e["track"]["id"] for e in e2] == ["trackB", "trackB2"], "user 2 saw only its tracks: %r" % e2)

    c = r.client()
    wait_for(lambda: int(c.hgetall("sw:{app1}:user:1").get("polls", 0)) >= 10, 20, "many polls")
    workers = c.cmd("ZRANGE", "sw:workers", 0, -1)
    check(len(workers) == 1, "one worker registered")
    wait_for(lambda: int(c.hgetall("sw:worker:" + workers[0]).get("polls", 0)) >= 10, 10, "heartbeat")
    info = c.hgetall("sw:worker:" + workers[0])
    check(int(info["connections"]) == 1, "all polls multiplexed over one connection: %r" % info)
    with open(front.access_log) as f:
        polls = [l for l in f if "/v1/me/player?" in l]
    check(len(polls) >= 10, "nghttpx saw the polls")
    check(all("HTTP/2" in l for l in polls), "every poll went over HTTP/2: %r" % polls[:3])
    check(w.alive(), "worker alive")


def test_untrusted_certificate_is_refused():
    """Without the CA the worker must not talk to the server: a transport error, recorded."""
    d = tmpdir()
    ca, cert, key = make_ca(d)
    sim = Sim()
    front = Nghttpx(sim, cert, key, d)
    tls = TlsSim(sim, front)
    r = RedisServer()
    setup_app(r, sim, users=["1"])
    add_user(r, tls, "1", extra=FAST)
    play(sim, "1", ["trackA"])
    Worker(r, tls, FAST)
    c = r.client()
    h = wait_for(lambda: (lambda h: h if h.get("last_error") else None)(c.hgetall("sw:{app1}:user:1")), 15,
                 "an error recorded")
    check("certificate" in h["last_error"].lower() or "ssl" in h["last_error"].lower(),
          "clear TLS error: %r" % h["last_error"])
    check(sim.stats()["requests"]["by_user"].get("1", 0) == 0, "no request reached the API")
    check(c.cmd("ZSCORE", "sw:{app1}:due", "1") is not None or c.cmd("ZSCORE", "sw:{app1}:leases", "1") is not None,
          "the user stays scheduled")
