"""`lower`: a `Plan` lowered once, at load, into the stage calls every step makes.

Per slice of the batch (one, or one per micro-batch or replica): the calls in submission
order. For each call, its device, the name its stage is loaded under, where each argument
comes from (an earlier call's output, or the step's input at a position), and which of its
outputs it writes to shared memory for the driver or later calls; per slice, what crosses
a device boundary and where each of the step's outputs comes from. `Program` walks this
for every step and derives nothing from the plan: only a step's own mailboxes (named by
its tag) are made per step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tfrt_ray.errors import TfrtRayError

INPUT = "input"  # the source of a value the step's caller gives


@dataclass(frozen=True)
class StageCall:
    """One stage call of a step."""

    device_id: str
    key: str  # the name the stage is loaded under on its device
    stage_id: int
    inputs: tuple[int, ...]  # value ids, in the stage's argument order
    input_positions: tuple[int | None, ...]  # per argument: the step input, or None (a call's)
    outputs: tuple[int, ...]
    shared_positions: tuple[int, ...]  # outputs written to shared memory (may be empty)


@dataclass(frozen=True)
class SliceSchedule:
    """The calls of one slice of a step, and what the slice hands back."""

    calls: tuple[StageCall, ...]
    # (value, source device or INPUT, destination device), once per (value, destination)
    transfers: tuple[tuple[int, str, str], ...]
    # per graph output: (True, value id) from a call, or (False, input position)
    results: tuple[tuple[bool, int], ...]


def lower(runs: Sequence[Sequence[tuple[str, Any]]], graph, stage_key: Callable[[Any], str],
          shared_positions: Callable[[int], Mapping[int, tuple[int, ...]]]
          ) -> tuple[SliceSchedule, ...]:
    """``runs``: per slice, its (device id, plan stage) pairs in submission order;
    ``shared_positions(slice)``: stage id -> the outputs it writes to shared memory."""
    position = {v: i for i, v in enumerate(graph.inputs)}
    slices = []
    for index, run in enumerate(runs):
        shared_at = shared_positions(index)
        producer: dict[int, str] = {}
        moved: dict[tuple[int, str], str] = {}
        calls = []
        for device_id, stage in run:
            for v in stage.inputs:
                if v not in producer and v not in position:
                    raise TfrtRayError(
                        f"stage {stage.id} on {device_id} reads value {v}, which neither an "
                        "earlier stage computes nor the step's inputs hold",
                        device=device_id,
                        hint="this is a partitioner bug; please report it with the graph's "
                        "text",
                    )
                src = producer.get(v, INPUT)
                if src != device_id:
                    moved.setdefault((v, device_id), src)
            calls.append(StageCall(
                device_id, stage_key(stage), stage.id, tuple(stage.inputs),
                tuple(None if v in producer else position[v] for v in stage.inputs),
                tuple(stage.outputs), tuple(shared_at.get(stage.id, ()))))
            producer.update((v, device_id) for v in stage.outputs)
        results = tuple((True, v) if v in producer else (False, position[v])
                        for v in graph.outputs)
        transfers = tuple((v, src, dst) for (v, dst), src in moved.items())
        slices.append(SliceSchedule(tuple(calls), transfers, results))
    return tuple(slices)
