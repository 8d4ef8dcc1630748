"""harness.py: real processes for integration tests (python3 stdlib only).

Every process started here is registered and killed by `cleanup()`, which the
runner (tests/run.py) calls after each test. Each test gets its own temp dir,
its own redis-server on a free port, its own simulator and its own workers.
"""
import json
import os
import random
import re
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.parse

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(ROOT, "bin")
LOGDIR = os.environ.get("SW_TEST_LOGDIR") or tempfile.mkdtemp(prefix="sw-logs-")
os.makedirs(LOGDIR, exist_ok=True)

# Every token and secret the suite creates or sees (minted by the simulator,
# passed to the CLI, stored by workers in plaintext mode) is recorded in
# SECRETS_FILE, one a line; test_zz_secrets_in_logs.py greps every *.log in
# LOGDIR for them. Values shorter than SECRET_MIN are too generic to grep.
SECRETS_FILE = os.path.join(LOGDIR, "secrets.txt")
SECRET_MIN = 8
_secrets = set()


def last_ok(h):
    """A user hash's last poll that went through (ms): last_ok_at is stored
    only while it differs from last_poll_at (README, memory)."""
    if h.get("last_ok_at"):
        return int(h["last_ok_at"])
    return int(h.get("last_poll_at") or 0) if h.get("last_outcome") in ("ok", "nothing") else 0


def sealed_kid(v):
    """The key id of a token sealed in crypto's binary format
    (include/base/crypto.h: 0x02, then stuffed kid varint | nonce | ...);
    None when v (bytes, or str when it happened to decode) is not one."""
    if isinstance(v, str):
        v = v.encode()
    if not v or v[0] != 2:
        return None
    kid, shift, i = 0, 0, 1
    while i < len(v) and shift < 35:
        b, i = v[i], i + 1
        if b == 0xFE:
            if i >= len(v) or v[i] not in (1, 2):
                return None
            b, i = (0 if v[i] == 1 else 0xFE), i + 1
        kid |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return kid
    return None


def record_secret(s):
    if isinstance(s, bytes):
        s = s.decode("utf-8", "replace")
    if not isinstance(s, str) or len(s) < SECRET_MIN or s in _secrets:
        return
    _secrets.add(s)
    with open(SECRETS_FILE, "a") as f:
        f.write(s.replace("\n", " ") + "\n")


def _record_from(obj):
    """Record the secret members of a JSON object or form/query string."""
    if isinstance(obj, dict):
        for k in ("access_token", "refresh_token", "client_secret", "code_verifier"):
            if isinstance(obj.get(k), str):
                record_secret(obj[k])
    elif isinstance(obj, (str, bytes)) and obj:
        try:
            text = obj.decode() if isinstance(obj, bytes) else obj
            if text.lstrip().startswith("{"):
                _record_from(json.loads(text))
            else:
                _record_from({k: v[0] for k, v in urllib.parse.parse_qs(text).items()})
        except ValueError:
            pass


def _record_auth(headers):
    import base64
    for k, v in (headers or {}).items():
        if k.lower() != "authorization" or not isinstance(v, str):
            continue
        kind, _, cred = v.partition(" ")
        if kind.lower() == "bearer":
            record_secret(cred)
        elif kind.lower() == "basic":
            try:
                record_secret(base64.b64decode(cred).decode().partition(":")[2])
            except ValueError:
                pass


_procs = []
_tmpdirs = []
_cleanups = []


class TestFailure(AssertionError):
    pass


def lua_source(script):
    """The text of lua/<script>.lua as the binary embeds it: each
    "--@include <x>.lua" line replaced by lua/<x>.lua or
    build/lua/<script>/<x>.lua (the Makefile's rule)."""
    out = []
    with open(os.path.join(ROOT, "lua", script + ".lua")) as f:
        for line in f:
            if line.startswith("--@include "):
                name = line.split()[1]
                path = os.path.join(ROOT, "lua", name)
                if not os.path.exists(path):   # generated: build/lua/<script>/contract.lua
                    path = os.path.join(ROOT, "build", "lua", script, name)
                with open(path) as lib:
                    out.append(lib.read())
            else:
                out.append(line)
    return "".join(out)


class Skipped(Exception):
    """Raised by skip(): the test could not run here. tests/run.py counts it
    apart, never as passed."""


def skip(why):
    raise Skipped(why)


def check(cond, msg="check failed"):
    if not cond:
        raise TestFailure(msg)


def wait_for(fn, timeout=10.0, msg="condition", interval=0.05):
    """Poll fn() until it returns a truthy value; return it. Fail after timeout."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = fn()
        except (OSError, TestFailure, RedisError) as e:
            last = e
            last_val = None
        else:
            last_val = last
            if last_val:
                return last_val
        time.sleep(interval)
    raise TestFailure("timed out after %.1fs waiting for %s (last: %r)" % (timeout, msg, last))


def tmpdir():
    d = tempfile.mkdtemp(prefix="sw-test-")
    _tmpdirs.append(d)
    return d


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def on_cleanup(fn):
    _cleanups.append(fn)


def _logfile(name):
    path = os.path.join(LOGDIR, "%s-%d-%d.log" % (name, os.getpid(), random.randrange(1 << 30)))
    return path


class Proc:
    """A registered child process with its stdout+stderr in a log file."""

    def __init__(self, argv, name, env=None, stdout_pipe=False, cwd=None):
        self.argv = argv
        self.name = name
        self.log = _logfile(name)
        self._logf = open(self.log, "wb")
        e = dict(os.environ)
        if env:
            e.update(env)
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE if stdout_pipe else self._logf,
                                  stderr=self._logf, env=e, cwd=cwd, start_new_session=True)
        _procs.append(self)

    @property
    def pid(self):
        return self.p.pid

    def alive(self):
        return self.p.poll() is None

    def signal(self, sig):
        if self.alive():
            try:
                os.kill(self.p.pid, sig)
            except ProcessLookupError:
                pass

    def kill9(self):
        self.signal(signal.SIGKILL)
        self.p.wait()

    def stop(self, timeout=10):
        """SIGTERM, wait; SIGKILL if it hangs. Returns the exit code."""
        if self.alive():
            self.signal(signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill9()
        return self.p.returncode

    def output(self):
        self._logf.flush()
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")


def cleanup():
    global BROWSER
    BROWSER = new_browser()
    while _cleanups:
        fn = _cleanups.pop()
        try:
            fn()
        except Exception:
            pass
    while _procs:
        p = _procs.pop()
        if p.alive():
            p.signal(signal.SIGKILL)
        try:
            p.p.wait(5)
        except Exception:
            pass
        p._logf.close()
    while _tmpdirs:
        subprocess.call(["rm", "-rf", _tmpdirs.pop()])


# --- HTTP -------------------------------------------------------------------

def new_browser():
    """A browser's cookie jar (http.cookiejar): give each simulated person
    their own. Cookies are kept per host, not per port, as browsers do."""
    import http.cookiejar
    return http.cookiejar.CookieJar()


# The browser of the tests that play one person: Serve.get uses it unless
# told otherwise; each test starts with an empty one (cleanup).
BROWSER = new_browser()


def http(method, url, headers=None, body=None, timeout=5, jar=None, source=None):
    """One HTTP/1.1 request, no redirects followed. Returns (status, headers, body):
    headers is a dict with lower-cased names (repeated headers joined by ', ').
    jar: a cookie jar (new_browser()) that sends its cookies and keeps the
    ones set (their values recorded as secrets); source: the local address to
    send from ("127.0.0.2": another client)."""
    import http.client
    u = urllib.parse.urlsplit(url)
    src = (source, 0) if source else None
    if u.scheme == "https":
        import ssl
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(u.hostname, u.port, timeout=timeout, context=ctx,
                                           source_address=src)
    else:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout, source_address=src)
    req = None
    if jar is not None:
        from urllib.request import Request
        req = Request(url)
        jar.add_cookie_header(req)
        if req.get_header("Cookie"):
            headers = dict(headers or {})
            headers["Cookie"] = req.get_header("Cookie")
    path = u.path or "/"
    if u.query:
        path += "?" + u.query
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        headers = dict(headers or {})
        headers.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        body = body.encode()
    try:
        _record_auth(headers)
        _record_from(body)
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        _record_from(data)
        if jar is not None:
            jar.extract_cookies(r, req)
            for ck in jar:
                record_secret(ck.value)
        hdrs = {}
        for k, v in r.getheaders():
            k = k.lower()
            hdrs[k] = hdrs[k] + ", " + v if k in hdrs else v
        return r.status, hdrs, data
    finally:
        conn.close()


def http_json(method, url, body=None, headers=None, timeout=5):
    st, h, data = http(method, url, headers=headers, body=body, timeout=timeout)
    try:
        return st, json.loads(data) if data else None
    except ValueError:
        return st, None


# --- Redis ------------------------------------------------------------------

class RedisError(Exception):
    pass


class Redis:
    """A minimal synchronous RESP2 client."""

    def __init__(self, port, host="127.0.0.1", password=None, timeout=10, ssl_ctx=None, user=None):
        self.host, self.port, self.timeout = host, port, timeout
        self.sock = None
        self.password = password
        self.user = user
        self.ssl_ctx = ssl_ctx   # an ssl.SSLContext for a TLS-only server

    def _connect(self):
        self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        if self.ssl_ctx is not None:
            self.sock = self.ssl_ctx.wrap_socket(self.sock, server_hostname=self.host)
        self.buf = b""
        if self.password and self.user:
            self.cmd("AUTH", self.user, self.password)
            return
        if self.password:
            self.cmd("AUTH", self.password)

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("redis connection closed")
        self.buf += data

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line
            self._fill()

    def _exact(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            return RedisError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self._exact(n)
            try:
                return data.decode()
            except UnicodeDecodeError:
                return data
        if t == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self._read() for _ in range(n)]
        raise RedisError("bad reply %r" % line)

    def send(self, *args):
        if self.sock is None:
            self._connect()
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if not isinstance(a, bytes):
                a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))

    def cmd(self, *args):
        try:
            self.send(*args)
            r = self._read()
        except (OSError, ConnectionError):
            self.close()
            raise
        if isinstance(r, RedisError):
            raise r
        return r

    def read_message(self, timeout=None):
        """For pub/sub connections: the next pushed message, or None when none
        arrives within timeout. A partial message stays buffered."""
        import select
        if b"\r\n" not in self.buf:
            r, _, _ = select.select([self.sock], [], [], timeout)
            if not r:
                return None
        saved = self.buf
        self.sock.settimeout(max(timeout or 0, 5))
        try:
            return self._read()
        except socket.timeout:
            self.buf = saved
            return None
        finally:
            self.sock.settimeout(self.timeout)

    def hgetall(self, key):
        r = self.cmd("HGETALL", key)
        return dict(zip(r[0::2], r[1::2]))


class RedisServer:
    """A private redis-server in its own temp dir on a free port."""

    def __init__(self, appendonly=False, extra=None, tls=None):
        """tls: None, or {"ca": file, "cert": file, "key": file}: the server then
        listens with TLS only (port 0, tls-port), every client made here uses
        TLS trusting ca, and sw_args gives spotwatch the same (sw_extra).
        With "client": (cert, key) as well, the server requires client
        certificates (tls-auth-clients yes) and the tests' clients present it."""
        self.dir = tmpdir()
        self.port = free_port()
        self.conf = os.path.join(self.dir, "redis.conf")
        self.ssl, self.sw_extra = None, []
        listen = ["port %d" % self.port]
        if tls:
            listen = ["port 0", "tls-port %d" % self.port, "tls-cert-file %s" % tls["cert"],
                      "tls-key-file %s" % tls["key"], "tls-ca-cert-file %s" % tls["ca"],
                      "tls-auth-clients %s" % ("yes" if tls.get("client") else "no")]
            self.ssl = ssl.create_default_context(cafile=tls["ca"])
            if tls.get("client"):
                self.ssl.load_cert_chain(*tls["client"])
            self.sw_extra = ["--redis-tls", "yes", "--redis-tls-ca-cert-file", tls["ca"]]
        lines = listen + ["bind 127.0.0.1", "dir %s" % self.dir,
                 "save \"\"", "daemonize no", "enable-debug-command yes",
                 "appendonly %s" % ("yes" if appendonly else "no"),
                 "appendfsync always", "maxmemory-policy noeviction",
                 # README, "Inspecting state": keeps user hashes listpacks.
                 "hash-max-listpack-value 512"]
        lines += extra or []
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = None
        self.password = None
        for ln in lines:
            if ln.startswith("requirepass "):
                self.password = ln.split(None, 1)[1].strip('"')
                record_secret(self.password)
        self.start()
        on_cleanup(self._harvest_secrets)

    def _harvest_secrets(self):
        """Record the tokens workers stored in plaintext mode ("plain.<token>"),
        including ones minted by refreshes that no test ever saw."""
        if not self.proc.alive():
            return
        c = Redis(self.port, password=self.password, timeout=2, ssl_ctx=self.ssl)
        try:
            keys, cursor = [], "0"
            while True:
                cursor, batch = c.cmd("SCAN", cursor, "COUNT", 1000)
                keys += [k for k in batch if isinstance(k, str) and (":user:" in k or k.endswith(":app"))]
                if cursor == "0":
                    break
            for k in keys:
                c.send("HMGET", k, "access_token", "refresh_token", "client_secret")
            for _ in keys:
                vals = c._read()
                for v in vals if isinstance(vals, list) else ():
                    if isinstance(v, str) and v.startswith("plain."):
                        record_secret(v[len("plain."):])
        finally:
            c.close()

    def start(self):
        self.proc = Proc(["redis-server", self.conf], "redis")
        wait_for(lambda: self._ping(), 10, "redis-server to start")

    def _ping(self):
        try:
            c = Redis(self.port, timeout=1, ssl_ctx=self.ssl)
            ok = c.cmd("PING") == "PONG"
            c.close()
            return ok
        except (OSError, RedisError):
            return False

    def client(self):
        c = Redis(self.port, ssl_ctx=self.ssl)
        on_cleanup(c.close)
        return c

    def stop(self):
        return self.proc.stop()

    def kill9(self):
        self.proc.kill9()

    def restart(self, kill=False):
        if kill:
            self.kill9()
        else:
            self.stop()
        self.start()


# --- simulator ---------------------------------------------------------------

class Sim:
    """bin/spotify-sim on a free port (it prints `listening on 127.0.0.1:PORT`)."""

    def __init__(self, args=None, scheme="http"):
        self.proc = Proc([os.path.join(BIN, "spotify-sim"), "--port", "0"] + list(args or []),
                         "sim", stdout_pipe=True)
        line = self.proc.p.stdout.readline().decode()
        m = re.search(r"listening on ([\d.]+):(\d+)", line)
        check(m is not None, "spotify-sim did not print its port: %r %s" % (line, self.proc.output()))
        self.port = int(m.group(2))
        self.base = "%s://127.0.0.1:%d" % (scheme, self.port)
        self.api = self.base + "/v1"

    def ctl(self, method, path, body=None):
        st, data = http_json(method, self.base + path, body=body)
        return st, data

    def ok(self, method, path, body=None):
        st, data = self.ctl(method, path, body)
        check(200 <= st < 300, "sim %s %s -> %d %r" % (method, path, st, data))
        return data

    def stats(self):
        return self.ok("GET", "/sim/stats")

    def stop(self):
        return self.proc.stop()


# --- spotwatch ---------------------------------------------------------------

SPOTWATCH = os.path.join(BIN, "spotwatch")


SECRET_OPTS = ("--access-token", "--refresh-token", "--client-secret", "--redis-password")


def sw_args(redis, sim=None, extra=None):
    """Plaintext tokens unless extra names a --token-key-file (then the real key is used)."""
    a = ["--redis-port", str(redis.port)] + list(getattr(redis, "sw_extra", []))
    if "--token-key-file" not in list(extra or []):
        a += ["--allow-plaintext-tokens", "yes"]
    if sim is not None:
        a += ["--api-base", sim.api, "--accounts-base", sim.base]
    return a + list(extra or [])


def spotwatch(redis, *args, sim=None, extra=None, check_rc=True, stdin=None, timeout=30):
    """Run one CLI command. Returns CompletedProcess (text)."""
    argv = [SPOTWATCH] + sw_args(redis, sim, extra) + [str(a) for a in args]
    r = subprocess.run(argv, capture_output=True, text=True, input=stdin, timeout=timeout)
    shown = list(argv)   # the command line as logged: secrets recorded, then masked
    for i in range(1, len(shown)):
        if shown[i - 1] in SECRET_OPTS:
            record_secret(shown[i])
            shown[i] = "(secret)"
    with open(_logfile("cli"), "w") as f:
        f.write(" ".join(shown) + "\n" + r.stdout + r.stderr)
    if check_rc:
        check(r.returncode == 0, "spotwatch %s failed (%d): %s" % (" ".join(map(str, args)), r.returncode, r.stderr))
    return r


class Worker:
    """A real `spotwatch worker` process."""

    def __init__(self, redis, sim, extra=None, env=None):
        argv = [SPOTWATCH] + sw_args(redis, sim, extra) + ["worker"]
        self.proc = Proc(argv, "worker", env=env)

    def kill9(self):
        self.proc.kill9()

    def stop(self):
        return self.proc.stop()

    def alive(self):
        return self.proc.alive()

    def output(self):
        return self.proc.output()


def keygen(path=None):
    """`spotwatch keygen`: a new key in path (default: a fresh temp file);
    its keys are recorded as secrets. Returns the path."""
    path = path or os.path.join(tmpdir(), "tokens.key")
    r = subprocess.run([SPOTWATCH, "keygen", path], capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, "spotwatch keygen failed: %s" % r.stderr)
    with open(path) as f:
        for ln in f:
            parts = ln.split()
            if len(parts) == 2 and not ln.startswith("#"):
                record_secret(parts[1])
    return path


def setup_app(redis, sim, app="app1", client_id=None, secret="s3cret-app", mode="extended",
              users=(), allowlist=None, redirect_uris=None, extra=None):
    """Register an app in the simulator and in spotwatch; returns client_id."""
    client_id = client_id or ("cid-" + app)
    sim.ok("POST", "/sim/apps", {"client_id": client_id, "client_secret": secret,
                                 "redirect_uris": redirect_uris or ["http://127.0.0.1/callback"],
                                 "mode": mode, "allowlist": list(allowlist if allowlist is not None else users)})
    spotwatch(redis, "app", "add", app, "--client-id", client_id, "--client-secret", secret,
              "--mode", mode, sim=sim, extra=extra)
    return client_id


def add_user(redis, sim, user, app="app1", client_id=None, scope="user-read-currently-playing user-read-playback-state",
             interval=None, extra=None, watch=True):
    """Create the user in the simulator, mint tokens, register them in spotwatch."""
    client_id = client_id or ("cid-" + app)
    sim.ok("POST", "/sim/users", {"id": user, "display_name": "User " + user})
    tok = sim.ok("POST", "/sim/users/%s/tokens" % user, {"client_id": client_id, "scope": scope})
    args = ["user", "add", user, "--app", app, "--access-token", tok["access_token"],
            "--refresh-token", tok["refresh_token"], "--expires-in", str(tok["expires_in"]), "--scope", scope]
    spotwatch(redis, *args, sim=sim, extra=extra)
    if watch:
        wargs = ["watch", "start", user]
        if interval:
            wargs += ["--interval", str(interval)]
        spotwatch(redis, *wargs, sim=sim, extra=extra)
    return tok


def track(tid, name=None, duration_ms=180000, **kw):
    t = {"id": tid, "name": name or ("Track " + tid), "artists": ["Artist " + tid],
         "album": "Album " + tid, "duration_ms": duration_ms}
    t.update(kw)
    return t


def play(sim, user, tracks, index=0, progress_ms=0, is_playing=True, device=None):
    sim.ok("PUT", "/sim/users/%s/playback" % user,
           {"queue": [t if isinstance(t, dict) else track(t) for t in tracks], "index": index,
            "progress_ms": progress_ms, "is_playing": is_playing,
            "device": device or {"id": "dev-" + user, "name": "Phone", "type": "Smartphone"}})


class Subscriber:
    """A SUBSCRIBE/PSUBSCRIBE connection collecting events."""

    def __init__(self, redis, *channels, pattern=False):
        self.c = Redis(redis.port, ssl_ctx=getattr(redis, "ssl", None))
        on_cleanup(self.c.close)
        self.c.send("PSUBSCRIBE" if pattern else "SUBSCRIBE", *channels)
        for _ in channels:
            self.c.read_message(5)
        self.events = []

    def drain(self, timeout=0.05):
        while True:
            m = self.c.read_message(timeout)
            if m is None:
                return self.events
            self.events.append(json.loads(m[-1]))
            timeout = 0.001

    def wait(self, pred, timeout=10, msg="event"):
        def got():
            self.drain()
            return [e for e in self.events if pred(e)]
        return wait_for(got, timeout, msg)


def stream_events(r, app="app1", prefix="sw:"):
    out = []
    for _id, fields in r.cmd("XRANGE", "%s{%s}:events" % (prefix, app), "-", "+"):
        f = dict(zip(fields[0::2], fields[1::2]))
        out.append(json.loads(f["event"]))
    return out


# --- spotwatch serve (OAuth) ------------------------------------------------

class Serve:
    """A real `spotwatch serve` on a free port; public_url defaults to its own
    address (http://127.0.0.1:PORT), which Spotify's rules accept.

    Unless extra says otherwise, it runs with `connect-open yes` (serve
    refuses to start with neither a connect key nor that) and without the
    per-address rate limit (`serve-rate-per-ip 0`: a test is one address
    making many logins at once)."""

    def __init__(self, redis, sim, extra=None, public_url=None, wait=True):
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.public_url = public_url or self.base
        extra = list(extra or [])
        if "--connect-key-file" not in extra and "--connect-open" not in extra:
            extra += ["--connect-open", "yes"]
        if "--serve-rate-per-ip" not in extra:
            extra += ["--serve-rate-per-ip", "0"]
        argv = [SPOTWATCH] + sw_args(redis, sim, ["--http-listen", "127.0.0.1:%d" % self.port,
                                                  "--public-url", self.public_url] + extra) + ["serve"]
        self.proc = Proc(argv, "serve")
        if wait:
            wait_for(lambda: self._up(), 10, "spotwatch serve to answer /healthz")

    def _up(self):
        check(self.proc.alive(), "serve exited: %s" % self.proc.output())
        return self.get("/healthz")[0] == 200

    def get(self, path_or_url, timeout=10, jar=None, source=None):
        """GET with a browser's cookies: jar, or the tests' one BROWSER."""
        url = path_or_url if "://" in path_or_url else self.base + path_or_url
        return http("GET", url, timeout=timeout, jar=BROWSER if jar is None else jar, source=source)

    def stop(self):
        return self.proc.stop()

    def output(self):
        return self.proc.output()


def oauth_start(serve, user, app=None, return_to=None, jar=None):
    """GET /connect (its login cookie kept in jar, default BROWSER); returns
    the Location it redirects to (checks the 302)."""
    q = {"user": user}
    if app:
        q["app"] = app
    if return_to:
        q["return_to"] = return_to
    st, h, body = serve.get("/connect?" + urllib.parse.urlencode(q), jar=jar)
    check(st == 302 and "location" in h, "/connect -> %d %r" % (st, body[:300]))
    return h["location"]


def oauth_consent(authorize_url, sim_user=None, deny=False):
    """Play the user at the simulator's /authorize: approve as sim_user or
    deny. Returns the callback URL it redirects to (no redirect followed)."""
    extra = {"sim_deny": "1"} if deny else {"sim_user": sim_user}
    sep = "&" if "?" in authorize_url else "?"
    st, h, body = http("GET", authorize_url + sep + urllib.parse.urlencode(extra))
    check(st == 302 and "location" in h, "/authorize -> %d %r" % (st, body[:300]))
    return h["location"]


def account_of(sim, sim_user):
    """The account_id the simulator's /v1/me gives sim_user: what serve links
    accounts by (and stores as spotify_id)."""
    return sim.ok("GET", "/sim/users/%s" % sim_user)["account_id"]


def oauth_login(serve, user, sim_user, app=None, return_to=None, jar=None):
    """The whole browser round trip (in jar, default BROWSER); returns the
    callback's (status, headers, body)."""
    cb = oauth_consent(oauth_start(serve, user, app, return_to, jar=jar), sim_user)
    return serve.get(cb, jar=jar)


def redis_dump(r, *patterns):
    """Every key matching the patterns with its type and full value, for
    before/after comparisons."""
    out = {}
    for pat in patterns:
        for k in r.cmd("KEYS", pat):
            t = r.cmd("TYPE", k)
            if t == "string":
                v = r.cmd("GET", k)
            elif t == "hash":
                v = r.hgetall(k)
            elif t == "zset":
                v = r.cmd("ZRANGE", k, 0, -1, "WITHSCORES")
            elif t == "set":
                v = sorted(r.cmd("SMEMBERS", k))
            elif t == "list":
                v = r.cmd("LRANGE", k, 0, -1)
            else:
                v = None
            out[k] = (t, v)
    return out
