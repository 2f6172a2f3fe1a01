"""Inputs of ONNX and compiled programs: one check (tfrt_ray.runtime.feeds) that names what
was expected and what was given, and one dtype rule."""

from __future__ import annotations

import numpy as np
import pytest

import tfrt_ray as tr
from tests.cli.conftest import _model, reference
from tfrt_ray.errors import InputError
from tfrt_ray.runtime.feeds import convert

RNG = np.random.default_rng(3)
X = RNG.standard_normal((8, 4)).astype(np.float32)
OFF = RNG.standard_normal((8, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def onnx_prog(tmp_path_factory):
    pytest.importorskip("onnx")
    return tr.load_onnx(str(_model(tmp_path_factory.mktemp("m") / "two.onnx", "batch")))


@pytest.fixture(scope="module")
def compiled():
    w = tr.tensor(np.ones((4, 3), np.float32))

    def f(x, offset):
        return tr.relu(x @ w + offset)

    return tr.compile(f, (X, OFF))


BAD = [
    (None, "the inputs are NoneType None; expected a dict of x: float32"),
    ({"x": "abc", "offset": OFF}, "input 'x' has dtype string, expected float32"),
    ({"x": X}, r"missing input\(s\) \['offset'\]"),
    ({"x": X, "offset": OFF, "z": X}, r"unknown input\(s\) \['z'\]"),
    ({"x": X.astype(bool), "offset": OFF}, "dtype bool, expected float32"),
]


@pytest.mark.parametrize("inputs, match", BAD)
def test_onnx_program_input_errors_say_what_was_expected(onnx_prog, inputs, match):
    with pytest.raises(InputError, match=match) as info:
        onnx_prog.run(inputs)
    assert "float32" in str(info.value) and info.value.hint  # what it expected


@pytest.mark.parametrize("inputs, match", BAD)
def test_compiled_program_run_and_submit_give_the_same_errors(compiled, inputs, match):
    names = compiled.input_names
    if isinstance(inputs, dict):  # a traced function's inputs may be named otherwise
        inputs = {names[["x", "offset", "z"].index(k)] if k != "z" else k: v
                  for k, v in inputs.items()}
        match = match.replace("'offset'", f"'{names[1]}'").replace("'x'", f"'{names[0]}'")
    for call in (compiled.run, compiled.submit):
        with pytest.raises(InputError, match=match):
            call(inputs)


def test_inputs_that_disagree_on_the_batch_dim_fail_before_running(onnx_prog):
    with pytest.raises(InputError) as info:
        onnx_prog.run({"x": X, "offset": OFF[:5]})
    msg = str(info.value)
    assert all(s in msg for s in ("'x'", "'offset'", "'batch'", " 8 ", " 5 ")), msg


def test_a_static_dim_that_disagrees_names_the_input(onnx_prog):
    with pytest.raises(InputError, match=r"input 'x' has shape \(8, 5\), expected"):
        onnx_prog.run({"x": np.ones((8, 5), np.float32), "offset": OFF})


def test_same_kind_values_are_converted_and_match_numpy(onnx_prog):
    out = onnx_prog.run({"x": X.astype(np.float64), "offset": OFF.astype(np.float64)})
    np.testing.assert_allclose(out["y"], reference(X, OFF)["y"], rtol=1e-5, atol=1e-6)


def test_the_dtype_rule():
    assert convert("k", np.array([1, 2], np.int32), np.int64).dtype == np.int64
    assert convert("k", np.array([1, 2], np.int64), np.int32).tolist() == [1, 2]
    with pytest.raises(InputError, match=r"input 'k' holds 4294967296, which does not fit"):
        convert("k", np.array([1, 2**32], np.int64), np.int32)
    for value, dst in [(np.array([1.5]), np.int64), (np.array(["1.0"]), np.float32),
                       (np.array([True]), np.float32), (np.array([1]), np.bool_)]:
        with pytest.raises(InputError, match="input 'k' has dtype .*, expected") as info:
            convert("k", value, dst)
        assert "astype" in info.value.hint
