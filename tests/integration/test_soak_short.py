"""A short soak (issue 7): about 75 s of churn -- playback changing all the
time, early and natural token expiries (401 -> refresh, rotating refresh
tokens), injected faults (503, HTML 502, hangs, dropped connections, truncated
and malformed bodies, token-endpoint 500s) and two 429 windows -- with one
worker under valgrind --leak-check=full --error-exitcode=99 beside a normal
worker. Fails on any leak or memory error valgrind reports when the worker
exits on SIGTERM. (`make soak` is the long version: tests/bench/soak.py.)

test_valgrind.py covers a plain worker under valgrind; this one is about the
churn. Skipped (passes with a note) for sanitizer builds, which valgrind
cannot run, and when valgrind is missing."""
import os
import re
import shutil
import signal
import subprocess
import sys
import time

from harness import *  # noqa: F401,F403

sys.path.insert(0, os.path.join(ROOT, "tests", "bench"))
import soak  # noqa: E402

CHURN_S = 75
USERS = 60


def _sanitizer_build():
    if os.environ.get("SW_SANITIZER"):
        return True
    with open(SPOTWATCH, "rb") as f:
        data = f.read()
    return b"__asan_init" in data or b"__ubsan_handle" in data or b"__tsan_init" in data


def test_soak_short_valgrind():
    if _sanitizer_build():
        skip("sanitizer build: LeakSanitizer checks leaks there")
    check(shutil.which("valgrind") is not None, "valgrind is installed (make deps)")
    r, sim, extra, names = soak.world(USERS, token_expires_s=70)
    args = sw_args(r, sim, extra + soak.WORKER_ARGS + ["--http-timeout-ms", "3000"])
    vlog = os.path.join(LOGDIR, "valgrind-soak-%d.log" % os.getpid())
    vg = Proc(["valgrind", "--leak-check=full", "--error-exitcode=99", "--show-leak-kinds=definite,indirect,possible",
               "--num-callers=30", "--log-file=" + vlog, SPOTWATCH] + args + ["worker"], "worker-valgrind")
    plain = Worker(r, sim, extra + soak.WORKER_ARGS)
    c = r.client()
    wait_for(lambda: int(c.cmd("HGET", "sw:{soak}:stats", "polls") or 0) > USERS, 60, "first polls (valgrind is slow)")
    churn = soak.Churn(sim, names, per_tick=3, rate_limit_window=(25, 8), quiet_rate=10, fault_every=3).start()
    time.sleep(CHURN_S)
    churn.stop()
    # the churn reached the workers: changes, refreshes, faults, 429s
    st = c.hgetall("sw:{soak}:stats")
    grants = sim.stats()["token_grants"]
    check(int(st.get("events_track_changed", 0)) > 0, "track changes seen: %r" % st)
    check(int(st.get("errors", 0)) > 0, "faults reached the workers: %r" % st)
    check(int(st.get("r429", 0)) > 0, "429 windows reached the workers: %r" % st)
    check(grants["refresh_token"] > 0, "tokens refreshed: %r" % grants)
    hb, heap = {}, {}
    for wid in c.cmd("ZRANGE", "sw:workers", 0, -1):
        h = c.hgetall("sw:worker:" + wid)
        hb[int(h.get("pid", 0))] = int(h.get("polls", 0))
        heap[int(h.get("pid", 0))] = (int(h.get("heap_in_use", -1)), int(h.get("heap_arena", -1)))
    check(hb.get(vg.pid, 0) >= 20, "the valgrind worker polled: %r (pid %d)" % (hb, vg.pid))
    # the plain worker's heartbeat carries malloc's figures (glibc's mallinfo2;
    # under valgrind malloc is valgrind's), which soak.py judges
    used, arena = heap.get(plain.proc.pid, (-1, -1))
    check(100 * 1024 < used <= arena < 1 << 30, "heap_in_use and heap_arena in the heartbeat: %r" % heap)
    check(plain.stop() == 0, "plain worker exits 0")
    vg.signal(signal.SIGTERM)
    try:
        rc = vg.p.wait(180)
    except subprocess.TimeoutExpired:
        vg.kill9()
        raise TestFailure("valgrind worker did not exit after SIGTERM")
    report = open(vlog).read()
    tail = report[-3000:]
    check(rc != 99, "valgrind found leaks or errors:\n" + tail)
    check(rc == 0, "valgrind worker exit code %d:\n%s" % (rc, tail))
    check(re.search(r"ERROR SUMMARY: 0 errors", report) is not None, "valgrind errors:\n" + tail)
    check("definitely lost: 0 bytes" in report or "All heap blocks were freed" in report,
          "leaks:\n" + tail)
