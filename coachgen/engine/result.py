"""What a build reports: light to import, so that the nothing-changed answer (unchanged.py)
can give it without loading the engine."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from coachgen.problems import Problem

if TYPE_CHECKING:
    from coachgen.model.clients import Model
    from coachgen.privacy.rules import Protection


@dataclass
class Result:
    problems: list[Problem]
    model: Model | None = None
    planned: int = 0
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    """Vault files that changed since the previous build of the same Builder."""
    seconds: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)
    """Seconds spent in each stage: scan, parse, model, plan, render, write (and cache)."""
    protections: dict[str, Protection] = field(default_factory=dict)
    """How each site was published (encrypted, without a password) or why it was withheld."""
    sites: int = 0
    """The clients the vault holds (each with a site, published or withheld)."""
    unchanged: bool = False
    """Nothing changed since the last `coachgen build` of this output: its result, reported again."""

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "error"]


def today_in(zone) -> dt.date:
    return dt.datetime.now(zone).date()
