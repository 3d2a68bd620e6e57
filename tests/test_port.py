"""`nbcell port`: the summary.json contract, per-cell outputs, determinism, a bad cell never stops the run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import klayout.db as kdb
import pytest

from conftest import celllib
from nbcell.library import read_library
from nbcell.pdk import load_process
from nbcell.port import STATUSES, PortJob, run_port

FIELDS = {"name", "status", "transistors", "drc_violations", "drc_by_rule", "lvs_match", "width_um", "height_um",
          "lower_bound_um", "seconds", "error"}



def port(out: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nbcell.cli", "port", f"out={out}", *args], capture_output=True,
                          text=True)


@pytest.fixture(scope="module")
def ported(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("port")
    proc = port(out, "cells=nbcell__n*2_1", "seed=7")
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    return out


def test_summary_contract(ported: Path) -> None:
    s = json.loads((ported / "summary.json").read_text())
    assert {"source", "target", "policy", "seed", "elapsed_s", "cells"} <= set(s)
    assert (s["source"], s["target"], s["policy"], s["seed"]) == ("builtin", "gf180mcu_7t", "greedy", 7)
    rows = {r["name"]: r for r in s["cells"]}
    assert set(rows) == {"nbcell__nand2_1", "nbcell__nor2_1"}
    for r in rows.values():
        assert FIELDS <= set(r) and r["status"] in STATUSES
        # the simple cells come out clean: KLayout DRC 0 and LVS with pin names
        assert r["status"] == "clean", r
        assert r["drc_violations"] == 0 and r["lvs_match"] and r["pins_ok"]
        assert r["height_um"] == 3.92 and r["width_um"] >= r["lower_bound_um"] > 0
        assert round(r["width_um"] / 0.56, 6).is_integer()
        assert r["layout_style"] == "gridded"  # two metals suffice for a simple gate


def test_outputs(ported: Path) -> None:
    for name in ("nbcell__nand2_1", "nbcell__nor2_1"):
        d = ported / "cells" / name
        for ext in ("gds", "lef", "cdl", "lyrdb", "lvsdb"):
            assert (d / f"{name}.{ext}").is_file(), ext
        lef = (d / f"{name}.lef").read_text()
        assert f"MACRO {name}" in lef and "SITE GF018hv5v_mcu_sc7 ;" in lef and "LAYER Metal1 ;" in lef
        assert "PIN Y" in lef and "DIRECTION OUTPUT ;" in lef and "USE POWER ;" in lef
    ly = kdb.Layout()
    ly.read(str(ported / "nbcell_builtin.gds"))
    assert sorted(c.name for c in ly.top_cells()) == ["nbcell__nand2_1", "nbcell__nor2_1"]
    lef = (ported / "nbcell_builtin.lef").read_text()
    assert lef.count("MACRO ") == 2 and lef.rstrip().endswith("END LIBRARY")
    assert (ported / "nbcell_builtin.cdl").read_text().count(".SUBCKT") == 2


def test_same_input_same_gds(ported: Path, tmp_path: Path) -> None:
    proc = port(tmp_path, "cells=nbcell__n*2_1", "seed=7")
    assert proc.returncode in (0, 1)
    for name in ("nbcell__nand2_1", "nbcell__nor2_1"):
        a = (ported / "cells" / name / f"{name}.gds").read_bytes()
        b = (tmp_path / "cells" / name / f"{name}.gds").read_bytes()
        assert a == b
    assert (ported / "nbcell_builtin.gds").read_bytes() == (tmp_path / "nbcell_builtin.gds").read_bytes()


def test_bad_cell_does_not_stop_the_run(tmp_path: Path) -> None:
    src, tgt = load_process("sky130_hvl"), load_process("gf180mcu_7t")
    lib = celllib("sky130_fd_sc_hvl")
    cells = {c.name: c for c in read_library(lib).cells}
    picked = [cells["sky130_fd_sc_hvl__schmittbuf_1"], cells["sky130_fd_sc_hvl__inv_1"]]
    s = run_port(picked, PortJob(src, tgt), tmp_path, "sky130_fd_sc_hvl", str(lib), [("broken", "x.spice:3: bad")])
    rows = {r["name"]: r for r in s["cells"]}
    bad = rows["sky130_fd_sc_hvl__schmittbuf_1"]
    assert bad["status"] == "failed" and "no resistor device" in bad["error"] and "schmittbuf_1.spice:" in bad["error"]
    assert rows["broken"]["status"] == "failed"
    assert rows["sky130_fd_sc_hvl__inv_1"]["status"] in ("clean", "drc", "lvs")
