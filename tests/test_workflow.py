"""The coach's week (issue 7): init, new client, new session, calendars, engagements,
the follow-up digest sent through a real SMTP server, and git history on the pages."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from icalendar import Calendar

from coachgen.engine import site
from conftest import ROOT, all_output, write_files

TODAY = dt.date(2026, 3, 20)


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "coachgen", *args], cwd=cwd, capture_output=True, text=True, env=env)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_init_makes_a_vault_ready_for_git_and_never_overwrites(tmp_path):
    done = cli("init", "practice", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    vault = tmp_path / "practice"
    assert (vault / "clients").is_dir() and (vault / "README.md").is_file()
    assert {"_site/", ".coachgen/"} <= set((vault / ".gitignore").read_text().split())
    assert "# coach =" in (vault / "coachgen.toml").read_text()
    assert 'passwords = "required"' in (vault / "coachgen.toml").read_text()
    assert "[coach]" in (vault / ".coachgen/secrets.toml").read_text()  # the overview has its password at once
    (vault / "README.md").write_text("My own readme")
    before = snapshot(vault)
    again = cli("init", "practice", cwd=tmp_path)
    assert again.returncode != 0 and "never overwrites" in again.stderr
    assert snapshot(vault) == before
    check = cli("check", ".", cwd=vault)
    assert check.returncode == 0 and ": error:" not in check.stderr


def test_new_client_is_a_working_profile_and_never_overwrites(tmp_path):
    cli("init", ".", cwd=tmp_path)
    assert cli("new", "client", "Zoë Ærø-Smith", cwd=tmp_path).returncode == 0
    profile = tmp_path / "clients/zoe-aero-smith/client.md"  # transliterated, no letter dropped (issue 12.8)
    text = profile.read_text()
    for kind in ("count", "rating", "habit", "direction: down"):
        assert kind in text
    result = site.build(tmp_path, out=tmp_path / "_site", today=TODAY, git=False)
    assert not result.errors and [c.name for c in result.model.clients] == ["Zoë Ærø-Smith"]
    assert result.protections["zoe-aero-smith"].encrypted  # `new client` saved a password: required by default
    profile.write_text(text + "\nMy notes.")
    again = cli("new", "client", "Zoë Ærø-Smith", cwd=tmp_path)
    assert again.returncode != 0 and "never overwrites" in again.stderr
    assert profile.read_text().endswith("My notes.")


ADA = {
    "clients/ada/client.md": """---
name: Ada Lovelace
engagement: {sessions: 4, from: 2026-01-05, until: 2026-04-30}
next_session: 2026-03-25 10:00
metrics:
  weight_kg: {label: Weight, unit: kg, target: 75, by: 2026-06-30, direction: down}
  meditated: {label: Meditation, kind: habit, target: 6/7}
email: ada@example.org
---
""",
    "clients/ada/sessions/2026-03-02.md": """---
title: Kickoff
metrics:
  weight_kg: 82
actions:
  - Draft the pitch deck 📅 2026-03-10 🆔 deck
---
- [ ] Call the bank 📅 2026-03-25
- [ ] Book three customer calls
""",
    "clients/ada/sessions/2026-03-09.md": "---\ntitle: Second\nmetrics:\n  meditated: 5/7\n---\n"
                                          "- [x] Book three customer calls\n",
    "clients/ada/sessions/2026-03-16.md": "---\ntitle: Third\ninsights: [Small steps count.]\n---\nOk.\n",
}


def test_new_session_prepares_the_call_and_ticking_closes_earlier_actions(tmp_path):
    vault = write_files(tmp_path / "vault", ADA)
    done = cli("new", "session", "ada", "--date", "2026-03-20", cwd=vault)
    assert done.returncode == 0, done.stderr
    note = vault / "clients/ada/sessions/2026-03-20.md"
    text = note.read_text()
    assert "- [ ] Draft the pitch deck 📅 2026-03-10 🆔 deck" in text  # overdue, to review
    assert "- [ ] Call the bank 📅 2026-03-25" in text
    assert "Book three customer calls" not in text  # done already
    assert "weight_kg:" in text and "last 82 kg on 2026-03-02; target 75 by 2026-06-30" in text
    assert "last 5/7 on 2026-03-09; target 6/7" in text
    # as prepared, the note builds without an error
    assert not site.build(vault, out=tmp_path / "out0", today=TODAY, git=False).errors
    # the coach fills it in during the call
    text = (text.replace("- [ ] Draft the pitch deck", "- [x] Draft the pitch deck")
                .replace("- [ ] Call the bank", "- [-] Call the bank")
                .replace("  weight_kg:", "  weight_kg: 80.5", 1)
                .replace("title: \n", "title: The deck is out\n")
                .replace("%% > [!insight] The breakthrough, in their words %%", "> [!insight]\n> Done beats perfect."))
    note.write_text(text)
    again = cli("new", "session", "ada", "--date", "2026-03-20", cwd=vault)
    assert again.returncode != 0 and note.read_text() == text  # never overwritten
    result = site.build(vault, out=tmp_path / "out", today=TODAY, git=False)
    assert not result.errors, result.errors
    data = json.loads((tmp_path / "out/clients/ada/data.json").read_text())
    actions = {a["text"]: a for a in data["actions"]}
    deck = actions["Draft the pitch deck"]
    assert (deck["status"], deck["done"]) == ("done", "2026-03-20")
    assert actions["Call the bank"]["status"] == "cancelled"
    weight = next(m for m in data["metrics"] if m["key"] == "weight_kg")
    assert weight["points"][-1] == {"date": "2026-03-20", "value": 80.5}
    assert data["insights"][-1] == {"text": "Done beats perfect.", "session": "2026-03-20"}
    page = (tmp_path / "out/clients/ada/sessions/2026-03-20/index.html").read_text()
    assert "Actions reviewed" in page and "%%" not in page


def test_calendars_parse_with_stable_uids(tmp_path):
    vault = write_files(tmp_path / "vault", ADA)
    site.build(vault, out=tmp_path / "a", today=TODAY, git=False)
    (vault / "clients/ada/sessions/2026-03-16.md").write_text("---\ntitle: Third, renamed\n---\nOk.\n"
                                                              "- [ ] A new one 📅 2026-04-02\n")
    site.build(vault, out=tmp_path / "b", today=TODAY + dt.timedelta(days=1), git=False)

    def events(path: Path) -> dict[str, object]:
        data = path.read_bytes()
        assert data.startswith(b"BEGIN:VCALENDAR\r\n") and data.endswith(b"END:VCALENDAR\r\n")
        assert all(len(line) <= 75 for line in data.split(b"\r\n"))  # folded as RFC 5545 asks
        return {str(e["uid"]): e for e in Calendar.from_ical(data).walk("VEVENT")}

    first, second = events(tmp_path / "a/clients/ada/calendar.ics"), events(tmp_path / "b/clients/ada/calendar.ics")
    bank = next(uid for uid, e in first.items() if str(e["summary"]) == "Call the bank")
    assert bank in second and str(second[bank]["summary"]) == "Call the bank"  # the same UID: an update, not a copy
    assert first[bank].decoded("dtstart") == dt.date(2026, 3, 25)
    session = first["next-session@ada.coachgen"].decoded("dtstart")
    assert (session.hour, session.minute, str(session.tzinfo)) == (10, 0, "UTC")
    assert {str(e["summary"]) for e in first.values()} == {"Draft the pitch deck", "Call the bank", "Coaching session"}
    coach = events(tmp_path / "a/coach/calendar.ics")
    assert {str(e["summary"]) for e in coach.values()} == {"Session with Ada Lovelace",
                                                           "Overdue, Ada Lovelace: Draft the pitch deck"}


def test_engagements_show_on_the_dashboard_and_the_overview(tmp_path):
    vault = write_files(tmp_path / "vault", ADA)
    site.build(vault, out=tmp_path / "out", today=TODAY, git=False)
    assert "Session 3 of 4." in (tmp_path / "out/clients/ada/index.html").read_text()
    overview = (tmp_path / "out/coach/index.html").read_text()
    assert "1 of 4 sessions left" in overview and "needs-attention" in overview


def test_nudge_after_days(tmp_path):
    vault = write_files(tmp_path / "vault", {**ADA, "coachgen.toml": "nudge_after_days = 3\n"})
    site.build(vault, out=tmp_path / "out", today=TODAY, git=False)
    assert "no session in 3+ days" in (tmp_path / "out/coach/index.html").read_text()


def test_digest_writes_text_and_html_and_sends_through_smtp(tmp_path):
    from aiosmtpd.controller import Controller

    class Inbox:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append(envelope)
            return "250 OK"

    vault = write_files(tmp_path / "vault", {**ADA, "coachgen.toml": 'coach = "Helen Marsh"\nbase_url = "https://coach.example"\n'})
    done = cli("digest", "ada", "--since", "2026-03-02", "--today", "2026-03-20", cwd=vault)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "Subject: Your next steps from our sessions since 2 March" in text
    for expected in ("Draft the pitch deck (by 10 Mar 2026)", "Weight: 82 kg (target 75 kg by 30 Jun 2026)",
                     "Meditation: 5 of 7 days (target 6 of 7 days)", "Small steps count.",
                     "https://coach.example/clients/ada/", "Helen Marsh"):
        assert expected in text
    html = (vault / ".coachgen/digests/ada-2026-03-20.html").read_text()
    assert "<li>Draft the pitch deck" in html
    inbox = Inbox()
    with socket.socket() as probe:  # a free port on loopback for the local SMTP server
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        write_files(vault, {".coachgen/secrets.toml": f'[smtp]\nhost = "127.0.0.1"\nport = {port}\n'
                                                      'from = "helen@coach.example"\nsecurity = "none"\n'})
        sent = cli("digest", "ada", "--send", "--today", "2026-03-20", cwd=vault)
        assert sent.returncode == 0, sent.stderr
    finally:
        controller.stop()
    assert len(inbox.messages) == 1
    mail = inbox.messages[0]
    assert mail.rcpt_tos == ["ada@example.org"] and mail.mail_from == "helen@coach.example"
    body = mail.content.decode()
    assert "Subject: Your next steps from our session on 16 March" in body and "text/html" in body
    assert "Small steps count." in body


def test_digest_without_smtp_settings_says_what_to_do(tmp_path):
    vault = write_files(tmp_path / "vault", ADA)
    done = cli("digest", "ada", "--send", cwd=vault)
    assert done.returncode != 0 and "[smtp]" in done.stderr and "Traceback" not in done.stderr


def test_pages_show_when_a_note_last_changed_from_git(tmp_path):
    vault = write_files(tmp_path / "vault", ADA)
    git = lambda *a, date=None: subprocess.run(  # noqa: E731
        ["git", *a], cwd=vault, check=True, capture_output=True,
        env={**os.environ, "GIT_AUTHOR_DATE": date or "", "GIT_COMMITTER_DATE": date or "",
             "GIT_AUTHOR_NAME": "c", "GIT_AUTHOR_EMAIL": "c@x", "GIT_COMMITTER_NAME": "c",
             "GIT_COMMITTER_EMAIL": "c@x"})
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "start", date="2026-03-16T12:00:00")
    first = "clients/ada/sessions/2026-03-02.md"
    (vault / first).write_text(ADA[first] + "\nAdded later.\n")
    git("commit", "-qam", "later", date="2026-03-18T12:00:00")
    site.build(vault, out=tmp_path / "out", today=TODAY)
    page = (tmp_path / "out/clients/ada/sessions/2026-03-02/index.html").read_text()
    assert "notes updated 18 Mar 2026" in page
    # committed on its own date: nothing to add
    assert "notes updated" not in (tmp_path / "out/clients/ada/sessions/2026-03-16/index.html").read_text()
    site.build(vault, out=tmp_path / "off", today=TODAY, git=False)
    assert "notes updated" not in (tmp_path / "off/clients/ada/sessions/2026-03-02/index.html").read_text()
    assert all_output(tmp_path / "out").keys() == all_output(tmp_path / "off").keys()


@pytest.mark.parametrize("command", [("digest", "ada"), ("new", "session", "ada")])
def test_an_output_folder_that_is_the_vault_is_one_clear_error_for_every_command(tmp_path, command):
    """It once ended `digest` and `new session` in a traceback."""
    vault = write_files(tmp_path / "vault", {"coachgen.toml": 'output = "."\n',
                                             "clients/ada/client.md": "---\nname: Ada\n---\n"})
    done = cli(*command, cwd=vault)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.splitlines() == ["coachgen.toml:1: error: the output folder must not be the vault or contain it",
                                        "coachgen: error: the vault could not be read (see above)"]
    assert sorted(p.name for p in vault.rglob("*") if ".coachgen" not in p.parts) == ["ada", "client.md", "clients",
                                                                                      "coachgen.toml"]
