"""The output folder: coachgen's alone. Staged writes moved into place by a journaled
commit, a manifest of what was written, and a lock against two builds at once.

Ownership: the manifest (under `.coachgen/outputs/`, never in the output) lists every file
a build wrote. A build removes only files that manifest lists, never replaces a file it
does not list, and refuses (`NotOurs`, before writing anything) an existing folder that is
not empty and has no manifest.

Crash safety: a build renders every changed file into a staging folder outside the
published tree. Only when all of them are ready does it write a journal (every move and
removal, and the new contents of the manifest's shards that change; fsync'd), then
carries it out and deletes it. A build killed before the journal is complete left the
output as it was; one killed after it is finished by the next build, which rolls the
journal forward first: so each site ends up wholly old or wholly new. The manifest also
remembers each file's digest, so an unchanged file is neither rewritten nor read back.

The manifest is kept in shards, one per site (each client's, the coach's) and one for the
files at the top: a save in `watch` changes one or two sites, so its commit journals and
rewrites those small files, not a record of the whole output.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import pickle
import posixpath
import shutil
from collections.abc import Set
from pathlib import Path
from typing import Any

from coachgen.plan.page import CLIENT_SITES
from coachgen.vault.paths import STATE_DIR

STAGING = ".coachgen-staging"
LITTER = {STAGING, ".DS_Store", "Thumbs.db", "desktop.ini"}
"""What a folder may hold and still count as empty: our own staging (see `staging_folder`),
and what a file manager leaves in a folder it merely opened (never removed, never replaced)."""


class Busy(RuntimeError):
    """Another coachgen build is writing this vault's output."""


class NotOurs(RuntimeError):
    """The output holds files coachgen did not write where this build would write: it
    refuses, with nothing written."""


@contextlib.contextmanager
def build_lock(vault: Path):
    path = vault / STATE_DIR / "build.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Busy("another coachgen build is running on this vault; try again when it ends") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def output_key(out_dir: Path) -> str:
    """The name under `.coachgen/outputs/` of everything recorded about one output folder."""
    return hashlib.sha256(str(out_dir.resolve()).encode()).hexdigest()[:16]


def manifest_folder(vault: Path, out_dir: Path) -> Path:
    """Where the manifest of an output folder keeps its shards (see `shard_name`)."""
    return vault / STATE_DIR / "outputs" / output_key(out_dir)


def shard_name(rel: str) -> str:
    """The file of the manifest folder that lists `rel`: one per site (`clients/<slug>/`,
    `coach/`, any other top folder), and one for the files at the top."""
    site, _, rest = rel.partition("/")
    if site == CLIENT_SITES and "/" in rest:
        site += "/" + rest.partition("/")[0]
    elif not rest:
        site = ""
    return hashlib.sha256(site.encode()).hexdigest()[:16] + ".pickle"


class Output:
    def __init__(self, vault: Path, out_dir: Path):
        self.out = out_dir
        self.manifest_dir = manifest_folder(vault, out_dir)
        self.single_manifest = self.manifest_dir.with_suffix(".pickle")
        """The manifest as coachgen kept it before shards: read, and replaced by the next commit."""
        self.journal_path = self.manifest_dir.with_suffix(".journal")
        self.staging = staging_folder(vault / STATE_DIR / "staging" / output_key(out_dir), out_dir.resolve())
        self._load()
        self.changes: dict[str, list] = {}
        """The entries of this build's manifest that differ from the last build's."""
        self.staged: list[tuple[str, str]] = []
        self.shared: dict[str, str] = {}
        """A file holding each shared asset (by stamp), in place or staged, to link copies to."""

    def _load(self) -> None:
        """Read the last build's manifest; `owned` says whether there is one to trust, and
        `whole` whether the next commit writes every shard anew (and removes any other)."""
        try:
            self.shards, self.whole = self._read_manifest()
            self.owned = True
        except (OSError, ValueError, EOFError, pickle.UnpicklingError):
            self.shards, self.whole, self.owned = {}, True, False  # fail closed: an unreadable manifest is none
        self.known: dict[str, list] = {}
        for entries in self.shards.values():
            self.known.update(entries)

    def _read_manifest(self) -> tuple[dict[str, dict[str, list]], bool]:
        """The manifest's shards, and whether they come from the one file an older coachgen
        kept (still ours: the next commit replaces it by shards)."""
        try:
            with open(self.single_manifest, "rb") as fh:
                return _split(pickle.load(fh)), True
        except FileNotFoundError:
            return _read_shards(self.manifest_dir), False

    def __enter__(self) -> "Output":
        self._recover()
        self._refuse_if_not_ours()
        # what a build that failed before its commit left; also a staging folder inside the
        # output, from an older coachgen or an output that is a mount point (ours: the
        # output is owned, or holds nothing else)
        shutil.rmtree(self.staging, ignore_errors=True)
        shutil.rmtree(self.out / STAGING, ignore_errors=True)
        self.staging.mkdir(parents=True)
        return self

    def __exit__(self, *exc) -> None:
        if not self.journal_path.exists():  # a journal not yet carried out still needs its staged files
            shutil.rmtree(self.staging, ignore_errors=True)

    def _recover(self) -> None:
        """Finish the commit a killed (or failed) build left half done. Its journal was written
        only once every file was staged, so rolling it forward makes every site wholly new."""
        try:
            with open(self.journal_path, "rb") as fh:
                journal = pickle.load(fh)
        except FileNotFoundError:
            return
        if "manifest" in journal:  # an older coachgen's journal holds the whole manifest, in one piece
            journal.update(shards=_split(journal.pop("manifest")), whole=True)
        self._make_folders(journal["moves"])
        self._apply(journal)
        shutil.rmtree(journal["staging"], ignore_errors=True)
        self._load()

    def _refuse_if_not_ours(self) -> None:
        """An existing folder with anything in it, and no manifest, is not ours to write into."""
        if self.owned:
            return
        try:
            strangers = [name for name in os.listdir(self.out) if name not in LITTER]
        except FileNotFoundError:
            return
        if strangers:
            raise NotOurs(f"{self.out} is not empty and was not written by coachgen; choose an empty or new folder "
                          "with --out (nothing was written; if coachgen did build it but its record under "
                          f"{STATE_DIR}/ was deleted, delete the folder and build again)")

    # ------------------------------------------------------------ staging

    def unknown(self, paths: Set[str]) -> Set[str]:
        """Those of `paths` no earlier build wrote (the others are carried as they are)."""
        known = self.known
        if known.keys() >= paths:  # the common case, at C speed
            return frozenset()
        return {rel for rel in paths if rel not in known}

    def fresh(self, rel: str, key: str | None) -> bool:
        """The file was made from inputs with this key, and is still there: no need to render it."""
        known = self.known.get(rel)
        return key is not None and known is not None and known[1:] == [key] and os.path.exists(f"{self.out}/{rel}")

    def put(self, rel: str, data: bytes, key: str | None = None) -> bool:
        """Stage `data` for `rel` unless the file already holds it. True if it will be written."""
        return self.record(rel, *self.stage(rel, data), key)

    def stage(self, rel: str, data: bytes) -> tuple[str, bool]:
        """Write `data` to the staging folder unless the output already holds it; this only
        touches files, so worker processes may call it. Returns (digest, staged)."""
        digest = hashlib.sha256(data).hexdigest()
        known = self.known.get(rel)
        if known and known[0] == digest and (self.out / rel).exists():
            return digest, False
        with open(self._staged(rel), "wb") as fh:
            fh.write(data)
        return digest, True

    def _staged(self, rel: str) -> str:
        """Where `rel` waits in the staging folder: one flat folder, so that staging a file
        makes no folders (and removing the staging folder walks none)."""
        return f"{self.staging}/{hashlib.sha256(rel.encode()).hexdigest()[:32]}"

    def record(self, rel: str, digest: str, staged: bool, key: str | None = None) -> bool:
        """Note in the manifest what `stage` did; the staged file moves into place at commit."""
        self._note(rel, [digest, key] if key else [digest])
        if staged:
            self.staged.append((self._staged(rel), rel))
        return staged

    def copy(self, rel: str, source: Path, stamp: str) -> bool:
        """Stage a copy of a shipped asset (identified by `stamp`). A copy is staged as a hard
        link to another with the same stamp, so that many clients store one plotly.min.js
        while each client's folder stays complete on its own."""
        self._note(rel, [stamp])
        target = f"{self.out}/{rel}"
        known = self.known.get(rel)
        if known and known[0] == stamp and os.path.exists(target):
            self.shared.setdefault(stamp, target)
            return False
        staged = self._staged(rel)
        if not _linked(self.shared.get(stamp), staged):
            shutil.copyfile(source, staged)
        self.shared.setdefault(stamp, staged)
        self.staged.append((staged, rel))
        return True

    def _note(self, rel: str, entry: list) -> None:
        """The manifest of this build lists `rel` with `entry`: only a change is kept, to
        rewrite the shards it falls in."""
        if self.known.get(rel) == entry:
            self.changes.pop(rel, None)
        else:
            self.changes[rel] = entry

    # ------------------------------------------------------------ the commit

    def commit(self, planned: Set[str], keep: set[str] | frozenset[str] = frozenset()) -> list[str]:
        """Move every staged file into place, remove the files the last build wrote that the
        plan no longer holds (but those under a folder of `keep`, which stay as they were),
        and save the manifest's shards that changed: all through one journal. Returns the
        removed files."""
        kept = tuple(keep)
        if kept:  # a withheld site takes nothing of this build, not even a staged asset
            self.staged = [(staged, rel) for staged, rel in self.staged if not rel.startswith(kept)]
            self.changes = {rel: entry for rel, entry in self.changes.items() if not rel.startswith(kept)}
        # a withheld site: still ours, still there
        removals = sorted(rel for rel in self.known.keys() - planned if not rel.startswith(kept))
        journal: dict[str, Any] = {"staging": str(self.staging), "moves": self.staged, "removals": removals,
                                   "shards": self._changed_shards(removals), "whole": self.whole}
        self._refuse_foreign()
        self._make_folders(self.staged)
        if self.staged or removals:  # with nothing to move or remove, a kill can leave nothing half done
            self._write_journal(journal)
        self._apply(journal)
        return removals

    def _changed_shards(self, removals: list[str]) -> dict[str, dict[str, list]]:
        """The new contents of each shard this commit changes (of every shard, when `whole`);
        an empty one is removed. A shard as read is never changed in place: the process
        keeps it (see `_read_shards`)."""
        shards = {name: dict(entries) for name, entries in self.shards.items()} if self.whole else {}

        def edited(rel: str) -> dict[str, list]:
            name = shard_name(rel)
            if name not in shards:
                shards[name] = dict(self.shards.get(name, {}))
            return shards[name]

        for rel in removals:
            del edited(rel)[rel]
        for rel, entry in self.changes.items():
            edited(rel)[rel] = entry
        return shards

    def _refuse_foreign(self) -> None:
        """Before anything moves: a file in the output that the manifest does not list is
        someone else's, and no page replaces it."""
        for _, rel in self.staged:
            if rel not in self.known and os.path.lexists(f"{self.out}/{rel}"):
                raise NotOurs(f"{self.out}/{rel} was not written by coachgen, and a page of this build would replace "
                              "it; move it out of the output folder (nothing was written)")

    def _make_folders(self, moves: list[tuple[str, str]]) -> None:
        """Make the folders the staged files move to; a file in the way fails the build here,
        before the journal, when nothing has moved yet."""
        for folder in sorted({posixpath.dirname(rel) for _, rel in moves}):
            os.makedirs(f"{self.out}/{folder}", exist_ok=True)

    def _write_journal(self, journal: dict) -> None:
        """Put the journal on disk, whole (written aside, synced, renamed), before anything moves."""
        self.journal_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.journal_path.with_name(self.journal_path.name + ".tmp")
        with open(tmp, "wb") as fh:
            pickle.dump(journal, fh, protocol=pickle.HIGHEST_PROTOCOL)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.journal_path)

    def _apply(self, journal: dict) -> None:
        """Carry out a journal, then delete it. Running it again after a kill is safe: a staged
        file that is gone was moved already, a removed file stays removed, and each shard is
        written whole."""
        for staged, rel in journal["moves"]:
            try:
                os.chmod(staged, 0o644)
            except FileNotFoundError:
                continue  # moved into place before the kill
            os.replace(staged, f"{self.out}/{rel}")
        self._remove(journal["removals"])
        self._save_shards(journal["shards"], journal["whole"])
        self.journal_path.unlink(missing_ok=True)

    def _remove(self, removals: list[str]) -> None:
        """Remove files an earlier build wrote, and the folders that leaves empty; a folder
        holding anything else (a file the coach put there) stays."""
        for rel in removals:
            path = self.out / rel
            path.unlink(missing_ok=True)
            for parent in path.parents:
                if parent == self.out:
                    break
                try:
                    parent.rmdir()
                except OSError:
                    break

    def _save_shards(self, shards: dict[str, dict[str, list]], whole: bool) -> None:
        """Write each shard (written aside, renamed), or remove an empty one. When `whole`, the
        shards are the entire manifest: any other file of the folder, and the manifest in
        one file of an older coachgen, go once they are written."""
        folder = self.manifest_dir
        folder.mkdir(parents=True, exist_ok=True)  # even with no shard: the output is ours
        read = _READ.setdefault(folder, {})
        for name, entries in shards.items():
            path = folder / name
            if not entries:
                path.unlink(missing_ok=True)
                read.pop(name, None)
                continue
            tmp = folder / f"{name}.tmp"
            tmp.write_bytes(pickle.dumps(entries, protocol=pickle.HIGHEST_PROTOCOL))
            os.replace(tmp, path)
            read[name] = (_stamp(path.stat()), entries)
        if whole:
            for stale in set(os.listdir(folder)) - shards.keys():
                (folder / stale).unlink(missing_ok=True)
                read.pop(stale, None)
            self.single_manifest.unlink(missing_ok=True)


_READ: dict[Path, dict[str, tuple[tuple[int, ...], dict[str, list]]]] = {}
"""Each manifest folder's shards as this process last read or wrote them, with the stamp of
their file: a build (and each save in `watch`) reads again only a shard that changed since."""


def _read_shards(folder: Path) -> dict[str, dict[str, list]]:
    """Every shard of a manifest folder, by name; FileNotFoundError if there is no folder."""
    cached = _READ.get(folder, {})
    read = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            if not entry.name.endswith(".pickle"):
                continue  # a shard's .tmp, left by a build killed while writing it
            hit = cached.get(entry.name)
            try:
                if hit is None or hit[0] != _stamp(entry.stat()):
                    with open(entry.path, "rb") as fh:
                        hit = (_stamp(os.fstat(fh.fileno())), pickle.load(fh))
            except FileNotFoundError:
                continue  # its site was emptied by a build committing meanwhile (`known_files` takes no lock)
            read[entry.name] = hit
    _READ[folder] = read
    return {name: entries for name, (_, entries) in read.items()}


def _stamp(st: os.stat_result) -> tuple[int, ...]:
    """Enough of a file's stat to tell it was replaced: a shard is replaced by a renamed new
    file, which never has the inode of the one it replaces."""
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _split(manifest: dict[str, list]) -> dict[str, dict[str, list]]:
    """A manifest in one piece, as shards."""
    shards: dict[str, dict[str, list]] = {}
    for rel, entry in manifest.items():
        shards.setdefault(shard_name(rel), {})[rel] = entry
    return shards


def staging_folder(under_vault: Path, out: Path) -> Path:
    """Where files wait until the commit: on the output's file system, since a rename cannot
    cross file systems, and outside the output, where no static host publishes them. Under
    `.coachgen/` when the vault shares the output's file system, else in a hidden folder
    beside the output; inside the output only when the output is a mount point of its own."""
    device = _device(out)
    for folder in (under_vault, out.parent / f".{out.name}{STAGING}"):
        if _device(folder) == device:
            return folder
    return out / STAGING


def _device(path: Path) -> int:
    """The file system `path` is on, or will be on once made."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path.stat().st_dev


def _linked(original: str | None, path: str) -> bool:
    """Make `path` a hard link to `original`; False if there is none to link to, or the file
    system has no hard links."""
    if original is None:
        return False
    try:
        os.link(original, path)
    except OSError:
        return False
    return True


def known_files(vault: Path, out_dir: Path) -> set[str]:
    """The files this output's manifest says coachgen wrote there (nothing is changed)."""
    return set(Output(vault, out_dir).known)
