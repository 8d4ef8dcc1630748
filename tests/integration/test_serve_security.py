"""serve on the open internet (issue 13, items 1-4): a login bound to the
browser that started it, closed by default, nothing stored before consent,
per-address rate and connection limits, and a whole-request deadline.

Real redis-server, the real simulator as Spotify, real `spotwatch serve`;
an attacker and a victim are two HTTP clients with separate cookie jars,
and "another client" sends from another loopback address (127.0.0.2)."""
import base64
import hashlib
import hmac
import os
import re
import socket
import subprocess
import threading
import time
import urllib.parse

from harness import *  # noqa: F401,F403
from test_oauth import APP_ORIGIN, NOT_VALID, check_page, keyfiles, metric, query

NOT_HERE = "This login was not started in this browser"


def signed(extra=None, serve_extra=None):
    """The deployment the README asks for: signed links, real keys."""
    r = RedisServer()
    sim = Sim()
    keys = keyfiles()
    ck = keygen(os.path.join(tmpdir(), "connect.key"))
    setup_app(r, sim, extra=keys + list(extra or []))
    serve = Serve(r, sim, keys + ["--connect-key-file", ck, "--connect-allowed-origins", APP_ORIGIN]
                  + list(serve_extra or []))
    return r, sim, serve, keys, ck


def signed_link(ck, user, app="", return_to="", dialog=False, ttl=300):
    """What the web app gives a logged-in user (README, "Signed connect links")."""
    exp = int(time.time()) + ttl
    msg = "\n".join(["connect", user, app, return_to, str(exp)]) + ("\nshow_dialog" if dialog else "")
    with open(ck) as f:
        key = bytes.fromhex(f.read().split()[-1])
    sig = base64.urlsafe_b64encode(hmac.new(key, msg.encode(), hashlib.sha256).digest()).decode().rstrip("=")
    record_secret(sig)
    q = [(k, v) for k, v in (("user", user), ("app", app), ("return_to", return_to)) if v]
    if dialog:
        q.append(("show_dialog", "1"))
    return "/connect?" + urllib.parse.urlencode(q + [("exp", str(exp)), ("sig", sig)])


def grants(sim):
    return sim.stats()["token_grants"]["authorization_code"]


def login(serve, user, sim_user, jar, source=None, path=None):
    """One person's whole round trip in their own browser; the callback's answer."""
    st, h, body = serve.get(path or "/connect?" + urllib.parse.urlencode({"user": user}), jar=jar,
                            source=source)
    check(st == 302, "/connect -> %d %r" % (st, body[:300]))
    return serve.get(oauth_consent(h["location"], sim_user), jar=jar, source=source)


# --------------------------------------------------------------------------- #

def test_login_csrf_replayed():
    """Must show 1: the attacker's login, opened in the victim's browser, is
    refused there and changes nothing; the victim then connects their own id."""
    r, sim, serve, keys, ck = signed()
    c = r.client()
    attacker, victim = new_browser(), new_browser()

    # The web app signs a link for the attacker's own session: he takes the
    # Spotify URL it leads to, with its state, and keeps his cookie.
    st, h, body = serve.get(signed_link(ck, "mallory"), jar=attacker)
    check(st == 302, "the attacker's own signed link works: %d %r" % (st, body[:200]))
    authorize = h["location"]
    cookie = h.get("set-cookie", "")
    check(re.match(r"sw_login_[A-Za-z0-9_-]{22}=[A-Za-z0-9_-]{43}; ", cookie), "a login cookie: %r" % cookie)
    for attr in ("Path=/callback", "Max-Age=600", "HttpOnly", "SameSite=Lax"):
        check(attr in cookie, "%s: %r" % (attr, cookie))
    check("Secure" not in cookie, "not Secure on an http public-url: %r" % cookie)
    check(len(attacker) == 1, "the attacker's browser holds it")

    # The victim's browser opens it; Spotify (the simulator) skips the consent
    # of a user who approved the app before and sends it to /callback.
    before = redis_dump(c, "*")
    g0 = grants(sim)
    cb = oauth_consent(authorize, "sp-victim")
    check_page(serve.get(cb, jar=victim), 403, NOT_HERE, "nothing was stored")
    check(c.cmd("EXISTS", "sw:{app1}:user:mallory") == 0 and c.cmd("HGET", "sw:users", "mallory") is None,
          "the attacker's user has no tokens")
    check(redis_dump(c, "*") == before, "no Redis write at all")
    check(grants(sim) == g0, "no token exchange with the victim's code")
    # A cookie of the right name with another value (planted, or of another
    # login) is refused the same way.
    forged = new_browser()
    serve.get("/connect?user=x", jar=forged)        # 403: unsigned; sets nothing
    check(len(forged) == 0, "a refused link sets no cookie")
    name = next(iter(attacker)).name
    check(serve.get(cb, jar=victim)[0] == 403, "still refused")
    bad = {"Cookie": "%s=%s" % (name, "A" * 43)}
    st, _, body = http("GET", cb, headers=bad)
    check(st == 403 and NOT_HERE in body.decode(), "a forged cookie: %d" % st)
    check(redis_dump(c, "*") == before and grants(sim) == g0, "nothing changed by the forgery")

    m = serve.get("/metrics")[2].decode()
    check(metric(m, "spotwatch_oauth_callbacks_total", {"outcome": "no_cookie"}) == 2, "counted")
    check(metric(m, "spotwatch_oauth_callbacks_total", {"outcome": "cookie_mismatch"}) == 1, "counted")

    # The victim connects their own id, in their own browser.
    check_page(login(serve, "victor", "sp-victim", victim, path=signed_link(ck, "victor")), 200, "sp-victim")
    check(c.hgetall("sw:{app1}:user:victor").get("spotify_id") == account_of(sim, "sp-victim"), "victor has his account")
    check(c.cmd("EXISTS", "sw:{app1}:user:mallory") == 0, "mallory still has nothing")
    # The attacker's own login in his own browser still works for his own account.
    check_page(login(serve, "mallory", "sp-mallory", attacker, path=signed_link(ck, "mallory")), 200,
               "sp-mallory")


def test_show_dialog_is_signed_and_sent():
    """show_dialog=1 (re-connecting a user) is covered by the link's signature
    and sent on to /authorize as show_dialog=true."""
    r, sim, serve, keys, ck = signed()
    jar = new_browser()
    st, h, body = serve.get(signed_link(ck, "alice", dialog=True), jar=jar)
    check(st == 302 and query(h["location"]).get("show_dialog") == "true", "%d %r" % (st, h.get("location")))
    check_page(serve.get(oauth_consent(h["location"], "sp-alice"), jar=jar), 200, "sp-alice")
    # Added to a link signed without it, or taken off one signed with it: 403.
    plain = signed_link(ck, "alice")
    check_page(serve.get(plain + "&show_dialog=1", jar=jar), 403, NOT_VALID)
    with_dialog = signed_link(ck, "alice", dialog=True)
    check_page(serve.get(with_dialog.replace("&show_dialog=1", ""), jar=jar), 403, NOT_VALID)
    check(serve.get(plain, jar=jar)[0] == 302, "the plain link works")
    check("show_dialog" not in query(serve.get(plain, jar=jar)[1]["location"]), "and asks for no dialog")
    check_page(serve.get(plain + "&show_dialog=yes", jar=jar), 400, "show_dialog")


def test_https_cookie_is_secure():
    """With an https public-url the cookie is Secure, __Secure- prefixed, and
    its Path is the callback's under public-url's path."""
    r = RedisServer()
    sim = Sim()
    setup_app(r, sim)
    serve = Serve(r, sim, public_url="https://spotwatch.example.com/base/")
    st, h, body = serve.get("/connect?user=alice")
    cookie = h.get("set-cookie", "")
    check(st == 302 and cookie.startswith("__Secure-sw_login_"), "%d %r" % (st, cookie))
    for attr in ("Path=/base/callback;", "HttpOnly", "SameSite=Lax", "; Secure"):
        check(attr in cookie, "%s: %r" % (attr, cookie))


def test_closed_by_default():
    """Must show 2: without connect-key-file and without connect-open yes,
    serve exits non-zero and says why; with a key, unverified links get one
    answer whether or not the user or the app exists."""
    r = RedisServer()
    sim = Sim()
    setup_app(r, sim)
    port = free_port()
    base = sw_args(r, sim, ["--http-listen", "127.0.0.1:%d" % port, "--public-url", "http://127.0.0.1:%d" % port])
    for extra in ([], ["--connect-open", "no"]):
        p = subprocess.run([SPOTWATCH] + base + extra + ["serve"], capture_output=True, text=True, timeout=20)
        check(p.returncode != 0, "serve refused to start: %d" % p.returncode)
        for word in ("connect-key-file", "connect-open yes", "any user id"):
            check(word in p.stderr, "the reason names %r: %s" % (word, p.stderr))
        with socket.socket() as s:
            check(s.connect_ex(("127.0.0.1", port)) != 0, "nothing listens")
    # connect-open yes: starts, and warns.
    open_serve = Serve(r, sim)
    check("/connect is not authenticated" in open_serve.output(), "the warning")

    # Signed links: before verification, one answer for an unknown user, a
    # user of another app, and an unknown app.
    r2, sim2, serve, keys, ck = signed()
    c2 = r2.client()
    c2.cmd("HSET", "sw:users", "bob", "app2")
    pages = [serve.get(p) for p in ("/connect?user=nobody", "/connect?user=bob",
                                    "/connect?user=nobody&app=nope", "/connect?user=bob&app=app1&exp=1&sig=x")]
    check(len({(st, body) for st, _, body in pages}) == 1 and pages[0][0] == 403,
          "one answer: %r" % [(st, body[:80]) for st, _, body in pages])


def _get_many(url_paths, base, source, conns, out):
    """GETs over `conns` kept-alive connections from `source`; statuses into out."""
    import http.client
    u = urllib.parse.urlsplit(base)
    lock = threading.Lock()
    work = list(url_paths)

    def run():
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10, source_address=(source, 0))
        while True:
            with lock:
                if not work:
                    break
                path = work.pop()
            try:
                conn.request("GET", path)
                resp = conn.getresponse()
                resp.read()
                st = resp.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10, source_address=(source, 0))
                st = 0
            with lock:
                out[st] = out.get(st, 0) + 1
        conn.close()

    ts = [threading.Thread(target=run, daemon=True) for _ in range(conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


class Probe:
    """Another client (127.0.0.2) asking /healthz all along and /connect
    once a second (as a person would, well within its rate); records each
    answer's status and time."""

    def __init__(self, serve):
        self.serve, self.results, self.stop = serve, [], False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        last_connect = 0
        while not self.stop:
            paths = ["/healthz"]
            if time.time() - last_connect >= 1:
                paths.append("/connect?user=probe")
                last_connect = time.time()
            for path in paths:
                t0 = time.time()
                try:
                    st = self.serve.get(path, timeout=5, jar=new_browser(), source="127.0.0.2")[0]
                except OSError:
                    st = 0
                self.results.append((path, st, time.time() - t0))
            time.sleep(0.05)

    def finish(self):
        self.stop = True
        self.t.join()
        return self.results


def redis_mem(c):
    """used_memory, the part of it that is not clients' buffers, and DBSIZE."""
    info = dict(l.split(":", 1) for l in c.cmd("INFO", "memory").splitlines() if ":" in l)
    used = int(info["used_memory"])
    return used, used - int(info["mem_clients_normal"]), c.cmd("DBSIZE")


def settled_mem(c):
    """redis_mem once Redis has freed the query buffers of the clients idle
    for 2 s (its clientsCron): buffers are not storage."""
    last = [None]

    def steady():
        now = redis_mem(c)
        same = last[0] is not None and abs(now[0] - last[0][0]) < 512
        last[0] = now
        return now if same else None
    time.sleep(2.5)
    return wait_for(steady, 15, "Redis memory to settle", interval=1.0)


def test_connect_flood_costs_no_redis_memory():
    """Must show 3: 5,000 /connect from one address: Redis memory grows by
    less than 10 KB, serve answers another address throughout, the refusals
    are counted (one summary line, not one line each)."""
    r = RedisServer()
    sim = Sim()
    setup_app(r, sim)
    c = r.client()
    # The shipped defaults: 60 a minute per address, in bursts of 20.
    serve = Serve(r, sim, ["--serve-rate-per-ip", "60", "--serve-burst-per-ip", "20"])
    flat = Serve(r, sim)     # no rate limit: every /connect goes on to Spotify
    paths = ["/connect?user=u%d" % i for i in range(5000)]
    for s in (serve, flat):   # warm up: serve's pool of Redis connections
        _get_many(paths[:300], s.base, "127.0.0.3", 6, {})
    mem0, data0, keys0 = settled_mem(c)

    m0 = serve.get("/metrics")[2].decode()
    probe = Probe(serve)
    got = {}
    t0 = time.time()
    _get_many(paths, serve.base, "127.0.0.1", 4, got)
    elapsed = time.time() - t0
    results = probe.finish()
    check(sum(got.values()) == 5000 and got.get(302, 0) + got.get(429, 0) == 5000, "statuses: %r" % got)
    check(got.get(302, 0) <= 20 + elapsed + 2, "at most a burst and the refill went on: %r in %.1fs" % (got, elapsed))
    check(len(results) >= 4 and any(p.startswith("/connect") for p, _, _ in results),
          "the probe ran: %r" % results)
    bad = [x for x in results if x[1] not in (200, 302) or x[2] > 1.0]
    check(not bad, "the other address was answered throughout, within 1 s: %r" % bad[:5])

    # The limiter off: each of the 5,000 is sent on to Spotify, and still
    # nothing is stored.
    flat_got = {}
    _get_many(paths, flat.base, "127.0.0.1", 4, flat_got)
    check(flat_got == {302: 5000}, "every /connect answered: %r" % flat_got)

    mem1, data1, keys1 = settled_mem(c)
    check(keys1 == keys0, "no key written: DBSIZE %d -> %d" % (keys0, keys1))
    check(mem1 - mem0 < 10 * 1024, "Redis used_memory grew by %d bytes" % (mem1 - mem0))
    check(data1 - data0 < 10 * 1024, "Redis memory without client buffers grew by %d bytes" % (data1 - data0))
    check(c.cmd("KEYS", "sw:oauth:*") == [], "no pending login in Redis")

    m = serve.get("/metrics")[2].decode()
    refused = metric(m, "spotwatch_serve_refused_total", {"reason": "rate_limited"})
    check(refused - metric(m0, "spotwatch_serve_refused_total", {"reason": "rate_limited"}) == got[429],
          "refusals counted: %r" % got)
    check(metric(m, "spotwatch_http_requests_total", {"handler": "/connect", "code": "429"}) == refused)
    serve.stop()
    out = serve.output()
    check(len(out.splitlines()) < 20, "no line per request: %d lines" % len(out.splitlines()))
    check(re.search(r"refused in the last \d+ s: %d rate_limited" % refused, out),
          "one summary line: %s" % out[-800:])
    check("sent to Spotify" not in out, "no INFO line per /connect")


class Trickler:
    """n clients from the given addresses, each sending a request's headers
    one line every `every` seconds and never finishing them."""

    def __init__(self, port, sources, per_source, every=0.5, path="/healthz"):
        self.socks, self.closed_at, self.opened_at = [], {}, {}
        for src in sources:
            for _ in range(per_source):
                s = socket.socket()
                s.bind((src, 0))
                s.settimeout(2)
                try:
                    s.connect(("127.0.0.1", port))
                    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n" % path).encode())
                except OSError:
                    self.closed_at[id(s)] = time.time()
                self.opened_at[id(s)] = time.time()
                self.socks.append(s)
        self.every, self.stop = every, False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def alive(self):
        return [s for s in self.socks if id(s) not in self.closed_at]

    def run(self):
        import select
        n = 0
        while not self.stop:
            for s in self.alive():
                try:
                    r, _, _ = select.select([s], [], [], 0)
                    if r and s.recv(4096) == b"":
                        raise ConnectionResetError("closed by serve")
                    s.sendall(b"X-Slow-%d: y\r\n" % n)
                except OSError:
                    self.closed_at[id(s)] = time.time()
            n += 1
            time.sleep(self.every)

    def finish(self):
        self.stop = True
        self.t.join()
        for s in self.socks:
            s.close()


def test_slow_clients():
    """Must show 4: 256 slow clients trickling headers, from one address and
    then from 16: /healthz and a real login from another address still
    succeed within 2 s; a request that trickles past
    serve-request-timeout-ms is cut off although its bytes keep coming."""
    r = RedisServer()
    sim = Sim()
    setup_app(r, sim)
    c = r.client()
    serve = Serve(r, sim)    # the shipped limits: 16 connections per address, 10 s per request

    def answered(tag):
        t0 = time.time()
        st, _, body = serve.get("/healthz", timeout=2, jar=new_browser(), source="127.0.0.2")
        check(st == 200 and body.startswith(b"ok\n"), "%s: /healthz %d %r" % (tag, st, body[:80]))
        jar, user = new_browser(), "late-" + tag
        check_page(login(serve, user, "sp-" + user, jar, source="127.0.0.2"), 200, "sp-" + user)
        took = time.time() - t0
        check(took < 2.0, "%s: /healthz and a login took %.2f s" % (tag, took))
        check(c.hgetall("sw:{app1}:user:" + user).get("spotify_id") == account_of(sim, "sp-" + user), "stored")

    # 256 from one address: 16 are held, the rest refused at once.
    one = Trickler(serve.port, ["127.0.0.1"], 256)
    wait_for(lambda: len(one.alive()) <= 16, 5, "the connections over the per-address limit closed")
    answered("one")
    check(len(one.alive()) == 16, "16 held: %d" % len(one.alive()))
    one.finish()

    # 256 from 16 addresses, 16 each: all held, and serve has room to spare.
    many = Trickler(serve.port, ["127.0.1.%d" % i for i in range(1, 17)], 16)
    time.sleep(0.5)
    check(len(many.alive()) == 256, "all 256 held: %d" % len(many.alive()))
    answered("many")
    many.finish()

    m = serve.get("/metrics")[2].decode()
    check(metric(m, "spotwatch_serve_refused_total", {"reason": "connection_limit"}) >= 240,
          "refused connections counted")
    check("connection limit" not in serve.output(), "and not logged one by one")

    # The deadline: bytes every 0.2 s do not keep a request alive past 2 s.
    quick = Serve(r, sim, ["--serve-request-timeout-ms", "2000"])
    slow = Trickler(quick.port, ["127.0.0.4"], 8, every=0.2)
    wait_for(lambda: not slow.alive(), 6, "the trickling requests cut off")
    lives = [slow.closed_at[id(s)] - slow.opened_at[id(s)] for s in slow.socks]
    slow.finish()
    check(all(1.8 <= x <= 3.5 for x in lives), "cut off at the deadline: %r" % lives)
    m = quick.get("/metrics")[2].decode()
    check(metric(m, "spotwatch_serve_refused_total", {"reason": "request_deadline"}) == 8, m[-600:])
    # A request slow but whole within the deadline is answered.
    s = socket.create_connection(("127.0.0.1", quick.port), timeout=5)
    for part in (b"GET /healthz HTTP/1.1\r\n", b"Host: x\r\n", b"\r\n"):
        s.sendall(part)
        time.sleep(0.3)
    check(s.recv(4096).startswith(b"HTTP/1.1 200"), "a slow whole request is answered")
    s.close()
    # Headers beyond the connection's memory: refused, nothing else happens.
    s = socket.create_connection(("127.0.0.1", quick.port), timeout=5)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n")
    try:
        head = s.recv(4096)
    except OSError:
        head = b""
    s.close()
    check(head == b"" or head.split(b" ")[1] in (b"413", b"414", b"431"), "too large: %r" % head[:60])
    check(quick.get("/healthz")[0] == 200, "serve is fine")
