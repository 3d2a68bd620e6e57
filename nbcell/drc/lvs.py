"""LVS of one layout cell against an nbcell :class:`~nbcell.netlist.Cell` with klayout.db.

The reference netlist is built from the nbcell ``Cell`` (so every netlist quirk
is handled once, by nbcell's reader); the layout netlist is extracted from a
flattened view of the cell with ``klayout.db.LayoutVsSchematic``, driven only by
the process definition (``layer_roles``, device ``recognition`` / ``absent``
layers, label layers). KLayout's ``NetlistComparer`` decides ``match``; pin
names are checked separately because the comparer pairs pins by topology only.

Units: netlist lengths in µm (areas µm²), layout coordinates in dbu.

How the special parts are modelled (same on both sides, so the comparison is
honest):

* **MOS**: one device class per model, named by :func:`class_name` (the long
  ``sky130_fd_pr__nfet_01v8`` and the CDL ``nfet_01v8`` both become
  ``nfet_01v8``). Gate = AND of the model's ``recognition`` layers minus its
  ``absent`` layers; S/D = diffusion minus poly. PMOS bulk = the n-well net,
  NMOS bulk = the p-body (substrate / p-well, see below). Fingers and copies
  combine (``combine_devices``) on both sides.
* **p-body**: no cell draws a usable p-well polygon for every NMOS (sky130 hd
  draws none), so the substrate is modelled as the cell extent grown by
  :data:`BODY_MARGIN` minus n-well: one connected region around everything,
  as on a chip. P taps tie it, ``pwell_label`` text (sky130 ``VNB``) names it.
* **diodes**: ``DeviceExtractorDiode`` on the diode marker. An n-type diode is
  N+ diffusion under the marker in the p-body (anode = p-body), a p-type one
  P+ diffusion under the marker in the n-well (cathode = n-well). The area
  (µm²) is compared, as the foundry's netgen setup for sky130 does; a
  perimeter that disagrees is reported in ``notes``.
* **short** (sky130 ``conb``): the cell draws each zero-ohm link as a poly strip
  crossed by a thin marker band (``poly_short`` 66/15); the poly is cut at the
  marker into two terminals. Extracting it as a two-terminal resistor class
  ``short`` mirrors the foundry netlist (``rI12 VGND LO short``) instead of
  merging HI/LO into the rails, which would make distinct pins one net. Its
  resistance is not compared (CDL cards give none). Any ``<conductor>_short``
  layer of the process works the same way.
* **body pins**: labels on n-well / p-body text layers (sky130 ``VPB``/``VNB``)
  name them like any pin. Where the layout has no label for the process's
  body pin (gf180 cells never label ``VNW``/``VPW``), the well itself is the
  terminal: the pin must be matched to the net of the n-well (``nwell_body``)
  or of the p-body (``pwell_body``).
* **supplies split in the cell** (the two VGND rails of a double-height cell):
  pieces carrying the same supply label are joined, as they meet by abutment
  in the row (LEF ``SHAPE ABUTMENT`` ports). Signal pins are never joined.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cached_property

import klayout.db as kdb

from nbcell.drc.layers import CellLayers
from nbcell.netlist import Cell, Device, Transistor
from nbcell.pdk import Process

#: µm the p-body reaches past the cell's shapes, so the substrate is one ring-connected net
BODY_MARGIN = 1.0
#: W / L tolerance: absolute µm plus relative (of the mean) deviation allowed
LEN_TOL_ABS, LEN_TOL_REL = 0.005, 0.01
#: nominal sheet resistance (Ω/□) of the ``short`` device; R is never compared
SHORT_RHO = 1.0
#: conductor stack by layer role, bottom to top: consecutive present roles connect
_STACK = ("contact", "li", "mcon", "m1", "via1", "m2", "via2", "m3", "via3", "m4", "via4", "m5", "via5", "m6")
_LABEL_SUFFIXES = ("_label", "_text")
#: conductors registered even when empty: device extraction and the body pins refer to them
_ALWAYS_REGISTERED = ("sd", "poly", "nwell", "pwell")


@dataclass
class LvsResult:
    """Outcome of :func:`run_lvs` for one cell.

    ``match``: KLayout's comparer finds the netlists equivalent. ``pins_ok``:
    every reference pin is labelled by name on the layout net the comparer
    paired with it. ``messages``: short reasons for a mismatch; ``notes``:
    facts worth knowing about a passing cell (e.g. pins matched through a well).
    """

    cell: str
    match: bool
    pins_ok: bool
    messages: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    lvs: kdb.LayoutVsSchematic | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.match and self.pins_ok


def class_name(model: str) -> str:
    """Device class name of a model: the part after the last ``__`` (``sky130_fd_pr__nfet_01v8`` -> ``nfet_01v8``)."""
    return model.rsplit("__", 1)[-1]


# --------------------------------------------------------------------------- reference


def _tolerance(*params: int) -> kdb.EqualDeviceParameters:
    eq = kdb.EqualDeviceParameters(params[0], LEN_TOL_ABS, LEN_TOL_REL)
    for p in params[1:]:
        eq += kdb.EqualDeviceParameters(p, LEN_TOL_ABS, LEN_TOL_REL)
    return eq


def _new_class(kind: str, name: str) -> kdb.DeviceClass:
    """A device class of ``kind`` (mos / diode / short) with the comparison tolerances set."""
    if kind == "mos":
        dc = kdb.DeviceClassMOS4Transistor()
        dc.equal_parameters = _tolerance(dc.PARAM_W, dc.PARAM_L)
    elif kind == "diode":
        dc = kdb.DeviceClassDiode()
        # area only, as the foundry's own netgen setup for sky130 (perimeter: see _diode_perimeter_notes)
        dc.equal_parameters = _tolerance(dc.PARAM_A)
    elif kind == "short":
        dc = kdb.DeviceClassResistor()
        dc.equal_parameters = kdb.EqualDeviceParameters.ignore(dc.PARAM_R)
    else:
        raise ValueError(f"no LVS device class for {kind!r} devices")
    dc.name = name
    return dc


def _class_for(netlist: kdb.Netlist, kind: str, model: str) -> kdb.DeviceClass:
    name = class_name(model)
    dc = netlist.device_class_by_name(name)
    if dc is None:
        dc = _new_class(kind, name)
        netlist.add(dc)
    return dc


def _si_area_um2(v: float) -> float:
    """A diode area in µm²: tiny values are m² (``0.2052p``), others already µm² (scale=1e-6 cards)."""
    return v * 1e12 if v < 1e-6 else v


def _si_len_um(v: float) -> float:
    """A diode perimeter in µm: values below 1 mm are metres (``1.86u``), others already µm."""
    return v * 1e6 if v < 1e-3 else v


def _diode_params(d: Device) -> tuple[float | None, float | None]:
    """(area µm², perimeter µm) of a diode card: ``a=``/``p=`` or positional area, perimeter."""
    p = dict(d.params)
    area = p.get("a", p.get("area", p.get("#0")))
    perim = p.get("p", p.get("pj", p.get("perim", p.get("#1"))))
    return (None if area is None else _si_area_um2(area), None if perim is None else _si_len_um(perim))


def _add_mos(circuit: kdb.Circuit, nets, t: Transistor, netlist: kdb.Netlist) -> None:
    dc = _class_for(netlist, "mos", t.model)
    dev = circuit.create_device(dc, t.name)
    # nf fingers x m copies as one device of the total width: layout fingers combine to the same
    dev.set_parameter(dc.PARAM_W, t.total_w)
    dev.set_parameter(dc.PARAM_L, t.l)
    for term, net in zip((dc.TERMINAL_D, dc.TERMINAL_G, dc.TERMINAL_S, dc.TERMINAL_B), t.terminals):
        dev.connect_terminal(term, nets(net))


def _add_device(circuit: kdb.Circuit, nets, d: Device, netlist: kdb.Netlist) -> None:
    if d.kind not in ("diode", "short") or len(d.nodes) != 2:
        raise ValueError(f"device {d.name}: {d.kind} with {len(d.nodes)} nodes has no LVS model")
    dc = _class_for(netlist, d.kind, d.model)
    dev = circuit.create_device(dc, d.name)
    if d.kind == "diode":
        area, perim = _diode_params(d)
        if area is not None:
            dev.set_parameter(dc.PARAM_A, area)
        if perim is not None:
            dev.set_parameter(dc.PARAM_P, perim)
        a, c = dc.TERMINAL_A, dc.TERMINAL_C
    else:
        dev.set_parameter(dc.PARAM_R, 0.0)
        a, c = dc.TERMINAL_A, dc.TERMINAL_B
    dev.connect_terminal(a, nets(d.nodes[0]))
    dev.connect_terminal(c, nets(d.nodes[1]))


def cell_to_kdb_netlist(cell: Cell, process: Process | None = None, name: str | None = None) -> kdb.Netlist:
    """The reference ``klayout.db.Netlist`` of a flattened nbcell ``Cell``.

    One circuit named ``name`` (default ``cell.name``) with the pins in
    subcircuit order; MOS devices carry W (all fingers and copies) and L in µm,
    diodes A (µm²) and P (µm), ``short`` devices are two-terminal resistors.
    ``process`` is accepted for symmetry with :func:`run_lvs`; class names come
    from :func:`class_name` alone.
    """
    netlist = kdb.Netlist()
    circuit = kdb.Circuit()
    circuit.name = name or cell.name
    netlist.add(circuit)
    by_name: dict[str, kdb.Net] = {}

    def nets(n: str) -> kdb.Net:
        net = by_name.get(n)
        if net is None:
            net = by_name[n] = circuit.create_net(n)
        return net

    for p in cell.pins:
        pin = circuit.create_pin(p)
        circuit.connect_pin(pin, nets(p))
    for t in cell.transistors:
        _add_mos(circuit, nets, t, netlist)
    for d in cell.devices:
        _add_device(circuit, nets, d, netlist)
    return netlist


# --------------------------------------------------------------------------- extraction


@dataclass(frozen=True)
class _Recipe:
    """How to find one device class in the layout."""

    name: str
    kind: str
    type: str | None
    recognition: tuple[str, ...]
    absent: tuple[str, ...]


def _diode_marker(process: Process) -> str | None:
    """The diode marker layer (``diode_mk``, ``areaid_diode``, ``recog_diode``), when exactly one is defined."""
    cands = [n for n in process.technology.layers if "diode" in n]
    return cands[0] if len(cands) == 1 else None


def _short_markers(process: Process) -> list[tuple[str, str]]:
    """(conductor, marker) for every ``<conductor>_short`` layer (sky130 ``poly_short`` 66/15)."""
    layers = process.technology.layers
    return [(n[: -len("_short")], n) for n in layers if n.endswith("_short") and n[: -len("_short")] in layers]


def _recipes(process: Process, reference: Cell | None = None) -> list[_Recipe]:
    """Device recipes of a process, one per class name (shorts: one per marker layer).

    MOS models need ``recognition`` layers. Diodes and shorts without them
    (the process files give none yet) fall back to the marker conventions of
    :func:`_diode_marker` / :func:`_short_markers`; when several diode models
    of one type share that fallback, the one the reference uses names the class.
    """
    used = {d.model for d in reference.devices} if reference else set()
    out: dict[str, list[_Recipe]] = {}
    fallback_diode: dict[str, str] = {}
    for model, dm in process.all_devices.items():
        name = class_name(model)
        if name in out:
            continue
        if dm.recognition:
            out[name] = [_Recipe(name, dm.kind, dm.type, tuple(dm.recognition), tuple(dm.absent))]
        elif dm.kind == "diode" and dm.type and (dm.type not in fallback_diode or model in used):
            fallback_diode[dm.type] = model
        elif dm.kind == "short" and _short_markers(process):
            out[name] = [_Recipe(name, "short", None, pair, ()) for pair in _short_markers(process)]
    marker = _diode_marker(process)
    taken = {(r.kind, r.type) for rs in out.values() for r in rs}
    for typ, model in fallback_diode.items():
        if marker and ("diode", typ) not in taken:
            out[class_name(model)] = [_Recipe(class_name(model), "diode", typ, (marker,), ())]
    return [r for rs in out.values() for r in rs]


class _Layers:
    """Drawn and derived layers of one cell as flat regions (a DRC :class:`CellLayers`, shared).

    These regions are never handed to the LVS database itself: device
    extraction turns its input regions into deep ones in place, which would
    slow down every later flat operation and tie the DRC layers to one LVS
    run. :func:`_registered` hands over copies instead.
    """

    def __init__(self, shapes: CellLayers, process: Process):
        self.shapes = shapes
        self.layout, self.cell, self.process = shapes.layout, shapes.cell, process
        self.tech = process.technology
        self.roles = process.template.layer_roles

    def role(self, role: str) -> str | None:
        return self.roles.get(role)

    def __getitem__(self, name: str) -> kdb.Region:
        if name not in self.tech.layers and name not in self.tech.derived:
            raise KeyError(f"process {self.process.name}: no layer {name!r}")
        return self.shapes[name]

    def conductor(self, name: str) -> kdb.Region:
        """A layer as the LVS database gets it: a drawn layer as it is in the layout (flattened,
        unmerged: nothing to merge, registered ~2x faster than a flat copy, and KLayout numbers
        the nets (the ``$3`` in messages) as for the layout itself); a derived layer as computed."""
        if name not in self.tech.layers:
            return self[name]
        idx = self.layout.find_layer(*self.tech.layer(name))
        return kdb.Region(self.layout.begin_shapes(self.cell, idx)) if idx is not None else kdb.Region()

    def texts(self, name: str) -> kdb.Texts | None:
        """The texts of a drawn layer, flattened; None when the layer is absent."""
        idx = self.layout.find_layer(*self.tech.layer(name))
        if idx is None:
            return None
        texts = kdb.Texts(self.layout.begin_shapes(self.cell, idx))
        return texts if not texts.is_empty() else None

    def and_all(self, names: tuple[str, ...]) -> kdb.Region:
        """AND of the named layers, prefixes shared (with DRC's ``tgate``/``ngate`` too)."""
        for name in names:
            self[name]  # unknown names fail here, with the process named
        return self.shapes.intersection(list(names))

    # -- roles -------------------------------------------------------------

    @cached_property
    def diffusion(self) -> kdb.Region:
        """All active area: the ``diff`` role plus the ``tap`` role where the process has one."""
        diff = self[self.role("diff")]
        return diff + self[self.role("tap")] if self.role("tap") else diff

    @cached_property
    def poly_on_diffusion(self) -> kdb.Region:
        """Poly AND diffusion, from the diff AND poly that every gate recipe starts with (DRC's ``tgate``)."""
        poly = self.role("poly")
        on_diff = self.and_all((self.role("diff"), poly))
        return on_diff + self.and_all((self.role("tap"), poly)) if self.role("tap") else on_diff

    @cached_property
    def p_active(self) -> kdb.Region:
        return self.diffusion & self[self.role("pimplant")]

    @cached_property
    def n_active(self) -> kdb.Region:
        # sg13g2 draws no N implant: active outside pSD is N+
        if self.role("nimplant"):
            return self.diffusion & self[self.role("nimplant")]
        return self.diffusion - self[self.role("pimplant")]

    @cached_property
    def nwell(self) -> kdb.Region:
        return self[self.role("nwell")]

    @cached_property
    def pbody(self) -> kdb.Region:
        """Substrate / p-well: the cell extent grown by BODY_MARGIN minus n-well (one ring-connected region)."""
        grow = round(BODY_MARGIN / self.layout.dbu)
        return kdb.Region(self.cell.bbox().enlarged(grow, grow)) - self.nwell


@dataclass
class _Extracted:
    """What the comparison step needs from the extraction.

    Nets are kept by cluster id (``Circuit.net_by_cluster_id``): joining
    supply nets deletes ``Net`` objects, ids stay valid through ``alias``.
    """

    circuit: kdb.Circuit
    gates: kdb.Region
    labels: dict[str, set[int]] = field(default_factory=dict)  # text -> nets it sits on
    wells: dict[str, set[int]] = field(default_factory=dict)  # body pin -> nets of its well
    messages: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def net(self, cid: int) -> kdb.Net:
        return self.circuit.net_by_cluster_id(cid)


def _registered(lvs: kdb.LayoutVsSchematic, flat: kdb.Region, name: str) -> kdb.Region:
    """A copy of ``flat``, registered as ``name``; the copy is what extraction and connections use."""
    copy = flat.dup()
    _register(lvs, copy, name)
    return copy


def _register(lvs: kdb.LayoutVsSchematic, shapes, name: str) -> None:
    """Name a region (or texts) in the LVS database; a region already known keeps its first name."""
    try:
        lvs.register(shapes, name)
    except RuntimeError:
        pass


def _conductor_layers(L: _Layers) -> dict[str, kdb.Region]:
    """Net-carrying regions by name: ``sd`` (diffusion minus poly), ``poly``, wells, the metal stack.

    Drawn layers come as drawn (:meth:`_Layers.conductor`), as the LVS database wants them.
    """
    out = {"sd": L.diffusion - L[L.role("poly")], "poly": L.conductor(L.role("poly")),
           "nwell": L.conductor(L.role("nwell")), "pwell": L.pbody}
    for role in _STACK:
        if L.role(role):
            out[L.role(role)] = L.conductor(L.role(role))
    return out


def _cut_shorts(L: _Layers, recipes: list[_Recipe], cond: dict[str, kdb.Region]) -> list[tuple]:
    """Cut each conductor at its short markers; returns (recipe, conductor key, cut region) per short.

    The cut piece becomes a two-terminal ``short`` device whose terminals are
    the conductor on either side, as the foundry netlists write it.
    """
    out = []
    for r in recipes:
        if r.kind != "short" or len(r.recognition) < 2:
            continue
        key = "poly" if r.recognition[0] == L.role("poly") else r.recognition[0]
        cut = _marked(L, r)
        if key in cond and not cut.is_empty():
            cond[key] = cond[key] - cut
            out.append((r, key, cut))
    return out


def _label_layers(L: _Layers, conductors: dict[str, kdb.Region]) -> list[tuple[str, str, kdb.Texts]]:
    """(text layer, conductor name, texts) for every ``<conductor>_label`` / ``_text`` layer the cell uses.

    The stem names the conductor by tech layer (``li1_label``, ``metal1_text``)
    or well (``nwell_label``, ``pwell_label`` -> the p-body); diffusion and
    poly stems attach to S/D and poly.
    """
    alias = {L.role("diff"): "sd", L.role("tap"): "sd", L.role("poly"): "poly"}
    out = []
    for name in L.tech.layers:
        stem = next((name[: -len(x)] for x in _LABEL_SUFFIXES if name.endswith(x)), None)
        key = alias.get(stem, stem) if stem else None
        texts = L.texts(name) if key in conductors else None
        if texts is not None:
            out.append((name, key, texts))
    return out


def _extract(lvs: kdb.LayoutVsSchematic, L: _Layers, recipes: list[_Recipe]) -> _Extracted:
    """Register layers, run the device extractors, declare connectivity, extract the netlist.

    Shape operations run on the flat regions of ``L``; the LVS database gets
    copies (``cond``: conductor name -> registered region).
    """
    conductors = _conductor_layers(L)
    shorts = _cut_shorts(L, recipes, conductors)
    # an empty metal or via layer connects nothing: it is left out of the database
    cond = {name: _registered(lvs, region, name) for name, region in conductors.items()
            if name in _ALWAYS_REGISTERED or not region.is_empty()}
    gates = kdb.Region()
    for r in recipes:
        if r.kind == "mos":
            gates += _extract_mos(lvs, L, r, cond)
        elif r.kind == "diode":
            _extract_diode(lvs, L, r, cond)
    for r, key, cut in shorts:
        lvs.extract_devices(kdb.DeviceExtractorResistor(r.name, SHORT_RHO),
                            {"R": _registered(lvs, cut, f"{r.name}_{r.recognition[1]}"), "C": cond[key]})
    _connect(lvs, L, cond)
    labels = _label_layers(L, conductors)
    for name, key, texts in labels:
        if key in cond:  # else the texts touch no shape (_probe_labels says so)
            _register(lvs, texts, name)
            lvs.connect(cond[key], texts)
    lvs.extract_netlist()
    ex = _Extracted(lvs.netlist().top_circuit(), gates)
    _probe_labels(lvs, L, labels, cond, ex)
    sup = L.process.supplies
    for body, key, well in ((sup.nwell_body, "nwell", L.nwell), (sup.pwell_body, "pwell", L.pbody)):
        if body and body not in ex.labels:  # only an unlabelled body pin is checked through its well
            ex.wells[body] = _probe_well(lvs, cond[key], well)
    _join_supplies(ex, [n for n in (sup.power, sup.ground, sup.nwell_body, sup.pwell_body) if n])
    return ex


def _probe_labels(lvs, L: _Layers, labels, cond: dict[str, kdb.Region], ex: _Extracted) -> None:
    """Which nets each label text sits on; a label on no shape is a message."""
    for layer, key, texts in labels:
        region = cond.get(key)
        for t in texts.each():
            pos = kdb.Point(t.trans.disp.x, t.trans.disp.y)
            net = lvs.probe_net(region, pos) if region is not None else None
            if net is None:
                ex.messages.append(f"label {t.string!r} at {_um(pos, L.layout.dbu)} µm on {layer} touches no shape")
            else:
                ex.labels.setdefault(t.string, set()).add(net.cluster_id)


def _probe_well(lvs, region: kdb.Region, flat: kdb.Region) -> set[int]:
    """The nets of a well region: one probe inside each polygon of its flat twin (merged; the
    registered copy is cut into many pieces of one net each)."""
    out = set()
    for poly in flat.merged().each():
        net = lvs.probe_net(region, _inner_point(poly))
        if net is not None:
            out.add(net.cluster_id)
    return out


def _join_supplies(ex: _Extracted, supplies: list[str]) -> None:
    """Join the pieces of each supply that carry its label into one net.

    Rails of one name meet by abutment in the row (LEF ``SHAPE ABUTMENT``),
    e.g. the two VGND rails of a double-height cell: KLayout's
    ``connect_implicit`` for the cell in its row. Signal pins are never joined;
    a signal labelled on two unconnected pieces stays a pin problem.
    """
    alias: dict[int, int] = {}
    for name in supplies:
        ids = sorted({alias.get(c, c) for c in ex.labels.get(name, ())})
        if len(ids) < 2:
            continue
        keep = ex.net(ids[0])
        for cid in ids[1:]:
            ex.circuit.join_nets(keep, ex.net(cid))
            alias[cid] = ids[0]
        ex.notes.append(f"pin {name}: {len(ids)} unconnected pieces carry its label; joined as one supply net "
                        f"(they meet by abutment in the row)")
    if alias:
        for d in (ex.labels, ex.wells):
            for key, ids in d.items():
                d[key] = {alias.get(c, c) for c in ids}


def _marked(L: _Layers, r: _Recipe) -> kdb.Region:
    """AND of the recipe's recognition layers minus its absent layers.

    An empty partial result stops early: most recipes of a process (lvt, hv
    flavours) find nothing in a given cell.
    """
    out = L.and_all(r.recognition)
    for lay in r.absent:
        if out.is_empty():
            break
        sub = L[lay]
        if not sub.is_empty():
            out = out - sub
    return out


def _extract_mos(lvs, L: _Layers, r: _Recipe, cond: dict[str, kdb.Region]) -> kdb.Region:
    """MOS4 devices of one class; bulk = n-well (p type) or p-body (n type). Returns the (flat) gates."""
    gate = _marked(L, r)
    if gate.is_empty():
        return gate
    well = cond["nwell"] if r.type == "p" else cond["pwell"]
    lvs.extract_devices(kdb.DeviceExtractorMOS4Transistor(r.name),
                        {"SD": cond["sd"], "G": _registered(lvs, gate, f"gate_{r.name}"), "P": cond["poly"], "W": well})
    return gate


def _extract_diode(lvs, L: _Layers, r: _Recipe, cond: dict[str, kdb.Region]) -> None:
    """n diode: N+ under the marker in the p-body (anode = p-body); p diode: P+ in the n-well."""
    marked = _marked(L, r)
    if r.type == "n":
        junction = (L.n_active & marked) - L.nwell
    else:
        junction = L.p_active & marked & L.nwell
    if junction.is_empty():
        return
    name = f"diode_{r.name}"
    # a conductor too: the diode's diffusion terminal joins its S/D net
    cond[name] = _registered(lvs, junction, name)
    layers = {"P": cond["pwell"], "N": cond[name]} if r.type == "n" else {"P": cond[name], "N": cond["nwell"]}
    lvs.extract_devices(kdb.DeviceExtractorDiode(r.name), layers)


def _connect(lvs: kdb.LayoutVsSchematic, L: _Layers, cond: dict[str, kdb.Region]) -> None:
    """diff/poly -> contact -> (li -> mcon ->) m1 -> via1 -> m2 ...; diodes join S/D; taps tie wells."""
    for region in cond.values():
        lvs.connect(region)
    stack = [L.role(r) for r in _STACK if L.role(r)]
    for a, b in [("sd", stack[0]), ("poly", stack[0]), *zip(stack, stack[1:])]:
        if a in cond and b in cond:  # an empty layer (left out) links nothing
            lvs.connect(cond[a], cond[b])
    for name, region in cond.items():
        if name.startswith("diode_"):
            lvs.connect(region, cond["sd"])
    # ohmic well ties: N+ in n-well, P+ outside it (P+ in n-well is a junction, not a tie)
    taps = {"ntap": (L.n_active & L.nwell, cond["nwell"]), "ptap": (L.p_active - L.nwell, cond["pwell"])}
    for name, (flat_tap, well) in taps.items():
        if flat_tap.is_empty():  # most cells have no taps: an empty layer links nothing
            continue
        tap = _registered(lvs, flat_tap, name)
        lvs.connect(tap)
        lvs.connect(tap, well)
        lvs.connect(tap, cond["sd"])


# --------------------------------------------------------------------------- comparison


def _prepare_layout_netlist(netlist: kdb.Netlist) -> None:
    """Pins for every labelled net, parallel fingers combined.

    ``make_top_level_pins`` skips nets without devices (fill cells' rails), so
    pins are made here. Nets are not purged: a floating well still has to be
    found when its body pin is checked.
    """
    for circuit in netlist.each_circuit():
        for net in circuit.each_net():
            if net.name and net.pin_count() == 0:
                circuit.connect_pin(circuit.create_pin(net.name), net)
    netlist.combine_devices()


def _inner_point(poly: kdb.Polygon) -> kdb.Point:
    """A point strictly inside ``poly`` (dbu): the centre of one of its trapezoids."""
    for t in poly.decompose_trapezoids():
        c = t.bbox().center()
        if t.inside(c):
            return c
    return next(poly.each_point_hull())


def _um(p: kdb.Point, dbu: float) -> str:
    """A dbu point as ``(x, y)`` in µm."""
    return f"({p.x * dbu:.3f}, {p.y * dbu:.3f})"


def _net_desc(ex: _Extracted, cid: int) -> str:
    return f"net {ex.net(cid).expanded_name()}"


def _pin_carriers(name: str, ex: _Extracted, notes: list[str]) -> tuple[set[int], str]:
    """Layout nets that carry pin ``name``: its labels, else (body pins only) its well's nets."""
    carriers = ex.labels.get(name, set())
    if carriers or not ex.wells.get(name):
        return carriers, "label"
    notes.append(f"pin {name}: not labelled in the layout; checked as the net of its well")
    return ex.wells[name], "well"


def _check_pins(xref, ref_circuit: kdb.Circuit, ex: _Extracted, messages: list[str], notes: list[str]) -> bool:
    """True if every reference pin is named by a label on the layout net the comparer paired with it."""
    before = len(messages)
    pins = [p.name() for p in ref_circuit.each_pin()]
    pin_of_net = {cid: text for text, ids in ex.labels.items() if text in pins for cid in ids}
    for name in pins:
        ref_net = ref_circuit.net_for_pin(ref_circuit.pin_by_name(name))
        lay_net = xref.other_net_for(ref_net) if ref_net is not None else None
        carriers, how = _pin_carriers(name, ex, notes)
        if not carriers:
            messages.append(f"pin {name}: no label {name!r} on any layout net")
        elif len(carriers) > 1:
            messages.append(f"pin {name}: {how}s {name!r} on {len(carriers)} unconnected layout nets")
        elif lay_net is None and _has_no_devices(ref_net):
            # nothing for the comparer to pair: the label (or well) is all there is to check
            tied = sorted({pin_of_net.get(c) for c in carriers} - {None, name})
            notes.append(f"pin {name}: connects no device in the reference"
                         + (f"; in the layout it is tied to {', '.join(tied)}" if tied else ""))
        elif lay_net is None:
            messages.append(f"pin {name}: the comparer paired it with no layout net")
        elif lay_net.cluster_id not in carriers:
            where = ", ".join(_net_desc(ex, c) for c in carriers)
            messages.append(f"pin {name}: paired with net {lay_net.expanded_name()}, but its {how} is on {where}")
    for text in sorted(set(ex.labels) - set(pins)):
        notes.append(f"label {text!r} names no pin of the reference")
    return len(messages) == before


def _has_no_devices(net: kdb.Net | None) -> bool:
    return net is None or next(iter(net.each_terminal()), None) is None


def _device_desc(dev: kdb.Device) -> str:
    dc = dev.device_class()
    params = [f"{pd.name}={dev.parameter(pd.id()):.4g}" for pd in dc.parameter_definitions()
              if pd.name in ("W", "L", "A", "P")]
    terms = ", ".join(f"{td.name}={_net_name(dev.net_for_terminal(td.id()))}" for td in dc.terminal_definitions())
    return f"{dc.name} {dev.expanded_name()} ({terms}) {' '.join(params)}".rstrip()


def _net_name(net: kdb.Net | None) -> str:
    return net.expanded_name() if net is not None else "-"


def _device_pair_message(dp, xref) -> str | None:
    lay, ref = dp.first(), dp.second()
    # the comparer pairs a device whose W/L is out of tolerance "with warning"
    if dp.status() not in (xref.Mismatch, xref.NoMatch, xref.MatchWithWarning):
        return None
    if lay is None:
        return f"missing in layout: {_device_desc(ref)}"
    if ref is None:
        return f"extra in layout: {_device_desc(lay)} at {lay.trans.disp} µm"
    return f"parameters differ: layout {_device_desc(lay)} vs reference {_device_desc(ref)}"


def _net_pair_message(np_, xref) -> str | None:
    if np_.status() not in (xref.Mismatch, xref.NoMatch):
        return None
    a, b = np_.first(), np_.second()
    if a is None:
        return f"reference net {_net_name(b)} has no layout counterpart"
    if b is None:
        return f"layout net {_net_name(a)} has no reference counterpart"
    return f"nets {_net_name(a)} (layout) / {_net_name(b)} (reference) do not match"


def _compare_messages(xref: kdb.NetlistCrossReference) -> list[str]:
    """Short reasons from the cross reference: unpaired or mismatching devices, unmatched nets."""
    msgs = []
    for cp in xref.each_circuit_pair():
        pairs = list(xref.each_device_pair(cp))
        msgs += _size_mismatches(pairs, xref)
        msgs += [m for dp in pairs if (m := _device_pair_message(dp, xref))]
        msgs += [m for np_ in xref.each_net_pair(cp) if (m := _net_pair_message(np_, xref))]
    return msgs


def _terminal_key(dev: kdb.Device) -> tuple:
    """Class and terminal net names (S/D unordered, bulk left out: unlabelled wells have no
    name): how an unpaired layout and reference device are matched up."""
    names = {td.name: _net_name(dev.net_for_terminal(td.id())) for td in dev.device_class().terminal_definitions()
             if td.name != "B"}
    sd = frozenset((names.pop("S", None), names.pop("D", None)))
    return dev.device_class().name, sd, tuple(sorted(names.items()))


def _size_mismatches(pairs: list, xref) -> list[str]:
    """A reference device missing and a layout device extra on the same named nets: a W/L mismatch.

    The comparer leaves such devices unpaired (e.g. an inverter with a shrunk
    diffusion); naming both sizes is the useful message. Pairs used here are
    dropped from ``pairs``.
    """
    unpaired = [dp for dp in pairs if dp.status() in (xref.Mismatch, xref.NoMatch)]
    extra = {}
    for dp in unpaired:
        if dp.second() is None and dp.first() is not None:
            extra.setdefault(_terminal_key(dp.first()), []).append(dp)
    msgs = []
    for dp in unpaired:
        ref = dp.second()
        if dp.first() is not None or ref is None or not extra.get(_terminal_key(ref)):
            continue
        lay_dp = extra[_terminal_key(ref)].pop()
        msgs.append(f"parameters differ: layout {_device_desc(lay_dp.first())} vs reference {_device_desc(ref)}")
        pairs.remove(dp)
        pairs.remove(lay_dp)
    return msgs


def _diode_perimeter_notes(xref: kdb.NetlistCrossReference) -> list[str]:
    """Paired diodes whose perimeter differs: noted, not failed (only the area is compared,
    as the foundry's netgen setup for sky130 does)."""
    notes = []
    for cp in xref.each_circuit_pair():
        for dp in xref.each_device_pair(cp):
            lay, ref = dp.first(), dp.second()
            if lay is None or ref is None or not isinstance(lay.device_class(), kdb.DeviceClassDiode):
                continue
            pl, pr = lay.parameter(kdb.DeviceClassDiode.PARAM_P), ref.parameter(kdb.DeviceClassDiode.PARAM_P)
            if pr and abs(pl - pr) > LEN_TOL_ABS + LEN_TOL_REL * (pl + pr) / 2:
                notes.append(f"diode {ref.expanded_name()}: drawn perimeter {pl:.4g} µm, netlist says {pr:.4g} µm")
    return notes


def _extraction_messages(lvs, L: _Layers, gates: kdb.Region) -> list[str]:
    """Poly over diffusion that no device recipe claims, and extractor errors."""
    msgs = []
    stray = L.poly_on_diffusion - gates
    for poly in stray.each():  # a boolean result: merged already
        msgs.append(f"poly over diffusion at {_um(poly.bbox().center(), L.layout.dbu)} µm "
                    f"matches no device recognition")
    for err in lvs.each_error():
        msgs.append(f"extraction: {err.message}")
    return msgs


def _unknown_layers(layout: kdb.Layout, cell: kdb.Cell, process: Process) -> list[str]:
    """GDS layer/datatype pairs with shapes in the cell that the process does not define (ignored by LVS)."""
    known = {lay.gds for lay in process.technology.layers.values()}
    out = []
    for li in layout.layer_indexes():
        info = layout.get_info(li)
        if (info.layer, info.datatype) not in known and not cell.bbox(li).empty():
            out.append(f"{info.layer}/{info.datatype}")
    return sorted(out, key=lambda x: tuple(map(int, x.split("/"))))


#: combined reference netlists by cell content, least recently used first: a cell is
#: typically checked against many layouts, and building its netlist costs as much as a compare
_REFERENCES: OrderedDict[tuple, kdb.Netlist] = OrderedDict()
_MAX_REFERENCES = 1024


def reference_netlist(reference: Cell, name: str | None = None) -> kdb.Netlist:
    """A fresh copy of the reference netlist of ``reference`` (fingers combined), built once per content.

    A copy, because the LVS database takes ownership of its reference.
    """
    key = (name or reference.name, reference.pins, tuple(reference.transistors), tuple(reference.devices))
    ref = _REFERENCES.get(key)
    if ref is None:
        ref = _REFERENCES[key] = cell_to_kdb_netlist(reference, name=key[0])
        ref.combine_devices()
        if len(_REFERENCES) > _MAX_REFERENCES:
            _REFERENCES.popitem(last=False)
    else:
        _REFERENCES.move_to_end(key)
    return ref.dup()


def _compare(lvs: kdb.LayoutVsSchematic, reference: Cell, name: str) -> tuple[bool, kdb.Circuit]:
    """Prepare both netlists (pins, combined fingers, tolerances), run KLayout's comparer.

    Returns its verdict and the reference circuit.
    """
    _prepare_layout_netlist(lvs.netlist())
    ref = reference_netlist(reference, name)
    for dc in lvs.netlist().each_device_class():
        twin = ref.device_class_by_name(dc.name)
        if twin is not None:
            dc.equal_parameters = twin.equal_parameters
    lvs.reference = ref
    return bool(lvs.compare(kdb.NetlistComparer())), ref.circuit_by_name(name)


def _cell_layers(layout: kdb.Layout, cell: kdb.Cell, process: Process, layers: CellLayers | None) -> CellLayers:
    """``layers`` (the DRC's flat layers of this cell) when given, else a fresh set."""
    if layers is None:
        return CellLayers.of(layout, cell, process.technology)
    if layers.tech is not process.technology or layers.cell.cell_index() != cell.cell_index():
        raise ValueError(f"layers of {layers.cell.name} ({layers.tech.name}) passed to LVS of {cell.name} "
                         f"({process.technology.name})")
    return layers


def run_lvs(layout: kdb.Layout, cell: kdb.Cell, process: Process, reference: Cell,
            lvsdb_path: str | None = None, layers: CellLayers | None = None) -> LvsResult:
    """Extract ``cell`` (flattened) with the rules of ``process`` and compare it with ``reference``.

    Writes a KLayout ``.lvsdb`` (netlist browser) to ``lvsdb_path`` when given.
    ``layers``: the cell's :class:`CellLayers` from ``run_drc``, so both flatten it once.
    """
    t0 = time.perf_counter()
    if process.template is None:
        raise ValueError(f"process {process.name} has no template (layer roles); LVS needs a target process")
    lvs = kdb.LayoutVsSchematic(cell.name, layout.dbu)
    L = _Layers(_cell_layers(layout, cell, process, layers), process)
    ex = _extract(lvs, L, _recipes(process, reference))
    messages = ex.messages + _extraction_messages(lvs, L, ex.gates)
    match, ref_circuit = _compare(lvs, reference, cell.name)
    xref = lvs.xref()
    if not match:
        messages += _compare_messages(xref)
    notes = ex.notes + _diode_perimeter_notes(xref)
    pins_ok = _check_pins(xref, ref_circuit, ex, messages, notes)
    unknown = _unknown_layers(layout, cell, process)
    if unknown:
        (notes if match and pins_ok else messages).append(
            f"shapes on layers {', '.join(unknown)} that process {process.name} does not define were ignored")
    if lvsdb_path:
        lvs.write(str(lvsdb_path))
    return LvsResult(cell.name, match, pins_ok, messages, notes, time.perf_counter() - t0, lvs)
