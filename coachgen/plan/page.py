"""The kinds of page a plan holds: each says how its bytes are made (render.render matches on
them) and what its key covers (keys.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from coachgen.model.clients import Client

CLIENT_SITES = "clients"
"""The output's folder of the clients' sites, one `clients/<slug>/` each."""
COACH_SITE = "coach"
"""The output's folder of the coach's overview."""


def site_folder(path: str) -> str:
    """`clients/<slug>/` or `coach/` (or another top folder): the site an output path lies in."""
    parts = path.split("/")
    return f"{parts[0]}/{parts[1]}/" if parts[0] == CLIENT_SITES and len(parts) > 2 else f"{parts[0]}/"


@dataclass(frozen=True)
class Page:
    """A file of the output. Which kind it is says how it is made (see render.render)."""

    path: str
    """Output path, relative to the output folder, `/`-separated."""
    client: Client | None
    notes: tuple[str, ...] = ()
    """The notes whose content the page shows."""
    sealed: bool = False
    """Encrypted with its client's (or the coach's) password at render time."""
    key: str | None = None
    """A page's own narrower key (see keys.py); None: the key covers all it receives."""
    identity: str | None = None
    """What a page a person may hold a link to shows, whatever its address: its client's
    folder and page kind (and note). An address that showed it once keeps leading to it."""

    @property
    def logical(self) -> str:
        """The path inside its own site (`sessions/2026-01-12/index.html`), as the browser
        names it when it opens the file; the `.enc` of an encrypted attachment left off."""
        site_root = 2 if self.client is not None else 1
        return self.path.split("/", site_root)[site_root].removesuffix(".enc")


@dataclass(frozen=True)
class Rendered(Page):
    """A template's page, with its context."""

    template: str = ""
    context: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Generated(Page):
    """Bytes coachgen makes (data.json, a calendar), made only when the page must be written."""

    make: Callable[..., bytes] = bytes
    args: tuple = ()


@dataclass(frozen=True)
class Copied(Page):
    """A vault file copied as it is (an attachment)."""

    source: str = ""


@dataclass(frozen=True)
class Asset(Page):
    """A file shipped with coachgen (`templates/assets/...`, or `plotly.min.js`)."""

    name: str = ""


@dataclass(frozen=True)
class Redirect(Page):
    """A page that moved: a few words and a link to its new address (see addresses.py)."""

    target: str = ""
    data: bytes = b""


@dataclass(frozen=True)
class Recorded(Page):
    """A rendered or generated page known only by the last build's record of its path and
    key (see site.py): it can be kept as the output holds it, but not made."""
