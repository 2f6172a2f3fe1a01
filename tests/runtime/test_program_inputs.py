"""Program inputs: wrong names, dtypes, shapes and kinds get a typed error that names
the expected input, never a crash, and never poison later steps."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tfrt_ray as tr
from tfrt_ray.errors import InputError, TfrtRayError

W = tr.tensor(np.ones((3, 2), np.float32))


def _prog():
    def f(x, scale):
        return tr.relu(x @ W) * scale

    return tr.compile(f, (np.ones((4, 3), np.float32), np.ones((1,), np.float32)))


PROG = _prog()
GOOD = [np.ones((4, 3), np.float32), np.full((1,), 2.0, np.float32)]


def test_good_inputs_by_position_and_by_name():
    np.testing.assert_allclose(PROG.run(GOOD)[0], np.full((4, 2), 6.0))
    named = dict(zip(PROG.input_names, GOOD))
    np.testing.assert_allclose(PROG.run(named)[0], np.full((4, 2), 6.0))


@pytest.mark.parametrize(
    "inputs, match",
    [
        ({"x": GOOD[0]}, r"missing input\(s\)"),
        ({"x": GOOD[0], "scale": GOOD[1], "y": GOOD[1]}, "not inputs"),
        ([GOOD[0]], "takes 2"),
        ([GOOD[0].astype(str), GOOD[1]], "dtype string, expected float32"),
        ([np.ones((5, 3), np.float32), GOOD[1]], r"shape \(5, 3\), expected"),
        ([np.ones((4,), np.float32), GOOD[1]], "shape"),
    ],
)
def test_wrong_inputs_name_what_was_expected(inputs, match):
    with pytest.raises(InputError, match=match) as info:
        PROG.run(inputs)
    assert info.value.hint


_arrays = st.one_of(
    st.builds(
        lambda shape, dtype: np.zeros(shape, dtype),
        st.lists(st.integers(0, 5), max_size=3).map(tuple),
        st.sampled_from([np.float32, np.float64, np.int32, np.bool_, np.uint8]),
    ),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=5),
    st.none(),
    st.lists(st.floats(), max_size=4),
)


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.lists(_arrays, max_size=3),
        st.dictionaries(st.sampled_from(["x", "scale", "y", ""]), _arrays, max_size=3),
    )
)
def test_fuzzed_inputs_give_typed_errors_and_never_poison_the_program(inputs):
    try:
        PROG.run(inputs)
    except TfrtRayError:
        pass
    np.testing.assert_allclose(PROG.run(GOOD)[0], np.full((4, 2), 6.0))


def test_tensor_inputs_and_outputs_come_from_the_front_end_that_compiled_the_program():
    from tfrt_ray.runtime.program import Program

    step = PROG.submit([tr.tensor(GOOD[0]), GOOD[1]])  # a tensor input reads as its array
    (out,) = step.tensors()
    assert isinstance(out, tr.Tensor) and out.numpy().tolist() == [[6.0, 6.0]] * 4
    bare = Program(PROG.plan, PROG.devices, full_graph=PROG.full_graph)  # not tr.compile's
    try:
        with pytest.raises(TfrtRayError, match="arrays only"):
            bare.submit(GOOD).tensors()
        np.testing.assert_allclose(bare.run(GOOD)[0], np.full((4, 2), 6.0))
    finally:
        bare.close()
