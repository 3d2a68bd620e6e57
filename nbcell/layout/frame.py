"""From a placement to the physical frame the router works in (all coordinates in dbu).

The frame fixes everything that does not depend on routing: the x of every
placement column (from the rule-driven spacing of gates, contacts and
diffusion ends), the y of both diffusion rows, the diffusion rectangles, the
diffusion contacts with their metal strips, the gate poly with its stub into
the channel between the rows, the rails, and the routing grid with the
terminals of every net.

Rows: the N diffusion hangs from ``n_edge`` (its top, next to the channel),
the P diffusion stands on ``p_edge`` (its bottom); fingers of different width
line up on that edge, so contacts next to the channel always fit and narrow
fingers leave room near the rails.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from nbcell.layout.ir import Finger, Grid, Placement
from nbcell.layout.place import fingers as list_fingers
from nbcell.layout.rules import Enc, LayoutError, Rules, load_rules
from nbcell.netlist import Cell
from nbcell.pdk import Process

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in dbu


def pad(x: int, y: int, half: int, enc: Enc, orient: str) -> Box:
    """Box around a square cut of half size ``half`` centred at (x, y); ``orient`` 'v': big enclosure in y."""
    ex, ey = (enc.small, enc.big) if orient == "v" else (enc.big, enc.small)
    return (x - half - ex, y - half - ey, x + half + ex, y + half + ey)


def box_dist(a: Box, b: Box) -> float:
    """Euclidean distance between two boxes (0 when they touch or overlap)."""
    dx = max(0, max(a[0], b[0]) - min(a[2], b[2]))
    dy = max(0, max(a[1], b[1]) - min(a[3], b[3]))
    return math.hypot(dx, dy) if dx and dy else float(dx or dy)


@dataclass(frozen=True)
class RowGeom:
    """One diffusion row: ``edge`` is its channel-side edge (dbu), ``up`` True for the P row."""

    name: str
    edge: int
    up: bool

    def span(self, w: int) -> tuple[int, int]:
        """(y0, y1) of a diffusion ``w`` high, aligned on the channel edge."""
        return (self.edge, self.edge + w) if self.up else (self.edge - w, self.edge)


@dataclass
class DiffNode:
    """A diffusion column in one row: its net, contact centres and metal strip (dbu)."""

    row: str
    k: int
    net: str
    contacted: bool
    contacts: list[tuple[int, int]] = field(default_factory=list)
    strip: Box | None = None
    span: tuple[int, int] | None = None  # y range of the diffusion under this column (contacted nodes)


@dataclass
class Terminal:
    """Grid nodes (layer, ix, iy) any of which connects the terminal; ``what`` for messages."""

    nodes: frozenset[tuple[int, int, int]]
    what: str


@dataclass
class Frame:
    """Everything placed before routing (dbu)."""

    cell: Cell
    process: Process
    rules: Rules
    placement: Placement
    fingers: dict[tuple[str, int], Finger]
    width: int
    height: int
    col_x: list[int]
    rows: dict[str, RowGeom]
    comps: list[tuple[str, Box]]
    diff_nodes: list[DiffNode]
    gate_poly: list[tuple[str, Box]]
    grid: Grid
    gap: list[int]                      # iy of the channel tracks
    rail_iy: dict[str, int]             # rail net -> iy of its track
    fixed: list[tuple[str, Box, str]]   # (layer key, box, net)
    terminals: dict[str, list[Terminal]]
    pins: list[str]                     # signal pins needing a pin-access point
    power: dict[str, str]               # rail net -> "n" (bottom) / "p" (top)
    #: signal diffusion terminals: (net, description, candidate contact points (ix, iy)); the router
    #: reaches site i through the pseudo node (-1, i, 0) and one diffusion contact
    diff_sites: list[tuple[str, str, list[tuple[int, int]]]] = field(default_factory=list)
    #: row -> iy of the poly lane between that row's diffusion and its rail (when there is room)
    outer: dict[str, int] = field(default_factory=dict)

    @property
    def dbu(self) -> float:
        return self.rules.dbu


class _Builder:
    """Builds a :class:`Frame`; one method per step, in call order."""

    def __init__(self, cell: Cell, process: Process, placement: Placement):
        self.cell, self.process, self.placement = cell, process, placement
        self.tpl = process.template
        self.r = load_rules(process)
        self.to = lambda um: round(um / self.r.dbu)
        self.fs = {(f.device, f.index): f for f in list_fingers(cell)}
        self.G = placement.columns
        self.H = self.to(self.tpl.height)
        sup = process.supplies
        self.power = {}
        for rail in self.tpl.rails:
            self.power[rail.net] = "n" if rail.y0 < self.tpl.height / 2 else "p"
        self.rail_nets = {sup.power, sup.ground}

    # -- basic lookups --------------------------------------------------------

    def finger(self, row: str, g: int) -> Finger | None:
        if g < 0 or g >= self.G:
            return None
        slot = self.placement.row(row)[g]
        return None if slot is None else self.fs[(slot.device, slot.finger)]

    def sides(self, row: str, g: int) -> tuple[str | None, str | None]:
        slot = self.placement.row(row)[g] if 0 <= g < self.G else None
        if slot is None:
            return (None, None)
        return self.fs[(slot.device, slot.finger)].sides(slot.flip)

    def diff_net(self, row: str, k: int) -> str | None:
        """Net of diffusion column ``k`` in ``row`` (None when no finger touches it)."""
        return self.sides(row, k - 1)[1] or self.sides(row, k)[0]

    def bridged(self, row: str, g: int) -> bool:
        """Empty gate column ``g`` with the same net on both sides: the diffusion continues."""
        if self.finger(row, g) is not None:
            return False
        a, b = self.sides(row, g - 1)[1], self.sides(row, g + 1)[0]
        return a is not None and a == b

    def gl(self, f: Finger) -> int:
        return self.to(f.l)

    def gw(self, f: Finger) -> int:
        return self.to(f.w)

    # -- connectivity ---------------------------------------------------------

    def contacted_nets(self) -> set[str]:
        """Nets whose diffusion needs contacts: more than one place to connect."""
        count: dict[str, int] = {}
        for row in ("n", "p"):
            k = 0
            while k <= self.G:
                net = self.diff_net(row, k)
                if net is not None:
                    count[net] = count.get(net, 0) + 1
                    while k < self.G and self.bridged(row, k) and self.diff_net(row, k + 1) == net:
                        k += 1
                k += 1
        gates = set()
        for g in range(self.G):
            nets = {f.gate for f in (self.finger("n", g), self.finger("p", g)) if f}
            gates |= {(g, n) for n in nets}
        for _, net in gates:
            count[net] = count.get(net, 0) + 1
        for net in set(self.cell.pins) | self.rail_nets:
            count[net] = count.get(net, 0) + 1
        return {n for n, c in count.items() if c > 1}

    # -- x positions ----------------------------------------------------------

    def solve_x(self) -> None:
        """Column x positions from the spacing rules; the cell width on the site grid."""
        r, C = self.r, 2 * self.G + 1
        self.contacted = self.contacted_nets()
        cons: list[tuple[int, int, int]] = []
        edge_l, edge_r = [0] * C, [0] * C
        cut2 = r["co.size"] // 2
        denc = r.co_enc("diff")
        hc = r["co.size"] + 2 * denc.big
        m0pad = cut2 + r.enc("m0", "co").small
        for row in ("n", "p"):
            self._row_constraints(row, cons, edge_l, edge_r, cut2, denc, hc)
        poly_pad = cut2 + r.co_enc("poly").big
        for g in range(self.G):
            fs = [f for f in (self.finger("n", g), self.finger("p", g)) if f]
            if fs:
                half = max(max(self.gl(f) for f in fs) // 2, poly_pad)
                need = half + r.snap_up(r["poly.space"] // 2 + r["poly.space"] % 2)
                edge_l[2 * g + 1] = max(edge_l[2 * g + 1], need)
                edge_r[2 * g + 1] = max(edge_r[2 * g + 1], need)
        for c in range(C):
            need = m0pad + r.snap_up((r["m0.space"] + 1) // 2)
            edge_l[c] = max(edge_l[c], need)
            edge_r[c] = max(edge_r[c], need)
        pitch = r["m0.width"] + r["m0.space"]
        for g in range(self.G):
            if self.finger("n", g) is None and self.finger("p", g) is None:
                # an empty gate column is a routing line: keep a first-metal pitch on both sides
                cons += [(2 * g, 2 * g + 1, pitch), (2 * g + 1, 2 * g + 2, pitch)]
        x = self._longest_path(C, cons, edge_l)
        self.col_x = x
        right = max(x[c] + edge_r[c] for c in range(C))
        site = self.to(self.tpl.site.width)
        self.width = max(site, -(-right // site) * site)
        self._shift(self.width - right)

    def _row_constraints(self, row, cons, edge_l, edge_r, cut2, denc: Enc, hc: int) -> None:
        r = self.r
        sd_ext, to_gate, to_diff = r["diff.sd_ext"], r["co.to_gate"], r["poly.to_diff"]
        half_ps = r.snap_up((r["poly.space"] + 1) // 2)
        end_off = cut2 + denc.small
        ends: list[tuple[str, list[tuple[int, int]]]] = []  # ("start"/"end", [(col, offset)])
        for g in range(self.G):
            f = self.finger(row, g)
            if f is None:
                continue
            c, L, W = 2 * g + 1, self.gl(f), self.gw(f)
            for k, sign in ((g, -1), (g + 1, 1)):
                net = self.diff_net(row, k)
                neigh = self.finger(row, k - 1 if sign < 0 else k)
                if net in self.contacted:
                    d = L // 2 + to_gate + cut2
                    if W < hc:  # dogbone: the wider contact landing keeps the S/D extension clear
                        d = max(d, L // 2 + max(sd_ext, to_diff) + end_off)
                elif neigh is not None:
                    d = L // 2 + half_ps
                else:
                    d = 0
                if d:
                    cons.append((2 * k, c, d) if sign < 0 else (c, 2 * k, d))
            nb = self.finger(row, g + 1)
            if nb is not None and self.gw(nb) != W:
                Ln = self.gl(nb)
                cons.append((c, c + 2, L // 2 + sd_ext + to_diff + Ln // 2))
            # island ends: comp end = max(contact landing, gate + S/D extension)
            left_open = self.finger(row, g - 1) is None and not (g > 0 and self.bridged(row, g - 1))
            right_open = nb is None and not (g + 1 < self.G and self.bridged(row, g + 1))
            if left_open:
                opts = [(c, L // 2 + sd_ext)]
                if self.diff_net(row, g) in self.contacted:
                    opts.append((2 * g, end_off))
                ends.append(("start", opts))
            if right_open:
                opts = [(c, L // 2 + sd_ext)]
                if self.diff_net(row, g + 1) in self.contacted:
                    opts.append((2 * g + 2, end_off))
                ends.append(("end", opts))
        half_ds = diff_edge_room(self.process, r, row)
        for i, (kind, opts) in enumerate(ends):
            if kind == "start" and i == 0:
                for col, off in opts:
                    edge_l[col] = max(edge_l[col], off + half_ds)
            if kind == "end" and i == len(ends) - 1:
                for col, off in opts:
                    edge_r[col] = max(edge_r[col], off + half_ds)
            if kind == "end" and i + 1 < len(ends):
                for ca, oa in opts:
                    for cb, ob in ends[i + 1][1]:
                        if cb > ca:
                            cons.append((ca, cb, oa + r["diff.space"] + ob))

    def _longest_path(self, C: int, cons, edge_l) -> list[int]:
        incoming: dict[int, list[tuple[int, int]]] = {}
        for a, b, d in cons:
            if b <= a:
                raise LayoutError(f"cell {self.cell.name}: internal error, constraint {a}->{b}")
            incoming.setdefault(b, []).append((a, d))
        g = self.r.grid
        x = [0] * C
        for c in range(C):
            v = edge_l[c]
            if c:
                v = max(v, x[c - 1] + g)
            for a, d in incoming.get(c, ()):
                v = max(v, x[a] + d)
            x[c] = self.r.snap_up(v)
        return x

    def _shift(self, slack: int) -> None:
        """Spend the slack to the site grid: put as many columns as possible on second-metal tracks."""
        g = self.r.grid
        best = (-1, 0)
        pitch, off = self._m1_vertical_tracks()
        for s in range(0, slack + 1, g):
            on = sum(1 for x in self.col_x if pitch and (x + s - off) % pitch == 0) if pitch else 0
            score = (on, -abs(2 * s - slack))
            if best[0] == -1 or score > best[0]:
                best = (score, s)
        s = best[1]
        self.col_x = [x + s for x in self.col_x]

    def _m1_vertical_tracks(self) -> tuple[int, int]:
        """(pitch, offset) of the second metal's tracks if it runs vertically, else (0, 0)."""
        tr = self.tpl.tracks.get(self.m1_layer)
        if tr is None or tr.direction != "vertical":
            return (0, 0)
        return (self.to(tr.pitch), self.to(tr.offset))

    # -- rows, diffusion, contacts, gates ---------------------------------------

    def place_rows(self) -> None:
        r = self.r
        hc = r["co.size"] + 2 * r.co_enc("diff").big
        ws = {row: [self.gw(f) for f in self.fs.values() if f.type == row] for row in ("n", "p")}
        max_w = {row: max([hc] + ws[row]) for row in ws}
        (n_lo, n_hi), (p_lo, p_hi) = row_limits(self.process, r)
        n_edge = n_lo + max_w["n"]
        # a signal contact at the channel edge keeps the first-metal space to the ground rail
        rails = [n for n, side in self.power.items() if side == "n"]
        if rails:
            low = self._rail_m0_box(rails[0])[3] + r["m0.space"] + r["co.size"] // 2 + r.enc("m0", "co").small
            n_edge = max(n_edge, r.snap_up(low + r["co.size"] // 2 + r.co_enc("diff").big))
        if n_edge > n_hi or p_lo + max_w["p"] > p_hi:
            raise LayoutError(f"cell {self.cell.name}: fingers too wide for the template rows "
                              f"(n {max_w['n'] * r.dbu:g}, p {max_w['p'] * r.dbu:g} um)")
        self.rows = {"n": RowGeom("n", n_edge, False), "p": RowGeom("p", p_lo, True)}
        # the channel tracks closest to the rows: as close as a poly contact may come to diffusion
        self.gap_lo, self.gap_hi = poly_contact_span(self.process, r, n_edge + r["co.poly_to_diff"] + r["co.size"] // 2,
                                                     p_lo - r["co.poly_to_diff"] - r["co.size"] // 2)

    def draw_diffusion(self) -> None:
        """Diffusion rectangles per finger (channel-edge aligned), island ends, bridges, dogbones."""
        r = self.r
        self.comps: list[tuple[str, Box]] = []
        cut2 = r["co.size"] // 2
        denc = r.co_enc("diff")
        hc = r["co.size"] + 2 * denc.big
        x = self.col_x
        for row in ("n", "p"):
            rg = self.rows[row]
            for g in range(self.G):
                f = self.finger(row, g)
                if f is None:
                    if self.bridged(row, g):
                        w = min(self.gw(self.finger(row, g - 1)), self.gw(self.finger(row, g + 1)))
                        y0, y1 = rg.span(w)
                        self.comps.append((row, (x[2 * g], y0, x[2 * g + 2], y1)))
                    continue
                L, W = self.gl(f), self.gw(f)
                xg = x[2 * g + 1]
                lo = self._comp_side(row, g, -1, f, cut2, denc)
                hi = self._comp_side(row, g, 1, f, cut2, denc)
                y0, y1 = rg.span(W)
                self.comps.append((row, (lo, y0, hi, y1)))
                if W < hc:
                    for k in (g, g + 1):
                        if self.diff_net(row, k) in self.contacted:
                            a, b = rg.span(hc)
                            e = cut2 + denc.small
                            self.comps.append((row, (x[2 * k] - e, a, x[2 * k] + e, b)))
                del L, xg

    def _comp_side(self, row, g, sign, f, cut2, denc) -> int:
        """x where finger ``g``'s diffusion ends on one side (sign -1 left, +1 right)."""
        x, r = self.col_x, self.r
        L, W = self.gl(f), self.gw(f)
        xg = x[2 * g + 1]
        k = g if sign < 0 else g + 1
        xd = x[2 * k]
        neigh = self.finger(row, g + sign)
        if neigh is not None and self.gw(neigh) != W:
            # the wider finger keeps its full width for the S/D extension, then steps down
            if self.gw(neigh) < W:
                return xg + sign * (L // 2 + r["diff.sd_ext"])
            xn = x[2 * (g + sign) + 1]
            return xn - sign * (self.gl(neigh) // 2 + r["diff.sd_ext"])
        if neigh is not None:
            return xd
        if 0 <= g + sign < self.G and self.bridged(row, g + sign):
            other = self.finger(row, g + 2 * sign)
            if self.gw(other) < W:  # the bridge is as narrow as the narrower finger
                return xg + sign * max(abs(xd - xg), L // 2 + r["diff.sd_ext"])
            return xd
        ext = L // 2 + r["diff.sd_ext"]
        if self.diff_net(row, k) in self.contacted:
            ext = max(ext, abs(xd - xg) + cut2 + denc.small)
        return xg + sign * ext

    def contacts(self) -> None:
        """Rail nets get fixed contact strips to their rail; other contacted diffusion gets a span
        (``DiffNode.span``) in which the router chooses contacts."""
        r = self.r
        cut, cut2 = r["co.size"], r["co.size"] // 2
        denc = r.co_enc("diff")
        menc = r.enc("m0", "co")
        self.diff_nodes: list[DiffNode] = []
        hc = cut + 2 * denc.big
        for row in ("n", "p"):
            rg = self.rows[row]
            for k in range(self.G + 1):
                net = self.diff_net(row, k)
                if net is None:
                    continue
                node = DiffNode(row, k, net, net in self.contacted)
                self.diff_nodes.append(node)
                if not node.contacted:
                    continue
                near = [self.finger(row, k - 1), self.finger(row, k)]
                # a bridge over an empty gate column is only as wide as its narrower finger
                if k - 1 >= 0 and self.bridged(row, k - 1):
                    near.append(self.finger(row, k - 2))
                if k < self.G and self.bridged(row, k):
                    near.append(self.finger(row, k + 1))
                ws = [self.gw(f) for f in near if f]
                node.span = rg.span(max(min(ws), hc))
                if self.power.get(net) == row:
                    self._rail_strip(node, rg, cut, cut2, denc, menc)

    def _rail_strip(self, node: DiffNode, rg: RowGeom, cut: int, cut2: int, denc: Enc, menc: Enc) -> None:
        """Contacts from the rail side of the diffusion towards the channel, while the strip keeps a
        first-metal wire on the outermost channel track clear; the strip runs into the rail."""
        r = self.r
        y0, y1 = node.span
        step = cut + r["co.space"]
        clear = r["m0.width"] // 2 + r["m0.space"] + cut2 + menc.big
        first = y1 - denc.big - cut2 if rg.up else y0 + denc.big + cut2
        ys = []
        for j in range(64):
            yc = first - j * step if rg.up else first + j * step
            if yc - cut2 - denc.big < y0 or yc + cut2 + denc.big > y1:
                break
            if ys and (yc > self.gap_lo - clear if not rg.up else yc < self.gap_hi + clear):
                break
            ys.append(yc)
        xk = self.col_x[2 * node.k]
        node.contacts = [(xk, y) for y in ys]
        sx = cut2 + menc.small
        rail = self._rail_box(node.net)
        if rg.up:
            node.strip = (xk - sx, min(ys) - cut2 - menc.big, xk + sx, rail[3])
        else:
            node.strip = (xk - sx, rail[1], xk + sx, max(ys) + cut2 + menc.big)

    def _signal_limit(self, row: str, net: str, menc: Enc):
        """Predicate on a contact centre y: its metal pad keeps the m0 space to the rail of its row."""
        if self.power.get(net) == row:
            return None
        rails = [n for n, side in self.power.items() if side == row]
        if not rails:
            return None
        rb = self._rail_m0_box(rails[0])
        half = self.r["co.size"] // 2 + menc.big
        sp = self.r["m0.space"]
        if row == "n":
            return lambda y: y - half >= rb[3] + sp
        return lambda y: y + half <= rb[1] - sp

    def _rail_box(self, net: str) -> Box:
        rail = next(rl for rl in self.tpl.rails if rl.net == net)
        return (0, self.to(rail.y0), getattr(self, "width", 0), self.to(rail.y1))

    def _rail_m0_box(self, net: str) -> Box:
        """The rail's shape on the first routing metal (the rail itself, or the strip under it)."""
        rail = next(rl for rl in self.tpl.rails if rl.net == net)
        if rail.layer == self.m0_layer:
            return self._rail_box(net)
        yc = (self.to(rail.y0) + self.to(rail.y1)) // 2
        h = self.r["m0.width"] // 2
        return (0, yc - h, getattr(self, "width", 0), yc + h)

    @property
    def m0_layer(self) -> str:
        return self.tpl.layer_roles[routing_roles(self.tpl)["m0"]]

    @property
    def m1_layer(self) -> str:
        return self.tpl.layer_roles[routing_roles(self.tpl)["m1"]]

    def gates(self) -> None:
        """Gate poly over each finger (with endcap) and, per gate column, the poly into the channel."""
        r = self.r
        self.gate_poly: list[tuple[str, Box]] = []
        for g in range(self.G):
            xg = self.col_x[2 * g + 1]
            for row in ("n", "p"):
                f = self.finger(row, g)
                if f is None:
                    continue
                L, W = self.gl(f), self.gw(f)
                y0, y1 = self.rows[row].span(W)
                y0, y1 = (y0, y1 + r["poly.endcap"]) if self.rows[row].up else (y0 - r["poly.endcap"], y1)
                self.gate_poly.append((f.gate, (xg - L // 2, y0, xg + L // 2, y1)))


def routing_roles(tpl) -> dict[str, str]:
    """Template layer roles of the routing metals and cuts: ``m0``/``m1``/``m2`` the first/second/
    third routing metal, ``cut1``/``cut2`` the cuts between them (with local interconnect: li1,
    met1, met2 and mcon, via; else metal 1 to 3 and via1, via2)."""
    if "li" in tpl.layer_roles:
        return {"m0": "li", "m1": "m1", "m2": "m2", "cut1": "mcon", "cut2": "via1"}
    return {"m0": "m1", "m1": "m2", "m2": "m3", "cut1": "via1", "cut2": "via2"}


def row_limits(process: Process, r: Rules) -> tuple[tuple[int, int], tuple[int, int]]:
    """(y0, y1) in dbu where N and P diffusion may go: the template rows, kept clear of the
    n-well edge (N diffusion space, P diffusion enclosure) and far enough from the cell edge
    for the gate endcap and half the poly space to the next row, and clear of a template npc band."""
    tpl = process.template
    to = lambda um: round(um / r.dbu)  # noqa: E731
    end_room = r.snap_up((r["poly.space"] + 1) // 2) + r["poly.endcap"]
    well = to(tpl.wells["nwell"].y0) if "nwell" in tpl.wells else None
    n_lo = max(to(tpl.n_row.y0), end_room)
    n_hi = to(tpl.n_row.y1)
    p_lo = to(tpl.p_row.y0)
    p_hi = min(to(tpl.p_row.y1), to(tpl.height) - end_room)
    if well is not None:
        n_hi = min(n_hi, well - r["well.ndiff_space"])
        p_lo = max(p_lo, well + r["well.pdiff_enc"])
    npc = tpl.implants.get(tpl.layer_roles.get("npc", ""))
    if npc is not None and r.get("npc.to_gate"):
        # the template's npc band between the rows keeps its space to every gate (npc.4 in sky130)
        n_hi = min(n_hi, to(npc.y0) - r["npc.to_gate"])
        p_lo = max(p_lo, to(npc.y1) + r["npc.to_gate"])
    pimp = tpl.implants.get(tpl.layer_roles.get("pimplant", ""))
    if pimp is not None and r.get("pimplant.gate_enc"):
        # the P implant over the row encloses every P gate (pSD.i in sg13g2)
        p_lo = max(p_lo, to(pimp.y0) + r["pimplant.gate_enc"])
        p_hi = min(p_hi, to(pimp.y1) - r["pimplant.gate_enc"])
    # a tie strip under a rail keeps the diffusion space, and the gate endcap the poly-to-diffusion
    # space; its P implant keeps its space to the N gates (pSD.j in sg13g2)
    clear = max(r["diff.space"], r["poly.to_diff"] + r["poly.endcap"])
    for tie in tpl.ties:
        if tie.y1 < tpl.height / 2:
            n_lo = max([n_lo, to(tie.y1) + clear] + [to(s.y1) + r.get("pimplant.ngate_space") for s in tie.implants.values()])
        else:
            p_hi = min(p_hi, to(tie.y0) - clear)
    return (n_lo, n_hi), (p_lo, p_hi)


def diff_edge_room(process: Process, r: Rules, row: str) -> int:
    """Closest a ``row`` diffusion may come to a cell's side edge (dbu): half the diffusion space
    (the neighbour keeps the other half), and its implant's enclosure less how far the template's
    implant runs past the edge (pSD.c in sg13g2)."""
    tpl = process.template
    room = r.snap_up((r["diff.space"] + 1) // 2)
    kind = "nimplant" if row == "n" else "pimplant"
    imp = tpl.implants.get(tpl.layer_roles.get(kind, ""))
    if imp is not None and r.get(f"{kind}.diff_enc"):
        room = max(room, r[f"{kind}.diff_enc"] - round(imp.x_overhang / r.dbu))
    return room


def poly_contact_span(process: Process, r: Rules, lo: int, hi: int) -> tuple[int, int]:
    """The part of ``lo..hi`` (dbu, poly-contact centres between the rows) inside the template's npc
    band with its enclosure (licon.15 in sky130) and clear of the P implant (licon.9); ``hi < lo``
    when none is."""
    tpl = process.template
    half = r["co.size"] // 2
    band = tpl.implants.get(tpl.layer_roles.get("npc", ""))
    if band is not None:
        lo = max(lo, r.snap_up(round(band.y0 / r.dbu) + r.get("npc.enc") + half))
        hi = min(hi, (round(band.y1 / r.dbu) - r.get("npc.enc") - half) // r.grid * r.grid)
    imp = tpl.implants.get(tpl.layer_roles.get("pimplant", ""))
    if imp is not None and r.get("co.poly_to_pimplant"):
        hi = min(hi, (round(imp.y0 / r.dbu) - r["co.poly_to_pimplant"] - half) // r.grid * r.grid)
    return lo, hi


def fit_rows(cell: Cell, process: Process, scale: float = 1.0) -> Cell:
    """``cell`` with fingers too wide for the diffusion rows split into more, narrower ones
    (same total width to the manufacturing grid, which LVS accepts). ``scale`` < 1 caps the
    fingers lower still: shorter rows leave a wider routing channel between them."""
    r = load_rules(process)
    (n_lo, n_hi), (p_lo, p_hi) = row_limits(process, r)
    low = max(r["diff.width"], r["co.size"] + 2 * r.co_enc("diff").big)
    cap = {k: max(low, int(v * scale) // r.grid * r.grid) if scale < 1 else v
           for k, v in (("n", n_hi - n_lo), ("p", p_hi - p_lo))}
    out = []
    changed = False
    for t in cell.transistors:
        w = round(t.w / r.dbu)
        if w <= cap[t.type]:
            out.append(t)
            continue
        if cap[t.type] < r["diff.width"]:
            raise LayoutError(f"cell {cell.name}: the {t.type} row holds no transistor")
        total = w * t.nf * t.m
        nf = -(-total // cap[t.type])
        if scale < 1:
            # narrower only while every finger keeps a contactable width
            nf = min(nf, max(t.nf * t.m, total // low))
            if nf <= t.nf * t.m:
                out.append(t)
                continue
        wf = (total // nf) // r.grid * r.grid
        out.append(t.with_(w=wf * r.dbu, nf=nf, m=1))
        changed = True
    if not changed:
        return cell
    return Cell(cell.name, cell.pins, out, list(cell.devices), cell.ref, dict(cell.pin_directions))


def build_frame(cell: Cell, process: Process, placement: Placement) -> Frame:
    """The physical frame of ``placement`` (see :mod:`nbcell.layout.grid` for the routing grid)."""
    from nbcell.layout.grid import finish_frame

    if process.template is None:
        raise LayoutError(f"process {process.name} has no cell template; it cannot be a layout target")
    b = _Builder(cell, process, placement)
    b.place_rows()
    b.solve_x()
    b.draw_diffusion()
    b.contacts()
    b.gates()
    return finish_frame(b)
