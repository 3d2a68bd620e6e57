"""Time DRC + LVS per cell over a real library (default: the 229 gf180mcu 7-track cells).

Outside the timing: reading the GDS files, reading the reference netlists and
converting each reference once to a KLayout netlist (``reference_netlist``
caches it by content: a cell is checked against many layouts). Each cell is
checked ``--repeat`` times per row and its fastest run is kept. Rows:

* ``DRC``: ``run_drc`` alone; ``LVS``: ``run_lvs`` alone (each flattens the cell);
* ``DRC+LVS``: both on one cell, sharing its flattened layers (``CellLayers``).

All of it runs on one thread: flat ``Region`` operations are single-threaded
and KLayout's LVS database defaults to one (``LayoutToNetlist.threads``).

    .venv/bin/python benchmarks/check_speed.py [--lib gf180mcu_fd_sc_mcu7t5v0] [--process gf180mcu_7t]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import klayout.db as db

from nbcell.drc import CellLayers, run_drc
from nbcell.drc.lvs import reference_netlist, run_lvs
from nbcell.library import default_celllibs, read_library
from nbcell.netlist import Cell
from nbcell.pdk import Process


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def best_ms(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    """Fastest of ``repeat`` runs in ms, and the last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1e3, out


def load(lib: str, process: str, netlist: str) -> tuple[Process, list[tuple[db.Layout, db.Cell, Cell]]]:
    """The process and (layout, top cell, reference) for every GDS of ``lib`` with a reference."""
    folder = default_celllibs() / lib
    read = read_library(folder / netlist if (folder / netlist).is_dir() else folder, process)
    refs = {c.name: c for c in read.cells}
    cells = []
    for gds in sorted((folder / "gds").glob("*.gds")):
        layout = db.Layout()
        layout.read(str(gds))
        top = layout.top_cell()
        if top.name in refs:
            cells.append((layout, top, refs[top.name]))
    return read.process, cells


def both(layout: db.Layout, cell: db.Cell, process: Process, ref: Cell) -> tuple:
    layers = CellLayers.of(layout, cell, process.technology)
    return run_drc(layout, cell, process.technology, layers), run_lvs(layout, cell, process, ref, layers=layers)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lib", default="gf180mcu_fd_sc_mcu7t5v0")
    ap.add_argument("--process", default="gf180mcu_7t")
    ap.add_argument("--netlist", default="cdl", help="netlist sub-folder of the library (default cdl)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    process, cells = load(args.lib, args.process, args.netlist)
    if not cells:
        print(f"no cells with a reference under {default_celllibs() / args.lib}", file=sys.stderr)
        return 1
    tech = process.technology
    ref_ms = [best_ms(lambda r=ref, c=cell: reference_netlist(r, c.name), 1)[0] for _, cell, ref in cells]
    both(*cells[0][:2], process, cells[0][2])  # warm-up: per-technology preparation
    rows: dict[str, list[float]] = {"DRC": [], "LVS": [], "DRC+LVS": []}
    flagged = passed = 0
    for layout, cell, ref in cells:
        rows["DRC"].append(best_ms(lambda: run_drc(layout, cell, tech), args.repeat)[0])
        rows["LVS"].append(best_ms(lambda: run_lvs(layout, cell, process, ref), args.repeat)[0])
        ms, (drc, lvs) = best_ms(lambda: both(layout, cell, process, ref), args.repeat)
        rows["DRC+LVS"].append(ms)
        flagged += drc.violations > 0
        passed += lvs.ok
    print(f"{args.lib} / {process.name}: {len(cells)} cells, best of {args.repeat}, one thread")
    print(f"{'ms/cell':10s}{'median':>9s}{'p95':>9s}{'max':>9s}{'mean':>9s}")
    for label, ms in rows.items():
        print(f"{label:10s}{statistics.median(ms):9.2f}{percentile(ms, 0.95):9.2f}{max(ms):9.2f}"
              f"{statistics.fmean(ms):9.2f}")
    print(f"DRC flagged {flagged} cells; LVS passed {passed}/{len(cells)}")
    print(f"reference netlist conversion (once per cell, not timed above): median "
          f"{statistics.median(ref_ms):.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
