"""Dependency keys (coachgen/keys.py): a page's key covers everything its template receives,
so no value a template starts reading can leave a stale page behind."""

from __future__ import annotations

import dataclasses
import datetime as dt
import pickle
import shutil

import pytest

from coachgen import i18n
from coachgen.engine import keys, site
from coachgen.plan.page import Generated, Rendered
from conftest import TODAY, all_output, write_files

VAULT = {
    "clients/ada/client.md": "---\nname: Ada\n---\n",
    "clients/ada/2026-01-05 Start.md": "First words.\n\n- [ ] Call the bank\n",
    "clients/ada/2026-01-12 Next.md": "Second words.\n",
    "clients/bob/client.md": "---\nname: Bob\n---\n",
    "clients/bob/2026-01-06 Hello.md": "Bob's first.\n",
}


def test_a_template_that_starts_showing_another_field_is_never_stale(tmp_path):
    """The coach's own dashboard shows where the first session's note is kept, which no
    hand-made key of the dashboard ever named: renaming the note (same date, same title)
    reaches the dashboard in the very next build of a watching Builder, as a clean build has it."""
    vault = write_files(tmp_path / "vault", {
        **VAULT,
        "clients/ada/2026-01-05 Start.md": "---\ntitle: Start\n---\nFirst words.\n",
        "templates/dashboard.html": '{% extends "base.html" %}{% block main %}'
                                    '<p id="kept">{{ client.sessions[0].path }}</p>{% endblock %}',
    })
    builder = site.Builder(vault, out=tmp_path / "out", today=TODAY)
    builder.build()
    (vault / "clients/ada/2026-01-05 Start.md").rename(vault / "clients/ada/2026-01-05 Kick-off.md")
    result = builder.build(changed={"clients/ada/2026-01-05 Start.md", "clients/ada/2026-01-05 Kick-off.md"})
    assert "clients/ada/index.html" in result.written
    assert "2026-01-05 Kick-off.md" in (tmp_path / "out/clients/ada/index.html").read_text()
    assert "clients/bob/index.html" not in result.written  # another client's pages are not touched
    site.Builder(vault, out=tmp_path / "clean", today=TODAY).build()
    assert all_output(tmp_path / "out") == all_output(tmp_path / "clean")
    shutil.rmtree(tmp_path / "clean")


def test_an_edit_of_a_note_s_words_rewrites_its_own_page_and_not_the_dashboard(tmp_path):
    """The dashboard, lists, data and calendar receive no note's text: a note's new words
    rewrite its session page (and the overview, which shows no text, stays)."""
    vault = write_files(tmp_path / "vault", VAULT)
    builder = site.Builder(vault, out=tmp_path / "out", today=TODAY)
    builder.build()
    note = vault / "clients/ada/2026-01-12 Next.md"
    note.write_text("Second words, put better.\n")
    result = builder.build(changed={"clients/ada/2026-01-12 Next.md"})
    assert result.written == ["clients/ada/sessions/2026-01-12/index.html"]


def test_a_default_key_changes_with_any_value_of_the_context():
    memo = keys.Keys()
    lang = i18n.language("en")
    context = {"title": "Dashboard", "today": TODAY, "lang": lang, "rows": [{"n": 1, "when": dt.time(9, 30)}]}
    page = memo.keyed(Rendered("clients/ada/index.html", None, template="dashboard.html", context=context))
    assert page.key is not None
    assert memo.keyed(Rendered("clients/ada/index.html", None, template="dashboard.html",
                               context=dict(context))).key == page.key
    for name, value in [("title", "Overview"), ("today", TODAY + dt.timedelta(days=1)),
                        ("lang", i18n.language("de")), ("rows", [{"n": 2, "when": dt.time(9, 30)}])]:
        other = memo.keyed(Rendered("clients/ada/index.html", None, template="dashboard.html",
                                    context={**context, name: value}))
        assert other.key != page.key, name
    actions = Rendered("clients/ada/index.html", None, template="actions.html", context=context)
    assert memo.keyed(actions).key != page.key


def test_a_generated_page_is_keyed_by_its_function_and_arguments():
    memo = keys.Keys()
    one = memo.keyed(Generated("clients/ada/data.json", None, make=bytes, args=(TODAY,)))
    assert one.key == memo.keyed(Generated("clients/ada/data.json", None, make=bytes, args=(TODAY,))).key
    assert one.key != memo.keyed(Generated("clients/ada/data.json", None, make=bytes, args=(TODAY, 1))).key
    assert one.key != memo.keyed(Generated("clients/ada/data.json", None, make=bytearray, args=(TODAY,))).key


def test_a_narrow_key_of_its_own_is_kept():
    page = Rendered("clients/ada/sessions/x/index.html", None, template="session.html", context={"a": 1}, key="own")
    assert keys.Keys().keyed(page).key == "own"


def test_a_model_object_is_hashed_by_value_once_and_a_changed_one_again(tmp_path):
    vault = write_files(tmp_path / "vault", VAULT)
    model = site.build(vault, out=tmp_path / "out", today=TODAY).model
    ada = model.clients[0]
    memo = keys.Keys()
    first = memo.of(ada)
    assert memo.of(ada) == first
    assert keys.Keys().of(dataclasses.replace(ada)) == first  # an equal client, another object: the same key
    changed = dataclasses.replace(ada, sessions=(dataclasses.replace(ada.sessions[0], html="<p>new</p>"),)
                                  + ada.sessions[1:])
    assert memo.of(changed) != first


def test_a_client_read_back_from_the_cache_is_the_client_it_was(tmp_path):
    """The cache keeps a client in two parts and reads its sessions, actions and games on
    first use: until then and after, it equals the client, keys like it, and pickles again
    as it (without being read)."""
    vault = write_files(tmp_path / "vault", VAULT)
    ada = site.build(vault, out=tmp_path / "out", today=TODAY).model.clients[0]
    assert ada.sessions and ada.actions
    kept = pickle.loads(pickle.dumps(ada))
    assert "sessions" not in vars(kept) and kept.note_paths == ada.note_paths
    again = pickle.loads(pickle.dumps(kept))  # a client never read is kept as it was read
    assert "sessions" not in vars(kept)
    assert kept == ada and kept.sessions == ada.sessions and type(kept) is type(ada)
    assert keys.Keys().of(again) == keys.Keys().of(ada)
    assert dataclasses.replace(pickle.loads(pickle.dumps(ada)), name="Ada L.").actions == ada.actions
    with pytest.raises(AttributeError):
        kept.no_such_field  # noqa: B018


def test_a_value_with_no_stable_key_is_refused():
    class Opaque:
        pass

    with pytest.raises(TypeError, match="no stable key"):
        keys.Keys().of({"x": Opaque()})


def test_a_key_does_not_depend_on_where_the_vault_and_the_output_are(tmp_path):
    from coachgen.vault.config import Config

    memo = keys.Keys()
    here = Config(tmp_path / "a", title="Practice", output=tmp_path / "out-a")
    there = Config(tmp_path / "b", title="Practice", output=tmp_path / "out-b")
    assert memo.of(here) == memo.of(there)
    assert memo.of(here) != memo.of(Config(tmp_path / "a", title="Another practice", output=tmp_path / "out-a"))
