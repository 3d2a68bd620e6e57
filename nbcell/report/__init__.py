"""Reports on a port run: ``DIR/report.html`` with a picture of every cell, and one cell in detail.

Input is what ``nbcell port`` writes: ``DIR/summary.json`` and ``DIR/cells/<name>/<name>.{gds,lyrdb,lvsdb}``.
Pictures are cached: a cell's PNG is drawn again only when its GDS, ``.lyrdb`` or the layer
properties are newer than it.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from nbcell.atomic import write_bytes_atomic, write_text_atomic
from nbcell.paths import cell_file, cell_link, file_stem
from nbcell.pdk import PdkError, load_process
from nbcell.report.lyp import write_lyp
from nbcell.report.markers import Marker, read_lyrdb
from nbcell.report.page import RowFiles, render_page

log = logging.getLogger("nbcell")

THUMB_PX = (100, 480)  # thumbnail height, widest thumbnail (px)
LARGE_PX = (800, 4000)  # ``nbcell show`` picture
CELL_FILES = ("gds", "lyrdb", "lvsdb", "lef", "cdl")


@dataclass
class ReportResult:
    """Where the page went, how many cells it shows, how many pictures were drawn, seconds taken."""

    path: Path
    cells: int
    drawn: int
    seconds: float


def read_summary(out: str | Path) -> dict:
    """``out/summary.json`` as written by ``nbcell port``; FileNotFoundError names the file when absent."""
    path = Path(out) / "summary.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no port summary here (run nbcell port out={out} first)")
    return json.loads(path.read_text())


def target_lyp(out: Path, target: str) -> Path | None:
    """Write ``out/<target>.lyp`` for a known process; None (KLayout's default colours) otherwise."""
    try:
        process = load_process(target)
    except (PdkError, FileNotFoundError, OSError) as e:
        log.warning("report: no layer properties for target %r (%s); default colours", target, e)
        return None
    return write_lyp(process, out / f"{file_stem(process.name)}.lyp")  # a custom YAML's name may hold anything


def cell_markers(out: Path, row: dict) -> list[Marker]:
    """The DRC markers of a summary row's cell (none when it is clean or its ``.lyrdb`` is unreadable)."""
    path = cell_file(out, row["name"], "lyrdb")
    if not row.get("drc_violations") or not path.is_file():
        return []
    try:
        return read_lyrdb(path).markers
    except OSError as e:
        log.warning("report: %s", e)
        return []


def _stale(target: Path, sources: list[Path]) -> bool:
    if not target.is_file():
        return True
    mtime = target.stat().st_mtime_ns
    return any(s.is_file() and s.stat().st_mtime_ns >= mtime for s in sources)


def draw_cell(renderer, out: Path, row: dict, png: Path, size: tuple[int, int], lyp: Path | None,
              force: bool = False) -> tuple[int, int] | None:
    """Draw ``row``'s cell into ``png`` unless an up-to-date one exists; returns its size in px (None: no GDS).

    A cached picture's size is read from its PNG header, so nothing is drawn on a re-run."""
    name = row["name"]
    gds = cell_file(out, name, "gds")
    if not gds.is_file():
        return None
    sources = [gds, cell_file(out, name, "lyrdb")] + ([lyp] if lyp else [])
    if not force and not _stale(png, sources):
        size_px = _png_size(png)
        if size_px and size_px[1] == size[0]:  # drawn for this height: still good
            return size_px
    data, w, h = renderer.render(gds, cell_markers(out, row), *size)
    write_bytes_atomic(png, data)
    return w, h


def _png_size(path: Path) -> tuple[int, int] | None:
    head = path.read_bytes()[:24]
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def build_report(out: str | Path, *, force: bool = False) -> ReportResult:
    """Write ``out/report.html`` (+ thumbnails, ``out/<target>.lyp``) for the port run in ``out``.

    ``force`` redraws every thumbnail. Raises FileNotFoundError without ``summary.json``."""
    from nbcell.report.render import Renderer  # klayout.lay only when pictures are drawn

    t0 = time.perf_counter()
    out = Path(out)
    summary = read_summary(out)
    lyp = target_lyp(out, str(summary.get("target", "")))
    renderer = Renderer(lyp)
    files: dict[str, RowFiles] = {}
    drawn = 0
    for row in summary.get("cells", []):
        name = row["name"]
        rf = RowFiles(links={ext: cell_link(name, ext) for ext in CELL_FILES
                             if cell_file(out, name, ext).is_file()})
        png = cell_file(out, name, "png")
        old = png.stat().st_mtime_ns if png.is_file() else None
        try:
            size = draw_cell(renderer, out, row, png, THUMB_PX, lyp, force)
        except Exception as e:  # one unreadable GDS never stops the report
            log.warning("report: cannot draw %s: %s", name, e)
            size = None
        if size:
            rf.thumb, rf.thumb_size = cell_link(name, "png"), size
            drawn += old is None or png.stat().st_mtime_ns != old
        files[name] = rf
    extras = {p.name: p.name for p in sorted(out.glob("*.*"))
              if p.suffix in (".gds", ".lef", ".cdl", ".lyp", ".json") and p.is_file()}
    path = write_text_atomic(out / "report.html", render_page(summary, files, extras))
    return ReportResult(path, len(summary.get("cells", [])), drawn, round(time.perf_counter() - t0, 3))
