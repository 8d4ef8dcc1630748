"""The CLI's manners (issue 16): every command of the command table answers
--help with exit 0 and no side effect; --version; stray and missing
arguments named; global options anywhere; `watch now` on a user not being
watched fails; `tail` warns, reconnects and reads the streams; aligned
tables, JSON with numbers and ISO times; app show/rm; user ls filters; the
man page and completion generated from the same table. Real redis-server,
the simulator and workers."""
import json
import os
import re
import subprocess
import threading
import time

from harness import *  # noqa: F401,F403

FAST = ["--poll-interval-ms", "300", "--smart-polling", "no", "--lease-ms", "2000",
        "--http-timeout-ms", "1000", "--backoff-base-ms", "200", "--backoff-max-ms", "1000"]
ROOT_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(*args, timeout=20):
    return subprocess.run([SPOTWATCH] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def commands():
    """The command table, as `spotwatch help --list` prints it."""
    r = run("help", "--list")
    check(r.returncode == 0, "help --list: %r" % r.stderr)
    cmds = [ln.split() for ln in r.stdout.splitlines() if ln.strip()]
    check(len(cmds) >= 20 and ["worker"] in cmds and ["app", "add"] in cmds, "the table: %r" % cmds)
    return cmds


def connections(c):
    info = c.cmd("INFO", "stats")
    return int(re.search(r"total_connections_received:(\d+)", info).group(1))


def test_every_command_answers_help_without_side_effects():
    """Must show 2: each command and subcommand of the table, with --help,
    -h, or as `help WORDS`, wherever the flag stands: exit 0, its usage on
    stdout, nothing started (it returns at once, no process left), Redis not
    even connected to."""
    r = RedisServer()
    c = r.client()
    c.cmd("SET", "sw:canary", "1")
    before, conns = redis_dump(c, "*"), connections(c)
    base = ["--redis-port", r.port, "--allow-plaintext-tokens", "yes"]
    for words in commands():
        for line in (words + ["--help"], words + ["-h"], ["help"] + words, words + ["x", "--help", "y"],
                     base + words + ["--help"]):
            p = subprocess.Popen([SPOTWATCH] + [str(a) for a in line], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, start_new_session=True)
            try:
                out, err = p.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, 9)
                p.communicate()
                check(False, "spotwatch %s did not return: it started something" % " ".join(map(str, line)))
            check(p.returncode == 0, "%r: exit %d %r" % (line, p.returncode, err))
            check(out.startswith("usage: spotwatch " + " ".join(words)), "%r: usage first: %r" % (line, out[:200]))
            check(err == "", "%r: nothing on stderr: %r" % (line, err))
    for group in ("app", "user", "watch"):
        out = run(group, "--help").stdout
        subs = [w[1] for w in commands() if w[0] == group]
        check(all(("%s %s" % (group, s)) in out for s in subs), "group help lists %s: %r" % (subs, out))
    check(run("--help").returncode == 0 and "commands" in run("-h").stdout, "the overview")
    check(redis_dump(c, "*") == before, "no key changed")
    check(connections(c) == conns, "nobody but this test connected to Redis: %d -> %d" % (conns, connections(c)))


def test_version():
    mk = open(os.path.join(ROOT_DIR, "Makefile")).read()
    version = re.search(r"^VERSION\s*[?:]?=\s*(\S+)", mk, re.M).group(1)
    for flag in ("--version", "-V"):
        r = run(flag)
        check(r.returncode == 0 and r.stdout.strip() == "spotwatch " + version, "%s: %r" % (flag, r.stdout))
    check(run("--redis-port", "1", "--version").stdout.strip() == "spotwatch " + version, "after options")
    r, sim = RedisServer(), Sim()
    w = Worker(r, sim, FAST)
    wait_for(lambda: "started" in w.output(), 10, "the worker's start line")
    check("spotwatch %s" % version in w.output(), "the start line names the version: %r" % w.output()[:300])


def test_stray_missing_and_unknown_arguments():
    r = RedisServer()
    base = ["--redis-port", r.port, "--allow-plaintext-tokens", "yes"]
    cases = [
        (["status", "extra"], ["unexpected argument 'extra'", "usage: spotwatch status"]),
        (["worker", "extra"], ["unexpected argument 'extra'"]),
        (["serve", "extra"], ["unexpected argument 'extra'"]),
        (["user", "show"], ["missing USER", "usage: spotwatch user show"]),
        (["app", "add", "a"], ["missing --client-id"]),
        (["app", "add", "a", "--client-id", "c"], ["missing --client-secret-file"]),
        (["user", "add", "u", "--app", "a", "--access-token", "x"], ["missing --refresh-token-file"]),
        (["keygen"], ["missing FILE"]),
        (["watch", "start"], ["missing USER"]),
        (["app"], ["missing the subcommand", "app add"]),
        (["app", "nope"], ["unknown subcommand 'nope'"]),
        (["nope"], ["unknown command 'nope'"]),
        (["status", "--wat"], ["unknown option '--wat'", "status --help"]),
        (["app", "ls", "--json=1"], ["takes no value"]),
        ([], ["missing the command"]),
    ]
    for args, want in cases:
        res = run(*(base + args))
        check(res.returncode == 2, "%r: exit %d (want 2): %r" % (args, res.returncode, res.stderr))
        for w in want:
            check(w in res.stderr, "%r: %r not in %r" % (args, w, res.stderr))
        check(res.stdout == "", "%r: nothing on stdout" % args)


def test_global_options_anywhere():
    """--config and directives after the command, and `--name=value`."""
    r, sim = RedisServer(), Sim()
    setup_app(r, sim, users=["g1"])
    d = tmpdir()
    conf = os.path.join(d, "sw.conf")
    with open(conf, "w") as f:
        f.write("redis-port %d\nallow-plaintext-tokens yes\n" % r.port)
    for line in (["app", "ls", "--config", conf], ["app", "--config", conf, "ls"], ["--config", conf, "app", "ls"],
                 ["app", "ls", "--redis-port=%d" % r.port], ["app", "ls", "--json", "--redis-port", r.port]):
        res = run(*line)
        check(res.returncode == 0 and "app1" in res.stdout, "%r: %d %r" % (line, res.returncode, res.stderr))
    res = run("config", "--lease-ms", "30000")
    check("lease-ms 30000" in res.stdout, "a directive after the command applies: %r" % res.stdout[:200])
    res = run("app", "ls", "--lease-ms", "abc")
    check(res.returncode == 2 and "lease-ms" in res.stderr, "its errors are the directive's: %r" % res.stderr)


def test_watch_now_fails_unless_watched():
    r, sim = RedisServer(), Sim()
    setup_app(r, sim, users=["w1", "w2"])
    add_user(r, sim, "w1", extra=FAST)
    add_user(r, sim, "w2", extra=FAST, watch=False)
    c = r.client()
    res = spotwatch(r, "watch", "now", "ghost", check_rc=False)
    check(res.returncode == 1 and "no such user 'ghost'" in res.stderr, "unknown: %r" % res.stderr)
    res = spotwatch(r, "watch", "now", "w2", check_rc=False)
    check(res.returncode == 1 and "not being watched" in res.stderr and "watch start w2" in res.stderr,
          "stopped: %d %r" % (res.returncode, res.stderr))
    check(c.cmd("ZSCORE", "sw:{app1}:due", "w2") is None, "nothing scheduled")
    c.cmd("ZADD", "sw:{app1}:due", str(10 ** 13), "w1")
    res = spotwatch(r, "watch", "now", "w1")
    check("due now" in res.stdout and float(c.cmd("ZSCORE", "sw:{app1}:due", "w1")) < 10 ** 13, "watched: due now")


class Lines:
    """A process's stdout lines, collected by a thread."""

    def __init__(self, proc):
        self.lines = []
        self.t = threading.Thread(target=self._read, args=(proc.p.stdout,), daemon=True)
        self.t.start()

    def _read(self, f):
        for ln in iter(f.readline, b""):
            self.lines.append(ln.decode("utf-8", "replace").rstrip("\n"))

    def wait(self, pred, timeout, msg):
        return wait_for(lambda: [ln for ln in self.lines if pred(ln)], timeout, msg)


def tail(r, *args):
    argv = [SPOTWATCH] + sw_args(r) + ["tail"] + [str(a) for a in args]
    p = Proc(argv, "tail", stdout_pipe=True)
    return p, Lines(p)


def event(user, typ="playback_started", n=0):
    return json.dumps({"type": typ, "user": user, "at": 1000 + n}, separators=(",", ":"))


def test_tail_warns_and_reconnects_on_channels():
    r = RedisServer()
    c = r.client()
    p, out = tail(r, "nobody")
    wait_for(lambda: "no such user 'nobody'" in p.output(), 10, "a warning about the unknown user")
    wait_for(lambda: c.cmd("PUBLISH", "sw:playback:nobody", event("nobody", n=1)) == 1, 10, "subscribed")
    out.wait(lambda ln: '"at":1001' in ln, 10, "the first event printed")
    r.restart()
    c = r.client()
    wait_for(lambda: c.cmd("PUBLISH", "sw:playback:nobody", event("nobody", n=2)) == 1, 20, "resubscribed")
    out.wait(lambda ln: '"at":1002' in ln, 10, "an event after the link came back")
    check("reconnected" in p.output() and p.alive(), "said so, and kept going: %r" % p.output())


def xadd(c, app, user, n):
    return c.cmd("XADD", "sw:{%s}:events" % app, "*", "user", user, "type", "playback_started",
                 "event", event(user, n=n))


def test_tail_reads_and_resumes_the_stream():
    """--since replays the stream from an id or a time and follows it;
    --follow-stream resumes after the last event printed across a restart
    of Redis, so an event added while it was away is not lost; named users
    filter the stream."""
    r = RedisServer(appendonly=True)
    c = r.client()
    c.cmd("SADD", "sw:apps", "s1")
    first = xadd(c, "s1", "u1", 1)
    xadd(c, "s1", "u2", 2)
    ms = int(first.split("-")[0])
    p1, out1 = tail(r, "--since", first, "--app", "s1")
    out1.wait(lambda ln: '"at":1002' in ln, 10, "entries after the id")
    check(not [ln for ln in out1.lines if '"at":1001' in ln], "the id itself is not repeated")
    p2, out2 = tail(r, "u1", "--since", str(ms))
    out2.wait(lambda ln: '"at":1001' in ln, 10, "from a time in ms, the entry at it included")
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)
    p3, out3 = tail(r, "--since", iso)
    out3.wait(lambda ln: '"at":1002' in ln, 10, "from an ISO 8601 time")
    p4, out4 = tail(r, "--follow-stream")
    time.sleep(0.5)   # let it take the stream's end as its start
    xadd(c, "s1", "u1", 3)
    out4.wait(lambda ln: '"at":1003' in ln, 10, "a new entry followed")
    check(not [ln for ln in out4.lines if '"at":1001' in ln], "--follow-stream starts at the end")
    r.stop()
    r.start()
    c = r.client()
    xadd(c, "s1", "u1", 4)
    out4.wait(lambda ln: '"at":1004' in ln, 20, "the entry added while it was away")
    out2.wait(lambda ln: '"at":1004' in ln, 20, "the filtered one too")
    check(not [ln for ln in out2.lines if '"at":1002' in ln], "u2 filtered out of `tail u1`")
    res = run("--redis-port", r.port, "tail", "--since", "yesterday")
    check(res.returncode == 2 and "--since" in res.stderr, "a bad --since: %r" % res.stderr)


def test_tables_json_and_budget():
    """Human output: aligned tables with headers, times for people,
    budget=unlimited; --json: numbers as numbers, times as ms and ISO 8601,
    the playback as the events say it."""
    r, sim = RedisServer(), Sim()
    setup_app(r, sim, users=["t1", "t2"])
    add_user(r, sim, "t1", extra=FAST)
    add_user(r, sim, "t2", extra=FAST, watch=False)
    play(sim, "t1", ["song"])
    Worker(r, sim, FAST)
    c = r.client()
    wait_for(lambda: c.cmd("HGET", "sw:{app1}:user:t1", "state"), 15, "t1 polled")
    ls = spotwatch(r, "user", "ls").stdout.splitlines()
    check(ls[0].split() == ["USER", "APP", "STATUS", "LAST_OUTCOME", "LAST_POLL"], "a header: %r" % ls)
    col = ls[0].index("STATUS")
    check(all(ln[col:].split()[0] in ("STATUS", "active", "stopped") for ln in ls), "aligned: %r" % ls)
    check(any(re.search(r"\d+s ago|now", ln) for ln in ls), "a poll time for people: %r" % ls)
    u = json.loads(spotwatch(r, "user", "show", "t1", "--json").stdout)
    check(isinstance(u["polls"], int) and isinstance(u["fence"], int), "numbers as numbers: %r" % u)
    check(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", u["last_poll_at_iso"]) and
          isinstance(u["last_poll_at"], int), "a time both ways: %r" % u)
    check("state" not in u and u["playback"]["is_playing"] is True and u["playback"]["track"]["id"] == "song",
          "the playback as the events say it: %r" % u.get("playback"))
    text = spotwatch(r, "user", "show", "t1").stdout
    check(re.search(r"last_poll_at\s+\d{4}-\d\d-\d\dT.*\((now|\d+s ago)\)", text), "user show: a time for people: %s" % text)
    st = json.loads(spotwatch(r, "status", "--json").stdout)
    check(all(isinstance(w["pid"], int) for w in st["workers"]), "pid a number: %r" % st["workers"])
    check(st["apps"][0]["budget_unlimited"] is True and "now_ms_iso" in st, "status json: %r" % st["apps"][0])
    check("budget=unlimited" in spotwatch(r, "status").stdout, "status says unlimited, not 0")
    apps = spotwatch(r, "app", "ls").stdout.splitlines()
    check(apps[0].split()[:4] == ["APP", "MODE", "CLIENT_ID", "USERS"] and "unlimited" in apps[1], "app ls: %r" % apps)
    a = json.loads(spotwatch(r, "app", "ls", "--json").stdout)[0]
    check(a["users"] == 2 and isinstance(a["scheduled"], int) and "client_secret" not in a, "app ls json: %r" % a)


def test_app_show_rm_and_user_filters():
    r, sim = RedisServer(), Sim()
    setup_app(r, sim, users=["f1", "f2"])
    setup_app(r, sim, app="app2", users=["g1"])
    for u in ("f1", "f2"):
        add_user(r, sim, u, extra=FAST, watch=(u == "f1"))
    add_user(r, sim, "g1", app="app2", extra=FAST)
    c = r.client()
    ls = json.loads(spotwatch(r, "user", "ls", "--json", "--app", "app1", "--status", "stopped").stdout)
    check([x["user"] for x in ls] == ["f2"], "filters: %r" % ls)
    ls = spotwatch(r, "user", "ls", "--app", "app2").stdout
    check("g1" in ls and "f1" not in ls, "--app: %r" % ls)
    show = spotwatch(r, "app", "show", "app1").stdout
    check("s3cret" not in show and re.search(r"users\s+2", show) and "budget" in show, "app show: %r" % show)
    j = json.loads(spotwatch(r, "app", "show", "app1", "--json").stdout)
    check(j["users"] == 2 and j["client_secret_set"] is True and j["mode"] == "extended", "json: %r" % j)
    res = spotwatch(r, "app", "show", "nope", check_rc=False)
    check(res.returncode == 1 and "no such app" in res.stderr, "unknown app: %r" % res.stderr)
    before = redis_dump(c, "*")
    res = spotwatch(r, "app", "rm", "app1", check_rc=False)
    check(res.returncode == 1 and "2 users" in res.stderr and "--force" in res.stderr, "refused: %r" % res.stderr)
    check(redis_dump(c, "*") == before, "nothing removed")
    spotwatch(r, "app", "rm", "app1", "--force")
    check(c.cmd("KEYS", "sw:{app1}:*") == [] and c.cmd("SISMEMBER", "sw:apps", "app1") == 0, "every key gone")
    check(c.cmd("HGETALL", "sw:users") == ["g1", "app2"], "the other app's user stays")
    check(c.cmd("EXISTS", "sw:{app2}:user:g1") == 1, "and its record")
    spotwatch(r, "user", "rm", "g1")
    spotwatch(r, "app", "rm", "app2")
    check(c.cmd("KEYS", "sw:{app2}:*") == [], "an app without users goes without --force")


def test_man_page_and_completion_follow_the_table():
    man = os.path.join(ROOT_DIR, "build", "man", "spotwatch.1")
    comp = os.path.join(ROOT_DIR, "build", "completion", "spotwatch.bash")
    for path in (man, comp):
        check(os.path.exists(path), "%s is built by make" % path)
    check(open(man).read() == run("--help-man").stdout, "the man page is the binary's")
    text = open(man).read()
    for words in commands():
        check('.SS "%s' % " ".join(words).replace("-", "\\-") in text, "man page has %r" % words)
    r = subprocess.run(["bash", "-c", "source %s; COMP_WORDS=(spotwatch user ''); COMP_CWORD=2; _spotwatch; "
                        "echo \"${COMPREPLY[@]}\"" % comp], capture_output=True, text=True)
    subs = [w[1] for w in commands() if w[0] == "user"]
    check(sorted(r.stdout.split()) == sorted(subs + ["--help"]), "completion of user: %r" % r.stdout)
    if subprocess.run(["which", "groff"], capture_output=True).returncode == 0:
        g = subprocess.run(["groff", "-ww", "-man", "-Tutf8", "-z", man], capture_output=True, text=True)
        check(g.returncode == 0 and g.stderr == "", "groff accepts it: %r" % g.stderr)


def test_readme_lists_every_command():
    """README's CLI table names every command of the table."""
    readme = open(os.path.join(ROOT_DIR, "README.md")).read()
    cli = readme[readme.index("## CLI"):]
    cli = cli[:cli.index("\n## ", 1)]
    for words in commands():
        check("`spotwatch %s" % " ".join(words) in cli, "README's CLI section lists %r" % words)
