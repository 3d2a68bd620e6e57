"""DRC + LVS verdicts of nbcell's checks on the foundry's own hand-drawn cells.

    .venv/bin/python benchmarks/foundry_verdicts.py [OUT]

Runs ``check_layouts`` on every cell of gf180mcu 7t/9t and sky130 hd (each cell's
own CDL as LVS reference) and prints, per library, how many cells are DRC-clean,
which are flagged (and by which rules), LVS matches, pin-name matches, and time.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from nbcell.drc.check import check_layouts
from nbcell.library import default_celllibs
from nbcell.pdk import load_process

RUNS = [("gf180mcu_fd_sc_mcu7t5v0", "gf180mcu_7t"), ("gf180mcu_fd_sc_mcu9t5v0", "gf180mcu_9t"),
        ("sky130_fd_sc_hd", "sky130_hd")]


def main() -> None:
    root = default_celllibs()
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="nbcell-verdicts-"))
    print(f"{'library':<26} {'cells':>5} {'drc_clean':>9} {'lvs_match':>9} {'pins_ok':>7} {'errors':>6} "
          f"{'med_ms':>7} {'p95_ms':>7}  flagged")
    for lib, proc in RUNS:
        if not (root / lib).is_dir():
            print(f"{lib:<26} skipped: not found under {root}")
            continue
        t0 = time.perf_counter()
        rep = check_layouts(load_process(proc), root / lib / "gds", root / lib / "cdl", out / lib)
        rows = rep["cells"]
        ms = sorted(r["seconds"] * 1e3 for r in rows)
        flagged = [f"{r['name']}({','.join(r['drc_by_rule'])})" for r in rows if r["drc_violations"]]
        print(f"{lib:<26} {len(rows):>5} {sum(not r['drc_violations'] for r in rows):>9} "
              f"{sum(bool(r['lvs_match']) for r in rows):>9} {sum(bool(r['pins_ok']) for r in rows):>7} "
              f"{sum(bool(r['error']) for r in rows):>6} {statistics.median(ms):>7.1f} "
              f"{ms[int(0.95 * (len(ms) - 1))]:>7.1f}  {' '.join(flagged)}  [{time.perf_counter() - t0:.0f} s]")
        for r in rows:
            if r["error"] or not r["lvs_match"] or not r["pins_ok"]:
                print(f"    {r['name']}: {r['error'] or '; '.join(r['lvs_messages'][:3])}")
    print(f"reports in {out}")


if __name__ == "__main__":
    main()
