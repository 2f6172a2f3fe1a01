"""tfrt-ray IR nodes (a stage) -> an ONNX ModelProto (opset 17).

Each tfrt-ray op maps back to one or a few ONNX ops; input-less nodes (constants, ranges,
filled tensors) are evaluated once with their reference kernel and become initializers, as
do the shape-like attributes ONNX takes as inputs (reshape's shape, slice's bounds, ...).
Operands are cast to the dtype tfrt-ray's rule gives (numpy promotion) where ONNX needs one
type. ONNX node names are the tfrt-ray node names, so an ORT error names the node.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import TYPE_CHECKING

import numpy as np

from tfrt_ray.core.kernels import get_kernel
from tfrt_ray.errors import KernelNotFoundError
from tfrt_ray.ir.graph import Node
from tfrt_ray.ir.types import TensorType

if TYPE_CHECKING:
    import onnx

OPSET = 17
IR_VERSION = 8

UNARY = {
    "exp": "Exp", "log": "Log", "sqrt": "Sqrt", "tanh": "Tanh", "sigmoid": "Sigmoid",
    "erf": "Erf", "sin": "Sin", "cos": "Cos", "tan": "Tan", "asin": "Asin", "acos": "Acos",
    "atan": "Atan", "sinh": "Sinh", "cosh": "Cosh", "asinh": "Asinh", "acosh": "Acosh",
    "atanh": "Atanh", "reciprocal": "Reciprocal", "floor": "Floor", "ceil": "Ceil",
    "round": "Round", "neg": "Neg", "abs": "Abs", "relu": "Relu", "sign": "Sign",
    "logical_not": "Not", "identity": "Identity", "dropout": "Identity",
}
ARITH = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "pow": "Pow",
         "maximum": "Max", "minimum": "Min"}
COMPARE = {"equal": "Equal", "less": "Less", "less_equal": "LessOrEqual", "greater": "Greater",
           "greater_equal": "GreaterOrEqual", "logical_and": "And", "logical_or": "Or",
           "logical_xor": "Xor"}
REDUCE = {"sum": "ReduceSum", "prod": "ReduceProd", "mean": "ReduceMean", "max": "ReduceMax",
          "min": "ReduceMin"}


@cache
def _onnx():
    """The onnx package, imported when a stage is first exported: it costs about a second
    of start-up, and loading the "ort" device type only needs the op table."""
    import onnx

    return onnx


def elem_type(t: TensorType) -> int:
    return _onnx().helper.np_dtype_to_tensor_dtype(t.np_dtype)


def value_info(name: str, t: TensorType) -> onnx.ValueInfoProto:
    dims = [d if type(d) is int else (None if d == "?" else str(d)) for d in t.shape]
    return _onnx().helper.make_tensor_value_info(name, elem_type(t), dims)


class _Ctx:
    """Builds the ONNX graph of one stage."""

    def __init__(self, types: Sequence[TensorType]) -> None:
        self.types = types
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.init_names: set[str] = set()
        self.node: Node | None = None
        self.node_names: set[str] = set()
        self._n = 0

    def fresh(self, hint: str) -> str:
        self._n += 1
        return f"_{hint}_{self._n}"

    def const(self, array, hint: str = "c") -> str:
        name = self.fresh(hint)
        self.inits.append(_onnx().numpy_helper.from_array(np.asarray(array), name))
        self.init_names.add(name)
        return name

    def ints(self, values, hint: str = "i") -> str:
        return self.const(np.asarray(values, np.int64).reshape(-1), hint)

    def emit(self, op_type: str, inputs: Sequence[str], outputs: Sequence[str] | None = None,
             **attrs) -> list[str]:
        outputs = list(outputs) if outputs is not None else [self.fresh(op_type.lower())]
        name = self.node.name
        if name in self.node_names:
            name = self.fresh(name)
        self.node_names.add(name)
        attrs = {k: v for k, v in attrs.items() if v is not None}
        make_node = _onnx().helper.make_node
        self.nodes.append(make_node(op_type, list(inputs), outputs, name=name, **attrs))
        return outputs

    def cast(self, name: str, have: np.dtype, want: np.dtype) -> str:
        if np.dtype(have) == np.dtype(want):
            return name
        to = _onnx().helper.np_dtype_to_tensor_dtype(np.dtype(want))
        return self.emit("Cast", [name], to=to)[0]

    def in_dtype(self, i: int) -> np.dtype:
        return self.types[self.node.inputs[i]].np_dtype

    def out_type(self, i: int = 0) -> TensorType:
        return self.types[self.node.outputs[i]]


Exporter = Callable[[_Ctx, Node, list[str], list[str]], None]
EXPORTERS: dict[str, Exporter] = {}


def exporter(*ops: str) -> Callable[[Exporter], Exporter]:
    def register(fn: Exporter) -> Exporter:
        for o in ops:
            EXPORTERS[o] = fn
        return fn

    return register


def _cast_all(ctx: _Ctx, ins: list[str], dtype: np.dtype) -> list[str]:
    return [ctx.cast(x, ctx.in_dtype(i), dtype) for i, x in enumerate(ins)]


@exporter(*UNARY)
def _unary(ctx, node, ins, outs):
    ctx.emit(UNARY[node.op], ins, outs)


@exporter(*ARITH)
def _arith(ctx, node, ins, outs):
    ctx.emit(ARITH[node.op], _cast_all(ctx, ins, ctx.out_type().np_dtype), outs)


@exporter(*COMPARE, "not_equal")
def _compare(ctx, node, ins, outs):
    common = np.result_type(*(ctx.in_dtype(i) for i in range(len(ins))))
    args = _cast_all(ctx, ins, common)
    if node.op == "not_equal":
        ctx.emit("Not", ctx.emit("Equal", args), outs)
    else:
        ctx.emit(COMPARE[node.op], args, outs)


@exporter("fmod")
def _fmod(ctx, node, ins, outs):
    ctx.emit("Mod", _cast_all(ctx, ins, ctx.out_type().np_dtype), outs, fmod=1)


@exporter("where")
def _where(ctx, node, ins, outs):
    dt = ctx.out_type().np_dtype
    cond = ctx.cast(ins[0], ctx.in_dtype(0), np.bool_)
    x, y = (ctx.cast(ins[i], ctx.in_dtype(i), dt) for i in (1, 2))
    ctx.emit("Where", [cond, x, y], outs)


@exporter("clip")
def _clip(ctx, node, ins, outs):
    t = ctx.in_dtype(0)
    lo, hi = node.attr("min"), node.attr("max")
    bounds = ["" if v is None else ctx.const(np.asarray(v, t), "clip") for v in (lo, hi)]
    ctx.emit("Clip", [ins[0], *bounds], outs)


@exporter("cast")
def _cast(ctx, node, ins, outs):
    ctx.emit("Cast", ins, outs, to=elem_type(ctx.out_type()))


@exporter("leaky_relu")
def _leaky_relu(ctx, node, ins, outs):
    ctx.emit("LeakyRelu", ins, outs, alpha=float(node.attr("alpha")))


def gelu_expr(ctx: _Ctx, x: str, t: np.dtype, approximate: str = "none",
              out: Sequence[str] | None = None) -> str:
    """gelu(x) (erf form, or the tanh approximation) as ONNX nodes; ORT fuses the pattern."""

    def c(v):
        return ctx.const(np.asarray(v, t), "gelu")

    if approximate == "tanh":
        cube = ctx.emit("Mul", [ctx.emit("Mul", [x, x])[0], x])[0]
        inner = ctx.emit("Add", [x, ctx.emit("Mul", [cube, c(0.044715)])[0]])[0]
        g = ctx.emit("Tanh", ctx.emit("Mul", [inner, c(np.sqrt(2.0 / np.pi))]))[0]
    else:
        g = ctx.emit("Erf", ctx.emit("Mul", [x, c(1.0 / np.sqrt(2.0))]))[0]
    half_x = ctx.emit("Mul", [x, c(0.5)])[0]
    return ctx.emit("Mul", [half_x, ctx.emit("Add", [g, c(1.0)])[0]], out)[0]


@exporter("gelu")
def _gelu(ctx, node, ins, outs):
    gelu_expr(ctx, ins[0], ctx.in_dtype(0), node.attr("approximate"), outs)


@exporter("matmul")
def _matmul(ctx, node, ins, outs):
    ctx.emit("MatMul", _cast_all(ctx, ins, ctx.out_type().np_dtype), outs)


@exporter("gemm")
def _gemm(ctx, node, ins, outs):
    a = node.attr_dict
    ctx.emit("Gemm", _cast_all(ctx, ins, ctx.out_type().np_dtype), outs,
             alpha=float(a["alpha"]), beta=float(a["beta"]),
             transA=int(a["trans_a"]), transB=int(a["trans_b"]))


def _opt(v):
    return None if v is None else [int(x) for x in v]


@exporter(*REDUCE)
def _reduce(ctx, node, ins, outs):
    axes, keep = node.attr("axes"), int(node.attr("keepdims"))
    shape = ctx.types[node.inputs[0]].shape
    reduced = range(len(shape)) if axes is None else axes
    if node.op == "mean" and any(shape[a] == 0 for a in reduced):
        raise KernelNotFoundError("ONNX ReduceMean of nothing is 0, not nan", op=node.op,
                                  node=node.name)
    x = ctx.cast(ins[0], ctx.in_dtype(0), ctx.out_type().np_dtype)
    if axes is not None and len(axes) == 0:  # numpy: reduce over no axis
        ctx.emit("Identity", [x], outs)
    elif node.op == "sum":  # opset 13+: axes is an input
        ctx.emit("ReduceSum", [x] + ([] if axes is None else [ctx.ints(axes)]), outs,
                 keepdims=keep)
    else:
        ctx.emit(REDUCE[node.op], [x], outs, axes=_opt(axes), keepdims=keep)


@exporter("argmax", "argmin")
def _arg(ctx, node, ins, outs):
    ctx.emit("ArgMax" if node.op == "argmax" else "ArgMin", ins, outs,
             axis=int(node.attr("axis")), keepdims=int(node.attr("keepdims")))


@exporter("reshape")
def _reshape(ctx, node, ins, outs):
    ctx.emit("Reshape", [ins[0], ctx.ints(node.attr("shape"), "shape")], outs)


@exporter("transpose")
def _transpose(ctx, node, ins, outs):
    perm, rank = node.attr("perm"), ctx.types[node.inputs[0]].rank
    ctx.emit("Transpose", ins, outs, perm=None if perm is None else [p % rank for p in perm])


@exporter("squeeze", "unsqueeze")
def _squeeze(ctx, node, ins, outs):
    axes = node.attr("axes")
    extra = [] if axes is None else [ctx.ints(axes, "axes")]
    ctx.emit("Squeeze" if node.op == "squeeze" else "Unsqueeze", [ins[0], *extra], outs)


@exporter("flatten")
def _flatten(ctx, node, ins, outs):
    ctx.emit("Flatten", ins, outs, axis=int(node.attr("axis")))


@exporter("concat")
def _concat(ctx, node, ins, outs):
    ctx.emit("Concat", _cast_all(ctx, ins, ctx.out_type().np_dtype), outs,
             axis=int(node.attr("axis")))


@exporter("split")
def _split(ctx, node, ins, outs):
    ctx.emit("Split", [ins[0], ctx.ints(node.attr("sizes"), "split")], outs,
             axis=int(node.attr("axis")))


@exporter("slice")
def _slice(ctx, node, ins, outs):
    a = node.attr_dict
    args = [ins[0], ctx.ints(a["starts"]), ctx.ints(a["ends"])]
    if a["axes"] is not None or a["steps"] is not None:
        n = len(a["starts"])
        args.append(ctx.ints(range(n) if a["axes"] is None else a["axes"]))
        if a["steps"] is not None:
            args.append(ctx.ints(a["steps"]))
    ctx.emit("Slice", args, outs)


@exporter("gather")
def _gather(ctx, node, ins, outs):
    idx = ins[1]
    if ctx.in_dtype(1) not in (np.dtype(np.int32), np.dtype(np.int64)):
        idx = ctx.cast(idx, ctx.in_dtype(1), np.int64)
    ctx.emit("Gather", [ins[0], idx], outs, axis=int(node.attr("axis")))


@exporter("expand", "tile")
def _expand(ctx, node, ins, outs):
    key = "shape" if node.op == "expand" else "repeats"
    ctx.emit(node.op.capitalize(), [ins[0], ctx.ints(node.attr(key), key)], outs)


@exporter("pad")
def _pad(ctx, node, ins, outs):
    a = node.attr_dict
    if a["mode"] not in ("constant", "reflect", "edge"):
        raise KernelNotFoundError(f"pad mode '{a['mode']}' needs ONNX opset 19",
                                  op=node.op, node=node.name)
    value = ctx.const(np.asarray(a["value"], ctx.in_dtype(0)), "pad_value")
    ctx.emit("Pad", [ins[0], ctx.ints(a["pads"], "pads"), value], outs, mode=a["mode"])


@exporter("shape")
def _shape(ctx, node, ins, outs):
    ctx.emit("Shape", ins, outs)


@exporter("einsum")
def _einsum(ctx, node, ins, outs):
    ctx.emit("Einsum", _cast_all(ctx, ins, ctx.out_type().np_dtype), outs,
             equation=node.attr("equation"))


@exporter("cumsum")
def _cumsum(ctx, node, ins, outs):
    a = node.attr_dict
    ctx.emit("CumSum", [ins[0], ctx.ints([a["axis"]], "axis")], outs,
             exclusive=int(a["exclusive"]), reverse=int(a["reverse"]))


# The nn and fused families' exporters register themselves into EXPORTERS.
from device_actors.ort import onnx_export_fused, onnx_export_nn  # noqa: E402, F401

SUPPORTED_OPS = frozenset(EXPORTERS) | {"constant", "constant_of_shape", "range"}


def export_stage(nodes: Sequence[Node], types: Sequence[TensorType], inputs: Sequence[int],
                 outputs: Sequence[int], name: str = "stage") -> tuple[onnx.ModelProto,
                                                                       list[str], list[str]]:
    """The ONNX model of a stage; also its input and output names, in the stage's order.

    Raises KernelNotFoundError (naming the node) for an op it cannot export.
    """
    ctx = _Ctx(types)
    for n in nodes:
        ctx.node = n
        outs = [f"v{v}" for v in n.outputs]
        if not n.inputs:  # evaluated once, here: an initializer
            value = get_kernel(n.op, "cpu")(**dict(n.attrs))
            ctx.inits.append(_onnx().numpy_helper.from_array(np.asarray(value), outs[0]))
            ctx.init_names.add(outs[0])
        else:
            fn = EXPORTERS.get(n.op)
            if fn is None:
                raise KernelNotFoundError(
                    f"op '{n.op}' has no ONNX export", op=n.op, node=n.name, loc=n.loc,
                    hint="place it on a device type that has a kernel for it")
            fn(ctx, n, [f"v{v}" for v in n.inputs], outs)
    in_names = [f"v{v}" for v in inputs]
    out_names: list[str] = []
    for k, v in enumerate(outputs):
        name_v = f"v{v}"
        if name_v in in_names or name_v in ctx.init_names or name_v in out_names:
            ctx.node = Node("identity", (v,), (v,), name=f"output_{k}")
            name_v = ctx.emit("Identity", [name_v], [f"out{k}"])[0]
        out_names.append(name_v)
    helper = _onnx().helper
    graph = helper.make_graph(
        ctx.nodes, name,
        [value_info(f"v{v}", types[v]) for v in inputs],
        [value_info(out_names[k], types[v]) for k, v in enumerate(outputs)],
        initializer=ctx.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="tfrt-ray")
    model.ir_version = IR_VERSION
    return model, in_names, out_names

