"""Issue 12, a new user's first hour: what reaches the client (12.3), mistakes that must not
pass without a word (12.4), and the order images are looked up in (12.6)."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

from coachgen.engine import site
from coachgen.parse.markdown import parse
from coachgen.plan import pages
from conftest import write_files
from test_workflow import cli

TODAY = dt.date(2026, 3, 20)

PROFILE = """---
name: Ada Lovelace
metrics:
  weight_kg: {label: Weight, unit: kg, target: 75, by: 2026-06-30, direction: down}
---
"""


def session_page(out: Path, day: str) -> str | None:
    """The session page of a date, whatever its id's suffix; None if there is none."""
    found = sorted(out.glob(f"clients/ada/sessions/{day}*/index.html"))
    return found[0].read_text() if found else None


def body_of(page: str) -> str:
    """The note's own part of a session page (the sidebar and navigation left out)."""
    return page.split('<div class="prose">', 1)[1].split("</div>", 1)[0]


# ---------------------------------------------------------------- 12.3 template text and duplicates


def test_12_3_new_session_guidance_is_comments_and_an_untouched_note_stays_off_the_site(tmp_path):
    vault = write_files(tmp_path / "vault", {
        "clients/ada/client.md": PROFILE,
        "clients/ada/sessions/2026-03-02.md": "---\ntitle: Kickoff\n---\n- [ ] Call the bank 📅 2026-03-25\n"
                                              "- [ ] Book three calls\n",
        "clients/bo/client.md": "---\nname: Bo\n---\n",
        "clients/bo/sessions/2026-03-02.md": "---\ntitle: Kickoff\ninsights: [Rest.]\n---\nWe met.\n",
    })
    for client in ("ada", "bo"):
        done = cli("new", "session", client, "--date", "2026-03-20", cwd=vault)
        assert done.returncode == 0, done.stderr
    ada, bo = (vault / f"clients/{c}/sessions/2026-03-20.md" for c in ("ada", "bo"))
    assert "- [ ] Call the bank 📅 2026-03-25" in ada.read_text()  # the review list as before
    # guidance is for the coach: every hint sits in a comment
    for line in bo.read_text().split("---", 2)[2].splitlines():
        assert not line.strip() or line.startswith(("#", "%%")), line
    assert "No open actions to review." in bo.read_text()

    built = cli("build", "--today", "2026-03-20", "--no-git", cwd=vault)
    assert built.returncode == 0, built.stderr
    out = vault / "_site"
    # untouched, neither prepared note is published, and the coach is told why
    assert session_page(out, "2026-03-20") is None
    assert not list(out.glob("clients/bo/sessions/2026-03-20*"))
    assert [s["date"] for s in json.loads((out / "clients/ada/data.json").read_text())["sessions"]] == ["2026-03-02"]
    for path in ("clients/ada/sessions/2026-03-20.md", "clients/bo/sessions/2026-03-20.md"):
        assert re.search(rf"^{path}:1: warning: .*not on the client's site", built.stderr, re.M), built.stderr

    # one sentence written in it: published, without its empty headings or any guidance
    ada.write_text(ada.read_text().replace("## What we explored\n", "## What we explored\nPricing, at last.\n"))
    built = cli("build", "--today", "2026-03-20", "--no-git", cwd=vault)
    assert built.returncode == 0, built.stderr
    page = session_page(out, "2026-03-20")
    assert page is not None and "Pricing, at last." in page
    body = body_of(page)
    assert "What we explored" in body and "Review" in body
    for empty in ("Insights", "Next steps", "The bigger future"):
        assert empty not in body
    assert "%%" not in page and "clear next step" not in page

    # a box ticked, nothing else: the note records something, so it is published
    assert cli("new", "session", "ada", "--date", "2026-03-27", cwd=vault).returncode == 0
    fresh = vault / "clients/ada/sessions/2026-03-27.md"
    fresh.write_text(fresh.read_text().replace("- [ ] Call the bank", "- [x] Call the bank"))
    built = cli("build", "--today", "2026-03-27", "--no-git", cwd=vault)
    assert built.returncode == 0, built.stderr
    assert session_page(out, "2026-03-27") is not None
    assert not list(out.glob("clients/bo/sessions/2026-03-20*"))


def test_12_3_a_note_the_coach_wrote_is_published_however_little_it_holds(tmp_path):
    """Only a note `new session` prepared can wait: the coach's own notes are published as before."""
    vault = write_files(tmp_path / "vault", {
        "clients/ada/client.md": PROFILE,
        "clients/ada/sessions/2026-03-02.md": "---\ntitle: Kickoff\n---\n- [ ] Call the bank\n",
        "clients/ada/sessions/2026-03-09.md": "- [ ] Call the bank\n",
        "clients/ada/sessions/2026-03-16.md": "---\ndate: 2026-03-16\n---\n",
    })
    result = site.build(vault, out=tmp_path / "out", today=TODAY, git=False)
    assert [s.date.day for s in result.model.clients[0].sessions] == [2, 9, 16]


def test_12_3_an_empty_heading_is_not_published():
    html, _ = parse(
        "## Review\n\n%% nothing yet %%\n\n## Explored\nText.\n\n### Empty sub\n\n## Parent\n### Child\nMore.\n\n"
        "## Hidden only\n> [!private]\n> mine\n\n## Last\n",
        allow_html=False, take_h1=False)
    assert "Explored" in html and "Parent" in html and "Child" in html
    for gone in ("Review", "Empty sub", "Hidden only", "Last"):
        assert gone not in html
    # a heading followed by a deeper heading with content is kept; by one of its own rank, not
    html, _ = parse("# Top\n## Inner\nx\n", allow_html=False, take_h1=False)
    assert "Top" in html and "Inner" in html
    html, _ = parse("> ## Quoted\n\nAfter.\n", allow_html=False, take_h1=False)
    assert "Quoted" not in html and "After." in html


def test_12_3_an_insight_written_twice_is_shown_once(tmp_path):
    vault = write_files(tmp_path / "vault", {
        "clients/ada/client.md": PROFILE,
        "clients/ada/sessions/2026-03-02.md": "---\ntitle: One\ninsights: [Done beats perfect.]\n---\n"
                                              "> [!insight]\n> done   beats\n> PERFECT.\n",
        "clients/ada/sessions/2026-03-09.md": "---\ntitle: Two\ninsights: [Done beats  perfect., Rest matters.]\n"
                                              "---\nOk.\n",
    })
    result = site.build(vault, out=tmp_path / "out", today=TODAY, git=False)
    client = result.model.clients[0]
    assert client.sessions[0].insights == ("Done beats perfect.",)
    assert [text for text, _ in client.insights] == ["Done beats perfect.", "Rest matters."]
    data = json.loads((tmp_path / "out/clients/ada/data.json").read_text())
    assert [i["text"] for i in data["insights"]] == ["Done beats perfect.", "Rest matters."]
    page = session_page(tmp_path / "out", "2026-03-02")
    aside = page.split('<aside class="outcomes"', 1)[1]
    assert aside.count("<blockquote>") == 1


def test_12_3_task_lines_in_a_body_show_the_action_as_it_stands(tmp_path):
    vault = write_files(tmp_path / "vault", {
        "clients/ada/client.md": PROFILE,
        "clients/ada/sessions/2026-01-05.md": "---\ntitle: One\n---\n- [ ] Send the invoice 📅 2026-01-20\n"
                                              "- [ ] Draft the deck 🆔 deck\n- [ ] Still open 📅 2026-01-07\n",
        "clients/ada/sessions/2026-01-12.md": "---\ntitle: Two\nactions:\n  - id: deck\n    due: 2026-02-01\n"
                                              "    cancelled: 2026-01-12\n---\n- [x] send THE invoice ✅ 2026-01-17\n",
    })
    site.build(vault, out=tmp_path / "out", today=TODAY, git=False)
    page = session_page(tmp_path / "out", "2026-01-05")
    assert "\x00" not in page
    items = re.findall(r'<li class="task task-(\w+)">(.*?)</li>', body_of(page), re.S)
    assert [status for status, _ in items] == ["done", "cancelled", "overdue"]
    invoice, deck, still = (html for _, html in items)
    assert "task-box-done" in invoice and 'aria-label="Done"' in invoice and "Send the invoice" in invoice
    assert "task-box-cancelled" in deck and 'datetime="2026-02-01"' in deck  # its due date as it stands
    assert 'aria-label="Overdue"' in still and 'datetime="2026-01-07"' in still
    # the later note ticks it as written
    later = body_of(session_page(tmp_path / "out", "2026-01-12"))
    assert '<li class="task task-done">' in later


# ---------------------------------------------------------------- 12.4 mistakes told at their line


def test_12_4_a_task_date_not_written_yyyy_mm_dd_is_a_warning_and_leaves_the_text(tmp_path):
    vault = write_files(tmp_path / "vault", {
        "clients/ada/client.md": PROFILE,
        "clients/ada/sessions/2026-03-02.md": "---\ntitle: One\n---\n"
                                              "- [ ] Call the bank 📅 04/12/2026\n"
                                              "- [ ] Book the venue 📅 2026-1-5\n"
                                              "- [x] Send the deck ✅ 5.1.2026\n"
                                              "- [-] Drop the ad ❌ 2026/01/05\n"
                                              "- [ ] Ask for a referral [due:: 12/04/2026]\n"
                                              "- [ ] Real date 📅 2026-04-01\n",
    })
    result = site.build(vault, out=tmp_path / "out", today=TODAY, git=False)
    path = "clients/ada/sessions/2026-03-02.md"
    warned = {p.line: p.message for p in result.problems if p.path == path}
    assert sorted(warned) == [4, 5, 6, 7, 8]
    for line, name in zip((4, 5, 6, 7, 8), ("due", "due", "done", "cancelled", "due"), strict=True):
        assert warned[line] == f"the action's {name} date must be written YYYY-MM-DD; it is left out"
    actions = {a.text: a for a in result.model.clients[0].actions}
    assert sorted(actions) == ["Ask for a referral", "Book the venue", "Call the bank", "Drop the ad", "Real date",
                               "Send the deck"]
    assert actions["Call the bank"].due is None and actions["Real date"].due == dt.date(2026, 4, 1)
    assert actions["Send the deck"].status == "done" and actions["Send the deck"].done == dt.date(2026, 3, 2)


def test_12_4_an_embedded_file_that_is_not_there_is_a_warning_at_its_line(tmp_path):
    vault = write_files(tmp_path / "vault", {
        "clients/ada/client.md": PROFILE,
        "clients/ada/sessions/2026-03-02.md": "---\ntitle: One\n---\nText first.\n\n![[missing-photo.jpg]]\n\n"
                                              "A paragraph\nover lines ![alt](missing.png) here.\n\n"
                                              "![[theirs.png]] ![[here.png]]\n\n"
                                              "> [!note] Callout\n> ![[gone.png|200]]\n",
        "clients/ada/sessions/here.png": b"\x89PNG ours",
        "clients/bo/client.md": "---\nname: Bo\n---\n",
        "clients/bo/theirs.png": b"\x89PNG theirs",
    })
    message = "an embedded file is not found beside the note, in the client's folder or in attachments/"
    expected = [f"clients/ada/sessions/2026-03-02.md:{line}: warning: {message}" for line in (6, 9, 11, 14)]
    # the function the build calls for every client, given the vault's files
    builder = site.Builder(vault, today=TODAY)
    result = builder.build(write=False)
    ada = next(c for c in result.model.clients if c.folder == "ada")
    files = pages.Files.of(builder.listing.files)
    assert [str(p) for p in pages.embed_problems(ada, files)] == expected
    # and the build and `coachgen check` report them
    assert [str(p) for p in result.problems if p.message == message] == expected
    check = cli("check", "--today", "2026-03-20", cwd=vault)
    assert check.returncode == 0 and all(line in check.stderr for line in expected), check.stderr
    assert "missing" not in check.stderr and "theirs" not in check.stderr and "gone" not in check.stderr


def test_12_4_a_misspelt_metric_key_names_the_one_meant(tmp_path):
    vault = write_files(tmp_path / "vault", {
        "clients/ada/client.md": PROFILE,
        "clients/ada/sessions/2026-03-02.md": "---\ntitle: One\nmetrics:\n  wieght_kg: 80\n  mood: 7\n---\n",
    })
    result = site.build(vault, out=tmp_path / "out", today=TODAY, git=False)
    warned = {p.line: p.message for p in result.problems if p.path == "clients/ada/sessions/2026-03-02.md"}
    assert "did you mean 'weight_kg'?" in warned[4]
    assert "did you mean" not in warned[5]  # nothing close: no guess


# ---------------------------------------------------------------- 12.6 where images are found


def test_12_6_the_clients_own_file_comes_before_the_shared_one(tmp_path):
    vault = write_files(tmp_path / "vault", {
        "clients/ada/client.md": PROFILE,
        "clients/ada/sessions/2026-03-02.md": "---\ntitle: One\n---\n![[badge.png]]\n\n![b](badge.png)\n",
        "clients/ada/attachments/badge.png": b"\x89PNG the client's own",
        "attachments/badge.png": b"\x89PNG the shared one",
    })
    site.build(vault, out=tmp_path / "out", today=TODAY, git=False)
    published = [p.read_bytes() for p in (tmp_path / "out/clients/ada/assets/files").iterdir()]
    assert published == [b"\x89PNG the client's own"]
    # beside the note still comes first
    write_files(vault, {"clients/ada/sessions/badge.png": b"\x89PNG beside"})
    site.build(vault, out=tmp_path / "out2", today=TODAY, git=False)
    assert [p.read_bytes() for p in (tmp_path / "out2/clients/ada/assets/files").iterdir()] == [b"\x89PNG beside"]
