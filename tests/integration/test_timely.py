"""Issue 14, "Must show" 7 (its correctness half; the figures are
tests/bench/smart_polling.py's): smart polling spends the room of the app's
budget on its playing users and stretches back as the budget fills
(budget-target-pct, lua/lib/speedup.lua, decide_playing_ms). Real
redis-server, real spotify-sim, real workers.

Nothing here asserts a latency. The assertions are about counts: how many
calls the simulator saw per user over a period once the app's speed has
settled (far more than playing-max-ms allows, or not), that the simulator
never answered 429, and the app's speed in Redis (lua/lib/speedup.lua). The
waits have deadlines far beyond what the controller needs (well under a
minute here), so a slow machine only makes them wait longer.
"""
import time

from harness import *  # noqa: F401,F403
from test_ratelimit import bulk_users  # noqa: E402 (users stored as `user add` + `watch start` do)

WINDOW_MS = 3000
# Playing users between 4 s (smart polling as before) and 1 s (sped up);
# paused and idle users are not concerned.
SMART = ["--smart-polling", "yes", "--poll-interval-ms", "1000", "--playing-max-ms", "4000",
         "--lease-ms", "4000", "--http-timeout-ms", "2000", "--backoff-base-ms", "200",
         "--backoff-max-ms", "2000", "--claim-batch", "64"]


def new_app(r, sim, app, budget=None, rate_limit=None):
    cid = "cid-" + app
    body = {"client_id": cid, "client_secret": "s-" + cid, "mode": "extended",
            "redirect_uris": ["http://127.0.0.1/callback"]}
    if rate_limit is not None:
        body["rate_limit"] = rate_limit
    sim.ok("POST", "/sim/apps", body)
    args = ["app", "add", app, "--client-id", cid, "--client-secret", "s-" + cid, "--mode", "extended",
            "--window-ms", str(WINDOW_MS)]
    if budget is not None:
        args += ["--budget", str(budget)]
    spotwatch(r, *args)


def playing_users(r, sim, app, users):
    """Users as `user add` + `watch start` store them (no interval of their
    own), each playing a long track (its predicted end never comes first)."""
    bulk_users(r, sim, app, users, 0)
    for u in users:
        play(sim, u, [track("t-%s-%d" % (u, k), duration_ms=3600000) for k in range(2)])


def world(apps, rl=None):
    """A redis-server, a simulator with the test's window, and one worker
    serving apps: [(app, budget, rate_limit, users)]; rl: {app: [field, value,
    ...]} written to an app's limiter hash before the worker starts. Returns
    (r, sim, client)."""
    r = RedisServer()
    sim = Sim(["--window-ms", str(WINDOW_MS)])
    c = r.client()
    for app, budget, rate_limit, users in apps:
        new_app(r, sim, app, budget, rate_limit)
        playing_users(r, sim, app, users)
        if rl and app in rl:
            c.cmd("HSET", "sw:{%s}:rl" % app, *rl[app])
    Worker(r, sim, SMART)
    return r, sim, c


def speed(c, app):
    """The app's speed-up as stored (0..1), None when there is none."""
    v = c.cmd("HGET", "sw:{%s}:rl" % app, "speed")
    return None if v is None else float(v)


def calls_over(sim, users, seconds):
    """Calls the simulator saw from each user over `seconds` of real time,
    and the seconds actually elapsed."""
    before = sim.stats()["requests"]["by_user"]
    t0 = time.time()
    time.sleep(seconds)
    after = sim.stats()["requests"]["by_user"]
    return {u: after.get(u, 0) - before.get(u, 0) for u in users}, time.time() - t0


def test_ample_budget_polls_playing_users_at_poll_interval():
    """An app whose budget has ample room: its speed climbs to the top and its
    playing users are polled about every poll-interval-ms (1 s), not every
    playing-max-ms (4 s). Beside it, an app with no budget (unlimited: its room
    is unknown) keeps smart polling as it was, under the same worker. The
    ample app's stored speed starts out malformed: it is repaired (counted
    once) and costs nothing else."""
    fast = ["a%d" % i for i in range(6)]
    slow = ["p%d" % i for i in range(6)]
    _, sim, c = world([("ample", 1000, None, fast), ("plain", None, None, slow)],
                      rl={"ample": ["speed", "nan", "speed_at", "-5"]})
    wait_for(lambda: (speed(c, "ample") or 0) >= 1.0, 120, "the ample app's speed at its top", interval=0.5)
    got, secs = calls_over(sim, fast + slow, 8)
    per_s_fast = sum(got[u] for u in fast) / float(len(fast)) / secs
    per_s_slow = sum(got[u] for u in slow) / float(len(slow)) / secs
    print("  playing users' polls per second: ample budget %.2f (poll-interval-ms: 1.00), no budget %.2f "
          "(playing-max-ms: 0.25)" % (per_s_fast, per_s_slow))
    # 1 s apart would be 1.0 per second; 4 s apart 0.25 (a first poll may add one).
    check(per_s_fast >= 0.7, "ample budget: playing users polled about every poll-interval-ms: %.2f/s" % per_s_fast)
    check(min(got[u] for u in fast) >= 0.5 * secs, "every playing user sped up: %r" % got)
    check(per_s_slow <= 0.4, "no budget: playing users polled every playing-max-ms as before: %.2f/s" % per_s_slow)
    check(speed(c, "plain") is None, "an app without a budget has no speed")
    lim = c.hgetall("sw:{ample}:rl")
    check(lim.get("repaired_speed") == "1" and lim.get("repaired_speed_at") == "1",
          "the malformed speed repaired once: %r" % lim)
    check(sim.stats()["rate_limited"] == 0, "no 429")


def test_small_budget_never_exceeded():
    """Two apps whose Spotify limit (the simulator's rate_limit) equals their
    budget. "small": even smart polling's demand (30 playing users every 4 s =
    7.5 calls/s) is above its budget (15 per 3 s = 5/s): its speed never
    leaves 0 and not one call is refused. "mid": smart polling uses 37 % of
    its budget (30 users every 4 s = 7.5/s of 20/s) and full speed would need
    150 % (30 users every 1 s): it speeds up, spends well over what smart
    polling spent, stays short of full speed, and is never refused either."""
    small = ["s%d" % i for i in range(30)]
    mid = ["m%d" % i for i in range(30)]
    _, sim, c = world([("small", 15, 15, small), ("mid", 60, 60, mid)])
    wait_for(lambda: (speed(c, "mid") or 0) >= 0.3, 120, "the mid app sped up", interval=0.5)
    got, secs = calls_over(sim, small + mid, 9)
    small_rate = sum(got[u] for u in small) / secs
    mid_rate = sum(got[u] for u in mid) / secs
    budget_small, budget_mid = 15 * 1000.0 / WINDOW_MS, 60 * 1000.0 / WINDOW_MS
    print("  calls/s: small %.1f (budget %.1f, speed %s), mid %.1f (budget %.1f, smart polling alone 7.5, "
          "speed %s)" % (small_rate, budget_small, speed(c, "small"), mid_rate, budget_mid, speed(c, "mid")))
    apps = {a["client_id"]: a for a in sim.ok("GET", "/sim/apps")}
    check(sim.stats()["rate_limited"] == 0, "the simulator never answered 429: %r" %
          {k: a["rate_limited"] for k, a in apps.items()})
    check(speed(c, "small") == 0, "small: demand above the budget, never sped up: %r" % speed(c, "small"))
    # Within the budget (the window adds at most one budget's worth at the edges).
    check(small_rate <= budget_small * (1 + WINDOW_MS / 1000.0 / secs), "small within budget: %.1f/s" % small_rate)
    check(mid_rate <= budget_mid * (1 + WINDOW_MS / 1000.0 / secs), "mid within budget: %.1f/s" % mid_rate)
    # Smart polling alone makes 7.5 calls/s; sped up towards 75 % of 20/s.
    # The floor is a fifth above smart polling: under ASan on 2 busy cores
    # the speed-up was seen at 9.98 calls/s, which says the same.
    check(mid_rate >= 9, "mid spends its room: %.1f calls/s (smart polling alone: 7.5)" % mid_rate)
    check(speed(c, "mid") < 1.0, "mid never at full speed (it would need twice its budget)")
