"""Cases for the fused family: every fusible op inside a ``fused_elementwise`` body,
bodies with broadcasting, several buffers, int inputs and empty tensors; fused_matmul and
fused_conv2d with and without bias, under every activation.

``expected`` is each formula in float64 (math.erf, naive products, naive convolution),
never the kernels under test.
"""

from __future__ import annotations

import math

import numpy as np

from tests.core.kernels.case import Case, non_contiguous, rand
from tests.core.kernels.cases_linalg import naive_matmul
from tests.core.kernels.cases_nn import conv_ref
from tfrt_ray.executable.legacy import program_body
from tfrt_ray.ir.types import TensorType

F32 = dict(rtol=1e-5, atol=1e-5)
F64 = dict(rtol=1e-10, atol=1e-10)

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _gelu(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def _gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


ACT = {
    "none": lambda y: y,
    "relu": lambda y: np.where(y > 0, y, 0.0),
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "gelu": _gelu,
    "gelu_tanh": _gelu_tanh,
}

UNARY = {
    "neg": lambda x: -x,
    "abs": np.abs,
    "floor": np.floor,
    "ceil": np.ceil,
    "sign": np.sign,
    "relu": ACT["relu"],
    "exp": np.exp,
    "log": lambda x: np.log(np.abs(x) + 0.5),
    "sqrt": lambda x: np.sqrt(np.abs(x)),
    "tanh": np.tanh,
    "sin": np.sin,
    "cos": np.cos,
    "reciprocal": lambda x: 1.0 / x,
    "sigmoid": _sigmoid,
    "erf": _erf,
}
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "maximum": np.fmax,
    "minimum": np.fmin,
    "pow": lambda a, b: np.abs(a) ** b,
    "mod": lambda a, b: a - np.floor(a / b) * b,
}

X = rand(3, 4, seed=31)
Y = rand(3, 4, seed=32, low=0.5, high=2.0)  # no zeros: a divisor
ROW = rand(4, seed=33)
X64 = X.astype(np.float64)


def _prog(text, inputs, expected, dtype="f32", name="", tol=F32):
    """A case whose body is written in format 1's program notation (``t0 = op(x0); ...``,
    read by the same code that reads format 1 files)."""
    body = program_body(text, [TensorType.of(np.asarray(x)) for x in inputs], name or "body")
    assert body.types[body.outputs[0]].dtype == dtype, (text, dtype)
    return Case("fused_elementwise", inputs, expected, {"body": body}, name, **tol)


def _unary_cases():
    out = []
    for op, f in UNARY.items():
        # log and sqrt read |x| (+ 0.5): the program computes it first.
        pre = {"log": "t0 = abs(x0); t0 = add(t0, x1); ", "sqrt": "t0 = abs(x0); "}.get(op, "")
        src = "t0" if pre else "x0"
        inputs = [X, np.float32(0.5) * np.ones((), np.float32)] if op == "log" else [X]
        x = X64 if op not in ("floor", "ceil", "sign") else X
        out.append(_prog(f"{pre}t0 = {op}({src})", inputs, f(x).astype(np.float32), name=op))
    return out


def _binary_cases():
    out = []
    for op, f in BINARY.items():
        a = np.abs(X) if op == "pow" else X
        expected = f(a.astype(np.float64), Y).astype(np.float32)
        out.append(_prog(f"t0 = {op}(x0, x1)", [a, Y], expected, name=op))
    return out


_M, _K, _N = rand(3, 4, seed=34), rand(4, 5, seed=35), rand(5, seed=36)
_IMG, _W, _B = rand(2, 4, 5, 5, seed=37), rand(6, 2, 3, 3, seed=38), rand(6, seed=39)


def _matmul_cases():
    mm = naive_matmul(_M, _K).astype(np.float64)
    out = [
        Case(
            "fused_matmul",
            [_M, _K, _N],
            ACT[act](mm + _N).astype(np.float32),
            {"activation": act},
            name=f"bias-{act}",
            **F32,
        )
        for act in ACT
    ]
    bm, bk = rand(2, 3, 4, seed=40), rand(4, 5, seed=41)
    v = rand(4, seed=42)
    out += [
        Case("fused_matmul", [_M, _K], naive_matmul(_M, _K), name="no-bias", **F32),
        Case(
            "fused_matmul",
            [bm, bk, rand(3, 5, seed=43)],
            ACT["relu"](naive_matmul(bm, bk) + rand(3, 5, seed=43)).astype(np.float32),
            {"activation": "relu"},
            name="batched",
            **F32,
        ),
        Case(
            "fused_matmul",
            [v, v, np.float32(1.0) * np.ones((), np.float32)],
            np.asarray(float(v.astype(np.float64) @ v) + 1.0, np.float32),
            name="vec-vec-scalar",
            **F32,
        ),
        Case(
            "fused_matmul",
            [_M.astype(np.float64), _K.astype(np.float64)],
            _gelu(naive_matmul(_M.astype(np.float64), _K.astype(np.float64))),
            {"activation": "gelu"},
            name="f64",
            **F64,
        ),
        Case(
            "fused_matmul",
            [non_contiguous(_M), non_contiguous(_K), non_contiguous(_N)],
            ACT["tanh"](mm + _N).astype(np.float32),
            {"activation": "tanh"},
            name="strided",
            **F32,
        ),
    ]
    return out


def _conv_cases():
    conv = conv_ref(_IMG.astype(np.float64), _W, _B, group=2)
    out = [
        Case(
            "fused_conv2d",
            [_IMG, _W, _B],
            ACT[act](conv).astype(np.float32),
            {"group": 2, "activation": act},
            name=act,
            **F32,
        )
        for act in ("relu", "gelu", "sigmoid")
    ]
    w1 = rand(3, 4, 2, 2, seed=44)
    strided = conv_ref(_IMG.astype(np.float64), w1, None, (2, 1), (1, 0, 1, 1), (1, 2))
    out += [
        Case(
            "fused_conv2d",
            [_IMG, w1],
            ACT["relu"](strided).astype(np.float32),
            {"strides": (2, 1), "pads": (1, 0, 1, 1), "dilations": (1, 2), "activation": "relu"},
            name="no-bias-strided",
            **F32,
        ),
        Case(
            "fused_conv2d",
            [_IMG.astype(np.float64), _W.astype(np.float64), _B.astype(np.float64)],
            np.tanh(conv),
            {"group": 2, "activation": "tanh"},
            name="f64",
            **F64,
        ),
        Case(
            "fused_conv2d",
            [np.zeros((0, 4, 5, 5), np.float32), _W, _B],
            np.zeros((0, 6, 3, 3), np.float32),
            {"group": 2, "activation": "relu"},
            name="empty-batch",
        ),
    ]
    return out


CASES = (
    _unary_cases()
    + _binary_cases()
    + [
        _prog(
            "t0 = mul(x0, x1); t0 = add(t0, x2); t0 = relu(t0)",
            [X, np.float32(1.5) * np.ones((), np.float32), ROW],
            ACT["relu"](X64 * 1.5 + ROW).astype(np.float32),
            name="chain-broadcast",
        ),
        _prog(
            "t0 = add(x0, x1); t0 = exp(t0)",
            [ROW, X[:, :1]],
            np.exp(ROW + X64[:, :1]).astype(np.float32),
            name="result-grows-by-broadcast",
        ),
        _prog("t0 = gelu[none](x0)", [X], _gelu(X64).astype(np.float32), name="gelu"),
        _prog("t0 = gelu[tanh](x0)", [X], _gelu_tanh(X64).astype(np.float32), name="gelu-tanh"),
        _prog(
            "t0 = leaky_relu[0.1](x0)",
            [X],
            np.where(X64 >= 0, X64, 0.1 * X64).astype(np.float32),
            name="leaky-relu",
        ),
        _prog("t0 = clip[-1.0, 0.5](x0)", [X], np.clip(X, -1.0, 0.5), name="clip"),
        _prog("t0 = clip[none, 0.5](x0)", [X], np.clip(X, None, 0.5), name="clip-max-only"),
        _prog("t0 = clip[none, none](x0)", [X], X.copy(), name="clip-no-bounds"),
        _prog(
            "t0 = exp(x0); t1 = neg(x0); t1 = mul(t1, x1); t0 = add(t0, t1); t0 = tanh(t0)",
            [X, Y],
            np.tanh(np.exp(X64) - X64 * Y).astype(np.float32),
            name="two-buffers",
        ),
        _prog(
            "t0 = gelu[none](x0); t1 = gelu[none](t0); t0 = sub(t1, t0)",
            [X64],
            _gelu(_gelu(X64)) - _gelu(X64),
            dtype="f64",
            name="f64-fresh-dst",
            tol=F64,
        ),
        _prog(
            "t0 = div(x0, x1); t0 = sqrt(t0)",
            [np.array([[4, 9], [1, 16]], np.int32), np.array([1, 4], np.int32)],
            np.sqrt(np.array([[4.0, 2.25], [1.0, 4.0]])),
            dtype="f64",
            name="int-inputs",
            tol=F64,
        ),
        _prog(
            "t0 = mul(x0, x0); t0 = sub(t0, x1)",
            [non_contiguous(X), non_contiguous(Y)],
            (X64 * X64 - Y).astype(np.float32),
            name="strided",
        ),
        _prog(
            "t0 = add(x0, x1); t0 = relu(t0)",
            [np.zeros((0, 4), np.float32), ROW],
            np.zeros((0, 4), np.float32),
            name="empty",
        ),
    ]
    + _matmul_cases()
    + _conv_cases()
)
