"""Problems found in a vault: errors and warnings, each naming a file and a line."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    path: str
    """Vault-relative, `/`-separated path of the file at fault (`coachgen.toml` for the vault)."""
    line: int
    """1-based line of the offending key or text; 1 for the whole file."""
    level: str
    """`error` or `warning`."""
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.level}: {self.message}"


def error(path: str, line: int, message: str) -> Problem:
    return Problem(path, max(1, line), "error", message)


def warning(path: str, line: int, message: str) -> Problem:
    return Problem(path, max(1, line), "warning", message)
