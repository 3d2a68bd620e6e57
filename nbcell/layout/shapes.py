"""The boxes (dbu) that each routing item occupies, shared by the router and the drawing.

Keys: ``poly``, ``m0`` (first metal), ``m1`` (second metal), ``co`` (contact
cuts), ``cut1`` (cuts between the metals). A wire is its centre line grown by
half the layer's minimum width (ends included); a cut carries its square and
the enclosing pads of the layers below and above it.
"""

from __future__ import annotations

from nbcell.layout.frame import Box, Frame, pad
from nbcell.layout.ir import Via, Wire

LAYER_KEYS = ("poly", "m0", "m1")
CUT_KEYS = ("co", "cut1")


class Shapes:
    """Shape maker for one frame."""

    def __init__(self, frame: Frame):
        r = frame.rules
        self.f = frame
        self.xs, self.ys = frame.grid.xs, frame.grid.ys
        self.half = {"poly": r["poly.width"] // 2, "m0": r["m0.width"] // 2, "m1": r["m1.width"] // 2}
        self.cut_half = {"co": r["co.size"] // 2, "cut1": r["cut1.size"] // 2}
        self.enc = {("poly", "co"): r.co_enc("poly"), ("m0", "co"): r.enc("m0", "co"),
                    ("m0", "cut1"): r.enc("m0", "cut1"), ("m1", "cut1"): r.enc("m1", "cut1")}
        self.space = {"poly": r["poly.space"], "m0": r["m0.space"], "m1": r["m1.space"],
                      "co": r["co.space"], "cut1": r["cut1.space"]}
        tpl = frame.process.template
        roles = tpl.layer_roles
        m1 = roles["m1"] if "li" in roles else roles["m2"]
        tr = tpl.tracks.get(m1)
        self.m1_vertical = tr is None or tr.direction == "vertical"
        # (pitch, offset, lowest, highest) centre of a second-metal track inside the cell (dbu)
        if tr is None:
            self.m1_track = (0, 0, 0, 0)
        else:
            edge = r["cut1.size"] // 2 + r.enc("m1", "cut1").small + (r["m1.space"] + 1) // 2
            size = frame.width if self.m1_vertical else frame.height
            self.m1_track = (round(tr.pitch / frame.dbu), round(tr.offset / frame.dbu), edge, size - edge)
        # poly on a gate column keeps the gate's length as its width (no steps, no notches)
        self.poly_half_x = [self.half["poly"]] * len(self.xs)
        for ix, col in enumerate(frame.grid.x_column):
            if col >= 0 and col % 2 == 1:
                g = (col - 1) // 2
                ls = [frame.fingers[(s.device, s.finger)].l for s in (frame.placement.n[g], frame.placement.p[g]) if s]
                if ls:
                    self.poly_half_x[ix] = max(self.half["poly"], round(max(ls) / frame.dbu) // 2)

    def node(self, layer: int, ix: int, iy: int) -> list[tuple[str, Box]]:
        key = LAYER_KEYS[layer]
        h = self.half[key]
        hx = self.poly_half_x[ix] if layer == 0 else h
        x, y = self.xs[ix], self.ys[iy]
        return [(key, (x - hx, y - h, x + hx, y + h))]

    def wire(self, w: Wire) -> list[tuple[str, Box]]:
        key = LAYER_KEYS[w.layer]
        if w.layer == 0 and w.ix0 == w.ix1:
            through = self._through_gate(w)
            if through is not None:
                return [(key, through)]
        h = self.half[key]
        hx = self.poly_half_x[w.ix0] if w.layer == 0 and w.ix0 == w.ix1 else h
        x0, x1 = sorted((self.xs[w.ix0], self.xs[w.ix1]))
        y0, y1 = sorted((self.ys[w.iy0], self.ys[w.iy1]))
        return [(key, (x0 - hx, y0 - h, x1 + hx, y1 + h))]

    def _through_gate(self, w: Wire) -> Box | None:
        """A vertical poly wire across a row's diffusion on a gate column: that stretch is the gate
        itself, so only the part beyond the diffusion is drawn, as wide as that finger's length."""
        f = self.f
        col = f.grid.x_column[w.ix0]
        if col < 0 or col % 2 == 0:
            return None
        g = (col - 1) // 2
        y0, y1 = sorted((self.ys[w.iy0], self.ys[w.iy1]))
        x = self.xs[w.ix0]
        for row in ("n", "p"):
            slot = f.placement.row(row)[g]
            rg = f.rows[row]
            if slot is None or not y0 < rg.edge < y1:
                continue
            fg = f.fingers[(slot.device, slot.finger)]
            half = round(fg.l / f.dbu) // 2
            wd = round(fg.w / f.dbu)
            h = self.half["poly"]
            if rg.up:
                return (x - half, rg.edge + wd, x + half, y1 + h)
            return (x - half, y0 - h, x + half, rg.edge - wd)
        return None

    def via(self, v: Via) -> list[tuple[str, Box]]:
        x, y = self.xs[v.ix], self.ys[v.iy]
        if v.lower == -1:  # diffusion contact
            c = self.cut_half["co"]
            return [("co", (x - c, y - c, x + c, y + c)),
                    ("m0", pad(x, y, c, self.enc[("m0", "co")], v.orient))]
        if v.lower == 0:
            c = self.cut_half["co"]
            return [("co", (x - c, y - c, x + c, y + c)),
                    ("poly", pad(x, y, c, self.enc[("poly", "co")], v.orient)),
                    ("m0", pad(x, y, c, self.enc[("m0", "co")], v.orient))]
        c = self.cut_half["cut1"]
        return [("cut1", (x - c, y - c, x + c, y + c)),
                ("m0", pad(x, y, c, self.enc[("m0", "cut1")], v.orient)),
                ("m1", pad(x, y, c, self.enc[("m1", "cut1")], "v" if self.m1_vertical else "h"))]

    def pin_point(self, ix: int, iy: int) -> tuple[int, int] | None:
        """Where the pin landing of grid node (ix, iy) sits (dbu): the node moved across to the
        nearest second-metal track, when that keeps the landing on the node's wire; else None."""
        x, y = self.xs[ix], self.ys[iy]
        pitch, off, lo, hi = self.m1_track
        if not pitch:
            return None
        v = x if self.m1_vertical else y
        t = off + round((v - off) / pitch) * pitch
        if t < lo:
            t += pitch
        if t > hi:
            t -= pitch
        c = self.cut_half["cut1"]
        reach = c + self.enc[("m0", "cut1")].small + self.half["m0"] - self.f.rules.grid
        if abs(t - v) > reach or not lo <= t <= hi:
            return None
        return (t, y) if self.m1_vertical else (x, t)

    def pin(self, ix: int, iy: int) -> list[tuple[str, Box]]:
        """The first-metal landing an upper-level router needs for a cut to the second metal,
        centred on a second-metal track (see :meth:`pin_point`)."""
        pt = self.pin_point(ix, iy)
        x, y = pt if pt is not None else (self.xs[ix], self.ys[iy])
        c = self.cut_half["cut1"]
        return [("m0", pad(x, y, c, self.enc[("m0", "cut1")], "v" if self.m1_vertical else "h"))]
