"""DRC and LVS of one cell sharing its flattened layers (``CellLayers``) give the verdicts of separate runs."""

from __future__ import annotations

from functools import lru_cache

import klayout.db as kdb
import pytest

from conftest import celllib
from nbcell.drc import CellLayers, run_drc
from nbcell.drc.lvs import reference_netlist, run_lvs
from nbcell.library import read_library

CASES = [
    ("gf180mcu_fd_sc_mcu7t5v0", "gf180mcu_7t", "gf180mcu_fd_sc_mcu7t5v0__nand2_1"),
    ("gf180mcu_fd_sc_mcu7t5v0", "gf180mcu_7t", "gf180mcu_fd_sc_mcu7t5v0__antenna"),  # a diode
    ("gf180mcu_fd_sc_mcu9t5v0", "gf180mcu_9t", "gf180mcu_fd_sc_mcu9t5v0__icgtp_1"),  # DRC: PL.3a
    ("sky130_fd_sc_hd", "sky130_hd", "sky130_fd_sc_hd__tapvgnd_1"),  # DRC: m1.6
    ("sky130_fd_sc_hd", "sky130_hd", "sky130_fd_sc_hd__conb_1"),  # shorts
    ("sky130_fd_sc_hd", "sky130_hd", "sky130_fd_sc_hd__a21oi_2"),  # LVS mismatch (CDL defect)
]


@lru_cache(maxsize=None)
def _library(lib: str, process: str) -> tuple:
    read = read_library(celllib(lib) / "cdl", process)
    return read.process, {c.name: c for c in read.cells}


def _load(lib: str, cell: str) -> tuple[kdb.Layout, kdb.Cell]:
    layout = kdb.Layout()
    layout.read(str(celllib(lib) / "gds" / f"{cell}.gds"))
    return layout, layout.cell(cell)


def _drc(res) -> tuple:
    return res.by_rule, sorted(f"{rid} {m}" for rid, m in res.markers), [r.id for r in res.evaluated]


def _lvs(res) -> tuple:
    return res.match, res.pins_ok, res.messages, res.notes


@pytest.mark.parametrize("lib,process,cell", CASES, ids=[c[2] for c in CASES])
def test_shared_layers_give_the_same_verdicts(lib, process, cell):
    proc, refs = _library(lib, process)
    tech = proc.technology
    layout, top = _load(lib, cell)
    drc, lvs = run_drc(layout, top, tech), run_lvs(layout, top, proc, refs[cell])
    layers = CellLayers.of(layout, top, tech)
    assert _drc(run_drc(layout, top, tech, layers)) == _drc(drc)
    assert _lvs(run_lvs(layout, top, proc, refs[cell], layers=layers)) == _lvs(lvs)
    # LVS leaves the shared layers as it found them
    assert _drc(run_drc(layout, top, tech, layers)) == _drc(drc)


def test_layers_of_another_cell_are_refused():
    lib, process, cell = CASES[0]
    proc, refs = _library(lib, process)
    layout, top = _load(lib, cell)
    other = layout.create_cell("other")
    layers = CellLayers.of(layout, other, proc.technology)
    with pytest.raises(ValueError, match="layers of other"):
        run_drc(layout, top, proc.technology, layers)
    with pytest.raises(ValueError, match="layers of other"):
        run_lvs(layout, top, proc, refs[cell], layers=layers)


def test_reference_netlist_is_built_once_and_handed_out_as_copies():
    lib, process, cell = CASES[0]
    _, refs = _library(lib, process)
    a, b = reference_netlist(refs[cell]), reference_netlist(refs[cell])
    assert a is not b and a.to_s() == b.to_s()
    a.circuit_by_name(cell).create_net("extra")  # a copy: the cached netlist is untouched
    assert "extra" not in reference_netlist(refs[cell]).to_s()
