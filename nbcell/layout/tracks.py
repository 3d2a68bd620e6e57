"""The gridded cell style: every shape on a fixed grid of vertical lines and horizontal tracks.

Vertical lines sit every ``pitch`` (the vertical track pitch of the second routing
metal, 0.56 µm in gf180mcu, else of the first: 0.46 µm li1 in sky130) from the
cell's left edge; each placement column (diffusion column
``k``, gate column ``g``) takes one line, and a gate keeps at least one line
step from its diffusion columns (more where a long gate, a width step or the
contact-to-gate rule needs it). Horizontal tracks are chosen per process from
the rules: contact tracks over each diffusion row, one poly-contact track
next to each row in the channel, all at least one *track pitch* apart so any
two pads on neighbouring tracks keep every spacing rule.

With local interconnect (sky130) the first routing metal is li1, the cut to
the second is mcon and the second is met1, which also carries the rails: a
li1 strip under each rail is the first metal's rail, tied to it by mcons, and
met1 keeps off the tracks next to the rails. Where the channel between the
rows holds a single poly-contact track (sky130 hd: the npc band), a gate
column whose N and P gates differ is split into two columns.

Because every pad on the first metal is as wide as the widest enclosure needs,
the router only has to keep two nets' pads off neighbouring lines of one track
(first metal) and two nets off close tracks of one line (second metal: any two
uses, or only two via pads where a plain wire clears a pad); everything else is
legal by construction (see :class:`TrackFrame` for the numbers).
All coordinates in database units (dbu).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from nbcell.layout.frame import _Builder as FrameBuilder, poly_contact_span, routing_roles, row_limits
from nbcell.layout.ir import Placement
from nbcell.layout.place import fingers as list_fingers
from nbcell.layout.rules import LayoutError, Rules, load_rules
from nbcell.netlist import Cell
from nbcell.pdk import Process

Box = tuple[int, int, int, int]
#: the owner of a first-metal node no net may use (beside two nets' fixed shapes)
BLOCKED = "\0blocked"


@dataclass(frozen=True)
class Dims:
    """Pad and pitch sizes of one process (dbu), derived once from its rules."""

    pitch: int        # vertical line pitch
    track: int        # minimum track pitch
    hx0: int          # first-metal pad half width / half height (pads are wider than tall)
    hy0: int
    hx1: int          # second-metal pad half width / half height (long along the metal's direction)
    hy1: int
    w0: int           # first/second metal wire width
    w1: int
    ce: int           # contact centre to diffusion edge (half contact + enclosure)
    pad_poly: int     # poly pad half size around a poly contact
    cut: int          # contact size
    via: int          # first-to-second metal cut size
    hx2: int = 0      # third-metal pad half width / half height (0: the style does not use it)
    hy2: int = 0
    w2: int = 0       # third metal wire width
    via2: int = 0     # second-to-third metal cut size

    @property
    def third_metal(self) -> bool:
        return self.via2 > 0

    @classmethod
    def of(cls, process: Process, r: Rules) -> "Dims":
        """Sizes from the rules; the line pitch is the template's vertical track pitch of the second
        routing metal (else of the first) when that is wide enough, else the minimum the rules allow."""
        co, cut1 = r["co.size"], r["cut1.size"]
        e_co, e_v0, e_v1 = r.enc("m0", "co"), r.enc("m0", "cut1"), r.enc("m1", "cut1")
        hx0 = max(co // 2 + e_co.big, cut1 // 2 + e_v0.big, r["m0.width"] // 2)
        hy0 = max(co // 2 + e_co.small, cut1 // 2 + e_v0.small, r["m0.width"] // 2)
        tpl = process.template
        roles = routing_roles(tpl)
        # second-metal pads are long along the metal's preferred direction (gf180 Metal2: vertical,
        # taller than wide; sky130 met1: horizontal, wider than tall)
        tr1 = tpl.tracks.get(tpl.layer_roles.get(roles["m1"], ""))
        wide = tr1 is not None and tr1.direction == "horizontal"
        along = lambda e: (e.big, e.small) if wide else (e.small, e.big)  # noqa: E731  (x, y)
        ex1, ey1 = along(e_v1)
        hx1 = max(cut1 // 2 + ex1, r["m1.width"] // 2)
        hy1 = max(cut1 // 2 + ey1, r["m1.width"] // 2)
        track = r.snap_up(max(2 * hy0 + r["m0.space"], cut1 + r["cut1.space"], co + r["co.space"]))
        need = max(2 * hx1 + r["m1.space"], cut1 + r["cut1.space"], co + r["co.space"],
                   hx0 + r["m0.width"] // 2 + r["m0.space"], (2 * hx0 + r["m0.space"] + 1) // 2)
        vertical = [tr for tr in (tpl.tracks.get(tpl.layer_roles.get(roles[k], "")) for k in ("m1", "m0"))
                    if tr is not None and tr.direction == "vertical"]
        pitch = round(vertical[0].pitch / r.dbu) if vertical else 0
        if pitch < need:
            pitch = r.snap_up(need)
        ce = co // 2 + r.co_enc("diff").big
        third = {}
        if r.get("cut2.size"):
            cut2 = r["cut2.size"]
            e_m1, e_m2 = r.enc("m1", "cut2"), r.enc("m2", "cut2")
            # the second metal's pads hold either via (they never stack)
            ex, ey = along(e_m1)
            hx1t, hy1t = max(hx1, cut2 // 2 + ex), max(hy1, cut2 // 2 + ey)
            eol = r.get("m2.cut2_eol")
            if eol:
                # the third metal runs along the tracks: where its line ends must pass the via by
                # the end-of-line enclosure, its pads are that long along the track and as narrow
                # as the wire across it (gf180 V2.4b/V2.4c)
                hx2 = max(cut2 // 2 + max(e_m2.big, eol), r["m2.width"] // 2)
                hy2 = max(cut2 // 2 + e_m2.small, r["m2.width"] // 2)
            else:
                hx2 = max(cut2 // 2 + e_m2.small, r["m2.width"] // 2)
                hy2 = max(cut2 // 2 + e_m2.big, r["m2.width"] // 2)
            if (2 * hx2 + r["m2.space"] <= 2 * pitch and cut2 + r["cut2.space"] <= pitch
                    and 2 * hx1t + r["m1.space"] <= pitch):
                hx1, hy1 = hx1t, hy1t
                third = dict(hx2=hx2, hy2=hy2, w2=r["m2.width"], via2=cut2)
        return cls(pitch, track, hx0, hy0, hx1, hy1, r["m0.width"], r["m1.width"], ce,
                   co // 2 + r.co_enc("poly").big, co, cut1, **third)


@dataclass
class Terminal:
    """Something a net must connect: first-metal grid nodes (line, track), any one of which will do."""

    net: str
    what: str
    nodes: list[tuple[int, int]]


@dataclass
class RailStrip:
    """Contacts from a supply net's diffusion straight into its rail (fixed before routing)."""

    net: str
    line: int
    contacts: list[int]    # contact centre y
    box: Box               # first-metal strip


@dataclass
class TrackFrame:
    """Everything fixed before routing: lines, tracks, diffusion, gates, rail strips, terminals."""

    cell: Cell
    process: Process
    rules: Rules
    dims: Dims
    placement: Placement
    width: int
    height: int
    lines: int                          # vertical lines 0..lines-1 at x = xs[i]
    ys: list[int]                       # track y, bottom to top
    #: per track: "n" / "p" over a row, "cn" / "cp" the poly-contact tracks in the channel (or one
    #: "c" for both rows), "m2" second metal only
    track_kind: list[str]
    diff_line: list[int | None]         # line of diffusion column k (0..G); None: not contacted
    gate_line: list[int | None]         # line of gate column g (0..G-1); None: a diffusion break
    comps: list[tuple[str, Box]]        # (row, box)
    gates: list[tuple[int, str, str]]   # (gate column, row "n"/"p"/"np", net)
    strips: list[RailStrip]
    terminals: list[Terminal]
    rails: dict[str, tuple[str, Box]]   # supply net -> ("bottom"/"top", rail box on the first metal)
    pins: list[str]
    fixed: dict[tuple[int, int], str] = field(default_factory=dict)  # first-metal node -> owning net
    #: tracks the second metal may not use (too close to a rail drawn on it)
    no_m1: frozenset[int] = frozenset()
    #: supply net -> its rail on the second metal (local-interconnect styles; ``rails`` then holds
    #: the first-metal strip under it)
    rails_m1: dict[str, Box] = field(default_factory=dict)
    xs: list[int] = field(default_factory=list)  # x of each line, increasing, at least a pitch apart
    #: (line, track) -> y of a diffusion contact that sits off its track (a narrow diffusion)
    contact_y: dict[tuple[int, int], int] = field(default_factory=dict)

    @property
    def dbu(self) -> float:
        return self.rules.dbu

    def x(self, line: int) -> int:
        return self.xs[line]

    def contact_pad(self, line: int, t: int) -> tuple[int, int] | None:
        """y range (dbu) of the first metal under a contact off its track (``contact_y``): from the
        track's pad to the contact's (a lone one gets its stub like any pad)."""
        yc = self.contact_y.get((line, t))
        if yc is None:
            return None
        y, h = self.ys[t], self.dims.hy0
        return min(y, yc) - h, max(y, yc) + h

    #: neighbouring lines (offsets) whose shapes may conflict, at most
    REACH = 3

    def _half(self, layer: int) -> tuple[int, int, int]:
        """(pad half width, largest half width of any other shape at a node, space) in x on ``layer``
        (dbu): first-metal wires end half a pad's height past their node; the other metals' wires
        end as wide as their pads."""
        d, r = self.dims, self.rules
        if layer == 0:
            return d.hx0, max(d.hy0, d.w0 // 2), r["m0.space"]
        if layer == 1:
            return d.hx1, d.hx1, r["m1.space"]
        return d.hx2, d.hx2, r["m2.space"]

    def x_class(self, layer: int, c: int, k: int) -> int:
        """How two nets' shapes on ``layer`` at lines ``c`` and ``c + k`` of one track conflict: 0
        never, 1 two pads, 2 any two uses (a pad and a wire counted as any: the safe side)."""
        if not 0 <= c < c + k < self.lines:
            return 0
        h, e, s = self._half(layer)
        dx = self.xs[c + k] - self.xs[c]
        return 2 if dx < h + e + s else 1 if dx < 2 * h + s else 0

    def diagonal_close(self, layer: int, c: int, k: int, t: int) -> bool:
        """Whether two nets' pads on ``layer`` at (c, t) and (c + k, t + 1), or at (c, t + 1) and
        (c + k, t), come within the space (their corners, Euclidean)."""
        if layer == 0 or not (0 <= c < c + k < self.lines and 0 <= t < t + 1 < len(self.ys)):
            return False
        h, _, s = self._half(layer)
        d = self.dims
        hy = (lambda u: d.w1 // 2 if self.track_kind[u] == "m2" else d.hy1) if layer == 1 else (lambda u: d.hy2)  # noqa: E731
        gx = self.xs[c + k] - self.xs[c] - 2 * h
        gy = self.ys[t + 1] - self.ys[t] - hy(t) - hy(t + 1)
        return gx < s and gy < s and (gx <= 0 or gy <= 0 or gx * gx + gy * gy < s * s)

    def via_close(self, level: int, c0: int, t0: int, c1: int, t1: int) -> bool:
        """Whether vias of ``level`` (1: first metal to second, 2: second to third) at two nodes are
        closer than the cut space (any nets: the cut space holds within one net too)."""
        d, r = self.dims, self.rules
        size, space = (d.via, r["cut1.space"]) if level == 1 else (d.via2, r.get("cut2.space"))
        gx = abs(self.xs[c1] - self.xs[c0]) - size
        gy = abs(self.ys[t1] - self.ys[t0]) - size
        return gx < space and gy < space and (gx <= 0 or gy <= 0 or gx * gx + gy * gy < space * space)

    def line_at(self, x: int) -> int:
        """The line nearest ``x`` (dbu)."""
        i = bisect.bisect_left(self.xs, x)
        return min((j for j in (i - 1, i) if 0 <= j < len(self.xs)), key=lambda j: abs(self.xs[j] - x))

    def channel(self) -> tuple[int, int]:
        """Track indices of the N and P poly contacts (the same track when the channel has one)."""
        return channel_tracks(self.track_kind)


def channel_tracks(kind: list[str]) -> tuple[int, int]:
    """Indices of the N and P poly-contact tracks among track kinds ``kind``."""
    return (kind.index("c"), kind.index("c")) if "c" in kind else (kind.index("cn"), kind.index("cp"))


def _channel(process: Process, r: Rules, d: Dims, cl: int, ch: int) -> list[int]:
    """Poly-contact track(s) between ``cl`` and ``ch`` (the lowest and highest a poly contact may
    sit next to the rows, dbu), kept in the template's npc band and off the P implant: two when
    two poly pads fit, else one in the middle."""
    cl, ch = poly_contact_span(process, r, cl, ch)
    if ch - cl >= 2 * d.pad_poly + r["poly.space"] and ch - cl >= d.track:
        return [cl, ch]
    if ch < cl:
        raise LayoutError(f"process {process.name}: no poly contact fits in the channel between the rows "
                          f"(with the npc band and the P implant)")
    return [(cl + ch) // 2 // r.grid * r.grid]


def _tracks(process: Process, r: Rules, d: Dims, rail_lo: int, rail_hi: int, over_rails: bool = True
            ) -> tuple[list[int], list[str]]:
    """Track y positions: contact tracks over the rows, poly-contact tracks in the channel; with
    ``over_rails``, second-metal-only tracks over the rails where they fit."""
    (n_lo, n_hi), (p_lo, p_hi) = row_limits(process, r)
    g = r.grid
    down = lambda v: v // g * g  # noqa: E731
    up = lambda v: -(-v // g) * g  # noqa: E731
    y_min = up(rail_lo + r["m0.space"] + d.hy0)
    y_max = down(rail_hi - r["m0.space"] - d.hy0)
    lo0, hi0 = up(n_hi + r["co.poly_to_diff"] + d.cut // 2), down(p_lo - r["co.poly_to_diff"] - d.cut // 2)
    # the contact track next to the channel is one first-metal pad space from the poly-contact
    # track (vias on that pair are the router's to keep apart); where the narrowest contactable
    # diffusion then reaches it, the channel track moves away from the row -- unless that costs
    # a poly-contact track (N first: its fingers are the narrower)
    tsp = 2 * d.hy0 + r["m0.space"]
    n_top, p_bot = down(n_hi - d.ce), up(p_lo + d.ce)
    chan = base = _channel(process, r, d, lo0, hi0)
    for n_close, p_close in ((True, True), (True, False), (False, True)):
        try:
            chan = _channel(process, r, d, max(lo0, n_top + tsp) if n_close else lo0,
                            min(hi0, p_bot - tsp) if p_close else hi0)
        except LayoutError:
            continue
        if len(chan) == len(base):
            break
    else:
        chan = base
    cl, ch = chan[0], chan[-1]
    ys, kind = [], []
    y = min(n_top, cl - tsp)
    n_tracks = []
    while y >= max(y_min, n_lo + d.ce):
        n_tracks.append(y)
        y -= d.track
    for y in reversed(n_tracks):
        ys.append(y)
        kind.append("n")
    ys += chan
    kind += ["cn", "cp"] if len(chan) == 2 else ["c"]
    y = max(p_bot, ch + tsp)
    while y <= min(y_max, p_hi - d.ce):
        ys.append(y)
        kind.append("p")
        y += d.track
    if "n" not in kind or "p" not in kind:
        raise LayoutError(f"process {process.name}: no contact track fits over a diffusion row")
    if not over_rails:
        return ys, kind
    # second-metal-only tracks over the rails (no via can land there: the first metal is the
    # rail): half a space from the cell edge, so abutting rows keep the second metal's space.
    # One closer to its neighbour track than the space allows is shared with it (the router
    # keeps two nets off the pair on one line)
    H = round(process.template.height / r.dbu)
    edge = up(d.w1 // 2 + (r["m1.space"] + 1) // 2)
    if ys[0] - edge >= d.w1 // 2 + d.hy1:
        ys.insert(0, edge)
        kind.insert(0, "m2")
    if down(H - edge) - ys[-1] >= d.w1 // 2 + d.hy1:
        ys.append(down(H - edge))
        kind.append("m2")
    return ys, kind


def split_columns_ok(process: Process) -> bool:
    """Whether the gridded frame's channel holds a poly-contact track for each row, so that one
    gate column may hold an N and a P gate of different nets."""
    b = _Builder(Cell("-", ()), process, Placement((), ()))
    lo = max(bx[3] for side, bx in b.rails.values() if side == "bottom")
    hi = min(bx[1] for side, bx in b.rails.values() if side == "top")
    return "c" not in _tracks(process, b.r, b.d, lo, hi, over_rails=not b.rails_m1)[1]


def split_gates(pl: Placement, fingers: dict) -> Placement:
    """``pl`` with every gate column whose N and P gates differ split in two (N first): one
    poly-contact track cannot take both. The empty slots bridge the diffusion they interrupt."""
    n, p, spacers = [], [], set()
    for g, (a, b) in enumerate(zip(pl.n, pl.p)):
        if g in pl.spacers:
            spacers.add(len(n))
        if a is not None and b is not None and fingers[(a.device, a.finger)].gate != fingers[(b.device, b.finger)].gate:
            n += [a, None]
            p += [None, b]
        else:
            n.append(a)
            p.append(b)
    return pl if len(n) == len(pl.n) else Placement(tuple(n), tuple(p), frozenset(spacers))


class _Builder:
    def __init__(self, cell: Cell, process: Process, placement: Placement):
        if process.template is None:
            raise LayoutError(f"process {process.name} has no cell template")
        self.cell, self.process, self.placement = cell, process, placement
        self.tpl = process.template
        self.r = load_rules(process)
        self.d = Dims.of(process, self.r)
        self.line_floor: int | None = None
        self.break_lines = False
        self.fs = {(f.device, f.index): f for f in list_fingers(cell)}
        self.G = placement.columns
        self.to = lambda um: round(um / self.r.dbu)
        (self.n_lo, self.n_hi), (self.p_lo, self.p_hi) = row_limits(process, self.r)
        sup = process.supplies
        self.row_rail = {}
        self.rails = {}
        self.rails_m1: dict[str, Box] = {}
        roles = routing_roles(self.tpl)
        m0, m1 = self.tpl.layer_roles[roles["m0"]], self.tpl.layer_roles[roles["m1"]]
        for rail in self.tpl.rails:
            y0, y1 = self.to(rail.y0), self.to(rail.y1)
            side = "bottom" if rail.y0 < self.tpl.height / 2 else "top"
            if rail.layer == m1 and "li" in self.tpl.layer_roles:
                # the first metal's rail is a minimum-width strip along the middle of it
                self.rails_m1[rail.net] = (0, y0, 0, y1)
                h = self.r["m0.width"] // 2
                yc = (y0 + y1) // 2 // self.r.grid * self.r.grid
                y0, y1 = yc - h, yc + h
            elif rail.layer != m0:
                raise LayoutError(f"process {process.name}: rail {rail.net} is on {rail.layer}, not on the "
                                  f"first routing metal {m0}")
            self.rails[rail.net] = (side, (0, y0, 0, y1))
            self.row_rail["n" if side == "bottom" else "p"] = rail.net
        self.supplies = self.rail_nets = {sup.power, sup.ground}

    # placement lookups, the contacted nets, the column constraints and the diffusion ends are the
    # free-grid frame's (same placement semantics, same rules)
    finger = FrameBuilder.finger
    sides = FrameBuilder.sides
    diff_net = FrameBuilder.diff_net
    bridged = FrameBuilder.bridged
    gl = FrameBuilder.gl
    gw = FrameBuilder.gw
    contacted_nets = FrameBuilder.contacted_nets
    _row_constraints = FrameBuilder._row_constraints
    _longest_path = FrameBuilder._longest_path
    _comp_side = FrameBuilder._comp_side

    # -- lines ------------------------------------------------------------------

    def margin(self) -> int:
        """Closest a line may come to a cell edge (dbu): half of each routing metal's space past its pad."""
        r, d = self.r, self.d
        return max(d.hx0 + (r["m0.space"] + 1) // 2, d.hx1 + (r["m1.space"] + 1) // 2,
                   d.hx2 + (r["m2.space"] + 1) // 2 if d.third_metal else 0)

    def solve_lines(self) -> None:
        """Column x positions from the rules, lines on them, filler lines in the room left.

        Columns ``c`` (``2k`` diffusion column k, ``2g + 1`` gate column g) are spaced by the
        free-grid frame's constraints per row (contact to gate, uncontacted gate to gate, width
        steps, island ends and the diffusion space between islands), neighbouring gates by the
        poly space beside their poly-contact pads. A line sits on every gate column with a gate,
        every contacted diffusion column and every spacer (``Placement.spacers``; a diffusion break
        is no line), lines at least a line pitch apart: the router keeps two nets apart wherever
        their shapes conflict (``TrackFrame.x_class``), but closer lines cost more routing room
        than their columns save (gf180 7t: the same widths; sky130 hd at its 0.21 contact-to-gate
        distance: a fifth of the cells unroutable). Wherever two lines are two pitches or more
        apart, filler lines share the room at a pitch or more.
        """
        r, d = self.r, self.d
        C = 2 * self.G + 1
        self.contacted = self.contacted_nets()
        denc = r.co_enc("diff")
        cons: list[tuple[int, int, int]] = []
        edge_l, edge_r = [0] * C, [0] * C
        for row in ("n", "p"):
            self._row_constraints(row, cons, edge_l, edge_r, d.cut // 2, denc, d.cut + 2 * denc.big)
        gate_cols = [g for g in range(self.G) if self.finger("n", g) or self.finger("p", g)]
        half_ps = r.snap_up((r["poly.space"] + 1) // 2)
        for g in gate_cols:
            half = max([self.gl(f) // 2 for f in (self.finger("n", g), self.finger("p", g)) if f] + [d.pad_poly])
            edge_l[2 * g + 1] = max(edge_l[2 * g + 1], half + half_ps)
            edge_r[2 * g + 1] = max(edge_r[2 * g + 1], half + half_ps)
        for a, b in zip(gate_cols, gate_cols[1:]):
            widest = max([self.gl(f) for f in (self.finger("n", a), self.finger("p", a), self.finger("n", b),
                                                self.finger("p", b)) if f] + [2 * d.pad_poly])
            cons.append((2 * a + 1, 2 * b + 1, widest + r["poly.space"]))
        # lines: gate columns with a gate or a spacer (not a diffusion break), contacted diffusion
        self.is_line = [bool(self.break_lines or self.finger("n", c // 2) or self.finger("p", c // 2)
                             or c // 2 in self.placement.spacers)
                        if c % 2 else any(self.diff_net(row, c // 2) in self.contacted for row in "np")
                        for c in range(C)]
        cols = [c for c in range(C) if self.is_line[c]]
        gated = lambda c: c % 2 == 1 and bool(self.finger("n", c // 2) or self.finger("p", c // 2))  # noqa: E731
        for a, b in zip(cols, cols[1:]):
            # the rules space a gate from its neighbours; two lines with no gate between (a spacer,
            # a break) keep the line pitch whatever the floor
            dense = self.line_floor is not None and (gated(a) or gated(b))
            cons.append((a, b, self.line_floor if dense else d.pitch))
        edge = self.margin()
        for c in cols:
            edge_l[c], edge_r[c] = max(edge_l[c], edge), max(edge_r[c], edge)
        self.col_x = self._longest_path(C, cons, edge_l)
        right = max(self.col_x[c] + edge_r[c] for c in range(C))
        site = self.to(self.tpl.site.width)
        self.width = max(site, -(-right // site) * site)
        self.H = self.to(self.tpl.height)
        # lines: the columns' and fillers between them and towards the edges
        xs = [self.col_x[c] for c in cols]
        bounds = [edge - d.pitch] + xs + [self.width - edge + d.pitch]
        fill = []
        for a, b in zip(bounds, bounds[1:]):
            n = (b - a) // d.pitch - 1
            step = (b - a) // (n + 1) // r.grid * r.grid if n > 0 else 0
            fill += [a + i * step for i in range(1, n + 1)]
        self.xs = sorted(set(xs + fill))
        line_of = {x: i for i, x in enumerate(self.xs)}
        self.line_of_col = {c: line_of[self.col_x[c]] for c in cols}
        self.diff_line = [self.line_of_col.get(2 * k) for k in range(self.G + 1)]
        self.gate_line = [self.line_of_col.get(2 * g + 1) for g in range(self.G)]
        self.lines = len(self.xs)

    # -- diffusion, gates, rails -------------------------------------------------

    def span(self, row: str, w: int) -> tuple[int, int]:
        return (self.n_hi - w, self.n_hi) if row == "n" else (self.p_lo, self.p_lo + w)

    def draw_comps(self) -> None:
        """Diffusion per finger (aligned on the channel side of its row), bridges over empty gate
        columns, and dogbones where a finger is narrower than a contact's landing."""
        r, d = self.r, self.d
        denc = r.co_enc("diff")
        x = self.col_x
        self.comps: list[tuple[str, Box]] = []
        for row in ("n", "p"):
            for g in range(self.G):
                f = self.finger(row, g)
                if f is None:
                    if self.bridged(row, g):
                        w = min(self.gw(self.finger(row, g - 1)), self.gw(self.finger(row, g + 1)))
                        y0, y1 = self.span(row, w)
                        self.comps.append((row, (x[2 * g], y0, x[2 * g + 2], y1)))
                    continue
                lo = self._comp_side(row, g, -1, f, d.cut // 2, denc)
                hi = self._comp_side(row, g, 1, f, d.cut // 2, denc)
                y0, y1 = self.span(row, self.gw(f))
                self.comps.append((row, (lo, y0, hi, y1)))
            for k in range(self.G + 1):
                # a contacted column beside a finger or bridge narrower than a landing: a dogbone
                ws = self._column_widths(row, k)
                if ws and min(ws) < self.hc and self.diff_line[k] is not None and self.diff_net(row, k) in self.contacted:
                    a, b = self.column_span(row, k)
                    e = d.cut // 2 + denc.small
                    self.comps.append((row, (x[2 * k] - e, a, x[2 * k] + e, b)))

    @property
    def hc(self) -> int:
        """Narrowest diffusion (dbu) that holds a contact with its enclosure."""
        return self.d.cut + 2 * self.r.co_enc("diff").big

    def column_span(self, row: str, k: int) -> tuple[int, int] | None:
        """y range of the diffusion at diffusion column ``k``: the narrower of its two fingers (a
        wider one steps down before the column; a bridge over an empty gate column beside it is
        as narrow as the narrower finger it joins), at least a contact's landing (a dogbone)."""
        ws = self._column_widths(row, k)
        if not ws:
            return None
        return self.span(row, max(min(ws), self.hc))

    def _column_widths(self, row: str, k: int) -> list[int]:
        """Widths (dbu) of the fingers touching diffusion column ``k``, and of those a bridge over
        an empty gate column beside it joins."""
        near = [self.finger(row, k - 1), self.finger(row, k)]
        if k >= 1 and self.bridged(row, k - 1):
            near.append(self.finger(row, k - 2))
        if k < self.G and self.bridged(row, k):
            near.append(self.finger(row, k + 1))
        return [self.gw(f) for f in near if f]

    def rail_strip(self, row: str, k: int, net: str) -> RailStrip:
        """Contacts from the rail side of the diffusion, as many as keep the strip off the first
        contact track next to the channel (at least one)."""
        r, d = self.r, self.d
        y0, y1 = self.column_span(row, k)
        step = d.cut + r["co.space"]
        e_co = r.enc("m0", "co")
        near = [y for y, kd in zip(self.ys, self.kind) if kd == row]
        keep = near[-1] if row == "n" else near[0]  # the track nearest the channel
        ys = []
        first = y0 + d.ce if row == "n" else y1 - d.ce
        sign = 1 if row == "n" else -1
        j = 0
        while True:
            yc = first + sign * j * step
            if not (y0 + d.ce <= yc <= y1 - d.ce):
                break
            end = yc + sign * (d.cut // 2 + e_co.big)
            if ys and (end + r["m0.space"] > keep - d.hy0 if row == "n" else end - r["m0.space"] < keep + d.hy0):
                break
            ys.append(yc)
            j += 1
        xk = self.col_x[2 * k]
        side, rb = self.rails[net]
        hw = d.cut // 2 + e_co.small
        if row == "n":
            box = (xk - hw, rb[1], xk + hw, max(ys) + d.cut // 2 + e_co.big)
        else:
            box = (xk - hw, min(ys) - d.cut // 2 - e_co.big, xk + hw, rb[3])
        return RailStrip(net, self.diff_line[k], ys, box)

    def terminals(self) -> None:
        r, d = self.r, self.d
        self.strips: list[RailStrip] = []
        terms: list[Terminal] = []
        for row in ("n", "p"):
            tracks = [i for i, kd in enumerate(self.kind) if kd == row]
            k = 0
            while k <= self.G:
                net = self.diff_net(row, k)
                if net is None:
                    k += 1
                    continue
                group = [k]
                while k < self.G and self.bridged(row, k) and self.diff_net(row, k + 1) == net:
                    k += 1
                    group.append(k)
                k += 1
                if self.row_rail.get(row) == net:
                    for kk in group:
                        self.strips.append(self.rail_strip(row, kk, net))
                    continue
                if net not in self.contacted:
                    continue
                nodes = []
                for kk in group:
                    y0, y1 = self.column_span(row, kk)
                    line = self.diff_line[kk]
                    fits = [t for t in tracks if y0 + d.ce <= self.ys[t] <= y1 - d.ce]
                    if not fits:
                        # a diffusion narrower than the reach of any track: the contact sits at its own
                        # height, its first-metal pad stretched to the nearest track
                        t = min(tracks, key=lambda t: (abs(self.ys[t] - (y0 + y1) // 2), t))
                        self.contact_y[(line, t)] = min(max(self.ys[t], y0 + d.ce), y1 - d.ce)
                        fits = [t]
                    nodes += [(line, t) for t in fits]
                terms.append(Terminal(net, f"diffusion {row}{group[0]}", nodes))
        self.gates: list[tuple[int, str, str]] = []
        cn, cp = channel_tracks(self.kind)
        for g in range(self.G):
            fn, fp = self.finger("n", g), self.finger("p", g)
            gl = self.gate_line[g]
            if fn and fp and fn.gate == fp.gate:
                self.gates.append((g, "np", fn.gate))
                terms.append(Terminal(fn.gate, f"gate {g}", sorted({(gl, cn), (gl, cp)})))
                continue
            if fn and fp and cn == cp:
                raise LayoutError(f"cell {self.cell.name}: gate column {g} holds two gates and the channel one "
                                  f"poly-contact track")
            if fn:
                self.gates.append((g, "n", fn.gate))
                terms.append(Terminal(fn.gate, f"gate n{g}", [(gl, cn)]))
            if fp:
                self.gates.append((g, "p", fp.gate))
                terms.append(Terminal(fp.gate, f"gate p{g}", [(gl, cp)]))
        sup = self.process.supplies
        body = {sup.power, sup.ground, sup.nwell_body, sup.pwell_body}
        self.pins = [p for p in self.cell.pins if p not in body]
        # a diffusion or gate whose net goes nowhere else needs no contact (a stack's inner node)
        self.terms = [t for t in terms if t.net in self.contacted]
        nets = {t.net for t in terms}
        for p in self.pins:
            if p not in nets:
                raise LayoutError(f"cell {self.cell.name}: pin {p} connects to no transistor")

    def fixed_nodes(self, frame: TrackFrame) -> dict[tuple[int, int], str]:
        """First-metal nodes a rail strip covers, or a contact's stretched pad, or whose pads would
        come closer to them than the space, on their line or a neighbouring one (the pad's own node
        aside: a lone pad there still needs its stub): that net's only."""
        d, s = self.d, self.r["m0.space"]
        spans = [(st.line, st.box[2] - st.box[0], st.box[1], st.box[3], st.net, None) for st in self.strips]
        for t in self.terms:
            for c, k in t.nodes:
                pad = frame.contact_pad(c, k)
                if pad is not None:
                    spans.append((c, 2 * d.hx0, *pad, t.net, k))
        out = {}
        for line, width, lo, hi, net, own in spans:
            for c in range(max(0, line - frame.REACH), min(self.lines, line + frame.REACH + 1)):
                gx = abs(self.xs[c] - self.xs[line]) - width // 2 - d.hx0
                if gx >= s:
                    continue
                for t, y in enumerate(self.ys):
                    if t == own and c != line:
                        continue  # a pad on the pad's own track: the router's pad conflicts cover it
                    gy = max(lo - y - d.hy0, y - d.hy0 - hi)
                    if (c, t) != (line, own) and gy < s and (gx <= 0 or gy <= 0 or gx * gx + gy * gy < s * s):
                        # beside two nets' strips: nobody's
                        out[(c, t)] = net if out.get((c, t), net) == net else BLOCKED
        return out

    def no_m1(self) -> frozenset[int]:
        """Tracks where a second-metal via pad would come within the space of a rail on that metal."""
        d, sp = self.d, self.r["m1.space"]
        return frozenset(t for t, y in enumerate(self.ys) for rb in self.rails_m1.values()
                         if y - d.hy1 < rb[3] + sp and y + d.hy1 > rb[1] - sp)


def build_track_frame(cell: Cell, process: Process, placement: Placement, line_floor: int | None = None,
                      break_lines: bool = False) -> TrackFrame:
    """The fixed part of a gridded layout of ``placement`` (raises :class:`LayoutError`);
    ``line_floor`` (dbu): the least distance between neighbouring lines (default the line pitch;
    0: only the rules' column spacing); ``break_lines``: a line on every diffusion break too (more
    routing room, a wider cell)."""
    b = _Builder(cell, process, placement)
    b.line_floor, b.break_lines = line_floor, break_lines
    lo = max(bx[3] for side, bx in b.rails.values() if side == "bottom")
    hi = min(bx[1] for side, bx in b.rails.values() if side == "top")
    b.ys, b.kind = _tracks(process, b.r, b.d, lo, hi, over_rails=not b.rails_m1)
    if "c" in b.kind:
        b.placement = split_gates(placement, b.fs)
        b.G = b.placement.columns
    b.contact_y = {}
    b.solve_lines()
    b.rails = {net: (side, (0, box[1], b.width, box[3])) for net, (side, box) in b.rails.items()}
    b.rails_m1 = {net: (0, box[1], b.width, box[3]) for net, box in b.rails_m1.items()}
    b.draw_comps()
    b.terminals()
    frame = TrackFrame(b.cell, process, b.r, b.d, b.placement, b.width, b.H, b.lines, b.ys, b.kind,
                       b.diff_line, b.gate_line, b.comps, b.gates, b.strips, b.terms, b.rails, b.pins,
                       {}, b.no_m1(), b.rails_m1, b.xs, b.contact_y)
    frame.fixed = b.fixed_nodes(frame)
    return frame
