"""`spotwatch user import` (issue 7): bulk add from JSON lines, sealed like
`user add`, pipelined; with --watch the users are scheduled and polled."""
import json
import os

from harness import *  # noqa: F401,F403


def _rows(sim, users, client_id="cid-app1"):
    rows = []
    for u in users:
        tok = sim.ok("POST", "/sim/users/%s/tokens" % u, {"client_id": client_id,
                                                         "scope": "user-read-currently-playing user-read-playback-state"})
        rows.append({"user": u, "app": "app1", "access_token": tok["access_token"],
                     "refresh_token": tok["refresh_token"], "expires_in": tok["expires_in"],
                     "scope": "user-read-currently-playing user-read-playback-state"})
    return rows


def test_import_seals_schedules_and_refuses_bad_lines():
    r = RedisServer()
    sim = Sim()
    key = os.path.join(tmpdir(), "token.key")
    spotwatch(r, "keygen", key)
    extra = ["--token-key-file", key, "--poll-interval-ms", "300", "--smart-polling", "no"]
    setup_app(r, sim, extra=extra)
    users = ["imp%03d" % i for i in range(600)]   # more than one pipelined batch (512)
    rows = _rows(sim, users)
    for u in users[:3]:
        play(sim, u, ["t-" + u])
    path = os.path.join(tmpdir(), "users.jsonl")
    with open(path, "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
        f.write("\n")                                                    # blank: ignored
        f.write("not json\n")                                            # refused
        f.write(json.dumps({"user": "x y", "app": "app1", "access_token": "a" * 20,
                            "refresh_token": "b" * 20}) + "\n")          # bad id: refused
        f.write(json.dumps({"user": "ghost", "app": "nosuchapp", "access_token": "c" * 20,
                            "refresh_token": "d" * 20}) + "\n")          # unknown app: refused
    out = spotwatch(r, "user", "import", path, "--watch", extra=extra, check_rc=False)
    check(out.returncode == 1, "refused lines make the exit status 1: %d %s" % (out.returncode, out.stderr))
    check("imported 600 users" in out.stdout and "3 lines refused" in out.stdout, out.stdout + out.stderr)
    check(":%d:" % (len(rows) + 2) in out.stderr and "no such app 'nosuchapp'" in out.stderr, out.stderr)
    for row in rows[:5]:
        check(row["access_token"] not in out.stdout + out.stderr, "a token was printed")
    c = r.client()
    check(c.cmd("HLEN", "sw:users") == 600, "directory holds every imported user")
    check(c.cmd("ZCARD", "sw:{app1}:due") == 600, "every user scheduled")
    h = c.hgetall("sw:{app1}:user:imp007")
    check(h["status"] == "active" and sealed_kid(h["access_token"]) == 1 and
          rows[7]["access_token"] not in repr(c.cmd("DUMP", "sw:{app1}:user:imp007")), "sealed and active: %r" % {k: h[k] for k in ("status",)})
    check(c.cmd("HEXISTS", "sw:{app1}:user:ghost", "status") == 0, "refused line wrote nothing")
    # the worker opens the sealed tokens and polls with them
    s = Subscriber(r, "sw:playback:imp001")
    Worker(r, sim, extra)
    s.wait(lambda e: e["type"] == "playback_started" and e["track"]["id"] == "t-imp001", 20, "imported user polled")
    check(sim.stats()["requests"]["by_status"].get("401", 0) == 0, "every call carried a valid token")
    # importing again is idempotent for the same app; another app is refused
    spotwatch(r, "app", "add", "app2", "--client-id", "cid-app2", "--client-secret", "s", "--mode", "extended", extra=extra)
    again = os.path.join(tmpdir(), "again.jsonl")
    with open(again, "w") as f:
        f.write(json.dumps(rows[0]) + "\n")
        f.write(json.dumps(dict(rows[1], app="app2")) + "\n")
    out = spotwatch(r, "user", "import", again, extra=extra, check_rc=False)
    check(out.returncode == 1 and "imported 1 users" in out.stdout and "belongs to app 'app1'" in out.stderr,
          out.stdout + out.stderr)
    check(c.cmd("HLEN", "sw:users") == 600, "no duplicate in the directory")
