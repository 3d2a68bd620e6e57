"""The learned routing policy (issue #5): a bucket-independent network, honest masks, a PPO
iteration that runs, and the shipped router finishing a real cell."""

from __future__ import annotations

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

from nbcell.env import route as renv
from nbcell.layout.frame import fit_rows
from nbcell.layout.place import place
from nbcell.layout.tracks import build_track_frame
from nbcell.library import read_library
from nbcell.pdk import load_process
from nbcell.policies.rl import route_ppo as rp
from nbcell.policies.rl.route_agent import LearnedRouter
from nbcell.policies.rl.route_net import RouteNetConfig, init_route_params, make_route_net, param_count
from nbcell.sizing import size_cell

TARGET = "gf180mcu_7t"


@lru_cache(maxsize=None)
def problem(name: str) -> renv.RouteProblem:
    src, tgt = load_process("builtin"), load_process(TARGET)
    cell = next(c for c in read_library("builtin").cells if c.name == name)
    cell = fit_rows(size_cell(cell, src, tgt), tgt)
    return renv.route_problem(build_track_frame(cell, tgt, place(cell, tgt, 0)))


def test_param_count_does_not_depend_on_the_bucket() -> None:
    g16, g32 = problem("nbcell__nand2_1").grid, problem("nbcell__nor2_2").grid
    assert (g16.terminals, g32.terminals) == (16, 32)
    cfg = RouteNetConfig()
    p16 = init_route_params(cfg, g16, abstract=True)
    p32 = init_route_params(cfg, g32, abstract=True)
    assert param_count(p16) == param_count(p32) > 0
    assert jax.tree.map(lambda a: a.shape, p16) == jax.tree.map(lambda a: a.shape, p32)


def test_logits_are_masked_exactly_where_illegal() -> None:
    """The reset observation's mask (connects only) and random masks over both halves (the network
    masks by ``obs.action_mask`` alone, so no env step is compiled here)."""
    p = problem("nbcell__nand2_1")
    cfg = RouteNetConfig(channels=8, convs=1, dim=16, hidden=16)
    net = make_route_net(cfg)
    params = init_route_params(cfg, p.grid)
    _, ts = jax.jit(renv.reset)(p.grid)
    T = p.grid.terminals
    rng = np.random.default_rng(0)
    masks = [np.asarray(ts.observation.action_mask)] + [rng.random(2 * T) < 0.4 for _ in range(4)]
    apply = jax.jit(net.apply)
    for mask in masks:
        obs = ts.observation.replace(action_mask=jnp.asarray(mask))
        logits, value = apply(params, obs, p.grid)
        lg = np.asarray(logits)
        assert lg.shape == (2 * T,) and np.isfinite(float(value))
        assert np.all(lg[~mask] == -1e9)
        assert np.all(np.isfinite(lg[mask]) & (lg[mask] > -1e8))


def test_one_ppo_iteration_on_tiny_episodes() -> None:
    grids = rp.stack_grids([problem(n).grid for n in ("nbcell__inv_1", "nbcell__inv_2", "nbcell__buf_1")])
    assert grids.term_net.shape[1] == 8
    net_cfg = RouteNetConfig(channels=8, convs=1, dim=16, hidden=16)
    cfg = rp.RoutePPOConfig(envs=4, horizon_factor=1, epochs=1, minibatch=16)
    ts = rp.init_state(net_cfg, cfg, jax.tree.map(lambda x: x[0], grids))
    train = rp.make_route_train(make_route_net(net_cfg), cfg, grids)
    ts2, m = train(ts, jax.random.PRNGKey(0))
    m = {k: float(v) for k, v in m.items()}
    for k in ("pg_loss", "v_loss", "entropy", "approx_kl", "return", "finished", "steps"):
        assert np.isfinite(m[k]), (k, m)
    assert m["grad_steps"] >= 1
    moved = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), ts.params, ts2.params)
    assert any(jax.tree.leaves(moved))


def test_shipped_router_routes_nand2() -> None:
    p = problem("nbcell__nand2_1")
    sol = LearnedRouter().route(p)
    assert sol.policy == "rl" and sol.steps >= int(p.grid.n_terms)
    assert set(sol.wires) >= set(p.maze.terms)


def test_train_router_checkpoints_and_resumes(tmp_path) -> None:
    """``train_router`` (what ``nbcell train train.agent=router`` runs): orbax checkpoints, a CSV row
    per iteration, a second call resumes where the first stopped, and the export loads."""
    from nbcell.policies.rl.route_agent import load_router

    src, tgt = load_process("builtin"), load_process(TARGET)
    cells = [fit_rows(size_cell(c, src, tgt), tgt) for c in read_library("builtin").cells
             if c.name in ("nbcell__inv_1", "nbcell__inv_2", "nbcell__buf_1")]
    kw = dict(cells=cells, buckets=(8,), seeds=(0,), holdout=0.0, bc_iters=1, minutes=10,
              net_cfg=RouteNetConfig(channels=8, convs=1, dim=16, hidden=16),
              cfg=rp.RoutePPOConfig(envs=4, horizon_factor=1, epochs=1, minibatch=16), checkpoint_every=1)
    first = rp.train_router(tmp_path, ppo_iters=2, **kw)
    assert (first["bc_iters"], first["ppo_iters"]) == (1, 2)
    again = rp.train_router(tmp_path, ppo_iters=3, export=tmp_path / "export", **kw)
    assert (again["bc_iters"], again["ppo_iters"]) == (1, 3)  # one more PPO iteration, no BC again
    assert again["grad_steps"] > first["grad_steps"]
    rows = (tmp_path / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("time,phase") and [r.split(",")[1] for r in rows[1:]] == ["bc", "ppo", "ppo", "ppo"]
    cfg, params, meta = load_router(str(tmp_path / "export"))
    assert meta["ppo_iters"] == 3 and param_count(params) > 0
