"""Reference kernels for the elementwise family. Those of the ops a fused body may hold
(`tfrt_ray.ir.ops.fused.fusible_ops`) take ``out=``: the fused kernel writes each step
into a buffer with them (`tfrt_ray.core.kernels.fused`)."""

from __future__ import annotations

import numpy as np

from tfrt_ray.core.kernels.erf import erf, erf_into
from tfrt_ray.core.kernels.registry import kernel
from tfrt_ray.core.kernels.scipy_special import expit
from tfrt_ray.ir.types import numpy_dtype

# Ops whose kernel is the NumPy function itself.
NUMPY_FUNCTIONS = {
    "exp": np.exp,
    "log": np.log,
    "sqrt": np.sqrt,
    "tanh": np.tanh,
    "sin": np.sin,
    "cos": np.cos,
    "reciprocal": np.reciprocal,
    "floor": np.floor,
    "ceil": np.ceil,
    "round": np.round,
    "neg": np.negative,
    "abs": np.abs,
    "sign": np.sign,
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "div": np.true_divide,
    "floor_div": np.floor_divide,
    "maximum": np.maximum,
    "minimum": np.minimum,
    "mod": np.mod,
    "equal": np.equal,
    "not_equal": np.not_equal,
    "less": np.less,
    "less_equal": np.less_equal,
    "greater": np.greater,
    "greater_equal": np.greater_equal,
    "logical_and": np.logical_and,
    "logical_or": np.logical_or,
    "logical_xor": np.logical_xor,
    "logical_not": np.logical_not,
    "where": np.where,
}
for _op, _fn in NUMPY_FUNCTIONS.items():
    kernel(_op)(_fn)


@kernel("erf")
def erf_kernel(x, out=None):
    return erf(x) if out is None else erf_into(x, out)


@kernel("sigmoid")
def sigmoid(x, out=None):
    if out is not None:
        return expit(x, out=out)
    return expit(x).astype(x.dtype, copy=False)


@kernel("relu")
def relu(x, out=None):
    return np.maximum(x, np.zeros((), x.dtype), out=out)


relu.takes_out = True  # see CompiledStage.run's ``into``
relu.elementwise_out = True  # ``out`` may be ``x`` (device_actors.cpu.memory_plan)
relu.fresh_output = True  # without ``out``, a new array


@kernel("leaky_relu")
def leaky_relu(x, *, alpha, out=None):
    if out is None:
        return np.where(x >= 0, x, x * x.dtype.type(alpha))
    np.multiply(x, out.dtype.type(alpha), out=out)  # ``out`` is not ``x`` (Fusion.fresh_dst)
    np.copyto(out, x, where=x >= 0)
    return out


_SQRT_HALF = 1.0 / np.sqrt(2.0)
_SQRT_2_OVER_PI = np.sqrt(2.0 / np.pi)


@kernel("gelu")
def gelu(x, *, approximate, out=None):
    t = x.dtype.type
    if out is not None:
        return gelu_into(x, out, approximate)
    if approximate == "tanh":
        inner = t(_SQRT_2_OVER_PI) * (x + t(0.044715) * x * x * x)
        return t(0.5) * x * (t(1.0) + np.tanh(inner))
    return t(0.5) * x * (t(1.0) + erf(x * t(_SQRT_HALF)))


def gelu_into(x, out, approximate: str = "none"):
    """gelu(x) into ``out`` (which must not be ``x``), the same values as `gelu`'s, with
    no other buffer."""
    t = out.dtype.type
    if approximate == "tanh":
        np.multiply(x, t(0.044715), out=out)
        out *= x
        out *= x
        out += x
        out *= t(_SQRT_2_OVER_PI)
        np.tanh(out, out=out)
    else:
        np.multiply(x, t(_SQRT_HALF), out=out)
        erf_into(out, out)
    out += t(1.0)
    out *= x
    out *= t(0.5)  # exact, so (0.5 * x) * y == (x * y) * 0.5
    return out


@kernel("pow")
def power(a, b, out=None):
    return np.power(a, b, out=out)


@kernel("clip")
def clip(x, *, min, max, out=None):
    if min is None and max is None:
        if out is None:
            return x.copy()
        np.copyto(out, x)
        return out
    t = (x if out is None else out).dtype.type
    return np.clip(x, None if min is None else t(min), None if max is None else t(max),
                   out=out)


@kernel("cast")
def cast(x, *, dtype):
    return np.asarray(x).astype(numpy_dtype(dtype))


@kernel("identity")
def identity(x):
    return x
