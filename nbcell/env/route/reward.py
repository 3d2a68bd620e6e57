"""Dense routing reward: the change of a potential over the state.

``potential = violations + 2 · pending terminals + WIRE · wire segments``:
connecting a terminal pays, a violation the proxy finds costs, and so does wire.
The KLayout verdict on the drawn cell is added on the host at the end.
"""

from __future__ import annotations

import jax.numpy as jnp

from nbcell.env.route.proxy import wirelength
from nbcell.env.route.types import RouteState

WIRE = 0.02
PENDING = 2.0


def potential(state: RouteState) -> jnp.ndarray:
    pending = jnp.sum(~state.done)
    return (state.n_bad + PENDING * pending + WIRE * wirelength(state)).astype(jnp.float32)
