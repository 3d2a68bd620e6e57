"""LVS of every hand-drawn cell of the real libraries: pass counts and time per cell.

Usage: ``python benchmarks/lvs_speed.py [--netlist auto|cdl|spice] [library ...]``
(default: gf180mcu 7t, 9t and sky130 hd; ``auto`` lets ``read_library`` pick,
which prefers SPICE where a library has both). Prints each failing cell with
its messages, then per library the passes and the median / max time (ms).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import klayout.db as kdb

from nbcell.drc.lvs import LvsResult, run_lvs
from nbcell.library import default_celllibs, read_library

LIBS = {
    "gf180mcu_fd_sc_mcu7t5v0": "gf180mcu_7t",
    "gf180mcu_fd_sc_mcu9t5v0": "gf180mcu_9t",
    "sky130_fd_sc_hd": "sky130_hd",
}


def run_library(lib: str, process: str, netlist: str = "auto") -> list[LvsResult]:
    """LVS results for every GDS of one library (cells without a netlist are skipped)."""
    folder = default_celllibs() / lib
    source = folder if netlist == "auto" else folder / netlist
    read = read_library(source, process)
    cells = {c.name: c for c in read.cells}
    results = []
    for gds in sorted((folder / "gds").glob("*.gds")):
        layout = kdb.Layout()
        layout.read(str(gds))
        top = layout.top_cell()
        if top.name not in cells:
            print(f"{top.name}: no netlist")
            continue
        results.append(run_lvs(layout, top, read.process, cells[top.name]))
    return results


def report(lib: str, results: list[LvsResult], verbose: bool) -> None:
    for res in results:
        if not res.ok and verbose:
            print(f"FAIL {res.cell}: match={res.match} pins_ok={res.pins_ok}")
            for m in res.messages[:8]:
                print(f"    {m}")
    times = [r.seconds * 1e3 for r in results]
    passed = sum(r.ok for r in results)
    print(f"{lib}: {passed}/{len(results)} pass; median {statistics.median(times):.1f} ms, "
          f"max {max(times):.1f} ms per cell")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--netlist", choices=("auto", "cdl", "spice"), default="auto")
    ap.add_argument("-q", "--quiet", action="store_true", help="no per-cell failure lines")
    ap.add_argument("libs", nargs="*", default=list(LIBS))
    args = ap.parse_args(argv)
    for lib in args.libs:
        t0 = time.perf_counter()
        sub = args.netlist if (default_celllibs() / lib / args.netlist).is_dir() else "auto"
        results = run_library(lib, LIBS[lib], sub)
        report(f"{lib} ({sub})", results, not args.quiet)
        print(f"    total {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
