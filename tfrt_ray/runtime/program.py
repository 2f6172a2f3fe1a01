"""`Program`: a plan loaded onto its devices, run step after step.

Loading sends each stage (and so its weights) to its device once. A step submits every
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
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from device_actors.transport import Posted
from tfrt_ray.errors import CancelledError, DeviceLostError, TfrtRayError
from tfrt_ray.ir.graph import Graph
from tfrt_ray.runtime.profiling import profile_table, run_traced
from tfrt_ray.runtime.shared_values import SharedValues

log = logging.getLogger("tfrt_ray.runtime")
_KEYS = itertools.count()
_TAGS = itertools.count()
MAX_RECOVERIES = 3  # times one step may be re-run because devices died


class Step:
    """The futures of one submitted step. It keeps its inputs, so the program can run it
    again if a device dies before its results are read."""

    def __init__(self, program: Program, arrays: list, parts: list[list[Any]], epoch: int,
                 tag: int) -> None:
        self.program = program
        self.arrays = arrays
        self.parts = parts  # per slice: one future (value or ObjectRef) per graph output
        self.epoch = epoch
        self.tag = tag  # names the step's shared-memory blocks (kept when it is re-run)
        self.cancelled = False

    def result(self, timeout: float | None = None) -> list[np.ndarray]:
        """The outputs as NumPy arrays, in the graph's output order. Raises the error of
        the first failed output; `StepTimeoutError` after ``timeout`` seconds."""
        values = self.program._resolve(self, timeout)
        for v in values:
            if isinstance(v, TfrtRayError):
                raise v
        return values

    def outputs(self, timeout: float | None = None) -> dict[str, np.ndarray]:
        return dict(zip(self.program.output_names, self.result(timeout)))

    def tensors(self, timeout: float | None = None) -> list:
        """The outputs as tensors: each is ready, or failed with its own error, so one
        failed output does not hide its siblings."""
        from tfrt_ray.frontends.tensor import failed, ready

        values = self.program._resolve(self, timeout)
        types = [self.program.full_graph.types[v] for v in self.program.full_graph.outputs]
        return [failed(v, t) if isinstance(v, TfrtRayError) else ready(v)
                for v, t in zip(values, types)]


class Program:
    """A compiled program on a set of devices. See `tfrt_ray.compile`."""

    def __init__(self, plan, devices: Mapping[str, Any], full_graph: Graph | None = None) -> None:
        self.plan = plan
        self.graph: Graph = plan.graph
        self.full_graph = full_graph or plan.graph
        self.devices = dict(devices)
        self.key = f"p{next(_KEYS)}"
        self.input_names = self.full_graph.input_names
        self.output_names = self.full_graph.output_names
        self.input_types = tuple(self.full_graph.types[v] for v in self.full_graph.inputs)
        self._input_pos = {v: i for i, v in enumerate(self.graph.inputs)}  # value -> position
        self.slices = max(plan.micro_batches, len(plan.replicas) or 1)
        # (value, source device or "input", destination device) of the last step's first
        # slice: what crossed a device boundary, for tests and `profile`.
        self.last_transfers: list[tuple[int, str, str]] = []
        self.epoch = 0  # bumped each time dead devices were replaced
        self.recoveries = 0
        self._broken: tuple[int, DeviceLostError] | None = None
        self._lock = threading.Lock()
        self._pending_lock = threading.Lock()
        self._pending: weakref.WeakSet[Step] = weakref.WeakSet()
        self._load()
        self.shared = SharedValues()
        self.shared.plan(self._stage_runs(), self.devices, self.graph)

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
        for run in self._stage_runs():
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
            steps = [Step(self, a, self._submit_parts(a, t), self.epoch, t)
                     for a, t in zip(arrays, tags)]
        else:
            steps = []
            for lo in range(0, len(arrays), pack):
                chunk = arrays[lo : lo + pack]
                packed = self._submit_packed(chunk, tags[lo : lo + pack])
                for a, t, futures in zip(chunk, tags[lo:], packed):
                    steps.append(Step(self, a, [futures], self.epoch, t))
        with self._pending_lock:
            self._pending.update(steps)
        return steps

    def _submit_packed(self, chunk: list[list[np.ndarray]], tags: list[int]) -> list[list[Any]]:
        """`_submit_slice` for several steps, one call per stage for all of them."""
        k = len(chunk)
        values: list[dict[int, Any]] = [{} for _ in range(k)]
        put: list[dict[int, Any]] = [{} for _ in range(k)]
        for device_id, stage in self._stage_runs()[0]:
            device = self.devices[device_id]
            flat = [a for i in range(k)
                    for a in self._stage_args(stage, device, values[i], put[i], chunk[i],
                                              tags[i])]
            outs = device.call_many(self.stage_key(stage), flat, k, len(stage.outputs))
            for i in range(k):
                values[i].update(zip(stage.outputs, outs[i]))
        return [self._results(values[i], chunk[i]) for i in range(k)]

    def _stage_args(self, stage, device, values: dict, put: dict, arrays: list,
                    tag: int) -> list:
        """A stage call's arguments: futures of earlier stages, or the step's inputs (put
        once per step, shared by every stage that reads them; see `ActorDevice.put`)."""
        args = []
        for v in stage.inputs:
            if v in values:
                args.append(values[v])
                continue
            key = (v, device.near_host)  # a block, or Ray's path
            if key not in put:
                put[key] = device.put(arrays[self._input_pos[v]], tag)
            args.append(put[key])
        return args

    def _results(self, values: dict, arrays: list) -> list:
        """The step's output futures (an output that is an input passes straight
        through)."""
        return [values[v] if v in values else arrays[self._input_pos[v]]
                for v in self.graph.outputs]

    def _submit_parts(self, arrays: list, tag: int, profile: bool = False) -> list[list[Any]]:
        return [
            self._submit_slice(run, self._slice(arrays, i), i, tag, profile)
            for i, run in enumerate(self._stage_runs())
        ]

    def _resolve(self, step: Step, timeout: float | None) -> list:
        """A step's values; if a device died, replace it and run the step again (a
        fresh set of calls: nothing from the dead incarnation is used)."""
        for attempt in range(MAX_RECOVERIES + 1):
            if step.cancelled:
                raise _cancelled()
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
            self.shared.plan(self._stage_runs(), self.devices, self.graph)

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
                    if _is_ref(ref):
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
            raise _cancelled()
        counts = [len(step.parts) for step in steps]
        resolved = _resolved([part for step in steps for part in step.parts], timeout)
        # Every step was read in full (error values included): its stages have returned.
        with self._pending_lock:
            for step in steps:
                self._pending.discard(step)
        self._release(steps)
        out, i = [], 0
        for n in counts:
            values = self._combine(resolved[i : i + n])
            i += n
            for v in values:
                if isinstance(v, TfrtRayError):
                    raise v
            out.append(values)
        return out

    def _submit_slice(self, run, arrays: list[np.ndarray], slice_index: int, tag: int,
                      profile: bool) -> list[Any]:
        values: dict[int, Any] = {}
        posted: dict[int, str] = {}  # value -> the mailbox its producer posts it to
        producer: dict[int, str] = {}
        moved: dict[tuple[int, str], str] = {}
        put: dict[int, Any] = {}
        shared_at = self.shared.positions(slice_index)
        for device_id, stage in run:
            device = self.devices[device_id]
            for v in stage.inputs:
                src = producer.get(v, "input")
                if src != device_id:
                    moved.setdefault((v, device_id), src)
            args = self._stage_args(stage, device, values, put, arrays, tag)
            if posted:  # readers start without waiting for the driver
                args = [Posted(posted[v], [a]) if v in posted else a
                        for v, a in zip(stage.inputs, args)]
            positions = shared_at.get(stage.id)
            shared = None
            if positions:
                boxes = self.shared.mailboxes(device, tag, self.epoch, slice_index, stage.id,
                                              positions)
                posted.update((stage.outputs[p], b) for p, b in zip(positions, boxes)
                              if b is not None)
                shared = (tag, positions, boxes)
            outs = device.call(self.stage_key(stage), args, len(stage.outputs), profile,
                               shared)
            values.update(zip(stage.outputs, outs))
            producer.update((v, device_id) for v in stage.outputs)
        self.last_transfers = [(v, src, dst) for (v, dst), src in moved.items()]
        return self._results(values, arrays)

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
        return self._combine(_resolved(parts, timeout))

    def _combine(self, resolved: list[list]) -> list:
        """One step's outputs from its slices' values (concatenated along the batch)."""
        if len(resolved) == 1:
            return resolved[0]
        outs = []
        for i in range(len(self.output_names)):
            pieces = [part[i] for part in resolved]
            failed = next((p for p in pieces if isinstance(p, TfrtRayError)), None)
            outs.append(failed if failed is not None else np.concatenate(pieces, axis=0))
        return outs

    # ---- inputs -------------------------------------------------------------------

    def bind_inputs(self, inputs: Mapping[str, Any] | Sequence[Any]) -> list[np.ndarray]:
        """The inputs in graph order, checked against the expected names, dtypes, shapes."""
        from tfrt_ray.runtime import feeds as _feeds

        names = self.input_names
        types = [(t.shape, t.np_dtype) for t in self.input_types]
        given = _feeds.bind(inputs, names, types)
        arrays = {n: _feeds.convert(n, v, t.np_dtype)  # a tensor converts by __array__
                  for n, v, t in zip(names, [given[n] for n in names], self.input_types)}
        _feeds.check_dims(arrays, {n: t.shape for n, t in zip(names, self.input_types)})
        return [arrays[n] for n in names]

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
        for run in self._stage_runs():
            for device_id, stage in run:
                self.devices[device_id].unload(self.stage_key(stage))
        self.shared.flush(self.devices)


def _cancelled() -> CancelledError:
    return CancelledError(
        "the step was cancelled (Program.cancel) before its results were read",
        hint="submit it again",
    )


def _is_ref(x: Any) -> bool:
    return type(x).__name__ == "ObjectRef"


def _resolved(parts: list[list[Any]], timeout: float | None) -> list[list[Any]]:
    """``parts`` with every ObjectRef replaced by its value, fetched in one round trip."""
    from tfrt_ray.runtime.devices import fetch_values

    refs = [f for part in parts for f in part if _is_ref(f)]
    got = iter(fetch_values(refs, timeout)) if refs else iter(())
    return [[next(got) if _is_ref(f) else f for f in part] for part in parts]
