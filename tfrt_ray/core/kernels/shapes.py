"""Reference kernels for the shapes family (semantics: ``tfrt_ray.ir.ops.shapes``).

reshape, transpose, squeeze, unsqueeze, flatten and split may return views of their input;
the rest return fresh arrays.
"""

from __future__ import annotations

import math

import numpy as np

from tfrt_ray.core.kernels.registry import kernel
from tfrt_ray.ir.ops.shapes import range_length, slice_bounds
from tfrt_ray.ir.types import numpy_dtype


@kernel("reshape")
def reshape(x, *, shape):
    x = np.asarray(x)
    return x.reshape([x.shape[i] if s == 0 else s for i, s in enumerate(shape)])


@kernel("transpose")
def transpose(x, *, perm):
    return np.transpose(x, perm)


@kernel("squeeze")
def squeeze(x, *, axes):
    return np.squeeze(x, axis=None if axes is None else tuple(axes))


@kernel("unsqueeze")
def unsqueeze(x, *, axes):
    return np.expand_dims(x, tuple(axes))


@kernel("flatten")
def flatten(x, *, axis):
    x = np.asarray(x)
    if axis < 0:
        axis += x.ndim
    return x.reshape(math.prod(x.shape[:axis]), math.prod(x.shape[axis:]))


@kernel("concat")
def concat(*xs, axis):
    return np.concatenate(xs, axis=axis)


@kernel("split")
def split(x, *, axis, sizes):
    bounds = np.cumsum(sizes)[:-1]
    return tuple(np.split(x, bounds, axis=axis))


@kernel("slice")
def slice_(x, *, starts, ends, axes, steps):
    x = np.asarray(x)
    n = len(starts)
    axes = range(n) if axes is None else axes
    steps = (1,) * n if steps is None else steps
    index = [slice(None)] * x.ndim
    for a, s, e, st in zip(axes, starts, ends, steps, strict=True):
        s, e, _ = slice_bounds(x.shape[a], s, e, st)
        index[a] = slice(s, e if e >= 0 else None, st)  # e == -1: run past index 0
    return x[tuple(index)].copy()


@kernel("gather")
def gather(data, indices, *, axis):
    return np.take(data, np.asarray(indices).astype(np.intp, copy=False), axis=axis)


@kernel("expand")
def expand(x, *, shape):
    x = np.asarray(x)
    return np.broadcast_to(x, np.broadcast_shapes(x.shape, tuple(shape))).copy()


@kernel("pad")
def pad(x, *, pads, mode, value):
    x = np.asarray(x)
    r = x.ndim
    begins, ends = pads[:r], pads[r:]
    crop = tuple(
        slice(max(-b, 0), d + min(e, 0)) for b, e, d in zip(begins, ends, x.shape, strict=True)
    )
    x = x[crop]
    widths = [(max(b, 0), max(e, 0)) for b, e in zip(begins, ends, strict=True)]
    if mode == "constant":
        return np.pad(x, widths, mode="constant", constant_values=np.asarray(value, x.dtype))
    return np.pad(x, widths, mode=mode)


@kernel("tile")
def tile(x, *, repeats):
    return np.tile(x, tuple(repeats))


@kernel("shape")
def shape(x):
    return np.asarray(np.shape(x), dtype=np.int64)


@kernel("constant")
def constant(*, value):
    return value.array


@kernel("constant_of_shape")
def constant_of_shape(*, shape, value, dtype):
    return np.full(tuple(shape), value, dtype=numpy_dtype(dtype))


@kernel("range")
def range_(*, start, limit, delta, dtype):
    n = range_length(start, limit, delta)
    return (start + delta * np.arange(n, dtype=np.float64)).astype(numpy_dtype(dtype))
