"""Shared test fixtures: where the real libraries are, and a skip when they are absent."""

from __future__ import annotations

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
