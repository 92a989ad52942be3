"""Values at the edges (findings 5, 8, 13, 15 and 18): key case and YAML merge keys,
values that are huge, infinite or far in time, notes outside client folders, messages
that never repeat a note, and the two small leaks of charts and the digest."""

from __future__ import annotations

import datetime as dt
import json
import math

import plotly.graph_objects as go
import pytest
from click.testing import CliRunner

from coachgen import cli
from coachgen.engine import site
from coachgen.model.clients import Metric, Point
from coachgen.parse.notes import MetricDef
from coachgen.plan import charts
from conftest import TODAY, all_output

ADA = """---
name: Ada Lovelace
slug: ada
metrics:
  weight: {label: Weight, unit: kg, target: 75}
---
"""
ADA_SESSION = """---
date: 2026-01-05
metrics:
  weight: 80
---
Ada's shared notes.
"""
BOB = """---
name: Bob Babbage
slug: bob
metrics:
  weight: {label: Weight, unit: kg}
  calls: {label: Calls, kind: count}
---
"""
BOB_SESSION = """---
date: 2026-01-06
metrics:
  weight: 90
---
Bob's shared notes.
"""
CANARY = "zqxcanary"


def build(vault):
    return site.build(vault, out=vault / "_site", today=TODAY, git=False)


def run(*args):
    return CliRunner().invoke(cli.main, [*args])


def check(vault):
    done = run("check", str(vault), "--today", TODAY.isoformat())
    return done, [line for line in done.stderr.splitlines() if ": error: " in line or ": warning: " in line]


def output_bytes(vault) -> bytes:
    return b"\n".join(all_output(vault / "_site").values())


# ---------------------------------------------------------------- finding 5: key case and merge keys

PRIVATE_WAYS = {  # front-matter, and the problems it makes (level, line)
    "capital": ("Private: true\n", [("warning", 3)]),
    "upper": ("PRIVATE: true\n", [("warning", 3)]),
    "merge-inline": ("<<: {private: true}\n", []),
    "merge-anchor": ("defaults: &defaults {private: true}\n<<: *defaults\n", []),
    "merge-list": ("a: &a {title: From a}\nb: &b {private: true}\n<<: [*a, *b]\n", []),
    "capital-not-clean": ("Private: yes\n", [("error", 3), ("warning", 3)]),  # fails closed: off every site
}


@pytest.mark.parametrize("way", sorted(PRIVATE_WAYS))
def test_F5_private_in_any_case_or_by_merge_keeps_the_note_off_every_site(make_vault, way):
    front, expected = PRIVATE_WAYS[way]
    vault = make_vault({
        "clients/ada/client.md": ADA,
        "clients/ada/s/2026-01-05.md": ADA_SESSION,
        "clients/ada/s/2026-01-12.md": f"---\ndate: 2026-01-12\n{front}---\n{CANARY} the private note's body\n",
    })
    result = build(vault)
    assert (vault / "_site/clients/ada/index.html").is_file()
    assert CANARY.encode() not in output_bytes(vault)
    assert [s.path for s in result.model.clients[0].sessions] == ["clients/ada/s/2026-01-05.md"]
    found = [p for p in result.problems if p.path.endswith("2026-01-12.md")]
    assert [(p.level, p.line) for p in found] == expected, found
    assert all("lower-case" in p.message or "true or false" in p.message for p in found)


@pytest.mark.parametrize("front, warned", [("Private: true\n", [4]), ("<<: {private: true}\n", [])])
def test_F5_private_in_another_case_or_by_merge_in_client_md_publishes_no_site(make_vault, front, warned):
    vault = make_vault({
        "clients/ada/client.md": ADA,
        "clients/ada/s/2026-01-05.md": ADA_SESSION,
        "clients/bob/client.md": BOB.replace("slug: bob\n", "slug: bob\n" + front),
        "clients/bob/s/2026-01-06.md": BOB_SESSION.replace("Bob's", CANARY),
    })
    result = build(vault)
    assert [c.slug for c in result.model.clients] == ["ada"]
    assert CANARY.encode() not in output_bytes(vault)
    assert not (vault / "_site/clients/bob").exists()
    assert [(p.path, p.line, p.level) for p in result.problems if "lower-case" in p.message] == [
        ("clients/bob/client.md", line, "warning") for line in warned]


def test_F5_other_case_variants_warn_and_are_not_used(make_vault):
    vault = make_vault({
        "clients/ada/client.md": ADA,
        "clients/ada/s/2026-01-05.md": """---
Title: Shown title
Date: 2027-01-01
Actions:
  - Not an action
actions:
  - text: An action
    Due: 2026-01-10
---
Body.
""",
    })
    result = build(vault)
    (session,) = result.model.clients[0].sessions
    assert session.date == dt.date(2026, 1, 5) and session.title != "Shown title"
    (action,) = result.model.clients[0].actions
    assert action.text == "An action" and action.due is None
    found = sorted((p.line, p.level) for p in result.problems if "lower-case" in p.message)
    assert found == [(2, "warning"), (3, "warning"), (4, "warning"), (8, "warning")], result.problems


def test_F5_merge_keys_apply_as_yaml_defines_them(make_vault):
    vault = make_vault({
        "clients/ada/client.md": ADA,
        "clients/ada/s/2026-01-05.md": """---
base: &base {title: Merged title, duration: 60}
more: &more {title: Later source loses, insights: [From a merge]}
<<: [*base, *more]
duration: 45
---
Body.
""",
    })
    result = build(vault)
    assert not result.errors, result.errors
    (session,) = result.model.clients[0].sessions
    assert (session.title, session.duration, session.insights) == ("Merged title", 45, ("From a merge",))


@pytest.mark.parametrize("front", [
    "a: &a text\ntitle: *a\n",              # an alias that is not a merge
    "a: &a {title: x}\nb: *a\n",
    "<<: &a {<<: *a}\n",                    # a mapping that merges itself
    "a: &a text\n<<: *a\n",                 # a merge of something that is not a mapping
])
def test_F5_other_aliases_are_still_refused(make_vault, front):
    vault = make_vault({"clients/ada/client.md": ADA, "clients/ada/s/2026-01-05.md": f"---\n{front}---\n{CANARY}\n"})
    result = build(vault)
    assert [p.path for p in result.errors] == ["clients/ada/s/2026-01-05.md"]
    assert CANARY.encode() not in output_bytes(vault)


def test_F5_merges_cannot_blow_up(make_vault):
    lines = ["m0: &m0 {k0: 1}"] + [f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}], k{i}: 1}}" for i in range(1, 400)]
    vault = make_vault({"clients/ada/client.md": ADA,
                        "clients/ada/s/2026-01-05.md": "---\n" + "\n".join(lines) + "\n---\nBody.\n"})
    result = build(vault)  # finishes at once: each mapping is merged once, and a budget caps the work
    assert [p.path for p in result.errors] == ["clients/ada/s/2026-01-05.md"]


# ---------------------------------------------------------------- finding 8: no value stops the build

BAD_VALUES = {
    # name: (files for bob, (path, line) of the error, does bob still get a site)
    "metric 1e999": ({"clients/bob/s/2026-01-07.md": "---\nmetrics:\n  weight: 1e999\n---\nhi\n"},
                     ("clients/bob/s/2026-01-07.md", 3), True),
    "metric -inf digits": ({"clients/bob/s/2026-01-07.md": "---\nmetrics:\n  weight: -" + "9" * 400 + "\n---\nhi\n"},
                           ("clients/bob/s/2026-01-07.md", 3), True),
    "target 1e999": ({"clients/bob/client.md": BOB.replace("kind: count}", "kind: count, target: 1e999}")},
                     ("clients/bob/client.md", 6), False),
    "count overflow": ({"clients/bob/s/2026-01-07.md": "---\nmetrics:\n  calls: 1e308\n---\nhi\n",
                        "clients/bob/s/2026-01-08.md": "---\nmetrics:\n  calls: 1e308\n---\nhi\n"},
                       ("clients/bob/s/2026-01-08.md", 3), True),
    "due in front-matter": ({"clients/bob/s/2026-01-07.md": "---\nactions:\n  - text: x\n    due: 9999-12-31\n"
                                                            "---\nhi\n"},
                            ("clients/bob/s/2026-01-07.md", 4), True),
    "due in a task": ({"clients/bob/s/2026-01-07.md": "---\ntitle: t\n---\n- [ ] x 📅 9999-12-31\n"},
                      ("clients/bob/s/2026-01-07.md", 4), True),
    "next_session": ({"clients/bob/client.md": BOB.replace("slug: bob\n", "slug: bob\nnext_session: 9999-12-31\n")},
                     ("clients/bob/client.md", 4), False),
    "dated metric value": ({"clients/bob/s/2026-01-07.md": "---\nmetrics:\n  weight: {9999-12-31: 5}\n---\nhi\n"},
                           ("clients/bob/s/2026-01-07.md", 3), True),
    "date of the note": ({"clients/bob/s/9999-12-31 far.md": "hi\n"}, ("clients/bob/s/9999-12-31 far.md", 1), True),
}


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_F8_a_bad_value_stops_only_what_it_belongs_to(make_vault, case):
    files, (path, line), bob_site = BAD_VALUES[case]
    vault = make_vault({"clients/ada/client.md": ADA, "clients/ada/s/2026-01-05.md": ADA_SESSION,
                        "clients/bob/client.md": BOB, "clients/bob/s/2026-01-06.md": BOB_SESSION, **files})
    result = build(vault)
    assert [(p.path, p.line) for p in result.errors] == [(path, line)], result.problems
    assert (vault / "_site/clients/ada/index.html").is_file()
    assert (vault / "_site/clients/bob/index.html").is_file() == bob_site
    if bob_site:
        data = json.loads((vault / "_site/clients/bob/data.json").read_text())
        assert [p["value"] for p in data["metrics"][0]["points"]] == [90]
        assert all(math.isfinite(p["value"]) for m in data["metrics"] for p in m["points"])
        assert "9999" not in (vault / "_site/clients/bob/calendar.ics").read_text()
    assert_cli_agrees(vault, result)


def assert_cli_agrees(vault, result):
    """`coachgen build` exits 1 without a traceback; `coachgen check` reports the very same problems."""
    done = run("build", str(vault), "--today", TODAY.isoformat(), "--no-git", "--out", str(vault / "_site"))
    assert done.exit_code == 1 and isinstance(done.exception, SystemExit), done.output
    assert (vault / "_site/clients/ada/index.html").is_file()
    checked, lines = check(vault)
    assert checked.exit_code == 1 and isinstance(checked.exception, SystemExit)
    assert lines == [str(p) for p in result.problems]


def test_F8_every_bad_value_at_once(make_vault):
    files = {"clients/ada/client.md": ADA, "clients/ada/s/2026-01-05.md": ADA_SESSION,
             "clients/bob/client.md": BOB, "clients/bob/s/2026-01-06.md": BOB_SESSION}
    errors = set()
    for i, (more, (path, line), bob_site) in enumerate(BAD_VALUES.values()):
        if bob_site:  # the bad values of session notes, all in one vault, each case in a folder
            files.update({p.replace("/s/", f"/case{i}/"): text for p, text in more.items()})
            errors.add((path.replace("/s/", f"/case{i}/"), line))
    vault = make_vault(files)
    result = build(vault)
    assert {(p.path, p.line) for p in result.errors} == errors, result.problems
    assert (vault / "_site/clients/bob/index.html").is_file()
    data = json.loads((vault / "_site/clients/bob/data.json").read_text())
    assert [s["id"] for s in data["sessions"]][0] == "2026-01-06"
    assert_cli_agrees(vault, result)


def huge_metric(kind: str, values: list[float], target=None, by=None, unit=None) -> Metric:
    spec = MetricDef("m", "M", unit, kind, target, by, "up", 10)
    days = [dt.date(2026, 1, 5) + dt.timedelta(days=i) for i in range(len(values))]
    total, points = 0.0, []
    for day, value in zip(days, values, strict=True):
        total += value
        points.append(Point(day, value, total if kind == "count" else value, "s"))
    return Metric(spec, tuple(points))


@pytest.mark.parametrize("metric", [
    huge_metric("number", [1e300, -1.7e308, 1.7e308], target=1.7e308, by=dt.date(2026, 6, 1)),
    huge_metric("count", [1e300, 1e300], target=1e300),
    huge_metric("number", [1e300], target=-1e300),
    huge_metric("rating", [1e300], target=1e300),
], ids=["number", "count", "flat", "rating"])
def test_F8_charts_of_huge_finite_values_build_and_dump(metric):
    for compact in (False, True):
        fig = charts.figure(metric, compact=compact)
        json.dumps(fig, allow_nan=False)
        go.Figure(fig).to_json()  # Plotly's own validation accepts it


def test_F8_huge_finite_values_build(make_vault):
    vault = make_vault({
        "clients/ada/client.md": """---
name: Ada
metrics:
  w: {target: 1.7e308, by: 2026-06-01}
  c: {kind: count, target: 1e300}
  r: {kind: rating, scale: 10}
---
""",
        "clients/ada/s/2026-01-05.md": "---\nduration: 1e308\nmetrics:\n  w: -1.7e308\n  c: 1e300\n---\nhi\n",
        "clients/ada/s/2026-01-06.md": "---\nduration: 1e308\nmetrics:\n  w: 1.7e308\n  c: 1e300\n---\nhi\n",
    })
    result = build(vault)
    assert not result.errors, result.errors
    assert (vault / "_site/clients/ada/metrics/index.html").is_file()


# ---------------------------------------------------------------- finding 13: only front-matter joins a client


@pytest.mark.parametrize("text", [
    "client: feedback from the workshop\nSome thoughts.\n",
    "---\ntags: [idea]\n---\nclient: feedback from the workshop\n",
    "# Ideas\n\nclient:\n",
])
def test_F13_a_body_line_never_joins_a_note_to_a_client(make_vault, text):
    vault = make_vault({"clients/ada/client.md": ADA, "clients/ada/s/2026-01-05.md": ADA_SESSION,
                        "journal/ideas.md": text.replace("Some", CANARY)})
    result = build(vault)
    assert [p for p in result.problems if p.path == "journal/ideas.md"] == []
    assert CANARY.encode() not in output_bytes(vault) and b"workshop" not in output_bytes(vault)


def test_F13_a_client_key_in_another_case_is_only_a_warning(make_vault):
    vault = make_vault({"clients/ada/client.md": ADA, "journal/ideas.md": "---\nClient: ada\n---\nMine.\n"})
    result = build(vault)
    assert [(p.path, p.line, p.level) for p in result.problems if p.path == "journal/ideas.md"] == [
        ("journal/ideas.md", 2, "warning")]
    assert b"Mine." not in output_bytes(vault)


def test_F13_front_matter_still_joins(make_vault):
    vault = make_vault({"clients/ada/client.md": ADA,
                        "journal/2026-01-05 call.md": "---\nclient: '[[Ada Lovelace]]'\n---\nJoined notes.\n"})
    result = build(vault)
    assert [s.path for s in result.model.clients[0].sessions] == ["journal/2026-01-05 call.md"]


# ---------------------------------------------------------------- finding 15: messages never repeat a note

LEAKY = {
    "clients/ada/s/2026-01-05.md": f"""---
actions:
  - id: {CANARY}id
    done: true
metrics:
  weight: {{{CANARY}-01-01: 70}}
  energy: 987655
---
- [ ] Call 🆔 {CANARY}task
""",
    "clients/ada/s/2026-01-06.md": f"---\nx: !!python/object:{CANARY}.system 1\n---\n",
    "clients/ada/s/2026-01-07.md": f"---\n{CANARY}k: 1\n{CANARY}k: 2\n---\n",
    "clients/ada/s/2026-01-08.md": f"---\ndate: 2026-01-08\ntitle: *{CANARY}\n---\n",
    "clients/ada/s/2026-01-09.md": f"---\ntitle: \"\\q{CANARY}\"\n---\n",
    "clients/ada/s/2026-01-10.md": f"---\nclient: {CANARY}\n---\n",
    "clients/ada/s/2026-01-11.md": f"---\ndate: {CANARY}\nduration: {CANARY}\nprivate: {CANARY}\n---\n",
    "clients/ada/s/2026-01-12.md": "---\nactions:\n  - text: x\n    due: 9999-12-31\nmetrics:\n  weight: 1e999\n---\n",
    "clients/ada/s/2026-01-13.md": f"---\ndate: 2026-01-13\n---\n- [ ] x 📅 2026-02-30 {CANARY}\n",
    "clients/bob/client.md": f"---\nslug: bob\npassword: {CANARY}\nemail: {CANARY}\nnext_session: {CANARY}\n---\n",
}


def test_F15_messages_never_repeat_what_a_note_says(make_vault):
    ada = ADA.replace("metrics:\n", "metrics:\n  energy: {kind: rating, scale: 987654}\n")
    vault = make_vault({"clients/ada/client.md": ada, **LEAKY})
    result = build(vault)
    messages = [p.message for p in result.problems]
    assert len(messages) >= 12, messages
    for message in messages:
        for leak in (CANARY, "987654", "9999", "python", "system", "1e999", "2026-02-30"):
            assert leak not in message.lower(), message
    done, lines = check(vault)
    assert lines == [str(p) for p in result.problems]
    for line in lines:  # (the summary after them names each site's folder: a path, not a note's text)
        assert CANARY not in line.lower() and "987654" not in line, line


# ---------------------------------------------------------------- finding 18: charts' % and the digest's address


def test_F18_a_percent_unit_shows_as_one_percent_sign():
    metric = huge_metric("number", [12.5], unit="%")
    template = charts.figure(metric)["data"][0]["hovertemplate"]
    assert "%%" not in template and template.endswith(" %<extra></extra>")
    assert charts.figure(huge_metric("number", [1], unit="%{x} pts"))["data"][0]["hovertemplate"].count("%{") == 2


@pytest.mark.parametrize("email", ['"ada@example.com\\nBcc: eve@example.com"', "ada at example.com",
                                   "ada@example.com, eve@example.com", '"ada@@example.com"'])
def test_F18_digest_refuses_a_bad_address_in_one_line(make_vault, email):
    vault = make_vault({
        "clients/ada/client.md": ADA.replace("slug: ada\n", f"slug: ada\nemail: {email}\n"),
        "clients/ada/s/2026-01-05.md": ADA_SESSION,
        ".coachgen/secrets.toml": '[smtp]\nhost = "127.0.0.1"\nport = 9\nfrom = "coach@example.com"\n'
                                  'security = "none"\n',
    })
    done = run("digest", "ada", "--send", "--vault", str(vault), "--today", TODAY.isoformat())
    assert done.exit_code == 1 and isinstance(done.exception, SystemExit), done.output
    (error,) = [line for line in done.stderr.splitlines() if "rror" in line]
    assert "clients/ada/client.md:4" in error and "'email'" in error
    assert "eve" not in done.stderr and "ada@" not in done.stderr and " at " not in error
