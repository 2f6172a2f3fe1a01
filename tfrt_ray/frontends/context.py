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


@contextlib.contextmanager
def device(device_id: str) -> Iterator[None]:
    """Runs the eager ops in the block on ``device_id`` (``"cpu:2"``, ``"host:0"``)."""
    from tfrt_ray.cluster.session import HOST_ID, current
    from tfrt_ray.errors import DeviceError

    session = current()
    if device_id in ("host", HOST_ID):
        with on_device(None):
            yield
        return
    handle = session.devices.get(device_id)
    if handle is None:
        raise DeviceError(
            f"unknown device '{device_id}'",
            hint=f"the devices are {sorted(session.devices)}; start more with tr.init(devices=N)",
        )
    with on_device(handle):
        yield
