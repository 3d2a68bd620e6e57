"""The RL agent against the baselines on cells of a library it never trained on, and its throughput.

    .venv/bin/python benchmarks/rl_vs_baselines.py [--library gf180mcu_7t] [--target gf180mcu_7t]
        [--cells 40] [--max-fingers 32] [--seed 0] [--ablation] [--no-throughput] [--json PATH]

Picks ``--cells`` cells at random (fixed seed) among the library's cells with at most
``--max-fingers`` fingers (the agent's trained buckets), and ports each one with ``greedy``,
``anneal`` (its default 60 iterations), ``rl`` and ``anneal`` again at equal wall time (its
iterations per cell scaled, up or down, so its placement time matches the agent's on that cell),
every time through the real ``nbcell.port.port_cell`` (size, place, route, draw, KLayout DRC +
LVS); ``--ablation`` adds the agent ranked by env return alone (no layout frame, no congestion
check). The agent's checkpoint: the packaged one, or ``$NBCELL_RL_CHECKPOINT``. Prints per policy:
clean rate, mean width and width / lower bound over the cells clean for every policy, seconds per
cell (whole port and placement only), and how often the agent fell back to the baseline. Then,
unless ``--no-throughput``: env steps per second (jitted vmapped random episodes, no network), the
agent's env steps per second (its batched rollouts), PPO training iterations and gradient steps per
second. JIT warm-up is done before anything is timed.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import nbcell.port as port  # noqa: E402
from nbcell import env  # noqa: E402
from nbcell.cli import library_path  # noqa: E402
from nbcell.library import read_library  # noqa: E402
from nbcell.pdk import load_process  # noqa: E402
from nbcell.policies import Anneal, Problem, get  # noqa: E402
from nbcell.policies.rl import data  # noqa: E402
from nbcell.policies.rl.agent import RL  # noqa: E402

PLACE_S: dict[str, float] = {}  # cell -> seconds in the policy's solve (last run)


class _Timed:
    """A policy whose ``solve`` time per cell is recorded (placement time, apart from routing)."""

    def __init__(self, inner):
        self.inner = inner

    def solve(self, problem, seed=0):
        t0 = time.perf_counter()
        try:
            return self.inner.solve(problem, seed)
        finally:
            PLACE_S[problem.cell.name] = time.perf_counter() - t0


def run_policy(name: str, cells, job_of, make, out: Path, label: str) -> list[dict]:
    rows = []
    t0 = time.perf_counter()
    for c in cells:
        port._policy = lambda _n, c=c: _Timed(make(c))
        res, _, _, _ = port.port_cell(c, job_of(name), out)
        rows.append({"name": c.name, "status": res.status, "width": res.width_um, "lb": res.lower_bound_um,
                     "seconds": res.seconds, "place_s": PLACE_S.get(c.name, 0.0), "policy": res.policy})
    print(f"  {label}: {len(cells)} cells in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    return rows


def warm_up(problems: list[Problem]) -> None:
    for p in problems:
        for name in ("greedy", "anneal", "rl"):
            get(name).solve(p, 0)
        Anneal(iterations=2).solve(p, 0)


def table(results: dict[str, list[dict]]) -> None:
    names = [r["name"] for r in next(iter(results.values()))]
    common = [i for i in range(len(names)) if all(res[i]["status"] == "clean" for res in results.values())]
    print(f"\n{len(names)} held-out cells; widths over the {len(common)} cells clean for every policy\n")
    head = f"{'policy':<25}{'clean':>9}{'mean width µm':>15}{'width/lb':>10}{'s/cell':>9}{'place s':>9}{'fallback':>10}"
    print(head)
    print("-" * len(head))
    for name, rows in results.items():
        clean = sum(r["status"] == "clean" for r in rows)
        w = statistics.mean(rows[i]["width"] for i in common) if common else float("nan")
        wl = statistics.mean(rows[i]["width"] / rows[i]["lb"] for i in common) if common else float("nan")
        fb = sum("fallback" in (r["policy"] or "") for r in rows)
        secs = statistics.mean(r["seconds"] for r in rows)
        place = statistics.mean(r["place_s"] for r in rows)
        print(f"{name:<25}{clean:>4}/{len(rows):<4}{w:>15.3f}{wl:>10.3f}{secs:>9.3f}{place:>9.3f}{fb:>10}")
    rl, an = results.get("rl"), results.get("anneal (equal time)")
    if rl and an and common:
        better = sum(rl[i]["width"] < an[i]["width"] - 1e-9 for i in common)
        worse = sum(rl[i]["width"] > an[i]["width"] + 1e-9 for i in common)
        print(f"\nrl against anneal (equal time), per cell: narrower {better}, wider {worse}, "
              f"equal {len(common) - better - worse}")


def throughput(problems: dict[int, list[Problem]]) -> None:
    from nbcell.policies.rl.agent import load_policy, checkpoint_path, decoder
    from nbcell.policies.rl.features import finger_widths
    from nbcell.policies.rl.network import make_net
    from nbcell.policies.rl.ppo import PPOConfig, init_state, make_train

    print()
    F = 32 if 32 in problems else max(problems)
    ps = problems[F]
    cells = env.stack([ps[i % len(ps)].arrays for i in range(256)])

    def episode(cell, key):
        state, _ = env.reset(cell)

        def body(state, k):
            logits = jnp.where(env.action_mask(state), 0.0, -jnp.inf)
            state, _ = env.step(state, jax.random.categorical(k, logits))
            return state, None

        return jax.lax.scan(body, state, jax.random.split(key, 2 * F + 2))[0]

    run = jax.jit(jax.vmap(episode))
    keys = jax.random.split(jax.random.PRNGKey(0), 256)
    jax.block_until_ready(run(cells, keys))
    t0, n = time.perf_counter(), 5
    for _ in range(n):
        jax.block_until_ready(run(cells, keys))
    dt = (time.perf_counter() - t0) / n
    print(f"env steps/s (bucket {F}, 256 vmapped random episodes, no network): {256 * (2 * F + 2) / dt:,.0f}")

    cfg, params, _ = load_policy(str(checkpoint_path()))
    dec = decoder(cfg, F, 63)
    c1 = jax.tree.map(lambda x: x[:8], cells)
    wid = np.stack([finger_widths(ps[i % len(ps)].fingers, F) for i in range(8)])
    k8 = jax.random.split(jax.random.PRNGKey(1), 8)
    jax.block_until_ready(dec(params, c1, wid, k8))
    t0 = time.perf_counter()
    jax.block_until_ready(dec(params, c1, wid, k8))
    dt = time.perf_counter() - t0
    print(f"agent env steps/s (bucket {F}, 8 cells x 64 episodes with the network): {8 * 64 * (2 * F + 2) / dt:,.0f}; "
          f"{dt / 8:.3f} s per cell")

    for F in sorted(problems):
        ps = problems[F][:64]
        net = make_net(cfg)
        pcfg = PPOConfig()
        ts = init_state(net, pcfg, jax.random.PRNGKey(0), ps[0].arrays)
        train = make_train(net, pcfg, env.stack([p.arrays for p in ps]),
                           np.stack([finger_widths(p.fingers, F) for p in ps]))
        ts, m = train(ts, jax.random.PRNGKey(0))
        jax.block_until_ready(m)
        t0, n, grads, steps = time.perf_counter(), 3, 0.0, 0.0
        for i in range(n):
            ts, m = train(ts, jax.random.PRNGKey(i + 1))
            m = jax.device_get(m)
            grads += float(m["grad_steps"])
            steps += float(m["env_steps"])
        dt = time.perf_counter() - t0
        print(f"PPO bucket {F:>3} ({pcfg.envs} envs): {n / dt:.3f} iterations/s, {grads / dt:.2f} gradient steps/s "
              f"({pcfg.minibatch} transitions each), {steps / dt:,.0f} env steps/s inside training")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--library", default="gf180mcu_7t", help="a source preset or library folder (held out)")
    ap.add_argument("--target", default="gf180mcu_7t")
    ap.add_argument("--cells", type=int, default=40)
    ap.add_argument("--max-fingers", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-throughput", action="store_true")
    ap.add_argument("--json", default=None, help="also write every row here")
    ap.add_argument("--ablation", action="store_true", help="also the agent ranked by env return alone")
    args = ap.parse_args()

    tgt = load_process(args.target)
    path = library_path(args.library)
    src = read_library(path).process
    sized = {c.name: c for c in data.sized_cells(path, tgt)}
    raw = [c for c in read_library(path).cells if c.name in sized]
    fit = [c for c in raw if len(Problem.of(sized[c.name], tgt).fingers) <= args.max_fingers]
    random.Random(args.seed).shuffle(fit)
    cells = sorted(fit[: args.cells], key=lambda c: c.name)
    print(f"{path}: {len(cells)} of {len(fit)} cells with at most {args.max_fingers} fingers -> {tgt.name}")
    problems = data.by_bucket([sized[c.name] for c in cells], tgt, env.BUCKETS)
    warm_up([ps[0] for ps in problems.values()])

    job_of = lambda name: port.PortJob(src, tgt, name, args.seed)  # noqa: E731
    results: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        t0 = time.perf_counter()
        results["greedy"] = run_policy("greedy", cells, job_of, lambda c: get("greedy"), out, "greedy")
        results["anneal"] = run_policy("anneal", cells, job_of, lambda c: get("anneal"), out, "anneal")
        anneal_s = dict(PLACE_S)
        results["rl"] = run_policy("rl", cells, job_of, lambda c: get("rl"), out, "rl")
        rl_s = dict(PLACE_S)
        base = Anneal().iterations

        def equal_time(c):
            # the anneal placement time per iteration on this cell, scaled to the agent's placement time
            return Anneal(iterations=max(1, round(base * rl_s[c.name] / max(anneal_s[c.name], 1e-3))))

        results["anneal (equal time)"] = run_policy("anneal", cells, job_of, equal_time, out, "anneal (equal time)")
        if args.ablation:  # the agent's own ranking alone: best env return, no layout frame, no congestion check
            results["rl (env-return ranking)"] = run_policy("rl", cells, job_of, lambda c: RL(rank="return"), out,
                                                            "rl (env-return ranking)")
        print(f"(all runs: {time.perf_counter() - t0:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    table(results)
    if not args.no_throughput:
        throughput(problems)


if __name__ == "__main__":
    main()
