"""One place that checks a program's inputs and converts them to the dtypes it takes.

The dtype rule (the same for `run`/`submit`, ``.npz`` and Parquet inputs): a value is
converted to the input's dtype when NumPy calls the cast ``same_kind``
(``np.can_cast(src, dst, "same_kind")``: float64 -> float32, int32 -> int64, ...); an
integer narrowing (int64 -> int32) also needs every value to fit. Anything else (float ->
int, string -> float, bool <-> number) is an `InputError` naming the input and both dtypes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tfrt_ray.errors import InputError
from tfrt_ray.ir.types import format_dim


def _show_shape(shape: Sequence[Any]) -> str:
    return "(" + ", ".join(format_dim(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"


def describe(names: Sequence[str], types: Sequence[tuple[Sequence[Any], Any]]) -> str:
    """``x: float32 (batch, 4), offset: float32 (batch, 3)``: what a program expects."""
    return ", ".join(f"{n}: {np.dtype(dt)} {_show_shape(shape)}"
                     for n, (shape, dt) in zip(names, types, strict=True))


def _given(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of {value.dtype} {tuple(value.shape)}"
    text = repr(value)
    return f"{type(value).__name__} {text[:40] + '...' if len(text) > 40 else text}"


def convert(name: str, value: Any, dtype: Any, what: str = "input") -> np.ndarray:
    """``value`` as an array of ``dtype`` under the module's rule, or an InputError."""
    want = np.dtype(dtype)
    if value is None:
        raise InputError(f"{what} '{name}' is None, expected an array of {want}",
                         hint=f"pass an array for '{name}'")
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{what} '{name}' is not an array ({_given(value)}): {exc}",
                         hint=f"pass a rectangular array of {want}") from None
    got = array.dtype
    if got == want:
        return array
    bools = (got == np.bool_) != (want == np.bool_)
    if bools or not np.can_cast(got, want, casting="same_kind"):
        shown = "string" if got.kind in "US" or (
            got.kind == "O" and array.size and isinstance(array.flat[0], str)) else got
        raise InputError(
            f"{what} '{name}' has dtype {shown}, expected {want} (only same-kind casts such "
            "as float64 -> float32 or int32 -> int64 are converted)",
            hint=f"convert it yourself, e.g. x.astype(np.{want.name}), or store it as {want}",
        )
    if got.kind in "iu" and want.kind in "iu" and not np.can_cast(got, want, "safe") \
            and array.size:
        info = np.iinfo(want)
        lo, hi = array.min(), array.max()
        bad = lo if lo < info.min else hi if hi > info.max else None
        if bad is not None:
            raise InputError(
                f"{what} '{name}' holds {bad}, which does not fit {want} "
                f"[{info.min}, {info.max}]",
                hint=f"give '{name}' values in that range, or a model input of {got}",
            )
    with np.errstate(over="ignore"):  # float64 -> float32 may round to inf, as NumPy does
        return array.astype(want)


def check_dims(arrays: Mapping[str, Any], shapes: Mapping[str, Sequence[Any] | None],
               what: str = "input") -> None:
    """Rank, static dims, and one size per symbolic dim across all inputs."""
    seen: dict[str, tuple[int, str]] = {}
    for name, shape in shapes.items():
        a = arrays.get(name)
        if shape is None or a is None or not hasattr(a, "shape"):
            continue
        ok = len(a.shape) == len(shape) and all(
            type(d) is not int or d == s for d, s in zip(shape, a.shape, strict=False))
        if not ok:
            raise InputError(
                f"{what} '{name}' has shape {tuple(a.shape)}, expected {_show_shape(shape)}",
                hint="give the input the declared shape (a named or ? dim matches any size)",
            )
        for d, s in zip(shape, a.shape, strict=True):
            if type(d) is int or d in ("?", None):
                continue
            if d in seen and seen[d][0] != s:
                first, other = seen[d][1], name
                raise InputError(
                    f"{what}s '{first}' and '{other}' disagree on dim '{d}': dim '{d}' is "
                    f"{seen[d][0]} in {what} '{first}' but {s} in {what} '{other}'",
                    hint=f"inputs that share the dim '{d}' must have the same size there",
                )
            seen.setdefault(d, (s, name))


def bind(inputs: Any, names: Sequence[str], types: Sequence[tuple[Sequence[Any], Any]],
         *, optional: Sequence[str] = (), what: str = "input") -> dict[str, Any]:
    """Checks the names (a mapping, or a sequence in ``names`` order) and returns
    name -> value; values are not converted here (see `convert`, `check_dims`)."""
    expected = describe(names, types)
    if isinstance(inputs, Mapping):
        given = dict(inputs)
    elif isinstance(inputs, (list, tuple)):
        if len(inputs) != len(names):
            raise InputError(
                f"got {len(inputs)} {what}s, the program takes {len(names)} {what}(s): {expected}",
                hint="pass one value per input, in that order, or a dict by name")
        given = dict(zip(names, inputs, strict=True))
    else:
        raise InputError(
            f"the {what}s are {_given(inputs)}; expected a dict of {expected}",
            hint="pass a dict name -> array, or a list in input order")
    unknown = [k for k in given if k not in names and k not in optional]
    missing = [k for k in names if k not in given]
    if unknown or missing:
        parts = ([f"unknown {what}(s) {unknown} (not {what}s of this program)"]
                 if unknown else []) + ([f"missing {what}(s) {missing}"] if missing else [])
        raise InputError(f"{'; '.join(parts)}; the program's inputs are {list(names)}: "
                         f"{expected}",
                         hint=f"pass exactly these inputs: {list(names)}")
    return given


def prepare(arrays: Mapping[str, Any], names: Sequence[str],
            types: Sequence[tuple[Sequence[Any], Any]], what: str = "input") -> dict[str, Any]:
    """The given values converted under the dtype rule and checked for shape and shared
    dims; names not in ``names`` are passed through for the caller to report."""
    by_name = dict(zip(names, types, strict=True))
    out = {n: convert(n, v, by_name[n][1], what) if n in by_name else v
           for n, v in arrays.items()}
    check_dims(out, {n: shape for n, (shape, _) in by_name.items()}, what)
    return out


def bind_typed(inputs: Any, names: Sequence[str], input_types: Sequence[Any]) -> list[np.ndarray]:
    """The inputs in graph order, checked against the expected names, dtypes and shapes
    (``input_types``: `TensorType`s); what `Program.bind_inputs` does."""
    given = bind(inputs, names, [(t.shape, t.np_dtype) for t in input_types])
    arrays = {n: convert(n, given[n], t.np_dtype)  # a tensor converts by __array__
              for n, t in zip(names, input_types, strict=True)}
    check_dims(arrays, {n: t.shape for n, t in zip(names, input_types, strict=True)})
    return [arrays[n] for n in names]
