"""`gc_paused`: the cyclic garbage collector off while a pass builds many small objects.

Placing a million-node graph allocates millions of lists and tuples; with the collector on,
each allocation burst sets off collections that walk every live object (the graph itself),
which doubles the run time. None of these passes makes reference cycles, so pausing it loses
nothing; the previous state is restored on exit (nesting is fine).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import TypeVar

F = TypeVar("F", bound=Callable)


@contextmanager
def gc_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def without_gc(fn: F) -> F:
    """Decorator: run ``fn`` inside `gc_paused`."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        with gc_paused():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
