"""Check-in notes in the build (issue 14): what a note that `coachgen checkins` wrote does to
the client's site and the coach's overview, and where the token that seals updates may be."""

from __future__ import annotations

import json
import re

from coachgen import checkin
from coachgen.engine.site import build
from conftest import TODAY, all_output

CLIENT = """
---
name: Ada Lovelace
slug: ada
metrics:
  weight: {label: Weight, unit: kg, target: 70, by: 2026-06-30, direction: down}
  runs: {label: Runs, kind: count}
---
"""
SESSION = """
---
title: Kick-off
metrics: {weight: 80}
---
- [ ] Book the physio 📅 2026-03-25
- [ ] Call the bank
"""
CHECKIN = """
---
date: 2026-03-19
source: check-in
checkin: abcdefghijklmnopqrstuv
metrics:
  weight: 78.5
  runs: 3
---

# Update from Ada

## Done

- [x] Book the physio 📅 2026-03-25 ✅ 2026-03-19

## In their own words

> Felt strong this week
"""


def vault_with(make_vault, *, checkin_note=True, extra=None, config=""):
    files = {
        "coachgen.toml": config,
        "clients/ada/client.md": CLIENT,
        "clients/ada/sessions/2026-03-10.md": SESSION,
        "clients/bo/client.md": "---\nname: Bo\n---\n",
        "clients/bo/sessions/2026-03-12.md": "---\ntitle: First\n---\n- [ ] Bo's own step\n",
    }
    if checkin_note:
        files["clients/ada/check-ins/2026-03-19.md"] = CHECKIN
    files.update(extra or {})
    return make_vault(files)


def test_a_checkin_ticks_the_action_and_charts_the_value_without_being_a_session(make_vault, tmp_path):
    vault = vault_with(make_vault)
    result = build(vault, out=tmp_path / "out", today=TODAY)
    assert not [p for p in result.problems if p.level == "error"], result.problems
    ada = next(c for c in result.model.clients if c.slug == "ada")
    assert [s.id for s in ada.sessions] == ["2026-03-10"]
    assert [c.checkin for c in ada.checkins] == ["abcdefghijklmnopqrstuv"]
    physio = next(a for a in ada.actions if a.text == "Book the physio")
    assert physio.status == "done" and str(physio.done) == "2026-03-19"
    data = json.loads((tmp_path / "out/clients/ada/data.json").read_text())
    weight = next(m for m in data["metrics"] if m["key"] == "weight")
    assert [v["value"] for v in weight["points"]] == [80, 78.5]
    assert [c["url"] for c in data["check_ins"]] == ["check-ins/2026-03-19/"]
    assert len(data["sessions"]) == 1
    page = (tmp_path / "out/clients/ada/check-ins/2026-03-19/index.html").read_text()
    assert "Your update" in page and "Felt strong this week" in page
    dashboard = (tmp_path / "out/clients/ada/index.html").read_text()
    assert 'href="check-ins/2026-03-19/"' in dashboard
    # no "session produced nothing" warning, and the engagement counts one session
    assert not [p for p in result.problems if "check-ins" in p.path]


def test_the_overview_says_new_checkin_until_a_session_note_on_or_after_it(make_vault, tmp_path):
    vault = vault_with(make_vault, config='overview_password = "none"\n')
    build(vault, out=tmp_path / "out", today=TODAY)
    overview = (tmp_path / "out/coach/index.html").read_text()
    assert overview.count("new check-in") == 1
    assert 'href="../clients/ada/check-ins/2026-03-19/"' in overview
    (vault / "clients/ada/sessions/2026-03-19.md").write_text("---\ntitle: Catch-up\n---\nWe talked.\n- [ ] Next\n")
    build(vault, out=tmp_path / "out", today=TODAY)
    assert "new check-in" not in (tmp_path / "out/coach/index.html").read_text()


def test_each_site_has_its_own_token_and_only_its_dashboard_carries_it(make_vault, tmp_path):
    vault = vault_with(make_vault, config='coach_email = "coach@example.org"\noverview_password = "none"\n')
    build(vault, out=tmp_path / "out", today=TODAY)
    tokens = checkin.tokens(vault, ["ada", "bo"], create=False)
    assert set(tokens) == {"ada", "bo"} and tokens["ada"] != tokens["bo"]
    output = all_output(tmp_path / "out")
    for slug, token in tokens.items():
        holders = sorted(k for k, v in output.items() if token.encode() in v)
        assert holders == [f"clients/{slug}/index.html"]
    secrets = json.loads((vault / checkin.SECRETS).read_text())
    for secret in secrets.values():
        assert not [k for k, v in output.items() if secret.encode() in v]
    assert b"coach@example.org" in output["clients/ada/index.html"]
    # a rebuild keeps the same token: pages already open still seal valid updates
    build(vault, out=tmp_path / "out", today=TODAY)
    assert checkin.tokens(vault, ["ada", "bo"], create=False) == tokens


def test_an_encrypted_site_carries_its_token_only_inside_the_envelope(make_vault, tmp_path, monkeypatch):
    monkeypatch.setenv("COACHGEN_PASSWORD_ADA", "correct horse battery staple")
    vault = vault_with(make_vault)
    build(vault, out=tmp_path / "out", today=TODAY)
    token = checkin.tokens(vault, ["ada"], create=False)["ada"]
    output = all_output(tmp_path / "out")
    assert not [k for k, v in output.items() if token.encode() in v]
    assert "clients/ada/assets/checkin.js" in output


def test_a_check_check_writes_no_secret(make_vault):
    vault = vault_with(make_vault)
    build(vault, today=TODAY, write=False)
    assert not (vault / checkin.SECRETS).exists()


def test_a_bad_coach_email_is_an_error_and_never_reaches_a_page(make_vault, tmp_path):
    vault = vault_with(make_vault, config='coach_email = "a@b.org\\nBcc: x@evil.example"\n')
    result = build(vault, out=tmp_path / "out", today=TODAY)
    assert any(p.path == "coachgen.toml" and "coach_email" in p.message for p in result.problems)
    assert b"evil.example" not in b"".join(all_output(tmp_path / "out").values())


def test_a_source_other_than_check_in_is_a_warning_and_a_session(make_vault, tmp_path):
    vault = vault_with(make_vault, checkin_note=False, extra={
        "clients/ada/sessions/2026-03-15.md": "---\ntitle: Odd\nsource: email\n---\nText.\n- [ ] Thing\n"})
    result = build(vault, out=tmp_path / "out", today=TODAY)
    assert any(p.path.endswith("2026-03-15.md") and "'source'" in p.message for p in result.problems)
    ada = next(c for c in result.model.clients if c.slug == "ada")
    assert [s.id for s in ada.sessions] == ["2026-03-10", "2026-03-15"] and not ada.checkins


def test_checkin_ids_never_take_a_sessions_address(make_vault, tmp_path):
    """A check-in and a session on one date: each keeps its own address."""
    vault = vault_with(make_vault, extra={
        "clients/ada/sessions/2026-03-19.md": "---\ntitle: Same day\n---\nText.\n- [ ] Thing\n"})
    build(vault, out=tmp_path / "out", today=TODAY)
    out = tmp_path / "out/clients/ada"
    assert re.search("Same day", (out / "sessions/2026-03-19/index.html").read_text())
    assert "Your update" in (out / "check-ins/2026-03-19/index.html").read_text()
