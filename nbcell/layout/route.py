"""Grid router: Dijkstra searches with negotiated congestion (PathFinder rip-up and reroute).

Routing resources are *elements*: grid nodes, wires between neighbouring
nodes, cuts (poly contacts and metal-to-metal vias, each in two pad
orientations) and pin landings. Each element occupies exact boxes (see
:mod:`nbcell.layout.shapes`); two elements *conflict* when any of their boxes
on one layer are closer than that layer's spacing rule, so a legal routing is
one where no two nets use conflicting elements. Elements too close to a fixed
shape (diffusion strip, gate poly, rail) are reserved for that shape's net;
poly keeps the field-poly space to diffusion and poly contacts the contact
space to diffusion.

PathFinder: every net is routed as a tree (repeated searches from the tree
to the nearest unconnected terminal); a conflict costs ``present`` (grows per
iteration) times the number of other nets there, plus a ``history`` term that
accumulates where conflicts persist. Deterministic: nets are routed in a
fixed order that ``seed`` rotates.
"""

from __future__ import annotations

import heapq
import random
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from nbcell.layout.frame import Box, Frame, box_dist
from nbcell.layout.ir import Node, NetRoute, Routing, Via, Wire
from nbcell.layout.rules import LayoutError
from nbcell.layout.shapes import CUT_KEYS, Shapes

BLOCKED = "\0blocked"
#: PathFinder: history added per iteration to an element in conflict, and present-cost growth
HIST_STEP, PRES_GROWTH = 2.0, 1.3
#: cost per dbu of wire (``m0_v``: first metal vertically; ``m1_x``: second metal against its
#: preferred direction), and per cut in first-metal pitches
COSTS = {"poly": 4.0, "m0": 1.0, "m0_v": 3.0, "m1": 1.0, "m1_x": 2.5, "co": 1.0, "cut1": 1.0}


class RouteError(LayoutError):
    """Routing failed: names the cell and the nets left unrouted or in conflict."""


@dataclass
class _El:
    kind: str                     # node / wire / via / pin
    shapes: list[tuple[str, Box]]
    base: float
    item: object                  # Node, Wire, Via


class _Graph:
    """Elements, adjacency and the conflict relation of one frame."""

    def __init__(self, frame: Frame):
        self.f = frame
        self.sh = Shapes(frame)
        self.els: list[_El] = []
        self.node_id: dict[tuple[int, int, int], int] = {}
        self.node_el: list[int] = []
        self.node_key: list[tuple[int, int, int]] = []
        self.adj: list[list[tuple[int, int]]] = []
        self.pin_nodes: dict[str, list[int]] = {}
        nx, ny = len(frame.grid.xs), len(frame.grid.ys)
        self.nx, self.ny = nx, ny
        r = frame.rules
        pitch = r["m0.width"] + r["m0.space"]
        self.pitch = pitch
        cols = frame.grid.x_column
        self.gate_line = [c >= 0 and c % 2 == 1 and frame.placement.n[(c - 1) // 2] is not None
                          or c >= 0 and c % 2 == 1 and frame.placement.p[(c - 1) // 2] is not None
                          for c in cols]
        self._build_nodes(nx, ny)
        self._build_wires(nx, ny)
        self._build_vias(nx, ny, pitch)
        self._build_pins(pitch)
        self._build_diff_sites(pitch)
        self.is_m0 = [k[0] == 1 for k in self.node_key]
        # (x, y) of grid nodes for the A* bound; pseudo nodes take their first neighbour's
        xs, ys = frame.grid.xs, frame.grid.ys
        self.node_xy = [(xs[k[1]], ys[k[2]]) if k[0] in (0, 1, 2, 3) else None for k in self.node_key]
        for nid, k in enumerate(self.node_key):
            if k[0] == -1 and self.adj[nid]:
                self.node_xy[nid] = self.node_xy[self.adj[nid][0][0]]
        # cuts and pin landings: two of them may not meet on a bare first-metal node
        self.is_stack = [el.kind in ("via", "pin") for el in self.els]
        self._legalise()
        self._conflicts()

    # -- construction -----------------------------------------------------------

    def _add_el(self, kind: str, shapes, base: float, item) -> int:
        self.els.append(_El(kind, shapes, base, item))
        return len(self.els) - 1

    def _add_node(self, key: tuple[int, int, int]) -> int:
        nid = len(self.node_key)
        self.node_id[key] = nid
        self.node_key.append(key)
        layer, ix, iy = key
        self.node_el.append(self._add_el("node", self.sh.node(layer, ix, iy), 0.0, Node(layer, ix, iy)))
        self.adj.append([])
        return nid

    def _link(self, a: int, b: int, el: int) -> None:
        self.adj[a].append((b, el))
        self.adj[b].append((a, el))

    def _build_nodes(self, nx: int, ny: int) -> None:
        gap = set(self.f.gap) | set(self.f.outer.values())
        for ix in range(nx):
            for iy in range(ny):
                if iy in gap:
                    self._add_node((0, ix, iy))
                self._add_node((1, ix, iy))
                self._add_node((2, ix, iy))

    def _build_wires(self, nx: int, ny: int) -> None:
        xs, ys = self.f.grid.xs, self.f.grid.ys
        gap = sorted(self.f.gap)
        m1v = self.sh.m1_vertical
        # (horizontal, vertical) cost per dbu; the second metal against its preferred direction
        # is a last resort that keeps upper-level routing free
        w = COSTS
        weight = {0: (w["poly"], w["poly"]), 1: (w["m0"], w["m0_v"]),
                  2: (w["m1_x"], w["m1"]) if m1v else (w["m1"], w["m1_x"])}
        lanes = set(gap) | set(self.f.outer.values())
        for layer in (0, 1, 2):
            for iy in range(ny):
                if layer == 0 and iy not in lanes:
                    continue
                for ix in range(nx - 1):
                    self._wire(layer, ix, iy, ix + 1, iy, weight[layer][0] * (xs[ix + 1] - xs[ix]))
            rows = gap if layer == 0 else list(range(ny))
            for ix in range(nx):
                if layer == 0 and not self.gate_line[ix]:
                    continue  # poly runs vertically only along gate columns
                for a, b in zip(rows, rows[1:]):
                    self._wire(layer, ix, a, ix, b, weight[layer][1] * (ys[b] - ys[a]))
        self._through_gates(weight[0][1])

    def _through_gates(self, weight: float) -> None:
        """Poly from a gate's channel end, through the gate itself, out to the lane beyond its row."""
        f, ys = self.f, self.f.grid.ys
        if not f.outer or not f.gap:
            return
        for ix, col in enumerate(f.grid.x_column):
            if col < 0 or col % 2 == 0:
                continue
            g = (col - 1) // 2
            for row, end in (("n", f.gap[0]), ("p", f.gap[-1])):
                if row in f.outer and f.placement.row(row)[g] is not None:
                    self._wire(0, ix, end, ix, f.outer[row], weight * abs(ys[f.outer[row]] - ys[end]))
    def _wire(self, layer: int, ix0: int, iy0: int, ix1: int, iy1: int, cost: float) -> None:
        w = Wire(layer, ix0, iy0, ix1, iy1)
        el = self._add_el("wire", self.sh.wire(w), cost, w)
        self._link(self.node_id[(layer, ix0, iy0)], self.node_id[(layer, ix1, iy1)], el)

    def _build_vias(self, nx: int, ny: int, pitch: int) -> None:
        for ix in range(nx):
            for iy in range(ny):
                for lower in (0, 1):
                    a = self.node_id.get((lower, ix, iy))
                    if a is None or lower == 0 and (not self.gate_line[ix] or iy not in self.f.gap):
                        continue  # poly contacts sit on gate columns (pads inside the gate line)
                    b = self.node_id[(lower + 1, ix, iy)]
                    for orient in ("v", "h"):
                        v = Via(lower, ix, iy, orient)
                        el = self._add_el("via", self.sh.via(v), (COSTS["co"] if lower == 0 else COSTS["cut1"]) * pitch, v)
                        self._link(a, b, el)

    def _build_pins(self, pitch: int) -> None:
        """Per pin net, a pseudo node behind every first-metal node that has a landing on a
        second-metal track; the landing element is shared by all pin nets at that node."""
        if not self.f.pins:
            return
        landing = {}
        for ix in range(self.nx):
            for iy in range(self.ny):
                if self.sh.pin_point(ix, iy) is not None:
                    landing[(ix, iy)] = self._add_el("pin", self.sh.pin(ix, iy), 0.5 * pitch, Node(1, ix, iy))
        for net in self.f.pins:
            ids = []
            for (ix, iy), el in landing.items():
                nid = len(self.node_key)
                self.node_key.append((3, ix, iy))
                self.node_el.append(-1)
                self.adj.append([])
                self._link(self.node_id[(1, ix, iy)], nid, el)
                ids.append(nid)
            self.pin_nodes[net] = ids

    def _build_diff_sites(self, pitch: int) -> None:
        """A pseudo node per signal diffusion terminal, reached through a diffusion contact."""
        for i, (net, _, cands) in enumerate(self.f.diff_sites):
            nid = len(self.node_key)
            self.node_id[(-1, i, 0)] = nid
            self.node_key.append((-1, i, 0))
            self.node_el.append(-1)
            self.adj.append([])
            for ix, iy in cands:
                for orient in ("v", "h"):
                    v = Via(-1, ix, iy, orient)
                    el = self._add_el("via", self.sh.via(v), 0.5 * pitch, v)
                    self.owner[el] = net
                    self._link(nid, self.node_id[(1, ix, iy)], el)

    owner: dict[int, str]

    # -- legality ---------------------------------------------------------------

    def _legalise(self) -> None:
        """``allowed[e]``: None (any net), a net name (reserved) or BLOCKED."""
        f, sh = self.f, self.sh
        r = f.rules
        self.allowed: list[str | None] = [None] * len(self.els)
        fixed_by_key: dict[str, list[tuple[Box, str]]] = defaultdict(list)
        for key, box, net in f.fixed:
            fixed_by_key[key].append((box, net))
        W, H = f.width, f.height
        gate_x = {f.grid.xs[ix]: c for ix, c in enumerate(f.grid.x_column) if c >= 0 and c % 2 == 1}
        for e, el in enumerate(self.els):
            if e in self.owner:
                self.allowed[e] = self.owner[e]
            nets = set()
            ok = True
            for key, box in el.shapes:
                sp = sh.space[key]
                if key in ("poly", "m0", "m1") and (box[0] < (sp + 1) // 2 or box[2] > W - (sp + 1) // 2):
                    ok = False
                if key in ("poly", "m1") and (box[1] < (sp + 1) // 2 or box[3] > H - (sp + 1) // 2):
                    ok = False
                for fbox, net in fixed_by_key.get(key, ()):
                    dist = box_dist(box, fbox)
                    if dist < sp:
                        nets.add(net)
                        if key in CUT_KEYS and fbox != box:
                            ok = False  # cuts keep their space whatever the nets
            if ok:
                ok = self._diffusion_ok(el, r, gate_x)
            if not ok or len(nets) > 1:
                self.allowed[e] = BLOCKED
            elif nets:
                net = nets.pop()
                if self.allowed[e] not in (None, net):
                    self.allowed[e] = BLOCKED
                else:
                    self.allowed[e] = net

    def _diffusion_ok(self, el: _El, r, gate_x: dict[int, int]) -> bool:
        """Poly keeps the field-poly space to diffusion (except the gate's own); contacts their space."""
        f = self.f
        own = ()
        if isinstance(el.item, (Node, Wire, Via)):
            item = el.item
            ix = item.ix if isinstance(item, (Node, Via)) else (item.ix0 if item.ix0 == item.ix1 else -1)
            if ix >= 0 and f.grid.xs[ix] in gate_x:
                own = self._own_comps(f.grid.xs[ix], gate_x[f.grid.xs[ix]])
        for key, box in el.shapes:
            if key == "poly":
                for i, (_, cb) in enumerate(f.comps):
                    if i not in own and box_dist(box, cb) < r["poly.to_diff"]:
                        return False
            elif key == "co" and isinstance(el.item, Via) and el.item.lower == 0:
                for _, cb in f.comps:
                    if box_dist(box, cb) < r["co.poly_to_diff"]:
                        return False
        return True

    def _own_comps(self, x: int, col: int) -> set[int]:
        g = (col - 1) // 2
        rows = {row for row in ("n", "p") if self.f.placement.row(row)[g] is not None}
        return {i for i, (row, cb) in enumerate(self.f.comps) if row in rows and cb[0] < x < cb[2]}

    # -- conflicts --------------------------------------------------------------

    def _conflicts(self) -> None:
        """``conf[e]``: elements that no other net may use together with ``e``; ``cut_conf[e]``:
        cuts too close to ``e`` even for the same net."""
        sh = self.sh
        live = [e for e in range(len(self.els)) if self.allowed[e] != BLOCKED]
        by_key: dict[str, list[tuple[int, Box]]] = defaultdict(list)
        for e in live:
            for key, box in self.els[e].shapes:
                by_key[key].append((e, box))
        conf: list[set[int]] = [set() for _ in self.els]
        cut_conf: list[set[int]] = [set() for _ in self.els]
        for key, items in by_key.items():
            for ea, eb, dist in _close_pairs(items, sh.space[key]):
                if key in CUT_KEYS:
                    # one net's own cuts keep their space too
                    cut_conf[ea].add(eb)
                    cut_conf[eb].add(ea)
                a_res = self.allowed[ea]
                if a_res is not None and a_res == self.allowed[eb]:
                    continue  # both reserved for the same net: never a conflict
                conf[ea].add(eb)
                conf[eb].add(ea)
        self.conf = [sorted(c) for c in conf]
        self.conf_self = [tuple(c) + (e,) for e, c in enumerate(self.conf)]
        self.cut_conf = [frozenset(c) for c in cut_conf]


def _close_pairs(items: list[tuple[int, Box]], space: int, chunk: int = 256):
    """(id, id, squared distance) of distinct elements whose boxes are closer than ``space`` (dbu)."""
    ids = np.array([e for e, _ in items], dtype=np.int64)
    b = np.array([bx for _, bx in items], dtype=np.int64)
    order = np.argsort(b[:, 0], kind="stable")
    ids, b = ids[order], b[order]
    maxw = int((b[:, 2] - b[:, 0]).max()) if len(b) else 0
    sp2 = space * space
    out: dict[tuple[int, int], int] = {}
    for s0 in range(0, len(b), chunk):
        cb = b[s0:s0 + chunk]
        lo = np.searchsorted(b[:, 0], cb[:, 0].min() - maxw - space, "left")
        hi = np.searchsorted(b[:, 0], cb[:, 2].max() + space, "right")
        ob = b[lo:hi]
        dx = np.maximum(0, np.maximum(cb[:, None, 0], ob[None, :, 0]) - np.minimum(cb[:, None, 2], ob[None, :, 2]))
        dy = np.maximum(0, np.maximum(cb[:, None, 1], ob[None, :, 1]) - np.minimum(cb[:, None, 3], ob[None, :, 3]))
        d2 = dx * dx + dy * dy
        ii, jj = np.nonzero(d2 < sp2)
        ea = ids[s0 + ii]
        eb = ids[lo + jj]
        keep = ea != eb
        for a, b_, d in zip(ea[keep].tolist(), eb[keep].tolist(), d2[ii[keep], jj[keep]].tolist()):
            key = (a, b_) if a < b_ else (b_, a)
            out[key] = min(out.get(key, d), d)
    return [(a, b_, d) for (a, b_), d in sorted(out.items())]


class Router:
    """PathFinder over a :class:`_Graph`."""

    def __init__(self, frame: Frame, seed: int = 0, max_iter: int = 40, patience: int = 12):
        self.f = frame
        self.g = _Graph.__new__(_Graph)
        self.g.owner = {}
        _Graph.__init__(self.g, frame)
        self.seed = seed
        self.max_iter = max_iter
        self.patience = patience
        n = len(self.g.els)
        self.hist = [0.0] * n
        self.near: list[dict[str, int]] = [dict() for _ in range(n)]
        self.used: dict[str, list[int]] = {}
        self.pres = 0.5
        self.strict = False  # True: elements near other nets are not usable at all

    # -- bookkeeping --------------------------------------------------------------

    def _use(self, net: str, e: int, sign: int) -> None:
        near = self.near
        for v in self.g.conf_self[e]:
            d = near[v]
            c = d.get(net, 0) + sign
            if c:
                d[net] = c
            else:
                del d[net]

    def _cost(self, e: int, net: str) -> float:
        """(base + history) x (1 + present x other nets here), the PathFinder cost."""
        near = self.near[e]
        others = len(near) - (1 if net in near else 0)
        c = self.g.els[e].base + self.g.pitch * (0.2 + self.hist[e])
        return c * (1.0 + self.pres * others) if others else c

    def _usable(self, e: int, net: str) -> bool:
        a = self.g.allowed[e]
        if a is not None and a != net:
            return False
        if self.strict and self.near[e] and (len(self.near[e]) > 1 or net not in self.near[e]):
            return False
        return True

    # -- one net ----------------------------------------------------------------

    def _targets(self, net: str) -> list[tuple[set[int], bool]]:
        """Terminals as (node ids, connected): a connected set is one conductor (a strip, a gate);
        the pin landings are alternatives, of which the route takes one."""
        g = self.g
        out = []
        for t in self.f.terminals.get(net, []):
            ids = {g.node_id[k] for k in t.nodes if k in g.node_id}
            if not ids:
                raise RouteError(f"cell {self.f.cell.name}: net {net}: {t.what} has no grid node")
            out.append((ids, True))
        if net in g.pin_nodes:
            ids = {u for u in g.pin_nodes[net] if self._usable(g.adj[u][0][1], net)}
            if not ids:
                raise RouteError(f"cell {self.f.cell.name}: pin {net}: no legal pin landing")
            out.append((ids, False))
        return out

    def route_net(self, net: str) -> None:
        terms = self._targets(net)
        used: list[int] = []
        self.used[net] = used
        self.net_cuts: set[int] = set()  # everything this net uses (self-conflict checks)
        if not terms:
            return
        if len(terms) == 1 and not terms[0][1]:
            # a pin that connects nothing: its cheapest landing on its own
            u = min(terms[0][0], key=lambda v: (self._cost(self.g.adj[v][0][1], net), v))
            for e in (self.g.adj[u][0][1], self.g.node_el[self.g.adj[u][0][0]]):
                used.append(e)
                self._use(net, e, 1)
            return
        tree = set(terms[0][0])
        pending = terms[1:]
        while pending:
            path_nodes, path_els, hit = self._search(net, tree, [t for t, _ in pending])
            if hit is None:
                what = [t.what for t in self.f.terminals.get(net, [])]
                raise RouteError(f"cell {self.f.cell.name}: net {net}: no path between its terminals {what}")
            for e in path_els:
                used.append(e)
                self._use(net, e, 1)
                self.net_cuts.add(e)
            tree |= set(path_nodes)
            for t, conn in pending:
                if conn and t & tree:
                    tree |= t
            pending = [(t, c) for t, c in pending if not (t & tree)]

    def _search(self, net: str, tree: set[int], pending: list[set[int]]):
        """Cheapest path (A*) from the tree to any pending terminal node.

        States are (node, arrived through a cut): a first-metal node entered through a cut
        must be left along a first-metal wire, so no cut stack or pin landing ever leaves a
        first-metal island smaller than a wire segment (minimum area).
        """
        g = self.g
        target = set().union(*pending)
        m0, xy, adj, node_el, is_stack = g.is_m0, g.node_xy, g.adj, g.node_el, g.is_stack
        allowed, cut_conf, net_cuts = g.allowed, g.cut_conf, self.net_cuts
        near, hist, els, pitch, pres = self.near, self.hist, g.els, g.pitch, self.pres
        strict = self.strict
        pts = [xy[t] for t in target if xy[t] is not None]
        tx0, tx1 = min(p[0] for p in pts), max(p[0] for p in pts)
        ty0, ty1 = min(p[1] for p in pts), max(p[1] for p in pts)

        def cost(e: int) -> float:
            """PathFinder cost of element e for this net; -1 when it may not be used."""
            a = allowed[e]
            if a is not None and a != net:
                return -1.0
            nr = near[e]
            others = len(nr) - (1 if net in nr else 0) if nr else 0
            if others and strict:
                return -1.0
            c = els[e].base + pitch * (0.2 + hist[e])
            return c * (1.0 + pres * others) if others else c

        def h(v: int) -> float:
            p = xy[v]
            if p is None:
                return 0.0
            x, y = p
            return (tx0 - x if x < tx0 else x - tx1 if x > tx1 else 0) + \
                   (ty0 - y if y < ty0 else y - ty1 if y > ty1 else 0)

        dist = {2 * u: 0.0 for u in tree}
        parent: dict[int, tuple[int, int]] = {}
        heap = [(h(u), 0.0, 2 * u) for u in sorted(tree)]
        heapq.heapify(heap)
        inf = float("inf")
        push, pop = heapq.heappush, heapq.heappop
        while heap:
            _, d, su = pop(heap)
            if d > dist[su]:
                continue
            u = su >> 1
            if u in target:
                return self._backtrack(su, parent, tree)
            flag = su & 1
            for v, e in adj[u]:
                stacked = is_stack[e]
                if flag and stacked:
                    continue
                ce = cost(e)
                if ce < 0 or (cut_conf[e] and cut_conf[e] & net_cuts):
                    continue
                ve = node_el[v]
                if ve >= 0:
                    cv = cost(ve)
                    if cv < 0:
                        continue
                    ce += cv
                nd = d + ce
                sv = 2 * v + 1 if stacked and m0[v] else 2 * v
                if nd < dist.get(sv, inf):
                    dist[sv] = nd
                    parent[sv] = (su, e)
                    push(heap, (nd + h(v), nd, sv))
        return [], [], None

    def _backtrack(self, su: int, parent, tree):
        nodes, els = [su >> 1], []
        while su in parent:
            p, e = parent[su]
            els.append(e)
            ve = self.g.node_el[su >> 1]
            if ve >= 0:
                els.append(ve)
            nodes.append(p >> 1)
            su = p
        return nodes, els, True

    # -- all nets ---------------------------------------------------------------

    def nets(self) -> list[str]:
        names = sorted(set(self.f.terminals) | set(self.f.pins))
        names = [n for n in names if len(self._targets(n)) >= 1]
        names.sort(key=lambda n: (-len(self.f.terminals.get(n, [])), n))
        if self.seed and names:
            k = self.seed % len(names)
            names = names[k:] + names[:k]
        return names

    def rip(self, net: str) -> None:
        for e in self.used.pop(net, []):
            self._use(net, e, -1)

    def conflicts(self) -> dict[str, set[int]]:
        """Net -> its elements that conflict with another net's."""
        owner: dict[int, set[str]] = defaultdict(set)
        for net, els in self.used.items():
            for e in els:
                owner[e].add(net)
        bad: dict[str, set[int]] = defaultdict(set)
        for net, els in self.used.items():
            for e in els:
                if len(owner[e]) > 1 or any(owner.get(c, set()) - {net} for c in self.g.conf[e]):
                    bad[net].add(e)
        return bad

    def run(self) -> Routing:
        """PathFinder iterations (every net rerouted each time), then targeted rip-up and reroute."""
        order = self.nets()
        best, since = None, 0
        rng = random.Random(self.seed)
        for it in range(self.max_iter):
            # a different order each pass keeps PathFinder from oscillating (seeded: deterministic)
            turn = order if it == 0 else rng.sample(order, len(order))
            for net in turn:
                self.rip(net)
                self.route_net(net)
            bad = self.conflicts()
            if not bad:
                bad = self._drawing_problems()
                if not bad:
                    return self.result()
            n_bad = sum(len(v) for v in bad.values())
            best, since = (n_bad, 0) if best is None or n_bad < best else (best, since + 1)
            if since >= self.patience:
                break  # no progress: give up early, the caller tries another frame
            for els in bad.values():
                for e in els:
                    self.hist[e] += HIST_STEP
            self.pres *= PRES_GROWTH
        if self._repair(order):
            return self.result()
        bad = self.conflicts()
        if bad:
            raise RouteError(f"cell {self.f.cell.name}: routing congestion left nets {', '.join(sorted(bad))} "
                             "in conflict")
        # no conflict left: what failed is the drawing (a same-net gap or a piece below the minimum)
        gaps = ", ".join(sorted(self._drawing_problems())) or "none named"
        raise RouteError(f"cell {self.f.cell.name}: routing left nets {gaps} with gaps or pieces too small to "
                         "draw after PathFinder and the rip-up repair")

    def _drawing_problems(self) -> dict[str, set[int]]:
        """Net -> its elements next to a same-net gap or small piece the drawing cannot repair."""
        from nbcell.layout.geometry import repair_problems

        out: dict[str, set[int]] = defaultdict(set)
        for net, els in self.used.items():
            # cuts of one path may come too close to each other (the search checks committed ones)
            mine = set(els)
            for e in mine:
                if self.g.cut_conf[e] & mine:
                    out[net].add(e)
        if out:
            return out
        sp = self.g.sh.space
        for key, net, box in repair_problems(self.f, self.result()):
            for e in self.used.get(net, []):
                if any(k == key and box_dist(b, box) < sp[k] for k, b in self.g.els[e].shapes):
                    out[net].add(e)
        return out

    def _victims(self, net: str) -> set[str]:
        """Other nets that use elements conflicting with ``net``'s."""
        out = set()
        for e in self.used.get(net, []):
            out |= set(self.near[e]) - {net}
        return out

    def _repair(self, order: list[str], budget: int = 60) -> bool:
        """Reroute each conflicting net without conflicts; where it cannot, let it take the path
        with the fewest conflicts and reroute the nets it displaces (bounded by ``budget``)."""
        queue = sorted(self.conflicts(), key=order.index)
        ripped: dict[str, int] = defaultdict(int)
        while queue and budget > 0:
            net = queue.pop(0)
            self.rip(net)
            self.strict = True
            try:
                self.route_net(net)
                continue
            except RouteError:
                pass
            finally:
                self.strict = False
            self.rip(net)
            self.pres = 1e6
            self.route_net(net)
            victims = sorted(self._victims(net), key=lambda v: (ripped[v], order.index(v)))
            for v in victims:
                budget -= 1
                ripped[v] += 1
                self.rip(v)
                for e in self.used.get(net, []):
                    self.hist[e] += 0.5  # discourage the displaced net from coming straight back
                if v not in queue:
                    queue.append(v)
        return not queue and not self.conflicts() and not self._drawing_problems()

    def result(self) -> Routing:
        out = []
        for net in sorted(self.used):
            wires, vias, pin = [], [], None
            for e in self.used[net]:
                el = self.g.els[e]
                if el.kind == "wire":
                    wires.append(el.item)
                elif el.kind == "via":
                    vias.append(el.item)
                elif el.kind == "pin":
                    pin = el.item
            out.append(NetRoute(net, tuple(wires), tuple(vias), pin))
        return Routing(self.f.grid, tuple(out))


def route(frame: Frame, seed: int = 0, max_iter: int = 40, patience: int = 12) -> Routing:
    """Route every net of ``frame``; raises :class:`RouteError` when congestion remains."""
    return Router(frame, seed, max_iter, patience).run()
