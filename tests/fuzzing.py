"""Seeded fuzzing of everything nbcell reads (issue #15): netlists through the reader and ``size``,
process files through loading and one cell's ``port``, and hostile netlists through the batch job.

Each case runs in a sandbox folder: the input file, a sentinel file and ``$TMPDIR`` sit next to
``out``; afterwards nothing outside ``out`` may differ (but the workers' scratch folders). A case
fails as a *crash* when anything raises that is not one of nbcell's own errors (or a ``failed``
row carries such an exception's name), as a *hang* when it takes over ``CASE_LIMIT_S``, and as an
*outside write* when the sandbox changed outside ``out``. ``tests/test_fuzz.py`` runs a few hundred
cases in the default suite and 10,000+ as a slow test; ``benchmarks/fuzz_input.py`` prints the table.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import tempfile
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

CASE_LIMIT_S = 2.0      # a case over this many CPU seconds is a hang (CPU: other jobs on the machine do not count)
HARD_LIMIT_S = 20.0     # wall seconds: a case is interrupted here, so a hang that waits cannot stall the run
TARGETS = ("gf180mcu_7t", "sky130_hd", "sg13g2")


class Hang(BaseException):
    """Raised by the alarm in a case that runs past HARD_LIMIT_S (BaseException: no `except Exception` eats it)."""


def project_errors() -> tuple[type, ...]:
    """nbcell's own error types: a clear message, never a crash."""
    from nbcell.env import TooLarge
    from nbcell.env.route.generator import GridTooLarge
    from nbcell.layout import LayoutError
    from nbcell.netlist import NetlistError
    from nbcell.pdk import PdkError
    from nbcell.sizing import SizingError

    return NetlistError, SizingError, LayoutError, PdkError, TooLarge, GridTooLarge


def crash_in_row(error: str | None) -> str | None:
    """A ``failed`` row's error that is a Python exception escaping nbcell's checks (``KeyError: 'm1'``)."""
    if not error:
        return None
    m = re.match(r"([A-Za-z_]\w*(?:Error|Exception|Interrupt|Exit))\b:?", error)
    if m and m.group(1) not in {t.__name__ for t in project_errors()}:
        return error
    return None


# -- sandbox -----------------------------------------------------------------------------------------

class Sandbox:
    """``root/`` with ``input/`` (the case's file), ``out/``, ``tmp/`` ($TMPDIR) and a sentinel."""

    def __init__(self, root: Path):
        self.root = root
        self.input, self.out, self.tmp = root / "input", root / "out", root / "tmp"
        for d in (self.input, self.tmp):
            d.mkdir(parents=True, exist_ok=True)
        (root / "sentinel.txt").write_text("must survive\n")
        (self.tmp / "sentinel.txt").write_text("must survive\n")

    def snapshot(self) -> dict[str, tuple[int, int]]:
        """Every file and folder outside ``out`` and the workers' scratch: relative path -> (size, mtime)."""
        seen = {}
        for dirpath, dirs, files in os.walk(self.root):
            here = Path(dirpath)
            dirs[:] = [d for d in dirs if here / d != self.out and not (here == self.tmp and d.startswith("nbcell-worker-"))]
            for name in files + dirs:
                p = here / name
                try:
                    st = p.lstat()
                except OSError:
                    continue
                # a folder counts by its existence (its mtime moves with any temporary file in it)
                seen[p.relative_to(self.root).as_posix()] = (st.st_size, st.st_mtime_ns) if name in files else (-1, 0)
        return seen

    def clear_out(self) -> None:
        shutil.rmtree(self.out, ignore_errors=True)

    def hostile_names(self) -> list[str]:
        """Cell names that are paths: relative ones that stay inside the sandbox if mis-resolved from
        ``out/cells``, absolute ones into it, an existing folder, and names no file system takes."""
        return ["..", "../..", "../../..", "../../escape_cell", "o1/o2/escape_cell", ".", "...", "-rf", "%2E.",
                f"{self.root}/abs_escape_cell", str(self.root), str(self.tmp), "cells", "nbcell.sqlite",
                "summary.json", "a" * 240, "b" * 5000, "nul\0name", "tab\tname", "ctl\x01name", "ü_cell",
                "~cell", "a\\b", "new\x85line", "x" * 300 + "/y"]


@contextmanager
def _tmpdir(path: Path):
    old = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir, os.environ["TMPDIR"] = str(path), str(path)
    try:
        yield
    finally:
        tempfile.tempdir = old[0]
        if old[1] is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = old[1]


def _on_alarm(signum, frame):
    raise Hang()


@contextmanager
def _alarm(seconds: float):
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# -- results -----------------------------------------------------------------------------------------

@dataclass
class Outcome:
    kind: str            # netlist | process | port
    case: int
    mutation: str
    seconds: float       # CPU seconds of this process (per cell for port and process cases)
    crash: str | None = None
    outside: list[str] = field(default_factory=list)
    unclear: str | None = None   # a read error that names no file and line
    result: str = ""             # what became of the input: rejected (with the error type), read, ported ...
    wall: float = 0.0            # wall-clock seconds (a machine shared with other jobs stretches these)

    @property
    def hang(self) -> bool:
        return self.seconds > CASE_LIMIT_S


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, kind: str | None = None) -> dict[str, int]:
        rows = [o for o in self.outcomes if kind is None or o.kind == kind]
        return {"cases": len(rows), "crashes": sum(o.crash is not None for o in rows),
                "hangs": sum(o.hang for o in rows), "outside writes": sum(bool(o.outside) for o in rows),
                "unclear errors": sum(o.unclear is not None for o in rows)}

    def problems(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.crash or o.hang or o.outside or o.unclear]

    def table(self) -> str:
        lines = [f"{'kind':<8} {'cases':>6} {'crashes':>8} {'hangs':>6} {'outside writes':>15} {'unclear':>8} "
                 f"{'max CPU s':>10} {'max wall s':>11} {'total CPU s':>12}"]
        for kind in ("netlist", "process", "port", None):
            rows = [o for o in self.outcomes if kind is None or o.kind == kind]
            c = self.count(kind)
            lines.append(f"{kind or 'all':<8} {c['cases']:>6} {c['crashes']:>8} {c['hangs']:>6} "
                         f"{c['outside writes']:>15} {c['unclear errors']:>8} "
                         f"{max((o.seconds for o in rows), default=0):>10.2f} "
                         f"{max((o.wall for o in rows), default=0):>11.2f} {sum(o.seconds for o in rows):>12.1f}")
        return "\n".join(lines)


# -- netlist mutations ---------------------------------------------------------------------------------

ODD_NUMBERS = ["0", "-1u", "1.2uu", "nan", "inf", "-inf", "1e400", "1e-400", "1e30", "1e-30", "1e9", "1e3u",
               "99999999999999999999", "0.0000001u", "1x", "1..2", "1e", "+", "1meg", "3mil", "NaN", "0x10",
               "1_000", "١٢", "1e+308", "2.5"]
FINGERS = ["1e9", "1e3", "1001", "500", "0", "0.4", "2.5", "nan", "inf", "-1", "1e400", "1e-9", "33"]
UNKNOWN_MODELS = ["SKY130_FD_PR__DIODE_PW2ND_05V5", "sky130_fd_pr__diode_pw2nd_05v5", "NDIODE", "DIODE_PD2NW_06V0",
                  "diode_nd2ps_03v3", "zfet", "NFET_05V0", "sky130_fd_pr__nfet_01v8".upper(), "sg13_lv_nmos", "nmos",
                  "pmos", "res_poly", "cap_mim", "sky130_fd_pr__res_generic_po", "short", ""]
DEVICE_LINES = ["D{n} {a} {b} {m} area=1e12 pj=4e6", "D{n} {a} {b} {m}", "R{n} {a} {b} {m} 1k", "R{n} {a} {b} 100",
                "C{n} {a} {b} 1f", "C{n} {a} {b} {m} 1p", "X{n} {a} {b} {m}", "X{n} {a} {b} {a} {m} w=1u l=1u",
                "M{n} {a} {b} {a} {b} {m} w=1u l=1u", "D{n} {a} {b}"]


def _spans(text: str, pattern: str) -> list[tuple[int, int]]:
    return [m.span() for m in re.finditer(pattern, text)]


def _pick_span(rng: random.Random, text: str, pattern: str) -> tuple[int, int] | None:
    spans = _spans(text, pattern)
    return rng.choice(spans) if spans else None


def _replace(text: str, span: tuple[int, int] | None, new: str) -> str:
    return text if span is None else text[:span[0]] + new + text[span[1]:]


def _lines(text: str) -> list[str]:
    return text.split("\n")


def _subckt_names(text: str) -> list[str]:
    return re.findall(r"(?im)^\s*\.subckt\s+(\S+)", text)


def _fanout(rng: random.Random) -> str:
    """Subcircuits calling each other ``k`` times per level for ``levels`` levels (k^levels copies), or a cycle."""
    kind = rng.choice(["fanout", "fanout", "self", "mutual", "deep"])
    if kind == "self":
        return ".subckt loop A B\nX1 A B loop\nM1 A B A B nmos w=1u l=1u\n.ends\n"
    if kind == "mutual":
        return ".subckt ping A B\nX1 A B pong\n.ends\n.subckt pong A B\nX1 B A ping\n.ends\n"
    levels = rng.randint(5, 60) if kind == "fanout" else rng.randint(30, 200)
    k = rng.randint(2, 4) if kind == "fanout" else 1
    out = [".subckt lvl0 A B\nM1 A B A B nmos w=1u l=1u\nM2 B A B A pmos w=1u l=1u\n.ends"]
    for i in range(1, levels + 1):
        calls = "\n".join(f"X{j} A B lvl{i - 1}" for j in range(k))
        out.append(f".subckt lvl{i} A B\n{calls}\n.ends")
    return "\n".join(out) + "\n"


def mutate_netlist(rng: random.Random, text: str, box: Sandbox) -> tuple[str, bytes]:
    """One to three random mutations of a netlist text; returns (labels, file bytes)."""
    labels, raw_ops = [], []
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        op = rng.choice(["truncate", "delete-token", "duplicate-token", "duplicate-line", "delete-line",
                         "odd-number", "fingers", "nul", "control", "non-utf8", "long-line", "bom", "plus-first",
                         "fanout", "unknown-model", "hostile-name", "hostile-name", "dup-pin", "dup-device",
                         "zero-wl", "case-model", "byte-flip", "device-line", "crlf", "pininfo"])
        labels.append(op)
        lines = _lines(text)
        if op == "truncate" and text:
            text = text[:rng.randrange(len(text))]
        elif op == "delete-token":
            text = _replace(text, _pick_span(rng, text, r"\S+"), "")
        elif op == "duplicate-token":
            s = _pick_span(rng, text, r"\S+")
            text = _replace(text, s, f"{text[s[0]:s[1]]} {text[s[0]:s[1]]}" if s else "")
        elif op == "duplicate-line" and lines:
            i = rng.randrange(len(lines))
            lines.insert(i, lines[i])
            text = "\n".join(lines)
        elif op == "delete-line" and lines:
            del lines[rng.randrange(len(lines))]
            text = "\n".join(lines)
        elif op == "odd-number":
            text = _replace(text, _pick_span(rng, text, r"(?<==)[^\s]+|\b\d[\w.+-]*"), rng.choice(ODD_NUMBERS))
        elif op == "fingers":
            s = _pick_span(rng, text, r"(?im)^\s*[mx]\S*\s.*$")
            key = rng.choice(["nf", "m", "mult", "ng"])
            text = _replace(text, s, f"{text[s[0]:s[1]]} {key}={rng.choice(FINGERS)}" if s else "")
        elif op == "nul":
            i = rng.randrange(len(text) + 1)
            text = text[:i] + "\0" + text[i:]
        elif op == "control":
            i = rng.randrange(len(text) + 1)
            text = text[:i] + rng.choice("\x01\x07\x08\x0b\x0c\x1b\x7f\x85\u2028") + text[i:]
        elif op == "non-utf8":
            raw_ops.append(("bytes", rng.randrange(len(text.encode()) + 1), rng.choice([b"\xff", b"\xc3", b"\x80\x80",
                                                                                     b"\xed\xa0\x80", b"\xfe\xff"])))
        elif op == "long-line":
            i = text.find("\n", rng.randrange(len(text) + 1))
            i = len(text) if i < 0 else i
            filler = rng.choice([" " * 300_000 + "x", "t" * 150_000, "\n+ a" * 60_000, "\nM1 a b c d nmos w" +
                                 " " * 200_000 + "=1u l=1u", "\n.subckt " + "n" * 120_000 + " A\n.ends",
                                 "\n* " + "c" * 500_000, " $" + "$" * 200_000, "\n" + "=" * 200_000])
            text = text[:i] + filler + text[i:]
        elif op == "bom":
            text = "\ufeff" + text
        elif op == "plus-first":
            text = rng.choice(["+ w=1u\n", "+\n", "  + l=1u nf=2\n"]) + text
        elif op == "fanout":
            body = _fanout(rng)
            text = body + text if rng.random() < 0.3 else text + "\n" + body
        elif op == "unknown-model":
            s = _pick_span(rng, text, r"(?im)(?<=\s)(nmos|pmos|\w*fet\w*|\w*diode\w*)\b")
            text = _replace(text, s, rng.choice(UNKNOWN_MODELS) or "x")
        elif op == "hostile-name":
            names = _subckt_names(text)
            if names:
                old, new = rng.choice(names), rng.choice(box.hostile_names())
                text = re.sub(rf"(?im)^(\s*\.(?:subckt|ends)\s+){re.escape(old)}(?=\s|$)", lambda m: m.group(1) + new,
                              text)
        elif op == "dup-pin":
            s = _pick_span(rng, text, r"(?im)^\s*\.subckt\s+\S+\s+\S+")
            text = _replace(text, s, f"{text[s[0]:s[1]]} {text[s[0]:s[1]].split()[-1]}" if s else "")
        elif op == "dup-device":
            devs = [i for i, ln in enumerate(lines) if re.match(r"(?i)\s*[mdrcx]\S*\s", ln)]
            if devs:
                i = rng.choice(devs)
                lines.insert(i + 1, lines[i])
                text = "\n".join(lines)
        elif op == "zero-wl":
            text = _replace(text, _pick_span(rng, text, r"(?i)\b[wl]\s*=\s*\S+"), rng.choice(["w=0", "l=0", "w=0u",
                                                                                          "l=-0", "w=1e-12u"]))
        elif op == "case-model":
            text = re.sub(r"(?i)\b(\w*(?:fet|mos|diode)\w*)\b", lambda m: m.group(1).upper(), text)
        elif op == "byte-flip":
            raw_ops.append(("flip", rng.randrange(1 << 30), rng.randrange(1, 6)))
        elif op == "device-line":
            subs = [i for i, ln in enumerate(lines) if re.match(r"(?i)\s*\.subckt\s", ln)]
            if subs:
                i = rng.choice(subs)
                pins = lines[i].split()[2:] or ["A"]
                line = rng.choice(DEVICE_LINES).format(n=rng.randrange(100), a=rng.choice(pins), b=rng.choice(pins),
                                                       m=rng.choice(UNKNOWN_MODELS + ["nmos", "short"]) or "x")
                lines.insert(i + 1, line)
                text = "\n".join(lines)
        elif op == "crlf":
            text = text.replace("\n", rng.choice(["\r\n", "\r"]))
        elif op == "pininfo":
            text = _replace(text, _pick_span(rng, text, r"(?im)^\s*\.subckt.*$"), rng.choice(
                ["*.PININFO A:I Y:O", "*.pininfo", "*.PININFO " + "p:I " * 10_000, ".subckt"]))
    data = text.encode("utf-8", "surrogatepass")
    for op in raw_ops:
        if op[0] == "bytes":
            i = min(op[1], len(data))
            data = data[:i] + op[2] + data[i:]
        elif data:
            b = bytearray(data)
            for j in range(op[2]):
                b[(op[1] + j * 7919) % len(b)] ^= 1 << (j % 8)
            data = bytes(b)
    return "+".join(labels), data


# -- seeds -------------------------------------------------------------------------------------------

def netlist_seeds(celllibs: Path | None, per_library: int = 40, seed: int = 0) -> list[tuple[str, str, str]]:
    """(label, netlist text, source process) to mutate: every built-in cell, and up to ``per_library``
    single-cell files of each real library found under ``celllibs`` (chosen by ``seed``)."""
    from nbcell import builtin
    from nbcell.library import resolve_source
    from nbcell.pdk import process_for_library

    def blocks(text: str) -> list[str]:
        return [b + "\n" for b in re.findall(r"(?ims)^\.subckt .*?^\.ends\b[^\n]*", text)]

    seeds = [(f"builtin:{b.split()[1]}", b, "builtin") for b in blocks(builtin.library_text())]
    if celllibs is not None and celllibs.is_dir():
        rng = random.Random(seed)
        for lib in sorted(p for p in celllibs.iterdir() if p.is_dir()):
            proc = process_for_library(lib.name)
            if proc is None:
                continue
            # a file per cell as it is (comments and all); a whole-library file cut into its cells
            files = resolve_source(lib).files
            small = [(f.name, f.read_text(errors="replace")) for f in files if f.stat().st_size < 20_000]
            cells = small or [(f"{f.name}:{b.split()[1]}", b) for f in files for b in blocks(f.read_text(errors="replace"))]
            for name, text in rng.sample(cells, min(per_library, len(cells))):
                seeds.append((f"{lib.name}:{name}", text, proc.name))
    return seeds


# -- one case of each kind ------------------------------------------------------------------------------

def _check_outside(box: Sandbox, before: dict) -> list[str]:
    after = box.snapshot()
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    return changed


def run_netlist_case(box: Sandbox, case: int, label: str, data: bytes, process: str, target: str) -> Outcome:
    """Read the mutated netlist (``nbcell cells``) and size it for ``target`` (``nbcell size``) into out."""
    from nbcell.cli import size_cells
    from nbcell.library import read_library
    from nbcell.pdk import load_process
    from nbcell.sizing import SizingRule

    path = box.input / "case.spice"
    path.write_bytes(data)
    box.clear_out()
    before = box.snapshot()
    oc = Outcome("netlist", case, label, 0.0)
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        with _alarm(HARD_LIMIT_S):
            res = read_library(path, process)
            for e in res.errors:
                if not e.error.startswith(f"{path}:"):
                    oc.unclear = e.error[:300]
            box.out.mkdir()
            sized, failed = size_cells(res, load_process(target), SizingRule(), box.out)
            oc.result = f"{len(sized)} sized, {len(failed)} failed"
    except project_errors() as e:
        oc.result = f"rejected: {type(e).__name__}"
    except Hang:
        oc.crash = f"interrupted after {HARD_LIMIT_S} s"
    except Exception:
        oc.crash = traceback.format_exc(limit=-3)
    oc.wall, oc.seconds = time.perf_counter() - t0, time.process_time() - c0
    oc.outside = _check_outside(box, before)
    return oc


def run_port_case(box: Sandbox, case: int, label: str, data: bytes, process: str, target: str,
                  max_cells: int = 3) -> Outcome:
    """``nbcell port`` of the mutated netlist's first ``max_cells`` cells through the batch job (in this
    process: jobs=0), into out; every cell must get a row, no row a Python exception."""
    from nbcell.batch import BatchOptions, LibraryInput, run_batch
    from nbcell.library import read_library
    from nbcell.pdk import load_process
    from nbcell.port import PortJob

    path = box.input / "case.spice"
    path.write_bytes(data)
    box.clear_out()
    before = box.snapshot()
    oc = Outcome("port", case, label, 0.0)
    cells: list = []
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        with _alarm(HARD_LIMIT_S), _tmpdir(box.tmp):
            res = read_library(path, process)
            cells = res.cells[:max_cells]
            errors = [(e.name, e.error) for e in res.errors][:max_cells]
            job = PortJob(res.process, load_process(target))
            summary = run_batch([LibraryInput("case", str(path), cells, errors)], job, box.out, BatchOptions(jobs=0))
            rows = summary["cells"]
            if len(rows) != len(cells) + len(errors):
                oc.crash = f"{len(rows)} rows for {len(cells) + len(errors)} cells"
            for r in rows:
                oc.crash = oc.crash or crash_in_row(r.get("error"))
            oc.result = " ".join(sorted(r["status"] for r in rows)) or "no cells"
    except project_errors() as e:
        oc.result = f"rejected: {type(e).__name__}"
    except Hang:
        oc.crash = f"interrupted after {HARD_LIMIT_S} s"
    except Exception:
        oc.crash = traceback.format_exc(limit=-3)
    n = max(1, len(cells))  # the limit holds per cell
    oc.wall, oc.seconds = (time.perf_counter() - t0) / n, (time.process_time() - c0) / n
    oc.outside = _check_outside(box, before)
    return oc


# -- process files -----------------------------------------------------------------------------------

ODD_VALUES = [".nan", ".inf", "-.inf", "nan", "inf", "0", "-1", "1e30", "1e-9", "1e-300", "abc", "[]", "{}", "null",
              "99999999999999999999999", "0.0001", "-0.5", "1e400", "'3'", "true", "0x10", "1000", "0.001"]


def mutate_process(rng: random.Random, text: str) -> tuple[str, bytes]:
    """One to three random mutations of a process YAML text; returns (labels, file bytes)."""
    labels, raw = [], []
    for _ in range(rng.choice([1, 1, 2, 3])):
        op = rng.choice(["value", "value", "scale", "scale", "scale", "delete-line", "duplicate-line", "drop-role", "non-utf8",
                         "deep", "self-alias", "laughs", "truncate", "technology", "swap-rows", "one-side",
                         "byte-flip", "tiny", "indent", "type", "role-layer"])
        labels.append(op)
        lines = text.split("\n")
        number = r"(?<=[\s:,\[{])-?\d+(\.\d+)?(?=[\s,}\]])"
        if op == "value":
            text = _replace(text, _pick_span(rng, text, number), rng.choice(ODD_VALUES))
        elif op == "scale":  # a value the model accepts, but not the one the layout was measured with
            s = _pick_span(rng, text, number)
            text = _replace(text, s, f"{float(text[s[0]:s[1]]) * rng.choice([0, 0.5, 0.9, 1.1, 1.5, 3, 10]):.4g}"
                            if s else "")
        elif op == "delete-line" and lines:
            del lines[rng.randrange(len(lines))]
            text = "\n".join(lines)
        elif op == "duplicate-line" and lines:
            i = rng.randrange(len(lines))
            lines.insert(i, lines[i])
            text = "\n".join(lines)
        elif op == "drop-role":
            role = rng.choice(["m1", "m2", "via1", "li", "mcon", "contact", "diff", "poly", "nwell", "pimplant", "npc"])
            text = re.sub(rf"(?m)^\s+{role}: \S+\n", "", text)
        elif op == "role-layer":
            text = _replace(text, _pick_span(rng, text, r"(?m)(?<=^    m1: )\S+|(?<=^    li: )\S+|(?<=layer: )\w+"),
                            rng.choice(["nwell", "poly2", "metal3", "met2", "comp", "nosuch"]))
        elif op == "non-utf8":
            raw.append(rng.randrange(len(text.encode()) + 1))
        elif op == "deep":
            text += "\nextra: " + "[" * rng.choice([40, 5000, 100_000]) + "1" + "]" * 100_000 + "\n"
        elif op == "self-alias":
            text += rng.choice(["\nlibraries: &a [x, *a]\n", "\nsupplies: &s {power: VDD, ground: *s}\n"])
        elif op == "laughs":
            lol = ["l0: &l0 [" + ",".join(["lol"] * 9) + "]"]
            lol += [f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 9)]
            text += "\nlaughs:\n" + "\n".join("  " + ln for ln in lol) + "\nlibraries: *l8\n"
        elif op == "truncate" and text:
            text = text[:rng.randrange(len(text))]
        elif op == "technology":
            text = re.sub(r"(?m)^technology: .*$", "technology: " + rng.choice(
                ["sky130", "gf180mcu", "sg13g2", "asap7", "generic", "nosuch", "../../etc/passwd", "'a\\0b.yaml'",
                 "x" * 5000, "/dev/null.yaml", "[1]", "tech/gf180mcu.yaml"]), text)
        elif op == "swap-rows":
            text = text.replace("n_row:", "tmp_row:").replace("p_row:", "n_row:").replace("tmp_row:", "p_row:")
        elif op == "one-side":
            text = re.sub(r"y0: 3\.\d+, y1: 4\.\d+", "y0: -0.30, y1: 0.30", text)
        elif op == "byte-flip" and text:
            i = rng.randrange(len(text))
            text = text[:i] + chr((ord(text[i]) ^ (1 << rng.randrange(7))) or 1) + text[i + 1:]
        elif op == "tiny":
            text = _replace(text, _pick_span(rng, text, r"(?<=pitch: )[\d.]+|(?<=width: )[\d.]+|(?<=height: )[\d.]+"),
                            rng.choice(["1e-6", "0.0001", "1e-9", "0.001", "60", "99"]))
        elif op == "indent":
            i = rng.randrange(len(lines))
            lines[i] = rng.choice(["\t", " ", "   "]) + lines[i]
            text = "\n".join(lines)
        elif op == "type":
            text = _replace(text, _pick_span(rng, text, r"(?<=: )[A-Za-z]\w*"), rng.choice(["5", "[a, b]", "{x: 1}",
                                                                                          "null", "''", "2024-01-01"]))
    data = text.encode()
    for i in raw:
        data = data[:i] + b"\xff" + data[i:]
    return "+".join(labels), data


def process_seeds() -> list[tuple[str, str]]:
    """(name, text) of every shipped process file (target or source only)."""
    from nbcell.pdk import DATA

    return [(p.stem, p.read_text()) for p in sorted(DATA.glob("*.yaml"))]


def run_process_case(box: Sandbox, case: int, label: str, data: bytes, cells: list) -> Outcome:
    """Load the mutated process file as ``target=FILE`` (``nbcell port``'s checks) and port ``cells``
    (built-in cells) to it, each in ``out``."""
    from nbcell.layout.rules import load_rules
    from nbcell.pdk import load_process
    from nbcell.port import PortJob, port_cell

    path = box.input / f"case{case}.yaml"  # a fresh name: load_process caches by path
    path.write_bytes(data)
    box.clear_out()
    before = box.snapshot()
    oc = Outcome("process", case, label, 0.0)
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        with _alarm(HARD_LIMIT_S), _tmpdir(box.tmp):
            tgt = load_process(path)
            oc.result = "source only"
            if tgt.is_target:
                load_rules(tgt)
                job = PortJob(load_process("builtin"), tgt)
                for cell in cells:
                    res, *_ = port_cell(cell, job, box.out)
                    oc.crash = oc.crash or crash_in_row(res.error)
                    oc.result = f"ported: {res.status}"
    except project_errors() as e:
        oc.result = oc.result or f"rejected: {type(e).__name__}"
    except Hang:
        oc.crash = f"interrupted after {HARD_LIMIT_S} s"
    except Exception:
        oc.crash = traceback.format_exc(limit=-3)
    n = max(1, len(cells))
    oc.wall, oc.seconds = (time.perf_counter() - t0) / n, (time.process_time() - c0) / n
    path.unlink()
    before.pop(f"input/{path.name}", None)
    oc.outside = _check_outside(box, before)
    return oc


# -- the run -------------------------------------------------------------------------------------------

def fuzz(root: Path, seed: int, netlists: int, processes: int, ports: int, celllibs: Path | None = None,
         per_library: int = 40, progress=None) -> Report:
    """Run ``netlists`` reader+size cases, ``processes`` process-file cases and ``ports`` batch-job
    cases, all from ``seed``; ``progress(outcome)`` after each."""
    from nbcell.library import read_library
    from nbcell.pdk import load_process
    from nbcell.port import PortJob, port_cell

    box = Sandbox(root)
    rng = random.Random(seed)
    seeds = netlist_seeds(celllibs, per_library, seed)
    report = Report()
    small = [c for c in read_library("builtin").cells if c.name in ("nbcell__inv_1", "nbcell__nand2_1")]
    with _tmpdir(box.tmp):  # warm up JAX and KLayout once, off the clock
        port_cell(small[0], PortJob(load_process("builtin"), load_process("gf180mcu_7t")), box.out)
    box.clear_out()

    def done(oc: Outcome) -> None:
        report.outcomes.append(oc)
        if progress:
            progress(oc)

    for case in range(netlists):
        name, text, process = rng.choice(seeds)
        label, data = mutate_netlist(rng, text, box)
        done(run_netlist_case(box, case, f"{name} {label}", data, process, TARGETS[case % len(TARGETS)]))
    pseeds = process_seeds()
    targets = [s for s in pseeds if s[0] in TARGETS + ("gf180mcu_9t",)]
    for case in range(processes):
        name, text = rng.choice(pseeds if case % 4 == 0 else targets)  # mostly targets: they reach layout
        label, data = mutate_process(rng, text)
        done(run_process_case(box, case, f"{name} {label}", data, small[:1]))
    builtin_seeds = [s for s in seeds if s[0] in ("builtin:nbcell__inv_1", "builtin:nbcell__nand2_1",
                                                  "builtin:nbcell__buf_1")]
    for case in range(ports):
        name, text, process = rng.choice(builtin_seeds)  # small cells: a flip-flop alone takes seconds
        label, data = mutate_netlist(rng, text, box)
        if case % 3 == 0:  # every third: a hostile name on top
            names = _subckt_names(data.decode(errors="replace"))
            if names:
                new = box.hostile_names()[case // 3 % len(box.hostile_names())]
                data = re.sub(rb"(?im)^(\s*\.(?:subckt|ends)\s+)" + re.escape(names[0].encode()) + rb"(?=\s|$)",
                              lambda m: m.group(1) + new.encode(), data)
                label += "+hostile-name"
        done(run_port_case(box, case, f"{name} {label}", data, process, "gf180mcu_7t"))
    return report
