"""Placement constraints: device hints, colocation groups and device-type support, resolved
into per-group device restrictions before the cost model runs.

A hinted node and a colocation group are both a `Group`: nodes that go to one device, maybe
restricted to some devices. Hints are soft (an impossible hint is a warning); colocation and
device-type support are hard (impossible ones raise PlacementError).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tfrt_ray.errors import PlacementError


@dataclass
class Group:
    """Nodes (indices in graph.nodes, ascending) placed together."""

    members: list[int]
    restrict: tuple[int, ...] | None  # device indices the hints allow, None: any
    hint_text: str  # how the restriction came about, for warnings
    allowed_types: tuple[bool, ...] | None  # per device type index; None: any type


class TypeSupport:
    """Which device types can run each op (``supports(op, type)``, cached per op)."""

    def __init__(self, supports: Callable[[str, str], bool] | None, types: tuple[str, ...]):
        self.supports = supports
        self.types = types
        self._cache: dict[str, tuple[bool, ...]] = {}

    def allowed(self, op: str) -> tuple[bool, ...] | None:
        """Per type index, whether ``op`` runs there; None when every type runs everything."""
        if self.supports is None:
            return None
        mask = self._cache.get(op)
        if mask is None:
            mask = self._cache[op] = tuple(bool(self.supports(op, t)) for t in self.types)
        return mask


def unsupported_error(node, types: tuple[str, ...]) -> PlacementError:
    return PlacementError(
        f"no device can run op '{node.op}': supports(op, type) is false for every device "
        f"type in the cluster ({', '.join(types)})",
        op=node.op,
        node=node.name,
        loc=node.loc,
        hint="add a device of a type that has a kernel for this op, or register one",
    )


def resolve(
    graph,
    cluster,
    type_index: list[int],
    support: TypeSupport,
    hints: dict[str, str] | None,
    colocate: list[set[str]] | None,
    warnings: list[str],
) -> tuple[list[Group], dict[int, int]]:
    """Groups (colocation groups and hinted single nodes) and node index -> group index."""
    nodes = graph.nodes
    hints = dict(hints or {})
    colocate = [set(g) for g in (colocate or []) if g]
    if not hints and not colocate:
        return [], {}
    by_name = {n.name: i for i, n in enumerate(nodes)}

    # Union-find over the named nodes, so overlapping groups merge.
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    for names in colocate:
        idxs = []
        for name in sorted(names):
            i = by_name.get(name)
            if i is None:
                warnings.append(f"colocate: no node named '{name}' in the graph; ignored")
                continue
            parent.setdefault(i, i)
            idxs.append(i)
        for i in idxs[1:]:
            a, b = find(idxs[0]), find(i)
            if a != b:
                parent[max(a, b)] = min(a, b)
    hinted: dict[int, str] = {}
    for name, target in hints.items():
        i = by_name.get(name)
        if i is None:
            warnings.append(f"hint: no node named '{name}' in the graph; ignored")
            continue
        hinted[i] = target
        parent.setdefault(i, i)

    members: dict[int, list[int]] = {}
    for i in sorted(parent):
        members.setdefault(find(i), []).append(i)

    groups: list[Group] = []
    node_group: dict[int, int] = {}
    for root in sorted(members):
        idxs = members[root]
        allowed = _group_types(nodes, idxs, support)
        restrict, text = _group_hint(nodes, idxs, hinted, cluster, type_index, warnings)
        if restrict is not None and allowed is not None:
            ok = tuple(d for d in restrict if allowed[type_index[d]])
            if not ok:
                warnings.append(
                    f"{text} cannot run op(s) "
                    f"{sorted({nodes[i].op for i in idxs})} there; placed elsewhere"
                )
                restrict = None
            else:
                restrict = ok
        for i in idxs:
            node_group[i] = len(groups)
        groups.append(Group(idxs, restrict, text, allowed))
    return groups, node_group


def _group_types(nodes, idxs: list[int], support: TypeSupport) -> tuple[bool, ...] | None:
    """The device types that run every op of the group; raises if there are none."""
    if support.supports is None:
        return None
    mask = None
    for i in idxs:
        m = support.allowed(nodes[i].op)
        if not any(m):
            raise unsupported_error(nodes[i], support.types)
        mask = m if mask is None else tuple(a and b for a, b in zip(mask, m, strict=True))
    if not any(mask):
        node = nodes[idxs[0]]
        listing = ", ".join(f"'{nodes[i].name}' ({nodes[i].op})" for i in idxs)
        raise PlacementError(
            f"colocated nodes {listing} have no device type that runs all of their ops",
            op=node.op,
            node=node.name,
            loc=node.loc,
            hint="split the colocation group, or add kernels so one device type runs them all",
        )
    return mask


def _group_hint(nodes, idxs, hinted, cluster, type_index, warnings):
    """(device indices the group's hints allow, or None; a description)."""
    restrict: set[int] | None = None
    said: list[str] = []
    for i in idxs:
        target = hinted.get(i)
        if target is None:
            continue
        name = nodes[i].name
        if target in cluster:
            devs = {cluster.index(target)}
        else:
            devs = {d for d, spec in enumerate(cluster.devices) if spec.type == target}
            if not devs:
                warnings.append(
                    f"hint for node '{name}': no device or device type '{target}' in the "
                    "cluster; placed by the cost model"
                )
                continue
        said.append(f"'{name}' -> '{target}'")
        if restrict is not None and not (restrict & devs):
            node = nodes[i]
            raise PlacementError(
                f"colocated nodes have conflicting device hints: {', '.join(said)}",
                op=node.op,
                node=name,
                loc=node.loc,
                hint="give the nodes of a colocation group one device (or device type)",
            )
        restrict = devs if restrict is None else restrict & devs
    if restrict is None:
        return None, ""
    what = "hint " + ", ".join(said)
    if len(idxs) > 1:
        what += f" (colocation group of {len(idxs)} nodes)"
    return tuple(sorted(restrict)), what
