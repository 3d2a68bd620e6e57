"""``nbcell show NAME``: one cell of a port run in the terminal, and a large picture of it."""

from __future__ import annotations

from pathlib import Path

import klayout.db as kdb

from nbcell.report import LARGE_PX, cell_file, draw_cell, read_summary, target_lyp
from nbcell.report.markers import read_lyrdb

SHOWN_MARKERS = 3  # marker locations printed per rule
SHOWN_NAMES = 8  # mismatched net / device names printed per kind


def find_row(summary: dict, name: str) -> dict:
    """The summary row of cell ``name``; KeyError lists close names when it is absent."""
    for row in summary.get("cells", []):
        if row["name"] == name:
            return row
    close = [r["name"] for r in summary.get("cells", []) if name.lower() in r["name"].lower()][:5]
    raise KeyError(f"no cell {name!r} in this port run" + (f"; did you mean {', '.join(close)}?" if close else ""))


def _um(v: float | None) -> str:
    return "—" if v is None else f"{v:g} µm"


def _ratio(a: float | None, b: float | None) -> str:
    return f" (×{a / b:.2f})" if a is not None and b else ""


def drc_lines(out: Path, row: dict) -> list[str]:
    """Violations by rule, each with up to SHOWN_MARKERS marker centres and sizes (µm) from the ``.lyrdb``."""
    n = row.get("drc_violations")
    if n is None:
        return ["DRC          not run"]
    lines = [f"DRC          {n} violation{'s' * (n != 1)}"]
    path = cell_file(out, row["name"], "lyrdb")
    by_rule = read_lyrdb(path).by_rule() if n and path.is_file() else {}
    width = max((len(r) for r in row.get("drc_by_rule") or {}), default=0)
    for rule, count in sorted((row.get("drc_by_rule") or {}).items(), key=lambda kv: (-kv[1], kv[0])):
        where = []
        for m in by_rule.get(rule, [])[:SHOWN_MARKERS]:
            b = m.bbox
            where.append(f"({b.center().x:.3f}, {b.center().y:.3f}) {b.width():.3f}×{b.height():.3f}")
        at = ("  at " + "; ".join(where) + ("; ..." if count > len(where) else "")) if where else ""
        lines.append(f"  {rule:<{width}}  ×{count}{at}")
    return lines


def lvs_lines(out: Path, row: dict) -> list[str]:
    """LVS verdict, with the mismatched nets, devices and pins read from the ``.lvsdb``."""
    if row.get("lvs_match") is None:
        return ["LVS          not run"]
    verdict = "match" if row["lvs_match"] else "MISMATCH"
    pins = "pins ok" if row.get("pins_ok") else "pin names differ"
    lines = [f"LVS          {verdict}, {pins}"]
    path = cell_file(out, row["name"], "lvsdb")
    if row["lvs_match"] or not path.is_file():
        return lines
    lvs = kdb.LayoutVsSchematic()
    lvs.read(str(path))
    xref = lvs.xref()
    ok = kdb.NetlistCrossReference.Match
    for cp in xref.each_circuit_pair():
        for kind, pairs in (("nets", xref.each_net_pair(cp)), ("devices", xref.each_device_pair(cp)),
                            ("pins", xref.each_pin_pair(cp))):
            bad = [_pair_name(p) for p in pairs if p.status() != ok]
            if bad:
                more = ", ..." if len(bad) > SHOWN_NAMES else ""
                lines.append(f"  {len(bad)} {kind} differ (layout/schematic): "
                             + ", ".join(bad[:SHOWN_NAMES]) + more)
    return lines


def _pair_name(pair) -> str:
    a, b = pair.first(), pair.second()
    return f"{a.expanded_name() if a else '-'}/{b.expanded_name() if b else '-'}"


def show_cell(out: str | Path, name: str) -> tuple[str, Path | None]:
    """Text describing cell ``name`` of the port run in ``out``, and its large PNG (None without a GDS).

    The PNG goes to ``out/cells/<name>/<name>_large.png`` (LARGE_PX px high)."""
    from nbcell.report.render import Renderer

    out = Path(out)
    summary = read_summary(out)
    row = find_row(summary, name)
    w, lb, ref = row.get("width_um"), row.get("lower_bound_um"), row.get("reference_width_um")
    lines = [f"{name}  {row.get('status')}  ({summary.get('source')} → {summary.get('target')}, "
             f"policy {row.get('policy') or summary.get('policy')})",
             f"transistors  {row.get('transistors')}",
             f"width        {_um(w)}; lower bound {_um(lb)}{_ratio(w, lb)}; hand-drawn {_um(ref)}{_ratio(w, ref)}",
             f"height       {_um(row.get('height_um'))}",
             f"seconds      {row.get('seconds')}",
             *drc_lines(out, row), *lvs_lines(out, row)]
    if row.get("error"):
        lines.append(f"error        {row['error']}")
    png = None
    if cell_file(out, name, "gds").is_file():
        lyp = target_lyp(out, str(summary.get("target", "")))
        png = cell_file(out, name, "png", "_large")
        draw_cell(Renderer(lyp, text=True), out, row, png, LARGE_PX, lyp)
    else:
        lines.append("layout       none (no GDS was written)")
    return "\n".join(lines), png
