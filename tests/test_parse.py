"""parse.py: one file -> Note. Fixture notes in, data out; and every bad-input case."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from coachgen.parse.notes import parse_note

FIXTURES = Path(__file__).parent / "fixtures" / "notes"
CASES = sorted(p.stem for p in FIXTURES.glob("*.md"))


def session(text: str | bytes, path: str = "clients/ada/sessions/x.md", **kw):
    data = text.encode() if isinstance(text, str) else text
    return parse_note(path, data, is_client=False, in_client_folder=True, allow_html=kw.get("allow_html", False))


def client(text: str, path: str = "clients/ada/client.md"):
    return parse_note(path, text.encode(), is_client=True, in_client_folder=True, allow_html=False)


def plain(value):
    if dataclasses.is_dataclass(value):
        return {k: plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


@pytest.mark.parametrize("case", CASES)
def test_fixture(case: str):
    """Each fixture note parses to the data beside it, with no problems but the warnings it
    lists (as [line, level]: a message never repeats note text, so the line says which)."""
    expected = json.loads((FIXTURES / f"{case}.json").read_text(encoding="utf-8"))
    note = session((FIXTURES / f"{case}.md").read_bytes(), path=f"clients/ada/sessions/{case}.md")
    assert note.ok, note.problems
    assert [[p.line, p.level] for p in note.problems] == expected.get("warnings", []), note.problems
    if "title" in expected:
        assert note.title == expected["title"]
    if "date" in expected:
        assert note.date.isoformat() == expected["date"]
    # fields the Tasks format added later default to "not stated" in older fixtures
    unstated = {"priority": None, "start": None, "scheduled": None, "recurrence": None, "depends_on": []}
    assert plain(note.mentions) == [{**unstated, **m} for m in expected["mentions"]]
    if "insights" in expected:
        assert [[i.text, i.line] for i in note.insights] == expected["insights"]
    if "future" in expected:
        assert [[i.text, i.line] for i in note.future] == expected["future"]
    if "values" in expected:
        got = [[v.key, v.date.isoformat() if v.date else None, v.tag, v.text, v.line] for v in note.values]
        assert got == expected["values"]
    for snippet in expected.get("html_contains", []):
        assert snippet in note.html, snippet
    for snippet in expected.get("html_excludes", []):
        assert snippet not in note.html, snippet


def test_client_profile():
    note = client("""---
name: Ada Lovelace
slug: ada
started: 2026-01-05
next_session: 2026-02-02 10:00
goals:
  - Ship the engine prototype by summer
metrics:
  weight_kg: {label: Weight, unit: kg, target: 75, by: 2026-06-30, direction: down}
  workouts: {label: Workouts per week, target: 4}
  calls: {label: Sales calls, kind: count, target: 100, by: 2026-03-31}
  energy: {label: Energy, kind: rating, scale: 10, target: 8}
  meditated: {label: Daily meditation, kind: habit, target: 6/7}
email: ada@example.com
---
The coach's private file.
""")
    assert note.ok, note.problems
    assert (note.name, note.slug, note.started.isoformat()) == ("Ada Lovelace", "ada", "2026-01-05")
    assert note.next_session[0].isoformat() == "2026-02-02" and note.next_session[1].isoformat() == "10:00:00"
    assert note.goals == ("Ship the engine prototype by summer",)
    kinds = {m.key: (m.kind, m.target, m.direction) for m in note.metrics}
    assert kinds == {
        "weight_kg": ("number", 75, "down"),
        "workouts": ("number", 4, "up"),
        "calls": ("count", 100, "up"),
        "energy": ("rating", 8, "up"),
        "meditated": ("habit", 6 / 7, "up"),
    }
    assert note.html == ""  # the body of client.md is never rendered


def test_title_falls_back_to_date_when_file_name_is_only_a_date():
    note = session("Body.", path="clients/ada/sessions/2026-01-05.md")
    assert note.title == "2026-01-05" and note.date.isoformat() == "2026-01-05"


def test_date_with_time_counts_its_date():
    note = session("---\ndate: 2026-01-05 18:30\n---\nBody.")
    assert note.date.isoformat() == "2026-01-05"


def test_an_empty_date_is_as_if_none_were_written():
    """`date:` left empty once crashed the build: it falls back to the file name's date, and
    where there is none it is the note's error, not a crash."""
    dated = session("---\ndate:\n---\nBody.", path="clients/ada/sessions/2026-01-05 Kick-off.md")
    assert dated.date.isoformat() == "2026-01-05" and not dated.problems
    undated = session("---\ndate:\n---\nBody.", path="clients/ada/sessions/kick-off.md")
    assert undated.date is None
    assert [p.message for p in undated.problems if p.level == "error"] == [
        "the note has no date: add 'date: YYYY-MM-DD' or start the file name with one"]


def test_note_outside_clients_without_client_is_ignored():
    assert parse_note("coach/ideas.md", b"# Ideas\n- [ ] x", is_client=False, in_client_folder=False,
                      allow_html=False) is None


def test_allow_html_passes_raw_html():
    note = session("---\ndate: 2026-01-05\n---\n<u>underlined</u>", allow_html=True)
    assert "<u>underlined</u>" in note.html


# ---------------------------------------------------------------- bad input: a clear error, file and line

ERRORS = {
    "bad-yaml": ("---\ndate: 2026-01-05\ntitle: [unclosed\n---\nBody", 4, "not valid YAML"),
    "unclosed": ("---\ndate: 2026-01-05\nBody without a closing line", 1, "never closed"),
    "list-front-matter": ("---\n- a\n- b\n---\nBody", 2, "must be a mapping"),
    "scalar-front-matter": ("---\njust text\n---\nBody", 2, "must be a mapping"),
    "no-date": ("---\ntitle: Undated\n---\nBody", 1, "has no date"),
    "bad-date": ("---\ndate: 2024-02-30\n---\nBody", 2, "must be a date"),
    "private-yes": ("---\ndate: 2026-01-05\nprivate: yes\n---\nBody", 3, "must be true or false"),
    "private-quoted": ("---\ndate: 2026-01-05\nprivate: \"false\"\n---\nBody", 3, "must be true or false"),
    "duplicate-key": ("---\ndate: 2026-01-05\ntitle: a\ntitle: b\n---\nBody", 4, "duplicate key"),
    "alias": ("---\ndate: &d 2026-01-05\ntitle: *d\n---\nBody", 3, "anchors and aliases"),
    "python-tag": ("---\ndate: 2026-01-05\ntitle: !!python/object/apply:os.system [echo hi]\n---\nBody", 3,
                   "unsupported YAML tag"),
    "binary-tag": ("---\ndate: 2026-01-05\ntitle: !!binary aGk=\n---\nBody", 3, "unsupported YAML tag"),
    "set-tag": ("---\ndate: 2026-01-05\ntags: !!set {a, b}\n---\nBody", 3, "unsupported YAML tag"),
    "empty": ("   \n\n", 1, "empty"),
    "title-list": ("---\ndate: 2026-01-05\ntitle: [a, b]\n---\nBody", 3, "'title' must be text"),
    "duration-text": ("---\ndate: 2026-01-05\nduration: an hour\n---\nBody", 3, "'duration' must be a number"),
    "actions-not-list": ("---\ndate: 2026-01-05\nactions: do it\n---\nBody", 3, "'actions' must be a list"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_bad_input_is_an_error_naming_file_and_line(case):
    text, line, message = ERRORS[case]
    note = session(text)
    assert not note.ok
    errors = [p for p in note.problems if p.level == "error"]
    assert errors, note.problems
    assert str(errors[0]).startswith(f"clients/ada/sessions/x.md:{line}: error: "), str(errors[0])
    assert message in errors[0].message


def test_undecodable_bytes_name_their_line():
    note = session(b"---\ndate: 2026-01-05\n---\nfine\ncaf\xe9\n")
    assert not note.ok
    assert str(note.problems[0]) == "clients/ada/sessions/x.md:5: error: not UTF-8 text (save the file as UTF-8)"


def test_utf16_is_refused():
    note = session("---\ndate: 2026-01-05\n---\nBody".encode("utf-16"))
    assert not note.ok and "not UTF-8" in note.problems[0].message


def test_billion_laughs_is_refused_quickly():
    lol = "---\ndate: 2026-01-05\na: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
    for i in range(2, 10):
        prev = chr(ord("a") + i - 2)
        cur = chr(ord("a") + i - 1)
        lol += f"{cur}: &{cur} [{', '.join(['*' + prev] * 9)}]\n"
    note = session(lol + "---\nBody")
    assert not note.ok and "aliases" in note.problems[0].message


def test_deep_nesting_is_refused():
    note = session("---\ndate: 2026-01-05\nx: " + "[" * 5000 + "]" * 5000 + "\n---\nBody")
    assert not note.ok


def test_huge_front_matter_is_refused():
    note = session("---\ndate: 2026-01-05\nx: '" + "a" * 70000 + "'\n---\nBody")
    assert not note.ok and "larger than" in note.problems[0].message


def test_errors_do_not_repeat_note_values():
    """Logs name files and fields, never what a note says (hazard B9)."""
    note = session("---\ndate: 2026-01-05\nprivate: SECRET-VALUE\nduration: SECRET-2\n---\nBody")
    assert all("SECRET" not in str(p) for p in note.problems)


def test_control_and_bidi_characters_leave_titles():
    note = session("---\ndate: 2026-01-05\ntitle: \"Evil\\u202Etxt.exe\\x07\"\n---\nBody")
    assert note.title == "Eviltxt.exe"


def test_nul_cannot_forge_a_placeholder():
    note = session('---\ndate: 2026-01-05\n---\n\x00L{"target": "x"}\x00 text')
    assert "\x00" not in note.html


def test_bad_task_date_is_a_warning_and_the_action_stays():
    note = session("---\ndate: 2026-01-05\n---\n- [ ] Call 📅 2026-02-30")
    assert note.ok
    assert [str(p) for p in note.problems] == [
        "clients/ada/sessions/x.md:4: warning: action's due date is not a real date; it is left out"]
    assert note.mentions[0].text == "Call" and note.mentions[0].due is None


@pytest.mark.parametrize(
    "metrics, message",
    [
        ("weight_kg: {kind: gauge}", "'kind' must be one of"),
        ("weight_kg: {direction: sideways}", "'direction' must be up or down"),
        ("weight_kg: {target: lots}", "'target' must be a number"),
        ("m: {kind: habit, target: 8/7}", "must be like 6/7"),
        ("weight_kg: 75", "must be a mapping"),
    ],
)
def test_bad_metric_definitions(metrics, message):
    note = client(f"---\nname: Ada\nmetrics:\n  {metrics}\n---\n")
    assert not note.ok
    assert any(message in p.message and p.line == 4 for p in note.problems), note.problems
