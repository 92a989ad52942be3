"""Front-matter: split by python-frontmatter, composed by PyYAML's C loader, read as written.

YAML 1.1 resolves `no` to False and `2026-01-05` to a date; the contract wants text
where it expects text. So we compose the document into nodes (never constructing
Python objects, so no tag can execute anything) and convert each value ourselves by
what the field expects, with the node's line for error messages.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass

import frontmatter
import yaml

_Loader: type[yaml.CSafeLoader] | type[yaml.SafeLoader]
try:  # the C composer is several times faster; the pure one behaves the same
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _Loader

MAX_FRONT_MATTER = 64 * 1024
MAX_DEPTH = 32

# Dates a note may give, of any kind (a session's date, due, next_session, a metric's by...).
# Years 1900 to 2999 hold any coaching there is, and stay far from datetime's own limits
# (years 1 and 9999): a calendar adds a day to a due date, an hour to a session, and that
# must never overflow.
FIRST_YEAR, LAST_YEAR = 1900, 2999
DATE_RANGE = f"a date between {FIRST_YEAR} and {LAST_YEAR}"


def in_range(day: dt.date) -> bool:
    return FIRST_YEAR <= day.year <= LAST_YEAR


_TAG = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null", "timestamp", "map", "seq")}
_HANDLER = frontmatter.YAMLHandler()
_NUMBER = re.compile(r"[+-]?(\d[\d_]*(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_DATE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:(?:[Tt]|\s+)(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?)?"
)


class FieldError(Exception):
    """A value that is not what its field needs; `line` is 1-based in the file."""

    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line
        self.message = message


class FieldErrors(FieldError):
    """Several problems at once (every broken top-level entry of a front-matter), each as
    (line, message); as a FieldError it is the first of them."""

    def __init__(self, errors: list[tuple[int, str]]):
        super().__init__(*errors[0])
        self.errors = errors


def line_of(node: yaml.Node, offset: int) -> int:
    return offset + node.start_mark.line + 1


@dataclass
class Split:
    yaml_text: str | None
    """The front-matter between the `---` lines, or None when the note has none."""
    body: str
    body_line: int
    """0-based line of the file at which the body starts."""
    yaml_line: int
    """0-based line of the file at which the front-matter text starts."""


def split(text: str) -> Split:
    """Separate front-matter from body. Raises FieldError for an unclosed block."""
    if not _HANDLER.detect(text):
        return Split(None, text, 0, 0)
    try:
        fm, body = _HANDLER.split(text)
    except ValueError:
        raise FieldError(1, "front-matter starts with '---' but is never closed by a '---' line") from None
    body_line = text[: len(text) - len(body)].count("\n")
    # python-frontmatter leaves the newline that ends the closing `---` on the body
    if body.startswith("\n"):
        body, body_line = body[1:], body_line + 1
    # the front-matter text starts with the newline that ends the opening `---`
    return Split(fm, body, body_line, 0)


def compose(fm: str, offset: int) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    """Compose the front-matter into {key: (key node, value node)}; FieldError if malformed."""
    if len(fm.encode("utf-8")) > MAX_FRONT_MATTER:
        raise FieldError(offset + 1, f"front-matter is larger than {MAX_FRONT_MATTER // 1024} KB")
    try:
        root = yaml.compose(fm, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        # every broken top-level entry where they can be told apart, else the one YAML found
        found = _broken_entries(fm) or [_explain(exc, fm.split("\n"))]
        raise FieldErrors([(offset + line + 1, "front-matter is not valid YAML: " + message)
                           for line, message in found]) from None
    except (yaml.YAMLError, RecursionError):
        raise FieldError(offset + 1, "front-matter is not valid YAML (nested too deeply)") from None
    if root is None:
        return {}
    _check_tree(root, offset, set(), 0)
    if not isinstance(root, yaml.MappingNode):
        raise FieldError(line_of(root, offset), "front-matter must be a mapping of keys to values")
    _merge(root, offset, set(), set(), [MAX_MERGED])
    return mapping(root, offset)


_TOP_KEY = re.compile(r"[^\s#\-][^:]*:(\s|$)")
"""A line that starts a top-level entry: a key at column 0 (not a comment, a list item or an
indented line, which all continue the entry above)."""


def _broken_entries(fm: str) -> list[tuple[int, str]]:
    """Each top-level entry that is not valid YAML on its own, as (0-based line, message).
    Entries are parsed one by one, padded with blank lines so that marks keep the lines of
    the front-matter; only syntax is checked (an alias may stand in another entry)."""
    lines = fm.split("\n")
    starts = [i for i, text in enumerate(lines) if _TOP_KEY.match(text)]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)  # what stands above the first key is an entry of its own
    found = []
    for start, end in zip(starts, starts[1:] + [len(lines)], strict=True):
        try:
            # (no newline added: an entry that runs off its end is reported on its own last line)
            for _ in yaml.parse("\n" * start + "\n".join(lines[start:end]), Loader=_Loader):
                pass
        except yaml.MarkedYAMLError as exc:
            found.append(_explain(exc, lines))
        except (yaml.YAMLError, RecursionError):
            return []  # not a syntax fault of one entry: the whole document's error says it
    return found


INDENTATION = "the indentation here does not match the lines above: indent each key of a list or mapping the same way"


def _explain(exc: yaml.MarkedYAMLError, lines: list[str]) -> tuple[int, str]:
    """(0-based line, what is wrong in a coach's words and how to fix it) for a YAML syntax
    error. Never quotes the note: the examples are fixed illustrations."""
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line, mark.column) if mark else (0, 0)
    text = lines[line] if line < len(lines) else ""
    problem, context = exc.problem or "", exc.context or ""
    indent = len(text) - len(text.lstrip(" \t"))
    if "\t" in text[:indent + 1]:
        return line, "a tab character: indent with spaces, never tabs"
    if "quoted scalar" in context and exc.context_mark is not None:
        if "escape" in problem:
            return line, ("a backslash inside double quotes starts an escape: use single quotes, "
                          "or write two backslashes for one")
        return exc.context_mark.line, ("a quote opened here is never closed: end the value with the same "
                                       "quote mark it starts with")
    if problem.startswith("mapping values are not allowed"):
        if re.search(r":\s", text[:column]):  # a second ": " on the line: inside the value
            return line, 'a value with ": " in it needs quotes, like title: "Plan: Q2"'
        above = next((i for i in range(line - 1, -1, -1)
                      if lines[i].strip() and not lines[i].lstrip().startswith("#")), None)
        if above is not None and indent <= len(lines[above]) - len(lines[above].lstrip()):
            return above, "this line is not 'key: value': add ': ' after the key, or make it a comment with #"
        return line, INDENTATION
    if "simple key" in context and exc.context_mark is not None:  # a line with no ':' before a key
        return exc.context_mark.line, ("this line is not 'key: value': add ': ' after the key, "
                                       "or make it a comment with #")
    if "expected key" in problem or "expected '-' indicator" in problem or "expected <block end>" in problem:
        above_text = next((lines[i] for i in range(line - 1, -1, -1) if lines[i].strip()), "")
        if text.lstrip().startswith("-") and not above_text.lstrip().startswith("-"):  # not a list's own item
            return line, ("a list item '- ' stands among the keys of a mapping: put it under its key "
                          "(like goals:), indented like the items above it")
        if re.match(r"\s*(- )?[^:]+:\s*([\"']).*\2\s*[^\s#]", text):
            return line, "text follows a closing quote: put the whole value in quotes, or none of it"
        return line, INDENTATION
    if "cannot start any token" in problem:
        return line, 'a value that starts with @, ` or % needs quotes, like title: "@home"'
    if "flow sequence" in context or "flow mapping" in context:
        return line, ("a list in [ ] or a mapping in { } here or just above is not closed as it should be: "
                      "check its commas and closing bracket, or put the value in quotes")
    return line, _yaml_problem(exc).removeprefix(": ") or "check this line's punctuation and indentation"


def _yaml_problem(exc: yaml.MarkedYAMLError) -> str:
    """PyYAML's description of the fault, without what it quotes from the note (the pure
    loader quotes characters and alias names; libyaml quotes only YAML's own punctuation)."""
    text = exc.problem or exc.context or ""
    text = re.sub(r"'[^']*'|\"[^\"]*\"",
                  lambda m: m.group(0) if re.fullmatch(r"'([-,:?\[\]{}]|<[a-z ]+>)'", m.group(0)) else "", text)
    text = " ".join(text.split())
    return f": {text}" if text and re.fullmatch(r"[a-z ,;:'?<>\[\]{}-]+", text) else ""


def _is_merge(key: yaml.Node) -> bool:
    """A plain `<<` key: YAML's merge key (a quoted '<<' is an ordinary key)."""
    return isinstance(key, yaml.ScalarNode) and key.tag == _TAG + "merge"


def _check_tree(node: yaml.Node, offset: int, seen: set[int], depth: int, at: yaml.Node | None = None) -> None:
    """Refuse aliases (a node met twice: `at` is where the second use stands), deep nesting
    and tags that are not plain data. The one alias allowed is a merge key's (`<<: *defaults`,
    `<<: [*a, *b]`): a merge copies keys into one mapping and nests nothing, so unlike other
    aliases it cannot make a small text expand into a huge value."""
    if id(node) in seen:
        raise FieldError(line_of(at or node, offset), "YAML anchors and aliases are not allowed in front-matter "
                                                      "(except after a merge key '<<')")
    seen.add(id(node))
    if depth > MAX_DEPTH:
        raise FieldError(line_of(node, offset), "front-matter is nested too deeply")
    if node.tag not in _ALLOWED_TAGS and node.tag != _TAG + "merge":
        raise FieldError(line_of(node, offset), "unsupported YAML tag: only text, numbers, dates, true/false, "
                                                "lists and mappings")
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            _check_tree(key, offset, seen, depth + 1)
            if _is_merge(key):
                _check_merge(value, offset, seen, depth + 1, key)
            else:
                _check_tree(value, offset, seen, depth + 1, at=key)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_tree(item, offset, seen, depth + 1)


def _check_merge(value: yaml.Node, offset: int, seen: set[int], depth: int, key: yaml.Node) -> None:
    """A merge key's value: a mapping, or a list of mappings, each written there or an alias
    of one anchored earlier (already checked where it was written)."""
    items = [value]
    if isinstance(value, yaml.SequenceNode) and id(value) not in seen:
        seen.add(id(value))
        items = value.value
    for item in items:
        if not isinstance(item, yaml.MappingNode):
            raise FieldError(line_of(key, offset), "a merge key '<<' takes a mapping, or a list of mappings")
        if id(item) not in seen:
            _check_tree(item, offset, seen, depth + 1, at=key)


MAX_MERGED = 10_000
"""Keys that merges may copy in one front-matter: far more than a note needs, and a bound on
the work that chains of merges of merges could otherwise multiply."""


def _merge(node: yaml.Node, offset: int, done: set[int], active: set[int], budget: list[int]) -> None:
    """Apply merge keys in place, inner mappings first, as YAML defines them: a mapping's own
    keys win over merged ones, and of two merged mappings the earlier wins."""
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _merge(item, offset, done, active, budget)
        return
    if not isinstance(node, yaml.MappingNode) or id(node) in done:
        return
    if id(node) in active:
        raise FieldError(line_of(node, offset), "a merge key '<<' merges a mapping into itself")
    active.add(id(node))
    # in the order written: an anchor stands before its aliases, so an alias always meets a
    # mapping already merged (or one still open around it: a loop, refused above)
    for _, value in node.value:
        _merge(value, offset, done, active, budget)
    if any(_is_merge(key) for key, _ in node.value):
        own = [(key, value) for key, value in node.value if not _is_merge(key)]
        names = {key.value for key, _ in own if isinstance(key, yaml.ScalarNode)}
        for key, value in node.value:
            if not _is_merge(key):
                continue
            for source in value.value if isinstance(value, yaml.SequenceNode) else [value]:
                for k, v in source.value:  # already merged: no `<<` left in it
                    budget[0] -= 1
                    if budget[0] < 0:
                        raise FieldError(line_of(key, offset), "front-matter merges too many keys")
                    if not isinstance(k, yaml.ScalarNode):
                        own.append((k, v))  # `mapping` refuses it, as it would the same key written here
                    elif k.value not in names:
                        names.add(k.value)
                        own.append((k, v))
        node.value = own
    active.discard(id(node))
    done.add(id(node))


def mapping(node: yaml.Node, offset: int) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    """A mapping node as {key text: (key node, value node)}; duplicate keys are an error.
    (`compose` has already applied merge keys.)"""
    if not isinstance(node, yaml.MappingNode):
        raise FieldError(line_of(node, offset), "expected a mapping of keys to values")
    out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for key, value in node.value:
        if not isinstance(key, yaml.ScalarNode):
            raise FieldError(line_of(key, offset), "a key must be plain text")
        if key.value in out:
            raise FieldError(line_of(key, offset), "duplicate key: each key may appear once in a mapping")
        out[key.value] = (key, value)
    return out


def is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == _TAG + "null"


def as_text(node: yaml.Node, offset: int, what: str) -> str:
    """A scalar exactly as written: `no` stays "no", `2026-01-05` stays "2026-01-05"."""
    if not isinstance(node, yaml.ScalarNode):
        raise FieldError(line_of(node, offset), f"{what} must be text")
    return node.value.strip()


def as_text_list(node: yaml.Node, offset: int, what: str) -> list[str]:
    if is_null(node):
        return []
    if isinstance(node, yaml.ScalarNode):
        return [as_text(node, offset, what)] if node.value.strip() else []
    if not isinstance(node, yaml.SequenceNode):
        raise FieldError(line_of(node, offset), f"{what} must be a list of text")
    return [t for t in (as_text(item, offset, what) for item in node.value) if t]


def as_bool(node: yaml.Node, offset: int, what: str) -> bool:
    """Only a real `true` or `false`: `yes`, `no`, `"false"` are refused, never guessed."""
    if isinstance(node, yaml.ScalarNode) and not node.style and node.value in (
        "true", "True", "TRUE", "false", "False", "FALSE",
    ):
        return node.value.lower() == "true"
    raise FieldError(line_of(node, offset), f"{what} must be true or false, not {_show(node)}")


def as_number(node: yaml.Node, offset: int, what: str) -> int | float:
    """A decimal number as written (`0123` is 123, never octal); NaN, infinity and numbers
    too large for a float (`1e999`) are refused."""
    if isinstance(node, yaml.ScalarNode) and node.tag != _TAG + "bool":
        raw = node.value.strip()
        if _NUMBER.fullmatch(raw):
            clean = raw.replace("_", "")
            value = finite(clean)
            if value is None:
                raise FieldError(line_of(node, offset), f"{what} is too large a number")
            return whole(value, clean)
    raise FieldError(line_of(node, offset), f"{what} must be a number, not {_show(node)}")


def finite(text: str) -> float | None:
    """The float a decimal text stands for, or None where it is not finite (`1e999`, 400
    digits): an infinity would break every sum, chart and JSON file it reached."""
    value = float(text)
    return value if math.isfinite(value) else None


def whole(value: float, text: str) -> int | float:
    """An int where the text is one and a float holds it exactly (never int() of the text:
    Python refuses more than 4300 digits)."""
    return int(value) if re.fullmatch(r"[+-]?\d+", text) and abs(value) < 2**53 else value


def parse_date_text(raw: str) -> tuple[dt.date, dt.time | None, str | None] | None:
    """'2026-01-05' or '2026-01-05 10:00' (with optional seconds and offset); None if neither."""
    m = _DATE.fullmatch(raw.strip())
    if not m:
        return None
    year, month, day, hour, minute, second, zone = m.groups()
    try:
        day_ = dt.date(int(year), int(month), int(day))
        time_ = dt.time(int(hour), int(minute), int(second or 0)) if hour is not None else None
    except ValueError:
        return None
    return day_, time_, zone


def as_date(node: yaml.Node, offset: int, what: str) -> dt.date:
    """A date, or a date and time whose date part counts."""
    return as_datetime(node, offset, what)[0]


def as_datetime(node: yaml.Node, offset: int, what: str) -> tuple[dt.date, dt.time | None]:
    if isinstance(node, yaml.ScalarNode):
        parsed = parse_date_text(node.value)
        if parsed and not in_range(parsed[0]):
            raise FieldError(line_of(node, offset), f"{what} must be {DATE_RANGE}")
        if parsed:
            return parsed[0], parsed[1]
    raise FieldError(
        line_of(node, offset), f"{what} must be a date like 2026-01-05, not {_show(node)}"
    )


def _show(node: yaml.Node) -> str:
    """What was found, described without quoting it: logs never repeat what a note says."""
    if isinstance(node, yaml.ScalarNode):
        if node.style in ("'", '"'):
            return "text in quotes"
        kind = node.tag.replace(_TAG, "")
        return {"str": "text", "null": "empty", "bool": "yes/no"}.get(kind, kind)
    return "a list" if isinstance(node, yaml.SequenceNode) else "a mapping"
