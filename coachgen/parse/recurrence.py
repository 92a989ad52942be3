"""Tasks' recurrence rule text (`every week`, `every month on the 3rd when done`) -> an rrule.

The Tasks plugin reads its rule with rrule.js's `fromText`; this reads the forms its
documentation gives (`docs/Getting Started/Recurring Tasks.md`) into python-dateutil's rrule,
and the next occurrence is always the rule library's, never our own arithmetic. A rule this
cannot read is None: the caller warns and keeps the action as a one-off.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

from dateutil import rrule as rr

_Freq = Literal[0, 1, 2, 3, 4, 5, 6]
"""An rrule frequency constant (rr.YEARLY ... rr.SECONDLY)."""
_Weekday = tuple[int, int | None]
"""(weekday 0-6, nth in the month or None)."""

_FREQ: dict[str, _Freq] = {"day": rr.DAILY, "week": rr.WEEKLY, "month": rr.MONTHLY, "year": rr.YEARLY}
_FREQ_NAME = {rr.DAILY: "DAILY", rr.WEEKLY: "WEEKLY", rr.MONTHLY: "MONTHLY", rr.YEARLY: "YEARLY"}
_DAYS = {name: i for i, name in enumerate(["monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
                                           "sunday"])}
_DAY_CODES = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
_MONTHS = {name: i + 1 for i, name in enumerate(["january", "february", "march", "april", "may", "june", "july",
                                                 "august", "september", "october", "november", "december"])}
_ORDINAL = re.compile(r"^(\d{1,2})(?:st|nd|rd|th)?$")
_WORDS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5}


@dataclass(frozen=True)
class Rule:
    text: str
    """The rule as written, white space folded (`every week on Sunday`)."""
    freq: _Freq
    interval: int = 1
    weekdays: tuple[_Weekday, ...] = ()
    """(weekday 0-6, nth in the month or None)."""
    monthdays: tuple[int, ...] = ()
    months: tuple[int, ...] = ()
    when_done: bool = False

    @property
    def has_day(self) -> bool:
        return bool(self.weekdays or self.monthdays)

    def rrule(self, start: dt.date) -> rr.rrule:
        weekdays = [rr.weekday(d, n) for d, n in self.weekdays] or None
        return rr.rrule(self.freq, dtstart=dt.datetime.combine(start, dt.time()), interval=self.interval,
                        byweekday=weekdays, bymonthday=self.monthdays or None, bymonth=self.months or None)

    def after(self, reference: dt.date) -> dt.date | None:
        """The next occurrence after `reference` (a due date, or the done date `when done`).

        As Tasks does: a monthly or yearly rule that names no day keeps the reference's day
        and, where a month is too short (`every month` from 31 January), moves back to its
        last day; a rule that names the day (`every month on the 31st`) skips such months."""
        if self.freq in (rr.MONTHLY, rr.YEARLY) and not self.has_day:
            days = tuple(range(28, reference.day + 1)) if reference.day > 28 else (reference.day,)
            months = self.months or ((reference.month,) if self.freq == rr.YEARLY else None)
            rule = rr.rrule(self.freq, dtstart=dt.datetime.combine(reference, dt.time()), interval=self.interval,
                            bymonth=months, bymonthday=days, bysetpos=-1 if len(days) > 1 else None)
        else:
            rule = self.rrule(reference)
        found = rule.after(dt.datetime.combine(reference, dt.time()))
        return found.date() if found else None

    def ical(self) -> str:
        """The RRULE value (RFC 5545 3.3.10)."""
        parts = [f"FREQ={_FREQ_NAME[self.freq]}"]
        if self.interval != 1:
            parts.append(f"INTERVAL={self.interval}")
        if self.months:
            parts.append("BYMONTH=" + ",".join(map(str, self.months)))
        if self.monthdays:
            parts.append("BYMONTHDAY=" + ",".join(map(str, self.monthdays)))
        if self.weekdays:
            parts.append("BYDAY=" + ",".join(f"{n if n else ''}{_DAY_CODES[d]}" for d, n in self.weekdays))
        return ";".join(parts)


def _number(word: str) -> int | None:
    if word in ("last",):
        return -1
    if word in _WORDS:
        return _WORDS[word]
    m = _ORDINAL.match(word)
    return int(m.group(1)) if m else None


def _split(text: str) -> list[str]:
    return [w for w in re.split(r"\s*(?:,|\band\b)\s*|\s+", text) if w]


def parse(text: str) -> Rule | None:
    """Tasks' rule text -> Rule, or None where it is not one Tasks' documentation gives."""
    folded = " ".join(text.replace(",", ", ").split()).casefold().rstrip(" ,;.")
    shown = " ".join(text.split()).rstrip(" ,;.")
    when_done = folded.endswith(" when done")
    if when_done:
        folded = folded[: -len(" when done")]
    m = re.fullmatch(r"every\s+(.*)", folded)
    if not m:
        return None
    counted = _interval(re.sub(r"^other\s+", "2 ", m.group(1)))
    if counted is None:
        return None
    interval, rest = counted
    head, _, tail = rest.partition(" on ")
    head, tail = head.strip(), tail.strip()
    named = _frequency(_split(head), interval, tail)
    if named is None:
        return None
    freq, weekdays, months = named
    monthdays: list[int] = []
    if tail:  # the head fixed no day where a tail may follow: the tail's days are the rule's
        days = _on(_split(tail), freq)
        if days is None:
            return None
        weekdays, monthdays = days
    return Rule(shown, freq, interval, tuple(weekdays), tuple(monthdays), tuple(months), when_done)


def _interval(rest: str) -> tuple[int, str] | None:
    """`3 weeks` -> (3, 'weeks'), no count -> 1; None past 1 to 1000, so a rule never runs away."""
    m = re.match(r"(\d+)\s+(.*)", rest)
    if not m:
        return 1, rest
    interval = int(m.group(1))
    if interval < 1 or interval > 1000:
        return None
    return interval, m.group(2)


def _frequency(words: list[str], interval: int, tail: str) -> tuple[_Freq, list[_Weekday], list[int]] | None:
    """The head's frequency, with the weekdays or months it names, so a tail only ever narrows it."""
    if not words:
        return None
    unit = words[0].rstrip("s") if words[0] not in _DAYS and words[0] not in _MONTHS else None
    if unit in _FREQ and len(words) == 1:
        return _FREQ[unit], [], []
    if unit == "weekday" and len(words) == 1 and not tail:
        return rr.WEEKLY, [(d, None) for d in range(5)], []
    if all(w.rstrip("s") in _DAYS for w in words) and interval == 1 and not tail:
        return rr.WEEKLY, [(_DAYS[w.rstrip("s")], None) for w in words], []
    if all(w in _MONTHS for w in words) and interval == 1:
        return rr.YEARLY, [], [_MONTHS[w] for w in words]
    return None


def _on(parts: list[str], freq: _Freq) -> tuple[list[_Weekday], list[int]] | None:
    """The (weekdays, days of the month) an `on ...` tail names, None where `freq` cannot take them."""
    if parts and parts[0] == "the":
        parts = parts[1:]
    parts = [p for p in parts if p != "the"]
    if not parts:
        return None
    if all(p.rstrip("s") in _DAYS for p in parts) and freq == rr.WEEKLY:
        return [(_DAYS[p.rstrip("s")], None) for p in parts], []
    if freq in (rr.MONTHLY, rr.YEARLY):
        return _days_of_month(parts)
    return None


def _days_of_month(parts: list[str]) -> tuple[list[_Weekday], list[int]] | None:
    """`the 1st and 24th`, `the last`, `the last Friday`, `the 2nd last Friday`, read as Tasks reads them."""
    weekdays: list[_Weekday] = []
    monthdays: list[int] = []
    i = 0
    while i < len(parts):
        n = _number(parts[i])
        if n is None:
            return None
        if i + 1 < len(parts) and parts[i + 1] == "last" and n > 0:
            n, i = -n, i + 1
        if i + 1 < len(parts) and parts[i + 1].rstrip("s") in _DAYS:
            if not 1 <= abs(n) <= 5:
                return None
            weekdays.append((_DAYS[parts[i + 1].rstrip("s")], n))
            i += 2
        else:
            if not 1 <= abs(n) <= 31:
                return None
            monthdays.append(n)
            i += 1
    return weekdays, monthdays
