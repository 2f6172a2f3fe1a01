"""Indexing on device actors: eager ops under tr.device and a compiled program lower to
the same slice/gather/squeeze/unsqueeze IR and give NumPy's results."""

from __future__ import annotations

import numpy as np
import pytest

import tfrt_ray as tr
from tests.frontends.index_cases import CASES, X

pytestmark = pytest.mark.integration


def test_eager_indexing_on_an_actor_matches_numpy(kept_session_of):
    kept_session_of(devices=2)
    with tr.device("cpu:1"):
        t = tr.tensor(X) * 1  # a tensor that lives on cpu:1
        results = [(index, t[index]) for index in CASES]
        rows = list(t)
        assert len(t) == 3
    for index, got in results:
        want = X[index]
        assert got.shape == want.shape, index
        value = got.numpy()
        assert value.shape == want.shape, index
        np.testing.assert_array_equal(value, want)
    assert all(np.array_equal(r.numpy(), w) for r, w in zip(rows, X))
    with tr.device("cpu:1"):
        assert float(t[1, 2, 3]) == float(X[1, 2, 3])


def test_a_compiled_program_with_indexing_runs_on_actors(kept_session_of):
    kept_session_of(devices=2)

    def prog(x):
        with tr.device("cpu:0"):
            a = x[0, ::-1, None, 1:3] + x[-1][..., 2:3]
        with tr.device("cpu:1"):
            return a[:, :, [1, 0]].sum(axis=1), x[..., ::-2][1]

    compiled = tr.compile(prog, (X,), strategy="place")
    got = compiled.gather([compiled.submit([X])])[0]
    a = X[0, ::-1, None, 1:3] + X[-1][..., 2:3]
    np.testing.assert_array_equal(got[0], a[:, :, [1, 0]].sum(axis=1))
    np.testing.assert_array_equal(got[1], X[..., ::-2][1])
