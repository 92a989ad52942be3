"""Check-ins: the update a client composes on their site, sealed so that coachgen can tell
it came from that client's pages and was not changed on the way.

The protocol, shared with `templates/assets/checkin.js`:

- Each client site has a random secret in `.coachgen/checkins.json`, never published. Its
  *token* is HMAC-SHA256(secret, "coachgen/check-in/v1|" + slug), and only the token is
  placed in that client's dashboard (inside the encrypted payload on a protected site).
- The page writes the update as UTF-8 JSON, the *payload*:
  `{"v": 1, "site": slug, "id": 22 random url-safe characters, "date": "YYYY-MM-DD",
    "done": [{"key": action key, "text": its text, "due": "YYYY-MM-DD" or null}, ...],
    "values": {metric key: the value as typed, as text}, "note": "free text"}`
- The *seal* is base64url(payload) + "." + base64url(HMAC-SHA256(token, payload)), no
  padding, wrapped at 64 characters between BEGIN and END lines. An edited byte, a
  forged token or another client's token fails the HMAC.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from coachgen.vault.paths import STATE_DIR

SECRETS = f"{STATE_DIR}/checkins.json"
"""One random secret per client site; deleting one invalidates the pages built with it."""
SEEN = f"{STATE_DIR}/checkins-seen.json"
"""The check-in ids and Message-IDs already written to the vault: none is written twice."""
BEGIN = "-----BEGIN COACHGEN CHECK-IN-----"
END = "-----END COACHGEN CHECK-IN-----"
FOLDER = "check-ins"
"""Where a client's check-in notes are written: `clients/<folder>/check-ins/<date>.md`."""
SOURCE = "check-in"
"""`source:` in a check-in note's front-matter."""

MAX_MESSAGE = 256 * 1024
"""A received message larger than this is refused before it is parsed."""
MAX_PAYLOAD = 16 * 1024
MAX_NOTE = 4000
"""Characters of the client's own words."""
MAX_DONE = 100
MAX_VALUES = 50
_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class Refused(Exception):
    """A message that is not a valid check-in: why, in words that never quote it."""


@dataclass(frozen=True)
class Done:
    key: str
    text: str
    due: dt.date | None


@dataclass(frozen=True)
class Update:
    site: str
    id: str
    date: dt.date
    done: tuple[Done, ...]
    values: tuple[tuple[str, str], ...]
    """(metric key, the value as the client typed it), validated later by the metric's kind."""
    note: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise Refused("its check-in block is damaged")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        raise Refused("its check-in block is damaged") from None


def token(secret: bytes, site: str) -> str:
    """The value placed in the client's pages (base64url of 32 bytes)."""
    return _b64(hmac.new(secret, b"coachgen/check-in/v1|" + site.encode("utf-8"), hashlib.sha256).digest())


def seal(token_text: str, payload: dict) -> str:
    """The block as the page writes it (used by tests and by the documentation's example)."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    mac = hmac.new(_unb64(token_text), body, hashlib.sha256).digest()
    sealed = _b64(body) + "." + _b64(mac)
    lines = [sealed[i:i + 64] for i in range(0, len(sealed), 64)]
    return "\n".join([BEGIN, *lines, END])


def find_block(text: str) -> str:
    """The one sealed block in a message's text, with white space and quoting removed."""
    starts = [m.end() for m in re.finditer(re.escape(BEGIN), text)]
    if not starts:
        raise Refused("it holds no check-in block")
    if len(starts) > 1:
        raise Refused("it holds more than one check-in block")
    end = text.find(END, starts[0])
    if end < 0:
        raise Refused("its check-in block is cut short")
    # a reply or a forward may quote the lines ("> "); mail may re-wrap them
    return re.sub(r"(?m)^[ \t]*(>[ \t]*)*|\s+", "", text[starts[0]:end])


def open_block(block: str, tokens: dict[str, str]) -> Update:
    """Check the seal against the token of the site it names and read the update.
    `tokens` maps each client site's slug to its token."""
    if len(block) > MAX_PAYLOAD * 2:
        raise Refused("its check-in block is too large")
    parts = block.split(".")
    if len(parts) != 2:
        raise Refused("its check-in block is damaged")
    body, mac = _unb64(parts[0]), _unb64(parts[1])
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise Refused("its check-in block is damaged") from None
    site = payload.get("site") if isinstance(payload, dict) else None
    if not isinstance(site, str) or site not in tokens:
        raise Refused("it names no client of this vault")
    expected = hmac.new(_unb64(tokens[site]), body, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, mac):
        raise Refused("its seal does not match: it was changed after the client sent it, or was not "
                      "made by their site (ask them to send it again from their dashboard)")
    return _read(payload, site)


def _read(payload: dict, site: str) -> Update:
    """The sealed payload's shape, checked whole: the page never writes anything else."""
    def day(value) -> dt.date:
        if not isinstance(value, str) or not _DAY.fullmatch(value):
            raise Refused("it has a date that is not YYYY-MM-DD")
        try:
            parsed = dt.date.fromisoformat(value)
        except ValueError:
            raise Refused("it has a date that is not a real date") from None
        if not 1900 <= parsed.year <= 2999:
            raise Refused("it has a date out of range")
        return parsed

    def text(value, limit: int) -> str:
        if not isinstance(value, str) or len(value) > limit:
            raise Refused("it has a text field that is not text or is too long")
        return value

    if payload.get("v") != 1:
        raise Refused("it was made by a version of coachgen this one does not read")
    ident = payload.get("id")
    if not isinstance(ident, str) or not _ID.fullmatch(ident):
        raise Refused("its check-in id is damaged")
    done_list, values = payload.get("done", []), payload.get("values", {})
    if not isinstance(done_list, list) or len(done_list) > MAX_DONE:
        raise Refused("its list of done actions is damaged")
    if not isinstance(values, dict) or len(values) > MAX_VALUES:
        raise Refused("its values are damaged")
    done = []
    for item in done_list:
        if not isinstance(item, dict):
            raise Refused("its list of done actions is damaged")
        due = item.get("due")
        done.append(Done(text(item.get("key"), 500), text(item.get("text"), 1000), None if due is None else day(due)))
    pairs = tuple((text(k, 200), text(v, 100)) for k, v in values.items())
    return Update(site, ident, day(payload.get("date")), tuple(done), pairs, text(payload.get("note", ""), MAX_NOTE))


def tokens(vault: Path, sites, create: bool) -> dict[str, str]:
    """Each client site's token. A build (`create`) makes and keeps a secret for a site that
    has none; an import only reads them, so a site never built has no token and nothing
    can be imported for it."""
    from coachgen.privacy.passwords import per_site

    secrets = per_site(vault / SECRETS, sites if create else [], lambda: _b64(os.urandom(32)), save=create)
    return {site: token(_unb64(secrets[site]), site) for site in sites if site in secrets}


# ---------------------------------------------------------------- from an update to a note
# What `coachgen checkins import|fetch` does with a message's text once the mail is read
# (reading mail is inbox.py's): open the seal, refuse a replay, judge each value by its
# game's kind, resolve each ticked action among that client's actions, and write one new
# note. Nothing a message holds is ever quoted in a warning.


LATE_DAYS = 1
"""An update may be dated at most this many days after today (time zones, a late evening)."""
_SIGNIFIERS = re.compile("[\U0001F4C5\U0001F4C6\U0001F5D3\u2705\u274C\U0001F6EB\u23F3\u231B\u2795\u26D4"
                         "\U0001F3C1\U0001F501\U0001F194\U0001F53A\u23EB\U0001F53C\U0001F53D\u23EC]\ufe0f?")
"""Obsidian Tasks' signifiers: 📅📆🗓✅❌🛫⏳⌛➕⛔🏁🔁🆔🔺⏫🔼🔽⏬ (with an optional VS16)."""
_NEWLINES = re.compile(r"\r\n?|[\x0b\x0c\x85\u2028\u2029]")
_HIDDEN = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200b\u200c\u200e\u200f\u202a-\u202e\u2060-\u2069\ufeff"
                     "\ud800-\udfff]")
"""Control characters (the newline aside; a tab too), bidi overrides and marks, zero-width
characters and lone surrogates: none survives into a note."""
_PUNCTUATION = frozenset("!#$%&()*+-<=>[\\]^_`{|}~")
"""The ASCII punctuation that Markdown, Obsidian or Tasks give a meaning; the rest (. , : ;
? ' " / @) is left as typed, so that the note reads naturally in an editor too."""
_WHOLE = re.compile(r"\d{1,9}", re.ASCII)
_DECIMAL_TEXT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)", re.ASCII)
"""Digits 0 to 9 only: a value in other scripts' digits is refused, never read as another."""


def _clean(text: str) -> str:
    """Newlines normalised; control, bidi and invisible characters gone; tabs as spaces."""
    return _HIDDEN.sub("", _NEWLINES.sub("\n", text.replace("\t", " ")))


def escape(line: str) -> str:
    """Each punctuation character that could mean something backslash-escaped (CommonMark
    allows a backslash before any): the text can make no link, embed, task, tag, comment,
    HTML, heading, callout, list or highlight, and reads the same on the page."""
    escaped = "".join("\\" + ch if ch in _PUNCTUATION else ch for ch in line)
    return re.sub(r"^(\s*\d+)\.", r"\1\\.", escaped)  # "1986. A year" is no numbered list


def quoted(note: str) -> list[str]:
    """The client's words as a block quote, each line escaped; blank lines as `>`."""
    lines = [line.strip() for line in _clean(note).split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    out: list[str] = []
    for line in lines:
        if not line and out and out[-1] == ">":
            continue  # one blank line between paragraphs is enough
        out.append("> " + escape(line) if line else ">")
    return out


def task_text(text: str) -> str:
    """An action's text as the client's page sent it, fit for a task line: one line, no
    Tasks signifier, every punctuation character escaped."""
    flat = " ".join(_SIGNIFIERS.sub(" ", _clean(text)).replace("\ufe0f", "").split())
    return escape(flat)


def judge(kind: str, scale: int, text: str) -> int | float | str:
    """A value as the client typed it, by its game's kind, as the note's front-matter holds
    it: a number (a comma may be the decimal point), a count (0 or more), a rating (1 to
    its scale), a habit (days of 7, as "N/7"). Refused, never quoted, when it is not one."""
    raw = _clean(text).strip()
    if kind == "number":
        if raw.count(",") == 1 and "." not in raw:
            raw = raw.replace(",", ".")
        if not _DECIMAL_TEXT.fullmatch(raw):
            raise Refused("it has a value that is not a number")
        value = float(raw)
        if not math.isfinite(value):
            raise Refused("it has a value that is too large a number")
        if "." not in raw or value.is_integer():
            whole = int(value) if "." in raw else int(raw)
            if abs(whole) < 2 ** 53:
                return whole
        return value
    if kind == "habit":
        days = raw[:-2].strip() if raw.endswith("/7") else raw
        if not _WHOLE.fullmatch(days) or int(days) > 7:
            raise Refused("it has a habit value that is not a number of days from 0 to 7")
        return f"{int(days)}/7"
    if not _WHOLE.fullmatch(raw):
        raise Refused(f"it has a {'rating' if kind == 'rating' else 'count'} that is not a whole number")
    value = int(raw)
    if kind == "rating" and not 1 <= value <= scale:
        raise Refused("it has a rating outside its scale")
    return value


@dataclass
class Taken:
    """What became of one message: the note written (vault-relative), or why it was skipped."""

    written: str | None = None
    skipped: str | None = None
    warnings: list[str] = field(default_factory=list)
    """Warnings about a message that was written all the same (a value left out, ...)."""
    already_done: int = 0
    """Ticked actions that the vault already has done or cancelled: not written again."""


class Seen:
    """`.coachgen/checkins-seen.json`: the update ids and (hashed) Message-IDs already written."""

    def __init__(self, vault: Path):
        self.path = vault / SEEN
        self.ids: set[str] = set()
        self.messages: set[str] = set()
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                self.ids = {i for i in data.get("checkins", []) if isinstance(i, str)}
                self.messages = {m for m in data.get("messages", []) if isinstance(m, str)}
            except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError, TypeError):
                raise OSError(f"{SEEN} is damaged: restore it from a backup, or delete it (the check-in notes in "
                              "the vault still stop a second copy of each update)") from None

    @staticmethod
    def message_key(message_id: str | None) -> str | None:
        mid = (message_id or "").strip()
        return "sha256:" + hashlib.sha256(mid.encode("utf-8", "surrogatepass")).hexdigest() if mid else None

    def __contains__(self, pair: tuple[str | None, str | None]) -> bool:
        ident, message_id = pair
        key = self.message_key(message_id)
        return (ident is not None and ident in self.ids) or (key is not None and key in self.messages)

    def add(self, ident: str, message_id: str | None) -> None:
        self.ids.add(ident)
        key = self.message_key(message_id)
        if key:
            self.messages.add(key)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        data = {"checkins": sorted(self.ids), "messages": sorted(self.messages)}
        tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)


class Importer:
    """Turns each valid update into a new note in its client's folder; `take` one message at
    a time. `clients` are the model's clients (a build's, as `coachgen check` makes it)."""

    def __init__(self, vault: Path, clients, today: dt.date, config=None):
        self.vault = vault
        self.config = config
        """The vault's settings: a note's few headings are in its client's language."""
        self.today = today
        self.clients = {c.slug: c for c in clients}
        self.tokens = tokens(vault, list(self.clients), create=False)
        self.seen = Seen(vault)
        # the notes already in the vault: an update whose note is there is never written again
        self.in_vault = {s.checkin for c in clients for s in getattr(c, "checkins", ()) if getattr(s, "checkin", None)}

    def take(self, text: str, message_id: str | None) -> Taken:
        try:
            update = open_block(find_block(text), self.tokens)
            if (update.id, message_id) in self.seen or update.id in self.in_vault:
                raise Refused("already imported")
            if update.date > self.today + dt.timedelta(days=LATE_DAYS):
                raise Refused("its date is in the future")
            client = self.clients[update.site]
            warnings: list[str] = []
            values = self._values(client, update, warnings)
            done, already = self._done(client, update, warnings)
            words = quoted(update.note)
            if not (values or done or words):
                raise Refused("it holds nothing to write (no action ticked, no value, no note)"
                              + (" that is not in the vault already" if already or warnings else ""))
        except Refused as why:
            return Taken(skipped=str(why), warnings=[])
        path = self._write(client, update, values, done, words)
        self.seen.add(update.id, message_id)
        self.in_vault.add(update.id)
        return Taken(written=path, warnings=warnings, already_done=already)

    def _values(self, client, update: Update, warnings: list[str]) -> dict:
        games = {m.spec.key: m.spec for m in client.metrics if getattr(m.spec, "defined", True)}
        values = {}
        for key, text in update.values:
            spec = games.get(key)
            if spec is None:
                warnings.append("a value for a game this client no longer has was left out")
                continue
            values[key] = judge(spec.kind, spec.scale, text)
        return values

    def _done(self, client, update: Update, warnings: list[str]) -> tuple[list[str], int]:
        actions = {a.key: a for a in client.actions}
        lines, already, seen_keys = [], 0, set()
        for item in update.done:
            if item.key in seen_keys:
                continue
            seen_keys.add(item.key)
            action = actions.get(item.key)
            if action is None:
                text = task_text(item.text)
                if not text:
                    warnings.append("an action it ticks is no longer in the vault and has no text; left out")
                    continue
                warnings.append("an action it ticks is no longer in the vault; written by its text")
                lines.append(f"- [x] {text} ✅ {update.date.isoformat()}")
                continue
            status, due = action.status, action.due
            if action.recurrence and item.due is not None and item.due != action.due:
                # an earlier occurrence of a series: its own record says whether it is open
                past = next((o for o in action.history if o.due == item.due), None)
                if past is not None:
                    status, due = ("open" if past.status == "missed" else past.status), item.due
            if status not in ("open", "overdue"):
                already += 1
                continue
            line = f"- [x] {action.text}" + (f" 🆔 {action.id}" if action.id else "")
            line += f" 📅 {due.isoformat()}" if due else ""
            lines.append(line + f" ✅ {update.date.isoformat()}")
        return lines, already

    def _language(self, client):
        from coachgen import i18n
        from coachgen.plan.pages import language_of

        return language_of(client, self.config) if self.config is not None else i18n.language()

    def _write(self, client, update: Update, values: dict, done: list[str], words: list[str]) -> str:
        import yaml

        front = {"date": update.date, "source": SOURCE, "checkin": update.id}
        if values:
            front["metrics"] = values
        _ = self._language(client).gettext
        first = ((client.name or "").split() or [client.slug])[0]
        header = yaml.safe_dump(front, sort_keys=False, allow_unicode=True, default_flow_style=False).rstrip("\n")
        parts = ["---", header, "---", "", "# " + _("Update from %(name)s") % {"name": first}]
        if done:
            parts += ["", "## " + _("Done"), "", *done]
        if words:
            parts += ["", "## " + _("In their own words"), "", *words]
        data = ("\n".join(parts) + "\n").encode("utf-8")
        folder = f"clients/{client.folder}/{FOLDER}"
        (self.vault / folder).mkdir(parents=True, exist_ok=True)
        for n in range(1, 1000):
            rel = f"{folder}/{update.date.isoformat()}{'' if n == 1 else f'-{n}'}.md"
            try:
                fd = os.open(self.vault / rel, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                continue
            try:
                with os.fdopen(fd, "wb") as file:
                    file.write(data)
                    file.flush()
                    os.fsync(file.fileno())
            except BaseException:
                os.unlink(self.vault / rel)  # ours, and incomplete
                raise
            return rel
        raise OSError(f"{folder}/ has no free name for a check-in dated {update.date.isoformat()}")
