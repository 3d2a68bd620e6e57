"""LEF writer: one MACRO per generated cell (SIZE on the site grid, SITE, SYMMETRY, pins, OBS).

Coordinates in µm. Pin directions come from the netlist (``*.PININFO``) when it
has them, else from the devices: a net on a drain/source is an OUTPUT, a net
on gates only an INPUT. Body pins without shapes (gf180 VNW/VPW) are left out,
as in the foundry LEFs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from nbcell.netlist import Cell
from nbcell.pdk import Process

Rect = tuple[float, float, float, float]
_DIRS = {"I": "INPUT", "O": "OUTPUT", "B": "INOUT", "P": "INOUT", "G": "INOUT"}


def _n(x: float) -> str:
    return f"{x:.3f}".rstrip("0").rstrip(".")


def pin_direction(cell: Cell, pin: str) -> str:
    """INPUT / OUTPUT / INOUT of a signal pin."""
    given = cell.pin_directions.get(pin, "")[:1].upper()
    if given in _DIRS:
        return _DIRS[given]
    on_sd = any(pin in (t.drain, t.source) for t in cell.transistors)
    on_gate = any(pin == t.gate for t in cell.transistors)
    return "OUTPUT" if on_sd else ("INPUT" if on_gate else "INOUT")


def macro(cell: Cell, process: Process, width: float, pins: Mapping[str, tuple[str, Sequence[Rect]]],
          obstructions: Mapping[str, Sequence[Rect]] = {}) -> str:
    """One ``MACRO`` block. ``pins``: name -> (layer, rects); ``obstructions``: layer -> rects."""
    tpl = process.template
    lef = tpl.lef_layers
    sup = process.supplies
    lines = [f"MACRO {cell.name}", "  CLASS CORE ;", f"  FOREIGN {cell.name} 0 0 ;", "  ORIGIN 0 0 ;",
             f"  SIZE {_n(width)} BY {_n(tpl.height)} ;", f"  SYMMETRY {tpl.site.symmetry} ;",
             f"  SITE {tpl.site.name} ;"]
    for name in cell.pins:
        if name not in pins:
            continue
        layer, rects = pins[name]
        lines.append(f"  PIN {name}")
        if name in (sup.power, sup.ground):
            use = "POWER" if name == sup.power else "GROUND"
            lines += ["    DIRECTION INOUT ;", f"    USE {use} ;", "    SHAPE ABUTMENT ;"]
        else:
            lines += [f"    DIRECTION {pin_direction(cell, name)} ;", "    USE SIGNAL ;"]
        lines += ["    PORT", f"      LAYER {lef.get(layer, layer)} ;"]
        lines += [f"        RECT {' '.join(_n(v) for v in r)} ;" for r in rects]
        lines += ["    END", f"  END {name}"]
    if any(obstructions.values()):
        lines.append("  OBS")
        for layer, rects in obstructions.items():
            if rects:
                lines.append(f"    LAYER {lef.get(layer, layer)} ;")
                lines += [f"      RECT {' '.join(_n(v) for v in r)} ;" for r in rects]
        lines.append("  END")
    lines.append(f"END {cell.name}")
    return "\n".join(lines) + "\n"


def library(macros: Iterable[str], process: Process) -> str:
    """A cell LEF file: header plus the macros."""
    head = ['VERSION 5.8 ;', 'BUSBITCHARS "[]" ;', 'DIVIDERCHAR "/" ;', "UNITS", "  DATABASE MICRONS 1000 ;",
            "END UNITS", ""]
    return "\n".join(head) + "\n".join(macros) + "END LIBRARY\n"
