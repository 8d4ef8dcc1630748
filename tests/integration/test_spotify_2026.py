"""Spotify as it is in 2026 (issue 14, worker and serve side): every refusal
text recognised, the owner-Premium block of the app, /me/player with devices,
accounts linked by account_id, and the 429 variants. Real redis-server, the
simulator and real workers."""
import json
import time

from harness import *  # noqa: F401,F403

FAST = ["--poll-interval-ms", "300", "--smart-polling", "no", "--lease-ms", "2000",
        "--http-timeout-ms", "1000", "--backoff-base-ms", "200", "--backoff-max-ms", "1000"]


def world(users, allowlist=None, sim_args=None, mode="development", extra=None, app="app1"):
    r = RedisServer()
    sim = Sim(sim_args or [])
    ex = FAST + list(extra or [])
    setup_app(r, sim, app=app, users=users, mode=mode, allowlist=allowlist, extra=ex)
    toks = {u: add_user(r, sim, u, app=app, extra=ex) for u in users}
    return r, sim, toks


def uh(c, user, app="app1"):
    return c.hgetall("sw:{%s}:user:%s" % (app, user))


def calls_of(sim, user):
    return sim.stats()["requests"]["by_user"].get(user, 0)


NOT_REGISTERED_TEXTS = ["dashboard", "check_settings", "2026"]


def test_each_not_registered_text_stops_the_user():
    """The three not-allowlisted 403 texts, JSON and plain text: each user
    stopped as not_registered with a reason, one call, none after."""
    users = ["in"] + ["out-%s-%s" % (t.replace("_", ""), kind) for t in NOT_REGISTERED_TEXTS for kind in ("json", "text")]
    r, sim, _ = world(["in"], allowlist=["in"])
    # Seven users on a development app: spotwatch's own cap (max_users,
    # test_user_cap.py) lifted, so that Spotify's refusals are what is seen.
    spotwatch(r, "app", "add", "app1", "--client-id", "cid-app1", "--client-secret", "s3cret-app",
              "--max-users", "0", sim=sim, extra=FAST)
    play(sim, "in", ["a"])
    c = r.client()
    sub = Subscriber(r, "sw:playback:*", pattern=True)
    w = Worker(r, sim, FAST)
    for text in NOT_REGISTERED_TEXTS:
        for kind in ("json", "text"):
            u = "out-%s-%s" % (text.replace("_", ""), kind)
            sim.ok("POST", "/sim/config", {"not_registered_text": text, "allowlist_plain_text": kind == "text"})
            add_user(r, sim, u, extra=FAST)
            ev = sub.wait(lambda e, u=u: e["type"] == "not_registered" and e["user"] == u, 20,
                          "not_registered event for %s" % u)[-1]
            check(ev.get("reason"), "the event has a reason: %r" % ev)
            h = uh(c, u)
            check(h.get("status") == "not_registered", "%s: status %r" % (u, h.get("status")))
            check("allowlist" in h.get("reason", "").lower(), "%s: reason %r" % (u, h.get("reason")))
            check(c.cmd("ZSCORE", "sw:{app1}:due", u) is None, "%s off the schedule" % u)
            out = spotwatch(r, "user", "show", u, sim=sim).stdout
            check("not_registered" in out, "user show names the status: %s" % out)
    time.sleep(1.5)   # five poll intervals: a stopped user would have been called again
    by_user = sim.stats()["requests"]["by_user"]
    for u in users[1:]:
        check(by_user.get(u, 0) == 1, "exactly one call for %s: %r" % (u, by_user))
    check(uh(c, "in").get("status") == "active", "the allowlisted user goes on")
    check(sim.stats()["not_registered"] == 6, "six refusals: %r" % sim.stats()["not_registered"])
    check(w.alive(), "worker alive")


def test_unknown_registration_403_by_meaning():
    """A reworded not-registered 403 (a raw answer the worker has never seen)
    is read by its meaning; another 403 only backs the user off."""
    r, sim, _ = world(["a", "b"], mode="extended")
    play(sim, "a", ["x"])
    play(sim, "b", ["y"])
    sim.ok("POST", "/sim/faults", {"kind": "status", "status": 403, "user": "a", "count": -1,
                                   "body": "This Spotify user is not registered with the application yet."})
    sim.ok("POST", "/sim/faults", {"kind": "status", "status": 403, "user": "b", "count": -1,
                                   "body": "{\"error\":{\"status\":403,\"message\":\"Device not registered\"}}"})
    Worker(r, sim, FAST)
    c = r.client()
    wait_for(lambda: uh(c, "a").get("status") == "not_registered", 15, "reworded text -> not_registered")
    wait_for(lambda: int(uh(c, "b").get("errors") or 0) >= 2, 15, "plain 403 backs off")
    check(uh(c, "b").get("status") == "active", "a plain 403 does not stop the user")
    n = calls_of(sim, "a")
    time.sleep(1.0)
    check(calls_of(sim, "a") == n == 1, "no call after not_registered: %d" % calls_of(sim, "a"))


def _premium_world(plain, users=("p1", "p2", "p3"), probe_ms=3000, scale=30):
    r = RedisServer()
    sim = Sim(["--clock-scale", str(scale), "--owner-premium-plain-text", "true" if plain else "false"])
    port = free_port()
    ex = FAST + ["--owner-premium-probe-ms", str(probe_ms), "--metrics-listen", "127.0.0.1:%d" % port]
    setup_app(r, sim, users=list(users), mode="development", extra=ex)
    for u in users:
        add_user(r, sim, u, extra=ex)
        play(sim, u, [track("t-" + u, duration_ms=3600000)])
    return r, sim, ex, port


def _owner_premium_lapse(plain):
    users = ["p1", "p2", "p3"]
    probe_ms = 3000
    r, sim, ex, port = _premium_world(plain, users, probe_ms)
    c = r.client()
    sub = Subscriber(r, "sw:playback:*", pattern=True)
    w = Worker(r, sim, ex)
    for u in users:
        sub.wait(lambda e, u=u: e["type"] == "playback_started" and e["user"] == u, 15, "%s started" % u)
    # Ten simulated minutes at 30x: 20 real seconds.
    sim.ok("POST", "/sim/apps/cid-app1/premium", {"active": False, "for_ms": 600000})
    t0 = time.time()
    wait_for(lambda: c.cmd("HGET", "sw:{app1}:rl", "block_reason") == "owner_premium_required", 10,
             "the app blocked for its owner's Premium")
    st = json.loads(spotwatch(r, "status", "--json", sim=sim).stdout)
    text = json.dumps(st)
    check("owner_premium_required" in text, "status --json shows the block reason: %s" % text[:2000])
    check("owner_premium_required" in spotwatch(r, "status", sim=sim).stdout, "status shows the block reason")
    def metrics():
        body = http("GET", "http://127.0.0.1:%d/metrics" % port)[2]
        return body.decode() if isinstance(body, bytes) else body
    wait_for(lambda: 'spotwatch_app_blocks_total{reason="owner_premium_required"}' in metrics(), 5,
             "metrics name the block reason")
    for u in users:
        check(uh(c, u).get("status") == "active", "%s stays active while the app waits" % u)
    # Wait out the lapse, then every user is polled again, by itself.
    wait_for(lambda: sim.ok("GET", "/sim/apps/cid-app1")["owner_premium"], 40, "premium back in the simulator")
    lapse_s = time.time() - t0
    before = {u: int(uh(c, u).get("polls") or 0) for u in users}
    wait_for(lambda: all(int(uh(c, u).get("polls") or 0) >= before[u] + 3 for u in users), probe_ms / 1000 * 3 + 10,
             "every user polled again after the lapse")
    check(not c.cmd("HGET", "sw:{app1}:rl", "block_reason"), "the block lifted by itself")
    refused = sim.stats()["owner_premium_refused"]
    # The calls in flight when it lapsed (at most one per user), then one
    # probe per probe interval.
    most = len(users) + int(lapse_s / (probe_ms / 1000.0)) + 2
    check(1 <= refused <= most, "a handful of refused calls: %d (at most %d over %.1f s)" % (refused, most, lapse_s))
    for u in users:
        h = uh(c, u)
        check(h.get("status") == "active", "%s active: %r" % (u, h.get("status")))
        check(h.get("last_outcome") in ("ok", "nothing"), "%s polled fine: %r" % (u, h.get("last_outcome")))
    check(w.alive(), "worker alive")


def test_owner_premium_lapse_json():
    """Owner Premium lapses for 10 simulated minutes (JSON 403): the app is
    blocked with its reason, a handful of probes, every user resumes."""
    _owner_premium_lapse(False)


def test_owner_premium_lapse_plain_text():
    """The same with the plain-text 403."""
    _owner_premium_lapse(True)


# --- /me/player ---------------------------------------------------------------

def test_device_transfer_one_device_changed():
    """The poll reads /me/player: events carry the device, shuffle and repeat,
    and a transfer to another device yields exactly one device_changed."""
    r, sim, _ = world(["d1"], mode="extended")
    sim.ok("PUT", "/sim/users/d1/playback",
           {"queue": [track("long", duration_ms=3600000)], "is_playing": True,
            "devices": [{"id": "phone", "name": "Phone", "type": "Smartphone"},
                        {"id": "kitchen", "name": "Kitchen", "type": "Speaker"}],
            "device": {"id": "phone", "name": "Phone", "type": "Smartphone"},
            "shuffle_state": True, "repeat_state": "context"})
    sub = Subscriber(r, "sw:playback:d1")
    w = Worker(r, sim, FAST)
    ev = sub.wait(lambda e: e["type"] == "playback_started", 15, "started")[-1]
    check(ev["device"] == {"id": "phone", "name": "Phone", "type": "Smartphone"}, "device in the event: %r" % ev)
    check(ev.get("shuffle_state") is True and ev.get("repeat_state") == "context", "modes in the event: %r" % ev)
    check(sim.stats()["requests"]["by_path"].get("/v1/me/player", 0) >= 1, "the poll is /me/player")
    sim.ok("POST", "/sim/users/d1/transfer", {"device_id": "kitchen"})
    ev = sub.wait(lambda e: e["type"] == "device_changed", 15, "device_changed")[-1]
    check(ev["device"]["id"] == "kitchen" and ev["track"]["id"] == "long", "moved to the kitchen: %r" % ev)
    c = r.client()
    polls = int(uh(c, "d1")["polls"])
    wait_for(lambda: int(uh(c, "d1")["polls"]) >= polls + 5, 15, "five more polls")
    sub.drain()
    kinds = [e["type"] for e in sub.events]
    check(kinds == ["playback_started", "device_changed"], "exactly one device_changed: %r" % kinds)
    # Shuffle and repeat are no change of their own.
    sim.ok("POST", "/sim/users/d1/shuffle", {"state": False})
    polls = int(uh(c, "d1")["polls"])
    wait_for(lambda: int(uh(c, "d1")["polls"]) >= polls + 3, 15, "three more polls")
    sub.drain()
    check(len(sub.events) == 2, "no event for a shuffle toggle: %r" % [e["type"] for e in sub.events])
    check(w.alive(), "worker alive")


def test_poll_endpoint_currently_playing():
    """poll-endpoint currently-playing: the old call, events without device."""
    ex = ["--poll-endpoint", "currently-playing"]
    r, sim, _ = world(["cp"], mode="extended", extra=ex)
    play(sim, "cp", [track("x", duration_ms=3600000)])
    sub = Subscriber(r, "sw:playback:cp")
    Worker(r, sim, FAST + ex)
    ev = sub.wait(lambda e: e["type"] == "playback_started", 15, "started")[-1]
    check(ev["device"] is None and "shuffle_state" not in ev and "repeat_state" not in ev,
          "currently-playing carries no device or modes: %r" % ev)
    by_path = sim.stats()["requests"]["by_path"]
    check(by_path.get("/v1/me/player/currently-playing", 0) >= 1 and by_path.get("/v1/me/player", 0) == 0,
          "the poll is currently-playing: %r" % by_path)
    check("poll-endpoint currently-playing" in spotwatch(r, "config", sim=sim, extra=ex).stdout, "config shows it")


# --- 429 variants -------------------------------------------------------------

def _rate_limit_variant(variant, default_ms=4000):
    """One rate-limit 429 of the given body variant: the app blocked for at
    least retry-after-default-ms (when the answer gives no usable
    Retry-After), as rate_limited, and polling resumes after it."""
    ex = ["--retry-after-default-ms", str(default_ms)]
    r, sim, _ = world(["r1", "r2"], mode="extended", extra=ex,
                      sim_args=["--rate-limit", "2", "--window-ms", "1000", "--rate-limit-body", variant])
    for u in ("r1", "r2"):
        play(sim, u, [track("t" + u, duration_ms=3600000)])
    c = r.client()
    Worker(r, sim, FAST + ex)
    rl = wait_for(lambda: (lambda h: h if h.get("blocked_at") else None)(c.hgetall("sw:{app1}:rl")), 20,
                  "the app blocked by a %s 429" % variant)
    check(rl.get("block_reason") == "rate_limited", "%s: reason %r" % (variant, rl.get("block_reason")))
    ms = int(rl["blocked_until"]) - int(rl["blocked_at"])
    return r, sim, c, ms


def test_429_retry_after_0_uses_the_default():
    r, sim, c, ms = _rate_limit_variant("retry_after_0")
    check(ms >= 4000, "Retry-After: 0 never shortens the block below the default: %d ms" % ms)


def test_429_empty_body_no_retry_after_uses_the_default():
    r, sim, c, ms = _rate_limit_variant("empty")
    check(ms >= 4000, "no Retry-After: the default: %d ms" % ms)
    for u in ("r1", "r2"):
        check(uh(c, u).get("status") == "active", "the user stays active")


def test_429_plain_text_body():
    r, sim, c, ms = _rate_limit_variant("text")
    check(1000 <= ms <= 2000, "the text 429's Retry-After (1 s) is used: %d ms" % ms)
    st = c.hgetall("sw:{app1}:stats")
    check(int(st.get("r429", 0)) >= 1, "counted as a 429: %r" % st)


def test_429_json_body():
    r, sim, c, ms = _rate_limit_variant("json")
    check(1000 <= ms <= 2000, "the JSON 429's Retry-After (1 s) is used: %d ms" % ms)


# --- accounts linked by account_id ----------------------------------------------

def test_accounts_linked_by_account_id():
    """serve links a Spotify account by /v1/me's account_id, falling back to
    id: two Spotify ids with one account_id are one account (a second user
    id is refused), and an answer without account_id links by id."""
    import test_oauth as oauth
    r, sim, serve, keys = oauth.world()
    c = r.client()
    for sid in ("sp-x1", "sp-x2"):
        sim.ok("POST", "/sim/users", {"id": sid, "display_name": "X", "account_id": "acct-shared-1"})
    oauth.check_page(oauth_login(serve, "u1", "sp-x1"), 200, "connected")
    check(uh(c, "u1").get("spotify_id") == "acct-shared-1", "linked by account_id: %r" % uh(c, "u1").get("spotify_id"))
    check(c.cmd("HGET", "sw:{app1}:accounts", "acct-shared-1") == "u1", "the account map holds the account_id")
    check(c.cmd("HGET", "sw:{app1}:accounts", "sp-x1") is None, "not the user id")
    oauth.check_page(oauth_login(serve, "u2", "sp-x2"), 409, "already connected")
    check(c.cmd("EXISTS", "sw:{app1}:user:u2") == 0, "nothing stored for the second user id")
    # An answer without account_id: the user id links.
    st, _ = sim.ctl("POST", "/sim/users", {"id": "sp-old", "display_name": "Old", "account_id": ""})
    if st == 200 and sim.ok("GET", "/sim/users/sp-old")["account_id"] == "":
        oauth.check_page(oauth_login(serve, "u3", "sp-old"), 200, "connected")
        check(uh(c, "u3").get("spotify_id") == "sp-old", "fell back to id: %r" % uh(c, "u3").get("spotify_id"))
