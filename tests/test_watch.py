"""watch.py and the incremental Builder: real editors' save patterns on real files, with a
real watchdog observer; and the property that incremental output equals a clean build."""

from __future__ import annotations

import datetime as dt
import os
import pickle
import shutil
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coachgen.dev import watch
from coachgen.engine import output, site, unchanged
from conftest import TODAY, all_output, write_files

BASE = {
    "clients/ada/client.md": "---\nname: Ada\nmetrics:\n"
                             "  w: {label: Weight, unit: kg, target: 70, by: 2026-06-01, direction: down}\n---\n",
    "clients/ada/s/2026-01-05 Start.md": "---\nmetrics:\n  w: 80\n---\nFirst. [[2026-01-12 Next]]\n\n"
                                         "- [ ] Call the bank 📅 2026-04-01\n",
    # a link by title and a task the other note set: each shows what another note says
    "clients/ada/s/2026-01-12 Next.md": "---\nmetrics:\n  w: 79\n---\nSecond. Back to [[Start]].\n\n"
                                        "- [ ] Book a trip\n- [ ] Call the bank 📅 2026-04-01\n",
    "clients/bob/client.md": "---\nname: Bob\n---\n",
    "clients/bob/2026-01-06 Hello.md": "Bob's first.\n\n- [ ] Bob's task\n",
}


def clean(vault: Path, tmp: Path) -> dict[str, bytes]:
    out = tmp / f"clean-{time.monotonic_ns()}"
    site.Builder(vault, out=out, today=TODAY).build()
    files = all_output(out)
    shutil.rmtree(out)
    return files


# ---------------------------------------------------------------- the property

EDITS = st.lists(
    st.sampled_from(["add", "front-matter", "tick", "rename", "move", "delete", "private", "template", "attachment",
                     "body", "refer"]),
    min_size=1, max_size=6,
)


def apply(edit: str, vault: Path, step: int) -> set[str]:
    """Make one edit as a coach would; return the paths it touched."""
    notes = sorted(p.relative_to(vault).as_posix() for p in vault.rglob("*.md")
                   if p.name != "client.md" and ".coachgen" not in p.parts and "_site" not in p.parts
                   and "templates" not in p.parts)
    pick = notes[step % len(notes)] if notes else None
    if edit == "add" or pick is None:
        rel = f"clients/{'ada' if step % 2 else 'bob'}/s/2026-02-{step % 27 + 1:02d} Added {step}.md"
        write_files(vault, {rel: f"---\nmetrics:\n  w: {70 + step}\n---\nAdded {step}.\n\n- [ ] Task {step}\n"})
        return {rel}
    path = vault / pick
    text = path.read_text()
    if edit == "refer":  # a note that names its client: from outside the clients' folders, or the wrong one
        if step % 2:
            rel = f"journal/2026-02-{step % 27 + 1:02d} Noted {step}.md"
            write_files(vault, {rel: f"---\nclient: {'Ada' if step % 4 == 1 else 'Bob'}\n---\nNoted {step}.\n"})
            return {rel}
        body = text.split("---", 2)[-1] if text.startswith("---") else text
        path.write_text(f"---\nclient: {'Bob' if pick.startswith('clients/ada') else 'Ada'}\n---\n{body}")
    elif edit == "front-matter":
        path.write_text(text.replace("---\n", f"---\ntitle: Retitled {step}\n", 1) if text.startswith("---\n")
                        else f"---\ntitle: Retitled {step}\n---\n{text}")
    elif edit == "tick":
        path.write_text(text.replace("- [ ]", "- [x]", 1) if "- [ ]" in text else text.replace("- [x]", "- [ ]", 1))
    elif edit == "body":
        path.write_text(text + f"\nMore words {step}.\n")
    elif edit == "private":
        path.write_text(f"---\nprivate: true\n---\n{text.split('---', 2)[-1] if text.startswith('---') else text}")
    elif edit == "delete":
        path.unlink()
    elif edit in ("rename", "move"):
        if edit == "move":
            folder = "clients/bob/" if pick.startswith("clients/ada") else "clients/ada/s/"
        else:
            folder = str(Path(pick).parent) + "/"
        new = f"{folder}2026-03-{step % 27 + 1:02d} Moved {step}.md"
        (vault / new).parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, vault / new)
        return {pick, new}
    elif edit == "template":
        write_files(vault, {"templates/_macros.html": "", "templates/session.html":
                            '{% extends "base.html" %}{% block main %}<article>Custom ' + str(step)
                            + " {{ body|safe }}</article>{% endblock %}\n"})
        return {"templates/session.html"}
    elif edit == "attachment":
        write_files(vault, {"clients/ada/pic.png": b"\x89PNG\r\n\x1a\n" + bytes([step % 256]) * 10})
        target = vault / notes[0]
        target.write_text(target.read_text() + "\n![[pic.png]]\n")
        return {"clients/ada/pic.png", notes[0]}
    return {pick}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=EDITS, mode=st.sampled_from(["watch, told what changed", "watch, scanning", "build, a process each"]))
def test_incremental_output_equals_a_clean_build(tmp_path_factory, edits, mode):
    """A watcher's Builder (told the changed paths, or scanning), or `coachgen build` run
    again and again (its record where nothing changed, else a new Builder with only the
    cache under `.coachgen/`)."""
    tmp = tmp_path_factory.mktemp("prop")
    vault = write_files(tmp / "vault", BASE)
    out = tmp / "out"
    hints = mode == "watch, told what changed"
    processes = mode == "build, a process each"
    builder = site.Builder(vault, out=out, today=TODAY, disk_cache=processes)

    def build(changed: set[str]):
        nonlocal builder
        if processes:  # `coachgen build`: nothing changed is answered from its record, else a new Builder
            return unchanged.build(vault, out=out, today=TODAY, git=False)
        return builder.build(changed=changed if hints else None)

    build(set())
    for step, edit in enumerate(edits):
        touched = apply(edit, vault, step)
        build(touched)
        assert all_output(out) == clean(vault, tmp), f"after {edits[:step + 1]}"
    again = build(set())
    assert again.written == [] and again.removed == []
    # one client's edit writes nothing under another client's folder
    bob = vault / "clients/bob/client.md"
    bob.write_text(bob.read_text().replace("Bob", "Robert"))
    written = build({"clients/bob/client.md"}).written
    assert written and all(not p.startswith("clients/ada/") for p in written)


# ---------------------------------------------------------------- the property, for settings

SETTINGS = st.lists(
    st.sampled_from(["client-name", "client-slug", "client-language", "client-metric", "client-goals",
                     "client-next-session", "client-engagement", "client-password-none", "client-email",
                     "toml", "secrets", "environment", "today"]),
    min_size=1, max_size=5,
)
CLIENT_FIELDS = {
    "client-name": lambda step: f"name: Ada {step}",
    "client-slug": lambda step: f"slug: ada-{step % 3}" if step % 2 else "",
    "client-language": lambda step: "language: " + ("de", "fr", "en")[step % 3],
    "client-metric": lambda step: (f"metrics:\n  w: {{label: Weight {step}, unit: kg, target: {60 + step}, "
                                   "by: 2026-06-01}}"),
    "client-goals": lambda step: f"goals:\n  - Goal {step}",
    "client-next-session": lambda step: f"next_session: 2026-0{2 + step % 3}-10 09:30",
    "client-engagement": lambda step: f"engagement: {{sessions: {4 + step}, from: 2026-01-01}}",
    "client-password-none": lambda step: "password: none",
    "client-email": lambda step: f"email: ada{step}@example.org",
}
TOML_LINES = ['title = "Practice {step}"', 'coach = "Helen {step}"', 'base_url = "https://example.org/{step}/"',
              "allow_html = true", "nudge_after_days = {step}", 'passwords = "required"',
              'coach_email = "h{step}@example.org"',
              'language = "nl"', 'timezone = "Pacific/Auckland"', 'overview_password = "none"']


def apply_setting(edit: str, vault: Path, step: int, state: dict) -> set[str]:
    """Change a client.md field, the settings, a password (file or environment) or the day;
    return the paths a watcher would see change."""
    if edit in CLIENT_FIELDS:
        fields = state.setdefault("ada", {"name": "name: Ada"})
        key = edit.removeprefix("client-")
        fields[key] = "" if fields.get(key) == CLIENT_FIELDS[edit](step) else CLIENT_FIELDS[edit](step)
        text = "---\n" + "".join(line + "\n" for line in fields.values() if line) + "---\nPrivate notes.\n"
        write_files(vault, {"clients/ada/client.md": text}, passwords_optional=False)
        return {"clients/ada/client.md"}
    if edit == "toml":
        chosen = [line.format(step=step) for i, line in enumerate(TOML_LINES) if (step + i) % 3 == 0]
        write_files(vault, {"coachgen.toml": "passwords = \"optional\"\n" * ("passwords" not in " ".join(chosen))
                            + "".join(line + "\n" for line in chosen)}, passwords_optional=False)
        return {"coachgen.toml"}
    if edit == "secrets":
        secrets = vault / ".coachgen/secrets.toml"
        if secrets.exists() and step % 2:
            secrets.unlink()
        else:
            holder = ("ada", "coach", "bob")[step % 3]
            write_files(vault, {".coachgen/secrets.toml": f'[passwords]\n{holder} = "a long secret {step}"\n'},
                        passwords_optional=False)
        return {".coachgen/secrets.toml"}
    if edit == "environment":
        if os.environ.pop("COACHGEN_PASSWORD_BOB", None) is None:
            os.environ["COACHGEN_PASSWORD_BOB"] = f"bob's own passphrase {step}"
        return set()
    state["today"] = state.get("today", TODAY) + dt.timedelta(days=1 + step * 9)
    return set()


def with_history(vault: Path, out: Path, copy: Path) -> Path:
    """A copy of the output as it stands, with its record of addresses and of what it holds
    but none of the record's page keys: a build into it renders every page afresh, and knows
    what a clean build of this output knows (which sites it held encrypted, which addresses
    it published)."""
    def state(folder: Path, suffix: str) -> Path:
        return vault / ".coachgen/outputs" / f"{output.output_key(folder)}{suffix}"

    if out.exists():
        shutil.copytree(out, copy)
    if state(out, ".addresses.json").exists():
        shutil.copy(state(out, ".addresses.json"), state(copy, ".addresses.json"))
    manifest, copied = output.manifest_folder(vault, out), output.manifest_folder(vault, copy)
    if manifest.is_dir():
        copied.mkdir()
        for shard in manifest.glob("*.pickle"):
            known = pickle.loads(shard.read_bytes())
            (copied / shard.name).write_bytes(pickle.dumps({rel: entry[:1] + ["(not trusted)"] * len(entry[1:])
                                                            for rel, entry in known.items()}))
    return copy


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=SETTINGS, mode=st.sampled_from(["watch, told what changed", "watch, scanning", "build, a process each"]))
def test_incremental_output_equals_a_clean_build_after_settings_change(tmp_path_factory, edits, mode):
    """The same property for what is not a session note: a client.md field, coachgen.toml,
    a password in secrets.toml or the environment, and the day the site is built on. A
    watcher is told the file it saw change; the environment and the day it must notice."""
    tmp = tmp_path_factory.mktemp("prop-settings")
    vault = write_files(tmp / "vault", BASE)
    out = tmp / "out"
    hints = mode == "watch, told what changed"
    processes = mode == "build, a process each"
    state: dict = {}
    builder = site.Builder(vault, out=out, today=TODAY, disk_cache=processes)

    def build(changed: set[str]):
        nonlocal builder
        if processes:
            return unchanged.build(vault, out=out, today=state.get("today", TODAY), git=False)
        builder.today = state.get("today", TODAY)
        return builder.build(changed=changed if hints else None)

    os.environ.pop("COACHGEN_PASSWORD_BOB", None)
    try:
        build(set())
        for step, edit in enumerate(edits):
            touched = apply_setting(edit, vault, step, state)
            expected = with_history(vault, out, tmp / f"clean-{step}")
            build(touched)
            site.Builder(vault, out=expected, today=state.get("today", TODAY)).build()
            assert all_output(out) == all_output(expected), f"{mode}: after {edits[:step + 1]}"
            shutil.rmtree(expected, ignore_errors=True)
    finally:
        os.environ.pop("COACHGEN_PASSWORD_BOB", None)


def test_a_page_gone_from_the_output_is_made_again(tmp_path):
    """The next build trusts its record of unchanged clients only while the output holds it."""
    vault = write_files(tmp_path / "vault", BASE)
    out = tmp_path / "out"
    site.build(vault, out=out, today=TODAY, git=False)
    before = all_output(out)
    gone = out / "clients/ada/index.html"
    gone.unlink()
    result = site.build(vault, out=out, today=TODAY, git=False)
    assert result.written == ["clients/ada/index.html"]
    assert all_output(out) == before
    # a watcher that started from the record keeps it in memory; a page deleted later is made again too
    watcher = site.Builder(vault, out=out, today=TODAY, disk_cache=True)
    assert watcher.build().written == []
    gone.unlink()
    assert watcher.build().written == ["clients/ada/index.html"]
    assert all_output(out) == before


@pytest.mark.parametrize("processes", [False, True])
def test_a_file_embedded_from_outside_the_client_s_folder_and_attachments_is_copied_again_when_it_changes(
        tmp_path, processes):
    """A note may embed any file of the vault but another client's (here by a path from the
    note): its stamp is among the inputs of the client's pages, wherever the file is."""
    vault = write_files(tmp_path / "vault", {**BASE, "images/pic.png": b"\x89PNG\r\n\x1a\n" + b"1" * 10})
    note = vault / "clients/ada/s/2026-01-12 Next.md"
    note.write_text(note.read_text() + "\n![chart](../../../images/pic.png)\n")
    out = tmp_path / "out"
    watcher = site.Builder(vault, out=out, today=TODAY, disk_cache=True)
    watcher.build()
    assert any(p.suffix == ".png" for p in (out / "clients/ada").rglob("*"))
    (vault / "images/pic.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"2" * 12)
    if processes:
        site.Builder(vault, out=out, today=TODAY, disk_cache=True).build()
    else:
        watcher.build(changed={"images/pic.png"})
    assert all_output(out) == clean(vault, tmp_path)


def test_a_watcher_started_from_the_disk_readies_each_client_and_stays_like_a_clean_build(tmp_path):
    """A watcher whose first build keeps the plans `coachgen build` recorded plans each client
    again while idle (`warm`), so that its first save costs what the next does; what it
    keeps in memory so must never make a page differ from a clean build's."""
    vault = write_files(tmp_path / "vault", BASE)
    out = tmp_path / "out"
    site.Builder(vault, out=out, today=TODAY, disk_cache=True).build()
    watcher = site.Builder(vault, out=out, today=TODAY, disk_cache=True, keep_last_good=True)
    assert watcher.build().written == []
    assert set(watcher.cold) == {"ada", "bob"}
    while watcher.warm():
        pass
    assert not watcher.cold and set(watcher.bodies) == {"ada", "bob"} and not watcher.unread
    for step, edit in enumerate(["body", "front-matter", "tick", "rename", "attachment", "body"]):
        watcher.build(changed=apply(edit, vault, step))
        assert all_output(out) == clean(vault, tmp_path), edit


def test_a_new_process_reads_the_notes_of_only_the_client_it_makes_again(tmp_path):
    """The cache's index gives each note by its head; a build after one edit reads whole only
    the notes of the client it makes again, and its pages are a clean build's."""
    vault = write_files(tmp_path / "vault", BASE)
    out = tmp_path / "out"
    site.Builder(vault, out=out, today=TODAY, disk_cache=True).build()
    note = vault / "clients/ada/s/2026-01-12 Next.md"
    note.write_text(note.read_text().replace("Second.", "Second, edited."))
    builder = site.Builder(vault, out=out, today=TODAY, disk_cache=True)
    assert builder.unread == {"clients/ada", "clients/bob"}
    assert builder.build().written
    assert builder.unread == {"clients/bob"}
    # Bob's model was not read past his name either: his sessions, actions and games wait
    # unpickled, and his plan, embed warnings and overview row came from the cache
    bob = next(client for client, _ in builder.memo.values() if client.slug == "bob")
    assert "_rest" in vars(bob) and "sessions" not in vars(bob)
    assert all_output(out) == clean(vault, tmp_path)
    assert bob.sessions and "_rest" not in vars(bob)  # read on first use


def test_a_shard_whose_notes_file_is_lost_or_not_its_own_is_parsed_again(tmp_path):
    """An index is used only with the notes file it was saved with: else that folder's notes
    are parsed again, never made from their heads."""
    vault = write_files(tmp_path / "vault", BASE)
    out = tmp_path / "out"
    site.Builder(vault, out=out, today=TODAY, disk_cache=True).build()
    cache = vault / site.CACHE
    ada, bob = site._notes_file(cache, "clients/ada"), site._notes_file(cache, "clients/bob")
    ada.unlink()
    bob.write_bytes(pickle.dumps((site.coachgen.code_digest(), "another token")))
    for name in ("2026-01-05 Start", "2026-01-12 Next"):
        note = vault / f"clients/ada/s/{name}.md"
        note.write_text(note.read_text().replace("First.", "First, edited."))
    (vault / "clients/bob/2026-01-06 Hello.md").write_text("Bob's first, edited.\n")
    builder = site.Builder(vault, out=out, today=TODAY, disk_cache=True)
    assert builder.unread == set()
    builder.build()
    assert all_output(out) == clean(vault, tmp_path)


def test_a_client_read_back_stays_as_it_was_when_a_later_build_replaces_the_cache(tmp_path):
    """An index's clients are mapped from the file, not read: a build in another process that
    replaces that file meanwhile changes nothing of them. A cut-short index is not used."""
    vault = write_files(tmp_path / "vault", BASE)
    out = tmp_path / "out"
    site.Builder(vault, out=out, today=TODAY, disk_cache=True).build()
    reader = site.Builder(vault, out=out, today=TODAY, disk_cache=True)
    ada = next(client for client, _ in reader.memo.values() if client.slug == "ada")
    assert "_rest" in vars(ada)
    note = vault / "clients/ada/s/2026-01-05 Start.md"
    note.write_text(note.read_text().replace("First.", "First, edited.") + "\n- [ ] A new task\n")
    site.Builder(vault, out=out, today=TODAY, disk_cache=True).build()  # replaces Ada's index
    assert "A new task" not in {action.text for action in ada.actions}
    reader.build()  # and a build from the reader sees the edit, as the other build did
    assert all_output(out) == clean(vault, tmp_path)
    index = site._index_file(vault / site.CACHE, "clients/ada")
    index.write_bytes(index.read_bytes()[:300])
    assert site.Builder(vault, out=out, today=TODAY, disk_cache=True).unread == {"clients/bob"}


def test_a_watcher_started_from_the_disk_keeps_the_whole_last_good_version_of_a_broken_save(tmp_path):
    vault = write_files(tmp_path / "vault", BASE)
    out = tmp_path / "out"
    site.Builder(vault, out=out, today=TODAY, disk_cache=True).build()
    page = out / "clients/ada/sessions/2026-01-05/index.html"
    good = page.read_bytes()
    assert b"First." in good
    watcher = site.Builder(vault, out=out, today=TODAY, disk_cache=True, keep_last_good=True)
    watcher.build()
    (vault / NOTE).write_text("---\ntitle: [broken\n---\nBROKEN")
    (vault / "clients/ada/s/2026-01-12 Next.md").write_text("Second, edited.\n")
    result = watcher.build(changed={NOTE, "clients/ada/s/2026-01-12 Next.md"})
    assert any(p.path == NOTE and p.level == "error" for p in result.problems)
    assert page.read_bytes() == good


# ---------------------------------------------------------------- real editors, real events


class Watching:
    """A Builder driven by a real watchdog observer in a thread, as `coachgen watch` runs it."""

    def __init__(self, vault: Path, out: Path, poll: bool = False):
        self.vault, self.out = vault, out
        self.builder = site.Builder(vault, out=out, today=TODAY, keep_last_good=True)
        self.builder.build()
        self.batches = watch.Batches(vault, out)
        self.results, self.failures = [], []
        self.observer = watch.observe(vault, self.batches, poll, self.failures.append)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=watch.run,
                                       args=(self.builder, self.batches, self.on_build, self.stop, 3600))
        self.thread.start()

    def on_build(self, result, changed, exc):
        if exc is not None:
            self.failures.append(exc)
        else:
            self.results.append((result, changed))

    def settle(self, quiet: float = 0.6, timeout: float = 15.0) -> None:
        """Wait until no event is pending and no build has ended for `quiet` seconds."""
        deadline = time.monotonic() + timeout
        count, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            with self.batches.cond:
                busy = bool(self.batches.pending or self.batches.rescan)
            if busy or len(self.results) != count:
                count, since = len(self.results), time.monotonic()
            elif time.monotonic() - since >= quiet:
                return
            time.sleep(0.05)
        raise AssertionError("the watcher did not settle")

    def close(self) -> None:
        self.stop.set()
        with self.batches.cond:
            self.batches.rescan = True
            self.batches.cond.notify_all()
        self.thread.join(10)
        self.observer.stop()
        self.observer.join(5)


@pytest.fixture
def watching(tmp_path):
    vault = write_files(tmp_path / "vault", BASE)
    w = Watching(vault, tmp_path / "out")
    yield w
    w.close()
    assert w.failures == []


def assert_like_clean(w: Watching, tmp_path: Path) -> None:
    w.settle()
    assert all_output(w.out) == clean(w.vault, tmp_path)


NOTE = "clients/ada/s/2026-01-05 Start.md"


def test_C1_vim_save(watching, tmp_path):
    path = watching.vault / NOTE
    new = path.read_text().replace("First.", "First, saved by vim.")
    (watching.vault / "clients/ada/s/4913").write_text("")  # vim's probe for a writable folder
    (watching.vault / "clients/ada/s/4913").unlink()
    (watching.vault / "clients/ada/s/.2026-01-05 Start.md.swp").write_text("swap")
    os.rename(path, str(path) + "~")  # backup by rename
    path.write_text(new)
    os.unlink(str(path) + "~")
    (watching.vault / "clients/ada/s/.2026-01-05 Start.md.swp").unlink()
    assert_like_clean(watching, tmp_path)
    assert b"saved by vim" in (watching.out / "clients/ada/sessions/2026-01-05/index.html").read_bytes()
    assert len(watching.results) <= 2


def test_C2_jetbrains_safe_write_and_replace(watching, tmp_path):
    path = watching.vault / NOTE
    tmp = Path(str(path) + "___jb_tmp___")
    tmp.write_text(path.read_text().replace("First.", "First, JetBrains."))
    os.rename(path, str(path) + "___jb_old___")
    os.rename(tmp, path)
    os.unlink(str(path) + "___jb_old___")
    assert_like_clean(watching, tmp_path)
    other = watching.vault / "clients/ada/s/.tmp-save"
    saved = (watching.vault / "clients/ada/s/2026-01-12 Next.md").read_text()
    other.write_text(saved.replace("Second.", "Second, replaced."))
    os.replace(other, watching.vault / "clients/ada/s/2026-01-12 Next.md")
    assert_like_clean(watching, tmp_path)
    assert b"Second, replaced." in (watching.out / "clients/ada/sessions/2026-01-12/index.html").read_bytes()
    assert not [p for p in all_output(watching.out) if "jb_" in p or "tmp" in p]


def test_C3_truncate_then_write_never_loses_the_page(watching, tmp_path):
    path = watching.vault / NOTE
    page = watching.out / "clients/ada/sessions/2026-01-05/index.html"
    full = path.read_text().replace("First.", "First, from VS Code.")
    with open(path, "w") as fh:  # truncated ...
        fh.flush()
        os.fsync(fh.fileno())
        watching.settle(quiet=0.3)
        assert page.is_file()  # ... and the page is still there while the file is empty
        fh.write(full[: len(full) // 2])
        fh.flush()
        fh.write(full[len(full) // 2:])
    assert_like_clean(watching, tmp_path)
    assert b"from VS Code" in page.read_bytes()


def test_C4_git_checkout_of_many_files_coalesces(watching, tmp_path):
    for i in range(150):
        (watching.vault / f"clients/bob/2026-02-{i % 28 + 1:02d} Bulk {i}.md").write_text(f"Bulk {i}\n\n- [ ] t{i}\n")
    (watching.vault / ".obsidian").mkdir()
    for i in range(20):
        (watching.vault / ".obsidian/workspace.json").write_text(str(i))
    assert_like_clean(watching, tmp_path)
    assert len(watching.results) <= 8


def test_C6_folders_moved_out_and_in(watching, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.move(str(watching.vault / "clients/bob"), str(outside / "bob"))
    assert_like_clean(watching, tmp_path)
    assert not (watching.out / "clients/bob").exists()
    shutil.move(str(outside / "bob"), str(watching.vault / "clients/carol"))
    assert_like_clean(watching, tmp_path)
    (watching.vault / "clients/carol/2026/05").mkdir(parents=True)
    (watching.vault / "clients/carol/2026/05/2026-05-01 Deep.md").write_text("Deep note.\n\n- [ ] deep")
    assert_like_clean(watching, tmp_path)
    assert (watching.out / "clients/carol/sessions/2026-05-01/index.html").is_file()


def test_C8_noise_builds_nothing(watching, tmp_path):
    watching.settle()
    before = len(watching.results)
    git = watching.vault / ".git"
    git.mkdir()
    for i in range(10):
        (git / "index.lock").write_text(str(i))
        (git / "index.lock").unlink()
    for name in ("x.swp", "x~", ".#x", "#x#", "4913", "note.tmp"):
        (watching.vault / "clients/ada" / name).write_text("noise")
    (watching.out / "stray.txt").write_text("output churn")
    watching.settle()
    assert len(watching.results) == before


def test_a_password_set_while_watching_encrypts_its_site_at_once(watching, tmp_path):
    """`.coachgen/secrets.toml` is the coach's own file: a save of it is a change like a note's
    (coachgen's other records there are not)."""
    watching.settle()
    dashboard = watching.out / "clients/ada/index.html"
    assert b"Hello, Ada" in dashboard.read_bytes()
    (watching.vault / ".coachgen/secrets.toml").write_text('[passwords]\nada = "a long secret for ada"\n')
    assert_like_clean(watching, tmp_path)
    assert b"Hello, Ada" not in dashboard.read_bytes()
    assert (watching.out / "clients/ada/assets/lock.js").exists()


def test_a_top_folder_made_while_watching_is_watched_too(watching, tmp_path):
    """The watcher watches the vault's own folders (not .git, the output nor coachgen's
    records); a folder that appears at the top is watched from then on."""
    watching.settle()
    (watching.vault / "journal").mkdir()
    watching.settle()
    note = watching.vault / "journal/2026-03-15.md"
    note.write_text("---\nclient: Ada\n---\nWritten in the journal folder.\n")
    assert_like_clean(watching, tmp_path)
    page = watching.out / "clients/ada/sessions/2026-03-15/index.html"
    assert b"Written in the journal folder." in page.read_bytes()
    note.write_text("---\nclient: Ada\n---\nEdited in the journal folder.\n")
    assert_like_clean(watching, tmp_path)
    assert b"Edited in the journal folder." in page.read_bytes()


def test_a_file_written_whole_is_built_at_once_and_one_on_its_way_waits_for_quiet(tmp_path):
    """The system says when a save is whole (the file closed after writing, or moved into
    place): then the watcher builds at once. A file only modified, or moved away, may still
    be on its way (VS Code's truncate, JetBrains' old copy): then it waits for quiet."""
    from watchdog.events import FileClosedEvent, FileModifiedEvent, FileMovedEvent

    vault = write_files(tmp_path / "vault", BASE)
    note = vault / NOTE
    batches = watch.Batches(vault, tmp_path / "out", quiet=60.0, max_wait=120.0)

    def taken_after(*events) -> list:
        found: list = []
        taking = threading.Thread(target=lambda: found.append(batches.take(timeout=30)))
        for event in events[:-1]:
            batches.on_any_event(event)
        taking.start()
        taking.join(0.5)
        assert taking.is_alive() and not found  # on its way: the watcher waits for quiet
        batches.on_any_event(events[-1])
        taking.join(10)
        return found

    # truncated and written, then closed
    assert taken_after(FileModifiedEvent(str(note)), FileClosedEvent(str(note))) == [({NOTE}, False)]
    # JetBrains: the note moved away, then its new text moved into place
    old, new = f"{note}___jb_old___", f"{note}___jb_tmp___"
    assert taken_after(FileMovedEvent(str(note), old), FileMovedEvent(new, str(note))) == [({NOTE}, False)]


def test_broken_save_keeps_the_last_good_page_and_reports_it(watching, tmp_path):
    path = watching.vault / NOTE
    page = watching.out / "clients/ada/sessions/2026-01-05/index.html"
    good = page.read_bytes()
    text = path.read_text()
    path.write_text("---\ntitle: [broken\n---\nBROKEN")
    watching.settle()
    result = watching.results[-1][0]
    assert any(p.path == NOTE and p.level == "error" for p in result.problems)
    assert page.read_bytes() == good
    path.write_text(text.replace("First.", "First, fixed."))
    watching.settle()
    assert not watching.results[-1][0].errors
    assert b"First, fixed." in page.read_bytes()


def test_C5_an_edit_during_a_build_gets_one_more_build(watching, tmp_path):
    real = watching.builder.build
    gate = threading.Event()

    def slow_build(**kw):
        gate.set()
        time.sleep(0.5)
        return real(**kw)

    watching.builder.build = slow_build
    (watching.vault / NOTE).write_text("Edit one.\n\n- [ ] a")
    gate.wait(5)
    time.sleep(0.1)
    (watching.vault / NOTE).write_text("Edit two, during the build.\n\n- [ ] a")
    watching.settle(quiet=1.0)
    watching.builder.build = real
    assert b"Edit two" in (watching.out / "clients/ada/sessions/2026-01-05/index.html").read_bytes()


def test_polling_observer_works_too(tmp_path):
    vault = write_files(tmp_path / "vault", BASE)
    w = Watching(vault, tmp_path / "out", poll=True)
    try:
        (vault / NOTE).write_text("Polled.\n\n- [ ] a")
        time.sleep(1.5)
        assert_like_clean(w, tmp_path)
    finally:
        w.close()


def test_C7_watch_limits_fall_back_to_polling(tmp_path, monkeypatch):
    """When the system refuses more watches (ENOSPC, EMFILE), watching goes on by polling, and
    says so, rather than stopping silently."""
    import errno

    from watchdog.observers import Observer

    def refuse(self):
        raise OSError(errno.ENOSPC, "inotify watch limit reached")

    monkeypatch.setattr(Observer, "start", refuse)
    vault = write_files(tmp_path / "vault", BASE)
    warnings: list[str] = []
    batches = watch.Batches(vault, tmp_path / "out")
    observer = watch.observe(vault, batches, False, warnings.append)
    try:
        assert type(observer).__name__ == "PollingObserver"
        assert warnings and "polling" in warnings[0] and "inotify watch limit reached" in warnings[0]
        (vault / NOTE).write_text("Seen by polling.\n")
        taken = batches.take(timeout=10)
        assert taken is not None and NOTE in taken[0]
    finally:
        observer.stop()
        observer.join(5)


def test_C7_a_missed_event_is_caught_up_by_the_reconcile(tmp_path):
    """Changes made while nobody watched (a stopped observer) reach the site at the next full build."""
    vault = write_files(tmp_path / "vault", BASE)
    builder = site.Builder(vault, out=tmp_path / "out", today=TODAY)
    builder.build()
    (vault / NOTE).write_text("Changed while the watcher was away.\n\n- [ ] a\n")
    os.utime(vault / NOTE, ns=(time.time_ns() - 10**10, time.time_ns() - 10**10))
    builder.build(changed=set())  # an event-driven build that heard of nothing
    builder.build(changed=None)  # the reconcile: a full scan
    page = (tmp_path / "out/clients/ada/sessions/2026-01-05/index.html").read_bytes()
    assert b"Changed while the watcher was away." in page


def test_a_rebuild_plans_only_the_clients_whose_inputs_changed(tmp_path, monkeypatch):
    """`coachgen build` run again plans no client whose notes, files and settings are as
    they were: their pages are known from the last build's record."""
    from coachgen.plan import pages

    vault = write_files(tmp_path / "vault", BASE)
    out = tmp_path / "out"
    site.build(vault, out=out, today=TODAY, git=False)
    planned = []
    real = pages.client_pages
    monkeypatch.setattr(pages, "client_pages",
                        lambda client, *a, **k: planned.append(client.slug) or real(client, *a, **k))
    assert site.build(vault, out=out, today=TODAY, git=False).written == []
    assert planned == []
    note = vault / "clients/ada/s/2026-01-12 Next.md"
    note.write_text(note.read_text() + "\nA new line.\n")
    assert site.build(vault, out=out, today=TODAY, git=False).written
    assert planned == ["ada"]
    site.build(vault, out=out, today=TODAY + dt.timedelta(days=1), git=False)
    assert planned == ["ada", "ada", "bob"]  # a new day changes every status


def test_a_save_while_watching_derives_no_key_again(tmp_path, monkeypatch):
    """PBKDF2 is slow on purpose: a watcher derives each site's key once, and again only when
    its password changes; the encrypted pages still equal a clean build's."""
    from coachgen.privacy import crypto

    secrets = {".coachgen/secrets.toml": '[passwords]\nada = "ada\'s long secret"\n'}
    vault = write_files(tmp_path / "vault", {**BASE, **secrets})
    derived = []
    real = crypto.Lock.derive.__func__
    monkeypatch.setattr(crypto.Lock, "derive",
                        classmethod(lambda cls, site, *a, **k: derived.append(site) or real(cls, site, *a, **k)))
    builder = site.Builder(vault, out=tmp_path / "out", today=TODAY)
    builder.build()
    assert derived == ["ada"]
    note = vault / "clients/ada/s/2026-01-12 Next.md"
    note.write_text(note.read_text() + "\nA new line.\n")
    assert builder.build(changed={"clients/ada/s/2026-01-12 Next.md"}).written
    assert derived == ["ada"]
    write_files(vault, {".coachgen/secrets.toml": '[passwords]\nada = "ada\'s new long secret"\n'})
    builder.build(changed={".coachgen/secrets.toml"})
    assert derived == ["ada", "ada"]
    assert all_output(tmp_path / "out") == clean(vault, tmp_path)


@pytest.mark.parametrize("processes", [False, True], ids=["one Builder", "a process each"])
def test_turning_allow_html_on_parses_every_note_again(tmp_path, processes):
    files = {**BASE, "clients/ada/s/2026-01-19 Raw.md": "Some <mark>marked</mark> words.\n\n- [ ] Raw task\n"}
    vault = write_files(tmp_path / "vault", files)
    out = tmp_path / "out"
    builder = site.Builder(vault, out=out, today=TODAY, disk_cache=True)
    builder.build()
    write_files(vault, {"coachgen.toml": "allow_html = true\n"})
    if processes:
        builder = site.Builder(vault, out=out, today=TODAY, disk_cache=True)
    builder.build()
    assert all_output(out) == clean(vault, tmp_path)
    assert b"<mark>marked</mark>" in (out / "clients/ada/sessions/2026-01-19/index.html").read_bytes()


# ---------------------------------------------------------------- the preview's port (issue 12.7)


def test_12_7_after_the_next_ports_any_free_port(tmp_path):
    """A busy default port moves to the next free one; when the next few are busy too, to any free port."""
    import socket

    from coachgen.dev import serve

    held = []
    try:
        while len(held) < 2:  # two ports in a row, both busy
            sock = socket.socket()
            try:
                sock.bind(("127.0.0.1", held[0].getsockname()[1] + 1 if held else 0))
            except OSError:
                sock.close()
                for old in held:
                    old.close()
                held = []
                continue
            sock.listen()
            held.append(sock)
        first = held[0].getsockname()[1]
        preview = serve.Preview(tmp_path)
        for tries, good in ((3, lambda p: p == first + 2), (2, lambda p: p not in (first, first + 1))):
            server = serve.start_near(preview, "127.0.0.1", first, tries=tries)
            try:
                assert good(server.server_address[1]), (tries, first, server.server_address)
            finally:
                server.shutdown()
                server.server_close()
    finally:
        for sock in held:
            sock.close()


def test_12_7_an_address_not_on_this_machine_is_a_one_line_error(tmp_path):
    vault = write_files(tmp_path / "vault", BASE)
    lines: list[str] = []
    with pytest.raises(SystemExit) as exit_:
        watch.serve_and_watch(vault, out=tmp_path / "out", host="192.0.2.1", port=0, poll=False, today=TODAY,
                              echo=lines.append, first_build=lambda builder: builder.build(), next_free_port=True)
    assert exit_.value.code == 1
    assert len(lines) == 1 and lines[0].startswith("coachgen: error: cannot serve on 192.0.2.1 port 0 (")
    assert not (tmp_path / "out").exists()  # refused before building
