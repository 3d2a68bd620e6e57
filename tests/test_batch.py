"""The batch job (issue #6): resume after kill -9, crashed and hung workers, shards, several libraries,
Ray, Hydra sweeps through the submitit launcher."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nbcell import builtin
from nbcell.batch import BatchOptions, LibraryInput, run_batch
from nbcell.cli import _dirname_keys, _hydra_flags, _is_sweep, _rewrite
from nbcell.library import read_library
from nbcell.pdk import load_process
from nbcell.port import PortJob
from nbcell.worker import FAULT_ENV

CELLS = "cells='nbcell__[ib][nu][vf]_?'"  # inv_1/2/4, buf_1/2/4: 6 small built-in cells (quoted for Hydra)
TIMING = {"seconds", "elapsed_s"}


def nbcell(out: Path, *args: str, env: dict | None = None, cwd: Path | None = None, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nbcell.cli", "port", f"out={out}", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})}, cwd=cwd, **kw)


def port(out: Path, *args: str, **kw) -> subprocess.CompletedProcess:
    p = nbcell(out, *args, **kw)
    stdout, stderr = p.communicate(timeout=300)
    assert p.returncode in (0, 1), stderr[-3000:]
    return subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr)


def store(out: Path) -> dict[str, dict]:
    con = sqlite3.connect(out / "nbcell.sqlite")
    con.row_factory = sqlite3.Row
    try:
        return {r["name"]: dict(r) for r in con.execute("SELECT * FROM cells")}
    finally:
        con.close()


def untimed(summary: dict) -> dict:
    """summary.json without its timing fields."""
    return {k: v if k != "cells" else [{f: x for f, x in r.items() if f not in TIMING} for r in v]
            for k, v in summary.items() if k not in TIMING}


def outputs(out: Path) -> dict[str, bytes]:
    """Every output file but the logs and the store, by relative path (the DRC reports name their
    GDS by path: the out folder is taken out)."""
    files = {}
    for p in sorted(out.rglob("*")):
        rel = p.relative_to(out).as_posix()
        if p.is_file() and p.suffix in (".gds", ".lef", ".cdl", ".lvsdb", ".lyrdb"):
            files[rel] = p.read_bytes().replace(str(out).encode(), b"<out>")
    files["summary"] = json.dumps(untimed(json.loads((out / "summary.json").read_text())), sort_keys=True).encode()
    return files


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Path:
    """An uninterrupted run of the 6 cells."""
    out = tmp_path_factory.mktemp("baseline")
    port(out, CELLS)
    return out


def test_resume_after_kill(baseline: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    # 1 s more per cell: the kill lands with some cells done and some not, however fast the cells get
    p = nbcell(out, CELLS, env={FAULT_ENV: "slow:*"}, start_new_session=True)
    total = len(json.loads((baseline / "summary.json").read_text())["cells"])
    deadline = time.monotonic() + 240
    finished: dict[str, dict] = {}
    while time.monotonic() < deadline and p.poll() is None:
        if (out / "nbcell.sqlite").is_file():
            try:
                finished = {k: r for k, r in store(out).items() if r["status"] != "running"}
            except sqlite3.OperationalError:  # the job is creating the table
                finished = {}
            if finished:
                os.killpg(p.pid, signal.SIGKILL)
                break
        time.sleep(0.02)
    p.communicate()
    assert p.returncode == -signal.SIGKILL, "the job finished before it could be killed"
    assert 1 <= len(finished) < total
    assert not (out / "summary.json").exists()

    port(out, CELLS)
    rows = store(out)
    assert len(rows) == total and all(r["status"] != "running" for r in rows.values())
    for name, before in finished.items():  # finished before the kill: not done again
        after = rows[name]
        assert (after["attempts"], after["started"], after["finished"]) == (1, before["started"],
                                                                            before["finished"]), name
    assert all(r["attempts"] <= 2 for r in rows.values())
    assert outputs(out) == outputs(baseline)
    # and a third run has nothing to do
    proc = port(out, CELLS)
    assert f"{total} of {total} cells already done" in proc.stderr
    assert store(out) == rows


def test_worker_crash_is_recorded(tmp_path: Path) -> None:
    proc = port(tmp_path, "cells=nbcell__n*2_1", env={FAULT_ENV: "crash:nbcell__nand2_1"})
    assert proc.returncode == 1
    rows = {r["name"]: r for r in json.loads((tmp_path / "summary.json").read_text())["cells"]}
    assert set(rows) == {"nbcell__nand2_1", "nbcell__nor2_1"}
    crashed = rows["nbcell__nand2_1"]
    assert crashed["status"] == "failed" and crashed["error"] == "worker died: exit status 70"
    assert crashed["transistors"] == 4
    assert "worker died" not in (rows["nbcell__nor2_1"]["error"] or "")  # the next cell ran in a fresh worker
    assert (tmp_path / "cells" / "nbcell__nor2_1" / "nbcell__nor2_1.gds").is_file()
    log = (tmp_path / "cells" / "nbcell__nand2_1" / "nbcell__nand2_1.log").read_text()
    assert "attempt 1" in log and "worker died: exit status 70" in log


def test_cell_timeout(tmp_path: Path) -> None:
    hang = {FAULT_ENV: "hang:nbcell__nand2_1"}
    glob = "cells=nbcell__n*2_1"  # nand2_1 (hangs), nor2_1
    t0 = time.monotonic()
    proc = port(tmp_path, glob, "cell_timeout=30", env=hang)
    assert time.monotonic() - t0 < 240
    rows = {r["name"]: r for r in json.loads((tmp_path / "summary.json").read_text())["cells"]}
    assert rows["nbcell__nand2_1"]["status"] == "timeout", rows["nbcell__nand2_1"]
    assert rows["nbcell__nand2_1"]["error"] == "over cell_timeout=30 s"
    assert all(r["status"] != "timeout" for n, r in rows.items() if n != "nbcell__nand2_1")
    assert proc.returncode == 1
    before = store(tmp_path)
    # same limit: the timeout stands, nothing is redone
    port(tmp_path, glob, "cell_timeout=30", env=hang)
    assert store(tmp_path) == before
    # a longer limit (and no hang): the timed-out cell is done again, the others are not
    port(tmp_path, glob, "cell_timeout=120")
    after = store(tmp_path)
    assert after["nbcell__nand2_1"]["attempts"] == 2 and after["nbcell__nand2_1"]["status"] != "timeout"
    assert {k: v for k, v in after.items() if k != "nbcell__nand2_1"} == \
        {k: v for k, v in before.items() if k != "nbcell__nand2_1"}


def _other_library(tmp: Path) -> Path:
    """The built-in library again under other cell names, as a second library folder."""
    lib = tmp / "otherlib"
    lib.mkdir()
    (lib / "otherlib.spice").write_text(builtin.library_text().replace("nbcell__", "other__"))
    return lib


def test_shards_and_libraries(tmp_path: Path) -> None:
    """Two libraries, ported in two shards into one folder, then merged; equals one unsharded run."""
    tgt = load_process("gf180mcu_7t")
    libs = []
    for path, prefix in ((builtin.LIBRARY_NAME, "nbcell__"), (_other_library(tmp_path), "other__")):
        res = read_library("builtin" if prefix == "nbcell__" else path)
        cells = [c for c in res.cells if c.name in (f"{prefix}inv_1", f"{prefix}nand2_1")]
        libs.append(LibraryInput(res.name, str(path), cells, [], PortJob(res.process, tgt)))
    whole = run_batch(libs, libs[0].job, tmp_path / "whole", BatchOptions(jobs=0))
    shards = tmp_path / "shards"
    names = []
    for i in range(2):
        s = run_batch(libs, libs[0].job, shards, BatchOptions(jobs=0, shard_index=i, shard_count=2))
        names.append([r["name"] for r in s["cells"]])
        assert (shards / f"summary.shard-{i}-of-2.json").is_file()
    assert sorted(names[0] + names[1]) == sorted(r["name"] for r in whole["cells"]) and not set(names[0]) & set(
        names[1])
    assert not (shards / "summary.json").exists() and not (shards / "nbcell_builtin.gds").exists()
    merged = run_batch(libs, libs[0].job, shards, BatchOptions(jobs=0))
    assert untimed(merged) == untimed(whole)
    assert [r["library"] for r in whole["cells"]] == ["nbcell_builtin"] * 2 + ["otherlib"] * 2
    assert whole["libraries"] == ["nbcell_builtin", "otherlib"]
    for lib in ("nbcell_builtin", "otherlib"):
        for ext in ("gds", "lef", "cdl"):
            assert (shards / f"{lib}.{ext}").read_bytes() == (tmp_path / "whole" / f"{lib}.{ext}").read_bytes()
    # the merging run took every cell from the shards' stores: nothing was ported again
    con = sqlite3.connect(shards / "nbcell.sqlite")
    assert con.execute("SELECT count(*), max(attempts) FROM cells").fetchone() == (4, 1)
    con.close()


def test_command_line_syntax() -> None:
    assert _rewrite("source=[builtin,sky130_hd]") == ["sources=[builtin,sky130_hd]"]
    assert _rewrite("source=builtin,sky130_hd") == ["source=builtin,sky130_hd"]  # a sweep stays a sweep
    assert _hydra_flags(["policy=a,b", "-m", "--cfg", "job", "x=1"]) == (["-m", "--cfg", "job"],
                                                                         ["policy=a,b", "x=1"])
    assert _is_sweep("a,b") and _is_sweep("range(0,4)") and not _is_sweep("[a,b]") and not _is_sweep("'a,b'")
    # a sweep's run folders are named by the swept keys only; shards of one job share a folder
    keys = _dirname_keys(["command=port", "policy=a,b", "cells=x", "shard_index=range(0,2)", "sources=[p,q]"])
    excluded = keys.split("=", 1)[1].strip("[]").split(",")
    assert {"command", "cells", "shard_index", "shard_count", "sources", "jobs"} <= set(excluded)
    assert "policy" not in excluded


def test_ray_backend(baseline: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="ray is not installed (pip install 'nbcell[cluster]')")
    port(tmp_path, CELLS, "backend=ray", "backend.num_cpus=1")
    assert outputs(tmp_path) == outputs(baseline)


def test_sweep_with_submitit_local(tmp_path: Path) -> None:
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="hydra-submitit-launcher is not installed")
    out = tmp_path / "out"
    proc = port(out, "-m", "hydra/launcher=submitit_local", "policy=greedy,exact", "cells=nbcell__inv_1",
                cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for policy in ("greedy", "exact"):
        s = json.loads((out / f"policy={policy}" / "summary.json").read_text())
        assert s["policy"] == policy and [r["name"] for r in s["cells"]] == ["nbcell__inv_1"]
        assert (out / f"policy={policy}" / "nbcell_builtin.gds").is_file()
