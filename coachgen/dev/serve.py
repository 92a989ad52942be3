"""The preview server: the output folder on 127.0.0.1, with live reload and an error overlay.

It never serves a page mid-build (requests wait for the build to end), injects its
reload script into HTML only, refuses paths outside the output, and lists the sites at `/`.
It answers only requests addressed to a loopback host (or the --host given), against DNS rebinding,
never echoes a request in an error, and closes idle connections.
"""

from __future__ import annotations

import errno
import html
import http
import http.server
import ipaddress
import json
import sys
import threading
from functools import partial
from pathlib import Path
from urllib.parse import quote, unquote

RELOAD_PATH = "/__coachgen/reload.js"
EVENTS_PATH = "/__coachgen/events"
RELOAD_TAG = f'<script src="{RELOAD_PATH}"></script>'.encode()
IDLE_TIMEOUT = 10.0
"""Seconds a connection may wait for its request (or a slow client block a write) before it is closed."""
MAX_PATH = 2048
"""Longest request path served; longer ones get 414 without touching the file system."""

RELOAD_JS = r"""// coachgen preview: reload after each build; show the vault's errors over the page.
(function () {
  "use strict";
  var seen = null;
  function overlay(errors) {
    var box = document.getElementById("coachgen-errors");
    if (!errors.length) { if (box) box.remove(); return; }
    if (!box) {
      box = document.createElement("div");
      box.id = "coachgen-errors";
      box.setAttribute("role", "alert");
      box.style.cssText = "position:fixed;left:0;right:0;bottom:0;z-index:99999;max-height:45vh;overflow:auto;" +
        "background:#2b0d0d;color:#ffd9d6;font:14px/1.5 ui-monospace,Menlo,monospace;padding:12px 16px;" +
        "border-top:3px solid #ff6b5e;box-shadow:0 -4px 24px rgba(0,0,0,.3)";
      document.body.appendChild(box);
    }
    box.textContent = "";
    var title = document.createElement("strong");
    title.textContent = errors.length === 1 ? "1 error in the vault" : errors.length + " errors in the vault";
    box.appendChild(title);
    errors.forEach(function (line) {
      var row = document.createElement("div");
      row.textContent = line;
      box.appendChild(row);
    });
  }
  function connect() {
    var source = new EventSource("/__coachgen/events");
    source.onmessage = function (event) {
      var state = JSON.parse(event.data);
      if (seen !== null && state.version !== seen) { location.reload(); return; }
      seen = state.version;
      overlay(state.errors);
    };
    source.onerror = function () { source.close(); setTimeout(connect, 1000); };
  }
  connect();
})();
"""


class Preview:
    """What the server knows of the builds: an epoch per build, and the errors it found."""

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir.resolve()
        self.version = 0
        self.building = False
        self.errors: list[str] = []
        self.sites: list[tuple[str, str]] = []
        """(link, name) of every site, for the index at /."""
        self.changed = threading.Condition()

    def begin(self) -> None:
        with self.changed:
            self.building = True

    def end(self, errors: list[str], sites: list[tuple[str, str]]) -> None:
        with self.changed:
            self.building = False
            self.version += 1
            self.errors = errors
            self.sites = sites
            self.changed.notify_all()

    def wait_until_built(self, timeout: float = 30.0) -> None:
        with self.changed:
            self.changed.wait_for(lambda: not self.building, timeout=timeout)

    def state(self) -> bytes:
        with self.changed:
            return json.dumps({"version": self.version, "errors": self.errors}).encode()


def host_allowed(header: str | None, server_host: str) -> bool:
    """Whether a Host header names this server: a loopback host, or the exact host given with --host.

    Any other name (or none) may be DNS rebinding: a page whose domain now resolves to 127.0.0.1,
    which the browser would then let read the sites.
    """
    header = (header or "").strip().lower()
    port: str | None
    if header.startswith("["):  # [IPv6]:port
        name, bracket, port = header[1:].partition("]")
        if not bracket or (port and not port.startswith(":")):
            return False
        port = port[1:] if port else None
    else:
        name, colon, port = header.partition(":")
        port = port if colon else None
    if not name or (port is not None and not (port.isascii() and port.isdigit())):
        return False
    if name == "localhost" or name == server_host.lower().strip("[]"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback  # 127.x.y.z and ::1
    except ValueError:
        return False


class Handler(http.server.SimpleHTTPRequestHandler):
    preview: Preview
    server_host = "127.0.0.1"
    timeout = IDLE_TIMEOUT  # set on each socket: an idle or trickling client can't hold a thread forever

    def log_message(self, format, *args) -> None:  # the terminal is for builds and problems
        pass

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """A short plain-text error that never repeats what the client sent.

        The default puts its message (often the request line) in the status line and an HTML page.
        """
        try:
            phrase = http.HTTPStatus(code).phrase
        except ValueError:
            phrase = "Error"
        body = f"{code} {phrase}\n".encode()
        self.close_connection = True
        self.send_response(code, phrase)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:
        """GET and HEAD alike: the same checks, the same status and headers; HEAD just has no body."""
        if not host_allowed(self.headers.get("Host"), self.server_host):
            return self.send_error(403)
        if len(self.path) > MAX_PATH:
            return self.send_error(414)
        # Not urlsplit: it would read a path starting with // as a host.
        path = unquote(self.path.split("?", 1)[0].split("#", 1)[0])
        if any(ord(c) < 32 or ord(c) == 127 for c in path):  # NUL, CR, LF...: never a file of ours
            return self.send_error(400)
        if path == RELOAD_PATH:
            return self._send(RELOAD_JS.encode(), "text/javascript; charset=utf-8")
        if path == EVENTS_PATH:
            return self._events()
        self.preview.wait_until_built()
        if path == "/":
            return self._send(self._index(), "text/html; charset=utf-8")
        found = self._file(path)
        if found is None:
            return self.send_error(404)
        target, folder = found
        if folder and not path.endswith("/"):
            self.send_response(301)
            # Built from the checked parts, so it stays on this site (never //elsewhere).
            self.send_header("Location", quote("/" + "/".join(p for p in path.split("/") if p) + "/"))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        try:
            data = target.read_bytes()
        except OSError:  # gone or unreadable since the check
            return self.send_error(404)
        ctype = self.guess_type(str(target))
        if target.suffix == ".html":
            data = data.replace(b"</body>", RELOAD_TAG + b"\n</body>", 1)
            ctype = "text/html; charset=utf-8"
        return self._send(data, ctype)

    do_HEAD = do_GET  # the default HEAD skips every check above and lists folders

    def _file(self, path: str) -> tuple[Path, bool] | None:
        """The file a URL names and whether the URL named a folder (then its index.html).

        Only a file inside the output and never a hidden one, also after following symlinks.
        """
        out = self.preview.out_dir
        parts = [p for p in path.split("/") if p]
        if any(p.startswith(".") for p in parts):
            return None
        try:
            target = out.joinpath(*parts).resolve()
            folder = target.is_dir()
            if folder:
                target = (target / "index.html").resolve()
            inside = target.relative_to(out)  # ValueError if a symlink or .. led outside
            if any(p.startswith(".") for p in inside.parts) or not target.is_file():
                return None
        except (ValueError, OSError):  # also NUL bytes and names too long for the system
            return None
        return target, folder

    def _send(self, data: bytes, ctype: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _index(self) -> bytes:
        rows = "".join(f'<li><a href="{html.escape(link)}">{html.escape(name)}</a></li>'
                       for link, name in self.preview.sites)
        return (
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            'content="width=device-width, initial-scale=1"><meta name="robots" content="noindex, nofollow">'
            '<title>coachgen preview</title><style>body{font:17px/1.6 system-ui,sans-serif;max-width:640px;'
            'margin:40px auto;padding:0 20px}li{margin:6px 0}</style></head><body><h1>coachgen preview</h1>'
            f"<ul>{rows}</ul>{RELOAD_TAG.decode()}</body></html>"
        ).encode()

    def _events(self) -> None:
        """Server-sent events: the build epoch and errors now, then after every build.

        A comment line goes out after every quiet half-timeout (at most 15 s): it keeps the stream
        alive well within the socket timeout, and a closed tab shows up as a failed write.
        """
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        if self.command == "HEAD":
            return
        quiet = min(15.0, self.timeout / 2) if self.timeout else 15.0
        seen = -1

        def news_ready() -> bool:
            """A build after the one last sent has finished (reads `seen` as it is now)."""
            return self.preview.version != seen and not self.preview.building

        try:
            while True:
                with self.preview.changed:
                    news = self.preview.changed.wait_for(news_ready, timeout=quiet)
                    if news:
                        seen = self.preview.version
                        message = b"data: " + self.preview.state() + b"\n\n"
                self.wfile.write(message if news else b": keep-alive\n\n")
                self.wfile.flush()
        except OSError:  # the page went away (BrokenPipe, ConnectionReset, a write timeout)
            return


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # A tab closed mid-response or a client too slow to read is no reason for a traceback.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def start(preview: Preview, host: str = "127.0.0.1", port: int = 8000, timeout: float = IDLE_TIMEOUT) -> Server:
    """Serve in a background thread; port 0 takes any free port (server.server_address).

    Requests must name a loopback host or `host` itself; a connection idle for `timeout` seconds is closed.
    """
    handler = type("BoundHandler", (Handler,), {"preview": preview, "server_host": host, "timeout": timeout})
    server = Server((host, port), partial(handler, directory=str(preview.out_dir)))
    threading.Thread(target=server.serve_forever, name="coachgen-serve", daemon=True).start()
    return server


NEXT_PORTS = 20
"""How many ports from a busy default one are tried before any free port is taken."""


def start_near(preview: Preview, host: str = "127.0.0.1", port: int = 8000, tries: int = NEXT_PORTS) -> Server:
    """Serve on `port` or, when it is busy, the next free port after it, then any free port
    (as `hugo server` does): for a port the coach did not pick, so that a second watch just works."""
    for candidate in range(port, min(port + tries, 65536)):
        try:
            return start(preview, host, candidate)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:  # no permission, no such address: another port won't help
                raise
    return start(preview, host, 0)
