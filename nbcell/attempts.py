"""What a cell is tried with, and in which order: the one place that decides.

A cell without transistors goes to the special-cell generator. Every other cell goes down
:data:`ATTEMPTS` until one lays out: each row names where its placement comes from (the job's
policy, with the next-best placements it offers, or the greedy placer with another seed), the
layout style and, for the gridded style, the routing metals and how many empty gate columns may be
inserted where congestion remains (one per failed routing). The first row draws the gridded lines
as close as the rules space their columns (sky130: a gate 0.21 µm from its contacts, not a 0.46 µm
line pitch); the router's conflict model does not cover every case of such close lines, so that
row's layout is kept only when KLayout's DRC and LVS find it clean. The last gridded row puts a
line on every diffusion break too, for cells that need the routing room. Every gridded row first tries
its frame on the first metal alone (li1 on sky130, Metal1 elsewhere: how the foundry wires most of
its cells) with a short negotiation, and uses its further metals only where that fails. A gridded
frame is routed by the job's router; where the routing env's episode ends unclean the host router takes the same frame
(:data:`ROUTER_FALLBACK`), until the env has failed :data:`ENV_FAILURES` times in the cell. The very
last routing of the last gridded row negotiates longer: nothing wider is left to fall back on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from nbcell.drc.check import check_cell
from nbcell.layout import LayoutError
from nbcell.layout.frame import fit_rows
from nbcell.layout.generate import GeneratedCell, check_wells, free_grid_cell, gridded_cell, special_cell
from nbcell.layout.gridded import insert_column
from nbcell.layout.ir import Placement
from nbcell.layout.maze import LAST_PASSES, LAST_STALL, STALL, MazeError
from nbcell.layout.place import check_placement, place
from nbcell.layout.rules import load_rules
from nbcell.layout.tracks import Dims, build_track_frame
from nbcell.netlist import Cell
from nbcell.pdk import Process
from nbcell.routers import get_router


@dataclass(frozen=True)
class Attempt:
    """One way to lay a cell out."""

    placement: str       # "policy": the job's policy (or the placement given); "greedy": the greedy placer
    seed: int            # added to the job's seed (placer and router)
    style: str           # "gridded" | "free-grid"
    metals: int = 2      # gridded: routing metals (3 only where the process has a third)
    inserts: int = 4     # gridded: empty gate columns inserted, at most
    scale: float = 1.0   # free-grid: finger width cap (narrower fingers leave a wider channel)
    #: gridded: lines as close as the rules' column spacing allows, not a line pitch apart (tried
    #: only where that frame is narrower; kept only when KLayout finds it clean)
    dense: bool = False
    #: gridded: a line on every diffusion break as well (routing room where nothing narrower routed)
    break_lines: bool = False


ATTEMPTS: tuple[Attempt, ...] = (
    Attempt("policy", 0, "gridded", metals=2, inserts=2, dense=True),
    Attempt("policy", 0, "gridded", metals=2),
    Attempt("policy", 0, "gridded", metals=3),
    Attempt("greedy", 1, "gridded", metals=3),
    Attempt("greedy", 2, "gridded", metals=3),
    Attempt("greedy", 0, "gridded", metals=3, break_lines=True),
    Attempt("greedy", 0, "free-grid"),
    Attempt("greedy", 1, "free-grid"),
    Attempt("greedy", 0, "free-grid", scale=0.7),
    Attempt("greedy", 0, "free-grid", scale=0.5),
    Attempt("greedy", 1, "free-grid", scale=0.5),
)
#: passes and stall limit of the first-metal-alone try on a row's frame before its metals are used
FIRST_METAL_PASSES = (12, 4)
#: the router that takes a frame where the job's router ended unclean
ROUTER_FALLBACK = {"env": "maze", "rl": "maze"}
#: env episodes of one cell that may end unclean before the host router routes the rest alone (an
#: env episode that stalls costs seconds on a large cell; the host router's attempt a fraction of that)
ENV_FAILURES = 2


class _Routing:
    """The routers of one cell and how often the job's own has failed."""

    def __init__(self, name: str):
        self.name, self.failures = name, 0
        self.first_tried: set = set()  # frames (by what builds them) already tried on the first metal

    def route(self, frame, seed: int, metals: int, last: bool):
        passes, stall = (LAST_PASSES, LAST_STALL) if last else (30, STALL)
        fallback = ROUTER_FALLBACK.get(self.name)
        if fallback is None or self.failures < ENV_FAILURES:
            try:
                return get_router(self.name).route(frame, seed, metals, passes, stall), self.name
            except MazeError:
                if fallback is None:
                    raise
                self.failures += 1
        return get_router(fallback).route(frame, seed, metals, passes, stall), f"{fallback} ({self.name} fallback)"

    def first_metal(self, frame, key, seed: int):
        """``frame`` (built from ``key``) wired on the first metal alone by the job's router (the host
        router: a short negotiation), or None; the foundry wires most cells so. A failure is not
        counted against the router, and a frame is tried once (rows that differ only in their
        further metals share it)."""
        if key in self.first_tried:
            return None
        self.first_tried.add(key)
        try:
            return get_router(self.name).route(frame, seed, 1, *FIRST_METAL_PASSES), self.name
        except MazeError:
            return None


def _gridded(folded: Cell, process: Process, placement: Placement, a: Attempt, seed: int, routing: _Routing,
             last: bool, sized: Cell) -> GeneratedCell:
    """``placement`` routed on ``a.metals`` metals, an empty column inserted after each failure
    (its own frame first on the first metal alone)."""
    pl, err = placement, None
    floor = 0 if a.dense else None
    if a.dense and build_track_frame(folded, process, pl, floor).width >= build_track_frame(folded, process, pl).width:
        raise LayoutError("dense lines: no narrower than a line pitch apart")
    for k in range(a.inserts + 1):
        frame = build_track_frame(folded, process, pl, floor, a.break_lines)
        try:
            got = routing.first_metal(frame, (pl, floor, a.break_lines), seed) if k == 0 else None
            wires, by = got or routing.route(frame, seed + k, a.metals, last and k == a.inserts)
            gen = gridded_cell(folded, process, frame, wires, by, sized)
            if a.dense:
                # closer lines leave cases the router's conflict model does not cover: KLayout decides
                chk = check_cell(gen.layout, gen.top, process, sized, None)
                if not chk.clean:
                    raise LayoutError(f"dense lines: not clean ({chk.error or chk.drc_by_rule or 'LVS'})")
            return gen
        except MazeError as e:
            err = e
            pl = insert_column(frame, e.hot, k)
    raise LayoutError(f"cell {folded.name}: not routable on {a.metals} metals with {a.inserts} extra columns; "
                      f"last: {err}")


def _rows(process: Process, placement_rows_only: bool) -> list[Attempt]:
    third = Dims.of(process, load_rules(process)).third_metal
    return [a for a in ATTEMPTS if (third or a.metals < 3) and not (placement_rows_only and a.placement != "policy")]


def lay_out(sized: Cell, process: Process, seed: int, router: str, placements: list[tuple[Placement, str]],
            fallback_label: str, only_given: bool = False) -> tuple[GeneratedCell, str]:
    """Go down the attempts for ``sized``; ``placements`` are the policy rows' (placement, policy
    label) in turn (none: the greedy placer's). Returns the layout and the label of the placement
    it used; raises :class:`LayoutError` with every row's reason when none lays out."""
    t0 = time.perf_counter()
    if process.template is None:
        raise LayoutError(f"cell {sized.name}: process {process.name} has no cell template")
    if not sized.transistors:
        return special_cell(sized, process), "special"
    check_wells(sized, process)
    folded = fit_rows(sized, process)
    for pl, _ in placements:  # a placement that misses or repeats a finger is the placer's bug
        check_placement(folded, pl)
    rows = _rows(process, only_given)
    last_gridded = max((i for i, a in enumerate(rows) if a.style == "gridded"), default=-1)
    routing, errors = _Routing(router), []
    for i, a in enumerate(rows):
        cell = folded if a.scale == 1.0 else fit_rows(sized, process, a.scale)
        if a.placement == "policy" and placements:
            tries = placements
        else:
            tries = [(place(cell, process, seed + a.seed), fallback_label)]
        for pl, label in tries:
            try:
                if a.style == "gridded":
                    gen = _gridded(cell, process, pl, a, seed + a.seed, routing, i == last_gridded, sized)
                else:
                    gen = free_grid_cell(cell, process, pl, seed + a.seed, sized)
            except LayoutError as e:
                errors.append(f"{a.style} {a.metals if a.style == 'gridded' else a.scale}: {e}")
                continue
            gen.seconds = time.perf_counter() - t0
            return gen, label
    raise LayoutError(f"cell {sized.name}: no attempt laid it out; " + " | ".join(errors[-2:]))


def generate(cell: Cell, process: Process, seed: int = 0, placement: Placement | None = None,
             router: str = "maze", fallback: bool = True) -> GeneratedCell:
    """Lay out an already sized ``cell`` (its ``placement`` first when given; with ``fallback``
    False only that placement)."""
    given = [(placement, "given")] if placement is not None else []
    return lay_out(cell, process, seed, router, given, "greedy", only_given=not fallback and bool(given))[0]
