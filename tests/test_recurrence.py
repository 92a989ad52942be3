"""Tasks' recurring actions as series, priorities, start dates and dependencies (issue 13)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from dateutil import rrule as rr
from dateutil.relativedelta import relativedelta
from hypothesis import given, settings
from hypothesis import strategies as st

from coachgen import scaffold
from coachgen.engine import site
from coachgen.model import clients as model
from coachgen.parse import recurrence
from coachgen.parse.notes import Mention, Note
from coachgen.plan import pages
from coachgen.vault.config import Config
from conftest import TODAY

ADA = "---\nname: Ada Lovelace\nslug: ada\n---\n"
D = dt.date


def client_of(make_vault, files, today=TODAY):
    vault = make_vault({"clients/ada/client.md": ADA, **files})
    result = site.build(vault, write=False, today=today)
    return result, result.model.clients[0]


def by_text(client):
    return {a.text: a for a in client.actions}


def test_rule_text_reads_as_tasks_documents_it():
    cases = {
        ("every week", D(2021, 4, 25)): D(2021, 5, 2),
        ("every Sunday", D(2021, 4, 25)): D(2021, 5, 2),
        ("every month", D(2021, 10, 31)): D(2021, 11, 30),  # moved earlier, as Tasks does
        ("every month", D(2022, 2, 28)): D(2022, 3, 28),
        ("every month on the 31st", D(2022, 1, 31)): D(2022, 3, 31),  # skips short months
        ("every month on the last", D(2022, 1, 31)): D(2022, 2, 28),
        ("every 3 months", D(2022, 1, 31)): D(2022, 4, 30),
        ("every weekday", D(2026, 1, 9)): D(2026, 1, 12),
        ("every week on Tuesday, Friday", D(2026, 1, 6)): D(2026, 1, 9),
        ("every Monday, Thursday", D(2026, 1, 5)): D(2026, 1, 8),
        ("every month on the 3rd", D(2026, 1, 3)): D(2026, 2, 3),
        ("every month on the last Friday", D(2026, 1, 30)): D(2026, 2, 27),
        ("every January on the 15th", D(2026, 1, 15)): D(2027, 1, 15),
        ("every year", D(2024, 2, 29)): D(2025, 2, 28),
        ("every 10 days when done", D(2026, 1, 1)): D(2026, 1, 11),
    }
    for (text, ref), expected in cases.items():
        rule = recurrence.parse(text)
        assert rule is not None and rule.after(ref) == expected, text
    assert recurrence.parse("every 2 days when done").when_done
    assert recurrence.parse("every blue moon") is None
    assert recurrence.parse("weekly") is None


def test_obsidian_written_occurrences_merge_into_one_series(make_vault):
    _, ada = client_of(make_vault, {
        "clients/ada/s/2026-01-05.md": "- [ ] Weekly review 🔁 every week 📅 2026-01-11\n",
        "clients/ada/s/2026-01-12.md": ("- [ ] Weekly review 🔁 every week 📅 2026-01-18\n"
                                        "- [x] Weekly review 🔁 every week 📅 2026-01-11 ✅ 2026-01-11\n"),
    }, today=D(2026, 1, 13))
    [review] = ada.actions
    assert (review.recurrence, review.due, review.status) == ("every week", D(2026, 1, 18), "open")
    assert [(o.due, o.status, o.date) for o in review.history] == [(D(2026, 1, 11), "done", D(2026, 1, 11))]
    assert review.record == {"on_time": 1, "late": 0, "missed": 0, "cancelled": 0, "streak": 1}


def test_next_occurrence_is_computed_where_no_note_wrote_it(make_vault):
    _, ada = client_of(make_vault, {
        "clients/ada/s/2026-01-05.md": ("- [x] Weekly review 🔁 every week 📅 2026-01-11 ✅ 2026-01-13\n"
                                        "- [x] Water the plants 🔁 every 3 days when done 📅 2026-01-10 ✅ 2026-01-14\n"
                                        "- [x] Pay the rent 🔁 every month on the 31st 📅 2026-01-31 ✅ 2026-01-30\n"),
    }, today=D(2026, 1, 15))
    a = by_text(ada)
    assert (a["Weekly review"].due, a["Weekly review"].status) == (D(2026, 1, 18), "open")
    assert a["Weekly review"].record["late"] == 1
    assert a["Water the plants"].due == D(2026, 1, 17)  # from the done date
    assert a["Pay the rent"].due == D(2026, 3, 31)  # February has no 31st


def test_missed_occurrences_and_overdue_counted_once(make_vault):
    result, ada = client_of(make_vault, {
        "clients/ada/s/2026-01-05.md": ("- [ ] Journal 🔁 every day 📅 2026-01-05\n"
                                        "- [ ] Journal 🔁 every day 📅 2026-01-06\n"
                                        "- [ ] Journal 🔁 every day 📅 2026-01-07\n"),
    }, today=D(2026, 1, 10))
    [journal] = ada.actions
    assert (journal.due, journal.status) == (D(2026, 1, 7), "overdue")
    assert [o.status for o in journal.history] == ["missed", "missed"]
    assert pages.glance(ada)["overdue"] == 1
    assert [a.status for a in ada.actions] == ["overdue"]  # the overview's overdue list is these


def test_recurrence_without_a_due_date_stays_open_undated(make_vault):
    _, ada = client_of(make_vault, {
        "clients/ada/s/2026-01-05.md": "- [x] Stretch 🔁 every day ✅ 2026-01-05\n",
        "clients/ada/s/2026-01-07.md": "- [x] Stretch 🔁 every day ✅ 2026-01-07\n",
    }, today=D(2026, 1, 8))
    [stretch] = ada.actions
    assert (stretch.due, stretch.status) == (None, "open")
    assert [(o.due, o.status) for o in stretch.history] == [(None, "done"), (None, "done")]


def test_a_rule_coachgen_cannot_read_is_warned_with_its_line_and_kept_as_a_one_off(make_vault):
    result, ada = client_of(make_vault, {
        "clients/ada/s/2026-01-05.md": "Intro.\n\n- [x] Read 🔁 every blue moon 📅 2026-01-06 ✅ 2026-01-06\n",
    })
    [read] = ada.actions
    assert (read.recurrence, read.status) == (None, "done")
    [problem] = [p for p in result.problems if p.path.endswith("2026-01-05.md")]
    assert (problem.line, problem.level) == (3, "warning") and "blue moon" not in problem.message


def test_priority_orders_within_a_due_date_start_dates_and_dependencies(make_vault):
    _, ada = client_of(make_vault, {
        "clients/ada/s/2026-01-05.md": ("- [ ] Low thing 🔽 📅 2026-01-20\n"
                                        "- [ ] Plain thing 📅 2026-01-20\n"
                                        "- [ ] Urgent thing 🔺 📅 2026-01-20\n"
                                        "- [ ] Medium thing 🔼 📅 2026-01-20\n"
                                        "- [ ] Later thing 🛫 2026-02-03 📅 2026-02-10\n"
                                        "- [ ] Draft the deck 🆔 deck 📅 2026-01-25\n"
                                        "- [ ] Send the deck ⛔ deck 📅 2026-01-26\n"
                                        "- [x] Book the room 🆔 room ✅ 2026-01-05\n"
                                        "- [ ] Pack ⛔ room\n"),
    }, today=D(2026, 1, 15))
    texts = [a.text for a in ada.actions]
    assert texts[:4] == ["Urgent thing", "Medium thing", "Plain thing", "Low thing"]
    a = by_text(ada)
    assert a["Later thing"].later and not a["Plain thing"].later
    assert pages.glance(ada)["open"] == len([x for x in ada.actions if x.status == "open" and not x.later])
    assert a["Send the deck"].after == ("Draft the deck",)
    assert a["Pack"].after == ()  # the room is booked


def test_review_list_carries_the_current_occurrence_and_ticking_it_closes_it(make_vault):
    files = {"clients/ada/s/2026-01-05.md": "- [x] Weekly review 🔁 every week 📅 2026-01-11 ✅ 2026-01-11 ⏫\n"}
    _, ada = client_of(make_vault, files, today=D(2026, 1, 16))
    note = scaffold.session_note(ada, D(2026, 1, 16))
    [line] = [x for x in note.splitlines() if "Weekly review" in x]
    assert line == "- [ ] Weekly review 📅 2026-01-18 🔁 every week ⏫"
    ticked = note.replace(line, line.replace("[ ]", "[x]"))
    _, ada = client_of(make_vault, {**files, "clients/ada/s/2026-01-16.md": ticked}, today=D(2026, 1, 16))
    [review] = ada.actions
    assert (review.due, review.status) == (D(2026, 1, 25), "open")
    assert [(o.due, o.status) for o in review.history] == [(D(2026, 1, 11), "done"), (D(2026, 1, 18), "done")]


def test_data_json_and_calendar_carry_the_new_fields(make_vault):
    vault = make_vault({"clients/ada/client.md": ADA, "clients/ada/s/2026-01-05.md": (
        "- [ ] Weekly review 🔁 every week on Sunday 📅 2026-01-11 ⏫ 🛫 2026-01-10\n"
        "- [ ] Send the deck ⛔ deck 📅 2026-01-26 ➕ 2026-01-02\n")})
    result = site.build(vault, write=False, today=D(2026, 1, 5))
    ada = result.model.clients[0]
    data = json.loads(pages.data_json(ada, D(2026, 1, 5)))
    assert data["schema"] == 1
    review, deck = data["actions"]
    assert {k: review[k] for k in ("due", "priority", "start", "scheduled", "recurrence", "depends_on")} == {
        "due": "2026-01-11", "priority": "high", "start": "2026-01-10", "scheduled": None,
        "recurrence": "every week on Sunday", "depends_on": []}
    assert (deck["recurrence"], deck["depends_on"], deck["text"]) == (None, ["deck"], "Send the deck")
    cal = pages.calendar(ada, D(2026, 1, 5), Config(vault=Path("."), title="T", coach="C")).decode()
    assert "RRULE:FREQ=WEEKLY;BYDAY=SU" in cal
    assert cal.count("RRULE") == 1


WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
FREQS = {"day": rr.DAILY, "week": rr.WEEKLY, "month": rr.MONTHLY, "year": rr.YEARLY}


def _library_next(freq, interval, days, reference: dt.date) -> dt.date:
    """The next occurrence as dateutil gives it: rrule from the reference; a monthly or yearly
    rule that names no day is relativedelta's month arithmetic (which keeps the day, or the
    month's last where it is shorter, as Tasks does)."""
    if freq in ("month", "year"):
        return reference + relativedelta(**{f"{freq}s": interval})
    rule = rr.rrule(FREQS[freq], interval=interval, byweekday=[WEEKDAYS.index(d) for d in days] or None,
                    dtstart=dt.datetime.combine(reference, dt.time()))
    return rule.after(dt.datetime.combine(reference, dt.time())).date()


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(list(FREQS)), st.integers(1, 4), st.lists(st.sampled_from(WEEKDAYS), max_size=3, unique=True),
       st.booleans(), st.dates(D(2020, 1, 1), D(2030, 12, 31)),
       st.lists(st.tuples(st.sampled_from(["done", "missed"]), st.integers(-3, 6)), max_size=6),
       st.booleans(), st.dates(D(2020, 1, 1), D(2032, 12, 31)))
def test_property_next_occurrence_is_the_rule_librarys_and_a_series_has_one_open(
        freq, interval, days, when_done, first, steps, written_next, today):
    """For random rules and completion histories, each computed next occurrence equals what
    the rule library gives, and a series never shows two open occurrences."""
    days = days if freq == "week" else []
    text = ((f"every {interval} {freq}s" if interval > 1 else f"every {freq}")
            + (" on " + ", ".join(days) if days else ""))
    text += " when done" if when_done else ""
    rule = recurrence.parse(text)
    assert rule is not None and rule.when_done == when_done
    mentions, due = [], first
    for i, (kind, offset) in enumerate(steps):
        if kind == "done":
            day = due + dt.timedelta(days=max(offset, 0) if when_done else offset)
            mentions.append(Mention("Practise", None, due, "done", day, i + 1, recurrence=text))
            reference = day if when_done else due
        else:  # written open, and a later occurrence written after it
            mentions.append(Mention("Practise", None, due, "open", None, i + 1, recurrence=text))
            reference = due
        expected = _library_next(freq, interval, days, reference)
        assert rule.after(reference) == expected
        due = expected
    if written_next or not mentions or steps[-1][0] == "missed":
        mentions.append(Mention("Practise", None, due, "open", None, len(steps) + 1, recurrence=text))
    actions = model._Actions()
    actions.merge(Note("clients/ada/s/x.md", (), ok=True, date=first, mentions=tuple(mentions)), "x", [])
    [action] = [model._freeze(a, today) for a in actions.all.values()]
    assert action.due == due and action.status in ("open", "overdue")
    assert all(o.status != "open" for o in action.history)  # the current occurrence is the only open one
    assert [o.status for o in action.history] == [kind for kind, _ in steps]


def test_pages_show_series_priority_start_and_dependencies_never_raw_signifiers(make_vault, tmp_path):
    vault = make_vault({"clients/ada/client.md": ADA, "clients/ada/s/2026-01-05.md": (
        "- [x] Weekly review 🔁 every week 📅 2026-01-04 ✅ 2026-01-04\n"
        "- [ ] Weekly review 🔁 every week 📅 2026-01-11 ⏫\n"
        "- [ ] Draft the deck 🆔 deck 📅 2026-01-09 ➕ 2026-01-02\n"
        "- [ ] Send the deck ⛔ deck 📅 2026-01-12 🏁 delete\n"
        "- [ ] Book the venue 🛫 2026-02-03 📅 2026-02-10\n")})
    site.build(vault, out=tmp_path / "out", today=D(2026, 1, 8), git=False)
    root = tmp_path / "out/clients/ada"
    actions = (root / "actions/index.html").read_text()
    dashboard = (root / "index.html").read_text()
    session = (root / "sessions/2026-01-05/index.html").read_text()
    assert actions.count("Weekly review") == 1  # the series once
    assert "Repeats every week · 1 of 1 on time" in actions and "High priority" in actions
    assert "after: Draft the deck" in actions and "from 3 Feb" in actions
    steps = dashboard[dashboard.index('id="steps"'):dashboard.index("Later")]
    assert "Book the venue" not in steps and "Book the venue" in dashboard
    for page in (actions, dashboard, session):
        for raw in ("🔁", "⏫", "➕", "⛔", "🏁", "🛫", "2026-01-02", "delete"):
            assert raw not in page, raw
    # the session page shows each line's own occurrence: the first done, the second open
    assert session.count("task-done") == 1


def test_digest_keeps_an_action_that_starts_later_apart_with_its_start_date(make_vault):
    from coachgen import digest

    vault = make_vault({"clients/ada/client.md": ADA, "clients/ada/s/2026-01-05.md": (
        "- [ ] Call the bank 📅 2026-01-20\n- [ ] Book the venue 🛫 2026-02-03 📅 2026-02-10\n")})
    result = site.build(vault, write=False, today=D(2026, 1, 8))
    mail = digest.make(result.model.clients[0], Config(vault=vault, title="T", coach="C"), None, D(2026, 1, 8))
    steps = mail.text[mail.text.index("Open:"):]
    assert steps.index("Call the bank") < steps.index("Later:") < steps.index("Book the venue (from 3 Feb 2026)")
    assert "Book the venue" in mail.html and "from 3 Feb 2026" in mail.html


def test_a_prepared_review_list_of_a_series_left_untouched_is_not_published(make_vault):
    files = {"clients/ada/s/2026-01-05.md": "- [x] Weekly review 🔁 every week 📅 2026-01-11 ✅ 2026-01-11 ⏫ 🆔 wr\n"}
    _, ada = client_of(make_vault, files, today=D(2026, 1, 16))
    note = scaffold.session_note(ada, D(2026, 1, 16))
    result, ada = client_of(make_vault, {**files, "clients/ada/s/2026-01-16.md": note}, today=D(2026, 1, 16))
    assert [s.id for s in ada.sessions] == ["2026-01-05"]
    assert any(p.path.endswith("2026-01-16.md") and p.message == model.UNFILLED for p in result.problems)
