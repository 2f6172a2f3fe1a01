"""Activation functions, each the composition ONNX defines it as."""

from __future__ import annotations

from tfrt_ray.frontends.onnx.context import NodeContext, Value
from tfrt_ray.frontends.onnx.registry import converter


@converter("Relu")
def _relu(ctx: NodeContext) -> Value:
    return ctx.emit("relu", ctx.input(0))


@converter("LeakyRelu")
def _leaky_relu(ctx: NodeContext) -> Value:
    return ctx.emit("leaky_relu", ctx.input(0), alpha=ctx.attr("alpha", 0.01))


@converter("Gelu")
def _gelu(ctx: NodeContext) -> Value:
    return ctx.emit("gelu", ctx.input(0), approximate=ctx.attr("approximate", "none"))


@converter("PRelu")
def _prelu(ctx: NodeContext) -> Value:
    x, slope = ctx.input(0), ctx.input(1)
    if ctx.opset < 7 and slope.rank == 1 and x.rank > 2 and slope.shape[0] == x.shape[1]:
        slope = ctx.emit("unsqueeze", slope, axes=tuple(range(1, x.rank - 1)))
    neg = ctx.emit("less", x, ctx.scalar(0, x))
    return ctx.emit("where", neg, ctx.emit("mul", x, slope), x)


def _expm1(ctx: NodeContext, x: Value) -> Value:
    return ctx.emit("sub", ctx.emit("exp", x), ctx.scalar(1, x))


@converter("Elu")
def _elu(ctx: NodeContext) -> Value:
    x = ctx.input(0)
    alpha = ctx.attr("alpha", 1.0)
    neg = ctx.emit("mul", _expm1(ctx, x), ctx.scalar(alpha, x))
    return ctx.emit("where", ctx.emit("less", x, ctx.scalar(0, x)), neg, x)


@converter("Selu")
def _selu(ctx: NodeContext) -> Value:
    x = ctx.input(0)
    alpha = ctx.attr("alpha", 1.67326319217681884765625)
    gamma = ctx.attr("gamma", 1.05070102214813232421875)
    neg = ctx.emit("mul", _expm1(ctx, x), ctx.scalar(alpha, x))
    y = ctx.emit("where", ctx.emit("less_equal", x, ctx.scalar(0, x)), neg, x)
    return ctx.emit("mul", y, ctx.scalar(gamma, x))


@converter("Celu")
def _celu(ctx: NodeContext) -> Value:
    x = ctx.input(0)
    alpha = ctx.scalar(ctx.attr("alpha", 1.0), x)
    neg = ctx.emit("mul", _expm1(ctx, ctx.emit("div", x, alpha)), alpha)
    zero = ctx.scalar(0, x)
    return ctx.emit("add", ctx.emit("maximum", x, zero), ctx.emit("minimum", neg, zero))


def _hard_sigmoid(ctx: NodeContext, x: Value, alpha: float, beta: float) -> Value:
    y = ctx.emit("add", ctx.emit("mul", x, ctx.scalar(alpha, x)), ctx.scalar(beta, x))
    return ctx.emit("clip", y, min=0.0, max=1.0)


@converter("HardSigmoid")
def _hardsigmoid(ctx: NodeContext) -> Value:
    return _hard_sigmoid(ctx, ctx.input(0), ctx.attr("alpha", 0.2), ctx.attr("beta", 0.5))


@converter("HardSwish")
def _hardswish(ctx: NodeContext) -> Value:
    x = ctx.input(0)
    return ctx.emit("mul", x, _hard_sigmoid(ctx, x, 1.0 / 6.0, 0.5))


def _softplus(ctx: NodeContext, x: Value) -> Value:
    return ctx.emit("log", ctx.emit("add", ctx.emit("exp", x), ctx.scalar(1, x)))


@converter("Softplus")
def _softplus_op(ctx: NodeContext) -> Value:
    return _softplus(ctx, ctx.input(0))


@converter("Softsign")
def _softsign(ctx: NodeContext) -> Value:
    x = ctx.input(0)
    return ctx.emit("div", x, ctx.emit("add", ctx.emit("abs", x), ctx.scalar(1, x)))


@converter("Mish")
def _mish(ctx: NodeContext) -> Value:
    x = ctx.input(0)
    return ctx.emit("mul", x, ctx.emit("tanh", _softplus(ctx, x)))


@converter("Swish")
def _swish(ctx: NodeContext) -> Value:
    x = ctx.input(0)
    alpha = ctx.attr("alpha", 1.0)
    z = x if alpha == 1.0 else ctx.emit("mul", x, ctx.scalar(alpha, x))
    return ctx.emit("mul", x, ctx.emit("sigmoid", z))


@converter("ThresholdedRelu")
def _thresholded_relu(ctx: NodeContext) -> Value:
    x = ctx.input(0)
    keep = ctx.emit("greater", x, ctx.scalar(ctx.attr("alpha", 1.0), x))
    return ctx.emit("where", keep, x, ctx.scalar(0, x))


@converter("Shrink")
def _shrink(ctx: NodeContext) -> Value:
    x = ctx.input(0)
    bias, lambd = ctx.attr("bias", 0.0), ctx.attr("lambd", 0.5)
    low = ctx.emit("less", x, ctx.scalar(-lambd, x))
    high = ctx.emit("greater", x, ctx.scalar(lambd, x))
    y = ctx.emit("where", high, ctx.emit("sub", x, ctx.scalar(bias, x)), ctx.scalar(0, x))
    return ctx.emit("where", low, ctx.emit("add", x, ctx.scalar(bias, x)), y)
