"""Layout generator: a sized cell -> placement -> routing -> DRC/LVS-clean polygons, GDS and LEF.

``generate(cell, process, seed)`` is the entry point; :mod:`nbcell.layout.ir` holds the
symbolic placement/routing representation other producers (a learned policy) can fill in.
"""

from nbcell.layout.generate import GeneratedCell, generate
from nbcell.layout.rules import LayoutError

__all__ = ["GeneratedCell", "LayoutError", "generate"]
