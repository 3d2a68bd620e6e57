"""Drawn and derived layers of one flattened cell, as ``klayout.db.Region`` objects (dbu).

Layers are built lazily and once per cell: a rule asks for ``layers["ndiff"]``
and only the recipes it depends on are evaluated. Derived recipes come from
``Technology.derived`` and are evaluated strictly left to right
(``"activ not pactiv_full overlapping psd"`` = ``(activ - pactiv_full).overlapping(psd)``);
``grow``/``shrink`` take a distance in µm.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import klayout.db as db

from nbcell.pdk import Technology

_T = TypeVar("_T")
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
#: operators whose result is a subset of their left operand
_SHRINKING = {"and", "not", "interacting", "not_interacting", "inside", "outside", "overlapping"}
#: operators whose result shares no area with their right operand
_EXCLUDING = {"not", "not_interacting", "outside"}
_NUMBER = re.compile(r"-?\d+(\.\d+)?")

#: what ``a op b`` is when the bounding boxes of a and b do not touch, touch without sharing
#: area, or when b is one rectangle holding a ("acc": a itself, "empty"; absent: compute)
_APART = {"and": "empty", "not": "acc", "interacting": "empty", "not_interacting": "acc",
          "inside": "empty", "outside": "acc", "overlapping": "empty"}
_TOUCHING = {"and": "empty", "not": "acc", "inside": "empty", "outside": "acc", "overlapping": "empty"}
_COVERED = {"and": "acc", "not": "empty", "interacting": "acc", "not_interacting": "empty",
            "inside": "acc", "outside": "empty", "overlapping": "acc"}
#: substrings of layer names that hold the cell footprint, in order of preference
_FOOTPRINT_HINTS = ("boundary", "areaid_sc")


def _by_bbox(op: str, box: db.Box, other: db.Box, other_is_box: bool) -> str | None:
    """``"acc"``/``"empty"`` where ``a op b`` follows from the bboxes of a and b alone, else None.

    Merged polygons have area, so no polygon of ``a`` lies inside ``b`` or shares area
    with it when the boxes share none (touching counts as interacting and as outside).
    """
    if not box.touches(other):
        return _APART.get(op)
    if not box.overlaps(other):
        return _TOUCHING.get(op)
    if other_is_box and box.inside(other):
        return _COVERED.get(op)
    return None


@dataclass(frozen=True)
class Recipe:
    """A parsed derived-layer recipe: first operand, then (operator, operand) steps."""

    first: str
    steps: tuple[tuple[str, str], ...]


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


class Recipes:
    """The derived recipes of one technology, plus what they imply about set relations.

    ``subset`` / ``disjoint`` are proofs from the recipe text alone (``ngate = tgate and
    nplus`` lies inside ``nplus``; ``ndiff = ncomp not nwell`` never overlaps ``nwell``).
    Rules use them to skip boolean operations whose result is empty by construction.
    """

    def __init__(self, tech: Technology):
        self.tech = tech
        self.by_name = {name: parse_recipe(text) for name, text in tech.derived.items()}

    def __contains__(self, name: str) -> bool:
        return name in self.by_name

    def __getitem__(self, name: str) -> Recipe:
        return self.by_name[name]

    @functools.cache
    def find_and(self, a: str, b: str) -> str | None:
        """The derived layer whose recipe is ``a and b`` (or ``b and a``), if any."""
        for name, r in self.by_name.items():
            if (r.first, r.steps) in ((a, (("and", b),)), (b, (("and", a),))):
                return name
        return None

    @functools.cache
    def subset(self, x: str, y: str) -> bool:
        """True if layer ``x`` provably lies inside layer ``y``."""
        if x == y:
            return True
        r = self.by_name.get(x)
        if r is None:
            return False
        ok = self.subset(r.first, y)
        for op, arg in r.steps:
            if op == "and":
                ok = ok or self.subset(arg, y)
            elif op == "or":
                ok = ok and self.subset(arg, y)
            elif op not in _SHRINKING:
                ok = False
        return ok

    @functools.cache
    def disjoint(self, x: str, y: str) -> bool:
        """True if layers ``x`` and ``y`` provably share no area."""
        return self._excludes(x, y) or self._excludes(y, x)

    def _excludes(self, x: str, y: str) -> bool:
        r = self.by_name.get(x)
        if r is None:
            return False
        ok = self._excludes(r.first, y)
        for op, arg in r.steps:
            if op in _EXCLUDING:
                ok = ok or self.subset(y, arg)
            elif op == "and":
                ok = ok or self.disjoint(arg, y)
            elif op == "or":
                ok = ok and self.disjoint(arg, y)
            elif op not in _SHRINKING:
                ok = False
        return ok


_RECIPES: dict[int, Recipes] = {}


def recipes_of(tech: Technology) -> Recipes:
    """The parsed derived recipes of ``tech``, built once per technology object."""
    rec = _RECIPES.get(id(tech))
    if rec is None or rec.tech is not tech:  # id() of a collected tech may be reused
        rec = _RECIPES[id(tech)] = Recipes(tech)
    return rec


@dataclass
class CellLayers:
    """Regions of one cell (flattened, in isolation), keyed by drawn or derived layer name."""

    tech: Technology
    layout: db.Layout
    cell: db.Cell
    recipes: Recipes
    _cache: dict[str, db.Region] = field(default_factory=dict)
    _memo: dict[str, object] = field(default_factory=dict)

    @classmethod
    def of(cls, layout: db.Layout, cell: db.Cell, tech: Technology) -> CellLayers:
        """The layers of ``cell`` under ``tech``: pass one to ``run_drc`` and ``run_lvs`` to flatten once."""
        return cls(tech, layout, cell, recipes_of(tech))

    def to_dbu(self, um: float) -> int:
        """A length in µm as an integer number of database units."""
        return round(um / self.layout.dbu)

    def __getitem__(self, name: str) -> db.Region:
        reg = self._cache.get(name)
        if reg is None:
            reg = self._cache[name] = self._build(name)
        return reg

    def empty(self, name: str) -> bool:
        return self[name].is_empty()

    def is_box(self, name: str) -> bool:
        """True if the layer is one rectangle."""
        return self.memo(f"is_box:{name}", lambda: self[name].is_box())

    def edges(self, name: str) -> db.Edges:
        """Outline of the merged layer, oriented (interior on the right), built once."""
        return self.memo(f"edges:{name}", lambda: self[name].edges())

    def intersection(self, names: list[str]) -> db.Region:
        """``names[0] AND names[1] AND ...``, reusing derived layers with that recipe (``tgate``)."""
        return self[self.intersection_key(names)]

    def intersection_key(self, names: list[str]) -> str:
        """The layer key of :meth:`intersection` (``"tgate"``, ``"ngate&dualgate"``), usable with ``[]``."""
        acc = names[0]
        for other in names[1:]:
            acc = self.recipes.find_and(acc, other) or self._and_memo(acc, other)
        return acc

    def edges_inside_outside(self, edges: str, region: str) -> tuple[db.Edges, db.Edges]:
        """The outline of layer ``edges`` split into the parts strictly inside ``region`` and the rest,
        built once (the gate outline is split by poly for channel width and endcap alike)."""
        return self.memo(f"inside_outside:{edges}:{region}",
                         lambda: tuple(self.edges(edges).inside_outside_part(self[region])))

    def _and_memo(self, a: str, b: str) -> str:
        key = f"{a}&{b}"
        if key not in self._cache:
            self._cache[key] = self._op("and", self[a], b)
        return key

    def _op(self, op: str, acc: db.Region, arg: str) -> db.Region:
        """``acc op layer(arg)``, skipping work where the result is known exactly.

        Booleans cost ~50 µs even on a few shapes; :func:`_by_bbox` settles the
        common trivial cases (a marker layer over the whole cell, layers apart).
        A shortcut to ``acc`` itself is taken only where ``acc`` is merged (as
        every boolean result is), so the polygons are those the operation gives.
        INTERACTING and NOT_INTERACTING of one pair come from one split.
        """
        if op in _REGION_OPS:
            known = _by_bbox(op, acc.bbox(), self[arg].bbox(), self.is_box(arg))
            if known == "empty":
                return db.Region()
            if known == "acc" and acc.is_merged():
                return acc
        if op in ("interacting", "not_interacting"):
            # one pass gives both halves (contact_comp / contact_poly); ``acc`` is kept in the
            # memo so that its id() names it for as long as the memo lives
            halves = self.memo(f"split:{id(acc)}:{arg}", lambda: (acc, *acc.split_interacting(self[arg])))
            return halves[1] if op == "interacting" else halves[2]
        return _REGION_OPS[op](acc, self[arg])

    def memo(self, key: str, build: Callable[[], _T]) -> _T:
        """A helper object shared by several rules (a gate, an outline), built once per cell."""
        obj = self._memo.get(key)
        if obj is None:
            obj = self._memo[key] = build()
        return obj  # type: ignore[return-value]

    def raw(self, *names: str) -> db.Region:
        """The drawn shapes of these layers as they are (flattened, not merged; texts dropped)."""
        idx = []
        for name in names:
            if name not in self.tech.layers:
                raise KeyError(f"{self.tech.name}: {name!r} is not a drawn layer")
            gds = self.tech.layers[name].gds
            i = self.layout.find_layer(gds[0], gds[1])
            if i is not None:
                idx.append(i)
        if not idx:
            return db.Region()
        if len(idx) == 1 and self.cell.child_cells() == 0:
            # one layer of a leaf cell (all foundry cells): a copy is cheaper to merge than the layout
            return db.Region(self.cell.shapes(idx[0]))
        # several layers: the layout-backed region costs nothing to build (inserting the shapes of
        # each layer into one region costs more than the grid check that reads them)
        return db.Region(db.RecursiveShapeIterator(self.layout, self.cell, idx))

    def _build(self, name: str) -> db.Region:
        if name in self.recipes:
            return self._derive(self.recipes[name])
        # merged once into a flat region: every later operation reuses it (ops on the
        # layout-backed region re-walk the shapes and are ~25 % slower)
        return self.raw(name).merged()

    def _derive(self, recipe: Recipe) -> db.Region:
        acc = self[recipe.first]
        for op, arg in recipe.steps:
            if op in _SIZE_SIGN:
                acc = acc.sized(_SIZE_SIGN[op] * self.to_dbu(float(arg)))
            elif acc.is_empty() and op in _SHRINKING:
                break  # nothing left to intersect, subtract or select from
            else:
                acc = self._op(op, acc, arg)
        return acc

    def footprint(self) -> db.Box:
        """The cell's placement box (dbu): the boundary layer's bbox, else the cell bbox."""
        for hint in _FOOTPRINT_HINTS:
            for name in self.tech.layers:
                if hint in name and not self.empty(name):
                    return self[name].bbox()
        return self.cell.bbox()


@dataclass
class ClippedLayers(CellLayers):
    """The layers of a cell restricted to the part inside (``keep_inside``) or outside a marker
    region (dbu): every drawn and derived layer is clipped as it is built, as the decks' scoped
    rules do (``diff.not(areaid_sc)``). Clipping cuts new edges along the marker outline."""

    marker: db.Region = field(default_factory=db.Region)
    keep_inside: bool = False

    def _build(self, name: str) -> db.Region:
        reg = super()._build(name)
        return reg & self.marker if self.keep_inside else reg - self.marker
