#!/usr/bin/env python3
"""parse_bench.py: the cost of handling a currently-playing answer with the
product parsers (parse it, read the stored state, write the new one; `make
parse-bench`; the cJSON-based code they replaced is retired).
Starts bin/spotify-sim, fetches real answers the way the worker does (a track,
an episode, a local track, an ad, and /me/player with its device), adds one
shaped like a real Spotify answer (the simulator sends `available_markets: []`;
Spotify sends ~185 markets in both the track and its album), writes them to a
temporary directory and runs build/tests/parse_bench on them. Prints figures
only."""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import harness as H  # noqa: E402

POLL = "/v1/me/player/currently-playing?additional_types=track,episode"
MARKETS = ["A%c%c" % (chr(65 + i // 26), chr(65 + i % 26)) for i in range(185)]


def fetch(sim, token, path):
    st, _, data = H.http("GET", sim.base + path, headers={"Authorization": "Bearer " + token})
    H.check(st == 200, "sim %s -> %d" % (path, st))
    return data


def main():
    binary = os.path.join(ROOT, "build", "tests", "parse_bench")
    sim = H.Sim(["--clock-scale", "0"])
    try:
        sim.ok("POST", "/sim/apps", {"client_id": "cid", "client_secret": "sec", "mode": "extended",
                                     "redirect_uris": ["http://127.0.0.1/cb"]})
        tok = sim.ok("POST", "/sim/users/u1/tokens", {"client_id": "cid"})["access_token"]
        bodies = {}
        H.play(sim, "u1", [H.track("t1", name="Come Together", artists=["The Beatles", "Guest"])])
        bodies["sim-track"] = fetch(sim, tok, POLL)
        bodies["sim-player"] = fetch(sim, tok, "/v1/me/player?additional_types=track,episode")
        H.play(sim, "u1", [H.track("e1", type="episode", show="The Show")])
        bodies["sim-episode"] = fetch(sim, tok, POLL)
        H.play(sim, "u1", [H.track("l1", is_local=True)])
        bodies["sim-local"] = fetch(sim, tok, POLL)
        H.play(sim, "u1", [H.track("ad1", type="ad")])
        bodies["sim-ad"] = fetch(sim, tok, POLL)
    finally:
        sim.stop()
    real = json.loads(bodies["sim-track"])
    real["item"]["available_markets"] = MARKETS
    real["item"]["album"]["available_markets"] = MARKETS
    bodies["spotify-shaped-markets"] = json.dumps(real, separators=(",", ":")).encode()
    with tempfile.TemporaryDirectory() as d:
        paths = []
        for name, data in bodies.items():
            p = os.path.join(d, name)
            with open(p, "wb") as f:
                f.write(data)
            paths.append(p)
        return subprocess.call([binary] + paths)


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        H.cleanup()
