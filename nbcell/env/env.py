"""The placement MDP: pure ``reset``/``step`` over :class:`State`, jit- and vmap-able.

One step places one finger (in its own row, at the row's cursor, with a flip)
or leaves a gap (an empty gate column) in one row. A finger whose left net
differs from the row's rightmost diffusion net gets a diffusion break (an
empty gate column) first. The episode ends when every finger is placed; it
never lasts more than ``2F + 2`` useful steps, so a fixed-length ``lax.scan`` rolls it out.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from nbcell.env.reward import step_reward
from nbcell.env.types import NO, CellArrays, Observation, State


class TimeStep(NamedTuple):
    observation: Observation
    reward: jnp.ndarray  # float32[]
    done: jnp.ndarray  # bool[]


def num_actions(size: int) -> int:
    """Actions of bucket ``size``: two flips per finger, plus a gap in each row."""
    return 2 * size + 2


def reset(cell: CellArrays) -> tuple[State, TimeStep]:
    """Empty rows for ``cell``."""
    F = cell.size
    C = 2 * F + 1
    state = State(cell=cell, slot=jnp.full((2, C), NO, jnp.int32), flip=jnp.zeros((2, C), bool),
                  cursor=jnp.zeros(2, jnp.int32), end_net=jnp.full(2, NO, jnp.int32),
                  placed=jnp.zeros(F, bool), steps=jnp.int32(0))
    return state, TimeStep(observe(state), jnp.float32(0.0), state.done)


def finger_sides(cell: CellArrays, f: jnp.ndarray, flip: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """(left net, right net) of finger ``f`` for ``flip`` (False: drain left)."""
    d, s = cell.f_drain[f], cell.f_source[f]
    return jnp.where(flip, s, d), jnp.where(flip, d, s)


def action_mask(state: State) -> jnp.ndarray:
    """bool[2F + 2]: unplaced real fingers (both flips); a gap in a row that is behind the
    other, or level with it right after a finger (one empty column; a second would be waste)."""
    free = state.cell.f_valid & ~state.placed
    fingers = jnp.repeat(free, 2)
    other = state.cursor[::-1]
    gaps = ((state.cursor < other) | ((state.cursor == other) & (state.end_net != NO))) & ~state.done
    return jnp.concatenate([fingers, gaps])


def observe(state: State) -> Observation:
    c = state.cell
    F = c.size
    scale = 1.0 / F
    feats = jnp.stack([c.f_type.astype(jnp.float32), state.placed.astype(jnp.float32),
                       c.f_gate * scale, c.f_drain * scale, c.f_source * scale, c.f_valid.astype(jnp.float32)],
                      axis=-1)
    rows = jnp.stack([state.cursor.astype(jnp.float32), state.end_net * scale,
                      (state.cursor - state.cursor[::-1]).astype(jnp.float32)], axis=-1)
    return Observation(feats, rows, state.width.astype(jnp.float32), c.lower_bound.astype(jnp.float32),
                       action_mask(state))


def _place(state: State, f: jnp.ndarray, flip: jnp.ndarray) -> State:
    c = state.cell
    r = c.f_type[f]
    left, right = finger_sides(c, f, flip)
    end = state.end_net[r]
    brk = (end != NO) & (end != left)
    col = state.cursor[r] + brk.astype(jnp.int32)
    return state.replace(slot=state.slot.at[r, col].set(f), flip=state.flip.at[r, col].set(flip),
                         cursor=state.cursor.at[r].set(col + 1), end_net=state.end_net.at[r].set(right),
                         placed=state.placed.at[f].set(True))


def _gap(state: State, r: jnp.ndarray) -> State:
    return state.replace(cursor=state.cursor.at[r].add(1), end_net=state.end_net.at[r].set(NO))


def step(state: State, action: jnp.ndarray) -> tuple[State, TimeStep]:
    """Apply ``action`` (see :func:`action_mask`); an illegal or out-of-range action (e.g. the
    padding value ``num_actions(F)``) or a finished episode is a no-op."""
    F = state.cell.size
    A = num_actions(F)
    legal = (action >= 0) & (action < A) & action_mask(state)[jnp.clip(action, 0, A - 1)]
    is_finger = action < 2 * F
    f = jnp.minimum(action // 2, F - 1)
    placed = _place(state, f, (action % 2).astype(bool))
    gapped = _gap(state, jnp.clip(action - 2 * F, 0, 1))
    nxt = jax.tree.map(lambda a, b: jnp.where(is_finger, a, b), placed, gapped)
    nxt = jax.tree.map(lambda a, b: jnp.where(legal, a, b), nxt, state)
    nxt = nxt.replace(steps=state.steps + legal.astype(jnp.int32))
    reward = jnp.where(legal, step_reward(state, nxt), 0.0)
    return nxt, TimeStep(observe(nxt), reward.astype(jnp.float32), nxt.done)
