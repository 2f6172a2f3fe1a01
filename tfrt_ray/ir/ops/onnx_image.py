"""Image ops with ONNX semantics: resize (nearest / linear / cubic, every coordinate
transformation mode, antialias), grid_sample, roi_align, col2im and max_unpool.

``resize`` takes the full output ``sizes`` and per-axis ``scales`` already resolved (the
ONNX importer computes them from Resize's scales/sizes/axes inputs and its
keep_aspect_ratio_policy); ``roi`` is per axis (all starts, then all ends) and is read by
``tf_crop_and_resize`` only.
"""

from __future__ import annotations

from tfrt_ray.errors import OpAttributeError, ShapeError
from tfrt_ray.ir.ops.spec import Attr, Cost, op, require_dtype
from tfrt_ray.ir.types import FLOAT_DTYPES, INT_DTYPES, TensorType

RESIZE_MODES = ("nearest", "linear", "cubic")
COORDINATE_MODES = (
    "half_pixel",
    "half_pixel_symmetric",
    "pytorch_half_pixel",
    "align_corners",
    "asymmetric",
    "tf_crop_and_resize",
)
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise OpAttributeError(f"{name} {value!r} is unknown", hint=f"use one of {allowed}")


def _resize_cost(ins, outs, attrs, moved):
    taps = {"nearest": 1, "linear": 2, "cubic": 4}[attrs["mode"]]
    return Cost(float(outs[0].numel * taps * max(len(attrs["sizes"]), 1)), float(moved))


@op(
    "resize",
    ("x",),
    {
        "sizes": Attr("ints"),
        "scales": Attr("floats"),
        "roi": Attr("floats", None, optional=True),
        "mode": Attr("str", "nearest"),
        "coordinate_transformation_mode": Attr("str", "half_pixel"),
        "nearest_mode": Attr("str", "round_prefer_floor"),
        "cubic_coeff_a": Attr("float", -0.75),
        "exclude_outside": Attr("bool", False),
        "extrapolation_value": Attr("float", 0.0),
        "antialias": Attr("bool", False),
    },
    family="onnx_image",
    cost=_resize_cost,
)
def _resize(x: TensorType, *, sizes, scales, roi, mode, coordinate_transformation_mode,
            nearest_mode, cubic_coeff_a, exclude_outside, extrapolation_value, antialias):
    """ONNX Resize, separable per axis: output ``sizes``, ``scales`` per axis (output /
    input for the coordinate transformation). Integer inputs are rounded and saturated."""
    require_dtype(x, FLOAT_DTYPES + INT_DTYPES)
    _one_of("mode", mode, RESIZE_MODES)
    _one_of("coordinate_transformation_mode", coordinate_transformation_mode,
            COORDINATE_MODES)
    _one_of("nearest_mode", nearest_mode, NEAREST_MODES)
    if len(sizes) != x.rank or len(scales) != x.rank:
        raise ShapeError(
            f"sizes {list(sizes)} and scales {list(scales)} need one entry per dim of {x}",
            hint="give the full output shape and one scale per dim",
        )
    if roi is not None and len(roi) != 2 * x.rank:
        raise ShapeError(f"roi needs {2 * x.rank} entries, got {len(roi)}",
                         hint="give all starts, then all ends")
    if any(s < 0 for s in sizes) or any(s <= 0 for s in scales):
        raise ShapeError(f"sizes {list(sizes)} / scales {list(scales)} must be positive",
                         hint="use positive sizes and scales")
    return TensorType(x.dtype, tuple(sizes))


@op(
    "grid_sample",
    ("x", "grid"),
    {
        "mode": Attr("str", "linear"),
        "padding_mode": Attr("str", "zeros"),
        "align_corners": Attr("bool", False),
    },
    family="onnx_image",
)
def _grid_sample(x: TensorType, grid: TensorType, *, mode, padding_mode, align_corners):
    """ONNX GridSample, N-d: ``grid`` (N, D1_out, ..., Dn_out, n) holds normalized
    coordinates in [-1, 1] (x first: the last spatial dim); modes nearest / linear /
    cubic (2-D), padding zeros / border / reflection."""
    require_dtype(x, FLOAT_DTYPES)
    require_dtype(grid, FLOAT_DTYPES, "grid")
    _one_of("mode", mode, ("nearest", "linear", "cubic"))
    _one_of("padding_mode", padding_mode, ("zeros", "border", "reflection"))
    n = x.rank - 2
    if n < 1 or grid.rank != n + 2 or grid.shape[-1] not in (n, "?"):
        raise ShapeError(f"grid {grid} does not fit input {x}",
                         hint="grid is (N, out dims..., spatial rank)")
    return TensorType(x.dtype, tuple(x.shape[:2]) + tuple(grid.shape[1:-1]))


@op(
    "roi_align",
    ("x", "rois", "batch_indices"),
    {
        "mode": Attr("str", "avg"),
        "output_height": Attr("int", 1),
        "output_width": Attr("int", 1),
        "sampling_ratio": Attr("int", 0),
        "spatial_scale": Attr("float", 1.0),
        "half_pixel": Attr("bool", True),
    },
    family="onnx_image",
)
def _roi_align(x, rois, batch_indices, *, mode, output_height, output_width, sampling_ratio,
               spatial_scale, half_pixel) -> TensorType:
    """ONNX RoiAlign on (N, C, H, W): one (C, output_height, output_width) crop per row of
    ``rois`` (x1, y1, x2, y2), bilinear samples averaged (``avg``) or maxed (``max``)."""
    require_dtype(x, FLOAT_DTYPES)
    require_dtype(batch_indices, INT_DTYPES, "batch_indices")
    _one_of("mode", mode, ("avg", "max"))
    if x.rank != 4 or rois.rank != 2:
        raise ShapeError(f"x {x} must be 4-D and rois {rois} 2-D", hint="(N, C, H, W)")
    return TensorType(x.dtype, (rois.shape[0], x.shape[1], output_height, output_width))


@op(
    "col2im",
    ("x",),
    {"image_shape": Attr("ints"), "block_shape": Attr("ints"), "strides": Attr("ints"),
     "pads": Attr("ints"), "dilations": Attr("ints")},
    family="onnx_image",
)
def _col2im(x: TensorType, *, image_shape, block_shape, strides, pads, dilations):
    """ONNX Col2Im: (N, C * prod(block_shape), L) columns summed back into an image of
    ``image_shape``."""
    require_dtype(x, FLOAT_DTYPES + INT_DTYPES)
    k = 1
    for b in block_shape:
        k *= b
    c = x.shape[1] // k if isinstance(x.shape[1], int) else "?"
    return TensorType(x.dtype, (x.shape[0], c) + tuple(image_shape))


@op(
    "max_unpool",
    ("x", "indices"),
    {"unpooled_shape": Attr("ints"), "output_shape": Attr("ints")},
    family="onnx_image",
)
def _max_unpool(x: TensorType, indices: TensorType, *, unpooled_shape, output_shape):
    """ONNX MaxUnpool: zeros of ``unpooled_shape`` with each x value written at its flat
    index (MaxPool's Indices), placed at the start of zeros of ``output_shape``."""
    require_dtype(indices, ("i64",), "indices")
    return TensorType(x.dtype, tuple(output_shape))
