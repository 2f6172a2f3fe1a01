"""ONNX export of the fused ops the fusion passes make (`tfrt_ray.ir.ops.fused`): a
``fused_elementwise`` program becomes its chain of ONNX ops again, ``fused_matmul`` /
``fused_conv2d`` their MatMul / Conv, bias and activation. ONNX Runtime fuses them its own
way."""

from __future__ import annotations

import numpy as np

from device_actors.ort.onnx_export import UNARY, _opt, exporter, gelu_expr
from tfrt_ray.errors import KernelNotFoundError

_BINARY = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "maximum": "Max",
           "minimum": "Min", "pow": "Pow"}
_ACTIVATION = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh"}


def _activate(ctx, y: str, activation: str, t: np.dtype, outs) -> None:
    if activation == "none":
        ctx.emit("Identity", [y], outs)
    elif activation in ("gelu", "gelu_tanh"):
        gelu_expr(ctx, y, t, "tanh" if activation == "gelu_tanh" else "none", outs)
    else:
        ctx.emit(_ACTIVATION[activation], [y], outs)


def _step(ctx, node, op: str, params: tuple[str, ...], args: list[str], t: np.dtype,
          out=None) -> str:
    if op in _BINARY:
        return ctx.emit(_BINARY[op], args, out)[0]
    if op == "gelu":
        return gelu_expr(ctx, args[0], t, params[0], out)
    if op == "leaky_relu":
        return ctx.emit("LeakyRelu", args, out, alpha=float(params[0]))[0]
    if op == "clip":
        bounds = ["" if p == "none" else ctx.const(np.asarray(float(p), t), "clip")
                  for p in params]
        return ctx.emit("Clip", [args[0], *bounds], out)[0]
    if op in UNARY:
        return ctx.emit(UNARY[op], args, out)[0]
    # numpy's mod is floored; ONNX's float Mod is C's fmod: no exact match.
    raise KernelNotFoundError(f"'{op}' in a fused program has no ONNX export", op=node.op,
                              node=node.name)


@exporter("fused_elementwise")
def _fused_elementwise(ctx, node, ins, outs):
    from tfrt_ray.ir.ops.fused import parse_program

    prog = parse_program(node.attr("program"))
    t = ctx.out_type().np_dtype
    xs = [ctx.cast(x, ctx.in_dtype(i), t) for i, x in enumerate(ins)]
    regs: dict[int, tuple[str, frozenset]] = {}  # buffer -> (ONNX name, inputs it reads)
    for instr in prog.instrs:
        args, reads = [], frozenset()
        for kind, i in instr.srcs:
            name, used = (xs[i], frozenset({i})) if kind == "x" else regs[i]
            args.append(name)
            reads |= used
        regs[instr.dst] = (_step(ctx, node, instr.op, instr.params, args, t), reads)
    result, reads = regs[prog.result]
    if len(reads) < len(xs):  # the result has the broadcast shape of every input
        shape = ctx.out_type().shape
        if not all(type(d) is int for d in shape):
            raise KernelNotFoundError("a fused program that ignores an input of a dynamic "
                                      "shape", op=node.op, node=node.name)
        result = ctx.emit("Expand", [result, ctx.ints(shape, "shape")])[0]
    ctx.emit("Identity", [result], outs)


@exporter("fused_matmul")
def _fused_matmul(ctx, node, ins, outs):
    t = ctx.out_type().np_dtype
    args = [ctx.cast(x, ctx.in_dtype(i), t) for i, x in enumerate(ins)]
    y = ctx.emit("MatMul", args[:2])[0]
    if len(args) > 2:
        y = ctx.emit("Add", [y, args[2]])[0]
    _activate(ctx, y, node.attr("activation"), t, outs)


@exporter("fused_conv2d")
def _fused_conv2d(ctx, node, ins, outs):
    a = node.attr_dict
    w = ctx.types[node.inputs[1]]
    y = ctx.emit("Conv", ins, kernel_shape=[int(d) for d in w.shape[2:]],
                 strides=_opt(a["strides"]), pads=_opt(a["pads"]),
                 dilations=_opt(a["dilations"]), group=int(a["group"]))[0]
    _activate(ctx, y, a["activation"], ctx.out_type().np_dtype, outs)
