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

import difflib
import math
import os
import re
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, TextIO, get_args, get_origin

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
)
from pydantic_core import PydanticCustomError

from tfrt_ray.errors import ConfigError

if TYPE_CHECKING:
    from scheduler.cluster_spec import ClusterSpec, DeviceSpec

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

MAX_CONFIG_BYTES = 1 << 20  # a cluster config is a few KiB; refuse anything over 1 MiB
MAX_YAML_NODES = 100_000  # YAML nodes after alias expansion (stops "billion laughs")
MAX_DEVICES = 1_000_000  # devices in one cluster, all nodes and replicas together

_CUSTOM = "tfrt_config"  # pydantic error type of the problems raised by this module


def _problem(problem: str, hint: str) -> PydanticCustomError:
    return PydanticCustomError(_CUSTOM, "{problem}", {"problem": problem, "hint": hint})


def _show(value: Any, limit: int = 40) -> str:
    """A value as the user wrote it in YAML, shortened."""
    if value is None:
        text = "null (an empty value)"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = repr(value)
    elif isinstance(value, dict):
        text = "a mapping"
    elif isinstance(value, list):
        text = "a list"
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _kind(value: Any) -> str:
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return f"the boolean {_show(value)}"
    if isinstance(value, (int, float)):
        return f"the number {_show(value)}"
    if isinstance(value, str):
        return f"the text {_show(value)}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return f"{type(value).__name__} {_show(value)}"


# ---- human sizes and rates ------------------------------------------------------------------

_NUMBER = r"[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?"
_SIZE_RE = re.compile(rf"^\s*({_NUMBER})\s*([A-Za-z]*)\s*$")
_SIZE_UNITS = {
    "": 1, "b": 1,
    "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
    "t": 10**12, "tb": 10**12, "p": 10**15, "pb": 10**15,
    "ki": 2**10, "kib": 2**10, "mi": 2**20, "mib": 2**20, "gi": 2**30, "gib": 2**30,
    "ti": 2**40, "tib": 2**40, "pi": 2**50, "pib": 2**50,
}  # fmt: skip
_SIZE_UNIT_NAMES = ["B", "KB", "MB", "GB", "TB", "KiB", "MiB", "GiB", "TiB"]

_FLOPS_RE = re.compile(rf"^\s*({_NUMBER})\s*(?:([kKmMgGtTpPeE]?)\s*(FLOP/?S|FLOPS))?\s*$", re.I)
_FLOPS_PREFIX = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12, "p": 1e15, "e": 1e18}
_SIZE_HINT = "write a size like 4GiB, 512MiB or 16GB (or a whole number of bytes)"
_FLOPS_HINT = "write a rate like '20 GFLOP/s' or '1.5 TFLOP/s' (or a number of FLOP/s)"


def parse_size(value: Any) -> int:
    """Bytes from ``4GiB``, ``512 MiB``, ``16GB``, ``1.5Gi``, ``2e9`` or an int (bytes).
    Binary units (KiB, MiB, GiB, TiB; also Ki, Mi, Gi) are powers of 1024, decimal ones (KB,
    MB, GB, TB; also K, M, G) powers of 1000; unit names are case-insensitive."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _problem(f"must be a size, got {_kind(value)}", _SIZE_HINT)
    if isinstance(value, str):
        match = _SIZE_RE.match(value)
        if match is None:
            raise _problem(f"{_show(value)} is not a size", _SIZE_HINT)
        number, unit = match.groups()
        scale = _SIZE_UNITS.get(unit.lower())
        if scale is None:
            lower = {name.lower(): name for name in _SIZE_UNIT_NAMES}
            close = difflib.get_close_matches(unit.lower(), list(lower), n=1, cutoff=0.5)
            guess = f" (did you mean {number}{lower[close[0]]}?)" if close else ""
            raise _problem(
                f"unknown size unit '{unit}' in {_show(value)}{guess}",
                f"use one of {', '.join(_SIZE_UNIT_NAMES)}, e.g. '4GiB'",
            )
        nbytes = float(number) * scale
    else:
        nbytes = float(value)
    if not math.isfinite(nbytes) or nbytes < 0:
        raise _problem(f"must be a size of 0 bytes or more, got {_show(value)}", _SIZE_HINT)
    return int(round(nbytes))


def parse_flops(value: Any) -> float:
    """FLOP/s from ``20 GFLOP/s``, ``1.5 TFLOPS``, ``2e10`` or a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _problem(f"must be a compute rate, got {_kind(value)}", _FLOPS_HINT)
    if isinstance(value, str):
        match = _FLOPS_RE.match(value)
        if match is None:
            raise _problem(f"{_show(value)} is not a compute rate", _FLOPS_HINT)
        number, prefix, _unit = match.groups()
        rate = float(number) * _FLOPS_PREFIX[(prefix or "").lower()]
    else:
        rate = float(value)
    if not math.isfinite(rate):
        raise _problem(f"must be a finite rate, got {_show(value)}", _FLOPS_HINT)
    return rate


def _positive_size(value: Any) -> int:
    nbytes = parse_size(value)
    if nbytes <= 0:
        raise _problem(
            f"must be more than 0 bytes, got {_show(value)}",
            "give each device the memory it may use, e.g. 'memory: 4GiB'",
        )
    return nbytes


def _positive_flops(value: Any) -> float:
    rate = parse_flops(value)
    if rate <= 0:
        raise _problem(f"must be more than 0 FLOP/s, got {_show(value)}", _FLOPS_HINT)
    return rate


Size = Annotated[int, BeforeValidator(_positive_size)]
Flops = Annotated[float, BeforeValidator(_positive_flops)]

# ---- names and addresses --------------------------------------------------------------------

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def _name(value: str) -> str:
    if not _NAME_RE.match(value):
        raise _problem(
            f"{_show(value)} is not a valid name",
            "use 1-63 letters, digits, '-', '_' or '.', starting with a letter or digit",
        )
    return value


def _device_type(value: str) -> str:
    if not _TYPE_RE.match(value):
        guess = value.strip().lower()
        better = f" (did you mean '{guess}'?)" if _TYPE_RE.match(guess) else ""
        raise _problem(
            f"{_show(value)} is not a device type{better}",
            "a device type is a lower-case word: cpu, gpu, or the name a plugin registers",
        )
    return value


def _ray_address(value: str) -> str:
    text = value.strip()
    if "://" in text:
        scheme = text.split("://", 1)[0].lower()
        if scheme in ("http", "https"):
            raise _problem(
                f"{_show(value)} is an HTTP address; 'address' is where Ray itself listens",
                "put the dashboard / Jobs API URL under ray.jobs_address, and set address to "
                "'auto', 'host:6379' or 'ray://host:10001'",
            )
        if scheme != "ray":
            raise _problem(
                f"unknown scheme '{scheme}://' in {_show(value)}",
                "use 'auto', 'local', 'host:port' (a GCS address) or 'ray://host:port' (Ray "
                "Client)",
            )
    if not text or any(c.isspace() for c in text):
        raise _problem(
            f"{_show(value)} is not a Ray address",
            "use 'auto', 'local', 'host:port' or 'ray://host:port'",
        )
    return text


def _jobs_address(value: str) -> str:
    if not re.match(r"^https?://[^\s/]+(/\S*)?$", value):
        raise _problem(
            f"{_show(value)} is not an http(s) URL",
            "give the Ray dashboard / Jobs API URL, e.g. 'http://127.0.0.1:8265' (reach a "
            "remote cluster through an SSH tunnel to its loopback port)",
        )
    return value


Name = Annotated[str, AfterValidator(_name)]

# ---- the schema -----------------------------------------------------------------------------


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    what: ClassVar[str] = "this section"


class DeviceGroup(_Section):
    """``count`` identical devices of one type on a node."""

    what: ClassVar[str] = "a device entry"

    type: Annotated[str, AfterValidator(_device_type)] = Field(
        description="type picks the device's kernels: 'cpu', 'gpu' or a plugin's type, "
        "e.g. 'type: cpu'"
    )
    count: int = Field(
        1,
        ge=1,
        le=65_536,
        description="count is how many devices of this type the node has: a whole number "
        ">= 1, e.g. 'count: 2'",
    )
    cores_per_device: int = Field(
        1,
        ge=1,
        le=4096,
        description="cores_per_device is how many CPU cores each device runtime may use "
        "(its thread cap and Ray CPU request): a whole number >= 1, e.g. 'cores_per_device: 2'",
    )
    memory: Size = Field(
        4 << 30,
        description="memory is what each device may hold, e.g. 'memory: 4GiB' or 'memory: 512MiB'",
    )
    flops: Flops = Field(
        2e10,
        description="flops is each device's compute speed for the cost model, e.g. "
        "'flops: 20 GFLOP/s' or 'flops: 2e10'",
    )


class NodeGroup(_Section):
    """One machine, or ``count`` identical ones (``<name>-0`` ... ``<name>-<count-1>``)."""

    what: ClassVar[str] = "a node entry"

    name: Name = Field(
        description="name is the node's unique name, e.g. 'name: worker' (letters, digits, "
        "'-', '_', '.')"
    )
    count: int = Field(
        1,
        ge=1,
        le=10_000,
        description="count is how many identical machines this entry describes; they are "
        "named <name>-0, <name>-1, ... (a whole number >= 1, e.g. 'count: 2')",
    )
    devices: list[DeviceGroup] = Field(
        min_length=1,
        description="devices lists the node's devices, one '- type: ...' entry per kind, e.g. "
        "'devices: [{type: cpu, count: 2}]'",
    )

    def node_names(self) -> tuple[str, ...]:
        if self.count == 1:
            return (self.name,)
        return tuple(f"{self.name}-{i}" for i in range(self.count))


class Links(_Section):
    """Link speeds for the scheduler's cost model."""

    what: ClassVar[str] = "the links section"

    intra_node_gbps: float = Field(
        40.0,
        gt=0,
        allow_inf_nan=False,
        description="intra_node_gbps is the bandwidth between devices on one node in Gbit/s, "
        "a number > 0, e.g. 'intra_node_gbps: 40'",
    )
    inter_node_gbps: float = Field(
        10.0,
        gt=0,
        allow_inf_nan=False,
        description="inter_node_gbps is the bandwidth between nodes in Gbit/s (10 for 10GbE), "
        "a number > 0, e.g. 'inter_node_gbps: 10'",
    )
    call_overhead_us: float = Field(
        500.0,
        ge=0,
        allow_inf_nan=False,
        description="call_overhead_us is the cost of one stage call on a device in "
        "microseconds, a number >= 0, e.g. 'call_overhead_us: 500'",
    )


class RaySettings(_Section):
    """How to reach Ray. Leave it out to run in-process or start a local Ray."""

    what: ClassVar[str] = "the ray section"

    address: Annotated[str, AfterValidator(_ray_address)] | None = Field(
        None,
        description="address is where Ray runs: 'auto' (a Ray started on this machine), "
        "'local' (start one), 'host:6379' or 'ray://host:10001'",
    )
    namespace: Name | None = Field(
        None, description="namespace is the Ray namespace to use, e.g. 'namespace: tfrt-ray'"
    )
    jobs_address: Annotated[str, AfterValidator(_jobs_address)] | None = Field(
        None,
        description="jobs_address is the Ray Jobs API URL, e.g. 'http://127.0.0.1:8265' "
        "(the dashboard, bound to loopback; tunnel to it over SSH)",
    )


class ClusterConfig(_Section):
    """A validated cluster config. Build one with :func:`load_cluster_config`."""

    what: ClassVar[str] = "a cluster config"

    name: Name = Field(description="name is the cluster's name, e.g. 'name: laptop'")
    description: str | None = Field(None, description="description is free text")
    ray: RaySettings = Field(
        default_factory=RaySettings,
        description="ray holds how to reach Ray: address, namespace, jobs_address",
    )
    links: Links = Field(
        default_factory=Links,
        description="links holds the cost model's link speeds: intra_node_gbps, "
        "inter_node_gbps, call_overhead_us",
    )
    nodes: list[NodeGroup] = Field(
        min_length=1,
        description="nodes lists the cluster's machines, at least one, e.g. "
        "'nodes: [{name: head, devices: [{type: cpu, count: 2}]}]'",
    )

    _source: str | None = PrivateAttr(None)

    @field_validator("ray", "links", mode="before")
    @classmethod
    def _empty_section(cls, value: Any) -> Any:
        return {} if value is None else value  # "ray:" with nothing under it: the defaults

    @classmethod
    def from_data(cls, data: Any, source: str = "<data>") -> ClusterConfig:
        """Validates a config given as Python data (what the YAML would load to); errors are
        ConfigErrors naming ``source`` and the field (no line numbers)."""
        return _validate(data, source, {})

    # ---- views ------------------------------------------------------------------------

    @property
    def source(self) -> str | None:
        """The file this config was loaded from."""
        return self._source

    def node_names(self) -> tuple[str, ...]:
        """Every node, replicas expanded, in file order."""
        return tuple(n for group in self.nodes for n in group.node_names())

    def _expanded(self) -> Iterator[tuple[str, NodeGroup]]:
        for group in self.nodes:
            for node in group.node_names():
                yield node, group

    def device_count(self) -> int:
        return sum(g.count * sum(d.count for d in g.devices) for g in self.nodes)

    def device_counts(self) -> dict[str, int]:
        """Devices per type, in order of first appearance."""
        counts: dict[str, int] = {}
        for group in self.nodes:
            for dev in group.devices:
                counts[dev.type] = counts.get(dev.type, 0) + group.count * dev.count
        return counts

    def devices(self) -> tuple[DeviceSpec, ...]:
        """One DeviceSpec per device, ids ``<type>:<k>`` numbered per type in file order."""
        from scheduler.cluster_spec import DeviceSpec

        next_index: dict[str, int] = {}
        out = []
        for node, group in self._expanded():
            for dev in group.devices:
                for _ in range(dev.count):
                    k = next_index.get(dev.type, 0)
                    next_index[dev.type] = k + 1
                    out.append(
                        DeviceSpec(
                            id=f"{dev.type}:{k}",
                            type=dev.type,
                            node=node,
                            flops_per_s=float(dev.flops),
                            mem_bytes=int(dev.memory),
                            cores=int(dev.cores_per_device),
                        )
                    )
        return tuple(out)

    def to_cluster_spec(self) -> ClusterSpec:
        """The scheduler's view of this cluster (link speeds converted from Gbit/s)."""
        from scheduler.cluster_spec import ClusterSpec

        return ClusterSpec(
            self.devices(),
            intra_node_bytes_per_s=self.links.intra_node_gbps * 1e9 / 8,
            inter_node_bytes_per_s=self.links.inter_node_gbps * 1e9 / 8,
            call_overhead_s=self.links.call_overhead_us * 1e-6,
        )

    def node_resources(self) -> dict[str, dict[str, float]]:
        """The Ray resources each node must offer to host its device actors: every device
        reserves ``cores_per_device`` CPUs, and every ``gpu`` device one GPU."""
        out: dict[str, dict[str, float]] = {}
        for node, group in self._expanded():
            cpus = sum(d.count * d.cores_per_device for d in group.devices)
            gpus = sum(d.count for d in group.devices if d.type == "gpu")
            out[node] = {"CPU": float(cpus), "GPU": float(gpus)}
        return out

    def summary(self) -> str:
        """One line: ``cluster 'x': 3 nodes (a, b, c), 10 devices (cpu: 8, gpu: 2)``."""
        names = self.node_names()
        shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
        per_type = ", ".join(f"{t}: {n}" for t, n in self.device_counts().items())
        n_dev = self.device_count()
        return (
            f"cluster '{self.name}': {len(names)} node{'s' * (len(names) != 1)} ({shown}), "
            f"{n_dev} device{'s' * (n_dev != 1)} ({per_type})"
        )


# ---- loading --------------------------------------------------------------------------------


@dataclass
class _Issue:
    path: tuple  # the field path, as a pydantic loc
    problem: str
    hint: str | None
    mark: Any = None  # a yaml Mark; found from path when None
    at_key: bool = True
    rank: int = 1  # unknown fields (rank 0) come first: they often explain the rest


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


# ---- reading the file -----------------------------------------------------------------------


def _read(source: str) -> str:
    try:
        info = os.stat(source)
    except FileNotFoundError:
        raise ConfigError(
            f"{source}: no such cluster config file",
            loc=source,
            hint=_missing_hint(source),
        ) from None
    except OSError as e:
        raise ConfigError(
            f"{source}: cannot read the cluster config ({e.strerror})", loc=source
        ) from None
    if stat.S_ISDIR(info.st_mode):
        raise ConfigError(
            f"{source}: is a directory, not a cluster config file",
            loc=source,
            hint="pass one YAML file, e.g. cluster_configs/laptop.yaml",
        )
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{source}: is not a regular file", loc=source, hint="pass a YAML file")
    too_big = ConfigError(
        f"{source}: the file is over {MAX_CONFIG_BYTES} bytes; cluster configs are limited "
        "to 1 MiB",
        loc=source,
        hint="a cluster config is a few KiB: use node 'count' to describe many identical "
        "machines instead of listing each",
    )
    if info.st_size > MAX_CONFIG_BYTES:
        raise too_big
    try:
        with open(source, "rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as e:
        raise ConfigError(
            f"{source}: cannot read the cluster config ({e.strerror})", loc=source
        ) from None
    if len(data) > MAX_CONFIG_BYTES:
        raise too_big
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise ConfigError(
            f"{source}:{line}:{column}: the file is not UTF-8 text (byte 0x{data[e.start]:02x})",
            loc=f"{source}:{line}",
            hint="save the config as UTF-8",
        ) from None


def _missing_hint(source: str) -> str:
    folder = os.path.dirname(source) or "."
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith((".yaml", ".yml")))
    except OSError:
        names = []
    close = difflib.get_close_matches(os.path.basename(source), names, n=1, cutoff=0.6)
    if close:
        return f"did you mean {os.path.join(folder, close[0])}?"
    if names:
        shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
        return f"check the path; {folder} has {shown}"
    return "check the path; the shipped configs are in cluster_configs/ (e.g. laptop.yaml)"


# ---- YAML: safe composition, marks ---------------------------------------------------------

_YAML_HINT = (
    "check the indentation (spaces, not tabs) and that every line is 'key: value' or '- item'"
)
_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"
_SAFE_TAGS = frozenset(t for t in yaml.SafeLoader.yaml_constructors if t is not None)


def _short_tag(tag: str) -> str:
    prefix = "tag:yaml.org,2002:"
    return "!!" + tag[len(prefix) :] if tag.startswith(prefix) else tag


def _yaml_error(source: str, e: yaml.YAMLError) -> ConfigError:
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    problem = getattr(e, "problem", None) or str(e)
    context = getattr(e, "context", None)
    context_mark = getattr(e, "context_mark", None)
    what = problem
    if context:
        where = f" at line {context_mark.line + 1}" if context_mark is not None else ""
        what = f"{problem} ({context}{where})"
    hint = _YAML_HINT
    if "\\t" in problem or "\t" in problem:
        hint = "YAML indentation must use spaces; replace the tab characters"
    elif "constructor" in problem:
        hint = "cluster configs are plain data: remove the YAML tag"
    if mark is None:
        return ConfigError(f"{source}: malformed YAML: {what}", loc=source, hint=hint)
    line, column = mark.line + 1, mark.column + 1
    return ConfigError(
        f"{source}:{line}:{column}: malformed YAML: {what}", loc=f"{source}:{line}", hint=hint
    )


def _precheck(root: yaml.Node) -> list[_Issue]:
    """Before anything is constructed: only plain-data tags, text keys, no duplicate keys, no
    recursive aliases, bounded alias expansion."""
    issues: list[_Issue] = []
    budget = [MAX_YAML_NODES]

    def walk(node: yaml.Node, path: tuple, on_path: set[int]) -> None:
        budget[0] -= 1
        if budget[0] < 0:
            return
        if node.tag not in _SAFE_TAGS:
            issues.append(
                _Issue(
                    path,
                    f"YAML tag '{_short_tag(node.tag)}' is not allowed",
                    "cluster configs are plain data: remove the tag (tags that build Python "
                    "objects, like !!python/..., are never honoured)",
                    mark=node.start_mark,
                    rank=0,
                )
            )
            return
        if id(node) in on_path:
            issues.append(
                _Issue(
                    path,
                    "a YAML alias refers to a mapping or list that contains it",
                    "remove the recursive alias (*name inside the &name it refers to)",
                    mark=node.start_mark,
                )
            )
            return
        if isinstance(node, yaml.SequenceNode):
            on_path.add(id(node))
            for i, item in enumerate(node.value):
                walk(item, (*path, i), on_path)
            on_path.discard(id(node))
        elif isinstance(node, yaml.MappingNode):
            on_path.add(id(node))
            seen: dict[str, Any] = {}
            for key, value in node.value:
                if key.tag == _MERGE_TAG:  # "<<: *defaults" merges a mapping in
                    walk(value, path, on_path)
                    continue
                if not isinstance(key, yaml.ScalarNode) or key.tag != _STR_TAG:
                    shown = key.value if isinstance(key, yaml.ScalarNode) else "a collection"
                    issues.append(
                        _Issue(
                            path,
                            f"the key {shown!r} is read as {_short_tag(key.tag)}, but field "
                            "names are text",
                            "use the field's name, e.g. 'count:'; quote a key that YAML reads "
                            "as a number or boolean",
                            mark=key.start_mark,
                        )
                    )
                    continue
                if key.value in seen:
                    first = seen[key.value]
                    issues.append(
                        _Issue(
                            (*path, key.value),
                            f"field '{key.value}' is given twice (first at line {first.line + 1})",
                            "remove one of them; YAML would silently keep only the last",
                            mark=key.start_mark,
                        )
                    )
                else:
                    seen[key.value] = key.start_mark
                walk(value, (*path, key.value), on_path)
            on_path.discard(id(node))

    try:
        walk(root, (), set())
    except RecursionError:
        issues.append(_Issue((), "the YAML is nested too deeply", _YAML_HINT, mark=root.start_mark))
    if budget[0] < 0:
        issues.append(
            _Issue(
                (),
                f"the YAML expands to more than {MAX_YAML_NODES} values (through aliases)",
                "a cluster config is small: use node and device 'count' instead of aliases",
                mark=root.start_mark,
            )
        )
    return issues


def _index(root: yaml.Node) -> dict[tuple, tuple[Any, yaml.Node]]:
    """Field path -> (mark of its key, or None for list items and the root; its value node).
    Runs after construction, so merge keys are already flattened into their mappings."""
    marks: dict[tuple, tuple[Any, yaml.Node]] = {(): (None, root)}
    stack = [((), root)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    child = (*path, key.value)
                    marks[child] = (key.start_mark, value)  # a later key overrides a merged one
                    stack.append((child, value))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                child = (*path, i)
                marks[child] = (None, item)
                stack.append((child, item))
    return marks


def _locate(marks: dict, path: tuple, at_key: bool) -> tuple[Any, tuple]:
    """The mark for a field path: its key's mark when it exists (or its value's for a list
    item); for a missing field, the start of the deepest part of the path that exists."""
    for n in range(len(path), -1, -1):
        hit = marks.get(tuple(path[:n]))
        if hit is not None:
            key_mark, node = hit
            if at_key and key_mark is not None:
                return key_mark, tuple(path[:n])
            return node.start_mark, tuple(path[:n])
    return None, ()


# ---- pydantic errors -> issues ---------------------------------------------------------------


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    origin = get_origin(annotation)
    if origin is Annotated:
        yield from _models_in(get_args(annotation)[0])
        return
    if origin is None:
        return
    for arg in get_args(annotation):
        yield from _models_in(arg)


def _model_at(path: tuple) -> type[BaseModel] | None:
    """The schema section a field path points into (ClusterConfig for ``()``)."""
    model: type[BaseModel] | None = ClusterConfig
    for part in path:
        if isinstance(part, int):
            continue
        if model is None or part not in model.model_fields:
            return None
        found = list(_models_in(model.model_fields[part].annotation))
        model = found[0] if found else None
    return model


def _field_description(path: tuple) -> str | None:
    if not path or not isinstance(path[-1], str):
        return None
    model = _model_at(path[:-1])
    if model is None or path[-1] not in model.model_fields:
        return None
    return model.model_fields[path[-1]].description


def _section_hint(path: tuple) -> str:
    """A hint for a whole section or list item: the fields it takes."""
    model = _model_at(path)
    if model is None:
        return "see cluster_configs/README.md for the format"
    fields = ", ".join(model.model_fields)
    if not path:
        return (
            f"a cluster config is a mapping of {fields}; 'name' and 'nodes' are required "
            "(see cluster_configs/laptop.yaml)"
        )
    return f"{model.what} is a mapping of {fields}"


_TYPE_WORDS = {
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "text",
    "bool_type": "true or false",
    "list_type": "a list ('- item' lines or [a, b])",
    "dict_type": "a mapping ('field: value' lines)",
    "model_type": "a mapping ('field: value' lines)",
    "model_attributes_type": "a mapping ('field: value' lines)",
}


def _from_pydantic(err: dict) -> _Issue:
    path = tuple(err["loc"])
    kind = err["type"]
    ctx = err.get("ctx") or {}
    value = err.get("input")
    described = _field_description(path) or _section_hint(path)
    if kind == _CUSTOM:
        return _Issue(path, ctx["problem"], ctx["hint"])
    if kind == "extra_forbidden":
        field = path[-1] if path else "?"
        model = _model_at(path[:-1])
        allowed = list(model.model_fields) if model else []
        close = difflib.get_close_matches(str(field), allowed, n=1, cutoff=0.5)
        where = model.what if model else "this section"
        problem = f"unknown field '{field}'"
        if close:
            problem += f" (did you mean '{close[0]}'?)"
            hint = f"rename '{field}' to '{close[0]}'; {where} takes: {', '.join(allowed)}"
        else:
            hint = f"remove '{field}'; {where} takes: {', '.join(allowed)}"
        return _Issue(path, problem, hint, rank=0)
    if kind == "missing":
        field = path[-1] if path else "?"
        hint = f"add '{field}: ...'" + (f"; {described}" if described else "")
        return _Issue(path, f"missing required field '{field}'", hint, at_key=False)
    if kind in _TYPE_WORDS:
        problem = f"must be {_TYPE_WORDS[kind]}, got {_kind(value)}"
        hint = described
        if kind == "string_type" and isinstance(value, (bool, int, float)):
            hint = f'quote it, e.g. "{_show(value)}"' + (f"; {described}" if described else "")
        elif kind.startswith("int") and isinstance(value, str) and value.strip().isdigit():
            hint = f"drop the quotes: {value.strip()}" + (f"; {described}" if described else "")
        elif value is None and described:
            hint = f"give a value or remove the line; {described}"
        return _Issue(path, problem, hint)
    bounds = {
        "greater_than": ("more than", "gt"),
        "greater_than_equal": ("at least", "ge"),
        "less_than": ("less than", "lt"),
        "less_than_equal": ("at most", "le"),
    }
    if kind in bounds:
        words, key = bounds[kind]
        bound = ctx.get(key)
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        return _Issue(path, f"must be {words} {bound}, got {_show(value)}", described)
    if kind == "too_short":
        return _Issue(path, "must not be empty", described)
    if kind == "finite_number":
        return _Issue(path, f"must be a finite number, got {_show(value)}", described)
    return _Issue(path, err.get("msg", "is invalid"), described)


def _semantic_issues(config: ClusterConfig, marks: dict) -> list[_Issue]:
    """Checks across fields: unique node names (replicas expanded), a bounded device count."""
    issues: list[_Issue] = []
    owner: dict[str, int] = {}  # expanded node name -> index of the entry that made it
    for i, group in enumerate(config.nodes):
        for node in group.node_names():
            if node not in owner:
                owner[node] = i
                continue
            j = owner[node]
            first_mark, _ = _locate(marks, ("nodes", j, "name"), True)
            first_line = f" at line {first_mark.line + 1}" if first_mark is not None else ""
            if node == group.name and node == config.nodes[j].name:
                problem = f"node name '{node}' is used twice (first{first_line})"
            else:
                problem = (
                    f"node '{node}' is named twice: by nodes[{j}]{first_line} and by "
                    f"nodes[{i}] (replicas of a node with count > 1 are named "
                    "<name>-0, <name>-1, ...)"
                )
            issues.append(
                _Issue(
                    ("nodes", i, "name"),
                    problem,
                    "give every node a unique name (or use 'count: n' on one entry for n "
                    "identical machines)",
                )
            )
            break
    total = config.device_count()
    if total > MAX_DEVICES:
        issues.append(
            _Issue(
                ("nodes",),
                f"the cluster has {total} devices; at most {MAX_DEVICES} are supported",
                "lower the node and device counts",
            )
        )
    return issues


def _format_path(path: tuple) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text or "(top level)"


def _render(source: str, issues: list[_Issue], marks: dict) -> ConfigError:
    """One ConfigError for all issues: ``file:line:column: field: problem`` lines, unknown
    fields first, then in file order; the hint is the first one's. Without marks (a config
    given as Python data) the line and column are left out."""
    placed = []
    for issue in issues:
        mark = issue.mark
        if mark is None:
            mark, _ = _locate(marks, issue.path, issue.at_key)
        line = mark.line + 1 if mark is not None else 0
        column = mark.column + 1 if mark is not None else 0
        placed.append((issue.rank, line, column, issue))
    placed.sort(key=lambda p: p[:3])
    lines = [
        f"{source}{f':{line}:{column}' if line else ''}: {_format_path(issue.path)}: "
        f"{issue.problem}"
        for _, line, column, issue in placed
    ]
    message = lines[0]
    if len(lines) > 1:
        more = len(lines) - 1
        message += f"\n  and {more} more problem{'s' * (more != 1)}:"
        message += "".join(f"\n  {text}" for text in lines[1:11])
        if len(lines) > 11:
            message += f"\n  ... ({len(lines) - 11} more)"
    _, line, _, first = placed[0]
    return ConfigError(message, loc=f"{source}:{line}" if line else source, hint=first.hint)
