"""The README's manual quick start, run as a newcomer would run it (issue 16,
must show 5).

The script is not a copy: it is every ```sh block of README.md that follows a
`<!-- walkthrough -->` line, joined in order and run by bash from the top of
the checkout, as one session pasted into one shell. Only the ports and the
scratch directory change, through the variables the README itself reads
(`PORT_REDIS=${PORT_REDIS:-6390}` ...). Between the blocks the test adds one
`echo` marker line, so it knows which block printed what; nothing else is
added. The build (`make deps && make`) is the README's unmarked block before
them: the suite runs on binaries already built.

Real parts throughout: redis-server, bin/spotify-sim, spotwatch serve (two
users connected through /connect and /callback by curl with a cookie jar), a
worker, `spotwatch tail` and `redis-cli XREADGROUP`. Checked: both users
connected and active, each user's events (start, then alice's pause and bob's
next song) seen once in tail's output and once through the consumer group,
and never another user's track or device in them; the README's last step
leaves no process behind (the test kills the session's process group
whatever happens)."""
import glob
import json
import os
import re
import signal
import subprocess

from harness import *  # noqa: F401,F403

MARK = "<!-- walkthrough -->"
BLOCK_RE = re.compile(re.escape(MARK) + r"\s*\n```(?:sh|bash)\n(.*?)```", re.S)
SECRET = "quickstart-secret"     # the client secret of the README's app
USERS = ("alice", "bob")


def readme_blocks():
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    blocks = BLOCK_RE.findall(text)
    check(len(blocks) == text.count(MARK), "every %s marker is followed by a ```sh block" % MARK)
    whole = "\n".join(blocks)
    # The walkthrough still walks the whole way (issue 16): each step is there.
    for step in ("redis-server", "bin/spotify-sim", "keygen", "/sim/apps", "redirect_uris",
                 "allowlist", "app add", " serve", "connect-link", "sim_user=", "-c \"$jar\"",
                 " worker", " tail", "watch now", "XGROUP CREATE", "XREADGROUP"):
        check(step in whole, "the README's walkthrough blocks have the step %r" % step)
    return blocks


def defaults_match(blocks):
    """The ports the README picks by default are the programs' own defaults
    for the simulator and serve, and differ from one another."""
    whole = "\n".join(blocks)
    ports = {}
    for var in ("PORT_REDIS", "PORT_SIM", "PORT_SERVE"):
        m = re.search(r"^%s=\$\{%s:-(\d+)\}" % (var, var), whole, re.M)
        check(m is not None, "the README sets %s=${%s:-N}" % (var, var))
        ports[var] = m.group(1)
    check(len(set(ports.values())) == 3, "three different ports: %r" % ports)
    sim_help = subprocess.run([os.path.join(BIN, "spotify-sim"), "--help"], capture_output=True, text=True)
    check("(default %s)" % ports["PORT_SIM"] in sim_help.stdout + sim_help.stderr,
          "the simulator's default port is the README's %s" % ports["PORT_SIM"])
    conf = subprocess.run([SPOTWATCH, "--redis-port", "1", "config"], capture_output=True, text=True)
    check("http-listen 127.0.0.1:%s\n" % ports["PORT_SERVE"] in conf.stdout,
          "serve's default port is the README's %s: %s" % (ports["PORT_SERVE"], conf.stdout[:200]))


def run_session(blocks, env, timeout=240):
    """bash runs the blocks as one script in a session of its own; returns
    (exit status, the session's process group, {block index: its output},
    whole output). Every process of
    the session is killed at cleanup, even when the script hangs or fails."""
    d = tmpdir()
    script = os.path.join(d, "walkthrough.sh")
    with open(script, "w") as f:
        f.write("set -euo pipefail\n")
        for i, b in enumerate(blocks):
            f.write("echo '#### walkthrough block %d'\n%s\n" % (i, b))
    # Output to a file, not a pipe: the session's background daemons keep
    # their stdout open, and the test must learn at once that bash is done.
    log = os.path.join(LOGDIR, "walkthrough-%d.log" % os.getpid())
    with open(log, "wb") as logf:
        p = subprocess.Popen(["bash", script], cwd=ROOT, env=env, stdout=logf,
                             stderr=subprocess.STDOUT, start_new_session=True)

    def kill_session():
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    on_cleanup(kill_session)
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        kill_session()
        p.wait()
        with open(log, "a") as f:
            f.write("\n(killed: the walkthrough took over %d s)\n" % timeout)
    with open(log, "rb") as f:
        out = f.read().decode("utf-8", "replace")
    parts, cur = {}, None
    for line in out.splitlines():
        m = re.match(r"#### walkthrough block (\d+)$", line)
        if m:
            cur = int(m.group(1))
            parts[cur] = []
        elif cur is not None:
            parts[cur].append(line)
    return p.returncode, p.pid, {k: "\n".join(v) for k, v in parts.items()}, out


def block_of(blocks, outputs, needle):
    """The output of the (last) block whose text has needle."""
    idx = [i for i, b in enumerate(blocks) if needle in b]
    check(idx, "a walkthrough block with %r" % needle)
    return outputs.get(idx[-1], "")


def events_in(text):
    return [json.loads(l) for l in text.splitlines() if l.startswith('{"id":')]


def check_own(ev, where):
    """No cross-talk: a user's event carries only that user's track and device."""
    u = ev["user"]
    check(u in USERS, "%s: an event of an unknown user: %r" % (where, ev))
    tid = (ev.get("track") or {}).get("id") or ""
    check(tid.startswith(u + "-"), "%s: %s's event has track %r" % (where, u, tid))
    check((ev.get("device") or {}).get("id") == "phone-" + u, "%s: %s's event has device %r" % (where, u, ev.get("device")))
    prev = ev.get("previous_track_id")
    check(prev is None or prev.startswith(u + "-"), "%s: %s's previous track %r" % (where, u, prev))


def check_story(evs, where):
    """Each user's events, once each: started, then the change made in the simulator."""
    for ev in evs:
        check_own(ev, where)
    got = sorted((e["user"], e["type"], e["track"]["id"]) for e in evs)
    want = sorted([("alice", "playback_started", "alice-1"), ("alice", "playback_paused", "alice-1"),
                   ("bob", "playback_started", "bob-1"), ("bob", "track_changed", "bob-2")])
    check(got == want, "%s: events %r, expected %r" % (where, got, want))
    for u in USERS:
        mine = [e["type"] for e in evs if e["user"] == u]
        check(mine[0] == "playback_started", "%s: %s's first event is playback_started: %r" % (where, u, mine))


def test_readme_quick_start_runs_end_to_end():
    blocks = readme_blocks()
    defaults_match(blocks)
    record_secret(SECRET)
    sw_dir = os.path.join(tmpdir(), "quickstart")
    env = dict(os.environ, PORT_REDIS=str(free_port()), PORT_SIM=str(free_port()),
               PORT_SERVE=str(free_port()), SW_DIR=sw_dir)
    # In a sanitizer build, a report of any process of the session lands
    # here, outside $SW_DIR (which the README's last step removes).
    san = os.path.join(tmpdir(), "sanitizer")
    for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
        env[var] = (env[var] + ":" if env.get(var) else "") + "log_path=" + san
    rc, pgid, outputs, out = run_session(blocks, env)
    reports = glob.glob(san + ".*")
    check(not reports, "sanitizer reports: %s" % "".join(open(r, errors="replace").read()[:3000] for r in reports))

    def logs():
        tails = []
        for name in ("serve.log", "worker.log", "sim.log", "redis.log", "tail.log"):
            path = os.path.join(sw_dir, name)
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    tails.append("--- %s\n%s" % (name, f.read()[-1500:]))
        return "\n".join(tails)
    check(rc == 0, "the walkthrough failed (exit %r):\n%s\n%s" % (rc, out[-4000:], logs()))
    check(len(outputs) == len(blocks), "every block ran: %r of %d" % (sorted(outputs), len(blocks)))

    # Both users connected through serve (its success page, seen by curl),
    # then listed as active users of the app.
    connected = block_of(blocks, outputs, "connect alice")
    for u in USERS:
        check(re.search(r"Spotify account spotify-%s \(.*\) is connected" % u, connected),
              "serve's page says spotify-%s is connected: %r" % (u, connected))
        check(re.search(r"^%s\s+quickstart\s+active\b" % u, connected, re.M),
              "user ls lists %s as an active user of quickstart: %r" % (u, connected))

    # tail's output, all of it, as the README prints it after the change.
    check_story(events_in(block_of(blocks, outputs, "watch now")), "tail")

    # The consumer group: redis-cli prints each entry as its id, then the
    # fields user, id, type and event; the fields agree with the event.
    lines = block_of(blocks, outputs, "XREADGROUP").splitlines()
    evs = []
    for i, line in enumerate(lines):
        if line.startswith('{"id":'):
            ev = json.loads(line)
            check(i >= 7 and lines[i - 7] == "user" and lines[i - 6] == ev["user"]
                  and lines[i - 5] == "id" and lines[i - 4] == ev["id"]
                  and lines[i - 3] == "type" and lines[i - 2] == ev["type"] and lines[i - 1] == "event",
                  "the stream entry's fields match its event: %r" % lines[max(0, i - 8):i + 1])
            evs.append(ev)
    check_story(evs, "XREADGROUP")

    check(SECRET not in out, "the client secret never printed")
    # The README's last step stopped everything it started.
    try:
        os.killpg(pgid, 0)
        left = subprocess.run(["ps", "-o", "pid,args", "-g", str(pgid)], capture_output=True, text=True).stdout
        check(False, "the walkthrough left processes running:\n%s" % left)
    except ProcessLookupError:
        pass
