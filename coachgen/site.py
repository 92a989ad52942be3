"""build(): read, parse, model, plan, render, then write what changed and prune what is gone.

A Builder keeps what one build can lend the next: parsed notes by file stamp, each
client's model while its notes are the same objects, and (in the output manifest) a key
per page, so that a page whose inputs did not change is neither rendered nor written.
`watch` keeps one Builder alive; `build` keeps its parse cache under `.coachgen/`.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import os
import pickle
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from . import addresses, checkin, history, i18n, keys, output, parallel, privacy, render, vault
from . import config as config_mod
from . import model as model_mod
from . import pages as pages_mod
from . import passwords as passwords_mod
from .page import Asset, Copied, Page, Recorded
from .parse import Note, parse_note
from .problems import Problem, error

CACHE = f"{config_mod.STATE_DIR}/cache"
"""The parse cache, one file per client folder (a save rewrites only its own), and the
last plan of each client."""
RECENT_NS = 2_000_000_000
"""A file changed this recently may change again within the file system's time
resolution with its size unchanged: its stamp alone is not trusted."""


@dataclass
class Result:
    problems: list[Problem]
    model: model_mod.Model | None = None
    planned: int = 0
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    """Vault files that changed since the previous build of the same Builder."""
    seconds: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)
    """Seconds spent in each stage: scan, parse, model, plan, render, write (and cache)."""
    protections: dict[str, privacy.Protection] = field(default_factory=dict)
    """How each site was published (encrypted, without a password) or why it was withheld."""
    sites: int = 0
    """The clients the vault holds (each with a site, published or withheld)."""
    unchanged: bool = False
    """Nothing changed since the last `coachgen build` of this output: its result, reported again."""

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "error"]


def today_in(zone) -> dt.date:
    return dt.datetime.now(zone).date()


def build(
    vault_dir: Path,
    *,
    out: Path | None = None,
    today: dt.date | None = None,
    write: bool = True,
    progress: Callable[[int, int], None] | None = None,
    git: bool = True,
) -> Result:
    """Build every client's site (or, with `write=False`, only report problems)."""
    collecting = gc.isenabled()
    gc.disable()  # a one-off build makes few cycles: the collector's scans of a big heap are pure cost
    try:
        builder = Builder(vault_dir, out=out, today=today, disk_cache=write, git=git)
        return builder.build(write=write, progress=progress)
    finally:
        if collecting:
            gc.enable()


@dataclass
class _Parsed:
    stamp: vault.Stamp
    sha: str
    note: Note | None


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
        self.last_good: dict[str, Note] = {}
        self.memo: dict = {}
        self.listing: vault.Listing | None = None
        self.settings: tuple | None = None
        self.files: pages_mod.Files | None = None
        self.files_key: tuple | None = None
        self.keys = keys.Keys()
        self.plans: dict[str, tuple] = {}
        """Each client's last plan: (the fingerprint of its inputs, its pages, or as recorded on disk)."""
        self.fingerprints: dict[str, tuple] = {}
        self.replanned = False
        self.failed: dict[str, tuple[str, str]] = {}
        """Clients whose pages could not be made in the last plan: slug -> (folder, what went wrong)."""
        self.embeds: dict[str, tuple] = {}
        """Each client's embed warnings, with the model object they were found for."""
        self.dirty: set[str] = set()
        """Cache shards whose notes changed since they were saved."""
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
        """Build. `changed` (vault-relative paths) lets a watcher skip the full scan; a
        path that is not a plain file, or None, means look at everything."""
        started = lap = time.perf_counter()
        stages: dict[str, float] = {}

        def done(stage: str) -> None:
            nonlocal lap
            now = time.perf_counter()
            stages[stage] = stages.get(stage, 0.0) + now - lap
            lap = now

        config, problems = config_mod.load(self.vault_dir, self.out)
        out_dir = config.out_dir
        if out_dir == config.vault or config.vault.is_relative_to(out_dir):
            problems.append(error(config_mod.CONFIG_FILE, 1, "the output folder must not be the vault or contain it"))
            return Result(sorted(problems))
        settings = (config.allow_html,)
        if settings != self.settings:  # notes parsed under other settings are parsed again
            self.parsed, self.last_good, self.memo, self.settings = {}, {}, {}, settings
        listing = self._scan(config, out_dir, changed)
        done("scan")
        notes, touched = self._parse(config, listing)
        done("parse")
        for note in notes.values():
            problems += note.problems
        if self.keep_last_good:
            notes = self._with_last_good(notes)
        passwords = passwords_mod.Passwords(config.vault)
        today = self.today or today_in(config.zone)
        known = set(self.memo)
        model = model_mod.build(notes, today, memo=self.memo)
        self.dirty.update(f"{model_mod.CLIENTS_DIR}/{key[0]}" for key in self.memo.keys() - known)
        problems += model.problems
        model = _languages(model, notes, config, problems)
        problems += self._embed_problems(model, listing)
        problems += passwords_mod.problems(config.vault, passwords, [c.slug for c in model.clients])
        # the privacy room decides, once, which sites may be published and how
        sealed_before = privacy.sealed_sites(output.known_files(config.vault, out_dir))
        protections, found = privacy.decide(config, passwords, model, sealed_before)
        problems += found
        done("model")
        secrets = _secrets(protections)
        # withheld sites: what an earlier build wrote there stays exactly as it was
        keep = {privacy.site_root(site) for site, p in protections.items() if not p.published}
        shown = replace(model, clients=tuple(c for c in model.clients if protections[c.slug].published))
        names = passwords_mod.naming_keys(config.vault, sorted(set(secrets) - {passwords_mod.COACH}), create=write)
        tokens = checkin.tokens(config.vault, [c.slug for c in shown.clients], create=write)
        # the pages' look and words: templates, and the vault's own catalogues (locales/)
        templates = render.templates_digest(config.vault / vault.OVERRIDES_DIR) + i18n.digest(config.vault)
        moved_from = addresses.load(config.vault, out_dir)

        def plan_all():
            plan, reused = self._plan(shown, config, listing, secrets, templates, protections[passwords_mod.COACH],
                                      names, tokens)
            moved, record = addresses.redirects(moved_from, plan, keep, config)
            self.keys.settle()
            return plan + [self.keys.keyed(page) for page in moved], reused, record

        plan, reused, record = plan_all()
        privacy.check_plan(plan, checked={id(p) for p in reused}, protections=protections)
        for slug, (folder, what) in sorted(self.failed.items()):
            problems.append(_failed(folder, what))
            keep.add(privacy.site_root(slug))
        result = Result(sorted(set(problems)), model, len(plan), changed=touched, stages=stages,
                        protections=protections, sites=len(model.clients))
        done("plan")
        if write:
            locks = passwords_mod.locks(config.vault, secrets)
            env = render.environment(config.vault / vault.OVERRIDES_DIR,
                                     config.vault / config_mod.STATE_DIR / "templates")
            try:
                self._write(plan, reused, env, config, out_dir, listing, result, progress, locks, templates,
                            full=changed is None, keep=keep)
            except _Stale:  # a page the last build recorded is gone from the output: plan in full
                self.plans = {}
                plan, reused, record = plan_all()
                privacy.check_plan(plan, protections=protections)
                self._write(plan, reused, env, config, out_dir, listing, result, progress, locks, templates,
                            full=changed is None, keep=keep)
            addresses.save(config.vault, out_dir, record)
            done("write")
            stages["write"] -= stages["render"]
            if self.disk_cache and self.save_cache:
                self._save_cache()
                done("cache")
        result.seconds = time.perf_counter() - started
        return result

    def _embed_problems(self, model: model_mod.Model, listing: vault.Listing) -> list[Problem]:
        """Embeds a page shows as links rather than inline, and embedded files not found, for
        each client; an unchanged client (the very same model object, and the same files)
        keeps what was found last time."""
        files = self._files(listing)
        found, memo = [], {}
        for client in model.clients:
            known = self.embeds.get(client.slug)
            if known and known[0] is client and known[1] == self.files_key:
                problems = known[2]
            else:
                problems = pages_mod.embed_problems(client, files)
            memo[client.slug] = (client, self.files_key, problems)
            found += problems
        self.embeds = memo
        return found

    def _plan(self, model, config, listing, secrets, templates, overview: privacy.Protection,
              names: dict[str, bytes], tokens: dict[str, str]) -> tuple[list[Page], list[Page]]:
        """Plan every client's pages; a client whose inputs are those of the previous build
        keeps its plan: its pages while watching, or from the disk the paths and keys the last
        build recorded (pages that are only checked against the output, see `_Stale`)."""
        files = self._files(listing)
        if self.git:
            head = history.head(config.vault)
            if head != self.git_head:
                self.git_head, self.updated = head, history.last_changed(config.vault) if head else {}
        shared = keys.digest(keys.code_digest(), config, model.today, templates)
        plan, reused, plans = [], [], {}
        self.failed = {}
        for client in model.clients:
            locked = client.slug in secrets
            name_key, token = names.get(client.slug, b""), tokens.get(client.slug, "")
            secret_keys = hashlib.sha256(name_key + b"|" + token.encode()).hexdigest()
            fingerprint = self._fingerprint(client, shared, locked, listing, secret_keys)
            previous = self.plans.get(client.slug)
            if previous and previous[0] == fingerprint:
                pages = previous[1]
                if pages and pages[0].client is not client:  # as recorded on disk, without their client
                    pages = [replace(page, client=client) for page in pages]
                reused += pages
            else:
                try:
                    pages = [self.keys.keyed(page) for page in pages_mod.client_pages(
                        client, model, config, files, locked, self.updated, name_key, token)]
                except Exception as exc:  # a fault must cost one site, never the whole build
                    self.failed[client.slug] = (client.folder, type(exc).__name__)
                    continue
                self.replanned = True
            plans[client.slug] = (fingerprint, pages)
            plan += pages
        self.replanned |= plans.keys() != self.plans.keys()
        self.plans = plans
        if not overview.published:
            return plan, reused
        # an overview without a password shows no client whose site has one
        listed = model if overview.encrypted else replace(
            model, clients=tuple(c for c in model.clients if c.slug not in secrets))
        hidden = len(model.clients) - len(listed.clients)
        coach = pages_mod.coach_pages(listed, config, overview.encrypted, hidden)
        return plan + [self.keys.keyed(page) for page in coach], reused

    def _files(self, listing: vault.Listing) -> pages_mod.Files:
        """The vault's files as links and embeds look them up, made again when they change."""
        files_key = (tuple(listing.files), tuple((p, s) for p, s in listing.files.items() if not p.endswith(".md")))
        if files_key != self.files_key:
            self.files, self.files_key = pages_mod.Files.of(listing.files), files_key
        assert self.files is not None  # made above on the first call, when files_key was None
        return self.files

    def _fingerprint(self, client: model_mod.Client, shared: str, locked: bool, listing: vault.Listing,
                     names: str) -> str:
        """Everything a client's pages are made from: the build's settings, its notes (by
        content), when git last changed them, and the files its notes may link or embed.
        While watching, the model object of an unchanged client is the same object, and so
        is its fingerprint as long as the files and git's history are."""
        inputs = (shared, locked, names, self.files_key, self.git_head)
        known = self.fingerprints.get(client.slug)
        if known and known[0] is client and known[1] == inputs:
            return known[2]
        notes = ([f"{model_mod.CLIENTS_DIR}/{client.folder}/client.md"]
                 + [s.path for s in client.sessions + client.checkins])
        assert self.files is not None  # _plan looked the files up first
        files = self.files.by_folder.get(client.folder, ()) + self.files.shared
        fingerprint = keys.digest(
            shared, client.folder, client.slug, locked, names,
            [(path, self.parsed[path].sha if path in self.parsed else None, self.updated.get(path)) for path in notes],
            [(path, listing.files.get(path)) for path in files],
        )
        self.fingerprints[client.slug] = (client, inputs, fingerprint)
        return fingerprint

    # ------------------------------------------------------------ reading and parsing

    def _scan(self, config, out_dir: Path, changed: set[str] | None) -> vault.Listing:
        if self.listing is None or changed is None:
            self.listing = vault.scan(config.vault, out_dir)
            return self.listing
        files = dict(self.listing.files)
        structure = False
        for rel in changed:
            stamp = vault.stamp(config.vault, rel)
            if stamp is None:
                structure |= files.pop(rel, None) is not None
            else:
                structure |= rel not in files
                files[rel] = stamp
        self.listing = vault.Listing(dict(sorted(files.items())) if structure else files)
        return self.listing

    def _parse(self, config, listing: vault.Listing) -> tuple[dict[str, Note], list[str]]:
        """Parse the notes whose stamp (or, for a recent file, content) changed; reuse the rest."""
        notes: dict[str, Note] = {}
        touched = sorted(set(self.parsed) - set(listing.notes))
        for path in touched:
            del self.parsed[path]
            self.last_good.pop(path, None)
        now = time.time_ns()
        todo: list[tuple[str, bytes | None, str | None]] = []
        for path in listing.notes:
            stamp = listing.files[path]
            cached = self.parsed.get(path)
            if cached is None:
                todo.append((path, None, None))  # read by the worker that parses it
                continue
            if cached.stamp == stamp and now - max(stamp.mtime_ns, stamp.ctime_ns) > RECENT_NS:
                if cached.note is not None:
                    notes[path] = cached.note
                continue
            try:
                data = vault.read_bytes(config.vault, path)
            except OSError as exc:
                notes[path] = Note(path, (error(path, 1, f"cannot be read: {exc.strerror}"),), ok=False)
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
            todo.append((path, data, sha))
        outcomes = parallel.map(_parse_one, todo, (config.vault, config.allow_html))
        for (path, _, _), (read_sha, note) in zip(todo, outcomes, strict=True):
            touched.append(path)
            if read_sha is not None:  # a file that could not be read is tried again next time
                self.parsed[path] = _Parsed(listing.files[path], read_sha, note)
            if note is not None:
                notes[path] = note
        self.dirty.update(_shard(path) for path in touched)
        return {p: notes[p] for p in listing.notes if p in notes}, sorted(touched)

    def _with_last_good(self, notes: dict[str, Note]) -> dict[str, Note]:
        kept = {}
        for path, note in notes.items():
            if note.ok:
                self.last_good[path] = note
                kept[path] = note
            elif path in self.last_good:
                kept[path] = self.last_good[path]
            else:
                kept[path] = note
        return kept

    def _load_cache(self) -> None:
        folder = self.vault_dir / CACHE
        plans = _load(folder / "plans.pickle")
        if plans is not None:
            self.plans = plans
        for path in sorted(folder.glob("notes-*.pickle")):
            shard = _load(path)
            if shard is None:
                continue
            settings, parsed, memo = shard
            if self.settings not in (None, settings):
                self.parsed, self.memo, self.settings = {}, {}, None
                return
            self.settings = settings
            self.parsed.update(parsed)
            self.memo.update(memo)

    def save(self) -> None:
        """Keep the parse cache under `.coachgen/` for the next run."""
        if self.disk_cache:
            self._save_cache()

    def _save_cache(self) -> None:
        """Save the shards whose notes changed, and the plans if a client was planned anew."""
        folder = self.vault_dir / CACHE
        folder.mkdir(parents=True, exist_ok=True)
        shards: dict[str, tuple[dict, dict]] = {name: ({}, {}) for name in self.dirty}
        if self.dirty:
            for path, parsed in self.parsed.items():
                if (name := _shard(path)) in shards:
                    shards[name][0][path] = parsed
            for key, client in self.memo.items():  # in the shard of its notes, which share its HTML
                if (name := f"{model_mod.CLIENTS_DIR}/{key[0]}") in shards:
                    shards[name][1][key] = client
        for name, (shard_parsed, shard_memo) in shards.items():
            target = folder / f"notes-{hashlib.sha256(name.encode()).hexdigest()[:16]}.pickle"
            if shard_parsed:
                _dump(target, (self.settings, shard_parsed, shard_memo))
            else:
                target.unlink(missing_ok=True)
        self.dirty = set()
        if self.replanned:
            stubs = {slug: (fingerprint, [_recorded(page) for page in pages])
                     for slug, (fingerprint, pages) in self.plans.items()}
            _dump(folder / "plans.pickle", stubs)
            self.replanned = False

    # ------------------------------------------------------------ writing

    def _write(self, plan, reused, env, config, out_dir: Path, listing, result: Result, progress, locks,
               templates: str, full: bool, keep: set[str] | frozenset[str] = frozenset()) -> None:
        """Render what changed into staging, then move it into place and remove what the last
        build wrote that is no longer planned, but for the sites in `keep` (see output.py).
        Pages of clients planned unchanged by this Builder are carried over unless `full`."""
        carried = set() if full else {id(p) for p in reused}
        seals = {site: hashlib.sha256(lock.master + lock.salt).hexdigest() for site, lock in locks.items()}
        with output.build_lock(config.vault), output.Output(config.vault, out_dir) as out:
            todo: list[tuple[int, str | None]] = []
            for i, page in enumerate(plan):
                if id(page) in carried and out.carry(page.path):
                    continue
                if isinstance(page, Asset):  # shipped files: linked, not rendered
                    source = render.asset_path(page.name)
                    st = source.stat()
                    if out.copy(page.path, source, f"{source}:{st.st_mtime_ns}:{st.st_size}"):
                        result.written.append(page.path)
                    continue
                key = keys.final(page, templates, seals.get(_site_of(page), ""), listing.files)
                if not out.fresh(page.path, key):
                    if isinstance(page, Recorded):
                        raise _Stale(page.path)
                    todo.append((i, key))
            tick = (lambda n: progress(n, len(todo))) if progress else None
            rendering = time.perf_counter()
            staged = parallel.map(_render_one, [i for i, _ in todo], (plan, env, config.vault, locks, out), tick)
            result.stages["render"] = time.perf_counter() - rendering
            broken: dict[str, tuple[Page, str]] = {}
            for (i, _), outcome in zip(todo, staged, strict=True):
                if isinstance(outcome, str):
                    broken.setdefault(_site_of(plan[i]), (plan[i], outcome))
            for site, (page, what) in sorted(broken.items()):
                # a site with a page that could not be made stays wholly as it was
                keep = keep | {privacy.site_root(site)}
                result.problems.append(_failed(page.client.folder, what) if page.client else
                                       error(config_mod.CONFIG_FILE, 1,
                                             f"coachgen could not build the overview ({what})"))
            for (i, key), outcome in zip(todo, staged, strict=True):
                if isinstance(outcome, str) or _site_of(plan[i]) in broken:
                    continue
                if out.record(plan[i].path, *outcome, key):
                    result.written.append(plan[i].path)
            result.removed = out.commit({p.path for p in plan}, keep)


def _languages(model: model_mod.Model, notes: dict[str, Note], config, problems: list[Problem]) -> model_mod.Model:
    """A client.md `language:` coachgen does not have is an error at its line; that client's
    site is written in the vault's language."""
    codes = i18n.available(config.vault)
    bad = {c.folder for c in model.clients if c.language is not None and c.language not in codes}
    if not bad:
        return model
    for folder in sorted(bad):
        path = f"{model_mod.CLIENTS_DIR}/{folder}/client.md"
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
    return error(f"{model_mod.CLIENTS_DIR}/{folder}/client.md", 1,
                 f"coachgen could not build this client's site ({what}): what was built before stays as it was, and "
                 "the other sites were built. This is a fault in coachgen; please report it")


class _Stale(Exception):
    """A page known only by the last build's record is not in the output as recorded."""


def _shard(path: str) -> str:
    """The cache shard of a note: its client's folder, or one shard for the rest of the vault."""
    parts = path.split("/", 2)
    return f"{parts[0]}/{parts[1]}" if parts[0] == model_mod.CLIENTS_DIR and len(parts) == 3 else ""


def _load(path: Path):
    """A cache file written by this very code, or None."""
    try:
        with open(path, "rb") as fh:
            version, data = pickle.load(fh)
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, AttributeError, ImportError, TypeError):
        return None
    return data if version == keys.code_digest() else None


def _dump(path: Path, data) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        pickle.dump((keys.code_digest(), data), fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)


def _site_of(page: Page) -> str:
    return page.client.slug if page.client else passwords_mod.COACH


def _render_one(i: int) -> tuple[str, bool] | str:
    """Render one planned page into staging (in a worker process, or here); a page that
    cannot be made gives the name of what went wrong instead."""
    plan, env, vault_dir, locks, out = parallel.shared()
    page = plan[i]
    try:
        data = render.render(page, env, vault_dir, locks.get(_site_of(page)))
    except Exception as exc:  # a fault must cost one site, never the whole build
        return type(exc).__name__
    return out.stage(page.path, data)


def _parse_one(item: tuple[str, bytes | None, str | None]) -> tuple[str | None, Note | None]:
    """(The file's SHA-256, its note), reading the file first if the parent did not."""
    path, data, sha = item
    vault_dir, allow_html = parallel.shared()
    if data is None:
        try:
            data = vault.read_bytes(vault_dir, path)
        except OSError as exc:
            return None, Note(path, (error(path, 1, f"cannot be read: {exc.strerror}"),), ok=False)
        sha = hashlib.sha256(data).hexdigest()
    assert sha is not None  # given with the data the parent read, else computed just above
    folder = model_mod.client_folder(path)
    note = parse_note(
        path,
        data,
        is_client=folder is not None and path == f"{model_mod.CLIENTS_DIR}/{folder}/client.md",
        in_client_folder=folder is not None,
        allow_html=allow_html,
    )
    return sha, note if note is None else replace(note, sha=sha)


def _recorded(page: Page) -> Page:
    """What the disk keeps of a planned page: without its client (the model has it), and a
    rendered or generated page only by its path and key."""
    if isinstance(page, (Copied, Asset)):
        return replace(page, client=None)
    return Recorded(page.path, None, notes=page.notes, sealed=page.sealed, key=page.key, identity=page.identity)
