"""ONNX export of the fused ops the fusion passes make (`tfrt_ray.ir.ops.fused`): a
``fused_elementwise`` body becomes its own nodes' ONNX ops again, ``fused_matmul`` /
``fused_conv2d`` their MatMul / Conv, bias and activation. ONNX Runtime fuses them its own
way."""

from __future__ import annotations

import numpy as np

from device_actors.ort.onnx_export import EXPORTERS, _opt, exporter, gelu_expr
from tfrt_ray.errors import KernelNotFoundError

_ACTIVATION = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh"}


def _activate(ctx, y: str, activation: str, t: np.dtype, outs) -> None:
    if activation == "none":
        ctx.emit("Identity", [y], outs)
    elif activation in ("gelu", "gelu_tanh"):
        gelu_expr(ctx, y, t, "tanh" if activation == "gelu_tanh" else "none", outs)
    else:
        ctx.emit(_ACTIVATION[activation], [y], outs)


@exporter("fused_elementwise")
def _fused_elementwise(ctx, node, ins, outs):
    # The body's nodes, each through its own exporter, inline in the stage's graph.
    body = node.attr("body")
    outer_types, outer_node = ctx.types, node
    names = {v: x for v, x in zip(body.inputs, ins, strict=True)}
    ctx.types = body.types
    try:
        for n in body.nodes:
            fn = EXPORTERS.get(n.op)
            if fn is None:
                # numpy's mod is floored; ONNX's float Mod is C's fmod: no exact match.
                raise KernelNotFoundError(f"'{n.op}' in a fused body has no ONNX export",
                                          op=outer_node.op, node=n.name, loc=n.loc)
            ctx.node = n
            last = n is body.nodes[-1]
            names[n.outputs[0]] = outs[0] if last else ctx.fresh(n.op)
            fn(ctx, n, [names[v] for v in n.inputs], [names[n.outputs[0]]])
    finally:
        ctx.types, ctx.node = outer_types, outer_node


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
