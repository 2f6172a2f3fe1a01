"""Reference kernels for the onnx_index family (semantics: ``tfrt_ray.ir.ops.onnx_index``)."""

from __future__ import annotations

import numpy as np

from tfrt_ray.core.kernels.registry import kernel

_COMBINE = {
    "add": np.add,
    "mul": np.multiply,
    "max": np.maximum,
    "min": np.minimum,
}


def _positive(indices, size):
    indices = np.asarray(indices).astype(np.int64)
    return np.where(indices < 0, indices + size, indices)


@kernel("gather_elements")
def gather_elements(data, indices, *, axis):
    # Full coordinates: indices may be smaller than data in the dims other than axis.
    coords = list(np.indices(np.shape(indices), sparse=True))
    coords[axis] = _positive(indices, data.shape[axis])
    return np.asarray(data)[tuple(coords)]


@kernel("gather_nd")
def gather_nd(data, indices, *, batch_dims):
    indices = np.asarray(indices).astype(np.int64)
    batch = data.shape[:batch_dims]
    q = indices.shape[-1]
    nb = int(np.prod(batch))
    d = data.reshape((nb,) + data.shape[batch_dims:])
    idx = indices.reshape((nb, -1, q))
    idx = np.where(idx < 0, idx + np.array(d.shape[1:1 + q]), idx)
    out = np.stack([d[b][tuple(idx[b].T)] for b in range(nb)]) if nb else np.zeros(
        (0, idx.shape[1]) + d.shape[1 + q:], data.dtype)
    return out.reshape(indices.shape[:-1] + data.shape[batch_dims + q:])


@kernel("scatter_elements")
def scatter_elements(data, indices, updates, *, axis, reduction):
    out = np.array(data, copy=True)
    idx = _positive(indices, data.shape[axis])
    # Full coordinates of every update, written in order (later duplicates win).
    coords = list(np.indices(idx.shape))
    coords[axis] = idx
    flat = tuple(c.reshape(-1) for c in coords)
    values = np.asarray(updates).reshape(-1)
    if reduction == "none":
        for i in range(values.size):
            out[tuple(c[i] for c in flat)] = values[i]
    else:
        _COMBINE[reduction].at(out, flat, values)
    return out


@kernel("scatter_nd")
def scatter_nd(data, indices, updates, *, reduction):
    out = np.array(data, copy=True)
    indices = np.asarray(indices).astype(np.int64)
    q = indices.shape[-1]
    idx = indices.reshape(-1, q)
    idx = np.where(idx < 0, idx + np.array(data.shape[:q]), idx)
    upd = np.asarray(updates).reshape((idx.shape[0],) + data.shape[q:])
    for i in range(idx.shape[0]):
        key = tuple(idx[i])
        out[key] = upd[i] if reduction == "none" else _COMBINE[reduction](out[key], upd[i])
    return out


@kernel("top_k")
def top_k(x, *, k, axis, largest, sorted):
    x = np.asarray(x)
    keys = x
    if largest:
        keys = -x if x.dtype.kind == "f" else np.invert(x)
    order = np.argsort(keys, axis=axis, kind="stable")
    index = [slice(None)] * x.ndim
    index[axis] = slice(0, k)
    idx = order[tuple(index)]
    return np.take_along_axis(x, idx, axis=axis), idx.astype(np.int64)


@kernel("reverse_sequence")
def reverse_sequence(x, lengths, *, batch_axis, time_axis):
    out = np.array(x, copy=True)
    for b, n in enumerate(np.asarray(lengths).reshape(-1)):
        n = int(n)
        src = [slice(None)] * x.ndim
        src[batch_axis], src[time_axis] = b, slice(0, n)
        dst = list(src)
        dst[time_axis] = slice(n - 1, None, -1) if n > 0 else slice(0, 0)
        out[tuple(src)] = x[tuple(dst)]
    return out
