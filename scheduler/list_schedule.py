"""The cost model behind `place`: a greedy list schedule in topological order.

For node n on device d (one pass over the nodes, state per device and per value):

* n's stage level on d is, as in `partition`, the max over its inputs of the producer's level
  (+1 when the producer is on another device); opening a new (device, level) stage costs one
  call overhead, joining an existing one costs nothing;
* start = max(free(d), ready(v) + transfer(v -> d) for each input v); finish = start
  [+ call overhead] + flops(n) / speed(d);
* the candidates are the devices of n's inputs (and, when one is full, where its overflow
  went), plus the least-loaded device of each allowed type, from a heap: not all devices,
  so a node costs O(inputs + log D) (only when none of those has room is every device
  scanned);
* a device that holds none of n's inputs is charged one more call overhead in the comparison
  (n's consumers will probably pay a hop), so work moves only when it pays;
* a node under ``small_flops`` just follows its largest input; input-less nodes (constants)
  follow their first consumer;
* a device's resident bytes (output bytes of its nodes) never exceed its memory.

Ties go to the earlier candidate (inputs' devices in input order, then the heap's least
loaded device, lowest index first): the same inputs give the same placement.
"""

from __future__ import annotations

import heapq

from scheduler.constraints import unsupported_error
from scheduler.hot_loop import run as run_hot_loop
from tfrt_ray.errors import PlacementError


class ListScheduler:
    def __init__(self, graph, cluster, costs, type_of, support, home: int, small_flops: float):
        devs = cluster.devices
        D = self.D = len(devs)
        self.graph, self.nodes, self.devs = graph, graph.nodes, devs
        self.flops, self.obytes, self.vbytes = costs.flops, costs.out_bytes, costs.vbytes
        self.type_of, self.support, self.types = type_of, support, support.types
        self.small_flops = small_flops
        node_ids = {d.node: k for k, d in enumerate(devs)}
        self.host = [node_ids[d.node] for d in devs]
        self.inv_speed = [1.0 / d.flops_per_s for d in devs]
        self.cap = [d.mem_bytes for d in devs]
        self.ov = cluster.call_overhead_s
        self.inv_intra = 1.0 / cluster.intra_node_bytes_per_s
        self.inv_inter = 1.0 / cluster.inter_node_bytes_per_s
        self.free = [0.0] * D
        self.used = [0] * D
        self.busy = [0.0] * D
        self.spill = [-1] * D  # where nodes went the last time a device was too full
        nv = len(graph.types)
        self.vdev = [-1] * nv  # -1: an input-less node's output, not placed yet
        self.vready = [0.0] * nv
        self.vlev = [0] * nv
        for v in graph.inputs:
            self.vdev[v] = home  # inputs arrive at the input device
            self.vlev[v] = -1  # (level 0 wherever they are read)
        self.stage_keys: set[int] = set()
        self.node_dev = [-1] * len(self.nodes)
        self.pending: dict[int, int] = {}  # output of an unplaced input-less node -> node
        self.heaps: list[list] = [[] for _ in self.types]
        for d in range(D):
            self.heaps[type_of[d]].append((0.0, d))
        positive = [b for b in self.obytes if b > 0]
        self.min_bytes = min(positive) if positive else 1
        self.warnings: list[str] = []
        self.n_small = 0

    # ---- the cost of one node on one device -------------------------------------------

    def finish(self, d: int, ins: tuple, f: float) -> tuple[float, int]:
        """(finish time, stage key) of a node with inputs ``ins`` and ``f`` flops on d."""
        vdev, vready, vlev, vbytes, host = self.vdev, self.vready, self.vlev, self.vbytes, self.host
        start = self.free[d]
        hd = host[d]
        level = 0
        for v in ins:
            pv = vdev[v]
            lv = vlev[v]
            if pv == d or pv < 0:
                t = vready[v]
            else:
                lv += 1
                t = vready[v] + vbytes[v] * (self.inv_intra if host[pv] == hd else self.inv_inter)
            if t > start:
                start = t
            if lv > level:
                level = lv
        key = level * self.D + d
        if key not in self.stage_keys:
            start += self.ov
        return start + f * self.inv_speed[d], key

    def top(self, h: list, need: int) -> int:
        """The least-loaded device of one heap with room for ``need`` bytes (looking a few
        deep); devices too full for any node leave the heap. -1 when it is empty."""
        free, cap, used = self.free, self.cap, self.used
        popped = []
        while h:
            t, d = h[0]
            if t != free[d]:  # stale: each device has one entry, refreshed lazily
                heapq.heapreplace(h, (free[d], d))
            elif cap[d] - used[d] < self.min_bytes:
                heapq.heappop(h)
            elif used[d] + need <= cap[d] or len(popped) >= 4:
                break
            else:
                popped.append(heapq.heappop(h))
        d = h[0][1] if h else -1
        for entry in popped:
            heapq.heappush(h, entry)
        return d

    def near(self, ins: tuple, need: int) -> list[int]:
        """The devices of the inputs, and where their overflow went if they are full."""
        out: list[int] = []
        used, cap, spill = self.used, self.cap, self.spill
        for v in ins:
            pv = self.vdev[v]
            if pv >= 0 and pv not in out:
                out.append(pv)
                if used[pv] + need > cap[pv] and spill[pv] >= 0 and spill[pv] not in out:
                    out.append(spill[pv])
        return out

    def best_of(self, cands, ins, f, need, allowed, close) -> tuple[int, float, int]:
        """(device, finish, stage key) of the best candidate with room; device -1 if none."""
        best, best_fin, best_key, best_score = -1, 0.0, 0, 0.0
        used, cap, type_of = self.used, self.cap, self.type_of
        for d in cands:
            if used[d] + need > cap[d] or (allowed is not None and not allowed[type_of[d]]):
                continue
            fin, key = self.finish(d, ins, f)
            score = fin if (not close or d in close) else fin + self.ov
            if best < 0 or score < best_score:
                best, best_fin, best_key, best_score = d, fin, key, score
        return best, best_fin, best_key

    def candidates(self, close: list[int], need: int, allowed) -> list[int]:
        cands = list(close)
        for k, h in enumerate(self.heaps):
            if h and (allowed is None or allowed[k]):
                d = self.top(h, need)
                if d >= 0 and d not in cands:
                    cands.append(d)
        return cands

    def choose(self, i: int, need: int, allowed, restrict=None, why: str = ""):
        """(device, finish, stage key) for node i: the best candidate, else the best device
        anywhere with room; raises PlacementError when no device can take it."""
        node = self.nodes[i]
        ins, f = node.inputs, self.flops[i]
        close = self.near(ins, need)
        if restrict is not None:
            pool = restrict
            if len(restrict) > 8:
                rs = set(restrict)
                pool = [d for d in self.candidates(close, need, allowed) if d in rs] or restrict
            best = self.best_of(pool, ins, f, need, allowed, close)
            if best[0] >= 0:
                return best
            self.warnings.append(
                f"{why}: not enough memory there ({need} bytes needed); placed elsewhere"
            )
        best = self.best_of(self.candidates(close, need, allowed), ins, f, need, allowed, close)
        if best[0] < 0:
            best = self.best_of(range(self.D), ins, f, need, allowed, close)
        d = best[0]
        if d >= 0:
            if d not in close:
                for v in ins:  # remember where a full device's consumers went
                    pv = self.vdev[v]
                    if pv >= 0 and self.used[pv] + need > self.cap[pv]:
                        self.spill[pv] = d
            return best
        raise self._no_room(node, need, allowed)

    def _no_room(self, node, need: int, allowed) -> PlacementError:
        if allowed is not None and not any(allowed):
            return unsupported_error(node, self.types)
        cap, used = self.cap, self.used
        room = [
            (cap[e] - used[e], e)
            for e in range(self.D)
            if allowed is None or allowed[self.type_of[e]]
        ]
        most, e = max(room)
        return PlacementError(
            f"out of device memory: placing it needs {need} bytes resident, but the most free "
            f"memory on any device that can run it is {most} bytes ('{self.devs[e].id}': "
            f"{used[e]} of {cap[e]} bytes used)",
            op=node.op,
            node=node.name,
            loc=node.loc,
            hint="add devices or memory (DeviceSpec.mem_bytes), or shrink the tensors",
        )

    # ---- committing ------------------------------------------------------------------

    def commit(self, i: int, d: int, fin: float, key: int) -> None:
        node = self.nodes[i]
        self.node_dev[i] = d
        self.busy[d] += self.flops[i] * self.inv_speed[d]
        if fin > self.free[d]:
            self.free[d] = fin
        self.stage_keys.add(key)
        level = key // self.D
        vdev, vready, vlev = self.vdev, self.vready, self.vlev
        for v in node.outputs:
            vdev[v] = d
            vready[v] = fin
            vlev[v] = level
        if self.pending:
            self.adopt(node.inputs, d)

    def adopt(self, ins: tuple, d: int) -> None:
        """Input-less producers of ``ins`` not placed yet follow their first consumer to d."""
        for v in ins:
            j = self.pending.pop(v, None)
            if j is not None:
                self.node_dev[j] = d
                self.used[d] += self.obytes[j]
                self.stage_keys.add(d)  # level 0 on d
                for w in self.nodes[j].outputs:
                    self.vdev[w] = d
                    self.pending.pop(w, None)

    def pending_bytes(self, ins: tuple) -> int:
        return sum(self.obytes[self.pending[v]] for v in set(ins) if v in self.pending)

    # ---- the pass ------------------------------------------------------------------------

    def run(self, node_group: dict, groups: list, group_dev: list[int]) -> None:
        """Places every node in topological order (`hot_loop.run`: the same decisions as
        `place_free` per node, inlined)."""
        run_hot_loop(self, node_group, groups, group_dev)

    def place_free(self, i: int, node, allowed) -> None:
        """Places node i, which has no hint and is in no colocation group (the readable
        reference for `hot_loop.run`)."""
        ins = node.inputs
        if not ins:
            if allowed is not None and not any(allowed):
                raise unsupported_error(node, self.types)
            for v in node.outputs:
                self.pending[v] = i
            return
        f = self.flops[i]
        ob = self.obytes[i]
        need = ob + (self.pending_bytes(ins) if self.pending else 0)  # checked, not charged
        if f < self.small_flops:
            # A trivial op follows its largest input: no transfer, no new stage.
            vbytes, vdev = self.vbytes, self.vdev
            src = ins[0]
            for v in ins:
                if vbytes[v] > vbytes[src] and vdev[v] >= 0:
                    src = v
            d = vdev[src]
            if (
                d >= 0
                and self.used[d] + need <= self.cap[d]
                and (allowed is None or allowed[self.type_of[d]])
            ):
                self.used[d] += ob
                fin, key = self.finish(d, ins, f)
                self.commit(i, d, fin, key)
                self.n_small += 1
                return
        d, fin, key = self.choose(i, need, allowed)
        self.used[d] += ob
        self.commit(i, d, fin, key)

    def place_group_member(self, i: int, node, g, gi: int, group_dev: list[int]) -> None:
        d = group_dev[gi]
        if d < 0:
            need = sum(self.obytes[j] for j in g.members)
            extra = self.pending_bytes(node.inputs) if self.pending else 0
            d, _, _ = self.choose(i, need + extra, g.allowed_types, g.restrict, g.hint_text)
            group_dev[gi] = d
            self.used[d] += need
        fin, key = self.finish(d, node.inputs, self.flops[i])
        self.commit(i, d, fin, key)

    def place_leftovers(self, home: int) -> None:
        """Input-less nodes nobody reads go to the input device (or wherever they fit)."""
        for j in sorted(set(self.pending.values())):
            if self.node_dev[j] >= 0:
                continue
            node = self.nodes[j]
            allowed = self.support.allowed(node.op)
            need = self.obytes[j]
            d = -1
            for e in (home, *range(self.D)):
                if self.used[e] + need <= self.cap[e] and (
                    allowed is None or allowed[self.type_of[e]]
                ):
                    d = e
                    break
            if d < 0:
                raise self._no_room(node, need, allowed)
            self.used[d] += need
            self.node_dev[j] = d
        self.pending.clear()
