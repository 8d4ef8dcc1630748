#!/usr/bin/env python3
"""bench.py: spotwatch's benchmarks (`make bench`). python3 stdlib only.

Starts its own redis-server, bin/spotify-sim and `spotwatch worker`
processes (tests/integration/harness.py), runs every scenario in one run so
that ratios between figures hold on a noisy machine, prints one table, writes
bench-results.json and rewrites tests/bench/RESULTS.md.

usage: tests/bench/bench.py [--users N] [--quick] [--only 1,2,...|tls|cluster] [--seconds S]
                            [--memory-users N] [--no-results-md] [--json FILE]
       tests/bench/bench.py --render bench-results.json   (rewrite RESULTS.md only)
env:   SW_BENCH_USERS (= --users), SW_BENCH_QUICK=1 (= --quick)

Scenarios (the numbers of issue 7):
  1 cost per poll against the floors (wrk, and bare libcurl: tests/bench/curl_floor.c,
    on the same simulator endpoint)
  2 scheduler ceiling: claim + complete with no HTTP (bench-fake-poll yes)
  3 scaling: 1, 2 and 4 workers; capacity, and schedule lag at a fixed load
  4 seed test 6: poll latency with 1 user, then 5 users, every 2 s
  5 memory: Redis bytes per watched user; worker RSS at 1,000 and 100,000 users
  6 BullMQ side by side (npm install in a temp dir; skipped with a note if that fails)
  7 TLS + HTTP/2 (`--only 7`): the simulator behind nghttpx with a throwaway CA, as
    api.spotify.com is reached; the worker and bare libcurl on it, same connections
    and streams, 3 repetitions, medians and spread
  8 Redis Cluster (`--only cluster`): the same apps, users and workers against one
    redis-server and against a 3-primary cluster, alternately, 5 repetitions: Redis
    CPU per poll (the primaries' summed) in each mode, medians and spread; a run of
    this scenario alone rewrites only RESULTS.md's "Redis Cluster" section

How each figure is measured is written next to it in RESULTS.md.
"""
import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from benchlib import (H, ROOT, POLL_PATH, RedisSnap, app_polls, import_users,  # noqa: E402
                      machine, mint_users, playing, proc_cpu, proc_status, run_timed, worker_hists, workers)

APP, CID = "bench", "cid-bench"
# Workers of the saturated scenarios: every user always due (10 ms interval,
# fixed), so each measures how fast polls can go, not how fast they are asked for.
SATURATE = ["--log-level", "warn", "--smart-polling", "no", "--poll-interval-ms", "10"]
# The simulator runs two libmicrohttpd threads: with one (its default), the
# epoll loop of libmicrohttpd 0.9.75 stalls for seconds whenever exactly 128
# connections are ready at once (wrk -c128 drops from ~60,000 to ~40
# requests/s), which 4 workers x 32 connections hit.
SIM_ARGS = ("--threads", "2")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


class World:
    """A private redis-server + spotify-sim + the app, with a real token key."""

    def __init__(self, sim_args=SIM_ARGS):
        # Redis' own default (the harness advises 512, as the README does):
        # the "Redis defaults" memory rows measure what an untuned Redis holds,
        # listpack_memory the README's setting beside it.
        self.r = H.RedisServer(extra=["hash-max-listpack-value 64"])
        self.sim = H.Sim(list(sim_args))
        self.key = os.path.join(H.tmpdir(), "token.key")
        H.spotwatch(self.r, "keygen", self.key)
        self.extra = ["--token-key-file", self.key]
        H.setup_app(self.r, self.sim, app=APP, client_id=CID, mode="extended", extra=self.extra)
        self.c = self.r.client()
        self.rows = []

    def add_users(self, n, start=0, interval_ms=10, play=True):
        users = ["u%06d" % i for i in range(start, start + n)]
        t0 = time.time()
        kw = {} if play else {"play_fn": None}
        rows = mint_users(self.sim, CID, APP, users, **kw)
        t1 = time.time()
        out = import_users(self.r, rows, self.extra + ["--poll-interval-ms", str(interval_ms)])
        log("  %d users: minted in %.1fs, %s in %.1fs" % (n, t1 - t0, out, time.time() - t1))
        self.rows += rows
        return rows

    def worker(self, args):
        return H.Worker(self.r, self.sim, self.extra + list(args))

    def polls(self):
        return app_polls(self.c, [APP])

    def wait_polls(self, n, timeout=60):
        base = self.polls()
        H.wait_for(lambda: self.polls() >= base + n, timeout, "%d polls" % n)

    def stop(self):
        H.cleanup()


def window(w, pids, seconds, hists=False):
    """Measure `seconds` of steady state: polls, Redis CPU and commands, the CPU
    of each pid, simulator requests, and (hists) the workers' histograms."""
    c = w.c
    h0 = (worker_hists(c, "lag_hist"), worker_hists(c, "poll_hist")) if hists else None
    t0, p0, r0 = time.time(), w.polls(), RedisSnap(c)
    cpu0 = {p: proc_cpu(p) for p in pids}
    s0 = w.sim.stats()["requests"]["total"]
    time.sleep(seconds)
    t1, p1, r1 = time.time(), w.polls(), RedisSnap(c)
    cpu1 = {p: proc_cpu(p) for p in pids}
    s1 = w.sim.stats()["requests"]["total"]
    calls, scripts = r1.delta_calls(r0)
    out = {"secs": t1 - t0, "polls": p1 - p0, "redis_cpu": r1.cpu - r0.cpu, "redis_calls": calls,
           "redis_scripts": scripts, "cpu": {p: cpu1[p] - cpu0[p] for p in pids}, "sim_requests": s1 - s0}
    if hists:
        time.sleep(1.2)   # the heartbeat after the window carries its last samples
        out["lag"] = worker_hists(c, "lag_hist").minus(h0[0])
        out["lat"] = worker_hists(c, "poll_hist").minus(h0[1])
    return out


def measure_workers(w, a, args, n):
    """Start n workers with args, warm up, measure one window (see window),
    stop them; returns the window's figures."""
    wks = [w.worker(args) for _ in range(n)]
    w.wait_polls(2000, 60)
    time.sleep(a.warmup)
    m = window(w, [k.proc.pid for k in wks], a.seconds)
    for k in wks:
        k.stop()
    return m


def per(x, n, scale=1e6):
    return x * scale / n if n else float("nan")


def median_spread(xs):
    """Median (of an odd count: the middle one), min, max and all of xs."""
    xs = sorted(xs)
    return {"median": xs[len(xs) // 2], "min": xs[0], "max": xs[-1], "all": xs}


# --- 1. cost per poll -----------------------------------------------------------------

def wrk_floor(w, conns, seconds):
    """wrk (a bare C HTTP client) on the same endpoint, same connection count:
    its CPU per request is the floor of any poller's client side."""
    tok = w.rows[0]["access_token"]
    sim_pid = w.sim.proc.pid
    s0, c0 = w.sim.stats()["requests"]["total"], proc_cpu(sim_pid)
    out, cpu, rc = run_timed(["wrk", "-t1", "-c%d" % conns, "-d%ds" % seconds, "-H",
                              "Authorization: Bearer " + tok, w.sim.base + POLL_PATH])
    s1, c1 = w.sim.stats()["requests"]["total"], proc_cpu(sim_pid)
    m = re.search(r"(\d+) requests in", out)
    reqs = int(m.group(1)) if m else 0
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if rc != 0 or reqs == 0 or non2xx:
        raise RuntimeError("wrk failed (%d): %s" % (rc, out))
    return {"requests": reqs, "rps": reqs / seconds, "cpu_us_per_req": per(cpu, reqs),
            "sim_cpu_us_per_req": per(c1 - c0, s1 - s0), "conns": conns}


def curl_floor(w, conns, seconds, base=None, tls=None):
    """tests/bench/curl_floor.c (built by `make bench`): libcurl's multi_socket
    API driven by libev as cheaply as libcurl allows, on the same endpoint with
    the same connection count and Authorization header, the answers discarded.
    Its CPU per request is the floor of any libcurl-based poller, spotwatch's
    worker included. Measured like wrk: the wait4() rusage of the process."""
    exe = os.path.join(ROOT, "build", "bench", "curl_floor")
    if not os.path.exists(exe):
        subprocess.run(["make", "-s", "-C", ROOT, "build/bench/curl_floor"], check=True)
    tok = w.rows[0]["access_token"]
    sim_pid = w.sim.proc.pid
    s0, c0 = w.sim.stats()["requests"]["total"], proc_cpu(sim_pid)
    opts = ["--cacert", tls["ca"], "--h2", str(tls["streams"])] if tls else []
    out, cpu, rc = run_timed([exe] + opts + [(base or w.sim.base) + POLL_PATH, str(conns), str(seconds),
                              "Authorization: Bearer " + tok])
    s1, c1 = w.sim.stats()["requests"]["total"], proc_cpu(sim_pid)
    m = re.search(r"requests (\d+) errors (\d+) connections (\d+)", out)
    if rc != 0 or not m or int(m.group(1)) == 0:
        raise RuntimeError("curl_floor failed (%d): %s" % (rc, out))
    reqs = int(m.group(1))
    return {"requests": reqs, "rps": reqs / seconds, "cpu_us_per_req": per(cpu, reqs),
            "sim_cpu_us_per_req": per(c1 - c0, s1 - s0), "conns": conns, "connections_opened": int(m.group(3))}


COST_RATIOS = ("ratio_vs_wrk", "ratio_vs_curl_floor", "curl_floor_vs_wrk")


def scenario_cost(a, res, w):
    """Three repetitions of cost_once; each figure the median of the three
    (the nested floors: the repetition with the median worker / bare libcurl),
    each ratio with its spread."""
    log("1. cost per poll: %d users, one worker, saturated; 3 repetitions" % a.users)
    runs = [cost_once(a, w, i) for i in range(3)]
    mid = median_spread([x["ratio_vs_curl_floor"] for x in runs])["median"]
    r = dict(next(x for x in runs if x["ratio_vs_curl_floor"] == mid))
    for k, v in runs[0].items():
        if isinstance(v, (int, float)) and k != "users":
            r[k] = median_spread([x[k] for x in runs])["median"]
    r["spread"] = {k: median_spread([x[k] for x in runs]) for k in COST_RATIOS}
    r["runs"] = [{k: x[k] for k in ("polls_per_s", "worker_cpu_us_per_poll", "worker_connections") + COST_RATIOS}
                 for x in runs]
    res["cost"] = r
    log("   medians: worker / wrk %.2f (%.2f-%.2f), worker / bare libcurl %.2f (%.2f-%.2f)" %
        tuple([r["ratio_vs_wrk"]] + [r["spread"]["ratio_vs_wrk"][k] for k in ("min", "max")] +
              [r["ratio_vs_curl_floor"]] + [r["spread"]["ratio_vs_curl_floor"][k] for k in ("min", "max")]))


def cost_once(a, w, i):
    wk = w.worker(SATURATE)
    w.wait_polls(min(a.users, 2000), 120)
    time.sleep(a.warmup)
    pid = wk.proc.pid
    m = window(w, [pid, w.sim.proc.pid, w.r.proc.pid], a.seconds)
    hb = workers(w.c).get(pid, {})
    conns = int(hb.get("connections", 0)) or 32
    rss = proc_status(pid)
    wk.stop()
    floor = wrk_floor(w, conns, max(5, int(a.seconds)))
    cfloor = curl_floor(w, conns, max(5, int(a.seconds)))
    polls = m["polls"]
    r = {"users": a.users, "polls_per_s": polls / m["secs"],
         "worker_cpu_us_per_poll": per(m["cpu"][pid], polls),
         "redis_cpu_us_per_poll": per(m["redis_cpu"], polls),
         "redis_commands_per_poll": m["redis_calls"] / polls if polls else 0,
         "redis_scripts_per_poll": m["redis_scripts"] / polls if polls else 0,
         "sim_cpu_us_per_request": per(m["cpu"][w.sim.proc.pid], m["sim_requests"]),
         "worker_cpu_util": m["cpu"][pid] / m["secs"], "worker_connections": conns,
         "worker_rss_kib": rss.get("VmRSS", 0),
         "wrk": floor,
         "ratio_vs_wrk": per(m["cpu"][pid], polls) / floor["cpu_us_per_req"],
         "curl_floor": cfloor,
         "ratio_vs_curl_floor": per(m["cpu"][pid], polls) / cfloor["cpu_us_per_req"],
         "curl_floor_vs_wrk": cfloor["cpu_us_per_req"] / floor["cpu_us_per_req"]}
    log("   run %d: %.0f polls/s, worker %.1f us/poll, wrk %.1f us/req, bare libcurl %.1f us/req; "
        "worker / wrk %.2f, worker / bare libcurl %.2f" %
        (i + 1, r["polls_per_s"], r["worker_cpu_us_per_poll"], floor["cpu_us_per_req"], cfloor["cpu_us_per_req"],
         r["ratio_vs_wrk"], r["ratio_vs_curl_floor"]))
    return r


# --- 7. TLS + HTTP/2 ----------------------------------------------------------------------

# The streams nghttpx allows on one connection (its default
# SETTINGS_MAX_CONCURRENT_STREAMS), and the worker's max-inflight here: as many
# requests as one connection carries, so the worker needs one connection and
# the floor is given the same one connection and streams.
TLS_STREAMS = 100


def scenario_tls(a, res, w):
    from test_https import Nghttpx, TlsSim, make_ca
    d = H.tmpdir()
    ca, cert, key = make_ca(d)
    front = Nghttpx(w.sim, cert, key, d)
    tls = TlsSim(w.sim, front)
    log("7. TLS + HTTP/2: %d users behind nghttpx, one worker (max-inflight %d), saturated; 3 repetitions" %
        (len(w.rows), TLS_STREAMS))
    reps = []
    for i in range(3):
        wk = H.Worker(w.r, tls, w.extra + SATURATE + ["--ca-file", ca, "--max-inflight", str(TLS_STREAMS)])
        w.wait_polls(min(len(w.rows), 2000), 120)
        time.sleep(a.warmup)
        pid = wk.proc.pid
        m = window(w, [pid], a.seconds, hists=True)
        hb = workers(w.c).get(pid, {})
        wk.stop()
        polls, lat = m["polls"], m["lat"]
        conns = int(hb.get("connections", 0))
        floor = curl_floor(w, max(1, conns), max(5, int(a.seconds)), base=front.base,
                           tls={"ca": ca, "streams": TLS_STREAMS * max(1, conns)})
        rep = {"polls_per_s": polls / m["secs"], "worker_cpu_us_per_poll": per(m["cpu"][pid], polls),
               "worker_connections": conns, "worker_streams": TLS_STREAMS,
               "lat_p50_ms": lat.quantile(0.50) / 1000, "lat_p99_ms": lat.quantile(0.99) / 1000,
               "curl_floor": floor,
               "ratio_vs_curl_floor": per(m["cpu"][pid], polls) / floor["cpu_us_per_req"]}
        reps.append(rep)
        log("   run %d: %.0f polls/s, worker %.1f us/poll over %d connection(s), bare libcurl %.1f us/req over %d; "
            "worker / bare libcurl %.2f; latency p50 %.2f p99 %.2f ms" %
            (i + 1, rep["polls_per_s"], rep["worker_cpu_us_per_poll"], conns, floor["cpu_us_per_req"],
             floor["connections_opened"], rep["ratio_vs_curl_floor"], rep["lat_p50_ms"], rep["lat_p99_ms"]))
    front.proc.stop()
    out = {"users": len(w.rows), "max_inflight": TLS_STREAMS, "server_streams": TLS_STREAMS, "runs": reps}
    for k in ("polls_per_s", "worker_cpu_us_per_poll", "ratio_vs_curl_floor", "lat_p50_ms", "lat_p99_ms",
              "worker_connections"):
        out[k] = median_spread([r[k] for r in reps])
    out["curl_floor_cpu_us_per_req"] = median_spread([r["curl_floor"]["cpu_us_per_req"] for r in reps])
    out["curl_floor_connections"] = median_spread([r["curl_floor"]["connections_opened"] for r in reps])
    res["tls"] = out
    log("   median worker / bare libcurl %.2f (spread %.2f-%.2f), worker connections %s" %
        (out["ratio_vs_curl_floor"]["median"], out["ratio_vs_curl_floor"]["min"], out["ratio_vs_curl_floor"]["max"],
         "/".join(str(r["worker_connections"]) for r in reps)))


# --- 2. scheduler ceiling ---------------------------------------------------------------

def scenario_ceiling(a, res, w):
    log("2. scheduler ceiling: bench-fake-poll yes (no HTTP), %d users always due" % a.users)
    out = []
    for nw, batch, inflight in ((1, 32, 256), (1, 128, 1024), (2, 128, 1024)):
        args = SATURATE + ["--bench-fake-poll", "yes", "--claim-batch", str(batch), "--max-inflight", str(inflight)]
        m = measure_workers(w, a, args, nw)
        polls = m["polls"]
        redis_util = m["redis_cpu"] / m["secs"]
        row = {"workers": nw, "claim_batch": batch, "max_inflight": inflight,
               "polls_per_s": polls / m["secs"],
               "redis_cpu_us_per_poll": per(m["redis_cpu"], polls),
               "polls_per_redis_core_s": polls / m["redis_cpu"] if m["redis_cpu"] else 0,
               "redis_cpu_util": redis_util,
               "redis_commands_per_poll": m["redis_calls"] / polls if polls else 0,
               "worker_cpu_us_per_poll": per(sum(m["cpu"].values()), polls)}
        out.append(row)
        log("   %d worker(s), batch %d: %.0f polls/s, Redis %.1f us/poll (%.0f polls per Redis core-second), "
            "Redis at %.0f%% of a core" % (nw, batch, row["polls_per_s"], row["redis_cpu_us_per_poll"],
                                          row["polls_per_redis_core_s"], 100 * redis_util))
    res["ceiling"] = out


# --- 3. scaling ---------------------------------------------------------------------------

def respread(w, interval_ms):
    """Spread every user's next poll evenly over one interval, as `watch start`'s
    jitter does, so a fixed load arrives smoothly rather than in one burst."""
    c = w.c
    now = int(c.cmd("TIME")[0]) * 1000
    users = c.cmd("ZRANGE", "sw:{%s}:due" % APP, 0, -1)
    for i in range(0, len(users), 1000):
        chunk = users[i:i + 1000]
        args = []
        for k, u in enumerate(chunk):
            args += [now + (i + k) * interval_ms // max(1, len(users)), u]
        c.cmd("ZADD", "sw:{%s}:due" % APP, "XX", *args)


def scenario_scaling(a, res, w, capacity):
    out = {"capacity": [], "fixed": []}
    log("3. scaling: 1, 2, 4 workers")
    for nw in (1, 2, 4):
        m = measure_workers(w, a, SATURATE, nw)
        row = {"workers": nw, "polls_per_s": m["polls"] / m["secs"],
               "worker_cpu_us_per_poll": per(sum(m["cpu"].values()), m["polls"]),
               "redis_cpu_us_per_poll": per(m["redis_cpu"], m["polls"])}
        out["capacity"].append(row)
        log("   saturated, %d worker(s): %.0f polls/s" % (nw, row["polls_per_s"]))
    # A fixed load: half of what one worker managed in scenario 1.
    rate = max(100.0, 0.5 * capacity)
    interval = max(100, int(len(w.rows) * 1000 / rate))
    out["fixed_load"] = {"users": len(w.rows), "interval_ms": interval, "offered_polls_per_s": len(w.rows) * 1000.0 / interval}
    for nw in (1, 2, 4):
        respread(w, interval)
        args = ["--log-level", "warn", "--smart-polling", "no", "--poll-interval-ms", str(interval)]
        wks = [w.worker(args) for _ in range(nw)]
        time.sleep(interval / 1000.0 + a.warmup)
        pids = [k.proc.pid for k in wks]
        m = window(w, pids, a.seconds, hists=True)
        for k in wks:
            k.stop()
        lag = m["lag"]
        row = {"workers": nw, "polls_per_s": m["polls"] / m["secs"],
               "lag_p50_ms": lag.quantile(0.50) / 1000, "lag_p99_ms": lag.quantile(0.99) / 1000,
               "lag_max_ms": lag.top() / 1000, "lag_samples": lag.count,
               "worker_cpu_us_per_poll": per(sum(m["cpu"].values()), m["polls"])}
        out["fixed"].append(row)
        log("   fixed %.0f polls/s offered, %d worker(s): %.0f polls/s, lag p50 %.1f p99 %.1f max %.1f ms" %
            (out["fixed_load"]["offered_polls_per_s"], nw, row["polls_per_s"], row["lag_p50_ms"],
             row["lag_p99_ms"], row["lag_max_ms"]))
    res["scaling"] = out


# --- 4. seed test 6 -------------------------------------------------------------------------

SEED6_REPS = 3


def scenario_seed6(a, res):
    """p50 poll latency with 1 user and with 5, every 2 s: 3 repetitions,
    the order alternating (a window of 1 user holds ~20 polls, so one
    window's p50 moves with the machine; each verdict is a median)."""
    secs = 15 if a.quick else 40
    log("4. seed test 6: poll latency, 1 user and 5 users, every 2 s, %d s each, %d repetitions" % (secs, SEED6_REPS))
    w = World()
    w.add_users(5, interval_ms=2000)
    for u in w.rows[1:]:
        H.spotwatch(w.r, "watch", "stop", u["user"], extra=w.extra)
    wk = w.worker(["--log-level", "warn", "--smart-polling", "no", "--poll-interval-ms", "2000"])
    w.wait_polls(2, 30)
    runs, watching = [], 1

    def watch(n):
        verb = "start" if n == 5 else "stop"
        for u in w.rows[1:]:
            H.spotwatch(w.r, "watch", verb, u["user"], extra=w.extra + (["--poll-interval-ms", "2000"] if n == 5 else []))
        time.sleep(2.5)
    for i in range(SEED6_REPS):
        run = {}
        for n in ((1, 5) if i % 2 == 0 else (5, 1)):
            if n != watching:
                watch(n)
                watching = n
            m = window(w, [wk.proc.pid], secs, hists=True)
            lat = m["lat"]
            run["users_%d" % n] = {"polls": m["polls"], "p50_ms": lat.quantile(0.50) / 1000,
                                   "p95_ms": lat.quantile(0.95) / 1000, "p99_ms": lat.quantile(0.99) / 1000,
                                   "max_ms": lat.top() / 1000, "samples": lat.count}
        p1, p5 = run["users_1"]["p50_ms"], run["users_5"]["p50_ms"]
        run["ratio_p50_5_vs_1"] = p5 / p1 if p1 else float("nan")
        runs.append(run)
        log("   run %d: " % (i + 1) + "; ".join("%d user(s): %d polls, latency p50 %.3f p95 %.3f p99 %.3f ms" %
                                                 (n, run["users_%d" % n]["polls"], run["users_%d" % n]["p50_ms"],
                                                  run["users_%d" % n]["p95_ms"], run["users_%d" % n]["p99_ms"])
                                                 for n in (1, 5)) + "; ratio %.3f" % run["ratio_p50_5_vs_1"])
    wk.stop()
    out = {"seconds": secs, "runs": runs}
    for n in (1, 5):
        out["users_%d" % n] = {k: median_spread([r["users_%d" % n][k] for r in runs])["median"]
                               for k in ("polls", "p50_ms", "p95_ms", "p99_ms", "max_ms", "samples")}
    out["spread"] = median_spread([r["ratio_p50_5_vs_1"] for r in runs])
    out["ratio_p50_5_vs_1"] = out["spread"]["median"]
    log("   ratio p50(5 users) / p50(1 user), median of %d = %.3f (%.3f-%.3f; seed limit 1.5, target < 1.1)" %
        (SEED6_REPS, out["ratio_p50_5_vs_1"], out["spread"]["min"], out["spread"]["max"]))
    res["seed6"] = out
    w.stop()


# --- 5. memory -----------------------------------------------------------------------------

def mem_usage(c, key):
    return int(c.cmd("MEMORY", "USAGE", key, "SAMPLES", "0") or 0)


def scenario_memory(a, res):
    total = a.memory_users
    first = min(1000, total)
    secs = 10 if a.quick else 20
    log("5. memory: Redis bytes per user, worker RSS at %d and %d users" % (first, total))
    w = World()
    c = w.c
    c.cmd("MEMORY", "PURGE")
    m0 = int(c.cmd("INFO", "memory").split("used_memory:")[1].split()[0])
    out = {"users": total}
    w.add_users(first)

    def rss_run(label):
        wk = w.worker(SATURATE)
        w.wait_polls(min(len(w.rows), 1000), 120)
        t0, p0 = time.time(), w.polls()
        samples = []
        while time.time() < t0 + secs:
            time.sleep(1)
            samples.append(proc_status(wk.proc.pid)["VmRSS"])
        st = proc_status(wk.proc.pid)
        polls = w.polls() - p0
        wk.stop()
        out[label] = {"rss_kib": st["VmRSS"], "hwm_kib": st["VmHWM"], "polls": polls,
                      "polls_per_s": polls / (time.time() - t0), "rss_samples_kib": samples}
        log("   %s: worker RSS %d KiB (peak %d KiB) after %d polls; per second: %s" %
            (label, st["VmRSS"], st["VmHWM"], polls, " ".join(str(x) for x in samples)))

    rss_run("worker_%d" % first)
    c.cmd("MEMORY", "PURGE")
    m1 = int(c.cmd("INFO", "memory").split("used_memory:")[1].split()[0])
    w.add_users(total - first, start=first)
    c.cmd("MEMORY", "PURGE")
    m2 = int(c.cmd("INFO", "memory").split("used_memory:")[1].split()[0])
    out["bytes_per_user_imported"] = (m2 - m1) / max(1, total - first)
    rss_run("worker_%d" % total)
    c.cmd("MEMORY", "PURGE")
    m3 = int(c.cmd("INFO", "memory").split("used_memory:")[1].split()[0])
    stream = mem_usage(c, "sw:{%s}:events" % APP)
    sample = [r["user"] for r in w.rows[::max(1, total // 200)]]
    hashes = [mem_usage(c, "sw:{%s}:user:%s" % (APP, u)) for u in sample]
    due = mem_usage(c, "sw:{%s}:due" % APP)
    directory = mem_usage(c, "sw:users")
    out.update({"used_memory_empty": m0, "used_memory_after": m3,
                "bytes_per_user_steady": (m3 - m0 - stream) / total,
                "events_stream_bytes": stream,
                "user_hash_bytes_avg": sum(hashes) / len(hashes),
                "due_zset_bytes_per_user": due / total,
                "directory_bytes_per_user": directory / total,
                "sealed_access_token_chars": len(c.cmd("HGET", "sw:{%s}:user:%s" % (APP, sample[0]), "access_token")),
                "sealed_refresh_token_chars": len(c.cmd("HGET", "sw:{%s}:user:%s" % (APP, sample[0]), "refresh_token")),
                "sim_access_token_chars": len(w.rows[0]["access_token"]),
                "sim_refresh_token_chars": len(w.rows[0]["refresh_token"])})
    out["user_hash_encoding"] = c.cmd("OBJECT", "ENCODING", "sw:{%s}:user:%s" % (APP, sample[0]))
    log("   Redis: %.0f bytes/user as imported, %.0f bytes/user after polling (user hash %.0f %s, due %.0f, "
        "directory %.0f; events stream %d bytes not counted)" %
        (out["bytes_per_user_imported"], out["bytes_per_user_steady"], out["user_hash_bytes_avg"],
         out["user_hash_encoding"], out["due_zset_bytes_per_user"], out["directory_bytes_per_user"], stream))
    listpack_memory(w, out, sample)
    res["memory"] = out
    w.stop()


def used_memory(c):
    c.cmd("MEMORY", "PURGE")
    return int(c.cmd("INFO", "memory").split("used_memory:")[1].split()[0])


def listpack_memory(w, out, sample):
    """The same users in a Redis with hash-max-listpack-value 512 (README's
    advice): sealed tokens (~190 and ~130 bytes for Spotify-length tokens)
    exceed the default 64, which turns every user hash into a hashtable. Imported again, then every polled user
    hash copied over with DUMP/RESTORE (re-encoded under this setting)."""
    r2 = H.RedisServer(extra=["hash-max-listpack-value 512"])
    c2, c = r2.client(), w.c
    H.spotwatch(r2, "app", "add", APP, "--client-id", CID, "--client-secret", "s", "--mode", "extended",
                extra=w.extra)
    n0 = used_memory(c2)
    import_users(r2, w.rows, w.extra + ["--poll-interval-ms", "10"])
    n1 = used_memory(c2)
    keys = ["sw:{%s}:user:%s" % (APP, r["user"]) for r in w.rows]
    for i in range(0, len(keys), 500):
        chunk = keys[i:i + 500]
        for k in chunk:
            c.send("DUMP", k)
        payloads = [c._read() for _ in chunk]
        for k, p in zip(chunk, payloads):
            c2.send("RESTORE", k, 0, p, "REPLACE")
        for _ in chunk:
            rep = c2._read()
            if isinstance(rep, Exception):
                raise rep
    n2 = used_memory(c2)
    total = len(w.rows)
    hashes = [mem_usage(c2, "sw:{%s}:user:%s" % (APP, u)) for u in sample]
    out.update({"bytes_per_user_imported_lp512": (n1 - n0) / total,
                "bytes_per_user_steady_lp512": (n2 - n0) / total,
                "user_hash_bytes_avg_lp512": sum(hashes) / len(hashes),
                "user_hash_encoding_lp512": c2.cmd("OBJECT", "ENCODING", "sw:{%s}:user:%s" % (APP, sample[0]))})
    log("   with hash-max-listpack-value 512: %.0f bytes/user as imported, %.0f after polling (user hash %.0f %s)" %
        (out["bytes_per_user_imported_lp512"], out["bytes_per_user_steady_lp512"], out["user_hash_bytes_avg_lp512"],
         out["user_hash_encoding_lp512"]))


# --- 6. BullMQ ----------------------------------------------------------------------------

BULLMQ_CONCURRENCY = int(os.environ.get("SW_BENCH_BULLMQ_CONCURRENCY", "100"))


def bullmq_install(log_to):
    """npm install the poller's dependencies in a temp dir; its path or None."""
    if not shutil.which("node") or not shutil.which("npm"):
        return None, "node/npm not installed"
    d = os.path.join(H.tmpdir(), "bullmq")
    os.makedirs(d)
    for f in ("package.json", "poller.js"):
        shutil.copy(os.path.join(HERE, "bullmq", f), d)
    try:
        r = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=d,
                           capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return None, "npm install timed out"
    if r.returncode != 0:
        return None, "npm install failed: " + (r.stderr or r.stdout).strip()[-300:]
    ver = json.load(open(os.path.join(d, "node_modules", "bullmq", "package.json")))["version"]
    uver = json.load(open(os.path.join(d, "node_modules", "undici", "package.json")))["version"]
    log_to["bullmq_version"], log_to["undici_version"] = ver, uver
    return d, None


def spotwatch_window(a, w):
    """One worker flat out on w's users: its polls, worker CPU and Redis cost."""
    wk = w.worker(SATURATE)
    w.wait_polls(2000, 60)
    time.sleep(a.warmup)
    m = window(w, [wk.proc.pid], a.seconds)
    wk.stop()
    cpu = m["cpu"][wk.proc.pid]
    return {"polls_per_s": m["polls"] / m["secs"], "worker_cpu_s": cpu,
            "polls_per_worker_cpu_s": m["polls"] / cpu if cpu else 0,
            "redis_cpu_us_per_poll": per(m["redis_cpu"], m["polls"]),
            "redis_commands_per_poll": m["redis_calls"] / m["polls"] if m["polls"] else 0,
            "redis_scripts_per_poll": m["redis_scripts"] / m["polls"] if m["polls"] else 0}


def bullmq_window(a, w, d, env):
    """The BullMQ poller flat out on the same users: the same figures, polls
    counted by the simulator (BullMQ keeps no counter of its own)."""
    p = H.Proc(["node", "poller.js"], "bullmq", env=env, stdout_pipe=True, cwd=d)
    line = p.p.stdout.readline().decode()
    if "ready" not in line:
        out = p.output()[-300:]
        p.stop()
        return None, "poller did not start: " + out
    base = w.sim.stats()["requests"]["total"]
    H.wait_for(lambda: w.sim.stats()["requests"]["total"] > base + 2000, 60, "BullMQ polls")
    time.sleep(a.warmup)
    c = w.c
    s0, r0, c0, t0 = w.sim.stats()["requests"]["total"], RedisSnap(c), proc_cpu(p.pid), time.time()
    time.sleep(a.seconds)
    s1, r1, c1, t1 = w.sim.stats()["requests"]["total"], RedisSnap(c), proc_cpu(p.pid), time.time()
    p.stop()
    polls = s1 - s0
    calls, _ = r1.delta_calls(r0)
    return {"polls_per_s": polls / (t1 - t0), "worker_cpu_s": c1 - c0,
            "polls_per_worker_cpu_s": polls / (c1 - c0) if c1 > c0 else 0,
            "redis_cpu_us_per_poll": per(r1.cpu - r0.cpu, polls),
            "redis_commands_per_poll": calls / polls if polls else 0}, None


def bullmq_setup(w, d):
    """The BullMQ poller (installed in d) given w's users: one job scheduler
    each, every 10 ms, in w's Redis. Returns (the poller's environment, None)
    or (None, why)."""
    users = os.path.join(d, "users.jsonl")
    with open(users, "w") as f:
        for r in w.rows:
            f.write(json.dumps({"user": r["user"], "access_token": r["access_token"]}) + "\n")
    env = {"REDIS_PORT": str(w.r.port), "API_BASE": w.sim.api, "USERS_FILE": users, "EVERY_MS": "10",
           "CONCURRENCY": str(BULLMQ_CONCURRENCY), "CONNECTIONS": "32"}
    t0 = time.time()
    setup = subprocess.run(["node", "poller.js"], cwd=d, env=dict(os.environ, SETUP="1", **env),
                           capture_output=True, text=True, timeout=900)
    if setup.returncode != 0:
        return None, "poller setup failed: " + setup.stderr[-300:]
    log("   %d job schedulers created in %.1fs" % (len(w.rows), time.time() - t0))
    return env, None


BULLMQ_REPS = 3
BULLMQ_FIGURES = ("polls_per_s", "polls_per_worker_cpu_s", "redis_cpu_us_per_poll", "redis_commands_per_poll")


def scenario_bullmq(a, res, w):
    """spotwatch and BullMQ alternately, BULLMQ_REPS times each on the same
    Redis and simulator; each ratio is taken per pair of windows, and every
    figure reported is the median of the repetitions, with min-max."""
    log("6. BullMQ side by side: %d users on the same Redis and simulator; %d repetitions" %
        (len(w.rows), BULLMQ_REPS))
    out = {"concurrency": BULLMQ_CONCURRENCY, "connections": 32, "reps": BULLMQ_REPS}
    d, why = bullmq_install(out)
    # spotwatch's first window before BullMQ's job schedulers exist
    sws = [spotwatch_window(a, w)]
    out["spotwatch"] = sws[0]
    if d is None:
        out["skipped"] = why
        log("   BullMQ skipped: %s" % why)
        res["bullmq"] = out
        return
    env, why = bullmq_setup(w, d)
    if env is None:
        out["skipped"] = why
        log("   BullMQ skipped: %s" % why)
        res["bullmq"] = out
        return
    bqs = []
    for i in range(BULLMQ_REPS):
        if i > 0:
            sws.append(spotwatch_window(a, w))
        bq, why = bullmq_window(a, w, d, env)
        if bq is None:
            out["skipped"] = why
            res["bullmq"] = out
            return
        bqs.append(bq)
        sw = sws[-1]
        log("   run %d: spotwatch %.0f polls/s, %.0f polls per worker CPU-s, Redis %.1f us/poll (%.2f commands); "
            "BullMQ %.0f polls/s, %.0f polls per worker CPU-s, Redis %.1f us/poll (%.2f commands)" %
            (i + 1, sw["polls_per_s"], sw["polls_per_worker_cpu_s"], sw["redis_cpu_us_per_poll"],
             sw["redis_commands_per_poll"], bq["polls_per_s"], bq["polls_per_worker_cpu_s"],
             bq["redis_cpu_us_per_poll"], bq["redis_commands_per_poll"]))
    out["runs"] = [{"spotwatch": x, "bullmq": y} for x, y in zip(sws, bqs)]
    out["spotwatch"] = {k: median_spread([x[k] for x in sws])["median"] for k in BULLMQ_FIGURES}
    out["bullmq"] = {k: median_spread([x[k] for x in bqs])["median"] for k in BULLMQ_FIGURES}
    cpu = [x["polls_per_worker_cpu_s"] / y["polls_per_worker_cpu_s"] if y["polls_per_worker_cpu_s"] else 0
           for x, y in zip(sws, bqs)]
    redis = [y["redis_cpu_us_per_poll"] / x["redis_cpu_us_per_poll"] if x["redis_cpu_us_per_poll"] else 0
             for x, y in zip(sws, bqs)]
    out["spread"] = {"ratio_polls_per_cpu_s": median_spread(cpu), "ratio_redis_cpu_per_poll": median_spread(redis),
                     "spotwatch_redis_cpu_us_per_poll": median_spread([x["redis_cpu_us_per_poll"] for x in sws]),
                     "bullmq_redis_cpu_us_per_poll": median_spread([y["redis_cpu_us_per_poll"] for y in bqs])}
    out["ratio_polls_per_cpu_s"] = out["spread"]["ratio_polls_per_cpu_s"]["median"]
    out["ratio_redis_cpu_per_poll"] = out["spread"]["ratio_redis_cpu_per_poll"]["median"]
    log("   medians: spotwatch / BullMQ polls per worker CPU-s %.2f (%.2f-%.2f); BullMQ / spotwatch Redis CPU "
        "per poll %.2f (%.2f-%.2f)" %
        (out["ratio_polls_per_cpu_s"], min(cpu), max(cpu), out["ratio_redis_cpu_per_poll"], min(redis), max(redis)))
    res["bullmq"] = out



# --- 8. Redis Cluster ---------------------------------------------------------------------

# One fixed load in both modes (not saturated: a constant cost per second,
# such as the cluster bus's pings, shows as it would in production).
CLUSTER_USERS, CLUSTER_INTERVAL_MS, CLUSTER_WORKERS = 2400, 1000, 2
# Five: one run's ratio moves by +-15 % on a 2-CPU machine shared by six
# processes (measured: 1.02-1.20 in ten runs of the same build).
CLUSTER_REPS = 5


MODES = (("single", "one redis-server"), ("cluster1", "a one-node cluster"), ("cluster", "3 primaries"))


def cluster_worlds(a, modes=("single", "cluster1", "cluster"), users=None, interval_ms=CLUSTER_INTERVAL_MS):
    """One simulator; one redis-server, a one-node cluster (every slot on
    it: cluster mode's own cost, apart from the split) and a 3-primary
    cluster (those of them in modes); no replicas (replication costs the
    same per write in every mode); all with the harness's settings
    (hash-max-listpack-value 512), all holding the same 6 apps (two per
    primary of the 3) and the same users. Returns (sim, {mode: redis},
    apps, extra, users)."""
    sim = H.Sim(list(SIM_ARGS))
    make = {"single": H.RedisServer, "cluster1": lambda: H.RedisCluster(primaries=1, replicas=0),
            "cluster": lambda: H.RedisCluster(primaries=3, replicas=0)}
    worlds = {m: make[m]() for m in modes}
    key = os.path.join(H.tmpdir(), "token.key")
    H.spotwatch(worlds["single"], "keygen", key)
    extra = ["--token-key-file", key, "--poll-interval-ms", str(interval_ms)]
    by_primary = worlds["cluster"].apps_per_primary(per=2, prefix="bench")
    apps = [x for p in sorted(by_primary) for x in by_primary[p]]
    n = users or CLUSTER_USERS // (2 if a.quick else 1)
    rows = []
    for app in apps:
        cid = "cid-" + app
        sim.ok("POST", "/sim/apps", {"client_id": cid, "client_secret": "s3cret-" + app,
                                     "redirect_uris": ["http://127.0.0.1/callback"], "mode": "extended",
                                     "allowlist": []})
        # tracks of 4 hours: no playback change (an event per user in every
        # mode, as the 10-minute tracks of playing() would end) during the runs
        rows += mint_users(sim, cid, app, ["%s-u%05d" % (app, i) for i in range(n // len(apps))],
                           play_fn=lambda u: playing(u, duration_ms=4 * 3600000))
        for r in worlds.values():
            H.spotwatch(r, "app", "add", app, "--client-id", cid, "--client-secret", "s3cret-" + app,
                        "--mode", "extended", extra=extra)
    for mode, r in worlds.items():
        log("  %s: %s" % (mode, import_users(r, rows, extra)))
    return sim, worlds, apps, extra, len(rows)


def cluster_load(a, r, sim, extra, apps, interval_ms=CLUSTER_INTERVAL_MS):
    """Spread the users' next polls over one interval, start the workers
    on r, warm up. Returns the workers."""
    c = r.client()
    now = int(c.cmd("TIME")[0]) * 1000
    for app in apps:
        users = c.cmd("ZRANGE", "sw:{%s}:due" % app, 0, -1)
        args = []
        for i, u in enumerate(users):
            args += [now + i * interval_ms // max(1, len(users)), u]
        if args:
            c.cmd("ZADD", "sw:{%s}:due" % app, "XX", *args)
    args = ["--log-level", "warn", "--smart-polling", "no", "--backfill-interval-ms", "0"]
    wks = [H.Worker(r, sim, extra + args) for _ in range(CLUSTER_WORKERS)]
    time.sleep(interval_ms / 1000.0 + a.warmup)
    return wks


def cluster_window(a, r, sim, extra, apps, snaps_fn):
    """Start the workers on r (cluster_load), measure one window: polls (the
    apps' stats), and the Redis CPU and commands of the servers snaps_fn()
    reads (a RedisSnap each); stop the workers."""
    c = r.client()
    wks = cluster_load(a, r, sim, extra, apps)
    t0, p0, s0 = time.time(), app_polls(c, apps), snaps_fn()
    time.sleep(a.seconds)
    t1, p1, s1 = time.time(), app_polls(c, apps), snaps_fn()
    for k in wks:
        k.stop()
    polls = p1 - p0
    cpu = sum(y.cpu - x.cpu for x, y in zip(s0, s1))
    cpu_sys = sum(y.cpu_sys - x.cpu_sys for x, y in zip(s0, s1))
    calls = sum(y.delta_calls(x)[0] for x, y in zip(s0, s1))
    reads = sum(y.reads - x.reads for x, y in zip(s0, s1))
    scripts = sum(y.delta_calls(x)[1] for x, y in zip(s0, s1))
    by_cmd = {}
    for x, y in zip(s0, s1):
        for k, v in y.calls.items():
            by_cmd[k] = by_cmd.get(k, 0) + v - x.calls.get(k, 0)
    top = sorted(((v, k) for k, v in by_cmd.items() if v and k != "info"), reverse=True)[:8]
    log("     %s: " % r.__class__.__name__ + ", ".join("%s %.2f" % (k, v / float(polls or 1)) for v, k in top))
    return {"polls": polls, "polls_per_s": polls / (t1 - t0), "redis_cpu_s": cpu,
            "redis_cpu_us_per_poll": per(cpu, polls), "redis_cpu_sys_us_per_poll": per(cpu_sys, polls),
            "redis_commands_per_poll": calls / polls if polls else 0,
            "redis_reads_per_poll": reads / polls if polls else 0,
            "redis_scripts_per_poll": scripts / polls if polls else 0}


# Instructions: CPU seconds above move with what else the 2 CPUs run (three
# primaries on two cores evict each other's caches); instructions do not.
# Redis under callgrind runs ~50 times slower: a light load. A claim tick of
# 1 s makes its batches nearly those of 2,400 polls/s (0.25 script calls per
# poll against 0.15, where the default tick at this load gives 2-3, whose
# fixed parts would then be most of what is counted).
INSTR_USERS, INSTR_INTERVAL_MS, INSTR_SECONDS, INSTR_TICK_MS, INSTR_IDLE_SECONDS = 240, 2000, 20.0, 1000, 10.0


def callgrind_total(pid, prefix):
    """Dump pid's callgrind counts (zeroing them) and return the dump's
    instruction total."""
    before = set(glob.glob("%s.%d*" % (prefix, pid)))
    subprocess.run(["callgrind_control", "-d", str(pid)], check=True, capture_output=True, timeout=120)
    new = [f for f in glob.glob("%s.%d*" % (prefix, pid)) if f not in before]
    H.check(len(new) == 1, "one callgrind dump of %d: %r" % (pid, new))
    with open(new[0]) as f:
        m = re.search(r"^totals:\s+(\d+)", f.read(), re.M)   # (its "summary" can say 0)
    H.check(m is not None, "a total in %s" % new[0])
    return int(m.group(1))


def redis_pids(r):
    """[(pid, connection)] of r's redis-server, or of each of its primaries."""
    ports = [r.port] if isinstance(r, H.RedisServer) else r.primaries()
    out = []
    for p in ports:
        c = H.Redis(p)
        H.on_cleanup(c.close)
        out.append((int(H.parse_info(c.cmd("INFO", "server"))["process_id"]), c))
    return out


def count_instructions(pids, prefix, seconds):
    """Instructions the servers run in the next `seconds`, summed, and the
    seconds counted. What came before is dropped."""
    for p, _ in pids:
        callgrind_total(p, prefix)
    t0 = time.time()
    for p, _ in pids:
        subprocess.run(["callgrind_control", "-i", "on", str(p)], check=True, capture_output=True)
    time.sleep(seconds)
    for p, _ in pids:
        subprocess.run(["callgrind_control", "-i", "off", str(p)], check=True, capture_output=True)
    dt = time.time() - t0
    return sum(callgrind_total(p, prefix) for p, _ in pids), dt


def cluster_instructions(a, load_polls_per_s):
    """Redis instructions per poll, one redis-server against 3 primaries
    summed, each under callgrind, same light load, 3 windows each (the
    order alternates). Each server's instructions per second with no worker
    (serverCron's memory statistics, ~1.1 M a second a process; the cluster
    bus) are measured apart, so that the per-poll work and the per-second
    cost can be put together again at load_polls_per_s (the CPU-seconds
    windows' load): at a light load a per-second cost counted three times
    would be most of the difference. None without valgrind."""
    if not (shutil.which("valgrind") and shutil.which("callgrind_control")):
        log("   instructions: skipped (no valgrind)")
        return None
    prefix = os.path.join(H.tmpdir(), "cg")
    os.environ["SW_REDIS_WRAP"] = "valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=%s.%%p" % prefix
    try:
        sim, worlds, apps, extra, n = cluster_worlds(a, ("single", "cluster"), INSTR_USERS, INSTR_INTERVAL_MS)
    finally:
        del os.environ["SW_REDIS_WRAP"]
    extra = extra + ["--claim-tick-ms", str(INSTR_TICK_MS)]
    pids = {m: redis_pids(worlds[m]) for m in worlds}
    idle = {}
    for mode in ("single", "cluster"):
        instr, dt = count_instructions(pids[mode], prefix, INSTR_IDLE_SECONDS)
        idle[mode] = instr / dt
    log("   idle (no worker), instructions per second: " + ", ".join("%s %.0f" % (m, idle[m]) for m in idle))
    runs = []
    for i in range(3):
        run = {}
        for mode in (("single", "cluster") if i % 2 == 0 else ("cluster", "single")):
            r, c = worlds[mode], worlds[mode].client()
            wks = cluster_load(a, r, sim, extra, apps, INSTR_INTERVAL_MS)
            # the bench's own INFO (latency percentiles, per server) outside the count
            p0, s0 = app_polls(c, apps), [RedisSnap(x) for _, x in pids[mode]]
            instr, dt = count_instructions(pids[mode], prefix, INSTR_SECONDS)
            p1, s1 = app_polls(c, apps), [RedisSnap(x) for _, x in pids[mode]]
            for k in wks:
                k.stop()
            polls = p1 - p0
            work = per(instr - idle[mode] * dt, polls, 1)
            run[mode] = {"polls": polls, "instructions_per_poll": per(instr, polls, 1), "work_per_poll": work,
                         "at_load_per_poll": work + idle[mode] / load_polls_per_s,
                         "scripts_per_poll": per(sum(y.delta_calls(x)[1] for x, y in zip(s0, s1)), polls, 1)}
        for k in ("instructions_per_poll", "work_per_poll", "at_load_per_poll"):
            run["ratio_" + k] = per(run["cluster"][k], run["single"][k], 1)
        run["ratio"] = run["ratio_at_load_per_poll"]
        runs.append(run)
        log("   instructions, run %d: " % (i + 1) +
            "; ".join("%s %d polls, %.0f per poll (%.0f without the idle cost), %.3f script calls per poll" %
                      (m, run[m]["polls"], run[m]["instructions_per_poll"], run[m]["work_per_poll"],
                       run[m]["scripts_per_poll"]) for m in ("single", "cluster")) +
            "; cluster / single: %.3f as counted, %.3f at %.0f polls/s" %
            (run["ratio_instructions_per_poll"], run["ratio"], load_polls_per_s))
    H.cleanup()
    out = {"users": n, "interval_ms": INSTR_INTERVAL_MS, "seconds": INSTR_SECONDS, "tick_ms": INSTR_TICK_MS,
           "idle_instructions_per_s": idle, "load_polls_per_s": load_polls_per_s, "runs": runs}
    for m in ("single", "cluster"):
        for k in ("instructions_per_poll", "work_per_poll", "at_load_per_poll", "scripts_per_poll"):
            out["%s_%s" % (m, k)] = median_spread([r[m][k] for r in runs])
        out[m] = out["%s_instructions_per_poll" % m]
    for k in ("instructions_per_poll", "work_per_poll", "at_load_per_poll"):
        out["ratio_" + k] = out["cluster_" + k]["median"] / out["single_" + k]["median"]
    out["ratio"] = out["ratio_at_load_per_poll"]
    return out


def cluster_instructions_again(a):
    """Scenario 8's instruction count measured again, put into the last
    run's bench-results.json (whose cluster windows give the load)."""
    with open(a.json) as f:
        res = json.load(f)
    H.check("cluster" in res, "%s holds a run of scenario 8 (--only cluster)" % a.json)
    cl = res["cluster"]
    cl["instructions"] = cluster_instructions(a, cl["single_polls_per_s"]["median"])
    res["command"] += "; then tests/bench/bench.py --only cluster-instructions (%s)" % time.strftime("%Y-%m-%d %H:%M:%S %Z")
    return res


def scenario_cluster(a, res):
    log("8. Redis Cluster: the same 6 apps and users on one redis-server, a one-node cluster and 3 primaries; "
        "%d repetitions" % CLUSTER_REPS)
    sim, worlds, apps, extra, n = cluster_worlds(a)
    conns = {"single": [worlds["single"].client()]}
    for m in ("cluster1", "cluster"):
        conns[m] = [H.Redis(p) for p in worlds[m].primaries()]
        for x in conns[m]:
            H.on_cleanup(x.close)
    snaps = {m: (lambda cs=cs: [RedisSnap(x) for x in cs]) for m, cs in conns.items()}
    idle = {}
    for mode, _ in MODES:
        c0 = sum(x.cpu for x in snaps[mode]())
        time.sleep(a.seconds / 2)
        idle[mode] = (sum(x.cpu for x in snaps[mode]()) - c0) * 1e6 / (a.seconds / 2)
    log("   idle (no worker), Redis CPU us per second: " + ", ".join("%s %.0f" % (m, idle[m]) for m, _ in MODES))
    runs = []
    for i in range(CLUSTER_REPS):
        # the order rotates, so that a drift in the machine's other load
        # weighs on every mode alike
        order = [m for m, _ in MODES[i % 3:] + MODES[:i % 3]]
        run = {m: cluster_window(a, worlds[m], sim, extra, apps, snaps[m]) for m in order}
        for m in ("cluster1", "cluster"):
            run[m]["ratio_vs_single"] = per(run[m]["redis_cpu_us_per_poll"], run["single"]["redis_cpu_us_per_poll"], 1)
        runs.append(run)
        log("   run %d: " % (i + 1) + "; ".join("%s %.0f polls/s, Redis %.2f us, %.2f commands and %.3f reads per poll" %
                                                (m, run[m]["polls_per_s"], run[m]["redis_cpu_us_per_poll"],
                                                 run[m]["redis_commands_per_poll"], run[m]["redis_reads_per_poll"])
                                                for m, _ in MODES) +
            "; cluster / single %.3f" % run["cluster"]["ratio_vs_single"])
    out = {"users": n, "apps": len(apps), "primaries": len(worlds["cluster"].primaries()),
           "interval_ms": CLUSTER_INTERVAL_MS, "workers": CLUSTER_WORKERS, "seconds": a.seconds, "runs": runs,
           "idle_cpu_us_per_s": idle}
    for m, _ in MODES:
        for k in ("polls_per_s", "redis_cpu_us_per_poll", "redis_cpu_sys_us_per_poll", "redis_commands_per_poll",
                  "redis_reads_per_poll", "redis_scripts_per_poll"):
            out["%s_%s" % (m, k)] = median_spread([r[m][k] for r in runs])
    single = out["single_redis_cpu_us_per_poll"]["median"]
    out["ratio_runs"] = median_spread([r["cluster"]["ratio_vs_single"] for r in runs])
    out["ratio"] = out["cluster_redis_cpu_us_per_poll"]["median"] / single
    out["ratio1"] = out["cluster1_redis_cpu_us_per_poll"]["median"] / single
    H.cleanup()
    out["instructions"] = cluster_instructions(a, out["single_polls_per_s"]["median"])
    res["cluster"] = out
    log("   medians, Redis CPU per poll: single node %.2f us, one-node cluster %.2f us (x %.3f), 3 primaries "
        "%.2f us (x %.3f; per run %.3f-%.3f)" %
        (single, out["cluster1_redis_cpu_us_per_poll"]["median"], out["ratio1"],
         out["cluster_redis_cpu_us_per_poll"]["median"], out["ratio"], out["ratio_runs"]["min"],
         out["ratio_runs"]["max"]))
    H.cleanup()

# --- report -------------------------------------------------------------------------------------

def fmt(v, nd=1):
    if isinstance(v, float):
        if v != v:
            return "n/a"
        return ("%%.%df" % nd) % v
    return str(v)


def table(res):
    """Rows of (scenario, figure, value, target) for the printed table and RESULTS.md."""
    rows = []
    c = res.get("cost")
    if c:
        rows += [("1 cost per poll", "polls/s (1 worker, %d users, saturated)" % c["users"], fmt(c["polls_per_s"], 0), ""),
                 ("", "worker CPU per poll (us)", fmt(c["worker_cpu_us_per_poll"]), ""),
                 ("", "wrk CPU per request (us), %d connections" % c["wrk"]["conns"], fmt(c["wrk"]["cpu_us_per_req"]), "")]
        if "curl_floor" in c:
            rows += [("", "bare libcurl CPU per request (us), %d connections (tests/bench/curl_floor.c)" %
                      c["curl_floor"]["conns"], fmt(c["curl_floor"]["cpu_us_per_req"]), "")]
        def spread(k):
            sp = c.get("spread", {}).get(k)
            return fmt(c[k], 2) + (" (%s-%s)" % (fmt(sp["min"], 2), fmt(sp["max"], 2)) if sp else "")
        rows += [("", "worker / wrk" + (", median (min-max) of 3" if "spread" in c else ""), spread("ratio_vs_wrk"), "< 2")]
        if "curl_floor" in c:
            rows += [("", "worker / bare libcurl", spread("ratio_vs_curl_floor"), "<= 1.3"),
                     ("", "bare libcurl / wrk", spread("curl_floor_vs_wrk"), "")]
        rows += [("", "Redis CPU per poll (us)", fmt(c["redis_cpu_us_per_poll"]), ""),
                 ("", "Redis commands per poll (incl. inside scripts)", fmt(c["redis_commands_per_poll"], 2), ""),
                 ("", "Redis script calls per poll", fmt(c["redis_scripts_per_poll"], 3), ""),
                 ("", "simulator CPU per request (us): spotwatch / wrk" + (" / bare libcurl" if "curl_floor" in c else ""),
                  " / ".join(fmt(x) for x in [c["sim_cpu_us_per_request"], c["wrk"]["sim_cpu_us_per_req"]] +
                             ([c["curl_floor"]["sim_cpu_us_per_req"]] if "curl_floor" in c else [])), "")]
    for r in res.get("ceiling", []):
        rows.append(("2 scheduler ceiling" if r is res["ceiling"][0] else "",
                     "%d worker(s), claim-batch %d: polls/s; Redis us/poll; polls per Redis core-s" %
                     (r["workers"], r["claim_batch"]),
                     "%s; %s; %s" % (fmt(r["polls_per_s"], 0), fmt(r["redis_cpu_us_per_poll"]), fmt(r["polls_per_redis_core_s"], 0)),
                     ">= 50000 per core"))
    s = res.get("scaling")
    if s:
        for r in s["capacity"]:
            rows.append(("3 scaling" if r is s["capacity"][0] else "", "%d worker(s) saturated: polls/s" % r["workers"],
                         fmt(r["polls_per_s"], 0), ""))
        fl = s["fixed_load"]
        for r in s["fixed"]:
            rows.append(("", "%d worker(s), %.0f polls/s offered: polls/s; lag p50/p99/max ms" %
                         (r["workers"], fl["offered_polls_per_s"]),
                         "%s; %s / %s / %s" % (fmt(r["polls_per_s"], 0), fmt(r["lag_p50_ms"]), fmt(r["lag_p99_ms"]),
                                               fmt(r["lag_max_ms"])), ""))
    s6 = res.get("seed6")
    if s6:
        reps = " (medians of %d)" % len(s6["runs"]) if "runs" in s6 else ""
        for n in (1, 5):
            u = s6["users_%d" % n]
            rows.append(("4 seed test 6" if n == 1 else "", "%d user(s), %d s: latency p50/p95/p99 ms%s" %
                         (n, s6["seconds"], reps),
                         "%s / %s / %s" % (fmt(u["p50_ms"], 3), fmt(u["p95_ms"], 3), fmt(u["p99_ms"], 3)), ""))
        sp = s6.get("spread")
        rows.append(("", "p50 ratio 5 users / 1 user" + (", median (min-max) of %d" % len(s6["runs"]) if sp else ""),
                     fmt(s6["ratio_p50_5_vs_1"], 3) + (" (%s-%s)" % (fmt(sp["min"], 3), fmt(sp["max"], 3)) if sp else ""),
                     "< 1.1 (seed limit 1.5)"))
    m = res.get("memory")
    if m:
        rows += [("5 memory", "Redis bytes per user, as imported (tokens sealed), Redis defaults",
                  fmt(m["bytes_per_user_imported"], 0), "< 1024"),
                 ("", "Redis bytes per user, after polling (state, counters), Redis defaults",
                  fmt(m["bytes_per_user_steady"], 0), "< 1024")]
        if "bytes_per_user_steady_lp512" in m:
            rows += [("", "same, hash-max-listpack-value 512: as imported; after polling",
                      "%s; %s" % (fmt(m["bytes_per_user_imported_lp512"], 0), fmt(m["bytes_per_user_steady_lp512"], 0)),
                      "< 1024")]
        rows += [
                 ("", "worker RSS KiB at %d users" % 1000, str(m.get("worker_1000", {}).get("rss_kib", "n/a")), ""),
                 ("", "worker RSS KiB at %d users" % m["users"], str(m.get("worker_%d" % m["users"], {}).get("rss_kib", "n/a")),
                  "no growth")]
    t = res.get("tls")
    if t:
        def ms(k, nd=1):
            v = t[k]
            return "%s (%s-%s)" % (fmt(v["median"], nd), fmt(v["min"], nd), fmt(v["max"], nd))
        rows += [("7 TLS + HTTP/2", "polls/s (1 worker, %d users, saturated, max-inflight %d); median (min-max) of 3" %
                  (t["users"], t["max_inflight"]), ms("polls_per_s", 0), ""),
                 ("", "worker CPU per poll (us)", ms("worker_cpu_us_per_poll"), ""),
                 ("", "bare libcurl CPU per request (us), same connections and streams", ms("curl_floor_cpu_us_per_req"), ""),
                 ("", "worker / bare libcurl", ms("ratio_vs_curl_floor", 2), "<= 1.1"),
                 ("", "worker TCP connections opened; streams per connection (server allows %d)" % t["server_streams"],
                  "%s; %d" % ("/".join(str(r["worker_connections"]) for r in t["runs"]), t["max_inflight"]), "1"),
                 ("", "bare libcurl connections opened", "/".join(str(r["curl_floor"]["connections_opened"]) for r in t["runs"]), ""),
                 ("", "poll latency p50 / p99 ms", "%s / %s" % (ms("lat_p50_ms", 2), ms("lat_p99_ms", 2)), "")]
    cl = res.get("cluster")
    if cl:
        rows += cluster_rows(cl)
    b = res.get("bullmq")
    if b:
        sw = b["spotwatch"]
        reps = " (median of %d)" % b["reps"] if b.get("reps") and "runs" in b else ""
        rows.append(("6 BullMQ", "spotwatch%s: polls/s; polls per worker CPU-s; Redis us/poll; Redis commands/poll" % reps,
                     "%s; %s; %s; %s" % (fmt(sw["polls_per_s"], 0), fmt(sw["polls_per_worker_cpu_s"], 0),
                                         fmt(sw["redis_cpu_us_per_poll"]), fmt(sw.get("redis_commands_per_poll", float("nan")), 2)), ""))
        if "bullmq" in b:
            bq = b["bullmq"]
            rows.append(("", "BullMQ %s (concurrency %d)%s: polls/s; polls per worker CPU-s; Redis us/poll; Redis commands/poll" %
                         (b.get("bullmq_version", "?"), b["concurrency"], reps),
                         "%s; %s; %s; %s" % (fmt(bq["polls_per_s"], 0), fmt(bq["polls_per_worker_cpu_s"], 0),
                                             fmt(bq["redis_cpu_us_per_poll"]), fmt(bq.get("redis_commands_per_poll", float("nan")), 2)), ""))
            sp = b.get("spread", {})

            def ratio(k):
                r = sp.get(k)
                return fmt(b[k], 2) + (" (%s-%s)" % (fmt(r["min"], 2), fmt(r["max"], 2)) if r else "")
            rows.append(("", "spotwatch / BullMQ: polls per worker CPU-s", ratio("ratio_polls_per_cpu_s") + " x", ">= 6"))
            rows.append(("", "BullMQ / spotwatch: Redis CPU per poll", ratio("ratio_redis_cpu_per_poll") + " x", ">= 10"))
        else:
            rows.append(("", "BullMQ", "skipped: " + b.get("skipped", "?"), ""))
    return rows


def cluster_rows(cl):
    """Scenario 8's rows (also RESULTS.md's "Redis Cluster" section)."""
    def ms(k, nd=2):
        v = cl[k]
        return "%s (%s-%s)" % (fmt(v["median"], nd), fmt(v["min"], nd), fmt(v["max"], nd))
    idle = cl["idle_cpu_us_per_s"]
    rows = [("8 Redis Cluster", "%d users in %d apps, %d workers, every %d ms, windows of %s s: polls/s, one "
             "redis-server; one-node cluster; 3 primaries; median (min-max) of %d" %
             (cl["users"], cl["apps"], cl["workers"], cl["interval_ms"], fmt(cl["seconds"], 0), len(cl["runs"])),
             "; ".join(ms("%s_polls_per_s" % m, 0) for m, _ in MODES), ""),
            ("", "Redis CPU per poll (us), one redis-server", ms("single_redis_cpu_us_per_poll"), ""),
            ("", "Redis CPU per poll (us), one-node cluster (cluster mode's own cost)",
             ms("cluster1_redis_cpu_us_per_poll"), ""),
            ("", "Redis CPU per poll (us), cluster: %d primaries summed" % cl["primaries"],
             ms("cluster_redis_cpu_us_per_poll"), ""),
            ("", "Redis commands per poll (incl. inside scripts): one redis-server; one-node cluster; 3 primaries",
             "; ".join(ms("%s_redis_commands_per_poll" % m) for m, _ in MODES), ""),
            ("", "script calls per poll (claims and completions), same order",
             "; ".join(ms("%s_redis_scripts_per_poll" % m, 3) for m, _ in MODES if "%s_redis_scripts_per_poll" % m in cl),
             ""),
            ("", "of which system time (us per poll; the rest is user time), same order",
             "; ".join(ms("%s_redis_cpu_sys_us_per_poll" % m) for m, _ in MODES if "%s_redis_cpu_sys_us_per_poll" % m in cl),
             ""),
            ("", "Redis read events per poll (total_reads_processed: wakeups with commands to read), same order",
             "; ".join(ms("%s_redis_reads_per_poll" % m, 3) for m, _ in MODES), ""),
            ("", "idle Redis CPU (us per second, no worker): one redis-server; one-node cluster; 3 primaries",
             "; ".join(fmt(idle[m], 0) for m, _ in MODES), ""),
            ("", "one-node cluster / one redis-server (of the medians)", fmt(cl["ratio1"], 3), ""),
            ("", "3 primaries / one redis-server, CPU seconds (of the medians; per run: min-max)",
             "%s (%s-%s)" % (fmt(cl["ratio"], 3), fmt(cl["ratio_runs"]["min"], 3), fmt(cl["ratio_runs"]["max"], 3)),
             "<= 1.10")] + instruction_rows(cl.get("instructions"))
    return [r for r in rows if r[2]]   # (a figure an older run did not measure: left out)


def instruction_rows(ins):
    if not ins:
        return []
    if "single_work_per_poll" not in ins:   # a run before the idle cost was measured apart
        runs = [r["ratio"] for r in ins["runs"]]
        return [("", "Redis instructions per poll (callgrind; %d users every %d ms, windows of %s s): one "
                 "redis-server; 3 primaries summed; median (min-max) of %d" %
                 (ins["users"], ins["interval_ms"], fmt(ins["seconds"], 0), len(ins["runs"])),
                 "; ".join("%s (%s-%s)" % (fmt(ins[m]["median"], 0), fmt(ins[m]["min"], 0), fmt(ins[m]["max"], 0))
                           for m in ("single", "cluster")), ""),
                ("", "3 primaries / one redis-server, instructions (of the medians; per run: min-max)",
                 "%s (%s-%s)" % (fmt(ins["ratio"], 3), fmt(min(runs), 3), fmt(max(runs), 3)), "<= 1.10")]

    def both(k, nd=0):
        return "; ".join("%s (%s-%s)" % (fmt(ins["%s_%s" % (m, k)]["median"], nd), fmt(ins["%s_%s" % (m, k)]["min"], nd),
                                         fmt(ins["%s_%s" % (m, k)]["max"], nd)) for m in ("single", "cluster"))

    def ratio(k):
        runs = [r["ratio_" + k] for r in ins["runs"]]
        return "%s (%s-%s)" % (fmt(ins["ratio_" + k], 3), fmt(min(runs), 3), fmt(max(runs), 3))
    idle = ins["idle_instructions_per_s"]
    return [("", "Redis instructions (callgrind; %d users every %d ms, claim-tick-ms %d, windows of %s s; one "
             "redis-server; 3 primaries summed; median (min-max) of %d): idle, per second" %
             (ins["users"], ins["interval_ms"], ins["tick_ms"], fmt(ins["seconds"], 0), len(ins["runs"])),
             "%s; %s" % (fmt(idle["single"], 0), fmt(idle["cluster"], 0)), ""),
            ("", "script calls per poll, same order", both("scripts_per_poll", 3), ""),
            ("", "instructions per poll, as counted", both("instructions_per_poll"), ""),
            ("", "instructions per poll, the idle cost taken out (the work per poll)", both("work_per_poll"), ""),
            ("", "instructions per poll at %s polls/s (the work, plus the idle cost spread over those polls)" %
             fmt(ins["load_polls_per_s"], 0), both("at_load_per_poll"), ""),
            ("", "3 primaries / one redis-server, instructions: as counted; the work per poll",
             "%s; %s" % (ratio("instructions_per_poll"), ratio("work_per_poll")), ""),
            ("", "3 primaries / one redis-server, instructions at %s polls/s (of the medians; per run: min-max)" %
             fmt(ins["load_polls_per_s"], 0), ratio("at_load_per_poll"), "<= 1.10")]


def print_table(rows):
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    w2 = max(len(r[2]) for r in rows)
    print("%-*s  %-*s  %-*s  %s" % (w0, "scenario", w1, "figure", w2, "value", "target"))
    print("-" * (w0 + w1 + w2 + 16))
    for r in rows:
        print("%-*s  %-*s  %-*s  %s" % (w0, r[0], w1, r[1], w2, r[2], r[3]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=int(os.environ.get("SW_BENCH_USERS", "10000")))
    ap.add_argument("--quick", action="store_true", default=os.environ.get("SW_BENCH_QUICK") == "1")
    ap.add_argument("--only", default="1,2,3,4,5,6,7,8")
    ap.add_argument("--seconds", type=float, default=0)
    ap.add_argument("--memory-users", type=int, default=100000)
    ap.add_argument("--json", default=os.path.join(ROOT, "bench-results.json"))
    ap.add_argument("--no-results-md", action="store_true")
    ap.add_argument("--render", metavar="JSON", help="only rewrite RESULTS.md from a bench-results.json")
    a = ap.parse_args()
    if a.render:
        import results_md
        res = json.load(open(a.render))
        rows = table(res)
        print_table(rows)
        print("results: %s" % results_md.write(res, rows))
        return
    # 9: scenario 8's instruction count alone, into the last run's figures
    a.only = {{"tls": 7, "cluster": 8, "cluster-instructions": 9}.get(x) or int(x) for x in a.only.split(",") if x}
    a.seconds = a.seconds or (5.0 if a.quick else 10.0)
    a.warmup = 2.0 if a.quick else 3.0
    started = time.time()
    res = {"machine": machine(), "command": " ".join(["tests/bench/bench.py"] + sys.argv[1:]),
           "args": {"users": a.users, "quick": a.quick, "seconds": a.seconds, "memory_users": a.memory_users,
                    "only": sorted(a.only)},
           "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    try:
        if a.only & {1, 2, 3, 6, 7}:
            w = World()
            w.add_users(a.users)
            capacity = 0
            if 1 in a.only:
                scenario_cost(a, res, w)
                capacity = res["cost"]["polls_per_s"]
            if 2 in a.only:
                scenario_ceiling(a, res, w)
            if 3 in a.only:
                scenario_scaling(a, res, w, capacity or 5000)
            if 7 in a.only:
                scenario_tls(a, res, w)
            # Last on this Redis: BullMQ leaves its job schedulers and jobs
            # behind, which would weigh on the Redis figures of the others.
            if 6 in a.only:
                scenario_bullmq(a, res, w)
            w.stop()
        if 4 in a.only:
            scenario_seed6(a, res)
        if 5 in a.only:
            scenario_memory(a, res)
        if 8 in a.only:
            scenario_cluster(a, res)
        if a.only == {9}:
            res = cluster_instructions_again(a)
    finally:
        H.cleanup()
    res["elapsed_s"] = time.time() - started
    smart = os.path.join(ROOT, "build", "bench", "smart_polling.json")
    if os.path.exists(smart):   # `make smart-bench`'s last run: the capacity table's smart polling
        with open(smart) as f:
            res["smart"] = json.load(f)
    rows = table(res)
    print()
    print_table(rows)
    with open(a.json, "w") as f:
        json.dump(res, f, indent=1, default=lambda o: {"count": o.count})
    print("\nfigures: %s" % a.json)
    if not a.no_results_md:
        import results_md
        if a.only in ({8}, {9}):   # the cluster scenario alone: its section only
            path = results_md.write_cluster_section(res, cluster_rows(res["cluster"]))
        else:
            path = results_md.write(res, rows)
        print("results: %s" % path)


if __name__ == "__main__":
    main()
