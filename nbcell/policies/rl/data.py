"""Training data: a library's cells sized for the target exactly as ``nbcell port`` sizes them,
grouped by env bucket, with a stable held-out split by cell name."""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict

from nbcell import env
from nbcell.layout.frame import fit_rows
from nbcell.library import read_library
from nbcell.netlist import Cell
from nbcell.pdk import Process
from nbcell.policies.base import Problem
from nbcell.sizing import SizingError, SizingRule, check_sized, size_cell

log = logging.getLogger("nbcell")


def sized_cells(path: str, target: Process, rule: SizingRule = SizingRule(), process: str | None = None) -> list[Cell]:
    """Every cell of the library at ``path`` that has transistors and sizes cleanly for ``target``
    (``size_cell``, ``check_sized``, ``fit_rows``: the steps of :func:`nbcell.port.port_cell`)."""
    res = read_library(path, process)
    out = []
    for cell in res.cells:
        try:
            s = size_cell(cell, res.process, target, rule)
            if check_sized(s, target) or not s.transistors:
                continue
            out.append(fit_rows(s, target))
        except (SizingError, ValueError) as e:
            log.debug("rl data: skip %s: %s", cell.name, e)
    return out


def held_out(name: str, fraction: float, salt: str = "nbcell-rl") -> bool:
    """Whether ``name`` is in the held-out share ``fraction`` (stable across runs and machines)."""
    h = int.from_bytes(hashlib.sha256(f"{salt}:{name}".encode()).digest()[:8], "big")
    return h / 2.0**64 < fraction


def by_bucket(cells: list[Cell], target: Process, buckets: tuple[int, ...]) -> dict[int, list[Problem]]:
    """Problems per bucket (a cell joins its own bucket only); cells in other buckets are left out."""
    out: dict[int, list[Problem]] = defaultdict(list)
    for c in cells:
        try:
            p = Problem.of(c, target)
        except env.TooLarge:
            continue
        if p.size in buckets:
            out[p.size].append(p)
    return {b: out[b] for b in buckets if out.get(b)}
