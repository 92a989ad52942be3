"""The shipped catalogues (issue 15): complete in every language, in step with the code, and
a build of vault_example in each language shows none of coachgen's English words."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import sys

import pytest
from babel.messages.pofile import read_po

from coachgen import i18n
from coachgen.engine.site import build
from conftest import EXAMPLE, ROOT, TODAY

LANGUAGES = [code for code in i18n.SHIPPED if code != "en"]
POT = ROOT / "coachgen" / "locales" / "coachgen.pot"
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
MONTH = {"de": "März", "fr": "mars", "es": "mar", "pt": "mar.", "nl": "mrt"}
"""How each language writes March, the month vault_example is built in."""


def catalogue(code: str):
    with i18n.shipped_po(code).open("rb") as fh:
        return read_po(fh, locale=code)


def template():
    with POT.open("rb") as fh:
        return read_po(fh)


def ids(message) -> tuple[str, ...]:
    return message.id if isinstance(message.id, tuple) else (message.id,)


def strings(message) -> tuple[str, ...]:
    return message.string if isinstance(message.string, tuple) else (message.string,)


def test_the_template_is_what_pybabel_extracts_now(tmp_path):
    """`pybabel extract` (the README's command) finds exactly the shipped template's msgids:
    no string in the code or templates is missing from the catalogues."""
    out = tmp_path / "now.pot"
    done = subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg",
                           "-k", "counted:1,2", "--no-location", "-o", str(out), "."],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    with out.open("rb") as fh:
        now = {m.id for m in read_po(fh) if m.id}
    assert now == {m.id for m in template() if m.id}


@pytest.mark.parametrize("code", LANGUAGES)
def test_every_message_is_translated_with_its_placeholders(code):
    shipped = catalogue(code)
    missing, broken = [], []
    for message in template():
        if not message.id:
            continue
        found = shipped.get(message.id)
        if found is None or found.fuzzy or not all(strings(found)):
            missing.append(ids(message)[0])
            continue
        wanted = set(PLACEHOLDER.findall(" ".join(ids(message))))
        for text in strings(found):
            # a plural form may leave the number out ("un jour"), never add or rename one
            named = set(PLACEHOLDER.findall(text))
            if not named <= wanted or (len(strings(found)) == 1 and named != wanted):
                broken.append(ids(message)[0])
    assert missing == [] and broken == []


NOTE_WORDS = {"Update from %(name)s", "In their own words"}
"""Headings `checkins import` writes into a note, in its client's language at the time: once
written they are the note's words (vault_example's check-in was imported in English)."""


def _english_fragments(code: str) -> set[str]:
    """Pieces of coachgen's English (between placeholders and tags, two words or more) that
    the language writes differently."""
    shipped = catalogue(code)
    fragments = set()
    for message in template():
        if not message.id or message.id in NOTE_WORDS:
            continue
        translated = " ".join(strings(shipped.get(message.id))) if shipped.get(message.id) else ""
        for text in ids(message):
            for piece in PLACEHOLDER.split(re.sub(r"<[^>]+>", "|", text))[::2]:
                for part in piece.split("|"):
                    part = part.strip(" .,:;()·–-")
                    if len(part.split()) >= 2 and part not in translated:
                        fragments.add(part)
    return fragments


def _page_text(data: str) -> str:
    """What a reader sees of coachgen's own words: no scripts, and none of the coach's notes
    (their prose, insights, action texts and labels are the coach's words, in any language)."""
    data = re.sub(r"(?s)<script.*?</script>", " ", data)
    data = re.sub(r'(?s)<div class="prose">.*?</div>\s*(?=<aside|</div>)', " ", data)
    data = re.sub(r"(?s)<blockquote>.*?</blockquote>", " ", data)
    return html.unescape(re.sub(r"<[^>]+>", " ", data))


@pytest.mark.parametrize("code", LANGUAGES)
def test_vault_example_in_each_language_has_no_english_ui(code, tmp_path):
    vault = shutil.copytree(EXAMPLE, tmp_path / "vault", ignore=shutil.ignore_patterns(".coachgen", "_site"))
    config = vault / "coachgen.toml"
    config.write_text(config.read_text(encoding="utf-8") + f'\nlanguage = "{code}"\n', encoding="utf-8")
    result = build(vault, out=tmp_path / "out", today=TODAY, git=False)
    assert not result.errors, result.errors
    english = _english_fragments(code)
    pages = sorted((tmp_path / "out").rglob("*.html"))
    assert len(pages) > 20
    found = {}
    for page in pages:
        data = page.read_text(encoding="utf-8")
        rel = page.relative_to(tmp_path / "out").as_posix()
        assert f'<html lang="{code}">' in data, rel
        text = " ".join(_page_text(data).split())
        hits = sorted(f for f in english if re.search(r"(?<!\w)" + re.escape(f) + r"(?!\w)", text))
        if hits:
            found[rel] = hits
    assert found == {}
    dashboard = (tmp_path / "out/clients/maya/index.html").read_text(encoding="utf-8")
    assert MONTH[code] in dashboard  # dates in the language


def test_a_vault_catalogue_corrects_a_shipped_translation(tmp_path):
    shipped = i18n.language("de").gettext("Next steps")
    (tmp_path / "locales").mkdir()
    (tmp_path / "locales" / "de.po").write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n\n'
        'msgid "Next steps"\nmsgstr "Deine nächsten Züge"\n', encoding="utf-8")
    assert shipped != "Next steps"
    assert i18n.language("de", tmp_path).gettext("Next steps") == "Deine nächsten Züge"
    assert i18n.language("de", tmp_path).gettext("Your games") == i18n.language("de").gettext("Your games")
