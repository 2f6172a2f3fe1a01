"""Optimizer steps of the ai.onnx.preview.training domain (Adagrad, Adam, Momentum) as
elementwise compositions; the learning rate R and step count T must be known when the
model is compiled (constants, or inputs that `OnnxProgram` specializes on)."""

from __future__ import annotations

import math

from tfrt_ray.frontends.onnx.context import NodeContext, Value
from tfrt_ray.frontends.onnx.registry import converter

DOMAIN = "ai.onnx.preview.training"


def _groups(ctx: NodeContext, per: int) -> list[list[Value]]:
    """The optimized tensors' input groups: [x_i, g_i, (state_i...)] for each i."""
    data = [v for v in ctx.inputs[2:] if v is not None]
    n = len(data) // per
    return [[data[k * n + i] for k in range(per)] for i in range(n)]


def _axpy(ctx: NodeContext, a: float, x: Value, y: Value) -> Value:
    """a * x + y (a a Python float)."""
    return ctx.emit("add", ctx.emit("mul", x, ctx.scalar(a, x)), y)


@converter("Adagrad", domain=DOMAIN)
def _adagrad(ctx: NodeContext) -> list[Value]:
    r, t = ctx.item(0, "R"), ctx.item(1, "T")
    decay, eps = ctx.attr("decay_factor", 0.0), ctx.attr("epsilon", 0.0)
    norm = ctx.attr("norm_coefficient", 0.0)
    rate = r / (1 + t * decay)
    xs, hs = [], []
    for x, g, h in _groups(ctx, 3):
        gr = _axpy(ctx, norm, x, g)
        h_new = ctx.emit("add", h, ctx.emit("mul", gr, gr))
        denom = ctx.emit("add", ctx.emit("sqrt", h_new), ctx.scalar(eps, h_new))
        step = ctx.emit("mul", ctx.emit("div", gr, denom), ctx.scalar(rate, x))
        xs.append(ctx.emit("sub", x, step))
        hs.append(h_new)
    return xs + hs


@converter("Adam", domain=DOMAIN)
def _adam(ctx: NodeContext) -> list[Value]:
    r, t = ctx.item(0, "R"), ctx.item(1, "T")
    alpha, beta = ctx.attr("alpha", 0.9), ctx.attr("beta", 0.999)
    eps = ctx.attr("epsilon", 0.0)
    norm, post = ctx.attr("norm_coefficient", 0.0), ctx.attr("norm_coefficient_post", 0.0)
    rate = r * math.sqrt(1 - beta**t) / (1 - alpha**t) if t > 0 else r
    xs, vs, hs = [], [], []
    for x, g, v, h in _groups(ctx, 4):
        gr = _axpy(ctx, norm, x, g)
        v_new = _axpy(ctx, alpha, v, ctx.emit("mul", gr, ctx.scalar(1 - alpha, gr)))
        h_new = _axpy(ctx, beta, h, ctx.emit("mul", ctx.emit("mul", gr, gr),
                                             ctx.scalar(1 - beta, gr)))
        denom = ctx.emit("add", ctx.emit("sqrt", h_new), ctx.scalar(eps, h_new))
        x_new = ctx.emit("sub", x, ctx.emit("mul", ctx.emit("div", v_new, denom),
                                           ctx.scalar(rate, x)))
        xs.append(ctx.emit("mul", x_new, ctx.scalar(1 - post, x_new)))
        vs.append(v_new)
        hs.append(h_new)
    return xs + vs + hs


@converter("Momentum", domain=DOMAIN)
def _momentum(ctx: NodeContext) -> list[Value]:
    r, t = ctx.item(0, "R"), ctx.item(1, "T")
    alpha, beta = ctx.attr("alpha"), ctx.attr("beta")
    norm, mode = ctx.attr("norm_coefficient"), ctx.attr("mode", "standard")
    beta_t = beta if t > 0 else 1.0
    xs, vs = [], []
    for x, g, v in _groups(ctx, 3):
        gr = _axpy(ctx, norm, x, g)
        v_new = _axpy(ctx, alpha, v, ctx.emit("mul", gr, ctx.scalar(beta_t, gr)))
        step = v_new if mode == "standard" else _axpy(ctx, alpha, v_new, gr)
        xs.append(ctx.emit("sub", x, ctx.emit("mul", step, ctx.scalar(r, step))))
        vs.append(v_new)
    return xs + vs
