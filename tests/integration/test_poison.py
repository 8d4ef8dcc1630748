"""test_poison.py: issue 13, items 5 and 6, against a real redis-server, the
real simulator, real workers, real `spotwatch serve` and CLI processes.

5. One user id, one app: the directory entry <p>users is claimed in the same
   script step as the user record is written (lua/lib/user_record.lua), so of
   two racing logins (or `user add`s) for one id in two apps exactly one wins;
   the loser gets a clear error and nothing is written for it.
6. One bad record stops nobody else: a user key of the wrong type, a
   malformed numeric field, a non-integer counter or limiter field. The other
   users keep being polled at their rate, a 429 still blocks the app, and the
   bad user is reported (status broken + reason naming the field, a
   user_broken event, `spotwatch status` counts it).
"""
import json
import os
import subprocess
import threading
import time

from harness import *  # noqa: F401,F403
from test_ratelimit import add_app, bulk_users, fixed_args, redis_ms, rl, app_key, by_user

SCOPE = "user-read-currently-playing user-read-playback-state"


# ------------------------------------------------------------------ item 5 --

def two_apps(r, sim, users):
    for app in ("appA", "appB"):
        setup_app(r, sim, app=app, users=users)
    for u in users:
        sim.ok("POST", "/sim/users", {"id": u, "display_name": "User " + u})


def test_racing_logins_one_owner():
    """30 races of two OAuth callbacks through serve, one user id, two apps
    (two browsers, both callbacks sent at once): exactly one app owns the id,
    the other browser gets 409 with a page that does not name the other app,
    and nothing is written for the loser."""
    r = RedisServer()
    sim = Sim()
    users = ["race%d" % i for i in range(30)]
    two_apps(r, sim, users)
    serve = Serve(r, sim, extra=["--duplicate-account", "allow"])
    c = r.client()
    wins = {"appA": 0, "appB": 0}
    for u in users:
        cbs = []
        for app in ("appA", "appB"):
            jar = new_browser()
            cbs.append((app, jar, oauth_consent(oauth_start(serve, u, app, jar=jar), u)))
        got = {}
        go = threading.Barrier(2)

        def call(app, jar, cb):
            go.wait()
            got[app] = serve.get(cb, jar=jar)
        ts = [threading.Thread(target=call, args=cb, daemon=True) for cb in cbs]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        owner = c.cmd("HGET", "sw:users", u)
        check(owner in ("appA", "appB"), "%s owned by one app: %r" % (u, owner))
        loser = "appB" if owner == "appA" else "appA"
        wins[owner] += 1
        check(got[owner][0] == 200, "the winner's login: %d %r" % (got[owner][0], got[owner][2][:300]))
        st, _, body = got[loser]
        text = body.decode("utf-8", "replace")
        check(st == 409 and "another app" in text, "the loser gets 409: %d %s" % (st, text[:300]))
        check(owner not in text, "the loser's page does not name the owning app: %s" % text[:400])
        check(c.cmd("EXISTS", "sw:{%s}:user:%s" % (loser, u)) == 0, "nothing written for the loser (%s)" % u)
        check(c.cmd("ZSCORE", "sw:{%s}:due" % loser, u) is None, "the loser does not schedule %s" % u)
        check(c.cmd("HLEN", "sw:{%s}:accounts" % loser) == 0 or
              c.cmd("HGET", "sw:{%s}:accounts" % loser, u) is None, "no account mapping for the loser")
    print("  30 races: appA won %d, appB won %d" % (wins["appA"], wins["appB"]))
    check(int(c.cmd("HLEN", "sw:users")) == 30, "30 ids, one entry each")


def token_files(d, sim, user, cid):
    tok = sim.ok("POST", "/sim/users/%s/tokens" % user, {"client_id": cid, "scope": SCOPE})
    paths = []
    for k in ("access_token", "refresh_token"):
        p = os.path.join(d, "%s-%s-%s" % (user, cid, k))
        with open(p, "w") as f:
            f.write(tok[k])
        record_secret(tok[k])
        paths.append(p)
    return paths


def test_racing_user_add_and_import_duplicate():
    """30 races of two `spotwatch user add` processes for one id in two apps:
    exactly one exits 0, the other exits non-zero naming the owning app, and
    nothing of the loser is written. An import file with two rows for one id
    in two apps imports one and reports the other as refused (exit 1)."""
    r = RedisServer()
    sim = Sim()
    users = ["add%d" % i for i in range(30)]
    two_apps(r, sim, users + ["dup"])
    d = tmpdir()
    c = r.client()
    for u in users:
        procs = {}
        for app in ("appA", "appB"):
            at, rt = token_files(d, sim, u, "cid-" + app)
            argv = [SPOTWATCH] + sw_args(r, sim) + ["user", "add", u, "--app", app, "--access-token-file", at,
                                                   "--refresh-token-file", rt]
            procs[app] = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out = {app: (p.wait(30), p.stdout.read().decode(), p.stderr.read().decode()) for app, p in procs.items()}
        for p in procs.values():
            p.stdout.close()
            p.stderr.close()
        owner = c.cmd("HGET", "sw:users", u)
        check(owner in ("appA", "appB"), "%s owned by one app: %r" % (u, owner))
        loser = "appB" if owner == "appA" else "appA"
        check(out[owner][0] == 0, "the winner exits 0: %r" % (out[owner],))
        check(out[loser][0] != 0 and "belongs to app '%s'" % owner in out[loser][2],
              "the loser exits non-zero naming the owner: %r" % (out[loser],))
        check(c.cmd("EXISTS", "sw:{%s}:user:%s" % (loser, u)) == 0, "nothing written for the loser (%s)" % u)

    rows = []
    for app in ("appA", "appB"):
        tok = sim.ok("POST", "/sim/users/dup/tokens", {"client_id": "cid-" + app, "scope": SCOPE})
        record_secret(tok["access_token"])
        record_secret(tok["refresh_token"])
        rows.append(json.dumps({"user": "dup", "app": app, "access_token": tok["access_token"],
                                "refresh_token": tok["refresh_token"], "expires_in": 3600}))
    p = spotwatch(r, "user", "import", "-", sim=sim, stdin="\n".join(rows) + "\n", check_rc=False)
    check(p.returncode != 0, "an import with a refused row exits non-zero: %d" % p.returncode)
    check("imported 1 users" in p.stdout and "1 lines refused" in p.stdout, "one imported, one refused: %r" % p.stdout)
    check("belongs to app 'appA'" in p.stderr, "the refused row names the owner: %r" % p.stderr)
    check(c.cmd("HGET", "sw:users", "dup") == "appA", "the first row's app owns dup")
    check(c.cmd("EXISTS", "sw:{appB}:user:dup") == 0, "nothing written for the refused row")

    # `user rm` removes the entry of its own app only, and then the id is free.
    spotwatch(r, "user", "rm", "dup", sim=sim)
    check(c.cmd("HGET", "sw:users", "dup") is None and c.cmd("EXISTS", "sw:{appA}:user:dup") == 0, "dup removed")


# ------------------------------------------------------------------ item 6 --

INTERVAL = 400
N_USERS = 50


def poison_world(budget=None):
    r = RedisServer()
    sim = Sim()
    add_app(r, sim, "app1", users=(), budget=budget)
    users = ["p%02d" % i for i in range(N_USERS)]
    for u in users:
        sim.ok("POST", "/sim/users", {"id": u, "display_name": "User " + u})
    bulk_users(r, sim, "app1", users, INTERVAL)
    return r, sim, users


def polls_over(sim, users, seconds):
    b0 = by_user(sim)
    time.sleep(seconds)
    b1 = by_user(sim)
    return {u: b1.get(u, 0) - b0.get(u, 0) for u in users}


def check_others_and_block(r, sim, users, bad, w, before_429=None):
    """The other users keep their rate; a 429 still blocks the app
    (before_429(): run just before the 429 is injected)."""
    c = r.client()
    window = 3.0
    got = polls_over(sim, users, window)
    expect = window * 1000 / INTERVAL
    slow = {u: n for u, n in got.items() if u != bad and n < 0.6 * expect}
    check(not slow, "every other user polled at its rate (~%.1f in %.0f s): slow %r" % (expect, window, slow))
    if bad:
        check(got.get(bad, 0) == 0, "the bad user is not polled: %d" % got.get(bad, 0))
    if before_429:
        before_429()
    sim.ok("POST", "/sim/faults", {"kind": "status", "status": 429, "retry_after": 4, "app": "cid-app1", "count": 1})
    wait_for(lambda: rl(c).get("block_reason") == "rate_limited" and
             int(float(rl(c).get("blocked_until", "0"))) > redis_ms(c), 10, "the 429 blocks the app")
    time.sleep(0.3)   # polls in flight at the 429 land
    during = polls_over(sim, users, 2.0)
    check(sum(during.values()) == 0, "no call while blocked: %d" % sum(during.values()))
    check(w.alive(), "the worker runs")


def check_reported(r, bad, field):
    c = r.client()
    evs = [e for e in stream_events(c) if e.get("type") == "user_broken"]
    check(any(e.get("user") == bad and field in e.get("reason", "") for e in evs),
          "a user_broken event naming %s: %r" % (field, evs))
    st = json.loads(spotwatch(r, "status", "--json").stdout)
    check(st["users"].get("broken") == 1, "status counts one broken user: %r" % st["users"])
    ls = spotwatch(r, "user", "ls").stdout
    check(any(line.split()[:1] == [bad] and line.split()[2] == "broken" for line in ls.splitlines()),
          "user ls shows %s broken: %r" % (bad, ls[:400]))
    check(c.cmd("ZSCORE", app_key("app1", "due"), bad) is None, "the bad user is off the schedule")


def field_poison(field, value):
    r, sim, users = poison_world()
    c = r.client()
    bad = users[7]
    c.cmd("HSET", "sw:{app1}:user:%s" % bad, field, value)
    w = Worker(r, sim, fixed_args(INTERVAL))
    wait_for(lambda: c.cmd("HGET", "sw:{app1}:user:%s" % bad, "status") == "broken", 10, "%s set aside" % bad)
    reason = c.cmd("HGET", "sw:{app1}:user:%s" % bad, "reason")
    check(field in reason, "the reason names %s: %r" % (field, reason))
    check_others_and_block(r, sim, users, bad, w)
    check_reported(r, bad, field)
    due = c.cmd("ZRANGE", app_key("app1", "due"), -1, -1, "WITHSCORES")
    check(float(due[1]) < redis_ms(c) + 3600000, "no user parked far away: %r" % due)


def test_poison_refresh_until_inf():
    field_poison("refresh_until", "1e999")


def test_poison_interval_ms_abc():
    field_poison("interval_ms", "abc")


def test_poison_fence_negative():
    field_poison("fence", "-1")


def test_poison_expires_at_inf():
    field_poison("expires_at", "inf")


def test_poison_wrong_type():
    """A STRING set over one user's hash while the app is being polled."""
    r, sim, users = poison_world()
    c = r.client()
    w = Worker(r, sim, fixed_args(INTERVAL))
    wait_for(lambda: len([n for n in by_user(sim).values() if n > 0]) == N_USERS, 10, "every user polled")
    bad = users[11]
    key = "sw:{app1}:user:%s" % bad
    c.cmd("DEL", key)
    c.cmd("SET", key, "oops")
    wait_for(lambda: c.cmd("HGET", app_key("app1", "broken"), bad) is not None, 10, "%s recorded as broken" % bad)
    reason = c.cmd("HGET", app_key("app1", "broken"), bad)
    check("key" in reason and "string" in reason, "the reason names the key's type: %r" % reason)
    check_others_and_block(r, sim, users, bad, w)
    check_reported(r, bad, "key")


def test_poison_counters_and_limiter_fields():
    """A non-integer counter in :stats and malformed limiter fields: repaired
    (repaired_<field> counted), every user keeps being polled, and a 429 still
    blocks the app (its block and counters recorded). The app has a budget
    (far above its demand), so its call log is used, and poisoned too."""
    r, sim, users = poison_world(budget=100000)
    c = r.client()
    c.cmd("SET", app_key("app1", "calls"), "not a zset")
    c.cmd("HSET", app_key("app1", "stats"), "polls", "abc", "outcome_nothing", "1.5")
    c.cmd("HSET", app_key("app1", "rl"), "blocked_until", "inf", "budget_eff", "nan")
    w = Worker(r, sim, fixed_args(INTERVAL))
    def polls():
        v = c.cmd("HGET", app_key("app1", "stats"), "polls") or "0"
        return int(v) if v.isdigit() else 0
    wait_for(lambda: polls() > N_USERS, 10, "polls counted again")
    s = c.hgetall(app_key("app1", "stats"))
    check(s.get("repaired_polls") == "1", "the stats counter repaired once: %r" % s)
    lim = rl(c)
    check(lim.get("repaired_blocked_until") == "1" and lim.get("repaired_budget_eff") == "1" and
          lim.get("repaired_calls") == "1",
          "limiter fields repaired: %r" % lim)
    # The very counters the 429's completion adds are poisoned just before
    # it: the block must be recorded all the same, the counters repaired.
    check_others_and_block(r, sim, users, None, w, before_429=lambda: c.cmd(
        "HSET", app_key("app1", "stats"), "r429", "abc", "blocks_rate_limited", "1e999"))
    s = c.hgetall(app_key("app1", "stats"))
    check(s.get("r429") == "1" and s.get("blocks_rate_limited") == "1", "the 429 counted: %r" % s)
    check(s.get("repaired_r429") == "1" and s.get("repaired_blocks_rate_limited") == "1",
          "the poisoned counters repaired: %r" % s)


def test_poison_confirm_not_a_zset():
    """The confirm set only orders work: a <p>{app}:confirm holding another
    type is deleted by the completion or claim that meets it, counted as
    repaired_confirm in :stats, and the batch is applied all the same (a
    held change's confirming poll is written to it afresh); the worker goes
    on polling every user."""
    r, sim, users = poison_world()
    c = r.client()
    confirm, due = app_key("app1", "confirm"), app_key("app1", "due")
    u = users[3]
    now = redis_ms(c)
    c.cmd("HSET", "sw:{app1}:user:%s" % u, "fence", "7")
    c.cmd("ZADD", app_key("app1", "leases"), now + 60000, u)
    c.cmd("ZREM", due, u)
    c.cmd("SET", confirm, "not a zset")
    # One held poll (FLAP "held"): its confirming poll goes to the confirm set.
    got = complete_one(c, u, "7", flap="held")
    check(got == [1], "the job is applied: %r" % (got,))
    check(c.cmd("TYPE", confirm) == "zset", "the confirm set written afresh: %r" % c.cmd("TYPE", confirm))
    check(c.cmd("ZSCORE", confirm, u) == c.cmd("ZSCORE", due, u) is not None,
          "the confirming poll's time, as in due: %r" % c.cmd("ZSCORE", confirm, u))
    stats = c.hgetall(app_key("app1", "stats"))
    check(stats.get("repaired_confirm") == "1" and stats.get("flap_held") == "1" and stats.get("polls") == "1",
          "repaired once, the poll counted: %r" % stats)

    # The claim's path: the worker meets it at its first claim.
    c.cmd("DEL", confirm)
    c.cmd("SET", confirm, "oops")
    w = Worker(r, sim, fixed_args(INTERVAL))
    wait_for(lambda: c.hgetall(app_key("app1", "stats")).get("repaired_confirm") == "2", 10,
             "the claim repaired it")
    check(c.cmd("TYPE", confirm) in ("none", "zset"), "no string left: %r" % c.cmd("TYPE", confirm))
    check_others_and_block(r, sim, users, None, w)


def complete_one(c, user, fence, flap=""):
    """complete.lua called directly for one poll of user (fence as stored)."""
    sha = c.cmd("SCRIPT", "LOAD", lua_source("complete"))
    return complete_call(c, sha, [user], [complete_job(user, fence, flap=flap)])


def test_poison_schedule_sets_wrong_type():
    """The app's due set, then its leases set, replaced by a STRING: a
    completion that meets it still applies its polls and writes the app's
    counters; the next claim deletes it (repaired_due, repaired_leases in
    :stats) and rebuilds the schedule from <p>{app}:members, so every active
    user is polled at its rate again, a stopped user stays stopped, and a
    429 still blocks the app."""
    r, sim, users = poison_world()
    c = r.client()
    due, leases = app_key("app1", "due"), app_key("app1", "leases")
    stopped = users[5]
    spotwatch(r, "watch", "stop", stopped, sim=sim)
    active = [u for u in users if u != stopped]
    c.cmd("HSET", "sw:{app1}:user:%s" % users[3], "fence", "7")
    c.cmd("DEL", due)
    c.cmd("SET", due, "oops")
    got = complete_one(c, users[3], "7")
    stats = c.hgetall(app_key("app1", "stats"))
    check(got == [1] and stats.get("polls") == "1", "the completion applied and counted: %r %r" % (got, stats))
    w = Worker(r, sim, fixed_args(INTERVAL))
    for key, name in ((due, "due"), (leases, "leases")):
        if name == "leases":
            c.cmd("DEL", key)
            c.cmd("SET", key, "oops")
        wait_for(lambda: c.hgetall(app_key("app1", "stats")).get("repaired_" + name) == "1", 10,
                 "the claim repaired %s" % name)
        check(c.cmd("TYPE", key) in ("zset", "none"), "%s is a sorted set again: %r" % (name, c.cmd("TYPE", key)))
        time.sleep(1.0)   # the users due at once are polled; then their rate is measured
        got = polls_over(sim, active, 3.0)
        expect = 3.0 * 1000 / INTERVAL
        slow = {u: k for u, k in got.items() if k < 0.6 * expect}
        check(not slow, "after %s's repair every active user polled at its rate: slow %r" % (name, slow))
        scheduled = set(c.cmd("ZRANGE", due, 0, -1)) | set(c.cmd("ZRANGE", leases, 0, -1))
        check(scheduled == set(active), "the schedule holds exactly the active users: %d of %d, %s among them: %s"
              % (len(scheduled & set(active)), len(active), stopped, stopped in scheduled))
    check(by_user(sim).get(stopped, 0) == 0, "the stopped user was never polled")
    check_others_and_block(r, sim, users, stopped, w)
