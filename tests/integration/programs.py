"""Programs every device configuration must run with the same results as in-process."""

from __future__ import annotations

import numpy as np

import tfrt_ray as tr

RNG = np.random.default_rng(7)
BATCH = 16


def _w(*shape):
    return tr.tensor((RNG.standard_normal(shape) * 0.3).astype(np.float32))


W1, W2, W3 = _w(32, 64), _w(64, 64), _w(64, 10)
K1, K2 = _w(8, 3, 3, 3), _w(8, 8, 3, 3)
G, B = _w(64), _w(64)


def mlp(x):
    return tr.softmax(tr.relu(x @ W1) @ W2 @ W3, axis=-1)


def branches(x):
    h = x @ W1
    a = tr.tanh(h) @ W2
    b = tr.gelu(h) @ W2
    return tr.layer_norm(a + b, G, B), tr.sum(b, axes=(1,))


def convnet(x):
    h = tr.relu(tr.conv2d(x, K1, pads=(1, 1, 1, 1)))
    h = tr.max_pool2d(h, kernel_shape=(2, 2), strides=(2, 2))
    h = tr.relu(tr.conv2d(h, K2, pads=(1, 1, 1, 1)))
    return tr.flatten(tr.global_avg_pool(h), axis=1)


PROGRAMS = {
    "mlp": (mlp, lambda: (RNG.standard_normal((BATCH, 32)).astype(np.float32),)),
    "branches": (branches, lambda: (RNG.standard_normal((BATCH, 32)).astype(np.float32),)),
    "convnet": (convnet, lambda: (RNG.standard_normal((BATCH, 3, 8, 8)).astype(np.float32),)),
}


def reference(fn, args):
    out = tr.function(fn)(*args)
    return [t.numpy() for t in (out if isinstance(out, tuple) else (out,))]
