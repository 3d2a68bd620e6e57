"""The trained agent as a :class:`~nbcell.policies.base.Policy`.

``RL.solve`` rolls out, in one vmapped jitted call, the greedy decode (argmax at every step)
and ``samples`` sampled episodes of the cell, and keeps the best finished one. ``rank="frame"``
(default, gridded processes) looks at each distinct placement's track frame from the layout
generator (``nbcell.layout.tracks.build_track_frame``: its lines before routing, with the width
steps and gate spacing the env does not model; about 2 ms each), keeps the placements whose most
crowded column cut (non-supply nets spanning it) stays within the frame's horizontal tracks minus
``track_margin`` (one over it routes slowly or not at all), and ranks those by frame width, then
env return. ``rank="return"`` ranks by env return alone.
Further ties: the more probable under the policy, then the greedy decode. The next best distinct
placements ride along as ``alternatives`` for the layout step to try when the first cannot be
routed. Deterministic per seed. Raises :class:`RLUnavailable` when it cannot place the cell (no
checkpoint, bucket above ``max_bucket``, no episode finished, every placement over the congestion
limit); ``nbcell port`` then falls back to the baseline.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from nbcell import env
from nbcell.layout.ir import Placement
from nbcell.policies.base import Policy, Problem, Solution
from nbcell.policies.rl.features import featurize, finger_widths
from nbcell.policies.rl.network import NetConfig, make_net

#: the checkpoint shipped with the package (``nbcell train ... train.export=`` writes one)
PACKAGED = Path(__file__).parent / "trained"


class RLUnavailable(RuntimeError):
    """The agent cannot place this cell; the caller falls back to the baseline."""


def checkpoint_path() -> Path:
    """``$NBCELL_RL_CHECKPOINT`` if set, else the packaged checkpoint."""
    return Path(os.environ.get("NBCELL_RL_CHECKPOINT") or PACKAGED)


@lru_cache(maxsize=4)
def load_policy(path: str) -> tuple[NetConfig, dict, dict]:
    """(network config, params, meta) of the newest checkpoint at ``path`` (cached per process)."""
    from nbcell.policies.rl import checkpoint

    def like_of(meta):
        cfg = NetConfig(**meta["net"])
        return cfg, init_params(cfg, abstract=True)

    cfg, params, meta = checkpoint.load_params(Path(path), like_of, RLUnavailable)
    return cfg, jax.device_put(params), meta


def init_params(cfg: NetConfig, seed: int = 0, size: int = 8, abstract: bool = False) -> dict:
    """Parameters of a fresh network (their shapes do not depend on ``size``); ``abstract``: only
    their shapes and dtypes (``jax.ShapeDtypeStruct``, nothing computed)."""
    def init(key):
        arrays = env.CellArrays(*(jnp.zeros(size, jnp.int32) for _ in range(4)), jnp.ones(size, bool),
                                jnp.int32(size), jnp.int32(1))
        state, _ = env.reset(arrays)
        return make_net(cfg).init(key, featurize(state, jnp.zeros((size, 2), jnp.float32)))

    key = jax.random.PRNGKey(seed)
    return jax.eval_shape(init, key) if abstract else jax.jit(init)(key)


@lru_cache(maxsize=None)
def decoder(cfg: NetConfig, size: int, samples: int):
    """Jitted ``run(params, cells [B], widths float32[B, F, 2], keys [B]) -> (final states [B, K],
    returns [B, K], log-probs [B, K], actions int32[B, K, T])`` with ``K = samples + 1``: episode 0
    the greedy decode, the rest sampled."""
    net = make_net(cfg)
    T = 2 * size + 2
    noop = env.num_actions(size)

    def episode(params, cell, wid, key, greedy):
        state, _ = env.reset(cell)

        def body(carry, k):
            state, ret, lp = carry
            logits, _ = net.apply(params, featurize(state, wid))
            a = jnp.where(greedy, jnp.argmax(logits), jax.random.categorical(k, logits)).astype(jnp.int32)
            open_ = ~state.done
            nxt, ts = env.step(state, a)
            lp = lp + jnp.where(open_, jax.nn.log_softmax(logits)[a], 0.0)
            return (nxt, ret + ts.reward, lp), jnp.where(open_, a, noop)

        (state, ret, lp), acts = jax.lax.scan(body, (state, jnp.float32(0), jnp.float32(0)), jax.random.split(key, T))
        return state, ret, lp, acts

    def one_cell(params, cell, wid, key):
        keys = jax.random.split(key, samples + 1)
        greedy = jnp.arange(samples + 1) == 0
        return jax.vmap(episode, in_axes=(None, None, None, 0, 0))(params, cell, wid, keys, greedy)

    return jax.jit(jax.vmap(one_cell, in_axes=(None, 0, 0, 0)))


def _gridded(problem: Problem) -> bool:
    tpl = problem.process.template
    return tpl is not None and "li" not in tpl.layer_roles  # the test nbcell.layout.generate makes


def _frame_score(problem: Problem, placement: Placement, margin: int) -> tuple[int, float]:
    """(congestion excess, frame width in dbu) of ``placement`` in the gridded style; the excess is
    how many nets the most crowded column cut has beyond the frame's horizontal tracks minus
    ``margin`` (supply nets go to the rails and do not count); (1000, inf) when no frame can be built."""
    from nbcell.layout.rules import LayoutError
    from nbcell.layout.tracks import build_track_frame

    try:
        frame = build_track_frame(problem.cell, problem.process, placement)
    except LayoutError:
        return 1000, float("inf")
    return max(0, cut_density(problem, placement) - (len(frame.ys) - margin)), float(frame.width)


def cut_density(problem: Problem, placement: Placement) -> int:
    """Most non-supply nets spanning one cut between placement lines (gate and diffusion lines)."""
    sup = problem.process.supplies
    supplies = {sup.power, sup.ground, sup.nwell_body, sup.pwell_body}
    fs = {(f.device, f.index): f for f in problem.fingers}
    span: dict[str, tuple[int, int]] = {}
    for row in (placement.n, placement.p):
        for c, s in enumerate(row):
            if s is None:
                continue
            f = fs[(s.device, s.finger)]
            left, right = (f.source, f.drain) if s.flip else (f.drain, f.source)
            for net, x in ((left, 2 * c), (f.gate, 2 * c + 1), (right, 2 * c + 2)):
                if net not in supplies:
                    a, b = span.get(net, (x, x))
                    span[net] = (min(a, x), max(b, x))
    return max((sum(a <= x < b for a, b in span.values()) for x in range(2 * placement.columns + 1)), default=0)


@dataclass
class RL(Policy):
    """Best of the greedy decode and ``samples`` sampled episodes of the trained agent."""

    samples: int = 63
    alternatives: int = 2
    max_bucket: int = 32  # the buckets it was trained on; larger cells fall back to the baseline
    rank: str = "frame"
    track_margin: int = 2
    checkpoint: str | None = None

    name = "rl"

    def solve(self, problem: Problem, seed: int = 0) -> Solution:
        if problem.size > self.max_bucket:
            raise RLUnavailable(f"cell {problem.cell.name}: bucket {problem.size} above the agent's {self.max_bucket}")
        cfg, params, _ = load_policy(str(self.checkpoint or checkpoint_path()))
        cells = jax.tree.map(lambda x: x[None], problem.arrays)
        keys = jax.random.PRNGKey(seed)[None]
        wid = finger_widths(problem.fingers, problem.size)[None]
        states, rets, lps, acts = jax.device_get(decoder(cfg, problem.size, self.samples)(params, cells, wid, keys))
        done = np.all(states.placed | ~states.cell.f_valid, axis=-1)[0]
        rets, lps, acts = rets[0], lps[0], acts[0]
        if not done.any():
            raise RLUnavailable(f"cell {problem.cell.name}: no episode of the agent finished")
        # best return, then most probable, then lowest index (0 = greedy decode)
        order = [int(i) for i in np.lexsort((np.arange(len(rets)), -lps, -rets)) if done[i]]
        seen, picks = set(), []
        for i in order:
            st = jax.tree.map(lambda x: x[0, i], states)
            pl = env.to_placement(st, problem.fingers)
            if pl not in seen:
                seen.add(pl)
                picks.append((i, pl))
            if self.rank != "frame" and len(picks) > self.alternatives:
                break
        if self.rank == "frame" and _gridded(problem):
            scores = [_frame_score(problem, pl, self.track_margin) for _, pl in picks]
            keep = sorted((k for k in range(len(picks)) if scores[k][0] == 0), key=lambda k: (scores[k], k))
            if not keep:
                raise RLUnavailable(f"cell {problem.cell.name}: every placement of the agent is too congested to route")
            picks = [picks[k] for k in keep]
        picks = picks[: self.alternatives + 1]
        best, placement = picks[0]
        actions = [int(a) for a in acts[best] if a < env.num_actions(problem.size)]
        return Solution(placement, float(rets[best]), actions, self.name, [pl for _, pl in picks[1:]])
