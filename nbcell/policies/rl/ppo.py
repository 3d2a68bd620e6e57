"""PPO over vmapped env episodes, one jitted function per bucket (PureJaxRL style).

``make_train(net, config, cells, verdict)`` returns ``train(state, key) -> (state, metrics)``:
one whole iteration inside ``jax.jit`` — ``E`` envs, each a cell drawn from ``cells``, roll one
episode of ``T = 2F + 2`` steps in a ``lax.scan`` (steps after an episode's end are no-ops and
weigh nothing), the finished placements go to the host verdict (``io_callback``, batched:
:mod:`nbcell.policies.rl.verdict`) whose terminal bonus is added to the last step's reward,
then GAE and ``epochs`` of clipped PPO over minibatches with optax (Adam, global-norm clipping).
Rewards are in gate columns divided by the cell's lower bound, so every cell weighs alike.
The same code runs on CPU and GPU; JAX picks the device.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.experimental import io_callback

from nbcell import env
from nbcell.policies.rl.features import featurize


@dataclass(frozen=True)
class PPOConfig:
    envs: int = 64             #: episodes per iteration and bucket
    epochs: int = 4
    minibatch: int = 512       #: transitions per gradient step
    lr: float = 3e-4
    clip: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    gamma: float = 1.0
    lam: float = 0.95
    max_grad_norm: float = 0.5
    unfinished: float = 4.0    #: penalty (columns) for an episode still open after the horizon

    def to_dict(self) -> dict:
        return asdict(self)


class TrainState(NamedTuple):
    params: dict
    opt_state: optax.OptState
    step: jnp.ndarray  # int32[]: gradient steps so far


#: verdict(idx int32[E], slot int32[E, 2, C], flip bool[E, 2, C], done bool[E], cursor int32[E, 2])
#:     -> (bonus float32[E], known bool[E])
Verdict = Callable


class Transition(NamedTuple):
    state: env.State       # before the action
    action: jnp.ndarray    # int32
    logp: jnp.ndarray
    value: jnp.ndarray
    reward: jnp.ndarray    # env reward (columns, unscaled)
    alive: jnp.ndarray     # the episode was still open before the action
    done: jnp.ndarray      # ... and is finished after it


def done_of(states: env.State) -> jnp.ndarray:
    """bool[B]: per episode of a batch (``State.done`` reduces over the whole batch)."""
    return jnp.all(states.placed | ~states.cell.f_valid, axis=-1)


def width_of(states: env.State) -> jnp.ndarray:
    """int32[B]: gate columns per episode of a batch."""
    return jnp.max(states.cursor, axis=-1)


def gae_advantages(reward, value, alive, term, gamma: float, lam: float) -> jnp.ndarray:
    """Generalised advantage estimates, float32[T, E], from per-step rewards and values
    (float32[T, E]); ``alive`` (bool[T, E]) marks steps that count, ``term`` steps that end an
    episode (no bootstrap past them)."""

    def back(carry, x):
        adv_next, v_next = carry
        r, v, a, t = x
        cont = 1.0 - t.astype(jnp.float32)
        delta = r + gamma * v_next * cont - v
        adv = jnp.where(a, delta + gamma * lam * cont * adv_next, 0.0)
        return (adv, v), adv

    zero = jnp.zeros(reward.shape[1], jnp.float32)
    _, adv = jax.lax.scan(back, (zero, zero), (reward, value, alive, term), reverse=True)
    return adv


def make_optimizer(cfg: PPOConfig) -> optax.GradientTransformation:
    return optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm), optax.adam(cfg.lr, eps=1e-5))


def init_state(net, cfg: PPOConfig, key: jax.Array, example: env.CellArrays) -> TrainState:
    """Fresh parameters (from one example cell; their shapes do not depend on its bucket)."""
    def init(key, cell):
        state, _ = env.reset(cell)
        params = net.init(key, featurize(state, jnp.zeros((cell.size, 2), jnp.float32)))
        return TrainState(params, make_optimizer(cfg).init(params), jnp.int32(0))

    return jax.jit(init)(key, example)  # jitted: eager flax init compiles op by op (seconds)


def policy_apply(net, params, states: env.State, widths: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Batched states [B] and finger widths float32[B, F, 2] -> (masked logits float32[B, 2F + 2],
    values float32[B])."""
    return jax.vmap(net.apply, in_axes=(None, 0))(params, jax.vmap(featurize)(states, widths))


_HOSTS: dict[int, Verdict] = {}


def _no_verdict(idx, slot, flip, done, cursor):
    return np.zeros(idx.shape, np.float32), np.zeros(idx.shape, bool)


def _host(handle, *args):
    """The one host function the compiled code calls; ``handle`` picks the run's verdict."""
    return _HOSTS.get(int(handle), _no_verdict)(*args)


def make_train(net, cfg: PPOConfig, cells: env.CellArrays, widths, verdict: Verdict | None = None):
    """``train(state, key)`` for the stacked ``cells`` [N] with their finger widths float32[N, F, 2]
    (:func:`~nbcell.policies.rl.features.finger_widths`); float32 metrics (see module docstring).
    The compiled function depends only on (network, config, bucket, N): a second trainer of the
    same shapes in one process reuses it; the data and the verdict are its arguments."""
    handle = len(_HOSTS) + 1
    _HOSTS[handle] = verdict or _no_verdict
    fn = _compiled_train(net, cfg)
    cells, widths, h = jax.device_put(cells), jnp.asarray(widths, jnp.float32), jnp.int32(handle)
    return lambda ts, key: fn(ts, key, cells, widths, h)


@lru_cache(maxsize=None)
def _compiled_train(net, cfg: PPOConfig):
    opt = make_optimizer(cfg)

    def rollout(params, cell, wid, key):
        T, E = 2 * cell.size + 2, cfg.envs
        state, _ = jax.vmap(env.reset)(cell)

        def body(state, k):
            def act(state):
                logits, value = policy_apply(net, params, state, wid)
                a = jax.random.categorical(k, logits).astype(jnp.int32)
                logp = jnp.take_along_axis(jax.nn.log_softmax(logits), a[:, None], 1)[:, 0]
                nxt, ts = jax.vmap(env.step)(state, a)
                return nxt, Transition(state, a, logp, value, ts.reward, ~done_of(state), ts.done)

            def idle(state):  # every episode over: skip the network
                z = jnp.zeros(E, jnp.float32)
                d = done_of(state)
                return state, Transition(state, jnp.zeros(E, jnp.int32), z, z, z, ~d, d)

            return jax.lax.cond(jnp.all(done_of(state)), idle, act, state)

        return jax.lax.scan(body, state, jax.random.split(key, T))

    def gae(rew, val, alive, term):
        return gae_advantages(rew, val, alive, term, cfg.gamma, cfg.lam)

    def loss_fn(params, mb):
        logits, value = policy_apply(net, params, mb["state"], mb["width"])
        logp_all = jax.nn.log_softmax(logits)
        logp = jnp.take_along_axis(logp_all, mb["action"][:, None], 1)[:, 0]
        ratio = jnp.exp(logp - mb["logp"])
        adv = mb["adv"]
        pg = -jnp.minimum(ratio * adv, jnp.clip(ratio, 1 - cfg.clip, 1 + cfg.clip) * adv)
        v_loss = 0.5 * (value - mb["target"]) ** 2
        ent = -jnp.sum(jnp.where(logits > -1e8, jnp.exp(logp_all) * logp_all, 0.0), -1)
        w = mb["w"]
        n = jnp.maximum(jnp.sum(w), 1.0)
        total = jnp.sum(w * (pg + cfg.vf_coef * v_loss - cfg.ent_coef * ent)) / n
        kl = jnp.sum(w * (mb["logp"] - logp)) / n
        return total, (jnp.sum(w * pg) / n, jnp.sum(w * v_loss) / n, jnp.sum(w * ent) / n, kl)

    def train(ts: TrainState, key: jax.Array, cells: env.CellArrays, widths, handle):
        N, F = cells.f_type.shape[0], cells.size
        T, E = 2 * F + 2, cfg.envs
        scale_all = 1.0 / jnp.maximum(cells.lower_bound, 1).astype(jnp.float32)
        k_cell, k_roll, k_perm = jax.random.split(key, 3)
        idx = jax.random.randint(k_cell, (E,), 0, N)
        cell = jax.tree.map(lambda x: x[idx], cells)
        wid = widths[idx]
        final, tr = rollout(ts.params, cell, wid, k_roll)
        shapes = (jax.ShapeDtypeStruct((E,), jnp.float32), jax.ShapeDtypeStruct((E,), jnp.bool_))
        bonus, known = io_callback(_host, shapes, handle, idx, final.slot, final.flip, done_of(final), final.cursor,
                                   ordered=False)
        scale = scale_all[idx]
        last = jnp.arange(T)[:, None] == T - 1
        term = tr.alive & (tr.done | last)
        fin = done_of(final)
        extra = jnp.where(fin, bonus, -cfg.unfinished)
        rew = (tr.reward + jnp.where(term, extra[None, :], 0.0)) * scale[None, :]
        adv = gae(rew, tr.value, tr.alive, term)
        target = adv + tr.value
        w = tr.alive.astype(jnp.float32)
        n_alive = jnp.sum(w)
        mean = jnp.sum(adv * w) / n_alive
        std = jnp.sqrt(jnp.sum(w * (adv - mean) ** 2) / n_alive)
        adv_n = (adv - mean) / (std + 1e-8) * w

        flat = jax.tree.map(lambda x: x.reshape((T * E,) + x.shape[2:]),
                            {"state": tr.state, "action": tr.action, "logp": tr.logp, "adv": adv_n,
                             "target": target, "w": w, "width": jnp.broadcast_to(wid, (T,) + wid.shape)})
        M = min(cfg.minibatch, T * E)
        nmb = (T * E) // M

        def epoch(carry, k):
            params, opt_state, step = carry
            # open transitions first, in random order: minibatches past them are skipped
            order = jnp.argsort(jnp.where(flat["w"] > 0, jax.random.uniform(k, (T * E,)), 2.0))
            batches = jax.tree.map(lambda x: x[order[: nmb * M]].reshape((nmb, M) + x.shape[1:]), flat)

            def step_mb(carry, mb):
                params, opt_state, step = carry

                def do(c):
                    p, o, s = c
                    (_, aux), g = jax.value_and_grad(loss_fn, has_aux=True)(p, mb)
                    upd, o = opt.update(g, o, p)
                    return (optax.apply_updates(p, upd), o, s + 1), jnp.stack(aux)

                def skip(c):
                    return c, jnp.full(4, jnp.nan, jnp.float32)

                return jax.lax.cond(mb["w"][0] > 0, do, skip, (params, opt_state, step))

            return jax.lax.scan(step_mb, (params, opt_state, step), batches)

        (params, opt_state, step), aux = jax.lax.scan(epoch, (ts.params, ts.opt_state, ts.step),
                                                      jax.random.split(k_perm, cfg.epochs))
        aux = jnp.nanmean(aux.reshape(-1, 4), 0)
        lb = jnp.maximum(cell.lower_bound, 1).astype(jnp.float32)
        metrics = {"return": jnp.mean(jnp.sum(tr.reward, 0)), "width_over_lb": jnp.mean(width_of(final) / lb),
                   "finished": jnp.mean(fin.astype(jnp.float32)),
                   "verdict_known": jnp.mean(known.astype(jnp.float32)),
                   "verdict_bonus": jnp.sum(jnp.where(known, bonus, 0.0)) / jnp.maximum(jnp.sum(known), 1),
                   "pg_loss": aux[0], "v_loss": aux[1], "entropy": aux[2], "approx_kl": aux[3],
                   "env_steps": jnp.float32(T * E), "open_steps": n_alive,
                   "grad_steps": (step - ts.step).astype(jnp.float32)}
        return TrainState(params, opt_state, step), metrics

    return jax.jit(train)
