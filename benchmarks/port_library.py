"""Port a library with the real ``nbcell port`` job and print the issue's figures as a table.

    .venv/bin/python benchmarks/port_library.py SOURCE [--target gf180mcu_7t] [--jobs 2]
        [--timeout 300] [--cells GLOB] [--reference LIBDIR] [--router maze|env] [--out DIR] [--analyze]

SOURCE is anything ``nbcell port source=`` takes (``builtin``, a library folder such as
``$NBCELL_CELLLIBS/gf180mcu_fd_sc_mcu7t5v0``). With ``--reference`` (default: SOURCE when it is
the target's own foundry library) each cell's width is compared with the foundry cell's LEF
SIZE. ``--analyze`` only reads an existing ``OUT/summary.json``. Prints: clean rate, failures
by reason, width against the foundry cells (share as narrow or narrower, median ratio) and
against the lower bound (share at the bound), seconds per cell (median, p95), and which router
drew the clean cells (``--router env``: the routing env, with the host router as fallback).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _reason(row: dict) -> str:
    if row["status"] == "drc":
        return "drc " + ",".join(sorted(row.get("drc_by_rule") or {}))
    if row["status"] == "lvs":
        return "lvs mismatch" if not row.get("lvs_match") else "lvs pins"
    err = row.get("error") or ""
    for pat, name in ((r"not routable|congestion", "routing congestion"), (r"isolated wells|bodies on", "wells"),
                      (r"no model|unknown device|model", "device model"), (r"too narrow", "narrow diffusion")):
        if re.search(pat, err):
            return name
    return row["status"] + (": " + err[:60] if err else "")


def _median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def width_figures(rows: list[dict]) -> dict:
    """Width figures of a port run's rows (``summary.json`` ``cells``): ``cells``, ``clean``; over the
    clean cells with a foundry width, width ÷ foundry (``foundry_median``, ``foundry_le``: as narrow
    or narrower, of ``foundry_n``); over the clean cells with a bound, width ÷ bound (``bound_median``,
    ``bound_at``: at the bound, of ``bound_n``); over every cell with both, bound ÷ foundry
    (``bf_median``, ``bf_max``, ``bf_over``: cells whose bound exceeds the foundry's width, of ``bf_n``);
    ``first_metal``: clean cells wired on the first routing metal alone (of ``metals_n`` that say).
    Medians are None when nothing was measured."""
    clean = [r for r in rows if r["status"] == "clean" and r.get("width_um")]
    ref = [(r["width_um"], r["reference_width_um"]) for r in clean if r.get("reference_width_um")]
    lbs = [(r["width_um"], r["lower_bound_um"]) for r in clean if r.get("lower_bound_um")]
    bf = [r["lower_bound_um"] / r["reference_width_um"] for r in rows
          if r.get("lower_bound_um") and r.get("reference_width_um")]
    return {"cells": len(rows), "clean": len(clean),
            "foundry_median": _median([w / f for w, f in ref]), "foundry_n": len(ref),
            "foundry_le": sum(w <= f + 1e-9 for w, f in ref),
            "bound_median": _median([w / b for w, b in lbs]), "bound_n": len(lbs),
            "bound_at": sum(w <= b + 1e-9 for w, b in lbs),
            "bf_median": _median(bf), "bf_max": max(bf, default=None), "bf_n": len(bf),
            "bf_over": sum(x > 1 + 1e-9 for x in bf),
            "first_metal": sum(r.get("metals") == 1 for r in clean),
            "metals_n": sum(r.get("metals") is not None for r in clean)}


def report(summary: dict, wall: float | None) -> None:
    rows = summary["cells"]
    fig = width_figures(rows)
    n = fig["cells"]
    print(f"source {summary['source']} -> {summary['target']} (policy {summary['policy']}, seed {summary['seed']})")
    print(f"{'cells':>28}: {n}")
    print(f"{'clean':>28}: {fig['clean']}/{n} = {100 * fig['clean'] / max(n, 1):.1f} %")
    for reason, k in collections.Counter(_reason(r) for r in rows if r["status"] != "clean").most_common():
        print(f"{'not clean: ' + reason[:40]:>28}: {k}")
    clean = [r for r in rows if r["status"] == "clean"]
    styles = collections.Counter(r.get("layout_style") for r in clean if r.get("layout_style"))
    if styles:
        print(f"{'clean by layout style':>28}: " + ", ".join(f"{k} {v}" for k, v in sorted(styles.items())))
    routers = collections.Counter(r.get("router") for r in clean if r.get("router"))
    if routers:
        print(f"{'clean by router':>28}: " + ", ".join(f"{k} {v}" for k, v in sorted(routers.items())))
    if fig["foundry_n"]:
        k, m = fig["foundry_le"], fig["foundry_n"]
        print(f"{'width / foundry (clean)':>28}: median {fig['foundry_median']:.2f}, "
              f"as narrow or narrower {k}/{m} = {100 * k / m:.1f} %")
    if fig["bound_n"]:
        k, m = fig["bound_at"], fig["bound_n"]
        print(f"{'width / lower bound (clean)':>28}: median {fig['bound_median']:.2f}, "
              f"at the bound {k}/{m} = {100 * k / m:.1f} %")
    if fig["metals_n"]:
        print(f"{'wired on the first metal':>28}: {fig['first_metal']}/{fig['metals_n']} clean cells")
    secs = sorted(r["seconds"] for r in rows if r.get("seconds") is not None)
    if secs:
        print(f"{'seconds per cell':>28}: median {statistics.median(secs):.2f}, "
              f"p95 {secs[int(0.95 * (len(secs) - 1))]:.2f}, max {secs[-1]:.2f}")
    if wall is not None:
        print(f"{'wall time':>28}: {wall:.0f} s")


def port(source: str, target: str, out: Path, jobs: int, timeout: float, cells: str = "*",
         reference: str | None = None, policy: str = "greedy", router: str = "maze") -> float:
    """Run ``nbcell port`` (``reference``, by default SOURCE when it is the target's own foundry
    library) into ``out``; returns the wall time in seconds."""
    ref = reference
    if ref is None and Path(source, "lef").is_dir():
        from nbcell.pdk import process_for_library

        own = process_for_library(Path(source).name)
        ref = source if own is not None and own.name == target else None
    cmd = [str(ROOT / ".venv/bin/nbcell"), "port", f"source={source}", f"target={target}",
           f"policy={policy}", f"router={router}", f"cells={cells}", f"jobs={jobs}", f"cell_timeout={timeout}",
           f"out={out}"] + ([f"reference={ref}"] if ref else [])
    print("$", " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=False)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source")
    ap.add_argument("--target", default="gf180mcu_7t")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--cells", default="*")
    ap.add_argument("--reference", default=None)
    ap.add_argument("--policy", default="greedy")
    ap.add_argument("--router", default="maze", choices=("maze", "env"))
    ap.add_argument("--out", default=None)
    ap.add_argument("--analyze", action="store_true")
    a = ap.parse_args()
    out = Path(a.out or f"/tmp/nbcell-bench/{Path(a.source).name}-{a.target}")
    wall = None
    if not a.analyze:
        wall = port(a.source, a.target, out, a.jobs, a.timeout, a.cells, a.reference, a.policy, a.router)
    report(json.loads((out / "summary.json").read_text()), wall)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
