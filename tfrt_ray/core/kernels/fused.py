"""Reference kernels for the fused family (semantics: ``tfrt_ray.ir.ops.fused``).

Each call allocates its result and nothing else where it can: every step writes with
numpy's ``out=`` into that buffer (or, for a program whose DAG keeps several values alive,
into the few buffers the fusion pass allotted). gelu keeps one scratch buffer: it needs
``x`` after its first write. The arithmetic matches the unfused reference kernels op for
op, so a fused graph computes the same values as the unfused one.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from tfrt_ray.core.kernels.elementwise import NUMPY_FUNCTIONS
from tfrt_ray.core.kernels.erf import erf_into
from tfrt_ray.core.kernels.nn import conv_nchw
from tfrt_ray.core.kernels.registry import kernel
from tfrt_ray.core.kernels.scipy_special import expit
from tfrt_ray.ir.ops.fused import parse_program
from tfrt_ray.ir.types import numpy_dtype

_SQRT_HALF = 1.0 / np.sqrt(2.0)
_SQRT_2_OVER_PI = np.sqrt(2.0 / np.pi)

# What a program instruction calls (with ``out=``): the elementwise kernels' NumPy functions,
# and the two whose reference kernels wrap theirs.
_UFUNCS = {**NUMPY_FUNCTIONS, "pow": np.power, "sigmoid": expit}


def gelu_into(x, out, approximate: str = "none"):
    """gelu(x) into ``out`` (``out`` must not be ``x``), in the reference kernel's order."""
    t = out.dtype.type
    if approximate == "tanh":
        np.multiply(x, t(0.044715), out=out)
        out *= x
        out *= x
        out += x
        out *= t(_SQRT_2_OVER_PI)
        np.tanh(out, out=out)
    else:
        np.multiply(x, t(_SQRT_HALF), out=out)
        erf_into(out, out)
    out += t(1.0)
    out *= x
    out *= t(0.5)  # exact, so (0.5 * x) * y == (x * y) * 0.5
    return out


def activate(y, activation: str):
    """Applies ``activation`` to ``y`` in place (gelu uses one scratch copy of ``y``)."""
    if activation == "relu":
        np.maximum(y, 0, out=y)
    elif activation == "sigmoid":
        expit(y, out=y)
    elif activation == "tanh":
        np.tanh(y, out=y)
    elif activation in ("gelu", "gelu_tanh"):
        gelu_into(y.copy(), y, "tanh" if activation == "gelu_tanh" else "none")
    return y


def _step(op: str, params: tuple[str, ...], dtype: np.dtype):
    """A function ``f(*srcs, out)`` for one program instruction."""
    t = dtype.type
    if op == "relu":
        return lambda x, out: np.maximum(x, 0, out=out)
    if op == "gelu":
        return lambda x, out: gelu_into(x, out, params[0])
    if op == "leaky_relu":
        alpha = t(float(params[0]))

        def leaky(x, out):
            np.multiply(x, alpha, out=out)
            np.copyto(out, x, where=x >= 0)

        return leaky
    if op == "clip":
        lo, hi = (None if p == "none" else t(float(p)) for p in params)
        if lo is None and hi is None:
            return lambda x, out: np.copyto(out, x)
        return lambda x, out: np.clip(x, lo, hi, out=out)
    if op == "erf":
        return erf_into
    ufunc = _UFUNCS[op]
    return lambda *args: ufunc(*args[:-1], out=args[-1])


@lru_cache(maxsize=512)
def _compile(program: str, dtype: str):
    prog = parse_program(program)
    dt = numpy_dtype(dtype)
    steps = tuple(
        (
            _step(i.op, i.params, dt),
            tuple(s if kind == "x" else prog.n_inputs + s for kind, s in i.srcs),
            prog.n_inputs + i.dst,
        )
        for i in prog.instrs
    )
    return steps, prog.n_buffers, prog.n_inputs + prog.result, dt


@kernel("fused_elementwise")
def fused_elementwise(*xs, program, dtype, out=None):
    steps, n_buffers, result, dt = _compile(program, dtype)
    shape = xs[0].shape if len(xs) == 1 else np.broadcast_shapes(*(x.shape for x in xs))
    regs = list(xs)
    regs += [np.empty(shape, dt) for _ in range(n_buffers)]
    if out is not None and result >= len(xs) and out.shape == shape and out.dtype == dt:
        regs[result] = out  # the result register is ``out`` (scratch before that: fine)
    for fn, srcs, dst in steps:
        if len(srcs) == 1:
            fn(regs[srcs[0]], regs[dst])
        else:
            fn(regs[srcs[0]], regs[srcs[1]], regs[dst])
    return regs[result]


fused_elementwise.takes_out = True  # see CompiledStage.run's ``into``


@kernel("fused_matmul")
def fused_matmul(a, b, bias=None, *, activation, out=None):
    y = np.matmul(a, b, out=out)
    if not isinstance(y, np.ndarray):  # a vector-vector product is a numpy scalar
        y = np.asarray(y).copy()
    if bias is not None:
        np.add(y, bias, out=y)
    return activate(y, activation)


fused_matmul.takes_out = True


@kernel("fused_conv2d")
def fused_conv2d(x, w, b=None, *, strides, pads, dilations, group, activation):
    # One output buffer in NCHW; the bias and the activation are applied to it in place.
    y = conv_nchw(x, w, strides, pads, dilations, group)
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return activate(y, activation)
