"""Fuzzing the cluster-config loader: any text ends in a config or a ConfigError."""

from __future__ import annotations

import pathlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tfrt_ray.cluster.config import parse_cluster_config
from tfrt_ray.errors import ConfigError

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHIPPED = (ROOT / "cluster_configs" / "multi_node.yaml").read_text()


def _parse(text: str) -> None:
    try:
        parse_cluster_config(text, "fuzz.yaml")
    except ConfigError:
        pass


@pytest.mark.timeout(120)
@settings(max_examples=200, deadline=2000)
@given(st.lists(st.tuples(st.integers(0, len(SHIPPED) - 1), st.characters()), max_size=6))
def test_edited_configs_give_config_errors(edits):
    text = list(SHIPPED)
    for pos, ch in edits:
        text[pos] = ch
    _parse("".join(text))


@pytest.mark.timeout(120)
@settings(max_examples=200, deadline=2000)
@given(st.text(max_size=300))
def test_arbitrary_text_gives_config_errors(text):
    _parse(text)
