"""Cells -> padded :class:`CellArrays` in a few static shape buckets, and back to the IR.

A library compiles once per bucket, not once per cell: a cell with ``k``
fingers goes to the smallest bucket ``F >= k`` of :data:`BUCKETS`.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np

from nbcell.env.types import NO, CellArrays, State
from nbcell.layout.ir import Finger, Placement, Slot
from nbcell.layout.bound import euler_trails
from nbcell.layout.place import fingers
from nbcell.netlist import Cell

BUCKETS = (8, 16, 32, 64, 128, 256)


class TooLarge(ValueError):
    """A cell with more fingers than the largest bucket (it is placed outside the env)."""


def bucket(n_fingers: int) -> int:
    """The smallest bucket that holds ``n_fingers``."""
    for b in BUCKETS:
        if n_fingers <= b:
            return b
    raise TooLarge(f"{n_fingers} fingers exceed the largest env bucket ({BUCKETS[-1]})")


def column_lower_bound(fs: Sequence[Finger]) -> int:
    """Gate columns no placement can beat: per row, its fingers plus one break between
    consecutive diffusion islands (Euler trails of the row's diffusion graph)."""
    best = 0
    for row in ("n", "p"):
        edges = [(f.drain, f.source) for f in fs if f.type == row]
        if edges:
            best = max(best, len(edges) + euler_trails(edges) - 1)
    return best


def cell_arrays(cell: Cell, size: int | None = None) -> tuple[CellArrays, list[Finger]]:
    """Pad one (sized) cell's fingers to ``size`` (default: its bucket); returns the arrays and
    the finger list whose order the arrays use."""
    fs = fingers(cell)
    size = size or bucket(len(fs))
    if len(fs) > size:
        raise TooLarge(f"cell {cell.name}: {len(fs)} fingers do not fit bucket {size}")
    nets: dict[str, int] = {}

    def nid(n: str) -> int:
        return nets.setdefault(n, len(nets))

    arr = np.full((4, size), NO, dtype=np.int32)
    for i, f in enumerate(fs):
        arr[:, i] = (0 if f.type == "n" else 1, nid(f.gate), nid(f.drain), nid(f.source))
    valid = np.arange(size) < len(fs)
    arr[0, ~valid] = 0
    return CellArrays(jnp.asarray(arr[0]), jnp.asarray(arr[1]), jnp.asarray(arr[2]), jnp.asarray(arr[3]),
                      jnp.asarray(valid), jnp.int32(len(fs)), jnp.int32(column_lower_bound(fs))), fs


def stack(cells: Sequence[CellArrays]) -> CellArrays:
    """Batch cells of one bucket along a new leading axis (for ``jax.vmap``)."""
    return CellArrays(*(jnp.stack([getattr(c, k) for c in cells]) for k in CellArrays.__dataclass_fields__))


def to_placement(state: State, fs: Sequence[Finger]) -> Placement:
    """The final state of one cell as an IR :class:`Placement` (host side)."""
    slot = np.asarray(state.slot)
    flip = np.asarray(state.flip)
    width = int(np.max(np.asarray(state.cursor)))

    def row(r: int) -> tuple[Slot | None, ...]:
        out = []
        for c in range(width):
            k = int(slot[r, c])
            out.append(None if k == NO else Slot(fs[k].device, fs[k].index, bool(flip[r, c])))
        return tuple(out)

    return Placement(row(0), row(1))
