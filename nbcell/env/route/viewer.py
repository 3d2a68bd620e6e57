"""Text picture of a routing state (for logs and debugging)."""

from __future__ import annotations

import numpy as np

from nbcell.env.route.proxy import violations
from nbcell.env.route.types import RouteState


def render(state: RouteState, nets: list[str] | None = None) -> str:
    """One line per track, top track first, one character per line of the grid: the first
    metal's net (a letter per net id, ``#`` where nets collide), ``+`` where only the second or
    third metal runs, ``.`` where nothing does; ``!`` marks a rule-proxy violation."""
    use = np.asarray(state.use)
    bad = np.asarray(violations(state).map)
    m0 = np.asarray(state.grid.m0_ok) | np.asarray(state.grid.m1_ok)
    N, _, NL, NT = use.shape
    rows = []
    for t in reversed(range(NT)):
        if not m0[:, t].any():
            continue
        line = []
        for c in range(NL):
            who = np.nonzero(use[:, 0, c, t])[0]
            if bad[c, t]:
                ch = "!"
            elif len(who) > 1:
                ch = "#"
            elif len(who) == 1:
                ch = chr(ord("a") + int(who[0]) % 26)
            elif use[:, 1:, c, t].any():
                ch = "+"
            else:
                ch = "."
            line.append(ch)
        rows.append(f"{t:>2} " + "".join(line))
    if nets:
        rows.append("   " + ", ".join(f"{chr(ord('a') + i % 26)}={n}" for i, n in enumerate(nets)))
    return "\n".join(rows)
