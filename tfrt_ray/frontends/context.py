"""Where ops go right now: the active tracer, or the current device."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any


class _State(threading.local):
    tracer: Any = None  # the innermost active Tracer
    device: Any = None  # None: the in-process host device; else a remote device handle
    host_eager: bool = True  # no tracer and host device: NumPy fast paths apply

    def refresh(self) -> None:
        self.host_eager = self.tracer is None and self.device is None


state = _State()


@contextlib.contextmanager
def _swapped(field: str, value: Any) -> Iterator[None]:
    saved = getattr(state, field)
    setattr(state, field, value)
    state.refresh()
    try:
        yield
    finally:
        setattr(state, field, saved)
        state.refresh()


def tracing(tracer: Any):
    """Ops in the block are recorded by ``tracer``."""
    return _swapped("tracer", tracer)


def on_device(device: Any):
    """Eager ops in the block run on ``device`` (None: the in-process host)."""
    return _swapped("device", device)
