"""Time ``nbcell report`` on a 200-cell port and the page's load in headless Chromium.

The 200 cells are made from an existing port folder (``--src``; by default three
builtin cells are ported first) by copying its cell folders under new names, with
made-up hand-drawn widths so both plots are full, and every 20th cell failed
(no GDS). Rows:

* ``report cold``: every thumbnail drawn (KLayout), page written;
* ``report warm``: the same again, thumbnails cached (nothing newer than the PNGs);
* ``page load``: ``goto`` until the ``load`` event (lazy images outside the window wait);
* ``DOMContentLoaded`` / ``first contentful paint``: from the browser's performance timings;
* ``all images``: scrolling down a window at a time until every thumbnail has loaded;
* ``filter``: typing a cell name into the filter box until the row count is updated.

    .venv/bin/python benchmarks/report_speed.py [--src DIR] [--cells 200] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nbcell.paths import cell_dir, cell_file, file_stem
from nbcell.report import build_report

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
        "--disable-background-networking", "--disable-component-update"]


def port_sample(out: Path) -> None:
    cmd = [sys.executable, "-m", "nbcell.cli", "port", "cells=nbcell__inv_*", f"out={out}"]
    subprocess.run(cmd, check=False, capture_output=True)
    if not (out / "summary.json").is_file():
        sys.exit("could not port the sample cells")


def synthesize(src: Path, out: Path, n: int) -> None:
    """``n`` cells in ``out`` from the drawn cells of ``src`` (GDS etc. copied under new names)."""
    summary = json.loads((src / "summary.json").read_text())
    drawn = [r for r in summary["cells"] if cell_file(src, r["name"], "gds").is_file()]
    if not drawn:
        sys.exit(f"{src}: no cell with a GDS to copy")
    rows = []
    for i in range(n):
        base = drawn[i % len(drawn)]
        name = f"{base['name']}_{i:03d}"
        row = {**base, "name": name}
        if i % 20 == 19:
            row.update(status="failed", error="synthetic failure", drc_violations=None, width_um=None)
        else:
            d = cell_dir(out, name)
            d.mkdir(parents=True, exist_ok=True)
            for f in cell_dir(src, base["name"]).iterdir():
                if f.suffix != ".png":
                    shutil.copy(f, d / f"{file_stem(name)}{f.suffix}")
            if row.get("width_um"):
                row["reference_width_um"] = round(row["width_um"] * (0.7 + 0.05 * (i % 13)), 2)
        rows.append(row)
    (out / "summary.json").write_text(json.dumps({**summary, "cells": rows}, indent=1))


# scroll down one window at a time (lazy images load near the window), then wait for every image; ms
_SCROLL_ALL = """async () => {
  const t0 = performance.now(), frame = () => new Promise(r => requestAnimationFrame(() => r()));
  for (let y = 0; y < document.body.scrollHeight; y += window.innerHeight) { window.scrollTo(0, y); await frame(); }
  await Promise.all(Array.from(document.images).map(i => i.complete ? 0 : new Promise(r => i.onload = i.onerror = r)));
  if (!Array.from(document.images).every(i => i.naturalWidth > 0)) throw new Error('an image did not load');
  return performance.now() - t0;
}"""


def browser_times(page_path: Path, probe: str) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        return {}
    res = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        t0 = time.perf_counter()
        page.goto(page_path.as_uri(), wait_until="load")
        res["page load"] = time.perf_counter() - t0
        nav = page.evaluate("JSON.stringify(performance.getEntriesByType('navigation')[0])")
        nav = json.loads(nav)
        res["DOMContentLoaded"] = nav["domContentLoadedEventEnd"] / 1000
        fcp = page.evaluate("(performance.getEntriesByName('first-contentful-paint')[0]||{}).startTime||0")
        res["first contentful paint"] = fcp / 1000
        res["all images"] = page.evaluate(_SCROLL_ALL) / 1000
        page.evaluate("window.scrollTo(0, 0)")
        t0 = time.perf_counter()
        page.fill("#filter", probe)
        page.wait_for_function("document.getElementById('shown').textContent.startsWith('1 of')")
        res["filter"] = time.perf_counter() - t0
        browser.close()
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--src", type=Path, help="an nbcell port output folder (default: port the 3 builtin inverters)")
    ap.add_argument("--cells", type=int, default=200)
    ap.add_argument("--out", type=Path, help="where to build the synthetic port (default: a temp folder)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp) / "report"
        src = args.src
        if src is None:
            src = Path(tmp) / "sample"
            port_sample(src)
        synthesize(src, out, args.cells)
        cold = build_report(out)
        warm = build_report(out)
        pngs = list(out.glob("cells/*/*.png"))
        kib = sum(p.stat().st_size for p in pngs) / 1024
        print(f"{args.cells} cells, {len(pngs)} thumbnails ({kib:.0f} KiB, {kib / max(1, len(pngs)):.1f} KiB each), "
              f"report.html {(out / 'report.html').stat().st_size / 1024:.0f} KiB")
        print(f"{'step':<24} {'seconds':>8}")
        print(f"{'report cold':<24} {cold.seconds:>8.2f}   ({cold.drawn} drawn)")
        print(f"{'report warm':<24} {warm.seconds:>8.2f}   ({warm.drawn} drawn)")
        times = browser_times(out / "report.html", json.loads((out / "summary.json").read_text())["cells"][7]["name"])
        if not times:
            print("no chromium: page timings skipped")
        for k, v in times.items():
            print(f"{k:<24} {v:>8.2f}")


if __name__ == "__main__":
    main()
