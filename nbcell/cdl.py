"""CDL writer: the ported netlist that LVS compares layouts against.

Widths and lengths are written in µm with a ``u`` suffix; a device with ``nf``
fingers is written as ``nf`` parallel lines (``<name>_f<i>``) so that any LVS
tool sees the same devices as the layout holds.
"""

from __future__ import annotations

from pathlib import Path

from nbcell.atomic import write_text_atomic
from nbcell.netlist import Cell


def _num(x: float) -> str:
    return f"{x:.4f}".rstrip("0").rstrip(".")


def _name(prefix: str, name: str) -> str:
    name = name.replace("/", ".")
    return name if name[:1].upper() == prefix else f"{prefix}{name}"


def cell_cdl(cell: Cell) -> str:
    """One ``.SUBCKT`` block for ``cell``."""
    lines = [f".SUBCKT {cell.name} {' '.join(cell.pins)}"]
    if cell.pin_directions:
        dirs = " ".join(f"{p}:{cell.pin_directions[p]}" for p in cell.pins if p in cell.pin_directions)
        if dirs:
            lines.append(f"*.PININFO {dirs}")
    for t in cell.transistors:
        base = _name("M", t.name)
        for i in range(t.nf * t.m):
            name = base if t.nf * t.m == 1 else f"{base}_f{i}"
            lines.append(f"{name} {t.drain} {t.gate} {t.source} {t.bulk} {t.model} W={_num(t.w)}u L={_num(t.l)}u")
    for d in cell.devices:
        if d.kind == "short":
            lines.append(f"{_name('R', d.name)} {' '.join(d.nodes[:2])} short")
            continue
        letter = {"diode": "D", "resistor": "R", "capacitor": "C"}[d.kind]
        named = " ".join(f"{k}={v:g}" for k, v in d.params if not k.startswith("#"))
        bare = " ".join(f"{v:g}" for k, v in d.params if k.startswith("#"))
        lines.append(" ".join(x for x in (_name(letter, d.name), " ".join(d.nodes), d.model, bare, named) if x))
    lines.append(f".ENDS {cell.name}")
    return "\n".join(lines) + "\n"


def library_cdl(cells: list[Cell], header: str = "") -> str:
    """All cells in one CDL text, in the given order."""
    return join_cdl([cell_cdl(c) for c in cells], header)


def join_cdl(blocks: list[str], header: str = "") -> str:
    """``.SUBCKT`` blocks (``cell_cdl`` texts) in one CDL text under ``*`` header lines."""
    head = "".join(f"* {h}\n" for h in header.splitlines())
    return head + "\n".join(blocks)


def write_cdl(cells: list[Cell], path: str | Path, header: str = "") -> Path:
    """Write cells to a CDL file atomically."""
    return write_text_atomic(path, library_cdl(cells, header))
