"""The output folder is coachgen's alone (contract section 4): a build removes only what its
manifest says it wrote, and refuses a folder, or a path, holding files it did not write."""

from __future__ import annotations

import shutil
import threading

import pytest
from click.testing import CliRunner

from coachgen.cli import main
from coachgen.dev import watch
from coachgen.engine import output, site
from conftest import TODAY, all_output

NOTES = {
    "clients/ada/client.md": "---\nname: Ada\n---\n",
    "clients/ada/s/2026-01-05 One.md": "First note.\n\n- [ ] a",
    "clients/ada/s/2026-01-12 Two.md": "Second note.\n\n- [ ] b",
    "clients/bob/client.md": "---\nname: Bob\n---\n",
    "clients/bob/2026-01-06.md": "Bob's note.\n\n- [ ] c",
}
FOREIGN = {
    "clients/acme-corp/contract.pdf": b"%PDF-1.7 the signed contract",
    "clients/invoice-2026.xlsx": b"PK\x03\x04 the invoices",
    "coach/cv.docx": b"PK\x03\x04 the coach's CV",
}
REFUSED = "is not empty and was not written by coachgen; choose an empty or new folder with --out (nothing was written"


def build(vault, out):
    return site.build(vault, out=out, today=TODAY, git=False)


def put(folder, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)


def cli_build(tmp_path, monkeypatch, *args: str):
    """`coachgen build ARGS` run from tmp_path, so that paths may be relative."""
    monkeypatch.chdir(tmp_path)
    return CliRunner().invoke(main, ["build", *args, "--today", TODAY.isoformat(), "--no-git"])


def test_F6_out_with_foreign_files_is_refused_and_left_as_it_was(make_vault, tmp_path, monkeypatch):
    make_vault(NOTES)
    put(tmp_path / "coaching", FOREIGN)
    done = cli_build(tmp_path, monkeypatch, "vault", "--out", "coaching")
    assert done.exit_code == 1
    assert done.stderr == f"coachgen: error: {tmp_path / 'coaching'} {REFUSED}" + done.stderr.split(REFUSED, 1)[1]
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.output
    assert all_output(tmp_path / "coaching") == FOREIGN  # every foreign file as it was, and nothing added


def test_F6_an_output_setting_outside_the_vault_with_foreign_files_is_refused(make_vault, tmp_path, monkeypatch):
    make_vault({**NOTES, "coachgen.toml": 'output = "../coaching"\n'})
    put(tmp_path / "coaching", FOREIGN)
    done = cli_build(tmp_path, monkeypatch, "vault")
    assert done.exit_code == 1
    assert done.stderr.startswith(f"coachgen: error: {tmp_path / 'coaching'} {REFUSED}")
    assert all_output(tmp_path / "coaching") == FOREIGN


def test_F6_an_empty_existing_folder_is_built_into(make_vault, tmp_path, monkeypatch):
    make_vault(NOTES)
    (tmp_path / "coaching").mkdir()
    done = cli_build(tmp_path, monkeypatch, "vault", "--out", "coaching")
    assert done.exit_code == 0, done.output
    assert (tmp_path / "coaching/clients/ada/index.html").is_file()
    again = cli_build(tmp_path, monkeypatch, "vault", "--out", "coaching")  # its own output is no stranger
    assert again.exit_code == 0 and ", 0 written, 0 removed" in again.stderr


def test_F6_a_foreign_file_in_a_client_folder_survives_builds_and_note_deletions(make_vault, tmp_path):
    vault = make_vault(NOTES)
    out = tmp_path / "out"
    build(vault, out)
    mine = {"clients/ada/notes.pdf": b"the coach's own notes",
            "clients/ada/sessions/2026-01-12/photo.jpg": b"\xff\xd8 a photo",
            "coach/todo.txt": b"call Ada"}
    put(out, mine)
    build(vault, out)
    (vault / "clients/ada/s/2026-01-12 Two.md").unlink()
    result = build(vault, out)
    assert "clients/ada/sessions/2026-01-12/index.html" in result.removed
    assert not (out / "clients/ada/sessions/2026-01-12/index.html").exists()
    for rel, data in mine.items():
        assert (out / rel).read_bytes() == data, rel
    build(vault, tmp_path / "clean")  # the rest is what a clean build makes
    assert {k: v for k, v in all_output(out).items() if k not in mine} == all_output(tmp_path / "clean")


def test_F6_a_client_removed_from_the_vault_keeps_the_foreign_files_in_its_folder(make_vault, tmp_path):
    vault = make_vault(NOTES)
    out = tmp_path / "out"
    build(vault, out)
    put(out, {"clients/bob/contract.pdf": b"%PDF bob"})
    shutil.rmtree(vault / "clients/bob")
    build(vault, out)
    assert [p.relative_to(out).as_posix() for p in (out / "clients/bob").rglob("*")] == ["clients/bob/contract.pdf"]


def test_F6_a_page_never_replaces_a_file_coachgen_did_not_write(make_vault, tmp_path):
    vault = make_vault(NOTES)
    out = tmp_path / "out"
    build(vault, out)
    put(out, {"clients/ada/sessions/2026-02-01/index.html": b"the coach's own page"})
    before = all_output(out)
    (vault / "clients/ada/s/2026-02-01 New.md").write_text("A new note.\n\n- [ ] d")
    with pytest.raises(output.NotOurs, match="2026-02-01/index.html was not written by coachgen"):
        build(vault, out)
    assert all_output(out) == before


def test_F6_a_lost_manifest_is_refused_and_says_how_to_fix_it(make_vault, tmp_path, monkeypatch):
    vault = make_vault(NOTES)
    build(vault, tmp_path / "coaching")
    before = all_output(tmp_path / "coaching")
    shutil.rmtree(vault / ".coachgen")
    done = cli_build(tmp_path, monkeypatch, "vault", "--out", "coaching")
    assert done.exit_code == 1 and REFUSED in done.stderr and "delete the folder" in done.stderr
    assert all_output(tmp_path / "coaching") == before


def test_F6_watch_reports_a_foreign_folder_in_one_line(make_vault, tmp_path):
    vault = make_vault(NOTES)
    put(tmp_path / "coaching", FOREIGN)
    lines: list[str] = []
    stop = threading.Event()
    stop.set()  # were the build to pass, stop watching at once
    with pytest.raises(SystemExit) as exited:
        watch.serve_and_watch(vault, out=tmp_path / "coaching", host="127.0.0.1", port=0, poll=True, today=TODAY,
                              echo=lines.append, first_build=lambda builder: builder.build(), stop=stop,
                              git=False)
    assert exited.value.code == 1
    assert lines == [f"coachgen: error: {tmp_path / 'coaching'} {REFUSED}" + lines[0].split(REFUSED, 1)[1]]
    assert all_output(tmp_path / "coaching") == FOREIGN
