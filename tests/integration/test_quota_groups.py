"""Issue 14: the development-mode quota is a developer account's, split into
endpoint buckets, and it lasts the day. Must show 3 and 8, against a real
redis-server, the real spotify-sim and real `spotwatch worker` processes,
plus the ledger script (lua/allowance.lua) on its own.

Compressed day: the simulator runs its clock --clock-scale times faster, so
its 24 h quota window is 86,400,000 / scale real ms; the app's quota window
(`app add --quota-window-ms`) is set to the same real length, so one test
runs a whole quota day in well under a minute.
"""
import json
import threading
import time

from harness import *  # noqa: F401,F403

DAY_MS = 86400000
PLAYER = "user-read-currently-playing user-read-playback-state"
FULL = PLAYER + " user-read-recently-played"
RECENT = "/v1/me/player/recently-played"


def redis_ms(c):
    s, us = c.cmd("TIME")
    return int(s) * 1000 + int(us) // 1000


def dev_app(r, sim, app, developer, quota=None, window_ms=None, users=(), extra=None):
    """A development-mode app of developer in the simulator and in spotwatch."""
    cid = "cid-" + app
    sim.ok("POST", "/sim/apps", {"client_id": cid, "client_secret": "s3cret-" + cid,
                                 "redirect_uris": ["http://127.0.0.1/callback"], "mode": "development",
                                 "allowlist": list(users), "developer": developer})
    args = ["app", "add", app, "--client-id", cid, "--client-secret", "s3cret-" + cid, "--mode", "development",
            "--developer", developer]
    if quota is not None:
        args += ["--quota", str(quota)]
    if window_ms is not None:
        args += ["--quota-window-ms", str(window_ms)]
    spotwatch(r, *args, extra=extra)
    return cid


def sim_used(sim, developer):
    """The simulator's own count of the developer's calls in its rolling 24 h,
    every bucket together."""
    q = sim.ok("GET", "/sim/developers/" + developer)["quota"]
    return sum(b["used"] for b in q.values())


def long_queue(prefix, n=24, ms=90 * 60 * 1000):
    return [track("%s%d" % (prefix, i), duration_ms=ms) for i in range(n)]


def bucket_refused(sim, c, developer, bucket, apps):
    """Waits for the simulator's first QUOTA_EXCEEDED of bucket; then the
    developer's ledger must hold the block for hours, and every one of apps
    learns it (its :rl's qblock_<bucket>)."""
    wait_for(lambda: sim.stats()["quota_exceeded_by_bucket"].get(bucket, 0) >= 1, 30,
             "bucket %s refused with QUOTA_EXCEEDED" % bucket)
    led = c.hgetall("sw:{dev:%s}:quota" % developer)
    check(int(led.get("block_" + bucket, 0)) > redis_ms(c) + 3600 * 1000,
          "the developer's ledger holds the %s block for hours: %r" % (bucket, led))
    for app in apps:
        wait_for(lambda: int(c.hgetall("sw:{%s}:rl" % app).get("qblock_" + bucket, 0)) > redis_ms(c), 10,
                 "%s knows the %s block" % (app, bucket))


def stays(fn, seconds, msg):
    end = time.time() + seconds
    while time.time() < end:
        check(fn(), msg)
        time.sleep(0.05)


# --- the ledger on its own ----------------------------------------------------

def ledger(c, sha, mode, app="a1", quota=0, window=DAY_MS, want=0, users=1, bucket="", block_ms=0,
           key="sw:{dev:d1}:quota"):
    r = c.cmd("EVALSHA", sha, 1, key, mode, app, quota, window, want, users, bucket, block_ms)
    names = ["code", "granted", "slot", "until_ms", "blocks", "pace_ms", "limit", "used", "left_ms", "now_ms"]
    out = dict(zip(names, r))
    for k in names:
        if k != "blocks":
            out[k] = int(out[k])
    return out


def test_ledger_caps_the_window_and_learns_the_limit():
    """allowance.lua: two apps taking chunks from one developer never get
    more than the limit together; the chunk is small; a grant past the limit
    is refused with the moment the oldest slot leaves; the pace is time left
    x users / calls left; a QUOTA_EXCEEDED block is seen by every app; with
    no quota configured, the count at the first QUOTA_EXCEEDED becomes the
    limit."""
    r = RedisServer()
    c = r.client()
    sha = c.cmd("SCRIPT", "LOAD", lua_source("allowance"))
    got = {"a1": 0, "a2": 0}
    for i in range(200):
        app = "a1" if i % 2 else "a2"
        g = ledger(c, sha, "take", app=app, quota=100, want=50, users=3)
        check(g["granted"] <= 1, "a chunk is at most a quarter of a slot's share (100/25/4 = 1): %r" % g)
        got[app] += g["granted"]
        if g["code"] != 0:
            check(g["granted"] == 0 and g["until_ms"] > g["now_ms"], "refused until the oldest slot leaves: %r" % g)
            break
    check(got["a1"] + got["a2"] == 100 and got["a1"] > 0 and got["a2"] > 0,
          "two apps share one limit of 100: %r" % got)
    g = ledger(c, sha, "take", app="a1", quota=100, want=5, users=3)
    check(g["code"] == 3 and g["granted"] == 0 and g["used"] == 100, "spent: %r" % g)
    # The pace: 6 users over every app, calls left 100 - 10 = 90.
    key = "sw:{dev:d2}:quota"
    for _ in range(10):
        ledger(c, sha, "take", app="b1", quota=1000, want=10, users=4, key=key)
    g = ledger(c, sha, "take", app="b2", quota=1000, want=0, users=2, key=key)
    expect = g["left_ms"] * 6 // (1000 - g["used"])
    check(abs(g["pace_ms"] - expect) <= 1 and g["pace_ms"] > 0, "pace = left x users / calls left: %r" % g)
    # A block of one bucket is every app's; learned limit without a quota.
    key = "sw:{dev:d3}:quota"
    for _ in range(3):
        ledger(c, sha, "take", app="c1", want=20, key=key)
    g = ledger(c, sha, "block", app="c1", bucket="recent", block_ms=3600000, key=key)
    check(g["limit"] == 0, "a recently-played refusal says nothing of the other buckets' limit: %r" % g)
    g = ledger(c, sha, "take", app="c2", want=5, key=key)
    check(g["code"] == 0 and "recent:" in g["blocks"] and "player" not in g["blocks"],
          "a sibling sees the recent block only: %r" % g)
    g = ledger(c, sha, "block", app="c1", bucket="player", block_ms=3600000, key=key)
    check(g["limit"] == 65, "the count at the player's QUOTA_EXCEEDED is the limit learned: %r" % g)
    g = ledger(c, sha, "take", app="c2", want=5, key=key)
    check(g["code"] == 3 and "player:" in g["blocks"], "and applies: %r" % g)
    g = ledger(c, sha, "block", app="c1", bucket="bogus{x}", block_ms=1000, key=key)
    check("other:" in g["blocks"], "an unknown bucket is 'other': %r" % g)


def claim(c, sha, allow=None):
    """claim.lua for app q1 (CLAIM_ARGS' order), with an allowance handed over
    (allowance.lua's reply) or none."""
    keys = ["sw:{q1}:%s" % k for k in ("due", "leases", "rl", "calls", "app", "events", "stats", "broken", "confirm",
                                       "members")]
    argv = ["sw:{q1}:user:", "8", "10000", "60000", "0", "0", "0", "1000", "sw:playback:", "0", "0"]
    if allow:
        argv += [allow["granted"], allow["slot"], allow["code"], allow["until_ms"], allow["blocks"],
                 allow["pace_ms"], allow["limit"], allow["used"], allow["left_ms"]]
    else:
        argv += [""] * 9
    rep = c.cmd("EVALSHA", sha, len(keys), *(keys + argv))
    head = dict(zip(["code", "wake_ms", "now_ms", "speed", "developer", "quota", "quota_window_ms", "want", "users"],
                    rep))
    return head, (len(rep) - 9) // 12


def test_claim_spends_allowances_within_their_slot():
    """claim.lua and oauth_slot.lua on their own: a metered app with no
    allowance answers LIMIT_ALLOWANCE with what the ledger needs; the
    allowance handed over is spent with the users taken; one of a past slot
    is dropped; an OAuth callback borrows and the next allowance pays the
    debt first; the ledger's blocks are copied (recent: backfills only)."""
    r = RedisServer()
    c = r.client()
    csha = c.cmd("SCRIPT", "LOAD", lua_source("claim"))
    asha = c.cmd("SCRIPT", "LOAD", lua_source("allowance"))
    osha = c.cmd("SCRIPT", "LOAD", lua_source("oauth_slot"))
    c.cmd("HSET", "sw:{q1}:app", "mode", "development", "client_id", "cid", "developer", "dq", "quota_24h", "400")
    now = redis_ms(c)
    for u in ("u1", "u2", "u3"):
        c.cmd("HSET", "sw:{q1}:user:" + u, "status", "active", "access_token", "plain.x", "expires_at",
              now + 3600000, "fence", "0")
        c.cmd("ZADD", "sw:{q1}:due", now - 10, u)
    head, jobs = claim(c, csha)
    check(head["code"] == 4 and jobs == 0 and head["developer"] == "dq" and int(head["quota"]) == 400 and
          int(head["users"]) == 3 and int(head["quota_window_ms"]) == DAY_MS, "allowance wanted: %r" % head)
    a = ledger(c, asha, "take", app="q1", quota=400, want=int(head["want"]), users=3, key="sw:{dev:dq}:quota")
    check(a["granted"] == 4, "a chunk of 400 / 100: %r" % a)   # quarter of a slot's share
    a["granted"] = 2
    head, jobs = claim(c, csha, {k: str(v) for k, v in a.items()})
    check(head["code"] == 0 and jobs == 2, "two users taken with the allowance of 2: %r" % head)
    rl = c.hgetall("sw:{q1}:rl")
    check(rl["allow_left"] == "0" and int(rl["pace_ms"]) > 0 and rl["dev_limit"] == "400",
          "spent, and the pace copied: %r" % rl)
    old = {k: str(v) for k, v in a.items()}
    old["slot"] = str(a["slot"] - 1)
    head, jobs = claim(c, csha, old)
    check(head["code"] == 4 and jobs == 0, "an allowance of a past slot is never spent: %r" % head)
    # An OAuth callback (2 calls) with no allowance left borrows them.
    okeys = ["sw:{q1}:rl", "sw:{q1}:calls", "sw:{q1}:app", "sw:{q1}:stats"]
    rep = c.cmd("EVALSHA", osha, 4, *(okeys + ["take", "0", "0", "2", "oauth:n1", "", ""]))
    check(rep[0] == 0 and c.hgetall("sw:{q1}:rl")["allow_debt"] == "2", "the login borrowed 2: %r" % rep)
    a["granted"], a["blocks"] = 3, "recent:%d" % (now + 3600000)
    head, jobs = claim(c, csha, {k: str(v) for k, v in a.items()})
    rl = c.hgetall("sw:{q1}:rl")
    check(jobs == 1 and rl["allow_debt"] == "0" and rl["allow_left"] == "0",
          "the debt paid first, then one user: %r %r" % (head, rl))
    check(int(rl["qblock_recent"]) == now + 3600000 and rl.get("block_reason") is None,
          "the ledger's recent block copied, the app not blocked: %r" % rl)
    # A stale copy of the ledger is refreshed, asking only for what is missing.
    c.cmd("HSET", "sw:{q1}:rl", "allow_left", "50", "dev_synced_at", "0")
    c.cmd("ZADD", "sw:{q1}:due", now - 10, "u1")
    head, jobs = claim(c, csha)
    check(head["code"] == 4 and int(head["want"]) == 0, "a stale copy asks for no more calls: %r" % head)


# --- must show 3 ------------------------------------------------------------

def test_two_apps_of_one_developer_share_one_quota():
    """Must show 3, first half: two development apps of one developer, each
    `--quota N`, five users each, on a day compressed to 24 s: the
    simulator's developer view (its rolling 24 h count, every bucket) never
    holds more than N calls, though its own limit is far above (so only
    spotwatch holds them back) and the users would poll every 100 ms; both
    apps get a share, and together they use most of the N."""
    n, scale = 60, 3600
    day_ms = DAY_MS // scale                      # 24 s real
    r = RedisServer()
    sim = Sim(["--clock-scale", str(scale)])
    sim.ok("POST", "/sim/config", {"token_expires_s": 10 * 86400})
    sim.ok("POST", "/sim/developers", {"id": "dev1", "quota_24h": 100000})
    users = {"appA": ["a%d" % i for i in range(5)], "appB": ["b%d" % i for i in range(5)]}
    extra = ["--poll-interval-ms", "100", "--smart-polling", "no"]
    for app, us in users.items():
        dev_app(r, sim, app, "dev1", quota=n, window_ms=day_ms, users=us, extra=extra)
        for u in us:
            add_user(r, sim, u, app=app, scope=PLAYER, extra=extra)
            play(sim, u, long_queue(u))
    Worker(r, sim, extra)
    Worker(r, sim, extra)
    c = r.client()
    most = [0]

    def under():
        used = sim_used(sim, "dev1")
        most[0] = max(most[0], used)
        return used <= n
    stays(under, day_ms * 1.25 / 1000.0, "never more than N calls of the developer in its rolling day")
    calls = sim.stats()["requests"]["by_app"]
    print("  developer dev1: at most %d calls of %d in the simulator's rolling day (appA %d, appB %d in all)" %
          (most[0], n, calls.get("cid-appA", 0), calls.get("cid-appB", 0)))
    check(most[0] >= n * 0.7, "together they used most of the quota: %d of %d" % (most[0], n))
    check(calls.get("cid-appA", 0) >= n * 0.25 and calls.get("cid-appB", 0) >= n * 0.25,
          "both apps got a share: %r" % calls)
    check(sim.stats()["quota_exceeded"] == 0, "the simulator refused nothing")
    led = c.hgetall("sw:{dev:dev1}:quota")
    check(led.get("users:appA", "").startswith("5:") and led.get("users:appB", "").startswith("5:"),
          "the ledger knows both apps' users (the pace is shared): %r" % led)
    st = spotwatch(r, "status", "--json").stdout
    apps = {a["app"]: a for a in json.loads(st)["apps"]}
    pace = apps["appA"]["limiter"].get("pace", {})
    check(apps["appA"]["developer"] == "dev1" and pace.get("limit") == n and pace.get("interval_ms", 0) > 0,
          "status shows the developer and the pace: %r" % apps["appA"])
    check("developer dev1" in spotwatch(r, "status").stdout, "status text names the developer")


def test_quota_exceeded_on_recently_played_stops_only_backfills():
    """Must show 3, second half: the developer's recently-played bucket
    answers QUOTA_EXCEEDED (sim bucket_quota recent=2): backfills stop for
    both of the developer's apps (the block is in the developer's ledger,
    and each app's limiter copies it) while their polls go on."""
    r = RedisServer()
    sim = Sim(["--recent-min-ms", "200"])
    sim.ok("POST", "/sim/developers", {"id": "dev2", "bucket_quota": {"recent": 2}})
    extra = ["--poll-interval-ms", "200", "--smart-polling", "no", "--backfill-interval-ms", "300",
             "--lease-ms", "3000", "--http-timeout-ms", "2000"]
    apps = {"appC": ["c1", "c2"], "appD": ["d1", "d2"]}
    for app, us in apps.items():
        dev_app(r, sim, app, "dev2", users=us, extra=extra)
        for u in us:
            add_user(r, sim, u, app=app, scope=FULL, extra=extra)
            play(sim, u, long_queue(u, ms=1000))
    Worker(r, sim, extra)
    c = r.client()
    bucket_refused(sim, c, "dev2", "recent", apps)
    time.sleep(0.5)   # backfills already in flight finish
    rp = sim.stats()["requests"]["by_path"].get(RECENT, 0)
    polls = {u: int(c.hgetall("sw:{%s}:user:%s" % (app, u)).get("polls", 0)) for app, us in apps.items() for u in us}
    time.sleep(2.5)
    st = sim.stats()
    check(st["requests"]["by_path"].get(RECENT, 0) == rp, "no backfill after the block: %d -> %d" %
          (rp, st["requests"]["by_path"].get(RECENT, 0)))
    for app, us in apps.items():
        for u in us:
            p = int(c.hgetall("sw:{%s}:user:%s" % (app, u)).get("polls", 0))
            check(p >= polls[u] + 5, "%s's polls go on: %d -> %d" % (u, polls[u], p))
        h = c.hgetall("sw:{%s}:rl" % app)
        check(h.get("block_reason", "") != "quota_exceeded", "%s is not blocked as a whole: %r" % (app, h))
    print("  recent refusals %d; recently-played calls %d; polls go on" %
          (st["quota_exceeded_by_bucket"].get("recent", 0), rp))
    nusers = sum(len(us) for us in apps.values())
    check(st["quota_exceeded_by_bucket"].get("recent", 0) <= nusers,
          "at most the backfills in flight were refused (one per user), not a storm")
    out = spotwatch(r, "status").stdout
    check("quota_exceeded[recent]" in out, "status shows the bucket's block: %s" % out)


# --- must show 8 ------------------------------------------------------------

def test_paced_day_spreads_the_quota():
    """Must show 8: a development app with a quota of N and 5 users playing
    all day, on a day compressed to DAY_S real seconds: the calls spread over
    the whole day (every quarter gets a fair share), the simulator refuses
    none (no 429), and no user waits longer than the paced interval (plus a
    margin for a claim's recheck)."""
    scale = 2400
    day_ms = DAY_MS // scale                      # 36 s real
    n = 180
    r = RedisServer()
    sim = Sim(["--clock-scale", str(scale)])
    sim.ok("POST", "/sim/config", {"token_expires_s": 10 * 86400})
    sim.ok("POST", "/sim/developers", {"id": "dev3", "quota_24h": n})
    users = ["p%d" % i for i in range(5)]
    extra = ["--poll-interval-ms", "200", "--playing-max-ms", "300", "--lease-ms", "3000",
             "--http-timeout-ms", "2000"]
    dev_app(r, sim, "app8", "dev3", quota=n, window_ms=day_ms, users=users, extra=extra)
    for u in users:
        add_user(r, sim, u, app="app8", scope=PLAYER, extra=extra)
        play(sim, u, long_queue(u, n=40, ms=60 * 60 * 1000))
    c = r.client()
    seen = {u: [] for u in users}
    samples = []
    paces = []
    stop = threading.Event()

    def sample():
        s = r.client()
        while not stop.is_set():
            now = redis_ms(s)
            total = 0
            for u in users:
                h = s.hgetall("sw:{app8}:user:%s" % u)
                total += int(h.get("polls", 0))
                at = int(h.get("last_poll_at", 0) or 0)
                if at and (not seen[u] or seen[u][-1] != at):
                    seen[u].append(at)
            pace = int(s.hgetall("sw:{app8}:rl").get("pace_ms", 0) or 0)
            paces.append(pace)
            samples.append((now, total))
            time.sleep(0.02)

    w = Worker(r, sim, extra)
    t0 = redis_ms(c)
    th = threading.Thread(target=sample, daemon=True)
    th.start()
    time.sleep(day_ms / 1000.0)
    stop.set()
    th.join()
    w.stop()
    st = sim.stats()
    quarters = [0, 0, 0, 0]
    prev = 0
    for at, total in samples:
        q = min(3, max(0, (at - t0) * 4 // day_ms))
        quarters[q] += total - prev
        prev = total
    made = sum(quarters)
    print("  day of %d s, quota %d: %d polls, per quarter %r; pace %d..%d ms; 429s %d" %
          (day_ms // 1000, n, made, quarters, min(p for p in paces if p) if any(paces) else 0, max(paces),
           st["by_status"].get("429", 0) if "by_status" in st else st["requests"]["by_status"].get("429", 0)))
    check(st["requests"]["by_status"].get("429", 0) == 0 and st["quota_exceeded"] == 0,
          "the simulator refused nothing: %r" % st["requests"]["by_status"])
    check(made <= n and made >= n * 0.6, "the day's calls used most of the quota, never more: %d of %d" % (made, n))
    for i, qn in enumerate(quarters):
        check(made * 0.15 <= qn <= made * 0.35, "quarter %d has a fair share: %r" % (i + 1, quarters))
    margin = 1500
    worst = 0
    for u in users:
        gaps = [b - a for a, b in zip(seen[u], seen[u][1:])]
        check(len(gaps) >= 5, "%s was polled all day: %r" % (u, seen[u]))
        worst = max(worst, max(gaps))
    check(worst <= max(paces) + margin, "no user unpolled for longer than the pace (%d ms) + %d ms: %d ms" %
          (max(paces), margin, worst))
    print("  longest wait between two polls of a user: %d ms (pace at most %d ms)" % (worst, max(paces)))


# --- the token endpoint's QUOTA_EXCEEDED ---------------------------------------

def expired_user(r, sim, user, app, extra):
    """A user whose access token spotwatch takes for expired (--expires-in 1):
    its first job is a refresh."""
    sim.ok("POST", "/sim/users", {"id": user, "display_name": "User " + user})
    tok = sim.ok("POST", "/sim/users/%s/tokens" % user, {"client_id": "cid-" + app, "scope": PLAYER})
    spotwatch(r, "user", "add", user, "--app", app, "--access-token", tok["access_token"], "--refresh-token",
              tok["refresh_token"], "--expires-in", "1", "--scope", PLAYER, extra=extra)
    spotwatch(r, "watch", "start", user, extra=extra)


def test_quota_exceeded_on_the_token_endpoint_stops_only_refreshes():
    """Issue 14, the token bucket: the developer's /api/token answers 429
    QUOTA_EXCEEDED (sim bucket_quota token=2). It is that bucket's refusal,
    not the rate limit: neither app of the developer is blocked as a whole
    (before, the app was blocked for the Retry-After, hours); the block is in
    the developer's ledger and each app's limiter; no refresh is tried
    until it ends, by either app (a user added later to the sibling with an
    expired token waits too); the users whose tokens are good are polled on."""
    r = RedisServer()
    sim = Sim()
    sim.ok("POST", "/sim/developers", {"id": "dev3", "bucket_quota": {"token": 2}})
    extra = ["--poll-interval-ms", "200", "--smart-polling", "no", "--lease-ms", "3000", "--http-timeout-ms", "2000"]
    stale, fresh = ["e1", "e2", "e3", "e4"], ["f1", "f2"]
    dev_app(r, sim, "appE", "dev3", users=stale, extra=extra)
    dev_app(r, sim, "appF", "dev3", users=fresh + ["f3"], extra=extra)
    for u in fresh:
        add_user(r, sim, u, app="appF", scope=PLAYER, extra=extra)
    for u in stale:
        expired_user(r, sim, u, "appE", extra)
    for u in stale + fresh:
        play(sim, u, long_queue(u))
    Worker(r, sim, extra)
    c = r.client()
    bucket_refused(sim, c, "dev3", "token", ("appE", "appF"))
    # the sibling: a user whose token must be refreshed first waits for the block's end
    expired_user(r, sim, "f3", "appF", extra)
    play(sim, "f3", long_queue("f3"))
    time.sleep(0.5)   # refreshes already in flight finish
    tokens = sim.stats()["requests"]["by_path"].get("/api/token", 0)

    def polls(app, u):
        return int(c.hgetall("sw:{%s}:user:%s" % (app, u)).get("polls", 0))

    def good_token(app, u):
        return int(c.hgetall("sw:{%s}:user:%s" % (app, u)).get("expires_at", 0)) > redis_ms(c) + 600 * 1000
    refreshed = [u for u in stale if good_token("appE", u)]
    waiting = [u for u in stale if u not in refreshed]
    check(len(refreshed) == 2 and not good_token("appF", "f3"), "two refreshes admitted, the others refused: %r"
          % refreshed)
    before = {u: polls(a, u) for a, us in (("appE", stale), ("appF", fresh + ["f3"])) for u in us}
    time.sleep(2.5)
    st = sim.stats()
    check(st["requests"]["by_path"].get("/api/token", 0) == tokens, "no refresh after the block: %d -> %d" %
          (tokens, st["requests"]["by_path"].get("/api/token", 0)))
    for a, u in [("appE", u) for u in refreshed] + [("appF", u) for u in fresh]:
        check(polls(a, u) >= before[u] + 5, "%s's polls go on: %d -> %d" % (u, before[u], polls(a, u)))
    for a, u in [("appE", u) for u in waiting] + [("appF", "f3")]:
        check(polls(a, u) == before[u] and not good_token(a, u), "%s waits for the token bucket: %d -> %d polls"
              % (u, before[u], polls(a, u)))
    for app in ("appE", "appF"):
        h = c.hgetall("sw:{%s}:rl" % app)
        check(h.get("block_reason", "") not in ("quota_exceeded", "rate_limited") or
              int(h.get("blocked_until", 0)) <= redis_ms(c), "%s is not blocked as a whole: %r" % (app, h))
    check(st["quota_exceeded_by_bucket"].get("token", 0) <= len(stale), "only the refreshes in flight refused")
    print("  token refusals %d; /api/token calls %d; polls go on" %
          (st["quota_exceeded_by_bucket"].get("token", 0), tokens))
    out = spotwatch(r, "status").stdout
    check("quota_exceeded[token]" in out, "status shows the bucket's block: %s" % out)
