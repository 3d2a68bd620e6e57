"""Cell and netlist model: what the reader produces and every later stage consumes.

Lengths are in µm throughout. A :class:`Transistor` is one device line of the
source netlist after flattening; its ``nf`` fingers and ``m`` copies are kept as
counts, so a line counts once however many fingers it has.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

MosType = Literal["n", "p"]
DeviceKind = Literal["mos", "diode", "resistor", "short", "capacitor"]


@dataclass(frozen=True)
class SourceRef:
    """Where something was read: file path and 1-based line number."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


class NetlistError(ValueError):
    """A netlist line that cannot be read, with its file, line and reason."""

    def __init__(self, ref: SourceRef | None, reason: str, cell: str | None = None):
        self.ref = ref
        self.reason = reason
        self.cell = cell
        where = f"{ref}: " if ref else ""
        what = f"cell {cell}: " if cell else ""
        super().__init__(f"{where}{what}{reason}")


@dataclass(frozen=True)
class Transistor:
    """One MOS device line after flattening.

    ``w`` is the width of one finger (µm), ``l`` the gate length (µm); the
    device's total width is ``w * nf * m``.
    """

    name: str
    drain: str
    gate: str
    source: str
    bulk: str
    model: str
    type: MosType
    flavour: str
    w: float
    l: float
    nf: int = 1
    m: int = 1
    ref: SourceRef | None = None

    @property
    def total_w(self) -> float:
        """Total channel width in µm (all fingers, all copies)."""
        return self.w * self.nf * self.m

    @property
    def terminals(self) -> tuple[str, str, str, str]:
        return (self.drain, self.gate, self.source, self.bulk)

    def with_(self, **changes) -> "Transistor":
        return replace(self, **changes)


@dataclass(frozen=True)
class Device:
    """A non-MOS device kept as such: diode, resistor, ``short``, capacitor.

    ``nodes`` are the terminal nets in netlist order; ``params`` the raw
    numeric parameters in SI units as written (after suffix expansion).
    """

    name: str
    kind: DeviceKind
    nodes: tuple[str, ...]
    model: str
    params: tuple[tuple[str, float], ...] = ()
    ref: SourceRef | None = None


@dataclass
class Cell:
    """A flattened standard cell: pins in subcircuit order and its devices."""

    name: str
    pins: tuple[str, ...]
    transistors: list[Transistor] = field(default_factory=list)
    devices: list[Device] = field(default_factory=list)
    ref: SourceRef | None = None
    pin_directions: dict[str, str] = field(default_factory=dict)

    @property
    def nets(self) -> list[str]:
        """All nets in first-seen order: pins first, then internal nets."""
        seen = dict.fromkeys(self.pins)
        for t in self.transistors:
            seen.update(dict.fromkeys(t.terminals))
        for d in self.devices:
            seen.update(dict.fromkeys(d.nodes))
        return list(seen)


@dataclass
class CellError:
    """A cell that could not be read or processed, and why."""

    name: str
    error: str
