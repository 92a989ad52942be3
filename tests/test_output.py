"""Output integrity (hazards part D): crashes, concurrent reads, safe paths, determinism, faults."""

from __future__ import annotations

import errno
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from coachgen.engine import output, site
from coachgen.plan.page import Generated
from coachgen.privacy import rules as privacy
from coachgen.render import templates as render
from coachgen.vault import files as vault
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
    result = build(vault, out)  # a fault costs the sites it hit, which stay wholly as they were
    assert any("could not build this client's site (RuntimeError)" in p.message for p in result.errors)
    assert all_output(out) == before
    assert not (out / output.STAGING).exists() and not any((vault / ".coachgen/staging").rglob("*"))
    monkeypatch.setattr(render, "render", real)
    # as an older coachgen left it, or a build killed while staging in an output that is a mount point
    (out / output.STAGING / "clients").mkdir(parents=True)
    (out / output.STAGING / "clients" / "half.html").write_text("half")
    build(vault, out)
    assert not (out / output.STAGING).exists()
    assert b"Version TWO" in (out / "clients/ada/sessions/2026-01-05/index.html").read_bytes()


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


@pytest.mark.parametrize("title", ["../x", "CON", "aux.txt", "name.", "a:b", "x" * 300, "🙂 emoji", "..",
                                   "/etc/passwd"])
def test_D4_titles_make_safe_page_paths(make_vault, tmp_path, title):
    written = json.dumps(title, ensure_ascii=False)
    vault = make_vault({**NOTES, "clients/ada/s/evil.md": f"---\ndate: 2026-02-01\ntitle: {written}\n---\nEvil."})
    result = build(vault, tmp_path / "out")
    ada = next(c for c in result.model.clients if c.slug == "ada")
    session = next(s for s in ada.sessions if s.path.endswith("evil.md"))
    assert session.id.startswith("2026-02-01") and all(ch.isalnum() or ch == "-" for ch in session.id)
    assert len(session.id) <= 100
    for path in all_output(tmp_path / "out"):
        assert ".." not in path.split("/")
    assert (tmp_path / "out/clients/ada" / session.url / "index.html").is_file()


def test_D4_case_and_accent_twins_get_their_own_pages(make_vault, tmp_path):
    vault = make_vault({**NOTES, "clients/ada/s/2026-02-01 Café.md": "NFC",
                        "clients/ada/s/2026-02-01 Cafe\u0301 .md": "NFD",
                        "clients/ada/s/2026-02-01 CAFE.md": "upper"})
    result = build(vault, tmp_path / "out")
    ids = sorted(s.id for s in next(c for c in result.model.clients if c.slug == "ada").sessions if s.date.month == 2)
    assert ids == ["2026-02-01", "2026-02-01-2", "2026-02-01-3"]


def test_D4_the_plan_check_refuses_paths_outside_a_client_and_collisions(make_vault, tmp_path):
    result = build(make_vault(NOTES), tmp_path / "out")
    ada = result.model.clients[0]
    with pytest.raises(privacy.PrivacyError):
        privacy.check_plan([Generated("clients/bob/index.html", ada)])
    with pytest.raises(privacy.PrivacyError):
        privacy.check_plan([Generated(f"clients/{ada.slug}/../bob/x.html", ada)])
    with pytest.raises(privacy.PrivacyError):
        privacy.check_plan([Generated("coach/index.html", None), Generated("coach/index.html", None)])


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
    done = subprocess.run([sys.executable, "-m", "coachgen", "build", str(vault_dir),
                           "--out", str(tmp_path / "out" / "site")],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("coachgen: error: cannot write the output")


def test_D6_a_second_build_at_the_same_time_is_refused(make_vault, tmp_path):
    vault_dir = make_vault(NOTES)
    with output.build_lock(vault_dir):
        with pytest.raises(output.Busy):
            build(vault_dir, tmp_path / "out")
    build(vault_dir, tmp_path / "out")  # the lock is released after a build


KILLER = """
import datetime, os, sys
from pathlib import Path
from coachgen.engine import site

vault, out, when = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
real_replace, real_fsync, real_unlink, moved = os.replace, os.fsync, os.unlink, []


def replace(source, target):
    if str(target).startswith(out + "/"):
        moved.append(target)
        if when == "mid-commit" and len(moved) == 4:
            os._exit(9)  # killed with 3 files moved into place
    real_replace(source, target)
    if when == "a shard" and "/outputs/" in str(target) and str(target).endswith(".pickle"):
        os._exit(9)  # killed with every file in place and one shard of the manifest written


def unlink(path, **kwargs):
    if when == "manifest" and str(path).endswith(".journal"):
        os._exit(9)  # killed with everything in place, before the journal is deleted
    real_unlink(path, **kwargs)


def fsync(fd):
    if when == "journal":
        os._exit(9)  # killed while the journal is being written
    real_fsync(fd)


os.replace, os.fsync, os.unlink = replace, fsync, unlink
site.build(vault, out=Path(out), today=datetime.date(2026, 3, 20))
sys.exit("the build ran to its end")
"""


def killed_build(vault, out, when: str) -> None:
    """A build in a child process that dies (os._exit, like kill -9) at the moment `when`."""
    done = subprocess.run([sys.executable, "-c", KILLER, str(vault), str(out), when], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "COACHGEN_WORKERS": "1"})
    assert done.returncode == 9, done.stderr


def changed_vault(make_vault, tmp_path, out=None):
    """A vault built once into `out`, then edited for every client: (vault, out, old output, new output)."""
    vault = make_vault(NOTES)
    out = out or tmp_path / "out"
    build(vault, out)
    old = all_output(out)
    (vault / "clients/ada/s/2026-01-05 One.md").write_text("Version TWO.\n\n- [ ] a\n- [ ] new")
    (vault / "clients/ada/s/2026-01-12 Two.md").unlink()
    (vault / "clients/bob/2026-01-06.md").write_text("Bob, changed.\n\n- [x] c")
    (vault / "clients/cy/client.md").parent.mkdir(parents=True)
    (vault / "clients/cy/client.md").write_text("---\nname: Cy\n---\n")
    build(vault, tmp_path / "clean")
    return vault, out, old, all_output(tmp_path / "clean")


def nothing_of_coachgen_inside(out) -> None:
    """No staging folder nor journal where a static host would publish it."""
    assert [p for p in out.rglob("*") if "coachgen" in p.name or "journal" in p.name] == []


def sites(files: dict[str, bytes]) -> dict[str, dict[str, bytes]]:
    """The output by site: clients/<slug> and coach."""
    by: dict[str, dict[str, bytes]] = {}
    for rel, data in files.items():
        parts = rel.split("/")
        by.setdefault("/".join(parts[:2]) if parts[0] == "clients" else parts[0], {})[rel] = data
    return by


@pytest.mark.parametrize("when", ["mid-commit", "a shard", "manifest"])
def test_F11_a_kill_during_commit_is_rolled_forward_by_the_next_build(make_vault, tmp_path, when):
    vault, out, old, new = changed_vault(make_vault, tmp_path)
    killed_build(vault, out, when)
    nothing_of_coachgen_inside(out)
    if when == "mid-commit":
        assert all_output(out) not in (old, new)  # the kill left the commit half done...
    build(vault, out)  # ...and the next build, with no note changed, finishes it
    assert all_output(out) == new
    nothing_of_coachgen_inside(out)
    assert [p for p in (vault / ".coachgen").rglob("*") if "journal" in p.name or "staging" in str(p.parent)] == []
    again = build(vault, out)
    assert again.written == [] and again.removed == []


def test_F11_a_first_build_killed_mid_commit_is_finished_not_refused(make_vault, tmp_path):
    """The output then holds files but no manifest yet: the journal says they are ours."""
    vault = make_vault(NOTES)
    out = tmp_path / "out"
    killed_build(vault, out, "mid-commit")
    assert [p for p in out.rglob("*") if p.is_file()]
    build(vault, out)
    build(vault, tmp_path / "clean")
    assert all_output(out) == all_output(tmp_path / "clean")


def test_F11_a_kill_before_the_journal_is_complete_leaves_the_old_site(make_vault, tmp_path):
    vault, out, old, new = changed_vault(make_vault, tmp_path)
    killed_build(vault, out, "journal")
    assert all_output(out) == old  # wholly as it was
    nothing_of_coachgen_inside(out)
    build(vault, out)
    assert all_output(out) == new
    nothing_of_coachgen_inside(out)


@pytest.mark.parametrize("kill_after", [1, 8, 15])
def test_F11_each_site_is_wholly_old_or_wholly_new_once_the_next_build_ran(make_vault, tmp_path, monkeypatch,
                                                                          kill_after):
    """os.replace failing part-way through the commit (an error rather than a kill): the next
    build leaves every client's site and the coach's wholly new."""
    vault, out, old, new = changed_vault(make_vault, tmp_path)
    real, calls = os.replace, []

    def failing(source, target):
        if str(target).startswith(f"{out}/"):
            calls.append(target)
            if len(calls) == kill_after:
                raise OSError(errno.EIO, "injected fault")
        return real(source, target)

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(OSError):
        build(vault, out)
    monkeypatch.setattr(os, "replace", real)
    nothing_of_coachgen_inside(out)
    build(vault, out)
    got, old_sites, new_sites = sites(all_output(out)), sites(old), sites(new)
    for name in set(got) | set(new_sites):
        assert got.get(name) == new_sites.get(name), name
    assert set(got) == set(new_sites) and old_sites != new_sites


def shard_files(vault, out) -> dict[str, int]:
    """Each file of the output's manifest, by name: its inode (a shard is rewritten by a new file)."""
    return {p.name: p.stat().st_ino for p in output.manifest_folder(vault, out).iterdir()}


def manifest(vault, out) -> dict[str, list]:
    return output.Output(vault, out).known


BOB, COACH = output.shard_name("clients/bob/index.html"), output.shard_name("coach/index.html")


def test_F11_a_commit_rewrites_only_the_shards_of_the_sites_it_changed(make_vault, tmp_path):
    vault = make_vault(NOTES)
    out = tmp_path / "out"
    build(vault, out)
    before = shard_files(vault, out)
    assert len(before) == 3  # ada's, bob's and the coach's
    build(vault, out)
    assert shard_files(vault, out) == before  # nothing changed, nothing written
    (vault / "clients/bob/2026-01-06.md").write_text("Bob, changed.\n\n- [x] c")
    result = build(vault, out)
    assert {rel.split("/")[0] for rel in result.written} == {"clients", "coach"}
    assert all(rel.startswith(("clients/bob/", "coach/")) for rel in result.written)
    after = shard_files(vault, out)
    assert {name for name in after if after[name] != before[name]} == {BOB, COACH} and after.keys() == before.keys()


def test_F11_the_journal_holds_only_the_shards_that_change_and_rolls_forward_as_an_uninterrupted_build(
        make_vault, tmp_path):
    vault = make_vault(NOTES)
    out = tmp_path / "out"
    build(vault, out)
    (vault / "clients/bob/2026-01-06.md").write_text("Bob, changed.\n\n- [x] c")
    killed_build(vault, out, "mid-commit")
    journal = pickle.loads(output.Output(vault, out).journal_path.read_bytes())
    assert sorted(journal["shards"]) == sorted([BOB, COACH]) and not journal["whole"]
    assert all(rel.startswith(("clients/bob/", "coach/")) for entries in journal["shards"].values()
               for rel in entries)
    build(vault, out)
    build(vault, tmp_path / "clean")
    assert all_output(out) == all_output(tmp_path / "clean")
    assert manifest(vault, out) == manifest(vault, tmp_path / "clean")


def test_a_process_reads_a_shard_again_only_once_another_rewrote_it(make_vault, tmp_path, monkeypatch):
    vault = make_vault(NOTES)
    out = tmp_path / "out"
    build(vault, out)
    real, loaded = pickle.load, []
    monkeypatch.setattr(pickle, "load", lambda fh: loaded.append(Path(fh.name).name) or real(fh))
    known = manifest(vault, out)
    assert loaded == []  # what the build read and wrote is remembered
    bob = output.manifest_folder(vault, out) / BOB
    rewritten = bob.with_suffix(".new")  # as another build would: a new file, renamed
    rewritten.write_bytes(pickle.dumps({rel: entry for rel, entry in pickle.loads(bob.read_bytes()).items()
                                        if rel != "clients/bob/data.json"}))
    os.replace(rewritten, bob)
    assert manifest(vault, out) == {rel: entry for rel, entry in known.items() if rel != "clients/bob/data.json"}
    assert loaded == [BOB]


def in_one_file(vault, out, known: dict[str, list]) -> Path:
    """Put the output's manifest as coachgen kept it before shards: one file, `<key>.pickle`."""
    folder = output.manifest_folder(vault, out)
    shutil.rmtree(folder)
    single = folder.with_suffix(".pickle")
    single.write_bytes(pickle.dumps(known))
    return single


def test_a_manifest_in_one_file_from_an_older_coachgen_is_still_ours_and_split_into_shards(make_vault, tmp_path):
    vault = make_vault(NOTES)
    out = tmp_path / "out"
    build(vault, out)
    known, shards = manifest(vault, out), shard_files(vault, out)
    single = in_one_file(vault, out, known)
    again = build(vault, out)  # not refused as someone else's folder, nor written again
    assert again.written == [] and again.removed == []
    assert not single.exists() and shard_files(vault, out).keys() == shards.keys()
    assert manifest(vault, out) == known
    (vault / "clients/bob/2026-01-06.md").write_text("Bob, changed.\n\n- [x] c")
    build(vault, out)
    build(vault, tmp_path / "clean")
    assert all_output(out) == all_output(tmp_path / "clean")
    assert manifest(vault, out) == manifest(vault, tmp_path / "clean")


def test_an_older_coachgen_s_journal_is_rolled_forward(make_vault, tmp_path):
    """A build of an older coachgen killed mid-commit left its manifest in one file and a
    journal holding the whole new manifest: the next build finishes that commit."""
    vault, out, old, new = changed_vault(make_vault, tmp_path)
    killed_build(vault, out, "mid-commit")
    last = output.Output(vault, out)
    journal = pickle.loads(last.journal_path.read_bytes())
    shards = {**last.shards, **journal.pop("shards")}
    del journal["whole"]
    journal["manifest"] = {rel: entry for entries in shards.values() for rel, entry in entries.items()}
    last.journal_path.write_bytes(pickle.dumps(journal))
    single = in_one_file(vault, out, last.known)
    build(vault, out)
    assert all_output(out) == new
    assert not single.exists() and not last.journal_path.exists()
    assert manifest(vault, out) == manifest(vault, tmp_path / "clean")


def test_F11_staging_sits_on_the_output_s_file_system_and_outside_it(tmp_path, monkeypatch):
    """A rename cannot cross file systems: staging goes under .coachgen/ if the output shares
    the vault's, else beside the output, and inside it only if the output is a mount point."""
    under_vault, out = tmp_path / "vault/.coachgen/staging/key", tmp_path / "disk/site"
    mounts: dict[Path, int] = {}

    def device(path: Path) -> int:
        inside = [m for m in mounts if path.is_relative_to(m)]
        return mounts[max(inside, key=lambda m: len(m.parts))] if inside else 0

    monkeypatch.setattr(output, "_device", device)
    assert output.staging_folder(under_vault, out) == under_vault
    mounts[tmp_path / "disk"] = 1
    assert output.staging_folder(under_vault, out) == tmp_path / "disk/.site.coachgen-staging"
    mounts[out] = 2
    assert output.staging_folder(under_vault, out) == out / output.STAGING


@pytest.fixture
def other_file_system(tmp_path):
    """A folder on another file system than the vault's (tmpfs), if there is one."""
    if not os.path.isdir("/dev/shm") or os.stat("/dev/shm").st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second file system to put the output on")
    folder = Path(tempfile.mkdtemp(dir="/dev/shm", prefix="coachgen-test-"))
    yield folder
    shutil.rmtree(folder)


def test_F11_an_output_on_another_file_system_is_staged_beside_it_and_rolled_forward(make_vault, tmp_path,
                                                                                   other_file_system):
    vault, out, old, new = changed_vault(make_vault, tmp_path, other_file_system / "site")
    killed_build(vault, out, "mid-commit")
    nothing_of_coachgen_inside(out)
    assert list((other_file_system / ".site.coachgen-staging").iterdir())  # what the journal still moves
    build(vault, out)
    assert all_output(out) == new
    assert sorted(p.name for p in other_file_system.iterdir()) == ["site"]
