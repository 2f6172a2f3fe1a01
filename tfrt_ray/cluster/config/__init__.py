"""Cluster configs: YAML files that describe a cluster's nodes and devices.

A config is validated on load (pydantic v2, strict: unknown fields, wrong types and impossible
values are errors) and turned into the scheduler's Ray-free view of the cluster with
:meth:`ClusterConfig.to_cluster_spec`. Every problem becomes one :class:`ConfigError` whose
message starts with ``file:line:column: field.path:`` and says what is wrong; its ``hint`` says
how to fix it, and a mistyped field name gets the closest valid one suggested.

The schema (every field but ``name``, ``nodes[].name`` and ``devices[].type`` is optional)::

    name: multi-node                    # the cluster's name
    description: three machines on a LAN
    ray:                                # how to reach Ray (all optional)
      address: auto                     # auto | local | host:port | ray://host:port
      namespace: tfrt-ray
      jobs_address: http://127.0.0.1:8265   # Ray Jobs API (the dashboard), kept on loopback
    links:                              # the cost model's link speeds
      intra_node_gbps: 40               # Gbit/s between devices on one node
      inter_node_gbps: 10               # Gbit/s between nodes
      call_overhead_us: 500             # cost of one stage call on a device, microseconds
    nodes:
      - name: head
        devices:
          - type: cpu                   # cpu | gpu | a plugin's device type
            count: 2                    # devices of this kind on the node
            cores_per_device: 2         # CPU cores each device runtime may use
            memory: 4GiB                # per device: 4GiB, 512MiB, 8GB, or a byte count
            flops: 40 GFLOP/s           # per device: "1.5 TFLOP/s", or a number (FLOP/s)
      - name: worker
        count: 2                        # replicas: nodes worker-0 and worker-1
        devices: [{type: cpu, count: 4, cores_per_device: 2, memory: 6GiB}]

Device ids are ``"<type>:<k>"``, numbered per type across the whole cluster in the order the
nodes and devices are written (``cpu:0``, ``cpu:1``, ... then on the next node ``cpu:2``...).
Replicated nodes (``count: n`` with n > 1) are named ``<name>-0`` ... ``<name>-<n-1>``.

Loading is safe: files over 1 MiB are refused, YAML is read with PyYAML's SafeLoader only, any
tag that would construct something other than plain data (``!!python/...``, custom ``!tags``)
is rejected before anything is constructed, and alias expansion is bounded.
"""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO

import yaml
from pydantic import ValidationError

from tfrt_ray.cluster.config.issues import _from_pydantic, _render, _semantic_issues
from tfrt_ray.cluster.config.schema import ClusterConfig, DeviceGroup, Links, NodeGroup, RaySettings
from tfrt_ray.cluster.config.values import MAX_CONFIG_BYTES, parse_flops, parse_size
from tfrt_ray.cluster.config.yaml_source import _YAML_HINT, _index, _precheck, _read, _yaml_error
from tfrt_ray.errors import ConfigError

__all__ = [
    "MAX_CONFIG_BYTES",
    "ClusterConfig",
    "DeviceGroup",
    "Links",
    "NodeGroup",
    "RaySettings",
    "check_config_main",
    "load_cluster_config",
    "parse_cluster_config",
    "parse_flops",
    "parse_size",
]


# ---- loading --------------------------------------------------------------------------------


def load_cluster_config(path: str | os.PathLike) -> ClusterConfig:
    """Reads and validates a cluster config file; raises ConfigError naming file, line and
    field for anything wrong."""
    source = os.fspath(path)
    return parse_cluster_config(_read(source), source)


def parse_cluster_config(text: str, source: str = "<string>") -> ClusterConfig:
    """Validates the YAML text of a cluster config; ``source`` names it in errors."""
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{source}: the config is {len(text)} characters; cluster configs are limited to "
            f"{MAX_CONFIG_BYTES} bytes",
            loc=source,
            hint="a cluster config is a few KiB: use node 'count' to describe many identical "
            "machines instead of listing each",
        )
    try:
        loader = yaml.SafeLoader(text)  # its reader rejects control characters here
    except yaml.YAMLError as e:
        raise _yaml_error(source, e) from None
    try:
        try:
            root = loader.get_single_node()
        except yaml.YAMLError as e:
            raise _yaml_error(source, e) from None
        except RecursionError:
            raise ConfigError(
                f"{source}: the YAML is nested too deeply", loc=source, hint=_YAML_HINT
            ) from None
        if root is None:
            raise ConfigError(
                f"{source}:1:1: the file is empty",
                loc=f"{source}:1",
                hint="a cluster config needs at least 'name' and 'nodes'; see "
                "cluster_configs/laptop.yaml",
            )
        issues = _precheck(root)
        if issues:
            raise _render(source, issues, {})
        try:
            data = loader.construct_document(root)
        except yaml.YAMLError as e:
            raise _yaml_error(source, e) from None
        except RecursionError:
            raise ConfigError(
                f"{source}: the YAML is nested too deeply", loc=source, hint=_YAML_HINT
            ) from None
        marks = _index(root)
    finally:
        loader.dispose()

    return _validate(data, source, marks)


def _validate(data: Any, source: str, marks: dict) -> ClusterConfig:
    try:
        config = ClusterConfig.model_validate(data)
    except ValidationError as e:
        raise _render(source, [_from_pydantic(err) for err in e.errors()], marks) from None
    issues = _semantic_issues(config, marks)
    if issues:
        raise _render(source, issues, marks)
    config._source = source
    return config


def check_config_main(
    path: str | os.PathLike, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """``tfrt-ray config check FILE``: prints a one-line summary and returns 0, or prints the
    error and returns 1."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    try:
        config = load_cluster_config(path)
        config.to_cluster_spec()
    except ConfigError as e:
        print(f"error: {e}", file=err)
        return 1
    print(f"OK {os.fspath(path)}: {config.summary()}", file=out)
    return 0
