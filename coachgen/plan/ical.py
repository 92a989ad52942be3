"""iCalendar (RFC 5545) feeds: the few properties coachgen's calendars use, written directly.

The icalendar library builds the same text through an object per property and took about
0.16 s a feed at 500 actions, most of a large practice's build. It still writes each
timezone's VTIMEZONE (the part worth a library), and the tests read every feed back with it.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

LIMIT = 75
UTC_NAMES = {"UTC", "Etc/UTC", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu", "Etc/UCT", "UCT"}
"""Zones icalendar writes as UTC times (a trailing Z) with no VTIMEZONE."""


def text(value: str) -> str:
    """A TEXT value (RFC 5545 3.3.11): backslash, semicolon, comma and line breaks escaped."""
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return value.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")


def fold(line: str) -> str:
    """Lines of at most 75 octets, continued after CRLF and a space, never inside a character
    or between a backslash and what it escapes."""
    if len(line.encode()) < LIMIT:
        return line
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for char in line:
        width = len(char.encode())
        if current and size + width >= LIMIT:
            carry = [current.pop()] if len(current) > 1 and current[-1] in "\\^" else []
            parts.append("".join(current))
            current, size = carry, sum(len(c.encode()) for c in carry)
        current.append(char)
        size += width
    parts.append("".join(current))
    return "\r\n ".join(parts)


def date(value: dt.date) -> str:
    return value.strftime("%Y%m%d")


def utc(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def local(value: dt.datetime) -> str:
    return value.strftime("%Y%m%dT%H%M%S")


@lru_cache(maxsize=8)
def vtimezone(tzid: str) -> str:
    """The zone's VTIMEZONE component (its offsets and transitions), from icalendar."""
    from icalendar import Timezone  # imported here: most builds write no timed session

    return Timezone.from_tzid(tzid).to_ical().decode("utf-8")


def calendar(name: str, events: list[list[tuple[str, str]]], tzids: tuple[str, ...] = ()) -> bytes:
    """A VCALENDAR of events, each a list of (name with parameters, value already formatted).
    The calendar's name is written as icalendar and calendar apps write it, unescaped (a
    name's line breaks become spaces)."""
    name = name.replace("\r", " ").replace("\n", " ")
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//coachgen//coachgen//EN", f"X-WR-CALNAME:{name}"]
    head = "\r\n".join(fold(line) for line in lines) + "\r\n" + "".join(vtimezone(t) for t in tzids)
    body = []
    for event in events:
        body.append("BEGIN:VEVENT")
        body += [fold(f"{key}:{value}") for key, value in event]
        body.append("END:VEVENT")
    body.append("END:VCALENDAR")
    return (head + "\r\n".join(body) + "\r\n").encode("utf-8")
