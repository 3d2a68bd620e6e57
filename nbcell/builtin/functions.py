"""The built-in library as data: every logic function, its circuit stages and its behaviour.

A function is described once (:class:`Function`) and expanded into one
:class:`CellSpec` per drive strength. Circuits are lists of stages:

* :class:`Stage`: a static CMOS inverting stage, ``out = expr`` with ``expr``
  written ``!(...)`` over AND/OR of nets (see :mod:`nbcell.builtin.expr`);
* :class:`TriInv`: tri-state (clocked) inverter, ``out = !inp`` while ``en=1``
  (``enb`` its complement), high-Z otherwise;
* :class:`TGate`: transmission gate between ``a`` and ``b``, on while ``en=1``.

The behaviour functions are written independently of the stages so the tests
can check the generated transistors against them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Union

Values = Mapping[str, int]
Outputs = dict[str, Union[int, None]]
# behaviour(inputs, previous inputs, previous outputs) -> outputs; None = high-Z.
# Combinational cells ignore the previous values; sequential ones need them
# (an edge is a change between the previous and current inputs).
Behaviour = Callable[[Values, Union[Values, None], Union[Mapping[str, Union[int, None]], None]], Outputs]


@dataclass(frozen=True)
class Stage:
    """Static CMOS stage: ``out`` = ``expr``, an inverting function ``!(...)``."""

    out: str
    expr: str


@dataclass(frozen=True)
class TriInv:
    """Tri-state (clocked) inverter: ``out = !inp`` when ``en=1``/``enb=0``, else high-Z."""

    out: str
    inp: str
    en: str
    enb: str


@dataclass(frozen=True)
class TGate:
    """Transmission gate joining ``a`` and ``b`` when ``en=1``/``enb=0``."""

    a: str
    b: str
    en: str
    enb: str


Primitive = Union[Stage, TriInv, TGate]

KINDS = ("comb", "tristate", "latch", "flop")


@dataclass(frozen=True)
class Function:
    """One logic function, drive-independent."""

    function: str  # upper case, e.g. "AOI21"
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    stages: tuple[Primitive, ...]
    behaviour: Behaviour
    drives: tuple[int, ...]
    kind: str = "comb"
    doc: str = ""


@dataclass(frozen=True)
class CellSpec:
    """One cell of the library: a function at one drive strength."""

    name: str  # e.g. "nbcell__aoi21_1"
    function: str
    drive: int
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    stages: tuple[Primitive, ...]
    behaviour: Behaviour
    kind: str
    doc: str

    @property
    def pins(self) -> tuple[str, ...]:
        """Subcircuit pin order: inputs, outputs, then supplies."""
        return (*self.inputs, *self.outputs, "VDD", "VSS")

    @property
    def sequential(self) -> bool:
        return self.kind in ("latch", "flop")

    def evaluate(self, inputs: Values, prev_inputs: Values | None = None,
                 prev_outputs: Mapping[str, int | None] | None = None) -> Outputs:
        """Expected outputs; sequential cells need the previous inputs and outputs."""
        return self.behaviour(inputs, prev_inputs, prev_outputs)


def cell_name(function: str, drive: int) -> str:
    return f"nbcell__{function.lower()}_{drive}"


# --- behaviour helpers -------------------------------------------------------

def _comb(outputs: tuple[str, ...], fn: Callable[..., object]) -> Behaviour:
    """Wrap ``fn(**inputs)`` returning one bit, or a tuple of bits per output."""

    def behaviour(inputs, prev_inputs=None, prev_outputs=None):
        result = fn(**{k: int(bool(v)) for k, v in inputs.items()})
        bits = result if isinstance(result, tuple) else (result,)
        return {o: int(bool(b)) for o, b in zip(outputs, bits, strict=True)}

    return behaviour


def _tbuf(inputs, prev_inputs=None, prev_outputs=None):
    return {"Z": int(bool(inputs["A"])) if inputs["OE"] else None}


def _held(prev_outputs) -> int | None:
    return None if prev_outputs is None else prev_outputs.get("Q")


def _dlat(inputs, prev_inputs=None, prev_outputs=None):
    return {"Q": int(bool(inputs["D"])) if inputs["G"] else _held(prev_outputs)}


def _rising(inputs, prev_inputs) -> bool:
    return prev_inputs is not None and not prev_inputs["CLK"] and bool(inputs["CLK"])


def _dff(inputs, prev_inputs=None, prev_outputs=None):
    return {"Q": int(bool(inputs["D"])) if _rising(inputs, prev_inputs) else _held(prev_outputs)}


def _dffr(inputs, prev_inputs=None, prev_outputs=None):
    if not inputs["RN"]:
        return {"Q": 0}
    return _dff(inputs, prev_inputs, prev_outputs)


# --- circuit helpers ---------------------------------------------------------

def _inv(out: str, inp: str) -> Stage:
    return Stage(out, f"!{inp}")


def _gate(function: str, inputs: tuple[str, ...], expr: str, py: Callable[..., object],
          drives: tuple[int, ...], buffered: bool) -> Function:
    """A single inverting stage ``Y = expr``, or, if ``buffered``, ``yn = expr`` + inverter.

    Non-inverting gates are the inverting stage followed by an inverter: only
    the inverter is scaled with the drive, so the input load stays at unit size.
    """
    if buffered:
        stages = (Stage("yn", expr), _inv("Y", "yn"))
    else:
        stages = (Stage("Y", expr),)
    text = expr[2:-1] if buffered else expr
    return Function(function, inputs, ("Y",), stages, _comb(("Y",), py), drives,
                    doc=f"Y = {text}")


def _nand(n: int, drives, buffered=False) -> Function:
    """NANDn, or ANDn if ``buffered``."""
    ins = tuple("ABCD"[:n])
    name = ("AND" if buffered else "NAND") + str(n)
    py = (lambda **v: all(v.values())) if buffered else (lambda **v: not all(v.values()))
    return _gate(name, ins, "!(" + "&".join(ins) + ")", py, drives, buffered)


def _nor(n: int, drives, buffered=False) -> Function:
    """NORn, or ORn if ``buffered``."""
    ins = tuple("ABCD"[:n])
    name = ("OR" if buffered else "NOR") + str(n)
    py = (lambda **v: any(v.values())) if buffered else (lambda **v: not any(v.values()))
    return _gate(name, ins, "!(" + "|".join(ins) + ")", py, drives, buffered)


def _groups(sizes: str) -> list[tuple[str, ...]]:
    """Pin groups for AOI/OAI ``sizes`` like "221": (A1, A2), (B1, B2), (C1,)."""
    return [tuple(f"{'ABC'[i]}{j + 1}" for j in range(int(k))) for i, k in enumerate(sizes)]


def _aoi(sizes: str, drives) -> Function:
    groups = _groups(sizes)
    expr = "!(" + " | ".join("&".join(g) for g in groups) + ")"

    def py(**v):
        return not any(all(v[p] for p in g) for g in groups)

    return _gate(f"AOI{sizes}", tuple(p for g in groups for p in g), expr, py, drives, False)


def _oai(sizes: str, drives) -> Function:
    groups = _groups(sizes)
    expr = "!(" + " & ".join(g[0] if len(g) == 1 else "(" + "|".join(g) + ")" for g in groups) + ")"

    def py(**v):
        return not all(any(v[p] for p in g) for g in groups)

    return _gate(f"OAI{sizes}", tuple(p for g in groups for p in g), expr, py, drives, False)


# Buffered clock: the pin drives only one inverter, and the latch/flop
# internals see a clean complementary pair (clkn, clkp) made from it.
def _clock(pin: str, neg: str, pos: str) -> tuple[Stage, Stage]:
    return (_inv(neg, pin), _inv(pos, neg))


def catalogue() -> tuple[Function, ...]:
    """Every function of the built-in library, in library order."""
    d124, d12, d1 = (1, 2, 4), (1, 2), (1,)
    xor_stages = (
        Stage("nor_ab", "!(A|B)"),
        Stage("Y", "!(A&B | nor_ab)"),  # !(AB + !A!B) = A^B
    )
    xnor_stages = (
        Stage("nand_ab", "!(A&B)"),
        Stage("Y", "!((A|B) & nand_ab)"),  # !((A+B)(!A+!B)) = !(A^B)
    )
    funcs = [
        _gate("INV", ("A",), "!A", lambda A: not A, d124, False),
        Function("BUF", ("A",), ("Y",), (_inv("yn", "A"), _inv("Y", "yn")),
                 _comb(("Y",), lambda A: A), d124, doc="Y = A"),
        _nand(2, d124), _nand(3, d12), _nand(4, d1),
        _nor(2, d124), _nor(3, d12), _nor(4, d1),
        _nand(2, d124, True), _nand(3, d1, True), _nand(4, d1, True),
        _nor(2, d124, True), _nor(3, d1, True), _nor(4, d1, True),
        _aoi("21", d12), _aoi("22", d12), _aoi("211", d1), _aoi("221", d1), _aoi("222", d1),
        _oai("21", d12), _oai("22", d12), _oai("211", d1), _oai("221", d1), _oai("222", d1),
        Function("XOR2", ("A", "B"), ("Y",), xor_stages, _comb(("Y",), lambda A, B: A ^ B),
                 d1, doc="Y = A ^ B"),
        Function("XNOR2", ("A", "B"), ("Y",), xnor_stages, _comb(("Y",), lambda A, B: 1 - (A ^ B)),
                 d1, doc="Y = !(A ^ B)"),
        Function("MUX2", ("A0", "A1", "S"), ("Y",),
                 (_inv("sn", "S"), Stage("yn", "!(A0&sn | A1&S)"), _inv("Y", "yn")),
                 _comb(("Y",), lambda A0, A1, S: A1 if S else A0), d12,
                 doc="Y = S ? A1 : A0"),
        # Two AOI22 muxes give the complements of the halves; a third AOI22
        # selecting between complements yields the true output, no inverter.
        Function("MUX4", ("A0", "A1", "A2", "A3", "S0", "S1"), ("Y",),
                 (_inv("s0n", "S0"), _inv("s1n", "S1"),
                  Stage("y01n", "!(A0&s0n | A1&S0)"), Stage("y23n", "!(A2&s0n | A3&S0)"),
                  Stage("Y", "!(y01n&s1n | y23n&S1)")),
                 _comb(("Y",), lambda A0, A1, A2, A3, S0, S1: (A0, A1, A2, A3)[S0 + 2 * S1]),
                 d1, doc="Y = (A0, A1, A2, A3)[S1S0]"),
        Function("MAJ3", ("A", "B", "C"), ("Y",),
                 (Stage("yn", "!(A&B | C&(A|B))"), _inv("Y", "yn")),
                 _comb(("Y",), lambda A, B, C: A + B + C >= 2), d1, doc="Y = AB | AC | BC"),
        Function("HA", ("A", "B"), ("S", "CO"),
                 (Stage("con", "!(A&B)"), _inv("CO", "con"),
                  Stage("nor_ab", "!(A|B)"), Stage("S", "!(A&B | nor_ab)")),
                 _comb(("S", "CO"), lambda A, B: (A ^ B, A & B)), d1,
                 doc="S = A ^ B, CO = AB"),
        # Mirror adder: the sum stage reuses the inverted carry.
        Function("FA", ("A", "B", "CI"), ("S", "CO"),
                 (Stage("con", "!(A&B | CI&(A|B))"),
                  Stage("sn", "!(A&B&CI | con&(A|B|CI))"),
                  _inv("S", "sn"), _inv("CO", "con")),
                 _comb(("S", "CO"), lambda A, B, CI: ((A + B + CI) & 1, A + B + CI >= 2)), d1,
                 doc="S = A ^ B ^ CI, CO = MAJ(A, B, CI)"),
        Function("TBUF", ("A", "OE"), ("Z",),
                 (_inv("an", "A"), _inv("oen", "OE"), TriInv("Z", "an", "OE", "oen")),
                 _tbuf, d12, kind="tristate", doc="Z = OE ? A : high-Z"),
        # Sequential cells use clocked inverters only: a storage node's writer
        # and keeper have opposite enables, so while the clock pair overlaps
        # (both 0 or both 1) they can only pull the same way, never fight, and a
        # value cannot race through: the pins see only gates.
        #
        # Static latch: open (m = !D) while G=1, held by the keeper while G=0.
        Function("DLAT", ("D", "G"), ("Q",),
                 (*_clock("G", "gn", "gp"),
                  TriInv("m", "D", "gp", "gn"),
                  _inv("mb", "m"), TriInv("m", "mb", "gn", "gp"),
                  _inv("Q", "m")),
                 _dlat, d1, kind="latch", doc="Q = D while G=1, held while G=0"),
        # Master-slave (C2MOS) flip-flop: master open while CLK=0, slave while
        # CLK=1. The slave reads the master node m1 directly: an inverter between
        # them would let a 1-1 clock overlap pass new data straight through.
        Function("DFF", ("D", "CLK"), ("Q",),
                 (*_clock("CLK", "clkn", "clkp"),
                  TriInv("m1", "D", "clkn", "clkp"),
                  _inv("m2", "m1"), TriInv("m1", "m2", "clkp", "clkn"),
                  TriInv("s1", "m1", "clkp", "clkn"),
                  _inv("s2", "s1"), TriInv("s1", "s2", "clkn", "clkp"),
                  _inv("Q", "s2")),
                 _dff, d12, kind="flop", doc="Q = D at the rising edge of CLK"),
        # Same flop with reset: the slave loop gate is NAND(s1, RN), forcing
        # s2 = 1 and so Q = 0 at once; the master loop gate NOR(m1, r), r = !RN,
        # forces m1 = 1 so the slave reads 0 when open. Both loops then agree
        # with Q = 0 when RN is released, whatever the clock.
        Function("DFFR", ("D", "CLK", "RN"), ("Q",),
                 (*_clock("CLK", "clkn", "clkp"), _inv("r", "RN"),
                  TriInv("m1", "D", "clkn", "clkp"),
                  Stage("m2", "!(m1 | r)"), TriInv("m1", "m2", "clkp", "clkn"),
                  TriInv("s1", "m1", "clkp", "clkn"),
                  Stage("s2", "!(s1 & RN)"), TriInv("s1", "s2", "clkn", "clkp"),
                  _inv("Q", "s2")),
                 _dffr, d1, kind="flop",
                 doc="Q = D at the rising edge of CLK; Q = 0 while RN=0"),
    ]
    return tuple(funcs)


def cell_specs() -> list[CellSpec]:
    """Every cell: each function at each of its drive strengths, in library order."""
    return [
        CellSpec(cell_name(f.function, d), f.function, d, f.inputs, f.outputs, f.stages,
                 f.behaviour, f.kind, f.doc)
        for f in catalogue()
        for d in f.drives
    ]
