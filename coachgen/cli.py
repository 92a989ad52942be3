"""Commands and flags: each calls the rooms below and holds no logic of its own."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
import sys
import time
from pathlib import Path

import click

from coachgen import __version__
from coachgen.engine import output
from coachgen.engine.result import Result
from coachgen.problems import Problem
from coachgen.vault import paths


@functools.lru_cache(maxsize=1)
def stderr():
    """rich's console on standard error, made (and rich imported) only when a command needs it."""
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def _date(ctx, param, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("use YYYY-MM-DD") from None


def report(problems: list[Problem]) -> None:
    """One problem a line on standard error: `PATH:LINE: error: MESSAGE`."""
    for problem in problems:
        click.echo(str(problem), err=True)


@click.group()
@click.version_option(__version__, prog_name="coachgen")
def main() -> None:
    """Turn a coach's Markdown vault into one private website per client."""


_built = False
"""Set by `build` once its work is written and reported."""


def run() -> None:
    """The `coachgen` command. After a build the process ends at once: freeing the build's
    heap object by object takes a tenth of a second at 10,000 notes, and the system frees it
    whole (mypy ends the same way). Every file is written and closed by then."""
    try:
        main()
    except SystemExit as done:
        if not _built:
            raise
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(done.code if isinstance(done.code, int) else 1)


def VAULT(command):
    """The vault of build, check and watch: a VAULT argument or, as new, digest and password
    take it, `--vault DIR` (default: here). Given both, they must name the same folder."""
    folder = click.Path(exists=True, file_okay=False, path_type=Path)

    @functools.wraps(command)
    def picked(*args, vault: Path | None, vault_option: Path | None, **kwargs):
        if vault is not None and vault_option is not None and vault.resolve() != vault_option.resolve():
            raise click.UsageError(f"VAULT ({vault}) and --vault ({vault_option}) name two folders: give one")
        return command(*args, vault=vault or vault_option or Path("."), **kwargs)

    picked = click.option("--vault", "vault_option", type=folder, metavar="DIR",
                          help="The vault, as VAULT (default: here).")(picked)
    return click.argument("vault", required=False, type=folder)(picked)


TODAY = click.option("--today", callback=_date, metavar="YYYY-MM-DD",
                     help="Build as of this date (default: today in the vault's timezone).")


def _build(vault: Path, out: Path | None, today: dt.date | None, git: bool) -> Result:
    """A build with a progress bar on a terminal, quiet in a pipe."""
    from coachgen.engine import unchanged

    if not stderr().is_terminal:
        return unchanged.build(vault, out=out, today=today, git=git)
    with progress_bar() as tick:
        return unchanged.build(vault, out=out, today=today, progress=tick, git=git)


@contextlib.contextmanager
def progress_bar():
    """A progress bar on the terminal, redrawn by the build itself: no drawing thread, so
    the build may still fork workers for both cores."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(TextColumn("Rendering"), BarColumn(), MofNCompleteColumn(), console=stderr(),
                  transient=True, auto_refresh=False) as bar:
        task = bar.add_task("pages", total=None)

        def tick(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)
            if done == total or done % 50 == 0:
                bar.refresh()

        yield tick


@main.command()
@VAULT
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (default: _site in the vault).")
@TODAY
@click.option("--timings", is_flag=True, help="Also print the seconds each stage took.")
@click.option("--git/--no-git", default=True,
              help="Show when each note last changed, from git (default: on in a git repository).")
def build(vault: Path, out: Path | None, today: dt.date | None, timings: bool, git: bool) -> None:
    """Build every client's site."""
    started = time.perf_counter()
    try:
        result = _build(vault, out, today, git)
    except output.Busy as exc:
        raise click.ClickException(str(exc)) from None
    except output.NotOurs as exc:  # a folder holding files coachgen did not write: nothing was written
        click.echo(f"coachgen: error: {exc}", err=True)
        sys.exit(1)
    except OSError as exc:
        click.echo(f"coachgen: error: cannot write the output: {exc.strerror or exc}"
                   f"{f' ({exc.filename})' if exc.filename else ''}; the previous site is unchanged", err=True)
        sys.exit(2)
    report(result.problems)
    if result.unchanged:
        seconds = time.perf_counter() - started
        sites = f"{result.sites} client site{'s' if result.sites != 1 else ''}"
        click.echo(f"Built {sites}: {result.planned} files planned, 0 written, 0 removed in {seconds:.2f} s "
                   "(nothing changed since the last build)", err=True)
    elif result.model is not None:
        clients = result.sites
        seconds = time.perf_counter() - started
        click.echo(
            f"Built {clients} client site{'s' if clients != 1 else ''}: {result.planned} files planned, "
            f"{len(result.written)} written, {len(result.removed)} removed in {seconds:.2f} s",
            err=True,
        )
        if timings:
            click.echo("stages: " + ", ".join(f"{k} {v:.2f} s" for k, v in result.stages.items()), err=True)
    global _built
    _built = True
    sys.exit(1 if result.errors else 0)


@main.command()
@VAULT
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (default: _site in the vault).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port of the preview server (0: any free port). If the default is busy, the next free one.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve on.")
@click.option("--poll", is_flag=True, help="Poll for changes (for vaults on network or synced folders).")
@TODAY
@click.option("--git/--no-git", default=True, help="Show when each note last changed, from git.")
def watch(vault: Path, out: Path | None, port: int, host: str, poll: bool, today: dt.date | None, git: bool) -> None:
    """Build, serve with live reload, and rebuild what each save touches."""
    from coachgen.dev import watch as watch_mod

    def first_build(builder) -> Result:
        if not stderr().is_terminal:
            return builder.build()
        with progress_bar() as tick:
            return builder.build(progress=tick)

    # A port the coach gave is the one they will open: busy, it is an error. The default may move.
    given = click.get_current_context().get_parameter_source("port") is not click.core.ParameterSource.DEFAULT
    try:
        watch_mod.serve_and_watch(vault, out=out, host=host, port=port, poll=poll, today=today, git=git,
                                  echo=lambda line: click.echo(line, err=True), first_build=first_build,
                                  next_free_port=not given)
    except KeyboardInterrupt:
        click.echo("Stopped.", err=True)


@main.command()
@VAULT
@TODAY
def check(vault: Path, today: dt.date | None) -> None:
    """Report problems and warnings; write nothing."""
    from coachgen.engine import site

    result = site.build(vault, today=today, write=False)
    report(result.problems)
    if result.model is not None:
        stderr().print(protection_table(result))
    errors, warnings = len(result.errors), len(result.problems) - len(result.errors)
    click.echo(f"{errors} error{'s' if errors != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''}",
               err=True)
    sys.exit(1 if errors else 0)


def protection_table(result: Result):
    """Every site and how it is protected: what a coach checks before publishing."""
    from rich.table import Table

    from coachgen.privacy import passwords

    table = Table(title="Protection", title_justify="left", box=None, pad_edge=False)
    table.add_column("site")
    table.add_column("protection")
    assert result.model is not None  # check() shows the table only for a vault that was modelled
    for slug in result.model.slugs:
        found = result.protections.get(slug)
        status = found.status + (f": {found.why}" if found and found.why else "") if found else "no site (private)"
        table.add_row(f"clients/{slug}/", status)
    coach = result.protections.get(passwords.COACH)
    if coach is not None:
        table.add_row("coach/", coach.status + (f": {coach.why}" if coach.why else ""))
    return table


VAULT_OPTION = click.option("--vault", type=click.Path(exists=True, file_okay=False, path_type=Path), default=".",
                            metavar="DIR", help="The vault (default: here).")


def _client(vault: Path, name: str, today: dt.date | None):
    """A client of the vault by slug, folder or name (any case), as the model sees them today."""
    from coachgen.engine import site

    result = site.build(vault, today=today, write=False, git=False)
    if result.model is None:  # the output folder is the vault or holds it (an error in coachgen.toml)
        report(result.errors)
        click.echo("coachgen: error: the vault could not be read (see above)", err=True)
        sys.exit(1)
    for client in result.model.clients:
        if name.casefold() in (client.slug.casefold(), client.folder.casefold(), client.name.casefold()):
            return client, result
    known = ", ".join(c.slug for c in result.model.clients) or "none yet"
    raise click.ClickException(f"no client '{name}' in {vault} (clients: {known})")


@main.command()
@click.argument("folder", default=".", type=click.Path(file_okay=False, path_type=Path))
def init(folder: Path) -> None:
    """Start a vault in FOLDER: settings, clients/, a .gitignore and a short README."""
    from coachgen import scaffold
    from coachgen.privacy import passwords

    try:
        created = scaffold.init(folder)
    except scaffold.Exists as exc:
        raise click.ClickException(str(exc)) from None
    for path in created:
        click.echo(f"created {path}", err=True)
    if _save_new_password(folder, passwords.COACH):
        click.echo(f"saved a password for your overview (coach/) in {folder / paths.SECRETS}; "
                   ".gitignore keeps it out of git", err=True)
    click.echo(f"Next: cd {folder} && git init && coachgen new client \"Ada Lovelace\"", err=True)


def _save_new_password(vault: Path, site: str) -> str | None:
    """Where the vault requires passwords, a new site gets one at once (never replacing one)."""
    from coachgen.privacy import passwords
    from coachgen.vault import config as config_mod

    config, _ = config_mod.load(vault)
    if config.passwords != "required" or passwords.Passwords(vault).get(site):
        return None
    secret = passwords.generate()
    passwords.save(vault, site, secret)
    return secret


@main.group()
def new() -> None:
    """Create a client or a session note (never overwriting a file)."""


@new.command("client")
@click.argument("name")
@VAULT_OPTION
def new_client(name: str, vault: Path) -> None:
    """A client.md for NAME, with commented examples of goals and each kind of metric."""
    from coachgen import scaffold
    from coachgen.slug import slugify

    try:
        path = scaffold.new_client(vault, name, dt.date.today())
    except (scaffold.Exists, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created {path}", err=True)
    if path.parent.name != slugify(name):  # scaffold used the folder the coach had made already
        click.echo(f"clients/{path.parent.name}/ was already there, so the client is in that folder", err=True)
    slug = slugify(path.parent.name)
    secret = _save_new_password(vault, slug)
    if secret:
        click.echo(f"saved a password for clients/{slug}/ in {paths.SECRETS}: {secret}\n"
                   "Send it to them by another channel than the link.", err=True)


@new.command("session")
@click.argument("client")
@click.option("--date", "day", callback=_date, metavar="YYYY-MM-DD", help="The session's date (default: today).")
@VAULT_OPTION
def new_session(client: str, day: dt.date | None, vault: Path) -> None:
    """A session note for CLIENT: open actions to review, a slot for each metric."""
    from coachgen import scaffold

    found, result = _client(vault, client, day)
    try:
        path = scaffold.new_session(vault, found, day or result.model.today)
    except scaffold.Exists as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created {path}", err=True)


@main.command()
@click.argument("client")
@click.option("--since", callback=_date, metavar="YYYY-MM-DD",
              help="Cover every session from this date (default: the latest).")
@click.option("--send", is_flag=True,
              help="Mail it to the client (email: in client.md) through [smtp] in .coachgen/secrets.toml.")
@click.option("--to", "address", help="Send to this address instead of the client's.")
@VAULT_OPTION
@TODAY
def digest(client: str, since: dt.date | None, send: bool, address: str | None, vault: Path,
           today: dt.date | None) -> None:
    """A short follow-up of the latest session: plain text on stdout, HTML beside it in .coachgen/digests/."""
    from coachgen import digest as digest_mod
    from coachgen.vault import config as config_mod

    found, result = _client(vault, client, today)
    config, _ = config_mod.load(vault)
    try:
        made = digest_mod.make(found, config, since, result.model.today)
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None
    folder = vault / paths.STATE_DIR / "digests"
    folder.mkdir(parents=True, exist_ok=True)
    html_path = folder / f"{found.slug}-{result.model.today.isoformat()}.html"
    html_path.write_text(made.html, encoding="utf-8")
    click.echo(f"Subject: {made.subject}\n")
    click.echo(made.text)
    click.echo(f"HTML version: {html_path}", err=True)
    if send:
        try:
            to = digest_mod.recipient(vault, found.folder, address)
            digest_mod.send(made, to, digest_mod.smtp_settings(vault))
        except LookupError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            raise click.ClickException(f"could not send the mail: {exc}") from None
        click.echo(f"Sent to {to}.", err=True)


@main.command()
@click.argument("client")
@VAULT_OPTION
@click.option("--save", is_flag=True,
              help="Also write it to .coachgen/secrets.toml, if that client has no password there yet.")
def password(client: str, vault: Path, save: bool) -> None:
    """Make a strong password for CLIENT's site (a slug, or `coach` for the overview)."""
    from coachgen.privacy import passwords

    secret = passwords.generate()
    site = passwords.COACH if client == "coach" else client
    if save:
        try:
            passwords.save(vault, site, secret)
        except passwords.AlreadySet as exc:
            raise click.ClickException(str(exc)) from None
        who = "Keep it safe" if site == passwords.COACH else f"Send it to {client} by another channel than the link"
        click.echo(f"Saved in {paths.SECRETS}. {who}.", err=True)
    else:
        click.echo(f"Put it in {paths.SECRETS} ([passwords] {client} = \"...\") or in ${passwords.env_name(site)}, "
                   "or run again with --save.", err=True)
    click.echo(secret)


# ---------------------------------------------------------------- check-ins (issue 14)


def _vault_here(given: Path | None) -> Path:
    """`--vault DIR`, else the current folder or the vault that contains it (the nearest
    folder above with a coachgen.toml)."""
    from coachgen.vault.paths import CONFIG_FILE

    if given is not None:
        return given
    here = Path(".")
    for folder in [here.resolve(), *here.resolve().parents]:
        if (folder / CONFIG_FILE).is_file():
            return here if folder == here.resolve() else folder
    return here


def _importer(vault: Path, today: dt.date | None):
    """The check-in importer over the vault's clients, as `coachgen check` models them."""
    from coachgen import checkin
    from coachgen.engine import site
    from coachgen.vault import config as config_mod

    result = site.build(vault, today=today, write=False, git=False)
    if result.model is None:
        report(result.errors)
        click.echo("coachgen: error: the vault could not be read (see above); nothing was imported", err=True)
        sys.exit(1)
    try:
        config, _ = config_mod.load(vault)
        return checkin.Importer(vault, result.model.clients, result.model.today, config)
    except OSError as exc:
        click.echo(f"coachgen: error: {exc}", err=True)
        sys.exit(1)


def _take(vault: Path, today: dt.date | None, messages, failed: list[str]) -> None:
    """Every message into the vault, a warning a line for each one skipped, then the summary;
    exit 1 when something could not be read at all (`failed`: a file, the mailbox)."""
    from coachgen import inbox

    importer = _importer(vault, today)
    summary = inbox.Summary()
    try:
        summary = inbox.take_all(messages, importer, functools.partial(click.echo, err=True))
    except inbox.MailError as exc:
        failed.append(f"coachgen: error: {exc}")
        click.echo(failed[-1], err=True)
    except OSError as exc:  # writing a note, or the record of what was imported
        failed.append(f"coachgen: error: cannot write into the vault: {exc.strerror or exc}"
                      f"{f' ({exc.filename})' if exc.filename else ''}")
        click.echo(failed[-1], err=True)
    if summary.written or summary.skipped or not failed:  # a failure before any message says it all
        click.echo(summary.line(), err=True)
    sys.exit(1 if failed else 0)


CHECKINS_VAULT = click.option("--vault", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
                              metavar="DIR", help="The vault (default: here, or the vault this folder is in).")


@main.group()
def checkins() -> None:
    """Turn the updates clients send from their sites into check-in notes."""


@checkins.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@CHECKINS_VAULT
@TODAY
def checkins_import(files: tuple[Path, ...], vault: Path | None, today: dt.date | None) -> None:
    """Read check-ins from FILES: .eml messages, an mbox file, or a Maildir folder."""
    from coachgen import inbox

    failed: list[str] = []

    def unreadable(line: str) -> None:
        click.echo(line, err=True)
        failed.append(line)

    _take(_vault_here(vault), today, inbox.from_files(list(files), unreadable), failed)


@checkins.command("fetch")
@CHECKINS_VAULT
@TODAY
def checkins_fetch(vault: Path | None, today: dt.date | None) -> None:
    """Read check-ins from your mailbox over IMAP ([imap] in .coachgen/secrets.toml); the
    mailbox is only read: nothing is marked read, moved or deleted."""
    from coachgen import inbox

    folder = _vault_here(vault)
    try:
        settings = inbox.imap_settings(folder)
    except inbox.MailError as exc:
        click.echo(f"coachgen: error: {exc}", err=True)
        sys.exit(1)
    _take(folder, today, inbox.from_imap(settings), [])
