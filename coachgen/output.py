"""The output folder: staged writes moved into place at the end, a manifest of what was
written, pruning of what is no longer planned, and a lock against two builds at once.

A build renders every changed file into a staging folder first. Only when all of them
are ready are they moved into place, one atomic rename each, so a build that fails or
is killed half-way leaves the previous site as it was (its staging folder is removed by
the next build). The manifest (under `.coachgen/`, never in the output) remembers each
file's digest, so an unchanged file is neither rewritten nor read back.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import pickle
import posixpath
import shutil
from pathlib import Path

from .config import STATE_DIR

STAGING = ".coachgen-staging"
ROOTS = ("clients", "coach")


class Busy(RuntimeError):
    """Another coachgen build is writing this vault's output."""


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


class Output:
    def __init__(self, vault: Path, out_dir: Path):
        self.out = out_dir
        self.staging = out_dir / STAGING
        key = hashlib.sha256(str(out_dir.resolve()).encode()).hexdigest()[:16]
        self.manifest_path = vault / STATE_DIR / "outputs" / f"{key}.pickle"
        try:
            with open(self.manifest_path, "rb") as fh:
                self.known: dict[str, list] = pickle.load(fh)
        except (OSError, ValueError, EOFError, pickle.UnpicklingError):
            self.known = {}
        self.manifest: dict[str, list] = {}
        self.staged: list[tuple[str, str]] = []
        self.shared: dict[str, list[str]] = {}

    def __enter__(self) -> "Output":
        shutil.rmtree(self.staging, ignore_errors=True)  # what a killed build left behind
        self.staging.mkdir(parents=True)
        return self

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)

    def carry(self, rel: str) -> bool:
        """Keep a file written by an earlier build as it is, trusting the manifest."""
        known = self.known.get(rel)
        if known is None:
            return False
        self.manifest[rel] = known
        return True

    def fresh(self, rel: str, key: str | None) -> bool:
        """The file was made from inputs with this key, and is still there: no need to render it."""
        known = self.known.get(rel)
        if key is None or not known or known[1:] != [key] or not os.path.exists(f"{self.out}/{rel}"):
            return False
        self.manifest[rel] = known
        return True

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
        self.manifest[rel] = [digest, key] if key else [digest]
        if staged:
            self.staged.append((self._staged(rel), rel))
        return staged

    def copy(self, rel: str, source: Path, stamp: str) -> bool:
        """Stage a copy of a shipped asset (identified by `stamp`). Copies with one stamp end
        up as hard links to one file, so that many clients store one plotly.min.js while
        each client's folder stays complete on its own."""
        self.shared.setdefault(stamp, []).append(rel)
        self.manifest[rel] = [stamp]
        known = self.known.get(rel)
        if known and known[0] == stamp and (self.out / rel).exists():
            return False
        staged = self._staged(rel)
        shutil.copyfile(source, staged)
        self.staged.append((staged, rel))
        return True

    def commit(self, planned: set[str], walk: bool = True) -> list[str]:
        """Move every staged file into place, share the copies, prune, save the manifest.
        Without `walk`, pruning removes only what the previous manifest lists."""
        made: set[str] = set()
        for staged, rel in self.staged:
            folder = posixpath.dirname(rel)
            if folder not in made:
                os.makedirs(f"{self.out}/{folder}", exist_ok=True)
                made.add(folder)
            os.chmod(staged, 0o644)
            os.replace(staged, f"{self.out}/{rel}")
        for first, *others in self.shared.values():
            for rel in others:
                target = self.out / rel
                if not target.samefile(self.out / first):
                    tmp = target.with_name(".tmp-" + target.name)
                    tmp.unlink(missing_ok=True)
                    try:
                        os.link(self.out / first, tmp)
                    except OSError:  # a file system without hard links keeps its copy
                        continue
                    os.replace(tmp, target)
        removed = self.prune(planned) if walk or not self.known else self.forget(planned)
        self.manifest_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.manifest_path.with_suffix(".tmp")
        tmp.write_bytes(pickle.dumps(self.manifest, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(tmp, self.manifest_path)
        return removed

    def forget(self, planned: set[str]) -> list[str]:
        """Remove the files an earlier build wrote that this plan no longer holds."""
        removed = sorted(set(self.known) - planned)
        for rel in removed:
            path = self.out / rel
            path.unlink(missing_ok=True)
            for parent in path.parents:
                if parent == self.out:
                    break
                try:
                    parent.rmdir()
                except OSError:
                    break
        return removed

    def prune(self, planned: set[str]) -> list[str]:
        """Remove every file under the client and coach folders that the plan no longer holds,
        and the folders that leaves empty."""
        removed: list[str] = []

        def walk(folder: str, rel: str) -> bool:
            """Prune one folder; True if it is left empty."""
            empty = True
            with os.scandir(folder) as entries:
                for entry in entries:
                    child = f"{rel}/{entry.name}"
                    if entry.is_dir(follow_symlinks=False):
                        if walk(entry.path, child):
                            os.rmdir(entry.path)
                        else:
                            empty = False
                    elif child in planned:
                        empty = False
                    else:
                        os.unlink(entry.path)
                        removed.append(child)
            return empty

        for root in ROOTS:
            if (self.out / root).is_dir():
                walk(str(self.out / root), root)
        return sorted(removed)
