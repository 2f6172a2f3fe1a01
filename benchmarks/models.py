"""Model builders shared by the benchmarks. Everything is built locally (no network):

- `resnet50_light()`: the light ResNet-50 that ships inside the ``onnx`` wheel
  (``onnx/backend/test/data/light/light_resnet50.onnx``). Its weights there are
  ``ConstantOfShape`` nodes (every weight 0.02); they become seeded random initializers,
  He-scaled, so activations stay finite and outputs are not trivially constant.
- `bert_base(seq=128)`: a BERT-base-size encoder (12 layers, hidden 768, 12 heads, FFN
  3072, GELU via Erf, LayerNormalization), batch 1, seeded random weights.
- `gpt2_small(seq=128)`: a GPT-2-small-size decoder (12 pre-LN layers, hidden 768, 12
  heads, fused QKV, causal mask, tanh GELU, LM head over 50257 tokens), seeded weights.
- `small_mlp()`: 64 -> 256 -> 256 -> 10 with ReLU, symbolic batch dim, for batch inference.

Each returns an ``onnx.ModelProto``.
"""

from __future__ import annotations

import math
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


def light_model_path(name: str = "light_resnet50.onnx") -> str:
    return os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light", name)


def resnet50_light(seed: int = 0) -> onnx.ModelProto:
    """ResNet-50 (1x3x224x224 -> 1x1000 softmax) with seeded random weights."""
    return light_model("resnet50", seed)


def light_model(name: str, seed: int = 0) -> onnx.ModelProto:
    """One of the onnx wheel's light models (resnet50, squeezenet, ...; 1x3x224x224
    input) with seeded random weights in place of its constant fills."""
    src = onnx.load(light_model_path(f"light_{name}.onnx"))
    g = src.graph
    rng = np.random.default_rng(seed)
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    weights: dict[str, np.ndarray] = {}
    nodes = []
    for n in g.node:
        if n.op_type != "ConstantOfShape":
            nodes.append(n)
            continue
        shape = tuple(int(d) for d in inits[n.input[0]])
        name = n.output[0]
        users = consumers.get(name, [])
        role = (users[0].op_type, list(users[0].input).index(name)) if users else ("", -1)
        if role[0] == "Conv" or (role[0] == "Gemm" and role[1] == 1):
            fan_in = int(np.prod(shape[1:]))
            w = rng.standard_normal(shape) * math.sqrt(2.0 / fan_in)
        elif role == ("BatchNormalization", 1):  # scale: < 1 keeps the residual sums tame
            w = rng.uniform(0.2, 0.5, shape)
        elif role == ("BatchNormalization", 4):  # running variance: positive
            w = rng.uniform(0.5, 1.5, shape)
        else:  # BN bias / running mean, Gemm bias
            w = rng.standard_normal(shape) * 0.1
        weights[name] = w.astype(np.float32)
    used = {i for n in nodes for i in n.input}
    initializers = [numpy_helper.from_array(v, k) for k, v in weights.items()]
    initializers += [numpy_helper.from_array(v, k) for k, v in inits.items()
                     if k in used and k not in weights]
    init_names = {t.name for t in g.initializer}
    data = next(i for i in g.input if i.name not in init_names)  # the image
    graph = helper.make_graph(nodes, f"{name}_light", [data], list(g.output), initializers)
    model = helper.make_model(graph, opset_imports=list(src.opset_import))
    model.ir_version = 8  # initializers need not be graph inputs
    onnx.checker.check_model(model)
    return model


def light_input(model: onnx.ModelProto, seed: int = 1) -> dict[str, np.ndarray]:
    """A seeded 1x3x224x224 image for a `light_model`, by its input's name."""
    x = np.random.default_rng(seed).standard_normal((1, 3, 224, 224)).astype(np.float32)
    init_names = {t.name for t in model.graph.initializer}
    return {next(i.name for i in model.graph.input if i.name not in init_names): x}


def resnet50_input(seed: int = 1) -> dict[str, np.ndarray]:
    x = np.random.default_rng(seed).standard_normal((1, 3, 224, 224)).astype(np.float32)
    return {"gpu_0/data_0": x}


class _Builder:
    """Nodes and seeded initializers of a transformer-size ONNX graph."""

    def __init__(self, seed: int, hidden: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.hidden = hidden
        self.inits: list[TensorProto] = []
        self.nodes: list[onnx.NodeProto] = []

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def dense(self, name: str, shape: tuple[int, ...]) -> str:
        return self.const(name, self.rng.standard_normal(shape, dtype=np.float32)
                          * np.float32(0.02))

    def node(self, op: str, inputs: list[str], out: str | list[str], **attrs) -> str:
        outs = [out] if isinstance(out, str) else out
        self.nodes.append(helper.make_node(op, inputs, outs, name=outs[0], **attrs))
        return out

    def layer_norm(self, x: str, name: str, epsilon: float = 1e-12) -> str:
        rng, hidden = self.rng, self.hidden
        g = self.const(f"{name}.gamma",
                       (1.0 + 0.1 * rng.standard_normal(hidden)).astype(np.float32))
        b = self.const(f"{name}.beta", (0.1 * rng.standard_normal(hidden)).astype(np.float32))
        return self.node("LayerNormalization", [x, g, b], f"{name}.out", axis=-1,
                         epsilon=epsilon)

    def linear(self, x: str, name: str, n_in: int, n_out: int) -> str:
        w = self.dense(f"{name}.w", (n_in, n_out))
        b = self.const(f"{name}.b", (0.02 * self.rng.standard_normal(n_out)).astype(np.float32))
        return self.node("Add", [self.node("MatMul", [x, w], f"{name}.mm"), b], f"{name}.out")

    def attention(self, q: str, k: str, v: str, p: str, mask: str | None = None) -> str:
        """Multi-head scaled dot-product attention over [1, seq, hidden] projections (the
        constants "shape.heads", "shape.hidden", "scale", and "neg_inf" with a ``mask``)."""
        node = self.node
        q = node("Transpose", [node("Reshape", [q, "shape.heads"], f"{p}.qr")], f"{p}.qt",
                 perm=[0, 2, 1, 3])
        k = node("Transpose", [node("Reshape", [k, "shape.heads"], f"{p}.kr")], f"{p}.kt",
                 perm=[0, 2, 3, 1])
        v = node("Transpose", [node("Reshape", [v, "shape.heads"], f"{p}.vr")], f"{p}.vt",
                 perm=[0, 2, 1, 3])
        s = node("Mul", [node("MatMul", [q, k], f"{p}.qk"), "scale"], f"{p}.scores")
        if mask is not None:
            s = node("Where", [mask, s, "neg_inf"], f"{p}.masked")
        c = node("MatMul", [node("Softmax", [s], f"{p}.probs", axis=-1), v], f"{p}.ctx")
        c = node("Transpose", [c], f"{p}.ctxt", perm=[0, 2, 1, 3])
        return node("Reshape", [c, "shape.hidden"], f"{p}.ctxr")

    def model(self, name: str, inputs: list, outputs: list) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model


def bert_base(seq: int = 128, *, layers: int = 12, hidden: int = 768, heads: int = 12,
              ffn: int = 3072, vocab: int = 30522, seed: int = 0) -> onnx.ModelProto:
    """A BERT-base-size encoder: input_ids int64 [1, seq] -> hidden states [1, seq, hidden]."""
    m = _Builder(seed, hidden)
    node, const, linear, layer_norm = m.node, m.const, m.linear, m.layer_norm
    head = hidden // heads
    const("shape.heads", np.array([1, seq, heads, head], np.int64))
    const("shape.hidden", np.array([1, seq, hidden], np.int64))
    const("scale", np.array(1.0 / math.sqrt(head), np.float32))
    const("half", np.array(0.5, np.float32))
    const("one", np.array(1.0, np.float32))
    const("rsqrt2", np.array(1.0 / math.sqrt(2.0), np.float32))

    words = m.dense("emb.words", (vocab, hidden))
    pos = m.dense("emb.pos", (1, seq, hidden))
    x = node("Gather", [words, "input_ids"], "emb.gather", axis=0)
    x = node("Add", [x, pos], "emb.sum")
    x = layer_norm(x, "emb.ln")
    for i in range(layers):
        p = f"l{i}"
        q = linear(x, f"{p}.q", hidden, hidden)
        k = linear(x, f"{p}.k", hidden, hidden)
        v = linear(x, f"{p}.v", hidden, hidden)
        c = m.attention(q, k, v, p)
        o = linear(c, f"{p}.o", hidden, hidden)
        x = layer_norm(node("Add", [o, x], f"{p}.res1"), f"{p}.ln1")
        h = linear(x, f"{p}.ff1", hidden, ffn)
        e = node("Erf", [node("Mul", [h, "rsqrt2"], f"{p}.gs")], f"{p}.erf")
        e = node("Mul", [node("Mul", [h, "half"], f"{p}.gh"),
                         node("Add", [e, "one"], f"{p}.ge1")], f"{p}.gelu")
        h = linear(e, f"{p}.ff2", ffn, hidden)
        x = layer_norm(node("Add", [h, x], f"{p}.res2"), f"{p}.ln2")
    node("Identity", [x], "hidden_states")
    return m.model(
        "bert_base",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, seq])],
        [helper.make_tensor_value_info("hidden_states", TensorProto.FLOAT, [1, seq, hidden])])


def gpt2_small(seq: int = 128, *, layers: int = 12, hidden: int = 768, heads: int = 12,
               vocab: int = 50257, seed: int = 0) -> onnx.ModelProto:
    """A GPT-2-small-size decoder: input_ids int64 [1, seq] -> logits [1, seq, vocab].

    Pre-LayerNorm blocks, one fused QKV projection split three ways, a causal mask (Where
    over a constant lower-triangular mask), GELU in GPT-2's tanh form, a final LayerNorm
    and an untied LM head (hidden x vocab)."""
    m = _Builder(seed, hidden)
    node, const, linear = m.node, m.const, m.linear
    head = hidden // heads
    const("shape.heads", np.array([1, seq, heads, head], np.int64))
    const("shape.hidden", np.array([1, seq, hidden], np.int64))
    const("split.qkv", np.array([hidden] * 3, np.int64))
    const("scale", np.array(1.0 / math.sqrt(head), np.float32))
    const("causal", np.tril(np.ones((seq, seq), bool)))
    const("neg_inf", np.array(-1e9, np.float32))
    const("half", np.array(0.5, np.float32))
    const("one", np.array(1.0, np.float32))
    const("gelu.c", np.array(math.sqrt(2.0 / math.pi), np.float32))
    const("gelu.k", np.array(0.044715, np.float32))

    words = m.dense("wte", (vocab, hidden))
    pos = m.dense("wpe", (1, seq, hidden))
    x = node("Add", [node("Gather", [words, "input_ids"], "emb.gather", axis=0), pos],
             "emb.sum")
    for i in range(layers):
        p = f"h{i}"
        qkv = linear(m.layer_norm(x, f"{p}.ln1", 1e-5), f"{p}.qkv", hidden, 3 * hidden)
        q, k, v = node("Split", [qkv, "split.qkv"], [f"{p}.q", f"{p}.k", f"{p}.v"], axis=-1)
        c = m.attention(q, k, v, p, mask="causal")
        x = node("Add", [x, linear(c, f"{p}.proj", hidden, hidden)], f"{p}.res1")
        h = linear(m.layer_norm(x, f"{p}.ln2", 1e-5), f"{p}.fc", hidden, 4 * hidden)
        cube = node("Mul", [node("Mul", [h, h], f"{p}.h2"), h], f"{p}.h3")
        inner = node("Mul", [node("Add", [h, node("Mul", [cube, "gelu.k"], f"{p}.kh3")],
                                  f"{p}.gsum"), "gelu.c"], f"{p}.ginner")
        g = node("Mul", [node("Mul", [h, "half"], f"{p}.gh"),
                         node("Add", [node("Tanh", [inner], f"{p}.tanh"), "one"],
                              f"{p}.g1")], f"{p}.gelu")
        x = node("Add", [x, linear(g, f"{p}.mlp", 4 * hidden, hidden)], f"{p}.res2")
    x = m.layer_norm(x, "ln_f", 1e-5)
    node("MatMul", [x, m.dense("lm_head", (hidden, vocab))], "logits")
    return m.model(
        "gpt2_small",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, seq])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, seq, vocab])])


def bert_input(seq: int = 128, vocab: int = 30522, seed: int = 1) -> dict[str, np.ndarray]:
    ids = np.random.default_rng(seed).integers(0, vocab, (1, seq), dtype=np.int64)
    return {"input_ids": ids}


def small_mlp(sizes: tuple[int, ...] = (64, 256, 256, 10), seed: int = 0) -> onnx.ModelProto:
    """An MLP over x float32 [N, sizes[0]] (N symbolic) -> y float32 [N, sizes[-1]]."""
    rng = np.random.default_rng(seed)
    nodes, inits, prev = [], [], "x"
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        w = (rng.standard_normal((a, b)) * math.sqrt(2.0 / a)).astype(np.float32)
        bias = (0.1 * rng.standard_normal(b)).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(bias, f"b{i}")]
        out = "y" if i == len(sizes) - 2 else f"h{i}"
        gemm_out = out if out == "y" else f"g{i}"
        nodes.append(helper.make_node("Gemm", [prev, f"w{i}", f"b{i}"], [gemm_out]))
        if out != "y":
            nodes.append(helper.make_node("Relu", [gemm_out], [out]))
        prev = out
    graph = helper.make_graph(
        nodes, "small_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", sizes[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", sizes[-1]])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
