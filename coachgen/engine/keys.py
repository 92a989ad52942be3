"""Dependency keys: one digest of everything a page is made from. While a page's key is the
one the output's manifest holds for it (and the file is as written), the page is neither
rendered nor written again.

By default a page's key covers everything it receives: a template page's whole context, a
generated file's function and arguments. Nothing a template reads can be left out of its
key, so no edit can leave a stale page. A page may instead bring a narrower key of its own
(a session page names what it shows of its client); each such key is an optimisation that
the incremental-equals-clean property tests in tests/test_watch.py hold to account.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
from dataclasses import fields, is_dataclass, replace
from typing import Any, Callable, Collection, Hashable, Iterator, TypeVar

import coachgen
from coachgen import i18n
from coachgen.model import clients as model
from coachgen.plan.page import Copied, Generated, Page, Redirect, Rendered
from coachgen.vault.config import Config
from coachgen.vault.files import Stamp

PLAIN = (str, int, float, bool, type(None), bytes, dt.date, dt.time)
CONTAINERS = (model.Model, model.Client)
PLACES = ("vault", "output")
T = TypeVar("T")


class Plain(dict):
    """A dict of plain data only (strings, numbers, lists and dicts of them), such as a chart's
    figure: its key is its repr, written at C speed, rather than a walk over every value."""


def digest(*parts: object) -> str:
    """A digest of plain values and model objects: frozen dataclasses, dates, strings and
    numbers all have a deterministic repr."""
    return hashlib.sha256(repr(parts).encode("utf-8", "surrogatepass")).hexdigest()


class Keys:
    """Digests of what pages receive, with a memo per model object: a client shown on forty
    pages (and on the overview) is hashed once, and while watching, a client whose notes did
    not change is the very same object and is not hashed again.

    Each site's plan is a scope (`scoped`): when a site is planned again, what its last plan
    hashed and did not hash now is forgotten, and the memo of a site that was not planned
    again is kept, so that the unchanged sessions of the next client saved are found in it."""

    def __init__(self) -> None:
        self._memo: dict[int, tuple[object, str]] = {}
        self._views: dict[tuple, tuple[object, Any]] = {}
        self._scope = ""
        self._held: dict[str, tuple[set[int], set[tuple]]] = {}
        """What each scope's last plan used: memo entries (by id) and views (by slot)."""
        self._using: dict[str, tuple[set[int], set[tuple]]] = {}

    @contextlib.contextmanager
    def scoped(self, name: str) -> Iterator[None]:
        """Key (and make views) for one site's plan."""
        outer, self._scope = self._scope, name
        try:
            yield
        finally:
            self._scope = outer

    def of(self, *parts: object) -> str:
        return hashlib.sha256(self._text(parts).encode("utf-8", "surrogatepass")).hexdigest()

    def keyed(self, page: Page) -> Page:
        """The page with its key: its own narrower one, else one over all it receives."""
        match page:
            case Rendered(key=None, template=template, context=context):
                return replace(page, key=self.of("rendered", template, context))
            case Generated(key=None, make=make, args=args):
                return replace(page, key=self.of("generated", f"{make.__module__}.{make.__qualname__}", args))
            case Redirect(key=None, target=target, data=data):
                return replace(page, key=digest("redirect", target, data))
        return page

    def view(self, make: Callable[..., T], source: object, *args: Hashable) -> T:
        """`make(source, *args)`, made again only when `source` is another object or `args`
        differ: a page's view of an unchanged client stays the very same object, so that
        hashing it is a look-up in the memo."""
        slot = (make, id(source), args)
        known = self._views.get(slot)
        if known is None or known[0] is not source:
            known = self._views[slot] = (source, make(source, *args))
        self._use()[1].add(slot)
        return known[1]

    def seed(self, make: Callable[..., tuple], source: object, args: tuple, value: tuple,
             digests: tuple[str | None, ...]) -> None:
        """What `view(make, source, *args)` gives, and the digests of its parts: made by an
        earlier process (the build cache keeps them) of the very client `source` is."""
        slot = (make, id(source), args)
        known = self._views.get(slot)
        if known is None or known[0] is not source:
            self._views[slot] = (source, value)
            for part, text in zip(value, digests, strict=True):
                if text is not None:
                    self._memo[id(part)] = (part, text)

    def made(self, make: Callable[..., tuple], source: object, args: tuple) -> tuple[tuple | None, tuple]:
        """The view `view(make, source, *args)` last gave (None if none), and the digests of
        its parts (None where a part was not hashed)."""
        known = self._views.get((make, id(source), args))
        if known is None or known[0] is not source:
            return None, ()
        return known[1], tuple(self._memo[id(part)][1] if self._memo.get(id(part), (None,))[0] is part else None
                               for part in known[1])

    def settle(self, live: Collection[str]) -> None:
        """After a plan: forget what the scopes planned again used last time and not now, and
        the scopes no longer `live` (a site gone)."""
        for scope in [s for s in self._held if s not in live]:
            self._using.setdefault(scope, (set(), set()))
        for scope, (ids, slots) in self._using.items():
            old_ids, old_slots = self._held.pop(scope, (set(), set()))
            for gone in old_ids - ids:
                self._memo.pop(gone, None)
            for gone_slot in old_slots - slots:
                self._views.pop(gone_slot, None)
            if scope in live:
                self._held[scope] = (ids, slots)
        self._using = {}

    def _use(self) -> tuple[set[int], set[tuple]]:
        used = self._using.get(self._scope)
        if used is None:
            used = self._using[self._scope] = (set(), set())
        return used

    def _text(self, value: object) -> str:
        if isinstance(value, PLAIN):
            return repr(value)
        if isinstance(value, tuple) and hasattr(value, "_fields"):  # a named tuple: plain values only
            if all(isinstance(v, PLAIN) for v in value):  # an overdue action: cheaper to write than to look up
                return type(value).__name__ + tuple.__repr__(value)
            return self._object(value)  # a view, made once per client: its repr, looked up while it lives
        if isinstance(value, (list, tuple)):
            if all(isinstance(v, PLAIN) for v in value):  # a chart's numbers and dates: at C speed
                return repr(list(value))
            return "[" + ",".join(self._text(v) for v in value) + "]"
        if isinstance(value, Plain):
            return _stable(repr(value), value)
        if isinstance(value, dict):
            return "{" + ",".join(f"{self._text(k)}:{self._text(v)}" for k, v in value.items()) + "}"
        if isinstance(value, i18n.Language):  # its words are in the templates' key (i18n.digest)
            return f"Language({value.code!r})"
        if isinstance(value, Config):  # where the vault and the output are shows on no page
            return self._text([(f.name, getattr(value, f.name)) for f in fields(value) if f.name not in PLACES])
        if is_dataclass(value) and not isinstance(value, type):
            return self._object(value)
        return _stable(repr(value), value)

    def _object(self, value: object) -> str:
        known = self._memo.get(id(value))
        if known is None or known[0] is not value:
            if isinstance(value, CONTAINERS):  # field by field, so that each client and session is hashed once
                text = self._text([type(value).__name__] + [getattr(value, f.name) for f in fields(value)])
            else:
                text = _stable(repr(value), value)
            known = self._memo[id(value)] = (value, hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest())
        self._use()[0].add(id(value))
        return known[1]


def _stable(text: str, value: object) -> str:
    if " at 0x" in text:  # an address changes from run to run: such a key would never match
        raise TypeError(f"a page receives {type(value).__name__}, which has no stable key")
    return text


def final(page: Page, templates: str, seal: str, files: dict[str, Stamp]) -> str | None:
    """The key the manifest keeps: the page's own, with what every page depends on (coachgen,
    its templates and catalogues, the site's lock); a copied file's is its stamp. None: the
    page is always made (and written only if its bytes changed)."""
    own = digest("file", page.source, files.get(page.source)) if isinstance(page, Copied) else page.key
    if own is None:
        return None
    sealed = seal if page.sealed else ""
    return hashlib.sha256(f"{coachgen.code_digest()}\0{templates}\0{sealed}\0{page.path}\0{own}".encode()).hexdigest()
