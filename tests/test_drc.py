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


def test_line_end_enclosure_kind() -> None:
    """cut_enclosure_eol (skipped in the YAML, implied by CO.6b) still works when enabled."""
    tech = load_technology("gf180mcu")
    rules = [r.model_copy(update={"check": r.check.model_copy(update={"skip": None}), "trigger": 0.34})
             for r in tech.rules if r.id == "CO.6a"]
    eol_only = tech.model_copy(update={"rules": rules})
    layout = db.Layout()
    layout.dbu = tech.dbu
    cell = layout.create_cell("frag")
    m1, co = (layout.layer(*tech.layer(n)) for n in ("metal1", "contact"))
    cell.shapes(m1).insert(db.Box(0, 0, 300, 1000))  # 0.30 wide line, its end at y = 1.0
    cell.shapes(co).insert(db.Box(40, 760, 260, 980))  # 0.02 short of the line end
    cell.shapes(co).insert(db.Box(40, 100, 260, 320))  # 0.10 from the other end: fine
    assert run_drc(layout, cell, eol_only).by_rule == {"CO.6a": 1}


def test_recipe_relations() -> None:
    rec = Recipes(load_technology("gf180mcu"))
    assert rec.subset("ngate", "nplus") and rec.subset("ndiff", "comp")
    assert rec.disjoint("ndiff", "nwell") and rec.disjoint("contact_poly", "comp")
    assert not rec.subset("contact_comp", "comp") and not rec.disjoint("nplus", "pdiff")
    assert rec.find_and("poly2", "comp") == "tgate" == rec.find_and("comp", "poly2")
