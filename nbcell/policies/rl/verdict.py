"""The KLayout verdict as a terminal reward, computed on the host while training runs.

The jitted train function hands every iteration's finished placements, batched, to
:meth:`Verdicts.callback` (a ``jax.experimental.io_callback``). A placement already judged
gets its terminal bonus from the cache; a few new ones (``max_pending`` at a time, chosen at
random) go to a background worker process that routes and draws them with the real layout
generator and runs DRC and LVS (``nbcell.layout.generate`` + ``nbcell.drc.check.check_cell``,
the steps of ``nbcell port``). Their verdicts enter the reward from the next time the policy
produces the same placement — which, as the policy sharpens, is most of the time. So the jitted
function never waits for KLayout, and no verdict is made up: a placement not yet judged gets 0.

New placements are judged narrowest first (env width over the cell's lower bound), so the
worker spends its time on the placements the policy is converging to. A verdict that takes over
``timeout`` seconds (a congested placement the router keeps retrying) is abandoned: its worker is
stopped, the placement gets no verdict and is not sent again.

Bonus (gate columns, like the env's reward): minus the gate columns the drawn layout has beyond the
env's own (``layout columns - env columns``, never below 0: columns the router inserted, gate columns
the gridded style split), minus ``penalty`` when the layout is not clean or cannot be routed.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from collections import Counter
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from types import SimpleNamespace

import numpy as np

from nbcell import env
from nbcell.netlist import Cell
from nbcell.pdk import Process
from nbcell.policies.base import Problem

log = logging.getLogger("nbcell")

_PROCESS: Process | None = None


def _init_worker(process: Process, niceness: int) -> None:
    global _PROCESS
    _PROCESS = process
    try:
        os.nice(niceness)
    except OSError:
        pass


def judge(cell: Cell, placement, process: Process | None = None) -> dict:
    """Route, draw and check one placement: ``{"routed", "clean", "extra", "seconds"}`` (``extra``:
    gate columns the drawn layout has beyond ``placement``'s)."""
    from nbcell.attempts import generate
    from nbcell.drc.check import check_cell
    from nbcell.layout import LayoutError

    proc = process or _PROCESS
    t0 = time.perf_counter()
    try:
        gen = generate(cell, proc, 0, placement=placement, fallback=False)
    except LayoutError:
        return {"routed": False, "clean": False, "extra": 0.0, "seconds": time.perf_counter() - t0}
    chk = check_cell(gen.layout, gen.top, proc, cell, None)
    # the drawn placement carries the columns the router inserted and the gridded style split
    extra = gen.placement.columns - placement.columns
    return {"routed": True, "clean": bool(chk.clean and not chk.error), "extra": float(max(0, extra)),
            "seconds": time.perf_counter() - t0}


def bonus_of(v: dict, penalty: float) -> float:
    return -v["extra"] - (0.0 if v["clean"] else penalty)


class Verdicts:
    """Cache, background worker and the batched callback (see the module docstring)."""

    def __init__(self, problems: dict[int, list[Problem]], process: Process, penalty: float = 4.0,
                 max_pending: int = 2, workers: int = 1, niceness: int = 0, seed: int = 0, timeout: float = 20.0):
        self.problems, self.process, self.penalty, self.max_pending = problems, process, penalty, max_pending
        self.workers, self.niceness, self.timeout = workers, niceness, timeout
        self.pool = self._pool()
        self.cache: dict[tuple, dict | None] = {}  # None: abandoned (over the time limit)
        self.pending: dict[tuple, tuple[Future, float | None]] = {}  # future, when it was seen running
        self.stats: Counter = Counter()
        self.rng = np.random.default_rng(seed)

    def _pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init_worker, initargs=(self.process, self.niceness))

    @staticmethod
    def key(bucket: int, idx: int, slot: np.ndarray, flip: np.ndarray, width: int) -> tuple:
        return bucket, idx, slot[:, :width].tobytes(), flip[:, :width].tobytes()

    def _collect(self) -> None:
        now = time.monotonic()
        for k, (f, t) in list(self.pending.items()):
            if t is None and f.running():  # the clock starts when a worker takes it (seen at this poll)
                self.pending[k] = (f, now)
        late = [k for k, (f, t) in self.pending.items() if t is not None and not f.done() and now - t > self.timeout]
        if late:  # stop the worker deep in a hopeless route; its placement is not judged
            for k in late:
                self.cache[k] = None
            self.stats["abandoned"] += len(late)
            self._restart()
            return
        for k in [k for k, (f, _) in self.pending.items() if f.done()]:
            f, _ = self.pending.pop(k)
            try:
                v = f.result()
            except Exception as e:  # a worker crash costs that placement's verdict only
                log.warning("rl verdict: %s: %s", type(e).__name__, e)
                self.stats["errors"] += 1
                if isinstance(e, BrokenProcessPool):
                    self._restart()
                continue
            self.cache[k] = v
            self.stats["judged"] += 1
            self.stats["clean"] += v["clean"]
            self.stats["routed"] += v["routed"]
            self.stats["seconds"] += v["seconds"]

    def callback(self, bucket: int):
        """The host function for :func:`nbcell.policies.rl.ppo.make_train` of ``bucket``."""

        def fn(idx, slot, flip, done, cursor):
            self._collect()
            idx, slot, flip, done, cursor = map(np.asarray, (idx, slot, flip, done, cursor))
            E = idx.shape[0]
            bonus, known = np.zeros(E, np.float32), np.zeros(E, bool)
            misses: dict[tuple, int] = {}
            for e in range(E):
                if not done[e]:
                    continue
                k = self.key(bucket, int(idx[e]), slot[e], flip[e], int(cursor[e].max()))
                if k in self.cache:
                    v = self.cache[k]
                    if v is not None:
                        bonus[e], known[e] = bonus_of(v, self.penalty), True
                elif k not in self.pending:
                    misses.setdefault(k, e)
            room = self.max_pending - len(self.pending)
            if room > 0 and misses:
                keys = list(misses)
                # narrowest first (env width over the lower bound), ties at random
                lb = [max(int(self.problems[bucket][int(idx[misses[k]])].arrays.lower_bound), 1) for k in keys]
                score = [cursor[misses[k]].max() / b for k, b in zip(keys, lb)]
                for j in np.lexsort((self.rng.random(len(keys)), score))[:room]:
                    e = misses[keys[j]]
                    pr = self.problems[bucket][int(idx[e])]
                    st = SimpleNamespace(slot=slot[e], flip=flip[e], cursor=cursor[e])
                    placement = env.to_placement(st, pr.fingers)
                    try:
                        fut = self.pool.submit(judge, pr.cell, placement)
                    except BrokenProcessPool:
                        self._restart()
                        break
                    self.pending[keys[j]] = (fut, None)
            self.stats["lookups"] += int(done.sum())
            self.stats["hits"] += int(known.sum())
            return bonus, known

        return fn

    def summary(self) -> dict:
        s = self.stats
        return {"judged": s["judged"], "clean": s["clean"], "routed": s["routed"], "abandoned": s["abandoned"],
                "hit_rate": s["hits"] / max(s["lookups"], 1), "seconds_per_verdict": s["seconds"] / max(s["judged"], 1)}

    def close(self) -> None:
        for f, _ in self.pending.values():
            f.cancel()
        self._stop()

    def _restart(self) -> None:
        self._stop()
        self.pending.clear()
        self.pool = self._pool()

    def _stop(self) -> None:
        procs = list((getattr(self.pool, "_processes", None) or {}).values())
        self.pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:  # our own worker, possibly deep in a long route: stop it now
            if p.is_alive():
                p.terminate()
