"""Routing policies: what acts in the routing env (:mod:`nbcell.env.route`), behind one interface.

``pathfinder`` is the reference: terminals in the host router's order, then
negotiated-congestion rip-up and reroute of the nets in violation, least
rerouted first. A finished episode becomes the host router's wires through its
final conflict test (:func:`nbcell.env.route.to_wires`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from nbcell.env import route as renv
from nbcell.env.route.types import Grid, RouteObservation, RouteState
from nbcell.layout.maze import MazeError, NetWires
from nbcell.layout.tracks import TrackFrame

_BIG = 2 ** 30


@dataclass
class RouteSolution:
    """A finished routing episode: its wires, length, return and whether the proxy ended clean."""

    wires: dict[str, NetWires]
    steps: int
    env_return: float
    policy: str


def pathfinder_action(obs: RouteObservation, grid: Grid, seed: jnp.ndarray) -> jnp.ndarray:
    """The reference policy's action (jittable): the first pending terminal in the reference order
    (nets rotated by ``seed``); then the violating net rerouted least often."""
    T = grid.terminals
    mask = obs.action_mask
    n_nets = jnp.maximum(grid.n_nets, 1)
    rank = grid.order // 1024
    rot = (rank - seed) % n_nets * 1024 + grid.order % 1024
    connect = jnp.where(mask[:T], rot, _BIG)
    reroutes = jnp.round(obs.nets[:, 2] * 4.0).astype(jnp.int32)
    net_rank = (jnp.arange(T) - seed) % n_nets
    reroute = jnp.where(mask[T:], reroutes * 4096 + net_rank, _BIG)
    return jnp.where(jnp.any(mask[:T]), jnp.argmin(connect), T + jnp.argmin(reroute)).astype(jnp.int32)


def stall_limit(grid: Grid) -> jnp.ndarray:
    """Reroutes without fewer violations after which an episode gives up (the host router's
    eight passes without progress, here three reroutes per net; at least :data:`STALL_MIN`)."""
    return jnp.maximum(3 * grid.n_nets, STALL_MIN)


#: see :func:`stall_limit`
STALL_MIN = 32


#: act(observation, grid, aux) -> action (int32[]); ``aux`` is the policy's own (a seed, params)
Act = Callable[[RouteObservation, Grid, Any], jnp.ndarray]


def episode(act: Act):
    """Jitted ``run(grid, aux, horizon) -> (final state, finished, env return)``: ``act`` chooses
    every step, up to ``horizon`` steps, or until the rule proxy's count has not dropped for
    :func:`stall_limit` reroutes (vmappable; compiled once per bucket)."""

    def run(grid: Grid, aux, horizon: jnp.ndarray):
        state, ts = renv.reset(grid)
        stall = stall_limit(grid)
        big = jnp.int32(2 ** 30)

        def cond(cy):
            state, ts, ret, best, since = cy
            return (~ts.done & (state.steps < horizon) & jnp.any(ts.observation.action_mask)
                    & (since < stall))

        def body(cy):
            state, ts, ret, best, since = cy
            state, ts = renv.step(state, act(ts.observation, grid, aux))
            # progress counts once every terminal is connected (before, violations only grow)
            live = jnp.all(state.done)
            better = live & (state.n_bad < best)
            best = jnp.where(better, state.n_bad, best)
            since = jnp.where(better | ~live, 0, since + 1)
            return state, ts, ret + ts.reward, best, since

        state, ts, ret, _, _ = jax.lax.while_loop(cond, body, (state, ts, jnp.float32(0.0), big, jnp.int32(0)))
        return state, ts.done, ret

    return jax.jit(run)


@lru_cache(maxsize=None)
def _pathfinder_episode():
    return episode(pathfinder_action)


def finish(problem: renv.RouteProblem, state: RouteState, done, ret, policy: str) -> RouteSolution:
    """One finished episode (host arrays) as a solution; raises :class:`MazeError` naming what was
    left when it did not finish, or when the host router's final test disagrees."""
    state = jax.tree.map(np.asarray, state)
    if not bool(done):
        v = renv.violations(state)
        raise MazeError(f"cell {problem.frame.cell.name}: routing env ({policy}) ended after {int(state.steps)} "
                        f"steps with {int(v.total)} proxy violations, {int(np.sum(~state.done))} terminals pending",
                        sorted({int(c) for c in np.nonzero(np.asarray(v.map))[0]}))
    return RouteSolution(renv.to_wires(problem, state), int(state.steps), float(ret), policy)


class RoutePolicy(ABC):
    """Something that routes a framed cell through the routing env."""

    name: ClassVar[str]

    @abstractmethod
    def route(self, problem: renv.RouteProblem, seed: int = 0) -> RouteSolution:
        """Deterministic for a given ``seed``; raises :class:`MazeError` when it ends unclean."""


class PathFinder(RoutePolicy):
    name = "pathfinder"

    def route(self, problem: renv.RouteProblem, seed: int = 0) -> RouteSolution:
        state, done, ret = _pathfinder_episode()(problem.grid, jnp.int32(seed), jnp.int32(problem.horizon))
        return finish(problem, state, done, ret, self.name)


def route_in_env(frame: TrackFrame, seed: int = 0, metals: int = 2,
                 policy: RoutePolicy | None = None) -> dict[str, NetWires]:
    """Route ``frame`` through the routing env (raises :class:`MazeError` or
    :class:`~nbcell.env.route.GridTooLarge` when it cannot)."""
    problem = renv.route_problem(frame, metals)
    return (policy or PathFinder()).route(problem, seed).wires
