"""Redis ACLs (issue 15, must-show 2): the README's least-privilege user runs
the core scenario, every CLI command and a serve login with no refusal in
Redis' ACL LOG; `status` reports a refused read as a refusal; the README's
consumer users subscribe and read the streams but write nothing."""
import os
import re
import time

from harness import *  # noqa: F401,F403
from test_core import FAST, _two_watchers
from test_oauth import check_page, keyfiles

README = os.path.join(ROOT, "README.md")


def readme_acl(user):
    """The README's `ACL SETUSER <user> ...` rule, as SETUSER's arguments."""
    with open(README) as f:
        for ln in f:
            if ln.startswith("ACL SETUSER %s " % user):
                return ln.split()[2:]
    check(False, "README has no ACL SETUSER %s line" % user)


def make_user(r, args):
    """ACL SETUSER with a fresh password in place of the README's; returns it."""
    pw = "acl-" + os.urandom(8).hex()
    record_secret(pw)
    r.client().cmd("ACL", "SETUSER", *[(">" + pw) if a.startswith(">") else a for a in args])
    return pw


def login_as(r, user, pw, extra=()):
    """spotwatch (CLI, workers, serve) on r logs in as user from now on, with
    extra options."""
    f = os.path.join(tmpdir(), "redis.pass")
    with open(f, "w") as fh:
        fh.write(pw + "\n")
    os.chmod(f, 0o600)
    r.sw_extra = ["--redis-user", user, "--redis-password-file", f] + list(extra)


def refusals(c):
    """Redis' ACL LOG, one line per refusal: (reason, object, user)."""
    out = []
    for e in c.cmd("ACL", "LOG"):
        d = dict(zip(e[0::2], e[1::2]))
        out.append((d.get("reason"), d.get("object"), d.get("username")))
    return out


def test_readme_acl_runs_core_cli_and_serve():
    """The README's exact spotwatch user: two workers, two users, one event per
    change, every CLI command, a serve login; Redis refused nothing."""
    r = RedisServer(appendonly=True)
    admin = r.client()
    keys = keyfiles()   # sealed tokens, and serve's state key: as in production
    login_as(r, "spotwatch", make_user(r, readme_acl("spotwatch")), keys)
    sim = Sim([])
    setup_app(r, sim, users=["1", "2"])
    for u in ("1", "2"):
        add_user(r, sim, u, extra=FAST)
    tails = [Proc([SPOTWATCH] + sw_args(r, sim) + ["tail"] + who, "tail", stdout_pipe=True)
             for who in (["1"], [])]   # SUBSCRIBE one user's channel; PSUBSCRIBE all
    ws = _two_watchers(r, sim, 2)
    for t, want in zip(tails, ('"user":"1"', '"user":"')):
        line = t.p.stdout.readline().decode()
        check(want in line, "tail got an event: %r" % line)
    st = spotwatch(r, "status", "--json", sim=sim)
    doc = json.loads(st.stdout)
    check(doc["now_ms"] > 1e12 and len(doc["workers"]) == 2, "status as the ACL user: %r" % doc)
    for args in (["status"], ["app", "ls"], ["app", "show", "app1"], ["user", "ls", "--app", "app1"],
                 ["user", "show", "1"],
                 ["watch", "stop", "2"], ["watch", "start", "2"], ["user", "rm", "2"]):
        spotwatch(r, *args, sim=sim)
    serve = Serve(r, sim)
    check_page(oauth_login(serve, "alice", "sp-alice"), 200)
    check(admin.hgetall("sw:{app1}:user:alice").get("status") == "active", "serve stored the login")
    for w in ws:
        check(w.alive(), "worker alive")
    for t in tails:
        t.stop()
    # status asks CONFIG GET hash-max-listpack-value and does without it
    # when refused (README): the one refusal the README's user may meet.
    left = [x for x in refusals(admin) if x[:2] != ("command", "config|get")]
    check(left == [], "Redis refused the README's user: %r" % left)


def test_status_reports_a_refusal_not_numbers():
    """The old README rule (+@read +@write +@scripting ...) lacks TIME: status
    says so and exits 1 instead of a block of decades and dead workers live.
    A refused read other than TIME is reported the same way."""
    r = RedisServer()
    sim = Sim([])
    setup_app(r, sim, users=["1"])
    admin = r.client()
    admin.cmd("HSET", "sw:{app1}:rl", "blocked_until", int(time.time() * 1000) + 60000, "block_reason", "rate_limited")
    admin.cmd("ZADD", "sw:workers", int(time.time() * 1000) - 40000, "dead-worker")
    old = ["spotwatch", "on", ">pw", "~sw:*", "&sw:*", "+@read", "+@write", "+@scripting", "+@pubsub",
           "+@connection", "-@dangerous", "+info"]
    login_as(r, "spotwatch", make_user(r, old))
    for args in (["status"], ["status", "--json"]):
        res = spotwatch(r, *args, check_rc=False)
        check(res.returncode == 1, "status with TIME refused exited %d: %r" % (res.returncode, res.stdout))
        check("NOPERM" in res.stderr and "time" in res.stderr.lower(), "the refusal is named: %r" % res.stderr)
        check(res.stdout == "", "no figures printed: %r" % res.stdout)
    # The README's user without HGETALL: TIME works, the limiter read does not.
    args = [a for a in readme_acl("spotwatch") if a != "+hgetall"]
    login_as(r, "spotwatch", make_user(r, args))
    res = spotwatch(r, "status", check_rc=False)
    check(res.returncode == 1 and "NOPERM" in res.stderr and "hgetall" in res.stderr,
          "a refused HGETALL is reported: %d %r %r" % (res.returncode, res.stdout, res.stderr))
    args = readme_acl("spotwatch")
    login_as(r, "spotwatch", make_user(r, args))
    res = spotwatch(r, "status")
    m = re.search(r"limiter=blocked \(for (\d+) s\)", res.stdout)
    check(m is not None and 0 < int(m.group(1)) <= 60, "with the README's user the block reads right: %r" % res.stdout)
    check("workers: 0 live" in res.stdout, "the dead worker is not live: %r" % res.stdout)


def _consumer_world():
    """A worker (as admin) announcing user 1's changes, for consumers to read."""
    r = RedisServer()
    sim = Sim([])
    setup_app(r, sim, users=["1"])
    add_user(r, sim, "1", extra=FAST)
    play(sim, "1", ["trackA", "trackA2"])
    return r, sim


def _denied(c, *args):
    try:
        c.cmd(*args)
    except RedisError as e:
        return str(e).startswith("NOPERM")
    return False


def test_consumer_acl_reads_and_cannot_write():
    """The README's consumer: PSUBSCRIBE sw:playback:* and SUBSCRIBE one user
    receive the events, XREAD and XREADGROUP (NOACK, group made by an
    operator) read them; every write and every other key or channel is refused."""
    r, sim = _consumer_world()
    admin = r.client()
    pw = make_user(r, readme_acl("spotwatch-consumer"))
    psub = Redis(r.port, user="spotwatch-consumer", password=pw)
    on_cleanup(psub.close)
    psub.send("PSUBSCRIBE", "sw:playback:*")
    check(psub.read_message(5)[0] == "psubscribe", "PSUBSCRIBE sw:playback:* allowed")
    sub = Redis(r.port, user="spotwatch-consumer", password=pw)
    on_cleanup(sub.close)
    sub.send("SUBSCRIBE", "sw:playback:1")
    check(sub.read_message(5)[0] == "subscribe", "SUBSCRIBE sw:playback:1 allowed")
    admin.cmd("XGROUP", "CREATE", "sw:{app1}:events", "backend", "$", "MKSTREAM")
    Worker(r, sim, FAST)
    for s in (psub, sub):
        m = s.read_message(15)
        check(m is not None and json.loads(m[-1])["user"] == "1", "the consumer got the event: %r" % m)
    c = Redis(r.port, user="spotwatch-consumer", password=pw)
    on_cleanup(c.close)
    got = c.cmd("XREAD", "COUNT", 10, "STREAMS", "sw:{app1}:events", "0")
    check(got and got[0][1], "XREAD read the stream: %r" % got)
    got = c.cmd("XREADGROUP", "GROUP", "backend", "c1", "COUNT", 10, "NOACK", "STREAMS", "sw:{app1}:events", ">")
    check(got and got[0][1], "XREADGROUP read the stream: %r" % got)
    check(c.cmd("XLEN", "sw:{app1}:events") >= 1, "XLEN")
    eid = got[0][1][0][0]
    for cmd in (["XADD", "sw:{app1}:events", "*", "f", "v"], ["XDEL", "sw:{app1}:events", eid],
                ["XTRIM", "sw:{app1}:events", "MAXLEN", 0], ["DEL", "sw:{app1}:events"],
                ["XACK", "sw:{app1}:events", "backend", eid],
                ["XGROUP", "CREATE", "sw:{app1}:events", "mine", "$"],
                ["SET", "sw:x", "1"], ["HSET", "sw:{app1}:user:1", "status", "stopped"],
                ["HGETALL", "sw:{app1}:user:1"], ["HGETALL", "sw:{app1}:app"],
                ["XRANGE", "sw:{app1}:due", "-", "+"], ["PUBLISH", "sw:playback:1", "fake"],
                ["EVAL", "return 1", 0], ["KEYS", "*"]):
        check(_denied(c, *cmd), "the consumer may not %r" % cmd)
    for ch in (("SUBSCRIBE", "sw:other"), ("PSUBSCRIBE", "*"), ("PSUBSCRIBE", "sw:playback:1*")):
        x = Redis(r.port, user="spotwatch-consumer", password=pw)
        on_cleanup(x.close)
        check(_denied(x, *ch), "the consumer may not %r" % (ch,))
    check(admin.hgetall("sw:{app1}:user:1").get("status") == "active", "nothing changed")


def test_group_consumer_acks_but_cannot_write_entries():
    """The README's group consumer creates its group and acknowledges, and
    still cannot add, delete or trim entries nor read other keys."""
    r, sim = _consumer_world()
    pw = make_user(r, readme_acl("spotwatch-group-consumer"))
    Worker(r, sim, FAST)
    admin = r.client()
    wait_for(lambda: admin.cmd("XLEN", "sw:{app1}:events") >= 1, 15, "an event in the stream")
    c = Redis(r.port, user="spotwatch-group-consumer", password=pw)
    on_cleanup(c.close)
    c.cmd("XGROUP", "CREATE", "sw:{app1}:events", "backend", "0")
    got = c.cmd("XREADGROUP", "GROUP", "backend", "c1", "COUNT", 10, "STREAMS", "sw:{app1}:events", ">")
    eid = got[0][1][0][0]
    check(c.cmd("XACK", "sw:{app1}:events", "backend", eid) == 1, "XACK allowed")
    for cmd in (["XADD", "sw:{app1}:events", "*", "f", "v"], ["XDEL", "sw:{app1}:events", eid],
                ["XTRIM", "sw:{app1}:events", "MAXLEN", 0], ["DEL", "sw:{app1}:events"],
                ["XGROUP", "DESTROY", "sw:{app1}:events", "backend"],
                ["HGETALL", "sw:{app1}:user:1"], ["PUBLISH", "sw:playback:1", "fake"]):
        check(_denied(c, *cmd), "the group consumer may not %r" % cmd)
