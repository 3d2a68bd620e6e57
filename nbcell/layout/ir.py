"""Symbolic layout of one cell: a placement of transistor fingers and a routing on a grid.

Both halves are plain frozen dataclasses so that any producer (the greedy
placer and the maze router here, or a learned policy in the JAX environment)
can hand them to :func:`nbcell.layout.geometry.draw`.

Placement
---------
The cell is a sequence of *gate columns* ``0..G-1``, left to right. Each row
(``n`` near the ground rail, ``p`` near the power rail) holds at most one
finger per gate column; a finger in both rows of one column with the same
gate net shares one straight poly gate. *Diffusion column* ``k`` (``0..G``)
lies left of gate column ``k``: it is the source/drain region between gate
columns ``k-1`` and ``k``. A finger's ``flip`` says which side its drain is
on (``False``: drain left, source right). An empty slot (``None``) is a
diffusion break in that row unless the nets on both sides of it are the same
(then the diffusion simply continues under no gate). Two fingers in adjacent
gate columns must agree on the net of the diffusion column between them.

Grid
----
The routing grid is the cross product of vertical lines ``xs`` and horizontal
tracks ``ys`` (both in µm from the cell origin, lower left corner of the
placement boundary). Vertical lines sit on every diffusion and gate column
(their x comes from the rule-driven column spacing) and on the tracks of the
second metal (where an upper-level router lands a via on a pin). Horizontal
tracks sit on the rails, on the diffusion-contact rows and in the channel
between the rows (gate contacts, poly and metal jumpers). Routing layers, by
index: ``0`` poly, ``1`` the first metal (gf180 / sg13g2 ``metal1``, sky130
``li1``), ``2`` the second metal (gf180 / sg13g2 ``metal2``, sky130 ``met1``).
A :class:`Via` with ``lower=-1`` is a diffusion contact (the diffusion column
under it to the first metal), ``lower=0`` a poly contact, ``lower=1`` a cut
between the two metals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

RowName = Literal["n", "p"]
ROUTING_LAYERS = ("poly", "m0", "m1")


@dataclass(frozen=True)
class Slot:
    """One transistor finger in a gate column: device name, finger index, drain side."""

    device: str
    finger: int = 0
    flip: bool = False


@dataclass(frozen=True)
class Placement:
    """Finger order of both rows over the gate columns (equal lengths); ``spacers``: empty gate
    columns inserted as routing room (a routing line each), unlike a diffusion break."""

    n: tuple[Slot | None, ...]
    p: tuple[Slot | None, ...]
    spacers: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        if len(self.n) != len(self.p):
            raise ValueError(f"rows differ in length: n {len(self.n)}, p {len(self.p)} gate columns")
        if any(not 0 <= g < len(self.n) or self.n[g] or self.p[g] for g in self.spacers):
            raise ValueError(f"spacers {sorted(self.spacers)} are not empty gate columns")

    @property
    def columns(self) -> int:
        """Number of gate columns."""
        return len(self.n)

    def row(self, name: RowName) -> tuple[Slot | None, ...]:
        return self.n if name == "n" else self.p


@dataclass(frozen=True)
class Finger:
    """One finger as the placer sees it: terminal nets and size (µm)."""

    device: str
    index: int
    type: RowName
    gate: str
    drain: str
    source: str
    bulk: str
    w: float
    l: float

    def sides(self, flip: bool) -> tuple[str, str]:
        """(left net, right net) of the finger for this orientation."""
        return (self.source, self.drain) if flip else (self.drain, self.source)


@dataclass(frozen=True)
class Grid:
    """Routing grid. ``xs``/``ys`` in dbu; ``dbu`` µm per unit (see the module text for the layout)."""

    xs: tuple[int, ...]
    ys: tuple[int, ...]
    dbu: float
    #: for each x line: the placement column it sits on (2k: diffusion column k, 2g+1: gate g) or -1
    x_column: tuple[int, ...] = ()
    #: x lines that lie on a track of the second metal (pin access)
    x_on_track: tuple[bool, ...] = ()
    #: y tracks that lie on a track of the second metal (when that metal runs horizontally)
    y_on_track: tuple[bool, ...] = ()

    def x_um(self, ix: int) -> float:
        return self.xs[ix] * self.dbu

    def y_um(self, iy: int) -> float:
        return self.ys[iy] * self.dbu


@dataclass(frozen=True)
class Node:
    """A grid point on one routing layer."""

    layer: int
    ix: int
    iy: int


@dataclass(frozen=True)
class Wire:
    """A straight wire on one routing layer between two grid points (same ix or same iy)."""

    layer: int
    ix0: int
    iy0: int
    ix1: int
    iy1: int


@dataclass(frozen=True)
class Via:
    """A cut between routing layers ``lower`` and ``lower + 1`` at a grid point (``-1``: diffusion).

    ``orient`` is the direction of the longer enclosure of the lower metal pad:
    ``"v"`` (pad taller than wide) or ``"h"``.
    """

    lower: int
    ix: int
    iy: int
    orient: Literal["h", "v"] = "v"


@dataclass(frozen=True)
class NetRoute:
    """Everything routed for one net; ``pin`` is the pin-access point of a signal pin."""

    net: str
    wires: tuple[Wire, ...] = ()
    vias: tuple[Via, ...] = ()
    pin: Node | None = None


@dataclass(frozen=True)
class Routing:
    """Routes of all nets on ``grid``."""

    grid: Grid
    nets: tuple[NetRoute, ...] = field(default_factory=tuple)

    def net(self, name: str) -> NetRoute | None:
        return next((r for r in self.nets if r.net == name), None)
