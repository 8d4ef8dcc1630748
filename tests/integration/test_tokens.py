"""Per-user token lifecycle and secrets (issue 4): real redis-server, real
spotify-sim, real workers.

Seed question 2, "does refreshing one user's token affect another?", is
answered by test_refresh_is_per_user; the rest proves single-flight refresh
under several workers, the classification of every token-related answer, and
encryption at rest with key rotation."""
import base64
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.parse

from harness import *  # noqa: F401,F403

FAST = ["--poll-interval-ms", "200", "--smart-polling", "no", "--lease-ms", "3000",
        "--http-timeout-ms", "2000", "--backoff-base-ms", "200", "--backoff-max-ms", "1000"]
TOKEN_FIELDS = ("access_token", "refresh_token", "expires_at")
DAY_MS = 24 * 3600 * 1000


def world(users, app="app1", sim_args=None, mode="extended", extra=None, allowlist=None, secret="s3cret-app",
          scope=None, appendonly=False):
    r = RedisServer(appendonly=appendonly)
    sim = Sim(sim_args or [])
    ex = FAST + list(extra or [])
    setup_app(r, sim, app=app, users=users, mode=mode, allowlist=allowlist, secret=secret, extra=ex)
    kw = {"scope": scope} if scope else {}
    toks = {u: add_user(r, sim, u, app=app, extra=ex, **kw) for u in users}
    return r, sim, toks


def uh(c, user, app="app1"):
    return c.hgetall("sw:{%s}:user:%s" % (app, user))


def num(h, field):
    return int(h.get(field) or 0)


def grants(sim):
    return sim.stats()["token_grants"]


def status_count(sim, code):
    return sim.stats()["requests"]["by_status"].get(str(code), 0)


def api_token_calls(sim):
    return sim.stats()["requests"]["by_path"].get("/api/token", 0)


def log_lines(proc_or_worker, needle):
    return [ln for ln in proc_or_worker.output().splitlines() if needle in ln]


def good(h):
    """The last poll went through (200 with playback, or 204 nothing playing)."""
    return h.get("last_outcome") in ("ok", "nothing")


def check_no_failures(c, users, app="app1", app_stats=True):
    for u in users:
        h = uh(c, u, app)
        check(h.get("status") == "active", "user %s status %r" % (u, h.get("status")))
        check(num(h, "errors") == 0 and "last_error" not in h,
              "user %s had failed polls: errors=%r last_error=%r" % (u, h.get("errors"), h.get("last_error")))
    st = c.hgetall("sw:{%s}:stats" % app)
    check(not app_stats or num(st, "errors") == 0 and num(st, "outcome_error") == 0, "app stats show failures: %r" % st)


# --- 1. refresh independence -------------------------------------------------

def test_refresh_is_per_user():
    """Seed question 2: user 1's token expires; user 1 is refreshed and keeps
    being polled; user 2's stored tokens are byte-for-byte unchanged and none
    of user 2's polls fails."""
    r, sim, toks = world(["1", "2"])
    play(sim, "1", ["trackA"])
    play(sim, "2", ["trackB"])
    w = Worker(r, sim, FAST)
    c = r.client()
    wait_for(lambda: num(uh(c, "1"), "polls") >= 3 and num(uh(c, "2"), "polls") >= 3, 20, "both users polled")
    before2 = {f: uh(c, "2")[f] for f in TOKEN_FIELDS}
    before1 = uh(c, "1")
    sim.ok("POST", "/sim/stats/reset")

    sim.ok("POST", "/sim/users/1/expire")
    wait_for(lambda: num(uh(c, "1"), "refreshes") == 1, 20, "user 1 refreshed")
    p1, p2 = num(uh(c, "1"), "polls"), num(uh(c, "2"), "polls")
    wait_for(lambda: num(uh(c, "1"), "polls") >= p1 + 3 and num(uh(c, "2"), "polls") >= p2 + 3, 20,
             "both users keep being polled")

    h1, h2 = uh(c, "1"), uh(c, "2")
    check(h1["access_token"] != before1["access_token"], "user 1 holds a new access token")
    check(h1["refresh_token"] == before1["refresh_token"], "policy none: user 1 keeps its refresh token")
    check(int(h1["expires_at"]) > int(before1["expires_at"]), "user 1's expiry moved forward")
    check(h1["last_outcome"] == "ok", "user 1 polls fine after the refresh: %r" % h1.get("last_outcome"))
    for f in TOKEN_FIELDS:
        check(h2[f] == before2[f], "user 2's %s changed" % f)
    check(num(h2, "refreshes") == 0, "user 2 was not refreshed")
    check_no_failures(c, ["1", "2"])
    st = sim.stats()
    g = st["token_grants"]
    check(g["refresh_token"] == 1 and g["by_user"] == {"1": 1} and g["failed"] == 0,
          "exactly one refresh, for user 1: %r" % g)
    check(st["requests"]["by_status"].get("401", 0) == 1, "one poll met the expired token: %r" % st["requests"])
    # Every call was answered 200 but user 1's single 401: so all of user 2's succeeded.
    req = st["requests"]
    check(req["by_user"].get("2", 0) >= 3 and req["by_status"] == {"200": req["total"] - 1, "401": 1},
          "every call but user 1's expired poll succeeded: %r" % req)
    check(not log_lines(w, "user 2"), "no log line about user 2: %r" % log_lines(w, "user 2"))


# --- 2. refresh policies -------------------------------------------------------

def _refresh_cycles(policy, cycles=50, nusers=4, nworkers=3):
    users = ["%s%d" % (policy, i) for i in range(nusers)]
    r, sim, toks = world(users, sim_args=["--refresh-policy", policy])
    for u in users:
        play(sim, u, ["t-" + u])
    ex = FAST + ["--poll-interval-ms", "100"]
    ws = [Worker(r, sim, ex) for _ in range(nworkers)]
    c = r.client()
    wait_for(lambda: all(num(uh(c, u), "polls") >= 1 for u in users), 20, "every user polled")
    original_rt = {u: uh(c, u)["refresh_token"] for u in users}
    sim.ok("POST", "/sim/stats/reset")

    def settled(i):
        # refreshed i times, and the poll after the refresh went through
        for u in users:
            h = uh(c, u)
            if num(h, "refreshes") < i or not good(h) or \
                    last_ok(h) < num(h, "refreshed_at"):
                return False
        return True

    for i in range(1, cycles + 1):
        for u in users:
            sim.ok("POST", "/sim/users/%s/expire" % u)
        wait_for(lambda: settled(i), 30, "refresh cycle %d (%s)" % (i, policy))

    st = sim.stats()
    g = st["token_grants"]
    check(g["failed"] == 0, "%s: no refresh failed (no invalid_grant): %r" % (policy, g))
    check(g["refresh_token"] == cycles * nusers, "%s: %d refreshes, want %d" % (policy, g["refresh_token"], cycles * nusers))
    check(all(g["by_user"].get(u) == cycles for u in users),
          "%s: exactly one refresh per user per expiry: %r" % (policy, g["by_user"]))
    check(st["requests"]["by_status"].get("401", 0) == cycles * nusers,
          "%s: each expiry cost exactly one rejected poll: %r" % (policy, st["requests"]["by_status"]))
    check(st["max_concurrent_per_user"] <= 1, "%s: never two calls in flight for one user" % policy)
    check_no_failures(c, users)
    for u in users:
        h = uh(c, u)
        check(num(h, "refreshes") == cycles, "%s: user %s refreshes=%r" % (policy, u, h.get("refreshes")))
        if policy == "rotate":
            check(num(h, "rotations") == cycles and h["refresh_token"] != original_rt[u],
                  "rotate: the newest refresh token is stored")
        else:
            check(h["refresh_token"] == original_rt[u], "%s: the refresh token is kept" % policy)
        view = sim.ok("GET", "/sim/users/%s" % u)
        check(view["tokens"]["refresh_live"] == 1, "%s: one live refresh token: %r" % (policy, view["tokens"]))
    for w in ws:
        check(w.alive(), "worker alive")
        w.stop()
    # The stored refresh token works: use it (plaintext mode) at the token endpoint.
    for u in users:
        rt = uh(c, u)["refresh_token"][len("plain."):]
        st, _, body = http("POST", sim.base + "/api/token",
                           headers={"Content-Type": "application/x-www-form-urlencoded",
                                    "Authorization": "Basic " + base64.b64encode(b"cid-app1:s3cret-app").decode()},
                           body=urllib.parse.urlencode({"grant_type": "refresh_token", "refresh_token": rt}))
        check(st == 200, "%s: user %s's stored refresh token works: %d %r" % (policy, u, st, body[:200]))


def test_refresh_policy_none():
    _refresh_cycles("none")


def test_refresh_policy_same():
    _refresh_cycles("same")


def test_refresh_policy_rotate():
    _refresh_cycles("rotate")


# --- 3. 100 users expiring at the same instant ------------------------------------

def test_hundred_users_expire_at_once():
    """100 users whose tokens expire at the same instant, 3 workers: exactly 100
    refresh calls each time, no poll carries an expired token more than once,
    no poll fails.

    Phase A (proactive): every user's stored expiry is the same instant T; the
    workers refresh before it, so no poll carries an expired token at all.
    Phase B (reactive): the simulator's clock jumps past every access token's
    lifetime at once, which the workers cannot know: each user's next poll
    carries the dead token exactly once (401), is refreshed, and retried. So the
    bound on 401s is 100 (one per user), and it is also the exact count."""
    users = ["h%03d" % i for i in range(100)]
    r = RedisServer()
    sim = Sim()
    setup_app(r, sim, users=users, extra=FAST)
    ex = FAST + ["--poll-interval-ms", "1000", "--refresh-margin-ms", "4000"]
    for u in users:
        add_user(r, sim, u, extra=ex)
    c = r.client()
    ws = [Worker(r, sim, ex + ["--claim-batch", "16"]) for _ in range(3)]
    wait_for(lambda: all(num(uh(c, u), "polls") >= 1 for u in users), 30, "every user polled")
    sim.ok("POST", "/sim/stats/reset")

    # Phase A: one expiry instant for all, 6 s from now (refresh margin 4 s).
    t = c.cmd("TIME")
    instant = int(t[0]) * 1000 + int(t[1]) // 1000 + 6000
    for u in users:
        c.cmd("HSET", "sw:{app1}:user:%s" % u, "expires_at", instant)
    wait_for(lambda: grants(sim)["refresh_token"] >= 100 and
             all(num(uh(c, u), "refreshes") == 1 for u in users), 40, "every user refreshed once")
    time.sleep(1.0)   # let any duplicate refresh show up before counting
    st = sim.stats()
    check(st["token_grants"]["refresh_token"] == 100, "phase A: exactly 100 refreshes: %r" % st["token_grants"])
    check(all(st["token_grants"]["by_user"].get(u) == 1 for u in users), "phase A: one per user")
    check(st["requests"]["by_status"].get("401", 0) == 0, "phase A: no poll carried an expired token")
    check(st["max_concurrent_per_user"] <= 1, "phase A: single flight per user")
    check_no_failures(c, users)

    # Phase B: every access token dies at the same simulated instant.
    sim.ok("POST", "/sim/stats/reset")
    sim.ok("POST", "/sim/clock", {"advance_ms": 3601 * 1000})
    wait_for(lambda: all(num(uh(c, u), "refreshes") == 2 for u in users), 40, "every user refreshed again")
    wait_for(lambda: all(good(uh(c, u)) and last_ok(uh(c, u)) >= num(uh(c, u), "refreshed_at")
                         for u in users), 30, "every user polled with its new token")
    time.sleep(1.0)
    st = sim.stats()
    check(st["token_grants"]["refresh_token"] == 100 and st["token_grants"]["failed"] == 0,
          "phase B: exactly 100 refreshes: %r" % st["token_grants"])
    check(all(st["token_grants"]["by_user"].get(u) == 1 for u in users), "phase B: one per user")
    n401 = st["requests"]["by_status"].get("401", 0)
    check(n401 == 100, "phase B: %d polls carried an expired token, want exactly one per user (100)" % n401)
    check(st["max_concurrent_per_user"] <= 1, "phase B: single flight per user")
    check_no_failures(c, users)
    for w in ws:
        check(w.alive(), "worker alive")


# --- 4. each classified answer, end to end ------------------------------------------

def test_revoked_refresh_token_requires_reauth():
    r, sim, toks = world(["rv", "ok"])
    play(sim, "rv", ["a"])
    play(sim, "ok", ["b"])
    sub = Subscriber(r, "sw:playback:rv")
    Worker(r, sim, FAST)
    c = r.client()
    wait_for(lambda: uh(c, "rv").get("state") and num(uh(c, "ok"), "polls") >= 2, 20, "first polls")
    sim.ok("POST", "/sim/users/rv/revoke")
    sim.ok("POST", "/sim/users/rv/expire")
    ev = sub.wait(lambda e: e["type"] == "reauth_required", 20, "reauth_required event")[0]
    check(ev["user"] == "rv" and "revoked" in ev.get("reason", "").lower(), "event %r" % ev)
    h = uh(c, "rv")
    check(h["status"] == "reauth_required", "status %r" % h["status"])
    check("revoked" in h.get("reason", "").lower(), "reason %r" % h.get("reason"))
    check(c.cmd("ZSCORE", "sw:{app1}:due", "rv") is None, "off the schedule")
    check(c.cmd("ZSCORE", "sw:{app1}:leases", "rv") is None, "no lease left")
    check(h.get("state") and h.get("refresh_token") and h.get("access_token") and num(h, "polls") >= 1,
          "the user's data is kept")
    n = sim.stats()["requests"]["by_user"].get("rv", 0)
    g = grants(sim)["failed"]
    time.sleep(1.5)
    check(sim.stats()["requests"]["by_user"].get("rv", 0) == n and grants(sim)["failed"] == g,
          "no more calls for a user who must re-authorise")
    check(any(e["type"] == "reauth_required" and e["user"] == "rv" for e in stream_events(c)), "in the stream")
    out = spotwatch(r, "user", "show", "rv", sim=sim).stdout
    check("reauth_required" in out, out)
    check_no_failures(c, ["ok"], app_stats=False)


def test_permissions_missing_no_refresh_loop():
    # The poll (GET /me/player) needs user-read-playback-state: a grant of
    # only user-read-currently-playing lacks it.
    r, sim, toks = world(["pm"], scope="user-read-currently-playing")
    sub = Subscriber(r, "sw:playback:pm")
    Worker(r, sim, FAST)
    c = r.client()
    ev = sub.wait(lambda e: e["type"] == "reauth_required", 20, "reauth_required event")[0]
    h = uh(c, "pm")
    check(h["status"] == "reauth_required" and "ermission" in h.get("reason", ""), "status/reason %r" % h)
    check(c.cmd("ZSCORE", "sw:{app1}:due", "pm") is None, "off the schedule")
    time.sleep(1.5)
    st = sim.stats()
    check(api_token_calls(sim) == 0 and st["token_grants"]["total"] == 0 and st["token_grants"]["failed"] == 0,
          "no refresh attempted for missing permissions: %r" % st["token_grants"])
    check(st["requests"]["by_user"].get("pm") == 1, "exactly one call, no loop: %r" % st["requests"]["by_user"])
    check("ermission" in ev.get("reason", ""), "event reason %r" % ev)


def test_not_allowlisted_user_stopped_with_reason():
    r, sim, toks = world(["in", "out"], mode="development", allowlist=["in"])
    play(sim, "in", ["a"])
    sub = Subscriber(r, "sw:playback:*", pattern=True)
    Worker(r, sim, FAST)
    c = r.client()
    sub.wait(lambda e: e["type"] == "not_registered" and e["user"] == "out", 20, "not_registered event")
    h = uh(c, "out")
    check(h["status"] == "not_registered", "status %r" % h["status"])
    check(c.cmd("ZSCORE", "sw:{app1}:due", "out") is None, "off the schedule")
    out = spotwatch(r, "user", "show", "out", sim=sim).stdout
    check("not_registered" in out and "allowlist" in out.lower(), "user show says why: %s" % out)
    # The plain-text flavour of the same 403.
    sim.ok("POST", "/sim/config", {"allowlist_plain_text": True})
    add_user(r, sim, "out2", extra=FAST)
    sub.wait(lambda e: e["type"] == "not_registered" and e["user"] == "out2", 20, "not_registered (text/plain)")
    check(uh(c, "out2")["status"] == "not_registered", "plain-text 403 classified")
    check(grants(sim)["total"] == 0, "no refresh attempted for a 403")
    check_no_failures(c, ["in"], app_stats=False)


def test_token_endpoint_503_for_30s():
    users = ["t1", "t2", "t3"]
    r, sim, toks = world(users)
    for u in users:
        play(sim, u, ["x-" + u])
    sub = Subscriber(r, "sw:playback:*", pattern=True)
    ex = FAST + ["--backoff-max-ms", "2000"]
    Worker(r, sim, ex)
    Worker(r, sim, ex)
    c = r.client()
    wait_for(lambda: all(num(uh(c, u), "polls") >= 1 for u in users), 20, "first polls")
    before = {u: uh(c, u) for u in users}
    fault = sim.ok("POST", "/sim/faults", {"kind": "status", "status": 503, "path": "/api/token", "count": -1})
    for u in users:
        sim.ok("POST", "/sim/users/%s/expire" % u)
    end = time.time() + 30
    while time.time() < end:
        for u in users:
            h = uh(c, u)
            check(h["status"] == "active", "a transient failure never stops a user: %r" % h)
            for f in ("access_token", "refresh_token"):
                check(h[f] == before[u][f], "user %s keeps its %s during the outage" % (u, f))
        time.sleep(0.5)
    for u in users:
        h = uh(c, u)
        check(num(h, "fails") >= 1 and "503" in h.get("last_error", ""), "the outage is recorded: %r" % h)
        check(c.cmd("ZSCORE", "sw:{app1}:due", u) is not None or c.cmd("ZSCORE", "sw:{app1}:leases", u) is not None,
              "still scheduled")
    check(api_token_calls(sim) >= len(users), "the workers kept trying")
    sim.ok("DELETE", "/sim/faults/%d" % fault["id"])
    wait_for(lambda: all(num(uh(c, u), "refreshes") == 1 and good(uh(c, u)) and
                         uh(c, u).get("fails", "0") == "0" for u in users), 30, "users resume after the outage")
    check(not [e for e in sub.drain() if e["type"] == "reauth_required"], "nobody was asked to re-authorise")
    g = grants(sim)
    check(g["refresh_token"] == len(users), "one successful refresh per user: %r" % g)
    for u in users:
        check(uh(c, u)["status"] == "active", "active")


def test_invalid_client_one_alert_users_wait():
    users = ["ic%d" % i for i in range(6)]
    r, sim, toks = world(users)
    c = r.client()
    # The app's secret in spotwatch is wrong (the simulator knows the right one).
    spotwatch(r, "app", "add", "app1", "--client-id", "cid-app1", "--client-secret", "wrong-secret-0123",
              "--mode", "extended", sim=sim, extra=FAST)
    ws = [Worker(r, sim, FAST), Worker(r, sim, FAST)]
    wait_for(lambda: all(num(uh(c, u), "polls") >= 1 for u in users), 20, "first polls")
    before = {u: uh(c, u) for u in users}
    for u in users:
        sim.ok("POST", "/sim/users/%s/expire" % u)
    wait_for(lambda: c.hgetall("sw:{app1}:rl").get("block_reason") == "invalid_client", 20, "app blocked")
    time.sleep(2.0)
    lines = [ln for w in ws for ln in w.output().splitlines() if "invalid_client" in ln]
    check(1 <= len(lines) <= len(ws), "one alert for the app (at most one per worker), not one per user: %r" % lines)
    check(all("app1" in ln for ln in lines), "the alert names the app: %r" % lines)
    failed = grants(sim)["failed"]
    check(failed <= len(users), "the token endpoint was not hammered: %d failures" % failed)
    for u in users:
        h = uh(c, u)
        check(h["status"] == "active", "users wait, they are not stopped: %r" % h)
        check(h["refresh_token"] == before[u]["refresh_token"], "refresh token kept")
        check(c.cmd("ZSCORE", "sw:{app1}:due", u) is not None, "user %s still scheduled" % u)
    st = json.loads(spotwatch(r, "status", "--json", sim=sim).stdout)
    check(st["apps"][0]["limiter"]["state"] == "invalid_client", "status shows the app's problem: %r" % st["apps"][0])
    # Fixing the credentials lets the users resume without waiting out the block.
    spotwatch(r, "app", "add", "app1", "--client-id", "cid-app1", "--client-secret", "s3cret-app",
              "--mode", "extended", sim=sim, extra=FAST)
    wait_for(lambda: all(num(uh(c, u), "refreshes") == 1 and good(uh(c, u)) for u in users),
             40, "users resume once the credentials are fixed")


# --- 5. encryption at rest -----------------------------------------------------------

def keyfile():
    path = keygen()
    check(os.stat(path).st_mode & 0o777 == 0o600, "key file mode 0600")
    return path


def hgetall_cli(r, key):
    """The hash, and `redis-cli HGETALL key` as an operator would see it
    (the binary tokens escaped, \\x..)."""
    h = r.client().hgetall(key)
    if shutil.which("redis-cli"):
        out = subprocess.run(["redis-cli", "--no-raw", "-p", str(r.port), "HGETALL", key], capture_output=True,
                             timeout=10).stdout.decode("utf-8", "replace")
        return h, out
    return h, "\n".join("%r\n%r" % kv for kv in h.items())


def sealed_world(users):
    """users with sealed tokens, playing, polled by a worker; the first one
    refreshed once. Returns r, sim, toks, the worker and a client."""
    ex = ["--token-key-file", keyfile()]
    r, sim, toks = world(users, extra=ex)
    for u in users:
        play(sim, u, ["x-" + u])
    w = Worker(r, sim, FAST + ex)
    c = r.client()
    wait_for(lambda: all(num(uh(c, u), "polls") >= 2 for u in users), 20, "polled with sealed tokens")
    sim.ok("POST", "/sim/users/%s/expire" % users[0])
    wait_for(lambda: num(uh(c, users[0]), "refreshes") == 1 and good(uh(c, users[0])), 20,
             "a refresh stored by the worker")
    return r, sim, toks, w, c


def test_tokens_encrypted_at_rest():
    users = ["e1", "e2"]
    r, sim, toks, w, c = sealed_world(users)
    check("allow-plaintext-tokens" not in w.output(), "no plaintext warning with a key file")
    for u in users:
        h, raw = hgetall_cli(r, "sw:{app1}:user:%s" % u)
        for f in ("access_token", "refresh_token"):
            check(sealed_kid(h[f]) == 1, "%s of %s is sealed (binary) under key 1: %r" % (f, u, h[f][:8]))
        for t in toks.values():
            for s in (t["access_token"], t["refresh_token"]):
                check(s not in raw, "a token in clear in HGETALL of %s" % u)
    a, raw = hgetall_cli(r, "sw:{app1}:app")
    check(a["client_secret"].startswith("v1.1.") and "s3cret-app" not in raw, "the client secret is sealed")
    check_no_failures(c, users)


def test_stored_tokens_binary_and_user_hash_compact():
    """The tokens are stored in the binary format: not printable text, packed
    (a 206-char token in under 200 bytes), whereas every other field stays readable; and
    a polled user's hash stays a listpack under the advised
    hash-max-listpack-value (which the tests' Redis uses) within 1 KiB."""
    users = ["b1", "b2"]
    r, sim, toks, w, c = sealed_world(users)
    check(c.cmd("CONFIG", "GET", "hash-max-listpack-value")[1] == "512", "the tests' Redis uses the advised setting")
    check(all(len(toks[u]["access_token"]) >= 200 and len(toks[u]["refresh_token"]) >= 130 for u in users),
          "Spotify-length tokens")
    polls = num(uh(c, "b1"), "polls")
    wait_for(lambda: num(uh(c, "b1"), "polls") >= polls + 2, 20, "polled after the refresh")
    for u in users:
        key = "sw:{app1}:user:%s" % u
        h = uh(c, u)
        for f in ("access_token", "refresh_token"):
            b = h[f].encode() if isinstance(h[f], str) else h[f]
            check(sealed_kid(h[f]) == 1, "%s of %s is in the binary format: %r" % (f, u, b[:8]))
            check(any(x < 0x20 or x >= 0x7F for x in b) and b"\0" not in b, "%s of %s: binary, NUL-free" % (f, u))
            # Packed 6 bits a character, plus 31 bytes of header, nonce and tag (and stuffing).
            check(len(b) <= len(toks[u][f]) * 3 // 4 + 40, "%s of %s: %d bytes, packed" % (f, u, len(b)))
        for f, v in h.items():
            if f not in ("access_token", "refresh_token"):
                check(isinstance(v, str) and v.isprintable(), "%s of %s stays readable: %r" % (f, u, v))
        check(c.cmd("OBJECT", "ENCODING", key) == "listpack", "the user hash of %s is a listpack" % u)
        mem = c.cmd("MEMORY", "USAGE", key, "SAMPLES", "0")
        check(mem <= 1024, "the user hash of %s takes %d bytes (at most 1024)" % (u, mem))
    check(w.stop() == 0, "worker stopped")
    check_no_failures(c, users)


def v1_seal(keyfile_path, ad, text):
    """A value in the text format earlier releases wrote ("v1.<kid>.<base64>",
    include/base/crypto.h), under the key file's newest key."""
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError:
        skip("python3-cryptography is not installed")
    with open(keyfile_path) as f:
        kid, hexkey = [ln.split() for ln in f if ln.strip() and not ln.startswith("#")][-1]
    nonce = os.urandom(12)
    sealed = AESGCM(bytes.fromhex(hexkey)).encrypt(nonce, text.encode(), ad.encode())
    return "v1.%s.%s" % (kid, base64.b64encode(nonce + sealed).decode())


def test_text_tokens_of_earlier_releases_open_and_are_rewritten():
    """Tokens stored as text by an earlier release are polled with as they are,
    and the next refresh stores both as binary (the kept refresh token too)."""
    kf = keyfile()
    ex = ["--token-key-file", kf]
    r, sim, toks = world(["t1"], extra=ex)
    c = r.client()
    key = "sw:{app1}:user:t1"
    c.cmd("HSET", key, "access_token", v1_seal(kf, "user:t1", toks["t1"]["access_token"]),
          "refresh_token", v1_seal(kf, "user:t1", toks["t1"]["refresh_token"]))
    play(sim, "t1", ["x-t1"])
    w = Worker(r, sim, FAST + ex)
    wait_for(lambda: num(uh(c, "t1"), "polls") >= 2 and good(uh(c, "t1")), 20, "polled with the text tokens")
    check(uh(c, "t1")["access_token"].startswith("v1.1."), "not rewritten before a refresh")
    sim.ok("POST", "/sim/users/t1/expire")
    wait_for(lambda: num(uh(c, "t1"), "refreshes") == 1 and good(uh(c, "t1")), 20, "refreshed")
    h = uh(c, "t1")
    check(sealed_kid(h["access_token"]) == 1 and sealed_kid(h["refresh_token"]) == 1,
          "both tokens rewritten as binary: %r" % {f: h[f][:6] for f in ("access_token", "refresh_token")})
    check(num(h, "rotations") == 0, "a rewrite is not a rotation")
    check(w.stop() == 0, "worker stopped")
    check_no_failures(c, ["t1"])


def test_ciphertext_moved_to_another_user_fails():
    """A sealed value binds its owner: copied into another user's hash it does
    not open. An access token that does not open is replaced by a refresh with
    the user's own refresh token; a refresh token that does not open leaves a
    clear error and retries with backoff (it is never sent anywhere, and the
    user is not marked reauth_required, since a missing key after a botched
    rotation must not log everyone out)."""
    kf = keyfile()
    ex = ["--token-key-file", kf]
    r, sim, toks = world(["a", "b"], extra=ex)
    w = Worker(r, sim, FAST + ex)
    c = r.client()
    wait_for(lambda: num(uh(c, "a"), "polls") >= 2 and num(uh(c, "b"), "polls") >= 2, 20, "both polled")
    spotwatch(r, "watch", "stop", "a", sim=sim, extra=FAST + ex)
    wait_for(lambda: c.cmd("ZSCORE", "sw:{app1}:leases", "a") is None, 10, "a's last poll done")
    ha = uh(c, "a")
    sim.ok("POST", "/sim/stats/reset")

    # a's access token in b's hash: b refreshes with its own refresh token.
    c.cmd("HSET", "sw:{app1}:user:b", "access_token", ha["access_token"])
    wait_for(lambda: num(uh(c, "b"), "refreshes") == 1 and good(uh(c, "b")), 20,
             "b replaced the foreign access token by a refresh")
    check(uh(c, "b")["access_token"] != ha["access_token"], "b holds its own token again")
    check(any("unreadable" in ln and "user b" in ln for ln in w.output().splitlines()), "the reason is logged")

    # a's refresh token too: b cannot refresh; a clear error, and nothing sent with a's tokens.
    c.cmd("HSET", "sw:{app1}:user:b", "access_token", ha["access_token"], "refresh_token", ha["refresh_token"])
    wait_for(lambda: "authentication failed" in uh(c, "b").get("last_error", ""), 20, "a clear error for b")
    time.sleep(1.0)
    st = sim.stats()
    check(st["requests"]["by_user"].get("a", 0) == 0, "nothing was sent with a's tokens: %r" % st["requests"]["by_user"])
    check(st["token_grants"]["by_user"].get("a", 0) == 0, "no refresh with a's refresh token")
    h = uh(c, "b")
    check(h["status"] == "active" and num(h, "fails") >= 1, "b retries with backoff: %r" % h)
    check(uh(c, "a")["access_token"] == ha["access_token"], "a untouched")


def test_key_rotation_keeps_every_user_working():
    kf = keyfile()
    ex = ["--token-key-file", kf]
    users = ["k1", "k2", "k3"]
    r, sim, toks = world(users, extra=ex)
    ws = [Worker(r, sim, FAST + ex) for _ in range(2)]
    c = r.client()
    wait_for(lambda: all(num(uh(c, u), "polls") >= 2 for u in users), 20, "polled under key 1")
    keygen(kf)
    with open(kf) as f:
        kids = [ln.split()[0] for ln in f if ln.strip() and not ln.startswith("#")]
    check(kids == ["1", "2"], "two keys, 2 is current: %r" % kids)
    for w in ws:
        check(w.stop() == 0, "worker stopped")
    ws = [Worker(r, sim, FAST + ex) for _ in range(2)]
    polls = {u: num(uh(c, u), "polls") for u in users}
    wait_for(lambda: all(num(uh(c, u), "polls") >= polls[u] + 3 for u in users), 20,
             "every user polled after the rotation (old ciphertexts still open)")
    for u in users:
        check(sealed_kid(uh(c, u)["access_token"]) == 1, "not rewritten before the next refresh")
    for u in users:
        sim.ok("POST", "/sim/users/%s/expire" % u)
    wait_for(lambda: all(num(uh(c, u), "refreshes") == 1 and good(uh(c, u)) for u in users),
             20, "refreshed under the new key")
    for u in users:
        h = uh(c, u)
        check(sealed_kid(h["access_token"]) == 2, "the new access token is sealed under key 2")
        check(sealed_kid(h["refresh_token"]) == 2, "the kept refresh token is re-sealed under key 2")
        check(num(h, "rotations") == 0, "a re-seal is not a rotation")
    polls = {u: num(uh(c, u), "polls") for u in users}
    wait_for(lambda: all(num(uh(c, u), "polls") >= polls[u] + 2 for u in users), 20, "still polling")
    check_no_failures(c, users)


def test_refuses_plaintext_without_explicit_permission():
    r = RedisServer()
    argv = [SPOTWATCH, "--redis-port", str(r.port), "worker"]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    with open(os.path.join(LOGDIR, "refuse-%d.log" % os.getpid()), "w") as f:
        f.write(p.stdout + p.stderr)
    check(p.returncode != 0, "a worker without a key file must not start (rc %d)" % p.returncode)
    check("token-key-file" in p.stderr and "allow-plaintext-tokens" in p.stderr, "clear message: %r" % p.stderr)
    c = r.client()
    check(c.cmd("ZCARD", "sw:workers") == 0, "it never registered")
    # A key file readable by others is refused too.
    kf = keyfile()
    os.chmod(kf, 0o644)
    p = subprocess.run(argv[:-1] + ["--token-key-file", kf, "worker"], capture_output=True, text=True, timeout=20)
    check(p.returncode != 0 and "chmod 600" in p.stderr, "world-readable key file refused: %r" % p.stderr)
    # With the explicit permission it starts, and warns.
    w = Worker(r, None)
    wait_for(lambda: "allow-plaintext-tokens yes" in w.output(), 10, "the plaintext warning")
    check(w.alive(), "worker runs in plaintext mode when allowed")


# --- refresh-token age in user show and status ------------------------------------------

def test_refresh_token_near_expiry_shown():
    r, sim, toks = world(["old", "new"])
    c = r.client()
    t = c.cmd("TIME")
    now = int(t[0]) * 1000 + int(t[1]) // 1000
    c.cmd("HSET", "sw:{app1}:user:old", "authorized_at", now - 175 * DAY_MS)
    old = json.loads(spotwatch(r, "user", "show", "old", "--json", sim=sim).stdout)
    new = json.loads(spotwatch(r, "user", "show", "new", "--json", sim=sim).stdout)
    check(old["refresh_token_near_expiry"] is True and old["refresh_token_expires_in_ms"] < 10 * DAY_MS,
          "old: %r" % old)
    check(new["refresh_token_near_expiry"] is False and new["refresh_token_expires_in_ms"] > 170 * DAY_MS,
          "new: %r" % new)
    text = spotwatch(r, "user", "show", "old", sim=sim).stdout
    check("refresh_token_near_expiry" in text and "yes" in text, text)
    s = json.loads(spotwatch(r, "status", "--json", sim=sim).stdout)
    check(s["refresh_tokens_near_expiry"] == {"count": 1, "users": ["old"]}, "status: %r" % s.get("refresh_tokens_near_expiry"))
    text = spotwatch(r, "status", sim=sim).stdout
    check("near expiry: 1" in text and "old" in text, text)


def test_token_sealed_anew_elsewhere_is_used_at_once():
    """A worker keeps the access tokens it opened in memory, keyed by the
    sealed value each came from (include/worker/token_cache.h). When another
    process stores a new token (`user add` here seals it anew, as another
    worker's refresh does) and the old one dies, the worker's very next
    poll uses the new one: no 401, no refresh of its own. The worker is
    stopped (SIGSTOP) meanwhile, so its memory holds the old token when the
    record changes."""
    kf = keyfile()
    ex = ["--token-key-file", kf]
    r, sim, toks = world(["a"], extra=ex)
    w = Worker(r, sim, FAST + ex)
    c = r.client()
    wait_for(lambda: num(uh(c, "a"), "polls") >= 3, 20, "a polled a few times with its token")
    before = uh(c, "a")
    w.proc.signal(signal.SIGSTOP)
    try:
        sim.ok("POST", "/sim/users/a/expire", {})   # the token the worker holds dies
        tok = sim.ok("POST", "/sim/users/a/tokens",
                     {"client_id": "cid-app1", "scope": "user-read-currently-playing user-read-playback-state"})
        spotwatch(r, "user", "add", "a", "--app", "app1", "--access-token", tok["access_token"],
                  "--refresh-token", tok["refresh_token"], "--expires-in", str(tok["expires_in"]),
                  sim=sim, extra=FAST + ex)
        sim.ok("POST", "/sim/stats/reset")
    finally:
        w.proc.signal(signal.SIGCONT)
    check(uh(c, "a")["access_token"] != before["access_token"], "the record holds the new sealed token")
    p0 = num(uh(c, "a"), "polls")
    wait_for(lambda: num(uh(c, "a"), "polls") >= p0 + 3 and good(uh(c, "a")), 20, "a polled again")
    check(status_count(sim, 401) == 0, "no poll went out with the token held in memory")
    check(num(uh(c, "a"), "refreshes") == num(before, "refreshes"), "no refresh was needed")
    check(api_token_calls(sim) == 0, "the token endpoint was not called")

    # The token dies again, with nothing stored instead: the 401 drops it
    # from memory and the worker refreshes, then polls on with the new one.
    sim.ok("POST", "/sim/users/a/expire", {})
    wait_for(lambda: num(uh(c, "a"), "refreshes") == num(before, "refreshes") + 1, 20, "a refreshed once")
    p1 = num(uh(c, "a"), "polls")
    sim.ok("POST", "/sim/stats/reset")
    wait_for(lambda: num(uh(c, "a"), "polls") >= p1 + 3 and good(uh(c, "a")), 20, "a polled on")
    check(status_count(sim, 401) == 0, "the refreshed token is used, not the dead one")
    check(num(uh(c, "a"), "refreshes") == num(before, "refreshes") + 1, "one refresh, no loop")
