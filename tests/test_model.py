"""model.py: actions merged by identity, statuses at today, metric series, session ids, membership."""

from __future__ import annotations

import datetime as dt

import pytest

from coachgen.engine import site
from conftest import TODAY

ADA = """---
name: Ada Lovelace
slug: ada
metrics:
  weight_kg: {label: Weight, unit: kg, target: 75, by: 2026-06-30, direction: down}
  calls: {label: Sales calls, kind: count, target: 100, by: 2026-03-31}
  energy: {label: Energy, kind: rating, scale: 10, target: 8}
  meditated: {label: Daily meditation, kind: habit, target: 6/7}
---
Private profile.
"""


def model_of(make_vault, files, today=TODAY):
    vault = make_vault({"clients/ada/client.md": ADA, **files})
    result = site.build(vault, write=False, today=today)
    return result, {c.slug: c for c in result.model.clients}


def actions_of(make_vault, files, today=TODAY):
    result, clients = model_of(make_vault, files, today)
    return result, {a.key: a for a in clients["ada"].actions}


def test_actions_merge_by_id_and_text_across_sessions(make_vault):
    result, actions = actions_of(make_vault, {
        "clients/ada/s/2026-01-05.md": """---
actions:
  - Draft the pitch deck 📅 2026-01-19 🆔 deck
  - text: Book three customer calls
    due: 2026-01-26
---
- [ ] Call the bank 📅 2026-01-20
""",
        "clients/ada/s/2026-01-12.md": """---
actions:
  - id: deck
    done: 2026-01-18
---
- [x] call   THE bank
- [ ] Book three customer calls 📅 2026-03-30
""",
    })
    deck, calls, bank = actions["deck"], actions["book three customer calls"], actions["call the bank"]
    assert ((deck.text, deck.status, deck.done, deck.session)
            == ("Draft the pitch deck", "done", dt.date(2026, 1, 18), "2026-01-05"))
    assert deck.on_time
    # done without a date takes the date of the note that marked it done; the first text is the one shown
    assert (bank.text, bank.status, bank.done) == ("Call the bank", "done", dt.date(2026, 1, 12))
    assert bank.on_time is True
    # a later mention moves the due date; the action stays open
    assert (calls.due, calls.status) == (dt.date(2026, 3, 30), "open")


def test_a_later_open_task_reopens_and_keeps_its_due_date(make_vault):
    _, actions = actions_of(make_vault, {
        "clients/ada/s/2026-01-05.md": "- [x] Phone away at night 📅 2026-01-10 ✅ 2026-01-09\n",
        "clients/ada/s/2026-02-05.md": "- [ ] Phone away at night\n",
    })
    action = actions["phone away at night"]
    assert (action.status, action.done, action.due) == ("overdue", None, dt.date(2026, 1, 10))


def test_statuses_at_today(make_vault):
    _, actions = actions_of(make_vault, {
        "clients/ada/s/2026-01-05.md": """
- [ ] Past due 📅 2026-03-19
- [ ] Due today 📅 2026-03-20
- [ ] No date
- [-] Dropped
- [x] Finished late 📅 2026-01-06 ✅ 2026-01-08
""",
    })
    assert {k: a.status for k, a in actions.items()} == {
        "past due": "overdue", "due today": "open", "no date": "open", "dropped": "cancelled", "finished late": "done",
    }
    assert actions["finished late"].on_time is False
    assert actions["dropped"].cancelled == dt.date(2026, 1, 5)


def test_unknown_id_without_text_is_ignored_with_a_warning(make_vault):
    result, actions = actions_of(make_vault, {
        "clients/ada/s/2026-01-05.md": "---\nactions:\n  - id: nowhere\n    done: true\n---\nBody\n",
    })
    assert actions == {}
    assert ("clients/ada/s/2026-01-05.md:3: warning: an action's id matches no earlier action (and it has no text); "
            "ignored") in map(str, result.problems)


def test_action_order_due_then_text(make_vault):
    _, clients = model_of(make_vault, {
        "clients/ada/s/2026-01-05.md": "- [ ] b late 📅 2026-05-01\n- [ ] Z none\n- [ ] a none\n"
                                       "- [ ] c early 📅 2026-04-01\n",
    })
    assert [a.text for a in clients["ada"].actions] == ["c early", "b late", "a none", "Z none"]


def test_metric_kinds(make_vault):
    result, clients = model_of(make_vault, {
        "clients/ada/s/2026-01-05.md": "---\nmetrics:\n  weight_kg: 82\n  calls: 10\n  energy: 6\n"
                                       "  meditated: 5/7\n---\nx",
        "clients/ada/s/2026-01-12.md": "---\nmetrics:\n  weight_kg: 81.5\n  calls: {2026-01-10: 5, 2026-01-12: 12}\n"
                                       "  energy: 8\n  meditated: true\n---\nx",
        "clients/ada/s/2026-01-19.md": "---\nmetrics:\n  meditated: 7/7\n---\nx",
        "clients/ada/s/2026-01-26.md": "---\nmetrics:\n  meditated: 3/7\n  sleep_h: 7.5\n---\nx",
    })
    metrics = {m.spec.key: m for m in clients["ada"].metrics}
    assert [m.spec.key for m in clients["ada"].metrics] == ["weight_kg", "calls", "energy", "meditated", "sleep_h"]
    calls = metrics["calls"]
    assert [p.value for p in calls.points] == [10, 5, 12]
    assert [p.shown for p in calls.points] == [10, 15, 27]  # the running total is charted
    habit = metrics["meditated"]
    assert [p.value for p in habit.points] == [5 / 7, 1.0, 1.0, 3 / 7]
    assert habit.streaks == (0, 2)
    undefined = metrics["sleep_h"].spec
    assert (undefined.kind, undefined.label, undefined.defined) == ("number", "sleep_h", False)
    assert any("metric 'sleep_h' is not defined in clients/ada/client.md" in str(p) for p in result.problems)


def test_target_path_ahead_and_behind(make_vault):
    _, clients = model_of(make_vault, {
        "clients/ada/s/2026-01-01.md": "---\nmetrics:\n  weight_kg: 85\n---\nx",
        "clients/ada/s/2026-03-01.md": "---\nmetrics:\n  weight_kg: 80\n---\nx",
    })
    weight = next(m for m in clients["ada"].metrics if m.spec.key == "weight_kg")
    # path from 85 on 1 Jan to 75 on 30 Jun: on 1 Mar it expects 85 - 10 * 59/180
    assert weight.expected(dt.date(2026, 3, 1)) == pytest.approx(85 - 10 * 59 / 180)
    assert weight.pace == "ahead"
    _, clients = model_of(make_vault, {
        "clients/ada/s/2026-01-01.md": "---\nmetrics:\n  weight_kg: 85\n---\nx",
        "clients/ada/s/2026-03-01.md": "---\nmetrics:\n  weight_kg: 84.5\n---\nx",
    })
    assert next(m for m in clients["ada"].metrics if m.spec.key == "weight_kg").pace == "behind"


def test_later_session_wins_on_the_same_date(make_vault):
    _, clients = model_of(make_vault, {
        "clients/ada/s/2026-01-05.md": "---\nmetrics:\n  weight_kg: {2026-01-10: 80}\n---\nx",
        "clients/ada/s/2026-01-10.md": "---\nmetrics:\n  weight_kg: 79\n---\nx",
    })
    weight = next(m for m in clients["ada"].metrics if m.spec.key == "weight_kg")
    assert [(p.date, p.value) for p in weight.points] == [(dt.date(2026, 1, 10), 79)]


@pytest.mark.parametrize(
    "value, message",
    [("NaN", "must be a number"), (".inf", "must be a number"), ('"70,5"', "must be a number"),
     ("12%", "must be a number"), ("true", "must be a number")],
)
def test_bad_metric_value_is_an_error_and_only_that_value_is_dropped(make_vault, value, message):
    result, clients = model_of(make_vault, {
        "clients/ada/s/2026-01-05.md": f"---\nmetrics:\n  weight_kg: {value}\n  energy: 7\n---\nKept.",
    })
    ada = clients["ada"]
    assert [s.id for s in ada.sessions] == ["2026-01-05"]
    metrics = {m.spec.key: m for m in ada.metrics}
    assert metrics["weight_kg"].points == () and [p.value for p in metrics["energy"].points] == [7]
    assert any(str(p).startswith("clients/ada/s/2026-01-05.md:3: error: ") and message in p.message
               for p in result.problems)


def test_rating_out_of_scale_and_bad_habit(make_vault):
    result, _ = model_of(make_vault, {"clients/ada/s/2026-01-05.md": "---\nmetrics:\n  energy: 11\n"
                                                                     "  meditated: 8/7\n---\nx"})
    messages = [str(p) for p in result.errors]
    assert ("clients/ada/s/2026-01-05.md:3: error: metric 'energy' is a rating from 1 to its 'scale' "
            "in client.md") in messages
    assert any(m.startswith("clients/ada/s/2026-01-05.md:4: error: metric 'meditated' is a habit") for m in messages)


def test_session_ids_and_duplicates(make_vault):
    _, clients = model_of(make_vault, {
        "clients/ada/s/2026-01-12 Pricing breakthrough.md": "x",
        "clients/ada/s/b.md": "---\ndate: 2026-01-12\ntitle: Pricing breakthrough\n---\nx",
        "clients/ada/s/2026-01-05.md": "x",
        "clients/ada/s/c.md": "---\ndate: 2026-01-05\n---\nx",
    })
    ids = {s.path.rsplit("/", 1)[1]: s.id for s in clients["ada"].sessions}
    assert ids == {
        "2026-01-05.md": "2026-01-05",
        "c.md": "2026-01-05-2",  # the date alone; the later by path of two gets -2
        "2026-01-12 Pricing breakthrough.md": "2026-01-12",  # a title never reaches the id
        "b.md": "2026-01-12-2",
    }


def test_membership_rules(make_vault):
    result, clients = model_of(make_vault, {
        "clients/bob/client.md": "---\nname: Bob Babbage\n---\n",
        "inbox/2026-01-05 call.md": '---\nclient: "[[ada lovelace]]"\n---\nJoined by name.',
        "inbox/2026-01-06 call.md": "---\nclient: BOB\n---\nJoined by slug.",
        "inbox/2026-01-07 call.md": "---\nclient: Nobody\n---\nNo such client.",
        "clients/ada/s/2026-01-08.md": "---\nclient: bob\n---\nWrong folder.",
        "coach/2026-01-09 ideas.md": "Coach's own note.",
        "clients/ada/s/2026-01-10.md": "---\nprivate: true\n---\nPrivate.",
        "clients/nobody/2026-01-11.md": "Folder without client.md.",
    })
    assert [s.path for s in clients["ada"].sessions] == ["inbox/2026-01-05 call.md"]
    assert [s.path for s in clients["bob"].sessions] == ["inbox/2026-01-06 call.md"]
    problems = set(map(str, result.problems))
    assert "inbox/2026-01-07 call.md:2: error: 'client' names no client of this vault" in problems
    assert ("clients/ada/s/2026-01-08.md:2: error: 'client' names another client than the folder "
            "the note is in") in problems
    assert any(p.startswith("clients/nobody/2026-01-11.md:1: warning:") for p in problems)


def test_private_client_and_slug_clash(make_vault):
    result, clients = model_of(make_vault, {
        "clients/bob/client.md": "---\nslug: ada\n---\n",
        "clients/cy/client.md": "---\nprivate: true\n---\n",
    })
    assert sorted(clients) == []  # neither of two clients on one slug gets a site (contract revision 3)
    problems = "\n".join(map(str, result.problems))
    assert "clients/bob/client.md:2: error: two clients on slug 'ada' (the other is clients/ada/client.md)" in problems
    assert "clients/ada/client.md:3: error: two clients on slug 'ada' (the other is clients/bob/client.md)" in problems


def test_progress_update_warning(make_vault):
    result, _ = model_of(make_vault, {"clients/ada/s/2026-01-05.md": "Just chatted."})
    assert any(p.level == "warning" and "a progress update, not a milestone" in p.message for p in result.problems)
