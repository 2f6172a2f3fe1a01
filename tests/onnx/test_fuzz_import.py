"""Fuzzing the ONNX importer: mutated and truncated model bytes end in a typed error (or
a model that imports), never another exception, never a hang."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from tfrt_ray.errors import TfrtRayError
from tfrt_ray.frontends.onnx import import_onnx


def _model_bytes() -> bytes:
    w = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(3, 4), "w")
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
        helper.make_node("Relu", ["h"], ["r"], name="relu"),
        helper.make_node("Softmax", ["r"], ["y"], name="sm", axis=-1),
    ]
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])],
        initializer=[w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model.SerializeToString()


GOOD = _model_bytes()


def _import(data: bytes) -> None:
    try:
        import_onnx(data)
    except TfrtRayError:
        pass


def test_the_unmutated_model_imports():
    assert import_onnx(GOOD).op_counts()


@pytest.mark.timeout(120)
@settings(max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(GOOD) - 1), st.integers(0, 255)), max_size=8))
def test_mutated_bytes_give_typed_errors(edits):
    data = bytearray(GOOD)
    for pos, value in edits:
        data[pos] = value
    _import(bytes(data))


@pytest.mark.timeout(120)
@settings(max_examples=100, deadline=2000)
@given(st.integers(0, len(GOOD) - 1))
def test_truncated_models_give_typed_errors(cut):
    _import(GOOD[:cut])


@pytest.mark.timeout(120)
@settings(max_examples=100, deadline=2000)
@given(st.binary(max_size=256))
def test_arbitrary_bytes_give_typed_errors(data):
    _import(data)
