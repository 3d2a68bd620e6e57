"""Gridded layouts: place, build the track frame, route, draw (a ``klayout.db`` cell), label.

The first routing metal is metal 1 where contacts land on it (gf180mcu, sg13g2)
and li1 where the process has local interconnect (sky130: li1, mcon, met1).
When a placement cannot be routed, an empty gate column inserted where the
conflicts remained (``insert_column``) adds a line of routing room; what is tried
and in which order is :mod:`nbcell.attempts`'s to decide.
"""

from __future__ import annotations

import klayout.db as db

from nbcell.layout.frame import routing_roles
from nbcell.layout.ir import Placement
from nbcell.layout.maze import NetWires
from nbcell.layout.rules import LayoutError
from nbcell.layout.template import template_boxes
from nbcell.layout.tracks import TrackFrame
from nbcell.netlist import Cell


class _Draw:
    """Shapes of one gridded cell into ``top`` (all dbu)."""

    def __init__(self, f: TrackFrame, wires: dict[str, NetWires], layout: db.Layout, top: db.Cell):
        self.f, self.wires, self.ly, self.top = f, wires, layout, top
        tpl = f.process.template
        self.roles = tpl.layer_roles
        self.tech = f.process.technology
        self.regions: dict[str, db.Region] = {}
        self.net_m0: dict[str, db.Region] = {}
        self.net_m1: dict[str, db.Region] = {}
        self.net_m2: dict[str, db.Region] = {}

    def add(self, role: str, box) -> None:
        self.regions.setdefault(role, db.Region()).insert(db.Box(*box))

    def node_pad(self, c: int, t: int):
        d = self.f.dims
        x, y = self.f.x(c), self.f.ys[t]
        return (x - d.hx0, y - d.hy0, x + d.hx0, y + d.hy0)

    def run(self) -> None:
        f, d = self.f, self.f.dims
        for _, box in f.comps:
            self.add("diff", box)
        self._gates()
        cut2 = d.cut // 2
        for s in f.strips:
            x = f.x(s.line)
            for y in s.contacts:
                self.add("contact", (x - cut2, y - cut2, x + cut2, y + cut2))
            self.net(s.net, "m0", s.box)
        gate_nodes = {(f.gate_line[g], t) for g, _, _ in f.gates for t in f.channel()}
        hw0 = d.w0 // 2
        for net, w in sorted(self.wires.items()):
            for c, t in sorted(w.pads | w.contacts | set(w.grown)):
                x0, y0, x1, y1 = self.node_pad(c, t)
                sign, dy = w.grown.get((c, t), (0, 0))
                self.net(net, "m0", (x0, y0 - dy if sign < 0 else y0, x1, y1 + dy if sign > 0 else y1))
            for c, t in sorted(w.contacts):
                x, y = f.x(c), f.contact_y.get((c, t), f.ys[t])
                self.add("contact", (x - cut2, y - cut2, x + cut2, y + cut2))
                pad = f.contact_pad(c, t)
                if pad is not None:  # a contact off its track: the pad stretches to it
                    self.net(net, "m0", (x - d.hx0, pad[0], x + d.hx0, pad[1]))
                if (c, t) in gate_nodes:
                    hp = d.pad_poly
                    self.add("poly", (x - hp, y - hp, x + hp, y + hp))
            for (c0, t0), (c1, t1) in sorted(w.edges0):
                x0, y0, x1, y1 = f.x(c0), f.ys[t0], f.x(c1), f.ys[t1]
                if y0 == y1:  # as high as the pads it joins (no notch); a plain end runs half that on
                    self.net(net, "m0", (x0 - d.hy0, y0 - d.hy0, x1 + d.hy0, y1 + d.hy0))
                else:
                    self.net(net, "m0", (x0 - hw0, y0, x1 + hw0, y1))
            for c, t in sorted(w.drops):
                side, rb = f.rails[net]
                x, y = f.x(c), f.ys[t]
                self.net(net, "m0", (x - hw0, rb[3] - 1 if side == "bottom" else y, x + hw0,
                                     y if side == "bottom" else rb[1] + 1))
            # second-metal pads only where a via lands (the router lets a plain wire pass closer to
            # another net's pad); the wires cover every other node
            pads1 = w.vias | w.vias2
            for c, t in sorted(pads1):
                x, y = f.x(c), f.ys[t]
                self.net(net, "m1", (x - d.hx1, y - d.hy1, x + d.hx1, y + d.hy1))
            hw1 = d.w1 // 2
            across = {n for a, b in w.edges1 if a[1] == b[1] for n in (a, b)}
            wide = lambda n: d.hy1 if n in pads1 else (hw1 if n in across else None)  # noqa: E731
            for (c0, t0), (c1, t1) in sorted(w.edges1):
                if c0 == c1:
                    x = f.x(c0)
                    # two wide ends (pads, wires across the line) closer than the space: the wire
                    # between is as wide as they are (a narrower one leaves notches)
                    h0, h1 = wide((c0, t0)), wide((c1, t1))
                    notch = h0 is not None and h1 is not None and f.ys[t1] - f.ys[t0] - h0 - h1 < self.f.rules["m1.space"]
                    h = d.hx1 if notch else hw1
                    self.net(net, "m1", (x - h, f.ys[t0], x + h, f.ys[t1]))
                else:
                    y = f.ys[t0]
                    self.net(net, "m1", (f.x(c0) - d.hx1, y - hw1, f.x(c1) + d.hx1, y + hw1))
            for (c0, t0), (c1, t1) in sorted(w.edges1):
                # two same-net runs on neighbouring tracks are closer than the space: fill between
                if t0 == t1 and ((c0, t0 + 1), (c1, t0 + 1)) in w.edges1:
                    self.net(net, "m1", (f.x(c0) - d.hx1, f.ys[t0], f.x(c1) + d.hx1, f.ys[t0 + 1]))
            v2 = d.via // 2
            for c, t in sorted(w.vias):
                x, y = f.x(c), f.ys[t]
                self.add("via1", (x - v2, y - v2, x + v2, y + v2))
            self._third(net, w)
        for net, (side, box) in f.rails.items():
            self.net(net, "m0", box)
        v2 = d.via // 2
        site = round(f.process.template.site.width / f.dbu)
        for net, box in f.rails_m1.items():
            # the rail on the second metal, tied to the first metal's strip in the middle of every
            # site (the cuts keep their space whatever the lines, and abutted cells the same pitch)
            self.add("rail1", box)
            yc = (f.rails[net][1][1] + f.rails[net][1][3]) // 2
            for k in range(f.width // site):
                xc = k * site + site // 2
                self.add("via1", (xc - v2, yc - v2, xc + v2, yc + v2))

    def min_area(self) -> None:
        """A second-metal piece on one line below the minimum area (two vias on neighbouring tracks)
        grows along its line where no other net holds the next node of that line (the router let
        such a node be a plain wire beside a pad, not beside a longer one), else sideways by at most
        half the room the line pitch leaves."""
        f, d, r = self.f, self.f.dims, self.f.rules
        need = r.area("m1.area")
        held: dict[tuple[int, int], set[str]] = {}
        for net, w in self.wires.items():
            for node in w.m1:
                held.setdefault(node, set()).add(net)
        for net, reg in self.net_m1.items():
            for poly in list(reg.merged().each()):
                b = poly.bbox()
                if poly.area() >= need or b.width() > 2 * d.hx1:
                    continue
                c = f.line_at(b.center().x)
                gap = min([f.x(j) - f.x(j - 1) for j in (c, c + 1) if 0 < j < f.lines] + [d.pitch])
                side = (gap - 2 * d.hx1 - r["m1.space"]) // 2 // r.grid * r.grid
                ts = [t for t, y in enumerate(f.ys) if b.bottom < y < b.top]
                free = lambda t: not (0 <= t < len(f.ys)) or not (held.get((c, t), set()) - {net})  # noqa: E731
                ends = [e for e, t in ((-1, ts[0] - 1), (1, ts[-1] + 1)) if ts and free(t)]
                if ends:
                    grow = r.snap_up(-(-(need - poly.area()) // (len(ends) * b.width())))
                    reg.insert(db.Box(b.left, b.bottom - grow * (-1 in ends), b.right, b.top + grow * (1 in ends)))
                elif side > 0:
                    grow = min(side, r.snap_up(-(-(need - poly.area()) // (2 * b.height()))))
                    reg.insert(db.Box(b.left - grow, b.bottom, b.right + grow, b.top))

    def close_gaps(self) -> None:
        """Fill the gaps narrower than the space between one net's shapes on each metal (a pad
        stretched to its contact and the track beside it, third-metal ends on neighbouring lines
        of close tracks): no other net can lie in such a gap (it would break the space), so the
        fill only merges the net's own metal; and the holes of one net's metal that hold no other
        net."""
        for key, store in (("m0", self.net_m0), ("m1", self.net_m1), ("m2", self.net_m2)):
            h = (self.f.rules.get(f"{key}.space") + 1) // 2
            for net, reg in store.items():
                store[net] = reg.merged().sized(h).sized(-h)
            # a hole in one net's metal with no other net inside (a wire loop) is filled: it can
            # only break the enclosed-area rule (sky130 m1.7, m2.7)
            for net, reg in store.items():
                others = db.Region()
                for other, oreg in store.items():
                    if other != net:
                        others += oreg
                holes = reg.holes().not_interacting(others)
                if not holes.is_empty():
                    store[net] = (reg + holes).merged()

    def _third(self, net: str, w: NetWires) -> None:
        """The third metal: pads over its vias, wires along the tracks."""
        f, d = self.f, self.f.dims
        for c, t in sorted(w.m2):
            x, y = f.x(c), f.ys[t]
            self.net(net, "m2", (x - d.hx2, y - d.hy2, x + d.hx2, y + d.hy2))
        hw2 = d.w2 // 2
        for (c0, t0), (c1, t1) in sorted(w.edges2):
            if t0 != t1:  # two pads of one line, joined
                self.net(net, "m2", (f.x(c0) - d.hx2, f.ys[t0], f.x(c0) + d.hx2, f.ys[t1]))
                continue
            y = f.ys[t0]
            self.net(net, "m2", (f.x(c0) - d.hx2, y - hw2, f.x(c1) + d.hx2, y + hw2))
        h = d.via2 // 2
        for c, t in sorted(w.vias2):
            x, y = f.x(c), f.ys[t]
            self.add("via2", (x - h, y - h, x + h, y + h))

    def net(self, net: str, key: str, box) -> None:
        store = {"m0": self.net_m0, "m1": self.net_m1, "m2": self.net_m2}[key]
        store.setdefault(net, db.Region()).insert(db.Box(*box))

    def _gates(self) -> None:
        """Gate poly per finger: over the diffusion with its endcap on the rail side, into the
        channel up to the poly-contact track (or straight across for a shared gate)."""
        f, d, r = self.f, self.f.dims, self.f.rules
        cn, cp = (f.ys[t] for t in f.channel())
        fs = {(fg.device, fg.index): fg for fg in _fingers(f.cell)}
        to = lambda um: round(um / f.dbu)  # noqa: E731
        n_hi = max(b[3] for row, b in f.comps if row == "n") if any(row == "n" for row, _ in f.comps) else 0
        p_lo = min(b[1] for row, b in f.comps if row == "p") if any(row == "p" for row, _ in f.comps) else 0
        mid = (cn + cp) // 2 // r.grid * r.grid
        for g, rows, net in f.gates:
            x = f.x(f.gate_line[g])
            for row in ("n", "p"):
                if row not in rows:
                    continue
                s = f.placement.row(row)[g]
                fg = fs[(s.device, s.finger)]
                L, W = to(fg.l), to(fg.w)
                if row == "n":
                    y0 = n_hi - W - r["poly.endcap"]
                    y1 = mid if rows == "np" else cn + d.pad_poly
                else:
                    y0 = mid if rows == "np" else cp - d.pad_poly
                    y1 = p_lo + W + r["poly.endcap"]
                self.add("poly", (x - L // 2, y0, x + L // 2, y1))

    def write(self) -> None:
        f, tpl = self.f, self.f.process.template
        rr = routing_roles(tpl)
        names = {"diff": self.roles["diff"], "poly": self.roles["poly"], "contact": self.roles["contact"],
                 "via1": self.roles[rr["cut1"]], "m0": self.roles[rr["m0"]], "m1": self.roles[rr["m1"]],
                 "rail1": self.roles[rr["m1"]], "via2": self.roles.get(rr["cut2"]), "m2": self.roles.get(rr["m2"])}
        for key, reg in self.regions.items():
            self._put(names[key], reg)
        for key, store in (("m0", self.net_m0), ("m1", self.net_m1), ("m2", self.net_m2)):
            reg = db.Region()
            for r in store.values():
                reg += r
            if not reg.is_empty():
                self._put(names[key], reg)
        fixed: dict[str, db.Region] = {}
        for name, box in template_boxes(f.process, f.width):
            fixed.setdefault(name, db.Region()).insert(db.Box(*box))
        for name, reg in fixed.items():
            self._put(name, reg)

    def _put(self, name: str, reg: db.Region) -> None:
        gds = self.tech.layer(name)
        self.top.shapes(self.ly.layer(gds[0], gds[1])).insert(reg.merged())


def _fingers(cell: Cell):
    from nbcell.layout.place import fingers

    return fingers(cell)


def insert_column(frame: TrackFrame, hot: list[int], attempt: int) -> Placement:
    """``frame``'s placement with an empty gate column (one more line of routing room) next to the
    gate column nearest the middle of the ``hot`` lines (where congestion remained), alternately
    before and after it."""
    pl = frame.placement
    hot = hot or [frame.lines // 2]
    line = hot[len(hot) // 2]
    lined = [i for i in range(pl.columns) if frame.gate_line[i] is not None]
    g = min(lined, key=lambda i: (abs(frame.gate_line[i] - line), i)) if lined else 0
    at = g + attempt % 2
    return Placement(pl.n[:at] + (None,) + pl.n[at:], pl.p[:at] + (None,) + pl.p[at:],
                     frozenset({at} | {g + (g >= at) for g in pl.spacers}))


def draw_gridded(frame: TrackFrame, wires: dict[str, NetWires], layout: db.Layout, top: db.Cell):
    """Draw a routed frame into ``top``; returns pins (net -> (layer, µm boxes)) and obstructions."""
    dr = _Draw(frame, wires, layout, top)
    dr.run()
    dr.min_area()
    dr.close_gaps()
    dr.write()
    tpl, tech, f = frame.process.template, frame.process.technology, frame
    dbu = f.dbu
    um = lambda b: (round(b.left * dbu, 4), round(b.bottom * dbu, 4), round(b.right * dbu, 4), round(b.top * dbu, 4))  # noqa: E731
    lab = layout.layer(*tech.layer(tpl.pins.label_layer))
    rr = routing_roles(tpl)
    m0, m1 = tpl.layer_roles[rr["m0"]], tpl.layer_roles[rr["m1"]]
    pins: dict[str, tuple[str, list]] = {}
    for net in f.pins:
        w = wires.get(net)
        if w is None or not w.m0:
            raise LayoutError(f"cell {f.cell.name}: pin {net} has no first-metal shape")
        # the label sits on the pin's node nearest the middle of the cell
        c, t = min(w.m0, key=lambda n: (abs(f.x(n[0]) - f.width // 2) + abs(f.ys[n[1]] - f.height // 2), n))
        top.shapes(lab).insert(db.Text(net, db.Trans(f.x(c), f.ys[t])))
        reg = dr.net_m0[net].merged()
        pins[net] = (m0, [um(p.bbox()) for p in reg.each()])
        if tpl.pins.pin_layer:
            top.shapes(layout.layer(*tech.layer(tpl.pins.pin_layer))).insert(reg)
    plab = layout.layer(*tech.layer(tpl.pins.power_label_layer))
    for net, (side, box) in f.rails.items():
        layer, box = (m1, f.rails_m1[net]) if net in f.rails_m1 else (m0, box)
        top.shapes(plab).insert(db.Text(net, db.Trans(f.width // 2, (box[1] + box[3]) // 2)))
        pins[net] = (layer, [um(db.Box(*box))])
        if tpl.pins.power_pin_layer:
            top.shapes(layout.layer(*tech.layer(tpl.pins.power_pin_layer))).insert(db.Box(*box))
    obs: dict[str, list] = {}
    for net, reg in sorted(dr.net_m0.items()):
        if net not in pins:
            obs.setdefault(m0, []).extend(um(p.bbox()) for p in reg.merged().each())
    for net, reg in sorted(dr.net_m1.items()):
        obs.setdefault(m1, []).extend(um(p.bbox()) for p in reg.merged().each())
    for net, reg in sorted(dr.net_m2.items()):
        obs.setdefault(tpl.layer_roles[rr["m2"]], []).extend(um(p.bbox()) for p in reg.merged().each())
    return pins, obs
