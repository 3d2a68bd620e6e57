"""What the network sees of an env :class:`~nbcell.env.State`: a graph over the cell's fingers.

Nodes are fingers, edges the relations through nets (same gate, shared diffusion net,
same row); every action also carries a one-step look-ahead (the env's own reward for it,
whether it needs a diffusion break, what lies in the other row at its landing column).
Every feature is a count or a ratio that means the same in every bucket, so one network
serves every bucket ``F``. All functions take one unbatched state; ``jax.vmap`` batches them.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np
from flax import struct

from nbcell.env import action_mask
from nbcell.env.reward import SHARED, SPLIT
from nbcell.env.types import NO, State
from nbcell.layout.ir import Finger

N_FINGER = 9  #: per-finger features
N_FLIP = 8  #: per finger-and-flip (action) features
N_PAIR = 4  #: per finger-pair (edge) features
N_GAP = 4  #: per row-gap action features
N_GLOBAL = 7  #: whole-state features


@struct.dataclass
class Features:
    """One state as a graph (``F`` = bucket size).

    fingers: float32[F, N_FINGER]   type, placed, valid, free, has a free partner in the other
                                    row (same gate), free same-gate / shared-diffusion fingers (/4),
                                    finger width / widest finger of the cell, width (µm, /2)
    flips:   float32[F, 2, N_FLIP]  per flip b (b = 1: drain on the right): env reward of the
                                    action, break needed, width growth, shared / split gate column,
                                    other row's cursor minus the landing column (/4, clipped),
                                    free same-row fingers that could continue its right net (/4),
                                    width step to the row's last finger when they share diffusion
                                    (its width minus this one's, / widest; a step costs layout lines)
    pairs:   float32[F, F, N_PAIR]  same gate net, a shared diffusion net, same row, key is free
    gaps:    float32[2, N_GAP]      per row: legal, widens the cell, other row ahead (/4), open end
    glob:    float32[N_GLOBAL]      share placed, (width - lower bound) / lower bound, cursor
                                    difference (/4), open ends, share of free fingers per row
    valid:   bool[F]                real fingers (attention keys)
    mask:    bool[2F + 2]           the env's action mask
    """

    fingers: jnp.ndarray
    flips: jnp.ndarray
    pairs: jnp.ndarray
    gaps: jnp.ndarray
    glob: jnp.ndarray
    valid: jnp.ndarray
    mask: jnp.ndarray


def _q(x: jnp.ndarray) -> jnp.ndarray:
    """A count or a column difference as a bounded feature."""
    return jnp.clip(x.astype(jnp.float32) / 4.0, -4.0, 4.0)


def finger_widths(fingers: Sequence[Finger], size: int) -> np.ndarray:
    """float32[size, 2]: each finger's width relative to the cell's widest, and in µm / 2 (0 on padding).
    The env does not model widths; the layout does (a width step between neighbours costs lines)."""
    out = np.zeros((size, 2), np.float32)
    if fingers:
        widest = max(f.w for f in fingers)
        for i, f in enumerate(fingers):
            out[i] = (f.w / widest, min(f.w / 2.0, 4.0))
    return out


def featurize(state: State, width: jnp.ndarray) -> Features:
    """``width``: :func:`finger_widths` of the state's cell."""
    c = state.cell
    F = c.size
    C = 2 * F + 1
    row = c.f_type
    other = 1 - row
    valid = c.f_valid
    free = valid & ~state.placed
    n = jnp.maximum(c.n_fingers, 1).astype(jnp.float32)
    eye = jnp.eye(F, dtype=bool)

    # relations between fingers (the graph's edges)
    same_gate = (c.f_gate[:, None] == c.f_gate[None, :]) & valid[:, None] & valid[None, :] & ~eye
    diff_i = jnp.stack([c.f_drain, c.f_source], -1)  # [F, 2]
    share = jnp.any(diff_i[:, None, :, None] == diff_i[None, :, None, :], axis=(-1, -2))
    share = share & valid[:, None] & valid[None, :] & ~eye
    same_row = (row[:, None] == row[None, :]) & valid[:, None] & valid[None, :]
    pairs = jnp.stack([same_gate, share, same_row, jnp.broadcast_to(free[None, :], (F, F))], -1)

    # one-step look-ahead of each (finger, flip) action, as the env would do it
    left = diff_i  # flip 0: drain left; flip 1: source left
    right = diff_i[:, ::-1]
    end = state.end_net[row][:, None]
    brk = (end != NO) & (end != left)
    col = state.cursor[row][:, None] + brk.astype(jnp.int32)  # [F, 2]
    gate_at = jnp.where(state.slot == NO, NO, c.f_gate[jnp.maximum(state.slot, 0)])  # [2, C]
    og = gate_at[other[:, None], jnp.clip(col, 0, C - 1)]
    shared = (og != NO) & (og == c.f_gate[:, None])
    split = (og != NO) & (og != c.f_gate[:, None])
    grow = jnp.maximum(col + 1 - state.width, 0)
    reward = -grow + SHARED * shared - SPLIT * split
    ahead = state.cursor[other][:, None] - (col + 1)
    cont_cand = free[None, :] & (row[:, None] == row[None, :]) & ~eye  # [F, F]
    touches = jnp.any(right[:, :, None, None] == diff_i[None, None, :, :], axis=-1)  # [F, 2, F]
    cont = jnp.sum(touches & cont_cand[:, None, :], axis=-1)
    last = state.slot[row, jnp.maximum(state.cursor[row] - 1, 0)]  # the row's rightmost finger
    touching = (last != NO)[:, None] & ~brk & (state.cursor[row] > 0)[:, None]
    step = jnp.where(touching, (width[jnp.maximum(last, 0), 0] - width[:, 0])[:, None], 0.0)
    flips = jnp.stack([reward, brk, grow, shared, split, _q(ahead), _q(cont), step], -1).astype(jnp.float32)

    partner = jnp.any(same_gate & ~same_row & free[None, :], axis=1)
    fingers = jnp.stack([row, state.placed, valid, free, partner,
                         _q(jnp.sum(same_gate & free[None, :], 1)), _q(jnp.sum(share & free[None, :], 1)),
                         width[:, 0], width[:, 1]], -1).astype(jnp.float32)

    mask = action_mask(state)
    gap_legal = mask[2 * F:]
    cur, oc = state.cursor, state.cursor[::-1]
    gaps = jnp.stack([gap_legal, cur >= state.width, _q(oc - cur), state.end_net != NO], -1).astype(jnp.float32)

    lb = jnp.maximum(c.lower_bound, 1).astype(jnp.float32)
    per_row = jnp.stack([jnp.sum(free & (row == r)) for r in (0, 1)]).astype(jnp.float32) / n
    glob = jnp.concatenate([jnp.stack([jnp.sum(state.placed & valid) / n, (state.width - lb) / lb,
                                       _q(cur[0] - cur[1])]), (state.end_net != NO).astype(jnp.float32),
                            per_row]).astype(jnp.float32)
    return Features(fingers, flips, pairs.astype(jnp.float32), gaps, glob, valid, mask)
