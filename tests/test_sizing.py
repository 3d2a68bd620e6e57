"""Porting a netlist: device mapping, the width rule, folding, the written CDL."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import celllib
from nbcell.library import read_library
from nbcell.netlist import Cell, Transistor
from nbcell.pdk import load_process
from nbcell.sizing import SizingRule, check_sized, fold, size_cell, snap


def test_snap_and_fold() -> None:
    assert snap(0.8212, 0.005) == 0.82
    assert snap(0.8212, 0.005, "up") == 0.825
    assert fold(0.5, 1.05, 0.30, 0.005) == (1, 0.5)
    assert fold(0.1, 1.05, 0.30, 0.005) == (1, 0.3)  # clamped to the minimum
    assert fold(2.46, 1.05, 0.30, 0.005) == (3, 0.82)
    nf, w = fold(5.0, 1.22, 0.30, 0.005)
    assert nf == 5 and w <= 1.22 and nf * w == pytest.approx(5.0, abs=nf * 0.005)


def _tr(name: str, typ: str, w: float, model: str, nf: int = 1, m: int = 1, bulk: str = "") -> Transistor:
    return Transistor(name, "Y", "A", "VGND" if typ == "n" else "VPWR", bulk or ("VNB" if typ == "n" else "VPB"),
                      model, typ, "svt" if typ == "n" else "hvt", w, 0.15, nf, m)


def test_inverter_ratio_rule() -> None:
    src, tgt = load_process("sky130_hd"), load_process("gf180mcu_7t")
    cell = Cell("x", ("A", "Y", "VGND", "VNB", "VPB", "VPWR"),
                [_tr("MN", "n", src.min_inverter.n, "sky130_fd_pr__nfet_01v8", m=3),
                 _tr("MP", "p", src.min_inverter.p, "sky130_fd_pr__pfet_01v8_hvt")])
    out = size_cell(cell, src, tgt)
    n, p = out.transistors
    # 3x the source inverter's NMOS -> 3x the target inverter's NMOS, folded to fit the row
    assert n.model == "nfet_05v0" and n.l == tgt.all_devices["nfet_05v0"].l_min
    assert n.nf * n.w == pytest.approx(3 * tgt.min_inverter.n, abs=n.nf * 0.005)
    assert n.w <= tgt.template.n_row.max_finger_w
    assert (p.model, p.nf, p.w) == ("pfet_05v0", 1, tgt.min_inverter.p)
    # supplies and bodies renamed to the target's names
    assert out.pins == ("A", "Y", "VSS", "VPW", "VNW", "VDD")
    assert (n.source, n.bulk, p.source, p.bulk) == ("VSS", "VPW", "VDD", "VNW")
    assert check_sized(out, tgt) == []


def test_scale_and_length_rules() -> None:
    src, tgt = load_process("sky130_hd"), load_process("gf180mcu_7t")
    long = Transistor("ML", "Y", "A", "VGND", "VNB", "sky130_fd_pr__nfet_01v8", "n", "svt", 1.0, 0.45)
    cell = Cell("x", ("A", "Y", "VGND", "VNB"), [long])
    (t,) = size_cell(cell, src, tgt, SizingRule(width="scale", length="ratio", scale=2.0)).transistors
    assert t.l == pytest.approx(3 * 0.6)
    assert t.nf * t.w == pytest.approx(2.0, abs=0.01)
    (t,) = size_cell(cell, src, tgt, SizingRule(width="keep")).transistors
    assert (t.l, t.nf * t.w) == (0.6, pytest.approx(1.0))


def test_no_body_pins_target() -> None:
    src, tgt = load_process("sky130_hd"), load_process("sg13g2")
    cell = Cell("x", ("A", "Y", "VGND", "VNB", "VPB", "VPWR"),
                [_tr("MN", "n", 0.65, "sky130_fd_pr__nfet_01v8"), _tr("MP", "p", 1.0, "sky130_fd_pr__pfet_01v8_hvt")])
    out = size_cell(cell, src, tgt)
    assert out.pins == ("A", "Y", "VSS", "VDD")
    assert {t.bulk for t in out.transistors} == {"VSS", "VDD"}


def test_size_sky130_hd_to_gf180(tmp_path: Path) -> None:
    lib = celllib("sky130_fd_sc_hd")
    out = tmp_path / "sized"
    proc = subprocess.run([sys.executable, "-m", "nbcell.cli", "size", f"source={lib}", "target=gf180mcu_7t",
                           f"out={out}"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    files = sorted(out.glob("*.cdl"))
    assert len(files) == 437
    report = json.loads((out / "size.json").read_text())
    assert report["sized"] == 437 and report["failed"] == []
    # read the written CDL back as gf180 netlists: every W and L legal, fingers inside the rows
    tgt = load_process("gf180mcu_7t")
    back = read_library(out, "gf180mcu_7t")
    assert back.errors == [] and len(back.cells) == 437
    src = {c.name: c for c in read_library(lib).cells}
    rows = {"n": tgt.template.n_row, "p": tgt.template.p_row}
    for cell in back.cells:
        for t in cell.transistors:
            dm = tgt.all_devices[t.model]
            assert t.model in ("nfet_05v0", "pfet_05v0")
            assert dm.w_min <= t.w <= rows[t.type].max_finger_w, (cell.name, t)
            assert t.l >= dm.l_min
            assert math.isclose(t.w / 0.005, round(t.w / 0.005), abs_tol=1e-6)
        assert {"VDD", "VSS"} <= set(cell.pins)
        # total width per source device is kept in ratio (within grid rounding and the minimum clamp)
        s = src[cell.name]
        n_src = sum(x.total_w for x in s.transistors if x.type == "n")
        n_dst = sum(x.total_w for x in cell.transistors if x.type == "n")
        if n_src:
            assert n_dst >= n_src / 0.65 * 0.82 - 0.01 * len(cell.transistors)
