"""The one place that decides what a client may see, and the check of every planned page."""

from __future__ import annotations

import posixpath

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


def may_use_note(client: Client, path: str) -> bool:
    """A note a client's page may show: one of that client's published sessions."""
    return any(s.path == path for s in client.sessions)


def check_plan(pages) -> None:
    """Every page's sources belong to its client, and no two pages share an output path."""
    seen: set[str] = set()
    for page in pages:
        if page.path in seen:
            raise PrivacyError(f"two pages planned on one path: {page.path}")
        seen.add(page.path)
        if page.client is None:
            continue
        root = f"clients/{page.client.slug}/"
        if not page.path.startswith(root) or posixpath.normpath(page.path) != page.path:
            raise PrivacyError(f"a page of {page.client.slug} is planned outside its folder: {page.path}")
        for source in page.notes:
            if not may_use_note(page.client, source):
                raise PrivacyError(f"{page.path} would show a note that is not {page.client.slug}'s")
        if page.copy_from and not may_use_file(page.client, page.copy_from):
            raise PrivacyError(f"{page.path} would copy a file that is not {page.client.slug}'s")
