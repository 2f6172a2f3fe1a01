"""``tfrt-ray devices``, ``config check``, ``demo`` and ``cluster status``."""

from __future__ import annotations

import os
import runpy
import socket
import sys
from pathlib import Path
from typing import Any

from tfrt_ray.cli.models import has
from tfrt_ray.errors import ClusterError, TfrtRayError

AUTH_HINT = (
    "for a cluster with token authentication (Ray 2.60's default) set RAY_AUTH_MODE=token "
    "and RAY_AUTH_TOKEN=<the cluster's token> (or RAY_AUTH_TOKEN_PATH=<a file holding it>); "
    "`ray get-auth-token` on the head node prints it"
)


def register(add) -> None:
    p = add("devices", "List the device types installed and the devices found here.",
            "  tfrt-ray devices\n")
    p.set_defaults(func=cmd_devices)

    p = add("config", "Cluster config files.", "  tfrt-ray config check cluster.yaml\n")
    sub = p.add_subparsers(dest="config_command", metavar="SUBCOMMAND")
    check = sub.add_parser("check", help="validate a cluster config (YAML) and summarise it",
                           description="Validate a cluster config and print a summary; exits "
                           "1 with the file:line:column of every problem otherwise.")
    check.add_argument("file")
    check.set_defaults(func=lambda args: _check_config(args.file))
    p.set_defaults(func=None, print_help=p.print_help)

    p = add("demo", "Run the tfrt-ray tour (examples/demo.py).",
            "  tfrt-ray demo                 # on 2 device actors of a local Ray\n"
            "  tfrt-ray demo --devices 0     # in-process only, no Ray\n")
    p.add_argument("--devices", type=int, default=2, help="device actors (0: no Ray)")
    p.set_defaults(func=cmd_demo)

    p = add("cluster", "Look at a running Ray cluster.",
            "  tfrt-ray cluster status                       # the Ray started here (auto)\n"
            "  tfrt-ray cluster status --address 10.0.0.5:6379\n")
    sub = p.add_subparsers(dest="cluster_command", metavar="SUBCOMMAND")
    status = sub.add_parser("status", help="nodes, CPUs, memory, object store, device actors",
                            description="Join the cluster as a client and list its nodes "
                            "(alive, CPUs, memory), object store use and tfrt-ray device "
                            "actors. " + AUTH_HINT + ".")
    status.add_argument("--address", default="auto",
                        help="the Ray (GCS) address: auto (default; RAY_ADDRESS or the Ray "
                        "started on this machine) or host:6379")
    status.set_defaults(func=cmd_cluster_status)
    p.set_defaults(func=None, print_help=p.print_help)


def _check_config(path: str) -> int:
    from tfrt_ray.cluster.config import check_config_main

    return check_config_main(path)


# ---- devices --------------------------------------------------------------------------------


def cmd_devices(args) -> int:
    from tfrt_ray.core.kernels import supported_ops

    cores = os.cpu_count() or 1
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    rows = [{"name": "cpu", "source": "built-in", "devices": usable,
             "ops": len(supported_ops("cpu")), "description": "NumPy reference kernels"}]
    if has("tfrt_ray.core.device_types", "list_device_types"):
        from tfrt_ray.core.device_types import list_device_types

        found = [_as_dict(t) for t in list_device_types()]
        rows = [r for r in rows if r["name"] not in {f.get("name") for f in found}] + found
    else:
        print("(device plugins are not available yet in this tfrt-ray: built-in cpu only)")
    print(f"{'type':8s} {'source':10s} {'found':>5s} {'ops':>5s} {'memory':>10s}  description")
    for r in rows:
        mem = r.get("mem_bytes")
        desc = str(r.get("description", ""))
        if r.get("name") == "cpu":
            desc += f" ({usable} of {cores} cores usable here)"
        print(f"{str(r.get('name', '?')):8s} {str(r.get('source', '')):10s} "
              f"{str(r.get('devices', '?')):>5s} {str(r.get('ops', '?')):>5s} "
              f"{_size(mem) if mem else '-':>10s}  {desc}")
    print("`tfrt-ray run --devices N` runs on N cpu device actors of a local Ray; "
          "`tfrt-ray cluster status` shows a cluster's")
    return 0


def _as_dict(item: Any) -> dict:
    if isinstance(item, dict):
        return dict(item)
    if isinstance(item, str):
        return {"name": item, "source": "plugin"}
    fields = getattr(item, "__dict__", None) or {}
    return {"name": getattr(item, "name", str(item)), **fields}


# ---- demo -----------------------------------------------------------------------------------


def cmd_demo(args) -> int:
    path = Path(__file__).resolve().parents[2] / "examples" / "demo.py"
    if not path.is_file():
        raise TfrtRayError(f"the demo script is not installed here ({path} is missing)",
                           hint="run it from a checkout of tfrt-ray: python examples/demo.py")
    saved = sys.argv
    sys.argv = [str(path), "--devices", str(args.devices)]
    try:
        runpy.run_path(str(path), run_name="__main__")
    finally:
        sys.argv = saved
    return 0


# ---- cluster status -------------------------------------------------------------------------


def cmd_cluster_status(args) -> int:
    import ray

    if ray.is_initialized():
        ray.shutdown()
    address = _reachable(args.address)
    try:
        ctx = ray.init(address=address, namespace="tfrt_ray", log_to_driver=False,
                       logging_level="ERROR")
    except Exception as exc:  # noqa: BLE001 - Ray's connection errors vary by cause
        raise ClusterError(
            f"could not join the Ray cluster at '{args.address}': "
            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
            hint="start one with `ray start --head`, or give --address host:6379; " + AUTH_HINT,
        ) from None
    try:
        _print_status(ray, ctx)
    finally:
        ray.shutdown()
    return 0


def _reachable(address: str) -> str:
    """``address`` resolved (auto: RAY_ADDRESS or the Ray started here) and checked to
    accept connections, so a wrong address fails in seconds, not after Ray's retries."""
    from ray._private.services import canonicalize_bootstrap_address

    if address.startswith("ray://"):
        return address
    hint = "start one with `ray start --head`, or give --address host:6379"
    try:
        resolved = canonicalize_bootstrap_address(address)
    except (ConnectionError, ValueError) as exc:
        raise ClusterError(f"no Ray cluster at '{address}': {exc}", hint=hint) from None
    if resolved is None:
        raise ClusterError(f"no Ray cluster at '{address}'", hint=hint)
    host, _, port = resolved.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except (OSError, ValueError) as exc:
        raise ClusterError(f"could not join the Ray cluster at '{address}': nothing accepts "
                           f"connections at {resolved} ({exc})", hint=hint) from None
    return resolved


def _print_status(ray, ctx) -> None:
    total, avail = ray.cluster_resources(), ray.available_resources()
    nodes = ray.nodes()
    alive = [n for n in nodes if n.get("Alive")]
    print(f"cluster {ctx.address_info.get('gcs_address', '?')} (Ray {ray.__version__}): "
          f"{len(alive)} node(s) alive, {len(nodes) - len(alive)} dead")
    print(f"  {'node':14s} {'address':16s} {'state':6s} {'CPUs':>6s} "
          f"{'memory':>10s} {'object store':>13s}")
    for n in sorted(nodes, key=lambda n: (not n.get("IsHead", False), n["NodeID"])):
        res = n.get("Resources", {})
        cpus = res.get("CPU", 0)
        print(f"  {n['NodeID'][:12] + ('*' if n.get('IsHead') else ''):14s} "
              f"{n.get('NodeManagerAddress', '?'):16s} "
              f"{'alive' if n.get('Alive') else 'dead':6s} "
              f"{cpus:>6g} {_size(res.get('memory', 0)):>10s} "
              f"{_size(res.get('object_store_memory', 0)):>13s}")
    store = _size(total.get("object_store_memory", 0))
    print(f"resources: CPU {avail.get('CPU', 0):g} of {total.get('CPU', 0):g} free; memory "
          f"{_size(total.get('memory', 0))}; object store {store}")
    print(f"object store: {_store_use(ctx)}")
    print(f"device actors: {_device_actors()}")
    print("  (* head node)")


def _store_use(ctx) -> str:
    try:
        from ray._private.internal_api import memory_summary

        text = memory_summary(ctx.address_info["address"], stats_only=True)
    except Exception as exc:  # noqa: BLE001 - an internal API: report, don't fail
        return f"unknown ({type(exc).__name__})"
    for line in text.splitlines():
        if "Plasma memory usage" in line:
            return line.strip()
    return "no objects"


def _device_actors() -> str:
    try:
        from ray.util.state import list_actors

        actors = list_actors(filters=[("class_name", "=", "DeviceActor"),
                                      ("state", "=", "ALIVE")], raise_on_missing_output=False)
    except Exception as exc:  # noqa: BLE001 - the state API needs the dashboard
        return f"unknown (the state API is unavailable: {type(exc).__name__})"
    if not actors:
        return "none alive"
    per_node: dict[str, int] = {}
    for a in actors:
        node = getattr(a, "node_id", None) or "?"
        per_node[node[:12]] = per_node.get(node[:12], 0) + 1
    return f"{len(actors)} alive (" + ", ".join(f"{n}: {c}" for n, c in
                                               sorted(per_node.items())) + ")"


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"
