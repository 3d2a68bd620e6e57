"""Shared test fixtures: where the real libraries are, and a skip when they are absent."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CELLLIBS = Path(os.environ.get("NBCELL_CELLLIBS", REPO.parent / "shared" / "celllibs"))

#: library folder -> number of distinct cells (../shared/celllibs/README.md)
LIBRARIES = {
    "sky130_fd_sc_hd": 437,
    "sky130_fd_sc_hdll": 333,
    "sky130_fd_sc_hvl": 69,
    "sky130_fd_sc_hs": 390,
    "sky130_fd_sc_ms": 390,
    "sky130_fd_sc_ls": 398,
    "gf180mcu_fd_sc_mcu7t5v0": 229,
    "gf180mcu_fd_sc_mcu9t5v0": 229,
    "asap7sc7p5t_28": 208,
}


def celllib(name: str) -> Path:
    """Path of a real library folder, or skip the test with the reason."""
    path = CELLLIBS / name
    if not path.is_dir():
        pytest.skip(f"real library {name} not found under {CELLLIBS} (set NBCELL_CELLLIBS)")
    return path


@functools.cache
def builtin_sized(target: str) -> dict:
    """The built-in library sized and folded for ``target``: cell name -> Cell."""
    from nbcell.layout.frame import fit_rows
    from nbcell.library import read_library
    from nbcell.pdk import load_process
    from nbcell.sizing import size_cell

    src, tgt = load_process("builtin"), load_process(target)
    return {c.name: fit_rows(size_cell(c, src, tgt), tgt) for c in read_library("builtin").cells}


@functools.cache
def builtin_generated(target: str, name: str):
    """The layout of built-in cell ``name`` for ``target`` (a GeneratedCell)."""
    from nbcell.attempts import generate
    from nbcell.pdk import load_process

    return generate(builtin_sized(target)[name], load_process(target))


def assert_drc_lvs_clean(target: str, name: str):
    """The built-in cell's layout for ``target`` is gridded, DRC 0 and LVS-matching with pin names;
    returns it."""
    from nbcell.drc import run_drc
    from nbcell.drc.lvs import run_lvs
    from nbcell.pdk import load_process

    tgt = load_process(target)
    gen = builtin_generated(target, name)
    assert gen.style.startswith("gridded"), gen.style
    drc = run_drc(gen.layout, gen.top, tgt.technology)
    assert drc.violations == 0, drc.by_rule
    lvs = run_lvs(gen.layout, gen.top, tgt, builtin_sized(target)[name])
    assert lvs.match and lvs.pins_ok, lvs.messages
    return gen
