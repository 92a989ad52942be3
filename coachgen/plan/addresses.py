"""Addresses do not break: each output remembers which page every address it published
showed, so that a page that moved (a client's slug changed, a same-day session's suffix
shifted) leaves a small redirect page at its old address. A redirect goes when its target
goes."""

from __future__ import annotations

import json
import os
import posixpath
from collections.abc import Set
from html import escape
from pathlib import Path

from coachgen import i18n
from coachgen.engine.output import output_key
from coachgen.plan.page import Page, Redirect, site_folder
from coachgen.plan.pages import language_of
from coachgen.vault.config import Config
from coachgen.vault.paths import STATE_DIR


def record_path(vault: Path, out_dir: Path) -> Path:
    """Beside the output's manifest under `.coachgen/outputs/`, never in the output."""
    return vault / STATE_DIR / "outputs" / f"{output_key(out_dir)}.addresses.json"


def load(vault: Path, out_dir: Path) -> dict[str, str]:
    """{output path: page identity} of every address this output has published."""
    try:
        data = json.loads(record_path(vault, out_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def save(vault: Path, out_dir: Path, record: dict[str, str]) -> None:
    path = record_path(vault, out_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def redirects(previous: dict[str, str], current: dict[str, Page], record: dict[str, str], planned: Set[str],
              owners: dict[str, str], keep: set[str], config: Config) -> tuple[list[Page], dict[str, str]]:
    """The redirect pages this plan needs, and the record to keep after it is written.
    `current` holds each planned page a person may link to, by identity, and `record` the
    same by path; `planned` every planned path; `owners` each client site's folder and its client's.

    An old address that a planned page now holds is that page's; one inside a withheld
    site (`keep`) is left as it was and remembered; any other whose page is still planned
    elsewhere gets a redirect to it."""
    record = dict(record)
    pages: list[Page] = []
    for old in sorted(previous.keys() - planned):  # only the addresses no page holds now
        identity = previous[old]
        if old.startswith(tuple(keep)):
            record[old] = identity
            continue
        target = current.get(identity)
        if target is None:
            continue  # the page is gone: so is its redirect
        assert target.client is not None  # only a client's pages have an identity
        if owners.get(site_folder(old), target.client.folder) != target.client.folder:
            continue  # another client has this address now: nothing of this one goes in their folder
        pages.append(Redirect(old, None, target=target.path,
                              data=page(old, target.path, language_of(target.client, config))))
        record[old] = identity
    return pages, record


def page(old: str, target: str, lang: i18n.Language | None = None) -> bytes:
    """A redirect with no content: the new address, relative, so the site can move hosts;
    its few words in the client's language."""
    lang = lang or i18n.language()
    href = posixpath.relpath(posixpath.dirname(target), posixpath.dirname(old)) + "/"
    href = escape(href, quote=True)
    moved = escape(lang.gettext("Moved"))
    link = escape(lang.gettext("open it here"))
    text = escape(lang.gettext("This page has moved: %(link)s.")) % {"link": f'<a href="{href}">{link}</a>'}
    return (
        f'<!doctype html>\n<html lang="{lang.code}"><head><meta charset="utf-8">'
        '<meta name="robots" content="noindex, nofollow">'
        f'<meta http-equiv="refresh" content="0; url={href}"><link rel="canonical" href="{href}">'
        f'<title>{moved}</title></head>\n'
        f'<body><p>{text}</p></body></html>\n'
    ).encode()
