"""`tfrt_ray.core.evaluate`: one op on constants, with one rule for a kernel whose result
disagrees with the op's spec (the compiler's constant folding relies on it)."""

from __future__ import annotations

import numpy as np
import pytest

from tfrt_ray.core import evaluate as evaluate_module
from tfrt_ray.core.evaluate import evaluate
from tfrt_ray.errors import OpExecutionError, ShapeError
from tfrt_ray.ir.types import TensorType

F32_2x2 = TensorType("f32", (2, 2))


def test_an_op_on_constants_gives_arrays_of_its_specs_types():
    a = np.arange(4, dtype=np.float32).reshape(2, 2)
    (out,) = evaluate("add", [a, a], {}, [F32_2x2])
    assert out.dtype == np.float32 and out.tolist() == (a + a).tolist()


def test_a_kernel_computing_in_another_dtype_is_cast_to_the_specs(monkeypatch):
    monkeypatch.setattr(evaluate_module, "get_kernel",
                        lambda op, device: lambda a: a.astype(np.float64) * 2)
    (out,) = evaluate("neg", [np.ones((2, 2), np.float32)], {}, [F32_2x2])
    assert out.dtype == np.float32 and out.tolist() == [[2.0, 2.0], [2.0, 2.0]]


def test_a_kernel_result_of_another_shape_is_a_kernel_bug_named_as_such(monkeypatch):
    monkeypatch.setattr(evaluate_module, "get_kernel", lambda op, device: lambda a: a[0])
    with pytest.raises(OpExecutionError, match="(?s)returned shape \\(2,\\).*kernel bug"):
        evaluate("neg", [np.ones((2, 2), np.float32)], {}, [F32_2x2])


def test_a_kernel_that_raises_is_an_op_execution_error_and_a_typed_one_passes_through(
        monkeypatch):
    with pytest.raises(OpExecutionError, match="kernel raised ValueError"):
        evaluate("matmul", [np.ones((2, 3), np.float32), np.ones((2, 3), np.float32)], {},
                 [F32_2x2])

    def typed(a):
        raise ShapeError("the kernel's own words")

    monkeypatch.setattr(evaluate_module, "get_kernel", lambda op, device: typed)
    with pytest.raises(ShapeError, match="own words"):
        evaluate("neg", [np.ones((2, 2), np.float32)], {}, [F32_2x2])
