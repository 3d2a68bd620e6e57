"""Widths of the foundry's hand-drawn cells (LEF ``SIZE``), the yardstick for ported cells.

Cells are matched by their base name (the part after the library prefix
``<library>__``), so ``sky130_fd_sc_hd__nand2_1`` compares with
``gf180mcu_fd_sc_mcu7t5v0__nand2_1`` when that exists.
"""

from __future__ import annotations

import re
from pathlib import Path

_MACRO = re.compile(r"^\s*MACRO\s+(\S+)(.*?)^\s*END\s+\1\b", re.MULTILINE | re.DOTALL)
_SIZE = re.compile(r"^\s*SIZE\s+([\d.]+)\s+BY\s+([\d.]+)\s*;", re.MULTILINE)


def base_name(cell: str) -> str:
    """``sky130_fd_sc_hd__nand2_1`` -> ``nand2_1`` (names without a prefix stay as they are)."""
    return cell.split("__", 1)[1] if "__" in cell else cell


def lef_sizes(text: str) -> dict[str, tuple[float, float]]:
    """{macro: (width, height)} in µm from LEF text."""
    out = {}
    for m in _MACRO.finditer(text):
        size = _SIZE.search(m.group(2))
        if size:
            out[m.group(1)] = (float(size.group(1)), float(size.group(2)))
    return out


def reference_widths(path: str | Path) -> dict[str, float]:
    """{base name: width µm} from a library folder (its ``lef/``), a folder of LEFs or one LEF."""
    p = Path(path)
    if p.is_dir() and (p / "lef").is_dir():
        p = p / "lef"
    files = sorted(p.glob("*.lef")) if p.is_dir() else [p]
    if not files or not all(f.is_file() for f in files):
        raise FileNotFoundError(f"reference={path}: no LEF files found")
    widths: dict[str, float] = {}
    for f in files:
        for name, (w, _h) in lef_sizes(f.read_text(errors="replace")).items():
            widths.setdefault(base_name(name), w)
    return widths
