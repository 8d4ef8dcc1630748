#!/bin/sh
# deps.sh: install the Debian packages that the build, the tests and the demo need.
set -e
PKGS="build-essential pkg-config libhiredis-dev libcurl4-openssl-dev libcjson-dev libev-dev
      libssl-dev libmicrohttpd-dev libcmocka-dev redis-server redis-tools curl openssl
      nghttp2-proxy wrk python3 valgrind clang prometheus chromium-headless-shell"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
