"""Euler-path greedy placement of transistor fingers.

Fingers of an N and a P device with the same gate net are paired into one gate
column (a straight shared poly gate); the columns are chained left to right so
that neighbouring fingers share their diffusion (same net on the touching
terminals), flipping fingers as needed. Where a row cannot share, an empty
gate column (a diffusion break) is inserted. Deterministic: ties are broken by
device name and finger index, and ``seed`` only rotates the choice of the
starting column.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from nbcell.layout.ir import Finger, Placement, Slot
from nbcell.layout.rules import LayoutError
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


def _items(fs: list[Finger], split: bool = False) -> list[_Item]:
    """Pair N and P fingers by gate net (in netlist order); with ``split`` (one gate column may hold
    two gates), the fingers left single pair too, by the source/drain nets they share."""
    by_gate: dict[str, dict[str, list[Finger]]] = defaultdict(lambda: {"n": [], "p": []})
    for f in fs:
        by_gate[f.gate][f.type].append(f)
    items = []
    for gate in by_gate:
        ns, ps = _order_for_pairing(by_gate[gate]["n"]), _order_for_pairing(by_gate[gate]["p"])
        free = list(ps)
        for n in ns:
            if not free:
                items.append(_Item(n, None))
                continue
            # the P finger sharing most source/drain nets with it (a CMOS stage stays together)
            p = max(free, key=lambda q: (len({n.drain, n.source} & {q.drain, q.source}), -free.index(q)))
            free.remove(p)
            items.append(_Item(n, p))
        items += [_Item(None, p) for p in free]
    if split:
        ns = [it.n for it in items if it.p is None]
        ps = [it.p for it in items if it.n is None]
        if ns and ps:
            items = [it for it in items if it.n and it.p]
            for n in ns:
                if not ps:
                    items.append(_Item(n, None))
                    continue
                p = max(ps, key=lambda q: (len({n.drain, n.source} & {q.drain, q.source}), -ps.index(q)))
                ps.remove(p)
                items.append(_Item(n, p))
            items += [_Item(None, p) for p in ps]
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


@dataclass(frozen=True)
class _State:
    """A partial left-to-right placement (beam-search state)."""

    cols: tuple                      # ((item index | -1, flip_n, flip_p), ...)
    end_n: str | None                # net at the open right end of each row
    end_p: str | None
    left: frozenset                  # item indices still to place
    placed: tuple                    # per net index: fingers placed so far
    maxcut: int                      # most signal nets crossing a column boundary so far
    sumcut: int                      # sum of crossings over the boundaries (a wire-length estimate)
    shares: int                      # rows continuing a diffusion


class _Beam:
    """Beam search over column orders: fewest columns, then least channel congestion.

    Width 1 is the plain greedy Euler chaining; a wider beam keeps the best few
    partial chains, scored by columns used, the largest number of signal nets
    crossing any column boundary (the horizontal tracks needed), and the sum of
    crossings (wire length).
    """

    def __init__(self, items: list[_Item], power: set[str], width: int):
        self.items, self.width = items, width
        nets = sorted({n for it in items for f in (it.n, it.p) if f for n in (f.gate, f.drain, f.source)})
        self.net_idx = {n: i for i, n in enumerate(nets)}
        self.signal = [n not in power for n in nets]
        total = [0] * len(nets)
        self.touch: list[tuple[int, ...]] = []
        for it in items:
            ts = sorted({self.net_idx[n] for f in (it.n, it.p) if f for n in (f.gate, f.drain, f.source)})
            self.touch.append(tuple(ts))
            for t in ts:
                total[t] += 1
        self.total = total
        # interchangeable items (fingers of the same devices): try one of each class per step
        self.cls = [(it.n.device if it.n else None, it.p.device if it.p else None) for it in items]

    def start(self) -> _State:
        return _State((), None, None, frozenset(range(len(self.items))), (0,) * len(self.total), 0, 0, 0)

    def step(self, st: _State) -> list[_State]:
        out, seen = [], set()
        for idx in sorted(st.left):
            if self.cls[idx] in seen:
                continue
            seen.add(self.cls[idx])
            for fn, fp in _choices(self.items[idx]):
                out.append(self._extend(st, idx, fn, fp))
        return out

    def _extend(self, st: _State, idx: int, fn: bool, fp: bool) -> _State:
        item = self.items[idx]
        nl, nr = _side(item.n, fn)
        pl, pr = _side(item.p, fp)
        cols = st.cols
        end_n, end_p, shares = st.end_n, st.end_p, st.shares
        brk = (item.n is not None and end_n is not None and end_n != nl) or \
              (item.p is not None and end_p is not None and end_p != pl)
        if brk:
            cols = cols + ((-1, False, False),)
        shares += (item.n is not None and end_n == nl) + (item.p is not None and end_p == pl)
        cols = cols + ((idx, fn, fp),)
        placed = list(st.placed)
        for t in self.touch[idx]:
            placed[t] += 1
        cut = sum(1 for i, c in enumerate(placed) if self.signal[i] and 0 < c < self.total[i])
        return _State(cols, nr if item.n else None, pr if item.p else None, st.left - {idx}, tuple(placed),
                      max(st.maxcut, cut), st.sumcut + cut, shares)

    #: signal nets a column boundary carries comfortably; above it congestion outranks width
    COMFORT = 4

    @classmethod
    def key(cls, st: _State) -> tuple:
        return (max(st.maxcut, cls.COMFORT), len(st.cols), st.maxcut, st.sumcut, -st.shares, st.cols)

    def run(self, first: list[_State]) -> _State:
        beam = first
        while beam[0].left:
            nxt = [c for st in beam for c in self.step(st)]
            nxt.sort(key=self.key)
            uniq, seen = [], set()
            for st in nxt:
                sig = (st.left, st.end_n, st.end_p)
                if sig in seen:
                    continue
                seen.add(sig)
                uniq.append(st)
                if len(uniq) == self.width:
                    break
            beam = uniq
        return min(beam, key=self.key)


def _columns_to_placement(items: list[_Item], cols) -> Placement:
    n, p = [], []
    for idx, fn, fp in cols:
        item = items[idx] if idx >= 0 else None
        n.append(Slot(item.n.device, item.n.index, fn) if item and item.n else None)
        p.append(Slot(item.p.device, item.p.index, fp) if item and item.p else None)
    return Placement(tuple(n), tuple(p))


def place(cell: Cell, process: Process, seed: int = 0, beam: int = 48, split: bool | None = None) -> Placement:
    """Euler-chain placement of ``cell``'s fingers by beam search (deterministic for a given ``seed``);
    ``split``: N and P fingers of different gates may share a gate column (default: where the
    gridded frame's channel holds a poly-contact track for each row)."""
    fs = fingers(cell)
    if not fs:
        return Placement((), ())
    if split is None:
        from nbcell.layout.tracks import split_columns_ok  # the track frame imports this module

        split = split_columns_ok(process)
    items = sorted(_items(fs, split), key=lambda it: it.key)
    if seed:
        k = seed % len(items)
        items = items[k:] + items[:k]
    power = {process.supplies.power, process.supplies.ground}
    b = _Beam(items, power, max(1, beam))
    st = b.run([b.start()])
    return _columns_to_placement(items, st.cols)


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
