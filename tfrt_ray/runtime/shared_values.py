"""The host's side of the shared-memory path (`device_actors.arena`): which stage outputs
go through their producer's arena, the mailboxes their readers poll, and when a step's
blocks are given back (the producers' and the driver's, `host_arena`).

A value qualifies when it is at least `arena.MIN_BYTES`, its producer has shared memory,
every stage that reads it runs on the producer's node and, if it is a result, the
producer runs on the driver's node too (the driver copies it out of the block when it
fetches it). The plan is made when a program loads and again whenever dead devices were
replaced (a new incarnation may live on another node).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from device_actors.arena import MIN_BYTES


class SharedValues:
    """Per slice, stage id -> positions of the outputs that go through the arena."""

    def __init__(self) -> None:
        self.at: list[dict[int, tuple[int, ...]]] = []  # empty: nothing shared
        self.read_at: list[dict[int, frozenset[int]]] = []  # of those, what stages read
        self.producers: set[str] = set()  # devices whose arenas hold a step's blocks
        self.hosts: list = []  # the driver's arenas (`HostArena`) inputs may be in
        self.devices: list[str] = []  # every device the program calls
        # Cancelled steps: (a fence call per device, their tags), released once all the
        # fences have returned.
        self._fenced: list[tuple[list, list[int]]] = []
        self._lock = threading.Lock()

    def plan(self, runs: Sequence[Sequence[tuple[str, Any]]], devices: Mapping[str, Any],
             graph) -> None:
        """Decides, for ``runs`` (per slice, its (device id, stage) pairs)."""
        types, results = graph.types, set(graph.outputs)
        at, read_at = [], []
        for run in runs:
            node = {d: devices[d].node_id if devices[d].arena_dir else None
                    for d, _ in run}
            readers: dict[int, set[str]] = {}
            for d, stage in run:
                for v in stage.inputs:
                    readers.setdefault(v, set()).add(d)
            per_stage, read = {}, {}
            for d, stage in run:
                near_host = devices[d].near_host
                positions = tuple(
                    i for i, v in enumerate(stage.outputs)
                    if node[d] is not None and (v in readers or v in results)
                    and types[v].nbytes >= MIN_BYTES
                    and all(node[r] == node[d] for r in readers.get(v, ()))
                    and (v not in results or near_host)
                )
                if positions:
                    per_stage[stage.id] = positions
                    read[stage.id] = frozenset(
                        i for i in positions if stage.outputs[i] in readers)
            at.append(per_stage)
            read_at.append(read)
        self.at = at if any(at) else []
        self.read_at = read_at if any(at) else []
        self.producers = {d for run, per_stage in zip(runs, self.at)
                          for d, stage in run if stage.id in per_stage}
        hosts = {id(h): h for h in (devices[d].host for run in runs for d, _ in run)
                 if h is not None}
        self.hosts = list(hosts.values())
        self.devices = sorted({d for run in runs for d, _ in run})

    @property
    def between_stages(self) -> bool:
        """Whether some stage reads a value another one posts (not only results)."""
        return any(any(read.values()) for read in self.read_at)

    def positions(self, slice_index: int) -> dict[int, tuple[int, ...]]:
        return self.at[slice_index] if self.at else {}

    def mailboxes(self, device, tag: int, epoch: int, slice_index: int, stage_id: int,
                  positions: tuple[int, ...]) -> tuple[str | None, ...]:
        """Mailbox paths for a stage call's shared outputs that other stages read (None
        for a result only the driver reads): unique per attempt of a step (the epoch
        changes when a step is run again), in the session's directory."""
        read = self.read_at[slice_index].get(stage_id, ())
        return tuple(
            os.path.join(device.arena_dir, f"mb-{tag}-{epoch}-{slice_index}-{stage_id}-{p}")
            if p in read else None
            for p in positions
        )

    def release(self, devices: Mapping[str, Any], tags: Sequence[int]) -> None:
        """The steps of ``tags`` were read in full, so every stage of them has returned:
        their blocks may be reused (freed with each producer's next call). Cancelled
        steps whose fences have returned go too."""
        self._give_back(devices, tags)
        if self._fenced:
            self._release_fenced(devices)

    def release_cancelled(self, devices: Mapping[str, Any], tags: Sequence[int]) -> None:
        """Cancelled steps: their calls may still run, or wait in a device's queue, and
        read their blocks. Each device gets a fence call now, queued behind all of them
        (a device runs its calls in order); when every fence has returned, no call of
        these steps is left and their blocks go as a read step's do (checked without
        waiting, at each later release)."""
        fences = [f for f in (devices[d].fence() for d in self.devices) if f is not None]
        with self._lock:
            self._fenced.append((fences, list(tags)))
        self._release_fenced(devices)

    def _release_fenced(self, devices: Mapping[str, Any]) -> None:
        with self._lock:
            entries, self._fenced = self._fenced, []
        keep = []
        for fences, tags in entries:
            if fences:
                import ray

                done, _ = ray.wait(fences, num_returns=len(fences), timeout=0)
                if len(done) < len(fences):
                    keep.append((fences, tags))
                    continue
            self._give_back(devices, tags)
        with self._lock:
            self._fenced.extend(keep)

    def _give_back(self, devices: Mapping[str, Any], tags: Sequence[int]) -> None:
        for device_id in self.producers:
            for tag in tags:
                devices[device_id].release_later(tag)
        for host in self.hosts:
            host.release(tags)

    def flush(self, devices: Mapping[str, Any]) -> None:
        """Sends the releases still waiting for a next call (the program is closing)."""
        if self._fenced:
            self._release_fenced(devices)
        for device_id in self.producers:
            devices[device_id].flush_released()
