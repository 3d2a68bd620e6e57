"""Layout generator library: a sized cell's placement -> routing -> DRC/LVS-clean polygons, GDS and LEF.

The styles (gridded: :mod:`nbcell.layout.tracks`, :mod:`~nbcell.layout.maze`, :mod:`~nbcell.layout.gridded`;
free-grid; special cells) are stages the orchestrator :mod:`nbcell.attempts` composes;
:mod:`nbcell.layout.ir` holds the symbolic placement/routing representation other producers (a
learned policy) can fill in.
"""

from nbcell.layout.generate import GeneratedCell
from nbcell.layout.rules import LayoutError

__all__ = ["GeneratedCell", "LayoutError"]
