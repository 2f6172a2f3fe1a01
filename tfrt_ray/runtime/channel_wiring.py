"""One incarnation of a program's channels and device loops (`ChannelSteps` holds the
steps; after a device dies it makes a new `Wiring` for the revived devices).

A channel (`device_actors.channels`) per edge of the lowered schedule: one per (step
input, device that reads it), one per (value, device that reads it) between devices, and
one per step output to the driver; each device gets its `LoopSpec` once and runs it in a
loop of its own, and the driver keeps one `wait_loop` call per device in flight, which
Ray fails when the actor dies (how readers learn that their peer is gone).
"""

from __future__ import annotations

import itertools
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

CHANNEL_BYTES = 256 << 20  # a channel of large values gets fewer slots (at least 2)


class Wiring:
    """Channels and running loops for one schedule; `close` it."""

    def __init__(self, schedule: SliceSchedule, graph, devices: dict[str, Any],
                 directory: str, tag: str, depth: int, check_every: float) -> None:
        self._specs: list[channels.ChannelSpec] = []
        self._tag = tag
        self._count = itertools.count()
        self.devices = {d: devices[d] for d in dict.fromkeys(c.device_id for c in
                                                              schedule.calls)}
        self._ends: dict[int, channels.Channel] = {}
        self._watch: dict[str, Any] = {}
        self._closed = False
        try:
            self._build(schedule, graph, directory, depth)
            self._start(check_every)
        except BaseException:
            self.close()
            raise
        # A reader holds the slot it read last, so a channel holds depth - 1 unread values:
        # with at most that many steps unread by the driver, no writer waits forever.
        self.max_in_flight = min(spec.depth for spec in self._specs) - 1
        self.handed_back = [pos for ok, pos in self._outputs if not ok]

    def _channel(self, directory: str, depth: int, nbytes: int) -> int:
        depth = min(depth, max(2, CHANNEL_BYTES // max(nbytes, 1)))
        spec = channels.create(directory, f"{self._tag}-{next(self._count)}", depth,
                               max(nbytes, 256))
        self._specs.append(spec)
        return len(self._specs) - 1

    def _build(self, schedule: SliceSchedule, graph, directory: str, depth: int) -> None:
        def size(v: int) -> int:
            t = graph.types[v]
            return t.nbytes if t.is_static else 1 << 20  # a symbolic shape: 1 MiB slots

        producer = {v: c.device_id for c in schedule.calls for v in c.outputs}
        edge: dict[tuple, int] = {}  # (("in", pos) | value, reader) -> channel
        ins = {d: [] for d in self.devices}  # device -> its input channels (global ids)
        outs = {d: [] for d in self.devices}
        plans = {d: [] for d in self.devices}

        def local(chans: list, ch: int) -> int:
            """``ch``'s index among a device's channels (added on first use)."""
            if ch not in chans:
                chans.append(ch)
            return chans.index(ch)

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
                args.append((True, local(ins[d], edge[key])))
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
                tick = local(ins[d], ch)
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

        self._ends = {ch: channels.Channel(self._specs[ch], self.alive, check_every)
                      for ch in [c for _, c in self._inputs] + [c for ok, c in self._outputs
                                                                if ok]}
        ray.get([self.devices[d].actor.start_loop.remote(spec)
                 for d, spec in self._loops.items()])
        self._watch = {d: self.devices[d].actor.wait_loop.remote(spec.loop_id)
                       for d, spec in self._loops.items()}

    def alive(self) -> bool:
        """False once some device's loop ended (its actor died, or its loop failed)."""
        import ray

        ready, _ = ray.wait(list(self._watch.values()), timeout=0)
        return not ready

    # ---- a step's ends ----------------------------------------------------------------

    def write_inputs(self, inputs: Sequence[np.ndarray], timeout: float | None) -> None:
        for pos, ch in self._inputs:
            self._ends[ch].write(inputs[pos] if pos >= 0 else np.zeros(()), timeout)

    def read_outputs(self, timeout: float | None):
        """The next step's outputs (None where the step hands an input back), or its
        error; a lost device, a deadline or a close raises."""
        values, failed = [], None
        for ok, ref in self._outputs:
            if not ok:
                values.append(None)
                continue
            try:
                values.append(self._ends[ref].read(timeout, copy=True))
            except (ChannelTimeoutError, DeviceLostError, ChannelClosedError):
                raise
            except TfrtRayError as err:  # the step's error, read as a value
                failed = failed or err
        return failed if failed is not None else values

    def close(self, timeout: float = 5.0, graceful: bool = True) -> None:
        """Stops the loops (``graceful``: a stop through the channels after the steps in
        them; else every channel closed at once, as when a device died), waits for them
        at most ``timeout`` s, and removes every channel. Never hangs on a dead or stuck
        device."""
        import ray

        if self._closed:
            return
        self._closed = True
        for _, ch in getattr(self, "_inputs", ()) if graceful else ():
            try:
                self._ends[ch].write_stop(timeout=0.5)
            except Exception:  # noqa: BLE001 - a full or dead channel: closed below
                pass
        if not graceful:
            for end in self._ends.values():
                end.close()  # every loop's wait ends now (ChannelClosedError)
        if self._watch:
            ray.wait(list(self._watch.values()), num_returns=len(self._watch),
                     timeout=timeout)
            for d, spec in self._loops.items():
                try:
                    self.devices[d].actor.stop_loop.remote(spec.loop_id)
                except Exception:  # noqa: BLE001 - a dead actor has no loop to stop
                    pass
        for end in self._ends.values():
            end.close()
            end.detach()
        for spec in self._specs:
            channels.unlink(spec)
