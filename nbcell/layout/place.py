"""Euler-path greedy placement of transistor fingers, and a width lower bound.

Fingers of an N and a P device with the same gate net are paired into one gate
column (a straight shared poly gate); the columns are chained left to right so
that neighbouring fingers share their diffusion (same net on the touching
terminals), flipping fingers as needed. Where a row cannot share, an empty
gate column (a diffusion break) is inserted. Deterministic: ties are broken by
device name and finger index, and ``seed`` only rotates the choice of the
starting column.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from nbcell.layout.ir import Finger, Placement, Slot
from nbcell.layout.rules import LayoutError, load_rules
from nbcell.netlist import Cell
from nbcell.pdk import Process


def fingers(cell: Cell) -> list[Finger]:
    """Every finger of every transistor (``nf * m`` per device), in netlist order."""
    out = []
    for t in cell.transistors:
        for k in range(t.nf * t.m):
            out.append(Finger(t.name, k, t.type, t.gate, t.drain, t.source, t.bulk, t.w, t.l))
    return out


@dataclass(frozen=True)
class _Item:
    """A column to place: an N finger, a P finger, or a pair with the same gate net."""

    n: Finger | None
    p: Finger | None

    @property
    def key(self) -> tuple:
        f = self.n or self.p
        return (f.gate, f.device, f.index, self.p.device if self.n and self.p else "")


def _items(fs: list[Finger]) -> list[_Item]:
    """Pair N and P fingers by gate net (in netlist order); the rest stay single."""
    by_gate: dict[str, dict[str, list[Finger]]] = defaultdict(lambda: {"n": [], "p": []})
    for f in fs:
        by_gate[f.gate][f.type].append(f)
    items = []
    for gate in by_gate:
        ns, ps = by_gate[gate]["n"], by_gate[gate]["p"]
        ns, ps = _order_for_pairing(ns), _order_for_pairing(ps)
        for i in range(max(len(ns), len(ps))):
            items.append(_Item(ns[i] if i < len(ns) else None, ps[i] if i < len(ps) else None))
    return items


def _order_for_pairing(fs: list[Finger]) -> list[Finger]:
    """Fingers of one gate net, grouped by device so a device's fingers pair with its twin's."""
    return sorted(fs, key=lambda f: (f.device, f.index))


def _choices(item: _Item) -> list[tuple[bool, bool]]:
    """(flip_n, flip_p) options; a missing finger has one orientation."""
    fn = (False, True) if item.n else (False,)
    fp = (False, True) if item.p else (False,)
    return [(a, b) for a in fn for b in fp]


def _side(f: Finger | None, flip: bool) -> tuple[str | None, str | None]:
    return f.sides(flip) if f else (None, None)


def _row_cost(end: str | None, left: str | None, has: bool) -> tuple[int, bool]:
    """(score, needs a break column) of putting a finger with ``left`` net after ``end`` in one row."""
    if not has:
        return (0, False)
    if end is None:
        return (0, False)
    if end == left:
        return (3, False)
    return (0, True)


class _Chain:
    """Greedy left-to-right chaining of items into gate columns."""

    def __init__(self, items: list[_Item], degree: dict[str, int], power: set[str]):
        self.items = items
        self.degree = degree
        self.power = power

    def run(self, first: int) -> list[tuple[_Item | None, bool, bool]]:
        left = list(range(len(self.items)))
        cols: list[tuple[_Item | None, bool, bool]] = []
        end_n = end_p = None
        order = [first] + [i for i in left if i != first]
        remaining = order
        while remaining:
            best = None
            for idx in remaining:
                item = self.items[idx]
                for fn, fp in _choices(item):
                    sc = self._score(item, fn, fp, end_n, end_p, not cols)
                    if best is None or sc > best[0]:
                        best = (sc, idx, fn, fp)
                if not cols:
                    break  # the first column is fixed by the caller
            _, idx, fn, fp = best
            item = self.items[idx]
            nl, nr = _side(item.n, fn)
            pl, pr = _side(item.p, fp)
            need_break = (item.n is not None and end_n is not None and end_n != nl) or \
                         (item.p is not None and end_p is not None and end_p != pl)
            if need_break:
                cols.append((None, False, False))
                end_n = end_n if end_n == nl else None
                end_p = end_p if end_p == pl else None
            cols.append((item, fn, fp))
            end_n = nr if item.n else None
            end_p = pr if item.p else None
            remaining = [i for i in remaining if i != idx]
        return cols

    def _score(self, item: _Item, fn: bool, fp: bool, end_n, end_p, first: bool) -> tuple:
        nl, nr = _side(item.n, fn)
        pl, pr = _side(item.p, fp)
        sn, bn = _row_cost(end_n, nl, item.n is not None)
        sp, bp = _row_cost(end_p, pl, item.p is not None)
        score = sn + sp - 4 * (bn or bp)
        if first:
            # start at a rail net: the left edge then needs no signal contact
            score += sum(1 for x in (nl, pl) if x in self.power)
        # keep chains going: prefer leaving a net that other fingers still touch
        cont = sum(self.degree.get(x, 0) > 1 for x in (nr, pr) if x is not None)
        both = 1 if item.n and item.p else 0
        return (score, both, cont, tuple(-ord(c) for c in item.key[1][:8]))


def _columns_to_placement(cols) -> Placement:
    n, p = [], []
    for item, fn, fp in cols:
        n.append(Slot(item.n.device, item.n.index, fn) if item and item.n else None)
        p.append(Slot(item.p.device, item.p.index, fp) if item and item.p else None)
    return Placement(tuple(n), tuple(p))


def place(cell: Cell, process: Process, seed: int = 0) -> Placement:
    """Greedy Euler placement of ``cell``'s fingers (deterministic for a given ``seed``)."""
    fs = fingers(cell)
    if not fs:
        return Placement((), ())
    items = sorted(_items(fs), key=lambda it: it.key)
    degree: dict[str, int] = defaultdict(int)
    for f in fs:
        degree[f.drain] += 1
        degree[f.source] += 1
    power = {process.supplies.power, process.supplies.ground}
    chain = _Chain(items, degree, power)
    starts = _start_candidates(items, power)
    if seed:
        k = seed % len(starts)
        starts = starts[k:] + starts[:k]
    best = None
    for s in starts[:8]:
        cols = chain.run(s)
        cost = (len(cols), _signal_ends(cols, power))
        if best is None or cost < best[0]:
            best = (cost, cols)
    return _columns_to_placement(best[1])


def _start_candidates(items: list[_Item], power: set[str]) -> list[int]:
    """Items that can start the row at a rail net first, then the rest (all in key order)."""
    def rail_sides(it: _Item) -> int:
        return sum(1 for f in (it.n, it.p) if f and (f.drain in power or f.source in power))
    idx = list(range(len(items)))
    return sorted(idx, key=lambda i: (-rail_sides(items[i]), -(items[i].n is not None and items[i].p is not None), i))


def _signal_ends(cols, power: set[str]) -> int:
    """Number of row ends (cell edges) carrying a signal net: a tie-break that favours rails outside."""
    count = 0
    for item, fn, fp in (cols[0], cols[-1]):
        if item is None:
            continue
        for f, fl, side in ((item.n, fn, 0), (item.p, fp, 0)):
            if f is None:
                continue
            nets = f.sides(fl)
            net = nets[0] if (item, fn, fp) is cols[0] else nets[1]
            count += net not in power
    return count


# --------------------------------------------------------------------------- lower bound


def _trails(edges: list[tuple[str, str]]) -> int:
    """Fewest trails covering every edge of the multigraph (sum over components of max(1, odd/2))."""
    parent: dict[str, str] = {}

    def find(a: str) -> str:
        while parent.setdefault(a, a) != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    deg: dict[str, int] = defaultdict(int)
    for a, b in edges:
        deg[a] += 1
        deg[b] += 1
        parent[find(a)] = find(b)
    odd: dict[str, int] = defaultdict(int)
    for v, d in deg.items():
        odd[find(v)] += d % 2
    return sum(max(1, o // 2) for o in odd.values())


def width_lower_bound(cell: Cell, process: Process) -> int:
    """A lower bound of the cell width in sites for this generator's style.

    Per row: the diffusion graph (nets as vertices, fingers as edges) needs at
    least T Euler trails, i.e. T diffusion islands. An island of k fingers is
    at least (k-1) uncontacted gate pitches plus two ends (gate to the
    diffusion end), and islands keep the diffusion space between them and
    half of it to each cell edge.
    """
    tpl = process.template
    fs = fingers(cell)
    if not fs or tpl is None:
        return 1
    r = load_rules(process)
    dbu = r.dbu
    worst = 0
    for row in ("n", "p"):
        fr = [f for f in fs if f.type == row]
        if not fr:
            continue
        trails = _trails([(f.drain, f.source) for f in fr])
        gl = round(min(f.l for f in fr) / dbu)
        pitch_u = gl + r["poly.space"]
        end = gl // 2 + min(r["diff.sd_ext"], r["co.to_gate"] + r["co.size"] + r.co_enc("diff").small)
        width = (len(fr) - trails) * pitch_u + trails * (2 * end + r["diff.space"])
        worst = max(worst, width)
    site = round(tpl.site.width / dbu)
    return max(1, math.ceil(worst / site))


def check_placement(cell: Cell, placement: Placement) -> None:
    """Raise :class:`LayoutError` unless every finger appears once and neighbours agree on nets."""
    fs = {(f.device, f.index): f for f in fingers(cell)}
    seen = set()
    for row in ("n", "p"):
        prev = None
        for g, slot in enumerate(placement.row(row)):
            if slot is None:
                prev = None
                continue
            f = fs.get((slot.device, slot.finger))
            if f is None or f.type != row:
                raise LayoutError(f"cell {cell.name}: placement slot {row}[{g}] names no {row}-finger "
                                  f"{slot.device}.{slot.finger}")
            if (slot.device, slot.finger) in seen:
                raise LayoutError(f"cell {cell.name}: finger {slot.device}.{slot.finger} placed twice")
            seen.add((slot.device, slot.finger))
            left, right = f.sides(slot.flip)
            if prev is not None and prev != left:
                raise LayoutError(f"cell {cell.name}: {row}[{g - 1}] and {row}[{g}] meet with nets "
                                  f"{prev} / {left} and no diffusion break")
            prev = right
    missing = set(fs) - seen
    if missing:
        raise LayoutError(f"cell {cell.name}: placement misses fingers {sorted(missing)[:4]}")
