"""The gridded style on local interconnect (sky130_hd): li1 / mcon / met1 as the first metal, the cut
and the second metal, the rails on met1 over a li1 strip, one poly-contact track in the npc band,
split gate columns; built-in cells DRC-clean and LVS-matching with pin names."""

from __future__ import annotations

from dataclasses import replace

import pytest

from conftest import assert_drc_lvs_clean, builtin_generated, builtin_sized
from nbcell import lef as lefw
from nbcell.drc import run_drc
from nbcell.drc.lvs import run_lvs
from nbcell.attempts import generate
from nbcell.layout.frame import row_limits
from nbcell.layout.ir import Placement
from nbcell.layout.bound import width_lower_bound_um
from nbcell.layout.place import check_placement, fingers, place
from nbcell.layout.rules import load_rules
from nbcell.layout.tracks import Dims, build_track_frame
from nbcell.netlist import Cell
from nbcell.pdk import load_process

TARGET = "sky130_hd"
#: inverter, stacks, complex gates, split gate columns (mux, tri-state), three metals (xor), a latch
SAMPLE = ("nbcell__inv_1", "nbcell__nand2_1", "nbcell__nor3_1", "nbcell__aoi21_1", "nbcell__oai22_1",
          "nbcell__mux2_1", "nbcell__tbuf_1", "nbcell__xor2_1", "nbcell__dlat_1")


def _builtin() -> dict[str, Cell]:
    return builtin_sized(TARGET)


def _generated(name: str):
    return builtin_generated(TARGET, name)


def test_tracks_follow_the_sky130_rules():
    """Lines on the li1 pitch (0.46); two li1 tracks over each row 0.36 apart (mcon ct.1 + ct.2);
    the one poly-contact track at the middle of the npc band (licon.15 both ways, licon.9 to psdm,
    licon.14 to both rows); met1 off the track next to the VGND rail (m1.2)."""
    tgt = load_process(TARGET)
    r = load_rules(tgt)
    cell = _builtin()["nbcell__inv_1"]
    f = build_track_frame(cell, tgt, place(cell, tgt))
    d = Dims.of(tgt, r)
    assert d.pitch == 460 and (d.hx0, d.hy0) == (165, 85) and d.track == 360 and d.third_metal
    assert f.track_kind == ["n", "n", "c", "p", "p"] and f.ys == [380, 740, 1160, 1630, 1990]
    c = f.ys[2]
    assert c - 85 - 100 >= 975 and c + 85 + 100 <= 1345  # licon.15 in the npc band
    assert c + 85 + 110 <= 1355  # licon.9: poly licon to psdm
    (n_lo, n_hi), (p_lo, p_hi) = row_limits(tgt, r)
    assert n_hi <= 975 - 90 and c - 85 - n_hi >= 190 and p_lo - (c + 85) >= 190  # npc.4, licon.14
    # li1 rail strips 0.17 high under the met1 rails; met1 keeps 0.14 from the rail
    assert f.rails["VGND"][1][1:4:2] == (-85, 85) and f.rails_m1["VGND"][1:4:2] == (-240, 240)
    assert f.no_m1 == frozenset({0})
    assert all(f.ys[t] - d.hy1 >= 240 + 140 for t in range(len(f.ys)) if t not in f.no_m1)


def test_split_gate_columns():
    """One poly-contact track takes one gate per column: a column whose N and P gates differ is
    split, the empty slots bridging the diffusion they interrupt; the cell comes out clean."""
    tgt = load_process(TARGET)
    cell = _builtin()["nbcell__aoi21_1"]
    pl = place(cell, tgt)
    # the P row mirrored (order reversed, every finger flipped): still a valid placement, and its
    # gates no longer line up with the N row's
    pl = Placement(pl.n, tuple(None if s is None else replace(s, flip=not s.flip) for s in reversed(pl.p)))
    check_placement(cell, pl)
    fs = {(f.device, f.index): f for f in fingers(cell)}
    gate = lambda s: None if s is None else fs[(s.device, s.finger)].gate  # noqa: E731
    split = sum(1 for a, b in zip(pl.n, pl.p) if a and b and gate(a) != gate(b))
    assert split
    f = build_track_frame(cell, tgt, pl)
    assert f.placement.columns == pl.columns + split
    assert all(not (a and b) or gate(a) == gate(b) for a, b in zip(f.placement.n, f.placement.p))
    assert {r for _, r, _ in f.gates} >= {"n", "p"}
    gen = generate(cell, tgt, placement=pl)
    assert run_drc(gen.layout, gen.top, tgt.technology).violations == 0
    lvs = run_lvs(gen.layout, gen.top, tgt, cell)
    assert lvs.match and lvs.pins_ok, lvs.messages


@pytest.mark.parametrize("name", SAMPLE)
def test_builtin_cell_is_clean(name):
    tgt = load_process(TARGET)
    gen = assert_drc_lvs_clean(TARGET, name)
    site = tgt.template.site.width
    assert abs(gen.width_um / site - round(gen.width_um / site)) < 1e-6
    assert 0 < width_lower_bound_um(_builtin()[name], tgt) <= gen.width_um + 1e-9


def test_lef_pins_on_li1_and_power_on_met1():
    tgt = load_process(TARGET)
    gen = _generated("nbcell__nand2_1")
    text = lefw.macro(_builtin()["nbcell__nand2_1"], tgt, gen.width_um, gen.pins, gen.obstructions)
    assert f"SIZE {gen.width_um:g} BY 2.72 ;" in text and "SITE unithd ;" in text
    for pin in ("A", "B", "Y"):
        assert "LAYER li1 ;" in text.split(f"PIN {pin}")[1].split(f"END {pin}")[0]
    for pin in ("VPWR", "VGND"):
        block = text.split(f"PIN {pin}")[1].split(f"END {pin}")[0]
        assert "LAYER met1 ;" in block and "USE" in block


def test_dense_lines_are_narrower_and_keep_the_rules():
    """With ``line_floor=0`` a gate line comes as close to its contact lines as licon.11 allows
    (0.21 µm: half the poly 0.15, licon.11a 0.05, half licon.1 0.17; not the 0.46 li1 pitch), lines with no gate between keep the pitch, and the frame
    is narrower; the orchestrator's first row keeps such a layout only when KLayout finds it clean,
    so the built-in nand3 comes out narrower than lines a pitch apart allow (one column inserted),
    and clean."""
    tgt = load_process(TARGET)
    cell = _builtin()["nbcell__nand3_1"]
    pl = place(cell, tgt)
    wide, dense = build_track_frame(cell, tgt, pl), build_track_frame(cell, tgt, pl, line_floor=0)
    assert dense.width < wide.width
    gaps = [b - a for a, b in zip(dense.xs, dense.xs[1:])]
    assert min(gaps) == 210 and all(b - a >= 460 for a, b in zip(wide.xs, wide.xs[1:]))
    gated = {dense.gate_line[g] for g in range(dense.placement.columns) if dense.gate_line[g] is not None}
    assert all(gap >= 460 for i, gap in enumerate(gaps) if i not in gated and i + 1 not in gated)
    gen = assert_drc_lvs_clean(TARGET, "nbcell__nand3_1")
    assert dense.width <= round(gen.width_um * 1000) < wide.width


def test_no_small_holes_in_one_nets_metal():
    """sky130 hd sdfrtp_1 routes a met2 loop around a hole of less than m2.7's 0.14 µm²; the drawing
    fills a hole of one net's metal that holds no other net, so the cell is clean (it failed m2.7)."""
    import klayout.db as kdb

    from conftest import celllib
    from nbcell.drc.check import check_cell
    from nbcell.layout.frame import fit_rows
    from nbcell.library import read_library
    from nbcell.sizing import size_cell

    lib = read_library(str(celllib("sky130_fd_sc_hd")), None)
    tgt = load_process(TARGET)
    cell = next(c for c in lib.cells if c.name == "sky130_fd_sc_hd__sdfrtp_1")
    sized = fit_rows(size_cell(cell, lib.process, tgt), tgt)
    gen = generate(sized, tgt)
    chk = check_cell(gen.layout, gen.top, tgt, sized, None)
    assert chk.clean, (chk.drc_by_rule, chk.error)
    for name in ("met1", "met2"):
        layer = gen.layout.find_layer(*tgt.technology.layer(name))
        assert kdb.Region(gen.top.begin_shapes_rec(layer)).holes().is_empty(), name
