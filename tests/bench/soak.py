#!/usr/bin/env python3
"""soak.py: a long run under churn that must not leak (`make soak MINUTES=30`).

N workers (3) watch U users (2,000) for MINUTES while everything that can
happen, happens, all the time:
  - playback changes: short tracks that end and advance, and every few seconds
    some users pause, resume, skip, change device, stop or start again;
  - token expiries: access tokens live 2 simulated minutes, so every user is
    refreshed about every minute, and some users' tokens are expired early
    (the 401 -> refresh path);
  - injected faults: 503s, HTML 502s, hangs, dropped connections, truncated and
    malformed bodies;
  - 429 windows: for 10 s of every minute the simulator's rate limit drops far
    below the load, so the app is blocked and released again.
Every SAMPLE_S (10 s) it records each worker's malloc figures from its
heartbeat (heap_in_use: live allocations; heap_arena: what malloc took from
the system), its RSS split into its own memory (RssAnon) and mapped files
(RssFile: code paged in the first time a path runs), and its open fds
(/proc/<pid>/status, /proc/<pid>/fd). After the warm-up (the first minute) it
prints the growth and slope of each, and exits non-zero when a worker's live
heap grew more than 1% over the second half of the run (bounded state, such
as each worker's token cache taking the users it meets, fills early and then
stays: a leak keeps growing), when its fd count at the end is above the
highest count of the first minute after the warm-up (a transient peak is
allowed, a trend is not), or when a worker died. RSS is reported, not judged:
it moves between the live heap and the arena as pages are touched and given
back, and rises by a page each time a code path first runs.

usage: tests/bench/soak.py [--minutes M] [--users U] [--workers N] [--sample S]
env:   MINUTES (= --minutes)

tests/integration/test_soak_short.py runs the same churn for about a minute
with one worker under valgrind --leak-check=full.
"""
import argparse
import os
import random
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from benchlib import H, SimConn, import_users, mint_users, proc_fds, proc_status  # noqa: E402

APP, CID = "soak", "cid-soak"


def short_tracks(user, rnd=random):
    """A queue of 4 short tracks on repeat: the track changes every 15-40 s."""
    return {"queue": [{"id": "%s-%d" % (user, k), "name": "Song %d" % k, "artists": ["Band " + user],
                       "album": "LP", "duration_ms": rnd.randint(15000, 40000)} for k in range(4)],
            "index": 0, "progress_ms": rnd.randint(0, 10000), "is_playing": True, "repeat_state": "context",
            "device": {"id": "dev-%s-%d" % (user, rnd.randint(0, 1)), "name": "Phone", "type": "Smartphone"}}


class Churn:
    """Drives the simulator: playback changes, early expiries, faults, 429 windows."""

    def __init__(self, sim, users, seed=7, tick_s=1.0, rate_limit_window=(50, 10), quiet_rate=20,
                 per_tick=None, fault_every=5):
        self.sim, self.users = sim, users
        self.per_tick = per_tick or max(1, len(users) // 100)
        self.fault_every = fault_every
        self.rnd = random.Random(seed)
        self.tick_s = tick_s
        self.window_every, self.window_len = rate_limit_window
        self.quiet_rate = quiet_rate
        self.stop_ev = threading.Event()
        self.counts = {"playback": 0, "expired": 0, "faults": 0, "windows": 0}
        self.t = threading.Thread(target=self._run, daemon=True)
        self.error = None

    def start(self):
        self.t0 = time.time()
        self.t.start()
        return self

    def stop(self):
        self.stop_ev.set()
        self.t.join(30)
        conn = SimConn(self.sim.port)
        conn.call("POST", "/sim/config", {"rate_limit": 0})
        conn.call("DELETE", "/sim/faults")
        conn.close()
        if self.error:
            raise self.error

    def _run(self):
        conn = SimConn(self.sim.port)
        rnd = self.rnd
        k = 0
        limited = False
        try:
            while not self.stop_ev.wait(self.tick_s):
                k += 1
                n = self.per_tick
                for u in rnd.sample(self.users, min(n, len(self.users))):
                    op = rnd.choice(["pause", "resume", "next", "next", "transfer", "stop", "play"])
                    if op == "stop":
                        conn.call("DELETE", "/sim/users/%s/playback" % u)
                    elif op == "play":
                        conn.call("PUT", "/sim/users/%s/playback" % u, short_tracks(u, rnd))
                    elif op == "transfer":
                        conn.call("POST", "/sim/users/%s/transfer" % u,
                                  {"device": {"id": "dev-%s-%d" % (u, rnd.randint(2, 9)), "name": "Speaker",
                                              "type": "Speaker"}, "play": True})
                    else:
                        try:
                            conn.call("POST", "/sim/users/%s/%s" % (u, op))
                        except RuntimeError:
                            pass   # 409: nothing queued (stopped earlier)
                    self.counts["playback"] += 1
                for u in rnd.sample(self.users, min(max(1, n // 4), len(self.users))):
                    conn.call("POST", "/sim/users/%s/expire" % u, {})
                    self.counts["expired"] += 1
                if k % self.fault_every == 0:
                    fault = rnd.choice([
                        {"kind": "status", "status": 503, "count": 20},
                        {"kind": "html_status", "status": 502, "count": 10},
                        {"kind": "hang", "ms": 1500, "count": 3},
                        {"kind": "close", "count": 10},
                        {"kind": "truncate", "count": 10},
                        {"kind": "malformed", "count": 10},
                        {"kind": "status", "status": 500, "count": 5, "path": "/api/token"},
                    ])
                    conn.call("POST", "/sim/faults", fault)
                    self.counts["faults"] += 1
                # A 429 window: window_len s of every window_every s.
                phase = int(time.time() - self.t0) % (self.window_every + self.window_len)
                if phase >= self.window_every and not limited:
                    conn.call("POST", "/sim/config", {"rate_limit": self.quiet_rate, "window_ms": 5000})
                    limited = True
                    self.counts["windows"] += 1
                elif phase < self.window_every and limited:
                    conn.call("POST", "/sim/config", {"rate_limit": 0})
                    limited = False
        except Exception as e:  # noqa: reported by stop()
            self.error = e
        finally:
            conn.close()


def world(users, token_expires_s=120, sim_args=("--threads", "2")):
    """redis + sim (short-lived tokens) + the app + users playing short tracks."""
    r = H.RedisServer()
    sim = H.Sim(list(sim_args) + ["--token-expires-s", str(token_expires_s), "--refresh-policy", "rotate"])
    key = os.path.join(H.tmpdir(), "token.key")
    H.spotwatch(r, "keygen", key)
    extra = ["--token-key-file", key]
    H.setup_app(r, sim, app=APP, client_id=CID, mode="extended", extra=extra)
    names = ["s%05d" % i for i in range(users)]
    rnd = random.Random(1)
    rows = mint_users(sim, CID, APP, names, play_fn=lambda u: short_tracks(u, rnd))
    import_users(r, rows, extra)
    return r, sim, extra, names


WORKER_ARGS = ["--log-level", "warn", "--http-timeout-ms", "1000", "--lease-ms", "5000",
               "--backoff-base-ms", "200", "--backoff-max-ms", "5000", "--paused-interval-ms", "3000",
               "--paused-max-ms", "6000", "--idle-max-ms", "6000", "--retry-after-default-ms", "5000",
               "--retry-after-max-ms", "15000"]


def worker_heaps(c, last):
    """{pid: (heap_in_use, heap_arena)} in KiB from the workers' heartbeat
    hashes (glibc's mallinfo2, README "Redis key schema"); a worker whose hash
    cannot be read keeps its last figures."""
    out = dict(last)
    for wid in c.cmd("ZRANGE", "sw:workers", 0, -1) or []:
        h = c.hgetall("sw:worker:" + wid)
        try:
            out[int(h["pid"])] = (int(h["heap_in_use"]) // 1024, int(h["heap_arena"]) // 1024)
        except (KeyError, ValueError):
            pass
    return out


def slope_per_min(samples):
    """Least-squares slope of [(t_s, v)] in v per minute."""
    n = len(samples)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in samples) / n
    mv = sum(v for _, v in samples) / n
    den = sum((t - mt) ** 2 for t, _ in samples)
    return 60.0 * sum((t - mt) * (v - mv) for t, v in samples) / den if den else 0.0


# A sample: (t, rss, fds, anon, file, heap_in_use, heap_arena); KiB but fds.
T, RSS, FDS, ANON, FILE, HEAP, ARENA = range(7)


def judge(series, warmup_s, baseline_s=60.0, tol=0.01):
    """series: {name: [sample]}. Returns (ok, report lines).

    A leak is a trend that does not stop; bounded state fills once (each
    worker's token cache takes a user the first time it opens that user's
    token, up to 2,048; hiredis' and libcurl's buffers reach the largest
    burst's size). So the memory judged (malloc's live bytes when the
    heartbeat carries them, else RssAnon) must not grow more than tol over
    the second half of the run: its end against the highest it had in the
    minute before the half-way point. fds must not end above their highest in
    the first minute after the warm-up. The growth since that first minute is
    reported too."""
    ok, lines = True, []
    for name, s in sorted(series.items()):
        after = [x for x in s if x[T] >= warmup_s]
        if len(after) < 4:
            lines.append("%s: too few samples after the warm-up" % name)
            continue
        keys = (RSS, FDS, ANON, FILE, HEAP, ARENA)
        first = [x for x in after if x[T] < after[0][T] + baseline_s] or after[:1]
        half_t = (after[0][T] + after[-1][T]) / 2
        mid = [x for x in after if half_t - baseline_s <= x[T] <= half_t] or [min(after, key=lambda x: abs(x[T] - half_t))]
        peak = {k: max(x[k] for x in first) for k in keys}
        mpeak = {k: max(x[k] for x in mid) for k in keys}
        end = after[-1]
        slope = {k: slope_per_min([(x[T], x[k]) for x in after]) for k in keys}
        late = {k: slope_per_min([(x[T], x[k]) for x in after if x[T] >= half_t]) for k in keys}
        mem = HEAP if peak[HEAP] > 0 else ANON
        grew = end[mem] > mpeak[mem] * (1 + tol)
        fd_grew = end[FDS] > peak[FDS]
        ok = ok and not grew and not fd_grew

        def pct(a, b):
            return 100.0 * (a - b) / b if b else 0.0

        def fig(k, label):
            return ("%s %d -> %d KiB (first minute's peak %d: %+.2f%%; half-way peak %d: %+.2f%%; slope %+.1f "
                    "KiB/min, second half %+.1f)" % (label, after[0][k], end[k], peak[k], pct(end[k], peak[k]),
                                                     mpeak[k], pct(end[k], mpeak[k]), slope[k], late[k]))
        lines.append("%s: %s; %s; %s; %s, of which mapped files %d -> %d KiB; fds %d -> %d (first minute's peak "
                     "%d), slope %+.2f/min%s" %
                     (name, fig(HEAP, "heap in use"), fig(ARENA, "heap arena"), fig(ANON, "RssAnon"),
                      fig(RSS, "RSS"), after[0][FILE], end[FILE], after[0][FDS], end[FDS], peak[FDS], slope[FDS],
                      ("  <- %s GREW" % ("HEAP" if mem == HEAP else "MEMORY") if grew else "") +
                      ("  <- FDS GREW" if fd_grew else "")))
    return ok, lines


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=float(os.environ.get("MINUTES") or 30))
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--sample", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=60.0)
    a = ap.parse_args()
    print("soak: %d workers, %d users, %.1f minutes, samples every %.0f s, warm-up %.0f s" %
          (a.workers, a.users, a.minutes, a.sample, a.warmup), flush=True)
    rc = 1
    try:
        r, sim, extra, names = world(a.users)
        wks = [H.Worker(r, sim, extra + WORKER_ARGS) for _ in range(a.workers)]
        churn = Churn(sim, names).start()
        c = r.client()
        t0 = time.time()
        series = {"worker%d[%d]" % (i, w.proc.pid): [] for i, w in enumerate(wks)}
        heaps = {}
        names_by_pid = {w.proc.pid: "worker%d[%d]" % (i, w.proc.pid) for i, w in enumerate(wks)}
        dead = []
        while time.time() < t0 + a.minutes * 60:
            time.sleep(a.sample)
            t = time.time() - t0
            heaps = worker_heaps(c, heaps)
            for w in wks:
                if not w.alive():
                    if w.proc.pid not in dead:
                        dead.append(w.proc.pid)
                    continue
                st = proc_status(w.proc.pid)
                used, arena = heaps.get(w.proc.pid, (0, 0))
                series[names_by_pid[w.proc.pid]].append((t, st["VmRSS"], proc_fds(w.proc.pid), st["RssAnon"],
                                                           st["RssFile"], used, arena))
            stats = c.hgetall("sw:{%s}:stats" % APP)
            print("%6.0fs  polls %s  events %s  errors %s  429s %s  blocks %s  |  %s" %
                  (t, stats.get("polls", 0), sum(int(v) for k, v in stats.items() if k.startswith("events_")),
                   stats.get("errors", 0), stats.get("r429", 0), stats.get("blocks_rate_limited", 0),
                   "  ".join("%s rss %d (anon %d; heap %d/%d) fds %d" % (n, s[-1][1], s[-1][3], s[-1][5], s[-1][6], s[-1][2])
                             for n, s in series.items() if s)),
                  flush=True)
        churn.stop()
        ok, lines = judge(series, a.warmup)
        print("\nafter the %.0f s warm-up:" % a.warmup)
        for ln in lines:
            print("  " + ln)
        stats = c.hgetall("sw:{%s}:stats" % APP)
        print("  churn: %r; app stats: polls %s, errors %s, 429s %s" %
              (churn.counts, stats.get("polls"), stats.get("errors"), stats.get("r429")))
        for w in wks:
            if w.stop() != 0:
                dead.append(w.proc.pid)
        if dead:
            print("  workers that died or exited non-zero: %r" % sorted(set(dead)))
            for w in wks:
                if w.proc.pid in dead:
                    print("  --- worker %d log (tail) ---\n%s" % (w.proc.pid, w.output()[-2000:]))
        rc = 0 if ok and not dead else 1
        print("soak: %s" % ("ok" if rc == 0 else "FAILED"))
    finally:
        H.cleanup()
    return rc


if __name__ == "__main__":
    sys.exit(main())
