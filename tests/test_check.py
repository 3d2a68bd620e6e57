"""`nbcell check`: the check.json contract and the per-cell KLayout reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import klayout.db as kdb
import klayout.rdb as rdb
import pytest

from conftest import celllib

CELL = "gf180mcu_fd_sc_mcu7t5v0__nand2_1"


def run_check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nbcell.cli", "check", *args], capture_output=True, text=True)


def test_check_contract_and_reports(tmp_path: Path) -> None:
    lib = celllib("gf180mcu_fd_sc_mcu7t5v0")
    gds = lib / "gds" / f"{CELL}.gds"
    # a second file with a mutated copy: a gate contact removed, one metal1 wire narrowed to 0.1 µm
    ly = kdb.Layout()
    ly.read(str(gds))
    top = ly.top_cell()
    top.name = "mutant"
    contacts = top.shapes(ly.layer(33, 0))
    # the only poly contact of the second gate: its input is cut off
    gate_contact = next(s for s in contacts.each() if abs(s.dbox.left - 1.755) < 1e-6)
    contacts.erase(gate_contact)
    top.shapes(ly.layer(34, 0)).insert(kdb.DBox(0.3, 1.2, 0.4, 1.9))
    folder = tmp_path / "gds"
    folder.mkdir()
    (folder / f"{CELL}.gds").write_bytes(gds.read_bytes())
    ly.write(str(folder / "mutant.gds"))
    ref = tmp_path / "ref.cdl"
    ref.write_text((lib / "cdl" / f"{CELL}.cdl").read_text() + (lib / "cdl" / f"{CELL}.cdl").read_text()
                   .replace(f".SUBCKT {CELL}", ".SUBCKT mutant"))
    out = tmp_path / "out"
    proc = run_check("target=gf180mcu_7t", f"gds={folder}", f"netlist={ref}", f"out={out}")
    assert proc.returncode == 1, proc.stderr  # the mutant fails
    report = json.loads((out / "check.json").read_text())
    assert report["target"] == "gf180mcu_7t"
    rows = {r["name"]: r for r in report["cells"]}
    assert set(rows) == {CELL, "mutant"}
    for r in rows.values():
        assert {"name", "drc_violations", "drc_by_rule", "lvs_match", "pins_ok"} <= set(r)
    good, bad = rows[CELL], rows["mutant"]
    assert (good["drc_violations"], good["drc_by_rule"], good["lvs_match"], good["pins_ok"]) == (0, {}, True, True)
    assert bad["drc_violations"] == sum(bad["drc_by_rule"].values()) > 0
    assert "M1.1" in bad["drc_by_rule"]
    # the cut gate: KLayout's comparer pairs the floating pin away; the pin-name check catches it
    assert bad["pins_ok"] is False and any("A1" in m for m in bad["lvs_messages"])
    # the reports open in KLayout: categories are rule ids, markers sit in the cell
    db = rdb.ReportDatabase("")
    db.load(bad["lyrdb"])
    cats = {c.name() for c in db.each_category()}
    assert "M1.1" in cats and db.num_items() == bad["drc_violations"]
    lvs = kdb.LayoutVsSchematic()
    lvs.read(bad["lvsdb"])
    assert lvs.netlist() is not None and lvs.reference is not None


def test_check_without_netlist_and_bad_paths(tmp_path: Path) -> None:
    lib = celllib("gf180mcu_fd_sc_mcu7t5v0")
    proc = run_check("target=gf180mcu_7t", f"gds={lib / 'gds' / (CELL + '.gds')}", f"out={tmp_path}")
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads((tmp_path / "check.json").read_text())["cells"]
    assert row["drc_violations"] == 0 and row["lvs_match"] is None  # LVS not run without a netlist
    proc = run_check("target=gf180mcu_7t", f"gds={tmp_path}/missing.gds", f"out={tmp_path}")
    assert proc.returncode == 2 and "no such file or folder" in proc.stderr


@pytest.mark.parametrize("target", ["gf180mcu_7t", "sky130_hd", "sg13g2"])
def test_rules_listing(target: str) -> None:
    """`nbcell rules` lists every rule of the target with checked or not and why (what "clean" covers)."""
    from nbcell.drc import checked_rules
    from nbcell.pdk import load_process

    out = subprocess.run([sys.executable, "-m", "nbcell.cli", "rules", f"target={target}", "format=json"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    listing = json.loads(out.stdout)
    tech = load_process(target).technology
    assert [r["id"] for r in listing["rules"]] == [r.id for r in tech.rules]
    assert {r["id"] for r in listing["rules"] if r["checked"]} == {r.id for r in checked_rules(tech)}
    assert all(r["why"] for r in listing["rules"] if not r["checked"])
    table = subprocess.run([sys.executable, "-m", "nbcell.cli", "rules", f"target={target}", "format=table"],
                           capture_output=True, text=True)
    assert table.returncode == 0 and f"{len(tech.rules)} rules checked" in table.stdout.splitlines()[0]
