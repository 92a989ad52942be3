"""Addresses do not break (issue 12, finding 2; contract revision 3): a session's id is its
date alone, titled or not, encrypted or not; a page that moves leaves a redirect at its old
address; in watch mode an open page follows to its new address."""

from __future__ import annotations

import re
import threading
import time

import pytest
from playwright.sync_api import sync_playwright

from coachgen import i18n
from coachgen.dev import watch
from coachgen.engine import site
from conftest import TODAY, all_output

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run"]
VAULT = {
    "clients/ada/client.md": "---\nname: Ada Lovelace\n---\n",
    "clients/ada/sessions/2026-01-05.md": "First steps.\n",
    "clients/ada/sessions/2026-01-12 b.md": "---\ndate: 2026-01-12\n---\nNote B.\n",
    "clients/ada/sessions/2026-01-12 c.md": "---\ndate: 2026-01-12\n---\nNote C.\n",
}


def build(vault, out):
    result = site.build(vault, out=out, today=TODAY, git=False)
    assert not result.errors, result.errors
    return result


def redirect_of(out, rel: str) -> str | None:
    """Where the redirect page at `rel` leads (relative), or None if it is not one."""
    text = (out / rel).read_text()
    m = re.search(r'http-equiv="refresh" content="0; url=([^"]+)"', text)
    return m.group(1) if m else None


def test_12_2_a_title_never_moves_a_page(make_vault, tmp_path):
    vault = make_vault(VAULT)
    out = tmp_path / "out"
    result = build(vault, out)
    assert [s.url for s in result.model.clients[0].sessions] == [
        "sessions/2026-01-05/", "sessions/2026-01-12/", "sessions/2026-01-12-2/"]
    note = vault / "clients/ada/sessions/2026-01-05.md"
    note.write_text("---\ntitle: Pricing breakthrough\n---\nFirst steps.\n")
    result = build(vault, out)
    assert result.model.clients[0].sessions[0].url == "sessions/2026-01-05/"
    assert "Pricing breakthrough" in (out / "clients/ada/sessions/2026-01-05/index.html").read_text()
    note.write_text("# A heading title\n\nFirst steps.\n")
    assert build(vault, out).model.clients[0].sessions[0].url == "sessions/2026-01-05/"


def test_12_2_a_shifted_suffix_leaves_a_redirect_that_goes_with_its_target(make_vault, tmp_path):
    vault = make_vault(VAULT)
    out = tmp_path / "out"
    build(vault, out)
    assert "Note C." in (out / "clients/ada/sessions/2026-01-12-2/index.html").read_text()
    (vault / "clients/ada/sessions/2026-01-12 b.md").unlink()  # C moves from -2 to the bare date
    build(vault, out)
    assert "Note C." in (out / "clients/ada/sessions/2026-01-12/index.html").read_text()
    old = "clients/ada/sessions/2026-01-12-2/index.html"
    assert redirect_of(out, old) == "../2026-01-12/"
    text = (out / old).read_text()
    assert 'content="noindex, nofollow"' in text and "Note C." not in text
    build(vault, out)  # the redirect stays while its target does
    assert redirect_of(out, old) == "../2026-01-12/"
    (vault / "clients/ada/sessions/2026-01-12 c.md").unlink()
    build(vault, out)
    assert not (out / old).exists() and not (out / "clients/ada/sessions/2026-01-12").exists()


def test_12_2_a_changed_slug_leaves_redirects_at_every_old_page(make_vault, tmp_path):
    vault = make_vault(VAULT)
    out = tmp_path / "out"
    build(vault, out)
    (vault / "clients/ada/client.md").write_text("---\nname: Ada Lovelace\nslug: ada-lovelace\n---\n")
    build(vault, out)
    files = all_output(out)
    assert "clients/ada-lovelace/sessions/2026-01-05/index.html" in files
    assert redirect_of(out, "clients/ada/index.html") == "../ada-lovelace/"
    assert redirect_of(out, "clients/ada/actions/index.html") == "../../ada-lovelace/actions/"
    assert (redirect_of(out, "clients/ada/sessions/2026-01-05/index.html")
            == "../../../ada-lovelace/sessions/2026-01-05/")
    # nothing but redirects stays at the old address: no data, no calendar, no assets
    assert {k for k in files if k.startswith("clients/ada/")} == {
        "clients/ada/index.html", "clients/ada/actions/index.html", "clients/ada/metrics/index.html",
        "clients/ada/sessions/2026-01-05/index.html", "clients/ada/sessions/2026-01-12/index.html",
        "clients/ada/sessions/2026-01-12-2/index.html"}
    # changed back: the real pages return, and the redirects now lead the other way
    (vault / "clients/ada/client.md").write_text("---\nname: Ada Lovelace\n---\n")
    build(vault, out)
    assert redirect_of(out, "clients/ada/index.html") is None
    assert redirect_of(out, "clients/ada-lovelace/index.html") == "../ada/"


def test_a_redirect_speaks_its_client_s_language(make_vault, tmp_path):
    """A German client's moved page says so in German, with its lang; the vault's stays English."""
    vault = make_vault({**VAULT, "clients/ada/client.md": "---\nname: Ada Lovelace\nlanguage: de\n---\n"})
    out = tmp_path / "out"
    build(vault, out)
    (vault / "clients/ada/client.md").write_text("---\nname: Ada Lovelace\nslug: ada-l\nlanguage: de\n---\n")
    build(vault, out)
    text = (out / "clients/ada/index.html").read_text()
    german = i18n.language("de")
    assert '<html lang="de">' in text and f"<title>{german.gettext('Moved')}</title>" in text
    link = f'<a href="../ada-l/">{german.gettext("open it here")}</a>'
    moved = german.gettext("This page has moved: %(link)s.") % {"link": link}
    assert moved in text and "This page has moved" not in text


def test_12_2_encrypted_sites_use_the_date_too(make_vault, tmp_path):
    vault = make_vault({**VAULT, "clients/ada/sessions/2026-01-05.md": "---\ntitle: Secret title\n---\nx\n",
                        ".coachgen/secrets.toml": '[passwords]\nada = "amber-bison-cedar-delta-ember-fable"\n'})
    out = tmp_path / "out"
    build(vault, out)
    assert (out / "clients/ada/sessions/2026-01-05/index.html").is_file()
    assert not any("secret" in k.lower() for k in all_output(out))


@pytest.mark.browser
def test_12_2_an_open_page_follows_when_its_client_changes_slug(make_vault, tmp_path):
    vault = make_vault(VAULT)
    stop, ready = threading.Event(), []
    thread = threading.Thread(target=watch.serve_and_watch, args=(vault,), kwargs=dict(
        out=tmp_path / "out", host="127.0.0.1", port=0, poll=False, today=TODAY, echo=lambda line: None,
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
            assert "First steps." in page.text_content("main")
            page.wait_for_timeout(300)  # the event stream is connected
            (vault / "clients/ada/client.md").write_text("---\nname: Ada Lovelace\nslug: ada-l\n---\n")
            page.wait_for_url("**/clients/ada-l/sessions/2026-01-05/", timeout=10000)
            assert "First steps." in page.text_content("main")
            browser.close()
    finally:
        stop.set()
        (vault / "clients/ada/poke.md").write_text("wake the watcher")
        thread.join(10)


def test_12_2_no_redirect_goes_into_another_client_s_folder(make_vault, tmp_path):
    vault = make_vault(VAULT)
    out = tmp_path / "out"
    build(vault, out)
    (vault / "clients/ada/client.md").write_text("---\nname: Ada Lovelace\nslug: ada-lovelace\n---\n")
    build(vault, out)
    assert redirect_of(out, "clients/ada/sessions/2026-01-12/index.html")
    # a new client takes the old slug: nothing of Ada's, not even a redirect, stays in their folder
    (vault / "clients/ada-king").mkdir()
    (vault / "clients/ada-king/client.md").write_text("---\nname: Ada King\nslug: ada\n---\n")
    (vault / "clients/ada-king/2026-02-01.md").write_text("King's note.\n")
    build(vault, out)
    king = {k: v for k, v in all_output(out).items() if k.startswith("clients/ada/")}
    assert king and not [k for k, v in king.items() if b"lovelace" in v.lower()]
