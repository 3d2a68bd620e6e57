"""One check function per rule kind, built from ``klayout.db`` Region/Edges/EdgePairs operations.

Every function takes a :class:`Spec` (the rule with its values already in dbu)
and the cell's :class:`~nbcell.drc.layers.CellLayers`, and returns marker
collections in dbu (``Region``, ``Edges`` or ``EdgePairs``); each polygon /
edge / edge pair is one violation. A function returns ``[]`` as soon as an
input that the rule needs is empty, so absent layers cost nothing.

Distance checks are two-stage. The ``Region`` checks (``width_check``,
``space_check``, ``separation_check``, ``enclosing_check``) are the reference
semantics, shielding included, but cost ~30 µs per polygon. The same check on
the oriented outlines (``Edges``) is ~10x faster and, lacking shielding, finds
a superset of the violations. So the edge check runs first and the region
check only confirms where the edge check found something: clean shapes pay
for the fast check only, and the markers are always the region check's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import klayout.db as db

from nbcell.drc.layers import CellLayers
from nbcell.pdk import Rule

Markers = db.Region | db.Edges | db.EdgePairs

_E = db.Edges
_METRIC = {"euclidian": _E.Euclidian, "projection": _E.Projection}
_ZERO = {"never": _E.NeverIncludeZeroDistance, "always": _E.AlwaysIncludeZeroDistance}
#: by default touching and coincident edges count as distance 0 (KLayout's default too)
_TOUCHING = _E.IncludeZeroDistanceWhenTouching
_NEVER = _E.NeverIncludeZeroDistance
#: kinds measured with projection unless the rule says otherwise: the official decks
#: build the "adjacent side" cut enclosures from projected side enclosures, and a
#: channel is measured between parallel edges
_PROJECTION_KINDS = {"cut_enclosure_pair", "cut_enclosure_adjacent", "cut_enclosure_eol",
                     "channel_length", "channel_width"}
#: ignore_angle > 90 lets two perpendicular sides meeting at a corner be paired
_CORNER_ANGLE = 100.0


class RuleDataError(ValueError):
    """A checked rule that lacks the data its kind needs (reported, not evaluated)."""


@dataclass(frozen=True)
class Spec:
    """A rule prepared for checking: values in dbu (areas in dbu²), KLayout enums resolved."""

    rule: Rule
    layers: tuple[str, ...]
    d: int  # value, dbu
    trigger: int | None  # dbu
    area: int  # value, dbu²
    metric: db.Metrics
    zero: db.ZeroDistanceMode | None  # explicit zero-distance mode, else the kind's default
    after_abutment: bool

    @classmethod
    def of(cls, rule: Rule, dbu: float) -> Spec:
        own_metric = "metric" in rule.check.model_fields_set or rule.kind not in _PROJECTION_KINDS
        value = rule.value or 0.0
        return cls(
            rule=rule,
            layers=tuple(rule.layers),
            d=round(value / dbu),
            trigger=None if rule.trigger is None else round(rule.trigger / dbu),
            area=round(value / (dbu * dbu)),
            metric=_METRIC[rule.check.metric] if own_metric else _E.Projection,
            zero=_ZERO[rule.check.zero_distance] if rule.check.zero_distance else None,
            # the YAML marks implant areas that are only complete in a row this way
            after_abutment="after abutment" in rule.cond,
        )

    def zero_or(self, default: db.ZeroDistanceMode) -> db.ZeroDistanceMode:
        return self.zero if self.zero is not None else default


Check = Callable[[Spec, CellLayers], list[Markers]]


# ---- helpers ---------------------------------------------------------------------------
# Edge checks are called with positional arguments: KLayout's keyword handling costs
# more than the check itself on a small cell.
# (d, whole_edges, metrics, ignore_angle, min_projection, max_projection, zero_distance_mode)


def _nonempty(*markers: Markers) -> list[Markers]:
    return [m for m in markers if not m.is_empty()]


def _confirmed(fast: db.EdgePairs, exact: Callable[[], db.EdgePairs]) -> db.EdgePairs:
    """``exact()`` (the shielded region check) if the unshielded pre-check found anything."""
    return fast if fast.is_empty() else exact()


def _opts(s: Spec, zero: db.ZeroDistanceMode) -> dict:
    return dict(metrics=s.metric, zero_distance_mode=zero)


def _outside(L: CellLayers, outer: str, inner: str) -> db.Region:
    """The part of ``inner`` not covered by ``outer`` (skipped when provably empty)."""
    if L.recipes.subset(inner, outer) or _box_encloses(L, outer, inner, 0):
        return db.Region()
    return L.memo(f"outside:{inner}-{outer}", lambda: L[inner] - L[outer])


def _overlap(L: CellLayers, a: str, b: str) -> db.Region:
    """``a AND b`` (skipped when the recipes prove the layers disjoint)."""
    if L.recipes.disjoint(a, b) or not L[a].bbox().overlaps(L[b].bbox()):
        return db.Region()
    return L[a] & L[b]


# Bounding-box shortcuts: exact proofs that a rule cannot fire, at the cost of a box test.
# Wells, implants and marker layers are single rectangles in most cells.


def _box_encloses(L: CellLayers, outer: str, inner: str, d: int) -> bool:
    """True if ``outer`` is one rectangle holding all of ``inner`` with ``d`` dbu to spare."""
    return L.is_box(outer) and L[inner].bbox().enlarged(d, d).inside(L[outer].bbox())


def _far_apart(L: CellLayers, a: str, b: str, d: int) -> bool:
    """True if the bounding boxes of ``a`` and ``b`` are at least ``d`` dbu apart."""
    return not L[a].bbox().enlarged(d, d).overlaps(L[b].bbox())


def _corner_pairs(edges: db.Edges) -> db.EdgePairs:
    """Edge pairs (dbu) at every corner where two of ``edges`` meet at right angles."""
    return edges.width_check(1, False, _E.Euclidian, _CORNER_ANGLE, None, None, _TOUCHING)


# ---- single-layer checks ------------------------------------------------------------


def check_grid(s: Spec, L: CellLayers) -> list[Markers]:
    """Every vertex of every drawn shape on the ``value`` grid (raw shapes, not merged)."""
    drawn = [n for n in s.layers if n in L.tech.layers]
    # raw polygons of all drawn layers in one pass: a vertex hidden under an overlapping
    # shape is still drawn off grid
    regions = [L.raw(*drawn)] + [L[n] for n in s.layers if n not in L.tech.layers]
    out = []
    for reg in regions:
        reg.merged_semantics = False
        out.append(reg.grid_check(s.d, s.d))
        reg.merged_semantics = True
    return _nonempty(*out)


def check_width(s: Spec, L: CellLayers) -> list[Markers]:
    zero = s.zero_or(_TOUCHING)
    return _nonempty(*(
        _confirmed(L.edges(n).width_check(s.d, False, s.metric, None, None, None, zero),
                   lambda n=n: L[n].width_check(s.d, **_opts(s, zero)))
        for n in s.layers if not L.empty(n)))


def check_space(s: Spec, L: CellLayers) -> list[Markers]:
    """Same-layer space: between polygons and across notches of one polygon."""
    zero = s.zero_or(_TOUCHING)
    return _nonempty(*(
        _confirmed(L.edges(n).space_check(s.d, False, s.metric, None, None, None, zero),
                   lambda n=n: L[n].space_check(s.d, **_opts(s, zero)))
        for n in s.layers if not L.empty(n)))


def check_area(s: Spec, L: CellLayers) -> list[Markers]:
    """Merged polygons smaller than ``value`` µm².

    A rule whose ``cond`` says "after abutment" is measured on the layer merged with the
    cell's mirror images abutting on the left and on the right: rows are built by
    abutting cells (site symmetry Y), so a strip that reaches a side edge continues into
    the neighbour, and the cell mirrored about its own side edge is a legal neighbour
    drawn with the same strip. This reproduces the verdict of the official decks (which
    see the assembled row) without naming cells, while a small piece that does not
    reach a side edge gains nothing and is still flagged.
    """
    reg = L[s.layers[0]]
    if reg.is_empty():
        return []
    small = reg.with_area(0, s.area, False)
    if small.is_empty() or not s.after_abutment:
        return _nonempty(small)
    box = L.footprint()
    # Trans(2, True, dx, 0) maps x -> dx - x: the mirror about the vertical line x = dx/2
    row = reg + reg.transformed(db.Trans(2, True, 2 * box.left, 0)) \
        + reg.transformed(db.Trans(2, True, 2 * box.right, 0))
    return _nonempty(small.inside(row.with_area(0, s.area, False)))


def check_enclosed_area(s: Spec, L: CellLayers) -> list[Markers]:
    """Holes of the merged layer smaller than ``value`` µm²."""
    reg = L[s.layers[0]]
    if reg.is_empty():
        return []
    return _nonempty(reg.holes().with_area(0, s.area, False))


def check_cut_size(s: Spec, L: CellLayers) -> list[Markers]:
    """Cuts must be exact ``value`` squares (merged: overlapping cuts are not squares)."""
    reg = L[s.layers[0]]
    if reg.is_empty():
        return []
    return _nonempty(reg.non_squares(), reg.squares().with_bbox_width(s.d, True))


# ---- two-layer checks ---------------------------------------------------------------


def check_spacing(s: Spec, L: CellLayers) -> list[Markers]:
    """Layer A to layer B; overlapping A and B is a violation too (distance below zero)."""
    na, nb = s.layers[0], s.layers[1]
    if L.empty(na) or L.empty(nb) or _far_apart(L, na, nb, s.d):
        return []
    zero = s.zero_or(_TOUCHING)
    eps = _confirmed(L.edges(na).separation_check(L.edges(nb), s.d, False, s.metric, None, None, None, zero),
                     lambda: L[na].separation_check(L[nb], s.d, **_opts(s, zero)))
    return _nonempty(eps, _overlap(L, na, nb))


def check_enclosure(s: Spec, L: CellLayers) -> list[Markers]:
    """A around B by ``value`` on every side; B must lie inside A (a flush side counts as 0)."""
    na, nb = s.layers[0], s.layers[1]
    if L.empty(nb):
        return []
    if L.empty(na):
        return [L[nb]]
    if _box_encloses(L, na, nb, s.d):
        return []
    zero = s.zero_or(_TOUCHING)
    eps = _confirmed(L.edges(na).enclosing_check(L.edges(nb), s.d, False, s.metric, None, None, None, zero),
                     lambda: L[na].enclosing_check(L[nb], s.d, **_opts(s, zero)))
    return _nonempty(eps, _outside(L, na, nb))


def check_extension(s: Spec, L: CellLayers) -> list[Markers]:
    """A past B (endcap, source/drain length), measured from B's edges inside A.

    B's edges lying on A's outline are the sides along which A merely continues (a
    gate's sides along the poly); they are not measured (zero distance never). An
    extension of zero leaves two such edges meeting at a corner of B: flagged too.
    """
    na, nb = s.layers[0], s.layers[1]
    if L.empty(nb):
        return []
    if L.empty(na):
        return [L[nb]]
    # B's edges strictly inside A are measured; the others lie on A's outline (when B is
    # inside A), and the shielded check never measures from those (the coincident edge
    # of A shields them), so the pre-check leaves them out
    inner, flush = L.edges_inside_outside(nb, na)
    zero = s.zero_or(_NEVER)
    eps = _confirmed(L.edges(na).enclosing_check(inner, s.d, False, s.metric, None, None, None, zero),
                     lambda: L[na].enclosing_check(L[nb], s.d, **_opts(s, zero)))
    return _nonempty(eps, _corner_pairs(flush), _outside(L, na, nb))


def check_no_overlap(s: Spec, L: CellLayers) -> list[Markers]:
    na, nb = s.layers[0], s.layers[1]
    if L.empty(na) or L.empty(nb):
        return []
    return _nonempty(_overlap(L, na, nb))


def check_inside(s: Spec, L: CellLayers) -> list[Markers]:
    """Every part of B covered by A (enclosure 0 allowed)."""
    na, nb = s.layers[0], s.layers[1]
    if L.empty(nb):
        return []
    return _nonempty(_outside(L, na, nb))


# ---- cut enclosures by side ----------------------------------------------------------


def _side_pairs(s: Spec, L: CellLayers) -> db.EdgePairs:
    """(A edge, cut side part) pairs where a cut side is enclosed by less than ``value``.

    Flush sides are included. Projected side enclosures need no shielding: with
    projection a nearer facing edge of A is always the one measured, so the edge
    check is used directly.
    """
    outer, cut = L.edges(s.layers[0]), L.edges(s.layers[1])
    return outer.enclosing_check(cut, s.d, False, s.metric, None, None, None, s.zero_or(_TOUCHING))


def check_cut_enclosure_pair(s: Spec, L: CellLayers) -> list[Markers]:
    """``value`` on one of two adjacent sides: a cut fails where two adjacent sides are both short.

    This is the corner construction of the official decks (sky130 li.5 / m1.5, IHP
    M1.c1): short sides come from a projected enclosure check, and a cut is flagged
    only where two of them meet at a corner, so L-shaped surroundings pass too.
    """
    na, nb = s.layers[0], s.layers[1]
    if L.empty(nb):
        return []
    if L.empty(na):
        return [L[nb]]
    corners = _corner_pairs(_side_pairs(s, L).second_edges())
    bad = L[nb].interacting(corners.polygons(1)) if not corners.is_empty() else db.Region()
    return _nonempty(bad, _outside(L, na, nb))


def check_cut_enclosure_adjacent(s: Spec, L: CellLayers) -> list[Markers]:
    """A side enclosed by less than ``trigger`` needs ``value`` on both neighbouring sides (gf180 CO.6b)."""
    na, nb = s.layers[0], s.layers[1]
    if s.trigger is None:
        raise RuleDataError(f"rule {s.rule.id}: cut_enclosure_adjacent needs a trigger")
    if L.empty(nb):
        return []
    if L.empty(na):
        return [L[nb]]
    outside = _outside(L, na, nb)
    short = _side_pairs(s, L)
    corners = _corner_pairs(short.second_edges())
    if corners.is_empty():
        return _nonempty(outside)
    # a corner of two sides below `value` is bad when one of them is also below `trigger`
    below_trigger = short.with_distance(0, s.trigger, False).second_edges()
    bad_corners = corners.polygons(1).interacting(below_trigger)
    return _nonempty(L[nb].interacting(bad_corners), outside)


def check_cut_enclosure_eol(s: Spec, L: CellLayers) -> list[Markers]:
    """Line ends of A (edges shorter than ``trigger``, the end-of-line width) pass a cut by ``value``."""
    na, nb = s.layers[0], s.layers[1]
    if s.trigger is None:
        raise RuleDataError(f"rule {s.rule.id}: cut_enclosure_eol needs trigger = the line-end width (µm)")
    if L.empty(na) or L.empty(nb):
        return []
    eol = L.edges(na).with_length(0, s.trigger, False)
    return _nonempty(eol.enclosing_check(L.edges(nb), s.d, False, s.metric, None, None, None, s.zero_or(_TOUCHING)))


# ---- transistors ---------------------------------------------------------------------


def _gate(L: CellLayers, names: tuple[str, ...]) -> str:
    """The layer key of diff AND poly [AND implant] (a derived layer with that recipe if any: ``tgate``)."""
    return L.intersection_key(list(names))


def _gate_span(s: Spec, L: CellLayers, inside: str, outside: str) -> list[Markers]:
    """Width check between the gate edges strictly inside ``inside`` (with an implant as third
    layer: also off the ``outside`` outline, an implant edge lying strictly inside poly/diff)."""
    gate = _gate(L, s.layers)
    if L.empty(gate):
        return []
    edges = L.edges_inside_outside(gate, inside)[0]
    if len(s.layers) > 2:
        edges = edges.outside_part(L[outside])
    return _nonempty(edges.width_check(s.d, False, s.metric, None, None, None, s.zero_or(_TOUCHING)))


def check_channel_length(s: Spec, L: CellLayers) -> list[Markers]:
    """Gate length: between the source/drain sides, i.e. gate edges inside diff and on the poly
    outline (an edge on the diff outline too is a zero end-cap, not a side). Layers: diff, poly[, implant]."""
    return _gate_span(s, L, s.layers[0], s.layers[1])


def check_channel_width(s: Spec, L: CellLayers) -> list[Markers]:
    """Gate width: between the channel ends, i.e. gate edges inside poly and on the diff outline."""
    return _gate_span(s, L, s.layers[1], s.layers[0])


CHECKS: dict[str, Check] = {
    "grid": check_grid,
    "width": check_width,
    "space": check_space,
    "spacing": check_spacing,
    "enclosure": check_enclosure,
    "extension": check_extension,
    "cut_size": check_cut_size,
    "cut_enclosure_pair": check_cut_enclosure_pair,
    "cut_enclosure_adjacent": check_cut_enclosure_adjacent,
    "cut_enclosure_eol": check_cut_enclosure_eol,
    "area": check_area,
    "enclosed_area": check_enclosed_area,
    "channel_length": check_channel_length,
    "channel_width": check_channel_width,
    "no_overlap": check_no_overlap,
    "inside": check_inside,
}
