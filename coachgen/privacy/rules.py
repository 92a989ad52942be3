"""The one place that decides what a client may see, and the check of every planned page."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Set
from dataclasses import dataclass
from urllib.parse import unquote

import nh3

from coachgen.model.clients import Client, Model
from coachgen.plan.page import CLIENT_SITES, COACH_SITE, Asset, Copied, Page, Redirect, site_folder
from coachgen.privacy.passwords import COACH, Passwords
from coachgen.problems import Problem, error, warning
from coachgen.vault.config import Config
from coachgen.vault.files import is_ignored_name
from coachgen.vault.paths import CONFIG_FILE, SECRETS, client_folder, profile

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg", ".avif", ".bmp"}


class PrivacyError(RuntimeError):
    """A planned page would show a client something that is not theirs: the build stops."""


# ---------------------------------------------------------------- who may be published, and how

ENCRYPTED = "encrypted"
OPEN_BY_CHOICE = "no password, by choice"
OPEN_OPTIONAL = "no password (passwords optional)"
WITHHELD = "withheld"


@dataclass(frozen=True)
class Protection:
    """How one site (a client's, or the coach's overview) may be published."""

    site: str
    """A client slug, or `passwords.COACH`."""
    status: str
    secret: str | None = None
    """The password, for an encrypted site."""
    why: str = ""
    """Why a withheld site is not built (what an earlier build wrote stays as it was)."""

    @property
    def published(self) -> bool:
        return self.status != WITHHELD

    @property
    def encrypted(self) -> bool:
        return self.status == ENCRYPTED


def decide(config: Config, passwords: Passwords, model: Model,
           sealed_before: set[str]) -> tuple[dict[str, Protection], list[Problem]]:
    """The one place that decides whether each site may be published, and encrypted or not.

    Fail closed: a site is published in plain text only where someone said so in writing
    (`passwords = "optional"`, `password: none`, `overview_password = "none"`) and nothing
    suggests that a password was meant for it: a password key that names no client (whose
    site could that be?), or an encrypted site in this output that has lost its password."""
    problems = passwords.unknown(model.slugs)
    doubt = bool(problems) or passwords.unreadable
    found: dict[str, Protection] = {}

    def plain(site: str, chosen: bool, where: str, line: int, fix: str) -> Protection:
        if site in sealed_before:
            problems.append(error(where, line, f"{_name(site)} was published with a password and has none now; its "
                                               "encrypted site stays as it was. Restore its password, or remove the "
                                               "site from the output folder to publish it without one"))
            return Protection(site, WITHHELD, why="lost its password")
        if doubt:
            return Protection(site, WITHHELD, why="a password names no client")
        if chosen:
            return Protection(site, OPEN_BY_CHOICE)
        if config.passwords == "optional":
            return Protection(site, OPEN_OPTIONAL)
        problems.append(error(where, line, f"{_name(site)} has no password, and this vault requires one: run "
                                           f"`coachgen password {'coach' if site == COACH else site} --save`, "
                                           f"or {fix}"))
        return Protection(site, WITHHELD, why="no password")

    for client in model.clients:
        secret = passwords.get(client.slug)
        if secret:
            found[client.slug] = Protection(client.slug, ENCRYPTED, secret)
        else:
            found[client.slug] = plain(client.slug, client.open_by_choice, profile(client.folder),
                                       1, "write 'password: none' in its client.md to publish it without one")
    for slug in model.clashes:
        found[slug] = Protection(slug, WITHHELD, why="two clients on this slug")
    secret = passwords.get(COACH)
    if secret:
        found[COACH] = Protection(COACH, ENCRYPTED, secret)
    else:
        found[COACH] = plain(COACH, config.overview_password == "none", CONFIG_FILE, 1,
                             "write overview_password = \"none\" in coachgen.toml to publish it without one")
        if found[COACH].status == OPEN_OPTIONAL:
            problems.append(warning(CONFIG_FILE, 1, "the coach's overview has no password: anyone who has coach/ can "
                                                    f"read it (set [coach] password in {SECRETS} "
                                                    "or COACHGEN_COACH_PASSWORD)"))
    if doubt:
        held = sorted(site for site, p in found.items() if p.why == "a password names no client")
        if held:
            names = ", ".join("the overview" if site == COACH else site for site in held)
            problems.append(error(SECRETS, 1, "while a password names no client, no site without a password is "
                                              f"written or updated (held back: {names})"))
    return found, problems


def _name(site: str) -> str:
    return "the coach's overview" if site == COACH else f"client '{site}'"


def sealed_sites(known_files) -> set[str]:
    """The sites an output held encrypted, by the lock script that only encrypted sites carry."""
    found = set()
    for rel in known_files:
        if rel.endswith("/assets/lock.js"):
            parts = rel.split("/")
            if parts[0] == COACH_SITE and len(parts) == 3:
                found.add(COACH)
            elif parts[0] == CLIENT_SITES and len(parts) == 4:
                found.add(parts[1])
    return found


def site_root(site: str) -> str:
    """The output folder of a site."""
    return f"{COACH_SITE}/" if site == COACH else f"{CLIENT_SITES}/{site}/"


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
_URL_ATTRIBUTES = {"href", "src", "data-src", "srcset", "style"}


def _stays_inside(value: str, depth: int) -> bool:
    """Whether a relative URL on a page `depth` folders below the client's site root stays in
    it, read as a browser (or a server that decodes again) would: controls and spaces dropped,
    percent-encoding undone however often it was applied, backslashes as slashes."""
    value = re.sub(r"[\x00-\x20\x7f]", "", value)
    for _ in range(8):  # %252e%252e is %2e%2e is ..
        decoded = unquote(value)
        if decoded == value:
            break
        value = decoded
    else:
        return False  # encoded yet more often: no URL a page needs
    value = value.replace("\\", "/").split("#")[0].split("?")[0]
    if _SCHEME.match(value) or value.startswith("/"):
        return False
    here = "/".join(["d"] * depth)
    return not posixpath.normpath(posixpath.join(here, value) if value else here).startswith("..")


def sanitize(html: str, rel: str) -> str:
    """With `allow_html`, a note's raw HTML keeps its markup but loses scripts, handlers and
    anything that loads from outside the client's folder (guarantee 4 holds regardless)."""
    depth = rel.count("../")

    def keep(tag: str, attr: str, value: str) -> str | None:
        if attr not in _URL_ATTRIBUTES:
            return value
        if attr == "style":  # only text-align is kept (below); a url() in it is refused
            return None if "url(" in value.lower() or "\\" in value else value
        if attr == "srcset":  # `url 1x, url 2x`: every candidate must stay inside
            urls = [part.split()[0] for part in value.split(",") if part.split()]
            return value if urls and all(_stays_inside(url, depth) for url in urls) else None
        if attr == "href" and (value.startswith("#") or re.match(r"(https?|mailto|tel):", value, re.I)):
            return value
        return value if _stays_inside(value, depth) else None

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


PLAIN_ON_SEALED_SITES = ("robots.txt",)
"""What an encrypted site may hold unencrypted besides coachgen's shipped assets."""


def check_plan(pages, protections: dict[str, Protection] | None = None, taken: Set[str] = frozenset(),
               owners: dict[str, str] | None = None, lookup: Callable[[str], Page | None] | None = None) -> None:
    """Every page's sources belong to its client, no two pages share an output path, and
    (given `protections`) no page belongs to a withheld site and every page of an encrypted
    site is sealed, or is a shipped asset or robots.txt (never a calendar: an app cannot
    decrypt it). `taken` holds the paths of pages that passed already (a watcher's unchanged
    clients); `owners` each client site's folder and its client's (else read from `pages`);
    `lookup` finds a redirect's target among all planned pages (else among `pages`)."""
    seen: set[str] = set()
    notes_of: dict[int, set[str]] = {}
    find = lookup or {page.path: page for page in pages}.get
    if owners is None:
        owners = {site_folder(page.path): page.client.folder for page in pages
                  if page.client is not None and not isinstance(page, Redirect)}
    for page in pages:
        if page.path in seen or page.path in taken:
            raise PrivacyError(f"two pages planned on one path: {page.path}")
        seen.add(page.path)
        if isinstance(page, Redirect):
            _check_redirect(page, find, owners, protections)
            continue
        if protections is not None:
            _check_protection(page, protections)
        if page.client is None:
            continue
        own = notes_of.get(id(page.client))
        if own is None:  # each client's notes, once
            own = notes_of[id(page.client)] = set(page.client.note_paths)
        root = f"clients/{page.client.slug}/"
        if not page.path.startswith(root) or posixpath.normpath(page.path) != page.path:
            raise PrivacyError(f"a page of {page.client.slug} is planned outside its folder: {page.path}")
        for source in page.notes:
            if source not in own:
                raise PrivacyError(f"{page.path} would show a note that is not {page.client.slug}'s")
        if isinstance(page, Copied) and not may_use_file(page.client, page.source):
            raise PrivacyError(f"{page.path} would copy a file that is not {page.client.slug}'s")


def _check_redirect(page, find: Callable[[str], Page | None], owners: dict[str, str],
                    protections: dict[str, Protection] | None) -> None:
    """A redirect holds no content, leads to a page of this very plan, is never written
    into a withheld site, nor into the folder of another client than its target's."""
    parts = page.path.split("/")
    site = COACH if parts[0] == COACH_SITE else parts[1] if parts[0] == CLIENT_SITES and len(parts) > 2 else None
    target = find(page.target)
    if site is None or posixpath.normpath(page.path) != page.path or target is None:
        raise PrivacyError(f"a redirect is planned where it may not be: {page.path}")
    owner = owners.get(site_folder(page.path))
    if owner is not None and (target.client is None or owner != target.client.folder):
        raise PrivacyError(f"{page.path} would lead from one client's folder to another's pages")
    held = protections.get(site) if protections is not None else None
    if held is not None and not held.published:
        raise PrivacyError(f"{page.path} would write a redirect into a withheld site")


def _check_protection(page, protections: dict[str, Protection]) -> None:
    site = page.client.slug if page.client is not None else COACH
    protection = protections.get(site)
    if protection is None or not protection.published:
        raise PrivacyError(f"{page.path} belongs to a site that may not be published")
    if protection.encrypted and not page.sealed and not isinstance(page, Asset) and \
            page.path.removeprefix(site_root(site)) not in PLAIN_ON_SEALED_SITES:
        raise PrivacyError(f"{page.path} would be published unencrypted on a site with a password")
