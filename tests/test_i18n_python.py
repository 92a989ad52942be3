"""Languages in what Python writes (issue 15): due dates, metric values, chart names, calendar
summaries, the digest and the scaffolded session note come from the gettext catalogues, and
dates, numbers and money are written the language's way.

The shipped catalogues are translated later: the German words here come from a vault's own
`locales/de.po` (its entries win over a shipped catalogue's), so these tests hold whatever the
shipped catalogues say. English output as a whole is the golden test's (test_site.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import shutil

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po
from icalendar import Calendar

from coachgen import digest, i18n, scaffold
from coachgen.engine import site
from coachgen.model.clients import Metric, Point
from coachgen.parse.markdown import task_due, task_prefix
from coachgen.parse.notes import MetricDef
from coachgen.plan import charts, pages
from coachgen.render.templates import ago, due_phrase, metric_value
from coachgen.vault import config as config_mod
from conftest import ROOT, TODAY

GERMAN = {
    "due %(when)s": "fällig %(when)s",
    "due today": "heute fällig",
    ("%(num)s day overdue", "%(num)s days overdue"): ("%(num)s Tag überfällig", "%(num)s Tage überfällig"),
    "today": "heute",
    "%(num)s of 7 days": "%(num)s von 7 Tagen",
    "Open": "Offen",
    "Overdue": "Überfällig",
    "Dashboard": "Übersicht",
    "Metrics": "Kennzahlen",
    "Target path": "Zielpfad",
    "Running total": "Summe",
    "Adherence": "Einhaltung",
    "Coaching session with %(coach)s": "Coaching-Sitzung mit %(coach)s",
    "%(client)s: coaching": "%(client)s: Coaching",
    "Session with %(client)s": "Sitzung mit %(client)s",
    "Overdue, %(client)s: %(action)s": "Überfällig, %(client)s: %(action)s",
    "%(title)s: sessions and overdue actions": "%(title)s: Sitzungen und überfällige Aufgaben",
    ("%(left)s of %(num)s session left", "%(left)s of %(num)s sessions left"):
        ("noch %(left)s von %(num)s Sitzung", "noch %(left)s von %(num)s Sitzungen"),
    "engagement ends %(date)s": "Begleitung endet %(date)s",
    "Your next steps from our session on %(date)s": "Deine nächsten Schritte aus unserer Sitzung am %(date)s",
    "Hello %(name)s,": "Hallo %(name)s,",
    "Here is what came out of our session on %(date)s.": "Das kam aus unserer Sitzung am %(date)s heraus.",
    "Your next steps": "Deine nächsten Schritte",
    "by %(date)s": "bis %(date)s",
    "What we recorded": "Was wir festgehalten haben",
    "target %(value)s by %(date)s": "Ziel %(value)s bis %(date)s",
    "total, %(added)s new": "insgesamt, %(added)s neu",
    "Review": "Rückblick",
    "What we explored": "Was wir erkundet haben",
    "Next steps": "Nächste Schritte",
    "A clear next step": "Ein klarer nächster Schritt",
    "how many since last time": "wie viele seit dem letzten Mal",
    "by `coachgen new session`: the client sees this note once you write in it. Comments like this one are "
    "for you only, and a heading left empty is not shown.":
        "von `coachgen new session`: Die Klientin sieht diese Notiz, sobald du darin schreibst.",
}


def po(entries: dict, code: str) -> str:
    lines = ['msgid ""', 'msgstr ""', f'"Language: {code}\\n"', '"Content-Type: text/plain; charset=UTF-8\\n"',
             '"Plural-Forms: nplurals=2; plural=(n != 1);\\n"', ""]
    for msgid, msgstr in entries.items():
        if isinstance(msgid, tuple):
            lines += [f"msgid {json.dumps(msgid[0], ensure_ascii=False)}",
                      f"msgid_plural {json.dumps(msgid[1], ensure_ascii=False)}",
                      f"msgstr[0] {json.dumps(msgstr[0], ensure_ascii=False)}",
                      f"msgstr[1] {json.dumps(msgstr[1], ensure_ascii=False)}", ""]
        else:
            lines += [f"msgid {json.dumps(msgid, ensure_ascii=False)}",
                      f"msgstr {json.dumps(msgstr, ensure_ascii=False)}", ""]
    return "\n".join(lines)


ADA = """---
name: Ada Lovelace
slug: ada
language: de
next_session: 2026-03-27 10:00
engagement: {sessions: 3, from: 2026-01-01}
metrics:
  mrr: {label: Umsatz, unit: £, target: 12000, by: 2026-06-30}
  calls: {label: Anrufe, kind: count, target: 100}
  meditated: {label: Meditation, kind: habit, target: 6/7}
---
"""
ADA_SESSION = """---
date: 2026-03-16
title: Preise
metrics:
  mrr: 7250
  calls: 12
  meditated: 4/7
---
Wir haben über Preise gesprochen.

- [ ] Angebot schicken 📅 2026-03-17
- [ ] Heute erledigen 📅 2026-03-20
- [ ] Bob anrufen 📅 2026-03-23
"""
BOB = """---
name: Bob Babbage
slug: bob
next_session: 2026-03-26
metrics:
  mrr: {label: Revenue, unit: £, target: 12000, by: 2026-06-30}
---
"""
BOB_SESSION = """---
date: 2026-03-16
title: Pricing
metrics:
  mrr: 7250
---
We talked about prices.

- [ ] Send the offer 📅 2026-03-17
"""


@pytest.fixture
def vault(make_vault):
    """Ada's site is German (client.md says so), Bob's the vault's English; German words from locales/de.po."""
    return make_vault({
        "coachgen.toml": 'title = "Northstar"\ncoach = "Helen Marsh"\ntimezone = "Europe/London"\n',
        "locales/de.po": po(GERMAN, "de"),
        "clients/ada/client.md": ADA,
        "clients/ada/sessions/2026-03-16.md": ADA_SESSION,
        "clients/bob/client.md": BOB,
        "clients/bob/sessions/2026-03-16.md": BOB_SESSION,
    })


@pytest.fixture
def de(vault):
    return i18n.language("de", vault)


def model_of(vault):
    result = site.build(vault, today=TODAY, write=False, git=False)
    assert not result.errors, result.errors
    config, _ = config_mod.load(vault)
    return result.model, config, {c.slug: c for c in result.model.clients}


def spec(kind="number", unit=None, target=None, scale=10):
    return MetricDef("m", "M", unit, kind, target, None, "up", scale)


# ---------------------------------------------------------------- phrases, values, charts


def test_due_phrases_and_ago_in_german(de):
    assert due_phrase(TODAY + dt.timedelta(days=3), TODAY, de) == "fällig in 3 Tagen"
    assert due_phrase(TODAY - dt.timedelta(days=3), TODAY, de) == "3 Tage überfällig"
    assert due_phrase(TODAY - dt.timedelta(days=1), TODAY, de) == "1 Tag überfällig"
    assert due_phrase(TODAY, TODAY, de) == "heute fällig"
    assert ago(TODAY, TODAY, de) == "heute"
    assert ago(TODAY - dt.timedelta(days=3), TODAY, de) == "vor 3 Tagen"  # CLDR's, no catalogue needed


def test_metric_values_in_german(de):
    assert metric_value(7250, spec(unit="£"), de) == "7.250\xa0£"
    assert metric_value(75.5, spec(unit="kg"), de) == "75,5 kg"
    assert metric_value(8, spec(kind="rating"), de) == "8/10"
    assert metric_value(4 / 7, spec(kind="habit"), de) == "4 von 7 Tagen"
    assert charts.habit_text(4 / 7, de) == "4 von 7 Tagen"
    assert charts.habit_text(0.8, de) == "80\xa0%"


def test_task_lines_in_german(de):
    assert task_due(dt.date(2026, 3, 20), de) == ' <time class="due" datetime="2026-03-20">20. März 2026</time>'
    assert 'aria-label="Offen"' in task_prefix("open", de)
    assert 'aria-label="Überfällig"' in task_prefix("overdue", de)
    # English as it always was
    assert task_due(dt.date(2026, 3, 20)) == ' <time class="due" datetime="2026-03-20">20 Mar 2026</time>'
    assert task_prefix("done") == '<span class="task-box task-box-done" role="img" aria-label="Done"></span>'


def test_chart_names_money_and_separators_in_german(de):
    points = (Point(dt.date(2026, 3, 2), 7000, 7000, "s"), Point(dt.date(2026, 3, 16), 7250.5, 7250.5, "s"))
    metric = Metric(MetricDef("mrr", "Umsatz", "£", "number", 12000, dt.date(2026, 6, 30), "up", 10), points)
    fig = charts.figure(metric, lang=de)
    assert [t["name"] for t in fig["data"]] == ["Umsatz", "Zielpfad"]
    assert fig["layout"]["separators"] == ",."
    assert fig["layout"]["yaxis"]["ticksuffix"] == "\xa0£" and "tickprefix" not in fig["layout"]["yaxis"]
    # the sign is the axis' suffix, which Plotly adds to %{y} in a hover: never written twice
    assert fig["data"][0]["hovertemplate"].endswith(": %{y}<extra></extra>")
    english = charts.figure(metric)
    assert [t["name"] for t in english["data"]] == ["Umsatz", "Target path"]
    assert "separators" not in english["layout"] and english["layout"]["yaxis"]["tickprefix"] == "£"
    assert english["data"][0]["hovertemplate"].endswith(": %{y}<extra></extra>")
    count = Metric(MetricDef("c", "Anrufe", None, "count", 100, None, "up", 10), points)
    # "Target" is not in the test's de.po: the shipped one translates it
    target = i18n.language("de").gettext("Target")
    assert [t["name"] for t in charts.figure(count, lang=de)["data"]] == ["Summe", target]
    habit = Metric(MetricDef("h", "Meditation", None, "habit", 6 / 7, None, "up", 10),
                   (Point(dt.date(2026, 3, 16), 4 / 7, 4 / 7, "s"),))
    bars = charts.figure(habit, lang=de)["data"][0]
    assert bars["name"] == "Einhaltung" and bars["customdata"] == ["4 von 7 Tagen"]


@pytest.mark.parametrize("code", ["pt", "nl"])
def test_a_currency_sign_before_the_number_keeps_the_languages_space(code):
    lang = i18n.language(code)
    metric = Metric(MetricDef("mrr", "R", "€", "number", None, None, "up", 10),
                    (Point(dt.date(2026, 3, 16), 7250, 7250, "s"),))
    fig = charts.figure(metric, lang=lang)
    assert fig["layout"]["yaxis"]["tickprefix"] == "€\xa0"
    assert fig["layout"]["separators"] == ",."


def test_ending_in_german(vault, de):
    _, _, clients = model_of(vault)
    assert pages._ending(clients["ada"], TODAY, de) == "noch 2 von 3 Sitzungen"
    assert pages._ending(clients["ada"], TODAY) == "2 of 3 sessions left"
    until = dataclasses.replace(clients["bob"], engagement={"until": dt.date(2026, 3, 27)})
    assert pages._ending(until, TODAY, de) == "Begleitung endet 27. März 2026"  # the date as the language writes it
    assert pages._ending(until, TODAY) == "engagement ends 27 Mar 2026"


# ---------------------------------------------------------------- calendars


def summaries(feed: bytes) -> tuple[str, list[str]]:
    cal = Calendar.from_ical(feed)
    return str(cal["X-WR-CALNAME"]), sorted(str(e["SUMMARY"]) for e in cal.walk("VEVENT"))


def test_calendars_in_the_clients_and_the_vaults_language(vault):
    model, config, clients = model_of(vault)
    name, events = summaries(pages.calendar(clients["ada"], TODAY, config))
    assert name == "Ada Lovelace: Coaching"
    # actions are named as the coach wrote them
    assert events == ["Angebot schicken", "Bob anrufen", "Coaching-Sitzung mit Helen Marsh", "Heute erledigen"]
    name, events = summaries(pages.calendar(clients["bob"], TODAY, config))
    assert name == "Bob Babbage: coaching" and "Coaching session with Helen Marsh" in events
    name, events = summaries(pages.calendar(clients["ada"], TODAY, dataclasses.replace(config, coach="")))
    assert i18n.language("de").gettext("Coaching session") in events  # not in the test's de.po: the shipped one
    # the coach's feed: the vault's language, whatever each client's
    name, events = summaries(pages.coach_calendar(model, config))
    assert name == "Northstar: sessions and overdue actions"
    assert "Session with Ada Lovelace" in events and "Overdue, Ada Lovelace: Angebot schicken" in events
    name, events = summaries(pages.coach_calendar(model, dataclasses.replace(config, language="de")))
    assert name == "Northstar: Sitzungen und überfällige Aufgaben"
    assert "Sitzung mit Bob Babbage" in events and "Überfällig, Bob Babbage: Send the offer" in events


# ---------------------------------------------------------------- the site


def test_pages_in_the_clients_language(vault, tmp_path):
    out = tmp_path / "out"
    result = site.build(vault, out=out, today=TODAY, git=False)
    assert not result.errors, result.errors
    metrics = (out / "clients/ada/metrics/index.html").read_text()
    assert "<title>Kennzahlen · Ada Lovelace</title>" in metrics
    assert '"Zielpfad"' in metrics and '"separators":",."' in metrics
    for page in ("index.html", "metrics/index.html"):
        html = (out / "clients/ada" / page).read_text()
        found = re.search(r'<script type="application/json" id="plotly-locale">(.*?)</script>', html)
        assert found, page
        locale = json.loads(found.group(1))
        assert locale["name"] == "de" and locale["format"]["months"][2] == "März"
        assert locale["format"]["decimal"] == ","
    session = (out / "clients/ada/sessions/2026-03-16/index.html").read_text()
    assert 'aria-label="Überfällig"' in session and ">17. März 2026</time>" in session
    # Bob's site is English: no locale for Plotly, English words
    for page in ("index.html", "metrics/index.html"):
        assert 'id="plotly-locale"' not in (out / "clients/bob" / page).read_text()
    bob = (out / "clients/bob/metrics/index.html").read_text()
    assert "<title>Metrics · Bob Babbage</title>" in bob and '"Target path"' in bob and "separators" not in bob
    bob_session = (out / "clients/bob/sessions/2026-03-16/index.html").read_text()
    assert 'aria-label="Overdue"' in bob_session and ">17 Mar 2026</time>" in bob_session


# ---------------------------------------------------------------- the digest


def test_digest_in_the_clients_language(vault):
    _, config, clients = model_of(vault)
    made = digest.make(clients["ada"], config, None, TODAY)
    assert made.subject == "Deine nächsten Schritte aus unserer Sitzung am 16. März"
    for body in (made.text, made.html):
        assert "Hallo Ada," in body
        assert "Das kam aus unserer Sitzung am 16. März 2026 heraus." in body
        assert "Deine nächsten Schritte" in body and "Überfällig" in body
        assert "bis 17. März 2026" in body
        assert "Was wir festgehalten haben" in body
        assert "7.250\xa0£" in body and "Ziel 12.000\xa0£ bis 30. Juni 2026" in body
        assert "4 von 7 Tagen" in body and "insgesamt, 12 neu" in body
        # untranslated here: the English words come through
        assert "Offen" in body and "(Ziel 100)" in body
    assert '<html lang="de">' in made.html
    english = digest.make(clients["bob"], config, None, TODAY)
    assert english.subject == "Your next steps from our session on 16 March"
    assert "Hello Bob," in english.text and "(by 17 Mar 2026)" in english.text and "£7,250" in english.text
    assert '<html lang="en">' in english.html


# ---------------------------------------------------------------- the scaffold


def test_new_session_in_the_clients_language(vault):
    _, _, clients = model_of(vault)
    path = scaffold.new_session(vault, clients["ada"], dt.date(2026, 3, 23))
    note = path.read_text(encoding="utf-8")
    for heading in ("## Rückblick", "## Was wir erkundet haben", "## Nächste Schritte"):
        assert heading + "\n" in note
    assert "## " + i18n.language("de").gettext("Insights") + "\n" in note  # not in the test's de.po: the shipped one
    assert "%% - [ ] Ein klarer nächster Schritt 📅 2026-03-30 %%" in note
    assert "%% coachgen: prepared von `coachgen new session`: Die Klientin" in note
    assert "wie viele seit dem letzten Mal" in note
    # what coachgen reads stays as written: keys, the callout, the actions and their emoji
    assert "%% > [!insight] " in note and "- [ ] Angebot schicken 📅 2026-03-17" in note
    assert "metrics:" in note and "insights:" in note
    # the note is still one coachgen recognises as prepared (not published until written in)
    result = site.build(vault, today=dt.date(2026, 3, 23), write=False, git=False)
    ada = next(c for c in result.model.clients if c.slug == "ada")
    assert [s.date for s in ada.sessions] == [dt.date(2026, 3, 16)]
    english = scaffold.new_session(vault, clients["bob"], dt.date(2026, 3, 23)).read_text(encoding="utf-8")
    assert "## Review\n" in english and "## Next steps\n" in english and "how many" not in english


def test_init_names_the_language_setting(tmp_path):
    scaffold.init(tmp_path / "v")
    text = (tmp_path / "v/coachgen.toml").read_text(encoding="utf-8")
    line = next(line for line in text.splitlines() if line.startswith('# language = "en"'))
    assert all(code in line for code in i18n.SHIPPED)
    config, problems = config_mod.load(tmp_path / "v")
    assert config.language == "en" and not problems


# ---------------------------------------------------------------- every language, and fallback


@pytest.mark.parametrize("code", i18n.SHIPPED)
def test_every_shipped_language_writes_its_own_dates_and_numbers(code, vault):
    """Whatever a catalogue holds: dates, numbers, money and "3 days ago" are the language's."""
    lang = i18n.language(code)
    english = i18n.language("en")
    day = dt.date(2026, 3, 20)
    assert ago(TODAY - dt.timedelta(days=3), TODAY, lang) == lang.relative(-3)
    assert lang.relative(3) in due_phrase(TODAY + dt.timedelta(days=3), TODAY, lang)
    assert metric_value(7250, spec(unit="£"), lang) == lang.money(7250, "£")
    assert lang.day(day) in task_due(day, lang)
    _, config, clients = model_of(vault)
    ada = dataclasses.replace(clients["ada"], language=code)
    made = digest.make(ada, config, None, TODAY)
    assert lang.month_day(dt.date(2026, 3, 16)) in made.subject
    assert lang.money(7250, "£") in made.text
    assert "Ada Lovelace" in summaries(pages.calendar(ada, TODAY, config))[0]
    if code != "en":
        assert lang.day(day) != english.day(day)
        assert lang.relative(-3) != english.relative(-3)


def test_a_language_without_a_translation_shows_the_english_words(make_vault):
    """A catalogue that lacks a message shows its English msgid, in the language's forms."""
    vault = make_vault({"locales/sv.po": po({"Dashboard": "Översikt"}, "sv")})
    sv = i18n.language("sv", vault)
    assert due_phrase(TODAY, TODAY, sv) == "due today"
    assert due_phrase(TODAY - dt.timedelta(days=3), TODAY, sv) == "3 days overdue"
    assert due_phrase(TODAY - dt.timedelta(days=1), TODAY, sv) == "1 day overdue"
    assert charts.habit_text(4 / 7, sv) == "4 of 7 days"
    assert task_prefix("open", sv).endswith('aria-label="Open"></span>')
    assert task_due(dt.date(2026, 3, 20), sv).endswith(">20 mars 2026</time>")
    assert metric_value(7250, spec(unit="£"), sv) == sv.money(7250, "£")


# ---------------------------------------------------------------- extraction


def test_pybabel_finds_the_messages(tmp_path):
    """`pybabel extract -F babel.cfg -k counted:1,2` finds every message Python and the digest
    templates write: literal msgids, no f-strings."""
    pot = tmp_path / "coachgen.pot"
    CommandLineInterface().run(["pybabel", "-q", "extract", "-F", str(ROOT / "babel.cfg"), "-k", "counted:1,2",
                                "-o", str(pot), str(ROOT)])
    with pot.open("rb") as fh:
        catalog = read_po(fh)
    ids = {m.id if isinstance(m.id, str) else m.id[0]: m for m in catalog if m.id}
    for msgid in GERMAN:
        key = msgid[0] if isinstance(msgid, tuple) else msgid
        assert key in ids, key
        assert isinstance(ids[key].id, tuple) == isinstance(msgid, tuple), key
    for msgid in ("Hello %(name)s,", "The future you're building", "Everything is on your page:", "Later",
                  "Actions", "Overview", "Cancelled", "Done", "Target", "The bigger future", "Insights",
                  "engagement ended %(date)s", "Your next steps from our sessions since %(date)s"):
        assert msgid in ids, msgid
    mine = ("coachgen/pages.py", "coachgen/charts.py", "coachgen/markdown.py", "coachgen/digest.py",
            "coachgen/scaffold.py", "templates/digest.html", "templates/digest.txt")
    for key, message in ids.items():
        if any(path.endswith(mine) for path, _ in message.locations):
            assert "{" not in key and "}" not in key, key


def test_a_corrected_shipped_translation_rewrites_its_pages(make_vault, tmp_path, monkeypatch):
    """An upgrade that corrects a shipped catalogue is an input like a template: the next
    `build` (a new process, with its cache under .coachgen/) writes the corrected words."""
    shipped = tmp_path / "locales"
    shutil.copytree(i18n.PACKAGE_DIR, shipped)
    monkeypatch.setattr(i18n, "PACKAGE_DIR", shipped)
    i18n._shipped_digest.cache_clear()
    vault = make_vault({"coachgen.toml": 'language = "de"\n', "clients/ada/client.md": "---\nname: Ada\n---\n",
                        "clients/ada/sessions/2026-03-16.md": "- [ ] Call the bank\n"})
    out = tmp_path / "out"
    site.build(vault, out=out, today=TODAY, git=False)
    before = i18n.language("de").gettext("Next steps")
    assert before in (out / "clients/ada/index.html").read_text(encoding="utf-8")
    po = i18n.shipped_po("de")
    po.write_text(po.read_text(encoding="utf-8").replace(f'msgstr "{before}"', 'msgstr "Deine nächsten Züge"'),
                  encoding="utf-8")
    i18n._shipped_digest.cache_clear()  # a new process reads the upgraded files
    result = site.build(vault, out=out, today=TODAY, git=False)
    assert "clients/ada/index.html" in result.written
    assert "Deine nächsten Züge" in (out / "clients/ada/index.html").read_text(encoding="utf-8")
    i18n._shipped_digest.cache_clear()
