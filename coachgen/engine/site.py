"""build(): the pipeline of a build, and the Builder that keeps what one build lends the next.

    scan -> parse -> model -> plan -> render -> write -> cache

`STAGES` (at the end of the stages) lists them in that order: each is a plain function of the
Builder (the caches) and the build's values (`Run`), and `Builder.build` runs and times them.
The Builder keeps parsed notes by file stamp, the notes as grouped by client, each client's
model while its notes are the same, each site's plan with a fingerprint of its inputs, and
(in the output's manifest) a key per page: a page whose key did not change is neither
rendered nor written. `watch` keeps one Builder alive; `build` keeps its caches under
`.coachgen/`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import hashlib
import mmap
import os
import pickle
import resource
import time
from dataclasses import dataclass, field, replace
from functools import cached_property, partial
from pathlib import Path
from typing import Callable

import coachgen
from coachgen import checkin, i18n
from coachgen.engine import keys, output, parallel
from coachgen.engine.result import Result, today_in
from coachgen.model import clients as model_mod
from coachgen.parse.notes import Note, parse_note
from coachgen.plan import addresses
from coachgen.plan import pages as pages_mod
from coachgen.plan.page import Asset, Copied, Page, Recorded
from coachgen.privacy import crypto
from coachgen.privacy import passwords as passwords_mod
from coachgen.privacy import rules as privacy
from coachgen.problems import Problem, error
from coachgen.render import sources
from coachgen.render import templates as render
from coachgen.vault import config as config_mod
from coachgen.vault import files as vault
from coachgen.vault import history, paths

CACHE = f"{paths.STATE_DIR}/cache"
"""The parse cache, two files per client folder (a save rewrites only its own): an index
of its notes' stamps and heads with its client's model, and its notes whole; and the last
plan of each client."""
RECENT_NS = 2_000_000_000
"""A file changed this recently may change again within the file system's time
resolution with its size unchanged: its stamp alone is not trusted."""


def build(
    vault_dir: Path,
    *,
    out: Path | None = None,
    today: dt.date | None = None,
    write: bool = True,
    progress: Callable[[int, int], None] | None = None,
    git: bool = True,
    listing: vault.Listing | None = None,
) -> Result:
    """Build every client's site (or, with `write=False`, only report problems); `listing`,
    the vault's files as the caller just scanned them, saves a second scan."""
    collecting = gc.isenabled()
    gc.disable()  # a one-off build makes few cycles: the collector's scans of a big heap are pure cost
    try:
        builder = Builder(vault_dir, out=out, today=today, disk_cache=write, git=git)
        builder.scanned = listing
        return builder.build(write=write, progress=progress)
    finally:
        if collecting:
            gc.enable()


@dataclass
class _Parsed:
    stamp: vault.Stamp
    sha: str
    note: Note | None


class _Head(Note):
    """A note as the cache's index keeps it: only what groups it with its client (its path,
    problems, `client:`, whether it is published, its SHA-256). A new process reads a folder's
    notes whole (`Builder.whole`) only when its client is made again, so that a build after
    one edit does not read every note of the vault."""

    engagement: dict = {}  # the one field with no class default (a client.md's): a head's is empty


def _head(note: Note | None) -> Note | None:
    """What the index keeps of a note: a client.md whole (every client's model starts from
    it), another note by its head. A head holds its own values only: the others are the
    class's defaults, so that 10,000 heads load in a fraction of the time the notes take."""
    if note is None or paths.is_profile(note.path):
        return note
    head = object.__new__(_Head)
    head.__dict__.update(path=note.path, problems=note.problems, ok=note.ok, client_ref=note.client_ref,
                         client_line=note.client_line, private=note.private, sha=note.sha)
    return head


@dataclass
class SitePlan:
    """One site's planned pages, and what a build looks up in them, made once per plan."""

    fingerprint: str
    pages: list[Page]
    checked: bool = False
    """Passed the privacy room's check of the plan in this process."""
    recorded: bool = False
    """Read from the disk: its pages as the last build recorded them (`_recorded`)."""
    finals: dict[str, str | None] | None = None
    """Each page's key as the output's manifest keeps it (`keys.final`), once a build looked:
    the same while the fingerprint is, which covers all it is made of."""

    @cached_property
    def paths(self) -> frozenset[str]:
        return frozenset(page.path for page in self.pages)

    @cached_property
    def addressed(self) -> dict[str, Page]:
        """identity -> page, for the pages a person may hold a link to (see addresses.py)."""
        return {page.identity: page for page in self.pages if page.identity}

    @cached_property
    def record(self) -> dict[str, str]:
        """path -> identity of those pages: their lines in the addresses record."""
        return {page.path: identity for identity, page in self.addressed.items()}


class Builder:
    """One vault's builds, and what each may reuse from the one before."""

    def __init__(self, vault_dir: Path, *, out: Path | None = None, today: dt.date | None = None,
                 disk_cache: bool = False, keep_last_good: bool = False, git: bool = False):
        self.vault_dir = vault_dir.resolve()
        self.out = out
        self.today = today
        self.disk_cache = disk_cache
        self.keep_last_good = keep_last_good
        """While watching, a note saved with an error keeps its last good version on the site."""
        self.parsed: dict[str, _Parsed] = {}
        self.checked = False
        """Whether `parsed` holds every note as the last full look found it: then a watcher's
        build need look only at the notes it was told of, and the recently changed ones."""
        self.recent: set[str] = set()
        self.notes: dict[str, Note] = {}
        """The notes the last build parsed, in the listing's order."""
        self.troubled: dict[str, tuple[Problem, ...]] = {}
        """The problems of each note the last build parsed that has any."""
        self.broken: set[str] = set()
        """Notes whose latest save has an error."""
        self.last_good: dict[str, Note] = {}
        self.memo: dict = {}
        self.grouping = model_mod.Grouping()
        """Each client's notes as the last build grouped them (see model.clients.Grouping)."""
        self.listing: vault.Listing | None = None
        self.scanned: vault.Listing | None = None
        """The vault's files as the caller just scanned them: the next build's, instead of a scan."""
        self.settings: tuple | None = None
        self.files: pages_mod.Files | None = None
        self.files_key: tuple | None = None
        self.files_version = 0
        """Counts the times the files links and embeds look up changed (cheaper to compare)."""
        self.keys = keys.Keys()
        self.derived: dict[tuple[str, str, str], crypto.Lock] = {}
        """Locks derived from each site's password and salt (in memory only)."""
        self.plans: dict[str, SitePlan] = {}
        """Each client's last plan, with the fingerprint of its inputs (its pages as recorded on disk,
        in a new process)."""
        self.addresses: dict[str, str] | None = None
        """The output's record of addresses, as the last build saved it."""
        self.fingerprints: dict[str, tuple] = {}
        self.failed: dict[str, tuple[str, str]] = {}
        """Clients whose pages could not be made in the last plan: slug -> (folder, what went wrong)."""
        self.bodies: dict[str, pages_mod.Bodies] = {}
        """Each client's sessions' resolved bodies (see plan.pages.Bodies)."""
        self.cold: dict[str, partial[list[Page]]] = {}
        """Each client whose plan was read from the disk, until it is planned in this process:
        its `client_pages` with the inputs it had (see `warm`)."""
        self.embeds: dict[str, tuple] = {}
        """Each client's embed warnings: (the model object and the files they were found for, them)."""
        self.entries: dict[str, tuple] = {}
        """What the overview shows of each client: (the model object and the arguments it was
        made for, it)."""
        self.files_digest = ""
        """The vault's files by path (all that embeds look up), and by stamp those outside the
        clients' folders (which any client's notes may embed)."""
        self.dirty: set[str] = set()
        """Cache shards whose notes, or whose client's plan, embed warnings or overview row,
        changed since they were saved."""
        self.unread: set[str] = set()
        """Cache shards whose notes the index gave by their heads only (see `whole`)."""
        self.git = git
        """Show when each note last changed, from git's history (read again when HEAD moves)."""
        self.git_head: str | None = None
        self.updated: dict[str, dt.date] = {}
        self.save_cache = True
        """Whether each build that parsed something saves the parse cache (a watcher saves it once)."""
        if disk_cache:
            self._load_cache()

    # ------------------------------------------------------------ the build

    def build(self, *, write: bool = True, changed: set[str] | None = None,
              progress: Callable[[int, int], None] | None = None) -> Result:
        """Run the stages. `changed` (vault-relative paths) lets a watcher skip the full scan;
        a path that is not a plain file, or None, means look at everything. Without `write`
        (a check) the build ends after planning: it only reports problems."""
        started = time.perf_counter()
        config, problems = config_mod.load(self.vault_dir, self.out)
        if config.out_dir == config.vault or config.vault.is_relative_to(config.out_dir):
            problems.append(error(paths.CONFIG_FILE, 1, "the output folder must not be the vault or contain it"))
            return Result(sorted(problems))
        with contextlib.ExitStack() as held:  # the build lock and the open output, once taken
            run = Run(config, problems, write, changed, progress, held)
            for name, stage in STAGES if write else STAGES[:PLANNED]:
                lap = time.perf_counter()
                stage(self, run)
                run.result.stages[name] = time.perf_counter() - lap
        run.result.problems = sorted(set(run.result.problems))
        run.result.changed = run.touched
        run.result.seconds = time.perf_counter() - started
        return run.result

    def _embed_problems(self, model: model_mod.Model, listing: vault.Listing) -> list[Problem]:
        """Embeds a page shows as links rather than inline, and embedded files not found, for
        each client; an unchanged client (the very same model object, and the same files)
        keeps what was found last time."""
        files = self._files(listing)
        found, memo = [], {}
        for client in model.clients:
            known = self.embeds.get(client.slug)
            if known and known[0] is client and known[1] == self.files_digest:
                problems = known[2]
            else:
                problems = pages_mod.embed_problems(client, files)
                self.dirty.add(paths.client_dir(client.folder))  # the cache keeps them with the client
            memo[client.slug] = (client, self.files_digest, problems)
            found += problems
        self.embeds = memo
        return found

    def _plan(self, run: Run, names: dict[str, bytes], tokens: dict[str, str]) -> list[SitePlan]:
        """Plan every site; a client whose inputs are those of the previous build keeps its
        plan: its pages while watching, or from the disk the paths and keys the last build
        recorded, as long as the output holds them so (else it is planned anew)."""
        config, model, secrets = run.config, run.shown, run.secrets
        assert model is not None  # made by the model stage
        files = self._files(run.listing)
        if self.git:
            head = history.head(config.vault)
            if head != self.git_head:
                self.git_head, self.updated = head, history.last_changed(config.vault) if head else {}
        shared = keys.digest(coachgen.code_digest(), config, model.today, run.templates)
        plans: dict[str, SitePlan] = {}
        self.failed = {}
        for client in model.clients:
            locked = client.slug in secrets
            name_key, token = names.get(client.slug, b""), tokens.get(client.slug, "")
            # the site's secrets, hashed: a new password re-encrypts every page of its site
            secret_keys = hashlib.sha256(name_key + b"|" + token.encode() + b"|" +
                                         run.seals.get(client.slug, "").encode()).hexdigest()
            fingerprint = self._fingerprint(client, shared, locked, run.listing, secret_keys)
            previous = self.plans.get(client.slug)
            if previous is not None and previous.fingerprint == fingerprint:
                if previous.recorded:  # kept while the output holds it so; planned for real when a watcher can
                    kept = previous.pages if previous.pages[0].client is client else [
                        replace(page, client=client) for page in previous.pages]  # a client made again, the same
                    previous = SitePlan(fingerprint, kept, finals=previous.finals)
                    previous = previous if _held(run, previous) else None
                    self.cold[client.slug] = partial(pages_mod.client_pages, client, model, config, files, locked,
                                                     self.updated, name_key, token)
                elif run.changed is None:  # a full build trusts no page it did not check
                    previous = previous if _held(run, previous) else None
            if previous is not None and previous.fingerprint == fingerprint:
                plans[client.slug] = previous
                run.kept.add(id(previous))
                continue
            try:
                with self.keys.scoped(client.slug):
                    pages = [self.keys.keyed(page) for page in pages_mod.client_pages(
                        client, model, config, files, locked, self.updated, name_key, token, self.keys.view,
                        self.bodies.setdefault(client.slug, pages_mod.Bodies()))]
            except Exception as exc:  # a fault must cost one site, never the whole build
                self.failed[client.slug] = (client.folder, type(exc).__name__)
                continue
            plans[client.slug] = SitePlan(fingerprint, pages)
            self.cold.pop(client.slug, None)
            self.dirty.add(paths.client_dir(client.folder))  # the cache keeps a client's plan beside it
        self.bodies = {slug: known for slug, known in self.bodies.items() if slug in plans}
        self.plans = plans
        overview = run.protections[passwords_mod.COACH]
        if not overview.published:
            return list(plans.values())
        # an overview without a password shows no client whose site has one
        listed = model if overview.encrypted else replace(
            model, clients=tuple(c for c in model.clients if c.slug not in secrets))
        hidden = len(model.clients) - len(listed.clients)
        args = pages_mod.entry_args(listed, config)
        made_for = args[:-1] + (args[-1].code, run.templates)  # its words: the vault's catalogues too
        for client in listed.clients:  # what an earlier process made of the very same client, and its keys
            known = self.entries.get(client.slug)
            if known is not None and known[0] is client and known[1] == made_for:
                self.keys.seed(pages_mod.coach_entry, client, args, known[2], known[3])
        coach = [self.keys.keyed(page) for page in
                 pages_mod.coach_pages(listed, config, overview.encrypted, hidden, self.keys.view)]
        for client in listed.clients:
            entry, digests = self.keys.made(pages_mod.coach_entry, client, args)
            known = self.entries.get(client.slug)
            if known is None or known[0] is not client or known[2] is not entry or known[3] != digests:
                self.entries[client.slug] = (client, made_for, entry, digests)
                self.dirty.add(paths.client_dir(client.folder))  # the cache keeps it beside its client
        return list(plans.values()) + [SitePlan("", coach)]

    def warm(self) -> bool:
        """Plan, and forget, one client whose plan was read from the disk, and read its notes
        whole: what that leaves in memory (its keys, views, resolved bodies and notes) makes
        its first save as quick as the next. A watcher calls it while it waits; False once
        every client is warm."""
        if not self.cold:
            return False
        slug, plan = self.cold.popitem()
        bodies = self.bodies.setdefault(slug, pages_mod.Bodies())
        with contextlib.suppress(Exception), self.keys.scoped(slug):  # a fault shows when it is planned for real
            for page in plan(view=self.keys.view, bodies=bodies):
                self.keys.keyed(page)
        client = plan.args[0]
        self.whole(self.grouping.members.get(client.folder, []))  # its notes too, for its first save
        return bool(self.cold)

    def _files(self, listing: vault.Listing) -> pages_mod.Files:
        """The vault's files as links and embeds look them up, made again when they change."""
        files_key = listing.shape
        if files_key is not self.files_key and files_key != self.files_key:
            self.files, self.files_key = pages_mod.Files.of(listing.files), files_key
            self.files_version += 1
            self.files_digest = keys.digest(files_key[0], [(path, listing.files.get(path))
                                                           for path in self.files.shared + self.files.elsewhere])
        assert self.files is not None  # made above on the first call, when files_key was None
        return self.files

    def _fingerprint(self, client: model_mod.Client, shared: str, locked: bool, listing: vault.Listing,
                     names: str) -> str:
        """Everything a client's pages are made from: the build's settings, its notes (by
        content), when git last changed them, and the files its notes may link or embed.
        While watching, the model object of an unchanged client is the same object, and so
        is its fingerprint as long as the files and git's history are."""
        inputs = (shared, locked, names, self.files_version, self.git_head)
        known = self.fingerprints.get(client.slug)
        if known and known[0] is client and known[1] == inputs:
            return known[2]
        notes = (paths.profile(client.folder),) + client.note_paths
        assert self.files is not None  # _plan looked the files up first
        fingerprint = keys.digest(
            shared, client.folder, client.slug, locked, names,
            [(path, self.parsed[path].sha if path in self.parsed else None, self.updated.get(path)) for path in notes],
            # its folder's other files by stamp, the notes among them only by path (a note counts by its
            # content, above), and every file outside the clients' folders
            [(path, None if path.endswith(".md") else listing.files.get(path))
             for path in self.files.by_folder.get(client.folder, ())], self.files_digest,
        )
        self.fingerprints[client.slug] = (client, inputs, fingerprint)
        return fingerprint

    # ------------------------------------------------------------ reading and parsing

    def _scan(self, config, out_dir: Path, changed: set[str] | None) -> vault.Listing:
        if self.scanned is not None:
            self.listing, self.scanned = self.scanned, None
            return self.listing
        if self.listing is None or changed is None:
            self.listing = vault.scan(config.vault, out_dir)
            return self.listing
        previous = self.listing
        files = dict(previous.files)
        structure = False
        for rel in changed:
            stamp = vault.stamp(config.vault, rel)
            if stamp is None:
                structure |= files.pop(rel, None) is not None
            else:
                structure |= rel not in files
                files[rel] = stamp
        self.listing = vault.Listing(dict(sorted(files.items()))) if structure else previous.restamped(files, changed)
        return self.listing

    def _parse(self, config, listing: vault.Listing, changed: set[str] | None) -> tuple[dict[str, Note], list[str]]:
        """Parse the notes whose stamp (or, for a recent file, content) changed; reuse the rest.
        Told what `changed` (a watcher), it looks only at those notes and the recent ones."""
        told, looked_at, touched, notes = self._to_look_at(listing, changed)
        for path in touched:
            del self.parsed[path]
            notes.pop(path, None)
            self._remember(path, None)
        now = time.time_ns()
        todo: list[tuple[str, bytes | None, str | None]] = []
        self.recent = set()
        for path in looked_at:
            stamp = listing.files[path]
            cached = self.parsed.get(path)
            if cached is None:
                todo.append((path, None, None))  # read by the worker that parses it
                continue
            if now - max(stamp.mtime_ns, stamp.ctime_ns) <= RECENT_NS:
                self.recent.add(path)  # looked at again next time, whatever the watcher hears
            elif cached.stamp == stamp:
                if cached.note is not None:
                    notes[path] = cached.note
                continue
            try:
                data = vault.read_bytes(config.vault, path)
            except OSError as exc:
                notes[path] = Note(path, (error(path, 1, f"cannot be read: {exc.strerror}"),), ok=False)
                self._remember(path, notes[path])
                touched.append(path)
                continue
            sha = hashlib.sha256(data).hexdigest()
            if cached.sha == sha:
                if cached.stamp != stamp:
                    cached.stamp = stamp
                    self.dirty.add(_shard(path))
                if cached.note is not None:
                    notes[path] = cached.note
                continue
            notes.pop(path, None)
            todo.append((path, data, sha))
        outcomes = parallel.map(_parse_one, todo, (config.vault, config.allow_html))
        for (path, _, _), (read_sha, note) in zip(todo, outcomes, strict=True):
            touched.append(path)
            self._remember(path, note)
            if read_sha is not None:  # a file that could not be read is tried again next time
                self.parsed[path] = _Parsed(listing.files[path], read_sha, note)
            if note is not None:
                notes[path] = note
        self.dirty.update(_shard(path) for path in touched)
        self.checked = True
        if not told or len(notes) != len(self.notes) or any(p not in self.notes for p in looked_at if p in notes):
            notes = {p: notes[p] for p in listing.notes if p in notes}  # in the listing's order
        self._troubles(notes, looked_at + touched if told else None)
        self.notes = notes
        return notes, sorted(touched)

    def _troubles(self, notes: dict[str, Note], looked_at: list[str] | None) -> None:
        """Keep `troubled`: told what was looked at (or is gone), only those can have new problems."""
        if looked_at is None:
            self.troubled, looked_at = {}, list(notes)
        for path in looked_at:
            note = notes.get(path)
            if note is not None and note.problems:
                self.troubled[path] = note.problems
            else:
                self.troubled.pop(path, None)

    def _to_look_at(self, listing: vault.Listing, changed: set[str] | None):
        """Whether the watcher's word is enough, the notes to look at, the notes gone, and the
        notes to start from: told what changed, those (and the recent ones), from the last
        build's notes; else every note, from none."""
        if changed is None or not self.checked:
            return False, listing.notes, sorted(set(self.parsed) - set(listing.notes)), {}
        looked_at = [p for p in sorted(changed | self.recent) if p in listing.files and p.endswith(".md")]
        gone = sorted(p for p in changed if p in self.parsed and p not in listing.files)
        return True, looked_at, gone, dict(self.notes)

    def _remember(self, path: str, note: Note | None) -> None:
        """Before a note's new parse replaces its last: keep the last good version of a note
        now saved with an error (a watcher shows that one)."""
        if note is not None and not note.ok:
            before = self.parsed.get(path)
            if before is not None and before.note is not None and before.note.ok:
                self.last_good[path] = self.whole([before.note])[0]
            self.broken.add(path)
        else:
            self.broken.discard(path)
            self.last_good.pop(path, None)

    def _with_last_good(self, notes: dict[str, Note]) -> dict[str, Note]:
        kept = [path for path in self.broken if path in notes and path in self.last_good]
        return {**notes, **{path: self.last_good[path] for path in kept}} if kept else notes

    def _load_cache(self) -> None:
        """Read each shard's index (its notes' stamps and heads, and its client's model), and
        the plans; the notes themselves are read when needed (`whole`). A shard whose notes
        file is not the one its index was saved with is left out: its notes are parsed again."""
        folder = self.vault_dir / CACHE
        maps = resource.getrlimit(resource.RLIMIT_NOFILE)[0] // 4  # a mapping holds a file descriptor
        for i, path in enumerate(sorted(folder.glob("index-*.pickle"))):
            shard = _load_mapped(path, mapped=i < maps)
            if shard is None:
                continue
            settings, name, token, parsed, memo, extras = shard
            if self.settings not in (None, settings):
                self.parsed, self.memo, self.settings, self.unread = {}, {}, None, set()
                self.plans, self.embeds, self.entries = {}, {}, {}
                return
            if _load(_notes_file(folder, name)) != token:  # a notes file's first record is its token
                continue
            self.settings = settings
            self.parsed.update(parsed)
            self.memo.update(memo)
            self.unread.add(name)
            for client, _ in memo.values():  # what was made of the very client in the memo
                embeds, entry, plan = extras.get(client.slug, (None, None, None))
                if embeds is not None:
                    self.embeds[client.slug] = (client, *embeds)
                if entry is not None:
                    self.entries[client.slug] = (client, *entry)
                if plan is not None:
                    self.plans[client.slug] = SitePlan(plan[0], plan[1], recorded=True, finals=plan[2])

    def whole(self, notes: list[Note]) -> list[Note]:
        """`notes`, each whole: a head the cache's index gave is read from its shard's notes
        (or, should that file be gone, parsed again)."""
        if not any(isinstance(note, _Head) for note in notes):
            return notes
        assert self.settings is not None  # heads come only from an index, read with its settings
        for name in sorted({_shard(note.path) for note in notes if isinstance(note, _Head)}):
            self._read(name)
        found = []
        for note in notes:
            if isinstance(note, _Head):
                cached = self.parsed.get(note.path)
                whole = cached.note if cached is not None and cached.sha == note.sha else None
                if whole is None or isinstance(whole, _Head):
                    _, whole = _parse_one((note.path, None, None), (self.vault_dir, self.settings[0]))
                note = whole if whole is not None else note
            found.append(note)
        return found

    def _read(self, name: str) -> None:
        """Put a shard's notes, whole, in place of the heads its index gave."""
        if name not in self.unread:
            return
        self.unread.discard(name)
        notes = _load_notes(_notes_file(self.vault_dir / CACHE, name)) or {}
        for path, note in notes.items():
            cached = self.parsed.get(path)
            if cached is not None and isinstance(cached.note, _Head) and note is not None and note.sha == cached.sha:
                cached.note = note

    def save(self) -> None:
        """Keep the parse cache under `.coachgen/` for the next run."""
        if self.disk_cache:
            self._save_cache()

    def _save_cache(self) -> None:
        """Save the shards whose notes changed, and the plans if a client was planned anew.
        A shard's notes are written before its index, which names them by a token: an index
        left without its notes by a stopped build is not used."""
        folder = self.vault_dir / CACHE
        folder.mkdir(parents=True, exist_ok=True)
        for name in self.dirty & self.unread:
            self._read(name)
        shards: dict[str, tuple[dict, dict, dict]] = {name: ({}, {}, {}) for name in self.dirty}
        if self.dirty:
            for path, parsed in self.parsed.items():
                if (name := _shard(path)) in shards:
                    shards[name][0][path] = parsed
            for key, (client, found) in self.memo.items():  # in the shard of its client's folder
                if (name := paths.client_dir(key[0])) in shards:
                    shards[name][1][key] = (client, found)
                    plan = self.plans.get(client.slug)
                    recorded = (plan.fingerprint, [_recorded(page) for page in plan.pages], plan.finals) if (
                        plan is not None and plan.pages and plan.pages[0].client is client) else None
                    shards[name][2][client.slug] = (_made_of(self.embeds, client), _made_of(self.entries, client),
                                                    recorded)
        for name, (shard_parsed, shard_memo, shard_extras) in shards.items():
            index, notes = _index_file(folder, name), _notes_file(folder, name)
            if shard_parsed:
                token = os.urandom(8).hex()
                _dump(notes, {path: parsed.note for path, parsed in shard_parsed.items()}, token)
                heads = {path: _Parsed(parsed.stamp, parsed.sha, _head(parsed.note))
                         for path, parsed in shard_parsed.items()}
                _dump_mapped(index, (self.settings, name, token, heads, shard_memo, shard_extras))
            else:
                index.unlink(missing_ok=True)
                notes.unlink(missing_ok=True)
        self.dirty = set()

# ---------------------------------------------------------------- the stages


@dataclass
class Run:
    """One build: what was asked, and what each stage hands the next."""

    config: config_mod.Config
    problems: list[Problem]
    write: bool
    changed: set[str] | None
    progress: Callable[[int, int], None] | None
    held: contextlib.ExitStack
    result: Result = field(init=False)
    out: output.Output | None = None
    """The output, open and locked from the model stage on (a build that writes)."""
    listing: vault.Listing = field(default_factory=lambda: vault.Listing({}))
    notes: dict[str, Note] = field(default_factory=dict)
    touched: list[str] = field(default_factory=list)
    protections: dict[str, privacy.Protection] = field(default_factory=dict)
    shown: model_mod.Model | None = None
    """The model of the sites that are published."""
    secrets: dict[str, str] = field(default_factory=dict)
    keep: set[str] = field(default_factory=set)
    """Site folders that stay exactly as an earlier build wrote them."""
    templates: str = ""
    locks: dict[str, crypto.Lock] = field(default_factory=dict)
    seals: dict[str, str] = field(default_factory=dict)
    sites: list[SitePlan] = field(default_factory=list)
    kept: set[int] = field(default_factory=set)
    """The site plans (ids) kept from the last build: the output holds their pages as planned."""
    planned: frozenset[str] = frozenset()
    addresses: dict[str, str] = field(default_factory=dict)
    todo: list[tuple[Page, str | None]] = field(default_factory=list)
    """The pages to render, each with its key."""
    staged: list[tuple[str, bool] | str] = field(default_factory=list)
    """Each rendered page's (digest, whether it was staged), or what went wrong."""

    def __post_init__(self) -> None:
        self.result = Result(self.problems)


def scan(b: Builder, run: Run) -> None:
    """The vault's files and their stamps (only the changed ones, for a watcher that says which)."""
    settings = (run.config.allow_html,)
    if settings != b.settings:  # notes parsed under other settings are parsed again
        b.parsed, b.last_good, b.memo, b.settings, b.checked, b.unread = {}, {}, {}, settings, False, set()
    run.listing = b._scan(run.config, run.config.out_dir, run.changed)


def parse(b: Builder, run: Run) -> None:
    """Notes, parsed where their content changed; while watching, a note saved with an error
    keeps its last good version."""
    notes, run.touched = b._parse(run.config, run.listing, run.changed)
    for found in b.troubled.values():
        run.problems += found
    run.notes = b._with_last_good(notes) if b.keep_last_good else notes


def model(b: Builder, run: Run) -> None:
    """The clients, and (the privacy room's one decision) which sites are published and how."""
    config, problems = run.config, run.problems
    passwords = passwords_mod.Passwords(config.vault)
    known = set(b.memo)
    found = model_mod.build(run.notes, b.today or today_in(config.zone), memo=b.memo, grouping=b.grouping,
                            changed=set(run.touched) if run.changed is not None else None, whole=b.whole)
    b.dirty.update(paths.client_dir(key[0]) for key in b.memo.keys() - known)
    problems += found.problems
    found = _languages(found, run.notes, config, problems)
    problems += b._embed_problems(found, run.listing)
    problems += passwords_mod.problems(config.vault, passwords, [c.slug for c in found.clients])
    if run.write:
        run.held.enter_context(output.build_lock(config.vault))
        run.out = run.held.enter_context(output.Output(config.vault, config.out_dir))
        written_before = set(run.out.known)
    else:
        written_before = output.known_files(config.vault, config.out_dir)
    run.protections, decided = privacy.decide(config, passwords, found, privacy.sealed_sites(written_before))
    problems += decided
    run.secrets = _secrets(run.protections)
    # withheld sites: what an earlier build wrote there stays exactly as it was
    run.keep = {privacy.site_root(site) for site, p in run.protections.items() if not p.published}
    run.shown = replace(found, clients=tuple(c for c in found.clients if run.protections[c.slug].published))
    run.result.model, run.result.protections, run.result.sites = found, run.protections, len(found.clients)


def plan(b: Builder, run: Run) -> None:
    """Every page, with its key; a client whose inputs did not change keeps its last plan."""
    config, secrets = run.config, run.secrets
    assert run.shown is not None  # made by the model stage
    names = passwords_mod.naming_keys(config.vault, sorted(set(secrets) - {passwords_mod.COACH}), create=run.write)
    tokens = checkin.tokens(config.vault, [c.slug for c in run.shown.clients], create=run.write)
    # the pages' look and words: templates, and the vault's own catalogues (locales/)
    run.templates = sources.templates_digest(config.vault / paths.OVERRIDES_DIR) + i18n.digest(config.vault)
    if run.write:
        run.locks = passwords_mod.locks(config.vault, secrets, b.derived)
        run.seals = {site: hashlib.sha256(lock.master + lock.salt).hexdigest() for site, lock in run.locks.items()}
    sites = b._plan(run, names, tokens)
    if b.addresses is None or run.changed is None:
        b.addresses = addresses.load(config.vault, config.out_dir)
    current: dict[str, Page] = {}
    record: dict[str, str] = {}
    for site in sites:
        current.update(site.addressed)
        record.update(site.record)
    run.planned = frozenset().union(*(site.paths for site in sites))
    owners = {f"{paths.CLIENTS_DIR}/{c.slug}/": c.folder for c in run.shown.clients}
    moved, run.addresses = addresses.redirects(b.addresses, current, record, run.planned, owners, run.keep, config)
    sites.append(SitePlan("", [b.keys.keyed(page) for page in moved]))
    run.planned |= sites[-1].paths
    # the privacy room checks each plan once (a watcher's unchanged clients passed already)
    fresh = [site for site in sites if not site.checked]
    taken = frozenset().union(*(site.paths for site in sites if site.checked))
    privacy.check_plan([page for site in fresh for page in site.pages], protections=run.protections,
                       taken=taken, owners=owners, lookup=lambda path: _find(sites, path))
    for site in fresh:
        site.checked = True
    b.keys.settle(live=b.plans.keys() | {""})  # "": the overview's and the redirects' scope
    run.sites = sites
    for slug, (folder, what) in sorted(b.failed.items()):
        run.problems.append(_failed(folder, what))
        run.keep.add(privacy.site_root(slug))
    run.result.planned = len(run.planned)


def render_pages(b: Builder, run: Run) -> None:
    """Render, into staging, each page whose key the output does not hold (in both cores).
    A kept plan's pages are as the output holds them: neither rendered nor written."""
    out = run.out
    assert out is not None  # opened by the model stage of a build that writes
    stamps: dict[str, tuple[Path, str]] = {}
    for site in run.sites:
        # a kept plan's pages are carried as they are, but any no earlier build wrote
        made = out.unknown(site.paths) if id(site) in run.kept else site.paths
        if not made and run.changed is not None:
            continue  # a watcher's kept site: the output holds it as planned, shipped files too
        for page in site.pages:
            if isinstance(page, Asset):  # shipped files: linked, not rendered
                if page.name not in stamps:
                    source = sources.asset_path(page.name)
                    st = source.stat()
                    stamps[page.name] = source, f"{source}:{st.st_mtime_ns}:{st.st_size}"
                if out.copy(page.path, *stamps[page.name]):
                    run.result.written.append(page.path)
            elif page.path in made:
                key = _finals(run, site)[page.path]
                if not out.fresh(page.path, key):
                    run.todo.append((page, key))
    progress = run.progress
    tick = (lambda n: progress(n, len(run.todo))) if progress else None
    env = render.environment(run.config.vault / paths.OVERRIDES_DIR,
                             run.config.vault / paths.STATE_DIR / "templates")
    run.staged = parallel.map(_render_one, range(len(run.todo)), (run.todo, env, run.config.vault, run.locks, out),
                              tick)


def write(b: Builder, run: Run) -> None:
    """Move what was rendered into place and remove what the last build wrote that is no
    longer planned, but for the sites in `keep` (see output.py); a site with a page that
    could not be made stays wholly as it was."""
    out, result = run.out, run.result
    assert out is not None  # opened by the model stage of a build that writes
    broken: dict[str, tuple[Page, str]] = {}
    for (page, _), outcome in zip(run.todo, run.staged, strict=True):
        if isinstance(outcome, str):
            broken.setdefault(_site_of(page), (page, outcome))
    for site, (page, what) in sorted(broken.items()):
        run.keep.add(privacy.site_root(site))
        result.problems.append(_failed(page.client.folder, what) if page.client else
                               error(paths.CONFIG_FILE, 1, f"coachgen could not build the overview ({what})"))
    for (page, key), outcome in zip(run.todo, run.staged, strict=True):
        if isinstance(outcome, str) or _site_of(page) in broken:
            continue
        if out.record(page.path, *outcome, key):
            result.written.append(page.path)
    result.removed = out.commit(run.planned, run.keep)
    if run.addresses != b.addresses:
        addresses.save(run.config.vault, run.config.out_dir, run.addresses)
        b.addresses = run.addresses


def cache(b: Builder, run: Run) -> None:
    """Keep the parse cache and the plans under `.coachgen/` for the next run."""
    if b.disk_cache and b.save_cache:
        b._save_cache()


STAGES: tuple[tuple[str, Callable[[Builder, Run], None]], ...] = (
    ("scan", scan),
    ("parse", parse),
    ("model", model),
    ("plan", plan),
    ("render", render_pages),
    ("write", write),
    ("cache", cache),
)
"""The build, in order: each stage a function of the Builder (what builds lend each other)
and the build's values (`Run`), timed by `Builder.build`."""
PLANNED = 4
"""A check (a build that does not write) runs the stages up to the plan."""


def _languages(model: model_mod.Model, notes: dict[str, Note], config, problems: list[Problem]) -> model_mod.Model:
    """A client.md `language:` coachgen does not have is an error at its line; that client's
    site is written in the vault's language."""
    codes = i18n.available(config.vault)
    bad = {c.folder for c in model.clients if c.language is not None and c.language not in codes}
    if not bad:
        return model
    for folder in sorted(bad):
        path = paths.profile(folder)
        problems.append(error(path, notes[path].language_line, i18n.unknown("", config.vault)))
    return replace(model, clients=tuple(replace(c, language=None) if c.folder in bad else c for c in model.clients))


def _secrets(protections: dict[str, privacy.Protection]) -> dict[str, str]:
    """Each encrypted site's password, so that exactly those sites are sealed."""
    found = {}
    for site, protection in protections.items():
        if protection.encrypted:
            assert protection.secret is not None  # privacy.decide encrypts a site only with its password
            found[site] = protection.secret
    return found


def _failed(folder: str, what: str) -> Problem:
    return error(paths.profile(folder), 1,
                 f"coachgen could not build this client's site ({what}): what was built before stays as it was, and "
                 "the other sites were built. This is a fault in coachgen; please report it")


def _shard(path: str) -> str:
    """The cache shard of a note: its client's folder, or one shard for the rest of the vault."""
    parts = path.split("/", 2)
    return f"{parts[0]}/{parts[1]}" if parts[0] == paths.CLIENTS_DIR and len(parts) == 3 else ""


_UNREADABLE = (OSError, pickle.UnpicklingError, EOFError, ValueError, AttributeError, ImportError, TypeError)


def _load(path: Path):
    """A cache file written by this very code (of a notes file, its token), or None."""
    try:
        with open(path, "rb") as fh:
            version, data = pickle.load(fh)
    except _UNREADABLE:
        return None
    return data if version == coachgen.code_digest() else None


def _load_notes(path: Path) -> dict[str, Note | None] | None:
    try:
        with open(path, "rb") as fh:
            pickle.load(fh)  # the token, checked when the index was read
            return pickle.load(fh)
    except _UNREADABLE:
        return None


def _dump(path: Path, data, token: str | None = None) -> None:
    """Write a cache file whole (a reader never sees half of one); with a `token`, as a notes
    file: the token first, then the data."""
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        if token is None:
            pickle.dump((coachgen.code_digest(), data), fh, protocol=pickle.HIGHEST_PROTOCOL)
        else:
            pickle.dump((coachgen.code_digest(), token), fh, protocol=pickle.HIGHEST_PROTOCOL)
            pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)


def _dump_mapped(path: Path, data) -> None:
    """Write an index whole: its version and the sizes of its buffers (each client's sessions,
    actions and games, pickled apart: see model.clients.Client), the buffers, then the rest."""
    buffers: list[pickle.PickleBuffer] = []
    rest = pickle.dumps(data, protocol=5, buffer_callback=buffers.append)
    raw = [buffer.raw() for buffer in buffers]
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        pickle.dump((coachgen.code_digest(), [len(part) for part in raw]), fh, protocol=pickle.HIGHEST_PROTOCOL)
        for part in raw:
            fh.write(part)
        fh.write(rest)
    os.replace(tmp, path)


def _load_mapped(path: Path, mapped: bool = True):
    """An index written by this very code, or None. Its buffers are `mapped`, not read: a
    client's part is read from the disk only if the build looks at it, and the mapping holds
    the file as it was, even once a later build replaces it."""
    try:
        with open(path, "rb") as fh:
            version, sizes = pickle.load(fh)
            if version != coachgen.code_digest():
                return None
            start = fh.tell()
            if not mapped or not sizes:
                return pickle.load(fh, buffers=[fh.read(size) for size in sizes])
            whole = memoryview(mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ))
            views = []
            for size in sizes:
                views.append(whole[start:start + size])
                start += size
            fh.seek(start)
            return pickle.load(fh, buffers=views)
    except _UNREADABLE:
        return None


def _index_file(folder: Path, name: str) -> Path:
    return folder / f"index-{hashlib.sha256(name.encode()).hexdigest()[:16]}.pickle"


def _notes_file(folder: Path, name: str) -> Path:
    return folder / f"notes-{hashlib.sha256(name.encode()).hexdigest()[:16]}.pickle"


def _made_of(made: dict[str, tuple], client: model_mod.Client) -> tuple | None:
    """What `embeds` or `entries` hold of this very client, without it (the cache's index keeps it beside it)."""
    known = made.get(client.slug)
    return known[1:] if known is not None and known[0] is client else None


def _held(run: Run, plan: SitePlan) -> bool:
    """Whether the output holds each of a client's pages (but its shipped assets, always
    checked) as the plan says; a check that writes nothing need not know."""
    if run.out is None:
        return True
    return all(run.out.fresh(path, key) for path, key in _finals(run, plan).items())


def _finals(run: Run, plan: SitePlan) -> dict[str, str | None]:
    """Each page's key as the manifest keeps it (but the shipped assets'), made once per plan."""
    if plan.finals is None:
        plan.finals = {page.path: keys.final(page, run.templates, run.seals.get(_site_of(page), ""), run.listing.files)
                       for page in plan.pages if not isinstance(page, Asset)}
    return plan.finals


def _find(sites: list[SitePlan], path: str) -> Page | None:
    """The planned page at `path` (a redirect's target)."""
    for site in sites:
        if path in site.paths:
            return next(page for page in site.pages if page.path == path)
    return None


def _site_of(page: Page) -> str:
    return page.client.slug if page.client else passwords_mod.COACH


def _render_one(i: int) -> tuple[str, bool] | str:
    """Render one page into staging (in a worker process, or here); a page that cannot be
    made gives the name of what went wrong instead."""
    todo, env, vault_dir, locks, out = parallel.shared()
    page = todo[i][0]
    try:
        data = render.render(page, env, vault_dir, locks.get(_site_of(page)))
    except Exception as exc:  # a fault must cost one site, never the whole build
        return type(exc).__name__
    return out.stage(page.path, data)


def _parse_one(item: tuple[str, bytes | None, str | None],
               context: tuple | None = None) -> tuple[str | None, Note | None]:
    """(The file's SHA-256, its note), reading the file first if the parent did not; in a
    worker, the vault and settings are those the parent shared."""
    path, data, sha = item
    vault_dir, allow_html = context or parallel.shared()
    if data is None:
        try:
            data = vault.read_bytes(vault_dir, path)
        except OSError as exc:
            return None, Note(path, (error(path, 1, f"cannot be read: {exc.strerror}"),), ok=False)
        sha = hashlib.sha256(data).hexdigest()
    assert sha is not None  # given with the data the parent read, else computed just above
    folder = paths.client_folder(path)
    note = parse_note(
        path,
        data,
        is_client=paths.is_profile(path),
        in_client_folder=folder is not None,
        allow_html=allow_html,
    )
    return sha, note if note is None else replace(note, sha=sha)


def _recorded(page: Page) -> Page:
    """What the disk keeps of a planned page: a rendered or generated page only by its path
    and key (its client is the one in the same index, pickled once)."""
    if isinstance(page, (Copied, Asset, Recorded)):
        return page
    return Recorded(page.path, page.client, notes=page.notes, sealed=page.sealed, key=page.key, identity=page.identity)
