"""Reference kernels for the nn family (NCHW).

Convolution and pooling gather their windows with ``sliding_window_view`` (a strided view,
no copy) and reduce them with vectorized numpy: there is no Python loop over pixels.
Everything stays in the input's dtype.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tfrt_ray.core.kernels.registry import kernel


def _out_len(size, k, stride, dil, pad_begin, pad_end, ceil_mode):
    """Output length along one spatial dim; the same rule as the spec's."""
    span = size + pad_begin + pad_end - ((k - 1) * dil + 1)
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad_begin:
        out -= 1
    return out


def _padding(x, kernel_shape, strides, pads, dilations, ceil_mode):
    """((top, bottom), (left, right)) padding, the bottom/right grown so the ceil_mode
    overhang exists, and the output size (Ho, Wo)."""
    pad, out = [], []
    for i, size in enumerate(x.shape[2:4]):
        n = _out_len(
            size, kernel_shape[i], strides[i], dilations[i], pads[i], pads[i + 2], ceil_mode
        )
        need = (n - 1) * strides[i] + (kernel_shape[i] - 1) * dilations[i] + 1
        extra = max(0, need - (size + pads[i] + pads[i + 2]))
        pad.append((pads[i], pads[i + 2] + extra))
        out.append(n)
    return tuple(pad), tuple(out)


def _windows(xp, kernel_shape, strides, dilations, out):
    """The view (N, C, Ho, Wo, kh, kw) of the windows of the padded input ``xp``."""
    (kh, kw), (sh, sw), (dh, dw) = kernel_shape, strides, dilations
    v = sliding_window_view(xp, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(2, 3))
    return v[:, :, : (out[0] - 1) * sh + 1 : sh, : (out[1] - 1) * sw + 1 : sw, ::dh, ::dw]


def _pad(x, pad, value):
    if not any(p for pair in pad for p in pair):
        return x
    return np.pad(x, ((0, 0), (0, 0)) + pad, constant_values=value)


def conv_nchw(x, w, strides, pads, dilations, group):
    """The convolution of ``x`` by ``w`` (no bias), as a new C-contiguous NCHW array.

    Weights on the left, so the product is already NCHW: per group,
    (Cout/G, Cg*kh*kw) @ (N, Cg*kh*kw, Ho*Wo), one batched matmul. A 1x1 convolution
    without padding reads ``x`` as it is (strided 1x1s take one subsampling copy); any
    other gathers its columns with one copy of the windows, laid out so that the copy
    runs along the output rows.
    """
    kh, kw = w.shape[2:]
    pad, (ho, wo) = _padding(x, (kh, kw), strides, pads, dilations, False)
    n, c = x.shape[:2]
    cout, cg = w.shape[0], c // group
    k = cg * kh * kw
    wmat = w.reshape(group, cout // group, k)
    if kh == kw == 1 and not any(p for pair in pad for p in pair):
        sh, sw = strides
        cols = x[:, :, : (ho - 1) * sh + 1 : sh, : (wo - 1) * sw + 1 : sw]
    else:
        cols = _im2col(x, (kh, kw), strides, dilations, pad, (ho, wo))
    cols = np.ascontiguousarray(cols).reshape(n, group, k, ho * wo)
    y = np.matmul(wmat, cols)  # (N, G, Cout/G, Ho*Wo)
    return y.reshape(n, cout, ho, wo)


def _valid(out_len, offset, stride, size):
    """The output positions [lo, hi) whose input index ``o * stride + offset`` is inside
    ``[0, size)``."""
    lo = min(out_len, max(0, -(offset // stride)))
    hi = max(lo, min(out_len, (size - 1 - offset) // stride + 1))
    return lo, hi


def _im2col(x, kernel_shape, strides, dilations, pad, out):
    """The columns (N, C, kh, kw, Ho, Wo) of ``x``: one strided copy per kernel offset
    straight from ``x``, zeros where a window reaches into the padding (no padded copy
    of ``x`` is made)."""
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel_shape, strides, dilations, out
    n, c, h, w = x.shape
    padded = any(p for pair in pad for p in pair)
    cols = (np.zeros if padded else np.empty)((n, c, kh, kw, ho, wo), x.dtype)
    for i in range(kh):
        oi = i * dh - pad[0][0]
        r0, r1 = _valid(ho, oi, sh, h)
        for j in range(kw):
            oj = j * dw - pad[1][0]
            c0, c1 = _valid(wo, oj, sw, w)
            if r0 < r1 and c0 < c1:
                cols[:, :, i, j, r0:r1, c0:c1] = x[
                    :, :, r0 * sh + oi : (r1 - 1) * sh + oi + 1 : sh,
                    c0 * sw + oj : (c1 - 1) * sw + oj + 1 : sw,
                ]
    return cols


@kernel("conv2d")
def conv2d(x, w, b=None, *, strides, pads, dilations, group):
    y = conv_nchw(x, w, strides, pads, dilations, group)
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


@kernel("max_pool2d")
def max_pool2d(x, *, kernel_shape, strides, pads, dilations, ceil_mode):
    strides = (1, 1) if strides is None else strides
    lowest = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    pad, out = _padding(x, kernel_shape, strides, pads, dilations, ceil_mode)
    xp = _pad(x, pad, lowest)
    (kh, kw), (sh, sw), (dh, dw) = kernel_shape, strides, dilations
    if 0 in x.shape[:2] or 0 in out:
        return _windows(xp, kernel_shape, strides, dilations, out).max(axis=(-2, -1))
    # The max of the kh*kw shifted, strided slices: one pass per window offset.
    y = None
    for i in range(kh):
        for j in range(kw):
            s = xp[:, :, i * dh : i * dh + (out[0] - 1) * sh + 1 : sh,
                   j * dw : j * dw + (out[1] - 1) * sw + 1 : sw]
            if y is None:
                y = np.array(s)  # a C-contiguous copy
            else:
                np.maximum(y, s, out=y)
    return y


@kernel("avg_pool2d")
def avg_pool2d(x, *, kernel_shape, strides, pads, ceil_mode, count_include_pad):
    strides = (1, 1) if strides is None else strides
    dil = (1, 1)
    pad, out = _padding(x, kernel_shape, strides, pads, dil, ceil_mode)
    sums = _windows(_pad(x, pad, 0), kernel_shape, strides, dil, out).sum(axis=(-2, -1))
    # The divisor: window elements in the input (and in the explicit pads if asked),
    # never those of the ceil_mode overhang.
    h, w = x.shape[2:]
    mask = np.zeros((1, 1, h + sum(pad[0]), w + sum(pad[1])), x.dtype)
    if count_include_pad:
        mask[:, :, : h + pads[0] + pads[2], : w + pads[1] + pads[3]] = 1
    else:
        mask[:, :, pads[0] : pads[0] + h, pads[1] : pads[1] + w] = 1
    counts = _windows(mask, kernel_shape, strides, dil, out).sum(axis=(-2, -1))
    return sums / np.maximum(counts, x.dtype.type(1))


@kernel("global_avg_pool")
def global_avg_pool(x):
    return x.mean(axis=tuple(range(2, x.ndim)), keepdims=True)


@kernel("global_max_pool")
def global_max_pool(x):
    return x.max(axis=tuple(range(2, x.ndim)), keepdims=True)


@kernel("batch_norm")
def batch_norm(x, scale, bias, mean, var, *, epsilon):
    # Folded to y = x * a + b; the per-channel a and b are computed in float64.
    a = scale.astype(np.float64) / np.sqrt(var.astype(np.float64) + epsilon)
    b = bias.astype(np.float64) - mean.astype(np.float64) * a
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    return x * a.astype(x.dtype).reshape(shape) + b.astype(x.dtype).reshape(shape)


@kernel("layer_norm")
def layer_norm(x, scale, bias=None, *, axis, epsilon):
    axes = tuple(range(axis % x.ndim, x.ndim))
    acc = np.float64 if x.dtype == np.float64 else np.float32  # f16 computes in f32
    xf = x.astype(acc, copy=False)
    d = xf - xf.mean(axis=axes, keepdims=True)
    var = np.square(d).mean(axis=axes, keepdims=True)
    scale = scale.astype(acc, copy=False)
    bias = None if bias is None else bias.astype(acc, copy=False)
    if any(np.broadcast_shapes(d.shape, p.shape) != d.shape for p in (scale, bias)
           if p is not None):  # the parameters widen the result: no pass in place
        y = d / np.sqrt(var + acc(epsilon)) * scale
        return (y if bias is None else y + bias).astype(x.dtype, copy=False)
    # The same operations, in place on ``d`` (a fresh array): one pass each, no temporaries.
    d /= np.sqrt(var + acc(epsilon))
    d *= scale
    if bias is not None:
        d += bias
    return d.astype(x.dtype, copy=False)


@kernel("softmax")
def softmax(x, *, axis):
    if x.size == 0:
        return x.copy()
    e = x - x.max(axis=axis, keepdims=True)  # a fresh array: the rest is in place
    np.exp(e, out=e)
    e /= e.sum(axis=axis, keepdims=True)
    return e


@kernel("log_softmax")
def log_softmax(x, *, axis):
    if x.size == 0:
        return x.copy()
    s = x - x.max(axis=axis, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))


@kernel("dropout")
def dropout(x, *, ratio):
    """Inference mode: the identity; x itself is returned."""
    return x


@kernel("lrn")
def lrn(x, *, size, alpha, beta, bias):
    t = x.dtype.type
    lo = (size - 1) // 2
    pad = [(0, 0)] * x.ndim
    pad[1] = (lo, size - 1 - lo)
    sq = np.pad(x * x, pad)
    s = sliding_window_view(sq, size, axis=1).sum(axis=-1)
    return x / (t(bias) + t(alpha / size) * s) ** t(beta)
