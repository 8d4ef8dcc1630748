"""History backfill (issue 5): recently-played fills in every play that slow
polling missed, as track_played events, each exactly once, counted against the
app's budget. Real redis-server, real spotify-sim, real workers.

The simulator lists a track in recently-played once it has played
recent_min_ms (here 200 ms), with played_at = the moment it ended; tracks here
last 1 s (the simulator's shortest), so many end between two polls of a user
polled every 30 s.
"""
import time

from harness import *  # noqa: F401,F403

FULL_SCOPE = "user-read-currently-playing user-read-playback-state user-read-recently-played"
NO_HISTORY_SCOPE = "user-read-currently-playing user-read-playback-state"
RECENT = "/v1/me/player/recently-played"
SIM_ARGS = ["--recent-min-ms", "200"]
BASE = ["--smart-polling", "no", "--lease-ms", "3000", "--http-timeout-ms", "2000",
        "--backoff-base-ms", "200", "--backoff-max-ms", "1000"]


def uhash(c, user, app="app1"):
    return c.hgetall("sw:{%s}:user:%s" % (app, user))


def redis_ms(c):
    s, us = c.cmd("TIME")
    return int(s) * 1000 + int(us) // 1000


def played(c, user=None):
    return [e for e in stream_events(c) if e["type"] == "track_played" and (user is None or e["user"] == user)]


def history_len(sim, user):
    return sim.ok("GET", "/sim/users/%s/playback" % user)["history_length"]


def recent_calls(sim):
    return sim.stats()["requests"]["by_path"].get(RECENT, 0)


def short_tracks(prefix, n, ms=1000):
    return [track("%s%d" % (prefix, i), duration_ms=ms) for i in range(1, n + 1)]


def backfill_now(r, sim, c, user, extra):
    """Once the user's backfill is due, make the user due now until a claim
    hands out a backfill job (the first may be a poll: a backfill never
    follows a backfill). Returns how many jobs it took."""
    before = int(uhash(c, user).get("backfills", 0))
    wait_for(lambda: int(uhash(c, user).get("backfill_at", 0) or 0) <= redis_ms(c), 15,
             "backfill of %s due" % user)
    for jobs in range(1, 4):
        polls = int(uhash(c, user).get("polls", 0))
        wait_for(lambda: c.cmd("ZSCORE", "sw:{app1}:leases", user) is None, 15, "no job of %s in flight" % user)
        spotwatch(r, "watch", "now", user, sim=sim, extra=extra)
        wait_for(lambda: int(uhash(c, user).get("polls", 0)) > polls, 15, "a job of %s ran" % user)
        if int(uhash(c, user).get("backfills", 0)) > before:
            return jobs
    raise TestFailure("no backfill of %s after 3 jobs: %r" % (user, uhash(c, user)))


def test_backfill_fills_stretched_polling():
    """A user polled every 30 s plays 4, then 2 more short tracks between two
    polls: each backfill announces every play since the last, oldest first,
    exactly once, on the user's channel and in the app's stream; the first one
    goes through the usual 401 -> refresh path; a further backfill adds
    nothing. A user whose grant lacks the scope is never backfilled."""
    extra = BASE + ["--backfill-interval-ms", "2000"]
    r = RedisServer()
    sim = Sim(SIM_ARGS)
    setup_app(r, sim, users=["bf", "nos"])
    add_user(r, sim, "bf", scope=FULL_SCOPE, interval=30000, extra=extra)
    add_user(r, sim, "nos", scope=NO_HISTORY_SCOPE, interval=30000, extra=extra)
    c = r.client()
    sub = Subscriber(r, "sw:playback:bf")
    for u in ("bf", "nos"):
        spotwatch(r, "watch", "now", u, sim=sim, extra=extra)
    w = Worker(r, sim, extra)

    # The first poll starts the history: plays after this moment are announced.
    wait_for(lambda: uhash(c, "bf").get("backfill_cursor"), 15, "backfill cursor set by the first claim")
    cursor0 = int(uhash(c, "bf")["backfill_cursor"])
    wait_for(lambda: int(uhash(c, "bf").get("polls", 0)) >= 1, 15, "first poll of bf done")

    play(sim, "bf", short_tracks("a", 4))
    wait_for(lambda: history_len(sim, "bf") == 4, 15, "4 plays in the simulator's history")
    polls_before = int(uhash(c, "bf")["polls"])
    # The stored access token has expired: the backfill refreshes and retries.
    sim.ok("POST", "/sim/users/bf/expire", {})
    grants0 = sim.stats()["token_grants"]["refresh_token"]
    backfill_now(r, sim, c, "bf", extra)
    got = wait_for(lambda: len(played(c, "bf")) >= 4 and played(c, "bf"), 15, "4 track_played")
    check([e["track"]["id"] for e in got] == ["a1", "a2", "a3", "a4"], "plays in order: %r" % got)
    ats = [e["played_at"] for e in got]
    check(ats == sorted(ats) and len(set(ats)) == 4 and ats[0] > cursor0,
          "played_at increasing, after the cursor: %r (cursor %d)" % (ats, cursor0))
    check(all(e["user"] == "bf" and e["at"] >= e["played_at"] and e["track"]["name"] == "Track " + e["track"]["id"]
              and e["track"]["duration_ms"] == 1000 for e in got), "event fields: %r" % got[0])
    check(sim.stats()["token_grants"]["refresh_token"] > grants0, "the 401 went through a token refresh")
    h = uhash(c, "bf")
    check(int(h["backfill_cursor"]) == ats[-1], "cursor = last played_at: %r" % h)
    check(int(h["polls"]) - polls_before == 1, "the backfill took a poll's place: one job, one call")
    check(not h.get("last_error"), "no error: %r" % h.get("last_error"))
    # The user's channel carries the same events.
    chan = sub.wait(lambda e: e["type"] == "track_played", 10, "track_played on the channel")
    wait_for(lambda: len([e for e in sub.drain() if e["type"] == "track_played"]) >= 4, 10, "4 on the channel")
    chan = [e for e in sub.events if e["type"] == "track_played"]
    check([e["played_at"] for e in chan] == ats, "channel = stream: %r" % chan)

    # Two more plays, one more backfill: just those two.
    play(sim, "bf", short_tracks("b", 2))
    wait_for(lambda: history_len(sim, "bf") == 6, 15, "6 plays in the history")
    backfill_now(r, sim, c, "bf", extra)
    wait_for(lambda: len(played(c, "bf")) >= 6, 15, "6 track_played")
    # A further backfill with nothing new adds nothing.
    backfill_now(r, sim, c, "bf", extra)
    time.sleep(0.5)
    ids = [e["track"]["id"] for e in played(c, "bf")]
    check(ids == ["a1", "a2", "a3", "a4", "b1", "b2"], "each play exactly once, in order: %r" % ids)
    check(len([e for e in sub.drain() if e["type"] == "track_played"]) == 6, "6 on the channel, no more")

    backfills = int(uhash(c, "bf")["backfills"])
    calls = recent_calls(sim)
    # One call per backfill, plus the one answered 401 before the refresh.
    check(calls == backfills + 1, "recently-played calls %d = backfills %d + the 401" % (calls, backfills))
    nos = uhash(c, "nos")
    check("backfill_at" not in nos and "backfill_cursor" not in nos and int(nos.get("polls", 0)) >= 1
          and nos["status"] == "active", "no scope, no backfill, still polled: %r" % nos)
    check(not played(c, "nos"), "no track_played for the user without the scope")
    print("  backfills %d, recently-played calls %d, plays announced %d" % (backfills, calls, len(ids)))
    check(w.alive(), "worker alive")


def test_backfill_counted_against_budget():
    """Three users poll far faster than the app's budget allows, each playing
    6 short tracks: every play is backfilled exactly once, in order, and the
    backfill calls come out of the same budget (the simulator's limit equals
    the budget and refuses nothing)."""
    window, budget = 3000, 4
    extra = BASE + ["--poll-interval-ms", "300", "--backfill-interval-ms", "1500"]
    r = RedisServer()
    sim = Sim(SIM_ARGS + ["--window-ms", str(window), "--rate-limit", str(budget)])
    users = ["u1", "u2", "u3"]
    setup_app(r, sim, users=users)
    spotwatch(r, "app", "add", "app1", "--client-id", "cid-app1", "--client-secret", "s3cret-app",
              "--budget", str(budget), "--window-ms", str(window), sim=sim)
    for u in users:
        add_user(r, sim, u, scope=FULL_SCOPE, extra=extra)
    c = r.client()
    ws = [Worker(r, sim, extra) for _ in range(2)]
    wait_for(lambda: all(uhash(c, u).get("backfill_cursor") for u in users), 30, "every user's history started")
    for u in users:
        play(sim, u, short_tracks(u + "-", 6))
    want = {u: ["%s-%d" % (u, i) for i in range(1, 7)] for u in users}
    wait_for(lambda: all(history_len(sim, u) == 6 for u in users), 20, "6 plays per user in the history")
    wait_for(lambda: all(len(played(c, u)) >= 6 for u in users), 60, "every play backfilled", interval=0.3)
    # One more backfill of each user after that: nothing is announced twice.
    marks = {u: int(uhash(c, u)["backfills"]) for u in users}
    wait_for(lambda: all(int(uhash(c, u)["backfills"]) > marks[u] for u in users), 60,
             "one more backfill of each user", interval=0.3)
    for u in users:
        ids = [e["track"]["id"] for e in played(c, u)]
        check(ids == want[u], "%s: each play once, in order: %r" % (u, ids))
    # Stopped first (SIGTERM: every call made is completed), so that no call
    # is counted by the simulator whose result still waits for its tick.
    for w in ws:
        check(w.alive(), "worker alive")
        check(w.stop() == 0, "worker stopped cleanly")
    st = sim.stats()
    calls = st["requests"]["by_path"].get(RECENT, 0)
    polls = st["requests"]["by_path"].get("/v1/me/player", 0)
    backfills = sum(int(uhash(c, u)["backfills"]) for u in users)
    print("  budget %d/%d ms: recently-played %d, currently-playing %d, 429s %d, backfills %d"
          % (budget, window, calls, polls, st["rate_limited"], backfills))
    check(calls >= 3 and calls == backfills, "one call per backfill: %d calls, %d backfills" % (calls, backfills))
    check(st["rate_limited"] == 0 and st["calls_while_limited"] == 0,
          "backfill calls counted in the budget: the simulator refused nothing: %r" % st["rate_limited"])
    check(polls > calls, "polling goes on beside the backfills")


def test_backfill_off_and_watch_stop():
    """backfill-interval-ms 0: no recently-played call at all and no backfill
    fields. Then with backfill on, `watch stop` forgets the cursor, so plays
    made while not watched are never announced."""
    off = BASE + ["--poll-interval-ms", "300", "--backfill-interval-ms", "0"]
    r = RedisServer()
    sim = Sim(SIM_ARGS)
    setup_app(r, sim, users=["o1"])
    add_user(r, sim, "o1", scope=FULL_SCOPE, extra=off)
    c = r.client()
    w = Worker(r, sim, off)
    play(sim, "o1", short_tracks("x", 4))
    wait_for(lambda: history_len(sim, "o1") == 4 and int(uhash(c, "o1").get("polls", 0)) >= 15, 30,
             "plays and polls with backfill off")
    check(recent_calls(sim) == 0, "no recently-played call with backfill off")
    h = uhash(c, "o1")
    check("backfill_at" not in h and "backfill_cursor" not in h, "no backfill fields: %r" % h)
    check(not played(c), "no track_played")
    w.stop()

    on = BASE + ["--poll-interval-ms", "300", "--backfill-interval-ms", "1000"]
    w = Worker(r, sim, on)
    wait_for(lambda: uhash(c, "o1").get("backfill_cursor"), 15, "backfill on: cursor started")
    spotwatch(r, "watch", "stop", "o1", sim=sim, extra=on)
    wait_for(lambda: c.cmd("ZSCORE", "sw:{app1}:leases", "o1") is None, 10, "poll in flight done")
    sim.ok("DELETE", "/sim/users/o1/playback")   # ends the current entry
    play(sim, "o1", short_tracks("y", 3))
    wait_for(lambda: history_len(sim, "o1") >= 7, 15, "plays while not watched")
    h = uhash(c, "o1")
    check("backfill_cursor" not in h and "backfill_at" not in h, "watch stop forgot the cursor: %r" % h)
    spotwatch(r, "watch", "start", "o1", sim=sim, extra=on)
    wait_for(lambda: uhash(c, "o1").get("backfill_cursor"), 15, "history restarted")
    play(sim, "o1", short_tracks("z", 2))
    wait_for(lambda: [e["track"]["id"] for e in played(c, "o1")] == ["z1", "z2"], 20,
             "only the plays after the restart")
    n0 = int(uhash(c, "o1")["backfills"])
    wait_for(lambda: int(uhash(c, "o1")["backfills"]) >= n0 + 2, 15, "two more backfills")
    ids = [e["track"]["id"] for e in played(c, "o1")]
    check(ids == ["z1", "z2"], "no play while stopped, none twice: %r" % ids)
    check(w.alive(), "worker alive")


def test_backfill_lease_lost_no_duplicates():
    """A backfill whose answer comes after its lease expired: the user is
    backfilled again by a second job, which announces the plays; the late
    first answer is fenced out, so no play is announced twice."""
    extra = ["--smart-polling", "no", "--lease-ms", "1500", "--http-timeout-ms", "8000",
             "--backfill-interval-ms", "1000"]
    r = RedisServer()
    sim = Sim(SIM_ARGS)
    setup_app(r, sim, users=["late"])
    add_user(r, sim, "late", scope=FULL_SCOPE, interval=30000, extra=extra)
    spotwatch(r, "watch", "now", "late", sim=sim, extra=extra)
    c = r.client()
    w = Worker(r, sim, extra)
    wait_for(lambda: uhash(c, "late").get("backfill_cursor") and uhash(c, "late").get("last_poll_at"), 15,
             "first poll done")
    play(sim, "late", short_tracks("l", 3))
    wait_for(lambda: history_len(sim, "late") == 3, 15, "3 plays in the history")
    fault = sim.ok("POST", "/sim/faults", {"kind": "delay", "ms": 4000, "count": 1, "path": RECENT})
    backfill_now(r, sim, c, "late", extra)
    wait_for(lambda: len(played(c, "late")) >= 3, 15, "the plays announced by the second backfill")
    # The delayed first answer arrives after the second backfill completed.
    wait_for(lambda: not [f for f in sim.ok("GET", "/sim/faults") if f["id"] == fault["id"]]
             and sim.stats()["requests"]["inflight_by_user"].get("late", 0) == 0, 15,
             "the delayed call was made and answered")
    wait_for(lambda: "lease lost before completion" in w.output() or len(played(c, "late")) > 3, 15,
             "the late answer handled")
    ids = [e["track"]["id"] for e in played(c, "late")]
    check(ids == ["l1", "l2", "l3"], "each play once: %r" % ids)
    check("lease lost before completion" in w.output(), "the late answer was fenced out")
    check(recent_calls(sim) >= 2, "two backfill calls were made: %d" % recent_calls(sim))
    check(w.alive(), "worker alive")
