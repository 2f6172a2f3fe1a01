"""NumPy's conventions: axis=, NumPy functions on tensors, operators with foreign types."""

from __future__ import annotations

import numpy as np
import pytest

import tfrt_ray as tr
from tfrt_ray.errors import OpAttributeError

A = np.random.default_rng(3).standard_normal((3, 4, 5)).astype(np.float32)
REDUCE = ["sum", "mean", "max", "min", "prod"]


@pytest.mark.parametrize("name", REDUCE)
@pytest.mark.parametrize("axis", [None, 1, -1, (0, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_take_axis_like_numpy(name, axis, keepdims):
    got = getattr(tr, name)(tr.tensor(A), axis=axis, keepdims=keepdims).numpy()
    want = getattr(np, name)(A, axis=axis, keepdims=keepdims)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5)


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@pytest.mark.parametrize("axis", [None, 0, 2])
def test_argmax_argmin_follow_numpy_including_axis_none(name, axis):
    got = getattr(tr, name)(tr.tensor(A), axis=axis).numpy()
    np.testing.assert_array_equal(got, getattr(np, name)(A, axis=axis))


@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax_argmin_without_axis_flatten_as_numpy_does(name):
    got = getattr(tr, name)(tr.tensor(A)).numpy()
    assert got.shape == () and got == getattr(np, name)(A)


def test_axes_stays_an_alias_and_both_is_an_error():
    np.testing.assert_allclose(tr.sum(tr.tensor(A), axes=(1,)).numpy(), A.sum(1), rtol=1e-5)
    with pytest.raises(OpAttributeError, match="both axis= and axes="):
        tr.sum(tr.tensor(A), axis=1, axes=(1,))


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: np.sum(x, axis=1), np.mean, np.max, np.argmax, lambda x: np.min(x, axis=0),
        np.exp, lambda x: np.add(x, 1), lambda x: np.concatenate([x, x], axis=1),
        lambda x: np.allclose(x, A), lambda x: np.where(x > 0, x, 0), np.shape,
        lambda x: np.sum(x, axis=1, dtype=np.float64),
    ],
)
def test_numpy_functions_on_tensors_return_what_numpy_returns(fn):
    got, want = fn(tr.tensor(A)), fn(A)
    assert type(got) is type(want)
    assert np.asarray(got).dtype == np.asarray(want).dtype
    np.testing.assert_array_equal(got, want)


def test_operators_with_foreign_operands_raise_numpys_type_error():
    t = tr.tensor(A)
    for bad in (None, "a", object()):
        with pytest.raises(TypeError, match="unsupported operand type"):
            t + bad
        with pytest.raises(TypeError):
            bad * t  # what NumPy raises for bad * ndarray
        with pytest.raises(TypeError, match="unsupported operand type"):
            bad - t
    assert type(A + t) is type(t)  # an ndarray next to a tensor is still a tensor op
