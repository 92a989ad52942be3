"""A password-protected site in Chromium: unlock, charts, navigation, wrong password,
tampering, logging out, and the known-answer vector that Python sealed."""

from __future__ import annotations

import datetime as dt
import functools
import http.server
import shutil
import threading

import pytest
from playwright.sync_api import sync_playwright

from coachgen.engine import site
from coachgen.render.sources import templates_dir
from coachgen.render.templates import environment
from test_crypto import KAT_ENVELOPE, PASSWORD, VAULT

pytestmark = pytest.mark.browser
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("lock")
    vault = root / "vault"
    for rel, content in VAULT.items():
        (vault / rel).parent.mkdir(parents=True, exist_ok=True)
        (vault / rel).write_bytes(content if isinstance(content, bytes) else content.encode())
    mp = pytest.MonkeyPatch()
    mp.setenv("COACHGEN_PASSWORD_ADA", PASSWORD)
    out = root / "out"
    site.build(vault, out=out, today=dt.date(2026, 3, 20))
    mp.undo()
    # the known-answer page: Python's envelope in the shell the site uses
    kat = out / "kat"
    (kat / "assets").mkdir(parents=True)
    for name in ("lock.js", "style.css", "icon.svg"):
        shutil.copy(templates_dir() / "assets" / name, kat / "assets" / name)
    (kat / "index.html").write_text(environment(None).get_template("locked.html").render(envelope=KAT_ENVELOPE, rel=""))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(out))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        yield f"http://127.0.0.1:{server.server_address[1]}/", out, browser
        browser.close()
    server.shutdown()


def unlock(page, password):
    page.fill("#password", password)
    page.click("button[type=submit]")


def test_right_password_opens_the_dashboard_with_charts_and_navigation(served):
    base, out, browser = served
    page = browser.new_page(viewport={"width": 390, "height": 844})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(base + "clients/ada/index.html")
    assert page.title() == "Private" and "CANARY" not in page.content()
    unlock(page, PASSWORD)
    page.wait_for_selector(".spark .main-svg", timeout=30000)
    assert "CANARY-NAME" in page.text_content("body")
    # with its Log out button the header still fits a phone: nothing scrolls sideways
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.click("nav >> text=Actions")
    page.wait_for_selector("h1:has-text('Actions')", timeout=30000)
    assert "CANARY-ACTION" in page.text_content("body")
    page.goto(base + "clients/ada/sessions/2026-03-01/index.html")
    page.wait_for_function("document.images.length && document.images[0].src.startsWith('blob:')", timeout=30000)
    assert "CANARY-BODY" in page.text_content("body")
    page.click("#logout")
    page.wait_for_selector("#unlock:not([hidden])", timeout=30000)
    assert "CANARY" not in page.content()
    assert errors == []
    page.close()


def test_wrong_password_says_so_and_shows_nothing(served):
    base, _, browser = served
    page = browser.new_page()
    page.goto(base + "clients/ada/index.html")
    unlock(page, "not the password at all")
    page.wait_for_selector("#unlock-error:not([hidden])", timeout=30000)
    assert "not right" in page.text_content("#unlock-error")
    assert "CANARY" not in page.content()
    page.close()


def test_a_tampered_page_does_not_open(served):
    base, out, browser = served
    target = out / "clients/ada/metrics/index.html"
    original = target.read_text()
    start = original.index('id="sealed">') + len('id="sealed">') + 200
    target.write_text(original[:start] + ("A" if original[start] != "A" else "B") + original[start + 1:])
    try:
        page = browser.new_page()
        page.goto(base + "clients/ada/index.html")
        unlock(page, PASSWORD)
        page.wait_for_selector(".spark .main-svg", timeout=30000)
        page.goto(base + "clients/ada/metrics/index.html")  # the saved key meets a changed file
        page.wait_for_selector("#unlock-error:not([hidden])", timeout=30000)
        assert "CANARY" not in page.content()
        unlock(page, PASSWORD)
        page.wait_for_selector("#unlock-error:has-text('not right')", timeout=30000)
        assert "CANARY" not in page.content()
        page.close()
    finally:
        target.write_text(original)


def test_the_browser_opens_what_python_sealed(served):
    """Known answer: WebCrypto decrypts the envelope that test_crypto pins."""
    base, _, browser = served
    page = browser.new_page()
    page.goto(base + "kat/index.html")
    unlock(page, "correct horse battery staple")
    page.wait_for_selector("text=Known answer", timeout=30000)
    page.close()
