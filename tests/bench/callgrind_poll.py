#!/usr/bin/env python3
"""callgrind_poll.py: where a poll's CPU goes, in instructions, repeatably.

On a shared machine CPU seconds move by tens of percent between runs;
instruction counts do not. This runs scenario 1's setup (bench.py's World:
a private redis-server and simulator, users playing, sealed tokens) with one
saturated worker under `valgrind --tool=callgrind`, counting only a window of
a fixed number of polls after a warm-up, and prints the instructions per
poll of each part of the poll (inclusive costs, so each part counts what it
calls). --tls puts nghttpx in front (scenario 7's path); --floor profiles
tests/bench/curl_floor.c on the same endpoint instead (instructions per
request, start-up included). Needs valgrind and callgrind_annotate.

usage: tests/bench/callgrind_poll.py [--users N] [--polls N] [--warm N] [--tls]
                                     [--floor SECONDS] [--out FILE]
"""
import argparse
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import bench  # noqa: E402
from benchlib import H, ROOT, POLL_PATH  # noqa: E402

# The parts of a poll, from inclusive costs (function names as callgrind
# shows them). Each row is what the worker's code does for one poll;
# "libcurl + httpc" is the rest of the loop: the request going out through
# libcurl, the answer coming back, the sockets and timers.
PARTS = (
    ("libcurl + httpc: request out, answer in", None),
    ("/me/player answer parsed (pb_parse)", "pb_parse"),
    ("stored state decoded, flap settled, state encoded", None),
    ("answer classified, decided, outcome queued", None),
    ("access token opened (job_open_token)", "job_open_token"),
    ("poll request built (URL, header, httpc_request)", "job_poll"),
    ("claim reply -> jobs (on_claim, less the two above)", None),
    ("Redis replies read (hiredis reader; complete.lua's reply)", None),
    ("complete.lua call built and sent (flush_all)", "flush_all"),
    ("claim timer, heartbeat", None),
)


def inclusive(path):
    """{function: inclusive instructions} and the total, from callgrind_annotate."""
    out = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", path],
                         capture_output=True, text=True, check=True).stdout
    d, total = {}, 0
    for ln in out.splitlines():
        m = re.match(r"\s*([\d,]+) \([^)]*\)\s+(\S+):(\S+) \[", ln)
        if m:
            d.setdefault(m.group(3), int(m.group(1).replace(",", "")))
        m = re.match(r"\s*([\d,]+) \([^)]*\)\s+PROGRAM TOTALS", ln)
        if m:
            total = int(m.group(1).replace(",", ""))
    return d, total


def parts(d, total):
    g = d.get
    parse, token, req = g("pb_parse", 0), g("job_open_token", 0), g("job_poll", 0)
    state = sum(g(k, 0) for k in ("flap_record_decode", "flap_record_free", "flap_record_encode", "flap_settle"))
    answer = g("job_poll_answer", 0)
    read = g("redisLibevReadEvent", 0)
    # flush_all: called by complete_flush (the loop's prepare watcher) and
    # by complete_tick (the batching tick); it covers both.
    flush = g("flush_all", 0)
    timers = g("on_heartbeat", 0) + g("on_tick", 0)
    http = total - read - flush - timers - answer
    vals = (http, parse, state, answer - parse - state, token, req, g("on_claim", 0) - token - req,
            read - g("on_claim", 0), flush, timers)
    return [(name, v) for (name, _), v in zip(PARTS, vals)] + [("total", total)]


def profile_worker(w, target, extra, a):
    argv = (["valgrind", "--tool=callgrind", "--instr-atstart=no", "--callgrind-out-file=" + a.out, H.SPOTWATCH]
            + H.sw_args(w.r, target, w.extra + bench.SATURATE + extra) + ["worker"])
    p = H.Proc(argv, "callgrind-worker")
    w.wait_polls(a.warm, 600)
    subprocess.run(["callgrind_control", "-i", "on", str(p.pid)], check=True, capture_output=True)
    p0 = w.polls()
    H.wait_for(lambda: w.polls() >= p0 + a.polls, 1800, "%d polls" % a.polls, interval=0.2)
    subprocess.run(["callgrind_control", "-i", "off", str(p.pid)], check=True, capture_output=True)
    polls = w.polls() - p0
    p.stop(120)
    d, total = inclusive(a.out)
    print("| part of a poll | instructions per poll |")
    print("|---|---|")
    for name, v in parts(d, total):
        print("| %s | %.0f |" % (name, v / polls))
    print("(%d polls in the window, %d users%s)" % (polls, a.users, ", TLS + HTTP/2" if a.tls else ""))


def profile_floor(w, target, ca, a):
    exe = os.path.join(ROOT, "build", "bench", "curl_floor")
    opts = ["--cacert", ca, "--h2", "100"] if ca else []
    conns = "1" if ca else "32"
    r = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + a.out, exe] + opts
                       + [target.base + POLL_PATH, conns, str(a.floor), "Authorization: Bearer " + w.rows[0]["access_token"]],
                       capture_output=True, text=True)
    m = re.search(r"requests (\d+)", r.stdout)
    if not m:
        raise RuntimeError("curl_floor failed: %s %s" % (r.stdout, r.stderr[-400:]))
    _, total = inclusive(a.out)
    print("bare libcurl: %.0f instructions per request (%s requests, start-up included)" %
          (total / int(m.group(1)), m.group(1)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--polls", type=int, default=3000)
    ap.add_argument("--warm", type=int, default=1000, help="polls before the window")
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--floor", type=int, default=0, metavar="SECONDS", help="profile curl_floor instead")
    ap.add_argument("--out", default=os.path.join("/tmp", "callgrind.poll.%d" % os.getpid()))
    a = ap.parse_args()
    try:
        w = bench.World()
        w.add_users(a.users)
        target, extra, ca = w.sim, [], None
        if a.tls:
            from test_https import Nghttpx, TlsSim, make_ca
            d = H.tmpdir()
            ca, cert, key = make_ca(d)
            front = Nghttpx(w.sim, cert, key, d)
            target = TlsSim(w.sim, front)
            extra = ["--ca-file", ca, "--max-inflight", str(bench.TLS_STREAMS)]
        if a.floor:
            profile_floor(w, target, ca, a)
        else:
            profile_worker(w, target, extra, a)
        time.sleep(0.2)
    finally:
        H.cleanup()
    print("callgrind output: %s" % a.out)


if __name__ == "__main__":
    main()
