"""Metrics like an exporter: every series of README's Metrics table is on the
worker's and serve's /metrics from the first scrape (labelled ones for their
known label values), `promtool check metrics` accepts both, the per-app gauges
follow what is in Redis, the alert rules pass `promtool check rules`, and the
Grafana dashboard's and the rules' queries name only documented series.

promtool (Debian's `prometheus` package) is used when present; without it the
promtool checks report themselves skipped, the rest still runs."""
import json
import os
import re
import shutil
import subprocess

from harness import *  # noqa: F401,F403
from test_oauth import strict_parse

FAST = ["--poll-interval-ms", "300", "--smart-polling", "no", "--lease-ms", "2000",
        "--http-timeout-ms", "1000"]
SERIES_RE = re.compile(r"\b((?:spotwatch|process)_[a-z0-9_]+)\b")


def documented():
    """{series name: set of processes} from README's Metrics table."""
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    section = text.split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    out = {}
    for ln in section.splitlines():
        cells = [c.strip() for c in ln.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[0].startswith("`"):
            continue
        for name in re.findall(r"`((?:spotwatch|process)_[a-z0-9_]+)`", cells[0]):
            out[name] = {p.strip() for p in cells[3].split(",")}
    check(len(out) > 20, "README's Metrics table parsed: %r" % out)
    return out


def families(text):
    """{family name: [sample lines]} of an exposition (histogram suffixes folded)."""
    fam = {}
    for ln in text.splitlines():
        if not ln or ln.startswith("#"):
            continue
        name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", ln).group(0)
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        fam.setdefault(base, []).append(ln)
    return fam


def promtool(*args, stdin=None):
    p = subprocess.run(["promtool"] + list(args), input=stdin, capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, "promtool %s: %s%s" % (" ".join(args), p.stdout, p.stderr))


def scrape(url):
    st, _h, body = http("GET", url)
    return body.decode() if st == 200 else None


def test_every_documented_series_from_the_first_scrape():
    docs = documented()
    r = RedisServer()
    sim = Sim()
    setup_app(r, sim, users=["e1", "e2"])
    add_user(r, sim, "e1", extra=FAST)
    add_user(r, sim, "e2", extra=FAST, watch=False)   # connected, never watched: not scheduled
    play(sim, "e1", ["a"])
    port = free_port()
    w = Worker(r, sim, FAST + ["--metrics-listen", "127.0.0.1:%d" % port])
    wtext = wait_for(lambda: scrape("http://127.0.0.1:%d/metrics" % port), 15, "the worker's first scrape")
    s = Serve(r, sim)
    stext = scrape(s.base + "/metrics")
    check(stext is not None, "serve's /metrics")

    for text, who in ((wtext, "worker"), (stext, "serve")):
        strict_parse(text)
        fam = families(text)
        for name, procs in docs.items():
            if who in procs:
                check(name in fam, "%s: documented series %s missing at start" % (who, name))
        # Nothing served that the README does not document.
        for name in fam:
            check(name in docs and who in docs[name], "%s serves %s, not in README's table" % (who, name))
        check(re.search(r'^spotwatch_build_info\{version="[^"]+",component="%s"\} 1$' % who, text, re.M),
              "%s: build_info" % who)
        check(re.search(r"^process_start_time_seconds [0-9.e+]+$", text, re.M), "%s: start time" % who)
        check(float(re.search(r"^process_open_fds (\S+)$", text, re.M).group(1)) > 2, "%s: open fds" % who)
        check(float(re.search(r"^process_resident_memory_bytes (\S+)$", text, re.M).group(1)) > 1e5,
              "%s: rss" % who)

    # Known label values from the start: every status, outcome and event type.
    for status in ("active", "stopped", "reauth_required", "not_registered"):
        check('spotwatch_app_users{app="app1",status="%s"}' % status in wtext, "users status %s" % status)
    for ev in ("playback_started", "track_changed", "playback_stopped", "track_played"):
        check('spotwatch_events_total{type="%s"} ' % ev in wtext, "event type %s" % ev)
    for reason in ("rate_limited", "quota_exceeded", "invalid_client", "owner_premium_required"):
        check('spotwatch_app_blocks_total{reason="%s"} ' % reason in wtext, "block reason %s" % reason)
    for name in ("spotwatch_rate_limited_total", "spotwatch_app_scheduled_users",
                 "spotwatch_app_blocked_seconds_remaining", "spotwatch_app_budget_effective"):
        check('%s{app="app1"} ' % name in wtext, "%s for app1" % name)
    check('spotwatch_oauth_spotify_request_duration_seconds_count{endpoint="token"} 0' in stext,
          "serve's Spotify endpoints from the start")

    if shutil.which("promtool") is None:
        skip("promtool not installed (Debian package prometheus): promtool check metrics not run")
    promtool("check", "metrics", stdin=wtext)
    promtool("check", "metrics", stdin=stext)
    check(w.alive(), "worker alive")


def test_app_gauges_follow_redis():
    r = RedisServer()
    sim = Sim()
    setup_app(r, sim, users=["g1", "g2", "g3"])
    for u in ("g1", "g2", "g3"):
        add_user(r, sim, u, extra=FAST)
        play(sim, u, ["a"])
    spotwatch(r, "watch", "stop", "g3", sim=sim)
    port = free_port()
    w = Worker(r, sim, FAST + ["--metrics-listen", "127.0.0.1:%d" % port])
    url = "http://127.0.0.1:%d/metrics" % port

    def value(text, series):
        m = re.search(r"^%s (\S+)$" % re.escape(series), text or "", re.M)
        return float(m.group(1)) if m else None

    def counted():
        t = scrape(url)
        ok = (value(t, 'spotwatch_app_users{app="app1",status="active"}') == 2 and
              value(t, 'spotwatch_app_users{app="app1",status="stopped"}') == 1 and
              value(t, "spotwatch_live_workers") == 1 and
              (value(t, 'spotwatch_app_scheduled_users{app="app1"}') or 0) +
              (value(t, 'spotwatch_app_inflight_users{app="app1"}') or 0) >= 2)
        return t if ok else None
    wait_for(counted, 20, "users by status, live workers and the schedule from Redis")
    # A block set in Redis shows as seconds remaining.
    c = r.client()
    c.cmd("HSET", "sw:{app1}:rl", "blocked_until", str(int(time.time() * 1000) + 600000),
          "block_reason", "rate_limited")
    wait_for(lambda: (value(scrape(url), 'spotwatch_app_blocked_seconds_remaining{app="app1"}') or 0) > 500,
             20, "the block's remaining seconds")
    check(w.alive(), "worker alive")


def test_alert_rules_and_dashboard_name_documented_series():
    docs = documented()
    rules = os.path.join(ROOT, "conf", "prometheus", "spotwatch-alerts.yml")
    with open(rules) as f:
        rules_text = f.read()
    exprs = re.findall(r"expr: (?:>-\n\s+)?(.+)", rules_text)
    check(len(exprs) >= 4, "alert expressions found: %r" % exprs)
    for want in ("spotwatch_live_workers", "spotwatch_app_blocked_seconds_remaining",
                 'status="reauth_required"', "spotwatch_schedule_lag_seconds_bucket"):
        check(want in rules_text, "an alert on %s" % want)
    with open(os.path.join(ROOT, "conf", "grafana", "spotwatch-dashboard.json")) as f:
        dash = json.load(f)
    queries = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    check(len(queries) >= 10, "dashboard queries: %d" % len(queries))
    for q in queries + exprs:
        for name in SERIES_RE.findall(q):
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            check(base in docs, "query %r names %s, not a documented series" % (q, name))
    if shutil.which("promtool") is None:
        skip("promtool not installed: promtool check rules not run")
    promtool("check", "rules", rules)
