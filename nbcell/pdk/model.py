"""Typed process definitions: technology (layers, rules, devices) and process (template).

Everything is in µm (areas µm²). Files are validated with pydantic; a broken
file raises :class:`PdkError` naming the file and the field.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

RuleKind = Literal[
    "grid",
    "width",
    "space",
    "spacing",
    "enclosure",
    "extension",
    "cut_size",
    "cut_enclosure_pair",
    "cut_enclosure_adjacent",
    "cut_enclosure_eol",
    "area",
    "enclosed_area",
    "channel_length",
    "channel_width",
    "no_overlap",
    "inside",
    "overlap",
    "density",
    "max_distance",
    "connectivity",
    "forbidden",
    "aspect_ratio",
]

#: kinds that describe chip-level or topological rules, never checked on one cell
DESCRIPTIVE_KINDS = frozenset({"density", "max_distance", "connectivity", "forbidden", "aspect_ratio", "overlap"})

_RECIPE_OPS = {"and", "or", "not", "xor", "interacting", "not_interacting", "inside", "outside",
               "overlapping", "grow", "shrink"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Layer(_Strict):
    """A GDS layer/datatype pair and what it is for."""

    gds: tuple[int, int]
    purpose: str = ""

    @field_validator("gds")
    @classmethod
    def _gds_range(cls, v: tuple[int, int]) -> tuple[int, int]:
        if not (0 <= v[0] <= 65535 and 0 <= v[1] <= 65535):
            raise ValueError("GDS layer and datatype must be within 0..65535")
        return v


class RuleCheck(_Strict):
    """How a checker should evaluate a rule (or why it skips it)."""

    skip: str | None = None
    metric: Literal["euclidian", "projection"] = "euclidian"
    zero_distance: Literal["never", "always"] | None = None


class RuleExceptions(_Strict):
    """Foundry cells known to violate the rule in isolation (documentation, not a waiver)."""

    cells: list[str]
    reason: str


class Rule(_Strict):
    """One design rule with its official id. ``layers`` name drawn or derived layers."""

    id: str
    kind: RuleKind
    layers: list[str] = Field(min_length=1)
    value: float | None = None
    cond: str = ""
    trigger: float | None = None
    check: RuleCheck = RuleCheck()
    exceptions: RuleExceptions | None = None

    @property
    def checked(self) -> bool:
        return self.check.skip is None and self.kind not in DESCRIPTIVE_KINDS

    @model_validator(mode="after")
    def _value_needed(self) -> "Rule":
        needs_value = self.kind not in {"no_overlap", "inside", "forbidden", "connectivity"} | DESCRIPTIVE_KINDS
        if needs_value and self.check.skip is None and self.value is None:
            raise ValueError(f"rule {self.id} ({self.kind}) needs a value")
        if self.value is not None and self.value < 0:
            raise ValueError(f"rule {self.id}: value must not be negative")
        if self.kind == "cut_enclosure_adjacent" and self.trigger is None:
            raise ValueError(f"rule {self.id}: cut_enclosure_adjacent needs a trigger")
        return self


class DeviceModel(_Strict):
    """A netlist model name and what it means.

    ``w_is_total``: the model's ``w`` parameter is the total width over all
    fingers (IHP ``ng``) instead of one finger's width.
    """

    kind: Literal["mos", "diode", "resistor", "short", "capacitor"] = "mos"
    type: Literal["n", "p"] | None = None
    flavour: str = "svt"
    lvs_name: str | None = None
    l_min: float | None = None
    w_min: float | None = None
    w_is_total: bool = False
    recognition: list[str] = []
    absent: list[str] = []
    description: str = ""

    @model_validator(mode="after")
    def _mos_has_type(self) -> "DeviceModel":
        if self.kind == "mos" and self.type is None:
            raise ValueError("a mos device needs type: n or p")
        return self


class Technology(_Strict):
    """Layers, derived-layer recipes, design rules and device models of one process."""

    name: str
    description: str = ""
    dbu: float = Field(gt=0)
    grid: float = Field(gt=0)
    sources: dict[str, str] = {}
    layers: dict[str, Layer] = {}
    derived: dict[str, str] = {}
    rules: list[Rule] = []
    devices: dict[str, DeviceModel]

    @model_validator(mode="after")
    def _references(self) -> "Technology":
        known = set(self.layers)
        for name, recipe in self.derived.items():
            for tok in recipe.split():
                if tok in _RECIPE_OPS or _is_number(tok):
                    continue
                if tok not in known:
                    raise ValueError(f"derived.{name}: unknown layer {tok!r} in recipe {recipe!r}")
            known.add(name)
        for i, rule in enumerate(self.rules):
            for lay in rule.layers:
                if lay not in known:
                    raise ValueError(f"rules[{i}] ({rule.id}): unknown layer {lay!r}")
        for name, dev in self.devices.items():
            for lay in dev.recognition + dev.absent:
                if lay not in known:
                    raise ValueError(f"devices.{name}: unknown layer {lay!r}")
        return self

    def layer(self, name: str) -> tuple[int, int]:
        return self.layers[name].gds


def _is_number(tok: str) -> bool:
    return re.fullmatch(r"-?\d+(\.\d+)?", tok) is not None


class Span(_Strict):
    """A vertical extent y0..y1 in µm, and how far the shape overhangs the cell sides."""

    y0: float
    y1: float
    x_overhang: float = 0.0

    @model_validator(mode="after")
    def _ordered(self) -> "Span":
        if self.y1 <= self.y0:
            raise ValueError(f"y1 ({self.y1}) must be above y0 ({self.y0})")
        return self


class Site(_Strict):
    name: str
    width: float = Field(gt=0)
    height: float = Field(gt=0)
    symmetry: str = "Y"


class Rail(_Strict):
    """A power rail: net name, metal layer and y extent (centred on a cell edge)."""

    net: str
    layer: str
    y0: float
    y1: float


class Tie(_Strict):
    """A well or substrate tie under a rail: a diffusion strip across the cell (µm), contacted to
    the rail every site on the strip's centre line, under its own implant bands (layer -> span)."""

    net: str
    layer: str
    y0: float
    y1: float
    implants: dict[str, Span] = {}

    @model_validator(mode="after")
    def _ordered(self) -> "Tie":
        if self.y1 <= self.y0:
            raise ValueError(f"tie {self.net}: y1 ({self.y1}) must be above y0 ({self.y0})")
        return self


class DiffusionRow(_Strict):
    """Where one transistor type's diffusion may go, and the widest finger that fits (µm)."""

    y0: float
    y1: float
    max_finger_w: float = Field(gt=0)
    gate_length: float = Field(gt=0)
    contacted_pitch: float = Field(gt=0)
    uncontacted_pitch: float = Field(gt=0)

    @model_validator(mode="after")
    def _fits(self) -> "DiffusionRow":
        if self.max_finger_w > self.y1 - self.y0 + 1e-9:
            raise ValueError(f"max_finger_w {self.max_finger_w} does not fit in y {self.y0}..{self.y1}")
        return self


class Track(_Strict):
    direction: Literal["horizontal", "vertical"]
    pitch: float = Field(gt=0)
    offset: float = 0.0
    width: float = Field(gt=0)


class Pins(_Strict):
    """Pin conventions: shapes on ``layer`` (+ optional pin-purpose layer), text on ``label_layer``."""

    layer: str
    label_layer: str
    pin_layer: str | None = None
    power_layer: str
    power_label_layer: str
    power_pin_layer: str | None = None


class Supplies(_Strict):
    """Net names of the supplies and (if the library has them) the body pins."""

    power: str
    ground: str
    nwell_body: str | None = None  # bulk of the PMOS (n-well)
    pwell_body: str | None = None  # bulk of the NMOS


class Template(_Strict):
    """The cell template measured on the foundry's hand-drawn cells."""

    library: str
    site: Site
    height: float = Field(gt=0)
    boundary_layer: str
    rails: list[Rail] = Field(min_length=2)
    #: tie strips under the rails (sg13g2: P+ under VSS, N+ in the n-well under VDD)
    ties: list[Tie] = []
    wells: dict[str, Span] = {}
    implants: dict[str, Span] = {}
    markers: dict[str, Span] = {}
    n_row: DiffusionRow
    p_row: DiffusionRow
    pins: Pins
    tracks: dict[str, Track] = {}
    layer_roles: dict[str, str] = {}
    #: layer name -> name in the technology LEF (gf180 ``metal1`` -> ``Metal1``)
    lef_layers: dict[str, str] = {}
    notes: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> "Template":
        if abs(self.height - self.site.height) > 1e-9:
            raise ValueError(f"height {self.height} differs from site.height {self.site.height}")
        if not (self.n_row.y1 <= self.p_row.y0):
            raise ValueError("n_row must lie below p_row")
        for r in self.rails:
            if r.y1 <= r.y0:
                raise ValueError(f"rail {r.net}: y1 must be above y0")
        nets = {r.net for r in self.rails}
        for tie in self.ties:
            if tie.net not in nets:
                raise ValueError(f"tie {tie.net}: no rail of that net")
        return self


class MinInverter(_Strict):
    """Finger widths (µm) of the library's minimum-size inverter; the sizing reference."""

    cell: str
    n: float = Field(gt=0)
    p: float = Field(gt=0)


class Process(_Strict):
    """A process as nbcell uses it: technology + library conventions (+ template for targets)."""

    name: str
    description: str = ""
    technology: Technology
    libraries: list[str] = []
    supplies: Supplies
    min_inverter: MinInverter
    devices: dict[str, DeviceModel] = {}
    target_devices: dict[str, str] = {}
    template: Template | None = None

    @model_validator(mode="after")
    def _target_complete(self) -> "Process":
        models = self.all_devices
        for role, model in self.target_devices.items():
            if model not in models:
                raise ValueError(f"target_devices.{role}: {model!r} is not a device of this process")
            if not re.fullmatch(r"[np](_\w+)?", role):
                raise ValueError(f"target_devices.{role}: role must be 'n', 'p' or 'n_<flavour>'/'p_<flavour>'")
        if self.template is not None:
            for need in ("n", "p"):
                if need not in self.target_devices:
                    raise ValueError(f"target_devices.{need}: a target process must name its default {need}-device")
            tech_layers = set(self.technology.layers)
            t = self.template
            used = [t.boundary_layer, t.pins.layer, t.pins.label_layer, t.pins.power_layer, t.pins.power_label_layer]
            used += [r.layer for r in t.rails] + list(t.wells) + list(t.implants) + list(t.markers)
            used += [tie.layer for tie in t.ties] + [lay for tie in t.ties for lay in tie.implants]
            used += [x for x in (t.pins.pin_layer, t.pins.power_pin_layer) if x]
            used += list(t.layer_roles.values()) + list(t.lef_layers)
            for lay in used:
                if lay not in tech_layers:
                    raise ValueError(f"template: unknown layer {lay!r}")
        return self

    @property
    def is_target(self) -> bool:
        return self.template is not None

    @property
    def all_devices(self) -> dict[str, DeviceModel]:
        return {**self.technology.devices, **self.devices}

    def target_model(self, type_: str, flavour: str) -> str:
        """Target model name for a device of ``type_`` (n/p) and threshold ``flavour``."""
        return self.target_devices.get(f"{type_}_{flavour}", self.target_devices[type_])
