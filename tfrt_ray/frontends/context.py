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
def tracing(tracer: Any) -> Iterator[None]:
    saved = state.tracer
    state.tracer = tracer
    state.refresh()
    try:
        yield
    finally:
        state.tracer = saved
        state.refresh()


@contextlib.contextmanager
def on_device(device: Any) -> Iterator[None]:
    saved = state.device
    state.device = device
    state.refresh()
    try:
        yield
    finally:
        state.device = saved
        state.refresh()
