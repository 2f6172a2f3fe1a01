"""A device's persistent loop: its part of a program's lowered schedule, run step after
step over channels (`device_actors.channels`) without a Ray call per stage.

The driver hands each device a `LoopSpec` once, when the program opens its channels. The
loop then reads each step's inputs from its channels (blocking: an idle loop sleeps),
runs its stage calls in schedule order, and writes what other devices or the driver read
into their channels. A call whose input is an error does not run: it passes the error on
to its readers, so only a failed op's dependents fail and the steps after it run. A stop
read on any input channel is passed on to every output channel, and the loop ends.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

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


def run_loop(spec: LoopSpec, run: Callable[[str, Sequence], list],
             stop: threading.Event) -> int:
    """Runs steps until a stop arrives, a channel closes or ``stop`` is set; returns how
    many steps ran. ``run(key, args)`` runs one stage call."""

    def alive() -> bool:  # the driver unlinks the files at teardown
        return not stop.is_set() and os.path.exists(spec.inputs[0].path)

    ins = [Channel(c, alive) for c in spec.inputs]
    outs = [Channel(c, alive) for c in spec.outputs]
    steps = 0
    try:
        while not stop.is_set():
            if spec.tick is not None and ins[spec.tick].read() is STOPPED:
                for ch in outs:
                    ch.write_stop(timeout=5.0)
                break
            if not _step(spec.calls, ins, outs, run):
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


def _step(calls: Sequence[LoopCall], ins: list[Channel], outs: list[Channel], run) -> bool:
    read: dict[int, object] = {}  # input channel -> its value (or error) this step
    env: dict[int, object] = {}  # value id -> value (or error), this device's
    for call in calls:
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
                values = run(call.key, args)
            except Exception as err:  # noqa: BLE001 - travels to the readers as a value
                failed = err
        if failed is not None:
            values = [failed] * len(call.outputs)
        env.update(zip(call.outputs, values, strict=True))
        for pos, ch in call.sends:
            value = values[pos]
            if isinstance(value, BaseException):
                outs[ch].write_error(value)
            else:
                outs[ch].write(value)
    return True
