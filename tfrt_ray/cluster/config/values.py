"""Cluster-config values: limits, how values are shown in errors, human sizes and rates,
names and addresses."""

from __future__ import annotations

import difflib
import math
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator
from pydantic_core import PydanticCustomError

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
