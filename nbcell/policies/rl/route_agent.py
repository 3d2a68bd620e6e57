"""The trained routing agent as a :class:`~nbcell.policies.route.RoutePolicy` (``name = "rl"``).

``LearnedRouter.route`` rolls out the greedy decode (argmax of the masked logits at every step)
in one jitted ``lax.while_loop`` per bucket, up to the problem's horizon, like
:class:`~nbcell.policies.route.PathFinder`; a finished episode becomes the host router's wires
(:func:`nbcell.env.route.to_wires`), one that does not finish raises :class:`MazeError`.
``samples=K`` (default 0) also rolls ``K`` episodes sampled from the policy (seeded by ``seed``)
in the same vmapped call and keeps the finished one with the fewest steps, then the shortest
wire (the greedy decode wins ties); the host router must adopt it, else the next one is tried.
Params: ``nbcell/policies/rl/trained_router`` (shipped), or ``$NBCELL_ROUTE_CHECKPOINT``, or the
``checkpoint`` argument; written by :func:`nbcell.policies.rl.route_ppo.train_router`.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from nbcell.env import route as renv
from nbcell.env.route.types import Grid
from nbcell.layout.maze import MazeError
from nbcell.layout.tracks import TrackFrame
from nbcell.policies.rl.route_net import RouteNetConfig, init_route_params, make_route_net
from nbcell.policies.route import RoutePolicy, RouteSolution, episode, finish

#: the params shipped with the package
PACKAGED = Path(__file__).parent / "trained_router"


def checkpoint_path() -> Path:
    return Path(os.environ.get("NBCELL_ROUTE_CHECKPOINT") or PACKAGED)


def _example_grid(size: int = 16, tracks: int = 8) -> Grid:
    z = lambda *s: jnp.zeros(s, bool)  # noqa: E731
    K = TrackFrame.REACH
    return Grid(m0_ok=z(size, tracks), m1_ok=z(size, tracks), m2_ok=z(size, tracks),
                fixed=jnp.full((size, tracks), -1, jnp.int32), close1=z(tracks), close1w=z(tracks), close2=z(tracks), xany=z(3, K, size), xpad=z(3, K, size), diag=z(3, K, size, tracks), grow=z(tracks),
                term_net=jnp.full(size, -1, jnp.int32), term_mask=z(size, size, tracks), term_rail=z(size),
                net_rail=jnp.full(size, -1, jnp.int32), net_terms=jnp.zeros(size, jnp.int32),
                order=jnp.arange(size, dtype=jnp.int32), needs_stub=jnp.bool_(False),
                vias=z(2, K + 1, 3, size, tracks), n_terms=jnp.int32(0),
                n_nets=jnp.int32(0))


@lru_cache(maxsize=4)
def load_router(path: str) -> tuple[RouteNetConfig, dict, dict]:
    """(network config, params, meta) of the newest checkpoint at ``path`` (cached per process)."""
    from nbcell.policies.rl import checkpoint

    def like_of(meta):
        cfg = RouteNetConfig(**meta["net"])
        return cfg, init_route_params(cfg, _example_grid(), abstract=True)

    return checkpoint.load_params(Path(path), like_of)


@lru_cache(maxsize=None)
def greedy_rollout(cfg: RouteNetConfig):
    """Jitted ``run(grid, params, horizon) -> (final state, finished, env return)`` of the greedy
    decode (:func:`nbcell.policies.route.episode`: compiled once per bucket; vmappable)."""
    net = make_route_net(cfg)
    return episode(lambda obs, grid, params: jnp.argmax(net.apply(params, obs, grid)[0]).astype(jnp.int32))


@lru_cache(maxsize=None)
def sampled_rollouts(cfg: RouteNetConfig, samples: int):
    """Jitted ``run(params, grid, horizon, key) -> (final states [K], finished [K], returns [K])``
    with ``K = samples + 1``: episode 0 the greedy decode, the rest sampled (one vmapped call)."""
    net = make_route_net(cfg)

    def episode(params, grid: Grid, horizon, key, greedy):
        state, ts = renv.reset(grid)

        def cond(cy):
            state, ts, ret, key = cy
            return ~ts.done & (state.steps < horizon) & jnp.any(ts.observation.action_mask)

        def body(cy):
            state, ts, ret, key = cy
            key, k = jax.random.split(key)
            logits, _ = net.apply(params, ts.observation, grid)
            a = jnp.where(greedy, jnp.argmax(logits), jax.random.categorical(k, logits)).astype(jnp.int32)
            state, ts = renv.step(state, a)
            return state, ts, ret + ts.reward, key

        state, ts, ret, _ = jax.lax.while_loop(cond, body, (state, ts, jnp.float32(0.0), key))
        return state, ts.done, ret

    def run(params, grid, horizon, key):
        keys = jax.random.split(key, samples + 1)
        greedy = jnp.arange(samples + 1) == 0
        return jax.vmap(episode, in_axes=(None, None, None, 0, 0))(params, grid, horizon, keys, greedy)

    return jax.jit(run)


class LearnedRouter(RoutePolicy):
    """Greedy decode of the trained routing network, optionally the best of it and ``samples``
    sampled episodes (deterministic per ``seed``)."""

    name = "rl"

    def __init__(self, checkpoint: str | Path | None = None, samples: int = 0):
        self.checkpoint = str(checkpoint or checkpoint_path())
        self.samples = samples

    def route(self, problem: renv.RouteProblem, seed: int = 0) -> RouteSolution:
        cfg, params, _ = load_router(self.checkpoint)
        if self.samples > 0:
            return self._best_of(cfg, params, problem, seed)
        state, done, ret = greedy_rollout(cfg)(problem.grid, params, jnp.int32(problem.horizon))
        return finish(problem, state, done, ret, self.name)

    def _best_of(self, cfg, params, problem: renv.RouteProblem, seed: int) -> RouteSolution:
        states, done, rets = sampled_rollouts(cfg, self.samples)(params, problem.grid, jnp.int32(problem.horizon),
                                                                 jax.random.PRNGKey(seed))
        states, done, rets = jax.tree.map(np.asarray, (states, done, rets))
        wl = np.asarray(jax.vmap(renv.wirelength)(states))
        order = [int(i) for i in np.lexsort((np.arange(len(done)), wl, states.steps)) if done[i]]
        err = None
        for i in order:
            st = jax.tree.map(lambda x: x[i], states)
            try:
                return RouteSolution(renv.to_wires(problem, st), int(st.steps), float(rets[i]), self.name)
            except MazeError as e:
                err = e
        raise err or MazeError(f"cell {problem.frame.cell.name}: no episode of the learned router finished "
                               f"({self.samples + 1} tried)")
