"""Tensor types and dtype tokens, and their text form."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tfrt_ray.errors import DTypeError, IRParseError
from tfrt_ray.ir import TensorType, dtype_token, numpy_dtype
from tfrt_ray.ir.text import format_type
from tfrt_ray.ir.text_parse import parse_type
from tfrt_ray.ir.types import DTYPES, FLOAT_DTYPES, INT_DTYPES, format_dim


@pytest.mark.parametrize(
    ("t", "text"),
    [
        (TensorType("f32", ()), "tensor<f32>"),
        (TensorType("f32", (2, 3)), "tensor<2x3xf32>"),
        (TensorType("i1", (0,)), "tensor<0xi1>"),
        (TensorType("ui8", (3, "N", "?")), "tensor<3x{N}x?xui8>"),
        (TensorType("f16", ("batch_size", 1)), "tensor<{batch_size}x1xf16>"),
    ],
)
def test_str_and_text_form(t: TensorType, text: str) -> None:
    assert str(t) == text
    assert format_type(t) == text
    assert parse_type(text) == t


def test_odd_symbols_are_quoted_in_text() -> None:
    t = TensorType("f32", ("batch size", "", "x", "N}", 'q"'))
    text = format_type(t)
    assert text.startswith('tensor<{"batch size"}x{""}x{x}x{"N}"}')
    assert parse_type(text) == t


def test_format_dim() -> None:
    assert format_dim(7) == "7"
    assert format_dim("?") == "?"
    assert format_dim("N") == "{N}"


@pytest.mark.parametrize("token", DTYPES)
def test_dtype_tokens_round_trip(token: str) -> None:
    np_dtype = numpy_dtype(token)
    assert isinstance(np_dtype, np.dtype)
    assert dtype_token(np_dtype) == token
    assert dtype_token(token) == token
    assert dtype_token(np_dtype.type) == token
    assert parse_type(f"tensor<2x{token}>") == TensorType(token, (2,))


def test_dtype_groups() -> None:
    assert set(FLOAT_DTYPES) | set(INT_DTYPES) | {"i1"} == set(DTYPES)
    assert dtype_token("float32") == "f32"
    assert dtype_token(bool) == "i1"


@pytest.mark.parametrize("bad", ["complex64", "bf16", "c16", object, "<U3"])
def test_unsupported_dtype(bad: object) -> None:
    with pytest.raises(DTypeError) as info:
        dtype_token(bad)
    assert info.value.hint and "f32" in info.value.hint


def test_properties() -> None:
    t = TensorType("f32", (2, "N", 3))
    assert t.rank == 3
    assert t.numel == 6  # a symbol counts as 1
    assert t.nbytes == 24
    assert not t.is_static
    assert TensorType("i64", (2, 3)).is_static
    assert TensorType("f64", ()).numel == 1
    assert t.np_dtype == np.float32
    assert TensorType.of(np.zeros((4, 5), np.int16)) == TensorType("i16", (4, 5))


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "tensor",
        "tensor<",
        "tensor<f33>",
        "tensor<3f32>",
        "tensor<3x>",
        "tensor<{}xf32>",
        "tensor<{N xf32>",
        "tensor<3xf32",
        "tensor<3xf32> junk",
        "tensor<3xxf32>",
        'tensor<{"unterminated}xf32>',
        "tensor<" + "9" * 5000 + "xf32>",
        "vector<3xf32>",
    ],
)
def test_malformed_types(bad: str) -> None:
    with pytest.raises(IRParseError) as info:
        parse_type(bad)
    assert "expected" in info.value.message


_dims = st.one_of(
    st.integers(0, 2**40),
    st.just("?"),
    st.text(st.characters(exclude_categories=()), max_size=6),
)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(DTYPES), st.lists(_dims, max_size=5))
def test_type_text_round_trip(dtype: str, shape: list) -> None:
    t = TensorType(dtype, tuple(shape))
    assert parse_type(format_type(t)) == t
