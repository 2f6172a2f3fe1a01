"""Fused ops, made by the fusion passes (`tfrt_ray.passes`): a chain of elementwise ops as
one kernel call, and matmul / conv2d with their bias and activation.

``fused_elementwise`` carries its program as text, one instruction per ``;``::

    t0 = mul(x0, x1); t0 = erf(t0); t1 = gelu[tanh](x0); t0 = add(t0, t1)

``x<i>`` is the i-th input (read only), ``t<j>`` a buffer of the result's shape and dtype;
the result is the last instruction's destination. Parameters go in brackets: ``gelu[tanh]``,
``leaky_relu[0.1]``, ``clip[0.0, none]``. The ops a program may use are those whose spec
has a `Fusion` (`program_ops`); those whose destination must differ from their source (they
read it after the first write) say so there (`fresh_dst_ops`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

from tfrt_ray.errors import OpAttributeError, ShapeError
from tfrt_ray.ir.ops.batch_rules import batch_rule, elementwise, rows_of_first
from tfrt_ray.ir.ops.linalg import _matmul, _matmul_cost, matmul_batch
from tfrt_ray.ir.ops.nn import _conv2d, _conv_cost
from tfrt_ray.ir.ops.spec import Attr, Cost, broadcast_shapes, op, require_dtype
from tfrt_ray.ir.types import TensorType

FUSED_DTYPES = ("f32", "f64")



@lru_cache(maxsize=1)
def program_ops() -> dict[str, tuple[int, int, float]]:
    """op -> (number of sources, number of parameters, flops per element), for every op
    whose spec has a `Fusion` (registered beside it, in the elementwise family)."""
    from tfrt_ray.ir.ops.spec import all_ops

    return {name: (len(spec.inputs), len(spec.fusion.params), spec.fusion.flops)
            for name, spec in all_ops().items() if spec.fusion is not None}


@lru_cache(maxsize=1)
def fresh_dst_ops() -> frozenset[str]:
    """The program ops that read their source after the first write (never in place)."""
    from tfrt_ray.ir.ops.spec import all_ops

    return frozenset(n for n, s in all_ops().items() if s.fusion and s.fusion.fresh_dst)


ACTIVATIONS = ("none", "relu", "sigmoid", "tanh", "gelu", "gelu_tanh")

_INSTR = re.compile(r"\s*t(\d+)\s*=\s*([a-z_]+)\s*(?:\[([^\]]*)\])?\s*\(([^)]*)\)\s*\Z")
_REG = re.compile(r"\s*([xt])(\d+)\s*\Z")


class Instr(NamedTuple):
    op: str
    params: tuple[str, ...]  # as written; the kernel converts them
    srcs: tuple[tuple[str, int], ...]  # ("x", i) an input, ("t", j) a buffer
    dst: int


class Program(NamedTuple):
    instrs: tuple[Instr, ...]
    n_inputs: int  # highest input index used + 1
    n_buffers: int
    result: int  # the buffer holding the result


def _bad(msg: str) -> OpAttributeError:
    return OpAttributeError(
        f"program: {msg}",
        hint="write instructions as 't<j> = op[params](x<i> | t<j>, ...)' separated by ';'",
    )


@lru_cache(maxsize=512)
def parse_program(text: str) -> Program:
    """Parses and checks a ``fused_elementwise`` program; raises OpAttributeError."""
    instrs, written = [], set()
    n_inputs = 0
    for part in filter(str.strip, text.split(";")):
        m = _INSTR.match(part)
        if m is None:
            raise _bad(f"cannot read instruction {part.strip()!r}")
        dst, name, params, args = int(m[1]), m[2], m[3], m[4]
        fusible = program_ops()
        if name not in fusible:
            raise _bad(f"op '{name}' cannot be fused (fusible: {', '.join(sorted(fusible))})")
        arity, n_params, _ = fusible[name]
        param_list = tuple(p.strip() for p in params.split(",")) if params else ()
        srcs = []
        for a in args.split(","):
            r = _REG.match(a)
            if r is None:
                raise _bad(f"{name}: {a.strip()!r} is not a register (x<i> or t<j>)")
            kind, i = r[1], int(r[2])
            if kind == "t" and i not in written:
                raise _bad(f"{name} reads t{i} before any instruction writes it")
            n_inputs = max(n_inputs, i + 1) if kind == "x" else n_inputs
            srcs.append((kind, i))
        if len(srcs) != arity or len(param_list) != n_params:
            raise _bad(
                f"{name} takes {arity} source(s) and {n_params} parameter(s), "
                f"got {len(srcs)} and {len(param_list)}"
            )
        if name in fresh_dst_ops() and ("t", dst) in srcs:
            raise _bad(f"{name} must not write its own source t{dst}")
        written.add(dst)
        instrs.append(Instr(name, param_list, tuple(srcs), dst))
    if not instrs:
        raise _bad("it is empty")
    return Program(tuple(instrs), n_inputs, max(written) + 1, instrs[-1].dst)


def _fused_elementwise_cost(ins, outs, attrs, moved):
    flops = sum(program_ops()[i.op][2] for i in parse_program(attrs["program"]).instrs)
    return Cost(flops * outs[0].numel, float(moved))


@op(
    "fused_elementwise",
    ("*xs",),
    {"program": Attr("str"), "dtype": Attr("dtype")},
    family="fused",
    cost=_fused_elementwise_cost,
)
def _fused_elementwise(*xs: TensorType, program: str, dtype: str) -> TensorType:
    """A chain (or small DAG) of elementwise ops in one call: ``program`` (see the module
    doc) runs over the inputs, which broadcast together, writing only into buffers of the
    result's shape and ``dtype`` (f32 or f64); the first buffer is the one returned."""
    require_dtype(TensorType(dtype, ()), FUSED_DTYPES, "the result")
    prog = parse_program(program)
    if prog.n_inputs != len(xs):
        raise ShapeError(
            f"the program reads {prog.n_inputs} input(s) but the op has {len(xs)}",
            hint="pass one input per x<i> the program reads",
        )
    return TensorType(dtype, broadcast_shapes(*(x.shape for x in xs)))


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
