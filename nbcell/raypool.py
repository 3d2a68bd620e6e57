"""The Ray backend (``backend=ray``): the same slots as ``nbcell.pools``, each slot a Ray actor.

An actor is one worker process that loads the job (source and target
processes, the policy's compiled functions) once and ports cell after cell,
like a local worker; a cell over ``cell_timeout`` gets its actor killed and a
fresh one started. ``backend.address`` null starts Ray on this machine
(``backend.num_cpus`` CPUs); ``auto`` or ``HOST:6379`` joins a running cluster
(``ray start --head`` / ``ray start --address=HOST:6379``). Every node needs
nbcell installed in the same Python environment; ``out`` need not be shared,
since actors hand their files back to this driver.
"""

from __future__ import annotations

import logging
import os
import shutil

from nbcell import worker

log = logging.getLogger("nbcell")
MAX_FAILED_STARTS = 3


class _PortActor:
    """One worker process on some Ray node."""

    def __init__(self, job_box: list):
        import ray

        import nbcell.port  # noqa: F401  (klayout and jax load before the first cell's clock starts)

        worker.worker_logging()

        # the job travels boxed in a list so Ray hands over the reference, and it is fetched once here
        self.jobs = ray.get(job_box[0])
        self.scratch = worker.new_scratch()

    def ready(self) -> str:
        return str(self.scratch)

    def port(self, task: worker.CellTask) -> dict:
        return worker.run_task(task, self.jobs, self.scratch)

    def cleanup(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)


class _Slot:
    def __init__(self, actor, ref):
        self.actor, self.ref = actor, ref
        self.state = "starting"
        self.scratch: str | None = None
        self.task_name: str | None = None


class RayPool:
    """``size`` actors (null: one per CPU of the cluster)."""

    def __init__(self, jobs: dict, size: int | None, address: str | None = None, num_cpus: int | None = None):
        import ray

        self.ray = ray
        self.started_here = not ray.is_initialized()
        if self.started_here:
            kw = {"num_cpus": num_cpus} if address is None and num_cpus else {}
            ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING, **kw)
        size = size or max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.job_box = [ray.put(jobs)]
        self.cls = ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0)(_PortActor)
        self.failed_starts = 0
        self.slots = [self._start() for _ in range(size)]
        where = address or os.environ.get("RAY_ADDRESS") or ("a new local instance" if self.started_here
                                                            else "the running instance")
        log.info("ray: %d actors on %s", size, where)

    def _start(self) -> _Slot:
        actor = self.cls.remote(self.job_box)
        return _Slot(actor, actor.ready.remote())

    def _replace(self, slot: int) -> None:
        s = self.slots[slot]
        self.ray.kill(s.actor, no_restart=True)
        if s.scratch:
            shutil.rmtree(s.scratch, ignore_errors=True)  # only where the actor ran on this machine
        self.slots[slot] = self._start()

    def idle(self) -> list[int]:
        return [i for i, s in enumerate(self.slots) if s.state == "idle"]

    def submit(self, slot: int, task) -> bool:
        s = self.slots[slot]
        s.state, s.task_name, s.ref = "busy", task.name, s.actor.port.remote(task)
        return True

    def kill(self, slot: int) -> str:
        s = self.slots[slot]
        self.ray.kill(s.actor, no_restart=True)
        text = worker.partial_log(s.scratch, s.task_name or "")
        self._replace(slot)
        return text

    def wait(self, timeout: float) -> list[tuple]:
        from ray.exceptions import RayError

        refs = {s.ref: i for i, s in enumerate(self.slots) if s.ref is not None}
        if not refs:
            return []
        ready, _ = self.ray.wait(list(refs), num_returns=1, timeout=timeout)
        if ready:
            ready, _ = self.ray.wait(list(refs), num_returns=len(refs), timeout=0)
        events = []
        for ref in ready:
            i = refs[ref]
            s = self.slots[i]
            s.ref = None
            try:
                value = self.ray.get(ref)
            except RayError as e:
                # an actor that died (segfault, os._exit, node lost) or raised: replace it
                log.warning("ray worker for %s: %s", s.task_name or "start-up", str(e).splitlines()[0][:300])
                if s.state == "starting":
                    self.failed_starts += 1
                    if self.failed_starts >= MAX_FAILED_STARTS:
                        raise RuntimeError(f"Ray actors do not start: {e}") from None
                    self._replace(i)
                    continue
                text = worker.partial_log(s.scratch, s.task_name or "")
                self._replace(i)
                events.append(("died", i, f"worker died: {type(e).__name__}", text))
                continue
            if s.state == "starting":
                s.state, s.scratch = "idle", value
                self.failed_starts = 0
                events.append(("ready", i))
            else:
                s.state, s.task_name = "idle", None
                events.append(("done", i, value))
        return events

    def close(self) -> None:
        idle = [s.actor.cleanup.remote() for s in self.slots if s.state == "idle"]
        try:
            self.ray.wait(idle, num_returns=len(idle), timeout=10)
        except Exception:  # cleaning scratch folders is a courtesy; never fail the job for it
            pass
        for s in self.slots:
            try:
                self.ray.kill(s.actor, no_restart=True)
            except Exception:  # already gone
                pass
        if self.started_here:
            self.ray.shutdown()
