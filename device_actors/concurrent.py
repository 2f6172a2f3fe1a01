"""Running a stage's independent ops at the same time, TFRT-style.

Each op has a count of inputs still missing; when an op finishes, it decrements its
users' counts, keeps the first op that became ready for itself (no hand-off) and gives
the others to the pool. NumPy releases the GIL inside its heavy kernels, so independent
matmuls and convolutions overlap on separate cores. Cheap ops never come here: a thread
hand-off costs more than they do (see `worth_parallel`).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from tfrt_ray.errors import TfrtRayError
from tfrt_ray.ir.graph import Node
from tfrt_ray.ir.ops import get_op
from tfrt_ray.ir.types import TensorType

_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _pool(cores: int) -> ThreadPoolExecutor:
    with _POOLS_LOCK:
        if cores not in _POOLS:
            _POOLS[cores] = ThreadPoolExecutor(cores - 1 or 1, thread_name_prefix="tfrt-op")
        return _POOLS[cores]


def node_flops(node: Node, types: Sequence[TensorType]) -> float:
    ins = tuple(types[v] for v in node.inputs)
    outs = tuple(types[v] for v in node.outputs)
    return get_op(node.op).cost(ins, outs, dict(node.attrs)).flops


def worth_parallel(nodes: Sequence[Node], types: Sequence[TensorType]) -> bool:
    """True when at least two heavy ops sit at the same depth, so they can overlap."""
    from device_actors.executor import PARALLEL_FLOPS

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
        stage = self.stage
        env = stage.template.copy()
        env[: stage.n_inputs] = inputs
        if not self.work:
            return [env[s] for s in stage.out_slots]
        missing = self.deps.copy()
        left = [len(self.work)]
        lock = threading.Lock()
        done = threading.Event()
        crashed: list[BaseException] = []

        def execute(k: int) -> None:
            try:
                while True:
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
                    with lock:
                        for u in self.users[k]:
                            missing[u] -= 1
                            if missing[u] == 0:
                                ready.append(u)
                        left[0] -= 1
                        if left[0] == 0:
                            done.set()
                    if not ready:
                        return
                    for u in ready[1:]:
                        self.pool.submit(execute, u)
                    k = ready[0]
            except BaseException as exc:  # an executor bug must not hang the caller
                crashed.append(exc)
                done.set()

        for k in self.roots[1:]:
            self.pool.submit(execute, k)
        execute(self.roots[0])
        done.wait()
        if crashed:
            raise crashed[0]
        return [env[s] for s in stage.out_slots]
