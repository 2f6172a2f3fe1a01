"""Large float sums over trailing axes go through BLAS (`tfrt_ray.core.kernels.reduce`):
same shapes and dtypes as NumPy's sum, and as accurate."""

from __future__ import annotations

import numpy as np
import pytest

from tfrt_ray.core.kernels.reduce import BLAS_SUM_MIN, _blas_sum, reduce_mean, reduce_sum

RNG = np.random.default_rng(2)


@pytest.mark.parametrize("shape,axes", [
    ((300_001,), None), ((300_001,), (0,)), ((1 << 20,), (-1,)), ((3, 100_000), None),
    ((70, 1000), (1,)), ((20, 60, 60), (1, 2)), ((20, 60, 60), (-1, -2)),
    ((40, 4096), (1,)),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("keepdims", [False, True])
def test_blas_sums_match_numpy(shape, axes, dtype, keepdims):
    x = (RNG.random(shape) + 0.5).astype(dtype)
    assert _blas_sum(x, axes, keepdims) is not None  # these all take the BLAS path
    got = reduce_sum(x, axes=axes, keepdims=keepdims)
    exact = np.sum(x.astype(np.float64), axis=axes, keepdims=keepdims)
    assert got.dtype == dtype and got.shape == exact.shape
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, exact, rtol=rtol)
    mean = reduce_mean(x, axes=axes, keepdims=keepdims)
    assert mean.dtype == dtype
    np.testing.assert_allclose(mean, np.mean(x.astype(np.float64), axis=axes, keepdims=keepdims),
                               rtol=rtol)


@pytest.mark.parametrize("x,axes", [
    (np.ones((300, 300), np.float32), (0,)),  # not trailing
    (np.ones((10, 10000), np.float32), (1,)),  # rows longer than one dot product
    (np.ones((300, 300), np.float32).T, None),  # not C-contiguous
    (np.ones(BLAS_SUM_MIN - 1, np.float32), None),  # small
    (np.ones(1 << 17, np.int32), None),  # not a float
])
def test_other_sums_take_numpys_path_with_the_same_result(x, axes):
    assert _blas_sum(x, axes, False) is None
    np.testing.assert_array_equal(reduce_sum(x, axes=axes, keepdims=False),
                                  np.sum(x, axis=axes, dtype=None if x.dtype.kind == "f"
                                         else np.int64))
