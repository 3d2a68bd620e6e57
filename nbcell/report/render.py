"""Cell pictures: KLayout draws the GDS with the target's layer properties, DRC markers on top.

One headless ``klayout.lay.LayoutView`` is reused for every cell of a report;
the PNG comes back as bytes so the caller writes it atomically.
"""

from __future__ import annotations

from pathlib import Path

import klayout.db as kdb
import klayout.lay as lay

from nbcell.report.markers import Marker

MARKER_COLOR = 0xff00ff  # magenta: no layer of the palette uses it
MARGIN = 0.04  # fraction of the cell's size left blank around it


class Renderer:
    """Draws cells to PNG. ``lyp``: layer properties file (None: KLayout's default colours)."""

    def __init__(self, lyp: str | Path | None, *, text: bool = False, oversampling: int = 2):
        self.lyp = str(lyp) if lyp else None
        self.oversampling = oversampling
        self.view = lay.LayoutView()
        for key, value in (("background-color", "#ffffff"), ("grid-visible", "false"),
                           ("text-visible", "true" if text else "false"), ("cell-box-visible", "false")):
            self.view.set_config(key, value)

    def render(self, gds: str | Path, markers: list[Marker], height_px: int,
               max_width_px: int) -> tuple[bytes, int, int]:
        """PNG bytes and size (px) of the top cell of ``gds``: ``height_px`` high, width by aspect ratio."""
        view = self.view
        view.clear_markers()
        view.load_layout(str(gds), False)  # replaces the previous cell view
        if self.lyp:
            view.load_layer_props(self.lyp)
            view.add_missing_layers()  # a layer outside the table still shows (default colours)
        view.max_hier()
        cell = view.active_cellview().cell
        box = cell.dbbox() if cell is not None else kdb.DBox()
        for m in markers:
            box += m.bbox
        if box.empty():
            box = kdb.DBox(0, 0, 1, 1)
        box = box.enlarged(MARGIN * max(box.width(), box.height()))
        width = max(16, min(max_width_px, round(height_px * box.width() / box.height())))
        px_um = min(width / box.width(), height_px / box.height())  # pixels per µm
        keep = [_marker(view, m, px_um) for m in markers]  # keep references alive while drawing
        img = view.get_pixels_with_options(width, height_px, 0, self.oversampling, 0, box)
        del keep
        view.clear_markers()
        return img.to_png_data(), width, height_px


def _marker(view: lay.LayoutView, m: Marker, px_um: float) -> list[lay.Marker]:
    """The marker's own shape plus a ring at least 6 px wide, so a tiny violation still shows."""
    out = []
    shape = m.shape.polygon(0) if isinstance(m.shape, kdb.DEdgePair) else m.shape
    mk = lay.Marker(view)
    try:
        mk.set(shape)
        mk.color, mk.frame_color, mk.line_width, mk.dither_pattern = MARKER_COLOR, MARKER_COLOR, 2, 5
        out.append(mk)
    except TypeError:  # a shape kind the marker cannot show: the ring below still does
        mk._destroy()
    ring = m.bbox.enlarged(4 / px_um)
    rk = lay.Marker(view)
    rk.set(ring)
    rk.frame_color, rk.line_width, rk.dither_pattern = MARKER_COLOR, 2, 1
    out.append(rk)
    return out
