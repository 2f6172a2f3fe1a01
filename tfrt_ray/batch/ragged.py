"""Ragged list columns (token ids of different lengths) for fixed-length model inputs.

A ``list<int>`` column whose rows hold different numbers of values, for an input of shape
``(batch, n)`` with ``n`` fixed (``--dim seq=n``), is padded at the end of each row to ``n``
with ``PAD`` (0). A row longer than ``n`` is refused (an `InputError` naming the column, the
row and the lengths), never truncated. An input named ``attention_mask`` (or ``*attention_mask``)
missing from the file is built from the padded column: 1 for real values, 0 for padding.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tfrt_ray.errors import InputError

PAD = 0


def is_mask(name: str) -> bool:
    return name.endswith("attention_mask")


def is_ragged(column: pa.Array, expected) -> bool:
    """A variable-size list column of scalars, for a (batch, n) input with n fixed."""
    shape = tuple(expected.shape)
    if len(shape) != 2 or type(shape[1]) is not int:
        return False
    if not isinstance(column.type, (pa.ListType, pa.LargeListType)):
        return False
    if not pa.types.is_integer(column.type.value_type):
        return False  # token ids; float lists must already have the input's width
    lengths = pc.list_value_length(column)
    if len(column) == 0 or column.null_count:
        return False
    lo, hi = (pc.min_max(lengths)[k].as_py() for k in ("min", "max"))
    return lo != hi or hi != shape[1]


def lengths_of(column: pa.Array) -> np.ndarray:
    return pc.list_value_length(column).to_numpy(zero_copy_only=False).astype(np.int64)


def pad_column(column: pa.Array, name: str, width: int, first_row: int = 0) -> np.ndarray:
    """The ragged column as ``(rows, width)``, each row padded with ``PAD``."""
    lengths = lengths_of(column)
    long = np.flatnonzero(lengths > width)
    if long.size:
        r = int(long[0])
        raise InputError(
            f"column '{name}' row {first_row + r} holds {int(lengths[r])} values; the model "
            f"input takes at most {width} (longer rows are not truncated)",
            hint=f"raise the fixed length (e.g. --dim seq={int(lengths.max())}) or trim the "
            "rows before running",
        )
    values = column.flatten().to_numpy(zero_copy_only=False)
    out = np.full((len(column), width), PAD, dtype=values.dtype)
    mask = np.arange(width)[None, :] < lengths[:, None]
    out[mask] = values
    return out


def mask_for(lengths: np.ndarray, width: int, dtype) -> np.ndarray:
    """1 for the real values of each row, 0 for its padding."""
    return (np.arange(width)[None, :] < lengths[:, None]).astype(dtype)


def missing_mask(table: pa.Table, name: str, expected) -> np.ndarray:
    """The attention mask for a batch whose ragged column(s) are in ``table``."""
    shape = tuple(expected.shape)
    col = None
    for c in table.column_names:
        cc = table.column(c).combine_chunks()
        if isinstance(cc.type, (pa.ListType, pa.LargeListType)):
            col = cc
            break
    if col is None or len(shape) != 2 or type(shape[1]) is not int:
        raise InputError(f"input '{name}' is not in the file and cannot be built from a "
                         "ragged list column", hint=f"add a column '{name}'")
    return mask_for(lengths_of(col), shape[1], expected.np_dtype)
