"""Reference kernels for the onnx_nn family: N-d convolution and pooling.

Windows are strided views (``sliding_window_view``) reduced with vectorized numpy, as in
the 2-D kernels; a transposed convolution adds one strided slab per kernel position.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tfrt_ray.core.kernels.registry import kernel
from tfrt_ray.ir.ops.nn import window_out


def _geometry(x, kernel_shape, strides, pads, dilations, ceil_mode):
    """Per spatial dim: (begin pad, end pad grown for the ceil overhang), and out sizes."""
    n = len(kernel_shape)
    pad, out = [], []
    for i in range(n):
        size = x.shape[2 + i]
        o = window_out(size, kernel_shape[i], strides[i], dilations[i], pads[i], pads[i + n],
                       ceil_mode)
        need = (o - 1) * strides[i] + (kernel_shape[i] - 1) * dilations[i] + 1
        extra = max(0, need - (size + pads[i] + pads[i + n]))
        pad.append((pads[i], pads[i + n] + extra))
        out.append(o)
    return pad, out


def _windows(xp, kernel_shape, strides, dilations, out):
    """(N, C, O1..On, k1..kn) view of the windows of the padded input."""
    n = len(kernel_shape)
    axes = tuple(range(2, 2 + n))
    span = tuple((k - 1) * d + 1 for k, d in zip(kernel_shape, dilations, strict=False))
    v = sliding_window_view(xp, span, axis=axes)
    index = (slice(None), slice(None))
    index += tuple(slice(0, (o - 1) * s + 1, s) for o, s in zip(out, strides, strict=False))
    index += tuple(slice(None, None, d) for d in dilations)
    return v[index]


def _pad(x, pad, value):
    if not any(p for pair in pad for p in pair):
        return x
    return np.pad(x, ((0, 0), (0, 0)) + tuple(pad), constant_values=value)


@kernel("conv")
def conv(x, w, b=None, *, strides, pads, dilations, group):
    ks = w.shape[2:]
    pad, out = _geometry(x, ks, strides, pads, dilations, False)
    win = _windows(_pad(x, pad, 0), ks, strides, dilations, out)
    n, c = x.shape[:2]
    cout, cg, nk = w.shape[0], c // group, len(ks)
    # (N, G, Cg, O..., k...) -> (G, N*O, Cg*k) @ (G, Cg*k, Cout/G)
    win = win.reshape((n, group, cg) + tuple(out) + tuple(ks))
    perm = (1, 0) + tuple(range(3, 3 + nk)) + (2,) + tuple(range(3 + nk, 3 + 2 * nk))
    cols = win.transpose(perm).reshape(group, n * math.prod(out), cg * math.prod(ks))
    wmat = w.reshape(group, cout // group, cg * math.prod(ks)).transpose(0, 2, 1)
    y = np.matmul(cols, wmat)  # (G, N*O, Cout/G)
    y = y.reshape((group, n) + tuple(out) + (cout // group,))
    y = y.transpose((1, 0, nk + 2) + tuple(range(2, nk + 2))).reshape((n, cout) + tuple(out))
    if b is not None:
        y = y + b.reshape((1, cout) + (1,) * nk)
    return np.ascontiguousarray(y.astype(x.dtype, copy=False))


@kernel("conv_transpose")
def conv_transpose(x, w, b=None, *, strides, pads, dilations, group, output_padding):
    n, cin = x.shape[:2]
    ks = w.shape[2:]
    nd = len(ks)
    cout_g = w.shape[1]
    cin_g = cin // group
    full = [
        strides[i] * (x.shape[2 + i] - 1) + output_padding[i] + (ks[i] - 1) * dilations[i] + 1
        for i in range(nd)
    ]
    y = np.zeros((n, group, cout_g) + tuple(full), x.dtype)
    xg = x.reshape((n, group, cin_g) + x.shape[2:])
    wg = w.reshape((group, cin_g, cout_g) + tuple(ks))
    for pos in np.ndindex(*ks):
        contrib = np.einsum("ngc...,gco->ngo...", xg, wg[(slice(None),) * 3 + pos])
        index = (slice(None),) * 3 + tuple(
            slice(p * d, p * d + (x.shape[2 + i] - 1) * s + 1, s)
            for i, (p, d, s) in enumerate(zip(pos, dilations, strides, strict=False))
        )
        y[index] += contrib
    y = y.reshape((n, group * cout_g) + tuple(full))
    grow = [(max(-pads[i], 0), max(-pads[i + nd], 0)) for i in range(nd)]
    if any(g for pair in grow for g in pair):
        y = np.pad(y, ((0, 0), (0, 0)) + tuple(grow))
    crop = tuple(
        slice(max(pads[i], 0), y.shape[2 + i] - max(pads[i + nd], 0)) for i in range(nd)
    )
    y = y[(slice(None), slice(None)) + crop]
    if b is not None:
        y = y + b.reshape((1, -1) + (1,) * nd)
    return np.ascontiguousarray(y.astype(x.dtype, copy=False))


def _lowest(dtype):
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


@kernel("max_pool_nd")
def max_pool_nd(x, *, kernel_shape, strides, pads, dilations, ceil_mode):
    pad, out = _geometry(x, kernel_shape, strides, pads, dilations, ceil_mode)
    win = _windows(_pad(x, pad, _lowest(x.dtype)), kernel_shape, strides, dilations, out)
    return win.max(axis=tuple(range(-len(kernel_shape), 0)))


@kernel("max_pool_argmax")
def max_pool_argmax(x, *, kernel_shape, strides, pads, dilations, ceil_mode, storage_order):
    nk = len(kernel_shape)
    pad, out = _geometry(x, kernel_shape, strides, pads, dilations, ceil_mode)
    win = _windows(_pad(x, pad, _lowest(x.dtype)), kernel_shape, strides, dilations, out)
    flat = win.reshape(win.shape[: 2 + nk] + (-1,))
    arg = flat.argmax(axis=-1)
    y = np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0]
    # The window offset of each max -> its coordinates in the unpadded input.
    offs = np.unravel_index(arg, tuple(kernel_shape))
    spatial = x.shape[2:]
    coords = []
    for i in range(nk):
        start = np.arange(out[i]) * strides[i] - pads[i]
        shape = [1] * (2 + nk)
        shape[2 + i] = out[i]
        coords.append(start.reshape(shape) + offs[i] * dilations[i])
    order = range(nk) if storage_order == 0 else reversed(range(nk))
    index = np.zeros(arg.shape, np.int64)
    for i in order:
        index = index * spatial[i] + coords[i]
    nc = np.arange(x.shape[0] * x.shape[1]).reshape(x.shape[0], x.shape[1], *([1] * nk))
    index = index + nc * math.prod(spatial)
    return y, index.astype(np.int64)


@kernel("avg_pool_nd")
def avg_pool_nd(x, *, kernel_shape, strides, pads, dilations, ceil_mode, count_include_pad):
    nk = len(kernel_shape)
    pad, out = _geometry(x, kernel_shape, strides, pads, dilations, ceil_mode)
    axes = tuple(range(-nk, 0))
    sums = _windows(_pad(x, pad, 0), kernel_shape, strides, dilations, out).sum(axis=axes)
    spatial = x.shape[2:]
    padded = tuple(s + sum(p) for s, p in zip(spatial, pad, strict=True))
    mask = np.zeros((1, 1) + padded, x.dtype)
    if count_include_pad:
        region = tuple(slice(0, s + pads[i] + pads[i + nk]) for i, s in enumerate(spatial))
    else:
        region = tuple(slice(pads[i], pads[i] + s) for i, s in enumerate(spatial))
    mask[(slice(None), slice(None)) + region] = 1
    counts = _windows(mask, kernel_shape, strides, dilations, out).sum(axis=axes)
    return (sums / np.maximum(counts, x.dtype.type(1))).astype(x.dtype, copy=False)
