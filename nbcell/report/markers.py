"""DRC markers read back from a cell's KLayout marker database (``.lyrdb``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import klayout.db as kdb
import klayout.rdb as rdb

#: a marker shape in µm, as KLayout's marker browser shows it
Shape = kdb.DBox | kdb.DPolygon | kdb.DEdge | kdb.DEdgePair | kdb.DPath | kdb.DText


@dataclass(frozen=True)
class Marker:
    """One violation: the rule (category) and its shape in µm."""

    rule: str
    shape: Shape

    @property
    def bbox(self) -> kdb.DBox:
        """Bounding box in µm (an edge pair's box covers both edges)."""
        return self.shape.bbox()


@dataclass
class MarkerDb:
    """What a ``.lyrdb`` holds: its top cell, the cells and categories it names, and every marker."""

    top_cell: str
    cells: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)

    def by_rule(self) -> dict[str, list[Marker]]:
        """Rule id -> its markers, rules in first-seen order."""
        out: dict[str, list[Marker]] = {}
        for m in self.markers:
            out.setdefault(m.rule, []).append(m)
        return out


def _shape(value: rdb.RdbItemValue) -> Shape | None:
    for test, get in (("is_box", "box"), ("is_polygon", "polygon"), ("is_edge_pair", "edge_pair"),
                      ("is_edge", "edge"), ("is_path", "path"), ("is_text", "text")):
        if getattr(value, test)():
            return getattr(value, get)()
    return None  # string or float values carry no geometry


def read_lyrdb(path: str | Path) -> MarkerDb:
    """Load a marker database the way KLayout's marker browser does; raises OSError if unreadable."""
    db = rdb.ReportDatabase("")
    try:
        db.load(str(path))
    except RuntimeError as e:  # KLayout reports a parse error as RuntimeError
        raise OSError(f"{path}: cannot read marker database: {e}") from None
    out = MarkerDb(db.top_cell_name)
    out.cells = [c.name() for c in db.each_cell()]
    out.categories = [c.name() for c in db.each_category()]
    names = {c.rdb_id(): c.name() for c in db.each_category()}
    for item in db.each_item():
        rule = names.get(item.category_id(), "?")
        for v in item.each_value():
            s = _shape(v)
            if s is not None:
                out.markers.append(Marker(rule, s))
    return out
