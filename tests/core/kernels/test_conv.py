"""conv_nchw (weights-on-the-left GEMM, im2col without a padded copy) against a direct
sum over kernel offsets, across strides, dilations, asymmetric and window-swallowing pads,
groups and 1x1 kernels."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tfrt_ray.core.kernels import nn


def direct_conv(x, w, strides, pads, dilations, group):
    kh, kw = w.shape[2:]
    pad, (ho, wo) = nn._padding(x, (kh, kw), strides, pads, dilations, False)
    xp = np.pad(x, ((0, 0), (0, 0)) + pad)
    n, c = x.shape[:2]
    cout, cg = w.shape[0], c // group
    y = np.zeros((n, cout, ho, wo))
    for oc in range(cout):
        g = oc // (cout // group)
        for i in range(kh):
            for j in range(kw):
                r, s = i * dilations[0], j * dilations[1]
                patch = xp[:, g * cg:(g + 1) * cg,
                           r:r + (ho - 1) * strides[0] + 1:strides[0],
                           s:s + (wo - 1) * strides[1] + 1:strides[1]]
                y[:, oc] += np.einsum("nchw,c->nhw", patch, w[oc, :, i, j])
    return y


CASES = [
    c for c in itertools.product(
        [(5, 7), (1, 1), (8, 8)],            # input H, W
        [(1, 1), (3, 3), (2, 3)],            # kernel
        [(1, 1), (2, 2), (3, 1)],            # strides
        [(1, 1), (2, 2)],                    # dilations
        [(0, 0, 0, 0), (1, 1, 1, 1), (2, 0, 1, 3), (4, 4, 4, 4)],  # pads
        [1, 2],                              # group
    )
    if all(
        n > 0 for n in nn._padding(np.empty((1, 1) + c[0]), c[1], c[2], c[4], c[3], False)[1]
    )
]


@pytest.mark.parametrize("hw,k,strides,dilations,pads,group", CASES)
def test_conv_matches_direct_sum(hw, k, strides, dilations, pads, group):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4) + hw)
    w = rng.standard_normal((6, 4 // group) + k)
    got = nn.conv_nchw(x, w, strides, pads, dilations, group)
    assert got.flags.c_contiguous and got.dtype == x.dtype
    np.testing.assert_allclose(got, direct_conv(x, w, strides, pads, dilations, group),
                               atol=1e-9)
