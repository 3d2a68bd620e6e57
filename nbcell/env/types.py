"""Pytrees of the placement environment: the padded cell, the state, the observation.

Shapes use ``F`` = fingers of the shape bucket (padding included) and
``C = 2F + 1`` gate columns per row (every finger may need a break before it).
Nets are small integers per cell; ``-1`` marks padding / nothing.
"""

from __future__ import annotations

import jax.numpy as jnp
from flax import struct

NO = -1  #: empty slot / no net


@struct.dataclass
class CellArrays:
    """One cell's fingers, padded to its bucket.

    f_type:   int32[F]  0 = n row, 1 = p row
    f_gate, f_drain, f_source: int32[F] net ids (``NO`` on padding)
    f_valid:  bool[F]   real finger (False on padding)
    n_fingers: int32[]  real fingers
    lower_bound: int32[] gate columns no placement can beat (diffusion Euler trails)
    """

    f_type: jnp.ndarray
    f_gate: jnp.ndarray
    f_drain: jnp.ndarray
    f_source: jnp.ndarray
    f_valid: jnp.ndarray
    n_fingers: jnp.ndarray
    lower_bound: jnp.ndarray

    @property
    def size(self) -> int:
        """Bucket size F (static)."""
        return self.f_type.shape[-1]


@struct.dataclass
class State:
    """Placement so far.

    slot:    int32[2, C] finger in gate column c of row r (0 = n, 1 = p), ``NO`` if empty
    flip:    bool[2, C]  the finger's drain is on its right (see :class:`nbcell.layout.ir.Slot`)
    cursor:  int32[2]    next free gate column per row
    end_net: int32[2]    net of the rightmost diffusion per row (``NO`` on an empty row)
    placed:  bool[F]
    steps:   int32[]
    """

    cell: CellArrays
    slot: jnp.ndarray
    flip: jnp.ndarray
    cursor: jnp.ndarray
    end_net: jnp.ndarray
    placed: jnp.ndarray
    steps: jnp.ndarray

    @property
    def width(self) -> jnp.ndarray:
        """Gate columns used so far (int32[])."""
        return jnp.max(self.cursor)

    @property
    def done(self) -> jnp.ndarray:
        return jnp.all(self.placed | ~self.cell.f_valid)


@struct.dataclass
class Observation:
    """What a policy sees.

    fingers:     float32[F, 6] per finger: type, placed, gate/drain/source ids (scaled), valid
    rows:        float32[2, 3] per row: cursor, end net (scaled), cursor - other cursor
    width:       float32[]     gate columns so far
    lower_bound: float32[]
    action_mask: bool[2F + 2]  finger f with flip b at 2f + b; 2F: gap in n row; 2F + 1: gap in p row
    """

    fingers: jnp.ndarray
    rows: jnp.ndarray
    width: jnp.ndarray
    lower_bound: jnp.ndarray
    action_mask: jnp.ndarray
