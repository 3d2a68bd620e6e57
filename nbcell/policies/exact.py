"""Exact placement for small cells: every column order and flip, scored by the env at once."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from nbcell.layout.place import _items
from nbcell.policies.base import Decoder, Policy, Problem, Solution, replay, replay_many
from nbcell.policies.greedy import Greedy


@dataclass
class Exact(Policy):
    """Optimal env return over all orders of up to ``max_items`` columns (else the greedy result)."""

    max_items: int = 4
    chunk: int = 4096

    name = "exact"

    def solve(self, problem: Problem, seed: int = 0) -> Solution:
        items = [(it.n, it.p) for it in _items(problem.fingers)]
        if len(items) > self.max_items or not items:
            sol = Greedy().solve(problem, seed)
            return Solution(sol.placement, sol.env_return, sol.actions, "greedy")
        dec = Decoder(problem)
        choices = [[(a, b) for a in ((False, True) if n else (False,)) for b in ((False, True) if p else (False,))]
                   for n, p in items]
        seqs = []
        for order in itertools.permutations(range(len(items))):
            for flips in itertools.product(*(choices[i] for i in order)):
                seqs.append(dec.actions([items[i] for i in order], list(flips)))
        best, best_ret = None, -np.inf
        for k in range(0, len(seqs), self.chunk):
            _, rets, done = replay_many(problem, seqs[k:k + self.chunk])
            rets = np.where(done, rets, -np.inf)
            i = int(np.argmax(rets))
            if rets[i] > best_ret:
                best, best_ret = seqs[k + i], float(rets[i])
        return replay(problem, best, self.name)
