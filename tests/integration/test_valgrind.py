"""One worker under valgrind (issue 8, part 5): a short run over the worker's
main paths (polls with changes, a token refresh, hostile answers, a 429 block,
a Redis reconnect), then SIGTERM; valgrind must report no error and no leak.

Skipped, with a line saying so, when the binary is a sanitizer build (make
test SANITIZER=... exports SW_SANITIZER; a binary built with ASan/UBSan is also
recognised by its runtime symbols): valgrind cannot run ASan binaries."""
import os
import shutil

from harness import *  # noqa: F401,F403

VG_ARGS = ["--lease-ms", "8000", "--http-timeout-ms", "4000", "--poll-interval-ms", "300",
           "--smart-polling", "no", "--backoff-base-ms", "100", "--backoff-max-ms", "300",
           "--retry-after-default-ms", "1000", "--max-body-bytes", "65536"]


def sanitizer_build():
    if os.environ.get("SW_SANITIZER"):
        return "SW_SANITIZER=%s" % os.environ["SW_SANITIZER"]
    with open(SPOTWATCH, "rb") as f:
        exe = f.read()
    for sym in (b"__asan_init", b"__ubsan_handle", b"__tsan_init", b"__msan_init"):
        if sym in exe:
            return "the binary holds %s" % sym.decode()
    return None


def test_worker_under_valgrind_no_leaks_no_errors():
    why = sanitizer_build()
    if why:
        skip("sanitizer build (%s): LeakSanitizer checks leaks there" % why)
    check(shutil.which("valgrind") is not None, "valgrind is installed (make deps)")
    r = RedisServer(appendonly=True)
    sim = Sim()
    users = ["v1", "v2", "v3"]
    setup_app(r, sim, users=users)
    for u in users:
        add_user(r, sim, u, extra=VG_ARGS)
        play(sim, u, ["%s-a" % u, "%s-b" % u, "%s-c" % u])
    vlog = os.path.join(tmpdir(), "valgrind.log")
    argv = ["valgrind", "--leak-check=full", "--error-exitcode=99", "--errors-for-leak-kinds=definite,possible",
            "--show-leak-kinds=definite,possible", "--track-fds=no", "--log-file=" + vlog,
            SPOTWATCH] + sw_args(r, sim, VG_ARGS) + ["worker"]
    w = Proc(argv, "valgrind-worker")
    c = r.client()

    def events():
        return stream_events(c)
    wait_for(lambda: len(events()) >= len(users), 90, "the first polls under valgrind", interval=0.3)
    # A change, a refresh after a 401, hostile answers, a 429 block.
    sim.ok("POST", "/sim/users/v1/next")
    sim.ok("POST", "/sim/users/v2/expire")
    sim.ok("POST", "/sim/faults", {"kind": "malformed", "user": "v3", "count": 1})
    sim.ok("POST", "/sim/faults", {"kind": "big_body", "size": 200000, "user": "v3", "count": 1})
    sim.ok("POST", "/sim/faults", {"kind": "gzip", "user": "v1", "count": 2})
    wait_for(lambda: any(e["type"] == "track_changed" for e in events()), 60, "the change", interval=0.3)
    wait_for(lambda: int(c.hgetall("sw:{app1}:user:v2").get("refreshes") or 0) >= 1, 60, "the refresh",
             interval=0.3)
    wait_for(lambda: int(c.hgetall("sw:{app1}:user:v3").get("errors") or 0) >= 2, 60, "the hostile answers",
             interval=0.3)
    sim.ok("POST", "/sim/faults", {"kind": "status", "status": 429, "retry_after": 1, "count": 1})
    wait_for(lambda: c.hgetall("sw:{app1}:rl").get("blocked_until"), 60, "the 429 block", interval=0.3)
    # Redis goes away and comes back: the link is rebuilt.
    c.close()
    r.restart()
    c = r.client()
    sim.ok("POST", "/sim/users/v3/next")
    wait_for(lambda: any(e["type"] == "track_changed" and e["user"] == "v3" for e in stream_events(c)), 90,
             "a change after the Redis restart", interval=0.3)
    rc = w.stop(timeout=60)
    with open(vlog) as f:
        report = f.read()
    summary = [ln.split("== ", 1)[-1] for ln in report.splitlines()
               if "ERROR SUMMARY" in ln or "definitely lost" in ln or "possibly lost" in ln
               or "indirectly lost" in ln or "All heap blocks were freed" in ln]
    print("valgrind: " + "; ".join(summary))
    check(rc == 0, "the worker under valgrind exits 0 (99 = valgrind found errors), got %r:\n%s"
          % (rc, report[-4000:]))
    check("Memcheck" in report and "ERROR SUMMARY: 0 errors" in report, "valgrind errors:\n%s" % report[-4000:])
    check("definitely lost" not in report or "definitely lost: 0 bytes" in report, "leaks:\n%s" % report[-4000:])
