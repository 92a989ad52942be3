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


OPTIONAL = 'passwords = "optional"\n'
"""Vaults in tests publish without passwords unless a test says otherwise: the default,
`passwords = "required"`, has tests of its own."""


def write_files(root: Path, files: dict[str, str | bytes], *, passwords_optional: bool = True) -> Path:
    """Write a vault. Unless told not to, its `coachgen.toml` says `passwords = "optional"`."""
    if passwords_optional:
        files = dict(files)
        config = files.get("coachgen.toml", "")
        if isinstance(config, str) and "passwords" not in config:
            config = textwrap.dedent(config).lstrip("\n")  # appended, so the test's line numbers hold
            files["coachgen.toml"] = config + ("\n" if config and not config.endswith("\n") else "") + OPTIONAL
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

    def make(files: dict[str, str | bytes], *, passwords_optional: bool = True) -> Path:
        return write_files(tmp_path / "vault", files, passwords_optional=passwords_optional)

    return make


def all_output(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
