"""The host's side of the shared-memory path (`device_actors.arena`): which stage outputs
go through their producer's arena, the mailboxes their readers poll, and when a step's
blocks are given back.

A value qualifies when it is not a result, is at least `arena.MIN_BYTES`, and every stage
that reads it runs on the producer's node, on a device with shared memory. The plan is
made when a program loads and again whenever dead devices were replaced (a new
incarnation may live on another node).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from device_actors.arena import MIN_BYTES


class SharedValues:
    """Per slice, stage id -> positions of the outputs that go through the arena."""

    def __init__(self) -> None:
        self.at: list[dict[int, tuple[int, ...]]] = []  # empty: nothing shared
        self.producers: set[str] = set()  # devices whose arenas hold a step's blocks

    def plan(self, runs: Sequence[Sequence[tuple[str, Any]]], devices: Mapping[str, Any],
             graph) -> None:
        """Decides, for ``runs`` (per slice, its (device id, stage) pairs)."""
        types, results = graph.types, set(graph.outputs)
        at = []
        for run in runs:
            node = {d: devices[d].node_id if getattr(devices[d], "arena_dir", None) else None
                    for d, _ in run}
            readers: dict[int, set[str]] = {}
            for d, stage in run:
                for v in stage.inputs:
                    readers.setdefault(v, set()).add(d)
            per_stage = {}
            for d, stage in run:
                positions = tuple(
                    i for i, v in enumerate(stage.outputs)
                    if node[d] is not None and v not in results and v in readers
                    and types[v].nbytes >= MIN_BYTES
                    and all(node[r] == node[d] for r in readers[v])
                )
                if positions:
                    per_stage[stage.id] = positions
            at.append(per_stage)
        self.at = at if any(at) else []
        self.producers = {d for run, per_stage in zip(runs, self.at)
                          for d, stage in run if stage.id in per_stage}

    def positions(self, slice_index: int) -> dict[int, tuple[int, ...]]:
        return self.at[slice_index] if self.at else {}

    @staticmethod
    def mailboxes(device, tag: int, epoch: int, slice_index: int, stage_id: int,
                  positions: tuple[int, ...]) -> tuple[str, ...]:
        """Mailbox paths for a stage call's shared outputs: unique per attempt of a step
        (the epoch changes when a step is run again), in the session's directory."""
        return tuple(
            os.path.join(device.arena_dir, f"mb-{tag}-{epoch}-{slice_index}-{stage_id}-{p}")
            for p in positions
        )

    def release(self, devices: Mapping[str, Any], tags: Sequence[int]) -> None:
        """The steps of ``tags`` were read in full, so every stage of them has returned:
        their blocks may be reused (freed with each producer's next call)."""
        for device_id in self.producers:
            for tag in tags:
                devices[device_id].release_later(tag)

    def flush(self, devices: Mapping[str, Any]) -> None:
        """Sends the releases still waiting for a next call (the program is closing)."""
        for device_id in self.producers:
            devices[device_id].flush_released()
