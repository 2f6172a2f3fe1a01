"""Emulated ONNX number formats (bfloat16, float8, float4, 4- and 2-bit ints) through
import: a value of such a type is held in its carrier dtype and tagged with its format
(`Value.fmt`); each ONNX node computing from tagged inputs has its outputs rounded back
to the format, as ONNX computes in that type. Tables: ``tensors.EMULATED``."""

from __future__ import annotations

from tfrt_ray.frontends.onnx.context import NodeContext, Value
from tfrt_ray.frontends.onnx.tensors import CARRIERS

# Ops whose converters set the emulated format of their outputs themselves.
FORMAT_AWARE = {"Cast", "CastLike", "QuantizeLinear", "DequantizeLinear", "BitCast"}
# Ops that only move or select values: their outputs hold their inputs' format exactly.
EXACT = {
    "Identity", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten", "Concat", "Split",
    "Slice", "Gather", "GatherElements", "GatherND", "Expand", "Tile", "Pad", "Where",
    "Max", "Min", "ReduceMax", "ReduceMin", "Relu", "Neg", "Abs", "Compress", "TopK",
    "ReverseSequence", "Unique", "ScatterElements", "ScatterND", "Trilu", "Dropout",
    "DepthToSpace", "SpaceToDepth", "MaxPool", "GlobalMaxPool", "If", "Loop", "Scan",
}


def tag_formats(ctx: NodeContext, outs: list) -> list:
    """Outputs computed from emulated-format inputs hold that format: they are rounded
    to it (data movement ops are exact, and are only tagged). Ops that choose their
    output type themselves (Cast, ...) are left as their converter made them."""
    fmts = [v.fmt for v in ctx.inputs if isinstance(v, Value) and v.fmt]
    if not fmts or ctx.op_type in FORMAT_AWARE:
        return outs
    fmt = fmts[0]
    result = []
    for v in outs:
        if isinstance(v, Value) and v.fmt is None and v.dtype == CARRIERS[fmt] and not any(
            v is x for x in ctx.inputs
        ):
            if ctx.op_type in EXACT:
                v.fmt = fmt
            else:
                v = ctx.to_format(v, fmt, saturate=False)
        result.append(v)
    return result
