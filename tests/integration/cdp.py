"""cdp.py: a headless Chromium driven through the DevTools protocol, with
python's stdlib only (a minimal WebSocket client), for the dashboard's
browser tests (test_dashboard.py).

The browser is Debian's `chromium-headless-shell` (or `chromium`); without
one the tests FAIL (CI installs it: .ci/deps.sh). Every page is loaded with
an Authorization header set through the protocol (Network.setExtraHTTPHeaders),
so the page's own requests (its script, its stylesheet, its EventSource) carry
it too."""
import base64
import json
import os
import signal
import shutil
import socket
import struct
import subprocess
import time
import urllib.parse
import urllib.request

import harness

BROWSERS = ("chromium-headless-shell", "chromium")


def browser_path():
    for b in BROWSERS:
        p = shutil.which(b)
        if p:
            return p
    raise harness.TestFailure("no headless browser: install chromium-headless-shell (make deps)")


class _WebSocket:
    """A client WebSocket (RFC 6455): text frames out (masked), frames in."""

    def __init__(self, url, timeout=30):
        u = urllib.parse.urlsplit(url)
        self.sock = socket.create_connection((u.hostname, u.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        req = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (u.path, u.hostname, u.port, key))
        self.sock.sendall(req.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise harness.TestFailure("DevTools closed the WebSocket handshake")
            head += chunk
        harness.check(head.startswith(b"HTTP/1.1 101"), "WebSocket handshake: %r" % head[:80])
        self.buf = b""

    def _exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise harness.TestFailure("DevTools closed the WebSocket")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send(self, text):
        data = text.encode()
        head = bytearray([0x81])
        n = len(data)
        if n < 126:
            head.append(0x80 | n)
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        self.sock.sendall(bytes(head) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def recv(self):
        """The next whole message's text (fragments joined)."""
        parts = []
        while True:
            b0, b1 = self._exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._exact(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._exact(8))[0]
            payload = self._exact(n)
            op = b0 & 0x0F
            if op in (0x9, 0xA):      # ping, pong: nothing to do for us
                continue
            if op == 0x8:
                raise harness.TestFailure("DevTools closed the WebSocket")
            parts.append(payload)
            if b0 & 0x80:
                return b"".join(parts).decode()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def _kill_group(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class Browser:
    """One headless browser with one page; closed by the harness' cleanup."""

    def __init__(self, auth=None):
        self.dir = harness.tmpdir()
        argv = [browser_path(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--window-size=1280,900", "--remote-debugging-port=0",
                "--user-data-dir=" + self.dir, "about:blank"]
        self.proc = harness.Proc(argv, "chromium")
        # Debian's chromium-headless-shell is a shell wrapper that runs the
        # browser as its child: killing the wrapper alone leaves the browser
        # (and its renderers) behind, so the whole process group goes.
        harness.on_cleanup(lambda pid=self.proc.p.pid: _kill_group(pid))
        port_file = os.path.join(self.dir, "DevToolsActivePort")
        harness.wait_for(lambda: self.proc.alive() and os.path.exists(port_file)
                         and open(port_file).read().count("\n") >= 1, 30, "the browser's DevTools port")
        port = int(open(port_file).read().split("\n")[0])
        pages = json.loads(urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port, timeout=10).read())
        page = [p for p in pages if p.get("type") == "page"][0]
        self.ws = _WebSocket(page["webSocketDebuggerUrl"])
        harness.on_cleanup(self.ws.close)
        self.next_id = 0
        self.call("Page.enable")
        self.call("Network.enable")
        if auth:
            self.set_auth(auth)

    def call(self, method, **params):
        self.next_id += 1
        mid = self.next_id
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        while True:
            m = json.loads(self.ws.recv())
            if m.get("id") == mid:
                harness.check("error" not in m, "%s: %r" % (method, m.get("error")))
                return m.get("result", {})

    def set_auth(self, user_password):
        token = base64.b64encode(user_password.encode()).decode()
        self.call("Network.setExtraHTTPHeaders", headers={"Authorization": "Basic " + token})

    def eval(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        harness.check("exceptionDetails" not in r, "page script failed: %r" % r.get("exceptionDetails"))
        return r.get("result", {}).get("value")

    def open(self, url, timeout=20):
        """Navigate and wait for the document to be complete."""
        self.call("Page.navigate", url=url)
        # The old document may still say "complete": wait for the new URL too.
        harness.wait_for(lambda: self.eval("document.readyState === 'complete' && location.href") == url,
                         timeout, "%s to load" % url)

    def wait(self, expr, timeout=15, msg=None):
        return harness.wait_for(lambda: self.eval(expr), timeout, msg or expr)

    def click(self, selector):
        harness.check(self.eval("!!document.querySelector(%s)" % json.dumps(selector)), "no %s" % selector)
        self.eval("document.querySelector(%s).click()" % json.dumps(selector))

    def text(self, selector="body"):
        return self.eval("(document.querySelector(%s) || {}).textContent || ''" % json.dumps(selector))

    def screenshot(self, name):
        """A PNG of the page under the tests' log directory; returns its path."""
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path = os.path.join(harness.LOGDIR, name)
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path
