"""nbcell.drc on the foundry's own cells: the right verdict on every cell, and checks that bite.

Mutation tests edit a real cell in memory (µm values converted with the layout's
dbu) and assert that the rule id that guards that geometry fires; the unmutated
cell is checked first so a hit cannot come from the original layout.
"""

from __future__ import annotations

from pathlib import Path

import klayout.db as db
import klayout.rdb as rdb
import pytest

from conftest import CELLLIBS
from nbcell.drc import checked_rules, run_drc
from nbcell.drc.layers import CellLayers, Recipes
from nbcell.drc.rules import CHECKS
from nbcell.pdk import Technology, load_technology

LIBS = {"gf180mcu_fd_sc_mcu7t5v0": "gf180mcu", "gf180mcu_fd_sc_mcu9t5v0": "gf180mcu", "sky130_fd_sc_hd": "sky130"}
#: the only foundry cells the official decks flag too (cell in isolation); every other cell is clean
FLAGGED = {
    "gf180mcu_fd_sc_mcu9t5v0__icgtp_1": {"PL.3a"},  # 0.2396 um corner-to-corner poly notch
    "sky130_fd_sc_hd__tapvgnd_1": {"m1.6"},  # 0.29 x 0.23 met1 stub
    "sky130_fd_sc_hd__tapvgnd2_1": {"m1.6"},
}


def _gds(lib: str, cell: str) -> Path:
    path = CELLLIBS / lib / "gds" / f"{cell}.gds"
    if not path.is_file():
        pytest.skip(f"real library {lib} not found under {CELLLIBS} (set NBCELL_CELLLIBS)")
    return path


def _load(lib: str, cell: str) -> tuple[db.Layout, db.Cell, Technology]:
    layout = db.Layout()
    layout.read(str(_gds(lib, cell)))
    return layout, layout.top_cells()[0], load_technology(LIBS[lib])


# ---- every cell of the three libraries ----------------------------------------------


def _library_cases() -> list:
    cases = []
    for lib, tech in LIBS.items():
        files = sorted((CELLLIBS / lib / "gds").glob("*.gds"))
        if not files:
            reason = f"real library {lib} not found under {CELLLIBS} (set NBCELL_CELLLIBS)"
            cases.append(pytest.param(lib, tech, None, id=lib, marks=pytest.mark.skip(reason=reason)))
        cases += [pytest.param(lib, tech, f, id=f.stem) for f in files]
    return cases


@pytest.mark.parametrize("lib,tech_name,gds", _library_cases())
def test_foundry_cell_verdict(lib: str, tech_name: str, gds: Path) -> None:
    layout = db.Layout()
    layout.read(str(gds))
    tech = load_technology(tech_name)
    for cell in layout.top_cells():
        res = run_drc(layout, cell, tech)
        assert set(res.by_rule) == FLAGGED.get(cell.name, set()), (cell.name, res.by_rule, res.markers[:5])
        assert not res.not_evaluated
        if cell.name in FLAGGED:
            assert res.violations == 1  # one notch / one stub; YAML exceptions never suppress markers


# ---- mutations ------------------------------------------------------------------------


def _li(layout: db.Layout, tech: Technology, name: str) -> int:
    return layout.layer(*tech.layer(name))


def _region(layout: db.Layout, cell: db.Cell, tech: Technology, name: str) -> db.Region:
    return db.Region(cell.shapes(_li(layout, tech, name))).merged()


def _put(layout: db.Layout, cell: db.Cell, tech: Technology, name: str, reg: db.Region) -> None:
    li = _li(layout, tech, name)
    cell.shapes(li).clear()
    cell.shapes(li).insert(reg)


def _um(layout: db.Layout, um: float) -> int:
    return round(um / layout.dbu)


def uncover_cut(layout, cell, tech, outer: str, cut: str) -> None:
    """Punch the cover layer away around one cut."""
    c = next(_region(layout, cell, tech, cut).each())
    hole = db.Region(c.bbox().enlarged(_um(layout, 0.01), _um(layout, 0.01)))
    _put(layout, cell, tech, outer, _region(layout, cell, tech, outer) - hole)


def cut_off_diffusion(layout, cell, tech, diff: str, cut: str) -> None:
    """Move one diffusion contact so that it sticks 0.05 um out of the diffusion's left edge."""
    diffs = _region(layout, cell, tech, diff)
    cuts = _region(layout, cell, tech, cut)
    c = next(cuts.interacting(diffs).each())
    d = next(diffs.interacting(db.Region(c)).each())
    dx = d.bbox().left - _um(layout, 0.05) - c.bbox().left
    _put(layout, cell, tech, cut, (cuts - db.Region(c)) + db.Region(c.moved(dx, 0)))


def narrow_wire(layout, cell, tech, layer: str, width: float) -> None:
    """Replace the smallest polygon of ``layer`` by a ``width`` um wide bar along its bbox."""
    reg = _region(layout, cell, tech, layer)
    p = min(reg.each(), key=lambda q: q.area())
    b = p.bbox()
    w = _um(layout, width)
    cy = b.center().y - b.center().y % _um(layout, 0.005)
    bar = db.Box(b.left, cy - w // 2, b.right, cy - w // 2 + w)
    _put(layout, cell, tech, layer, (reg - db.Region(p)) + db.Region(bar))


def move_closer(layout, cell, tech, layer: str, gap: float) -> None:
    """Move the polygon nearest to another one so that the two are ``gap`` um apart."""
    reg = _region(layout, cell, tech, layer)
    pairs = list(reg.isolated_check(_um(layout, 5.0), False, db.Metrics.Projection).each())
    ep = min(pairs, key=lambda e: e.distance())
    e1, e2 = ep.first, ep.second
    shift = ep.distance() - _um(layout, gap)
    if e2.dx() == 0:  # vertical edges: move in x towards e1
        vec = db.Vector(shift if e1.p1.x > e2.p1.x else -shift, 0)
    else:
        vec = db.Vector(0, shift if e1.p1.y > e2.p1.y else -shift)
    mover = reg.interacting(db.Edges(e2))
    _put(layout, cell, tech, layer, (reg - mover) + mover.moved(vec))


def shorten_endcap(layout, cell, tech, diff: str, poly: str, keep: float) -> None:
    """Sever the poly of one gate ``keep`` um above the diffusion (endcap = keep)."""
    polys = _region(layout, cell, tech, poly)
    gate = next((polys & _region(layout, cell, tech, diff)).each())
    p = polys.interacting(db.Region(gate))
    y0 = gate.bbox().top + _um(layout, keep)
    slit = p & db.Region(db.Box(p.bbox().left, y0, p.bbox().right, y0 + _um(layout, 0.05)))
    _put(layout, cell, tech, poly, polys - slit)


def off_grid(layout, cell, tech, layer: str) -> None:
    """Shift one drawn shape of ``layer`` by 1 dbu."""
    shapes = cell.shapes(_li(layout, tech, layer))
    shape = next(iter(shapes.each()))
    shape.transform(db.Trans(1, 0))


def shrink_piece(layout, cell, tech, layer: str, side: float) -> None:
    """Replace the smallest polygon of ``layer`` by a centred ``side`` um square."""
    reg = _region(layout, cell, tech, layer)
    p = min(reg.each(), key=lambda q: q.area())
    c, s = p.bbox().center(), _um(layout, side)
    x0 = c.x - c.x % _um(layout, 0.005) - s // 2
    y0 = c.y - c.y % _um(layout, 0.005) - s // 2
    _put(layout, cell, tech, layer, (reg - db.Region(p)) + db.Region(db.Box(x0, y0, x0 + s, y0 + s)))


def drop_layer(layout, cell, tech, layer: str) -> None:
    """Delete every shape of ``layer`` (a marker such as areaid_sc)."""
    cell.shapes(_li(layout, tech, layer)).clear()


def far_well(layout, cell, tech, layer: str, gap: float) -> None:
    """Add a 2 um wide copy of the well strip ``gap`` um left of the cell's well (a second well)."""
    b = _region(layout, cell, tech, layer).bbox()
    x1 = b.left - _um(layout, gap)
    cell.shapes(_li(layout, tech, layer)).insert(db.Box(x1 - _um(layout, 2.0), b.bottom, x1, b.top))


def uncontact_terminal(layout, cell, tech, diff: str, poly: str, cut: str) -> None:
    """Remove the contacts of one S/D region at the end of a diffusion chain (next to one gate)."""
    diffs, polys = _region(layout, cell, tech, diff), _region(layout, cell, tech, poly)
    gates, pieces = diffs & polys, diffs - polys
    end = pieces.not_interacting(pieces.interacting(gates, 2))
    piece = db.Region(next(end.each()))
    _put(layout, cell, tech, cut, _region(layout, cell, tech, cut).not_overlapping(piece))


GF7 = "gf180mcu_fd_sc_mcu7t5v0"
HD = "sky130_fd_sc_hd"
MUTATIONS = [
    # gf180mcu
    (GF7, "nand2_1", uncover_cut, ("metal1", "contact"), "CO.6"),
    (GF7, "nand2_1", cut_off_diffusion, ("comp", "contact"), "CO.4"),
    (GF7, "nand2_1", narrow_wire, ("metal1", 0.20), "M1.1"),
    (GF7, "nand2_1", move_closer, ("metal1", 0.20), "M1.2a"),
    (GF7, "nand2_1", move_closer, ("comp", 0.30), "DF.3a_5V"),
    (GF7, "nand2_1", shorten_endcap, ("comp", "poly2", 0.17), "PL.4"),
    (GF7, "nand2_1", off_grid, ("metal1",), "OFFGRID"),
    (GF7, "nand2_1", shrink_piece, ("metal1", 0.30), "M1.3"),
    # sky130 hd
    (HD, "nand2_1", uncover_cut, ("met1", "mcon"), "m1.4"),
    (HD, "nand2_1", uncover_cut, ("li1", "licon"), "li.5"),
    (HD, "nand2_1", cut_off_diffusion, ("diff", "licon"), "licon.5a"),
    (HD, "nand2_1", narrow_wire, ("li1", 0.15), "li.1"),
    (HD, "nand2_1", move_closer, ("li1", 0.15), "li.3"),
    (HD, "nand2_1", move_closer, ("diff", 0.25), "difftap.3"),
    (HD, "nand2_1", shorten_endcap, ("diff", "poly", 0.08), "poly.8"),
    (HD, "nand2_1", off_grid, ("li1",), "x.1b"),
    (HD, "nand2_1", shrink_piece, ("li1", 0.20), "li.6"),
    (HD, "dfxtp_1", shrink_piece, ("met1", 0.25), "m1.6"),
    (HD, "dfxtp_1", narrow_wire, ("met1", 0.12), "m1.1"),
    # rules decided on one cell since the fact sheet's skips were resolved
    (GF7, "nand2_1", far_well, ("nwell", 1.0), "NW.2b_5V"),  # 1.0 apart: NW.2a_5V (0.74) is met
    (HD, "dfrbp_1", drop_layer, ("areaid_sc",), "difftap.2"),  # its 0.36..0.42 devices leave areaid.sc
    (HD, "a2111oi_1", drop_layer, ("areaid_sc",), "licon.11"),  # licons at 0.05 from gates (licon.11a)
    (HD, "nand2_1", uncontact_terminal, ("diff", "poly", "licon"), "licon.16"),
]


@pytest.mark.parametrize("lib,cell,mutate,args,rule_id", MUTATIONS,
                         ids=[f"{m[1]}-{m[2].__name__}-{m[4]}" for m in MUTATIONS])
def test_mutation_fires(lib, cell, mutate, args, rule_id) -> None:
    layout, top, tech = _load(lib, f"{lib}__{cell}")
    assert rule_id not in run_drc(layout, top, tech).by_rule
    mutate(layout, top, tech, *args)
    res = run_drc(layout, top, tech)
    assert rule_id in res.by_rule, res.by_rule
    assert {rid for rid, _ in res.markers} == set(res.by_rule)
    assert sum(res.by_rule.values()) == res.violations == len(res.markers)


def test_abutment_completes_implant_strip() -> None:
    """tap_1's nsdm strip passes n/psd.10a only through abutment; a lone small piece still fails."""
    layout, top, tech = _load(HD, f"{HD}__tap_1")
    assert run_drc(layout, top, tech).clean
    isolated = tech.model_copy(update={"rules": [
        r.model_copy(update={"cond": ""}) if r.id == "n/psd.10a" else r for r in tech.rules]})
    assert "n/psd.10a" in run_drc(layout, top, isolated).by_rule
    # a 0.4 x 0.4 nsdm piece away from the side edges gains nothing from the neighbours
    top.shapes(_li(layout, tech, "nsdm")).insert(db.Box(-3000, 1000, -2600, 1400))
    assert run_drc(layout, top, tech).by_rule == {"n/psd.10a": 1}


def test_lyrdb_markers_in_um(tmp_path: Path) -> None:
    name = "gf180mcu_fd_sc_mcu9t5v0__icgtp_1"
    gds = _gds("gf180mcu_fd_sc_mcu9t5v0", name)
    layout, top, tech = _load("gf180mcu_fd_sc_mcu9t5v0", name)
    res = run_drc(layout, top, tech)
    path = res.write_lyrdb(tmp_path / "icgtp_1.lyrdb", name, str(gds))
    back = rdb.ReportDatabase("")
    back.load(str(path))
    assert back.top_cell_name == name and back.original_file == str(gds)
    cats = {c.name(): c for c in back.each_category()}
    assert set(cats) == {r.id for r in res.evaluated}
    assert cats["PL.3a"].num_items() == 1 and back.num_items() == 1
    item = next(back.each_item())
    value = next(item.each_value())
    assert value.is_edge_pair()
    ep = value.edge_pair()  # the two notch corners, as degenerate edges
    assert abs(ep.first.p1.distance(ep.second.p1) - 0.2396) < 1e-3  # µm, not dbu


# ---- technology-level checks --------------------------------------------------------


@pytest.mark.parametrize("tech_name", ["gf180mcu", "sky130", "sg13g2"])
def test_every_checked_kind_runs(tech_name: str) -> None:
    """All checked rule kinds have a check; an empty cell gives no marker and no skipped rule."""
    tech = load_technology(tech_name)
    assert {r.kind for r in checked_rules(tech)} <= set(CHECKS)
    layout = db.Layout()
    layout.dbu = tech.dbu
    res = run_drc(layout, layout.create_cell("empty"), tech)
    assert res.violations == 0 and not res.not_evaluated
    assert len(res.evaluated) == len(checked_rules(tech))


def test_sg13g2_rules_bite() -> None:
    """No IHP cells here: a hand-made fragment must still trip sg13g2 rules."""
    tech = load_technology("sg13g2")
    layout = db.Layout()
    layout.dbu = tech.dbu
    cell = layout.create_cell("frag")
    m1 = layout.layer(*tech.layer("metal1"))
    cont = layout.layer(*tech.layer("cont"))
    cell.shapes(m1).insert(db.Box(0, 0, 120, 2000))  # 0.12 wide < M1.a 0.16
    cell.shapes(m1).insert(db.Box(1000, 0, 1501, 500))  # off the 5 nm grid
    cell.shapes(cont).insert(db.Box(3000, 0, 3160, 160))  # cont without metal1, activ, poly
    by_rule = run_drc(layout, cell, tech).by_rule
    assert {"M1.a", "3.1", "Cnt.h", "M1.c1"} <= set(by_rule), by_rule


def test_sg13g2_transistor_fragment() -> None:
    """A crude PMOS: every sg13g2 derived layer builds, and the gate rules measure it."""
    tech = load_technology("sg13g2")
    layout = db.Layout()
    layout.dbu = tech.dbu
    cell = layout.create_cell("pmos")
    put = {n: layout.layer(*tech.layer(n)) for n in ("activ", "gatpoly", "psd", "nwell", "cont", "metal1")}
    cell.shapes(put["nwell"]).insert(db.Box(-1000, -1000, 2000, 2000))
    cell.shapes(put["activ"]).insert(db.Box(0, 0, 1000, 400))
    cell.shapes(put["psd"]).insert(db.Box(-300, -300, 1300, 700))
    cell.shapes(put["gatpoly"]).insert(db.Box(450, -100, 550, 500))  # L = 0.10 < 0.13, endcap 0.10 < 0.18
    cell.shapes(put["cont"]).insert(db.Box(100, 120, 260, 280))
    cell.shapes(put["metal1"]).insert(db.Box(50, 70, 310, 330))
    res = run_drc(layout, cell, tech)
    assert {"Gat.a", "Gat.a2", "Gat.c"} <= set(res.by_rule), res.by_rule
    assert not res.not_evaluated
    layers = CellLayers(tech, layout, cell, Recipes(tech))
    built = {n: layers[n].area() for n in tech.derived}
    assert built["pgate"] == 100 * 400 and built["ngate"] == 0 and built["pdiff"] > 0


def test_recipe_relations() -> None:
    rec = Recipes(load_technology("gf180mcu"))
    assert rec.subset("ngate", "nplus") and rec.subset("ndiff", "comp")
    assert rec.disjoint("ndiff", "nwell") and rec.disjoint("contact_poly", "comp")
    assert not rec.subset("contact_comp", "comp") and not rec.disjoint("nplus", "pdiff")
    assert rec.find_and("poly2", "comp") == "tgate" == rec.find_and("comp", "poly2")


# ---- rules decided on one cell: hand-made fragments -------------------------------------------
# Each case: a fragment that must trip the rule, a near twin that must not, and the plain rule that
# the conditional one sharpens (it must stay quiet on the bad fragment: the condition is what fires).
# Shapes are (layer, box x0 y0 x1 y1 in um) or (layer, [(x, y), ...] polygon in um).


def _fragment(tech_name: str, shapes: list) -> dict[str, int]:
    tech = load_technology(tech_name)
    layout = db.Layout()
    layout.dbu = tech.dbu
    cell = layout.create_cell("frag")
    for layer, geo in shapes:
        li = layout.layer(*tech.layer(layer))
        if isinstance(geo, tuple):
            cell.shapes(li).insert(db.DBox(*geo))
        else:
            cell.shapes(li).insert(db.DPolygon([db.DPoint(x, y) for x, y in geo]))
    return run_drc(layout, cell, tech).by_rule


def _grid(layer: str, n_x: int, n_y: int, size: float, space: float, x0: float = 0.0, y0: float = 0.0) -> list:
    p = size + space
    return [(layer, (x0 + i * p, y0 + j * p, x0 + i * p + size, y0 + j * p + size))
            for i in range(n_x) for j in range(n_y)]


def _array(cut: str, below: list[str], n_x: int, n_y: int, size: float, space: float, margin: float) -> list:
    span_x, span_y = n_x * size + (n_x - 1) * space, n_y * size + (n_y - 1) * space
    return _grid(cut, n_x, n_y, size, space) + [(m, (-margin, -margin, span_x + margin, span_y + margin))
                                                 for m in below]


def _comb(metal: str, plate: float, wire: float, gap: float, run: float) -> list:
    """A ``plate`` um square and a ``wire`` um wide line at ``gap`` um beside it over ``run`` um."""
    return [(metal, (0, 0, plate, plate)), (metal, (plate + gap, 0, plate + gap + wire, run))]


def _butted(tap_w: float, tap_h: float = 1.0, second_diff: bool = False) -> list:
    """sky130: a tap butted to the right side of a 1 um high diffusion (and to a second one)."""
    shapes = [("diff", (-2.0, 0, 0, 1.0)), ("tap", (0, 0, tap_w, tap_h))]
    return shapes + ([("diff", (tap_w, 0, tap_w + 2.0, 1.0))] if second_diff else [])


_GF_BUTTED = [("comp", (0, 0, 2.0, 1.0)), ("nplus", (-0.2, -0.2, 1.0, 1.2))]
_SG_TIE = [("nwell", (-1, -1, 3, 1.6)), ("activ", (0, 0, 2.0, 0.6))]


def _gate(diff: str, poly: str, bend: bool) -> list:
    """A straight gate across a diffusion, or one with an arm turning 90 degrees on it."""
    shapes = [(diff, (0, 0, 2.0, 2.0)), (poly, (0.8, -0.3, 1.0, 2.3))]
    return shapes + ([(poly, (0.8, 0.9, 1.6, 1.1))] if bend else [])



NEW_RULES = [
    # (tech, rule, bad fragment, good twin, plain rule that stays quiet on the bad one); CO.5b, M2.f,
    # V2.b1, M3.e, M3.f and LU.b are public rules the fact sheets lack (cond "not in the fact sheet")
    ("gf180mcu", "NW.2b_5V", [("nwell", (0, 0, 2, 2)), ("nwell", (3.0, 0, 5, 2))],
     [("nwell", (0, 0, 2, 2)), ("nwell", (3.7, 0, 5.7, 2))], "NW.2a_5V"),
    ("gf180mcu", "DF.11_5V", _GF_BUTTED + [("pplus", (1.0, 0.8, 2.2, 1.2))],
     _GF_BUTTED + [("pplus", (1.0, -0.2, 2.2, 1.2))], None),
    ("gf180mcu", "CO.5a", _GF_BUTTED + [("pplus", (1.0, -0.2, 2.2, 1.2)), ("contact", (0.73, 0.39, 0.95, 0.61))],
     _GF_BUTTED + [("pplus", (1.0, -0.2, 2.2, 1.2)), ("contact", (0.4, 0.39, 0.62, 0.61))], "CO.4"),
    ("gf180mcu", "CO.5b", _GF_BUTTED + [("pplus", (1.0, -0.2, 2.2, 1.2)), ("contact", (1.05, 0.39, 1.27, 0.61))],
     _GF_BUTTED + [("pplus", (1.0, -0.2, 2.2, 1.2)), ("contact", (1.38, 0.39, 1.6, 0.61))], "CO.4"),
    ("gf180mcu", "PL.6", _gate("comp", "poly2", True), _gate("comp", "poly2", False), None),
    ("gf180mcu", "PL.7_5V",  # a 45-degree gate 0.5/sqrt(2) wide, twin 1.2/sqrt(2)
     [("comp", (-10, 0, -2, 4)), ("poly2", [(-8, -0.5), (-3, 4.5), (-2.5, 4.5), (-7.5, -0.5)])],
     [("comp", (-10, 0, -2, 4)), ("poly2", [(-8, -0.5), (-3, 4.5), (-1.8, 4.5), (-6.8, -0.5)])], None),
    ("gf180mcu", "CO.2b", _array("contact", ["comp", "metal1"], 4, 4, 0.22, 0.26, 0.3),
     _array("contact", ["comp", "metal1"], 3, 4, 0.22, 0.26, 0.3), "CO.2a"),
    ("gf180mcu", "V1.2b", _array("via1", ["metal1", "metal2"], 4, 4, 0.26, 0.30, 0.3),
     _array("via1", ["metal1", "metal2"], 4, 3, 0.26, 0.30, 0.3), "V1.2a"),
    ("gf180mcu", "V2.2b", _array("via2", ["metal2", "metal3"], 4, 4, 0.26, 0.30, 0.3),
     _array("via2", ["metal2", "metal3"], 4, 3, 0.26, 0.30, 0.3), "V2.2a"),
    ("gf180mcu", "M1.2b", _comb("metal1", 10.5, 0.3, 0.25, 5), _comb("metal1", 9.5, 0.3, 0.25, 5), "M1.2a"),
    ("gf180mcu", "M2.2b", _comb("metal2", 10.5, 0.3, 0.29, 5), _comb("metal2", 9.5, 0.3, 0.29, 5), "M2.2a"),
    ("gf180mcu", "M3.2b", _comb("metal3", 10.5, 0.3, 0.29, 5), _comb("metal3", 9.5, 0.3, 0.29, 5), "M3.2a"),
    ("sky130", "difftap.4", _butted(0.4, 0.25), _butted(0.4, 1.0), None),
    ("sky130", "difftap.5", _butted(0.35, second_diff=True), _butted(0.45, second_diff=True), None),
    ("sky130", "difftap.7",  # a diffusion arm 0.1 above the butted tap's top edge
     _butted(0.5, 0.9) + [("diff", (-2.0, 1.0, 0.6, 1.5))], _butted(0.5, 1.0), None),  # difftap.3 (notch) too
    ("sky130", "licon.5b", _butted(0.5) + [("licon", (0.03, 0.4, 0.2, 0.57))],
     _butted(0.5) + [("licon", (0.165, 0.4, 0.335, 0.57))], None),
    ("sky130", "poly.10", [("diff", (0, 0, 2, 1)), ("poly", (1.8, 0.8, 2.2, 1.2))],
     [("diff", (0, 0, 2, 1)), ("poly", (0.9, -0.2, 1.05, 1.2))], None),
    ("sky130", "poly.11", _gate("diff", "poly", True), _gate("diff", "poly", False), None),
    ("sky130", "li.2", [("li1", (0, 0, 0.17, 2.0))], [("li1", (0, 0, 0.17, 1.5))], None),
    ("sky130", "m1.3ab", _comb("met1", 3.5, 0.14, 0.2, 4), _comb("met1", 2.9, 0.14, 0.2, 4), "m1.2"),
    ("sky130", "m2.3ab", _comb("met2", 3.5, 0.14, 0.2, 4), _comb("met2", 2.9, 0.14, 0.2, 4), "m2.2"),
    ("sg13g2", "NW.b1", [("nwell", (0, 0, 2, 2)), ("nwell", (3.0, 0, 5, 2))],
     [("nwell", (0, 0, 2, 2)), ("nwell", (3.9, 0, 5.9, 2))], "NW.b"),
    ("sg13g2", "Gat.f", _gate("activ", "gatpoly", True), _gate("activ", "gatpoly", False), None),
    ("sg13g2", "pSD.e", [("activ", (0, 0, 2.0, 0.6)), ("psd", (-0.3, -0.3, 0.2, 0.9))],
     [("activ", (0, 0, 2.0, 0.6)), ("psd", (-0.3, -0.3, 0.5, 0.9))], None),
    ("sg13g2", "pSD.f", _SG_TIE + [("psd", (-0.3, -0.3, 1.8, 0.9))], _SG_TIE + [("psd", (-0.3, -0.3, 1.5, 0.9))],
     None),
    ("sg13g2", "Cnt.b1", _array("cont", ["activ", "metal1"], 4, 4, 0.16, 0.19, 0.1),
     _array("cont", ["activ", "metal1"], 3, 4, 0.16, 0.19, 0.1), "Cnt.b"),
    ("sg13g2", "V1.b1", _array("via1", ["metal1", "metal2"], 3, 3, 0.19, 0.25, 0.1),
     _array("via1", ["metal1", "metal2"], 2, 3, 0.19, 0.25, 0.1), "V1.b"),
    # a 0.16 wire 0.20 beside a 0.44 rail: over 1.5 um M1.e, over 0.8 um not (M1.b 0.18 is met)
    ("sg13g2", "M1.e", [("metal1", (0, 0, 5, 0.44)), ("metal1", (0, 0.64, 1.5, 0.8))],
     [("metal1", (0, 0, 5, 0.44)), ("metal1", (0, 0.64, 0.8, 0.8))], "M1.b"),
    ("sg13g2", "M1.f", _comb("metal1", 10.5, 0.3, 0.4, 10.5), _comb("metal1", 10.5, 0.3, 0.4, 9.5), "M1.b"),
    ("sg13g2", "M2.e", [("metal2", (0, 0, 5, 0.4)), ("metal2", (0, 0.62, 1.5, 0.82))],
     [("metal2", (0, 0, 5, 0.39)), ("metal2", (0, 0.61, 1.5, 0.81))], "M2.b"),
    ("sg13g2", "M2.f", _comb("metal2", 10.5, 0.3, 0.4, 10.5), _comb("metal2", 10.5, 0.3, 0.4, 9.5), "M2.b"),
    ("sg13g2", "V2.b1", _array("via2", ["metal2", "metal3"], 3, 3, 0.19, 0.25, 0.1),
     _array("via2", ["metal2", "metal3"], 3, 2, 0.19, 0.25, 0.1), "V2.b"),
    ("sg13g2", "M3.e", [("metal3", (0, 0, 5, 0.4)), ("metal3", (0, 0.62, 1.5, 0.82))],
     [("metal3", (0, 0, 5, 0.39)), ("metal3", (0, 0.61, 1.5, 0.81))], "M3.b"),
    ("sg13g2", "M3.f", _comb("metal3", 10.5, 0.3, 0.4, 10.5), _comb("metal3", 10.5, 0.3, 0.4, 9.5), "M3.b"),
    ("sg13g2", "LU.b", [("activ", (0, 0, 1, 1)), ("activ", (25, 0, 26, 0.5)), ("psd", (24.7, -0.3, 26.3, 0.8))],
     [("activ", (0, 0, 1, 1)), ("activ", (5, 0, 6, 0.5)), ("psd", (4.7, -0.3, 6.3, 0.8))], None),
    ("sg13g2", "LU.a", [("nwell", (-1, -1, 30, 2)), ("activ", (0, 0, 1, 1)), ("psd", (-0.3, -0.3, 1.3, 1.3)),
                        ("activ", (25, 0, 26, 0.5))],
     [("nwell", (-1, -1, 30, 2)), ("activ", (0, 0, 1, 1)), ("psd", (-0.3, -0.3, 1.3, 1.3)),
      ("activ", (5, 0, 6, 0.5))], None),
]


@pytest.mark.parametrize("tech_name,rule_id,bad,good,plain", NEW_RULES, ids=[c[1] for c in NEW_RULES])
def test_decided_rule_bites(tech_name, rule_id, bad, good, plain) -> None:
    """The rule fires on the bad fragment only; the plain rule it sharpens does not fire there."""
    hit, twin = _fragment(tech_name, bad), _fragment(tech_name, good)
    assert rule_id in hit, hit
    assert rule_id not in twin, twin
    if plain is not None:
        assert plain not in hit, hit


def test_butted_tap_abuts_cleanly() -> None:
    """A tap butted to a diffusion is legal: difftap.7 and licon.5b measure, but do not flag the abutment."""
    hit = _fragment("sky130", _butted(0.5) + [("licon", (0.165, 0.4, 0.335, 0.57))])
    assert not {"difftap.4", "difftap.5", "difftap.7", "licon.5b"} & set(hit), hit


def test_every_fact_sheet_rule_is_decided_or_chip_level() -> None:
    """Issue #14: a rule nbcell does not check says why, and the reason is chip context."""
    for name in ("gf180mcu", "sky130", "sg13g2"):
        for r in load_technology(name).rules:
            if not r.checked:
                assert r.check.skip and r.check.skip.startswith("chip"), (name, r.id, r.check.skip)


def test_check_fields_validated() -> None:
    """Check fields that contradict each other, or name an unknown layer, are refused."""
    from pydantic import ValidationError

    from nbcell.pdk.model import Rule, Technology

    bad = [
        {"id": "x", "kind": "space", "layers": ["m"], "value": 0.2, "check": {"parallel_run": 1.0}},
        {"id": "x", "kind": "space", "layers": ["m"], "value": 0.2, "check": {"array_group": 0.3}},
        {"id": "x", "kind": "width", "layers": ["m"], "value": 0.2, "check": {"edge_angle": [70, 20]}},
        {"id": "x", "kind": "forbidden", "layers": ["m", "n"], "check": {"forbid": "corners"}},
        {"id": "x", "kind": "forbidden", "layers": ["m", "n"], "check": {"forbid": "corners", "corners_of": "q"}},
        {"id": "x", "kind": "max_distance", "layers": ["m", "n"], "check": {"in_cell": True}},  # no value
        {"id": "x", "kind": "width", "layers": ["m"], "value": 0.2, "check": {"outside": "a", "inside": "b"}},
    ]
    for data in bad:
        with pytest.raises(ValidationError):
            Rule.model_validate(data)
    assert not Rule.model_validate({"id": "x", "kind": "density", "layers": ["m"], "value": 0.3}).checked
    assert Rule.model_validate({"id": "x", "kind": "max_distance", "layers": ["m", "n"], "value": 20,
                                "check": {"in_cell": True}}).checked
    with pytest.raises(ValidationError, match="unknown layer 'nope'"):
        Technology.model_validate({"name": "t", "dbu": 0.001, "grid": 0.005, "devices": {},
                                   "layers": {"m": {"gds": [1, 0]}},
                                   "rules": [{"id": "x", "kind": "width", "layers": ["m"], "value": 0.1,
                                              "check": {"outside": "nope"}}]})
