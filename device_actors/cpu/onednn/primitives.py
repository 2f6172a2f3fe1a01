"""The oneDNN primitives the CPU device runs: layout reorders, convolution, matrix
product and pooling, each built once for its shapes and run per step."""

from __future__ import annotations

import ctypes
import math
import threading
from collections.abc import Sequence

import numpy as np

from device_actors.cpu.onednn.bindings import (  # the package's own internals
    _ARG_BIAS,
    _ARG_DST,
    _ARG_SCRATCHPAD,
    _ARG_SRC,
    _ARG_WEIGHTS,
    _CONVOLUTION_DIRECT,
    _ELTWISE,
    _FORWARD_INFERENCE,
    _POOLING,
    _QUERY_DST,
    _QUERY_IMPL,
    _QUERY_SCRATCHPAD,
    _QUERY_SRC,
    _QUERY_WEIGHTS,
    _SCRATCHPAD_USER,
    _TAG_AB,
    _TAG_ANY,
    _TAG_GOIHW,
    _TAG_OIHW,
    _TAG_X,
    _V,
    _bytes,
    _call,
    _check,
    _Desc,
    _dims,
    _engine,
    _ExecArg,
    _float32,
    _layout_desc,
    _library,
    _new,
    _output,
    _stream,
    channels_last_shape,
)
from tfrt_ray.core.kernels.nn import _out_len
from tfrt_ray.errors import KernelLibraryError


class _Primitive:
    """A primitive and the descriptor it was made from, safe to run on several threads at
    once: ``run`` makes the memory objects per call (a few microseconds) and hands the
    primitive a scratchpad of this thread's own.

    Every primitive is made with a *user* scratchpad (`_attr`). oneDNN's default, the
    library scratchpad, is one buffer shared by all primitives (``DNNL_ENABLE_CONCURRENT_EXEC
    =OFF``, the wheel's build), only safe when each primitive runs on the thread that made it;
    stages run primitives on their pool's threads and on actor threads, and four threads
    in one ResNet block's brgconv convolutions wrote into each other's partial sums (wrong
    values, tests/device_actors/cpu/test_onednn_lowering.py)."""

    def __init__(self, pd: _V) -> None:
        self.lib = _library()
        self._pd = pd  # owns the descriptors `md` returns; destroyed with this object
        s = ctypes.c_char_p()
        _call("dnnl_primitive_desc_query", pd, _QUERY_IMPL, 0, ctypes.cast(ctypes.byref(s), _V))
        self.name = (s.value or b"").decode()
        self.prim = _new("dnnl_primitive_create", pd)
        self._scratch_md = self.md(_QUERY_SCRATCHPAD)
        self.scratch_bytes = _bytes(self._scratch_md) if self._scratch_md.value else 0
        self._scratch = threading.local()

    def md(self, query: int) -> _V:
        return _V(self.lib.dnnl_primitive_desc_query_md(self._pd, query, 0))

    def _scratchpad(self) -> tuple[int, _V, int] | None:
        """This thread's scratchpad for this primitive (made on its first run here)."""
        if not self.scratch_bytes:
            return None
        buf = getattr(self._scratch, "buf", None)
        if buf is None:
            buf = self._scratch.buf = np.empty(self.scratch_bytes, np.uint8)
        return (_ARG_SCRATCHPAD, self._scratch_md, buf.ctypes.data)

    def run(self, args: Sequence[tuple[int, _V, int]]) -> None:
        lib, engine = self.lib, _engine()
        scratch = self._scratchpad()
        if scratch is not None:
            args = (*args, scratch)
        mems = []
        try:
            for _, md, ptr in args:
                mems.append(_new("dnnl_memory_create", md, engine, _V(ptr)))
            packed = (_ExecArg * len(args))(
                *(_ExecArg(a, m) for (a, _, _), m in zip(args, mems)))
            _check(lib.dnnl_primitive_execute(self.prim, _stream(), len(args),
                                              ctypes.cast(packed, _V)),
                   f"execute ({self.name})")
        finally:
            for m in mems:
                lib.dnnl_memory_destroy(m)

    def __del__(self) -> None:
        lib = getattr(self, "lib", None)
        if lib is not None and hasattr(self, "prim"):
            lib.dnnl_primitive_destroy(self.prim)
        if lib is not None:
            lib.dnnl_primitive_desc_destroy(self._pd)


class _Copy:
    """A reorder from one memory descriptor to another (the caller keeps both alive)."""

    def __init__(self, src: _V, dst: _V) -> None:
        e, attr = _engine(), _attr("none")
        try:
            self.prim = _Primitive(_new("dnnl_reorder_primitive_desc_create", src, e, dst, e,
                                        attr))
        finally:
            _library().dnnl_primitive_attr_destroy(attr)
        self.src, self.dst = src, dst
        self.out_elems = _bytes(dst) // 4

    def __call__(self, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        self.prim.run(((_ARG_SRC, self.src, x.ctypes.data), (_ARG_DST, self.dst, out.ctypes.data)))
        return out


def _same(a: _V, b: _V) -> bool:
    return bool(_library().dnnl_memory_desc_equal(a, b))


class Reorder:
    """NCHW <-> channels-last copies of one NCHW ``shape``: ``Reorder(shape, to_channels_last)
    (x, out=None)``."""

    takes_out = True  # see CompiledStage.run's ``into``
    fresh_output = True  # without ``out``, a new array (device_actors.cpu.memory_plan)

    def __init__(self, shape: Sequence[int], to_channels_last: bool) -> None:
        shape = tuple(int(d) for d in shape)
        self.in_shape = shape if to_channels_last else channels_last_shape(shape)
        self.out_shape = channels_last_shape(shape) if to_channels_last else shape
        self._descs = (_layout_desc(shape, not to_channels_last),
                       _layout_desc(shape, to_channels_last))
        self.copy = _Copy(self._descs[0].handle, self._descs[1].handle)

    def __call__(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        x = _float32(x, self.in_shape)
        out = _output(out, self.out_shape, "reorder")
        return self.copy(x, out)


def _attr(activation: str) -> _V:
    """Primitive attributes: a user scratchpad (see `_Primitive`), then ``activation`` fused."""
    attr = _new("dnnl_primitive_attr_create")
    _call("dnnl_primitive_attr_set_scratchpad_mode", attr, _SCRATCHPAD_USER)
    if activation != "none":
        ops = _new("dnnl_post_ops_create")
        _call("dnnl_post_ops_append_eltwise", ops, _ELTWISE[activation], 0.0, 0.0)
        _call("dnnl_primitive_attr_set_post_ops", attr, ops)
        _library().dnnl_post_ops_destroy(ops)
    return attr


class Conv:
    """A 2-D convolution (any group count) with bias and activation fused, its weights
    reordered once into the layout the primitive wants. ``src_channels_last`` /
    ``dst_channels_last`` pick the layouts of ``x`` and of the result. Where oneDNN has only
    its reference implementation for those layouts, it picks its own and the conv reorders
    around the primitive; where it has nothing better than the reference, raises
    `KernelLibraryError`."""

    ACTIVATIONS = frozenset(("none", *_ELTWISE))
    fresh_output = True  # a new array per call (device_actors.cpu.memory_plan)

    def __init__(self, x_shape, w: np.ndarray, b: np.ndarray | None, *, strides, pads,
                 dilations, group: int = 1, activation: str, src_channels_last: bool,
                 dst_channels_last: bool) -> None:
        x_shape = tuple(int(d) for d in x_shape)
        cout, _, kh, kw = w.shape
        if group > 1:  # oneDNN's grouped weights: (G, Cout/G, Cin/G, kh, kw)
            w = w.reshape(group, cout // group, *w.shape[1:])
        out_shape = (x_shape[0], cout,
                     _out_len(x_shape[2], kh, strides[0], dilations[0], pads[0], pads[2], False),
                     _out_len(x_shape[3], kw, strides[1], dilations[1], pads[1], pads[3], False))
        self.out_shape = channels_last_shape(out_shape) if dst_channels_last else out_shape
        self.in_shape = channels_last_shape(x_shape) if src_channels_last else x_shape
        src = _layout_desc(x_shape, src_channels_last)
        dst = _layout_desc(out_shape, dst_channels_last)
        w_any = _Desc(w.shape, _TAG_ANY)
        self._bias = None if b is None else _Desc((cout,), _TAG_X)
        self.bias = None if b is None else np.ascontiguousarray(b, np.float32)
        geometry = (_dims(strides), _dims([d - 1 for d in dilations]), _dims(pads[:2]),
                    _dims(pads[2:]))

        def make(src_md: _V, dst_md: _V) -> _Primitive:
            attr = _attr(activation)
            try:
                return _Primitive(_new(
                    "dnnl_convolution_forward_primitive_desc_create", _engine(),
                    _FORWARD_INFERENCE, _CONVOLUTION_DIRECT, src_md, w_any.handle,
                    None if b is None else self._bias.handle, dst_md, *geometry, attr))
            finally:
                _library().dnnl_primitive_attr_destroy(attr)

        self.prim = make(src.handle, dst.handle)
        if self.prim.name.startswith("ref"):
            any_src, any_dst = _Desc(x_shape, _TAG_ANY), _Desc(out_shape, _TAG_ANY)
            self.prim = make(any_src.handle, any_dst.handle)
        if self.prim.name.startswith("ref"):
            raise KernelLibraryError(f"oneDNN has only its reference convolution for x {x_shape}, "
                              f"w {tuple(w.shape)}")
        self.name = self.prim.name
        self._descs = (src, dst, w_any)  # kept alive for the reorders below
        p_src, p_dst = self.prim.md(_QUERY_SRC), self.prim.md(_QUERY_DST)
        self.pre = None if _same(p_src, src.handle) else _Copy(src.handle, p_src)
        self.post = None if _same(p_dst, dst.handle) else _Copy(p_dst, dst.handle)
        self.src, self.dst, self.w_md = p_src, p_dst, self.prim.md(_QUERY_WEIGHTS)
        w_plain = _Desc(w.shape, _TAG_GOIHW if group > 1 else _TAG_OIHW)
        self.weights = _Copy(w_plain.handle, self.w_md)(
            np.ascontiguousarray(w, np.float32), np.empty(_bytes(self.w_md) // 4, np.float32))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = _float32(x, self.in_shape)
        if self.pre is not None:
            x = self.pre(x, np.empty(self.pre.out_elems, np.float32))
        out = np.empty(self.out_shape, np.float32)
        y = out if self.post is None else np.empty(_bytes(self.dst) // 4, np.float32)
        args = [(_ARG_SRC, self.src, x.ctypes.data),
                (_ARG_WEIGHTS, self.w_md, self.weights.ctypes.data),
                (_ARG_DST, self.dst, y.ctypes.data)]
        if self.bias is not None:
            args.append((_ARG_BIAS, self._bias.handle, self.bias.ctypes.data))
        self.prim.run(args)
        return out if self.post is None else self.post(y, out)


class MatMul:
    """``activation(a @ w + b)`` for a constant ``w`` (K, N), its weights packed once for the
    primitive; ``a`` is any float32 array whose last axis is K (its leading axes are the
    rows). Writes into ``out`` when given (see CompiledStage.run's ``into``)."""

    ACTIVATIONS = frozenset(("none", *_ELTWISE))
    takes_out = True
    fresh_output = True  # without ``out``, a new array (device_actors.cpu.memory_plan)

    def __init__(self, a_shape, w: np.ndarray, b: np.ndarray | None, *,
                 activation: str) -> None:
        self.in_shape = tuple(int(d) for d in a_shape)
        k, n = w.shape
        m = math.prod(self.in_shape[:-1])
        self.out_shape = (*self.in_shape[:-1], n)
        self._descs = (_Desc((m, k), _TAG_AB), _Desc((k, n), _TAG_ANY),
                       None if b is None else _Desc((1, n), _TAG_AB), _Desc((m, n), _TAG_AB))
        src, w_any, bias, dst = self._descs
        attr = _attr(activation)
        try:
            self.prim = _Primitive(_new(
                "dnnl_matmul_primitive_desc_create", _engine(), src.handle, w_any.handle,
                None if bias is None else bias.handle, dst.handle, attr))
        finally:
            _library().dnnl_primitive_attr_destroy(attr)
        if self.prim.name.startswith("ref"):
            raise KernelLibraryError(f"oneDNN has only its reference matmul for {m}x{k}x{n}")
        self.name = self.prim.name
        self.w_md = self.prim.md(_QUERY_WEIGHTS)
        w_plain = _Desc(w.shape, _TAG_AB)
        self.weights = _Copy(w_plain.handle, self.w_md)(
            np.ascontiguousarray(w, np.float32), np.empty(_bytes(self.w_md) // 4, np.float32))
        self.bias = None if b is None else np.ascontiguousarray(b, np.float32)

    def __call__(self, a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        a = _float32(a, self.in_shape)
        out = _output(out, self.out_shape, "matmul")
        src, _, bias, dst = self._descs
        args = [(_ARG_SRC, src.handle, a.ctypes.data),
                (_ARG_WEIGHTS, self.w_md, self.weights.ctypes.data),
                (_ARG_DST, dst.handle, out.ctypes.data)]
        if self.bias is not None:
            args.append((_ARG_BIAS, bias.handle, self.bias.ctypes.data))
        self.prim.run(args)
        return out


class Pool:
    """2-D max pooling (``kind="max"``) of channels-last values."""

    fresh_output = True  # a new array per call (device_actors.cpu.memory_plan)

    def __init__(self, x_shape, out_hw, *, kind: str, kernel_shape, strides, pads) -> None:
        x_shape = tuple(int(d) for d in x_shape)
        out_shape = (*x_shape[:2], *out_hw)
        self.in_shape = channels_last_shape(x_shape)
        self.out_shape = channels_last_shape(out_shape)
        self._descs = (_layout_desc(x_shape, True), _layout_desc(out_shape, True))
        self.src, self.dst = (d.handle for d in self._descs)
        attr = _attr("none")
        try:
            self.prim = _Primitive(_new(
                "dnnl_pooling_forward_primitive_desc_create", _engine(), _FORWARD_INFERENCE,
                _POOLING[kind], self.src, self.dst, _dims(strides), _dims(kernel_shape),
                _dims((0, 0)), _dims(pads[:2]), _dims(pads[2:]), attr))
        finally:
            _library().dnnl_primitive_attr_destroy(attr)
        if self.prim.name.startswith("ref"):
            raise KernelLibraryError(f"oneDNN has only its reference pooling for x {x_shape}")
        self.name = self.prim.name

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = _float32(x, self.in_shape)
        out = np.empty(self.out_shape, np.float32)
        self.prim.run(((_ARG_SRC, self.src, x.ctypes.data), (_ARG_DST, self.dst, out.ctypes.data)))
        return out
