"""`coachgen build` with nothing changed returns the last build's result without building
(issue 16), and any changed input, or an output touched by hand, makes it a real build."""

from __future__ import annotations

import datetime as dt
import os
import pickle
import subprocess
import sys

import pytest

from coachgen.engine import output, site, unchanged
from conftest import ROOT, TODAY, all_output

VAULT = {
    "coachgen.toml": 'title = "Northstar"\n',
    "clients/ada/client.md": "---\nname: Ada\nmetrics:\n  w: {label: Weight, unit: kg, target: 70}\n---\n",
    "clients/ada/sessions/2026-03-10.md": "---\nmetrics: {w: 80}\n---\nFirst.\n\n- [ ] Call the bank 📅 2026-03-25\n",
    "clients/bob/client.md": "---\nname: Bob\n---\n",
    "clients/bob/sessions/2026-03-12.md": "Bob's first. [[Nowhere]]\n",  # a warning: a link to no note
}


def build(vault, **kwargs) -> site.Result:
    return unchanged.build(vault, out=vault / "_site", today=kwargs.pop("today", TODAY), git=kwargs.pop("git", False))


@pytest.fixture
def vault(make_vault):
    folder = make_vault(VAULT)
    first = build(folder)
    assert not first.unchanged and first.written and not first.errors
    return folder


def test_a_second_build_with_nothing_changed_is_the_first_one_s_result(vault):
    first_output = all_output(vault / "_site")
    again = build(vault)
    assert again.unchanged and again.written == [] and again.removed == []
    assert again.sites == 2 and again.planned > 0
    assert [p.message for p in again.problems] == [p.message for p in site.build(vault, write=False, today=TODAY,
                                                                                  git=False).problems]
    assert any(p.level == "warning" for p in again.problems)  # warnings are reported again, never silenced
    assert all_output(vault / "_site") == first_output
    assert build(vault).unchanged


LOADED = """
import sys
from coachgen import cli
sys.argv = ["coachgen", "build", "--today", "2026-03-20"]
try:
    cli.main()  # the command's own work: run() would end the process when it is done
except SystemExit:
    pass
print(sorted(name for name in sys.modules if name.startswith(("coachgen.engine.site", "coachgen.model", "jinja2",
                                                              "markdown_it", "plotly"))))
"""


def test_the_answer_that_nothing_changed_loads_no_engine(vault):
    """`coachgen build` run again with nothing changed answers from its record: it imports
    neither the engine nor the libraries that parse and render (most of a run's time)."""
    done = subprocess.run([sys.executable, "-c", LOADED], cwd=vault, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert "nothing changed since the last build" in done.stderr, done.stderr
    assert done.stdout.strip() == "[]"
    (vault / "clients/bob/sessions/2026-03-12.md").write_text("Bob's first, edited.\n")
    done = subprocess.run([sys.executable, "-c", LOADED], cwd=vault, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert "coachgen.engine.site" in done.stdout and "nothing changed" not in done.stderr


def forget_page_keys(vault) -> None:
    """The output's manifest without its page keys: a build checks every page again."""
    for shard in output.manifest_folder(vault, vault / "_site").glob("*.pickle"):
        known = pickle.loads(shard.read_bytes())
        shard.write_bytes(pickle.dumps({rel: entry[:1] for rel, entry in known.items()}))


EDITS = {
    "a note": lambda v: (v / "clients/ada/sessions/2026-03-10.md").write_text("---\nmetrics: {w: 79}\n---\nFirst!\n"),
    "a note, same size": lambda v: (v / "clients/bob/sessions/2026-03-12.md").write_text("Bob's first. [[Nowhere]]\n"),
    "a new note": lambda v: (v / "clients/bob/sessions/2026-03-19.md").write_text("Second.\n"),
    "a deleted note": lambda v: (v / "clients/bob/sessions/2026-03-12.md").unlink(),
    "the settings": lambda v: (v / "coachgen.toml").write_text('title = "Northstar"\npasswords = "optional"\n'
                                                               'coach = "Helen"\n'),
    "a template": lambda v: (v / "templates").mkdir() or (v / "templates/session.html").write_text(
        '{% extends "base.html" %}{% block main %}Mine {{ body|safe }}{% endblock %}\n'),
    "a catalogue": lambda v: (v / "locales").mkdir() or (v / "locales/de.po").write_text(
        'msgid "Next steps"\nmsgstr "Als Nächstes"\n'),
    "a password": lambda v: (v / ".coachgen/secrets.toml").write_text('[passwords]\nada = "a long secret phrase"\n'),
    "the salts": lambda v: (v / ".coachgen/salts.json").write_text("{}\n"),
    "an output file deleted": lambda v: (v / "_site/clients/ada/index.html").unlink(),
    "the manifest": forget_page_keys,
}


@pytest.mark.parametrize("edit", EDITS)
def test_any_changed_input_or_touched_output_is_a_real_build(vault, edit):
    assert build(vault).unchanged
    EDITS[edit](vault)
    assert not build(vault).unchanged
    site.build(vault, out=vault.parent / "clean", today=TODAY, git=False)
    assert all_output(vault / "_site") == all_output(vault.parent / "clean")
    assert build(vault).unchanged  # and settled again


def test_an_output_file_touched_by_hand_is_never_recorded_as_what_a_build_left(vault):
    """The record of a real build looks again only at the files it wrote or removed: a page
    changed by hand before it keeps its earlier record, so the next build is a real one too."""
    page = vault / "_site/clients/bob/index.html"
    page.write_bytes(page.read_bytes() + b"<!-- by hand -->")
    EDITS["a note"](vault)  # Ada's note: a real build, which does not write Bob's page
    result = build(vault)
    assert not result.unchanged and "clients/bob/index.html" not in result.written
    assert not build(vault).unchanged


def test_the_environment_and_the_day_are_inputs(vault, monkeypatch):
    assert build(vault).unchanged
    monkeypatch.setenv("COACHGEN_PASSWORD_ADA", "another long secret phrase")
    assert not build(vault).unchanged
    assert build(vault).unchanged
    monkeypatch.delenv("COACHGEN_PASSWORD_ADA")
    assert not build(vault).unchanged
    later = TODAY + dt.timedelta(days=1)
    assert not build(vault, today=later).unchanged
    assert build(vault, today=later).unchanged


def test_a_new_commit_is_an_input_where_git_dates_are_shown(vault):
    def git(*args):
        subprocess.run(["git", *args], cwd=vault, check=True, capture_output=True,
                       env={**os.environ, "GIT_AUTHOR_NAME": "c", "GIT_AUTHOR_EMAIL": "c@example.org",
                            "GIT_COMMITTER_NAME": "c", "GIT_COMMITTER_EMAIL": "c@example.org"})

    git("init", "-q")
    git("add", "clients")
    git("commit", "-qm", "notes")
    build(vault, git=True)
    assert build(vault, git=True).unchanged
    git("commit", "-q", "--allow-empty", "-m", "another")
    assert not build(vault, git=True).unchanged


def test_a_build_that_fails_leaves_no_record(vault, monkeypatch):
    assert build(vault).unchanged

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(site, "build", broken)
    (vault / "clients/ada/sessions/2026-03-10.md").write_text("Changed.\n")
    with pytest.raises(OSError):
        build(vault)
    monkeypatch.undo()
    assert not unchanged.record_path(vault, vault / "_site").exists()
    assert not build(vault).unchanged
