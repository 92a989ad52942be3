"""Every speed-up leaves the output byte-identical to the plain path: worker processes,
the parse cache, the page keys and the manifest (issue 5)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, all_output

MAKE_VAULT = ROOT.parent / "shared" / "bench" / "make_vault.py"


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    """A synthetic practice big enough (300 notes) for the build to use worker processes."""
    vault = tmp_path_factory.mktemp("synthetic") / "vault"
    subprocess.run([sys.executable, str(MAKE_VAULT), str(vault), "--clients", "6", "--sessions", "50"],
                   check=True, stdout=subprocess.DEVNULL)
    return vault


def build(vault: Path, out: Path, workers: str, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COACHGEN_WORKERS": workers}
    done = subprocess.run([sys.executable, "-m", "coachgen", "build", str(vault), "--out", str(out),
                           "--today", "2026-03-20", *extra], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    return done


def fresh_copy(vault: Path, where: Path) -> Path:
    shutil.copytree(vault, where, ignore=shutil.ignore_patterns(".coachgen"))
    return where


def test_worker_processes_change_nothing(synthetic, tmp_path):
    serial = build(fresh_copy(synthetic, tmp_path / "v1"), tmp_path / "serial", "1")
    parallel = build(fresh_copy(synthetic, tmp_path / "v2"), tmp_path / "parallel", "2")
    assert serial.stderr.splitlines()[-1].split(" in ")[0] == parallel.stderr.splitlines()[-1].split(" in ")[0]
    assert all_output(tmp_path / "serial") == all_output(tmp_path / "parallel")


def test_the_parse_cache_and_page_keys_change_nothing(synthetic, tmp_path):
    vault = fresh_copy(synthetic, tmp_path / "vault")
    out = tmp_path / "out"
    build(vault, out, "2")
    note = sorted(vault.glob("clients/*/sessions/*.md"))[7]
    text = note.read_text()
    assert "\ntitle: \"" in text
    note.write_text(text.replace("\ntitle: \"", "\ntitle: \"Edited ", 1) + "\nA new line.\n")
    second = build(vault, out, "2")
    assert "0 written" not in second.stderr
    build(fresh_copy(vault, tmp_path / "clean-vault"), tmp_path / "clean", "1")
    assert all_output(out) == all_output(tmp_path / "clean")
    third = build(vault, out, "2")
    assert ", 0 written, 0 removed" in third.stderr
