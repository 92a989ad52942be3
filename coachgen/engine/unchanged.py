"""`coachgen build` when nothing changed: if every input of the last build is as it was (the
vault's files, coachgen's state under `.coachgen/`, the passwords in the environment, the day,
git's HEAD, coachgen's own code, templates and catalogues, the libraries that shape the pages)
and the output holds exactly the files that build left, the build is already done. Its result
(problems included, so that a warning is never silenced) is reported again, without loading a
cache, parsing or planning anything.

The record, kept beside the output's manifest, fingerprints the inputs as they were *before*
the build and coachgen's own records as the build left them. It is deleted before any build
starts, so a build that fails or is stopped leaves none, and the next build is a real one.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import os
import pickle
import stat
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable

import coachgen
from coachgen import i18n
from coachgen.engine import output
from coachgen.engine.result import Result, today_in
from coachgen.problems import Problem
from coachgen.render import sources
from coachgen.vault import config as config_mod
from coachgen.vault import files as vault
from coachgen.vault import history, paths

LIBRARIES = ("Jinja2", "markdown-it-py", "mdit-py-plugins", "plotly", "Babel", "nh3", "python-frontmatter", "PyYAML",
             "icalendar", "python-dateutil", "python-slugify", "cryptography", "tzdata")
"""Packages whose version can change what a page holds."""
ENV_PREFIX = "COACHGEN_"
"""The environment a build reads (passwords, workers): all of it is an input."""


@dataclass(frozen=True)
class Record:
    inputs: str
    problems: list[Problem]
    planned: int
    sites: int
    files: dict[str, tuple[int, int, int]]
    """Each file of the output as that build left it: (size, modification time, inode)."""


def record_path(vault_dir: Path, out_dir: Path) -> Path:
    return vault_dir / paths.STATE_DIR / "outputs" / f"{output.output_key(out_dir)}.unchanged.pickle"


def build(vault_dir: Path, *, out: Path | None = None, today: dt.date | None = None, git: bool = True,
          progress: Callable[[int, int], None] | None = None) -> Result:
    """The last build's result where nothing changed since it, else `site.build` (the engine is
    imported only then: the answer that nothing changed costs little more than Python's start)."""
    vault_dir = vault_dir.resolve()
    config, _ = config_mod.load(vault_dir, out)
    out_dir = config.out_dir
    path = record_path(vault_dir, out_dir)
    last: Record | None = None
    listing = None
    try:
        listing = vault.scan(vault_dir, out_dir)
        before = inputs(vault_dir, listing, today or today_in(config.zone), git)
        last = _load(path)
        if last is not None and last.inputs == before + state(vault_dir, out_dir) and _intact(out_dir, last.files):
            return Result(list(last.problems), planned=last.planned, sites=last.sites, unchanged=True)
    except OSError:
        before = None
    path.unlink(missing_ok=True)
    from coachgen.engine import site  # the engine, only for a real build

    collecting = gc.isenabled()
    gc.disable()  # until the record is saved too: the collector's scans of the build's big heap are pure cost
    try:
        result = site.build(vault_dir, out=out, today=today, progress=progress, git=git, listing=listing)
        if before is not None and result.model is not None:
            files = _left(out_dir, output.known_files(vault_dir, out_dir), result, last)
            _save(path, Record(before + state(vault_dir, out_dir), list(result.problems), result.planned,
                               result.sites, files))
    finally:
        if collecting:
            gc.enable()
    return result


def _left(out_dir: Path, known: set[str], result: Result, last: Record | None) -> dict[str, tuple[int, int, int]]:
    """The output's files as the build left them: those it wrote or removed looked at anew,
    the others as the last record has them. A file changed by hand since then differs from
    its record, so the next build is a real one, never a wrong answer that nothing changed."""
    if last is None:
        return _files(out_dir, known)
    touched = set(result.written) | set(result.removed)
    files = {rel: last.files[rel] for rel in known if rel not in touched and rel in last.files}
    files.update(_files(out_dir, known - files.keys()))
    return dict(sorted(files.items()))


def inputs(vault_dir: Path, listing: vault.Listing, today: dt.date, git: bool) -> str:
    """What the coach and the machine give a build, taken before it starts (a save during the
    build makes the next one a real build): `listing` is the vault's files, as just scanned."""
    h = hashlib.sha256()

    def part(*values: object) -> None:
        h.update(repr(values).encode("utf-8", "surrogatepass"))

    part(sys.version, coachgen.code_digest(), sources.templates_digest(vault_dir / paths.OVERRIDES_DIR),
         i18n.digest(vault_dir), today.isoformat(), [_version(name) for name in LIBRARIES])
    for rel, stamp in listing.files.items():
        part(rel, stamp.mtime_ns, stamp.size, stamp.ctime_ns, stamp.ino)
    secrets = vault_dir / paths.SECRETS
    part(secrets.read_bytes() if secrets.is_file() else None)
    part(sorted((k, v) for k, v in os.environ.items() if k.startswith(ENV_PREFIX)))
    part(history.head(vault_dir) if git else None)
    index = vault_dir / ".git" / "index"  # what git tracks: a tracked secrets file is warned about
    part(vault.Stamp.of(index.stat()) if index.is_file() else None)
    return h.hexdigest()


def state(vault_dir: Path, out_dir: Path) -> str:
    """coachgen's own records a build reads and writes (salts, names, check-in tokens, this
    output's manifest and addresses), as they stand after the last build."""
    h = hashlib.sha256()
    folder = vault_dir / paths.STATE_DIR
    key = output.output_key(out_dir)
    files = [f for f in sorted(folder.glob("*")) if f.name not in (Path(paths.SECRETS).name, "build.lock")]
    files += [f for f in sorted((folder / "outputs").glob(key + ".*"))
              if not f.name.endswith((".unchanged.pickle", ".tmp"))]
    files += sorted(output.manifest_folder(vault_dir, out_dir).glob("*.pickle"))
    for file in files:
        try:
            st = file.stat()
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        # by stamp: coachgen replaces a record whole (a new inode), and a hand's edit moves its time
        h.update(repr((file.relative_to(folder).as_posix(), vault.Stamp.of(st))).encode())
    return h.hexdigest()


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _files(out_dir: Path, rels) -> dict[str, tuple[int, int, int]]:
    files = {}
    for rel in sorted(rels):
        try:
            st = os.lstat(out_dir / rel)
        except OSError:
            continue
        files[rel] = (st.st_size, st.st_mtime_ns, st.st_ino)
    return files


def _intact(out_dir: Path, files: dict[str, tuple[int, int, int]]) -> bool:
    """The output still holds every file the last build left, untouched."""
    for rel, known in files.items():
        try:
            st = os.lstat(out_dir / rel)
        except OSError:
            return False
        if (st.st_size, st.st_mtime_ns, st.st_ino) != known:
            return False
    return True


def _load(path: Path) -> Record | None:
    try:
        with open(path, "rb") as fh:
            record = pickle.load(fh)
    except (OSError, ValueError, EOFError, pickle.UnpicklingError, AttributeError, ImportError):
        return None
    return record if isinstance(record, Record) else None


def _save(path: Path, record: Record) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        pickle.dump(record, fh)
    os.replace(tmp, path)
