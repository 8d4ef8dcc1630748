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


# complete.lua called directly (include/redis/script_contract.h): its fixed
# KEYS in COMPLETE_KEYS order, and its fixed ARGV (maxlen, budget default,
# channel prefix, history window).
COMPLETE_KEYS = ("due", "leases", "events", "rl", "stats", "app", "calls", "broken", "confirm")
COMPLETE_ARGV = ["1000", "0", "sw:playback:", "86400000"]


def complete_job(user, fence, delay="0", state="", flap="", events=()):
    """One job's COMPLETE_GROUP_ARG group: a poll of user that went through
    (outcome ok, HTTP 200), then its events [(type, json)...]."""
    job = [user, fence, delay, "ok", state, "200", "", "", "0", "", "0", "0", "0", "", "", "", "", flap, "",
           str(len(events))]
    for etype, ev in events:
        job += [etype, ev]
    return job


def complete_call(c, sha, users, jobs, app="app1"):
    """EVALSHA complete.lua (sha) for app: one job group per user, in order."""
    keys = ["sw:{%s}:%s" % (app, k) for k in COMPLETE_KEYS] + ["sw:{%s}:user:%s" % (app, u) for u in users]
    args = list(COMPLETE_ARGV)
    for j in jobs:
        args += j
    return c.cmd("EVALSHA", sha, len(keys), *(keys + args))


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


def redis_server_argv(conf):
    """How a redis-server is started: SW_REDIS_WRAP (split on spaces) goes
    first, e.g. the bench's "valgrind --tool=callgrind ..." to count Redis'
    instructions; unset in the tests."""
    return os.environ.get("SW_REDIS_WRAP", "").split() + ["redis-server", conf]


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
        self.proc = Proc(redis_server_argv(self.conf), "redis")
        wait_for(lambda: self._ping(), 30, "redis-server to start")

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



# --- Redis Cluster ------------------------------------------------------------

CLUSTER_SLOTS = 16384


def crc16_xmodem(data):
    """CRC16 (XMODEM: polynomial 0x1021, initial 0), Redis Cluster's key hash."""
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
        crc &= 0xFFFF
    return crc


def key_slot(key):
    """The cluster slot of key (str or bytes): CRC16 of the key, or of the
    part between the first '{' and the next '}' when that part is not empty."""
    k = key.encode() if isinstance(key, str) else key
    s = k.find(b"{")
    if s >= 0:
        e = k.find(b"}", s + 1)
        if e > s + 1:
            k = k[s + 1:e]
    return crc16_xmodem(k) % CLUSTER_SLOTS


def _redirect(err):
    """(kind, slot, port) of a MOVED/ASK error text; None for another error."""
    parts = str(err).split()
    if len(parts) == 3 and parts[0] in ("MOVED", "ASK"):
        return parts[0], int(parts[1]), int(parts[2].rpartition(":")[2])
    return None


def parse_info(text):
    """An INFO answer as a dict of its `name:value` lines."""
    out = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            out[k] = v.strip()
    return out


class ClusterClient:
    """A synchronous Redis Cluster client over harness.Redis: one connection
    per node, the slot map from CLUSTER SLOTS; follows MOVED (the map
    refreshed), ASK (ASKING, then the command, on the node named), and
    retries TRYAGAIN, CLUSTERDOWN and a lost node (map refreshed from the
    other nodes) until `retry_s` has passed. Counts the redirections it
    followed in self.redirects."""

    def __init__(self, ports, timeout=10, retry_s=20.0, ssl_ctx=None):
        self.ports = list(ports)
        self.timeout, self.retry_s = timeout, retry_s
        self.ssl_ctx = ssl_ctx   # every node over TLS (a TLS-only cluster)
        self.conns = {}
        self.slots = [None] * CLUSTER_SLOTS
        self.redirects = {"MOVED": 0, "ASK": 0, "TRYAGAIN": 0, "CLUSTERDOWN": 0, "lost": 0}
        self.port = self.ports[0]
        self.refresh()

    def node(self, port):
        c = self.conns.get(port)
        if c is None:
            c = self.conns[port] = Redis(port, timeout=self.timeout, ssl_ctx=self.ssl_ctx)
        return c

    def close(self):
        for c in self.conns.values():
            c.close()
        self.conns = {}

    def refresh(self):
        """The slot map from the first node that answers CLUSTER SLOTS."""
        last = None
        for p in self.ports:
            try:
                slots = self.node(p).cmd("CLUSTER", "SLOTS")
            except (OSError, RedisError) as e:
                last = e
                continue
            m = [None] * CLUSTER_SLOTS
            for first, end, primary, *rest in slots:
                for s in range(first, end + 1):
                    m[s] = int(primary[1])
                for n in [primary] + rest:
                    if int(n[1]) not in self.ports:
                        self.ports.append(int(n[1]))
            self.slots = m
            return
        raise RedisError("no node answers CLUSTER SLOTS (last: %r)" % last)

    def owner(self, slot):
        return self.slots[slot]

    def cmd(self, *args, key=None):
        """One command, routed by key (default: its first argument)."""
        slot = key_slot(key if key is not None else args[1]) if len(args) > 1 or key is not None else None
        port = (self.slots[slot] if slot is not None else None) or self.ports[0]
        asking = False
        deadline = time.time() + self.retry_s
        while True:
            try:
                c = self.node(port)
                if asking:
                    c.send("ASKING")
                    c._read()
                return c.cmd(*args)
            except RedisError as e:
                r = _redirect(e)
                msg = str(e)
                if r and r[0] == "MOVED":
                    self.redirects["MOVED"] += 1
                    self.slots[r[1]], port, asking = r[2], r[2], False
                    try:
                        self.refresh()
                    except RedisError:
                        pass
                    continue
                if r and r[0] == "ASK":
                    self.redirects["ASK"] += 1
                    port, asking = r[2], True
                    continue
                kind = msg.split()[0] if msg else ""
                if kind not in ("TRYAGAIN", "CLUSTERDOWN") or time.time() > deadline:
                    raise
                self.redirects[kind] += 1
                time.sleep(0.05)
                asking = False
                port = (self.slots[slot] if slot is not None else None) or port
            except OSError:
                self.conns.pop(port, None)
                self.redirects["lost"] += 1
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
                try:
                    self.ports.remove(port)
                    self.ports.append(port)   # ask the others first
                    self.refresh()
                except (RedisError, ValueError):
                    pass
                asking = False
                port = (self.slots[slot] if slot is not None else None) or self.ports[0]

    def many(self, cmds):
        """Replies of a list of commands (each routed by its first key),
        pipelined per node; a redirected or failed one is sent again alone
        (cmd). An error reply is returned as a RedisError, not raised."""
        out = [None] * len(cmds)
        by_port = {}
        for i, a in enumerate(cmds):
            by_port.setdefault(self.slots[key_slot(a[1])] or self.ports[0], []).append(i)
        again = []
        for port, idx in by_port.items():
            try:
                c = self.node(port)
                for i in idx:
                    c.send(*cmds[i])
                for i in idx:
                    out[i] = c._read()
                    if isinstance(out[i], RedisError) and str(out[i]).split()[0] in (
                            "MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN"):
                        again.append(i)
            except OSError:
                dead = self.conns.pop(port, None)
                if dead:
                    dead.close()
                again += idx
        for i in sorted(set(again)):
            try:
                out[i] = self.cmd(*cmds[i])
            except RedisError as e:
                out[i] = e
        return out

    def hgetall(self, key):
        r = self.cmd("HGETALL", key)
        return dict(zip(r[0::2], r[1::2]))


def cluster_tls(tls):
    """(ssl context, redis.conf lines) of a RedisCluster node for tls (None:
    (None, [])): the certificate and CA, TLS on the cluster bus and for
    replication too, client certificates required only when tls has
    "client": (cert, key), which the tests' clients then present. With
    "server_name" (the one name every node's certificate carries, not its
    address) the tests' clients check the chain only."""
    if tls is None:
        return None, []
    ctx = ssl.create_default_context(cafile=tls["ca"])
    if tls.get("server_name"):
        ctx.check_hostname = False
    if tls.get("client"):
        ctx.load_cert_chain(*tls["client"])
    return ctx, ["tls-cert-file %s" % tls["cert"], "tls-key-file %s" % tls["key"],
                 "tls-ca-cert-file %s" % tls["ca"], "tls-cluster yes", "tls-replication yes",
                 "tls-auth-clients %s" % ("yes" if tls.get("client") else "no")]


class ClusterNode:
    """One redis-server --cluster-enabled yes of a RedisCluster, in its own
    directory (its nodes.conf survives a kill, so a restarted node rejoins)."""

    def __init__(self, base_dir, port, bus_port, node_timeout, extra, tls=None):
        self.port, self.bus_port = port, bus_port
        self.dir = os.path.join(base_dir, str(port))
        os.makedirs(self.dir)
        self.conf = os.path.join(self.dir, "redis.conf")
        self.ssl, tls_lines = cluster_tls(tls)
        listen = ["port 0", "tls-port %d" % port] + tls_lines if tls else ["port %d" % port]
        lines = listen + ["cluster-port %d" % bus_port, "bind 127.0.0.1", "dir %s" % self.dir,
                 "cluster-enabled yes", "cluster-config-file nodes.conf",
                 "cluster-node-timeout %d" % node_timeout,
                 "save \"\"", "appendonly no", "daemonize no", "enable-debug-command yes",
                 "maxmemory-policy noeviction",
                 # the harness's RedisServer's (README, "Inspecting state")
                 "hash-max-listpack-value 512",
                 # a replica syncs at once (Redis 7 waits 5 s by default: a
                 # primary killed before would leave an empty replica)
                 "repl-diskless-sync-delay 0"] + list(extra or [])
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = None
        self.start()

    def start(self):
        self.proc = Proc(redis_server_argv(self.conf), "redis-cluster")
        wait_for(self._ping, 30, "cluster node %d to start" % self.port)

    _ping = RedisServer._ping

    def alive(self):
        return self.proc is not None and self.proc.alive()

    def kill9(self):
        self.proc.kill9()

    def cmd(self, *args, timeout=5):
        """One command on this node alone (a fresh connection)."""
        c = Redis(self.port, timeout=timeout, ssl_ctx=self.ssl)
        try:
            return c.cmd(*args)
        finally:
            c.close()

    def info(self, section="all"):
        return parse_info(self.cmd("INFO", section))


class RedisCluster:
    """A private Redis Cluster on loopback: `primaries` primaries with
    `replicas` replicas each (redis-cli --cluster create), every node on a
    free port (and a free cluster bus port) in one temp dir; ready when
    every node says cluster_state:ok, knows every node and every slot, and
    every replica's link is up. Every node is a registered Proc: cleanup()
    kills them all.

    Stands where a RedisServer does for the harness's helpers: .port is the
    first seed node, sw_extra gives spotwatch `--redis-cluster yes` and every
    other node as `--redis-cluster-nodes`, client() is a ClusterClient.

    tls: None (plain), or RedisServer's {"ca", "cert", "key"[, "client"]}
    (and optionally "server_name", see cluster_tls):
    every node then listens with TLS only (`port 0`, its port the
    `tls-port`), speaks TLS on the cluster bus and for replication
    (cluster_tls), redis-cli creates the cluster over TLS, the tests'
    clients (client(), cmd, Subscriber through .ssl) use TLS trusting ca,
    and sw_extra adds `--redis-tls yes` with the CA (and the client
    certificate, the server name)."""

    def __init__(self, primaries=3, replicas=1, node_timeout=2000, extra=None, tls=None):
        self.dir = tmpdir()
        self.password = None
        self.ssl, _ = cluster_tls(tls)
        n = primaries * (1 + replicas)
        used = set()

        def port():
            while True:
                p = free_port()
                if p not in used:
                    used.add(p)
                    return p
        self.nodes = [ClusterNode(self.dir, port(), port(), node_timeout, extra, tls) for _ in range(n)]
        tls_args = []
        if tls:
            tls_args = ["--tls", "--cacert", tls["ca"]]
            if tls.get("client"):
                tls_args += ["--cert", tls["client"][0], "--key", tls["client"][1]]
        if n == 1:
            # redis-cli --cluster create wants 3 primaries at least: one
            # node takes every slot itself
            self.nodes[0].cmd("CLUSTER", "ADDSLOTSRANGE", 0, CLUSTER_SLOTS - 1)
        else:
            argv = ["redis-cli"] + tls_args + ["--cluster", "create"] + \
                   ["127.0.0.1:%d" % x.port for x in self.nodes] + ["--cluster-replicas", str(replicas), "--cluster-yes"]
            r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
            with open(_logfile("cluster-create"), "w") as f:
                f.write(" ".join(argv) + "\n" + r.stdout + r.stderr)
            check(r.returncode == 0, "redis-cli --cluster create failed: %s" % (r.stdout + r.stderr)[-800:])
        self.n_primaries = primaries
        wait_for(self.ready, 30, "the cluster to be ready on every node", 0.1)
        self.port = self.nodes[0].port
        self.sw_extra = ["--redis-cluster", "yes"]
        if tls:
            self.sw_extra += ["--redis-tls", "yes", "--redis-tls-ca-cert-file", tls["ca"]]
            if tls.get("client"):
                self.sw_extra += ["--redis-tls-cert-file", tls["client"][0], "--redis-tls-key-file", tls["client"][1]]
            if tls.get("server_name"):
                self.sw_extra += ["--redis-tls-server-name", tls["server_name"]]
        if n > 1:
            self.sw_extra += ["--redis-cluster-nodes", ",".join("127.0.0.1:%d" % x.port for x in self.nodes[1:])]

    def node(self, port):
        return next(x for x in self.nodes if x.port == port)

    def live(self):
        return [x for x in self.nodes if x.alive()]

    def ready(self):
        """Every live node: cluster_state:ok, every slot assigned, every
        live node known, one primary per slot range as the others see it;
        every replica's link to its primary up."""
        live = self.live()
        views = set()
        for x in live:
            info = dict(ln.split(":", 1) for ln in x.cmd("CLUSTER", "INFO").split() if ":" in ln)
            if info.get("cluster_state") != "ok" or info.get("cluster_slots_assigned") != str(CLUSTER_SLOTS):
                return False
            if info.get("cluster_slots_fail") != "0" or info.get("cluster_slots_pfail") != "0":
                return False
            nodes = self.cluster_nodes(x.port)
            if len([m for m in nodes if "fail" not in m["flags"] and "fail?" not in m["flags"]]) < len(live):
                return False
            up = [m for m in nodes if not m["flags"] & {"fail", "fail?", "handshake", "noaddr"}]
            if len([m for m in up if m["role"] == "master" and m["slots"]]) != self.n_primaries or \
                    len([m for m in up if m["role"] == "replica"]) != len(live) - self.n_primaries:
                return False
            views.add(tuple(sorted((m["port"], tuple(m["slots"])) for m in nodes
                                   if m["role"] == "master" and m["slots"])))
            if x.info("replication").get("role") == "slave" and \
                    x.info("replication").get("master_link_status") != "up":
                return False
        return len(views) == 1

    def cluster_nodes(self, port=None):
        """CLUSTER NODES of one node (default: the first live one), parsed:
        [{id, port, flags (set), role, master (id or None), slots [(a, b)]}]."""
        x = self.node(port) if port else self.live()[0]
        out = []
        for line in x.cmd("CLUSTER", "NODES").splitlines():
            f = line.split()
            if len(f) < 8:
                continue
            flags = set(f[2].split(","))
            slots = []
            for s in f[8:]:
                if s.startswith("["):
                    continue   # a slot being imported or migrated
                a, _, b = s.partition("-")
                slots.append((int(a), int(b or a)))
            out.append({"id": f[0], "port": int(f[1].split("@")[0].rpartition(":")[2]), "flags": flags,
                        "role": "master" if "master" in flags else "replica",
                        "master": None if f[3] == "-" else f[3], "slots": slots})
        return out

    def primaries(self):
        """Ports of the primaries serving slots (as the first live node sees them)."""
        return sorted(m["port"] for m in self.cluster_nodes() if m["role"] == "master" and m["slots"]
                      and "fail" not in m["flags"])

    def node_id(self, port):
        return self.node(port).cmd("CLUSTER", "MYID")

    def replicas_of(self, port):
        nid = self.node_id(port)
        return sorted(m["port"] for m in self.cluster_nodes() if m["master"] == nid)

    def owner(self, slot):
        """The port of the primary serving slot (CLUSTER SLOTS of a live node)."""
        for first, end, primary, *_ in self.live()[0].cmd("CLUSTER", "SLOTS"):
            if first <= slot <= end:
                return int(primary[1])
        return None

    def client(self):
        c = ClusterClient([x.port for x in self.live()], ssl_ctx=self.ssl)
        on_cleanup(c.close)
        return c

    def keyslot(self, key):
        """key_slot(key), checked against CLUSTER KEYSLOT on the server."""
        s = key_slot(key)
        srv = self.live()[0].cmd("CLUSTER", "KEYSLOT", key)
        check(s == srv, "key_slot(%r) = %d, CLUSTER KEYSLOT says %d" % (key, s, srv))
        return s

    def apps_per_primary(self, per=2, prefix="app"):
        """{primary port: [app, ...]}: `per` app names (prefix + n) whose hash
        tag's slot ({app}) each primary serves."""
        prim = self.primaries()
        out = {p: [] for p in prim}
        n = 0
        while any(len(v) < per for v in out.values()):
            n += 1
            app = "%s%d" % (prefix, n)
            p = self.owner(self.keyslot("sw:{%s}:events" % app))
            if p in out and len(out[p]) < per:
                out[p].append(app)
        return out

    def migrate_slot(self, slot, dst_port, batch=5, pause=0.05, on_batch=None, first=()):
        """Move slot to the primary dst_port as redis-cli --cluster reshard
        does: SETSLOT IMPORTING on the target, MIGRATING on the source,
        MIGRATE of its keys `batch` at a time with `pause` s between batches
        (clients meanwhile get ASK, then TRYAGAIN for multi-key commands),
        then SETSLOT NODE on the target, the source and every other primary.
        on_batch(k) runs after the k-th batch; the keys `first` (those that
        exist) go in the first batch, alone. Returns {keys, batches, secs,
        ask (ASK errors the source answered meanwhile)}."""
        src_port = self.owner(slot)
        check(src_port is not None and src_port != dst_port, "slot %d is on %r" % (slot, src_port))
        src, dst = self.node(src_port), self.node(dst_port)
        src_id, dst_id = src.cmd("CLUSTER", "MYID"), dst.cmd("CLUSTER", "MYID")
        ask0 = self.errorstat(src_port, "ASK")
        head = [k for k in first if src.cmd("EXISTS", k)]
        t0 = time.time()
        dst.cmd("CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)
        src.cmd("CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
        moved = batches = 0
        while True:
            keys, head = (head, []) if head else (src.cmd("CLUSTER", "GETKEYSINSLOT", slot, batch), [])
            if not keys:
                break
            src.cmd("MIGRATE", "127.0.0.1", dst_port, "", 0, 5000, "KEYS", *keys)
            moved += len(keys)
            batches += 1
            if on_batch:
                on_batch(batches)
            time.sleep(pause)
        for x in [dst, src] + [self.node(p) for p in self.primaries() if p not in (src_port, dst_port)]:
            x.cmd("CLUSTER", "SETSLOT", slot, "NODE", dst_id)
        wait_for(lambda: all(self.owner_on(x.port, slot) == dst_port for x in self.live()), 10,
                 "every node to agree slot %d is on %d" % (slot, dst_port))
        return {"keys": moved, "batches": batches, "secs": time.time() - t0,
                "ask": self.errorstat(src_port, "ASK") - ask0}

    def owner_on(self, port, slot):
        """The primary serving slot as the node port sees it."""
        for first, end, primary, *_ in self.node(port).cmd("CLUSTER", "SLOTS"):
            if first <= slot <= end:
                return int(primary[1])
        return None

    def errorstat(self, port, kind):
        """How many `kind` errors (MOVED, ASK, TRYAGAIN, CLUSTERDOWN...) node
        port has answered (INFO errorstats)."""
        v = self.node(port).info("errorstats").get("errorstat_" + kind, "")
        m = re.search(r"count=(\d+)", v)
        return int(m.group(1)) if m else 0

    def kill_primary(self, port):
        """kill -9 the primary port; returns the time of the kill."""
        self.node(port).kill9()
        return time.time()

    def cut_replicas(self, port):
        """From now on the primary port's replicas receive none of its
        writes: each drops its link (CLIENT KILL TYPE master) and cannot
        make another (a masterauth the primary refuses). On loopback a
        replica is otherwise never behind when its primary is killed (the
        replication stream is in the kernel's socket buffers before any
        subscriber sees the event); this plays a lagging or cut-off replica,
        whose primary's last writes a failover loses."""
        for rp in self.replicas_of(port):
            x = self.node(rp)
            x.cmd("CONFIG", "SET", "masterauth", "not-the-primary-s-password")
            x.cmd("CLIENT", "KILL", "TYPE", "master")
            wait_for(lambda: x.info("replication").get("master_link_status") == "down", 5,
                     "replica %d's link down" % rp)

    def wait_promotion(self, replicas, timeout=30):
        """Polls ROLE on the given replica ports every 20 ms until one says
        master; returns (time it was first seen, its port)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            for p in replicas:
                try:
                    if self.node(p).cmd("ROLE", timeout=1)[0] == "master":
                        return time.time(), p
                except (OSError, RedisError):
                    pass
            time.sleep(0.02)
        raise TestFailure("no replica of %r promoted within %d s" % (replicas, timeout))

    def cpu(self, ports=None):
        """used_cpu_sys + used_cpu_user summed over ports (default: the primaries)."""
        total = 0.0
        for p in ports or self.primaries():
            i = self.node(p).info("cpu")
            total += float(i["used_cpu_sys"]) + float(i["used_cpu_user"])
        return total

    def stop(self):
        for x in self.nodes:
            if x.alive():
                x.kill9()


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
