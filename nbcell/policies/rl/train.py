"""``nbcell train``: the training loop around :mod:`ppo` — data, warm start, PPO, verdicts,
progress, CSV metrics, orbax checkpoints, resume.

Cells of the training libraries are sized for the target as ``nbcell port`` sizes them; a stable
share ``holdout`` of them (by a hash of the name) is never trained on and scores the agent every
``eval_every`` iterations against the greedy baseline (env return, greedy decode and best of
``eval_samples + 1``). One PPO iteration runs one jitted update per bucket. ``out/ckpt`` keeps
the newest checkpoints; a second run with the same ``out`` resumes from the newest (warm-start
epochs and iterations already done are not repeated). ``minutes`` bounds one run's wall time.
"""

from __future__ import annotations

import csv
import json
import logging
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from nbcell import env
from nbcell.pdk import Process
from nbcell.policies.greedy import Greedy
from nbcell.policies.rl import checkpoint, data
from nbcell.policies.rl.agent import decoder
from nbcell.policies.rl.features import finger_widths
from nbcell.policies.rl.imitate import demonstrations, make_imitation
from nbcell.policies.rl.network import NetConfig, make_net
from nbcell.policies.rl.ppo import PPOConfig, TrainState, init_state, make_train
from nbcell.sizing import SizingRule

log = logging.getLogger("nbcell")

FIELDS = ["time", "phase", "iteration", "bucket", "seconds", "return", "width_over_lb", "finished",
          "verdict_known", "verdict_bonus", "pg_loss", "v_loss", "entropy", "approx_kl", "env_steps", "open_steps",
          "grad_steps", "env_steps_per_s", "grad_steps_per_s", "bc_loss", "bc_value_loss", "bc_accuracy",
          "val_gap_decode", "val_gap_best", "val_as_good", "verdicts_judged", "verdicts_clean", "verdict_hit_rate"]


@dataclass
class TrainOptions:
    buckets: tuple[int, ...] = (8, 16, 32)
    holdout: float = 0.1
    iterations: int = 300
    minutes: float = 10.0
    warmstart_epochs: int = 30
    warmstart_minibatch: int = 128
    seed: int = 0
    eval_every: int = 10
    eval_samples: int = 15
    checkpoint_every: int = 10
    resume: bool = True
    verdict: bool = True
    verdict_penalty: float = 4.0
    verdict_pending: int = 2
    verdict_workers: int = 1
    export: str | None = None
    net: NetConfig = field(default_factory=NetConfig)
    ppo: PPOConfig = field(default_factory=PPOConfig)


class _Csv:
    def __init__(self, path: Path, fields: list[str] = FIELDS):
        path.parent.mkdir(parents=True, exist_ok=True)
        new = not path.exists()
        self.f = path.open("a", newline="")
        self.w = csv.DictWriter(self.f, fields, extrasaction="ignore")
        if new:
            self.w.writeheader()

    def row(self, **kw) -> None:
        self.w.writerow({k: (round(float(v), 5) if isinstance(v, (float, np.floating, jnp.ndarray)) else v)
                         for k, v in kw.items()})
        self.f.flush()


def _stack(problems):
    return env.stack([p.arrays for p in problems]), np.stack([finger_widths(p.fingers, p.size) for p in problems])


def _demos(out: Path, train: dict, seed: int) -> dict[int, np.ndarray]:
    """The greedy demonstrations per bucket, cached in ``out/demos.npz`` (keyed by the cell names)."""
    path = out / "demos.npz"
    names = {F: [p.cell.name for p in ps] for F, ps in train.items()}
    if path.exists():
        got = np.load(path, allow_pickle=False)
        if all(f"names_{F}" in got and list(got[f"names_{F}"]) == names[F] for F in train):
            return {F: got[f"acts_{F}"] for F in train}
    acts = {F: demonstrations(ps, seed) for F, ps in train.items()}
    np.savez(path, **{f"acts_{F}": a for F, a in acts.items()}, **{f"names_{F}": np.array(n) for F, n in names.items()})
    return acts


class Evaluator:
    """Env return of the agent on held-out cells against the greedy baseline's (columns; > 0: better)."""

    def __init__(self, problems: dict, samples: int):
        self.samples = samples
        self.sets = {F: (*_stack(ps), np.array([Greedy().solve(p).env_return for p in ps]))
                     for F, ps in problems.items()}

    def __call__(self, cfg: NetConfig, params) -> dict:
        dec, best, good, n = 0.0, 0.0, 0.0, 0
        for F, (cells, wid, base) in self.sets.items():
            keys = jax.random.split(jax.random.PRNGKey(0), len(base))
            st, rets, _, _ = jax.device_get(decoder(cfg, F, self.samples)(params, cells, wid, keys))
            done = np.all(st.placed | ~st.cell.f_valid, axis=-1)
            r = np.where(done, rets, -4.0 * F)
            dec += float(np.sum(r[:, 0] - base))
            b = r.max(1)
            best += float(np.sum(b - base))
            good += float(np.sum(b >= base - 1e-6))
            n += len(base)
        n = max(n, 1)
        return {"val_gap_decode": dec / n, "val_gap_best": best / n, "val_as_good": good / n}


def run(sources: list[str], target: Process, out: Path, opts: TrainOptions, rule: SizingRule = SizingRule(),
        process: str | None = None) -> dict:
    """Train on ``sources`` (library paths) for ``target``; returns the last metrics."""
    t_start = time.monotonic()
    out = Path(out)
    # compiled updates survive a restart (a resumed run starts in seconds, not minutes)
    jax.config.update("jax_compilation_cache_dir", str((out / "xla_cache").absolute()))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 2.0)
    cells, seen = [], set()
    for path in sources:
        for c in data.sized_cells(path, target, rule, process):
            if c.name not in seen:
                seen.add(c.name)
                cells.append(c)
    train_cells = [c for c in cells if not data.held_out(c.name, opts.holdout)]
    val_cells = [c for c in cells if data.held_out(c.name, opts.holdout)]
    train = data.by_bucket(train_cells, target, tuple(opts.buckets))
    val = data.by_bucket(val_cells, target, tuple(opts.buckets))
    if not train:
        raise ValueError(f"no cell of {', '.join(sources)} fits the buckets {list(opts.buckets)}")
    log.info("train: %d cells (%s), %d held out; buckets %s", sum(map(len, train.values())),
             ", ".join(f"{F}: {len(v)}" for F, v in train.items()), sum(map(len, val.values())), list(train))

    net = make_net(opts.net)
    key = jax.random.PRNGKey(opts.seed)
    key, k0 = jax.random.split(key)
    first = next(iter(train.values()))[0].arrays
    ts = init_state(net, opts.ppo, k0, first)
    ckdir = out / "ckpt"
    iteration, bc_done = 0, 0
    if opts.resume and checkpoint.latest_step(ckdir) is not None:
        meta = checkpoint.restore_meta(ckdir)
        if meta["net"] != asdict(opts.net):
            raise ValueError(f"{ckdir}: checkpoint network {meta['net']} differs from train.net {asdict(opts.net)}")
        params, opt_state, meta = checkpoint.restore(ckdir, ts.params, ts.opt_state)
        ts = TrainState(params, opt_state, jnp.int32(meta["grad_steps"]))
        iteration, bc_done = int(meta["iteration"]), int(meta["bc_epochs"])
        key = jnp.asarray(meta["key"], jnp.uint32)
        log.info("train: resumed from %s at iteration %d (warm-start epochs %d)", ckdir, iteration, bc_done)

    logger = _Csv(out / "metrics.csv")
    evaluator = Evaluator(val, opts.eval_samples) if val else None
    stacks = {F: _stack(ps) for F, ps in train.items()}

    def meta_now(extra: dict | None = None) -> dict:
        return {"net": asdict(opts.net), "ppo": asdict(opts.ppo), "iteration": iteration, "bc_epochs": bc_done,
                "grad_steps": int(ts.step), "key": [int(x) for x in np.asarray(key)], "buckets": list(train),
                "sources": [Path(x).name for x in sources], "target": target.name, "holdout": opts.holdout, **(extra or {})}

    def save(extra: dict | None = None) -> None:
        checkpoint.save(ckdir, iteration * 1000 + bc_done, ts.params, meta_now(extra), ts.opt_state)

    def out_of_time() -> bool:
        return opts.minutes > 0 and time.monotonic() - t_start > 60 * opts.minutes

    last: dict = {}
    if bc_done < opts.warmstart_epochs:
        demos = _demos(out, train, opts.seed)
        bc_cfg = replace(opts.ppo, minibatch=opts.warmstart_minibatch)
        steps = {F: make_imitation(net, bc_cfg, *stacks[F], demos[F]) for F in train}
        for _ in tqdm(range(bc_done, opts.warmstart_epochs), desc="warm start", file=sys.stderr, leave=False):
            for F, step in steps.items():
                key, k = jax.random.split(key)
                t0 = time.perf_counter()
                ts, m = step(ts, k)
                m = jax.device_get(m)
                logger.row(time=time.time(), phase="warmstart", iteration=bc_done, bucket=F,
                           seconds=time.perf_counter() - t0, **m)
            bc_done += 1
            if out_of_time():
                break
        last = {k: float(v) for k, v in m.items()}
        log.info("train: warm start %d epochs: %s", bc_done, ", ".join(f"{k} {v:.3f}" for k, v in last.items()))
        save()

    verdicts = None
    if opts.verdict:
        from nbcell.policies.rl.verdict import Verdicts

        verdicts = Verdicts(train, target, opts.verdict_penalty, opts.verdict_pending, opts.verdict_workers,
                            seed=opts.seed)
    try:
        updates = {F: make_train(net, opts.ppo, *stacks[F], verdicts.callback(F) if verdicts else None) for F in train}
        bar = tqdm(total=opts.iterations, initial=iteration, desc="ppo", file=sys.stderr)
        totals = {"env_steps": 0.0, "grad_steps": 0.0, "seconds": 0.0}
        while iteration < opts.iterations and not out_of_time():
            rets = []
            for F, update in updates.items():
                key, k = jax.random.split(key)
                t0 = time.perf_counter()
                ts, m = update(ts, k)
                m = {a: float(b) for a, b in jax.device_get(m).items()}
                dt = time.perf_counter() - t0
                totals["env_steps"] += m["env_steps"]
                totals["grad_steps"] += m["grad_steps"]
                totals["seconds"] += dt
                vs = verdicts.summary() if verdicts else {}
                logger.row(time=time.time(), phase="ppo", iteration=iteration, bucket=F, seconds=dt,
                           env_steps_per_s=m["env_steps"] / dt, grad_steps_per_s=m["grad_steps"] / dt,
                           verdicts_judged=vs.get("judged"), verdicts_clean=vs.get("clean"),
                           verdict_hit_rate=vs.get("hit_rate"), **m)
                rets.append(m["width_over_lb"])
                last = m
            iteration += 1
            bar.update(1)
            post = {"w/lb": f"{np.mean(rets):.3f}"}
            if verdicts:
                post["judged"] = verdicts.stats["judged"]
            if evaluator and iteration % opts.eval_every == 0:
                ev = evaluator(opts.net, ts.params)
                logger.row(time=time.time(), phase="eval", iteration=iteration, **ev)
                post["val"] = f"{ev['val_gap_best']:+.2f}"
                last.update(ev)
            bar.set_postfix(post)
            if iteration % opts.checkpoint_every == 0:
                save()
        bar.close()
    finally:
        if verdicts:
            last.update({f"verdict_{k}": v for k, v in verdicts.summary().items()})
            verdicts.close()
    if evaluator:
        last.update(evaluator(opts.net, ts.params))
    if totals["seconds"]:
        last["env_steps_per_s"] = totals["env_steps"] / totals["seconds"]
        last["grad_steps_per_s"] = totals["grad_steps"] / totals["seconds"]
    save({"metrics": {k: float(v) for k, v in last.items()}})
    if opts.export:
        checkpoint.export(Path(opts.export), ts.params, meta_now({"metrics": {k: float(v) for k, v in last.items()}}))
        log.info("train: exported the policy to %s (%d bytes)", opts.export, checkpoint.size_bytes(Path(opts.export)))
    log.info("train: iteration %d, %s; %s", iteration, json.dumps({k: round(float(v), 4) for k, v in last.items()}),
             ckdir)
    return last
