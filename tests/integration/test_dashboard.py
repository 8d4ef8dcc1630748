"""The web dashboard (admin-listen), tested in a real browser: Debian's
headless Chromium, driven through the DevTools protocol (cdp.py), loads each
page of a running system (real redis-server, simulator, a worker, serve) and
the tests assert on the rendered DOM. Screenshots go to the tests' log
directory. Without a browser these tests FAIL, they never skip."""
import base64
import json
import os
import re
import urllib.parse

from harness import *  # noqa: F401,F403
from cdp import Browser, browser_path

FAST = ["--poll-interval-ms", "300", "--smart-polling", "no", "--lease-ms", "2000",
        "--http-timeout-ms", "1000"]
PASSWORD = "dash-Pa55word-for-tests"
# Display names come from Spotify (via /v1/me), track names from whoever
# uploaded the track: both hostile.
HOSTILE_NAME = "<img src=x id=pwned-name onerror=\"document.title='pwned'\"><script>document.title='pwned'</script>&amp;"
HOSTILE_TRACK = "</td><script id=pwned-track>document.title='pwned'</script><b class=pwned>Evil</b>"

# Chromium refuses a few ports ("unsafe ports"); a free port among them
# would make the browser fail for reasons of its own.
UNSAFE_PORTS = {5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6697, 10080}


def safe_port():
    while True:
        p = free_port()
        if p not in UNSAFE_PORTS:
            return p


def admin_serve(r, sim, actions=True):
    """serve with the dashboard on a port of its own; returns (serve, base URL)."""
    pw = os.path.join(tmpdir(), "admin.pass")
    with open(pw, "w") as f:
        f.write(PASSWORD + "\n")
    record_secret(PASSWORD)
    port = safe_port()
    s = Serve(r, sim, ["--admin-listen", "127.0.0.1:%d" % port, "--admin-password-file", pw,
                       "--admin-actions", "yes" if actions else "no"])
    base = "http://127.0.0.1:%d" % port
    wait_for(lambda: http("GET", base + "/")[0] == 401, 10, "the dashboard to listen")
    return s, base


def auth_header(password=PASSWORD):
    return {"Authorization": "Basic " + base64.b64encode(("admin:" + password).encode()).decode()}


def system():
    """Three users on app1, one of them connected through serve with a hostile
    display name, playing; a worker; serve with the dashboard (actions on)."""
    r = RedisServer()
    sim = Sim()
    setup_app(r, sim, users=["alice", "bob", "sp-evil"])
    for u in ("alice", "bob"):
        add_user(r, sim, u, extra=FAST)
    serve, base = admin_serve(r, sim)
    sim.ok("POST", "/sim/users", {"id": "sp-evil", "display_name": HOSTILE_NAME})
    st, _h, body = oauth_login(serve, "evil", "sp-evil")
    check(st == 200, "evil connected through serve: %d %r" % (st, body[:200]))
    play(sim, "alice", [track("t-a1", name=HOSTILE_TRACK)])
    play(sim, "bob", ["t-b1"])
    w = Worker(r, sim, FAST)
    c = r.client()
    wait_for(lambda: {e["user"] for e in stream_events(c) if e["type"] == "playback_started"} >= {"alice", "bob"},
             20, "both users' first events")
    wait_for(lambda: c.cmd("HGET", "sw:{app1}:user:evil", "display_name") == HOSTILE_NAME, 10,
             "evil's display name stored")
    return r, sim, serve, base, w, c


def test_browser_present():
    """The browser is part of the test setup: missing, it is a failure."""
    check(os.access(browser_path(), os.X_OK), "browser not executable")


def test_dashboard_requires_authentication():
    r = RedisServer()
    sim = Sim()
    setup_app(r, sim, users=["u1"])
    _serve, base = admin_serve(r, sim)
    for path in ("/", "/users", "/live", "/events", "/admin.js", "/user?id=u1"):
        st, h, body = http("GET", base + path)
        check(st == 401, "%s without credentials: %d" % (path, st))
        check(h.get("www-authenticate", "").startswith("Basic realm="), "challenge: %r" % h)
        check(b"u1" not in body, "nothing of the state before authentication")
    st, _h, _b = http("GET", base + "/", headers=auth_header("wrong-" + PASSWORD))
    check(st == 401, "wrong password: %d" % st)
    st, h, body = http("GET", base + "/", headers=auth_header())
    check(st == 200 and b"app1" in body, "right password: %d" % st)
    csp = h.get("content-security-policy", "")
    check("default-src 'none'" in csp and "unsafe-inline" not in csp, "CSP without unsafe-inline: %r" % csp)
    check(h.get("x-frame-options") == "DENY" and h.get("x-content-type-options") == "nosniff", "headers: %r" % h)
    # A dashboard without a password does not start (nor does serve).
    bad = Serve(r, sim, ["--admin-listen", "127.0.0.1:%d" % safe_port()], wait=False)
    wait_for(lambda: not bad.proc.alive(), 10, "serve to refuse a dashboard without a password")
    check(bad.proc.p.returncode != 0 and "admin-password-file" in bad.output(), "the reason: %r" % bad.output())
    # The browser sees the same refusal.
    b = Browser()
    b.open(base + "/")
    check("Authentication required" in b.text("h1"), "browser shows the 401 page: %r" % b.text("h1"))
    b.screenshot("dashboard-401.png")


def test_pages_show_the_running_system():
    r, sim, serve, base, w, c = system()
    b = Browser("admin:" + PASSWORD)

    # Overview: the app's users by status, the chart, the worker, Redis.
    b.open(base + "/")
    card = '[data-app="app1"]'
    check(b.eval("!!document.querySelector('%s')" % card), "app1's card")
    counts = b.text(card + " .counts")
    check("active 3" in " ".join(counts.split()), "three active users: %r" % counts)
    # The chart: the polls made since serve started, as bars of the minute.
    total = int(b.eval("document.querySelector('%s svg.chart').dataset.total" % card))
    check(total > 0 and b.eval("document.querySelectorAll('%s svg.chart rect.use').length" % card) >= 1,
          "the chart's bars (%d calls)" % total)
    b.wait("document.querySelectorAll('table.workers tr').length === 2", 15, "one live worker")

    def worker_latency():
        """The worker's row once its heartbeat carries percentiles (reloaded)."""
        b.open(base + "/")
        cells = b.eval("Array.from(document.querySelectorAll('table.workers tr:nth-child(2) td'))"
                       ".map(t => t.textContent)")
        return cells if len(cells) == 10 and all(c[:1].isdigit() for c in cells[5:10]) else None
    cells = wait_for(worker_latency, 15, "the worker's lag and poll latency percentiles")
    check(int(cells[3]) > 0, "the worker's polls: %r" % cells)
    check("not blocked" in b.text(card + " .limiter"), "limiter state")
    check(b.text("table.redis").find("used memory") >= 0 and "B" in b.text("table.redis"), "Redis memory")
    b.screenshot("dashboard-overview.png")

    # Users: every user, statuses, now playing; hostile strings shown as text.
    b.open(base + "/users")
    rows = b.eval("Array.from(document.querySelectorAll('tr.user-row')).map(r => "
                  "[r.dataset.user, r.querySelector('.status').textContent, r.querySelector('.name').textContent,"
                  " r.querySelector('.playing').textContent])")
    by = {row[0]: row for row in rows}
    check(set(by) == {"alice", "bob", "evil"}, "the users: %r" % rows)
    check(all(row[1] == "active" for row in rows), "statuses: %r" % rows)
    check(by["evil"][2] == HOSTILE_NAME, "the hostile display name as text: %r" % by["evil"][2])
    wait_for(lambda: c.cmd("XLEN", "sw:{app1}:events") >= 2, 10, "events")
    check(HOSTILE_TRACK in by["alice"][3] and by["alice"][3].startswith("\u25b6"), "alice playing: %r" % by["alice"][3])
    check("Track t-b1" in by["bob"][3], "bob's track: %r" % by["bob"][3])
    check(b.eval("document.querySelectorAll('script').length") == 1, "only the page's own script")
    check(b.eval("document.querySelector('#pwned-name, #pwned-track, b.pwned') === null"), "nothing injected")
    check(b.eval("document.title").startswith("spotwatch"), "no script of theirs ran: %r" % b.eval("document.title"))
    b.screenshot("dashboard-users.png")
    # Search and filters.
    b.open(base + "/users?q=BO")
    check(b.eval("Array.from(document.querySelectorAll('tr.user-row')).map(r => r.dataset.user)") == ["bob"],
          "search by part of the id, any case")
    b.open(base + "/users?app=app1&status=stopped")
    check(b.eval("document.querySelectorAll('tr.user-row').length") == 0, "no stopped user")

    # One user: state, recent events, token expiry, never a token.
    b.open(base + "/user?id=alice")
    check(b.eval("document.querySelectorAll('tr.event').length") >= 1, "alice's recent events")
    check("playback_started" in b.text("table.events"), "the first event: %r" % b.text("table.events"))
    check("access token expires" in b.text("table.state"), "token expiry shown")
    html = b.eval("document.documentElement.outerHTML")
    for field in ("access_token", "refresh_token"):
        tok = c.cmd("HGET", "sw:{app1}:user:alice", field)
        check(tok and tok not in html and tok.split(".", 1)[-1] not in html, "no %s on the page" % field)
    b.screenshot("dashboard-user.png")


def test_live_feed_shows_a_simulator_change():
    r, sim, serve, base, w, c = system()
    # A damaged app (its stream key not a stream) must not stop the feed of the others.
    c.cmd("SET", "sw:{damaged}:events", "not a stream")
    c.cmd("SADD", "sw:apps", "damaged")
    b = Browser("admin:" + PASSWORD)
    b.open(base + "/live")
    b.wait("document.getElementById('feed-state').textContent === 'connected'", 15, "the feed to connect")
    before = b.eval("document.querySelectorAll('tr.live-event').length")
    play(sim, "bob", [track("t-live", name="Live Track 42")])
    b.wait("Array.from(document.querySelectorAll('tr.live-event')).some(r => "
           "r.textContent.includes('Live Track 42') && r.textContent.includes('bob'))", 15,
           "the change in the browser's live feed")
    check(b.eval("document.querySelectorAll('tr.live-event').length") > before, "a new row")
    b.screenshot("dashboard-live.png")
    # A feed for one user shows only that user.
    b.open(base + "/live?user=alice")
    b.wait("document.getElementById('feed-state').textContent === 'connected'", 15, "alice's feed")
    play(sim, "alice", [track("t-al2", name="Alice Two")])
    play(sim, "bob", [track("t-b3", name="Bob Three")])
    b.wait("Array.from(document.querySelectorAll('tr.live-event')).some(r => r.textContent.includes('Alice Two'))",
           15, "alice's change")
    wait_for(lambda: any("Bob Three" in json.dumps(e) for e in stream_events(c)), 10, "bob's change in the stream")
    check(not b.eval("Array.from(document.querySelectorAll('tr.live-event')).some(r => r.textContent.includes('bob'))"),
          "no other user's events in alice's feed")
    # serve stops cleanly with a feed open (the feed sees the stop).
    check(serve.stop() == 0, "serve exits 0 with a live feed open: %s" % serve.output()[-500:])


def test_actions_confirm_then_act_and_audit():
    r, sim, serve, base, w, c = system()
    b = Browser("admin:" + PASSWORD)

    # watch stop, through the confirmation form.
    b.open(base + "/user?id=bob")
    b.click("#act-stop")
    b.wait("location.pathname === '/confirm' && !!document.getElementById('confirm')", 10, "the confirmation")
    check("Stop watching bob" in b.text("#question"), "the question: %r" % b.text("#question"))
    check(c.cmd("HGET", "sw:{app1}:user:bob", "status") == "active", "a GET changes nothing")
    b.screenshot("dashboard-confirm.png")
    b.click("#confirm")
    b.wait("!!document.getElementById('result')", 10, "the result")
    check("stopped watching" in b.text("#result"), "result: %r" % b.text("#result"))
    check(c.cmd("HGET", "sw:{app1}:user:bob", "status") == "stopped", "bob stopped in Redis")
    check(c.cmd("ZSCORE", "sw:{app1}:due", "bob") is None, "bob off the schedule")
    wait_for(lambda: "admin: audit: stop user bob" in serve.output(), 5, "the audit line")
    b.open(base + "/users?status=stopped")
    check(b.eval("Array.from(document.querySelectorAll('tr.user-row')).map(r => r.dataset.user)") == ["bob"],
          "the users page shows bob stopped")

    # watch start brings him back.
    b.open(base + "/confirm?do=start&user=bob")
    b.click("#confirm")
    b.wait("!!document.getElementById('result')", 10, "the result")
    check(c.cmd("HGET", "sw:{app1}:user:bob", "status") == "active", "bob active again")
    check(c.cmd("ZSCORE", "sw:{app1}:due", "bob") is not None or c.cmd("ZSCORE", "sw:{app1}:leases", "bob"),
          "bob scheduled again")

    # A form without the right token, or from another site, changes nothing.
    hdr = dict(auth_header(), **{"Content-Type": "application/x-www-form-urlencoded"})
    forged = urllib.parse.urlencode({"csrf": "0" * 64, "do": "stop", "id": "alice"}).encode()
    st, _h, _b = http("POST", base + "/action", headers=hdr, body=forged)
    check(st == 403, "forged token: %d" % st)
    b.open(base + "/confirm?do=stop&user=alice")
    token = b.eval("document.querySelector('input[name=csrf]').value")
    good = urllib.parse.urlencode({"csrf": token, "do": "stop", "id": "alice"}).encode()
    st, _h, _b = http("POST", base + "/action", headers=dict(hdr, **{"Sec-Fetch-Site": "cross-site"}), body=good)
    check(st == 403, "cross-site form: %d" % st)
    st, _h, _b = http("GET", base + "/action?csrf=%s&do=stop&id=alice" % token, headers=auth_header())
    check(st == 405, "GET /action: %d" % st)
    check(c.cmd("HGET", "sw:{app1}:user:alice", "status") == "active", "alice untouched")
    wait_for(lambda: "admin: audit: action refused" in serve.output(), 5, "refusals audited")

    # app unblock lifts a block.
    c.cmd("HSET", "sw:{app1}:rl", "blocked_until", str(int(c.cmd("TIME")[0]) * 1000 + 600000),
          "block_reason", "quota_exceeded")
    b.open(base + "/")
    check("quota_exceeded" in b.text('[data-app="app1"] .limiter'), "the block and its reason")
    b.click('[data-app="app1"] a.action')
    b.wait("!!document.getElementById('confirm')", 10, "the confirmation")
    b.click("#confirm")
    b.wait("!!document.getElementById('result')", 10, "the result")
    check(c.cmd("HGET", "sw:{app1}:rl", "blocked_until") is None, "unblocked in Redis")

    # user remove.
    b.open(base + "/confirm?do=remove&user=evil")
    b.click("#confirm")
    b.wait("!!document.getElementById('result')", 10, "the result")
    check(c.cmd("HGET", "sw:users", "evil") is None and c.cmd("EXISTS", "sw:{app1}:user:evil") == 0, "evil removed")
    wait_for(lambda: "admin: audit: remove user evil" in serve.output(), 5, "the audit line")
    # Secrets never in serve's log.
    check(PASSWORD not in serve.output(), "the password is not logged")


def test_read_only_unless_enabled():
    r = RedisServer()
    sim = Sim()
    setup_app(r, sim, users=["ro"])
    add_user(r, sim, "ro", extra=FAST)
    _serve, base = admin_serve(r, sim, actions=False)
    b = Browser("admin:" + PASSWORD)
    b.open(base + "/user?id=ro")
    check(b.eval("document.querySelectorAll('a.action').length") == 0, "no action offered")
    st, _h, _b = http("GET", base + "/confirm?do=stop&user=ro", headers=auth_header())
    check(st == 403, "confirm refused: %d" % st)
    hdr = dict(auth_header(), **{"Content-Type": "application/x-www-form-urlencoded"})
    st, _h, _b = http("POST", base + "/action", headers=hdr,
                      body=urllib.parse.urlencode({"csrf": "x", "do": "stop", "id": "ro"}).encode())
    check(st == 403, "action refused: %d" % st)
    check(r.client().cmd("HGET", "sw:{app1}:user:ro", "status") == "active", "nothing changed")


def test_overview_shows_every_cluster_primary():
    """In cluster mode the Redis panel is every primary's (issue 15): the
    memory summed over the primaries, and each primary with its slots and
    the apps whose hash tag it serves."""
    cl = RedisCluster(primaries=3, replicas=0)
    sim = Sim()
    by_primary = cl.apps_per_primary(per=1, prefix="dash")
    for apps in by_primary.values():
        setup_app(cl, sim, app=apps[0], users=[apps[0] + "-u1"])
    _serve, base = admin_serve(cl, sim, actions=False)
    st, _h, body = http("GET", base + "/", headers=auth_header())
    page = body.decode()
    check(st == 200 and "(3 primaries)" in page, "the memory of the 3 primaries: %d %r" % (st, page[-1500:]))
    rows = re.findall(r"<tr><td>127\.0\.0\.1:(\d+)</td><td>(\d+)</td><td>[^<]*</td><td>([^<]*)</td></tr>", page)
    check(sorted(int(p) for p, _s, _a in rows) == sorted(by_primary),
          "a row per primary: %r (primaries %r)" % (rows, sorted(by_primary)))
    check(sum(int(s) for _p, s, _a in rows) == 16384, "their slots add up to 16384: %r" % rows)
    for p, _s, apps in rows:
        check(apps == by_primary[int(p)][0], "primary %s holds %r: %r" % (p, by_primary[int(p)], apps))
