"""watchdog -> debounced batches -> Builder.build(); it never decides what to rebuild.

Editors save in bursts (vim's swap files and `4913` probe, JetBrains' safe write, VS Code's
truncate-then-write, `git checkout` touching hundreds of files): events are collected
until the vault has been quiet for `quiet` seconds, or `max_wait` seconds have passed
since the first, then handed to one build as hints. When the system says that every file
waited on is whole again (closed after writing, or moved into place), a few milliseconds
of quiet are enough: the next file of a burst follows at once. Events that arrive during
a build go into the next one. A folder event, or a periodic reconcile, makes the build
look at everything, so a missed event is caught up with.
"""

from __future__ import annotations

import errno
import gc
import os
import threading
import time
from pathlib import Path
from typing import Callable

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from coachgen.dev import serve
from coachgen.engine import output
from coachgen.vault.files import is_ignored_name
from coachgen.vault.paths import SECRETS, STATE_DIR


class Batches(FileSystemEventHandler):
    """Collects the paths that changed; `take()` waits for a quiet moment and returns them."""

    def __init__(self, vault: Path, out_dir: Path, quiet: float = 0.05, max_wait: float = 1.0,
                 whole: float = 0.01):
        self.vault = vault.resolve()
        self.out_dir = out_dir.resolve()
        self.quiet, self.max_wait, self.whole = quiet, max_wait, whole
        self.pending: set[str] = set()
        self.written: set[str] = set()
        """Pending paths whose last event says the file is whole: closed after writing, or
        moved into place (inotify says so; a polling observer never does)."""
        self.rescan = False
        self.first = self.last = 0.0
        self.cond = threading.Condition()
        self.new_folder: Callable[[Path], None] | None = None
        """Told of a folder that appeared at the vault's top (see `observe`)."""

    def relevant(self, path: str) -> str | None:
        """The vault-relative path of a change worth a build, or None for noise."""
        try:
            full = Path(path).resolve() if Path(path).is_symlink() else Path(path)
            if full == self.out_dir or full.is_relative_to(self.out_dir):
                return None
            rel = full.relative_to(self.vault).as_posix()
        except ValueError:
            return None
        if rel == SECRETS:  # the coach's passwords, among coachgen's own records
            return rel
        if rel in ("", ".") or rel.split("/")[0] == STATE_DIR:
            return None
        if any(is_ignored_name(part) for part in rel.split("/")):
            return None
        return rel

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write") or (event.is_directory and event.event_type == "modified"):
            return  # reading, and a folder's listing changing with a file in it, are no news
        paths = [event.src_path] + ([event.dest_path] if getattr(event, "dest_path", "") else [])
        # a folder watched by its str path reports str paths: fsdecode returns those as they are
        found = [rel for rel in (self.relevant(os.fsdecode(p)) for p in paths) if rel]
        if not found:
            return
        with self.cond:
            now = time.monotonic()
            if not self.pending and not self.rescan:
                self.first = now
            self.last = now
            if event.is_directory and self.new_folder and event.event_type in ("created", "moved"):
                for given in paths:  # a new top folder of the vault is watched from now on
                    folder = Path(os.fsdecode(given))
                    if folder.parent == self.vault and folder.is_dir():
                        try:
                            self.new_folder(folder)
                        except OSError:  # the system's watch limit: the next reconcile looks inside
                            pass
            if event.is_directory or SECRETS in found:
                # a folder moved in or out: only a scan knows what is inside; a password
                # changed: every site's protection is decided again, and checked against the output
                self.rescan = True
            else:
                self.pending.update(found)
                self._note_whole(event, found)
            self.cond.notify_all()

    def _note_whole(self, event: FileSystemEvent, found: list[str]) -> None:
        """Which pending files are whole now: a file closed after writing, or moved into
        place, is; one created, modified, deleted or moved away may still be on its way."""
        dest = self.relevant(os.fsdecode(event.dest_path)) if getattr(event, "dest_path", "") else None
        for rel in found:
            if (event.event_type == "closed" and rel != dest) or (event.event_type == "moved" and rel == dest):
                self.written.add(rel)
            else:
                self.written.discard(rel)

    def take(self, timeout: float | None = None) -> tuple[set[str], bool] | None:
        """Wait for changes, then for quiet (or the maximum wait); None after `timeout` idle."""
        with self.cond:
            if not self.cond.wait_for(lambda: self.pending or self.rescan, timeout=timeout):
                return None
            while True:
                now = time.monotonic()
                whole = not self.rescan and self.pending <= self.written
                settle = min(self.last + (self.whole if whole else self.quiet), self.first + self.max_wait)
                if now >= settle:
                    break
                self.cond.wait(settle - now)
            batch, rescan = self.pending, self.rescan
            self.pending, self.rescan, self.written = set(), False, set()
            return batch, rescan


NEWS: list[type[FileSystemEvent]] = [FileCreatedEvent, FileModifiedEvent, FileClosedEvent, FileDeletedEvent,
                                     FileMovedEvent, DirCreatedEvent, DirDeletedEvent, DirMovedEvent]
"""The events that can be news: not a file opened or read (each build reads the notes it
parses; told of that, the system would wake the watcher's thread in the middle of it)."""


def observe(vault: Path, batches: Batches, poll: bool, warn: Callable[[str], None]):
    """Start a watchdog observer; fall back to polling where the system's watch limits are hit."""
    # watchdog reports paths as the folder was given (`vault_example/...`, `./...`, a symlink's
    # name); Batches compares them to the resolved vault, so watch the resolved folder.
    folder = Path(vault).resolve()
    if poll:
        return _polling(folder, batches)
    observer = Observer()
    try:
        _schedule(observer, folder, batches)
        observer.start()
    except OSError as exc:
        warn(f"coachgen: cannot watch the vault with system events ({exc.strerror or exc}); "
             "polling every second instead")
        return _polling(folder, batches)
    return observer


def _polling(folder: Path, batches: Batches):
    observer = PollingObserver(timeout=1.0)
    observer.schedule(batches, str(folder), recursive=True)
    observer.start()
    return observer


def _schedule(observer, folder: Path, batches: Batches) -> None:
    """Watch the vault's own folders, and a top folder as soon as it appears; not the output,
    hidden folders (.git, .obsidian) nor coachgen's records but for the coach's passwords.
    A build writes there on every save, and a file moved out of a watched folder (a staged
    page into an output elsewhere) holds all of watchdog's events back for half a second."""

    def watch(path: Path) -> None:
        if path.name == STATE_DIR:
            observer.schedule(batches, str(path), recursive=False, event_filter=NEWS)  # for secrets.toml
        elif not is_ignored_name(path.name) and not path.is_symlink() and path != batches.out_dir:
            observer.schedule(batches, str(path), recursive=True, event_filter=NEWS)

    observer.schedule(batches, str(folder), recursive=False, event_filter=NEWS)
    for child in sorted(folder.iterdir()):
        if child.is_dir():
            watch(child)
    batches.new_folder = watch


def run(builder, batches: Batches, on_build: Callable, stop: threading.Event, reconcile: float = 60.0) -> None:
    """Build after each batch until `stop` is set; a bad build is reported, never fatal.
    While nothing is waiting, the builder readies one client at a time for its first save."""
    warming = True
    while not stop.is_set():
        taken = batches.take(timeout=0 if warming else reconcile)
        if stop.is_set():
            return
        if taken is None and warming:
            warming = builder.warm()
            if not warming:  # what readying read lives for the whole watch too: frozen, never rescanned
                gc.collect()
                gc.freeze()
            continue
        changed, rescan = taken if taken is not None else (set(), True)
        try:
            result = builder.build(changed=None if rescan else changed)
        except Exception as exc:  # noqa: BLE001 - the watcher must outlive any one build
            on_build(None, changed, exc)
            continue
        on_build(result, changed, None)


def serve_and_watch(vault: Path, *, out: Path | None, host: str, port: int, poll: bool, today,
                    echo: Callable[[str], None], first_build: Callable, ready: Callable[[str], None] | None = None,
                    stop: threading.Event | None = None, git: bool = True, next_free_port: bool = False) -> None:
    """`coachgen watch`: build, serve with live reload, and rebuild after every save until stopped.

    A busy `port` is an error, unless `next_free_port` (the coach did not pick it): then the next free one.
    """
    from coachgen.engine import site
    from coachgen.vault import config as config_mod

    config, _ = config_mod.load(vault, out)
    builder = site.Builder(vault, out=out, today=today, disk_cache=True, keep_last_good=True, git=git)
    preview = serve.Preview(config.out_dir)
    preview.begin()  # requests wait for the first build
    server = _serve(preview, host, port, next_free_port, echo)  # before building: a busy port fails at once
    try:
        _watch(vault, config.out_dir, builder, preview, server, poll, echo, first_build, ready,
               stop or threading.Event())
    finally:
        server.shutdown()
        server.server_close()  # frees the port for the next watch at once


def _serve(preview, host: str, port: int, next_free_port: bool, echo: Callable[[str], None]):
    """The preview server, or a one-line error and exit status 1 (never a traceback)."""
    try:
        server = serve.start_near(preview, host, port) if next_free_port else serve.start(preview, host, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            echo(f"coachgen: error: port {port} is busy: stop what uses it, or pick another with --port")
        else:  # no permission for the port, or no such address on this machine
            echo(f"coachgen: error: cannot serve on {host} port {port} ({exc.strerror or exc})")
        raise SystemExit(1) from None
    if port and server.server_address[1] != port:
        echo(f"port {port} is busy; serving on {_url(server)} instead")
    return server


def _url(server) -> str:
    """The address the server really listens on: the one to open."""
    return f"http://{server.server_address[0]}:{server.server_address[1]}/"


def _watch(vault: Path, out_dir: Path, builder, preview, server, poll: bool, echo: Callable[[str], None],
           first_build: Callable, ready: Callable[[str], None] | None, stop: threading.Event) -> None:
    """The first build, then a build after every batch of saves until `stop` is set."""
    try:
        result = first_build(builder)
    except (output.NotOurs, output.Busy) as exc:  # nothing to serve: say why in one line, as `build` does
        echo(f"coachgen: error: {exc}")
        raise SystemExit(1) from None
    builder.save_cache = False  # saved when the watch ends, not after every save
    gc.collect()
    gc.freeze()  # the vault's parsed notes live for the whole watch: the collector need not rescan them
    for problem in result.problems:
        echo(str(problem))
    count = len(result.model.clients) if result.model else 0
    echo(f"Built {count} client site{'' if count == 1 else 's'} in {result.seconds * 1000:.0f} ms")
    # Watching before the first page is served: a save made once the page shows is never missed.
    batches = Batches(vault, out_dir)
    observer = observe(vault, batches, poll, echo)
    preview.end(_errors(result), _sites(result))
    url = _url(server)
    echo(f"Serving {out_dir} at {url} (Ctrl-C to stop)")
    if ready:
        ready(url)

    class Announced:
        """The builder, with the server told when a build starts and ends."""

        def warm(self) -> bool:
            return builder.warm()

        def build(self, changed):
            preview.begin()
            try:
                return builder.build(changed=changed)
            except BaseException:
                preview.end(preview.errors, preview.sites)
                raise

    def on_build(result, changed, exc) -> None:
        if exc is not None:
            echo(f"coachgen: error: the build failed ({type(exc).__name__}: {exc}); still watching")
            return
        preview.end(_errors(result), _sites(result))
        news = [p for p in result.problems if p.path in result.changed or p.path in changed]
        if not (result.written or result.removed or news):
            return  # a save that changes no page is no news (and a log kept in the vault no loop)
        what = next(iter(changed)) if len(changed) == 1 else f"{len(changed)} files" if changed else "the vault"
        pages = f"{len(result.written)} page{'s' if len(result.written) != 1 else ''}"
        echo(f"{what} -> {pages} in {result.seconds * 1000:.0f} ms")
        for problem in news:
            echo(str(problem))

    try:
        run(Announced(), batches, on_build, stop)
    finally:
        observer.stop()
        builder.save()


def _errors(result) -> list[str]:
    return [str(p) for p in result.errors]


def _sites(result) -> list[tuple[str, str]]:
    if result.model is None:
        return []
    return [(f"/clients/{c.slug}/", c.name) for c in result.model.clients] + [("/coach/", "Coach's overview")]
