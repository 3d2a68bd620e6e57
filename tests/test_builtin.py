"""The built-in library: emitted SPICE checked by a switch-level simulation.

The simulator here is deliberately independent of the generator: it reads only
the ``M`` lines of the emitted text. Nets take 0, 1 or X; a transistor conducts
when its gate is 1 (NMOS) or 0 (PMOS) and may conduct when its gate is X. Each
step recomputes every net from the previous step's gate values (unit delay, or
random delays for the sequential cells), until nothing changes. A net joined to
no supply or input keeps its charge, which is how latches and flip-flops keep
state between steps; when charge is shared, gate-loaded nets and pins outweigh
series-stack nodes. Two pull networks both conducting is a fight.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import random
import re
import subprocess
import sys

import pytest

import nbcell.builtin as builtin
from nbcell.builtin import expr
from nbcell.builtin.functions import CellSpec, Stage, TGate, TriInv
from nbcell.builtin.generator import GeneratorError, devices, subckt

X = "X"
CELLS = builtin.cells()
BY_KIND = {k: [c for c in CELLS if c.kind == k] for k in ("comb", "tristate", "latch", "flop")}


def ids(cells):
    return [c.name for c in cells]


# --- tiny SPICE reader (M lines only) ------------------------------------------

_M_LINE = re.compile(r"^(M\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(nmos|pmos)\s+w=([\d.]+)u\s+l=([\d.]+)u$")


def parse_subckt(text: str) -> tuple[str, list[str], list[tuple]]:
    """(name, pins, [(name, drain, gate, source, bulk, model, w, l)]) of one cell."""
    name, pins, mos = None, [], []
    for line in text.splitlines():
        if not line or line.startswith("*"):
            continue
        if line.startswith(".subckt"):
            _, name, *pins = line.split()
        elif line.startswith("M"):
            m = _M_LINE.match(line)
            assert m, f"unreadable device line: {line!r}"
            mos.append((*m.groups()[:6], float(m.group(7)), float(m.group(8))))
        else:
            assert line == ".ends", f"unexpected line {line!r}"
    return name, pins, mos


# --- switch-level simulator ----------------------------------------------------

class Sim:
    def __init__(self, text: str, inputs: tuple[str, ...]):
        self.name, self.pins, mos = parse_subckt(text)
        self.edges = [(model, d, g, s) for _, d, g, s, _, model, _, _ in mos]
        self.sources = {"VDD", "VSS", *inputs}
        nets = dict.fromkeys(self.pins)
        for _, d, g, s in self.edges:
            nets.update(dict.fromkeys((d, g, s)))
        self.nets = [n for n in nets if n not in self.sources]
        # A gate net left floating at rest would be dynamic storage, which a
        # static library must not rely on; series-stack nodes may float.
        self.gate_nets = {g for _, _, g, _ in self.edges if g not in self.sources}
        self.large = self.gate_nets | (set(self.pins) - self.sources)

    def _components(self, vals, edges):
        parent = {n: n for n in self.nets}

        def find(n):
            while parent[n] != n:
                parent[n] = parent[parent[n]]
                n = parent[n]
            return n

        touch: dict[str, set] = {}
        pending = []
        for d, s in edges:
            if d in self.sources and s in self.sources:
                raise AssertionError(f"{self.name}: {d} and {s} joined directly")
            if d in self.sources or s in self.sources:
                src, net = (d, s) if d in self.sources else (s, d)
                pending.append((net, vals[src]))
            else:
                parent[find(d)] = find(s)
        for net, v in pending:
            touch.setdefault(find(net), set()).add(v)
        members: dict[str, list[str]] = {}
        for n in self.nets:
            members.setdefault(find(n), []).append(n)
        return find, touch, members

    def step(self, vals):
        """One unit-delay step: (new values, fighting nets, floating nets)."""
        on, maybe = [], []
        for model, d, g, s in self.edges:
            gv = vals[g]
            if gv == X:
                maybe.append((d, s))
            elif gv == (1 if model == "nmos" else 0):
                on.append((d, s))
        sfind, stouch, _ = self._components(vals, on)
        wfind, wtouch, wmembers = self._components(vals, on + maybe)
        new = dict(vals)
        fights, floating = set(), set()
        for n in self.nets:
            strong = stouch.get(sfind(n), set())
            weak = wtouch.get(wfind(n), set())
            if {0, 1} <= strong:
                fights.add(n)
                new[n] = X
            elif strong:
                (v,) = strong
                new[n] = v if weak <= {v} else X
            else:
                if not weak:  # not even possibly joined to a supply or input
                    floating.add(n)
                # Charge is kept. Charge sharing is decided by the large nodes
                # (gate-loaded nets and pins) it may be joined to: a series-stack
                # node between two devices holds too little charge to flip them.
                group = wmembers[wfind(n)]
                large = [m for m in group if m in self.large] or group
                possible = weak | {vals[m] for m in large}
                new[n] = possible.pop() if len(possible) == 1 else X
        return new, fights, floating

    def settle(self, inputs: dict[str, int], state: dict | None = None, rng: random.Random | None = None,
               limit: int = 500):
        """Apply ``inputs`` to ``state`` (net values, X where unknown) and run to a fixed point.

        Without ``rng`` every net moves each step (unit delay). With it, each
        changing net moves or waits at random, as if delays were arbitrary: a
        design whose result depends on the order of events shows up as a
        wrong or X result for some order.
        """
        vals = {n: X for n in self.nets}
        if state:
            vals.update({n: state[n] for n in self.nets})
        vals.update({"VDD": 1, "VSS": 0})
        vals.update(inputs)
        for _ in range(limit):
            new, fights, floating = self.step(vals)
            if new == vals:
                return new, fights, floating
            if rng is not None:
                changed = [n for n in self.nets if new[n] != vals[n]]
                keep = [n for n in changed if rng.random() < 0.5]
                for n in keep[: len(changed) - 1]:  # at least one net moves
                    new[n] = vals[n]
            vals = new
        raise AssertionError(f"{self.name}: no fixed point after {limit} steps for {inputs}")


def sim_of(cell: CellSpec) -> Sim:
    return Sim(builtin.cell_text(cell.name), cell.inputs)


def vectors(names):
    for bits in itertools.product((0, 1), repeat=len(names)):
        yield dict(zip(names, bits))


def one_bit_walk(names, steps, seed):
    """Input vectors changing one input at a time (no setup/hold races)."""
    rng = random.Random(seed)
    cur = {n: rng.randint(0, 1) for n in names}
    yield dict(cur)
    for _ in range(steps):
        n = rng.choice(names)
        cur[n] ^= 1
        yield dict(cur)


# --- library-level checks ------------------------------------------------------

def test_deterministic():
    assert builtin.library_text() == builtin.library_text()
    assert [builtin.cell_text(c.name) for c in CELLS] == [builtin.cell_text(c.name) for c in builtin.cells()]


def test_deterministic_across_processes():
    code = "import hashlib, nbcell.builtin as b; print(hashlib.sha256(b.library_text().encode()).hexdigest())"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    digests = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed,
               "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        digests.add(out.stdout.strip())
    assert digests == {hashlib.sha256(builtin.library_text().encode()).hexdigest()}


def test_names_unique_and_count():
    names = ids(CELLS)
    assert len(set(names)) == len(names)
    assert 45 <= len(names) <= 60
    assert all(re.fullmatch(r"nbcell__[a-z0-9]+_\d+", n) for n in names)
    assert builtin.LIBRARY_NAME == "nbcell_builtin"


def test_library_is_all_cells():
    text = builtin.library_text()
    for c in CELLS:
        assert builtin.cell_text(c.name) in text
    assert len(re.findall(r"^\.subckt ", text, re.M)) == len(CELLS)
    assert len(re.findall(r"^\.ends$", text, re.M)) == len(CELLS)


def test_unknown_cell():
    with pytest.raises(KeyError):
        builtin.cell_text("nbcell__nope_1")


@pytest.mark.parametrize("cell", CELLS, ids=ids(CELLS))
def test_netlist_shape(cell):
    name, pins, mos = parse_subckt(builtin.cell_text(cell.name))
    assert name == cell.name
    assert pins == [*cell.inputs, *cell.outputs, "VDD", "VSS"] == list(cell.pins)
    assert mos, "no transistors"
    assert len({m[0] for m in mos}) == len(mos)
    for _, d, g, s, b, model, w, l in mos:
        assert b == ("VSS" if model == "nmos" else "VDD")
        assert l == 1.0 and w > 0
    used = {t for m in mos for t in m[1:4]}
    assert set(pins) <= used


def test_inv_1_unit_widths():
    _, _, mos = parse_subckt(builtin.cell_text("nbcell__inv_1"))
    assert sorted((m[5], m[6]) for m in mos) == [("nmos", 1.0), ("pmos", 1.5)]


def test_stacks_are_widened():
    _, _, nand = parse_subckt(builtin.cell_text("nbcell__nand3_1"))
    _, _, nor = parse_subckt(builtin.cell_text("nbcell__nor2_1"))
    assert sorted((m[5], m[6]) for m in nand) == [("nmos", 3.0)] * 3 + [("pmos", 1.5)] * 3
    assert sorted((m[5], m[6]) for m in nor) == [("nmos", 1.0)] * 2 + [("pmos", 3.0)] * 2


@pytest.mark.parametrize("cell", [c for c in CELLS if c.drive > 1], ids=ids([c for c in CELLS if c.drive > 1]))
def test_drive_scales_output_stage(cell):
    base = next(c for c in CELLS if c.function == cell.function and c.drive == 1)
    _, _, small = parse_subckt(builtin.cell_text(base.name))
    _, _, big = parse_subckt(builtin.cell_text(cell.name))
    assert [m[:6] for m in small] == [m[:6] for m in big]
    for s, b in zip(small, big):
        assert b[6] / s[6] in (1.0, cell.drive)
        if set(cell.outputs) & {s[1], s[3]}:
            assert b[6] == s[6] * cell.drive


def test_write_library(tmp_path):
    out = builtin.write_library(tmp_path / "lib")
    assert out == tmp_path / "lib" / "nbcell_builtin.spice"
    assert out.read_text() == builtin.library_text()
    assert os.listdir(tmp_path / "lib") == ["nbcell_builtin.spice"]
    again = builtin.write_library(out)  # a file path is written in place
    assert again == out and os.listdir(tmp_path / "lib") == ["nbcell_builtin.spice"]


def test_project_reader_reads_it():
    from nbcell.library import read_library

    res = read_library("builtin")
    assert not res.errors
    assert [c.name for c in res.cells] == ids(CELLS)
    for cell, spec in zip(res.cells, CELLS):
        assert cell.pins == spec.pins
        assert len(cell.transistors) == len(devices(spec))
        assert {(t.model, t.type) for t in cell.transistors} <= {("nmos", "n"), ("pmos", "p")}


def test_expression_syntax():
    body = expr.inverting_body("!(A&B | C&(D|E))")
    assert expr.variables(body) == ["A", "B", "C", "D", "E"]
    assert expr.evaluate(expr.parse("!(A&B | C)"), {"A": 1, "B": 1, "C": 0}) == 0
    for bad in ("A&B", "!(A & !B)", "!(A &)", "!(A", "!(A) B", "!(A+B)"):
        with pytest.raises(expr.ExprError):
            expr.inverting_body(bad)


def test_generator_rejects_bad_descriptions():
    good = next(c for c in CELLS if c.name == "nbcell__and2_1")
    broken = [
        (Stage("yn", "!(A&B)"), Stage("Y", "!zz")),  # read but never driven
        (Stage("Y", "!(A&B)"), Stage("Y", "!A")),  # two static drivers
        (Stage("Y", "!(A&B)"), TriInv("A", "Y", "B", "Y")),  # drives an input
        (Stage("n1", "!(A&B)"), Stage("Y", "!n1")),  # clashes with stack nets
        (Stage("y", "!(A&B)"), Stage("Y", "!y")),  # differs from a pin only in case
        (Stage("Y", "!A"),),  # B unused
    ]
    for stages in broken:
        spec = CellSpec(good.name, good.function, 1, good.inputs, good.outputs, stages,
                        good.behaviour, good.kind, good.doc)
        with pytest.raises(GeneratorError):
            devices(spec)


def test_transmission_gate_primitive():
    """No library cell needs a transmission gate today; check the primitive on a TG mux."""
    base = next(c for c in CELLS if c.name == "nbcell__mux2_1")
    stages = (Stage("an0", "!A0"), Stage("an1", "!A1"), Stage("sn", "!S"),
              TGate("an0", "yn", "sn", "S"), TGate("an1", "yn", "S", "sn"), Stage("Y", "!yn"))
    spec = CellSpec("nbcell__tgmux2_1", "TGMUX2", 1, base.inputs, base.outputs, stages,
                    base.behaviour, "comb", "")
    text = subckt(spec)
    _, _, mos = parse_subckt(text)
    tg = [m for m in mos if {m[1], m[3]} == {"an0", "yn"}]
    assert sorted((m[2], m[5], m[6]) for m in tg) == [("S", "pmos", 1.5), ("sn", "nmos", 1.0)]
    sim = Sim(text, spec.inputs)
    state = None
    for vec in list(vectors(spec.inputs)) * 2:
        state, fights, floating = sim.settle(vec, state)
        assert not fights and not floating & sim.gate_nets
        assert state["Y"] == spec.evaluate(vec)["Y"], f"{vec}"


# --- behaviour checks ----------------------------------------------------------

COMB = BY_KIND["comb"]


@pytest.mark.parametrize("cell", COMB, ids=ids(COMB))
def test_combinational_truth_table(cell):
    sim = sim_of(cell)
    for vec in vectors(cell.inputs):
        # Start from all-X: a static cell must not depend on stored charge.
        vals, fights, floating = sim.settle(vec)
        assert not fights, f"{vec}: VDD-VSS fight on {sorted(fights)}"
        assert not floating & (sim.gate_nets | set(cell.outputs)), f"{vec}: floating {sorted(floating)}"
        got = {o: vals[o] for o in cell.outputs}
        assert got == cell.evaluate(vec), f"{vec}"


TRI = BY_KIND["tristate"]


@pytest.mark.parametrize("cell", TRI, ids=ids(TRI))
def test_tristate(cell):
    sim = sim_of(cell)
    state = None
    for vec in list(vectors(cell.inputs)) * 2:
        state, fights, floating = sim.settle(vec, state)
        assert not fights
        expected = cell.evaluate(vec)
        for o, v in expected.items():
            if v is None:
                assert o in floating, f"{vec}: {o} should be high-Z"
            else:
                assert o not in floating and state[o] == v, f"{vec}"
        assert not floating & sim.gate_nets, f"gate nets float: {floating}"
        if not vec["OE"]:
            assert expected == {"Z": None}


SEQ = BY_KIND["latch"] + BY_KIND["flop"]


class Seq:
    """Drive a sequential cell step by step, carrying the net values between steps."""

    def __init__(self, cell: CellSpec, seed: int | None = None):
        self.cell, self.sim, self.state = cell, sim_of(cell), None
        self.rng = None if seed is None else random.Random(seed)

    def __call__(self, **inputs) -> int | str:
        self.state, fights, floating = self.sim.settle(inputs, self.state, self.rng)
        assert not fights, f"{inputs}: fight on {sorted(fights)}"
        assert not (set(self.cell.outputs) | self.sim.gate_nets) & floating, f"{inputs}: floating"
        return self.state["Q"]


SEEDS = [None, 1, 2, 3, 4]


@pytest.mark.parametrize("seed", SEEDS, ids=[f"delay-{s or 'unit'}" for s in SEEDS])
@pytest.mark.parametrize("cell", SEQ, ids=ids(SEQ))
def test_sequential_random_walk(cell, seed):
    """Single-input changes from power-up; Q must match the behaviour whenever it is defined."""
    run = Seq(cell, seed)
    prev_in, expected = None, None
    for vec in one_bit_walk(cell.inputs, 400, seed=cell.name):
        q = run(**vec)
        expected = cell.evaluate(vec, prev_in, expected)
        if expected["Q"] is not None:
            assert q == expected["Q"], f"{vec} after {prev_in}"
        prev_in = vec


@pytest.mark.parametrize("cell", BY_KIND["latch"], ids=ids(BY_KIND["latch"]))
def test_latch(cell):
    run = Seq(cell)
    for d in (0, 1, 0, 1):
        assert run(D=d, G=1) == d  # transparent
        assert run(D=1 - d, G=1) == 1 - d
        assert run(D=d, G=1) == d
        assert run(D=d, G=0) == d  # closes holding d
        assert run(D=1 - d, G=0) == d  # holds while D changes
        assert run(D=d, G=0) == d


FLOPS = BY_KIND["flop"]


@pytest.mark.parametrize("cell", FLOPS, ids=ids(FLOPS))
def test_flop_edges(cell):
    run = Seq(cell)
    extra = {"RN": 1} if "RN" in cell.inputs else {}
    for d in (0, 1, 1, 0, 1):
        run(D=d, CLK=0, **extra)
        assert run(D=d, CLK=1, **extra) == d  # rising edge captures
        assert run(D=1 - d, CLK=1, **extra) == d  # holds while CLK=1
        assert run(D=1 - d, CLK=0, **extra) == d  # falling edge: no capture
        assert run(D=d, CLK=0, **extra) == d  # holds while CLK=0


@pytest.mark.parametrize("cell", [c for c in FLOPS if "RN" in c.inputs],
                         ids=ids([c for c in FLOPS if "RN" in c.inputs]))
def test_flop_reset(cell):
    run = Seq(cell)
    for clk in (0, 1):
        # Load a 1 first, then reset with the clock at rest in either phase.
        run(D=1, CLK=0, RN=1)
        assert run(D=1, CLK=1, RN=1) == 1
        run(D=1, CLK=clk, RN=1)
        assert run(D=1, CLK=clk, RN=0) == 0  # asynchronous: no edge needed
        assert run(D=1, CLK=1 - clk, RN=0) == 0  # clock is ignored during reset
        assert run(D=1, CLK=clk, RN=0) == 0
        assert run(D=1, CLK=clk, RN=1) == 0  # release keeps 0 until an edge
        if clk == 1:
            run(D=1, CLK=0, RN=1)
        assert run(D=1, CLK=1, RN=1) == 1
