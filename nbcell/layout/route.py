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
from collections import defaultdict
from dataclasses import dataclass

from nbcell.layout.frame import Box, Frame, box_dist
from nbcell.layout.ir import Node, NetRoute, Routing, Via, Wire
from nbcell.layout.rules import LayoutError
from nbcell.layout.shapes import CUT_KEYS, Shapes

BLOCKED = "\0blocked"


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
        self._build_nodes(nx, ny)
        self._build_wires(nx, ny)
        self._build_vias(nx, ny, pitch)
        self._build_pins(pitch)
        self._build_diff_sites(pitch)
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
        gap = set(self.f.gap)
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
        weight = {0: (4.0, 4.0), 1: (1.0, 1.0), 2: (6.0, 1.6) if m1v else (1.6, 6.0)}
        for layer in (0, 1, 2):
            for iy in range(ny):
                if layer == 0 and iy not in gap:
                    continue
                for ix in range(nx - 1):
                    self._wire(layer, ix, iy, ix + 1, iy, weight[layer][0] * (xs[ix + 1] - xs[ix]))
            rows = gap if layer == 0 else list(range(ny))
            for ix in range(nx):
                for a, b in zip(rows, rows[1:]):
                    self._wire(layer, ix, a, ix, b, weight[layer][1] * (ys[b] - ys[a]))

    def _wire(self, layer: int, ix0: int, iy0: int, ix1: int, iy1: int, cost: float) -> None:
        w = Wire(layer, ix0, iy0, ix1, iy1)
        el = self._add_el("wire", self.sh.wire(w), cost, w)
        self._link(self.node_id[(layer, ix0, iy0)], self.node_id[(layer, ix1, iy1)], el)

    def _build_vias(self, nx: int, ny: int, pitch: int) -> None:
        for ix in range(nx):
            for iy in range(ny):
                for lower in (0, 1):
                    a = self.node_id.get((lower, ix, iy))
                    if a is None:
                        continue
                    b = self.node_id[(lower + 1, ix, iy)]
                    for orient in ("v", "h"):
                        v = Via(lower, ix, iy, orient)
                        el = self._add_el("via", self.sh.via(v), (1.0 if lower == 0 else 2.0) * pitch, v)
                        self._link(a, b, el)

    def _build_pins(self, pitch: int) -> None:
        """A pseudo node per pin net and on-track first-metal node, reached through a pin landing."""
        g = self.f.grid
        for net in self.f.pins:
            ids = []
            for ix in range(self.nx):
                for iy in range(self.ny):
                    if not (g.x_on_track[ix] or g.y_on_track[iy]):
                        continue
                    nid = len(self.node_key)
                    self.node_key.append((3, ix, iy))
                    self.node_el.append(-1)
                    self.adj.append([])
                    el = self._add_el("pin", self.sh.pin(ix, iy), 0.5 * pitch, Node(1, ix, iy))
                    self._link(self.node_id[(1, ix, iy)], nid, el)
                    self.owner[el] = net
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
                    if box_dist(box, fbox) < sp:
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
        """``conf[e]``: elements that no other net may use together with ``e``."""
        sh = self.sh
        cell = 4 * self.pitch
        buckets: dict[tuple[str, int, int], list[int]] = defaultdict(list)
        live = [e for e in range(len(self.els)) if self.allowed[e] != BLOCKED]
        for e in live:
            for key, box in self.els[e].shapes:
                sp = sh.space[key]
                for bx in range((box[0] - sp) // cell, (box[2] + sp) // cell + 1):
                    for by in range((box[1] - sp) // cell, (box[3] + sp) // cell + 1):
                        buckets[(key, bx, by)].append(e)
        conf: list[set[int]] = [set() for _ in self.els]
        cut_conf: list[set[int]] = [set() for _ in self.els]
        for (key, _, _), members in buckets.items():
            sp = sh.space[key]
            boxes = [(e, [b for k, b in self.els[e].shapes if k == key]) for e in members]
            for i in range(len(boxes)):
                ea, ba = boxes[i]
                for j in range(i + 1, len(boxes)):
                    eb, bb = boxes[j]
                    if eb in conf[ea]:
                        continue
                    if not any(box_dist(x, y) < sp for x in ba for y in bb):
                        continue
                    if key in CUT_KEYS:
                        # one net's own cuts keep their space too
                        cut_conf[ea].add(eb)
                        cut_conf[eb].add(ea)
                    a_res, b_res = self.allowed[ea], self.allowed[eb]
                    if a_res is not None and a_res == b_res:
                        continue  # both reserved for the same net: never a conflict
                    conf[ea].add(eb)
                    conf[eb].add(ea)
        self.conf = [sorted(c) for c in conf]
        self.cut_conf = [frozenset(c) for c in cut_conf]


class Router:
    """PathFinder over a :class:`_Graph`."""

    def __init__(self, frame: Frame, seed: int = 0, max_iter: int = 40):
        self.f = frame
        self.g = _Graph.__new__(_Graph)
        self.g.owner = {}
        _Graph.__init__(self.g, frame)
        self.seed = seed
        self.max_iter = max_iter
        n = len(self.g.els)
        self.hist = [0.0] * n
        self.near: list[dict[str, int]] = [dict() for _ in range(n)]
        self.used: dict[str, list[int]] = {}
        self.pres = 0.5

    # -- bookkeeping --------------------------------------------------------------

    def _use(self, net: str, e: int, sign: int) -> None:
        for v in self.g.conf[e] + [e]:
            d = self.near[v]
            d[net] = d.get(net, 0) + sign
            if d[net] == 0:
                del d[net]

    def _cost(self, e: int, net: str) -> float:
        others = len(self.near[e]) - (1 if net in self.near[e] else 0)
        return self.g.els[e].base + self.g.pitch * (self.hist[e] + self.pres * others)

    def _usable(self, e: int, net: str) -> bool:
        a = self.g.allowed[e]
        return a is None or a == net

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
        self.net_cuts: set[int] = set()
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
                if self.g.els[e].kind == "via":
                    self.net_cuts.add(e)
            tree |= set(path_nodes)
            for t, conn in pending:
                if conn and t & tree:
                    tree |= t
            pending = [(t, c) for t, c in pending if not (t & tree)]

    def _search(self, net: str, tree: set[int], pending: list[set[int]]):
        g = self.g
        target = set().union(*pending)
        dist = {u: 0.0 for u in tree}
        parent: dict[int, tuple[int, int]] = {}
        heap = [(0.0, u) for u in sorted(tree)]
        heapq.heapify(heap)
        while heap:
            d, u = heapq.heappop(heap)
            if d > dist.get(u, float("inf")):
                continue
            if u in target:
                return self._backtrack(u, parent, tree)
            for v, e in g.adj[u]:
                if not self._usable(e, net) or (g.cut_conf[e] and g.cut_conf[e] & self.net_cuts):
                    continue
                ve = g.node_el[v]
                if ve >= 0 and not self._usable(ve, net):
                    continue
                nd = d + self._cost(e, net) + (self._cost(ve, net) if ve >= 0 else 0.0)
                if nd < dist.get(v, float("inf")):
                    dist[v] = nd
                    parent[v] = (u, e)
                    heapq.heappush(heap, (nd, v))
        return [], [], None

    def _backtrack(self, u: int, parent, tree):
        nodes, els = [u], []
        while u not in tree:
            p, e = parent[u]
            els.append(e)
            ve = self.g.node_el[u]
            if ve >= 0:
                els.append(ve)
            nodes.append(p)
            u = p
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
        order = self.nets()
        todo = order
        for it in range(self.max_iter):
            for net in todo:
                self.rip(net)
                self.route_net(net)
            bad = self.conflicts()
            if not bad:
                return self.result()
            for els in bad.values():
                for e in els:
                    self.hist[e] += 1.0
            self.pres *= 1.7
            todo = [n for n in order if n in bad]
        bad = self.conflicts()
        raise RouteError(f"cell {self.f.cell.name}: routing congestion left nets {sorted(bad)} in conflict "
                         f"after {self.max_iter} iterations")

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


def route(frame: Frame, seed: int = 0, max_iter: int = 40) -> Routing:
    """Route every net of ``frame``; raises :class:`RouteError` when congestion remains."""
    return Router(frame, seed, max_iter).run()
