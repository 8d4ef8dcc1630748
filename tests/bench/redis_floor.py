#!/usr/bin/env python3
"""redis_floor.py: the floor of Redis CPU per poll (issue 17), the Redis
analogue of tests/bench/curl_floor.c. python3 stdlib only.

What could any layout cost Redis per poll that still (a) claims due users
atomically under a lease, in batches, from a due sorted set into a leases
sorted set, (b) reads what a poll needs from the user hash (status, the
sealed access token, expires_at, state) and (c) completes: the lease still
the claimer's (ZSCORE == the claimed score), the lease dropped, the user due
again at now + interval, one field of the user hash written (a packed "last
poll"); (c0): the same writing nothing to the user hash. Two skeleton
scripts (CLAIM_FLOOR, COMPLETE_FLOOR below) do only that, driven by a raw
RESP client, pipelined (--depth EVALSHA in flight), on bench.py's world for
scenario 6 (same users and user hashes as the import writes them, same
redis-server settings, same simulator; the BullMQ poller's job schedulers
created before the first window, so every window sees the same Redis).

One run alternates, --reps times: a real `spotwatch worker` window
(bench.spotwatch_window), floor (c), floor (c0), a BullMQ window
(bench.bullmq_window); each of --seconds after a warm-up. Redis CPU is
Redis' own (INFO used_cpu_*, as bench.window; /proc of redis-server
beside it for the floor); Python's CPU is not counted. Printed per run and
as medians (min-max): Redis CPU us per poll, BullMQ / X, Redis commands per
poll (INFO commandstats, commands inside scripts included).
The kernel's share of redis-server's CPU in each window is printed too.
--callgrind S: afterwards, a second world (--callgrind-users, redis-server
under valgrind --tool=callgrind, as bench.py's instruction counts) and the
floors' Redis instructions per poll over S seconds each, less the server's
idle instructions a second, at each claim batch of --callgrind-batches (the
per-call cost apart from the per-user: batch 1 against 32), and a `spotwatch
worker --bench-fake-poll yes` beside them; --callgrind-keep DIR keeps each
window's dump for callgrind_annotate.

usage: tests/bench/redis_floor.py [--users N] [--seconds S] [--warmup S] [--reps N] [--depth N]
                                  [--callgrind S] [--callgrind-users N] [--callgrind-batches 32,8,1]
                                  [--callgrind-keep DIR] [--skip-cpu] [--json FILE]
e.g.   tests/bench/redis_floor.py --reps 5 --json /tmp/redis_floor.json     (~7 min)
       tests/bench/redis_floor.py --skip-cpu --callgrind 10                  (~3 min)
"""
import argparse
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402
from bench import (APP, SATURATE, World, bullmq_install, bullmq_setup, bullmq_window,  # noqa: E402
                   count_instructions, log, median_spread, per, redis_pids, spotwatch_window, window)
from benchlib import CLK, H, RedisSnap  # noqa: E402

BATCH = 32
LEASE_MS = 30000
INTERVAL_MS = 10          # as SATURATE: every user always due
FIELD = "floor_last_poll"  # the one field (c) writes

# KEYS: due, leases. ARGV: user key prefix, lease ms, batch. Reply: the
# lease score, then per user leased: the user, {status, access_token,
# expires_at, state}. Numbers go to redis.call as integer text.
CLAIM_FLOOR = r"""
local due, leases, prefix = KEYS[1], KEYS[2], ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease_s = string.format('%d', now + tonumber(ARGV[2]))
local users = redis.call('ZRANGEBYSCORE', due, '-inf', string.format('%d', now), 'LIMIT', '0', ARGV[3])
local out, leased, n = {lease_s}, {}, 0
if #users == 0 then return out end
for i = 1, #users do
    local u = users[i]
    local h = redis.call('HMGET', prefix .. u, 'status', 'access_token', 'expires_at', 'state')
    if h[1] == 'active' then
        n = n + 1
        leased[2 * n - 1], leased[2 * n] = lease_s, u
        out[2 * n], out[2 * n + 1] = u, h
    end
end
redis.call('ZREM', due, unpack(users))
if n > 0 then redis.call('ZADD', leases, unpack(leased)) end
return out
"""

# KEYS: due, leases. ARGV: user key prefix, the claimed lease score,
# interval ms, '1' (c: then user, packed last poll pairs) or '0' (c0: then
# users). Reply: the number of completions applied (lease still held).
COMPLETE_FLOOR = r"""
local due, leases, prefix, lease = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due_s = string.format('%d', now + tonumber(ARGV[3]))
local write = ARGV[4] == '1'
local step = write and 2 or 1
local done, back, n = {}, {}, 0
for i = 5, #ARGV, step do
    local u = ARGV[i]
    if redis.call('ZSCORE', leases, u) == lease then
        n = n + 1
        done[n] = u
        back[2 * n - 1], back[2 * n] = due_s, u
        if write then redis.call('HSET', prefix .. u, '""" + FIELD + r"""', ARGV[i + 1]) end
    end
end
if n > 0 then
    redis.call('ZREM', leases, unpack(done))
    redis.call('ZADD', due, unpack(back))
end
return n
"""


def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def read_reply(f):
    """One RESP2 reply from a buffered binary file."""
    line = f.readline()
    t = line[:1]
    if t == b"$":
        n = int(line[1:-2])
        return None if n < 0 else f.read(n + 2)[:-2]
    if t == b"*":
        return [read_reply(f) for _ in range(int(line[1:-2]))]
    if t == b":":
        return int(line[1:-2])
    if t == b"+":
        return line[1:-2]
    raise RuntimeError("Redis: %s" % line[1:-2].decode(errors="replace"))


class FloorDriver(threading.Thread):
    """A raw RESP client running claim-floor / complete-floor chains flat out:
    `depth` chains, each a claim, then the completion of what it took, then
    the next claim, all on one pipelined connection. polls: completions
    applied."""

    def __init__(self, port, shas, keys, prefix, write, depth, batch=32):
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.f = self.sock.makefile("rb", buffering=1 << 20)
        self.claim_sha, self.complete_sha = shas
        self.due, self.leases = keys
        self.prefix, self.write, self.depth = prefix, write, depth
        self.batch = b"%d" % batch
        self.polls = self.claims = self.empty = 0
        self.stopping = False
        self.error = None

    def claim_cmd(self):
        return resp(b"EVALSHA", self.claim_sha, b"2", self.due, self.leases, self.prefix,
                    b"%d" % LEASE_MS, self.batch)

    def complete_cmd(self, lease, users):
        args = [b"EVALSHA", self.complete_sha, b"2", self.due, self.leases, self.prefix, lease,
                b"%d" % INTERVAL_MS, b"1" if self.write else b"0"]
        if self.write:
            # a packed "last poll": when, outcome, HTTP status (the same length
            # as a real one; its content costs Redis nothing more)
            lp = b"%d:ok:200" % int(time.time() * 1000)
            for u in users:
                args += (u, lp)
        else:
            args += users
        return resp(*args)

    def run(self):
        try:
            sock, f = self.sock, self.f
            sock.sendall(self.claim_cmd() * self.depth)
            # each reply in flight is a claim's or a completion's, in order
            inflight = ["claim"] * self.depth
            while inflight:
                kind = inflight.pop(0)
                r = read_reply(f)
                if kind == "claim":
                    self.claims += 1
                    users = r[1::2]
                    if users:
                        sock.sendall(self.complete_cmd(r[0], users))
                        inflight.append("complete")
                    else:
                        self.empty += 1
                        if not self.stopping:
                            sock.sendall(self.claim_cmd())
                            inflight.append("claim")
                else:
                    self.polls += r
                    if not self.stopping:
                        sock.sendall(self.claim_cmd())
                        inflight.append("claim")
        except Exception as e:   # reported by stop()
            self.error = e

    def stop(self):
        """Let the chains in flight complete (nothing left leased), then close."""
        self.stopping = True
        self.join(60)
        self.sock.close()
        H.check(self.error is None, "floor driver: %r" % self.error)


class FloorView:
    """What bench.window reads of a World, with the floor driver's count as
    the polls."""

    def __init__(self, w, driver):
        self.c, self.sim, self.driver = w.c, w.sim, driver

    def polls(self):
        return self.driver.polls


def floor_setup(w):
    """Load the two scripts; the floor's own due set (every user, due now)
    and leases set beside the app's (same hash tag), so spotwatch's schedule
    is not touched. Returns what FloorDriver needs."""
    pfx = "sw:{%s}:" % APP
    due, leases = pfx + "floor:due", pfx + "floor:leases"
    c = w.c
    shas = (c.cmd("SCRIPT", "LOAD", CLAIM_FLOOR).encode(), c.cmd("SCRIPT", "LOAD", COMPLETE_FLOOR).encode())
    c.cmd("DEL", due, leases)
    users = [r["user"] for r in w.rows]
    for k in range(0, len(users), 1000):
        args = []
        for u in users[k:k + 1000]:
            args += ["0", u]
        c.cmd("ZADD", due, *args)
    h = c.hgetall(pfx + "user:" + users[0])
    log("   floor: %d users in %s; a user hash: %s (%s)" %
        (c.cmd("ZCARD", due), due, ", ".join("%s %dB" % (k, len(v)) for k, v in sorted(h.items())),
         c.cmd("OBJECT", "ENCODING", pfx + "user:" + users[0])))
    return {"shas": shas, "keys": (due.encode(), leases.encode()), "prefix": (pfx + "user:").encode()}


def redis_pid(c):
    return int(H.parse_info(c.cmd("INFO", "server"))["process_id"])


def proc_user_sys(pid):
    """User and system CPU seconds of pid, apart (benchlib.proc_cpu sums them)."""
    with open("/proc/%d/stat" % pid) as f:
        x = f.read()
    fields = x[x.rindex(")") + 2:].split()
    return int(fields[11]) / CLK, int(fields[12]) / CLK


def kernel_share(m, pid, before):
    """Put into m (a window's figures, or None) the share of redis-server's
    CPU spent in the kernel since `before` (proc_user_sys; the warm-up
    included)."""
    u0, s0 = before
    u1, s1 = proc_user_sys(pid)
    if m is not None:
        m["redis_sys_share"] = (s1 - s0) / ((u1 - u0) + (s1 - s0)) if (u1 - u0) + (s1 - s0) else 0
    return m


def floor_window(a, w, fl, write):
    """The floor flat out for a.warmup + a.seconds: bench.window's figures."""
    d = FloorDriver(w.r.port, fl["shas"], fl["keys"], fl["prefix"], write, a.depth)
    d.start()
    H.wait_for(lambda: d.polls >= 2000 or d.error is not None, 60, "floor polls")
    time.sleep(a.warmup)
    pid = redis_pid(w.c)
    m = window(FloorView(w, d), [pid, os.getpid()], a.seconds)
    d.stop()
    left = w.c.cmd("ZCARD", fl["keys"][1].decode())
    H.check(left == 0, "floor: %d leases left after the window" % left)
    return {"polls_per_s": m["polls"] / m["secs"], "redis_cpu_us_per_poll": per(m["redis_cpu"], m["polls"]),
            "redis_proc_cpu_us_per_poll": per(m["cpu"][pid], m["polls"]),
            "redis_commands_per_poll": m["redis_calls"] / m["polls"] if m["polls"] else 0,
            "redis_scripts_per_poll": m["redis_scripts"] / m["polls"] if m["polls"] else 0,
            "claims_empty": d.empty, "driver_cpu_s": m["cpu"][os.getpid()], "secs": m["secs"]}


KINDS = (("spotwatch", "spotwatch worker"), ("floor_c", "floor (c)"), ("floor_c0", "floor (c0)"),
         ("bullmq", "BullMQ"))


def measure(a, res):
    w = World()
    w.add_users(a.users)
    out = res["cpu"] = {"users": a.users, "seconds": a.seconds, "warmup": a.warmup, "depth": a.depth,
                        "batch": BATCH, "reps": a.reps}
    d, why = bullmq_install(out)
    env = None
    if d is not None:
        env, why = bullmq_setup(w, d)
    if env is None:
        out["bullmq_skipped"] = why
        log("   BullMQ skipped: %s" % why)
    fl = floor_setup(w)
    rpid = redis_pid(w.c)
    runs = []
    for i in range(a.reps):
        run = {"load_before": os.getloadavg()}
        t = proc_user_sys(rpid)
        run["spotwatch"] = kernel_share(spotwatch_window(a, w), rpid, t)
        t = proc_user_sys(rpid)
        run["floor_c"] = kernel_share(floor_window(a, w, fl, True), rpid, t)
        t = proc_user_sys(rpid)
        run["floor_c0"] = kernel_share(floor_window(a, w, fl, False), rpid, t)
        if env is not None:
            t = proc_user_sys(rpid)
            bq, why = bullmq_window(a, w, d, env)
            kernel_share(bq, rpid, t)
            if bq is None:
                out["bullmq_skipped"], env = why, None
            else:
                run["bullmq"] = bq
        run["load_after"] = os.getloadavg()
        if "bullmq" in run:
            b = run["bullmq"]["redis_cpu_us_per_poll"]
            run["bullmq_over"] = {k: b / run[k]["redis_cpu_us_per_poll"] for k, _ in KINDS[:3]}
        runs.append(run)
        log("   run %d (load %.2f -> %.2f): " % (i + 1, run["load_before"][0], run["load_after"][0]) + "; ".join(
            "%s %.2f us/poll (%.0f %% kernel), %.2f commands/poll, %.0f polls/s%s" %
            (name, run[k]["redis_cpu_us_per_poll"], 100 * run[k].get("redis_sys_share", 0),
             run[k]["redis_commands_per_poll"], run[k]["polls_per_s"],
             ", BullMQ / it %.2f" % run["bullmq_over"][k] if "bullmq_over" in run and k != "bullmq" else "")
            for k, name in KINDS if k in run))
    out["runs"] = runs
    med = out["medians"] = {}
    for k, _ in KINDS:
        if all(k in r for r in runs):
            med[k] = {f: median_spread([r[k][f] for r in runs])
                      for f in ("redis_cpu_us_per_poll", "redis_commands_per_poll", "polls_per_s",
                                "redis_sys_share")}
            if k in ("floor_c", "floor_c0"):
                med[k]["redis_proc_cpu_us_per_poll"] = median_spread([r[k]["redis_proc_cpu_us_per_poll"]
                                                                      for r in runs])
            if all("bullmq_over" in r for r in runs) and k != "bullmq":
                med[k]["bullmq_over"] = median_spread([r["bullmq_over"][k] for r in runs])
    w.stop()


def callgrind(a, res):
    """Redis instructions per poll of the floors and of a worker with no
    HTTP (bench-fake-poll), redis-server under callgrind; each window less
    the server's idle instructions per second."""
    prefix = os.path.join(H.tmpdir(), "cg")
    os.environ["SW_REDIS_WRAP"] = "valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=%s.%%p" % prefix
    try:
        w = World()
    finally:
        del os.environ["SW_REDIS_WRAP"]
    w.add_users(a.callgrind_users)
    fl = floor_setup(w)
    pids = redis_pids(w.r)
    idle, dt = count_instructions(pids, prefix, 5)
    out = res["callgrind"] = {"users": a.callgrind_users, "seconds": a.callgrind, "idle_per_s": idle / dt}
    c = w.c

    def one(name, start, polls, stop, warm=500):
        start()
        H.wait_for(lambda: polls() >= warm, 600, "%s polls" % name)
        p0, s0 = polls(), RedisSnap(c)
        instr, dt = count_instructions(pids, prefix, a.callgrind)
        p1, s1 = polls(), RedisSnap(c)
        if a.callgrind_keep:   # the window's dump, for callgrind_annotate
            os.makedirs(a.callgrind_keep, exist_ok=True)
            shutil.copy(max(glob.glob(prefix + ".*"), key=os.path.getmtime),
                        os.path.join(a.callgrind_keep, "%s.callgrind" % name))
        stop()
        n = p1 - p0
        calls, scripts = s1.delta_calls(s0)
        out[name] = {"polls": n, "instructions_per_poll": per(instr, n, 1),
                     "work_per_poll": per(instr - out["idle_per_s"] * dt, n, 1),
                     "commands_per_poll": per(calls, n, 1), "scripts_per_poll": per(scripts, n, 1)}
        log("   callgrind %s: %d polls, %.0f instructions per poll (%.0f less the idle), %.2f commands per poll" %
            (name, n, out[name]["instructions_per_poll"], out[name]["work_per_poll"], out[name]["commands_per_poll"]))

    for batch in a.callgrind_batches:
        for write, name in ((True, "floor_c"), (False, "floor_c0")):
            d = FloorDriver(w.r.port, fl["shas"], fl["keys"], fl["prefix"], write, a.depth, batch)
            one(name if batch == BATCH else "%s_batch%d" % (name, batch), d.start, lambda d=d: d.polls, d.stop)
    wk = []
    one("spotwatch_fake_poll", lambda: wk.append(w.worker(SATURATE + ["--bench-fake-poll", "yes"])),
        w.polls, lambda: wk[0].stop(), 2 * a.callgrind_users)   # past each user's first poll (its events)
    w.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=int(os.environ.get("SW_BENCH_USERS", "10000")))
    ap.add_argument("--seconds", type=float, default=10.0, help="each window (bench.py's default)")
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--depth", type=int, default=32, help="EVALSHA in flight")
    ap.add_argument("--callgrind", type=float, default=0, metavar="S", help="count instructions too, S per window")
    ap.add_argument("--callgrind-users", type=int, default=2000)
    ap.add_argument("--callgrind-batches", default="32,8,1",
                    help="claim batches the floors run at under callgrind: the per-call cost apart from the per-user")
    ap.add_argument("--callgrind-keep", metavar="DIR", help="keep each window's callgrind dump there")
    ap.add_argument("--skip-cpu", action="store_true", help="callgrind only")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    a.callgrind_batches = [int(x) for x in a.callgrind_batches.split(",")]
    res = {"machine": bench.machine(), "command": " ".join(["tests/bench/redis_floor.py"] + sys.argv[1:]),
           "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "load_start": os.getloadavg()}
    try:
        if not a.skip_cpu:
            measure(a, res)
        if a.callgrind:
            callgrind(a, res)
    finally:
        H.cleanup()
    res["load_end"] = os.getloadavg()
    report(res)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
        print("figures: %s" % a.json)


def report(res):
    cpu = res.get("cpu")
    if cpu:
        print("Redis CPU per poll, %d users, %d x %.0f s windows alternating (load %s -> %s):" %
              (cpu["users"], cpu["reps"], cpu["seconds"], " ".join("%.2f" % x for x in res["load_start"]),
               " ".join("%.2f" % x for x in res["load_end"])))
        for i, r in enumerate(cpu["runs"]):
            print("  run %d: " % (i + 1) + "; ".join(
                "%s %.2f us (%.2f cmds)%s" % (name, r[k]["redis_cpu_us_per_poll"], r[k]["redis_commands_per_poll"],
                                              ", BullMQ/it %.2f" % r["bullmq_over"][k] if "bullmq_over" in r
                                              and k in r["bullmq_over"] else "")
                for k, name in KINDS if k in r))
        print("  medians (min-max):")
        for k, name in KINDS:
            m = cpu["medians"].get(k)
            if not m:
                continue
            x = m["redis_cpu_us_per_poll"]
            line = "    %-17s %6.2f us/poll (%.2f-%.2f), %.0f %% of it kernel, %.2f commands/poll, %.0f polls/s" % (
                name, x["median"], x["min"], x["max"], 100 * m["redis_sys_share"]["median"],
                m["redis_commands_per_poll"]["median"], m["polls_per_s"]["median"])
            if "bullmq_over" in m:
                b = m["bullmq_over"]
                line += "; BullMQ / it %.2f (%.2f-%.2f)" % (b["median"], b["min"], b["max"])
            print(line)
        if cpu.get("bullmq_skipped"):
            print("  BullMQ skipped: %s" % cpu["bullmq_skipped"])
    cg = res.get("callgrind")
    if cg:
        print("Redis instructions per poll (callgrind, %d users, idle %.0f a second subtracted):" %
              (cg["users"], cg["idle_per_s"]))
        for k in sorted(k for k in cg if isinstance(cg[k], dict)):
            if True:
                print("    %-20s %8.0f (%.2f commands, %.3f scripts per poll)" %
                      (k, cg[k]["work_per_poll"], cg[k]["commands_per_poll"], cg[k]["scripts_per_poll"]))


if __name__ == "__main__":
    main()
