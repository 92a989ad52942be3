"""One action line in Obsidian Tasks or Dataview syntax -> text, id, dates, priority,
recurrence and dependencies; whatever else the Tasks format defines is dropped from the text."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from coachgen.parse.meta import in_range

_WRITTEN = r"(\d(?:[\d./-]*\d)?)"
"""A date as a coach may write it (`04/12/2026`, `2026-1-5`): taken whole, so that a date
in another form is reported and leaves the action's text, never kept there as words."""
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}")
# Tasks' date signifiers, with the variants the Tasks plugin accepts (an optional VS16).
_EMOJI_DATES = {
    "due": re.compile(r"(?:📅|📆|🗓)\ufe0f?\s*" + _WRITTEN),
    "done": re.compile(r"✅\ufe0f?\s*" + _WRITTEN),
    "cancelled": re.compile(r"❌\ufe0f?\s*" + _WRITTEN),
    "start": re.compile(r"🛫\ufe0f?\s*" + _WRITTEN),
    "scheduled": re.compile(r"(?:⏳|⌛)\ufe0f?\s*" + _WRITTEN),
}
PRIORITIES = {"🔺": "highest", "⏫": "high", "🔼": "medium", "🔽": "low", "⏬": "lowest"}
PRIORITY_RANK = {"highest": 0, "high": 1, "medium": 2, None: 3, "normal": 3, "low": 4, "lowest": 5}
"""Tasks' order: a task without a priority sorts between medium and low."""
_EMOJI_PRIORITY = re.compile(r"([🔺⏫🔼🔽⏬])\ufe0f?")
_EMOJI_REPEAT = re.compile(r"🔁\ufe0f?\s*([^📅📆🗓✅❌🆔⏳⌛🛫➕⛔🏁🔺⏫🔼🔽⏬^\[%]*)")
_EMOJI_DEPENDS = re.compile(r"⛔\ufe0f?\s*([A-Za-z0-9_-]+(?:\s*,\s*[A-Za-z0-9_-]+)*)")
_EMOJI_ID = re.compile(r"🆔\ufe0f?\s*([A-Za-z0-9_-]+)")
# Signifiers we do not use but must not show as text: created, on-completion, a comment
# (`%%` to the end of the line), and a signifier left without its value.
_EMOJI_OTHER = re.compile(r"(?:➕\ufe0f?\s*" + _WRITTEN + r"|🏁\ufe0f?\s*\w+|%%.*$"
                          r"|(?:📅|📆|🗓|✅|❌|🆔|⏳|⌛|🛫|➕|⛔|🏁|🔁)\ufe0f?)")
_DATAVIEW = re.compile(r"[\[(](due|completion|cancelled|id|scheduled|start|created|priority|repeat|dependsOn"
                       r"|onCompletion)::\s*([^\])]*)[\])]")
_BLOCK_ID = re.compile(r"\s\^([A-Za-z0-9-]+)\s*$")
_DATAVIEW_FIELD = {"due": "due", "completion": "done", "cancelled": "cancelled", "id": "id", "start": "start",
                   "scheduled": "scheduled"}


@dataclass
class TaskLine:
    text: str
    id: str | None = None
    due: dt.date | None = None
    done: dt.date | None = None
    cancelled: dt.date | None = None
    priority: str | None = None
    """`highest`, `high`, `medium`, `low` or `lowest`; None where the line gives none."""
    start: dt.date | None = None
    scheduled: dt.date | None = None
    recurrence: str | None = None
    """Tasks' rule text as written (`every week on Sunday`), read or not: see `recurrence.parse`."""
    depends_on: tuple[str, ...] = ()
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
    m = _EMOJI_PRIORITY.search(text)
    if m:
        values["priority"] = PRIORITIES[m.group(1)]
        text = _EMOJI_PRIORITY.sub(" ", text)
    m = _EMOJI_REPEAT.search(text)
    if m:
        values["recurrence"] = " ".join(m.group(1).split()) or None
        text = _EMOJI_REPEAT.sub(" ", text)
    for m in _EMOJI_DEPENDS.finditer(text):
        values["depends_on"] = tuple(i.strip() for i in m.group(1).split(","))
    text = _EMOJI_DEPENDS.sub(" ", text)
    for m in _DATAVIEW.finditer(text):
        key, raw = m.group(1), m.group(2).strip()
        target = _DATAVIEW_FIELD.get(key)
        if target == "id":
            values["id"] = raw or None
        elif target:
            values[target] = _date(raw, target, bad, far, miswritten)
        elif key == "priority" and raw.casefold() in PRIORITY_RANK and raw.casefold() != "normal":
            values["priority"] = raw.casefold()
        elif key == "repeat":
            values["recurrence"] = " ".join(raw.split()) or None
        elif key == "dependsOn":
            values["depends_on"] = tuple(i.strip() for i in raw.split(",") if i.strip())
    text = _DATAVIEW.sub(" ", text)
    text = _EMOJI_OTHER.sub(" ", text)
    return TaskLine(text=" ".join(text.split()), bad_dates=bad, far_dates=far, miswritten=miswritten, **values)  # type: ignore[arg-type]


def identity(text: str) -> str:
    """An action's identity without an id: its text with case and runs of white space folded."""
    return " ".join(text.split()).casefold()
