"""`make demo` (tests/demo.sh) runs on this machine and prints live events."""
import os
import subprocess

from harness import ROOT, check


def test_demo_prints_events_and_status():
    env = dict(os.environ, DEMO_SECONDS="10")
    r = subprocess.run([os.path.join(ROOT, "tests", "demo.sh")], capture_output=True, text=True,
                       timeout=120, env=env, cwd=ROOT)
    out = r.stdout
    check(r.returncode == 0, "demo exit %d: %s" % (r.returncode, r.stderr[-2000:]))
    lines = [l for l in out.splitlines() if l.startswith(("playback_", "track_changed", "device_changed"))]
    check(len([l for l in lines if l.startswith("playback_started")]) >= 10, "users started: %s" % out[-1500:])
    check(any(l.startswith("track_changed") for l in lines), "track changes scrolled by")
    check("workers: 2 live" in out and "users: active=12" in out, "status at the end: %s" % out[-800:])
    check("demo-secret" not in out and "nan" not in out, "no secret, no NaN in the output")
