"""`coachgen checkins import` (issue 14): a client's sealed update, received by e-mail, becomes
one new note in their folder, and nothing else ever does. Run the way the README runs it: the
real CLI in a subprocess, from inside the vault, with relative paths."""

from __future__ import annotations

import base64
import datetime as dt
import json
import mailbox
import os
import re
import secrets
import subprocess
import sys
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import pytest

from coachgen import checkin
from coachgen.engine import site
from conftest import ROOT, TODAY, write_files

CLIENT_ADA = """
---
name: Ada Lovelace
slug: ada
metrics:
  weight_kg: {label: Weight, unit: kg, target: 75, by: 2026-06-30, direction: down}
  calls: {label: Sales calls, kind: count, target: 100}
  energy: {label: Energy, kind: rating, scale: 10, target: 8}
  meditation: {label: Daily meditation, kind: habit, target: 6/7}
---
"""
SESSION_ADA = """
---
title: Kick-off
metrics: {weight_kg: 82}
---
- [ ] Send the proposal to Bob 📅 2026-03-18
- [ ] Call the bank 🆔 bank
- [x] Book the venue ✅ 2026-03-12
"""
CLIENT_BO = """
---
name: Bo Diddley
slug: bo
metrics:
  weight_kg: {label: Weight, unit: kg}
---
"""
SESSION_BO = """
---
title: First
---
- [ ] Bo's own step
"""
FILES = {
    "coachgen.toml": 'coach = "Helen Marsh"\ncoach_email = "helen@coach.example"\n',
    "clients/ada/client.md": CLIENT_ADA,
    "clients/ada/sessions/2026-03-10.md": SESSION_ADA,
    "clients/bo/client.md": CLIENT_BO,
    "clients/bo/sessions/2026-03-12.md": SESSION_BO,
}
DAY = TODAY.isoformat()
UPDATE_ID = "Q7mLr2xVt9KpZc4NwE8sYa"
PROPOSAL = {"key": "send the proposal to bob", "text": "Send the proposal to Bob", "due": "2026-03-18"}
EXPECTED = f"""---
date: 2026-03-20
source: check-in
checkin: {UPDATE_ID}
metrics:
  weight_kg: 81.2
  meditation: 5/7
---

# Update from Ada

## Done

- [x] Send the proposal to Bob 📅 2026-03-18 ✅ 2026-03-20

## In their own words

> Felt strong this week. Slept 8h\\!
>
> Nervous about Tuesday \\(the pitch\\).
"""


# ---------------------------------------------------------------- helpers


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("COACHGEN_IMAP_PASSWORD", None)
    return subprocess.run([sys.executable, "-m", "coachgen", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=300)


def import_(vault: Path, *files: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return cli("checkins", "import", *files, "--today", DAY, cwd=cwd or vault)


def vault_files(vault: Path) -> dict[str, bytes]:
    """Every file of the vault but coachgen's own state (`.coachgen/`)."""
    return {p.relative_to(vault).as_posix(): p.read_bytes() for p in sorted(vault.rglob("*"))
            if p.is_file() and ".coachgen" not in p.relative_to(vault).parts}


@pytest.fixture
def vault(tmp_path) -> Path:
    """The practice, built once with `coachgen build` (which gives each site its check-in secret)."""
    folder = write_files(tmp_path / "practice", FILES)
    (folder / "inbox").mkdir()
    done = cli("build", "--today", DAY, cwd=folder)
    assert done.returncode == 0, done.stderr
    assert (folder / checkin.SECRETS).is_file()
    return folder


def token(vault: Path, slug: str) -> str:
    return checkin.tokens(vault, [slug], create=False)[slug]


def payload(**changes) -> dict:
    base = {"v": 1, "site": "ada", "id": UPDATE_ID, "date": DAY, "done": [PROPOSAL],
            "values": {"weight_kg": "81.2", "meditation": "5"},
            "note": "Felt strong this week. Slept 8h!\n\nNervous about Tuesday (the pitch)."}
    base.update(changes)
    return base


def body(block: str, note: str = "") -> str:
    """The message the client's page writes, as a person reads it, with the block at the end."""
    return "\n".join(["Hi Helen,", "", "Here is my update (20 March 2026).", "", "Done:",
                      "- Send the proposal to Bob", "", "Numbers:", "- Weight: 81.2 kg",
                      "- Daily meditation: 5 of 7 days", "", "Note:", note or "Felt strong this week.", "",
                      block, "(The block above lets coachgen add this update to your notes. Please send it as it is.)",
                      ""])


def mail(text: str | None, *, html: str | None = None, subject: str = "Check-in from Ada Lovelace, 2026-03-20",
         sender: str = "Ada Lovelace <ada@example.org>", message_id: str | None = None, cte: str = "8bit",
         attachment: tuple[str, str] | None = None) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "Helen Marsh <helen@coach.example>"
    message["Subject"] = subject
    message["Date"] = format_datetime(dt.datetime(2026, 3, 20, 18, 4, tzinfo=dt.timezone.utc))
    message["Message-ID"] = message_id or make_msgid(domain="mail.example.org")
    if text is not None:
        message.set_content(text, cte=cte)
        if html is not None:
            message.add_alternative(html, subtype="html")
    else:
        message.set_content(html or "<p>nothing</p>", subtype="html")
    if attachment is not None:
        name, content = attachment
        message.add_attachment(content, filename=name)
    return bytes(message)


def put(vault: Path, name: str, raw: bytes) -> str:
    (vault / "inbox" / name).write_bytes(raw)
    return f"inbox/{name}"


def sealed(vault: Path, slug: str = "ada", **changes) -> str:
    return checkin.seal(token(vault, slug),
                        payload(site=slug, **changes) if "site" not in changes else payload(**changes))


def assert_skipped(done: subprocess.CompletedProcess, label: str, why: str) -> None:
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if ": warning: " in line]
    assert warnings == [f"{label}: warning: skipped: {why}"] or (
        len(warnings) == 1 and warnings[0].startswith(f"{label}: warning: skipped: {why}")), done.stderr
    assert done.stderr.splitlines()[-1] == "0 check-ins written; 1 skipped", done.stderr


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sealed_parts(block: str) -> tuple[bytes, str]:
    """(the payload's bytes, the MAC's text) of a block."""
    inner = "".join(block.splitlines()[1:-1])
    body_text, mac = inner.split(".")
    return unb64(body_text), mac


def wrap(body_b64: str, mac: str) -> str:
    whole = body_b64 + "." + mac
    return "\n".join([checkin.BEGIN, *[whole[i:i + 64] for i in range(0, len(whole), 64)], checkin.END])


# ---------------------------------------------------------------- a valid update


@pytest.mark.parametrize("form", ["8bit", "quoted-printable", "alternative with HTML"])
def test_a_valid_update_becomes_exactly_one_note_and_never_twice(vault, form):
    block = sealed(vault)
    if form == "alternative with HTML":
        # the HTML part holds another (valid!) block with another weight: it is never read
        other = sealed(vault, values={"weight_kg": "99.9"}, id="HTMLhtmlHTMLhtmlHTML00")
        raw = mail(body(block), html=f"<p>Hi Helen</p><pre>{other}</pre>", message_id="<first@mail.example.org>")
    else:
        raw = mail(body(block), cte="quoted-printable" if form == "quoted-printable" else "8bit",
                   message_id="<first@mail.example.org>")
    if form == "quoted-printable":
        assert b"Content-Transfer-Encoding: quoted-printable" in raw
    before = vault_files(vault)
    label = put(vault, "update.eml", raw)

    done = import_(vault, label)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "1 check-in written: clients/ada/check-ins/2026-03-20.md; 0 skipped"
    after = vault_files(vault)
    assert set(after) - set(before) == {label, "clients/ada/check-ins/2026-03-20.md"}
    assert {k: v for k, v in after.items() if k in before} == before  # nothing else changed
    assert after["clients/ada/check-ins/2026-03-20.md"].decode() == EXPECTED
    seen = json.loads((vault / checkin.SEEN).read_text())
    assert UPDATE_ID in seen["checkins"] and len(seen["messages"]) == 1

    # the same file again: already imported
    settled = vault_files(vault)
    assert_skipped(import_(vault, label), label, "already imported")
    assert vault_files(vault) == settled
    # the same update in another message (a new Message-ID, another subject): still the same update
    again = put(vault, "resent.eml", mail(body(block), subject="Fwd: my update", message_id="<other@mail.example.org>"))
    settled = vault_files(vault)
    assert_skipped(import_(vault, again), again, "already imported")
    assert vault_files(vault) == settled
    # another update in a message that reuses the imported one's Message-ID: a replayed message
    reused = put(vault, "reused.eml", mail(body(sealed(vault, id="AnotherUpdateIdAnother")),
                                          message_id="<first@mail.example.org>"))
    settled = vault_files(vault)
    assert_skipped(import_(vault, reused), reused, "already imported")
    assert vault_files(vault) == settled


def test_the_note_s_headings_are_in_its_client_s_language(vault):
    """Ada's site is German (her client.md says so): the note her update becomes is too."""
    client = vault / "clients/ada/client.md"
    client.write_text(client.read_text(encoding="utf-8").replace("---\n", "---\nlanguage: de\n", 1), encoding="utf-8")
    done = import_(vault, put(vault, "update.eml", mail(body(sealed(vault)))))
    assert done.returncode == 0, done.stderr
    text = (vault / "clients/ada/check-ins/2026-03-20.md").read_text(encoding="utf-8")
    german = EXPECTED.replace("# Update from Ada", "# Update von Ada").replace("## Done", "## Erledigt")
    assert text == german.replace("## In their own words", "## In eigenen Worten")


def test_an_update_already_in_the_vault_is_not_written_again_even_without_the_record(vault):
    label = put(vault, "update.eml", mail(body(sealed(vault))))
    assert import_(vault, label).returncode == 0
    (vault / checkin.SEEN).unlink()  # the record is gone; the note in the vault still says it was imported
    settled = vault_files(vault)
    assert_skipped(import_(vault, label), label, "already imported")
    assert vault_files(vault) == settled


def test_import_works_from_a_folder_inside_the_vault_and_a_taken_name_gets_a_suffix(vault):
    (vault / "clients/ada/check-ins").mkdir()
    mine = b"---\ndate: 2026-03-20\n---\nMy own note, never overwritten.\n"
    (vault / "clients/ada/check-ins/2026-03-20.md").write_bytes(mine)
    (vault / "inbox/update.eml").write_bytes(mail(body(sealed(vault))))
    done = cli("checkins", "import", "update.eml", "--today", DAY, cwd=vault / "inbox")
    assert done.returncode == 0, done.stderr
    assert "1 check-in written: clients/ada/check-ins/2026-03-20-2.md; 0 skipped" in done.stderr
    assert (vault / "clients/ada/check-ins/2026-03-20.md").read_bytes() == mine
    assert (vault / "clients/ada/check-ins/2026-03-20-2.md").read_text() == EXPECTED


def test_values_of_each_kind_are_written_as_their_kind(vault):
    label = put(vault, "update.eml", mail(body(sealed(
        vault, done=[], note="", values={"weight_kg": "81,5", "calls": "12", "energy": "10", "meditation": "7"}))))
    done = import_(vault, label)
    assert done.returncode == 0, done.stderr
    text = (vault / "clients/ada/check-ins/2026-03-20.md").read_text()
    assert "metrics:\n  weight_kg: 81.5\n  calls: 12\n  energy: 10\n  meditation: 7/7\n---\n" in text
    assert "## Done" not in text and "## In their own words" not in text
    assert text.endswith("# Update from Ada\n")


def test_tomorrow_is_accepted_the_day_after_is_not(vault):
    tomorrow = put(vault, "tomorrow.eml", mail(body(sealed(vault, date="2026-03-21"))))
    assert "1 check-in written: clients/ada/check-ins/2026-03-21.md" in import_(vault, tomorrow).stderr
    later = put(vault, "later.eml", mail(body(sealed(vault, date="2026-03-22", id="LaterLaterLaterLater22"))))
    before = vault_files(vault)
    assert_skipped(import_(vault, later), later, "its date is in the future")
    assert vault_files(vault) == before


def test_actions_already_done_and_games_gone_are_left_out_the_rest_is_written(vault):
    venue = {"key": "book the venue", "text": "Book the venue", "due": None}
    bank = {"key": "bank", "text": "Call the bank", "due": None}
    label = put(vault, "update.eml", mail(body(sealed(
        vault, done=[venue, bank], values={"weight_kg": "80", "rowing_km": "5"}, note="")),
        subject="CANARY-SUBJECT"))
    done = import_(vault, label)
    assert done.returncode == 0, done.stderr
    path = "clients/ada/check-ins/2026-03-20.md"
    assert done.stderr.splitlines()[-1] == (f"1 check-in written: {path}; 1 ticked action already done or cancelled "
                                            "in the vault, not written again; 0 skipped")
    assert f"{label}: warning: a value for a game this client no longer has was left out (in {path})" in done.stderr
    assert "rowing" not in done.stderr
    text = (vault / path).read_text()
    assert "metrics:\n  weight_kg: 80\n---" in text
    assert "## Done\n\n- [x] Call the bank 🆔 bank ✅ 2026-03-20\n" in text and "venue" not in text


def test_an_update_with_nothing_in_it_is_skipped(vault):
    label = put(vault, "empty.eml", mail(body(sealed(vault, done=[], values={}, note="  \n "))))
    before = vault_files(vault)
    assert_skipped(import_(vault, label), label, "it holds nothing to write")
    assert vault_files(vault) == before


# ---------------------------------------------------------------- refused: nothing written


def forged(vault):
    return mail(body(checkin.seal(b64(secrets.token_bytes(32)), payload())))


def edited_value_old_mac(vault):
    payload_bytes, mac = sealed_parts(sealed(vault))
    edited = json.loads(payload_bytes)
    edited["values"]["weight_kg"] = "71.2"
    return mail(body(wrap(b64(json.dumps(edited, ensure_ascii=False, separators=(",", ":")).encode()), mac)))


def one_character_changed(vault):
    lines = sealed(vault).splitlines()
    first = lines[1]
    lines[1] = first[:30] + ("A" if first[30] != "A" else "B") + first[31:]
    return mail(body("\n".join(lines)))


def sealed_for_a_naming_b(vault):
    payload_bytes, mac = sealed_parts(sealed(vault))
    edited = json.loads(payload_bytes)
    edited["site"] = "bo"
    return mail(body(wrap(b64(json.dumps(edited, ensure_ascii=False, separators=(",", ":")).encode()), mac)))


def b_token_naming_a(vault):
    return mail(body(checkin.seal(token(vault, "bo"), payload(site="ada"))))


def oversize(vault):
    return mail(body(sealed(vault), note="Felt strong. " + "padding " * 40_000))


def no_block(vault):
    return mail("Hi Helen, just a quick note: all good this week!\n")


def html_only(vault):
    return mail(None, html=f"<p>Hi</p><pre>{sealed(vault)}</pre>")


def block_only_in_an_attachment(vault):
    return mail("Hi Helen, see the attached file.\n", attachment=("check-in.txt", sealed(vault)))


def far_future(vault):
    return mail(body(sealed(vault, date="2999-01-01")))


def unknown_site(vault):
    return mail(body(checkin.seal(token(vault, "ada"), payload(site="CANARY-SITE"))))


def two_blocks(vault):
    return mail(body(sealed(vault) + "\n\n" + sealed(vault, id="SecondSecondSecond0002")))


REFUSED = {
    "forged token": (forged, "its seal does not match"),
    "edited value, old MAC": (edited_value_old_mac, "its seal does not match"),
    "one character of the payload changed": (one_character_changed, "its "),
    "sealed for ada, edited to name bo": (sealed_for_a_naming_b, "its seal does not match"),
    "bo's token naming ada": (b_token_naming_a, "its seal does not match"),
    "oversize": (oversize, "it is larger than 256 KB"),
    "no block": (no_block, "it holds no check-in block"),
    "HTML only": (html_only, "it has no plain text to read"),
    "block only in an attachment": (block_only_in_an_attachment, "it holds no check-in block"),
    "far future": (far_future, "its date is in the future"),
    "a site this vault does not have": (unknown_site, "it names no client of this vault"),
    "two blocks": (two_blocks, "it holds more than one check-in block"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_message_that_is_not_a_valid_checkin_writes_nothing(vault, case):
    make, why = REFUSED[case]
    raw = make(vault)
    if case == "oversize":
        assert len(raw) > checkin.MAX_MESSAGE
    label = put(vault, "message.eml", raw)
    before = vault_files(vault)
    done = import_(vault, label)
    assert_skipped(done, label, why)
    assert vault_files(vault) == before
    assert not (vault / checkin.SEEN).exists()
    assert "CANARY" not in done.stdout + done.stderr


BAD_VALUES = [("weight_kg", v) for v in ("abc", "8O.2", "1e5", "nan", "inf", "1,000,5", "")] \
    + [("calls", v) for v in ("-1", "2.5", "ten", "1e3")] \
    + [("energy", v) for v in ("0", "11", "7.5", "-3")] \
    + [("meditation", v) for v in ("8", "-1", "5/8", "0.5", "true")]


@pytest.mark.parametrize("key,value", BAD_VALUES)
def test_a_value_not_of_its_kind_refuses_the_whole_message(vault, key, value):
    values = {"weight_kg": "81.2", key: value}
    label = put(vault, "message.eml", mail(body(sealed(vault, values=values))))
    before = vault_files(vault)
    done = import_(vault, label)
    assert_skipped(done, label, "it has a ")
    assert vault_files(vault) == before


def test_warnings_never_quote_the_message(vault):
    canaries = dict(
        note="CANARY-NOTE is what I wrote", subject="CANARY-SUBJECT", sender="CANARY-FROM <canary-from@example.org>")
    cases = {
        "value.eml": mail(body(sealed(vault, values={"weight_kg": "CANARY-VALUE"}, note=canaries["note"])),
                          subject=canaries["subject"], sender=canaries["sender"]),
        "forged.eml": mail(body(checkin.seal(b64(secrets.token_bytes(32)), payload(note=canaries["note"]))),
                           subject=canaries["subject"], sender=canaries["sender"]),
        "site.eml": mail(body(checkin.seal(token(vault, "ada"), payload(site="CANARY-SITE"))),
                         subject=canaries["subject"]),
        "rating.eml": mail(body(sealed(vault, values={"energy": "CANARY-RATING"}))),
        "habit.eml": mail(body(sealed(vault, values={"meditation": "99999"}))),
        # written, with warnings: a game that is gone, an action ticked that is gone
        "written.eml": mail(body(sealed(vault, id="WrittenWrittenWritten1", values={"CANARY_KEY": "1"},
                                        done=[{"key": "CANARY-KEY", "text": "CANARY-ACTION", "due": None}],
                                        note=canaries["note"])),
                              subject=canaries["subject"], sender=canaries["sender"]),
    }
    labels = [put(vault, name, raw) for name, raw in cases.items()]
    done = import_(vault, *labels)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count(": warning: skipped: ") == 5
    assert "warning: an action it ticks is no longer in the vault; written by its text" in done.stderr
    assert "CANARY" not in done.stdout + done.stderr and "canary" not in done.stdout + done.stderr
    assert "99999" not in done.stderr


def test_a_message_changes_only_the_client_whose_token_sealed_it(vault):
    """Bo's page sealing an update that ticks Ada's action and names Ada's games: it lands in
    Bo's folder, and Ada's action stays open."""
    update = checkin.seal(token(vault, "bo"), payload(
        site="bo", id="BoBoBoBoBoBoBoBoBoBoBo",
        done=[PROPOSAL, {"key": "bank", "text": "Call the bank 🆔 bank 📅 2026-01-01"}],
        values={"weight_kg": "90", "meditation": "5"}, note="From Bo"))
    label = put(vault, "bo.eml", mail(body(update), sender="Bo <bo@example.org>"))
    before = vault_files(vault)
    done = import_(vault, label)
    assert done.returncode == 0, done.stderr
    assert "1 check-in written: clients/bo/check-ins/2026-03-20.md; 0 skipped" in done.stderr
    new = set(vault_files(vault)) - set(before)
    assert new == {"clients/bo/check-ins/2026-03-20.md"}
    text = (vault / "clients/bo/check-ins/2026-03-20.md").read_text()
    assert text.startswith("---\ndate: 2026-03-20\nsource: check-in\ncheckin: BoBoBoBoBoBoBoBoBoBoBo\n"
                           "metrics:\n  weight_kg: 90\n---\n")
    assert "# Update from Bo\n" in text
    # Ada's keys are not Bo's actions: written by their text (signifiers gone, escaped), in Bo's note only
    assert ("- [x] Send the proposal to Bob ✅ 2026-03-20\n"
            "- [x] Call the bank bank 2026\\-01\\-01 ✅ 2026-03-20\n") in text
    assert "🆔" not in text and "📅" not in text
    assert done.stderr.count("an action it ticks is no longer in the vault; written by its text") == 2
    assert done.stderr.count("a value for a game this client no longer has was left out") == 1

    result = site.build(vault, today=TODAY, write=False, git=False)
    ada = next(c for c in result.model.clients if c.slug == "ada")
    assert {a.text: a.status for a in ada.actions}["Send the proposal to Bob"] == "overdue"
    assert {a.text: a.status for a in ada.actions}["Call the bank"] == "open"
    assert [p.value for p in next(m for m in ada.metrics if m.spec.key == "weight_kg").points] == [82]


def test_the_clients_words_can_become_nothing_but_text(vault):
    note = "\n".join([
        "![[secret]] and [[link]] and [x](javascript:alert(1)) and <https://evil.example>",
        "- [ ] task 📅 2026-03-25",
        "#tag #another/tag",
        "%%hidden%% and <!-- hidden too -->",
        "<script>alert('CANARY')</script><img src=x onerror=alert(1)>",
        "key:: value and [due:: 2026-04-01]",
        "# A heading",
        "[!private] callout",
        "1. a list",
        "==mark== *emph* `code` ~~strike~~ ^block",
        "bidi\u202eevil\u202c, bell\x07, nul\x00 end",
        "\ttabbed    ",
        "> quoted",
    ])
    label = put(vault, "update.eml", mail(body(sealed(vault, done=[], values={}, note=note))))
    done = import_(vault, label)
    assert done.returncode == 0, done.stderr
    text = (vault / "clients/ada/check-ins/2026-03-20.md").read_text()
    words = text.split("## In their own words\n\n", 1)[1]
    assert all(line == ">" or line.startswith("> ") for line in words.splitlines())
    assert "\u202e" not in text and "\x07" not in text and "\x00" not in text and "\t" not in text
    assert "> \\!\\[\\[secret\\]\\]" in words and "> \\- \\[ \\] task" in words and "\\%\\%hidden\\%\\%" in words

    built = cli("build", "--today", DAY, cwd=vault)
    assert built.returncode == 0, built.stderr
    page = (vault / "_site/clients/ada/check-ins/2026-03-20/index.html").read_text()
    quote = re.search(r"<blockquote>(.*?)</blockquote>", page, re.DOTALL).group(1)
    for literal in ("![[secret]]", "[[link]]", "- [ ] task 📅 2026-03-25", "#tag #another/tag", "%%hidden%%",
                    "&lt;!-- hidden too --&gt;", "&lt;script&gt;alert(", "key:: value", "[due:: 2026-04-01]",
                    "# A heading", "[!private] callout", "1. a list", "==mark== *emph* `code` ~~strike~~ ^block",
                    "&lt;https://evil.example&gt;", "> quoted"):
        assert literal in quote.replace("&#x27;", "'").replace("&gt; quoted", "> quoted"), literal
    for tag in ("<script", "<img", "<a ", "<input", "<h1", "<h2", "<mark", "<em", "<code", "<del", "<ol", "<ul",
                "<li", "class=\"tag", "class=\"callout", "\x00"):
        assert tag not in quote, tag
    assert "<script>alert" not in page
    data = json.loads((vault / "_site/clients/ada/data.json").read_text())
    assert not [a for a in data["actions"] if "task" in a["text"]]
    assert "secret" not in json.dumps(data)


# ---------------------------------------------------------------- an mbox, a Maildir


def three_messages(vault) -> list[bytes]:
    return [
        mail(body(sealed(vault, id="FirstFirstFirstFirst01", done=[], note="First"))),
        mail(body(checkin.seal(b64(secrets.token_bytes(32)), payload(id="ForgedForgedForged0002")))),
        mail(body(sealed(vault, id="ThirdThirdThirdThird03", done=[PROPOSAL], values={}, note="Third"))),
    ]


def test_an_mbox_of_three_messages_one_bad(vault):
    box = mailbox.mbox(vault / "inbox" / "received.mbox")
    for raw in three_messages(vault):
        box.add(raw)
    box.flush()
    box.close()
    assert (vault / "inbox/received.mbox").read_bytes().startswith(b"From ")
    done = import_(vault, "inbox/received.mbox")
    assert done.returncode == 0, done.stderr
    assert "inbox/received.mbox#2: warning: skipped: its seal does not match" in done.stderr
    assert done.stderr.splitlines()[-1] == ("2 check-ins written: clients/ada/check-ins/2026-03-20.md, "
                                            "clients/ada/check-ins/2026-03-20-2.md; 1 skipped")
    assert "checkin: FirstFirstFirstFirst01" in (vault / "clients/ada/check-ins/2026-03-20.md").read_text()
    assert "checkin: ThirdThirdThirdThird03" in (vault / "clients/ada/check-ins/2026-03-20-2.md").read_text()


def test_a_maildir_of_three_messages_one_bad(vault):
    box = mailbox.Maildir(vault / "inbox" / "Maildir", create=True)
    names = []
    for n, raw in enumerate(three_messages(vault)):
        msg = mailbox.MaildirMessage(raw)
        if n == 2:
            msg.set_subdir("cur")
            msg.add_flag("S")  # read in the coach's mail program: still imported
        names.append(box.add(msg))
    box.close()
    assert sorted(names) == names  # the order they arrived in is the order they are numbered in
    done = import_(vault, "inbox/Maildir")
    assert done.returncode == 0, done.stderr
    assert "inbox/Maildir#2: warning: skipped: its seal does not match" in done.stderr
    assert done.stderr.splitlines()[-1].startswith("2 check-ins written: ")
    assert done.stderr.splitlines()[-1].endswith("; 1 skipped")
    assert len(list((vault / "clients/ada/check-ins").glob("*.md"))) == 2


def test_an_unreadable_file_is_an_error_and_the_others_are_still_read(vault):
    label = put(vault, "update.eml", mail(body(sealed(vault))))
    done = import_(vault, "inbox/missing.eml", label)
    assert done.returncode == 1
    assert "inbox/missing.eml: error: cannot read it: No such file or directory" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1] == "1 check-in written: clients/ada/check-ins/2026-03-20.md; 0 skipped"
    folder = vault / "inbox" / "folder"
    folder.mkdir()
    done = import_(vault, "inbox/folder")
    assert done.returncode == 1 and "inbox/folder: error: is a folder but no Maildir" in done.stderr


# ---------------------------------------------------------------- on the client's site


def test_after_import_and_build_the_action_is_done_and_the_value_is_charted(vault):
    label = put(vault, "update.eml", mail(body(sealed(vault))))
    assert import_(vault, label).returncode == 0
    built = cli("build", "--today", DAY, cwd=vault)
    assert built.returncode == 0, built.stderr
    assert ": error:" not in built.stderr and "check-ins/2026-03-20.md" not in built.stderr
    data = json.loads((vault / "_site/clients/ada/data.json").read_text())
    proposal = next(a for a in data["actions"] if a["text"] == "Send the proposal to Bob")
    assert proposal["status"] == "done" and proposal["done"] == DAY
    weight = next(m for m in data["metrics"] if m["key"] == "weight_kg")
    assert [(p["date"], p["value"]) for p in weight["points"]] == [("2026-03-10", 82), (DAY, 81.2)]
    habit = next(m for m in data["metrics"] if m["key"] == "meditation")
    assert [round(p["value"], 4) for p in habit["points"]] == [round(5 / 7, 4)]
    actions_page = (vault / "_site/clients/ada/actions/index.html").read_text()
    done_section = actions_page.split('id="h-done"', 1)[1].split("</section>", 1)[0]
    assert "Send the proposal to Bob" in done_section
