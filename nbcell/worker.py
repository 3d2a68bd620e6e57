"""What a batch worker does with one cell, in any backend (a local process, a Ray actor, inline).

The worker ports the cell into a scratch folder of its own and hands back the
files as bytes; only the job's driver writes into ``out`` (atomically), so a
killed or crashed worker never leaves half a file there, and Ray workers on
other machines need no shared file system.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import shutil
import signal
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

from nbcell.netlist import Cell
from nbcell.paths import cell_dir as cell_folder, cell_file

log = logging.getLogger("nbcell")

#: Test-only fault injection: ``crash:GLOB`` makes the worker die (``os._exit(70)``) on matching cells,
#: ``hang:GLOB`` makes it sleep past any time limit, ``slow:GLOB`` adds 1 s. Read in the worker (spawned
#: workers inherit the environment).
FAULT_ENV = "NBCELL_TEST_FAULT"


@dataclass
class CellTask:
    """One cell to port. ``out`` is the job's output folder as the user gave it (for the paths that
    the DRC report names); ``reference_width_um`` comes from the job's reference LEFs."""

    name: str
    library: str
    cell: Cell
    key: str
    attempt: int
    out: str


def _inject_fault(name: str) -> None:
    spec = os.environ.get(FAULT_ENV, "")
    kind, _, pattern = spec.partition(":")
    if pattern and fnmatch.fnmatchcase(name, pattern):
        if kind == "crash":
            os._exit(70)
        if kind == "hang":
            time.sleep(24 * 3600)
        if kind == "slow":
            time.sleep(1)


def run_task(task: CellTask, jobs: dict, scratch: Path) -> dict:
    """Port one cell with its library's job (``jobs``: library name -> PortJob) inside ``scratch``;
    returns ``{"result": CellResult dict, "drawn": bool, "files": {file name: bytes}}`` for
    ``out/cells/<name>/``."""
    from nbcell.port import CellResult, port_cell  # klayout and jax load in the worker only

    cell_dir = cell_folder(scratch, task.name)
    shutil.rmtree(cell_dir, ignore_errors=True)
    cell_dir.mkdir(parents=True)
    handler = logging.FileHandler(cell_file(scratch, task.name, "log"))
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        log.info("port %s of %s: attempt %d, inputs %s, pid %d", task.name, task.library, task.attempt,
                 task.key[:16], os.getpid())
        try:
            _inject_fault(task.name)
            res, layout, _sized, _lef = port_cell(task.cell, jobs[task.library], scratch)
            drawn = layout is not None
        except Exception as e:  # port_cell keeps its own errors; this is the worker's last line of defence
            res, drawn = CellResult(task.name, error=f"{type(e).__name__}: {e}"), False
            log.error("%s", traceback.format_exc())
        log.info("%s: %s in %.2f s%s", task.name, res.status, res.seconds, f": {res.error}" if res.error else "")
    finally:
        root.removeHandler(handler)
        handler.close()
    # the DRC report names its GDS by path: name the one in out, not the scratch copy
    here, there = str(cell_dir).encode(), str(cell_folder(Path(task.out), task.name)).encode()
    files = {p.name: p.read_bytes() for p in sorted(cell_dir.iterdir()) if p.is_file() and not p.name.startswith(".")}
    for name in files:
        if name.endswith((".lyrdb", ".lvsdb", ".log")):
            files[name] = files[name].replace(here, there)
    shutil.rmtree(cell_dir, ignore_errors=True)
    return {"result": asdict(res), "drawn": drawn, "files": files}


def partial_log(scratch: str | None, name: str) -> str:
    """The log a dead worker left for ``name`` (empty when there is none or it is on another machine)."""
    if not scratch:
        return ""
    path = cell_file(Path(scratch), name, "log")
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def new_scratch() -> Path:
    """A worker's scratch folder ``$TMPDIR/nbcell-worker-<pid>-*``; first removes those of dead
    workers (a job killed with ``kill -9`` cannot clean up after itself)."""
    tmp = Path(tempfile.gettempdir())
    for old in tmp.glob("nbcell-worker-*-*"):
        pid = old.name.split("-")[2]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"nbcell-worker-{os.getpid()}-"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def worker_logging() -> None:
    """In a worker process: everything goes to the per-cell log, only warnings to stderr."""
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for h in root.handlers:
        h.setLevel(max(h.level, logging.WARNING))


def serve(conn, jobs: dict) -> None:
    """A local worker process: announce ``("ready", scratch)``, then answer each task with
    ``("done", payload)`` until told ``None`` or the driver is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle; it stops us
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    worker_logging()
    import nbcell.port  # noqa: F401  (load klayout and jax before saying ready: not on a cell's clock)

    scratch = new_scratch()
    try:
        conn.send(("ready", str(scratch)))
        while True:
            try:
                task = conn.recv()
            except (EOFError, OSError):
                return
            if task is None:
                return
            payload = run_task(task, jobs, scratch)
            try:
                conn.send(("done", payload))
            except (BrokenPipeError, OSError):
                return
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
