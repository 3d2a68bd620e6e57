"""Every real cell of ../shared/celllibs is read, with the right transistor count.

The expected counts come from a deliberately naive, independent scan of the
netlist text (M lines, plus X lines calling a *fet*/*mos* model, plus the
counts of called subcircuits), not from nbcell's reader.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

from conftest import CELLLIBS, LIBRARIES, celllib
from nbcell.library import read_library, resolve_source

_MOS_MODEL = re.compile(r"(fet|mos|pshort|nshort|nlowvt|phighvt|plowvt)", re.IGNORECASE)


def _netlist_files(lib: Path) -> list[Path]:
    for sub in ("spice", "cdl"):
        files = sorted((lib / sub).glob("*")) if (lib / sub).is_dir() else []
        if files:
            return files
    return []


@lru_cache(maxsize=None)
def naive_counts(lib_name: str) -> dict[str, int]:
    """{cell: MOS device lines after flattening}, by plain text scanning."""
    bodies: dict[str, list[str]] = {}
    for f in _netlist_files(CELLLIBS / lib_name):
        text = re.sub(r"\n\+", " ", f.read_text())
        cur = None
        for line in text.splitlines():
            tok = line.split()
            if not tok or tok[0].startswith("*"):
                continue
            if tok[0].lower() == ".subckt":
                cur = tok[1]
                # a name defined twice: keep the definition from the cell's own file
                if cur in bodies and f.stem != cur:
                    cur = None
                else:
                    bodies[cur] = []
            elif tok[0].lower() == ".ends":
                cur = None
            elif cur is not None:
                bodies[cur].append(line)

    @lru_cache(maxsize=None)
    def count(name: str) -> int:
        n = 0
        for line in bodies[name]:
            tok = [t for t in line.split() if "=" not in t]
            letter = tok[0][0].upper()
            if letter == "M":
                n += 1
            elif letter == "X":
                model = tok[-1]
                if model in bodies:
                    n += count(model)
                elif _MOS_MODEL.search(model):
                    n += 1
        return n

    return {name: count(name) for name in bodies}


def _all_cells() -> list[tuple[str, str]]:
    if not CELLLIBS.is_dir():
        return [pytest.param("-", "-", marks=pytest.mark.skip(reason=f"{CELLLIBS} not found (set NBCELL_CELLLIBS)"))]
    return [(lib, cell) for lib in LIBRARIES if (CELLLIBS / lib).is_dir() for cell in sorted(naive_counts(lib))]


@lru_cache(maxsize=None)
def read(lib_name: str):
    res = read_library(CELLLIBS / lib_name)
    return {c.name: c for c in res.cells}, res


@pytest.mark.parametrize("lib,cell", _all_cells())
def test_every_real_cell(lib: str, cell: str) -> None:
    cells, res = read(lib)
    assert cell in cells, f"{cell} not read: {[e.error for e in res.errors if e.name == cell]}"
    assert len(cells[cell].transistors) == naive_counts(lib)[cell]


@pytest.mark.parametrize("lib", list(LIBRARIES))
def test_library_totals(lib: str) -> None:
    path = celllib(lib)
    cells, res = read(lib)
    assert res.errors == []
    assert len(cells) == LIBRARIES[lib] == len(naive_counts(lib))
    assert res.process.libraries and lib in res.process.libraries
    # SPICE wins over CDL where both exist
    src = resolve_source(path)
    assert src.files[0].parent.name == ("spice" if (path / "spice").is_dir() else "cdl")


def test_corpus_total() -> None:
    if not CELLLIBS.is_dir():
        pytest.skip(f"{CELLLIBS} not found (set NBCELL_CELLLIBS)")
    assert sum(len(read(lib)[0]) for lib in LIBRARIES) == 2683


def test_known_quirks() -> None:
    cells, _ = read(celllib("sky130_fd_sc_hd").name)
    # hierarchical cell flattened through other cells' subcircuits
    spare = cells["sky130_fd_sc_hd__macro_sparecell"]
    parts = ("nand2_2", "nand2_2", "inv_2", "inv_2", "nor2_2", "nor2_2", "conb_1")
    assert len(spare.transistors) == sum(len(cells[f"sky130_fd_sc_hd__{p}"].transistors) for p in parts) == 40
    assert [d.kind for d in spare.devices] == ["short", "short"]
    assert any("/" in t.name for t in spare.transistors)
    # short devices and diodes kept as such
    assert [d.kind for d in cells["sky130_fd_sc_hd__conb_1"].devices] == ["short", "short"]
    assert [d.kind for d in cells["sky130_fd_sc_hd__diode_2"].devices] == ["diode"]
    nand = cells["sky130_fd_sc_hd__nand2_1"]
    assert {(t.type, t.flavour, t.w, t.l) for t in nand.transistors} == {("p", "hvt", 1.0, 0.15), ("n", "svt", 0.65, 0.15)}
    hdll, _ = read(celllib("sky130_fd_sc_hdll").name)
    assert len(hdll["sky130_fd_sc_hdll__tap"].transistors) == 7150
    gf, _ = read(celllib("gf180mcu_fd_sc_mcu9t5v0").name)
    assert {t.w for t in gf["gf180mcu_fd_sc_mcu9t5v0__inv_1"].transistors} == {1.32, 1.83}
    asap, _ = read(celllib("asap7sc7p5t_28").name)
    inv = [c for n, c in asap.items() if n.startswith("INVx1_")][0]
    assert {round(t.w, 4) for t in inv.transistors} <= {0.081, 0.054, 0.108}
    ls, _ = read(celllib("sky130_fd_sc_ls").name)
    assert any(d.kind == "short" for c in ls.values() for d in c.devices)


@pytest.mark.parametrize("lib", list(LIBRARIES))
def test_cli_cells_json(lib: str) -> None:
    path = celllib(lib)
    out = subprocess.run([sys.executable, "-m", "nbcell.cli", "cells", f"source={path}", "format=json"],
                         capture_output=True, text=True, check=True)
    rows = json.loads(out.stdout)  # stdout carries only the JSON array
    assert {r["name"]: r["transistors"] for r in rows} == naive_counts(lib)
    assert all(isinstance(r["pins"], list) and r["pins"] for r in rows)
