"""Everything that acts in :mod:`nbcell.env` behind one interface: the classical baselines
(greedy Euler chaining, simulated annealing, exact enumeration for small cells) and the RL
agent (:mod:`nbcell.policies.rl`). ``get(name)`` returns a policy by its config name."""

from nbcell.policies.anneal import Anneal
from nbcell.policies.base import Policy, Problem, Solution, placement_actions, replay, replay_many
from nbcell.policies.exact import Exact
from nbcell.policies.greedy import Greedy
from nbcell.policies.rl.agent import RL, RLUnavailable

POLICIES: dict[str, type[Policy]] = {"greedy": Greedy, "anneal": Anneal, "exact": Exact, "rl": RL}


def get(name: str, **options) -> Policy:
    """The policy registered as ``name`` (``greedy``, ``anneal``, ``exact``, ``rl``)."""
    try:
        return POLICIES[name](**options)
    except KeyError:
        raise ValueError(f"unknown policy {name!r}; known: {', '.join(POLICIES)}") from None


__all__ = ["POLICIES", "RL", "Anneal", "Exact", "Greedy", "Policy", "Problem", "RLUnavailable", "Solution", "get",
           "placement_actions", "replay", "replay_many"]
