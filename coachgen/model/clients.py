"""Notes -> Model: clients, their published sessions, actions merged by identity, metric series.

Everything here is decided at the build's "today". The model holds only what may be
published for each client; private notes and `client.md` bodies never enter it.
"""

from __future__ import annotations

import bisect
import datetime as dt
import difflib
import math
import pickle
import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Callable

from coachgen.parse import meta, recurrence, tasks
from coachgen.parse.notes import MetricDef, Note, RawValue, adherence
from coachgen.problems import Problem, error, warning
from coachgen.slug import slugify
from coachgen.vault import paths
from coachgen.vault.paths import CLIENTS_DIR, client_folder

CHECKIN_ID = "check-in-"
"""How a check-in's id begins (`check-in-2026-03-20`): never the id of a session."""


@dataclass(frozen=True)
class Session:
    id: str
    date: dt.date
    title: str
    duration: int | float | None
    path: str
    """Vault-relative path of the note."""
    html: str
    """The shared notes, with placeholders for links, embeds and images."""
    actions_set: tuple[str, ...] = ()
    """Keys of the actions first mentioned in this session."""
    actions_touched: tuple[str, ...] = ()
    """Keys of earlier actions this session updated."""
    values: tuple[tuple[str, dt.date, float], ...] = ()
    """(metric key, date, value) recorded in this session."""
    insights: tuple[str, ...] = ()
    future: tuple[str, ...] = ()
    checkin: str | None = None
    """A check-in's id as its client's page made it; None for a session the coach wrote."""

    @property
    def is_checkin(self) -> bool:
        return self.id.startswith(CHECKIN_ID)

    @property
    def url(self) -> str:
        if self.is_checkin:
            return f"check-ins/{self.id.removeprefix(CHECKIN_ID)}/"
        return f"sessions/{self.id}/"

    @property
    def produced_nothing(self) -> bool:
        """Set no action, recorded no metric, captured no insight or future."""
        return not (self.actions_set or self.values or self.insights or self.future)


@dataclass(frozen=True)
class Action:
    key: str
    id: str | None
    text: str
    due: dt.date | None
    done: dt.date | None
    cancelled: dt.date | None
    status: str
    """`done`, `cancelled`, `overdue` or `open` at the build's today."""
    session: str
    """Id of the session the action was set in."""
    priority: str | None = None
    """`highest`, `high`, `medium`, `low`, `lowest`, or None."""
    start: dt.date | None = None
    scheduled: dt.date | None = None
    recurrence: str | None = None
    """Tasks' rule text of a recurring action (a series), else None."""
    depends_on: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    """The texts of the actions this one depends on that are still open or overdue."""
    later: bool = False
    """Open, with a start date after the build's today: shown apart, not among the next steps."""
    history: tuple[Occurrence, ...] = ()
    """A series' occurrences before its current one, by due date."""

    @property
    def on_time(self) -> bool | None:
        if self.done is None:
            return None
        return self.due is None or self.done <= self.due

    @property
    def record(self) -> dict:
        """A series' record: done on time, late, missed, cancelled, and its streak (done on
        time in a row, up to the latest closed occurrence)."""
        counts = {"on_time": 0, "late": 0, "missed": 0, "cancelled": 0, "streak": 0}
        for occ in self.history:
            if occ.status == "done":
                counts["on_time" if occ.on_time else "late"] += 1
            else:
                counts[occ.status] += 1
        for occ in reversed(self.history):
            if occ.status != "done" or not occ.on_time:
                break
            counts["streak"] += 1
        return counts


@dataclass(frozen=True)
class Occurrence:
    """One occurrence of a recurring action, keyed by its due date (None: an undated series)."""

    due: dt.date | None
    status: str
    """`done`, `cancelled` or `missed` (its due date passed, and a later occurrence exists)."""
    date: dt.date | None = None
    """When it was done or cancelled."""

    @property
    def on_time(self) -> bool:
        return self.status == "done" and (self.due is None or self.date is None or self.date <= self.due)


@dataclass(frozen=True)
class Point:
    date: dt.date
    value: float
    """As recorded (a habit's adherence from 0 to 1)."""
    shown: float
    """As charted: the running total for a count, else the value."""
    session: str


@dataclass(frozen=True)
class Metric:
    spec: MetricDef
    points: tuple[Point, ...]

    @property
    def latest(self) -> Point | None:
        return self.points[-1] if self.points else None

    def expected(self, day: dt.date) -> float | None:
        """Where the target path says the charted value should be on `day`."""
        spec = self.spec
        if spec.target is None or spec.by is None or not self.points:
            return None
        start = self.points[0]
        if day >= spec.by or spec.by <= start.date:
            return float(spec.target)
        if day <= start.date:
            return start.shown
        share = (day - start.date).days / (spec.by - start.date).days
        return start.shown + (spec.target - start.shown) * share

    def meets(self, value: float, goal: float) -> bool:
        return value <= goal if self.spec.direction == "down" else value >= goal

    @property
    def pace(self) -> str | None:
        """`ahead` or `behind` the target path at the latest value; None without target and by."""
        latest = self.latest
        expected = self.expected(latest.date) if latest else None
        if latest is None or expected is None:
            return None
        return "ahead" if self.meets(latest.shown, expected) else "behind"

    @property
    def reached(self) -> bool | None:
        latest = self.latest
        if latest is None or self.spec.target is None:
            return None
        return self.meets(latest.shown, float(self.spec.target))

    @property
    def streaks(self) -> tuple[int, int]:
        """A habit's (current, best) run of values that meet its target (or full adherence)."""
        goal = float(self.spec.target) if self.spec.target is not None else 1.0
        current = best = 0
        for point in self.points:
            current = current + 1 if point.value >= goal - 1e-9 else 0
            best = max(best, current)
        return current, best


@dataclass(frozen=True)
class Client:
    folder: str
    name: str
    slug: str
    started: dt.date | None
    next_session: tuple[dt.date, dt.time | None] | None
    goals: tuple[str, ...]
    sessions: tuple[Session, ...]
    actions: tuple[Action, ...]
    metrics: tuple[Metric, ...]
    insights: tuple[tuple[str, str], ...]
    """(text, session id), by session then as written."""
    future: tuple[tuple[str, str], ...]
    engagement: dict = field(default_factory=dict)
    language: str | None = None
    """`language:` in client.md: the site's language where it is not the vault's."""
    checkins: tuple[Session, ...] = ()
    """The client's own updates (`source: check-in`), by date: they tick actions and record
    values like a session, but are no session of the engagement."""
    open_by_choice: bool = False
    """`password: none` in client.md: published without a password where one is required."""

    @property
    def note_paths(self) -> tuple[str, ...]:
        """The paths of the notes its sessions and check-ins were made from: what the privacy
        room and a plan's fingerprint look at, known without reading the sessions."""
        known = self.__dict__.get("_note_paths")
        if known is None:
            known = self.__dict__["_note_paths"] = tuple(s.path for s in self.sessions + self.checkins)
        return known

    def __reduce_ex__(self, protocol):
        """Pickled in two parts: a client read back (from the build cache) reads its sessions,
        actions and games only when something looks at them, so that a build after one edit
        does not read every client's (see `_stored`). With protocol 5 that part is a buffer,
        which the build cache keeps apart and maps rather than reads."""
        state = _state(self)
        if protocol >= 5:
            state["_rest"] = pickle.PickleBuffer(state["_rest"])
        return _stored, (state,)

    if not TYPE_CHECKING:  # hidden from mypy, which would take any attribute for a field

        def __getattr__(self, name: str):
            """Only for a field a client read back has not read yet: all of them, at once."""
            rest = self.__dict__.pop("_rest", None)
            if rest is None:
                raise AttributeError(name)
            self.__dict__.update(pickle.loads(rest))
            return getattr(self, name)

    @property
    def next_session_iso(self) -> str | None:
        if self.next_session is None:
            return None
        day, time = self.next_session
        return day.isoformat() + (f"T{time.strftime('%H:%M')}" if time else "")


HEAVY = ("sessions", "actions", "metrics", "insights", "future", "checkins")
"""A client's fields that hold most of it: pickled apart, and read back on first use."""


def _state(client: Client) -> dict:
    state = dict(client.__dict__)
    if "_rest" in state:  # a client read back and not yet read: its part as it was (bytes, or a mapped view)
        state["_rest"] = bytes(state["_rest"])
    else:
        state["_note_paths"] = client.note_paths
        state["_rest"] = pickle.dumps({name: state.pop(name) for name in HEAVY}, protocol=pickle.HIGHEST_PROTOCOL)
    return state


def _stored(state: dict) -> Client:
    client = object.__new__(Client)
    client.__dict__.update(state)
    return client


@dataclass(frozen=True)
class Model:
    today: dt.date
    clients: tuple[Client, ...]
    problems: tuple[Problem, ...]
    slugs: tuple[str, ...] = ()
    """The slug of every `client.md`, private and clashing ones too (password keys name them)."""
    clashes: tuple[str, ...] = ()
    """Slugs that two clients claim: neither gets a site, and what was built there stays."""


# ---------------------------------------------------------------- building the model



@dataclass
class Grouping:
    """Each client's notes as the last build grouped them, kept by a watcher between builds:
    a save regroups only the notes it changed, where nothing else can have moved."""

    signature: tuple = ()
    notes: dict[str, Note] = field(default_factory=dict)
    members: dict[str, list[Note]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    keys: dict[str, tuple] = field(default_factory=dict)
    """Each folder's members as the memo's key names them, with the list they were read from."""
    profiles: tuple | None = None
    """The clients' profiles as `_profiles` found them, with its problems."""


def build(notes: dict[str, Note], today: dt.date, memo: dict | None = None, grouping: Grouping | None = None,
          changed: set[str] | None = None, whole: Callable[[list[Note]], list[Note]] | None = None) -> Model:
    """Assemble the model from parsed notes (`client.md` and session notes by path).

    `memo`, kept between builds, reuses a client whose notes are the same (by content where
    a note knows its `sha`, else the very same objects) as last time. `grouping`, with the
    paths that `changed` since it was made, lets a build regroup only those notes. `whole`
    gives the notes a client is made from whole, where `notes` holds only what groups them
    (a cache's index does)."""
    problems: list[Problem] = []
    if grouping is not None and changed is not None and grouping.profiles is not None and not any(
            paths.is_profile(path) for path in changed):
        profiles, clashes, found = grouping.profiles  # no client.md changed: the same clients
        problems += found
    else:
        profiles, clashes = _profiles(notes, problems)
        if grouping is not None:
            grouping.profiles = (profiles, clashes, list(problems))
    members = _regrouped(notes, profiles, problems, grouping, changed)
    clients = _clients(profiles, clashes, members, today, memo, problems, grouping, whole)
    slugs = sorted({slug for _, _, slug in profiles.values()})
    return Model(today, tuple(clients), tuple(problems), tuple(slugs), tuple(sorted(clashes)))


def _regrouped(notes: dict[str, Note], profiles: dict[str, tuple[Note, str, str]], problems: list[Problem],
               grouping: Grouping | None, changed: set[str] | None) -> dict[str, list[Note]]:
    """`_members`, patched where the last grouping stands: the same client.md notes, and every
    changed note a plain note of a client's own folder, before and after (no `client:`)."""
    signature = tuple((folder, id(profile)) for folder, (profile, _, _) in sorted(profiles.items()))
    if grouping is None:
        return _members(notes, profiles, problems)
    if changed is None or grouping.signature != signature or not all(
            _plain(path, notes.get(path), profiles) and _plain(path, grouping.notes.get(path), profiles)
            for path in changed):
        found: list[Problem] = []
        grouping.members = _members(notes, profiles, found)
        grouping.signature, grouping.problems = signature, found
    else:
        members = dict(grouping.members)
        for path in sorted(changed):
            folder = client_folder(path)
            assert folder is not None  # _plain: a note of a client's folder
            kept = [n for n in members[folder] if n.path != path]
            note = notes.get(path)
            if note is not None and note.ok and not note.private:
                bisect.insort(kept, note, key=lambda n: n.path)
            members[folder] = kept
        grouping.members = members
    grouping.notes = notes
    problems += grouping.problems
    return grouping.members


def _plain(path: str, note: Note | None, profiles: dict[str, tuple[Note, str, str]]) -> bool:
    """A note (or none) that can only belong to its own folder's client, and raises no problem there."""
    folder = client_folder(path)
    return (folder in profiles and not paths.is_profile(path)
            and (note is None or not note.client_ref))


def _members(notes: dict[str, Note], profiles: dict[str, tuple[Note, str, str]],
             problems: list[Problem]) -> dict[str, list[Note]]:
    """Each client's published notes by folder, so that every client is assembled from its own notes only."""
    by_ref = _references(profiles)
    members: dict[str, list[Note]] = {folder: [] for folder in profiles}
    warned_folders: set[str] = set()
    ending = "/" + paths.PROFILE
    profiled = {client_folder(path) for path in notes if path.endswith(ending) and paths.is_profile(path)}
    for path, note in sorted(notes.items()):
        if not note.ok or (path.endswith(ending) and paths.is_profile(path)):
            continue
        folder = client_folder(path) if not note.client_ref else None
        if folder in profiled:  # the common case, decided at once: a note in its own client's folder
            target = folder
        else:
            target = _owner(path, note, notes, by_ref, warned_folders, problems)
        if target in members and not note.private:
            members[target].append(note)
    return members


def _references(profiles: dict[str, tuple[Note, str, str]]) -> dict[str, set[str]]:
    """Name, slug and folder (casefolded) -> the folders they fit, so a `client:` is matched whole, never guessed."""
    by_ref: dict[str, set[str]] = {}
    for folder, (_note, name, slug) in profiles.items():
        for ref in (name, slug, folder):
            by_ref.setdefault(ref.casefold(), set()).add(folder)
    return by_ref


def _owner(path: str, note: Note, notes: dict[str, Note], by_ref: dict[str, set[str]], warned_folders: set[str],
           problems: list[Problem]) -> str | None:
    """The folder of the client a note belongs to, or None, so that a note never joins a client it does not name."""
    target = None
    if note.client_ref:
        target = _referenced(path, note, note.client_ref, by_ref, problems)
        if target is None:
            return None
    folder = client_folder(path)
    if folder is None:
        return target
    if not notes.get(paths.profile(folder)):
        if folder not in warned_folders:
            warned_folders.add(folder)
            problems.append(warning(path, 1, f"'{CLIENTS_DIR}/{folder}' has no client.md, "
                                             "so its notes are not published"))
        return None
    if target is not None and target != folder:
        problems.append(error(path, note.client_line, "'client' names another client than the folder the note is in"))
        return None
    return folder


def _referenced(path: str, note: Note, ref: str, by_ref: dict[str, set[str]], problems: list[Problem]) -> str | None:
    """The one client `client:` names, or None with an error: a reference that fits two clients is never guessed."""
    found = by_ref.get(ref.casefold(), set())
    if not found:
        problems.append(error(path, note.client_line, "'client' names no client of this vault"))
        return None
    if len(found) > 1:
        problems.append(error(path, note.client_line, "'client' fits more than one client ("
                              + ", ".join(f"{CLIENTS_DIR}/{f}" for f in sorted(found))
                              + "); write the folder name of the one you mean"))
        return None
    return next(iter(found))


def _clients(profiles: dict[str, tuple[Note, str, str]], clashes: set[str], members: dict[str, list[Note]],
             today: dt.date, memo: dict | None, problems: list[Problem],
             grouping: Grouping | None = None,
             whole: Callable[[list[Note]], list[Note]] | None = None) -> list[Client]:
    """Every published client in slug order, reused from `memo` where its notes are unchanged, to skip rebuilding it."""
    clients = []
    previous = dict(memo) if memo is not None else {}
    if memo is not None:
        memo.clear()
    before = {key[0]: client for key, (client, _) in previous.items()}
    for folder, (profile, name, slug) in sorted(profiles.items(), key=lambda kv: kv[1][2]):
        if profile.private or slug in clashes:
            continue
        key = (folder, name, slug, profile.sha or id(profile), _notes_key(folder, members[folder], grouping), today)
        found: list[Problem]
        if key in previous:
            client, found = previous[key]
        else:
            found = []
            notes = whole(members[folder]) if whole is not None else members[folder]
            client = _client(folder, profile, name, slug, notes, today, found, before.get(folder))
        if memo is not None:
            memo[key] = (client, found)
        problems += found
        clients.append(client)
    return clients


def _notes_key(folder: str, notes: list[Note], grouping: Grouping | None) -> tuple:
    """A client's notes by path and content, made again only for a list it was not made from."""
    known = grouping.keys.get(folder) if grouping is not None else None
    if known is not None and known[0] is notes:
        return known[1]
    key = tuple((n.path, n.sha or id(n)) for n in notes)
    if grouping is not None:
        grouping.keys[folder] = (notes, key)
    return key


def _profiles(notes: dict[str, Note], problems: list[Problem]) -> tuple[dict[str, tuple[Note, str, str]], set[str]]:
    """Each usable `client.md` by folder, with its name and slug, and the slugs that two or
    more of them claim: those clients get no site at all, never one at the other's address."""
    found: dict[str, tuple[Note, str, str]] = {}
    claims: dict[str, list[str]] = {}
    for path in sorted(p for p in notes if p.endswith("/" + paths.PROFILE)):
        folder, note = client_folder(path), notes[path]
        if folder is None or not paths.is_profile(path) or not note.ok:
            continue
        name = note.name or folder
        slug = slugify(note.slug) if note.slug else slugify(folder)
        if not slug:
            problems.append(error(path, 1, "the client's slug is empty: give 'slug:' letters or digits"))
            continue
        claims.setdefault(slug, []).append(path)
        found[folder] = (note, name, slug)
    clashes = {slug for slug, paths in claims.items() if len(paths) > 1}
    for slug in sorted(clashes):
        for path in claims[slug]:
            others = ", ".join(p for p in claims[slug] if p != path)
            line = notes[path].slug_line
            problems.append(error(path, line, f"two clients on slug '{slug}' (the other is {others}): neither gets a "
                                              "site until one has a slug of its own ('slug:' in client.md)"))
    return found, clashes



def _session_ids(notes: list[Note]) -> dict[str, str]:
    """The date alone, so that an address never changes with a title; of two sessions on
    one date, the later by path gets -2, then -3..."""
    ids: dict[str, str] = {}
    taken: set[str] = set()
    for note in sorted(notes, key=lambda n: n.path):
        # parse dates every session note but one with an empty `date:`, which has always failed here
        assert note.date is not None
        day = note.date.isoformat()
        candidate, n = day, 1
        while candidate in taken:
            n += 1
            candidate = f"{day}-{n}"
        taken.add(candidate)
        ids[note.path] = candidate
    return ids


class _Open:
    """An action while its mentions are merged. A recurring one (a series) also keeps its
    occurrences by due date: (status, done or cancelled date)."""

    def __init__(self, key: str, text: str, ident: str | None, session: str):
        self.key, self.text, self.id, self.session = key, text, ident, session
        self.due: dt.date | None = None
        self.done: dt.date | None = None
        self.cancelled: dt.date | None = None
        self.priority: str | None = None
        self.start: dt.date | None = None
        self.scheduled: dt.date | None = None
        self.rule: str | None = None
        self.depends_on: tuple[str, ...] = ()
        self.occ: dict = {}
        self.undated: list[tuple[str, dt.date | None]] = []
        """An undated series' closed occurrences (Tasks writes the next one without a date)."""

    def current(self) -> dt.date | None:
        """The due date of the series' current occurrence: its latest written one while that
        is open (or cancelled: the series ends), else the next from the rule."""
        dated = [k for k in self.occ if k is not None]
        if not dated:
            return None
        latest = max(dated)
        status, day = self.occ[latest]
        if status != "done" or not self.rule:
            return latest
        rule = recurrence.parse(self.rule)
        return rule.after(day or latest if rule.when_done else latest) if rule else latest

    def occur(self, due: dt.date | None, status: str | None, day: dt.date | None, note_date: dt.date | None) -> None:
        key = due if due is not None else self.current() if self.rule else self.due
        if key is None and self.rule and status in ("done", "cancelled"):
            self.undated.append((status, day or note_date))
            if status == "done":  # as Tasks writes it: the next occurrence is undated and open
                self.occ[None] = ("open", None)
                return
        before = self.occ.get(key)
        if status == "open" or (status is None and before is None):
            self.occ[key] = ("open", None)
        elif status in ("done", "cancelled"):
            self.occ[key] = (status, day or (before[1] if before and before[0] == status else None) or note_date)

    def state(self) -> tuple:
        closed = tuple(sorted((k, v) for k, v in self.occ.items() if k is not None and v[0] != "open"))
        shared = (self.id, self.priority, self.start, self.scheduled, self.rule, self.depends_on)
        if self.rule:  # a series changes with its occurrences, not with the latest line's dates
            return shared + (closed, tuple(self.undated), self.current())
        return shared + (self.due, self.done, self.cancelled)


class _Actions:
    """A client's actions while their mentions are merged, note by note in date order."""

    def __init__(self):
        self.all: dict[str, _Open] = {}
        self.by_id: dict[str, _Open] = {}
        self.by_text: dict[str, _Open] = {}

    def merge(self, note: Note, sid: str, problems: list[Problem]) -> tuple[list[str], list[str], bool]:
        """Apply a note's mentions: the keys of the actions it set, of those it touched, and
        whether it changed anything (a new action, a status, a due date, an id)."""
        set_here, touched, changed = [], [], False
        for mention in note.mentions:
            action = self.by_id.get(mention.id) if mention.id else None
            if action is None and mention.text:
                action = self.by_text.get(tasks.identity(mention.text))
            if action is None:
                changed = True  # a new action, or a mention the coach must hear about
                if not mention.text:
                    problems.append(warning(note.path, mention.line, "an action's id matches no earlier action "
                                                                     "(and it has no text); ignored"))
                    continue
                key = mention.id or tasks.identity(mention.text)
                action = self.all[key] = _Open(key, mention.text, mention.id, sid)
                self.by_text.setdefault(tasks.identity(mention.text), action)
                set_here.append(key)
            elif action.key not in set_here and action.key not in touched:
                touched.append(action.key)
            before = action.state()
            if mention.id and action.id is None:
                action.id = mention.id
            if action.id:
                self.by_id.setdefault(action.id, action)
            for name in ("priority", "start", "scheduled", "depends_on"):
                if getattr(mention, name):
                    setattr(action, name, getattr(mention, name))
            if mention.recurrence:
                action.rule = mention.recurrence
            action.occur(mention.due, mention.status, mention.status_date, note.date)
            if mention.due:
                action.due = mention.due
            if mention.status == "open":
                action.done = action.cancelled = None
            elif mention.status == "done":
                action.done = mention.status_date or action.done or note.date
                action.cancelled = None
            elif mention.status == "cancelled":
                action.cancelled = mention.status_date or action.cancelled or note.date
                action.done = None
            changed |= action.state() != before
        return set_here, touched, changed


UNFILLED = ("prepared by 'coachgen new session' and not written in yet, so it is not on the client's site: "
            "it is published once it has a title, text, a value, an insight or a changed action")


def _unfilled(notes: list[Note]) -> set[str]:
    """The prepared notes nobody has written in (see `Note.prepared`): those whose task lines,
    merged in order with the client's other notes, change no action."""
    if not any(note.prepared for note in notes):
        return set()
    actions, found = _Actions(), set()
    for note in notes:
        if not actions.merge(note, "", [])[2] and note.prepared:
            found.add(note.path)
    return found


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


def _unique(texts) -> list[str]:
    """Each text once (case and runs of white space aside), as first written."""
    first: dict[str, str] = {}
    for text in texts:
        first.setdefault(_fold(text), text)
    return list(first.values())


def _client(folder, profile: Note, name, slug, notes: list[Note], today, problems,
            before: Client | None = None) -> Client:
    """The client from its notes; a session equal to one of the client as `before` it is that
    very object, so that what was made of it last time (its key, its page) is found again."""
    notes = sorted(notes, key=lambda n: (n.date, n.path))
    known = {s.path: s for s in before.sessions + before.checkins} if before is not None else {}
    waiting = _unfilled(notes)  # before ids are given: a note that is not published takes none
    problems += [warning(path, 1, UNFILLED) for path in sorted(waiting)]
    notes = [note for note in notes if note.path not in waiting]
    ids = _session_ids([n for n in notes if n.source != "check-in"])
    ids |= {path: CHECKIN_ID + sid for path, sid in _session_ids([n for n in notes if n.source == "check-in"]).items()}
    defs = {m.key: m for m in profile.metrics}
    profile_path = paths.profile(folder)

    actions = _Actions()
    series: dict[str, dict[dt.date, tuple[float, str, str, int]]] = {}
    sessions, checkins = [], []
    insights, future = [], []
    seen_insights: set[str] = set()
    for note in notes:
        sid = ids[note.path]
        assert note.date is not None  # _session_ids has dated every note
        set_here, touched, _ = actions.merge(note, sid, problems)
        values = []
        for raw in note.values:
            spec = defs.get(raw.key)
            if spec is None:
                spec = defs[raw.key] = MetricDef(raw.key, raw.key, None, "number", None, None, "up", 10, defined=False)
                # a metric key is the coach's own field name: naming the one meant repeats no note
                meant = difflib.get_close_matches(raw.key, [m.key for m in profile.metrics], n=1)
                hint = f"; did you mean '{meant[0]}'?" if meant else ""
                problems.append(warning(note.path, raw.line, f"metric '{raw.key}' is not defined in {profile_path}; "
                                                             f"tracked as a number{hint}"))
            value = _value(spec, raw, note.path, problems)
            if value is not None:
                day = raw.date or note.date
                series.setdefault(raw.key, {})[day] = (value, sid, note.path, raw.line)
                values.append((raw.key, day, value))
        # an insight written twice (in `insights:` and in a callout, or in two sessions) is shown
        # once: per session, and in the client's list where it first appeared
        mine = _unique(i.text for i in note.insights)
        insights += [(text, sid) for text in mine if _fold(text) not in seen_insights]
        seen_insights.update(map(_fold, mine))
        future += [(i.text, sid) for i in note.future]
        session = Session(
            id=sid,
            date=note.date,
            title=note.title,
            duration=note.duration,
            path=note.path,
            html=note.html,
            actions_set=tuple(set_here),
            actions_touched=tuple(touched),
            values=tuple(values),
            insights=tuple(mine),
            future=tuple(i.text for i in note.future),
            checkin=note.checkin,
        )
        if (same := known.get(note.path)) is not None and same == session:
            session = same
        if session.is_checkin:
            checkins.append(session)
            continue
        if session.produced_nothing:
            problems.append(warning(note.path, 1, "the session set no action, recorded no metric and captured no "
                                                  "insight or future: a progress update, not a milestone"))
        sessions.append(session)

    ordered_defs = list(profile.metrics) + sorted((d for d in defs.values() if not d.defined), key=lambda d: d.key)
    return Client(
        folder=folder,
        name=name,
        slug=slug,
        started=profile.started,
        next_session=profile.next_session,
        goals=profile.goals,
        sessions=tuple(sessions),
        actions=_same(_with_dependencies(sorted((_freeze(a, today) for a in actions.all.values()), key=_action_order)),
                      before.actions if before is not None else ()),
        metrics=tuple(_metric(spec, series.get(spec.key, {}), problems) for spec in ordered_defs),
        insights=tuple(insights),
        future=tuple(future),
        engagement=profile.engagement,
        checkins=tuple(checkins),
        language=profile.language,
        open_by_choice=profile.password == "none",
    )


def _same(actions: tuple[Action, ...], before: tuple[Action, ...]) -> tuple[Action, ...]:
    """Each action that equals its namesake of the client as it was before: that very object."""
    known = {a.key: a for a in before}
    return tuple(old if (old := known.get(a.key)) is not None and old == a else a for a in actions)


def _action_order(action: Action):
    """By due date; within one, by priority (Tasks' order), then by text."""
    return (action.due is None, action.due or dt.date.min, tasks.PRIORITY_RANK[action.priority],
            action.text.casefold(), action.key)


def _with_dependencies(actions: list[Action]) -> tuple[Action, ...]:
    """Each action's `after`: the texts of the actions it depends on that are still open."""
    by_id = {a.id: a for a in actions if a.id}
    done = []
    for a in actions:
        after = tuple(by_id[i].text for i in a.depends_on
                      if i in by_id and by_id[i] is not a and by_id[i].status in ("open", "overdue"))
        done.append(replace(a, after=after) if after else a)
    return tuple(done)


def _freeze(a: _Open, today: dt.date) -> Action:
    if a.rule:
        return _freeze_series(a, today)
    if a.done:
        status = "done"
    elif a.cancelled:
        status = "cancelled"
    elif a.due is not None and a.due < today:
        status = "overdue"
    else:
        status = "open"
    later = status == "open" and a.start is not None and a.start > today
    return Action(a.key, a.id, a.text, a.due, a.done, a.cancelled, status, a.session, a.priority, a.start,
                  a.scheduled, None, a.depends_on, later=later)


def _freeze_series(a: _Open, today: dt.date) -> Action:
    """A recurring action: its current occurrence, and the earlier ones as its history."""
    current = a.current()
    history = [Occurrence(None, status, day) for status, day in a.undated]
    for due in sorted(k for k in a.occ if k is not None):
        status, day = a.occ[due]
        if due == current:
            continue
        history.append(Occurrence(due, "missed" if status == "open" else status, day))
    state, day = a.occ.get(current, ("open", None))
    done = cancelled = None
    if current is None and a.occ.get(None) is None and any(k is not None for k in a.occ):
        state, day = "done", history[-1].date if history else None  # the rule has no next occurrence
    if state == "done":
        status, done = "done", day
    elif state == "cancelled":
        status, cancelled = "cancelled", day
    else:
        status = "overdue" if current is not None and current < today else "open"
    start, scheduled = a.start, a.scheduled
    written = max((k for k in a.occ if k is not None), default=None)
    if current is not None and written is not None and current != written:
        # a computed occurrence keeps its dates' distance to the due date, as Tasks writes it
        shift = current - written
        start = start + shift if start and start <= written else start
        scheduled = scheduled + shift if scheduled and scheduled <= written else scheduled
    later = status == "open" and start is not None and start > today
    return Action(a.key, a.id, a.text, current, done, cancelled, status, a.session, a.priority, start, scheduled,
                  a.rule, a.depends_on, later=later, history=tuple(history))


_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _value(spec: MetricDef, raw: RawValue, path: str, problems: list[Problem]) -> float | None:
    """A recorded value judged by its metric's kind; a bad one is an error and is left out."""
    what = f"metric '{raw.key}'"
    if spec.kind == "habit":
        value = adherence(raw.tag, raw.text)
        if value is None:
            problems.append(error(path, raw.line, f"{what} is a habit: write true, false, or days like 5/7"))
        return value
    text = raw.text.strip().replace("_", "")
    if raw.tag == "bool" or not _DECIMAL.fullmatch(text):
        problems.append(error(path, raw.line, f"{what} must be a number (use a dot for decimals)"))
        return None
    value = meta.finite(text)
    if value is None:  # `1e999`: an infinity would break the series, its chart and data.json
        problems.append(error(path, raw.line, f"{what} is too large a number; the value is left out"))
        return None
    value = meta.whole(value, text)
    if spec.kind == "rating" and not 1 <= value <= spec.scale:
        problems.append(error(path, raw.line, f"{what} is a rating from 1 to its 'scale' in client.md"))
        return None
    return value


def _metric(spec: MetricDef, values: dict[dt.date, tuple[float, str, str, int]],
            problems: list[Problem] | None = None) -> Metric:
    points: list[Point] = []
    total: float = 0
    for day in sorted(values):
        value, sid, path, line = values[day]
        if spec.kind == "count" and not math.isfinite(total + value):
            # each value is finite, but a count's running total may still overflow
            if problems is not None:
                problems.append(error(path, line, f"metric '{spec.key}': the running total would be too large a "
                                                  "number; the value is left out"))
            continue
        total += value
        points.append(Point(day, value, total if spec.kind == "count" else value, sid))
    return Metric(spec, tuple(points))
