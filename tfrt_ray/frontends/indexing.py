"""NumPy basic indexing on tensors, lowered onto the slice, gather, squeeze and unsqueeze
ops, so the same IR runs eagerly, traced and on device actors.

Supported: ints (negative too), slices with any step, ``...``, ``None``, tuples of these,
and one integer-array (or list) index, which becomes a gather on its axis. A boolean mask
whose value is known (eager) becomes integer indices; a traced mask raises, since its
result has no static shape.
"""

from __future__ import annotations

import numpy as np

from tfrt_ray.errors import TensorIndexError
from tfrt_ray.frontends.dispatch import apply
from tfrt_ray.frontends.tensor import Tensor
from tfrt_ray.ir.location import user_location
from tfrt_ray.ir.ops.shapes import INT64_MIN

_SUPPORTED = "ints, slices, ..., None, tuples of these, and one integer-array index"


def _fail(message: str) -> TensorIndexError:
    return TensorIndexError(message, loc=user_location(),
                            hint=f"supported indices: {_SUPPORTED}")


def _as_array_index(item, dim):
    """An int64 ndarray for an array/list/bool-mask index, or None if it is not one."""
    if isinstance(item, Tensor):
        if item._symbol is not None:
            if item.dtype == np.bool_:
                raise _fail("a boolean mask inside tr.function has no static result shape")
            return item
        item = item.numpy()
    if isinstance(item, (list, np.ndarray)):
        arr = np.asarray(item)
        if arr.dtype == np.bool_:
            if arr.ndim != 1:
                raise _fail(f"a {arr.ndim}-d boolean mask is not supported")
            if type(dim) is int and arr.shape[0] != dim:
                raise _fail(f"boolean index of length {arr.shape[0]} on an axis of size {dim}")
            arr = np.nonzero(arr)[0]
        if arr.size == 0:
            arr = arr.astype(np.int64)
        if not np.issubdtype(arr.dtype, np.integer):
            raise _fail(f"arrays used as indices must be of integer or boolean type, "
                        f"not {arr.dtype}")
        if type(dim) is int and arr.size and (arr.max() >= dim or arr.min() < -dim):
            raise _fail(f"index {int(arr.max() if arr.max() >= dim else arr.min())} is out "
                        f"of bounds for an axis of size {dim}")
        return arr.astype(np.int64)
    return None


def getitem(x: Tensor, index) -> Tensor:
    """``x[index]`` with NumPy's basic-indexing semantics."""
    items = list(index) if type(index) is tuple else [index]
    n_real = sum(1 for i in items if i is not None and i is not Ellipsis)
    if sum(1 for i in items if i is Ellipsis) > 1:
        raise _fail("an index can only have a single ellipsis ('...')")
    if n_real > x.ndim:
        raise _fail(f"too many indices for a tensor: it is {x.ndim}-dimensional, "
                    f"but {n_real} were indexed")
    if Ellipsis in [i if i is Ellipsis else None for i in items]:
        at = next(k for k, i in enumerate(items) if i is Ellipsis)
        items[at:at + 1] = [slice(None)] * (x.ndim - n_real)
    else:
        items += [slice(None)] * (x.ndim - n_real)
    starts, ends, axes, steps = [], [], [], []
    drop, new, gathers = [], [], []
    axis = 0
    for pos, item in enumerate(items):
        if item is None:
            new.append(pos)
            continue
        dim = x.shape[axis]
        if isinstance(item, slice):
            if item != slice(None):
                step = 1 if item.step is None else int(item.step)
                if step == 0:
                    raise TensorIndexError("slice step cannot be zero", loc=user_location(),
                                           hint="use a non-zero step")
                big = 2**62
                start = item.start if item.start is not None else (0 if step > 0 else big)
                end = item.stop if item.stop is not None else (big if step > 0 else INT64_MIN)
                starts.append(int(start))
                ends.append(int(end))
                axes.append(axis)
                steps.append(step)
        elif isinstance(item, (int, np.integer)) and not isinstance(item, (bool, np.bool_)):
            i = int(item)
            if type(dim) is int and not -dim <= i < dim:
                raise _fail(f"index {i} is out of bounds for axis {axis} with size {dim}")
            i = i + dim if i < 0 and type(dim) is int else i
            if i < 0:
                raise _fail(f"negative index {i} on an axis of unknown size")
            starts.append(i)
            ends.append(i + 1)
            axes.append(axis)
            steps.append(1)
            drop.append(pos)
        else:
            arr = _as_array_index(item, dim)
            if arr is None:
                raise _fail(f"only {_SUPPORTED} are valid indices, not {type(item).__name__}")
            gathers.append((pos, axis, arr))
        axis += 1
    if len(gathers) > 1:
        raise _fail("more than one integer-array index (advanced indexing) is not supported")
    out = x
    if axes:
        out = apply("slice", (out,), {"starts": starts, "ends": ends, "axes": axes,
                                      "steps": steps})
    # Positions in the index list map to output axes once dropped ints and new axes are known.
    if gathers:
        pos, ax, arr = gathers[0]
        if isinstance(arr, np.ndarray) and arr.ndim != 1:
            raise _fail("a multi-dimensional integer-array index is not supported")
        out = apply("gather", (out, arr), {"axis": ax})
    real = [p for p in range(len(items)) if items[p] is not None]
    dropped = [k for k, p in enumerate(real) if p in drop]
    if dropped:
        out = apply("squeeze", (out,), {"axes": dropped})
    if new:
        kept = [p for p in range(len(items)) if p not in drop]
        out = apply("unsqueeze", (out,), {"axes": [kept.index(p) for p in new]})
    return out
