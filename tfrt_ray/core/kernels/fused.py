"""Reference kernels for the fused family (semantics: ``tfrt_ray.ir.ops.fused``).

A ``fused_elementwise`` body runs with the ops' own reference kernels, each writing with
``out=`` into a buffer of the result's shape: the result's buffer, or one of the few the
body's live values need (`plan_body` allots them, reusing a buffer once its value is dead
and writing in place where the op allows). So no intermediate tensor is allocated, and a
fused graph computes the same values as the unfused one. `run_body` is the one walk over
a body for every backend: another backend passes its own kernels, which return new values.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from tfrt_ray.core.kernels.elementwise import gelu_into
from tfrt_ray.core.kernels.nn import conv_nchw
from tfrt_ray.core.kernels.registry import get_kernel, kernel
from tfrt_ray.core.kernels.scipy_special import expit
from tfrt_ray.ir.graph import Graph
from tfrt_ray.ir.ops.fused import fresh_dst_ops


class BodyStep(NamedTuple):
    node: int  # index into body.nodes
    srcs: tuple[int, ...]  # registers: 0..n-1 the inputs, then the buffers
    dst: int


class BodyPlan(NamedTuple):
    steps: tuple[BodyStep, ...]
    n_buffers: int
    result: int  # the register holding the result


@lru_cache(maxsize=512)
def plan_body(body: Graph) -> BodyPlan:
    """Registers for a body's values: its inputs first, then buffers, each reused as soon
    as the value in it is dead; an op writes over a dying source unless its spec says
    ``fresh_dst``."""
    n_in = len(body.inputs)
    reg = {v: i for i, v in enumerate(body.inputs)}
    last_use = {v: k for k, m in enumerate(body.nodes) for v in m.inputs}
    free: list[int] = []
    n_buffers, steps = 0, []
    for k, m in enumerate(body.nodes):
        dying = sorted({reg[v] for v in m.inputs
                        if reg[v] >= n_in and last_use[v] == k and v not in body.outputs})
        if dying and m.op not in fresh_dst_ops():
            dst = dying.pop(0)  # in place
        elif free:
            dst = heapq.heappop(free)
        else:
            dst, n_buffers = n_in + n_buffers, n_buffers + 1
        for b in dying:
            heapq.heappush(free, b)
        steps.append(BodyStep(k, tuple(reg[v] for v in m.inputs), dst))
        reg[m.outputs[0]] = dst
    return BodyPlan(tuple(steps), n_buffers, reg[body.outputs[0]])


def _bind(fn: Callable, attrs: dict) -> Callable:
    return (lambda *a, out: fn(*a, out=out, **attrs)) if attrs else fn


@lru_cache(maxsize=512)
def _reference_steps(body: Graph) -> tuple[tuple[Callable, tuple[int, ...], int], ...]:
    return tuple((_bind(get_kernel(body.nodes[s.node].op, "reference"),
                        body.nodes[s.node].attr_dict), s.srcs, s.dst)
                 for s in plan_body(body).steps)


def run_body(body: Graph, xs, kernel_of: Callable[[str], Callable] | None = None, out=None):
    """Runs ``body`` over ``xs``. With ``kernel_of(op)`` (a backend's kernels), each node's
    kernel returns a new value. Without, the reference kernels write each step with
    ``out=`` into the buffers `plan_body` allots (``out`` for the result, when it fits)."""
    if kernel_of is not None:
        values = dict(zip(body.inputs, xs, strict=True))
        for n in body.nodes:
            values[n.outputs[0]] = kernel_of(n.op)(*(values[v] for v in n.inputs),
                                                   **n.attr_dict)
        return values[body.outputs[0]]
    plan = plan_body(body)
    dt = body.types[body.outputs[0]].np_dtype
    shape = xs[0].shape if len(xs) == 1 else np.broadcast_shapes(*(x.shape for x in xs))
    regs = list(xs) + [np.empty(shape, dt) for _ in range(plan.n_buffers)]
    if out is not None and out.shape == shape and out.dtype == dt:
        regs[plan.result] = out  # the result register is ``out`` (scratch before that: fine)
    for fn, srcs, dst in _reference_steps(body):
        fn(*(regs[i] for i in srcs), out=regs[dst])
    return regs[plan.result]


@kernel("fused_elementwise")
def fused_elementwise(*xs, body, out=None):
    return run_body(body, xs, out=out)


fused_elementwise.takes_out = True  # see CompiledStage.run's ``into``


def activate(y, activation: str):
    """Applies ``activation`` to ``y`` in place (gelu uses one scratch copy of ``y``)."""
    if activation == "relu":
        np.maximum(y, 0, out=y)
    elif activation == "sigmoid":
        expit(y, out=y)
    elif activation == "tanh":
        np.tanh(y, out=y)
    elif activation in ("gelu", "gelu_tanh"):
        gelu_into(y.copy(), y, "tanh" if activation == "gelu_tanh" else "none")
    return y


@kernel("fused_matmul")
def fused_matmul(a, b, bias=None, *, activation, out=None):
    y = np.matmul(a, b, out=out)
    if not isinstance(y, np.ndarray):  # a vector-vector product is a numpy scalar
        y = np.asarray(y).copy()
    if bias is not None:
        np.add(y, bias, out=y)
    return activate(y, activation)


fused_matmul.takes_out = True


@kernel("fused_conv2d")
def fused_conv2d(x, w, b=None, *, strides, pads, dilations, group, activation):
    # One output buffer in NCHW; the bias and the activation are applied to it in place.
    y = conv_nchw(x, w, strides, pads, dilations, group)
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return activate(y, activation)
