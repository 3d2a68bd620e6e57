"""Layout generator on a whole library: clean rate, width vs the foundry cells, time per cell.

    .venv/bin/python benchmarks/layout_gf180.py LIBRARY [TARGET] [-j N] [-k REGEX] [--out DIR]

LIBRARY is ``builtin`` or a library folder (``../shared/celllibs/gf180mcu_fd_sc_mcu7t5v0``);
TARGET defaults to ``gf180mcu_7t``. Every cell is sized to the target, generated, and
judged by ``run_drc`` + ``run_lvs`` (pins included). Widths are compared with the
foundry LEF ``SIZE`` of the cell of the same name when the library folder has ``lef/``
and the target is that library's own process. Prints a table and the failures.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import re
import statistics
import sys
import time
from pathlib import Path

_STATE: dict = {}


def _init(library: str, target: str) -> None:
    from nbcell.library import read_library
    from nbcell.pdk import load_process

    res = read_library(library)
    _STATE.update(cells={c.name: c for c in res.cells}, src=res.process, tgt=load_process(target))


def _one(name: str) -> dict:
    from nbcell.drc import run_drc
    from nbcell.drc.lvs import run_lvs
    from nbcell.attempts import generate
    from nbcell.sizing import size_cell

    cell, src, tgt = _STATE["cells"][name], _STATE["src"], _STATE["tgt"]
    row = {"name": name, "status": "failed", "width": None, "lb": None, "seconds": 0.0, "why": ""}
    t0 = time.perf_counter()
    try:
        sized = size_cell(cell, src, tgt)
        gen = generate(sized, tgt)
        row["seconds"] = time.perf_counter() - t0
        row["width"], row["lb"] = gen.width_um, gen.lower_bound_um
        drc = run_drc(gen.layout, gen.top, tgt.technology)
        lvs = run_lvs(gen.layout, gen.top, tgt, sized)
        clean = drc.violations == 0 and lvs.match and lvs.pins_ok
        row["status"] = "clean" if clean else ("drc" if drc.violations else "lvs")
        if not clean:
            row["why"] = f"{drc.by_rule} {'; '.join(lvs.messages[:2])}"
    except Exception as e:  # one cell never stops the run
        row["seconds"] = row["seconds"] or time.perf_counter() - t0
        row["why"] = f"{type(e).__name__}: {e}"[:300]
    return row


def foundry_widths(library: Path) -> dict[str, float]:
    """Cell name -> LEF SIZE width (µm) from the library's ``lef/`` folder."""
    out = {}
    for f in sorted((library / "lef").glob("*.lef")) if (library / "lef").is_dir() else []:
        text = f.read_text(errors="replace")
        for m in re.finditer(r"MACRO\s+(\S+)(.*?)END\s+\1", text, re.S):
            size = re.search(r"SIZE\s+([\d.]+)\s+BY", m.group(2))
            if size:
                out[m.group(1)] = float(size.group(1))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("library")
    ap.add_argument("target", nargs="?", default="gf180mcu_7t")
    ap.add_argument("-j", type=int, default=max(1, mp.cpu_count()))
    ap.add_argument("-k", default="", help="only cells whose name matches this regex")
    args = ap.parse_args()
    from nbcell.library import read_library
    from nbcell.pdk import process_for_library

    names = [c.name for c in read_library(args.library).cells if re.search(args.k, c.name)]
    t0 = time.perf_counter()
    with mp.Pool(args.j, _init, (args.library, args.target)) as pool:
        rows = pool.map(_one, names, chunksize=1)
    wall = time.perf_counter() - t0
    lib = Path(args.library)
    own = process_for_library(lib.name)
    ref = foundry_widths(lib) if own is not None and own.name == args.target else {}
    _report(rows, ref, wall, args)


def _report(rows: list[dict], ref: dict[str, float], wall: float, args) -> None:
    n = len(rows)
    clean = [r for r in rows if r["status"] == "clean"]
    secs = sorted(r["seconds"] for r in rows)
    ratios = [r["width"] / ref[r["name"]] for r in clean if r["name"] in ref and r["width"]]
    lbs = [r["lb"] / r["width"] for r in clean if r["width"]]
    print(f"library {args.library} -> {args.target}: {n} cells, {wall:.0f} s wall, {args.j} workers")
    print(f"{'clean':>22}: {len(clean)}/{n} = {100 * len(clean) / max(n, 1):.1f} %")
    for st in ("drc", "lvs", "failed"):
        print(f"{st:>22}: {sum(r['status'] == st for r in rows)}")
    if ratios:
        le = sum(x <= 1.0 + 1e-9 for x in ratios)
        print(f"{'width / foundry':>22}: median {statistics.median(ratios):.3f}, as narrow or narrower "
              f"{le}/{len(ratios)} = {100 * le / len(ratios):.1f} %")
    if lbs:
        print(f"{'lower bound / width':>22}: median {statistics.median(lbs):.3f}, "
              f"at the bound {sum(x >= 1 - 1e-9 for x in lbs)}/{len(lbs)}")
    if secs:
        print(f"{'seconds per cell':>22}: median {statistics.median(secs):.2f}, "
              f"p95 {secs[int(0.95 * (len(secs) - 1))]:.2f}, max {secs[-1]:.2f}")
    for r in rows:
        if r["status"] != "clean":
            print(f"  {r['status']:>6} {r['name']}: {r['why']}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
