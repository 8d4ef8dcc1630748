"""test_sim.py: tests of bin/spotify-sim itself (a wrong simulator poisons
every other test). Most tests freeze the simulated clock (--clock-scale 0)
and move it with POST /sim/clock, so hours and months take milliseconds."""
import base64
import hashlib
import http.client as hc
import json
import os
import re
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse

from harness import *  # noqa: F401,F403

ROOT_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OPENAPI = os.environ.get("SPOTIFY_OPENAPI",
                         os.path.join(ROOT_DIR, "..", "shared", "reference", "spotify-open-api.yml"))
if not os.path.exists(OPENAPI):
    OPENAPI = "/work/shared/reference/spotify-open-api.yml"

CID = "cid-test"
SECRET = "s3cret"
SCOPE = "user-read-currently-playing user-read-playback-state user-read-recently-played"
CP = "/me/player/currently-playing"
LONG = 30 * 86400 * 1000  # a track that outlasts any test


# --- helpers -------------------------------------------------------------------

def mksim(args=(), mode="extended", allowlist=(), redirect_uris=None, frozen=True):
    """A simulator with one app (CID/SECRET) and a frozen clock."""
    a = (["--clock-scale", "0"] if frozen else []) + list(args)
    sim = Sim(args=a)
    sim.ok("POST", "/sim/apps", {"client_id": CID, "client_secret": SECRET,
                                 "redirect_uris": redirect_uris or ["http://127.0.0.1:8080/callback"],
                                 "mode": mode, "allowlist": list(allowlist)})
    return sim


def mint(sim, user, scope=SCOPE, client_id=CID, expires_in=None):
    body = {"client_id": client_id, "scope": scope}
    if expires_in is not None:
        body["expires_in"] = expires_in
    return sim.ok("POST", "/sim/users/%s/tokens" % user, body)


def api(sim, path, token=None, headers=None, method="GET", timeout=5):
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = "Bearer " + token
    return http(method, sim.api + path, headers=h, timeout=timeout)


def api_json(sim, path, token=None, **kw):
    st, h, body = api(sim, path, token, **kw)
    return st, h, (json.loads(body) if body else None)


def advance(sim, ms):
    return sim.ok("POST", "/sim/clock", {"advance_ms": ms})


def config(sim, **kw):
    return sim.ok("POST", "/sim/config", kw)


def token_req(sim, fields, basic=None, headers=None):
    h = {"Content-Type": "application/x-www-form-urlencoded"}
    if basic:
        h["Authorization"] = "Basic " + base64.b64encode(("%s:%s" % basic).encode()).decode()
    h.update(headers or {})
    st, hd, body = http("POST", sim.base + "/api/token", headers=h, body=urllib.parse.urlencode(fields))
    try:
        data = json.loads(body) if body else None
    except ValueError:
        data = None
    return st, hd, data


def refresh(sim, rt, basic=(CID, SECRET)):
    return token_req(sim, {"grant_type": "refresh_token", "refresh_token": rt}, basic=basic)


def expect_error(st, data, status, message):
    check(st == status, "status %d, want %d (%r)" % (st, status, data))
    check(data == {"error": {"status": status, "message": message}}, "body %r, want message %r" % (data, message))


def expect_oauth(st, data, error, desc, status=400):
    check(st == status, "status %d, want %d (%r)" % (st, status, data))
    check(data == {"error": error, "error_description": desc}, "body %r, want %s/%s" % (data, error, desc))


def raw_request(port, path, headers=()):
    """One raw HTTP/1.1 request; returns (status, [(name as sent, value)], body)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    req = "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" % path
    for k, v in headers:
        req += "%s: %s\r\n" % (k, v)
    s.sendall((req + "\r\n").encode())
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = [tuple(x.split(": ", 1)) for x in lines[1:]]
    return status, hdrs, body


def play(sim, user, queue, **kw):
    body = {"queue": queue, "index": 0, "progress_ms": 0, "is_playing": True,
            "device": {"id": "dev-" + user, "name": "Phone", "type": "Smartphone"}}
    body.update(kw)
    return sim.ok("PUT", "/sim/users/%s/playback" % user, body)


def now_ms(sim):
    return sim.ok("GET", "/sim/clock")["now_ms"]


def authorize(sim, params):
    st, h, body = http("GET", sim.base + "/authorize?" + urllib.parse.urlencode(params))
    return st, h, body.decode("utf-8", "replace")


def get_code(sim, user="u1", redirect="http://127.0.0.1:8080/callback", extra=None):
    p = {"client_id": CID, "response_type": "code", "redirect_uri": redirect, "state": "st",
         "scope": SCOPE, "sim_user": user}
    p.update(extra or {})
    st, h, _ = authorize(sim, p)
    check(st == 302, "authorize status %d" % st)
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(h["location"]).query)
    return q["code"][0]


# --- a tiny YAML-subset reader and JSON-schema checker for the OpenAPI file -----

def _indent(line):
    return len(line) - len(line.lstrip(" "))


def _scalar(s):
    s = s.strip()
    if s.startswith('"') and s.endswith('"') and len(s) >= 2:
        return s[1:-1]
    if s.startswith("'") and s.endswith("'") and len(s) >= 2:
        return s[1:-1]
    if s in ("true", "false"):
        return s == "true"
    if s == "[]":
        return []
    if s == "{}":
        return {}
    if re.fullmatch(r"-?\d+", s):
        return int(s)
    return s


def _split_key(text):
    """'key: value' -> (key, value) or None if text is not a mapping entry."""
    if text.startswith(('"', "'")):
        q = text[0]
        end = text.find(q, 1)
        if end > 0 and text[end + 1:end + 2] == ":" and (text[end + 2:end + 3] in ("", " ")):
            return text[1:end], text[end + 2:].strip()
        return None
    m = re.match(r"([^\s:][^:]*?):(?:\s+(.*))?$", text)
    if not m:
        return None
    return m.group(1), (m.group(2) or "").strip()


class _Yaml:
    def __init__(self, text):
        self.lines = [ln.rstrip("\n") for ln in text.split("\n")
                      if ln.strip() and not ln.lstrip().startswith("#")]
        self.n = len(self.lines)

    def _skip_deeper(self, i, indent):
        while i < self.n and _indent(self.lines[i]) > indent:
            i += 1
        return i

    def _is_item(self, i):
        t = self.lines[i].lstrip(" ")
        return t == "-" or t.startswith("- ")

    def block(self, i, indent):
        if self._is_item(i):
            return self.seq(i, indent)
        return self.map(i, indent)

    def map(self, i, indent):
        d = {}
        while i < self.n and _indent(self.lines[i]) == indent and not self._is_item(i):
            kv = _split_key(self.lines[i].strip())
            if kv is None:
                i = self._skip_deeper(i + 1, indent)
                continue
            key, rest = kv
            if rest == "":
                if i + 1 < self.n and (_indent(self.lines[i + 1]) > indent or
                                       (_indent(self.lines[i + 1]) == indent and self._is_item(i + 1))):
                    d[key], i = self.block(i + 1, _indent(self.lines[i + 1]))
                else:
                    d[key], i = None, i + 1
            elif rest[0] in "|>":
                d[key], i = "<text>", self._skip_deeper(i + 1, indent)
            else:
                d[key], i = _scalar(rest), self._skip_deeper(i + 1, indent)
        return d, i

    def seq(self, i, indent):
        out = []
        while i < self.n and _indent(self.lines[i]) == indent and self._is_item(i):
            content = self.lines[i].strip()[1:].strip()
            if _split_key(content) is not None:
                self.lines[i] = " " * (indent + 2) + content
                v, i = self.map(i, indent + 2)
            else:
                v, i = _scalar(content), self._skip_deeper(i + 1, indent)
            out.append(v)
        return out, i


_SCHEMAS = None


def openapi_schemas():
    global _SCHEMAS
    if _SCHEMAS is None:
        with open(OPENAPI) as f:
            doc, _ = _Yaml(f.read()).map(0, 0)
        _SCHEMAS = doc["components"]["schemas"]
    return _SCHEMAS


def _resolve(schema):
    while isinstance(schema, dict) and "$ref" in schema:
        schema = openapi_schemas()[schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _nullable(schema):
    s = _resolve(schema)
    if schema.get("nullable") or s.get("nullable"):
        return True
    d = str(schema.get("description", "")) + str(s.get("description", ""))
    return "null" in d


def _props(schema):
    """All declared properties of a schema, through allOf/$ref."""
    s = _resolve(schema)
    p = dict(s.get("properties", {}))
    for sub in s.get("allOf", []):
        p.update(_props(sub))
    return p


def validate(value, schema, path="$", errors=None, undeclared=None):
    """Checks value against an OpenAPI schema (types, required, enum, items,
    properties, allOf, oneOf with discriminator). Collects messages in errors;
    object members the schema does not declare go to undeclared."""
    if errors is None:
        errors = []
    outer = schema
    schema = _resolve(schema)
    if value is None:
        if not _nullable(outer):
            errors.append("%s: null not allowed" % path)
        return errors
    for sub in schema.get("allOf", []):
        validate(value, sub, path, errors, None)
    if "oneOf" in schema:
        disc = schema.get("discriminator", {}).get("propertyName")
        cands = schema["oneOf"]
        if disc and isinstance(value, dict):
            want = {"track": "TrackObject", "episode": "EpisodeObject"}.get(value.get(disc))
            cands = [c for c in cands if c["$ref"].endswith("/" + str(want))]
        ok = False
        for c in cands:
            e = validate(value, c, path, [], undeclared)
            if not e:
                ok = True
                break
        if not ok:
            errors.append("%s: matches none of oneOf %s" % (path, [c["$ref"] for c in cands]))
    t = schema.get("type")
    checks = {"integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
              "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
              "string": lambda v: isinstance(v, str), "boolean": lambda v: isinstance(v, bool),
              "array": lambda v: isinstance(v, list), "object": lambda v: isinstance(v, dict)}
    if t in checks and not checks[t](value):
        errors.append("%s: %r is not %s" % (path, value, t))
        return errors
    if "enum" in schema and value not in schema["enum"]:
        errors.append("%s: %r not in %r" % (path, value, schema["enum"]))
    if isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            validate(v, schema["items"], "%s[%d]" % (path, i), errors, undeclared)
    if isinstance(value, dict):
        for r in schema.get("required", []):
            if r not in value:
                errors.append("%s: required member %s missing" % (path, r))
        props = schema.get("properties", {})
        for k, v in value.items():
            if k in props:
                validate(v, props[k], "%s.%s" % (path, k), errors, undeclared)
        if undeclared is not None and (props or schema.get("allOf")) and "oneOf" not in schema:
            declared = _props(outer)
            for k in value:
                if k not in declared:
                    undeclared.append("%s.%s" % (path, k))
    return errors


# --- command line ---------------------------------------------------------------

def test_help_documents_every_option():
    r = subprocess.run([os.path.join(BIN, "spotify-sim"), "--help"], capture_output=True, text=True)
    check(r.returncode == 0, "--help exit %d" % r.returncode)
    sim = Sim()
    cfg = sim.ok("GET", "/sim/config")
    with open(os.path.join(ROOT_DIR, "tests", "sim", "README.md")) as f:
        readme = f.read()
    opts = ["--port", "--bind", "--tls-cert", "--tls-key", "--threads", "--seed", "--clock-scale",
            "--setup", "--help"]
    opts += ["--" + k.replace("_", "-") for k in cfg]
    for o in opts:
        check(o in r.stdout, "--help does not document %s" % o)
    for k in cfg:
        check("`%s`" % k, "README does not document setting %s" % k)
        check("`%s`" % k in readme, "README does not document setting %s" % k)
    for o in opts[:9]:
        check("`%s" % o in readme, "README does not document %s" % o)
    for call in ["POST /sim/apps", "POST /sim/users", "POST /sim/users/<id>/tokens",
                 "PUT /sim/users/<id>/playback", "DELETE /sim/users/<id>/playback",
                 "/pause", "/resume", "/next", "/expire", "/revoke", "GET /sim/stats",
                 "POST /sim/stats/reset", "POST /sim/clock", "GET /sim/clock", "POST /sim/faults",
                 "DELETE /sim/faults", "POST /sim/config", "GET /sim/users/<id>", "/seek", "/transfer",
                 "/private", "/history"]:
        check(call in readme, "README does not document %s" % call)
    r = subprocess.run([os.path.join(BIN, "spotify-sim"), "--no-such-option", "1"], capture_output=True)
    check(r.returncode == 2, "unknown option must exit 2")


def test_listening_line_and_clean_exit():
    sim = Sim()
    st, data = sim.ctl("GET", "/sim/health")
    check(st == 200 and data == {"ok": True}, "health %r" % data)
    check(sim.stop() == 0, "SIGTERM must exit 0")
    sim = Sim(args=["--rate-limit", "3", "--refresh-policy", "rotate", "--lowercase-headers", "yes"])
    cfg = sim.ok("GET", "/sim/config")
    check(cfg["rate_limit"] == 3 and cfg["refresh_policy"] == "rotate" and cfg["lowercase_headers"] is True,
          "options not applied: %r" % cfg)
    sim.proc.signal(signal.SIGINT)
    check(sim.proc.p.wait(5) == 0, "SIGINT must exit 0")


def test_config_validation():
    sim = Sim()
    st, data = sim.ctl("POST", "/sim/config", {"refresh_policy": "sometimes"})
    check(st == 400 and "error" in data, "bad policy accepted: %d %r" % (st, data))
    st, data = sim.ctl("POST", "/sim/config", {"no_such": 1})
    check(st == 400, "unknown setting accepted")
    st, data = sim.ctl("POST", "/sim/config", {"rate_limit": -1})
    check(st == 400, "negative rate_limit accepted")
    cfg = config(sim, rate_limit=7, window_ms=1000, quota_24h=9, refresh_policy="same",
                 lowercase_headers=True, omit_retry_after=True, escalation=2, pause_to_204_ms=5,
                 latency_ms=0, limited_grace_ms=50)
    check(cfg["rate_limit"] == 7 and cfg["escalation"] == 2 and cfg["refresh_policy"] == "same"
          and cfg["omit_retry_after"] is True and cfg["limited_grace_ms"] == 50, "config %r" % cfg)


# --- auth and order of checks ----------------------------------------------------

def test_auth_errors_401():
    sim = mksim()
    tok = mint(sim, "u1")["access_token"]
    play(sim, "u1", [track("t1", duration_ms=LONG)])
    st, h, data = api_json(sim, CP)
    expect_error(st, data, 401, "No token provided")
    check("www-authenticate" in h, "401 without WWW-Authenticate")
    st, h, data = api_json(sim, CP, headers={"Authorization": "Basic dTpw"})
    expect_error(st, data, 400, "Only valid bearer authentication supported")
    st, h, data = api_json(sim, CP, "BQnotarealtoken")
    expect_error(st, data, 401, "Invalid access token")
    rt = mint(sim, "u1")["refresh_token"]
    st, h, data = api_json(sim, CP, rt)
    expect_error(st, data, 401, "Invalid access token")
    st, h, data = api_json(sim, CP, tok)
    check(st == 200 and data["item"]["id"] == "t1", "valid token: %d %r" % (st, data))
    # expiry on the simulated clock: valid until 3600 s, expired at 3600 s
    advance(sim, 3600 * 1000 - 1)
    st, _, _ = api(sim, CP, tok)
    check(st == 200, "token expired early: %d" % st)
    advance(sim, 1)
    st, h, data = api_json(sim, CP, tok)
    expect_error(st, data, 401, "The access token expired")
    # the expire hook
    tok2 = mint(sim, "u1")["access_token"]
    check(api(sim, CP, tok2)[0] == 200, "fresh token refused")
    r = sim.ok("POST", "/sim/users/u1/expire")
    check(r["expired"] >= 1, "expire hook %r" % r)
    st, h, data = api_json(sim, CP, tok2)
    expect_error(st, data, 401, "The access token expired")


def test_scopes_permissions_missing():
    sim = mksim()
    play(sim, "u1", [track("t1")])
    only_state = mint(sim, "u1", scope="user-read-playback-state")["access_token"]
    only_cur = mint(sim, "u1", scope="user-read-currently-playing")["access_token"]
    none = mint(sim, "u1", scope="")["access_token"]
    expect_error(*api_json(sim, CP, only_state)[::2], 401, "Permissions missing")
    expect_error(*api_json(sim, "/me/player", only_cur)[::2], 401, "Permissions missing")
    expect_error(*api_json(sim, "/me/player/recently-played", only_cur)[::2], 401, "Permissions missing")
    check(api(sim, CP, only_cur)[0] == 200, "currently-playing with its scope")
    check(api(sim, "/me/player", only_state)[0] == 200, "/me/player with its scope")
    st, _, me = api_json(sim, "/me", none)
    check(st == 200 and me["id"] == "u1" and "email" not in me and "product" not in me, "/me %r" % me)
    priv = mint(sim, "u1", scope="user-read-private user-read-email")["access_token"]
    st, _, me = api_json(sim, "/me", priv)
    check(me["product"] == "premium" and me["email"] and me["country"], "/me private %r" % me)
    errs = validate(me, {"$ref": "#/components/schemas/PrivateUserObject"})
    check(not errs, "PrivateUserObject: %s" % errs)


def test_unknown_path_and_method():
    sim = mksim()
    tok = mint(sim, "u1")["access_token"]
    expect_error(*api_json(sim, "/me/nothing", tok)[::2], 404, "Service not found")
    st, h, data = api_json(sim, CP, tok, method="POST")
    expect_error(st, data, 405, "Method not allowed")


def test_allowlist_403_json_and_plain_text():
    sim = mksim(mode="development", allowlist=["u1"], args=["--rate-limit", "1"])
    play(sim, "u1", [track("t1")])
    play(sim, "u2", [track("t2")])
    t1 = mint(sim, "u1")["access_token"]
    t2 = mint(sim, "u2")["access_token"]
    st, h, data = api_json(sim, CP, t2)
    expect_error(st, data, 403, "User not registered in the Developer Dashboard")
    check(h["content-type"].startswith("application/json"), "403 content type %r" % h["content-type"])
    # 403 comes before the rate limit: u2's calls never use the app's window
    for _ in range(3):
        check(api(sim, CP, t2)[0] == 403, "403 must precede 429")
    check(api(sim, CP, t1)[0] == 200, "allowlisted user refused")
    # auth comes before the allowlist
    sim.ok("POST", "/sim/users/u2/expire")
    expect_error(*api_json(sim, CP, t2)[::2], 401, "The access token expired")
    config(sim, allowlist_plain_text=True)
    t2 = mint(sim, "u2")["access_token"]
    st, h, body = api(sim, CP, t2)
    check(st == 403 and body == b"User not registered in the Developer Dashboard", "plain 403: %r" % body)
    check(h["content-type"].startswith("text/plain"), "plain 403 content type %r" % h["content-type"])
    # extended mode has no allowlist
    sim.ok("POST", "/sim/apps", {"client_id": CID, "client_secret": SECRET, "mode": "extended",
                                 "redirect_uris": []})
    advance(sim, 30000)
    check(api(sim, CP, t2)[0] == 200, "extended mode must not check the allowlist")


# --- rate limit -----------------------------------------------------------------

def test_rolling_window_admits_exactly_L():
    L = 5
    sim = mksim(args=["--rate-limit", str(L)])
    tok = mint(sim, "u1")["access_token"]
    play(sim, "u1", [track("t1")])
    for i in range(L):
        check(api(sim, CP, tok)[0] == 200, "call %d refused" % i)
    st, h, data = api_json(sim, CP, tok)
    expect_error(st, data, 429, "API rate limit exceeded")
    check(h.get("retry-after") == "30", "Retry-After %r, want 30" % h.get("retry-after"))
    advance(sim, 500)   # 29.5 s left -> 30
    check(api(sim, CP, tok)[1]["retry-after"] == "30", "Retry-After must round up")
    advance(sim, 9500)  # 20 s left
    check(api(sim, CP, tok)[1]["retry-after"] == "20", "Retry-After at t=10s")
    advance(sim, 19999)  # 1 ms left -> 1
    check(api(sim, CP, tok)[1]["retry-after"] == "1", "Retry-After at t=29.999s")
    advance(sim, 1)      # t = 30 s: all L calls left the window (now - 30 s, now]
    for i in range(L):
        check(api(sim, CP, tok)[0] == 200, "second window call %d refused" % i)
    check(api(sim, CP, tok)[0] == 429, "L+1-th call of the second window admitted")
    # staggered: calls at 0, 10, 20 s with L = 3 -> the window frees one call at a time
    sim2 = mksim(args=["--rate-limit", "3"])
    tok2 = mint(sim2, "u1")["access_token"]
    play(sim2, "u1", [track("t1")])
    for _ in range(3):
        check(api(sim2, CP, tok2)[0] == 200, "staggered call refused")
        advance(sim2, 10000)
    # now t = 30 s: the call at 0 left; one call admitted
    check(api(sim2, CP, tok2)[0] == 200, "call at 30s refused")
    st, h, _ = api(sim2, CP, tok2)
    check(st == 429 and h["retry-after"] == "10", "Retry-After %r, want 10 (oldest at 10s)" % h.get("retry-after"))
    advance(sim2, 10000)
    check(api(sim2, CP, tok2)[0] == 200, "call at 40s refused")
    app = sim2.ok("GET", "/sim/apps/" + CID)
    check(app["calls_in_window"] == 3 and app["rate_limit"] == 3, "app view %r" % app)
    s = sim.stats()
    check(s["requests"]["by_status"]["200"] == 2 * L and s["requests"]["by_status"]["429"] == 5,
          "stats by_status %r" % s["requests"]["by_status"])


def test_rate_limit_is_per_app_and_per_app_override():
    sim = mksim(args=["--rate-limit", "2"])
    sim.ok("POST", "/sim/apps", {"client_id": "other", "client_secret": "x", "mode": "extended"})
    sim.ok("POST", "/sim/apps", {"client_id": "big", "client_secret": "x", "mode": "extended", "rate_limit": 4})
    play(sim, "u1", [track("t1")])
    a = mint(sim, "u1")["access_token"]
    b = mint(sim, "u1", client_id="other")["access_token"]
    c = mint(sim, "u1", client_id="big")["access_token"]
    check([api(sim, CP, a)[0] for _ in range(3)] == [200, 200, 429], "app a window")
    check([api(sim, CP, b)[0] for _ in range(3)] == [200, 200, 429], "app b has its own window")
    check([api(sim, CP, c)[0] for _ in range(5)] == [200] * 4 + [429], "per-app override")


def test_calls_while_limited_and_grace():
    sim = mksim(args=["--rate-limit", "2", "--limited-grace-ms", "100"])
    play(sim, "u1", [track("t1")])
    tok = mint(sim, "u1")["access_token"]
    check([api(sim, CP, tok)[0] for _ in range(2)] == [200, 200], "admitted calls")
    check(api(sim, CP, tok)[0] == 429, "first 429")          # opens the window (t=0)
    check(api(sim, CP, tok)[0] == 429, "in flight")          # t=0: within grace
    advance(sim, 100)
    check(api(sim, CP, tok)[0] == 429, "at grace edge")      # t=100: not *more* than grace
    s = sim.stats()
    check(s["calls_while_limited"] == 0 and s["calls_in_grace"] == 2, "grace counting %r" % s)
    advance(sim, 1)
    check(api(sim, CP, tok)[0] == 429, "late call")          # t=101: a call made while limited
    advance(sim, 10000)
    check(api(sim, CP, tok)[0] == 429, "late call 2")
    s = sim.stats()
    check(s["calls_while_limited"] == 2, "calls_while_limited %r" % s["calls_while_limited"])
    check(s["calls_while_limited_by_app"] == {CID: 2}, "by app %r" % s["calls_while_limited_by_app"])
    check(s["calls_while_limited_by_user"] == {"u1": 2}, "by user %r" % s["calls_while_limited_by_user"])
    check(s["rate_limited"] == 5, "rate_limited %r" % s["rate_limited"])
    # the window ends at 30 s; afterwards calls are admitted and not counted
    advance(sim, 30000 - 10101)
    check(api(sim, CP, tok)[0] == 200, "window did not close at 30s")
    check(sim.stats()["calls_while_limited"] == 2, "admitted call counted as limited")
    sim.ok("POST", "/sim/stats/reset")
    s = sim.stats()
    check(s["calls_while_limited"] == 0 and s["requests"]["total"] == 0 and s["calls_in_grace"] == 0,
          "reset %r" % s)


def test_escalation_lengthens_penalty():
    sim = mksim(args=["--rate-limit", "1", "--escalation", "2"])
    play(sim, "u1", [track("t1")])
    tok = mint(sim, "u1")["access_token"]
    check(api(sim, CP, tok)[0] == 200, "first call")
    t0 = now_ms(sim)
    st, h, _ = api(sim, CP, tok)
    check(st == 429 and h["retry-after"] == "30", "initial penalty %r" % h.get("retry-after"))
    advance(sim, 1000)
    st, h, _ = api(sim, CP, tok)   # late: +30 s -> 29 + 30 = 59
    check(st == 429 and h["retry-after"] == "59", "escalated Retry-After %r, want 59" % h.get("retry-after"))
    app = sim.ok("GET", "/sim/apps/" + CID)
    check(app["limited"] and app["limited_until_ms"] == t0 + 60000, "window end %r" % app)
    advance(sim, 59000)
    check(api(sim, CP, tok)[0] == 200, "window did not end at 60 s")
    check(sim.stats()["calls_while_limited"] == 1, "one late call")


def test_omit_retry_after_and_lowercase_headers():
    sim = mksim(args=["--rate-limit", "1", "--omit-retry-after", "true"])
    play(sim, "u1", [track("t1")])
    tok = mint(sim, "u1")["access_token"]
    api(sim, CP, tok)
    st, h, data = api_json(sim, CP, tok)
    check(st == 429 and "retry-after" not in h, "Retry-After sent despite omit_retry_after: %r" % h)
    # lower case (HTTP/2 style) is the default; capitalised is the switch
    check(sim.ok("GET", "/sim/config")["lowercase_headers"] is True, "lowercase_headers default")
    config(sim, omit_retry_after=False, lowercase_headers=False)
    st, hdrs, _ = raw_request(sim.port, "/v1" + CP, [("Authorization", "Bearer " + tok)])
    names = [k for k, _ in hdrs]
    check(st == 429 and "Retry-After" in names and "Content-Type" in names, "capitalised case %r" % names)
    config(sim, lowercase_headers=True)
    st, hdrs, body = raw_request(sim.port, "/v1" + CP, [("Authorization", "Bearer " + tok)])
    names = [k for k, _ in hdrs]
    check(st == 429 and "retry-after" in names and "content-type" in names and "date" in names,
          "lower-case names %r" % names)
    check("Retry-After" not in names and "Content-Type" not in names, "upper-case names left %r" % names)
    advance(sim, 30000)
    st, hdrs, body = raw_request(sim.port, "/v1" + CP, [("Authorization", "Bearer " + tok)])
    check(st == 200 and json.loads(body)["item"]["id"] == "t1", "200 with lowercase headers")
    check("content-type" in [k for k, _ in hdrs], "200 lower-case content-type")


def test_quota_exceeded_24h():
    sim = mksim(mode="development", allowlist=["u1"], args=["--quota-24h", "3"])
    play(sim, "u1", [track("t1", duration_ms=LONG)])
    tok = mint(sim, "u1", expires_in=10 ** 7)["access_token"]
    check(sim.ok("GET", "/sim/users/u1")["tokens"]["access_live"] == 1, "expires_in on mint")
    for _ in range(3):
        check(api(sim, CP, tok)[0] == 200, "quota call refused")
        advance(sim, 60 * 60 * 1000)  # one call per hour
    st, h, data = api_json(sim, CP, tok)
    check(st == 429 and data == {"error": {"status": 429, "message": "API rate limit exceeded",
                                           "reason": "QUOTA_EXCEEDED"}}, "quota body %r" % data)
    ra = int(h["retry-after"])
    # the first call (3 h ago) leaves the 24 h window in about 21 h
    check(21 * 3600 - 60 <= ra <= 21 * 3600 + 60, "Retry-After %d s, want about 21 h" % ra)
    check(sim.stats()["quota_exceeded"] == 1, "quota_exceeded stat")
    advance(sim, ra * 1000 - 1000)
    check(api(sim, CP, tok)[0] == 429, "quota rolled before Retry-After")
    advance(sim, 1000)
    check(api(sim, CP, tok)[0] == 200, "quota did not roll after Retry-After")
    check(api(sim, CP, tok)[0] == 429, "quota must be full again")
    # extended-mode apps have no quota
    sim.ok("POST", "/sim/apps", {"client_id": CID, "client_secret": SECRET, "mode": "extended"})
    check(api(sim, CP, tok)[0] == 200, "extended app hit the quota")


# --- accounts: /api/token -------------------------------------------------------

def test_token_endpoint_errors():
    sim = mksim()
    rt = mint(sim, "u1")["refresh_token"]
    st, h, data = refresh(sim, rt)
    check(st == 200 and data["token_type"] == "Bearer" and data["expires_in"] == 3600
          and data["scope"] == SCOPE and "refresh_token" not in data, "refresh (policy none) %r" % data)
    check(h["content-type"].startswith("application/json"), "token content type")
    # client credentials in the body work too
    st, _, data = token_req(sim, {"grant_type": "refresh_token", "refresh_token": rt,
                                  "client_id": CID, "client_secret": SECRET})
    check(st == 200, "body client auth %r" % data)
    expect_oauth(*refresh(sim, rt, basic=(CID, "wrong"))[::2], "invalid_client", "Invalid client secret")
    expect_oauth(*refresh(sim, rt, basic=("nobody", "x"))[::2], "invalid_client", "Invalid client")
    expect_oauth(*refresh(sim, "AQunknown")[::2], "invalid_grant", "Invalid refresh token")
    expect_oauth(*token_req(sim, {"refresh_token": rt}, basic=(CID, SECRET))[::2],
                 "unsupported_grant_type", "grant_type parameter is missing")
    st, _, data = token_req(sim, {"grant_type": "password"}, basic=(CID, SECRET))
    check(st == 400 and data["error"] == "unsupported_grant_type", "unsupported grant %r" % data)
    # form-encoded only
    st, _, body = http("POST", sim.base + "/api/token", body={"grant_type": "refresh_token", "refresh_token": rt},
                       headers={"Authorization": "Basic " + base64.b64encode(b"cid-test:s3cret").decode()})
    check(st == 400, "JSON body accepted by /api/token: %d" % st)
    # a refresh token of another app is not valid for this one
    sim.ok("POST", "/sim/apps", {"client_id": "other", "client_secret": "o", "mode": "extended"})
    expect_oauth(*refresh(sim, rt, basic=("other", "o"))[::2], "invalid_grant", "Invalid refresh token")
    s = sim.stats()["token_grants"]
    check(s["refresh_token"] == 2 and s["failed"] >= 7 and s["by_user"] == {"u1": 2} and s["minted"] == 1,
          "token_grants %r" % s)


def test_refresh_policies_none_same_rotate():
    sim = mksim()
    rt = mint(sim, "u1")["refresh_token"]
    st, _, d1 = refresh(sim, rt)
    check(st == 200 and "refresh_token" not in d1, "none: %r" % d1)
    check(refresh(sim, rt)[0] == 200, "none: the refresh token stays valid")
    check(api(sim, "/me", d1["access_token"])[0] == 200, "refreshed access token works")
    config(sim, refresh_policy="same")
    st, _, d2 = refresh(sim, rt)
    check(st == 200 and d2["refresh_token"] == rt, "same: %r" % d2)
    config(sim, refresh_policy="rotate")
    st, _, d3 = refresh(sim, rt)
    new = d3.get("refresh_token")
    check(st == 200 and new and new != rt, "rotate: %r" % d3)
    expect_oauth(*refresh(sim, rt)[::2], "invalid_grant", "Invalid refresh token")
    st, _, d4 = refresh(sim, new)
    check(st == 200 and d4["refresh_token"] not in (rt, new), "rotated token works once")
    expect_oauth(*refresh(sim, new)[::2], "invalid_grant", "Invalid refresh token")
    # old access tokens stay valid until they expire
    check(api(sim, "/me", d1["access_token"])[0] == 200, "old access token died on refresh")


def test_refresh_revoked_and_six_month_expiry():
    sim = mksim(args=["--refresh-policy", "rotate"])
    rt = mint(sim, "u1")["refresh_token"]
    rt_b = mint(sim, "u2")["refresh_token"]
    r = sim.ok("POST", "/sim/users/u1/revoke")
    check(r["revoked"] == 1, "revoke hook %r" % r)
    expect_oauth(*refresh(sim, rt)[::2], "invalid_grant", "Refresh token revoked")
    # refreshing (even rotating) does not extend the lifetime of 180 days
    advance(sim, 179 * 86400 * 1000)
    st, _, d = refresh(sim, rt_b)
    check(st == 200 and d["refresh_token"] != rt_b, "refresh at 179 days: %r" % d)
    rt_b2 = d["refresh_token"]
    advance(sim, 86400 * 1000 - 1)
    st, _, d = refresh(sim, rt_b2)
    check(st == 200, "refresh 1 ms before 180 days: %r" % d)
    rt_b3 = d["refresh_token"]
    expect_oauth(*refresh(sim, rt_b2)[::2], "invalid_grant", "Invalid refresh token")
    check(sim.ok("GET", "/sim/users/u2")["tokens"]["refresh_live"] == 1, "exactly one live refresh token")
    advance(sim, 1)
    expect_oauth(*refresh(sim, rt_b3)[::2], "invalid_grant", "Refresh token expired")
    check(sim.ok("GET", "/sim/users/u2")["tokens"]["refresh_live"] == 0, "no live refresh token")


# --- accounts: /authorize --------------------------------------------------------

def test_authorize_redirect_uri_rules():
    uris = ["http://127.0.0.1:8080/callback", "http://[::1]:9000/cb", "https://app.example.com/cb",
            "http://localhost:8080/callback", "http://example.com/cb", "com.example.app://callback"]
    sim = mksim(redirect_uris=uris)
    base = {"client_id": CID, "response_type": "code", "state": "xyz", "scope": SCOPE, "sim_user": "u1"}

    def go(uri, **kw):
        p = dict(base, redirect_uri=uri)
        p.update(kw)
        return authorize(sim, p)

    for ok in ["http://127.0.0.1:8080/callback", "http://127.0.0.1:53123/callback",
               "http://127.0.0.1/callback", "http://[::1]:1234/cb", "https://app.example.com/cb",
               "com.example.app://callback"]:
        st, h, _ = go(ok)
        check(st == 302 and h["location"].startswith(ok + "?code="), "%s refused: %d %r" % (ok, st, h))
    for bad in ["http://localhost:8080/callback", "http://localhost:9999/callback",
                "http://example.com/cb", "https://app.example.com/other", "http://127.0.0.1:8080/other",
                "https://evil.example.com/cb", "http://127.0.0.2:8080/callback"]:
        st, h, body = go(bad)
        check(st == 400 and "location" not in h, "%s accepted: %d" % (bad, st))
        check("INVALID_CLIENT: Invalid redirect URI" in body, "400 page for %s: %r" % (bad, body[:200]))
    st, h, body = authorize(sim, dict(base, client_id="nope", redirect_uri=uris[0]))
    check(st == 400 and "INVALID_CLIENT" in body, "unknown client: %d" % st)


def test_authorize_approve_deny_state_and_consent_page():
    sim = mksim()
    state = "a b&c=d/é?"
    p = {"client_id": CID, "response_type": "code", "redirect_uri": "http://127.0.0.1:8080/callback",
         "state": state, "scope": SCOPE}
    st, h, body = authorize(sim, dict(p, sim_deny="1"))
    check(st == 302, "deny status %d" % st)
    u = urllib.parse.urlsplit(h["location"])
    q = urllib.parse.parse_qs(u.query)
    check(q == {"error": ["access_denied"], "state": [state]}, "deny redirect %r" % q)
    st, h, body = authorize(sim, dict(p, sim_user="u1"))
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(h["location"]).query)
    check(st == 302 and q["state"] == [state] and len(q["code"][0]) > 20, "approve redirect %r" % q)
    st, h, body = authorize(sim, p)
    check(st == 200 and "<form" in body and "sim_user" in body, "consent page %d" % st)
    st, h, body = authorize(sim, dict(p, response_type="token", sim_user="u1"))
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(h["location"]).query)
    check(st == 302 and q["error"] == ["unsupported_response_type"], "response_type %r" % q)


def test_authorization_code_single_use_expiry_and_redirect():
    sim = mksim()
    ru = "http://127.0.0.1:8080/callback"
    code = get_code(sim)
    st, _, d = token_req(sim, {"grant_type": "authorization_code", "code": code, "redirect_uri": ru},
                         basic=(CID, SECRET))
    check(st == 200 and d["refresh_token"] and d["scope"] == SCOPE and d["expires_in"] == 3600
          and d["token_type"] == "Bearer", "code exchange %r" % d)
    st, _, me = api_json(sim, "/me", d["access_token"])
    check(st == 200 and me["id"] == "u1", "token from code works: %r" % me)
    expect_oauth(*token_req(sim, {"grant_type": "authorization_code", "code": code, "redirect_uri": ru},
                            basic=(CID, SECRET))[::2], "invalid_grant", "Invalid authorization code")
    code = get_code(sim, redirect="http://127.0.0.1:5555/callback")
    expect_oauth(*token_req(sim, {"grant_type": "authorization_code", "code": code, "redirect_uri": ru},
                            basic=(CID, SECRET))[::2], "invalid_grant", "Invalid redirect URI")
    code = get_code(sim)
    advance(sim, 10 * 60 * 1000)
    expect_oauth(*token_req(sim, {"grant_type": "authorization_code", "code": code, "redirect_uri": ru},
                            basic=(CID, SECRET))[::2], "invalid_grant", "Invalid authorization code")
    code = get_code(sim)
    advance(sim, 10 * 60 * 1000 - 1)
    check(token_req(sim, {"grant_type": "authorization_code", "code": code, "redirect_uri": ru},
                    basic=(CID, SECRET))[0] == 200, "code expired before 10 min")
    expect_oauth(*token_req(sim, {"grant_type": "authorization_code", "code": "AQbogus", "redirect_uri": ru},
                            basic=(CID, SECRET))[::2], "invalid_grant", "Invalid authorization code")
    s = sim.stats()
    check(s["token_grants"]["authorization_code"] == 2, "grants %r" % s["token_grants"])


def test_pkce_s256():
    sim = mksim()
    ru = "http://127.0.0.1:8080/callback"
    verifier = "v" * 20 + "-._~" + "0123456789abcdefghijklmnopqrstuvwxyz"
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    code = get_code(sim, extra={"code_challenge_method": "S256", "code_challenge": challenge})
    base = {"grant_type": "authorization_code", "code": code, "redirect_uri": ru, "client_id": CID}
    expect_oauth(*token_req(sim, dict(base, code_verifier="wrong" + verifier))[::2],
                 "invalid_grant", "code_verifier was incorrect")
    expect_oauth(*token_req(sim, base)[::2], "invalid_grant", "code_verifier was incorrect")
    st, _, d = token_req(sim, dict(base, code_verifier=verifier))
    check(st == 200 and d["refresh_token"], "PKCE exchange %r" % d)
    # a PKCE refresh token refreshes with client_id only
    st, _, r = token_req(sim, {"grant_type": "refresh_token", "refresh_token": d["refresh_token"], "client_id": CID})
    check(st == 200 and r["access_token"], "PKCE refresh %r" % r)
    # without PKCE a secret is required
    code = get_code(sim)
    expect_oauth(*token_req(sim, {"grant_type": "authorization_code", "code": code, "redirect_uri": ru,
                                  "client_id": CID})[::2], "invalid_client", "Invalid client secret")
    # method must be S256
    st, h, _ = authorize(sim, {"client_id": CID, "response_type": "code", "redirect_uri": ru, "sim_user": "u1",
                               "code_challenge_method": "plain", "code_challenge": challenge})
    check(st == 302 and "error=invalid_request" in h["location"], "plain PKCE accepted")


def test_token_endpoint_rate_limit():
    sim = mksim(args=["--token-rate-limit", "2"])
    rt = mint(sim, "u1")["refresh_token"]
    check(refresh(sim, rt)[0] == 200 and refresh(sim, rt)[0] == 200, "token calls refused")
    st, h, d = refresh(sim, rt)
    check(st == 429 and h["retry-after"] == "30" and d["error"], "token 429 %d %r %r" % (st, h, d))
    advance(sim, 30000)
    check(refresh(sim, rt)[0] == 200, "token window did not roll")


# --- playback ------------------------------------------------------------------------

def test_queue_advances_with_clock():
    sim = mksim()
    tok = mint(sim, "u1")["access_token"]
    t0 = now_ms(sim)
    play(sim, "u1", [track("t1", duration_ms=60000), track("t2", duration_ms=60000),
                     track("t3", duration_ms=60000)])
    st, _, d = api_json(sim, CP, tok)
    check(st == 200 and d["item"]["id"] == "t1" and d["progress_ms"] == 0 and d["is_playing"] is True
          and d["timestamp"] == t0, "start %r" % {k: d[k] for k in ("progress_ms", "timestamp")})
    advance(sim, 30000)
    d = api_json(sim, CP, tok)[2]
    check(d["item"]["id"] == "t1" and d["progress_ms"] == 30000 and d["timestamp"] == t0, "at 30s %r" % d["progress_ms"])
    advance(sim, 40000)
    d = api_json(sim, CP, tok)[2]
    check(d["item"]["id"] == "t2" and d["progress_ms"] == 10000, "at 70s: %s %d" % (d["item"]["id"], d["progress_ms"]))
    check(d["timestamp"] == t0 + 60000, "timestamp = track change time (%d vs %d)" % (d["timestamp"], t0 + 60000))
    check(d["actions"] == {"disallows": {"resuming": True}}, "actions %r" % d["actions"])
    advance(sim, 200000)  # past the end of the queue
    d = api_json(sim, CP, tok)[2]
    check(d["item"]["id"] == "t3" and d["is_playing"] is False and d["progress_ms"] == 60000
          and d["timestamp"] == t0 + 180000, "end of queue %r" % {k: d[k] for k in ("is_playing", "progress_ms")})
    advance(sim, 120000)  # paused (stopped) for pause_to_204_ms since t0+180000 -> 204
    st, _, body = api(sim, CP, tok)
    check(st == 204 and body == b"", "204 after the end of the queue + pause_to_204: %d" % st)
    # recently-played has all three, newest first, played_at = end of play
    st, _, rp = api_json(sim, "/me/player/recently-played", tok)
    ids = [it["track"]["id"] for it in rp["items"]]
    check(ids == ["t3", "t2", "t1"], "recently-played %r" % ids)
    check(rp["items"][2]["played_at"] == iso(t0 + 60000), "played_at %r vs %r" % (rp["items"][2]["played_at"], iso(t0 + 60000)))


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


def test_clock_scale_drives_progress():
    sim = mksim(frozen=False)
    tok = mint(sim, "u1")["access_token"]
    sim.ok("POST", "/sim/clock", {"scale": 60})
    play(sim, "u1", [track("t1", duration_ms=120000), track("t2", duration_ms=120000)])
    wait_for(lambda: api_json(sim, CP, tok)[2]["item"]["id"] == "t2", 10, "track change at 60x")
    c = sim.ok("POST", "/sim/clock", {"scale": 0})
    check(c["scale"] == 0, "scale %r" % c)
    p1 = api_json(sim, CP, tok)[2]["progress_ms"]
    time.sleep(0.05)
    check(api_json(sim, CP, tok)[2]["progress_ms"] == p1, "frozen clock moved")


def test_204_after_pause_and_other_204s():
    sim = mksim()
    tok = mint(sim, "u1")["access_token"]
    play(sim, "u1", [track("t1", duration_ms=600000), track("t2")])
    advance(sim, 5000)
    t_pause = now_ms(sim)
    pv = sim.ok("POST", "/sim/users/u1/pause")
    check(pv["is_playing"] is False and pv["progress_ms"] == 5000, "pause view %r" % pv)
    advance(sim, 60000)
    st, _, d = api_json(sim, CP, tok)
    check(st == 200 and d["is_playing"] is False and d["progress_ms"] == 5000 and d["timestamp"] == t_pause,
          "paused state %r" % d)
    check(d["actions"]["disallows"] == {"pausing": True, "skipping_prev": True}, "paused actions %r" % d["actions"])
    advance(sim, 60000 - 1)
    check(api(sim, CP, tok)[0] == 200, "204 too early")
    advance(sim, 1)
    st, h, body = api(sim, CP, tok)
    check(st == 204 and body == b"", "204 after 120 s paused: %d %r" % (st, body))
    check(api(sim, "/me/player", tok)[0] == 204, "/me/player 204 after pause")
    sim.ok("POST", "/sim/users/u1/resume")
    st, _, d = api_json(sim, CP, tok)
    check(st == 200 and d["is_playing"] and d["progress_ms"] == 5000, "resume %r" % d)
    config(sim, pause_to_204_ms=1000)
    sim.ok("POST", "/sim/users/u1/pause")
    advance(sim, 1000)
    check(api(sim, CP, tok)[0] == 204, "pause_to_204_ms config")
    sim.ok("POST", "/sim/users/u1/resume")
    sim.ok("POST", "/sim/users/u1/transfer", {"device": None})
    check(api(sim, CP, tok)[0] == 204, "no device -> 204")
    sim.ok("POST", "/sim/users/u1/transfer", {"device": {"id": "d2", "name": "Kitchen", "type": "Speaker"}})
    st, _, d = api_json(sim, "/me/player", tok)
    check(st == 200 and d["device"]["id"] == "d2" and d["device"]["name"] == "Kitchen", "transfer %r" % d.get("device"))
    sim.ok("POST", "/sim/users/u1/private", {"enabled": True})
    check(api(sim, CP, tok)[0] == 204 and api(sim, "/me/player", tok)[0] == 204, "private session -> 204")
    sim.ok("POST", "/sim/users/u1/private", {"enabled": False})
    check(api(sim, CP, tok)[0] == 200, "private session off")
    sim.ok("DELETE", "/sim/users/u1/playback")
    check(api(sim, CP, tok)[0] == 204, "cleared playback -> 204")
    tok2 = mint(sim, "fresh")["access_token"]
    check(api(sim, CP, tok2)[0] == 204, "never-played user -> 204")


def test_next_previous_seek_and_repeat():
    sim = mksim()
    tok = mint(sim, "u1")["access_token"]
    play(sim, "u1", [track("t1", duration_ms=60000), track("t2", duration_ms=60000)])
    sim.ok("POST", "/sim/users/u1/next")
    d = api_json(sim, CP, tok)[2]
    check(d["item"]["id"] == "t2" and d["progress_ms"] == 0, "next")
    sim.ok("POST", "/sim/users/u1/seek", {"position_ms": 45000})
    check(api_json(sim, CP, tok)[2]["progress_ms"] == 45000, "seek")
    sim.ok("POST", "/sim/users/u1/previous")
    check(api_json(sim, CP, tok)[2]["item"]["id"] == "t1", "previous")
    play(sim, "u1", [track("t1", duration_ms=60000), track("t2", duration_ms=60000)], repeat_state="context")
    advance(sim, 130000)
    d = api_json(sim, "/me/player", tok)[2]
    check(d["item"]["id"] == "t1" and d["progress_ms"] == 10000 and d["repeat_state"] == "context",
          "repeat context %s %d" % (d["item"]["id"], d["progress_ms"]))
    play(sim, "u1", [track("t1", duration_ms=60000), track("t2")], repeat_state="track")
    advance(sim, 150000)
    d = api_json(sim, CP, tok)[2]
    check(d["item"]["id"] == "t1" and d["progress_ms"] == 30000 and d["is_playing"], "repeat track")
    st, _ = sim.ctl("POST", "/sim/users/nobody/pause")
    check(st == 404, "pause of unknown user: %d" % st)


def test_episodes_ads_and_local_tracks():
    sim = mksim()
    tok = mint(sim, "u1")["access_token"]
    play(sim, "u1", [{"id": "ep1", "name": "Episode 1", "type": "episode", "show": "My Show", "duration_ms": 1800000}])
    st, _, d = api_json(sim, CP, tok)
    check(st == 200 and d["item"] is None and d["currently_playing_type"] == "episode", "episode hidden %r" % d)
    st, _, d = api_json(sim, CP + "?additional_types=track,episode", tok)
    check(d["item"]["type"] == "episode" and d["item"]["id"] == "ep1" and d["item"]["show"]["name"] == "My Show"
          and d["currently_playing_type"] == "episode", "episode shown %r" % d["item"])
    errs = validate(d["item"], {"$ref": "#/components/schemas/EpisodeObject"})
    check(not errs, "EpisodeObject: %s" % errs)
    st, _, d = api_json(sim, "/me/player", tok)
    check(d["item"] is None and d["currently_playing_type"] == "episode", "/me/player episode hidden")
    play(sim, "u1", [{"type": "ad", "duration_ms": 30000}])
    st, _, d = api_json(sim, CP + "?additional_types=episode", tok)
    check(st == 200 and d["item"] is None and d["currently_playing_type"] == "ad", "ad %r" % d)
    play(sim, "u1", [{"name": "My Demo", "artists": ["Me"], "album": "Tapes", "is_local": True, "duration_ms": 125000}])
    st, _, d = api_json(sim, CP, tok)
    it = d["item"]
    check(it["id"] is None and it["is_local"] is True and it["uri"] == "spotify:local:Me:Tapes:My+Demo:125"
          and it["type"] == "track" and d["currently_playing_type"] == "track", "local track %r" % it)


def test_recently_played_limit_and_after():
    sim = mksim()
    tok = mint(sim, "u1")["access_token"]
    t0 = now_ms(sim)
    play(sim, "u1", [track("t%d" % i, duration_ms=60000) for i in range(6)] + [track("short", duration_ms=100000)],
         context={"uri": "spotify:album:6akEvsycLGftJxYudPjmqK", "type": "album"})
    advance(sim, 6 * 60000 + 20000)
    st, _, rp = api_json(sim, "/me/player/recently-played?limit=2", tok)
    check(st == 200 and [i["track"]["id"] for i in rp["items"]] == ["t5", "t4"] and rp["limit"] == 2,
          "limit %r" % rp)
    check(rp["cursors"]["before"] == str(t0 + 5 * 60000) and rp["next"], "cursors %r" % rp["cursors"])
    errs = validate(rp, {"$ref": "#/components/schemas/CursorPagingPlayHistoryObject"})
    check(not errs, "CursorPagingPlayHistoryObject: %s" % errs)
    st, _, rp = api_json(sim, "/me/player/recently-played?after=%d" % (t0 + 3 * 60000), tok)
    check([i["track"]["id"] for i in rp["items"]] == ["t5", "t4", "t3"], "after %r" % [i["track"]["id"] for i in rp["items"]])
    st, _, rp = api_json(sim, "/me/player/recently-played?after=%d&limit=1" % (t0 + 60000), tok)
    check([i["track"]["id"] for i in rp["items"]] == ["t1"], "after+limit returns the oldest newer entries")
    st, _, rp = api_json(sim, "/me/player/recently-played?before=%d" % (t0 + 2 * 60000), tok)
    check([i["track"]["id"] for i in rp["items"]] == ["t0"], "before (exclusive)")
    # a track skipped before 30 s of play is not listed
    sim.ok("POST", "/sim/users/u1/next")  # "short" played 20 s
    st, _, rp = api_json(sim, "/me/player/recently-played?limit=50", tok)
    check("short" not in [i["track"]["id"] for i in rp["items"]], "a 20 s play listed")
    check(api(sim, "/me/player/recently-played?limit=0", tok)[0] == 400, "limit=0 accepted")
    check(api(sim, "/me/player/recently-played?limit=51", tok)[0] == 400, "limit=51 accepted")


def test_currently_playing_validates_against_openapi_schema():
    sim = mksim()
    tok = mint(sim, "u1")["access_token"]
    play(sim, "u1", [track("4iV5W9uYEdYUVa79Axb7Rh", name="Song", duration_ms=200000,
                           artists=[{"id": "0OdUWJ0sBjDrqHygGUXeCF", "name": "Band"}],
                           album={"id": "6akEvsycLGftJxYudPjmqK", "name": "Record"}, explicit=True),
                     track("t2")], context={"uri": "spotify:playlist:37i9dQZF1DXcBWIGoYBM5M", "type": "playlist"})
    advance(sim, 1234)
    st, _, cp = api_json(sim, CP, tok)
    check(st == 200, "currently-playing status %d" % st)
    schemas = openapi_schemas()
    check("CurrentlyPlayingContextObject" in schemas and "TrackObject" in schemas, "yml reader failed")
    check(_props({"$ref": "#/components/schemas/TrackObject"}).get("is_local", {}).get("type") == "boolean",
          "yml reader lost TrackObject.is_local")
    for name in ("CurrentlyPlayingObject", "CurrentlyPlayingContextObject"):
        und = []
        errs = validate(cp, {"$ref": "#/components/schemas/" + name}, undeclared=und)
        check(not errs, "%s: %s" % (name, errs))
        # the real API wraps the flags in "disallows" (the yml puts them directly in actions)
        check(und == ["$.actions.disallows"], "members the schema does not declare: %r" % und)
    errs = validate(cp["actions"]["disallows"], {"$ref": "#/components/schemas/DisallowsObject"})
    check(not errs and cp["actions"]["disallows"], "disallows %s" % errs)
    check(cp["item"]["type"] == "track" and cp["item"]["album"]["id"] == "6akEvsycLGftJxYudPjmqK"
          and cp["context"]["uri"] == "spotify:playlist:37i9dQZF1DXcBWIGoYBM5M" and cp["progress_ms"] == 1234,
          "content %r" % cp)
    # the validator must be able to fail
    bad = dict(cp, progress_ms="12", is_playing=1)
    check(len(validate(bad, {"$ref": "#/components/schemas/CurrentlyPlayingObject"})) == 2, "validator too lax")
    bad_item = dict(cp["item"], album=dict(cp["item"]["album"], album_type="tape"))
    check(validate(bad_item, {"$ref": "#/components/schemas/TrackObject"}), "enum not checked")
    st, _, pl = api_json(sim, "/me/player", tok)
    und = []
    errs = validate(pl, {"$ref": "#/components/schemas/CurrentlyPlayingContextObject"}, undeclared=und)
    check(not errs, "/me/player: %s" % errs)
    check(sorted(und) == ["$.actions.disallows", "$.smart_shuffle"], "undeclared %r" % und)
    errs = validate(pl["device"], {"$ref": "#/components/schemas/DeviceObject"})
    check(not errs and pl["device"]["is_active"] is True, "device %s" % errs)
    check(pl["repeat_state"] == "off" and pl["shuffle_state"] is False and pl["smart_shuffle"] is False, "player flags")


# --- faults -------------------------------------------------------------------------

def test_fault_status_json_and_html_with_budget_and_filters():
    sim = mksim()
    play(sim, "u1", [track("t1")])
    play(sim, "u2", [track("t2")])
    t1 = mint(sim, "u1")["access_token"]
    t2 = mint(sim, "u2")["access_token"]
    f = sim.ok("POST", "/sim/faults", {"kind": "status", "status": 503, "count": 2})
    check("id" in f, "fault id %r" % f)
    st, h, d = api_json(sim, CP, t1)
    expect_error(st, d, 503, "Service Unavailable")
    check(api(sim, CP, t1)[0] == 503 and api(sim, CP, t1)[0] == 200, "count 2 budget")
    sim.ok("POST", "/sim/faults", {"kind": "html_status", "status": 502, "count": 1})
    st, h, body = api(sim, CP, t1)
    check(st == 502 and h["content-type"].startswith("text/html") and b"<html>" in body, "html 502 %r" % body[:80])
    sim.ok("POST", "/sim/faults", {"kind": "status", "status": 500, "html": True, "count": -1, "user": "u2"})
    check(api(sim, CP, t1)[0] == 200 and api(sim, CP, t2)[0] == 500 and api(sim, CP, t2)[0] == 500,
          "user filter")
    sim.ok("DELETE", "/sim/faults")
    check(api(sim, CP, t2)[0] == 200, "DELETE /sim/faults")
    sim.ok("POST", "/sim/faults", {"kind": "status", "status": 503, "count": -1, "path": "/v1/me/player/recently"})
    check(api(sim, CP, t1)[0] == 200 and api(sim, "/me/player/recently-played", t1)[0] == 503, "path filter")
    fl = sim.ok("GET", "/sim/faults")
    check(len(fl) == 1 and fl[0]["hits"] == 1, "fault list %r" % fl)
    sim.ok("DELETE", "/sim/faults/%d" % fl[0]["id"])
    sim.ok("POST", "/sim/faults", {"kind": "status", "status": 503, "count": -1, "app": "other"})
    check(api(sim, CP, t1)[0] == 200, "app filter")
    sim.ok("DELETE", "/sim/faults")
    sim.ok("POST", "/sim/faults", {"kind": "status", "status": 503, "fraction": 0.5})
    codes = [api(sim, CP, t1)[0] for _ in range(200)]
    n503 = codes.count(503)
    check(40 < n503 < 160 and codes.count(200) == 200 - n503, "fraction 0.5 gave %d/200" % n503)
    sim.ok("DELETE", "/sim/faults")
    # token endpoint faults
    sim.ok("POST", "/sim/faults", {"kind": "status", "status": 503, "path": "/api/token"})
    rt = mint(sim, "u1")["refresh_token"]
    check(refresh(sim, rt)[0] == 503 and refresh(sim, rt)[0] == 200, "token endpoint fault")
    st, _ = sim.ctl("POST", "/sim/faults", {"kind": "explode"})
    check(st == 400, "bad fault kind accepted")


def test_fault_hang_does_not_block_and_counts_concurrency():
    sim = mksim(frozen=False)
    play(sim, "u1", [track("t1")])
    tok = mint(sim, "u1")["access_token"]
    sim.ok("POST", "/sim/faults", {"kind": "hang", "hang_ms": 1500, "count": 2, "user": "u1"})
    results = []

    def hung():
        t = time.time()
        try:
            api(sim, CP, tok, timeout=5)
            results.append(("answered", time.time() - t))
        except (OSError, hc.HTTPException) as e:
            results.append((type(e).__name__, time.time() - t))

    th = [threading.Thread(target=hung, daemon=True) for _ in range(2)]
    for t in th:
        t.start()
    wait_for(lambda: sim.ok("GET", "/sim/users/u1")["inflight"] == 2, 5, "two hung requests in flight")
    t = time.time()
    st, _, _ = api(sim, CP, tok, timeout=1)
    check(st == 200 and time.time() - t < 1.2, "server blocked by a hang")
    for t in th:
        t.join()
    check(len(results) == 2 and all(r[0] != "answered" and r[1] >= 1.3 for r in results), "hang results %r" % results)
    s = sim.stats()
    check(s["max_concurrent_per_user"] >= 3 or s["max_concurrent_by_user"]["u1"] >= 2,
          "max_concurrent %r" % s["max_concurrent_by_user"])
    check(s["requests"]["by_status"].get("hang") == 2, "hang stat %r" % s["requests"]["by_status"])
    check(sim.ok("GET", "/sim/users/u1")["inflight"] == 0, "inflight not released")


def test_latency_is_non_blocking():
    sim = mksim(frozen=False, args=["--latency-ms", "400"])
    play(sim, "u1", [track("t1")])
    tok = mint(sim, "u1")["access_token"]
    codes = []

    def one():
        codes.append(api(sim, CP, tok)[0])

    t = time.time()
    th = [threading.Thread(target=one, daemon=True) for _ in range(10)]
    for x in th:
        x.start()
    for x in th:
        x.join()
    dt = time.time() - t
    check(codes == [200] * 10, "codes %r" % codes)
    check(0.39 <= dt < 1.5, "10 parallel requests with 400 ms latency took %.2fs" % dt)
    check(sim.stats()["max_concurrent_per_user"] >= 5, "concurrency not seen: %r" % sim.stats()["max_concurrent_by_user"])
    t = time.time()
    sim.ok("GET", "/sim/stats")
    check(time.time() - t < 0.35, "control calls must not get latency")


def test_fault_close_truncate_malformed_extra_wrong_types_big():
    sim = mksim()
    play(sim, "u1", [track("t1")])
    tok = mint(sim, "u1")["access_token"]
    sim.ok("POST", "/sim/faults", {"kind": "close"})
    try:
        st, _, body = api(sim, CP, tok)
        failed = False
    except (hc.IncompleteRead, hc.HTTPException, OSError):
        failed = True
    check(failed, "close fault: the response completed")
    check(api(sim, CP, tok)[0] == 200, "server fine after close")
    sim.ok("POST", "/sim/faults", {"kind": "truncate"})
    st, h, body = api(sim, CP, tok)
    check(st == 200 and int(h["content-length"]) == len(body), "truncate must be a complete HTTP response")
    try:
        json.loads(body)
        parsed = True
    except ValueError:
        parsed = False
    check(not parsed, "truncated body parses")
    sim.ok("POST", "/sim/faults", {"kind": "malformed"})
    st, _, body = api(sim, CP, tok)
    try:
        json.loads(body)
        parsed = True
    except ValueError:
        parsed = False
    check(st == 200 and not parsed, "malformed body parses: %r" % body[:60])
    sim.ok("POST", "/sim/faults", {"kind": "extra_fields"})
    st, _, d = api_json(sim, CP, tok)
    check(d["sim_unexpected_array"] == [1, "two", None] and d["item"]["sim_unexpected_object"]["nested"]["deep"] is True
          and d["item"]["id"] == "t1", "extra fields %r" % list(d))
    sim.ok("POST", "/sim/faults", {"kind": "wrong_types"})
    st, _, d = api_json(sim, CP, tok)
    check(isinstance(d["progress_ms"], str) and isinstance(d["is_playing"], str) and isinstance(d["actions"], list)
          and isinstance(d["item"]["duration_ms"], str), "wrong types %r" % {k: d[k] for k in ("progress_ms", "is_playing")})
    sim.ok("POST", "/sim/faults", {"kind": "big_body", "size": 3000000})
    st, _, d = api_json(sim, CP, tok, timeout=10)
    check(st == 200 and len(d["sim_padding"]) == 3000000, "big body")
    sim.ok("POST", "/sim/faults", {"kind": "gzip"})
    st, h, body = api(sim, CP, tok)
    import gzip
    check(st == 200 and h.get("content-encoding") == "gzip" and json.loads(gzip.decompress(body))["item"]["id"] == "t1",
          "gzip fault %r" % h)
    sim.ok("POST", "/sim/faults", {"kind": "delay", "ms": 300})
    t = time.time()
    check(api(sim, CP, tok)[0] == 200 and time.time() - t >= 0.29, "delay fault")
    check(api(sim, CP, tok)[0] == 200, "faults left over")
    check(sim.ok("GET", "/sim/faults") == [], "fault list not empty")


# --- observation, TLS, setup ---------------------------------------------------------

def test_stats_by_user_app_path_and_user_view():
    sim = mksim()
    sim.ok("POST", "/sim/apps", {"client_id": "other", "client_secret": "o", "mode": "extended"})
    play(sim, "u1", [track("t1")])
    play(sim, "u2", [track("t2")])
    a1 = mint(sim, "u1")["access_token"]
    a2 = mint(sim, "u2", client_id="other")["access_token"]
    for _ in range(3):
        api(sim, CP, a1)
    api(sim, "/me/player", a2)
    api(sim, "/me", a2)
    api(sim, CP)  # no token: counted, no user
    # a request carrying u2's token counts for u2 whatever it asks for
    d = api_json(sim, CP, a2)[2]
    check(d["item"]["id"] == "t2", "u2's token must read u2's player")
    s = sim.stats()
    r = s["requests"]
    check(r["total"] == 7 and r["by_user"] == {"u1": 3, "u2": 3} and r["by_app"] == {CID: 3, "other": 3},
          "by user/app %r" % r)
    check(r["by_path"] == {"/v1/me/player/currently-playing": 5, "/v1/me/player": 1, "/v1/me": 1}, "by_path %r" % r["by_path"])
    check(r["by_status"] == {"200": 6, "401": 1}, "by_status %r" % r["by_status"])
    check(s["max_concurrent_per_user"] == 1, "sequential requests: max_concurrent %r" % s["max_concurrent_per_user"])
    u = sim.ok("GET", "/sim/users/u1")
    check(u["requests"] == 3 and u["tokens"]["access"] == 1 and u["tokens"]["refresh"] == 1
          and u["playback"]["item"]["id"] == "t1", "user view %r" % u)
    st, _ = sim.ctl("GET", "/sim/users/nobody")
    check(st == 404, "unknown user view")
    st, _ = sim.ctl("POST", "/sim/users/u1/tokens", {"client_id": "nope"})
    check(st == 404, "tokens for unknown app")


def test_clock_control():
    sim = Sim(args=["--clock-scale", "0"])
    c1 = sim.ok("GET", "/sim/clock")
    check(c1["scale"] == 0 and abs(c1["now_ms"] - time.time() * 1000) < 60000, "clock starts at real time %r" % c1)
    c2 = sim.ok("POST", "/sim/clock", {"advance_ms": 86400000})
    check(c2["now_ms"] == c1["now_ms"] + 86400000, "advance %r" % c2)
    st, _ = sim.ctl("POST", "/sim/clock", {"advance_ms": -5})
    check(st == 400, "negative advance accepted")
    sim.ok("POST", "/sim/clock", {"scale": 1000})
    time.sleep(0.1)
    c3 = sim.ok("GET", "/sim/clock")
    check(c3["now_ms"] - c2["now_ms"] >= 50000, "scale 1000 %r" % c3)


def test_https_with_throwaway_ca():
    d = tmpdir()

    def ossl(*a):
        subprocess.run(["openssl"] + list(a), cwd=d, check=True, capture_output=True)
    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
         "-days", "1", "-subj", "/CN=spotify-sim test CA")
    ossl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=127.0.0.1")
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    ossl("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
         "-out", "srv.pem", "-days", "1", "-extfile", "ext.cnf")
    sim = Sim(args=["--tls-cert", os.path.join(d, "srv.pem"), "--tls-key", os.path.join(d, "srv.key")],
              scheme="https")
    ctx = ssl.create_default_context(cafile=os.path.join(d, "ca.pem"))
    conn = hc.HTTPSConnection("127.0.0.1", sim.port, context=ctx, timeout=5)
    conn.request("POST", "/sim/apps", body=json.dumps({"client_id": CID, "client_secret": SECRET, "mode": "extended"}))
    r = conn.getresponse()
    r.read()
    check(r.status == 200, "https control call %d" % r.status)
    conn.request("GET", "/v1/me/player/currently-playing")  # keep-alive over TLS
    r = conn.getresponse()
    body = json.loads(r.read())
    check(r.status == 401 and body["error"]["message"] == "No token provided", "https API call %r" % body)
    conn.close()
    check(sim.stop() == 0, "https sim exit code")


def test_setup_file():
    d = tmpdir()
    path = os.path.join(d, "setup.json")
    with open(path, "w") as f:
        json.dump({"config": {"rate_limit": 9}, "users": [{"id": "pre", "display_name": "Pre"}],
                   "apps": [{"client_id": "preapp", "client_secret": "x", "mode": "development",
                             "allowlist": ["pre"]}]}, f)
    sim = Sim(args=["--setup", path])
    check(sim.ok("GET", "/sim/config")["rate_limit"] == 9, "setup config")
    check(sim.ok("GET", "/sim/apps/preapp")["allowlist"] == ["pre"], "setup app")
    check(sim.ok("GET", "/sim/users/pre")["display_name"] == "Pre", "setup user")


def test_thread_pool_and_shutdown_with_requests_held():
    sim = mksim(frozen=False, args=["--threads", "4", "--latency-ms", "300"])
    play(sim, "u1", [track("t1")])
    tok = mint(sim, "u1")["access_token"]
    codes = []

    def one():
        codes.append(api(sim, CP, tok)[0])

    th = [threading.Thread(target=one, daemon=True) for _ in range(8)]
    t = time.time()
    for x in th:
        x.start()
    for x in th:
        x.join()
    check(codes == [200] * 8 and time.time() - t < 2.0, "thread pool: %r in %.2fs" % (codes, time.time() - t))
    check(sim.stats()["requests"]["by_status"] == {"200": 8}, "thread pool stats")
    # SIGTERM while requests are held by a hang fault: released, exit 0, promptly
    sim.ok("POST", "/sim/faults", {"kind": "hang", "hang_ms": 60000, "count": -1})
    errs = []

    def hung():
        try:
            api(sim, CP, tok, timeout=20)
        except (OSError, hc.HTTPException) as e:
            errs.append(e)

    th = [threading.Thread(target=hung, daemon=True) for _ in range(3)]
    for x in th:
        x.start()
    wait_for(lambda: sim.ok("GET", "/sim/users/u1")["inflight"] == 3, 5, "three held requests")
    t = time.time()
    check(sim.stop() == 0, "exit code with held requests")
    check(time.time() - t < 3, "shutdown took %.1fs" % (time.time() - t))
    for x in th:
        x.join()
    check(len(errs) == 3, "held requests must be dropped, got %r" % errs)


# --- Spotify as of 2026 (issue 14) ---------------------------------------------------

DAY = 24 * 3600 * 1000
QUOTA_BODY = {"error": {"status": 429, "message": "API rate limit exceeded", "reason": "QUOTA_EXCEEDED"}}
PREMIUM_TEXT = ("Active premium subscription required for the owner of the app. When the subscription "
                "status changes, it can take a few hours before requests are allowed again.")
RECENT = "/me/player/recently-played"


def dev_app(sim, cid, developer=None, allowlist=("u1",), mode="development", **kw):
    body = {"client_id": cid, "client_secret": SECRET, "mode": mode, "allowlist": list(allowlist),
            "redirect_uris": ["http://127.0.0.1:8080/callback"]}
    if developer:
        body["developer"] = developer
    body.update(kw)
    return sim.ok("POST", "/sim/apps", body)


def test_developer_quota_shared_by_apps_rolling_24h():
    sim = mksim(mode="development", allowlist=["u1"], args=["--quota-24h", "1"])
    sim.ok("POST", "/sim/developers", {"id": "dev1", "quota_24h": 3})
    sim.ok("POST", "/sim/developers", {"id": "dev2", "quota_24h": 100})
    a = dev_app(sim, "appA", "dev1")
    check(a["developer"] == "dev1" and a["max_users"] == 5, "app view %r" % a)
    check(sim.ok("GET", "/sim/apps/" + CID)["developer"] == CID, "developer defaults to the client id")
    dev_app(sim, "appB", "dev1")
    dev_app(sim, "appC", "dev2")
    dev_app(sim, "appX", "dev1", mode="extended")
    play(sim, "u1", [track("t1", duration_ms=LONG)])
    ta, tb, tc, tx = (mint(sim, "u1", client_id=c, expires_in=10 ** 7)["access_token"]
                      for c in ("appA", "appB", "appC", "appX"))
    t0 = now_ms(sim)
    check(api(sim, CP, ta)[0] == 200, "A call 1")
    advance(sim, 3600 * 1000)
    check(api(sim, "/me/player", tb)[0] == 200, "B call 2 (same bucket: player)")
    advance(sim, 3600 * 1000)
    # the app's own quota_24h (1) does not apply once the developer quota is on
    check(api(sim, CP, ta)[0] == 200, "A call 3")
    advance(sim, 10 * 1000)
    st, h, data = api_json(sim, CP, tb)
    check(st == 429 and data == QUOTA_BODY, "B 4th call of the developer: %d %r" % (st, data))
    ra = int(h["retry-after"])
    check(ra == (t0 + DAY - now_ms(sim) + 999) // 1000, "Retry-After %d: until the oldest call leaves the 24 h" % ra)
    check(ra == 24 * 3600 - 2 * 3600 - 10, "Retry-After %d s" % ra)
    check(api(sim, CP, ta)[0] == 429, "A shares the refusal")
    # other buckets, another developer, an extended app of the developer: unaffected
    check(api(sim, RECENT, ta)[0] == 200, "recently-played is another bucket")
    check(api(sim, "/me", tb)[0] == 200, "/me is another bucket")
    for _ in range(5):
        check(api(sim, CP, tc)[0] == 200, "another developer's app")
        check(api(sim, CP, tx)[0] == 200, "an extended app of dev1 is not counted")
    d = sim.ok("GET", "/sim/developers/dev1")
    check(sorted(d["apps"]) == ["appA", "appB", "appX"] and d["quota_on"] is True, "developer view %r" % d)
    check(d["quota"]["player"]["used"] == 3 and d["quota"]["player"]["limit"] == 3
          and d["quota"]["player"]["limited_until_ms"] == t0 + DAY, "player bucket %r" % d["quota"]["player"])
    check(d["quota"]["recent"]["used"] == 1 and d["quota"]["me"]["used"] == 1, "other buckets %r" % d["quota"])
    s = sim.stats()
    check(s["quota_exceeded_by_bucket"] == {"player": 2} and s["quota_exceeded"] == 2 and d["quota_exceeded"] == 2,
          "stats %r / %r" % (s["quota_exceeded_by_bucket"], d["quota_exceeded"]))
    # rolling: the oldest call leaves at t0 + 24 h, exactly one call more fits
    advance(sim, ra * 1000 - 1000)
    check(api(sim, CP, ta)[0] == 429, "refused until the Retry-After ends")
    advance(sim, t0 + DAY - now_ms(sim))
    check(api(sim, CP, tb)[0] == 200, "the oldest call left the 24 h")
    st, h, _ = api(sim, CP, ta)
    check(st == 429, "full again: %d" % st)
    check(int(h["retry-after"]) == (t0 + 3600 * 1000 + DAY - now_ms(sim) + 999) // 1000,
          "next Retry-After follows the second call: %s" % h["retry-after"])
    # off again: the app's quota_24h (1 per 24 h) is back
    sim.ok("POST", "/sim/developers", {"id": "dev1", "quota_24h": 0})
    check(sim.ok("GET", "/sim/developers/dev1")["quota_on"] is False, "quota off")
    st, h, data = api_json(sim, CP, ta)
    check(st == 200, "appA has quota_24h 1 and has used none of it: %d" % st)
    check(api(sim, CP, ta)[0] == 429, "the per-app quota_24h applies again")


def test_developer_quota_buckets_map_and_token_bucket():
    sim = mksim(mode="development", allowlist=["u1"])
    cfg = sim.ok("GET", "/sim/config")
    check(cfg["quota_buckets"] == "player=/v1/me/player;recent=/v1/me/player/recently-played;me=/v1/me;token=/api/token"
          and cfg["developer_quota_24h"] == 0, "defaults %r" % cfg)
    play(sim, "u1", [track("t1", duration_ms=LONG)])
    tok = mint(sim, "u1", expires_in=10 ** 7)
    # one bucket limited: recently-played stops, polls go on
    sim.ok("POST", "/sim/developers", {"id": CID, "bucket_quota": {"recent": 2}})
    check([api(sim, RECENT, tok["access_token"])[0] for _ in range(3)] == [200, 200, 429], "recent bucket of 2")
    st, h, data = api_json(sim, RECENT, tok["access_token"])
    check(st == 429 and data == QUOTA_BODY and int(h["retry-after"]) > 20 * 3600, "QUOTA_EXCEEDED %r %r" % (st, h))
    for _ in range(10):
        check(api(sim, CP, tok["access_token"])[0] == 200, "polls go on")
        check(api(sim, "/me/player/devices", tok["access_token"])[0] == 200, "devices: player bucket, unlimited")
    # the global developer_quota_24h applies to developers without their own quota_24h
    config(sim, developer_quota_24h=4)
    d = sim.ok("GET", "/sim/developers/" + CID)
    check(d["quota_24h"] == 4 and d["bucket_quota"] == {"recent": 2}, "developer view %r" % d)
    codes = [api(sim, "/me", tok["access_token"])[0] for _ in range(5)]
    check(codes == [200] * 4 + [429], "me bucket of 4: %r" % codes)
    # /api/token counts in the token bucket
    codes = [refresh(sim, tok["refresh_token"])[0] for _ in range(5)]
    check(codes == [200] * 4 + [429], "token bucket of 4: %r" % codes)
    st, h, data = refresh(sim, tok["refresh_token"])
    check(st == 429 and data == QUOTA_BODY and "retry-after" in h, "token QUOTA_EXCEEDED %r" % data)
    # one bucket for everything
    config(sim, quota_buckets="all=/v1")
    sim.ok("POST", "/sim/developers", {"id": "big", "quota_24h": 3})
    dev_app(sim, "appB", "big")
    tb = mint(sim, "u1", client_id="appB")
    codes = [api(sim, p, tb["access_token"])[0] for p in (CP, RECENT, "/me", "/me/player")]
    check(codes == [200, 200, 200, 429], "one bucket: %r" % codes)
    check(refresh(sim, tb["refresh_token"], basic=("appB", SECRET))[0] == 200, "token path in no bucket's prefix: other")
    check(sim.ok("GET", "/sim/developers/big")["quota"]["all"]["used"] == 3, "bucket all")
    for bad in ("nobucket", "x=noslash", "a b=/x", "="):
        st, data = sim.ctl("POST", "/sim/config", {"quota_buckets": bad})
        check(st == 400 and "quota_buckets" in data["error"], "bad map %r accepted: %r" % (bad, data))
    st, data = sim.ctl("POST", "/sim/developers", {"id": "d", "bucket_quota": {"x": -1}})
    check(st == 400, "negative bucket quota accepted")


def test_allowlist_cap_max_users_and_the_sixth_user():
    sim = mksim()
    six = ["u%d" % i for i in range(1, 7)]
    st, data = sim.ctl("POST", "/sim/apps", {"client_id": "new", "client_secret": SECRET, "mode": "development",
                                              "allowlist": six})
    check(st == 400 and "max_users" in data["error"], "6 users on a new development app: %d %r" % (st, data))
    a = dev_app(sim, "new", allowlist=six[:5], redirect_uris=["http://127.0.0.1:8080/callback"])
    check(a["max_users"] == 5 and a["grandfathered"] is False and len(a["allowlist"]) == 5, "app %r" % a)
    st, data = sim.ctl("POST", "/sim/apps/new/allowlist", {"add": ["u6"]})
    check(st == 409 and "full" in data["error"], "6th user added: %d %r" % (st, data))
    check(sim.ok("GET", "/sim/apps/new")["allowlist"] == six[:5], "allowlist changed by a refused add")
    # the 6th user authorises as usual and gets tokens; every Web API call is refused
    ru = "http://127.0.0.1:8080/callback"
    st, h, _ = authorize(sim, {"client_id": "new", "response_type": "code", "redirect_uri": ru, "state": "s",
                               "scope": SCOPE, "sim_user": "u6"})
    check(st == 302 and "code=" in h["location"], "authorize of the 6th user: %d" % st)
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(h["location"]).query)["code"][0]
    st, _, tok = token_req(sim, {"grant_type": "authorization_code", "code": code, "redirect_uri": ru},
                           basic=("new", SECRET))
    check(st == 200 and tok["access_token"], "token of the 6th user: %d" % st)
    play(sim, "u6", [track("t1")])
    for path in (CP, "/me", "/me/player"):
        expect_error(*api_json(sim, path, tok["access_token"])[::2], 403,
                     "User not registered in the Developer Dashboard")
    # room made: remove one, add the 6th
    a = sim.ok("POST", "/sim/apps/new/allowlist", {"remove": ["u1"], "add": ["u6"]})
    check(a["allowlist"] == ["u2", "u3", "u4", "u5", "u6"], "edited allowlist %r" % a["allowlist"])
    check(api(sim, CP, tok["access_token"])[0] == 200, "u6 allowed once registered")
    # older apps take 25, an explicit cap wins, extended mode has none
    many = ["m%d" % i for i in range(26)]
    st, _ = sim.ctl("POST", "/sim/apps", {"client_id": "old", "mode": "development", "grandfathered": True,
                                          "allowlist": many})
    check(st == 400, "26 users on a grandfathered app accepted")
    a = dev_app(sim, "old", allowlist=many[:25], grandfathered=True)
    check(a["max_users"] == 25 and a["grandfathered"] is True, "grandfathered %r" % a)
    a = dev_app(sim, "two", allowlist=["u1"], max_users=2)
    st, _ = sim.ctl("POST", "/sim/apps/two/allowlist", {"add": ["u2", "u3"]})
    check(a["max_users"] == 2 and st == 409, "explicit max_users: %d" % st)
    a = dev_app(sim, "ext", allowlist=many, mode="extended")
    check(a["max_users"] == 0, "extended: no cap %r" % a["max_users"])
    check(sim.ctl("POST", "/sim/apps/nope/allowlist", {"add": ["x"]})[0] == 404, "unknown app")
    check(sim.ctl("POST", "/sim/apps/new/allowlist", {"add": "x"})[0] == 400, "bad body")


def test_not_registered_texts_json_and_plain():
    sim = mksim(mode="development", allowlist=["u1"])
    play(sim, "u2", [track("t2")])
    t2 = mint(sim, "u2")["access_token"]
    texts = {"dashboard": "User not registered in the Developer Dashboard",
             "check_settings": "Check settings on developer.spotify.com/dashboard, the user may not be registered.",
             "2026": "The user is not registered for this application. Please check your settings on "
                     "https://developer.spotify.com/dashboard."}
    check(sim.ok("GET", "/sim/config")["not_registered_text"] == "dashboard", "default text")
    for name, text in texts.items():
        config(sim, not_registered_text=name, allowlist_plain_text=False)
        st, h, data = api_json(sim, CP, t2)
        expect_error(st, data, 403, text)
        check(h["content-type"].startswith("application/json"), "json content type")
        config(sim, allowlist_plain_text=True)
        st, h, body = api(sim, "/me", t2)
        check(st == 403 and body == text.encode() and h["content-type"].startswith("text/plain"),
              "plain %s: %d %r" % (name, st, body))
    check(sim.stats()["not_registered"] == 6, "not_registered stat %r" % sim.stats()["not_registered"])
    st, _ = sim.ctl("POST", "/sim/config", {"not_registered_text": "4"})
    check(st == 400, "unknown text accepted")


def test_owner_premium_lapse_per_developer_and_per_app():
    sim = mksim(mode="development", allowlist=["u1"])
    dev_app(sim, CID, "owner")
    dev_app(sim, "appExt", "owner", mode="extended")
    play(sim, "u1", [track("t1", duration_ms=LONG)])
    tok = mint(sim, "u1")
    tx = mint(sim, "u1", client_id="appExt")["access_token"]
    stranger = mint(sim, "u9")["access_token"]
    t0 = now_ms(sim)
    d = sim.ok("POST", "/sim/developers/owner/premium", {"active": False, "for_ms": 600000})
    check(d["premium"] is False and d["premium_lapsed_until_ms"] == t0 + 600000, "developer view %r" % d)
    check(sim.ok("GET", "/sim/apps/" + CID)["owner_premium"] is False, "app view shows it")
    for path in (CP, "/me/player", "/me", RECENT, "/me/player/devices"):
        expect_error(*api_json(sim, path, tok["access_token"])[::2], 403, PREMIUM_TEXT)
    # before the allowlist: a stranger gets the same 403
    expect_error(*api_json(sim, CP, stranger)[::2], 403, PREMIUM_TEXT)
    # the token endpoint keeps answering 200
    st, _, r = refresh(sim, tok["refresh_token"])
    check(st == 200 and r["access_token"], "token endpoint during the lapse: %d" % st)
    expect_error(*api_json(sim, CP, r["access_token"])[::2], 403, PREMIUM_TEXT)
    check(api(sim, CP, tx)[0] == 200, "an extended app of the developer works")
    config(sim, owner_premium_plain_text=True)
    st, h, body = api(sim, CP, tok["access_token"])
    check(st == 403 and body == PREMIUM_TEXT.encode() and len(body) == 159
          and h["content-type"].startswith("text/plain"), "plain premium 403 %r" % body)
    advance(sim, 600000 - 1)
    check(api(sim, CP, tok["access_token"])[0] == 403, "lapse ended early")
    advance(sim, 1)
    check(api(sim, CP, tok["access_token"])[0] == 200, "lapse did not end after for_ms")
    check(sim.ok("GET", "/sim/developers/owner")["premium"] is True, "premium back")
    # per app, until switched back
    a = sim.ok("POST", "/sim/apps/%s/premium" % CID, {"active": False})
    check(a["owner_premium"] is False and a["premium_lapsed_until_ms"] == 0, "app switch %r" % a)
    advance(sim, 40 * 60000)    # (the token lives 1 h)
    check(api(sim, CP, tok["access_token"])[0] == 403, "per-app lapse without for_ms lasts")
    check(sim.ok("GET", "/sim/developers/owner")["premium"] is True, "the developer is not lapsed")
    sim.ok("POST", "/sim/apps/%s/premium" % CID, {"active": True})
    check(api(sim, CP, tok["access_token"])[0] == 200, "per-app switch back")
    check(sim.stats()["owner_premium_refused"] == 10, "owner_premium_refused %r" % sim.stats()["owner_premium_refused"])
    st, _ = sim.ctl("POST", "/sim/developers/owner/premium", {"for_ms": 5})
    check(st == 400, "active is required")
    check(sim.ctl("POST", "/sim/developers/nobody/premium", {"active": False})[0] == 404, "unknown developer")


def test_me_player_devices_transfer_shuffle_repeat():
    sim = mksim()
    tok = mint(sim, "u1")["access_token"]
    devs = [{"id": "phone", "name": "Phone", "type": "Smartphone", "volume_percent": 70},
            {"id": "spk", "name": "Kitchen", "type": "Speaker", "volume_percent": 30}]
    t0 = now_ms(sim)
    play(sim, "u1", [track("t1", duration_ms=600000)], devices=devs, device={"id": "phone"})
    st, _, d = api_json(sim, "/me/player", tok)
    check(st == 200 and d["device"] == {"id": "phone", "is_active": True, "is_private_session": False,
                                        "is_restricted": False, "name": "Phone", "type": "Smartphone",
                                        "volume_percent": 70, "supports_volume": True}, "device %r" % d["device"])
    check(d["shuffle_state"] is False and d["repeat_state"] == "off", "modes %r" % d)
    st, _, dl = api_json(sim, "/me/player/devices", tok)
    check(st == 200 and [(x["id"], x["is_active"]) for x in dl["devices"]] == [("phone", True), ("spk", False)],
          "devices %r" % dl)
    errs = validate(dl["devices"][1], {"$ref": "#/components/schemas/DeviceObject"})
    check(not errs, "DeviceObject: %s" % errs)
    advance(sim, 20000)
    pv = sim.ok("POST", "/sim/users/u1/transfer", {"device_id": "spk"})
    check(pv["device"]["id"] == "spk" and [x["is_active"] for x in pv["devices"]] == [False, True], "view %r" % pv)
    st, _, d = api_json(sim, "/me/player", tok)
    check(d["device"]["id"] == "spk" and d["device"]["volume_percent"] == 30 and d["progress_ms"] == 20000
          and d["is_playing"] and d["timestamp"] == t0 + 20000, "after transfer %r" % d)
    check(api_json(sim, CP, tok)[2]["item"]["id"] == "t1", "playback goes on")
    st, _ = sim.ctl("POST", "/sim/users/u1/transfer", {"device_id": "tv"})
    check(st == 404, "transfer to an unknown device: %d" % st)
    sim.ok("POST", "/sim/users/u1/transfer", {"device": {"id": "tv", "name": "TV", "type": "TV"}, "play": False})
    st, _, dl = api_json(sim, "/me/player/devices", tok)
    check([x["id"] for x in dl["devices"] if x["is_active"]] == ["tv"] and len(dl["devices"]) == 3, "new device %r" % dl)
    check(api_json(sim, "/me/player", tok)[2]["is_playing"] is False, "play:false pauses")
    sim.ok("POST", "/sim/users/u1/transfer", {"device_id": "phone", "play": True})
    sim.ok("POST", "/sim/users/u1/shuffle", {"state": True})
    pv = sim.ok("POST", "/sim/users/u1/repeat", {"state": "track"})
    check(pv["shuffle_state"] is True and pv["repeat_state"] == "track", "modes view %r" % pv)
    d = api_json(sim, "/me/player", tok)[2]
    check(d["shuffle_state"] is True and d["repeat_state"] == "track" and d["device"]["id"] == "phone", "modes %r" % d)
    check(sim.ctl("POST", "/sim/users/u1/repeat", {"state": "twice"})[0] == 400, "bad repeat state")
    sim.ok("POST", "/sim/users/u1/transfer", {"device": None})
    check(api(sim, "/me/player", tok)[0] == 204, "no active device: 204")
    st, _, dl = api_json(sim, "/me/player/devices", tok)
    check(st == 200 and len(dl["devices"]) == 3 and not any(x["is_active"] for x in dl["devices"]), "none active %r" % dl)
    only_cur = mint(sim, "u1", scope="user-read-currently-playing")["access_token"]
    expect_error(*api_json(sim, "/me/player/devices", only_cur)[::2], 401, "Permissions missing")
    # additional_types is a comma-separated list of track and episode
    play(sim, "u1", [{"id": "ep1", "name": "Episode", "type": "episode", "duration_ms": 600000}])
    for q, shown in (("", False), ("?additional_types=track", False), ("?additional_types=episodes", False),
                     ("?additional_types=track,episode", True), ("?additional_types=episode", True),
                     ("?additional_types=track%2C%20episode", True)):
        d = api_json(sim, "/me/player" + q, tok)[2]
        check((d["item"] is not None) == shown and d["currently_playing_type"] == "episode",
              "additional_types %r: item %r" % (q, d["item"] and d["item"]["id"]))


def test_flaps_transient_204_null_progress_unknown_type():
    sim = mksim()
    tok = mint(sim, "u1")["access_token"]
    play(sim, "u1", [track("t1", duration_ms=600000), track("t2", duration_ms=600000)])
    r = sim.ok("POST", "/sim/users/u1/flap", {"kind": "transient_204", "count": 2})
    check(r["armed"] == [{"kind": "transient_204", "left": 2}], "armed %r" % r)
    check([api(sim, CP, tok)[0], api(sim, "/me/player", tok)[0], api(sim, CP, tok)[0]] == [204, 204, 200],
          "two transient 204s")
    check(sim.ok("GET", "/sim/users/u1/playback")["is_playing"] is True, "the state still plays")
    # only while playing
    sim.ok("POST", "/sim/users/u1/flap", {"kind": "transient_204"})
    sim.ok("POST", "/sim/users/u1/pause")
    check(api(sim, CP, tok)[0] == 200, "no transient 204 while paused")
    check(sim.ok("GET", "/sim/users/u1/flap")["armed"][0]["left"] == 1, "still armed")
    sim.ok("POST", "/sim/users/u1/resume")
    check(api(sim, CP, tok)[0] == 204 and api(sim, CP, tok)[0] == 200, "spent once playing")
    sim.ok("POST", "/sim/users/u1/flap", {"kind": "null_progress", "count": 1})
    sim.ok("POST", "/sim/users/u1/flap", {"kind": "unknown_type", "count": 2})
    d = api_json(sim, CP, tok)[2]
    check(d["progress_ms"] is None and d["currently_playing_type"] == "unknown" and d["item"] is None,
          "null progress + unknown type %r" % {k: d[k] for k in ("progress_ms", "currently_playing_type")})
    d = api_json(sim, "/me/player", tok)[2]
    check(d["progress_ms"] == 0 and d["currently_playing_type"] == "unknown" and d["device"], "unknown only %r" % d)
    d = api_json(sim, CP, tok)[2]
    check(d["currently_playing_type"] == "track" and d["item"]["id"] == "t1", "flaps spent %r" % d)
    check(sim.ok("GET", "/sim/users/u1")["flaps_applied"] == 6, "flaps_applied %r" % sim.ok("GET", "/sim/users/u1"))
    sim.ok("POST", "/sim/users/u1/flap", {"kind": "transient_204", "count": 5})
    check(sim.ok("DELETE", "/sim/users/u1/flap")["armed"] == [], "DELETE disarms")
    check(api(sim, CP, tok)[0] == 200, "disarmed")
    for bad in ({"kind": "nope"}, {"kind": "stale_track", "count": 0}, {}):
        check(sim.ctl("POST", "/sim/users/u1/flap", bad)[0] == 400, "bad flap %r accepted" % bad)


def test_flaps_stale_track_and_end_of_track_variants():
    sim = mksim()
    tok = mint(sim, "u1")["access_token"]
    play(sim, "u1", [track("t1", duration_ms=60000), track("t2", duration_ms=60000),
                     track("t3", duration_ms=60000), track("t4", duration_ms=60000), track("t5", duration_ms=60000)])
    t0 = now_ms(sim)
    r = sim.ok("POST", "/sim/users/u1/flap", {"kind": "stale_track", "count": 2})
    check(r["armed"][0]["has_previous_track"] is True, "previous track taken %r" % r)
    advance(sim, 10000)
    d = api_json(sim, CP, tok)[2]
    check(d["item"]["id"] == "t1" and d["progress_ms"] == 10000, "no change yet: not spent")
    check(sim.ok("GET", "/sim/users/u1/flap")["armed"][0]["left"] == 2, "not spent before the change")
    sim.ok("POST", "/sim/users/u1/next")
    advance(sim, 5000)
    for _ in range(2):
        d = api_json(sim, CP, tok)[2]
        check(d["item"]["id"] == "t1" and d["timestamp"] == t0 and d["progress_ms"] == 5000 and d["is_playing"],
              "stale t1 %r" % {k: d[k] for k in ("timestamp", "progress_ms")})
    d = api_json(sim, CP, tok)[2]
    check(d["item"]["id"] == "t2" and d["timestamp"] == t0 + 10000, "stale spent %r" % d["item"]["id"])
    # end variants at the natural end of t2 (t0 + 70 s)
    for kind, progress, playing in (("end_playing", 60000, True), ("end_reset", 0, True),
                                    ("end_paused", 60000, False)):
        cur = api_json(sim, CP, tok)[2]["item"]["id"]
        sim.ok("POST", "/sim/users/u1/flap", {"kind": kind})
        st = sim.ok("GET", "/sim/users/u1/playback")
        advance(sim, 60000 - st["progress_ms"])    # the track ends by itself
        d = api_json(sim, "/me/player", tok)[2]
        check(d["item"]["id"] == cur and d["progress_ms"] == progress and d["is_playing"] is playing,
              "%s: %s %r %r" % (kind, d["item"]["id"], d["progress_ms"], d["is_playing"]))
        d = api_json(sim, "/me/player", tok)[2]
        check(d["item"]["id"] != cur and d["progress_ms"] == 0 and d["is_playing"], "%s spent: %r" % (kind, d["item"]["id"]))
    # armed while nothing plays: the first track answered is the previous one
    sim.ok("DELETE", "/sim/users/u1/playback")
    r = sim.ok("POST", "/sim/users/u1/flap", {"kind": "stale_track"})
    check(r["armed"][0]["has_previous_track"] is False, "nothing to remember yet")
    play(sim, "u1", [track("a1", duration_ms=60000), track("a2", duration_ms=60000)])
    check(api_json(sim, CP, tok)[2]["item"]["id"] == "a1", "a1 remembered")
    sim.ok("POST", "/sim/users/u1/next")
    check(api_json(sim, CP, tok)[2]["item"]["id"] == "a1", "stale a1 after the skip")
    check(api_json(sim, CP, tok)[2]["item"]["id"] == "a2", "then a2")
    check(sim.ok("GET", "/sim/users/u1/playback")["item"]["id"] == "a2", "state untouched")


def test_me_and_track_shapes_development_vs_extended():
    sim = mksim(mode="development", allowlist=["u1"])
    sim.ok("POST", "/sim/users", {"id": "u1", "account_id": "acc-0001"})
    dev_app(sim, "ext", mode="extended")
    full = "user-read-private user-read-email " + SCOPE
    td = mint(sim, "u1", scope=full)["access_token"]
    te = mint(sim, "u1", scope=full, client_id="ext")["access_token"]
    play(sim, "u1", [track("t1", duration_ms=60000, linked_from="orig1"), track("t2")])
    gone_me = ("country", "email", "product", "followers", "explicit_content")
    st, _, me = api_json(sim, "/me", td)
    check(st == 200 and me["account_id"] == "acc-0001" and me["id"] == "u1", "dev /me %r" % me)
    check(not [k for k in gone_me if k in me], "dev /me keeps %r" % [k for k in gone_me if k in me])
    check(sorted(me) == ["account_id", "display_name", "external_urls", "href", "id", "images", "type", "uri"],
          "dev /me members %r" % sorted(me))
    st, _, me = api_json(sim, "/me", te)
    check(all(k in me for k in gone_me) and me["account_id"] == "acc-0001", "extended /me %r" % sorted(me))
    errs = validate(me, {"$ref": "#/components/schemas/PrivateUserObject"})
    check(not errs, "PrivateUserObject: %s" % errs)
    gone_track = ("popularity", "available_markets", "linked_from")
    it = api_json(sim, CP, td)[2]["item"]
    check(not [k for k in gone_track if k in it] and "available_markets" not in it["album"]
          and it["external_ids"]["isrc"], "dev track %r" % sorted(it))
    # the OpenAPI file predates February 2026: it still requires the album's markets
    errs = validate(it, {"$ref": "#/components/schemas/TrackObject"})
    check(errs == ["$.album: required member available_markets missing"], "dev TrackObject: %s" % errs)
    it = api_json(sim, "/me/player", te)[2]["item"]
    check(it["popularity"] == 50 and it["available_markets"] == [] and it["linked_from"]["id"] == "orig1"
          and it["linked_from"]["uri"] == "spotify:track:orig1" and "available_markets" in it["album"],
          "extended track %r" % sorted(it))
    advance(sim, 60000)
    rp = api_json(sim, RECENT, td)[2]["items"][0]["track"]
    check(rp["id"] == "t1" and "popularity" not in rp and "linked_from" not in rp, "dev recently-played %r" % sorted(rp))
    rp = api_json(sim, RECENT, te)[2]["items"][0]["track"]
    check(rp["popularity"] == 50 and rp["linked_from"]["id"] == "orig1", "extended recently-played")
    # the switch: every app one shape
    config(sim, api_shapes="development")
    check("popularity" not in api_json(sim, CP, te)[2]["item"] and "email" not in api_json(sim, "/me", te)[2],
          "api_shapes development")
    config(sim, api_shapes="extended")
    check("popularity" in api_json(sim, CP, td)[2]["item"] and "email" in api_json(sim, "/me", td)[2],
          "api_shapes extended")
    check(sim.ok("GET", "/sim/users/u1")["account_id"] == "acc-0001", "user view account_id")
    u2 = sim.ok("POST", "/sim/users", {"id": "u2"})
    check(len(u2["account_id"]) == 22 and u2["account_id"] != "u2", "derived account_id %r" % u2["account_id"])


def test_rate_limit_429_body_variants():
    sim = mksim(args=["--rate-limit", "1"])
    play(sim, "u1", [track("t1")])
    tok = mint(sim, "u1")["access_token"]
    check(api(sim, CP, tok)[0] == 200, "the one call")
    st, h, data = api_json(sim, CP, tok)
    expect_error(st, data, 429, "API rate limit exceeded")
    check(h["retry-after"] == "30", "json Retry-After %r" % h.get("retry-after"))
    config(sim, rate_limit_body="text")
    st, h, body = api(sim, CP, tok)
    check(st == 429 and body == b"Too many requests" and h["content-type"].startswith("text/plain")
          and h["retry-after"] == "30", "text 429 %r %r" % (body, h))
    config(sim, rate_limit_body="empty")
    st, h, body = api(sim, CP, tok)
    check(st == 429 and body == b"" and "retry-after" not in h and "content-type" not in h, "empty 429 %r %r" % (body, h))
    config(sim, rate_limit_body="retry_after_0")
    st, h, data = api_json(sim, CP, tok)
    expect_error(st, data, 429, "API rate limit exceeded")
    check(h["retry-after"] == "0", "Retry-After: 0 %r" % h.get("retry-after"))
    # the quota 429 and the token endpoint keep their own bodies
    rt = mint(sim, "u1")["refresh_token"]
    config(sim, token_rate_limit=1)
    refresh(sim, rt)
    st, h, data = refresh(sim, rt)
    check(st == 429 and data == {"error": "rate_limited", "error_description": "API rate limit exceeded"},
          "token 429 %r" % data)
    st, _ = sim.ctl("POST", "/sim/config", {"rate_limit_body": "html"})
    check(st == 400, "unknown body accepted")


def test_recently_played_requires_end_and_offline_played_at():
    sim = mksim(args=["--recent-requires-end", "true"])
    tok = mint(sim, "u1")["access_token"]
    t0 = now_ms(sim)
    play(sim, "u1", [track("t%d" % i, duration_ms=60000) for i in range(1, 5)])
    advance(sim, 60000)                  # t1 reaches its end
    advance(sim, 50000)                  # t2 plays 50 s ...
    sim.ok("POST", "/sim/users/u1/next")  # ... and is skipped
    advance(sim, 60000)                  # t3 reaches its end
    ids = [i["track"]["id"] for i in api_json(sim, RECENT, tok)[2]["items"]]
    check(ids == ["t3", "t1"], "only plays that reached the end: %r" % ids)
    config(sim, recent_requires_end=False)
    advance(sim, 40000)
    sim.ok("POST", "/sim/users/u1/next")  # t4: 40 s, listed by the recent_min_ms rule
    ids = [i["track"]["id"] for i in api_json(sim, RECENT, tok)[2]["items"]]
    check(ids == ["t4", "t3", "t1"], "recent_min_ms rule again: %r" % ids)
    # offline plays: played_at is the start of the play
    config(sim, recent_offline_fraction=1)
    play(sim, "u1", [track("o1", duration_ms=60000), track("o2", duration_ms=60000)])
    t1 = now_ms(sim)
    advance(sim, 60000)
    rp = api_json(sim, RECENT, tok)[2]
    check(rp["items"][0]["track"]["id"] == "o1" and rp["items"][0]["played_at"] == iso(t1),
          "offline played_at = start: %r vs %r" % (rp["items"][0]["played_at"], iso(t1)))
    config(sim, recent_offline_fraction=0)
    advance(sim, 60000)
    rp = api_json(sim, RECENT, tok)[2]
    check(rp["items"][0]["track"]["id"] == "o2" and rp["items"][0]["played_at"] == iso(t1 + 120000),
          "normal played_at = end")
    check(rp["items"][3]["played_at"] == iso(t0 + 170000), "t3 ended at t0+170 s: %r" % rp["items"][3])


def test_recently_played_late_and_out_of_order():
    sim = mksim(args=["--recent-delay-ms", str(2 * 3600 * 1000), "--seed", "7"])
    tok = mint(sim, "u1", expires_in=10 ** 7)["access_token"]
    play(sim, "u1", [track("t1", duration_ms=60000), track("t2", duration_ms=60000)])
    advance(sim, 120000)
    rp = api_json(sim, RECENT, tok)[2]
    check(rp["items"] == [] and rp["total"] == 0 and rp["cursors"] is None, "nothing visible yet %r" % rp)
    pv = sim.ok("GET", "/sim/users/u1/playback")
    check(pv["history_length"] == 2 and pv["history_visible"] == 0, "view %r" % pv)
    advance(sim, 2 * 3600 * 1000 - 60000)   # t1 ended 2 h ago, t2 1 min later
    ids = [i["track"]["id"] for i in api_json(sim, RECENT, tok)[2]["items"]]
    check(ids == ["t1"], "t1 appears 2 h after it ended: %r" % ids)
    advance(sim, 60000)
    check(api_json(sim, RECENT, tok)[2]["total"] == 2, "both after 2 h")
    # injection: chosen played_at and arrival, out of order
    now = now_ms(sim)
    h = 3600 * 1000
    t2 = mint(sim, "u2", expires_in=10 ** 7)["access_token"]
    sim.ok("POST", "/sim/users/u2/history", {"items": [
        dict(track("p1"), played_at_ms=now - 3 * h, delay_ms=2 * h),
        dict(track("p2"), played_at_ms=now - 1 * h),
        dict(track("p3"), played_at_ms=now - 2 * h, visible_at_ms=now + h)]})
    rp = api_json(sim, RECENT, t2)[2]
    check([i["track"]["id"] for i in rp["items"]] == ["p2"], "only p2 at first: %r" % rp)
    newest = rp["cursors"]["after"]
    check(newest == str(now - h), "cursor %r" % newest)
    advance(sim, h)
    ids = [i["track"]["id"] for i in api_json(sim, RECENT, t2)[2]["items"]]
    check(ids == ["p2", "p3"], "p3 arrived late, sorted by played_at: %r" % ids)
    rp = api_json(sim, RECENT + "?after=" + newest, t2)[2]
    check(rp["items"] == [], "after=<newest seen> misses the late p3: %r" % rp["items"])
    advance(sim, h)
    rp = api_json(sim, RECENT, t2)[2]
    check([i["track"]["id"] for i in rp["items"]] == ["p2", "p3", "p1"] and rp["total"] == 3, "all three")
    check(rp["items"][2]["played_at"] == iso(now - 3 * h), "played_at as injected")
    rp = api_json(sim, RECENT + "?before=%d" % (now - h), t2)[2]
    check([i["track"]["id"] for i in rp["items"]] == ["p3", "p1"], "before cursor over late entries")
    # jitter: plays appear out of order
    config(sim, recent_delay_ms=0, recent_delay_jitter_ms=10 * h)
    play(sim, "u3", [track("j%02d" % i, duration_ms=60000) for i in range(20)])
    t3 = mint(sim, "u3", expires_in=10 ** 7)["access_token"]
    advance(sim, 20 * 60000)
    first_seen = {}   # track -> the poll that first listed it
    for rnd in range(41):
        advance(sim, 15 * 60000)
        for it in api_json(sim, RECENT + "?limit=50", t3)[2]["items"]:
            first_seen.setdefault(it["track"]["id"], rnd)
    ids = ["j%02d" % i for i in range(20)]
    check(sorted(first_seen) == ids, "every play appeared: %r" % sorted(first_seen))
    late = [(a, b) for i, a in enumerate(ids) for b in ids[i + 1:] if first_seen[b] < first_seen[a]]
    check(late, "a later play appeared in an earlier poll than an earlier play: %r" % first_seen)
    check(len(set(first_seen.values())) > 3, "plays appeared over many polls: %r" % first_seen)


def test_setup_file_developers_and_account_id():
    path = os.path.join(tmpdir(), "setup.json")
    with open(path, "w") as f:
        json.dump({"config": {"quota_buckets": "poll=/v1/me/player"},
                   "users": [{"id": "pre", "account_id": "acc-pre"}],
                   "developers": [{"id": "d1", "quota_24h": 2, "bucket_quota": {"poll": 1}}],
                   "apps": [{"client_id": "a1", "mode": "development", "developer": "d1", "allowlist": ["pre"]},
                            {"client_id": "a2", "mode": "development", "developer": "d1", "max_users": 1}]}, f)
    sim = Sim(args=["--setup", path, "--clock-scale", "0"])
    d = sim.ok("GET", "/sim/developers/d1")
    check(d["quota_24h"] == 2 and d["bucket_quota"] == {"poll": 1} and sorted(d["apps"]) == ["a1", "a2"],
          "setup developer %r" % d)
    check(sim.ok("GET", "/sim/users/pre")["account_id"] == "acc-pre", "setup account_id")
    check(sim.ok("GET", "/sim/apps/a2")["max_users"] == 1, "setup max_users")
    tok = mint(sim, "pre", client_id="a1")["access_token"]
    play(sim, "pre", [track("t1")])
    check([api(sim, CP, tok)[0], api(sim, "/me/player", tok)[0]] == [200, 429], "bucket poll of 1 from the setup")
    check(api_json(sim, "/me", tok)[2]["account_id"] == "acc-pre", "/me account_id")
    with open(path, "w") as f:
        json.dump({"developers": [{"id": "d1", "quota_24h": "lots"}]}, f)
    r = subprocess.run([os.path.join(BIN, "spotify-sim"), "--port", "0", "--setup", path],
                       capture_output=True, text=True, timeout=10)
    check(r.returncode == 2 and "quota_24h" in r.stderr, "bad developer in the setup: %d %r" % (r.returncode, r.stderr))
