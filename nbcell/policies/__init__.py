"""Everything that acts in :mod:`nbcell.env` behind one interface: the classical baselines
(greedy Euler chaining, simulated annealing, exact enumeration for small cells) and, later,
the RL agent. ``get(name)`` returns a policy by its config name."""

from nbcell.policies.anneal import Anneal
from nbcell.policies.base import Policy, Problem, Solution, placement_actions, replay, replay_many
from nbcell.policies.exact import Exact
from nbcell.policies.greedy import Greedy

POLICIES: dict[str, type[Policy]] = {"greedy": Greedy, "anneal": Anneal, "exact": Exact}


def get(name: str, **options) -> Policy:
    """The policy registered as ``name`` (``greedy``, ``anneal``, ``exact``)."""
    try:
        return POLICIES[name](**options)
    except KeyError:
        raise ValueError(f"unknown policy {name!r}; known: {', '.join(POLICIES)}") from None


__all__ = ["POLICIES", "Anneal", "Exact", "Greedy", "Policy", "Problem", "Solution", "get", "placement_actions",
           "replay", "replay_many"]
