"""Cases for the nn family: conv with stride, padding, dilation and groups (depthwise too),
pools with padding and ceil_mode, normalizations, softmax, dropout and LRN; float64 as well
as float32, negative axes, non-contiguous inputs, empty batches.

``expected`` comes from naive loops over tiny shapes, or from the op's formula in float64;
never from the kernels under test.
"""

from __future__ import annotations

import math

import numpy as np

from tests.core.kernels.case import Case, non_contiguous, rand

F32 = dict(rtol=1e-5, atol=1e-5)
F64 = dict(rtol=1e-10, atol=1e-10)


def _out_len(size, k, stride, dil, pad_begin, pad_end, ceil_mode=False):
    span = (size + pad_begin + pad_end - dil * (k - 1) - 1) / stride
    out = (math.ceil(span) if ceil_mode else math.floor(span)) + 1
    if ceil_mode and (out - 1) * stride >= size + pad_begin:  # last window starts in the end pad
        out -= 1
    return out


def conv_ref(x, w, b=None, strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1), group=1):
    n, c, h, wd = x.shape
    cout, cg, kh, kw = w.shape
    ho = _out_len(h, kh, strides[0], dilations[0], pads[0], pads[2])
    wo = _out_len(wd, kw, strides[1], dilations[1], pads[1], pads[3])
    y = np.zeros((n, cout, ho, wo))
    per_group = cout // group
    for co in range(cout):
        g = co // per_group
        for oh in range(ho):
            for ow in range(wo):
                acc = np.zeros(n)
                for ci in range(cg):
                    for i in range(kh):
                        for j in range(kw):
                            ih = oh * strides[0] - pads[0] + i * dilations[0]
                            iw = ow * strides[1] - pads[1] + j * dilations[1]
                            if 0 <= ih < h and 0 <= iw < wd:
                                acc += x[:, g * cg + ci, ih, iw] * float(w[co, ci, i, j])
                y[:, co, oh, ow] = acc + (0.0 if b is None else float(b[co]))
    return y.astype(x.dtype)


def pool_ref(
    x,
    how,
    kernel_shape,
    strides=None,
    pads=(0, 0, 0, 0),
    dilations=(1, 1),
    ceil_mode=False,
    count_include_pad=False,
):
    strides = strides or (1, 1)
    n, c, h, w = x.shape
    ho, wo = (
        _out_len(size, kernel_shape[i], strides[i], dilations[i], pads[i], pads[i + 2], ceil_mode)
        for i, size in enumerate((h, w))
    )
    y = np.zeros((n, c, ho, wo))
    for oh in range(ho):
        for ow in range(wo):
            vals, padded = [], 0
            for i in range(kernel_shape[0]):
                for j in range(kernel_shape[1]):
                    ih = oh * strides[0] - pads[0] + i * dilations[0]
                    iw = ow * strides[1] - pads[1] + j * dilations[1]
                    if 0 <= ih < h and 0 <= iw < w:
                        vals.append(x[:, :, ih, iw].astype(np.float64))
                    elif -pads[0] <= ih < h + pads[2] and -pads[1] <= iw < w + pads[3]:
                        padded += 1
            stack = np.stack(vals)
            if how == "max":
                y[:, :, oh, ow] = stack.max(axis=0)
            else:
                count = len(vals) + (padded if count_include_pad else 0)
                y[:, :, oh, ow] = stack.sum(axis=0) / count
    return y.astype(x.dtype)


def softmax_ref(x, axis):
    e = np.exp(x.astype(np.float64) - x.max(axis=axis, keepdims=True))
    return (e / e.sum(axis=axis, keepdims=True)).astype(x.dtype)


def log_softmax_ref(x, axis):
    x64 = x.astype(np.float64)
    m = x64.max(axis=axis, keepdims=True)
    return (x64 - m - np.log(np.exp(x64 - m).sum(axis=axis, keepdims=True))).astype(x.dtype)


def batch_norm_ref(x, scale, bias, mean, var, eps=1e-5):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    p = [np.asarray(a, np.float64).reshape(shape) for a in (scale, bias, mean, var)]
    return ((x - p[2]) / np.sqrt(p[3] + eps) * p[0] + p[1]).astype(x.dtype)


def layer_norm_ref(x, scale, bias=None, axis=-1, eps=1e-5):
    lead = x.shape[: axis % x.ndim]
    rows = x.astype(np.float64).reshape(int(np.prod(lead)), -1)
    mu = rows.mean(axis=1, keepdims=True)
    sd = np.sqrt(((rows - mu) ** 2).mean(axis=1, keepdims=True) + eps)
    y = ((rows - mu) / sd).reshape(x.shape) * scale
    return (y if bias is None else y + bias).astype(x.dtype)


def lrn_ref(x, size, alpha=1e-4, beta=0.75, bias=1.0):
    x64 = x.astype(np.float64)
    y = np.empty_like(x64)
    c = x.shape[1]
    for ch in range(c):
        lo, hi = max(0, ch - (size - 1) // 2), min(c - 1, ch + math.ceil((size - 1) / 2))
        sq = (x64[:, lo : hi + 1] ** 2).sum(axis=1)
        y[:, ch] = x64[:, ch] / (bias + alpha / size * sq) ** beta
    return y.astype(x.dtype)


X = rand(2, 4, 7, 6, seed=31)
W = rand(6, 4, 3, 3, seed=32)
BIAS6 = rand(6, seed=33)
WG = rand(6, 2, 3, 2, seed=34)  # group=2
WDW = rand(4, 1, 3, 3, seed=35)  # depthwise
WDW2 = rand(8, 1, 2, 2, seed=36)  # depthwise, channel multiplier 2
X64 = rand(1, 2, 5, 5, dtype="float64", seed=37)
W64 = rand(3, 2, 2, 3, dtype="float64", seed=38)
P = rand(2, 3, 7, 8, seed=39)
P64 = rand(1, 2, 6, 5, dtype="float64", seed=40)
PI = rand(2, 3, 5, 5, dtype="int32", seed=41, low=-50, high=50)
S = rand(3, 5, seed=42)
S3 = rand(2, 3, 4, seed=43)
BIG = rand(2, 6, seed=44, low=-1000.0, high=1000.0)
C4 = rand(4, seed=45, low=0.5, high=2.0)
BN = [rand(4, seed=46), rand(4, seed=47), rand(4, seed=48), rand(4, seed=49, low=0.1, high=2.0)]
L = rand(2, 3, 5, seed=50)
SC5, BI5 = rand(5, seed=51), rand(5, seed=52)
SC35, BI35 = rand(3, 5, seed=53), rand(3, 5, seed=54)
R = rand(2, 6, 3, 2, seed=55)
EMPTY_X = np.zeros((0, 4, 7, 6), np.float32)


def conv_case(x, w, b=None, name="", tol=F32, **attrs):
    ref = conv_ref(x, w, b, **attrs)
    inputs = [x, w] if b is None else [x, w, b]
    return Case("conv2d", inputs, ref, attrs, name=name, **tol)


def pool_case(op, x, name, k, s=None, p=None, d=None, ceil=None, cip=None, tol=F32):
    given = dict(strides=s, pads=p, dilations=d, ceil_mode=ceil, count_include_pad=cip)
    attrs = {"kernel_shape": k, **{key: v for key, v in given.items() if v is not None}}
    ref = pool_ref(x, "max" if op == "max_pool2d" else "avg", **attrs)
    return Case(op, [x], ref, attrs, name=name, **tol)


CASES = [
    conv_case(X, W, BIAS6, name="bias"),
    conv_case(X, W, name="no-bias"),
    conv_case(X, W, BIAS6, name="stride-pad", strides=(2, 1), pads=(1, 2, 0, 1)),
    conv_case(X, W, BIAS6, name="dilation-pad", dilations=(2, 2), pads=(2, 1, 2, 1)),
    conv_case(
        X,
        WG,
        BIAS6,
        name="group2-stride-pad-dil",
        strides=(2, 2),
        pads=(1, 1, 1, 1),
        dilations=(1, 2),
        group=2,
    ),
    conv_case(X, WDW, name="depthwise", pads=(1, 1, 1, 1), group=4),
    conv_case(X, WDW2, BIAS6[:4].repeat(2), name="depthwise-x2", strides=(3, 2), group=4),
    conv_case(X64, W64, np.array([0.5, -1.0, 2.0]), name="f64", tol=F64, pads=(0, 1, 1, 0)),
    conv_case(non_contiguous(X), non_contiguous(W), name="strided", strides=(2, 2)),
    conv_case(rand(1, 3, 4, 4, seed=56), rand(2, 3, 4, 4, seed=57), name="kernel-covers-input"),
    Case("conv2d", [EMPTY_X, W, BIAS6], np.zeros((0, 6, 5, 4), np.float32), name="empty-batch"),
    Case("conv2d", [X, W, None], conv_ref(X, W), name="b-none", **F32),
    pool_case("max_pool2d", P, "2x2", (2, 2), s=(2, 2)),
    pool_case("max_pool2d", P, "default-strides", (3, 3)),
    pool_case("max_pool2d", P, "pad", (3, 2), s=(2, 2), p=(1, 1, 1, 0)),
    pool_case("max_pool2d", P, "ceil", (3, 3), s=(2, 3), ceil=True),
    pool_case("max_pool2d", P, "ceil-pad", (2, 2), s=(2, 2), p=(1, 1, 1, 1), ceil=True),
    pool_case("max_pool2d", P, "dilation", (2, 2), s=(1, 2), p=(0, 1, 1, 0), d=(2, 3)),
    pool_case("max_pool2d", -np.abs(P), "negative-pad-not-zero", (2, 2), s=(2, 2), p=(1,) * 4),
    pool_case("max_pool2d", PI, "int32", (2, 2), s=(2, 2), p=(1, 1, 0, 0), ceil=True),
    pool_case("max_pool2d", P64, "f64", (2, 3), s=(2, 2), ceil=True, tol=F64),
    pool_case("max_pool2d", non_contiguous(P), "strided", (2, 2)),
    pool_case("avg_pool2d", P, "2x2", (2, 2), s=(2, 2)),
    pool_case("avg_pool2d", P, "pad-exclude", (3, 3), p=(1, 1, 1, 1)),
    pool_case("avg_pool2d", P, "pad-include", (3, 3), p=(1, 1, 1, 1), cip=True),
    pool_case("avg_pool2d", P, "ceil-pad-exclude", (3, 2), s=(2, 3), p=(1, 0, 0, 1), ceil=True),
    pool_case(
        "avg_pool2d", P, "ceil-pad-include", (3, 2), s=(2, 3), p=(1, 0, 0, 1), ceil=True, cip=True
    ),
    pool_case("avg_pool2d", P64, "f64", (2, 2), s=(2, 2), ceil=True, tol=F64),
    pool_case("avg_pool2d", non_contiguous(P), "strided", (2, 3)),
    Case(
        "avg_pool2d",
        [np.zeros((0, 3, 4, 4), np.float32)],
        np.zeros((0, 3, 2, 2), np.float32),
        {"kernel_shape": (2, 2), "strides": (2, 2)},
        name="empty-batch",
    ),
    Case(
        "global_avg_pool",
        [P],
        P.astype(np.float64).mean(axis=(2, 3), keepdims=True).astype(np.float32),
        **F32,
    ),
    Case(
        "global_avg_pool",
        [S3],
        S3.astype(np.float64).mean(axis=2, keepdims=True).astype(np.float32),
        name="rank3",
        **F32,
    ),
    Case(
        "global_avg_pool",
        [rand(1, 2, 3, 2, 2, dtype="float64", seed=58)],
        rand(1, 2, 3, 2, 2, dtype="float64", seed=58).mean(axis=(2, 3, 4), keepdims=True),
        name="rank5-f64",
        **F64,
    ),
    Case("global_max_pool", [P], P.max(axis=(2, 3), keepdims=True)),
    Case("global_max_pool", [PI], PI.max(axis=(2, 3), keepdims=True), name="int32"),
    Case("global_max_pool", [non_contiguous(S3)], S3.max(axis=2, keepdims=True), name="rank3"),
    Case(
        "global_max_pool",
        [np.zeros((0, 3, 2, 2), np.float32)],
        np.zeros((0, 3, 1, 1), np.float32),
        name="empty-batch",
    ),
    Case("batch_norm", [X] + BN, batch_norm_ref(X, *BN), **F32),
    Case(
        "batch_norm",
        [X, *BN],
        batch_norm_ref(X, *BN, eps=0.1),
        {"epsilon": 0.1},
        name="epsilon",
        **F32,
    ),
    Case(
        "batch_norm",
        [S3.transpose(1, 0, 2), *(b[:2] for b in BN[:3]), C4[:2]],
        batch_norm_ref(S3.transpose(1, 0, 2), *(b[:2] for b in BN[:3]), C4[:2]),
        name="rank3-strided",
        **F32,
    ),
    Case(
        "batch_norm",
        [rand(5, 4, dtype="float64", seed=59), *BN],
        batch_norm_ref(rand(5, 4, dtype="float64", seed=59), *BN),
        name="rank2-f64-f32-params",
        **F64,
    ),
    Case("batch_norm", [EMPTY_X, *BN], EMPTY_X, name="empty-batch"),
    Case("layer_norm", [L, SC5, BI5], layer_norm_ref(L, SC5, BI5), **F32),
    Case(
        "layer_norm",
        [L, SC35, BI35],
        layer_norm_ref(L, SC35, BI35, axis=1),
        {"axis": 1},
        name="axis1",
        **F32,
    ),
    Case(
        "layer_norm",
        [L, SC35],
        layer_norm_ref(L, SC35, axis=-2, eps=1e-3),
        {"axis": -2, "epsilon": 1e-3},
        name="neg-axis-no-bias",
        **F32,
    ),
    Case(
        "layer_norm",
        [L, SC5[None, :], None],
        layer_norm_ref(L, SC5[None, :], axis=-2),
        {"axis": -2},
        name="scale-broadcast",
        **F32,
    ),
    Case(
        "layer_norm",
        [L.astype(np.float64), SC5.astype(np.float64), BI5.astype(np.float64)],
        layer_norm_ref(L.astype(np.float64), SC5, BI5),
        name="f64",
        **F64,
    ),
    Case(
        "layer_norm",
        [non_contiguous(L), SC5, BI5],
        layer_norm_ref(L, SC5, BI5),
        name="strided",
        **F32,
    ),
    Case(
        "layer_norm",
        [np.zeros((0, 5), np.float32), SC5, BI5],
        np.zeros((0, 5), np.float32),
        name="empty-batch",
    ),
    Case("softmax", [S], softmax_ref(S, -1), **F32),
    Case("softmax", [S3], softmax_ref(S3, 1), {"axis": 1}, name="axis1", **F32),
    Case("softmax", [S3], softmax_ref(S3, 0), {"axis": -3}, name="neg-axis", **F32),
    Case("softmax", [BIG], softmax_ref(BIG, -1), name="large-stable", **F32),
    Case(
        "softmax", [S.astype(np.float64)], softmax_ref(S.astype(np.float64), -1), name="f64", **F64
    ),
    Case("softmax", [non_contiguous(S3)], softmax_ref(S3, -1), name="strided", **F32),
    Case(
        "softmax", [np.zeros((0, 5), np.float32)], np.zeros((0, 5), np.float32), name="empty-batch"
    ),
    Case(
        "softmax",
        [S.astype(np.float16)],
        softmax_ref(S.astype(np.float16), -1),
        name="f16",
        rtol=2e-3,
        atol=2e-3,
    ),
    Case("log_softmax", [S], log_softmax_ref(S, -1), **F32),
    Case("log_softmax", [S3], log_softmax_ref(S3, 1), {"axis": -2}, name="neg-axis", **F32),
    Case("log_softmax", [BIG], log_softmax_ref(BIG, -1), name="large-stable", rtol=1e-5, atol=1e-3),
    Case(
        "log_softmax",
        [S3.astype(np.float64)],
        log_softmax_ref(S3.astype(np.float64), 0),
        {"axis": 0},
        name="f64",
        **F64,
    ),
    Case(
        "log_softmax",
        [np.zeros((2, 0), np.float32)],
        np.zeros((2, 0), np.float32),
        name="empty-axis",
    ),
    Case("dropout", [S], S),
    Case("dropout", [S3.astype(np.float64)], S3.astype(np.float64), {"ratio": 0.3}, name="f64"),
    Case("dropout", [non_contiguous(S)], S, {"ratio": 0.0}, name="strided"),
    Case("lrn", [R], lrn_ref(R, 3), {"size": 3}, **F32),
    Case(
        "lrn",
        [R],
        lrn_ref(R, 5, 0.02, 0.5, 2.0),
        {"size": 5, "alpha": 0.02, "beta": 0.5, "bias": 2.0},
        name="size5",
        **F32,
    ),
    Case("lrn", [R], lrn_ref(R, 2, 0.1), {"size": 2, "alpha": 0.1}, name="even-size", **F32),
    Case(
        "lrn",
        [S3.astype(np.float64)],
        lrn_ref(S3.astype(np.float64), 4, 0.5),
        {"size": 4, "alpha": 0.5},
        name="rank3-f64",
        **F64,
    ),
    Case(
        "lrn",
        [non_contiguous(R)],
        lrn_ref(R, 1, 0.3),
        {"size": 1, "alpha": 0.3},
        name="strided-size1",
        **F32,
    ),
]
