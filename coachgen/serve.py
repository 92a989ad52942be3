"""The preview server: the output folder on 127.0.0.1, with live reload and an error overlay.

It never serves a page mid-build (requests wait for the build to end), injects its
reload script into HTML only, refuses paths outside the output, and lists the sites at `/`.
"""

from __future__ import annotations

import html
import http.server
import json
import threading
from functools import partial
from pathlib import Path
from urllib.parse import unquote, urlsplit

RELOAD_PATH = "/__coachgen/reload.js"
EVENTS_PATH = "/__coachgen/events"
RELOAD_TAG = f'<script src="{RELOAD_PATH}"></script>'.encode()

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


class Handler(http.server.SimpleHTTPRequestHandler):
    preview: Preview

    def log_message(self, format, *args) -> None:  # the terminal is for builds and problems
        pass

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def do_GET(self) -> None:
        path = unquote(urlsplit(self.path).path)
        if path == RELOAD_PATH:
            return self._send(RELOAD_JS.encode(), "text/javascript; charset=utf-8")
        if path == EVENTS_PATH:
            return self._events()
        self.preview.wait_until_built()
        if path == "/":
            return self._send(self._index(), "text/html; charset=utf-8")
        target = self._target(path)
        if target is None:
            return self.send_error(404, "Not found")
        if target.is_dir():
            if not path.endswith("/"):
                self.send_response(301)
                self.send_header("Location", path + "/")
                self.end_headers()
                return None
            target = target / "index.html"
            if not target.is_file():
                return self.send_error(404, "Not found")
        data = target.read_bytes()
        ctype = self.guess_type(str(target))
        if target.suffix == ".html":
            data = data.replace(b"</body>", RELOAD_TAG + b"\n</body>", 1)
            ctype = "text/html; charset=utf-8"
        return self._send(data, ctype)

    def _target(self, path: str) -> Path | None:
        """The file a URL names, only inside the output and never a hidden one."""
        parts = [p for p in path.split("/") if p]
        if any(p.startswith(".") for p in parts):
            return None
        target = self.preview.out_dir.joinpath(*parts).resolve()
        if not target.is_relative_to(self.preview.out_dir) or not target.exists():
            return None
        return target

    def _send(self, data: bytes, ctype: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _index(self) -> bytes:
        rows = "".join(f'<li><a href="{html.escape(link)}">{html.escape(name)}</a></li>' for link, name in self.preview.sites)
        return (
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            'content="width=device-width, initial-scale=1"><meta name="robots" content="noindex, nofollow">'
            '<title>coachgen preview</title><style>body{font:17px/1.6 system-ui,sans-serif;max-width:640px;'
            'margin:40px auto;padding:0 20px}li{margin:6px 0}</style></head><body><h1>coachgen preview</h1>'
            f"<ul>{rows}</ul>{RELOAD_TAG.decode()}</body></html>"
        ).encode()

    def _events(self) -> None:
        """Server-sent events: the build epoch and errors now, then after every build."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        seen = -1
        try:
            while True:
                with self.preview.changed:
                    self.preview.changed.wait_for(lambda: self.preview.version != seen and not self.preview.building, timeout=15)
                    seen = self.preview.version
                self.wfile.write(b"data: " + self.preview.state() + b"\n\n")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            return


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


def start(preview: Preview, host: str = "127.0.0.1", port: int = 8000) -> Server:
    """Serve in a background thread; port 0 takes any free port (server.server_address)."""
    handler = type("BoundHandler", (Handler,), {"preview": preview})
    server = Server((host, port), partial(handler, directory=str(preview.out_dir)))
    threading.Thread(target=server.serve_forever, name="coachgen-serve", daemon=True).start()
    return server
