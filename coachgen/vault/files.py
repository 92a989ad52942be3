"""Find the vault's notes and files: the ignore rules, and a stamp per file."""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from coachgen.vault.paths import OVERRIDES_DIR

# Editor temporaries (vim, emacs, JetBrains, GNOME, generic) that are never notes.
TEMP_PATTERNS = ("*.swp", "*.swx", "*~", ".#*", "#*#", "*.tmp", "4913", "*___jb_tmp___", "*___jb_old___")


@dataclass(frozen=True)
class Stamp:
    """What the file system says of a file. The change time and inode are in it because
    `cp -p`, `touch -r` and sync tools can give new content the old size and modification
    time, but none can set the change time, and a replaced file has a new inode."""

    mtime_ns: int
    size: int
    ctime_ns: int = 0
    ino: int = 0

    @classmethod
    def of(cls, st: os.stat_result) -> "Stamp":
        return cls(st.st_mtime_ns, st.st_size, st.st_ctime_ns, st.st_ino)


@dataclass(frozen=True)
class Listing:
    """Every file coachgen may read, by vault-relative `/` path."""

    files: dict[str, Stamp]

    @cached_property
    def notes(self) -> list[str]:
        return sorted(p for p in self.files if p.endswith(".md") and not p.startswith(OVERRIDES_DIR + "/"))

    @cached_property
    def shape(self) -> tuple:
        """Every file, and the stamps of those that are no note: what links and embeds look up."""
        return tuple(self.files), tuple((p, s) for p, s in self.files.items() if not p.endswith(".md"))

    def restamped(self, files: dict[str, Stamp], changed: set[str]) -> "Listing":
        """The same files, the `changed` ones with new stamps: what is made of the rest stands."""
        listing = Listing(files)
        listing.__dict__["notes"] = self.notes  # cached_property's own slot
        if all(p.endswith(".md") for p in changed):
            listing.__dict__["shape"] = self.shape
        return listing


_TEMP = re.compile("|".join(fnmatch.translate(pattern) for pattern in TEMP_PATTERNS))


def is_ignored_name(name: str) -> bool:
    """Hidden files and folders and editor temporaries."""
    return name.startswith(".") or _TEMP.match(name) is not None


def scan(vault: Path, out_dir: Path) -> Listing:
    """Walk the vault without following symbolic links, skipping what the contract ignores."""
    files: dict[str, Stamp] = {}
    skip = {os.path.normcase(str(out_dir.resolve()))}

    def walk(folder: str, prefix: str) -> None:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            return
        for entry in entries:
            if is_ignored_name(entry.name) or entry.is_symlink():
                continue
            rel = prefix + entry.name
            if entry.is_dir(follow_symlinks=False):
                if os.path.normcase(entry.path) not in skip:
                    walk(entry.path, rel + "/")
            elif entry.is_file(follow_symlinks=False):
                st = entry.stat(follow_symlinks=False)
                files[rel] = Stamp.of(st)

    walk(str(vault), "")
    return Listing(dict(sorted(files.items())))


def stamp(vault: Path, rel: str) -> Stamp | None:
    """The stamp of one file, or None where it is gone, ignored, or not a plain file."""
    if any(is_ignored_name(part) for part in rel.split("/")):
        return None
    try:
        st = os.lstat(vault / rel)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return Stamp.of(st)


def read_bytes(vault: Path, rel: str) -> bytes:
    return (vault / rel).read_bytes()
