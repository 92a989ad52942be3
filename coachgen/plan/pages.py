"""Model -> planned pages, each with its template and context, or its bytes, and what it reads."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import posixpath
import re
from dataclasses import dataclass, field, fields, replace
from html import escape
from typing import Any, Callable, NamedTuple, TypeAlias
from urllib.parse import unquote

from coachgen import i18n
from coachgen.engine import keys
from coachgen.model.clients import Action, Client, Model, Session
from coachgen.parse import recurrence, tasks
from coachgen.parse.markdown import PLACEHOLDER, task_due, task_prefix
from coachgen.plan import charts, ical
from coachgen.plan.page import Asset, Copied, Generated, Page, Rendered
from coachgen.privacy.rules import IMAGE_EXTENSIONS, may_use_file, sanitize
from coachgen.problems import Problem, warning
from coachgen.render.sources import PLOTLY
from coachgen.slug import slugify
from coachgen.vault.config import Config
from coachgen.vault.paths import ATTACHMENTS_DIR, CLIENTS_DIR, client_folder

ASSETS = ("style.css", "app.js", "icon.svg")
CHECKIN_JS = "checkin.js"
LOCK_JS = "lock.js"
MAX_EMBED_DEPTH = 3
MAX_EMBED_CHARS = 1_000_000
"""Note HTML one page may inline through embeds: past it (or for a note it shows already),
an embed is a link, so that embeds cannot multiply a page's size."""
ROBOTS = b"User-agent: *\nDisallow: /\n"


# ---------------------------------------------------------------- links, embeds, images


@dataclass(frozen=True)
class Files:
    """The vault's files as links and embeds look them up: all of them, each client
    folder's, and the shared `attachments/`, each sorted."""

    all: frozenset[str]
    by_folder: dict[str, tuple[str, ...]]
    shared: tuple[str, ...]
    elsewhere: tuple[str, ...] = ()
    """The files of no client's folder and not in `attachments/`: a note reaches them only by
    a path from itself (`../../images/x.png`)."""

    @classmethod
    def of(cls, paths) -> "Files":
        by_folder: dict[str, list[str]] = {}
        shared, elsewhere = [], []
        for path in sorted(paths):
            folder = client_folder(path)
            if folder is not None:
                by_folder.setdefault(folder, []).append(path)
            elif path.startswith(ATTACHMENTS_DIR + "/"):
                shared.append(path)
            elif not path.endswith(".md"):
                elsewhere.append(path)
        return cls(frozenset(paths), {k: tuple(v) for k, v in by_folder.items()}, tuple(shared), tuple(elsewhere))



@dataclass
class Resolver:
    """Turns a session's placeholders into HTML for one page, within its client's scope."""

    client: Client
    files: Files
    locked: bool = False
    """Images of an encrypted site are opened by lock.js: named in data-src, not src."""
    raw_html: bool = False
    """`allow_html`: the coach's raw HTML passes, sanitized."""
    used: dict[str, str] = field(default_factory=dict)
    """Output name under `assets/files/` -> vault path, for every file a page embeds."""
    name_key: bytes = b""
    """An encrypted site's secret naming key: its files' names confirm no guessed path."""
    lang: i18n.Language | None = None
    """The page's language: a task box's label and a task line's date (English if None)."""

    def __post_init__(self) -> None:
        self.refused: set[tuple[str, str]] = set()
        """(embedding note's path, why) for each embed shown as a link to keep a page small."""
        self._inlined: set[str] = set()  # the page being rendered: the notes it shows...
        self._chars = 0  # ...and how much of their HTML
        self.page_files: dict[str, str] = {}
        """The files the page being rendered names (its share of `used`)."""
        self.by_stem: dict[str, Session] = {}
        self.by_title: dict[str, Session] = {}
        for s in self.client.sessions + self.client.checkins:
            stem = posixpath.splitext(posixpath.basename(s.path))[0].casefold()
            self.by_stem.setdefault(stem, s)
            self.by_title.setdefault(s.title.casefold(), s)
        # files by name: the client's own folder, then the shared `attachments/` (each sorted)
        self.own_by_name: dict[str, str] = {}
        self.shared_by_name: dict[str, str] = {}
        for paths, by_name in ((self.files.by_folder.get(self.client.folder, ()), self.own_by_name),
                               (self.files.shared, self.shared_by_name)):
            for path in paths:
                if may_use_file(self.client, path):
                    by_name.setdefault(posixpath.basename(path).casefold(), path)
        # a task line's action, as the model found it: by id, else by its text folded; of two
        # actions on one text, the one set first (as the model's merge keeps it)
        order = {s.id: i for i, s in enumerate(self.client.sessions + self.client.checkins)}
        self.actions_by_id = {a.id: a for a in self.client.actions if a.id}
        self.actions_by_text: dict = {}
        for a in sorted(self.client.actions, key=lambda a: (order.get(a.session, len(order)), a.key)):
            self.actions_by_text.setdefault(tasks.identity(a.text), a)

    @property
    def src(self) -> str:
        return "data-src" if self.locked else "src"

    def note(self, target: str) -> Session | None:
        key = target.strip().casefold()
        if key.endswith(".md"):
            key = key[:-3]
        key = posixpath.basename(key)
        return self.by_stem.get(key) or self.by_title.get(key)

    def file(self, target: str, beside: str) -> str | None:
        """The contract's order: beside the note, then anywhere in the client's own folder
        (by path from it, or a bare name by file name), then the shared `attachments/`
        (likewise). The client's own copy always wins over a shared one of the same name."""
        target = unquote(target.split("#")[0].split("?")[0]).strip()
        if not target:
            return None
        bare = "/" not in target
        for candidate, by_name in ((posixpath.join(posixpath.dirname(beside), target), None),
                                   (posixpath.join(CLIENTS_DIR, self.client.folder, target), self.own_by_name),
                                   (posixpath.join(ATTACHMENTS_DIR, target), self.shared_by_name)):
            path = posixpath.normpath(candidate)
            if path in self.files.all and may_use_file(self.client, path):
                return path
            if bare and by_name is not None and target.casefold() in by_name:
                return by_name[target.casefold()]
        return None

    def url(self, path: str, rel: str) -> str:
        ext = posixpath.splitext(path)[1].lower()
        if self.name_key:
            stem = hmac.new(self.name_key, path.encode(), hashlib.sha256).hexdigest()[:16]
        else:
            stem = hashlib.sha256(path.encode()).hexdigest()[:16]
        name = stem + (ext if ext.isascii() else "")
        self.used[name] = path
        self.page_files[name] = path
        return f"{rel}assets/files/{name}"

    def reads(self) -> tuple:
        """All that a page's body is made of but its own note (and the notes it embeds): what
        its links, files and task lines look up. Compared, not hashed: the same objects
        compare at once."""
        notes = tuple((s.path, s.id, s.title, s.url) for s in self.client.sessions + self.client.checkins)
        return (self.client.folder, notes, self.client.actions, self.files, self.locked, self.raw_html,
                self.name_key, self.lang)

    def html(self, session: Session, rel: str, depth: int = 0, seen: tuple[str, ...] = ()) -> str:
        if depth == 0:  # a new page: it inlines each note once, and MAX_EMBED_CHARS in all
            self._inlined, self._chars, self.page_files = {session.path}, 0, {}
        seen = seen + (session.path,)

        def replace(m) -> str:
            kind, payload = m.group(1), json.loads(m.group(2))
            return self._one(kind, payload, session, rel, depth, seen)

        html = PLACEHOLDER.sub(replace, session.html)
        return sanitize(html, rel) if self.raw_html and depth == 0 else html

    def _one(self, kind: str, p: dict, session: Session, rel: str, depth: int, seen) -> str:
        if kind == "L":
            target = self.note(p["target"])
            label = escape(p["alias"] or (p["target"] + (f" › {p['heading']}" if p["heading"] else "")))
            if target is None:
                return f'<span class="unlinked">{label}</span>'
            anchor = "#h-" + slugify(p["heading"]) if p["heading"] else ""
            return f'<a class="internal" href="{rel}{target.url}{anchor}">{label}</a>'
        if kind == "E":
            return self._embed(p, session, rel, depth, seen)
        if kind == "I":
            path = self.file(p["src"], session.path)
            alt = p["alt"] or posixpath.basename(unquote(p["src"]))
            if path is None or posixpath.splitext(path)[1].lower() not in IMAGE_EXTENSIONS:
                return f'<span class="unlinked">{escape(alt)}</span>'
            return f'<img {self.src}="{self.url(path, rel)}" alt="{escape(alt)}" loading="lazy">'
        if kind == "T":
            return self._task(p)
        if kind in "AZ":
            href = p["href"]
            target = self.note(unquote(href.split("#")[0])) if href.split("#")[0].endswith(".md") else None
            if target is not None:
                return f'<a class="internal" href="{rel}{target.url}">' if kind == "A" else "</a>"
            path = self.file(href, session.path)
            if path is not None:
                return f'<a href="{self.url(path, rel)}">' if kind == "A" else "</a>"
            return ""
        return ""

    def _task(self, p: dict) -> str:
        """A task line's item, box or due date, from its action at the build's today; an
        action the model does not know (an id it ignored) shows the line as written."""
        action = self.actions_by_id.get(p["id"]) if p["id"] else None
        action = action or self.actions_by_text.get(p["key"])
        if action is not None:
            status, due = action.status, action.due
            line_due = dt.date.fromisoformat(p["due"]) if p["due"] else None
            if action.recurrence and line_due is not None and line_due != action.due:
                # a series' earlier occurrence: the line shows that occurrence, not the current one
                past = {o.due: o for o in action.history}.get(line_due)
                status = ({"missed": "overdue"}.get(past.status, past.status) if past is not None
                          else p["status"] if p["status"] in _BOX else "open")
                due = line_due
        else:
            status, due = p["status"], dt.date.fromisoformat(p["due"]) if p["due"] else None
        if p["part"] == "item":
            return f'<li class="task task-{status}">'
        if p["part"] == "box":
            return task_prefix(status, self.lang)
        return task_due(due, self.lang) if due else ""

    def _embed(self, p: dict, session: Session, rel: str, depth: int, seen) -> str:
        target, option = p["target"], p["alias"]
        ext = posixpath.splitext(target)[1].lower()
        if ext and ext != ".md":
            path = self.file(target, session.path)
            name = posixpath.basename(target)
            if path is None:
                return f'<span class="unlinked">{escape(name)}</span>'
            if ext in IMAGE_EXTENSIONS:
                width = ""
                if option and option.split("x")[0].isdigit():
                    width = f' width="{int(option.split("x")[0])}"'
                alt = option if option and not width else posixpath.splitext(name)[0]
                return f'<img {self.src}="{self.url(path, rel)}" alt="{escape(alt)}"{width} loading="lazy">'
            return f'<a class="attachment" href="{self.url(path, rel)}">{escape(option or name)}</a>'
        note = self.note(target)
        if note is None or note.path in seen or depth >= MAX_EMBED_DEPTH:
            return f'<span class="unlinked">{escape(option or target)}</span>'
        why = self._refuse(note)
        if why is not None:  # a link instead: the page stays small
            self.refused.add((session.path, why))
            return f'<a class="internal" href="{rel}{note.url}">{escape(option or note.title)}</a>'
        inner = self.html(note, rel, depth + 1, seen)
        return (
            f'<div class="embed"><p class="embed-title"><a class="internal" href="{rel}{note.url}">'
            f"{escape(note.title)}</a></p>{inner}</div>"
        )

    def _refuse(self, note: Session) -> str | None:
        """Why the page may not inline `note` (a key of EMBED_WARNINGS), or None: then it counts."""
        if note.path in self._inlined:
            return "repeated"
        if self._chars + len(note.html) > MAX_EMBED_CHARS:
            return "too much"
        self._inlined.add(note.path)
        self._chars += len(note.html)
        return None

    def embedded_notes(self, session: Session) -> tuple[str, ...]:
        """The session's own path and every note it inlines (for the privacy check)."""
        found = [session.path]
        pending = [session]
        while pending:
            current = pending.pop()
            for m in PLACEHOLDER.finditer(current.html):
                if m.group(1) == "E":
                    note = self.note(json.loads(m.group(2))["target"])
                    if note is not None and note.path not in found:
                        found.append(note.path)
                        pending.append(note)
        return tuple(found)


@dataclass
class Bodies:
    """Each session's body as the client's last plan resolved it, kept while its resolver
    reads the same (`Resolver.reads`): a watcher's save resolves only its own note again.
    A body that embeds notes shows their text, so it is resolved every time."""

    reads: tuple = ()
    known: dict[tuple[str, str], tuple[Session, str, dict[str, str]]] = field(default_factory=dict)

    def body(self, resolver: Resolver, session: Session, rel: str) -> str:
        known = self.known.get((session.path, rel))
        if known is not None and known[0] is session:
            resolver.used.update(known[2])
            return known[1]
        html = resolver.html(session, rel)
        if "\x00E{" not in session.html:
            self.known[session.path, rel] = (session, html, dict(resolver.page_files))
        return html


EMBED_WARNINGS = {
    "repeated": "an embed here repeats a note already shown on the same page; the repeat is shown as a link",
    "too much": f"an embed here would take a page past {MAX_EMBED_CHARS // 1000} KB of embedded notes; "
                "it is shown as a link",
}


EMBEDS_OR_IMAGES = re.compile("\x00[EI]\\{")
FILE_NOT_FOUND = "an embedded file is not found beside the note, in the client's folder or in attachments/"
NOT_AN_IMAGE = "an image here is not an image file, so it is not shown"


def embed_problems(client: Client, files: Files | None = None) -> list[Problem]:
    """A warning for each note with an embed that a page of `client` shows as a link instead
    of inline (a repeat, or past MAX_EMBED_CHARS): the session pages' own rendering, made
    without files (which do not count), so that the bound and its report cannot differ.
    And, given the vault's `files`, one at its line for each embedded file or image that is
    not there for the client (the message never names it: that would repeat the note)."""
    notes = client.sessions + client.checkins
    if not any(EMBEDS_OR_IMAGES.search(session.html) for session in notes):
        return []  # no embeds or images at all: the common case, at the cost of one search a note
    found = []
    if files is not None:
        lookup = Resolver(client, files)
        for session in notes:
            for m in PLACEHOLDER.finditer(session.html):  # the note's own embeds, not those it inlines
                kind, p = m.group(1), json.loads(m.group(2))
                target = p.get("src") if kind == "I" else p.get("target") if kind == "E" else None
                ext = posixpath.splitext(target or "")[1].lower()
                if kind == "E" and ext in ("", ".md"):
                    continue  # a note, not a file
                if target is None or target.startswith("#"):
                    continue
                path = lookup.file(target, session.path)
                if path is None:
                    found.append(warning(session.path, p.get("line", 1), FILE_NOT_FOUND))
                elif kind == "I" and posixpath.splitext(path)[1].lower() not in IMAGE_EXTENSIONS:
                    found.append(warning(session.path, p.get("line", 1), NOT_AN_IMAGE))
    resolver = Resolver(client, Files.of(()))
    if any("\x00E{" in session.html for session in notes):
        for session in notes:
            resolver.html(session, "../../")
    return sorted(found + [warning(path, 1, EMBED_WARNINGS[why]) for path, why in resolver.refused])


# ---------------------------------------------------------------- the plan


View: TypeAlias = Callable[..., Any]
"""`view(make, client, *args)`: `make(client, *args)`, or the same made before (see keys.Keys.view)."""


def _made(make: Callable[..., Any], source: Any, *args: Any) -> Any:
    return make(source, *args)


def coach_pages(model: Model, config: Config, locked: bool, hidden: int = 0, view: View | None = None) -> list[Page]:
    """The overview, its calendar feed and assets; `hidden` clients are left out of an
    overview without a password because their own sites have one. A coach with a password
    gets no feed: a calendar app cannot decrypt."""
    view = view or _made
    args = entry_args(model, config)
    entries = [view(coach_entry, client, *args) for client in model.clients]
    # the feed receives only what it shows: each client's next session and overdue actions
    shown = tuple(entry for _, entry in entries)
    calendars = [] if locked else [Generated("coach/calendar.ics", None, make=feed, args=(shown, model.today, config))]
    return [coach_page([row for row, _ in entries], model.today, config, locked, hidden)] + calendars + [
        Asset(f"coach/assets/{name}", None, name=name) for name in ASSETS + ((LOCK_JS,) if locked else ())]


def entry_args(model: Model, config: Config) -> tuple[dt.date, int, i18n.Language]:
    """What `coach_entry` is given besides the client."""
    return model.today, config.nudge_after_days, language_of(None, config)


def language_of(client: Client | None, config: Config) -> i18n.Language:
    """The client's own language, else the vault's (both checked when the model was built)."""
    code = (client.language if client is not None else None) or config.language
    try:
        return i18n.language(code, config.vault)
    except i18n.UnknownLanguage:
        return i18n.language(i18n.DEFAULT, config.vault)


def _site(config: Config) -> dict:
    return {"title": config.title, "coach": config.coach}


def _without_html(session: Session) -> tuple:
    """The session's fields but its HTML (a page's key holds the resolved body instead)."""
    return tuple(getattr(session, name) for name in _SESSION_FIELDS)


_SESSION_FIELDS = tuple(f.name for f in fields(Session) if f.name != "html")


def outline(client: Client, view: View | None = None) -> Client:
    """The client without its notes' text: what its dashboard, lists, data and calendar receive,
    so that their keys (which cover all they receive) do not change when only a note's words do.
    `view` keeps each unchanged session's outline (and so its key) from the last plan."""
    view = view or _made
    return replace(client, sessions=tuple(view(_textless, s) for s in client.sessions),
                   checkins=tuple(view(_textless, s) for s in client.checkins))


def _textless(session: Session) -> Session:
    return replace(session, html="")


def client_pages(client: Client, model: Model, config: Config, files: Files, locked: bool = False,
                 updated: dict[str, dt.date] | None = None, name_key: bytes = b"",
                 checkin_token: str = "", view: View | None = None, bodies: Bodies | None = None) -> list[Page]:
    """A client's pages. `updated` holds when each note last changed (from git), if known;
    `name_key` names an encrypted site's attachments; `checkin_token` seals the client's
    updates (see checkin.py): without one, the dashboard has no "Send an update" panel.
    `view` may keep what pages receive of an unchanged session (see keys.Keys.view), and
    `bodies` its resolved body."""
    root = f"clients/{client.slug}/"
    lang = language_of(client, config)
    resolver = Resolver(client, files, locked, config.allow_html, name_key=name_key, lang=lang)
    bodies = bodies or Bodies()
    if (reads := resolver.reads()) != bodies.reads:
        bodies.reads, bodies.known = reads, {}
    shown = outline(client, view)  # no page shows a note's text but the session page of its own
    base = {"site": _site(config), "client": shown, "today": model.today, "locked": locked, "lang": lang}
    # a session page's own key: what every page shares, and what the page shows of its client
    shared = (sorted(_site(config).items()), config.allow_html, config.nudge_after_days, model.today, locked, lang.code)
    overview = {**base, "sessions_by_id": {s.id: s for s in shown.sessions + shown.checkins}}
    panel = checkin_panel(shown, config, checkin_token)
    charted = [m for m in client.metrics if m.points]
    # charts name months and days, and write numbers, as the page's language does (app.js)
    plotly_locale = lang.plotly() if lang.code != i18n.DEFAULT else None
    pages: list[Page] = [
        Rendered(
            root + "index.html",
            client,
            template="dashboard.html",
            context={**overview, "rel": "", "nav": "dashboard", "title": lang.gettext("Dashboard"),
             "charts": {f"spark-{i}": charts.figure(m, compact=True, lang=lang)
                        for i, m in enumerate(client.metrics) if m.points},
             "plotly_locale": plotly_locale,
             "next_session": _next_session(client, model.today),
             "glance": glance(client),
             "nudge_after_days": config.nudge_after_days,
             "checkin": panel},
            identity=f"{client.folder}|dashboard",
        ),
        Rendered(root + "actions/index.html", client, template="actions.html",
                 context={**overview, "rel": "../", "nav": "actions", "title": lang.gettext("Actions")},
                 identity=f"{client.folder}|actions"),
        Rendered(
            root + "metrics/index.html",
            client,
            template="metrics.html",
            context={**overview, "rel": "../", "nav": "metrics", "title": lang.gettext("Metrics"),
             "charts": {f"chart-{i}": charts.figure(m, lang=lang) for i, m in enumerate(client.metrics) if m.points},
             "plotly_locale": plotly_locale},
            identity=f"{client.folder}|metrics",
        ),
    ]
    actions = {a.key: a for a in client.actions}
    action_text = {a.key: repr(a) for a in client.actions}  # each action once, not once per page
    labels = {m.spec.key: m.spec for m in client.metrics}
    # sessions, then the client's check-ins: each a page, with its neighbours of its own kind
    for sessions, i, session in [(notes, i, s) for notes in (client.sessions, client.checkins)
                                 for i, s in enumerate(notes)]:
        context: dict[str, Any] = {
            **base, "rel": "../../", "nav": "sessions", "title": session.title, "session": session,
            "body": bodies.body(resolver, session, "../../"),
            "actions_set": [actions[k] for k in session.actions_set],
            "actions_touched": [actions[k] for k in session.actions_touched],
            "values": [(labels[k], day, v) for k, day, v in session.values],
            "previous": sessions[i - 1] if i > 0 else None,
            "next": sessions[i + 1] if i + 1 < len(sessions) else None,
            # a commit dated after the page's today (a build --today in the past) is no "update" yet
            "updated": next((d for d in [(updated or {}).get(session.path)] if d and d <= model.today), None),
        }
        neighbours = [(s.url, s.title) for s in (context["previous"], context["next"]) if s]
        # narrower than the context (which holds the whole client): a save re-renders its own page
        key = keys.digest("session", shared, client.name, client.slug, _without_html(session),
                     hashlib.sha256(context["body"].encode("utf-8", "surrogatepass")).hexdigest(),
                     [action_text[k] for k in session.actions_set], [action_text[k] for k in session.actions_touched],
                     context["values"], neighbours, context["updated"])
        pages.append(Rendered(root + session.url + "index.html", client, template="session.html", context=context,
                              notes=resolver.embedded_notes(session), key=key,
                              identity=f"{client.folder}|session|{session.path}"))
    pages.append(Generated(root + "data.json", client, make=data_json, args=(shown, model.today)))
    if not locked:  # a calendar app cannot decrypt: no calendar for a site with a password
        pages.append(Generated(root + "calendar.ics", client, make=calendar, args=(shown, model.today, config)))
    pages += [Copied(root + "assets/files/" + name, client, source=path)
              for name, path in sorted(resolver.used.items())]
    if locked:
        pages = [replace(p, path=p.path + (".enc" if isinstance(p, Copied) else ""), sealed=True) for p in pages]
        pages.append(Asset(root + "assets/" + LOCK_JS, client, name=LOCK_JS))
    pages.append(Generated(root + "robots.txt", client, make=robots))
    pages += [Asset(root + "assets/" + name, client, name=name) for name in ASSETS]
    if charted:
        pages.append(Asset(root + "assets/" + PLOTLY, client, name=PLOTLY))
    if panel:
        pages.append(Asset(root + "assets/" + CHECKIN_JS, client, name=CHECKIN_JS))
    return pages


def robots() -> bytes:
    return ROBOTS


def checkin_panel(client: Client, config: Config, token: str) -> dict | None:
    """What the dashboard's "Send an update" panel needs: the open actions a client may tick
    and the games they may log, the token that seals the update, and the check-ins already
    in the vault (the page stops showing those as "not yet seen")."""
    if not token:
        return None
    return {
        "token": token, "site": client.slug, "coach_email": config.coach_email, "coach": config.coach,
        "client_name": client.name,
        "actions": [a for a in client.actions if a.status in ("overdue", "open") and not a.later],
        "metrics": [m.spec for m in client.metrics],
        "received": [(c.checkin, c.date) for c in reversed(client.checkins) if c.checkin],
    }


_BOX = ("open", "overdue", "done", "cancelled")


def glance(client: Client) -> dict:
    """The dashboard's first screen: what to do next, how the games go, the latest insight,
    and where the client is going."""
    todo = ([a for a in client.actions if a.status == "overdue"]
            + [a for a in client.actions if a.status == "open" and not a.later])
    charted = [m for m in client.metrics if m.points]
    return {
        "next": todo[0] if todo else None,
        "overdue": sum(a.status == "overdue" for a in todo),
        "open": sum(a.status == "open" for a in todo),
        "ahead": sum(m.pace == "ahead" or (m.pace is None and bool(m.reached)) for m in charted),
        "behind": sum(m.pace == "behind" for m in charted),
        # no target date, so no pace (and not reached): said, so that the counts add up to `games`
        "undated": sum(m.pace is None and not m.reached for m in charted),
        "games": len(charted),
        "insight": client.insights[-1][0] if client.insights else None,
        "future": client.goals[0] if client.goals else client.future[-1][0] if client.future else None,
    }


def _next_session(client: Client, today: dt.date):
    if client.next_session is None or client.next_session[0] < today:
        return None
    return client.next_session


def data_json(client: Client, today: dt.date) -> bytes:
    """The client's data, machine-readable: schema 1 of the contract, in its order."""
    iso = lambda d: d.isoformat() if d else None  # noqa: E731
    data = {
        "schema": 1,
        "client": {"name": client.name, "slug": client.slug, "started": iso(client.started),
                   "next_session": client.next_session_iso, "goals": list(client.goals)},
        "today": today.isoformat(),
        "sessions": [{"id": s.id, "date": s.date.isoformat(), "title": s.title, "duration": s.duration,
                      "url": s.url} for s in client.sessions],
        "check_ins": [{"id": s.id, "date": s.date.isoformat(), "url": s.url} for s in client.checkins],
        "actions": [{"id": a.id, "text": a.text, "due": iso(a.due), "done": iso(a.done), "status": a.status,
                     "session": a.session, "priority": a.priority, "start": iso(a.start), "scheduled": iso(a.scheduled),
                     "recurrence": a.recurrence, "depends_on": list(a.depends_on)} for a in client.actions],
        "metrics": [{"key": m.spec.key, "label": m.spec.label, "unit": m.spec.unit, "kind": m.spec.kind,
                     "target": m.spec.target, "by": iso(m.spec.by), "direction": m.spec.direction,
                     "points": [{"date": p.date.isoformat(), "value": p.value} for p in m.points]}
                    for m in client.metrics],
        "insights": [{"text": text, "session": sid} for text, sid in client.insights],
        "future": [{"text": text, "session": sid} for text, sid in client.future],
    }
    return (json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode()


def _action_event(action: Action | Due, client: Client | FeedClient, stamp: str, config: Config,
                  summary: str) -> list[tuple[str, str]]:
    """An all-day item on the action's due date; its UID stays while the action does."""
    assert action.due is not None  # an action becomes an event only with a due date (an overdue one has one)
    event = [
        ("SUMMARY", ical.text(summary)),
        ("DTSTART;VALUE=DATE", ical.date(action.due)),
        ("DTEND;VALUE=DATE", ical.date(action.due + dt.timedelta(days=1))),
        ("DTSTAMP", stamp),
        ("UID", f"action-{hashlib.sha256(action.key.encode()).hexdigest()[:16]}@{client.slug}.coachgen"),
        ("TRANSP", "TRANSPARENT"),
    ]
    rule = recurrence.parse(action.recurrence) if action.recurrence else None
    if rule is not None:  # a series: one event from its current occurrence, repeating by the rule
        event.insert(3, ("RRULE", rule.ical()))
    if config.base_url:
        event.append(("URL", f"{config.base_url.rstrip('/')}/clients/{client.slug}/actions/"))
    return event


def _session_event(client: Client | FeedClient, stamp: str, config: Config, summary: str) -> list[tuple[str, str]]:
    """The next session at its time in the vault's timezone (all day when it has no time)."""
    assert client.next_session is not None  # calendar() adds this event only for a client with one
    day, time = client.next_session
    event = [("SUMMARY", ical.text(summary))]
    if time is None:
        event += [("DTSTART;VALUE=DATE", ical.date(day)), ("DTEND;VALUE=DATE", ical.date(day + dt.timedelta(days=1)))]
    else:
        start = dt.datetime.combine(day, time, tzinfo=config.zone)
        end = start + dt.timedelta(hours=1)
        if config.timezone in ical.UTC_NAMES:
            event += [("DTSTART", ical.utc(start)), ("DTEND", ical.utc(end))]
        else:
            param = f";TZID={config.timezone}"
            event += [("DTSTART" + param, ical.local(start)), ("DTEND" + param, ical.local(end))]
    return event + [("DTSTAMP", stamp), ("UID", f"next-session@{client.slug}.coachgen")]


def _stamp(today: dt.date) -> str:
    # DTSTAMP is required; the build's today keeps the file identical between builds
    return today.strftime("%Y%m%dT000000Z")


def _zones(events: list[list[tuple[str, str]]], config: Config) -> tuple[str, ...]:
    """The VTIMEZONE each TZID in the feed needs."""
    tzid = f"DTSTART;TZID={config.timezone}"
    return (config.timezone,) if any(key == tzid for event in events for key, _ in event) else ()


def calendar(client: Client, today: dt.date, config: Config) -> bytes:
    """Open and overdue actions as all-day items on their due dates, and the next session,
    in the client's language (an action is named as the coach wrote it)."""
    lang = language_of(client, config)
    stamp = _stamp(today)
    events = [_action_event(action, client, stamp, config, action.text) for action in client.actions
              if action.status in ("open", "overdue") and action.due is not None]
    if client.next_session is not None:
        if config.coach:
            summary = lang.gettext("Coaching session with %(coach)s") % {"coach": config.coach}
        else:
            summary = lang.gettext("Coaching session")
        events.append(_session_event(client, stamp, config, summary))
    name = lang.gettext("%(client)s: coaching") % {"client": client.name}
    return ical.calendar(name, events, _zones(events, config))


def coach_calendar(model: Model, config: Config) -> bytes:
    """The coach's feed: every client's next session, and every overdue action, in the vault's language."""
    lang = language_of(None, config)
    return feed(tuple(coach_entry(c, model.today, config.nudge_after_days, lang)[1] for c in model.clients),
                model.today, config)


def feed(clients: tuple[FeedClient, ...], today: dt.date, config: Config) -> bytes:
    """The coach's feed, made of what it shows of each client (see `coach_pages`)."""
    lang = language_of(None, config)
    stamp = _stamp(today)
    events = []
    for client in clients:
        if client.next_session is not None:
            summary = lang.gettext("Session with %(client)s") % {"client": client.name}
            events.append(_session_event(client, stamp, config, summary))
        for action in client.overdue:
            summary = lang.gettext("Overdue, %(client)s: %(action)s") % {"client": client.name, "action": action.text}
            events.append(_action_event(action, client, stamp, config, summary))
    name = lang.gettext("%(title)s: sessions and overdue actions") % {"title": config.title}
    return ical.calendar(name, events, _zones(events, config))


# ---------------------------------------------------------------- the coach's overview


def _ending(client: Client, today: dt.date, lang: i18n.Language | None = None) -> str | None:
    """Why a client's engagement is nearly used up (two sessions or two weeks left), or None.
    Its date is written as the vault writes it (ISO), which reads alike in every language."""
    lang = lang or i18n.language()
    engagement = client.engagement or {}
    total, until = engagement.get("sessions"), engagement.get("until")
    if total and total - len(client.sessions) <= 2:
        left = int(total - len(client.sessions))
        return lang.counted("%(left)s of %(num)s session left", "%(left)s of %(num)s sessions left", total,
                            left=lang.num(max(left, 0)))
    if until and (until - today).days <= 14:
        if until >= today:
            return lang.gettext("engagement ends %(date)s") % {"date": lang.day(until)}
        return lang.gettext("engagement ended %(date)s") % {"date": lang.day(until)}
    return None


class Due(NamedTuple):
    """An action as the overview and the coach's feed show it: a plain tuple, quick to key."""

    key: str
    text: str
    due: dt.date | None
    recurrence: str | None

    def __repr__(self) -> str:  # its key is its values, written at C speed (a client may have hundreds)
        return tuple.__repr__(self)


class FeedClient(NamedTuple):
    """What the coach's feed shows of a client: its next session and overdue actions."""

    name: str
    slug: str
    next_session: tuple[dt.date, dt.time | None] | None
    overdue: tuple[Due, ...]


@dataclass(frozen=True)
class Row:
    """What the overview shows of one client, and no more (no note's text): the page's key,
    which covers all it receives, changes only with what it shows."""

    client: dict
    sessions: int
    overdue: list[Due]
    open: int
    behind: list
    last_session: dt.date | None
    quiet: bool
    ending: str | None
    next_session: tuple | None
    empty_sessions: list
    new_checkin: dict | None


def _overdue(client: Client) -> tuple[Due, ...]:
    return tuple(Due(a.key, a.text, a.due, a.recurrence) for a in client.actions if a.status == "overdue")


def coach_entry(client: Client, today: dt.date, nudge_after_days: int, lang: i18n.Language) -> tuple[Row, FeedClient]:
    """What the overview and the feed show of a client (its overdue actions found once for both)."""
    overdue = _overdue(client)
    return (overview_row(client, today, nudge_after_days, lang, overdue),
            FeedClient(client.name, client.slug, client.next_session, overdue))


def overview_row(client: Client, today: dt.date, nudge_after_days: int, lang: i18n.Language,
                 overdue: tuple[Due, ...]) -> Row:
    last = client.sessions[-1].date if client.sessions else None
    # the client's latest update, until a session note on or after its date
    checkin = next((c for c in client.checkins[-1:] if last is None or c.date > last), None)
    return Row(
        client={"name": client.name, "slug": client.slug, "engagement": client.engagement},
        sessions=len(client.sessions),
        overdue=list(overdue),
        open=sum(a.status == "open" for a in client.actions),
        behind=[m for m in client.metrics if m.pace == "behind"],
        last_session=last,
        quiet=last is None or (today - last).days > nudge_after_days,
        ending=_ending(client, today, lang),
        next_session=_next_session(client, today),
        empty_sessions=[{"date": s.date, "title": s.title} for s in client.sessions if s.produced_nothing],
        new_checkin={"date": checkin.date, "url": checkin.url} if checkin else None,
    )


def coach_page(rows: list[Row], today: dt.date, config: Config, locked: bool, hidden: int = 0) -> Page:
    """The overview: a row per client."""
    lang = language_of(None, config)
    return Rendered(
        "coach/index.html",
        None,
        template="coach.html",
        context={"site": _site(config), "rows": rows, "today": today, "rel": "",
                 "title": lang.gettext("Overview"), "lang": lang,
                 "nudge_after_days": config.nudge_after_days, "locked": locked, "hidden": hidden},
        sealed=locked,
    )
