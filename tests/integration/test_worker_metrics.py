"""The worker's /metrics and /healthz (metrics-listen): valid Prometheus text
whose counters follow what the worker does, and health that follows Redis."""
import re

from harness import *  # noqa: F401,F403
from test_oauth import strict_parse

FAST = ["--poll-interval-ms", "300", "--smart-polling", "no", "--lease-ms", "2000",
        "--http-timeout-ms", "1000"]


def metric(text, name, labels=""):
    m = re.search(r"^%s%s (\S+)$" % (re.escape(name), re.escape(labels)), text, re.M)
    return float(m.group(1)) if m else None


def test_worker_metrics_follow_polls_and_health():
    r = RedisServer(appendonly=True)
    sim = Sim()
    setup_app(r, sim, users=["m1", "m2"])
    for u in ("m1", "m2"):
        add_user(r, sim, u, extra=FAST)
    play(sim, "m1", ["a", "b"])
    port = free_port()
    w = Worker(r, sim, FAST + ["--metrics-listen", "127.0.0.1:%d" % port])
    url = "http://127.0.0.1:%d" % port

    def scrape():
        st, h, body = http("GET", url + "/metrics")
        check(st == 200, "metrics status %d" % st)
        text = body.decode()
        strict_parse(text)
        import shutil, subprocess
        if shutil.which("promtool"):
            p = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
            check(p.returncode == 0, "promtool: %s%s" % (p.stdout, p.stderr))
        return text

    t0 = wait_for(lambda: (lambda t: t if (metric(t, "spotwatch_polls_total", '{outcome="ok"}') or 0) >= 2 else None)(scrape()),
                  15, "ok polls counted")
    sim.ok("POST", "/sim/users/m1/next")
    t1 = wait_for(lambda: (lambda t: t if (metric(t, "spotwatch_events_total", '{type="track_changed"}') or 0) >= 1 else None)(scrape()),
                  15, "track change counted")
    check(metric(t1, "spotwatch_events_total", '{type="playback_started"}') >= 1, "started counted")
    check(metric(t1, "spotwatch_polls_total", '{outcome="ok"}') > metric(t0, "spotwatch_polls_total", '{outcome="ok"}'),
          "poll counter moves")
    check(metric(t1, "spotwatch_poll_duration_seconds_count") >= 1, "poll latency histogram")
    check(metric(t1, "spotwatch_claim_duration_seconds_count") >= 1, "claim latency histogram")
    check(metric(t1, "spotwatch_schedule_lag_seconds_count") >= 1, "lag histogram")
    check(http("GET", url + "/healthz")[0] == 200, "healthy")
    r.kill9()
    wait_for(lambda: http("GET", url + "/healthz")[0] == 503, 10, "unhealthy without Redis")
    r.start()
    wait_for(lambda: http("GET", url + "/healthz")[0] == 200, 15, "healthy again")
    t2 = wait_for(lambda: (lambda t: t if (metric(t, "spotwatch_redis_reconnects_total") or 0) >= 1 else None)(scrape()),
                  10, "reconnect counted")
    check(w.alive(), "worker alive")
    check("s3cret" not in t2, "no secret in metrics")
