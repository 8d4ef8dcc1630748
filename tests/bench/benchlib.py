"""benchlib.py: what bench.py and soak.py share (python3 stdlib only).

Processes come from tests/integration/harness.py (private redis-server,
bin/spotify-sim, real `spotwatch worker` processes); this module adds the
measuring: CPU time of any process from /proc/<pid>/stat, Redis' own CPU and
command counts from INFO, RSS and open fds, the workers' heartbeat
histograms, and bulk set-up of many simulator users.
"""
import http.client
import json
import os
import re
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import harness as H  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")
SCOPE = "user-read-currently-playing user-read-playback-state"
POLL_PATH = "/v1/me/player?additional_types=track,episode"   # what the worker polls (poll-endpoint player)


# --- processes ----------------------------------------------------------------

def proc_cpu(pid):
    """User + system CPU seconds of a live process (all its threads)."""
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def proc_status(pid):
    """VmRSS, VmHWM, RssAnon (the process's own memory) and RssFile (pages of
    mapped files: program and library code, read in as it first runs) in KiB."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[k] = int(v.split()[0])
    return out


def proc_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def run_timed(argv, **kw):
    """Run argv to completion; returns (stdout text, CPU seconds it used)."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)
    out = p.stdout.read().decode("utf-8", "replace")
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return out, ru.ru_utime + ru.ru_stime, p.returncode


# --- Redis --------------------------------------------------------------------

def rinfo(c, section="all"):
    return H.parse_info(c.cmd("INFO", section))


class RedisSnap:
    """Redis' CPU seconds, command calls by name, used_memory and read
    events at one moment."""

    def __init__(self, c):
        i = rinfo(c, "all")
        self.cpu_user, self.cpu_sys = float(i["used_cpu_user"]), float(i["used_cpu_sys"])
        self.cpu = self.cpu_user + self.cpu_sys
        self.calls = {}
        for k, v in i.items():
            if k.startswith("cmdstat_"):
                self.calls[k[8:]] = int(re.search(r"calls=(\d+)", v).group(1))
        self.used_memory = int(i["used_memory"])
        self.reads = int(i.get("total_reads_processed", 0))   # read events: wakeups that found commands

    def delta_calls(self, before, exclude=("info",)):
        """Commands run between two snapshots (commands run inside scripts
        included), without the bench's own INFO calls; and the scripts run."""
        total = scripts = 0
        for k, n in self.calls.items():
            if k in exclude:
                continue
            d = n - before.calls.get(k, 0)
            total += d
            if k in ("evalsha", "eval", "fcall"):
                scripts += d
        return total, scripts


def app_polls(c, apps, prefix="sw:"):
    n = 0
    for a in apps:
        v = c.cmd("HGET", "%s{%s}:stats" % (prefix, a), "polls")
        n += int(v or 0)
    return n


def workers(c, prefix="sw:"):
    """{pid: heartbeat hash} of the workers that beat in the last 10 s."""
    out = {}
    for wid in c.cmd("ZRANGE", prefix + "workers", 0, -1):
        h = c.hgetall(prefix + "worker:" + wid)
        if h.get("pid"):
            out[int(h["pid"])] = h
    return out


# --- histograms (src/base/histogram.c's text form) ---------------------------------------

HIST_LINEAR, HIST_SUB, HIST_TOP_EXP = 64, 32, 40
HIST_BUCKETS = HIST_LINEAR + (HIST_TOP_EXP - 6) * HIST_SUB + 1


def bucket_low(i):
    if i < HIST_LINEAR:
        return i
    if i >= HIST_BUCKETS - 1:
        return 1 << HIST_TOP_EXP
    e = (i - HIST_LINEAR) // HIST_SUB + 6
    sub = (i - HIST_LINEAR) % HIST_SUB
    return (HIST_SUB + sub) << (e - 5)


class Hist:
    """A cumulative histogram read from a heartbeat field ("count sum max;i:n ...")."""

    def __init__(self, text=""):
        self.b = {}
        self.count = self.sum = self.max = 0
        if not text:
            return
        head, _, body = text.partition(";")
        self.count, self.sum, self.max = (int(x) for x in head.split())
        for item in body.split():
            i, _, n = item.partition(":")
            self.b[int(i)] = int(n)

    def minus(self, older):
        """Samples recorded between two snapshots (max is the later one's,
        an upper bound for the period)."""
        d = Hist()
        d.count = self.count - older.count
        d.sum = self.sum - older.sum
        d.max = self.max
        for i, n in self.b.items():
            m = n - older.b.get(i, 0)
            if m:
                d.b[i] = m
        d.maxb = max(d.b) if d.b else 0
        return d

    def plus(self, other):
        s = Hist()
        s.count, s.sum, s.max = self.count + other.count, self.sum + other.sum, max(self.max, other.max)
        s.b = dict(self.b)
        for i, n in other.b.items():
            s.b[i] = s.b.get(i, 0) + n
        return s

    def quantile(self, q):
        """us, the middle of the bucket holding the q-th sample."""
        if self.count <= 0:
            return 0.0
        rank = max(1, -(-int(q * self.count * 1000000) // 1000000))
        seen = 0
        for i in sorted(self.b):
            seen += self.b[i]
            if seen >= rank:
                lo = bucket_low(i)
                if i < HIST_LINEAR:
                    return float(lo)
                hi = bucket_low(i + 1)
                return min(lo + (hi - lo) / 2.0, float(self.max) if self.max else 1e30)
        return float(self.max)

    def top(self):
        """The upper edge of the highest bucket with samples (us): the period's max."""
        if not self.b:
            return 0.0
        i = max(self.b)
        return float(bucket_low(i + 1) if i + 1 < HIST_BUCKETS else bucket_low(i))


def worker_hists(c, field, prefix="sw:"):
    """Sum of one cumulative histogram field over the live workers."""
    total = Hist()
    for h in workers(c, prefix).values():
        total = total.plus(Hist(h.get(field, "")))
    return total


# --- simulator bulk set-up ---------------------------------------------------------

class SimConn:
    """A keep-alive connection to the simulator's control API."""

    def __init__(self, port):
        self.port = port
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        hdrs = {"Content-Type": "application/json"} if data else {}
        for attempt in range(3):
            try:
                self.c.request(method, path, body=data, headers=hdrs)
                r = self.c.getresponse()
                out = r.read()
                break
            except (OSError, http.client.HTTPException):
                self.c.close()
                self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt == 2:
                    raise
        if r.status >= 300:
            raise RuntimeError("sim %s %s -> %d %s" % (method, path, r.status, out[:200]))
        return json.loads(out) if out else None

    def close(self):
        self.c.close()


def playing(user, n=3, duration_ms=600000, repeat="context"):
    """A playback body: n long tracks on repeat, so the user stays playing."""
    return {"queue": [{"id": "%s-t%d" % (user, k), "name": "Track %d" % k, "artists": ["Artist %s" % user],
                       "album": "Album %s" % user, "duration_ms": duration_ms} for k in range(n)],
            "index": 0, "progress_ms": 0, "is_playing": True, "repeat_state": repeat,
            "device": {"id": "dev-" + user, "name": "Phone", "type": "Smartphone"}}


def mint_users(sim, client_id, app, users, play_fn=playing, threads=4, progress=None):
    """Create users in the simulator with tokens (and playback when play_fn);
    returns the import rows {user, app, access_token, refresh_token, expires_in, scope}."""
    rows = [None] * len(users)
    errors = []
    # tests' secret scan (harness.record_secret) greps the logs for every token
    record = getattr(H, "record_secret", None) if len(users) <= 10000 else None

    def work(k):
        conn = SimConn(sim.port)
        try:
            for i in range(k, len(users), threads):
                u = users[i]
                tok = conn.call("POST", "/sim/users/%s/tokens" % u, {"client_id": client_id, "scope": SCOPE})
                if record:
                    record(tok["access_token"])
                    record(tok["refresh_token"])
                if play_fn:
                    conn.call("PUT", "/sim/users/%s/playback" % u, play_fn(u))
                rows[i] = {"user": u, "app": app, "access_token": tok["access_token"],
                           "refresh_token": tok["refresh_token"], "expires_in": tok["expires_in"],
                           "scope": SCOPE}
                if progress and k == 0 and i % 10000 == 0 and i:
                    progress(i)
        except Exception as e:  # noqa: reported below
            errors.append(e)
        finally:
            conn.close()

    ts = [threading.Thread(target=work, args=(k,), daemon=True) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise errors[0]
    return rows


def import_users(redis, rows, extra, watch=True, path=None):
    """`spotwatch user import` (pipelined, tokens sealed as `user add` seals them)."""
    path = path or os.path.join(H.tmpdir(), "users.jsonl")
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    args = ["user", "import", path] + (["--watch"] if watch else [])
    out = H.spotwatch(redis, *args, extra=extra, timeout=600)
    os.unlink(path)
    return out.stdout.strip()


def machine():
    """What the figures were measured on."""
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    def ver(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return "?"
    return {"nproc": os.cpu_count(), "cpu": model, "mem_gib": round(mem_kb / 1048576, 1),
            "kernel": os.uname().release, "redis": ver(["redis-server", "--version"]),
            "node": ver(["node", "--version"]), "wrk": ver(["wrk", "--version"]) or "wrk",
            "curl": ver(["curl-config", "--version"])}
