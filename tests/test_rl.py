"""The RL agent: network shapes and masks, one jitted PPO iteration, checkpoints and resume,
the packaged policy (deterministic, complete placements) and ``nbcell port policy=rl``."""

from __future__ import annotations

import json
import sys
from functools import lru_cache
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nbcell import env
from nbcell.layout.place import check_placement
from nbcell.pdk import load_process
from nbcell.policies import Problem, get
from nbcell.policies.rl import checkpoint, data
from nbcell.policies.rl.agent import PACKAGED, RL, RLUnavailable
from nbcell.policies.rl.features import featurize, finger_widths
from nbcell.policies.rl.network import MASKED, NetConfig, make_net
from nbcell.policies.rl.ppo import PPOConfig, init_state, make_train

NET = NetConfig(dim=16, heads=2, layers=1, hidden=16)
#: one small PPO config for every test: the compiled update is shared
PPO = PPOConfig(envs=4, epochs=1, minibatch=64)


@lru_cache(maxsize=None)
def problems() -> dict[int, list[Problem]]:
    tgt = load_process("gf180mcu_7t")
    return data.by_bucket(data.sized_cells("builtin", tgt), tgt, (8, 16))


@jax.jit
def _features(cell: env.CellArrays, widths):
    state, ts = env.reset(cell)
    for _ in range(2):  # two legal moves: the first legal action each time
        state, ts = env.step(state, jnp.argmax(ts.observation.action_mask))
    return featurize(state, widths), ts.observation.action_mask


def features(p: Problem):
    return _features(p.arrays, jnp.asarray(finger_widths(p.fingers, p.size)))


def test_network_shapes_masks_and_bucket_free_parameters() -> None:
    net = make_net(NET)
    p8, p16 = problems()[8][3], problems()[16][0]
    params = jax.jit(net.init)(jax.random.PRNGKey(0), features(p8)[0])
    apply = jax.jit(net.apply)
    for p in (p8, p16):  # the same parameters score any bucket
        x, mask = features(p)
        logits, value = apply(params, x)
        assert logits.shape == (2 * p.size + 2,) and value.shape == ()
        assert bool(jnp.all(jnp.where(mask, logits > MASKED / 2, logits == MASKED)))
        assert bool(jnp.all(jnp.isfinite(logits))) and bool(jnp.isfinite(value))
        probs = jax.nn.softmax(logits)
        assert float(jnp.sum(jnp.where(mask, 0.0, probs))) == 0.0


def test_one_jitted_ppo_iteration_with_host_verdict() -> None:
    net = make_net(NET)
    cfg = PPO
    ps = problems()[8]  # the cells (and so the shapes) of the resume test's run: one compilation for both
    cells = env.stack([p.arrays for p in ps])
    widths = np.stack([finger_widths(p.fingers, p.size) for p in ps])
    calls = []

    def verdict(idx, slot, flip, done, cursor):  # the host side: batched, after the episodes
        calls.append(np.asarray(idx).shape)
        return np.full(idx.shape, -1.0, np.float32), np.asarray(done)

    ts = init_state(net, cfg, jax.random.PRNGKey(0), ps[0].arrays)
    train = make_train(net, cfg, cells, widths, verdict)
    ts2, m = train(ts, jax.random.PRNGKey(1))
    m = jax.device_get(m)
    assert calls == [(cfg.envs,)]
    assert all(np.isfinite(m[k]) for k in ("pg_loss", "v_loss", "entropy", "return"))
    assert m["finished"] == 1.0 and m["verdict_known"] == 1.0 and m["verdict_bonus"] == -1.0
    assert int(ts2.step) > 0
    moved = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), ts.params, ts2.params)
    assert any(jax.tree.leaves(moved))


def test_checkpoint_round_trip_and_resume(tmp_path: Path) -> None:
    from nbcell.policies.rl.train import TrainOptions, run

    tgt = load_process("gf180mcu_7t")
    opts = TrainOptions(buckets=(8,), holdout=0.0, iterations=1, minutes=0, warmstart_epochs=1,
                        warmstart_minibatch=PPO.minibatch, checkpoint_every=1, verdict=False, net=NET, ppo=PPO)
    run(["builtin"], tgt, tmp_path, opts)
    meta = checkpoint.restore_meta(tmp_path / "ckpt")
    assert meta["iteration"] == 1 and meta["bc_epochs"] == 1 and meta["net"] == NET.to_dict()
    opts.iterations = 2
    opts.export = str(tmp_path / "export")
    run(["builtin"], tgt, tmp_path, opts)  # resumes: no second warm start, one more iteration
    meta = checkpoint.restore_meta(tmp_path / "ckpt")
    assert meta["iteration"] == 2 and meta["bc_epochs"] == 1
    rows = (tmp_path / "metrics.csv").read_text().splitlines()
    assert sum(",warmstart," in r for r in rows) == 1 and [r.split(",")[2] for r in rows if ",ppo," in r] == ["0", "1"]
    # the export restores to the training checkpoint's parameters
    like = _params(tmp_path / "ckpt")  # shapes only
    a, _, _ = checkpoint.restore(tmp_path / "ckpt", like)
    b, _, m = checkpoint.restore(tmp_path / "export", like)
    assert jax.tree.all(jax.tree.map(np.array_equal, a, b)) and m["iteration"] == 2


def _params(directory: Path):
    from nbcell.policies.rl.agent import init_params

    return init_params(NetConfig(**checkpoint.restore_meta(directory)["net"]), abstract=True)


def test_packaged_policy_is_small_deterministic_and_complete() -> None:
    assert checkpoint.latest_step(PACKAGED) is not None
    assert checkpoint.size_bytes(PACKAGED) < 1_000_000
    pol = get("rl")
    for p in problems()[8][2:4]:  # one bucket: one compilation (the port test below reuses it)
        a, b = pol.solve(p, seed=3), pol.solve(p, seed=3)
        assert a.placement == b.placement and a.actions == b.actions and a.policy == "rl"
        check_placement(p.cell, a.placement)  # every finger once, neighbours share their nets
        assert a.placement.columns >= int(p.arrays.lower_bound)
        assert all(alt != a.placement for alt in a.alternatives)


def test_no_checkpoint_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(RLUnavailable):
        RL(checkpoint=str(tmp_path)).solve(problems()[8][0])


def test_port_policy_rl_records_the_policy(tmp_path: Path, monkeypatch) -> None:
    from nbcell.cli import main

    out = tmp_path / "out"
    monkeypatch.setattr(sys, "argv", ["nbcell"])
    try:
        main(["port", "policy=rl", "cells=nbcell__nand2_1", "jobs=0", f"out={out}"])
    except SystemExit as e:  # 1 when a cell is not clean: the row still says which policy made it
        assert e.code in (0, 1)
    rows = json.loads((out / "summary.json").read_text())["cells"]
    assert [r["name"] for r in rows] == ["nbcell__nand2_1"]
    assert rows[0]["policy"] in ("rl", "greedy (rl fallback)") and rows[0]["status"] != "failed"
    # without a checkpoint every cell falls back to the baseline, and says so
    monkeypatch.setenv("NBCELL_RL_CHECKPOINT", str(tmp_path / "none"))
    from nbcell.port import PortJob, port_cell
    from nbcell.library import read_library

    cell = next(c for c in read_library("builtin").cells if c.name == "nbcell__inv_1")
    res, _, _, _ = port_cell(cell, PortJob(load_process("builtin"), load_process("gf180mcu_7t"), "rl"), tmp_path)
    assert res.policy == "greedy (rl fallback)" and res.status == "clean"
