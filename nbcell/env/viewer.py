"""Text picture of a placement state (for logs and debugging)."""

from __future__ import annotations

import numpy as np

from nbcell.env.types import NO, State


def render(state: State, names: list[str] | None = None) -> str:
    """Two lines, P row over N row; each gate column shows its finger (``>`` drain right) or ``.``."""
    slot, flip = np.asarray(state.slot), np.asarray(state.flip)
    width = int(np.max(np.asarray(state.cursor)))
    lines = []
    for r, label in ((1, "P"), (0, "N")):
        cells = []
        for c in range(width):
            k = int(slot[r, c])
            name = "." if k == NO else (names[k] if names else str(k))
            cells.append(f"{name}{'>' if k != NO and flip[r, c] else ''}")
        lines.append(f"{label}: " + " ".join(f"{x:>6}" for x in cells))
    return "\n".join(lines)
