"""One interface for everything that places a cell through :mod:`nbcell.env`.

A policy turns a :class:`Problem` (a sized cell padded into its env bucket) into
a sequence of env actions; :func:`replay` runs them through the jitted env and
the final state becomes the IR :class:`~nbcell.layout.ir.Placement` that the
router and the geometry take. Every policy is deterministic under a seed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import lru_cache
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from nbcell import env
from nbcell.env.types import NO
from nbcell.layout.ir import Finger, Placement
from nbcell.netlist import Cell
from nbcell.pdk import Process


@dataclass
class Problem:
    """A sized cell in env form: the arrays of its bucket and the finger order they use."""

    cell: Cell
    process: Process
    arrays: env.CellArrays
    fingers: list[Finger]

    @classmethod
    def of(cls, cell: Cell, process: Process) -> "Problem":
        arrays, fs = env.cell_arrays(cell)
        return cls(cell, process, arrays, fs)

    @property
    def size(self) -> int:
        return self.arrays.size

    @property
    def horizon(self) -> int:
        """Steps that always finish an episode (fingers plus the gaps a row may need)."""
        return 2 * self.size + 2


@dataclass
class Solution:
    """What a policy produced: the env's final placement and its return."""

    placement: Placement
    env_return: float
    actions: list[int]
    policy: str
    #: further placements, best first, for the layout step to try when ``placement`` does not route
    alternatives: list[Placement] = field(default_factory=list)


@lru_cache(maxsize=None)
def _batched_replay(size: int):
    def one(cell: env.CellArrays, actions: jnp.ndarray):
        state, _ = env.reset(cell)

        def body(carry, a):
            state, ret = carry
            state, ts = env.step(state, a)
            return (state, ret + ts.reward), None

        (state, ret), _ = jax.lax.scan(body, (state, jnp.float32(0.0)), actions)
        return state, ret, state.done

    return jax.jit(jax.vmap(one, in_axes=(None, 0)))


def replay_many(problem: Problem, sequences: list[list[int]]) -> tuple[env.State, np.ndarray, np.ndarray]:
    """Run many action sequences of one cell through the env at once (vmapped, jitted per bucket).

    Sequences are padded with a no-op; returns the batched final states, the returns
    (float[B]) and whether each episode finished (bool[B]).
    """
    T = problem.horizon
    pad = np.zeros((len(sequences), T), np.int32)
    for i, seq in enumerate(sequences):
        if len(seq) > T:
            raise ValueError(f"action sequence of {len(seq)} steps exceeds the horizon {T}")
        pad[i, : len(seq)] = seq
        pad[i, len(seq):] = _noop(problem)
    states, rets, done = _batched_replay(problem.size)(problem.arrays, jnp.asarray(pad))
    return states, np.asarray(rets), np.asarray(done)


def _noop(problem: Problem) -> int:
    # the first out-of-range action: the env ignores it
    return env.num_actions(problem.size)


def replay(problem: Problem, actions: list[int], policy: str) -> Solution:
    """Run one action sequence through the env; the episode must end with every finger placed."""
    states, rets, done = replay_many(problem, [actions])
    if not bool(done[0]):
        raise ValueError(f"cell {problem.cell.name}: policy {policy} left fingers unplaced")
    state = jax.tree.map(lambda x: x[0], states)
    return Solution(env.to_placement(state, problem.fingers), float(rets[0]), list(actions), policy)


def placement_actions(placement: Placement, fs: list[Finger]) -> list[int]:
    """The env actions that rebuild ``placement`` column by column (fingers first, then gaps)."""
    size = env.bucket(len(fs))
    index = {(f.device, f.index): i for i, f in enumerate(fs)}
    actions: list[int] = []
    for c in range(placement.columns):
        slots = (placement.n[c], placement.p[c])
        for s in slots:
            if s is not None:
                actions.append(2 * index[(s.device, s.finger)] + int(s.flip))
        # an empty slot is a gap; in a column empty in both rows the N row gaps first
        actions += [2 * size + r for r, s in enumerate(slots) if s is None]
    return actions


class Decoder:
    """Host mirror of the env's row logic, to turn an order of column items into actions.

    An item is an N finger, a P finger, or both (same gate net, one poly column);
    both fingers of an item land in the same gate column.
    """

    def __init__(self, problem: Problem):
        self.fs = problem.fingers
        self.size = problem.size
        self.index = {(f.device, f.index): i for i, f in enumerate(self.fs)}

    def actions(self, items: list[tuple[Finger | None, Finger | None]], flips: list[tuple[bool, bool]]) -> list[int]:
        cursor, end = [0, 0], [NO, NO]
        out: list[int] = []
        for (fn, fp), (bn, bp) in zip(items, flips):
            parts = [(r, f, b) for r, (f, b) in enumerate(((fn, bn), (fp, bp))) if f is not None]
            sides = {r: f.sides(b) for r, f, b in parts}
            land = {r: cursor[r] + int(end[r] != NO and end[r] != sides[r][0]) for r, _, _ in parts}
            target = max(land.values())
            # the row that needs the column furthest right goes first, so the other may gap up to it
            for r, f, b in sorted(parts, key=lambda p: -land[p[0]]):
                if land[r] < target:
                    out += [2 * self.size + r] * (target - cursor[r])
                out.append(2 * self.index[(f.device, f.index)] + int(b))
                cursor[r], end[r] = target + 1, sides[r][1]
        return out


class Policy(ABC):
    """Something that places a cell through the env."""

    name: ClassVar[str]

    @abstractmethod
    def solve(self, problem: Problem, seed: int = 0) -> Solution:
        """Deterministic for a given ``seed``."""
