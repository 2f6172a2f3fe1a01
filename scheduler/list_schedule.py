"""The cost model behind `place`: a greedy list schedule in topological order.

For node n on device d (one pass over the nodes, state per device and per value):

* n's stage level on d is, as in `partition`, the max over its inputs of the producer's level
  (+1 when the producer is on another device); opening a new (device, level) stage costs one
  call overhead, joining an existing one costs nothing;
* start = max(free(d), ready(v) + transfer(v -> d) for each input v); finish = start
  [+ call overhead] + flops(n) / speed(d);
* the candidates are the devices of n's inputs (and, when one is full, where its overflow
  went), plus the least-loaded device of each allowed type, from a heap: never all devices,
  so a node costs O(inputs + log D);
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
        """Places every node in topological order.

        The same decisions as calling `place_free` per node (a test checks it), with
        `finish`, `near`, `best_of` and `top`'s common case inlined: this loop is the hot
        path of `place` (about 1.5 us per node)."""
        nodes, flops, obytes, vbytes = self.nodes, self.flops, self.obytes, self.vbytes
        vdev, vready, vlev, host = self.vdev, self.vready, self.vlev, self.host
        free, used, cap, busy, spill = self.free, self.used, self.cap, self.busy, self.spill
        inv_speed, type_of, heaps = self.inv_speed, self.type_of, self.heaps
        stage_keys, node_dev, pending = self.stage_keys, self.node_dev, self.pending
        D, ov, small, min_bytes = self.D, self.ov, self.small_flops, self.min_bytes
        inv_intra, inv_inter = self.inv_intra, self.inv_inter
        allowed_of = self.support.allowed if self.support.supports is not None else None
        add_key = stage_keys.add
        n_small = 0
        for i, node in enumerate(nodes):
            if node_group and i in node_group:
                gi = node_group[i]
                self.place_group_member(i, node, groups[gi], gi, group_dev)
                continue
            ins = node.inputs
            allowed = allowed_of(node.op) if allowed_of is not None else None
            if not ins:
                self.place_free(i, node, allowed)
                continue
            f = flops[i]
            ob = obytes[i]
            need = ob + self.pending_bytes(ins) if pending else ob
            d = -1
            if f < small:  # a trivial op follows its largest input
                src = ins[0]
                if len(ins) > 1:
                    for v in ins:
                        if vbytes[v] > vbytes[src] and vdev[v] >= 0:
                            src = v
                d = vdev[src]
                if (
                    d >= 0
                    and used[d] + need <= cap[d]
                    and (allowed is None or allowed[type_of[d]])
                ):
                    start, hd, level = free[d], host[d], 0  # inlined finish(d)
                    for v in ins:
                        pv, lv = vdev[v], vlev[v]
                        if pv == d or pv < 0:
                            t = vready[v]
                        else:
                            lv += 1
                            t = vready[v] + vbytes[v] * (
                                inv_intra if host[pv] == hd else inv_inter
                            )
                        if t > start:
                            start = t
                        if lv > level:
                            level = lv
                    key = level * D + d
                    fin = start + f * inv_speed[d] + (0.0 if key in stage_keys else ov)
                    n_small += 1
                else:
                    d = -1
            if d < 0:
                close: list[int] = []  # inlined near()
                for v in ins:
                    pv = vdev[v]
                    if pv >= 0 and pv not in close:
                        close.append(pv)
                        if used[pv] + need > cap[pv]:
                            sp = spill[pv]
                            if sp >= 0 and sp not in close:
                                close.append(sp)
                cands = close[:]  # inlined candidates()
                for k, h in enumerate(heaps):
                    if h and (allowed is None or allowed[k]):
                        t, e = h[0]
                        if not (t == free[e] and used[e] + need <= cap[e]) or (
                            cap[e] - used[e] < min_bytes
                        ):
                            e = self.top(h, need)
                        if e >= 0 and e not in cands:
                            cands.append(e)
                best_score = 0.0
                for e in cands:  # inlined best_of()
                    if used[e] + need > cap[e] or (allowed is not None and not allowed[type_of[e]]):
                        continue
                    start, he, level = free[e], host[e], 0
                    for v in ins:
                        pv, lv = vdev[v], vlev[v]
                        if pv == e or pv < 0:
                            t = vready[v]
                        else:
                            lv += 1
                            t = vready[v] + vbytes[v] * (
                                inv_intra if host[pv] == he else inv_inter
                            )
                        if t > start:
                            start = t
                        if lv > level:
                            level = lv
                    k = level * D + e
                    fe = start + (0.0 if k in stage_keys else ov) + f * inv_speed[e]
                    score = fe if (not close or e in close) else fe + ov
                    if d < 0 or score < best_score:
                        d, fin, key, best_score = e, fe, k, score
                if d < 0:
                    d, fin, key = self.choose(i, need, allowed)  # scans all, or raises
                elif d not in close:
                    for v in ins:  # remember where a full device's consumers went
                        pv = vdev[v]
                        if pv >= 0 and used[pv] + need > cap[pv]:
                            spill[pv] = d
            used[d] += ob  # inlined commit()
            node_dev[i] = d
            busy[d] += f * inv_speed[d]
            if fin > free[d]:
                free[d] = fin
            add_key(key)
            level = key // D
            for v in node.outputs:
                vdev[v] = d
                vready[v] = fin
                vlev[v] = level
            if pending:
                self.adopt(ins, d)
        self.n_small += n_small

    def place_free(self, i: int, node, allowed) -> None:
        """Places node i, which has no hint and is in no colocation group (the reference
        for `run`'s inlined loop)."""
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
