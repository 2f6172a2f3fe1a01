"""Arrow columns <-> the arrays a program takes and gives, one row per example.

Inputs (a Parquet column feeds the model input of the same name):

- a primitive column (``float``, ``int64``, ...) is a 1-D array of shape ``(rows,)``;
- a column of lists (``list<float>``, ``large_list``, ``fixed_size_list<float>[w]``) whose
  rows all hold ``w`` values is a 2-D array ``(rows, w)``; lists of lists nest further,
  ``(rows, h, w)``. When the model wants rows of another shape with the same number of
  values (a flat ``list<float>[784]`` for a ``(batch, 28, 28)`` input), each row is
  reshaped to it;
- values are converted to the model's dtype by `tfrt_ray.runtime.feeds.convert` (a
  ``same_kind`` cast, integer narrowing only when the values fit; the rule ``.npz`` inputs
  and ``prog.run`` use); anything else (strings, floats for an integer input), nulls, and
  rows of unequal length are an `InputError` naming the column.

Outputs: an output of shape ``(batch,)`` is a primitive column; ``(batch, w)`` is a
``fixed_size_list<...>[w]`` column; ``(batch, h, w)`` nests fixed-size lists. A symbolic
trailing dim becomes a variable-size ``list<...>``.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tfrt_ray.errors import InputError
from tfrt_ray.ir.types import TensorType
from tfrt_ray.runtime.feeds import convert

_LISTS = (pa.ListType, pa.LargeListType, pa.FixedSizeListType)


def column_to_array(column: pa.Array | pa.ChunkedArray, name: str,
                    expected: TensorType, first_row: int = 0) -> np.ndarray:
    """The column as an array of shape ``(rows, *row_shape)`` for the input ``expected``
    (whose leading dim is the batch); ragged lists are padded (see `ragged`)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    from tfrt_ray.batch import ragged

    if ragged.is_ragged(column, expected):
        padded = ragged.pad_column(column, name, expected.shape[1], first_row)
        return convert(name, padded, expected.np_dtype)
    rows = len(column)
    values, dims = column, []
    while isinstance(values.type, _LISTS):
        if values.null_count:
            raise _nulls(name, values.null_count)
        if isinstance(values.type, pa.FixedSizeListType):
            width = values.type.list_size
        else:
            lengths = pc.list_value_length(values)
            lo, hi = (pc.min_max(lengths)[k].as_py() for k in ("min", "max"))
            if lo != hi:
                raise InputError(
                    f"column '{name}' holds lists of {lo} to {hi} values; every row must "
                    "hold the same number",
                    hint="pad or trim the lists to one length, or store them as "
                    "fixed_size_list",
                )
            width = lo or 0
        dims.append(width)
        values = values.flatten()
    if values.null_count:
        raise _nulls(name, values.null_count)
    leaf = values.to_numpy(zero_copy_only=False)
    natural = (rows, *dims)
    want_row = tuple(expected.shape[1:])
    if _matches(natural[1:], want_row):
        shape = natural
    elif all(type(d) is int for d in want_row) and math.prod(want_row) == math.prod(dims):
        shape = (rows, *want_row)
    else:
        got = "single values" if not dims else f"rows of shape {tuple(dims)}"
        raise InputError(
            f"column '{name}' holds {got}; input '{name}' takes rows of shape "
            f"{_show(want_row)} ({expected})",
            hint="a list column becomes (rows, width); give each row the input's shape "
            "(or the same number of values)",
        )
    array = leaf.reshape(shape) if rows else np.zeros(
        (0, *[d if type(d) is int else 0 for d in want_row]), leaf.dtype)
    return convert(name, array, expected.np_dtype)  # the rule .npz and prog.run use


def pad_rows(array: np.ndarray, size: int) -> np.ndarray:
    """``array`` grown to ``size`` rows by repeating its last row (finite values, so the
    padded rows cannot raise floating-point errors); the padded rows are dropped later."""
    short = size - len(array)
    if short <= 0:
        return array
    return np.concatenate([array, np.repeat(array[-1:], short, axis=0)], axis=0)


def arrow_type(t: TensorType) -> pa.DataType:
    """The Arrow type of one row of an output of type ``t`` (leading dim: the batch)."""
    typ = pa.from_numpy_dtype(t.np_dtype)
    for d in reversed(t.shape[1:]):
        typ = pa.list_(typ, d) if type(d) is int else pa.list_(typ)
    return typ


def array_to_column(array: np.ndarray, typ: pa.DataType) -> pa.Array:
    """Rows of ``array`` as an Arrow column of type ``typ`` (see `arrow_type`)."""
    array = np.ascontiguousarray(array)
    flat = pa.array(array.reshape(-1), type=_leaf(typ))
    for d in reversed(array.shape[1:]):
        flat = pa.FixedSizeListArray.from_arrays(flat, d)
    return flat if flat.type == typ else flat.cast(typ)


def output_schema(names, types, keep: pa.Schema | None = None) -> pa.Schema:
    fields = list(keep or [])
    taken = {f.name for f in fields}
    for name, t in zip(names, types, strict=True):
        if t.rank == 0:
            raise InputError(
                f"output '{name}' is a scalar, not one value per row",
                hint="batch inference needs outputs whose first dimension is the batch",
            )
        if name in taken:
            raise InputError(f"output '{name}' has the name of a kept input column",
                             hint="keep a different column, or rename it in the input")
        fields.append(pa.field(name, arrow_type(t)))
    return pa.schema(fields)


def _leaf(typ: pa.DataType) -> pa.DataType:
    while isinstance(typ, _LISTS):
        typ = typ.value_type
    return typ


def _matches(got: tuple, want: tuple) -> bool:
    return len(got) == len(want) and all(type(w) is not int or w == g
                                         for g, w in zip(got, want, strict=True))


def _show(shape: tuple) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _nulls(name: str, count: int) -> InputError:
    return InputError(f"column '{name}' has {count} null value(s)",
                      hint="fill or drop the null rows before running the model")
