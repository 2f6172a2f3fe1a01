"""Shared helpers of the cluster-config tests: the shipped configs' folder, a good config,
and writing a config and catching its ConfigError."""

from __future__ import annotations

import pathlib
import textwrap

import pytest

from tfrt_ray.cluster.config import load_cluster_config
from tfrt_ray.errors import ConfigError

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "cluster_configs"


# ---- mistakes --------------------------------------------------------------------------------

GOOD = """\
name: demo
nodes:
  - name: head
    devices:
      - type: cpu
        count: 2
        memory: 4GiB
"""


def _write(tmp_path, text: str, name: str = "cluster.yaml") -> pathlib.Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def _error(tmp_path, text: str) -> tuple[ConfigError, pathlib.Path]:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_cluster_config(path)
    return info.value, path


def _assert_names(err: ConfigError, path, line: int, field: str, column: int | None = None):
    """The first line of the message is ``file:line:column: field: problem``."""
    first = err.message.splitlines()[0]
    where = f"{path}:{line}:" + (f"{column}:" if column is not None else "")
    assert first.startswith(where), first
    assert f" {field}: " in first, first
    assert err.loc == f"{path}:{line}"
    assert err.hint
    text = str(err)
    assert str(path) in text and f"{path}:{line}" in text and field in text
