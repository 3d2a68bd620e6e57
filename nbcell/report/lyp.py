"""KLayout layer properties (``.lyp``) generated from a process's layer table.

``nbcell report`` writes ``DIR/<target>.lyp``; the file serves any GDS of that target in KLayout
(``klayout -l DIR/sky130_hd.lyp cell.gds``). From Python: ``write_lyp(load_process(name), path)``.

Each layer gets a role (from the template's ``layer_roles``, else guessed from
its name) and each role a colour, fill pattern and drawing rank. KLayout draws
later entries over earlier ones, so the file lists wells first and text last.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from nbcell.atomic import write_text_atomic
from nbcell.pdk import Process

# KLayout's built-in dither patterns (index into its standard table)
SOLID, HOLLOW, DOTS, SPARSE_DOTS, HATCH_LEFT, HATCH_LEFT_LIGHT, HATCH_RIGHT = 0, 1, 2, 3, 4, 5, 8
CROSS_LIGHT = 12

#: metal colours by level (li = level 0); vias take the darker shade of the metal below
_METALS = ["#8e44ad", "#1f5fbf", "#d4a017", "#17a2b8", "#8c564b", "#7f8c8d", "#c0392b"]
_VIAS = ["#4a235a", "#0b2a5c", "#6e5200", "#0b5561", "#4a2c26", "#3d4646", "#601c16"]


@dataclass(frozen=True)
class Style:
    """How one layer is drawn: colours as ``#rrggbb``, a KLayout dither index, rank bottom→top."""

    color: str
    dither: int
    rank: float
    visible: bool = True


_FIXED = {
    "nwell": Style("#7fa7ff", SPARSE_DOTS, 0),
    "pwell": Style("#ffb36b", SPARSE_DOTS, 0.1),
    "nimplant": Style("#2e9e5b", HOLLOW, 1),
    "pimplant": Style("#d6336c", HOLLOW, 1.1),
    "vt_implant": Style("#9b6fcf", HOLLOW, 1.2),
    "diff": Style("#2f9e44", HATCH_LEFT, 2),
    "tap": Style("#0c8599", HATCH_LEFT, 2.1),
    "poly": Style("#e03131", HATCH_RIGHT, 3),
    "contact": Style("#212529", SOLID, 4),
    "boundary": Style("#000000", HOLLOW, 30),
    "blockage": Style("#868e96", CROSS_LIGHT, 29, visible=False),
    "marker": Style("#adb5bd", HOLLOW, 0.5, visible=False),
    "label": Style("#212529", HOLLOW, 32),
    "pin": Style("#495057", HOLLOW, 31),
}


def role_style(role: str) -> Style:
    """The style of a role name (``m2``, ``via1``, ``m1_pin``, ``diff``...); unknown roles are hidden."""
    if role in _FIXED:
        return _FIXED[role]
    base, _, kind = role.rpartition("_")
    if kind in ("pin", "label") and base:
        # pins and text keep their metal's colour, drawn over everything as outlines / text
        s = role_style(base)
        return Style(s.color, HOLLOW, 31 if kind == "pin" else 32)
    if role == "li":
        return Style(_METALS[0], HATCH_LEFT_LIGHT, 5)
    if role == "mcon":
        return Style(_VIAS[0], SOLID, 5.5)
    m = re.fullmatch(r"(m|via)(\d)", role)
    if m:
        level = min(int(m[2]), len(_METALS) - 1)
        if m[1] == "m":
            return Style(_METALS[level], HATCH_LEFT_LIGHT if level % 2 else HATCH_RIGHT, 4 + 2 * level)
        return Style(_VIAS[level], SOLID, 5 + 2 * level)
    return _FIXED["marker"]


def layer_roles(process: Process) -> dict[str, str]:
    """Role of every layer of the process: the template's ``layer_roles`` first, then name patterns."""
    tech = process.technology
    named = {}
    if process.template is not None:
        named = {layer: role for role, layer in process.template.layer_roles.items()}
        named.setdefault(process.template.boundary_layer, "boundary")
    roles: dict[str, str] = {}
    for name in tech.layers:
        roles[name] = named.get(name) or _guess_role(name, named)
    return roles


def _guess_role(name: str, named: dict[str, str]) -> str:
    low = name.lower()
    for suffix, kind in (("_label", "label"), ("_text", "label"), ("_pin", "pin")):
        if low.endswith(suffix):
            base = named.get(name[: -len(suffix)])
            return f"{base}_{kind}" if base else kind
    if low in ("text",) or low.endswith("text"):
        return "label"
    if "boundary" in low:
        return "boundary"
    if low.endswith(("_blk", "_block")):
        return "blockage"
    if low in ("nwell", "pwell"):
        return low
    return "marker"


def layer_properties(process: Process) -> str:
    """The ``.lyp`` XML for ``process``: one entry per distinct GDS layer/datatype, drawn by role rank."""
    roles = layer_roles(process)
    entries, seen = [], set()
    for name, layer in process.technology.layers.items():
        if layer.gds in seen:  # two names for one GDS pair: the first one names it
            continue
        seen.add(layer.gds)
        entries.append((role_style(roles[name]), name, layer.gds))
    entries.sort(key=lambda e: (e[0].rank, e[2]))  # stable order: rank, then GDS number
    parts = ['<?xml version="1.0" encoding="utf-8"?>', "<layer-properties>"]
    for style, name, (lay, dt) in entries:
        parts.append(_entry(style, f"{name} {lay}/{dt}", f"{lay}/{dt}@1"))
    parts += [f" <name>{escape(process.name)}</name>", "</layer-properties>", ""]
    return "\n".join(parts)


def _entry(style: Style, name: str, source: str) -> str:
    vis = "true" if style.visible else "false"
    return (f" <properties>\n  <frame-color>{style.color}</frame-color>\n  <fill-color>{style.color}</fill-color>\n"
            f"  <frame-brightness>0</frame-brightness>\n  <fill-brightness>0</fill-brightness>\n"
            f"  <dither-pattern>I{style.dither}</dither-pattern>\n  <valid>true</valid>\n"
            f"  <visible>{vis}</visible>\n  <transparent>false</transparent>\n  <width>1</width>\n"
            f"  <marked>false</marked>\n  <xfill>false</xfill>\n  <animation>0</animation>\n"
            f"  <name>{escape(name)}</name>\n  <source>{escape(source)}</source>\n </properties>")


def write_lyp(process: Process, path: str | Path) -> Path:
    """Write ``process``'s layer properties to ``path``; an unchanged file is left alone (keeps its mtime)."""
    path = Path(path)
    text = layer_properties(process)
    if not (path.is_file() and path.read_text() == text):
        write_text_atomic(path, text)
    return path

