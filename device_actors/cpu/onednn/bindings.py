"""oneDNN's C API through ctypes: the library, its engine and stream, memory
descriptors and the calls the primitives make (see the package docstring)."""


from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
import sys
import threading
from collections.abc import Sequence

import numpy as np

from tfrt_ray.config import debug
from tfrt_ray.errors import KernelLibraryError

_F32 = 3
_TAG_ANY, _TAG_X, _TAG_AB, _TAG_NCHW, _TAG_OIHW, _TAG_GOIHW, _TAG_NHWC = 1, 2, 3, 5, 5, 6, 22
_FORWARD_INFERENCE = 96
_CONVOLUTION_DIRECT = 1
_POOLING = {"max": 0x1FF}
_ELTWISE = {"relu": 0x20, "tanh": 0x21, "sigmoid": 0x29, "gelu_tanh": 0x2B, "gelu": 0x31}
_QUERY_SRC, _QUERY_WEIGHTS, _QUERY_DST, _QUERY_SCRATCHPAD, _QUERY_IMPL = 129, 131, 133, 136, 8
_ARG_SRC, _ARG_DST, _ARG_WEIGHTS, _ARG_BIAS, _ARG_SCRATCHPAD = 1, 17, 33, 41, 80
_SCRATCHPAD_USER = 1  # dnnl_scratchpad_mode_user
_STATUS = {1: "out_of_memory", 2: "invalid_arguments", 3: "unimplemented",
           5: "runtime_error", 6: "not_required"}
_MAX_NDIMS = 12

_V = ctypes.c_void_p
_PV = ctypes.POINTER(_V)
_INT = ctypes.c_int
_DIMS = ctypes.c_int64 * _MAX_NDIMS
_PDIMS = ctypes.POINTER(ctypes.c_int64)


class _ExecArg(ctypes.Structure):
    _fields_ = [("arg", _INT), ("memory", _V)]


_SIGNATURES = {
    "dnnl_engine_create": [_PV, _INT, ctypes.c_size_t],
    "dnnl_stream_create": [_PV, _V, ctypes.c_uint],
    "dnnl_memory_desc_create_with_tag": [_PV, _INT, _PDIMS, _INT, _INT],
    "dnnl_memory_desc_destroy": [_V],
    "dnnl_memory_create": [_PV, _V, _V, _V],
    "dnnl_memory_destroy": [_V],
    "dnnl_primitive_attr_create": [_PV],
    "dnnl_primitive_attr_destroy": [_V],
    "dnnl_primitive_attr_set_post_ops": [_V, _V],
    "dnnl_primitive_attr_set_scratchpad_mode": [_V, _INT],
    "dnnl_post_ops_create": [_PV],
    "dnnl_post_ops_destroy": [_V],
    "dnnl_post_ops_append_eltwise": [_V, _INT, ctypes.c_float, ctypes.c_float],
    "dnnl_convolution_forward_primitive_desc_create": [
        _PV, _V, _INT, _INT, _V, _V, _V, _V, _PDIMS, _PDIMS, _PDIMS, _PDIMS, _V],
    "dnnl_matmul_primitive_desc_create": [_PV, _V, _V, _V, _V, _V, _V],
    "dnnl_pooling_forward_primitive_desc_create": [
        _PV, _V, _INT, _INT, _V, _V, _PDIMS, _PDIMS, _PDIMS, _PDIMS, _PDIMS, _V],
    "dnnl_reorder_primitive_desc_create": [_PV, _V, _V, _V, _V, _V],
    "dnnl_primitive_desc_query": [_V, _INT, _INT, _V],
    "dnnl_primitive_desc_query_md": [_V, _INT, _INT],
    "dnnl_primitive_desc_destroy": [_V],
    "dnnl_primitive_create": [_PV, _V],
    "dnnl_primitive_destroy": [_V],
    "dnnl_primitive_execute": [_V, _V, _INT, _V],
    "dnnl_memory_desc_get_size": [_V],
    "dnnl_memory_desc_equal": [_V, _V],
}
_RESTYPES = {"dnnl_primitive_desc_query_md": _V, "dnnl_memory_desc_get_size": ctypes.c_size_t}


def _candidates() -> list[str]:
    named = debug.onednn
    if named and named not in ("0", "1"):
        return [named]
    found = ctypes.util.find_library("dnnl")
    return [os.path.join(sys.prefix, "lib", "libdnnl.so.3")] + ([found] if found else [])


@functools.lru_cache(maxsize=1)
def _library():
    """The loaded library with its signatures set, or None where it is off or absent."""
    if debug.onednn == "0":
        return None
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
            for name, argtypes in _SIGNATURES.items():
                fn = getattr(lib, name)
                fn.argtypes = argtypes
                fn.restype = _RESTYPES.get(name, _INT)
        except (OSError, AttributeError):  # absent, or a build without the 3.x C API
            continue
        return lib
    return None


_off = threading.local()


def available() -> bool:
    """Whether oneDNN is installed, loads, and is not turned off (``TFRT_RAY_ONEDNN=0``, or
    `turned_off` on this thread)."""
    return not getattr(_off, "on", False) and _library() is not None


@contextlib.contextmanager
def turned_off():
    """Stages compiled on this thread inside the block use the NumPy kernels only (for
    comparisons: benchmarks, tests)."""
    before = getattr(_off, "on", False)
    _off.on = True
    try:
        yield
    finally:
        _off.on = before


def _check(status: int, call: str) -> None:
    if status:
        raise KernelLibraryError(f"oneDNN {call} failed: {_STATUS.get(status, status)}")


def _call(name: str, *args) -> None:
    _check(getattr(_library(), name)(*args), name)


def _new(name: str, *args) -> _V:
    handle = _V()
    _call(name, ctypes.byref(handle), *args)
    return handle


@functools.lru_cache(maxsize=1)
def _engine() -> _V:
    return _new("dnnl_engine_create", 1, 0)  # dnnl_cpu, device 0


_streams = threading.local()


def _stream() -> _V:
    """This thread's stream (one per thread, so stages on different threads never share)."""
    s = getattr(_streams, "stream", None)
    if s is None:
        s = _streams.stream = _new("dnnl_stream_create", _engine(), 1)
    return s


@functools.lru_cache(maxsize=1)
def _gomp():
    return ctypes.CDLL(ctypes.util.find_library("gomp") or "libgomp.so.1")


_threads = threading.local()


def set_threads(n: int) -> None:
    """oneDNN's OpenMP threads for primitives this thread runs next (a ctypes call only
    when the count changes: stages call this on every run)."""
    if getattr(_threads, "n", None) != n:
        _gomp().omp_set_num_threads(int(n))
        _threads.n = n


def _dims(values: Sequence[int]) -> _DIMS:
    return _DIMS(*values)


class _Desc:
    """A memory descriptor we made (and so destroy)."""

    def __init__(self, shape: Sequence[int], tag: int) -> None:
        self.lib = _library()
        self.handle = _new("dnnl_memory_desc_create_with_tag", len(shape), _dims(shape), _F32,
                           tag)

    def __del__(self) -> None:
        if hasattr(self, "handle"):
            self.lib.dnnl_memory_desc_destroy(self.handle)


def _layout_desc(shape: Sequence[int], channels_last: bool) -> _Desc:
    """The descriptor of an NCHW ``shape`` laid out NCHW or NHWC."""
    return _Desc(shape, _TAG_NHWC if channels_last else _TAG_NCHW)


def channels_last_shape(shape: Sequence[int]) -> tuple[int, ...]:
    """The NumPy shape (N, H, W, C) of an NCHW ``shape`` held channels-last."""
    n, c, h, w = shape
    return (n, h, w, c)


def _float32(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``x`` as a C-contiguous float32 array, checked to have the ``shape`` a primitive was
    made for (a primitive reads and writes raw memory: a wrong shape must never reach it)."""
    if x.shape != shape:
        raise KernelLibraryError(f"oneDNN primitive made for shape {shape} got {x.shape}")
    return np.ascontiguousarray(x, dtype=np.float32)


def _output(out: np.ndarray | None, shape: tuple[int, ...], what: str) -> np.ndarray:
    """A new result buffer, or ``out`` checked to be one a primitive may write raw."""
    if out is None:
        return np.empty(shape, np.float32)
    if out.shape != shape or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise KernelLibraryError(f"{what} output must be float32 {shape}, C order")
    return out


def _bytes(md: _V) -> int:
    return _library().dnnl_memory_desc_get_size(md)
