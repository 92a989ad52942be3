"""Passwords (from `.coachgen/secrets.toml` or the environment, never from notes) and the
per-client salts kept under `.coachgen/`, turned into the locks that seal a site."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from coachgen.privacy import crypto
from coachgen.problems import Problem, error, warning
from coachgen.vault.paths import CONFIG_FILE, SECRETS, STATE_DIR

COACH = "~coach"
"""The coach's overview in maps keyed by client slug (no slug can start with `~`)."""
SALTS = f"{STATE_DIR}/salts.json"
NAMES = f"{STATE_DIR}/names.json"
ENV_PREFIX = "COACHGEN_PASSWORD_"


def env_name(site: str) -> str:
    if site == COACH:
        return "COACHGEN_COACH_PASSWORD"
    return ENV_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", site).upper()


class Passwords:
    """Who has a password; the environment wins over the file."""

    def __init__(self, vault: Path):
        self.problems: list[Problem] = []
        self.file: dict[str, str] = {}
        self.lines: dict[str, int] = {}
        """The line of each `[passwords]` key in the secrets file."""
        self.unreadable = False
        """The secrets file exists but cannot be read: which sites it protects is unknown."""
        path = vault / SECRETS
        if path.is_file():
            try:
                text = path.read_text(encoding="utf-8")
                data = tomllib.loads(text)
            except (tomllib.TOMLDecodeError, UnicodeDecodeError):
                self.problems.append(error(SECRETS, 1, "is not valid TOML, so no site it may protect is published "
                                                       "in plain text until it is fixed"))
                self.unreadable = True
                text, data = "", {}
            lines = text.splitlines()
            table = data.get("passwords") or {}
            if not isinstance(table, dict):
                self.problems.append(error(SECRETS, 1, "[passwords] must be a table of client slugs to passwords"))
                self.unreadable, table = True, {}
            for slug, value in table.items():
                self.lines[slug] = _line_of_key(lines, slug)
                if isinstance(value, str) and value:
                    self.file[slug] = value
                else:
                    self.problems.append(error(SECRETS, self.lines[slug],
                                               "a password must be non-empty text in quotes"))
                    self.unreadable = True
            coach = (data.get("coach") or {}).get("password") if isinstance(data.get("coach"), dict) else None
            if isinstance(coach, str) and coach:
                self.file[COACH] = coach

    def get(self, site: str) -> str | None:
        return os.environ.get(env_name(site)) or self.file.get(site)

    def unknown(self, slugs) -> list[Problem]:
        """A password that names no client is an error: it was meant for someone, and
        whoever that is would otherwise be published in plain text."""
        slugs = set(slugs)
        found = []
        for key in sorted(set(self.file) - slugs - {COACH}):
            found.append(error(SECRETS, self.lines.get(key, 1),
                               f"[passwords] key {json.dumps(key)} names no client{_did_you_mean(key, slugs)}; "
                               "keys are client slugs exactly as written (the folder name under clients/, "
                               "lower-case, or the 'slug:' in client.md)"))
        names = {env_name(slug): slug for slug in slugs}
        for var in sorted(os.environ):
            if var.startswith(ENV_PREFIX) and var not in names and os.environ[var]:
                meant = var.removeprefix(ENV_PREFIX).lower().replace("_", "-")
                found.append(error(CONFIG_FILE, 1, f"the environment variable {var} names no client"
                                                   f"{_did_you_mean(meant, slugs)}"))
        return found


def _line_of_key(lines: list[str], key: str) -> int:
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith((key, json.dumps(key), f"'{key}'")) and "=" in stripped:
            return i + 1
    return 1


def _did_you_mean(key: str, slugs: set[str]) -> str:
    from difflib import get_close_matches

    from coachgen.slug import slugify

    close = [s for s in slugs if slugify(key) == s] or get_close_matches(key.lower(), sorted(slugs), n=1, cutoff=0.6)
    return f" (did you mean {json.dumps(close[0])}?)" if close else ""


def problems(vault: Path, passwords: Passwords, slugs: list[str]) -> list[Problem]:
    """Warnings for a coach: weak or reused passwords, secrets in git."""
    found = list(passwords.problems)
    seen: dict[str, str] = {}
    for site in [COACH] + sorted(slugs):
        secret = passwords.get(site)
        if secret is None:
            continue
        name = "the coach's overview" if site == COACH else f"client '{site}'"
        why = crypto.weakness(secret)
        if why:
            found.append(warning(SECRETS, 1, f"the password of {name} is weak ({why}); "
                                             "`coachgen password` makes a strong one"))
        if secret in seen:
            found.append(warning(SECRETS, 1, f"{name} has the same password as {seen[secret]}; give each site its own"))
        seen.setdefault(secret, name)
    if (vault / SECRETS).is_file() and tracked_by_git(vault, SECRETS):
        found.append(warning(SECRETS, 1, "is tracked by git: remove it from the repository (git rm --cached) "
                                         "and keep .coachgen/ ignored"))
    return found


def tracked_by_git(vault: Path, rel: str) -> bool:
    try:
        done = subprocess.run(["git", "ls-files", "--error-unmatch", rel], cwd=vault, capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def locks(vault: Path, passwords: dict[str, str],
          derived: dict[tuple[str, str, str], crypto.Lock] | None = None) -> dict[str, crypto.Lock]:
    """A lock per site with a password; a site's salt is made once and kept, so that a
    rebuild neither logs the client out nor changes unchanged files. `derived` (kept in
    memory only, by a watcher) holds locks already derived: PBKDF2 is slow on purpose, and
    a save need not pay for it again while a site's password and salt stay the same."""
    if not passwords:
        return {}
    salts = per_site(vault / SALTS, passwords, lambda: crypto.b64(crypto.new_salt()), save=True)
    derived = {} if derived is None else derived
    wanted = {site: (site, secret, salts[site]) for site, secret in sorted(passwords.items())}
    # PBKDF2 releases the GIL: derive the keys of several sites at once
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        futures = {key: pool.submit(crypto.Lock.derive, key[0], key[1], crypto.unb64(key[2]))
                   for key in wanted.values() if key not in derived}
        derived.update({key: future.result() for key, future in futures.items()})
    return {site: derived[key] for site, key in wanted.items()}


def naming_keys(vault: Path, sites, create: bool) -> dict[str, bytes]:
    """A random secret per protected site, kept under `.coachgen/` and never published: it
    names the site's encrypted attachments, so that a name confirms no guess of a file's
    path. Without `create` (a check, which writes nothing) a missing one is made up."""
    keys = per_site(vault / NAMES, sites, lambda: crypto.b64(os.urandom(32)), save=create)
    return {site: crypto.unb64(keys[site]) for site in sites}


def per_site(path: Path, sites, make, save: bool) -> dict[str, str]:
    """A JSON file of one random value per site under `.coachgen/`: read, completed with
    `make()` for the sites it lacks, and (with `save`) written back, readable by its owner only."""
    values: dict[str, str] = {}
    if path.is_file():
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            values = {}
    missing = [site for site in sites if site not in values]
    for site in missing:
        values[site] = make()
    if missing and save:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(values, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    return values


class AlreadySet(Exception):
    """A site already has a password in the secrets file: it is never overwritten."""


def generate() -> str:
    return crypto.generate_password()


def save(vault: Path, site: str, secret: str) -> None:
    """Add a password to `.coachgen/secrets.toml`; an existing one is never replaced."""
    path = vault / SECRETS
    existing = Passwords(vault)
    if site in existing.file:
        raise AlreadySet(f"{SECRETS} already has a password for {'the coach' if site == COACH else site}; "
                         "edit it by hand to change it")
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    if site == COACH:
        addition = f'\n[coach]\npassword = "{secret}"\n'
    elif re.search(r"^\[passwords\]\s*$", text, re.MULTILINE):
        entry = f'\n{json.dumps(site)} = "{secret}"'
        text = re.sub(r"^\[passwords\]\s*$", lambda m: m.group(0) + entry, text, count=1, flags=re.MULTILINE)
        addition = ""
    else:
        addition = f'\n[passwords]\n{json.dumps(site)} = "{secret}"\n'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + addition, encoding="utf-8")
    os.chmod(path, 0o600)
