"""Image ONNX ops: Resize (and Upsample), GridSample, AffineGrid, RoiAlign, Col2Im,
MaxUnpool."""

from __future__ import annotations

import numpy as np

from tfrt_ray.errors import ShapeError
from tfrt_ray.frontends.onnx.context import NodeContext, Value
from tfrt_ray.frontends.onnx.registry import converter


def _resolve(ctx: NodeContext, shape, scales, sizes, axes, policy):
    """Full-rank (sizes, scales) from Resize's inputs (ONNX's rules)."""
    r = len(shape)
    axes = list(range(r)) if axes is None else [a % r for a in axes]
    if sizes is not None and len(sizes):
        out = list(shape)
        for i, a in enumerate(axes):
            out[a] = int(sizes[i])
        full = [out[i] / shape[i] if shape[i] else 1.0 for i in range(r)]
        if policy in ("not_larger", "not_smaller"):
            pick = min if policy == "not_larger" else max
            s = pick(full[a] for a in axes)
            full = [s if i in axes else 1.0 for i in range(r)]
            out = [int(s * shape[i] + 0.5) if i in axes else shape[i] for i in range(r)]
        return out, full
    if scales is None or not len(scales):
        raise ctx.error("Resize needs scales or sizes", ShapeError)
    full = [1.0] * r
    for i, a in enumerate(axes):
        full[a] = float(scales[i])
    return [int(full[i] * shape[i]) for i in range(r)], full


@converter("Resize", "Upsample")
def _resize(ctx: NodeContext) -> Value:
    x = ctx.input(0)
    shape = ctx.static_shape(x)
    r = len(shape)
    mode = ctx.attr("mode", "nearest")
    attrs = {}
    roi = None
    if ctx.op_type == "Upsample" or ctx.opset < 11:
        scales = ctx.attr("scales") if ctx.opset < 9 else ctx.const(1, "scales")
        sizes = None
        attrs["coordinate_transformation_mode"] = "asymmetric"
        attrs["nearest_mode"] = "floor"
        mode = "linear" if mode in ("linear", "bilinear") else mode
        axes = None
    else:
        roi_in = ctx.const(1, "roi")
        scales, sizes = ctx.const(2, "scales"), ctx.const(3, "sizes")
        axes = ctx.attr("axes")
        attrs["coordinate_transformation_mode"] = ctx.attr(
            "coordinate_transformation_mode", "half_pixel"
        )
        attrs["nearest_mode"] = ctx.attr("nearest_mode", "round_prefer_floor")
        attrs["cubic_coeff_a"] = ctx.attr("cubic_coeff_a", -0.75)
        attrs["exclude_outside"] = bool(ctx.attr("exclude_outside", 0))
        attrs["extrapolation_value"] = ctx.attr("extrapolation_value", 0.0)
        attrs["antialias"] = bool(ctx.attr("antialias", 0))
        if roi_in is not None and roi_in.size:
            roi_in = [float(v) for v in roi_in.reshape(-1)]
            if axes is not None:
                full = [0.0] * r + [1.0] * r
                for i, a in enumerate(axes):
                    full[a % r], full[a % r + r] = roi_in[i], roi_in[i + len(axes)]
                roi_in = full
            roi = roi_in
    sizes_full, scales_full = _resolve(
        ctx, shape, scales, sizes, axes, ctx.attr("keep_aspect_ratio_policy", "stretch")
    )
    return ctx.emit("resize", x, sizes=sizes_full, scales=scales_full, roi=roi, mode=mode,
                    **attrs)


@converter("GridSample")
def _grid_sample(ctx: NodeContext) -> Value:
    mode = ctx.attr("mode", "linear" if ctx.opset >= 20 else "bilinear")
    mode = {"bilinear": "linear", "bicubic": "cubic"}.get(mode, mode)
    return ctx.emit(
        "grid_sample",
        ctx.input(0),
        ctx.input(1),
        mode=mode,
        padding_mode=ctx.attr("padding_mode", "zeros"),
        align_corners=bool(ctx.attr("align_corners", 0)),
    )


@converter("MaxUnpool")
def _max_unpool(ctx: NodeContext) -> Value:
    x, idx = ctx.input(0), ctx.input(1)
    shape = ctx.static_shape(x)
    kernel = ctx.attr("kernel_shape")
    n = len(kernel)
    strides = ctx.attr("strides") or [1] * n
    pads = ctx.attr("pads") or [0] * (2 * n)
    unpooled = list(shape[:2]) + [
        (shape[2 + i] - 1) * strides[i] + kernel[i] - pads[i] - pads[i + n] for i in range(n)
    ]
    out = ctx.ints(2, "output_shape") or unpooled
    return ctx.emit("max_unpool", x, ctx.cast(idx, "i64"), unpooled_shape=tuple(unpooled),
                    output_shape=tuple(out))


@converter("Col2Im")
def _col2im(ctx: NodeContext) -> Value:
    image = ctx.ints(1, "image_shape")
    block = ctx.ints(2, "block_shape")
    n = len(block)
    return ctx.emit(
        "col2im",
        ctx.input(0),
        image_shape=image,
        block_shape=block,
        strides=ctx.attr("strides") or [1] * n,
        pads=ctx.attr("pads") or [0] * (2 * n),
        dilations=ctx.attr("dilations") or [1] * n,
    )


@converter("RoiAlign")
def _roi_align(ctx: NodeContext) -> Value:
    half = ctx.attr("coordinate_transformation_mode", "half_pixel" if ctx.opset >= 16 else
                    "output_half_pixel")
    return ctx.emit(
        "roi_align",
        ctx.input(0),
        ctx.input(1),
        ctx.cast(ctx.input(2), "i64"),
        mode=ctx.attr("mode", "avg"),
        output_height=ctx.attr("output_height", 1),
        output_width=ctx.attr("output_width", 1),
        sampling_ratio=ctx.attr("sampling_ratio", 0),
        spatial_scale=ctx.attr("spatial_scale", 1.0),
        half_pixel=half == "half_pixel",
    )


@converter("AffineGrid")
def _affine_grid(ctx: NodeContext) -> Value:
    theta = ctx.input(0)
    size = ctx.ints(1, "size")
    align = bool(ctx.attr("align_corners", 0))
    spatial = size[2:]
    axes = []
    for d in spatial:
        if align:
            a = np.linspace(-1.0, 1.0, d) if d > 1 else np.zeros(1)
        else:
            a = (np.arange(d) * 2.0 + 1.0) / d - 1.0
        axes.append(a)
    mesh = np.meshgrid(*axes, indexing="ij")
    # Homogeneous base grid with coordinates in x, y(, z) order.
    base = np.stack([*reversed(mesh), np.ones_like(mesh[0])], axis=-1)
    base = base.reshape(-1, len(spatial) + 1).astype(theta.type.np_dtype)
    out = ctx.emit("matmul", ctx.constant(base), ctx.emit("transpose", theta, perm=(0, 2, 1)))
    return ctx.reshape(out, [size[0], *spatial, len(spatial)])
