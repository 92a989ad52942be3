"""site.py and the commands: the example vault's golden output, determinism, writes, pruning, errors."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from icalendar import Calendar
from markupsafe import escape

from coachgen import checkin
from coachgen.engine import site
from coachgen.render.sources import plotly_js, templates_dir
from conftest import EXAMPLE, ROOT, TODAY, all_output

GOLDEN = Path(__file__).parent / "golden" / "vault_example"
PLOTLY = "plotly.min.js"


def build(vault, out, **kw):
    # vault_example sits in coachgen's own git repository: its history is not the vault's
    return site.build(vault, out=out, today=kw.pop("today", TODAY), git=False, **kw)


def test_example_matches_golden_output(tmp_path, update_goldens):
    """Regenerate with `pytest tests/test_site.py --update-goldens` and review the diff."""
    # a copy with fixed check-in secrets: the one random input of a plain site is its token
    vault = shutil.copytree(EXAMPLE, tmp_path / "vault", ignore=shutil.ignore_patterns(".coachgen", "_site"))
    (vault / ".coachgen").mkdir()
    fixed = {slug: "golden-secret-" + slug for slug in ("joaquin-ortega", "maya", "samira")}
    (vault / checkin.SECRETS).write_text(json.dumps(fixed))
    result = build(vault, tmp_path / "out")
    assert not result.errors, result.errors
    output = all_output(tmp_path / "out")
    # shipped assets are the package's own files, byte for byte; the goldens hold what was generated
    shipped = {k: v for k, v in output.items() if "/assets/" in k and "/assets/files/" not in k}
    for rel, data in shipped.items():
        name = rel.rsplit("/", 1)[1]
        assert data == (plotly_js() if name == PLOTLY else templates_dir() / "assets" / name).read_bytes(), rel
    got = {k: v for k, v in output.items() if k not in shipped}
    if update_goldens:
        shutil.rmtree(GOLDEN, ignore_errors=True)
        for rel, data in got.items():
            (GOLDEN / rel).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / rel).write_bytes(data)
    expected = {p.relative_to(GOLDEN).as_posix(): p.read_bytes() for p in sorted(GOLDEN.rglob("*")) if p.is_file()}
    assert sorted(got) == sorted(expected)
    for rel in expected:
        assert got[rel] == expected[rel], f"{rel} differs from its golden copy"


def test_plotly_is_the_packaged_file_and_shared_by_hard_links(tmp_path):
    build(EXAMPLE, tmp_path)
    copies = sorted(tmp_path.glob(f"clients/*/assets/{PLOTLY}"))
    assert len(copies) == 3
    assert copies[0].read_bytes() == plotly_js().read_bytes()
    assert len({c.stat().st_ino for c in copies}) == 1


def test_build_is_deterministic_and_a_second_build_writes_nothing(tmp_path):
    first = build(EXAMPLE, tmp_path / "a")
    again = build(EXAMPLE, tmp_path / "a")
    build(EXAMPLE, tmp_path / "b")
    assert first.written and again.written == [] and again.removed == []
    assert all_output(tmp_path / "a") == all_output(tmp_path / "b")


def test_build_does_not_change_the_vault(tmp_path):
    vault = tmp_path / "vault"
    shutil.copytree(EXAMPLE, vault, ignore=shutil.ignore_patterns("_site", ".coachgen"))
    before = {p: p.read_bytes() for p in vault.rglob("*") if p.is_file()}
    build(vault, None)
    # a build writes only the output folder and .coachgen/ (its cache, manifest and salts)
    after = {p: p.read_bytes() for p in vault.rglob("*") if p.is_file() and not {"_site", ".coachgen"} & set(p.parts)}
    assert after == before
    assert (vault / "_site" / "coach" / "index.html").is_file()


def test_every_page_of_the_contract_is_there(tmp_path):
    result = build(EXAMPLE, tmp_path)
    for client in result.model.clients:
        root = tmp_path / "clients" / client.slug
        for rel in ("index.html", "actions/index.html", "metrics/index.html", "calendar.ics", "data.json",
                    "robots.txt", "assets/style.css", "assets/app.js", f"assets/{PLOTLY}"):
            assert (root / rel).is_file(), rel
        for session in client.sessions:
            assert (root / session.url / "index.html").is_file()
    assert (tmp_path / "coach" / "index.html").is_file()


def test_data_json_schema(make_vault, tmp_path):
    vault = make_vault({
        "clients/ada/client.md": """---
name: Ada Lovelace
slug: ada
started: 2026-01-05
next_session: 2026-02-02 10:00
goals:
  - Ship the engine prototype by summer
metrics:
  weight_kg: {label: Weight, unit: kg, target: 75, by: 2026-06-30, direction: down}
  meditated: {label: Daily meditation, kind: habit, target: 6/7}
---
""",
        "clients/ada/sessions/2026-01-12.md": """---
title: Pricing breakthrough
duration: 60
actions:
  - Draft the pitch deck 📅 2026-01-19 🆔 deck
metrics:
  weight_kg: 81.9
  meditated: 5/7
insights:
  - Pricing is a signal of confidence, not greed.
future:
  - Running workshops for 100 founders a year.
---
> [!insight]
> Second insight from a callout.
""",
        "clients/ada/sessions/2026-01-18.md": "---\nactions:\n  - id: deck\n    done: 2026-01-18\n---\n- [ ] No date\n",
    })
    build(vault, tmp_path / "out", today=dt.date(2026, 1, 20))
    data = json.loads((tmp_path / "out/clients/ada/data.json").read_text())
    assert data == {
        "schema": 1,
        "client": {"name": "Ada Lovelace", "slug": "ada", "started": "2026-01-05",
                   "next_session": "2026-02-02T10:00", "goals": ["Ship the engine prototype by summer"]},
        "today": "2026-01-20",
        "sessions": [
            {"id": "2026-01-12", "date": "2026-01-12", "title": "Pricing breakthrough",
             "duration": 60, "url": "sessions/2026-01-12/"},
            {"id": "2026-01-18", "date": "2026-01-18", "title": "2026-01-18",
             "duration": None, "url": "sessions/2026-01-18/"},
        ],
        "check_ins": [],
        "actions": [
            {"id": "deck", "text": "Draft the pitch deck", "due": "2026-01-19", "done": "2026-01-18", "status": "done",
             "session": "2026-01-12", "priority": None, "start": None, "scheduled": None, "recurrence": None,
             "depends_on": []},
            {"id": None, "text": "No date", "due": None, "done": None, "status": "open", "session": "2026-01-18",
             "priority": None, "start": None, "scheduled": None, "recurrence": None, "depends_on": []},
        ],
        "metrics": [
            {"key": "weight_kg", "label": "Weight", "unit": "kg", "kind": "number", "target": 75, "by": "2026-06-30",
             "direction": "down", "points": [{"date": "2026-01-12", "value": 81.9}]},
            {"key": "meditated", "label": "Daily meditation", "unit": None, "kind": "habit", "target": 6 / 7,
             "by": None, "direction": "up", "points": [{"date": "2026-01-12", "value": 0.7142857142857143}]},
        ],
        "insights": [
            {"text": "Pricing is a signal of confidence, not greed.", "session": "2026-01-12"},
            {"text": "Second insight from a callout.", "session": "2026-01-12"},
        ],
        "future": [{"text": "Running workshops for 100 founders a year.", "session": "2026-01-12"}],
    }


def test_calendar_parses_with_open_actions_and_the_next_session(tmp_path):
    result = build(EXAMPLE, tmp_path)
    for client in result.model.clients:
        cal = Calendar.from_ical((tmp_path / "clients" / client.slug / "calendar.ics").read_bytes())
        events = {str(e["summary"]): e for e in cal.walk("VEVENT")}
        expected = {a.text for a in client.actions if a.status in ("open", "overdue") and a.due}
        assert expected <= set(events)
        assert not {a.text for a in client.actions if a.status in ("done", "cancelled")} & set(events)
        session = [e for e in cal.walk("VEVENT") if str(e["uid"]).startswith("next-session@")]
        assert len(session) == 1
        start = session[0].decoded("dtstart")
        assert (start.date(), start.time().replace(second=0)) == (client.next_session[0], client.next_session[1])
        assert str(start.tzinfo) == "Europe/London"
        assert len({str(e["uid"]) for e in cal.walk("VEVENT")}) == len(cal.walk("VEVENT"))


def test_dashboard_shows_the_five_outcomes(tmp_path):
    result = build(EXAMPLE, tmp_path)
    client = result.model.clients[0]
    html = (tmp_path / "clients" / client.slug / "index.html").read_text()
    overdue = [a for a in client.actions if a.status == "overdue"]
    assert overdue and all(escape(a.text) in html for a in overdue)
    assert all(escape(m.spec.label) in html for m in client.metrics)
    assert escape(client.insights[-1][0]) in html
    assert all(escape(g) in html for g in client.goals)
    assert all(escape(s.title) in html for s in client.sessions)
    assert html.count('class="spark"') == sum(1 for m in client.metrics if m.points)


def test_pruning_removes_what_the_plan_no_longer_holds(make_vault, tmp_path):
    vault = make_vault({
        "clients/ada/client.md": "---\nname: Ada\n---\n",
        "clients/ada/s/2026-01-05 One.md": "Insight ==one==\n\n- [ ] x",
        "clients/ada/s/2026-01-06 Two.md": "Two\n\n- [ ] y",
    })
    out = tmp_path / "out"
    build(vault, out)
    assert (out / "clients/ada/sessions/2026-01-06/index.html").is_file()
    (vault / "clients/ada/s/2026-01-06 Two.md").unlink()
    result = build(vault, out)
    assert "clients/ada/sessions/2026-01-06/index.html" in result.removed
    assert not (out / "clients/ada/sessions/2026-01-06-two").exists()
    build(vault, tmp_path / "clean")
    assert all_output(out) == all_output(tmp_path / "clean")


def test_errors_keep_the_note_off_but_the_rest_builds(make_vault, tmp_path):
    vault = make_vault({
        "clients/ada/client.md": "---\nname: Ada\n---\n",
        "clients/ada/s/2026-01-05 Good.md": "Good note\n\n- [ ] x",
        "clients/ada/s/2026-01-06 Bad.md": "---\ntitle: [broken\n---\nBROKEN-BODY",
    })
    result = build(vault, tmp_path / "out")
    assert [str(p).split(": error: ")[0] for p in result.errors] == ["clients/ada/s/2026-01-06 Bad.md:3"]
    assert "front-matter is not valid YAML" in result.errors[0].message
    assert (tmp_path / "out/clients/ada/sessions/2026-01-05/index.html").is_file()
    assert not any(b"BROKEN-BODY" in data for data in all_output(tmp_path / "out").values())


def run_cli(*args, cwd=ROOT):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "coachgen", *args], cwd=cwd, capture_output=True, text=True, env=env)


def test_cli_build_and_check_report_problems_and_exit_status(make_vault, tmp_path):
    vault = make_vault({
        "clients/ada/client.md": "---\nname: Ada\n---\n",
        "clients/ada/s/2026-01-05.md": "---\nprivate: yes\n---\nx",
        "clients/ada/s/2026-01-06.md": "- [ ] fine",
    })
    check = run_cli("check", str(vault), "--today", "2026-03-20")
    assert check.returncode == 1
    assert ("clients/ada/s/2026-01-05.md:2: error: 'private' must be true or false, not yes/no"
            in check.stderr.splitlines())
    assert not (vault / "_site").exists()
    built = run_cli("build", str(vault), "--out", str(tmp_path / "out"), "--today", "2026-03-20")
    assert built.returncode == 1 and (tmp_path / "out/clients/ada/index.html").is_file()
    (vault / "clients/ada/s/2026-01-05.md").write_text("---\nprivate: true\n---\nx")
    assert run_cli("build", str(vault), "--out", str(tmp_path / "out"), "--today", "2026-03-20").returncode == 0
    assert "Traceback" not in check.stderr + built.stderr


def test_cli_example_builds_cleanly(tmp_path):
    done = run_cli("build", "vault_example", "--out", str(tmp_path), "--today", "2026-03-20")
    assert done.returncode == 0, done.stderr
    assert all(" error: " not in line for line in done.stderr.splitlines())
    assert "Built 3 client sites" in done.stderr


def test_bad_config_is_reported_against_coachgen_toml(make_vault, tmp_path):
    vault = make_vault({"coachgen.toml": 'title = "x"\ntimezone = "Mars/Olympus"\nnudge_after_days = "soon"\n',
                        "clients/ada/client.md": "---\nname: Ada\n---\n"})
    problems = set(map(str, build(vault, tmp_path / "out").problems))
    assert "coachgen.toml:2: error: 'timezone' is not an IANA time zone name" in problems
    assert "coachgen.toml:3: error: 'nudge_after_days' must be int" in problems
