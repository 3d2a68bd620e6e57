"""Cells without transistors: fill/tap/decap-like cells (rails only) and antenna diodes.

Units: dbu inside, µm in the result. A cell whose name ends in ``_<n>`` and has no
devices is ``n`` sites wide (``fill_8``); diodes are drawn as one diffusion
rectangle of the netlist's area under the process's diode marker, in the row of
their type, with a contact column and a first-metal strip for the signal node.
``short`` devices need a ``<conductor>_short`` marker layer in the process.
"""

from __future__ import annotations

import re

import klayout.db as db

from nbcell.layout.frame import routing_roles, row_limits
from nbcell.layout.rules import LayoutError, Rules, load_rules
from nbcell.layout.template import template_boxes
from nbcell.netlist import Cell, Device
from nbcell.pdk import Process


def _layer(layout: db.Layout, process: Process, name: str) -> int:
    gds = process.technology.layer(name)
    return layout.layer(gds[0], gds[1])


def _diode_area_um2(d: Device) -> float:
    """Junction area (µm²) of a diode card: ``a=``/``area=`` or the first positional value."""
    p = dict(d.params)
    v = p.get("a", p.get("area", p.get("#0")))
    if v is None:
        raise LayoutError(f"diode {d.name}: no area in the netlist")
    return v * 1e12 if v < 1e-6 else v


def _diode_perimeter_um(d: Device) -> float | None:
    p = dict(d.params)
    v = p.get("p", p.get("pj", p.get("perim", p.get("#1"))))
    if v is None:
        return None
    return v * 1e6 if v < 1e-3 else v


def diode_box(area_um2: float, perim_um: float | None, r: Rules, w_min: int, h_max: int) -> tuple[int, int]:
    """(width, height) in dbu of a rectangle of ``area_um2`` (within 0.5 %) on the grid, at least
    ``w_min`` on both sides and at most ``h_max`` high; nearest the perimeter when it is given."""
    g = r.grid
    area = area_um2 / (r.dbu * r.dbu)
    best = None
    for h in range(w_min, h_max + 1, g):
        w = max(w_min, round(area / h / g) * g)
        err = abs(w * h - area) / area
        if err > 0.005:
            continue
        score = abs(2 * (w + h) * r.dbu - perim_um) if perim_um else abs(w - h)
        if best is None or score < best[0]:
            best = (score, w, h)
    if best is None:
        raise LayoutError(f"no {area_um2:g} um2 diode rectangle fits the row")
    return best[1], best[2]


class _Special:
    def __init__(self, cell: Cell, process: Process):
        self.cell, self.p = cell, process
        self.tpl = process.template
        self.r = load_rules(process)
        self.to = lambda um: round(um / self.r.dbu)
        self.site = self.to(self.tpl.site.width)
        self.H = self.to(self.tpl.height)
        self.m0 = self.tpl.layer_roles[routing_roles(self.tpl)["m0"]]
        self.diodes = [d for d in cell.devices if d.kind == "diode"]
        others = [d for d in cell.devices if d.kind not in ("diode",)]
        if others:
            kinds = sorted({d.kind for d in others})
            raise LayoutError(f"cell {cell.name}: {'/'.join(kinds)} devices are not supported on "
                              f"{process.name} (no '<conductor>_short' marker layer to draw a short)")

    def width(self, boxes: list[tuple[str, int]]) -> int:
        m = re.search(r"_(\d+)$", self.cell.name)
        sites = int(m.group(1)) if m and not self.diodes else 1
        used = 0
        for _, w in boxes:
            used += w + self.r["diff.space"]
        return max(sites, -(-used // self.site)) * self.site

    def marker(self) -> str:
        cands = [n for n in self.p.technology.layers if "diode" in n]
        if len(cands) != 1:
            raise LayoutError(f"cell {self.cell.name}: process {self.p.name} has no single diode marker layer")
        return cands[0]


def generate_special(cell: Cell, process: Process):
    """Layout of a transistor-free cell (see the module text); returns a ``GeneratedCell``."""
    from nbcell.layout.generate import GeneratedCell

    s = _Special(cell, process)
    r = s.r
    (n_lo, n_hi), (p_lo, p_hi) = row_limits(process, r)
    hc = r["co.size"] + 2 * r.co_enc("diff").big
    sizes = []
    for d in s.diodes:
        typ = process.all_devices[d.model].type or "n"
        lo, hi = (n_lo, n_hi) if typ == "n" else (p_lo, p_hi)
        w, h = diode_box(_diode_area_um2(d), _diode_perimeter_um(d), r, hc, hi - lo)
        sizes.append((d, typ, w, h, lo, hi))
    W = s.width([(t, w) for _, t, w, _, _, _ in sizes])
    layout = db.Layout()
    layout.dbu = process.technology.dbu
    top = layout.create_cell(cell.name)
    pins: dict[str, tuple[str, list]] = {}
    strips = _draw_diodes(s, layout, top, sizes, W)
    _frame(s, layout, top, W)
    for net, boxes in strips.items():
        reg = db.Region([db.Box(*b) for b in boxes]).merged()
        top.shapes(_layer(layout, process, s.m0)).insert(reg)
        bb = reg.bbox()
        top.shapes(_layer(layout, process, s.tpl.pins.label_layer)).insert(
            db.Text(net, db.Trans(bb.center().x, bb.center().y)))
        if s.tpl.pins.pin_layer:
            top.shapes(_layer(layout, process, s.tpl.pins.pin_layer)).insert(reg)
        pins[net] = (s.m0, [_um(p.bbox(), r.dbu) for p in reg.each()])
    for rail in s.tpl.rails:
        pins[rail.net] = (rail.layer, [(0.0, rail.y0, W * r.dbu, rail.y1)])
    missing = [p for p in cell.pins if p not in pins and p not in _bodies(process)]
    if missing:
        raise LayoutError(f"cell {cell.name}: pins {missing} connect no device; nothing to draw them on")
    return GeneratedCell(cell.name, layout, top, round(W * r.dbu, 4), s.tpl.height, round(s.site * r.dbu, 4),
                         pins=pins)


def _bodies(process: Process) -> set[str]:
    sup = process.supplies
    return {x for x in (sup.power, sup.ground, sup.nwell_body, sup.pwell_body) if x}


def _um(b: db.Box, dbu: float):
    return (round(b.left * dbu, 4), round(b.bottom * dbu, 4), round(b.right * dbu, 4), round(b.top * dbu, 4))


def _draw_diodes(s: _Special, layout: db.Layout, top: db.Cell, sizes, W: int) -> dict[str, list]:
    """Diffusion + marker per diode, side by side per row; contacts and a strip on the signal node.
    Diodes of both types on one net share the strip's x, so one vertical strip joins them."""
    r, p = s.r, s.p
    roles = s.tpl.layer_roles
    cut, cut2 = r["co.size"], r["co.size"] // 2
    denc = r.co_enc("diff")
    menc = r.enc("m0", "co")
    strips: dict[str, list] = {}
    bodies = _bodies(p)
    x_next = {"n": 0, "p": 0}
    centre: dict[str, int] = {}
    diff_l, co_l = _layer(layout, p, roles["diff"]), _layer(layout, p, roles["contact"])
    mk_l = _layer(layout, p, s.marker()) if s.diodes else None
    for d, typ, w, h, lo, hi in sizes:
        signal = [n for n in d.nodes if n not in bodies]
        net = signal[0] if signal else d.nodes[0]
        x0 = max(x_next[typ] + r["diff.space"] // 2 if x_next[typ] else (W - w) // 2 // r.grid * r.grid, 0)
        if net in centre:
            x0 = centre[net] - w // 2 // r.grid * r.grid
        x0 = max(x0, (r["diff.space"] + 1) // 2)
        x_next[typ] = x0 + w + r["diff.space"] // 2
        y0 = lo if typ == "p" else hi - h
        box = (x0, y0, x0 + w, y0 + h)
        top.shapes(diff_l).insert(db.Box(*box))
        top.shapes(mk_l).insert(db.Box(*box))
        xc = x0 + w // 2 // r.grid * r.grid
        centre.setdefault(net, xc)
        step = cut + r["co.space"]
        n = max(1, (h - 2 * denc.big - cut) // step + 1)
        ys = [y0 + denc.big + cut2 + i * step for i in range(n)]
        ys = [y for y in ys if y + cut2 + denc.big <= y0 + h]
        for y in ys:
            top.shapes(co_l).insert(db.Box(xc - cut2, y - cut2, xc + cut2, y + cut2))
        sx = cut2 + menc.small
        strips.setdefault(net, []).append((xc - sx, min(ys) - cut2 - menc.big, xc + sx, max(ys) + cut2 + menc.big))
    for net, boxes in strips.items():
        if len(boxes) > 1:
            x0 = min(b[0] for b in boxes)
            x1 = max(b[2] for b in boxes)
            boxes.append((x0, min(b[1] for b in boxes), x1, max(b[3] for b in boxes)))
        _min_area(boxes, r)
    return strips


def _min_area(boxes: list, r: Rules) -> None:
    """Lengthen a lone strip to the first metal's minimum area (symmetrically, on the grid)."""
    a = r.area("m0.area")
    if len(boxes) != 1 or not a:
        return
    x0, y0, x1, y1 = boxes[0]
    if (x1 - x0) * (y1 - y0) >= a:
        return
    h = -(-a // (x1 - x0))
    grow = -(-(h - (y1 - y0)) // (2 * r.grid)) * r.grid
    boxes[0] = (x0, y0 - grow, x1, y1 + grow)


def _frame(s: _Special, layout: db.Layout, top: db.Cell, W: int) -> None:
    """Boundary, wells, implants, markers, tie strips, rails and power labels."""
    tpl, p, to = s.tpl, s.p, s.to
    for name, box in template_boxes(p, W):
        top.shapes(_layer(layout, p, name)).insert(db.Box(*box))
    for rail in tpl.rails:
        y0, y1 = to(rail.y0), to(rail.y1)
        top.shapes(_layer(layout, p, rail.layer)).insert(db.Box(0, y0, W, y1))
        top.shapes(_layer(layout, p, tpl.pins.power_label_layer)).insert(
            db.Text(rail.net, db.Trans(W // 2, (y0 + y1) // 2)))
        if tpl.pins.power_pin_layer:
            top.shapes(_layer(layout, p, tpl.pins.power_pin_layer)).insert(db.Box(0, y0, W, y1))
