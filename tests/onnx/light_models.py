"""The light models that ship inside the onnx wheel, with seeded random weights.

Their weights are ``ConstantOfShape`` fills (every weight one constant), which makes them
weak oracles: a wrong channel order or a transposed filter gives the same numbers. Here
each fill becomes a seeded random initializer (He-uniform for filters and matrices,
positive for batch-norm scales and variances) so every element matters.
"""

from __future__ import annotations

import os

import numpy as np
import onnx
from onnx import numpy_helper

LIGHT_DIR = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")
# Every light model of the onnx wheel but VGG-19: its ops are a subset of AlexNet's, and its
# 143M weights made it the suite's costliest test (about 15 CPU-s to draw, serialize and load
# them into both runtimes). Large weights are tested on their own (tests/onnx/test_weights_once.py).
MODELS = ("resnet50", "densenet121", "inception_v1", "inception_v2", "shufflenet",
          "squeezenet", "bvlc_alexnet", "zfnet512")


def light_path(name: str) -> str:
    return os.path.join(LIGHT_DIR, f"light_{name}.onnx")


def randomized(name: str, seed: int = 0) -> onnx.ModelProto:
    model = onnx.load(light_path(name))
    graph = model.graph
    rng = np.random.default_rng(seed)
    inits = {t.name: t for t in graph.initializer}
    keep, used_shapes = [], set()
    new_inits = []
    for node in graph.node:
        if node.op_type != "ConstantOfShape" or node.input[0] not in inits:
            keep.append(node)
            continue
        shape = tuple(int(d) for d in numpy_helper.to_array(inits[node.input[0]]))
        used_shapes.add(node.input[0])
        new_inits.append(numpy_helper.from_array(_weight(node.output[0], shape, rng),
                                                 node.output[0]))
    del graph.node[:]
    graph.node.extend(keep)
    still_used = {i for n in keep for i in n.input}
    drop = {s for s in used_shapes if s not in still_used}
    kept_inits = [t for t in graph.initializer if t.name not in drop]
    del graph.initializer[:]
    graph.initializer.extend(kept_inits + new_inits)
    kept_inputs = [i for i in graph.input if i.name not in drop]
    del graph.input[:]
    graph.input.extend(kept_inputs)
    return model


def _weight(name: str, shape: tuple, rng: np.random.Generator) -> np.ndarray:
    lowered = name.lower()
    if len(shape) >= 2:  # He-uniform, drawn in float32 in place: VGG-19 has 143M weights
        fan_in = int(np.prod(shape[1:])) or 1
        w = rng.random(shape, dtype=np.float32)
        w -= np.float32(0.5)
        w *= np.float32(2 * np.sqrt(6.0 / fan_in))
        return w
    if any(k in lowered for k in ("riv", "var", "_s_", "scale", "gamma")):
        return rng.uniform(0.5, 1.5, shape).astype(np.float32)
    return (rng.standard_normal(shape) * 0.1).astype(np.float32)


def input_for(model: onnx.ModelProto, seed: int = 1) -> dict[str, np.ndarray]:
    inits = {t.name for t in model.graph.initializer}
    (first,) = [i for i in model.graph.input if i.name not in inits][:1]
    dims = [d.dim_value or 1 for d in first.type.tensor_type.shape.dim]
    x = np.random.default_rng(seed).standard_normal(dims).astype(np.float32)
    return {first.name: x}
