"""Reference kernels for the elementwise family."""

from __future__ import annotations

import numpy as np

from tfrt_ray.core.kernels.erf import erf
from tfrt_ray.core.kernels.registry import kernel
from tfrt_ray.core.kernels.scipy_special import expit
from tfrt_ray.ir.types import numpy_dtype

# Ops whose kernel is the NumPy function itself (the fused kernels reuse this table).
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


kernel("erf")(erf)


@kernel("sigmoid")
def sigmoid(x):
    return expit(x).astype(x.dtype, copy=False)


@kernel("relu")
def relu(x, out=None):
    return np.maximum(x, np.zeros((), x.dtype), out=out)


relu.takes_out = True  # see CompiledStage.run's ``into``
relu.elementwise_out = True  # ``out`` may be ``x`` (device_actors.cpu.memory_plan)
relu.fresh_output = True  # without ``out``, a new array


@kernel("leaky_relu")
def leaky_relu(x, *, alpha):
    return np.where(x >= 0, x, x * x.dtype.type(alpha))


@kernel("gelu")
def gelu(x, *, approximate):
    t = x.dtype.type
    if approximate == "tanh":
        inner = t(np.sqrt(2.0 / np.pi)) * (x + t(0.044715) * x * x * x)
        return t(0.5) * x * (t(1.0) + np.tanh(inner))
    return t(0.5) * x * (t(1.0) + erf(x * t(1.0 / np.sqrt(2.0))))


@kernel("pow")
def power(a, b):
    return np.power(a, b)


@kernel("clip")
def clip(x, *, min, max):
    if min is None and max is None:
        return x.copy()
    t = x.dtype.type
    return np.clip(x, None if min is None else t(min), None if max is None else t(max))


@kernel("cast")
def cast(x, *, dtype):
    return np.asarray(x).astype(numpy_dtype(dtype))


@kernel("identity")
def identity(x):
    return x
