"""The hot path of `place`: `ListScheduler`'s per-node decision as one flat loop.

It makes the same decisions as calling `ListScheduler.place_free` for each node (a test
checks that on several workloads), with `finish`, `near`, `best_of`, `commit` and the common
case of `top` inlined and the state in local variables: about 1.5-2.5 us per node instead of
twice that. Rare cases (no candidate has room, colocation groups, constants) call back into
the scheduler's methods.
"""

from __future__ import annotations


def run(sched, node_group: dict, groups: list, group_dev: list[int]) -> None:
    """Places every node of ``sched``'s graph in topological order."""
    nodes, flops, obytes, vbytes = sched.nodes, sched.flops, sched.obytes, sched.vbytes
    vdev, vready, vlev, host = sched.vdev, sched.vready, sched.vlev, sched.host
    free, used, cap, busy, spill = sched.free, sched.used, sched.cap, sched.busy, sched.spill
    inv_speed, type_of, heaps = sched.inv_speed, sched.type_of, sched.heaps
    stage_keys, node_dev, pending = sched.stage_keys, sched.node_dev, sched.pending
    D, ov, small, min_bytes = sched.D, sched.ov, sched.small_flops, sched.min_bytes
    inv_intra, inv_inter = sched.inv_intra, sched.inv_inter
    allowed_of = sched.support.allowed if sched.support.supports is not None else None
    add_key = stage_keys.add
    n_small = 0
    for i, node in enumerate(nodes):
        if node_group and i in node_group:
            gi = node_group[i]
            sched.place_group_member(i, node, groups[gi], gi, group_dev)
            continue
        ins = node.inputs
        allowed = allowed_of(node.op) if allowed_of is not None else None
        if not ins:
            sched.place_free(i, node, allowed)
            continue
        f = flops[i]
        ob = obytes[i]
        need = ob + sched.pending_bytes(ins) if pending else ob
        d = -1
        if f < small:  # a trivial op follows its largest input
            src = ins[0]
            if len(ins) > 1:
                for v in ins:
                    if vbytes[v] > vbytes[src] and vdev[v] >= 0:
                        src = v
            d = vdev[src]
            if d >= 0 and used[d] + need <= cap[d] and (allowed is None or allowed[type_of[d]]):
                start, hd, level = free[d], host[d], 0  # inlined finish(d)
                for v in ins:
                    pv, lv = vdev[v], vlev[v]
                    if pv == d or pv < 0:
                        t = vready[v]
                    else:
                        lv += 1
                        t = vready[v] + vbytes[v] * (inv_intra if host[pv] == hd else inv_inter)
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
                        e = sched.top(h, need)
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
                        t = vready[v] + vbytes[v] * (inv_intra if host[pv] == he else inv_inter)
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
                d, fin, key = sched.choose(i, need, allowed)  # scans all, or raises
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
            sched.adopt(ins, d)
    sched.n_small += n_small
