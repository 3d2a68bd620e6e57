"""SPICE / CDL reader: text -> raw subcircuits, one error per broken subcircuit.

The reader is deliberately dialect-tolerant: ``+`` continuations, ``*`` comment
lines, ``$`` and ``;`` inline comments, ``*.PININFO`` pin directions, ``M``/``X``/
``D``/``R``/``C`` elements with 3 or 4 MOS terminals, SI suffixes (``1e+06u``,
``81.0n``, ``1.32U``). Meaning (n/p, µm) is assigned later, when a subcircuit
is flattened against a process (:mod:`nbcell.library`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from nbcell.limits import MAX_LINE_CHARS, MAX_NAME_CHARS, MAX_NETLIST_BYTES
from nbcell.netlist import NetlistError, SourceRef

_SUFFIX = {"t": 1e12, "g": 1e9, "meg": 1e6, "k": 1e3, "mil": 25.4e-6, "m": 1e-3,
           "u": 1e-6, "n": 1e-9, "p": 1e-12, "f": 1e-15, "a": 1e-18}
# one way to read each number (no nested repeats: linear time on any token), then a unit name
_NUMBER = re.compile(r"([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)(meg|mil|[tgkmunpfa])?([a-z]*)", re.IGNORECASE)
_UNITS = {"", "m", "f", "h", "s", "v", "a", "hz", "ohm", "ohms"}  # what may follow the scale (1um, 10fF)
_ELEMENTS = "MXDRC"
#: parameters nbcell reads: a value that is not a number is an error, not an annotation
_GEOMETRY = {"w", "l", "nf", "ng", "m", "mult"}
# C0/C1 control characters but tab; \v, \f and \r count as white space
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")


def parse_value(text: str) -> float:
    """A SPICE number with an optional scale suffix, in SI units (``1e+06u`` -> 1.0); ValueError for
    anything else (``1.2uu``, ``nan``) and for values out of the float range (``1e400``)."""
    text = text.strip()
    m = _NUMBER.fullmatch(text) if len(text) <= 64 else None
    if not m or m.group(3).lower() not in _UNITS:
        raise ValueError(f"not a number: {text!r}")
    mant, suffix, _unit = m.groups()
    value = float(mant) * (_SUFFIX[suffix.lower()] if suffix else 1.0)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {text!r}")
    return value


def _printable(text: str) -> str:
    """``text`` with control characters as ``\\xNN`` (for names and messages)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


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


def logical_lines(text: str):
    """Yield (line number, text, problem) with continuations joined and comments removed;
    ``problem`` says why the line cannot be read (None: it can).

    ``*.PININFO`` lines are kept (they carry pin directions); other ``*`` lines are dropped.
    A byte-order mark at a line start is skipped. A line over ``MAX_LINE_CHARS`` is cut there
    (its problem says so), so no later step works on more.
    """
    too_long = f"line longer than {MAX_LINE_CHARS} characters (nbcell.limits.MAX_LINE_CHARS)"
    start, parts, size, problem, stray = 0, [], 0, None, False
    for n, raw in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), 1):
        long = len(raw) > MAX_LINE_CHARS
        line = raw[:MAX_LINE_CHARS].lstrip("\ufeff").rstrip()
        stripped = line.lstrip()
        if stripped.startswith("*"):
            if stripped[1:].lstrip().upper().startswith(".PININFO"):
                if parts:
                    yield start, " ".join(parts), problem
                start, parts, size, problem = n, [stripped], len(stripped), too_long if long else None
            continue
        line = re.split(r"(?:^|\s)[$;]", line, maxsplit=1)[0].rstrip()
        if not line.strip():
            continue
        if stripped.startswith("+"):
            if not parts:
                if not stray:  # one error for a run of them
                    yield n, "", "continuation line '+' with nothing to continue"
                stray = True
                continue
            piece = line.lstrip()[1:].strip()
            size += 1 + len(piece)
            if long or size > MAX_LINE_CHARS:
                problem = problem or too_long
            else:
                parts.append(piece)
            continue
        if parts:
            yield start, " ".join(parts), problem
        start, parts, size, problem = n, [line.strip()], len(line.strip()), too_long if long else None
    if parts:
        yield start, " ".join(parts), problem


def _tokens(line: str) -> list[str]:
    """White-space separated tokens, ``w = 1u`` and ``w= 1u`` joined to ``w=1u`` (linear time)."""
    out: list[str] = []
    for tok in line.split():
        if out and (tok.startswith("=") or out[-1].endswith("=")):
            out[-1] += tok
        else:
            out.append(tok)
    return out


def _line_problem(line: str, toks: list[str]) -> str | None:
    """Why a line cannot be read whatever it says: a control character or an over-long name."""
    bad = _CONTROL.search(line)
    if bad:
        return f"control character {_printable(bad.group())} in the line"
    longest = max(toks, key=len, default="")
    if len(longest) > MAX_NAME_CHARS:
        return (f"a name or value of {len(longest)} characters, over the limit of {MAX_NAME_CHARS} "
                "(nbcell.limits.MAX_NAME_CHARS)")
    return None


def _shown(name: str) -> str:
    """A name fit for a row and a message: control characters escaped, cut at ``MAX_NAME_CHARS``."""
    name = _printable(name)
    return name if len(name) <= MAX_NAME_CHARS else f"{name[:MAX_NAME_CHARS]}...({len(name)} characters)"


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
            except ValueError as e:
                if key.lower() in _GEOMETRY or _NUMBER.fullmatch(val[:64]):
                    raise NetlistError(ref, f"parameter {tok!r}: {e}") from None
                continue  # non-numeric CDL annotations such as topography=normal carry no geometry
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
            except ValueError as e:
                if _NUMBER.fullmatch(tok[:64]):
                    raise NetlistError(ref, f"value {tok!r}: {e}") from None
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
    devices: dict[str, int] = {}  # device name (any case) -> line, in the current subcircuit
    for n, line, problem in logical_lines(text):
        ref = SourceRef(path, n)
        toks = _tokens(line)
        problem = problem or _line_problem(line, toks)
        head = toks[0].lower() if toks else ""
        if head == ".subckt":
            if cur is not None:
                cur.error = cur.error or NetlistError(ref, "nested .subckt (missing .ends?)", cur.name)
                out.subckts.append(cur)
            if len(toks) < 2:
                out.errors.append(NetlistError(ref, ".subckt without a name"))
                cur = None
                continue
            name = toks[1] if problem is None else _shown(toks[1])
            pins = [t for t in toks[2:] if "=" not in t and t.lower() != "params:"]
            cur, devices = RawSubckt(name, pins, ref), {}
            seen: set[str] = set()
            twice = next((p for p in pins if p in seen or seen.add(p)), None)
            if problem is not None or twice is not None:
                cur.error = NetlistError(ref, problem or f"pin {twice} listed twice", name)
            continue
        if problem is not None:
            err = NetlistError(ref, problem, cur.name if cur else None)
            if cur is not None:
                cur.error = cur.error or err
            else:
                out.errors.append(err)
            if head != ".ends":
                continue
        if head.startswith("*"):  # *.PININFO
            if cur is not None:
                for item in toks[1:]:
                    pin, _, d = item.partition(":")
                    if pin:
                        cur.pin_directions[pin] = d.upper()
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
            el = parse_element(toks, ref)
        except NetlistError as e:
            cur.error = NetlistError(e.ref, e.reason, cur.name)
            continue
        first = devices.setdefault(el.name.lower(), n)
        if first != n:
            # two devices of one name: LVS and the fingers' names would mix them up
            cur.error = NetlistError(ref, f"device name {el.name} used twice (also line {first})", cur.name)
            continue
        cur.elements.append(el)
    if cur is not None:
        cur.error = cur.error or NetlistError(cur.ref, "missing .ends at end of file", cur.name)
        out.subckts.append(cur)
    return out


def read_netlist_file(path: str | Path) -> NetlistFile:
    """Read and parse one SPICE/CDL file (UTF-8; a byte that is not becomes U+FFFD)."""
    p = Path(path)
    nf = NetlistFile(str(p))
    try:
        size = p.stat().st_size
        if size > MAX_NETLIST_BYTES:
            nf.errors.append(NetlistError(SourceRef(str(p), 0), f"file of {size} bytes, over the limit of "
                                                                 f"{MAX_NETLIST_BYTES} (nbcell.limits.MAX_NETLIST_BYTES)"))
            return nf
        data = p.read_bytes()
    except OSError as e:
        nf.errors.append(NetlistError(SourceRef(str(p), 0), f"cannot read file: {e.strerror or e}"))
        return nf
    return parse_netlist(data.decode("utf-8", errors="replace"), p)
