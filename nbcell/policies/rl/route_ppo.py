"""PPO for the routing env (:mod:`nbcell.env.route`), one jitted function per bucket (PureJaxRL style),
with a behaviour-cloning warm start on the reference policy and the training entry :func:`train_router`.

``make_route_train(net, config, grids)`` returns ``train(state, key) -> (state, metrics)``: one
whole iteration inside ``jax.jit`` — ``E`` episodes, each a cell drawn from the stacked ``grids``
(one bucket), roll ``H`` steps in a ``lax.scan`` (steps after an episode's end, or with no legal
action, use action ``2T``: a no-op that weighs nothing), then GAE and ``epochs`` of clipped PPO
over minibatches with optax (global-norm clipping + Adam). Reward per step: the env's dense
reward (a potential difference) minus ``step_cost``, plus ``bonus`` on the step that finishes the
episode clean (``RouteStep.done``) and minus ``unfinished`` on the last step of one still open
after ``H`` steps; all times ``reward_scale``.

``make_route_bc(net, config, grids)`` returns ``bc(state, key, beta) -> (state, metrics)``: the
same rollouts, acting with the reference policy's action (:func:`~nbcell.policies.route.pathfinder_action`,
seed 0) with probability ``beta`` and with the network's sample otherwise (DAgger), labelled with
the reference action; ``epochs`` of cross-entropy (+ value regression on the GAE targets). Both
are one compiled function per bucket with traced coefficients (:class:`Coefs`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from nbcell.env import route as renv
from nbcell.env.route.types import Grid, RouteObservation
from nbcell.policies.rl.ppo import PPOConfig, TrainState, gae_advantages
from nbcell.policies.rl.ppo import make_optimizer as ppo_optimizer
from nbcell.policies.rl.route_net import RouteNetConfig, init_route_params, make_route_net, param_count
from nbcell.policies.route import pathfinder_action

log = logging.getLogger("nbcell")


@dataclass(frozen=True)
class RoutePPOConfig(PPOConfig):
    """The placement agent's PPO settings, with the routing episode's own defaults and shaping."""

    envs: int = 16             #: episodes per iteration and bucket
    epochs: int = 3
    minibatch: int = 256
    ent_coef: float = 0.003
    gamma: float = 0.99
    unfinished: float = 2.0    #: still open after the horizon
    horizon_factor: int = 3    #: steps per episode: ``horizon_factor * T``
    bonus: float = 5.0         #: finishing clean
    step_cost: float = 0.05    #: per legal step (fewer reroutes is better)
    reward_scale: float = 0.1


class Transition(NamedTuple):
    obs: RouteObservation  # before the action
    action: jnp.ndarray    # int32
    label: jnp.ndarray     # int32: the reference policy's action
    logp: jnp.ndarray
    value: jnp.ndarray
    reward: jnp.ndarray    # shaped, scaled (see module docstring)
    alive: jnp.ndarray     # the episode was open (and had a legal action) before the action
    term: jnp.ndarray      # ... and ends after it (finished, stuck, or the horizon)
    done: jnp.ndarray      # finished clean after it


def make_optimizer(cfg: RoutePPOConfig, lr: float | None = None) -> optax.GradientTransformation:
    return ppo_optimizer(replace(cfg, lr=lr or cfg.lr))


def init_state(net_cfg: RouteNetConfig, cfg: RoutePPOConfig, example: Grid, seed: int = 0) -> TrainState:
    params = init_route_params(net_cfg, example, seed)
    return TrainState(params, make_optimizer(cfg, 1.0).init(params), jnp.int32(0))


def stack_grids(grids: list[Grid]) -> Grid:
    """Grids of one bucket stacked on a leading axis."""
    return jax.tree.map(lambda *x: jnp.stack(x), *grids)


def apply_batch(net, params, obs: RouteObservation, grids: Grid):
    """Batched observations and grids [B] -> (logits float32[B, 2T], values float32[B])."""
    return jax.vmap(net.apply, in_axes=(None, 0, 0))(params, obs, grids)


def _rollout(net, cfg: RoutePPOConfig, params, grid: Grid, key, beta):
    """``E`` episodes of ``H`` steps; returns (final states, Transition [H, E])."""
    T = grid.terminals
    E = grid.term_net.shape[0]
    H = cfg.horizon_factor * T
    state, ts = jax.vmap(renv.reset)(grid)
    noop = jnp.int32(2 * T)

    def body(carry, x):
        state, ts = carry
        k, t = x
        obs = ts.observation
        alive = ~ts.done & jnp.any(obs.action_mask, -1)
        label = jax.vmap(pathfinder_action, in_axes=(0, 0, None))(obs, grid, jnp.int32(0))

        def act(_):
            logits, value = apply_batch(net, params, obs, grid)
            k1, k2 = jax.random.split(k)
            a_net = jax.random.categorical(k1, logits).astype(jnp.int32)
            use_ref = jax.random.uniform(k2, (E,)) < beta
            a = jnp.where(use_ref, label, a_net)
            logp = jnp.take_along_axis(jax.nn.log_softmax(logits), jnp.clip(a, 0, 2 * T - 1)[:, None], 1)[:, 0]
            return a, logp, value

        def idle(_):
            z = jnp.zeros(E, jnp.float32)
            return jnp.zeros(E, jnp.int32), z, z

        a, logp, value = jax.lax.cond(jnp.any(alive), act, idle, None)
        a = jnp.where(alive, a, noop)
        nstate, nts = jax.vmap(renv.step)(state, a)
        stuck = ~jnp.any(nts.observation.action_mask, -1)
        last = t == H - 1
        r = nts.reward - cfg.step_cost + jnp.where(nts.done, cfg.bonus, 0.0)
        r = r - jnp.where(last & ~nts.done & ~stuck, cfg.unfinished, 0.0)
        r = jnp.where(alive, r * cfg.reward_scale, 0.0)
        term = alive & (nts.done | stuck | last)
        return (nstate, nts), Transition(obs, a, label, logp, value, r, alive, term, alive & nts.done)

    (final, fts), tr = jax.lax.scan(body, (state, ts), (jax.random.split(key, H), jnp.arange(H)))
    return final, fts, tr


def _gae(cfg: RoutePPOConfig, tr: Transition):
    return gae_advantages(tr.reward, tr.value, tr.alive, tr.term, cfg.gamma, cfg.lam)


def _episode_metrics(tr: Transition, fts, final) -> dict:
    fin = fts.done
    steps = final.steps.astype(jnp.float32)
    return {"finished": jnp.mean(fin.astype(jnp.float32)),
            "steps": jnp.mean(steps),
            "steps_finished": jnp.sum(jnp.where(fin, steps, 0.0)) / jnp.maximum(jnp.sum(fin), 1),
            "return": jnp.mean(jnp.sum(tr.reward, 0)),
            "wirelength": jnp.mean(jax.vmap(renv.wirelength)(final).astype(jnp.float32)),
            "open_steps": jnp.sum(tr.alive.astype(jnp.float32))}


def _minibatches(flat: dict, key, M: int, n: int):
    """Open transitions first, in random order: minibatches past them are skipped."""
    order = jnp.argsort(jnp.where(flat["w"] > 0, jax.random.uniform(key, (n,)), 2.0))
    nmb = n // M
    return jax.tree.map(lambda x: x[order[: nmb * M]].reshape((nmb, M) + x.shape[1:]), flat)


class Coefs(NamedTuple):
    """Traced knobs of one compiled iteration (so PPO and behaviour cloning share one compile)."""

    beta: jnp.ndarray   #: probability that the reference policy acts in the rollout
    pg: jnp.ndarray     #: clipped policy-gradient loss weight
    bc: jnp.ndarray     #: cross-entropy to the reference action weight
    ent: jnp.ndarray    #: entropy bonus weight
    lr: jnp.ndarray     #: learning rate


def coefs(beta=0.0, pg=1.0, bc=0.0, ent=0.0, lr=3e-4) -> Coefs:
    return Coefs(*(jnp.float32(x) for x in (beta, pg, bc, ent, lr)))


@lru_cache(maxsize=None)
def _compiled(net, cfg: RoutePPOConfig):
    opt = make_optimizer(cfg, 1.0)  # Adam's direction; the step is scaled by the traced ``lr``

    def loss_fn(params, mb, grids, c: Coefs):
        g = jax.tree.map(lambda x: x[mb["cell"]], grids)
        logits, value = apply_batch(net, params, mb["obs"], g)
        A = logits.shape[-1]
        logp_all = jax.nn.log_softmax(logits)
        act = jnp.clip(mb["action"], 0, A - 1)[:, None]
        logp = jnp.take_along_axis(logp_all, act, 1)[:, 0]
        ratio = jnp.exp(logp - mb["logp"])
        adv = mb["adv"]
        pg = -jnp.minimum(ratio * adv, jnp.clip(ratio, 1 - cfg.clip, 1 + cfg.clip) * adv)
        ce = -jnp.take_along_axis(logp_all, jnp.clip(mb["label"], 0, A - 1)[:, None], 1)[:, 0]
        v_loss = 0.5 * (value - mb["target"]) ** 2
        ent = -jnp.sum(jnp.where(logits > -1e8, jnp.exp(logp_all) * logp_all, 0.0), -1)
        acc = (jnp.argmax(logits, -1) == mb["label"]).astype(jnp.float32)
        w = mb["w"]
        n = jnp.maximum(jnp.sum(w), 1.0)
        mean = lambda x: jnp.sum(w * x) / n  # noqa: E731
        total = mean(c.pg * pg + c.bc * ce + cfg.vf_coef * v_loss - c.ent * ent)
        return total, jnp.stack([mean(pg), mean(v_loss), mean(ent), mean(mb["logp"] - logp), mean(ce), mean(acc)])

    def train(ts: TrainState, key, grids: Grid, c: Coefs):
        N = grids.term_net.shape[0]
        T = grids.term_net.shape[1]
        E, H = cfg.envs, cfg.horizon_factor * T
        k_cell, k_roll, k_perm = jax.random.split(key, 3)
        idx = jax.random.randint(k_cell, (E,), 0, N)
        grid = jax.tree.map(lambda x: x[idx], grids)
        final, fts, tr = _rollout(net, cfg, ts.params, grid, k_roll, c.beta)
        w = tr.alive.astype(jnp.float32)
        adv = _gae(cfg, tr)
        target = adv + tr.value
        n_alive = jnp.maximum(jnp.sum(w), 1.0)
        mean = jnp.sum(adv * w) / n_alive
        std = jnp.sqrt(jnp.sum(w * (adv - mean) ** 2) / n_alive)
        adv = (adv - mean) / (std + 1e-8) * w
        cell = jnp.broadcast_to(idx[None, :], (H, E))
        flat = jax.tree.map(lambda x: x.reshape((H * E,) + x.shape[2:]),
                            {"obs": tr.obs, "action": tr.action, "label": tr.label, "logp": tr.logp, "adv": adv,
                             "target": target, "w": w, "cell": cell})
        M = min(cfg.minibatch, H * E)

        def epoch(carry, k):
            batches = _minibatches(flat, k, M, H * E)

            def step_mb(carry, mb):
                def do(cy):
                    p, o, s = cy
                    (_, aux), g = jax.value_and_grad(loss_fn, has_aux=True)(p, mb, grids, c)
                    upd, o = opt.update(g, o, p)
                    upd = jax.tree.map(lambda u: c.lr * u, upd)
                    return (optax.apply_updates(p, upd), o, s + 1), aux

                def skip(cy):
                    return cy, jnp.full(6, jnp.nan, jnp.float32)

                return jax.lax.cond(mb["w"][0] > 0, do, skip, carry)

            return jax.lax.scan(step_mb, carry, batches)

        (params, opt_state, step), aux = jax.lax.scan(epoch, (ts.params, ts.opt_state, ts.step),
                                                      jax.random.split(k_perm, cfg.epochs))
        aux = jnp.nanmean(aux.reshape(-1, 6), 0)
        names = ("pg_loss", "v_loss", "entropy", "approx_kl", "bc_loss", "bc_accuracy")
        metrics = {**_episode_metrics(tr, fts, final), **{k: aux[i] for i, k in enumerate(names)},
                   "env_steps": jnp.float32(H * E), "grad_steps": (step - ts.step).astype(jnp.float32)}
        return TrainState(params, opt_state, step), metrics

    return jax.jit(train)


def make_route_train(net, cfg: RoutePPOConfig, grids: Grid, lr: float | None = None, bc: float = 0.0):
    """``train(state, key) -> (state, metrics)``: one PPO iteration on the stacked ``grids`` [N] of
    one bucket (see the module docstring; ``bc``: an optional cross-entropy pull towards the
    reference action). Compiled once per (network, config, bucket, N), shared with :func:`make_route_bc`."""
    fn = _compiled(net, cfg)
    grids = jax.device_put(grids)
    c = coefs(0.0, 1.0, bc, cfg.ent_coef, lr or cfg.lr)
    return lambda ts, key: fn(ts, key, grids, c)


def make_route_bc(net, cfg: RoutePPOConfig, grids: Grid, lr: float | None = None):
    """``bc(state, key, beta) -> (state, metrics)``: one behaviour-cloning iteration (DAgger with
    the reference policy acting with probability ``beta``; cross-entropy to its action, value
    regression) on the stacked ``grids`` [N]."""
    fn = _compiled(net, cfg)
    grids = jax.device_put(grids)
    return lambda ts, key, beta: fn(ts, key, grids, coefs(beta, 0.0, 1.0, 0.0, lr or cfg.lr))


# ----------------------------------------------------------------------------- training entry

TARGET = "gf180mcu_7t"
HOLDOUT_SALT = "nbcell-route"


def held_out(name: str, fraction: float = 0.25) -> bool:
    from nbcell.policies.rl.data import held_out as _held

    return _held(name, fraction, HOLDOUT_SALT)


def route_problems(cells, target, seeds=(0, 1, 2), buckets=(16, 32)) -> dict[int, list]:
    """Routing problems of ``cells`` (sized, rows fitted) per bucket: one per distinct frame of the
    greedy placement under each seed (identical frames are kept once)."""
    from nbcell.layout.place import place
    from nbcell.layout.tracks import build_track_frame

    out: dict[int, list] = {b: [] for b in buckets}
    seen = set()
    for c in cells:
        for s in seeds:
            try:
                p = renv.route_problem(build_track_frame(c, target, place(c, target, s)))
            except Exception as e:  # noqa: BLE001 - a cell the frame or the env cannot take is left out
                log.debug("route data: skip %s/%d: %s", c.name, s, e)
                continue
            T = p.grid.terminals
            if T not in out:
                continue
            sig = (c.name,) + tuple(np.asarray(x).tobytes() for x in jax.tree.leaves(p.grid))
            if sig in seen:
                continue
            seen.add(sig)
            out[T].append(p)
    return {b: ps for b, ps in out.items() if ps}


def builtin_cells(target_name: str = TARGET):
    from nbcell.pdk import load_process
    from nbcell.policies.rl.data import sized_cells

    return sized_cells("builtin", load_process(target_name))


ROUTE_FIELDS = ["time", "phase", "iteration", "bucket", "seconds", "return", "finished", "steps", "steps_finished",
                "wirelength", "pg_loss", "v_loss", "entropy", "approx_kl", "bc_loss", "bc_accuracy", "env_steps",
                "grad_steps"]


def train_router(out: str | Path, cells=None, target: str = TARGET, minutes: float = 8.0,
                 buckets=(16, 32), seeds=(0, 1, 2), holdout: float = 0.25, bc_iters: int = 60,
                 ppo_iters: int = 10 ** 6, net_cfg: RouteNetConfig = RouteNetConfig(),
                 cfg: RoutePPOConfig = RoutePPOConfig(), bc_lr: float = 1e-3, ppo_lr: float = 1e-4,
                 seed: int = 0, log_every: int = 10, checkpoint_every: int = 10, resume: bool = True,
                 export: str | Path | None = None) -> dict:
    """Train the routing agent into ``out``: orbax checkpoints (params, optimizer, progress) in
    ``out/ckpt`` — a later call with the same ``out`` resumes from the newest — and one CSV row per
    iteration and bucket in ``out/metrics.csv``; ``export``: also write the params alone there
    (:func:`nbcell.policies.rl.checkpoint.export`, what ``nbcell/policies/rl/trained_router`` holds).

    ``cells``: sized cells (default: the built-in library sized for ``target``); a hashed share
    ``holdout`` of their names is never trained on. Phase 1: ``bc_iters`` rounds of behaviour
    cloning per bucket (``beta`` from 1 to 0.5: DAgger); phase 2: PPO, round-robin over the
    buckets, until ``ppo_iters`` (counted across resumes) or this call's wall-time budget
    ``minutes`` is spent. Returns a summary (also the checkpoint's meta).
    """
    from nbcell.pdk import load_process
    from nbcell.policies.rl import checkpoint
    from nbcell.policies.rl.train import _Csv

    t_start = time.perf_counter()
    out = Path(out)
    ckpt = out / "ckpt"
    tgt = load_process(target)
    cells = builtin_cells(target) if cells is None else cells
    train_cells = [c for c in cells if not held_out(c.name, holdout)]
    probs = route_problems(train_cells, tgt, seeds, buckets)
    if not probs:
        raise ValueError(f"no training frame in the buckets {list(buckets)}")
    grids = {b: stack_grids([p.grid for p in ps]) for b, ps in probs.items()}
    net = make_route_net(net_cfg)
    example = probs[min(probs)][0].grid
    ts = init_state(net_cfg, cfg, example, seed)
    key = jax.random.PRNGKey(seed)
    bc_done = ppo_done = 0
    if resume and checkpoint.latest_step(ckpt) is not None:
        params, opt_state, prior = checkpoint.restore(ckpt, ts.params, ts.opt_state)
        ts = TrainState(params, opt_state, jnp.int32(prior["grad_steps"]))
        bc_done, ppo_done = int(prior["bc_iters"]), int(prior["ppo_iters"])
        key = jnp.asarray(prior["key"], jnp.uint32)
        log.info("route train: resumed from %s (behaviour cloning %d, PPO %d iterations)", ckpt, bc_done, ppo_done)
    bcs = {b: make_route_bc(net, cfg, g, bc_lr) for b, g in grids.items()}
    ppos = {b: make_route_train(net, cfg, g, ppo_lr) for b, g in grids.items()}
    csv = _Csv(out / "metrics.csv", ROUTE_FIELDS)
    history = []
    deadline = t_start + 60.0 * minutes
    log.info("route train: %s frames, %d params", {b: len(p) for b, p in probs.items()}, param_count(ts.params))

    def meta_now() -> dict:
        return {"net": net_cfg.to_dict(), "ppo": cfg.to_dict(), "target": target, "buckets": list(grids),
                "frames": {str(b): len(p) for b, p in probs.items()}, "seeds": list(seeds), "holdout": holdout,
                "holdout_salt": HOLDOUT_SALT,
                "train_cells": sorted({p.frame.cell.name for ps in probs.values() for p in ps}),
                "bc_iters": bc_done, "ppo_iters": ppo_done, "bc_lr": bc_lr, "ppo_lr": ppo_lr,
                "grad_steps": int(ts.step), "key": [int(x) for x in np.asarray(key)],
                "seconds": time.perf_counter() - t_start, "params": param_count(ts.params),
                "last": {k: v for k, v in (history[-1] if history else {}).items()}}

    def save() -> None:
        checkpoint.save(ckpt, bc_done + ppo_done, jax.device_get(ts.params), meta_now(),
                        jax.device_get(ts.opt_state))

    def record(phase, it, b, m, dt):
        m = {k: float(v) for k, v in m.items()}
        m.update(phase=phase, iteration=it, bucket=b, seconds=dt)
        history.append(m)
        csv.row(time=round(time.perf_counter() - t_start, 2), **m)
        if it % log_every == 0:
            log.info("route %s %d b%d: %s", phase, it, b, {k: round(v, 3) for k, v in m.items()
                                                          if isinstance(v, float)})

    while bc_done < bc_iters and time.perf_counter() < deadline:
        beta = 1.0 - 0.5 * bc_done / max(bc_iters - 1, 1)
        for b in grids:
            key, k = jax.random.split(key)
            t0 = time.perf_counter()
            ts, m = bcs[b](ts, k, beta)
            jax.block_until_ready(ts.params)
            record("bc", bc_done, b, m, time.perf_counter() - t0)
        bc_done += 1
        if bc_done == bc_iters:
            # PPO: a fresh optimizer at the PPO learning rate
            ts = TrainState(ts.params, make_optimizer(cfg, 1.0).init(ts.params), ts.step)
            save()
    while bc_done >= bc_iters and ppo_done < ppo_iters and time.perf_counter() < deadline:
        for b in grids:
            key, k = jax.random.split(key)
            t0 = time.perf_counter()
            ts, m = ppos[b](ts, k)
            jax.block_until_ready(ts.params)
            record("ppo", ppo_done, b, m, time.perf_counter() - t0)
        ppo_done += 1
        if ppo_done % checkpoint_every == 0:
            save()
    save()
    meta = meta_now()
    if export:
        checkpoint.export(Path(export), jax.device_get(ts.params), meta)
    meta["history"] = history
    return meta
