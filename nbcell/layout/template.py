"""The template's fixed shapes of a cell ``width`` dbu wide: boundary, wells, implants, markers and
the tie strips under the rails with their contacts (all dbu), the same for every layout style."""

from __future__ import annotations

from nbcell.layout.rules import load_rules
from nbcell.pdk import Process

Box = tuple[int, int, int, int]


def template_boxes(process: Process, width: int) -> list[tuple[str, Box]]:
    """(layer name, box) pairs. Tie contacts sit on each tie's centre line, one per site at its
    middle (so abutted cells keep the contact pitch)."""
    tpl = process.template
    to = lambda um: round(um / process.technology.dbu)  # noqa: E731
    out: list[tuple[str, Box]] = [(tpl.boundary_layer, (0, 0, width, to(tpl.height)))]
    for group in (tpl.wells, tpl.implants, tpl.markers):
        for name, span in group.items():
            ov = to(span.x_overhang)
            out.append((name, (-ov, to(span.y0), width + ov, to(span.y1))))
    if not tpl.ties:
        return out
    h = load_rules(process)["co.size"] // 2
    site = to(tpl.site.width)
    for tie in tpl.ties:
        y0, y1 = to(tie.y0), to(tie.y1)
        out.append((tie.layer, (0, y0, width, y1)))
        for name, span in tie.implants.items():
            ov = to(span.x_overhang)
            out.append((name, (-ov, to(span.y0), width + ov, to(span.y1))))
        yc = (y0 + y1) // 2
        for k in range(width // site):
            xc = k * site + site // 2
            out.append((tpl.layer_roles["contact"], (xc - h, yc - h, xc + h, yc + h)))
    return out
