"""Negotiated-congestion maze router on the track grid of a :class:`~nbcell.layout.tracks.TrackFrame`.

Nodes are (layer, line, track) with layer 0 the first metal (runs along tracks,
and between tracks where needed) and layer 1 the second metal (runs along
lines only); a via joins the two at a node. Supply nets reach their rail from
the outermost track by a short first-metal drop.

Two nets *conflict* when they use the same node, first-metal pads (where a cut
lands) on neighbouring lines of one track, or second-metal nodes on close
tracks of one line: any two when a wire there would come too close to a pad,
else only two pads (a via's pad is wider than the wire); every other pair of
shapes is legal by the frame's construction.
PathFinder (McMurchie & Ebeling): each pass reroutes every net with node costs
``(1 + history) * (1 + present * other nets nearby)``; history grows where
conflicts persist. A first-metal island of a single node is too small (minimum
area): it gets a stub to a free neighbouring line, or counts as a conflict.
Deterministic for a given ``seed`` (it only rotates the net order).
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from dataclasses import dataclass, field

from nbcell.layout.rules import LayoutError
from nbcell.layout.tracks import TrackFrame

#: step costs: first metal along / across tracks, second metal along lines / tracks, via, rail drop
COST_H0, COST_V0, COST_V1, COST_H1, COST_VIA, COST_DROP = 1.0, 3.0, 1.4, 2.5, 2.0, 1.0
#: third metal (only where two layers did not route): along tracks, the via up to it
COST_H2, COST_VIA2 = 1.5, 4.0
#: passes without fewer conflicts after which a routing attempt gives up
STALL = 8
#: passes and stall limit of the last attempt before a cell is given up (no wider cell or extra
#: metal left to fall back on, so a longer negotiation is worth its time)
LAST_PASSES, LAST_STALL = 80, 20


class MazeError(LayoutError):
    """No conflict-free routing found; names the cell and the nets still in conflict."""

    def __init__(self, msg: str, hot: list[int] | None = None):
        super().__init__(msg)
        self.hot = hot or []  # lines where conflicts remained (where widening helps)


@dataclass
class NetWires:
    """One net's routing: nodes per layer, wires between neighbouring nodes, vias, rail drops."""

    net: str
    m0: set[tuple[int, int]] = field(default_factory=set)
    m1: set[tuple[int, int]] = field(default_factory=set)
    edges0: set[tuple[tuple[int, int], tuple[int, int]]] = field(default_factory=set)
    edges1: set[tuple[tuple[int, int], tuple[int, int]]] = field(default_factory=set)
    vias: set[tuple[int, int]] = field(default_factory=set)
    m2: set[tuple[int, int]] = field(default_factory=set)          # third metal
    edges2: set[tuple[tuple[int, int], tuple[int, int]]] = field(default_factory=set)
    vias2: set[tuple[int, int]] = field(default_factory=set)
    drops: set[tuple[int, int]] = field(default_factory=set)
    pads: set[tuple[int, int]] = field(default_factory=set)       # first-metal nodes under a cut
    contacts: set[tuple[int, int]] = field(default_factory=set)   # where a terminal is contacted
    grown: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)  # node -> (dir, dbu)


class Maze:
    def __init__(self, f: TrackFrame, seed: int = 0, metals: int = 2):
        self.f = f
        d, r = f.dims, f.rules
        if isinstance(metals, bool) or metals not in (1, 2, 3):
            raise ValueError(f"routing metals must be 1, 2 or 3, not {metals!r}")
        # routing layers: 1 the first metal alone, 3 only where the process has a third
        self.L = 3 if metals == 3 and d.third_metal else min(metals, 2)
        self.NT = len(f.ys)
        # tracks the first metal may use (the rest carry the second metal only)
        self.m0_tracks = [t for t, k in enumerate(f.track_kind) if k != "m2"]
        self.t_lo, self.t_hi = self.m0_tracks[0], self.m0_tracks[-1]
        #: tracks the second metal may use (not those next to a rail drawn on it)
        self.m1_ok = [t not in f.no_m1 for t in range(self.NT)]
        # lines a pad may use: half of each metal's space from the cell edges (abutting cells)
        edge = max(d.hx0 + (r["m0.space"] + 1) // 2, d.hx1 + (r["m1.space"] + 1) // 2,
                   d.hx2 + (r["m2.space"] + 1) // 2 if self.L == 3 else 0)
        self.c0 = next((i for i, x in enumerate(f.xs) if x >= edge), f.lines)
        self.c1 = 1 + max((i for i, x in enumerate(f.xs) if x <= f.width - edge), default=-1)  # exclusive
        self.NL = f.lines
        self.seed = seed
        self.N = self.L * self.NL * self.NT
        self.rails = list(f.rails)
        self.rail_id = {net: self.N + i for i, net in enumerate(self.rails)}
        self.hist = [0.0] * self.N
        self.users: list[dict[str, int]] = [dict() for _ in range(self.N)]
        self.pads: list[dict[str, int]] = [dict() for _ in range(self.N)]
        self.contacts: dict[str, set[int]] = {}
        self.fixed = {self.id(0, c, t): net for (c, t), net in f.fixed.items()}
        self.terms: dict[str, list[set[int]]] = defaultdict(list)
        for t in f.terminals:
            ids = {self.id(0, c, k) for c, k in t.nodes if self.c0 <= c < self.c1}
            if not ids:
                raise LayoutError(f"cell {f.cell.name}: {t.what} of net {t.net} lies outside the routing lines")
            self.terms[t.net].append(ids)
        for net in self.rails:
            if net in self.terms:
                self.terms[net].append({self.rail_id[net]})
        for p in f.pins:
            self.terms.setdefault(p, [])
        self.paths: dict[str, list[list[int]]] = {}
        #: track -> (direction, dbu) a lone pad on it may grow towards its rail to reach the area
        self.grow: dict[int, tuple[int, int]] = {}
        need = -(-r.area("m0.area") // (2 * d.hx0)) - 2 * d.hy0
        for net, (side, box) in f.rails.items():
            t = self.t_lo if side == "bottom" else self.t_hi
            room = (f.ys[t] - d.hy0 - box[3] if side == "bottom" else box[1] - f.ys[t] - d.hy0) - r["m0.space"]
            if 0 < need <= room:
                self.grow[t] = (-1 if side == "bottom" else 1, r.snap_up(need))
        self.exts: dict[str, list[tuple[int, int]]] = {}
        #: per net: (stub node, the lone pad it extends) on the first metal
        self.stubs: dict[str, list[tuple[tuple[int, int], tuple[int, int]]]] = {}
        # the searches spend their time here: look neighbours up instead of recomputing them
        self._adj = [list(self._neighbours(n)) for n in range(self.N + len(self.rails))]
        # neighbours whose any use conflicts with a use of n / whose pads conflict with a pad on n
        sides = [self._sides(n) for n in range(self.N)]
        self._side_any = [a for a, _ in sides]
        self._side_pad = [p for _, p in sides]
        self._near = [(n, *a, *p) for n, (a, p) in enumerate(sides)]
        # vias of one level closer than the cut space (a contact track beside a poly-contact track,
        # lines closer than a via pitch) are too close whatever their nets: node below -> such nodes
        half = self.NL * self.NT
        self._via_near = [self._vias_near(n) for n in range(2 * half)]
        self.via_count = [0] * (2 * half)  # vias up from each first- / second-metal node, all nets

    # -- node ids -------------------------------------------------------------------

    def id(self, layer: int, c: int, t: int) -> int:
        return (layer * self.NL + c) * self.NT + t

    def key(self, n: int) -> tuple[int, int, int]:
        layer, rest = divmod(n, self.NL * self.NT)
        c, t = divmod(rest, self.NT)
        return layer, c, t

    def neighbours(self, n: int) -> list[tuple[int, float]]:
        """(node, step cost) pairs reachable from ``n``."""
        return self._adj[n]

    def _neighbours(self, n: int):
        if n >= self.N:  # a rail: drops from the outermost track
            side = self.f.rails[self.rails[n - self.N]][0]
            t = self.t_lo if side == "bottom" else self.t_hi
            for c in range(self.c0, self.c1):
                yield self.id(0, c, t), COST_DROP
            return
        layer, c, t = self.key(n)
        m0 = self.t_lo <= t <= self.t_hi
        if layer == 0:
            if not m0:
                return
            if c > self.c0:
                yield n - self.NT, COST_H0
            if c + 1 < self.c1:
                yield n + self.NT, COST_H0
            if t > self.t_lo:
                yield n - 1, COST_V0
            if t < self.t_hi:
                yield n + 1, COST_V0
            if self.L > 1 and self.m1_ok[t]:
                yield n + self.NL * self.NT, COST_VIA
            for net in self.rails:
                side = self.f.rails[net][0]
                if (side == "bottom" and t == self.t_lo) or (side == "top" and t == self.t_hi):
                    yield self.rail_id[net], COST_DROP
        elif layer == 1:
            if c > self.c0:
                yield n - self.NT, COST_H1
            if c + 1 < self.c1:
                yield n + self.NT, COST_H1
            if t > 0 and self.m1_ok[t - 1]:
                yield n - 1, COST_V1
            if t + 1 < self.NT and self.m1_ok[t + 1]:
                yield n + 1, COST_V1
            if m0:
                yield n - self.NL * self.NT, COST_VIA
                if self.L == 3:
                    yield n + self.NL * self.NT, COST_VIA2
        elif m0:  # the third metal runs along the tracks, over the first metal's
            if c > self.c0:
                yield n - self.NT, COST_H2
            if c + 1 < self.c1:
                yield n + self.NT, COST_H2
            yield n - self.NL * self.NT, COST_VIA2

    def near(self, n: int) -> tuple[int, ...]:
        """Nodes whose use by another net may conflict with ``n`` (``n`` included)."""
        return self._near[n]

    def _sides(self, n: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(nodes any use of which by another net conflicts with a use of ``n``, nodes whose pads
        conflict with a pad on ``n``): close tracks of its line (second and third metal: the first
        metal's tracks are a pad space apart), lines of its track as close as their x says, and the
        close tracks of those lines (diagonally)."""
        layer, c, t = self.key(n)
        f = self.f
        anyv: list[int] = []
        padv: list[int] = []
        if layer:
            for u, tt in ((n - 1, t - 1), (n + 1, t)):  # the track pair (tt, tt + 1)
                if 0 <= tt and tt + 1 < self.NT and self._close(layer, tt):
                    (anyv if self._wire_close(n, u) else padv).append(u)
        for k in range(1, f.REACH + 1):
            for cc in (c - k, c + k):
                if not 0 <= cc < self.NL:
                    continue
                lo = min(c, cc)
                cls = f.x_class(layer, lo, k)
                if cls:
                    (anyv if cls == 2 else padv).append(self.id(layer, cc, t))
                anyv += [self.id(layer, cc, tt) for tt in (t - 1, t + 1)
                         if 0 <= tt < self.NT and f.diagonal_close(layer, lo, k, min(t, tt))]
        return tuple(anyv), tuple(padv)

    def _vias_near(self, n: int) -> tuple[int, ...]:
        """Nodes of ``n``'s layer (first or second metal) where a via up would come closer to one up
        from ``n`` than the cut space."""
        layer, c, t = self.key(n)
        return tuple(self.id(layer, cc, tt) for cc in range(max(0, c - self.f.REACH), min(self.NL, c + self.f.REACH + 1))
                     for tt in (t - 1, t, t + 1) if 0 <= tt < self.NT and (cc, tt) != (c, t)
                     and self.f.via_close(layer + 1, c, t, cc, tt))

    def _wire_close(self, n: int, v: int) -> bool:
        """Whether a wire of one net and a pad of another on second- or third-metal nodes ``n`` and
        ``v`` (neighbouring tracks of one line) would violate the space (then any two uses conflict)."""
        layer, _, t = self.key(n)
        t = min(t, self.key(v)[2])
        if layer == 2:
            return True  # the third metal runs along the tracks only: pads everywhere
        d, kind = self.f.dims, self.f.track_kind
        half = lambda k: d.w1 // 2 if kind[k] == "m2" else d.hy1  # noqa: E731
        return self.f.ys[t + 1] - self.f.ys[t] < max(half(t), half(t + 1)) + d.w1 // 2 + self.f.rules["m1.space"]

    def _close(self, layer: int, t: int) -> bool:
        """Whether second- (``layer`` 1) or third-metal (2) shapes of two nets on tracks ``t`` and
        ``t + 1`` of one line may violate its space: a via pad where a via may land, the wire's half
        width elsewhere."""
        d, kind = self.f.dims, self.f.track_kind
        if layer == 1:
            half = lambda k: d.w1 // 2 if kind[k] == "m2" else d.hy1  # noqa: E731
        else:
            half = lambda k: d.hy2  # noqa: E731
        space = self.f.rules["m1.space" if layer == 1 else "m2.space"]
        return self.f.ys[t + 1] - self.f.ys[t] < half(t) + half(t + 1) + space

    # -- occupancy -------------------------------------------------------------------

    def _mark(self, net: str, nodes, sign: int, pads=()) -> None:
        for n in nodes:
            if n >= self.N:
                continue
            _bump(self.users[n], net, sign)
        for n in pads:
            _bump(self.pads[n], net, sign)
        half = self.NL * self.NT
        for a, b in zip(nodes, nodes[1:]):
            if a < self.N and b < self.N and abs(a - b) == half:
                self.via_count[min(a, b)] += sign

    def _others(self, n: int, net: str) -> int:
        """Other nets that conflict with ``net`` using ``n`` as a pad: any user of ``n``, users of
        the neighbours where any use conflicts, pads of those where only two pads do."""
        seen = set(self.users[n])
        for v in self._side_any[n]:
            seen.update(self.users[v])
        for v in self._side_pad[n]:
            seen.update(self.pads[v])
        seen.discard(net)
        return len(seen)

    def _others_plain(self, n: int, net: str) -> int:
        """Other nets that conflict with a plain wire of ``net`` through ``n``: any user of ``n``
        and of the neighbours where any use conflicts (the pitch keeps a wire clear of a pad)."""
        u = self.users[n]
        if not self._side_any[n]:
            return len(u) - (net in u)
        seen = set(u)
        for v in self._side_any[n]:
            seen.update(self.users[v])
        seen.discard(net)
        return len(seen)

    def _rip(self, net: str) -> None:
        for path, pads in self.paths.pop(net, []):
            self._mark(net, path, -1, pads)
        for (c, t), _ in self.stubs.pop(net, []):
            self._mark(net, [self.id(0, c, t)], -1)
        self.contacts.pop(net, None)

    # -- one net ------------------------------------------------------------------------

    def _route(self, net: str, pres: float) -> None:
        terms = self.terms[net]
        self.paths[net] = []
        self.contacts[net] = set()
        if not terms:
            raise LayoutError(f"cell {self.f.cell.name}: pin {net} connects to nothing in the cell")
        first = min(terms, key=lambda s: (len(s), min(s)))
        tree = set(first)
        pending = [s for s in terms if not (s & tree)]
        if not pending:
            # a pin on a single terminal: its least crowded node alone (the stub pass adds room)
            n = min(tree, key=lambda v: (self._others(v, net), v))
            self._add_path(net, [n], {n})
            return
        started = False
        while pending:
            path = self._search(net, tree, set().union(*pending), pres)
            if path is None:
                raise MazeError(f"cell {self.f.cell.name}: net {net}: no path to its remaining terminals")
            ends = {path[-1]}
            if not started:
                ends.add(path[0])  # where the first terminal is contacted
                tree = {path[0]}
                started = True
            self._add_path(net, path, ends)
            tree |= set(path)
            pending = [s for s in pending if not (s & tree)]

    def _add_path(self, net: str, path: list[int], contacts: set[int]) -> None:
        pads = {n for n in contacts if n < self.N}
        self.contacts[net] |= pads
        half = self.NL * self.NT
        for a, b in zip(path, path[1:]):
            if a < self.N and b < self.N and abs(a - b) == half:
                # both ends of a via are pads
                pads.add(a)
                pads.add(b)
        self.paths[net].append((path, pads))
        self._mark(net, path, 1, pads)

    def _search(self, net: str, tree: set[int], target: set[int], pres: float) -> list[int] | None:
        fixed, hist, users, pads = self.fixed, self.hist, self.users, self.pads
        own_rail = self.rail_id.get(net, -1)
        half = self.NL * self.NT
        dist = {n: 0.0 for n in tree}
        heap = [(0.0, n) for n in sorted(tree)]
        parent: dict[int, int] = {}
        while heap:
            dn, n = heapq.heappop(heap)
            if dn > dist.get(n, float("inf")):
                continue
            if n in target and n not in tree:
                path = [n]
                while path[-1] in parent:
                    path.append(parent[path[-1]])
                return path[::-1]
            for v, step in self.neighbours(n):
                if half <= n < 2 * half and abs(v - n) == half and parent.get(n, -1) == 2 * n - v:
                    continue  # no stacked vias (the second metal between would be a lone pad)
                if v >= self.N:
                    if v != own_rail:
                        continue  # only a supply net may use its rail
                else:
                    owner = fixed.get(v)
                    if owner is not None and owner != net:
                        continue
                    if v < half:
                        # a first-metal node is a pad when a via or a contact lands on it
                        pad = v in target or (n < self.N and n >= half)
                        others = self._others(v, net) if pad else self._others_plain(v, net)
                    else:
                        # a second-metal node is a pad where a via lands on it
                        via = n < self.N and abs(v - n) == half
                        others = self._others(v, net) if via else self._others_plain(v, net)
                    if n < self.N and abs(v - n) == half:  # leaving a node by a via: it becomes a pad
                        others += self._others(n, net) - self._others_plain(n, net)
                        # and no via of that level may come too close to it
                        others += sum(self.via_count[u] for u in self._via_near[min(n, v)])
                    step = step * (1.0 + hist[v]) * (1.0 + pres * others)
                nd = dn + step
                if nd < dist.get(v, float("inf")):
                    dist[v] = nd
                    parent[v] = n
                    heapq.heappush(heap, (nd, v))
        return None

    # -- passes ---------------------------------------------------------------------------

    def _conflicts(self) -> set[int]:
        bad = set()
        half = self.NL * self.NT
        for n in range(self.N):
            u = self.users[n]
            if not u:
                continue
            if len(u) > 1:
                bad.add(n)
                continue
            net = next(iter(u))
            for v in self._side_any[n]:
                if any(o != net for o in self.users[v]):
                    bad.add(n)
            if self.pads[n]:
                for v in self._side_pad[n]:
                    if any(o != net for o in self.pads[v]):
                        bad.add(n)
        for n, near in enumerate(self._via_near):
            if self.via_count[n] and any(self.via_count[v] for v in near):
                bad.add(n)
        return bad

    def _stubs(self) -> set[int]:
        """Give every single-node first-metal island a neighbouring node (on its track, else on
        its line); returns the nodes that found no room."""
        bad = set()
        d, r = self.f.dims, self.f.rules
        if (2 * d.hx0) * (2 * d.hy0) >= r.area("m0.area"):
            return bad
        self.exts = {}
        for net in sorted(self.paths):
            wires = self.wires(net)
            for comp in _islands(wires):
                if len(comp) > 1 or any(self.fixed.get(self.id(0, c, t)) == net for c, t in comp):
                    continue
                (c, t), = comp
                if (c, t) in wires.drops:
                    continue
                if t in self.grow:
                    # the outermost tracks have room towards their rail: the pad grows there
                    self.exts.setdefault(net, []).append((c, t))
                    continue
                done = False
                beside = [(cc, t) for cc in ((c + 1, c - 1) if (c + t) % 2 else (c - 1, c + 1)) if self.c0 <= cc < self.c1]
                beside += [(c, tt) for tt in (t - 1, t + 1) if self.t_lo <= tt <= self.t_hi]
                for cc, tt in beside:
                    v = self.id(0, cc, tt)
                    owner = self.fixed.get(v)
                    if (owner is not None and owner != net) or self._others_plain(v, net):
                        continue
                    self.stubs.setdefault(net, []).append(((cc, tt), (c, t)))
                    self._mark(net, [v], 1)
                    done = True
                    break
                if not done:
                    bad.add(self.id(0, c, t))
        return bad

    def run(self, passes: int = 30, stall: int = STALL) -> dict[str, NetWires]:
        nets = sorted(self.terms, key=lambda n: (-len(self.terms[n]), n))
        if self.seed and nets:
            k = self.seed % len(nets)
            nets = nets[k:] + nets[:k]
        pres = 0.6
        bad: set[int] = set()
        best, best_it = None, 0
        for it in range(passes):
            if it - best_it > stall:
                break  # the negotiation stopped making progress: widen or add a metal instead
            order = nets if it % 2 == 0 else nets[::-1]
            for net in order:
                self._rip(net)
                self._route(net, pres)
            bad = self._conflicts()
            if not bad:
                bad = self._stubs()
                if not bad:
                    return {net: self.wires(net) for net in sorted(self.paths)}
                for net in list(self.stubs):
                    for (c, t), _ in self.stubs.pop(net):
                        self._mark(net, [self.id(0, c, t)], -1)
            if best is None or len(bad) < best:
                best, best_it = len(bad), it
            for n in bad:
                for v in self.near(n):
                    self.hist[v] += 0.5
            pres *= 1.6
        hot = sorted({self.key(n)[1] for n in bad})
        nets_bad = sorted({net for n in bad for net in self.users[n]})
        raise MazeError(f"cell {self.f.cell.name}: routing congestion: nets {nets_bad} in conflict "
                        f"near lines {hot[:6]}", hot)

    def adopt(self, routes: dict[str, tuple[list[list[int]], set[int]]]) -> dict[str, NetWires]:
        """Take routes found elsewhere (the routing env) — per net, paths of node ids and the
        first-metal nodes where terminals are contacted — through this router's final test:
        every terminal reached, no conflict, every lone pad stubbed. Raises :class:`MazeError`."""
        for net, (paths, contacts) in sorted(routes.items()):
            self.paths[net], self.contacts[net] = [], set()
            for p in paths:
                self._add_path(net, p, contacts & set(p))
        for net, sets in sorted(self.terms.items()):
            have = self.contacts.get(net, set()) | {n for p, _ in self.paths.get(net, []) for n in p if n >= self.N}
            missing = [s for s in sets if not s & have]
            if missing:
                raise MazeError(f"cell {self.f.cell.name}: net {net}: {len(missing)} terminal(s) not reached")
        bad = self._conflicts() or self._stubs()
        if bad:
            raise MazeError(f"cell {self.f.cell.name}: {len(bad)} conflicts remain", sorted({self.key(n)[1] for n in bad}))
        return {net: self.wires(net) for net in sorted(self.paths)}

    def wires(self, net: str) -> NetWires:
        """The drawn form of ``net``'s paths and stubs."""
        w = NetWires(net)
        half = self.NL * self.NT
        for path, pads in self.paths.get(net, []):
            for n in pads:
                if n < half:
                    w.pads.add(self.key(n)[1:])
            for a, b in zip(path, path[1:]):
                if a >= self.N or b >= self.N:
                    n = b if a >= self.N else a
                    w.drops.add(self.key(n)[1:])
                    continue
                la, ca, ta = self.key(a)
                lb, cb, tb = self.key(b)
                if la != lb:
                    (w.vias if min(la, lb) == 0 else w.vias2).add((ca, ta))
                else:
                    (w.edges0, w.edges1, w.edges2)[la].add(tuple(sorted(((ca, ta), (cb, tb)))))
            for n in path:
                if n < self.N:
                    layer, c, t = self.key(n)
                    (w.m0, w.m1, w.m2)[layer].add((c, t))
        for stub, pad in self.stubs.get(net, []):
            w.m0.add(stub)
            if stub[0] == pad[0]:  # a stub onto the next track of the pad's line
                w.edges0.add(tuple(sorted((stub, pad))))
        w.contacts = {self.key(n)[1:] for n in self.contacts.get(net, ())}
        for c, t in self.exts.get(net, []):
            w.grown[(c, t)] = self.grow[t]
        # same-net neighbours are always joined: a gap narrower than the spacing is a violation too
        for c, t in list(w.m0):
            if (c + 1, t) in w.m0:
                w.edges0.add(((c, t), (c + 1, t)))
        for c, t in list(w.m1):
            if (c, t + 1) in w.m1:
                w.edges1.add(((c, t), (c, t + 1)))
            if (c + 1, t) in w.m1:
                w.edges1.add(((c, t), (c + 1, t)))
        for c, t in list(w.m2):
            if (c + 1, t) in w.m2:
                w.edges2.add(((c, t), (c + 1, t)))
            if (c, t + 1) in w.m2 and self._close(2, t):
                w.edges2.add(((c, t), (c, t + 1)))  # closer than the space: one shape
            if self.f.x_class(2, c, 1) == 2:
                # ends on neighbouring lines of close tracks: joined through (c + 1, t), which the
                # conflict rules keep free of other nets (it is beside both)
                for u in ((c + 1, t + 1), (c + 1, t - 1)):
                    if u in w.m2 and 0 <= u[1] < self.NT and self.f.diagonal_close(2, c, 1, min(t, u[1])):
                        w.m2.add((c + 1, t))
                        w.edges2 |= {((c, t), (c + 1, t)), tuple(sorted(((c + 1, t), u)))}
        return w


def _bump(d: dict[str, int], key: str, sign: int) -> None:
    v = d.get(key, 0) + sign
    if v:
        d[key] = v
    else:
        d.pop(key, None)


def _islands(w: NetWires) -> list[set[tuple[int, int]]]:
    """Connected first-metal pieces of one net (nodes joined by its first-metal wires)."""
    parent = {n: n for n in w.m0}

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b in w.edges0:
        parent[find(a)] = find(b)
    groups: dict = defaultdict(set)
    for n in w.m0:
        groups[find(n)].add(n)
    return [groups[k] for k in sorted(groups)]


def route_tracks(f: TrackFrame, seed: int = 0, passes: int = 30, metals: int = 2,
                 stall: int = STALL) -> dict[str, NetWires]:
    """Route every net of ``f`` on ``metals`` routing metals (1: the first alone; 3: a third too,
    where the process has one); raises :class:`MazeError` when congestion remains (after ``stall``
    passes without progress)."""
    return Maze(f, seed, metals).run(passes, stall)
