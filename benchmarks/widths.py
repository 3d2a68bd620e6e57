"""Cell widths against the foundry's hand-drawn cells and the lower bound, one table for several runs.

    .venv/bin/python benchmarks/widths.py OUT/summary.json [OUT2/summary.json ...]
    .venv/bin/python benchmarks/widths.py --run [--jobs 2] [--timeout 90] [--cells GLOB] [--out DIR]

Reads ``summary.json`` files of ``nbcell port`` runs, or with ``--run`` first ports
gf180mcu_fd_sc_mcu7t5v0 -> gf180mcu_7t and sky130_fd_sc_hd -> sky130_hd (libraries from
``$NBCELL_CELLLIBS``, ``reference=`` the library itself, through ``benchmarks/port_library.py``)
into ``DIR/<library>-<target>``. Prints per library of each run: cells, clean; width ÷ foundry
over the clean cells (median, share ≤ 1.0, i.e. as narrow or narrower); width ÷ bound over the
clean cells (median, share at the bound); bound ÷ foundry over every cell with both (median, max,
how many above 1.0, where the bound would not be a true bound).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from port_library import port, width_figures  # benchmarks/ is this script's folder

#: (library folder under $NBCELL_CELLLIBS, target) ported by ``--run``
RUNS = (("gf180mcu_fd_sc_mcu7t5v0", "gf180mcu_7t"), ("sky130_fd_sc_hd", "sky130_hd"))


def _libraries(summary: dict) -> dict[str, list[dict]]:
    """Rows by library: a multi-library run's rows carry ``library``; one library is named by its source."""
    out: dict[str, list[dict]] = {}
    for r in summary["cells"]:
        out.setdefault(r.get("library") or Path(summary["source"]).name, []).append(r)
    return out


def _num(x: float | None, fmt: str = ".2f") -> str:
    return "-" if x is None else format(x, fmt)


def _share(k: int, n: int) -> str:
    return "-" if not n else f"{k}/{n} {100 * k / n:.0f}%"


def table(summaries: list[tuple[str, dict]]) -> str:
    """The table for (run label, summary) pairs."""
    head = ("run", "library -> target", "cells", "clean", "w/foundry med", "w<=foundry", "w/bound med",
            "at bound", "bound/foundry med", "max", "over 1", "1st metal only")
    lines = [head]
    for label, s in summaries:
        for lib, rows in _libraries(s).items():
            f = width_figures(rows)
            lines.append((label, f"{lib} -> {s['target']}", str(f["cells"]), str(f["clean"]),
                          _num(f["foundry_median"]), _share(f["foundry_le"], f["foundry_n"]),
                          _num(f["bound_median"]), _share(f["bound_at"], f["bound_n"]),
                          _num(f["bf_median"], ".3f"), _num(f["bf_max"], ".3f"),
                          str(f["bf_over"]) if f["bf_n"] else "-", _share(f["first_metal"], f["metals_n"])))
    widths = [max(len(row[i]) for row in lines) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
                     for row in lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("summaries", nargs="*", type=Path, help="summary.json files (or their out folders)")
    ap.add_argument("--run", action="store_true", help="port the two foundry libraries first")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--timeout", type=float, default=90)
    ap.add_argument("--cells", default="*")
    ap.add_argument("--out", type=Path, default=Path("/tmp/nbcell-bench"))
    a = ap.parse_args()
    paths = [p / "summary.json" if p.is_dir() else p for p in a.summaries]
    if a.run:
        from nbcell.library import default_celllibs

        libs = default_celllibs()
        for lib, target in RUNS:
            out = a.out / f"{lib}-{target}"
            port(str(libs / lib), target, out, a.jobs, a.timeout, a.cells, reference=str(libs / lib))
            paths.append(out / "summary.json")
    if not paths:
        ap.error("give summary.json files or --run")
    print(table([(str(p.parent), json.loads(p.read_text())) for p in paths]))


if __name__ == "__main__":
    main()
