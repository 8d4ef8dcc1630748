"""No token or secret in any log line the suite writes (issue 4, must show 6).

This module sorts last, so by the time it runs every other module has written
its logs into the run's one log directory (harness.LOGDIR; tests/run.py sets
SW_TEST_LOGDIR once per run). The harness records every token and secret the
suite creates or sees in LOGDIR/secrets.txt: simulator-minted tokens and app
secrets (every /sim and /api/token request and answer), CLI secret options,
token keys from keygen, and the tokens workers stored in plaintext mode (read
from Redis when each test ends). Tokens minted by a refresh inside a worker
with a real key are never seen in clear by the harness, so the scan also
flags anything shaped like a simulator token (BQ + 204 or AQ + 129 base64url
characters), whoever minted it.

Run alone, the module still has something to look at: its first test drives
every token path (refresh, rotation, invalid_client, revoked, unreadable
ciphertext, token endpoint 5xx, missing permissions) at log-level debug, in
both log formats."""
import glob
import os
import re
import time

from harness import *  # noqa: F401,F403

FAST = ["--poll-interval-ms", "200", "--smart-polling", "no", "--lease-ms", "3000",
        "--http-timeout-ms", "2000", "--backoff-base-ms", "200", "--backoff-max-ms", "1000"]
DEBUG = ["--log-level", "debug"]

# A simulator token anywhere: exactly BQ + 204 / AQ + 129 base64url characters
# (tests/sim/sim_state.h).
TOKEN_SHAPE = re.compile(r"(?<![A-Za-z0-9_-])(?:BQ[A-Za-z0-9_-]{204}|AQ[A-Za-z0-9_-]{129})(?![A-Za-z0-9_-])")


def recorded_secrets():
    out = set()
    if os.path.exists(SECRETS_FILE):
        with open(SECRETS_FILE) as f:
            out |= {ln.rstrip("\n") for ln in f}
    return {s for s in out if len(s) >= SECRET_MIN}


def scan(paths, secrets):
    """[(path, line number, what)] for every secret (or token-shaped string)
    found in the files. Exact secrets are matched inside every run of the
    characters they are made of, so the cost grows with the log size, not
    with size x number of secrets."""
    secrets = set(secrets)
    alphabet = sorted(set("".join(secrets)))
    lengths = sorted({len(s) for s in secrets})
    run_re = re.compile("[%s]{%d,}" % ("".join(re.escape(ch) for ch in alphabet), SECRET_MIN)) if secrets else None
    hits = []
    for path in paths:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        for no, line in enumerate(text.splitlines(), 1):
            for m in TOKEN_SHAPE.finditer(line):
                hits.append((path, no, "token-shaped %s...%s" % (m.group()[:4], m.group()[-2:])))
            if run_re is None:
                continue
            for m in run_re.finditer(line):
                run = m.group()
                found = None
                for n in lengths:
                    if n > len(run):
                        break
                    for i in range(len(run) - n + 1):
                        if run[i:i + n] in secrets:
                            found = run[i:i + n]
                            break
                    if found:
                        break
                if found:
                    hits.append((path, no, "secret %s...(%d chars)" % (found[:3], len(found))))
    return hits


def uh(c, user):
    return c.hgetall("sw:{app1}:user:%s" % user)


def num(h, field):
    return int(h.get(field) or 0)


def test_scanner_finds_planted_secrets():
    """The scan can fail: it finds a recorded secret and an unrecorded token."""
    d = tmpdir()
    tok = "BQ" + ("x1Y2z3-_" * 26)[:204]
    with open(os.path.join(d, "a.log"), "w") as f:
        f.write("line one\nuser u: refreshing with plain.my-Secret_9 now\n")
    with open(os.path.join(d, "b.log"), "w") as f:
        f.write('{"msg":"Authorization: Bearer %s"}\nok\n' % tok)
    hits = scan(sorted(glob.glob(os.path.join(d, "*.log"))), {"my-Secret_9", "other-secret-zz"})
    check([(os.path.basename(p), n) for p, n, _ in hits] == [("a.log", 2), ("b.log", 1)], "hits %r" % hits)
    check(not any("my-Secret_9" in w or tok in w for _, _, w in hits), "the report itself shows no secret")
    check(scan([os.path.join(d, "a.log")], {"not-there-123"}) == [], "no false positive")


def test_every_token_path_at_debug_level():
    """Drive each token-handling path with workers logging at debug level."""
    kf = keygen()
    r = RedisServer()
    sim = Sim(["--refresh-policy", "rotate"])
    ex = FAST + ["--token-key-file", kf]
    users = ["z1", "z2", "z3"]
    setup_app(r, sim, users=users, extra=ex)
    for u in users:
        add_user(r, sim, u, extra=ex)
        play(sim, u, ["t-" + u])
    add_user(r, sim, "zp", extra=ex, scope="user-read-currently-playing")   # Permissions missing (the poll asks /me/player)
    w1 = Worker(r, sim, ex + DEBUG + ["--log-format", "json"])
    w2 = Worker(r, sim, ex + DEBUG)
    c = r.client()
    wait_for(lambda: all(num(uh(c, u), "polls") >= 2 for u in users), 20, "polled")
    wait_for(lambda: uh(c, "zp").get("status") == "reauth_required", 20, "Permissions missing")
    # refresh with rotation
    sim.ok("POST", "/sim/users/z1/expire")
    wait_for(lambda: num(uh(c, "z1"), "rotations") == 1, 20, "rotated")
    # token endpoint 503 once, then fine
    sim.ok("POST", "/sim/faults", {"kind": "status", "status": 503, "path": "/api/token", "count": 1})
    sim.ok("POST", "/sim/users/z1/expire")
    wait_for(lambda: num(uh(c, "z1"), "rotations") == 2, 20, "rotated after a 503")
    # an unreadable ciphertext (another user's)
    c.cmd("HSET", "sw:{app1}:user:z3", "access_token", uh(c, "z1")["access_token"])
    wait_for(lambda: num(uh(c, "z3"), "refreshes") == 1, 20, "unreadable token replaced")
    # revoked
    sim.ok("POST", "/sim/users/z2/revoke")
    sim.ok("POST", "/sim/users/z2/expire")
    wait_for(lambda: uh(c, "z2").get("status") == "reauth_required", 20, "revoked")
    # invalid_client (a worker started with the wrong secret), then fixed
    for w in (w1, w2):
        check(w.stop() == 0, "worker exits cleanly")
    spotwatch(r, "app", "add", "app1", "--client-id", "cid-app1", "--client-secret", "zz-wrong-secret-77",
              "--mode", "extended", sim=sim, extra=ex)
    w3 = Worker(r, sim, ex + DEBUG)
    sim.ok("POST", "/sim/users/z3/expire")
    wait_for(lambda: c.hgetall("sw:{app1}:rl").get("block_reason") == "invalid_client", 20, "invalid_client")
    spotwatch(r, "app", "add", "app1", "--client-id", "cid-app1", "--client-secret", "s3cret-app",
              "--mode", "extended", sim=sim, extra=ex)
    wait_for(lambda: num(uh(c, "z3"), "refreshes") == 2, 30, "resumed")
    # everything an operator looks at (the harness logs CLI output too)
    for args in (["status"], ["status", "--json"], ["user", "ls"], ["app", "ls", "--json"],
                 ["user", "show", "z1"], ["user", "show", "z1", "--json"], ["user", "show", "z2"]):
        spotwatch(r, *args, sim=sim, extra=ex)
    spotwatch(r, "config", sim=sim, extra=ex + ["--redis-password", "zz-redis-pass-1234"])
    # a plaintext-mode worker too
    check(w3.stop() == 0, "worker exits cleanly")
    plain = Worker(r, sim, FAST + DEBUG)
    wait_for(lambda: "allow-plaintext-tokens" in plain.output(), 10, "plaintext worker up")
    check(len(recorded_secrets()) >= 8, "secrets were recorded")


def test_no_secret_in_any_log():
    logs = sorted(glob.glob(os.path.join(LOGDIR, "**", "*.log"), recursive=True))
    secrets = recorded_secrets()
    check(len(logs) > 0 and len(secrets) > 0, "nothing to scan: %d logs, %d secrets" % (len(logs), len(secrets)))
    t0 = time.time()
    hits = scan(logs, secrets)
    size = sum(os.path.getsize(p) for p in logs)
    print("scanned %d log files (%.1f MB) for %d secrets and token shapes in %.1fs" %
          (len(logs), size / 1e6, len(secrets), time.time() - t0), flush=True)
    check(not hits, "%d secrets in logs, e.g. %r" % (len(hits), hits[:10]))
