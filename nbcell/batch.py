"""The batch job behind ``nbcell port``: many libraries, many workers, resumable.

Every cell of every library becomes one task. Tasks run in workers (local
processes, Ray actors, or this process for ``jobs=0``); each finished cell's
files go to ``out/cells/<name>/`` atomically and then its row to the SQLite
store (``nbcell.store``), so a job killed at any moment and run again redoes
only the cells that had not finished. The library GDS/LEF/CDL and
``summary.json`` are assembled at the end from the per-cell files and rows,
so a resumed run writes the same outputs as one that was never stopped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pydantic import BaseModel

from nbcell import __version__
from nbcell.atomic import write_bytes_atomic, write_text_atomic
from nbcell.cdl import join_cdl
from nbcell.netlist import Cell
from nbcell.paths import cell_dir, cell_file, file_stem
from nbcell.reference import base_name
from nbcell.store import Store, store_path
from nbcell.worker import CellTask

log = logging.getLogger("nbcell")


@dataclass
class LibraryInput:
    """One source library: its name, ``source=`` text, readable cells, read errors (name, reason)
    and its own ``PortJob`` (each library has its source process; None: the batch's job)."""

    name: str
    source: str
    cells: list[Cell]
    errors: list[tuple[str, str]] = field(default_factory=list)
    job: object | None = None


@dataclass
class BatchOptions:
    """How to run: ``jobs`` workers (0: in this process), ``cell_timeout`` s per cell (None: no limit),
    ``backend`` local|ray, and which shard of the cells (``shard_index`` of ``shard_count``)."""

    jobs: int = 1
    cell_timeout: float | None = None
    backend: str = "local"
    ray_address: str | None = None
    ray_num_cpus: int | None = None
    shard_index: int = 0
    shard_count: int = 1


@dataclass
class _Item:
    library: str
    name: str
    cell: Cell | None = None
    error: str | None = None
    key: str = ""


def _plain(x):
    """JSON-ready form of a job field: pydantic models and dataclasses as their fields; any other
    type raises TypeError, so a new kind of option can never drop out of the key unnoticed."""
    if isinstance(x, BaseModel):
        return x.model_dump(mode="json")
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return asdict(x)
    raise TypeError(f"job_key: cannot hash {type(x).__name__}")


def job_key(job) -> str:
    """Hash (hex) of what every cell of the job shares: every field of the job (a ``PortJob``: the
    source and target process definitions, policy, seed, sizing, router, checkpoints …) but those
    marked ``per_cell``, and nbcell's version."""
    fields = {f.name: getattr(job, f.name) for f in dataclasses.fields(job) if not f.metadata.get("per_cell")}
    blob = json.dumps({"nbcell": __version__, **fields}, sort_keys=True, default=_plain)
    return hashlib.sha256(blob.encode()).hexdigest()


def cell_key(common: str, cell: Cell, reference_width: float | None) -> str:
    """Hash (hex) of one cell's inputs: the job's hash, the cell (every field but where it was read),
    its reference width."""
    blob = json.dumps([common, _without_refs(asdict(cell)), reference_width], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _without_refs(x):
    # file and line of a definition do not change the cell: moving a library keeps its results
    if isinstance(x, dict):
        return {k: _without_refs(v) for k, v in x.items() if k != "ref"}
    if isinstance(x, (list, tuple)):
        return [_without_refs(v) for v in x]
    return x


def _items(libs: list[LibraryInput], jobs: dict, opts: BatchOptions) -> list[_Item]:
    """Read errors then cells, library by library; a name seen in an earlier library is an error row."""
    items, seen = [], {}
    for lib in libs:
        job = jobs[lib.name]
        common = job_key(job)
        items += [_Item(lib.name, name or "<file>", error=err) for name, err in lib.errors]
        for c in lib.cells:
            if c.name in seen:
                items.append(_Item(lib.name, c.name, error=f"cell {c.name} is also in library {seen[c.name]}, "
                                                            "which is ported under this name"))
                continue
            seen[c.name] = lib.name
            items.append(_Item(lib.name, c.name, c, key=cell_key(common, c, job.references.get(base_name(c.name)))))
    return items[opts.shard_index::opts.shard_count]


def _write_cell_files(folder: Path, files: dict[str, bytes]) -> None:
    """Write a cell's files atomically, then drop what an earlier attempt left that this one did not write."""
    for name in files:
        if "/" in name or "\0" in name or name.startswith("."):  # workers (Ray actors too) send plain names
            raise ValueError(f"cell file name {name!r} is not a plain file name")
    for name, data in files.items():
        write_bytes_atomic(folder / name, data)
    for p in folder.iterdir():
        if p.is_file() and p.name not in files:
            p.unlink()


def _hms(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class _Progress:
    """Cells done, clean so far and ETA on stderr: a tqdm bar on a terminal, a log line every 30 s elsewhere."""

    def __init__(self, total: int, done: int, clean: int):
        self.total, self.done, self.clean, self.start_done = total, done, clean, done
        self.t0 = self.last = time.monotonic()
        self.bar = None
        if sys.stderr.isatty() and total > done:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=done, desc="port", unit="cell", file=sys.stderr,
                            dynamic_ncols=True)
            self.bar.set_postfix(clean=clean, refresh=False)

    def update(self, status: str) -> None:
        self.done += 1
        self.clean += status == "clean"
        if self.bar is not None:
            self.bar.set_postfix(clean=self.clean, refresh=False)
            self.bar.update(1)
        elif time.monotonic() - self.last >= 30 or self.done == self.total:
            self.last = time.monotonic()
            log.info("port: %s", self.line())

    def line(self) -> str:
        spent = time.monotonic() - self.t0
        ran = self.done - self.start_done
        if self.done == self.total:
            tail = f" in {_hms(spent)}"
        else:
            tail = f", ETA {_hms((self.total - self.done) * spent / ran)}" if ran else ""
        return f"{self.done}/{self.total} cells, {self.clean} clean{tail}"

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _pool(jobs: dict, opts: BatchOptions):
    if opts.backend == "ray":
        from nbcell.raypool import RayPool

        return RayPool(jobs, opts.jobs if opts.jobs > 1 else None, opts.ray_address, opts.ray_num_cpus)
    if opts.backend != "local":
        raise ValueError(f"backend={opts.backend}: use local or ray")
    if opts.jobs <= 0:
        from nbcell.pools import InlinePool

        return InlinePool(jobs)
    from nbcell.pools import LocalPool

    return LocalPool(jobs, opts.jobs)


def _lost(task: CellTask, jobs: dict, status: str, reason: str, text: str, seconds: float) -> dict:
    """The payload of a cell whose worker died or ran over time: no files but its log."""
    from nbcell.port import CellResult

    res = CellResult(task.name, status=status, transistors=len(task.cell.transistors),
                     reference_width_um=jobs[task.library].references.get(base_name(task.name)),
                     seconds=round(seconds, 3), error=reason)
    text += f"{time.strftime('%Y-%m-%d %H:%M:%S')} ERROR nbcell: {task.name}: {status}: {reason}\n"
    return {"result": asdict(res), "drawn": False, "files": {f"{file_stem(task.name)}.log": text.encode()}}


def _schedule(pool, tasks: deque, timeout: float | None, jobs: dict, start, finish) -> None:
    """Feed idle slots, collect results, kill slots over ``timeout`` s; ``start(task)`` before each
    submission, ``finish(task, payload)`` for every cell."""
    running: dict[int, tuple[CellTask, float]] = {}
    try:
        while tasks or running:
            for slot in pool.idle():
                if not tasks:
                    break
                task = tasks.popleft()
                start(task)
                if not pool.submit(slot, task):
                    tasks.appendleft(task)  # that worker was dead: a fresh one takes it
                    continue
                running[slot] = (task, time.monotonic())
            wait = 1.0
            if timeout and running:
                first = min(t0 for _, t0 in running.values()) + timeout
                wait = min(max(first - time.monotonic(), 0.0) + 0.01, 1.0)
            for ev in pool.wait(wait):
                if ev[0] == "done":
                    task, _ = running.pop(ev[1])
                    finish(task, ev[2])
                elif ev[0] == "died":
                    task, t0 = running.pop(ev[1])
                    log.error("%s: %s", task.name, ev[2])
                    finish(task, _lost(task, jobs, "failed", ev[2], ev[3], time.monotonic() - t0))
            if timeout:
                for slot, (task, t0) in list(running.items()):
                    spent = time.monotonic() - t0
                    if spent > timeout:
                        text = pool.kill(slot)
                        del running[slot]
                        log.warning("%s: over cell_timeout=%g s; worker killed", task.name, timeout)
                        finish(task, _lost(task, jobs, "timeout", f"over cell_timeout={timeout:g} s",
                                           text, spent))
    finally:
        pool.close()


def _assemble(out: Path, lib: str, names: list[str], job) -> None:
    """``out/<lib>.gds/.lef/.cdl`` from the per-cell files of ``names`` (in that order)."""
    import klayout.db as kdb

    from nbcell import lef as lefw
    from nbcell.gds import gds_bytes

    layout = kdb.Layout()
    layout.dbu = job.target.technology.dbu
    lefs, cdls = [], []
    for name in names:
        one = kdb.Layout()
        one.read(str(cell_file(out, name, "gds")))
        layout.create_cell(name).copy_tree(one.top_cell())
        lefs.append(cell_file(out, name, "lef").read_text())
        cdls.append(cell_file(out, name, "cdl").read_text())
    stem = file_stem(lib)
    write_bytes_atomic(out / f"{stem}.gds", gds_bytes(layout, list(layout.top_cells())))
    write_text_atomic(out / f"{stem}.lef", lefw.library(lefs, job.target))
    write_text_atomic(out / f"{stem}.cdl", join_cdl(cdls, f"{lib} ported to {job.target.name} by nbcell"))


def run_batch(libs: list[LibraryInput], job, out: Path, opts: BatchOptions | None = None) -> dict:
    """Port every cell of ``libs`` into ``out``; writes and returns ``summary.json``'s content
    (``summary.shard-<i>-of-<n>.json`` and no library files for one shard of several)."""
    t0 = time.perf_counter()
    opts = opts or BatchOptions()
    names = [lib.name for lib in libs]
    if len(set(names)) != len(names):
        raise ValueError(f"libraries {', '.join(names)}: each library may be given once (its files are "
                         "out/<library>.gds ...)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = {lib.name: lib.job or job for lib in libs}
    items = _items(libs, jobs, opts)
    store = Store(store_path(out, opts.shard_index, opts.shard_count))
    timeout = float(opts.cell_timeout) if opts.cell_timeout else None
    if timeout and opts.jobs <= 0 and opts.backend == "local":
        log.warning("jobs=0 runs cells in this process: cell_timeout is not enforced")
        timeout = None
    try:
        stored = store.rows()
        results: dict[int, tuple[dict, bool]] = {}
        tasks: deque[CellTask] = deque()
        by_name: dict[str, int] = {}
        for i, it in enumerate(items):
            if it.cell is None:
                results[i] = (_error_row(it), False)
                continue
            row = next((r for r in stored.get(it.name, []) if r.reusable(it.key, timeout)), None)
            if row is not None:
                if row.store != str(store.path):
                    store.adopt(row)  # another shard did it: keep this store complete
                results[i] = (row.result, row.drawn)
                continue
            by_name[it.name] = i
            tasks.append(CellTask(it.name, it.library, it.cell, it.key, 0, str(out)))
        done = len(results)
        if done:
            log.info("port: %d of %d cells already done in %s; %d to go", done, len(items), store.path,
                     len(tasks))
        progress = _Progress(len(items), done, sum(r["status"] == "clean" for r, _ in results.values()))

        def start(task: CellTask) -> None:
            task.attempt = store.start(task.name, task.library, task.key)

        def finish(task: CellTask, payload: dict) -> None:
            _write_cell_files(cell_dir(out, task.name), payload["files"])
            store.finish(task.name, task.library, task.key, payload["result"], payload["drawn"], timeout)
            results[by_name[task.name]] = (payload["result"], payload["drawn"])
            progress.update(payload["result"]["status"])

        try:
            if tasks:
                _schedule(_pool(jobs, opts), tasks, timeout, jobs, start, finish)
        finally:
            progress.close()
    finally:
        store.close()

    rows = [dict(results[i][0], library=it.library) for i, it in enumerate(items)]
    sources = [lib.source for lib in libs]
    summary = {"source": ",".join(sources), "target": job.target.name, "policy": job.policy, "seed": job.seed,
               "elapsed_s": round(time.perf_counter() - t0, 2), "cells": rows,
               "sources": sources, "libraries": [lib.name for lib in libs]}
    if opts.shard_count > 1:
        summary["shard"] = {"index": opts.shard_index, "count": opts.shard_count}
        name = f"summary.shard-{opts.shard_index}-of-{opts.shard_count}.json"
    else:
        for lib in libs:
            _assemble(out, lib.name, [it.name for i, it in enumerate(items)
                                      if it.library == lib.name and it.cell is not None and results[i][1]], job)
        name = "summary.json"
    write_text_atomic(out / name, json.dumps(summary, indent=1) + "\n")
    return summary


def _error_row(it: _Item) -> dict:
    from nbcell.port import CellResult

    return asdict(CellResult(it.name, error=it.error))
