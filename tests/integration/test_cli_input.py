"""Bad CLI and config input (issue 8, part 4): unknown directives, wrong
types, out-of-range values, missing files, unreadable key files, bad command
arguments. Each gives a clear message (naming the file, the line and the
directive where there is one), a non-zero exit, and never a crash: the exit
code is positive (Python reports death by a signal as negative), and no
sanitizer report appears."""
import os
import random
import stat
import subprocess

from harness import *  # noqa: F401,F403


def run(*args, timeout=20):
    r = subprocess.run([SPOTWATCH] + [str(a) for a in args], capture_output=True, text=True,
                       errors="replace", timeout=timeout, stdin=subprocess.DEVNULL)
    for bad in ("AddressSanitizer", "runtime error", "LeakSanitizer", "Segmentation", "core dumped"):
        check(bad not in r.stderr, "%s in the output of %r:\n%s" % (bad, args, r.stderr))
    return r


def refused(*args, want=(), rc=None, timeout=20):
    """Run spotwatch expecting a clean refusal: exit code > 0 (not a signal),
    every string of want in stderr, nothing on stdout."""
    r = run(*args, timeout=timeout)
    check(r.returncode > 0, "spotwatch %r should fail cleanly, got exit %d\n%s" % (args, r.returncode, r.stderr))
    if rc is not None:
        check(r.returncode == rc, "spotwatch %r: exit %d, want %d" % (args, r.returncode, rc))
    for w in want:
        check(w in r.stderr, "spotwatch %r: %r not in stderr:\n%s" % (args, w, r.stderr))
    check(r.stdout == "", "nothing on stdout: %r" % r.stdout[:200])
    return r


def write(d, name, text, mode=0o644):
    p = os.path.join(d, name)
    with open(p, "wb") as f:
        f.write(text if isinstance(text, bytes) else text.encode())
    os.chmod(p, mode)
    return p


def test_config_file_errors_name_the_file_line_and_directive():
    d = tmpdir()
    cases = [
        # (file text, line, words the message must hold)
        ("redis-port 6379\n\n# comment\nfoo-bar 1\n", 4, ["unknown directive 'foo-bar'"]),
        ("lease-ms 10000\nlease-ms abc\n", 2, ["lease-ms", "integer", "'abc'"]),
        ("lease-ms 12.5\n", 1, ["lease-ms", "integer"]),
        ("lease-ms 0x100\n", 1, ["lease-ms", "integer"]),
        ("poll-interval-ms 99999999999999999999999\n", 1, ["poll-interval-ms", "integer"]),
        ("smart-polling maybe\n", 1, ["smart-polling", "yes or no"]),
        ("log-level loud\n", 1, ["log-level", "debug|info|warn|error"]),
        ("log-format xml\n", 1, ["log-format", "text|json"]),
        ("redis-port 70000\n", 1, ["redis-port", "between 1 and 65535", "70000"]),
        ("redis-port -1\n", 1, ["redis-port", "between 1 and 65535"]),
        ("lease-ms 5\n", 1, ["lease-ms", "between 100 and"]),
        ("max-body-bytes 10\n", 1, ["max-body-bytes", "between 1024 and"]),
        ("claim-batch 0\n", 1, ["claim-batch", "between 1 and"]),
        ("\n\nlease-ms\n", 3, ["lease-ms", "missing value"]),
        ("lease-ms 1 2\n", 1, ["lease-ms", "one value"]),
        ('key-prefix "abc\n', 1, ["key-prefix", "unterminated"]),
        ('key-prefix "abc" def\n', 1, ["key-prefix", "after the quoted value"]),
        ("key-prefix " + "x" * 100000 + "\n", 1, ["key-prefix", "too long"]),
        ("redis-password \"\x01\x02secret\" extra\n", 1, ["redis-password"]),
    ]
    for i, (text, line, words) in enumerate(cases):
        p = write(d, "c%d.conf" % i, text)
        refused("--config", p, "config", want=["%s:%d: " % (p, line)] + words, rc=2)
    # A secret is never echoed back, even when the line around it is wrong.
    p = write(d, "secret.conf", 'redis-password "hunter2-secret" extra\n')
    r = refused("--config", p, "config", rc=2)
    check("hunter2" not in r.stderr, "a secret in an error message: %s" % r.stderr)


def test_command_line_directive_errors():
    refused("--lease-ms", "abc", "config", want=["lease-ms", "integer", "'abc'"], rc=2)
    refused("--lease-ms=5", "config", want=["lease-ms", "between 100 and"], rc=2)
    refused("--no-such-thing", "1", "config", want=["unknown directive 'no-such-thing'"], rc=2)
    refused("--lease-ms", want=["lease-ms", "missing value"], rc=2)
    refused("--lease-ms", "--poll-interval-ms", "100", "config", want=["--lease-ms: missing value"], rc=2)
    refused("--smart-polling", "1", "config", want=["smart-polling", "yes or no"], rc=2)
    refused("--paused-max-ms", "100", "--paused-interval-ms", "200", "config",
            want=["paused-max-ms", "paused-interval-ms"], rc=2)
    refused("--backoff-base-ms", "5000", "--backoff-max-ms", "1000", "config", want=["backoff-max-ms"], rc=2)
    refused("--retry-after-default-ms", "90000", "--retry-after-max-ms", "60000", "config",
            want=["retry-after-max-ms"], rc=2)
    refused("--api-base", "not a url", "config", want=["api-base", "http://"], rc=2)
    refused("--accounts-base", "ftp://x", "config", want=["accounts-base", "http://"], rc=2)
    d = tmpdir()
    p = write(d, "ok.conf", "lease-ms 20000\n")
    refused("--config", p, "--config", p, "config", want=["--config", "more than once"], rc=2)
    # A control character in a name is not echoed raw to the terminal.
    r = refused("--ev\x1b[31mil", "1", "config", rc=2)
    check("\x1b" not in r.stderr, "an escape sequence was echoed: %r" % r.stderr)
    # The command line beats the file, and a good value still works.
    r = run("--config", p, "--lease-ms", "30000", "config")
    check(r.returncode == 0 and "lease-ms 30000" in r.stdout, "a good override works: %r" % r.stdout[:300])


def test_missing_and_unreadable_config_files():
    d = tmpdir()
    refused("--config", os.path.join(d, "nope.conf"), "config", want=["nope.conf", "No such file"], rc=2)
    refused("--config", d, "config", want=[d, "Is a directory"], rc=2)
    p = write(d, "locked.conf", "lease-ms 20000\n", mode=0)
    if os.geteuid() != 0:    # root reads a mode-000 file anyway
        refused("--config", p, "config", want=["locked.conf", "Permission denied"], rc=2)
    # Binary garbage: an error naming line 1, with nothing unprintable echoed.
    g = write(d, "garbage.conf", bytes(random.Random(8).randrange(256) for _ in range(4096)))
    r = refused("--config", g, "config", want=["garbage.conf:"], rc=2)
    line = r.stderr.strip()
    check(all(0x20 <= ord(ch) < 0x7f for ch in line), "only printable ASCII echoed: %r" % line[:200])
    check(len(line) < 400, "the echo is bounded: %d bytes" % len(line))


def test_unreadable_key_files_are_refused():
    """token-key-file (worker, CLI) and state-key-file (serve): a file others
    may read, a directory, a missing file, a garbled one, an empty one."""
    d = tmpdir()
    key = os.path.join(d, "token.key")
    r = run("keygen", key)
    check(r.returncode == 0 and stat.S_IMODE(os.stat(key).st_mode) == 0o600, "keygen makes a 0600 file")
    good = open(key).read()
    loose = write(d, "loose.key", good, mode=0o644)
    garbled = write(d, "garbled.key", good + "not a key line\n", mode=0o600)
    empty = write(d, "empty.key", "# no keys here\n", mode=0o600)
    cases = [
        (loose, ["loose.key", "readable by others", "chmod 600"]),
        (d, [d, "not a regular file"]),
        (os.path.join(d, "missing.key"), ["missing.key", "No such file"]),
        (garbled, ["garbled.key", "line 2"]),
        (empty, ["empty.key", "no keys"]),
    ]
    port = free_port()    # nothing listens: the key file is checked first
    for path, words in cases:
        refused("--redis-port", port, "--token-key-file", path, "worker", want=words, rc=1)
        refused("--redis-port", port, "--token-key-file", path, "user", "add", "u", "--app", "a",
                "--access-token", "x", "--refresh-token", "y", want=words)
    refused("--redis-port", port, "--allow-plaintext-tokens", "yes", "--state-key-file", loose, "serve",
            want=["loose.key", "chmod 600"], rc=1)
    refused("--redis-port", port, "--allow-plaintext-tokens", "yes", "--state-key-file", d, "serve",
            want=[d], rc=1)
    # No key file and no plaintext permission: refused with the way out.
    refused("--redis-port", port, "worker", want=["token-key-file", "allow-plaintext-tokens"], rc=1)
    # keygen into a directory or a missing one.
    refused("keygen", d, want=[d])
    refused("keygen", os.path.join(d, "no", "such", "dir", "k"), want=["No such file"])


def test_bad_command_arguments():
    r = RedisServer()
    port = str(r.port)
    base = ["--redis-port", port, "--allow-plaintext-tokens", "yes"]
    refused(*base, "bogus", want=["unknown command 'bogus'", "usage"], rc=2)
    refused(*base, want=["usage"], rc=2)
    refused(*base, "app", want=["usage"], rc=2)
    refused(*base, "app", "add", want=["usage"], rc=2)
    refused(*base, "app", "add", "a", "--client-id", "x", "--client-secret", "y", "--mode", "bogus",
            want=["--mode", "bogus"], rc=2)
    refused(*base, "app", "add", "a", "--client-id", "x", "--client-secret", "y", "--budget", "-1",
            want=["--budget"], rc=2)
    refused(*base, "app", "add", "bad{id}", "--client-id", "x", "--client-secret", "y", want=["invalid"])
    refused(*base, "user", "add", "u", "--app", "a", "--access-token", "x", "--refresh-token", "y",
            "--expires-in", "-5", want=["--expires-in"], rc=2)
    refused(*base, "user", "add", "u", "--app", "nope", "--access-token", "x", "--refresh-token", "y",
            want=["no such app 'nope'"])
    refused(*base, "user", "add", "u", "--app", "a", "--access-token", want=["--access-token"], rc=2)
    refused(*base, "user", "add", "u", "--app", "a", "--wat", "1", want=["unknown option '--wat'"], rc=2)
    refused(*base, "user", "show", "ghost", want=["no such user 'ghost'"])
    refused(*base, "watch", "start", want=["usage"], rc=2)
    refused(*base, "watch", "start", "ghost", "--interval", "abc", want=["--interval", "abc"], rc=2)
    refused(*base, "watch", "start", "ghost", "--interval", "1", want=["--interval"], rc=2)
    refused(*base, "watch", "start", "ghost", want=["ghost"])
    refused(*base, "keygen", want=["usage"], rc=2)
    r.stop()
    refused(*base, "status", want=["cannot connect to Redis", port])
    refused(*base, "user", "ls", want=["cannot connect to Redis"])


def test_random_arguments_never_crash():
    """A few hundred command lines made from the real commands with their
    arguments dropped, repeated, swapped or replaced by hostile values: each
    ends with a clean exit code (0 or a refusal), never a signal or a
    sanitizer report."""
    rng = random.Random(int(os.environ.get("SW_CLI_SEED", "12345")))
    r = RedisServer()
    d = tmpdir()
    imp = write(d, "import.jsonl", '{"user":"i1","app":"a","access_token":"x","refresh_token":"y"}\n'
                '{"user":5}\nnot json\n{"user":"i2","app":"nope"}\n')
    ids = ["a", "u1", "i1", "x" * 300, "{", "}", "*", "", "\u00e9", "a b", "-", "--", "--json"]
    vals = ["1", "0", "-1", "abc", "", "99999999999999999999", "development", "extended", "1e3", "0x10",
            "\u00e9\u00e9", "x" * 5000, d, imp]
    templates = [
        ["app", "add", "ID", "--client-id", "V", "--client-secret", "V", "--mode", "V", "--budget", "V",
         "--quota", "V", "--window-ms", "V"],
        ["app", "ls", "--json"], ["app", "unblock", "ID"],
        ["user", "add", "ID", "--app", "ID", "--access-token", "V", "--refresh-token", "V",
         "--expires-in", "V", "--scope", "V"],
        ["user", "show", "ID", "--json"], ["user", "ls", "--json"], ["user", "rm", "ID"],
        ["user", "import", "V", "--watch", "--interval", "V"],
        ["watch", "start", "ID", "--interval", "V"], ["watch", "stop", "ID"], ["watch", "now", "ID"],
        ["status", "--json"], ["config"],
    ]
    opts = ["--lease-ms", "--poll-interval-ms", "--log-level", "--log-format", "--key-prefix", "--redis-db",
            "--smart-polling", "--max-body-bytes", "--claim-batch"]
    spotwatch(r, "app", "add", "a", "--client-id", "cid", "--client-secret", "s")
    crashes = []
    codes = {}
    for i in range(300):
        argv = ["--redis-port", str(r.port), "--allow-plaintext-tokens", "yes"]
        for _ in range(rng.randrange(3) if rng.random() < 0.3 else 0):
            argv += [rng.choice(opts), rng.choice(vals + ["100", "json", "debug", "yes", "sw:"])]
        cmd = [rng.choice(ids) if t == "ID" else rng.choice(vals) if t == "V" else t
               for t in rng.choice(templates)]
        for _ in range(rng.randrange(4)):
            k = rng.randrange(len(cmd))
            op = rng.randrange(4)
            if op == 0 and len(cmd) > 1:
                del cmd[k]
            elif op == 1:
                cmd.insert(k, cmd[k])
            elif op == 2:
                j = rng.randrange(len(cmd))
                cmd[k], cmd[j] = cmd[j], cmd[k]
            else:
                cmd[k] = rng.choice(ids + vals)
        res = run(*(argv + cmd), timeout=30)
        codes[res.returncode] = codes.get(res.returncode, 0) + 1
        if res.returncode < 0 or res.returncode >= 128:
            crashes.append((argv + cmd, res.returncode, res.stderr[-300:]))
    print("random command lines: exit codes %r" % sorted(codes.items()))
    check(not crashes, "crashes: %r" % crashes[:3])
    check(len(codes) >= 2, "both successes and refusals happened: %r" % codes)
