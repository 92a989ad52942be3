"""Regenerate the screenshots in docs/screenshots/ from a fresh build of vault_example/.

    python docs/screenshots.py

Builds into a temporary folder with --today 2026-03-20, serves it on 127.0.0.1 and
photographs each page kind at phone (390x844) and laptop (1280x800) widths in
Debian's Chromium. Then the same client as after her first session (one value per chart),
as of the day after it, at phone width: `first-session-*.png`. Last, the dashboard's
"Send an update" panel filled in and submitted, at phone width: `checkin-phone.png`; and
the dashboard in German (`language = "de"`): `dashboard-de-*.png`.
"""

from __future__ import annotations

import datetime as dt
import functools
import http.server
import shutil
import sys
import tempfile
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from coachgen.engine import site  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
SIZES = {"phone": (390, 844), "laptop": (1280, 800)}


def first_session(vault: Path) -> None:
    """Maya as after her first session: every later note and the coach's own notes removed."""
    maya = vault / "clients" / "maya-okafor"
    shutil.rmtree(maya / "notes")
    for note in (maya / "sessions").glob("*.md"):
        if note.name != "2026-01-05.md":
            note.unlink()


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args) -> None:
        pass


def shoot(site_dir: Path, pages: dict[str, str], sizes: dict[str, tuple[int, int]], out: Path) -> None:
    """Serve `site_dir` on 127.0.0.1 and photograph each page at each size."""
    handler = functools.partial(Quiet, directory=str(site_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for size_name, (w, h) in sizes.items():
            page = browser.new_page(viewport={"width": w, "height": h})
            for name, path in pages.items():
                page.goto(base + path)
                page.wait_for_load_state("networkidle")
                page.screenshot(path=str(out / f"{name}-{size_name}.png"), full_page="dashboard" not in name)
            page.close()
        browser.close()
    server.shutdown()


CHECKIN = {"weight_kg": "81.2", "meditated": "5", "sleep_h": "7.5"}
"""What the panel's screenshot types, for the metrics the client has."""
CHECKIN_NOTE = "Good week: the new routine stuck, even on Thursday. Knee still a bit stiff after runs."


def shoot_checkin(site_dir: Path, path: str, out: Path) -> None:
    """The check-in panel of one dashboard, filled in and submitted, at phone width."""
    handler = functools.partial(Quiet, directory=str(site_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    w, h = SIZES["phone"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": w, "height": h})
        page.clock.set_fixed_time(dt.datetime(2026, 3, 20, 12, 0))  # the update's date, as in the other shots
        page.goto(f"http://127.0.0.1:{server.server_address[1]}/{path}")
        page.wait_for_load_state("networkidle")
        page.add_style_tag(content=".top { position: static; }")  # the sticky header would cover the panel
        page.locator("form[data-checkin] input[data-action]").first.check()
        for key, value in CHECKIN.items():
            field = page.locator(f'input[data-metric="{key}"]')
            if field.count():
                field.fill(value)
        page.fill("#checkin-note", CHECKIN_NOTE)
        page.click("form[data-checkin] button[type=submit]")
        page.wait_for_function("document.querySelector('textarea[data-checkin-message]').value.includes('-----END')")
        page.wait_for_timeout(600)  # the smooth scroll to the composed message
        page.locator(".checkin").screenshot(path=str(out / "checkin-phone.png"))
        browser.close()
    server.shutdown()


def main(out: Path = ROOT / "docs" / "screenshots") -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        result = site.build(ROOT / "vault_example", out=Path(tmp) / "site", today=dt.date(2026, 3, 20), git=False)
        client = result.model.clients[0]
        session = client.sessions[-2]
        shoot(Path(tmp) / "site", {
            "dashboard": f"clients/{client.slug}/index.html",
            "session": f"clients/{client.slug}/{session.url}index.html",
            "actions": f"clients/{client.slug}/actions/index.html",
            "metrics": f"clients/{client.slug}/metrics/index.html",
            "coach": "coach/index.html",
        }, SIZES, out)
        samira = next((c for c in result.model.clients if c.slug == "samira"), client)
        shoot_checkin(Path(tmp) / "site", f"clients/{samira.slug}/index.html", out)
        not_vault = shutil.ignore_patterns(".coachgen", "_site")
        vault = shutil.copytree(ROOT / "vault_example", Path(tmp) / "first", ignore=not_vault)
        first_session(vault)
        site.build(vault, out=Path(tmp) / "first-site", today=dt.date(2026, 1, 6), git=False)
        shoot(Path(tmp) / "first-site", {
            "first-session-dashboard": "clients/maya/index.html",
            "first-session-metrics": "clients/maya/metrics/index.html",
        }, {"phone": SIZES["phone"]}, out)
        german = shutil.copytree(ROOT / "vault_example", Path(tmp) / "de", ignore=not_vault)
        settings = german / "coachgen.toml"
        settings.write_text(settings.read_text(encoding="utf-8") + '\nlanguage = "de"\n', encoding="utf-8")
        site.build(german, out=Path(tmp) / "de-site", today=dt.date(2026, 3, 20), git=False)
        shoot(Path(tmp) / "de-site", {"dashboard-de": f"clients/{client.slug}/index.html"}, SIZES, out)
    print(f"screenshots written to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots")
