"""The repository stands alone (issue 12, finding 12.5): a user clones only this
repository, so nothing in it may reach for files beside it, every link in its
documentation must land on a file it holds, and its tests must pass in a copy that has
nothing beside it. Also the synthetic vault generator that the tests and benchmarks
use instead of an outside script."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from coachgen.engine import site
from conftest import ROOT

# The patterns are assembled from pieces, so that this file does not match itself.
SHARED = "shared"
# They catch the folder beside the repository written as a path ("../" and its name), its
# spec and bench subfolders, and the same path built in code (ROOT.parent / its name / ...).
OUTSIDE = re.compile(r"\.\./" + SHARED + r"|" + SHARED + r"/(spec|bench)|[\"']" + SHARED + r"[\"']\s*/")
TEXT_SUFFIXES = {".py", ".md", ".toml", ".txt", ".yml", ".yaml", ".cfg", ".ini", ".json", ".html",
                 ".css", ".js", ".sh", ".ics", ""}


def repository_files() -> list[str]:
    """The files a clone would have: tracked ones, plus new files not yet committed that git
    does not ignore (so that this test also judges work in progress). Outside a git
    checkout (an unpacked sdist, say), every file but the usual caches."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                                cwd=ROOT, capture_output=True, check=True, timeout=60).stdout
        files = [name for name in listed.decode("utf-8").split("\0") if name]
    except (OSError, subprocess.SubprocessError):
        skip = {".git", ".venv", "venv", ".hypothesis", ".pytest_cache", "__pycache__", ".coachgen", "_site", "_work"}
        files = [p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*")
                 if p.is_file() and not skip & set(p.relative_to(ROOT).parts)]
    return sorted(name for name in files if (ROOT / name).is_file())  # a deleted, uncommitted file is not there


def test_12_5_nothing_reaches_for_files_beside_the_repository():
    hits = []
    for name in repository_files():
        path = ROOT / name
        if path.suffix not in TEXT_SUFFIXES:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                hits.append(f"{name}:{number}: {line.strip()}")
    assert not hits, "files that a clone of this repository does not have:\n" + "\n".join(hits)


CODE_BLOCK = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"(`+).+?\1", re.DOTALL)
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def links(markdown: str) -> list[str]:
    """The targets of Markdown links and images that are not web addresses, outside code
    (where `[text](note.md)` is an example, not a link)."""
    prose = CODE_SPAN.sub("", CODE_BLOCK.sub("", markdown))
    return [t for t in LINK.findall(prose) if not re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:|//", t)]


def relative_links(markdown: str) -> list[str]:
    """The files that links point to (anchors within the same page left out)."""
    return [t.split("#", 1)[0] for t in links(markdown) if not t.startswith("#")]


def anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces as `-`."""
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*$", CODE_BLOCK.sub("", markdown), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def test_12_5_relative_links_in_the_documentation_land_in_the_repository():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    assert ROOT / "docs" / "vault-format.md" in pages and ROOT / "docs" / "publishing.md" in pages
    tracked = set(repository_files())
    broken = []
    for page in pages:
        for target in relative_links(page.read_text(encoding="utf-8")):
            resolved = (page.parent / target).resolve()
            try:
                inside = resolved.relative_to(ROOT).as_posix()
            except ValueError:
                broken.append(f"{page.relative_to(ROOT)}: {target} (outside the repository)")
                continue
            if not (inside in tracked or (resolved.is_dir() and any(t.startswith(inside + "/") for t in tracked))):
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, "links to files the repository does not have:\n" + "\n".join(broken)


def test_12_5_anchors_in_the_documentation_name_a_heading():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    broken = []
    for page in pages:
        for target in links(page.read_text(encoding="utf-8")):
            if "#" not in target:
                continue
            path, anchor = target.split("#", 1)
            linked = (page.parent / path) if path else page
            if (linked.suffix == ".md" and linked.is_file()
                    and anchor not in anchors(linked.read_text(encoding="utf-8"))):
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, "anchors that name no heading:\n" + "\n".join(broken)


def test_12_5_the_readme_links_the_vault_format_in_docs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/vault-format.md" in relative_links(readme)
    assert "docs/publishing.md" in relative_links(readme)


def test_12_5_a_copy_with_nothing_beside_it_runs_its_tests(tmp_path):
    """Copy the repository's files (as a clone has them) into an empty folder and run a quick
    part of the suite there: the synthetic vault, a build, and the checks above."""
    alone = tmp_path / "empty" / "coachgen"  # its parent holds nothing else
    for name in repository_files():
        target = alone / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    # The copy's own package comes first, before the editable install of this working tree.
    env = {**os.environ, "PYTHONPATH": str(alone), "PYTHONDONTWRITEBYTECODE": "1"}
    which = subprocess.run([sys.executable, "-c", "import coachgen; print(coachgen.__file__)"],
                           cwd=alone, env=env, capture_output=True, text=True)
    assert Path(which.stdout.strip()).is_relative_to(alone), which.stdout + which.stderr
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
         "tests/test_optimisations.py::test_worker_processes_change_nothing",
         "tests/test_standalone.py::test_12_5_nothing_reaches_for_files_beside_the_repository",
         "tests/test_standalone.py::test_12_5_relative_links_in_the_documentation_land_in_the_repository"],
        cwd=alone, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "3 passed" in done.stdout


# ---------------------------------------------------------------- the synthetic vault generator
# (imported inside each test, so that the tests above run even where it is missing)


def test_12_5_the_generator_is_deterministic_and_has_the_asked_shape(tmp_path):
    from coachgen.dev import synthetic

    first = synthetic.write_vault(tmp_path / "a", clients=3, sessions=4, seed=7)
    again = synthetic.write_vault(tmp_path / "b", clients=3, sessions=4, seed=7)
    other = synthetic.write_vault(tmp_path / "c", clients=3, sessions=4, seed=8)

    def files(root: Path) -> dict[str, bytes]:
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    assert files(first) == files(again)
    assert files(first) != files(other)
    assert len(list(first.glob("clients/*/client.md"))) == 3
    assert len(list(first.glob("clients/*/sessions/*.md"))) == 12
    assert 'passwords = "optional"' in (first / "coachgen.toml").read_text()
    # a client's notes do not depend on how many clients were made
    more = synthetic.write_vault(tmp_path / "d", clients=5, sessions=4, seed=7)
    assert {k: v for k, v in files(more).items() if k in files(first)} == files(first)
    assert synthetic.SHAPES == {1000: (20, 50), 10000: (100, 100)}


def test_12_5_a_generated_vault_builds_without_a_problem(tmp_path):
    from coachgen.dev import synthetic

    vault = synthetic.write_vault(tmp_path / "vault", clients=3, sessions=6, seed=1)
    result = site.build(vault, out=tmp_path / "out", today=synthetic.TODAY, git=False)
    assert not result.problems, [str(p) for p in result.problems]
    slugs = sorted(p.name for p in (vault / "clients").iterdir())
    for slug in slugs:  # every note is shared: a page per session
        data = json.loads((tmp_path / "out" / "clients" / slug / "data.json").read_text())
        assert len(data["sessions"]) == 6 and data["metrics"] and data["actions"]
    # every kind of metric, task lines, front-matter actions, insights, comments and callouts occur
    text = "".join(p.read_text() for p in vault.rglob("*.md"))
    for needle in ("kind: count", "kind: rating", "kind: habit", "- [ ] ", "📅", "%%", "> [!private]",
                   "> [!insight]", "[[", "insights:", "future:", "| ---"):
        assert needle in text, needle


def test_12_5_a_generated_vault_with_passwords_is_encrypted(tmp_path):
    from coachgen.dev import synthetic

    vault = synthetic.write_vault(tmp_path / "vault", clients=2, sessions=2, seed=3, passwords="required")
    assert 'passwords = "required"' in (vault / "coachgen.toml").read_text()
    result = site.build(vault, out=tmp_path / "out", today=synthetic.TODAY, git=False)
    assert not result.errors, [str(p) for p in result.errors]
    assert all(p.encrypted for p in result.protections.values())


def test_12_5_the_generator_runs_as_a_command(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "coachgen.dev.synthetic", str(tmp_path / "v"), "--clients", "2",
                           "--sessions", "3"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "2 clients x 3 sessions" in done.stdout
    again = subprocess.run([sys.executable, "-m", "coachgen.dev.synthetic", str(tmp_path / "v"), "--clients", "2",
                            "--sessions", "3"], capture_output=True, text=True, env=env)
    assert again.returncode != 0 and "not empty" in again.stderr  # never writes over a folder


@pytest.mark.parametrize("script", ["benchmarks/run.py", "benchmarks/watch_latency.py"])
def test_12_5_the_benchmarks_use_the_project_s_own_generator(script):
    text = (ROOT / script).read_text(encoding="utf-8")
    assert "synthetic.write_vault(" in text and not OUTSIDE.search(text)
