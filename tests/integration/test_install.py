"""`make install`: the binary, the man pages (spotwatch.conf(5) generated from
the directive table, spotwatch(1) when the CLI's generator made it), the
systemd units (accepted by `systemd-analyze verify` where it exists), the bash
completion (when made) and the configuration, never overwriting an edited one;
the installed binary finds the installed configuration through the sysconfdir
compiled into it.

Each test installs from a copy of the tree (sources and the build's objects,
timestamps kept), so the suite's own bin/ is never rebuilt with another
sysconfdir."""
import os
import re
import shutil
import subprocess

from harness import *  # noqa: F401,F403

TREE = ("Makefile", "src", "include", "lua", "conf", "tests/sim", ".ci", "build", "bin")


def tree_copy():
    dst = os.path.join(tmpdir(), "src")
    for p in TREE:
        s = os.path.join(ROOT, p)
        if not os.path.exists(s):
            continue
        d = os.path.join(dst, p)
        os.makedirs(os.path.dirname(d), exist_ok=True)
        if os.path.isdir(s):
            shutil.copytree(s, d, symlinks=True)
        else:
            shutil.copy2(s, d)
    return dst


def make(tree, *args):
    argv = ["make", "-C", tree, "--no-print-directory"] + list(args)
    if os.environ.get("SW_SANITIZER"):
        argv.append("SANITIZER=" + os.environ["SW_SANITIZER"])   # link as the objects were built
    p = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    check(p.returncode == 0, "%s failed:\n%s%s" % (" ".join(argv), p.stdout[-3000:], p.stderr[-3000:]))
    return p.stdout


def directives():
    """Every directive name, from `spotwatch config` (the table)."""
    p = subprocess.run([SPOTWATCH, "--config", "/dev/null", "config"], capture_output=True, text=True,
                       timeout=30)
    check(p.returncode == 0, "spotwatch config: %s" % p.stderr)
    names = [ln.split(" ", 1)[0] for ln in p.stdout.splitlines() if ln]
    check(len(names) > 40, "directives: %r" % names)
    return names


def test_install_destdir_prefix_usr():
    tree = tree_copy()
    root = os.path.join(tmpdir(), "root")
    out = make(tree, "install", "DESTDIR=" + root, "PREFIX=/usr")
    binary = os.path.join(root, "usr/bin/spotwatch")
    check(os.access(binary, os.X_OK), "binary installed: %s" % out)
    man5 = os.path.join(root, "usr/share/man/man5/spotwatch.conf.5")
    check(os.path.isfile(man5), "spotwatch.conf(5) installed")
    with open(man5) as f:
        page = f.read()
    for name in directives():
        check(re.search(r"^\.B %s$" % re.escape(name.replace("-", "\\-")), page, re.M),
              "spotwatch.conf(5) documents %s" % name)
    if shutil.which("groff"):
        p = subprocess.run(["groff", "-man", "-ww", "-z", man5], capture_output=True, text=True, timeout=60)
        check(p.returncode == 0 and p.stderr == "", "groff warnings: %s" % p.stderr)
    # spotwatch(1) and the completion come from the CLI's command table; when
    # the build made them, install must have put them in place.
    for made, dest in (("build/man/spotwatch.1", "usr/share/man/man1/spotwatch.1"),
                       ("build/completion/spotwatch.bash", "usr/share/bash-completion/completions/spotwatch")):
        if os.path.exists(os.path.join(tree, made)):
            check(os.path.isfile(os.path.join(root, dest)), "%s installed as %s" % (made, dest))
    conf = os.path.join(root, "etc/spotwatch.conf")
    check(os.path.isfile(conf), "PREFIX=/usr puts the configuration in /etc")
    units = os.path.join(root, "usr/lib/systemd/system")
    for u in ("spotwatch-worker@.service", "spotwatch-serve.service"):
        with open(os.path.join(units, u)) as f:
            text = f.read()
        check("@" + "bindir@" not in text and "@" + "sysconfdir@" not in text, "%s: paths filled in" % u)
        check("ExecStart=/usr/bin/spotwatch --config /etc/spotwatch.conf" in text, "%s: ExecStart" % u)
        for want in ("Type=notify", "Restart=on-failure", "DynamicUser=yes", "ProtectSystem=strict",
                     "NoNewPrivileges=yes", "LoadCredential=token.key:", "ExecReload="):
            check(want in text, "%s: %s" % (u, want))

    if shutil.which("systemd-analyze") is None:
        skip("systemd-analyze not installed: the units were not verified")
    # verify checks that ExecStart's binary exists: point the copies at the
    # staged one, and man at the staged pages.
    vdir = os.path.join(tmpdir(), "verify")
    os.makedirs(vdir)
    for u in os.listdir(units):
        with open(os.path.join(units, u)) as f:
            text = f.read().replace("/usr/bin/spotwatch", binary)
        with open(os.path.join(vdir, u), "w") as f:
            f.write(text)
    env = dict(os.environ, MANPATH=os.path.join(root, "usr/share/man"))
    argv = ["systemd-analyze", "verify"]
    if not os.path.exists(os.path.join(root, "usr/share/man/man1/spotwatch.1")):
        argv.append("--man=no")   # spotwatch(1) not built in this tree: Documentation= cannot resolve
    argv += [os.path.join(vdir, "spotwatch-serve.service"), os.path.join(vdir, "spotwatch-worker@1.service")]
    # an instance of the template: link the name to the template file
    os.symlink(os.path.join(vdir, "spotwatch-worker@.service"), os.path.join(vdir, "spotwatch-worker@1.service"))
    p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    check(p.returncode == 0 and "spotwatch" not in p.stderr,
          "systemd-analyze verify: rc %d\n%s%s" % (p.returncode, p.stdout, p.stderr))


def test_installed_binary_reads_installed_config_and_never_overwrites_it():
    tree = tree_copy()
    prefix = os.path.join(tmpdir(), "prefix")
    make(tree, "install", "PREFIX=" + prefix)
    binary = os.path.join(prefix, "bin/spotwatch")
    conf = os.path.join(prefix, "etc/spotwatch.conf")
    check(os.path.isfile(conf), "config in $(PREFIX)/etc")
    env = {k: v for k, v in os.environ.items() if k != "SPOTWATCH_CONF"}

    def effective(extra_env=None, args=()):
        e = dict(env, **(extra_env or {}))
        p = subprocess.run([binary] + list(args) + ["config"], capture_output=True, text=True, env=e,
                           cwd=tmpdir(), timeout=30)
        check(p.returncode == 0, "installed spotwatch config: %s" % p.stderr)
        return dict(ln.split(" ", 1) for ln in p.stdout.splitlines() if " " in ln)

    check(effective()["poll-interval-ms"] == "2000", "the shipped file changes nothing")
    with open(conf, "a") as f:
        f.write("poll-interval-ms 4321\n")
    check(effective()["poll-interval-ms"] == "4321", "the installed binary reads sysconfdir/spotwatch.conf")
    other = os.path.join(tmpdir(), "other.conf")
    with open(other, "w") as f:
        f.write("poll-interval-ms 5555\n")
    check(effective({"SPOTWATCH_CONF": other})["poll-interval-ms"] == "5555", "$SPOTWATCH_CONF comes first")
    check(effective({"SPOTWATCH_CONF": other}, ["--config", "/dev/null"])["poll-interval-ms"] == "2000",
          "--config wins over both")
    p = subprocess.run([binary, "config"], capture_output=True, text=True, cwd=tmpdir(), timeout=30,
                       env=dict(env, SPOTWATCH_CONF=os.path.join(tmpdir(), "missing.conf")))
    check(p.returncode != 0 and "missing.conf" in p.stderr, "a named file that is missing is an error")

    # A second install keeps the edited file; the shipped one lands beside it.
    out = make(tree, "install", "PREFIX=" + prefix)
    with open(conf) as f:
        check("poll-interval-ms 4321" in f.read(), "an existing config is not overwritten")
    check(os.path.isfile(conf + ".default"), "the new default beside it: %s" % out)
    check(effective()["poll-interval-ms"] == "4321", "still the edited value")


def test_demo_installs_dependencies_before_anything_asks_pkg_config():
    """A bare machine: no package pkg-config knows. `make demo`'s first sight
    must be `make deps` (.ci/deps.sh), not a screen of pkg-config errors from
    flags the Makefile evaluated while reading itself (a dry run: nothing is
    installed or built)."""
    env = dict(os.environ, PKG_CONFIG_LIBDIR=os.path.join(tmpdir(), "no-pkgconfig"), PKG_CONFIG_PATH="")
    p = subprocess.run(["make", "-n", "--no-print-directory", "demo"], cwd=ROOT, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
    lines = [ln for ln in p.stdout.splitlines() if ln.strip()]
    check(lines and lines[0] == ".ci/deps.sh", "make demo starts with the dependencies:\n%s" % p.stdout[:2000])
