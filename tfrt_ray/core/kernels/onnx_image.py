"""Reference kernels for the onnx_image family (semantics: ``tfrt_ray.ir.ops.onnx_image``).

Resize and GridSample are vectorized: per axis (resize) or per tap (grid_sample) one
gather and one weighted sum, computed in float64.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from tfrt_ray.core.kernels.registry import kernel

# ---- resize ------------------------------------------------------------------------------


def _nearest_coeffs(ratio, mode):
    whole = ratio == 1.0
    if mode == "round_prefer_floor":
        c1 = ratio > 0.5
    elif mode == "round_prefer_ceil":
        c1 = ratio >= 0.5
    elif mode == "floor":
        c1 = np.zeros_like(ratio, bool)
    else:
        c1 = np.ones_like(ratio, bool)
    c1 = c1 | whole
    return np.stack([~c1, c1], axis=-1).astype(np.float64)


def _cubic_coeffs(ratio, a):
    r = ratio
    return np.stack(
        [
            ((a * (r + 1) - 5 * a) * (r + 1) + 8 * a) * (r + 1) - 4 * a,
            ((a + 2) * r - (a + 3)) * r * r + 1,
            ((a + 2) * (1 - r) - (a + 3)) * (1 - r) * (1 - r) + 1,
            ((a * (2 - r) - 5 * a) * (2 - r) + 8 * a) * (2 - r) - 4 * a,
        ],
        axis=-1,
    )


def _cubic_kernel(x, a):
    x = np.abs(x)
    inner = ((a + 2) * x - (a + 3)) * x * x + 1
    outer = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return np.where(x <= 1, inner, np.where(x < 2, outer, 0.0))


def _antialias_coeffs(ratio, scale, mode, a):
    scale = min(scale, 1.0)
    if mode == "linear":
        start = int(np.floor(-1 / scale) + 1)
        taps = np.arange(start, start + 2 - 2 * start)
        c = np.clip(1 - np.abs((taps[None, :] - ratio[:, None]) * scale), 0, 1)
    else:
        start = int(np.floor(-2 / scale) + 1)
        taps = np.arange(start, 2 - start)
        c = _cubic_kernel(scale * (taps[None, :] - ratio[:, None]), a)
    return c / c.sum(axis=1, keepdims=True)


def _source_coords(mode, y, scale, in_w, out_w_int, roi):
    out_w = scale * in_w
    if mode == "align_corners":
        return (np.zeros_like(y) if out_w == 1 else y * (in_w - 1) / (out_w - 1)), None
    if mode == "asymmetric":
        return y / scale, None
    if mode == "tf_crop_and_resize":
        start, end = roi
        if out_w == 1:
            x = np.full_like(y, (end - start) * (in_w - 1) / 2)
        else:
            x = y * (end - start) * (in_w - 1) / (out_w - 1)
        x = x + start * (in_w - 1)
        return x, (x < 0) | (x > in_w - 1)
    if mode == "pytorch_half_pixel":
        return (np.full_like(y, -0.5) if out_w == 1 else (y + 0.5) / scale - 0.5), None
    if mode == "half_pixel":
        return (y + 0.5) / scale - 0.5, None
    # half_pixel_symmetric
    offset = in_w / 2 * (1 - out_w_int / out_w)
    return offset + (y + 0.5) / scale - 0.5, None


def _resize_axis(data, axis, scale, out_w, roi, attrs):
    in_w = data.shape[axis]
    if out_w == 0:
        shape = list(data.shape)
        shape[axis] = 0
        return np.empty(shape, data.dtype)
    y = np.arange(out_w, dtype=np.float64)
    x, outside = _source_coords(attrs["coordinate_transformation_mode"], y, scale, in_w,
                                out_w, roi)
    base = np.floor(x)
    ratio = np.where(x == base, 1.0, x - base)
    mode = attrs["mode"]
    if mode == "nearest":
        coeffs = _nearest_coeffs(ratio, attrs["nearest_mode"])
    elif attrs["antialias"] and scale < 1:
        coeffs = _antialias_coeffs(ratio, scale, mode, attrs["cubic_coeff_a"])
    elif mode == "linear":
        coeffs = np.stack([1 - ratio, ratio], axis=-1)
    else:
        coeffs = _cubic_coeffs(ratio, attrs["cubic_coeff_a"])
    n = coeffs.shape[1]
    pad = math.ceil(n / 2)
    xp = x + pad
    p = np.floor(xp).astype(np.int64)
    frac = xp - p
    if n % 2 == 0:
        offset = np.where(frac == 0, -(n // 2), -(n // 2) + 1)
    else:
        offset = np.where(frac <= 0.5, -((n - 1) // 2), -((n - 1) // 2) + 1)
    idx = (p + offset)[:, None] + np.arange(n)[None, :] - pad
    if attrs["exclude_outside"]:
        coeffs = np.where((idx < 0) | (idx >= in_w), 0.0, coeffs)
        total = coeffs.sum(axis=1, keepdims=True)
        coeffs = coeffs / np.where(total == 0, 1.0, total)
    gathered = np.take(data, np.clip(idx, 0, in_w - 1), axis=axis)
    shape = (1,) * axis + coeffs.shape + (1,) * (data.ndim - axis - 1)
    out = (gathered * coeffs.reshape(shape)).sum(axis=axis + 1)
    if outside is not None and outside.any():
        mask = outside.reshape((1,) * axis + (out_w,) + (1,) * (data.ndim - axis - 1))
        out = np.where(mask, attrs["extrapolation_value"], out)
    return out


@kernel("resize")
def resize(x, **attrs):
    sizes, scales, roi = attrs["sizes"], attrs["scales"], attrs["roi"]
    r = x.ndim
    out = x.astype(np.float64)
    for axis in range(r):
        axis_roi = None if roi is None else (roi[axis], roi[axis + r])
        trivial = axis_roi is None or (math.isclose(axis_roi[0], 0) and
                                       math.isclose(axis_roi[1], 1))
        if math.isclose(scales[axis], 1.0) and sizes[axis] == out.shape[axis] and trivial:
            continue
        if axis_roi is None:
            axis_roi = (0.0, 1.0)
        out = _resize_axis(out, axis, scales[axis], sizes[axis], axis_roi, attrs)
    if x.dtype.kind in "iu":
        info = np.iinfo(x.dtype)
        out = np.clip(np.round(out), info.min, info.max)
    return out.astype(x.dtype)


# ---- grid_sample -------------------------------------------------------------------------


def _reflect(x, lo, hi):
    rng = hi - lo
    below, above = x < lo, x > hi
    d = np.where(below, lo - x, x - hi)
    n = np.floor(d / rng)
    r = d - n * rng
    even = n % 2 == 0
    low_side = np.where(even, lo + r, hi - r)
    high_side = np.where(even, hi - r, lo + r)
    return np.where(below, low_side, np.where(above, high_side, x))


@kernel("grid_sample")
def grid_sample(x, grid, *, mode, padding_mode, align_corners):
    n_batch, _ = x.shape[:2]
    dims = x.shape[2:]
    nd = len(dims)
    g = np.asarray(grid, np.float64)
    taps = []
    for i, d in enumerate(dims):
        c = g[..., nd - 1 - i]
        p = (c + 1) / 2 * (d - 1) if align_corners else ((c + 1) * d - 1) / 2
        if mode == "nearest":
            p = np.rint(p)
        lo, hi = (0.0, d - 1.0) if align_corners else (-0.5, d - 0.5)
        if padding_mode == "border":
            p = np.where((p < lo) | (p > hi), np.clip(p, 0, d - 1), p)
        elif padding_mode == "reflection":
            p = _reflect(p, lo, hi)
        if mode == "nearest":
            axis_taps = [(p.astype(np.int64), np.ones_like(p))]
        else:
            i0 = np.floor(p)
            f = p - i0
            i0 = i0.astype(np.int64)
            if mode == "linear":
                axis_taps = [(i0, 1 - f), (i0 + 1, f)]
            else:
                w = _cubic_coeffs(f, -0.75)
                axis_taps = [(i0 + k - 1, w[..., k]) for k in range(4)]
        fetched = []
        for idx, w in axis_taps:
            if padding_mode == "zeros":
                valid = (idx >= 0) & (idx < d)
            else:
                if padding_mode == "reflection":
                    idx = _reflect(idx.astype(np.float64), lo, hi).astype(np.int64)
                valid = np.ones(idx.shape, bool)
            fetched.append((np.clip(idx, 0, d - 1), w * valid))
        taps.append(fetched)
    batch = np.arange(n_batch).reshape((n_batch,) + (1,) * (g.ndim - 2))
    out = 0.0
    for combo in itertools.product(*taps):
        weight = np.prod([w for _, w in combo], axis=0)
        values = x[(batch, slice(None)) + tuple(idx for idx, _ in combo)]
        # Advanced indices first: values is (N, out..., C).
        out = out + values * weight[..., None]
    out = np.moveaxis(np.asarray(out), -1, 1)
    return np.ascontiguousarray(out.astype(x.dtype))


# ---- col2im, max_unpool -----------------------------------------------------------------


@kernel("col2im")
def col2im(x, *, image_shape, block_shape, strides, pads, dilations):
    n, ck, _ = x.shape
    nd = len(block_shape)
    c = ck // math.prod(block_shape)
    blocks = [
        (image_shape[i] + pads[i] + pads[i + nd] - dilations[i] * (block_shape[i] - 1) - 1)
        // strides[i] + 1
        for i in range(nd)
    ]
    cols = x.reshape((n, c) + tuple(block_shape) + tuple(blocks))
    full = [image_shape[i] + pads[i] + pads[i + nd] for i in range(nd)]
    y = np.zeros((n, c) + tuple(full), x.dtype)
    for pos in np.ndindex(*block_shape):
        index = (slice(None), slice(None)) + tuple(
            slice(p * d, p * d + (b - 1) * s + 1, s)
            for p, d, b, s in zip(pos, dilations, blocks, strides, strict=False)
        )
        y[index] += cols[(slice(None), slice(None)) + pos]
    crop = tuple(slice(pads[i], pads[i] + image_shape[i]) for i in range(nd))
    return np.ascontiguousarray(y[(slice(None), slice(None)) + crop])


@kernel("max_unpool")
def max_unpool(x, indices, *, unpooled_shape, output_shape):
    y = np.zeros(math.prod(unpooled_shape), x.dtype)
    y[np.asarray(indices).reshape(-1)] = np.asarray(x).reshape(-1)
    out = np.zeros(tuple(output_shape), x.dtype)
    out[tuple(slice(0, d) for d in unpooled_shape)] = y.reshape(tuple(unpooled_shape))
    return out


# ---- roi_align -------------------------------------------------------------------------


def _bilinear_taps(y, x, height, width):
    """(positions, weights) of the 4 bilinear taps per sample (ONNX RoiAlign's rule)."""
    outside = (y < -1.0) | (y > height) | (x < -1.0) | (x > width)
    y, x = np.maximum(y, 0), np.maximum(x, 0)
    y_low, x_low = y.astype(np.int64), x.astype(np.int64)
    top_y, top_x = y_low >= height - 1, x_low >= width - 1
    y_low = np.where(top_y, height - 1, y_low)
    x_low = np.where(top_x, width - 1, x_low)
    y = np.where(top_y, y_low, y)
    x = np.where(top_x, x_low, x)
    y_high = np.where(top_y, y_low, y_low + 1)
    x_high = np.where(top_x, x_low, x_low + 1)
    ly, lx = y - y_low, x - x_low
    hy, hx = 1 - ly, 1 - lx
    pos = [(y_low, x_low), (y_low, x_high), (y_high, x_low), (y_high, x_high)]
    weights = [hy * hx, hy * lx, ly * hx, ly * lx]
    weights = [np.where(outside, 0.0, w) for w in weights]
    pos = [(np.where(outside, 0, a), np.where(outside, 0, b)) for a, b in pos]
    return pos, weights


@kernel("roi_align")
def roi_align(x, rois, batch_indices, *, mode, output_height, output_width, sampling_ratio,
              spatial_scale, half_pixel):
    _, channels, height, width = x.shape
    out = np.zeros((rois.shape[0], channels, output_height, output_width), np.float64)
    offset = 0.5 if half_pixel else 0.0
    for r, roi in enumerate(np.asarray(rois, np.float64)):
        sw, sh, ew, eh = (v * spatial_scale - offset for v in roi[:4])
        rw, rh = ew - sw, eh - sh
        if not half_pixel:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        bh, bw = rh / output_height, rw / output_width
        gh = sampling_ratio if sampling_ratio > 0 else int(np.ceil(rh / output_height))
        gw = sampling_ratio if sampling_ratio > 0 else int(np.ceil(rw / output_width))
        iy = (np.arange(gh) + 0.5) * bh / gh
        ix = (np.arange(gw) + 0.5) * bw / gw
        ys = sh + np.arange(output_height)[:, None] * bh + iy[None, :]  # (OH, gh)
        xs = sw + np.arange(output_width)[:, None] * bw + ix[None, :]  # (OW, gw)
        yy = np.broadcast_to(ys[:, None, :, None], (output_height, output_width, gh, gw))
        xx = np.broadcast_to(xs[None, :, None, :], (output_height, output_width, gh, gw))
        pos, weights = _bilinear_taps(yy, xx, height, width)
        img = np.asarray(x[int(batch_indices[r])], np.float64)  # (C, H, W)
        # (C, OH, OW, gh, gw) per tap
        taps = [img[:, a, b] * w for (a, b), w in zip(pos, weights, strict=True)]
        if mode == "avg":
            out[r] = sum(taps).sum(axis=(-2, -1)) / max(gh * gw, 1)
        else:
            out[r] = np.max(np.stack(taps), axis=0).max(axis=(-2, -1))
    return out.astype(x.dtype)
