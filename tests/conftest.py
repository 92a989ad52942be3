"""Shared fixtures: a vault written from a dict of files, and the golden-file switch."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "vault_example"
TODAY = dt.date(2026, 3, 20)


def pytest_addoption(parser):
    parser.addoption("--update-goldens", action="store_true", help="rewrite tests/golden/ from the current output")


@pytest.fixture
def update_goldens(request) -> bool:
    return request.config.getoption("--update-goldens")


def write_files(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")
    return root


@pytest.fixture
def make_vault(tmp_path):
    """make_vault({"clients/ada/client.md": "...", ...}) -> the vault's path."""

    def make(files: dict[str, str | bytes]) -> Path:
        return write_files(tmp_path / "vault", files)

    return make


def all_output(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
