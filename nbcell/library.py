"""Read a whole library: find its netlist files, resolve subcircuit calls, flatten each cell.

A *source* is a netlist file, a folder of netlist files, a library folder laid
out like ``../shared/celllibs/<lib>`` (netlists under ``spice/`` or ``cdl/``;
SPICE wins where both exist), or ``builtin``. Device models get their meaning
(n/p, flavour) from the source process definition.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from nbcell.limits import MAX_CELL_DEVICES, MAX_DEPTH, MAX_FINGERS, MAX_LENGTH_UM, MIN_LENGTH_UM
from nbcell.netlist import Cell, CellError, Device, NetlistError, Transistor
from nbcell.pdk import PdkError, Process, load_process, process_for_library, process_for_models
from nbcell.spice import NetlistFile, RawSubckt, parse_netlist, read_netlist_file

NETLIST_SUFFIXES = (".spice", ".sp", ".cdl", ".cir", ".ckt", ".net", ".spi")
BUILTIN = "builtin"
_KINDS = {"M": "MOS device", "X": "subcircuit call", "D": "diode", "R": "resistor", "C": "capacitor"}


def default_celllibs() -> Path:
    """Where the real libraries are: ``$NBCELL_CELLLIBS``, else ``../shared/celllibs`` from the
    working directory (the project root), else next to the source checkout."""
    env = os.environ.get("NBCELL_CELLLIBS")
    if env:
        return Path(env)
    here = Path.cwd().parent / "shared" / "celllibs"
    checkout = Path(__file__).resolve().parents[2] / "shared" / "celllibs"
    return checkout if not here.is_dir() and checkout.is_dir() else here


@dataclass
class Source:
    """Resolved input: a library name, its netlist files (or builtin text)."""

    name: str
    files: list[Path]
    text: str | None = None  # in-memory netlist (builtin library)


def resolve_source(source: str | Path) -> Source:
    """Turn a ``source=`` argument into the netlist files to read."""
    if str(source) == BUILTIN:
        from nbcell import builtin

        return Source(builtin.LIBRARY_NAME, [Path(f"<{BUILTIN}>")], text=builtin.library_text())
    p = Path(source)
    if p.is_file():
        return Source(p.stem.split("__")[0], [p])
    if not p.is_dir():
        raise FileNotFoundError(f"source {str(source)!r}: no such file or folder")
    for sub in ("spice", "cdl"):
        files = _netlists_in(p / sub)
        if files:
            return Source(p.name, files)
    files = _netlists_in(p)
    if not files:
        raise FileNotFoundError(f"source {str(source)!r}: no netlist files ({', '.join(NETLIST_SUFFIXES)}) found")
    return Source(p.name, files)


def _netlists_in(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in NETLIST_SUFFIXES)


@dataclass
class Library:
    """All subcircuits of a source, by name, with read problems kept per cell."""

    name: str
    process: Process
    subckts: dict[str, RawSubckt] = field(default_factory=dict)
    file_errors: list[NetlistError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    _sizes: dict[str, int] = field(default_factory=dict, repr=False)  # flattened device count by subcircuit

    def add(self, nf: NetlistFile) -> None:
        self._sizes.clear()
        self.file_errors.extend(nf.errors)
        self.warnings.extend(nf.warnings)
        for sc in nf.subckts:
            old = self.subckts.get(sc.name)
            if old is None:
                self.subckts[sc.name] = sc
                continue
            # A name defined twice: identical copies are harmless; otherwise the
            # definition in the file named after the cell wins, else the first.
            if old.signature() == sc.signature() and old.error is None:
                continue
            own = Path(sc.ref.file).stem == sc.name and Path(old.ref.file).stem != sc.name
            keep, drop = (sc, old) if own else (old, sc)
            self.subckts[sc.name] = keep
            self.warnings.append(f"{drop.ref}: subcircuit {sc.name} defined again (differently); "
                                 f"using the one at {keep.ref}")

    def flatten(self, name: str) -> Cell:
        """Flatten one subcircuit into a :class:`Cell`; raises :class:`NetlistError`."""
        sc = self.subckts[name]
        if sc.error is not None:
            raise sc.error
        # count first: subcircuits that call each other several times per level grow exponentially
        n = self._size(sc, (sc.name,))
        if n > MAX_CELL_DEVICES:
            raise NetlistError(sc.ref, f"flattens to {n} devices, over the limit of {MAX_CELL_DEVICES} "
                                       "(nbcell.limits.MAX_CELL_DEVICES)", sc.name)
        cell = Cell(sc.name, tuple(sc.pins), ref=sc.ref, pin_directions=dict(sc.pin_directions))
        self._expand(sc, {p: p for p in sc.pins}, "", cell, (sc.name,))
        return cell

    def _size(self, sc: RawSubckt, stack: tuple) -> int:
        """Devices of ``sc`` after flattening (memoized; never expands); raises on a recursive or
        too deeply nested call."""
        got = self._sizes.get(sc.name)
        if got is not None:
            return got
        n = 0
        for el in sc.elements:
            if el.letter == "X" and el.model in self.subckts:
                self._check_call(el, sc, stack)
                n += self._size(self.subckts[el.model], stack + (el.model,))
            else:
                n += 1
        self._sizes[sc.name] = n
        return n

    @staticmethod
    def _check_call(el, sc: RawSubckt, stack: tuple) -> None:
        if el.model in stack:
            raise NetlistError(el.ref, f"recursive subcircuit call {' -> '.join(stack + (el.model,))}", sc.name)
        if len(stack) >= MAX_DEPTH:
            raise NetlistError(el.ref, f"subcircuit calls nested deeper than {MAX_DEPTH} levels "
                                       "(nbcell.limits.MAX_DEPTH)", sc.name)

    def _expand(self, sc: RawSubckt, netmap: dict[str, str], prefix: str, cell: Cell, stack: tuple) -> None:
        if sc.error is not None:
            raise sc.error

        def net(n: str) -> str:
            got = netmap.get(n)
            if got is None:
                got = netmap[n] = f"{prefix}{n}"
            return got

        for el in sc.elements:
            model = el.model
            if el.letter == "X" and model in self.subckts:
                self._check_call(el, sc, stack)
                child = self.subckts[model]
                if len(el.nodes) != len(child.pins):
                    # Real extracted arrays (sky130_fd_sc_hdll__tap) call cells with more
                    # nodes than their pins: connect positionally, leave the rest, warn.
                    self.warnings.append(f"{el.ref}: call of {model} gives {len(el.nodes)} nodes, it has "
                                         f"{len(child.pins)} pins; connected positionally")
                sub = {p: net(a) for p, a in zip(child.pins, el.nodes)}
                self._expand(child, sub, f"{prefix}{el.name}/", cell, stack + (model,))
                continue
            dm = self.process.device(model)
            if dm is None and model is None:
                raise NetlistError(el.ref, f"{_KINDS[el.letter]} {el.name} names no model (plain {el.letter} "
                                           "elements are not supported in standard cells)", sc.name)
            if dm is None:
                what = "subcircuit or device model" if el.letter == "X" else "device model"
                raise NetlistError(el.ref, f"unknown {what} {model!r} for {_KINDS[el.letter]} {el.name} "
                                           f"(process {self.process.name})", sc.name)
            dname, model = f"{prefix}{el.name}", self.process.device_name(model)
            if dm.kind == "mos":
                if el.letter not in "MX":
                    raise NetlistError(el.ref, f"{model!r} is a MOS model but used on a {el.letter} line", sc.name)
                cell.transistors.append(self._transistor(el, dname, model, dm, net, sc.name))
            else:
                nodes = tuple(net(n) for n in el.nodes)
                if dm.kind in ("resistor", "short") and len(nodes) == 3:
                    nodes = nodes[:2]  # third node of an X-resistor is its body
                if len(nodes) != 2:
                    raise NetlistError(el.ref, f"{dm.kind} {el.name} needs 2 nodes, has {len(nodes)}", sc.name)
                params = tuple(sorted(el.params.items())) + tuple((f"#{i}", v) for i, v in enumerate(el.values))
                cell.devices.append(Device(dname, dm.kind, nodes, model, params, el.ref))

    def _transistor(self, el, dname, model, dm, net, cell_name) -> Transistor:
        def need(key: str) -> float:
            if key not in el.params:
                raise NetlistError(el.ref, f"MOS device {el.name} has no {key}=", cell_name)
            v = el.params[key]
            if not v > 0:
                raise NetlistError(el.ref, f"MOS device {el.name}: {key} must be positive", cell_name)
            um = to_um(v)
            if not MIN_LENGTH_UM <= um <= MAX_LENGTH_UM:
                raise NetlistError(el.ref, f"MOS device {el.name}: {key} = {um:g} µm is outside {MIN_LENGTH_UM:g}.."
                                           f"{MAX_LENGTH_UM:g} µm (nbcell.limits)", cell_name)
            return um

        w, length = need("w"), need("l")
        nf = el.params.get("nf", el.params.get("ng", 1))
        m = el.params.get("m", 1) * el.params.get("mult", 1)
        if not (0 < nf <= MAX_FINGERS and 0 < m <= MAX_FINGERS) or min(round(nf), round(m)) < 1 \
                or round(nf) * round(m) > MAX_FINGERS:
            raise NetlistError(el.ref, f"MOS device {el.name}: nf = {nf:g} and m = {m:g} must be at least 1 "
                                       f"and nf x m at most {MAX_FINGERS} (nbcell.limits.MAX_FINGERS)", cell_name)
        nf, m = round(nf), round(m)
        if dm.w_is_total:
            w /= nf
        nodes = [net(n) for n in el.nodes]
        if len(nodes) == 3:  # 3-terminal device: body on the process's body net for its type
            sup = self.process.supplies
            body = (sup.pwell_body or sup.ground) if dm.type == "n" else (sup.nwell_body or sup.power)
            nodes.append(net(body))
        elif len(nodes) != 4:
            raise NetlistError(el.ref, f"MOS device {el.name} needs 3 or 4 terminals, has {len(nodes)}", cell_name)
        d, g, s, b = nodes
        return Transistor(dname, d, g, s, b, model, dm.type, dm.flavour, w, length, nf, m, el.ref)


def to_um(value_si: float) -> float:
    """A netlist length in µm. Values below 1 mm are metres (``8.2e-07``, ``81n``);
    larger ones were written in µm under ``.option scale=1e-6`` (``1e+06u`` = 1 µm)."""
    return value_si * 1e6 if value_si < 1e-3 else value_si


@dataclass
class ReadResult:
    """The readable cells of a source, the unreadable ones with their reason, and warnings."""

    library: Library
    cells: list[Cell]
    errors: list[CellError]

    @property
    def name(self) -> str:
        return self.library.name

    @property
    def process(self) -> Process:
        return self.library.process


def load_library(source: str | Path, process: str | Process | None = None) -> Library:
    """Parse every netlist of ``source`` and pick its process (given, by library name, or by models)."""
    src = resolve_source(source)
    files = ([parse_netlist(src.text, src.files[0])] if src.text is not None
             else [read_netlist_file(f) for f in src.files])
    if isinstance(process, str):
        process = load_process(process)
    if process is None:
        process = process_for_library(src.name)
    if process is None:
        models = {e.model for nf in files for sc in nf.subckts for e in sc.elements if e.model}
        process = process_for_models(models)
    if process is None:
        raise PdkError(str(source), "process", "no process definition knows these device models; "
                                                "give process=NAME")
    lib = Library(src.name, process)
    for nf in files:
        lib.add(nf)
    return lib


def read_library(source: str | Path, process: str | Process | None = None) -> ReadResult:
    """Read and flatten every cell of ``source``; one bad cell never stops the others."""
    lib = load_library(source, process)
    cells, errors = [], []
    for name in lib.subckts:
        try:
            cells.append(lib.flatten(name))
        except NetlistError as e:
            errors.append(CellError(name, str(e)))
    errors.extend(CellError("", str(e)) for e in lib.file_errors)
    return ReadResult(lib, cells, errors)
