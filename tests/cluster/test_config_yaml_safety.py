"""Cluster configs: unreadable files, oversize files, unsafe YAML tags and alias bombs are
refused with a ConfigError; anchors and merge keys work."""

from __future__ import annotations

import pytest

from tests.cluster.config_cases import CONFIGS, GOOD, _assert_names, _error, _write
from tfrt_ray.cluster.config import (
    MAX_CONFIG_BYTES,
    load_cluster_config,
)
from tfrt_ray.errors import ConfigError


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_cluster_config(path)
    assert str(path) in info.value.message
    assert info.value.loc == str(path)


def test_missing_file_suggests_a_near_name():
    with pytest.raises(ConfigError) as info:
        load_cluster_config(CONFIGS / "multinode.yaml")
    assert "multi_node.yaml" in info.value.hint


def test_directory_is_not_a_config(tmp_path):
    with pytest.raises(ConfigError, match="directory"):
        load_cluster_config(tmp_path)


def test_file_over_the_size_limit(tmp_path):
    path = tmp_path / "huge.yaml"
    path.write_text(GOOD + "#" * MAX_CONFIG_BYTES)
    with pytest.raises(ConfigError) as info:
        load_cluster_config(path)
    assert str(path) in info.value.message and "1 MiB" in info.value.message


def test_not_utf8(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"name: demo\ndescription: caf\xe9\n")
    with pytest.raises(ConfigError) as info:
        load_cluster_config(path)
    assert info.value.message.startswith(f"{path}:2:")


@pytest.mark.parametrize(
    "tag",
    [
        "!!python/object/apply:os.system",
        "!!python/object/new:os.system",
        "!!python/name:os.system",
        "!!python/object:builtins.dict",
        "!custom",
    ],
)
def test_python_object_tag_is_rejected_and_never_runs(tmp_path, tag):
    marker = tmp_path / "pwned"
    text = f'name: {tag} ["touch {marker}"]\nnodes:\n  - name: a\n    devices: [{{type: cpu}}]\n'
    err, path = _error(tmp_path, text)
    _assert_names(err, path, 1, "name", column=7)
    assert "is not allowed" in err.message
    assert not marker.exists()


def test_python_object_tag_on_a_key_or_nested_is_rejected(tmp_path):
    marker = tmp_path / "pwned"
    text = GOOD.replace(
        "memory: 4GiB", f'memory: !!python/object/apply:os.system ["touch {marker}"]'
    )
    err, path = _error(tmp_path, text)
    _assert_names(err, path, 7, "nodes[0].devices[0].memory", column=17)
    assert not marker.exists()


def test_alias_bomb_is_refused(tmp_path):
    lines = ["a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9]"]
    for prev, cur in zip("abcdef", "bcdefg", strict=True):
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    err, path = _error(tmp_path, "\n".join(lines) + "\n")
    assert err.message.startswith(f"{path}:1:1:")
    assert "expands to more than" in err.message


def test_anchors_and_merge_keys_work(tmp_path):
    text = """\
    name: demo
    nodes:
      - name: a
        devices:
          - &cpu {type: cpu, count: 2, memory: 1GiB}
      - name: b
        devices:
          - <<: *cpu
            count: 3
    """
    config = load_cluster_config(_write(tmp_path, text))
    assert config.device_counts() == {"cpu": 5}
    assert config.to_cluster_spec().device("cpu:4").mem_bytes == 1 << 30


def test_error_in_merged_mapping_points_at_the_explicit_key(tmp_path):
    text = """\
    name: demo
    nodes:
      - name: a
        devices:
          - &cpu {type: cpu, count: 2}
      - name: b
        devices:
          - <<: *cpu
            count: 0
    """
    err, path = _error(tmp_path, text)
    _assert_names(err, path, 9, "nodes[1].devices[0].count", column=9)


def test_error_survives_pickling(tmp_path):
    import pickle

    err, path = _error(tmp_path, GOOD.replace("count: 2", "count: 0"))
    again = pickle.loads(pickle.dumps(err))
    assert isinstance(again, ConfigError)
    assert again.message == err.message and again.loc == err.loc and again.hint == err.hint
