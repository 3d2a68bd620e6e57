"""Transistor generation and SPICE text for the built-in library.

Sizing: unit widths ``WN`` (NMOS) and ``WP`` (PMOS), length ``L`` everywhere.
A device of a stage that drives a cell output is widened by the longest series
path through it, so every stack drives like the unit inverter, and multiplied by
the drive strength. A stage that only drives gates inside the cell keeps unit
widths, stacked or not (its load is one or two gates; the foundry libraries size
such stages below their inverter too). Each device is one plain line (no ``m=``/``nf=``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nbcell.builtin.expr import And, Node, Or, Var, inverting_body, variables
from nbcell.builtin.functions import CellSpec, Primitive, Stage, TGate, TriInv

WN = 1.0
WP = 1.5
L = 1.0
SUPPLIES = ("VDD", "VSS")
_STACK_NET = re.compile(r"^n\d+$", re.IGNORECASE)


class GeneratorError(ValueError):
    """A cell description that cannot be turned into a circuit."""


@dataclass(frozen=True)
class Mos:
    """One generated transistor (widths and length in µm)."""

    name: str
    drain: str
    gate: str
    source: str
    bulk: str
    model: str  # "nmos" or "pmos"
    w: float
    l: float

    def line(self) -> str:
        return (f"{self.name} {self.drain} {self.gate} {self.source} {self.bulk} "
                f"{self.model} w={_um(self.w)}u l={_um(self.l)}u")


def _um(x: float) -> str:
    # Fixed rounding keeps the text identical across platforms; ".0" is kept
    # so widths read as lengths rather than counts.
    s = f"{x:.4f}".rstrip("0")
    return s + "0" if s.endswith(".") else s


def _depth(node: Node, series: type) -> int:
    """Devices on the longest path through ``node``'s network."""
    if isinstance(node, Var):
        return 1
    d = [_depth(a, series) for a in node.args]
    return sum(d) if isinstance(node, series) else max(d)


class _Builder:
    def __init__(self, spec: CellSpec):
        self.spec = spec
        self.devices: list[Mos] = []
        self._nets = 0

    def net(self) -> str:
        self._nets += 1
        return f"n{self._nets}"

    def mos(self, model: str, drain: str, gate: str, source: str, w: float) -> None:
        bulk = "VSS" if model == "nmos" else "VDD"
        self.devices.append(Mos(f"M{len(self.devices) + 1}", drain, gate, source, bulk, model, w, L))

    def network(self, node: Node, top: str, bottom: str, model: str, unit: float, extra: int = 0,
                stacked: bool = True) -> None:
        """Devices for ``node`` between ``top`` (output side) and ``bottom`` (rail side).

        NMOS: AND is series, OR parallel; PMOS is the dual. ``extra`` counts the
        series devices outside ``node`` on its path, for sizing.
        """
        series = And if model == "nmos" else Or
        if isinstance(node, Var):
            self.mos(model, top, node.name, bottom, unit * (1 + extra) if stacked else unit)
            return
        if not isinstance(node, series):
            for a in node.args:
                self.network(a, top, bottom, model, unit, extra, stacked)
            return
        depths = [_depth(a, series) for a in node.args]
        total = sum(depths)
        upper = top
        for i, (a, d) in enumerate(zip(node.args, depths)):
            lower = bottom if i == len(node.args) - 1 else self.net()
            self.network(a, upper, lower, model, unit, extra + total - d, stacked)
            upper = lower

    def primitive(self, p: Primitive, scale: float, internal: bool = False) -> None:
        if isinstance(p, Stage):
            body = inverting_body(p.expr)
            self.network(body, p.out, "VSS", "nmos", WN * scale, stacked=not internal)
            self.network(body, p.out, "VDD", "pmos", WP * scale, stacked=not internal)
        elif isinstance(p, TriInv):
            # Enable devices next to the output, data devices next to the rails.
            for model, en, rail, unit in (("nmos", p.en, "VSS", WN), ("pmos", p.enb, "VDD", WP)):
                mid = self.net()
                self.mos(model, p.out, en, mid, 2 * unit * scale)
                self.mos(model, mid, p.inp, rail, 2 * unit * scale)
        elif isinstance(p, TGate):
            self.mos("nmos", p.a, p.en, p.b, WN * scale)
            self.mos("pmos", p.a, p.enb, p.b, WP * scale)
        else:  # pragma: no cover - the union is closed
            raise GeneratorError(f"{self.spec.name}: unknown primitive {p!r}")


def _driven(p: Primitive) -> tuple[str, ...]:
    if isinstance(p, TGate):
        return (p.a, p.b)
    return (p.out,)


def _reads(p: Primitive) -> tuple[str, ...]:
    if isinstance(p, Stage):
        return tuple(variables(inverting_body(p.expr)))
    if isinstance(p, TriInv):
        return (p.inp, p.en, p.enb)
    return (p.en, p.enb)


def check(spec: CellSpec) -> None:
    """Reject descriptions that would produce a wrong or ambiguous netlist."""
    where = spec.name
    pins = spec.pins
    if len({p.upper() for p in pins}) != len(pins):
        raise GeneratorError(f"{where}: pin names repeat (SPICE names are case-insensitive)")
    if any(_STACK_NET.match(p) for p in pins):
        raise GeneratorError(f"{where}: pin names of the form n<k> are reserved for stack nets")
    internal: dict[str, str] = {}
    stage_outs: set[str] = set()
    tri_outs: set[str] = set()
    driven: set[str] = set()
    for p in spec.stages:
        for n in _driven(p) + _reads(p):
            if n in pins:
                continue
            if n.upper() in (q.upper() for q in pins) or _STACK_NET.match(n):
                raise GeneratorError(f"{where}: internal net {n!r} clashes with a pin or stack net")
            if internal.setdefault(n.upper(), n) != n:
                raise GeneratorError(f"{where}: nets {n!r} and {internal[n.upper()]!r} differ only in case")
        for n in _driven(p):
            if n in spec.inputs or n in SUPPLIES:
                raise GeneratorError(f"{where}: input or supply {n!r} is driven by {p!r}")
            # A static stage always drives its output, so only a transmission
            # gate (which passes a value, it does not make one) may share it.
            if not isinstance(p, TGate):
                if n in stage_outs or (isinstance(p, Stage) and n in tri_outs):
                    raise GeneratorError(f"{where}: static stage output {n!r} has another driver")
                (stage_outs if isinstance(p, Stage) else tri_outs).add(n)
            driven.add(n)
    for p in spec.stages:
        for n in _reads(p):
            if n not in spec.inputs and n not in driven:
                raise GeneratorError(f"{where}: net {n!r} is read but never driven")
    for o in spec.outputs:
        if o not in driven:
            raise GeneratorError(f"{where}: output {o!r} is not driven")
    used = {n for p in spec.stages for n in _reads(p) + _driven(p)}
    for i in spec.inputs:
        if i not in used:
            raise GeneratorError(f"{where}: input {i!r} is not used")


def devices(spec: CellSpec) -> list[Mos]:
    """The transistors of ``spec``, in netlist order."""
    check(spec)
    b = _Builder(spec)
    for p in spec.stages:
        drives_output = any(n in spec.outputs for n in _driven(p))
        b.primitive(p, float(spec.drive) if drives_output else 1.0, internal=not drives_output)
    return b.devices


def subckt(spec: CellSpec) -> str:
    """The ``.subckt`` ... ``.ends`` text of one cell, with a one-line comment."""
    lines = [f"* {spec.name}: {spec.doc}" if spec.doc else f"* {spec.name}",
             f".subckt {spec.name} {' '.join(spec.pins)}"]
    lines += [m.line() for m in devices(spec)]
    lines.append(".ends")
    return "\n".join(lines) + "\n"


def library(specs: list[CellSpec], name: str) -> str:
    """All subcircuits of ``specs`` as one SPICE file."""
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise GeneratorError(f"{name}: cell names repeat")
    header = (
        f"* {name}: generated by nbcell.builtin from logic-function descriptions; do not edit.\n"
        f"* Unit sizes Wn={_um(WN)}u Wp={_um(WP)}u L={_um(L)}u; a stack of k series devices is k times wider;\n"
        f"* output stages are scaled by the drive strength (the _N suffix).\n"
    )
    return header + "".join("\n" + subckt(s) for s in specs)
