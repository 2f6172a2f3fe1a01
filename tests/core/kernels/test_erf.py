"""The float32 erf approximation: accuracy bounds, special values, and the in-place forms."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from tfrt_ray.core.kernels.erf import BLOCK, erf, erf_into


def exact(x):
    return special.erf(np.asarray(x, np.float64))


def test_float32_erf_is_within_a_few_ulp_everywhere():
    x = np.linspace(-6, 6, 1_200_001, dtype=np.float32)
    got = erf(x).astype(np.float64)
    want = exact(x)
    err = np.abs(got - want)
    assert err.max() < 4.2e-7
    nonzero = want != 0
    assert (err[nonzero] / np.abs(want[nonzero])).max() < 4.2e-7
    assert np.abs(got).max() <= 1.0


def test_small_arguments_keep_relative_accuracy():
    x = np.float32([1e-30, -1e-20, 1e-10, 3e-5, -2e-3])
    np.testing.assert_allclose(erf(x), exact(x), rtol=1e-6)


def test_special_values():
    got = erf(np.float32([np.nan, np.inf, -np.inf, 0.0, -0.0, 10.0, -10.0]))
    assert np.isnan(got[0])
    assert list(got[1:]) == [1.0, -1.0, 0.0, 0.0, 1.0, -1.0]
    assert np.signbit(got[4])


def test_dtype_and_shape_are_kept():
    for dt in (np.float16, np.float32, np.float64):
        x = np.linspace(-3, 3, 24).astype(dt).reshape(2, 3, 4)
        y = erf(x)
        assert y.dtype == dt and y.shape == x.shape
        np.testing.assert_allclose(y, exact(x), rtol=2e-3 if dt == np.float16 else 1e-6,
                                   atol=1e-3 if dt == np.float16 else 1e-6)
    assert erf(np.float32(0.5)).shape == ()


@pytest.mark.parametrize("n", [0, 1, BLOCK - 1, BLOCK, 2 * BLOCK + 7])
def test_in_place_matches_out_of_place_across_block_edges(n):
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32) * 2
    want = erf(x)
    y = x.copy()
    assert erf_into(y, y) is y
    np.testing.assert_array_equal(y, want)


def test_into_broadcasts_and_casts():
    x = np.float32([0.1, -0.5, 2.0])
    out = np.empty((2, 3), np.float32)
    erf_into(x, out)
    np.testing.assert_array_equal(out, np.stack([erf(x)] * 2))
    out64 = np.empty(3, np.float64)
    erf_into(x.astype(np.float64), out64)
    np.testing.assert_allclose(out64, exact(x), rtol=1e-12)
