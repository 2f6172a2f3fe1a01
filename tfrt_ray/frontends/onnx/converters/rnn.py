"""Recurrent ONNX ops (RNN, GRU, LSTM), unrolled over their static sequence length into
matmuls and activations: one input projection for all steps, then one recurrent matmul
per step and direction. ``sequence_lens`` is not applied (as in ONNX's reference)."""

from __future__ import annotations

import numpy as np

from tfrt_ray.errors import OpAttributeError
from tfrt_ray.frontends.onnx.context import NodeContext, Value
from tfrt_ray.frontends.onnx.converters.control import MAX_UNROLL, stack
from tfrt_ray.frontends.onnx.registry import converter

_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
_DEFAULTS = {"RNN": ["Tanh"], "GRU": ["Sigmoid", "Tanh"], "LSTM": ["Sigmoid", "Tanh", "Tanh"]}


def _activation(ctx: NodeContext, name: str, alpha, beta):
    def apply(x: Value) -> Value:
        s = lambda v: ctx.scalar(v, x)  # noqa: E731
        n = name.lower()
        if n == "sigmoid":
            return ctx.emit("sigmoid", x)
        if n == "tanh":
            return ctx.emit("tanh", x)
        if n == "relu":
            return ctx.emit("relu", x)
        if n == "leakyrelu":
            return ctx.emit("leaky_relu", x, alpha=0.01 if alpha is None else alpha)
        if n == "hardsigmoid":
            a, b = (0.2 if alpha is None else alpha), (0.5 if beta is None else beta)
            return ctx.emit("clip", ctx.emit("add", ctx.emit("mul", x, s(a)), s(b)),
                            min=0.0, max=1.0)
        if n == "affine":
            return ctx.emit("add", ctx.emit("mul", x, s(1.0 if alpha is None else alpha)),
                            s(0.0 if beta is None else beta))
        if n == "scaledtanh":
            inner = ctx.emit("tanh", ctx.emit("mul", x, s(1.0 if beta is None else beta)))
            return ctx.emit("mul", inner, s(1.0 if alpha is None else alpha))
        if n == "softsign":
            return ctx.emit("div", x, ctx.emit("add", ctx.emit("abs", x), s(1)))
        if n == "softplus":
            return ctx.emit("log", ctx.emit("add", ctx.emit("exp", x), s(1)))
        if n == "elu":
            a = 1.0 if alpha is None else alpha
            neg = ctx.emit("mul", ctx.emit("sub", ctx.emit("exp", x), s(1)), s(a))
            return ctx.emit("where", ctx.emit("less", x, s(0)), neg, x)
        if n == "thresholdedrelu":
            a = 1.0 if alpha is None else alpha
            return ctx.emit("where", ctx.emit("greater", x, s(a)), x, s(0))
        raise ctx.error(f"activation {name!r} is not supported", OpAttributeError)

    return apply


def _take(ctx: NodeContext, v: Value, d: int) -> Value:
    """v[d] of a (num_directions, ...) tensor."""
    return ctx.emit("squeeze", ctx.emit("slice", v, starts=(d,), ends=(d + 1,)), axes=(0,))


def _parts(ctx: NodeContext, v: Value, n: int) -> list[Value]:
    if n == 1:
        return [v]
    size = ctx.static_shape(v)[-1] // n
    return list(ctx.emit("split", v, axis=-1, sizes=(size,) * n))


def _recurrent(ctx: NodeContext) -> list[Value]:
    kind = ctx.op_type
    g = _GATES[kind]
    x, w, r = ctx.input(0), ctx.input(1), ctx.input(2)
    layout = ctx.attr("layout", 0)
    if layout:
        x = ctx.emit("transpose", x, perm=(1, 0, 2))
    seq, batch, _ = ctx.static_shape(x)
    if seq > MAX_UNROLL:
        raise ctx.error(f"{kind} over {seq} steps is too long to unroll", OpAttributeError)
    dirs, _, hidden = ctx.static_shape(r)
    direction = ctx.attr("direction", "forward")
    names = ctx.attr("activations") or _DEFAULTS[kind] * dirs
    alphas = ctx.attr("activation_alpha") or []
    betas = ctx.attr("activation_beta") or []
    per_dir = len(_DEFAULTS[kind])
    clip = ctx.attr("clip")
    lbr = ctx.attr("linear_before_reset", 0)
    dtype = x.dtype
    zeros = ctx.constant
    b = ctx.input(3) if ctx.has(3) else zeros(np.zeros((dirs, 2 * g * hidden)), dtype)
    h0_all = ctx.input(5) if ctx.has(5) else zeros(np.zeros((dirs, batch, hidden)), dtype)
    if layout and ctx.has(5):
        h0_all = ctx.emit("transpose", h0_all, perm=(1, 0, 2))
    c0_all = p_all = None
    if kind == "LSTM":
        c0_all = ctx.input(6) if ctx.has(6) else zeros(np.zeros((dirs, batch, hidden)), dtype)
        if layout and ctx.has(6):
            c0_all = ctx.emit("transpose", c0_all, perm=(1, 0, 2))
        p_all = ctx.input(7) if ctx.has(7) else None
    ys, hs, cs = [], [], []
    for d in range(dirs):
        k = d * per_dir
        acts = [_activation(ctx, names[k + i],
                            alphas[k + i] if k + i < len(alphas) else None,
                            betas[k + i] if k + i < len(betas) else None)
                for i in range(per_dir)]
        wd = ctx.emit("transpose", _take(ctx, w, d))
        rd = ctx.emit("transpose", _take(ctx, r, d))
        bd = _take(ctx, b, d)
        wb, rb = _parts(ctx, bd, 2)
        xw = ctx.emit("matmul", x, wd)  # (seq, batch, g*hidden)
        if kind == "GRU" and lbr:
            xw = ctx.emit("add", xw, wb)
        else:
            xw = ctx.emit("add", xw, ctx.emit("add", wb, rb))
        rb_parts = _parts(ctx, rb, g)
        h = _take(ctx, h0_all, d)
        c = _take(ctx, c0_all, d) if kind == "LSTM" else None
        peep = _parts(ctx, _take(ctx, p_all, d), 3) if p_all is not None else None
        reverse = direction == "reverse" or (direction == "bidirectional" and d == 1)
        order = range(seq - 1, -1, -1) if reverse else range(seq)
        outs: dict[int, Value] = {}
        for t in order:
            xt = ctx.emit("squeeze", ctx.emit("slice", xw, starts=(t,), ends=(t + 1,)),
                          axes=(0,))
            xparts = _parts(ctx, xt, g)
            rparts = _parts(ctx, ctx.emit("matmul", h, rd), g)

            def gate(i: int, extra: Value | None = None, xparts=xparts, rparts=rparts) -> Value:
                v = ctx.emit("add", xparts[i], rparts[i])
                if extra is not None:
                    v = ctx.emit("add", v, extra)
                if clip is not None:
                    v = ctx.emit("clip", v, min=-clip, max=clip)
                return v

            if kind == "RNN":
                h = acts[0](gate(0))
            elif kind == "GRU":
                z, rr = acts[0](gate(0)), acts[0](gate(1))
                if lbr:
                    rh = ctx.emit("mul", rr, ctx.emit("add", rparts[2], rb_parts[2]))
                    hh = ctx.emit("add", xparts[2], rh)
                else:
                    rh = ctx.emit("matmul", ctx.emit("mul", rr, h),
                                  ctx.emit("slice", rd, starts=(2 * hidden,),
                                           ends=(3 * hidden,), axes=(1,)))
                    hh = ctx.emit("add", xparts[2], rh)
                if clip is not None:
                    hh = ctx.emit("clip", hh, min=-clip, max=clip)
                hh = acts[1](hh)
                one_minus = ctx.emit("sub", ctx.scalar(1, z), z)
                h = ctx.emit("add", ctx.emit("mul", one_minus, hh), ctx.emit("mul", z, h))
            else:
                pi = ctx.emit("mul", peep[0], c) if peep else None
                pf = ctx.emit("mul", peep[2], c) if peep else None
                i_g = acts[0](gate(0, pi))
                f_g = acts[0](gate(2, pf))
                if ctx.attr("input_forget", 0):
                    f_g = ctx.emit("sub", ctx.scalar(1, i_g), i_g)
                c_g = acts[1](gate(3))
                c = ctx.emit("add", ctx.emit("mul", f_g, c), ctx.emit("mul", i_g, c_g))
                po = ctx.emit("mul", peep[1], c) if peep else None
                o_g = acts[0](gate(1, po))
                h = ctx.emit("mul", o_g, acts[2](c))
            outs[t] = h
        ys.append(stack(ctx, [outs[t] for t in range(seq)]))  # (seq, batch, hidden)
        hs.append(h)
        cs.append(c)
    y = stack(ctx, ys, axis=1)  # (seq, dirs, batch, hidden)
    yh = stack(ctx, hs)
    results = [y, yh]
    if kind == "LSTM":
        results.append(stack(ctx, cs))
    if layout:
        results[0] = ctx.emit("transpose", y, perm=(2, 0, 1, 3))
        results[1:] = [ctx.emit("transpose", v, perm=(1, 0, 2)) for v in results[1:]]
    return results


converter(*_GATES)(_recurrent)
