"""A device's persistent loop: its part of a program's lowered schedule, run step after
step over channels (`device_actors.channels`) without a Ray call per stage.

The driver hands each device a `LoopSpec` once, when the program opens its channels. The
loop then reads each step's inputs from its channels (blocking: an idle loop sleeps),
runs its stage calls in schedule order, and writes what other devices or the driver read
into their channels: a large output straight from its kernel into the channel's slot where
the kernel can, a resident tensor (a weight handed out) by the name of its shared-memory
block. A call whose input is an error does not run: it passes the error on
to its readers, so only a failed op's dependents fail and the steps after it run. A stop
read on any input channel is passed on to every output channel, and the loop ends.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from device_actors.arena import MIN_BYTES as INTO_BYTES
from device_actors.arena import adopt_resident
from device_actors.channels import STOPPED, Channel, ChannelSpec
from tfrt_ray.errors import ChannelClosedError


@dataclass(frozen=True)
class LoopCall:
    """One stage call of every step: where each argument comes from, and what it sends."""

    key: str  # the name the stage is loaded under
    args: tuple[tuple[bool, int], ...]  # (True, input channel index) or (False, value id)
    outputs: tuple[int, ...]  # value ids of its outputs
    sends: tuple[tuple[int, int], ...]  # (output position, output channel index)


@dataclass(frozen=True)
class LoopSpec:
    loop_id: str
    inputs: tuple[ChannelSpec, ...]  # the channels it reads, each once per step
    outputs: tuple[ChannelSpec, ...]  # the channels it writes, each once per step
    calls: tuple[LoopCall, ...]
    tick: int | None = None  # an input channel no call reads, read first each step


@dataclass(frozen=True)
class Device:
    """What a loop needs of its device."""

    run: Callable[..., list]  # (key, args, into) -> the call's outputs
    stage: Callable[[str], Any]  # key -> the loaded `Stage` (None if unknown)
    arena: Any = None  # the device's `Arena` (None: no shared-memory blocks)


def run_loop(spec: LoopSpec, device: Device, stop: threading.Event) -> int:
    """Runs steps until a stop arrives, a channel closes or ``stop`` is set; returns how
    many steps ran."""

    def alive() -> bool:  # the driver unlinks the files at teardown
        return not stop.is_set() and os.path.exists(spec.inputs[0].path)

    ins = [Channel(c, alive) for c in spec.inputs]
    outs = [Channel(c, alive) for c in spec.outputs]
    plans = [(call, device.stage(call.key)) for call in spec.calls]
    plans = [(call, stage, _into_slots(stage, call)) for call, stage in plans]
    steps = 0
    try:
        while not stop.is_set():
            if (spec.tick is not None and ins[spec.tick].read() is STOPPED) \
                    or not _step(plans, ins, outs, device):
                for ch in outs:
                    ch.write_stop(timeout=5.0)
                break
            steps += 1
    except ChannelClosedError:
        pass
    finally:
        for ch in ins + outs:
            ch.detach()
    return steps


def _step(plans: Sequence[tuple], ins: list[Channel], outs: list[Channel],
          device: Device) -> bool:
    read: dict[int, object] = {}  # input channel -> its value (or error) this step
    env: dict[int, object] = {}  # value id -> value (or error), this device's
    for call, stage, slots in plans:
        args, failed = [], None
        for from_channel, ref in call.args:
            if from_channel:
                if ref not in read:
                    try:
                        read[ref] = ins[ref].read()
                    except ChannelClosedError:
                        raise
                    except Exception as err:  # noqa: BLE001 - an upstream op's error
                        read[ref] = err
                    if read[ref] is STOPPED:
                        return False
                value = read[ref]
            else:
                value = env[ref]
            if isinstance(value, BaseException):
                failed = failed or value
            args.append(value)
        if failed is None:
            try:
                into = {}
                for pos, ch, dt, shape in slots:
                    slot = outs[ch].reserve(dt, shape)
                    if slot is not None:
                        into[pos] = slot
                values = device.run(call.key, args, into or None)
            except Exception as err:  # noqa: BLE001 - travels to the readers as a value
                failed = err
        if failed is not None:
            values = [failed] * len(call.outputs)
        env.update(zip(call.outputs, values, strict=True))
        for pos, ch in call.sends:
            _send(outs[ch], values[pos], stage, device.arena)
    return True


def _into_slots(stage, call: LoopCall) -> list[tuple]:
    """(output position, channel, dtype, shape) of the large outputs a call's kernels can
    write straight into their first reader's next slot."""
    slots, seen = [], set()
    if stage is None:
        return slots
    for pos, ch in call.sends:
        t = stage.out_types[pos]
        if pos not in seen and t.is_static and t.nbytes >= INTO_BYTES and \
                stage.writes_into(pos):
            seen.add(pos)
            slots.append((pos, ch, t.np_dtype, tuple(t.shape)))
    return slots


def _send(ch: Channel, value, stage, arena) -> None:
    if isinstance(value, BaseException):
        ch.write_error(value)
        return
    if arena is not None and type(value) is np.ndarray and value.nbytes >= INTO_BYTES:
        value = adopt_resident(arena, stage, value)  # a weight it hands out: once, then
        block = arena.resident_block(value)  # only its name every step
        if block is not None:
            ch.write_block(block.path, value)
            return
    ch.write(value)
