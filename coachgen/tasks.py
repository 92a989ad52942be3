"""One action line in Obsidian Tasks or Dataview syntax -> text, id, due, done and cancelled."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from .meta import in_range

_WRITTEN = r"(\d(?:[\d./-]*\d)?)"
"""A date as a coach may write it (`04/12/2026`, `2026-1-5`): taken whole, so that a date
in another form is reported and leaves the action's text, never kept there as words."""
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}")
# Tasks' date signifiers, with the variants the Tasks plugin accepts (an optional VS16).
_EMOJI_DATES = {
    "due": re.compile(r"(?:📅|📆|🗓)\ufe0f?\s*" + _WRITTEN),
    "done": re.compile(r"✅\ufe0f?\s*" + _WRITTEN),
    "cancelled": re.compile(r"❌\ufe0f?\s*" + _WRITTEN),
}
_EMOJI_ID = re.compile(r"🆔\ufe0f?\s*([A-Za-z0-9_-]+)")
# Signifiers we do not use but must not show as text: scheduled, start, created, recurrence,
# priorities, depends-on, on-completion.
_EMOJI_OTHER = re.compile(
    r"(?:(?:⏳|⌛|🛫|➕)\ufe0f?\s*" + _WRITTEN + r"|🔁\ufe0f?\s*[^📅📆🗓✅❌🆔⏳⌛🛫➕⛔🏁^\[]*"
    r"|⛔\ufe0f?\s*[A-Za-z0-9_,-]+|🏁\ufe0f?\s*\w+|[⏫🔼🔽⏬🔺]\ufe0f?)"
)
_DATAVIEW = re.compile(r"[\[(](due|completion|cancelled|id|scheduled|start|created|priority)::\s*([^\])]*)[\])]")
_BLOCK_ID = re.compile(r"\s\^([A-Za-z0-9-]+)\s*$")
_DATAVIEW_FIELD = {"due": "due", "completion": "done", "cancelled": "cancelled", "id": "id"}


@dataclass
class TaskLine:
    text: str
    id: str | None = None
    due: dt.date | None = None
    done: dt.date | None = None
    cancelled: dt.date | None = None
    bad_dates: list[str] = field(default_factory=list)
    """Names of fields whose date was not a real date (the field is then left unset)."""
    miswritten: list[str] = field(default_factory=list)
    """Names of fields whose date was not written YYYY-MM-DD (left unset too)."""
    far_dates: list[str] = field(default_factory=list)
    """Names of fields whose date is outside the years a note may give (left unset too)."""


def _date(raw: str, name: str, bad: list[str], far: list[str], miswritten: list[str]) -> dt.date | None:
    if not _ISO.fullmatch(raw.strip()):  # `04/12/2026` is 4 December or 12 April: never guessed
        miswritten.append(name)
        return None
    try:
        day = dt.date.fromisoformat(raw.strip())
    except ValueError:
        bad.append(name)
        return None
    if not in_range(day):  # `📅 9999-12-31` would overflow the calendar's day after
        far.append(name)
        return None
    return day


def parse(line: str) -> TaskLine:
    """Strip the signifiers from a task's text and read the ones we use."""
    bad: list[str] = []
    far: list[str] = []
    miswritten: list[str] = []
    values: dict[str, object] = {}
    text = line
    m = _BLOCK_ID.search(text)
    if m:
        values["id"] = m.group(1)
        text = text[: m.start()]
    for name, pattern in _EMOJI_DATES.items():
        for m in pattern.finditer(text):
            values[name] = _date(m.group(1), name, bad, far, miswritten)
        text = pattern.sub(" ", text)
    m = _EMOJI_ID.search(text)
    if m:
        values["id"] = m.group(1)
        text = _EMOJI_ID.sub(" ", text)
    for m in _DATAVIEW.finditer(text):
        name = _DATAVIEW_FIELD.get(m.group(1))
        if name == "id":
            values["id"] = m.group(2).strip() or None
        elif name:
            values[name] = _date(m.group(2), name, bad, far, miswritten)
    text = _DATAVIEW.sub(" ", text)
    text = _EMOJI_OTHER.sub(" ", text)
    return TaskLine(text=" ".join(text.split()), bad_dates=bad, far_dates=far, miswritten=miswritten, **values)  # type: ignore[arg-type]


def identity(text: str) -> str:
    """An action's identity without an id: its text with case and runs of white space folded."""
    return " ".join(text.split()).casefold()
