"""The ``port`` pipeline: size -> place (a policy, through the env) -> route -> geometry -> DRC/LVS.

``port_cell`` does one cell; a cell that cannot be done gets its reason and the
run goes on. ``run_port`` hands whole libraries to the batch job (``nbcell.batch``:
worker processes, time limits, resume). Per cell, ``out/cells/<name>/`` holds the
GDS, LEF, CDL, ``.lyrdb``, ``.lvsdb`` and ``.log``; the library files and
``summary.json`` are written at the end.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import klayout.db as kdb

from nbcell.atomic import write_bytes_atomic, write_text_atomic
from nbcell.cdl import cell_cdl
from nbcell.drc.check import check_cell
from nbcell.gds import gds_bytes
from nbcell.jaxcache import enable_compile_cache
from nbcell import lef as lefw
from nbcell.attempts import lay_out
from nbcell.layout import LayoutError
from nbcell.layout.frame import fit_rows
from nbcell.netlist import Cell
from nbcell.paths import cell_dir, cell_file
from nbcell.pdk import Process
from nbcell.env import TooLarge
from nbcell.policies import Policy, Problem, RLUnavailable, get
from nbcell.reference import base_name
from nbcell.sizing import SizingError, SizingRule, check_sized, size_cell

STATUSES = ("clean", "drc", "lvs", "failed", "timeout")


@dataclass
class CellResult:
    """One row of ``summary.json``; lengths in µm."""

    name: str
    status: str = "failed"
    transistors: int = 0
    drc_violations: int | None = None
    drc_by_rule: dict[str, int] = field(default_factory=dict)
    lvs_match: bool | None = None
    pins_ok: bool | None = None
    width_um: float | None = None
    height_um: float | None = None
    lower_bound_um: float | None = None
    reference_width_um: float | None = None
    seconds: float = 0.0
    policy: str | None = None
    layout_style: str | None = None  # gridded | gridded m3 (Metal3 used) | free-grid | special
    router: str | None = None        # gridded style: maze | env | rl | maze (env fallback) | maze (rl fallback)
    metals: int | None = None        # routing metals of the cell's own wiring (1: the first alone)
    error: str | None = None


@dataclass
class PortJob:
    """Everything one port run needs. Every field is part of the resume key (``nbcell.batch.job_key``)
    but those marked ``per_cell``, whose share for each cell goes into that cell's key."""

    source_process: Process
    target: Process
    policy: str = "greedy"
    seed: int = 0
    sizing: SizingRule = SizingRule()
    #: reference widths (µm) by base cell name; only the row's ``reference_width_um``
    references: dict[str, float] = field(default_factory=dict, metadata={"per_cell": True})
    router: str = "maze"
    #: SHA-256 of each trained checkpoint the job loads (``checkpoint_digests``)
    weights: dict[str, str] = field(default_factory=dict)


def checkpoint_digests(policy: str, router: str) -> dict[str, str]:
    """SHA-256 of the trained checkpoints a job with this ``policy`` and ``router`` loads (the RL agent's
    with ``policy=rl``, the routing agent's with ``router=rl``; ``$NBCELL_RL_CHECKPOINT`` /
    ``$NBCELL_ROUTE_CHECKPOINT`` choose others), so that another checkpoint redoes the cells."""
    out = {}
    if policy == "rl":
        from nbcell.policies.rl.agent import checkpoint_path

        out["policy"] = _folder_digest(checkpoint_path())
    if router == "rl":
        from nbcell.policies.rl.route_agent import checkpoint_path as route_path

        out["router"] = _folder_digest(route_path())
    return out


def _folder_digest(folder: Path) -> str:
    h = hashlib.sha256()
    files = sorted(p for p in Path(folder).rglob("*") if p.is_file()) if Path(folder).is_dir() else []
    for p in files:
        h.update(p.relative_to(folder).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest() if files else f"missing: {folder}"


def _policy(name: str) -> Policy:
    return get(name)


def port_cell(cell: Cell, job: PortJob, out: Path) -> tuple[CellResult, kdb.Layout | None, Cell | None, str]:
    """Port one source cell; returns its row, its layout (if drawn), the sized cell and its LEF text."""
    t0 = time.perf_counter()
    res = CellResult(cell.name, transistors=len(cell.transistors),
                     reference_width_um=job.references.get(base_name(cell.name)))
    layout, sized, lef = None, None, ""
    try:
        sized = size_cell(cell, job.source_process, job.target, job.sizing)
        probs = check_sized(sized, job.target)
        if probs:
            raise SizingError("; ".join(probs))
        # the generator's rows may hold less than the template's widest finger: refold first,
        # so the policy, the layout and the written CDL see the same fingers
        sized = fit_rows(sized, job.target)
        gen, res.policy = _layout(sized, job)
        layout = gen.layout
        res.width_um, res.height_um, res.lower_bound_um = gen.width_um, gen.height_um, gen.lower_bound_um
        res.layout_style, res.router, res.metals = gen.style, gen.router, gen.metals
        gds = cell_file(out, cell.name, "gds")
        write_bytes_atomic(gds, gds_bytes(layout, [gen.top]))
        lef = lefw.macro(sized, job.target, gen.width_um, gen.pins, gen.obstructions)
        write_text_atomic(cell_file(out, cell.name, "lef"), lef)
        write_text_atomic(cell_file(out, cell.name, "cdl"), cell_cdl(sized))
        chk = check_cell(layout, gen.top, job.target, sized, cell_dir(out, cell.name), str(gds))
        if chk.error:
            raise RuntimeError(chk.error)
        res.drc_violations, res.drc_by_rule = chk.drc_violations, chk.drc_by_rule
        res.lvs_match, res.pins_ok = chk.lvs_match, chk.pins_ok
        res.status = "clean" if chk.clean else ("drc" if chk.drc_violations else "lvs")
    except (SizingError, LayoutError) as e:
        res.status, res.error = "failed", str(e)
    except Exception as e:  # one broken cell never stops the run
        res.status, res.error = "failed", f"{type(e).__name__}: {e}"
    res.seconds = round(time.perf_counter() - t0, 3)
    return res, layout, sized, lef


def _layout(sized: Cell, job: PortJob):
    """The job's policy places (the RL agent hands over its next-best distinct placements too), then
    :mod:`nbcell.attempts` decides what else the cell is tried with. A cell the agent cannot place
    (no checkpoint, too many fingers) gets the greedy placer's; such fallbacks are recorded as
    ``greedy (rl fallback)``."""
    fallback = "greedy (rl fallback)" if job.policy == "rl" else "greedy"
    placements: list = []
    if sized.transistors:
        enable_compile_cache()
        try:
            sol = _policy(job.policy).solve(Problem.of(sized, job.target), job.seed)
            placements = [(pl, sol.policy) for pl in (sol.placement, *sol.alternatives)]
        except (RLUnavailable, TooLarge):
            if job.policy != "rl":
                raise
    return lay_out(sized, job.target, job.seed, job.router, placements, fallback)


def run_port(cells: list[Cell], job: PortJob, out: Path, library: str, source: str,
             read_errors: list[tuple[str, str]] = (), **options) -> dict:
    """Port ``cells`` of one library into ``out``; writes and returns ``summary.json``'s content.
    ``options`` are :class:`nbcell.batch.BatchOptions` fields (``jobs``, ``cell_timeout``, ``backend`` ...)."""
    from nbcell.batch import BatchOptions, LibraryInput, run_batch

    return run_batch([LibraryInput(library, source, list(cells), list(read_errors))], job, out,
                     BatchOptions(**options))
