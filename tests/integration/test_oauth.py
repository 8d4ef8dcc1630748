"""Per-user OAuth, /healthz and /metrics of `spotwatch serve` (issue 6): a real
redis-server, the real simulator as Spotify, real serve and worker processes,
and a cookie-less HTTP client that follows every redirect by hand."""
import base64
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import time
import urllib.parse

from harness import *  # noqa: F401,F403

FAST = ["--poll-interval-ms", "300", "--smart-polling", "no", "--lease-ms", "2000",
        "--http-timeout-ms", "2000", "--backoff-base-ms", "200", "--backoff-max-ms", "1000"]

USER_KEYS = ("sw:{app1}:user:*", "sw:users", "sw:{app1}:accounts", "sw:{app1}:due")


def keyfiles():
    """A token keyring and a state key, as an operator makes them."""
    d = tmpdir()
    tk, sk = os.path.join(d, "token.key"), os.path.join(d, "state.key")
    for f in (tk, sk):
        r = subprocess.run([SPOTWATCH, "keygen", f], capture_output=True, text=True)
        check(r.returncode == 0, "keygen: %s" % r.stderr)
    return ["--token-key-file", tk, "--state-key-file", sk]


def world(extra=None, serve_extra=None, sim_args=None, mode="extended", allowlist=None,
          appendonly=False):
    r = RedisServer(appendonly=appendonly)
    sim = Sim(sim_args or [])
    keys = keyfiles()
    setup_app(r, sim, mode=mode, allowlist=allowlist or [], extra=keys + list(extra or []))
    serve = Serve(r, sim, keys + list(extra or []) + list(serve_extra or []))
    return r, sim, serve, keys


def query(url):
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def with_query(url, **kw):
    u = urllib.parse.urlsplit(url)
    q = dict(urllib.parse.parse_qsl(u.query))
    q.update(kw)
    return urllib.parse.urlunsplit((u.scheme, u.netloc, u.path, urllib.parse.urlencode(q), ""))


def user_hash(c, user):
    return c.hgetall("sw:{app1}:user:%s" % user)


def sim_me(sim, access_token):
    st, data = http_json("GET", sim.api + "/me", headers={"Authorization": "Bearer " + access_token})
    return st, data


def metric(text, name, labels=None):
    """The value of one sample of a Prometheus text page (0 if absent)."""
    want = name + ("{" + ",".join('%s="%s"' % kv for kv in sorted(labels.items())) + "}" if labels else "")
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        series, _, value = line.rpartition(" ")
        if "{" in series:
            n, _, rest = series.partition("{")
            pairs = sorted(p.split("=", 1) for p in rest.rstrip("}").split(","))
            series = n + "{" + ",".join("%s=%s" % (k, v) for k, v in pairs) + "}"
        if series == want:
            return float(value)
    return 0.0


def check_page(resp, status, *words):
    st, h, body = resp
    text = body.decode("utf-8", "replace")
    check(st == status, "expected %d, got %d: %s" % (status, st, text[:400]))
    check(h.get("content-type", "").startswith("text/html"), "an HTML page: %r" % h)
    check(h.get("cache-control") == "no-store", "not cacheable: %r" % h)
    for w in words:
        check(w.lower() in text.lower(), "page mentions %r: %s" % (w, text[:400]))
    return text


# --------------------------------------------------------------------------- #

def test_two_users_sequential_and_interleaved():
    """Must show 1: each user ends with their own tokens and Spotify account, and is watched."""
    r, sim, serve, keys = world()
    c = r.client()

    # One after the other.
    for user, acct in (("alice", "sp-alice"), ("bob", "sp-bob")):
        check_page(oauth_login(serve, user, acct), 200, "connected", acct)
        h = user_hash(c, user)
        check(h.get("spotify_id") == account_of(sim, acct), "%s is %s: %r" % (user, acct, h.get("spotify_id")))
        check(h.get("status") == "active" and "app" not in h, "active (its app the key's): %r" % h)

    # Interleaved: both /connect first, both consent, then the callbacks in reverse order.
    loc_c = oauth_start(serve, "carol")
    loc_d = oauth_start(serve, "dave")
    cb_c = oauth_consent(loc_c, "sp-carol")
    cb_d = oauth_consent(loc_d, "sp-dave")
    check_page(serve.get(cb_d), 200, "sp-dave")
    check_page(serve.get(cb_c), 200, "sp-carol")

    users = {"alice": "sp-alice", "bob": "sp-bob", "carol": "sp-carol", "dave": "sp-dave"}
    hashes = {u: user_hash(c, u) for u in users}
    for u, acct in users.items():
        h = hashes[u]
        check(h.get("spotify_id") == account_of(sim, acct), "%s ended with %s, not %r" % (u, acct, h.get("spotify_id")))
        # Sealed with the keyring, bound to this user: never plaintext.
        check(sealed_kid(h["access_token"]) is not None and sealed_kid(h["refresh_token"]) is not None,
              "tokens sealed: %r" % h["access_token"][:10])
        check(c.cmd("HGET", "sw:users", u) == "app1", "in the directory")
        check(c.cmd("ZSCORE", "sw:{app1}:due", u) is not None, "%s scheduled" % u)
        check(c.cmd("HGET", "sw:{app1}:accounts", account_of(sim, acct)) == u, "account map %s -> %s" % (acct, u))
    check(len({h["access_token"] for h in hashes.values()}) == 4, "four different tokens")

    st = sim.stats()
    grants = st["token_grants"]
    check(grants["authorization_code"] == 4, "four code grants: %r" % grants)
    for acct in users.values():
        check(grants["by_user"].get(acct) == 1, "one grant for %s: %r" % (acct, grants["by_user"]))

    # Watched, each with their own playback: the worker opens each user's own
    # sealed token, so each sees their own account's track.
    for u, acct in users.items():
        play(sim, acct, ["t-" + u])
    subs = {u: Subscriber(r, "sw:playback:" + u) for u in users}
    Worker(r, sim, keys + FAST)
    for u in users:
        ev = subs[u].wait(lambda e: e["type"] == "playback_started", 15, u + " started")[0]
        check(ev["track"]["id"] == "t-" + u, "%s sees their own track: %r" % (u, ev["track"]))
    st = sim.stats()
    check(st["requests"]["by_status"].get("401", 0) == 0, "no call with a wrong token: %r" % st["requests"])
    for acct in users.values():
        check(st["requests"]["by_user"].get(acct, 0) >= 2, "%s polled with its own token" % acct)

    # No secret reached the log of serve.
    serve.output()   # flushed
    with open(serve.proc.log, "rb") as lf:
        out = lf.read()  # bytes: the sealed tokens are binary
    for u in users:
        for f in ("access_token", "refresh_token"):
            v = user_hash(c, u)[f]
            check((v.encode() if isinstance(v, str) else v) not in out, "a sealed token reached the log")
    check(b"code=" not in out and b"state=" not in out, "no code or state in the log")


def test_two_serve_processes_share_the_state_key():
    """A login begun on one serve process can finish on another (same key, same public URL)."""
    r, sim, serve, keys = world()
    other = Serve(r, sim, keys, public_url=serve.base)
    cb = oauth_consent(oauth_start(serve, "alice"), "sp-alice")
    u = urllib.parse.urlsplit(cb)
    check_page(other.get(other.base + u.path + "?" + u.query), 200, "sp-alice")


def test_failures_change_nothing():
    """Must show 2: each failure is a clear error page and leaves the user keys unchanged."""
    r, sim, serve, keys = world()
    # States and login cookies that last 1 s, for the expired state alone:
    # a second process with the same keys and public URL issues them (the
    # callback comes back to serve). With them everywhere, every later login
    # here had to finish within the second its cookie was set (the tests'
    # cookie jar counts Max-Age in whole seconds), and failed when it did not.
    brief = Serve(r, sim, keys + ["--oauth-state-ttl-ms", "1000"], public_url=serve.base)
    c = r.client()
    check_page(oauth_login(serve, "alice", "sp-alice"), 200)
    before = redis_dump(c, *USER_KEYS)
    check(len(before) >= 4, "something to compare: %r" % list(before))

    def unchanged(what):
        after = redis_dump(c, *USER_KEYS)
        check(after == before, "%s changed Redis:\nbefore %r\nafter  %r" % (what, before, after))

    # Denied consent.
    cb = oauth_consent(oauth_start(serve, "bob"), deny=True)
    check(query(cb).get("error") == "access_denied", "the simulator denied: %s" % cb)
    check_page(serve.get(cb), 403, "declined")
    unchanged("denied consent")

    # Expired state (oauth-state-ttl-ms 1000): the login took too long.
    loc = oauth_start(brief, "bob")
    time.sleep(1.3)
    check_page(serve.get(oauth_consent(loc, "sp-bob")), 400, "expired")
    unchanged("an expired state")

    # An authorization code that expired on the simulator's clock (10 min).
    loc = oauth_start(serve, "bob")
    cb = oauth_consent(loc, "sp-bob")
    sim.ok("POST", "/sim/clock", {"advance_ms": 11 * 60 * 1000})
    check_page(serve.get(cb), 400, "authorization code")
    unchanged("an expired code")

    # A state with one byte changed: in its payload, in its MAC, and a
    # wholly made-up one; each is refused by the signature alone.
    cb = oauth_consent(oauth_start(serve, "bob"), "sp-bob")
    state = query(cb)["state"]
    payload, mac = state.split(".")
    for i, forged in enumerate([
            payload[:5] + ("A" if payload[5] != "A" else "B") + payload[6:] + "." + mac,
            payload + "." + mac[:-3] + ("A" if mac[-3] != "A" else "B") + mac[-2:],
            state[:-1] + ("A" if state[-1] != "A" else "Q"),
            base64.urlsafe_b64encode(os.urandom(40)).decode().rstrip("=") + "." + mac]):
        check(forged != state)
        check_page(serve.get(with_query(cb, state=forged)), 400, "not valid")
        unchanged("forged state %d" % i)
    check_page(serve.get(with_query(cb, state="")), 400)
    unchanged("no state")
    # The forgeries burnt nothing: the real state still works (this changes Redis).
    check_page(serve.get(cb), 200, "sp-bob")
    before = redis_dump(c, *USER_KEYS)

    # A replayed state: the same callback URL again.
    check_page(serve.get(cb), 400, "already been used")
    unchanged("a replayed callback")

    # A callback for a state issued for another user: carol's code presented
    # with dave's state (and the reverse) fails PKCE at Spotify; nothing stored.
    cb_c = oauth_consent(oauth_start(serve, "carol"), "sp-carol")
    cb_d = oauth_consent(oauth_start(serve, "dave"), "sp-dave")
    check_page(serve.get(with_query(cb_c, state=query(cb_d)["state"])), 400)
    unchanged("carol's code with dave's state")
    check(c.cmd("EXISTS", "sw:{app1}:user:dave") == 0 and c.cmd("EXISTS", "sw:{app1}:user:carol") == 0)

    # A wrong code.
    cb = oauth_consent(oauth_start(serve, "erin"), "sp-erin")
    check_page(serve.get(with_query(cb, code="not-a-code")), 400, "authorization code")
    unchanged("a wrong code")

    # Spotify down: the token endpoint answers 503; then /me answers 500.
    cb = oauth_consent(oauth_start(serve, "frank"), "sp-frank")
    sim.ok("POST", "/sim/faults", {"kind": "status", "status": 503, "path": "/api/token", "count": 1})
    check_page(serve.get(cb), 502, "spotify")
    unchanged("the token endpoint down")
    sim.ok("POST", "/sim/faults", {"kind": "status", "status": 500, "path": "/v1/me", "count": 1})
    cb = oauth_consent(oauth_start(serve, "frank"), "sp-frank")
    check_page(serve.get(cb), 502, "spotify")
    unchanged("GET /me down")

    # The same Spotify account connected by a second user: refused by default.
    check_page(oauth_login(serve, "mallory", "sp-alice"), 409, "already connected")
    unchanged("a duplicate account")

    # The app is blocked by a 429 (shared limiter): 503 with Retry-After, a
    # reload after the block succeeds with the same URL.
    cb = oauth_consent(oauth_start(serve, "grace"), "sp-grace")
    now_ms = int(c.cmd("TIME")[0]) * 1000
    c.cmd("HSET", "sw:{app1}:rl", "blocked_until", now_ms + 60000, "block_reason", "rate_limited")
    st, h, body = serve.get(cb)
    check_page((st, h, body), 503, "rate limiting", "try again in")
    check(55 <= int(h.get("retry-after", "0")) <= 60, "Retry-After: %r" % h)
    unchanged("a rate-limited app")
    c.cmd("HDEL", "sw:{app1}:rl", "blocked_until")
    check_page(serve.get(cb), 200, "sp-grace")

    # The token endpoint itself answers 429: the app is blocked for its Retry-After.
    before = redis_dump(c, *USER_KEYS)
    cb = oauth_consent(oauth_start(serve, "heidi"), "sp-heidi")
    sim.ok("POST", "/sim/faults", {"kind": "status", "status": 429, "retry_after": 7,
                                   "path": "/api/token", "count": 1})
    st, h, body = serve.get(cb)
    check_page((st, h, body), 503, "rate limiting")
    unchanged("a 429 from the token endpoint")
    blocked = int(c.cmd("HGET", "sw:{app1}:rl", "blocked_until") or 0)
    check(blocked - now_ms >= 6000, "the 429 blocked the app: %r" % c.hgetall("sw:{app1}:rl"))

    # Nothing secret reached the log.
    out = serve.output()
    check("code=" not in out and state not in out, "no code or state in the log")


def test_open_redirect_and_return_to():
    r, sim, serve, keys = world(serve_extra=["--connect-allowed-origins",
                                             "https://app.example.com,http://127.0.0.1:1"])
    for bad in ("https://evil.example/x", "https://app.example.com.evil.example/",
                "https://app.example.com@evil.example/", "//evil.example/", "javascript:alert(1)",
                "https://app.example.com\\@evil.example/", "http://app.example.com/"):
        check_page(serve.get("/connect?" + urllib.parse.urlencode({"user": "alice", "return_to": bad})),
                   400, "return_to")
    good = "https://app.example.com/settings?tab=spotify"
    st, h, body = oauth_login(serve, "alice", "sp-alice", return_to=good)
    check(st == 302 and h.get("location") == good, "back to the app: %d %r" % (st, h))
    check(h.get("referrer-policy") == "no-referrer", "the code never leaks by Referer: %r" % h)
    # Unknown users, apps and bad ids are clear 4xx pages too.
    check_page(serve.get("/connect"), 400, "user")
    check_page(serve.get("/connect?user=a%7Bb"), 400, "user")
    check_page(serve.get("/connect?user=x&app=nope"), 404, "app")
    check_page(serve.get("/nowhere"), 404)


def test_redirect_uri_rules_at_start():
    r = RedisServer()
    sim = Sim()
    for url, word in (("http://localhost:8080", "localhost"), ("https://localhost", "localhost"),
                      ("http://example.com", "https"), ("ftp://127.0.0.1", "http")):
        p = subprocess.run([SPOTWATCH] + sw_args(r, sim, ["--public-url", url, "--http-listen",
                                                          "127.0.0.1:%d" % free_port()]) + ["serve"],
                           capture_output=True, text=True, timeout=10)
        check(p.returncode != 0, "serve refused %s" % url)
        check(word in p.stderr and "redirect URI" in p.stderr or "public-url" in p.stderr,
              "the reason for %s: %s" % (url, p.stderr))
    for url in ("http://[::1]:8080", "https://spotwatch.example.com/base/"):
        s = Serve(r, sim, public_url=url)
        check(s.proc.alive(), "serve accepted %s" % url)
        s.stop()


def test_pkce_and_wrong_verifier():
    """Must show 3: PKCE S256 is used, and the simulator rejects a wrong verifier."""
    r = RedisServer()
    sim = Sim()
    setup_app(r, sim)
    # The state key, so the test can derive the verifier as serve does.
    sk = keygen(os.path.join(tmpdir(), "state.key"))
    serve = Serve(r, sim, ["--state-key-file", sk])
    c = r.client()
    jar = new_browser()
    loc = oauth_start(serve, "alice", jar=jar)
    q = query(loc)
    check(q["code_challenge_method"] == "S256" and len(q["code_challenge"]) == 43, "PKCE S256: %r" % q)
    check(q["response_type"] == "code" and q["client_id"] == "cid-app1", "%r" % q)
    # user-read-recently-played: history backfill is on by default (backfill-interval-ms).
    check(q["scope"] == "user-read-currently-playing user-read-playback-state user-read-recently-played",
          "scopes: %r" % q["scope"])
    check(q["redirect_uri"] == serve.base + "/callback", "redirect URI: %r" % q["redirect_uri"])
    check(loc.startswith(sim.base + "/authorize?"), "to the accounts service: %s" % loc)
    check("show_dialog" not in q, "no show_dialog unless the link asks: %r" % q)
    # Nothing is stored before consent: the verifier is derived from the
    # state key and the browser's login cookie, which the state commits to.
    payload = q["state"].split(".")[0]
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    check(raw[-5:] == b"alice" and b"app1" in raw, "the state carries the user and the app")
    nonce = base64.urlsafe_b64encode(raw[1:17]).decode().rstrip("=")
    check(c.cmd("KEYS", "sw:oauth:*") == [], "nothing stored by /connect")
    cookies = {ck.name: ck for ck in jar}
    ck = cookies.get("sw_login_" + nonce)
    check(ck is not None and ck.path == "/callback", "the login cookie: %r" % list(cookies))
    check(hashlib.sha256(ck.value.encode()).digest() == raw[25:57], "the state commits to the cookie")
    secret = ck.value.split(".")[0]
    secret = base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
    key = bytes.fromhex(open(sk).read().split()[-1])
    verifier = base64.urlsafe_b64encode(hmac.new(key, b"spotwatch-pkce\0" + raw[1:17] + secret,
                                                 hashlib.sha256).digest()).decode().rstrip("=")
    record_secret(verifier)
    left = int.from_bytes(raw[17:25], "big") - int(time.time() * 1000)
    check(500000 < left <= 600000, "10 minutes to finish: %r" % left)
    chal = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    check(chal == q["code_challenge"], "challenge = S256(verifier)")
    check(verifier not in loc and verifier not in ck.value, "the verifier never leaves the server")

    cb = oauth_consent(loc, "sp-alice")
    code = query(cb)["code"]
    basic = "Basic " + base64.b64encode(b"cid-app1:s3cret-app").decode()
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": serve.base + "/callback"}
    for wrong in ({"code_verifier": verifier[:-1] + ("A" if verifier[-1] != "A" else "B")}, {}):
        st, data = http_json("POST", sim.base + "/api/token",
                             body=urllib.parse.urlencode(dict(form, **wrong)),
                             headers={"Authorization": basic,
                                      "Content-Type": "application/x-www-form-urlencoded"})
        check(st == 400 and data == {"error": "invalid_grant", "error_description": "code_verifier was incorrect"},
              "wrong verifier refused: %d %r" % (st, data))
    # The right verifier (derived again by serve) completes the login.
    check_page(serve.get(cb, jar=jar), 200, "sp-alice")
    check(c.cmd("GET", "sw:oauth:used:" + nonce) == "1", "single use")
    check(0 < c.cmd("PTTL", "sw:oauth:used:" + nonce) <= 600000, "kept as long as the state lives")
    # A state whose signature is right but whose verifier is wrong cannot
    # exist; and a code for a PKCE login cannot be redeemed without it.
    check(user_hash(c, "alice")["spotify_id"] == account_of(sim, "sp-alice"))


def test_duplicate_account_allow():
    r, sim, serve, keys = world(serve_extra=["--duplicate-account", "allow"])
    c = r.client()
    check_page(oauth_login(serve, "alice", "sp-shared"), 200)
    check_page(oauth_login(serve, "alice2", "sp-shared"), 200)
    check(user_hash(c, "alice2")["spotify_id"] == account_of(sim, "sp-shared"))
    check(c.cmd("HGET", "sw:{app1}:accounts", account_of(sim, "sp-shared")) == "alice2", "the map follows the last")
    out = serve.output()
    check(account_of(sim, "sp-shared") in out and "duplicate-account allow" in out, "the duplicate is reported: %s" % out[-2000:])
    # Reconnecting a user to another account drops the old mapping.
    check_page(oauth_login(serve, "alice", "sp-other"), 200)
    check(c.cmd("HGET", "sw:{app1}:accounts", account_of(sim, "sp-other")) == "alice")


def test_development_mode_allowlist():
    r, sim, serve, keys = world(mode="development", allowlist=["sp-ok"])
    c = r.client()
    check_page(oauth_login(serve, "bob", "sp-not-listed"), 403, "list")
    check(c.cmd("EXISTS", "sw:{app1}:user:bob") == 0, "nothing stored")
    check_page(oauth_login(serve, "alice", "sp-ok"), 200)


def test_healthz_follows_redis():
    r, sim, serve, keys = world(appendonly=True)
    st, h, body = serve.get("/healthz")
    check(st == 200 and body.startswith(b"ok\nredis: primary, 0 replicas"), "healthy: %d %r" % (st, body))
    c = r.client()
    c.cmd("SCRIPT", "FLUSH")
    check(serve.get("/healthz")[0] == 200, "scripts reloaded")
    r.stop()
    st, h, body = serve.get("/healthz")
    check(st == 503 and b"Redis" in body, "unhealthy without Redis: %d %r" % (st, body))
    check_page(serve.get("/connect?user=alice"), 503, "unavailable")
    r.start()
    wait_for(lambda: serve.get("/healthz")[0] == 200, 10, "healthy again")
    check(serve.get("/connect?user=alice")[0] == 302, "serving again")


def test_metrics_parse_and_move():
    """Must show 4: /metrics is valid Prometheus text and its counters move."""
    r, sim, serve, keys = world()

    def scrape():
        st, h, body = serve.get("/metrics")
        check(st == 200 and h["content-type"].startswith("text/plain; version=0.0.4"), "%d %r" % (st, h))
        text = body.decode()
        promtool = shutil.which("promtool")
        if promtool:
            # Parse errors and lint findings (naming conventions) both fail it.
            p = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
            check(p.returncode == 0, "promtool check metrics: %s%s" % (p.stdout, p.stderr))
        strict_parse(text)
        return text

    m0 = scrape()
    check(metric(m0, "spotwatch_oauth_callbacks_total", {"outcome": "ok"}) == 0)
    oauth_login(serve, "alice", "sp-alice")
    cb = oauth_consent(oauth_start(serve, "bob"), deny=True)
    serve.get(cb)
    serve.get(cb)
    m1 = scrape()
    check(metric(m1, "spotwatch_oauth_connects_total") == metric(m0, "spotwatch_oauth_connects_total") + 2,
          "connects counted")
    check(metric(m1, "spotwatch_oauth_callbacks_total", {"outcome": "ok"}) == 1, "ok counted")
    check(metric(m1, "spotwatch_oauth_callbacks_total", {"outcome": "denied"}) == 1, "denied counted")
    check(metric(m1, "spotwatch_oauth_callbacks_total", {"outcome": "replayed_state"}) == 1, "replay counted")
    check(metric(m1, "spotwatch_http_requests_total", {"handler": "/callback", "code": "200"}) == 1)
    check(metric(m1, "spotwatch_http_requests_total", {"handler": "/metrics", "code": "200"}) >= 1)
    check(metric(m1, "spotwatch_oauth_callback_duration_seconds_count") == 3, "histogram count")
    check(metric(m1, "spotwatch_oauth_callback_duration_seconds_bucket", {"le": "+Inf"}) == 3)


def strict_parse(text):
    """A strict reader of the text format 0.0.4, for hosts without promtool."""
    import re
    name_re = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
    sample = re.compile(r"^(%s)(\{(%s=\"(?:[^\"\\\n]|\\[\\\"n])*\"(,%s=\"(?:[^\"\\\n]|\\[\\\"n])*\")*)\})? "
                        r"([-+]?(?:[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|Inf|NaN))$"
                        % (name_re, name_re, name_re))
    types, seen = {}, set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, n, t = line.split(" ", 3)
            check(t in ("counter", "gauge", "histogram", "summary", "untyped") and n not in types, line)
            types[n] = t
        elif line.startswith("#"):
            continue
        else:
            m = sample.match(line)
            check(m is not None, "bad sample line %r" % line)
            base = re.sub(r"_(bucket|sum|count)$", "", m.group(1))
            check(m.group(1) in types or base in types, "sample before its TYPE: %r" % line)
            check(line not in seen, "duplicate %r" % line)
            seen.add(line)


def test_callback_takes_from_the_shared_budget():
    """The token exchange and GET /me count against the app's 30 s budget, which workers share."""
    r, sim, serve, keys = world()
    c = r.client()
    c.cmd("HSET", "sw:{app1}:app", "budget_30s", 3)
    check_page(oauth_login(serve, "alice", "sp-alice"), 200)
    calls = c.cmd("ZRANGE", "sw:{app1}:calls", 0, -1)
    check(len(calls) == 2 and all(":oauth:" in x for x in calls), "two calls logged: %r" % calls)
    # One call left in the window: a callback needs two, so it waits.
    cb = oauth_consent(oauth_start(serve, "bob"), "sp-bob")
    before = redis_dump(c, *USER_KEYS)
    st, h, body = serve.get(cb)
    check_page((st, h, body), 503, "rate limiting")
    check(1 <= int(h["retry-after"]) <= 31, "Retry-After: %r" % h)
    check(redis_dump(c, *USER_KEYS) == before, "nothing stored")
    check(len(c.cmd("ZRANGE", "sw:{app1}:calls", 0, -1)) == 2, "nothing taken")
    # When the window has room again (here: the log is emptied), the same URL works.
    c.cmd("DEL", "sw:{app1}:calls")
    check_page(serve.get(cb), 200, "sp-bob")


# --- signed connect links (connect-key-file) --------------------------------

APP_ORIGIN = "https://app.example.com"
NOT_VALID = "This connect link is not valid (expired or not signed by the app)"


def link_sig(keyfile, user, app="", return_to="", exp=0):
    """The web app's side, as the README's "Signed connect links" says."""
    with open(keyfile) as f:
        key = bytes.fromhex(f.read().split()[-1])
    msg = "\n".join(["connect", user, app, return_to, str(exp)])
    return base64.urlsafe_b64encode(hmac.new(key, msg.encode(), hashlib.sha256).digest()).decode().rstrip("=")


def connect_path(user, app=None, return_to=None, exp=None, sig=None):
    q = [(k, v) for k, v in (("user", user), ("app", app), ("return_to", return_to),
                             ("exp", exp), ("sig", sig)) if v is not None]
    return "/connect?" + urllib.parse.urlencode(q)


def signed_world():
    ck = keygen(os.path.join(tmpdir(), "connect.key"))
    r, sim, serve, keys = world(serve_extra=["--connect-key-file", ck,
                                             "--connect-allowed-origins", APP_ORIGIN])
    return r, sim, serve, keys, ck


def test_signed_connect_links():
    """With connect-key-file, only a link the web app signed for exactly this
    user, app and return_to, and not expired, starts a login; every other
    link is a 403 that stores nothing and is counted by reason."""
    r, sim, serve, keys, ck = signed_world()
    c = r.client()
    check("/connect is not authenticated" not in serve.output(), "no warning with a key")

    # End to end: alice's signed link, with a return_to, back to the app.
    now = int(time.time())
    exp = now + 600
    rt = APP_ORIGIN + "/settings?tab=spotify"
    sig = link_sig(ck, "alice", "", rt, exp)
    record_secret(sig)     # a live link is a credential: never in a log
    st, h, body = serve.get(connect_path("alice", return_to=rt, exp=exp, sig=sig))
    check(st == 302 and h.get("location", "").startswith(sim.base + "/authorize?"), "%d %r" % (st, body[:300]))
    st, h, body = serve.get(oauth_consent(h["location"], "sp-alice"))
    check(st == 302 and h.get("location") == rt, "back to the app: %d %r" % (st, h))
    check(user_hash(c, "alice").get("spotify_id") == account_of(sim, "sp-alice"), "alice connected")
    # The app named in the link is signed too.
    sig_b = link_sig(ck, "bob", "app1", "", exp)
    record_secret(sig_b)
    st, h, body = serve.get(connect_path("bob", app="app1", exp=exp, sig=sig_b))
    check(st == 302, "bob's signed link: %d %r" % (st, body[:300]))
    check_page(serve.get(oauth_consent(h["location"], "sp-bob")), 200, "sp-bob")

    m0 = serve.get("/metrics")[2].decode()
    before = redis_dump(c, "*")
    check(any(k.startswith("sw:oauth:") for k in before), "the logins left their states: %r" % list(before))
    other = keygen(os.path.join(tmpdir(), "other.key"))
    old, far = now - 120, now + 3600
    refused = [
        ("missing", connect_path("mallory")),                                      # today's unsigned link
        ("missing", connect_path("mallory", exp=exp)),
        ("missing", connect_path("alice", return_to=rt, sig=sig)),                 # exp dropped
        ("bad_signature", connect_path("mallory", return_to=rt, exp=exp, sig=sig)),  # alice's sig, user=mallory
        ("bad_signature", connect_path("mallory", exp=exp, sig=link_sig(ck, "alice", "", "", exp))),
        ("bad_signature", connect_path("alice", return_to=APP_ORIGIN + "/elsewhere", exp=exp, sig=sig)),
        ("bad_signature", connect_path("alice", exp=exp, sig=sig)),                # return_to dropped
        ("bad_signature", connect_path("bob", exp=exp, sig=sig_b)),                # app dropped
        ("bad_signature", connect_path("alice", return_to=rt, exp=exp + 60, sig=sig)),  # exp pushed out
        ("bad_signature", connect_path("alice", return_to=rt, exp=exp,
                                       sig=link_sig(other, "alice", "", rt, exp))),  # another key
        ("bad_signature", connect_path("alice", return_to=rt, exp=exp,
                                       sig=sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:])),
        ("expired", connect_path("alice", exp=old, sig=link_sig(ck, "alice", "", "", old))),
        ("too_far_ahead", connect_path("alice", exp=far, sig=link_sig(ck, "alice", "", "", far))),
        ("malformed", connect_path("alice", exp=exp, sig="not-a-signature")),
        ("malformed", connect_path("alice", exp="soon", sig=sig)),
    ]
    for i, (reason, path) in enumerate(refused):
        check_page(serve.get(path), 403, NOT_VALID)
        after = redis_dump(c, "*")
        check(after == before, "refused link %d (%s) changed Redis:\nbefore %r\nafter  %r"
              % (i, reason, before, after))

    m1 = serve.get("/metrics")[2].decode()
    strict_parse(m1)
    for reason in ("missing", "malformed", "bad_signature", "expired", "too_far_ahead"):
        want = sum(1 for rs, _ in refused if rs == reason)
        got = metric(m1, "spotwatch_oauth_connect_refused_total", {"reason": reason})
        check(got == want, "%s refusals counted: %r, want %d" % (reason, got, want))
    check(metric(m1, "spotwatch_oauth_connects_total") == metric(m0, "spotwatch_oauth_connects_total") == 2,
          "connects_total counts only links sent on to Spotify")
    check(metric(m1, "spotwatch_http_requests_total", {"handler": "/connect", "code": "403"}) == len(refused))

    # The refusals spent nothing: alice's link still works (it is valid until exp).
    st, h, body = serve.get(connect_path("alice", return_to=rt, exp=exp, sig=sig))
    check(st == 302, "the signed link still works: %d" % st)

    out = serve.output()
    check("refused a link for user mallory: bad_signature" in out, "refusals are logged: %s" % out[-1500:])
    check(sig not in out and sig_b not in out and "sig=" not in out, "no signature in the log")


def test_connect_link_cli_and_unsigned_warning():
    """`spotwatch connect-link` mints a link serve accepts, signed as the README
    tells web apps to; the README's own example works; without a key, serve
    warns at start and keeps taking unsigned links."""
    r, sim, serve, keys, ck = signed_world()
    c = r.client()
    cli = ["--connect-key-file", ck, "--public-url", serve.public_url,
           "--connect-allowed-origins", APP_ORIGIN]
    rt = APP_ORIGIN + "/done?x=1&y=%C3%A9"
    url = spotwatch(r, "connect-link", "carol", "--return-to", rt, "--ttl", "120", extra=cli).stdout.strip()
    check(url.startswith(serve.base + "/connect?"), "a link on public-url: %s" % url)
    q = query(url)
    check(q.get("user") == "carol" and q.get("return_to") == rt and "app" not in q, "%r" % q)
    now = int(time.time())
    check(now + 60 <= int(q["exp"]) <= now + 120, "exp = now + ttl: %r (now %d)" % (q["exp"], now))
    check(q["sig"] == link_sig(ck, "carol", "", rt, q["exp"]), "the documented signature")
    st, h, body = serve.get(url)
    check(st == 302, "the minted link is accepted: %d %r" % (st, body[:300]))
    st, h, body = serve.get(oauth_consent(h["location"], "sp-carol"))
    check(st == 302 and h.get("location") == rt and user_hash(c, "carol").get("spotify_id") == account_of(sim, "sp-carol"),
          "carol connected and sent back: %d %r" % (st, h))
    url = spotwatch(r, "connect-link", "dave", "--app", "app1", extra=cli).stdout.strip()
    check(query(url).get("app") == "app1", url)
    check_page(serve.get(oauth_consent(serve.get(url)[1]["location"], "sp-dave")), 200, "sp-dave")

    # The README's Python example, run as written (key path and base URL swapped in).
    import re
    with open(os.path.join(ROOT, "README.md")) as f:
        m = re.search(r"### Signed connect links.*?```python\n(.*?)```", f.read(), re.S)
    check(m is not None, "the README has the Python example")
    ns = {}
    exec(m.group(1).replace("/etc/spotwatch/connect.key", ck)
         .replace("https://spotwatch.example.com", serve.base), ns)
    url = ns["connect_link"]("erin", return_to=APP_ORIGIN + "/x")
    check_page(serve.get(oauth_consent(serve.get(url)[1]["location"], "sp-erin")), 302)

    # The CLI refuses what serve would refuse, and needs the key.
    for args, word in ((["--ttl", "901"], "--ttl"), (["--return-to", "https://evil.example/"], "allowed"),
                       (["--app", "a*b"], "app")):
        p = spotwatch(r, "connect-link", "carol", *args, extra=cli, check_rc=False)
        check(p.returncode != 0 and word in p.stderr and p.stdout == "", "%r: %d %s" % (args, p.returncode, p.stderr))
    p = spotwatch(r, "connect-link", "carol", check_rc=False)
    check(p.returncode != 0 and "connect-key-file" in p.stderr, "no key: %s" % p.stderr)

    # Without connect-key-file: today's behaviour, with a warning at start.
    plain = Serve(r, sim, keys)
    check("/connect is not authenticated: set connect-key-file, or expose serve only to your backend"
          in plain.output(), "the warning: %s" % plain.output()[-1000:])
    check(plain.get("/connect?user=frank")[0] == 302, "unsigned links still work without a key")
    check(serve.get("/connect?user=frank")[0] == 403, "but not where a key is set")


def test_callback_429_episode_halves_once():
    """A 429 drawn by a callback feeds the limiter as a poll's does
    (complete.lua): the first of an episode halves the effective budget under
    what the window held, a further one in the same episode lowers that
    ceiling by one, not halving again."""
    r = RedisServer()
    c = r.client()
    sha = c.cmd("SCRIPT", "LOAD", lua_source("oauth_slot"))
    keys = ["sw:{app1}:rl", "sw:{app1}:calls", "sw:{app1}:app", "sw:{app1}:stats"]
    c.cmd("HSET", "sw:{app1}:app", "budget_30s", "100", "window_ms", "30000")
    now = int(c.cmd("TIME")[0]) * 1000
    c.cmd("ZADD", "sw:{app1}:calls", *[x for i in range(40) for x in (now, "c%d" % i)])

    def block():
        # OAUTH_SLOT_ARGS: mode, budget default, quota default, want, tag, block ms, capped
        got = c.cmd("EVALSHA", sha, 4, *(keys + ["block", "0", "", "", "", "5000", "0"]))
        return got, c.hgetall("sw:{app1}:rl")

    got, rl = block()
    check(got[0] == 0 and got[1] >= now + 4000, "blocked for the Retry-After: %r" % (got,))
    check(rl.get("budget_eff") == "49" and rl.get("budget_ceiling") == "50",
          "first 429: half the budget, under what the window held: %r" % rl)
    _, rl = block()
    check(rl.get("budget_eff") == "48" and rl.get("budget_ceiling") == "49",
          "second 429 of the episode: the ceiling down by one, no second halving: %r" % rl)
    c.cmd("HSET", "sw:{app1}:rl", "blocked_until", now - 1)   # the episode is over
    _, rl = block()
    check(rl.get("budget_eff") == "24", "a new episode halves again: %r" % rl)
    st = c.hgetall("sw:{app1}:stats")
    check(st.get("r429") == "3" and st.get("blocks_rate_limited") == "3", "each 429 counted: %r" % st)
