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
from nbcell.layout.template import template_boxes

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
        #: (layer key, net, box) of same-net gaps and small pieces the repairs could not fix
        self.problems: list[tuple[str, str, Box]] = []

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
        h = (sp - 1) // 2  # closes gaps below the spacing, never a legal gap of exactly it
        for net, reg in list(self.nets[key].items()):
            reg.merge()
            fill = reg.sized(h, 2).sized(-h, 2) - reg
            if fill.is_empty():
                self._close_corners(key, net, reg, sp)
                continue
            others = self.others(key, net)
            for poly in fill.each():
                p = db.Region(poly)
                bad = not (p.sized(sp - 1, 2) & others).is_empty()
                if not bad and key == "poly":
                    bad = not (p.sized(self.f.rules["poly.to_diff"] - 1, 2) & self.comps).is_empty()
                if bad:
                    self.problems.append((key, net, _box(poly.bbox())))
                    continue
                reg.insert(poly)
            reg.merge()
            self._close_corners(key, net, reg, sp)

    def _close_corners(self, key: str, net: str, reg: db.Region, sp: int) -> None:
        """Gaps the closing misses (corner to corner): fill the box between the two edges."""
        pairs = reg.space_check(sp)
        if pairs.is_empty():
            return
        others = self.others(key, net)
        g = self.f.rules.grid
        w = {"poly": self.f.rules["poly.width"], "m0": self.f.rules["m0.width"], "m1": self.f.rules["m1.width"]}[key]
        for ep in pairs.each():
            b = ep.bbox()
            # on the grid, and at least a minimum width across (no slivers)
            x0, y0, x1, y1 = b.left // g * g, b.bottom // g * g, -(-b.right // g) * g, -(-b.top // g) * g
            if x1 - x0 < w:
                c = (x0 + x1) // 2
                x0, x1 = (c - w // 2) // g * g, -(-(c + w - w // 2) // g) * g
            if y1 - y0 < w:
                c = (y0 + y1) // 2
                y0, y1 = (c - w // 2) // g * g, -(-(c + w - w // 2) // g) * g
            bb = db.Box(x0, y0, x1, y1)
            p = db.Region(bb)
            bad = not (p.sized(sp - 1, 2) & others).is_empty()
            if not bad and key == "poly":
                bad = not (p.sized(self.f.rules["poly.to_diff"] - 1, 2) & self.comps).is_empty()
            if not bad:
                # the patched shape must itself be clean around the patch
                trial = (reg + p).merged()
                near = db.Region(bb.enlarged(sp, sp))
                bad = not (trial.width_check(w).polygons() & near).is_empty() or \
                    not (trial.space_check(sp).polygons() & near).is_empty()
            if bad:
                self.problems.append((key, net, _box(bb)))
            else:
                reg.insert(bb)
                reg.merge()
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
                else:
                    self.problems.append((key, net, _box(poly.bbox())))
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

    def repair(self) -> list[tuple[str, str, Box]]:
        """Close same-net gaps and grow small pieces; returns what could not be repaired."""
        r = self.f.rules
        for key in ROUTING_KEYS:
            self.close_gaps(key)
        for key, area in (("m0", r.area("m0.area")), ("m1", r.area("m1.area")), ("poly", r.area("poly.area"))):
            self.fix_area(key, area)
        return self.problems

    def write(self) -> None:
        self.repair()
        for key, by_net in self.nets.items():
            li = self.layer(self.names[key])
            for reg in by_net.values():
                self.top.shapes(li).insert(reg)
        self.top.shapes(self.layer(self.names["diff"])).insert(self.comps)
        self.frame_layers()

    def frame_layers(self) -> None:
        """Boundary, wells, implants, markers and tie strips across the cell (template spans)."""
        for name, box in template_boxes(self.f.process, self.f.width):
            self.box(name, box)

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


def _box(b: db.Box) -> Box:
    return (b.left, b.bottom, b.right, b.top)


def repair_problems(frame: Frame, routing: Routing) -> list[tuple[str, str, Box]]:
    """Same-net gaps and small pieces that drawing ``routing`` would leave (empty: clean)."""
    ly = db.Layout()
    ly.dbu = frame.dbu
    d = Drawer(frame, routing, ly, ly.create_cell("check"))
    d.collect()
    return d.repair()


def draw(frame: Frame, routing: Routing | None, layout: db.Layout, cell: db.Cell) -> Drawer:
    """Draw ``frame`` and ``routing`` into ``cell``; returns the drawer (shapes by net) for labels/LEF."""
    d = Drawer(frame, routing, layout, cell)
    d.collect()
    d.write()
    d.merge_all()
    return d
