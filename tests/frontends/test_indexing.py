"""Tensor indexing follows NumPy, eagerly and inside tr.function."""

from __future__ import annotations

import numpy as np
import pytest

import tfrt_ray as tr
from tests.frontends.index_cases import CASES, X
from tfrt_ray.errors import TensorIndexError, TfrtRayError


@pytest.mark.parametrize("index", CASES, ids=repr)
def test_eager_index_matches_numpy(index):
    got = tr.tensor(X)[index].numpy()
    want = X[index]
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("index", [c for c in CASES if "True" not in repr(c)], ids=repr)
def test_traced_index_matches_numpy(index):
    f = tr.function(lambda x: x[index] * 2)
    np.testing.assert_array_equal(f(tr.tensor(X)).numpy(), X[index] * 2)


def test_iteration_len_and_scalars_follow_numpy():
    t = tr.tensor(X)
    assert len(t) == 3
    rows = [r.numpy() for r in t]
    assert len(rows) == 3 and all(np.array_equal(r, w) for r, w in zip(rows, X))
    assert float(t[1, 2, 3]) == float(X[1, 2, 3]) and int(t[0, 0, 1]) == 1
    assert bool(t[0, 0, 0]) is False
    with pytest.raises(TypeError):
        float(t[0])
    with pytest.raises(ValueError):
        bool(t[0])


@pytest.mark.parametrize("index", [3, -4, (0, 3), (0, 0, 4), (0, 0, 0, 0), [0, 5], (None, 9)])
def test_bad_indices_raise_index_errors(index):
    with pytest.raises(IndexError) as info:
        tr.tensor(X)[index]
    assert isinstance(info.value, TensorIndexError) and isinstance(info.value, TfrtRayError)
    with pytest.raises(IndexError):
        X[index]


def test_unsupported_indices_say_what_is_supported():
    t = tr.tensor(X)
    with pytest.raises(TensorIndexError, match="integer-array"):
        t[[0, 1], [1, 2]]
    with pytest.raises(TensorIndexError, match="supported"):
        t["a"]
    f = tr.function(lambda x, m: x[m])
    with pytest.raises(TensorIndexError, match="boolean mask"):
        f(tr.tensor(X[:, 0, 0]), tr.tensor(np.array([True, False, True])))


def test_reading_a_traced_value_says_it_has_no_value_at_trace_time():
    for read in (lambda y: y.numpy(), float, int):
        f = tr.function(lambda x, read=read: read(x[0, 0, 0]))
        with pytest.raises(TfrtRayError, match="no value at trace time") as info:
            f(tr.tensor(X))
        assert "test_indexing.py" in str(info.value)
