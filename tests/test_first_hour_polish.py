"""A new user's first hour (issue 12, findings 12.9 to 12.12): the follow-up e-mail, YAML
errors in a coach's words, charts with one value, and the smaller confusions."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from coachgen.engine import site
from coachgen.model.clients import Metric, Point
from coachgen.parse.notes import MetricDef, parse_note
from coachgen.plan import charts
from conftest import ROOT, write_files

TODAY = dt.date(2026, 3, 20)


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The command as a user runs it: in the vault, with relative paths."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "coachgen", *args], cwd=cwd, capture_output=True, text=True, env=env)


def build(vault: Path, out: Path) -> site.Result:
    result = site.build(vault, out=out, today=TODAY, git=False)
    assert not result.errors, result.errors
    return result


def page(out: Path, rel: str) -> str:
    return (out / rel).read_text(encoding="utf-8")


def visible(html: str) -> str:
    """The text of a page's <body>, tags dropped and whitespace folded."""
    body = html.split("<body", 1)[-1]
    return " ".join(re.sub(r"<[^>]+>", " ", body).split())


# ---------------------------------------------------------------- 12.9 the follow-up e-mail

ADA = {
    "clients/ada/client.md": """---
name: Ada Lovelace
metrics:
  calls: {label: Investor calls, kind: count, target: 30, by: 2026-04-30}
  weight_kg: {label: Weight, unit: kg, target: 75, by: 2026-06-30, direction: down}
---
""",
    "clients/ada/sessions/2026-03-02.md": """---
title: Kickoff
metrics:
  calls: 2
  weight_kg: 82
actions:
  - Draft the pitch deck 📅 2026-03-10
---
- [ ] Call the bank 📅 2026-03-25
""",
    "clients/ada/sessions/2026-03-16.md": """---
title: Second
metrics:
  calls: 3
actions:
  - Send the deck to the angels 📅 2026-04-03
insights: [Small steps count.]
---
Ok.
""",
}


def test_12_9_digest_matches_the_site_lists_every_open_action_links_and_signs(tmp_path):
    vault = write_files(tmp_path / "my-practice", {
        **ADA, "coachgen.toml": 'title = "My Practice"\ncoach = "Helen Marsh"\nbase_url = "https://coach.example/sites"\n'})
    out = tmp_path / "out"
    build(vault, out)
    assert "5" in visible(page(out, "clients/ada/index.html"))  # the site: "5 total"
    done = cli("digest", "ada", "--today", TODAY.isoformat(), cwd=vault)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    html = (vault / ".coachgen/digests/ada-2026-03-20.html").read_text(encoding="utf-8")
    for version in (text, visible(html)):
        # every open and overdue action, with its due date, the overdue one first
        steps = [version.index(s) for s in ("Draft the pitch deck (by 10 Mar 2026)", "Call the bank (by 25 Mar 2026)",
                                            "Send the deck to the angels (by 3 Apr 2026)")]
        assert steps == sorted(steps), version
        assert version.index("Overdue") < steps[0] < version.index("Open") < steps[1]
        # a count as the site shows it: the running total
        assert "Investor calls: 5 total" in version and "Investor calls: 3 (" not in version
        assert "https://coach.example/sites/clients/ada/" in version
        assert version.rstrip().endswith("Helen Marsh")
        assert "My Practice" not in version and "my-practice" not in version
    assert 'href="https://coach.example/sites/clients/ada/"' in html


def test_12_9_digest_without_coach_or_base_url_signs_with_no_name_and_has_no_link(tmp_path):
    vault = write_files(tmp_path / "my-practice", {**ADA, "coachgen.toml": 'title = "My Practice"\n'})
    done = cli("digest", "ada", "--today", TODAY.isoformat(), cwd=vault)
    assert done.returncode == 0, done.stderr
    html = (vault / ".coachgen/digests/ada-2026-03-20.html").read_text(encoding="utf-8")
    for version in (done.stdout, visible(html)):
        assert "My Practice" not in version and "my-practice" not in version and "Coaching" not in version
        assert "clients/ada" not in version and "http" not in version
        assert "Call the bank" in version


# ---------------------------------------------------------------- 12.10 YAML errors in a coach's words


def session(text: str):
    return parse_note("clients/ada/sessions/x.md", text.encode(), is_client=False, in_client_folder=True,
                      allow_html=False)


JARGON = ("mapping values", "expected key", "while parsing", "while scanning", "token", "stream", "indicator")


def errors_of(text: str) -> list[tuple[int, str]]:
    note = session(text)
    assert not note.ok, "a note with broken YAML stays off the site"
    found = [(p.line, p.message) for p in note.problems if p.level == "error"]
    for _, message in found:
        assert not any(word in message for word in JARGON), message
    return found


@pytest.mark.parametrize("text, line, says", [
    ("---\ndate: 2026-01-05\ntitle: Budget: Q3 wins\n---\n", 3, 'a value with ": " in it needs quotes'),
    ("---\ndate: 2026-01-05\nmetrics:\n    weight: 80\n  energy: 7\n---\n", 5, "the indentation here does not match"),
    ("---\ndate: 2026-01-05\nmetrics:\n  weight: 80\n    energy: 7\n---\n", 5, "the indentation here does not match"),
    ("---\ndate: 2026-01-05\nmetrics:\n\tweight: 80\n---\n", 4, "tab"),
    ('---\ndate: 2026-01-05\ntitle: "Budget review\nduration: 60\n---\n', 3, "never closed"),
    ("---\ndate: 2026-01-05\ntitle: Kickoff\n- Budget review\n---\n", 4, "list item"),
], ids=["colon", "indent-less", "indent-more", "tab", "quote", "list-item"])
def test_12_10_yaml_errors_say_what_to_fix_in_a_coachs_words(text, line, says):
    (found,) = errors_of(text)
    assert found[0] == line and says in found[1], found
    assert "Budget" not in found[1] and "weight" not in found[1] and "Kickoff" not in found[1]


def test_12_10_the_colon_message_shows_the_fix():
    ((_, message),) = errors_of("---\ndate: 2026-01-05\ntitle: Budget: Q3\n---\n")
    assert 'title: "Plan: Q2"' in message


def test_12_10_every_broken_line_is_reported_in_one_run(tmp_path):
    text = ("---\ndate: 2026-01-05\ntitle: Budget: Q3\nduration: 60\nfuture: Bigger: better\ninsights:\n"
            "  - fine\n - off by one\n---\nBody\n")
    found = errors_of(text)
    assert [line for line, _ in found] == [3, 5, 8], found
    # as the coach meets it: `coachgen check` in the vault names each line
    vault = write_files(tmp_path / "vault", {"clients/ada/client.md": "---\nname: Ada\n---\n",
                                             "clients/ada/sessions/2026-01-05.md": text})
    done = cli("check", "--today", TODAY.isoformat(), cwd=vault)
    assert done.returncode == 1
    lines = [ln for ln in done.stderr.splitlines() if ": error: " in ln]
    assert [ln.split(":")[1] for ln in lines] == ["3", "5", "8"], done.stderr
    assert "Budget" not in done.stderr and "Bigger" not in done.stderr and "off by one" not in done.stderr


# ---------------------------------------------------------------- 12.11 a chart with one value


def metric(kind: str, values: list[tuple[dt.date, float]], target=None, by=None, unit=None) -> Metric:
    spec = MetricDef("m", "M", unit, kind, target, by, "up", 10)
    total, points = 0.0, []
    for day, value in values:
        total += value
        points.append(Point(day, value, total if kind == "count" else value, "s"))
    return Metric(spec, tuple(points))


D = dt.date(2026, 3, 16)
CASES = {
    "one-value": metric("number", [(D, 82)], target=75),
    "one-value-by": metric("number", [(D, 82)], target=75, by=dt.date(2026, 6, 30)),
    "two-values": metric("number", [(D, 82), (D + dt.timedelta(days=1), 81)], target=75),
    "two-values-a-week": metric("number", [(D, 82), (D + dt.timedelta(days=7), 81)], target=90),
    "count": metric("count", [(D, 3)], target=30, by=dt.date(2026, 3, 31)),
    "count-no-by": metric("count", [(D, 3)], target=30),
}


def day_ms(value: str | int | float) -> float:
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value).replace(tzinfo=dt.timezone.utc).timestamp() * 1000
    return float(value)


@pytest.mark.parametrize("case", sorted(CASES))
def test_12_11_a_chart_with_few_values_looks_intentional(case):
    m = CASES[case]
    fig = charts.figure(m)
    values = fig["data"][0]
    assert "markers" in values["mode"] and values["marker"]["size"] >= 8  # the point is visible
    low, high = fig["layout"]["yaxis"]["range"]
    for y in [p.shown for p in m.points] + [m.spec.target]:
        assert low < y < high, (case, y, low, high)  # the target line and every value inside the axis
    x = fig["layout"]["xaxis"]
    start, end = (day_ms(v) for v in x["range"])
    for p in m.points:
        assert start < day_ms(p.date.isoformat()) < end
    if "tickvals" in x:
        labels = [f"{dt.date.fromisoformat(v[:10]).day} {dt.date.fromisoformat(v[:10]):%b}" for v in x["tickvals"]]
        assert labels and len(set(labels)) == len(labels), labels
        assert all(start <= day_ms(v) <= end for v in x["tickvals"])
    else:  # left to Plotly: a span of two weeks or more, so its few ticks are whole days apart
        assert end - start >= 14 * 86_400_000 and x["nticks"] <= 6
    target = fig["data"][1]
    if m.spec.by is None:  # a target with no date spans the chart
        assert [day_ms(v) for v in target["x"]] == [start, end]


def test_12_11_a_habit_with_one_value_gets_a_bar_of_visible_width():
    fig = charts.figure(metric("habit", [(D, 4 / 7)], target=6 / 7))
    bar = fig["data"][0]
    assert bar["type"] == "bar" and bar.get("width", 0) >= 86_400_000
    assert "tickvals" in fig["layout"]["xaxis"]


# ---------------------------------------------------------------- 12.12 smaller confusions


def one_session_vault(tmp_path: Path, client_extra: str = "", session: str = "") -> Path:
    return write_files(tmp_path / "vault", {
        "clients/ada/client.md": "---\nname: Ada Lovelace\n" + client_extra + "---\n",
        "clients/ada/sessions/2026-03-16.md": session or "---\ntitle: First\n---\nOk.\n",
    })


def test_12_12_on_time_rate_only_when_it_says_something(tmp_path):
    vault = one_session_vault(tmp_path, session="---\ntitle: First\n---\n- [x] Book the room ✅ 2026-03-16\n")
    build(vault, tmp_path / "a")
    text = visible(page(tmp_path / "a", "clients/ada/actions/index.html"))
    assert "on time" not in text and "%" not in text  # no due date: nothing to be on time for
    late = "---\ntitle: First\n---\n- [x] Book the room 📅 2026-03-10 ✅ 2026-03-16\n"
    vault = one_session_vault(tmp_path / "b", session=late)
    build(vault, tmp_path / "b/out")
    text = visible(page(tmp_path / "b/out", "clients/ada/actions/index.html"))
    assert "0 of 1 done on time" in text and "%" not in text


def test_12_12_games_on_track_add_up(tmp_path):
    vault = one_session_vault(tmp_path, client_extra=(
        "metrics:\n"
        "  a: {label: A, target: 10, by: 2026-06-30}\n"
        "  b: {label: B, target: 5}\n"
        "  c: {label: C}\n"
        "  d: {label: D, target: 50}\n"),
        session="---\ntitle: First\nmetrics: {a: 4, b: 6, c: 1, d: 3}\n---\nOk.\n")
    build(vault, tmp_path / "out")
    html = page(tmp_path / "out", "clients/ada/index.html")
    glance = visible(html.split('id="glance"', 1)[1].split("</ul>", 1)[0])
    # a (on its path) and b (reached) on track; c and d have no target date, so no pace
    assert "2 of 4 games on track" in glance and "2 without a target date" in glance, glance


def test_12_12_a_habit_reads_as_days(tmp_path):
    vault = one_session_vault(tmp_path, client_extra="metrics:\n  med: {label: Meditation, kind: habit, target: 6/7}\n",
                              session="---\ntitle: First\nmetrics: {med: 4/7}\n---\nOk.\n")
    build(vault, tmp_path / "out")
    for rel in ("clients/ada/index.html", "clients/ada/metrics/index.html"):
        text = visible(page(tmp_path / "out", rel))
        assert "4 of 7 days" in text and "6 of 7 days" in text and "57%" not in text, rel


def test_12_12_a_currency_goes_before_the_number(tmp_path):
    vault = one_session_vault(tmp_path, client_extra=(
        "metrics:\n  mrr: {label: MRR, unit: £, target: 12000}\n  usd: {label: Fees, unit: $}\n"
        "  eur: {label: Grants, unit: €}\n  kg: {label: Weight, unit: kg}\n"),
        session="---\ntitle: First\nmetrics: {mrr: 7250, usd: 300, eur: 40, kg: 75}\n---\nOk.\n")
    build(vault, tmp_path / "out")
    text = visible(page(tmp_path / "out", "clients/ada/index.html"))
    for shown in ("£7,250", "£12,000", "$300", "€40", "75 kg"):
        assert shown in text, shown
    assert "7,250 £" not in text and "300 $" not in text


def test_12_12_the_overview_says_truthfully_what_it_shows(tmp_path):
    vault = one_session_vault(tmp_path)
    build(vault, tmp_path / "out")
    text = visible(page(tmp_path / "out", "coach/index.html"))
    assert "status only: names, dates, counts, action texts and metric values" in text
    assert "never the text of notes" in text


def test_12_12_no_updated_date_after_the_pages_today(tmp_path):
    vault = one_session_vault(tmp_path)
    env = {**os.environ, "GIT_AUTHOR_NAME": "c", "GIT_AUTHOR_EMAIL": "c@x", "GIT_COMMITTER_NAME": "c",
           "GIT_COMMITTER_EMAIL": "c@x", "GIT_AUTHOR_DATE": "2026-11-27T12:00:00",
           "GIT_COMMITTER_DATE": "2026-11-27T12:00:00"}
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "start"]):
        subprocess.run(["git", *args], cwd=vault, check=True, capture_output=True, env=env)
    site.build(vault, out=tmp_path / "out", today=TODAY)
    (session_page,) = (tmp_path / "out/clients/ada/sessions").glob("*/index.html")
    text = visible(session_page.read_text(encoding="utf-8"))
    assert "27 Nov 2026" not in text and "updated" not in text


def test_12_12_new_client_uses_the_folder_that_is_already_there(tmp_path):
    cli("init", ".", cwd=tmp_path)
    (tmp_path / "clients/Bob Smith/sessions").mkdir(parents=True)
    (tmp_path / "clients/Bob Smith/sessions/2026-03-16.md").write_text("---\ntitle: First\n---\nOk.\n")
    done = cli("new", "client", "Bob Smith", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "clients/Bob Smith/client.md").is_file()
    assert not (tmp_path / "clients/bob-smith").exists()
    assert "clients/Bob Smith/client.md" in done.stderr and "already" in done.stderr
    again = cli("new", "client", "bob smith", cwd=tmp_path)  # never overwrites
    assert again.returncode != 0 and "never overwrites" in again.stderr


def test_12_12_every_command_takes_the_vault_as_vault_option_and_build_check_watch_as_argument(tmp_path):
    vault = write_files(tmp_path / "vault", ADA)
    today = ("--today", TODAY.isoformat())
    assert cli("build", "--vault", "vault", *today, cwd=tmp_path).returncode == 0
    assert (vault / "_site/clients/ada/index.html").is_file()
    assert cli("build", "vault", "--vault", "vault/", *today, cwd=tmp_path).returncode == 0  # the same folder twice
    assert cli("check", "--vault", "vault", *today, cwd=tmp_path).returncode == 0
    assert cli("check", "vault", *today, cwd=tmp_path).returncode == 0
    assert cli("digest", "ada", "--vault", "vault", *today, cwd=tmp_path).returncode == 0
    (tmp_path / "other").mkdir()
    clash = cli("check", "vault", "--vault", "other", *today, cwd=tmp_path)
    assert clash.returncode == 2 and "--vault" in clash.stderr and "Traceback" not in clash.stderr
    assert "--vault" in cli("watch", "--help", cwd=tmp_path).stdout
