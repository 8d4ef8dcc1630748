#!/usr/bin/env python3
"""run.py: the one test runner. Runs the cmocka unit-test binaries and every
`test_*` function of tests/integration/test_*.py, each test with fresh
processes, and ends with the line `N passed, N failed`. A test that calls
harness.skip() is reported as skipped, on a line of its own before that one.

usage: tests/run.py [-k SUBSTRING] [--unit-only|--integration-only] [FILES...]
"""
import glob
import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "integration"))

TEST_TIMEOUT_S = int(os.environ.get("SW_TEST_TIMEOUT", "300"))


def run_unit(path):
    """A cmocka binary: count its PASSED/FAILED lines."""
    r = subprocess.run([path], capture_output=True, text=True, timeout=TEST_TIMEOUT_S)
    out = r.stdout + r.stderr
    passed = sum(int(n) for n in re.findall(r"\[  PASSED  \] (\d+) test", out))
    failed = sum(int(n) for n in re.findall(r"\[  FAILED  \] (\d+) test", out))
    if r.returncode != 0 and failed == 0:
        failed = 1
        print(out)
    elif failed:
        print(out)
    name = os.path.basename(path)
    print("%-60s %d passed, %d failed" % ("unit: " + name, passed, failed), flush=True)
    return passed, failed


class Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise Timeout("test timed out after %ds" % TEST_TIMEOUT_S)


def run_module(path, pattern):
    import harness
    spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    names = [n for n in dir(mod) if n.startswith("test_") and callable(getattr(mod, n))]
    names.sort(key=lambda n: getattr(mod, n).__code__.co_firstlineno)
    passed = failed = skipped = 0
    for n in names:
        full = "%s::%s" % (os.path.basename(path), n)
        if pattern and pattern not in full:
            continue
        t0 = time.time()
        signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(TEST_TIMEOUT_S)
        try:
            getattr(mod, n)()
            ok, why = True, ""
        except harness.Skipped as e:
            ok, why = None, str(e)
        except BaseException as e:  # noqa: a test may fail any way it likes
            if isinstance(e, KeyboardInterrupt):
                raise
            ok, why = False, traceback.format_exc()
        finally:
            signal.alarm(0)
            harness.cleanup()
        dt = time.time() - t0
        if ok is None:
            print("%-60s skipped: %s" % (full, why), flush=True)
            skipped += 1
            continue
        print("%-60s %s (%.1fs)" % (full, "ok" if ok else "FAIL", dt), flush=True)
        if ok:
            passed += 1
        else:
            failed += 1
            print(why, flush=True)
    return passed, failed, skipped


def main(argv):
    # One log directory for the whole run, so the last test module can grep
    # every log line the suite wrote (tests/integration/test_zz_secrets_in_logs.py).
    if not os.environ.get("SW_TEST_LOGDIR"):
        import tempfile
        os.environ["SW_TEST_LOGDIR"] = tempfile.mkdtemp(prefix="sw-logs-")
    pattern = None
    files = []
    unit = integ = True
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "-k":
            pattern = argv[i + 1]
            i += 1
        elif a == "--unit-only":
            integ = False
        elif a == "--integration-only":
            unit = False
        else:
            files.append(a)
        i += 1
    passed = failed = skipped = 0
    if files:
        unit_bins = [f for f in files if not f.endswith(".py")]
        modules = [f for f in files if f.endswith(".py")]
    else:
        unit_bins = sorted(glob.glob(os.path.join(ROOT, "build", "tests", "unit_*"))) if unit else []
        unit_bins = [b for b in unit_bins if os.access(b, os.X_OK) and not b.endswith(".d") and not b.endswith(".o")]
        modules = sorted(glob.glob(os.path.join(HERE, "integration", "test_*.py"))) if integ else []
    for b in unit_bins:
        p, f = run_unit(b)
        passed += p
        failed += f
    for m in modules:
        p, f, s = run_module(m, pattern)
        passed += p
        failed += f
        skipped += s
    print("logs: %s" % os.environ["SW_TEST_LOGDIR"], flush=True)
    if skipped:
        print("%d skipped (not counted as passed)" % skipped, flush=True)
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    # A failed test may leave a helper thread running; the summary is out,
    # so end here rather than wait for it (CI would wait until its timeout).
    import threading
    stray = [t.name for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    if stray:
        print("runner: %d test thread(s) still running at the end: %s" % (len(stray), ", ".join(stray)),
              file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(code)
