"""Where the templates and shipped assets are, and the digest of what the pages' look depends
on: light to import (the nothing-changed answer needs only this)."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

PLOTLY = "plotly.min.js"


@lru_cache(maxsize=1)
def templates_dir() -> Path:
    """Templates ship inside the wheel as `coachgen/templates`; in a checkout they sit beside it."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "templates", package.parent / "templates"):
        if (candidate / "base.html").is_file():
            return candidate
    raise FileNotFoundError("coachgen's templates are missing from the installation")


@lru_cache(maxsize=1)
def _builtin_digest() -> str:
    h = hashlib.sha256()
    for path in sorted(templates_dir().rglob("*")):
        if path.is_file():
            h.update(path.relative_to(templates_dir()).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def templates_digest(overrides: Path | None) -> str:
    """What the pages' look depends on: the built-in templates and the vault's overrides."""
    h = hashlib.sha256(_builtin_digest().encode())
    if overrides is not None and overrides.is_dir():
        for path in sorted(overrides.rglob("*")):
            if path.is_file():
                h.update(path.relative_to(overrides).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def plotly_js() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / PLOTLY


def asset_path(name: str) -> Path:
    return plotly_js() if name == PLOTLY else templates_dir() / "assets" / name
