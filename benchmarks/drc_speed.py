"""Time ``nbcell.drc.run_drc`` per cell over a real library (default: the 229 gf180mcu 7-track cells).

GDS files are read before timing; each cell is checked ``--repeat`` times and its
fastest run is kept (less noise from other processes). Prints a table with
median / p95 / max milliseconds per cell and the slowest cells.

    .venv/bin/python benchmarks/drc_speed.py [--lib gf180mcu_fd_sc_mcu7t5v0] [--tech gf180mcu]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import klayout.db as db

from nbcell.drc import checked_rules, run_drc
from nbcell.pdk import load_technology

REPO = Path(__file__).resolve().parents[1]
CELLLIBS = Path(os.environ.get("NBCELL_CELLLIBS", REPO.parent / "shared" / "celllibs"))


def load_cells(lib: str) -> list[tuple[db.Layout, db.Cell]]:
    cells = []
    for gds in sorted((CELLLIBS / lib / "gds").glob("*.gds")):
        layout = db.Layout()
        layout.read(str(gds))
        cells += [(layout, top) for top in layout.top_cells()]
    return cells


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lib", default="gf180mcu_fd_sc_mcu7t5v0")
    ap.add_argument("--tech", default="gf180mcu")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    tech = load_technology(args.tech)
    cells = load_cells(args.lib)
    if not cells:
        print(f"no GDS under {CELLLIBS / args.lib / 'gds'} (set NBCELL_CELLLIBS)", file=sys.stderr)
        return 1
    run_drc(*cells[0], tech)  # warm-up: per-technology preparation
    per_cell: dict[str, float] = {}
    flagged = 0
    for layout, cell in cells:
        best = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            res = run_drc(layout, cell, tech)
            best = min(best, time.perf_counter() - t0)
        per_cell[cell.name] = best * 1e3
        flagged += res.violations > 0
    ms = list(per_cell.values())
    print(f"run_drc on {args.lib} ({len(ms)} cells, {len(checked_rules(tech))} rule entries of {tech.name}, "
          f"best of {args.repeat}, one thread)")
    print(f"{'':10s}{'ms/cell':>10s}")
    for label, v in (("median", statistics.median(ms)), ("mean", statistics.fmean(ms)),
                     ("p95", percentile(ms, 0.95)), ("max", max(ms)), ("total", sum(ms))):
        print(f"{label:10s}{v:10.2f}")
    print(f"cells with violations: {flagged}")
    print("slowest:", ", ".join(f"{n.split('__')[-1]} {v:.1f}" for n, v in
                                sorted(per_cell.items(), key=lambda kv: -kv[1])[:5]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
