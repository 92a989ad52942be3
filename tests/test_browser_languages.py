"""vault_example in each shipped language, in Chromium at phone width (issue 15): every tab of
the navigation stays in view however long the language's words, no page is wider than the
phone, and the page scripts speak the page's language too: the check-in panel's field errors,
composed e-mail and "sent" line, and the password page's error."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest

from coachgen import i18n
from coachgen.engine import site
from conftest import EXAMPLE, TODAY
from test_browser import LAYOUT_JS
from test_browser_checkin import ARGS, CHROMIUM, NOW, PHONE, mail_parts, serve

pytestmark = pytest.mark.browser
LANGUAGES = [code for code in i18n.SHIPPED if code != "en"]
PASSWORD = "a long and private passphrase"
LOCKED, PLAIN = "maya", "samira"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Each language's build of vault_example side by side, `maya` behind a password."""
    root = tmp_path_factory.mktemp("languages")
    mp = pytest.MonkeyPatch()
    mp.setenv("COACHGEN_PASSWORD_MAYA", PASSWORD)
    try:
        for code in LANGUAGES:
            vault = shutil.copytree(EXAMPLE, root / "vaults" / code,
                                    ignore=shutil.ignore_patterns(".coachgen", "_site"))
            config = vault / "coachgen.toml"
            config.write_text(config.read_text(encoding="utf-8") + f'\nlanguage = "{code}"\n', encoding="utf-8")
            result = site.build(vault, out=root / "out" / code, today=TODAY, git=False)
            assert not result.errors, result.errors
    finally:
        mp.undo()
    server, base = serve(root / "out")
    yield base
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def visit(browser, url: str):
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.clock.set_fixed_time(NOW)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    return page, errors


NAV_JS = """() => Array.from(document.querySelectorAll(".top nav a")).map(a => {
  const r = a.getBoundingClientRect();
  return {text: a.textContent.trim(), left: r.left, right: r.right, width: r.width};
})"""


@pytest.mark.parametrize("path", ["coach/index.html", f"clients/{PLAIN}/index.html",
                                  f"clients/{PLAIN}/actions/index.html", f"clients/{PLAIN}/metrics/index.html"])
@pytest.mark.parametrize("code", LANGUAGES)
def test_every_tab_is_in_view_and_nothing_is_wider_than_a_phone(served, browser, code, path):
    page, errors = visit(browser, f"{served}{code}/{path}")
    vw = PHONE["width"]
    tabs = page.evaluate(NAV_JS)
    hidden = [t for t in tabs if t["left"] < 0 or t["right"] > vw or t["width"] == 0]
    assert not hidden, f"{code} {path}: tabs out of view at {vw} px: {hidden}"
    layout = page.evaluate(LAYOUT_JS)
    assert layout["scrollWidth"] <= vw and not layout["offenders"], f"{code} {path}: {layout['offenders']}"
    assert page.get_attribute("html", "lang") == code
    assert errors == []
    page.context.close()


@pytest.mark.parametrize("code", LANGUAGES)
def test_the_check_in_panel_writes_in_the_page_language(served, browser, code):
    lang = i18n.language(code)
    _ = lang.gettext
    page, errors = visit(browser, f"{served}{code}/clients/{PLAIN}/index.html")
    page.wait_for_selector("form[data-checkin]")
    weight = 'input[data-metric="weight_kg"]'

    # "1.234" where the language writes 1,5 could be a thousand: asked, in the language
    page.fill(weight, "81.234")
    page.click("form[data-checkin] button[type=submit]")
    error = page.text_content(f"#{page.get_attribute(weight, 'id')}-error")
    assert error == _("Is that %(whole)s or %(fraction)s? Write it as one of those.") % {
        "whole": "81234", "fraction": "81,234"}
    assert page.text_content("[data-checkin-problem]") == _("Please correct the field marked above.")
    page.fill(weight, "heavy")
    page.click("form[data-checkin] button[type=submit]")
    assert page.text_content(f"#{page.get_attribute(weight, 'id')}-error") == (
        _("Enter a number, like %(example)s.") % {"example": lang.num(81.2)})

    # the language's decimal comma is a decimal point, and the message is in the language
    page.fill(weight, "81,5")
    page.fill('input[data-metric="meditated"]', "5")
    page.click("form[data-checkin] button[type=submit]")
    page.wait_for_function("document.querySelector('textarea[data-checkin-message]').value.includes('-----END')")
    text = page.input_value("textarea[data-checkin-message]")
    day = lang.long_day(NOW.date())  # the browser's Intl writes the date as Babel does
    assert text.startswith(_("Hi %(coach)s,") % {"coach": "Helen"} + "\n\n"
                           + _("Here is my update (%(date)s).") % {"date": day} + "\n\n")
    assert _("Numbers:") + "\n- Weight: 81,5 kg\n- Daily meditation: " + _("%(num)s of 7 days") % {"num": 5} in text
    assert _("(The block above lets coachgen add this update to your notes. Please send it as it is.)") in text
    assert page.text_content("[data-checkin-sent] li") == _("Sent %(date)s, not yet seen by your coach") % {"date": day}
    subject = _("Check-in from %(client)s, %(date)s") % {"client": "Samira Haddad", "date": day}
    assert mail_parts(page.get_attribute("a[data-checkin-send]", "href"))[1]["subject"] == subject
    assert errors == []
    page.context.close()


@pytest.mark.parametrize("code", LANGUAGES)
def test_the_password_page_says_a_wrong_password_in_the_language(served, browser, code):
    page, errors = visit(browser, f"{served}{code}/clients/{LOCKED}/index.html")
    page.fill("#password", "not the password")
    page.click("#unlock button[type=submit]")
    page.wait_for_selector("#unlock-error:not([hidden])")
    assert page.text_content("#unlock-error") == i18n.language(code).gettext(
        "That password is not right. Check it and try again.")
    assert page.get_attribute("html", "lang") == code and errors == []
    page.context.close()


def test_the_long_date_the_browser_writes_is_babels(served, browser):
    """The panel's dates come from the browser's Intl, the site's from Babel: one CLDR."""
    page, _ = visit(browser, f"{served}de/clients/{PLAIN}/index.html")
    for code in i18n.SHIPPED:
        day = dt.date(2026, 3, 20)
        written = page.evaluate("([tag]) => new Intl.DateTimeFormat(tag, {day: 'numeric', month: 'long', "
                                "year: 'numeric', timeZone: 'UTC'}).format(new Date(Date.UTC(2026, 2, 20)))",
                                [i18n.language(code).tag])
        assert written == i18n.language(code).long_day(day), code
    page.context.close()
