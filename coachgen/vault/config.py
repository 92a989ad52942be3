"""Site settings from `coachgen.toml`, with defaults; secrets from `.coachgen/` and the environment."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from coachgen import i18n
from coachgen.problems import Problem, error, warning
from coachgen.vault.paths import CONFIG_FILE


@dataclass(frozen=True)
class Config:
    vault: Path
    title: str = "Coaching"
    coach: str = ""
    timezone: str = "UTC"
    output: Path | None = None
    """Absolute output folder; None means `<vault>/_site`."""
    base_url: str = ""
    allow_html: bool = False
    nudge_after_days: int = 21
    passwords: str = "required"
    """`required` (the default): a site without a password is withheld unless its client
    opts out in writing (`password: none`); `optional`: published without one."""
    overview_password: str = ""
    """`none`: the coach's overview may be published without a password."""
    coach_email: str = ""
    """Where a client's "Send an update" panel addresses its e-mail (see checkin.py)."""
    language: str = "en"
    """The sites' language; a client.md may say another for its own site (see i18n.py)."""

    @property
    def out_dir(self) -> Path:
        return self.output if self.output is not None else self.vault / "_site"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


_TYPES: dict[str, type[Any]] = {  # Any: a value that passed its isinstance check is used as that type
    "title": str,
    "coach": str,
    "timezone": str,
    "output": str,
    "base_url": str,
    "allow_html": bool,
    "nudge_after_days": int,
    "passwords": str,
    "overview_password": str,
    "coach_email": str,
    "language": str,
}
_CHOICES = {"passwords": ("required", "optional"), "overview_password": ("none",)}
_URL = re.compile(r"https?://[^\s/?#\\]+(/[^\s\\]*)?", re.IGNORECASE)


def is_address(value: str) -> bool:
    """The one rule for an address coachgen writes into mail: one plain address,
    `name@example.com`, on one line (a line break would add headers to the mail), one `@`,
    no spaces, commas, brackets or control characters."""
    from email.utils import parseaddr  # imported on first use: most vaults give no address

    local, at, domain = value.partition("@")
    return (bool(local and at and domain) and "@" not in domain
            and not re.search(r"[\s\x00-\x1f\x7f-\x9f,;:<>()\[\]\\\"]", value)
            and parseaddr(value)[1] == value)


def load(vault: Path, out: Path | None = None) -> tuple[Config, list[Problem]]:
    """Read `coachgen.toml` if present. Bad settings are reported and fall back to defaults."""
    vault = vault.resolve()
    problems: list[Problem] = []
    values: dict = {}
    path = vault / CONFIG_FILE
    if path.is_file():
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8-sig"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            m = re.search(r"line (\d+)", str(exc))
            problems.append(error(CONFIG_FILE, int(m.group(1)) if m else 1, f"not valid TOML: {exc}"))
            raw = {}
        text_lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        for key, value in raw.items():
            line = next((i + 1 for i, t in enumerate(text_lines) if t.strip().startswith(key)), 1)
            expected = _TYPES.get(key)
            if expected is None:
                problems.append(warning(CONFIG_FILE, line, f"unknown setting '{key}' is ignored"))
            elif not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                problems.append(error(CONFIG_FILE, line, f"'{key}' must be {expected.__name__}"))
            elif key in _CHOICES and value not in _CHOICES[key]:
                choices = " or ".join(f'"{c}"' for c in _CHOICES[key])
                problems.append(error(CONFIG_FILE, line, f"'{key}' must be {choices}"))
                if key == "passwords":  # unreadable intent: fail closed
                    values[key] = "required"
            elif key == "base_url" and value and not (_URL.fullmatch(value) and value.isprintable()):
                # it reaches every calendar and e-mail link: only a plain web address will do
                problems.append(error(CONFIG_FILE, line, "'base_url' must be a web address like "
                                                          "\"https://coaching.example.org\" "
                                                          "(http or https, no spaces)"))
            elif key == "language" and value not in i18n.available(vault):
                problems.append(error(CONFIG_FILE, line, i18n.unknown(value, vault)))
            elif key == "coach_email" and value and not is_address(value):
                # it is written into every client's mail link: one plain address, or nothing
                problems.append(error(CONFIG_FILE, line, "'coach_email' must be one e-mail address like "
                                                          "\"coach@example.com\""))
            else:
                values[key] = value
        if "timezone" in values:
            try:
                ZoneInfo(values["timezone"])
            except (ZoneInfoNotFoundError, ValueError):
                line = next((i + 1 for i, t in enumerate(text_lines) if t.strip().startswith("timezone")), 1)
                problems.append(error(CONFIG_FILE, line, "'timezone' is not an IANA time zone name"))
                del values["timezone"]
    output = values.pop("output", None)
    if out is not None:
        values["output"] = out.resolve()
    elif output:
        values["output"] = (vault / output).resolve()
    return Config(vault=vault, **values), problems
