"""Where cells run: worker processes on this machine, or in this process (``jobs=0``).

A pool has numbered slots. The scheduler (``nbcell.batch``) asks for idle
slots, submits a task to one (``submit`` is False when that worker turned out
dead), waits for events, and kills a slot whose cell is over time; the pool
replaces a killed or dead worker by a fresh one. Events:
``("ready", slot)``, ``("done", slot, payload)``, ``("died", slot, reason, log)``.
"""

from __future__ import annotations

import multiprocessing as mp
import shutil
import signal
from multiprocessing.connection import wait as mp_wait
from pathlib import Path

from nbcell import worker

#: workers that die before ever saying ready this many times in a row mean a broken setup, not a bad cell
MAX_FAILED_STARTS = 3


def death_reason(exitcode: int | None) -> str:
    """Why a worker process ended, in words."""
    if exitcode is not None and exitcode < 0:
        try:
            return f"worker died: killed by signal {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"worker died: killed by signal {-exitcode}"
    return f"worker died: exit status {exitcode}"


class _Proc:
    def __init__(self, proc, conn):
        self.proc, self.conn = proc, conn
        self.state = "starting"  # starting | idle | busy
        self.scratch: str | None = None
        self.task_name: str | None = None


class LocalPool:
    """``size`` worker processes (``spawn``: JAX and klayout do not survive ``fork``)."""

    def __init__(self, jobs: dict, size: int):
        if mp.get_start_method(allow_none=True) not in (None, *mp.get_all_start_methods()):
            # inside a joblib/loky worker (hydra/launcher=joblib) the global method is 'loky', which a
            # spawned child cannot set up again; spawn's preparation data names the global one
            mp.set_start_method("spawn", force=True)
        self.ctx = mp.get_context("spawn")
        self.jobs = jobs
        self.failed_starts = 0
        self.slots = [self._start() for _ in range(size)]

    def _start(self) -> _Proc:
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=worker.serve, args=(child, self.jobs), name="nbcell-worker", daemon=True)
        proc.start()
        child.close()
        return _Proc(proc, parent)

    def idle(self) -> list[int]:
        for i, s in enumerate(self.slots):
            if s.state == "idle" and not s.proc.is_alive():
                self._replace(i)  # died between cells: no cell to blame
        return [i for i, s in enumerate(self.slots) if s.state == "idle"]

    def submit(self, slot: int, task) -> bool:
        """Hand ``task`` to an idle slot; False when its worker turned out dead (it is replaced)."""
        s = self.slots[slot]
        try:
            s.conn.send(task)
        except OSError:
            self._replace(slot)
            return False
        s.state, s.task_name = "busy", task.name
        return True

    def _replace(self, slot: int) -> None:
        s = self.slots[slot]
        _stop(s.proc)
        s.conn.close()
        if s.scratch:
            shutil.rmtree(s.scratch, ignore_errors=True)
        self.slots[slot] = self._start()

    def kill(self, slot: int) -> str:
        """Kill the slot's worker (its cell is over time), start a fresh one; returns the cell's partial log."""
        s = self.slots[slot]
        s.proc.kill()
        s.proc.join(5)
        text = worker.partial_log(s.scratch, s.task_name or "")
        self._replace(slot)
        return text

    def wait(self, timeout: float) -> list[tuple]:
        waiting = {}
        for i, s in enumerate(self.slots):
            if s.state != "idle":
                waiting[s.conn] = waiting[s.proc.sentinel] = i
        events = []
        seen = set()
        for obj in mp_wait(list(waiting), timeout):
            i = waiting[obj]
            if i in seen:
                continue
            seen.add(i)
            s = self.slots[i]
            msg = None
            try:
                if s.conn.poll():
                    msg = s.conn.recv()
            except (EOFError, OSError):
                msg = None
            if msg is not None and msg[0] == "ready":
                s.state, s.scratch = "idle", msg[1]
                self.failed_starts = 0
                events.append(("ready", i))
            elif msg is not None and msg[0] == "done":
                s.state, s.task_name = "idle", None
                events.append(("done", i, msg[1]))
            elif msg is None:  # pipe closed or process gone: the worker is dead (or dying)
                s.proc.join(5)
                _stop(s.proc)
                reason = death_reason(s.proc.exitcode)
                if s.state == "starting":
                    self.failed_starts += 1
                    if self.failed_starts >= MAX_FAILED_STARTS:
                        raise RuntimeError(f"worker processes do not start ({reason}); see the errors above")
                    self._replace(i)
                    continue
                text = worker.partial_log(s.scratch, s.task_name or "")
                self._replace(i)
                events.append(("died", i, reason, text))
        return events

    def close(self) -> None:
        for s in self.slots:
            if s.state == "idle":
                try:
                    s.conn.send(None)
                except OSError:
                    pass
        for s in self.slots:
            s.proc.join(2 if s.state == "idle" else 0)
            _stop(s.proc)
            s.conn.close()
            if s.scratch:
                shutil.rmtree(s.scratch, ignore_errors=True)


def _stop(proc) -> None:
    """Kill ``proc`` if it still runs, and reap it."""
    if proc.is_alive():
        proc.kill()
    proc.join(5)


class InlinePool:
    """One slot, this process: no time limit, no crash isolation (``jobs=0``, for debugging)."""

    def __init__(self, jobs: dict):
        self.jobs = jobs
        self.scratch = worker.new_scratch()
        self.events: list[tuple] = []

    def idle(self) -> list[int]:
        return [] if self.events else [0]

    def submit(self, slot: int, task) -> bool:
        self.events.append(("done", slot, worker.run_task(task, self.jobs, Path(self.scratch))))
        return True

    def wait(self, timeout: float) -> list[tuple]:
        events, self.events = self.events, []
        return events

    def kill(self, slot: int) -> str:
        raise RuntimeError("jobs=0 runs cells in this process: no time limit can be enforced")

    def close(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)
