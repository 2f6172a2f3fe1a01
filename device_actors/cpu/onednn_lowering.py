"""oneDNN lowering: the CPU device's choice of kernels and memory layout for a stage.

The graph is NCHW everywhere (ONNX's layout). oneDNN's fast convolutions want NHWC
(`device_actors.cpu.onednn`), so after `CompiledStage` has lowered its nodes to steps,
`lower_to_onednn` rewrites the steps:

- a convolution (grouped and depthwise too) whose weights (and bias) are constants of the
  stage, with static shapes and float32, runs as a oneDNN primitive (weights reordered
  once, here) that writes NHWC;
- max pooling of an NHWC value runs as a oneDNN primitive, NHWC to NHWC;
- an elementwise op (or fused elementwise body) whose tensor inputs are all NHWC values
  of the output's shape (or scalars) runs unchanged on the NHWC arrays, and its result is
  NHWC: residual adds and activations never leave the layout;
- any other reader of an NHWC value, and the stage's outputs, get one NCHW copy of it
  (one oneDNN reorder per value, made just before its first such reader);
- a product by constant (K, N) weights (``matmul``, ``fused_matmul`` with its bias and
  activation) runs as a oneDNN matmul with the weights packed once, where a timed trial
  on this machine finds it faster than the NumPy kernel (``device_actors.cpu.autotune``): on
  an AVX-512 Xeon it reached 255-260 GFLOP/s on BERT's shapes against 205-235 for OpenBLAS
  plus a separate bias pass; on an AVX2-only EPYC OpenBLAS won.

These are the device's decisions, made when the stage is compiled: the graph, its passes,
the plan and the executable file stay layout-free, and a device without oneDNN runs the
same stage on the NumPy kernels. The checked path (`CompiledStage.run_checked`, taken when
a step fails, to say which op failed) runs the NumPy kernels on NCHW; both paths compute
the same values (tests/device_actors/cpu/test_onednn_lowering.py). Profiled runs time the steps as
rewritten here (layout copies show as op "reorder").
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from device_actors.cpu import onednn
from tfrt_ray.core.executor import BINARY, UNARY, Step, step_reads, step_writes
from tfrt_ray.errors import KernelLibraryError
from tfrt_ray.ir.ops import get_op
from tfrt_ray.ir.types import TensorType

CONV_OPS = frozenset(("conv2d", "fused_conv2d"))
MATMUL_OPS = frozenset(("matmul", "fused_matmul"))
# Below this many flops a convolution or product stays on NumPy: oneDNN's per-call cost
# (about 10 us of ctypes and memory objects) would eat what it saves.
MIN_FLOPS = 1e6


def _with_args(step: Step, args: Sequence[int]) -> Step:
    if step.kind == UNARY:
        return step._replace(a=args[0])
    if step.kind == BINARY:
        return step._replace(a=args[0], b=args[1])
    return step._replace(a=tuple(args))


def _out(step) -> int:
    (out,) = step_writes(step)
    return out


class _Rewrite:
    """One pass over a stage's steps; see the module docstring."""

    def __init__(self, stage, types: Sequence[TensorType]) -> None:
        self.stage, self.types = stage, types
        self.nhwc: dict[int, TensorType] = {}  # slot -> the NCHW type of its NHWC value
        self.nchw_copy: dict[int, int] = {}  # NHWC slot -> slot of its NCHW copy
        self.steps: list[Step] = []
        self.nodes: list = []
        self.moved = 0
        self._machine: str | None = None  # autotune.machine_key(), once per stage

    def _new_slot(self) -> int:
        self.stage.template.append(None)
        return len(self.stage.template) - 1

    def _emit(self, step: Step, node) -> None:
        self.steps.append(step)
        self.nodes.append(node)

    def _nchw(self, s: int) -> int:
        """A slot holding ``s`` in NCHW, adding the copy step the first time."""
        if s not in self.nhwc:
            return s
        if s not in self.nchw_copy:
            self.nchw_copy[s] = copy = self._new_slot()
            reorder = onednn.Reorder(self.nhwc[s].shape, to_channels_last=False)
            self._emit(Step(UNARY, reorder, s, copy, None), None)
        return self.nchw_copy[s]

    def _const(self, s: int):
        return self.stage.template[s] if s >= self.stage.n_inputs else None

    def _conv(self, node, step) -> bool:
        args = step_reads(step)
        x_t = self.types[node.inputs[0]]
        w = self._const(args[1])
        b = self._const(args[2]) if len(args) > 2 else None
        attrs = dict(node.attrs)
        if (w is None or (len(args) > 2 and b is None)
                or x_t.dtype != "f32" or not x_t.is_static or w.dtype != np.float32
                or attrs.get("activation", "none") not in onednn.Conv.ACTIVATIONS):
            return False
        out_t = self.types[node.outputs[0]]
        if 2 * w.size * out_t.shape[2] * out_t.shape[3] * x_t.shape[0] < MIN_FLOPS:
            return False
        try:
            conv = onednn.Conv(x_t.shape, w, b, strides=attrs["strides"], pads=attrs["pads"],
                               dilations=attrs["dilations"], group=attrs.get("group", 1),
                               activation=attrs.get("activation", "none"),
                               src_channels_last=args[0] in self.nhwc, dst_channels_last=True)
        except KernelLibraryError:
            return False
        out = _out(step)
        self._emit(Step(UNARY, conv, args[0], out, None), node)
        self.nhwc[out] = out_t
        return True

    def _matmul(self, node, step) -> bool:
        """A product by constant (K, N) weights, bias and activation fused (layout-free:
        its input, if NHWC, gets its NCHW copy)."""
        args = step_reads(step)
        a_t = self.types[node.inputs[0]]
        w = self._const(args[1])
        b = self._const(args[2]) if len(args) > 2 else None
        activation = dict(node.attrs).get("activation", "none")
        if (w is None or w.ndim != 2 or (len(args) > 2 and (b is None or b.ndim != 1))
                or a_t.dtype != "f32" or not a_t.is_static or len(a_t.shape) < 2
                or w.dtype != np.float32 or activation not in onednn.MatMul.ACTIVATIONS
                or 2 * w.size * (a_t.numel // a_t.shape[-1]) < MIN_FLOPS):
            return False
        try:
            mm = onednn.MatMul(a_t.shape, w, b, activation=activation)
        except KernelLibraryError:
            return False
        if self._numpy_is_faster(step, mm, a_t, w, b, activation):
            return False
        self._emit(Step(UNARY, mm, self._nchw(args[0]), _out(step), None), node)
        return True

    def _numpy_is_faster(self, step, mm, a_t: TensorType, w, b, activation: str) -> bool:
        """Whether the step's own kernel (NumPy's matmul on OpenBLAS, then the bias and
        activation) beats oneDNN's on this machine: a timed trial, cached per machine
        (device_actors.cpu.autotune). oneDNN is the rule: it won on the AVX-512 machine the
        lowering was first tuned on, and the trial corrects it where it loses."""
        from device_actors.cpu import autotune

        onednn.set_threads(self.stage.cores)  # as the stage runs (and as the key says)
        if self._machine is None:
            self._machine = autotune.machine_key()
        # the trial's input, made only if there is a trial (not on a cached choice)
        a = functools.cache(
            lambda: np.random.default_rng(0).standard_normal(a_t.shape, dtype=np.float32))
        consts = (w,) if b is None else (w, b)
        fn = step.fn
        shapes = f"{a_t.shape}x{w.shape}{'+b' if b is not None else ''}:{activation}" \
                 f":{self.stage.cores}t"
        choice = autotune.choose("matmul", shapes, {"onednn": lambda: mm(a()),
                                                    "numpy": lambda: fn(a(), *consts)},
                                 rule="onednn", key=self._machine)
        return choice == "numpy"

    def _pool(self, node, step) -> bool:
        (x,) = step_reads(step)
        attrs = dict(node.attrs)
        if x not in self.nhwc or any(d != 1 for d in attrs["dilations"]):
            return False
        out_t = self.types[node.outputs[0]]
        # ceil_mode's overhang is more padding at the bottom/right (max ignores padding).
        kernel, strides = attrs["kernel_shape"], attrs["strides"] or (1, 1)
        x_t = self.nhwc[x]
        pads = list(attrs["pads"])
        for i in range(2):
            need = (out_t.shape[2 + i] - 1) * strides[i] + kernel[i]
            pads[2 + i] = max(pads[2 + i], need - x_t.shape[2 + i] - pads[i])
        try:
            pool = onednn.Pool(x_t.shape, out_t.shape[2:], kind="max", kernel_shape=kernel,
                               strides=strides, pads=pads)
        except KernelLibraryError:
            return False
        out = _out(step)
        self._emit(Step(UNARY, pool, x, out, None), node)
        self.nhwc[out] = out_t
        return True

    def _elementwise(self, node, step) -> bool:
        if get_op(node.op).family != "elementwise" and node.op != "fused_elementwise":
            return False
        if len(node.outputs) != 1:
            return False
        out_t = self.types[node.outputs[0]]
        args = step_reads(step)
        if not any(s in self.nhwc for s in args):
            return False
        for s, v in zip(args, node.inputs):
            if s in self.nhwc:
                if self.nhwc[s] != out_t:
                    return False
            elif self.types[v].shape != ():
                return False
        self._emit(step, node)
        self.nhwc[_out(step)] = out_t
        return True

    def run(self) -> int:
        stage = self.stage
        for step, node in zip(stage.steps, stage.step_nodes):
            if node is None:  # FREE: the NCHW copies die with their NHWC originals
                extra = tuple(self.nchw_copy[s] for s in step.a if s in self.nchw_copy)
                self._emit(step._replace(a=step.a + extra), None)
                continue
            if node.op in CONV_OPS and self._conv(node, step):
                self.moved += 1
                continue
            if node.op in MATMUL_OPS and self._matmul(node, step):
                self.moved += 1
                continue
            if node.op == "max_pool2d" and self._pool(node, step):
                self.moved += 1
                continue
            if self._elementwise(node, step):
                continue
            args = step_reads(step)
            if any(s in self.nhwc for s in args):
                step = _with_args(step, [self._nchw(s) for s in args])
            self._emit(step, node)
        if self.moved:
            stage.result_slots = tuple(self._nchw(s) for s in stage.out_slots)
            stage.steps, stage.step_nodes = self.steps, self.nodes
            stage.nhwc_slots = frozenset(self.nhwc)
        return self.moved


def lower_to_onednn(stage, types: Sequence[TensorType]) -> int:
    """Rewrites ``stage``'s steps to run its convolutions (and what lies between them) on
    NHWC values through oneDNN; returns how many ops moved (0: the stage is unchanged)."""
    if not onednn.available():
        return 0
    return _Rewrite(stage, types).run()
