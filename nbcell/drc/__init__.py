"""DRC of one cell, generated from the process rules (``Technology.rules``) with ``klayout.db``.

``run_drc(layout, cell, tech)`` flattens ``cell`` (in isolation), builds the
drawn and derived layers it needs and evaluates every checked rule
(``Rule.checked``: not skipped; a descriptive kind only where its check fields
decide it on one cell). Rule ``exceptions``
in the YAML are documentation only and never suppress a marker.

DRC and LVS of one cell can share its flattened layers::

    layers = CellLayers.of(layout, cell, process.technology)
    drc = run_drc(layout, cell, process.technology, layers)
    lvs = run_lvs(layout, cell, process, reference, layers=layers)
"""

from __future__ import annotations

from dataclasses import dataclass

import klayout.db as db

from nbcell.drc.layers import CellLayers, Recipes, recipes_of
from nbcell.drc.report import DrcResult, Marker
from nbcell.drc.rules import CHECKS, Markers, RuleDataError, Spec, evaluate
from nbcell.pdk import Rule, Technology

__all__ = ["CellLayers", "DrcResult", "Marker", "Markers", "RuleDataError", "checked_rules", "rule_coverage",
           "run_drc"]


@dataclass(frozen=True)
class _Plan:
    """Per-technology (and database unit) preparation, reused for every cell."""

    tech: Technology
    recipes: Recipes
    specs: tuple[Spec, ...]


_PLANS: dict[tuple[int, float], _Plan] = {}


def _plan(tech: Technology, dbu: float) -> _Plan:
    key = (id(tech), dbu)
    plan = _PLANS.get(key)
    if plan is None or plan.tech is not tech:  # id() of a collected tech may be reused
        rules = checked_rules(tech)
        missing = sorted({r.kind for r in rules} - set(CHECKS))
        if missing:
            raise NotImplementedError(f"{tech.name}: no check for rule kind(s) {missing}")
        specs = tuple(Spec.of(r, dbu) for r in rules)
        plan = _PLANS[key] = _Plan(tech, recipes_of(tech), specs)
    return plan


def checked_rules(tech: Technology) -> list[Rule]:
    """The rule entries ``run_drc`` evaluates (YAML order): ``Rule.checked``."""
    return [r for r in tech.rules if r.checked]


def rule_coverage(tech: Technology) -> list[dict]:
    """Every rule of ``tech`` (YAML order): ``{"id", "kind", "layers", "value", "checked", "why"}``;
    ``why`` is the rule's condition when checked, else the reason it is not (the YAML's ``skip``,
    or a kind that no single cell can decide)."""
    rows = []
    for r in tech.rules:
        if r.checked:
            why = r.cond
        elif r.check.skip is not None:
            why = r.check.skip
        else:
            why = f"{r.kind} rule: not decidable on one cell" + (f" ({r.cond})" if r.cond else "")
        rows.append({"id": r.id, "kind": r.kind, "layers": list(r.layers), "value": r.value,
                     "checked": r.checked, "why": why})
    return rows


def run_drc(layout: db.Layout, cell: db.Cell, tech: Technology, layers: CellLayers | None = None) -> DrcResult:
    """Check ``cell`` (flattened, in isolation) against every checked rule of ``tech``.

    Rule values (µm) are converted with the layout's own database unit.
    ``layers``: the cell's layers when the caller shares them with ``run_lvs``.
    """
    plan = _plan(tech, layout.dbu)
    if layers is None:
        layers = CellLayers(tech, layout, cell, plan.recipes)
    elif layers.tech is not tech or layers.cell.cell_index() != cell.cell_index():
        raise ValueError(f"layers of {layers.cell.name} ({layers.tech.name}) passed to DRC of {cell.name} "
                         f"({tech.name})")
    res = DrcResult(cell.name, layout.dbu)
    for spec in plan.specs:
        rule = spec.rule
        try:
            found = evaluate(spec, layers)
        except RuleDataError as e:
            res.not_evaluated[rule.id] = str(e)
            continue
        res.evaluated.append(rule)
        res.hits.extend((rule, m) for m in found)
    return res
