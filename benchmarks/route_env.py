"""The routing env's reference policy against the host router on the same frames, and its throughput.

    .venv/bin/python benchmarks/route_env.py [SOURCE] [--target gf180mcu_7t] [--cells GLOB]
        [--max-cells N] [--seed 0] [--no-throughput]

SOURCE: ``builtin`` (default) or a library folder / name ``nbcell port source=`` takes. Every cell
with transistors is sized for the target, folded, placed by the greedy policy and framed once
(``build_track_frame``, no extra columns); then the same frame is routed by the host router
(``nbcell.layout.maze``) and by the routing env's ``pathfinder`` policy (``nbcell.policies.route``,
its finished episode converted by ``to_wires``, which runs the host's final conflict test). Prints
per env bucket: frames, routed by each, and where only one of them routed; seconds per frame for
each (the env's after its compile, which is counted apart); then, unless ``--no-throughput``, env
steps per second of vmapped random episodes per bucket. Where a frame does not route, ``nbcell
port`` inserts an empty column and tries again (or, with ``router=env``, asks the host router on
the same frame first): this table is the first attempt only.
"""

from __future__ import annotations

import argparse
import collections
import fnmatch
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from nbcell.cli import library_path  # noqa: E402
from nbcell.env import route as renv  # noqa: E402
from nbcell.layout.frame import fit_rows  # noqa: E402
from nbcell.layout.maze import MazeError, route_tracks  # noqa: E402
from nbcell.layout.place import place  # noqa: E402
from nbcell.layout.rules import LayoutError  # noqa: E402
from nbcell.layout.tracks import build_track_frame  # noqa: E402
from nbcell.library import read_library  # noqa: E402
from nbcell.pdk import load_process  # noqa: E402
from nbcell.policies.route import PathFinder  # noqa: E402
from nbcell.sizing import size_cell  # noqa: E402


def frames(source: str, target: str, pattern: str, limit: int | None, seed: int):
    tgt = load_process(target)
    res = read_library(source if source == "builtin" else library_path(source))
    out = []
    for cell in res.cells:
        if not cell.transistors or not fnmatch.fnmatch(cell.name, pattern):
            continue
        try:
            sized = fit_rows(size_cell(cell, res.process, tgt), tgt)
            out.append((cell.name, build_track_frame(sized, tgt, place(sized, tgt, seed))))
        except (LayoutError, ValueError) as e:
            print(f"skip {cell.name}: {e}", file=sys.stderr)
        if limit and len(out) >= limit:
            break
    return out


def random_episode(grid, key, horizon: int):
    state, ts = renv.reset(grid)

    def body(cy, k):
        state, ts = cy
        mask = ts.observation.action_mask
        a = jnp.where(jnp.any(mask), jax.random.categorical(k, jnp.where(mask, 0.0, -jnp.inf)), 2 * grid.terminals)
        return renv.step(state, a), None

    (state, ts), _ = jax.lax.scan(body, (state, ts), jax.random.split(key, horizon))
    return ts.done


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", nargs="?", default="builtin")
    ap.add_argument("--target", default="gf180mcu_7t")
    ap.add_argument("--cells", default="*")
    ap.add_argument("--max-cells", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-throughput", action="store_true")
    a = ap.parse_args()
    fs = frames(a.source, a.target, a.cells, a.max_cells, a.seed)
    rows = collections.defaultdict(list)
    compiled: set = set()
    compile_s = 0.0
    problems = collections.defaultdict(list)
    for name, f in fs:
        t0 = time.perf_counter()
        try:
            route_tracks(f, a.seed)
            maze_ok = True
        except MazeError:
            maze_ok = False
        t_maze = time.perf_counter() - t0
        try:
            p = renv.route_problem(f)
        except renv.GridTooLarge:
            rows["too large"].append((name, maze_ok, False, t_maze, 0.0, 0))
            continue
        key = (p.grid.shape, p.grid.terminals)
        problems[key].append(p)
        if key not in compiled:  # the first frame of a bucket pays the compile: time it apart
            t0 = time.perf_counter()
            try:
                PathFinder().route(p, a.seed)
            except MazeError:
                pass
            compile_s += time.perf_counter() - t0
            compiled.add(key)
        t0 = time.perf_counter()
        try:
            sol = PathFinder().route(p, a.seed)
            env_ok, steps = True, sol.steps
        except MazeError:
            env_ok, steps = False, 0
        rows[p.grid.shape[0]].append((name, maze_ok, env_ok, t_maze, time.perf_counter() - t0, steps))
    print(f"{a.source} -> {a.target}: {len(fs)} frames (greedy placement, seed {a.seed}, first attempt)")
    print(f"{'bucket':>9} | {'frames':>6} | {'host routed':>11} | {'env routed':>10} | {'only host':>9} | "
          f"{'only env':>8} | {'host s/frame':>12} | {'env s/frame':>11} | {'env steps':>9}")
    tot = collections.Counter()
    for b in sorted(rows, key=lambda b: (isinstance(b, str), str(b).zfill(4))):
        r = rows[b]
        mo, eo = sum(x[1] for x in r), sum(x[2] for x in r)
        only_m = [x[0] for x in r if x[1] and not x[2]]
        only_e = [x[0] for x in r if x[2] and not x[1]]
        tot.update(frames=len(r), host=mo, env=eo, only_host=len(only_m), only_env=len(only_e))
        steps = [x[5] for x in r if x[2]]
        print(f"{b!s:>9} | {len(r):>6} | {mo:>11} | {eo:>10} | {len(only_m):>9} | {len(only_e):>8} | "
              f"{statistics.median(x[3] for x in r):>12.3f} | {statistics.median(x[4] for x in r):>11.3f} | "
              f"{statistics.median(steps) if steps else 0:>9}")
    print(f"{'all':>9} | {tot['frames']:>6} | {tot['host']:>11} | {tot['env']:>10} | {tot['only_host']:>9} | "
          f"{tot['only_env']:>8} |")
    print(f"env compile, once per bucket and process (persistent cache off or cold): {compile_s:.1f} s in all")
    if a.no_throughput:
        return
    print(f"\n{'bucket':>9} | {'episodes':>8} | {'steps':>6} | {'env steps/s (vmapped random episodes)':>38}")
    for key, ps in sorted(problems.items()):
        ps = ps[:32]
        grids = jax.tree.map(lambda *x: jnp.stack(x), *[p.grid for p in ps])
        H = 2 * ps[0].grid.terminals
        run = jax.jit(jax.vmap(random_episode, in_axes=(0, 0, None)), static_argnums=2)
        keys = jax.random.split(jax.random.PRNGKey(a.seed), len(ps))
        jax.block_until_ready(run(grids, keys, H))
        t0 = time.perf_counter()
        jax.block_until_ready(run(grids, keys, H))
        dt = time.perf_counter() - t0
        print(f"{key[0][0]:>9} | {len(ps):>8} | {H:>6} | {len(ps) * H / dt:>38.0f}")


if __name__ == "__main__":
    main()
