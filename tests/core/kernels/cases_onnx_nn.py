"""Cases for the onnx_nn and onnx_image families: N-d convolution (1-D, 3-D, groups,
dilation), transposed convolution, N-d pooling (with dilations, ceil_mode, Indices),
resize, grid_sample, roi_align, col2im and max_unpool. ``expected`` comes from naive
loops over tiny shapes or from closed forms; never from the kernels under test."""

from __future__ import annotations

import itertools

import numpy as np

from tests.core.kernels.case import Case, rand

F32 = dict(rtol=1e-5, atol=1e-5)


def conv_nd_ref(x, w, b, strides, pads, dilations, group):
    n, c = x.shape[:2]
    cout, cg = w.shape[:2]
    ks = w.shape[2:]
    nd = len(ks)
    size = x.shape[2:]
    out = [(size[i] + pads[i] + pads[i + nd] - dilations[i] * (ks[i] - 1) - 1) // strides[i] + 1
           for i in range(nd)]
    y = np.zeros((n, cout, *out))
    per = cout // group
    for co in range(cout):
        g = co // per
        for o in itertools.product(*[range(v) for v in out]):
            acc = np.zeros(n) + (0.0 if b is None else b[co])
            for ci in range(cg):
                for k in itertools.product(*[range(v) for v in ks]):
                    pos = [o[i] * strides[i] - pads[i] + k[i] * dilations[i] for i in range(nd)]
                    if all(0 <= pos[i] < size[i] for i in range(nd)):
                        acc += x[(slice(None), g * cg + ci, *pos)] * w[(co, ci, *k)]
            y[(slice(None), co, *o)] = acc
    return y.astype(x.dtype)


def conv_transpose_ref(x, w, strides, pads, group=1):
    n, cin = x.shape[:2]
    cout_g = w.shape[1]
    ks = w.shape[2:]
    nd = len(ks)
    full = [strides[i] * (x.shape[2 + i] - 1) + ks[i] for i in range(nd)]
    y = np.zeros((n, cout_g * group, *full))
    cin_g = cin // group
    for ci in range(cin):
        g = ci // cin_g
        for i in itertools.product(*[range(v) for v in x.shape[2:]]):
            for k in itertools.product(*[range(v) for v in ks]):
                for co in range(cout_g):
                    pos = tuple(i[d] * strides[d] + k[d] for d in range(nd))
                    y[(slice(None), g * cout_g + co, *pos)] += x[(slice(None), ci, *i)] * w[
                        (ci, co, *k)]
    crop = tuple(slice(pads[d], full[d] - pads[d + nd]) for d in range(nd))
    return y[(slice(None), slice(None), *crop)].astype(x.dtype)


def pool_1d_ref(x, k, stride, pad, dilation, how, count_include_pad=False):
    n, c, length = x.shape
    out = (length + 2 * pad - dilation * (k - 1) - 1) // stride + 1
    y = np.zeros((n, c, out), x.dtype)
    idx = np.zeros((n, c, out), np.int64)
    for a, b, o in itertools.product(range(n), range(c), range(out)):
        taps = [o * stride - pad + j * dilation for j in range(k)]
        inside = [t for t in taps if 0 <= t < length]
        if how == "max":
            best = max(inside, key=lambda t: (x[a, b, t], -t))
            y[a, b, o], idx[a, b, o] = x[a, b, best], (a * c + b) * length + best
        else:
            total = sum(float(x[a, b, t]) for t in inside)
            y[a, b, o] = total / (k if count_include_pad else len(inside))
    return y, idx


X1 = rand(2, 4, 7, seed=51)
W1 = rand(6, 2, 3, seed=52)
B1 = rand(6, seed=53)
X3 = rand(1, 2, 3, 4, 3, seed=54)
W3 = rand(2, 2, 2, 2, 2, seed=55)
XT = rand(1, 2, 3, 3, seed=56)
WT = rand(2, 3, 2, 2, seed=57)
XP = rand(2, 3, 9, seed=58)
IMG = np.arange(2 * 3 * 4, dtype=np.float32).reshape(1, 2, 3, 4)

_ROI_IMG = np.add.outer(np.arange(5.0) * 10, np.arange(5.0)).reshape(1, 1, 5, 5)

CASES = [
    Case("conv", [X1, W1, B1],
         conv_nd_ref(X1, W1, B1, (2,), (1, 2), (2,), 2),
         {"strides": (2,), "pads": (1, 2), "dilations": (2,), "group": 2}, name="1d", **F32),
    Case("conv", [X3, W3], conv_nd_ref(X3, W3, None, (1, 2, 1), (0, 1, 0, 1, 0, 1), (1, 1, 2), 1),
         {"strides": (1, 2, 1), "pads": (0, 1, 0, 1, 0, 1), "dilations": (1, 1, 2)},
         name="3d", **F32),
    Case("conv_transpose", [XT, WT], conv_transpose_ref(XT, WT, (2, 2), (1, 0, 0, 1)),
         {"strides": (2, 2), "pads": (1, 0, 0, 1), "dilations": (1, 1),
          "output_padding": (0, 0)}, **F32),
    Case("conv_transpose", [XT, rand(2, 1, 3, 2, seed=59)],
         conv_transpose_ref(XT, rand(2, 1, 3, 2, seed=59), (1, 1), (0, 0, 0, 0), group=2),
         {"strides": (1, 1), "pads": (0, 0, 0, 0), "dilations": (1, 1),
          "output_padding": (0, 0), "group": 2}, name="groups", **F32),
    Case("max_pool_nd", [XP], pool_1d_ref(XP, 3, 2, 1, 2, "max")[0],
         {"kernel_shape": (3,), "strides": (2,), "pads": (1, 1), "dilations": (2,)}),
    Case("max_pool_argmax", [XP], pool_1d_ref(XP, 3, 2, 1, 1, "max"),
         {"kernel_shape": (3,), "strides": (2,), "pads": (1, 1), "dilations": (1,)}),
    Case("avg_pool_nd", [XP], pool_1d_ref(XP, 3, 2, 1, 2, "avg")[0],
         {"kernel_shape": (3,), "strides": (2,), "pads": (1, 1), "dilations": (2,)}, **F32),
    Case("avg_pool_nd", [XP], pool_1d_ref(XP, 3, 2, 1, 1, "avg", count_include_pad=True)[0],
         {"kernel_shape": (3,), "strides": (2,), "pads": (1, 1), "dilations": (1,),
          "count_include_pad": True}, name="count-pad", **F32),
    Case(
        "resize",
        [IMG],
        np.repeat(np.repeat(IMG, 2, axis=2), 3, axis=3),
        {"sizes": (1, 2, 6, 12), "scales": (1.0, 1.0, 2.0, 3.0),
         "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"},
        name="nearest",
    ),
    Case(
        "resize",
        [np.array([[0.0, 3.0]], np.float32)],
        # align_corners: output i samples input position i * (2 - 1) / (4 - 1).
        np.array([[0.0, 1.0, 2.0, 3.0]], np.float32),
        {"sizes": (1, 4), "scales": (1.0, 2.0), "mode": "linear",
         "coordinate_transformation_mode": "align_corners"},
        name="linear",
        **F32,
    ),
    Case(
        "grid_sample",
        [IMG, np.stack(np.meshgrid(np.linspace(-1, 1, 4), np.linspace(-1, 1, 3)),
                       axis=-1)[None].astype(np.float32)],
        IMG,  # an identity grid over the pixel corners gives the input back
        {"align_corners": True},
        **F32,
    ),
    Case(
        "roi_align",
        [_ROI_IMG.astype(np.float32), np.array([[1.0, 1.0, 3.0, 3.0]], np.float32),
         np.array([0], np.int64)],
        # Bilinear samples of the plane 10*y + x average to the plane at the bin centres.
        np.array([[[[10 * y + x for x in (1.5, 2.5)] for y in (1.5, 2.5)]]], np.float32),
        {"output_height": 2, "output_width": 2, "sampling_ratio": 2, "half_pixel": False},
        **F32,
    ),
    Case(
        "col2im",
        [np.arange(1.0, 13.0).reshape(1, 4, 3)],
        # 2x2 blocks of a 2x4 image at columns 0, 1, 2: overlaps add up.
        np.array([[[[1.0, 2.0 + 4.0, 3.0 + 5.0, 6.0],
                    [7.0, 8.0 + 10.0, 9.0 + 11.0, 12.0]]]]),
        {"image_shape": (2, 4), "block_shape": (2, 2), "strides": (1, 1),
         "pads": (0, 0, 0, 0), "dilations": (1, 1)},
    ),
    Case(
        "max_unpool",
        [np.array([[[[5.0, 7.0]]]], np.float32), np.array([[[[1, 2]]]], np.int64)],
        np.array([[[[0.0, 5.0], [7.0, 0.0], [0.0, 0.0]]]], np.float32),
        {"unpooled_shape": (1, 1, 2, 2), "output_shape": (1, 1, 3, 2)},
    ),
]
