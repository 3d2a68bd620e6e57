"""Routing grid, fixed shapes and net terminals of a frame (all in dbu).

Vertical lines: every placement column plus the tracks of a vertical second
metal. Horizontal tracks: the rail centre lines, the diffusion-contact rows
that keep the metal space to the rails, and evenly spaced tracks in the
channel between the rows (the lowest and highest are the closest a poly
contact may come to the diffusion).
"""

from __future__ import annotations

from nbcell.layout.frame import Box, DiffNode, Frame, Terminal, _Builder
from nbcell.layout.ir import Grid
from nbcell.layout.rules import LayoutError


def _uniq(vals: list[int], tol: int) -> list[int]:
    out: list[int] = []
    for v in sorted(vals):
        if not out or v - out[-1] > tol:
            out.append(v)
    return out


def _x_lines(b: _Builder) -> tuple[list[int], list[int], list[bool]]:
    """x of every vertical grid line, the placement column on it (or -1), on a second-metal track."""
    r = b.r
    pitch, off = b._m1_vertical_tracks()
    cols = {x: c for c, x in enumerate(b.col_x)}
    xs = dict(cols)
    if pitch:
        m1_half = r["cut1.size"] // 2 + r.enc("m1", "cut1").small
        lo = m1_half + (r["m1.space"] + 1) // 2
        near = (r["m0.width"] + r["m0.space"]) // 2
        x = off
        while x < b.width:
            # a track line too close to a column line only duplicates it
            if lo <= x <= b.width - lo and all(x == c or abs(x - c) >= near for c in cols):
                xs.setdefault(x, -1)
            x += pitch
    order = sorted(xs)
    on = [bool(pitch) and (x - off) % pitch == 0 for x in order]
    return order, [xs[x] for x in order], on


def _gap_tracks(b: _Builder) -> list[int]:
    """Channel tracks: evenly spread at least a first-metal pitch apart from the lowest to the
    highest poly-contact position, with a track halfway between two when they are far enough
    apart for poly (so gate jumpers have a lane)."""
    r = b.r
    lo, hi = b.gap_lo, b.gap_hi
    if hi < lo:
        return []
    if hi == lo:
        return [lo]
    pitch = r["m0.width"] + r["m0.space"]
    n = max(1, (hi - lo) // pitch)
    ys = [lo + (hi - lo) * i // n for i in range(n + 1)]
    mid = r["poly.width"] + r["poly.space"]
    out = []
    for a, c in zip(ys, ys[1:]):
        out.append(a)
        if c - a >= mid:
            out.append((a + c) // 2)
    out.append(ys[-1])
    return [y - y % r.grid for y in out]


def _row_tracks(b: _Builder) -> list[int]:
    """Tracks over each diffusion row, from the contact next to the channel to the track next to
    the rail, about one first-metal pitch apart."""
    r = b.r
    cut2 = r["co.size"] // 2
    big = r.co_enc("diff").big
    pitch = r["m0.width"] + r["m0.space"]
    out = []
    # the channel-side track keeps a cut landing (pad oriented along the track) clear of a wire
    # on the outermost channel track
    land = r["cut1.size"] // 2 + r.enc("m0", "cut1").small
    clear = r["m0.width"] // 2 + r["m0.space"] + max(land, cut2 + r.enc("m0", "co").small)
    for row, far in zip(("n", "p"), sorted(_rail_side_tracks(b))):
        rg = b.rows[row]
        near = rg.edge + big + cut2 if rg.up else rg.edge - big - cut2
        near = max(near, b.gap_hi + clear) if rg.up else min(near, b.gap_lo - clear)
        near = -(-near // r.grid) * r.grid if rg.up else near // r.grid * r.grid
        span = (far - near) if rg.up else (near - far)
        if span <= 0:
            out.append(far)  # the rail clearance wins over the channel clearance
            continue
        n = max(1, int(span // pitch))
        step = span / n
        for i in range(n + 1):
            y = round(near + i * step) if rg.up else round(near - i * step)
            out.append(y - y % r.grid)
    return out


def _outer_tracks(b: _Builder) -> dict[str, int]:
    """Poly lanes beyond each diffusion row (between it and the rail), where the fingers are
    short enough: a gate can be continued through its endcap and joined to others there."""
    r = b.r
    half = r["poly.width"] // 2
    edge = r.snap_up((r["poly.space"] + 1) // 2) + half
    out = {}
    for row in ("n", "p"):
        rg = b.rows[row]
        # the lane clears the widest finger that leaves room for it; wider ones block it locally
        for w in sorted({b.gw(f) for f in b.fs.values() if f.type == row}, reverse=True):
            far = rg.edge + w if rg.up else rg.edge - w
            y = far + r["poly.to_diff"] + half if rg.up else far - r["poly.to_diff"] - half
            y = r.snap_up(y) if rg.up else y // r.grid * r.grid
            if (rg.up and y <= b.H - edge) or (not rg.up and y >= edge):
                out[row] = y
                break
    return out


def _rail_side_tracks(b: _Builder) -> list[int]:
    """The track next to each rail: a bare first-metal wire at exactly the spacing from it."""
    r = b.r
    out = []
    for net, side in b.power.items():
        rb = b._rail_m0_box(net)
        off = r["m0.space"] + r["m0.width"] // 2
        y = rb[3] + off if side == "n" else rb[1] - off
        out.append(-(-y // r.grid) * r.grid if side == "n" else y // r.grid * r.grid)
    return out


def _y_tracks(b: _Builder) -> tuple[list[int], list[int], dict[str, int]]:
    r = b.r
    rails = {}
    for net in b.power:
        box = b._rail_m0_box(net)
        rails[net] = (box[1] + box[3]) // 2
    gap = _gap_tracks(b)
    b.outer = _outer_tracks(b)
    ys = list(rails.values()) + gap + _row_tracks(b) + _rail_side_tracks(b) + list(b.outer.values())
    tr = b.tpl.tracks.get(b.m1_layer)
    if tr is not None and tr.direction == "horizontal":
        y = b.to(tr.offset)
        while y < b.H:
            ys.append(y)
            y += b.to(tr.pitch)
    ys = _uniq(ys, r.grid)
    return _reachable(b, ys), gap, rails


def _reachable(b: _Builder, ys: list[int]) -> list[int]:
    """Add, for a contacted diffusion no track crosses (a narrow finger), its contact position
    next to the channel."""
    r = b.r
    reach = r["co.size"] // 2 + r.co_enc("diff").big
    extra = []
    for node in b.diff_nodes:
        if not node.contacted or node.span is None or b.power.get(node.net) == node.row:
            continue
        lo, hi = node.span[0] + reach, node.span[1] - reach
        if not any(lo <= y <= hi for y in ys + extra):
            extra.append(lo if b.rows[node.row].up else hi)
    return sorted(set(ys + extra))


def finish_frame(b: _Builder) -> Frame:
    """Grid, fixed shapes and terminals; returns the :class:`Frame`."""
    xs, xcol, xon = _x_lines(b)
    ys, gap_ys, rail_y = _y_tracks(b)
    m1_tr = b.tpl.tracks.get(b.m1_layer)
    yon = [bool(m1_tr and m1_tr.direction == "horizontal"
                and (y - b.to(m1_tr.offset)) % b.to(m1_tr.pitch) == 0) for y in ys]
    grid = Grid(tuple(xs), tuple(ys), b.r.dbu, tuple(xcol), tuple(xon), tuple(yon))
    iy = {y: i for i, y in enumerate(ys)}
    ix_of_col = {c: i for i, c in enumerate(xcol) if c >= 0}
    fixed = _fixed_shapes(b, gap_ys)
    b.diff_sites = []
    terms = _terminals(b, iy, ix_of_col, gap_ys, rail_y, len(xs))
    sup = b.process.supplies
    body = {sup.power, sup.ground, sup.nwell_body, sup.pwell_body}
    pins = [p for p in b.cell.pins if p not in body]
    # a poly lane merged into a track a grid step away would sit too close to the diffusion: dropped
    outer = {k: iy[y] for k, y in b.outer.items() if y in iy}
    return Frame(b.cell, b.process, b.r, b.placement, b.fs, b.width, b.H, b.col_x, b.rows, b.comps,
                 b.diff_nodes, b.gate_poly, grid, [iy[y] for y in gap_ys], {n: iy[y] for n, y in rail_y.items()},
                 fixed, terms, pins, dict(b.power), b.diff_sites, outer)


def _gate_channel_poly(b: _Builder, g: int, gap_ys: list[int]) -> list[tuple[str, Box]]:
    """Poly from each finger of gate column ``g`` into the channel (to the nearest channel track;
    straight through when both rows share the gate net), as (net, box)."""
    r = b.r
    xg = b.col_x[2 * g + 1]
    fn, fp = b.finger("n", g), b.finger("p", g)
    ne, pe = b.rows["n"].edge, b.rows["p"].edge
    out = []
    if fn and fp and fn.gate == fp.gate:
        ln, lp = b.gl(fn), b.gl(fp)
        # the wider part stays wide until it is the field-poly space away from the narrower row
        ys = pe - r["poly.to_diff"] if ln > lp else ne + r["poly.to_diff"] if lp > ln else (ne + pe) // 2
        out.append((fn.gate, (xg - ln // 2, ne, xg + ln // 2, ys)))
        out.append((fn.gate, (xg - lp // 2, ys, xg + lp // 2, pe)))
        return out
    if fn and gap_ys:
        ln = b.gl(fn)
        out.append((fn.gate, (xg - ln // 2, ne, xg + ln // 2, gap_ys[0])))
    if fp and gap_ys:
        lp = b.gl(fp)
        out.append((fp.gate, (xg - lp // 2, gap_ys[-1], xg + lp // 2, pe)))
    return out


def _fixed_shapes(b: _Builder, gap_ys: list[int]) -> list[tuple[str, Box, str]]:
    """Shapes every route must respect: strips, diffusion contacts, gate poly, rails."""
    r = b.r
    cut2 = r["co.size"] // 2
    out: list[tuple[str, Box, str]] = []
    for node in b.diff_nodes:
        if node.strip:
            out.append(("m0", node.strip, node.net))
        for x, y in node.contacts:
            out.append(("co", (x - cut2, y - cut2, x + cut2, y + cut2), node.net))
    for net, box in b.gate_poly:
        out.append(("poly", box, net))
    for g in range(b.G):
        for net, box in _gate_channel_poly(b, g, gap_ys):
            out.append(("poly", box, net))
    for rail in b.tpl.rails:
        box = b._rail_box(rail.net)
        key = "m0" if rail.layer == b.m0_layer else "m1"
        out.append((key, box, rail.net))
        if key == "m1":
            out.append(("m0", b._rail_m0_box(rail.net), rail.net))
    b.channel_poly = [(net, box) for g in range(b.G) for net, box in _gate_channel_poly(b, g, gap_ys)]
    return out


def _diff_groups(b: _Builder) -> list[list[DiffNode]]:
    """Contacted diffusion nodes joined through the diffusion itself (bridged empty gate columns)."""
    groups: list[list[DiffNode]] = []
    by_pos = {(n.row, n.k): n for n in b.diff_nodes}
    done = set()
    for node in b.diff_nodes:
        if not node.contacted or (node.row, node.k) in done:
            continue
        grp = [node]
        done.add((node.row, node.k))
        k = node.k
        while k < b.G and b.bridged(node.row, k):
            k += 1
            nxt = by_pos.get((node.row, k))
            if nxt is None or nxt.net != node.net:
                break
            grp.append(nxt)
            done.add((node.row, k))
        groups.append(grp)
    return groups


def _terminals(b: _Builder, iy: dict[int, int], ix_of_col: dict[int, int], gap_ys: list[int],
               rail_y: dict[str, int], nx: int) -> dict[str, list[Terminal]]:
    terms: dict[str, list[Terminal]] = {}
    r = b.r
    reach = r["co.size"] // 2 + r.co_enc("diff").big
    for grp in _diff_groups(b):
        net = grp[0].net
        if b.power.get(net) == grp[0].row:
            continue  # its strip already reaches the rail
        cands = []
        for node in grp:
            ix = ix_of_col[2 * node.k]
            y0, y1 = node.span
            cands += [(ix, i) for y, i in sorted(iy.items()) if y0 + reach <= y <= y1 - reach]
        what = f"diffusion {grp[0].row}{grp[0].k}"
        if not cands:
            raise LayoutError(f"cell {b.cell.name}: no contact position for net {net} on {what}")
        b.diff_sites.append((net, what, cands))
        terms.setdefault(net, []).append(Terminal(frozenset({(-1, len(b.diff_sites) - 1, 0)}), what))
    gi = [iy[y] for y in gap_ys]
    for g in range(b.G):
        ix = ix_of_col[2 * g + 1]
        fn, fp = b.finger("n", g), b.finger("p", g)
        if fn and fp and fn.gate == fp.gate:
            terms.setdefault(fn.gate, []).append(Terminal(frozenset((0, ix, i) for i in gi), f"gate {g}"))
            continue
        if fn and gi:
            terms.setdefault(fn.gate, []).append(Terminal(frozenset({(0, ix, gi[0])}), f"gate n{g}"))
        if fp and gi:
            terms.setdefault(fp.gate, []).append(Terminal(frozenset({(0, ix, gi[-1])}), f"gate p{g}"))
    for net, y in rail_y.items():
        if net in terms:
            terms[net].append(Terminal(frozenset((1, ix, iy[y]) for ix in range(nx)), f"rail {net}"))
    return terms
