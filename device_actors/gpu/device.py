"""The "gpu" device type: kernels on CuPy arrays in GPU memory.

`make_kernels(xp, special)` writes the kernels once against an array module: with CuPy they
are the GPU kernels (registered under "gpu"; CuPy is imported only when one first runs), and
with NumPy the tests check their logic against the reference kernels on machines without a
GPU. Values move with ``cupy.asarray`` / ``cupy.asnumpy`` at the stage boundary
(`tfrt_ray.core.device_types.HostBoundaryStage`). `discover()` finds GPUs only where CuPy imports
and a device answers; it never raises. A device actor needs ``{"num_gpus": 1}``.

A kernel that raises turns into an `OpExecutionError` here, so the executor's error path
never has to turn a device array into a NumPy one.
"""

from __future__ import annotations

import functools
import importlib
import math

import numpy as np

from tfrt_ray.core.device_types import DeviceType, LocalDevice
from tfrt_ray.core.kernels.fused import run_body
from tfrt_ray.errors import OpExecutionError, TfrtRayError
from tfrt_ray.ir.types import dtype_token, numpy_dtype

NAME = "gpu"


class _Lazy:
    """A module imported on first attribute access."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._mod = None

    def __getattr__(self, attr: str):
        if self._mod is None:
            self._mod = importlib.import_module(self._name)
        return getattr(self._mod, attr)


def _describe(a) -> str:
    if a is None:
        return "none"
    try:
        return f"tensor<{'x'.join(map(str, a.shape))}x{dtype_token(a.dtype)}>"
    except Exception:  # noqa: BLE001
        return type(a).__name__


def _checked(op: str, fn):
    """Kernel failures as OpExecutionError (the executor fills op, node, device, line)."""

    @functools.wraps(fn)
    def run(*args, **attrs):
        try:
            return fn(*args, **attrs)
        except TfrtRayError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise OpExecutionError(f"gpu kernel raised {type(exc).__name__}: {exc}", op=op,
                                   inputs=[_describe(a) for a in args]) from exc

    return run


def make_kernels(xp, special) -> dict:
    """op -> kernel, written against the array module ``xp`` (cupy or numpy)."""
    k: dict = {}
    unary = {
        "exp": "exp", "log": "log", "sqrt": "sqrt", "tanh": "tanh", "sin": "sin", "cos": "cos",
        "reciprocal": "reciprocal", "floor": "floor", "ceil": "ceil", "round": "round",
        "neg": "negative", "abs": "abs", "sign": "sign", "logical_not": "logical_not",
    }
    binary = {
        "add": "add", "sub": "subtract", "mul": "multiply", "div": "true_divide",
        "pow": "power", "mod": "mod", "maximum": "maximum", "minimum": "minimum", "equal": "equal",
        "not_equal": "not_equal", "less": "less", "less_equal": "less_equal",
        "greater": "greater", "greater_equal": "greater_equal", "logical_and": "logical_and",
        "logical_or": "logical_or", "logical_xor": "logical_xor",
    }
    for op, fname in {**unary, **binary}.items():
        k[op] = (lambda f: lambda *a: getattr(xp, f)(*a))(fname)
    k["where"] = lambda c, a, b: xp.where(c, a, b)
    k["identity"] = k["dropout"] = lambda x, **_: x
    k["relu"] = lambda x: xp.maximum(x, x.dtype.type(0))
    k["sigmoid"] = lambda x: (1 / (1 + xp.exp(-x))).astype(x.dtype, copy=False)
    k["erf"] = lambda x: special.erf(x).astype(x.dtype, copy=False)
    k["leaky_relu"] = lambda x, *, alpha: xp.where(x >= 0, x, x * x.dtype.type(alpha))
    k["cast"] = lambda x, *, dtype: x.astype(numpy_dtype(dtype))

    def gelu(x, *, approximate):
        t = x.dtype.type
        if approximate == "tanh":
            inner = t(math.sqrt(2.0 / math.pi)) * (x + t(0.044715) * x * x * x)
            return t(0.5) * x * (t(1.0) + xp.tanh(inner))
        return t(0.5) * x * (t(1.0) + special.erf(x * t(1.0 / math.sqrt(2.0))).astype(x.dtype))

    def clip(x, *, min, max):
        t = x.dtype.type
        lo = None if min is None else t(min)
        hi = None if max is None else t(max)
        if lo is None and hi is None:
            return x.copy()
        y = x if lo is None else xp.maximum(x, lo)
        return y if hi is None else xp.minimum(y, hi)

    def gemm(a, b, c=None, *, alpha, beta, trans_a, trans_b):
        # (dtypes, not arrays: numpy's rule must never turn a device array into a host one)
        dt = np.result_type(*(v.dtype for v in (a, b, c) if v is not None))
        a = a.astype(dt, copy=False).T if trans_a else a.astype(dt, copy=False)
        b = b.astype(dt, copy=False).T if trans_b else b.astype(dt, copy=False)
        y = a @ b
        if alpha != 1.0:
            y *= dt.type(alpha)
        if c is not None:
            y += c.astype(dt, copy=False) * dt.type(beta)
        return y

    def softmax(x, *, axis):
        if x.size == 0:
            return x.copy()
        e = xp.exp(x - x.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)

    def log_softmax(x, *, axis):
        if x.size == 0:
            return x.copy()
        s = x - x.max(axis=axis, keepdims=True)
        return s - xp.log(xp.exp(s).sum(axis=axis, keepdims=True))

    def layer_norm(x, scale, bias=None, *, axis, epsilon):
        axes = tuple(range(axis % x.ndim, x.ndim))
        acc = np.float64 if x.dtype == np.float64 else np.float32
        xf = x.astype(acc, copy=False)
        d = xf - xf.mean(axis=axes, keepdims=True)
        y = d / xp.sqrt((d * d).mean(axis=axes, keepdims=True) + acc(epsilon))
        y = y * scale.astype(acc, copy=False)
        if bias is not None:
            y = y + bias.astype(acc, copy=False)
        return y.astype(x.dtype, copy=False)

    def batch_norm(x, scale, bias, mean, var, *, epsilon):
        a = scale.astype(np.float64) / xp.sqrt(var.astype(np.float64) + epsilon)
        b = bias.astype(np.float64) - mean.astype(np.float64) * a
        shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        return x * a.astype(x.dtype).reshape(shape) + b.astype(x.dtype).reshape(shape)

    def reduce(name, dtype_rule=None):
        def fn(x, *, axes, keepdims):
            axis = None if axes is None else tuple(axes)
            kw = {}
            if dtype_rule is not None:
                kw["dtype"] = numpy_dtype(dtype_rule(dtype_token(x.dtype)))
                if name == "mean" and x.dtype.kind == "f":
                    kw = {}
            return xp.asarray(getattr(xp, name)(x, axis=axis, keepdims=keepdims, **kw))

        return fn

    from tfrt_ray.ir.ops.reduce import mean_dtype, sum_dtype

    k["sum"], k["prod"] = reduce("sum", sum_dtype), reduce("prod", sum_dtype)
    k["mean"], k["max"], k["min"] = reduce("mean", mean_dtype), reduce("max"), reduce("min")
    k["argmax"] = lambda x, *, axis, keepdims: xp.asarray(
        xp.argmax(x, axis=axis, keepdims=keepdims), dtype=np.int64)
    k["argmin"] = lambda x, *, axis, keepdims: xp.asarray(
        xp.argmin(x, axis=axis, keepdims=keepdims), dtype=np.int64)

    def reshape(x, *, shape):
        return x.reshape([x.shape[i] if s == 0 else s for i, s in enumerate(shape)])

    def flatten(x, *, axis):
        axis = axis + x.ndim if axis < 0 else axis
        return x.reshape(math.prod(x.shape[:axis]), math.prod(x.shape[axis:]))

    def split(x, *, axis, sizes):
        bounds = np.cumsum(sizes)[:-1].tolist()
        return tuple(xp.split(x, bounds, axis=axis))

    def slice_(x, *, starts, ends, axes, steps):
        from tfrt_ray.ir.ops.shapes import slice_bounds

        n = len(starts)
        axes = range(n) if axes is None else axes
        steps = (1,) * n if steps is None else steps
        index = [slice(None)] * x.ndim
        for a, s, e, st in zip(axes, starts, ends, steps, strict=True):
            s, e, _ = slice_bounds(x.shape[a], s, e, st)
            index[a] = slice(s, e if e >= 0 else None, st)
        return x[tuple(index)].copy()

    k["reshape"] = reshape
    k["flatten"] = flatten
    k["split"] = split
    k["slice"] = slice_
    k["matmul"] = lambda a, b: xp.matmul(a, b)
    k["gemm"], k["clip"], k["gelu"] = gemm, clip, gelu
    k["softmax"], k["log_softmax"] = softmax, log_softmax
    k["layer_norm"], k["batch_norm"] = layer_norm, batch_norm
    k["transpose"] = lambda x, *, perm: xp.transpose(x, perm)
    k["squeeze"] = lambda x, *, axes: xp.squeeze(x, axis=None if axes is None else tuple(axes))
    k["unsqueeze"] = lambda x, *, axes: xp.expand_dims(x, tuple(axes))
    k["concat"] = lambda *xs, axis: xp.concatenate(xs, axis=axis)
    k["gather"] = lambda d, i, *, axis: xp.take(d, i.astype(np.int64, copy=False), axis=axis)
    k["expand"] = lambda x, *, shape: xp.broadcast_to(
        x, np.broadcast_shapes(x.shape, tuple(shape))).copy()
    k["global_avg_pool"] = lambda x: x.mean(axis=tuple(range(2, x.ndim)), keepdims=True)
    k["global_max_pool"] = lambda x: x.max(axis=tuple(range(2, x.ndim)), keepdims=True)
    k.update(_window_kernels(xp))
    k.update(_fused_kernels(xp, k))
    return k


def _fused_kernels(xp, k: dict) -> dict:
    """The fusion passes' ops, composed from the kernels above (one launch per step)."""

    def act(y, activation):
        if activation == "none":
            return y
        if activation in ("gelu", "gelu_tanh"):
            return k["gelu"](y, approximate="tanh" if activation == "gelu_tanh" else "none")
        return k[activation](y)

    def fused_elementwise(*xs, body):
        # The body's ops with this device's kernels, one launch each (each returns a new
        # array).
        return run_body(body, xs, k.__getitem__)

    def fused_matmul(a, b, bias=None, *, activation):
        y = xp.matmul(a, b)
        return act(y if bias is None else y + bias, activation)

    def fused_conv2d(x, w, b=None, *, strides, pads, dilations, group, activation):
        y = k["conv2d"](x, w, b, strides=strides, pads=pads, dilations=dilations, group=group)
        return act(y, activation)

    return {"fused_elementwise": fused_elementwise, "fused_matmul": fused_matmul,
            "fused_conv2d": fused_conv2d}


def _window_kernels(xp) -> dict:
    """conv2d (im2col + one batched matmul) and 2-D max/avg pooling, as the reference does
    them (the same output sizes, ceil_mode overhang and average divisors)."""
    from tfrt_ray.core.kernels.nn import _padding

    def grid(xpad, ks, strides, dilations, out):
        """(N, C, kh, kw, Ho, Wo): the windows of a padded input, a strided slice per offset."""
        (ho, wo), (sh, sw) = out, strides
        cols = xp.empty(xpad.shape[:2] + (ks[0], ks[1], ho, wo), xpad.dtype)
        for i in range(ks[0]):
            r = i * dilations[0]
            for j in range(ks[1]):
                q = j * dilations[1]
                cols[:, :, i, j] = xpad[:, :, slice(r, r + sh * (ho - 1) + 1, sh),
                                        slice(q, q + sw * (wo - 1) + 1, sw)]
        return cols

    def padded(x, pad, fill):
        if not any(p for pair in pad for p in pair):
            return x
        n, c, h, w = x.shape
        big = xp.full((n, c, h + sum(pad[0]), w + sum(pad[1])), fill, x.dtype)
        big[:, :, pad[0][0]:pad[0][0] + h, pad[1][0]:pad[1][0] + w] = x
        return big

    def windows(x, ks, strides, pads, dilations, fill, ceil_mode=False):
        pad, out = _padding(x, ks, strides, pads, dilations, ceil_mode)
        return grid(padded(x, pad, fill), ks, strides, dilations, out)

    def conv2d(x, w, b=None, *, strides, pads, dilations, group):
        cols = windows(x, w.shape[2:], strides, pads, dilations, 0)
        n, c, kh, kw, ho, wo = cols.shape
        cout, cg = w.shape[0], c // group
        cols = cols.reshape(n, group, cg * kh * kw, ho * wo)
        wmat = w.reshape(1, group, cout // group, cg * kh * kw).astype(x.dtype, copy=False)
        y = xp.matmul(wmat, cols).reshape(n, cout, ho, wo)  # (N, G, Cout/G, Ho*Wo)
        if b is not None:
            y = y + b.reshape(1, cout, 1, 1)
        return xp.ascontiguousarray(y)

    def max_pool2d(x, *, kernel_shape, strides, pads, dilations, ceil_mode):
        lowest = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
        strides = (1, 1) if strides is None else strides
        cols = windows(x, kernel_shape, strides, pads, dilations, lowest, ceil_mode)
        return cols.max(axis=(2, 3))

    def avg_pool2d(x, *, kernel_shape, strides, pads, ceil_mode, count_include_pad):
        strides, dil = (1, 1) if strides is None else strides, (1, 1)
        pad, out = _padding(x, kernel_shape, strides, pads, dil, ceil_mode)
        sums = grid(padded(x, pad, 0), kernel_shape, strides, dil, out).sum(axis=(2, 3))
        # The divisor: window elements in the input (and in the explicit pads if asked),
        # never those of the ceil_mode overhang.
        h, w = x.shape[2:]
        mask = xp.zeros((1, 1, h + sum(pad[0]), w + sum(pad[1])), x.dtype)
        if count_include_pad:
            mask[:, :, : h + pads[0] + pads[2], : w + pads[1] + pads[3]] = 1
        else:
            mask[:, :, pads[0] : pads[0] + h, pads[1] : pads[1] + w] = 1
        counts = grid(mask, kernel_shape, strides, dil, out).sum(axis=(2, 3))
        return sums / xp.maximum(counts, x.dtype.type(1))

    return {"conv2d": conv2d, "max_pool2d": max_pool2d, "avg_pool2d": avg_pool2d}


def _discover() -> list[LocalDevice]:
    """The GPUs CuPy sees on this node; [] without CuPy or a GPU (never raises)."""
    try:
        import cupy

        found = []
        for i in range(cupy.cuda.runtime.getDeviceCount()):
            with cupy.cuda.Device(i):
                _, total = cupy.cuda.runtime.memGetInfo()
            name = cupy.cuda.runtime.getDeviceProperties(i).get("name", b"gpu")
            found.append(LocalDevice(i, int(total), name.decode(errors="replace")
                                     if isinstance(name, bytes) else str(name)))
        return found
    except Exception:  # noqa: BLE001 - no CuPy, no driver, no device: no GPUs
        return []


_cp = _Lazy("cupy")
_special = _Lazy("cupyx.scipy.special")


def device_type() -> DeviceType:
    kernels = {op: _checked(op, fn) for op, fn in make_kernels(_cp, _special).items()}
    return DeviceType(
        name=NAME,
        discover=_discover,
        resources={"num_gpus": 1, "num_cpus": 1},
        kernels=kernels,
        to_host=lambda v: _cp.asnumpy(v),
        from_host=lambda a: _cp.asarray(a),
        flops_per_s=1e13,
        bytes_per_s=1.2e10,
        description="CuPy kernels on one GPU",
    )
