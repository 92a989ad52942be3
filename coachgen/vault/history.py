"""When each note last changed, from one `git log` over the whole vault (off outside git)."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path


def last_changed(vault: Path) -> dict[str, dt.date]:
    """Vault-relative path -> the date of the last commit that touched it. Empty when the vault
    is not in a git repository or git is missing: the pages then simply do not say."""
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=vault, capture_output=True, text=True,
                             timeout=10)
        if top.returncode != 0:
            return {}
        root = Path(top.stdout.strip()).resolve()
        log = subprocess.run(
            ["git", "-c", "core.quotepath=off", "log", "--format=%x00%cs", "--name-only", "--no-renames", "--", "."],
            cwd=vault, capture_output=True, text=True, timeout=120,
        )
    except (OSError, subprocess.SubprocessError):
        return {}
    if log.returncode != 0:
        return {}
    prefix = vault.resolve().relative_to(root).as_posix()
    prefix = "" if prefix == "." else prefix + "/"
    changed: dict[str, dt.date] = {}
    day = None
    for line in log.stdout.splitlines():
        if line.startswith("\x00"):
            day = dt.date.fromisoformat(line[1:])
        elif line and day is not None and line.startswith(prefix):
            changed.setdefault(line[len(prefix):], day)  # newest first: the first date seen is the last change
    return changed


def head(vault: Path) -> str | None:
    """The commit the history was read at, to know when to read it again."""
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=vault, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None
