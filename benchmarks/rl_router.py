"""The learned routing policy against the reference PathFinder on frames it never trained on, and
the routing env's throughput.

    .venv/bin/python benchmarks/rl_router.py [--cells 24] [--seeds 0,1,2] [--buckets 16,32]
        [--checkpoint DIR] [--samples 15] [--no-throughput] [--json PATH]

Frames: the built-in library's held-out cells (the hashed share the router never trained on,
``route_ppo.held_out``), sized for gf180mcu_7t, greedy placement under each seed (identical frames
kept once); and, when ``$NBCELL_CELLLIBS`` (default ``../shared/celllibs``) has
``gf180mcu_fd_sc_mcu7t5v0``, ``--cells`` of its cells picked at random (fixed seed) among those
whose routing grid falls in ``--buckets`` (at most 32 lines and terminals), read with
``read_library``, sized with ``size_cell`` from the library's process, rows fitted, placement seed 0.
Policies: ``pathfinder`` (the reference), ``rl`` (the learned router's greedy decode, what
``LearnedRouter()`` does) and ``rl-bestK`` (``LearnedRouter(samples=K-1)``: the greedy decode and
``K - 1`` sampled episodes in one vmapped call, the best finished one) and ``pathfinder-bestK``
(the reference under ``K`` seeds, which rotate its net order; the best finished one, the same
pick). Per policy and frame set: share of episodes finished clean (all terminals connected, no proxy
violation), share the host router adopts (``to_wires`` passes its final conflict test), mean
steps and mean wirelength (over the frames both policies finish; and over all), seconds per frame
after compile. Then, unless ``--no-throughput``: env steps/s of vmapped episodes (random masked
actions, and the learned policy's sampled actions), and training iterations/s of
``make_route_train`` per bucket (compile excluded).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from nbcell.env import route as renv  # noqa: E402
from nbcell.layout.maze import MazeError  # noqa: E402
from nbcell.pdk import load_process  # noqa: E402
from nbcell.policies.rl import route_ppo as rp  # noqa: E402
from nbcell.policies.rl.data import sized_cells  # noqa: E402
from nbcell.policies.rl.route_agent import checkpoint_path, greedy_rollout, load_router, sampled_rollouts  # noqa: E402
from nbcell.policies.rl.route_net import make_route_net  # noqa: E402
from nbcell.policies.route import _pathfinder_episode  # noqa: E402

TARGET = "gf180mcu_7t"
LIB = "gf180mcu_fd_sc_mcu7t5v0"


def frames(args, meta) -> dict[str, list]:
    tgt = load_process(TARGET)
    buckets = tuple(int(b) for b in args.buckets.split(","))
    seeds = tuple(int(s) for s in args.seeds.split(","))
    trained = set(meta.get("train_cells", []))
    held = [c for c in rp.builtin_cells() if rp.held_out(c.name, meta.get("holdout", 0.25)) and c.name not in trained]
    out = {"builtin held-out": [p for ps in rp.route_problems(held, tgt, seeds, buckets).values() for p in ps]}
    libs = Path(os.environ.get("NBCELL_CELLLIBS", ROOT.parent / "shared" / "celllibs"))
    if (libs / LIB).is_dir():
        cells = sized_cells(str(libs / LIB), tgt)
        probs = [p for ps in rp.route_problems(cells, tgt, (0,), buckets).values() for p in ps]
        random.Random(0).shuffle(probs)
        out[LIB] = sorted(probs[: args.cells], key=lambda p: p.frame.cell.name)
    else:
        print(f"({LIB} not under {libs}: skipped)", file=sys.stderr)
    return out


def run_policy(kind: str, problems, cfg, params, samples: int = 0) -> list[dict]:
    """One episode per frame (``rl-best``: the greedy decode and ``samples`` sampled episodes, the
    finished one with the fewest steps, then the shortest wire, that the host adopts); compile per
    bucket first (not timed)."""
    def episode(p):
        if kind == "pathfinder":
            return _pathfinder_episode()(p.grid, jnp.int32(0), jnp.int32(p.horizon))
        if kind == "pathfinder-best":  # the reference with its nets rotated by seeds 0..samples
            outs = [_pathfinder_episode()(p.grid, jnp.int32(s), jnp.int32(p.horizon)) for s in range(samples + 1)]
            return jax.tree.map(lambda *x: jnp.stack(x), *outs)
        if kind == "rl":
            return greedy_rollout(cfg)(p.grid, params, jnp.int32(p.horizon))
        return sampled_rollouts(cfg, samples)(params, p.grid, jnp.int32(p.horizon), jax.random.PRNGKey(0))

    warmed = set()
    rows = []
    for p in problems:
        if p.grid.shape not in warmed:
            jax.block_until_ready(episode(p))
            warmed.add(p.grid.shape)
        t0 = time.perf_counter()
        state, done, _ = jax.block_until_ready(episode(p))
        state, done = jax.tree.map(np.asarray, (state, done))
        if kind in ("rl-best", "pathfinder-best"):
            wl = np.asarray(jax.vmap(renv.wirelength)(state))
            order = [int(i) for i in np.lexsort((np.arange(len(done)), wl, state.steps)) if done[i]] or [0]
            states = [jax.tree.map(lambda x, i=i: x[i], state) for i in order]
            done = bool(done[order[0]])
        else:
            states, done = [state], bool(done)
        adopted, pick = False, states[0]
        for st in states if done else []:
            try:
                renv.to_wires(p, st)
                adopted, pick = True, st
                break
            except MazeError:
                pass
        dt = time.perf_counter() - t0
        rows.append({"cell": p.frame.cell.name, "bucket": p.grid.terminals, "done": done, "adopted": adopted,
                     "steps": int(pick.steps), "wirelength": int(renv.wirelength(pick)), "seconds": dt})
    return rows


def summarize(name: str, rows: dict[str, list[dict]]) -> list[str]:
    pf = rows["pathfinder"]
    rows = {k: rows[k] for k in sorted(rows, key=lambda k: (k.startswith("rl"), k))}
    n = len(pf)
    both = [i for i in range(n) if all(rs[i]["done"] for rs in rows.values())]
    lines = []
    for pol, rs in rows.items():
        mean = lambda k, idx: statistics.fmean(rs[i][k] for i in idx) if idx else float("nan")  # noqa: E731
        lines.append(f"| {name} | {pol} | {n} | {sum(r['done'] for r in rs) / n:.0%} | "
                     f"{sum(r['adopted'] for r in rs) / n:.0%} | {mean('steps', both):.1f} | "
                     f"{mean('wirelength', both):.1f} | {mean('steps', range(n)):.1f} | "
                     f"{mean('wirelength', range(n)):.1f} | {mean('seconds', range(n)) * 1000:.0f} |")
    for pol, rs in rows.items():
        if pol == "pathfinder":
            continue
        better = sum(rs[i]["steps"] < pf[i]["steps"] for i in both)
        worse = sum(rs[i]["steps"] > pf[i]["steps"] for i in both)
        lines.append(f"|  | {pol} vs pathfinder, steps on the {len(both)} frames all finish: fewer {better}, more "
                     f"{worse}, equal {len(both) - better - worse} |||||||||")
    return lines


def throughput(cfg, params, buckets, seeds) -> list[str]:
    tgt = load_process(TARGET)
    probs = rp.route_problems(rp.builtin_cells(), tgt, seeds, buckets)
    net = make_route_net(cfg)
    lines = []
    E = 32
    for b, ps in probs.items():
        grids = rp.stack_grids([ps[i % len(ps)].grid for i in range(E)])
        H = 3 * b

        def episodes(grids, key, params, learned):
            state, ts = jax.vmap(renv.reset)(grids)

            def body(cy, k):
                state, ts = cy
                mask = ts.observation.action_mask
                if learned:
                    logits, _ = jax.vmap(net.apply, in_axes=(None, 0, 0))(params, ts.observation, grids)
                else:
                    logits = jnp.where(mask, 0.0, -1e9)
                a = jax.random.categorical(k, logits).astype(jnp.int32)
                a = jnp.where(jnp.any(mask, -1) & ~ts.done, a, 2 * b)
                state, ts = jax.vmap(renv.step)(state, a)
                return (state, ts), (a < 2 * b).sum()

            (state, ts), legal = jax.lax.scan(body, (state, ts), jax.random.split(key, H))
            return legal.sum()

        for learned in (False, True):
            fn = jax.jit(episodes, static_argnums=3)
            jax.block_until_ready(fn(grids, jax.random.PRNGKey(0), params, learned))
            t0 = time.perf_counter()
            n_legal = int(fn(grids, jax.random.PRNGKey(1), params, learned))
            dt = time.perf_counter() - t0
            what = "learned policy (sampled)" if learned else "random masked actions"
            lines.append(f"| env steps/s, bucket {b}, {E} vmapped episodes x {H} steps, {what} | "
                         f"{E * H / dt:.0f} (all steps) / {n_legal / dt:.0f} (legal steps) |")
        pcfg = rp.RoutePPOConfig()
        ts = rp.TrainState(params, rp.make_optimizer(pcfg, 1.0).init(params), jnp.int32(0))
        train = rp.make_route_train(net, pcfg, rp.stack_grids([p.grid for p in ps]))
        jax.block_until_ready(train(ts, jax.random.PRNGKey(0)))
        t0 = time.perf_counter()
        k = 3
        for i in range(k):
            ts, m = train(ts, jax.random.PRNGKey(i + 1))
        jax.block_until_ready(ts.params)
        dt = (time.perf_counter() - t0) / k
        lines.append(f"| PPO iterations/s, bucket {b} ({pcfg.envs} episodes x {pcfg.horizon_factor * b} steps, "
                     f"{pcfg.epochs} epochs) | {1 / dt:.2f} ({dt:.1f} s each) |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=24)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--buckets", default="16,32")
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--samples", type=int, default=15,
                    help="also the best of greedy + SAMPLES sampled episodes, and of SAMPLES + 1 seeds of pathfinder")
    ap.add_argument("--no-throughput", action="store_true")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    path = str(args.checkpoint or checkpoint_path())
    cfg, params, meta = load_router(path)
    sets = frames(args, meta)
    print(f"learned router: {path} ({meta.get('params')} params, trained {meta.get('seconds', 0):.0f} s: "
          f"{meta.get('bc_iters')} BC + {meta.get('ppo_iters')} PPO iterations per bucket); jax {jax.__version__} "
          f"on {jax.devices()[0].platform}")
    print()
    print("| frames | policy | n | finished clean | host-adopted | mean steps (both fin.) | mean wirelength (both "
          "fin.) | mean steps (all) | mean wirelength (all) | ms per frame |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    result = {}
    for name, probs in sets.items():
        rows = {"pathfinder": run_policy("pathfinder", probs, cfg, params), "rl": run_policy("rl", probs, cfg, params)}
        if args.samples:
            rows[f"rl-best{args.samples + 1}"] = run_policy("rl-best", probs, cfg, params, args.samples)
            rows[f"pathfinder-best{args.samples + 1}"] = run_policy("pathfinder-best", probs, cfg, params,
                                                                    args.samples)
        result[name] = rows
        for line in summarize(name, rows):
            print(line, flush=True)
    if not args.no_throughput:
        print()
        print("| throughput (after compile) | |")
        print("|---|---|")
        for line in throughput(cfg, params, tuple(int(b) for b in args.buckets.split(",")), (0,)):
            print(line, flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
