"""build(): read, parse, model, plan, render, then write what changed and prune what is gone."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import config as config_mod
from . import model as model_mod
from . import pages as pages_mod
from . import passwords as passwords_mod
from . import output, privacy, render, vault
from .parse import Note, parse_note
from .problems import Problem, error

@dataclass
class Result:
    problems: list[Problem]
    model: model_mod.Model | None = None
    planned: int = 0
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

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
) -> Result:
    """Build every client's site (or, with `write=False`, only report problems)."""
    config, problems = config_mod.load(vault_dir, out)
    out_dir = config.out_dir
    if out_dir == config.vault or config.vault.is_relative_to(out_dir):
        problems.append(error(config_mod.CONFIG_FILE, 1, "the output folder must not be the vault or contain it"))
        return Result(sorted(problems))
    listing = vault.scan(config.vault, out_dir)
    notes = parse_all(config, listing)
    for note in notes.values():
        problems += note.problems
    passwords = passwords_mod.Passwords(config.vault)
    model = model_mod.build(notes, today or today_in(config.zone), dated_ids=lambda slug: passwords.get(slug) is not None)
    problems += model.problems
    problems += passwords_mod.problems(config.vault, passwords, [c.slug for c in model.clients])
    secrets = {site: passwords.get(site) for site in [c.slug for c in model.clients] + [passwords_mod.COACH]}
    secrets = {site: secret for site, secret in secrets.items() if secret}
    coach_locked = passwords_mod.COACH in secrets
    plan = pages_mod.plan(model, config, set(listing.files), set(secrets) - {passwords_mod.COACH}, coach_locked)
    privacy.check_plan(plan)
    result = Result(sorted(set(problems)), model, len(plan))
    if write:
        locks = passwords_mod.locks(config.vault, secrets)
        env = render.environment(config.vault / vault.OVERRIDES_DIR)
        _write(plan, env, config.vault, out_dir, result, progress, locks)
    return result


def parse_all(config: config_mod.Config, listing: vault.Listing) -> dict[str, Note]:
    notes: dict[str, Note] = {}
    for path in listing.notes:
        folder = model_mod.client_folder(path)
        try:
            data = vault.read_bytes(config.vault, path)
        except OSError as exc:
            notes[path] = Note(path, (error(path, 1, f"cannot be read: {exc.strerror}"),), ok=False)
            continue
        note = parse_note(
            path,
            data,
            is_client=folder is not None and path == f"{model_mod.CLIENTS_DIR}/{folder}/client.md",
            in_client_folder=folder is not None,
            allow_html=config.allow_html,
        )
        if note is not None:
            notes[path] = note
    return notes


# ---------------------------------------------------------------- writing


def _write(plan, env, vault_dir: Path, out_dir: Path, result: Result, progress, locks) -> None:
    """Render what changed into staging, then move it into place and prune (see output.py)."""
    with output.build_lock(vault_dir), output.Output(vault_dir, out_dir) as out:
        for i, page in enumerate(plan):
            if page.asset is not None and not page.sealed:
                source = render.asset_path(page.asset)
                st = source.stat()
                changed = out.copy(page.path, source, f"{source}:{st.st_mtime_ns}:{st.st_size}")
            else:
                lock = locks.get(page.client.slug if page.client else passwords_mod.COACH)
                changed = out.put(page.path, render.render(page, env, vault_dir, lock))
            if changed:
                result.written.append(page.path)
            if progress:
                progress(i + 1, len(plan))
        result.removed = out.commit({p.path for p in plan})
