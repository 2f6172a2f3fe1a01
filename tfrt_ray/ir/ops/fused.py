"""Fused ops, made by the fusion passes (`tfrt_ray.passes`): a group of elementwise ops
as one kernel call, and matmul / conv2d with their bias and activation.

``fused_elementwise`` holds its group as a sub-graph of ordinary nodes, its ``body``
attribute: the body's inputs are the node's inputs in order, its one output is the
node's result, and its nodes keep their names and source locations. Every body node's op
has a `Fusion` in its spec (`fusible_ops`), and every value it computes has the result's
dtype (f32 or f64). Backends run a body with the kernels they have for those ops (the
CPU writes each into a buffer of the result, `tfrt_ray.core.kernels.fused`) or export it
(ONNX Runtime); there is no second language for it.

The body's shapes are those the group had when it was fused; the node's result takes the
broadcast shape of its actual inputs (a batch split changes those), and its inputs must
keep the body's dtypes and ranks.
"""

from __future__ import annotations

from functools import lru_cache

from tfrt_ray.errors import OpAttributeError, ShapeError, TfrtRayError
from tfrt_ray.ir.graph import Graph
from tfrt_ray.ir.ops.batch_rules import batch_rule, elementwise, rows_of_first
from tfrt_ray.ir.ops.linalg import _matmul, _matmul_cost, matmul_batch
from tfrt_ray.ir.ops.nn import _conv2d, _conv_cost
from tfrt_ray.ir.ops.spec import Attr, Cost, broadcast_shapes, op, require_dtype
from tfrt_ray.ir.types import TensorType

FUSED_DTYPES = ("f32", "f64")


@lru_cache(maxsize=1)
def fusible_ops() -> dict[str, float]:
    """op -> flops per element, for every op whose spec has a `Fusion` (registered beside
    it, in the elementwise family): the ops a fused body may hold."""
    from tfrt_ray.ir.ops.spec import all_ops

    return {name: spec.fusion.flops for name, spec in all_ops().items() if spec.fusion}


@lru_cache(maxsize=1)
def fresh_dst_ops() -> frozenset[str]:
    """The fusible ops that read their source after the first write (never in place)."""
    from tfrt_ray.ir.ops.spec import all_ops

    return frozenset(n for n, s in all_ops().items() if s.fusion and s.fusion.fresh_dst)


ACTIVATIONS = ("none", "relu", "sigmoid", "tanh", "gelu", "gelu_tanh")


def _bad_body(msg: str) -> OpAttributeError:
    return OpAttributeError(
        f"body: {msg}",
        hint="a fused body is a graph of fusible ops (see tfrt_ray.ir.ops.fused) with one "
        "output; the fusion pass builds it (passes.fuse_elementwise)",
    )


@lru_cache(maxsize=512)
def check_body(body: Graph) -> TensorType:
    """Checks a ``fused_elementwise`` body (well formed, fusible ops only, one dtype);
    returns its result type. Raises OpAttributeError."""
    from tfrt_ray.ir.verifier import verify

    try:
        verify(body)
    except TfrtRayError as err:
        where = f"node '{err.node}': " if err.node else ""
        raise _bad_body(where + err.message) from None
    if len(body.outputs) != 1 or not body.nodes or body.nodes[-1].outputs != body.outputs:
        raise _bad_body(f"it has {len(body.outputs)} output(s) and {len(body.nodes)} "
                        "node(s); it needs one output, computed by its last node")
    fusible = fusible_ops()
    result = body.types[body.outputs[0]]
    for n in body.nodes:
        if n.op not in fusible:
            raise _bad_body(f"node '{n.name}': op '{n.op}' cannot be fused "
                            f"(fusible: {', '.join(sorted(fusible))})")
        t = body.types[n.outputs[0]]
        if t.dtype != result.dtype:
            raise _bad_body(f"node '{n.name}' computes {t.dtype}, but the result is "
                            f"{result.dtype}: every value in a body has the result's dtype")
    require_dtype(result, FUSED_DTYPES, "the result")
    return result


def _fused_elementwise_cost(ins, outs, attrs, moved):
    fusible = fusible_ops()
    return Cost(sum(fusible[n.op] for n in attrs["body"].nodes) * outs[0].numel, float(moved))


@op("fused_elementwise", ("*xs",), {"body": Attr("graph")}, family="fused",
    cost=_fused_elementwise_cost)
def _fused_elementwise(*xs: TensorType, body: Graph) -> TensorType:
    """A group of elementwise ops in one call: ``body`` (see the module doc) runs over
    the inputs, which broadcast together; the result has the body's dtype and the
    inputs' broadcast shape."""
    result = check_body(body)
    want = [body.types[v] for v in body.inputs]
    if len(want) != len(xs):
        raise ShapeError(f"the body reads {len(want)} input(s) but the op has {len(xs)}",
                         hint="pass one input per body input, in order")
    for i, (x, w) in enumerate(zip(xs, want, strict=True)):
        if x.dtype != w.dtype or x.rank != w.rank:
            raise ShapeError(f"input {i} is {x}, but the body reads a {w.rank}-d {w.dtype}",
                             hint="give the fused node inputs of its body's dtypes and ranks")
    return TensorType(result.dtype, broadcast_shapes(*(x.shape for x in xs)))


def _check_activation(activation: str, out: TensorType) -> None:
    if activation not in ACTIVATIONS:
        raise OpAttributeError(
            f"activation '{activation}' is unknown", hint=f"use one of {', '.join(ACTIVATIONS)}"
        )
    if activation != "none":
        require_dtype(out, FUSED_DTYPES, "the result")


_ACT_FLOPS = {"none": 0.0, "relu": 1.0, "sigmoid": 8.0, "tanh": 8.0, "gelu": 16.0}


def _act_flops(attrs, out: TensorType) -> float:
    return _ACT_FLOPS.get(attrs["activation"], 16.0) * out.numel


def _fused_matmul_cost(ins, outs, attrs, moved):
    base = _matmul_cost(ins, outs, attrs, moved)
    bias = outs[0].numel if len(ins) > 2 and ins[2] is not None else 0
    return Cost(base.flops + bias + _act_flops(attrs, outs[0]), base.bytes)


@op(
    "fused_matmul",
    ("a", "b", "bias?"),
    {"activation": Attr("str", "none")},
    family="fused",
    cost=_fused_matmul_cost,
)
def _fused_matmul(a, b, bias=None, *, activation) -> TensorType:
    """``activation(a @ b + bias)``: matmul (numpy semantics), then ``bias`` added in
    place (it must broadcast to the product's shape without growing it and have its
    dtype), then the activation in place (one of ACTIVATIONS)."""
    out = _matmul(a, b)
    if bias is not None:
        if bias.dtype != out.dtype:
            raise ShapeError(
                f"bias has dtype {bias.dtype} but the product is {out.dtype}",
                hint="cast the bias to the product's dtype",
            )
        if broadcast_shapes(out.shape, bias.shape) != tuple(out.shape):
            raise ShapeError(
                f"bias of shape {tuple(bias.shape)} does not broadcast to the product's "
                f"shape {tuple(out.shape)} without growing it",
                hint="give bias the product's shape or a trailing part of it",
            )
    _check_activation(activation, out)
    return out


def _fused_conv2d_cost(ins, outs, attrs, moved):
    base = _conv_cost(ins, outs, attrs, moved)
    return Cost(base.flops + _act_flops(attrs, outs[0]), base.bytes)


@op(
    "fused_conv2d",
    ("x", "w", "b?"),
    {
        "strides": Attr("ints", (1, 1)),
        "pads": Attr("ints", (0, 0, 0, 0)),
        "dilations": Attr("ints", (1, 1)),
        "group": Attr("int", 1),
        "activation": Attr("str", "none"),
    },
    family="fused",
    cost=_fused_conv2d_cost,
)
def _fused_conv2d(x, w, b=None, *, strides, pads, dilations, group, activation) -> TensorType:
    """``activation(conv2d(x, w, b))`` (see conv2d), written into one output buffer:
    the bias and the activation are applied in place."""
    out = _conv2d(x, w, b, strides=strides, pads=pads, dilations=dilations, group=group)
    _check_activation(activation, out)
    return out


# ---- batch-axis rules (`tfrt_ray.ir.ops.batch_rules`) ---------------------------------

batch_rule("fused_elementwise")(elementwise)
batch_rule("fused_matmul")(matmul_batch)
batch_rule("fused_conv2d")(rows_of_first)
