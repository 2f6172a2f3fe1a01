"""Convolutions on device actors run through oneDNN on channels-last values (the layout is
each device's choice), and what crosses between actors is still NCHW: same results as the
NumPy reference kernels, in shared memory too."""

from __future__ import annotations

import numpy as np
import pytest

import tfrt_ray as tr
from device_actors.cpu import onednn
from tfrt_ray.core.kernels import nn

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not onednn.available(), reason="oneDNN is not installed")]

RNG = np.random.default_rng(5)


def _param(*shape):
    return (RNG.standard_normal(shape) * 0.1).astype(np.float32)


W1, B1, W2, B2 = _param(32, 16, 3, 3), _param(32), _param(64, 32, 3, 3), _param(64)


def _net(x):
    with tr.device("cpu:0"):
        y = tr.relu(tr.conv2d(x, tr.tensor(W1), tr.tensor(B1), pads=(1, 1, 1, 1)))
    with tr.device("cpu:1"):
        z = tr.relu(tr.conv2d(y, tr.tensor(W2), tr.tensor(B2), pads=(1, 1, 1, 1)))
        return tr.global_avg_pool(z), z


def _want(x):
    def conv_relu(v, w, b):
        return np.maximum(nn.conv2d(v, w, b, strides=(1, 1), pads=(1, 1, 1, 1),
                                    dilations=(1, 1), group=1), 0)

    z = conv_relu(conv_relu(x, W1, B1), W2, B2)
    return z.mean(axis=(2, 3), keepdims=True), z


def test_a_conv_net_on_two_actors_matches_the_reference_kernels(session_of):
    session = session_of(devices=2, devices_per_node=2)
    xs = [RNG.standard_normal((4, 16, 48, 48)).astype(np.float32) for _ in range(4)]
    prog = tr.compile(_net, (xs[0],), strategy="place")
    results = prog.gather([prog.submit([x]) for x in xs])
    for x, got in zip(xs, results):
        for g, w in zip(got, _want(x)):
            assert g.shape == w.shape
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)
    for device in ("cpu:0", "cpu:1"):
        assert session.devices[device].stats()["onednn_ops"] >= 1, device
    # the 4 x 32 x 48 x 48 value (1.2 MB) crossed in shared memory, written by the NHWC -> NCHW copy
    assert session.devices["cpu:0"].stats()["arena_sent"] == len(xs)
    assert session.devices["cpu:0"].stats()["arena_copied"] == 0
