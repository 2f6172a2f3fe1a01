"""Eager execution on the in-process host device."""

from __future__ import annotations

import numpy as np
import pytest

import tfrt_ray as tr
from tfrt_ray.errors import DTypeError, OpExecutionError, ShapeError


def test_issue_example_runs_and_matches_numpy():
    rng = np.random.default_rng(0)
    xa = rng.random((64, 128), dtype=np.float32)
    wa = rng.random((128, 10), dtype=np.float32)
    y = tr.softmax(tr.relu(tr.tensor(xa) @ tr.tensor(wa)) + 1.0, axis=-1)
    z = np.maximum(xa @ wa, 0) + 1.0
    e = np.exp(z - z.max(-1, keepdims=True))
    np.testing.assert_allclose(y.numpy(), e / e.sum(-1, keepdims=True), rtol=1e-5)
    assert y.dtype == np.float32 and y.shape == (64, 10)


def test_python_operators_follow_numpy():
    a = np.arange(12, dtype=np.float32).reshape(3, 4) - 5
    b = np.linspace(1, 2, 4).astype(np.float32)
    ta, tb = tr.tensor(a), tr.tensor(b)
    for got, want in [
        (ta + tb, a + b), (ta - tb, a - b), (ta * tb, a * b), (ta / tb, a / b),
        (ta // tb, a // b), (ta % tb, a % b), (tb ** 2, b ** 2), (-ta, -a), (abs(ta), abs(a)),
        (2.0 - ta, 2.0 - a), (1 + ta, 1 + a), (ta < tb, a < b), (ta >= 0, a >= 0),
        (ta == ta, a == a), (ta != tb, a != b), (ta @ a.T, a @ a.T), (a @ ta.T, a @ a.T),
    ]:
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6)
        assert got.dtype == want.dtype


def test_fast_path_and_checked_path_agree_on_dtypes():
    i = tr.tensor(np.arange(1, 5, dtype=np.int32))
    for _ in range(2):  # the second round takes the fast path the first one unlocked
        assert (i + 1).dtype == np.int32
        assert (i + 1.5).dtype == np.float64
        assert (i / i).dtype == np.float64
        assert (tr.tensor(np.ones(2, np.float32)) * 2.0).dtype == np.float32


def test_bool_arithmetic_is_rejected_the_same_way_every_time():
    t = tr.tensor(np.array([True, False]))
    for _ in range(2):
        with pytest.raises(DTypeError):
            t + t


def test_tensor_knows_shape_and_dtype_and_converts():
    t = tr.tensor([[1, 2, 3]], dtype=np.float32)
    assert t.shape == (1, 3) and t.ndim == 2 and t.size == 3 and t.dtype == np.float32
    assert np.asarray(t).tolist() == [[1, 2, 3]]
    assert t.T.shape == (3, 1)
    assert t.reshape(3).shape == (3,)
    assert float(tr.tensor(2.5)) == 2.5
    assert "tensor(" in repr(t)


def test_shape_error_raised_at_creation_names_the_users_line():
    a = tr.tensor(np.ones((2, 3), np.float32))
    with pytest.raises(ShapeError) as info:
        a + tr.tensor(np.ones((4,), np.float32))  # the line the error must name
    err = info.value
    assert err.op == "add"
    assert err.loc.endswith(f"test_eager.py:{_line_of('the line the error must name')}")
    assert "broadcast" in str(err) and "fix:" in str(err)


def test_kernel_failure_is_a_value_that_raises_when_read():
    a = tr.tensor(np.array([1, 2], np.int64))
    bad = tr.pow(a, tr.tensor(np.array([-1, 1], np.int64)))  # ints to negative powers
    assert bad.shape == (2,)  # the type is known although the value failed
    later = bad + 1  # depends on the failure: fails with the same error, does not raise here
    with pytest.raises(OpExecutionError) as info:
        later.numpy()
    assert info.value.op == "pow" and info.value.device == "host:0"
    assert "test_eager.py" in info.value.loc


def test_unknown_attribute_and_bad_attribute_type():
    x = tr.tensor(np.ones((2, 2), np.float32))
    with pytest.raises(tr.errors.OpAttributeError, match="unknown attribute"):
        tr.softmax(x, axes=1)
    with pytest.raises(tr.errors.OpAttributeError, match="must be an int"):
        tr.softmax(x, axis="last")


def test_unsupported_dtype_is_a_clear_error():
    with pytest.raises(DTypeError, match="not supported"):
        tr.tensor(np.array(["a"]))


def _line_of(marker: str) -> int:
    with open(__file__) as f:
        for i, line in enumerate(f, 1):
            if marker in line and "_line_of" not in line:
                return i
    raise AssertionError(marker)
