"""GDS and LEF output of generated cells (µm in LEF; GDS bytes are deterministic).

GDS: ``klayout.db`` writes without timestamps, so the same cell gives the same
bytes. LEF: one ``MACRO`` per cell with ``SIZE`` on the site grid, ``SITE``,
``SYMMETRY``, ``CLASS CORE``, the pins (``DIRECTION``, ``USE``, shapes on the
technology-LEF layer names) and ``OBS`` for the other metal.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence

import klayout.db as db

from nbcell.layout.generate import GeneratedCell
from nbcell.netlist import Cell
from nbcell.pdk import Process

_DIRS = {"I": "INPUT", "O": "OUTPUT", "B": "INOUT"}


def gds_bytes(cells: Sequence[GeneratedCell]) -> bytes:
    """GDSII bytes of one or more generated cells in one library (same input, same bytes)."""
    if not cells:
        raise ValueError("no cells to write")
    ly = db.Layout()
    ly.dbu = cells[0].layout.dbu
    for g in sorted(cells, key=lambda c: c.name):
        top = ly.create_cell(g.name)
        top.copy_tree(g.top)
    opts = db.SaveLayoutOptions()
    opts.format = "GDS2"
    opts.gds2_write_timestamps = False
    opts.gds2_libname = "NBCELL"
    fd, tmp = tempfile.mkstemp(suffix=".gds")
    os.close(fd)
    try:
        ly.write(tmp, opts)
        with open(tmp, "rb") as f:
            return f.read()
    finally:
        os.unlink(tmp)


def write_gds(path: str | os.PathLike, cells: Sequence[GeneratedCell]) -> None:
    """Write :func:`gds_bytes` to ``path``."""
    with open(path, "wb") as f:
        f.write(gds_bytes(cells))


def _n(x: float) -> str:
    return f"{x:.4f}".rstrip("0").rstrip(".")


def pin_direction(cell: Cell, pin: str) -> str:
    """INPUT / OUTPUT / INOUT: from the netlist's pin info, else a drain/source net is an output."""
    given = cell.pin_directions.get(pin, "")[:1].upper()
    if given in _DIRS:
        return _DIRS[given]
    if any(pin in (t.drain, t.source) for t in cell.transistors):
        return "OUTPUT"
    return "INPUT" if any(pin == t.gate for t in cell.transistors) else "INOUT"


def lef_macro(gen: GeneratedCell, cell: Cell, process: Process) -> str:
    """One LEF ``MACRO`` for a generated cell (``cell``: its sized netlist, for pin order/direction)."""
    tpl = process.template
    names = tpl.lef_layers
    sup = process.supplies
    out = [f"MACRO {gen.name}", "  CLASS CORE ;", f"  FOREIGN {gen.name} 0 0 ;", "  ORIGIN 0 0 ;",
           f"  SIZE {_n(gen.width_um)} BY {_n(tpl.height)} ;", f"  SYMMETRY {tpl.site.symmetry} ;",
           f"  SITE {tpl.site.name} ;"]
    for pin in cell.pins:
        if pin not in gen.pins:
            continue  # body pins are the wells themselves
        layer, rects = gen.pins[pin]
        out.append(f"  PIN {pin}")
        if pin in (sup.power, sup.ground):
            out += ["    DIRECTION INOUT ;", f"    USE {'POWER' if pin == sup.power else 'GROUND'} ;",
                    "    SHAPE ABUTMENT ;"]
        else:
            out += [f"    DIRECTION {pin_direction(cell, pin)} ;", "    USE SIGNAL ;"]
        out += ["    PORT", f"      LAYER {names.get(layer, layer)} ;"]
        out += [f"        RECT {' '.join(_n(v) for v in r)} ;" for r in sorted(rects)]
        out += ["    END", f"  END {pin}"]
    obs = {k: v for k, v in sorted(gen.obstructions.items()) if v}
    if obs:
        out.append("  OBS")
        for layer, rects in obs.items():
            out.append(f"    LAYER {names.get(layer, layer)} ;")
            out += [f"      RECT {' '.join(_n(v) for v in r)} ;" for r in sorted(rects)]
        out.append("  END")
    out.append(f"END {gen.name}")
    return "\n".join(out) + "\n"


def lef_library(macros: Iterable[str]) -> str:
    """A cell-library LEF: header, the macros, ``END LIBRARY``."""
    head = ["VERSION 5.8 ;", 'BUSBITCHARS "[]" ;', 'DIVIDERCHAR "/" ;', "UNITS", "  DATABASE MICRONS 1000 ;",
            "END UNITS", ""]
    return "\n".join(head) + "\n" + "".join(macros) + "END LIBRARY\n"
