"""ONNX export of the nn family (NCHW): convolution, pooling, normalizations, softmax,
LRN. See `device_actors.ort.onnx_export`."""

from __future__ import annotations

from device_actors.ort.onnx_export import _cast_all, _opt, exporter
from tfrt_ray.errors import KernelNotFoundError


@exporter("conv2d", "conv")
def _conv(ctx, node, ins, outs):
    a = node.attr_dict
    w = ctx.types[node.inputs[1]]
    ctx.emit("Conv", ins, outs, kernel_shape=[int(d) for d in w.shape[2:]],
             strides=_opt(a["strides"]), pads=_opt(a["pads"]),
             dilations=_opt(a["dilations"]), group=int(a["group"]))


@exporter("max_pool2d", "max_pool_nd")
def _max_pool(ctx, node, ins, outs):
    a = node.attr_dict
    ctx.emit("MaxPool", ins, outs, kernel_shape=_opt(a["kernel_shape"]),
             strides=_opt(a["strides"]), pads=_opt(a["pads"]),
             dilations=_opt(a["dilations"]), ceil_mode=int(a["ceil_mode"]))


@exporter("avg_pool2d", "avg_pool_nd")
def _avg_pool(ctx, node, ins, outs):
    a = node.attr_dict
    if any(d != 1 for d in a.get("dilations") or ()):
        raise KernelNotFoundError("AveragePool with dilations needs ONNX opset 19",
                                  op=node.op, node=node.name)
    ctx.emit("AveragePool", ins, outs, kernel_shape=_opt(a["kernel_shape"]),
             strides=_opt(a["strides"]), pads=_opt(a["pads"]), ceil_mode=int(a["ceil_mode"]),
             count_include_pad=int(a["count_include_pad"]))


@exporter("global_avg_pool", "global_max_pool")
def _global_pool(ctx, node, ins, outs):
    ctx.emit("GlobalAveragePool" if node.op == "global_avg_pool" else "GlobalMaxPool",
             ins, outs)


@exporter("batch_norm")
def _batch_norm(ctx, node, ins, outs):
    args = _cast_all(ctx, ins, ctx.in_dtype(0))
    ctx.emit("BatchNormalization", args, outs, epsilon=float(node.attr("epsilon")))


@exporter("layer_norm")
def _layer_norm(ctx, node, ins, outs):
    args = _cast_all(ctx, ins, ctx.in_dtype(0))
    ctx.emit("LayerNormalization", args, outs, axis=int(node.attr("axis")),
             epsilon=float(node.attr("epsilon")), stash_type=1)


@exporter("softmax", "log_softmax")
def _softmax(ctx, node, ins, outs):
    op_type = "Softmax" if node.op == "softmax" else "LogSoftmax"
    ctx.emit(op_type, ins, outs, axis=int(node.attr("axis")))


@exporter("lrn")
def _lrn(ctx, node, ins, outs):
    a = node.attr_dict
    if a["size"] % 2 == 0:
        raise KernelNotFoundError("ONNX Runtime's LRN takes odd sizes only", op=node.op,
                                  node=node.name)
    ctx.emit("LRN", ins, outs, size=int(a["size"]), alpha=float(a["alpha"]),
             beta=float(a["beta"]), bias=float(a["bias"]))
