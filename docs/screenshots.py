"""Regenerate the screenshots in docs/screenshots/ from a fresh build of vault_example/.

    python docs/screenshots.py

Builds into a temporary folder with --today 2026-03-20, serves it on 127.0.0.1 and
photographs each page kind at phone (390x844) and laptop (1280x800) widths in
Debian's Chromium.
"""

from __future__ import annotations

import datetime as dt
import functools
import http.server
import sys
import tempfile
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from coachgen import site  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
SIZES = {"phone": (390, 844), "laptop": (1280, 800)}


def main(out: Path = ROOT / "docs" / "screenshots") -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        result = site.build(ROOT / "vault_example", out=Path(tmp), today=dt.date(2026, 3, 20), git=False)
        client = result.model.clients[0]
        session = client.sessions[-2]
        pages = {
            "dashboard": f"clients/{client.slug}/index.html",
            "session": f"clients/{client.slug}/{session.url}index.html",
            "actions": f"clients/{client.slug}/actions/index.html",
            "metrics": f"clients/{client.slug}/metrics/index.html",
            "coach": "coach/index.html",
        }
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=tmp)
        handler.log_message = lambda *a: None
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for size_name, (w, h) in SIZES.items():
                page = browser.new_page(viewport={"width": w, "height": h})
                for name, path in pages.items():
                    page.goto(base + path)
                    page.wait_for_load_state("networkidle")
                    full = name != "dashboard"
                    page.screenshot(path=str(out / f"{name}-{size_name}.png"), full_page=full)
                page.close()
            browser.close()
        server.shutdown()
    print(f"screenshots written to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots")
