"""Every op against NumPy, on edge cases, through every way tfrt-ray runs it.

Cases are data (``cases_<family>.py``); this file is the one runner for all of them.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.core.kernels import (
    cases_elementwise,
    cases_fused,
    cases_linalg,
    cases_nn,
    cases_onnx_index,
    cases_onnx_math,
    cases_onnx_nn,
    cases_reduce,
    cases_shapes,
)
from tfrt_ray.core.kernels import get_kernel, supported_ops
from tfrt_ray.ir.ops import all_ops, get_op
from tfrt_ray.ir.types import TensorType

ALL_CASES = (
    cases_elementwise.CASES
    + cases_fused.CASES
    + cases_linalg.CASES
    + cases_nn.CASES
    + cases_onnx_index.CASES
    + cases_onnx_math.CASES
    + cases_onnx_nn.CASES
    + cases_reduce.CASES
    + cases_shapes.CASES
)


def as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def check_close(case, got, expected):
    got, expected = as_tuple(got), as_tuple(expected)
    assert len(got) == len(expected), f"{case.id}: {len(got)} outputs, expected {len(expected)}"
    for g, e in zip(got, expected):
        g, e = np.asarray(g), np.asarray(e)
        assert g.shape == e.shape, f"{case.id}: shape {g.shape} != {e.shape}"
        assert g.dtype == e.dtype, f"{case.id}: dtype {g.dtype} != {e.dtype}"
        if e.dtype.kind in "fc":
            np.testing.assert_allclose(g, e, rtol=case.rtol, atol=case.atol, err_msg=case.id)
        else:
            np.testing.assert_array_equal(g, e, err_msg=case.id)


def input_types(case):
    return tuple(None if x is None else TensorType.of(np.asarray(x)) for x in case.inputs)


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
def test_reference_kernel_matches_numpy_and_spec(case):
    spec = get_op(case.op)
    attrs, out_types = spec.check(input_types(case), case.attrs)
    got = as_tuple(get_kernel(case.op, "cpu")(*case.inputs, **attrs))
    # The spec's shape and dtype rule predicts exactly what the kernel produces.
    assert [TensorType.of(np.asarray(g)) for g in got] == list(out_types)
    check_close(case, got, case.expected)


def test_every_op_has_a_spec_a_reference_kernel_and_a_case():
    covered = {c.op for c in ALL_CASES}
    for name, spec in all_ops().items():
        get_kernel(name, "reference")
        assert name in covered, f"op '{name}' has no test case"
        assert spec.family != "misc", f"op '{name}' has no family"
    strays = set(supported_ops("reference")) - set(all_ops())
    assert not strays, f"reference kernels without a spec: {sorted(strays)}"


def _present(case):
    inputs = list(case.inputs)
    while inputs and inputs[-1] is None:
        inputs.pop()
    return inputs


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
def test_eager_matches_numpy(case):
    import tfrt_ray as tr
    from tfrt_ray.frontends.dispatch import apply

    inputs = [None if x is None else tr.tensor(x) for x in _present(case)]
    got = apply(case.op, inputs, case.attrs)
    check_close(case, tuple(t.numpy() for t in as_tuple(got)), case.expected)


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
def test_traced_matches_numpy(case):
    import tfrt_ray as tr
    from tfrt_ray.frontends.dispatch import apply

    fn = tr.function(lambda *xs: apply(case.op, list(xs), case.attrs), name=case.op)
    got = fn(*_present(case))
    check_close(case, tuple(t.numpy() for t in as_tuple(got)), case.expected)


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
def test_ir_text_round_trips(case):
    from tfrt_ray.ir import GraphBuilder, Loc, parse_graph, verify

    b = GraphBuilder(case.op)
    ids = [
        b.add_input(TensorType.of(np.asarray(x)), f"in{i}") for i, x in enumerate(_present(case))
    ]
    outs = b.add_node(case.op, ids, case.attrs, loc=Loc("model.py", 7))
    graph = b.build(outs)
    verify(graph)
    assert parse_graph(graph.as_text()) == graph
