"""nbcell's own default library, generated from logic-function descriptions.

The cells are described as data in :mod:`nbcell.builtin.functions` and turned
into transistor netlists by :mod:`nbcell.builtin.generator`; the SPICE text is
deterministic, so the library needs no checked-in netlist.
"""

from __future__ import annotations

import os
from pathlib import Path

from nbcell.atomic import write_text_atomic
from nbcell.builtin.functions import CellSpec, Stage, TGate, TriInv, cell_specs
from nbcell.builtin.generator import GeneratorError, Mos, devices, library, subckt

LIBRARY_NAME = "nbcell_builtin"
FILE_NAME = f"{LIBRARY_NAME}.spice"

__all__ = [
    "FILE_NAME", "LIBRARY_NAME", "CellSpec", "GeneratorError", "Mos", "Stage", "TGate", "TriInv",
    "cell_devices", "cell_text", "cells", "library_text", "write_library",
]


def cells() -> list[CellSpec]:
    """Descriptions of every cell, in library order."""
    return cell_specs()


def _spec(name: str) -> CellSpec:
    for s in cell_specs():
        if s.name == name:
            return s
    raise KeyError(f"no built-in cell named {name!r}")


def cell_devices(name: str) -> list[Mos]:
    """Transistors of one cell."""
    return devices(_spec(name))


def cell_text(name: str) -> str:
    """SPICE ``.subckt`` text of one cell, e.g. ``cell_text("nbcell__nand2_1")``."""
    return subckt(_spec(name))


def library_text() -> str:
    """SPICE text of the whole library."""
    return library(cell_specs(), LIBRARY_NAME)


def write_library(path: str | os.PathLike) -> Path:
    """Write the library and return the file written.

    ``path`` is a directory (created if missing) that receives ``nbcell_builtin.spice``,
    or a file path ending in ``.spice``. The file is replaced atomically so a
    concurrent reader never sees half a library.
    """
    path = Path(path)
    target = path if path.suffix == ".spice" and not path.is_dir() else path / FILE_NAME
    return write_text_atomic(target, library_text())
