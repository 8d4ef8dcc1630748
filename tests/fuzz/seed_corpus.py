#!/usr/bin/env python3
"""seed_corpus.py: capture seed inputs for the fuzz targets from a running
bin/spotify-sim (real answers, raw bytes as the worker receives them) and
write them under tests/fuzz/corpus/{playback,token,config,state}/sim-*.
Run from the repository root after `make bin/spotify-sim`; the files are
checked in, so this only needs re-running when the simulator's answers change.
"""
import gzip
import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")
# fuzz_token.c picks the status from byte 0 of its input with this table.
STATUSES = [0, 200, 204, 400, 401, 403, 404, 408, 429, 500, 502, 503, 302, 418, 599, 100]


def save(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "sim-" + name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def req(base, method, path, body=None, headers=None, form=None):
    data = None
    h = dict(headers or {})
    if form is not None:
        data = form.encode()
        h["Content-Type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    r = urllib.request.Request(base + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(r, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def main():
    sim = subprocess.Popen([os.path.join(ROOT, "bin", "spotify-sim"), "--port", "0", "--seed", "7"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        port = re.search(r":(\d+)", sim.stdout.readline().decode()).group(1)
        base = "http://127.0.0.1:" + port
        ok = lambda *a, **k: req(base, *a, **k)  # noqa: E731
        ok("POST", "/sim/apps", {"client_id": "cid", "client_secret": "sec", "mode": "development",
                                  "redirect_uris": ["http://127.0.0.1/callback"], "allowlist": ["u1"]})
        _, _, t = ok("POST", "/sim/users/u1/tokens", {"client_id": "cid"})
        tok = json.loads(t)
        save("token", "200-mint", bytes([1]) + t)
        auth = {"Authorization": "Bearer " + tok["access_token"]}
        cp = "/v1/me/player/currently-playing?additional_types=track,episode"

        def capture(name, playback=None, action=None, fault=None, path=cp):
            if playback is not None:
                ok("PUT", "/sim/users/u1/playback", playback)
            if action:
                ok("POST", "/sim/users/u1/" + action)
            if fault:
                ok("POST", "/sim/faults", dict(fault, count=1))
            st, hdrs, body = ok("GET", path, headers=auth)
            if hdrs.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            save("playback", name, body)
            save("token", "api-%d-%s" % (st, name), bytes([STATUSES.index(st) if st in STATUSES else 1]) + body)
            ra = hdrs.get("Retry-After")
            if ra:
                save("token", "retry-after-%s" % name, bytes([8]) + ra.encode() + b"\n" + body)

        tracks = [{"id": "t%d" % i, "name": "Song %d" % i, "artists": ["A", {"id": "ar2", "name": "B"}],
                   "album": {"id": "al", "name": "Album", "release_date": "2020-01-01"},
                   "duration_ms": 200000} for i in range(3)]
        dev = {"id": "dev1", "name": "Phone", "type": "Smartphone", "volume_percent": 40}
        capture("track", {"queue": tracks, "index": 0, "progress_ms": 5000, "is_playing": True, "device": dev,
                          "context": {"uri": "spotify:playlist:x", "type": "playlist"}})
        capture("paused", action="pause")
        capture("next", action="next")
        capture("player", path="/v1/me/player")
        capture("episode", {"queue": [{"id": "e1", "name": "Ep", "type": "episode", "duration_ms": 3600000,
                                       "show": {"id": "s1", "name": "Show"}}], "is_playing": True})
        capture("episode-hidden", path="/v1/me/player/currently-playing")
        capture("ad", {"queue": [{"id": "ad1", "name": "Ad", "type": "ad", "duration_ms": 30000}],
                       "is_playing": True})
        capture("local", {"queue": [{"name": "Home Demo", "artists": ["Me"], "album": "Tapes", "is_local": True,
                                     "duration_ms": 123000}], "is_playing": True})
        capture("extra-fields", {"queue": tracks, "is_playing": True}, fault={"kind": "extra_fields"})
        capture("wrong-types", fault={"kind": "wrong_types"})
        capture("malformed", fault={"kind": "malformed"})
        capture("truncate", fault={"kind": "truncate"})
        capture("gzip", fault={"kind": "gzip"})
        capture("503", fault={"kind": "status", "status": 503, "retry_after": 7})
        capture("502-html", fault={"kind": "html_status", "status": 502})
        capture("403-html", fault={"kind": "html_status", "status": 403})
        ok("POST", "/sim/config", {"rate_limit": 1, "window_ms": 30000})
        capture("429-a")
        capture("429")
        ok("POST", "/sim/config", {"rate_limit": 0})
        st, _, body = ok("GET", cp, headers={"Authorization": "Bearer nope"})
        save("token", "api-401-invalid", bytes([4]) + body)
        ok("POST", "/sim/users/u1/expire", {})
        st, _, body = ok("GET", cp, headers=auth)
        save("token", "api-401-expired", bytes([4]) + body)
        _, _, t2 = ok("POST", "/sim/users/u2/tokens", {"client_id": "cid"})
        st, _, body = ok("GET", cp, headers={"Authorization": "Bearer " + json.loads(t2)["access_token"]})
        save("token", "api-403-not-registered", bytes([5]) + body)

        # The token endpoint: a good refresh and each error shape.
        basic = {"Authorization": "Basic " + __import__("base64").b64encode(b"cid:sec").decode()}
        for name, form, hdr in [
                ("refresh-ok", "grant_type=refresh_token&refresh_token=" + tok["refresh_token"], basic),
                ("bad-grant", "grant_type=refresh_token&refresh_token=nope", basic),
                ("bad-client", "grant_type=refresh_token&refresh_token=x",
                 {"Authorization": "Basic " + __import__("base64").b64encode(b"cid:wrong").decode()}),
                ("no-grant-type", "refresh_token=x", basic),
                ("no-refresh-token", "grant_type=refresh_token", basic)]:
            st, _, body = ok("POST", "/api/token", form=form, headers=hdr)
            save("token", "token-%d-%s" % (st, name), bytes([STATUSES.index(st)]) + body)
        ok("POST", "/sim/users/u1/revoke", {})
        st, _, body = ok("POST", "/api/token", form="grant_type=refresh_token&refresh_token=" + tok["refresh_token"],
                         headers=basic)
        save("token", "token-%d-revoked" % st, bytes([STATUSES.index(st)]) + body)
        for name, v in [("date", "Wed, 21 Oct 2015 07:28:00 GMT"), ("rfc850", "Wednesday, 21-Oct-15 07:28:00 GMT"),
                        ("asctime", "Wed Oct 21 07:28:00 2015"), ("zero", "0"), ("neg", "-5"),
                        ("huge", "99999999999999999999999"), ("spaces", "  12  ")]:
            save("token", "retry-after-" + name, bytes([8]) + v.encode() + b"\n{}")
    finally:
        sim.terminate()
        sim.wait()

    # config: the shipped file, and small variants.
    conf = open(os.path.join(ROOT, "conf", "spotwatch.conf"), "rb").read()
    save("config", "shipped.conf", conf)
    save("config", "quoted.conf", b'redis-host "my host"\nkey-prefix "a\\"b\\\\c"\nlease-ms 20000\r\n'
                                  b'# comment\n\tpoll-interval-ms   3000   \nLOG-LEVEL warn\n')
    save("config", "errors.conf", b'lease-ms abc\nfoo-bar 1\nkey-prefix "x\nsmart-polling maybe\n')

    # state: signed payloads (mode byte odd) made as oauth.c makes them, with
    # fuzz_state.c's signing key; and their texts (mode byte even).
    key = bytes([0x22]) * 32
    for i, (app, user) in enumerate([("app1", "alice"), ("a", "b"), ("app-" + "x" * 60, "user@example.com")]):
        payload = bytes([2]) + bytes(range(16)) + (1796000000000 + i).to_bytes(8, "big") + \
            hashlib.sha256(b"cookie-%d" % i).digest() + bytes([len(app)]) + app.encode() + user.encode()
        save("state", "payload-%d" % i, bytes([1]) + payload)
        mac = hmac.new(key, b"spotwatch-oauth-state\0" + payload, hashlib.sha256).digest()
        b64 = lambda b: __import__("base64").urlsafe_b64encode(b).rstrip(b"=")  # noqa: E731
        save("state", "text-%d" % i, bytes([0]) + b64(payload) + b"." + b64(mac))
    print("corpus written under %s" % CORPUS)


if __name__ == "__main__":
    sys.exit(main())
