"""Frame + routing -> polygons in a ``klayout.db.Layout`` for the target process.

Layers come from the template's ``layer_roles`` and the technology's GDS
numbers; every size comes from the frame's rules (dbu). After drawing, each
net's shapes on a routing layer are closed over gaps narrower than the
layer's spacing (where that keeps the spacing to other nets) and pieces under
the minimum area are lengthened, so the drawing never relies on the router
for same-net notches.
"""

from __future__ import annotations

from collections import defaultdict

import klayout.db as db

from nbcell.layout.frame import Box, Frame
from nbcell.layout.ir import Routing
from nbcell.layout.shapes import Shapes

ROUTING_KEYS = ("poly", "m0", "m1")


def layer_names(frame: Frame) -> dict[str, str]:
    """Layer key -> technology layer name."""
    roles = frame.process.template.layer_roles
    li = "li" in roles
    return {
        "diff": roles["diff"], "poly": roles["poly"], "co": roles["contact"],
        "m0": roles["li"] if li else roles["m1"],
        "cut1": roles["mcon"] if li else roles["via1"],
        "m1": roles["m1"] if li else roles["m2"],
    }


class Drawer:
    """Shapes by layer key and net; same-net repairs; output into a layout cell."""

    def __init__(self, frame: Frame, routing: Routing | None, layout: db.Layout, cell: db.Cell):
        self.f, self.routing, self.ly, self.top = frame, routing, layout, cell
        self.names = layer_names(frame)
        self.tech = frame.process.technology
        self.sh = Shapes(frame)
        self.nets: dict[str, dict[str, db.Region]] = defaultdict(lambda: defaultdict(db.Region))
        self.comps = db.Region([db.Box(*b) for _, b in frame.comps])

    def layer(self, name: str) -> int:
        gds = self.tech.layer(name)
        return self.ly.layer(gds[0], gds[1])

    def add(self, key: str, net: str, b: Box) -> None:
        self.nets[key][net].insert(db.Box(*b))

    # -- collection -------------------------------------------------------------

    def collect(self) -> None:
        for key, box, net in self.f.fixed:
            self.add(key, net, box)
        if self.routing is None:
            return
        for nr in self.routing.nets:
            items = [self.sh.wire(w) for w in nr.wires] + [self.sh.via(v) for v in nr.vias]
            if nr.pin is not None:
                items.append(self.sh.pin(nr.pin.ix, nr.pin.iy))
            for shapes in items:
                for key, b in shapes:
                    self.add(key, nr.net, b)

    def others(self, key: str, net: str) -> db.Region:
        out = db.Region()
        for n2, r2 in self.nets[key].items():
            if n2 != net:
                out += r2
        return out

    # -- repair -----------------------------------------------------------------

    def close_gaps(self, key: str) -> None:
        """Fill same-net gaps narrower than the spacing when the fill keeps the spacing to others."""
        sp = self.sh.space[key]
        h = (sp + 1) // 2
        for net, reg in list(self.nets[key].items()):
            reg.merge()
            fill = reg.sized(h, 2).sized(-h, 2) - reg
            if fill.is_empty():
                continue
            others = self.others(key, net)
            for poly in fill.each():
                p = db.Region(poly)
                if not (p.sized(sp - 1, 2) & others).is_empty():
                    continue
                if key == "poly" and not (p.sized(self.f.rules["poly.to_diff"] - 1, 2) & self.comps).is_empty():
                    continue
                reg.insert(poly)
            reg.merge()

    def fix_area(self, key: str, min_area: int) -> None:
        """Lengthen same-net pieces smaller than ``min_area`` (dbu²) where the spacing allows."""
        if not min_area:
            return
        sp = self.sh.space[key]
        for net, reg in list(self.nets[key].items()):
            reg.merge()
            small = [p for p in reg.each() if p.area() < min_area]
            if not small:
                continue
            others = self.others(key, net)
            for poly in small:
                grown = self._grow_to_area(poly.bbox(), poly.area(), min_area, others, sp, key)
                if grown is not None:
                    reg.insert(db.Box(*grown))
            reg.merge()

    def _grow_to_area(self, bb: db.Box, area: int, min_area: int, others: db.Region, sp: int,
                      key: str) -> Box | None:
        g = self.f.rules.grid
        need = min_area - area
        for axis in ("y", "x"):
            side = bb.width() if axis == "y" else bb.height()
            ext = -(-need // max(side, 1))
            ext = -(-ext // g) * g
            half = ext // 2 // g * g
            for lo, hi in ((half, ext - half), (ext, 0), (0, ext)):
                if axis == "y":
                    cand = (bb.left, bb.bottom - lo, bb.right, bb.top + hi)
                else:
                    cand = (bb.left - lo, bb.bottom, bb.right + hi, bb.top)
                if cand[0] < (sp + 1) // 2 or cand[2] > self.f.width - (sp + 1) // 2:
                    continue
                grown = db.Region(db.Box(*cand))
                if not (grown.sized(sp - 1, 2) & others).is_empty():
                    continue
                if key == "poly" and not (grown.sized(self.f.rules["poly.to_diff"] - 1, 2) & self.comps).is_empty():
                    continue
                return cand
        return None

    # -- output -----------------------------------------------------------------

    def write(self) -> None:
        r = self.f.rules
        for key in ROUTING_KEYS:
            self.close_gaps(key)
        for key, area in (("m0", r.area("m0.area")), ("m1", r.area("m1.area")), ("poly", r.area("poly.area"))):
            self.fix_area(key, area)
        for key, by_net in self.nets.items():
            li = self.layer(self.names[key])
            for reg in by_net.values():
                self.top.shapes(li).insert(reg)
        self.top.shapes(self.layer(self.names["diff"])).insert(self.comps)
        self.frame_layers()

    def frame_layers(self) -> None:
        """Boundary, wells, implants and markers across the cell (template spans)."""
        f, tpl = self.f, self.f.process.template
        to = lambda um: round(um / f.dbu)  # noqa: E731
        self.box(tpl.boundary_layer, (0, 0, f.width, f.height))
        for group in (tpl.wells, tpl.implants, tpl.markers):
            for name, span in group.items():
                ov = to(span.x_overhang)
                self.box(name, (-ov, to(span.y0), f.width + ov, to(span.y1)))

    def box(self, name: str, b: Box) -> None:
        self.top.shapes(self.layer(name)).insert(db.Box(*b))

    def merge_all(self) -> None:
        """One merged polygon set per layer (stable output, fewer shapes); texts kept."""
        for li in self.ly.layer_indexes():
            shapes = self.top.shapes(li)
            reg = db.Region(shapes)
            texts = [s.text for s in shapes.each() if s.is_text()]
            shapes.clear()
            shapes.insert(reg.merged())
            for t in texts:
                shapes.insert(t)

    def net_region(self, key: str, net: str) -> db.Region:
        return self.nets[key].get(net, db.Region())


def draw(frame: Frame, routing: Routing | None, layout: db.Layout, cell: db.Cell) -> Drawer:
    """Draw ``frame`` and ``routing`` into ``cell``; returns the drawer (shapes by net) for labels/LEF."""
    d = Drawer(frame, routing, layout, cell)
    d.collect()
    d.write()
    d.merge_all()
    return d
