"""Slugs: the one place where text becomes a folder name or an address.

A slug is the text transliterated to ASCII, so that no letter is dropped (`Zoë Ngô-Đặng`
gives `zoe-ngo-dang`, `Ærø` gives `aero`; Cyrillic, Greek and CJK names give their Latin
readings), then lower-cased, with letters and digits kept and every other run of
characters turned into a single `-`, none at either end.
"""

from __future__ import annotations

import unicodedata

from slugify import slugify as _slugify
from text_unidecode import unidecode


def slugify(text: str) -> str:
    # Transliterate here, with text-unidecode (python-slugify's own default), rather than
    # let python-slugify pick: it prefers the Unidecode package where that happens to be
    # installed, and a client's address must not depend on what else is installed.
    ascii_text = unidecode(unicodedata.normalize("NFKD", text))
    # The rest is python-slugify's: lower-case, [a-z0-9] runs joined by single `-`. Text is
    # taken as written: no HTML entity (`&amp;`, `&#65;`) is decoded first.
    return _slugify(ascii_text, entities=False, decimal=False, hexadecimal=False)
