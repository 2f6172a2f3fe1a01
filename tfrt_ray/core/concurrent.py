"""Running a stage's independent ops at the same time, TFRT-style.

Each op has a count of inputs still missing; when an op finishes, it decrements its
users' counts, keeps the first op that became ready for itself (no hand-off) and gives
the others to the pool. NumPy releases the GIL inside its heavy kernels, so independent
matmuls and convolutions overlap on separate cores. Cheap ops never come here: a thread
hand-off costs more than they do (see `worth_parallel`).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence

from tfrt_ray.errors import TfrtRayError
from tfrt_ray.ir.graph import Node
from tfrt_ray.ir.ops import get_op
from tfrt_ray.ir.types import TensorType

_log = logging.getLogger("tfrt_ray.executor")


class _Workers:
    """Daemon threads taking ``(fn, arg)`` from one queue, all started at once.

    Not `concurrent.futures.ThreadPoolExecutor`: it starts its threads lazily inside
    ``submit``, and a Ctrl-C that lands there after ``start()`` leaves a thread it never
    registers, which its exit hook then never stops (the interpreter hung at exit). These
    threads exist before any run and are daemons; no run returns while one of them is
    inside its ops (`ConcurrentSchedule.run`), so at exit they are idle."""

    def __init__(self, n: int) -> None:
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        for i in range(n):
            threading.Thread(target=self._loop, name=f"tfrt-op_{i}", daemon=True).start()

    def submit(self, fn: Callable[[int], None], arg: int) -> None:
        self._queue.put((fn, arg))

    def _loop(self) -> None:
        while True:
            fn, arg = self._queue.get()
            try:
                fn(arg)
            except BaseException:  # noqa: BLE001 - the run records its own; keep the thread
                _log.exception("an op thread's task failed")


_POOLS: dict[int, _Workers] = {}
_POOLS_LOCK = threading.Lock()


def _pool(cores: int) -> _Workers:
    with _POOLS_LOCK:
        if cores not in _POOLS:
            _POOLS[cores] = _Workers(cores - 1 or 1)
        return _POOLS[cores]


def node_flops(node: Node, types: Sequence[TensorType]) -> float:
    ins = tuple(types[v] for v in node.inputs)
    outs = tuple(types[v] for v in node.outputs)
    return get_op(node.op).cost(ins, outs, dict(node.attrs)).flops


def worth_parallel(nodes: Sequence[Node], types: Sequence[TensorType]) -> bool:
    """True when at least two heavy ops sit at the same depth, so they can overlap."""
    from tfrt_ray.core.executor import PARALLEL_FLOPS

    depth: dict[int, int] = {}
    heavy_at: dict[int, int] = {}
    for n in nodes:
        d = 1 + max((depth.get(v, 0) for v in n.inputs), default=0)
        for v in n.outputs:
            depth[v] = d
        if node_flops(n, types) >= PARALLEL_FLOPS:
            heavy_at[d] = heavy_at.get(d, 0) + 1
            if heavy_at[d] >= 2:
                return True
    return False


class ConcurrentSchedule:
    """Dependency-counting execution of a `CompiledStage` on a thread pool."""

    def __init__(self, stage, cores: int) -> None:
        self.stage = stage
        self.pool = _pool(cores)
        self.work = [i for i, n in enumerate(stage.nodes) if n.inputs]
        index = {i: k for k, i in enumerate(self.work)}
        producer = {v: index[i] for i in self.work for v in stage.nodes[i].outputs}
        self.deps = [0] * len(self.work)
        self.users: list[list[int]] = [[] for _ in self.work]
        for k, i in enumerate(self.work):
            for p in {producer[v] for v in stage.nodes[i].inputs if v in producer}:
                self.deps[k] += 1
                self.users[p].append(k)
        self.roots = [k for k, d in enumerate(self.deps) if d == 0]

    def run(self, inputs: Sequence) -> list:
        """The stage's outputs for ``inputs``. However the run ends (an op's bug, or a
        KeyboardInterrupt on the calling thread), it returns or raises only once no pool
        thread is still inside one of its ops: a kernel (a oneDNN primitive, a NumPy call)
        must never write into a value the caller has already let go of."""
        stage = self.stage
        env = stage.template.copy()
        env[: stage.n_inputs] = inputs
        if not self.work:
            return [env[s] for s in stage.out_slots]
        missing = self.deps.copy()
        left = [len(self.work)]
        running = [0]  # ops started on pool threads and not yet returned
        settled = threading.Condition()
        crashed: list[BaseException] = []

        def pooled(k: int) -> None:
            with settled:  # once the run has crashed, a queued op never starts
                if crashed:
                    return
                running[0] += 1
            try:
                execute(k)
            finally:
                with settled:
                    running[0] -= 1
                    settled.notify_all()

        def execute(k: int) -> None:
            try:
                while not crashed:
                    i = self.work[k]
                    node = stage.nodes[i]
                    args = [env[stage.slot[v]] for v in node.inputs]
                    failed = next((a for a in args if isinstance(a, TfrtRayError)), None)
                    if failed is not None:
                        outs = [failed] * len(node.outputs)
                    else:
                        outs = stage._run_node_checked(node, stage.kernels[i], args)
                    for v, value in zip(node.outputs, outs):
                        env[stage.slot[v]] = value
                    ready = []
                    with settled:
                        for u in self.users[k]:
                            missing[u] -= 1
                            if missing[u] == 0:
                                ready.append(u)
                        left[0] -= 1
                        if left[0] == 0:
                            settled.notify_all()
                    if not ready:
                        return
                    for u in ready[1:]:
                        self.pool.submit(pooled, u)
                    k = ready[0]
            except BaseException as exc:  # an executor bug, or Ctrl-C on the calling thread
                with settled:
                    crashed.append(exc)
                    settled.notify_all()

        try:
            for k in self.roots[1:]:
                self.pool.submit(pooled, k)
        except BaseException as exc:  # Ctrl-C while handing the roots out
            crashed.append(exc)
        try:
            execute(self.roots[0])
        except BaseException as exc:  # a second Ctrl-C inside execute's own handler
            crashed.append(exc)
        _wait_uninterrupted(settled, lambda: running[0] == 0 and (left[0] == 0 or crashed),
                            crashed)
        if crashed:
            raise crashed[0]
        return [env[s] for s in stage.out_slots]


def _wait_uninterrupted(cond: threading.Condition, until, crashed: list) -> None:
    """Waits for ``until()``; a KeyboardInterrupt meanwhile is kept in ``crashed`` (raised by
    the caller once the wait is over) instead of cutting the wait short, so no op is left
    running behind it. The wait is bounded by the ops already running: once ``crashed``
    holds anything, no new op starts (a queued one returns at once)."""
    while True:
        try:
            with cond:
                while not until():
                    cond.wait()
            return
        except KeyboardInterrupt as exc:
            with cond:
                crashed.append(exc)
