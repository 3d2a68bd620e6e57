"""Simulated annealing over column orders and flips, scored by batched env rollouts.

Each iteration proposes ``batch`` mutations of the current order (swap two
items, reverse a run, flip one finger), scores them all at once with the
vmapped env, and accepts the best by the Metropolis rule at temperature ``T``
(geometric cooling). Starts from the greedy placement; deterministic per seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from nbcell.layout.place import _items
from nbcell.policies.base import Decoder, Policy, Problem, Solution, replay, replay_many
from nbcell.policies.greedy import Greedy


@dataclass
class Anneal(Policy):
    iterations: int = 60
    batch: int = 32
    t0: float = 1.0
    t1: float = 0.02

    name = "anneal"

    def solve(self, problem: Problem, seed: int = 0) -> Solution:
        start = Greedy().solve(problem, seed)
        items = [(it.n, it.p) for it in _items(problem.fingers)]
        if len(items) < 2:
            return Solution(start.placement, start.env_return, start.actions, self.name)
        rng = np.random.default_rng(seed)
        dec = Decoder(problem)
        order, flips = _from_placement(start, items, problem)
        cur = start.env_return
        best = (cur, order, flips)
        for it in range(self.iterations):
            temp = self.t0 * (self.t1 / self.t0) ** (it / max(1, self.iterations - 1))
            cands = [_mutate(order, flips, rng) for _ in range(self.batch)]
            seqs = [dec.actions([items[i] for i in o], f) for o, f in cands]
            _, rets, done = replay_many(problem, seqs)
            rets = np.where(done, rets, -np.inf)
            k = int(np.argmax(rets))
            if rets[k] >= cur or rng.random() < math.exp((rets[k] - cur) / temp):
                cur, (order, flips) = float(rets[k]), cands[k]
                if cur > best[0]:
                    best = (cur, order, flips)
        _, order, flips = best
        sol = replay(problem, dec.actions([items[i] for i in order], flips), self.name)
        return sol if sol.env_return >= start.env_return else Solution(start.placement, start.env_return,
                                                                       start.actions, self.name)


def _from_placement(sol: Solution, items, problem: Problem) -> tuple[list[int], list[tuple[bool, bool]]]:
    """Item order and flips of a placement (items not found keep netlist order at the end)."""
    key = {}
    for i, (fn, fp) in enumerate(items):
        for f in (fn, fp):
            if f is not None:
                key[(f.device, f.index)] = i
    order, flips, seen = [], {}, set()
    for c in range(sol.placement.columns):
        for s in (sol.placement.n[c], sol.placement.p[c]):
            if s is None:
                continue
            i = key[(s.device, s.finger)]
            fn, fp = items[i]
            f = flips.get(i, [False, False])
            f[0 if fn is not None and (fn.device, fn.index) == (s.device, s.finger) else 1] = s.flip
            flips[i] = f
            if i not in seen:
                seen.add(i)
                order.append(i)
    order += [i for i in range(len(items)) if i not in seen]
    return order, [tuple(flips.get(i, (False, False))) for i in order]


def _mutate(order: list[int], flips: list[tuple[bool, bool]], rng: np.random.Generator):
    order, flips = list(order), list(flips)
    n = len(order)
    move = rng.integers(3)
    i, j = sorted(rng.choice(n, 2, replace=False))
    if move == 0:
        order[i], order[j] = order[j], order[i]
        flips[i], flips[j] = flips[j], flips[i]
    elif move == 1:
        order[i:j + 1] = order[i:j + 1][::-1]
        flips[i:j + 1] = [(not a, not b) for a, b in flips[i:j + 1][::-1]]
    else:
        a, b = flips[i]
        flips[i] = (not a, b) if rng.random() < 0.5 else (a, not b)
    return order, flips
