"""TLS to Redis (issue 15, must-show 1): a redis-server with a TLS port only
(`port 0`), a throwaway CA made with openssl; the core scenario over TLS; a
server certificate from another CA (or for another name) refused; and no
plain byte ever sent: every connection spotwatch makes opens with a TLS
ClientHello and the AUTH password never crosses in clear."""
import os
import socket
import subprocess
import threading

from harness import *  # noqa: F401,F403
from test_core import FAST, _two_watchers


def _openssl(*args):
    r = subprocess.run(["openssl"] + list(args), capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, "openssl %s: %s" % (args[0], r.stderr))


def make_ca(d, name):
    """A self-signed CA (P-256) in d: returns (cert, key)."""
    crt, key = os.path.join(d, name + ".crt"), os.path.join(d, name + ".key")
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", key, "-out", crt, "-subj", "/CN=" + name, "-days", "2")
    return crt, key


def make_cert(d, name, ca, sans="IP:127.0.0.1,DNS:localhost"):
    """A certificate for sans signed by ca (cert, key): returns (cert, key)."""
    crt, key, csr = (os.path.join(d, name + x) for x in (".crt", ".key", ".csr"))
    ext = os.path.join(d, name + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=%s\n" % sans)
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", key, "-out", csr, "-subj", "/CN=" + name)
    _openssl("x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial",
             "-out", crt, "-days", "2", "-extfile", ext)
    return crt, key


def tls_redis(**kw):
    """A TLS-only redis-server with a fresh CA; returns (server, dir, ca)."""
    d = tmpdir()
    ca = make_ca(d, "ca")
    crt, key = make_cert(d, "server", ca)
    r = RedisServer(appendonly=True, tls={"ca": ca[0], "cert": crt, "key": key}, **kw)
    return r, d, ca


def tls_world(users):
    r, d, ca = tls_redis()
    sim = Sim([])
    setup_app(r, sim, app="app1", users=users)
    for u in users:
        add_user(r, sim, u, extra=FAST)
    return r, sim, d


def test_tls_only_server_has_no_plain_port():
    """The fixture itself: the server answers TLS and nothing else."""
    r, _, _ = tls_redis()
    s = socket.create_connection(("127.0.0.1", r.port), timeout=5)
    s.sendall(b"*1\r\n$4\r\nPING\r\n")
    s.settimeout(5)
    try:
        got = s.recv(100)
    except (socket.timeout, ConnectionError):
        got = b""
    s.close()
    check(b"PONG" not in got, "a plain PING was answered: %r" % got)
    check(r.client().cmd("PING") == "PONG", "a TLS PING is answered")


def test_core_over_tls_two_users_two_workers():
    """Must-show 1: the core scenario (two users, two workers, no cross-talk,
    one event per change) with Redis reachable only over TLS."""
    r, sim, _ = tls_world(["1", "2"])
    ws = _two_watchers(r, sim, 2)
    c = r.client()
    evs = stream_events(c)
    for u, tracks in (("1", ["trackA", "trackA2"]), ("2", ["trackB", "trackB2"])):
        mine = [e["track"]["id"] for e in evs if e["user"] == u]
        check(mine == tracks, "stream for %s over TLS: %r" % (u, mine))
    st = spotwatch(r, "status", "--json", sim=sim)
    live = json.loads(st.stdout)["workers"]
    check(len(live) == 2, "status over TLS lists both workers: %r" % live)
    for w in ws:
        check(w.alive(), "worker alive")
        check("unreachable" not in w.output(), "a worker lost Redis: %s" % w.output()[-500:])


def test_worker_reconnects_over_tls_after_a_restart():
    """Redis restarts under a worker: the bridge goes with the old connection,
    the worker reconnects over TLS (a new handshake) and changes keep flowing."""
    r, sim, _ = tls_world(["r1", "r2"])
    for u in ("r1", "r2"):
        play(sim, u, ["a-" + u, "b-" + u])
    w = Worker(r, sim, FAST)
    c = r.client()
    wait_for(lambda: all(c.hgetall("sw:{app1}:user:%s" % u).get("state") for u in ("r1", "r2")), 15,
             "first polls over TLS")
    c.close()
    r.restart()
    sub = Subscriber(r, "sw:playback:*", pattern=True)
    for u in ("r1", "r2"):
        sim.ok("POST", "/sim/users/%s/next" % u)
    wait_for(lambda: {e["user"] for e in sub.drain() if e["type"] == "track_changed"} == {"r1", "r2"}, 20,
             "every user's change after the restart")
    check(w.alive(), "worker survived the restart")
    out = w.output()
    check("unreachable" in out and "reachable again" in out, "the worker saw the outage and came back: %s"
          % out[-800:])


def test_cli_reports_a_connection_closed_by_redis():
    """Redis drops `tail`'s connection: the bridge ends its side, and the CLI
    says the link was lost (not killed by a signal, not hung), then connects
    again over TLS and subscribes anew."""
    r, _, _ = tls_redis()
    tail = Proc([SPOTWATCH] + sw_args(r) + ["tail", "u1"], "tail")
    c = r.client()
    wait_for(lambda: c.cmd("PUBSUB", "NUMSUB", "sw:playback:u1")[1] == 1, 10, "tail subscribed over TLS")
    c.cmd("CLIENT", "KILL", "TYPE", "pubsub")
    wait_for(lambda: "link lost" in tail.output(), 10, "tail to say the link was lost")
    wait_for(lambda: "reconnected" in tail.output(), 15, "tail to reconnect over TLS")
    wait_for(lambda: c.cmd("PUBSUB", "NUMSUB", "sw:playback:u1")[1] == 1, 10, "tail subscribed again")
    check(tail.alive(), "tail goes on after the drop")


class Recorder:
    """A TCP relay in front of the TLS server that keeps every byte clients
    send, per connection: what spotwatch puts on the wire."""

    def __init__(self, target_port):
        self.target = target_port
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.conns = []
        self.lock = threading.Lock()
        self.stopped = False
        on_cleanup(self.stop)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            u = socket.create_connection(("127.0.0.1", self.target))
            rec = bytearray()
            with self.lock:
                self.conns.append(rec)
            threading.Thread(target=self._copy, args=(c, u, rec), daemon=True).start()
            threading.Thread(target=self._copy, args=(u, c, None), daemon=True).start()

    @staticmethod
    def _copy(src, dst, rec):
        try:
            while True:
                b = src.recv(65536)
                if not b:
                    break
                if rec is not None:
                    rec.extend(b)
                dst.sendall(b)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self):
        self.stopped = True
        self.lsock.close()

    def snapshot(self):
        with self.lock:
            return [bytes(c) for c in self.conns]


def _client_hello(b):
    """b opens with a TLS handshake record holding a ClientHello."""
    return len(b) >= 6 and b[0] == 0x16 and b[1] == 0x03 and b[5] == 0x01


def test_no_plain_byte_reaches_the_network():
    """Every connection the CLI, a worker and serve open starts with a TLS
    ClientHello, and the ACL password they AUTH with never appears in clear."""
    r, d, _ = tls_redis()
    password = "tls-only-" + os.urandom(8).hex()
    record_secret(password)
    r.client().cmd("ACL", "SETUSER", "sw", "on", ">" + password, "~*", "&*", "+@all")
    pwfile = os.path.join(d, "redis.pass")
    with open(pwfile, "w") as f:
        f.write(password + "\n")
    os.chmod(pwfile, 0o600)
    rec = Recorder(r.port)

    class Via:   # spotwatch goes through the recorder; the test's own client does not
        port = rec.port
        sw_extra = r.sw_extra + ["--redis-user", "sw", "--redis-password-file", pwfile]
    sim = Sim([])
    setup_app(Via, sim, app="app1", users=["u1"])
    add_user(Via, sim, "u1", extra=FAST)
    play(sim, "u1", ["trackA"])
    sub = Subscriber(r, "sw:playback:u1")
    w = Worker(Via, sim, FAST)
    sub.wait(lambda e: e["type"] == "playback_started", 15, "the worker polled over TLS")
    Serve(Via, sim)
    w.stop()
    conns = [c for c in rec.snapshot() if c]
    check(len(conns) >= 4, "the CLI, the worker and serve connected: %d connections" % len(conns))
    bad = [c[:16] for c in conns if not _client_hello(c)]
    check(not bad, "connections that did not open with a ClientHello: %r" % bad)
    for c in conns:
        check(password.encode() not in c, "the password crossed in clear")
        check(b"$4\r\nAUTH\r\n" not in c and b"EVALSHA" not in c, "a RESP command crossed in clear")


def test_certificate_from_another_ca_is_refused():
    """The server's certificate chains to a CA spotwatch does not trust: the
    CLI fails with a clear error and a nonzero exit; a worker never comes up
    and says why."""
    r, d, _ = tls_redis()
    other = make_ca(d, "other-ca")
    extra = ["--redis-tls-ca-cert-file", other[0]]
    res = spotwatch(r, "status", extra=extra, check_rc=False)
    check(res.returncode != 0, "status against an untrusted certificate exited %d" % res.returncode)
    check("certificate" in res.stderr and "not verified" in res.stderr,
          "the CLI says the certificate was refused: %r" % res.stderr)
    check(res.stdout == "", "nothing printed as if connected: %r" % res.stdout)
    w = Worker(r, None, extra)
    wait_for(lambda: "not verified" in w.output(), 15, "the worker reports the refused certificate")
    check(r.client().cmd("ZCARD", "sw:workers") == 0, "the worker never reached Redis")
    # The name is checked too: the right CA, a name the certificate lacks.
    res = spotwatch(r, "status", extra=["--redis-tls-server-name", "redis.elsewhere.example"], check_rc=False)
    check(res.returncode != 0 and "hostname mismatch" in res.stderr,
          "a certificate for another name is refused: %d %r" % (res.returncode, res.stderr))
    # The system's CAs (no CA directive) do not include the throwaway one.
    class NoCA:
        port = r.port
        sw_extra = ["--redis-tls", "yes"]
    res = spotwatch(NoCA, "status", check_rc=False)
    check(res.returncode != 0 and "not verified" in res.stderr, "system CAs: %r" % res.stderr)


def test_tls_settings_are_checked_before_connecting():
    """A client key readable by others, or a certificate without its key, is
    refused with the directive's name, before any connection."""
    r, d, ca = tls_redis()
    crt, key = make_cert(d, "client", ca, sans="DNS:client")
    os.chmod(key, 0o644)
    res = spotwatch(r, "status", extra=["--redis-tls-cert-file", crt, "--redis-tls-key-file", key],
                    check_rc=False)
    check(res.returncode != 0 and "redis-tls-key-file" in res.stderr and "chmod 600" in res.stderr,
          "a key readable by others is refused: %r" % res.stderr)
    res = spotwatch(r, "status", extra=["--redis-tls-cert-file", crt], check_rc=False)
    check(res.returncode != 0 and "go together" in res.stderr, "a certificate without key: %r" % res.stderr)
    os.chmod(key, 0o600)
    res = spotwatch(r, "status", extra=["--redis-tls-cert-file", crt, "--redis-tls-key-file", key],
                    check_rc=False)
    check(res.returncode == 0, "with a 0600 key the client certificate is used: %r" % res.stderr)


def test_client_certificate_when_the_server_requires_one():
    """tls-auth-clients yes: without redis-tls-cert-file/-key-file the
    handshake is refused; with them (the key a 0600 secret file) the CLI
    and a worker get in."""
    d = tmpdir()
    ca = make_ca(d, "ca")
    crt, key = make_cert(d, "server", ca)
    ccrt, ckey = make_cert(d, "client", ca, sans="DNS:spotwatch-client")
    os.chmod(ckey, 0o600)
    r = RedisServer(tls={"ca": ca[0], "cert": crt, "key": key, "client": (ccrt, ckey)})
    res = spotwatch(r, "status", check_rc=False)
    check(res.returncode != 0 and "certificate required" in res.stderr, "no client certificate: refused: %r" % res.stderr)
    w = Worker(r, None)
    wait_for(lambda: "certificate required" in w.output(), 15, "a worker without one logs the refusal")
    w.stop()
    r.sw_extra = r.sw_extra + ["--redis-tls-cert-file", ccrt, "--redis-tls-key-file", ckey]
    sim = Sim([])
    setup_app(r, sim, users=["u1"])
    add_user(r, sim, "u1", extra=FAST)
    play(sim, "u1", ["trackA"])
    sub = Subscriber(r, "sw:playback:u1")
    Worker(r, sim, FAST)
    sub.wait(lambda e: e["type"] == "playback_started", 15, "the worker polled with its client certificate")
