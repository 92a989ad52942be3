"""Output integrity (hazards part D): crashes, concurrent reads, safe paths, determinism, faults."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import threading

import pytest

from coachgen import output, privacy, render, site, vault
from coachgen.pages import Page
from conftest import EXAMPLE, ROOT, TODAY, all_output

NOTES = {
    "clients/ada/client.md": "---\nname: Ada\nmetrics:\n  w: {label: Weight}\n---\n",
    "clients/ada/s/2026-01-05 One.md": "---\nmetrics:\n  w: 80\n---\nVersion ONE of the first note.\n\n- [ ] a",
    "clients/ada/s/2026-01-12 Two.md": "Second note.\n\n- [ ] b",
    "clients/bob/client.md": "---\nname: Bob\n---\n",
    "clients/bob/2026-01-06.md": "Bob's note.\n\n- [ ] c",
}


def build(vault, out):
    return site.build(vault, out=out, today=TODAY)


def test_D1_a_crash_mid_build_leaves_the_previous_site(make_vault, tmp_path, monkeypatch):
    vault = make_vault(NOTES)
    out = tmp_path / "out"
    build(vault, out)
    before = all_output(out)
    (vault / "clients/ada/s/2026-01-05 One.md").write_text("Version TWO.\n\n- [ ] a")
    (vault / "clients/ada/s/2026-01-12 Two.md").write_text("Changed too.\n\n- [ ] b")
    real, calls = render.render, []

    def crash_half_way(page, *args):
        calls.append(page.path)
        if len(calls) > 5:
            raise RuntimeError("injected fault")
        return real(page, *args)

    monkeypatch.setattr(render, "render", crash_half_way)
    with pytest.raises(RuntimeError):
        build(vault, out)
    assert all_output(out) == before
    assert not (out / output.STAGING).exists()
    monkeypatch.setattr(render, "render", real)
    (out / output.STAGING / "clients").mkdir(parents=True)  # as a killed build would leave it
    (out / output.STAGING / "clients" / "half.html").write_text("half")
    build(vault, out)
    assert not (out / output.STAGING).exists()
    assert b"Version TWO" in (out / "clients/ada/sessions/2026-01-05-one/index.html").read_bytes()


def test_D2_readers_never_see_a_missing_or_truncated_page(make_vault, tmp_path):
    vault = make_vault(NOTES)
    out = tmp_path / "out"
    note = vault / "clients/ada/s/2026-01-05 One.md"
    versions = ["Version ONE " + "x" * 5000 + "\n\n- [ ] a", "Version TWO " + "y" * 9000 + "\n\n- [ ] a"]
    seen: dict[str, set[bytes]] = {}
    for text in versions:
        note.write_text(text)
        build(vault, out)
        for rel, data in all_output(out).items():
            seen.setdefault(rel, set()).add(data)
    watched = [rel for rel in seen if rel.endswith(".html")]
    stop, bad = threading.Event(), []

    def reader():
        while not stop.is_set():
            for rel in watched:
                try:
                    data = (out / rel).read_bytes()
                except FileNotFoundError:
                    bad.append(("missing", rel))
                    continue
                if data not in seen[rel]:
                    bad.append(("partial", rel))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(30):
            note.write_text(versions[i % 2])
            build(vault, out)
    finally:
        stop.set()
        thread.join()
    assert bad == []


@pytest.mark.parametrize("title", ["../x", "CON", "aux.txt", "name.", "a:b", "x" * 300, "🙂 emoji", "..", "/etc/passwd"])
def test_D4_titles_make_safe_page_paths(make_vault, tmp_path, title):
    vault = make_vault({**NOTES, "clients/ada/s/evil.md": f"---\ndate: 2026-02-01\ntitle: {json.dumps(title, ensure_ascii=False)}\n---\nEvil."})
    result = build(vault, tmp_path / "out")
    ada = next(c for c in result.model.clients if c.slug == "ada")
    session = next(s for s in ada.sessions if s.path.endswith("evil.md"))
    assert session.id.startswith("2026-02-01") and all(ch.isalnum() or ch == "-" for ch in session.id)
    assert len(session.id) <= 100
    for path in all_output(tmp_path / "out"):
        assert ".." not in path.split("/")
    assert (tmp_path / "out/clients/ada" / session.url / "index.html").is_file()


def test_D4_case_and_accent_twins_get_their_own_pages(make_vault, tmp_path):
    vault = make_vault({**NOTES, "clients/ada/s/2026-02-01 Café.md": "NFC", "clients/ada/s/2026-02-01 Cafe\u0301 .md": "NFD",
                        "clients/ada/s/2026-02-01 CAFE.md": "upper"})
    result = build(vault, tmp_path / "out")
    ids = sorted(s.id for s in next(c for c in result.model.clients if c.slug == "ada").sessions if s.date.month == 2)
    assert ids == ["2026-02-01-cafe", "2026-02-01-cafe-2", "2026-02-01-cafe-3"]


def test_D4_the_plan_check_refuses_paths_outside_a_client_and_collisions(make_vault, tmp_path):
    result = build(make_vault(NOTES), tmp_path / "out")
    ada = result.model.clients[0]
    with pytest.raises(privacy.PrivacyError):
        privacy.check_plan([Page("clients/bob/index.html", ada, data=b"x")])
    with pytest.raises(privacy.PrivacyError):
        privacy.check_plan([Page(f"clients/{ada.slug}/../bob/x.html", ada, data=b"x")])
    with pytest.raises(privacy.PrivacyError):
        privacy.check_plan([Page("coach/index.html", None, data=b"x"), Page("coach/index.html", None, data=b"y")])


def test_D5_same_output_whatever_the_order_files_are_found_in(tmp_path, monkeypatch):
    build(EXAMPLE, tmp_path / "a")
    real = vault.scan

    def reversed_scan(*args):
        listing = real(*args)
        return vault.Listing(dict(reversed(list(listing.files.items()))))

    monkeypatch.setattr(vault, "scan", reversed_scan)
    build(EXAMPLE, tmp_path / "b")
    assert all_output(tmp_path / "a") == all_output(tmp_path / "b")


def test_D5_every_output_file_is_in_the_manifest(make_vault, tmp_path):
    vault_dir = make_vault(NOTES)
    out = tmp_path / "out"
    build(vault_dir, out)
    manifest = output.Output(vault_dir, out).known
    assert sorted(manifest) == sorted(all_output(out))


def test_D6_a_full_disk_fails_the_build_and_keeps_the_old_site(make_vault, tmp_path, monkeypatch):
    vault_dir = make_vault(NOTES)
    out = tmp_path / "out"
    build(vault_dir, out)
    before = all_output(out)
    (vault_dir / "clients/ada/s/2026-01-05 One.md").write_text("Changed.\n\n- [ ] a")
    real, calls = output.Output.stage, []

    def disk_full(self, rel, data):
        calls.append(rel)
        if len(calls) > 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, rel, data)

    monkeypatch.setattr(output.Output, "stage", disk_full)
    with pytest.raises(OSError):
        build(vault_dir, out)
    assert all_output(out) == before


def test_D6_the_command_reports_a_write_fault_without_a_traceback(make_vault, tmp_path):
    vault_dir = make_vault(NOTES)
    (tmp_path / "out").write_text("a file where the output folder should be")
    done = subprocess.run([sys.executable, "-m", "coachgen", "build", str(vault_dir), "--out", str(tmp_path / "out" / "site")],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("coachgen: error: cannot write the output")


def test_D6_a_second_build_at_the_same_time_is_refused(make_vault, tmp_path):
    vault_dir = make_vault(NOTES)
    with output.build_lock(vault_dir):
        with pytest.raises(output.Busy):
            build(vault_dir, tmp_path / "out")
    build(vault_dir, tmp_path / "out")  # the lock is released after a build
