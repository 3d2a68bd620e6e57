"""SPICE / CDL reader: text -> raw subcircuits, one error per broken subcircuit.

The reader is deliberately dialect-tolerant: ``+`` continuations, ``*`` comment
lines, ``$`` and ``;`` inline comments, ``*.PININFO`` pin directions, ``M``/``X``/
``D``/``R``/``C`` elements with 3 or 4 MOS terminals, SI suffixes (``1e+06u``,
``81.0n``, ``1.32U``). Meaning (n/p, µm) is assigned later, when a subcircuit
is flattened against a process (:mod:`nbcell.library`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from nbcell.netlist import NetlistError, SourceRef

_SUFFIX = {"t": 1e12, "g": 1e9, "meg": 1e6, "k": 1e3, "mil": 25.4e-6, "m": 1e-3,
           "u": 1e-6, "n": 1e-9, "p": 1e-12, "f": 1e-15, "a": 1e-18}
_NUMBER = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(meg|mil|[tgkmunpfa])?([a-z]*)$", re.IGNORECASE)
_ELEMENTS = "MXDRC"


def parse_value(text: str) -> float:
    """A SPICE number with an optional scale suffix, in SI units (``1e+06u`` -> 1.0)."""
    m = _NUMBER.match(text.strip())
    if not m:
        raise ValueError(f"not a number: {text!r}")
    mant, suffix, _unit = m.groups()
    return float(mant) * (_SUFFIX[suffix.lower()] if suffix else 1.0)


@dataclass
class RawElement:
    """One element line: ``letter`` is M/X/D/R/C; nodes and model as written."""

    name: str
    letter: str
    nodes: list[str]
    model: str | None
    params: dict[str, float]
    values: list[float]
    ref: SourceRef


@dataclass
class RawSubckt:
    """A ``.subckt`` block as written; ``error`` is the first problem found in it."""

    name: str
    pins: list[str]
    ref: SourceRef
    elements: list[RawElement] = field(default_factory=list)
    pin_directions: dict[str, str] = field(default_factory=dict)
    error: NetlistError | None = None

    def signature(self) -> tuple:
        """Content without locations: equal signatures mean identical definitions."""
        return (tuple(self.pins), tuple((e.name, tuple(e.nodes), e.model, tuple(sorted(e.params.items())))
                                        for e in self.elements))


@dataclass
class NetlistFile:
    path: str
    subckts: list[RawSubckt] = field(default_factory=list)
    errors: list[NetlistError] = field(default_factory=list)  # problems outside any subcircuit
    warnings: list[str] = field(default_factory=list)


def logical_lines(text: str, path: str):
    """Yield (line number, text) with continuations joined and comments removed.

    ``*.PININFO`` lines are kept (they carry pin directions); other ``*`` lines
    are dropped.
    """
    start, buf = 0, ""
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        stripped = line.lstrip()
        if stripped.startswith("*"):
            if stripped[1:].lstrip().upper().startswith(".PININFO"):
                if buf:
                    yield start, buf
                start, buf = n, stripped
            continue
        line = re.split(r"(?:^|\s)[$;]", line, maxsplit=1)[0].rstrip()
        if not line.strip():
            continue
        if stripped.startswith("+"):
            if not buf:
                raise NetlistError(SourceRef(path, n), "continuation line '+' with nothing to continue")
            buf += " " + line.lstrip()[1:].strip()
            continue
        if buf:
            yield start, buf
        start, buf = n, line.strip()
    if buf:
        yield start, buf


def _tokens(line: str) -> list[str]:
    # "w = 1u" and "w= 1u" become "w=1u"
    line = re.sub(r"\s*=\s*", "=", line)
    return line.split()


def parse_element(tokens: list[str], ref: SourceRef) -> RawElement:
    """Split an element line into nodes, model, ``key=value`` params and bare values."""
    name = tokens[0]
    letter = name[0].upper()
    if letter not in _ELEMENTS:
        raise NetlistError(ref, f"unsupported element {name!r}: only M, X, D, R and C lines are read")
    positional: list[str] = []
    params: dict[str, float] = {}
    for tok in tokens[1:]:
        if "=" in tok:
            key, _, val = tok.partition("=")
            if not key or not val:
                raise NetlistError(ref, f"malformed parameter {tok!r}")
            if val[0] in "'{\"":
                raise NetlistError(ref, f"parameter expression {tok!r} is not supported (write a number)")
            try:
                params[key.lower()] = parse_value(val)
            except ValueError:
                # non-numeric CDL annotations such as topography=normal carry no geometry
                continue
        else:
            if params:
                raise NetlistError(ref, f"positional token {tok!r} after parameters")
            positional.append(tok)
    values: list[float] = []
    if letter == "M":
        if len(positional) not in (4, 5):
            raise NetlistError(ref, f"MOS line needs 3 or 4 terminals and a model, found {len(positional)} fields")
        nodes, model = positional[:-1], positional[-1]
    elif letter == "X":
        if len(positional) < 2:
            raise NetlistError(ref, "subcircuit call needs at least one node and a subcircuit/model name")
        nodes, model = positional[:-1], positional[-1]
    else:  # D, R, C: two nodes, then an optional model and optional bare values
        if len(positional) < 2:
            raise NetlistError(ref, f"{letter} line needs two nodes")
        nodes, rest = positional[:2], positional[2:]
        model = None
        for tok in rest:
            try:
                values.append(parse_value(tok))
            except ValueError:
                if model is not None:
                    raise NetlistError(ref, f"unexpected token {tok!r}") from None
                model = tok
        if letter == "D" and model is None:
            raise NetlistError(ref, "diode line needs a model name")
    return RawElement(name, letter, nodes, model, params, values, ref)


def parse_netlist(text: str, path: str | Path) -> NetlistFile:
    """Parse netlist text. A bad line marks only its own subcircuit as broken."""
    path = str(path)
    out = NetlistFile(path)
    cur: RawSubckt | None = None
    try:
        lines = list(logical_lines(text, path))
    except NetlistError as e:
        out.errors.append(e)
        return out
    for n, line in lines:
        ref = SourceRef(path, n)
        toks = _tokens(line)
        head = toks[0].lower()
        if head.startswith("*"):  # *.PININFO
            if cur is not None:
                for item in toks[1:]:
                    pin, _, d = item.partition(":")
                    if pin:
                        cur.pin_directions[pin] = d.upper()
            continue
        if head == ".subckt":
            if cur is not None:
                cur.error = cur.error or NetlistError(ref, "nested .subckt (missing .ends?)", cur.name)
                out.subckts.append(cur)
            if len(toks) < 2:
                out.errors.append(NetlistError(ref, ".subckt without a name"))
                cur = None
                continue
            pins = [t for t in toks[2:] if "=" not in t and t.lower() != "params:"]
            cur = RawSubckt(toks[1], pins, ref)
            continue
        if head == ".ends":
            if cur is None:
                out.errors.append(NetlistError(ref, ".ends without .subckt"))
                continue
            if len(toks) > 1 and toks[1] != cur.name:
                cur.error = cur.error or NetlistError(ref, f".ends {toks[1]} closes .subckt {cur.name}", cur.name)
            out.subckts.append(cur)
            cur = None
            continue
        if head.startswith("."):
            if head in (".end", ".option", ".options", ".global", ".temp", ".lib", ".endl"):
                continue
            err = NetlistError(ref, f"unsupported control line {toks[0]}", cur.name if cur else None)
            if cur is not None:
                cur.error = cur.error or err
            else:
                out.errors.append(err)
            continue
        if cur is None:
            # a top-level circuit (e.g. the test array at the end of hdll muxb.spice) is no cell
            if not out.warnings or "top-level" not in out.warnings[-1]:
                out.warnings.append(f"{ref}: top-level element lines outside any .subckt ignored")
            continue
        if cur.error is not None:
            continue  # one error per cell is enough; keep reading to find .ends
        try:
            cur.elements.append(parse_element(toks, ref))
        except NetlistError as e:
            e.cell = cur.name
            cur.error = NetlistError(e.ref, e.reason, cur.name)
    if cur is not None:
        cur.error = cur.error or NetlistError(cur.ref, "missing .ends at end of file", cur.name)
        out.subckts.append(cur)
    return out


def read_netlist_file(path: str | Path) -> NetlistFile:
    """Read and parse one SPICE/CDL file."""
    p = Path(path)
    try:
        text = p.read_text(errors="replace")
    except OSError as e:
        nf = NetlistFile(str(p))
        nf.errors.append(NetlistError(SourceRef(str(p), 0), f"cannot read file: {e.strerror or e}"))
        return nf
    return parse_netlist(text, p)
