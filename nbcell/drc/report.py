"""DRC result of one cell and its KLayout marker database (``.lyrdb``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import klayout.db as db
import klayout.rdb as rdb

from nbcell.drc.rules import Markers
from nbcell.pdk import Rule

#: one marker: a polygon, edge or edge pair in dbu
Marker = db.Polygon | db.Edge | db.EdgePair


@dataclass
class DrcResult:
    """Violations of one cell. Each polygon / edge / edge pair of a marker collection counts once."""

    cell_name: str
    dbu: float
    #: (rule, marker collection in dbu) for every rule entry with at least one marker
    hits: list[tuple[Rule, Markers]] = field(default_factory=list)
    #: every rule evaluated on this cell (one per YAML entry), in YAML order
    evaluated: list[Rule] = field(default_factory=list)
    #: rule id -> why it could not be evaluated (checked kind, but data missing)
    not_evaluated: dict[str, str] = field(default_factory=dict)

    @property
    def violations(self) -> int:
        return sum(m.count() for _, m in self.hits)

    @property
    def by_rule(self) -> dict[str, int]:
        """Official rule id -> number of markers (only rules that fired)."""
        counts: Counter[str] = Counter()
        for rule, m in self.hits:
            counts[rule.id] += m.count()
        return {k: v for k, v in counts.items() if v}

    @property
    def markers(self) -> list[tuple[str, Marker]]:
        """One (rule id, marker in dbu) per violation."""
        return [(rule.id, obj) for rule, m in self.hits for obj in m.each()]

    @property
    def clean(self) -> bool:
        return not self.hits

    def write_lyrdb(self, path: str | Path, cell_name: str, gds_path: str | Path | None = None) -> Path:
        """Write a KLayout marker database: one category per official rule id, markers in µm."""
        db_ = rdb.ReportDatabase(f"nbcell DRC {cell_name}")
        db_.description = f"nbcell DRC of {cell_name}"
        db_.generator = "nbcell.drc (klayout.db)"
        db_.top_cell_name = cell_name
        if gds_path is not None:
            db_.original_file = str(gds_path)
        rcell = db_.create_cell(cell_name)
        categories: dict[str, rdb.RdbCategory] = {}
        for rule in self.evaluated:
            if rule.id not in categories:
                categories[rule.id] = db_.create_category(rule.id)
            cat = categories[rule.id]
            text = _describe(rule)
            cat.description = f"{cat.description}; {text}" if cat.description else text
        to_um = db.CplxTrans(self.dbu)
        for rule, m in self.hits:
            cat = categories.get(rule.id) or db_.create_category(rule.id)
            db_.create_items(rcell.rdb_id(), cat.rdb_id(), to_um, m)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        db_.save(str(path))
        return path


def _describe(rule: Rule) -> str:
    """Short human text of one rule entry, µm / µm² as in the YAML."""
    val = "" if rule.value is None else f" {rule.value:g}{' um2' if 'area' in rule.kind else ' um'}"
    cond = f" ({rule.cond})" if rule.cond else ""
    return f"{rule.kind} {'/'.join(rule.layers)}{val}{cond}"
