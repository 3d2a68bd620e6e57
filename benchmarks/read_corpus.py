"""Time reading + flattening every real library; prints one row per library and the total.

    .venv/bin/python benchmarks/read_corpus.py [CELLLIBS]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from nbcell.library import default_celllibs, read_library

LIBS = ["sky130_fd_sc_hd", "sky130_fd_sc_hdll", "sky130_fd_sc_hvl", "sky130_fd_sc_hs", "sky130_fd_sc_ms",
        "sky130_fd_sc_ls", "gf180mcu_fd_sc_mcu7t5v0", "gf180mcu_fd_sc_mcu9t5v0", "asap7sc7p5t_28"]


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else default_celllibs()
    if not root.is_dir():
        sys.exit(f"{root}: not found (set NBCELL_CELLLIBS or pass the folder)")
    print(f"{'library':<26} {'cells':>6} {'errors':>6} {'transistors':>11} {'seconds':>8}")
    tot_cells = tot_t = 0
    t_all = time.perf_counter()
    for lib in LIBS:
        t0 = time.perf_counter()
        res = read_library(root / lib)
        dt = time.perf_counter() - t0
        n_t = sum(len(c.transistors) for c in res.cells)
        tot_cells += len(res.cells)
        tot_t += n_t
        print(f"{lib:<26} {len(res.cells):>6} {len(res.errors):>6} {n_t:>11} {dt:>8.2f}")
    print(f"{'total':<26} {tot_cells:>6} {'':>6} {tot_t:>11} {time.perf_counter() - t_all:>8.2f}")


if __name__ == "__main__":
    main()
