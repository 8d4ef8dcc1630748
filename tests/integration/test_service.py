"""Running as a service: the sd_notify readiness protocol (READY=1 only once
Redis answered / serve listens, RELOADING=1 and STOPPING=1), SIGHUP reloading
the configuration without dropping the polls in flight, `--log-level debug`
logging every poll, and JSON logs with fields (never a secret)."""
import json
import os
import signal
import socket
import uuid

from harness import *  # noqa: F401,F403

FAST = ["--poll-interval-ms", "300", "--smart-polling", "no", "--lease-ms", "10000",
        "--http-timeout-ms", "5000"]


class NotifySocket:
    """A service manager's end of $NOTIFY_SOCKET: a datagram socket bound to a
    path, or to an abstract name ("@name")."""

    def __init__(self, abstract=False):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = "sw-test-%s" % uuid.uuid4().hex
            self.s.bind("\0" + name)
            self.env = "@" + name
        else:
            path = os.path.join(tmpdir(), "notify.sock")
            self.s.bind(path)
            self.env = path
        on_cleanup(self.s.close)
        self.messages = []

    def pending(self):
        """Every datagram already queued, without waiting."""
        self.s.setblocking(False)
        try:
            while True:
                self.messages.append(self.s.recv(4096).decode())
        except BlockingIOError:
            pass
        return self.messages

    def wait(self, assignment, timeout=15):
        def seen():
            return [m for m in self.pending() if assignment in m.split("\n")]
        return wait_for(seen, timeout, "%s on NOTIFY_SOCKET" % assignment)


def write_conf(path, **directives):
    with open(path, "w") as f:
        for k, v in directives.items():
            f.write("%s %s\n" % (k.replace("_", "-"), v))


def test_worker_ready_only_once_redis_answers_then_stopping():
    r = RedisServer()
    sim = Sim()
    r.stop()
    ns = NotifySocket()
    w = Worker(r, sim, FAST, env={"NOTIFY_SOCKET": ns.env})
    wait_for(lambda: "started" in w.output(), 10, "the worker's start line")
    # Redis is down: whatever the worker sent so far must not be READY=1.
    check(not [m for m in ns.pending() if "READY=1" in m.split("\n")],
          "READY=1 before Redis answered: %r" % ns.messages)
    r.start()
    msg = ns.wait("READY=1")
    check(any(ln.startswith("STATUS=") for ln in msg[0].split("\n")), "a STATUS= line with READY=1")
    c = r.client()
    wait_for(lambda: c.cmd("ZCARD", "sw:workers") == 1, 10, "the ready worker's heartbeat")
    w.proc.signal(signal.SIGTERM)
    ns.wait("STOPPING=1")
    check(w.proc.p.wait(15) == 0, "clean exit")


def test_serve_ready_on_abstract_socket_once_listening():
    r = RedisServer()
    sim = Sim()
    ns = NotifySocket(abstract=True)
    port = free_port()
    argv = [SPOTWATCH] + sw_args(r, sim, ["--http-listen", "127.0.0.1:%d" % port,
                                         "--public-url", "http://127.0.0.1:%d" % port,
                                         "--connect-open", "yes"]) + ["serve"]
    p = Proc(argv, "serve", env={"NOTIFY_SOCKET": ns.env})
    ns.wait("READY=1")
    # Ready means listening: the very first request is answered.
    st, _h, _b = http("GET", "http://127.0.0.1:%d/healthz" % port)
    check(st == 200, "healthz after READY=1: %d" % st)
    p.signal(signal.SIGHUP)
    ns.wait("RELOADING=1")
    check(p.alive(), "serve survives SIGHUP")
    wait_for(lambda: len([m for m in ns.pending() if "READY=1" in m.split("\n")]) >= 2, 10,
             "READY=1 again after the reload")
    p.signal(signal.SIGTERM)
    ns.wait("STOPPING=1")
    check(p.p.wait(15) == 0, "serve exits 0")


def test_sighup_reloads_log_level_and_keeps_polls_in_flight():
    r = RedisServer()
    sim = Sim()
    setup_app(r, sim, users=["h1"])
    tok = add_user(r, sim, "h1", extra=FAST)
    play(sim, "h1", ["a", "b"])
    conf = os.path.join(tmpdir(), "spotwatch.conf")
    write_conf(conf, log_level="info", poll_interval_ms=300)
    w = Worker(r, sim, ["--config", conf, "--smart-polling", "no", "--lease-ms", "10000",
                        "--http-timeout-ms", "5000"])
    c = r.client()
    key = "sw:{app1}:user:h1"
    wait_for(lambda: int(c.cmd("HGET", key, "polls") or 0) >= 2, 15, "polls at info level")
    check(" DEBUG " not in w.output(), "no debug line at info level")

    # Slow answers, so a poll is in flight when the signal lands.
    sim.ok("POST", "/sim/config", {"latency_ms": 1500})
    wait_for(lambda: c.cmd("ZCARD", "sw:{app1}:leases") == 1, 10, "a poll in flight")
    polls = int(c.cmd("HGET", key, "polls") or 0)
    write_conf(conf, log_level="debug", poll_interval_ms=300, max_body_bytes=2048)
    w.proc.signal(signal.SIGHUP)
    wait_for(lambda: "SIGHUP: configuration reloaded" in w.output(), 10, "the reload line")
    out = w.output()
    check("log-level" in out.split("SIGHUP: configuration reloaded", 1)[1].split("\n", 1)[0],
          "the reload names log-level: %s" % out[-500:])
    check("restart to apply): max-body-bytes" in out, "max-body-bytes refused until a restart")
    check(w.alive(), "the worker survives SIGHUP")
    # The poll that was in flight finishes (its lease is not left to expire).
    wait_for(lambda: int(c.cmd("HGET", key, "polls") or 0) > polls, 10, "the in-flight poll completes")
    check(c.cmd("HGET", key, "last_outcome") in ("ok", "nothing"), "it completed normally")
    # From now on every poll is logged at debug, with its fields.
    line = wait_for(lambda: [ln for ln in w.output().splitlines()
                             if " DEBUG poll" in ln and "user=h1" in ln and "outcome=" in ln], 15,
                    "a debug line per poll")[0]
    for field in ("app=app1", "worker=", "status=200", "latency_ms="):
        check(field in line, "%s in %r" % (field, line))
    sim.ok("POST", "/sim/config", {"latency_ms": 0})
    out = w.output()
    for secret in (tok["access_token"], tok["refresh_token"], "s3cret-app"):
        check(secret not in out, "a secret in the log")
    check(w.stop() == 0, "clean exit after the reload")


def test_json_logs_have_fields_and_no_secret():
    r = RedisServer()
    sim = Sim()
    setup_app(r, sim, users=["j1"])
    tok = add_user(r, sim, "j1", extra=FAST)
    play(sim, "j1", ["a"])
    w = Worker(r, sim, FAST + ["--log-format", "json", "--log-level", "debug"])

    def poll_records():
        out = []
        for ln in w.output().splitlines():
            if not ln.startswith("{"):
                continue
            o = json.loads(ln)   # every line of a JSON log parses
            if o.get("msg") == "poll" and o.get("user") == "j1":
                out.append(o)
        return out
    rec = wait_for(poll_records, 15, "a JSON poll record")[0]
    check(rec["app"] == "app1" and rec["level"] == "debug", "app and level: %r" % rec)
    check(isinstance(rec["status"], int) and rec["status"] == 200, "status is a number: %r" % rec)
    check(isinstance(rec["latency_ms"], (int, float)) and rec["latency_ms"] >= 0, "latency_ms: %r" % rec)
    check(rec["outcome"] in ("ok", "nothing"), "outcome: %r" % rec)
    check(rec["worker"].count(":") >= 2, "the worker id: %r" % rec)
    check(rec["user"] not in rec["msg"], "fields are members, not inside msg")
    out = w.output()
    for secret in (tok["access_token"], tok["refresh_token"], "s3cret-app"):
        check(secret not in out, "a secret in the JSON log")


def test_log_file_reopened_on_sighup():
    r = RedisServer()
    sim = Sim()
    d = tmpdir()
    log = os.path.join(d, "worker.log")
    w = Worker(r, sim, FAST + ["--log-file", log])
    wait_for(lambda: os.path.exists(log) and "started" in open(log).read(), 10, "the start line in log-file")
    check("started" not in w.output(), "log-file, not stderr")
    os.rename(log, log + ".1")          # what logrotate does
    w.proc.signal(signal.SIGHUP)
    wait_for(lambda: os.path.exists(log) and "SIGHUP: configuration reloaded" in open(log).read(), 10,
             "the reload line in a new file")
    with open(log + ".1") as f:
        check("SIGHUP" not in f.read(), "the rotated file gets nothing after the reopen")
    check(os.stat(log).st_mode & 0o007 == 0, "created without access for others (0640)")
    check(w.stop() == 0, "clean exit")
    with open(log) as f:
        check("stopped after" in f.read(), "the stop line in the new file")
