"""Layout generator on gf180mcu_7t (gridded style): built-in cells DRC-clean and LVS-matching,
determinism, the width lower bound as reported, LEF output, and the transistor-free cells.

The whole built-in library is measured by ``benchmarks/port_library.py builtin``; here a fixed
sample that covers inverters, stacks, complex gates, a mux and a tri-state stays fast."""

from __future__ import annotations

import functools

import klayout.db as db
import pytest

from nbcell import lef as lefw
from nbcell.drc import run_drc
from nbcell.drc.lvs import run_lvs
from nbcell.gds import gds_bytes
from nbcell.attempts import generate
from nbcell.layout import LayoutError
from nbcell.layout.ir import Placement
from nbcell.layout.bound import width_lower_bound_um
from nbcell.layout.place import check_placement, place
from nbcell.layout.rules import load_rules, rule
from nbcell.layout.tracks import Dims, build_track_frame
from nbcell.library import read_library
from nbcell.netlist import Cell, Device
from nbcell.pdk import load_process
from nbcell.sizing import size_cell

TARGET = "gf180mcu_7t"
SAMPLE = ("nbcell__inv_1", "nbcell__inv_4", "nbcell__buf_2", "nbcell__nand2_1", "nbcell__nor3_1",
          "nbcell__aoi21_1", "nbcell__oai21_1", "nbcell__and2_1", "nbcell__mux2_1", "nbcell__tbuf_1")


@functools.cache
def _builtin() -> dict[str, Cell]:
    src, tgt = load_process("builtin"), load_process(TARGET)
    return {c.name: size_cell(c, src, tgt) for c in read_library("builtin").cells}


@functools.cache
def _generated(name: str):
    return generate(_builtin()[name], load_process(TARGET))


@pytest.mark.parametrize("name", SAMPLE)
def test_builtin_cell_is_clean(name):
    tgt = load_process(TARGET)
    gen = _generated(name)
    drc = run_drc(gen.layout, gen.top, tgt.technology)
    assert drc.violations == 0, drc.by_rule
    lvs = run_lvs(gen.layout, gen.top, tgt, _builtin()[name])
    assert lvs.match and lvs.pins_ok, lvs.messages
    site = tgt.template.site.width
    assert abs(gen.width_um / site - round(gen.width_um / site)) < 1e-6  # whole sites
    assert gen.lower_bound_um <= gen.width_um + 1e-9


def test_lower_bound_is_below_width():
    tgt = load_process(TARGET)
    cell = _builtin()["nbcell__nand2_1"]
    lb = width_lower_bound_um(cell, tgt)
    gen = _generated("nbcell__nand2_1")
    assert 0 < lb <= gen.width_um + 1e-9 and gen.lower_bound_um == lb


def test_same_input_same_gds_bytes():
    tgt = load_process(TARGET)
    cell = _builtin()["nbcell__aoi21_1"]
    a, b = generate(cell, tgt, seed=0), generate(cell, tgt, seed=0)
    assert gds_bytes(a.layout, [a.top]) == gds_bytes(b.layout, [b.top])


def test_gf180_tracks_and_pitch_follow_the_rules():
    """Line pitch = the Metal2 track pitch (0.56); 5 first-metal tracks: one over N, two
    poly-contact tracks in the channel (CO.8 from the diffusion), two over P, each pad clear of
    the rails (M1.2a); a Metal2-only track over each rail. The N track holds a contact in the
    narrowest contactable finger (0.36: CO.1 + 2 x CO.4), one pad space (M1.2a) from the
    poly-contact track; vias on that pair are the router's to keep apart (V1.2a)."""
    tgt = load_process(TARGET)
    cell = _builtin()["nbcell__inv_1"]
    f = build_track_frame(cell, tgt, place(cell, tgt))
    d = Dims.of(tgt, load_rules(tgt))
    assert d.pitch == 560 and f.track_kind == ["m2", "n", "cn", "cp", "p", "p", "m2"]
    ys = f.ys[1:-1]  # the first-metal tracks
    assert all(b - a >= 2 * d.hy0 + 230 for a, b in zip(ys, ys[1:]))
    assert ys[0] == 1160 - 180 and ys[1] - ys[0] < d.via + 260
    assert ys[0] - d.hy0 >= 300 + 230 and ys[-1] + d.hy0 <= 3620 - 230
    assert ys[1] - 110 >= 1160 + 170 and ys[2] + 110 <= 2360 - 170  # CO.8
    # the Metal2-only track over VSS: half the Metal2 space (M2.2a, 0.28) from the cell edge, and a
    # Metal2 wire there clears a via pad on the N track
    assert f.ys[0] == 140 + 140 and f.ys[-1] == 3920 - 280
    assert ys[0] - d.hy1 - (f.ys[0] + d.w1 // 2) >= 280


def test_lef_macro_content():
    tgt = load_process(TARGET)
    cell = _builtin()["nbcell__nand2_1"]
    gen = _generated("nbcell__nand2_1")
    text = lefw.macro(cell, tgt, gen.width_um, gen.pins, gen.obstructions)
    assert f"SIZE {gen.width_um:g} BY 3.92 ;" in text
    assert "SITE GF018hv5v_mcu_sc7 ;" in text and "SYMMETRY X Y ;" in text
    for pin, direction in (("A", "INPUT"), ("B", "INPUT"), ("Y", "OUTPUT")):
        block = text.split(f"PIN {pin}")[1].split(f"END {pin}")[0]
        assert f"DIRECTION {direction} ;" in block and "LAYER Metal1 ;" in block and "RECT" in block
    assert "USE POWER ;" in text and "USE GROUND ;" in text
    assert "END LIBRARY" in lefw.library([text], tgt)


def test_placement_is_deterministic_and_valid():
    tgt = load_process(TARGET)
    cell = _builtin()["nbcell__xor2_1"]
    p1, p2 = place(cell, tgt, 0), place(cell, tgt, 0)
    assert p1 == p2
    check_placement(cell, p1)


def test_bad_placement_is_refused():
    tgt = load_process(TARGET)
    cell = _builtin()["nbcell__inv_1"]
    with pytest.raises(LayoutError, match="misses fingers"):
        generate(cell, tgt, placement=Placement((None,), (None,)))


def test_labels_sit_on_their_pin_metal():
    gen = _generated("nbcell__mux2_1")
    tech = load_process(TARGET).technology
    metal = db.Region(gen.top.begin_shapes_rec(gen.layout.find_layer(*tech.layer("metal1"))))
    texts = db.Texts(gen.top.begin_shapes_rec(gen.layout.find_layer(*tech.layer("metal1_label"))))
    names = set()
    for t in texts.each():
        assert metal.interacting(db.Region(db.Box(t.position(), t.position()).enlarged(1, 1))).count() == 1
        names.add(t.string)
    assert {"A0", "A1", "S", "Y", "VDD", "VSS"} <= names


def test_rule_values_come_from_the_process():
    tgt = load_process(TARGET)
    r = load_rules(tgt)
    assert r["co.to_gate"] == round(rule(tgt.technology, "CO.7").value / tgt.technology.dbu)
    assert r.enc("m0", "co").big == round(0.06 / tgt.technology.dbu)


def test_fill_cell_is_clean():
    tgt = load_process(TARGET)
    cell = Cell("nbcell__fill_4", ("VDD", "VSS", "VNW", "VPW"))
    gen = generate(cell, tgt)
    assert gen.width_um == pytest.approx(4 * tgt.template.site.width)
    assert run_drc(gen.layout, gen.top, tgt.technology).violations == 0
    lvs = run_lvs(gen.layout, gen.top, tgt, cell)
    assert lvs.match and lvs.pins_ok, lvs.messages


def test_antenna_diode_cell_is_clean():
    tgt = load_process(TARGET)
    cell = Cell("nbcell__antenna", ("I", "VDD", "VSS", "VNW", "VPW"), devices=[
        Device("d0", "diode", ("VPW", "I"), "diode_nd2ps_06v0", (("#0", 0.2052e-12), ("#1", 1.86e-6))),
        Device("d1", "diode", ("I", "VNW"), "diode_pd2nw_06v0", (("#0", 0.2052e-12), ("#1", 1.86e-6)))])
    gen = generate(cell, tgt)
    drc = run_drc(gen.layout, gen.top, tgt.technology)
    assert drc.violations == 0, drc.by_rule
    lvs = run_lvs(gen.layout, gen.top, tgt, cell)
    assert lvs.match and lvs.pins_ok, lvs.messages


def test_short_without_marker_layer_fails_clearly():
    tgt = load_process(TARGET)
    cell = Cell("nbcell__conb_1", ("HI", "LO", "VDD", "VSS"),
                devices=[Device("r0", "short", ("VSS", "LO"), "short"), Device("r1", "short", ("HI", "VDD"), "short")])
    with pytest.raises(LayoutError, match="nbcell__conb_1.*short"):
        generate(cell, tgt)


def test_third_metal_routes_a_congested_cell_clean():
    """A flip-flop is too congested for two metals at its placement's width; on three
    (Metal3 along the tracks, no stacked vias) it routes, DRC-clean and LVS-matching."""
    from nbcell.layout.frame import fit_rows
    from nbcell.layout.gridded import draw_gridded
    from nbcell.layout.maze import MazeError, route_tracks

    tgt = load_process(TARGET)
    cell = fit_rows(_builtin()["nbcell__dff_1"], tgt)
    frame = build_track_frame(cell, tgt, place(cell, tgt))
    with pytest.raises(MazeError):
        route_tracks(frame)
    wires = route_tracks(frame, metals=3)
    assert any(w.vias2 for w in wires.values())
    ly = db.Layout()
    ly.dbu = tgt.technology.dbu
    top = ly.create_cell(cell.name)
    pins, obs = draw_gridded(frame, wires, ly, top)
    assert tgt.template.layer_roles["m3"] in obs  # LEF OBS on Metal3
    drc = run_drc(ly, top, tgt.technology)
    assert drc.violations == 0, drc.by_rule
    lvs = run_lvs(ly, top, tgt, cell)
    assert lvs.match and lvs.pins_ok, lvs.messages


@pytest.mark.parametrize("name", ["nbcell__inv_1", "nbcell__nor2_1", "nbcell__and2_1"])
def test_first_metal_alone_routes_small_cells_clean(name):
    """Small cells route on Metal1 alone (as the foundry wires its cells): no second metal, no
    via, and the drawn cell is DRC-clean and LVS-matching; ``port`` reports them on one metal."""
    from nbcell.layout.frame import fit_rows
    from nbcell.layout.gridded import draw_gridded
    from nbcell.layout.maze import route_tracks

    tgt = load_process(TARGET)
    cell = fit_rows(_builtin()[name], tgt)
    frame = build_track_frame(cell, tgt, place(cell, tgt))
    wires = route_tracks(frame, metals=1)
    assert all(not w.m1 and not w.vias and not w.m2 for w in wires.values())
    ly = db.Layout()
    ly.dbu = tgt.technology.dbu
    top = ly.create_cell(cell.name)
    draw_gridded(frame, wires, ly, top)
    drc = run_drc(ly, top, tgt.technology)
    assert drc.violations == 0, drc.by_rule
    lvs = run_lvs(ly, top, tgt, _builtin()[name])
    assert lvs.match and lvs.pins_ok, lvs.messages
    assert generate(_builtin()[name], tgt).metals == 1
