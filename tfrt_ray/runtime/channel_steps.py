"""Steps over channels: a program's lowered schedule run by persistent device loops.

`ChannelSteps` opens, for one program whose devices share the driver's node, a channel
(`device_actors.channels`) per edge of its schedule: one per (step input, device that reads
it), one per (value, device that reads it) between devices, and one per step output to the
driver. Each device gets its `LoopSpec` once and runs it in a loop of its own. Then
`submit` writes a step's inputs into the first channels and returns a future; `result`
reads the last channels. The driver never touches an intermediate, and a step costs no Ray
call. Ray stays for placement, the actors' life and death (a `wait_loop` call per device
is kept in flight: Ray fails it when the actor dies, which readers are told), and data
across nodes (not here yet: see `open_channels`).

Steps run in submission order; futures may be read in any order and from any thread, each
gets its own step's outputs. A full channel blocks `submit` (back-pressure). An op's error
fails its step only: `result` raises it, later steps run.
"""

from __future__ import annotations

import itertools
import os
import threading
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np

from device_actors import channels
from device_actors.device_loop import LoopCall, LoopSpec
from tfrt_ray.errors import (
    ChannelClosedError,
    ChannelTimeoutError,
    DeviceLostError,
    TfrtRayError,
)
from tfrt_ray.runtime.schedule import SliceSchedule

DEPTH = 8  # slots per channel: steps in flight before a writer blocks
CHANNEL_BYTES = 256 << 20  # a channel of large values gets fewer slots (at least 2)


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
    return ChannelSteps(program.schedule[0], program.graph, program.devices,
                        devices[0].arena_dir, depth or DEPTH,
                        bind=_binder(program.bind_inputs, program.input_types))


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
                 bind=None) -> None:
        self._bind = bind  # inputs as users give them -> arrays in graph order
        self._specs: list[channels.ChannelSpec] = []
        # Named after the session's directory, so its shutdown (or a later session's
        # sweep, if this driver died) finds the semaphores: `cluster.shared_memory`.
        self._tag = f"{os.path.basename(directory)}-c{uuid.uuid4().hex[:6]}"
        self._count = itertools.count()
        self.devices = {d: devices[d] for d in dict.fromkeys(c.device_id for c in
                                                              schedule.calls)}
        self.graph = graph
        self._closed = False
        try:
            self._build(schedule, graph, directory, depth)
            self._start(check_every)
        except BaseException:
            self.close()
            raise
        self._write_lock, self._read_lock = threading.Lock(), threading.Lock()
        self._submitted = self._read = 0
        self._results: dict[int, Any] = {}
        self._handed_back: dict[int, list] = {}  # step -> the inputs it returns as outputs
        # A reader holds the slot it read last, so a channel holds depth - 1 unread values:
        # with at most that many steps unread by the driver, no writer waits forever.
        self.max_in_flight = min(spec.depth for spec in self._specs) - 1

    # ---- opening ---------------------------------------------------------------------

    def _channel(self, directory: str, depth: int, nbytes: int) -> int:
        depth = min(depth, max(2, CHANNEL_BYTES // max(nbytes, 1)))
        spec = channels.create(directory, f"{self._tag}-{next(self._count)}", depth,
                               max(nbytes, 256))
        self._specs.append(spec)
        return len(self._specs) - 1

    def _build(self, schedule: SliceSchedule, graph, directory: str, depth: int) -> None:
        def size(v: int) -> int:
            t = graph.types[v]
            static = all(type(d) is int for d in t.shape)
            return int(np.prod(t.shape)) * t.np_dtype.itemsize if static else 1 << 20

        producer = {v: c.device_id for c in schedule.calls for v in c.outputs}
        edge: dict[tuple, int] = {}  # (("in", pos) | value, reader) -> channel
        ins = {d: [] for d in self.devices}  # device -> its input channels (global ids)
        outs = {d: [] for d in self.devices}
        plans = {d: [] for d in self.devices}

        def local(device: str, chans: list, ch: int) -> int:
            chans.append(ch)
            return len(chans) - 1

        self._inputs: list[tuple[int, int]] = []  # (step input position, channel)
        for call in schedule.calls:
            d, args = call.device_id, []
            for v, pos in zip(call.inputs, call.input_positions, strict=True):
                src = "driver" if pos is not None else producer[v]
                if src == d:
                    args.append((False, v))
                    continue
                key = (("in", pos) if pos is not None else v, d)
                if key not in edge:
                    edge[key] = self._channel(directory, depth, size(v))
                    if pos is not None:
                        self._inputs.append((pos, edge[key]))
                    else:
                        self._send(plans, outs, producer[v], v, edge[key])
                chan = edge[key]
                idx = ins[d].index(chan) if chan in ins[d] else local(d, ins[d], chan)
                args.append((True, idx))
            plans[d].append([call.key, tuple(args), call.outputs, []])
        self._outputs: list[tuple[bool, int]] = []  # per graph output: (True, ch) | (False, pos)
        for from_call, ref in schedule.results:
            if not from_call:
                self._outputs.append((False, ref))
                continue
            ch = self._channel(directory, depth, size(ref))
            self._send(plans, outs, producer[ref], ref, ch)
            self._outputs.append((True, ch))
        self._loops = {}
        for d in self.devices:
            tick = None
            if not ins[d]:  # nothing to read: a channel that only says a step began
                ch = self._channel(directory, depth, 256)
                self._inputs.append((-1, ch))
                tick = local(d, ins[d], ch)
            calls = tuple(LoopCall(k, a, o, tuple(s)) for k, a, o, s in plans[d])
            self._loops[d] = LoopSpec(f"{self._tag}-{d}", tuple(self._specs[c] for c in ins[d]),
                                      tuple(self._specs[c] for c in outs[d]), calls, tick)

    def _send(self, plans, outs, device: str, v: int, ch: int) -> None:
        outs[device].append(ch)
        for entry in plans[device]:
            if v in entry[2]:
                entry[3].append((entry[2].index(v), len(outs[device]) - 1))
                return
        raise TfrtRayError(f"value {v} is sent from {device} before any call computes it",
                           device=device, hint="this is a scheduler bug; please report it")

    def _start(self, check_every: float) -> None:
        import ray

        self._ends = {ch: channels.Channel(self._specs[ch], self._alive, check_every)
                      for ch in [c for _, c in self._inputs] + [c for ok, c in self._outputs
                                                                if ok]}
        ray.get([self.devices[d].actor.start_loop.remote(spec)
                 for d, spec in self._loops.items()])
        self._watch = {d: self.devices[d].actor.wait_loop.remote(spec.loop_id)
                       for d, spec in self._loops.items()}

    def _alive(self) -> bool:
        """False once some device's loop ended (its actor died, or its loop failed)."""
        import ray

        ready, _ = ray.wait(list(self._watch.values()), timeout=0)
        return not ready

    # ---- steps -----------------------------------------------------------------------

    def submit(self, inputs: Sequence[np.ndarray], timeout: float | None = None
               ) -> ChannelFuture:
        with self._write_lock:
            if self._closed:
                raise TfrtRayError("these channels are closed", hint="open them again")
            while self._submitted - self._read >= self.max_in_flight:
                self._read_next(timeout)  # back-pressure: the oldest step must finish
            if self._bind is not None:
                inputs = self._bind(inputs)
            for pos, ch in self._inputs:
                self._ends[ch].write(np.asarray(inputs[pos]) if pos >= 0 else np.zeros(()),
                                     timeout)
            self._submitted += 1
            back = [inputs[pos] for ok, pos in self._outputs if not ok]
            if back:
                self._handed_back[self._submitted] = back
            return ChannelFuture(self, self._submitted)

    def run(self, inputs: Sequence[np.ndarray], timeout: float | None = None) -> list:
        return self.submit(inputs, timeout).result(timeout)

    def _read_next(self, timeout: float | None) -> None:
        with self._read_lock:
            self._results[self._read + 1] = self._read_step(timeout)
            self._read += 1

    def _result(self, seq: int, timeout: float | None) -> list[np.ndarray]:
        with self._read_lock:
            while self._read < seq:
                self._results[self._read + 1] = self._read_step(timeout)
                self._read += 1
            outcome = self._results.pop(seq)
            back = iter(self._handed_back.pop(seq, ()))
        if isinstance(outcome, BaseException):
            raise outcome
        return [np.array(next(back)) if v is None else v for v in outcome]

    def _read_step(self, timeout: float | None):
        values, failed = [], None
        for ok, ref in self._outputs:
            if not ok:
                values.append(None)  # an input handed back: filled in by the caller
                continue
            try:
                values.append(self._ends[ref].read(timeout, copy=True))
            except (ChannelTimeoutError, DeviceLostError, ChannelClosedError):
                raise
            except TfrtRayError as err:  # the step's error, read as a value
                failed = failed or err
        return failed if failed is not None else values

    # ---- closing ---------------------------------------------------------------------

    def close(self, timeout: float = 5.0) -> None:
        """Stops the loops (a stop through the channels, then each loop told directly),
        waits for them at most ``timeout`` s, and removes every channel. Never hangs on a
        dead or stuck device."""
        import ray

        if self._closed:
            return
        self._closed = True
        ends = getattr(self, "_ends", {})
        for _, ch in getattr(self, "_inputs", ()):
            try:
                ends[ch].write_stop(timeout=0.5)
            except Exception:  # noqa: BLE001 - a full or dead channel: closed below
                pass
        watch = getattr(self, "_watch", {})
        if watch:
            ray.wait(list(watch.values()), num_returns=len(watch), timeout=timeout)
            for d, spec in self._loops.items():
                try:
                    self.devices[d].actor.stop_loop.remote(spec.loop_id)
                except Exception:  # noqa: BLE001 - a dead actor has no loop to stop
                    pass
        for end in ends.values():
            end.close()
            end.detach()
        for spec in self._specs:
            channels.unlink(spec)

    def __enter__(self) -> ChannelSteps:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
