"""The SPICE/CDL reader: dialect quirks, and clear errors for broken input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nbcell.library import read_library, to_um
from nbcell.spice import parse_value


@pytest.mark.parametrize("text,si", [("1e+06u", 1.0), ("8.2e-07", 8.2e-7), ("1.32U", 1.32e-6), ("81.0n", 81e-9),
                                     ("150000u", 0.15), ("2MEG", 2e6), ("0.5", 0.5), ("3mil", 76.2e-6)])
def test_values(text: str, si: float) -> None:
    assert parse_value(text) == pytest.approx(si)


@pytest.mark.parametrize("si,um", [(1.0, 1.0), (0.15, 0.15), (8.2e-7, 0.82), (81e-9, 0.081), (1.32e-6, 1.32)])
def test_lengths_in_um(si: float, um: float) -> None:
    assert to_um(si) == pytest.approx(um)


def write(tmp_path: Path, text: str, name: str = "lib.spice") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


GOOD = """* a comment
.subckt inv A Y VDD VSS
M1 Y A VSS VSS nmos w=1u l=1u $ inline comment
M2 Y A VDD VDD pmos
+ w = 1.5u l=1u
.ends
"""


def test_dialect(tmp_path: Path) -> None:
    text = GOOD + """
.SUBCKT buf A Y VDD VSS
*.PININFO A:I Y:O VDD:P VSS:G
Xi0 A n VDD VSS inv
Xi1 n Y VDD VSS inv
M3 Y n VSS nmos W=2e-06 L=1e-06 m=2
M4 Y n VDD pmos w=1.5 l=1.0 nf=2
.ENDS buf
"""
    res = read_library(write(tmp_path, text), "builtin")
    assert res.errors == []
    cells = {c.name: c for c in res.cells}
    buf = cells["buf"]
    assert len(buf.transistors) == 6
    assert buf.pin_directions["Y"] == "O"
    m3 = next(t for t in buf.transistors if t.name == "M3")
    assert (m3.w, m3.l, m3.m, m3.bulk) == (2.0, 1.0, 2, "VSS")  # 3-terminal: body from the process
    m4 = next(t for t in buf.transistors if t.name == "M4")
    assert (m4.w, m4.nf, m4.total_w, m4.bulk) == (1.5, 2, 3.0, "VDD")
    assert {t.name for t in buf.transistors} >= {"Xi0/M1", "Xi1/M2"}
    inner = next(t for t in buf.transistors if t.name == "Xi0/M1")
    assert (inner.gate, inner.drain) == ("A", "n")


BROKEN = [
    ("M1 Y A VSS VSS nmos w=abc l=1u", 3, "'w=abc': not a number"),
    ("M1 Y A VSS VSS nmos w=1u", 3, "no l="),
    ("M1 Y A nmos w=1u l=1u", 3, "3 or 4 terminals"),
    ("L1 Y A 1n", 3, "unsupported element"),
    ("M1 Y A VSS VSS zfet w=1u l=1u", 3, "unknown device model 'zfet'"),
    ("X1 Y A VSS nosuchcell", 3, "unknown subcircuit or device model 'nosuchcell'"),
    ("M1 Y A VSS VSS nmos w='2*W' l=1u", 3, "expression"),
    ("M1 Y A VSS VSS nmos w=-1u l=1u", 3, "must be positive"),
    (".include other.sp", 3, "unsupported control line"),
]


@pytest.mark.parametrize("line,lineno,reason", BROKEN)
def test_broken_line_names_file_line_reason(tmp_path: Path, line: str, lineno: int, reason: str) -> None:
    text = f"{GOOD}\n.subckt bad A Y VDD VSS\n{line}\n.ends\n.subckt after A Y VDD VSS\nM9 Y A VSS VSS nmos w=1u l=1u\n.ends\n"
    path = write(tmp_path, text)
    res = read_library(path, "builtin")
    # one bad cell never stops the rest
    assert sorted(c.name for c in res.cells) == ["after", "inv"]
    (err,) = res.errors
    assert err.name == "bad"
    bad_line = GOOD.count("\n") + 3
    assert f"{path}:{bad_line}:" in err.error and reason in err.error and "cell bad" in err.error


def test_structure_errors(tmp_path: Path) -> None:
    text = ".subckt a X VDD VSS\nM1 X X VSS VSS nmos w=1u l=1u\n.ends b\n.subckt c X VDD VSS\nXr X VDD VSS c\n.ends\n" \
           ".subckt open X\nM1 X X X X nmos w=1u l=1u\n"
    res = read_library(write(tmp_path, text), "builtin")
    errs = {e.name: e.error for e in res.errors}
    assert ".ends b closes .subckt a" in errs["a"]
    assert "recursive subcircuit call c -> c" in errs["c"]
    assert "missing .ends" in errs["open"]
    assert ":1:" in errs["a"] or ":3:" in errs["a"]


def test_call_with_wrong_node_count_warns(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + ".subckt top A Y VDD VSS\nX1 A Y VDD inv\n.ends\n")
    res = read_library(path, "builtin")
    assert {c.name for c in res.cells} == {"inv", "top"}
    assert any(f"{path}:8:" in w and "gives 3 nodes, it has 4 pins" in w for w in res.library.warnings)


def test_continuation_without_line(tmp_path: Path) -> None:
    path = write(tmp_path, "+ w=1u\n.subckt a X\n.ends\n")
    res = read_library(path, "builtin")
    assert any(f"{path}:1:" in e.error and "continuation" in e.error for e in res.errors)


def test_name_defined_twice(tmp_path: Path) -> None:
    (tmp_path / "inv.spice").write_text(GOOD)
    (tmp_path / "all.spice").write_text(GOOD.replace("w=1u", "w=3u"))
    res = read_library(tmp_path, "builtin")
    (inv,) = res.cells
    assert {t.w for t in inv.transistors} == {1.0, 1.5}  # the cell's own file wins
    assert any("defined again" in w for w in res.library.warnings)


def test_cli_cells_reports_bad_cell(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + ".subckt bad A\nM1 A A A A qfet w=1u l=1u\n.ends\n")
    out = subprocess.run([sys.executable, "-m", "nbcell.cli", "cells", f"source={path}", "process=builtin"],
                         capture_output=True, text=True)
    assert out.returncode == 1
    assert json.loads(out.stdout) == [{"name": "inv", "transistors": 2, "pins": ["A", "Y", "VDD", "VSS"],
                                       "devices": 0}]
    assert f"{path}:" in out.stderr and "qfet" in out.stderr


def test_cli_missing_source(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "nbcell.cli", "cells", f"source={tmp_path}/nope"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "no such file or folder" in out.stderr
