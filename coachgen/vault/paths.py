"""The vault's path rules, in one place: where the clients and their profiles are, the shared
attachments, the coach's template overrides and catalogues, and coachgen's own records. Every
path is vault-relative and `/`-separated."""

from __future__ import annotations

CLIENTS_DIR = "clients"
PROFILE = "client.md"
"""Each client's profile, at the top of its folder: `clients/<folder>/client.md`."""
ATTACHMENTS_DIR = "attachments"
"""Files every client's notes may embed."""
OVERRIDES_DIR = "templates"
"""The coach's own versions of coachgen's templates."""
LOCALES_DIR = "locales"
"""The coach's own catalogues: `locales/<code>.po`."""
CONFIG_FILE = "coachgen.toml"
STATE_DIR = ".coachgen"
"""coachgen's own records: caches, salts, the output's manifest. Never published."""
SECRETS = f"{STATE_DIR}/secrets.toml"
"""The coach's passwords, among coachgen's records."""


def client_folder(path: str) -> str | None:
    """`clients/<folder>/...` -> folder (for files below a client folder), else None."""
    parts = path.split("/")
    return parts[1] if len(parts) >= 3 and parts[0] == CLIENTS_DIR else None


def client_dir(folder: str) -> str:
    """The path of a client's folder."""
    return f"{CLIENTS_DIR}/{folder}"


def profile(folder: str) -> str:
    """The path of a client's `client.md`."""
    return f"{CLIENTS_DIR}/{folder}/{PROFILE}"


def is_profile(path: str) -> bool:
    """Whether `path` is a client's `client.md` (not one deeper in its folder)."""
    folder = client_folder(path)
    return folder is not None and path == profile(folder)
