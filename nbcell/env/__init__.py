"""The cell-layout MDP in JAX: pure ``reset``/``step`` on pytrees, masks in the observation.

Cells are padded to a few static shape buckets (:data:`generator.BUCKETS`) so a
library compiles once per bucket; ``jax.vmap`` runs many cells at once.
"""

from nbcell.env.env import TimeStep, action_mask, num_actions, observe, reset, step
from nbcell.env.generator import BUCKETS, TooLarge, bucket, cell_arrays, stack, to_placement
from nbcell.env.types import CellArrays, Observation, State

__all__ = ["BUCKETS", "CellArrays", "Observation", "State", "TimeStep", "TooLarge", "action_mask", "bucket",
           "cell_arrays", "num_actions", "observe", "reset", "stack", "step", "to_placement"]
