"""`nbcell report` / `nbcell show`: the page after a real port, pictures, links, layer properties, a browser."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import klayout.db as kdb
import klayout.lay as lay
import klayout.rdb as rdb
import pytest

from conftest import CELLLIBS
from nbcell.pdk import load_process
from nbcell.report import build_report
from nbcell.report.lyp import layer_properties, layer_roles
from nbcell.report.markers import read_lyrdb

CELLS = ("nbcell__inv_1", "nbcell__inv_2", "nbcell__inv_4")
TARGETS = ("gf180mcu_7t", "gf180mcu_9t", "sky130_hd", "sg13g2")
MAGENTA = 0xff00ff  # nbcell.report.render.MARKER_COLOR


def nbcell(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nbcell.cli", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def ported(tmp_path_factory) -> Path:
    """Three builtin cells ported to gf180mcu_7t (with the foundry's widths when the library is here)."""
    out = tmp_path_factory.mktemp("port")
    ref = CELLLIBS / "gf180mcu_fd_sc_mcu7t5v0"
    extra = [f"reference={ref}"] if ref.is_dir() else []
    proc = nbcell("port", "cells=nbcell__inv_*", f"out={out}", *extra)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    return out


@pytest.fixture(scope="module")
def mixed(ported: Path, tmp_path_factory) -> Path:
    """The port plus a cell with DRC markers (a copy of inv_1 with a made-up .lyrdb) and a failed cell."""
    out = tmp_path_factory.mktemp("mixed")
    shutil.copytree(ported, out, dirs_exist_ok=True)
    for p in out.glob("cells/*/*.png"):
        p.unlink()
    summary = json.loads((out / "summary.json").read_text())
    src = out / "cells" / CELLS[0]
    bad = out / "cells" / "nbcell__bad_1"
    bad.mkdir()
    shutil.copy(src / f"{CELLS[0]}.gds", bad / "nbcell__bad_1.gds")
    db = rdb.ReportDatabase("made up")
    db.top_cell_name = CELLS[0]
    cell, cat = db.create_cell(CELLS[0]), db.create_category("M1.2a")
    item = db.create_item(cell.rdb_id(), cat.rdb_id())
    item.add_value(kdb.DEdgePair(kdb.DEdge(0.5, 1.0, 0.5, 1.5), kdb.DEdge(0.6, 1.5, 0.6, 1.0)))
    db.save(str(bad / "nbcell__bad_1.lyrdb"))
    drc_row = {**summary["cells"][0], "name": "nbcell__bad_1", "status": "drc", "drc_violations": 1,
               "drc_by_rule": {"M1.2a": 1}}
    failed = {**summary["cells"][0], "name": "nbcell__broken_1", "status": "failed", "drc_violations": None,
              "drc_by_rule": {}, "lvs_match": None, "pins_ok": None, "width_um": None, "policy": None,
              "error": "routing congestion left nets ['X'] in conflict"}
    summary["cells"] += [drc_row, failed]
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    build_report(out)
    return out


class _Page(HTMLParser):
    """Rows, images and links of the report page."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict] = []
        self.hrefs: list[str] = []
        self.imgs: list[dict] = []
        self.scripts_src: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "tr" and "data-status" in a:
            self.rows.append(a)
        elif tag == "a":
            self.hrefs.append(a["href"])
        elif tag == "img":
            self.imgs.append(a)
        elif tag in ("script", "link") and (a.get("src") or a.get("href")):
            self.scripts_src.append(a.get("src") or a.get("href"))


def parse(path: Path) -> tuple[str, _Page]:
    text = path.read_text()
    page = _Page()
    page.feed(text)
    return text, page


def test_port_writes_report(ported: Path) -> None:
    html, page = parse(ported / "report.html")
    assert len(page.rows) == len(CELLS) and not page.scripts_src  # everything inline
    assert "://" not in html  # no CDN, no absolute link: the folder can move
    for name in CELLS:
        assert name in html
        png = ported / "cells" / name / f"{name}.png"
        img = lay.PixelBuffer.read_png(str(png))
        assert img.height() == 100 and 16 <= img.width() <= 480
        assert f'src="cells/{name}/{name}.png"' in html and 'loading="lazy"' in html
        for ext in ("gds", "lyrdb", "lvsdb"):
            assert f'href="cells/{name}/{name}.{ext}"' in html
    for href in page.hrefs:
        assert (ported / unquote(href)).is_file(), href
    assert (ported / "gf180mcu_7t.lyp").is_file() and 'href="gf180mcu_7t.lyp"' in html
    assert "<svg" in html and "width vs lower bound" in html


def test_rows_with_markers_and_failures(mixed: Path) -> None:
    html, page = parse(mixed / "report.html")
    assert [r["data-status"] for r in page.rows][-2:] == ["drc", "failed"]
    assert len(page.imgs) == len(CELLS) + 1  # the failed cell has a placeholder, not a picture
    assert "no layout" in html and "routing congestion left nets [&#x27;X&#x27;] in conflict" in html
    assert "M1.2a <b>×1</b>" in html
    bad = lay.PixelBuffer.read_png(str(mixed / "cells/nbcell__bad_1/nbcell__bad_1.png"))
    clean = lay.PixelBuffer.read_png(str(mixed / f"cells/{CELLS[0]}/{CELLS[0]}.png"))
    magenta = [sum((b.pixel(x, y) & 0xffffff) == MAGENTA for x in range(b.width()) for y in range(b.height()))
               for b in (bad, clean)]
    assert magenta[0] > 20 and magenta[1] == 0  # the DRC marker is drawn on top, only where there is one


def test_report_is_cached_and_deterministic(mixed: Path) -> None:
    before = (mixed / "report.html").read_bytes()
    pngs = {p: p.read_bytes() for p in mixed.glob("cells/*/*.png")}
    again = build_report(mixed)
    assert again.drawn == 0 and (mixed / "report.html").read_bytes() == before
    forced = build_report(mixed, force=True)
    assert forced.drawn == len(pngs) and all(p.read_bytes() == data for p, data in pngs.items())


def test_lyrdb_matches_gds(ported: Path, mixed: Path) -> None:
    """What KLayout's marker browser needs: the database's top cell is the GDS's top cell, markers lie on it."""
    for out, name in [(ported, n) for n in CELLS] + [(mixed, "nbcell__bad_1")]:
        gds, lyrdb = out / "cells" / name / f"{name}.gds", out / "cells" / name / f"{name}.lyrdb"
        view = lay.LayoutView()
        view.load_layout(str(gds), False)
        top = view.active_cellview().cell
        db = read_lyrdb(lyrdb)
        assert db.top_cell == top.name and db.cells == [top.name]
        assert "M1.1" in db.categories or name == "nbcell__bad_1"
        assert all(top.dbbox().contains(m.bbox.center()) for m in db.markers)
        assert bool(db.markers) == (name == "nbcell__bad_1")
        loaded = rdb.ReportDatabase("")
        loaded.load(str(lyrdb))
        view.add_rdb(loaded)  # what the marker browser does with File > Open
        assert view.num_rdbs() == 1 and view.rdb(0).top_cell_name == top.name


@pytest.mark.parametrize("target", TARGETS)
def test_layer_properties(target: str, tmp_path: Path) -> None:
    proc = load_process(target)
    text = layer_properties(proc)
    root = ET.fromstring(text)
    sources = [p.findtext("source") for p in root.iter("properties")]
    assert sorted(sources) == sorted({f"{l.gds[0]}/{l.gds[1]}@1" for l in proc.technology.layers.values()})
    path = tmp_path / f"{target}.lyp"
    path.write_text(text)
    view = lay.LayoutView()
    view.load_layer_props(str(path))  # KLayout itself reads it back
    loaded, it = {}, view.begin_layers()
    while not it.at_end():
        node = it.current()
        loaded[node.source] = node
        it.next()
    assert len(loaded) == len(sources)
    by_role = {role: proc.technology.layers[name].gds for name, role in layer_roles(proc).items()}
    color = {r: loaded[f"{g[0]}/{g[1]}@1"].fill_color for r, g in by_role.items()}
    assert len({color["m1"], color["m2"], color["poly"], color["diff"]}) == 4
    bnd = by_role["boundary"]
    assert loaded[f"{bnd[0]}/{bnd[1]}@1"].visible
    # wells are drawn first and the first metal over poly: KLayout draws later entries on top
    assert sources.index(f"{by_role['nwell'][0]}/{by_role['nwell'][1]}@1") < sources.index(
        f"{by_role['poly'][0]}/{by_role['poly'][1]}@1") < sources.index(f"{by_role['m1'][0]}/{by_role['m1'][1]}@1")


def test_show(mixed: Path) -> None:
    proc = nbcell("show", "nbcell__bad_1", f"out={mixed}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("nbcell__bad_1  drc")
    assert re.search(r"M1\.2a\s+×1\s+at \(0\.550, 1\.250\) 0\.100×0\.500", proc.stdout)
    assert any(ln.startswith("LVS") for ln in lines)
    png = Path(lines[-1])
    assert png == mixed / "cells/nbcell__bad_1/nbcell__bad_1_large.png"
    assert lay.PixelBuffer.read_png(str(png)).height() == 800
    proc = nbcell("show", "nbcell__broken_1", f"out={mixed}")
    assert proc.returncode == 0 and "error        routing congestion" in proc.stdout
    assert "no GDS" in proc.stdout
    proc = nbcell("show", "inv_4", f"out={mixed}")
    assert proc.returncode == 2 and "did you mean nbcell__inv_4" in proc.stderr


def test_report_needs_a_port(tmp_path: Path) -> None:
    proc = nbcell("report", f"out={tmp_path}")
    assert proc.returncode == 2 and "summary.json" in proc.stderr


def test_report_failure_keeps_port_status(tmp_path: Path) -> None:
    """A broken report only warns: port's exit status is its own."""
    code = ("import sys, nbcell.report as r\n"
            "def boom(*a, **k): raise RuntimeError('no pictures today')\n"
            "r.build_report = boom\n"
            "from nbcell.cli import main\n"
            f"main(['port', 'cells=nbcell__inv_1', 'out={tmp_path}'])\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "no report: RuntimeError: no pictures today" in proc.stderr
    assert (tmp_path / "summary.json").is_file() and not (tmp_path / "report.html").exists()


# --- the page in a real browser ---------------------------------------------------------------------------

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]


def chromium() -> str | None:
    """A Chromium executable (``NBCELL_CHROMIUM`` or on PATH), or None."""
    env = os.environ.get("NBCELL_CHROMIUM")
    if env:
        return env
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


@pytest.fixture(scope="module")
def browser_exe() -> str:
    """The Chromium to drive; skips (fails where ``NBCELL_REQUIRE_BROWSER`` is set) without it or playwright."""
    exe = chromium()
    try:
        import playwright.sync_api  # noqa: F401
        have_pw = True
    except ImportError:
        have_pw = False
    missing = ("playwright is not installed (pip install -r requirements.lock)" if not have_pw else
               "no chromium on PATH (apt-get install chromium, or set NBCELL_CHROMIUM)" if exe is None else None)
    if missing:
        # .ci/run sets NBCELL_REQUIRE_BROWSER where it installed chromium: there this test must run
        if os.environ.get("NBCELL_REQUIRE_BROWSER"):
            pytest.fail(f"NBCELL_REQUIRE_BROWSER is set but {missing}")
        pytest.skip(missing)
    return exe


def test_page_in_browser(browser_exe: str, mixed: Path, tmp_path: Path) -> None:
    from playwright import sync_api

    exe = browser_exe
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto((mixed / "report.html").as_uri())
            rows = page.locator("#cells tbody tr")
            assert rows.count() == len(CELLS) + 2
            page.wait_for_function("Array.from(document.images).every(i => i.complete)", timeout=10_000)
            widths = page.eval_on_selector_all("#cells img", "imgs => imgs.map(i => i.naturalWidth)")
            assert len(widths) == len(CELLS) + 1 and all(w > 0 for w in widths)
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
            assert (tmp_path / "report.png").stat().st_size > 10_000

            page.fill("#filter", "inv_2")
            assert page.locator("#cells tbody tr:visible").count() == 1
            assert page.inner_text("#shown") == f"1 of {len(CELLS) + 2} cells"
            page.fill("#filter", "congestion")  # errors are searchable too
            assert page.locator("#cells tbody tr:visible .name").all_inner_texts() == ["nbcell__broken_1"]
            page.fill("#filter", "")
            page.select_option("#status", "drc")
            assert page.locator("#cells tbody tr:visible .name").all_inner_texts() == ["nbcell__bad_1"]
            page.select_option("#status", "")

            page.click("#cells th:text('cell')")
            names = page.locator("#cells tbody tr .name").all_inner_texts()
            assert names == sorted(names)
            page.click("#cells th:text('cell')")
            assert page.locator("#cells tbody tr .name").all_inner_texts() == sorted(names, reverse=True)
        finally:
            browser.close()
