"""Reference kernels for the reduce family.

Result dtypes are passed to numpy explicitly (they are the spec's, see
``tfrt_ray.ir.ops.reduce``), and full reductions are wrapped back into 0-d arrays.
"""

from __future__ import annotations

import warnings

import numpy as np

from device_actors.kernels.registry import kernel
from tfrt_ray.ir.ops.reduce import mean_dtype, sum_dtype
from tfrt_ray.ir.types import dtype_token, numpy_dtype


def _axis(axes):
    return None if axes is None else tuple(axes)


def _out_dtype(x, rule) -> np.dtype:
    return numpy_dtype(rule(dtype_token(x.dtype)))


@kernel("sum")
def reduce_sum(x, *, axes, keepdims):
    x = np.asarray(x)
    out = np.sum(x, axis=_axis(axes), dtype=_out_dtype(x, sum_dtype), keepdims=keepdims)
    return np.asarray(out)


@kernel("prod")
def reduce_prod(x, *, axes, keepdims):
    x = np.asarray(x)
    out = np.prod(x, axis=_axis(axes), dtype=_out_dtype(x, sum_dtype), keepdims=keepdims)
    return np.asarray(out)


@kernel("mean")
def reduce_mean(x, *, axes, keepdims):
    x = np.asarray(x)
    dtype = _out_dtype(x, mean_dtype)
    # Floats keep numpy's own accumulator (f16 sums in f32); ints and bools go through f64.
    acc = None if x.dtype.kind == "f" else dtype
    if x.size:
        out = np.mean(x, axis=_axis(axes), dtype=acc, keepdims=keepdims)
    else:
        with warnings.catch_warnings():  # the mean of nothing is nan, quietly
            warnings.simplefilter("ignore", RuntimeWarning)
            out = np.mean(x, axis=_axis(axes), dtype=acc, keepdims=keepdims)
    return np.asarray(out, dtype=dtype)


@kernel("max")
def reduce_max(x, *, axes, keepdims):
    return np.asarray(np.max(x, axis=_axis(axes), keepdims=keepdims))


@kernel("min")
def reduce_min(x, *, axes, keepdims):
    return np.asarray(np.min(x, axis=_axis(axes), keepdims=keepdims))


@kernel("argmax")
def argmax(x, *, axis, keepdims):
    return np.asarray(np.argmax(x, axis=axis, keepdims=keepdims), dtype=np.int64)


@kernel("argmin")
def argmin(x, *, axis, keepdims):
    return np.asarray(np.argmin(x, axis=axis, keepdims=keepdims), dtype=np.int64)
