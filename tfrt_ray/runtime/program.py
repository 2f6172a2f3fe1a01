"""`Program`: a plan loaded onto its devices, run step after step.

Loading sends each stage (and so its weights) to its device once, and lowers the plan
into the calls every step makes (`schedule`). A step walks them and submits every
stage call at once (one call per stage per step, never one per op) and returns a `Step`
of futures; the caller waits only when it reads a result, so many steps can be in
flight. Values cross devices as ObjectRefs that one actor hands to the next: the driver
puts the step's inputs and gets its outputs, never an intermediate. Large values between
actors on one node go through the producer's shared memory instead (`shared_values`).

A plan with micro-batches (pipeline) or replicas (data parallel) runs its per-slice
program on slices of the batch (axis 0) and concatenates the outputs.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from device_actors.transport import Posted
from tfrt_ray.errors import DeviceLostError, TfrtRayError
from tfrt_ray.ir.graph import Graph
from tfrt_ray.runtime.profiling import profile_table, run_traced
from tfrt_ray.runtime.schedule import lower
from tfrt_ray.runtime.shared_values import SharedValues
from tfrt_ray.runtime.step import Step, cancelled_error, fetched, is_ref

log = logging.getLogger("tfrt_ray.runtime")
_KEYS = itertools.count()
_TAGS = itertools.count()
MAX_RECOVERIES = 3  # times one step may be re-run because devices died


class Program:
    """A compiled program on a set of devices. See `tfrt_ray.compile`."""

    def __init__(self, plan, devices: Mapping[str, Any], full_graph: Graph | None = None,
                 as_tensors: Callable[[list, list], list] | None = None) -> None:
        self.plan = plan
        # (values or errors, their types) -> the front end's tensors, for `Step.tensors`
        self.as_tensors = as_tensors
        self.graph: Graph = plan.graph
        self.full_graph = full_graph or plan.graph
        self.devices = dict(devices)
        self.key = f"p{next(_KEYS)}"
        self.input_names = self.full_graph.input_names
        self.output_names = self.full_graph.output_names
        self.input_types = tuple(self.full_graph.types[v] for v in self.full_graph.inputs)
        self.slices = max(plan.micro_batches, len(plan.replicas) or 1)
        self._runs = self._stage_runs()
        self.epoch = 0  # bumped each time dead devices were replaced
        self.recoveries = 0
        self._broken: tuple[int, DeviceLostError] | None = None
        self._lock = threading.Lock()
        self._pending_lock = threading.Lock()
        self._pending: weakref.WeakSet[Step] = weakref.WeakSet()
        self._load()
        self.shared = SharedValues()
        self._lower()

    def _lower(self) -> None:
        """Decides the shared-memory edges, then lowers the plan into the calls every
        step makes (again after a recovery: a new incarnation may lack shared memory)."""
        self.shared.plan(self._runs, self.devices, self.graph)
        self.schedule = lower(self._runs, self.graph, self.stage_key, self.shared.positions)

    @property
    def transfers(self) -> tuple[tuple[int, str, str], ...]:
        """What one slice of every step moves across a device boundary: (value, source
        device or "input", destination device), once per (value, destination)."""
        return self.schedule[0].transfers

    last_transfers = transfers  # the name tests and tools used before the schedule

    # ---- loading ------------------------------------------------------------------

    def _stage_runs(self) -> list[list[tuple[str, Any]]]:
        """Per slice: (device id, stage) pairs in submission order."""
        if self.plan.replicas:
            return [
                [(d, s) for s in self.plan.stages] for d in self.plan.replicas
            ]
        return [[(s.device, s) for s in self.plan.stages]] * self.slices

    def _load(self) -> None:
        loaded = set()
        types = self.graph.types
        for run in self._runs:
            for device_id, stage in run:
                if (device_id, stage.id) in loaded:
                    continue
                loaded.add((device_id, stage.id))
                self.devices[device_id].load(
                    self.stage_key(stage), stage.nodes, types, stage.inputs, stage.outputs
                )
        for device_id in {d for d, _ in loaded}:
            self.devices[device_id].wait_loaded()

    def stage_key(self, stage) -> str:
        """The name a stage is loaded under on its device."""
        return f"{self.key}/{stage.id}"

    def _release(self, steps: Sequence[Step]) -> None:
        self.shared.release(self.devices, [s.tag for s in steps])

    # ---- running ------------------------------------------------------------------

    def submit(self, inputs: Mapping[str, Any] | Sequence[Any], profile: bool = False) -> Step:
        """Submits one step; returns at once with its futures."""
        arrays = self.bind_inputs(inputs)
        tag = next(_TAGS)
        step = Step(self, arrays, self._submit_parts(arrays, tag, profile), self.epoch, tag)
        with self._pending_lock:
            self._pending.add(step)
        return step

    def submit_many(self, inputs: Sequence[Mapping[str, Any] | Sequence[Any]],
                    pack: int = 8) -> list[Step]:
        """Submits many steps at once; returns their `Step`s, in order.

        Up to ``pack`` consecutive steps share one call per stage: the device runs the
        stage once per step inside that call, so Ray's per-call cost is paid once per
        pack, not once per step. Each step still has its own results and errors, and is
        re-run on its own if a device dies. A pack finishes as a whole, so a later stage
        starts on a pack when the earlier stage has run all of it: keep ``pack`` small
        for steps that take long. Plans with micro-batches, replicas or shared-memory
        transfers submit step by step, as `submit` does.
        """
        arrays = [self.bind_inputs(x) for x in inputs]
        tags = [next(_TAGS) for _ in arrays]
        if pack <= 1 or self.slices > 1 or self.shared.between_stages:
            pack = 1
        steps = []
        for lo in range(0, len(arrays), pack):
            chunk, chunk_tags = arrays[lo : lo + pack], tags[lo : lo + pack]
            if len(chunk) == 1:
                parts = self._submit_parts(chunk[0], chunk_tags[0])
                steps.append(Step(self, chunk[0], parts, self.epoch, chunk_tags[0]))
                continue
            futures = self._submit_slice(0, chunk, chunk_tags)
            steps += [Step(self, a, [f], self.epoch, t)
                      for a, t, f in zip(chunk, chunk_tags, futures)]
        with self._pending_lock:
            self._pending.update(steps)
        return steps

    def _submit_parts(self, arrays: list, tag: int, profile: bool = False) -> list[list[Any]]:
        """One step: per slice, its output futures."""
        return [self._submit_slice(i, [self._slice(arrays, i)], [tag], profile)[0]
                for i in range(self.slices)]

    def _submit_slice(self, index: int, chunk: list[list[np.ndarray]], tags: list[int],
                      profile: bool = False) -> list[list[Any]]:
        """Makes slice ``index``'s calls for the steps in ``chunk`` (their inputs), one
        call per stage for all of them; returns each step's output futures."""
        sched = self.schedule[index]
        k = len(chunk)
        values: list[dict[int, Any]] = [{} for _ in chunk]
        put: list[dict[Any, Any]] = [{} for _ in chunk]
        posted: dict[int, str] = {}  # value -> the mailbox its producer posts it to
        for call in sched.calls:
            device = self.devices[call.device_id]
            args = [self._call_args(call, device, values[i], put[i], chunk[i], tags[i])
                    for i in range(k)]
            if k == 1:
                outs = [self._call(call, device, args[0], posted, index, tags[0], profile)]
            else:
                outs = device.call_many(call.key, [a for step in args for a in step], k,
                                        len(call.outputs))
            for i in range(k):
                values[i].update(zip(call.outputs, outs[i]))
        return [[values[i][v] if computed else chunk[i][v] for computed, v in sched.results]
                for i in range(k)]

    @staticmethod
    def _call_args(call, device, values: dict, put: dict, arrays: list, tag: int) -> list:
        """A call's arguments: futures of earlier calls, or the step's inputs (put once
        per step and device path, shared by every call that reads them; see
        `ActorDevice.put`)."""
        args = []
        for v, position in zip(call.inputs, call.input_positions):
            if position is None:
                args.append(values[v])
                continue
            key = (position, device.near_host)  # a block, or Ray's path
            if key not in put:
                put[key] = device.put(arrays[position], tag)
            args.append(put[key])
        return args

    def _call(self, call, device, args: list, posted: dict, index: int, tag: int,
              profile: bool) -> list:
        """One stage call of one step: inputs another call posts to shared memory are
        read from there without waiting for the driver, and the outputs later calls read
        that way get this step's mailboxes."""
        if posted:
            args = [Posted(posted[v], [a]) if v in posted else a
                    for v, a in zip(call.inputs, args)]
        shared = None
        if call.shared_positions:
            boxes = self.shared.mailboxes(device, tag, self.epoch, index, call.stage_id,
                                          call.shared_positions)
            posted.update((call.outputs[p], b) for p, b in zip(call.shared_positions, boxes)
                          if b is not None)
            shared = (tag, call.shared_positions, boxes)
        return device.call(call.key, args, len(call.outputs), profile, shared)

    def _resolve(self, step: Step, timeout: float | None) -> list:
        """A step's values; if a device died, replace it and run the step again (a
        fresh set of calls: nothing from the dead incarnation is used)."""
        for attempt in range(MAX_RECOVERIES + 1):
            if step.cancelled:
                raise cancelled_error()
            try:
                values = self._fetch(step.parts, timeout)
                with self._pending_lock:
                    self._pending.discard(step)
                self._release([step])
                return values
            except DeviceLostError as err:
                log.warning("step lost a device (attempt %d): %s", attempt + 1, err.message)
                if attempt == MAX_RECOVERIES:
                    raise err.with_context(
                        hint=f"the step failed {attempt + 1} times as devices died; "
                        "check the cluster's health"
                    ) from None
                self._recover(step.epoch)
                step.parts = self._submit_parts(step.arrays, step.tag)
                step.epoch = self.epoch
        raise AssertionError("unreachable")

    def _recover(self, epoch: int) -> None:
        """Replaces this program's dead devices, once per failure (not once per step)."""
        with self._lock:
            if self._broken is not None and self._broken[0] == epoch:
                raise self._broken[1]  # recovery already failed: fail at once, same error
            if epoch != self.epoch:
                return  # another step already recovered since this one was submitted
            used = {s.device for s in self.plan.stages} | set(self.plan.replicas)
            try:
                for device_id in sorted(used):
                    device = self.devices[device_id]
                    if hasattr(device, "revive") and not device.alive():
                        log.warning("device %s died; starting a new incarnation", device_id)
                        device.revive()
                        log.info("device %s is back on node %s (incarnation %d)",
                                 device_id, device.node_id[:12], device.incarnation)
            except DeviceLostError as err:
                self._broken = (epoch, err)
                raise
            self.epoch += 1
            self.recoveries += 1
            self._lower()

    def cancel(self) -> int:
        """Turns every step not yet read into a `CancelledError` and drops its futures
        (freeing what they hold in the object store, and their shared-memory blocks once
        their calls are over). Returns how many were cancelled."""
        import ray

        with self._pending_lock:
            steps = list(self._pending)
            self._pending.clear()
        for step in steps:
            step.cancelled = True
            for part in step.parts:
                for ref in part:
                    if is_ref(ref):
                        with contextlib.suppress(Exception):
                            ray.cancel(ref)
            step.parts = []
        if steps:  # their blocks go once their calls are over
            self.shared.release_cancelled(self.devices, [s.tag for s in steps])
        return len(steps)

    def run(
        self,
        inputs: Mapping[str, Any] | Sequence[Any],
        timeout: float | None = None,
        profile: bool = False,
        trace: str | None = None,
    ) -> list[np.ndarray]:
        """Runs one step and waits: the outputs as NumPy arrays, in output order.

        With ``trace="trace.json"`` the step is profiled and a Chrome/Perfetto trace is
        written there: one track per device, op spans, stage calls and transfers.
        """
        if trace is None:
            return self.submit(inputs, profile=profile).result(timeout)
        return run_traced(self, inputs, timeout, trace)

    def gather(self, steps: Sequence[Step], timeout: float | None = None) -> list[list[np.ndarray]]:
        """The results of many steps, fetched together (one round trip, not one per
        step). Raises the first failed output's error, like `Step.result`."""
        try:
            return self._gather(steps, timeout)
        except DeviceLostError:  # recover step by step, in order
            return [step.result(timeout) for step in steps]

    def _gather(self, steps: Sequence[Step], timeout: float | None) -> list[list[np.ndarray]]:
        if any(step.cancelled for step in steps):
            raise cancelled_error()
        counts = [len(step.parts) for step in steps]
        values_of = fetched([part for step in steps for part in step.parts], timeout)
        # Every step was read in full (error values included): its stages have returned.
        with self._pending_lock:
            for step in steps:
                self._pending.discard(step)
        self._release(steps)
        out, i = [], 0
        for n in counts:
            values = self._combine(values_of[i : i + n])
            i += n
            for v in values:
                if isinstance(v, TfrtRayError):
                    raise v
            out.append(values)
        return out

    def _slice(self, arrays: list[np.ndarray], index: int) -> list[np.ndarray]:
        if self.slices == 1:
            return arrays
        out = []
        for a, v in zip(arrays, self.graph.inputs):
            if self.graph.types[v].shape[:1] == a.shape[:1]:
                out.append(a)  # not batched: every slice gets it whole
                continue
            n = self.graph.types[v].shape[0]
            out.append(a[index * n : (index + 1) * n])
        return out

    def _fetch(self, parts: list[list[Any]], timeout: float | None) -> list:
        return self._combine(fetched(parts, timeout))

    def _combine(self, per_slice: list[list]) -> list:
        """One step's outputs from its slices' values (concatenated along the batch)."""
        if len(per_slice) == 1:
            return per_slice[0]
        outs = []
        for i in range(len(self.output_names)):
            pieces = [part[i] for part in per_slice]
            failed = next((p for p in pieces if isinstance(p, TfrtRayError)), None)
            outs.append(failed if failed is not None else np.concatenate(pieces, axis=0))
        return outs

    # ---- inputs -------------------------------------------------------------------

    def bind_inputs(self, inputs: Mapping[str, Any] | Sequence[Any]) -> list[np.ndarray]:
        """The inputs in graph order, checked against the expected names, dtypes, shapes."""
        from tfrt_ray.runtime.feeds import bind_typed

        return bind_typed(inputs, self.input_names, self.input_types)

    def open_channels(self, depth: int | None = None):
        """This program's steps over shared-memory channels and persistent device loops
        (`tfrt_ray.runtime.channel_steps`): microseconds a step, not a Ray call a stage."""
        from tfrt_ray.runtime.channel_steps import open_channels

        return open_channels(self, depth)

    # ---- introspection ------------------------------------------------------------

    def placement_table(self) -> str:
        """Op -> device, bytes moved per step and predicted time per device, and why."""
        return self.plan.describe()

    def profile(self, inputs: Mapping[str, Any] | Sequence[Any]) -> str:
        """Runs one profiled step; returns a table of per-device busy time, idle fraction
        and bytes received, then per-op time (slowest first)."""
        return profile_table(self, inputs)

    def save(self, path: str, metadata: dict[str, str] | None = None) -> int:
        """Writes the program (graph, plan, weights) to one executable file; returns bytes.

        `tfrt_ray.load` reads it back, in this or a fresh process, without the source.
        """
        from tfrt_ray.executable import write_executable

        meta = {"strategy": self.plan.strategy, **(metadata or {})}
        same = self.plan.graph is self.full_graph
        return write_executable(path, self.full_graph, plan=self.plan if same else None,
                                metadata=meta)

    def close(self) -> None:
        """Unloads the program's stages from its devices (and frees the shared-memory
        blocks of the steps that were read)."""
        for run in self._runs:
            for device_id, stage in run:
                self.devices[device_id].unload(self.stage_key(stage))
        self.shared.flush(self.devices)
