"""GDS writer: deterministic bytes (no timestamps) for one cell or a whole library."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence

import klayout.db as kdb


def gds_bytes(layout: kdb.Layout, cells: Sequence[kdb.Cell]) -> bytes:
    """GDSII bytes of ``cells`` (with their hierarchy) from ``layout``; same input, same bytes."""
    opts = kdb.SaveLayoutOptions()
    opts.format = "GDS2"
    opts.gds2_write_timestamps = False
    opts.select_all_layers()
    opts.clear_cells()
    for c in cells:
        opts.add_cell(c.cell_index())
    fd, tmp = tempfile.mkstemp(suffix=".gds")
    os.close(fd)
    try:
        layout.write(tmp, opts)
        with open(tmp, "rb") as f:
            return f.read()
    finally:
        os.unlink(tmp)
