"""Hostile input (issue #15): cell names are never paths, netlist and process-file limits give clear
errors, the resume key covers every job option, bad command lines exit 2 in one line."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nbcell.batch import BatchOptions, LibraryInput, _plain, cell_key, job_key, run_batch
from nbcell.library import read_library
from nbcell.limits import MAX_CELL_DEVICES, MAX_DEPTH, MAX_FINGERS, MAX_PROCESS_BYTES, MAX_STEM_CHARS
from nbcell.paths import file_stem
from nbcell.pdk import DATA, PdkError, load_process
from nbcell.port import PortJob
from nbcell.sizing import SizingError, SizingRule, fold, size_cell
from tests.fuzzing import Sandbox

INV = "A Y VDD VSS\nM1 Y A VSS VSS nmos w=1u l=1u\nM2 Y A VDD VDD pmos w=1.5u l=1u\n"
GOOD = f".subckt inv {INV}.ends\n"


def read(tmp_path: Path, text: str | bytes, process: str = "builtin"):
    p = tmp_path / "lib.spice"
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return p, read_library(p, process)


# -- names are data -------------------------------------------------------------------------------

def test_file_stem_one_safe_component_per_name(tmp_path: Path) -> None:
    names = Sandbox(tmp_path).hostile_names() + ["inv_1", "sky130_fd_sc_hd__a21o_1", "a.b-c+d", "a%2Fb", "a/b",
                                                 "", "b" * 4999 + "c", "b" * 5000]
    stems = [file_stem(n) for n in names]
    assert len(set(stems)) == len(set(names))  # one to one
    for s in stems:
        assert s and len(s) <= MAX_STEM_CHARS and s.isascii() and s.isprintable() and "/" not in s
        assert not s.startswith((".", "-")) and s not in (".", "..")
    assert file_stem("sky130_fd_sc_hd__a21o_1") == "sky130_fd_sc_hd__a21o_1"  # real names stay as they are
    assert file_stem("..") == "%2E." and file_stem("o1/o2/x") == "o1%2Fo2%2Fx"


def test_port_hostile_names_writes_only_under_out(tmp_path: Path) -> None:
    """``nbcell port`` (a real worker process) over a library of cells named like paths: every file
    stays under out=, the run ends with 0 or 1 and a row per cell."""
    box = Sandbox(tmp_path)
    names = [n for n in box.hostile_names() if len(n) < 300]
    lib = box.input / "hostile.spice"
    lib.write_bytes("".join(f".subckt {n} {INV}.ends {n}\n" for n in names).encode())
    before = box.snapshot()
    env = {**os.environ, "TMPDIR": str(box.tmp)}
    p = subprocess.run([sys.executable, "-m", "nbcell.cli", "port", f"source={lib}", "process=builtin",
                        f"out={box.out}", "jobs=1"], capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode in (0, 1), p.stderr[-3000:]
    assert box.snapshot() == before  # nothing outside out changed
    rows = json.loads((box.out / "summary.json").read_text())["cells"]
    cells = read_library(lib, "builtin")
    assert len(rows) == len(cells.cells) + len(cells.errors)
    by_name = {r["name"]: r for r in rows}
    for n in ("..", "../..", "../../escape_cell", "o1/o2/escape_cell", str(box.root), "-rf", "a" * 240):
        assert by_name[n]["status"] == "clean", by_name[n]
        assert (box.out / "cells" / file_stem(n) / f"{file_stem(n)}.gds").is_file()
    bad = by_name["nul\\x00name"]
    assert bad["status"] == "failed" and f"{lib}:" in bad["error"] and "control character" in bad["error"]
    assert (box.out / "report.html").is_file()


# -- netlist limits ---------------------------------------------------------------------------------

BROKEN = [
    ("M1 Y A VSS VSS nmos w=1u l=1u nf=1e9", "nf x m at most 1000"),
    ("M1 Y A VSS VSS nmos w=1u l=1u m=1e300 mult=1e300", "nf x m at most 1000"),
    ("M1 Y A VSS VSS nmos w=1u l=1u nf=nan", "'nf=nan': not a number"),
    ("M1 Y A VSS VSS nmos w=1.2uu l=1u", "'w=1.2uu': not a number"),
    ("M1 Y A VSS VSS nmos w=1e400 l=1u", "out of range"),
    ("M1 Y A VSS VSS nmos w=1e30 l=1u", "outside 0.001..1000 µm"),
    ("M1 Y A VSS VSS nmos w=0 l=1u", "w must be positive"),
    ("M1 Y A\0 VSS VSS nmos w=1u l=1u", "control character \\x00"),
    ("M1 Y A VSS VSS nmos w=1u l=1u " + "x=1 " * 30_000, "line longer than 100000 characters"),
    ("M1 Y A VSS VSS " + "n" * 300 + " w=1u l=1u", "over the limit of 255"),
    ("D1 A Y NDIODE", "unknown device model 'NDIODE' for diode D1"),
    ("R1 A Y 1k", "resistor R1 names no model"),
    ("C1 A Y 1f", "capacitor C1 names no model"),
    ("X1 A Y nosuch", "unknown subcircuit or device model 'nosuch' for subcircuit call X1"),
]


@pytest.mark.parametrize("line,reason", BROKEN, ids=[r for _, r in BROKEN])
def test_bad_device_line_is_a_clear_cell_error(tmp_path: Path, line: str, reason: str) -> None:
    path, res = read(tmp_path, f"{GOOD}.subckt bad A Y VDD VSS\n{line}\n.ends\n")
    assert [c.name for c in res.cells] == ["inv"]
    (err,) = res.errors
    assert err.name == "bad" and err.error.startswith(f"{path}:6: cell bad: ") and reason in err.error


def test_structure_limits(tmp_path: Path) -> None:
    fan = [".subckt lvl0 A B\nM1 A B A B nmos w=1u l=1u\n.ends"]
    fan += [f".subckt lvl{i} A B\nX1 A B lvl{i - 1}\nX2 B A lvl{i - 1}\n.ends" for i in range(1, 31)]
    deep = [f".subckt d{i} A B\nX1 A B d{i - 1}\n.ends" for i in range(1, MAX_DEPTH + 2)]
    text = (GOOD + ".subckt pins A A Y\nM1 Y A Y A nmos w=1u l=1u\n.ends\n"
            ".subckt devs A Y VDD VSS\nM1 Y A VSS VSS nmos w=1u l=1u\nm1 Y A VDD VDD pmos w=1u l=1u\n.ends\n"
            + "\n".join(fan) + "\n.subckt d0 A B\nM1 A B A B nmos w=1u l=1u\n.ends\n" + "\n".join(deep) + "\n")
    t0 = time.perf_counter()
    path, res = read(tmp_path, text)
    assert time.perf_counter() - t0 < 2  # 2^30 copies are counted, never made
    errs = {e.name: e.error for e in res.errors}
    assert "pin A listed twice" in errs["pins"]
    assert f"{path}:10: cell devs: device name m1 used twice (also line 9)" in errs["devs"]
    assert f"flattens to {2**30} devices, over the limit of {MAX_CELL_DEVICES}" in errs["lvl30"] and "lvl14" in errs
    assert "lvl13" not in errs  # 8,192 devices: fine
    assert f"nested deeper than {MAX_DEPTH} levels" in errs[f"d{MAX_DEPTH + 1}"]


def test_dialect_edges_read_as_a_user_expects(tmp_path: Path) -> None:
    # a BOM before .subckt, CR line ends, non-UTF-8 in a comment, a stray '+' first: the cells survive
    _, res = read(tmp_path, "\ufeff" + GOOD)
    assert [c.name for c in res.cells] == ["inv"] and not res.errors
    _, res = read(tmp_path, GOOD.replace("\n", "\r"))
    assert [c.name for c in res.cells] == ["inv"] and not res.errors
    _, res = read(tmp_path, b"* caf\xe9\n" + GOOD.encode())
    assert [c.name for c in res.cells] == ["inv"] and not res.errors
    path, res = read(tmp_path, "+ w=1u\n" + GOOD)
    assert [c.name for c in res.cells] == ["inv"]
    assert [e.error for e in res.errors] == [f"{path}:1: continuation line '+' with nothing to continue"]


def test_huge_netlist_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge.spice"
    with open(path, "wb") as f:  # sparse: nothing is written
        f.truncate(65 * 2**20)
    res = read_library(path, "builtin")
    assert not res.cells and "over the limit" in res.errors[0].error and str(path) in res.errors[0].error


def test_sizing_devices_and_limits(tmp_path: Path) -> None:
    text = (".subckt c A Y VPWR VGND VPB VNB\n"
            "M1 Y A VGND VNB sky130_fd_pr__nfet_01v8 w=0.65 l=0.15\n"
            "M2 Y A VPWR VPB sky130_fd_pr__pfet_01v8 w=1 l=0.15\n"
            "D0 VGND A SKY130_FD_PR__DIODE_PW2ND_05V5 area=4.347e+11 pj=2.64e+06\n.ends\n"
            ".subckt r A Y VPWR VGND VPB VNB\nM1 Y A VGND VNB sky130_fd_pr__nfet_01v8 w=0.65 l=0.15\n"
            "XR1 A Y VGND mrdn_hv w=1 l=1\n.ends\n")
    _, res = read(tmp_path, text, "sky130_hd")
    assert not res.errors, res.errors
    cells = {c.name: c for c in res.cells}
    src, tgt = load_process("sky130_hd"), load_process("gf180mcu_7t")
    sized = size_cell(cells["c"], src, tgt)  # an upper-case diode model of the source: the target's diode
    assert [d.model for d in sized.devices] == ["diode_nd2ps_06v0"]
    with pytest.raises(SizingError, match="the target gf180mcu_7t has no resistor device for 'mrdn_hv'"):
        size_cell(cells["r"], src, tgt)
    with pytest.raises(SizingError, match=f"more than {MAX_FINGERS} fingers"):
        fold(1e9, 1.0, 0.2, 0.005)
    with pytest.raises(ValueError, match="sizing.scale"):
        SizingRule("scale", "target", float("nan"))


# -- process files ----------------------------------------------------------------------------------

SHIPPED = (DATA / "gf180mcu_7t.yaml").read_text()
PROCESS_CASES = [
    ("site: {name: GF018hv5v_mcu_sc7, width: 0.56", "site: {name: GF018hv5v_mcu_sc7, width: .nan",
     "template.site.width", "finite"),
    ("metal1: {direction: horizontal, pitch: 0.56, offset: 0.0, width: 0.23}",
     "metal1: {direction: horizontal, pitch: 0.004, offset: 0.0, width: 0.003}",
     "template.tracks.metal1.pitch", "0.004 is below the manufacturing grid 0.005"),
    ("metal1: {direction: horizontal, pitch: 0.56", "metal1: {direction: horizontal, pitch: 0",
     "template.tracks.metal1.pitch", "greater than 0"),
    ("width: 0.23}", "width: -0.23}", "template.tracks.metal1.width", "greater than 0"),
    ("    m1: metal1\n", "", "template.layer_roles.m1", "missing"),
    ("{net: VDD, layer: metal1, y0: 3.62, y1: 4.22}", "{net: VDD, layer: metal1, y0: -0.3, y1: 0.3}",
     "template.rails", "one rail along the bottom edge and one along the top"),
    ("height: 3.92\n  boundary", "height: 1e30\n  boundary", "template.height", "less than or equal to 100"),
    ("technology: gf180mcu", "technology: 'gf\\0180'", "technology", "must name a technology file"),
    ("libraries: [gf180mcu_fd_sc_mcu7t5v0]", "libraries: &a [x, *a]", "libraries.1", "refers to itself"),
    ("notes: >-", "deep: " + "[" * 100 + "]" * 100 + "\n  notes: >-", "template.deep.0.0", "nested deeper than 32"),
    ("notes: >-", "deep: " + "[" * 2000 + "]" * 2000 + "\n  notes: >-", "line 62", "not valid YAML"),
    ("libraries: [gf180mcu_fd_sc_mcu7t5v0]", "l0: &l0 [a, a, a, a, a, a, a, a, a, a]\n" +
     "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 7)) + "libraries: *l6",
     "", "more than 200000 values with aliases expanded"),
]


@pytest.mark.parametrize("old,new,field,reason", PROCESS_CASES, ids=[c[3] for c in PROCESS_CASES])
def test_broken_process_file_names_file_and_field(tmp_path: Path, old: str, new: str, field: str,
                                                  reason: str) -> None:
    assert old in SHIPPED
    path = tmp_path / "broken.yaml"
    path.write_text(SHIPPED.replace(old, new, 1))
    with pytest.raises(PdkError) as e:
        load_process(path)
    assert e.value.file == str(path.resolve()) and reason in e.value.reason and e.value.field.startswith(field)
    assert str(e.value).startswith(f"{path.resolve()}: ") and "\n" not in str(e.value)


def test_process_file_bytes(tmp_path: Path) -> None:
    bad = tmp_path / "bytes.yaml"
    bad.write_bytes(SHIPPED.encode().replace(b"description:", b"descr\xffiption:"))
    with pytest.raises(PdkError, match=r"line 4: not UTF-8 text \(byte 0xff\)"):
        load_process(bad)
    big = tmp_path / "big.yaml"
    big.write_text(SHIPPED + "#" * MAX_PROCESS_BYTES)
    with pytest.raises(PdkError, match="over the limit"):
        load_process(big)
    grid = tmp_path / "grid.yaml"  # a technology whose grid is no whole number of dbu
    tech = (DATA / "tech" / "gf180mcu.yaml").read_text().replace("grid: 0.005", "grid: 0.0005", 1)
    (tmp_path / "tech.yaml").write_text(tech.replace("dbu: 0.001", "dbu: 0.0003", 1))
    grid.write_text(SHIPPED.replace("technology: gf180mcu", "technology: tech.yaml"))
    with pytest.raises(PdkError, match="not a whole number of dbu"):
        load_process(grid)


# -- the resume key --------------------------------------------------------------------------------

def _alternatives() -> dict:
    """Another value for every PortJob field (a new field without one fails the test below)."""
    tgt = load_process("gf180mcu_7t")
    return {"source_process": load_process("sky130_hd"), "target": load_process("gf180mcu_9t"),
            "policy": "anneal", "seed": 1, "sizing": SizingRule("keep"), "router": "env",
            "weights": {"policy": "0" * 64}, "references": {"inv_1": 1.12},
            "_edited_target": tgt.model_copy(update={"min_inverter": tgt.min_inverter.model_copy(update={"n": 0.9})})}


def test_job_key_covers_every_option() -> None:
    base = PortJob(load_process("builtin"), load_process("gf180mcu_7t"))
    alt = _alternatives()
    cell = read_library("builtin").cells[0]
    for f in dataclasses.fields(PortJob):
        assert f.name in alt, f"PortJob.{f.name}: give it a value in _alternatives()"
        other = dataclasses.replace(base, **{f.name: alt[f.name]})
        if f.metadata.get("per_cell"):  # reference widths: in the key of the cell they name
            assert job_key(other) == job_key(base)
        else:
            assert job_key(other) != job_key(base), f.name
    # a process file edited in any value is another job
    assert job_key(dataclasses.replace(base, target=alt["_edited_target"])) != job_key(base)
    assert cell_key(job_key(base), cell, 1.0) != cell_key(job_key(base), cell, None)
    with pytest.raises(TypeError):
        _plain(object())


def test_resume_redoes_a_cell_whose_options_changed(tmp_path: Path) -> None:
    res = read_library("builtin")
    cells = [c for c in res.cells if c.name == "nbcell__inv_1"]
    lib = [LibraryInput(res.name, "builtin", cells)]
    job = PortJob(res.process, load_process("gf180mcu_7t"))

    def run(j: PortJob) -> dict:
        return run_batch(lib, j, tmp_path, BatchOptions(jobs=0))["cells"][0]

    assert run(job)["router"] == "maze"
    mtime = (tmp_path / "cells" / "nbcell__inv_1" / "nbcell__inv_1.gds").stat().st_mtime_ns
    run(job)  # same inputs: kept
    assert (tmp_path / "cells" / "nbcell__inv_1" / "nbcell__inv_1.gds").stat().st_mtime_ns == mtime
    assert run(dataclasses.replace(job, router="env"))["router"] in ("env", "maze (env fallback)")
    assert run(dataclasses.replace(job, router="env", seed=5))["router"] in ("env", "maze (env fallback)")
    assert run(job)["router"] == "maze"  # and back


# -- command line ------------------------------------------------------------------------------------

def _nbcell(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nbcell.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


@pytest.mark.parametrize("args,message", [
    (("port", "jobs=abc"), "jobs=abc: not a whole number"),
    (("port", "cell_timeout=abc"), "cell_timeout=abc: not a number"),
    (("port", "seed=1e40"), "seed=1e+40: out of range 0..4294967295"),
    (("port", "cells=nomatch*"), "cells=nomatch*: no cell of nbcell_builtin matches"),
    (("cells", "cells=nomatch*"), "cells=nomatch*: no cell of nbcell_builtin matches"),
    (("size", "out=afile/below"), "out=afile/below: cannot make this folder"),
    (("port", "out=afile/below", "cells=nbcell__inv_1"), "out=afile/below: cannot make this folder"),
    (("port", "target=broken.yaml"), "broken.yaml: template.tracks.metal1.pitch: "),
])
def test_bad_arguments_exit_2_in_one_line(tmp_path: Path, args: tuple, message: str) -> None:
    (tmp_path / "afile").write_text("")
    (tmp_path / "broken.yaml").write_text(SHIPPED.replace("pitch: 0.56", "pitch: .inf", 1))
    p = _nbcell(*args, cwd=tmp_path)
    assert p.returncode == 2, p.stderr[-2000:]
    assert message in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("summary.json"))
