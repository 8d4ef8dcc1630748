"""The app's user cap (issue 14, must show 4): `app add --max-users N`, 5 for a
new development-mode app as Spotify allows; serve (/connect, then /callback
before the code exchange) and `user add` / `user import` refuse a user new to
a full app before any Spotify call; user_put.lua and oauth_store.lua decide,
atomically with the write. Real redis-server, the simulator, serve."""
import json

from harness import *  # noqa: F401,F403
from test_oauth import keyfiles

USERS = ["u1", "u2", "u3", "u4", "u5", "u6"]


def dev_app(r, sim, extra=None, app_args=()):
    """A development-mode app. The simulator's own cap is lifted (max_users
    0) so that every refusal seen here is spotwatch's."""
    sim.ok("POST", "/sim/apps", {"client_id": "cid-app1", "client_secret": "s3cret-app",
                                 "redirect_uris": ["http://127.0.0.1/callback"], "mode": "development",
                                 "max_users": 0, "allowlist": USERS})
    spotwatch(r, "app", "add", "app1", "--client-id", "cid-app1", "--client-secret", "s3cret-app",
              *app_args, sim=sim, extra=extra)


def requests(sim):
    return sim.stats()["requests"]["total"]


def in_directory(c, user):
    return c.cmd("HGET", "sw:users", user) is not None


def test_default_cap_and_max_users_stored():
    """A new development app gets max_users 5; --max-users N sets it; 0 and
    an extended app have none; a re-add keeps a development app's cap."""
    r, sim = RedisServer(), Sim()
    c = r.client()
    dev_app(r, sim)
    check(c.cmd("HGET", "sw:{app1}:app", "max_users") == "5", "default 5: %r" % c.hgetall("sw:{app1}:app"))
    spotwatch(r, "app", "add", "app1", "--client-id", "cid-app1", "--client-secret", "x", "--max-users", "25", sim=sim)
    check(c.cmd("HGET", "sw:{app1}:app", "max_users") == "25", "--max-users 25")
    spotwatch(r, "app", "add", "app1", "--client-id", "cid-app1", "--client-secret", "x", sim=sim)
    check(c.cmd("HGET", "sw:{app1}:app", "max_users") == "25", "a re-add keeps the cap")
    spotwatch(r, "app", "add", "app1", "--client-id", "cid-app1", "--client-secret", "x", "--max-users", "0", sim=sim)
    check(c.cmd("HGET", "sw:{app1}:app", "max_users") is None, "0: no cap")
    spotwatch(r, "app", "add", "ext", "--client-id", "cid-ext", "--client-secret", "x", "--mode", "extended", sim=sim)
    check(c.cmd("HGET", "sw:{ext}:app", "max_users") is None, "extended: no cap")
    bad = spotwatch(r, "app", "add", "app1", "--client-id", "c", "--client-secret", "x", "--max-users", "-1",
                    sim=sim, check_rc=False)
    check(bad.returncode == 2 and "--max-users" in bad.stderr, "a negative cap refused: %r" % bad.stderr)


def test_sixth_user_refused_by_user_add_and_import():
    """Must show 4 (CLI): five users fill a development app; the sixth is
    refused by `user add` and by `user import` with a clear message, nothing
    written and no Spotify call; a known user is re-added; `user rm` frees a
    place; a raised cap lets the sixth in."""
    r, sim = RedisServer(), Sim()
    c = r.client()
    dev_app(r, sim)
    for u in USERS[:5]:
        add_user(r, sim, u, watch=False)
    tok = sim.ok("POST", "/sim/users/u6/tokens", {"client_id": "cid-app1", "scope": "user-read-playback-state"})
    before = requests(sim)
    add = ["user", "add", "u6", "--app", "app1", "--access-token", tok["access_token"],
           "--refresh-token", tok["refresh_token"]]
    res = spotwatch(r, *add, sim=sim, check_rc=False)
    check(res.returncode == 1, "user add refused: %d %r" % (res.returncode, res.stdout))
    check("full" in res.stderr and "5" in res.stderr and "u6" in res.stderr, "a clear message: %r" % res.stderr)
    check(not in_directory(c, "u6") and c.cmd("EXISTS", "sw:{app1}:user:u6") == 0, "nothing written")
    line = json.dumps({"user": "u6", "app": "app1", "access_token": tok["access_token"],
                       "refresh_token": tok["refresh_token"], "expires_in": 3600, "scope": ""})
    again = json.dumps({"user": "u1", "app": "app1", "access_token": tok["access_token"],
                        "refresh_token": tok["refresh_token"], "expires_in": 3600, "scope": ""})
    res = spotwatch(r, "user", "import", "-", sim=sim, stdin=line + "\n" + again + "\n", check_rc=False)
    check(res.returncode == 1 and "imported 1 users" in res.stdout, "import: u1 again, u6 refused: %r" % res.stdout)
    check("-:1:" in res.stderr and "full" in res.stderr, "the refused line named: %r" % res.stderr)
    check(not in_directory(c, "u6"), "import wrote nothing for u6")
    check(requests(sim) == before, "no Spotify call for the refused user: %d -> %d" % (before, requests(sim)))

    spotwatch(r, "user", "rm", "u5", sim=sim)
    spotwatch(r, *add, sim=sim)
    check(in_directory(c, "u6"), "a removed user frees a place")
    add7 = ["user", "add", "u7", "--app", "app1", "--access-token", "a", "--refresh-token", "b"]
    check(spotwatch(r, *add7, sim=sim, check_rc=False).returncode == 1, "full again at 5")
    spotwatch(r, "app", "add", "app1", "--client-id", "cid-app1", "--client-secret", "s3cret-app",
              "--max-users", "6", sim=sim)
    spotwatch(r, *add7, sim=sim)
    check(c.cmd("HLEN", "sw:users") == 6, "six users under a cap of 6")


def test_sixth_user_refused_by_serve_before_spotify():
    """Must show 4 (serve): with five users connected, /connect refuses a
    sixth with a page and no redirect, the simulator seeing nothing; a
    connected user may connect again; a login started while there was room
    is refused at /callback before the code exchange."""
    r, sim = RedisServer(), Sim()
    keys = keyfiles()
    dev_app(r, sim, extra=keys)
    serve = Serve(r, sim, keys)
    c = r.client()
    for u in USERS[:4]:
        st, _h, body = oauth_login(serve, u, u)
        check(st == 200, "%s connects: %d %r" % (u, st, body[:200]))
    pending = oauth_consent(oauth_start(serve, "u6"), "u6")   # room for it now
    st, _h, _b = oauth_login(serve, "u5", "u5")
    check(st == 200, "the fifth connects")

    before = requests(sim)
    st, h, body = serve.get("/connect?user=u7")
    text = body.decode("utf-8", "replace")
    check(st == 403 and "location" not in h, "/connect refuses the sixth: %d %r" % (st, h))
    check("cannot take more users" in text and "5" in text, "the page says why: %r" % text[:400])
    check(requests(sim) == before, "no Spotify call at /connect: %d -> %d" % (before, requests(sim)))

    st, h, body = serve.get(pending)
    text = body.decode("utf-8", "replace")
    check(st == 403 and "cannot take more users" in text, "/callback refuses: %d %r" % (st, text[:300]))
    check(requests(sim) == before, "no token exchange: %d -> %d" % (before, requests(sim)))
    check(not in_directory(c, "u6") and not in_directory(c, "u7"), "nothing stored")

    st, _h, body = oauth_login(serve, "u1", "u1")
    check(st == 200, "a connected user connects again: %d %r" % (st, body[:200]))
    _st, _h, m = serve.get("/metrics")
    check('spotwatch_oauth_callbacks_total{outcome="app_full"} 1' in m.decode(), "the refused callback counted")


def test_oauth_store_refuses_when_full():
    """The decision is oauth_store.lua's, atomic with the write: a login
    that passed the early checks finds the app full and stores nothing."""
    r, sim = RedisServer(), Sim()
    dev_app(r, sim)
    c = r.client()
    for u in USERS[:5]:
        add_user(r, sim, u, watch=False)
    before = redis_dump(c, "sw:*")
    sha = c.cmd("SCRIPT", "LOAD", lua_source("oauth_store"))
    keys = ["sw:{app1}:user:u6", "sw:{app1}:accounts", "sw:{app1}:due", "sw:{app1}:leases", "sw:{app1}:members",
            "sw:{app1}:app"]
    args = ["u6", "app1", "acct-u6", "U6", "AT", "RT", "3600000", "", "refuse"]
    got = c.cmd("EVALSHA", sha, len(keys), *(keys + args))
    check(got[0] == 0 and got[2] == 5, "refused with the cap (stored, other_user, max_users): %r" % got)
    check(redis_dump(c, "sw:*") == before, "nothing written")
    known = ["sw:{app1}:user:u1"] + keys[1:]
    got = c.cmd("EVALSHA", sha, len(known), *(known + ["u1"] + args[1:]))
    check(got[0] == 1, "a known user is stored: %r" % got)
