"""The one place that decides what a client may see, and the check of every planned page."""

from __future__ import annotations

import posixpath
import re

import nh3

from .model import Client, client_folder
from .vault import is_ignored_name

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg", ".avif", ".bmp"}


class PrivacyError(RuntimeError):
    """A planned page would show a client something that is not theirs: the build stops."""


def may_use_file(client: Client, path: str) -> bool:
    """A file a client's page may embed: inside the vault, not a note, not hidden, and not
    in another client's folder."""
    if path.startswith("../") or path.startswith("/") or path.endswith(".md"):
        return False
    if any(is_ignored_name(part) for part in path.split("/")):
        return False
    owner = client_folder(path)
    return owner is None or owner == client.folder


_TAGS = nh3.ALLOWED_TAGS | {"section", "input"}
_ATTRIBUTES = {
    "*": {"class", "id", "role", "aria-label", "aria-hidden", "title", "lang", "dir"},
    "a": {"href"},
    "img": {"src", "data-src", "alt", "width", "height", "loading"},
    "time": {"datetime"},
    "details": {"open"},
    "ol": {"start", "reversed"},
    "td": {"colspan", "rowspan", "style"},
    "th": {"colspan", "rowspan", "scope", "style"},
    "input": {"type", "checked", "disabled"},
}
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*:", re.I)


def sanitize(html: str, rel: str) -> str:
    """With `allow_html`, a note's raw HTML keeps its markup but loses scripts, handlers and
    anything that loads from outside the client's folder (guarantee 4 holds regardless)."""
    depth = rel.count("../")
    here = "/".join(["d"] * depth)

    def keep(tag: str, attr: str, value: str) -> str | None:
        if attr not in ("href", "src", "data-src"):
            return value
        if attr == "href" and (value.startswith("#") or re.match(r"(https?|mailto|tel):", value, re.I)):
            return value
        if _SCHEME.match(value) or value.startswith("/") or value.startswith("\\"):
            return None
        return None if posixpath.normpath(posixpath.join(here, value)).startswith("..") else value

    return nh3.clean(html, tags=_TAGS, attributes=_ATTRIBUTES, attribute_filter=keep,
                     clean_content_tags={"script", "style"}, url_schemes={"http", "https", "mailto", "tel"},
                     link_rel="noopener noreferrer", filter_style_properties={"text-align"})


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_METADATA = {b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"tIME"}


def strip_metadata(data: bytes, name: str) -> bytes:
    """Drop what a camera or editor hides in an image (EXIF with GPS, comments, XMP) before it
    is published; the picture itself is kept byte for byte. Other files pass unchanged."""
    ext = posixpath.splitext(name)[1].lower()
    if ext == ".png" and data.startswith(_PNG_SIGNATURE):
        return _strip_png(data)
    if ext in (".jpg", ".jpeg") and data.startswith(b"\xff\xd8"):
        return _strip_jpeg(data)
    return data


def _strip_png(data: bytes) -> bytes:
    out, pos = [_PNG_SIGNATURE], len(_PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if kind not in _PNG_METADATA:
            out.append(data[pos:end])
        pos = end
        if kind == b"IEND":
            break  # nothing after the image's end is published
    return b"".join(out)


def _strip_jpeg(data: bytes) -> bytes:
    """Keep JFIF (APP0), ICC colour (APP2) and Adobe (APP14) segments; drop EXIF/XMP (APP1),
    other application segments and comments. The scan data after SOS is copied as it is."""
    out, pos = [b"\xff\xd8"], 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xDA:  # start of scan: the rest is the image
            out.append(data[pos:])
            return b"".join(out)
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        segment = data[pos : pos + 2 + length]
        if not (0xE1 <= marker <= 0xEF and marker not in (0xE2, 0xEE)) and marker != 0xFE:
            out.append(segment)
        pos += 2 + length
    return b"".join(out) + data[pos:]


def check_plan(pages, checked: set[int] = frozenset()) -> None:
    """Every page's sources belong to its client, and no two pages share an output path.
    `checked` holds the ids of pages that passed already (a watcher's unchanged clients)."""
    seen: set[str] = set()
    notes_of: dict[int, set[str]] = {}
    for page in pages:
        if page.path in seen:
            raise PrivacyError(f"two pages planned on one path: {page.path}")
        seen.add(page.path)
        if page.client is None or id(page) in checked:
            continue
        own = notes_of.setdefault(id(page.client), {s.path for s in page.client.sessions})
        root = f"clients/{page.client.slug}/"
        if not page.path.startswith(root) or posixpath.normpath(page.path) != page.path:
            raise PrivacyError(f"a page of {page.client.slug} is planned outside its folder: {page.path}")
        for source in page.notes:
            if source not in own:
                raise PrivacyError(f"{page.path} would show a note that is not {page.client.slug}'s")
        if page.copy_from and not may_use_file(page.client, page.copy_from):
            raise PrivacyError(f"{page.path} would copy a file that is not {page.client.slug}'s")
