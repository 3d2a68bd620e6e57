"""sg13g2 as a target: the template's tie strips (P+ under VSS, N+ in the n-well under VDD) are
drawn, so device bodies reach the supplies; the rows keep the tie and implant rules; one
poly-contact track in the channel; built-in cells DRC-clean and LVS-matching with pin names."""

from __future__ import annotations

import klayout.db as db
import pytest

from conftest import assert_drc_lvs_clean, builtin_generated, builtin_sized
from nbcell.layout.frame import row_limits
from nbcell.layout.place import place
from nbcell.layout.rules import load_rules
from nbcell.layout.tracks import build_track_frame
from nbcell.netlist import Cell
from nbcell.pdk import load_process

TARGET = "sg13g2"
SAMPLE = ("nbcell__inv_1", "nbcell__nand2_1", "nbcell__nor3_1", "nbcell__aoi22_1", "nbcell__mux2_1",
          "nbcell__tbuf_1", "nbcell__xor2_1", "nbcell__dff_1")


def _builtin() -> dict[str, Cell]:
    return builtin_sized(TARGET)


def _generated(name: str):
    return builtin_generated(TARGET, name)


def test_rows_keep_the_tie_and_implant_rules():
    """N diffusion: Act.b / Gat.d + Gat.c above the P+ tie (0.15), pSD.j (0.30) above its pSD band
    (0.18); P diffusion: pSD.i (0.30) inside the pSD band (1.76..3.60), clear of the N+ tie (3.63)."""
    tgt = load_process(TARGET)
    (n_lo, n_hi), (p_lo, p_hi) = row_limits(tgt, load_rules(tgt))
    assert n_lo >= 150 + 210 and n_lo - 180 - 70 >= 150 and n_lo >= 180 + 300
    assert p_lo >= 1760 + 300 and p_hi <= 3600 - 300 and p_hi + 180 + 70 <= 3630
    cell = _builtin()["nbcell__inv_1"]
    f = build_track_frame(cell, tgt, place(cell, tgt))
    assert f.track_kind.count("c") == 1 and "cn" not in f.track_kind


def test_tie_strips_are_drawn():
    tgt = load_process(TARGET)
    gen = _generated("nbcell__inv_1")
    tech = tgt.technology
    reg = lambda name: db.Region(gen.top.begin_shapes_rec(gen.layout.layer(*tech.layer(name))))  # noqa: E731
    W = round(gen.width_um / tech.dbu)
    activ, cont, psd = reg("activ"), reg("cont"), reg("psd")
    for y0, y1 in ((-150, 150), (3630, 3930)):
        strip = activ & db.Region(db.Box(0, y0, W, y1))
        assert strip.area() == W * (y1 - y0)
        # one contact per site, on the rail's centre line
        assert (cont & db.Region(db.Box(0, y0, W, y1))).count() == W // 480
    assert not (psd & db.Region(db.Box(0, -180, W, 180))).is_empty()


@pytest.mark.parametrize("name", SAMPLE)
def test_builtin_cell_is_clean(name):
    assert_drc_lvs_clean(TARGET, name)


def test_short_second_metal_piece_grows_to_the_minimum_area():
    """Two vias on neighbouring tracks of one line joined on Metal2: 0.20 x 0.70 = 0.14 µm², below
    M2.d (0.144): the piece grows along its line, away from another net's node on the next track."""
    from nbcell.layout.gridded import _Draw
    from nbcell.layout.maze import NetWires

    tgt = load_process(TARGET)
    cell = _builtin()["nbcell__inv_1"]
    f = build_track_frame(cell, tgt, place(cell, tgt))
    need = load_rules(tgt).area("m1.area")
    c = f.lines // 2
    x, (y0, y1) = f.x(c), (f.ys[1], f.ys[2])
    piece = (x - 100, y0 - 145, x + 100, y1 + 145)
    for others, down_only in (({}, False), ({"Y": NetWires("Y", m1={(c, 3)})}, True)):
        ly = db.Layout()
        ly.dbu = tgt.technology.dbu
        dr = _Draw(f, {"X": NetWires("X", m1={(c, 1), (c, 2)}), **others}, ly, ly.create_cell("x"))
        dr.net("X", "m1", piece)
        dr.min_area()
        (poly,) = list(dr.net_m1["X"].merged().each())
        b = poly.bbox()
        assert poly.area() >= need and (b.left, b.right) == (piece[0], piece[2])
        assert b.bottom < piece[1] and (b.top == piece[3]) == down_only
