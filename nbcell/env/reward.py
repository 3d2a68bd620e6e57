"""Dense placement reward: width growth costs, shared gate columns pay.

Per step: ``-(Δ gate columns) + SHARED·Δ(columns whose N and P gates share a net)
- SPLIT·Δ(columns holding two different gate nets)``. A shared column is one
straight poly gate; a split column needs two gate contacts and more routing.
The KLayout verdict of the finished layout is added on the host (policies/rl).
"""

from __future__ import annotations

import jax.numpy as jnp

from nbcell.env.types import NO, State

SHARED = 0.5
SPLIT = 0.25


def gate_columns(state: State) -> tuple[jnp.ndarray, jnp.ndarray]:
    """(shared, split): columns with the same / different gate nets in both rows (int32[])."""
    gate = jnp.where(state.slot == NO, NO, state.cell.f_gate[jnp.maximum(state.slot, 0)])
    both = (gate[0] != NO) & (gate[1] != NO)
    same = both & (gate[0] == gate[1])
    return jnp.sum(same), jnp.sum(both & ~same)


def step_reward(prev: State, nxt: State) -> jnp.ndarray:
    s0, x0 = gate_columns(prev)
    s1, x1 = gate_columns(nxt)
    return -(nxt.width - prev.width) + SHARED * (s1 - s0) - SPLIT * (x1 - x0)
