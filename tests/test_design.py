"""What a client sees, in Chromium (issue 6): no serious accessibility violations (axe-core),
the four questions answered on a phone's first screen, and a one-page printed action plan."""

from __future__ import annotations

import datetime as dt
import functools
import http.server
import re
import threading

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import sync_playwright

from coachgen.engine import site
from conftest import EXAMPLE

pytestmark = pytest.mark.browser
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run"]
MODES = [((390, 844), "light"), ((1280, 800), "light"), ((390, 844), "dark"), ((1280, 800), "dark")]


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    out = tmp_path_factory.mktemp("design")
    result = site.build(EXAMPLE, out=out, today=dt.date(2026, 3, 20), git=False)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(out))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        yield f"http://127.0.0.1:{server.server_address[1]}/", result.model, browser
        browser.close()
    server.shutdown()


def page_kinds(model) -> dict[str, str]:
    client = model.clients[0]
    root = f"clients/{client.slug}/"
    return {"dashboard": root + "index.html", "session": root + client.sessions[-1].url + "index.html",
            "actions": root + "actions/index.html", "metrics": root + "metrics/index.html", "coach": "coach/index.html"}


@pytest.mark.parametrize("mode", MODES, ids=[f"{w}x{h}-{s}" for (w, h), s in MODES])
def test_no_serious_or_critical_accessibility_violations(example, mode):
    base, model, browser = example
    (width, height), scheme = mode
    context = browser.new_context(viewport={"width": width, "height": height}, color_scheme=scheme)
    page = context.new_page()
    axe = Axe()
    found = []
    for kind, path in page_kinds(model).items():
        page.goto(base + path)
        page.wait_for_load_state("networkidle")
        results = axe.run(page)
        for violation in results.response["violations"]:
            if violation["impact"] in ("serious", "critical"):
                nodes = [n["target"] for n in violation["nodes"][:3]]
                found.append(f"{kind}: {violation['id']} ({violation['impact']}) {violation['help']} at {nodes}")
    context.close()
    assert found == []


def test_the_phone_first_screen_answers_the_four_questions(example):
    base, model, browser = example
    page = browser.new_page(viewport={"width": 390, "height": 844})
    for client in model.clients:
        page.goto(base + f"clients/{client.slug}/index.html")
        glance = page.locator("#glance")
        box = glance.bounding_box()
        assert box and box["y"] + box["height"] <= 844, f"{client.slug}: the summary runs below the first screen"
        text = glance.text_content()
        for question in ("Do next", "How you're doing", "You discovered", "Where you're going"):
            assert question in text, (client.slug, question)
    page.close()


def test_printing_the_actions_page_gives_one_page(example):
    base, model, browser = example
    page = browser.new_page()
    for client in model.clients:
        page.goto(base + f"clients/{client.slug}/actions/index.html")
        page.emulate_media(media="print")
        pdf = page.pdf(format="A4", print_background=False)
        pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
        assert pages == 1, f"{client.slug}: the printed action plan takes {pages} pages"
    page.close()
