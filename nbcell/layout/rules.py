"""Design-rule values the generator needs, read from the process by official rule id.

Each technology has a short table mapping what the generator needs
(``"co.to_gate"``: diffusion contact to gate) to the official rule id
(``CO.7`` in gf180mcu, ``licon.11a`` in sky130, ``Cnt.f`` in sg13g2); the
value always comes from ``Technology.rules``. All values are µm (areas µm²);
:class:`Rules` converts them to integer database units (dbu) once.
"""

from __future__ import annotations

from dataclasses import dataclass

from nbcell.pdk import Process, Rule, Technology


class LayoutError(ValueError):
    """A cell that cannot be laid out: names the cell and the reason."""


#: semantic need -> official rule id (optionally "id@layer" to pick the entry naming that layer)
RULE_IDS: dict[str, dict[str, str]] = {
    "gf180mcu": {
        "diff.width": "DF.1a_5V", "diff.space": "DF.3a_5V", "diff.sd_ext": "DF.6_5V", "diff.area": "DF.9_5V",
        "well.ndiff_space": "DF.16_5V", "well.pdiff_enc": "DF.4c_5V",
        "nimplant.diff_enc": "NP.5b", "pimplant.diff_enc": "PP.5b",
        "poly.width": "PL.1_5V", "poly.space": "PL.3a", "poly.endcap": "PL.4", "poly.to_diff": "PL.5a_5V",
        "co.size": "CO.1", "co.space": "CO.2a", "co.diff_enc": "CO.4", "co.poly_enc": "CO.3",
        "co.to_gate": "CO.7", "co.poly_to_diff": "CO.8",
        "m0.width": "M1.1", "m0.space": "M1.2a", "m0.area": "M1.3",
        "m0.co_enc": "CO.6", "m0.co_enc_adj": "CO.6b",
        "cut1.size": "V1.1", "cut1.space": "V1.2a", "m0.cut1_enc": "V1.3a", "m0.cut1_enc_adj": "V1.3d",
        "m1.cut1_enc": "V1.4a", "m1.cut1_enc_adj": "V1.4c",
        "m1.width": "M2.1", "m1.space": "M2.2a", "m1.area": "M2.3",
        "cut2.size": "V2.1", "cut2.space": "V2.2a", "m1.cut2_enc": "V2.3b", "m1.cut2_enc_adj": "V2.3d",
        "m2.cut2_enc": "V2.4a", "m2.cut2_enc_adj": "V2.4c", "m2.cut2_eol": "V2.4b", "m2.width": "M3.1", "m2.space": "M3.2a", "m2.area": "M3.3",
    },
    "sky130": {
        "diff.width": "difftap.1@diff", "diff.space": "difftap.3", "diff.sd_ext": "poly.7",
        "well.ndiff_space": "difftap.9", "well.pdiff_enc": "difftap.8",
        "nimplant.diff_enc": "n/psd.5a@nsdm", "pimplant.diff_enc": "n/psd.5a@psdm",
        "poly.width": "poly.1a@poly", "poly.space": "poly.2", "poly.endcap": "poly.8", "poly.to_diff": "poly.4",
        "co.size": "licon.1", "co.space": "licon.2", "co.diff_enc": "licon.5a", "co.diff_enc_pair": "licon.5c",
        "co.poly_enc": "licon.8", "co.poly_enc_pair": "licon.8a",
        "co.to_gate": "licon.11a", "co.poly_to_diff": "licon.14", "co.poly_to_pimplant": "licon.9",
        "npc.enc": "licon.15", "npc.to_gate": "npc.4", "npc.width": "npc.1", "npc.space": "npc.2",
        "m0.width": "li.1", "m0.space": "li.3", "m0.area": "li.6", "m0.co_enc_pair": "li.5",
        "cut1.size": "ct.1", "cut1.space": "ct.2", "m0.cut1_enc": "ct.4",
        "m1.cut1_enc": "m1.4", "m1.cut1_enc_pair": "m1.5",
        "m1.width": "m1.1", "m1.space": "m1.2", "m1.area": "m1.6",
        "cut2.size": "via.1a", "cut2.space": "via.2", "m1.cut2_enc": "via.4a", "m1.cut2_enc_pair": "via.5a",
        "m2.cut2_enc": "m2.4", "m2.cut2_enc_pair": "m2.5", "m2.width": "m2.1", "m2.space": "m2.2", "m2.area": "m2.6",
    },
    "sg13g2": {
        "diff.width": "Act.a", "diff.space": "Act.b", "diff.sd_ext": "Act.c", "diff.area": "Act.d",
        "well.ndiff_space": "NW.d", "well.pdiff_enc": "NW.c",
        "poly.width": "Gat.a", "poly.space": "Gat.b", "poly.endcap": "Gat.c", "poly.to_diff": "Gat.d",
        "poly.area": "Gat.e",
        "pimplant.gate_enc": "pSD.i", "pimplant.ngate_space": "pSD.j", "pimplant.diff_enc": "pSD.c",
        "co.size": "Cnt.a", "co.space": "Cnt.b", "co.diff_enc": "Cnt.c", "co.poly_enc": "Cnt.d",
        "co.to_gate": "Cnt.f", "co.poly_to_diff": "Cnt.e",
        "m0.width": "M1.a", "m0.space": "M1.b", "m0.area": "M1.d",
        "m0.co_enc": "M1.c", "m0.co_enc_pair": "M1.c1",
        "cut1.size": "V1.a", "cut1.space": "V1.b", "m0.cut1_enc": "V1.c", "m0.cut1_enc_pair": "V1.c1",
        "m1.cut1_enc": "M2.c", "m1.cut1_enc_pair": "M2.c1",
        "m1.width": "M2.a", "m1.space": "M2.b", "m1.area": "M2.d",
        "cut2.size": "V2.a", "cut2.space": "V2.b", "m1.cut2_enc": "V2.c", "m1.cut2_enc_pair": "V2.c1",
        "m2.cut2_enc": "M3.c", "m2.width": "M3.a", "m2.space": "M3.b", "m2.area": "M3.d",
    },
}


def rule(tech: Technology, rule_id: str) -> Rule:
    """The rule entry with official id ``rule_id`` (``"difftap.1@diff"``: the entry naming layer ``diff``)."""
    rid, _, layer = rule_id.partition("@")
    for r in tech.rules:
        if r.id == rid and (not layer or layer in r.layers):
            return r
    raise LayoutError(f"technology {tech.name}: no rule {rule_id!r}")


@dataclass(frozen=True)
class Enc:
    """Enclosure of a square cut (dbu): ``small`` on one pair of opposite sides, ``big`` on the other."""

    small: int
    big: int


@dataclass(frozen=True)
class Rules:
    """Rule values of one technology in dbu (areas in dbu²); see :data:`RULE_IDS` for the ids."""

    dbu: float
    grid: int
    values: dict[str, int]
    areas: dict[str, int]

    def __getitem__(self, key: str) -> int:
        return self.values[key]

    def get(self, key: str, default: int = 0) -> int:
        return self.values.get(key, default)

    def area(self, key: str) -> int:
        return self.areas.get(key, 0)

    def enc(self, metal: str, cut: str) -> Enc:
        """Enclosure of ``cut`` by ``metal`` (``enc("m0", "co")``) as the generator-safe pair."""
        base = self.get(f"{metal}.{cut}_enc")
        pair = self.values.get(f"{metal}.{cut}_enc_pair")
        adj = self.values.get(f"{metal}.{cut}_enc_adj")
        big = base
        if pair is not None:
            big = max(base, pair)
        if adj is not None and base < self.values[f"{metal}.{cut}_enc_adj.trigger"]:
            big = max(base, adj)
        return Enc(base, big)

    def co_enc(self, what: str) -> Enc:
        """Enclosure of a contact by diffusion (``"diff"``) or poly (``"poly"``)."""
        base = self.get(f"co.{what}_enc")
        pair = self.values.get(f"co.{what}_enc_pair")
        return Enc(base, max(base, pair) if pair is not None else base)

    def snap_up(self, v: int) -> int:
        """Round a dbu length up to the manufacturing grid."""
        return -(-v // self.grid) * self.grid


def load_rules(process: Process) -> Rules:
    """All rule values the generator uses for ``process``, in dbu; raises if an id is missing."""
    tech = process.technology
    table = RULE_IDS.get(tech.name)
    if table is None:
        raise LayoutError(f"technology {tech.name}: the layout generator has no rule table for it")
    to = lambda um: round(um / tech.dbu)  # noqa: E731
    values: dict[str, int] = {}
    areas: dict[str, int] = {}
    for key, rid in table.items():
        r = rule(tech, rid)
        val = r.value or 0.0
        if r.kind in ("area", "enclosed_area"):
            areas[key] = round(val / (tech.dbu * tech.dbu))
            continue
        values[key] = to(val)
        if r.trigger is not None:
            values[f"{key}.trigger"] = to(r.trigger)
    return Rules(tech.dbu, to(tech.grid), values, areas)
