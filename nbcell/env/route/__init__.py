"""The routing MDP in JAX: nets connected terminal by terminal on a framed cell's track grid.

Pure ``reset``/``step`` on pytrees, the action mask in the observation, an
in-graph rule proxy for a dense signal; frames are padded to a few static
shape buckets (:data:`generator.BUCKETS`) so a library compiles a handful of times.
"""

from nbcell.env.route.env import RouteStep, action_mask, num_actions, observe, reset, step
from nbcell.env.route.generator import BUCKETS, GridTooLarge, RouteProblem, route_problem, to_wires
from nbcell.env.route.proxy import Violations, violations, wirelength
from nbcell.env.route.types import Grid, RouteObservation, RouteState

__all__ = ["BUCKETS", "Grid", "GridTooLarge", "RouteObservation", "RouteProblem", "RouteState", "RouteStep",
           "Violations", "action_mask", "num_actions", "observe", "reset", "route_problem", "step", "to_wires",
           "violations", "wirelength"]
