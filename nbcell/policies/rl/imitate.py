"""Warm start: behaviour cloning of the greedy baseline's placements before PPO.

PPO from random weights spends most of a CPU budget learning what the Euler-chaining
baseline already knows (chain shared diffusion, pair same-gate fingers). A few epochs of
cross-entropy on the baseline's own env actions (and its scaled return-to-go for the value
head) start PPO from there; PPO and the KLayout verdict then improve on it.
"""

from __future__ import annotations

import logging
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np
import optax

from nbcell import env
from nbcell.policies.base import Problem
from nbcell.policies.greedy import Greedy
from nbcell.policies.rl.ppo import PPOConfig, TrainState, make_optimizer, policy_apply

log = logging.getLogger("nbcell")


def demonstrations(problems: list[Problem], seed: int = 0) -> np.ndarray:
    """The greedy policy's env actions per cell, int32[N, T] padded with the no-op ``2F + 2``
    (a cell the greedy policy cannot place keeps only no-ops and weighs nothing)."""
    F = problems[0].size
    out = np.full((len(problems), 2 * F + 2), env.num_actions(F), np.int32)
    for i, p in enumerate(problems):
        try:
            acts = Greedy().solve(p, seed).actions
        except Exception as e:  # noqa: BLE001 - a demonstration less, not a failed run
            log.debug("rl warm start: no demonstration for %s: %s", p.cell.name, e)
            continue
        out[i, : len(acts)] = acts
    return out


def make_imitation(net, cfg: PPOConfig, cells: env.CellArrays, widths, actions: np.ndarray):
    """``epoch(state, key) -> (state, metrics)``: one jitted pass over every demonstration step
    (``widths``: float32[N, F, 2], see :func:`~nbcell.policies.rl.features.finger_widths`).
    The compiled function is shared by every call with the same network, config and shapes."""
    fn = _compiled_epoch(net, cfg)
    cells, widths, acts = jax.device_put(cells), jnp.asarray(widths, jnp.float32), jnp.asarray(actions).T
    return lambda ts, key: fn(ts, key, cells, widths, acts)


@lru_cache(maxsize=None)
def _compiled_epoch(net, cfg: PPOConfig):
    opt = make_optimizer(cfg)

    def replay(cells, acts):
        F = cells.size
        scale = 1.0 / jnp.maximum(cells.lower_bound, 1).astype(jnp.float32)
        state, _ = jax.vmap(env.reset)(cells)

        def body(state, a):
            # a step the env would ignore (padding, or a gap its mask forbids) teaches nothing
            legal = jnp.take_along_axis(jax.vmap(env.action_mask)(state), jnp.minimum(a, 2 * F + 1)[:, None], 1)[:, 0]
            nxt, ts = jax.vmap(env.step)(state, a)
            return nxt, (state, legal & (a < env.num_actions(F)), ts.reward)

        _, (states, alive, rew) = jax.lax.scan(body, state, acts)
        to_go = jnp.cumsum(rew[::-1], 0)[::-1] * scale[None, :]
        return states, alive, to_go

    def loss_fn(params, mb):
        logits, value = policy_apply(net, params, mb["state"], mb["width"])
        act = jnp.minimum(mb["action"], logits.shape[-1] - 1)  # padding no-ops weigh 0
        logp = jnp.take_along_axis(jax.nn.log_softmax(logits), act[:, None], 1)[:, 0]
        w = mb["w"]
        n = jnp.maximum(jnp.sum(w), 1.0)
        ce = -jnp.sum(jnp.where(w > 0, w * logp, 0.0)) / n
        vl = jnp.sum(w * 0.5 * (value - mb["target"]) ** 2) / n
        acc = jnp.sum(w * (jnp.argmax(logits, -1) == mb["action"])) / n
        return ce + cfg.vf_coef * vl, (ce, vl, acc)

    def epoch(ts: TrainState, key, cells, widths, acts):  # acts: int32[T, N]
        T, N = acts.shape
        states, alive, to_go = replay(cells, acts)
        flat = jax.tree.map(lambda x: x.reshape((T * N,) + x.shape[2:]),
                            {"state": states, "action": acts, "target": to_go, "w": alive.astype(jnp.float32),
                             "width": jnp.broadcast_to(widths, (T,) + widths.shape)})
        M = min(cfg.minibatch, T * N)
        nmb = (T * N) // M
        order = jnp.argsort(jnp.where(flat["w"] > 0, jax.random.uniform(key, (T * N,)), 2.0))
        batches = jax.tree.map(lambda x: x[order[: nmb * M]].reshape((nmb, M) + x.shape[1:]), flat)

        def step(carry, mb):
            def do(c):
                p, o, s = c
                (_, aux), g = jax.value_and_grad(loss_fn, has_aux=True)(p, mb)
                upd, o = opt.update(g, o, p)
                return (optax.apply_updates(p, upd), o, s + 1), jnp.stack(aux)

            return jax.lax.cond(mb["w"][0] > 0, do, lambda c: (c, jnp.full(3, jnp.nan, jnp.float32)), carry)

        (params, opt_state, s), aux = jax.lax.scan(step, (ts.params, ts.opt_state, ts.step), batches)
        aux = jnp.nanmean(aux, 0)
        return TrainState(params, opt_state, s), {"bc_loss": aux[0], "bc_value_loss": aux[1], "bc_accuracy": aux[2]}

    return jax.jit(epoch)
