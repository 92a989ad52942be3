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

from . import crypto
from .config import CONFIG_FILE, STATE_DIR
from .problems import Problem, warning

COACH = "~coach"
"""The coach's overview in maps keyed by client slug (no slug can start with `~`)."""
SECRETS = f"{STATE_DIR}/secrets.toml"
SALTS = f"{STATE_DIR}/salts.json"


def env_name(site: str) -> str:
    if site == COACH:
        return "COACHGEN_COACH_PASSWORD"
    return "COACHGEN_PASSWORD_" + re.sub(r"[^A-Za-z0-9]", "_", site).upper()


class Passwords:
    """Who has a password; the environment wins over the file."""

    def __init__(self, vault: Path):
        self.problems: list[Problem] = []
        self.file: dict[str, str] = {}
        path = vault / SECRETS
        if path.is_file():
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError):
                self.problems.append(warning(SECRETS, 1, "is not valid TOML; its passwords are not used"))
                data = {}
            for slug, value in (data.get("passwords") or {}).items():
                if isinstance(value, str) and value:
                    self.file[slug] = value
            coach = (data.get("coach") or {}).get("password")
            if isinstance(coach, str) and coach:
                self.file[COACH] = coach

    def get(self, site: str) -> str | None:
        return os.environ.get(env_name(site)) or self.file.get(site)


def problems(vault: Path, passwords: Passwords, slugs: list[str]) -> list[Problem]:
    """Warnings for a coach: no overview password, weak or reused passwords, secrets in git."""
    found = list(passwords.problems)
    if passwords.get(COACH) is None:
        found.append(warning(CONFIG_FILE, 1, "the coach's overview has no password: anyone who has coach/ can read it "
                                            f"(set [coach] password in {SECRETS} or COACHGEN_COACH_PASSWORD)"))
    seen: dict[str, str] = {}
    for site in [COACH] + sorted(slugs):
        secret = passwords.get(site)
        if secret is None:
            continue
        name = "the coach's overview" if site == COACH else f"client '{site}'"
        why = crypto.weakness(secret)
        if why:
            found.append(warning(SECRETS, 1, f"the password of {name} is weak ({why}); `coachgen password` makes a strong one"))
        if secret in seen:
            found.append(warning(SECRETS, 1, f"{name} has the same password as {seen[secret]}; give each site its own"))
        seen.setdefault(secret, name)
    if (vault / SECRETS).is_file() and tracked_by_git(vault, SECRETS):
        found.append(warning(SECRETS, 1, "is tracked by git: remove it from the repository (git rm --cached) and keep .coachgen/ ignored"))
    return found


def tracked_by_git(vault: Path, rel: str) -> bool:
    try:
        done = subprocess.run(["git", "ls-files", "--error-unmatch", rel], cwd=vault, capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def locks(vault: Path, passwords: dict[str, str]) -> dict[str, crypto.Lock]:
    """A lock per site with a password; a site's salt is made once and kept, so that a
    rebuild neither logs the client out nor changes unchanged files."""
    if not passwords:
        return {}
    path = vault / SALTS
    salts: dict[str, str] = {}
    if path.is_file():
        try:
            salts = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            salts = {}
    missing = [site for site in passwords if site not in salts]
    if missing:
        for site in missing:
            salts[site] = crypto.b64(crypto.new_salt())
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(salts, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    # PBKDF2 releases the GIL: derive the keys of several sites at once
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        futures = {site: pool.submit(crypto.Lock.derive, site, secret, crypto.unb64(salts[site]))
                   for site, secret in sorted(passwords.items())}
        return {site: future.result() for site, future in futures.items()}


class AlreadySet(Exception):
    """A site already has a password in the secrets file: it is never overwritten."""


def generate() -> str:
    return crypto.generate_password()


def save(vault: Path, site: str, secret: str) -> None:
    """Add a password to `.coachgen/secrets.toml`; an existing one is never replaced."""
    path = vault / SECRETS
    existing = Passwords(vault)
    if site in existing.file:
        raise AlreadySet(f"{SECRETS} already has a password for {'the coach' if site == COACH else site}; edit it by hand to change it")
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    if site == COACH:
        addition = f'\n[coach]\npassword = "{secret}"\n'
    elif re.search(r"^\[passwords\]\s*$", text, re.MULTILINE):
        text = re.sub(r"^\[passwords\]\s*$", lambda m: m.group(0) + f'\n{json.dumps(site)} = "{secret}"', text, count=1, flags=re.MULTILINE)
        addition = ""
    else:
        addition = f'\n[passwords]\n{json.dumps(site)} = "{secret}"\n'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + addition, encoding="utf-8")
    os.chmod(path, 0o600)
