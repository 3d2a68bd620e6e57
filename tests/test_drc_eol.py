"""End-of-line cut enclosures (gf180 CO.6a, V1.3c, V1.4b, V2.3c, V2.4b) and V2.4c on a real ported cell.

The built-in full adder drawn for gf180mcu_7t uses every cut level (contact, Via1, Via2) and
Metal3. It is clean as drawn; each mutation turns the metal around one cut into a straight
line that ends just past the cut, and the rule that guards that line end must fire.
"""

from __future__ import annotations

import klayout.db as db
import pytest

from conftest import builtin_generated
from nbcell.drc import run_drc
from nbcell.pdk import Technology, load_technology

TARGET, CELL = "gf180mcu_7t", "nbcell__fa_1"
EOL_IDS = {"CO.6a", "V1.3c", "V1.4b", "V2.3c", "V2.4b", "V2.4c"}


def _fresh() -> tuple[db.Layout, db.Cell, Technology]:
    """A private copy of the drawn cell (the cached one is shared by other tests)."""
    gen = builtin_generated(TARGET, CELL)
    layout = db.Layout()
    layout.dbu = gen.layout.dbu
    top = layout.create_cell(gen.top.name)
    top.copy_tree(gen.top)
    return layout, top, load_technology("gf180mcu")


def _region(layout: db.Layout, top: db.Cell, tech: Technology, name: str) -> db.Region:
    return db.Region(top.begin_shapes_rec(layout.layer(*tech.layer(name)))).merged()


def line_end_at_cut(layout: db.Layout, top: db.Cell, tech: Technology, metal: str, cut: str,
                    width: float, past: float) -> None:
    """Redraw ``metal`` around one ``cut`` as a ``width`` µm line that runs in from the side where
    the metal continued and ends ``past`` µm beyond the cut."""
    um = lambda v: round(v / layout.dbu)  # noqa: E731
    m, cuts = _region(layout, top, tech, metal), _region(layout, top, tech, cut)
    reach, half = um(0.5), um(width) // 2
    for c in sorted((p.bbox() for p in cuts.each()), key=lambda b: (b.left, b.bottom)):
        area = c.enlarged(reach, reach)
        cx, cy = c.center().x, c.center().y
        # the side where the metal leaves the box around the cut: the line comes in from there
        sides = {"left": db.Box(area.left - 1, cy - 1, area.left, cy + 1),
                 "right": db.Box(area.right, cy - 1, area.right + 1, cy + 1),
                 "down": db.Box(cx - 1, area.bottom - 1, cx + 1, area.bottom),
                 "up": db.Box(cx - 1, area.top, cx + 1, area.top + 1)}
        for side, probe in sides.items():
            if (m & db.Region(probe)).is_empty():
                continue
            end = um(past)
            bar = {"left": db.Box(area.left, cy - half, c.right + end, cy + half),
                   "right": db.Box(c.left - end, cy - half, area.right, cy + half),
                   "down": db.Box(cx - half, area.bottom, cx + half, c.top + end),
                   "up": db.Box(cx - half, c.bottom - end, cx + half, area.top)}[side]
            new = (m - db.Region(area)) + db.Region(bar)
            li = layout.layer(*tech.layer(metal))
            top.flatten(True)
            top.shapes(li).clear()
            top.shapes(li).insert(new.merged())
            return
    raise AssertionError(f"no {cut} of {CELL} with {metal} running away from it")


def test_ported_cell_clean_of_line_end_rules() -> None:
    layout, top, tech = _fresh()
    res = run_drc(layout, top, tech)
    evaluated = {r.id for r in res.evaluated}
    assert EOL_IDS <= evaluated
    assert not res.by_rule, res.by_rule


# a line narrower than 0.34 (its end edge shorter than 0.34) ending 0.02 past the cut: the end rule
# fires (with a 0.26 via the adjacent-side rule fires too: the end side is below 0.04)
@pytest.mark.parametrize("metal,cut,width,past,rule_id", [
    ("metal1", "contact", 0.30, 0.02, "CO.6a"),
    ("metal1", "via1", 0.30, 0.02, "V1.3c"),
    ("metal2", "via1", 0.30, 0.02, "V1.4b"),
    ("metal2", "via2", 0.30, 0.02, "V2.3c"),
    ("metal3", "via2", 0.30, 0.02, "V2.4b"),
    ("metal3", "via2", 0.30, 0.05, "V2.4c"),  # 0.02 on the sides: the end needs 0.06
])
def test_trimmed_line_end_fires(metal, cut, width, past, rule_id) -> None:
    layout, top, tech = _fresh()
    line_end_at_cut(layout, top, tech, metal, cut, width, past)
    assert rule_id in run_drc(layout, top, tech).by_rule


def test_contact_line_end_not_implied_by_co6b() -> None:
    """A 0.30 Metal1 line over a 0.22 contact keeps 0.04 on its sides and 0.045 at its end: CO.6b
    is met, CO.6a (0.06 at a line end) is not -- the fact sheet's "implied by CO.6b" does not hold."""
    tech = load_technology("gf180mcu")
    checked = tech.model_copy(update={"rules": [r for r in tech.rules if r.id in ("CO.6a", "CO.6b")]})
    layout = db.Layout()
    layout.dbu = tech.dbu
    cell = layout.create_cell("frag")
    m1, co = (layout.layer(*tech.layer(n)) for n in ("metal1", "contact"))
    cell.shapes(m1).insert(db.Box(0, 0, 300, 1000))  # a 0.30 wide line, its end at y = 1.0
    cell.shapes(co).insert(db.Box(40, 735, 260, 955))  # 0.045 short of the line end
    cell.shapes(co).insert(db.Box(40, 100, 260, 320))  # 0.10 from the other end: fine
    assert run_drc(layout, cell, checked).by_rule == {"CO.6a": 1}


def test_line_end_far_enough_passes() -> None:
    """The same line ending 0.06 past the via (the rule's value) passes V2.4b and V2.4c."""
    layout, top, tech = _fresh()
    line_end_at_cut(layout, top, tech, "metal3", "via2", 0.34, 0.06)
    assert not {"V2.4b", "V2.4c"} & set(run_drc(layout, top, tech).by_rule)


def test_wide_end_is_no_line_end() -> None:
    """A line wider than 0.34 has no line end: the end rule stays quiet where V2.4a still holds."""
    layout, top, tech = _fresh()
    line_end_at_cut(layout, top, tech, "metal3", "via2", 0.36, 0.02)
    assert "V2.4b" not in run_drc(layout, top, tech).by_rule
