"""Every speed-up leaves the output byte-identical to the plain path: worker processes,
the parse cache, the page keys and the manifest (issue 5)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from coachgen.dev import synthetic as generator
from coachgen.model.clients import Action, Client, Model
from coachgen.plan import pages
from coachgen.vault.config import Config
from conftest import ROOT, all_output


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    """A synthetic practice big enough (300 notes) for the build to use worker processes,
    from the project's own generator (its clients are invented: no passwords)."""
    return generator.write_vault(tmp_path_factory.mktemp("synthetic") / "vault", clients=6, sessions=50)


def build(vault: Path, out: Path, workers: str, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COACHGEN_WORKERS": workers}
    done = subprocess.run([sys.executable, "-m", "coachgen", "build", str(vault), "--out", str(out),
                           "--today", "2026-03-20", *extra], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    return done


def fresh_copy(vault: Path, where: Path, like: Path | None = None) -> Path:
    """A copy without its state; given `like`, with that vault's check-in secrets (the one
    random input of a plain site: its dashboard's token)."""
    shutil.copytree(vault, where, ignore=shutil.ignore_patterns(".coachgen"))
    if like is not None:
        (where / ".coachgen").mkdir()
        shutil.copy2(like / ".coachgen" / "checkins.json", where / ".coachgen" / "checkins.json")
    return where


def test_worker_processes_change_nothing(synthetic, tmp_path):
    serial = build(fresh_copy(synthetic, tmp_path / "v1"), tmp_path / "serial", "1")
    parallel = build(fresh_copy(synthetic, tmp_path / "v2", like=tmp_path / "v1"), tmp_path / "parallel", "2")
    assert serial.stderr.splitlines()[-1].split(" in ")[0] == parallel.stderr.splitlines()[-1].split(" in ")[0]
    assert all_output(tmp_path / "serial") == all_output(tmp_path / "parallel")


def test_the_parse_cache_and_page_keys_change_nothing(synthetic, tmp_path):
    vault = fresh_copy(synthetic, tmp_path / "vault")
    out = tmp_path / "out"
    build(vault, out, "2")
    note = sorted(vault.glob("clients/*/sessions/*.md"))[7]
    text = note.read_text()
    assert "\ntitle: \"" in text
    note.write_text(text.replace("\ntitle: \"", "\ntitle: \"Edited ", 1) + "\nA new line.\n")
    second = build(vault, out, "2")
    assert "0 written" not in second.stderr
    build(fresh_copy(vault, tmp_path / "clean-vault", like=vault), tmp_path / "clean", "1")
    assert all_output(out) == all_output(tmp_path / "clean")
    third = build(vault, out, "2")
    assert ", 0 written, 0 removed" in third.stderr


# ---------------------------------------------------------------- calendars written directly


def _reference_calendar(client, today, config, coach=False) -> bytes:
    """The feeds as the icalendar library wrote them before `coachgen.plan.ical` (the slow path)."""
    import hashlib

    from icalendar import Calendar, Event

    stamp = dt.datetime.combine(today, dt.time(0, 0), tzinfo=dt.timezone.utc)

    def action_event(action, summary):
        event = Event()
        event.add("uid", f"action-{hashlib.sha256(action.key.encode()).hexdigest()[:16]}@{client.slug}.coachgen")
        event.add("dtstamp", stamp)
        event.add("summary", summary)
        event.add("dtstart", action.due)
        event.add("dtend", action.due + dt.timedelta(days=1))
        event.add("transp", "TRANSPARENT")
        if config.base_url:
            event.add("url", f"{config.base_url.rstrip('/')}/clients/{client.slug}/actions/")
        return event

    def session_event(summary):
        day, time = client.next_session
        event = Event()
        event.add("uid", f"next-session@{client.slug}.coachgen")
        event.add("dtstamp", stamp)
        event.add("summary", summary)
        if time is None:
            event.add("dtstart", day)
            event.add("dtend", day + dt.timedelta(days=1))
        else:
            start = dt.datetime.combine(day, time, tzinfo=config.zone)
            event.add("dtstart", start)
            event.add("dtend", start + dt.timedelta(hours=1))
        return event

    cal = Calendar()
    cal.add("prodid", "-//coachgen//coachgen//EN")
    cal.add("version", "2.0")
    if coach:
        cal.add("x-wr-calname", f"{config.title}: sessions and overdue actions")
        if client.next_session is not None:
            cal.add_component(session_event(f"Session with {client.name}"))
        for action in client.actions:
            if action.status == "overdue":
                cal.add_component(action_event(action, f"Overdue, {client.name}: {action.text}"))
    else:
        cal.add("x-wr-calname", f"{client.name}: coaching")
        for action in client.actions:
            if action.status in ("open", "overdue") and action.due is not None:
                cal.add_component(action_event(action, action.text))
        if client.next_session is not None:
            cal.add_component(session_event(f"Coaching session{' with ' + config.coach if config.coach else ''}"))
    cal.add_missing_timezones()
    return cal.to_ical()


_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from(",;:\\\n\"é😀"), max_size=120)


@settings(max_examples=150, deadline=None)
@given(texts=st.lists(_TEXT, min_size=0, max_size=6), name=_TEXT.filter(lambda t: "\n" not in t), coach=st.booleans(),
       zone=st.sampled_from(["UTC", "Europe/London", "America/New_York", "Asia/Kolkata"]),
       at=st.one_of(st.none(), st.times(dt.time(0), dt.time(23, 59)).map(lambda t: t.replace(second=0, microsecond=0))),
       base_url=st.sampled_from(["", "https://coach.example/", "https://c.example/a,b;c"]))
@example(texts=["x" * n + ",;\\é😀" * 3 for n in range(50, 56)], name="Ada", coach=False, zone="UTC", at=None,
         base_url="")  # an escape or a wide character at every place a line folds
def test_calendars_match_what_icalendar_writes(texts, name, coach, zone, at, base_url):
    # icalendar turns a written backslash-N into a line break; coachgen keeps the text as written
    assume("\\N" not in name and not any("\\N" in t for t in texts))
    today = dt.date(2026, 3, 20)
    actions = tuple(Action(key=f"key {i}", id=None, text=t, due=today + dt.timedelta(days=i - 2), done=None,
                           cancelled=None, status="overdue" if i < 2 else "open", session="s")
                    for i, t in enumerate(texts))
    client = Client(folder="ada", name=name or "Ada", slug="ada", started=None, next_session=(today, at),
                    goals=(), sessions=(), actions=actions, metrics=(), insights=(), future=())
    config = Config(vault=Path("."), title="Northstar, Coaching", coach="Helen", base_url=base_url, timezone=zone)
    model = Model(today=today, clients=(client,), problems=())
    ours = pages.coach_calendar(model, config) if coach else pages.calendar(client, today, config)
    assert ours == _reference_calendar(client, today, config, coach)
