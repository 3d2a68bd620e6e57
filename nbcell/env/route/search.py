"""In-graph maze search on the routing grid: a wavefront (Bellman-Ford) over five node states and a
backtrack, both ``lax.while_loop``s, so a whole routing episode jits and vmaps.

The step costs are the host router's (:mod:`nbcell.layout.maze`): a node costs
``(1 + history) * (1 + present * other nets nearby)`` times its step cost, and
"nearby" follows the same conflict rules (first-metal pads on neighbouring lines
of a track, second/third metal on close tracks of a line; on the second metal
only via pads count where a plain wire clears a pad). The second metal is
split into three states — arrived by a first via, by moving, by a second via —
so a path never stacks the two vias at one node.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from nbcell.env.route.types import NO, Grid, RouteState
from nbcell.layout.maze import COST_DROP, COST_H0, COST_H1, COST_H2, COST_V0, COST_V1, COST_VIA, COST_VIA2

BIG = 1e9  #: unreachable (finite, so sums never overflow and a ``min`` never sees NaN)
#: relative tolerance of the backtrack's cost match (the wavefront's sums may be fused differently);
#: every step costs at least 1, so a match within it still strictly descends
TOL = 1e-5

# node states: 0 first metal, 1 second metal by a first via, 2 second metal by a move, 3 second
# metal by a second via, 4 third metal
_LAYER = np.array([0, 1, 1, 1, 2])

# backtrack candidates (one row each): current state, predecessor state, predecessor offset
# (dc, dt), step base, cost array (0 enter first metal, 1 via down, 2 via up, 3 second, 4 third),
# what the step draws (0 nothing, 1/2 first-metal wire along/across, 3/4 second-metal wire
# across lines/along a line, 5 third-metal wire, 6 first via, 7 second via)
_CAND = [(0, 0, -1, 0, COST_H0, 0, 1), (0, 0, 1, 0, COST_H0, 0, 1), (0, 0, 0, -1, COST_V0, 0, 2),
         (0, 0, 0, 1, COST_V0, 0, 2), (0, 2, 0, 0, 1.0, 1, 6), (1, 0, 0, 0, 1.0, 2, 6)]
_CAND += [(2, p, dc, dt, b, 3, e) for p in (1, 2, 3)
          for dc, dt, b, e in ((-1, 0, COST_H1, 3), (1, 0, COST_H1, 3), (0, -1, COST_V1, 4), (0, 1, COST_V1, 4))]
_CAND += [(3, 4, 0, 0, COST_VIA2, 3, 7), (4, 4, -1, 0, COST_H2, 4, 5), (4, 4, 1, 0, COST_H2, 4, 5),
          (4, 2, 0, 0, COST_VIA2, 4, 7)]
_CAND = np.array(_CAND, dtype=np.float64)


def prev(x: jnp.ndarray, axis: int, fill) -> jnp.ndarray:
    """``out[i] = x[i - 1]`` along ``axis`` (``fill`` at 0)."""
    pad = [(0, 0)] * x.ndim
    pad[axis] = (1, 0)
    return jax.lax.slice_in_dim(jnp.pad(x, pad, constant_values=fill), 0, x.shape[axis], axis=axis)


def nxt(x: jnp.ndarray, axis: int, fill) -> jnp.ndarray:
    """``out[i] = x[i + 1]`` along ``axis`` (``fill`` at the end)."""
    pad = [(0, 0)] * x.ndim
    pad[axis] = (0, 1)
    return jax.lax.slice_in_dim(jnp.pad(x, pad, constant_values=fill), 1, x.shape[axis] + 1, axis=axis)


class Costs(NamedTuple):
    """Per-node costs for one net's search, float32[NL, NT] each (``BIG`` where it may not go)."""

    enter0: jnp.ndarray   # entering a first-metal node (a pad's price on target nodes)
    down: jnp.ndarray     # a first via down (the first-metal node becomes a pad)
    up: jnp.ndarray       # a first via up
    m1: jnp.ndarray
    m2: jnp.ndarray
    pad0: jnp.ndarray     # the first-metal node as a pad (unmasked by targets)
    others0: jnp.ndarray  # other nets on each first-metal node (count)
    pads0: jnp.ndarray    # other nets' pads on each first-metal node (count)
    via2: jnp.ndarray     # factor on a second via at each node (vias of any net on a close track)


def shift(x: jnp.ndarray, axis: int, k: int, fill=0) -> jnp.ndarray:
    """``out[i] = x[i + k]`` along ``axis`` (``fill`` past the ends; ``k`` of either sign)."""
    if k == 0:
        return x
    n = x.shape[axis]
    pad = [(0, 0)] * x.ndim
    pad[axis] = (0, k) if k > 0 else (-k, 0)
    start = k if k > 0 else 0
    return jax.lax.slice_in_dim(jnp.pad(x, pad, constant_values=fill), start, start + n, axis=axis)


def beside(x: jnp.ndarray, any_or_pad: jnp.ndarray, diag: jnp.ndarray | None = None) -> jnp.ndarray:
    """``x`` ([..., NL, NT]) summed over the nodes of other lines whose shapes conflict with each
    node's: lines c +- (k + 1) of its track where ``any_or_pad`` (bool[K, NL], the pair (c, c + k + 1))
    says so, and with ``diag`` (bool[K, NL, NT]) their close tracks diagonally."""
    al, at = x.ndim - 2, x.ndim - 1
    out = jnp.zeros(x.shape, jnp.float32)
    for k in range(any_or_pad.shape[0]):
        m = any_or_pad[k][:, None]
        out = out + shift(x, al, k + 1) * m + shift(x, al, -k - 1) * shift(m, 0, -k - 1, False)
        if diag is not None:
            dg = diag[k]                     # lines (c, c + k + 1) x tracks (t, t + 1)
            for dl in (k + 1, -k - 1):
                f = dg if dl > 0 else shift(dg, 0, dl, False)
                out = out + shift(shift(x, al, dl), at, 1) * f + shift(shift(x, al, dl), at, -1) * shift(f, 1, -1, False)
    return out


def vias_near(v: jnp.ndarray, close: jnp.ndarray) -> jnp.ndarray:
    """float32[NL, NT]: for each node, the vias (``v``: bool[NL, NT], any nets) of one level that would
    come closer to a via there than the cut space (``close``: bool[K + 1, 3, NL, NT], see ``Grid.vias``)."""
    v = v.astype(jnp.float32)
    out = jnp.zeros(v.shape, jnp.float32)
    for k in range(close.shape[0]):
        for j, dt in enumerate((-1, 0, 1)):
            if k == 0 and dt <= 0:
                continue  # each pair once: (k, dt) and its mirror below
            f = close[k, j]
            out = out + shift(shift(v, 0, k), 1, dt) * f + shift(shift(v * 1.0, 0, -k), 1, -dt) * shift(shift(f, 0, -k, False), 1, -dt, False)
    return out


def costs(state: RouteState, grid: Grid, n: jnp.ndarray, pres: jnp.ndarray, tgt0: jnp.ndarray) -> Costs:
    """Node costs for net ``n``. "Other nets nearby" are counted per neighbour, so a net that is
    both on a node and next to it counts twice: a slightly dearer estimate than the host router's
    (the rule proxy's verdict does not depend on it)."""
    use = state.use.sum(0).astype(jnp.float32) - state.use[n].astype(jnp.float32)     # [3, NL, NT]
    pads = state.pads.sum(0).astype(jnp.float32) - state.pads[n].astype(jnp.float32)
    plain0 = use[0] + beside(use[0], grid.xany[0])
    pad0 = plain0 + beside(pads, grid.xpad[0])
    c1p, c2p = prev(grid.close1w, 0, False), prev(grid.close2, 0, False)
    m1 = use[1] + prev(use[1], 1, 0.0) * c1p + nxt(use[1], 1, 0.0) * grid.close1w + beside(use[1], grid.xany[1], grid.diag[1])
    # a via's second-metal pad also meets other nets' pads on tracks close for pads only
    pad_only = grid.close1 & ~grid.close1w
    vias = state.via1 | state.via2                                                      # [N, NL, NT]
    pads1 = vias.sum(0).astype(jnp.float32) - vias[n].astype(jnp.float32)
    pad1 = prev(pads1, 1, 0.0) * prev(pad_only, 0, False) + nxt(pads1, 1, 0.0) * pad_only
    m2 = use[2] + prev(use[2], 1, 0.0) * c2p + nxt(use[2], 1, 0.0) * grid.close2 + beside(use[2], grid.xany[2], grid.diag[2])
    # vias of any net closer than the cut space
    vnear = vias_near(jnp.any(state.via1, 0), grid.vias[0])
    vnear2 = vias_near(jnp.any(state.via2, 0), grid.vias[1])
    h = state.hist
    ok0 = grid.m0_ok & ((grid.fixed == NO) | (grid.fixed == n))
    c_plain = (1 + h[0]) * (1 + pres * plain0)
    c_pad = (1 + h[0]) * (1 + pres * pad0)
    enter0 = jnp.where(ok0, jnp.where(tgt0, c_pad, c_plain), BIG)
    down = jnp.where(ok0 & grid.m1_ok, COST_VIA * (c_pad + (1 + h[1]) * pres * (pad1 + vnear)), BIG)
    up = jnp.where(ok0 & grid.m1_ok, COST_VIA * (1 + h[1]) * (1 + pres * (m1 + pad1 + pad0 - plain0 + vnear)), BIG)
    c1 = jnp.where(grid.m1_ok, (1 + h[1]) * (1 + pres * m1), BIG)
    c2 = jnp.where(grid.m2_ok, (1 + h[2]) * (1 + pres * m2), BIG)
    return Costs(enter0, down, up, c1, c2, jnp.where(ok0, c_pad, BIG), plain0, pads, 1 + pres * vnear2)


def wavefront(c: Costs, grid: Grid, src: jnp.ndarray, src_rail: jnp.ndarray, rail_t: jnp.ndarray,
              goal: jnp.ndarray) -> jnp.ndarray:
    """Cheapest cost from the sources to every node state up to the cheapest goal: float32[5, NL, NT].

    src: bool[3, NL, NT] source nodes per layer; ``src_rail``: the net's rail is a source too
    (it reaches the first metal on track ``rail_t`` by a drop). ``goal`` (float32[NL, NT]): extra
    cost of ending on each first-metal node (``BIG`` where it is no target). The sweeps stop once
    nothing that changed is cheaper than the best goal: every step costs more than nothing, so
    nodes below it (the best path among them) are final.
    """
    NL, NT = grid.shape
    d0 = jnp.where(src[0], 0.0, BIG)
    rail_row = (jnp.arange(NT) == rail_t)[None, :] & src_rail
    d0 = jnp.where(rail_row & ~src[0], jnp.minimum(d0, COST_DROP * c.enter0), d0)
    big = jnp.full((NL, NT), BIG)
    # a second-metal source may leave by either via: it starts in the "moved" state
    D = jnp.stack([d0, big, jnp.where(src[1], 0.0, BIG), big, jnp.where(src[2], 0.0, BIG)]).astype(jnp.float32)
    v2 = jnp.where(grid.m2_ok, 1.0, BIG)

    def relax(D):
        d0, d1u, d1m, d1d, d2 = D
        e0 = c.enter0
        n0 = jnp.minimum(jnp.minimum(jnp.minimum(d0, prev(d0, 0, BIG) + COST_H0 * e0),
                                     jnp.minimum(nxt(d0, 0, BIG) + COST_H0 * e0, prev(d0, 1, BIG) + COST_V0 * e0)),
                         jnp.minimum(nxt(d0, 1, BIG) + COST_V0 * e0, d1m + c.down))
        n1u = jnp.minimum(d1u, d0 + c.up)
        s1 = jnp.minimum(jnp.minimum(d1u, d1m), d1d)
        n1m = jnp.minimum(jnp.minimum(jnp.minimum(d1m, prev(s1, 0, BIG) + COST_H1 * c.m1),
                                      jnp.minimum(nxt(s1, 0, BIG) + COST_H1 * c.m1, prev(s1, 1, BIG) + COST_V1 * c.m1)),
                          nxt(s1, 1, BIG) + COST_V1 * c.m1)
        n1d = jnp.minimum(d1d, d2 + COST_VIA2 * c.m1 * v2 * c.via2)
        n2 = jnp.minimum(jnp.minimum(d2, prev(d2, 0, BIG) + COST_H2 * c.m2),
                         jnp.minimum(nxt(d2, 0, BIG) + COST_H2 * c.m2, d1m + COST_VIA2 * c.m2 * c.via2))
        return jnp.minimum(jnp.stack([n0, n1u, n1m, n1d, n2]), BIG)

    def body(carry):
        D, _, it = carry
        N = relax(D)
        best = jnp.min(N[0] + goal)
        frontier = jnp.min(jnp.where(N < D, N, BIG))
        return N, frontier < best, it + 1

    D, _, _ = jax.lax.while_loop(lambda cy: cy[1] & (cy[2] < 5 * NL * NT), body, (D, jnp.bool_(True), 0))
    return D


class Path(NamedTuple):
    """One path, as drawing marks on the grid (bool[..., NL, NT]) and where it started."""

    on: jnp.ndarray      # bool[3, NL, NT] nodes per layer
    eh: jnp.ndarray      # bool[3, NL, NT] wires (c, t)-(c + 1, t) per layer
    ev: jnp.ndarray      # bool[2, NL, NT] wires (c, t)-(c, t + 1), first and second metal
    via1: jnp.ndarray
    via2: jnp.ndarray
    drop: jnp.ndarray
    start: jnp.ndarray   # int32[3] (layer, line, track) where it left the sources (``NO`` line: the rail)
    ok: jnp.ndarray      # bool[] the backtrack reached a source


def backtrack(D: jnp.ndarray, c: Costs, grid: Grid, end: jnp.ndarray, src_rail: jnp.ndarray,
              rail_t: jnp.ndarray) -> Path:
    """Walk back from first-metal node ``end`` (int32[2]: line, track) to the sources along steps
    whose costs add up (the first such step in a fixed order: deterministic)."""
    NL, NT = grid.shape
    C = jnp.stack([c.enter0, c.down, c.up, c.m1, c.m2])
    tab = jnp.asarray(_CAND, jnp.float32)
    cur_s, pre_s = tab[:, 0].astype(jnp.int32), tab[:, 1].astype(jnp.int32)
    dc, dt = tab[:, 2].astype(jnp.int32), tab[:, 3].astype(jnp.int32)
    base, sel, draw = tab[:, 4], tab[:, 5].astype(jnp.int32), tab[:, 6].astype(jnp.int32)
    layer = jnp.asarray(_LAYER, jnp.int32)
    z = jnp.zeros((NL, NT), bool)
    init = (jnp.int32(0), end[0], end[1], jnp.bool_(True), jnp.bool_(False), jnp.int32(0),
            jnp.zeros((3, NL, NT), bool), jnp.zeros((3, NL, NT), bool), jnp.zeros((2, NL, NT), bool), z, z, z,
            jnp.array([0, NO, NO], jnp.int32))

    def body(cy):
        s, ci, ti, go, ok, k, on, eh, ev, v1, v2, dr, start = cy
        on = on.at[layer[s], ci, ti].set(True)
        here = D[s, ci, ti]
        at_src = here == 0.0
        tol = TOL * jnp.maximum(here, 1.0)
        drop_here = (s == 0) & src_rail & (ti == rail_t) & (jnp.abs(here - COST_DROP * c.enter0[ci, ti]) <= tol)
        pc, pt = ci + dc, ti + dt
        inside = (pc >= 0) & (pc < NL) & (pt >= 0) & (pt < NT)
        vals = D[pre_s, jnp.clip(pc, 0, NL - 1), jnp.clip(pt, 0, NT - 1)] + base * C[sel, ci, ti]
        match = (cur_s == s) & inside & (jnp.abs(vals - here) <= tol)
        j = jnp.argmax(match)
        found = match[j]
        stop = at_src | drop_here | ~found
        dr = jnp.where(drop_here & ~at_src, dr.at[ci, ti].set(True), dr)
        start = jnp.where(stop, jnp.where(at_src, jnp.stack([layer[s], ci, ti]), jnp.array([0, NO, NO])), start)
        # the drawn step from the predecessor to here
        lo_c, lo_t = jnp.minimum(ci, pc[j]), jnp.minimum(ti, pt[j])
        step = ~stop
        d = draw[j]
        lay = jnp.where(d == 5, 2, jnp.where(d == 3, 1, 0))
        eh = jnp.where(step & ((d == 1) | (d == 3) | (d == 5)), eh.at[lay, lo_c, lo_t].set(True), eh)
        ev = jnp.where(step & ((d == 2) | (d == 4)), ev.at[jnp.where(d == 4, 1, 0), lo_c, lo_t].set(True), ev)
        v1 = jnp.where(step & (d == 6), v1.at[ci, ti].set(True), v1)
        v2 = jnp.where(step & (d == 7), v2.at[ci, ti].set(True), v2)
        s2 = jnp.where(step, pre_s[j], s)
        return (s2, jnp.where(step, pc[j], ci), jnp.where(step, pt[j], ti), step, at_src | drop_here, k + 1,
                on, eh, ev, v1, v2, dr, start)

    out = jax.lax.while_loop(lambda cy: cy[3] & (cy[5] < 5 * NL * NT), body, init)
    _, _, _, _, ok, _, on, eh, ev, v1, v2, dr, start = out
    return Path(on, eh, ev, v1, v2, dr, start, ok)


class Found(NamedTuple):
    path: Path
    end: jnp.ndarray       # int32[2] first-metal node it ends on
    to_rail: jnp.ndarray   # bool[] it ends with a drop into the rail
    ok: jnp.ndarray        # bool[] a path exists


def search(c: Costs, grid: Grid, n: jnp.ndarray, src: jnp.ndarray, src_rail: jnp.ndarray, tgt0: jnp.ndarray,
           tgt_rail: jnp.ndarray) -> Found:
    """The cheapest path of net ``n`` under its costs ``c`` (:func:`costs`, with ``tgt0`` as the
    targets) from the sources (``src`` bool[3, NL, NT], its rail if ``src_rail``) to a target
    (first-metal nodes ``tgt0`` bool[NL, NT], its rail if ``tgt_rail``)."""
    NL, NT = grid.shape
    rail_t = grid.net_rail[n]
    rail_row = (jnp.arange(NT) == rail_t)[None, :] & tgt_rail & grid.m0_ok
    goal = jnp.minimum(jnp.where(tgt0 & ~src[0], 0.0, BIG), jnp.where(rail_row, COST_DROP, BIG))
    D = wavefront(c, grid, src, src_rail, rail_t, goal)
    tv_node = jnp.where(tgt0 & ~src[0], D[0], BIG)
    tv_rail = jnp.where(rail_row, D[0] + COST_DROP, BIG)
    i_node, i_rail = jnp.argmin(tv_node.ravel()), jnp.argmin(tv_rail.ravel())
    v_node, v_rail = tv_node.ravel()[i_node], tv_rail.ravel()[i_rail]
    to_rail = v_rail < v_node
    i = jnp.where(to_rail, i_rail, i_node)
    end = jnp.stack([i // NT, i % NT]).astype(jnp.int32)
    ok = jnp.minimum(v_node, v_rail) < BIG / 2
    path = backtrack(D, c, grid, end, src_rail, rail_t)
    path = path._replace(drop=jnp.where(to_rail, path.drop.at[end[0], end[1]].set(True), path.drop))
    return Found(path, end, to_rail, ok & path.ok)


#: extra cost of a lone pad with no sure room for its minimum-area stub
NO_STUB = 4.0


def cheapest_pad(c: Costs, grid: Grid, n: jnp.ndarray, nodes: jnp.ndarray) -> jnp.ndarray:
    """Index (line * NT + track) of the least crowded of ``nodes`` (bool[NL, NT]) as a lone pad of
    net ``n`` (costs ``c``): one with a free neighbouring line for its stub (that no other pad may
    claim) preferred."""
    free = grid.m0_ok & (c.others0 == 0) & ((grid.fixed == NO) | (grid.fixed == n))
    pads = c.pads0 > 0
    room = ((prev(free, 0, False) & ~prev(prev(pads, 0, False), 0, False))
            | (nxt(free, 0, False) & ~nxt(nxt(pads, 0, False), 0, False)))
    extra = jnp.where(room | ~grid.needs_stub | grid.grow[None, :], 0.0, NO_STUB)
    return jnp.argmin(jnp.where(nodes, c.pad0 + extra, 2 * BIG).ravel())
