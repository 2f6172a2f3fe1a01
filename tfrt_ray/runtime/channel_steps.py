"""Steps over channels: a program's lowered schedule run by persistent device loops.

`Program.open_channels` gives a `ChannelSteps`: its devices (actors on the driver's node)
each run their part of the schedule in a loop of their own, wired together by
shared-memory channels (`channel_wiring.Wiring`). `submit` writes a step's inputs into the
first channels and returns a future; `result` reads the last channels. The driver never
touches an intermediate, and a step costs no Ray call. Ray stays for placement, the
actors' life and death, and data across nodes (not here yet).

Steps run in submission order; futures may be read in any order and from any thread, and
each gets its own step's outputs. At most ``max_in_flight`` steps are unread: past that,
`submit` reads the oldest first (back-pressure that never deadlocks). An op's error fails
its step only. When a device dies, the step being read raises `DeviceLostError` inside;
the program replaces the dead device (as `Program.submit` does: `Program._recover`), new
channels and loops are wired, and every unread step is written again, in order, from the
copy of its inputs kept until it is read: each step is delivered exactly once, with the
fault-free values.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tfrt_ray.errors import ChannelClosedError, DeviceLostError, TfrtRayError
from tfrt_ray.runtime.channel_wiring import Wiring
from tfrt_ray.runtime.schedule import SliceSchedule
from tfrt_ray.runtime.step import cancelled_error

log = logging.getLogger("tfrt_ray")

DEPTH = 8  # slots per channel: steps in flight before a writer blocks
MAX_RECOVERIES = 3  # in a row for one step, before its error reaches the caller


def open_channels(program, depth: int | None = None) -> ChannelSteps:
    """`ChannelSteps` for ``program`` (`Program.open_channels`), or a `TfrtRayError` that
    says why it cannot have them here."""
    if len(program.schedule) != 1:
        raise TfrtRayError(
            f"this program runs {len(program.schedule)} slices a step (micro-batches or "
            "replicas); channels run one",
            hint="compile it with strategy='place', or 'pipeline' with micro_batches=1")
    devices = [program.devices[c.device_id] for c in program.schedule[0].calls]
    far = [d.device_id for d in devices if not getattr(d, "near_host", False)]
    if far:
        raise TfrtRayError(
            f"devices {sorted(set(far))} are not device actors on the driver's node with "
            "shared memory; channels between nodes are not built yet",
            device=far[0], hint="use Program.submit (Ray's transport) for this program")

    def revive() -> tuple[SliceSchedule, dict]:
        program._recover(program.epoch)  # replaces dead devices, lowers the plan again
        return program.schedule[0], program.devices

    return ChannelSteps(program.schedule[0], program.graph, program.devices,
                        devices[0].arena_dir, depth or DEPTH,
                        bind=_binder(program.bind_inputs, program.input_types),
                        revive=revive)


def _binder(bind, input_types):
    """``bind``, skipped for a list of arrays of exactly the static types expected (the
    common case, 20 us a step otherwise)."""
    want = [(t.np_dtype, tuple(t.shape)) for t in input_types]
    if not all(all(type(d) is int for d in shape) for _, shape in want):
        return bind

    def fast(inputs):
        if type(inputs) in (list, tuple) and len(inputs) == len(want) and all(
                type(a) is np.ndarray and a.dtype == dt and a.shape == shape
                for a, (dt, shape) in zip(inputs, want)):
            return inputs
        return bind(inputs)

    return fast


class ChannelFuture:
    """One step's outputs, once its channels have them."""

    __slots__ = ("_steps", "seq")

    def __init__(self, steps: ChannelSteps, seq: int) -> None:
        self._steps, self.seq = steps, seq

    def result(self, timeout: float | None = None) -> list[np.ndarray]:
        return self._steps._result(self.seq, timeout)


class ChannelSteps:
    """A program's steps over channels (see the module doc). Close it (or use ``with``)."""

    def __init__(self, schedule: SliceSchedule, graph, devices: dict[str, Any],
                 directory: str, depth: int = DEPTH, check_every: float = 1.0,
                 bind: Callable | None = None,
                 revive: Callable[[], tuple[SliceSchedule, dict]] | None = None) -> None:
        self._bind = bind  # inputs as users give them -> arrays in graph order
        self._revive = revive  # replaces dead devices: the new schedule and devices
        # Named after the session's directory, so its shutdown (or a later session's
        # sweep, if this driver died) finds the semaphores: `cluster.shared_memory`.
        self._tag = f"{os.path.basename(directory)}-c{uuid.uuid4().hex[:6]}"
        self._wire = dict(graph=graph, directory=directory, depth=depth,
                          check_every=check_every)
        self._epoch = 0
        self.recoveries = 0
        self._wiring = Wiring(schedule, devices=devices, tag=f"{self._tag}e0", **self._wire)
        self.max_in_flight = self._wiring.max_in_flight
        self._write_lock, self._read_lock = threading.Lock(), threading.Lock()
        self._wiring_lock = threading.RLock()  # input writes and rewiring, one at a time
        self._submitted = self._read = 0
        self._results: dict[int, Any] = {}
        self._inputs: dict[int, list] = {}  # unread step -> its inputs (our own copies)
        self._cancelled: set[int] = set()
        self._closed = False

    # ---- steps -----------------------------------------------------------------------

    def submit(self, inputs: Sequence[np.ndarray], timeout: float | None = None
               ) -> ChannelFuture:
        with self._write_lock:
            if self._closed:
                raise TfrtRayError("these channels are closed", hint="open them again")
            arrays = self._bind(inputs) if self._bind is not None else inputs
            arrays = [np.array(a) for a in arrays]  # the caller may reuse its arrays
            while self._submitted - self._read >= self.max_in_flight:
                self._read_next(timeout)  # back-pressure: the oldest step must finish
            seq = self._submitted + 1
            for attempt in range(MAX_RECOVERIES + 1):
                with self._wiring_lock:  # not while a rewiring writes the unread steps again
                    epoch = self._epoch
                    try:
                        self._wiring.write_inputs(arrays, timeout)
                    except (DeviceLostError, ChannelClosedError) as err:
                        failure = err
                    else:
                        self._inputs[seq] = arrays
                        self._submitted = seq
                        return ChannelFuture(self, seq)
                self._recover(epoch, failure, attempt)
            raise AssertionError("unreachable")

    def run(self, inputs: Sequence[np.ndarray], timeout: float | None = None) -> list:
        return self.submit(inputs, timeout).result(timeout)

    def _read_next(self, timeout: float | None) -> None:
        with self._read_lock:
            self._read_one(timeout)

    def cancel(self) -> int:
        """Turns every unread step into `CancelledError` at once (reading it raises); the
        loops still finish those steps, whose outputs are read and dropped in turn, so
        the channels stay in step. Returns how many it cancelled."""
        with self._write_lock:
            unread = [seq for seq in range(self._read + 1, self._submitted + 1)
                      if seq not in self._cancelled]
            self._cancelled.update(unread)
        return len(unread)

    def _result(self, seq: int, timeout: float | None) -> list[np.ndarray]:
        if seq in self._cancelled:
            with self._read_lock:
                self._results.pop(seq, None)
            raise cancelled_error()
        with self._read_lock:
            while self._read < seq:
                self._read_one(timeout)
            outcome = self._results.pop(seq)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def _read_one(self, timeout: float | None) -> None:
        """Reads the oldest unread step (holding the read lock), rewiring as devices die."""
        seq = self._read + 1
        for attempt in range(MAX_RECOVERIES + 1):
            epoch = self._epoch
            try:
                outcome = self._wiring.read_outputs(timeout)
                break
            except (DeviceLostError, ChannelClosedError) as err:
                if self._closed:
                    raise
                self._recover(epoch, err, attempt)
        if not isinstance(outcome, BaseException):
            back = iter(self._inputs[seq][pos] for pos in self._wiring.handed_back)
            outcome = [next(back) if v is None else v for v in outcome]
        if seq not in self._cancelled:
            self._results[seq] = outcome
        del self._inputs[seq]
        self._read = seq

    # ---- recovery --------------------------------------------------------------------

    def _recover(self, epoch: int, err: TfrtRayError, attempt: int) -> None:
        """New devices and channels for those of ``epoch`` (unless already made), and the
        unread steps written again, in order. Raises ``err`` when it cannot."""
        with self._wiring_lock:
            if epoch != self._epoch:
                return  # another thread rewired since
            if self._revive is None or attempt >= MAX_RECOVERIES or self._closed:
                raise err
            log.warning("a device of a program's channels was lost (%s); rewiring",
                        err.message)
            self._wiring.close(timeout=5.0, graceful=False)
            schedule, devices = self._revive()
            self._epoch += 1
            self.recoveries += 1
            self._wiring = Wiring(schedule, devices=devices, tag=f"{self._tag}e{self._epoch}",
                                  **self._wire)
            for seq in range(self._read + 1, self._submitted + 1):
                self._wiring.write_inputs(self._inputs[seq], None)

    # ---- closing ---------------------------------------------------------------------

    def close(self, timeout: float = 5.0) -> None:
        """Stops the loops and removes every channel, within about ``timeout`` s, also
        when a device is dead or stuck."""
        self._closed = True
        with self._wiring_lock:
            self._wiring.close(timeout)

    def __enter__(self) -> ChannelSteps:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
