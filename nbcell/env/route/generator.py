"""Framed cells -> padded :class:`Grid` in a few static shape buckets, and finished states back
to the host router's wires (checked by its final conflict test).

A routing episode compiles once per (bucket, tracks): lines, terminals and nets
all round up to one size of :data:`BUCKETS` (so a library compiles a handful of
times), tracks to 8 or 16.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

from nbcell.env.route.types import NO, Grid, RouteState
from nbcell.layout.maze import Maze, NetWires
from nbcell.layout.tracks import TrackFrame

BUCKETS = (8, 16, 32, 64, 128, 256)
TRACK_BUCKETS = (8, 16)


class GridTooLarge(ValueError):
    """A frame beyond the largest bucket (it is routed by the host router only)."""


def _up(n: int, buckets) -> int:
    for b in buckets:
        if n <= b:
            return b
    raise GridTooLarge(f"{n} exceeds the largest routing-env bucket ({buckets[-1]})")


@dataclass
class RouteProblem:
    """One framed cell in env form, with the names the arrays stand for."""

    frame: TrackFrame
    maze: Maze                 # the host router's view of the same grid (bounds, conflicts, stubs)
    grid: Grid
    nets: list[str]            # net id -> name
    terminals: list[str]       # terminal id -> description ("rail" for a supply's rail)
    metals: int               # routing metals asked for (the maze's L is what the process allows)

    @property
    def horizon(self) -> int:
        """Steps that end any episode of the reference router: every terminal once, then up to
        sixteen reroutes per net."""
        return len(self.terminals) + 16 * max(1, len(self.nets))


def route_problem(frame: TrackFrame, metals: int = 2) -> RouteProblem:
    """Pad ``frame``'s grid and terminals into their bucket (raises :class:`GridTooLarge`)."""
    mz = Maze(frame, 0, metals)
    NLr, NTr = frame.lines, len(frame.ys)
    NT = _up(NTr, TRACK_BUCKETS)
    nets: list[str] = []
    nid = {}

    def net_id(name: str) -> int:
        if name not in nid:
            nid[name] = len(nets)
            nets.append(name)
        return nid[name]

    # the reference order: nets with the most terminals first, then by name (the host router's)
    by_net = sorted(mz.terms, key=lambda n: (-len(mz.terms[n]), n))
    for n in by_net:
        net_id(n)
    for n in sorted(set(frame.fixed.values())):
        net_id(n)
    term_net, masks, rail, order, names = [], [], [], [], []
    for rank, n in enumerate(by_net):
        sets = sorted(mz.terms[n], key=lambda s: (len(s), min(s)))
        for j, s in enumerate(sets):
            is_rail = any(v >= mz.N for v in s)
            term_net.append(nid[n])
            masks.append([mz.key(v)[1:] for v in s if v < mz.N])
            rail.append(is_rail)
            order.append(rank * 1024 + j)
            names.append(f"{n}: rail" if is_rail else f"{n}: {len(s)} nodes")
    NL = T = _up(max(NLr, len(term_net), len(nets)), BUCKETS)
    pad = T - len(term_net)
    term_net += [NO] * pad
    mask = np.zeros((T, NL, NT), bool)
    for i, nodes in enumerate(masks):
        for c, t in nodes:
            mask[i, c, t] = True
    rail += [False] * pad
    order += [2 ** 30] * pad
    m0 = np.zeros((NL, NT), bool)
    m1 = np.zeros((NL, NT), bool)
    m2 = np.zeros((NL, NT), bool)
    m0[mz.c0:mz.c1, mz.t_lo:mz.t_hi + 1] = True
    if mz.L > 1:
        m1[mz.c0:mz.c1, :NTr] = np.array(mz.m1_ok)
    if mz.L == 3:
        m2[mz.c0:mz.c1, mz.t_lo:mz.t_hi + 1] = True
    fixed = np.full((NL, NT), NO, np.int32)
    for (c, t), n in frame.fixed.items():
        fixed[c, t] = nid[n]
    close1 = np.array([t + 1 < NTr and mz._close(1, t) for t in range(NT)])
    K = frame.REACH
    cls = np.array([[[frame.x_class(L, c, k) if L < mz.L else 0 for c in range(NL)] for k in range(1, K + 1)]
                    for L in range(3)])
    diag = np.array([[[[L < mz.L and t + 1 < NTr and frame.diagonal_close(L, c, k, t) for t in range(NT)]
                       for c in range(NL)] for k in range(1, K + 1)] for L in range(3)])
    vias = np.zeros((2, K + 1, 3, NL, NT), bool)
    for lv in range(min(2, mz.L - 1)):
        for k in range(K + 1):
            for j, dt in enumerate((-1, 0, 1)):
                for c in range(max(0, NLr - k)):
                    for t in range(NTr):
                        if (k or dt > 0) and 0 <= t + dt < NTr:
                            vias[lv, k, j, c, t] = frame.via_close(lv + 1, c, t, c + k, t + dt)
    close1w = np.array([t + 1 < NTr and mz._wire_close(mz.id(1, 0, t), mz.id(1, 0, t + 1)) for t in range(NT)])
    close2 = np.array([mz.L == 3 and t + 1 < NTr and mz._close(2, t) for t in range(NT)])
    grow = np.array([t in mz.grow for t in range(NT)])
    d, r = frame.dims, frame.rules
    net_rail = np.full(T, NO, np.int32)
    for n, (side, _) in frame.rails.items():
        if n in nid:
            net_rail[nid[n]] = mz.t_lo if side == "bottom" else mz.t_hi
    net_terms = np.zeros(T, np.int32)
    for t in term_net:
        if t != NO:
            net_terms[t] += 1
    grid = Grid(
        m0_ok=jnp.asarray(m0), m1_ok=jnp.asarray(m1), m2_ok=jnp.asarray(m2), fixed=jnp.asarray(fixed),
        close1=jnp.asarray(close1), close1w=jnp.asarray(close1w & close1), close2=jnp.asarray(close2),
        xany=jnp.asarray(cls == 2), xpad=jnp.asarray(cls == 1), diag=jnp.asarray(diag), grow=jnp.asarray(grow),
        term_net=jnp.asarray(np.array(term_net, np.int32)), term_mask=jnp.asarray(mask),
        term_rail=jnp.asarray(np.array(rail)), net_rail=jnp.asarray(net_rail), net_terms=jnp.asarray(net_terms),
        order=jnp.asarray(np.array(order, np.int32)),
        needs_stub=jnp.asarray((2 * d.hx0) * (2 * d.hy0) < r.area("m0.area")),
        vias=jnp.asarray(vias),
        n_terms=jnp.int32(len(names)), n_nets=jnp.int32(len(nets)))
    return RouteProblem(frame, mz, grid, nets, names, metals)


def to_wires(problem: RouteProblem, state: RouteState) -> dict[str, NetWires]:
    """The finished ``state`` (one cell, host arrays) as the host router's wires; the host's final
    conflict test and stub pass run on them (raises :class:`MazeError` where they disagree)."""
    mz = Maze(problem.frame, 0, problem.metals)
    S = {k: np.asarray(getattr(state, k)) for k in ("use", "contacts", "e0h", "e0v", "e1h", "e1v", "e2h",
                                                    "via1", "via2", "drop")}
    routes = {}
    for i, net in enumerate(problem.nets):
        paths: list[list[int]] = []
        for layer, key, (dc, dt) in ((0, "e0h", (1, 0)), (0, "e0v", (0, 1)), (1, "e1h", (1, 0)),
                                     (1, "e1v", (0, 1)), (2, "e2h", (1, 0))):
            for c, t in zip(*np.nonzero(S[key][i])):
                paths.append([mz.id(layer, int(c), int(t)), mz.id(layer, int(c) + dc, int(t) + dt)])
        for lo, key in ((0, "via1"), (1, "via2")):
            for c, t in zip(*np.nonzero(S[key][i])):
                paths.append([mz.id(lo, int(c), int(t)), mz.id(lo + 1, int(c), int(t))])
        for c, t in zip(*np.nonzero(S["drop"][i])):
            paths.append([mz.id(0, int(c), int(t)), mz.rail_id[net]])
        for layer in range(3):
            for c, t in zip(*np.nonzero(S["use"][i, layer])):
                paths.append([mz.id(layer, int(c), int(t))])  # a node on no wire (a lone pad)
        contacts = {mz.id(0, int(c), int(t)) for c, t in zip(*np.nonzero(S["contacts"][i]))}
        if paths or contacts:
            routes[net] = (paths, contacts)
    return mz.adopt(routes)
