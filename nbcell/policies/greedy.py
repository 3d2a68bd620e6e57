"""Euler-path greedy baseline: the layout package's chaining placer, replayed through the env."""

from __future__ import annotations

from nbcell.layout.place import place
from nbcell.policies.base import Policy, Problem, Solution, placement_actions, replay


class Greedy(Policy):
    """Pair N/P fingers by gate, chain them so neighbours share diffusion (fewest breaks)."""

    name = "greedy"

    def solve(self, problem: Problem, seed: int = 0) -> Solution:
        plan = place(problem.cell, problem.process, seed)
        return replay(problem, placement_actions(plan, problem.fingers), self.name)
