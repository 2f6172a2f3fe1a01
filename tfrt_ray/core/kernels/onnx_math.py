"""Reference kernels for the onnx_math family (semantics: ``tfrt_ray.ir.ops.onnx_math``)."""

from __future__ import annotations

from functools import cache

import numpy as np

from tfrt_ray.core.kernels.registry import kernel
from tfrt_ray.ir.ops.onnx_math import FORMAT_CARRIERS, FORMAT_ML_DTYPES
from tfrt_ray.ir.types import numpy_dtype

for _op, _fn in {
    "tan": np.tan,
    "asin": np.arcsin,
    "acos": np.arccos,
    "atan": np.arctan,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "asinh": np.arcsinh,
    "acosh": np.arccosh,
    "atanh": np.arctanh,
    "bitwise_not": np.invert,
    "bitwise_and": np.bitwise_and,
    "bitwise_or": np.bitwise_or,
    "bitwise_xor": np.bitwise_xor,
    "fmod": np.fmod,
}.items():
    kernel(_op)(_fn)


@kernel("trunc_div")
def trunc_div(a, b):
    dtype = np.result_type(a, b)
    a, b = np.broadcast_arrays(np.asarray(a, dtype), np.asarray(b, dtype))
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.floor_divide(a, b)
        # floor and trunc differ where the division is inexact and the signs differ.
        fix = (np.remainder(a, b) != 0) & ((a < 0) != (b < 0))
    return np.where(fix, q + dtype.type(1), q)


@kernel("bit_shift")
def bit_shift(x, amount, *, direction):
    x, amount = np.broadcast_arrays(np.asarray(x), np.asarray(amount))
    bits = x.dtype.itemsize * 8
    valid = (amount >= 0) & (amount < bits)
    safe = np.where(valid, amount, 0).astype(x.dtype)
    if direction == "right":
        out = np.right_shift(x, safe)
        fill = np.where(x < 0, -1, 0).astype(x.dtype) if x.dtype.kind == "i" else 0
        return np.where(valid, out, fill).astype(x.dtype)
    unsigned = np.dtype(f"u{x.dtype.itemsize}")
    out = np.left_shift(x.view(unsigned), safe.view(unsigned) if safe.dtype.kind == "i"
                        else safe.astype(unsigned)).view(x.dtype)
    return np.where(valid, out, 0).astype(x.dtype)


def _cumulative(fn, identity, x, axis, exclusive, reverse):
    x = np.asarray(x)
    if reverse:
        x = np.flip(x, axis)
    y = fn(x, axis=axis, dtype=x.dtype)
    if exclusive:
        y = np.roll(y, 1, axis=axis)
        index = [slice(None)] * x.ndim
        index[axis] = slice(0, 1)
        y[tuple(index)] = identity
    if reverse:
        y = np.flip(y, axis)
    return np.ascontiguousarray(y)


@kernel("cumsum")
def cumsum(x, *, axis, exclusive, reverse):
    return _cumulative(np.cumsum, 0, x, axis, exclusive, reverse)


@kernel("cumprod")
def cumprod(x, *, axis, exclusive, reverse):
    return _cumulative(np.cumprod, 1, x, axis, exclusive, reverse)


@kernel("einsum")
def einsum(*xs, equation):
    return np.asarray(np.einsum(equation, *xs, optimize=len(xs) > 2)).astype(xs[0].dtype)


@kernel("det")
def det(x):
    return np.asarray(np.linalg.det(x)).astype(x.dtype)


@kernel("bitcast")
def bitcast(x, *, dtype):
    x = np.asarray(x)
    out = numpy_dtype(dtype)
    if x.ndim == 0:
        return x.reshape(1).view(out).reshape(())
    return np.ascontiguousarray(x).view(out)


@kernel("dft")
def dft(x, *, axis, inverse, onesided, length):
    x = np.asarray(x)
    axis %= x.ndim
    complex_dtype = np.complex128 if x.dtype == np.float64 else np.complex64
    signal = x[..., 0].astype(complex_dtype)
    if x.shape[-1] == 2:
        signal = signal + 1j * x[..., 1].astype(complex_dtype)
    if inverse and onesided:
        y = np.fft.irfft(signal, n=length, axis=axis)
        return np.asarray(y[..., None]).astype(x.dtype)
    if onesided:
        y = np.fft.rfft(signal.real, n=length, axis=axis)
    else:
        y = (np.fft.ifft if inverse else np.fft.fft)(signal, n=length, axis=axis)
    return np.stack([y.real, y.imag], axis=-1).astype(x.dtype)


@cache
def _ml_dtypes():
    import ml_dtypes  # about a second to import: only where a narrow format is used

    return ml_dtypes


@kernel("to_format")
def to_format(x, *, format, saturate):
    x = np.asarray(x)
    ml_dtypes = _ml_dtypes()
    fmt = getattr(ml_dtypes, FORMAT_ML_DTYPES[format])
    if saturate and format.startswith("f8"):
        info = ml_dtypes.finfo(fmt)
        x = np.clip(x, float(info.min), float(info.max))
    return x.astype(fmt).astype(numpy_dtype(FORMAT_CARRIERS[format]))
