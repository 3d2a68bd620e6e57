"""Drawn and derived layers of one flattened cell, as ``klayout.db.Region`` objects (dbu).

Layers are built lazily and once per cell: a rule asks for ``layers["ndiff"]``
and only the recipes it depends on are evaluated. Derived recipes come from
``Technology.derived`` and are evaluated strictly left to right
(``"activ not pactiv_full overlapping psd"`` = ``(activ - pactiv_full).overlapping(psd)``);
``grow``/``shrink`` take a distance in µm.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import klayout.db as db

from nbcell.pdk import Technology

_Op = Callable[[db.Region, db.Region], db.Region]

#: boolean/topological recipe operators; both operands are regions
_REGION_OPS: dict[str, _Op] = {
    "and": lambda a, b: a & b,
    # "+" only concatenates; every consumer applies merged semantics anyway
    "or": lambda a, b: a + b,
    "not": lambda a, b: a - b,
    "xor": lambda a, b: a ^ b,
    "interacting": lambda a, b: a.interacting(b),
    "not_interacting": lambda a, b: a.not_interacting(b),
    "inside": lambda a, b: a.inside(b),
    "outside": lambda a, b: a.outside(b),
    "overlapping": lambda a, b: a.overlapping(b),
}
#: sizing operators; the operand is a distance in µm (negative grow = shrink)
_SIZE_SIGN = {"grow": 1, "shrink": -1}
_NUMBER = re.compile(r"-?\d+(\.\d+)?")

#: layer names that hold the cell footprint, in order of preference
_FOOTPRINT_HINTS = ("boundary", "areaid_sc")


@dataclass(frozen=True)
class Recipe:
    """A parsed derived-layer recipe: first operand, then (operator, operand) steps."""

    first: str
    steps: tuple[tuple[str, str], ...]

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.first,) + tuple(x for op, x in self.steps if op not in _SIZE_SIGN)


def parse_recipe(text: str) -> Recipe:
    """Split ``"a op b op c ..."`` into a :class:`Recipe`; raises ``ValueError`` if malformed."""
    tok = text.split()
    if len(tok) % 2 == 0:
        raise ValueError(f"recipe {text!r}: expected 'layer (op operand)*'")
    steps = []
    for op, arg in zip(tok[1::2], tok[2::2]):
        if op in _SIZE_SIGN:
            if not _NUMBER.fullmatch(arg):
                raise ValueError(f"recipe {text!r}: {op} needs a distance in µm, got {arg!r}")
        elif op not in _REGION_OPS:
            raise ValueError(f"recipe {text!r}: unknown operator {op!r}")
        steps.append((op, arg))
    return Recipe(tok[0], tuple(steps))


@dataclass
class CellLayers:
    """Regions of one cell (flattened, in isolation), keyed by drawn or derived layer name."""

    tech: Technology
    layout: db.Layout
    cell: db.Cell
    recipes: dict[str, Recipe]
    _cache: dict[str, db.Region] = field(default_factory=dict)

    @property
    def dbu(self) -> float:
        return self.layout.dbu

    def to_dbu(self, um: float) -> int:
        """A length in µm as an integer number of database units."""
        return round(um / self.layout.dbu)

    def __getitem__(self, name: str) -> db.Region:
        reg = self._cache.get(name)
        if reg is None:
            reg = self._build(name)
            self._cache[name] = reg
        return reg

    def empty(self, name: str) -> bool:
        return self[name].is_empty()

    def _build(self, name: str) -> db.Region:
        if name in self.recipes:
            return self._derive(self.recipes[name])
        if name not in self.tech.layers:
            raise KeyError(f"{self.tech.name}: unknown layer {name!r}")
        gds = self.tech.layers[name].gds
        idx = self.layout.find_layer(gds[0], gds[1])
        if idx is None:
            return db.Region()
        # the recursive iterator flattens the hierarchy; texts are dropped
        return db.Region(self.cell.begin_shapes_rec(idx))

    def _derive(self, recipe: Recipe) -> db.Region:
        acc = self[recipe.first]
        for op, arg in recipe.steps:
            if op in _SIZE_SIGN:
                acc = acc.sized(_SIZE_SIGN[op] * self.to_dbu(float(arg)))
            else:
                acc = _REGION_OPS[op](acc, self[arg])
        return acc

    def footprint(self) -> db.Box:
        """The cell's placement box (dbu): the boundary layer's bbox, else the cell bbox."""
        names = [n for hint in _FOOTPRINT_HINTS for n in self.tech.layers if hint in n]
        for n in names:
            reg = self[n]
            if not reg.is_empty():
                return reg.bbox()
        return self.cell.bbox()


def parse_recipes(tech: Technology) -> dict[str, Recipe]:
    """All derived recipes of ``tech``, parsed (the model validator already checked the names)."""
    return {name: parse_recipe(text) for name, text in tech.derived.items()}
