"""The dashboard's "Send an update" panel (issue 14) in Chromium, on a plain and on a
password-protected site: what the client ticks, types and writes comes out as a readable
message whose sealed block Python opens with the site's token, by WebCrypto and by the
page's own SHA-256 where WebCrypto is missing; bad input is refused where it was typed; and
the page remembers what it sent until a build shows the update received."""

from __future__ import annotations

import datetime as dt
import functools
import http.server
import re
import threading
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from coachgen import checkin
from coachgen.engine import site
from conftest import TODAY, write_files

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run"]
PASSWORD = "correct horse battery staple"
PHONE = {"width": 390, "height": 844}
NOW = dt.datetime(2026, 3, 20, 12, 0)
"""The device's clock: the update's date is the device's local date."""
NOTE = "Felt strong this week. Café at 7 ✓ 🎉\nSecond line — with a dash."

CLIENT = """
---
name: {name}
slug: {slug}
metrics:
  weight: {{label: Weight, unit: kg, target: 70, by: 2026-06-30, direction: down}}
  meditated: {{label: Meditation, kind: habit, target: 5/7}}
  energy: {{label: Energy, kind: rating, scale: 10, target: 8}}
  runs: {{label: Runs, kind: count}}
---
"""
SESSION = """
---
title: Kick-off
metrics: {weight: 82, energy: 6}
---
- [ ] Send the proposal to Bob 📅 2026-03-25
- [ ] Call the bank
- [x] Already done ✅ 2026-03-09
"""


def make_site(root: Path, config: str) -> Path:
    """A vault with two clients, `ada` (protected when built with her password) and `bo`."""
    files = {"coachgen.toml": config}
    for slug, name in (("ada", "Ada Lovelace"), ("bo", "Bo Diddley")):
        files[f"clients/{slug}/client.md"] = CLIENT.format(name=name, slug=slug)
        files[f"clients/{slug}/sessions/2026-03-10.md"] = SESSION
    return write_files(root / "vault", files)


def build(vault: Path, out: Path) -> None:
    mp = pytest.MonkeyPatch()
    mp.setenv("COACHGEN_PASSWORD_ADA", PASSWORD)
    try:
        result = site.build(vault, out=out, today=TODAY, git=False)
    finally:
        mp.undo()
    assert not [p for p in result.problems if p.level == "error"], result.problems


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args) -> None:
        pass


def serve(out: Path):
    handler = functools.partial(Quiet, directory=str(out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("checkin")
    vault = make_site(root, 'coach = "Helen Marsh"\ncoach_email = "helen@example.org"\n')
    build(vault, root / "out")
    server, base = serve(root / "out")
    yield base, vault
    server.shutdown()
    server.server_close()


def open_dashboard(browser, base, slug, *, init_script=None, viewport=PHONE, reduced_motion="no-preference"):
    """A fresh context (own storage) on the client's dashboard, unlocked if it has a password."""
    context = browser.new_context(viewport=viewport, reduced_motion=reduced_motion)
    if init_script:
        context.add_init_script(init_script)
    page = context.new_page()
    page.clock.set_fixed_time(NOW)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(base + f"clients/{slug}/index.html")
    if page.locator("#password").count():
        page.fill("#password", PASSWORD)
        page.click("#unlock button[type=submit]")
    page.wait_for_selector("form[data-checkin]", timeout=30000)
    return page, errors


def submit(page):
    page.click("form[data-checkin] button[type=submit]")


def composed(page) -> str:
    page.wait_for_function("document.querySelector('textarea[data-checkin-message]').value.includes('-----END')",
                           timeout=10000, polling=20)
    return page.input_value("textarea[data-checkin-message]")


def opened(vault: Path, slug: str, text: str) -> checkin.Update:
    return checkin.open_block(checkin.find_block(text), checkin.tokens(vault, [slug], create=False))


def mail_parts(href: str) -> tuple[str, dict[str, str]]:
    """The address and the decoded fields of a mailto: link."""
    parts = urlsplit(href)
    assert parts.scheme == "mailto"
    fields = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True, strict_parsing=True).items()}
    return unquote(parts.path), fields


@pytest.mark.parametrize("slug", ["bo", "ada"], ids=["plain", "protected"])
def test_an_update_is_a_readable_message_with_a_seal_python_opens(served, browser, slug):
    base, vault = served
    page, errors = open_dashboard(browser, base, slug)
    if slug == "ada":
        assert page.locator('meta[name="coachgen-site"]').count() == 1  # really the protected site
    actions = page.eval_on_selector_all("input[data-action]", "els => els.map(e => e.dataset.action)")
    assert len(actions) == 2  # the two open actions, not the done one
    proposal = page.get_attribute("label:has-text('Send the proposal to Bob') input[data-action]", "data-action")
    page.check(f'input[data-action="{proposal}"]')
    page.fill('input[data-metric="weight"]', "81,2")  # a typed comma is a decimal point
    page.fill('input[data-metric="meditated"]', "5")
    page.fill('input[data-metric="energy"]', "7")
    page.fill("form[data-checkin] textarea", NOTE)
    submit(page)
    text = composed(page)

    update = opened(vault, slug, text)
    assert update.site == slug and update.date == NOW.date()
    assert ([(d.key, d.text, d.due) for d in update.done]
            == [(proposal, "Send the proposal to Bob", dt.date(2026, 3, 25))])
    assert dict(update.values) == {"weight": "81.2", "meditated": "5", "energy": "7"}
    assert update.note == NOTE
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", update.id)
    # another client's token does not open it
    other = "ada" if slug == "bo" else "bo"
    with pytest.raises(checkin.Refused):
        checkin.open_block(checkin.find_block(text), {slug: checkin.tokens(vault, [other], create=False)[other]})

    # the words a person reads
    assert text.startswith("Hi Helen,\n\nHere is my update (20 March 2026).\n\n")
    assert "Done:\n- Send the proposal to Bob\n\n" in text and "Call the bank" not in text
    assert "Numbers:\n- Weight: 81.2 kg\n- Meditation: 5 of 7 days\n- Energy: 7/10\n\n" in text
    assert f"Note:\n{NOTE}\n\n-----BEGIN COACHGEN CHECK-IN-----\n" in text
    assert text.endswith("-----END COACHGEN CHECK-IN-----\n(The block above lets coachgen add this update to your "
                         "notes. Please send it as it is.)")
    block_lines = text.split(checkin.BEGIN + "\n")[1].split("\n" + checkin.END)[0].split("\n")
    assert all(len(line) <= 64 for line in block_lines) and len(block_lines[0]) == 64

    # the mail link carries the same message, with CRLF line breaks
    address, fields = mail_parts(page.get_attribute("a[data-checkin-send]", "href"))
    assert address == "helen@example.org"
    name = "Ada Lovelace" if slug == "ada" else "Bo Diddley"
    assert fields["subject"] == f"Check-in from {name}, 20 March 2026"
    assert "\r\n" in fields["body"] and fields["body"].replace("\r\n", "\n") == text
    assert page.is_visible("textarea[data-checkin-message]")
    assert "helen@example.org" in page.text_content("[data-checkin-out]")
    assert errors == []
    page.context.close()


NO_SUBTLE = 'Object.defineProperty(Crypto.prototype, "subtle", {get() { return undefined; }});'


def test_without_webcrypto_the_page_own_sha256_makes_a_seal_that_verifies(served, browser):
    """Every length of payload modulo 64 bytes, so each SHA-256 padding case is met (with
    reduced motion, the page scrolls to the message at once: 64 smooth scrolls took a minute)."""
    base, vault = served
    page, errors = open_dashboard(browser, base, "bo", init_script=NO_SUBTLE, reduced_motion="reduce")
    assert page.evaluate("window.crypto.subtle === undefined")
    page.fill('input[data-metric="runs"]', "3")
    lengths = set()
    for extra in range(64):
        note = "é✓🙂" + "x" * extra
        page.fill("form[data-checkin] textarea", note)
        page.evaluate("document.querySelector('textarea[data-checkin-message]').value = ''")
        submit(page)
        text = composed(page)
        update = opened(vault, "bo", text)
        assert update.note == note and dict(update.values) == {"runs": "3"} and update.done == ()
        lengths.add(len(checkin._unb64(checkin.find_block(text).split(".")[0])) % 64)
    assert lengths == set(range(64))
    assert errors == []
    page.context.close()


def test_an_empty_update_is_not_composed(served, browser):
    base, _ = served
    page, errors = open_dashboard(browser, base, "bo")
    page.fill("form[data-checkin] textarea", "   \n  ")  # white space is no note
    submit(page)
    problem = page.locator("[data-checkin-problem]")
    problem.wait_for(state="visible")
    assert problem.text_content() == "Tick an action, enter a number or write a note first."
    assert page.input_value("textarea[data-checkin-message]") == ""
    assert not page.is_visible("textarea[data-checkin-message]")
    assert page.evaluate("localStorage.length") == 0
    assert errors == []
    page.context.close()


@pytest.mark.parametrize("metric,value,says", [
    ("energy", "0", "from 1 to 10"),
    ("energy", "11", "from 1 to 10"),
    ("energy", "7.5", "from 1 to 10"),
    ("runs", "-1", "0 or more"),
    ("meditated", "8", "from 0 to 7"),
    ("weight", "heavy", "Enter a number"),
    ("weight", "1,250", "Is that 1250 or 1.250"),
])
def test_invalid_values_are_refused_where_they_were_typed(served, browser, metric, value, says):
    base, vault = served
    page, errors = open_dashboard(browser, base, "bo")
    page.fill("form[data-checkin] textarea", "A note, so the update is not empty")
    page.fill(f'input[data-metric="{metric}"]', value)
    submit(page)
    field = page.locator(f'input[data-metric="{metric}"]')
    error = page.locator(f'input[data-metric="{metric}"] >> xpath=ancestor::div[contains(@class,"checkin-field")]'
                         f'//*[@data-checkin-field-error]')
    error.wait_for(state="visible")
    assert says in error.text_content()
    assert field.get_attribute("aria-invalid") == "true"
    assert page.evaluate("document.activeElement.dataset.metric") == metric
    assert page.input_value("textarea[data-checkin-message]") == ""
    assert page.is_visible("[data-checkin-problem]")
    # corrected, the update is composed and the mark is gone
    page.fill(f'input[data-metric="{metric}"]', "")
    assert field.get_attribute("aria-invalid") is None and not error.is_visible()
    submit(page)
    assert opened(vault, "bo", composed(page)).note == "A note, so the update is not empty"
    assert not page.is_visible("[data-checkin-problem]")
    assert errors == []
    page.context.close()


def test_the_page_remembers_a_sent_update_until_a_build_shows_it_received(tmp_path, browser):
    """Also: without coach_email the mail link has no address and the panel says so."""
    vault = make_site(tmp_path, "")
    out = tmp_path / "out"
    build(vault, out)
    server, base = serve(out)
    try:
        for slug in ("bo", "ada"):
            page, errors = open_dashboard(browser, base, slug)
            assert not page.is_visible("[data-checkin-sent]")
            page.fill('input[data-metric="weight"]', "80")
            page.fill("form[data-checkin] textarea", NOTE)
            submit(page)
            text = composed(page)
            assert text.startswith("Hi there,\n")
            href = page.get_attribute("a[data-checkin-send]", "href")
            assert href.startswith("mailto:?subject=")
            assert "Send it to your coach" in page.text_content("[data-checkin-out]")
            update = opened(vault, slug, text)
            # what this device keeps is the id and the date, never the words
            stored = page.evaluate("JSON.stringify(Object.assign({}, localStorage))")
            assert update.id in stored and "Felt strong" not in stored and "80" not in stored.replace(update.id, "")
            page.reload()
            page.wait_for_selector("form[data-checkin]", timeout=30000)
            sent = page.locator(f'[data-checkin-sent] [data-checkin-id="{update.id}"]')
            assert sent.text_content() == "Sent 20 March 2026, not yet seen by your coach"

            # the coach imports it: a check-in note with its id, and a new build
            (vault / f"clients/{slug}/check-ins").mkdir(exist_ok=True)
            (vault / f"clients/{slug}/check-ins/{update.date}.md").write_text(
                f"---\ndate: {update.date}\nsource: check-in\ncheckin: {update.id}\nmetrics: {{weight: 80}}\n---\n\n"
                "# Update\n\n> Felt strong this week\n", encoding="utf-8")
            build(vault, out)
            page.reload()
            page.wait_for_selector("form[data-checkin]", timeout=30000)
            assert "not yet seen" not in page.inner_text("main")  # what a reader sees
            assert sent.text_content() == "Sent 20 March 2026, received by your coach"
            assert update.id not in page.evaluate("JSON.stringify(Object.assign({}, localStorage))")
            page.reload()  # shown as received once, then forgotten
            page.wait_for_selector("form[data-checkin]", timeout=30000)
            assert sent.count() == 0 and not page.is_visible("[data-checkin-sent]")
            assert errors == []
            page.context.close()
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("viewport", [PHONE, {"width": 1280, "height": 800}], ids=["phone", "laptop"])
def test_the_panel_fits_the_screen_and_every_control_is_labelled_and_large(served, browser, viewport):
    base, _ = served
    page, errors = open_dashboard(browser, base, "bo", viewport=viewport)
    page.fill("form[data-checkin] textarea", NOTE)
    submit(page)
    composed(page)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    report = page.evaluate("""() => {
      const panel = document.querySelector('.checkin');
      const small = [], unlabelled = [];
      for (const el of panel.querySelectorAll('input, textarea, button, a')) {
        const target = el.type === 'checkbox' ? el.closest('label') : el;
        const box = target.getBoundingClientRect();
        if (box.height < 44) small.push(el.outerHTML.slice(0, 80) + ' ' + box.height);
        if (el.matches('input, textarea') && !el.labels.length) unlabelled.push(el.outerHTML.slice(0, 80));
      }
      return {small, unlabelled};
    }""")
    assert report == {"small": [], "unlabelled": []}
    assert errors == []
    page.context.close()


def test_without_a_token_the_dashboard_has_no_panel_and_no_script(tmp_path, monkeypatch):
    from coachgen.plan import pages

    real = pages.client_pages

    def without_token(client, model, config, files, locked=False, updated=None, name_key=b"", checkin_token="",
                      *rest):
        return real(client, model, config, files, locked, updated, name_key, "", *rest)

    monkeypatch.setattr(pages, "client_pages", without_token)
    vault = make_site(tmp_path, 'coach_email = "helen@example.org"\n')
    build(vault, tmp_path / "out")
    dashboard = (tmp_path / "out/clients/bo/index.html").read_text(encoding="utf-8")
    assert "Helen" not in dashboard and "data-checkin" not in dashboard and "checkin.js" not in dashboard
    assert not (tmp_path / "out/clients/bo/assets/checkin.js").exists()


@pytest.mark.parametrize("slug", ["bo", "ada"], ids=["plain", "protected"])
def test_the_whole_round_trip_from_the_page_to_the_chart(tmp_path, browser, slug):
    """The client ticks, logs and writes on their dashboard; the composed e-mail, saved as
    received, goes through `coachgen checkins import` and `coachgen build` as the README
    writes them (from inside the vault, relative paths); the page then shows the action done
    and the values charted."""
    import json
    import os
    import subprocess
    import sys
    from email.message import EmailMessage

    from conftest import ROOT

    vault = make_site(tmp_path, 'coach = "Helen Marsh"\ncoach_email = "helen@example.org"\n')
    out = vault / "_site"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COACHGEN_PASSWORD_ADA": PASSWORD}

    def coachgen(*args):
        done = subprocess.run([sys.executable, "-m", "coachgen", *args, "--today", "2026-03-20"], cwd=vault,
                              capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    coachgen("build")
    server, base = serve(out)
    try:
        page, errors = open_dashboard(browser, base, slug)
        proposal = page.get_attribute("label:has-text('Send the proposal to Bob') input[data-action]", "data-action")
        page.check(f'input[data-action="{proposal}"]')
        page.fill('input[data-metric="weight"]', "79.5")
        page.fill('input[data-metric="runs"]', "3")
        page.fill("form[data-checkin] textarea", NOTE)
        submit(page)
        composed(page)  # waits until the message is composed, before the mail link is read
        address, fields = mail_parts(page.get_attribute("a[data-checkin-send]", "href"))

        mail = EmailMessage()  # as the coach's mail program saves what arrived
        mail["From"], mail["To"], mail["Subject"] = "client@example.net", address, fields["subject"]
        mail["Message-ID"] = f"<round-trip-{slug}@example.net>"
        mail.set_content(fields["body"].replace("\r\n", "\n"))
        (vault / "update.eml").write_bytes(bytes(mail))
        done = coachgen("checkins", "import", "update.eml")
        assert "1 check-in written" in done.stdout + done.stderr
        note = (vault / f"clients/{slug}/check-ins/2026-03-20.md").read_text(encoding="utf-8")
        assert "source: check-in" in note and "- [x] Send the proposal to Bob" in note and "✅ 2026-03-20" in note
        coachgen("build")

        page.goto(base + f"clients/{slug}/actions/index.html")
        page.wait_for_selector("main")
        done_items = page.locator(".task-done, li:has(.pill-done), li:has(.pill-ok)").all_text_contents()
        assert any("Send the proposal to Bob" in t for t in done_items), done_items
        page.goto(base + f"clients/{slug}/metrics/index.html")
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length > 0", timeout=30000)
        charts = json.loads(page.text_content("#charts"))
        drawn = page.evaluate("Array.from(document.querySelectorAll('.js-plotly-plot'))"
                              ".map(el => el.data.map(t => t.y))")
        assert any(79.5 in trace for fig in drawn for trace in fig), drawn
        assert any(3 in fig["data"][0]["y"] for fig in charts.values())  # the count's running total: 0 + 3
        page.goto(base + f"clients/{slug}/index.html")
        page.wait_for_selector("form[data-checkin]", timeout=30000)
        assert "received by your coach" in page.text_content("[data-checkin-sent]")
        assert errors == []
        page.context.close()
    finally:
        server.shutdown()
        server.server_close()
