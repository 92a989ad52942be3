"""Front-matter: split by python-frontmatter, composed by PyYAML's C loader, read as written.

YAML 1.1 resolves `no` to False and `2026-01-05` to a date; the contract wants text
where it expects text. So we compose the document into nodes (never constructing
Python objects, so no tag can execute anything) and convert each value ourselves by
what the field expects, with the node's line for error messages.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import frontmatter
import yaml

try:  # the C composer is several times faster; the pure one behaves the same
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _Loader

MAX_FRONT_MATTER = 64 * 1024
MAX_DEPTH = 32

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
        mark = exc.problem_mark or exc.context_mark
        line = offset + (mark.line + 1 if mark else 1)
        raise FieldError(line, f"front-matter is not valid YAML: {exc.problem or exc.context}") from None
    except (yaml.YAMLError, RecursionError):
        raise FieldError(offset + 1, "front-matter is not valid YAML (nested too deeply)") from None
    if root is None:
        return {}
    _check_tree(root, offset, set(), 0)
    if not isinstance(root, yaml.MappingNode):
        raise FieldError(line_of(root, offset), "front-matter must be a mapping of keys to values")
    return mapping(root, offset)


def _check_tree(node: yaml.Node, offset: int, seen: set[int], depth: int, at: yaml.Node | None = None) -> None:
    """Refuse aliases (a node met twice: `at` is where the second use stands), deep nesting
    and tags that are not plain data."""
    if id(node) in seen:
        raise FieldError(line_of(at or node, offset), "YAML anchors and aliases are not allowed in front-matter")
    seen.add(id(node))
    if depth > MAX_DEPTH:
        raise FieldError(line_of(node, offset), "front-matter is nested too deeply")
    if node.tag not in _ALLOWED_TAGS and node.tag != _TAG + "merge":
        raise FieldError(line_of(node, offset), f"unsupported YAML tag {node.tag.replace(_TAG, '!!')}")
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            _check_tree(key, offset, seen, depth + 1)
            _check_tree(value, offset, seen, depth + 1, at=key)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_tree(item, offset, seen, depth + 1)


def mapping(node: yaml.Node, offset: int) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    """A mapping node as {key text: (key node, value node)}; duplicate keys are an error."""
    if not isinstance(node, yaml.MappingNode):
        raise FieldError(line_of(node, offset), "expected a mapping of keys to values")
    out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for key, value in node.value:
        if not isinstance(key, yaml.ScalarNode):
            raise FieldError(line_of(key, offset), "a key must be plain text")
        if key.value in out:
            raise FieldError(line_of(key, offset), f"duplicate key '{key.value}'")
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
    """A decimal number as written (`0123` is 123, never octal); NaN and infinity are refused."""
    if isinstance(node, yaml.ScalarNode) and node.tag != _TAG + "bool":
        raw = node.value.strip()
        if _NUMBER.fullmatch(raw):
            clean = raw.replace("_", "")
            if re.fullmatch(r"[+-]?\d+", clean):
                return int(clean)
            return float(clean)
    raise FieldError(line_of(node, offset), f"{what} must be a number, not {_show(node)}")


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
