"""``nbcell check``: DRC + LVS on any layout, one row per top cell in ``check.json``.

``gds`` is a GDS file (one or many top cells) or a folder of GDS files; the
reference netlists (a file or folder) are matched by subcircuit name and read
with the target process. Per cell, ``cells/<name>/<name>.lyrdb`` and ``.lvsdb``
are written next to ``check.json``.
"""

from __future__ import annotations

import fnmatch
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import klayout.db as kdb

from nbcell.atomic import write_text_atomic
from nbcell.drc import CellLayers, run_drc
from nbcell.drc.lvs import run_lvs
from nbcell.library import read_library
from nbcell.netlist import Cell
from nbcell.paths import cell_dir as cell_folder, file_stem
from nbcell.pdk import Process


@dataclass
class CellCheck:
    """The verdict on one layout cell. ``lvs_match``/``pins_ok`` are None when LVS was not run."""

    name: str
    drc_violations: int = 0
    drc_by_rule: dict[str, int] = field(default_factory=dict)
    lvs_match: bool | None = None
    pins_ok: bool | None = None
    lvs_messages: list[str] = field(default_factory=list)
    gds: str = ""
    lyrdb: str | None = None
    lvsdb: str | None = None
    seconds: float = 0.0
    error: str | None = None

    @property
    def clean(self) -> bool:
        return self.error is None and self.drc_violations == 0 and bool(self.lvs_match) and bool(self.pins_ok)


def check_cell(layout: kdb.Layout, cell: kdb.Cell, process: Process, reference: Cell | None,
               cell_dir: Path | None, gds_path: str = "") -> CellCheck:
    """DRC (and LVS when a reference is given) of one cell; reports go to ``cell_dir`` if set."""
    t0 = time.perf_counter()
    res = CellCheck(cell.name, gds=gds_path)
    try:
        # flattened layers built once, shared by DRC and LVS
        layers = CellLayers.of(layout, cell, process.technology)
        drc = run_drc(layout, cell, process.technology, layers=layers)
        res.drc_violations, res.drc_by_rule = drc.violations, dict(sorted(drc.by_rule.items()))
        if cell_dir is not None:
            cell_dir.mkdir(parents=True, exist_ok=True)
            path = cell_dir / f"{file_stem(cell.name)}.lyrdb"
            drc.write_lyrdb(str(path), cell.name, gds_path or None)
            res.lyrdb = str(path)
        if reference is not None:
            lvsdb = str(cell_dir / f"{file_stem(cell.name)}.lvsdb") if cell_dir is not None else None
            lvs = run_lvs(layout, cell, process, reference, lvsdb, layers=layers)
            res.lvs_match, res.pins_ok, res.lvs_messages = lvs.match, lvs.pins_ok, list(lvs.messages)
            res.lvsdb = lvsdb
    except Exception as e:  # one broken cell never stops the batch
        res.error = f"{type(e).__name__}: {e}"
    res.seconds = round(time.perf_counter() - t0, 4)
    return res


def gds_files(gds: Path) -> list[Path]:
    """The GDS files named by ``gds=``: the file itself or every ``*.gds`` in the folder."""
    if gds.is_dir():
        files = sorted(p for p in gds.iterdir() if p.suffix.lower() in (".gds", ".gds2", ".gdsii"))
        if not files:
            raise FileNotFoundError(f"gds={gds}: no GDS files in this folder")
        return files
    if not gds.is_file():
        raise FileNotFoundError(f"gds={gds}: no such file or folder")
    return [gds]


def check_layouts(process: Process, gds: Path, netlist: Path | None, out: Path, cells: str = "*") -> dict:
    """Check every top cell of ``gds`` against ``netlist``; writes and returns the ``check.json`` content."""
    refs: dict[str, Cell] = {}
    ref_errors: dict[str, str] = {}
    if netlist is not None:
        read = read_library(netlist, process)
        refs = {c.name: c for c in read.cells}
        ref_errors = {e.name: e.error for e in read.errors if e.name}
    rows: list[CellCheck] = []
    for path in gds_files(gds):
        layout = kdb.Layout()
        try:
            layout.read(str(path))
        except RuntimeError as e:
            rows.append(CellCheck(path.stem, gds=str(path), error=f"cannot read GDS: {e}"))
            continue
        for top in layout.top_cells():
            if not fnmatch.fnmatchcase(top.name, cells):
                continue
            ref = refs.get(top.name)
            row = check_cell(layout, top, process, ref, cell_folder(out, top.name), str(path))
            if netlist is not None and ref is None and row.error is None:
                row.error = ref_errors.get(top.name, f"no subcircuit {top.name} in {netlist}")
                row.lvs_match = row.pins_ok = False
            rows.append(row)
    report = {"target": process.name, "gds": str(gds), "netlist": str(netlist) if netlist else None,
              "cells": [asdict(r) for r in rows]}
    write_text_atomic(out / "check.json", json.dumps(report, indent=1) + "\n")
    return report
