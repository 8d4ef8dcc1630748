"""Hostile responses (issue 8, part 2): whatever Spotify (or a proxy in front of
it) answers, the worker never crashes, never announces a change that did not
happen, records a clear error on the user (last_error), and keeps polling.

Each test runs one user playing "h-a" with one worker, lets the first poll
announce playback_started, then makes the simulator answer the user's polls
with one hostile shape (a fault with a count, see tests/sim/README.md; raw
bodies and headers use the status fault's "body"/"body_b64"/"headers"). After
the fault is spent the user skips to "h-b": the stream must then hold exactly
playback_started(h-a) and track_changed(h-a -> h-b), nothing else.
"""
import base64
import email.utils
import gzip
import json
import time

from harness import *  # noqa: F401,F403

H = ["--poll-interval-ms", "200", "--smart-polling", "no", "--lease-ms", "2000",
     "--http-timeout-ms", "1000", "--backoff-base-ms", "100", "--backoff-max-ms", "300",
     "--retry-after-default-ms", "1500", "--retry-after-max-ms", "2500"]
CP = "/v1/me/player"   # the poll's path (GET /me/player); a prefix of currently-playing too
USER = "h"


class World:
    """One app, one user playing h-a, one worker; the first event seen."""

    def __init__(self, extra=None):
        self.args = H + list(extra or [])
        self.r = RedisServer()
        self.sim = Sim()
        setup_app(self.r, self.sim, users=[USER])
        add_user(self.r, self.sim, USER, extra=self.args)
        play(self.sim, USER, ["h-a", "h-b", "h-c"])
        self.c = self.r.client()
        self.w = Worker(self.r, self.sim, self.args)
        wait_for(lambda: self.events() == [("playback_started", "h-a", None)], 15, "playback_started")

    def user(self):
        return self.c.hgetall("sw:{app1}:user:" + USER)

    def num(self, field):
        return int(self.user().get(field) or 0)

    def events(self):
        out = []
        for e in stream_events(self.c):
            check(e.get("user") == USER, "an event of another user: %r" % e)
            out.append((e["type"], (e.get("track") or {}).get("id"), e.get("previous_track_id")))
        return out

    def fault(self, **f):
        f.setdefault("user", USER)
        f.setdefault("path", CP)
        return self.sim.ok("POST", "/sim/faults", f)["id"]

    def spent(self, fid):
        return fid not in [f["id"] for f in self.sim.ok("GET", "/sim/faults")]

    def hostile(self, fault, error, n=2, timeout=15, events=None):
        """Serve fault n times; expect n errors naming `error`, no event (the
        stream stays `events`, by default just playback_started), and polling
        to go on. Returns the user hash right after."""
        events = events or [("playback_started", "h-a", None)]
        errors0, polls0 = self.num("errors"), self.num("polls")
        fid = self.fault(count=n, **fault)
        wait_for(lambda: self.spent(fid), timeout, "the fault served %d times" % n)
        wait_for(lambda: self.num("errors") >= errors0 + n, timeout, "%d errors recorded" % n)
        u = self.user()
        check(error in u.get("last_error", ""), "last_error %r should mention %r" % (u.get("last_error"), error))
        check(u.get("status") == "active", "the user stays scheduled: %r" % u.get("status"))
        # It keeps polling, successfully, once the answers are sane again.
        wait_for(lambda: self.num("polls") >= polls0 + n + 2 and self.user().get("last_outcome") == "ok",
                 timeout, "polling goes on")
        check(self.events() == events, "no bogus event: %r" % self.events())
        check(self.w.alive(), "the worker is alive")
        return u

    def change_still_seen(self):
        """A real change after the hostile answers is announced once, correctly."""
        self.sim.ok("POST", "/sim/users/%s/next" % USER)
        want = [("playback_started", "h-a", None), ("track_changed", "h-b", "h-a")]
        wait_for(lambda: len(self.events()) >= 2, 15, "the change after the hostile answers")
        time.sleep(0.7)   # two more polls: a duplicate would show now
        check(self.events() == want, "events: %r" % self.events())
        check(self.w.alive(), "the worker is alive")
        out = self.w.output()
        check("AddressSanitizer" not in out and "runtime error" not in out, "sanitizer report in the log")


def cp_body(track_id="h-a", progress=1000, duration=180000, is_playing=True, **over):
    """A currently-playing answer for the user's track, as Spotify shapes it."""
    b = {"timestamp": int(time.time() * 1000), "context": None, "progress_ms": progress,
         "currently_playing_type": "track", "is_playing": is_playing,
         "actions": {"disallows": {"resuming": True}},
         "item": {"id": track_id, "name": "Track " + track_id, "type": "track", "is_local": False,
                  "uri": "spotify:track:" + track_id, "duration_ms": duration,
                  "artists": [{"id": "ar", "name": "Artist " + track_id}],
                  "album": {"id": "al", "name": "Album " + track_id}}}
    b.update(over)
    return json.dumps(b)


def raw(body, status=200, headers=("Content-Type: application/json",), **kw):
    """A raw answer: exactly this body (bytes go base64) and these headers."""
    f = {"kind": "status", "status": status, "headers": list(headers)}
    f.update(kw)
    if isinstance(body, bytes):
        f["body_b64"] = base64.b64encode(body).decode()
    else:
        f["body"] = body
    return f


# --- bodies -------------------------------------------------------------------

def test_malformed_json():
    w = World()
    w.hostile({"kind": "malformed"}, "bad currently-playing response")
    w.change_still_seen()


def test_truncated_json():
    w = World()
    w.hostile({"kind": "truncate"}, "bad currently-playing response")
    w.change_still_seen()


def test_truncated_json_raw_and_garbage():
    w = World()
    body = cp_body()
    w.hostile(raw(body[:len(body) // 3]), "invalid JSON")
    w.hostile(raw(b"\x00\xff not json at all"), "bad currently-playing response")
    w.hostile(raw("[1, 2, 3]"), "not a JSON object")
    w.change_still_seen()


def test_ten_megabyte_body_is_capped():
    w = World()
    w.hostile({"kind": "big_body", "size": 10 * 1024 * 1024}, "max-body-bytes")
    with open("/proc/%d/status" % w.w.proc.pid) as f:
        hwm = [ln for ln in f if ln.startswith("VmHWM")]
    print("worker peak RSS after two 10 MB answers: %s" % (hwm[0].split(":")[1].strip() if hwm else "?"))
    w.change_still_seen()


def test_wrong_types_from_the_simulator():
    w = World()
    w.hostile({"kind": "wrong_types"}, "not a")
    w.change_still_seen()


def test_wrong_types_in_every_field():
    """A string where a number belongs, and so on, one field at a time."""
    w = World()
    cases = [
        ({"progress_ms": "1000"}, "progress_ms"),
        ({"is_playing": "true"}, "is_playing"),
        ({"currently_playing_type": 7}, "currently_playing_type"),
        ({"item": "h-a"}, "item"),
        ({"item": [1]}, "item"),
        ({"device": "phone"}, "device"),
    ]
    for over, field in cases:
        w.hostile(raw(cp_body(**over)), field, n=1)
    item_cases = [("duration_ms", "180000"), ("id", 42), ("name", {"x": 1}), ("artists", "Artist"),
                  ("album", 5), ("type", ["track"]), ("is_local", "no")]
    for field, value in item_cases:
        b = json.loads(cp_body())
        b["item"][field] = value
        w.hostile(raw(json.dumps(b)), field, n=1)
    w.change_still_seen()


def test_null_item_for_a_track():
    """A track without its item would be a track_changed to nothing (and back)."""
    w = World()
    w.hostile(raw(cp_body(item=None)), "item: null")
    w.change_still_seen()


def test_negative_progress_and_progress_past_duration():
    """Out-of-range numbers are clamped (playback.h), never a change of track or
    state: no event, and the stored progress stays within [0, duration]."""
    w = World()
    for progress, want in ((-5000, 0), (10 ** 12, 180000)):
        polls0 = w.num("polls")
        fid = w.fault(count=2, **raw(cp_body(progress=progress)))
        wait_for(lambda: w.spent(fid), 15, "fault served")
        wait_for(lambda: w.num("polls") >= polls0 + 3, 15, "polls go on")
        check(w.events() == [("playback_started", "h-a", None)], "no bogus event: %r" % w.events())
        check(w.num("errors") == 0, "a clamped value is not an error")
    # The clamped value was stored: check the last one directly.
    fid = w.fault(count=-1, **raw(cp_body(progress=-1)))
    wait_for(lambda: json.loads(w.user()["state"]).get("pr") == 0, 15, "negative progress stored as 0")
    w.sim.ok("DELETE", "/sim/faults/%d" % fid)
    w.change_still_seen()


def test_unknown_fields_are_ignored():
    w = World()
    polls0 = w.num("polls")
    fid = w.fault(count=3, kind="extra_fields")
    wait_for(lambda: w.spent(fid), 15, "fault served")
    b = json.loads(cp_body())
    b["sim_future"] = {"nested": [1, {"x": None}]}
    b["item"]["sim_new_field"] = "x" * 5000
    fid = w.fault(count=2, **raw(json.dumps(b)))
    wait_for(lambda: w.spent(fid) and w.num("polls") >= polls0 + 6, 15, "polls go on")
    check(w.num("errors") == 0, "unknown fields are no error: %r" % w.user().get("last_error"))
    check(w.events() == [("playback_started", "h-a", None)], "no bogus event: %r" % w.events())
    w.change_still_seen()


def test_gzip_bodies():
    """A gzip body is decoded (the change comes through it); a corrupt one or a
    bomb is an error, and the size cap applies to the decoded size."""
    w = World()
    fid = w.fault(count=-1, kind="gzip")
    polls0 = w.num("polls")
    wait_for(lambda: w.num("polls") >= polls0 + 3, 15, "polls through gzip")
    check(w.num("errors") == 0, "gzip answers are fine: %r" % w.user().get("last_error"))
    w.sim.ok("POST", "/sim/users/%s/next" % USER)
    wait_for(lambda: len(w.events()) >= 2, 15, "a change seen through a gzip answer")
    hits = [f["hits"] for f in w.sim.ok("GET", "/sim/faults") if f["id"] == fid][0]
    w.sim.ok("DELETE", "/sim/faults/%d" % fid)
    check(hits >= 4, "the answers were gzip'd: %d" % hits)
    check(w.events() == [("playback_started", "h-a", None), ("track_changed", "h-b", "h-a")], "events %r" % w.events())
    both = [("playback_started", "h-a", None), ("track_changed", "h-b", "h-a")]
    # Corrupt gzip: not a gzip stream at all.
    w.hostile(raw(b"this is not gzip", headers=("Content-Type: application/json", "Content-Encoding: gzip")),
              "transient", events=both)
    # A bomb: 64 MiB of JSON whitespace in ~64 KiB; the cap is on what it decodes to.
    bomb = gzip.compress(b"{" + b" " * (64 << 20) + b"}", 9)
    check(len(bomb) < (1 << 20), "the bomb is small on the wire")
    w.hostile(raw(bomb, headers=("Content-Type: application/json", "Content-Encoding: gzip")), "max-body-bytes",
              events=both)
    with open("/proc/%d/status" % w.w.proc.pid) as f:
        hwm = [ln for ln in f if ln.startswith("VmHWM")]
    print("worker peak RSS after two gzip bombs: %s" % (hwm[0].split(":")[1].strip() if hwm else "?"))
    check(w.events() == [("playback_started", "h-a", None), ("track_changed", "h-b", "h-a")], "events %r" % w.events())


def test_api_accept_gzip():
    """By default the worker asks for no coding, so the simulator (like
    api.spotify.com) answers plain; with api-accept-gzip yes it asks for
    gzip, gets every answer compressed, and a change comes through them."""
    w = World()
    polls0 = w.num("polls")
    wait_for(lambda: w.num("polls") >= polls0 + 3, 15, "plain polls")
    check(w.sim.stats()["gzip_asked"] == 0, "the default asks for no gzip: %r" % w.sim.stats()["gzip_asked"])
    check(w.w.stop() == 0, "the first worker exits 0")
    w.w = Worker(w.r, w.sim, w.args + ["--api-accept-gzip", "yes"])
    polls0 = w.num("polls")
    wait_for(lambda: w.num("polls") >= polls0 + 3, 15, "polls asking for gzip")
    asked = w.sim.stats()["gzip_asked"]
    check(asked >= 3, "every answer compressed when asked: %d" % asked)
    check(w.num("errors") == 0, "gzip answers are fine: %r" % w.user().get("last_error"))
    w.sim.ok("POST", "/sim/users/%s/next" % USER)
    wait_for(lambda: len(w.events()) >= 2, 15, "a change seen through a gzip answer")
    check(w.events() == [("playback_started", "h-a", None), ("track_changed", "h-b", "h-a")], "events %r" % w.events())


# --- error statuses -------------------------------------------------------------

def test_non_json_403_and_502():
    w = World()
    w.hostile({"kind": "html_status", "status": 403}, "HTTP 403")
    w.hostile(raw("Forbidden.", status=403, headers=("Content-Type: text/plain",)), "HTTP 403")
    w.hostile({"kind": "html_status", "status": 502}, "HTTP 502")
    w.hostile(raw("upstream connect error or disconnect/reset before headers", status=502, headers=()),
              "HTTP 502")
    w.change_still_seen()


def test_missing_and_duplicate_headers():
    """No Content-Type (or a wrong one) on a good answer is fine; two
    Content-Types are fine; a 401 without WWW-Authenticate still refreshes."""
    w = World()
    polls0 = w.num("polls")
    for hdrs in ((), ("Content-Type: text/html",), ("Content-Type: application/json", "Content-Type: text/plain")):
        fid = w.fault(count=2, **raw(cp_body(), headers=hdrs))
        wait_for(lambda: w.spent(fid), 15, "fault served")
    wait_for(lambda: w.num("polls") >= polls0 + 7, 15, "polls go on")
    check(w.num("errors") == 0, "header oddities on a good answer are no error: %r" % w.user().get("last_error"))
    check(w.events() == [("playback_started", "h-a", None)], "no bogus event: %r" % w.events())
    # A bare 401 with no header and no body: the worker refreshes once, then polls.
    grants0 = w.sim.stats()["token_grants"]["refresh_token"]
    fid = w.fault(count=1, **raw("", status=401, headers=()))
    wait_for(lambda: w.spent(fid) and w.sim.stats()["token_grants"]["refresh_token"] > grants0, 15,
             "a refresh after the bare 401")
    wait_for(lambda: w.user().get("last_outcome") == "ok", 15, "polling again")
    check(w.user().get("status") == "active", "still active")
    w.change_still_seen()


# --- Retry-After ------------------------------------------------------------------

def _block(w, headers, status=429):
    """Answer one poll with a 429 carrying headers; return (block ms, rl hash)."""
    fid = w.fault(count=1, **raw('{"error":{"status":429,"message":"API rate limit exceeded"}}',
                                 status=status, headers=("Content-Type: application/json",) + tuple(headers)))
    wait_for(lambda: w.spent(fid), 15, "the 429 served")
    rl = wait_for(lambda: (lambda h: h if h.get("blocked_at") else None)(w.c.hgetall("sw:{app1}:rl")), 15,
                  "the app blocked")
    return int(rl["blocked_until"]) - int(rl["blocked_at"]), rl


def _after_block(w, rl):
    """Polls resume once the block is over; nothing bogus was announced."""
    until = int(rl["blocked_until"])
    polls0 = w.num("polls")
    wait_for(lambda: w.num("polls") > polls0 + 1, 30, "polling resumes after the block")
    last = int(w.user()["last_poll_at"])
    check(last >= until, "no poll inside the block (last poll %d, block until %d)" % (last, until))
    check(w.events() == [("playback_started", "h-a", None)], "no bogus event: %r" % w.events())
    check("429" in w.user().get("last_error", ""), "the 429 is on the user: %r" % w.user().get("last_error"))
    check(w.w.alive(), "the worker is alive")


def _not_capped(w):
    st = json.loads(spotwatch(w.r, "status", "--json", sim=w.sim).stdout)
    check("retry_after_capped_at" not in st["apps"][0]["limiter"], "not capped: %r" % st["apps"][0]["limiter"])


def test_retry_after_zero_uses_the_default():
    w = World()
    ms, rl = _block(w, ["Retry-After: 0"])
    check(ms == 1500, "Retry-After 0 -> retry-after-default-ms (1500), not %d" % ms)
    _not_capped(w)
    _after_block(w, rl)


def test_retry_after_negative_and_missing_use_the_default():
    w = World()
    ms, rl = _block(w, ["Retry-After: -5"])
    check(ms == 1500, "Retry-After -5 -> retry-after-default-ms (1500), not %d" % ms)
    _after_block(w, rl)
    w.c.cmd("DEL", "sw:{app1}:rl")
    ms, rl = _block(w, [])
    check(ms == 1500, "no Retry-After -> retry-after-default-ms (1500), not %d" % ms)
    _after_block(w, rl)
    _not_capped(w)


def test_retry_after_http_date():
    w = World()
    when = email.utils.formatdate(time.time() + 2, usegmt=True)
    ms, rl = _block(w, ["Retry-After: " + when])
    check(500 <= ms <= 2200 and ms != 1500, "Retry-After %r blocks about 1-2 s, not %d ms" % (when, ms))
    _not_capped(w)
    _after_block(w, rl)
    w.c.cmd("DEL", "sw:{app1}:rl")
    ms, rl = _block(w, ["Retry-After: " + email.utils.formatdate(time.time() - 3600, usegmt=True)])
    check(ms == 1000, "a date in the past blocks 1000 ms, not %d" % ms)
    _after_block(w, rl)


def test_retry_after_absurd_is_capped_and_status_says_so():
    w = World()
    text = spotwatch(w.r, "status", sim=w.sim).stdout
    check("capped" not in text, "no cap before: %s" % text)
    ms, rl = _block(w, ["Retry-After: 99999999999999999999999999999999"])
    check(ms == 2500, "an absurd Retry-After is capped at retry-after-max-ms (2500), not %d" % ms)
    check(rl.get("retry_after_capped_at"), "the cap is recorded: %r" % rl)
    text = spotwatch(w.r, "status", sim=w.sim).stdout
    check("[a Retry-After was capped]" in text, "status says the Retry-After was capped:\n%s" % text)
    st = json.loads(spotwatch(w.r, "status", "--json", sim=w.sim).stdout)
    check(st["apps"][0]["limiter"].get("retry_after_capped_at"), "status --json too: %r" % st["apps"][0])
    log = w.w.output()
    check("Retry-After capped" in log, "the worker log says so too")
    _after_block(w, rl)
    # A far date is capped the same way.
    w.c.cmd("DEL", "sw:{app1}:rl")
    ms, rl = _block(w, ["Retry-After: Fri, 31 Dec 9999 23:59:59 GMT"])
    check(ms == 2500, "a far date is capped, not %d" % ms)
    _after_block(w, rl)


def test_retry_after_duplicate_and_garbage():
    w = World()
    ms, rl = _block(w, ["Retry-After: 2", "Retry-After: 600"])
    check(ms == 2000, "the first of two Retry-After headers counts (2000), not %d" % ms)
    _after_block(w, rl)
    w.c.cmd("DEL", "sw:{app1}:rl")
    ms, rl = _block(w, ["Retry-After: soon!"])
    check(ms == 1500, "an unreadable Retry-After -> the default, not %d" % ms)
    _after_block(w, rl)


# --- the token endpoint -------------------------------------------------------------

def test_hostile_token_answers_keep_the_old_tokens():
    """The access token expires; the token endpoint answers garbage three times
    (malformed JSON, an HTML 502, wrong types); the user keeps its tokens, is
    not sent to reauth, and polls again once a sane answer comes."""
    w = World()
    rt0 = w.user()["refresh_token"]
    faults = [raw('{"access_token": "x", "expires_in": ', path="/api/token"),
              {"kind": "html_status", "status": 502, "path": "/api/token"},
              raw(json.dumps({"access_token": 5, "token_type": "Bearer", "expires_in": "3600"}),
                  path="/api/token")]
    ids = [w.fault(count=1, **f) for f in faults]
    w.sim.ok("POST", "/sim/users/%s/expire" % USER)
    wait_for(lambda: all(w.spent(i) for i in ids), 30, "the three hostile token answers served")
    wait_for(lambda: w.user().get("last_outcome") == "ok" and int(w.user().get("refreshes") or 0) >= 1, 30,
             "a sane refresh, then polls")
    u = w.user()
    check(u["status"] == "active", "not sent to reauth: %r" % u.get("status"))
    check(u["refresh_token"] == rt0, "the refresh token is kept (no rotation here)")
    check(int(u.get("errors") or 0) >= 3, "three errors recorded: %r" % u.get("errors"))
    log = w.w.output()
    check("token endpoint" in log, "the log names the token endpoint")
    w.change_still_seen()
