"""serve.py: the preview server; and in Chromium, a page that reloads after a save and shows
the error overlay after a broken one."""

from __future__ import annotations

import http.client
import threading
import time
import urllib.request

import pytest
from playwright.sync_api import sync_playwright

from coachgen.dev import serve, watch
from coachgen.engine import site
from conftest import TODAY, write_files

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run"]
BASE = {
    "clients/ada/client.md": "---\nname: Ada Lovelace\n---\n",
    "clients/ada/s/2026-01-05 Start.md": "First version.\n\n- [ ] a\n",
}


@pytest.fixture
def server(tmp_path):
    vault = write_files(tmp_path / "vault", BASE)
    out = tmp_path / "out"
    result = site.Builder(vault, out=out, today=TODAY).build()
    preview = serve.Preview(out)
    preview.end([], watch._sites(result))
    srv = serve.start(preview, port=0)
    yield f"http://127.0.0.1:{srv.server_address[1]}", preview, out
    srv.shutdown()


def get(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, b"", ""


def test_index_lists_the_sites_and_html_gets_the_reload_script(server):
    base, _, _ = server
    status, body, _ = get(base + "/")
    assert status == 200 and b'href="/clients/ada/"' in body and b"Ada Lovelace" in body and b"/coach/" in body
    status, page, ctype = get(base + "/clients/ada/")
    assert status == 200 and ctype.startswith("text/html") and page.count(serve.RELOAD_TAG) == 1
    status, css, _ = get(base + "/clients/ada/assets/style.css")
    assert status == 200 and serve.RELOAD_TAG not in css
    status, data, _ = get(base + "/clients/ada/data.json")
    assert status == 200 and serve.RELOAD_TAG not in data


def test_paths_outside_the_output_and_hidden_files_are_refused(server, tmp_path):
    base, _, out = server
    (tmp_path / "secret.txt").write_text("outside")
    (out / ".hidden").write_text("hidden")
    host = base.removeprefix("http://")
    for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/clients/../../secret.txt", "/.hidden",
                 "/clients/ada/../../../etc/passwd"):
        conn = http.client.HTTPConnection(host, timeout=5)
        conn.request("GET", path)
        response = conn.getresponse()
        assert response.status in (404, 400), path
        assert b"outside" not in response.read()


def test_binds_to_loopback_by_default(server):
    base, _, _ = server
    assert base.startswith("http://127.0.0.1:")


def test_a_request_waits_while_a_build_runs(server):
    base, preview, _ = server
    preview.begin()
    done = []
    thread = threading.Thread(target=lambda: done.append(get(base + "/clients/ada/")[0]))
    thread.start()
    time.sleep(0.5)
    assert done == []  # still waiting for the build
    preview.end([], preview.sites)
    thread.join(5)
    assert done == [200]


@pytest.mark.browser
def test_the_open_page_reloads_after_a_save_and_shows_errors(tmp_path):
    vault = write_files(tmp_path / "vault", BASE)
    stop, ready = threading.Event(), []
    lines: list[str] = []
    thread = threading.Thread(target=watch.serve_and_watch, args=(vault,), kwargs=dict(
        out=tmp_path / "out", host="127.0.0.1", port=0, poll=False, today=TODAY, echo=lines.append,
        first_build=lambda builder: builder.build(), ready=ready.append, stop=stop))
    thread.start()
    try:
        for _ in range(100):
            if ready:
                break
            time.sleep(0.05)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page()
            page.goto(ready[0] + "clients/ada/sessions/2026-01-05/")
            assert "First version." in page.text_content("main")
            page.wait_for_timeout(300)  # the event stream is connected
            note = vault / "clients/ada/s/2026-01-05 Start.md"
            note.write_text("Second version, saved.\n\n- [ ] a\n")
            page.wait_for_selector("text=Second version, saved.", timeout=10000)
            note.write_text("---\ntitle: [broken\n---\nBroken.\n")
            overlay = page.wait_for_selector("#coachgen-errors", timeout=10000)
            assert "clients/ada/s/2026-01-05 Start.md:3: error:" in overlay.text_content()
            assert "Second version, saved." in page.text_content("main")  # the last good page stays
            note.write_text("Third version, fixed.\n\n- [ ] a\n")
            page.wait_for_selector("text=Third version, fixed.", timeout=10000)
            assert page.query_selector("#coachgen-errors") is None
            browser.close()
    finally:
        stop.set()
        (vault / "clients/ada/s/poke.md").write_text("wake the watcher")
        thread.join(10)
    assert any("clients/ada/s/2026-01-05 Start.md:3: error:" in line for line in lines)
    assert any("-> " in line and " ms" in line for line in lines)
