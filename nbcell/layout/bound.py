"""A true lower bound of a cell's width: no layout that obeys the process's rules with its template is narrower.

Per diffusion row (N, P), in database units:

    width = Σ L_f + (F − T) · S_poly + T · (2 · E + S_diff)

- F fingers: each device group (the devices LVS merges: same type, gate, drain/source pair and L)
  needs ⌈total W / W_max⌉ fingers, W_max the widest finger the template's row holds (its
  ``max_finger_w``, the foundry's widest gate, or the room :func:`nbcell.layout.frame.row_limits`
  leaves, whichever is larger);
- T islands: a diffusion island is a trail of the row's diffusion multigraph (nets are vertices,
  fingers edges), so the row needs at least the fewest trails covering it (:func:`euler_trails`);
- inside an island neighbouring gates keep only the poly space S_poly (an uncontacted shared
  source/drain), each finger adding its own gate length L_f;
- each island end reaches E past its outer gate, the smaller of the source/drain extension and a
  contacted end (gate-to-contact space + contact size + diffusion enclosure of the contact);
- islands keep the diffusion space S_diff between them, and the two cell edges S_diff together:
  a cell abuts a copy of itself, so its left and right diffusion margins add up to S_diff at least.

The width is the wider row, rounded up to whole sites. Nothing else is assumed: the N and P gates
need not align, no source/drain needs a contact, the routing takes no room. The one assumption
about the drawing: a row holds one finger per gate position (no two fingers stacked one above the
other inside a row); the foundry cells that stack are named in ``tests/test_bound.py``.

Rule ids by technology (the values come through :func:`nbcell.layout.rules.load_rules`, keys below):

============  ==========  ===========  ==========  =======  ============  ==========
technology    S_poly      E: S/D ext.  co to gate  co size  diff enc.     S_diff
key           poly.space  diff.sd_ext  co.to_gate  co.size  co.diff_enc   diff.space
============  ==========  ===========  ==========  =======  ============  ==========
gf180mcu      PL.3a       DF.6_5V      CO.7        CO.1     CO.4          DF.3a_5V
sky130        poly.2      poly.7       licon.11a   licon.1  licon.5a      difftap.3
sg13g2        Gat.b       Act.c        Cnt.f       Cnt.a    Cnt.c         Act.b
============  ==========  ===========  ==========  =======  ============  ==========

L is the sized device's own gate length (at least the minimum channel length: PL.2_5V, poly.1a, Gat.a).
"""

from __future__ import annotations

from collections import defaultdict

from nbcell.layout.frame import row_limits
from nbcell.layout.rules import Rules, load_rules
from nbcell.netlist import Cell, Transistor
from nbcell.pdk import Process


def euler_trails(edges: list[tuple[str, str]]) -> int:
    """Fewest trails covering every edge of the multigraph (sum over components of max(1, odd/2))."""
    parent: dict[str, str] = {}

    def find(a: str) -> str:
        while parent.setdefault(a, a) != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    deg: dict[str, int] = defaultdict(int)
    for a, b in edges:
        deg[a] += 1
        deg[b] += 1
        parent[find(a)] = find(b)
    odd: dict[str, int] = defaultdict(int)
    for v, d in deg.items():
        odd[find(v)] += d % 2
    return sum(max(1, o // 2) for o in odd.values())


def max_finger_dbu(process: Process, rules: Rules) -> dict[str, int]:
    """The widest finger (dbu) a layout with ``process``'s template can give each row type."""
    tpl = process.template
    (n_lo, n_hi), (p_lo, p_hi) = row_limits(process, rules)
    to = lambda um: round(um / rules.dbu)  # noqa: E731
    return {"n": max(to(tpl.n_row.max_finger_w), n_hi - n_lo), "p": max(to(tpl.p_row.max_finger_w), p_hi - p_lo)}


def row_fingers(transistors: list[Transistor], w_max: int, dbu: float) -> list[tuple[str, str, int]]:
    """The fewest fingers (drain, source, L in dbu) of one row: parallel devices merged, as LVS
    merges them, and each group split into ⌈total W / ``w_max``⌉."""
    groups: dict[tuple, int] = defaultdict(int)
    for t in transistors:
        d, s = sorted((t.drain, t.source))
        groups[(t.gate, d, s, round(t.l / dbu))] += round(t.w / dbu) * t.nf * t.m
    out = []
    for (_gate, d, s, length), total in groups.items():
        out += [(d, s, length)] * max(1, -(-total // w_max))
    return out


def width_lower_bound_um(cell: Cell, process: Process) -> float:
    """Width (µm, whole sites) below which no rule-obeying layout of the sized ``cell`` with the
    template of ``process`` exists (see the module docstring); one site for a cell without MOS devices."""
    site_um = process.template.site.width
    if not cell.transistors:
        return site_um
    r = load_rules(process)
    w_max = max_finger_dbu(process, r)
    end = min(r["diff.sd_ext"], r["co.to_gate"] + r["co.size"] + r.co_enc("diff").small)
    widest = 0
    for row in ("n", "p"):
        fs = row_fingers([t for t in cell.transistors if t.type == row], w_max[row], r.dbu)
        if not fs:
            continue
        islands = euler_trails([(d, s) for d, s, _ in fs])
        width = (sum(length for _, _, length in fs) + (len(fs) - islands) * r["poly.space"]
                 + islands * (2 * end + r["diff.space"]))
        widest = max(widest, width)
    site = round(site_um / r.dbu)
    return round(-(-widest // site) * site * r.dbu, 4)
