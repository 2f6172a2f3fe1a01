"""A hypothesis strategy for random graphs that exercise every pass: conv / batch_norm
stacks, then dense chains of matmul / gemm / batch_norm / bias / activations, elementwise
DAGs, reshape and transpose chains, no-ops, constant subexpressions, duplicates and dead
code, with some intermediates exposed as graph outputs.

Weights are scaled by 1/sqrt(fan-in) and divisors kept away from zero, so values stay in
a range where float32 results of the optimized and the original graph can be compared.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from tests.passes.graphs import G
from tfrt_ray.ir import Graph

UNARY = [
    ("relu", {}), ("tanh", {}), ("sigmoid", {}), ("neg", {}), ("abs", {}),
    ("gelu", {}), ("gelu", {"approximate": "tanh"}), ("leaky_relu", {"alpha": 0.2}),
    ("clip", {"min": -0.5, "max": 0.5}), ("sin", {}), ("erf", {}),
]  # fmt: skip
BINARY = ["add", "sub", "mul", "maximum", "minimum"]
DENSE_STEPS = [
    "unary", "scalar", "row", "skip", "matmul", "dense", "gemm", "bn", "reshape_chain",
    "transpose", "transpose_pair", "noop", "cse", "const_expr", "dead", "expose", "cast_f64",
    "div", "dense_bn",
]  # fmt: skip
CONV_STEPS = [
    "conv",
    "conv_bias",
    "conv_bn_relu",
    "bn",
    "unary",
    "channel_bias",
    "scalar",
    "expose",
]


class _Builder:
    def __init__(self, draw, rng: np.random.Generator) -> None:
        self.draw, self.rng, self.g = draw, rng, G("random")
        self.outputs: list[int] = []
        self.seen: list[int] = []  # earlier values, for skip connections

    def const(self, *shape: int, scale: float = 1.0, low: float | None = None) -> int:
        if low is None:
            a = self.rng.normal(0.0, scale, shape)
        else:
            a = self.rng.uniform(low, low + scale, shape)
        return self.g.const(a.astype(np.float32))

    def shape(self, v: int) -> tuple:
        return self.g.b.types[v].shape

    def unary(self, v: int) -> int:
        op, attrs = self.draw(st.sampled_from(UNARY))
        return self.g.op(op, v, **attrs)

    def scalar(self, v: int) -> int:
        op = self.draw(st.sampled_from(BINARY))
        value = self.draw(st.sampled_from([0.0, 1.0, 0.5, -2.0]))
        c = self.g.const(value)
        return self.g.op(op, *((v, c) if self.draw(st.booleans()) else (c, v)))

    def bn(self, v: int) -> int:
        c = self.shape(v)[1]
        params = [self.const(c, low=0.5), self.const(c), self.const(c), self.const(c, low=0.5)]
        return self.g.op("batch_norm", v, *params)

    def dense_step(self, step: str, v: int) -> int:
        g, (rows, cols) = self.g, self.shape(v)
        if step == "unary":
            return self.unary(v)
        if step == "scalar":
            return self.scalar(v)
        if step == "row":
            return g.op(self.draw(st.sampled_from(BINARY)), v, self.const(cols))
        if step == "skip":
            same = [s for s in self.seen if self.shape(s) == (rows, cols)]
            return g.op(self.draw(st.sampled_from(BINARY)), v, self.draw(st.sampled_from(same)))
        if step in ("matmul", "dense"):
            k = self.draw(st.sampled_from([2, 5]))
            y = g.op("matmul", v, self.const(cols, k, scale=cols**-0.5))
            if step == "dense":
                y = self.unary(g.op("add", y, self.const(k)))
            return y
        if step == "gemm":
            k, trans = self.draw(st.sampled_from([3, 4])), self.draw(st.booleans())
            w = self.const(*((k, cols) if trans else (cols, k)), scale=cols**-0.5)
            c = [self.const(k)] if self.draw(st.booleans()) else []
            return g.op(
                "gemm", v, w, *c, trans_b=trans, alpha=self.draw(st.sampled_from([1.0, 0.5]))
            )
        if step == "bn":
            return self.bn(v)
        if step == "dense_bn":
            return g.op("relu", self.bn(self.dense_step("matmul", v)))
        if step == "reshape_chain":
            return g.op("reshape", g.op("reshape", v, shape=(rows * cols,)), shape=(rows, cols))
        if step == "transpose":
            return g.op("transpose", v, perm=(1, 0))
        if step == "transpose_pair":
            return g.op("transpose", g.op("transpose", v), perm=(1, 0))
        if step == "noop":
            op = self.draw(st.sampled_from(["identity", "dropout", "cast"]))
            return g.op(op, v, **({"dtype": "f32"} if op == "cast" else {}))
        if step == "cse":
            return g.op("add", g.op("tanh", v), g.op("tanh", v))
        if step == "const_expr":
            c = g.op("mul", g.op("add", self.const(cols), self.const(cols)), self.const(1))
            return g.op("mul", v, g.op("tanh", c))
        if step == "dead":
            g.op("exp", g.op("sigmoid", v))
            return v
        if step == "expose":
            self.outputs.append(v)
            return g.op("sin", v)
        if step == "cast_f64":
            y = g.op("tanh", g.op("cast", v, dtype="f64"))
            return g.op("cast", g.op("mul", y, g.const(0.5, np.float64)), dtype="f32")
        return g.op("div", v, self.const(cols, low=1.0))  # "div"

    def conv_step(self, step: str, v: int) -> int:
        g, (_, c, _, _) = self.g, self.shape(v)
        if step in ("conv", "conv_bias", "conv_bn_relu"):
            co = self.draw(st.sampled_from([2, 4]))
            k = self.draw(st.sampled_from([1, 3]))
            w = self.const(co, c, k, k, scale=(c * k * k) ** -0.5)
            b = [self.const(co)] if step == "conv_bias" or self.draw(st.booleans()) else []
            y = g.op("conv2d", v, w, *b, pads=(k // 2,) * 4)
            return g.op("relu", self.bn(y)) if step == "conv_bn_relu" else y
        if step == "bn":
            return self.bn(v)
        if step == "unary":
            return self.unary(v)
        if step == "channel_bias":
            return g.op("add", v, self.const(c, 1, 1))
        if step == "scalar":
            return self.scalar(v)
        self.outputs.append(v)  # "expose"
        return g.op("relu", v)


@st.composite
def random_graphs(draw) -> tuple[Graph, list[np.ndarray]]:
    """A random graph and input values for it."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    b = _Builder(draw, rng)
    conv_steps = draw(st.lists(st.sampled_from(CONV_STEPS), max_size=4))
    dense_steps = draw(st.lists(st.sampled_from(DENSE_STEPS), min_size=1, max_size=8))
    if conv_steps:
        shape = (2, 3, 4, 4)
        v = b.g.input(shape, name="image")
        for step in conv_steps:
            v = b.conv_step(step, v)
            b.seen.append(v)
        n, c, h, w = b.shape(v)
        v = b.g.op("reshape", v, shape=(n, c * h * w))
    else:
        shape = (3, draw(st.sampled_from([4, 6])))
        v = b.g.input(shape, name="x")
    b.seen.append(v)
    for step in dense_steps:
        if step == "skip" and not any(b.shape(s) == b.shape(v) for s in b.seen):
            step = "unary"
        v = b.dense_step(step, v)
        b.seen.append(v)
    graph = b.g.build(*b.outputs, v)
    return graph, [rng.normal(0.0, 1.0, shape).astype(np.float32)]
