"""Both cores for the heavy stages (parsing, rendering): a fork pool over chunks of work,
used only where it pays (enough items) and where forking is safe (no other threads)."""

from __future__ import annotations

import multiprocessing
import os
import threading
from typing import Any, Callable, Sequence, TypeVar

T = TypeVar("T")
R = TypeVar("R")

MIN_ITEMS = 128
_shared: Any = None


def shared() -> Any:
    """What the caller of `map` handed to the workers (inherited by fork, never pickled)."""
    return _shared


def workers() -> int:
    """The cores this process may use, or COACHGEN_WORKERS (1 builds in this process alone)."""
    if os.environ.get("COACHGEN_WORKERS", "").isdigit():
        return max(1, int(os.environ["COACHGEN_WORKERS"]))
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def map(func: Callable[[T], R], items: Sequence[T], context: object = None,
        progress: Callable[[int], None] | None = None) -> list[R]:
    """`[func(x) for x in items]`, in worker processes when that is worth it and safe.
    Results come back in order, so the output does not depend on how work was split;
    `progress(n)` hears of each result as it arrives."""
    global _shared
    _shared = context
    try:
        n = workers()
        if (len(items) < MIN_ITEMS or n < 2 or threading.active_count() > 1
                or "fork" not in multiprocessing.get_all_start_methods()):
            results = (func(x) for x in items)
            return _collect(results, progress)
        with multiprocessing.get_context("fork").Pool(n) as pool:
            return _collect(pool.imap(func, items, chunksize=max(1, len(items) // (n * 16))), progress)
    finally:
        _shared = None


def _collect(results, progress) -> list:
    out = []
    for result in results:
        out.append(result)
        if progress:
            progress(len(out))
    return out
