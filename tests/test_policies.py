"""Baseline policies act through the env, give valid placements and are deterministic."""

from __future__ import annotations

from functools import lru_cache

import pytest

from nbcell import policies
from nbcell.layout.place import check_placement, place
from nbcell.library import read_library
from nbcell.pdk import load_process
from nbcell.sizing import size_cell

NAMES = ["nbcell__inv_1", "nbcell__nand2_1", "nbcell__aoi21_1", "nbcell__xor2_1", "nbcell__mux2_1", "nbcell__dff_1"]


@lru_cache(maxsize=None)
def problems() -> dict[str, policies.Problem]:
    src, tgt = load_process("builtin"), load_process("gf180mcu_7t")
    cells = {c.name: c for c in read_library("builtin").cells}
    return {n: policies.Problem.of(size_cell(cells[n], src, tgt), tgt) for n in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_greedy_replays_the_euler_placement(name: str) -> None:
    pr = problems()[name]
    sol = policies.get("greedy").solve(pr)
    check_placement(pr.cell, sol.placement)
    assert sol.placement == place(pr.cell, pr.process)
    assert sol.placement.columns >= int(pr.arrays.lower_bound)


@pytest.mark.parametrize("policy", ["anneal", "exact"])
@pytest.mark.parametrize("name", NAMES[:4])
def test_search_never_worse_than_greedy_and_deterministic(policy: str, name: str) -> None:
    pr = problems()[name]
    greedy = policies.get("greedy").solve(pr)
    opts = {"iterations": 15, "batch": 16} if policy == "anneal" else {}
    a = policies.get(policy, **opts).solve(pr, seed=3)
    b = policies.get(policy, **opts).solve(pr, seed=3)
    check_placement(pr.cell, a.placement)
    assert a.env_return >= greedy.env_return - 1e-6
    assert a.placement == b.placement


def test_exact_is_optimal_on_an_inverter() -> None:
    sol = policies.get("exact").solve(problems()["nbcell__inv_1"])
    assert sol.placement.columns == 1 and sol.env_return == pytest.approx(-1 + 0.5)


def test_unknown_policy() -> None:
    with pytest.raises(ValueError, match="unknown policy 'nope'"):
        policies.get("nope")
