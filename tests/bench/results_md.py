"""results_md.py: writes tests/bench/RESULTS.md from one bench.py run."""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
PATH = os.path.join(HERE, "RESULTS.md")


def _md_table(rows):
    out = ["| scenario | figure | value | target |", "|---|---|---|---|"]
    for r in rows:
        out.append("| %s | %s | %s | %s |" % tuple(x.replace("|", "\\|") for x in r))
    return "\n".join(out)


def _verdicts(res):
    """One line per target: met or missed, from the figures."""
    v = []
    c = res.get("cost")
    if c:
        v.append("- Cost per poll: spotwatch's worker uses %.2f x wrk's CPU per request (target < 2): **%s**." %
                 (c["ratio_vs_wrk"], "met" if c["ratio_vs_wrk"] < 2 else "missed"))
        if "curl_floor" in c:
            sp = c.get("spread", {}).get("ratio_vs_curl_floor")
            v.append("- Bare-libcurl floor (`tests/bench/curl_floor.c`, the cheapest libcurl client, same endpoint "
                     "and connections): it uses %.2f x wrk's CPU per request; the worker uses %.2f x its CPU "
                     "per request%s (target <= 1.3): **%s**." %
                     (c["curl_floor_vs_wrk"], c["ratio_vs_curl_floor"],
                      ", median of 3 (spread %.2f-%.2f)" % (sp["min"], sp["max"]) if sp else "",
                      "met" if c["ratio_vs_curl_floor"] <= 1.3 else "missed"))
    ce = res.get("ceiling")
    if ce:
        best = max(ce, key=lambda r: r["polls_per_redis_core_s"])
        v.append("- Scheduler ceiling: %.0f polls per Redis core-second at best (%d worker(s), claim-batch %d; "
                 "target >= 50,000): **%s**. Highest throughput measured: %.0f polls/s." %
                 (best["polls_per_redis_core_s"], best["workers"], best["claim_batch"],
                  "met" if best["polls_per_redis_core_s"] >= 50000 else "missed",
                  max(r["polls_per_s"] for r in ce)))
    s6 = res.get("seed6")
    if s6:
        r, sp = s6["ratio_p50_5_vs_1"], s6.get("spread")
        v.append("- Seed test 6: p50 latency with 5 users / with 1 user = %.3f%s (seed limit 1.5, target < 1.1): **%s**." %
                 (r, ", median of %d (spread %.3f-%.3f)" % (len(s6["runs"]), sp["min"], sp["max"]) if sp else "",
                  "met" if r < 1.1 else ("within the seed limit, target missed" if r < 1.5 else "missed")))
    m = res.get("memory")
    if m:
        steady = m["bytes_per_user_steady"]
        toks = "%d + %d" % (m.get("sealed_access_token_chars", 0), m.get("sealed_refresh_token_chars", 0))
        v.append("- Memory, Redis defaults: %.0f bytes of Redis per user as imported, %.0f after polling "
                 "(target < 1024): **%s**. The sealed tokens (%s bytes, from Spotify-length tokens of %s "
                 "characters) exceed `hash-max-listpack-value` (64), so every user hash is a hashtable "
                 "(%.0f bytes per hash)." %
                 (m["bytes_per_user_imported"], steady, "met" if steady < 1024 else "missed", toks,
                  "%d + %d" % (m.get("sim_access_token_chars", 0), m.get("sim_refresh_token_chars", 0)),
                  m["user_hash_bytes_avg"]))
        if "bytes_per_user_steady_lp512" in m:
            lp = m["bytes_per_user_steady_lp512"]
            v.append("- Memory, `hash-max-listpack-value 512` (README's advice): %.0f bytes per user as imported, "
                     "%.0f after polling (user hash %.0f bytes, %s): **%s**." %
                     (m["bytes_per_user_imported_lp512"], lp, m["user_hash_bytes_avg_lp512"],
                      m["user_hash_encoding_lp512"],
                      "met" if lp < 1024 else ("met as imported, missed after polling"
                                               if m["bytes_per_user_imported_lp512"] < 1024 else "missed")))
        a = m.get("worker_1000", {}).get("rss_kib")
        b = m.get("worker_%d" % m["users"], {}).get("rss_kib")
        if a and b:
            v.append("- Worker RSS: %d KiB at 1,000 users, %d KiB at %d users (%+.1f%%): **%s**." %
                     (a, b, m["users"], 100.0 * (b - a) / a, "no growth with users" if b <= a * 1.10 else "grows"))
    t = res.get("tls")
    if t:
        r = t["ratio_vs_curl_floor"]
        conns = [x["worker_connections"] for x in t["runs"]]
        v.append("- TLS + HTTP/2 (%d users, one worker): worker / bare libcurl CPU per poll %.2f, median of 3 "
                 "(spread %.2f-%.2f; target <= 1.1): **%s**. The worker opened %s connection(s) in the 3 runs, "
                 "%d streams each at most (target: one connection): **%s**." %
                 (t["users"], r["median"], r["min"], r["max"], "met" if r["median"] <= 1.1 else "missed",
                  "/".join(str(c) for c in conns), t["max_inflight"],
                  "met" if all(c == 1 for c in conns) else "missed"))
    cl = res.get("cluster")
    if cl:
        v.append(_cluster_verdict(cl))
    b = res.get("bullmq")
    if b and "bullmq" in b:
        sp = b.get("spread", {})

        def rng(k):
            r = sp.get(k)
            return " (median of %d, spread %.2f-%.2f)" % (b["reps"], r["min"], r["max"]) if r else ""
        rc, pc = b["ratio_redis_cpu_per_poll"], b["ratio_polls_per_cpu_s"]
        v.append("- BullMQ: BullMQ uses %.2f x spotwatch's Redis CPU per poll%s (target >= 10): **%s**; spotwatch "
                 "makes %.2f x the polls per worker CPU-second%s (target >= 6): **%s**. Redis commands per poll "
                 "(inside scripts included): spotwatch %.2f, BullMQ %.2f." %
                 (rc, rng("ratio_redis_cpu_per_poll"), "met" if rc >= 10 else "missed",
                  pc, rng("ratio_polls_per_cpu_s"), "met" if pc >= 6 else "missed",
                  b["spotwatch"].get("redis_commands_per_poll", float("nan")),
                  b["bullmq"].get("redis_commands_per_poll", float("nan"))))
    elif b:
        v.append("- BullMQ: not measured in this run (%s)." % b.get("skipped", "?"))
    return "\n".join(v)


GIB = 1 << 30


def capacity(res):
    """The "Capacity" section: users per Redis core and per GiB, polls per
    worker core, for fixed 2 s polling and for smart polling, from this run's
    measured costs (and smart_polling.py's calls per user-hour, when
    res["smart"] holds them). Returns markdown, or "" when the run measured
    too little."""
    b, c, m = res.get("bullmq") or {}, res.get("cost") or {}, res.get("memory") or {}
    redis_us = (b.get("spotwatch") or {}).get("redis_cpu_us_per_poll") or c.get("redis_cpu_us_per_poll")
    worker_us, worker_src = c.get("worker_cpu_us_per_poll"), "scenario 1's median"
    if not worker_us and (b.get("spotwatch") or {}).get("polls_per_worker_cpu_s"):
        worker_us, worker_src = 1e6 / b["spotwatch"]["polls_per_worker_cpu_s"], "scenario 6, spotwatch's median"
    redis_src = "scenario 6, spotwatch's median" if (b.get("spotwatch") or {}).get("redis_cpu_us_per_poll") \
        else "scenario 1's median"
    per_user = m.get("bytes_per_user_steady_lp512")
    if not redis_us or not worker_us:
        return ""
    sm = res.get("smart") or {}
    modes = [("fixed 2 s polling", 1800.0, "every user every 2 s")]
    if sm.get("smart_per_hour"):
        modes.append(("smart polling", sm["smart_per_hour"],
                      "`tests/bench/smart_polling.py`, light load, `budget-target-pct 0`: what smart polling asks "
                      "for when the budget has no room to spend"))
    else:
        modes[0] = modes[0][:2] + (modes[0][2] + " (smart polling: no figures; `make smart-bench` keeps them "
                                   "in build/bench/smart_polling.json for the next `make bench`)",)
    head = "| | " + " | ".join(x[0] for x in modes) + " |"
    rows = [head, "|---" * (len(modes) + 1) + "|"]

    def row(name, fn):
        rows.append("| %s | %s |" % (name, " | ".join(fn(ph) for _, ph, _ in modes)))
    redis_polls = 1e6 / redis_us
    worker_polls = 1e6 / worker_us
    row("polls per user-hour", lambda ph: "%.0f" % ph)
    row("users per Redis core (one node, %.1f us of Redis CPU per poll)" % redis_us,
        lambda ph: "{:,.0f}".format(redis_polls * 3600 / ph))
    if per_user:
        row("users per GiB of Redis (%.0f bytes per user, `hash-max-listpack-value 512`)" % per_user,
            lambda ph: "{:,.0f}".format(GIB / per_user))
    row("polls per worker core-second (%.1f us per poll)" % worker_us, lambda ph: "{:,.0f}".format(worker_polls))
    row("users per worker core", lambda ph: "{:,.0f}".format(worker_polls * 3600 / ph))
    cl = res.get("cluster") or {}
    cl_note = ""
    if cl.get("ratio") and cl.get("primaries"):
        # What a cluster costs per poll, as scenario 8 measured it: the
        # CPU-seconds ratio (3 primaries sharing 2 CPUs: the dearer figure)
        # and, for comparison, the instruction count's.
        k, n = cl["ratio"], cl["primaries"]
        ins = (cl.get("instructions") or {}).get("ratio")
        row("users per Redis core, cluster (%.1f us per poll x %.2f: scenario 8's cluster / one node, "
            "CPU seconds)" % (redis_us, k), lambda ph: "{:,.0f}".format(redis_polls * 3600 / ph / k))
        row("users on a cluster of %d primaries, a core each" % n,
            lambda ph: "{:,.0f}".format(n * redis_polls * 3600 / ph / k))
        cl_note = (" A cluster spreads the users over its primaries by app (each app's keys share one hash "
                   "tag, so an app lives on one primary: the users of one app are bounded by one primary's "
                   "figure), at a cost per poll scenario 8 measured as x %.2f in CPU seconds on this 2-CPU "
                   "machine, where the primaries share the CPUs with the workers%s." %
                   (k, " (x %.2f in instructions)" % ins if ins else ""))
    else:
        rows.append("| cluster | %s |" % " | ".join("no figures (scenario 8 did not run)" for _ in modes))
    src = "; ".join("%s: %s" % (n, why) for n, _, why in modes)
    spp = c.get("redis_scripts_per_poll")
    scripts = ("%.3f script calls per poll in all, scenario 1" % spp) if spp else "script calls per poll not measured"
    if sm.get("timely_per_hour"):
        src += (" (the default, `budget-target-pct 75`, spends what room the app's budget has on playing "
                "users: %.0f polls per user-hour on the same light load; an app's budget bounds it)" %
                sm["timely_per_hour"])
    return """## Capacity

On paper, from this run's measured costs: Redis CPU per poll (%s: one worker flat out
on real HTTP polls), worker CPU per poll (%s), Redis bytes per user after polling
(scenario 5, the README's `hash-max-listpack-value 512`).
A core is taken as fully used: leave headroom (Redis at 50-70 %% of a core keeps its
latency). Memory holds whatever the polling mode; the events stream (capped by
`events-maxlen`, shared by the app's users) comes on top. Polls per user-hour: %s.
Spotify's budget, not Redis, bounds an app's calls: these are the users one node can
schedule, not the users one Client ID may poll. The Redis cost is a saturated worker's
(claims of 32 jobs, the default `claim-batch`; %s): at a lower load the batches shrink and each
script call's fixed part (callgrind: ~450,000 instructions a claim, ~220,000 a completion,
against ~115,000 and ~90,000 per job) weighs more, so read these as upper bounds.%s

%s
""" % (redis_src, worker_src, src, scripts, cl_note, "\n".join(rows))
CLUSTER_HEAD = "## Redis Cluster (scenario 8, `--only cluster`)"


def _cluster_verdict(cl):
    r, ins = cl["ratio"], cl.get("instructions")
    text = ("- Redis Cluster: Redis CPU per poll, %d primaries summed / one redis-server, same load, in CPU "
            "seconds, medians of %d: %.3f (per run %.3f-%.3f; target within 10%%, <= 1.10): **%s**. A one-node "
            "cluster (cluster mode's own cost, without the split over primaries): %.3f." %
            (cl["primaries"], len(cl["runs"]), r, cl["ratio_runs"]["min"], cl["ratio_runs"]["max"],
             "met" if r <= 1.10 else "missed", cl["ratio1"]))
    if ins and "single_work_per_poll" in ins:
        runs = [x["ratio"] for x in ins["runs"]]
        text += ("\n- In instructions (callgrind on each redis-server: the work the primaries do, whatever else "
                 "shares the 2 CPUs), medians of %d, at the load of the CPU-seconds windows (%.0f polls/s: each "
                 "server's instructions per second with no worker, measured apart, spread over those polls): %.3f "
                 "(per run %.3f-%.3f; <= 1.10): **%s**. The work per poll alone: %.3f; as counted at the light "
                 "load of the callgrind windows, where three servers' per-second cost weighs ~40 times more: %.3f." %
                 (len(runs), ins["load_polls_per_s"], ins["ratio"], min(runs), max(runs),
                  "met" if ins["ratio"] <= 1.10 else "missed", ins["ratio_work_per_poll"],
                  ins["ratio_instructions_per_poll"]))
    elif ins:
        runs = [x["ratio"] for x in ins["runs"]]
        text += ("\n- In instructions (callgrind on each redis-server: the work the primaries do, whatever else "
                 "shares the 2 CPUs), medians of %d: %.3f (per run %.3f-%.3f; <= 1.10): **%s**." %
                 (len(runs), ins["ratio"], min(runs), max(runs), "met" if ins["ratio"] <= 1.10 else "missed"))
    return text


def _scenario_rows(rows, prefix):
    """The rows of the scenario whose first row's first column starts with prefix."""
    out = []
    for r in rows:
        if r[0]:
            if out:
                break
            if not r[0].startswith(prefix):
                continue
        if out or r[0]:
            out.append(r)
    return out


def _cluster_section(res, rows):
    """The "Redis Cluster" section: the run that measured it, its verdict,
    its rows, how it is measured."""
    m = res["machine"]
    return """{head}

Measured by `{cmd}` ({date}; {nproc} CPUs, {redis}).

{verdict}

{table}

How: one `bin/spotify-sim`; one `redis-server`, a one-node Redis Cluster (every slot on
it: what cluster mode costs Redis by itself) and a cluster of 3 primaries
(`harness.RedisCluster`; no replicas anywhere: replication costs the same per write in
every mode), all with the harness's settings, holding the same 6 apps (two whose hash tags
fall on each of the 3 primaries) and the same users, imported by `spotwatch user import`.
First the idle CPU of each (no worker), then, for each repetition, the three in turn (the
order rotates): 2 workers started (`--redis-cluster yes` and the seed nodes for a
cluster), every user's next poll spread over one interval, a warm-up,
then a window in which the polls are the apps' `polls` counters and the Redis CPU is
`used_cpu_sys + used_cpu_user` from `INFO cpu` (on a cluster: summed over its primaries);
the workers are stopped before the next one runs. Each figure is the median of {reps}, the
ratio is that of the medians (each run's own ratio gives the spread). The workers run with
the default `claim-tick-ms` (10): their script calls per poll are then the same in every
mode (see "The tick" in the README). The load is fixed,
not saturated, so that constant per-second costs (the cluster bus's pings and cron) weigh
as they would in production. Every process shares the machine's cores: here the three
primaries compete with each other (and the workers and the simulator) for the same cores
and caches, where a production cluster gives each primary a host of its own.

Instructions: the same again with every redis-server under `valgrind --tool=callgrind`
(the harness's `SW_REDIS_WRAP`), one redis-server against the 3 primaries. Redis runs ~50
times slower there, so the load is light (240 users every 2 s), and the workers run with
`claim-tick-ms 1000` so that their claims and completions carry nearly as many users as at
2,400 polls/s (0.25 script calls per poll against 0.15; the default tick at this load gives
2-3, whose fixed parts would be most of the count). First each server's instructions per second with no
worker (10 s): ~1.1 million a second a process, nearly all of it serverCron refreshing
jemalloc's statistics (`cronUpdateMemoryStats`, 10 times a second), plus the cluster bus.
Then 3 windows each, the order alternating; counting starts and stops with
`callgrind_control -i on/off` around the window (the bench's own `INFO` is read outside it),
and each server's count is its dump's `totals`. The work per poll is the window's count
less the idle rate times its length, over its polls; the verdict puts the idle rate back,
spread over the CPU-seconds windows' polls per second. At the callgrind windows' ~70 polls/s
the three servers' idle cost alone is ~30,000 instructions a poll more than one server's;
at 2,400 polls/s it is ~1,000. This is the work Redis does per poll, free of what the
machine's core sharing adds to CPU seconds (cold caches after each switch between six busy
processes on 2 CPUs).
""".format(head=CLUSTER_HEAD, cmd=res["command"], date=res["date"], nproc=m["nproc"], redis=m["redis"],
           verdict=_cluster_verdict(res["cluster"]), reps=len(res["cluster"]["runs"]), table=_md_table(_scenario_rows(rows, "8 ")))


def _existing_cluster_section(path):
    """The "Redis Cluster" section of the RESULTS.md at path ("" when none),
    kept by a run that did not measure it."""
    if not os.path.exists(path):
        return ""
    text = open(path).read()
    i = text.find(CLUSTER_HEAD)
    if i < 0:
        return ""
    j = text.find("\n## ", i + len(CLUSTER_HEAD))
    return text[i:] if j < 0 else text[i:j + 1]


def write_cluster_section(res, rows, path=PATH):
    """Replace (or add, before the method notes) only the "Redis Cluster"
    section of RESULTS.md: the other figures stay those of their own run."""
    text = open(path).read() if os.path.exists(path) else ""
    new = _cluster_section(res, rows)
    old = _existing_cluster_section(path)
    if old:
        text = text.replace(old, new)
    else:
        i = text.find("## How each figure is measured")
        text = text[:i] + new + "\n" + text[i:] if i >= 0 else text + "\n" + new
    with open(path, "w") as f:
        f.write(text)
    return path


def write(res, rows, path=PATH):
    m = res["machine"]
    notes_path = os.path.join(HERE, "RESULTS.notes.md")
    notes = open(notes_path).read() if os.path.exists(notes_path) else ""
    b = res.get("bullmq") or {}
    text = """# spotwatch benchmark results

Written by `tests/bench/bench.py` (`make bench`); every figure below comes from
one run, so the ratios between them hold even on a noisy machine. Re-running
the bench replaces this file (the method notes come from
`tests/bench/RESULTS.notes.md`).

- command: `{cmd}` ({date}, {elapsed:.0f} s)
- machine: {nproc} CPUs (`nproc`), {cpu} (/proc/cpuinfo), {mem} GiB RAM, Linux {kernel}
- software: {redis}; {curl}; {wrk}; Node {node}{bull}
- every process (redis-server, spotify-sim, workers, wrk, node) shares these {nproc} CPUs;
  nothing is pinned.

## Verdicts

{verdicts}

## Figures

{table}

{capacity}
{cluster}{notes}""".format(cmd=res["command"], date=res["date"], elapsed=res.get("elapsed_s", 0), nproc=m["nproc"],
                  cpu=m["cpu"], mem=m["mem_gib"], kernel=m["kernel"], redis=m["redis"], curl=m["curl"],
                  wrk=m["wrk"], node=m["node"],
                  bull=("; bullmq %s, undici %s" % (b["bullmq_version"], b["undici_version"])
                        if b.get("bullmq_version") else ""),
                  verdicts=_verdicts(res), table=_md_table(rows), capacity=capacity(res), notes=notes,
                  cluster=(_cluster_section(res, rows) + "\n" if res.get("cluster")
                           else _existing_cluster_section(path)))
    with open(path, "w") as f:
        f.write(text)
    return path
