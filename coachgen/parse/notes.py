"""One file -> Note: front-matter, HTML, actions, metric values, insights and problems.

A parse knows no other note: whatever needs the rest of the vault (which client a
note belongs to, link targets, metric kinds) is left for `model.py` and `pages.py`.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import re
from dataclasses import dataclass, field, replace

import yaml

from coachgen.parse import markdown, meta, recurrence, tasks
from coachgen.parse.meta import FieldError
from coachgen.problems import Problem, error, warning

# ---------------------------------------------------------------- the parsed shapes


@dataclass(frozen=True)
class MetricDef:
    key: str
    label: str
    unit: str | None
    kind: str
    """`number`, `count`, `rating` or `habit`."""
    target: float | int | None
    by: dt.date | None
    direction: str
    scale: int
    defined: bool = True
    """False for a key that sessions record but `client.md` does not define."""


@dataclass(frozen=True)
class RawValue:
    """A metric value as written: YAML tag name and text, judged later by the metric's kind."""

    key: str
    date: dt.date | None
    """None: the session's own date."""
    tag: str
    text: str
    line: int


@dataclass(frozen=True)
class Mention:
    """One mention of an action in a note; it states only the fields it names."""

    text: str | None
    id: str | None
    due: dt.date | None
    status: str | None
    """`open`, `done`, `cancelled`, or None where the mention states no status."""
    status_date: dt.date | None
    line: int
    priority: str | None = None
    start: dt.date | None = None
    scheduled: dt.date | None = None
    recurrence: str | None = None
    """Tasks' rule text, only where `recurrence.parse` reads it (a rule it cannot read is warned of)."""
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class Item:
    text: str
    line: int


@dataclass(frozen=True)
class Note:
    path: str
    problems: tuple[Problem, ...]
    ok: bool
    """False where an error keeps the note off every site."""
    client_ref: str | None = None
    """`client:` from front-matter, wikilink brackets removed."""
    client_line: int = 1
    private: bool = False
    # session notes
    date: dt.date | None = None
    title: str = ""
    duration: int | float | None = None
    html: str = ""
    mentions: tuple[Mention, ...] = ()
    values: tuple[RawValue, ...] = ()
    insights: tuple[Item, ...] = ()
    future: tuple[Item, ...] = ()
    # client.md
    name: str | None = None
    slug: str | None = None
    started: dt.date | None = None
    next_session: tuple[dt.date, dt.time | None] | None = None
    goals: tuple[str, ...] = ()
    metrics: tuple[MetricDef, ...] = ()
    engagement: dict = field(default_factory=dict)
    slug_line: int = 1
    language: str | None = None
    """The client's site's language code (`de`), where it is not the vault's."""
    language_line: int = 1
    password: str | None = None
    """`none`: the client's site is published without a password, by the coach's choice;
    `invalid`: something else was written there (fail closed); None: not said."""
    email: str | None = None
    """The client's address, for `coachgen digest --send` only: never published."""
    email_line: int = 1
    sha: str = ""
    """The SHA-256 of the file as read, where the reader knows it (a model's memo key)."""
    source: str = "session"
    """`session`, or `check-in`: written from the client's update (see checkin.py)."""
    checkin: str | None = None
    """A check-in's id, as its client's page made it: the page then shows it as received."""
    prepared: bool = False
    """A session note `coachgen new session` prepared (its PREPARED comment is there) that,
    as far as the note alone tells, nobody has written in yet: no title, no metric value,
    insight or future, and nothing in its body but headings and task lines. The model keeps
    it off the client's site unless one of its task lines changes an action (the review
    list it was prepared with restates open actions as they are)."""


CLIENT_KEYS = {"name", "slug", "started", "next_session", "goals", "metrics", "private", "engagement", "language"}
SESSION_KEYS = {"date", "title", "duration", "private", "actions", "metrics", "insights", "future", "client",
                "source", "checkin"}
SOURCES = ("session", "check-in")
"""`source:` of a note in a client's folder: a session (the default), or a check-in that
`coachgen checkins` wrote from the client's own update."""
PROFILE_KEYS = CLIENT_KEYS | {"password", "email"}
"""Every key client.md may have (`password` and `email` are never published)."""
ACTION_KEYS = {"text", "id", "due", "done", "cancelled", "priority", "start", "scheduled", "repeat", "depends_on"}
SETTINGS = {"label", "unit", "kind", "target", "by", "direction", "scale"}
"""A metric's settings in client.md."""
ENGAGEMENT_KEYS = {"sessions", "from", "until"}
KINDS = ("number", "count", "rating", "habit")
PREPARED = "%% coachgen: prepared"
"""How the comment that `coachgen new session` puts in a note it prepares begins."""
_PREPARED = re.compile(r"^" + re.escape(PREPARED) + r"\b", re.MULTILINE)
_LEADING_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})[\s_.-]*")
_MAY_NAME_CLIENT = re.compile(r"client['\"]?\s*:", re.IGNORECASE)
"""A cheap first test for a note outside `clients/`: most of the coach's own notes never
write `client:` anywhere, and are skipped without parsing. Only a `client` key of the
front-matter joins a note to a client; a line of the body never does."""


# ---------------------------------------------------------------- reading text


def decode(path: str, data: bytes) -> tuple[str | None, Problem | None]:
    """UTF-8 (a BOM allowed), LF or CRLF or CR; NUL becomes U+FFFD so it can never forge a placeholder."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return None, error(path, line, "not UTF-8 text (save the file as UTF-8)")
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "\ufffd")
    return text, None


def strip_controls(text: str) -> str:
    """Titles and labels lose control and bidirectional-override characters."""
    return re.sub(r"[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069\ud800-\udfff]", "", text)


# ---------------------------------------------------------------- the entry point


def parse_note(path: str, data: bytes, *, is_client: bool, in_client_folder: bool, allow_html: bool) -> Note | None:
    """Parse a file. None for a note outside `clients/` that names no client: the coach's own."""
    text, problem = decode(path, data)
    if text is None:
        if not is_client and not in_client_folder:
            return None
        assert problem is not None  # decode gives a problem exactly where it gives no text
        return Note(path, (problem,), ok=False)
    outside = not in_client_folder and not is_client
    if outside and not _MAY_NAME_CLIENT.search(text):
        return None
    if not text.strip():
        return Note(path, (error(path, 1, "the note is empty"),), ok=False)
    reader = _Reader(path)
    try:
        parts = meta.split(text)
    except FieldError as exc:
        # a note outside `clients/` with no front-matter that closes names no client
        return None if outside else Note(path, (error(path, exc.line, exc.message),), ok=False)
    if outside and not (parts.yaml_text and _MAY_NAME_CLIENT.search(parts.yaml_text)):
        return None  # `client:` stood in the body only: the coach's own note
    try:
        fields = meta.compose(parts.yaml_text, parts.yaml_line) if parts.yaml_text is not None else {}
    except FieldError as exc:  # FieldErrors: every broken entry of the front-matter, each at its line
        found = exc.errors if isinstance(exc, meta.FieldErrors) else [(exc.line, exc.message)]
        return Note(path, tuple(error(path, line, message) for line, message in found), ok=False)
    reader.offset = parts.yaml_line
    if outside and "client" not in fields:
        # the coach's own note; a `Client:` (another case) there was surely meant to join
        reader.case_variants(fields, {"client"})
        return Note(path, tuple(reader.problems), ok=True) if reader.problems else None
    if is_client:
        return reader.client(fields)
    return reader.session(fields, parts.body, parts.body_line, allow_html)


class _Reader:
    """Reads fields one by one, collecting problems; a bad field is an error, never a guess."""

    def __init__(self, path: str):
        self.path = path
        self.offset = 0
        self.problems: list[Problem] = []
        self.failed = False

    def err(self, line: int, message: str) -> None:
        self.problems.append(error(self.path, line, message))
        self.failed = True

    def value_err(self, line: int, message: str) -> None:
        """An error that keeps only one metric value off the sites, not the whole note."""
        self.problems.append(error(self.path, line, message))

    def warn(self, line: int, message: str) -> None:
        self.problems.append(warning(self.path, line, message))

    def line(self, node: yaml.Node) -> int:
        return meta.line_of(node, self.offset)

    def get(self, fields: dict, key: str, convert, what: str | None = None, default=None):
        if key not in fields or meta.is_null(fields[key][1]):
            return default
        try:
            return convert(fields[key][1], self.offset, what or f"'{key}'")
        except FieldError as exc:
            self.err(exc.line, exc.message)
            return default

    def case_variants(self, fields: dict, known: set[str], what: str = "") -> None:
        """Keys are read as written: a key that is a known one only when case is ignored
        (`Title:`, `Due:`) is a warning and is not used. (`private` in any case is read: see
        `private`.)"""
        for key, (key_node, _) in fields.items():
            meant = key.casefold()
            if key in known or meant not in known or meant == "private":
                continue
            effect = "so it joins no client" if meant == "client" else "so it is not used"
            self.warn(self.line(key_node), f"{what}'{key}' is not '{meant}' (keys are lower-case), {effect}")

    def private(self, fields: dict) -> bool:
        """`private` must be a real true or false: left empty, it is an error, never a guess.
        Written in another case (`Private:`), it counts all the same, with a warning: a
        note the coach meant to keep private is never published for a capital letter."""
        private = False
        for key, (key_node, value) in fields.items():
            if key.casefold() != "private":
                continue
            line = self.line(key_node)
            if key != "private":
                self.warn(line, f"'{key}' is not 'private' (keys are lower-case); it is read as 'private' all the same")
            if meta.is_null(value):
                self.err(line, "'private' must be true or false, not empty")
                private = True
                continue
            try:
                private |= meta.as_bool(value, self.offset, "'private'")
            except FieldError as exc:
                self.err(exc.line, exc.message)
                private = True  # fail closed: an error keeps the note off every site anyway
        return private

    def text(self, fields: dict, key: str) -> str | None:
        value = self.get(fields, key, meta.as_text)
        return strip_controls(value) if value is not None else None

    def client_ref(self, fields: dict) -> str | None:
        ref = self.text(fields, "client")
        if ref is None:
            return None
        m = re.fullmatch(r"\[\[([^\]|#]+)(?:[#|][^\]]*)?\]\]", ref)
        return (m.group(1) if m else ref).strip() or None

    # ------------------------------------------------------------ client.md

    def client(self, fields: dict) -> Note:
        self.case_variants(fields, PROFILE_KEYS)
        metrics = tuple(self.metric_defs(fields["metrics"][1])) if "metrics" in fields else ()
        next_session = self.get(fields, "next_session", meta.as_datetime)
        slug = self.text(fields, "slug")
        engagement = self.engagement(fields["engagement"][1]) if "engagement" in fields else {}
        note = Note(
            self.path,
            (),
            ok=True,
            name=self.text(fields, "name"),
            slug=slug,
            slug_line=self.line(fields["slug"][0]) if "slug" in fields else 1,
            language=self.text(fields, "language"),
            language_line=self.line(fields["language"][0]) if "language" in fields else 1,
            started=self.get(fields, "started", meta.as_date),
            next_session=next_session,
            goals=tuple(strip_controls(g) for g in self.get(fields, "goals", meta.as_text_list, default=[])),
            metrics=metrics,
            private=self.private(fields),
            engagement=engagement,
            password=self.password_choice(fields),
            email=_plain_scalar(fields.get("email")),
            email_line=self.line(fields["email"][0]) if "email" in fields else 1,
        )
        return _finish(note, self)

    def password_choice(self, fields: dict) -> str | None:
        """Only `password: none` may be written in client.md: a password itself is never
        read from a note (it would sit in plain text in the vault and its git history)."""
        if "password" not in fields:
            return None
        node = fields["password"][1]
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":str") and node.value.strip() == "none":
            return "none"
        self.err(self.line(fields["password"][0]),
                 "'password' in client.md may only be 'none' (publish this site without a password); "
                 "a password belongs in .coachgen/secrets.toml: coachgen password SLUG --save")
        return "invalid"

    def engagement(self, node: yaml.Node) -> dict:
        try:
            items = meta.mapping(node, self.offset)
        except FieldError as exc:
            self.err(exc.line, "'engagement' " + exc.message)
            return {}
        self.case_variants(items, ENGAGEMENT_KEYS, "'engagement': ")
        return {
            "sessions": self.get(items, "sessions", meta.as_number, "'engagement.sessions'"),
            "from": self.get(items, "from", meta.as_date, "'engagement.from'"),
            "until": self.get(items, "until", meta.as_date, "'engagement.until'"),
        }

    def metric_defs(self, node: yaml.Node):
        if meta.is_null(node):
            return
        try:
            items = meta.mapping(node, self.offset)
        except FieldError as exc:
            self.err(exc.line, "'metrics' " + exc.message)
            return
        for key, (_key_node, value) in items.items():
            what = f"metric '{key}'"
            if meta.is_null(value):
                spec = {}
            else:
                try:
                    spec = meta.mapping(value, self.offset)
                except FieldError as exc:
                    self.err(exc.line, f"{what} must be a mapping like {{label: Weight, target: 75}}")
                    continue
            kind = self.get(spec, "kind", meta.as_text, f"{what}: 'kind'") or "number"
            if kind not in KINDS:
                self.err(self.line(spec["kind"][1]), f"{what}: 'kind' must be one of {', '.join(KINDS)}")
                continue
            direction = self.get(spec, "direction", meta.as_text, f"{what}: 'direction'") or "up"
            if direction not in ("up", "down"):
                self.err(self.line(spec["direction"][1]), f"{what}: 'direction' must be up or down")
                direction = "up"
            scale = self.get(spec, "scale", meta.as_number, f"{what}: 'scale'") or 10
            if kind == "habit":
                target = self.get(spec, "target", _as_adherence, f"{what}: 'target'")
            else:
                target = self.get(spec, "target", meta.as_number, f"{what}: 'target'")
            self.case_variants(spec, SETTINGS, f"{what}: ")
            for extra in sorted(set(spec) - SETTINGS):
                if extra.casefold() not in SETTINGS:
                    self.warn(self.line(spec[extra][0]), f"{what}: unknown setting '{extra}' is ignored")
            yield MetricDef(
                key=key,
                label=strip_controls(self.get(spec, "label", meta.as_text, f"{what}: 'label'") or key),
                unit=self.get(spec, "unit", meta.as_text, f"{what}: 'unit'"),
                kind=kind,
                target=target,
                by=self.get(spec, "by", meta.as_date, f"{what}: 'by'"),
                direction="up" if kind == "habit" else direction,
                scale=int(scale),
            )

    # ------------------------------------------------------------ session notes

    def session(self, fields: dict, body: str, body_line: int, allow_html: bool) -> Note:
        self.case_variants(fields, SESSION_KEYS)
        client_ref = self.client_ref(fields)
        client_line = self.line(fields["client"][0]) if "client" in fields else 1
        private = self.private(fields)
        date = self.get(fields, "date", meta.as_date)
        stem = posixpath.splitext(posixpath.basename(self.path))[0]
        if date is None and ("date" not in fields or meta.is_null(fields["date"][1])):  # `date:` left empty too
            m = _LEADING_DATE.match(stem)
            parsed = meta.parse_date_text(m.group(1)) if m else None
            date = parsed[0] if parsed else None
            if date is not None and not meta.in_range(date):
                self.err(1, f"the date that starts the file name must be {meta.DATE_RANGE}")
            elif date is None:
                self.err(1, "the note has no date: add 'date: YYYY-MM-DD' or start the file name with one")
        title = self.text(fields, "title")
        duration = self.get(fields, "duration", meta.as_number)
        html, env = markdown.parse(body, allow_html, take_h1=not title, first_line=body_line)
        if not title:
            title = (env.get("h1") or _LEADING_DATE.sub("", stem, count=1).strip()
                     or (date.isoformat() if date else stem))
        values = tuple(self.metric_values(fields["metrics"][1])) if "metrics" in fields else ()
        future = tuple(Item(t, self.line(n)) for t, n in self.items(fields, "future"))
        mentions = list(self.front_actions(fields))
        for status, line_task, line in env["tasks"]:
            where = body_line + line + 1
            self.report_bad_dates(line_task, where)
            mentions.append(_mention(self.rule(line_task, where), status, where))
        insights = [Item(t, self.line(n)) for t, n in self.items(fields, "insights")]
        insights += [Item(strip_controls(t), body_line + line + 1) for t, line in env["insights"] if t]
        source = self.text(fields, "source") or "session"
        if source not in SOURCES:
            self.warn(self.line(fields["source"][0]), "'source' is 'check-in' (a note coachgen checkins wrote) or "
                                                      "left out; read as a session")
            source = "session"
        checkin = self.text(fields, "checkin") if source == "check-in" else None
        note = Note(
            self.path,
            (),
            ok=True,
            client_ref=client_ref,
            client_line=client_line,
            private=private,
            date=date,
            title=strip_controls(title),
            duration=duration,
            html=html,
            mentions=tuple(mentions),
            values=values,
            insights=tuple(insights),
            future=future,
            source=source,
            checkin=checkin if checkin and re.fullmatch(r"[A-Za-z0-9_-]{1,64}", checkin) else None,
            prepared=(bool(_PREPARED.search(body)) and date is not None and title == date.isoformat()
                      and not (env["prose"] or values or insights or future)),
        )
        return _finish(note, self)

    def items(self, fields: dict, key: str):
        if key not in fields or meta.is_null(fields[key][1]):
            return
        node = fields[key][1]
        nodes = node.value if isinstance(node, yaml.SequenceNode) else [node]
        for item in nodes:
            try:
                text = strip_controls(meta.as_text(item, self.offset, f"each of '{key}'"))
            except FieldError as exc:
                self.err(exc.line, exc.message)
                continue
            if text:
                yield text, item

    def report_bad_dates(self, task: tasks.TaskLine, line: int) -> None:
        for name in task.bad_dates:
            self.warn(line, f"action's {name} date is not a real date; it is left out")
        for name in task.miswritten:
            self.warn(line, f"the action's {name} date must be written YYYY-MM-DD; it is left out")
        for name in task.far_dates:
            self.err(line, f"action's {name} date must be {meta.DATE_RANGE}")

    def rule(self, task: tasks.TaskLine, line: int) -> tasks.TaskLine:
        """The task with its recurrence rule where coachgen reads it; else warned of and dropped."""
        if task.recurrence is None or recurrence.parse(task.recurrence) is not None:
            return task
        self.warn(line, "the action's recurrence rule is not one coachgen reads (Tasks' forms: 'every week', "
                        "'every 2 days', 'every Monday', 'every month on the 3rd'...); it is kept as a one-off")
        return replace(task, recurrence=None)

    def front_actions(self, fields: dict):
        if "actions" not in fields or meta.is_null(fields["actions"][1]):
            return
        node = fields["actions"][1]
        if not isinstance(node, yaml.SequenceNode):
            self.err(self.line(node), "'actions' must be a list")
            return
        for item in node.value:
            line = self.line(item)
            if isinstance(item, yaml.ScalarNode):
                task = self.rule(tasks.parse(item.value), line)
                self.report_bad_dates(task, line)
                if task.text or task.id:
                    status = "done" if task.done else "cancelled" if task.cancelled else None
                    yield _mention(task, status, line)
                continue
            try:
                spec = meta.mapping(item, self.offset)
            except FieldError:
                self.err(line, "each action must be text or a mapping with 'text'")
                continue
            self.case_variants(spec, ACTION_KEYS, "an action's ")
            text = self.get(spec, "text", meta.as_text, "an action's 'text'")
            ident = self.get(spec, "id", meta.as_text, "an action's 'id'")
            if not text and not ident:
                self.err(line, "an action needs 'text' (or the 'id' of an earlier action)")
                continue
            status, status_date = None, None
            for key, name in (("done", "done"), ("cancelled", "cancelled")):
                if key in spec and not meta.is_null(spec[key][1]):
                    value = spec[key][1]
                    if isinstance(value, yaml.ScalarNode) and value.tag.endswith(":bool"):
                        flag = self.get(spec, key, meta.as_bool, f"an action's '{key}'")
                        status = name if flag else (status or "open")
                    else:
                        status_date = self.get(spec, key, meta.as_date, f"an action's '{key}'")
                        status = name
            priority = self.get(spec, "priority", meta.as_text, "an action's 'priority'")
            if priority is not None and priority.strip().casefold() not in tasks.PRIORITY_RANK:
                self.warn(line, "an action's 'priority' is highest, high, medium, low or lowest; it is left out")
                priority = None
            rule = self.get(spec, "repeat", meta.as_text, "an action's 'repeat'")
            if rule is not None:
                rule = self.rule(tasks.TaskLine("", recurrence=" ".join(rule.split())), line).recurrence
            depends = spec.get("depends_on")
            after: tuple[str, ...] = ()
            if depends is not None and not meta.is_null(depends[1]):
                nodes = depends[1].value if isinstance(depends[1], yaml.SequenceNode) else [depends[1]]
                if all(isinstance(n, yaml.ScalarNode) for n in nodes):
                    after = tuple(i.strip() for n in nodes for i in str(n.value).split(",") if i.strip())
                else:
                    self.warn(line, "an action's 'depends_on' is a list of action ids; it is left out")
            yield Mention(
                text=strip_controls(text) if text else None,
                id=ident,
                due=self.get(spec, "due", meta.as_date, "an action's 'due'"),
                status=status,
                status_date=status_date,
                line=line,
                priority=priority.strip().casefold() if priority and priority.strip().casefold() != "normal" else None,
                start=self.get(spec, "start", meta.as_date, "an action's 'start'"),
                scheduled=self.get(spec, "scheduled", meta.as_date, "an action's 'scheduled'"),
                recurrence=rule,
                depends_on=after,
            )

    def metric_values(self, node: yaml.Node):
        try:
            items = meta.mapping(node, self.offset)
        except FieldError:
            self.err(self.line(node), "'metrics' must map each metric key to a value")
            return
        for key, (_key_node, value) in items.items():
            if isinstance(value, yaml.MappingNode):
                try:
                    dated = meta.mapping(value, self.offset)
                except FieldError as exc:
                    self.err(exc.line, exc.message)
                    continue
                for raw_date, (date_node, v) in dated.items():
                    parsed = meta.parse_date_text(raw_date)
                    if parsed is None:
                        self.warn(self.line(date_node), f"metric '{key}': a key of its dates is not a date like "
                                                        "2026-01-05; the value is left out")
                        continue
                    if not meta.in_range(parsed[0]):
                        self.value_err(self.line(date_node), f"metric '{key}': each date must be {meta.DATE_RANGE}; "
                                                             "the value is left out")
                        continue
                    yield _raw(key, parsed[0], v, self.line(v))
            elif meta.is_null(value):
                continue  # an empty slot (as `coachgen new session` leaves them): nothing recorded
            elif isinstance(value, yaml.ScalarNode):
                yield _raw(key, None, value, self.line(value))
            else:
                self.warn(self.line(value), f"metric '{key}': expected a value or a mapping of dates to values; "
                                            "left out")


def _plain_scalar(field) -> str | None:
    """An optional, never-published text value: read when plain, else quietly absent."""
    if field is None or not isinstance(field[1], yaml.ScalarNode) or meta.is_null(field[1]):
        return None
    return field[1].value.strip() or None


def _raw(key: str, date: dt.date | None, node: yaml.Node, line: int) -> RawValue:
    if not isinstance(node, yaml.ScalarNode):
        return RawValue(key, date, "seq", "", line)
    return RawValue(key, date, node.tag.rsplit(":", 1)[-1], node.value, line)


def _as_adherence(node: yaml.Node, offset: int, what: str) -> float:
    """A habit's target: `6/7` or a number from 0 to 1."""
    value = adherence(node.tag.rsplit(":", 1)[-1], node.value) if isinstance(node, yaml.ScalarNode) else None
    if value is None:
        raise FieldError(meta.line_of(node, offset), f"{what} must be like 6/7 or a number from 0 to 1")
    return value


def adherence(tag: str, text: str) -> float | None:
    """`true` = 1, `false` = 0, `5/7` = 5/7, or a number from 0 to 1; None if none of these."""
    raw = text.strip()
    if tag == "bool":
        return 1.0 if raw.lower() == "true" else 0.0 if raw.lower() == "false" else None
    m = re.fullmatch(r"(\d{1,9})\s*/\s*(\d{1,9})", raw)  # days of a period: never a 5000-digit int()
    if m:
        done, of = int(m.group(1)), int(m.group(2))
        return done / of if 0 < of and done <= of else None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if 0 <= value <= 1 else None


def _mention(task: tasks.TaskLine, status: str | None, line: int) -> Mention:
    status_date = task.done if status == "done" else task.cancelled if status == "cancelled" else None
    return Mention(task.text or None, task.id, task.due, status, status_date, line, task.priority, task.start,
                   task.scheduled, task.recurrence, task.depends_on)


def _finish(note: Note, reader: _Reader) -> Note:
    return replace(note, problems=tuple(reader.problems), ok=not reader.failed)
