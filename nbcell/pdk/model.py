"""Typed process definitions: technology (layers, rules, devices) and process (template).

Everything is in µm (areas µm²). Files are validated with pydantic; a broken
file raises :class:`PdkError` naming the file and the field.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from nbcell.limits import MAX_TEMPLATE_UM

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
    # no nan or inf anywhere: a process file's numbers end up as loop bounds and coordinates
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


#: a template coordinate (µm), either sign
Um = Annotated[float, Field(ge=-MAX_TEMPLATE_UM, le=MAX_TEMPLATE_UM)]
#: a template or device size (µm), > 0
Size = Annotated[float, Field(gt=0, le=MAX_TEMPLATE_UM)]
#: how far a template shape reaches past the cell sides (µm)
Overhang = Annotated[float, Field(ge=0, le=MAX_TEMPLATE_UM)]


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
    #: ``cut_enclosure_eol``: a "line" is a part of the metal no wider than ``line_width`` (µm)
    #: whose two long sides run at least ``line_run`` (µm); its end edges (shorter than
    #: ``line_width``) must pass the cut by the rule's value (gf180 deck reading)
    line_width: float | None = Field(default=None, gt=0)
    line_run: float | None = Field(default=None, ge=0)

    # -- scope: where on the cell the rule applies ----------------------------------------
    #: the rule holds only outside / inside this marker layer: every layer of the rule is clipped
    #: by it before the check (the decks' ``diff.not(areaid_sc)``, ``tgate.edges.inside_part(comp)``)
    outside: str | None = None
    inside: str | None = None
    #: ``width``: only edges whose absolute angle to the x axis lies in [min, max] degrees are
    #: measured (gf180 PL.7: 45-degree gate edges, 25..65)
    edge_angle: tuple[float, float] | None = None

    # -- conditional space ------------------------------------------------------------------
    #: ``space``: measured only between different polygons (KLayout ``isolated``), never across a
    #: notch of one polygon. A "different potential / different net" well rule is read on one cell
    #: this way: every separate polygon is taken as its own potential (a cell cannot know its nets;
    #: wells of one potential closer than the same-net space are merged by the same-net rule)
    isolated: bool = False
    #: ``space`` to wide metal: the rule applies to the space between any shape of the layer and
    #: the parts of it wider than ``wide_width`` µm in every direction (the decks' opening
    #: ``sized(-w/2).sized(w/2)``: gf180 M1.2b "wider and longer than 10", sky130 m1.3ab "huge",
    #: IHP M1.e "wider than 0.3")
    wide_width: float | None = Field(default=None, gt=0)
    #: ... and only where the two facing edges run in parallel for more than ``parallel_run`` µm
    #: (IHP M1.e/M1.f: the deck's ``projection_limits(run + 1 dbu, nil)``)
    parallel_run: float | None = Field(default=None, ge=0)
    #: ``space`` of cuts inside arrays: the rule applies to cuts of clusters holding at least
    #: ``array`` rows and ``array`` columns (and ``array``² cuts); cuts closer than ``array_group``
    #: µm (default: the rule value) belong to one cluster (gf180 CO.2b groups at 0.36)
    array: int | None = Field(default=None, ge=2)
    array_group: float | None = Field(default=None, gt=0)

    # -- butted diffusions --------------------------------------------------------------------
    #: ``(A, B)``: the abutment of A against B (their coincident outline edges: a tap butted to a
    #: diffusion, N+ comp against P+ comp). ``width``: each butting edge is at least ``value`` long
    #: (``butting_measure: along``) or A is at least ``value`` wide between two of its butting
    #: edges (``across``); ``spacing``: the first layer keeps ``value`` from the butting edges;
    #: ``enclosure``: the rule applies within the pieces of A that abut B (gf180 CO.5a)
    butting: tuple[str, str] | None = None
    butting_measure: Literal["along", "across"] = "along"
    #: ``spacing``: the two layers may abut; only their edges that do not coincide are measured
    #: (sky130 difftap.7)
    abut_ok: bool = False

    # -- descriptive kinds made decidable on one cell -------------------------------------------
    #: ``forbidden``: ``corners`` = a corner of ``corners_of`` (one of the rule's layers) on or in
    #: the other layer; ``non_rectangular`` = the AND of the rule's layers is not all rectangles
    forbid: Literal["corners", "non_rectangular"] | None = None
    corners_of: str | None = None
    #: only corners turning by these angles (degrees, KLayout sign: convex negative, concave
    #: positive); None = every corner
    corner_angles: list[float] | None = None
    #: a corner counts when the box of +-``corner_margin`` µm around it lies inside the other
    #: layer (gf180 PL.6: 0.1); 0 = the corner on or inside the other layer's outline
    corner_margin: float = Field(default=0.0, ge=0)
    #: ``overlap`` ("A over B by value at one position"): ``width`` = every piece of A AND B holds
    #: a spot at least ``value`` wide both ways (IHP pSD.e); ``extension`` = every piece of A NOT B
    #: reaches at least ``value`` from its edge on B somewhere (pSD.f)
    overlap_measure: Literal["width", "extension"] | None = None
    #: ``max_distance``: the far layer (second) is drawn in every cell (each cell carries its own
    #: ties), so "every part of the first layer within ``value`` of the second" is decided on one cell
    in_cell: bool = False
    #: ``connectivity``: every polygon of the rule's other layers holds a shape of this layer
    #: (sky130 licon.16: every tap and S/D region holds a licon)
    contact: str | None = None
    #: ... the polygons are first cut by this layer (gates): a piece next to two or more of its
    #: shapes is a node inside a transistor stack, exempt (only a licon could connect the others)
    split_by: str | None = None
    #: ``aspect_ratio``: polygons touching any of these layers are exempt (sky130 li.2: li1 without
    #: licon or mcon); None leaves the kind undecided
    exempt: list[str] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "RuleCheck":
        if self.outside is not None and self.inside is not None:
            raise ValueError("check: give outside or inside, not both")
        if self.edge_angle is not None and not 0 <= self.edge_angle[0] <= self.edge_angle[1] <= 90:
            raise ValueError("check.edge_angle: need 0 <= min <= max <= 90 (degrees)")
        if self.parallel_run is not None and self.wide_width is None:
            raise ValueError("check.parallel_run needs check.wide_width")
        if self.array_group is not None and self.array is None:
            raise ValueError("check.array_group needs check.array")
        if (self.corners_of is not None) != (self.forbid == "corners"):
            raise ValueError("check.forbid: corners needs check.corners_of (and only it)")
        if self.split_by is not None and self.contact is None:
            raise ValueError("check.split_by needs check.contact")
        return self

    def layer_refs(self) -> list[str]:
        """Layer names the check fields refer to (validated against the technology)."""
        names = [self.outside, self.inside, self.corners_of, self.contact, self.split_by]
        names += list(self.butting or ()) + list(self.exempt or ())
        return [n for n in names if n is not None]


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
        """Evaluated on one cell: not skipped, and a descriptive kind only when its check fields
        say how to decide it on one cell (``density`` never)."""
        if self.check.skip is not None:
            return False
        return self.kind not in DESCRIPTIVE_KINDS or self._decidable()

    def _decidable(self) -> bool:
        c = self.check
        return {
            "forbidden": c.forbid is not None,
            "overlap": c.overlap_measure is not None,
            "max_distance": c.in_cell,
            "connectivity": c.contact is not None,
            "aspect_ratio": c.exempt is not None,
        }.get(self.kind, False)

    @model_validator(mode="after")
    def _value_needed(self) -> "Rule":
        needs_value = self.kind not in {"no_overlap", "inside", "forbidden", "connectivity"} | DESCRIPTIVE_KINDS
        if needs_value and self.check.skip is None and self.value is None:
            raise ValueError(f"rule {self.id} ({self.kind}) needs a value")
        if self.value is not None and self.value < 0:
            raise ValueError(f"rule {self.id}: value must not be negative")
        if self.kind == "cut_enclosure_adjacent" and self.trigger is None:
            raise ValueError(f"rule {self.id}: cut_enclosure_adjacent needs a trigger")
        if self.kind == "cut_enclosure_eol" and self.check.skip is None and (
                self.check.line_width is None or self.check.line_run is None):
            raise ValueError(f"rule {self.id}: cut_enclosure_eol needs check.line_width and check.line_run")
        if self.kind in DESCRIPTIVE_KINDS and self.checked and self.kind != "forbidden" \
                and self.kind != "connectivity" and self.value is None:
            raise ValueError(f"rule {self.id} ({self.kind}) is checked and needs a value")
        if self.check.corners_of is not None and self.check.corners_of not in self.layers[:2]:
            raise ValueError(f"rule {self.id}: check.corners_of must be one of the rule's two layers")
        if self.check.forbid is not None and len(self.layers) < 2:
            raise ValueError(f"rule {self.id}: forbidden needs two layers")
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
    l_min: Size | None = None
    w_min: Size | None = None
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
    dbu: float = Field(ge=1e-5, le=1)   # µm per database unit (KLayout coordinates are 32-bit)
    grid: float = Field(gt=0, le=1)     # manufacturing grid (µm), a whole number of dbu
    sources: dict[str, str] = {}
    layers: dict[str, Layer] = {}
    derived: dict[str, str] = {}
    rules: list[Rule] = []
    devices: dict[str, DeviceModel]

    @model_validator(mode="after")
    def _references(self) -> "Technology":
        steps = self.grid / self.dbu
        if steps < 1 - 1e-9 or abs(steps - round(steps)) > 1e-6:
            raise ValueError(f"grid {self.grid} is not a whole number of dbu ({self.dbu})")
        known = set(self.layers)
        for name, recipe in self.derived.items():
            for tok in recipe.split():
                if tok in _RECIPE_OPS or _is_number(tok):
                    continue
                if tok not in known:
                    raise ValueError(f"derived.{name}: unknown layer {tok!r} in recipe {recipe!r}")
            known.add(name)
        for i, rule in enumerate(self.rules):
            for lay in rule.layers + rule.check.layer_refs():
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

    y0: Um
    y1: Um
    x_overhang: Overhang = 0.0

    @model_validator(mode="after")
    def _ordered(self) -> "Span":
        if self.y1 <= self.y0:
            raise ValueError(f"y1 ({self.y1}) must be above y0 ({self.y0})")
        return self


class Site(_Strict):
    name: str
    width: Size
    height: Size
    symmetry: str = "Y"


class Rail(_Strict):
    """A power rail: net name, metal layer and y extent (centred on a cell edge)."""

    net: str
    layer: str
    y0: Um
    y1: Um


class Tie(_Strict):
    """A well or substrate tie under a rail: a diffusion strip across the cell (µm), contacted to
    the rail every site on the strip's centre line, under its own implant bands (layer -> span)."""

    net: str
    layer: str
    y0: Um
    y1: Um
    implants: dict[str, Span] = {}

    @model_validator(mode="after")
    def _ordered(self) -> "Tie":
        if self.y1 <= self.y0:
            raise ValueError(f"tie {self.net}: y1 ({self.y1}) must be above y0 ({self.y0})")
        return self


class DiffusionRow(_Strict):
    """Where one transistor type's diffusion may go, and the widest finger that fits (µm)."""

    y0: Um
    y1: Um
    max_finger_w: Size
    gate_length: Size
    contacted_pitch: Size
    uncontacted_pitch: Size

    @model_validator(mode="after")
    def _fits(self) -> "DiffusionRow":
        if self.max_finger_w > self.y1 - self.y0 + 1e-9:
            raise ValueError(f"max_finger_w {self.max_finger_w} does not fit in y {self.y0}..{self.y1}")
        return self


class Track(_Strict):
    direction: Literal["horizontal", "vertical"]
    pitch: Size
    offset: Um = 0.0
    width: Size

    @model_validator(mode="after")
    def _fits(self) -> "Track":
        if self.width > self.pitch:
            raise ValueError(f"width {self.width} is wider than the pitch {self.pitch}")
        return self


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
    height: Size
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
        for name, row in (("n_row", self.n_row), ("p_row", self.p_row)):
            if not 0 <= row.y0 < row.y1 <= self.height:
                raise ValueError(f"{name}: y {row.y0}..{row.y1} must run upwards inside the cell (0..{self.height})")
        for r in self.rails:
            if r.y1 <= r.y0:
                raise ValueError(f"rail {r.net}: y1 must be above y0")
        if len({r.y0 < self.height / 2 for r in self.rails}) < 2:
            raise ValueError("rails: need one rail along the bottom edge and one along the top")
        roles = self.layer_roles
        li = "li" in roles
        # what the layout generator draws on and the LVS extracts devices from
        for role in ("diff", "poly", "contact", "nwell", "pimplant") + (("li", "m1", "mcon") if li else
                                                                       ("m1", "m2", "via1")):
            if role not in roles:
                raise ValueError(f"layer_roles.{role}: missing (the layout generator and LVS need it)")
        metals = {roles["m1"], roles["li"]} if li else {roles["m1"]}
        for r in self.rails:
            if r.layer not in metals:
                raise ValueError(f"rail {r.net}: on {r.layer}, not on the first routing metal "
                                 f"{' or '.join(sorted(metals))}")
        nets = {r.net for r in self.rails}
        for tie in self.ties:
            if tie.net not in nets:
                raise ValueError(f"tie {tie.net}: no rail of that net")
        return self


class MinInverter(_Strict):
    """Finger widths (µm) of the library's minimum-size inverter; the sizing reference."""

    cell: str
    n: Size
    p: Size


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
            g = self.technology.grid
            sizes = [("site.width", t.site.width), ("height", t.height)]
            sizes += [(f"{name}.{k}", getattr(row, k)) for name, row in (("n_row", t.n_row), ("p_row", t.p_row))
                      for k in ("max_finger_w", "gate_length", "contacted_pitch", "uncontacted_pitch")]
            sizes += [(f"tracks.{k}.{f}", getattr(tr, f)) for k, tr in t.tracks.items() for f in ("pitch", "width")]
            for what, v in sizes:
                if v < g - 1e-9:
                    raise ValueError(f"template.{what}: {v} is below the manufacturing grid {g}")
        return self

    @property
    def is_target(self) -> bool:
        return self.template is not None

    @property
    def all_devices(self) -> dict[str, DeviceModel]:
        return {**self.technology.devices, **self.devices}

    def device_name(self, model: str | None) -> str | None:
        """The device model name as this process spells it: ``model`` itself, or its lower-case form
        (netlists write ``NFET_05V0`` for ``nfet_05v0``); None when the process has no such device."""
        devices = self.all_devices
        if model is None:
            return None
        return model if model in devices else (model.lower() if model.lower() in devices else None)

    def device(self, model: str | None) -> DeviceModel | None:
        """The device ``model`` (any case, see ``device_name``), or None."""
        name = self.device_name(model)
        return None if name is None else self.all_devices[name]

    def target_model(self, type_: str, flavour: str) -> str:
        """Target model name for a device of ``type_`` (n/p) and threshold ``flavour``."""
        return self.target_devices.get(f"{type_}_{flavour}", self.target_devices[type_])
