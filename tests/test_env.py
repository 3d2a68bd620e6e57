"""The placement MDP: pure, jit/vmap-able, masks honest, final states valid placements."""

from __future__ import annotations

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nbcell import env
from nbcell.layout.place import check_placement
from nbcell.library import read_library
from nbcell.pdk import load_process
from nbcell.sizing import size_cell


@lru_cache(maxsize=None)
def builtin_cells(target: str = "gf180mcu_7t"):
    src, tgt = load_process("builtin"), load_process(target)
    return [size_cell(c, src, tgt) for c in read_library("builtin").cells]


def random_rollout(cell_arrays: env.CellArrays, key: jax.Array) -> tuple[env.State, jnp.ndarray]:
    """Masked uniform-random episode of fixed length 2F + 2 (steps after the end are no-ops)."""
    state, ts = env.reset(cell_arrays)

    def body(carry, k):
        state, ts, ret = carry
        logits = jnp.where(ts.observation.action_mask, 0.0, -jnp.inf)
        a = jax.random.categorical(k, logits)
        state, ts = env.step(state, a)
        return (state, ts, ret + ts.reward), None

    keys = jax.random.split(key, 2 * cell_arrays.size + 2)
    (state, ts, ret), _ = jax.lax.scan(body, (state, ts, jnp.float32(0)), keys)
    return state, ret


def test_bucket() -> None:
    assert env.bucket(1) == 8 and env.bucket(9) == 16 and env.bucket(256) == 256
    with pytest.raises(env.TooLarge):
        env.bucket(257)


def test_vmapped_random_episodes_are_valid_placements() -> None:
    cells = [c for c in builtin_cells() if env.bucket(sum(t.nf * t.m for t in c.transistors)) == 32]
    assert len(cells) >= 5
    arrays = [env.cell_arrays(c, 32) for c in cells]
    batch = env.stack([a for a, _ in arrays])
    keys = jax.random.split(jax.random.PRNGKey(0), len(cells))
    states, returns = jax.jit(jax.vmap(random_rollout))(batch, keys)
    for i, (cell, (arr, fs)) in enumerate(zip(cells, arrays)):
        state = jax.tree.map(lambda x: x[i], states)
        assert bool(state.done), cell.name
        placement = env.to_placement(state, fs)
        check_placement(cell, placement)  # every finger once, neighbours share their nets
        assert placement.columns >= int(arr.lower_bound)
        # the return is minus the width plus the gate-column bonuses
        assert float(returns[i]) <= -int(arr.lower_bound) + 0.5 * placement.columns
    # same key, same result
    again, _ = jax.jit(jax.vmap(random_rollout))(batch, keys)
    assert np.array_equal(np.asarray(again.slot), np.asarray(states.slot))


def test_illegal_action_is_a_noop() -> None:
    cell = next(c for c in builtin_cells() if c.name == "nbcell__inv_1")
    arr, _ = env.cell_arrays(cell)
    state, ts = env.reset(arr)
    mask = np.asarray(ts.observation.action_mask)
    assert mask[:4].all() and not mask[4:].any()  # two fingers x two flips; no gap on an empty row
    state, ts = env.step(state, jnp.int32(0))
    again, ts2 = env.step(state, jnp.int32(1))  # same finger, other flip: already placed
    assert float(ts2.reward) == 0.0 and np.array_equal(np.asarray(again.slot), np.asarray(state.slot))
    state, ts = env.step(state, jnp.int32(2))
    assert bool(ts.done) and int(state.width) == 1
    assert float(ts.reward) == pytest.approx(0.5)  # the P finger shares the N finger's gate column


def test_break_inserted_when_nets_differ() -> None:
    cell = next(c for c in builtin_cells() if c.name == "nbcell__nand2_1")
    arr, fs = env.cell_arrays(cell)
    n_idx = [i for i, f in enumerate(fs) if f.type == "n"]
    for a in n_idx:
        for b in n_idx:
            if a == b:
                continue
            state, _ = env.reset(arr)
            state, _ = env.step(state, jnp.int32(2 * a))  # flip False: drain left, source right
            state, _ = env.step(state, jnp.int32(2 * b))
            shares = fs[b].drain == fs[a].source
            assert int(state.cursor[0]) == (2 if shares else 3)
            assert (int(state.slot[0, 1]) == env.types.NO) == (not shares)
