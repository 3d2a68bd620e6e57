"""Drawing a placed and routed cell in each style (gridded, free-grid, special) as a GeneratedCell."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import klayout.db as db

from nbcell.layout.bound import width_lower_bound_um
from nbcell.layout.frame import Frame, build_frame
from nbcell.layout.geometry import Drawer, draw
from nbcell.layout.ir import Placement, Routing
from nbcell.layout.place import check_placement
from nbcell.layout.route import route
from nbcell.layout.rules import LayoutError
from nbcell.netlist import Cell
from nbcell.pdk import Process


@dataclass
class GeneratedCell:
    """A generated layout. Lengths in µm; ``pins``: pin name -> (layer name, boxes in µm)."""

    name: str
    layout: db.Layout
    top: db.Cell
    width_um: float
    height_um: float
    lower_bound_um: float
    placement: Placement | None = None
    routing: Routing | None = None
    frame: Frame | None = None
    pins: dict[str, tuple[str, list[tuple[float, float, float, float]]]] = field(default_factory=dict)
    obstructions: dict[str, list[tuple[float, float, float, float]]] = field(default_factory=dict)
    seconds: float = 0.0
    #: how it was drawn: "gridded" (with its routing metals, "gridded m3" on three), "free-grid", "special"
    style: str = "free-grid"
    #: what routed it (gridded style): "maze", "env", "rl", "maze (env fallback)", "maze (rl fallback)"
    router: str | None = None
    #: routing metals the cell's own wiring uses: 1 the first alone (li1 in sky130, Metal1 else; with
    #: poly), 2 with the second, 3 with the third (the rails are the template's, not counted)
    metals: int = 1


def _labels(frame: Frame, routing: Routing, drawer: Drawer, top: db.Cell) -> dict:
    """Pin texts on the label layer at each pin's access point, power texts on the rails."""
    tpl, tech = frame.process.template, frame.process.technology
    ly = top.layout()
    pins: dict[str, tuple[str, list]] = {}
    dbu = frame.dbu
    lab = ly.layer(*tech.layer(tpl.pins.label_layer))
    for net in frame.pins:
        nr = routing.net(net)
        if nr is None or nr.pin is None:
            raise LayoutError(f"cell {frame.cell.name}: pin {net} got no access point")
        x, y = drawer.sh.pin_point(nr.pin.ix, nr.pin.iy) or (frame.grid.xs[nr.pin.ix], frame.grid.ys[nr.pin.iy])
        top.shapes(lab).insert(db.Text(net, db.Trans(x, y)))
        reg = drawer.net_region("m0", net).merged()
        pins[net] = (drawer.names["m0"], [_um(p.bbox(), dbu) for p in reg.each()] if reg else [])
        _pin_shape(frame, drawer, top, tpl.pins.pin_layer, drawer.sh.pin(nr.pin.ix, nr.pin.iy)[0][1])
    plab = ly.layer(*tech.layer(tpl.pins.power_label_layer))
    for rail in tpl.rails:
        y0, y1 = round(rail.y0 / dbu), round(rail.y1 / dbu)
        top.shapes(plab).insert(db.Text(rail.net, db.Trans(frame.width // 2, (y0 + y1) // 2)))
        box = (0, y0, frame.width, y1)
        pins[rail.net] = (rail.layer, [_um(db.Box(*box), dbu)])
        _pin_shape(frame, drawer, top, tpl.pins.power_pin_layer, box)
    return pins


def _pin_shape(frame: Frame, drawer: Drawer, top: db.Cell, layer: str | None, box) -> None:
    if layer:
        top.shapes(drawer.layer(layer)).insert(db.Box(*box))


def _um(b: db.Box, dbu: float) -> tuple[float, float, float, float]:
    return (round(b.left * dbu, 4), round(b.bottom * dbu, 4), round(b.right * dbu, 4), round(b.top * dbu, 4))


def special_cell(cell: Cell, process: Process) -> GeneratedCell:
    """A cell without transistors (fill, tap, decap, ties through shorts)."""
    from nbcell.layout.special import generate_special

    t0 = time.perf_counter()
    out = generate_special(cell, process)
    out.style = "special"
    out.seconds = time.perf_counter() - t0
    return out


def free_grid_cell(cell: Cell, process: Process, placement: Placement, seed: int, sized: Cell) -> GeneratedCell:
    """Route and draw ``placement`` of the folded ``cell`` in the free-grid style (``sized``: the
    cell before folding, for the lower bound); raises :class:`LayoutError`."""
    t0 = time.perf_counter()
    check_placement(cell, placement)
    frame = build_frame(cell, process, placement)
    routing = route(frame, seed)
    layout = db.Layout()
    layout.dbu = process.technology.dbu
    top = layout.create_cell(cell.name)
    drawer = draw(frame, routing, layout, top)
    pins = _labels(frame, routing, drawer, top)
    out = GeneratedCell(cell.name, layout, top, round(frame.width * frame.dbu, 4), process.template.height,
                        width_lower_bound_um(sized, process), placement, routing, frame, pins)
    out.obstructions = _obstructions(drawer, frame)
    out.metals = 1 + any(any(w.layer == 2 for w in r.wires) or any(v.lower == 1 for v in r.vias)
                         for r in routing.nets)
    out.seconds = time.perf_counter() - t0
    return out


def gridded_cell(cell: Cell, process: Process, frame, wires, routed_by: str, sized: Cell) -> GeneratedCell:
    """Draw a routed gridded ``frame`` (``wires`` from ``routed_by``) as a cell."""
    from nbcell.layout.gridded import draw_gridded

    layout = db.Layout()
    layout.dbu = process.technology.dbu
    top = layout.create_cell(cell.name)
    pins, obs = draw_gridded(frame, wires, layout, top)
    out = GeneratedCell(cell.name, layout, top, round(frame.width * frame.dbu, 4), process.template.height,
                        width_lower_bound_um(sized, process), frame.placement, None, None, pins)
    out.obstructions = obs
    third = any(w.vias2 for w in wires.values())
    out.style = "gridded m3" if third else "gridded"
    out.metals = 3 if third else 1 + any(w.vias for w in wires.values())
    out.router = routed_by
    return out


def check_wells(cell: Cell, process: Process) -> None:
    """The template has one n-well and one p-body: every PMOS body on one net, every NMOS body on one,
    and that net the process's body pin (or supply when the process has no body pins)."""
    sup = process.supplies
    want = {"p": sup.nwell_body or sup.power, "n": sup.pwell_body or sup.ground}
    for typ, name in (("p", "n-well"), ("n", "p-body")):
        bulks = sorted({t.bulk for t in cell.transistors if t.type == typ})
        if bulks and bulks != [want[typ]]:
            raise LayoutError(f"cell {cell.name}: {typ}-device bodies on {', '.join(bulks)}; the {process.name} "
                              f"template has one {name} on {want[typ]} (isolated wells are not supported)")


def _obstructions(drawer: Drawer, frame: Frame) -> dict[str, list]:
    """Metal used inside the cell that is not a pin (LEF OBS), by layer name, µm boxes."""
    out: dict[str, list] = {}
    pinned = set(frame.pins) | set(frame.power)
    for key in ("m0", "m1"):
        boxes = []
        for net, reg in drawer.nets[key].items():
            if net in pinned and key == "m0":
                continue
            boxes += [_um(p.bbox(), frame.dbu) for p in reg.merged().each()]
        if boxes:
            out[drawer.names[key]] = boxes
    return out
